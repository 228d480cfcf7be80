"""The timing SQL functions in the server, end to end: real XMM-Newton event
lists (Abell 907, three epochs, no orbit files) loaded through the photon
loader, a catalogue source put at the cluster core, and the products opened in
astropy and stingray. The sample pulsar is searched in test_timing_sample.py."""

import io
import warnings

import numpy as np
import psycopg
import pytest
from astropy.io import fits

SRCID = 990000001
RA, DEC = 149.5922925, -11.0597  # Abell 907's core (RA_OBJ/DEC_OBJ of the event files)


@pytest.fixture(scope="module")
def a907(dsn):
    from conftest import SHARED
    from xmmdb_loader.events import load_events

    files = sorted((SHARED / "events" / "abell907").glob("*/mos*_clean_evts.fits"))
    assert files, f"{SHARED}/events/abell907 is missing: the real-data tests need ../shared/data beside the checkout"
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT 1")   # a transaction, so the loads are savepoints of it and all is rolled back
        load_events(conn, files, progress=False)
        conn.execute("INSERT INTO xmm.source (srcid, iauname, sc_ra, sc_dec, sc_ep_8_flux, n_detections) "
                     "VALUES (%s, 'TEST A907 core', %s, %s, 3e-12, 3)", (SRCID, RA, DEC))
        notices = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        conn.notices = notices
        yield conn
        conn.rollback()


def one(conn, sql, *args):
    return conn.execute(sql, args).fetchone()


def test_extract_all_epochs(a907, tmp_path):
    (data,) = one(a907, "SELECT xmm_extract_events(%s)", SRCID)
    with fits.open(io.BytesIO(data)) as hdul:
        ev = hdul["EVENTS"]
        assert ev.header["SRC_RAD"] == 30.0  # default radius for 3e-12 erg/cm2/s
        assert set(ev.data["OBS_ID"]) == {"0201901401", "0201903501", "0404910601"}
        assert set(ev.data["INSTRUME"]) == {"EMOS1", "EMOS2"}
        gtis = [h.name for h in hdul if h.name.startswith("GTI_")]
        assert len(gtis) == 6 and ev.header["TIMESYS"] == "TT" and ev.header["OBS_ID"] == "MULTIPLE"
        n = len(ev.data)
        (count,) = one(a907, "SELECT count(*) FROM xmm_photons(%s, %s, 30)", RA, DEC)
        assert n == count > 1000
    path = tmp_path / "a907.fits"
    path.write_bytes(data)
    from stingray import EventList

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        el = EventList.read(str(path), fmt="ogip")
    assert len(el.time) == n and el.gti.shape[0] >= 3


def test_extract_barycentred_without_orbit(a907):
    del a907.notices[:]
    (data,) = one(a907, "SELECT xmm_extract_events(%s, 20, '{\"obs_id\": \"0201903501\", \"barycentre\": true}')",
                  SRCID)
    assert any("no orbit file" in m for m in a907.notices)
    with fits.open(io.BytesIO(data)) as hdul:
        h = hdul["EVENTS"].header
        assert (h["TIMESYS"], h["TIMEREF"], h["PLEPHEM"], h["BARY_POS"], h["OBS_ID"]) == \
            ("TDB", "SOLARSYSTEM", "JPL-DE421", "GEOCENTRE", "0201903501")
        t_bary = hdul["EVENTS"].data["TIME"]
    (raw,) = one(a907, "SELECT xmm_extract_events(%s, 20, '{\"obs_id\": \"0201903501\"}')", SRCID)
    with fits.open(io.BytesIO(raw)) as hdul:
        t = hdul["EVENTS"].data["TIME"]
    (again,) = one(a907, "SELECT xmm_barycentre(%s, %s, %s)", list(t[:50]), RA, DEC)
    assert np.allclose(np.array(again), t_bary[:50], atol=2e-6, rtol=0)  # 1 us storage resolution
    assert 100 < abs(t_bary[0] - t[0]) < 500


def test_lightcurve_rows_and_plot(a907):
    rows = a907.execute("SELECT * FROM xmm_lightcurve(%s, 1000, '{\"obs_id\": \"0201903501\"}')", (SRCID,)).fetchall()
    assert len(rows) > 5 and {r[4] for r in rows} == {"0201903501"}
    t, rate, err, frac, _ = map(np.array, zip(*rows))
    assert np.all(np.diff(t) > 0) and np.all(err > 0) and np.all((frac >= 0.1) & (frac <= 1 + 1e-9))
    assert 0.05 < np.median(rate) < 5  # a bright cluster core: MOS1 + MOS2 count rate
    (png,) = one(a907, "SELECT xmm_lightcurve_plot(%s, 2000)", SRCID)
    assert bytes(png[:4]) == b"\x89PNG"


def test_errors_reach_sql_as_messages(a907):
    """What psql shows: the message itself (no Python type before it, no traceback
    after it), with its hint and SQLSTATE."""
    cases = [("SELECT xmm_extract_events(987654321)", "there is no source with srcid 987654321", "02000"),
             ("SELECT xmm_extract_events(%s, 20, '{\"obs_id\": \"0000000001\"}')" % SRCID,
              "xmm_extract_events: no photons within", "02000"),
             ("SELECT xmm_extract_events(%s, 20, '{\"barycenter\": true}')" % SRCID,   # hint: did you mean
              "xmm_extract_events: unknown option 'barycenter'", "22023"),
             ("SELECT * FROM xmm_lightcurve(%s, -5)" % SRCID, "xmm_lightcurve: bin_s must be a positive", "22023"),
             ("SELECT xmm_lightcurve_plot(%s, 0)" % SRCID, "xmm_lightcurve_plot: bin_s must be", "22023"),
             ("SELECT * FROM xmm_periodogram(%s, 0.5, 1.0, '{\"harmonics\": \"two\"}')" % SRCID,
              "xmm_periodogram: option 'harmonics' must be a positive integer", "22023"),
             ("SELECT xmm_barycentre(ARRAY[1e12], 149.59, -11.06)", "times outside the span of JPL-DE421", "22023"),
             ("SELECT xmm_image(149.59, -11.06, -3, 4)", "xmm_image: size_arcmin and bin_arcsec must be positive",
              "22023")]
    for sql, message, sqlstate in cases:
        with a907.transaction():
            try:
                with a907.transaction():
                    a907.execute(sql)
                raise AssertionError(f"no error from {sql}")
            except psycopg.Error as exc:
                d = exc.diag
                assert d.message_primary.startswith(message), (sql, d.message_primary)
                assert d.sqlstate == sqlstate and "Traceback" not in (d.context or ""), (sql, d.sqlstate, d.context)
                if "srcid 987654321" in message:
                    assert "SELECT srcid, iauname FROM xmm.source" in d.message_hint


def test_a_fault_keeps_its_traceback(db):
    """An uncaught Python exception (SQLSTATE 38000) is a bug, not a message for
    humans: the traceback that says where stays, as DETAIL."""
    with pytest.raises(psycopg.errors.ExternalRoutineException) as e:
        db.execute("SELECT xmm.raise_error('ZeroDivisionError: division by zero', NULL, '38000', "
                   "'Traceback (most recent call last): timing/lightcurve.py, line 80')")
    assert e.value.diag.message_primary == "ZeroDivisionError: division by zero"
    assert "lightcurve.py, line 80" in e.value.diag.message_detail


def test_periodogram_on_noise(a907):
    r = one(a907, "SELECT best_frequency, fap, n_photons, statistic, obs_ids, barycentred, "
                  "cardinality(frequency) FROM xmm_periodogram(%s, 0.5, 0.55, '{\"obs_id\": \"0201903501\"}')", SRCID)
    assert 0.5 <= r[0] <= 0.55 and r[1] > 1e-3 and r[2] > 100 and r[3] == "Z2_2" and r[4] == ["0201903501"]
    assert r[5] is True and r[6] > 1000


@pytest.mark.parametrize("options", ['{"obs_id": "0201901401"}', '{}'])
def test_a_cluster_does_not_pulse_through_its_gaps(a907, options):
    """A galaxy cluster's photons at 1-10 mHz, where each exposure's GTIs leave their
    imprint (an uncorrected Z^2 finds a window's period: tests/test_timing_fap.py).
    Corrected for the phase exposure, nothing, in one epoch or over all three."""
    fap, corrected, how = one(a907, "SELECT fap, candidates, combination FROM xmm_periodogram(%s, 0.001, 0.01, %s)",
                              SRCID, options)
    assert fap > 0.01, (fap, corrected)
    assert how.startswith("coherent" if "obs_id" in options else "incoherent")


def test_a_cluster_does_not_vary(a907):
    """Constant within every observation at the stated thresholds: KS and Kuiper against a
    constant rate through the GTIs, one Bayesian block at p0 = 1 %."""
    rows = a907.execute("SELECT obs_id, test, statistic, probability, n_photons FROM xmm_variability(%s)",
                        (SRCID,)).fetchall()
    within = [r for r in rows if r[0] is not None]
    assert len({r[0] for r in within}) == 3 and min(r[4] for r in within) > 500
    for obs_id, test, stat, p, n in within:
        assert (stat == 1) if test == "blocks" else (p > 1e-3), (obs_id, test, stat, p)


def test_a_position_is_a_source_where_it_is(a907):
    """The _at functions (the web's extraction circle moved off a catalogue position) answer at
    a source's position exactly what the source's functions answer with the same radius."""
    events = lambda sql, *a: fits.open(io.BytesIO(bytes(one(a907, sql, *a)[0])))["EVENTS"].data  # noqa: E731
    by_source = events("SELECT xmm_extract_events(%s, 30)", SRCID)
    at = events("SELECT xmm_extract_events_at(%s, %s, 30)", RA, DEC)
    assert len(at) == len(by_source) > 1000 and np.array_equal(at["TIME"], by_source["TIME"])
    curve = "SELECT array_agg(rate ORDER BY time) FROM {}"
    assert one(a907, curve.format("xmm_lightcurve(%s, 1000, '{\"radius\": 30}')"), SRCID) == \
        one(a907, curve.format("xmm_lightcurve_at(%s, %s, 1000, '{\"radius\": 30}')"), RA, DEC)
    search = "SELECT best_frequency, fap, n_photons FROM {}"
    assert one(a907, search.format("xmm_periodogram(%s, 0.01, 0.05, '{\"radius\": 30}')"), SRCID) == \
        one(a907, search.format("xmm_periodogram_at(%s, %s, 0.01, 0.05, '{\"radius\": 30}')"), RA, DEC)
