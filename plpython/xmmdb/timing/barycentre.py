"""Barycentric correction of XMM-Newton event times.

Event times are TT seconds since MJDREF = 50814.0 at the spacecraft. The time
the photon would have reached the solar-system barycentre, in TDB, is

    t_b = t + (TDB-TT)_geo + r_sc.v_E/c^2 + r_obs.n/c + 2 T_sun ln(1 + cos theta)

- (TDB-TT)_geo: the Fairhead & Bretagnon series at the geocentre (ERFA dtdb);
- r_sc.v_E/c^2: the observer's own Einstein term (up to ~40 us at XMM's apogee);
- r_obs.n/c: the Roemer delay, r_obs = r_Earth (JPL DE421) + r_sc (the orbit file,
  GEI J2000 km, interpolated to each time), n the unit vector to the source;
- 2 T_sun ln(1 + cos theta): the Sun's Shapiro delay in the convention of
  barycorr/axBary/SAS barycen, theta the Sun-centred angle observer-source.

Without an orbit the spacecraft is put at the geocentre (r_sc = 0), which is
off by up to ~0.4 s (XMM's apogee is 115,000 km): callers say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import XmmError
from ..instruments import MJDREF
from . import ephemeris

JDREF = 2400000.5 + MJDREF
C = 299792458.0                      # m/s
T_SUN = 1.32712440041e20 / C**3      # GM_sun / c^3 (TDB-compatible), s
KNOT_S = 32.0                        # knot spacing of the interpolated correction, s (error < 5 ns)
DIRECT_MAX = 4096                    # evaluate directly for at most this many times


def unit_vector(ra_deg: float, dec_deg: float) -> np.ndarray:
    if ra_deg is None or dec_deg is None or not np.isfinite(ra_deg) or not np.isfinite(dec_deg):
        raise XmmError("the position to barycentre to needs a finite ra and dec (degrees)")
    if not -90.0 <= dec_deg <= 90.0:
        raise XmmError(f"dec {dec_deg} is outside -90..90 degrees")
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


@dataclass
class Orbit:
    """A spacecraft orbit: times (TT s since MJDREF), geocentric GEI J2000 positions
    (km) and, if the file has them, velocities (km/s)."""

    time: np.ndarray
    pos_km: np.ndarray
    vel_km_s: np.ndarray | None = None
    obs_id: str | None = None
    margin_s: float = 120.0  # how far past the first/last sample a time may be

    def __post_init__(self):
        t = np.asarray(self.time, dtype=np.float64)
        pos = np.asarray(self.pos_km, dtype=np.float64).reshape(len(t), 3)
        order = np.argsort(t, kind="stable")
        t, pos = t[order], pos[order]
        keep = np.concatenate([[True], np.diff(t) > 0]) & np.any(pos != 0, axis=1) & np.all(np.isfinite(pos), axis=1)
        vel = None
        if self.vel_km_s is not None:
            vel = np.asarray(self.vel_km_s, dtype=np.float64).reshape(len(order), 3)[order]
            keep &= np.all(np.isfinite(vel), axis=1)
            vel = vel[keep]
        self.time, self.pos_km, self.vel_km_s = t[keep], pos[keep], vel
        if len(self.time) < 4:
            raise XmmError(f"the orbit of observation {self.obs_id} has {len(self.time)} usable samples; "
                           "at least 4 are needed to interpolate it")
        from scipy.interpolate import CubicHermiteSpline, CubicSpline

        if vel is not None:
            self._spline = CubicHermiteSpline(self.time, self.pos_km, vel, axis=0)
        else:
            self._spline = CubicSpline(self.time, self.pos_km, axis=0)

    @classmethod
    def from_columns(cls, cols: dict, obs_id: str | None = None) -> "Orbit | None":
        """From a mapping of arrays as fetch_orbit gives it (time, x/y/z or gei_x/…,
        optionally vx/vy/vz); None for a missing or empty orbit."""
        if not cols:
            return None
        low = {k.lower(): v for k, v in dict(cols).items()}

        def col(*names):
            for n in names:
                if n in low and low[n] is not None:
                    return np.asarray(low[n], dtype=np.float64)
            return None

        t = col("time")
        xyz = [col(f"gei_{a}", a) for a in "xyz"]
        if t is None or any(c is None for c in xyz) or len(t) == 0:
            return None
        v = [col(f"v{a}", f"gei_v{a}") for a in "xyz"]
        vel = np.column_stack(v) if all(c is not None for c in v) else None
        return cls(t, np.column_stack(xyz), vel, obs_id=obs_id)

    def covers(self, t: np.ndarray) -> bool:
        return bool(t.size == 0 or (t.min() >= self.time[0] - self.margin_s and t.max() <= self.time[-1] + self.margin_s))

    def position_m(self, t: np.ndarray) -> np.ndarray:
        if not self.covers(t):
            raise XmmError(f"times {t.min():.6g}..{t.max():.6g} s are outside the orbit of observation "
                           f"{self.obs_id} ({self.time[0]:.1f}..{self.time[-1]:.1f} s TT since MJD 50814)",
                           hint="barycentre each observation's times with its own obs_id")
        return self._spline(t) * 1000.0


def correction_direct(t: np.ndarray, n_hat: np.ndarray, orbit: Orbit | None) -> np.ndarray:
    """t_b - t in seconds, evaluated term by term at every time (coverage by the
    orbit checked by the caller)."""
    import erfa

    t = np.asarray(t, dtype=np.float64)
    einstein = erfa.dtdb(JDREF, t / 86400.0, 0.0, 0.0, 0.0, 0.0)
    r_e, v_e, r_s = ephemeris.earth_sun(JDREF, (t + einstein) / 86400.0)
    r_sc = orbit._spline(t) * 1000.0 if orbit is not None else np.zeros_like(r_e)
    r_obs = r_e + r_sc
    topo = np.einsum("ij,ij->i", r_sc, v_e) / C**2
    roemer = r_obs @ n_hat / C
    sun_obs = r_obs - r_s
    cos_theta = (sun_obs @ n_hat) / np.linalg.norm(sun_obs, axis=1)
    shapiro = 2.0 * T_SUN * np.log1p(cos_theta)
    return einstein + topo + roemer + shapiro


def correction(t, ra_deg: float, dec_deg: float, orbit: Orbit | None = None) -> np.ndarray:
    """t_b - t (s) for TT times t (s since MJDREF 50814). Large arrays are evaluated on
    knots KNOT_S apart around the times and interpolated with 4-point Lagrange cubics
    (error < 5 ns at perigee, far below the photon store's 1 us)."""
    t = np.asarray(t, dtype=np.float64)
    n_hat = unit_vector(ra_deg, dec_deg)
    if not np.all(np.isfinite(t)):
        raise XmmError("the times to barycentre must be finite numbers")
    if orbit is not None:
        orbit.position_m(t[[np.argmin(t), np.argmax(t)]] if t.size else t)  # raises if not covered
    if t.size <= DIRECT_MAX:
        return correction_direct(t, n_hat, orbit)
    base = t.min()
    u = (t - base) / KNOT_S
    k = np.floor(u)
    f = u - k
    need = np.unique(np.concatenate([k - 1, k, k + 1, k + 2]))
    values = correction_direct(base + need * KNOT_S, n_hat, orbit)
    i = np.searchsorted(need, k - 1)
    w0 = -f * (f - 1) * (f - 2) / 6
    w1 = (f + 1) * (f - 1) * (f - 2) / 2
    w2 = -(f + 1) * f * (f - 2) / 2
    w3 = (f + 1) * f * (f - 1) / 6
    return w0 * values[i] + w1 * values[i + 1] + w2 * values[i + 2] + w3 * values[i + 3]


def barycentre(t, ra_deg: float, dec_deg: float, orbit: Orbit | None = None) -> np.ndarray:
    """Barycentred times: TDB seconds since MJDREF 50814 at the solar-system barycentre."""
    t = np.asarray(t, dtype=np.float64)
    return t + correction(t, ra_deg, dec_deg, orbit)
