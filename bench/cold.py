"""A session's first call against its later ones, on the sample sky (database xmmbench_cold,
made and filled here): every sample opens a new connection, makes one call (cold: the
PL/Python interpreter starts, the package boots, imports what the call needs) and repeats it
(warm). Reported: p50 and p95 of each over the sessions; the warm figures in the note, with the
figures of the release before this work (0.10.0's package, the same bench) for comparison.

    var/venv/bin/python -m bench.run --only cold
    var/venv/bin/python -m bench.cold search fit     # some calls, printed, results.md untouched
"""

from __future__ import annotations

import json
import sys

import psycopg

from xmmdb_loader import database
from xmmdb_loader.cli import load_sample
from xmmdb_loader.dsn import with_dbname

from .run import REPO, percentiles, timed

DB = "xmmbench_cold"
SAMPLES = 15
SLOW_SAMPLES = 8            # calls of about a second and more
PULSAR = json.loads((REPO / "data" / "sample" / "truth" / "events.json").read_text())["pulsar"]["srcid"]
SPECTRUM_SOURCE = "(SELECT min(d.srcid) FROM xmm.spectrum s JOIN xmm.detection d USING (detid))"
M31 = "10.6847, 41.2690"
# name -> (query, target for the first call)
CALLS = {
    "python_boot": ("SELECT xmm.python_boot()", "the boot alone"),
    "xmm_search": ("SELECT count(*) FROM xmm_search('M82')", "≤ 50 ms"),
    "xmm_search (cone)": ("SELECT count(*) FROM xmm_search('cone(''10.68 41.27'', ''10arcmin'') AND sc_det_ml > 8')",
                          "≤ 50 ms"),
    "xmm_search_detections": ("SELECT count(*) FROM xmm_search_detections('M82')", "≤ 50 ms"),
    "xmm_to_sql": ("SELECT xmm_to_sql('M82 AND is_ulx = true')", "≤ 50 ms"),
    "xmm_resolve": ("SELECT count(*) FROM xmm_resolve('M82')", "≤ 50 ms"),
    "xmm_resolve (coordinates)": ("SELECT count(*) FROM xmm_resolve('00h42m44.3s +41d16m09s')", "≤ 50 ms"),
    "xmm_photons": ("SELECT count(*) FROM xmm_photons(10.6606, 41.3137, 30)", "≤ 50 ms"),
    "xmm_adql": ("SELECT xmm_adql('SELECT TOP 5 srcid FROM xmm.source')", "≤ 50 ms"),
    "xmm_adql (cone)": ("SELECT xmm_adql('SELECT srcid FROM xmm.source WHERE CONTAINS(POINT(''ICRS'', sc_ra, sc_dec), "
                        "CIRCLE(''ICRS'', 10.68, 41.27, 0.1)) = 1')", "≤ 50 ms"),
    "xmm_coverage": (f"SELECT count(*) FROM xmm_coverage({M31})", ""),
    "xmm_exposure": (f"SELECT count(*) FROM xmm_exposure({M31})", ""),
    "xmm_image": ("SELECT length(xmm_image(10.68, 41.27, 10, 4, '{}'))", ""),
    "xmm_upper_limit": ("SELECT count(*) FROM xmm_upper_limit(10.6, 41.2, '{\"bands\": [8]}')", ""),
    "xmm_lightcurve": (f"SELECT count(*) FROM xmm_lightcurve({PULSAR}, 100)", ""),
    "xmm_long_term_lightcurve": (f"SELECT count(*) FROM xmm_long_term_lightcurve({PULSAR})", ""),
    "xmm_variability": (f"SELECT count(*) FROM xmm_variability({PULSAR})", ""),
    "xmm_extract_events": (f"SELECT length(xmm_extract_events({PULSAR}, 20))", ""),
    "xmm_periodogram": (f"SELECT best_frequency FROM xmm_periodogram({PULSAR}, 0.8, 0.85)", ""),
    "xmm_spectrum_file": ("SELECT length(xmm_spectrum_file((SELECT min(spectrum_id) FROM xmm.spectrum)))", ""),
    "xmm_fit": (f"SELECT stat FROM xmm_fit({SPECTRUM_SOURCE}, 'phabs_pl')", "≤ 400 ms"),
    "xmm_fit (tbabs*(powerlaw+bbody), cstat)": (
        f"SELECT stat FROM xmm_fit({SPECTRUM_SOURCE}, 'tbabs*(powerlaw+bbody)', '{{\"stat\": \"cstat\"}}')",
        "≤ 400 ms"),
    "xmm_fit_plot": (f"SELECT length(xmm_fit_plot({SPECTRUM_SOURCE}, 'phabs_pl'))", ""),
}
SLOW = {"xmm_periodogram", "xmm_fit_plot", "xmm_variability"}
UNCACHED = "DELETE FROM xmm.fit_cache"   # before each fit: a fit, not a lookup of the last one
# p50 of the first call with the package of release 0.10.0 (this bench, measured on the
# slower, busy machine of an earlier run: a comparison of packages only on that machine).
BEFORE = {"python_boot": 34, "xmm_search": 161, "xmm_resolve": 5.4, "xmm_photons": 11, "xmm_adql": 167,
          "xmm_periodogram": 2051, "xmm_fit": 1588}


def ensure_database(server_dsn: str) -> str:
    """The sample sky in its own database, so that the figures never depend on what the
    developers' database holds or which build it runs."""
    dsn = with_dbname(server_dsn, DB)
    database.ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        state = database.ensure_extension(conn, database.available_build_id(conn), keep_data=False)
        database.configure_database(conn)
        empty = conn.execute("SELECT count(*) = 0 FROM xmm.spectrum").fetchone()[0]
    if state != "current" or empty:
        with psycopg.connect(dsn) as conn:
            load_sample(conn, REPO / "data" / "sample")
    return dsn


def measure(dsn: str, query: str, sessions: int, warm_calls: int = 3) -> tuple[list[float], list[float]]:
    """(first calls, later calls) in ms: one new session per sample."""
    prepare = UNCACHED if "xmm_fit" in query else "SELECT 1"
    cold, warm = [], []
    for _ in range(sessions):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(prepare)       # the connection is made: what follows is the first call alone
            cold += timed(lambda: conn.execute(query).fetchall(), 1)
            for _ in range(warm_calls):
                conn.execute(prepare)
                warm += timed(lambda: conn.execute(query).fetchall(), 1)
    return cold, warm


def run(bench, names=None) -> None:
    dsn = ensure_database(bench.server_dsn)
    for name, (query, target) in CALLS.items():
        if names and not any(n in name for n in names):
            continue
        cold, warm = measure(dsn, query, SLOW_SAMPLES if name in SLOW else SAMPLES)
        c50, c95 = percentiles(cold)
        w50, w95 = percentiles(warm)
        before = f"; first call with 0.10.0's package, on an earlier run's slower machine: p50 {BEFORE[name]:,.4g} ms" if name in BEFORE else ""
        bench.row("cold", f"{name}: a new session's first call, p50 (p95 {c95:,.4g} ms)", c50, "ms", target,
                  note=f"warm (the same session's next calls): p50 {w50:,.3g} ms, p95 {w95:,.3g} ms; "
                       f"{len(cold)} sessions{before}")


if __name__ == "__main__":   # a look at some calls, without writing bench/results.md
    from xmmdb_loader.dsn import find_dsn

    from .run import Bench

    run(Bench(find_dsn(REPO), 0), sys.argv[1:])
