"""The EPIC point-spread function: a King profile whose core and slope depend on
energy and off-axis angle (the "medium accuracy" model of the XMM-Newton
calibration, Ghizzardi 2001, 2002: EPIC-MCT-TN-011 for MOS, -012 for pn):

    PSF(r) ∝ (1 + (r / r_c)²)^(−α)
    r_c(E, θ) = a + b·E + c·θ + d·E·θ        (arcsec; E in keV, θ off-axis in arcmin)
    α(E, θ)   = x + y·E + z·θ + w·E·θ

normalised over the plane, so that the fraction of a point source's photons
within r (the encircled energy) is

    EEF(r) = 1 − (1 + (r / r_c)²)^(1 − α)

and the radius enclosing a fraction f is r_c·sqrt((1 − f)^(1 / (1 − α)) − 1).
The simulated sample sky draws its photons from the same model, so the
aperture photometry of xmm_upper_limit is exact there and as good as the
model on real data (a few per cent within 10' of the axis, worse beyond,
where the real PSF is elongated; docs/upper-limits.md).
"""

from __future__ import annotations

import numpy as np

from ..instruments import FOV_ARCMIN

# (a, b, c, d) of r_c and (x, y, z, w) of α, per camera.
KING = {
    "EPN": ((6.636, -0.305, -0.175, -0.0067), (1.525, -0.015, -0.012, -0.0010)),
    "EMOS1": ((5.074, -0.236, 0.002, -0.0180), (1.472, -0.010, -0.001, -0.0016)),
    "EMOS2": ((4.759, -0.203, 0.014, -0.0229), (1.411, -0.005, -0.001, -0.0002)),
}
# Outside the energies and angles of the calibration the parameters are held at its edges;
# at high energy far off axis the linear forms reach unphysical values (r_c <= 0 above
# ~9 keV at 15'), so r_c and α are held at floors there.
ENERGY_RANGE_KEV = (0.2, 10.0)
OFFAXIS_RANGE_ARCMIN = (0.0, 15.0)
MIN_CORE_ARCSEC = 1.0
MIN_SLOPE = 1.1


def king_parameters(instrument: str, energy_kev, offaxis_arcmin):
    """(r_c arcsec, α) for a camera (EPN, EMOS1, EMOS2) at energy (keV) and off-axis angle (arcmin)."""
    (a, b, c, d), (x, y, z, w) = KING[instrument]
    e = np.clip(np.asarray(energy_kev, float), *ENERGY_RANGE_KEV)
    t = np.clip(np.asarray(offaxis_arcmin, float), *OFFAXIS_RANGE_ARCMIN)
    return (np.maximum(a + b * e + c * t + d * e * t, MIN_CORE_ARCSEC),
            np.maximum(x + y * e + z * t + w * e * t, MIN_SLOPE))


def encircled_energy(instrument: str, radius_arcsec, energy_kev, offaxis_arcmin):
    """Fraction of a point source's photons within radius_arcsec of it."""
    rc, alpha = king_parameters(instrument, energy_kev, offaxis_arcmin)
    r = np.asarray(radius_arcsec, float)
    return 1.0 - (1.0 + (r / rc) ** 2) ** (1.0 - alpha)


def radius_enclosing(instrument: str, fraction, energy_kev, offaxis_arcmin):
    """The radius (arcsec) that encloses `fraction` (0 < f < 1) of a point source's photons."""
    rc, alpha = king_parameters(instrument, energy_kev, offaxis_arcmin)
    return rc * np.sqrt((1.0 - np.asarray(fraction, float)) ** (1.0 / (1.0 - alpha)) - 1.0)


def band_encircled_energy(instrument: str, radius_arcsec, emin_kev: float, emax_kev: float, offaxis_arcmin,
                          spectrum=None) -> float:
    """The encircled energy of a band: the mean over the band's counts spectrum, given as
    (energies keV, counts) (the source's model folded through the responses: the PSF
    narrows with energy, and a band's counts crowd to its soft end), else over energies
    evenly spaced in log E."""
    if spectrum is not None:
        energy, counts = spectrum
        inside = (energy >= emin_kev) & (energy < emax_kev) & (counts > 0)
        if inside.any():
            return float(np.average(encircled_energy(instrument, radius_arcsec, energy[inside], offaxis_arcmin),
                                    weights=counts[inside]))
    e = np.geomspace(emin_kev, emax_kev, 9)
    return float(np.mean(encircled_energy(instrument, radius_arcsec, e, offaxis_arcmin)))


def draw_radii(u, instrument: str, energy_kev, offaxis_arcmin):
    """Radii (arcsec) of photons of the given energies, from uniform deviates u in [0, 1)."""
    return radius_enclosing(instrument, u, energy_kev, offaxis_arcmin)


def vignetting(offaxis_arcmin, margin_arcmin: float = 0.0):
    """Mean EPIC vignetting, the effective area relative to the axis off-axis, the same at every
    energy: 1 - 0.45 (theta / 15')^2 inside the field of view (FOV_ARCMIN), 0 beyond it and its
    margin. The product uses it only where no exposure map is loaded; the sample sky's
    simulator draws events, counts and maps with it (margin 0.5': a source just outside the
    field still scatters photons into it)."""
    t = np.asarray(offaxis_arcmin, float)
    return np.clip(1.0 - 0.45 * (t / FOV_ARCMIN) ** 2, 0.0, 1.0) * (t < FOV_ARCMIN + margin_arcmin)
