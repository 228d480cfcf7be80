"""Batch work on both cores: the same work with one worker and with two.

- fits: xmm_fit over a list of sources (LATERAL, refit: no cache) on the sample sky, in one
  session, then the list split between two sessions (each its own backend, so its own core);
- photon loads: event lists of the benchmark sky (`photons` section's files) loaded by one
  loader, then the same files split between two loaders at once (each its own transactions;
  loads of different exposures do not wait for each other).
Timing searches use both cores inside one call (xmm_pulsation_survey's compute threads): the
`pulsars` section reports them with 1 and 2 threads."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from xmmdb_loader import database
from xmmdb_loader.dsn import with_dbname
from xmmdb_loader.events import load_events

from .photons import sky

FITS = 80
LOAD_FILES = 24


def _fits(dsn: str, srcids: list[int]) -> float:
    """Seconds for the fits of srcids in one session (booted and warmed first, as a batch is)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT stat FROM xmm_fit(%s, 'phabs_pl', '{\"refit\": true}')", (srcids[0],))
        t0 = time.perf_counter()
        n = conn.execute("SELECT count(f.stat) FROM unnest(%s::bigint[]) AS s(srcid) "
                         "CROSS JOIN LATERAL xmm_fit(s.srcid, 'phabs_pl', '{\"refit\": true}') AS f",
                         (srcids,)).fetchone()[0]
        assert n == len(srcids), (n, len(srcids))
        return time.perf_counter() - t0


def _load(dsn: str, files) -> int:
    with psycopg.connect(dsn) as conn:
        load_events(conn, files, progress=False)
        return conn.execute("SELECT coalesce(sum(n_photons), 0) FROM xmm.exposure").fetchone()[0]


def run(bench) -> None:
    sample = with_dbname(bench.server_dsn, "xmm")
    with psycopg.connect(sample) as conn:
        have = [r[0] for r in conn.execute(
            "SELECT DISTINCT d.srcid FROM xmm.spectrum s JOIN xmm.detection d USING (detid) "
            "WHERE s.kind = 'source' ORDER BY 1")]
    srcids = (have * (FITS // max(len(have), 1) + 1))[:FITS]
    one = _fits(sample, srcids)
    with ThreadPoolExecutor(2) as pool:
        t0 = time.perf_counter()
        list(pool.map(lambda part: _fits(sample, part), (srcids[0::2], srcids[1::2])))
        two = time.perf_counter() - t0
    bench.row("batch", f"fits over a list, two sessions ({FITS} sources with spectra, phabs_pl, no cache)",
              FITS / two * 60, "fits/min", "", "one session", FITS / one * 60, lower_is_better=False,
              note=f"{one:.1f} s in one session, {two:.1f} s split in two (each session booted before)")

    files = sky(int(1e7))[:LOAD_FILES]
    dsn = with_dbname(bench.server_dsn, "xmmbench_batch")
    database.ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        database.ensure_extension(conn, database.available_build_id(conn), keep_data=False)
        database.configure_database(conn)
    rates = []
    for workers in (1, 2):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("TRUNCATE xmm.photon_cell, xmm.exposure, xmm.gti, xmm.orbit, xmm.hips_dirty CASCADE")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda part: _load(dsn, part), [files[k::workers] for k in range(workers)]))
        seconds = time.perf_counter() - t0
        with psycopg.connect(dsn) as conn:
            photons = int(conn.execute("SELECT sum(n_photons) FROM xmm.exposure").fetchone()[0])
        rates.append((photons / seconds, seconds, photons))
    (r1, s1, n), (r2, s2, _) = rates
    bench.row("batch", f"photon loads, two loaders at once ({LOAD_FILES} event lists, {n:,} photons)", r2,
              "photons/s", "", "one loader", r1, lower_is_better=False,
              note=f"{s1:.1f} s with one loader, {s2:.1f} s with two (client and server share the 2 cores)")
