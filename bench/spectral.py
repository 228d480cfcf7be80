"""Spectral fitting: phabs*powerlaw on the real EPIC-pn spectrum of NGC 7793 ULX-4
in SQL (cold: new session, warm: same session, refit) against the same fit as a
bare Sherpa script on the same files, in the same run; then batch throughput
of xmm_fit over 100 sample-sky sources through LATERAL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from xmmdb_loader import database
from xmmdb_loader.cli import load_sample
from xmmdb_loader.dsn import with_dbname
from xmmdb_loader.products import load_products

from .run import REPO, percentiles, timed

DB = "xmmbench_spectral"
REAL = REPO.parent / "shared" / "data" / "spectra" / "ngc7793_ulx4_pn"
FIT = "SELECT stat, dof, fit_time FROM xmm_fit_detection(%s, 'PN', 'phabs_pl', '{\"refit\": true}')"

# The bare script: Sherpa's UI on the files (it reads the background, ARF and RMF the
# spectrum names), the same model code (xmmdb.spectral.models, as XSPEC is absent),
# the same filter, grouping, statistic, optimiser, covariance errors and fluxes.
BARE = r'''
import json, sys, time, warnings, logging
t0 = time.perf_counter()
warnings.simplefilter("ignore")
from sherpa.astro import ui
from xmmdb.spectral import models
logging.getLogger("sherpa").setLevel(logging.ERROR)
path, repeat = sys.argv[1], int(sys.argv[2])

def once():
    ui.clean()
    ui.load_pha(path)
    ui.ungroup()                       # regroup from the channels, as xmmdb does
    ui.set_analysis("energy")
    ui.notice(0.2, 12.0)
    ui.ignore_bad()
    ui.group_counts(20, tabStops=~ui.get_data().get_mask())
    ui.subtract()
    built = models.build("phabs_pl")
    ui.set_source(built.model)
    ui.set_stat("chi2xspecvar")
    ui.set_method("levmar")
    ui.fit()
    ui.covar()
    return ui.get_fit_results().statval, models.energy_flux(built, None, None, 0.2, 12.0)

stat, flux = once()
first = time.perf_counter() - t0
times = []
for _ in range(repeat):
    t = time.perf_counter()
    once()
    times.append((time.perf_counter() - t) * 1000)
print(json.dumps({"cold_ms": first * 1000, "warm_ms": times, "stat": stat, "flux": flux}))
'''


def ensure_database(bench) -> str:
    dsn = with_dbname(bench.server_dsn, DB)
    database.ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        state = database.ensure_extension(conn, database.available_build_id(conn))
        database.configure_database(conn)
        empty = conn.execute("SELECT count(*) = 0 FROM xmm.spectrum").fetchone()[0]
    if state != "current" or empty:
        with psycopg.connect(dsn) as conn:
            load_sample(conn, REPO / "data" / "sample")
    if REAL.is_dir():
        with psycopg.connect(dsn) as conn:
            load_products(conn, [REAL / "PN_spectrum_grp20.fits"], progress=False)
    return dsn


def run(bench) -> None:
    dsn = ensure_database(bench)
    if REAL.is_dir():
        with psycopg.connect(dsn) as conn:
            detid = conn.execute("SELECT detid FROM xmm.spectrum WHERE file = 'PN_spectrum_grp20.fits'").fetchone()[0]

        def cold():
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(FIT, (detid,)).fetchone()

        cold_ms = timed(cold, 5)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(FIT, (detid,)).fetchone()
            warm_ms = timed(lambda: conn.execute(FIT, (detid,)).fetchone(), 20)
            stat, dof, _ = conn.execute(FIT, (detid,)).fetchone()
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", BARE, str(REAL / "PN_spectrum_grp20.fits"), "20"],
                             capture_output=True, text=True, check=True)
        bare_wall = (time.perf_counter() - t0) * 1000
        bare = json.loads(out.stdout.strip().splitlines()[-1])
        warm50, warm95 = percentiles(warm_ms)
        bare50, _ = percentiles(bare["warm_ms"])
        cold50, _ = percentiles(cold_ms)
        bench.row("spectral", "phabs_pl fit of the real pn spectrum (ULX-4), warm session, p50", warm50, "ms",
                  "≤ 1.2× bare Sherpa", "bare Sherpa script, same files, warm process", bare50,
                  note=f"xmmdb/bare = {warm50 / bare50:.2f}; p95 {warm95:.0f} ms; chi2 {stat:.1f}/{dof} "
                       f"(bare {bare['stat']:.1f})")
        bench.row("spectral", "same fit, cold (new session: connect, boot PL/Python, import Sherpa)", cold50, "ms",
                  "", "bare Sherpa script, fresh interpreter (imports + first fit)", bare["cold_ms"],
                  note=f"xmmdb/bare = {cold50 / bare['cold_ms']:.2f}; script wall time incl. interpreter start "
                       f"{bare_wall:.0f} ms for 21 fits")
    with psycopg.connect(dsn, autocommit=True) as conn:
        srcids = [r[0] for r in conn.execute(
            "SELECT DISTINCT d.srcid FROM xmm.spectrum s JOIN xmm.detection d USING (detid)"
            " WHERE s.file LIKE 'P%%' ORDER BY 1 LIMIT 100").fetchall()]
        conn.execute("SELECT xmm.python_boot()")
        t0 = time.perf_counter()
        n = conn.execute("SELECT count(*) FROM unnest(%s::bigint[]) s(srcid)"
                         " CROSS JOIN LATERAL xmm_fit(s.srcid, 'phabs_pl', '{\"refit\": true}') f", (srcids,)).fetchone()[0]
        seconds = time.perf_counter() - t0
        bench.row("spectral", f"batch: xmm_fit over {n} sample sources (LATERAL, one session)", n / seconds * 60,
                  "fits/min", lower_is_better=False, note=f"{seconds:.1f} s in all; pn, grouped 20, chi2xspecvar, covar")
