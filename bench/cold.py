"""A session's first call against its later ones, on the sample sky (database xmm): every
sample opens a new connection, makes one call (cold: the PL/Python interpreter starts, the
package boots, imports what the call needs) and repeats it (warm). Reported: p50 and p95
of each over SAMPLES sessions, the warm figures in the note."""

from __future__ import annotations

import json
import statistics

import psycopg

from xmmdb_loader.dsn import with_dbname

from .run import REPO, timed

SAMPLES = 15
PULSAR = json.loads((REPO / "data" / "sample" / "truth" / "events.json").read_text())["pulsar"]["srcid"]
CALLS = {
    "xmm_search": "SELECT count(*) FROM xmm_search('M82')",
    "xmm_resolve": "SELECT count(*) FROM xmm_resolve('M82')",
    "xmm_photons": "SELECT count(*) FROM xmm_photons(10.6606, 41.3137, 30)",
    "xmm_adql": "SELECT xmm_adql('SELECT TOP 5 srcid FROM xmm.source')",
    "xmm_periodogram": f"SELECT best_frequency FROM xmm_periodogram({PULSAR}, 0.8, 0.85)",
    "xmm_fit": "SELECT stat FROM xmm_fit((SELECT min(d.srcid) FROM xmm.spectrum s JOIN xmm.detection d "
               "USING (detid)), 'phabs_pl')",
}
UNCACHED = {"xmm_fit": "DELETE FROM xmm.fit_cache"}   # a fit, not a lookup of the last one


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(round(0.95 * len(values))) - 1)]


def run(bench) -> None:
    dsn = with_dbname(bench.server_dsn, "xmm")
    for name, query in CALLS.items():
        cold, warm = [], []
        for _ in range(SAMPLES):
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(UNCACHED.get(name, "SELECT 1"))
                cold += timed(lambda q=query: conn.execute(q).fetchall(), 1)
                for _ in range(3):
                    conn.execute(UNCACHED.get(name, "SELECT 1"))
                    warm += timed(lambda q=query: conn.execute(q).fetchall(), 1)
        bench.row("cold", f"{name}: a new session's first call, p50 (p95 {p95(cold):,.0f} ms)",
                  statistics.median(cold), "ms", "≤ 50 ms" if name in ("xmm_search", "xmm_resolve", "xmm_photons",
                                                                      "xmm_adql") else "≤ 400 ms" if name == "xmm_fit"
                  else "", note=f"warm (the same session's next calls): p50 {statistics.median(warm):,.1f} ms, "
                                f"p95 {p95(warm):,.1f} ms; {SAMPLES} sessions")
