"""Entry points of the SQL functions (sql/55-58): each takes the database
handle (xmmdb.pg.Spi or Psycopg), the SQL arguments and a `notice` callable
(plpy.notice in the server) for what the user should know but is no error."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

import warnings

import numpy as np

from .. import __version__
from ..errors import NotFound, XmmError
from . import barycentre, eventfile, lightcurve as lc, periodogram as pg, select, variability
from ..photons.access import SELECTION_KEYS
from ..options import BOOL, CAMERA, CHECKED_IN_SQL, FRACTION, INTEGER, NONNEGATIVE, POSITIVE, TEXT, parse

# Bounds: a source region is at most MAX_REGION_ARCSEC (the photons of a region,
# and the memory of a background annulus, grow with its area); energies stay
# inside what EPIC records; harmonics and oversampling beyond these find nothing new.
MAX_REGION_ARCSEC = 600.0
MAX_ENERGY_EV = 20000.0
MAX_HARMONICS = 20
MAX_OVERSAMPLE = 100.0
MAX_TIMES = 2_000_000             # xmm_barycentre: times in one call
MAX_SURVEY_SOURCES = 1_000_000    # xmm_pulsation_survey: sources in one call (the catalogue's size)
DEFAULT_THREADS = min(2, os.cpu_count() or 1)   # a search's compute threads unless {"threads": n}
PROGRESS_EVERY_S = 30.0           # a survey says how far it is at most this often

SELECT_OPTIONS = {
    "obs_id": (TEXT, None),
    "emin": (POSITIVE, 200.0, MAX_ENERGY_EV),
    "emax": (POSITIVE, 12000.0, MAX_ENERGY_EV),
    "instrument": (CAMERA, None),
    **{key: (CHECKED_IN_SQL, None) for key in SELECTION_KEYS},   # pattern, flag, all_events, flare_filter
}
EXTRACT_OPTIONS = {**SELECT_OPTIONS, "barycentre": (BOOL, False)}
LIGHTCURVE_OPTIONS = {**EXTRACT_OPTIONS, "radius": (POSITIVE, None, MAX_REGION_ARCSEC), "background": (BOOL, True),
                      "bkg_inner": (POSITIVE, None, MAX_REGION_ARCSEC), "bkg_outer": (POSITIVE, None, MAX_REGION_ARCSEC),
                      "min_fracexp": (FRACTION, 0.1)}
# How a search runs: observations combined (auto | coherent | incoherent), an fdot grid, compute threads.
SEARCH_OPTIONS = {"combine": (TEXT, "auto"), "fdot_max": (NONNEGATIVE, 0.0, pg.MAX_FDOT),
                  "threads": (INTEGER, DEFAULT_THREADS, pg.MAX_THREADS)}
PULSATION_OPTIONS = {**SELECT_OPTIONS, **SEARCH_OPTIONS, "radius": (POSITIVE, None, MAX_REGION_ARCSEC),
                     "method": (TEXT, "z2"), "harmonics": (INTEGER, 2, MAX_HARMONICS),
                     "oversample": (POSITIVE, 2.0, MAX_OVERSAMPLE), "barycentre": (BOOL, True),
                     "fmin": (POSITIVE, None, 1e3), "fmax": (POSITIVE, None, 1e3),
                     "min_photons": (INTEGER, 50, 1e6), "max_work": (POSITIVE, 2e9, pg.MAX_WORK)}
VARIABILITY_OPTIONS = {**SELECT_OPTIONS, "radius": (POSITIVE, None, MAX_REGION_ARCSEC), "background": (BOOL, True),
                       "bkg_inner": (POSITIVE, None, MAX_REGION_ARCSEC),
                       "bkg_outer": (POSITIVE, None, MAX_REGION_ARCSEC), "p0": (FRACTION, 0.01)}
PERIODOGRAM_OPTIONS = {**SELECT_OPTIONS, **SEARCH_OPTIONS, "radius": (POSITIVE, None, MAX_REGION_ARCSEC),
                       "method": (TEXT, "z2"),
                       "harmonics": (INTEGER, 2, MAX_HARMONICS), "oversample": (POSITIVE, 5.0, MAX_OVERSAMPLE),
                       "barycentre": (BOOL, True)}




def _options(options, spec: dict, function: str) -> dict:
    opts = parse(options, spec, function)
    if opts.get("combine") is not None and opts["combine"] not in pg.COMBINE:
        raise XmmError(f"{function}: unknown combine {opts['combine']!r}: use " + ", ".join(map(repr, pg.COMBINE)))
    return opts


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def _tell(notes, notice) -> None:
    for n in notes:
        (notice or _warn)("xmmdb: " + n)


def barycentre_times(db, times, ra, dec, obs_id=None, notice=None):
    """xmm_barycentre: the times (TT s since MJDREF 50814) at the solar-system
    barycentre (TDB), for a source at (ra, dec); the orbit of obs_id if loaded."""
    if times is None:
        return None
    if len(times) > MAX_TIMES:
        raise XmmError(f"xmm_barycentre: {len(times):,} times; one call takes at most {MAX_TIMES:,}",
                       hint="call it on chunks of the times", sqlstate="54000")
    barycentre.unit_vector(ra, dec)  # checks the position first
    values = np.array([np.nan if v is None else v for v in times], dtype=np.float64)
    good = np.isfinite(values)
    orbit = None
    if obs_id is not None:
        orbit = select.orbits(db, [obs_id])[obs_id]
    if orbit is None:
        why = f"observation {obs_id} has no orbit loaded" if obs_id else "no obs_id given"
        _tell([f"{why}: barycentred at the geocentre (Earth centre), off by up to 0.4 s"], notice)
    out = values.copy()
    out[good] = barycentre.barycentre(values[good], ra, dec, orbit)
    return [None if not g else float(v) for g, v in zip(good, out)]


def _selection(db, srcid, radius, opts, function, notice):
    sel = select.select(db, srcid, radius, opts, function)
    if opts.get("barycentre"):
        sel = select.barycentre(sel, select.orbits(db, sel.obs_ids))
    _tell(sel.notes, notice)
    return sel


def extract_events(db, srcid, radius_arcsec=None, options=None, notice=None) -> bytes:
    """xmm_extract_events: the OGIP event file of a source, all epochs or one."""
    opts = _options(options, EXTRACT_OPTIONS, "xmm_extract_events")
    return eventfile.event_file(_selection(db, srcid, radius_arcsec, opts, "xmm_extract_events", notice))


def _lightcurve(db, srcid, bin_s, options, notice, function):
    opts = _options(options, LIGHTCURVE_OPTIONS, function)
    if bin_s is None or not np.isfinite(bin_s) or bin_s <= 0:
        raise XmmError(f"{function}: bin_s must be a positive number of seconds, not {bin_s}")
    sel = _selection(db, srcid, opts["radius"], opts, function, notice)
    bkg = None
    if opts["background"]:
        bkg = lc.background(db, sel, opts)
        if opts.get("barycentre"):
            bkg = _barycentre_background(sel, bkg)
    return sel, lc.bin_lightcurve(sel, bin_s, bkg, opts["min_fracexp"])


def _barycentre_background(sel, bkg):
    """Background photons barycentred like the source's (same position and orbits)."""
    t = select.barycentre_times(bkg.photons["time"], select.text(bkg.photons["obs_id"]), sel.ra, sel.dec, sel.orbits)
    bkg.photons = dict(bkg.photons, time=t)
    return bkg


def lightcurve(db, srcid, bin_s, options=None, notice=None) -> list[tuple]:
    """xmm_lightcurve rows: (time, rate, error, fracexp, obs_id)."""
    _, c = _lightcurve(db, srcid, bin_s, options, notice, "xmm_lightcurve")
    return list(zip(c["time"].tolist(), c["rate"].tolist(), c["error"].tolist(), c["fracexp"].tolist(),
                    c["obs_id"].tolist()))


def lightcurve_plot(db, srcid, bin_s, options=None, notice=None) -> bytes:
    """xmm_lightcurve_plot: the light curve as a PNG."""
    sel, c = _lightcurve(db, srcid, bin_s, options, notice, "xmm_lightcurve_plot")
    if not len(c["time"]):
        raise XmmError(f"xmm_lightcurve_plot: no bin of source {srcid} has enough exposure",
                       hint='lower {"min_fracexp": …} or use a larger bin_s')
    return lc.plot(c, f"source {srcid} (r = {sel.radius:g}\")", bin_s, sel.barycentred)


def periodogram(db, srcid, fmin, fmax, options=None, notice=None) -> dict:
    """xmm_periodogram: Z^2_n or H-test of the source's (barycentred) photons."""
    opts = _options(options, PERIODOGRAM_OPTIONS, "xmm_periodogram")
    if fmin is None or fmax is None:
        raise XmmError(f"need 0 < fmin < fmax (Hz), not fmin={fmin}, fmax={fmax}",
                       hint="xmm_pulsation_search chooses the band from the data")
    sel, slow, fmax = _search_selection(db, srcid, opts, fmax, "xmm_periodogram", notice)
    out = _search(db, sel, slow, fmin, fmax, opts, notice)
    out["frequency"], out["power"] = out["frequency"].tolist(), out["power"].tolist()
    out["candidates"] = json.dumps(out["candidates"])
    return out


def _search_selection(db, srcid, opts, fmax, function, notice):
    """The source's photons for a pulsation search: each exposure's readout frame (recognised
    from the times themselves) spread out, in spacecraft time where the frames are regular,
    exposures too slow for fmax left out (fmax None: 1/(2 frame) of the fastest exposure), then
    barycentred. Returns (selection, the exposures left out, fmax)."""
    if fmax is not None and not (np.isfinite(fmax) and fmax > 0):
        raise XmmError(f"need 0 < fmin < fmax (Hz), not fmax={fmax}")
    sel = select.select(db, srcid, opts["radius"], opts, function)
    sel, slow, fmax = spread_frames(db, sel, fmax)
    if slow:
        _tell([f"left out, frame time above 1/(2 fmax) = {0.5 / fmax:g} s: " + ", ".join(slow)], notice)
    if opts.get("barycentre"):
        sel = select.barycentre(sel, select.orbits(db, sel.obs_ids))
    _tell(sel.notes, notice)
    return sel, slow, fmax


def spread_frames(db, sel, fmax=None, keep_all=False):
    """Each exposure's photon times spread uniformly over their readout frame (EPIC times
    are frame times: left as they are, they put power at the frame's harmonics and clump
    into cells of one frame), in spacecraft time where frames are regular. Exposures whose
    frames are too slow for fmax are left out (fmax None: 1/(2 frame) of the fastest
    exposure), unless keep_all. Returns (selection, the exposures left out, fmax)."""
    t = np.asarray(sel.photons["time"], dtype=np.float64).copy()
    keys = select.exposure_keys(sel.photons)
    frames = exposure_frames(db, sel, np.unique(keys).tolist())
    if fmax is None:
        fmax = 0.5 / min((f for f in frames.values() if f > 0), default=0.0734)
    keep = np.ones(len(t), dtype=bool)
    slow = []
    rng = np.random.default_rng(0)  # deterministic: the same call gives the same result
    for key, frame in frames.items():
        mine = keys == key
        if not keep_all and frame > 0.5 / fmax * (1 + 1e-3):  # too slow for fmax (1e-3: frames measured apart)
            keep &= ~mine
            slow.append(f"{key.replace('|', ' ')} ({frame:g} s frames)")
        elif frame > 0:
            t[mine] += rng.uniform(-0.5 * frame, 0.5 * frame, int(mine.sum()))
    return replace(sel, photons={k: np.asarray(v)[keep] for k, v in dict(sel.photons, time=t).items()}), slow, fmax


FRAME_REGION_ARCSEC = 180.0   # the photons a frame time is recognised from: every event within 3'


def exposure_frames(db, sel, keys: list) -> dict:
    """The readout frame time of each exposure ('obs|instrument|exp_id'), recognised from
    the times of all its events within FRAME_REGION_ARCSEC of the source (a faint source's
    own photons may be too few to tell), else from the source's."""
    from ..photons import fetch_photons

    near = fetch_photons(db, sel.ra, sel.dec, FRAME_REGION_ARCSEC, 0, 32767, options={"all_events": True})
    near_keys = select.exposure_keys(near)
    t_near = np.asarray(near["time"], np.float64)
    t_src, k_src = np.asarray(sel.photons["time"], np.float64), select.exposure_keys(sel.photons)
    out = {}
    for key in keys:
        mine = t_near[near_keys == key]
        out[key] = pg.frame_time(mine if len(mine) > np.sum(k_src == key) else t_src[k_src == key])
    return out


def _search(db, sel, slow, fmin, fmax, opts, notice, max_work=None) -> dict:
    t = np.asarray(sel.photons["time"], dtype=np.float64)
    keys = select.exposure_keys(sel.photons)
    obs = select.text(sel.photons["obs_id"])
    epochs = {o: np.sort(t[obs == o]) for o in sel.obs_ids if np.any(obs == o)}
    # each observation's phase exposure: its exposures' GTIs, weighted by the photons each gave
    windows = {o: [(e.start, e.stop, int(np.sum(keys == "|".join(e.key)))) for e in sel.exposures
                   if e.obs_id == o] for o in epochs}
    if fmin is None or max_work:   # a blind search: the band follows the data, within a cost bound
        span = pg.searched_span(epochs, opts["combine"])
        if fmin is None:
            fmin = 2.0 / span if span > 0 else 1e-3
        if max_work and span > 0 and len(t):
            cell = pg.FDOT_CELL / (opts["oversample"] * span * span)
            n_fdot = 2 * np.floor(opts["fdot_max"] / cell) + 1
            points = len(t) + sum(pg.Window(w, 0.0).edge_count(opts["fdot_max"]) for w in windows.values() if w)
            top = fmin + max_work / (points * opts["harmonics"] * n_fdot) / (opts["oversample"] * span)
            if top < fmax:
                _tell([f"searched up to {top:.4g} Hz, not {fmax:.4g} Hz: the cost bound of one source"], notice)
                fmax = top
    budget = db.query("SELECT extract(epoch FROM pg_catalog.current_setting('statement_timeout')::interval)::float8"
                      " AS s")[0]["s"] or None      # seconds; 0: no timeout
    out = pg.search(epochs, fmin, fmax, opts["method"], opts["harmonics"], opts["oversample"], budget_s=budget,
                    windows=windows, fdot_max=opts["fdot_max"], combine=opts["combine"], threads=opts["threads"])
    out["barycentred"] = bool(opts["barycentre"])
    out["excluded"] = slow
    out["fmin"], out["fmax"] = float(fmin), float(fmax)
    return out


def _search_row(opts: dict) -> dict:
    return {"n_photons": 0, "fmin": None, "fmax": None, "best_frequency": None, "best_period": None,
            "best_fdot": None, "best_power": None, "fap": None, "n_trials": None, "statistic": None,
            "candidates": None, "skipped": None, "software": f"xmmdb {__version__}", "settings": json.dumps(opts)}


def pulsation_search(db, srcid, options=None, notice=None) -> dict:
    """xmm_pulsation_search: one source's bounded blind search, a row even when it is skipped."""
    opts = _options(options, PULSATION_OPTIONS, "xmm_pulsation_search")
    row = _search_row(opts)
    try:
        sel, slow, fmax = _search_selection(db, srcid, opts, opts["fmax"], "xmm_pulsation_search", notice)
    except NotFound as exc:
        return {**row, "skipped": str(exc)}
    n = len(sel)
    if n < opts["min_photons"]:
        return {**row, "n_photons": n, "skipped": f"{n} photons: fewer than min_photons ({opts['min_photons']})"}
    try:
        out = _search(db, sel, slow, opts["fmin"], fmax, opts, notice, max_work=opts["max_work"])
    except XmmError as exc:
        if exc.sqlstate == "54000":
            raise
        return {**row, "n_photons": n, "skipped": str(exc)}
    return {**row, **{k: out[k] for k in ("n_photons", "fmin", "fmax", "best_frequency", "best_period",
                                          "best_fdot", "best_power", "fap", "n_trials", "statistic")},
            "candidates": json.dumps(out["candidates"])}


def pulsation_survey(db, srcids, options=None, notice=None):
    """xmm_pulsation_survey: the rows of xmm_pulsation_search of each source (once each, in the
    order given), as they come (an iterator: none is held), saying how far it is every
    {"progress": s} seconds (PROGRESS_EVERY_S). Options and sources are checked before the
    first row. The chance of the search as a whole is SQL's (sql/59_timing_search.sql)."""
    given = parse(options, {**{k: (CHECKED_IN_SQL, None) for k in PULSATION_OPTIONS},
                            "progress": (POSITIVE, PROGRESS_EVERY_S, 86400.0)}, "xmm_pulsation_survey")
    every = given.pop("progress")
    options = {k: v for k, v in given.items() if v is not None}
    opts = _options(options, PULSATION_OPTIONS, "xmm_pulsation_survey")   # a bad option fails before any work
    if srcids is None:
        raise XmmError("xmm_pulsation_survey: srcids must not be NULL",
                       hint="SELECT * FROM xmm_pulsation_survey(ARRAY(SELECT srcid FROM xmm_search('…')))")
    srcids = list(dict.fromkeys(srcids))
    if len(srcids) > MAX_SURVEY_SOURCES:
        raise XmmError(f"xmm_pulsation_survey: {len(srcids):,} sources; one call searches at most "
                       f"{MAX_SURVEY_SOURCES:,}", hint="split the sources into several calls", sqlstate="54000")
    return _survey(db, srcids, options, opts, every, notice)


def _survey(db, srcids, options, opts, every, notice):
    start = last = time.monotonic()
    low = 0
    for k, srcid in enumerate(srcids, 1):
        if srcid is None:
            yield {"srcid": None, **_search_row(opts), "skipped": "srcid is NULL"}
            continue
        # the sources' own notices (a band cut, slow frames) would drown the progress: their rows say it
        row = {"srcid": srcid, **pulsation_search(db, srcid, options, notice=lambda _: None)}
        low += row["fap"] is not None and row["fap"] < 0.01
        now = time.monotonic()
        if now - last >= every and k < len(srcids):
            _tell([f"xmm_pulsation_survey: {k:,} of {len(srcids):,} sources in {now - start:,.0f} s, about "
                   f"{(now - start) / k * (len(srcids) - k):,.0f} s to go; {low} with fap < 0.01 so far"], notice)
            last = now
        yield row


def variability_tests(db, srcid, options=None, notice=None) -> list[tuple]:
    """xmm_variability rows: (obs_id, instrument, test, statistic, probability, n_photons, detail)."""
    opts = _options(options, VARIABILITY_OPTIONS, "xmm_variability")
    if not 0 < opts["p0"] < 1:
        raise XmmError(f"xmm_variability: option 'p0' (the false-positive rate of a change point) must be "
                       f"between 0 and 1, not {opts['p0']}")
    sel = _selection(db, srcid, opts["radius"], {**opts, "barycentre": False}, "xmm_variability", notice)
    sel = spread_frames(db, sel, keep_all=True)[0]
    bkg = None
    if opts["background"]:
        try:
            bkg = lc.background(db, sel, opts)
        except XmmError as exc:   # a crowded field: the tests go on without a background, and say so
            _tell([f"no background: {exc}"], notice)
    return variability.within(sel, bkg, opts["p0"]) + variability.between(sel, bkg)
