"""A reader is a reader: no path from the role that TAP, JDBC and web users
connect as to code execution or to another role's powers."""

import stat
import subprocess
import time

import psycopg
import psycopg.sql
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from xmmdb_loader.dsn import with_dbname
from xmmdb_loader.roles import ensure_login, login_dsn, pgpass_file, remove_login


def extension_functions(conn):
    return conn.execute("""
        SELECT p.oid::regprocedure::text, l.lanname, p.prosecdef, p.proconfig
          FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
          JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
          JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'xmmdb'""").fetchall()


def search_path_of(config):
    for item in config or []:
        if item.startswith("search_path="):
            return [p.strip() for p in item.split("=", 1)[1].split(",")]
    return None


def test_functions_search_pg_temp_last(db):
    """Untrusted-language and definer functions pin a search path; every pinned path ends with pg_temp."""
    functions = extension_functions(db)
    assert len(functions) > 50
    wrong = []
    for name, language, definer, config in functions:
        path = search_path_of(config)
        if (language == "plpython3u" or definer) and path is None:
            wrong.append((name, "no search_path"))
        elif path is not None and path[-1] != "pg_temp":
            wrong.append((name, path))
    assert wrong == []


@pytest.fixture
def attacker_dir(tmp_path):
    """A directory a reader could write, holding a package named xmmdb that leaves a mark when imported."""
    evil = tmp_path / "evil"
    (evil / "xmmdb").mkdir(parents=True)
    marker = tmp_path / "pwned"
    (evil / "xmmdb" / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n__version__ = '0'\n")
    (evil / "xmmdb" / "server.py").write_text("def configure():\n    pass\n")
    for p in (tmp_path, evil, evil / "xmmdb"):
        p.chmod(p.stat().st_mode | stat.S_IRWXO)
    for f in (evil / "xmmdb").iterdir():
        f.chmod(0o644)
    return evil, marker


SHADOW = """
CREATE TEMP TABLE pg_db_role_setting (setdatabase oid, setrole oid, setconfig text[]);
INSERT INTO pg_temp.pg_db_role_setting
SELECT d.oid, 0, ARRAY['xmm.python_lib_dir={lib}'] FROM pg_catalog.pg_database d
 WHERE d.datname = current_database()
"""


@pytest.mark.parametrize("call", [
    "SELECT * FROM xmm_resolve('M 82')",
    "SELECT * FROM xmm_fit_detection((SELECT detid FROM xmm.spectrum WHERE detid IS NOT NULL LIMIT 1),"
    " 'EPN', 'phabs_pl', '{\"stat\": \"cstat\", \"emin\": 0.51}')",
])
def test_a_temporary_catalogue_table_cannot_redirect_imports(dsn, attacker_dir, call):
    """The first PL/Python call of a session boots; a reader's temporary pg_db_role_setting naming
    its own directory must not be read (through a plain function nor the definer fit)."""
    evil, marker = attacker_dir
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET ROLE xmm_reader")
        conn.execute(SHADOW.format(lib=evil))
        try:
            conn.execute(call.replace("'EPN'", "(SELECT instrument FROM xmm.spectrum WHERE detid IS NOT NULL LIMIT 1)"))
        except psycopg.Error:
            pass     # whatever the call says, what matters is what was imported
        assert not marker.exists(), "the server imported the reader's code"
        conn.execute("RESET ROLE")
        assert not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'xmm_reader'").fetchone()[0]


# -- who may connect how -------------------------------------------------------

def as_os_user(user, *cmd):
    return subprocess.run(["runuser", "-u", user, "--", *cmd], capture_output=True, text=True, timeout=30)


def test_the_superuser_needs_the_cluster_owners_os_account(server_dsn):
    """Any local OS user could log in as postgres (trust); now only the cluster's owners, over the socket."""
    p = conninfo_to_dict(server_dsn)
    if p.get("user") != "postgres" or not str(p.get("host", "")).startswith("/"):
        pytest.fail("this test needs the private cluster (make test starts it)")
    socket = as_os_user("nobody", "psql", "-XAtc", "SELECT 1", f"host={p['host']} port={p['port']} dbname=postgres user=postgres")
    assert socket.returncode != 0 and "authentication failed" in socket.stderr
    tcp = as_os_user("nobody", "psql", "-XAtc", "SELECT 1", f"host=127.0.0.1 port={p['port']} dbname=postgres user=postgres")
    assert tcp.returncode != 0 and "rejects connection" in tcp.stderr
    with psycopg.connect(with_dbname(server_dsn, "postgres")) as conn:     # root, mapped to postgres
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]


def test_readers_need_their_password(dsn):
    p = conninfo_to_dict(dsn)
    for host in (p["host"], "127.0.0.1"):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(make_conninfo(host=host, port=p["port"], dbname=p["dbname"], user="xmm_user",
                                          password="guess"))
    with psycopg.connect(login_dsn(make_conninfo(**{**p, "host": "127.0.0.1"}), "xmm_user")) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "xmm_user"
    assert pgpass_file().stat().st_mode & 0o077 == 0


def test_the_groups_cannot_log_in(dsn):
    for group in ("xmm_reader", "xmm_loader"):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(make_conninfo(**{**conninfo_to_dict(dsn), "user": group, "password": "x"}))


@pytest.fixture
def two_readers(dsn):
    """Two JDBC users, as `xmmdb user add` makes them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in ("xmmtest_alice", "xmmtest_bob"):
            ensure_login(conn, name, "reader")
    with psycopg.connect(login_dsn(dsn, "xmmtest_alice"), autocommit=True) as alice, \
            psycopg.connect(login_dsn(dsn, "xmmtest_bob"), autocommit=True) as bob:
        yield alice, bob
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in ("xmmtest_alice", "xmmtest_bob"):
            conn.execute(f"DROP OWNED BY {name}")
            remove_login(conn, name)


def test_one_readers_alter_role_does_not_change_anothers_limits(two_readers, dsn):
    alice, bob = two_readers
    alice.execute("ALTER ROLE xmmtest_alice SET statement_timeout = 0")     # her own defaults: allowed
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        alice.execute("ALTER ROLE xmmtest_bob SET statement_timeout = 0")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        alice.execute("ALTER ROLE xmmtest_bob PASSWORD 'mine'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        alice.execute("ALTER ROLE xmm_reader SET statement_timeout = 0")
    with psycopg.connect(login_dsn(dsn, "xmmtest_bob")) as bob_again:
        assert bob_again.execute("SHOW statement_timeout").fetchone()[0] == "1min"


def test_readers_neither_see_nor_stop_each_other(two_readers):
    alice, bob = two_readers
    bob_pid = bob.info.backend_pid
    seen = alice.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (bob_pid,)).fetchone()
    assert seen is None or seen[0] in (None, "<insufficient privilege>")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        alice.execute("SELECT pg_cancel_backend(%s)", (bob_pid,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        alice.execute("SELECT pg_terminate_backend(%s)", (bob_pid,))


def test_readers_cannot_lift_what_only_the_superuser_sets(two_readers):
    alice, _ = two_readers
    assert alice.execute("SHOW temp_file_limit").fetchone()[0] == "2GB"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        alice.execute("SET temp_file_limit = -1")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        alice.execute("ALTER ROLE xmmtest_alice CONNECTION LIMIT -1")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        alice.execute("ALTER ROLE xmmtest_alice SET temp_file_limit = -1")


def test_readers_reach_no_other_database(two_readers, dsn):
    for other in ("postgres", "template1"):
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(with_dbname(login_dsn(dsn, "xmmtest_alice"), other))


def test_connections_per_login_are_limited(two_readers, dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_login(conn, "xmmtest_alice", "reader", connections=2)
    extra = psycopg.connect(login_dsn(dsn, "xmmtest_alice"))
    try:
        with pytest.raises(psycopg.OperationalError, match="too many connections"):
            psycopg.connect(login_dsn(dsn, "xmmtest_alice"))
        with psycopg.connect(login_dsn(dsn, "xmm_load")) as loader:          # others still get in
            assert loader.execute("SELECT 1").fetchone()
    finally:
        extra.close()


# -- limits a session cannot lift: the reader watchdog (src/watchdog.c) ---------

@pytest.fixture
def watchdog_limits(server_dsn):
    """Sets watchdog limits for one test (ALTER SYSTEM: the superuser's), the watchdog looking
    every 100 ms, and puts them back."""
    admin = psycopg.connect(with_dbname(server_dsn, "postgres"), autocommit=True)

    def set_limits(**limits):
        for key, value in {**limits, "watchdog_interval": "100ms"}.items():
            admin.execute(psycopg.sql.SQL("ALTER SYSTEM SET {} = {}").format(
                psycopg.sql.Identifier("xmmdb", key), psycopg.sql.Literal(value)))
        admin.execute("SELECT pg_reload_conf()")
        time.sleep(0.5)                                      # the worker rereads its settings
    yield set_limits
    for key in ("reader_statement_timeout", "reader_idle_in_transaction_timeout", "reader_memory_limit",
                "watchdog_interval"):
        admin.execute(f"ALTER SYSTEM RESET xmmdb.{key}")
    admin.execute("SELECT pg_reload_conf()")      # the next test that sets limits waits for its own
    admin.close()


def test_the_watchdog_runs(server_dsn):
    with psycopg.connect(with_dbname(server_dsn, "postgres"), autocommit=True) as conn:
        for _ in range(20):      # the postmaster restarts it within seconds if it ever stops
            if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'xmmdb reader watchdog'"
                            ).fetchone()[0] == 1:
                break
            time.sleep(0.5)
        else:
            pytest.fail("no reader watchdog (shared_preload_libraries = 'xmmdb'?)")
        assert conn.execute("SHOW xmmdb.reader_statement_timeout").fetchone()[0] == "1min"


@pytest.mark.serial
def test_a_reader_that_lifts_its_statement_timeout_is_cancelled_all_the_same(two_readers, watchdog_limits):
    alice, bob = two_readers
    watchdog_limits(reader_statement_timeout="1s")
    alice.execute("SET statement_timeout = 0")
    t0 = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled):
        alice.execute("SELECT pg_sleep(30)")
    assert 1 <= time.monotonic() - t0 < 2.0
    assert bob.execute("SELECT 1").fetchone() == (1,)      # the others go on


@pytest.mark.serial
def test_a_reader_idle_in_a_transaction_is_ended(two_readers, watchdog_limits):
    alice, _ = two_readers
    watchdog_limits(reader_idle_in_transaction_timeout="1s")
    alice.execute("SET idle_in_transaction_session_timeout = 0")
    alice.execute("BEGIN")
    alice.execute("SELECT 1")
    time.sleep(1.6)                                          # 1 s, and the watchdog's 100 ms, and margin
    with pytest.raises(psycopg.OperationalError):
        alice.execute("SELECT 1")


@pytest.mark.serial
def test_a_reader_that_takes_too_much_memory_is_ended(two_readers, watchdog_limits):
    alice, bob = two_readers
    watchdog_limits(reader_memory_limit="300MB")
    alice.execute("SET work_mem = '4GB'")
    t0 = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        alice.execute("SELECT count(*) FROM (SELECT array_agg(g) a FROM generate_series(1, 200000000) g) s")
    assert time.monotonic() - t0 < 30
    assert bob.execute("SELECT 1").fetchone() == (1,)


def test_a_reader_cannot_fill_the_fit_cache(two_readers, dsn):
    """Readers fill the cache through the definer fit; past their quota their least recently used fits go."""
    alice, _ = two_readers
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("CREATE OR REPLACE FUNCTION xmm.fit_cache_quota() RETURNS bigint LANGUAGE sql IMMUTABLE"
                      " AS $$ SELECT 2::bigint $$")
        try:
            srcid = admin.execute("SELECT d.srcid FROM xmm.spectrum s JOIN xmm.detection d USING (detid)"
                                  " WHERE s.kind = 'source' ORDER BY s.total_counts DESC LIMIT 1").fetchone()[0]
            for emin in (0.41, 0.42, 0.43):
                alice.execute("SELECT * FROM xmm_fit(%s, 'phabs_pl', %s)", (srcid, f'{{"emin": {emin}}}'))
            kept = [r[0] for r in admin.execute(
                "SELECT options->>'emin' FROM xmm.fit_cache WHERE created_by = 'xmmtest_alice' ORDER BY 1")]
            assert kept == ["0.42", "0.43"]
            with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="at most 4096"):
                alice.execute("SELECT * FROM xmm_fit(%s, 'phabs_pl', %s)", (srcid, '{"method": "' + "x" * 5000 + '"}'))
        finally:
            admin.execute("CREATE OR REPLACE FUNCTION xmm.fit_cache_quota() RETURNS bigint LANGUAGE sql IMMUTABLE"
                          " AS $$ SELECT 2000::bigint $$")
            admin.execute("DELETE FROM xmm.fit_cache WHERE created_by = 'xmmtest_alice'")


def test_astropy_stays_offline_when_a_call_first_imports_it(dsn):
    """The boot no longer imports astropy (0.7 s a catalogue search does not need); the session
    configures it when something first imports it: no downloads, whatever imported it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        notices = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        conn.execute("SELECT xmm.python_boot()")
        conn.execute("DO $$ import sys; plpy.notice(str('astropy' in sys.modules)) $$ LANGUAGE plpython3u")
        conn.execute("DO $$ from astropy.utils import iers; from astropy.utils.data import conf; "
                     "plpy.notice(f'{conf.allow_internet} {iers.conf.auto_download} {iers.conf.auto_max_age}') $$ "
                     "LANGUAGE plpython3u")
    assert notices == ["False", "False False None"]
