"""`xmmdb load events FILE…`: EPIC pn/MOS event lists and orbit files.

Event lists: pipeline `P<obsid><inst><S|U><exp>PIEVLI/MIEVLI….FTZ` and
SAS-filtered lists (e.g. `mos1_exp1_clean_evts.fits`). RA/Dec come from the
file's own sky WCS (TCRPXn/TCRVLn/TCDLTn/TCTYPn of the X and Y columns);
photons are packed per (exposure, Q3C cell) here (see docs/photons.md) and
written with one binary COPY. Orbit files (`P<obsid>OBX000ORBTSR0000.FTZ`,
extension ORBIT, GEI X/Y/Z km) go into xmm.orbit; flaring-background time
series (`P<obsid><inst><S|U><exp>FBKTSR0000.FTZ`: RATE, SRC_GTIS) into
xmm.flare_series.

One transaction per file; loading the same file again changes nothing, a
different event list of the same exposure replaces it. A file that cannot be
read, is truncated or is not an event list or orbit file is rejected with a
message naming it, and nothing of it is written.
"""

from __future__ import annotations

import gzip
import io
import re
import struct
import sys
import warnings
from collections import ChainMap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from psycopg.types.json import Jsonb
from tqdm import tqdm

from xmmdb.instruments import CAMERAS, MJDREF
from xmmdb.photons.sky import deproject

from .catalogue import sha256
from .staging import LoadError

CELL_LEVEL = 12                 # cell = q3c_ang2ipix(ra, dec) >> 36: level-12 Q3C nodes, ~1.3'
TIME_LO_BITS = 31               # time offsets in us: th = us >> 31, tl = us & (2^31 - 1)
REQUIRED = ("TIME", "X", "Y", "PI", "PATTERN", "FLAG", "CCDNR")
PIPELINE_NAME = re.compile(r"^P(\d{10})(PN|M1|M2)([SU]\d{3})[PM]IEVLI", re.I)
ORBIT_NAME = re.compile(r"^P(\d{10})OBX000ORBTSR", re.I)
FLARE_NAME = re.compile(r"^P(\d{10})(PN|M1|M2)[SU]\d{3}FBKTSR", re.I)
CELL_COLUMNS = ("cell", "exp_key", "n", "x0", "y0", "t0", "tl", "th", "dx", "dy", "pi", "pc", "flag")


# --- geometry -----------------------------------------------------------------------------

_SPREAD8 = np.array([sum(((v >> b) & 1) << (2 * b) for b in range(8)) for v in range(256)], dtype=np.uint64)


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """Bit b of v to bit 2b (v < 2^32), by table lookup a byte at a time."""
    v = v.astype(np.uint64)
    out = np.zeros_like(v)
    for k in range(4):
        out |= _SPREAD8[(v >> np.uint64(8 * k)) & np.uint64(255)] << np.uint64(16 * k)
    return out


def q3c_cells(ra: np.ndarray, dec: np.ndarray, level: int = CELL_LEVEL) -> np.ndarray:
    """q3c_ang2ipix(ra, dec) >> (2 * (30 - level)) computed in numpy: the face of the
    Q3C cube, the gnomonic position on it, then x/y bits interleaved (x on even bits).
    tests/test_photons_load.py checks it against q3c itself."""
    ra = np.mod(np.asarray(ra, dtype=np.float64), 360.0)
    d = np.radians(np.asarray(dec, dtype=np.float64))
    face = np.floor(np.fmod((ra + 45.0) / 90.0, 4.0)).astype(np.int64)
    ra1 = np.radians(ra - 90.0 * face)
    with np.errstate(divide="ignore", invalid="ignore"):
        x0 = np.tan(ra1)
        y0 = np.tan(d) / np.cos(ra1)
        north, south = y0 > 1, y0 < -1
        polar = north | south
        if polar.any():
            cot = 1.0 / np.tan(d[polar])
            s, c = np.sin(np.radians(ra[polar])), np.cos(np.radians(ra[polar]))
            x0[polar] = np.where(north[polar], s * cot, -s * cot)
            y0[polar] = -c * cot
    face = np.where(north, 0, np.where(south, 5, face + 1))
    n = 1 << level
    xi = np.clip(np.floor((x0 + 1.0) / 2.0 * n), 0, n - 1).astype(np.int64)
    yi = np.clip(np.floor((y0 + 1.0) / 2.0 * n), 0, n - 1).astype(np.int64)
    return face * n * n + (_spread_bits(xi) | (_spread_bits(yi) << np.uint64(1))).astype(np.int64)


@dataclass(frozen=True)
class SkyWcs:
    """The RA---TAN / DEC--TAN WCS of the sky X/Y columns of an event file."""
    x_ref: float
    y_ref: float
    ra_ref: float
    dec_ref: float
    x_delt: float
    y_delt: float

    def to_radec(self, x, y):
        return deproject(self.ra_ref, self.dec_ref, np.radians((np.asarray(x, np.float64) - self.x_ref) * self.x_delt),
                         np.radians((np.asarray(y, np.float64) - self.y_ref) * self.y_delt))


# --- reading ------------------------------------------------------------------------------

@dataclass
class EventList:
    path: Path
    meta: dict                     # columns of xmm.exposure (+ target, revolut for the observation)
    wcs: SkyWcs
    columns: dict                  # TIME, X, Y, PI, PATTERN, FLAG, CCDNR as numpy arrays
    gtis: list = field(default_factory=list)   # (ccdnr, start, stop)

    @property
    def n(self) -> int:
        return len(self.columns["TIME"])


@dataclass
class OrbitFile:
    path: Path
    obs_id: str
    time: np.ndarray
    xyz: np.ndarray


def _open(path: Path):
    """The HDU list of a FITS file, fully read (a truncated or corrupt file fails here)."""
    from astropy.io import fits

    name = path.name
    if not path.is_file():
        raise LoadError(f"{name}: no such file")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # .FTZ / .gz: a truncated stream must fail, not read short
            raw = gzip.decompress(raw)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # astropy only warns about truncation: make it fatal
            hdul = fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=False)
            for hdu in hdul:
                hdu.data  # noqa: B018 - force reading every extension
            return hdul
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"{name}: cannot read the file as FITS ({type(exc).__name__}: {exc}); "
                        "nothing was written") from None


def _keyword(h, *names, default=None):
    for n in names:
        if n in h and h[n] not in (None, ""):
            return h[n]
    return default


def _time_offset(name: str, h) -> float:
    """Seconds to add to TIME to make it TT s since MJDREF 50814."""
    timesys = str(_keyword(h, "TIMESYS", default="TT")).strip().upper()
    if timesys != "TT":
        raise LoadError(f"{name}: TIMESYS is '{timesys}', expected TT (XMM event times); nothing was written")
    mjdref = _keyword(h, "MJDREF")
    if mjdref is None and "MJDREFI" in h:
        mjdref = float(h["MJDREFI"]) + float(h.get("MJDREFF", 0.0))
    mjdref = MJDREF if mjdref is None else float(mjdref)
    return (mjdref - MJDREF) * 86400.0 + float(_keyword(h, "TIMEZERO", default=0.0))


def _sky_wcs(name: str, ev) -> SkyWcs:
    cols = [c.upper() for c in ev.columns.names]
    h = ev.header
    n = {c: cols.index(c) + 1 for c in ("X", "Y")}
    try:
        ctype = {c: str(h[f"TCTYP{n[c]}"]).strip().upper() for c in n}
        if ctype["X"] != "RA---TAN" or ctype["Y"] != "DEC--TAN":
            raise LoadError(f"{name}: the sky columns X/Y have TCTYP {ctype['X']}/{ctype['Y']}, "
                            "expected RA---TAN/DEC--TAN; nothing was written")
        w = SkyWcs(float(h[f"TCRPX{n['X']}"]), float(h[f"TCRPX{n['Y']}"]), float(h[f"TCRVL{n['X']}"]),
                   float(h[f"TCRVL{n['Y']}"]), float(h[f"TCDLT{n['X']}"]), float(h[f"TCDLT{n['Y']}"]))
    except KeyError as exc:
        keyword = re.search(r"T[A-Z]+\d+", str(exc.args[0]))
        raise LoadError(f"{name}: EVENTS has no sky WCS for the X/Y columns (keyword "
                        f"{keyword.group(0) if keyword else exc.args[0]} missing); "
                        "nothing was written") from None
    if not all(np.isfinite([w.x_ref, w.y_ref, w.ra_ref, w.dec_ref, w.x_delt, w.y_delt])) or not (
            w.x_delt and w.y_delt) or not -90 <= w.dec_ref <= 90:
        raise LoadError(f"{name}: the sky WCS of X/Y is not valid ({w}); nothing was written")
    return w


def _gtis(hdul, name: str) -> list:
    """(ccdnr, start, stop) rows: the filtered GTIs of a SAS list (HDUCLAS1 GTI with CCDID)
    if the file has them, else the pipeline's STDGTInn; ccdnr 0 when no CCD is named."""
    filtered, standard = [], []
    for hdu in hdul[1:]:
        hname = (hdu.name or "").upper()
        is_std = re.fullmatch(r"STDGTI(\d+)", hname)
        is_gti = str(hdu.header.get("HDUCLAS1", "")).strip().upper() == "GTI" or hname.startswith("GTI")
        if not (is_std or is_gti) or hdu.data is None:
            continue
        names = [c.upper() for c in hdu.columns.names]
        if "START" not in names or "STOP" not in names:
            continue
        ccd = int(hdu.header.get("CCDID", is_std.group(1) if is_std else 0) or 0)
        rows = [(ccd, float(a), float(b)) for a, b in zip(hdu.data["START"], hdu.data["STOP"]) if b >= a]
        (standard if is_std else filtered).extend(rows)
    return filtered or standard


MAX_TIME_OUTSIDE = 86400.0      # s: how far an event may lie outside TSTART..TSTOP


def _union_length(intervals: list) -> float:
    """Total length of the union of (start, stop) intervals."""
    total, end = 0.0, -np.inf
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def read_event_list(path: Path, hdul=None) -> EventList:
    path = Path(path)
    name = path.name
    hdul = hdul or _open(path)
    ev = next((h for h in hdul[1:] if (h.name or "").upper() == "EVENTS"), None)
    if ev is None or not hasattr(ev, "columns"):
        raise LoadError(f"{name}: not an EPIC event list (no EVENTS table; HDUs: "
                        f"{', '.join(h.name or '?' for h in hdul)}); nothing was written")
    cols = [c.upper() for c in ev.columns.names]
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise LoadError(f"{name}: EVENTS lacks the column(s) {', '.join(missing)}; nothing was written")
    h = ChainMap(ev.header, hdul[0].header)  # looks keywords up without parsing every card
    instrument = str(h.get("INSTRUME", "")).strip().upper()
    m = PIPELINE_NAME.match(name)
    if instrument not in CAMERAS:   # event lists say INSTRUME exactly
        raise LoadError(f"{name}: INSTRUME is '{h.get('INSTRUME')}', expected EPN, EMOS1 or EMOS2; "
                        "nothing was written")
    obs_id = str(_keyword(h, "OBS_ID", default=m.group(1) if m else "")).strip()
    if not re.fullmatch(r"\d{10}", obs_id):
        raise LoadError(f"{name}: no valid OBS_ID keyword ('{obs_id}'); nothing was written")
    exp_id = str(_keyword(h, "EXPIDSTR", default="")).strip().upper()
    if not exp_id:
        exp_id = m.group(3).upper() if m else ("S" + str(h["EXP_ID"]).strip()[-3:] if "EXP_ID" in h else "")
    if not exp_id:
        raise LoadError(f"{name}: cannot tell the exposure (no EXPIDSTR/EXP_ID keyword); nothing was written")
    wcs = _sky_wcs(name, ev)
    offset = _time_offset(name, h)
    data = ev.data
    columns = {c: np.asarray(data[c]) for c in REQUIRED}
    for c, v in columns.items():
        if v.ndim != 1:
            raise LoadError(f"{name}: column {c} is a vector column; nothing was written")
    t = columns["TIME"].astype(np.float64) + offset
    if not np.isfinite(t).all():
        i = int(np.argmax(~np.isfinite(t)))
        raise LoadError(f"{name}: EVENTS row {i + 1} has no TIME; nothing was written")
    # Events without a sky position (X/Y null: TNULLn or NaN) cannot be placed on the sky;
    # they are counted, not stored (the load log says how many).
    nosky = np.zeros(len(t), bool)
    for c in ("X", "Y"):
        v = columns[c]
        nosky |= ~np.isfinite(v.astype(np.float64))
        null = ev.header.get(f"TNULL{cols.index(c) + 1}")
        if null is not None and v.dtype.kind in "iu":
            nosky |= v == null
    columns["TIME"] = t
    if nosky.any():
        columns = {c: v[~nosky] for c, v in columns.items()}
        t = columns["TIME"]
    rows = np.flatnonzero(~nosky) + 1          # FITS row numbers of the events kept
    # Every packed field within what its column holds (sql/50_photon_store.sql): PI int2,
    # PATTERN and CCDNR a byte each, FLAG int4; a NaN is no value.
    for c, lo, hi in (("PI", 0, 32767), ("PATTERN", 0, 127), ("CCDNR", 0, 255), ("FLAG", -2**31, 2**31 - 1)):
        v = columns[c]
        out = ~np.isfinite(v.astype(np.float64)) | (v < lo) | (v > hi)
        if out.any():
            i = int(np.argmax(out))
            raise LoadError(f"{name}: column {c} value {v[i]} in row {rows[i]} is outside {lo}..{hi}; "
                            "nothing was written")
    gtis = [(c, a + offset, b + offset) for c, a, b in _gtis(hdul, name)]
    if not gtis:  # without good time intervals there is no exposure: light curves and rates would be wrong
        raise LoadError(f"{name}: no good time intervals (GTI or STDGTInn extensions missing or empty); "
                        "nothing was written")
    # On-time: the length of the union of each CCD's intervals (overlapping GTIs are
    # not time twice); the stored GTI rows stay as the file has them.
    per_ccd: dict[int, list] = {}
    for c, a, b in gtis:
        per_ccd.setdefault(c, []).append((a, b))
    ontime = max(_union_length(v) for v in per_ccd.values())
    tstart = float(_keyword(h, "TSTART", default=t.min() if len(t) else 0.0)) + offset
    tstop = float(_keyword(h, "TSTOP", default=t.max() if len(t) else 0.0)) + offset
    # Times are packed as microseconds from the first event of a sky cell, in 46 bits
    # (2.2 years): an event far outside the exposure would not fit, and is wrong anyway.
    outside = (t < tstart - MAX_TIME_OUTSIDE) | (t > tstop + MAX_TIME_OUTSIDE)
    if outside.any():
        i = int(np.argmax(outside))
        raise LoadError(f"{name}: column TIME value {t[i] - offset:.6f} in row {rows[i]} is "
                        f"{'before' if t[i] < tstart else 'after'} the exposure "
                        f"(TSTART..TSTOP {tstart - offset:.3f}..{tstop - offset:.3f}) by more than "
                        f"{MAX_TIME_OUTSIDE:g} s; nothing was written")
    meta = dict(obs_id=obs_id, instrument=instrument, exp_id=exp_id,
                filter=str(_keyword(h, "FILTER", default="")).strip() or None,
                datamode=str(_keyword(h, "DATAMODE", default="")).strip() or None,
                submode=str(_keyword(h, "SUBMODE", default="")).strip() or None,
                tstart=tstart, tstop=max(tstop, tstart), ontime=ontime,
                ra_pnt=_keyword(h, "RA_PNT", "RA_NOM"), dec_pnt=_keyword(h, "DEC_PNT", "DEC_NOM"),
                pa_pnt=_keyword(h, "PA_PNT"), x_ref=wcs.x_ref, y_ref=wcs.y_ref, ra_ref=wcs.ra_ref,
                dec_ref=wcs.dec_ref, x_delt=wcs.x_delt, y_delt=wcs.y_delt, n_photons=len(t),
                file=str(path), target=str(_keyword(h, "OBJECT", default="")).strip() or None,
                without_sky=int(nosky.sum()),
                revolut=_keyword(h, "REVOLUT"))
    meta = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in meta.items()}
    return EventList(path, meta, wcs, columns, gtis)


def read_orbit(path: Path, hdul) -> OrbitFile:
    name = path.name
    orb = next((h for h in hdul[1:] if (h.name or "").upper() == "ORBIT"), None)
    cols = [c.upper() for c in orb.columns.names]
    xyz = [next((c for c in (f"GEI_{a}", a) if c in cols), None) for a in "XYZ"]
    if "TIME" not in cols or None in xyz:
        raise LoadError(f"{name}: ORBIT needs the columns TIME and GEI_X/GEI_Y/GEI_Z; nothing was written")
    h = ChainMap(orb.header, hdul[0].header)
    m = ORBIT_NAME.match(name)
    obs_id = str(_keyword(h, "OBS_ID", default=m.group(1) if m else "")).strip()
    if not re.fullmatch(r"\d{10}", obs_id):
        raise LoadError(f"{name}: no valid OBS_ID keyword ('{obs_id}'); nothing was written")
    t = np.asarray(orb.data["TIME"], np.float64) + _time_offset(name, h)
    pos = np.stack([np.asarray(orb.data[c], np.float64) for c in xyz], axis=1)
    unit = str(orb.header.get(f"TUNIT{cols.index(xyz[0]) + 1}", "km")).strip().lower()
    if unit in ("m", "meter", "metre"):
        pos = pos / 1000.0
    elif unit not in ("km", ""):
        raise LoadError(f"{name}: orbit positions are in '{unit}', expected km; nothing was written")
    good = np.isfinite(t) & np.isfinite(pos).all(axis=1)
    t, pos = t[good], pos[good]
    t, first = np.unique(t, return_index=True)
    return OrbitFile(path, obs_id, t, pos[first])


@dataclass
class FlareFile:
    path: Path
    row: dict           # a row of xmm.flare_series


def read_flare(path: Path, hdul) -> FlareFile:
    """The pipeline's flaring-background time series: the RATE curve (regular bins,
    times at bin centres), FLCUTTHR and the flare-free intervals SRC_GTIS."""
    name = path.name
    rate_hdu, gti_hdu = hdul["RATE"], hdul["SRC_GTIS"]
    h = ChainMap(rate_hdu.header, hdul[0].header)
    for ext, hdu, cols in (("RATE", rate_hdu, ("TIME", "RATE")), ("SRC_GTIS", gti_hdu, ("START", "STOP"))):
        missing = [c for c in cols if c not in [n.upper() for n in hdu.columns.names]]
        if missing:
            raise LoadError(f"{name}: extension {ext} lacks the column(s) {', '.join(missing)}; nothing was written")
    m = FLARE_NAME.match(name)
    obs_id = str(_keyword(h, "OBS_ID", default=m.group(1) if m else "")).strip()
    instrument = str(_keyword(h, "INSTRUME", default="")).strip().upper()
    exp_id = str(_keyword(h, "EXPIDSTR", default="")).strip().upper()
    if not re.fullmatch(r"\d{10}", obs_id):
        raise LoadError(f"{name}: no valid OBS_ID keyword ('{obs_id}'); nothing was written")
    if instrument not in CAMERAS:
        raise LoadError(f"{name}: INSTRUME is '{instrument}', expected EPN, EMOS1 or EMOS2; nothing was written")
    if not exp_id:
        raise LoadError(f"{name}: no EXPIDSTR keyword (the exposure, e.g. S001); nothing was written")
    offset = _time_offset(name, h)
    t = np.asarray(rate_hdu.data["TIME"], np.float64) + offset
    rate = np.asarray(rate_hdu.data["RATE"], np.float64)
    timedel = _keyword(h, "TIMEDEL")
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise LoadError(f"{name}: extension RATE, column TIME: not a number in row {bad[0] + 1}; nothing was written")
    # a NaN RATE is a bin without data (no exposure): kept, and never flare-free
    if np.isinf(rate).any():
        raise LoadError(f"{name}: extension RATE, column RATE: infinite in row {np.flatnonzero(np.isinf(rate))[0] + 1}; "
                        "nothing was written")
    if not t.size or timedel is None or not float(timedel) > 0:
        raise LoadError(f"{name}: extension RATE needs rows and a positive TIMEDEL keyword; nothing was written")
    steps = np.diff(t)
    irregular = np.flatnonzero(np.abs(steps - float(timedel)) > 1e-6 * float(timedel))
    if irregular.size:   # xmm.flare_free finds a time's bin by arithmetic
        raise LoadError(f"{name}: extension RATE, column TIME: row {irregular[0] + 2} is {steps[irregular[0]]:.6f} s "
                        f"after the one before, not TIMEDEL = {float(timedel):g} s; nothing was written")
    start = np.asarray(gti_hdu.data["START"], np.float64) + offset
    stop = np.asarray(gti_hdu.data["STOP"], np.float64) + offset
    bad = np.flatnonzero(~(np.isfinite(start) & np.isfinite(stop) & (stop >= start)))
    if bad.size:
        raise LoadError(f"{name}: extension SRC_GTIS: row {bad[0] + 1} is not an interval; nothing was written")
    order = np.argsort(start, kind="stable")
    threshold = _keyword(h, "FLCUTTHR")
    return FlareFile(path, dict(obs_id=obs_id, instrument=instrument, exp_id=exp_id, timedel=float(timedel),
                                time=t, rate=rate, threshold=None if threshold is None else float(threshold),
                                gti_start=start[order], gti_stop=stop[order], file=str(path)))


def write_flare(conn: psycopg.Connection, flare: FlareFile, digest: str) -> dict:
    r = flare.row
    old = conn.execute("SELECT sha256 FROM xmm.flare_series WHERE obs_id = %s AND instrument = %s AND exp_id = %s",
                       (r["obs_id"], r["instrument"], r["exp_id"])).fetchone()
    if old and old[0] == digest:
        return {"inserted": 0, "updated": 0, "unchanged": 1}
    conn.execute("""INSERT INTO xmm.flare_series AS f (obs_id, instrument, exp_id, timedel, time, rate, threshold,
                                                       gti_start, gti_stop, file, sha256)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (obs_id, instrument, exp_id) DO UPDATE
                    SET timedel = excluded.timedel, time = excluded.time, rate = excluded.rate,
                        threshold = excluded.threshold, gti_start = excluded.gti_start, gti_stop = excluded.gti_stop,
                        file = excluded.file, sha256 = excluded.sha256, loaded_at = now()""",
                 (r["obs_id"], r["instrument"], r["exp_id"], r["timedel"], r["time"].tolist(), r["rate"].tolist(),
                  r["threshold"], r["gti_start"].tolist(), r["gti_stop"].tolist(), r["file"], digest))
    return {"inserted": 0 if old else 1, "updated": 1 if old else 0, "unchanged": 0}


def read_file(path: Path):
    path = Path(path)
    hdul = _open(path)
    names = {(h.name or "").upper() for h in hdul[1:]}
    if "ORBIT" in names:
        return read_orbit(path, hdul)
    if {"RATE", "SRC_GTIS"} <= names:
        return read_flare(path, hdul)
    return read_event_list(path, hdul)


# --- packing ------------------------------------------------------------------------------

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_OID = {"i2": 21, "i4": 23}


def _elements(values: np.ndarray, kind: str) -> np.ndarray:
    """Binary-COPY array elements (length word + big-endian value) for all photons at once."""
    width = 2 if kind == "i2" else 4
    out = np.empty(len(values), dtype=[("len", ">i4"), ("v", f">{kind}")])
    out["len"] = width
    out["v"] = values
    return out


@dataclass
class Prepared:
    """An event list sorted by (cell, time), its columns as binary-COPY array elements."""
    n_photons: int
    cell: np.ndarray       # per packed row
    x0: np.ndarray
    y0: np.ndarray
    t0: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    arrays: list           # (bytes of all elements, element size, kind) in CELL_COLUMNS order


def prepare(events: EventList) -> Prepared:
    """The heavy, database-independent part of packing (runs ahead of the COPY in a thread)."""
    c = events.columns
    ra, dec = events.wcs.to_radec(c["X"], c["Y"])
    cell = q3c_cells(ra, dec)
    t = c["TIME"]
    order = (np.argsort(cell, kind="stable") if np.all(t[1:] >= t[:-1])   # event lists are time-ordered
             else np.lexsort((t, cell)))
    cell, t = cell[order], t[order]
    x = np.rint(c["X"][order]).astype(np.int64)
    y = np.rint(c["Y"][order]).astype(np.int64)
    n = len(t)
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]]) if n else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], n].astype(np.int64)
    group = np.repeat(np.arange(len(starts)), ends - starts)
    x0 = np.minimum.reduceat(x, starts) if n else x
    y0 = np.minimum.reduceat(y, starts) if n else y
    t0 = t[starts]
    dx, dy = x - x0[group], y - y0[group]
    if n and max(dx.max(), dy.max()) > 32767:
        raise LoadError(f"{events.path.name}: a sky cell spans more than 32767 pixels in X/Y; "
                        "the sky pixels are not 0.05\" (check TCDLT of X/Y); nothing was written")
    us = np.rint((t - t0[group]) * 1e6).astype(np.int64)
    if n and (us >> TIME_LO_BITS).max() > 32767:      # never reached after the TSTART..TSTOP check
        raise LoadError(f"{events.path.name}: events of one sky cell span more than 2.2 years; "
                        "nothing was written")
    pattern = c["PATTERN"][order].astype(np.int64)
    ccdnr = c["CCDNR"][order].astype(np.int64)
    arrays = [  # in CELL_COLUMNS order after the scalars
        (_elements(us & ((1 << TIME_LO_BITS) - 1), "i4"), "i4"),
        (_elements(us >> TIME_LO_BITS, "i2"), "i2"),
        (_elements(dx, "i2"), "i2"),
        (_elements(dy, "i2"), "i2"),
        (_elements(c["PI"][order], "i2"), "i2"),
        (_elements((pattern << 8) | ccdnr, "i2"), "i2"),
        (_elements(c["FLAG"][order].astype(np.int64), "i4"), "i4"),
    ]
    return Prepared(n, cell[starts], x0, y0, t0, starts, ends, [(a.tobytes(), a.itemsize, k) for a, k in arrays])


def pack(prepared: Prepared, exp_key: int) -> bytes:
    """A binary COPY stream for xmm.photon_cell: one row per cell of the exposure."""
    out = io.BytesIO()
    out.write(_COPY_HEADER)
    scalars = struct.Struct("!h iq ii ii ii ii id")
    p = prepared
    for g, (s, e) in enumerate(zip(p.starts.tolist(), p.ends.tolist())):
        k = e - s
        out.write(scalars.pack(len(CELL_COLUMNS), 8, int(p.cell[g]), 4, exp_key, 4, k, 4, int(p.x0[g]), 4,
                               int(p.y0[g]), 8, float(p.t0[g])))
        for data, size, kind in p.arrays:
            body = data[s * size:e * size]
            out.write(struct.pack("!iiiiii", 20 + len(body), 1, 0, _OID[kind], k, 1))
            out.write(body)
    out.write(struct.pack("!h", -1))
    return out.getvalue()


# --- writing ------------------------------------------------------------------------------

def _copy(conn: psycopg.Connection, table: str, columns: tuple, data: bytes) -> None:
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT binary)") as cp:
        view = memoryview(data)
        for i in range(0, len(data), 1 << 20):
            cp.write(view[i:i + (1 << 20)])


def write_events(conn: psycopg.Connection, events: EventList, digest: str, prepared: Prepared | None = None) -> dict:
    """One exposure in the caller's transaction; {'inserted'|'updated'|'unchanged': photons}."""
    meta = dict(events.meta, sha256=digest)
    exposure = (meta["obs_id"], meta["instrument"], meta["exp_id"])
    conn.execute("SELECT xmm.hips_touch(%s, %s, %s, %s)", (*exposure, digest))   # HiPS: the cells it replaces
    exp_key, replaced = conn.execute("SELECT * FROM xmm.exposure_begin(%s)", (Jsonb(meta),)).fetchone()
    if exp_key is None:
        return {"inserted": 0, "updated": 0, "unchanged": events.n}
    _copy(conn, "xmm.photon_cell", CELL_COLUMNS, pack(prepared or prepare(events), exp_key))
    if events.gtis:
        with conn.cursor().copy("COPY xmm.gti (obs_id, instrument, exp_id, ccdnr, start, stop) FROM STDIN") as cp:
            for ccd, a, b in events.gtis:
                cp.write_row((meta["obs_id"], meta["instrument"], meta["exp_id"], ccd, a, b))
    conn.execute("SELECT xmm.exposure_end(%s)", (exp_key,))
    conn.execute("SELECT xmm.hips_touch(%s, %s, %s)", exposure)                  # and the cells it wrote
    return {"inserted": 0 if replaced else events.n, "updated": events.n if replaced else 0, "unchanged": 0}


def write_orbit(conn: psycopg.Connection, orbit: OrbitFile) -> dict:
    old = conn.execute("SELECT count(*) FROM xmm.orbit WHERE obs_id = %s", (orbit.obs_id,)).fetchone()[0]
    conn.execute("DELETE FROM xmm.orbit WHERE obs_id = %s", (orbit.obs_id,))
    with conn.cursor().copy("COPY xmm.orbit (obs_id, time, x, y, z) FROM STDIN") as cp:
        for t, (x, y, z) in zip(orbit.time.tolist(), orbit.xyz.tolist()):
            cp.write_row((orbit.obs_id, t, x, y, z))
    return {"inserted": max(len(orbit.time) - old, 0), "updated": min(old, len(orbit.time)), "unchanged": 0}


def load_events(conn: psycopg.Connection, paths: list[Path], progress: bool = True, out=None) -> dict:
    """Loads event lists and orbit files, one transaction per file; returns
    {'photon': {...}, 'orbit': {...}} counts summed over the files. A bad file
    raises LoadError after the files before it were committed."""
    totals: dict[str, dict[str, int]] = {}
    paths = [Path(p) for p in paths]
    bar = tqdm(total=len(paths), unit="file", desc="events", disable=not progress, leave=False)
    # Reading and packing the next file overlaps the COPY of this one (numpy, zlib and the
    # socket release the GIL): the client and the server each keep a core busy.
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = pool.submit(_read_and_prepare, paths[0]) if paths else None
        for i, path in enumerate(paths):
            try:
                item, digest, prepared = ahead.result()
                ahead = pool.submit(_read_and_prepare, paths[i + 1]) if i + 1 < len(paths) else None
                _write_one(conn, path, item, digest, prepared, totals, progress, out)
            except LoadError as exc:
                if i == 0:
                    raise
                done = ", ".join(p.name for p in paths[:i])
                raise LoadError(f"{exc} (of {path.name}; each file is its own transaction: the {i} file(s) "
                                f"before it were loaded and committed: {done})") from None
            bar.update(1)
            bar.set_postfix(photons=sum(totals.get("photon", {}).values()))
    bar.close()
    if any(s["inserted"] or s["updated"] for s in totals.values()):
        with conn.transaction():
            conn.execute("ANALYZE xmm.exposure")
    return totals


def _read_and_prepare(path: Path):
    item = read_file(path)
    return item, sha256(path), prepare(item) if isinstance(item, EventList) else None


def _write_one(conn, path: Path, item, digest: str, prepared, totals: dict, progress: bool, out) -> None:
    table = {OrbitFile: "orbit", FlareFile: "flare_series"}.get(type(item), "photon")
    with conn.transaction():
        if table == "flare_series":
            summary, n = write_flare(conn, item, digest), len(item.row["time"])
        elif table == "orbit":
            summary, n = write_orbit(conn, item), len(item.time)
        else:
            summary, n = write_events(conn, item, digest, prepared), item.n
        conn.execute("INSERT INTO xmm.load_log (format, file, sha256, n_rows, summary) VALUES (%s, %s, %s, %s, %s)",
                     ({"photon": "events", "orbit": "orbit", "flare_series": "flare"}[table], str(path), digest, n,
                      Jsonb({table: summary, **({"without_sky": item.meta["without_sky"]} if table == "photon" else {})})))
    if progress or out is not None:   # a line per file on a terminal, or to a stream given
        what = (f"{item.meta['obs_id']} {item.meta['instrument']} {item.meta['exp_id']}" if table == "photon"
                else f"orbit of {item.obs_id}" if table == "orbit"
                else f"flare time series of {item.row['obs_id']} {item.row['instrument']} {item.row['exp_id']}")
        print(f"{path.name}: {what}, {n} rows: +{summary['inserted']} ~{summary['updated']} "
              f"={summary['unchanged']}", file=out or sys.stderr)
    for k, v in summary.items():
        totals.setdefault(table, {"inserted": 0, "updated": 0, "unchanged": 0})[k] += v
