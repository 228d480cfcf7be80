"""Faults during loads: the loader killed with SIGKILL mid-COPY, the backend
terminated mid-COPY, a statement timeout. Afterwards the database is exactly
as before, a re-run completes, and a second re-run changes nothing."""

import os
import shutil
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from astropy.table import Table, vstack

from conftest import SAMPLE, drop_database, scratch_database
from xmmdb_loader.dsn import with_dbname

XMMDB = os.path.join(os.path.dirname(sys.executable), "xmmdb")


@pytest.fixture(scope="module")
def fault_dsn(server_dsn):
    name = f"xmmfault_{os.getpid()}"
    yield scratch_database(server_dsn, name, sample=False)
    drop_database(server_dsn, name)


@pytest.fixture(scope="module")
def big_catalogue(tmp_path_factory):
    """The sample catalogue tiled twice with fresh ids: ~14k detections."""
    base = Table.read(SAMPLE / "catalogue" / "xmmdb_sample_cat.fits")
    tiles = []
    for k in range(2):
        t = base.copy()
        t["DETID"] += k * 10**7
        t["SRCID"] += k * 10**7
        t["OBS_ID"] = [f"{k + 1}{o[1:]}" for o in t["OBS_ID"]]
        t["IAUNAME"] = [f"{n}_{k}" for n in t["IAUNAME"]]
        tiles.append(t)
    path = tmp_path_factory.mktemp("big") / "big_cat.fits"
    vstack(tiles).write(path)
    return path


def state(dsn):
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM xmm.source), (SELECT count(*) FROM xmm.detection),"
                            " (SELECT count(*) FROM xmm.observation), (SELECT count(*) FROM xmm.load_log)").fetchone()


def start_load(dsn, path):
    return subprocess.Popen([XMMDB, "load", "catalogue", str(path)], env={**os.environ, "XMMDB_DSN": dsn},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_copy(dsn, timeout=60.0) -> int:
    """The pid of the backend running the loader's COPY, once it is running."""
    dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND query LIKE 'COPY%%'"
                               " AND pid <> pg_backend_pid()", (dbname,)).fetchone()
            if row:
                return row[0]
            time.sleep(0.005)
    raise AssertionError("the loader never reached COPY")


def wait_gone(dsn, pid, timeout=30.0):
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, "backend still alive"
            time.sleep(0.05)


def complete_twice(dsn, path, before):
    """A re-run loads everything; a second re-run changes nothing."""
    done = subprocess.run([XMMDB, "load", "catalogue", str(path)], env={**os.environ, "XMMDB_DSN": dsn},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    n = len(Table.read(path))
    after = state(dsn)
    assert after[1] == before[1] + n and after[3] == before[3] + 1
    again = subprocess.run([XMMDB, "load", "catalogue", str(path)], env={**os.environ, "XMMDB_DSN": dsn},
                           capture_output=True, text=True)
    assert again.returncode == 0 and "0 new, 0 updated" in again.stderr
    assert state(dsn)[:3] == after[:3]
    with psycopg.connect(dsn) as conn:  # no duplicates, and back to empty for the next test
        assert conn.execute("SELECT count(*) = count(DISTINCT (obs_id, src_num)) FROM xmm.detection").fetchone()[0]
        conn.execute("TRUNCATE xmm.detection, xmm.source, xmm.observation, xmm.load_log CASCADE")


def test_loader_killed_mid_copy(fault_dsn, big_catalogue):
    before = state(fault_dsn)
    loader = start_load(fault_dsn, big_catalogue)
    backend = wait_for_copy(fault_dsn)
    loader.send_signal(signal.SIGKILL)
    loader.wait()
    wait_gone(fault_dsn, backend)
    assert state(fault_dsn) == before          # nothing of the file is visible
    complete_twice(fault_dsn, big_catalogue, before)


def test_backend_terminated_mid_copy(fault_dsn, big_catalogue):
    before = state(fault_dsn)
    loader = start_load(fault_dsn, big_catalogue)
    backend = wait_for_copy(fault_dsn)
    with psycopg.connect(fault_dsn, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone()[0]
    _, err = loader.communicate(timeout=60)
    assert loader.returncode == 1
    assert "terminat" in err and "Traceback" not in err   # a clear one-line error, not a stack trace
    assert state(fault_dsn) == before
    complete_twice(fault_dsn, big_catalogue, before)


def test_statement_timeout_is_a_clear_error(fault_dsn, big_catalogue):
    before = state(fault_dsn)
    out = subprocess.run([XMMDB, "load", "catalogue", str(big_catalogue)],
                         env={**os.environ, "XMMDB_DSN": fault_dsn, "PGOPTIONS": "-c statement_timeout=50"},
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "canceling statement due to statement timeout" in out.stderr and "Traceback" not in out.stderr
    assert state(fault_dsn) == before


@pytest.fixture
def tiny_tablespace(server_dsn):
    """A 4 MB tmpfs as a tablespace: a real 'No space left on device'."""
    path = f"/tmp/xmmtiny_{os.getpid()}"
    os.makedirs(path, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", path], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        os.makedirs(f"{path}/ts")
        shutil.chown(f"{path}/ts", "postgres", "postgres")
        with psycopg.connect(with_dbname(server_dsn, "postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE xmmtiny_{os.getpid()} LOCATION '{path}/ts'")
        yield f"xmmtiny_{os.getpid()}"
    finally:
        with psycopg.connect(with_dbname(server_dsn, "postgres"), autocommit=True) as conn:
            conn.execute(f"DROP TABLESPACE IF EXISTS xmmtiny_{os.getpid()}")
        subprocess.run(["umount", path])
        os.rmdir(path)


def test_disk_full_is_a_clear_error(fault_dsn, big_catalogue, tiny_tablespace):
    """The loader stages into temporary tables; with them on a full disk the
    load fails with PostgreSQL's own message and writes nothing."""
    before = state(fault_dsn)
    out = subprocess.run([XMMDB, "load", "catalogue", str(big_catalogue)],
                         env={**os.environ, "XMMDB_DSN": fault_dsn, "PGOPTIONS": f"-c temp_tablespaces={tiny_tablespace}"},
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "No space left on device" in out.stderr and "Traceback" not in out.stderr
    assert state(fault_dsn) == before
