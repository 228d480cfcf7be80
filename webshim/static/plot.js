// plot.js — small SVG plots for xmmdb (scatter, histogram, line with error bars).
// No dependencies. XPlot.scatter(el, opts), XPlot.hist(el, opts), XPlot.line(el, opts).
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const M = {l: 78, r: 18, t: 14, b: 46};

  function svgEl(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function fmt(v) {
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e5 || a < 1e-3) {
      const e = Math.floor(Math.log10(a)), m = v / Math.pow(10, e);
      return (Math.abs(m - 1) < 1e-9 ? "" : (+m.toFixed(2)) + "×") + "10" + sup(e);
    }
    return String(+v.toPrecision(4));
  }
  function sup(n) {
    const s = {"-": "⁻", "0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹"};
    return String(n).split("").map(c => s[c] || c).join("");
  }

  function ticks(lo, hi, log) {
    if (log) {
      const out = [];
      for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) if (e >= lo - 1e-9 && e <= hi + 1e-9) out.push(e);
      if (out.length >= 2) return out;
    }
    const span = hi - lo || Math.abs(hi) || 1, raw = span / 6, p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(m => m * p).find(s => span / s <= 7) || 10 * p;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }

  function extent(vals) {
    let lo = Infinity, hi = -Infinity;
    for (const v of vals) if (v !== null && isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (lo === Infinity) return [0, 1];
    if (lo === hi) { const d = Math.abs(lo) * 0.1 || 1; return [lo - d, hi + d]; }
    const pad = (hi - lo) * 0.04;
    return [lo - pad, hi + pad];
  }

  function frame(el, o) {
    el.innerHTML = "";
    const W = el.clientWidth || 600, H = o.height || el.clientHeight || 320;
    const svg = svgEl("svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img"}, el);
    const tip = document.createElement("div");
    tip.className = "tip";
    el.appendChild(tip);
    return {svg, tip, W, H, pw: W - M.l - M.r, ph: H - M.t - M.b};
  }

  function axes(f, xs, ys, o) {
    const tx = v => M.l + (v - xs[0]) / (xs[1] - xs[0]) * f.pw;
    const ty = v => M.t + f.ph - (v - ys[0]) / (ys[1] - ys[0]) * f.ph;
    const g = svgEl("g", {class: "axis"}, f.svg);
    const xt = ticks(xs[0], xs[1], o.logx), yt = ticks(ys[0], ys[1], o.logy);
    const xe = o.logx ? 0 : scaleExp(xt), ye = o.logy ? 0 : scaleExp(yt);
    for (const v of xt) {
      svgEl("line", {x1: tx(v), x2: tx(v), y1: M.t, y2: M.t + f.ph, class: "gridline"}, g);
      svgEl("line", {x1: tx(v), x2: tx(v), y1: M.t + f.ph, y2: M.t + f.ph + 4}, g);
      svgEl("text", {x: tx(v), y: M.t + f.ph + 16, "text-anchor": "middle"}, g).textContent = o.logx ? fmt(Math.pow(10, v)) : fmt(+(v / Math.pow(10, xe)).toPrecision(6));
    }
    for (const v of yt) {
      svgEl("line", {x1: M.l, x2: M.l + f.pw, y1: ty(v), y2: ty(v), class: "gridline"}, g);
      svgEl("line", {x1: M.l - 4, x2: M.l, y1: ty(v), y2: ty(v)}, g);
      svgEl("text", {x: M.l - 7, y: ty(v) + 4, "text-anchor": "end"}, g).textContent = o.logy ? fmt(Math.pow(10, v)) : fmt(+(v / Math.pow(10, ye)).toPrecision(6));
    }
    svgEl("rect", {x: M.l, y: M.t, width: f.pw, height: f.ph, fill: "none", stroke: "#8793a0"}, g);
    svgEl("text", {x: M.l + f.pw / 2, y: f.H - 8, "text-anchor": "middle", class: "label"}, f.svg).textContent = (o.xlabel || "") + (xe ? ` (×10${sup(xe)})` : "");
    const yl = svgEl("text", {x: 14, y: M.t + f.ph / 2, "text-anchor": "middle", class: "label",
                              transform: `rotate(-90 14 ${M.t + f.ph / 2})`}, f.svg);
    yl.textContent = (o.ylabel || "") + (ye ? ` (×10${sup(ye)})` : "");
    const clip = "clip" + Math.random().toString(36).slice(2);
    const defs = svgEl("defs", {}, f.svg);
    svgEl("rect", {x: M.l, y: M.t, width: f.pw, height: f.ph}, svgEl("clipPath", {id: clip}, defs));
    return {tx, ty, clip: `url(#${clip})`};
  }

  function scaleExp(t) {
    const m = Math.max(...t.map(Math.abs));
    if (!isFinite(m) || m === 0) return 0;
    const e = Math.floor(Math.log10(m));
    return (e >= 5 || e <= -3) ? e : 0;
  }

  function tr(v, log) { return log ? (v > 0 ? Math.log10(v) : null) : (v === null || v === undefined ? null : +v); }

  function showTip(f, el, text, x, y) {
    f.tip.textContent = text;
    f.tip.style.display = "block";
    f.tip.style.left = Math.min(x + 12, f.W - f.tip.offsetWidth - 4) + "px";
    f.tip.style.top = Math.max(0, y - 28) + "px";
  }

  // Scatter: o.x, o.y arrays; o.labels (hover), o.hrefs (click); o.xerr/o.yerr optional.
  function scatter(el, o) {
    const f = frame(el, o);
    const X = o.x.map(v => tr(v, o.logx)), Y = o.y.map(v => tr(v, o.logy));
    const idx = X.map((_, i) => i).filter(i => X[i] !== null && Y[i] !== null && isFinite(X[i]) && isFinite(Y[i]));
    const ev = o.yerr && !o.logy ? idx.map(i => o.yerr[i] || 0) : idx.map(() => 0);
    const xs = o.xrange || extent(idx.map(i => X[i])),
          ys = o.yrange || extent(idx.map((i, k) => Y[i] - ev[k]).concat(idx.map((i, k) => Y[i] + ev[k])));
    const {tx, ty, clip} = axes(f, xs, ys, o);
    const g = svgEl("g", {"clip-path": clip}, f.svg);
    const r = idx.length > 3000 ? 2 : idx.length > 500 ? 3 : 4;
    for (const i of idx) {
      if (o.yerr && o.yerr[i] && !o.logy) svgEl("line", {x1: tx(X[i]), x2: tx(X[i]), y1: ty(Y[i] - o.yerr[i]), y2: ty(Y[i] + o.yerr[i]), class: "err"}, g);
      const c = svgEl("circle", {cx: tx(X[i]), cy: ty(Y[i]), r, class: "pt"}, g);
      c.dataset.i = i;
    }
    g.addEventListener("mousemove", ev => {
      const i = ev.target.dataset && ev.target.dataset.i;
      if (i === undefined) { f.tip.style.display = "none"; return; }
      const rect = el.getBoundingClientRect();
      showTip(f, el, (o.labels ? o.labels[i] + ": " : "") + fmt(+o.x[i]) + ", " + fmt(+o.y[i]), ev.clientX - rect.left, ev.clientY - rect.top);
    });
    g.addEventListener("mouseleave", () => { f.tip.style.display = "none"; });
    g.addEventListener("click", ev => {
      const i = ev.target.dataset && ev.target.dataset.i;
      if (i !== undefined && o.hrefs && o.hrefs[i]) window.location.href = o.hrefs[i];
    });
    return idx.length;
  }

  // Histogram of o.x with o.bins bins (default: Sturges, at most 60).
  function hist(el, o) {
    const f = frame(el, o);
    const X = o.x.map(v => tr(v, o.logx)).filter(v => v !== null && isFinite(v));
    const xs = extent(X);
    const n = o.bins || Math.min(60, Math.max(8, Math.ceil(Math.log2(X.length + 1) + 1) * 2));
    const w = (xs[1] - xs[0]) / n, counts = new Array(n).fill(0);
    for (const v of X) counts[Math.min(n - 1, Math.floor((v - xs[0]) / w))]++;
    const ys = [0, Math.max(1, ...counts) * 1.05];
    const {tx, ty} = axes(f, xs, ys, Object.assign({}, o, {logy: false, ylabel: o.ylabel || "number of sources"}));
    const g = svgEl("g", {}, f.svg);
    counts.forEach((c, i) => {
      const b = svgEl("rect", {x: tx(xs[0] + i * w), y: ty(c), width: Math.max(1, tx(xs[0] + (i + 1) * w) - tx(xs[0] + i * w) - 1), height: ty(0) - ty(c), class: "bar"}, g);
      b.dataset.label = `${fmt(o.logx ? Math.pow(10, xs[0] + i * w) : xs[0] + i * w)} – ${fmt(o.logx ? Math.pow(10, xs[0] + (i + 1) * w) : xs[0] + (i + 1) * w)}: ${c}`;
    });
    g.addEventListener("mousemove", ev => {
      if (!ev.target.dataset.label) return;
      const rect = el.getBoundingClientRect();
      showTip(f, el, ev.target.dataset.label, ev.clientX - rect.left, ev.clientY - rect.top);
    });
    g.addEventListener("mouseleave", () => { f.tip.style.display = "none"; });
    return X.length;
  }

  // Line (light curve, periodogram): o.x, o.y, optional o.yerr, o.step, o.mark (x of a vertical marker).
  function line(el, o) {
    const f = frame(el, o);
    const X = o.x.map(v => tr(v, o.logx)), Y = o.y.map(v => tr(v, o.logy));
    const idx = X.map((_, i) => i).filter(i => X[i] !== null && Y[i] !== null && isFinite(X[i]) && isFinite(Y[i]));
    const lo = idx.map(i => o.yerr && !o.logy ? Y[i] - (o.yerr[i] || 0) : Y[i]), hi = idx.map(i => o.yerr && !o.logy ? Y[i] + (o.yerr[i] || 0) : Y[i]);
    const xs = extent(idx.map(i => X[i])), ys = extent(lo.concat(hi));
    const {tx, ty, clip} = axes(f, xs, ys, o);
    const g = svgEl("g", {"clip-path": clip}, f.svg);
    if (o.yerr && !o.logy) for (const i of idx) svgEl("line", {x1: tx(X[i]), x2: tx(X[i]), y1: ty(Y[i] - (o.yerr[i] || 0)), y2: ty(Y[i] + (o.yerr[i] || 0)), class: "err"}, g);
    let d = "";
    idx.forEach((i, k) => { d += (k ? "L" : "M") + tx(X[i]).toFixed(1) + " " + ty(Y[i]).toFixed(1); });
    svgEl("path", {d, class: "line"}, g);
    if (o.points) for (const i of idx) svgEl("circle", {cx: tx(X[i]), cy: ty(Y[i]), r: 2, class: "pt"}, g);
    if (o.mark !== undefined && o.mark !== null) {
      const mx = tr(o.mark, o.logx);
      svgEl("line", {x1: tx(mx), x2: tx(mx), y1: M.t, y2: M.t + f.ph, stroke: "#ff3b30", "stroke-dasharray": "4 3"}, g);
    }
    f.svg.addEventListener("mousemove", ev => {
      const rect = el.getBoundingClientRect(), px = ev.clientX - rect.left;
      if (px < M.l || px > M.l + f.pw || !idx.length) { f.tip.style.display = "none"; return; }
      const xv = xs[0] + (px - M.l) / f.pw * (xs[1] - xs[0]);
      let best = idx[0];
      for (const i of idx) if (Math.abs(X[i] - xv) < Math.abs(X[best] - xv)) best = i;
      showTip(f, el, `${o.xlabel || "x"} ${fmt(+o.x[best])}: ${fmt(+o.y[best])}`, px, ev.clientY - rect.top);
    });
    f.svg.addEventListener("mouseleave", () => { f.tip.style.display = "none"; });
    return idx.length;
  }

  window.XPlot = {scatter, hist, line, fmt};
})();
