// xmm.js — wiring of the xmmdb pages: SAMP, diagrams, fit form, photons, timing plots, long-term light curves.
"use strict";
(function () {
  const $ = (s, root) => (root || document).querySelector(s);
  const esc = s => String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
  const num = v => (v === null || v === undefined) ? "—" : (typeof v === "number" ? XPlotFmt(v) : esc(v));
  function XPlotFmt(v) {
    if (window.XPlot) return window.XPlot.fmt(v);
    return String(+v.toPrecision(4));
  }
  async function getJSON(url) {
    const r = await fetch(url, {headers: {Accept: "application/json"}});
    let body = null;
    try { body = await r.json(); } catch (e) { body = {error: `HTTP ${r.status}`}; }
    if (!r.ok) {
      const err = body && body.error;
      throw new Error(typeof err === "object" && err ? err.message + (err.hint ? ` (${err.hint})` : "") : (err || `HTTP ${r.status}`) + (body && body.hint ? ` (${body.hint})` : ""));
    }
    return body;
  }

  // -- Search: put the cursor where the error is ------------------------------------
  const qerr = $("#query-error"), qbox = $("#q");
  if (qerr && qbox && qerr.dataset.position) {
    const pos = Math.min(+qerr.dataset.position - 1, qbox.value.length);
    qbox.focus();
    qbox.setSelectionRange(pos, pos);
  }

  // -- SAMP: send the result table to TOPCAT / Aladin ------------------------------
  const samp = $("#samp-send");
  if (samp) samp.addEventListener("click", async () => {
    const status = $("#samp-status");
    status.textContent = "looking for a SAMP hub…";
    try {
      await window.XSamp.sendTable(samp.dataset.url, samp.dataset.name);
      status.textContent = "sent to the SAMP hub";
    } catch (e) {
      status.textContent = "no SAMP hub answered (start TOPCAT or Aladin first): " + e.message;
    }
  });

  // -- Diagrams ------------------------------------------------------------------------
  const diagram = $("#diagram");
  if (diagram) {
    const form = $("#diagram-form");
    const draw = async () => {
      const q = $("#q").value.trim(), kind = $("#kind").value, x = $("#x").value, y = $("#y").value;
      if (!q) { diagram.innerHTML = '<p class="muted" style="padding:16px">Type a query and choose the columns to plot.</p>'; return; }
      diagram.innerHTML = '<p class="muted" style="padding:16px">querying…</p>';
      const cols = ["srcid", "iauname", x].concat(kind === "scatter" && y !== x ? [y] : []);
      try {
        const d = await getJSON(`${diagram.dataset.api}?q=${encodeURIComponent(q)}&cols=${cols.join(",")}&limit=20000`);
        const col = name => d.rows.map(r => r[d.columns.indexOf(name)]);
        const units = window.XCOLUMN_UNITS || {}, label = c => units[c] ? `${c} (${units[c]})` : c;   // TAP_SCHEMA's units
        const opts = {logx: $("#logx").checked, logy: $("#logy").checked, xlabel: label(x),
          ylabel: kind === "scatter" ? label(y) : "number of sources"};
        let n;
        if (kind === "hist") n = window.XPlot.hist(diagram, Object.assign(opts, {x: col(x)}));
        else n = window.XPlot.scatter(diagram, Object.assign(opts, {x: col(x), y: col(y),
          labels: col("iauname"), hrefs: col("srcid").map(s => `/source/${s}`)}));
        $("#diagram-note").textContent = `${n} of ${d.total} sources plotted${d.truncated ? ` (truncated at ${d.limit} rows)` : ""}` +
          (kind === "scatter" ? " · hover a point to see the source, click it to open its page" : "");
      } catch (e) {
        diagram.innerHTML = `<div class="error" style="margin:16px">${esc(e.message)}</div>`;
      }
    };
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      const p = new URLSearchParams(new FormData(form));
      history.replaceState(null, "", "?" + p.toString());
      draw();
    });
    draw();
  }

  // -- Source page: flux history ----------------------------------------------------------
  const hist = $("#flux-history");
  if (hist) getJSON(hist.dataset.json).then(d => {
    const det = d.detections.filter(x => x.mjd_start !== null && x.ep_8_flux !== null).sort((a, b) => a.mjd_start - b.mjd_start);
    if (det.length < 2) return;
    window.XPlot.scatter(hist, {x: det.map(x => x.mjd_start), y: det.map(x => x.ep_8_flux), yerr: det.map(x => x.ep_8_flux_err),
      labels: det.map(x => `obs ${x.obs_id}`), hrefs: det.map(x => `/detection/${x.detid}`), height: 220,
      xlabel: "MJD", ylabel: `EPIC flux 0.2–12 keV (${(window.XUNITS || {})["erg/(s.cm**2)"] || "erg/(s.cm**2)"})`});
  }).catch(() => {});

  // -- Long-term light curve: every observation whose field holds the position ----------------------
  const historyPlot = $("#history-plot");
  async function drawHistory() {
    const form = $("#history-form"), caption = $("#history-caption"), link = $("#history-json");
    const url = new URL(historyPlot.dataset.url, window.location.href);
    if (form) {  // a confidence that is no number goes as typed: the database says what it must be
      const fd = new FormData(form), c = String(fd.get("confidence")).trim();
      url.searchParams.set("options", JSON.stringify({bands: [+fd.get("band")], confidence: c !== "" && isFinite(c) ? +c : c}));
    }
    link.href = url.pathname + url.search;
    historyPlot.innerHTML = '<p class="muted">measuring…</p>';
    caption.textContent = "";
    try {
      const d = await getJSON(url.pathname + url.search);
      const rows = d.rows.map(r => Object.fromEntries(d.columns.map((c, i) => [c, r[i]])));
      if (!rows.length) { historyPlot.innerHTML = '<p class="na">No observation in the archive has this position in its field of view.</p>'; return; }
      const unit = (window.XUNITS || {})["erg/(s.cm**2)"] || "erg/(s.cm**2)";
      const bands = new Map(JSON.parse(historyPlot.dataset.bands));
      const pct = c => `${+(c * 100).toPrecision(3)} %`;
      const points = [], limits = [], observed = [];
      for (const r of rows) {
        const p = {x: Date.parse(r.date + "Z"), href: r.detid ? `/detection/${r.detid}` : `/observation/${r.obs_id}`};
        const head = `obs ${r.obs_id}, ${r.date.slice(0, 10)}: `;
        if (r.measured_from === "catalogue" && r.flux > 0) {
          points.push(Object.assign(p, {y: r.flux, err: r.flux_err,
            label: head + `${XPlotFmt(r.flux)} ± ${XPlotFmt(r.flux_err || 0)} ${unit} (detection ${r.detid})`}));
        } else if (r.measured_from === "photons" && r.flux_upper > 0) {
          limits.push(Object.assign(p, {y: r.flux_upper, label: head + `< ${XPlotFmt(r.flux_upper)} ${unit} (${pct(r.confidence)} upper limit;` +
            ` measured ${r.flux === null ? "—" : XPlotFmt(r.flux)} ± ${r.flux_err === null ? "—" : XPlotFmt(r.flux_err)} from ${r.counts} counts)`}));
        } else {
          observed.push(Object.assign(p, {label: head + (r.measured_from === "not loaded" ? "observed, its photons not loaded" :
            `observed, no flux (${r.measured_from})`)}));
        }
      }
      const band = rows[0].band;
      window.XPlot.history(historyPlot, {points, limits, observed, height: 260,
        xlabel: "date of the observation (UTC)", ylabel: `flux ${bands.get(band) || "band " + band} keV (${unit})`});
      const confidence = (rows.find(r => r.confidence !== null) || {}).confidence;
      const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
      caption.textContent = `● detection, catalogue flux ± 1σ · ↓ upper limit${confidence ? ` at ${pct(confidence)} confidence` : ""}` +
        ` from the photons where not detected · ○ observed, photons not loaded — ${count(rows.length, "observation", "observations")}:` +
        ` ${points.length} detected, ${count(limits.length, "upper limit", "upper limits")}, ${observed.length} without a flux`;
    } catch (e) { historyPlot.innerHTML = `<div class="error">${esc(e.message)}</div>`; }
  }
  if (historyPlot) {
    const form = $("#history-form");
    if (form) form.addEventListener("submit", ev => { ev.preventDefault(); drawHistory(); });
    drawHistory();
  }

  // -- Fit form ------------------------------------------------------------------------------
  const fitForm = $("#fit-form");
  function fitQuery() {
    const p = new URLSearchParams();
    const fd = new FormData(fitForm);
    const expr = (fd.get("expr") || "").trim();
    p.set("model", expr || fd.get("model"));
    for (const k of ["emin", "emax", "group", "stat", "method"]) if (fd.get(k)) p.set(k, fd.get(k));
    const spec = fd.get("spectrum") || "";
    if (spec) { const [detid, inst] = spec.split(":"); p.set("detid", detid); p.set("inst", inst); }
    if (fd.get("joint")) p.set("joint", "1");
    for (const row of fitForm.querySelectorAll("#fit-params tbody tr")) {
      const name = $(".pname", row).value.trim();
      if (!name) continue;
      if ($(".pval", row).value.trim()) p.set(`p.${name}`, $(".pval", row).value.trim());
      if ($(".pmin", row).value.trim()) p.set(`p.${name}.min`, $(".pmin", row).value.trim());
      if ($(".pmax", row).value.trim()) p.set(`p.${name}.max`, $(".pmax", row).value.trim());
      if ($(".pfrozen", row).checked) p.set(`p.${name}.frozen`, "1");
    }
    return p;
  }
  function paramRows(params) {
    const body = $("#fit-params tbody");
    body.innerHTML = "";
    for (const p of params) {
      const tr = document.createElement("tr");
      tr.innerHTML = `<td><input class="pname" size="14"></td><td><input class="pval" size="9"></td>` +
        `<td><input class="pmin" size="9"></td><td><input class="pmax" size="9"></td><td><input type="checkbox" class="pfrozen"></td>`;
      $(".pname", tr).value = p.name || "";
      $(".pval", tr).value = p.value !== undefined && p.value !== null ? +(+p.value).toPrecision(6) : "";
      $(".pmin", tr).value = p.min !== undefined && p.min !== null ? p.min : "";
      $(".pmax", tr).value = p.max !== undefined && p.max !== null ? p.max : "";
      $(".pfrozen", tr).checked = !!p.frozen;
      body.appendChild(tr);
    }
  }
  // A new model has parameters of its own: the previous model's values (a frozen nH, say) never carry over.
  if (fitForm) for (const id of ["#fit-model", "#fit-expr"]) $(id).addEventListener("change", () => {
    paramRows([{}, {}, {}]);
    $("#fit-status").textContent = "parameters reset for the new model";
  });
  function asParams(v) {
    if (!v) return [];
    if (Array.isArray(v)) return v;
    if (typeof v === "object") return Object.entries(v).map(([name, x]) => Object.assign({name}, typeof x === "object" ? x : {value: x}));
    return [];
  }
  if (fitForm) fitForm.addEventListener("submit", async ev => {
    ev.preventDefault();
    const status = $("#fit-status"), out = $("#fit-result"), go = $("#fit-go");
    const p = fitQuery();
    status.textContent = "fitting…";
    go.disabled = true;
    try {
      const r = await getJSON(`${fitForm.action}?${p}`);
      const params = asParams(r.params);
      const pm = (v, e) => v === null || v === undefined ? "—" : num(v) + (e ? ` <span class="muted">± ${num(e)}</span>` : "");
      const stats = [
        ["model", esc(r.expression || r.model || "")], ["spectrum", esc([r.instrument, r.obs_id ? `obs ${r.obs_id}` : ""].filter(Boolean).join(" · "))],
        ["statistic", `${esc(r.statistic || "")} = ${num(r.stat)} / ${num(r.dof)} dof`], ["reduced", num(r.rstat)],
        ["null hypothesis prob.", num(r.qval)], ["energy range", `${num(r.emin)} – ${num(r.emax)} keV, ${num(r.nbins)} bins`],
        ["flux 0.2–12 keV (absorbed)", pm(r.flux, r.flux_err) + " erg cm⁻² s⁻¹"],
        ["flux 0.2–12 keV (unabsorbed)", pm(r.flux_unabs, r.flux_unabs_err) + " erg cm⁻² s⁻¹"],
        ["fit time", r.fit_time !== undefined ? `${num(r.fit_time)} s${r.cached ? " (cached)" : ""}` : "—"]];
      const known = new Set(["params", "plot_url", "expression", "model", "instrument", "obs_id", "statistic", "stat", "dof",
        "rstat", "qval", "emin", "emax", "nbins", "flux", "flux_err", "flux_unabs", "flux_unabs_err", "fit_time", "cached"]);
      for (const [k, v] of Object.entries(r)) if (!known.has(k) && (v === null || typeof v !== "object")) stats.push([k, num(v)]);
      const rows = stats.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join("");
      const order = ["name", "value", "error_lo", "error_hi", "min", "max", "frozen", "unit"];
      const keys = params.length ? order.filter(k => k in params[0]).concat(Object.keys(params[0]).filter(k => !order.includes(k))) : [];
      const ptable = params.length ? `<table id="fit-param-table"><thead><tr>${keys.map(k => `<th>${esc(k)}</th>`).join("")}</tr></thead><tbody>` +
        params.map(x => `<tr>${keys.map(k => `<td>${typeof x[k] === "boolean" ? (x[k] ? "✓" : "") :
          k === "unit" ? esc((window.XUNITS || {})[x[k]] || x[k] || "") : num(x[k])}</td>`).join("")}</tr>`).join("") +
        "</tbody></table>" : "";
      out.innerHTML = `<div><img id="fit-plot" alt="fit plot" src="${esc(r.plot_url)}"><p class="small"><a href="${esc(r.plot_url)}">stable link to this plot</a></p></div>` +
        `<div><div class="scroll">${ptable}</div><table class="fitstats">${rows}</table></div>`;
      if (params.length) paramRows(params);
      status.textContent = "done";
    } catch (e) {
      out.innerHTML = `<div class="error">${esc(e.message)}</div>`;
      status.textContent = "";
    } finally {
      go.disabled = false;
    }
  });

  // -- Timing: light curve and periodogram -----------------------------------------------------
  function pick(d, names) {
    for (const n of names) { const i = d.columns.indexOf(n); if (i >= 0) return d.rows.map(r => r[i]); }
    return null;
  }
  // The extraction region drawn in the X-ray image (static/image.js): radius, background annulus, observation.
  const region = kind => {
    const o = window.XExtraction ? window.XExtraction.options(kind) : {};
    const c = window.XExtraction ? window.XExtraction.centre() : null;
    return (Object.keys(o).length ? `&options=${encodeURIComponent(JSON.stringify(o))}` : "") +
           (c ? `&ra=${c.ra}&dec=${c.dec}` : "");
  };
  const lc = $("#lc-form");
  if (lc) lc.addEventListener("submit", async ev => {
    ev.preventDefault();
    const el = $("#lc-plot");
    el.innerHTML = '<p class="muted">computing…</p>';
    try {
      const d = await getJSON(`${lc.dataset.url}?bin=${encodeURIComponent(new FormData(lc).get("bin"))}${region("lightcurve")}`);
      const t = pick(d, ["time", "t", "tstart", "time_mid"]), rate = pick(d, ["rate", "net_rate", "counts"]), err = pick(d, ["error", "rate_err", "err"]);
      if (!t || !rate || !t.length) { el.innerHTML = '<p class="muted">no photons for a light curve</p>'; return; }
      // One panel per observation, each on its own time axis (ks since its first bin), one rate scale:
      // observations months or years apart are never joined by a line across the gap.
      const obs = pick(d, ["obs_id"]) || t.map(() => "");
      const ids = [...new Set(obs)];
      const vals = rate.map((v, i) => [v - (err ? err[i] || 0 : 0), v + (err ? err[i] || 0 : 0)]).flat().filter(isFinite);
      const ylo = Math.min(...vals), yhi = Math.max(...vals), pad = (yhi - ylo) * 0.05 || 1;
      el.innerHTML = "";
      const row = document.createElement("div");
      row.className = "lc-panels";
      el.appendChild(row);
      for (const id of ids) {
        const k = obs.map((o, i) => o === id ? i : -1).filter(i => i >= 0);
        const t0 = Math.min(...k.map(i => t[i]));
        const panel = document.createElement("div");
        panel.className = "lc-panel";
        panel.dataset.obsId = id;
        panel.innerHTML = `<div class="small">${esc(id)} · start ${(50814 + t0 / 86400).toFixed(3)} MJD (TT)</div>`;
        const box = document.createElement("div");
        panel.appendChild(box);
        row.appendChild(panel);
        window.XPlot.line(box, {x: k.map(i => (t[i] - t0) / 1000), y: k.map(i => rate[i]), yerr: err ? k.map(i => err[i]) : null,
          points: true, height: 240, yrange: [ylo - pad, yhi + pad], xlabel: "time since the first bin (ks)",
          ylabel: "rate (ct s⁻¹)"});
      }
      const bin = encodeURIComponent(new FormData(lc).get("bin")) + region("lightcurve");
      const links = document.createElement("p");
      links.className = "small";
      links.innerHTML = `<a href="${lc.dataset.url}?bin=${bin}">JSON</a>` +
        (lc.dataset.png ? ` · <a id="lc-png" href="${lc.dataset.png}?bin=${bin}">PNG</a>` : "");
      el.appendChild(links);
    } catch (e) { el.innerHTML = `<div class="error">${esc(e.message)}</div>`; }
  });
  const pg = $("#pg-form");
  if (pg) pg.addEventListener("submit", async ev => {
    ev.preventDefault();
    const el = $("#pg-plot"), fd = new FormData(pg);
    el.innerHTML = '<p class="muted">searching…</p>';
    try {
      const d = await getJSON(`${pg.dataset.url}?fmin=${encodeURIComponent(fd.get("fmin"))}&fmax=${encodeURIComponent(fd.get("fmax"))}${region("periodogram")}`);
      let f = pick(d, ["frequency", "freq", "f"]), p = pick(d, ["power", "z2", "h"]);
      if (f && f.length === 1 && Array.isArray(f[0])) { f = f[0]; p = p[0]; }
      const best = pick(d, ["best_frequency", "best_freq", "fbest"]), fap = pick(d, ["fap", "false_alarm", "false_alarm_probability"]);
      if (!f || !p) { el.innerHTML = '<p class="muted">no periodogram</p>'; return; }
      const statistic = pick(d, ["statistic"]);
      window.XPlot.line(el, {x: f, y: p, height: 240, xlabel: "frequency (Hz)",
        ylabel: statistic ? `${statistic[0]} power` : "power", mark: best ? best[0] : null});
      if (best && best[0]) {
        const note = document.createElement("p");
        note.className = "small";
        note.id = "pg-best";
        const stat = pick(d, ["statistic"]), trials = pick(d, ["n_trials"]), how = pick(d, ["combination"]);
        note.textContent = `best frequency ${(+best[0]).toPrecision(8)} Hz (period ${(1 / best[0]).toPrecision(6)} s)` +
          (fap ? `, false-alarm probability ${XPlotFmt(+fap[0])}` : "") +
          (stat ? ` · ${stat[0]} corrected for the GTIs' phase exposure` : "") +
          (trials ? `, ${Math.round(trials[0]).toLocaleString()} independent trials (FAP = 1 − (1 − p)^trials)` : "") +
          (how ? ` · ${how[0]}` : "");
        el.appendChild(note);
      }
    } catch (e) { el.innerHTML = `<div class="error">${esc(e.message)}</div>`; }
  });
})();
