"""The `xmmdb` command: set up a database, load files, simulate the sample sky.

    xmmdb init [--sample DIR]         create/upgrade the database and extension, load the sample
    xmmdb dsn                         print the connection string every command uses
    xmmdb load catalog FILE…          4XMM catalogue / observation list (FITS, CSV, VOTable)
    xmmdb simulate --out DIR          write the sample sky in the 4XMM / pipeline formats
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

from .database import WouldDropData
from .dsn import NoDatabase, find_dsn
from .staging import LoadError

# `xmmdb load KIND FILE…`: each kind is a function (conn, paths, progress) in a loader module.
LOADERS = {
    "catalog": ("xmmdb_loader.catalog", "load_catalog", "4XMM catalogue and observation-list files"),
    "responses": ("xmmdb_loader.products", "load_responses", "canned RMFs and other ARF/RMF files (or a directory)"),
    "products": ("xmmdb_loader.products", "load_products", "EPIC spectra (pipeline SRSPEC/BGSPEC/SRCARF, OGIP PHA)"),
    "events": ("xmmdb_loader.events", "load_events", "EPIC pn/MOS event lists and orbit files"),
}


def connect() -> psycopg.Connection:
    return psycopg.connect(find_dsn())


def cmd_dsn(args) -> None:
    print(find_dsn())


def cmd_init(args) -> None:
    from . import database
    from .catalog import sha256

    dsn = find_dsn()
    if database.ensure_database(dsn):
        print("init: created database", file=sys.stderr)
    sample = {sha256(p) for files in sample_files(Path(args.sample)).values() for p in files} \
        if args.sample else set()
    with psycopg.connect(dsn, autocommit=True) as conn:
        state = database.ensure_extension(conn, database.available_build_id(conn), keep_data=not args.rebuild,
                                          expendable=frozenset(sample))
        database.configure_database(conn)
        print(f"init: extension xmmdb {state}", file=sys.stderr)
        missing = sample - database.loaded_digests(conn)
    if args.sample and (missing or args.reload):
        with psycopg.connect(dsn) as conn:
            load_sample(conn, Path(args.sample))


def sample_files(folder: Path) -> dict[str, list[Path]]:
    """The files of the bundled sample sky, by product kind, in the order of LOADERS."""
    return {kind: sorted(p for p in (folder / kind).glob("*") if p.is_file()) for kind in LOADERS
            if (folder / kind).is_dir()}


def load_sample(conn: psycopg.Connection, folder: Path) -> None:
    """The bundled sample sky: every product kind found in the folder, in the order of LOADERS."""
    import importlib

    for kind, files in sample_files(folder).items():
        module, func, _ = LOADERS[kind]
        if files:
            getattr(importlib.import_module(module), func)(conn, files, progress=False)


def cmd_load(args) -> None:
    import importlib

    module, func, _ = LOADERS[args.kind]
    t0 = time.perf_counter()
    with connect() as conn:
        totals = getattr(importlib.import_module(module), func)(conn, [Path(p) for p in args.files],
                                                               progress=sys.stderr.isatty())
    print(f"loaded {len(args.files)} file(s) in {time.perf_counter() - t0:.1f} s: " + "; ".join(
        f"{t}: {s['inserted']} new, {s['updated']} updated, {s['unchanged']} unchanged"
        for t, s in totals.items()), file=sys.stderr)


def cmd_simulate(args) -> None:
    from .simulate import write_sample

    write_sample(Path(args.out), seed=args.seed, n_sources=args.sources)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xmmdb", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("init", help="create or upgrade the database and its extension")
    s.add_argument("--sample", help="load the sample sky from this folder where it is not loaded yet")
    s.add_argument("--reload", action="store_true", help="load the sample again even if it is loaded")
    s.add_argument("--rebuild", action="store_true",
                   help="re-create an outdated extension even if that drops data loaded from other files")
    s.set_defaults(func=cmd_init)
    sub.add_parser("dsn", help="print the connection string").set_defaults(func=cmd_dsn)
    s = sub.add_parser("load", help="load files into the database (one transaction)")
    s.add_argument("kind", choices=LOADERS, help="; ".join(f"{k}: {v[2]}" for k, v in LOADERS.items()))
    s.add_argument("files", nargs="+")
    s.set_defaults(func=cmd_load)
    s = sub.add_parser("simulate", help="write the sample sky in the 4XMM and pipeline formats")
    s.add_argument("--out", default="data/sample")
    s.add_argument("--seed", type=int, default=20141123)
    s.add_argument("--sources", type=int, default=None, help="number of sources (default: the bundled sample's fields)")
    s.set_defaults(func=cmd_simulate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (LoadError, NoDatabase, WouldDropData) as exc:
        print(f"xmmdb: {exc}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        diag = exc.diag
        print(f"xmmdb: {diag.message_primary or exc}", file=sys.stderr)
        if diag.message_hint:
            print(f"hint: {diag.message_hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
