"""The picture of a fit, like the original page: counts/s/keV with errors, the
folded model, and residuals in sigma below. Matplotlib's object API on Agg
(no pyplot state), returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np

COLOURS = {"EPN": "#1f77b4", "EMOS1": "#2ca02c", "EMOS2": "#d62728"}


def binned(data, folded, stat):
    """Per noticed group: (elo, ehi, rate/keV, error, model rate/keV, residual in sigma)."""
    lo, hi = data._get_ebins(group=True)
    mask = np.asarray(data.mask, bool) if np.ndim(data.mask) else np.ones(len(lo), bool)
    lo, hi = np.asarray(lo)[mask], np.asarray(hi)[mask]
    counts = np.asarray(data.get_dep(filter=True), float)
    model = np.asarray(data.eval_model_to_fit(folded), float)
    try:
        err = np.asarray(data.get_staterror(filter=True, staterrfunc=stat.calc_staterror), float)
    except Exception:   # likelihood statistics have no per-bin error: Gehrels-like sqrt
        err = 1.0 + np.sqrt(np.abs(counts) + 0.75)
    n = min(len(lo), len(counts))
    lo, hi, counts, model, err = lo[:n], hi[:n], counts[:n], model[:n], err[:n]
    if n > 1 and np.median(np.abs(counts)) < 5:   # an ungrouped fit: bin the picture (only) to >= 15 counts
        lo, hi, counts, model, err = display_bins(lo, hi, counts, model, err)
    scale = 1.0 / (data.exposure * np.maximum(hi - lo, 1e-12))
    with np.errstate(all="ignore"):
        resid = np.where(err > 0, (counts - model) / err, 0.0)
    return lo, hi, counts * scale, err * scale, model * scale, resid


def display_bins(lo, hi, counts, model, err, min_counts: float = 15.0):
    """Adjacent bins merged until each holds min_counts (the last remainder joins its neighbour);
    errors add in quadrature."""
    edges, total = [0], 0.0
    for i, c in enumerate(counts):
        total += c
        if total >= min_counts:
            edges.append(i + 1)
            total = 0.0
    if edges[-1] != len(counts):
        if len(edges) > 1:
            edges[-1] = len(counts)
        else:
            edges.append(len(counts))
    starts, stops = np.array(edges[:-1]), np.array(edges[1:])
    add = lambda a: np.add.reduceat(a, starts)  # noqa: E731
    return lo[starts], hi[stops - 1], add(counts), add(model), np.sqrt(add(err ** 2))


def png(result: dict, title: str = "") -> bytes:
    from matplotlib.figure import Figure

    f, datas, folded, built = result["_fit"]
    fig = Figure(figsize=(7.5, 6.0), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    instruments = result["instrument"].split("+")
    for data, model, inst in zip(datas, folded, instruments):
        lo, hi, y, dy, m, r = binned(data, model, f.stat)
        x, dx = 0.5 * (lo + hi), 0.5 * (hi - lo)
        c = COLOURS.get(inst, "k")
        top.errorbar(x, y, xerr=dx, yerr=dy, fmt=".", ms=2, lw=0.7, color=c, alpha=0.8, label=f"{inst} data")
        top.step(np.append(lo, hi[-1:]), np.append(m, m[-1:]), where="post", color="k", lw=1.0,
                 label="folded model" if inst == instruments[0] else None)
        bottom.errorbar(x, r, xerr=dx, yerr=np.ones_like(r), fmt=".", ms=2, lw=0.7, color=c, alpha=0.8)
    bottom.axhline(0.0, color="k", lw=0.8)
    for ax in (top, bottom):
        ax.set_xscale("log")
        ax.grid(True, which="both", alpha=0.2)
    top.set_yscale("log")
    top.set_ylabel("counts s$^{-1}$ keV$^{-1}$")
    bottom.set_ylabel("residuals (σ)")
    bottom.set_xlabel("energy (keV)")
    free = [p for p in result["params"] if not p["frozen"]]
    text = ", ".join(f"{p['name'].split('.')[-1]}={p['value']:.3g}" for p in free)
    stat = f"{result['statistic']} {result['stat']:.1f}/{result['dof']}"
    top.set_title(f"{title}\n{result['expression']}: {stat}; {text}", fontsize=8)
    top.legend(fontsize=7, loc="upper right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
