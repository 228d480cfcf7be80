"""The gnomonic (TAN) projection about a reference point, as the sky X/Y of EPIC
event lists use it (FITS WCS Paper II, LONPOLE 180). Angles in degrees, plane
coordinates xi (east) and eta (north) in radians; numpy arrays or scalars."""

import numpy as np


def project(ra0, dec0, ra, dec):
    """(xi, eta) of (ra, dec) on the tangent plane at (ra0, dec0)."""
    a, d, a0, d0 = np.radians(ra), np.radians(dec), np.radians(ra0), np.radians(dec0)
    cosc = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    return (np.cos(d) * np.sin(a - a0) / cosc,
            (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0)) / cosc)


def offsets(ra0, dec0, ra, dec):
    """(east, north) offsets in arcsec of (ra, dec) on the tangent plane at (ra0, dec0)."""
    xi, eta = project(ra0, dec0, np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64))
    return np.degrees(xi) * 3600.0, np.degrees(eta) * 3600.0


def deproject(ra0, dec0, xi, eta):
    """(ra, dec) of the tangent-plane point (xi, eta) about (ra0, dec0); ra in [0, 360)."""
    a0, d0 = np.radians(ra0), np.radians(dec0)
    den = np.cos(d0) - eta * np.sin(d0)
    return (np.degrees(a0 + np.arctan2(xi, den)) % 360.0,
            np.degrees(np.arctan2(np.sin(d0) + eta * np.cos(d0), np.hypot(xi, den))))
