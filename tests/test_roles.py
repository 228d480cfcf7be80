"""Roles: the logins of the reader group (the web shim, TAP and JDBC users) can
read and compute but never write, create or escalate."""

import psycopg
import pytest

from xmmdb_loader.roles import login_dsn


LOGINS = {"xmm_reader": "xmm_user", "xmm_loader": "xmm_load"}   # the archive's own login of each group


def as_role(dsn, group):
    """Logged in as the archive's own login role of the group, with its password."""
    return psycopg.connect(login_dsn(dsn, LOGINS[group]), autocommit=True)


@pytest.fixture
def reader(dsn):
    with as_role(dsn, "xmm_reader") as conn:
        yield conn


def test_reader_reads_the_catalogue(reader):
    n = reader.execute("SELECT count(*) FROM source WHERE q3c_radial_query(sc_ra, sc_dec, 10.68, 41.27, 1)").fetchone()[0]
    assert n > 300
    assert reader.execute("SELECT count(*) FROM catalogue").fetchone()[0] > 0
    assert reader.execute("SHOW statement_timeout").fetchone()[0] == "1min"


@pytest.mark.parametrize("statement", [
    "INSERT INTO source (srcid, iauname, sc_ra, sc_dec, n_detections) VALUES (-1, 'x', 1, 1, 1)",
    "UPDATE source SET comments = 'defaced'",
    "DELETE FROM detection",
    "TRUNCATE observation CASCADE",
    "DELETE FROM load_log",
    "CREATE TABLE xmm.mine (a int)",
    "CREATE TABLE public.mine (a int)",
    "CREATE FUNCTION public.f() RETURNS int LANGUAGE plpython3u AS $$ return 1 $$",
    "CREATE FUNCTION public.g() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$",
    "SELECT xmm.recluster()",
    "ALTER DATABASE {db} SET xmm.python_lib_dir = '/tmp'",
])
def test_reader_cannot_write_or_create(reader, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute(statement.format(db=reader.info.dbname))


def test_reader_cannot_load(reader):
    reader.execute("BEGIN")
    reader.execute("SELECT xmm.stage('observation_list')")
    reader.execute("INSERT INTO pg_temp.stage_observation_list (row_no, obs_id, ra_pnt, dec_pnt, mjd_start, mjd_stop)"
                   " VALUES (1, '0111111111', 1, 1, 50000, 50001)")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute("SELECT * FROM xmm.ingest_observation_list('x.fits', "
                       "ARRAY['obs_id','ra_pnt','dec_pnt','mjd_start','mjd_stop'])")
    reader.execute("ROLLBACK")


def test_session_setting_cannot_redirect_python_imports(dsn, tmp_path):
    """xmm.python_lib_dir is read from the database's stored settings only: a
    reader who SETs it in a session must not make the server import their code."""
    evil = tmp_path / "evil"
    (evil / "xmmdb").mkdir(parents=True)
    marker = tmp_path / "pwned"
    (evil / "xmmdb" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    (evil / "xmmdb" / "server.py").write_text("def configure(): pass\n")
    tmp_path.chmod(0o777)
    evil.chmod(0o755)
    with as_role(dsn, "xmm_reader") as conn:
        conn.execute(f"SET xmm.python_lib_dir = '{evil}'")
        conn.execute("SELECT xmm.python_boot()")
    assert not marker.exists()


def test_reader_cannot_read_another_users_data(dsn):
    with as_role(dsn, "xmm_loader") as loader:
        loader.execute("CREATE TEMP TABLE private_notes (t text)")  # temp: visible to its session only
        loader.execute("INSERT INTO private_notes VALUES ('mine')")
        schema = loader.execute("SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()").fetchone()[0]
        with as_role(dsn, "xmm_reader") as reader, pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute(f"SELECT * FROM {schema}.private_notes")


def test_loader_can_write(dsn):
    with as_role(dsn, "xmm_loader") as loader:
        loader.execute("BEGIN")
        loader.execute("UPDATE source SET comments = comments WHERE srcid = 1")
        loader.execute("SELECT xmm.recluster()")
        loader.execute("ROLLBACK")


def test_untrusted_functions_have_a_fixed_search_path(db):
    """Every plpython3u and SECURITY DEFINER function of the extension pins its
    search_path, so no caller's schema can shadow what it calls."""
    loose = db.execute("""
        SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE p.pronamespace = 'xmm'::regnamespace
           AND (l.lanname = 'plpython3u' OR p.prosecdef)
           AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')""").fetchall()
    assert loose == []
