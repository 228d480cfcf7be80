"""The bundled sample sky is one an X-ray astronomer can believe: each camera
measures its own flux from its own counts, spectra change with flux, the
catalogue does not list sources the PSF cannot separate, and the planted truth
(data/sample/truth) accounts for every detection. `make sample` rebuilds it
to the last bit of its floats."""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.table import Table
from conftest import SAMPLE

from xmmdb_loader.simulate import catalogue

SEED = 20141123          # the documented seed of `make sample`


@pytest.fixture(scope="module")
def sky():
    return (Table.read(SAMPLE / "catalogue" / "xmmdb_sample_cat.fits"), Table.read(SAMPLE / "truth" / "sources.fits"),
            Table.read(SAMPLE / "truth" / "epochs.fits"))


def test_each_camera_measures_its_own_flux(sky):
    cat, _, _ = sky
    pn, m1, m2 = (np.asarray(cat[f"{c}_8_FLUX"], float) for c in ("PN", "M1", "M2"))
    assert np.mean(pn == m1) < 0.01 and np.mean(m1 == m2) < 0.01
    # ... and they agree within their errors: the pull of pn against MOS1 is a unit normal
    err = np.hypot(np.asarray(cat["PN_8_FLUX_ERR"], float), np.asarray(cat["M1_8_FLUX_ERR"], float))
    bright = np.asarray(cat["EP_8_CTS"]) > 200
    pull = ((pn - m1) / err)[bright]
    assert abs(np.median(pull)) < 0.1 and 0.8 < np.std(pull) < 1.25
    # the cameras have their own on-times, the pn the shortest
    assert np.all(np.asarray(cat["PN_ONTIME"]) < np.asarray(cat["M1_ONTIME"]))


def test_hardness_changes_between_epochs_where_flux_does(sky):
    cat, truth, _ = sky
    variable = set(np.asarray(truth["SRCID"])[np.asarray(truth["VARIABLE"]) & (np.asarray(truth["SRCID"]) > 0)])
    ids, hr2 = np.asarray(cat["SRCID"]), np.asarray(cat["EP_HR2"], float)
    err = np.asarray(cat["EP_HR2_ERR"], float)
    spread = {True: [], False: []}
    for s in np.unique(ids[np.asarray(cat["EP_8_CTS"]) > 500]):
        rows = (ids == s) & np.isfinite(hr2)
        if rows.sum() > 2:
            chi2 = np.sum(((hr2[rows] - np.average(hr2[rows], weights=err[rows] ** -2)) / err[rows]) ** 2)
            spread[s in variable].append(chi2 / (rows.sum() - 1))
    assert len(spread[True]) >= 5 and len(spread[False]) >= 20
    assert np.median(spread[False]) < 1.5                   # constant sources: HR constant within errors
    assert np.median(spread[True]) > 2 * np.median(spread[False])   # variable ones: beyond them


def test_the_catalogue_separates_sources_as_the_pipeline_can(sky):
    cat, truth, _ = sky
    ids = np.asarray(cat["SRCID"])
    first = np.unique(ids, return_index=True)[1]
    c = SkyCoord(np.asarray(cat["SC_RA"])[first] * u.deg, np.asarray(cat["SC_DEC"])[first] * u.deg)
    i, j, _, _ = search_around_sky(c, c, catalogue.MIN_SEPARATION_ARCSEC * u.arcsec)
    assert not np.any(i != j)
    nucleus = SkyCoord(10.6847 * u.deg, 41.2690 * u.deg)
    assert (c.separation(nucleus) < 5 * u.arcsec).sum() <= 1
    # the true sky is denser: in M31 some detections are several true sources, and say so
    in_m31 = np.asarray(truth["SRCID"])[np.asarray(truth["SRCID"]) > 0]
    assert len(in_m31) > len(first)
    assert 0 < np.sum(cat["CONFUSED"]) < len(cat) / 4


def test_the_truth_accounts_for_every_detection(sky):
    cat, truth, epochs = sky
    assert set(np.asarray(epochs["DETID"])[np.asarray(epochs["DETID"]) > 0]) == set(np.asarray(cat["DETID"]))
    primary = truth[np.asarray(truth["PRIMARY"]) & (np.asarray(truth["SRCID"]) > 0)]
    assert sorted(primary["SRCID"]) == sorted(set(np.asarray(cat["SRCID"])))
    # a detection's counts are what its true sources were expected to give, within Poisson noise
    expected = {}
    for d, a, b, c in zip(epochs["DETID"], epochs["PN_EXPECTED"], epochs["M1_EXPECTED"], epochs["M2_EXPECTED"]):
        if d:
            expected[int(d)] = expected.get(int(d), 0.0) + a + b + c
    mu = np.array([expected[int(d)] for d in cat["DETID"]])
    counts = np.asarray(cat["EP_8_CTS"], float)
    big = mu > 400
    assert np.abs(np.median((counts[big] - mu[big]) / np.sqrt(mu[big]))) < 0.2


def test_make_sample_rebuilds_the_catalogue(tmp_path):
    """Same headers, same integers, same floats to the last bits: numpy's vectorised
    functions (power, trigonometry) round the last bit differently on CPUs with
    other vector units, so a float may differ by an ulp from the committed file."""
    catalogue.write_catalogue(tmp_path, np.random.default_rng(SEED))
    for name in ("catalogue/xmmdb_sample_cat.fits", "catalogue/xmmdb_sample_obslist.fits", "truth/sources.fits",
                 "truth/epochs.fits"):
        diff = fits.FITSDiff(str(tmp_path / name), str(SAMPLE / name), rtol=1e-13)
        assert diff.identical, diff.report()
