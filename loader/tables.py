"""`xmmdb load table FILE…`: any catalogue (FITS, CSV, VOTable) as a user table
usr.<name> beside the archive's own, with a Q3C index on its position and its
file's units, UCDs and descriptions in TAP_SCHEMA (sql/16_user_tables.sql).

Column names become lower-case SQL names (letters, digits, _); scalar columns
keep their type (integers, reals, booleans, text); a column of vectors per row
is not loaded, and the load says so. The position is --ra/--dec, else the
columns whose UCD says pos.eq.ra/pos.eq.dec, else the usual names (RA, DEC,
RAJ2000, RA_ICRS, ...); it must be in degrees. A table without a position loads
too, without the index. All files of one call are one transaction; loading a
file again changes nothing; another file under an existing name is refused
unless --replace.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

from .catalogue import sha256
from .staging import LoadError, read_table

RA_NAMES = ("ra", "raj2000", "ra_icrs", "ra_deg", "radeg", "ra_j2000", "alpha_j2000", "ra2000", "_raj2000")
DEC_NAMES = ("dec", "dej2000", "decj2000", "de_icrs", "dec_icrs", "dec_deg", "decdeg", "dec_j2000",
             "delta_j2000", "de2000", "dec2000", "_dej2000")
MAX_COLUMNS = 1000
BATCH = 5000


def table_name(text: str) -> str:
    """A file's stem or a --name as a table name: lower-case letters, digits and _."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = "t_" + name
    return name[:63].rstrip("_")


def column_names(names: list[str]) -> list[str]:
    """File column names as distinct SQL names (RA_CORR -> ra_corr, 'Flux (0.5-2)' -> flux_0_5_2)."""
    out: list[str] = []
    for n in names:
        base = re.sub(r"[^a-z0-9_]+", "_", n.lower()).strip("_") or "col"
        if base[0].isdigit():
            base = "_" + base
        base, candidate, k = base[:60], base[:63], 1
        while candidate in out:
            k += 1
            candidate = f"{base}_{k}"
        out.append(candidate)
    return out


def sql_type(values: np.ndarray) -> str | None:
    """The column type of a numpy column; None for what a scalar column cannot hold."""
    kind, size = values.dtype.kind, values.dtype.itemsize
    if values.ndim > 1:
        return None
    if kind == "b":
        return "boolean"
    if kind == "i":
        return "smallint" if size <= 2 else "integer" if size <= 4 else "bigint"
    if kind == "u":
        return "smallint" if size == 1 else "integer" if size == 2 else "bigint"
    if kind == "f":
        return "real" if size <= 4 else "double precision"
    if kind in "US":
        return "text"
    return None


def _meta(col) -> tuple[str | None, str | None, str | None]:
    unit = str(col.unit) if col.unit is not None else None
    ucd = (col.meta or {}).get("ucd")
    description = col.description or None
    return unit, ucd, description


def _position(names: dict[str, str], ucds: dict[str, str | None], ra: str | None, dec: str | None, path: Path):
    """(ra column, dec column) as SQL names, or (None, None)."""
    if (ra is None) != (dec is None):
        raise LoadError(f"{path.name}: --ra and --dec go together; nothing was written")
    if ra is not None:
        found = []
        for given in (ra, dec):
            match = next((s for f, s in names.items() if f.lower() == given.lower() or s == given.lower()), None)
            if match is None:
                raise LoadError(f"{path.name}: no column {given} (the columns are {', '.join(names)}); "
                                "nothing was written")
            found.append(match)
        return tuple(found)
    by_ucd = [next((s for s, u in ucds.items() if u and u.lower().startswith(w) and "meta.main" in u.lower()), None)
              or next((s for s, u in ucds.items() if u and u.lower().split(";")[0] == w), None)
              for w in ("pos.eq.ra", "pos.eq.dec")]
    if all(by_ucd):
        return tuple(by_ucd)
    sql_names = set(names.values())
    guess = (next((n for n in RA_NAMES if n in sql_names), None), next((n for n in DEC_NAMES if n in sql_names), None))
    return guess if all(guess) else (None, None)


def _read(path: Path, name: str | None, ra: str | None, dec: str | None):
    tf = read_table(path)
    file_names = list(tf.columns)
    original = {c: tf.columns[c].info.name for c in file_names}
    sql_names = column_names([original[c] for c in file_names])
    if len(sql_names) > MAX_COLUMNS:
        raise LoadError(f"{path.name}: {len(sql_names)} columns; a user table has at most {MAX_COLUMNS}; "
                        "nothing was written")
    columns, skipped, data = [], [], {}
    for c, s in zip(file_names, sql_names):
        col = tf.columns[c]
        values = np.ma.getdata(col)
        typ = sql_type(values)
        if typ is None:
            skipped.append(f"{original[c]} ({'a vector per row' if values.ndim > 1 else values.dtype})")
            continue
        unit, ucd, description = _meta(col)
        columns.append({"name": s, "type": typ, "unit": unit, "ucd": ucd, "description": description,
                        "file": original[c]})
        data[s] = col
    names = {col["file"]: col["name"] for col in columns}
    ra_col, dec_col = _position(names, {col["name"]: col["ucd"] for col in columns}, ra, dec, path)
    for pos, want in ((ra_col, "ra"), (dec_col, "dec")):
        if pos is None:
            continue
        spec = next(col for col in columns if col["name"] == pos)
        if spec["type"] not in ("real", "double precision"):
            raise LoadError(f"{path.name}: column {spec['file']} is the {want.upper()} but holds {spec['type']}, "
                            "not degrees as numbers (sexagesimal text is not read); nothing was written")
        if spec["unit"] not in (None, "deg", "degree", "degrees"):
            raise LoadError(f"{path.name}: column {spec['file']} is the {want.upper()} but its unit is "
                            f"'{spec['unit']}', not deg; nothing was written")
        values = np.ma.filled(np.ma.asarray(data[pos], dtype=float), np.nan)
        bad = ~np.isfinite(values) | ((values < 0) | (values >= 360) if want == "ra" else np.abs(values) > 90)
        if bad.any():
            row = int(np.argmax(bad))
            raise LoadError(f"{path.name}: column {spec['file']} value {values[row]} in row {row + 1} is not a "
                            f"{'right ascension (0..360 deg)' if want == 'ra' else 'declination (-90..90 deg)'}; "
                            "nothing was written")
    return tf, table_name(name or path.name.split(".")[0]), columns, skipped, data, ra_col, dec_col


def _python_values(col, typ: str) -> list:
    """A file column as Python values for COPY: masked values and NaN are NULL, text stripped."""
    mask = np.ma.getmaskarray(col)
    values = np.ma.getdata(col)
    if typ == "text":
        out = [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in values.tolist()]
        out = [v.rstrip() for v in out]
    elif typ in ("real", "double precision"):
        out = values.astype(float).tolist()
        out = [None if not math.isfinite(v) else v for v in out]
    elif typ == "boolean":
        out = values.astype(bool).tolist()
    else:
        if values.dtype.kind == "u" and values.dtype.itemsize == 8 and (values > np.iinfo(np.int64).max).any():
            raise LoadError(f"column {col.info.name}: a value above {np.iinfo(np.int64).max}")
        out = values.astype(np.int64).tolist()
    return [None if m else v for v, m in zip(out, mask.tolist())]


def load_table(conn: psycopg.Connection, paths: list[Path], progress: bool = True, out=None, name: str | None = None,
               ra: str | None = None, dec: str | None = None, replace: bool = False,
               description: str | None = None) -> dict:
    """Loads each file as usr.<name>; returns {"usr.<name>": {inserted, updated, unchanged}, ...}."""
    out = out or sys.stderr
    if name and len(paths) > 1:
        raise LoadError("--name names one table: give one file with it")
    totals: dict[str, dict] = {}
    try:
        with conn.transaction():
            for path in map(Path, paths):
                tf, tname, columns, skipped, data, ra_col, dec_col = _read(path, name, ra, dec)
                digest = sha256(path)
                old = conn.execute("SELECT sha256, ra_column, dec_column FROM xmm.user_table WHERE table_name = %s",
                                   (tname,)).fetchone()
                if old == (digest, ra_col, dec_col):
                    totals[f"usr.{tname}"] = {"inserted": 0, "updated": 0, "unchanged": tf.n_rows}
                    print(f"{path.name}: usr.{tname} holds this file already; nothing changed", file=out)
                    continue
                if old is not None:
                    if not replace:
                        raise LoadError(f"{path.name}: table usr.{tname} exists (from another file or with another "
                                        "position); --replace replaces it, --name loads this one under another "
                                        "name; nothing was written")
                    conn.execute("SELECT xmm.user_table_drop(%s)", (tname,))
                spec = [{k: v for k, v in c.items() if k != "file"} for c in columns]
                text = description or f"{path.name} ({tf.n_rows} rows), loaded with xmmdb load table"
                conn.execute("SELECT xmm.user_table_create(%s, %s, %s, %s, %s, %s, %s)",
                             (tname, psycopg.types.json.Jsonb(spec), ra_col, dec_col, text, str(path.resolve()),
                              digest))
                names = [c["name"] for c in columns]
                values = [_python_values(data[c["name"]], c["type"]) for c in columns]
                query = sql.SQL("COPY usr.{} ({}) FROM STDIN").format(
                    sql.Identifier(tname), sql.SQL(", ").join(map(sql.Identifier, names)))
                with conn.cursor().copy(query) as copy:
                    for row in zip(*values):
                        copy.write_row(row)
                n = conn.execute("SELECT xmm.user_table_finish(%s)", (tname,)).fetchone()[0]
                totals[f"usr.{tname}"] = {"inserted": n, "updated": 0, "unchanged": 0}
                where = f"position {ra_col}, {dec_col} (Q3C index)" if ra_col else "no position (no index)"
                print(f"{path.name}: usr.{tname}, {n} rows, {len(columns)} columns, {where}"
                      + (f"; not loaded: {', '.join(skipped)}" if skipped else ""), file=out)
    except psycopg.Error as exc:
        where = getattr(exc.diag, "context", None) or ""
        line = re.search(r"line (\d+)", where)
        at = f" in row {line.group(1)}" if line else ""
        raise LoadError(f"{', '.join(Path(p).name for p in paths)}: the database refused the table{at} "
                        f"({exc.diag.message_primary}); nothing was written") from None
    return totals
