"""Backups of the benchmark archive (the 1M-source catalogue and whatever the
photon section loaded): pg_dump custom format and directory format with two
jobs, pg_restore into a new database, and rebuilding the catalogue from its
FITS files (the alternative to a backup) measured in the same run."""

from __future__ import annotations

import shutil
import subprocess
import time

import psycopg

from xmmdb_loader import database
from xmmdb_loader.catalogue import load_catalogue
from xmmdb_loader.dsn import with_dbname

from .catalogue import SEED, ensure_catalogue
from .run import WORK

PGBIN = "/usr/lib/postgresql/15/bin"


def seconds(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def run(bench) -> None:
    detections, _ = ensure_catalogue(bench)
    with bench.connect() as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        photons = conn.execute("SELECT coalesce(sum(n_photons), 0) FROM xmm.exposure").fetchone()[0]
    out = WORK / "backup"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t_fc = seconds([f"{PGBIN}/pg_dump", "-Fc", "-f", str(out / "xmm.dump"), "--dbname", bench.dsn])
    t_fd = seconds([f"{PGBIN}/pg_dump", "-Fd", "-j", "2", "-f", str(out / "xmm.dir"), "--dbname", bench.dsn])
    dump_bytes = (out / "xmm.dump").stat().st_size
    restored = with_dbname(bench.server_dsn, "xmmbench_restore")
    with psycopg.connect(with_dbname(bench.server_dsn, "postgres"), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS xmmbench_restore WITH (FORCE)")
    database.ensure_database(restored)
    t_restore = seconds([f"{PGBIN}/pg_restore", "--exit-on-error", "--dbname", restored, str(out / "xmm.dump")])
    with psycopg.connect(restored) as conn:
        assert conn.execute("SELECT count(*) FROM xmm.detection").fetchone()[0] == detections
    # The alternative to restoring: loading the catalogue's files again into an empty archive.
    with psycopg.connect(restored) as conn:
        conn.execute("TRUNCATE xmm.detection, xmm.source, xmm.observation, xmm.load_log CASCADE")
        conn.commit()
        files = sorted((WORK / f"catalogue-{bench.sources}-{SEED}" / "catalogue").glob("*.fits"))
        t0 = time.perf_counter()
        load_catalogue(conn, files, progress=False)
        t_reload = time.perf_counter() - t0
    with psycopg.connect(with_dbname(bench.server_dsn, "postgres"), autocommit=True) as conn:
        conn.execute("DROP DATABASE xmmbench_restore WITH (FORCE)")
    shutil.rmtree(out, ignore_errors=True)
    note = f"{size / 2**20:,.0f} MiB database, {detections:,} detections, {photons:,} photons"
    bench.row("backup", "pg_dump -Fc", t_fc, "s", note=note)
    bench.row("backup", "pg_dump -Fc size", dump_bytes / 2**20, "MiB", note=f"{dump_bytes / size:.2f} of the database")
    bench.row("backup", "pg_dump -Fd -j 2", t_fd, "s", alternative="pg_dump -Fc", alt_value=t_fc)
    bench.row("backup", "pg_restore (one job) of the -Fc dump", t_restore, "s",
              alternative="xmmdb load catalogue of the FITS files (catalogue only)", alt_value=t_reload)
