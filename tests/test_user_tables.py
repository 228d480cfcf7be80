"""User tables (xmmdb load table): a real non-4XMM XMM catalogue (the ATLAS survey list)
loaded exactly, with its position indexed by Q3C and published in TAP_SCHEMA; cross-matches
in SQL, ADQL and the search language go through the index and equal astropy's
search_around_sky; reloads change nothing; bad files are refused naming column and row;
readers cannot create or drop them."""

from __future__ import annotations

import os

import numpy as np
import psycopg
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.table import Table
from conftest import drop_database, scratch_database, served

from xmmdb_loader.staging import LoadError
from xmmdb_loader.tables import column_names, load_table

ATLAS = "catalogs/xmmatlas_srclistnew_Legacy.fits"


def begin(db):
    """The test's transaction, so that a load is a savepoint rolled back after the test."""
    db.execute("SELECT 1")


def refresh(db):
    """TAP_SCHEMA follows a load at its commit; these tests roll back, so they refresh it themselves."""
    db.execute("SELECT xmm.tap_schema_refresh()")


def test_real_catalogue_loads_exactly(db, shared_data):
    begin(db)
    path = shared_data / ATLAS
    totals = load_table(db, [path], progress=False, name="atlas")
    assert totals == {"usr.atlas": {"inserted": 1127, "updated": 0, "unchanged": 0}}
    table = Table.read(path)
    cols = [r[0] for r in db.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'usr.atlas'::regclass "
                                     "AND attnum > 0 ORDER BY attnum")]
    assert cols == [c.lower() for c in table.colnames]
    rows = db.execute("SELECT uxid, ra, dec, radec_err, cnt_total_full_80, flux_full FROM usr.atlas "
                      "ORDER BY uxid").fetchall()
    order = np.argsort(table["UXID"].astype(str))
    assert [r[0] for r in rows] == list(table["UXID"].astype(str)[order])
    assert np.array_equal([r[1] for r in rows], table["RA"][order])                 # doubles exactly
    assert np.array_equal(np.array([r[3] for r in rows], np.float32), table["RADEC_ERR"][order])   # reals exactly
    assert [r[4] for r in rows] == list(table["CNT_TOTAL_FULL_80"][order])
    flux = np.array([np.nan if r[5] is None else r[5] for r in rows])
    assert np.array_equal(flux, table["FLUX_FULL"][order], equal_nan=True)           # NaN stored as NULL
    assert db.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'atlas' AND schemaname = 'usr'"
                      ).fetchall() == [("atlas_q3c_idx",)]
    refresh(db)
    published = dict(db.execute("SELECT column_name, ucd FROM tap_schema.columns WHERE table_name = 'usr.atlas' "
                                "AND ucd IS NOT NULL").fetchall())
    assert published == {"ra": "pos.eq.ra;meta.main", "dec": "pos.eq.dec;meta.main"}
    assert db.execute("SELECT count(*) FROM tap_schema.columns WHERE table_name = 'usr.atlas'").fetchone() == (108,)
    # the same file again: nothing changes
    assert load_table(db, [path], progress=False, name="atlas") == {
        "usr.atlas": {"inserted": 0, "updated": 0, "unchanged": 1127}}
    # the same name from another position: refused unless --replace
    with pytest.raises(LoadError, match=r"usr\.atlas exists .*--replace"):
        load_table(db, [path], progress=False, name="atlas", ra="RA_CORR", dec="DEC_CORR")
    load_table(db, [path], progress=False, name="atlas", ra="RA_CORR", dec="DEC_CORR", replace=True)
    assert db.execute("SELECT ra_column, dec_column, n_rows FROM xmm.user_table WHERE table_name = 'atlas'"
                      ).fetchone() == ("ra_corr", "dec_corr", 1127)


def test_cross_match_equals_astropy_and_uses_the_index(db, shared_data):
    """The ATLAS positions against their own astrometrically corrected positions (two user tables of
    one real file) within 2": every pair astropy finds, and no other, through the Q3C index."""
    begin(db)
    path = shared_data / ATLAS
    load_table(db, [path], progress=False, name="atlas")
    load_table(db, [path], progress=False, name="atlas_corr", ra="RA_CORR", dec="DEC_CORR")
    t = Table.read(path)
    a = SkyCoord(t["RA"], t["DEC"], unit="deg")
    c = SkyCoord(t["RA_CORR"], t["DEC_CORR"], unit="deg")
    ia, ic, _, _ = search_around_sky(a, c, 2 * u.arcsec)
    want = sorted(zip(t["UXID"].astype(str)[ia], t["UXID"].astype(str)[ic]))
    query = ("SELECT a.uxid, c.uxid FROM usr.atlas a JOIN usr.atlas_corr c "
             "ON q3c_join(a.ra, a.dec, c.ra_corr, c.dec_corr, 2 / 3600.)")
    got = sorted(db.execute(query).fetchall())
    assert got == want and 900 < len(want) < 1127
    plan = "\n".join(r[0] for r in db.execute("EXPLAIN " + query))
    assert "atlas_corr_q3c_idx" in plan and "Seq Scan on atlas_corr" not in plan
    # ADQL, as TAP runs it: the same pairs, through the index
    refresh(db)
    adql = ("SELECT a.uxid, c.uxid FROM usr.atlas AS a JOIN usr.atlas_corr AS c ON "
            "DISTANCE(POINT('ICRS', a.ra, a.dec), POINT('ICRS', c.ra_corr, c.dec_corr)) < 2./3600")
    sql = db.execute("SELECT xmm_adql(%s)", (adql,)).fetchone()[0]
    assert "q3c_join" in sql
    assert sorted(db.execute(sql).fetchall()) == want


@pytest.fixture
def shifted(db, tmp_path):
    """Every 10th sample source moved by 1.5", as a VOTable with units and UCDs, loaded as usr.mine."""
    begin(db)
    rows = db.execute("SELECT srcid, sc_ra, sc_dec FROM xmm.source WHERE srcid % 10 = 0 ORDER BY srcid").fetchall()
    t = Table({"Id": [r[0] for r in rows], "RAJ2000": [r[1] for r in rows],
               "DEJ2000": [r[2] + 1.5 / 3600 for r in rows], "Label": [f"p{r[0]}" for r in rows]})
    t["RAJ2000"].unit = t["DEJ2000"].unit = "deg"
    t["RAJ2000"].meta["ucd"], t["DEJ2000"].meta["ucd"] = "pos.eq.ra;meta.main", "pos.eq.dec;meta.main"
    t["Id"].description = "the sample source this row was made from"
    path = tmp_path / "mine.vot"
    t.write(path, format="votable")
    load_table(db, [path], progress=False)
    return {r[0] for r in rows}


def test_search_language_and_catalogue_join(db, shifted):
    got = {r[0] for r in db.execute("SELECT srcid FROM xmm_search('matched(mine, 3arcsec)')")}
    # a close pair of catalogue sources may both lie within 3" of one shifted position
    assert shifted <= got and len(got - shifted) <= 2
    assert not {r[0] for r in db.execute("SELECT srcid FROM xmm_search('matched(mine, 1arcsec)')")}
    both = {r[0] for r in db.execute("SELECT srcid FROM xmm_search('matched(mine, 3arcsec) AND sc_det_ml > 20')")}
    assert both == {r[0] for r in db.execute("SELECT srcid FROM xmm.source WHERE srcid = ANY(%s) AND sc_det_ml > 20",
                                             (list(got),))}
    sql = db.execute("SELECT xmm_to_sql('matched(mine, 3arcsec)')").fetchone()[0]
    plan = "\n".join(r[0] for r in db.execute("EXPLAIN " + sql))
    assert "mine_q3c_idx" in plan or "source_q3c_idx" in plan
    refresh(db)
    described = db.execute("SELECT description, ucd, unit FROM tap_schema.columns WHERE table_name = 'usr.mine' "
                           "ORDER BY column_index").fetchall()
    assert described[0][0] == "the sample source this row was made from"
    assert described[1][1:] == ("pos.eq.ra;meta.main", "deg")


@pytest.mark.parametrize("query, message", [
    ("matched(mien, 3arcsec)", r"unknown user table 'mien' \(did you mean mine\?\)"),
    ("matched(mine, 10arcmin)", "the match radius at column 15 is at most 5 arcmin"),
    ("matched(mine)", "matched\\(\\) takes a user table and a radius"),
])
def test_search_language_errors(db, shifted, query, message):
    with pytest.raises(psycopg.Error, match=message):
        db.execute("SELECT xmm_to_sql(%s)", (query,))


def test_bad_files_are_refused_naming_column_and_row(db, tmp_path):
    begin(db)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,ra,dec\na,10.0,41.0\nb,10.1,95.5\n")
    with pytest.raises(LoadError, match=r"bad\.csv: column dec value 95\.5 in row 2 is not a declination"):
        load_table(db, [bad], progress=False)
    arcsec = tmp_path / "arcsec.vot"
    t = Table({"ra": [10.0], "dec": [41.0]})
    t["dec"].unit = "arcsec"
    t.write(arcsec, format="votable")
    with pytest.raises(LoadError, match="column dec is the DEC but its unit is 'arcsec', not deg"):
        load_table(db, [arcsec], progress=False)
    with pytest.raises(LoadError, match="no column RAX"):
        load_table(db, [bad], progress=False, ra="RAX", dec="dec")
    assert db.execute("SELECT count(*) FROM xmm.user_table").fetchone() == (0,)
    # no position: a plain table, no index
    plain = tmp_path / "Plain Table.csv"
    plain.write_text("Obs ID,Flux (0.5-2),2nd\n0123,1e-14,true\n")
    load_table(db, [plain], progress=False)
    assert db.execute("SELECT * FROM usr.plain_table").fetchall() == [(123, 1e-14, "true")]   # CSV text stays text
    assert column_names(["Obs ID", "Flux (0.5-2)", "2nd", "obs_id"]) == ["obs_id", "flux_0_5_2", "_2nd", "obs_id_2"]


def test_readers_cannot_create_or_drop(db):
    for fn in ("xmm.user_table_create(text, jsonb, text, text, text, text, text)", "xmm.user_table_drop(text)"):
        assert db.execute("SELECT has_function_privilege('xmm_reader', %s, 'EXECUTE')", (fn,)).fetchone() == (False,)
    assert db.execute("SELECT has_schema_privilege('xmm_reader', 'usr', 'CREATE'), "
                      "has_schema_privilege('xmm_reader', 'usr', 'USAGE'), "
                      "has_schema_privilege('xmm_loader', 'usr', 'CREATE')").fetchone() == (False, True, True)


@pytest.fixture(scope="module")
def tap_url(server_dsn, shared_data):
    """A database of its own with the ATLAS list committed, served as TAP."""
    from xmmdb_web.app import create_app

    name = f"xmmtest_usertables_{os.getpid()}"
    dsn = scratch_database(server_dsn, name)
    with psycopg.connect(dsn) as conn:
        load_table(conn, [shared_data / ATLAS], progress=False, name="atlas")
    app = create_app(dsn, hips_url="")
    with served(app, threads=4) as url:
        yield url
    app.extensions["xmmdb"].close()
    drop_database(server_dsn, name)


def test_tap_users_find_and_query_user_tables(tap_url):
    import pyvo

    service = pyvo.dal.TAPService(f"{tap_url}/tap")
    tables = {t.name: t for t in service.tables}
    assert "usr.atlas" in tables
    ra = next(c for c in tables["usr.atlas"].columns if c.name == "ra")
    assert ra.ucd == "pos.eq.ra;meta.main" and str(ra.unit) == "deg"
    result = service.run_sync("SELECT TOP 5 uxid, ra, dec FROM usr.atlas WHERE "
                              "CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 135.77, 0.45, 0.1)) = 1 ORDER BY uxid")
    assert 0 < len(result) <= 5
    assert all(abs(r["ra"] - 135.77) < 0.15 for r in result)
