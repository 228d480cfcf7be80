"""Backups keep every row: an archive (the sample sky, the real Abell 907 event
lists and the real NGC 7793 ULX-4 spectra) dumped with `pg_dump -Fc` and
restored with `pg_restore` into a new database has the same rows in every
table, and answers searches, photon queries and fits exactly as before."""

import os
import subprocess

import psycopg
import pytest
from conftest import drop_database, scratch_database, table_digests

from xmmdb_loader import database
from xmmdb_loader.dsn import with_dbname
from xmmdb_loader.events import load_events
from xmmdb_loader.products import load_products
from xmmdb_loader.tables import load_table

PGBIN = "/usr/lib/postgresql/15/bin"
ABELL907 = (149.5917, -11.0636)


def answers(conn, srcid: int) -> dict:
    """What users ask of an archive: a search, photons of a region, a fit (not from the cache)."""
    conn.execute("DELETE FROM xmm.fit_cache")
    return {
        "search": conn.execute("SELECT array_agg(srcid ORDER BY srcid) FROM xmm_search("
                               "'cone(''149.5917 -11.0636'', ''15arcmin'') AND sc_det_ml > 6')").fetchone(),
        "photons": conn.execute("SELECT count(*), md5(string_agg(concat_ws(',', obs_id, time, pi, ra, dec), ';'"
                                " ORDER BY obs_id, time, ra, dec)) FROM xmm_photons(%s, %s, 120)", ABELL907).fetchone(),
        "fit": conn.execute("SELECT stat, dof, params::text, flux FROM xmm_fit(%s, 'phabs_pl')", (srcid,)).fetchone(),
    }


@pytest.fixture(scope="module")
def archive(server_dsn, shared_data):
    name = f"xmmtest_backup_{os.getpid()}"
    dsn = scratch_database(server_dsn, name)
    with psycopg.connect(dsn) as conn:
        load_events(conn, sorted((shared_data / "events" / "abell907").glob("*/mos*_clean_evts.fits")),
                    progress=False)
        load_products(conn, [shared_data / "spectra" / "ngc7793_ulx4_pn" / "PN_spectrum_grp20.fits"],
                      progress=False)
        srcid = conn.execute("SELECT d.srcid FROM xmm.spectrum s JOIN xmm.detection d USING (detid)"
                             " WHERE s.file = 'PN_spectrum_grp20.fits'").fetchone()[0]
        conn.execute("SELECT * FROM xmm_fit(%s, 'phabs_pl')", (srcid,))     # a cached fit is data too
        load_table(conn, [shared_data / "catalogs" / "xmmatlas_srclistnew_Legacy.fits"], progress=False,
                   name="atlas")                                           # a user table, outside the extension
    yield dsn, srcid
    drop_database(server_dsn, name)


def test_dump_and_restore_keep_every_row(archive, server_dsn, tmp_path):
    dsn, srcid = archive
    dump = tmp_path / "xmm.dump"
    subprocess.run([f"{PGBIN}/pg_dump", "-Fc", "-f", str(dump), "--dbname", dsn], check=True,
                   capture_output=True)
    restored_name = f"xmmtest_restored_{os.getpid()}"
    drop_database(server_dsn, restored_name)
    restored = with_dbname(server_dsn, restored_name)
    try:
        database.ensure_database(restored)
        subprocess.run([f"{PGBIN}/pg_restore", "--exit-on-error", "--dbname", restored, str(dump)], check=True,
                       capture_output=True)
        with psycopg.connect(restored, autocommit=True) as conn:
            database.configure_database(conn)      # database settings are not in a dump without --create
        with psycopg.connect(dsn) as before, psycopg.connect(restored) as after:
            digests = table_digests(before)
            assert len(digests) >= 30 and digests["xmm.photon_cell_07"][0] > 0
            assert digests["xmm.spectrum"][0] > 200 and digests["xmm.exposure"][0] == 10
            assert table_digests(after) == digests
            atlas = "SELECT count(*), md5(string_agg(a::text, '|' ORDER BY uxid)) FROM usr.atlas a"
            assert after.execute(atlas).fetchone() == before.execute(atlas).fetchone()
            assert before.execute(atlas).fetchone()[0] == 1127
            columns = "SELECT count(*) FROM xmm.column_meta WHERE table_name = 'usr.atlas'"
            assert after.execute(columns).fetchone() == before.execute(columns).fetchone() == (108,)
            index = "SELECT indexname FROM pg_indexes WHERE schemaname = 'usr'"
            assert after.execute(index).fetchall() == [("atlas_q3c_idx",)]
            assert after.execute("SELECT cached FROM xmm_fit(%s, 'phabs_pl')", (srcid,)).fetchone()[0]
            assert answers(after, srcid) == answers(before, srcid)
    finally:
        drop_database(server_dsn, restored_name)


def test_every_data_table_is_in_backups(archive):
    """A table of the extension that is not registered must be one the install script fills itself."""
    dsn, _ = archive
    with psycopg.connect(dsn) as conn:
        unregistered = {r[0] for r in conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_depend d JOIN pg_class c ON c.oid = d.objid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_extension e ON e.oid = d.refobjid"
            " WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND e.extname = 'xmmdb'"
            "   AND c.relkind IN ('r', 'S') AND c.oid <> ALL (e.extconfig)")}
    # tap_schema_version counts TAP_SCHEMA's refreshes (a cache key, not data: it starts again at 1)
    assert unregistered == {"xmm.ngc_object", "xmm.object_name", "xmm.tap_unpublished", "xmm.tap_schema_version",
                            "tap_schema.schemas",
                            "tap_schema.tables", "tap_schema.columns", "tap_schema.keys", "tap_schema.key_columns",
                            # web sessions and the rate limits' recent attempts: after a restore people log in again
                            "xmm_accounts.session", "xmm_accounts.attempt"}
