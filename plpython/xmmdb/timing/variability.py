"""Does a source vary? Tests on its photons, within and between observations.

Within an observation (its instruments together) the photons of the source
circle are tested against a constant rate seen through the good time
intervals: a constant source puts its photons uniformly in good time, so with
    F(t) = sum_e w_e G_e(t) / G_e        (G_e(t): good time of exposure e before t,
                                          w_e: its share of the photons)
the values F(t_j) are uniform on 0..1 and gaps are no signal.
  ks      Kolmogorov-Smirnov of F(t_j) against the uniform distribution
  kuiper  Kuiper's test (astropy): as sensitive at the ends and to changes that return
  blocks  Bayesian blocks (Scargle et al. 2013, astropy, events fitness) on the good-time
          axis (gaps removed); more than one block is variability, with a false-positive
          rate p0 per change point (option "p0", default 0.01): probability = p0 then.
The background annulus (2r..4r by default, other sources masked) gets the KS test
too: a flaring background makes the source circle vary as well, and its
probability is given with every within-observation row (detail.background_probability).

Between observations, per instrument: the net rate of each observation,
(S - k B) / T with T the on-time of the CCD at the source and k the area ratio,
and its error sqrt(S + k^2 B) / T;
  chi2    chi^2 of the rates against their weighted mean, with N - 1 degrees of freedom
  fvar    the fractional variability amplitude F_var and its error (Vaughan et al. 2003,
          eqs. 10 and 11); no probability (the chi^2 row is the test).
"""

from __future__ import annotations

import json

import numpy as np

from . import lightcurve as lc
from .select import Selection, exposure_keys, text

MIN_PHOTONS = 10              # fewer photons in an observation: no within-observation test
MAX_BLOCK_PHOTONS = 20_000    # Bayesian blocks are O(N^2) (~1 s at this size): above it not run, the row says so


def constant_cdf(t: np.ndarray, keys: np.ndarray, exposures: list) -> np.ndarray:
    """F(t) of a constant source for photons of one observation (see the module text)."""
    out = np.zeros(len(t))
    total = 0
    for e in exposures:
        n = int(np.sum(keys == "|".join(e.key)))
        good = float(np.sum(e.stop - e.start))
        if n == 0 or good <= 0:
            continue
        out += n * lc.gti_time_before(t, e.start, e.stop) / good
        total += n
    return out / max(total, 1)


def uniform_tests(u: np.ndarray) -> dict:
    from astropy.stats import kuiper
    from scipy.stats import kstest

    ks = kstest(u, "uniform")
    d, p = kuiper(u)
    return {"ks": (float(ks.statistic), float(ks.pvalue)), "kuiper": (float(d), float(min(max(p, 0.0), 1.0)))}


def bayesian_blocks(u: np.ndarray, good: float, p0: float) -> tuple[int, list]:
    """Number of blocks of the photons on the good-time axis and the change points (as
    fractions of the good time)."""
    from astropy.stats import bayesian_blocks as blocks

    x = np.sort(u) * good                 # photons of one readout frame share a time: counted together
    edges = blocks(x, fitness="events", p0=p0)
    return len(edges) - 1, [float(v / good) for v in edges[1:-1]]


def within(sel: Selection, bkg, p0: float) -> list[tuple]:
    rows = []
    t_all = np.asarray(sel.photons["time"], np.float64)
    keys_all = exposure_keys(sel.photons)
    obs_all = text(sel.photons["obs_id"])
    if bkg is not None:
        tb_all, kb_all = np.asarray(bkg.photons["time"], np.float64), exposure_keys(bkg.photons)
        ob_all = text(bkg.photons["obs_id"])
    for o in sel.obs_ids:
        exps = [e for e in sel.exposures if e.obs_id == o and e.start.size]
        mine = obs_all == o
        n = int(mine.sum())
        instruments = "+".join(sorted({e.instrument for e in exps})) or "EPIC"
        if not exps or n < MIN_PHOTONS:
            rows.append((o, instruments, "ks", None, None, n, json.dumps(
                {"skipped": f"{n} photon(s): fewer than {MIN_PHOTONS}" if exps else "no good time intervals"})))
            continue
        u = constant_cdf(t_all[mine], keys_all[mine], exps)
        detail = {}
        if bkg is not None:
            bm = ob_all == o
            if bm.sum() >= MIN_PHOTONS:
                ub = constant_cdf(tb_all[bm], kb_all[bm], exps)
                detail["background_probability"] = uniform_tests(ub)["ks"][1]
                detail["background_photons"] = int(bm.sum())
        for test, (stat, p) in uniform_tests(u).items():
            rows.append((o, instruments, test, stat, p, n, json.dumps(detail)))
        good = max(float(np.sum(e.stop - e.start)) for e in exps)
        if n > MAX_BLOCK_PHOTONS:
            rows.append((o, instruments, "blocks", None, None, n,
                         json.dumps({**detail, "skipped": f"more than {MAX_BLOCK_PHOTONS:,} photons"})))
        else:
            k, changes = bayesian_blocks(u, good, p0)
            rows.append((o, instruments, "blocks", float(k), p0 if k > 1 else None, n,
                         json.dumps({**detail, "p0": p0, "change_points": changes})))
    return rows


def between(sel: Selection, bkg) -> list[tuple]:
    """chi^2 and F_var of the per-observation net rates, per instrument."""
    from scipy.stats import chi2

    rows = []
    keys = exposure_keys(sel.photons)
    if bkg is not None:
        kb = exposure_keys(bkg.photons)
    for inst in sorted({e.instrument for e in sel.exposures}):
        rates, errors, obs, total = [], [], [], 0
        for o in sel.obs_ids:
            exps = [e for e in sel.exposures if e.obs_id == o and e.instrument == inst and e.start.size]
            if not exps:
                continue
            on = float(sum(np.sum(e.stop - e.start) for e in exps))
            s = sum(int(np.sum(keys == "|".join(e.key))) for e in exps)
            b = sum(int(np.sum(kb == "|".join(e.key))) for e in exps) if bkg is not None else 0
            k = bkg.scale if bkg is not None else 0.0
            rates.append((s - k * b) / on)
            total += s
            errors.append(np.sqrt(max(s, 1) + k * k * b) / on)
            obs.append(o)
        if len(rates) < 2:
            continue
        r, e = np.array(rates), np.array(errors)
        w = 1 / e ** 2
        mean = float(np.sum(w * r) / np.sum(w))
        x2 = float(np.sum(w * (r - mean) ** 2))
        detail = {"obs_ids": obs, "rates": r.tolist(), "errors": e.tolist(), "weighted_mean": mean}
        rows.append((None, inst, "chi2", x2, float(chi2.sf(x2, len(r) - 1)), total, json.dumps(detail)))
        m = float(np.mean(r))
        s2 = float(np.var(r, ddof=1))
        excess = s2 - float(np.mean(e ** 2))
        fvar = np.sqrt(excess) / m if excess > 0 and m > 0 else 0.0
        n = len(r)
        if fvar > 0:
            err = np.sqrt((np.sqrt(1 / (2 * n)) * np.mean(e ** 2) / (m * m * fvar)) ** 2
                          + (np.sqrt(np.mean(e ** 2) / n) / m) ** 2)
        else:
            err = np.sqrt(np.mean(e ** 2) / n) / m if m > 0 else None
        rows.append((None, inst, "fvar", float(fvar), None, total,
                     json.dumps({**detail, "error": None if err is None else float(err)})))
    return rows
