"""XSPEC-definition components and model expressions (no database)."""

import math

import numpy as np
import pytest

from xmmdb.errors import XmmError
from xmmdb.spectral import models
from xmmdb.spectral.fit import check_options


def test_phabs_check_values():
    """../shared/README.md: sigma(1 keV) = 2.5024e-22 cm2; exp(-sigma) = 0.08189 for nH = 1e22."""
    assert models.sigma("phabs_angr", [1.0])[0] == pytest.approx(2.5024, rel=2e-4)
    ph = models.PhAbs()
    ph.nH = 1.0
    assert ph([1.0])[0] == pytest.approx(0.08189, rel=2e-4)


def test_absorbers_average_sigma_over_bin_edges_and_transmit_outside_range():
    for cls in (models.PhAbs, models.TbAbs, models.WAbs):
        a = cls()
        a.nH = 0.5
        lo, hi = np.array([0.5, 2.0]), np.array([0.6, 3.0])
        expected = np.exp(-0.5 * 0.5 * (models.sigma(a.table, lo) + models.sigma(a.table, hi)))
        assert a(lo, hi) == pytest.approx(expected, rel=1e-12)
        assert a(np.array([0.005, 150.0]), np.array([0.01, 200.0])) == pytest.approx([1.0, 1.0])
    # the three tables differ as the literature says: tbabs (Wilms) absorbs less than phabs at 1 keV
    assert models.sigma("tbabs_wilm", [1.0])[0] < models.sigma("phabs_angr", [1.0])[0]


def test_powerlaw_is_integrated_over_each_bin():
    p = models.PowerLaw()
    p.PhoIndex, p.norm = 2.0, 3.0
    assert p([1.0], [2.0])[0] == pytest.approx(3.0 * (1.0 - 0.5))    # int E^-2 from 1 to 2 = 1/2
    p.PhoIndex = 1.0
    assert p([1.0], [math.e])[0] == pytest.approx(3.0)


def test_bbody_and_diskbb_bolometric_normalisations():
    """bbody norm = L39/D10^2: 1e39 erg/s at 10 kpc is 8.36e-8 erg/cm2/s; diskbb norm 1, Tin 1 keV
    gives F = 2 (Rin/D)^2 sigma T^4 = 2.160e-11 erg/cm2/s (Makishima et al. 1986)."""
    bb = models.BBody()
    bb.kT, bb.norm = 1.0, 1.0
    assert models.energy_flux(models.Built("bbody", bb, [bb]), None, None, 1e-3, 100.0) == pytest.approx(
        1e39 / (4 * math.pi * 3.0857e22 ** 2), rel=5e-3)
    d = models.DiskBB()
    d.Tin, d.norm = 1.0, 1.0
    assert models.energy_flux(models.Built("diskbb", d, [d]), None, None, 1e-3, 100.0) == pytest.approx(
        2.160e-11, rel=3e-3)


def test_bremss_shape():
    b = models.Bremss()
    b.kT, b.norm = 5.0, 1.0
    e = np.array([1.0, 5.0, 10.0])
    dens = models.Bremss.density(e, 5.0, 1.0)
    assert np.all(np.diff(dens) < 0) and np.all(dens > 0)
    gaunt_ratio = dens[1] / dens[2] / (2 * math.exp(1.0))     # exp(-E/kT)/E times a slowly falling Gaunt factor
    assert 1.0 < gaunt_ratio < 1.5


@pytest.mark.parametrize("name,expression,params", [
    ("phabs_pl", "phabs*powerlaw", ["phabs.nH", "powerlaw.PhoIndex", "powerlaw.norm"]),
    ("phabs_pl_bb", "phabs*(powerlaw+bbody)", ["phabs.nH", "powerlaw.PhoIndex", "powerlaw.norm", "bbody.kT", "bbody.norm"]),
    ("wabs*wabs*powerlaw", "wabs*wabs*powerlaw", ["wabs_1.nH", "wabs_2.nH", "powerlaw.PhoIndex", "powerlaw.norm"]),
    ("TBABS * diskbb", "tbabs*diskbb", ["tbabs.nH", "diskbb.Tin", "diskbb.norm"]),
])
def test_expressions(name, expression, params):
    built = models.build(name)
    assert built.expression == expression
    assert [p.fullname for p in built.params()] == params


@pytest.mark.parametrize("bad,words", [
    ("phabs*foo", "unknown component or model 'foo' at position 7"),
    ("phabs*(powerlaw", "missing )"),
    ("phabs+powerlaw", "only additive components"),
    ("phabs", "no additive component"),
    ("powerlaw;drop", "unexpected ';'"),
    ("", "empty model"),
])
def test_bad_expressions(bad, words):
    with pytest.raises(XmmError, match=words.replace("(", r"\(").replace(")", r"\)")):
        models.build(bad)


@pytest.mark.parametrize("options,words", [
    ({"emin": "x"}, "option 'emin' must be a positive number"),
    ({"emax": 200}, "option 'emax' is 200; it may be at most 100"),
    ({"group": 2.5}, "option 'group' must be a count \\(0 or more\\) or \"file\""),
    ({"group": 10**6}, "option 'group' is 1000000; it may be at most 100000"),
    ({"stat": "chi3"}, "option 'stat' must be one of chi2xspecvar, .*, wstat, not \"chi3\""),
    ({"foo": 1}, "unknown option 'foo'"),
    ({"emin": 5, "emax": 2}, "must be below emax"),
    ([1], "options must be a JSON object, not array"),
])
def test_bad_options(options, words):
    with pytest.raises(XmmError, match=words):
        check_options(options)


def test_a_misspelt_option_is_answered_with_the_nearest():
    with pytest.raises(XmmError, match="unknown option 'emn'") as e:
        check_options({"emn": 0.5})
    assert e.value.hint.startswith("did you mean 'emin'? known options: emin (positive number)")
