"""Writing query results as VOTable (TABLEDATA), CSV, FITS binary tables and JSON;
reading the tables a TAP client uploads (VOTable, or CSV with a header line).

Result columns carry the UCD, unit and description that TAP_SCHEMA gives the
column they come from (filled in SQL by xmm.tap_schema_refresh), so a cone
search or an export is described by the catalogue's own metadata; columns of
an uploaded table keep the ones the upload gave them.
"""

from __future__ import annotations

import csv
import io
import math
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

# PostgreSQL type oid -> (VOTable datatype, arraysize, xtype)
PG_TYPES = {
    16: ("boolean", None, None), 20: ("long", None, None), 21: ("short", None, None), 23: ("int", None, None),
    700: ("float", None, None), 701: ("double", None, None), 1700: ("double", None, None),
    25: ("char", "*", None), 1043: ("char", "*", None), 1042: ("char", "*", None), 19: ("char", "*", None),
    1114: ("char", "*", "timestamp"), 1184: ("char", "*", "timestamp"), 1082: ("char", "*", "timestamp"),
    26: ("long", None, None),
    1000: ("boolean", "*", None), 1005: ("short", "*", None), 1007: ("int", "*", None), 1016: ("long", "*", None),
    1021: ("float", "*", None), 1022: ("double", "*", None),
    # ADQL geometries in a SELECT list (xmm_adql): PostgreSQL's point, circle and polygon in degrees,
    # written as DALI's xtypes: point (ra dec), circle (ra dec radius), polygon (ra1 dec1 ra2 dec2 ...)
    600: ("double", "2", "point"), 718: ("double", "3", "circle"), 604: ("double", "*", "polygon"),
}
NUMERIC = {"short", "int", "long", "float", "double"}
GEOMETRY_XTYPES = {"point", "circle", "polygon"}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Infinity|NaN")


def dali(value, f: "Field"):
    """A geometry column's value (PostgreSQL's text: '(ra,dec)', '<(ra,dec),r>', '((ra,dec),...)')
    as DALI's list of numbers; any other value as it is."""
    if f.xtype in GEOMETRY_XTYPES and isinstance(value, str):
        return [float(x) for x in _NUMBER.findall(value)]
    return value


@dataclass
class Field:
    name: str
    datatype: str = "char"
    arraysize: str | None = "*"
    xtype: str | None = None
    ucd: str | None = None
    unit: str | None = None
    description: str | None = None
    utype: str | None = None


class Metadata:
    """UCD/unit/description of catalogue columns from TAP_SCHEMA, cached for a minute."""

    PREFERRED = ("xmm.source", "xmm.detection", "xmm.observation", "xmm.catalogue")

    def __init__(self, db):
        self.db = db
        self.by_table: dict[tuple[str, str], dict] = {}
        self.by_name: dict[str, dict] = {}
        self.tables: dict[int, str] = {}
        self.at = 0.0
        self.lock = threading.Lock()

    def refresh(self) -> None:
        if time.monotonic() - self.at < 60:
            return
        with self.lock:
            try:
                rows = self.db.dicts("SELECT c.table_name, c.column_name, c.ucd, c.unit, c.description, c.utype, c.xtype,"
                                     " to_regclass(c.table_name)::oid AS oid FROM tap_schema.columns c")
            except Exception:  # noqa: BLE001 - TAP_SCHEMA missing: fields without metadata
                rows = []
            by_table, by_name, tables = {}, {}, {}
            rank = {t: i for i, t in enumerate(self.PREFERRED)}
            for r in sorted(rows, key=lambda r: rank.get(r["table_name"], 99)):
                r["column_name"] = r["column_name"].strip('"')  # delimited ADQL names ("time") in TAP_SCHEMA
                by_table[(r["table_name"], r["column_name"])] = r
                by_name.setdefault(r["column_name"], r)
                if r["oid"]:
                    tables[r["oid"]] = r["table_name"]
            self.by_table, self.by_name, self.tables, self.at = by_table, by_name, tables, time.monotonic()

    def fields(self, cursor, uploads: dict[int, dict[str, dict]] | None = None) -> list[Field]:
        """Fields of a psycopg cursor's result, described from TAP_SCHEMA, or for a
        column of an uploaded table (`uploads`: table oid -> column -> metadata) as
        the upload described it."""
        self.refresh()
        out = []
        res = cursor.pgresult
        for i, d in enumerate(cursor.description):
            datatype, arraysize, xtype = PG_TYPES.get(d.type_code, ("char", "*", None))
            meta = None
            oid = res.ftable(i) if res is not None else 0
            table = self.tables.get(oid)
            if table:
                meta = self.by_table.get((table, d.name))
            elif uploads and oid in uploads:
                meta = uploads[oid].get(d.name, {})   # the upload's own words, never a namesake's
            if meta is None:
                meta = self.by_name.get(d.name)
            f = Field(d.name, datatype, arraysize, xtype)
            if meta:
                f.ucd, f.unit, f.description = meta.get("ucd"), meta.get("unit"), meta.get("description")
                f.utype = meta.get("utype")
                f.xtype = f.xtype or meta.get("xtype")
            out.append(f)
        return out


def _td(value, field: Field) -> str:
    if value is None:
        return "<TD/>"
    value = dali(value, field)
    if field.arraysize and field.datatype != "char":
        return "<TD>" + " ".join(_scalar(v, field.datatype) for v in value) + "</TD>"
    return "<TD>" + _scalar(value, field.datatype) + "</TD>"


def _scalar(v, datatype: str) -> str:
    if v is None:
        return "NaN" if datatype in ("float", "double") else ""
    if datatype == "boolean":
        return "T" if v else "F"
    if datatype in ("float", "double"):
        f = float(v)
        return "NaN" if math.isnan(f) else repr(f) if not math.isinf(f) else ("+Inf" if f > 0 else "-Inf")
    if datatype in ("short", "int", "long"):
        return str(int(v))
    if isinstance(v, (bytes, memoryview)):
        return escape(bytes(v).hex())
    if hasattr(v, "isoformat"):
        return timestamp(v)
    return escape(str(v))


def timestamp(v) -> str:
    """DALI timestamp: YYYY-MM-DD['T'hh:mm:ss[.SSS]] in UTC, no offset."""
    import datetime as dt

    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return v.isoformat()


def _field_xml(f: Field) -> str:
    attrs = f'name={quoteattr(f.name)} ID={quoteattr("col_" + f.name)} datatype="{f.datatype}"'
    if f.arraysize:
        attrs += f' arraysize="{f.arraysize}"'
    if f.xtype:
        attrs += f' xtype="{f.xtype}"'
    if f.ucd:
        attrs += f" ucd={quoteattr(f.ucd)}"
    if f.unit:
        attrs += f" unit={quoteattr(f.unit)}"
    if f.utype:
        attrs += f" utype={quoteattr(f.utype)}"
    desc = f"<DESCRIPTION>{escape(f.description)}</DESCRIPTION>" if f.description else ""
    return f"<FIELD {attrs}>{desc}</FIELD>"


def votable(fields: list[Field], rows, *, name: str = "result", description: str | None = None,
            overflow_at: int | None = None, infos: dict | None = None, params: list[str] | None = None,
            resources: list[str] | None = None):
    """A VOTable 1.3 document as an iterator of strings (streamed). With
    overflow_at, the result was cut there: DALI's QUERY_STATUS=OVERFLOW follows the table.
    `resources` (XML) follow the results: DataLink's service descriptors."""
    yield ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"'
           ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
           '<RESOURCE type="results">\n<INFO name="QUERY_STATUS" value="OK"/>\n')
    for k, v in (infos or {}).items():
        yield f"<INFO name={quoteattr(k)} value={quoteattr(str(v))}/>\n"
    yield f"<TABLE name={quoteattr(name)}>\n"
    if description:
        yield f"<DESCRIPTION>{escape(description)}</DESCRIPTION>\n"
    for p in params or []:
        yield p + "\n"
    for f in fields:
        yield _field_xml(f) + "\n"
    yield "<DATA><TABLEDATA>\n"
    buf = []
    for row in rows:
        buf.append("<TR>" + "".join(_td(v, f) for v, f in zip(row, fields)) + "</TR>\n")
        if len(buf) >= 500:
            yield "".join(buf)
            buf = []
    yield "".join(buf)
    yield "</TABLEDATA></DATA>\n</TABLE>\n"
    if overflow_at is not None:
        yield (f'<INFO name="QUERY_STATUS" value="OVERFLOW">truncated at {overflow_at} rows: '
               f'the result has more rows than the limit</INFO>\n')
    yield "</RESOURCE>\n" + "".join(r + "\n" for r in resources or []) + "</VOTABLE>\n"


def votable_error(message: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
            '<RESOURCE type="results">\n'
            f'<INFO name="QUERY_STATUS" value="ERROR">{escape(message)}</INFO>\n'
            '</RESOURCE>\n</VOTABLE>\n')


def csv_rows(fields: list[Field], rows, overflow_at: int | None = None):
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([f.name for f in fields])
    yield out.getvalue()
    for row in rows:
        out.seek(0)
        out.truncate()
        row = [dali(v, f) for v, f in zip(row, fields)]
        w.writerow(["" if v is None else
                    (" ".join(map(str, v)) if isinstance(v, list) else
                     bytes(v).hex() if isinstance(v, (bytes, memoryview)) else v) for v in row])
        yield out.getvalue()
    if overflow_at is not None:
        yield f"# truncated at {overflow_at} rows\n"


def fits_bytes(fields: list[Field], rows: list, overflow_at: int | None = None) -> bytes:
    """A FITS file with one binary table (BINTABLE), TUNIT from the metadata."""
    import numpy as np
    from astropy.io import fits

    cols = []
    for i, f in enumerate(fields):
        values = [dali(r[i], f) for r in rows]
        if f.arraysize and f.datatype != "char":
            values = [" ".join(map(str, v)) if v is not None else "" for v in values]
            f = Field(f.name, "char", "*", None, f.ucd, f.unit, f.description)
        if f.datatype in ("float", "double"):
            arr = np.array([np.nan if v is None else float(v) for v in values],
                           dtype="f4" if f.datatype == "float" else "f8")
            col = fits.Column(name=f.name, format="E" if f.datatype == "float" else "D", array=arr, unit=f.unit)
        elif f.datatype in ("short", "int", "long"):
            fmt, null = {"short": ("I", -32768), "int": ("J", -2147483648), "long": ("K", -9223372036854775808)}[f.datatype]
            arr = np.array([null if v is None else int(v) for v in values],
                           dtype={"I": "i2", "J": "i4", "K": "i8"}[fmt])
            col = fits.Column(name=f.name, format=fmt, array=arr, unit=f.unit, null=null)
        elif f.datatype == "boolean":
            arr = np.array([bool(v) for v in values], dtype=bool)
            col = fits.Column(name=f.name, format="L", array=arr)
        else:
            strs = ["" if v is None else (timestamp(v) if hasattr(v, "isoformat") else str(v)) for v in values]
            width = max([len(s.encode()) for s in strs] + [1])
            col = fits.Column(name=f.name, format=f"{width}A", array=np.array(strs, dtype=f"U{width}"), unit=f.unit)
        cols.append(col)
    hdu = fits.BinTableHDU.from_columns(cols, name="RESULT")
    for i, f in enumerate(fields, start=1):
        if f.ucd:
            hdu.header[f"TUCD{i}"] = f.ucd
    hdu.header["ORIGIN"] = "xmmdb"
    if overflow_at is not None:
        hdu.header["TRUNCATE"] = (True, f"truncated at {overflow_at} rows")
        hdu.header.add_comment(f"truncated at {overflow_at} rows")
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    return buf.getvalue()


def jsonable(v):
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, (bytes, memoryview)):
        return None
    if hasattr(v, "isoformat"):
        return timestamp(v)
    if hasattr(v, "__float__") and not isinstance(v, (int, float, bool)):
        return float(v)
    return v


# -- uploaded tables (TAP UPLOAD) -------------------------------------------------------------

class UploadError(Exception):
    """An uploaded table that cannot be used; the message names the upload (and the column)."""


@dataclass
class UploadColumn:
    name: str                    # its name in ADQL and PostgreSQL: lower case when a regular identifier
    pgtype: str                  # one of UPLOAD_TYPES' values, or timestamp/text
    values: list                 # Python values, None for null
    ucd: str | None = None
    unit: str | None = None
    description: str | None = None


@dataclass
class UploadTable:
    name: str
    columns: list[UploadColumn] = field(default_factory=list)
    rows: int = 0
    position: tuple[str, str] | None = None      # (ra, dec) column names: the Q3C-indexed pair


# numpy kind and item size -> the PostgreSQL type a column of that kind becomes
UPLOAD_TYPES = {("b", 1): "boolean", ("i", 1): "smallint", ("u", 1): "smallint", ("i", 2): "smallint",
                ("u", 2): "integer", ("i", 4): "integer", ("u", 4): "bigint", ("i", 8): "bigint",
                ("f", 2): "real", ("f", 4): "real", ("f", 8): "double precision"}
_INTEGERS = {"smallint", "integer", "bigint"}
_REALS = {"real", "double precision"}
_REGULAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")        # ADQL's regular identifiers (adql.lark)
_SYSTEM_COLUMNS = {"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"}
_MAX_IDENTIFIER_BYTES = 63                                # PostgreSQL would cut longer names silently


def read_upload(name: str, data: bytes, *, max_rows: int, max_columns: int) -> UploadTable:
    """An uploaded table (VOTable, or CSV with a header line) as typed columns, checked
    against the bounds; its position columns (UCD pos.eq.ra/pos.eq.dec, else ra/dec)
    become double precision. Raises UploadError saying what is wrong, and where."""
    start = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not start:
        raise UploadError(f"upload {name} is empty")
    pairs = _read_votable(name, data) if start.startswith(b"<") else _read_csv(name, data)
    if not pairs:
        raise UploadError(f"upload {name} has no columns")
    if len(pairs) > max_columns:
        raise UploadError(f"upload {name} has {len(pairs):,} columns, more than the {max_columns:,} an upload may have")
    rows = len(pairs[0][0])
    if rows > max_rows:
        raise UploadError(f"upload {name} has {rows:,} rows, more than the {max_rows:,} an upload may have: "
                          "send it in parts")
    table, seen = UploadTable(name, rows=rows), {}
    for col, vofield in pairs:
        raw = (vofield.name if vofield is not None and vofield.name else col.name) or ""
        column = _column_name(name, raw)
        if column in seen:
            raise UploadError(f"upload {name}: columns {seen[column]!r} and {raw!r} have the same name in ADQL, "
                              "where names are case-insensitive; rename one")
        seen[column] = raw
        pgtype = _column_type(name, raw, col, vofield)
        ucd = (vofield.ucd if vofield is not None else col.meta.get("ucd")) or None
        table.columns.append(UploadColumn(column, pgtype, _column_values(name, raw, col, pgtype), ucd,
                                          str(col.unit) if col.unit is not None else None,
                                          col.description or None))
    position = _position(table.columns)
    if position:
        for c in position:
            c.pgtype = "double precision"     # what q3c_ang2ipix and the index are declared for
            c.values = [None if v is None else float(v) for v in c.values]
        table.position = (position[0].name, position[1].name)
    return table


def _read_votable(name: str, data: bytes) -> list:
    # an upload holds its data: nothing is fetched on its behalf, and no entity expands
    if b"<!ENTITY" in data:
        raise UploadError(f"upload {name}: a VOTable upload may not declare XML entities")
    if re.search(rb"<STREAM\b[^>]*\bhref\s*=", data):
        raise UploadError(f"upload {name}: its data is behind a STREAM href, which this service does not fetch; "
                          "send the data inline (TABLEDATA, BINARY or BINARY2)")
    from astropy.io.votable import parse

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            document = parse(io.BytesIO(data), verify="ignore")
            tables = list(document.iter_tables())
            if len(tables) != 1:
                raise UploadError(f"upload {name} holds {len(tables)} tables: a VOTable upload holds one")
            votable = tables[0]
            table = votable.to_table(use_names_over_ids=True)
    except UploadError:
        raise
    except Exception as exc:  # noqa: BLE001 - astropy and expat raise many kinds: all mean "unreadable"
        raise UploadError(f"upload {name} is not a VOTable that can be read: {_first_line(exc)}") from None
    return list(zip(table.columns.values(), votable.fields))


def _read_csv(name: str, data: bytes) -> list:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError(f"upload {name} is neither a VOTable nor UTF-8 text (CSV): {exc}") from None
    from astropy.io import ascii

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # a list of lines, never a string, which astropy would take for a file name when it has no newline
            table = ascii.read(text.splitlines(), format="csv", guess=False)   # the first line names the columns
    except Exception as exc:  # noqa: BLE001 - astropy.io.ascii raises many kinds: all mean "unreadable"
        raise UploadError(f"upload {name} is neither a VOTable nor CSV with a header line: {_first_line(exc)}") \
            from None
    return [(col, None) for col in table.columns.values()]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _column_name(upload: str, raw: str) -> str:
    """The column's name in ADQL and PostgreSQL: a regular identifier in lower case (ADQL
    folds them), anything else as it is (written "delimited" in a query)."""
    column = raw.lower() if _REGULAR.match(raw) else raw
    if not column or "\x00" in column:
        raise UploadError(f"upload {upload} has a column without a usable name ({raw!r})")
    if len(column.encode()) > _MAX_IDENTIFIER_BYTES:
        raise UploadError(f"upload {upload}: the column name {raw[:80]!r}… is longer than "
                          f"{_MAX_IDENTIFIER_BYTES} bytes")
    if column in _SYSTEM_COLUMNS:
        raise UploadError(f"upload {upload}: the column name {raw!r} is one PostgreSQL keeps for itself; rename it")
    return column


def _column_type(upload: str, raw: str, col, vofield) -> str:
    if vofield is not None:
        described = vofield.datatype + (f"[{vofield.arraysize}]" if vofield.arraysize else "")
        if vofield.datatype in ("char", "unicodeChar"):
            if col.ndim == 1:
                return "timestamp" if vofield.xtype == "timestamp" else "text"
        elif vofield.arraysize in (None, "1") and col.ndim == 1:
            pgtype = UPLOAD_TYPES.get((col.dtype.kind, col.dtype.itemsize))
            if pgtype:
                return pgtype
    else:
        described = str(col.dtype)
        if col.ndim == 1 and col.dtype.kind in "USO":
            return "text"
        if col.ndim == 1 and (col.dtype.kind, col.dtype.itemsize) in UPLOAD_TYPES:
            return UPLOAD_TYPES[(col.dtype.kind, col.dtype.itemsize)]
    raise UploadError(f"upload {upload}: column {raw!r} is {described}, a type a TAP_UPLOAD table cannot hold "
                      "(numbers, booleans, strings and timestamps, one value per cell)")


def _column_values(upload: str, raw: str, col, pgtype: str) -> list:
    """The column's cells as Python values for COPY: masked cells and NaN are NULL."""
    import numpy as np

    data, nulls = np.ma.getdata(col), np.ma.getmaskarray(col)
    if pgtype in _REALS:
        data = data.astype("f8")
        nulls = nulls | np.isnan(data)          # VOTable's null of a floating-point column
        values = data.tolist()
    elif pgtype in _INTEGERS:
        values = data.astype("i8").tolist()
    elif pgtype == "boolean":
        values = data.astype(bool).tolist()
    else:
        values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in data.tolist()]
        for i, v in enumerate(values):
            if "\x00" in v and not nulls[i]:
                raise UploadError(f"upload {upload}: column {raw!r}, row {i + 1}, holds the NUL character, "
                                  "which a string cannot hold")
    for i in np.flatnonzero(nulls).tolist():
        values[i] = None
    return values


# UCD1 position words (Cone Search 1.03 tables carry them) in UCD1+
_UCD1_POSITION = {"pos_eq_ra_main": ("pos.eq.ra", "meta.main"), "pos_eq_dec_main": ("pos.eq.dec", "meta.main"),
                  "pos_eq_ra": ("pos.eq.ra",), "pos_eq_dec": ("pos.eq.dec",)}


def _ucd_words(ucd: str | None) -> set[str]:
    words = set()
    for word in (ucd or "").lower().split(";"):
        words.update(_UCD1_POSITION.get(word.strip(), (word.strip(),)))
    return words


def _position(columns: list[UploadColumn]) -> tuple[UploadColumn, UploadColumn] | None:
    """The table's position: the numeric columns whose UCDs say pos.eq.ra and pos.eq.dec
    (meta.main first), else the columns called ra and dec."""
    numeric = [c for c in columns if c.pgtype in _INTEGERS | _REALS]

    def by_ucd(word):
        found = [c for c in numeric if word in _ucd_words(c.ucd)]
        return ([c for c in found if "meta.main" in _ucd_words(c.ucd)] or found or [None])[0]

    ra, dec = by_ucd("pos.eq.ra"), by_ucd("pos.eq.dec")
    if ra is None or dec is None:
        named = {c.name.lower(): c for c in numeric}
        ra, dec = named.get("ra"), named.get("dec")
    return (ra, dec) if ra is not None and dec is not None and ra is not dec else None
