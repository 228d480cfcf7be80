"""The photon store: loading event lists (sample sky, Abell 907), exactness of the
packed layout against the files, the access API, idempotence and bad files."""

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import psycopg
import pytest
from astropy.io import fits

from photon_db import db, dsn  # noqa: F401  (the sample catalogue + events only)
from xmmdb.pg import Psycopg
from xmmdb.photons import fetch_gtis, fetch_orbit, fetch_photons
from xmmdb_loader.events import load_events, q3c_cells, read_event_list
from xmmdb_loader.simulate.events import roemer_seconds
from xmmdb_loader.staging import LoadError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
ABELL = ("0201901401", "0201903501", "0404910601")


def abell_files(shared_data):
    return sorted((shared_data / "events" / "abell907").glob("*/mos*_clean_evts.fits"))


def test_sample_events_are_loaded(db):
    n_exp, n_obs, n_phot = db.execute(
        "SELECT count(*), count(DISTINCT obs_id), sum(n_photons) FROM xmm.exposure").fetchone()
    assert (n_exp, n_obs) == (4, 3)
    assert db.execute("SELECT sum(n) FROM xmm.photon_cell").fetchone()[0] == n_phot > 50000
    assert db.execute("SELECT count(DISTINCT obs_id) FROM xmm.orbit").fetchone()[0] == 3
    # GTIs per CCD with the simulated gaps; the observations know their on-time.
    n_gti, n_ccd = db.execute("SELECT count(*), count(DISTINCT (exp_id, ccdnr)) FROM xmm.gti"
                              " WHERE obs_id = '0112570101' AND instrument = 'EPN'").fetchone()
    assert n_ccd == 12 and n_gti > 12


def test_cells_are_q3c(db):
    """The loader's numpy cells are q3c's: every stored photon sits in q3c_ang2ipix >> 36."""
    assert db.execute("SELECT count(*) FROM xmm.photon WHERE cell <> q3c_ang2ipix(ra, dec) >> 36").fetchone()[0] == 0
    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(0, 360, 20000), np.degrees(np.arcsin(rng.uniform(-1, 1, 20000)))
    ref = db.execute("SELECT array_agg(q3c_ang2ipix(r, d) >> 36 ORDER BY i) FROM unnest(%s::float8[], %s::float8[])"
                     " WITH ORDINALITY AS u(r, d, i)", (ra.tolist(), dec.tolist())).fetchone()[0]
    assert np.array_equal(q3c_cells(ra, dec), np.array(ref))


def test_photons_are_the_files_events(db, shared_data):
    """Lossless: TIME to 1 us, PI/PATTERN/FLAG/CCDNR/X/Y exact, RA/Dec as the file's WCS gives them."""
    from astropy.wcs import WCS

    path = abell_files(shared_data)[0]
    load_events(db, [path], progress=False)
    ev = fits.getdata(path, "EVENTS")
    h = fits.getheader(path, "EVENTS")
    w = WCS(naxis=2)
    w.wcs.ctype = [h["TCTYP6"], h["TCTYP7"]]
    w.wcs.crpix = [h["TCRPX6"], h["TCRPX7"]]
    w.wcs.crval = [h["TCRVL6"], h["TCRVL7"]]
    w.wcs.cdelt = [h["TCDLT6"], h["TCDLT7"]]
    ra, dec = w.wcs_pix2world(ev["X"].astype(float), ev["Y"].astype(float), 1)
    rows = db.execute("SELECT time, ra, dec, x, y, pi, pattern, flag, ccdnr FROM xmm.photon"
                      " WHERE obs_id = %s AND instrument = %s ORDER BY time, x, y, pi",
                      (h["OBS_ID"], h["INSTRUME"])).fetchall()
    got = np.array(rows, dtype=float)
    order = np.lexsort((ev["PI"], ev["Y"], ev["X"], ev["TIME"]))
    assert len(got) == len(ev)
    assert np.max(np.abs(got[:, 0] - ev["TIME"][order])) < 1e-6
    for k, col in ((3, "X"), (4, "Y"), (5, "PI"), (6, "PATTERN"), (7, "FLAG"), (8, "CCDNR")):
        assert np.array_equal(got[:, k], ev[col][order].astype(float)), col
    assert np.max(np.abs(got[:, 1] - ra[order])) * 3600 < 1e-6
    assert np.max(np.abs(got[:, 2] - dec[order])) * 3600 < 1e-6


def test_abell907_three_epochs_one_event_list(db, shared_data):
    files = abell_files(shared_data)
    totals = load_events(db, files, progress=False)
    assert totals["photon"]["inserted"] == sum(len(fits.getdata(f, "EVENTS")) for f in files)
    ev = fetch_photons(Psycopg(db), 149.59, -11.06, 60)
    assert set(ev["obs_id"]) == set(ABELL)
    assert set(ev["instrument"]) == {"EMOS1", "EMOS2"}
    assert np.all(np.diff(ev["time"]) >= 0) and len(ev["time"]) > 1000
    assert ev["pi"].min() >= 200 and ev["pi"].max() <= 12000
    assert all(len(v) == len(ev["time"]) for v in ev.values())
    # one epoch, an energy band and a time window
    one = fetch_photons(Psycopg(db), 149.59, -11.06, 60, emin=500, emax=2000, obs_id="0404910601")
    assert set(one["obs_id"]) == {"0404910601"} and one["pi"].min() >= 500 and one["pi"].max() <= 2000
    t0, t1 = np.percentile(one["time"], [25, 75])
    win = fetch_photons(Psycopg(db), 149.59, -11.06, 60, 500, 2000, t0, t1, "0404910601")
    assert len(win["time"]) == np.count_nonzero((one["time"] >= t0) & (one["time"] <= t1))
    # the observations exist (they are in the sample catalogue) and have MOS on-time
    assert db.execute("SELECT count(*) FROM xmm.observation WHERE obs_id = ANY(%s) AND m1_ontime > 0",
                      (list(ABELL),)).fetchone()[0] == 3
    gti = fetch_gtis(Psycopg(db), list(ABELL))
    assert set(gti["obs_id"]) == set(ABELL) and np.all(gti["stop"] >= gti["start"])


def test_xmm_photons_is_the_exact_cone(db):
    """The cell path returns exactly what a brute-force scan with q3c_dist returns: cones
    centred on photons, inside a field, and degrees off the field's tangent point, where
    the per-row pixel box must still hold the whole cone."""
    centres = db.execute("SELECT ra, dec FROM xmm.photon ORDER BY time LIMIT 5").fetchall()
    centres += [(10.6847, 41.2690), (10.7083, 41.3011), (11.9, 42.0)]
    radii = (5.0, 30.0, 120.0, 5400.0)
    selections = (('{"all_events": true}', "true"), ("{}", "standard"))
    # the brute force: the view decoded once, then one scan per centre for all radii and selections
    db.execute("CREATE TEMP TABLE every_photon AS SELECT ra, dec, pi, xmm.standard_event(instrument, pattern, flag)"
               " AS standard FROM xmm.photon")
    sums = ", ".join(f"count(*) FILTER (WHERE d <= {r} AND {sel}), sum(pi) FILTER (WHERE d <= {r} AND {sel})"
                     for r in radii for _, sel in selections)
    for n, (ra, dec) in enumerate(centres):
        slow = db.execute(f"SELECT {sums} FROM (SELECT *, q3c_dist(ra, dec, %s, %s) * 3600 AS d FROM every_photon) p",
                          (ra, dec)).fetchone()
        for i, (radius, (options, _)) in enumerate((r, s) for r in radii for s in selections):
            if radius > 120 and 0 < n < len(centres) - 1:
                continue      # the degree-wide cone (0.4 s a call) at the first and the off-field centre only
            fast = db.execute("SELECT count(*), sum(pi) FROM xmm.xmm_photons(%s, %s, %s, 0, 30000, NULL, NULL, %s)",
                              (ra, dec, radius, options)).fetchone()
            assert fast == (slow[2 * i], slow[2 * i + 1]), (ra, dec, radius, options)


def test_xmm_photons_values_are_the_views(db):
    """xmm_photons decodes in C (xmm.cone_photons) what the view decodes in SQL: every
    column of every photon bit for bit, with band and time limits applied as given."""
    t_mid = db.execute("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY time) FROM xmm.photon").fetchone()[0]
    cones = [(10.7083, 41.3011, 300.0, 200, 12000, None, None), (10.6847, 41.2690, 90.0, 500, 2000, None, t_mid),
             (10.6606, 41.3137, 45.0, 0, 30000, t_mid, t_mid + 2000)]
    for ra, dec, radius, emin, emax, tmin, tmax in cones:
        args = (ra, dec, radius, emin, emax, tmin, tmax)
        columns = "obs_id, instrument, exp_id, time, pi, pattern, flag, ccdnr, x, y, cell, ra, dec"
        n, missing = db.execute(
            "WITH x AS MATERIALIZED (SELECT * FROM xmm.xmm_photons(%s, %s, %s, %s, %s, %s, %s))"
            f"SELECT (SELECT count(*) FROM x), (SELECT count(*) FROM (SELECT {columns} FROM x EXCEPT ALL"
            f"  SELECT {columns} FROM xmm.photon WHERE cell = ANY (xmm.cone_cells(%s, %s, %s / 3600.0))) d)",
            args + (ra, dec, radius)).fetchone()
        limits = db.execute(
            "SELECT count(*) FILTER (WHERE pi < %s OR pi > %s OR time < coalesce(%s, time) OR time > coalesce(%s, time))"
            "  FROM xmm.xmm_photons(%s, %s, %s, %s, %s, %s, %s)", (emin, emax, tmin, tmax) + args).fetchone()[0]
        assert n > 0 and missing == 0 and limits == 0, (args, n, missing, limits)


def test_a_corrupt_packed_row_is_an_error_not_a_crash(db):
    """A packed row whose arrays disagree in length (never written by the loader) is
    reported, not read past its end. The test's transaction is rolled back."""
    db.execute("UPDATE xmm.photon_cell SET dx = dx[1:1] WHERE n > 1"
               "   AND cell = ANY (xmm.cone_cells(10.7083, 41.3011, 0.01))")
    with pytest.raises(psycopg.errors.DataCorrupted, match="packed photon row has arrays of different lengths"):
        db.execute("SELECT count(*) FROM xmm.xmm_photons(10.7083, 41.3011, 30)").fetchone()


def test_a_crafted_flare_series_without_bins_or_intervals_passes_no_photon(db):
    """The decoder is callable with any row a reader builds: an empty flare series (which the
    table's checks never hold) means no flare-free time, not a read past its arrays."""
    sql = ("SELECT count(*) FROM xmm.photon_cell c JOIN xmm.exposure e USING (exp_key),"
           " xmm.cone_photon_arrays(c, e, 10.7083, 41.3011, 0.01, 0, 32767, NULL, NULL, xmm.event_rule('{}'), %s, %s,"
           "   ROW(e.obs_id, e.instrument, e.exp_id, 10.0, '{}'::float8[], '{}'::real[], 1.0, '{}'::float8[],"
           "       '{}'::float8[], 'f', 'x', now())::xmm.flare_series) p"
           " WHERE c.cell = ANY (xmm.cone_cells(10.7083, 41.3011, 0.01))")
    assert db.execute(sql.replace("%s, %s", "'off', NULL")).fetchone()[0] > 0     # the cone has photons
    for mode, threshold in (("rate", 1e6), ("pipeline", None)):
        assert db.execute(sql, (mode, threshold)).fetchone()[0] == 0


def test_api_inside_the_server_shape(db):
    """fetch_photons returns typed, equal-length arrays, empty where there is nothing."""
    empty = fetch_photons(Psycopg(db), 200.0, -60.0, 30)
    assert all(len(v) == 0 for v in empty.values()) and empty["time"].dtype == np.float64
    orbit = fetch_orbit(Psycopg(db), "0112570101")
    assert len(orbit["time"]) > 50 and np.all(np.diff(orbit["time"]) > 0)
    r = np.sqrt(orbit["x"] ** 2 + orbit["y"] ** 2 + orbit["z"] ** 2)
    assert 6500 < r.min() and r.max() < 120000
    assert len(fetch_orbit(Psycopg(db), "0000000000")["time"]) == 0


def test_a_call_reads_at_most_max_photons(db, monkeypatch):
    """The declared bound of every function that reads photons into memory: over it, a clear
    error (54000) before the arrays are made; at it, the photons."""
    from xmmdb.errors import XmmError
    from xmmdb.photons import access

    n = len(fetch_photons(Psycopg(db), 10.7083, 41.3011, 60)["time"])
    assert n > 100
    monkeypatch.setattr(access, "MAX_PHOTONS", n)
    assert len(fetch_photons(Psycopg(db), 10.7083, 41.3011, 60)["time"]) == n
    assert len(access.fetch_positions(Psycopg(db), 10.7083, 41.3011, 60)["ra"]) == n
    monkeypatch.setattr(access, "MAX_PHOTONS", n - 1)
    for fetch in (fetch_photons, access.fetch_positions):
        with pytest.raises(XmmError, match=f"more than {n - 1:,} photons within 60\"") as err:
            fetch(Psycopg(db), 10.7083, 41.3011, 60)
        assert err.value.sqlstate == "54000"


def test_sample_pulsar_is_there(db):
    truth = json.loads((SAMPLE / "truth" / "events.json").read_text())["pulsar"]
    ev = fetch_photons(Psycopg(db), truth["ra"], truth["dec"], 20, obs_id=truth["observations"][0])
    ev_pn = ev["time"][ev["instrument"] == "EPN"]
    orbit = fetch_orbit(Psycopg(db), truth["observations"][0])
    tb = ev_pn + roemer_seconds(ev_pn, truth["ra"], truth["dec"],
                                (orbit["time"], np.stack([orbit["x"], orbit["y"], orbit["z"]], axis=1)))
    phase = 2 * np.pi * tb / truth["period_s"]
    z2 = 2.0 / len(tb) * (np.cos(phase).sum() ** 2 + np.sin(phase).sum() ** 2)
    assert len(tb) > 500 and z2 > 25


def test_reload_is_idempotent_and_a_new_list_replaces(db, tmp_path):
    path = SAMPLE / "events" / "P0112290601M1S001MIEVLI0000.FTZ"
    before = db.execute("SELECT exp_key, n_photons FROM xmm.exposure WHERE obs_id = '0112290601'").fetchone()
    totals = load_events(db, [path], progress=False)
    assert totals["photon"] == {"inserted": 0, "updated": 0, "unchanged": before[1]}
    assert db.execute("SELECT exp_key FROM xmm.exposure WHERE obs_id = '0112290601'").fetchone() == before[:1]
    # a filtered list of the same exposure (half the events) replaces the photons
    with fits.open(path) as hdul:
        data = hdul["EVENTS"].data
        hdul["EVENTS"].data = data[np.arange(0, len(data), 2)]
        hdul.writeto(tmp_path / "m1_filtered.fits")
    totals = load_events(db, [tmp_path / "m1_filtered.fits"], progress=False)
    n_half = (before[1] + 1) // 2
    assert totals["photon"]["updated"] == n_half
    assert db.execute("SELECT sum(n) FROM xmm.photon_cell c JOIN xmm.exposure e USING (exp_key)"
                      " WHERE e.obs_id = '0112290601'").fetchone()[0] == n_half


def _bad_files(tmp_path: Path) -> dict:
    good = SAMPLE / "events" / "P0112290601M1S001MIEVLI0000.FTZ"
    raw = gzip.decompress(good.read_bytes())
    out = {}
    (tmp_path / "truncated.FTZ").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    out["truncated.FTZ"] = "cannot read"
    (tmp_path / "truncated.fits").write_bytes(raw[: len(raw) * 2 // 3])
    out["truncated.fits"] = "cannot read"
    (tmp_path / "notfits.fits").write_text("SIMPLE = maybe\n")
    out["notfits.fits"] = "cannot read"
    shutil.copy(SAMPLE / "catalogue" / "xmmdb_sample_obslist.fits", tmp_path / "obslist.fits")
    out["obslist.fits"] = "not an EPIC event list"
    with fits.open(good) as hdul:
        for key in ("TCTYP2", "TCRVL2"):
            del hdul["EVENTS"].header[key]
        hdul.writeto(tmp_path / "nowcs.fits")
    out["nowcs.fits"] = "sky WCS"
    with fits.open(good) as hdul:
        hdul["EVENTS"].header["TIMESYS"] = "TDB"
        hdul.writeto(tmp_path / "tdb.fits")
    out["tdb.fits"] = "TIMESYS"
    return out


def test_bad_files_are_rejected_and_nothing_written(db, tmp_path):
    before = db.execute("SELECT count(*), sum(n_photons) FROM xmm.exposure").fetchone()
    for name, words in _bad_files(tmp_path).items():
        with pytest.raises(LoadError) as err:
            load_events(db, [tmp_path / name], progress=False)
        assert name in str(err.value) and words in str(err.value) and "nothing was written" in str(err.value)
    assert db.execute("SELECT count(*), sum(n_photons) FROM xmm.exposure").fetchone() == before


def test_reader_uses_the_files_wcs(tmp_path):
    """RA/Dec follow the file's TCRVL: move the tangent point and the sky moves with it."""
    good = SAMPLE / "events" / "P0112290601M1S001MIEVLI0000.FTZ"
    with fits.open(good) as hdul:
        hdul["EVENTS"].header["TCRVL3"] += 0.5
        hdul.writeto(tmp_path / "moved.fits")
    a, b = read_event_list(good), read_event_list(tmp_path / "moved.fits")
    da = b.wcs.to_radec(b.columns["X"][:10], b.columns["Y"][:10])[1] - a.wcs.to_radec(a.columns["X"][:10],
                                                                                       a.columns["Y"][:10])[1]
    assert np.allclose(da, 0.5, atol=1e-3)


def test_events_without_sky_position_are_counted_not_stored(db, tmp_path):
    good = SAMPLE / "events" / "P0112290601M1S001MIEVLI0000.FTZ"
    with fits.open(good) as hdul:
        ev = hdul["EVENTS"]
        ev.header["TNULL2"] = -99999
        ev.data["X"][:3] = -99999
        n = len(ev.data)
        hdul.writeto(tmp_path / "nulls.fits")
    load_events(db, [tmp_path / "nulls.fits"], progress=False)
    assert db.execute("SELECT n_photons FROM xmm.exposure WHERE obs_id = '0112290601'").fetchone()[0] == n - 3
    assert db.execute("SELECT summary->>'without_sky' FROM xmm.load_log WHERE file LIKE '%nulls.fits'"
                      ).fetchone()[0] == "3"


def test_cli_rejects_a_bad_file_by_name(dsn, tmp_path, monkeypatch, capsys):
    from xmmdb_loader import cli

    (tmp_path / "broken_PIEVLI.FTZ").write_bytes(b"\x1f\x8b\x08\x00garbage")
    monkeypatch.setenv("XMMDB_DSN", dsn)
    assert cli.main(["load", "events", str(tmp_path / "broken_PIEVLI.FTZ")]) == 1
    err = capsys.readouterr().err
    assert "broken_PIEVLI.FTZ" in err and "nothing was written" in err
