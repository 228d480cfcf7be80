"""Upper limits and aperture photometry at any position (xmm_upper_limit) and long-term
light curves (xmm_long_term_lightcurve), against independent calculations and the
truth planted in the sample sky:

- the Bayesian upper limit against astropy's Kraft, Burrows & Nousek interval;
- the flux conversion against a fold of the model written here from the FITS files
  (astropy reads the RMF and ARF, the cross-sections come from the shared table);
- the PSF model's parameters and its inverse;
- rates of point sources against their planted fluxes (pulls), the coverage of the
  upper limits over many planted sources, and limits at empty positions against exposure.
"""

import json

import numpy as np
import psycopg
import pytest
from astropy.io import fits
from astropy.stats import poisson_conf_interval
from astropy.table import Table

from xmmdb.pg import Psycopg
from xmmdb.photons import limits, psf
from xmmdb.photons.sky import deproject, offsets
from xmmdb_loader.products import load_responses
from xmmdb_loader.simulate.events import CAMERAS, SAMPLE_EXPOSURES, selected_fraction
from conftest import SAMPLE

ULX = "spectra/ngc7793_ulx4_pn"


def test_upper_bound_is_the_kbn_limit():
    """Where astropy's KBN interval starts at 0 it is [0, S] with S our closed form; with no
    background S is the classical Poisson limit (N = 0: -ln(1 - CL))."""
    checked = 0
    for cl in (0.8413, 0.9, 0.99):
        for n in range(1, 25):   # (astropy fails at N = 0: log 0)
            for b in (0.5, 2.0, 7.5, 20.0):
                lo, hi = poisson_conf_interval(n, "kraft-burrows-nousek", background=b, confidence_level=cl)
                if lo[0] == 0:
                    assert limits.upper_bound(n, b, cl) == pytest.approx(hi[0], rel=1e-6), (n, b, cl)
                    checked += 1
    assert checked > 100
    assert limits.upper_bound(0, 0.0, 0.9) == pytest.approx(-np.log(0.1), rel=1e-12)


def _dense(rmf_path):
    """The RMF as a dense matrix (energies x channels) and channel bounds, read with astropy."""
    with fits.open(rmf_path) as hdul:
        m = hdul["MATRIX"].data if "MATRIX" in hdul else hdul["SPECRESP MATRIX"].data
        eb = hdul["EBOUNDS"].data
        first = int(hdul["EBOUNDS"].header.get("TLMIN1", 0))
        dense = np.zeros((len(m), len(eb)))
        for i, row in enumerate(m):
            ngrp = int(row["N_GRP"])
            fch, nch = np.atleast_1d(row["F_CHAN"])[:ngrp], np.atleast_1d(row["N_CHAN"])[:ngrp]
            values, k = np.asarray(row["MATRIX"], float), 0
            for f, n in zip(fch, nch):
                dense[i, int(f) - first:int(f) - first + int(n)] = values[k:k + int(n)]
                k += int(n)
        return (np.asarray(m["ENERG_LO"], float), np.asarray(m["ENERG_HI"], float), dense,
                np.asarray(eb["E_MIN"], float), np.asarray(eb["E_MAX"], float))


def test_ecf_is_the_model_folded_through_the_responses(db, shared_data):
    """The real pn responses of NGC 7793 ULX-4 as a camera's canned responses: the count rate per
    unit absorbed flux of phabs*powerlaw in three bands, against a fold computed here."""
    folder = shared_data / ULX
    db.execute("SELECT 1")      # in the test's transaction: the load is a savepoint, rolled back after
    load_responses(db, [folder / "PN.rmf", folder / "PN.arf"], progress=False)
    rmf_id, arf_id = limits.camera_responses(Psycopg(db), "EPN", "thin1")
    assert rmf_id and arf_id
    lo, hi, dense, ch_lo, ch_hi = _dense(folder / "PN.rmf")
    area = np.asarray(fits.getdata(folder / "PN.arf", "SPECRESP")["SPECRESP"], float)
    xs = fits.getdata(shared_data / "xsect" / "xsect_phabs_angr.fits", 1)

    def absorbed(e, gamma, nh):     # photons/cm2/s/keV, sigma log-log interpolated in the table
        sigma = np.exp(np.interp(np.log(e), np.log(xs["ENERGY"]), np.log(xs["SIGMA"])))
        return e ** -gamma * np.exp(-nh / 1e22 * sigma)

    for (emin, emax), gamma, nh in (((200, 12000), 1.7, 3e20), ((500, 2000), 2.0, 1e21), ((2000, 4500), 1.4, 5e22)):
        fine = np.linspace(0, 1, 65)
        e = lo[:, None] + (hi - lo)[:, None] * fine[None, :]
        photons = np.trapezoid(absorbed(e, gamma, nh), e, axis=1)
        counts = (photons * area) @ dense
        mid = 500 * (ch_lo + ch_hi)
        band = (mid >= emin) & (mid < emax)
        grid = np.linspace(emin / 1000, emax / 1000, 200001)
        flux = np.trapezoid(grid * absorbed(grid, gamma, nh), grid) * 1.602176634e-9
        want = counts[band].sum() / flux
        got = limits.ecf(Psycopg(db), rmf_id, arf_id, emin, emax, gamma, nh)
        assert got == pytest.approx(want, rel=2e-3), (emin, emax, gamma, nh)


def test_psf_model_is_physical_and_invertible():
    """Over every camera, 0.1-15 keV and 0-20' the King parameters stay physical (core >= 1",
    slope > 1: a finite, normalisable profile), the encircled energy rises from 0 to 1, and
    radius_enclosing inverts it."""
    e, t = np.meshgrid(np.geomspace(0.1, 15, 40), np.linspace(0, 20, 41))
    for inst in ("EPN", "EMOS1", "EMOS2"):
        rc, alpha = psf.king_parameters(inst, e, t)
        assert rc.min() >= 1.0 and alpha.min() > 1.0
        f = np.array([0.05, 0.3, 0.5, 0.7, 0.9, 0.99])
        for ek, tk in ((0.3, 0.0), (1.5, 5.0), (6.0, 12.0), (12.0, 15.0)):
            r = psf.radius_enclosing(inst, f, ek, tk)
            assert np.all(np.diff(r) > 0)
            assert np.allclose(psf.encircled_energy(inst, r, ek, tk), f, rtol=1e-12)
        assert psf.encircled_energy(inst, 0.0, 1.0, 0.0) == 0.0
        assert psf.encircled_energy(inst, 1e9, 1.0, 0.0) == pytest.approx(1.0, abs=1e-6)


def _truth():
    sources = Table.read(SAMPLE / "truth" / "sources.fits")
    epochs = Table.read(SAMPLE / "truth" / "epochs.fits")
    planted = json.loads((SAMPLE / "truth" / "events.json").read_text())
    special = {planted["pulsar"]["srcid"]} | {v["srcid"] for v in planted["variables"]}
    return sources, epochs, special


def _point_sources(db, obs_id, instrument, within=60.0, fraction=0.1):
    """(ra, dec, true rate as xmm_upper_limit defines it, off-axis) of the planted point sources in
    an exposure's field, each with no other planted source within `within` arcsec brighter than
    `fraction` of it."""
    sources, epochs, special = _truth()
    flux = np.asarray(sources["FLUX"], float).copy()
    seen = np.asarray(epochs["OBS_ID"]) == obs_id
    flux[np.asarray(epochs["TRUE_ID"])[seen] - 1] = np.asarray(epochs["FLUX"], float)[seen]
    ra, dec = np.asarray(sources["RA"], float), np.asarray(sources["DEC"], float)
    pnt = db.execute("SELECT ra_pnt, dec_pnt FROM xmm.exposure WHERE obs_id = %s AND instrument = %s",
                     (obs_id, instrument)).fetchone()
    east, north = offsets(*pnt, ra, dec)
    theta = np.hypot(east, north) / 60.0
    ok = ((theta > 1.0) & (theta < 12.0) & (np.asarray(sources["EXTENT"]) == 0)
          & ~np.isin(np.asarray(sources["SRCID"]), list(special)) & ~np.asarray(sources["VARIABLE"], bool))
    rate = flux * CAMERAS[instrument].ecf * selected_fraction(CAMERAS[instrument])
    out = []
    for i in np.flatnonzero(ok):
        e2, n2 = east - east[i], north - north[i]
        close = (np.hypot(e2, n2) < within) & (flux > fraction * flux[i])
        close[i] = False
        if not close.any():
            out.append((float(ra[i]), float(dec[i]), float(rate[i]), float(theta[i])))
    return out


def _measure(db, positions, options=None):
    rows = db.execute("""SELECT p.i, u.obs_id, u.instrument, u.counts, u.rate, u.rate_err, u.rate_upper,
                                u.exposure, u.psf_fraction, u.bkg_counts * u.bkg_ratio
                           FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(ra, dec, i)
                          CROSS JOIN LATERAL xmm_upper_limit(p.ra, p.dec, %s) u""",
                      ([p[0] for p in positions], [p[1] for p in positions],
                       json.dumps(options or {}))).fetchall()
    return rows


def test_rates_of_bright_point_sources_match_their_planted_flux(db):
    """Pulls (rate - true) / rate_err of isolated point sources with more than 60 counts: the
    exposure map, PSF fraction, background and event selection together are unbiased to about a
    tenth of the errors (a 3 % error in the PSF fraction would move the mean pull by ~1)."""
    pulls = []
    for obs_id, inst, _ in SAMPLE_EXPOSURES:
        truth = [s for s in _point_sources(db, obs_id, inst)]
        rows = [r for r in _measure(db, truth, {"obs_id": obs_id, "instrument": inst}) if r[3] > 60]
        pulls += [(r[4] - truth[r[0] - 1][2]) / r[5] for r in rows]
    pulls = np.array(pulls)
    assert len(pulls) >= 15
    assert abs(np.mean(pulls)) < 3 / np.sqrt(len(pulls)) + 0.15, pulls
    assert 0.7 < np.std(pulls) < 1.4, pulls


def test_fluxes_of_isolated_detections_agree_with_the_catalogue(db):
    """Catalogue detections with nothing brighter than a fifth of them within 90": the aperture
    flux (reference spectrum) against the catalogue's EPIC flux of that detection. The catalogue
    measured them in its own, longer exposures and the sample's pulsar and variables shine
    differently in the event lists, so the check is on the ensemble and the brightest."""
    rows = db.execute("""
        WITH isolated AS MATERIALIZED (
            SELECT d.* FROM xmm.detection d
             WHERE d.obs_id IN (SELECT obs_id FROM xmm.exposure) AND NOT d.confused AND d.ep_8_cts > 30
               AND NOT EXISTS (SELECT FROM xmm.detection b WHERE b.obs_id = d.obs_id AND b.detid <> d.detid
                                 AND q3c_join(d.ra, d.dec, b.ra, b.dec, 90 / 3600.0) AND b.ep_8_flux > 0.2 * d.ep_8_flux))
        SELECT DISTINCT ON (d.detid, u.instrument) u.counts, u.flux, u.flux_err, u.catalogue_flux, u.catalogue_flux_err
          FROM isolated d
         CROSS JOIN LATERAL xmm_upper_limit(d.ra, d.dec, jsonb_build_object('obs_id', d.obs_id)) u
         WHERE u.detid = d.detid AND u.counts > 30 AND u.catalogue_flux > 0
         ORDER BY d.detid, u.instrument""").fetchall()
    counts, flux, err, cat, cat_err = (np.array(c, float) for c in zip(*rows))
    assert len(rows) >= 20
    assert 0.9 < np.median(flux / cat) < 1.1, np.median(flux / cat)
    brightest = np.argsort(-counts)[:3]
    pulls = (flux - cat)[brightest] / np.hypot(err, cat_err)[brightest]
    assert np.all(np.abs(pulls) < 3), pulls


def test_upper_limits_cover_the_planted_rates(db):
    """Over the planted point sources with 1-40 expected counts in the aperture, the true rate lies
    below rate_upper in the stated fraction of cases (0.9; the Bayesian limit covers at least
    that, somewhat more at few counts)."""
    covered, total = 0, 0
    for obs_id, inst, _ in SAMPLE_EXPOSURES:
        truth = _point_sources(db, obs_id, inst)
        for r in _measure(db, truth, {"obs_id": obs_id, "instrument": inst, "confidence": 0.9}):
            expected = truth[r[0] - 1][2] * r[7] * r[8]
            if 1 <= expected <= 40:
                total += 1
                covered += truth[r[0] - 1][2] <= r[6]
    assert total >= 100
    fraction = covered / total
    assert 0.9 - 2.5 * np.sqrt(0.09 / total) <= fraction <= 0.985, (covered, total)


def test_limits_at_empty_positions_scale_with_exposure(db):
    """Where nothing was planted the background alone sets the limit: the counts limit is the same
    everywhere (the simulated background is not vignetted), so the rate limit times the PSF
    fraction goes as 1/exposure: log-log slope -1 within three of its standard errors."""
    sources, _, _ = _truth()
    rng = np.random.default_rng(3)
    pnt = db.execute("SELECT ra_pnt, dec_pnt FROM xmm.exposure WHERE obs_id = '0112290601'").fetchone()
    positions = []
    while len(positions) < 300:
        r, a = 14.0 * np.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
        ra, dec = deproject(*pnt, np.radians(r / 60 * np.cos(a)), np.radians(r / 60 * np.sin(a)))
        east, north = offsets(float(ra), float(dec), np.asarray(sources["RA"]), np.asarray(sources["DEC"]))
        if np.hypot(east, north).min() > 90:
            positions.append((float(ra), float(dec)))
    rows = _measure(db, positions, {"obs_id": "0112290601"})
    assert len(rows) >= 280
    exposure = np.array([r[7] for r in rows])
    limit = np.array([r[6] * r[8] for r in rows])
    assert exposure.max() / exposure.min() > 1.4
    (slope, _), cov = np.polyfit(np.log(exposure), np.log(limit), 1, cov=True)
    assert abs(slope + 1) < 3 * np.sqrt(cov[0, 0]) + 0.05, (slope, np.sqrt(cov[0, 0]))
    assert np.sqrt(cov[0, 0]) < 0.3


def test_long_term_lightcurve_mixes_detections_and_limits(db):
    """A source of the M31 field: every observation whose field holds it, oldest first; the
    catalogue's flux where it was detected; where not, the photons' limit if they are loaded."""
    srcid, ra, dec = db.execute("""
        SELECT s.srcid, s.sc_ra, s.sc_dec FROM xmm.source s
         WHERE EXISTS (SELECT FROM xmm.observation o WHERE o.obs_id = '0112570101'
                                                      AND o.footprint @> spoint(radians(s.sc_ra), radians(s.sc_dec)))
           AND NOT EXISTS (SELECT FROM xmm.detection d WHERE d.srcid = s.srcid AND d.obs_id IN ('0112570101', '0112570201'))
         ORDER BY s.srcid LIMIT 1""").fetchone()
    rows = db.execute("SELECT obs_id, mjd, date, band, detected, detid, flux, flux_upper, measured_from "
                      "FROM xmm_long_term_lightcurve(%s)", (srcid,)).fetchall()
    observations = db.execute("SELECT obs_id FROM xmm.observation WHERE footprint @> spoint(radians(%s), radians(%s)) "
                              "ORDER BY mjd_start", (ra, dec)).fetchall()
    assert [r[0] for r in rows] == [o[0] for o in observations]
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    detected = {d[0]: d[1] for d in db.execute("SELECT obs_id, ep_8_flux FROM xmm.detection WHERE srcid = %s",
                                                (srcid,)).fetchall()}
    for obs_id, mjd, date, band, is_detected, detid, flux, flux_upper, source in rows:
        assert band == 8 and abs((date.timestamp() / 86400 + 40587) - mjd) < 1e-6
        if obs_id in detected:
            assert is_detected and source == "catalogue" and flux == pytest.approx(detected[obs_id])
        elif obs_id in ("0112570101", "0112570201"):
            assert source == "photons" and flux_upper > 0
        else:
            assert source == "not loaded" and flux_upper is None
    assert {r[8] for r in rows} >= {"photons"}
    same = db.execute("SELECT obs_id, flux, flux_upper FROM xmm_long_term_lightcurve_at(%s, %s)", (ra, dec)).fetchall()
    assert [s[0] for s in same] == [r[0] for r in rows]


@pytest.mark.parametrize("options, words", [
    ('{"bands": [7]}', "unknown band 7"),
    ('{"confidence": 1}', "between 0 and 1"),
    ('{"eef": 0.99}', "0.3 to 0.95"),
    ('{"radius": 500}', "at most 120"),
    ('{"bkg_inner": 100, "bkg_outer": 90}', "annulus is empty"),
    ('{"instrument": "ACIS"}', "unknown instrument"),
    ('{"confidnce": 0.9}', "did you mean 'confidence'"),
])
def test_bad_options_are_explained(db, options, words):
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT * FROM xmm_upper_limit(10.68, 41.27, %s)", (options,)).fetchall()
    text = str(err.value) + (err.value.diag.message_hint or "")
    assert words in text and "Traceback" not in text and "xmmdb:" not in text
    db.rollback()


def test_a_position_off_the_sky_is_refused(db):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="not between -90 and 90"):
        db.execute("SELECT * FROM xmm_upper_limit(10, 95)").fetchall()
    db.rollback()
    assert db.execute("SELECT count(*) FROM xmm_upper_limit(150, -60)").fetchone()[0] == 0
