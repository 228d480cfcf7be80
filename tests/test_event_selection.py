"""Standard event selection and flare filtering on raw pipeline data (3C 66B,
obsid 0002970201: MOS1/MOS2 event lists as the pipeline wrote them, a third of
the events flagged, and the flaring-background time series of all cameras),
checked event for event against a selection made independently with astropy
from the files themselves."""

import io
import json

import numpy as np
import psycopg
import pytest
from astropy.io import fits

from xmmdb_loader.events import load_events

RAW = "events/raw_pps/0002970201"
MOS1 = "P0002970201M1S001MIEVLI0000.FTZ"
MOS2 = "P0002970201M2S002MIEVLI0000.FTZ"
XMMEA_EM = 0x766ba000          # as the event files define it (keyword XMMEA_EM)
RADIUS = 45 * 60.0             # arcsec: the whole MOS field and every event off it


@pytest.fixture(scope="module")
def raw(dsn, shared_data):
    """The raw files loaded into the run's database (kept: rolled back at the end of the module)."""
    folder = shared_data / RAW
    with psycopg.connect(dsn) as conn:
        totals = load_events(conn, sorted(folder.glob("*.FTZ")), progress=False)
        centre = conn.execute("SELECT ra_ref, dec_ref FROM xmm.exposure WHERE obs_id = '0002970201' "
                              "AND instrument = 'EMOS1'").fetchone()
        yield conn, folder, totals, centre
        conn.rollback()
        conn.execute("DELETE FROM xmm.exposure WHERE obs_id = '0002970201'")
        conn.execute("DELETE FROM xmm.flare_series WHERE obs_id = '0002970201'")
        conn.commit()


def astropy_events(path, selected) -> np.ndarray:
    """(time, pi) of the events with a sky position and 200 <= PI <= 12000 that `selected` keeps, sorted."""
    ev = fits.getdata(path, "EVENTS")
    keep = (ev["X"] > 0) & (ev["Y"] > 0) & (ev["PI"] >= 200) & (ev["PI"] <= 12000) & selected(ev)
    return ordered(np.asarray(ev["TIME"][keep], np.float64), np.asarray(ev["PI"][keep], np.int64))


def ordered(time, pi) -> np.ndarray:
    """Events sorted by PI, then time to the microsecond (the store keeps times to 1 us: the two
    sides may differ by 1 us, which reorders nothing unless two events of one PI lie within 1 us)."""
    out = np.rec.fromarrays([time, pi, np.round(time * 1e6).astype(np.int64)])
    return out[np.lexsort((out.f2, out.f1))]


def stored_events(conn, centre, exp_id, options="{}") -> np.ndarray:
    rows = conn.execute("SELECT time, pi FROM xmm_photons(%s, %s, %s, 200, 12000, NULL, NULL, %s)"
                        " WHERE obs_id = '0002970201' AND exp_id = %s", (*centre, RADIUS, options, exp_id)).fetchall()
    return ordered(np.array([r[0] for r in rows], np.float64), np.array([r[1] for r in rows], np.int64))


def assert_same_events(got, want):
    assert len(got) == len(want)
    assert np.array_equal(got.f1, want.f1) and np.abs(got.f2 - want.f2).max(initial=0) <= 1


def test_raw_files_load_every_event_and_the_flare_series(raw, shared_data):
    conn, folder, totals, _ = raw
    assert totals["flare_series"]["inserted"] == 3 and totals["photon"]["inserted"] > 200000
    n, start, stop, threshold = conn.execute(
        "SELECT cardinality(time), gti_start, gti_stop, threshold FROM xmm.flare_series"
        " WHERE obs_id = '0002970201' AND instrument = 'EPN'").fetchone()
    with fits.open(folder / "P0002970201PNS003FBKTSR0000.FTZ") as hdul:
        assert n == len(hdul["RATE"].data) and threshold == pytest.approx(hdul["RATE"].header["FLCUTTHR"], rel=1e-7)
        assert start == hdul["SRC_GTIS"].data["START"].tolist() and stop == hdul["SRC_GTIS"].data["STOP"].tolist()
    again = load_events(conn, [folder / "P0002970201PNS003FBKTSR0000.FTZ"], progress=False)
    assert again["flare_series"] == {"inserted": 0, "updated": 0, "unchanged": 1}


@pytest.mark.parametrize("name, exp_id", [(MOS1, "S001"), (MOS2, "S002")])
def test_the_standard_selection_is_sas_standard_event_for_event(raw, name, exp_id):
    """By default: #XMMEA_EM && PATTERN <= 12, exactly the events astropy selects from the file."""
    conn, folder, _, centre = raw
    want = astropy_events(folder / name, lambda e: ((e["FLAG"] & XMMEA_EM) == 0) & (e["PATTERN"] <= 12))
    everything = astropy_events(folder / name, lambda e: np.ones(len(e), bool))
    assert 0.6 * len(everything) < len(want) < 0.95 * len(everything)       # the selection matters here
    assert_same_events(stored_events(conn, centre, exp_id), want)
    assert_same_events(stored_events(conn, centre, exp_id, '{"all_events": true}'), everything)
    assert_same_events(stored_events(conn, centre, exp_id, '{"pattern": [0, 0], "flag": "none"}'),
                       astropy_events(folder / name, lambda e: e["PATTERN"] == 0))
    # raw SQL over the photon view says the same
    n = conn.execute("SELECT count(*) FROM xmm.photon WHERE obs_id = '0002970201' AND exp_id = %s"
                     " AND pi BETWEEN 200 AND 12000 AND xmm.standard_event(instrument, pattern, flag)",
                     (exp_id,)).fetchone()[0]
    assert n == len(want)


def test_the_flare_filter_drops_exactly_the_photons_outside_the_flare_free_time(raw):
    """flare_filter true: the pipeline's SRC_GTIS; a rate r: the rate-curve bins at or below r."""
    conn, folder, _, centre = raw
    with fits.open(folder / "P0002970201M1S001FBKTSR0000.FTZ") as hdul:
        gti = hdul["SRC_GTIS"].data
        curve = hdul["RATE"].data
        threshold = float(hdul["RATE"].header["FLCUTTHR"])
        timedel = float(hdul["RATE"].header["TIMEDEL"])
    standard = stored_events(conn, centre, "S001")
    inside = np.zeros(len(standard), bool)
    for a, b in zip(gti["START"], gti["STOP"]):
        inside |= (standard.f0 >= a) & (standard.f0 < b)
    assert_same_events(stored_events(conn, centre, "S001", '{"flare_filter": true}'), standard[inside])
    rate = np.asarray(curve["RATE"], np.float32).astype(np.float64)
    assert (rate > threshold).sum() > 50                    # there are flares above the pipeline's cut
    k = np.floor((standard.f0 - curve["TIME"][0]) / timedel + 0.5).astype(int)
    quiet = (k >= 0) & (k < len(rate))
    quiet[quiet] = rate[k[quiet]] <= threshold
    got = stored_events(conn, centre, "S001", json.dumps({"flare_filter": threshold}))
    assert 0.5 * len(standard) < len(got) < len(standard)
    assert_same_events(got, standard[quiet])
    # the exposure of what is kept shrinks the same way: the light curve's good time is the quiet bins'
    srcid = None   # no catalogue source here: the exposure is checked through the timing selection
    from xmmdb.pg import Psycopg
    from xmmdb.timing.select import Exposure, flare_free_exposures

    exposure = Exposure("0002970201", "EMOS1", "S001", np.array([curve["TIME"][0] - timedel / 2]),
                        np.array([curve["TIME"][-1] + timedel / 2]))
    cut = flare_free_exposures(Psycopg(conn), [exposure], threshold)[0]
    assert cut.ontime == pytest.approx(timedel * (rate <= threshold).sum(), rel=1e-9) and srcid is None


def test_a_source_has_the_exposure_of_the_ccd_it_lies_on(raw):
    """xmm_coverage at the middle of each MOS1 CCD names that CCD and its own on-time (the
    file's STDGTInn ONTIME; the header's ONTIME is CCD 1's), and an event file extracted
    there carries that on-time in its exposure's GTI extension."""
    conn, folder, _, centre = raw
    with fits.open(folder / MOS1) as hdul:
        ontime = {int(h.name[6:]): float(h.header["ONTIME"]) for h in hdul if h.name.startswith("STDGTI")}
    assert len(set(ontime.values())) == 7 and ontime[1] == min(ontime.values())   # all differ: CCD 1 is shortest
    rows = conn.execute("SELECT ra, dec, ccdnr FROM xmm_photons(%s, %s, %s, 0, 32767, NULL, NULL, "
                        "'{\"all_events\": true}') WHERE obs_id = '0002970201' AND exp_id = 'S001'",
                        (*centre, RADIUS)).fetchall()
    ra, dec, ccd = (np.array([r[k] for r in rows]) for k in range(3))
    middle = {}
    for k in ontime:
        on = ccd == k
        dra = ((ra[on] - centre[0] + 180) % 360 - 180) * np.cos(np.radians(centre[1]))
        middle[k] = (centre[0] + np.median(dra) / np.cos(np.radians(centre[1])), float(np.median(dec[on])))
        got = conn.execute("SELECT ccdnr, ontime FROM xmm_coverage(%s, %s) WHERE obs_id = '0002970201' "
                           "AND instrument = 'EMOS1'", middle[k]).fetchall()
        assert got == [(k, pytest.approx(ontime[k], abs=1e-4))], f"CCD {k}"
    off = conn.execute("SELECT count(*) FROM xmm_coverage(%s, %s)", (centre[0], centre[1] + 1.0)).fetchone()[0]
    assert off == 0                                          # a degree away: no exposure saw it
    k = max(ontime, key=ontime.get)                          # an outer CCD, not CCD 1
    try:
        conn.execute("INSERT INTO xmm.source (srcid, iauname, sc_ra, sc_dec, sc_ep_8_flux, n_detections) "
                     "VALUES (990000003, 'TEST OUTER CCD', %s, %s, 1e-14, 1)", middle[k])
        (data,) = conn.execute("SELECT xmm_extract_events(990000003, 30)").fetchone()
    finally:
        conn.rollback()                                      # the source was only for this test
    with fits.open(io.BytesIO(data)) as hdul:
        gti = hdul["GTI_0002970201_EMOS1_S001"].header
        assert gti["CCDID"] == k and gti["ONTIME"] == pytest.approx(ontime[k], abs=1e-4)


@pytest.mark.parametrize("options, words", [
    ('{"pattern": [0, 40]}', "pattern must be \\[lo, hi\\]"),
    ('{"flag": "good"}', 'flag must be "standard", "pn_spectral" or "none"'),
    ('{"flare_filter": -1}', "flare_filter must be true, false or a rate"),
    ('{"patern": [0, 4]}', "unknown option 'patern'"),
])
def test_bad_selections_are_refused(db, options, words):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=words):
        db.execute("SELECT count(*) FROM xmm_photons(10.68, 41.27, 30, 200, 12000, NULL, NULL, %s)", (options,))


def test_one_standard_selection_in_sql_and_python(db):
    """xmm.event_rule('{}') and xmmdb.instruments.STANDARD_SELECTION (which the sample sky's simulator
    selects with) are one rule."""
    from xmmdb.instruments import STANDARD_SELECTION

    lo, top_pn, top_mos, mask_pn, mask_mos = db.execute("SELECT xmm.event_rule('{}')").fetchone()[0]
    as_int32 = {k: (top, mask - (1 << 32) if mask >= 1 << 31 else mask) for k, (top, mask) in STANDARD_SELECTION.items()}
    assert lo == 0 and as_int32 == {"EPN": (top_pn, mask_pn), "EMOS1": (top_mos, mask_mos), "EMOS2": (top_mos, mask_mos)}
