"""Catalogue: load rate at 1M sources; 10' cone latency through Q3C versus the
same query forced to a sequential scan."""

from __future__ import annotations

import random
import time

import psycopg

from xmmdb_loader import database
from xmmdb_loader.catalogue import load_catalogue
from xmmdb_loader.simulate import write_sample

from .run import WORK, percentiles, timed

SEED = 7


def ensure_catalogue(bench) -> tuple[int, float | None]:
    """The benchmark database with the N-source catalogue; (detections, load seconds or None if reused)."""
    folder = WORK / f"catalogue-{bench.sources}-{SEED}"
    files = sorted((folder / "catalogue").glob("*.fits"))
    if not files:
        write_sample(folder, seed=SEED, n_sources=bench.sources)
        files = sorted((folder / "catalogue").glob("*.fits"))
    database.ensure_database(bench.dsn)
    with psycopg.connect(bench.dsn, autocommit=True) as conn:
        state = database.ensure_extension(conn, database.available_build_id(conn), keep_data=False)
        database.configure_database(conn)
        loaded = state == "current" and conn.execute(
            "SELECT count(*) FROM xmm.load_log WHERE file = ANY(%s)", ([str(f) for f in files],)).fetchone()[0] == len(files)
    if loaded:
        with bench.connect() as conn:
            return conn.execute("SELECT count(*) FROM xmm.detection").fetchone()[0], None
    with bench.connect() as conn:
        conn.execute("TRUNCATE xmm.detection, xmm.source, xmm.observation CASCADE")
        conn.commit()
        t0 = time.perf_counter()
        load_catalogue(conn, files, progress=False)
        seconds = time.perf_counter() - t0
        return conn.execute("SELECT count(*) FROM xmm.detection").fetchone()[0], seconds


def run(bench) -> None:
    n_det, seconds = ensure_catalogue(bench)
    with bench.connect() as conn:
        n_src = conn.execute("SELECT count(*) FROM xmm.source").fetchone()[0]
        if seconds:
            bench.row("catalogue", f"load {n_src:,} sources + {n_det:,} detections (one transaction, incl. index, cluster)",
                      n_det / seconds, "detections/s", note=f"{seconds:.0f} s in all")
        sizes = conn.execute("SELECT pg_total_relation_size('xmm.source'), pg_total_relation_size('xmm.detection')"
                             ).fetchone()
        bench.row("catalogue", "source table + indexes per source", sizes[0] / n_src, "B",
                  note=f"{sizes[0] / 2**20:,.0f} MiB for {n_src:,}")
        bench.row("catalogue", "detection table + indexes per detection", sizes[1] / n_det, "B",
                  note=f"{sizes[1] / 2**20:,.0f} MiB for {n_det:,}")
        rng = random.Random(1)
        centres = conn.execute("SELECT sc_ra, sc_dec FROM xmm.source TABLESAMPLE SYSTEM (1) LIMIT 500").fetchall()
        columns = "srcid, sc_ra, sc_dec, sc_ep_8_flux"
        ours = f"SELECT {columns} FROM xmm.sources_in_cone(%s, %s, %s)"
        hand = f"SELECT {columns} FROM xmm.source WHERE q3c_radial_query(sc_ra, sc_dec, %s, %s, %s)"
        radius = 10 / 60.0

        def cone(query):
            ra, dec = rng.choice(centres)
            return conn.execute(query, (ra, dec, radius), prepare=True).fetchall()

        for ra, dec in centres[:50]:   # the same rows, and a warm cache
            a = conn.execute(ours, (ra, dec, radius), prepare=True).fetchall()
            assert sorted(a) == sorted(conn.execute(hand, (ra, dec, radius), prepare=True).fetchall())
        ours_ms, hand_ms = [], []
        for _ in range(25):            # interleaved, so both see the same machine load
            ours_ms += timed(lambda: cone(ours), 20)
            hand_ms += timed(lambda: cone(hand), 20)
        p50, p95 = percentiles(ours_ms)
        h50, h95 = percentiles(hand_ms)
        conn.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
        seq50, _ = percentiles(timed(lambda: cone(hand), 15))
        conn.execute("RESET enable_indexscan; RESET enable_bitmapscan")
        n_found = sum(len(cone(ours)) for _ in range(50)) / 50
        bench.row("catalogue", "10' cone p50: xmm.sources_in_cone (the query language's cones; Q3C ranges, kept plan)",
                  p50, "ms", "≤ 2 ms", "q3c_radial_query, a prepared statement", h50,
                  note=f"p95 {p95:.2f} ms vs {h95:.2f} ms; {n_found:.0f} sources per cone; the same rows (asserted)")
        bench.row("catalogue", "10' cone p50 (Q3C index) against a sequential scan", p50, "ms", "≥ 100× a scan",
                  "same cone, sequential scan", seq50)
