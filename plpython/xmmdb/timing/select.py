"""The photons of one source, with the good time intervals of every exposure
that saw them and the orbits to barycentre them: what the timing functions
work on. Reads the database only through the photon access API
(`xmmdb.photons.fetch_photons/fetch_gtis/fetch_orbit`) and `xmm.source`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import NotFound, XmmError
from . import barycentre as bary

PHOTON_COLUMNS = ("time", "ra", "dec", "x", "y", "pi", "pattern", "flag", "ccdnr", "obs_id", "instrument", "exp_id")


@dataclass
class Exposure:
    obs_id: str
    instrument: str
    exp_id: str
    start: np.ndarray
    stop: np.ndarray
    ccdnr: int | None = None        # the CCD whose GTIs these are (None: the whole exposure's)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.obs_id, self.instrument, self.exp_id)

    @property
    def ontime(self) -> float:
        return float(np.sum(self.stop - self.start))


@dataclass
class Selection:
    srcid: int | None
    ra: float
    dec: float
    radius: float                      # arcsec
    photons: dict                      # column -> array, sorted by time
    exposures: list                    # [Exposure], sorted by (start, key)
    notes: list = field(default_factory=list)   # NOTICEs for the caller
    barycentred: bool = False
    position: dict = field(default_factory=dict)  # obs_id -> 'orbit' | 'geocentre' when barycentred
    orbits: dict = field(default_factory=dict)    # obs_id -> the Orbit used (None: geocentre)
    _obs_ids: list | None = field(default=None, repr=False)

    @property
    def obs_ids(self) -> list[str]:
        if self._obs_ids is None:
            self._obs_ids = sorted({e.obs_id for e in self.exposures} | set(np.unique(text(self.photons["obs_id"])).tolist()))
        return self._obs_ids

    def __len__(self) -> int:
        return len(self.photons["time"])


def merge_intervals(start, stop) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals, sorted, overlapping or touching ones merged."""
    start, stop = np.asarray(start, dtype=np.float64), np.asarray(stop, dtype=np.float64)
    good = stop > start
    start, stop = start[good], stop[good]
    if not start.size:
        return start, stop
    order = np.argsort(start, kind="stable")
    start, stop = start[order], np.maximum.accumulate(stop[order])
    new = np.concatenate([[True], start[1:] > stop[:-1]])
    idx = np.flatnonzero(new)
    return start[idx], np.maximum.reduceat(stop, idx)


def as_columns(rows, names) -> dict:
    """A dict of numpy arrays from what the photon API returns: a dict of arrays,
    a numpy structured array or a list of row dicts."""
    if isinstance(rows, dict):
        return {n: np.asarray(rows[n]) for n in names if n in rows}
    if isinstance(rows, np.ndarray) and rows.dtype.names:
        return {n: np.asarray(rows[n]) for n in names if n in rows.dtype.names}
    rows = list(rows or [])
    return {n: np.asarray([r[n] for r in rows]) for n in names if rows and n in rows[0]} if rows else \
        {n: np.array([]) for n in names}


def text(a) -> np.ndarray:
    """Strings (numpy unicode), stripped; None becomes ''."""
    a = np.asarray(a)
    if a.dtype.kind != "U":
        a = np.array(["" if v is None else str(v) for v in a.tolist()], dtype=str) if a.size else a.astype(str)
    return np.char.strip(a)


def exposure_keys(cols: dict) -> np.ndarray:
    """'obs_id|instrument|exp_id' of each row."""
    bar = np.array("|")
    return np.char.add(np.char.add(np.char.add(np.char.add(text(cols["obs_id"]), bar), text(cols["instrument"])),
                                   bar), text(cols["exp_id"]))


def exposures_from(gtis: dict, photons: dict, p_keys: np.ndarray | None = None,
                   ccd_at: dict | None = None) -> list[Exposure]:
    """One Exposure per (obs_id, instrument, exp_id) from GTI rows. Per-CCD GTIs
    are reduced to those of the CCD at the source (`ccd_at`: key -> ccdnr, from
    xmm.xmm_coverage), else of the CCD where the exposure recorded most of the
    source's photons, else to ccdnr 0 (the whole exposure), else their union.
    With `ccd_at`, an exposure that neither covers the position nor recorded a
    photon of the source is left out."""
    n = len(gtis.get("start", []))
    if not n:
        return []
    obs, inst, exp = (text(gtis.get(k, [""] * n)) for k in ("obs_id", "instrument", "exp_id"))
    start = np.asarray(gtis["start"], dtype=np.float64)
    stop = np.asarray(gtis["stop"], dtype=np.float64)
    ccd = np.asarray(gtis["ccdnr"]) if "ccdnr" in gtis else None
    p_keys = exposure_keys(photons) if p_keys is None else p_keys
    p_ccd = np.asarray(photons["ccdnr"]) if "ccdnr" in photons else None
    out = []
    for key in sorted(set(zip(obs.tolist(), inst.tolist(), exp.tolist()))):
        rows = (obs == key[0]) & (inst == key[1]) & (exp == key[2])
        mine = p_keys == "|".join(key)
        if ccd_at is not None and key not in ccd_at and not mine.any():
            continue
        chosen = None
        if ccd is not None and len(set(ccd[rows].tolist())) > 1:
            best = None if ccd_at is None else ccd_at.get(key)
            if best is None and mine.any() and p_ccd is not None:
                values, counts = np.unique(p_ccd[mine], return_counts=True)
                best = values[np.argmax(counts)]
            if best is not None and np.any(rows & (ccd == best)):
                rows &= ccd == best
                chosen = int(best)
            elif np.any(rows & (ccd == 0)):  # ccdnr 0: the whole exposure
                rows &= ccd == 0
        s, e = merge_intervals(start[rows], stop[rows])
        out.append(Exposure(*key, s, e, chosen))
    return out


def flare_free_exposures(db, exposures: list, how) -> list:
    """Each exposure's GTIs cut to its flare-free time (sql/51_event_selection.sql:
    true = the pipeline's intervals, a number = rate-curve bins at or below it);
    an exposure without a flare time series has none left and is dropped."""
    from ..photons import fetch_flare_intervals

    out = []
    for e in exposures:
        fs, fe = fetch_flare_intervals(db, e.obs_id, e.instrument, e.exp_id, None if how is True else float(how))
        if not fs.size:
            continue
        s, t = intersect_intervals(e.start, e.stop, fs, fe)
        if s.size:
            out.append(replace(e, start=s, stop=t))
    return out


def intersect_intervals(a_start, a_stop, b_start, b_stop) -> tuple[np.ndarray, np.ndarray]:
    """Intersection of two sorted, merged interval lists."""
    out_s, out_e, i, j = [], [], 0, 0
    while i < len(a_start) and j < len(b_start):
        lo, hi = max(a_start[i], b_start[j]), min(a_stop[i], b_stop[j])
        if lo < hi:
            out_s.append(lo)
            out_e.append(hi)
        if a_stop[i] < b_stop[j]:
            i += 1
        else:
            j += 1
    return np.asarray(out_s, np.float64), np.asarray(out_e, np.float64)


def source_position(db, srcid) -> tuple[float, float, float | None]:
    """(RA, Dec, 0.2-12 keV flux) of a catalogue source, or of a position (ra, dec) given
    as a tuple (no flux: the default radius)."""
    if isinstance(srcid, tuple):
        ra, dec = srcid
        if ra is None or dec is None or not (np.isfinite(ra) and np.isfinite(dec)) or not -90 <= dec <= 90:
            raise XmmError(f"need a position with finite RA and -90 <= Dec <= 90 (degrees), not ({ra}, {dec})")
        return float(ra) % 360.0, float(dec), None
    if srcid is None:
        raise XmmError("srcid must not be NULL")
    rows = db.query("SELECT sc_ra, sc_dec, sc_ep_8_flux FROM xmm.source WHERE srcid = $1", (srcid,), ("bigint",))
    if not rows:
        raise NotFound(f"there is no source with srcid {srcid}",
                       hint="find sources with SELECT srcid, iauname FROM xmm.source WHERE …")
    r = rows[0]
    return float(r["sc_ra"]), float(r["sc_dec"]), (None if r["sc_ep_8_flux"] is None else float(r["sc_ep_8_flux"]))


def default_radius(flux: float | None) -> float:
    """Extraction radius (arcsec) by 0.2-12 keV flux: 20" (the EPIC PSF's ~80%
    encircled energy), 30" above 1e-12 and 40" above 1e-11 erg/cm2/s, where the
    PSF wings still hold many counts."""
    if flux is not None and flux > 1e-11:
        return 40.0
    if flux is not None and flux > 1e-12:
        return 30.0
    return 20.0


def check_radius(radius) -> float:
    if radius is None or not np.isfinite(radius) or radius <= 0 or radius > 3600:
        raise XmmError(f"the extraction radius must be between 0 and 3600 arcsec, not {radius}")
    return float(radius)


def fetch(db, ra: float, dec: float, radius: float, emin: float, emax: float, obs_id: str | None,
          tmin: float | None = None, tmax: float | None = None, options: dict | None = None) -> dict:
    from ..photons import fetch_photons

    cols = as_columns(fetch_photons(db, ra, dec, radius, emin=emin, emax=emax, tmin=tmin, tmax=tmax,
                                    obs_id=obs_id, options=options), PHOTON_COLUMNS)
    order = np.argsort(np.asarray(cols["time"], dtype=np.float64), kind="stable")
    return {k: v[order] for k, v in cols.items()}


def describe(srcid) -> str:
    return f"RA {srcid[0]:.5f}, Dec {srcid[1]:.5f}" if isinstance(srcid, tuple) else f"source {srcid}"


def select(db, srcid, radius: float | None, opts: dict, function: str) -> Selection:
    """The photons (opts: obs_id, emin, emax) of a source (its srcid) or a position ((ra, dec))
    and the GTIs of its exposures."""
    from ..photons import fetch_coverage, fetch_gtis

    ra, dec, flux = source_position(db, srcid)
    radius = check_radius(default_radius(flux) if radius is None else radius)
    emin, emax = opts.get("emin", 200.0), opts.get("emax", 12000.0)
    if emin >= emax:
        raise XmmError(f"{function}: emin ({emin} eV) must be below emax ({emax} eV)")
    photons = fetch(db, ra, dec, radius, emin, emax, opts.get("obs_id"), options=opts)
    if opts.get("instrument"):
        keep = np.char.upper(text(photons["instrument"])) == opts["instrument"].upper()
        photons = {k: v[keep] for k, v in photons.items()}
    if not len(photons["time"]):
        where = f" in observation {opts['obs_id']}" if opts.get("obs_id") else ""
        at = f"{describe(srcid)}" + ("" if isinstance(srcid, tuple) else f" (RA {ra:.5f}, Dec {dec:.5f})")
        raise NotFound(f"{function}: no photons within {radius:g}\" of {at}{where} between {emin:g} and {emax:g} eV",
                       hint="widen radius_arcsec or the energy range, or check the obs_id "
                            "(SELECT DISTINCT obs_id FROM xmm_photons(ra, dec, 60))")
    cover = fetch_coverage(db, ra, dec)
    ccd_at = {(o, i, e): int(c) for o, i, e, c in zip(text(cover["obs_id"]).tolist(), text(cover["instrument"]).tolist(),
                                                       text(cover["exp_id"]).tolist(), cover["ccdnr"].tolist())
              if opts.get("obs_id") in (None, o)}
    obs_ids = sorted(set(np.unique(text(photons["obs_id"])).tolist()) | {k[0] for k in ccd_at})
    p_keys = exposure_keys(photons)
    gtis = as_columns(fetch_gtis(db, obs_ids), ("obs_id", "instrument", "exp_id", "ccdnr", "start", "stop"))
    exposures = exposures_from(gtis, photons, p_keys, ccd_at)
    if opts.get("flare_filter"):
        exposures = flare_free_exposures(db, exposures, opts["flare_filter"])
    if opts.get("instrument"):
        exposures = [e for e in exposures if e.instrument.upper() == opts["instrument"].upper()]
    notes = []
    have = {"|".join(e.key) for e in exposures}
    for key in sorted(set(np.unique(p_keys).tolist()) - have):  # photons without GTIs: their own span
        if opts.get("flare_filter"):
            continue   # its good time is the flare-free part of its GTIs, even when that is nothing
        t = np.asarray(photons["time"], dtype=np.float64)[p_keys == key]
        key = tuple(key.split("|"))
        exposures.append(Exposure(*key, np.array([t.min()]), np.array([t.max()])))
        notes.append(f"exposure {'/'.join(key)} has no GTIs in the database: using the span of its photons")
    exposures.sort(key=lambda e: (e.start[0] if e.start.size else np.inf, e.key))
    return Selection(None if isinstance(srcid, tuple) else srcid, ra, dec, radius, photons, exposures, notes)


def orbits(db, obs_ids) -> dict:
    from ..photons import fetch_orbit

    return {o: bary.Orbit.from_columns(fetch_orbit(db, o), o) for o in obs_ids}


def barycentre(sel: Selection, orbit_of: dict) -> Selection:
    """The selection with photon times and GTIs barycentred to the source
    position; an observation without a (covering) orbit falls back to the
    geocentre, with a note."""
    t = np.asarray(sel.photons["time"], dtype=np.float64)
    obs = text(sel.photons["obs_id"])
    exposures, notes, used = [], list(sel.notes), {}
    for o in sel.obs_ids:
        orbit = orbit_of.get(o)
        spans = [np.concatenate([e.start, e.stop]) for e in sel.exposures if e.obs_id == o]
        every = np.concatenate([t[obs == o]] + spans)
        if orbit is not None and not orbit.covers(every):
            notes.append(f"the orbit of observation {o} does not cover its events "
                         f"({every.min():.0f}..{every.max():.0f} s): barycentred at the geocentre, "
                         "off by up to 0.4 s")
            orbit = None
        elif orbit is None:
            notes.append(f"observation {o} has no orbit file loaded: barycentred at the geocentre "
                         "(Earth centre), off by up to 0.4 s")
        used[o] = orbit
        for e in sel.exposures:
            if e.obs_id == o:
                exposures.append(replace(e, start=bary.barycentre(e.start, sel.ra, sel.dec, orbit),
                                         stop=bary.barycentre(e.stop, sel.ra, sel.dec, orbit)))
    t = barycentre_times(t, obs, sel.ra, sel.dec, used)
    order = np.argsort(t, kind="stable")
    photons = {k: np.asarray(v)[order] for k, v in dict(sel.photons, time=t).items()}
    position = {o: "orbit" if orbit is not None else "geocentre" for o, orbit in used.items()}
    return replace(sel, photons=photons, exposures=exposures, notes=notes, barycentred=True, position=position,
                   orbits=used, _obs_ids=sel.obs_ids)


def barycentre_times(t: np.ndarray, obs: np.ndarray, ra: float, dec: float, orbit_of: dict) -> np.ndarray:
    """Times of several observations barycentred, each with its orbit (None: geocentre)."""
    out = np.asarray(t, dtype=np.float64).copy()
    for o in np.unique(obs).tolist():
        mine = obs == o
        out[mine] = bary.barycentre(out[mine], ra, dec, orbit_of.get(o))
    return out
