"""Scale-out without Citus: the photon store's sky-region partitions can live
on other PostgreSQL servers as postgres_fdw foreign partitions. A second
local cluster (with the same extension) takes over one region; region queries
then run across both servers, the cell condition pushed to the shard, and
return exactly the rows of the single-node table."""

import os
import shutil
import socket
import subprocess
import tempfile

import psycopg
import pytest

PGBIN = "/usr/lib/postgresql/15/bin"
M31 = (10.6847, 41.2690)        # sample events: M31 pointings
NGC5408 = (210.8317, -41.3831)  # sample events: NGC 5408 X-1


def as_postgres(*cmd):
    prefix = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    subprocess.run([*prefix, *cmd], check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def shard():
    """A second PostgreSQL cluster on loopback with the xmmdb extension."""
    base = tempfile.mkdtemp(prefix="xmmshard_", dir="/tmp")
    os.chmod(base, 0o755)
    data, port = os.path.join(base, "pgdata"), free_port()
    shutil.chown(base, "postgres") if os.geteuid() == 0 else None
    as_postgres(f"{PGBIN}/initdb", "-D", data, "-U", "postgres", "--auth=trust")
    as_postgres(f"{PGBIN}/pg_ctl", "-D", data, "-l", os.path.join(base, "log"), "-w", "-o",
                f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={base}", "start")
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE shard")
    with psycopg.connect(dsn.replace("dbname=postgres", "dbname=shard"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION xmmdb CASCADE")
    yield port
    as_postgres(f"{PGBIN}/pg_ctl", "-D", data, "-m", "immediate", "stop")
    shutil.rmtree(base, ignore_errors=True)


def region_rows(db):
    """Photons of two cones in two sky regions, in one statement."""
    return db.execute(
        "SELECT obs_id, instrument, time, ra, dec, pi FROM xmm_photons(%s, %s, 90)"
        " UNION ALL SELECT obs_id, instrument, time, ra, dec, pi FROM xmm_photons(%s, %s, 90)"
        " ORDER BY 1, 2, 3, 4", (*M31, *NGC5408)).fetchall()


def test_region_query_across_a_foreign_shard(db, shard):
    single_node = region_rows(db)
    assert {r[0][:6] for r in single_node} >= {"011257", "011229"}  # both regions have photons

    part, bound = db.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_class c"
        " WHERE c.oid = (SELECT tableoid FROM xmm.photon_cell WHERE cell = xmm.photon_cell_of(%s, %s) LIMIT 1)",
        M31).fetchone()
    other = db.execute("SELECT tableoid::regclass::text FROM xmm.photon_cell WHERE cell = xmm.photon_cell_of(%s, %s)"
                       " LIMIT 1", NGC5408).fetchone()[0]
    assert other != f"xmm.{part}"  # the second cone stays on this server

    db.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
    db.execute(f"CREATE SERVER shard1 FOREIGN DATA WRAPPER postgres_fdw"
               f" OPTIONS (host '127.0.0.1', port '{shard}', dbname 'shard')")
    db.execute("CREATE USER MAPPING FOR CURRENT_USER SERVER shard1 OPTIONS (user 'postgres')")
    # Move the M31 region: detach it here, attach the shard's table as the partition, copy the rows over.
    db.execute(f"ALTER TABLE xmm.photon_cell DETACH PARTITION xmm.{part}")
    db.execute(f"CREATE FOREIGN TABLE xmm.{part}_shard1 PARTITION OF xmm.photon_cell {bound}"
               f" SERVER shard1 OPTIONS (schema_name 'xmm', table_name '{part}')")
    moved = db.execute(f"WITH m AS (INSERT INTO xmm.photon_cell SELECT * FROM xmm.{part} RETURNING 1)"
                       " SELECT count(*) FROM m").fetchone()[0]
    assert moved > 0
    db.execute(f"TRUNCATE xmm.{part}")  # the local copy is gone: rows can only come from the shard

    assert region_rows(db) == single_node

    plan = "\n".join(r[0] for r in db.execute(
        "EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM xmm_photons(%s, %s, 90)", M31))
    assert "Foreign Scan" in plan
    remote = [line for line in plan.splitlines() if "Remote SQL" in line]
    assert remote and "cell = ANY" in remote[0], plan   # the region condition runs on the shard
