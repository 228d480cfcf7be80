"""Web shim under load: requests/s and p50/p95 latency of the search page and of
the cone-search endpoint with 20 concurrent clients, on the 1M-source
benchmark catalogue. The shim runs as `make run` runs it (waitress, its own
process) on a free loopback port; clients are threads with keep-alive
connections. Bounded: at most REQUESTS per client and SECONDS per endpoint."""

from __future__ import annotations

import http.client
import os
import random
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlencode

from .catalogue import ensure_catalogue
from .run import WORK, percentiles

CLIENTS = 20
REQUESTS = 40       # per client and endpoint
SECONDS = 60.0      # per endpoint, whatever comes first


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load(port: int, paths: list[str]) -> tuple[list[float], int, float]:
    """(latencies ms, errors, wall seconds) of CLIENTS threads cycling through paths."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def client(k: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        rng = random.Random(k)
        mine = []
        for _ in range(REQUESTS):
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            try:
                conn.request("GET", rng.choice(paths))
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            mine.append((time.perf_counter() - t0) * 1000.0)
            if not ok:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, errors[0], time.perf_counter() - t0


@contextmanager
def shim(bench):
    """The web shim as `make run` runs it (waitress, its own process) on a free loopback port."""
    port = _free_port()
    log = open(WORK / "web-bench.log", "ab")
    env = {**os.environ, "XMMDB_WEB_DSN": bench.dsn}
    proc = subprocess.Popen([sys.executable, "-m", "xmmdb_web.serve", "run", "--port", str(port), "--threads", "8"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def run(bench) -> None:
    ensure_catalogue(bench)
    with bench.connect() as conn:
        centres = conn.execute("SELECT sc_ra, sc_dec FROM xmm.source TABLESAMPLE SYSTEM (1) LIMIT 200").fetchall()
        has_search = conn.execute("SELECT to_regproc('xmm.xmm_search') IS NOT NULL").fetchone()[0]
    with shim(bench) as port:
        cases = []
        if has_search:
            cases.append(("search page (5' cone, 50 rows)", [
                "/?" + urlencode({"q": f"cone('{ra:.5f} {dec:+.5f}', '5arcmin')"}) for ra, dec in centres]))
        cases.append(("cone search /vo/scs (5')", [
            "/vo/scs?" + urlencode({"RA": f"{ra:.5f}", "DEC": f"{dec:+.5f}", "SR": 5 / 60}) for ra, dec in centres]))
        for name, paths in cases:
            _load(port, paths[:20])  # warm the pool and the caches
            lat, errors, wall = _load(port, paths)
            p50, p95 = percentiles(lat)
            bench.row("web", f"{name}, {CLIENTS} concurrent clients", len(lat) / wall, "req/s",
                      lower_is_better=False,
                      note=f"p50 {p50:.0f} ms, p95 {p95:.0f} ms; {len(lat)} requests, {errors} errors; "
                           "waitress 8 threads, loopback")
