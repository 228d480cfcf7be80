"""Progress of the phases of a load that run inside the database.

Reading and COPY show a tqdm bar; validating and upserting happen in one SQL
call that reports nothing until it returns, so on a terminal a line ticks with
the elapsed time while it runs, and every phase ends with its rows, time and
rate: on a terminal always, elsewhere when it took more than LONG seconds
(logs of long loads then say where the time went).
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager

LONG = 10.0


@contextmanager
def phase(label: str, rows: int, tick: bool, out=None):
    """Runs the block as one phase of `rows` rows; `tick`: show the elapsed time while it runs."""
    out = out or sys.stderr
    t0 = time.perf_counter()
    done = threading.Event()

    def ticker():
        while not done.wait(1.0):
            print(f"\r{label}: {rows:,} rows, {time.perf_counter() - t0:.0f} s …", end="", file=out, flush=True)

    thread = threading.Thread(target=ticker, daemon=True) if tick else None
    if thread:
        thread.start()
    try:
        yield
    finally:
        done.set()
        if thread:
            thread.join()
            print("\r\033[K", end="", file=out)
    elapsed = time.perf_counter() - t0
    if tick or elapsed > LONG:
        print(f"{label}: {rows:,} rows in {elapsed:.1f} s ({rows / max(elapsed, 1e-9):,.0f} rows/s)", file=out)
