"""How a pulsation search runs (xmmdb.timing.periodogram.search): an fdot grid finds a pulsar
that spins down within the observation, close observations are searched as one coherent
photon set and far ones incoherently (and the result says which), and compute threads give
the same powers as one thread. Simulated photons with known truth; the FAP calibration of
the fdot grid is in test_timing_fap.py."""

import numpy as np
import pytest

from xmmdb.errors import XmmError
from xmmdb.timing import periodogram as pg

T = 40_000.0
F0 = 0.8


def pulsar(rng, n, start, stop, f0=F0, fdot=0.0, tm=None, pulsed=0.6, gaps=()):
    """Photons of a sinusoidal pulsar with phase f0 (t - tm) + fdot (t - tm)^2 / 2."""
    tm = 0.5 * (start + stop) if tm is None else tm
    t = np.sort(rng.uniform(start, stop, n))
    for a, b in gaps:
        t = t[(t < a) | (t >= b)]
    phase = f0 * (t - tm) + 0.5 * fdot * (t - tm) ** 2
    return t[rng.uniform(0, 1, len(t)) < 0.5 * (1 + pulsed * np.cos(2 * np.pi * phase))]


def test_an_fdot_grid_finds_a_spinning_down_pulsar():
    """fdot = -4e-9 Hz/s drifts the phase by fdot T^2 / 8 = 0.8 cycles across the span: a
    plain search smears the pulse; the grid recovers it, at its fdot within one grid step."""
    rng = np.random.default_rng(11)
    gti = [(np.array([0.0, 21_000.0]), np.array([20_000.0, T]), 1)]
    t = pulsar(rng, 4000, 0.0, T, fdot=-4e-9, gaps=[(20_000.0, 21_000.0)])
    plain = pg.search({"o": t}, 0.78, 0.82, oversample=2, windows={"o": gti})
    grid = pg.search({"o": t}, 0.78, 0.82, oversample=2, windows={"o": gti}, fdot_max=1e-8)
    step = pg.FDOT_CELL / (2 * T * T)
    assert grid["best_fdot"] == pytest.approx(-4e-9, abs=step)
    assert grid["best_frequency"] == pytest.approx(F0, abs=1 / (2 * T))
    assert grid["best_power"] > 2 * plain["best_power"] and grid["fap"] < 1e-30 < plain["fap"]
    span = np.ptp(t)
    assert grid["n_trials"] == pytest.approx(plain["n_trials"] * (1 + 2e-8 * span ** 2 / pg.FDOT_INDEPENDENT))
    fund = next(c for c in grid["candidates"] if c["fundamental"])
    assert fund["fdot"] == grid["best_fdot"]


def test_an_fdot_grid_on_a_steady_pulsar_stays_at_zero():
    rng = np.random.default_rng(12)
    t = pulsar(rng, 3000, 0.0, T)
    r = pg.search({"o": t}, 0.78, 0.82, oversample=2, fdot_max=1e-8)
    assert abs(r["best_fdot"]) <= pg.FDOT_CELL / (2 * T * T)


def test_close_observations_are_connected_far_ones_added():
    """Two halves of one day: coherent (the frequency as precise as the whole span allows);
    a year apart: incoherent. Forcing either is allowed; the H-test needs a coherent set."""
    rng = np.random.default_rng(13)
    a = pulsar(rng, 2000, 0.0, 20_000.0, tm=0.0)
    b = pulsar(rng, 2000, 60_000.0, 80_000.0, tm=0.0)
    near = pg.search({"a": a, "b": b}, 0.79, 0.81, oversample=5)
    assert near["combination"].startswith("coherent: 2 observations")
    assert near["best_frequency"] == pytest.approx(F0, abs=1 / (5 * 80_000.0))
    added = pg.search({"a": a, "b": b}, 0.79, 0.81, oversample=5, combine="incoherent")
    assert added["combination"].startswith("incoherent")
    assert abs(near["best_frequency"] - F0) < abs(added["best_frequency"] - F0) + 1 / (5 * 80_000.0)
    assert pg.search({"a": a, "b": b}, 0.79, 0.81, method="h")["statistic"] == "H"
    far = {"a": a, "b": b + 3e7}
    assert pg.combination(far, "auto") == "incoherent"
    with pytest.raises(XmmError, match="too far apart"):
        pg.search(far, 0.79, 0.81, method="h")
    with pytest.raises(XmmError, match="unknown combine"):
        pg.search(far, 0.79, 0.81, combine="sometimes")


def test_threads_give_the_same_powers():
    """Each thread takes a part of the grid; the sums are exact to 1e-9 whichever part a
    frequency falls in (the grid step is taken from its ends, not from two neighbours)."""
    rng = np.random.default_rng(14)
    t = np.sort(rng.uniform(0, T, 3000))
    gti = {"o": [(np.array([0.0, 22_000.0]), np.array([20_000.0, T]), 3000)]}
    one = pg.search({"o": t}, 0.05, 3.0, oversample=2, windows=gti)
    two = pg.search({"o": t}, 0.05, 3.0, oversample=2, windows=gti, threads=2)
    assert np.allclose(one["power"], two["power"], rtol=1e-9, atol=1e-9)
    f = one["frequency"][-3:]
    ph = 2 * np.pi * np.outer(f, t - t[0])
    direct = 2 / len(t) * sum(np.cos(m * ph).sum(1) ** 2 + np.sin(m * ph).sum(1) ** 2 for m in (1, 2))
    assert np.allclose(pg.z2(t, f, 2), direct, rtol=1e-9)


def test_an_fdot_grid_finds_nothing_in_a_constant_source_at_low_frequencies():
    """From 2/T up: a drift of fdot T = 8e-4 Hz would sweep a low frequency through 0 Hz, where
    the gaps are everything; the grid keeps each drift inside the band, and the window of an
    interval is taken piecewise, so a constant source behind one gap stays constant."""
    rng = np.random.default_rng(15)
    start, stop = np.array([0.0, 21_000.0]), np.array([20_000.0, T])
    length = stop - start
    k = rng.choice(2, 1500, p=length / length.sum())
    t = np.sort(start[k] + rng.random(1500) * length[k])
    r = pg.search({"o": t}, 2 / T, 0.05, oversample=2, windows={"o": [(start, stop, 1500)]}, fdot_max=2e-8)
    assert r["fap"] > 0.01, (r["best_frequency"], r["best_fdot"], r["best_power"])


def test_the_cost_bound_counts_the_window_as_well_as_the_photons():
    """Ten photons behind 20,000 short GTIs: the window's 40,000 edges are summed at every
    frequency as the photons are, so the search is refused before it starts, not run for minutes."""
    start = np.arange(20_000) * 5.0
    t = np.sort(np.random.default_rng(16).choice(start, 10) + 1.0)
    with pytest.raises(XmmError, match="too large"):
        pg.search({"o": t}, 0.01, 5.0, oversample=2, windows={"o": [(start, start + 4.0, 10)]})
