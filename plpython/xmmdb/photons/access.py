"""fetch_photons / fetch_positions / fetch_gtis / fetch_orbit: column arrays from the photon store.

The signatures are stable (the timing code builds on them). Each returns a
dict of numpy arrays of equal length (possibly empty), in a fixed dtype:

    photons: time f8 (TT s since MJDREF 50814), ra f8, dec f8 (deg), x i4, y i4
             (sky pixels, 0.05"), pi i4 (eV), pattern i2, flag i4, ccdnr i2,
             obs_id U10, instrument U5 (EPN/EMOS1/EMOS2), exp_id U8 (S003/U002)
    gtis:    obs_id, instrument, exp_id, ccdnr (0: whole exposure), start, stop
    orbit:   time f8, x, y, z f8 (GEI, km)
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import XmmError
from ..pg import ARRAY_HEADER, binary_elements

# name -> numpy dtype, in the order of the arrays returned
PHOTON_COLUMNS = {
    "time": "f8", "ra": "f8", "dec": "f8", "x": "i4", "y": "i4", "pi": "i4", "pattern": "i2",
    "flag": "i4", "ccdnr": "i2", "obs_id": "U10", "instrument": "U5", "exp_id": "U8",
}
GTI_COLUMNS = {"obs_id": "U10", "instrument": "U5", "exp_id": "U8", "ccdnr": "i2", "start": "f8", "stop": "f8"}
ORBIT_COLUMNS = {"time": "f8", "x": "f8", "y": "f8", "z": "f8"}
COVERAGE_COLUMNS = {"obs_id": "U10", "instrument": "U5", "exp_id": "U8", "ccdnr": "i2", "ontime": "f8"}


# Numeric columns travel as one binary string each (big-endian, PostgreSQL's
# send format), not as arrays of a million Python numbers: that halves the
# time of a large extraction.
_SEND = {"f8": ("float8send", "float8", ">f8"), "i4": ("int4send", "int4", ">i4"), "i2": ("int2send", "int2", ">i2")}


def _arrays(row: dict | None, columns: dict) -> dict:
    out = {}
    for name, dtype in columns.items():
        values = (row or {}).get(name)
        if values is None or len(values) == 0:
            out[name] = np.zeros(0, dtype=dtype)
        elif dtype in _SEND:
            out[name] = np.frombuffer(bytes(values), dtype=_SEND[dtype][2]).astype(dtype)
        else:
            out[name] = np.asarray(values, dtype=dtype)
    return out


def _aggregate(columns: dict) -> str:
    """Aggregates over rows that arrive sorted (from an ordered subquery)."""
    return ", ".join(f"string_agg({_SEND[t][0]}({c}::{_SEND[t][1]}), ''::bytea) AS {c}" if t in _SEND
                     else f"array_agg({c}) AS {c}" for c, t in columns.items())


def _sorted(query: str, order: str, limit: int | None = None) -> str:
    return f"(SELECT * FROM {query} ORDER BY {order}{f' LIMIT {limit}' if limit else ''}) AS sorted"


# The most photons one call reads into memory (the extraction, timing, image and limit
# functions): ~0.5 GB of arrays, ten times the brightest 30" cone of the archive.
MAX_PHOTONS = 10_000_000


def _check_count(n: int, radius_arcsec: float) -> None:
    if n > MAX_PHOTONS:
        raise XmmError(f"more than {MAX_PHOTONS:,} photons within {radius_arcsec:g}\" (a call reads at most that many)",
                       sqlstate="54000", hint="a smaller radius, a narrower energy or time range, or one obs_id")


# The keys of every photon function's options that choose events (checked in SQL by
# xmm.event_rule, sql/51_event_selection.sql): passed on to xmm_photons as they are.
SELECTION_KEYS = ("pattern", "flag", "all_events", "flare_filter")


def selection(options: dict | None) -> str:
    """The event-selection part of a function's options, as the jsonb xmm_photons takes."""
    return json.dumps({k: v for k, v in (options or {}).items() if k in SELECTION_KEYS and v is not None})


def _photon_arrays(db, columns: dict, ra, dec, radius_arcsec, emin, emax, tmin, tmax, options, obs_id) -> dict:
    """The photons of xmm_photon_arrays as one numpy array per column, in exposure order (each
    exposure's packed cells in turn, each cell's photons in time order), and obs_id,
    instrument, exp_id per photon. The cells stop once past MAX_PHOTONS photons, so the count
    says whether there were more. Each cell's column arrives as array_send's bytes; a column's
    elements, headers cut, are joined and read by numpy in one view."""
    sends = ", ".join(f"array_send({c}) AS {c}" for c in columns)
    rows = db.query(
        f"SELECT obs_id, instrument, exp_id, n, {sends} FROM ("
        "  SELECT *, sum(n) OVER (ORDER BY obs_id, instrument, exp_id, cell) AS running"
        "    FROM xmm.xmm_photon_arrays($1, $2, $3, $4, $5, $6, $7, $8::jsonb) WHERE obs_id = coalesce($9, obs_id)) a"
        f" WHERE running - n <= {MAX_PHOTONS} ORDER BY running",
        (float(ra), float(dec), float(radius_arcsec), float(emin), float(emax),
         None if tmin is None else float(tmin), None if tmax is None else float(tmax), selection(options), obs_id),
        ("float8", "float8", "float8", "float8", "float8", "float8", "float8", "text", "text"))
    n = np.array([r["n"] for r in rows], np.int64)
    _check_count(int(n.sum()), radius_arcsec)
    out = {c: binary_elements(b"".join(memoryview(r[c])[ARRAY_HEADER:] for r in rows), t) for c, t in columns.items()}
    for c in columns:
        if len(out[c]) != n.sum():
            raise XmmError(f"photon arrays: {len(out[c])} values of {c} for {n.sum()} photons", sqlstate="XX001")
    for k in ("obs_id", "instrument", "exp_id"):
        out[k] = np.repeat(np.array([r[k] for r in rows], PHOTON_COLUMNS[k]), n)
    return out


NUMERIC_PHOTON_COLUMNS = {c: t for c, t in PHOTON_COLUMNS.items() if t in _SEND}


def fetch_photons(db, ra: float, dec: float, radius_arcsec: float, emin: float = 200, emax: float = 12000,
                  tmin: float | None = None, tmax: float | None = None, obs_id: str | None = None,
                  options: dict | None = None) -> dict:
    """Photons of all epochs (or of `obs_id`) within `radius_arcsec` of (ra, dec) deg,
    emin <= PI <= emax eV and tmin <= time <= tmax (TT s since MJDREF 50814) when given,
    the events `options` select (SELECTION_KEYS; default: the standard selection),
    sorted by time (equal times by obs_id, instrument, exp_id). Returns {column: numpy
    array} with the columns of PHOTON_COLUMNS."""
    out = _photon_arrays(db, NUMERIC_PHOTON_COLUMNS, ra, dec, radius_arcsec, emin, emax, tmin, tmax, options, obs_id)
    order = np.argsort(out["time"], kind="stable")     # they come in exposure order
    return {c: out[c][order] for c in PHOTON_COLUMNS}


POSITION_COLUMNS = {"ra": "f8", "dec": "f8", "pi": "i4"}


def fetch_positions(db, ra: float, dec: float, radius_arcsec: float, emin: float = 200, emax: float = 12000,
                    obs_id: str | None = None, options: dict | None = None,
                    tmin: float | None = None, tmax: float | None = None) -> dict:
    """What counting photons needs, fast: ra, dec, pi of the photons fetch_photons would return,
    with obs_id, instrument, exp_id, grouped by exposure and not sorted (no time, no sort)."""
    return _photon_arrays(db, POSITION_COLUMNS, ra, dec, radius_arcsec, emin, emax, tmin, tmax, options, obs_id)


def fetch_gtis(db, obs_ids) -> dict:
    """Good time intervals of the loaded exposures of these observations (a str or a list),
    sorted by obs_id, instrument, exp_id, ccdnr, start."""
    if isinstance(obs_ids, str):
        obs_ids = [obs_ids]
    sql = (f"SELECT {_aggregate(GTI_COLUMNS)} FROM "
           f"{_sorted('xmm.gti WHERE obs_id = ANY ($1)', 'obs_id, instrument, exp_id, ccdnr, start')}")
    rows = db.query(sql, (list(obs_ids),), ("text[]",))
    return _arrays(rows[0] if rows else None, GTI_COLUMNS)


def fetch_coverage(db, ra: float, dec: float) -> dict:
    """The exposures that saw (ra, dec) deg, the CCD there and its on-time (xmm.xmm_coverage)."""
    sql = f"SELECT {_aggregate(COVERAGE_COLUMNS)} FROM {_sorted('xmm.xmm_coverage($1, $2)', 'obs_id, instrument, exp_id')}"
    rows = db.query(sql, (float(ra), float(dec)), ("float8", "float8"))
    return _arrays(rows[0] if rows else None, COVERAGE_COLUMNS)


def fetch_orbit(db, obs_id: str) -> dict:
    """The spacecraft orbit of an observation (GEI X/Y/Z km vs TT time), sorted by
    time; empty arrays when no orbit file was loaded for it."""
    sql = f"SELECT {_aggregate(ORBIT_COLUMNS)} FROM {_sorted('xmm.orbit WHERE obs_id = $1', 'time')}"
    rows = db.query(sql, (obs_id,), ("text",))
    return _arrays(rows[0] if rows else None, ORBIT_COLUMNS)


def fetch_flare_intervals(db, obs_id: str, instrument: str, exp_id: str,
                          threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """An exposure's flare-free intervals (start, stop arrays, TT s, in time order):
    xmm.flare_intervals, i.e. the pipeline's (threshold None) or the rate-curve bins at or
    below `threshold` counts/s; empty when no flare time series is loaded for it."""
    rows = db.query("SELECT array_agg(start ORDER BY start) AS start, array_agg(stop ORDER BY start) AS stop "
                    "FROM xmm.flare_intervals($1, $2, $3, $4)", (obs_id, instrument, exp_id, threshold),
                    ("text", "text", "text", "float8"))
    r = rows[0] if rows else {}
    return np.asarray(r.get("start") or [], np.float64), np.asarray(r.get("stop") or [], np.float64)
