// sky.js — the Aladin Lite sky view of a source or an observation. The sky is the
// archive's own X-ray photons: the HiPS the database builds (xmm_hips_build), served
// by the shim (/hips/counts, /hips/colour); a HiPS server configured in XMMDB_WEB_HIPS
// (optical imagery, for those online) is a choice beside them, never the default.
import A from "./vendor/aladin-lite/aladin.js";

const el = document.getElementById("aladin");

function fallback(msg) {
  el.innerHTML = `<div class="fallback">${msg}</div>`;
}

async function main() {
  const probe = document.createElement("canvas");
  if (!probe.getContext("webgl2")) {
    fallback("The sky view needs WebGL2, which this browser does not offer.");
    return;
  }
  await A.init;
  const ra = +el.dataset.ra, dec = +el.dataset.dec;
  const layers = [
    {label: "X-ray counts, 0.2–12 keV", url: el.dataset.hipsCounts},
    {label: "X-ray colour: 0.2–1, 1–2, 2–12 keV", url: el.dataset.hipsColour},
  ];
  if (el.dataset.hipsOptical) layers.push({label: `optical: ${el.dataset.hipsOptical}`, url: el.dataset.hipsOptical});
  const aladin = A.aladin(el, {
    survey: layers[0].url, hipsList: [], target: `${ra} ${dec}`, fov: +(el.dataset.fov || 0.08),
    cooFrame: "ICRSd", showCooGrid: false, showCooGridControl: true, log: false,
    showLayersControl: false, showSimbadPointerControl: false, showShareControl: false, showSettingsControl: false,
    showProjectionControl: false, showContextMenu: false, showFrame: true, showZoomControl: true,
    showFullscreenControl: true, showReticle: false, backgroundColor: "rgb(16, 24, 32)",
    gridOptions: {color: "rgb(120, 150, 180)", opacity: 0.6, showLabels: true, labelSize: 12},
  });
  const choice = document.createElement("select");
  choice.id = "sky-layer";
  choice.title = "sky imagery";
  layers.forEach((l, i) => choice.add(new Option(l.label, String(i))));
  choice.addEventListener("change", () => aladin.setBaseImageLayer(layers[+choice.value].url));
  el.after(choice);
  const data = await (await fetch(el.dataset.json)).json();
  const link = s => ({name: s.iauname || String(s.detid || s.srcid), url: s.srcid ? `/source/${s.srcid}` : null});
  if (data.observations) {
    const fov = A.graphicOverlay({color: "#7fb2ff", lineWidth: 1});
    aladin.addOverlay(fov);
    for (const o of data.observations) fov.add(A.circle(o.ra_pnt, o.dec_pnt, 0.25));
  }
  if (data.neighbours) {
    const other = A.catalog({name: "other sources", sourceSize: 12, color: "#ffd60a", shape: "circle"});
    aladin.addCatalog(other);
    other.addSources(data.neighbours.map(s => A.source(s.sc_ra, s.sc_dec, link(s))));
  }
  if (data.detections) {
    const det = A.catalog({name: "detections", sourceSize: 10, color: "#00d0ff", shape: "plus"});
    aladin.addCatalog(det);
    det.addSources(data.detections.map(d => A.source(d.ra, d.dec, link(d))));
  }
  if (data.source) {
    const me = A.catalog({name: "this source", sourceSize: 20, color: "#ff3b30", shape: "circle"});
    aladin.addCatalog(me);
    me.addSources([A.source(data.source.sc_ra, data.source.sc_dec, {name: data.source.iauname})]);
  }
  aladin.on("objectClicked", obj => {
    if (obj && obj.data && obj.data.url && !location.pathname.endsWith(obj.data.url)) location.href = obj.data.url;
  });
  el.dataset.ready = "1";
}

if (el) main().catch(e => { fallback("The sky view could not start: " + e.message); console.warn(e); });
