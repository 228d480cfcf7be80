"""Synthetic inputs for the timing tests and benchmark: an XMM-like orbit and
pulsed photon arrival times. Not used by the SQL functions."""

from __future__ import annotations

import numpy as np

from xmmdb.instruments import MJDREF
from xmmdb.photons.sky import offsets

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
    hdu.header.update(TELESCOP="XMM", OBS_ID=obs_id, MJDREF=MJDREF, TIMESYS="TT", TIMEUNIT="s")
    return fits.HDUList([fits.PrimaryHDU(), hdu])


def pulsed_times(rng: np.random.Generator, tstart: float, tstop: float, rate: float, frequency: float,
                 pulsed_fraction: float = 0.3) -> np.ndarray:
    """Poisson arrival times with a sinusoidal pulse profile (thinning)."""
    n = rng.poisson(rate * (tstop - tstart) * 2)
    t = np.sort(rng.uniform(tstart, tstop, n))
    keep = rng.uniform(0, 2, n) < 1 + pulsed_fraction * np.cos(2 * np.pi * frequency * (t - tstart))
    return t[keep]


def event_list_hdul(obs_id: str, instrument: str, exp_id: str, time: np.ndarray, ra: np.ndarray, dec: np.ndarray,
                    pi: np.ndarray, gti: list[tuple[float, float]], ra_pnt: float, dec_pnt: float, ccdnr: int = 4):
    """A minimal EPIC event list in the pipeline layout (EVENTS with the sky WCS of
    X/Y in TCTYP/TCRPX/TCRVL/TCDLT, STDGTInn), TT times since MJDREF 50814."""
    from astropy.io import fits

    x_ref = y_ref = 25921.0
    delt = 0.05 / 3600.0
    xi, eta = (v / 3600.0 for v in offsets(ra_pnt, dec_pnt, ra, dec))   # degrees
    n = len(time)
    order = np.argsort(time)
    cols = [fits.Column("TIME", "D", unit="s", array=np.asarray(time)[order]),
            fits.Column("X", "J", array=np.round(x_ref + xi / -delt).astype(np.int32)[order]),
            fits.Column("Y", "J", array=np.round(y_ref + eta / delt).astype(np.int32)[order]),
            fits.Column("PI", "I", unit="eV", array=np.asarray(pi, dtype=np.int16)[order]),
            fits.Column("PATTERN", "B", array=np.zeros(n, np.uint8)),
            fits.Column("FLAG", "J", array=np.zeros(n, np.int32)),
            fits.Column("CCDNR", "B", array=np.full(n, ccdnr, np.uint8))]
    ev = fits.BinTableHDU.from_columns(cols, name="EVENTS")
    for i, (typ, ref, val, dlt) in enumerate([("RA---TAN", x_ref, ra_pnt, -delt), ("DEC--TAN", y_ref, dec_pnt, delt)], 2):
        ev.header.update({f"TCTYP{i}": typ, f"TCRPX{i}": ref, f"TCRVL{i}": val, f"TCDLT{i}": dlt, f"TCUNI{i}": "deg"})
    common = dict(TELESCOP="XMM", INSTRUME=instrument, OBS_ID=obs_id, EXPIDSTR=exp_id, TIMESYS="TT", TIMEREF="LOCAL",
                  MJDREF=MJDREF, TSTART=float(min(g[0] for g in gti)), TSTOP=float(max(g[1] for g in gti)),
                  RA_PNT=ra_pnt, DEC_PNT=dec_pnt)
    ev.header.update(common)
    gti_hdu = fits.BinTableHDU.from_columns([fits.Column("START", "D", array=[g[0] for g in gti]),
                                             fits.Column("STOP", "D", array=[g[1] for g in gti])],
                                            name=f"STDGTI{ccdnr:02d}")
    gti_hdu.header.update(common, HDUCLAS1="GTI", CCDID=ccdnr)
    primary = fits.PrimaryHDU()
    primary.header.update(common)
    return fits.HDUList([primary, ev, gti_hdu])


def spacecraft_times(t_bary: np.ndarray, ra: float, dec: float, orbit=None) -> np.ndarray:
    """TT spacecraft times of photons that reach the barycentre at t_bary (inverts
    the barycentric correction by fixed-point iteration; converged to < 1 ns)."""
    from xmmdb.timing.barycentre import correction

    t = np.asarray(t_bary, dtype=np.float64).copy()
    for _ in range(4):
        t = t_bary - correction(t, ra, dec, orbit)
    return t
