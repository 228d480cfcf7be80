"""Event files, light curves and periodograms on synthetic selections (no
database): the pure-Python parts of xmmdb.timing."""

import io
import warnings

import numpy as np
import pytest
from astropy.io import fits

from xmmdb.errors import XmmError
from xmmdb.photons.sky import offsets
from xmmdb.timing import barycentre as bary
from xmmdb.timing import eventfile, lightcurve as lc, periodogram as pg, select
from xmmdb.options import BOOL, INTEGER, POSITIVE, TEXT, parse
from xmmdb_loader.simulate.synthetic import pulsed_times, xmm_orbit

RA, DEC = 10.6847, 41.2690
T_A, T_B = 8.0e8, 8.6e8
FREQ = 1 / 1.2


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """One BLAS thread, as in the server (xmm.python_boot): the periodogram's zgemm
    with two threads on two shared cores is 4x slower, not faster."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def make_selection(rng, rate=0.05, pulsed=0.3):
    """Two observations: A with pn (GTI gap) and MOS1, B with pn only."""
    exps = [select.Exposure("0100000001", "EPN", "S003", np.array([T_A, T_A + 2.4e4]), np.array([T_A + 2e4, T_A + 4e4])),
            select.Exposure("0100000001", "EMOS1", "S001", np.array([T_A - 500]), np.array([T_A + 4.1e4])),
            select.Exposure("0100000002", "EPN", "S003", np.array([T_B]), np.array([T_B + 3e4]))]
    cols = {k: [] for k in select.PHOTON_COLUMNS}
    for e in exps:
        for s, t in zip(e.start, e.stop):
            times = pulsed_times(rng, s, t, rate, FREQ, pulsed)
            n = len(times)
            cols["time"].append(times)
            cols["ra"].append(RA + rng.normal(0, 3 / 3600, n) / np.cos(np.radians(DEC)))
            cols["dec"].append(DEC + rng.normal(0, 3 / 3600, n))
            cols["x"].append(rng.uniform(25000, 26000, n))
            cols["y"].append(rng.uniform(25000, 26000, n))
            cols["pi"].append(rng.integers(200, 12000, n))
            cols["pattern"].append(rng.integers(0, 5, n))
            cols["flag"].append(np.zeros(n, int))
            cols["ccdnr"].append(np.full(n, 4))
            cols["obs_id"].append(np.full(n, e.obs_id, dtype=object))
            cols["instrument"].append(np.full(n, e.instrument, dtype=object))
            cols["exp_id"].append(np.full(n, e.exp_id, dtype=object))
    photons = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.argsort(photons["time"])
    return select.Selection(42, RA, DEC, 20.0, {k: v[order] for k, v in photons.items()}, exps)


@pytest.fixture(scope="module")
def sel():
    return make_selection(np.random.default_rng(7))


@pytest.fixture(scope="module")
def orbit_of():
    out = {}
    for obs, t0 in (("0100000001", T_A), ("0100000002", T_B)):
        t = np.arange(t0 - 2000, t0 + 5e4, 60.0)
        pos, vel = xmm_orbit(t, t0=t0)
        out[obs] = bary.Orbit(t, pos, vel, obs_id=obs)
    out["0100000002"] = None  # B has no orbit: geocentre
    return out


def test_event_file_opens_in_astropy_and_stingray(sel, tmp_path):
    data = eventfile.event_file(sel)
    with fits.open(io.BytesIO(data)) as hdul:
        names = [h.name for h in hdul]
        assert names[:2] == ["PRIMARY", "EVENTS"] and names[-1] == "STDGTI"
        assert sorted(names[2:-1]) == ["GTI_0100000001_EMOS1_S001", "GTI_0100000001_EPN_S003",
                                       "GTI_0100000002_EPN_S003"]
        ev = hdul["EVENTS"]
        h = ev.header
        assert (h["TELESCOP"], h["TIMESYS"], h["TIMEREF"], h["MJDREFI"], h["OBS_ID"]) == \
            ("XMM", "TT", "LOCAL", 50814, "MULTIPLE")
        assert h["TSTART"] == T_A - 500 and h["TSTOP"] == T_B + 3e4
        assert len(ev.data) == len(sel) and np.all(np.diff(ev.data["TIME"]) >= 0)
        for col in ("TIME", "RA", "DEC", "X", "Y", "PI", "PATTERN", "FLAG", "CCDNR", "OBS_ID", "INSTRUME"):
            assert col in ev.columns.names
        g = hdul["GTI_0100000001_EPN_S003"].header
        assert g["ONTIME"] == pytest.approx(3.6e4) and (g["TSTART"], g["TSTOP"]) == (T_A, T_A + 4e4)
        assert (g["OBS_ID"], g["INSTRUME"], g["EXP_ID"], g["HDUCLAS1"]) == ("0100000001", "EPN", "S003", "GTI")
        assert len(hdul["STDGTI"].data) == 2
        assert hdul.info(output=False) and all(h.verify_checksum() == 1 for h in hdul)
    path = tmp_path / "ev.fits"
    path.write_bytes(data)
    from stingray import EventList

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = EventList.read(str(path), fmt="ogip")
    assert len(ev.time) == len(sel) and ev.mjdref == 50814.0
    assert ev.gti.shape == (2, 2) and ev.gti[0, 0] == T_A - 500


def test_barycentred_event_file(sel, orbit_of, tmp_path):
    b = select.barycentre(sel, orbit_of)
    assert b.position == {"0100000001": "orbit", "0100000002": "geocentre"}
    assert any("no orbit" in n for n in b.notes)
    dt = b.photons["time"] - np.sort(sel.photons["time"])
    assert 50 < np.abs(dt).max() < 500  # the Roemer delay moved them
    data = eventfile.event_file(b)
    with fits.open(io.BytesIO(data)) as hdul:
        h = hdul["EVENTS"].header
        assert (h["TIMESYS"], h["TIMEREF"], h["PLEPHEM"], h["BARY_POS"]) == ("TDB", "SOLARSYSTEM", "JPL-DE421", "MIXED")
        assert (h["RA_OBJ"], h["DEC_OBJ"]) == (RA, DEC)
        g = hdul["GTI_0100000002_EPN_S003"].data
        assert g["START"][0] == pytest.approx(bary.barycentre(np.array([T_B]), RA, DEC)[0], abs=1e-6)
        assert h["TSTART"] == pytest.approx(bary.barycentre(np.array([T_A - 500]), RA, DEC, orbit_of["0100000001"])[0])
    path = tmp_path / "bary.fits"
    path.write_bytes(data)
    from stingray import EventList

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = EventList.read(str(path), fmt="ogip")
    assert ev.timesys.lower() == "tdb" and ev.timeref.lower() == "solarsystem" and ev.ephem == "de421"


def test_lightcurve_rates_and_exposure(sel):
    c = lc.bin_lightcurve(sel, 1000.0)
    a = c["obs_id"] == "0100000001"
    # pn + MOS1, each 0.05 count/s: 0.1 count/s where both are on
    assert np.mean(c["rate"][a]) == pytest.approx(0.1, rel=0.1)
    assert np.mean(c["rate"][~a]) == pytest.approx(0.05, rel=0.1)
    assert np.all((c["fracexp"] > 0) & (c["fracexp"] <= 1 + 1e-12))
    # the pn gap T_A+2e4..2.4e4 is not common to pn and MOS1: no bins there (no false dip)
    gap = a & (c["time"] > T_A + 2.0e4) & (c["time"] < T_A + 2.4e4)
    assert gap.sum() == 0 and np.all(c["rate"][a] > 0.04)
    pn = lc.bin_lightcurve(sel, 1000.0, min_fracexp=0.0)  # MOS1 alone starts 500 s earlier
    assert pn["fracexp"][0] == pytest.approx(0.5)
    assert np.all(c["error"] > 0)
    # photon totals are conserved where nothing is cut
    assert c["counts"][~a].sum() == np.sum(sel.photons["obs_id"] == "0100000002")
    with pytest.raises(XmmError, match="bin"):
        lc.bin_lightcurve(sel, 0.0)
    with pytest.raises(XmmError, match="bins of"):
        lc.bin_lightcurve(sel, 1e-3)


def test_lightcurve_background_and_plot(sel):
    bkg_t = np.sort(np.random.default_rng(3).uniform(T_B, T_B + 3e4, 3000))
    n = len(bkg_t)
    bkg = lc.Background({"time": bkg_t, "obs_id": np.full(n, "0100000002", dtype=object),
                         "instrument": np.full(n, "EPN", dtype=object), "exp_id": np.full(n, "S003", dtype=object)},
                        scale=0.25, r_in=40, r_out=80, masked=0)
    c = lc.bin_lightcurve(sel, 1000.0, bkg)
    b = c["obs_id"] == "0100000002"
    assert np.mean(c["bkg_rate"][b]) == pytest.approx(0.025, rel=0.15)
    assert np.mean(c["rate"][b]) == pytest.approx(0.025, rel=0.3)
    png = lc.plot(c, "test", 1000.0, False)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_annulus_area_and_offsets():
    assert lc.annulus_area(40, 80, []) == pytest.approx(np.pi * (80**2 - 40**2), rel=2e-3)
    masked = lc.annulus_area(40, 80, [(60.0, 0.0, 10.0)])
    assert masked == pytest.approx(np.pi * (80**2 - 40**2) - np.pi * 100, rel=3e-3)
    xi, eta = offsets(RA, DEC, np.array([RA]), np.array([DEC + 30 / 3600]))
    assert abs(xi[0]) < 1e-6 and eta[0] == pytest.approx(30.0, abs=1e-6)


def test_periodogram_finds_the_pulsar(sel):
    obs = select.text(sel.photons["obs_id"])
    epochs = {o: sel.photons["time"][obs == o] for o in sel.obs_ids}
    r = pg.search(epochs, 0.82, 0.845)
    assert r["best_frequency"] == pytest.approx(FREQ, abs=2e-5)
    assert r["fap"] < 1e-6 and r["statistic"] == "Z2_2" and len(r["obs_ids"]) == 2
    one = pg.search({"a": epochs["0100000002"]}, 0.82, 0.845, method="h")
    assert one["best_frequency"] == pytest.approx(FREQ, abs=5e-5) and one["fap"] < 1e-3
    noise = pg.search({"a": np.sort(np.random.default_rng(5).uniform(T_A, T_A + 3e4, 2000))}, 0.82, 0.845)
    assert noise["fap"] > 0.01
    # Z^2 agrees with the direct sum of cosines and sines
    t = epochs["0100000002"]
    f = np.array([0.7, 0.7 + 1e-5, 0.7 + 2e-5])
    ph = 2 * np.pi * np.outer(f, t - t[0])
    direct = 2 / len(t) * sum(np.cos(m * ph).sum(1) ** 2 + np.sin(m * ph).sum(1) ** 2 for m in (1, 2, 3))
    assert np.allclose(pg.z2(t, f, 3), direct, rtol=1e-8)
    with pytest.raises(XmmError, match="one coherent photon set"):
        pg.search(epochs, 0.82, 0.845, method="h")
    with pytest.raises(XmmError, match="too large"):
        pg.search(epochs, 0.01, 100.0)
    with pytest.raises(XmmError, match="fmin"):
        pg.search(epochs, 1.0, 0.5)


def test_options_are_checked():
    spec = {"obs_id": (TEXT, None), "barycentre": (BOOL, False), "harmonics": (INTEGER, 2), "emin": (POSITIVE, 200.0)}
    assert parse('{"harmonics": 3}', spec, "f") == {"obs_id": None, "barycentre": False, "harmonics": 3, "emin": 200.0}
    with pytest.raises(XmmError, match="unknown option 'colour'") as e:
        parse({"colour": 1}, spec, "f")
    assert "harmonics" in e.value.hint
    with pytest.raises(XmmError, match="'barycentre' must be a boolean"):
        parse({"barycentre": "yes"}, spec, "f")
    with pytest.raises(XmmError, match="positive integer"):
        parse({"harmonics": 1.5}, spec, "f")
    with pytest.raises(XmmError, match="JSON object"):
        parse("[1]", spec, "f")


def test_exposures_from_per_ccd_gtis():
    photons = {"obs_id": np.array(["1"] * 3, dtype=object), "instrument": np.array(["EPN"] * 3, dtype=object),
               "exp_id": np.array(["S003"] * 3, dtype=object), "ccdnr": np.array([4, 4, 5])}
    gtis = {"obs_id": ["1"] * 4, "instrument": ["EPN"] * 4, "exp_id": ["S003"] * 4, "ccdnr": [4, 4, 5, 0],
            "start": [0.0, 50.0, 0.0, 0.0], "stop": [40.0, 100.0, 100.0, 100.0]}
    (e,) = select.exposures_from(gtis, photons)
    assert e.start.tolist() == [0.0, 50.0] and e.stop.tolist() == [40.0, 100.0]  # CCD 4 has most photons
    s, t = select.merge_intervals([5, 0, 20, 9], [10, 6, 30, 12])
    assert s.tolist() == [0, 20] and t.tolist() == [12, 30]


def test_frame_time_is_recognised():
    rng = np.random.default_rng(4)
    for frame, n in ((2.6, 300), (0.0734, 300), (0.0734, 5000)):
        t = np.round(T_A + (np.floor(rng.uniform(0, 5000, n) / frame) + 0.5) * frame, 6)  # the store's 1 us
        assert pg.frame_time(t) == pytest.approx(frame, rel=1e-6)
    assert pg.frame_time(rng.uniform(0, 5000, 300)) == 0.0
    assert pg.frame_time(rng.uniform(0, 5000, 20000)) == 0.0
    assert pg.frame_time(np.arange(5.0)) == 0.0  # too few to tell
