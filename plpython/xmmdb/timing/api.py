"""Entry points of the SQL functions (sql/55-58): each takes the database
handle (xmmdb.pg.Spi or Psycopg), the SQL arguments and a `notice` callable
(plpy.notice in the server) for what the user should know but is no error."""

from __future__ import annotations

import json

import warnings

import numpy as np

from ..errors import XmmError
from ..instruments import camera
from . import barycenter, eventfile, lightcurve as lc, periodogram as pg, select
from ..photons.access import SELECTION_KEYS
from .options import BOOL, CHECKED_IN_SQL, FRACTION, INTEGER, POSITIVE, TEXT, parse

# Bounds: a source region is at most MAX_REGION_ARCSEC (the photons of a region,
# and the memory of a background annulus, grow with its area); energies stay
# inside what EPIC records; harmonics and oversampling beyond these find nothing new.
MAX_REGION_ARCSEC = 600.0
MAX_ENERGY_EV = 20000.0
MAX_HARMONICS = 20
MAX_OVERSAMPLE = 100.0
MAX_TIMES = 2_000_000             # xmm_barycenter: times in one call

SELECT_OPTIONS = {
    "obs_id": (TEXT, None),
    "emin": (POSITIVE, 200.0, MAX_ENERGY_EV),
    "emax": (POSITIVE, 12000.0, MAX_ENERGY_EV),
    "instrument": (TEXT, None),
    **{key: (CHECKED_IN_SQL, None) for key in SELECTION_KEYS},   # pattern, flag, all_events, flare_filter
}
EXTRACT_OPTIONS = {**SELECT_OPTIONS, "barycenter": (BOOL, False)}
LIGHTCURVE_OPTIONS = {**EXTRACT_OPTIONS, "radius": (POSITIVE, None, MAX_REGION_ARCSEC), "background": (BOOL, True),
                      "bkg_inner": (POSITIVE, None, MAX_REGION_ARCSEC), "bkg_outer": (POSITIVE, None, MAX_REGION_ARCSEC),
                      "min_fracexp": (FRACTION, 0.1)}
PERIODOGRAM_OPTIONS = {**SELECT_OPTIONS, "radius": (POSITIVE, None, MAX_REGION_ARCSEC), "method": (TEXT, "z2"),
                       "harmonics": (INTEGER, 2, MAX_HARMONICS), "oversample": (POSITIVE, 5.0, MAX_OVERSAMPLE),
                       "barycenter": (BOOL, True)}




def _options(options, spec: dict, function: str) -> dict:
    opts = parse(options, spec, function)
    if opts.get("instrument") is not None:
        name = camera(opts["instrument"])
        if name is None:
            raise XmmError(f"{function}: unknown instrument {opts['instrument']!r}",
                           hint="use EPN (pn), EMOS1 (MOS1) or EMOS2 (MOS2)")
        opts["instrument"] = name
    return opts


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def _tell(notes, notice) -> None:
    for n in notes:
        (notice or _warn)("xmmdb: " + n)


def barycenter_times(db, times, ra, dec, obs_id=None, notice=None):
    """xmm_barycenter: the times (TT s since MJDREF 50814) at the solar-system
    barycentre (TDB), for a source at (ra, dec); the orbit of obs_id if loaded."""
    if times is None:
        return None
    if len(times) > MAX_TIMES:
        raise XmmError(f"xmm_barycenter: {len(times):,} times; one call takes at most {MAX_TIMES:,}",
                       hint="call it on chunks of the times", sqlstate="54000")
    barycenter.unit_vector(ra, dec)  # checks the position first
    values = np.array([np.nan if v is None else v for v in times], dtype=np.float64)
    good = np.isfinite(values)
    orbit = None
    if obs_id is not None:
        orbit = select.orbits(db, [obs_id])[obs_id]
    if orbit is None:
        why = f"observation {obs_id} has no orbit loaded" if obs_id else "no obs_id given"
        _tell([f"{why}: barycentred at the geocentre (Earth centre), off by up to 0.4 s"], notice)
    out = values.copy()
    out[good] = barycenter.barycentre(values[good], ra, dec, orbit)
    return [None if not g else float(v) for g, v in zip(good, out)]


def _selection(db, srcid, radius, opts, function, notice):
    sel = select.select(db, srcid, radius, opts, function)
    if opts.get("barycenter"):
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
        if opts.get("barycenter"):
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
    sel = _selection(db, srcid, opts["radius"], opts, "xmm_periodogram", notice)
    t = np.asarray(sel.photons["time"], dtype=np.float64).copy()
    keys = select.exposure_keys(sel.photons)
    keep = np.ones(len(t), dtype=bool)
    slow = []
    rng = np.random.default_rng(0)  # deterministic: the same call gives the same periodogram
    for key in np.unique(keys).tolist():
        mine = keys == key
        frame = pg.frame_time(t[mine])
        if fmax is not None and frame > 0.5 / fmax:  # too slow for fmax: left out
            keep &= ~mine
            slow.append(f"{key.replace('|', ' ')} ({frame:g} s frames)")
        elif frame > 0:  # spread over the frame: no power at the frame's harmonics
            t[mine] += rng.uniform(-0.5 * frame, 0.5 * frame, int(mine.sum()))
    if slow:
        _tell([f"left out, frame time above 1/(2 fmax) = {0.5 / fmax:g} s: " + ", ".join(slow)], notice)
    obs = select.text(sel.photons["obs_id"])
    epochs = {o: t[keep & (obs == o)] for o in sel.obs_ids}
    # each observation's phase exposure: its exposures' GTIs, weighted by the photons each gave
    windows = {o: [(e.start, e.stop, int(np.sum(keep & (keys == "|".join(e.key))))) for e in sel.exposures
                   if e.obs_id == o] for o in epochs}
    budget = db.query("SELECT extract(epoch FROM pg_catalog.current_setting('statement_timeout')::interval)::float8"
                      " AS s")[0]["s"] or None      # seconds; 0: no timeout
    out = pg.search(epochs, fmin, fmax, opts["method"], opts["harmonics"], opts["oversample"], budget_s=budget,
                    windows=windows)
    out["frequency"], out["power"] = out["frequency"].tolist(), out["power"].tolist()
    out["barycentred"] = bool(opts["barycenter"])
    out["excluded"] = slow
    out["candidates"] = json.dumps(out["candidates"])
    return out
