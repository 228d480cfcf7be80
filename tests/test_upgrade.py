"""Upgrades in place: an archive made with the previous release (its install
script, loaded by its own loader) is brought to the current version by
`ALTER EXTENSION xmmdb UPDATE` and is then, object for object and row for row,
the archive a fresh install of the current version loaded with the same files
would be; nothing loaded is lost on the way.

The previous release's loader is taken from git (the commit recorded for it in
RELEASE_COMMITS), so this test needs a git checkout with history."""

import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest
import xmmdb
from conftest import REPO, SAMPLE, drop_database, scratch_database, table_digests

from xmmdb_loader import database
from xmmdb_loader.cli import LOADERS, sample_files
from xmmdb_loader.dsn import with_dbname

RELEASE_COMMITS = {"0.1.0": "064a1eb", "0.2.0": "b6062d9", "0.3.0": "6a6a2b2", "0.4.0": "2a41adf", "0.5.0": "c85aa01", "0.6.0": "ba18880", "0.7.0": "83d54a1", "0.8.0": "ef44f66", "0.9.0": "f6548cc", "0.10.0": "db76ea0", "0.11.0": "72a929a", "0.12.0": "2bc2204", "0.13.0": "88f60ee", "0.14.0": "6bd7c53", "0.15.0": "1711b3b"}   # a commit whose loader and sql/ made each release
RELEASES = sorted(RELEASE_COMMITS, key=lambda v: tuple(map(int, v.split("."))))
# The oldest release upgrades through every script; the newest is the upgrade most archives make.
# make fuzz starts from every release (XMMDB_ALL_RELEASES=1).
PREVIOUS = RELEASES if os.environ.get("XMMDB_ALL_RELEASES") else [RELEASES[0], RELEASES[-1]]

# What describes a database's xmmdb objects: one row per object, (kind, name, definition).
DESCRIBE = """
WITH ext AS (SELECT oid, extconfig FROM pg_extension WHERE extname = 'xmmdb'),
member AS (SELECT d.classid, d.objid FROM pg_depend d, ext WHERE d.refobjid = ext.oid AND d.deptype = 'e'),
rel AS (SELECT c.* FROM pg_class c JOIN member m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid),
fn AS (SELECT p.* FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid)
SELECT 'member', pg_describe_object(classid, objid, 0), '' FROM member
UNION ALL
SELECT 'relation', r.oid::regclass::text,
       concat_ws(' | ', r.relkind, r.relpersistence, r.relacl::text, r.reloptions::text,
                 pg_get_expr(r.relpartbound, r.oid), obj_description(r.oid, 'pg_class'),
                 r.oid IN (SELECT unnest(extconfig) FROM ext),
                 (SELECT string_agg(concat_ws(' ', a.attname, format_type(a.atttypid, a.atttypmod),
                                              CASE WHEN a.attnotnull THEN 'NOT NULL' END, a.attidentity, a.attgenerated,
                                              pg_get_expr(ad.adbin, ad.adrelid), a.attacl::text,
                                              col_description(r.oid, a.attnum)), ', ' ORDER BY a.attnum)
                    FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                   WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped))
  FROM rel r
UNION ALL
SELECT 'view', r.oid::regclass::text, pg_get_viewdef(r.oid) FROM rel r WHERE r.relkind IN ('v', 'm')
UNION ALL
SELECT 'constraint', c.conrelid::regclass || '.' || c.conname, pg_get_constraintdef(c.oid)
  FROM pg_constraint c JOIN rel r ON r.oid = c.conrelid
UNION ALL
SELECT 'index', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN rel r ON r.oid = i.indrelid
UNION ALL
SELECT 'trigger', t.tgrelid::regclass || '.' || t.tgname, pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL
SELECT 'policy', p.polrelid::regclass || '.' || p.polname, concat_ws(' | ', p.polcmd, p.polroles::text,
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
  FROM pg_policy p JOIN rel r ON r.oid = p.polrelid
UNION ALL
SELECT 'function', f.oid::regprocedure::text,
       concat_ws(' | ', pg_get_functiondef(f.oid), f.proacl::text, obj_description(f.oid, 'pg_proc'))
  FROM fn f WHERE f.prokind <> 'a'
UNION ALL
SELECT 'aggregate', f.oid::regprocedure::text, f.proacl::text FROM fn f WHERE f.prokind = 'a'
UNION ALL
SELECT 'type', t.oid::regtype::text, concat_ws(' | ', t.typtype, t.typacl::text, obj_description(t.oid, 'pg_type'))
  FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
UNION ALL
SELECT 'schema', n.nspname, concat_ws(' | ', n.nspacl::text, obj_description(n.oid, 'pg_namespace'))
  FROM pg_namespace n JOIN member m ON m.classid = 'pg_namespace'::regclass AND m.objid = n.oid
UNION ALL
SELECT 'extension', extname, extversion FROM pg_extension WHERE extname = 'xmmdb'
"""


def describe(conn) -> dict[tuple[str, str], str]:
    return {(kind, name): definition for kind, name, definition in conn.execute(DESCRIBE)}


def old_release_source(tmp: Path, version: str) -> Path:
    """The Python packages of a release, importable as xmmdb and xmmdb_loader."""
    src = tmp / f"xmmdb-{version}"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", RELEASE_COMMITS[version], "loader", "plpython"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    (src / "xmmdb_loader").symlink_to(src / "loader")
    (src / "xmmdb").symlink_to(src / "plpython" / "xmmdb")
    return src


# Kinds of files that releases before 0.9.0 named otherwise: {then: now}.
RENAMED_KINDS = {"catalog": "catalogue"}


def load_with_release(src: Path, dsn: str) -> None:
    """Loads the sample sky with the release's own loader, as an archive of that release was loaded:
    each kind it knows, in its order, from the sample's folder of that kind (by today's name)."""
    script = textwrap.dedent(f"""
        import importlib, sys; sys.path.insert(0, {str(src)!r})
        import psycopg
        from pathlib import Path
        from xmmdb_loader.cli import LOADERS
        with psycopg.connect({dsn!r}) as conn:
            for kind, (module, func, _) in LOADERS.items():
                folder = Path({str(SAMPLE)!r}) / {RENAMED_KINDS!r}.get(kind, kind)
                files = sorted(p for p in folder.glob("*") if p.is_file())
                if files:
                    getattr(importlib.import_module(module), func)(conn, files, progress=False)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, cwd=src)


def without_load_times(digests: dict) -> dict:
    """load_log records when and in which order files were loaded, tap_schema_version how often
    TAP_SCHEMA was refilled: not content."""
    return {k: v for k, v in digests.items()
            if k not in ("xmm.load_log", "xmm.load_log_load_id_seq", "xmm.tap_schema_version")}


@pytest.fixture(scope="module", params=PREVIOUS)
def upgraded(request, server_dsn, tmp_path_factory):
    """A database of an earlier release with the sample sky, then upgraded; and its row counts before."""
    previous = request.param
    name = f"xmmtest_upgrade{previous.replace('.', '')}_{os.getpid()}"
    drop_database(server_dsn, name)
    dsn = with_dbname(server_dsn, name)
    database.ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for ext in database.REQUIRED_EXTENSIONS:
            conn.execute(f"CREATE EXTENSION {ext}")
        with conn.transaction():
            # as today's install script does: an older one altered the shared roles without this
            # lock, and failed with "tuple concurrently updated" beside another database's install
            conn.execute("LOCK TABLE pg_catalog.pg_authid IN SHARE ROW EXCLUSIVE MODE")
            conn.execute("CREATE EXTENSION xmmdb VERSION %s" % psycopg.sql.quote(previous))
        database.configure_database(conn)
    src = old_release_source(tmp_path_factory.mktemp("release"), previous)
    load_with_release(src, dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = table_digests(conn, all_tables=True)
        with conn.transaction():
            conn.execute("LOCK TABLE pg_catalog.pg_authid IN SHARE ROW EXCLUSIVE MODE")
            conn.execute("ALTER EXTENSION xmmdb UPDATE")
        after = table_digests(conn, all_tables=True)
    # kinds of files the release could not load are loaded now, with the current loader
    # (what a user does next); the kinds it did load are not touched
    known = {RENAMED_KINDS.get(k, k) for k in re.findall(r'^    "(\w+)": \("xmmdb_loader', (src / "loader" / "cli.py").read_text(), re.M)}
    with psycopg.connect(dsn) as conn:
        for kind, files in sample_files(SAMPLE).items():
            if kind not in known:
                module, func, _ = LOADERS[kind]
                getattr(importlib.import_module(module), func)(conn, files, progress=False)
    yield dsn, before, after
    drop_database(server_dsn, name)


@pytest.fixture(scope="module")
def fresh(server_dsn):
    """A fresh install of the current version with the sample sky, loaded by the current loader
    (a database of its own: other modules change the run's shared one)."""
    name = f"xmmtest_fresh_{os.getpid()}"
    yield scratch_database(server_dsn, name)
    drop_database(server_dsn, name)


def test_upgrade_reaches_the_current_version(upgraded):
    dsn = upgraded[0]
    with psycopg.connect(dsn) as conn:
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'xmmdb'").fetchone()[0]
    control = (REPO / "extension" / "xmmdb.control").read_text()
    assert f"default_version = '{version}'" in control and version not in RELEASES


def test_upgraded_objects_equal_a_fresh_install(upgraded, fresh):
    with psycopg.connect(upgraded[0]) as conn:
        got = describe(conn)
    with psycopg.connect(fresh) as conn:
        want = describe(conn)
    missing = sorted(k for k in want if k not in got)
    extra = sorted(k for k in got if k not in want)
    differ = sorted(k for k in want if k in got and got[k] != want[k])
    assert (missing, extra, differ) == ([], [], []), (
        f"after the upgrade: missing {missing[:20]}, not in a fresh install {extra[:20]}, different {differ[:20]}")


def test_upgrade_keeps_every_row(upgraded):
    """The rows of every table, counted before and right after the upgrade (before the kinds the
    release could not load are loaded)."""
    _, before, after = upgraded
    assert set(before) <= set(after)
    # TAP_SCHEMA describes the schema (and counts its refreshes), and the list of tables it leaves out grows with it,
    # as the units and descriptions of the extension's own columns do (xmm.column_meta; the sample has no user table)
    loaded = [name for name in before if not name.startswith("tap_schema.")
              and name not in ("xmm.tap_unpublished", "xmm.tap_schema_version", "xmm.column_meta")]
    assert {name: after[name][0] for name in loaded} == {name: before[name][0] for name in loaded}
    assert before["xmm.photon_cell_07"][0] > 0 and before["xmm.spectrum"][0] > 200


def test_upgraded_rows_equal_a_fresh_load(upgraded, fresh):
    """The upgraded archive holds what the current loader stores from the same files."""
    with psycopg.connect(upgraded[0]) as conn:
        got = without_load_times(table_digests(conn, all_tables=True, without_times=True))
    with psycopg.connect(fresh) as conn:
        want = without_load_times(table_digests(conn, all_tables=True, without_times=True))
    assert {k for k in want if got.get(k) != want[k]} == set()


PULSAR = json.loads((SAMPLE / "truth" / "events.json").read_text())["pulsar"]["srcid"]   # a source with photons
CALLS = [
    "SELECT array_agg(srcid ORDER BY srcid) FROM xmm_search('M82 AND sc_det_ml > 8')",
    "SELECT array_agg(srcid ORDER BY srcid) FROM xmm_search('cone(''M31'', ''20arcmin'') AND n_detections > 1')",
    "SELECT xmm_to_sql('\"J0958\" IN iauname AND n_detections > 2')",
    "SELECT name, ra, dec FROM xmm_resolve('m 82')",
    "SELECT count(*), sum(time::numeric), sum(pi), sum(ra::numeric) FROM xmm_photons(10.6606, 41.3137, 60)",   # exact sums: any row order
    f"SELECT count(*), sum(rate), sum(fracexp) FROM xmm_lightcurve({PULSAR}, 100)",
    f"SELECT best_frequency, fap FROM xmm_periodogram({PULSAR}, 0.5, 1.0)",
    "SELECT xmm_adql('SELECT TOP 5 srcid FROM xmm.source ORDER BY sc_ep_8_flux DESC')::text",
    "SELECT stat, dof, params::text FROM xmm_fit((SELECT min(d.srcid) FROM xmm.spectrum s JOIN xmm.detection d "
    "USING (detid)), 'phabs_pl')",
    "SELECT length(xmm_image(10.68, 41.27, 10, 4, '{}'))",
]


def test_public_functions_answer_as_on_a_fresh_install(upgraded, fresh):
    """Every call of CALLS in one session per database (a session's boot is the slow part)."""
    answers = []
    for database_dsn in (upgraded[0], fresh):
        with psycopg.connect(database_dsn) as conn:
            conn.execute("DELETE FROM xmm.fit_cache")
            answers.append([conn.execute(query).fetchall() for query in CALLS])
            conn.rollback()
    assert [q for q, got, want in zip(CALLS, *answers) if got != want or not got] == []


def test_a_session_whose_package_differs_from_the_extension_is_told_so(upgraded):
    """The boot compares the Python package with the installed extension and says what to do."""
    dsn = upgraded[0]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE pg_extension SET extversion = '0.0.1' WHERE extname = 'xmmdb'")
    try:
        with psycopg.connect(dsn) as conn:
            for call in ("SELECT * FROM xmm_resolve('10.68 41.27')", "SELECT count(*) FROM xmm_search('M82')",
                         f"SELECT count(*) FROM xmm_lightcurve({PULSAR}, 100)"):   # three ways of calling Python
                with pytest.raises(psycopg.Error) as err:
                    conn.execute(call)
                conn.rollback()
                message = err.value.diag.message_primary
                assert message.startswith("this database has the xmmdb extension 0.0.1") and \
                    f"package {xmmdb.__version__}" in message, (call, message)
                assert "xmmdb init" in err.value.diag.message_hint and "reconnect" in err.value.diag.message_hint
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("UPDATE pg_extension SET extversion = %s WHERE extname = 'xmmdb'",
                         (conn.execute("SELECT default_version FROM pg_available_extensions"
                                       " WHERE name = 'xmmdb'").fetchone()[0],))
