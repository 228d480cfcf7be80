"""Pulsation searches on barycentred photon times: Z^2_n (Buccheri et al. 1983)
and the H-test (de Jager, Raubenheimer & Swanepoel 1989; calibration of de
Jager & Buesching 2010), corrected for the phase exposure of the good time
intervals (Window, corrected_powers).

Frequencies: fmin + k df, df = 1 / (oversample * T). One observation is
searched coherently (T its span). Several are searched coherently, as one
photon set (T from the first photon to the last), when their spans fill a
third of that time (close observations: combination); else incoherently: the
Z^2_n of each observation are added, which is Z^2 with 2 n K degrees of
freedom for K observations (T the longest span); the H-test needs one
coherent photon set. An fdot grid (steps of 4 / (oversample T^2): Z^2 halves
3.2 / T^2 away from the true fdot) finds pulsars that spin up or down, or are
accelerated in a binary, within an observation.

The reported frequency is the fundamental: the peak's relatives f/3, f/2, 2f
and 3f are refined and the lowest one whose first harmonic alone is a signal
wins (harmonic_candidates); all are reported.

False-alarm probability: the single-trial chance of a power at least as high
(chi^2_{2nK} survival for Z^2, exp(-0.4 H) for H) corrected for the number of
independent trials, N = c_n (fmax - fmin) T with c_n measured for n harmonics
(TRIALS_PER_BAND: 3.6 to 8.6, 5.0 for the default Z^2_2), times the fdot
trials (1 + 2 fdot_max T^2 / 3, measured the same way): FAP = 1 - (1 - p)^N. tests/test_timing_fap.py
checks that constant sources inside real GTIs get FAPs as a uniform
distribution would, with and without an fdot grid.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import XmmError
from ..interrupts import Cancelled, interrupt_pending

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


def _phase(f: float, t: np.ndarray) -> np.ndarray:
    """exp(2 pi i f t), the phase reduced to one cycle first (exact for large f t)."""
    return np.exp(2j * np.pi * np.mod(f * t, 1.0))


def harmonic_sums(t: np.ndarray, freqs: np.ndarray, n, weights: np.ndarray | None = None,
                  t0: float | None = None, extra: np.ndarray | None = None):
    """Yields, for m = 1..n (or each m of n when it is a list), sum_j w_j exp(2 pi i m (f (t_j - t0) + x_j))
    at each frequency of the evenly spaced grid `freqs` (w_j = 1 without weights; t0 = the first
    time by default; x_j = `extra`, a phase in cycles such as a frequency derivative's, or 0).

    With f_k = f0 + (k1 K2 + k2) df the sum factorises,
        sum_j [w_j e^{2 pi i m f0 t_j} e^{2 pi i m k1 K2 df t_j}] [e^{2 pi i m k2 df t_j}],
    a complex matrix product (K1 x N)(N x K2): one BLAS zgemm per harmonic and
    photon chunk, the factors built by recurrence from three exact phases per
    photon. About 1 ns per photon, frequency and harmonic."""
    t = np.asarray(t, dtype=np.float64)
    t = t - (t[0] if t0 is None and t.size else (t0 or 0.0))
    freqs = np.asarray(freqs, dtype=np.float64)
    K = len(freqs)
    df = (freqs[-1] - freqs[0]) / (K - 1) if K > 1 else 0.0   # not freqs[1] - freqs[0]: its rounding grows with k
    k2n = int(np.ceil(np.sqrt(K)))
    k1n = int(np.ceil(K / k2n))
    chunk = max(1, CHUNK_ELEMENTS // (k1n + k2n))
    for m in (range(1, n + 1) if isinstance(n, int) else n):
        total = np.zeros((k1n, k2n), dtype=np.complex128)
        for c0 in range(0, t.size, chunk):
            if interrupt_pending():   # a compute thread stops with the statement
                raise Cancelled()
            tc = t[c0:c0 + chunk]
            a = _rows(_phase(m * (k2n * df), tc), np.empty((k1n, tc.size), np.complex128))
            first = _phase(m * freqs[0], tc)
            if extra is not None:
                first *= np.exp(2j * np.pi * np.mod(m * extra[c0:c0 + chunk], 1.0))
            a *= first if weights is None else first * weights[c0:c0 + chunk]
            c = _rows(_phase(m * df, tc), np.empty((k2n, tc.size), np.complex128))
            total += a @ c.T
        yield total.ravel()[:K]


class Window:
    """The phase exposure of a constant source observed through good time intervals.

    A photon of a constant source arrives uniformly in the good time of its exposure
    (exposures weighted by their share of the photons), so at frequency f its m-th
    harmonic phase factor exp(2 pi i m f t) has the mean
        W_m(f) = sum_e w_e / T_e  sum_gti (e^{2 pi i m f b} - e^{2 pi i m f a}) / (2 pi i m f)
    (T_e the exposure's on-time, a..b its intervals); W_m = 0 only where the intervals
    cover every phase evenly. Gaps (XMM's orbit, flares cut out) make W_m large at low
    frequencies and at the gaps' own periods: an uncorrected Z^2 reports them as signals."""

    def __init__(self, exposures: list, t0: float):
        """exposures: [(start array, stop array, weight)] of one observation."""
        self.exposures = [(np.asarray(a, np.float64), np.asarray(b, np.float64), float(w)) for a, b, w in exposures
                          if len(a) and float(w) > 0]
        total = sum(w for *_, w in self.exposures)
        self.exposures = [(a, b, w / total) for a, b, w in self.exposures] if total > 0 else []
        self.t0 = t0

    def edge_count(self, fdot: float = 0.0) -> int:
        """The points harmonics() sums over: each interval's two ends (in pieces, three sums, with fdot)."""
        if not fdot:
            return sum(2 * len(a) for a, _, _ in self.exposures)
        return sum(6 * len(split_intervals(a, b, piece_length(fdot))[0]) for a, b, _ in self.exposures)

    def harmonics(self, freqs: np.ndarray, ms: list, fdot: float = 0.0, tm: float = 0.0) -> np.ndarray:
        """W_m(f) for each m of ms: a (len(ms), K) complex array (two rows at a time: the
        memory of a harmonic, not of all of them). With a frequency derivative (phase
        f (t - t0) + fdot (t - tm)^2 / 2) each interval is taken at its own frequency
        f + fdot (c - tm) about its centre c: intervals cut into pieces of fdot L^2 / 8 <= 0.001
        cycle, and 1 / (f + fdot (c - tm)) to second order in fdot (c - tm) / f, which the
        search keeps below 0.1 (MAX_DRIFT). Checked against direct integration: W_m within 5e-4
        (a bias of N (5e-4)^2 in the power of N photons: 0.03 for 1e5)."""
        freqs = np.asarray(freqs, np.float64)
        out = np.zeros((len(ms), len(freqs)), np.complex128)
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = np.where(freqs > 0, 1.0 / freqs, 0.0)
        for a, b, w in self.exposures:
            if fdot:   # pieces short enough for the linear phase
                a, b = split_intervals(a, b, piece_length(fdot))
            edges = np.concatenate([b, a])
            sign = np.concatenate([np.ones(len(b)), -np.ones(len(a))]) * (w / np.sum(b - a))
            extra = c = None
            if fdot:
                c = np.tile(0.5 * (a + b) - tm, 2)
                extra = fdot * (0.5 * c * c + c * (edges - tm - c))
            sums = harmonic_sums(edges, freqs, ms, sign, self.t0, extra)
            zero = itertools.repeat(0.0)
            drift = harmonic_sums(edges, freqs, ms, sign * c, self.t0, extra) if fdot else zero
            drift2 = harmonic_sums(edges, freqs, ms, sign * c * c, self.t0, extra) if fdot else zero
            for row, (m, s, s1, s2) in enumerate(zip(ms, sums, drift, drift2)):
                # sum of (e^{2 pi i m phase(b)} - e^{2 pi i m phase(a)}) / (2 pi i m (f + fdot c)),
                # 1 / (f + x) = (1 - x / f + x^2 / f^2) / f to second order
                s = s - fdot * s1 * inverse + fdot * fdot * s2 * inverse * inverse if fdot else s
                out[row] += np.where(freqs > 0, s * inverse / (2j * np.pi * m), w)
        return out


def piece_length(fdot: float) -> float:
    """The longest interval whose phase is linear to fdot L^2 / 8 <= 0.001 cycle."""
    return float(np.sqrt(0.008 / abs(fdot)))


def split_intervals(a: np.ndarray, b: np.ndarray, longest: float) -> tuple[np.ndarray, np.ndarray]:
    """The intervals a..b cut into equal pieces no longer than `longest`."""
    pieces = np.maximum(1, np.ceil((b - a) / longest)).astype(int)
    k = np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    step = np.repeat((b - a) / pieces, pieces)
    start = np.repeat(a, pieces) + k * step
    return start, start + step


def corrected_powers(t: np.ndarray, freqs: np.ndarray, n: int, window: Window | None, fdot: float = 0.0,
                     tm: float = 0.0):
    """Yields, for m = 1..n, the harmonic's power 2 |S_m|^2 / N (S_m = sum of the photons'
    phase factors), corrected for the window: d = S_m - N W_m against its covariance
    N C_m, C_m = 1/2 [[1 + Re W_2m - 2 Re^2 W_m, Im W_2m - 2 Re W_m Im W_m], [.., 1 - Re W_2m - 2 Im^2 W_m]],
    i.e. d^T (N C_m)^-1 d, chi^2 with 2 degrees of freedom for a constant source (without a
    window, W = 0 and it is the plain 2 |S_m|^2 / N). Where the window leaves a harmonic
    almost no phase freedom (det C_m < 1e-4) it carries no information and counts 0. With fdot,
    the phase is f (t - t0) + fdot (t - tm)^2 / 2: f is the frequency at tm."""
    t = np.asarray(t, np.float64)
    N = max(len(t), 1)
    extra = 0.5 * fdot * (t - tm) ** 2 if fdot else None
    if window is None or not window.exposures:
        for s in harmonic_sums(t, freqs, n, extra=extra):
            yield 2.0 / N * (s.real ** 2 + s.imag ** 2)
        return
    for m, s in enumerate(harmonic_sums(t, freqs, n, t0=window.t0, extra=extra), 1):
        wm, w2 = window.harmonics(freqs, [m, 2 * m], fdot, tm)
        dc, ds = s.real - N * wm.real, s.imag - N * wm.imag
        a = 0.5 * (1 + w2.real - 2 * wm.real ** 2)
        b = 0.5 * (w2.imag - 2 * wm.real * wm.imag)
        c = 0.5 * (1 - w2.real - 2 * wm.imag ** 2)
        det = a * c - b * b
        good = det > 1e-4 / 4
        with np.errstate(divide="ignore", invalid="ignore"):
            yield np.where(good, (c * dc * dc - 2 * b * dc * ds + a * ds * ds) / (N * np.where(good, det, 1.0)), 0.0)


def z2(t: np.ndarray, freqs: np.ndarray, n: int, window: Window | None = None, fdot: float = 0.0,
       tm: float = 0.0) -> np.ndarray:
    """Z^2_n at each frequency (exposure-corrected with a window)."""
    out = np.zeros(len(freqs))
    for p in corrected_powers(t, freqs, n, window, fdot, tm) if len(t) else ():
        out += p
    return out


def htest(t: np.ndarray, freqs: np.ndarray, max_harmonics: int = H_HARMONICS, window: Window | None = None,
          fdot: float = 0.0, tm: float = 0.0) -> np.ndarray:
    """H = max_m (Z^2_m - 4 m + 4), m = 1..20, at each frequency."""
    if not len(t):
        return np.zeros(len(freqs))
    zm = np.zeros(len(freqs))
    h = np.full(len(freqs), -np.inf)
    for m, p in enumerate(corrected_powers(t, freqs, max_harmonics, window, fdot, tm), 1):
        zm += p
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
    for m in range(1, 33):  # the smallest gap may span several frames (a faint source: few gaps)
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
    return p, false_alarm_of(p, n_trials)


def false_alarm_of(p: float, n_trials: float) -> float:
    """1 - (1 - p)^N: the chance that any of N independent trials is as extreme as p."""
    return float(-np.expm1(n_trials * np.log1p(-p))) if p < 1 else 1.0


SECONDS_PER_OPERATION = 0.3e-9   # photon x frequency x harmonic, at the fast end of what machines do
MAX_THREADS = 4                  # compute threads of one call (numpy and BLAS release the GIL)
MAX_FDOT = 1e-6                  # Hz/s: |fdot| searched at most (a 100 Hz pulsar accelerated at 3 m/s^2)
FDOT_CELL = 4.0                  # fdot T^2 between grid points at oversample 1: Z^2 halves 3.2/T^2 away
# fdot T^2 of one independent fdot trial, measured like TRIALS_PER_BAND: 2,200 constant sources
# in the Abell 907 MOS2 GTIs, 3-9 mHz, fdot_max 1e-7 Hz/s (12 independent cells): the 1 % tail
# wants 1 + (0.6 to 0.7) fdot_max T^2 trials per frequency trial.
FDOT_INDEPENDENT = 3.0
MAX_DRIFT = 0.1                  # |fdot| T / 2 <= MAX_DRIFT f: a pulsar's frequency drifts by at most 10 %
COHERENT_FILL = 1.0 / 3.0        # observations are phase-connected when their spans fill this much of the whole


COMBINE = ("auto", "coherent", "incoherent")


def combination(epochs: dict, combine: str) -> str:
    """'coherent' or 'incoherent': how several observations are searched. auto: coherently when
    their spans fill at least COHERENT_FILL of the time from the first photon to the last (close
    observations, whose gaps a phase carries across), else each on its own with the powers added."""
    if combine not in COMBINE:
        raise XmmError(f"unknown combine {combine!r}: use 'auto', 'coherent' or 'incoherent'")
    if len(epochs) < 2 or combine != "auto":
        return "coherent" if len(epochs) < 2 else combine
    whole = max(t[-1] for t in epochs.values()) - min(t[0] for t in epochs.values())
    filled = sum(t[-1] - t[0] for t in epochs.values())
    return "coherent" if whole > 0 and filled >= COHERENT_FILL * whole else "incoherent"


def searched_span(epochs: dict, combine: str) -> float:
    """T of the search: from the first photon to the last when the observations are searched
    coherently, else the longest observation's."""
    spans = [t[-1] - t[0] for t in epochs.values() if len(t)]
    if combination(epochs, combine) == "coherent" and epochs:
        return max(t[-1] for t in epochs.values()) - min(t[0] for t in epochs.values())
    return max(spans, default=0.0)


def search(epochs: dict, fmin: float, fmax: float, method: str = "z2", harmonics: int = 2,
           oversample: float = 5.0, budget_s: float | None = None, windows: dict | None = None,
           fdot_max: float = 0.0, combine: str = "auto", threads: int = 1) -> dict:
    """Periodogram of photon times grouped by observation {obs_id: times}; `windows`
    {obs_id: [(gti start, gti stop, weight) per exposure]} corrects each observation for its
    phase exposure (Window). Several observations are searched as one coherent photon set or
    each on its own, their powers added (combination). With fdot_max, frequency derivatives
    -fdot_max..fdot_max are searched too (steps of FDOT_CELL / (oversample T^2); the reported
    frequency is that at the middle of each observation). With budget_s (the caller's statement
    timeout), a search whose cost estimate is longer is refused before it starts. `threads`
    compute threads share the frequency grid."""
    if fmin is None or fmax is None or not (np.isfinite(fmin) and np.isfinite(fmax)) or not 0 < fmin < fmax:
        raise XmmError(f"need 0 < fmin < fmax (Hz), not fmin={fmin}, fmax={fmax}")
    method = method.lower()
    if method not in ("z2", "h"):
        raise XmmError(f"unknown method {method!r}: use 'z2' (Z^2_n, with \"harmonics\": n) or 'h' (H-test)")
    if not (np.isfinite(fdot_max) and 0 <= fdot_max <= MAX_FDOT):
        raise XmmError(f"fdot_max must be between 0 and {MAX_FDOT:g} Hz/s, not {fdot_max}")
    epochs = {o: np.sort(np.asarray(t, dtype=np.float64)) for o, t in epochs.items() if len(t)}
    n_photons = sum(len(t) for t in epochs.values())
    if n_photons < 2:
        raise XmmError(f"{n_photons} photon(s): too few for a periodogram")
    how = combination(epochs, combine)
    obs_ids = sorted(epochs)
    if how == "coherent" and len(epochs) > 1:
        windows = {"+".join(obs_ids): [w for o in obs_ids for w in (windows or {}).get(o) or []]} if windows else None
        epochs = {"+".join(obs_ids): np.sort(np.concatenate(list(epochs.values())))}
    if method == "h" and len(epochs) > 1:
        raise XmmError(f"the H-test searches one coherent photon set; these photons come from {len(epochs)} "
                       "observations too far apart to connect",
                       hint='choose one with {"obs_id": …}, or use {"method": "z2"}, which adds observations')
    span = searched_span(epochs, "incoherent")   # one epoch each now: its span
    if span <= 0:
        raise XmmError("the photons span no time")
    df = 1.0 / (oversample * span)
    nf = int(np.floor((fmax - fmin) / df)) + 1
    dfdot = FDOT_CELL / (oversample * span * span)
    fdots = dfdot * np.arange(-np.floor(fdot_max / dfdot), np.floor(fdot_max / dfdot) + 1) if fdot_max else np.zeros(1)
    n_harm = H_HARMONICS if method == "h" else harmonics
    window = {o: Window(windows[o], float(t[0])) if windows and windows.get(o) else None for o, t in epochs.items()}
    # the window's interval edges are summed like photons (three times, in pieces, with an fdot grid)
    edges = sum(w.edge_count(fdot_max) for w in window.values() if w is not None)
    work = (n_photons + edges) * nf * n_harm * len(fdots)
    if nf > MAX_FREQUENCIES or work > MAX_WORK:
        raise XmmError(f"{nf:,} frequencies x {len(fdots):,} fdot x {n_photons:,} photons is too large a search "
                       f"(df = {df:.3g} Hz for a {span:,.0f} s span)",
                       hint="narrow fmin..fmax or fdot_max, lower oversample, or choose one observation")
    # one thread's time: the threads share the grid, not the per-harmonic and window work
    if budget_s and work * SECONDS_PER_OPERATION > budget_s:
        raise XmmError(f"this search ({nf:,} frequencies x {len(fdots):,} fdot x {n_photons:,} photons) would take about "
                       f"{work * SECONDS_PER_OPERATION:,.0f} s, more than the statement timeout of {budget_s:g} s",
                       hint="narrow fmin..fmax, lower oversample or harmonics, or raise statement_timeout",
                       sqlstate="54000")
    freqs = fmin + df * np.arange(nf)
    power, best_fdot = np.full(nf, -np.inf), np.zeros(nf)
    for fd in fdots:
        # a drifting frequency stays inside the band, f - |fdot| T / 2 >= fmin, and within
        # MAX_DRIFT of itself (a Doppler shift is ~1e-3; the window's expansion needs it)
        first = int(np.searchsorted(freqs, max(fmin + abs(fd) * span / 2, abs(fd) * span / (2 * MAX_DRIFT))))
        if first >= nf:
            continue
        p = statistic_at(epochs, window, freqs[first:], method, harmonics, fd, threads)
        better = p > power[first:]
        power[first:][better], best_fdot[first:][better] = p[better], fd
    peak = int(np.argmax(power))
    n_trials = trials(fmin, fmax, span, method, harmonics, fdot_max)
    name = "H" if method == "h" else f"Z2_{harmonics}"
    dof = 0 if method == "h" else 2 * harmonics * len(epochs)
    candidates = harmonic_candidates(epochs, window, float(freqs[peak]), df, method, harmonics, dof, n_trials,
                                     (fmin, fmax), float(best_fdot[peak]))
    best = next((c for c in candidates if c["fundamental"]), candidates[0])
    p, fap = false_alarm(best["power"], "H" if method == "h" else "Z2", dof, n_trials)
    if len(obs_ids) == 1:
        said = "coherent: one observation"
    elif how == "coherent":
        said = f"coherent: {len(obs_ids)} observations phase-connected over {span / 86400:.3g} d"
    else:
        said = f"incoherent: the powers of {len(obs_ids)} observations added"
    return {"frequency": freqs, "power": power, "best_frequency": best["frequency"],
            "best_period": 1.0 / best["frequency"], "best_power": best["power"], "best_fdot": best["fdot"],
            "probability": p, "fap": fap, "n_trials": float(n_trials), "n_photons": int(n_photons),
            "statistic": name, "obs_ids": obs_ids, "candidates": candidates, "combination": said,
            "reference_times": {o: 0.5 * (t[0] + t[-1]) for o, t in epochs.items()},
            "exposure_corrected": all(w is not None for w in window.values())}


# Independent trials per 1/T of the searched band, c_n: the maximum over a finely sampled
# band (oversample 5) is higher than over 1/T-spaced frequencies, and the m-th harmonic
# decorrelates over 1/(m T), so Z^2_n sees more trials than the fundamental's spacing.
# Measured on constant sources of 300 photons drawn uniformly inside the GTIs of the three
# Abell 907 MOS1 exposures, searched at 1-10 mHz: N from the quantile of the smallest
# single-trial chance p, 1 - (1 - p)^N = FAP. N grows into the tail (for Z^2_2, 3,000
# searches: c = 3.6 at FAP 50 %, 4.1 at 10 %, 4.9 at 1 %): the factors are those of the
# 1 % tail, so smaller FAPs are right and larger ones conservative (for n != 2: 300
# searches each at 10 %, times the 1.3 that Z^2_2 gains from 10 % to 1 %). The H-test's
# exp(-0.4 H) is a tail formula, hence its large factor. tests/test_timing_fap.py checks
# the result on other GTIs in another band.
TRIALS_PER_BAND = {1: 3.6, 2: 5.0, 3: 7.0, 4: 8.6}
TRIALS_PER_BAND_H = 14.0


def trials(fmin: float, fmax: float, span: float, method: str, harmonics: int, fdot_max: float = 0.0) -> float:
    """The number of independent trials of a search of fmin..fmax (and of -fdot_max..fdot_max)
    over a span T: c_n (fmax - fmin) T (1 + 2 fdot_max T^2 / FDOT_INDEPENDENT)."""
    if method == "h":
        factor = TRIALS_PER_BAND_H
    else:
        factor = TRIALS_PER_BAND.get(harmonics, TRIALS_PER_BAND[4] * (harmonics / 4) ** 0.5)
    return max(1.0, factor * (fmax - fmin) * span * (1.0 + 2.0 * fdot_max * span * span / FDOT_INDEPENDENT))


MIN_THREAD_FREQUENCIES = 20_000   # below this a second thread costs more than it saves


def statistic_at(epochs: dict, window: dict, freqs: np.ndarray, method: str, harmonics: int,
                 fdot: float = 0.0, threads: int = 1) -> np.ndarray:
    """The statistic at each frequency (with frequency derivative fdot about the middle of each
    observation), the grid shared by up to `threads` compute threads."""
    def part(f):
        if method == "h":
            (o, t), = epochs.items()
            return htest(t, f, window=window[o], fdot=fdot, tm=0.5 * (t[0] + t[-1]))
        return sum(z2(t, f, harmonics, window[o], fdot, 0.5 * (t[0] + t[-1])) for o, t in epochs.items())

    threads = int(min(max(threads, 1), MAX_THREADS, len(freqs) // MIN_THREAD_FREQUENCIES or 1))
    if threads == 1:
        return part(freqs)
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(part, f) for f in np.array_split(freqs, threads)]
        while wait(futures, timeout=0.05, return_when=FIRST_EXCEPTION).not_done:
            pass   # short waits: a cancel raised in this thread is seen, and the parts stop with it
        return np.concatenate([f.result() for f in futures])


SUBHARMONIC_PROBABILITY = 1e-4   # a fold's own fundamental is a signal when its chance is below this


def harmonic_candidates(epochs: dict, window: dict, peak: float, df: float, method: str, harmonics: int,
                        dof: int, n_trials: float, band: tuple, fdot: float = 0.0) -> list[dict]:
    """The peak and its relatives f/3, f/2, 2f, 3f within the searched band, each refined to
    its local maximum: power,
    the power of the fold's first harmonic alone (chi^2 with 2 K degrees of freedom) and its
    chance. The fundamental is the lowest relative whose first harmonic is a signal by itself:
    a pulsar folded at half its frequency puts nothing in the first harmonic, and a
    Z^2_2 peak at f/2 (its second harmonic the pulsar's) is not the period."""
    from scipy.stats import chi2

    out = []
    for name, ratio in (("f", 1.0), ("f/2", 0.5), ("f/3", 1 / 3), ("2f", 2.0), ("3f", 3.0)):
        f = peak * ratio
        if ratio != 1.0 and not band[0] <= f <= band[1]:
            continue
        fine = f + df * max(ratio, 1.0) * np.linspace(-1.0, 1.0, 21)
        fine = fine[fine > 0]
        power = statistic_at(epochs, window, fine, method, harmonics, fdot * ratio)
        k = int(np.argmax(power))
        first = sum(next(corrected_powers(t, fine[k:k + 1], 1, window[o], fdot * ratio, 0.5 * (t[0] + t[-1])))
                    for o, t in epochs.items())[0]
        p_first = float(chi2.sf(first, 2 * len(epochs)))
        out.append({"relation": name, "frequency": float(fine[k]), "fdot": fdot * ratio, "power": float(power[k]),
                    "first_harmonic_power": float(first), "first_harmonic_probability": p_first,
                    "fap": false_alarm(float(power[k]), "H" if method == "h" else "Z2", dof, n_trials)[1]})
    signal = [c for c in out if c["first_harmonic_probability"] < SUBHARMONIC_PROBABILITY]
    fundamental = min(signal, key=lambda c: c["frequency"]) if signal else out[0]
    for c in out:
        c["fundamental"] = c is fundamental
    return sorted(out, key=lambda c: c["frequency"])
