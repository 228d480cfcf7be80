"""`xmmdb load responses DIR|FILE…` and `xmmdb load products FILE…`: EPIC spectra and responses.

    responses  canned RMFs (and any ARF/RMF) into the response store, each content once
    products   pipeline spectral products P<obsid><inst><S|U><exp>{SRSPEC,BGSPEC,SRCARF}<src>.FTZ and plain
               OGIP PHA type I spectra; the files a spectrum names (BACKFILE, ANCRFILE, RESPFILE) are
               read from beside it when present. A canned RMF must already be in the response store.

The loader only reads files; the database validates, upserts and links
(sql/40_spectral_products.sql), all in one transaction per call.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from tqdm import tqdm

from xmmdb.errors import XmmError
from . import ogip

from .catalogue import sha256
from .staging import LoadError

RESPONSE_SUFFIXES = (".rmf", ".arf", ".rsp", ".fits", ".fit", ".fits.gz", ".ftz", ".rmf.gz", ".arf.gz")


def _files(paths) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and f.name.lower().endswith(RESPONSE_SUFFIXES))
        else:
            out.append(p)
    return out


def _kind_of(path: Path) -> str:
    """'pha', 'arf' or 'rmf', from the pipeline name or the file's extensions."""
    parsed = ogip.pipeline_name(path.name)
    if parsed:
        return "arf" if parsed["type"] == "SRCARF" else "pha"
    from astropy.io import fits

    if not path.is_file():
        raise LoadError(f"{path.name}: no such file ({path.parent})")
    try:
        with fits.open(path, memmap=False) as hdul:
            names = {h.name.upper() for h in hdul}
    except Exception as exc:
        raise LoadError(f"{path.name}: cannot read the file: {exc}") from None
    if "MATRIX" in names or "SPECRESP MATRIX" in names:
        return "rmf"
    if "SPECRESP" in names:
        return "arf"
    if "SPECTRUM" in names:
        return "pha"
    raise LoadError(f"{path.name}: not an OGIP spectrum, ARF or RMF (HDUs: {', '.join(sorted(names))})")


def _read(kind: str, path: Path):
    try:
        return {"pha": ogip.read_pha, "arf": ogip.read_arf, "rmf": ogip.read_rmf}[kind](path)
    except XmmError as exc:
        raise LoadError(exc.message) from None


def _response_row(kind: str, obj, instrument, canned: bool) -> dict:
    """canned: loaded into the response store, where spectra may find it by name (a canned RMF);
    otherwise it belongs to the spectra it was loaded with, which link to it by content."""
    bare = obj.name[:-3] if obj.name.lower().endswith(".gz") else obj.name   # RESPFILE names the uncompressed file
    row = dict(kind=kind, name=bare, names=sorted({obj.name, bare}), instrument=instrument, canned=canned,
               energ_lo=obj.energ_lo, energ_hi=obj.energ_hi)
    if kind == "arf":
        row.update(specresp=obj.specresp, sha256=ogip.checksum(obj.energ_lo, obj.energ_hi, obj.specresp))
    else:
        row.update(detchans=obj.detchans, chan_offset=obj.offset, e_min=obj.e_min, e_max=obj.e_max,
                   n_grp=obj.n_grp.astype("<i4").tobytes(), f_chan=obj.f_chan.astype("<i4").tobytes(),
                   n_chan=obj.n_chan.astype("<i4").tobytes(), matrix=obj.matrix.astype("<f4").tobytes(),
                   sha256=ogip.checksum(obj.energ_lo, obj.energ_hi, obj.n_grp, obj.f_chan, obj.n_chan,
                                        obj.matrix.astype(np.float32), obj.e_min, obj.e_max,
                                        np.array([obj.detchans, obj.offset])))
    return row


def _text(value):
    """COPY text of a value; numeric lists as array literals (much faster than psycopg's list dumper)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iub" or (value.dtype.kind == "f" and np.all(value == np.round(value))
                                         and np.all(np.abs(value) < 2**53)):
            return "{" + ",".join(map(str, value.astype(np.int64).tolist())) + "}"
        return "{" + ",".join(map(repr, value.astype(np.float64).tolist())) + "}"
    return value


def _copy(conn, table: str, rows: list[dict], progress: bool) -> None:
    if not rows:
        return
    cols = list(dict.fromkeys(k for r in rows for k in r))
    query = sql.SQL("COPY {} (row_no, {}) FROM STDIN").format(sql.SQL(table), sql.SQL(", ").join(map(sql.Identifier, cols)))
    with conn.cursor().copy(query) as copy, tqdm(total=len(rows), unit="file", desc=table, disable=not progress,
                                                 leave=False) as bar:
        for i, r in enumerate(rows, 1):
            copy.write_row([i, *(Jsonb(r[c]) if c == "header" else _text(r.get(c)) for c in cols)])
            bar.update()


def _log(conn, fmt: str, paths_rows, summary) -> None:
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO xmm.load_log (format, file, sha256, n_rows, summary) VALUES (%s, %s, %s, %s, %s)",
                        [(fmt, str(p), sha256(p), n, Jsonb(summary)) for p, n in paths_rows])


def _summary(rows) -> dict:
    return {t: {"inserted": i, "updated": u, "unchanged": n} for t, i, u, n in rows}


def _report(out, what, summary):
    print(f"{what}: " + "; ".join(f"{t} +{s['inserted']} ~{s['updated']} ={s['unchanged']}"
                                  for t, s in summary.items()), file=out)


def load_responses(conn: psycopg.Connection, paths, progress: bool = True, out=None) -> dict:
    """Loads ARFs and RMFs (files or directories of them) into the response store."""
    out = out or sys.stderr
    files = _files(paths)
    if not files:
        raise LoadError("no response files given (expected .rmf/.arf/.fits files or a directory of them)")
    rows = []
    for f in tqdm(files, unit="file", desc="read", disable=not progress, leave=False):
        kind = _kind_of(f)
        if kind == "pha":
            raise LoadError(f"{f.name}: a spectrum, not a response (load it with: xmmdb load products)")
        obj, instrument = _read(kind, f)
        rows.append(_response_row(kind, obj, instrument, canned=True))
    with conn.transaction():
        conn.execute("SELECT xmm.stage_products()")
        _copy(conn, "pg_temp.stage_response", rows, progress)
        summary = _summary(conn.execute("SELECT * FROM xmm.ingest_responses()").fetchall())
        _log(conn, "response", [(f, 1) for f in files], summary)
    _report(out, f"{len(files)} response file(s)", summary)
    return summary


def _named(flag: str, value, kind: str) -> Path | None:
    """The file given with --rmf/--arf/--bkg; None for NONE (the spectrum has none)."""
    if str(value).strip().upper() == "NONE":
        return None
    path = Path(value).resolve()
    found = _kind_of(path)
    if found != kind:
        raise LoadError(f"{path.name} (--{flag}): not {'a spectrum' if kind == 'pha' else 'an ' + kind.upper()} "
                        f"but {'a spectrum' if found == 'pha' else 'an ' + found.upper()}")
    return path


def load_products(conn: psycopg.Connection, paths, progress: bool = True, out=None,
                  rmf=None, arf=None, bkg=None) -> dict:
    """Loads spectra with their backgrounds and ARFs (and RMFs found beside them).
    rmf, arf, bkg: files (or "NONE") that stand for what the one source spectrum's header names."""
    out = out or sys.stderr
    files = [Path(p) for p in paths]
    given = [f.resolve() for f in files]
    kinds = {f: _kind_of(f) for f in given}
    override = {flag: _named(flag, value, kind) for flag, value, kind in (("rmf", rmf, "rmf"), ("arf", arf, "arf"),
                                                                          ("bkg", bkg, "pha")) if value is not None}
    for path in override.values():
        if path is not None and path not in kinds:
            kinds[path] = _kind_of(path)
    read: dict[Path, object] = {}
    queue = list(kinds)
    bar = tqdm(unit="file", desc="read", disable=not progress, leave=False)
    while queue:   # the files named by spectra join the load when they are beside them
        f = queue.pop(0)
        if f in read:
            continue
        read[f] = _read(kinds[f], f)
        bar.update()
        if kinds[f] == "pha" and not (override and f in given):
            p = read[f]
            parsed = ogip.pipeline_name(f.name)
            named = [(p.backfile, "pha"), (p.ancrfile, "arf"), (p.respfile, "rmf")]
            if parsed and parsed["type"] == "SRSPEC":   # pipeline siblings, when the header does not name them
                named += [(f.name.replace("SRSPEC", "BGSPEC"), "pha"), (f.name.replace("SRSPEC", "SRCARF"), "arf")]
            for name, kind in named:
                # only a bare file name, beside the spectrum: a header must not make the loader
                # open another directory's files (BACKFILE = /etc/passwd, ../../x)
                bare = name and Path(name).name == name and name not in (".", "..")
                sibling = f.parent / name if bare else None   # f is resolved, so is its parent
                if sibling is not None and sibling not in kinds and sibling.is_file():
                    kinds[sibling] = kind
                    queue.append(sibling)
    bar.close()

    # Which PHA is whose background, ARF, RMF.
    by_name = {(f.parent, f.name): f for f in read}
    backgrounds = set()
    responses, spectra = {}, []
    for f, obj in read.items():
        if kinds[f] in ("arf", "rmf"):
            responses[f] = _response_row(kinds[f], *obj, canned=False)
    target = None   # the one source spectrum whose files --rmf/--arf/--bkg name
    if override:
        sources = [f for f in given if kinds[f] == "pha" and read[f].kind != "background"
                   and f not in override.values()]
        if len(sources) != 1:
            raise LoadError(f"--rmf, --arf and --bkg name the files of one source spectrum; {len(sources)} given "
                            f"({', '.join(f.name for f in sources) or 'none'}); nothing was written")
        target = sources[0]
    for f, obj in read.items():
        if kinds[f] != "pha":
            continue
        parsed = ogip.pipeline_name(f.name)
        bkg = obj.backfile or (f.name.replace("SRSPEC", "BGSPEC") if parsed and parsed["type"] == "SRSPEC" else None)
        arf = obj.ancrfile or (f.name.replace("SRSPEC", "SRCARF") if parsed and parsed["type"] == "SRSPEC" else None)
        b = by_name.get((f.parent, bkg)) if bkg else None
        a = by_name.get((f.parent, arf)) if arf else None
        r = by_name.get((f.parent, obj.respfile)) if obj.respfile else None
        if f == target:
            # the command line, not the header, says which files are this spectrum's
            for flag, attr in (("bkg", "backfile"), ("arf", "ancrfile"), ("rmf", "respfile")):
                if flag in override:
                    setattr(obj, attr, None if override[flag] is None else override[flag].name)
            b = override.get("bkg", b)
            a = override.get("arf", a)
            r = override.get("rmf", r)
            bkg, arf = obj.backfile, obj.ancrfile
        if b is not None:
            backgrounds.add(b)
        spectra.append((f, obj, b, a, r, bkg, arf))
    rows = []
    for f, obj, b, a, r, bkg, arf in spectra:
        kind = "background" if (obj.kind == "background" or f in backgrounds) else "source"
        if kind == "source" and obj.backfile and b is None:
            raise LoadError(f"{f.name}: background spectrum {obj.backfile} (BACKFILE) is neither in the load nor "
                            f"beside the file; nothing was written")
        if kind == "source" and obj.ancrfile and a is None:
            raise LoadError(f"{f.name}: ARF {obj.ancrfile} (ANCRFILE) is neither in the load nor beside the file; "
                            "nothing was written")
        pha = obj.pha
        rows.append(dict(
            file=f.name, obs_id=obj.obs_id or "", kind=kind, instrument=obj.instrument, exp_id=obj.exp_id,
            src_num=obj.src_num, ra=obj.ra, dec=obj.dec, exposure=pha.exposure, backscal=pha.backscal,
            areascal=pha.areascal, channel_first=int(pha.channel[0]), detchans=obj.detchans,
            counts=pha.counts, quality=pha.quality, grouping=obj.grouping, total_counts=float(pha.counts.sum()),
            backfile=bkg if b is not None else obj.backfile, respfile=obj.respfile,
            ancrfile=arf if a is not None else obj.ancrfile, header=obj.header, sha256=obj.sha256,
            background_file=b.name if b is not None else "",
            background_obs_id=(read[b].obs_id or "") if b is not None else "",
            rmf_sha256=responses[r]["sha256"] if r is not None and r in responses else "",
            arf_sha256=responses[a]["sha256"] if a is not None and a in responses else ""))
    if not rows:
        raise LoadError("no spectra among the files given (responses load with: xmmdb load responses DIR)")
    with conn.transaction():
        conn.execute("SELECT xmm.stage_products()")
        _copy(conn, "pg_temp.stage_response", list(responses.values()), progress)
        _copy(conn, "pg_temp.stage_spectrum", rows, progress)
        summary = _summary(conn.execute("SELECT * FROM xmm.ingest_responses()").fetchall())
        summary.update(_summary(conn.execute("SELECT * FROM xmm.ingest_products()").fetchall()))
        _log(conn, "products", [(f, 1) for f in read], summary)
        unlinked = conn.execute("SELECT s.spectrum_id, s.file, s.obs_id FROM xmm.spectrum s "
                                "JOIN pg_temp.stage_spectrum t USING (obs_id, file) "
                                "WHERE s.kind = 'source' AND s.detid IS NULL ORDER BY s.spectrum_id").fetchall()
        n_source = sum(1 for r in rows if r["kind"] == "source")
    _report(out, f"{len(read)} product file(s) ({len(set(given))} given), {n_source - len(unlinked)}/{n_source} "
                 "source spectra linked to detections", summary)
    if unlinked:
        shown = ", ".join(f"{file} (spectrum_id {sid})" for sid, file, _ in unlinked[:5])
        more = f" and {len(unlinked) - 5} more" if len(unlinked) > 5 else ""
        print(f"warning: {len(unlinked)} source spectrum(s) linked to no catalogue detection (no detection of "
              f"their observation at their source number or within 15\" of their position): {shown}{more}. "
              f"They are stored; fit them by id: SELECT * FROM xmm_fit_spectrum({unlinked[0][0]}, 'phabs_pl')",
              file=out)
    return summary
