// plot.js — small SVG plots for xmmdb (scatter, histogram, line with error bars, flux history).
// No dependencies. XPlot.scatter(el, opts), XPlot.hist(el, opts), XPlot.line(el, opts), XPlot.history(el, opts).
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
    if (log) {  // decades; within less than two, also 2 and 5 (then every digit) times a power of ten
      for (const mantissas of [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
        const out = [];
        for (let e = Math.floor(lo); e <= Math.ceil(hi); e++)
          for (const m of mantissas) { const v = e + Math.log10(m); if (v >= lo - 1e-9 && v <= hi + 1e-9) out.push(v); }
        if (out.length >= 2) return out;
      }
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

  // Calendar ticks between two times (ms since 1970, UTC): years, months or days, whichever gives a few.
  const DAY = 864e5, YEAR = 365.25 * DAY;
  function dateTicks(lo, hi) {
    const a = new Date(lo), b = new Date(hi), out = [];
    if (hi - lo > 3 * YEAR) {
      const y0 = a.getUTCFullYear(), y1 = b.getUTCFullYear(), step = [1, 2, 5, 10, 20, 50].find(s => (y1 - y0) / s <= 10) || 100;
      for (let y = Math.ceil(y0 / step) * step; y <= y1; y += step) out.push(Date.UTC(y, 0, 1));
      out.unit = "year";
    } else if (hi - lo > 60 * DAY) {
      const m0 = a.getUTCFullYear() * 12 + a.getUTCMonth(), m1 = b.getUTCFullYear() * 12 + b.getUTCMonth();
      const step = [1, 2, 3, 6, 12].find(s => (m1 - m0) / s <= 8) || 12;
      for (let m = Math.ceil(m0 / step) * step; m <= m1; m += step) out.push(Date.UTC(Math.floor(m / 12), m % 12, 1));
      out.unit = "month";
    } else {
      const d0 = Math.floor(lo / DAY), d1 = Math.floor(hi / DAY), step = [1, 2, 5, 10, 15].find(s => (d1 - d0) / s <= 8) || 30;
      for (let d = Math.ceil(d0 / step) * step; d <= d1; d += step) out.push(d * DAY);
      out.unit = "day";
    }
    const inside = out.filter(v => v >= lo && v <= hi);
    inside.unit = out.unit;
    return inside;
  }
  function dateLabel(v, unit) {
    const iso = new Date(v).toISOString();
    return unit === "year" ? iso.slice(0, 4) : unit === "month" ? iso.slice(0, 7) : iso.slice(0, 10);
  }

  // o.xdate: x is a time in ms since 1970 (UTC), labelled with calendar dates.
  function axes(f, xs, ys, o) {
    const tx = v => M.l + (v - xs[0]) / (xs[1] - xs[0]) * f.pw;
    const ty = v => M.t + f.ph - (v - ys[0]) / (ys[1] - ys[0]) * f.ph;
    const g = svgEl("g", {class: "axis"}, f.svg);
    const xt = o.xdate ? dateTicks(xs[0], xs[1]) : ticks(xs[0], xs[1], o.logx), yt = ticks(ys[0], ys[1], o.logy);
    const xe = o.logx || o.xdate ? 0 : scaleExp(xt), ye = o.logy ? 0 : scaleExp(yt);
    for (const v of xt) {
      svgEl("line", {x1: tx(v), x2: tx(v), y1: M.t, y2: M.t + f.ph, class: "gridline"}, g);
      svgEl("line", {x1: tx(v), x2: tx(v), y1: M.t + f.ph, y2: M.t + f.ph + 4}, g);
      const label = svgEl("text", {x: tx(v), y: M.t + f.ph + 16, "text-anchor": "middle"}, g);
      if (o.xdate) label.setAttribute("class", "date");
      label.textContent = o.xdate ? dateLabel(v, xt.unit) : o.logx ? fmt(Math.pow(10, v)) : fmt(+(v / Math.pow(10, xe)).toPrecision(6));
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
    const xs = extent(idx.map(i => X[i])), ys = o.yrange || extent(lo.concat(hi));   // yrange: panels that share a scale
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

  // Flux history on a calendar axis, flux on a log axis. x in ms since 1970 (UTC) throughout:
  // o.points [{x, y, err, label, href}] measured values with their error bars, o.limits [{x, y, label, href}]
  // upper limits as arrows down from y, o.observed [{x, label, href}] epochs without a number, as hollow
  // marks along the bottom. Hover shows a mark's label, a click opens its href.
  function history(el, o) {
    const f = frame(el, o);
    const ARROW = 18, STRIP = 22;     // px: an arrow's length; the strip along the bottom for the hollow marks
    const xsAll = o.points.concat(o.limits, o.observed).map(p => p.x).filter(isFinite);
    if (!xsAll.length) return 0;
    const x0 = Math.min(...xsAll), x1 = Math.max(...xsAll), xpad = Math.max((x1 - x0) * 0.04, 90 * DAY);
    const xs = [x0 - xpad, x1 + xpad];
    const lo = [], hi = [];
    for (const p of o.points) { lo.push(Math.log10(p.err && p.y - p.err > 0 ? p.y - p.err : p.y)); hi.push(Math.log10(p.y + (p.err || 0))); }
    for (const p of o.limits) { lo.push(Math.log10(p.y)); hi.push(Math.log10(p.y)); }
    let d0 = lo.length ? Math.min(...lo) : -15, d1 = hi.length ? Math.max(...hi) : -12;
    if (d1 - d0 < 1) { const mid = (d0 + d1) / 2; d0 = mid - 0.5; d1 = mid + 0.5; }
    // the data between 12 px from the top and the arrows' length above the strip
    const room = f.ph - 12 - STRIP - ARROW, perPx = (d1 - d0) / room;
    const ys = [d0 - (STRIP + ARROW) * perPx, d1 + 12 * perPx];
    const {tx, ty, clip} = axes(f, xs, ys, Object.assign({}, o, {xdate: true, logy: true}));
    const g = svgEl("g", {"clip-path": clip}, f.svg), marks = [];
    const mark = (e, p) => { e.dataset.k = marks.length; marks.push(p); return e; };
    const bottom = M.t + f.ph;
    for (const p of o.observed) mark(svgEl("circle", {cx: tx(p.x), cy: bottom - STRIP / 2, r: 3.5, class: "unmeasured"}, g), p);
    for (const p of o.limits) {
      const x = tx(p.x), y = ty(Math.log10(p.y)), h = svgEl("g", {class: "limit"}, g);
      svgEl("line", {x1: x - 5, x2: x + 5, y1: y, y2: y}, h);
      svgEl("line", {x1: x, x2: x, y1: y, y2: y + ARROW - 5}, h);
      svgEl("path", {d: `M${x - 4} ${y + ARROW - 6}L${x + 4} ${y + ARROW - 6}L${x} ${y + ARROW}Z`}, h);
      svgEl("rect", {x: x - 6, y: y - 3, width: 12, height: ARROW + 4, class: "hit"}, h);   // easier to hover than the strokes
      mark(h, p);
    }
    for (const p of o.points) {
      const x = tx(p.x);
      if (p.err) svgEl("line", {x1: x, x2: x, y1: p.y - p.err > 0 ? ty(Math.log10(p.y - p.err)) : bottom,
                                y2: ty(Math.log10(p.y + p.err)), class: "err"}, g);
      mark(svgEl("circle", {cx: x, cy: ty(Math.log10(p.y)), r: 4, class: "pt"}, g), p);
    }
    const under = ev => { const e = ev.target.closest && ev.target.closest("[data-k]"); return e ? marks[+e.dataset.k] : null; };
    g.addEventListener("mousemove", ev => {
      const p = under(ev);
      if (!p) { f.tip.style.display = "none"; return; }
      const rect = el.getBoundingClientRect();
      showTip(f, el, p.label, ev.clientX - rect.left, ev.clientY - rect.top);
    });
    g.addEventListener("mouseleave", () => { f.tip.style.display = "none"; });
    g.addEventListener("click", ev => { const p = under(ev); if (p && p.href) window.location.href = p.href; });
    return marks.length;
  }

  window.XPlot = {scatter, hist, line, history, fmt};
})();
