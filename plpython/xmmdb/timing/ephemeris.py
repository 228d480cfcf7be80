"""JPL DE421, offline.

The kernel is the `de421.bsp` that the PyPI package `skyfield-data` ships (a
dependency of xmmdb), read with `jplephem`. Nothing here downloads: a missing
kernel is an XmmError that says which package to install.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from ..errors import XmmError

NAME = "JPL-DE421"
KM = 1000.0
DAY = 86400.0


def kernel_path() -> str:
    """Path of the DE421 kernel shipped by skyfield-data."""
    try:
        import skyfield_data
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise XmmError("the JPL DE421 ephemeris is not installed",
                       hint="pip install skyfield-data (it ships de421.bsp)") from exc
    path = os.path.join(os.path.dirname(skyfield_data.__file__), "data", "de421.bsp")
    if not os.path.isfile(path):  # pragma: no cover
        raise XmmError(f"the JPL DE421 ephemeris {path} is missing",
                       hint="reinstall skyfield-data, which ships de421.bsp")
    return path


@lru_cache(maxsize=1)
def kernel():
    from jplephem.spk import SPK

    return SPK.open(kernel_path())


def earth_sun(jd1: float, jd2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Barycentric position (m) and velocity (m/s) of the Earth and position (m) of
    the Sun at TDB Julian dates jd1 + jd2 (two parts, for precision: one float64
    JD resolves only 40 us); arrays of shape (N, 3), ICRF axes."""
    k = kernel()
    jd2 = np.asarray(jd2, dtype=np.float64)
    first, last = k[0, 3].start_jd, k[0, 3].end_jd
    if jd2.size and (jd1 + jd2.min() < first or jd1 + jd2.max() > last):
        raise XmmError(f"times outside the span of {NAME} (JD {first:.1f} to {last:.1f})")
    emb, emb_v = k[0, 3].compute_and_differentiate(jd1, jd2)
    geo, geo_v = k[3, 399].compute_and_differentiate(jd1, jd2)
    sun = k[0, 10].compute(jd1, jd2)
    # jplephem gives km and km/day
    return ((emb + geo).T * KM, (emb_v + geo_v).T * (KM / DAY), sun.T * KM)
