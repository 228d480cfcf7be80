"""Runs the benchmark sections and writes bench/results.md.

Each section is a module of this package with `run(bench)`; it measures and
calls `bench.row(...)` with the figure, its target and, where there is one,
the alternative measured in the same run and the ratio. The benchmark
database (`xmmbench` on the same server) holds the 1M-source catalogue and is
reused between runs while its seed and size are unchanged.

    make bench                              all sections
    make bench BENCH_ARGS="--only catalogue"  one section
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from xmmdb_loader.dsn import find_dsn, with_dbname

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / "work"
SECTIONS = ["catalogue", "search", "cold", "spectral", "photons", "hips", "limits", "timing", "pulsars", "web", "upload", "batch", "concurrency", "backup"]


@dataclass
class Bench:
    server_dsn: str
    sources: int
    rows: list = field(default_factory=list)

    @property
    def dsn(self) -> str:
        return with_dbname(self.server_dsn, "xmmbench")

    def connect(self, **kw) -> psycopg.Connection:
        return psycopg.connect(self.dsn, **kw)

    def row(self, section: str, metric: str, value: float, unit: str, target: str = "",
            alternative: str = "", alt_value: float | None = None, lower_is_better: bool = True,
            note: str = "") -> None:
        """One result. With an alternative measured in the same run, the ratio is
        how many times better xmmdb is (alt/value for times, value/alt for rates)."""
        ratio = ""
        if alt_value:
            ratio = f"{(alt_value / value if lower_is_better else value / alt_value):,.1f}×"
        self.rows.append((section, metric, f"{value:,.4g} {unit}", target, alternative,
                          "" if alt_value is None else f"{alt_value:,.4g} {unit}", ratio, note))
        print(f"bench: {section}: {metric} = {value:,.4g} {unit} {ratio}", file=sys.stderr)

    def write(self, path: Path) -> None:
        head = ["section", "metric", "value", "target", "alternative", "alternative value", "ratio", "note"]
        # Rows of sections not run this time are kept from the previous results, and the header says so.
        ran = {r[0] for r in self.rows}
        others = [name for name in SECTIONS if name not in ran]
        lines = ["# xmmdb benchmark results", "",
                 f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, {os.cpu_count()} cores, "
                 f"PostgreSQL private cluster; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
                 f"Catalogue: {self.sources:,} simulated sources. Ratios are xmmdb's advantage over the alternative."
                 + (f" Sections measured in this run: {', '.join(n for n in SECTIONS if n in ran)}; the rows of "
                    f"{', '.join(others)} are kept from earlier runs (git log bench/results.md)." if others else ""),
                 "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        kept = [line for line in (path.read_text().splitlines() if path.exists() else [])
                if line.startswith("| ") and not line.startswith("| section")
                and line.split(" | ")[0][2:] not in ran]
        order = {name: i for i, name in enumerate(SECTIONS)}
        rows = kept + ["| " + " | ".join(r) + " |" for r in self.rows]
        rows.sort(key=lambda line: order.get(line.split(" | ")[0][2:], len(order)))  # stable within a section
        lines += rows
        path.write_text("\n".join(lines) + "\n")


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) of a list of timings."""
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), q[94]


def timed(func, repeat: int) -> list[float]:
    """Wall-clock milliseconds of `repeat` calls."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", action="append", help="run only these sections")
    ap.add_argument("--sources", type=int, default=1_000_000)
    ap.add_argument("--out", default=str(REPO / "bench" / "results.md"))
    args = ap.parse_args()
    bench = Bench(find_dsn(REPO), args.sources)
    WORK.mkdir(parents=True, exist_ok=True)
    for name in args.only or SECTIONS:
        importlib.import_module(f"bench.{name}").run(bench)
        bench.write(Path(args.out))
    print(f"bench: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
