"""The SQL entry points of xmmdb.timing.api over a fake photon store: options,
notices, errors and the plumbing from the photon access API to the products
(the same functions run in the server; tests/test_timing_sql.py runs them there)."""

import io
import warnings

import numpy as np
import pytest
from astropy.io import fits

import xmmdb.photons
from xmmdb.errors import NotFound, XmmError
from xmmdb.photons.sky import offsets
from xmmdb.timing import api
from xmmdb_loader.simulate.synthetic import xmm_orbit

from test_timing_products import DEC, FREQ, RA, T_A, make_selection, one_blas_thread  # noqa: F401


class FakeDb:
    def query(self, sql, params=(), types=()):
        if "FROM xmm.source WHERE srcid" in sql:
            return [{"sc_ra": RA, "sc_dec": DEC, "sc_ep_8_flux": 5e-13}] if params[0] == 42 else []
        if "q3c_radial_query" in sql:  # other sources near the annulus: one, 60" east
            return [{"sc_ra": RA + 60 / 3600 / np.cos(np.radians(DEC)), "sc_dec": DEC}]
        if "current_setting('statement_timeout')" in sql:   # no timeout
            return [{"s": 0.0}]
        raise AssertionError(sql)


@pytest.fixture(scope="module")
def store():
    rng = np.random.default_rng(11)
    src = make_selection(rng)
    n = 20000  # background: uniform within 120"
    bkg = {k: np.repeat(v, n // len(v) + 1)[:n] for k, v in src.photons.items()}
    r, phi = 120 * np.sqrt(rng.uniform(0, 1, n)), rng.uniform(0, 2 * np.pi, n)
    bkg["ra"] = RA + r * np.cos(phi) / 3600 / np.cos(np.radians(DEC))
    bkg["dec"] = DEC + r * np.sin(phi) / 3600
    bkg["time"] = np.where(bkg["obs_id"] == "0100000001", rng.uniform(T_A, T_A + 4e4, n), bkg["time"])
    photons = {k: np.concatenate([src.photons[k], bkg[k]]) for k in src.photons}
    gtis = {"obs_id": [], "instrument": [], "exp_id": [], "ccdnr": [], "start": [], "stop": []}
    for e in src.exposures:
        for s, t in zip(e.start, e.stop):
            for k, v in zip(gtis, (e.obs_id, e.instrument, e.exp_id, 0, s, t)):
                gtis[k].append(v)
    t = np.arange(T_A - 3000, T_A + 5e4, 60.0)
    pos, _ = xmm_orbit(t, t0=T_A)
    orbit = {"time": t, "x": pos[:, 0], "y": pos[:, 1], "z": pos[:, 2]}
    return photons, {k: np.asarray(v) for k, v in gtis.items()}, {"0100000001": orbit}


@pytest.fixture(autouse=True)
def fake_store(monkeypatch, store):
    photons, gtis, orbits = store

    def fetch_photons(db, ra, dec, radius_arcsec, emin=200, emax=12000, tmin=None, tmax=None, obs_id=None,
                      options=None):
        xi, eta = offsets(ra, dec, photons["ra"], photons["dec"])
        keep = (np.hypot(xi, eta) <= radius_arcsec) & (photons["pi"] >= emin) & (photons["pi"] <= emax)
        if obs_id is not None:
            keep &= photons["obs_id"] == obs_id
        order = np.argsort(photons["time"][keep])
        return {k: v[keep][order] for k, v in photons.items()}

    def fetch_gtis(db, obs_ids):
        keep = np.isin(gtis["obs_id"], list(obs_ids))
        return {k: v[keep] for k, v in gtis.items()}

    def fetch_orbit(db, obs_id):
        return orbits.get(obs_id, {"time": np.zeros(0), "x": np.zeros(0), "y": np.zeros(0), "z": np.zeros(0)})

    def fetch_coverage(db, ra, dec):   # every exposure with an event within 60", on its ccdnr 0
        near = fetch_photons(db, ra, dec, 60, 0, 32767)
        keys = sorted(set(zip(near["obs_id"].tolist(), near["instrument"].tolist(), near["exp_id"].tolist())))
        cols = {k: np.asarray([key[i] for key in keys]) for i, k in enumerate(("obs_id", "instrument", "exp_id"))}
        return {**cols, "ccdnr": np.zeros(len(keys), "i2"), "ontime": np.zeros(len(keys))}

    for name, f in (("fetch_photons", fetch_photons), ("fetch_gtis", fetch_gtis), ("fetch_orbit", fetch_orbit),
                    ("fetch_coverage", fetch_coverage)):
        monkeypatch.setattr(xmmdb.photons, name, f)


def test_extract_events_barycentred_with_notices():
    said = []
    data = api.extract_events(FakeDb(), 42, None, '{"barycentre": true}', notice=said.append)
    with fits.open(io.BytesIO(data)) as hdul:
        h = hdul["EVENTS"].header
        assert h["TIMESYS"] == "TDB" and h["BARY_POS"] == "MIXED" and h["SRC_RAD"] == 20.0
    assert len(said) == 1 and "0100000002 has no orbit" in said[0]
    one = api.extract_events(FakeDb(), 42, 15.0, {"obs_id": "0100000001", "instrument": "pn"}, notice=said.append)
    with fits.open(io.BytesIO(one)) as hdul:
        assert hdul["EVENTS"].header["OBS_ID"] == "0100000001" and hdul["EVENTS"].header["INSTRUME"] == "EPN"
        assert set(hdul["EVENTS"].data["INSTRUME"]) == {"EPN"} and len(hdul) == 4


def test_errors_for_humans():
    with pytest.raises(NotFound, match="no source with srcid 7"):
        api.extract_events(FakeDb(), 7)
    with pytest.raises(NotFound, match="no photons within") as e:
        api.extract_events(FakeDb(), 42, None, {"obs_id": "0999999999"})
    assert e.value.hint
    with pytest.raises(XmmError, match="unknown option 'bary'"):
        api.extract_events(FakeDb(), 42, None, {"bary": True})
    with pytest.raises(XmmError, match="unknown instrument 'RGS1'"):
        api.extract_events(FakeDb(), 42, None, {"instrument": "RGS1"})
    with pytest.raises(XmmError, match="radius"):
        api.extract_events(FakeDb(), 42, -3.0)
    with pytest.raises(XmmError, match="emin"):
        api.lightcurve(FakeDb(), 42, 100.0, {"emin": 5000, "emax": 1000})
    with pytest.raises(XmmError, match="bin_s"):
        api.lightcurve(FakeDb(), 42, 0.0)
    with pytest.raises(XmmError, match="fmin < fmax"):
        api.periodogram(FakeDb(), 42, None, 1.0, notice=lambda m: None)
    with pytest.raises(XmmError, match="srcid must not be NULL"):
        api.extract_events(FakeDb(), None)
    with pytest.raises(XmmError, match="finite ra and dec"):
        api.barycentre_times(FakeDb(), [T_A], None, DEC)
    assert api.barycentre_times(FakeDb(), None, RA, DEC) is None


def test_lightcurve_with_background():
    rows = api.lightcurve(FakeDb(), 42, 2000.0, {"obs_id": "0100000001"}, notice=lambda m: None)
    t, rate, err, frac, obs = map(np.array, zip(*rows))
    assert set(obs) == {"0100000001"} and np.all(np.diff(t) > 0)
    # source: 0.05 count/s in pn and in MOS1; the background under it is subtracted
    assert np.median(rate) == pytest.approx(0.1, abs=0.03)
    bary = api.lightcurve(FakeDb(), 42, 2000.0, {"obs_id": "0100000001", "barycentre": True}, notice=lambda m: None)
    assert len(bary) == len(rows) and 50 < abs(bary[0][0] - rows[0][0]) < 500
    assert np.median([r[1] for r in bary]) == pytest.approx(np.median(rate), rel=0.05)
    png = api.lightcurve_plot(FakeDb(), 42, 2000.0, {}, notice=lambda m: None)
    assert png[:4] == b"\x89PNG"


def test_periodogram_and_barycentre_times():
    said = []
    # the synthetic pulse is at the spacecraft (TT), so search unbarycentred times
    r = api.periodogram(FakeDb(), 42, 0.82, 0.845, {"harmonics": 2, "barycentre": False}, notice=said.append)
    assert r["best_frequency"] == pytest.approx(FREQ, abs=2e-5) and r["fap"] < 1e-6 and not r["barycentred"]
    assert len(r["frequency"]) == len(r["power"]) > 100
    times = [T_A + 100.0, None, T_A + 200.0]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = api.barycentre_times(FakeDb(), times, RA, DEC)
    assert out[1] is None and 100 < abs(out[0] - times[0]) < 500 and "geocentre" in str(w[0].message)
    said.clear()
    orb = api.barycentre_times(FakeDb(), times, RA, DEC, "0100000001", notice=said.append)
    assert not said and 1e-3 < abs(orb[0] - out[0]) < 0.4
