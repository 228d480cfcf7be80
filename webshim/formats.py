"""Writing query results as VOTable (TABLEDATA), CSV, FITS binary tables and JSON.

Result columns carry the UCD, unit and description that TAP_SCHEMA gives the
column they come from (filled in SQL by xmm.tap_schema_refresh), so a cone
search or an export is described by the catalogue's own metadata.
"""

from __future__ import annotations

import csv
import io
import math
import threading
import time
from dataclasses import dataclass
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
}
NUMERIC = {"short", "int", "long", "float", "double"}


@dataclass
class Field:
    name: str
    datatype: str = "char"
    arraysize: str | None = "*"
    xtype: str | None = None
    ucd: str | None = None
    unit: str | None = None
    description: str | None = None


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
                rows = self.db.dicts("SELECT c.table_name, c.column_name, c.ucd, c.unit, c.description,"
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

    def fields(self, cursor) -> list[Field]:
        """Fields of a psycopg cursor's result, described from TAP_SCHEMA."""
        self.refresh()
        out = []
        res = cursor.pgresult
        for i, d in enumerate(cursor.description):
            datatype, arraysize, xtype = PG_TYPES.get(d.type_code, ("char", "*", None))
            meta = None
            table = self.tables.get(res.ftable(i)) if res is not None else None
            if table:
                meta = self.by_table.get((table, d.name))
            if meta is None:
                meta = self.by_name.get(d.name)
            f = Field(d.name, datatype, arraysize, xtype)
            if meta:
                f.ucd, f.unit, f.description = meta["ucd"], meta["unit"], meta["description"]
            out.append(f)
        return out


def _td(value, field: Field) -> str:
    if value is None:
        return "<TD/>"
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
    desc = f"<DESCRIPTION>{escape(f.description)}</DESCRIPTION>" if f.description else ""
    return f"<FIELD {attrs}>{desc}</FIELD>"


def votable(fields: list[Field], rows, *, name: str = "result", description: str | None = None,
            overflow_at: int | None = None, infos: dict | None = None, params: list[str] | None = None):
    """A VOTable 1.3 document as an iterator of strings (streamed). With
    overflow_at, the result was cut there: DALI's QUERY_STATUS=OVERFLOW follows the table."""
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
    yield "</RESOURCE>\n</VOTABLE>\n"


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
        values = [r[i] for r in rows]
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
