"""Synthetic inputs for the timing tests and benchmark: an XMM-like orbit and
pulsed photon arrival times. Not used by the SQL functions."""

from __future__ import annotations

import numpy as np

MU_EARTH = 398600.4418  # km^3/s^2


def xmm_orbit(t: np.ndarray, t0: float = 0.0, perigee_km: float = 7000.0, apogee_km: float = 114000.0,
              inclination_deg: float = 70.0, node_deg: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Keplerian orbit like XMM-Newton's (48 h, 7,000 x 114,000 km): GEI positions (km)
    and velocities (km/s) at TT times t (s), perigee at t0."""
    a = (perigee_km + apogee_km) / 2
    e = (apogee_km - perigee_km) / (apogee_km + perigee_km)
    n = np.sqrt(MU_EARTH / a**3)
    mean = n * (np.asarray(t, dtype=np.float64) - t0)
    ecc = mean.copy()
    for _ in range(60):
        ecc = ecc - (ecc - e * np.sin(ecc) - mean) / (1 - e * np.cos(ecc))
    px, py = a * (np.cos(ecc) - e), a * np.sqrt(1 - e * e) * np.sin(ecc)
    rate = n / (1 - e * np.cos(ecc))
    vx, vy = -a * np.sin(ecc) * rate, a * np.sqrt(1 - e * e) * np.cos(ecc) * rate
    inc, node = np.radians(inclination_deg), np.radians(node_deg)

    def rotate(x, y):
        return np.column_stack([x * np.cos(node) - y * np.cos(inc) * np.sin(node),
                                x * np.sin(node) + y * np.cos(inc) * np.cos(node),
                                y * np.sin(inc)])

    return rotate(px, py), rotate(vx, vy)


def orbit_hdul(t: np.ndarray, pos_km: np.ndarray, vel_km_s: np.ndarray, obs_id: str = "0000000000"):
    """An orbit file in the PPS format (P<obsid>OBX000ORBTSR0000.FTZ, extension ORBIT)."""
    from astropy.io import fits

    cols = [fits.Column("TIME", "D", unit="s", array=t)]
    cols += [fits.Column(f"GEI_{a}", "D", unit="km", array=pos_km[:, i]) for i, a in enumerate("XYZ")]
    cols += [fits.Column(f"V{a}", "D", unit="km/s", array=vel_km_s[:, i]) for i, a in enumerate("XYZ")]
    hdu = fits.BinTableHDU.from_columns(cols, name="ORBIT")
    hdu.header.update(TELESCOP="XMM", OBS_ID=obs_id, MJDREF=50814.0, TIMESYS="TT", TIMEUNIT="s")
    return fits.HDUList([fits.PrimaryHDU(), hdu])


def pulsed_times(rng: np.random.Generator, tstart: float, tstop: float, rate: float, frequency: float,
                 pulsed_fraction: float = 0.3) -> np.ndarray:
    """Poisson arrival times with a sinusoidal pulse profile (thinning)."""
    n = rng.poisson(rate * (tstop - tstart) * 2)
    t = np.sort(rng.uniform(tstart, tstop, n))
    keep = rng.uniform(0, 2, n) < 1 + pulsed_fraction * np.cos(2 * np.pi * frequency * (t - tstart))
    return t[keep]
