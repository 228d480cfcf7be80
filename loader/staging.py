"""Reading table files (FITS, CSV, VOTable) into a format's staging table.

The database owns the formats: `xmm.stage(format)` makes a temp table shaped
like the format's view, and its columns and types are what a file may carry.
This module only reads a file, checks each column can be represented in the
staged type, and COPYs the rows in. Every problem is reported as a LoadError
naming the file, the column and the row.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql
from tqdm import tqdm


class LoadError(Exception):
    """A file cannot be loaded; the message names the file, column and row."""


# Declared units a file must agree with where it states one (FITS TUNITn, VOTable unit).
EXPECTED_UNITS = {
    "ra": "deg", "dec": "deg", "sc_ra": "deg", "sc_dec": "deg", "ra_pnt": "deg", "dec_pnt": "deg",
    "poserr": "arcsec", "sc_poserr": "arcsec",
}

INT_RANGES = {"smallint": (-(2**15), 2**15 - 1), "integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}
CHUNK = 20000
MAX_TEXT = 500          # characters of a text value: names and comments; longer ones overflow index rows


@dataclass
class TableFile:
    path: Path
    columns: dict[str, object]  # lower-case name -> astropy column
    units: dict[str, str]
    n_rows: int


def read_table(path: Path) -> TableFile:
    """Reads the first table of a FITS, CSV or VOTable file."""
    from astropy.io import fits
    from astropy.table import Table

    name = path.name
    if not path.is_file():
        raise LoadError(f"{name}: no such file")
    suffix = "".join(path.suffixes).lower()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if any(s in suffix for s in (".fits", ".fit", ".fts", ".ftz", ".evt")):
                with fits.open(path, memmap=False) as hdul:
                    hdul.verify("exception")
                    check_complete(hdul, path)
                    hdu = next((h for h in hdul[1:] if isinstance(h, fits.BinTableHDU)), None)
                    if hdu is None:
                        raise LoadError(f"{name}: no binary table extension (HDUs: "
                                        f"{', '.join(h.name or '?' for h in hdul)})")
                    table = Table.read(hdu, character_as_bytes=False)
            elif suffix.endswith(".csv"):
                check_no_nul(path)
                table = Table.read(path, format="ascii.csv", fast_reader={"exponent_style": "e"})
            elif suffix.endswith((".vot", ".xml", ".votable")):
                check_no_nul(path)
                table = Table.read(path, format="votable")
            else:
                raise LoadError(f"{name}: unknown file type {suffix or '(no extension)'}; "
                                "expected .fits/.fits.gz/.ftz, .csv or .vot/.xml")
    except LoadError:
        raise
    except Exception as exc:  # astropy says truncated, corrupt, not FITS, ...
        raise LoadError(f"{name}: cannot read the file: {exc}") from None
    if len(table) == 0:
        raise LoadError(f"{name}: the table has no rows; nothing was written")
    columns = {c.lower(): table[c] for c in table.colnames}
    units = {c.lower(): str(table[c].unit) for c in table.colnames if table[c].unit is not None}
    return TableFile(path, columns, units, len(table))


def check_no_nul(path: Path) -> None:
    """A NUL byte in a text table: the readers would cut the value short there without a word.
    For CSV the error names the column (from the header line) and the row."""
    raw = path.read_bytes()
    at = raw.find(b"\x00")
    if at < 0:
        return
    line = raw.count(b"\n", 0, at)                 # 0-based line of the NUL
    start = raw.rfind(b"\n", 0, at) + 1
    if path.suffix.lower() == ".csv":
        header = raw[:raw.find(b"\n")].decode(errors="replace").split(",")
        field = raw[start:at].count(b",")
        column = header[field].strip().upper() if field < len(header) else f"#{field + 1}"
        raise LoadError(f"{path.name}: column {column}: a NUL character inside the text in row {line}; "
                        "nothing was written")
    raise LoadError(f"{path.name}: a NUL character on line {line + 1}; nothing was written")


def check_complete(hdul, path: Path) -> None:
    """FITS files are whole 2880-byte blocks that the HDUs' headers account for
    exactly; astropy quietly drops an extension cut off in the middle."""
    if path.suffix.lower() in (".gz", ".ftz"):
        return  # compressed: a cut stream fails when astropy decompresses it
    hdul.readall()
    size, described = path.stat().st_size, sum(h.filebytes() for h in hdul)
    if size != described:
        raise LoadError(f"{path.name}: cannot read the file: truncated or corrupt FITS "
                        f"({size} bytes, the headers describe {described})")


def staged_types(conn: psycopg.Connection, stage: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped AND attname <> 'row_no'"
        " ORDER BY attnum", (stage,)).fetchall()
    return dict(rows)


def _fail(tf: TableFile, col: str, row: int, what: str) -> LoadError:
    return LoadError(f"{tf.path.name}: column {col.upper()}: {what} in row {row + 1}; nothing was written")


def column_values(tf: TableFile, col: str, pgtype: str, start: int = 0, stop: int | None = None) -> list:
    """Rows start..stop of a file column as Python values of the staged type
    (None for blanks); errors name the row in the file."""
    data = tf.columns[col][start:stop]
    mask = np.ma.getmaskarray(data)
    values = np.ma.getdata(data)
    if values.ndim > 1:
        raise _fail(tf, col, start, f"a vector of {values.shape[1:]} values where a scalar was expected")
    unit = tf.units.get(col)
    if unit and col in EXPECTED_UNITS and unit.replace("degree", "deg") != EXPECTED_UNITS[col]:
        raise LoadError(f"{tf.path.name}: column {col.upper()}: unit is '{unit}', expected "
                        f"'{EXPECTED_UNITS[col]}'; nothing was written")
    kind = values.dtype.kind
    if pgtype in ("double precision", "real") or pgtype in INT_RANGES:
        if kind in "US":
            out = []
            for i, v in enumerate(values.tolist()):
                text = v.strip() if isinstance(v, str) else v.decode().strip()
                try:
                    out.append(None if mask[i] or text == "" else float(text))
                except ValueError:
                    raise _fail(tf, col, start + i, f"'{text}' is not a number") from None
            values, mask, kind = np.array([np.nan if v is None else v for v in out]), mask | np.array(
                [v is None for v in out]), "f"
        elif kind not in "iufb":
            raise _fail(tf, col, start, f"expected numbers ({pgtype}), found {values.dtype}")
        if pgtype in INT_RANGES:
            if kind == "f":
                bad = ~mask & (~np.isfinite(values) | (values != np.round(values)))
                if bad.any():
                    i = int(np.argmax(bad))
                    raise _fail(tf, col, start + i, f"{values[i].item()!r} is not an integer")
            lo, hi = INT_RANGES[pgtype]
            out_of_range = ~mask & ((values < lo) | (values > hi))
            if out_of_range.any():
                i = int(np.argmax(out_of_range))
                raise _fail(tf, col, start + i, f"{values[i]} is out of range for {pgtype}")
            result = values.astype(np.int64).tolist()
        else:
            result = values.astype(np.float64).tolist()
    elif pgtype == "boolean":
        if kind == "b":
            result = values.tolist()
        elif kind in "iu":
            result = (values != 0).tolist()
        elif kind in "US":
            truth = {"t": True, "true": True, "1": True, "y": True, "yes": True,
                     "f": False, "false": False, "0": False, "n": False, "no": False}
            result = []
            for i, v in enumerate(values.tolist()):
                text = (v if isinstance(v, str) else v.decode()).strip().lower()
                if text not in truth and text != "":
                    raise _fail(tf, col, start + i, f"'{text}' is not a boolean")
                result.append(truth.get(text))
        else:
            raise _fail(tf, col, start, f"expected booleans, found {values.dtype}")
    elif pgtype == "text":
        if kind in "US":
            result = []
            for i, v in enumerate(values.tolist()):
                try:
                    text = v.strip() if isinstance(v, str) else v.decode().strip()
                except UnicodeDecodeError:
                    raise _fail(tf, col, start + i, "text that is not UTF-8") from None
                if "\x00" in text:
                    raise _fail(tf, col, start + i, "a NUL character inside the text")
                if len(text) > MAX_TEXT:
                    raise _fail(tf, col, start + i, f"{len(text):,} characters of text (at most {MAX_TEXT})")
                result.append(text)
        elif kind in "iu":  # e.g. OBS_ID read from CSV as an integer: restore the leading zeros
            width = 10 if col == "obs_id" else 0
            result = [str(v).zfill(width) for v in values.tolist()]
        else:
            result = [str(v) for v in values.tolist()]
        result = [v or None for v in result]
    else:
        raise _fail(tf, col, start, f"staged type {pgtype} is not supported by the loader")
    if mask.any():
        result = [None if m else v for v, m in zip(result, mask.tolist())]
    if pgtype in ("double precision", "real"):  # NaN is FITS's blank for floats
        result = [None if v is not None and math.isnan(v) else v for v in result]
    return result


def copy_into_stage(conn: psycopg.Connection, stage: str, tf: TableFile, progress: bool = True) -> list[str]:
    """COPYs a file's columns that the format knows into the stage; returns them."""
    types = staged_types(conn, stage)
    present = [c for c in types if c in tf.columns]
    query = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.SQL(stage), sql.SQL(", ").join(map(sql.Identifier, ["row_no", *present])))
    with conn.cursor().copy(query) as copy, tqdm(total=tf.n_rows, unit="row", desc=tf.path.name,
                                                 disable=not progress, leave=False) as bar:
        for start in range(0, tf.n_rows, CHUNK):
            stop = min(start + CHUNK, tf.n_rows)
            # Converted a chunk at a time: a million-row file never becomes Python objects all at once.
            values = [column_values(tf, c, types[c], start, stop) for c in present]
            for row in zip(range(start + 1, stop + 1), *values):
                copy.write_row(row)
            bar.update(stop - start)
    return present


def database_error(tf: TableFile, exc: psycopg.Error) -> LoadError:
    """What the database refused, in the file's terms: the column, the value and its row where the
    error names them (a unique key), else the file and the constraint in plain words."""
    import re

    diag = exc.diag
    key = re.match(r"Key \((\w+)\)=\((.*)\) already exists", diag.message_detail or "")
    if isinstance(exc, psycopg.errors.UniqueViolation) and key:
        col, value = key.group(1), key.group(2)
        row = ""
        if col in tf.columns:
            found = np.flatnonzero(np.char.strip(np.asarray(tf.columns[col]).astype(str)) == value)
            row = f" in row {found[0] + 1}" if found.size else ""
        return LoadError(f"{tf.path.name}: column {col.upper()}: '{value}'{row} is already used by another "
                         f"row or another file's row ({diag.constraint_name}); nothing was written")
    what = diag.message_primary or str(exc)
    where = f" ({diag.constraint_name})" if diag.constraint_name else ""
    return LoadError(f"{tf.path.name}: the database refused the file's rows: {what}{where}; nothing was written")
