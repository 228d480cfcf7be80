"""Search language: parse+transpile time per query, and xmm_search of 10' cones on the
1M-source catalogue versus the hand-written Q3C query, both sent as psql sends them (simple
protocol, never prepared): the hand-written query is planned each time (~5 ms: q3c_radial_query's
hundred index ranges), while xmm_search's cone runs through xmm.sources_in_cone, whose plan the
session keeps. Cones at catalogue positions drawn at random (a typical cone: ~16 sources), and the
one at M31 (476 sources: most of its time is sending them); the same rows (asserted)."""

from __future__ import annotations

import random
import time

from xmmdb.pg import Psycopg
from xmmdb.search import Position, Transpiler
from xmmdb.sqlsafe import Catalog

from .catalogue import ensure_catalogue
from .run import percentiles, timed

QUERIES = [
    "M82",
    "cone('M31', '1deg') AND sc_det_ml < 100",
    "cone('00h42m44.3s +41d16m09s', '2arcmin')",
    "is_ulx = true AND n_detections > 2",
    'srcid IN {3, 4} OR iauname IN {"4XMM J095818.2-110330", "4XMM J095552.8+694044"}',
    '"J0958" IN iauname AND {"M82", "ULX"} IN comments AND NOT sc_ep_8_flux < 1e-13',
    "(sc_hr1 > -0.5 OR sc_hr2 IS NULL) AND has_spectrum AND 100 <= sc_det_ml",
]


class MemoryResolver:
    """Names from memory, so that the figure is parse + transpile alone."""

    def position(self, text, column=None):
        return Position(text, 10.684792, 41.269056, "memory")


def run(bench) -> None:
    ensure_catalogue(bench)
    with bench.connect(autocommit=True) as conn:
        t = Transpiler(Catalog.load(Psycopg(conn), cache=False), MemoryResolver(), "source")
        for q in QUERIES:
            t.to_sql(q)  # warm (grammar, catalogue)
        samples = []
        for _ in range(300):
            for q in QUERIES:
                t0 = time.perf_counter()
                t.to_sql(q)
                samples.append((time.perf_counter() - t0) * 1e6)
        p50, p95 = percentiles(samples)
        bench.row("search", "parse + transpile, p50 over 7 typical queries", p50, "µs", "",
                  note=f"p95 {p95:.0f} µs; in-process, names from memory")

        n = conn.execute("SELECT count(*) FROM xmm.source").fetchone()[0]
        ra, dec = conn.execute("SELECT ra, dec FROM xmm_resolve('M31')").fetchone()
        ours = "SELECT * FROM xmm_search('cone(''M31'',''10arcmin'')')"
        hand = f"SELECT * FROM xmm.source WHERE q3c_radial_query(sc_ra, sc_dec, {ra}, {dec}, 10/60.0)"
        def run_(q):
            return conn.execute(q, prepare=False).fetchall()

        rows = len(run_(ours))
        assert rows == len(run_(hand))
        for _ in range(20):
            run_(ours), run_(hand)  # warm the cache and boot PL/Python
        ours_ms, hand_ms = [], []
        for _ in range(30):  # interleaved, so both see the same machine load
            ours_ms += timed(lambda: run_(ours), 10)
            hand_ms += timed(lambda: run_(hand), 10)
        o50, o95 = percentiles(ours_ms)
        h50, _ = percentiles(hand_ms)
        bench.row("search", f"xmm_search('cone(''M31'',''10arcmin'')') p50, {n:,} sources", o50, "ms",
                  "≤ 1.2 × hand-written", "hand-written q3c_radial_query", h50,
                  note=f"ratio ours/hand {o50 / h50:.2f}; {rows} rows; p95 {o95:.2f} ms")
        random_cones(bench, conn, n)


def random_cones(bench, conn, n: int) -> None:
    """SELECT * FROM xmm_search('cone(...)') at random catalogue positions against the
    hand-written query and the same query as a sequential scan; the same rows (asserted)."""
    rng = random.Random(2)
    centres = conn.execute("SELECT sc_ra, sc_dec FROM xmm.source TABLESAMPLE SYSTEM (1) LIMIT 500").fetchall()
    ours = "SELECT * FROM xmm_search('cone(''{} {}'', ''10arcmin'')')"
    hand = "SELECT * FROM xmm.source WHERE q3c_radial_query(sc_ra, sc_dec, {}, {}, 10/60.0)"

    def run_(q, centre):
        return conn.execute(q.format(*centre), prepare=False).fetchall()

    found = 0
    for centre in centres[:50]:        # the same rows, and a warm cache
        a = run_(ours, centre)
        assert sorted(a) == sorted(run_(hand, centre))
        found += len(a)
    ours_ms, hand_ms = [], []
    for _ in range(30):                # interleaved, so both see the same machine load
        for query, out in ((ours, ours_ms), (hand, hand_ms)):
            for _ in range(10):
                centre = rng.choice(centres)
                out += timed(lambda q=query, c=centre: run_(q, c), 1)
    conn.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
    seq_ms = []
    for centre in rng.sample(centres, 10):
        seq_ms += timed(lambda c=centre: run_(hand, c), 1)
    conn.execute("RESET enable_indexscan; RESET enable_bitmapscan")
    o50, o95 = percentiles(ours_ms)
    h50, h95 = percentiles(hand_ms)
    s50, _ = percentiles(seq_ms)
    bench.row("search", f"SELECT * FROM xmm_search('cone(...)'), 10' at random positions, p50, {n:,} sources", o50,
              "ms", "≤ 2 ms; ≤ 1.2 × hand-written", "hand-written q3c_radial_query", h50,
              note=f"ratio ours/hand {o50 / h50:.2f}; p95 {o95:.2f} ms vs {h95:.2f} ms; "
                   f"{found / 50:.0f} sources per cone; the same rows (asserted)")
    bench.row("search", "the same xmm_search cones against a sequential scan", o50, "ms", "≥ 100× a scan",
              "hand-written query, sequential scan", s50)
