"""`xmmdb init` on a database that already has data: the sample is loaded where
it is missing, and an outdated extension is re-created only when that loses
nothing but the sample (re-creating drops every table of the extension)."""

import os
import shutil

import psycopg
import pytest
from conftest import SAMPLE, drop_database

from xmmdb_loader import cli
from xmmdb_loader.dsn import with_dbname



@pytest.fixture
def fresh(server_dsn, monkeypatch):
    name = f"xmmtest_init_{os.getpid()}"
    drop_database(server_dsn, name)
    dsn = with_dbname(server_dsn, name)
    monkeypatch.setenv("XMMDB_DSN", dsn)
    yield dsn
    drop_database(server_dsn, name)


@pytest.fixture
def tiny_sample(tmp_path):
    """A sample folder with one small file: the observation list."""
    (tmp_path / "catalogue").mkdir()
    shutil.copy(SAMPLE / "catalogue" / "xmmdb_sample_obslist.fits", tmp_path / "catalogue")
    return tmp_path


def counts(dsn):
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM xmm.load_log), (SELECT count(*) FROM xmm.observation)"
                            ).fetchone()


def test_sample_loaded_where_missing(fresh, tiny_sample):
    assert cli.main(["init", "--sample", str(tiny_sample)]) == 0
    logged, observations = counts(fresh)
    assert logged == 1 and observations == 29
    assert cli.main(["init", "--sample", str(tiny_sample)]) == 0
    assert counts(fresh) == (1, 29)                        # loaded: nothing to do
    with psycopg.connect(fresh) as conn:
        conn.execute("TRUNCATE xmm.observation, xmm.load_log CASCADE")
    assert cli.main(["init", "--sample", str(tiny_sample)]) == 0
    assert counts(fresh) == (1, 29)                        # emptied by hand: loaded again


def outdate(dsn):
    """Makes the installed extension look like an older build than the one available."""
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE OR REPLACE FUNCTION xmm.build_id() RETURNS text LANGUAGE sql AS $$ SELECT '0' $$")


def test_outdated_extension_keeps_loaded_data(fresh, tiny_sample, shared_data, capsys):
    events = sorted((shared_data / "events" / "abell907").glob("*/mos1_exp1_clean_evts.fits"))[0]
    assert cli.main(["init", "--sample", str(tiny_sample)]) == 0
    assert cli.main(["load", "events", str(events)]) == 0
    before = counts(fresh)
    outdate(fresh)
    capsys.readouterr()
    assert cli.main(["init", "--sample", str(tiny_sample)]) == 1
    err = capsys.readouterr().err
    assert "holds data loaded from 1 file(s) besides the sample" in err and str(events) in err
    assert "nothing was changed" in err and "xmmdb init --rebuild" in err
    assert counts(fresh) == before                         # nothing was changed

    assert cli.main(["init", "--rebuild", "--sample", str(tiny_sample)]) == 0
    assert "extension xmmdb rebuilt" in capsys.readouterr().err
    assert counts(fresh) == (1, 29)                        # the sample is back, the events are gone


def test_outdated_extension_with_only_the_sample_is_rebuilt(fresh, tiny_sample, capsys):
    assert cli.main(["init", "--sample", str(tiny_sample)]) == 0
    outdate(fresh)
    capsys.readouterr()
    assert cli.main(["init", "--sample", str(tiny_sample)]) == 0
    assert "extension xmmdb rebuilt" in capsys.readouterr().err
    assert counts(fresh) == (1, 29)


def test_two_databases_install_at_the_same_moment(server_dsn):
    """The roles are the cluster's: a database creating the extension while another's creation
    is not yet committed waits for it and succeeds, rather than failing with 'tuple
    concurrently updated' on the roles' rows."""
    import threading

    from xmmdb_loader import database

    names = [f"xmmtest_init{k}_{os.getpid()}" for k in (1, 2)]
    errors = []
    try:
        conns = []
        for name in names:
            drop_database(server_dsn, name)
            database.ensure_database(with_dbname(server_dsn, name))
            conn = psycopg.connect(with_dbname(server_dsn, name), autocommit=True)
            for ext in database.REQUIRED_EXTENSIONS:
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
            conns.append(conn)
        first, second = conns
        first.autocommit = False
        first.execute("CREATE EXTENSION xmmdb")             # not committed yet

        def install():
            try:
                second.execute("CREATE EXTENSION xmmdb")
            except psycopg.Error as exc:
                errors.append(exc)

        thread = threading.Thread(target=install)
        thread.start()
        thread.join(2.0)
        assert thread.is_alive()                           # it waits for the first
        first.commit()
        thread.join(60)
        assert errors == [] and not thread.is_alive()
        for conn in conns:
            conn.close()
    finally:
        for name in names:
            drop_database(server_dsn, name)


def test_two_databases_set_up_their_logins_at_the_same_moment(dsn, server_dsn):
    """The archive's logins and their settings are the cluster's: a second `xmmdb init` (here:
    configure_database) while a first has not committed waits for it, and both succeed."""
    import threading

    from xmmdb_loader import database
    from xmmdb_loader.roles import ensure_service_logins

    errors = []
    with psycopg.connect(dsn) as first, psycopg.connect(dsn, autocommit=True) as second:
        first.execute("SELECT 1")                              # a transaction, kept open below
        ensure_service_logins(first)

        def configure():
            try:
                database.configure_database(second)
            except psycopg.Error as exc:
                errors.append(exc)

        thread = threading.Thread(target=configure)
        thread.start()
        thread.join(2.0)
        assert thread.is_alive()                               # it waits for the first
        first.commit()
        thread.join(60)
    assert errors == [] and not thread.is_alive()
