// image.js — the X-ray image (xmm_image) in JS9: a pixel value / WCS readout under the cursor,
// smoothing (JS9's Gaussian blur of the counts) and binning (the server makes a coarser or finer
// image), and, on source and detection pages, the extraction region: JS9's circles are what
// "Get photons", the light curve, the periodogram and the flux / upper limit use.
//
// Circles: green, the pipeline's source-spectrum radius (when a spectrum is stored); blue, the 40"
// default. The circle last moved or resized (or chosen below the image) is the source region; an
// annulus, kept concentric with it, is the background. The SQL functions take circles and annuli
// only (xmm_extract_events, xmm_lightcurve, xmm_periodogram: a radius about the source's catalogue
// position; xmm_photons, xmm_upper_limit: any centre), so there is no polygon here.
"use strict";
(function () {
  const box = document.getElementById("xray");
  if (!box || !window.JS9) return;
  const $ = id => document.getElementById(id);
  const ds = box.dataset;
  const display = {display: "JS9"};
  const started = Date.now();
  const mark = ds.markRa ? {ra: +ds.markRa, dec: +ds.markDec} : null;     // the catalogue position, if any
  const extraction = $("extraction");
  let bin = +ds.bin;
  // The regions in sky coordinates (they survive a change of binning): circles by role, the annulus.
  const circles = [];            // {role, color, label, ra, dec, r, id}
  let annulus = null;            // {inner, outer, id} (arcsec), centred on the source circle
  let used = null;               // the circle extracted
  let quiet = 0;                 // changes made here, not by the user
  let reloading = false;         // between closing an image and drawing the regions on the next

  // -- numbers as astronomers read them ----------------------------------------------------------
  function sexa(v, hours) {
    const sign = v < 0 ? "-" : (hours ? "" : "+");
    let x = Math.abs(hours ? v / 15 : v);
    let d = Math.floor(x), m = Math.floor((x - d) * 60), s = ((x - d) * 60 - m) * 60;
    const dec = hours ? 3 : 2;
    if (+s.toFixed(dec) >= 60) { s = 0; m += 1; }
    if (m >= 60) { m = 0; d += 1; }
    const pad = (n, w) => String(n).padStart(w, "0");
    return `${sign}${pad(d, 2)}${hours ? "h" : "°"}${pad(m, 2)}${hours ? "m" : "′"}${s.toFixed(dec).padStart(dec + 3, "0")}${hours ? "s" : "″"}`;
  }
  const arcsec = (a, b) => {         // angular distance (arcsec) between two {ra, dec}
    const r = Math.PI / 180, d1 = a.dec * r, d2 = b.dec * r;
    const h = Math.sin((d2 - d1) / 2) ** 2 + Math.cos(d1) * Math.cos(d2) * Math.sin((b.ra - a.ra) * r / 2) ** 2;
    return 2 * Math.asin(Math.min(1, Math.sqrt(h))) / r * 3600;
  };

  // -- the image: load, bin, smooth --------------------------------------------------------------
  function imageUrl() {
    const u = new URL(ds.image, location.href);
    u.searchParams.set("bin", String(bin));
    return u.pathname + u.search;
  }
  function load() {
    // JS9 compiles its FITS module (WebAssembly) after the page loads: wait for it.
    if (!(JS9.inited && JS9.fits && JS9.fits.ready)) {
      if (Date.now() - started < 30000) setTimeout(load, 100);
      return;
    }
    const url = imageUrl();
    $("image-link").href = url;
    $("JS9").dataset.ready = "";
    smoothed = false;
    JS9.Load(url, {colormap: "heat", scale: "log", zoom: "toFit", onload: im => {
      smooth();
      JS9.SetZoom("toFit", {display: im});
      // JS9 replays the previous image's data operations (a blur, its undoing) on a new image, which
      // takes its shapes: draw the regions once that is done.
      setTimeout(() => {
        reloading = false;
        drawRegions();
        $("JS9").dataset.ready = "1";
        $("JS9").dataset.bin = String(bin);
      }, 300);
    }}, display);
  }
  let smoothed = false;           // the counts shown are JS9's blur of the image's (its "gaussBlur" layer)
  function smooth() {
    const sigma = +$("js9-smooth").value;
    if (!JS9.GetImage(display)) return;
    // JS9 draws the shapes again on the new data: not the user's doing
    quiet += 1;
    try {
      if (sigma > 0) JS9.GaussBlurData(sigma, display);
      else if (smoothed) JS9.RawDataLayer("raw0", display);
    } finally { quiet -= 1; }
    smoothed = sigma > 0;
    resync();
    $("JS9").dataset.sigma = String(sigma);
  }
  $("js9-smooth").addEventListener("change", smooth);
  $("js9-bin").addEventListener("change", () => {
    bin = +$("js9-bin").value;
    reloading = true;               // the old image's regions go with it: not the user's removal
    if (JS9.GetImage(display)) JS9.CloseImage(display);
    load();
  });

  // -- the readout: value, image pixel, RA/Dec under the cursor ------------------------------------
  const readout = $("js9-readout");
  $("JS9").addEventListener("mousemove", ev => {
    const im = JS9.GetImage(display);
    if (!im) return;
    const ipos = JS9.DisplayToImagePos(JS9.EventToDisplayPos(ev), display);
    const data = JS9.GetImageData(false, display);
    if (!ipos || ipos.x < 0.5 || ipos.y < 0.5 || ipos.x > data.width + 0.5 || ipos.y > data.height + 0.5) return;
    const vp = JS9.GetValPos(ipos, false, display) || {};
    const w = JS9.PixToWCS(ipos.x, ipos.y, display);
    const fmt = v => typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v);
    readout.querySelector("[data-k=val]").textContent = fmt(vp.val);
    readout.querySelector("[data-k=pix]").textContent = `${ipos.x.toFixed(1)}, ${ipos.y.toFixed(1)}`;
    if (w) {
      readout.querySelector("[data-k=sexa]").textContent = `${sexa(w.ra, true)} ${sexa(w.dec, false)}`;
      readout.querySelector("[data-k=deg]").textContent = `${w.ra.toFixed(5)}, ${w.dec >= 0 ? "+" : ""}${w.dec.toFixed(5)}`;
      readout.dataset.ra = String(w.ra);
      readout.dataset.dec = String(w.dec);
    }
    readout.dataset.x = String(ipos.x);
    readout.dataset.y = String(ipos.y);
  });

  // -- regions --------------------------------------------------------------------------------
  function drawRegions() {
    if (!mark) return;
    quiet += 1;
    try {
      for (const c of circles) {
        c.id = JS9.AddRegions(`icrs; circle(${c.ra},${c.dec},${c.r}")`, {color: c.color, text: c.label, tags: c.role},
                              display);
      }
      if (annulus && used) {
        annulus.id = JS9.AddRegions(`icrs; annulus(${used.ra},${used.dec},${annulus.inner}",${annulus.outer}")`,
                                    {color: "#ffa500", tags: "background"}, display);
      }
    } finally { quiet -= 1; }
    update();
  }
  function resync() {               // our regions' JS9 ids, by their tags, after JS9 drew them again
    for (const r of JS9.GetRegions("all", display) || []) {
      const c = circles.find(k => r.shape === "circle" && (r.tags || []).includes(k.role));
      if (c) c.id = r.id;
      else if (annulus && r.shape === "annulus") annulus.id = r.id;
    }
  }
  function fromJS9(x) {             // a JS9 region's centre and sizes in degrees and arcsec
    return {ra: x.ra, dec: x.dec, radius: x.radius !== undefined ? x.radius * bin : null,
      radii: x.radii ? x.radii.map(v => v * bin) : null};
  }
  function onChange(im, x) {
    if (quiet || reloading || !x || !["move", "update", "add", "remove"].includes(x.mode)) return;
    const c = circles.find(k => k.id === x.id);
    if (x.mode === "remove") {
      if (c) { circles.splice(circles.indexOf(c), 1); if (used === c) used = circles[0] || null; }
      if (annulus && annulus.id === x.id) { annulus = null; $("bkg-on").checked = false; }
      update();
      return;
    }
    const s = fromJS9(x);
    if (c) {
      Object.assign(c, {ra: s.ra, dec: s.dec, r: s.radius});
      used = c;                       // the circle the user touched is the one extracted
    } else if (annulus && annulus.id === x.id && s.radii) {
      annulus.inner = Math.min(...s.radii);
      annulus.outer = Math.max(...s.radii);
    }
    update();
  }
  JS9.Regions.opts.onchange = onChange;

  function recentre() {             // the annulus follows the source circle
    if (!annulus || annulus.id === undefined || !used) return;
    const p = JS9.WCSToPix(used.ra, used.dec, display);
    if (!p) return;
    quiet += 1;
    try { JS9.ChangeRegions(annulus.id, {x: p.x, y: p.y, radii: [annulus.inner / bin, annulus.outer / bin]}, display); }
    finally { quiet -= 1; }
  }

  // The options every product takes from the regions: the functions' own names.
  function options(kind) {
    const o = {};
    if (!used) return o;
    o.radius = +used.r.toFixed(2);
    if (annulus && (kind === "lightcurve" || kind === "upper_limit")) {
      o.bkg_inner = +annulus.inner.toFixed(2);
      o.bkg_outer = +annulus.outer.toFixed(2);
    }
    if (ds.obsId) o.obs_id = ds.obsId;
    return o;
  }
  // The circle's centre when it was moved off the catalogue position: the products are then the
  // position's (xmm_extract_events_at, xmm_lightcurve_at, xmm_periodogram_at).
  const centre = () => used && box.dataset.moved ? {ra: used.ra.toFixed(6), dec: used.dec.toFixed(6)} : null;
  window.XExtraction = {options, centre, region: () => used && {ra: used.ra, dec: used.dec, radius: used.r}};

  let counting = null;
  function update() {
    if (!extraction) return;
    recentre();
    for (const el of extraction.querySelectorAll("input[name=use]")) {
      el.checked = !!used && el.value === used.role;
      el.disabled = !circles.some(c => c.role === el.value);
    }
    if (!used) { $("region-centre").textContent = "no circle: choose one above"; return; }
    const off = arcsec(used, mark);
    $("region-centre").textContent = `${sexa(used.ra, true)} ${sexa(used.dec, false)} (${used.ra.toFixed(5)}, ${used.dec >= 0 ? "+" : ""}${used.dec.toFixed(5)})`;
    $("region-radius").textContent = `${used.r.toFixed(1)}″`;
    $("region-offset").textContent = `${off.toFixed(1)}″`;
    $("region-bkg").textContent = annulus ? `${annulus.inner.toFixed(1)}″ – ${annulus.outer.toFixed(1)}″` : "none";
    const moved = off > 1;
    box.dataset.moved = moved ? "1" : "";
    $("region-moved").hidden = !moved;
    const radius = $("radius");
    if (radius && document.activeElement !== radius) radius.value = used.r.toFixed(1);
    const q = new URLSearchParams({ra: used.ra.toFixed(6), dec: used.dec.toFixed(6), radius: used.r.toFixed(2)});
    if (ds.obsId) q.set("obs_id", ds.obsId);
    $("region-photons-file").href = `${ds.photonsUrl}?${q}`;
    // the count of photons in the circle: xmm_photons, asked once the region rests
    clearTimeout(counting);
    $("region-count").textContent = "counting…";
    box.dataset.counted = "";
    counting = setTimeout(async () => {
      try {
        const r = await fetch(`${ds.countUrl}?${q}`, {headers: {Accept: "application/json"}});
        const d = await r.json();
        if (!r.ok) throw new Error(d.error || `HTTP ${r.status}`);
        $("region-count").textContent = `${d.photons.toLocaleString("en")} in ${d.observations} observation${d.observations === 1 ? "" : "s"}`;
        box.dataset.counted = String(d.photons);
        box.dataset.countedAt = q.toString();
      } catch (e) { $("region-count").textContent = e.message; }
    }, 250);
  }

  if (extraction) {
    const pipeline = ds.pipelineRadius ? +ds.pipelineRadius : null;
    if (mark && pipeline) circles.push({role: "pipeline", color: "#00ff66", label: "pipeline", ra: mark.ra, dec: mark.dec, r: pipeline});
    if (mark) circles.push({role: "default", color: "#4da3ff", label: `${+ds.defaultRadius}″`, ra: mark.ra, dec: mark.dec, r: +ds.defaultRadius});
    used = circles[0] || null;
    for (const el of extraction.querySelectorAll("input[name=use]")) el.addEventListener("change", () => {
      used = circles.find(c => c.role === el.value) || used;
      update();
    });
    $("bkg-on").addEventListener("change", () => {
      if ($("bkg-on").checked && used) {
        annulus = {inner: 2 * used.r, outer: 4 * used.r};
        quiet += 1;
        try {
          annulus.id = JS9.AddRegions(`icrs; annulus(${used.ra},${used.dec},${annulus.inner}",${annulus.outer}")`,
                                      {color: "#ffa500", tags: "background"}, display);
        } finally { quiet -= 1; }
      } else if (annulus) {
        quiet += 1;
        try { JS9.RemoveRegions(annulus.id, display); } finally { quiet -= 1; }
        annulus = null;
      }
      update();
    });
    $("region-reset").addEventListener("click", () => {
      for (const c of circles) Object.assign(c, {ra: mark.ra, dec: mark.dec,
        r: c.role === "pipeline" ? pipeline : +ds.defaultRadius});
      quiet += 1;
      try { JS9.RemoveRegions("all", display); } finally { quiet -= 1; }
      drawRegions();
    });
    // a radius typed in the photons form resizes the circle
    const radius = $("radius");
    if (radius) radius.addEventListener("change", () => {
      const r = parseFloat(radius.value);
      if (!used || !(r > 0)) return;
      used.r = r;
      quiet += 1;
      try { JS9.ChangeRegions(used.id, {radius: r / bin}, display); } finally { quiet -= 1; }
      update();
    });
    // "Get photons": the OGIP event file of the circle, xmm_extract_events at the catalogue position,
    // xmm_extract_events_at at the moved circle's centre (the form then sends it).
    const form = $("photons-form");
    if (form) form.addEventListener("submit", () => {
      for (const k of ["ra", "dec"]) {
        let el = form.querySelector(`input[name=${k}]`);
        const c = centre();
        if (c && !el) { el = document.createElement("input"); el.type = "hidden"; el.name = k; form.appendChild(el); }
        if (el) { if (c) el.value = c[k]; else el.remove(); }
      }
    });
    $("ul-go").addEventListener("click", upperLimit);
  }

  // -- flux or upper limit in the region: xmm_upper_limit at the circle's centre -----------------
  async function upperLimit() {
    const out = $("ul-result");
    if (!used) return;
    out.innerHTML = '<p class="muted">measuring…</p>';
    const q = new URLSearchParams({ra: used.ra.toFixed(6), dec: used.dec.toFixed(6), options: JSON.stringify(options("upper_limit"))});
    try {
      const r = await fetch(`${ds.upperUrl}?${q}`, {headers: {Accept: "application/json"}});
      const d = await r.json();
      if (!r.ok) throw new Error((d.error && d.error.message) || d.error || `HTTP ${r.status}`);
      const cols = ["obs_id", "instrument", "counts", "bkg_counts", "rate", "rate_upper", "flux", "flux_upper"];
      const idx = cols.map(c => d.columns.indexOf(c));
      const fmt = v => v === null ? "—" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(3)) : String(v);
      out.innerHTML = d.rows.length ? `<div class="tablewrap"><table class="results" id="ul-table"><thead><tr>${cols.map(c => `<th>${c}</th>`).join("")}</tr></thead><tbody>` +
        d.rows.map(row => `<tr>${idx.map(i => `<td class="num">${fmt(row[i])}</td>`).join("")}</tr>`).join("") +
        `</tbody></table></div><p class="muted small">rate in ct s⁻¹, flux in erg cm⁻² s⁻¹ (0.2–12 keV); upper limits at 90 % confidence · <a href="${ds.upperUrl}?${q}">JSON</a></p>`
        : '<p class="na">No loaded exposure saw this position.</p>';
    } catch (e) { out.innerHTML = `<div class="error">${e.message}</div>`; }
  }

  window.jQuery(document).ready(load);
})();
