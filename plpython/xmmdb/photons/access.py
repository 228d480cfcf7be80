"""fetch_photons / fetch_gtis / fetch_orbit: column arrays from the photon store.

The signatures are stable (the timing code builds on them). Each returns a
dict of numpy arrays of equal length (possibly empty), in a fixed dtype:

    photons: time f8 (TT s since MJDREF 50814), ra f8, dec f8 (deg), x i4, y i4
             (sky pixels, 0.05"), pi i4 (eV), pattern i2, flag i4, ccdnr i2,
             obs_id U10, instrument U5 (EPN/EMOS1/EMOS2), exp_id U8 (S003/U002)
    gtis:    obs_id, instrument, exp_id, ccdnr (0: whole exposure), start, stop
    orbit:   time f8, x, y, z f8 (GEI, km)
"""

from __future__ import annotations

import numpy as np

# name -> numpy dtype, in the order of the arrays returned
PHOTON_COLUMNS = {
    "time": "f8", "ra": "f8", "dec": "f8", "x": "i4", "y": "i4", "pi": "i4", "pattern": "i2",
    "flag": "i4", "ccdnr": "i2", "obs_id": "U10", "instrument": "U5", "exp_id": "U8",
}
GTI_COLUMNS = {"obs_id": "U10", "instrument": "U5", "exp_id": "U8", "ccdnr": "i2", "start": "f8", "stop": "f8"}
ORBIT_COLUMNS = {"time": "f8", "x": "f8", "y": "f8", "z": "f8"}


def _arrays(row: dict | None, columns: dict) -> dict:
    out = {}
    for name, dtype in columns.items():
        values = (row or {}).get(name) or []
        out[name] = np.asarray(values, dtype=dtype) if len(values) else np.zeros(0, dtype=dtype)
    return out


def _aggregate(columns: dict, order: str) -> str:
    return ", ".join(f"array_agg({c} ORDER BY {order}) AS {c}" for c in columns)


def fetch_photons(db, ra: float, dec: float, radius_arcsec: float, emin: float = 200, emax: float = 12000,
                  tmin: float | None = None, tmax: float | None = None, obs_id: str | None = None) -> dict:
    """Photons of all epochs (or of `obs_id`) within `radius_arcsec` of (ra, dec) deg,
    emin <= PI <= emax eV and tmin <= time <= tmax (TT s since MJDREF 50814) when given,
    sorted by time. Returns {column: numpy array} with the columns of PHOTON_COLUMNS."""
    sql = (f"SELECT {_aggregate(PHOTON_COLUMNS, 'time, obs_id, instrument, exp_id')}"
           " FROM xmm.xmm_photons($1, $2, $3, $4, $5, $6, $7) WHERE obs_id = coalesce($8, obs_id)")
    rows = db.query(sql, (float(ra), float(dec), float(radius_arcsec), float(emin), float(emax),
                          None if tmin is None else float(tmin), None if tmax is None else float(tmax), obs_id),
                    ("float8", "float8", "float8", "float8", "float8", "float8", "float8", "text"))
    return _arrays(rows[0] if rows else None, PHOTON_COLUMNS)


def fetch_gtis(db, obs_ids) -> dict:
    """Good time intervals of the loaded exposures of these observations (a str or a list),
    sorted by obs_id, instrument, exp_id, ccdnr, start."""
    if isinstance(obs_ids, str):
        obs_ids = [obs_ids]
    sql = (f"SELECT {_aggregate(GTI_COLUMNS, 'obs_id, instrument, exp_id, ccdnr, start')}"
           " FROM xmm.gti WHERE obs_id = ANY ($1)")
    rows = db.query(sql, (list(obs_ids),), ("text[]",))
    return _arrays(rows[0] if rows else None, GTI_COLUMNS)


def fetch_orbit(db, obs_id: str) -> dict:
    """The spacecraft orbit of an observation (GEI X/Y/Z km vs TT time), sorted by
    time; empty arrays when no orbit file was loaded for it."""
    sql = f"SELECT {_aggregate(ORBIT_COLUMNS, 'time')} FROM xmm.orbit WHERE obs_id = $1"
    rows = db.query(sql, (obs_id,), ("text",))
    return _arrays(rows[0] if rows else None, ORBIT_COLUMNS)
