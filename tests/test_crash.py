"""No acknowledged commit is lost in a crash: a cluster made by setup/cluster.sh
(a throwaway one, in a state dir of its own) has its postmaster killed with
SIGKILL right after loads and inserts have returned; `setup/cluster.sh start`,
run at once, waits for the dying server, recovers it and says so, and every
acknowledged load and row is there."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from astropy.io import fits
from conftest import REPO, SAMPLE

from xmmdb_loader import database
from xmmdb_loader.catalogue import load_catalogue


def cluster(state: Path, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "setup" / "cluster.sh"), command],
                          env={**os.environ, "XMMDB_STATE": str(state)}, capture_output=True, text=True, timeout=180)


@pytest.fixture
def throwaway_cluster():
    state = Path(tempfile.mkdtemp(prefix="xmmdb-crash-", dir="/var/tmp"))
    state.chmod(0o755)
    out = cluster(state, "start")
    assert out.returncode == 0, out.stderr
    yield state
    cluster(state, "stop")
    shutil.rmtree(state, ignore_errors=True)


def test_every_acknowledged_commit_survives_a_postmaster_kill(throwaway_cluster):
    state = throwaway_cluster
    dsn = (state / "dsn").read_text().strip()
    database.ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        assert conn.execute("SHOW wal_level").fetchone()[0] == "replica"
        database.ensure_extension(conn, None)
        database.configure_database(conn)
        conn.execute("CREATE TABLE acknowledged (i int PRIMARY KEY)")
    files = sorted((SAMPLE / "catalogue").glob("*.fits"))
    with psycopg.connect(dsn) as conn:
        load_catalogue(conn, files, progress=False)        # returns after its commit
    acknowledged = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(300):
            conn.execute("INSERT INTO acknowledged VALUES (%s)", (i,))
            acknowledged.append(i)
    postmaster = int((state / "pgdata" / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)
    t0 = time.monotonic()
    out = cluster(state, "start")
    assert out.returncode == 0, out.stderr
    assert "recovered after a crash" in out.stdout, out.stdout
    assert time.monotonic() - t0 < 120
    with psycopg.connect(dsn) as conn:
        assert [r[0] for r in conn.execute("SELECT i FROM acknowledged ORDER BY i")] == acknowledged
        assert conn.execute("SELECT count(*) FROM xmm.load_log").fetchone()[0] == len(files)
        n_rows = len(fits.getdata(SAMPLE / "catalogue" / "xmmdb_sample_cat.fits"))
        assert conn.execute("SELECT count(*) FROM xmm.detection").fetchone()[0] == n_rows


def test_start_reports_a_server_that_cannot_start(throwaway_cluster):
    state = throwaway_cluster
    assert cluster(state, "stop").returncode == 0
    conf = state / "pgdata" / "xmmdb.conf"
    (state / "pgdata" / "postgresql.conf").write_text(
        (state / "pgdata" / "postgresql.conf").read_text() + "\nshared_buffers = 'not a size'\n")
    out = cluster(state, "start")
    assert out.returncode != 0 and "did not start" in out.stderr
    assert conf.exists()
