"""Mixed load: N concurrent clients (as xmm_web, the web shim's reader login) running
searches, photon cone queries, event extractions and spectral fits for a
bounded time on loopback. Reports errors and p50/p99 per kind of request.
Also used by tests/test_concurrency.py with a short duration."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import psycopg

from xmmdb_loader.roles import login_dsn

from .run import percentiles

# What an astronomer's session does, on the sample sky.
REQUESTS = {
    "search": ("SELECT count(*) FROM xmm_search(%s)",
               ["cone('M31', '10arcmin') AND sc_det_ml > 10", "M82", "is_ulx = true", "n_detections > 3 AND sc_ep_8_flux > 1e-13"]),
    "photons": ("SELECT count(*) FROM xmm_photons(%s, %s, 30)", None),
    "extract": ("SELECT length(xmm_extract_events(%s, 20))", None),
    "fit": ("SELECT stat, rstat FROM xmm_fit(%s, 'phabs_pl', %s)", None),
}


def targets(conn) -> dict:
    """Positions with photons and sources with spectra and photons in this database."""
    with_photons = conn.execute(
        "SELECT s.srcid, s.sc_ra, s.sc_dec FROM source s WHERE EXISTS (SELECT 1 FROM xmm.exposure e"
        " JOIN observation o USING (obs_id) WHERE o.footprint @> spoint(radians(s.sc_ra), radians(s.sc_dec)))"
        " ORDER BY s.sc_ep_8_flux DESC LIMIT 20").fetchall()
    with_spectra = [r[0] for r in conn.execute(
        "SELECT DISTINCT d.srcid FROM detection d JOIN xmm.spectrum s USING (detid) LIMIT 20").fetchall()]
    return {"photons": with_photons, "spectra": with_spectra}


def run_mixed(dsn: str, clients: int = 20, seconds: float = 60.0, login: str = "xmm_web") -> dict:
    dsn = login_dsn(dsn, login)
    with psycopg.connect(dsn) as conn:
        t = targets(conn)
    timings: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(k: int) -> None:
        rng = random.Random(k)
        try:
            conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as exc:
            with lock:
                errors.append(f"connect: {exc}")
            return
        with conn:
            while time.monotonic() < deadline:
                kind = rng.choices(list(REQUESTS), weights=[4, 4, 1, 1])[0]
                sql, choices = REQUESTS[kind]
                srcid, ra, dec = rng.choice(t["photons"])
                if kind == "search":
                    params = (rng.choice(choices),)
                elif kind == "photons":
                    params = (ra, dec)
                elif kind == "extract":
                    params = (srcid,)
                else:
                    params = (rng.choice(t["spectra"]), '{"group": %d}' % rng.choice([15, 20, 25]))
                t0 = time.perf_counter()
                try:
                    conn.execute(sql, params).fetchall()
                except psycopg.Error as exc:
                    with lock:
                        errors.append(f"{kind}{params}: {exc.diag.message_primary or exc}")
                    continue
                with lock:
                    timings[kind].append((time.perf_counter() - t0) * 1000.0)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(seconds + 300)
    return {"timings": dict(timings), "errors": errors}


def run(bench) -> None:
    """On the sample-sky database `xmm` (it has spectra and photons)."""
    from xmmdb_loader.dsn import with_dbname

    result = run_mixed(with_dbname(bench.server_dsn, "xmm"), clients=20, seconds=180)
    total = sum(len(v) for v in result["timings"].values())
    bench.row("concurrency", "20 clients, 3 min, mixed requests as a reader: errors", len(result["errors"]), "errors",
              "0", note=f"{total} requests")
    for kind, samples in sorted(result["timings"].items()):
        p50, _ = percentiles(samples)
        p99 = sorted(samples)[min(len(samples) - 1, int(0.99 * len(samples)))]
        bench.row("concurrency", f"{kind} p50 under 20 clients", p50, "ms", note=f"p99 {p99:.0f} ms; n={len(samples)}")
