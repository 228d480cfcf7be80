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
MAX_WORK = 2e10           # photons x frequencies x harmonics: the bound on one call's cost (~20 s)
CHUNK_ELEMENTS = 2_000_000  # photons per chunk x (K1 + K2): bounds the factor matrices (32 MB)
H_HARMONICS = 20


def _rows(step: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out[k] = step**k, by recurrence (k <= ~1500: rounding stays ~1e-13)."""
    out[0] = 1.0
    for k in range(1, len(out)):
        np.multiply(out[k - 1], step, out=out[k])
    return out


def harmonic_powers(t: np.ndarray, freqs: np.ndarray, n: int):
    """Yields, for m = 1..n, |sum_j exp(2 pi i m f t_j)|^2 at each frequency of
    the evenly spaced grid `freqs`.

    With f_k = f0 + (k1 K2 + k2) df the sum factorises,
        sum_j [e^{2 pi i m f0 t_j} e^{2 pi i m k1 K2 df t_j}] [e^{2 pi i m k2 df t_j}],
    a complex matrix product (K1 x N)(N x K2): one BLAS zgemm per harmonic and
    photon chunk, the factors built by recurrence from three exact phases per
    photon. About 1 ns per photon, frequency and harmonic."""
    t = np.asarray(t, dtype=np.float64)
    t = t - t[0] if t.size else t
    freqs = np.asarray(freqs, dtype=np.float64)
    K = len(freqs)
    df = freqs[1] - freqs[0] if K > 1 else 0.0
    k2n = int(np.ceil(np.sqrt(K)))
    k1n = int(np.ceil(K / k2n))
    chunk = max(1, CHUNK_ELEMENTS // (k1n + k2n))
    for m in range(1, n + 1):
        total = np.zeros((k1n, k2n), dtype=np.complex128)
        for c0 in range(0, t.size, chunk):
            tc = t[c0:c0 + chunk]
            phase = lambda f: np.exp(2j * np.pi * np.mod(m * f * tc, 1.0))  # noqa: E731
            a = _rows(phase(k2n * df), np.empty((k1n, tc.size), np.complex128))
            a *= phase(freqs[0])
            c = _rows(phase(df), np.empty((k2n, tc.size), np.complex128))
            total += a @ c.T
        s = total.ravel()[:K]
        yield s.real**2 + s.imag**2


def z2(t: np.ndarray, freqs: np.ndarray, n: int) -> np.ndarray:
    """Z^2_n at each frequency."""
    out = np.zeros(len(freqs))
    for p in harmonic_powers(t, freqs, n) if len(t) else ():
        out += p
    return 2.0 / max(len(t), 1) * out


def htest(t: np.ndarray, freqs: np.ndarray, max_harmonics: int = H_HARMONICS) -> np.ndarray:
    """H = max_m (Z^2_m - 4 m + 4), m = 1..20, at each frequency."""
    if not len(t):
        return np.zeros(len(freqs))
    zm = np.zeros(len(freqs))
    h = np.full(len(freqs), -np.inf)
    for m, p in enumerate(harmonic_powers(t, freqs, max_harmonics), 1):
        zm += 2.0 / len(t) * p
        np.maximum(h, zm - 4.0 * m + 4.0, out=h)
    return h


def frame_time(t: np.ndarray, tol: float = 5e-5) -> float:
    """The readout frame time (s) on which the times are quantised (EPIC full frame:
    pn 73.4 ms, MOS 2.6 s), or 0 if they are not (or too few to tell). A frame
    time puts power at its harmonics and nothing above 1/(2 frame) can be seen."""
    d = np.diff(np.sort(np.asarray(t, dtype=np.float64)))
    d = d[d > tol]  # same frame (up to the photon store's 1 us)
    if len(d) < 10:
        return 0.0
    for m in (1, 2, 3, 4):  # the smallest gap may span a few frames
        frame = d.min() / m
        for _ in range(2):  # least-squares refinement on the gaps' frame counts
            k = np.round(d / frame)
            frame = float(np.sum(d * k) / np.sum(k * k))
        resid = np.abs(d - k * frame)
        if np.mean(resid < np.minimum(0.02 * frame, tol + 2e-6 * k)) > 0.9:
            return frame
    return 0.0


def false_alarm(power: float, statistic: str, dof: int, n_trials: float) -> tuple[float, float]:
    """(single-trial probability, trials-corrected FAP) of a peak."""
    from scipy.stats import chi2

    p = float(np.exp(-0.4 * power)) if statistic == "H" else float(chi2.sf(power, dof))
    p = min(max(p, 0.0), 1.0)
    fap = -np.expm1(n_trials * np.log1p(-p)) if p < 1 else 1.0
    return p, float(fap)


SECONDS_PER_OPERATION = 0.3e-9   # photon x frequency x harmonic, at the fast end of what machines do


def search(epochs: dict, fmin: float, fmax: float, method: str = "z2", harmonics: int = 2,
           oversample: float = 5.0, budget_s: float | None = None) -> dict:
    """Periodogram of photon times grouped by observation {obs_id: times}. With budget_s (the
    caller's statement timeout), a search whose cost estimate is longer is refused before it starts."""
    if fmin is None or fmax is None or not (np.isfinite(fmin) and np.isfinite(fmax)) or not 0 < fmin < fmax:
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
    if budget_s and work * SECONDS_PER_OPERATION > budget_s:
        raise XmmError(f"this search ({nf:,} frequencies x {n_photons:,} photons) would take about "
                       f"{work * SECONDS_PER_OPERATION:,.0f} s, more than the statement timeout of {budget_s:g} s",
                       hint="narrow fmin..fmax, lower oversample or harmonics, or raise statement_timeout",
                       sqlstate="54000")
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
