"""Barycentring (xmmdb.timing.barycentre) against an independent implementation:
the PyPI `barycenter` package (M. Bachetti; astropy + ERFA + the same JPL DE421
kernel, its own XMM orbit-file reader and interpolator), fed the same orbit as
a PPS orbit file."""

import warnings

import numpy as np
import pytest

from xmmdb.errors import XmmError
from xmmdb.timing import barycentre as bary
from xmmdb.timing import ephemeris
from xmmdb_loader.simulate.synthetic import orbit_hdul, xmm_orbit

T0 = 8.5e8  # TT s since MJD 50814: 2024-12-08
ORBIT_T = np.arange(T0 - 600, T0 + 1.3e5, 60.0)


@pytest.fixture(scope="module")
def orbit_file(tmp_path_factory):
    pos, vel = xmm_orbit(ORBIT_T, t0=T0 + 3e4)
    path = tmp_path_factory.mktemp("orbit") / "P0000000000OBX000ORBTSR0000.FTZ"
    orbit_hdul(ORBIT_T, pos, vel).writeto(path)
    return path, bary.Orbit(ORBIT_T, pos, vel, obs_id="0000000000")


@pytest.mark.parametrize("ra,dec", [(10.68, 41.27), (148.58, -11.06), (266.4, -28.9), (83.63, 22.01)])
def test_matches_independent_barycenter_package(orbit_file, ra, dec):
    from barycenter import read_orbit
    from barycenter.native import native_barycentric_correction

    path, orbit = orbit_file
    t = np.sort(np.random.default_rng(1).uniform(T0, T0 + 1.25e5, 6000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = native_barycentric_correction(read_orbit(str(path)), ra, dec, ephem=ephemeris.kernel_path())(t)
    mine = bary.correction(t, ra, dec, orbit)
    assert np.abs(mine - ref).max() < 2e-6  # a few microseconds at most (measured: < 1 ns)
    assert 1.0 < np.abs(mine).max() < 510.0  # it is the Roemer delay, not zero
    # without the orbit: the geocentre, off by up to the light time to XMM's apogee
    off = np.abs(bary.correction(t, ra, dec, None) - mine).max()
    assert 0.005 < off < 0.4


def test_knot_interpolation_equals_direct_evaluation(orbit_file):
    _, orbit = orbit_file
    t = np.sort(np.random.default_rng(2).uniform(T0, T0 + 1.2e5, bary.DIRECT_MAX * 3))
    direct = bary.correction_direct(t, bary.unit_vector(10.68, 41.27), orbit)
    assert np.abs(bary.correction(t, 10.68, 41.27, orbit) - direct).max() < 1e-8


def test_terms_have_the_expected_sizes():
    t = np.array([T0])
    n = bary.unit_vector(10.68, 41.27)
    total = bary.correction_direct(t, n, None)[0]
    import erfa

    einstein = erfa.dtdb(bary.JDREF, t / 86400.0, 0, 0, 0, 0)[0]
    assert abs(einstein) < 2e-3  # TDB-TT is 1.7 ms at most
    assert 100 < abs(total) < 500


def test_orbit_coverage_and_bad_input(orbit_file):
    _, orbit = orbit_file
    with pytest.raises(XmmError, match="outside the orbit"):
        bary.correction(np.array([T0 + 5e5]), 10.0, 10.0, orbit)
    with pytest.raises(XmmError, match="dec"):
        bary.correction(np.array([T0]), 10.0, 95.0)
    with pytest.raises(XmmError, match="finite"):
        bary.correction(np.array([np.nan]), 10.0, 10.0)
    with pytest.raises(XmmError, match="usable samples"):
        bary.Orbit(ORBIT_T[:3], np.ones((3, 3)), obs_id="x")
    assert bary.Orbit.from_columns({}) is None
    cols = {"time": ORBIT_T, "gei_x": orbit.pos_km[:, 0], "gei_y": orbit.pos_km[:, 1], "gei_z": orbit.pos_km[:, 2]}
    o = bary.Orbit.from_columns(cols, "0000000000")
    assert np.abs(o.position_m(ORBIT_T[5:10] + 30) - orbit.position_m(ORBIT_T[5:10] + 30)).max() < 50.0


def test_works_offline_as_in_the_server(orbit_file):
    """The server's settings (xmmdb.server.configure): no downloads, no IERS. The
    correction needs neither (TT -> TDB with ERFA, DE421 from skyfield-data)."""
    from astropy.utils import iers
    from astropy.utils.data import conf

    _, orbit = orbit_file
    with conf.set_temp("allow_internet", False), iers.conf.set_temp("auto_download", False):
        c = bary.correction(np.array([T0, T0 + 3e4]), 10.68, 41.27, orbit)
    assert np.all(np.isfinite(c)) and ephemeris.kernel_path().endswith("de421.bsp")
