"""Spectral fitting: phabs*powerlaw on the real EPIC-pn spectrum of NGC 7793 ULX-4
in SQL (cold: new session, warm: same session, refit) against the same fit as a
bare Sherpa script on the same files, in the same run; then batch throughput
of xmm_fit over 100 sample-sky sources through LATERAL."""

from __future__ import annotations

import subprocess
import sys
import time

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
BARE_FIT = r'''
def bare_fit(path):
    import logging, warnings
    from sherpa.astro import ui
    from xmmdb.spectral import models
    logging.getLogger("sherpa").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ui.clean()
        ui.load_pha(path)
        ui.ungroup()                       # regroup from the channels, as xmmdb does:
        ui.set_analysis("energy")
        bad = ui.get_data().quality != 0   # grppha's group min 20 over the whole range,
        ui.group_counts(20, tabStops=bad)
        ui.ignore_bad()                    # the incomplete last group out,
        ui.notice(0.2, 12.0)               # then the range, in whole groups
        ui.subtract()
        built = models.build("phabs_pl")
        ui.set_source(built.model)
        ui.set_stat("chi2xspecvar")
        ui.set_method("levmar")
        ui.fit()
        ui.covar()
        return ui.get_fit_results().statval, models.energy_flux(built, None, None, 0.2, 12.0)
'''
_bare: dict = {}
exec(BARE_FIT, _bare)   # the same text runs cold in a fresh interpreter (BARE_COLD)
bare_fit = _bare["bare_fit"]
# Cold: a fresh interpreter runs the script once (imports + first fit).
BARE_COLD = BARE_FIT + "\nimport sys, time\nt0 = time.perf_counter()\nbare_fit(sys.argv[1])\n" \
                       "print((time.perf_counter() - t0) * 1000)\n"


def ensure_database(bench) -> str:
    dsn = with_dbname(bench.server_dsn, DB)
    database.ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        state = database.ensure_extension(conn, database.available_build_id(conn), keep_data=False)
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

        spectrum = str(REAL / "PN_spectrum_grp20.fits")

        def bare_cold():
            out = subprocess.run([sys.executable, "-c", BARE_COLD, spectrum], capture_output=True, text=True,
                                 check=True)
            return float(out.stdout.strip().splitlines()[-1])

        # Alternate xmmdb and the bare script so both see the same load on a shared machine.
        cold_ms, bare_cold_ms = [], []
        for _ in range(5):
            cold_ms += timed(cold, 1)
            bare_cold_ms.append(bare_cold())
        warm_ms, bare_ms = [], []
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(FIT, (detid,)).fetchone()
            bare_stat, _ = bare_fit(spectrum)
            for _ in range(20):
                warm_ms += timed(lambda: conn.execute(FIT, (detid,)).fetchone(), 1)
                bare_ms += timed(lambda: bare_fit(spectrum), 1)
            stat, dof, _ = conn.execute(FIT, (detid,)).fetchone()
        warm50, warm95 = percentiles(warm_ms)
        bare50, _ = percentiles(bare_ms)
        cold50, _ = percentiles(cold_ms)
        bare_cold50, _ = percentiles(bare_cold_ms)
        bench.row("spectral", "phabs_pl fit of the real pn spectrum (ULX-4), warm session, p50", warm50, "ms",
                  "≤ 1.2× bare Sherpa", "bare Sherpa script, same files, warm process", bare50,
                  note=f"xmmdb/bare = {warm50 / bare50:.2f}; p95 {warm95:.0f} ms; chi2 {stat:.1f}/{dof} "
                       f"(bare {bare_stat:.1f}); runs alternated")
        bench.row("spectral", "same fit, cold (new session: connect, boot PL/Python, import Sherpa)", cold50, "ms",
                  "", "bare Sherpa script, fresh interpreter (imports + first fit)", bare_cold50,
                  note=f"xmmdb/bare = {cold50 / bare_cold50:.2f}")
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
