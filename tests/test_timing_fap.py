"""False-alarm probabilities of the pulsation search mean what they say: constant
sources drawn uniformly inside real good time intervals (the Abell 907 MOS2
exposures, with their gaps, and the sample sky's pn exposures) searched as
xmm_periodogram searches them get FAPs below 1 % as often as a uniform
distribution would, and below 10 % no more often. The trials factor was measured on other GTIs (the MOS1
exposures) in another band (xmmdb/timing/periodogram.py, TRIALS_PER_BAND); here
it is checked, not fitted. Without the exposure correction, the same photons
give "detections" at the windows' own periods."""

import numpy as np
import pytest
from astropy.io import fits
from conftest import SAMPLE

from xmmdb.timing import periodogram as pg

N_SOURCES = 1000
N_PHOTONS = 200
BAND = (0.003, 0.009)        # Hz: the calibration used 0.001-0.01 Hz on other GTIs


def gtis_of(path):
    with fits.open(path) as hdul:
        hdu = next(h for h in hdul if h.name.startswith("STDGTI") or h.name == "GTI")
        return np.asarray(hdu.data["START"], float), np.asarray(hdu.data["STOP"], float)


@pytest.fixture(scope="module")
def windows(shared_data):
    real = [gtis_of(p) for p in sorted((shared_data / "events" / "abell907").glob("*/mos2*_clean_evts.fits"))]
    sample = [gtis_of(p) for p in sorted((SAMPLE / "events").glob("*PIEVLI*.FTZ"))]
    assert len(real) == 3 and len(sample) == 2
    return real + sample


def constant_source(rng, start, stop, n):
    length = stop - start
    k = rng.choice(len(start), n, p=length / length.sum())
    return np.sort(start[k] + rng.random(n) * length[k])


def test_constant_sources_in_real_gtis_get_uniform_faps(windows):
    rng = np.random.default_rng(20261203)
    faps = []
    for k in range(N_SOURCES):
        start, stop = windows[k % len(windows)]
        t = constant_source(rng, start, stop, N_PHOTONS)
        faps.append(pg.search({"o": t}, *BAND, windows={"o": [(start, stop, N_PHOTONS)]})["fap"])
    faps = np.array(faps)
    sigma = np.sqrt(N_SOURCES * 0.01 * 0.99)
    got = int(np.sum(faps < 0.01))           # the tail the trials factor is set for: as often as promised
    assert abs(got - 0.01 * N_SOURCES) < 3 * sigma, f"{got} of {N_SOURCES} below 1 %"
    got = int(np.sum(faps < 0.1))            # above it conservative, never more often than promised
    assert got < 0.1 * N_SOURCES + 3 * np.sqrt(N_SOURCES * 0.09), f"{got} of {N_SOURCES} below 10 %"


def test_gaps_are_not_signals_once_corrected(windows):
    """An exposure with an orbit-like gap pattern: the uncorrected Z^2 finds the window's
    period with a tiny FAP in nearly every draw; the corrected one does not."""
    start = 1e8 + np.arange(60) * 300.0          # 60 x 150 s of good time every 300 s
    stop = start + 150.0
    rng = np.random.default_rng(7)
    plain, corrected = [], []
    for _ in range(20):
        t = constant_source(rng, start, stop, 2000)
        plain.append(pg.search({"o": t}, 0.001, 0.01)["fap"])
        corrected.append(pg.search({"o": t}, 0.001, 0.01, windows={"o": [(start, stop, 2000)]})["fap"])
    assert np.median(plain) < 1e-6 and min(corrected) > 1e-3


def test_an_fdot_grid_keeps_faps_uniform(windows):
    """The fdot trials (FDOT_INDEPENDENT, measured on the 15-20 ks MOS2 GTIs at 3-9 mHz with
    fdot_max 1e-7 Hz/s) checked on the sample's 5 ks pn GTIs at 10-30 mHz with fdot_max 3e-7
    (seven fdot steps, six independent fdot cells)."""
    rng = np.random.default_rng(20261204)
    n = 300
    faps = []
    for k in range(n):
        start, stop = windows[3 + k % 2]
        t = constant_source(rng, start, stop, N_PHOTONS)
        faps.append(pg.search({"o": t}, 0.01, 0.03, oversample=2, windows={"o": [(start, stop, N_PHOTONS)]},
                              fdot_max=3e-7)["fap"])
    faps = np.array(faps)
    got = int(np.sum(faps < 0.1))
    assert abs(got - 0.1 * n) < 3 * np.sqrt(n * 0.09), f"{got} of {n} below 10 %"
    got = int(np.sum(faps < 0.01))
    assert got <= 0.01 * n + 3 * np.sqrt(n * 0.01 * 0.99), f"{got} of {n} below 1 %"
