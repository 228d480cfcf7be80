"""Background-subtracted, GTI-aware light curves.

Per observation, bins of `bin_s` start at the first GTI of its exposures. For
each instrument i in a bin (its exposures' GTIs merged): S_i source counts
(circle), B_i background counts (annulus, other catalogue sources masked), X_i
its GTI time in the bin; the rate is sum_i (S_i - k B_i) / X_i, k the
source/background area ratio, so pn and MOS add up as rates. The variance is
sum_i (max(S_i, 1) + k^2 B_i) / X_i^2 (an empty bin still has the error of one
count). fracexp is the fraction of the bin in the GTIs common to all the
observation's instruments (a bin where one is off would show a dip); bins
below `min_fracexp` are dropped. {"instrument": …} gives one instrument alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import XmmError
from ..photons.sky import offsets
from .select import Selection, exposure_keys, fetch, merge_intervals, text

MAX_BINS = 2_000_000


@dataclass
class Background:
    photons: dict      # time, obs_id, instrument, exp_id
    scale: float       # source area / background area
    r_in: float
    r_out: float
    masked: int        # other sources masked in the annulus


def annulus_mask(xi, eta, r_in: float, r_out: float, others: list[tuple[float, float, float]]) -> np.ndarray:
    rho = np.hypot(xi, eta)
    keep = (rho >= r_in) & (rho < r_out)
    for ox, oy, r in others:
        keep &= np.hypot(xi - ox, eta - oy) >= r
    return keep


def annulus_area(r_in: float, r_out: float, others, step: float = 0.5) -> float:
    """Area (arcsec^2) of the annulus minus the masks, on a grid of `step` arcsec."""
    g = np.arange(-r_out + step / 2, r_out, step)
    xi, eta = np.meshgrid(g, g)
    return float(annulus_mask(xi, eta, r_in, r_out, others).sum()) * step * step


def background(db, sel: Selection, opts: dict) -> Background:
    """Photons in the annulus opts['bkg_inner']..opts['bkg_outer'] (default 2r..4r)
    around the source, other catalogue sources within it masked with circles of
    the extraction radius."""
    r_in = opts.get("bkg_inner") or 2.0 * sel.radius
    r_out = opts.get("bkg_outer") or 4.0 * sel.radius
    if not sel.radius <= r_in < r_out:
        raise XmmError(f"the background annulus {r_in:g}-{r_out:g}\" must lie outside the source circle "
                       f"({sel.radius:g}\") with bkg_inner < bkg_outer")
    rows = db.query(
        "SELECT sc_ra, sc_dec FROM xmm.source WHERE q3c_radial_query(sc_ra, sc_dec, $1, $2, $3) AND srcid <> $4",
        (sel.ra, sel.dec, (r_out + sel.radius) / 3600.0, sel.srcid if sel.srcid is not None else -1),
        ("float8", "float8", "float8", "bigint"))
    others = []
    if rows:
        ox, oy = offsets(sel.ra, sel.dec, [r["sc_ra"] for r in rows], [r["sc_dec"] for r in rows])
        # only masks that reach the annulus (a source inside the circle, e.g. the one at a position, is not "other")
        others = [(x, y, sel.radius) for x, y in zip(ox, oy) if np.hypot(x, y) + sel.radius > r_in]
    area = annulus_area(r_in, r_out, others)
    if area <= 0:
        raise XmmError(f"the background annulus {r_in:g}-{r_out:g}\" is entirely masked by other sources",
                       hint='set {"bkg_inner": …, "bkg_outer": …} or {"background": false}')
    ph = fetch(db, sel.ra, sel.dec, r_out, opts.get("emin", 200.0), opts.get("emax", 12000.0), opts.get("obs_id"),
               options=opts)
    keep = annulus_mask(*offsets(sel.ra, sel.dec, ph["ra"], ph["dec"]), r_in, r_out, others)
    if opts.get("instrument"):
        keep &= np.char.upper(text(ph["instrument"])) == opts["instrument"].upper()
    return Background({k: ph[k][keep] for k in ("time", "obs_id", "instrument", "exp_id")},
                      np.pi * sel.radius**2 / area, r_in, r_out, len(others))


def gti_time_before(x: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Total GTI time before each x (start/stop merged and sorted)."""
    if not start.size:
        return np.zeros_like(x)
    dur = stop - start
    cum = np.concatenate([[0.0], np.cumsum(dur)])
    i = np.searchsorted(start, x, side="right") - 1
    inside = np.clip(x - start[np.maximum(i, 0)], 0, dur[np.maximum(i, 0)])
    return np.where(i < 0, 0.0, cum[np.maximum(i, 0)] + inside)


def in_gti(t: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    i = np.searchsorted(start, t, side="right") - 1
    return (i >= 0) & (t < stop[np.maximum(i, 0)]) if start.size else np.zeros(t.shape, bool)


def bin_lightcurve(sel: Selection, bin_s: float, bkg: Background | None = None, min_fracexp: float = 0.1) -> dict:
    """Columns time (bin centre), rate, error, fracexp, obs_id (+ bkg_rate, counts).

    Within an observation the instruments are added as rates over their common
    good time: instrument i's GTIs are the union of its exposures', a bin's
    fracexp is the part of it covered by every instrument, and its rate is
    sum_i (S_i - k B_i) / X_i with X_i instrument i's own GTI time in the bin."""
    if bin_s is None or not np.isfinite(bin_s) or bin_s <= 0:
        raise XmmError(f"the bin size must be a positive number of seconds, not {bin_s}")
    nbins = 0
    for o in sel.obs_ids:
        exps = [e for e in sel.exposures if e.obs_id == o and e.start.size]
        if exps:
            nbins += int(np.ceil((max(e.stop.max() for e in exps) - min(e.start.min() for e in exps)) / bin_s))
    if nbins > MAX_BINS:
        raise XmmError(f"{nbins:,} bins of {bin_s:g} s: more than the {MAX_BINS:,} a light curve may have",
                       hint="use a larger bin_s or choose one observation with {\"obs_id\": …}")
    t_src, k_src = np.asarray(sel.photons["time"], dtype=np.float64), exposure_keys(sel.photons)
    if bkg is not None:
        t_bkg, k_bkg = np.asarray(bkg.photons["time"], dtype=np.float64), exposure_keys(bkg.photons)
    out = {k: [] for k in ("time", "rate", "error", "fracexp", "obs_id", "bkg_rate", "counts")}
    for o in sel.obs_ids:
        exps = [e for e in sel.exposures if e.obs_id == o and e.start.size]
        if not exps:
            continue
        t0 = min(e.start.min() for e in exps)
        n = int(np.ceil((max(e.stop.max() for e in exps) - t0) / bin_s))
        edges = t0 + bin_s * np.arange(n + 1)
        rate, var, brate, counts = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        for inst in sorted({e.instrument for e in exps}):
            mine = [e for e in exps if e.instrument == inst]
            s = np.zeros(n)
            b = np.zeros(n)
            for e in mine:
                key = "|".join(e.key)
                ts = t_src[k_src == key]
                s += np.histogram(ts[in_gti(ts, e.start, e.stop)], edges)[0]
                if bkg is not None:
                    tb = t_bkg[k_bkg == key]
                    b += np.histogram(tb[in_gti(tb, e.start, e.stop)], edges)[0] * bkg.scale
            ustart, ustop = merge_intervals(np.concatenate([e.start for e in mine]),
                                            np.concatenate([e.stop for e in mine]))
            x = np.diff(gti_time_before(edges, ustart, ustop))
            on = x > 0
            rate[on] += (s[on] - b[on]) / x[on]
            var[on] += (np.maximum(s[on], 1.0) + b[on] * (bkg.scale if bkg is not None else 0.0)) / x[on] ** 2
            brate[on] += b[on] / x[on]
            counts += s
        frac = _common_fraction(edges, exps)
        good = (frac > 0) & (frac >= min_fracexp)
        out["time"].append(0.5 * (edges[:-1] + edges[1:])[good])
        out["rate"].append(rate[good])
        out["error"].append(np.sqrt(var[good]))
        out["fracexp"].append(frac[good])
        out["obs_id"].append(np.full(good.sum(), o, dtype=object))
        out["bkg_rate"].append(brate[good])
        out["counts"].append(counts[good])
    return {k: (np.concatenate(v) if v else np.array([])) for k, v in out.items()}


def _common_fraction(edges: np.ndarray, exps: list) -> np.ndarray:
    """Fraction of each bin inside the GTIs of every instrument (each instrument's
    GTIs the union of its exposures')."""
    start, stop = None, None
    for inst in sorted({e.instrument for e in exps}):
        s, t = merge_intervals(np.concatenate([e.start for e in exps if e.instrument == inst]),
                               np.concatenate([e.stop for e in exps if e.instrument == inst]))
        if start is None:
            start, stop = s, t
        else:  # intersection of two sorted interval lists
            a = np.maximum(start[:, None], s[None, :])
            b = np.minimum(stop[:, None], t[None, :])
            keep = b > a
            start, stop = merge_intervals(a[keep], b[keep])
    return np.diff(gti_time_before(edges, start, stop)) / (edges[1] - edges[0])


def plot(lc: dict, title: str, bin_s: float, barycentred: bool) -> bytes:
    """PNG of a light curve: one panel per observation, time in ks from its first bin."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    obs = list(dict.fromkeys(lc["obs_id"].tolist()))
    fig, axes = plt.subplots(len(obs), 1, figsize=(8, 1.2 + 2.2 * len(obs)), squeeze=False)
    for ax, o in zip(axes[:, 0], obs):
        m = lc["obs_id"] == o
        t = lc["time"][m]
        ax.errorbar((t - t[0]) / 1e3, lc["rate"][m], yerr=lc["error"][m], fmt=".", ms=3, lw=0.7, label="source")
        ax.step((t - t[0]) / 1e3, lc["bkg_rate"][m], where="mid", lw=0.7, color="0.6", label="background (scaled)")
        ax.set_ylabel("count/s")
        ax.set_title(f"obs {o}, t0 = {t[0]:.1f} s {'TDB' if barycentred else 'TT'}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel("time since t0 (ks)")
    fig.suptitle(f"{title}, {bin_s:g} s bins", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
