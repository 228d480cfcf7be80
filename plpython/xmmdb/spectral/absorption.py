"""Photoelectric absorption cross-sections per H atom, without Sherpa: the absorbers
of the fits (xmmdb.spectral.models) and the flux conversions of upper limits
(xmmdb.photons.limits, which must not pay for importing Sherpa) read the same
tables: data/xsect_*.fits, vendored from astromodels 2.6.0 with its licence
(Verner et al. 1996 with Anders & Grevesse 1989 abundances, Wilms et al. 2000,
Morrison & McCammon 1983)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
ABS_RANGE = (0.0136, 100.0)   # keV: XSPEC's absorbers transmit everything outside


def _read_fits(table: str) -> tuple[np.ndarray, np.ndarray]:
    from astropy.io import fits

    with fits.open(DATA / f"xsect_{table}.fits", memmap=False) as hdul:
        data = hdul[1].data
        return np.asarray(data["ENERGY"], float), np.asarray(data["SIGMA"], float)


@functools.lru_cache(maxsize=None)
def cross_section(table: str) -> tuple[np.ndarray, np.ndarray]:
    """(log E, log sigma) of a vendored table; sigma in 1e-22 cm^2 per H atom. Read from the
    arrays the install wrote beside the FITS table (write_tables_at_install: a session's first
    fit or upper limit then need not import astropy.io.fits, ~0.35 s), else from the table."""
    ready = DATA / f"xsect_{table}.npz"
    if ready.exists():
        with np.load(ready) as arrays:
            energy, sigma = arrays["energy"], arrays["sigma"]
    else:
        energy, sigma = _read_fits(table)
    return np.log(energy), np.log(sigma)


def write_tables_at_install() -> None:
    """The tables' two columns as numpy arrays beside them (make venv), read exactly as the FITS."""
    for path in sorted(DATA.glob("xsect_*.fits")):
        table = path.name[len("xsect_"):-len(".fits")]
        energy, sigma = _read_fits(table)
        np.savez(DATA / f"xsect_{table}.npz", energy=energy, sigma=sigma)


def sigma(table: str, energy) -> np.ndarray:
    """Cross-section per H atom (1e-22 cm^2) at energies in keV: log-log
    interpolation inside the table, power-law extrapolation from its end
    segments outside it, 0 outside 0.0136-100 keV."""
    loge, logs = cross_section(table)
    e = np.asarray(energy, float)
    x = np.log(np.clip(e, 1e-30, None))
    out = np.interp(x, loge, logs)
    lo, hi = x < loge[0], x > loge[-1]
    if lo.any():
        slope = (logs[50] - logs[0]) / (loge[50] - loge[0])
        out[lo] = logs[0] + slope * (x[lo] - loge[0])
    if hi.any():
        slope = (logs[-1] - logs[-51]) / (loge[-1] - loge[-51])
        out[hi] = logs[-1] + slope * (x[hi] - loge[-1])
    result = np.exp(out)
    result[(e < ABS_RANGE[0]) | (e > ABS_RANGE[1])] = 0.0
    return result
