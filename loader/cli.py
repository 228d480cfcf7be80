"""The `xmmdb` command: set up a database, load files, simulate the sample sky.

    xmmdb init [--sample DIR]         create or upgrade the database and extension, load the sample
    xmmdb status                      what is loaded, and the versions
    xmmdb dsn [--save]                the connection string every command uses, and where it came from
    xmmdb load KIND FILE…             load files: catalogue, responses, products, events (see xmmdb load KIND --help)
    xmmdb simulate --out DIR          write a simulated sky in the 4XMM / pipeline formats

The database: --dsn, else $XMMDB_DSN, else the private cluster of the checkout
you are in, else the one `make run` saved in ~/.config/xmmdb/dsn.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

from .database import NoUpgradePath, WouldDropData
from .dsn import NoDatabase, save_dsn, which_dsn
from .roles import RoleError
from .staging import LoadError

# `xmmdb load KIND FILE…`: each kind is a function (conn, paths, progress) in a loader module,
# in the order kinds are loaded (a kind links to what the kinds before it loaded).
LOADERS = {
    "catalogue": ("xmmdb_loader.catalogue", "load_catalogue", "4XMM catalogue and observation-list files"),
    "classes": ("xmmdb_loader.classes", "load_classes", "catalogues of known objects (NAME, RA, DEC, CLASS)"),
    "responses": ("xmmdb_loader.products", "load_responses", "canned RMFs and other ARF/RMF files (or a directory)"),
    "products": ("xmmdb_loader.products", "load_products", "EPIC spectra (pipeline SRSPEC/BGSPEC/SRCARF, OGIP PHA)"),
    "events": ("xmmdb_loader.events", "load_events", "EPIC pn/MOS event lists and orbit files"),
    "expmaps": ("xmmdb_loader.expmaps", "load_expmaps", "EPIC exposure maps (pipeline EXPMAP, SAS eexpmap images)"),
    "table": ("xmmdb_loader.tables", "load_table", "any catalogue (FITS, CSV, VOTable) as a user table usr.NAME"),
}

# What `xmmdb load KIND --help` says of each kind's files.
LOAD_HELP = {
    "catalogue": """\
Load 4XMM catalogue files: the catalogue (one row per detection, with DETID,
SRCID, the source's SC_* columns and the observation's OBS_ID), e.g.
4XMM_DR14cat_v1.0.fits, and the observation list (OBS_ID, RA_PNT, DEC_PNT,
MJD_START, MJD_STOP …), e.g. 4xmmdr14_obslist.fits. FITS binary tables, CSV or
VOTable, with the official column names. Load these first: spectra link to
their detections, and photons to their observations.

All files of one call are one transaction: every file is in, or none is.
Loading a file again changes nothing; a changed row is updated.""",
    "classes": """\
Load catalogues of known objects: a table (FITS, CSV or VOTable) with NAME,
RA, DEC (deg, ICRS) and CLASS (e.g. pulsar, ulx, cluster, agn), optionally
RADIUS (arcsec, the match radius of each object; default 10) and CATALOGUE
(default: the file's name). Every catalogue source within an object's radius
takes its class; the search language then selects by it (class = 'pulsar'),
and SQL joins xmm.source_class. Load the catalogue first. Loading a file again
replaces that catalogue's matches, and changes nothing if the file did not.""",
    "responses": """\
Load response files into the response store: the canned pn/MOS RMFs that
pipeline spectra name in RESPFILE (e.g. epn_e3_ff20_sdY9_v20.0.rmf, which the
pipeline does not ship), and any other RMF or ARF. Give files or directories.
Each content is stored once and found by every name it was loaded as. Load the
canned RMFs before the pipeline spectra that name them.""",
    "products": """\
Load EPIC spectra (OGIP PHA type I): pipeline products
P<obsid><inst><S|U><exp>SRSPEC<src>.FTZ with their BGSPEC and SRCARF, or any
SAS spectrum. The background, ARF and RMF a spectrum names (BACKFILE,
ANCRFILE, RESPFILE) are read from beside it (a bare file name only), or, for
an RMF, taken from the response store when it is a canned RMF loaded with
`xmmdb load responses`. --rmf, --arf and --bkg name them instead of the
header: for RESPFILE = NONE, absolute paths from another machine, or files
kept elsewhere (--arf NONE: no ARF, e.g. with an RSP matrix).
A response is linked by its content, never by a bare name that another
observation's file may share.

A spectrum links to its catalogue detection (obs_id and source number, else
the nearest detection of its observation within 15"), so load the catalogue
first. A spectrum that links to none (a target's own SAS spectrum, an
observation not in the catalogue) is stored all the same, with a warning, and
is fitted by its id: SELECT * FROM xmm_fit_spectrum(spectrum_id, 'phabs_pl').""",
    "events": """\
Load EPIC pn/MOS event lists (pipeline P<obsid><inst><S|U><exp>PIEVLI/MIEVLI
files or SAS-filtered lists, with their GTI extensions) and orbit files
(P<obsid>OBX000ORBTSR0000.FTZ, used for barycentring) into the photon table.
Event times stay TT seconds since MJDREF 50814; every column the photon
functions use is kept losslessly. Loading a file again changes nothing.""",
    "expmaps": """\
Load EPIC exposure maps: images in seconds on a RA---TAN / DEC--TAN grid, as
the pipeline writes them (P<obsid><inst><exp>EXPMAP<band>000.FTZ, band 1-5) and
SAS eexpmap makes them. The exposure is read from OBS_ID, INSTRUME and EXPIDSTR,
the energy band from PI_MIN/PI_MAX (eV), eexpmap's pimin/pimax or the pipeline
name. xmm_exposure(ra, dec) then reads the map's pixel at any position, and
xmm_upper_limit uses it as the exposure of its aperture. A map may be loaded
with or without the exposure's event list. All files of one call are one
transaction; loading a file again changes nothing, a changed file replaces its map.""",
    "table": """\
Load any catalogue (FITS binary table, CSV or VOTable) as a table of its own,
usr.NAME (NAME: --name, else the file's name), with a Q3C index on its
position, so that SQL, ADQL (TAP) and the search language join it to the
catalogue through the index:
  SELECT s.iauname, a.* FROM usr.atlas a JOIN source s ON q3c_join(a.ra, a.dec, s.sc_ra, s.sc_dec, 5/3600.);
  SELECT * FROM xmm_search('matched(atlas, 5arcsec) AND sc_det_ml > 10');
Column names become lower-case; units, UCDs and descriptions go to TAP_SCHEMA.
The position is --ra/--dec, else the columns whose UCD is pos.eq.ra/pos.eq.dec,
else RA/DEC, RAJ2000/DEJ2000, RA_ICRS/DE_ICRS...; in degrees. All files of one
call are one transaction; loading a file again changes nothing; another file
under an existing name is refused unless --replace.""",
}


def dsn_of(args) -> str:
    return which_dsn(explicit=getattr(args, "dsn", None))[0]


def connect(args) -> psycopg.Connection:
    return psycopg.connect(dsn_of(args))


def cmd_dsn(args) -> None:
    from .roles import login_dsn, role_login

    dsn, source = which_dsn(explicit=args.dsn)
    if args.save:
        print(f"saved to {save_dsn(dsn)}", file=sys.stderr)
    user = args.user or (role_login(args.role) if args.role else None)
    print(login_dsn(dsn, user) if user else dsn)
    print(f"(from {source}" + (f", as {user}" if user else "") + ")", file=sys.stderr)


def cmd_user(args) -> None:
    from . import roles

    with connect(args) as conn:
        if args.action == "add":
            roles.ensure_login(conn, args.name, args.role, args.connections)
            conn.commit()
            print(roles.login_dsn(dsn_of(args), args.name))
            print(f"({args.name}: {args.role}; password in {roles.pgpass_file()})", file=sys.stderr)
        elif args.action == "remove":
            roles.remove_login(conn, args.name)
            conn.commit()
            print(f"{args.name} removed", file=sys.stderr)
        else:
            for name, role, limit, settings in roles.logins(conn):
                print(f"{name:<20} {role:<7} {limit:>3} connections  {settings}")


def cmd_status(args) -> None:
    import xmmdb

    with connect(args) as conn:
        print(status_text(conn, xmmdb.__version__))


def status_text(conn: psycopg.Connection, package_version: str) -> str:
    """What is loaded, how large it is, and the versions of the database's extension and this package."""
    ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'xmmdb'").fetchone()
    lines = [f"database   {conn.info.dbname} on {conn.info.host}:{conn.info.port} as {conn.info.user}",
             f"versions   extension {ext[0] if ext else 'not installed'}, Python package {package_version}"
             + ("" if not ext or ext[0] == package_version else "  (differ: run `xmmdb init`)")]
    if not ext:
        return "\n".join(lines)
    counts = conn.execute("""
        SELECT (SELECT count(*) FROM xmm.observation), (SELECT count(*) FROM xmm.source),
               (SELECT count(*) FROM xmm.detection),
               (SELECT count(*) FROM xmm.spectrum WHERE kind = 'source'), (SELECT count(*) FROM xmm.response),
               (SELECT count(*) FROM xmm.exposure), (SELECT coalesce(sum(n_photons), 0) FROM xmm.exposure),
               (SELECT count(*) FROM xmm.load_log), pg_database_size(current_database())""").fetchone()
    labels = ("observations", "sources", "detections", "spectra", "responses", "exposures", "photons",
              "files loaded")
    lines += [f"{label:<12} {n:>14,}" for label, n in zip(labels, counts)]
    lines.append(f"{'size':<12} {counts[-1] / 2**20:>14,.1f} MiB")
    return "\n".join(lines)


def cmd_init(args) -> None:
    from . import database
    from .catalogue import sha256

    dsn = dsn_of(args)
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
    with psycopg.connect(dsn, autocommit=True) as conn:      # the HiPS of the photons (the sample's, an upgrade's)
        build_hips(conn, "init")


def build_hips(conn: psycopg.Connection, who: str) -> None:
    """Rebuilds the HiPS tiles of the sky that photon loads marked (xmm_hips_build), after the load
    committed: a build that fails leaves the photons loaded and the cells marked for the next one."""
    if conn.execute("SELECT EXISTS (SELECT FROM xmm.hips_dirty)").fetchone()[0]:
        try:
            built = conn.execute("SELECT xmm_hips_build()").fetchone()[0]
        except psycopg.Error as exc:
            print(f"{who}: the HiPS of the photons was not rebuilt ({exc.diag.message_primary}); "
                  "SELECT xmm_hips_build() rebuilds it", file=sys.stderr)
            return
        print(f"{who}: HiPS of the photons built: {sum(built['tiles'].values())} tiles in {built['seconds']} s",
              file=sys.stderr)


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
    with connect(args) as conn:
        named = {k: getattr(args, k) for k in ("rmf", "arf", "bkg", "name", "ra", "dec", "replace", "description")
                 if getattr(args, k, None) not in (None, False)}
        totals = getattr(importlib.import_module(module), func)(conn, [Path(p) for p in args.files],
                                                               progress=sys.stderr.isatty(), **named)
    print(f"loaded {len(args.files)} file(s) in {time.perf_counter() - t0:.1f} s: " + "; ".join(
        f"{t}: {s['inserted']} new, {s['updated']} updated, {s['unchanged']} unchanged"
        for t, s in totals.items()), file=sys.stderr)
    if args.kind == "events":
        with connect(args) as conn:
            conn.autocommit = True
            build_hips(conn, "load")


def cmd_simulate(args) -> None:
    from .simulate import write_sample

    write_sample(Path(args.out), seed=args.seed, n_sources=args.sources)


def parser() -> argparse.ArgumentParser:
    import xmmdb

    p = argparse.ArgumentParser(prog="xmmdb", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"xmmdb {xmmdb.__version__}")
    p.add_argument("--dsn", help="libpq connection string of the database (default: $XMMDB_DSN, the checkout's "
                                 "cluster, ~/.config/xmmdb/dsn)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("init", help="create or upgrade the database and its extension")
    s.add_argument("--sample", help="load the sample sky from this folder where it is not loaded yet")
    s.add_argument("--reload", action="store_true", help="load the sample again even if it is loaded")
    s.add_argument("--rebuild", action="store_true",
                   help="re-create an outdated extension even if that drops data loaded from other files")
    s.set_defaults(func=cmd_init)
    s = sub.add_parser("dsn", help="print the connection string (and, on stderr, where it came from)")
    s.add_argument("--save", action="store_true", help="save it as this user's default (~/.config/xmmdb/dsn)")
    who = s.add_mutually_exclusive_group()
    who.add_argument("--role", choices=("reader", "loader"), help="as the archive's own login of that role")
    who.add_argument("--user", help="as this login (made by xmmdb user add)")
    s.set_defaults(func=cmd_dsn)
    s = sub.add_parser("user", help="login roles: add, list, remove (readers for JDBC/TOPCAT users, loaders)",
                       description="Readers and loaders log in with roles of their own (docs/security.md). "
                                   "`add` makes one with a generated password, kept in ~/.config/xmmdb/pgpass, "
                                   "and prints its connection string.")
    s.add_argument("action", choices=("add", "list", "remove"))
    s.add_argument("name", nargs="?", help="login name (add, remove)")
    s.add_argument("--role", choices=("reader", "loader"), default="reader")
    s.add_argument("--connections", type=int, help="connection limit (default: 8 for readers, 4 for loaders)")
    s.set_defaults(func=cmd_user)
    sub.add_parser("status", help="what is loaded, and the versions").set_defaults(func=cmd_status)
    s = sub.add_parser("load", help="load files into the database; xmmdb load KIND --help explains each kind",
                       description="Load files of one kind, in this order: " + ", ".join(LOADERS) + ".")
    kinds = s.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind, (_, _, summary) in LOADERS.items():
        k = kinds.add_parser(kind, help=summary, description=LOAD_HELP[kind],
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        k.add_argument("files", nargs="+", metavar="FILE")
        if kind == "products":
            for flag, what in (("--rmf", "RMF (or RSP)"), ("--arf", "ARF"), ("--bkg", "background spectrum")):
                k.add_argument(flag, metavar="FILE", help=f"the spectrum's {what}, whatever its header names "
                               "(NONE: it has none); for one source spectrum at a time")
        if kind == "table":
            k.add_argument("--name", help="the table's name in schema usr (default: the file's name)")
            k.add_argument("--ra", metavar="COLUMN", help="the right ascension column (deg)")
            k.add_argument("--dec", metavar="COLUMN", help="the declination column (deg)")
            k.add_argument("--description", help="what the table is (TAP_SCHEMA's description)")
            k.add_argument("--replace", action="store_true", help="replace a table of that name loaded from "
                           "another file")
        k.set_defaults(func=cmd_load)
    s = sub.add_parser("simulate", help="write a simulated sky in the 4XMM and pipeline formats")
    s.add_argument("--out", required=True, help="folder to write (the bundled sample is data/sample: make sample)")
    s.add_argument("--seed", type=int, default=20141123)
    s.add_argument("--sources", type=int, default=None, help="number of sources (default: the bundled sample's fields)")
    s.set_defaults(func=cmd_simulate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "action", None) in ("add", "remove") and not args.name:
        parser().error(f"xmmdb user {args.action} needs a login name")
    try:
        args.func(args)
    except (LoadError, NoDatabase, WouldDropData, NoUpgradePath, RoleError) as exc:
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
