"""Pulsation searches on barycentred photon times: Z^2_n (Buccheri et al. 1983)
and the H-test (de Jager, Raubenheimer & Swanepoel 1989; calibration of de
Jager & Buesching 2010).

Frequencies: fmin + k df, df = 1 / (oversample * T). One observation is
searched coherently (T its span). Several are combined incoherently: the
Z^2_n of each observation are added, which is Z^2 with 2 n K degrees of
freedom for K observations (T the longest span); the H-test needs one
coherent photon set, so it is for one observation at a time.

False-alarm probability of the highest peak: the single-trial chance of a
power at least as high (chi^2_{2nK} survival for Z^2, exp(-0.4 H) for H)
corrected for the (fmax - fmin) T independent frequencies searched:
FAP = 1 - (1 - p)^N.
"""

from __future__ import annotations

import numpy as np

from ..errors import XmmError

MAX_FREQUENCIES = 2_000_000
MAX_WORK = 3e9            # photons x frequencies x harmonics: the bound on one call's cost
BLOCK = 256               # frequencies per block of the recurrence
H_HARMONICS = 20


def harmonic_sums(t: np.ndarray, freqs: np.ndarray, n: int) -> np.ndarray:
    """|sum_j exp(2 pi i m f t_j)|^2 for m = 1..n at each frequency of an evenly
    spaced grid; shape (n, len(freqs)). Blocks of BLOCK frequencies are built
    by a complex recurrence from one exactly computed phase per photon."""
    t = np.asarray(t, dtype=np.float64)
    t = t - t[0] if t.size else t
    out = np.empty((n, len(freqs)))
    if not t.size:
        out[:] = 0.0
        return out
    df = freqs[1] - freqs[0] if len(freqs) > 1 else 0.0
    steps = np.exp(2j * np.pi * np.mod(df * t, 1.0))
    powers = np.empty((BLOCK, t.size), dtype=np.complex128)
    powers[0] = 1.0
    for k in range(1, BLOCK):
        np.multiply(powers[k - 1], steps, out=powers[k])
    for b0 in range(0, len(freqs), BLOCK):
        nb = min(BLOCK, len(freqs) - b0)
        base = np.exp(2j * np.pi * np.mod(freqs[b0] * t, 1.0))
        z = powers[:nb] * base
        zm = z.copy()
        for m in range(n):
            s = zm.sum(axis=1)
            out[m, b0:b0 + nb] = s.real**2 + s.imag**2
            if m + 1 < n:
                zm *= z
    return out


def z2(t: np.ndarray, freqs: np.ndarray, n: int) -> np.ndarray:
    """Z^2_n at each frequency."""
    if not len(t):
        return np.zeros(len(freqs))
    return 2.0 / len(t) * harmonic_sums(t, freqs, n).sum(axis=0)


def htest(t: np.ndarray, freqs: np.ndarray, max_harmonics: int = H_HARMONICS) -> np.ndarray:
    """H = max_m (Z^2_m - 4 m + 4), m = 1..20, at each frequency."""
    if not len(t):
        return np.zeros(len(freqs))
    zm = np.cumsum(2.0 / len(t) * harmonic_sums(t, freqs, max_harmonics), axis=0)
    return (zm - 4.0 * np.arange(1, max_harmonics + 1)[:, None] + 4.0).max(axis=0)


def false_alarm(power: float, statistic: str, dof: int, n_trials: float) -> tuple[float, float]:
    """(single-trial probability, trials-corrected FAP) of a peak."""
    from scipy.stats import chi2

    p = float(np.exp(-0.4 * power)) if statistic == "H" else float(chi2.sf(power, dof))
    p = min(max(p, 0.0), 1.0)
    fap = -np.expm1(n_trials * np.log1p(-p)) if p < 1 else 1.0
    return p, float(fap)


def search(epochs: dict, fmin: float, fmax: float, method: str = "z2", harmonics: int = 2,
           oversample: float = 5.0) -> dict:
    """Periodogram of photon times grouped by observation {obs_id: times}."""
    if not (np.isfinite(fmin) and np.isfinite(fmax)) or not 0 < fmin < fmax:
        raise XmmError(f"need 0 < fmin < fmax (Hz), not fmin={fmin}, fmax={fmax}")
    method = method.lower()
    if method not in ("z2", "h"):
        raise XmmError(f"unknown method {method!r}: use 'z2' (Z^2_n, with \"harmonics\": n) or 'h' (H-test)")
    epochs = {o: np.sort(np.asarray(t, dtype=np.float64)) for o, t in epochs.items() if len(t)}
    n_photons = sum(len(t) for t in epochs.values())
    if n_photons < 2:
        raise XmmError(f"{n_photons} photon(s): too few for a periodogram")
    if method == "h" and len(epochs) > 1:
        raise XmmError(f"the H-test searches one observation coherently; these photons come from {len(epochs)}",
                       hint='choose one with {"obs_id": …}, or use {"method": "z2"}, which adds observations')
    span = max(t[-1] - t[0] for t in epochs.values())
    if span <= 0:
        raise XmmError("the photons span no time")
    df = 1.0 / (oversample * span)
    nf = int(np.floor((fmax - fmin) / df)) + 1
    work = n_photons * nf * (H_HARMONICS if method == "h" else harmonics)
    if nf > MAX_FREQUENCIES or work > MAX_WORK:
        raise XmmError(f"{nf:,} frequencies x {n_photons:,} photons is too large a search "
                       f"(df = {df:.3g} Hz for a {span:,.0f} s span)",
                       hint="narrow fmin..fmax, lower oversample, or choose one observation")
    freqs = fmin + df * np.arange(nf)
    if method == "h":
        power = htest(next(iter(epochs.values())), freqs)
        dof, name = 0, "H"
    else:
        power = sum(z2(t, freqs, harmonics) for t in epochs.values())
        dof, name = 2 * harmonics * len(epochs), f"Z2_{harmonics}"
    best = int(np.argmax(power))
    n_trials = max(1.0, (fmax - fmin) * span)
    p, fap = false_alarm(float(power[best]), "H" if method == "h" else "Z2", dof, n_trials)
    return {"frequency": freqs, "power": power, "best_frequency": float(freqs[best]),
            "best_period": 1.0 / float(freqs[best]), "best_power": float(power[best]),
            "probability": p, "fap": fap, "n_trials": float(n_trials), "n_photons": int(n_photons),
            "statistic": name, "obs_ids": sorted(epochs)}
