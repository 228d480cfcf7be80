"""Virtual Observatory interfaces: Simple Cone Search and TAP (sync and async, VOSI).

    /vo/scs?RA=&DEC=&SR=            SCS 1.03 (SR=0: metadata only)
    /tap/sync                       TAP 1.1 sync: REQUEST=doQuery&LANG=ADQL&QUERY=…[&FORMAT=votable|csv][&MAXREC=n]
                                    [&UPLOAD=name,param:part with the table as the multipart part `part`]
    /tap/async                      the same as UWS jobs, kept in the database (sql/82_uws.sql), one owner each
    /tap/tables, /tap/capabilities, /tap/availability    VOSI

ADQL is translated to SQL by xmm_adql() inside the database; TAP_SCHEMA is a
set of real tables filled by xmm.tap_schema_refresh(). The cone search is
xmm.vo_cone(). Results stop at MAXREC rows with QUERY_STATUS=OVERFLOW.

An uploaded table becomes a temporary table of the request's connection,
pg_temp.tap_upload_<name>, created in the transaction that runs the query and
dropped when it ends (ON COMMIT DROP: connections are pooled), with a Q3C index
on its position; the translator shows the session's tap_upload_* tables as
TAP_UPLOAD.<name>. A job keeps its uploads, compressed, with its parameters.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from xml.sax.saxutils import escape, quoteattr

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from flask import Response, has_request_context, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from . import formats
from .db import error_info

TAP_DEFAULT_MAXREC = 10_000
TAP_HARD_MAXREC = 100_000
# A job's entry in the workers' table (running) once claimed and before its query has a
# connection, and once aborted or deleted.
CLAIMED, ABORTED = object(), object()
SCS_MAXREC = 10_000
# TAP UPLOAD bounds (docs/limits.md), read at each request (a test may lower them). The bytes
# are those of all a request's uploads together; the request itself may be 1 MB more.
UPLOAD_MAX_TABLES = 4
UPLOAD_MAX_ROWS = 200_000
UPLOAD_MAX_COLUMNS = 500
UPLOAD_MAX_BYTES = 64 * 1024 * 1024
# Uploads read at once: astropy holds a table in several copies while it parses (a 26 MB
# VOTable of 200,000 rows took 130 MB); more requests wait their turn.
UPLOAD_READERS = threading.BoundedSemaphore(2)
UPLOAD_TABLE_PREFIX = "tap_upload_"       # what the ADQL translator shows as TAP_UPLOAD.<name>
UPLOAD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
UPLOAD_NAME_MAX = 63 - len(UPLOAD_TABLE_PREFIX)
# A job's uploaded parts are kept in its parameters under this prefix: client parameters are
# upper case (_params), so none can take its place.
JOB_UPLOAD = "xmmdb:upload:"
JOB_BASE = "xmmdb:base"           # the service's address when the job was made: its results' links
VOTABLE_MIME = "application/x-votable+xml"
FORMATS = {
    "votable": "votable", "application/x-votable+xml": "votable", "text/xml": "votable",
    "application/x-votable+xml;serialization=tabledata": "votable", "vot": "votable",
    "csv": "csv", "text/csv": "csv", "text/csv;header=present": "csv",
}
SCS_BRIEF = ["srcid", "iauname", "sc_ra", "sc_dec", "sc_poserr", "sc_ep_8_flux"]
# Cone Search 1.03 names its three required columns by their UCD1 words (what pyvo's SCSRecord.pos
# and .id, and STILTS, look for); every other column, and TAP, carries its UCD1+ from TAP_SCHEMA.
SCS_UCD1 = {"srcid": "ID_MAIN", "sc_ra": "POS_EQ_RA_MAIN", "sc_dec": "POS_EQ_DEC_MAIN"}


def _params() -> dict:
    """Request parameters with case-insensitive names (DALI), values as given; a repeated
    UPLOAD keeps every value (DALI lets a client send one per table)."""
    out = {}
    for source in (request.args, request.form):
        for k in source:
            if k.upper() == "UPLOAD" and out.get("UPLOAD"):
                out["UPLOAD"] = ";".join([out["UPLOAD"], *source.getlist(k)])
            elif k.upper() == "UPLOAD":
                out["UPLOAD"] = ";".join(source.getlist(k))
            else:
                out[k.upper()] = source.get(k)
    return out


def _tap_request(fetch_url=None) -> tuple[dict, dict[str, bytes]]:
    """The parameters and the uploaded file parts of a TAP request, within the upload bounds.
    An UPLOAD by URL that `fetch_url` can read (this service's own job results: the server has
    no network) becomes a part of the request, as if the client had sent the table."""
    request.max_content_length = UPLOAD_MAX_BYTES + 1024 * 1024
    try:
        params = _params()
        parts, total = {}, 0
        for key, storage in request.files.items(multi=True):
            data = storage.read(UPLOAD_MAX_BYTES - total + 1)
            total += len(data)
            parts[key] = data
            if total > UPLOAD_MAX_BYTES:
                break
    except RequestEntityTooLarge:
        raise TapError(f"the request has {request.content_length or 0:,} bytes: the uploads of one request may "
                       f"have {UPLOAD_MAX_BYTES:,} bytes together") from None
    if total > UPLOAD_MAX_BYTES:
        raise TapError(f"the uploads have more than {UPLOAD_MAX_BYTES:,} bytes, the most one request may send")
    if params.get("UPLOAD") and fetch_url is not None:
        entries = []
        for entry in params["UPLOAD"].split(";"):
            name, _, source = (x.strip() for x in entry.partition(","))
            data = fetch_url(source) if re.match(r"https?://", source, re.I) else None
            if data is not None:
                total += len(data)
                if total > UPLOAD_MAX_BYTES:
                    raise TapError(f"the uploads have more than {UPLOAD_MAX_BYTES:,} bytes, the most one request may send")
                part = f"url-{len(entries)}-{name}"
                parts[part] = data
                entry = f"{name},param:{part}"
            entries.append(entry)
        params["UPLOAD"] = ";".join(entries)
    if len(parts) > UPLOAD_MAX_TABLES:
        raise TapError(f"the request has {len(parts)} uploads, more than the {UPLOAD_MAX_TABLES} a request may have")
    return params, parts


def upload_specs(value: str | None) -> list[tuple[str, str]]:
    """[(name, part)] from UPLOAD=name,param:part[;name,param:part…]: the table `name` is the
    request's multipart part `part`. Names are ADQL identifiers, kept in lower case."""
    specs: list[tuple[str, str]] = []
    for entry in (value or "").split(";"):
        if not entry.strip():
            continue
        name, _, source = (x.strip() for x in entry.partition(","))
        if not UPLOAD_NAME.match(name) or len(name) > UPLOAD_NAME_MAX:
            raise TapError(f"UPLOAD: {name[:80]!r} is not a table name: an ADQL identifier (a letter, then letters, "
                           f"digits or _), at most {UPLOAD_NAME_MAX} characters")
        if source[:6].lower() == "param:" and source[6:]:
            part = source[6:]
        elif re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", source):
            raise TapError(f"UPLOAD of {name} from {source[:200]}: this service fetches no tables from other URLs "
                           f"(it has no network access) than its own jobs' results; send the table with the request: "
                           f"UPLOAD={name},param:{name} and the table as the multipart part {name}")
        else:
            raise TapError(f"UPLOAD of {name}: {source[:200]!r} is neither param:<part> nor a URL")
        if name.lower() in (n for n, _ in specs):
            raise TapError(f"UPLOAD names the table {name} twice")
        specs.append((name.lower(), part))
    if len(specs) > UPLOAD_MAX_TABLES:
        raise TapError(f"the request has {len(specs)} uploads, more than the {UPLOAD_MAX_TABLES} a request may have")
    return specs


def read_uploads(specs: list[tuple[str, str]], parts: dict[str, bytes]) -> list[formats.UploadTable]:
    tables = []
    for name, part in specs:
        if part not in parts:
            raise TapError(f"UPLOAD={name},param:{part}: the request has no file part called {part} "
                           "(send the table as a multipart/form-data part of that name)")
        with UPLOAD_READERS:
            try:
                tables.append(formats.read_upload(name, parts[part], max_rows=UPLOAD_MAX_ROWS,
                                                  max_columns=UPLOAD_MAX_COLUMNS))
            except formats.UploadError as exc:
                raise TapError(str(exc)) from None
    return tables


def load_uploads(conn, tables: list[formats.UploadTable]) -> dict[int, dict[str, dict]]:
    """Each upload as pg_temp.tap_upload_<name>, dropped when the transaction ends, with a Q3C
    index on its position and statistics; returns its columns' metadata by table oid.
    Names reach SQL only as quoted identifiers, types only from formats.UPLOAD_TYPES."""
    described = {}
    for t in tables:
        relname = UPLOAD_TABLE_PREFIX + t.name
        table = sql.SQL("pg_temp.{}").format(sql.Identifier(relname))
        try:
            conn.execute(sql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(
                table, sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pgtype))
                                          for c in t.columns)))
            with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy:
                for row in zip(*(c.values for c in t.columns)):
                    copy.write_row(row)
            if t.position:
                conn.execute(sql.SQL("CREATE INDEX ON {} (q3c_ang2ipix({}, {}))").format(
                    table, *(sql.Identifier(c) for c in t.position)))
            conn.execute(sql.SQL("ANALYZE {}").format(table))
            oid = conn.execute("SELECT oid FROM pg_catalog.pg_class WHERE relname = %s"
                               " AND relnamespace = pg_catalog.pg_my_temp_schema()", (relname,)).fetchone()[0]
        except psycopg.Error as exc:
            where = f" ({exc.diag.context.strip()})" if exc.diag.context else ""   # COPY names the line and column
            raise TapError(f"upload {t.name}: {error_info(exc)['message']}{where}") from None
        described[oid] = {c.name: {"ucd": c.ucd, "unit": c.unit, "description": c.description} for c in t.columns}
    return described


def job_parts(params: dict) -> dict[str, bytes]:
    """A job's uploaded parts, taken out of its parameters."""
    return {k[len(JOB_UPLOAD):]: zlib.decompress(base64.b64decode(params.pop(k)["data"]))
            for k in [k for k in params if k.startswith(JOB_UPLOAD)]}


def stored_parts(parts: dict[str, bytes]) -> dict:
    """Uploaded parts as job parameters: compressed, with their size (the bounds count it)."""
    return {JOB_UPLOAD + k: {"bytes": len(v), "data": base64.b64encode(zlib.compress(v, 6)).decode()}
            for k, v in parts.items()}


def _xml(text: str, status: int = 200, mime: str = "text/xml") -> Response:
    return Response(text, status=status, mimetype=mime)


def register(app, db, meta) -> None:
    with db.connect() as conn:
        active_per_owner, jobs_per_owner, executing, default_lifetime, max_lifetime, result_bytes = \
            conn.execute("SELECT * FROM xmm_uws.limits()").fetchone()

    # -- Simple Cone Search ----------------------------------------------------------

    @app.route("/vo/scs")
    def scs():
        p = _params()
        try:
            ra, dec, sr = float(p["RA"]), float(p["DEC"]), float(p["SR"])   # bounds: xmm.vo_cone
            verb = int(p.get("VERB") or 2)
        except KeyError as exc:
            return _scs_error(f"missing parameter {exc.args[0]}: the cone search needs RA, DEC and SR in degrees")
        except ValueError as exc:
            return _scs_error(f"bad parameter value: {exc}")
        with db.connect() as conn, conn.cursor() as cur:
            cols = "*"
            if verb <= 1:
                cols = ", ".join(SCS_BRIEF)
            elif verb == 2:
                meta.refresh()
                principal = [c for (t, c), m in meta.by_table.items() if t == "xmm.source"
                             and (c in SCS_BRIEF or (m.get("ucd") or "").startswith(("phot.flux", "stat.likelihood")))]
                cols = ", ".join(dict.fromkeys(SCS_BRIEF + principal)) if principal else "*"
            try:
                cur.execute(f"SELECT {cols} FROM xmm.vo_cone(%s, %s, %s) LIMIT %s", (ra, dec, sr, SCS_MAXREC + 1))
            except psycopg.errors.InvalidParameterValue as exc:
                return _scs_error(f"bad parameter value: {exc.diag.message_primary}")
            fields = meta.fields(cur)
            for f in fields:
                f.ucd = SCS_UCD1.get(f.name, f.ucd)
            rows = cur.fetchall() if sr > 0 else []      # SR=0: the metadata only
        over = SCS_MAXREC if len(rows) > SCS_MAXREC else None
        return Response(formats.votable(fields, rows[:SCS_MAXREC], name="xmmdb_scs",
                                        description="4XMM sources (xmmdb) within SR degrees of RA, DEC",
                                        overflow_at=over),
                        mimetype="text/xml")

    def _scs_error(message: str) -> Response:
        return _xml('<?xml version="1.0" encoding="UTF-8"?>\n'
                    '<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
                    f'<DESCRIPTION>{escape(message)}</DESCRIPTION>\n'
                    f'<INFO ID="Error" name="Error" value={quoteattr(message)}/>\n'
                    '<RESOURCE type="results">\n'
                    f'<INFO name="QUERY_STATUS" value="ERROR">{escape(message)}</INFO>\n'
                    '</RESOURCE>\n</VOTABLE>\n')

    # -- DataLink and the products it links to ---------------------------------------

    def datalink(kind: str | None):
        p = request.args.getlist("ID") + request.form.getlist("ID") if request.method == "POST" else \
            request.args.getlist("ID")
        if not p:
            return _xml(formats.votable_error("missing parameter ID: an identifier (ivo://xmmdb/...)"), 400,
                        VOTABLE_MIME)
        if len(p) > DATALINK_MAX_IDS:
            return _xml(formats.votable_error(f"at most {DATALINK_MAX_IDS} identifiers a request, not {len(p)}"),
                        400, VOTABLE_MIME)
        ids = [f"ivo://xmmdb/{kind}?{i}" for i in p] if kind else p
        base = absolute("")
        with db.connect() as conn, conn.transaction():
            conn.execute("SELECT set_config('xmm.service_url', %s, true)", (base,))
            rows = conn.execute("SELECT * FROM xmm.datalink(%s)", (ids,)).fetchall()
        fields = [formats.Field(n, t, a, None, u) for n, t, a, u in DATALINK_FIELDS]
        proc = ""
        if any(r[2] == "events" for r in rows):
            proc = ('<RESOURCE type="meta" utype="adhoc:service" ID="events" name="events">'
                    "<DESCRIPTION>event extraction around a source: an OGIP event file of its photons</DESCRIPTION>"
                    + _param("standardID", "char", "*", None, "ivo://ivoa.net/std/SODA#sync-1.0", "SODA sync")
                    + _param("accessURL", "char", "*", None, absolute("/soda/events"), "the service")
                    + '<GROUP name="inputParams">'
                    + "".join(_param(n, t, a, u, v, d, ref="col_ID" if n == "ID" else None)
                              for n, t, a, u, v, d in SODA_EVENTS)
                    + "</GROUP></RESOURCE>")
        return Response(formats.votable(fields, rows, name="links", resources=[proc] if proc else None),
                        mimetype=VOTABLE_MIME + ";content=datalink")

    app.add_url_rule("/datalink", "datalink", lambda: datalink(None), methods=["GET", "POST"])
    for kind in DATALINK_KINDS:
        app.add_url_rule(f"/datalink/{kind}", f"datalink_{kind}", lambda kind=kind: datalink(kind),
                         methods=["GET", "POST"])

    @app.route("/soda/events")
    def soda_events():
        p = _params()
        ident = p.get("ID", "")
        m = re.fullmatch(r"ivo://xmmdb/source\?([0-9]{1,18})", ident)
        if not m:
            return Response(f"UsageError: ID must be a source identifier ivo://xmmdb/source?<srcid>, not {ident!r}",
                            status=400, mimetype="text/plain")
        opts = {}
        try:
            if p.get("BAND"):
                lo, hi = (float(x) for x in p["BAND"].split())
                opts.update(emin=lo, emax=hi)
            radius = float(p["RADIUS"]) if p.get("RADIUS") else None
        except ValueError:
            return Response("UsageError: BAND is two numbers (eV), RADIUS one (arcsec)", status=400,
                            mimetype="text/plain")
        if p.get("OBS_ID"):
            opts["obs_id"] = p["OBS_ID"]
        if p.get("BARYCENTRE", "").lower() in ("1", "true", "t", "yes"):
            opts["barycentre"] = True
        data = db.value("SELECT xmm.xmm_extract_events(%s, %s, %s::jsonb)", (int(m.group(1)), radius, Jsonb(opts)))
        return Response(bytes(data), mimetype="application/fits", headers={
            "Content-Disposition": f'attachment; filename="xmmdb_{m.group(1)}_events.fits"'})

    @app.route("/spectrum/<int:spectrum_id>.fits")
    def spectrum_file(spectrum_id):
        data = db.value("SELECT xmm.xmm_spectrum_file(%s)", (spectrum_id,))
        return Response(bytes(data), mimetype="application/fits", headers={
            "Content-Disposition": f'attachment; filename="xmmdb_spectrum_{spectrum_id}.fits"'})

    @app.route("/response/<int:response_id>.fits")
    def response_file(response_id):
        data = db.value("SELECT xmm.xmm_response_file(%s)", (response_id,))
        return Response(bytes(data), mimetype="application/fits", headers={
            "Content-Disposition": f'attachment; filename="xmmdb_response_{response_id}.fits"'})

    # -- TAP ----------------------------------------------------------------------------

    def run_adql(p: dict, running: dict | None = None, key: str | None = None,
                 parts: dict[str, bytes] | None = None):
        """(fields, rows, overflow_at, format) or raises TapError; with `running`, the
        connection is there under `key` while the query runs (so an abort can cancel it),
        and a job aborted before its query starts does not start it.
        `parts` are the uploaded files the UPLOAD parameter names."""
        request_ = p.get("REQUEST", "doQuery")
        if request_ != "doQuery":
            raise TapError(f"REQUEST={request_} is not supported: use REQUEST=doQuery")
        lang = p.get("LANG")
        if not lang:
            raise TapError("missing parameter LANG: use LANG=ADQL")
        if lang.upper() not in ("ADQL", "ADQL-2.0", "ADQL-2.1"):
            raise TapError(f"LANG={lang} is not supported: use LANG=ADQL")
        query = p.get("QUERY")
        if not query or not query.strip():
            raise TapError("missing parameter QUERY: an ADQL query")
        fmt_name = (p.get("RESPONSEFORMAT") or p.get("FORMAT") or "votable").strip().lower().replace(" ", "")
        fmt = FORMATS.get(fmt_name)
        if fmt is None:
            raise TapError(f"FORMAT={fmt_name} is not supported: use votable or csv")
        try:
            maxrec = int(p.get("MAXREC") or TAP_DEFAULT_MAXREC)
        except ValueError:
            raise TapError("MAXREC must be a non-negative integer") from None
        if maxrec < 0:
            raise TapError("MAXREC must be a non-negative integer")
        maxrec = min(maxrec, TAP_HARD_MAXREC)
        uploads = read_uploads(upload_specs(p.get("UPLOAD")), parts or {})
        base = p.get(JOB_BASE) or (absolute("") if has_request_context() else "")

        def results(conn, sqltext, described=None):
            # links in results (ivoa.obscore's access_url) start with the service's address
            conn.execute("SELECT set_config('xmm.service_url', %s, true)", (base,))
            if running is not None and running.get(key) is ABORTED:
                raise TapError("the job was aborted")
            with conn.cursor(name="tap") as cur:
                cur.execute(sqltext)
                rows = cur.fetchmany(maxrec + 1) if maxrec else []
                return meta.fields(cur, described), rows

        try:
            with db.connect() as conn:
                if running is not None:
                    with running_lock:
                        if running.get(key) is ABORTED:
                            raise TapError("the job was aborted")
                        running[key] = conn
                if uploads:
                    with conn.transaction():        # the uploads live as long as it
                        described = load_uploads(conn, uploads)
                        sqltext = conn.execute("SELECT xmm.xmm_adql(%s)", (query,)).fetchone()[0]
                        conn.execute("SET TRANSACTION READ ONLY")   # allowed after the loads: only read-write is not
                        fields, rows = results(conn, sqltext, described)
                else:
                    sqltext = conn.execute("SELECT xmm.xmm_adql(%s)", (query,)).fetchone()[0]
                    with conn.transaction():
                        conn.execute("SET TRANSACTION READ ONLY")
                        fields, rows = results(conn, sqltext)
        except psycopg.Error as exc:
            info = error_info(exc)
            if isinstance(exc, psycopg.errors.QueryCanceled):
                info["message"] = "the query took too long and was cancelled (statement timeout)"
            raise TapError(info["message"] + (f" (hint: {info['hint']})" if info.get("hint") else "")) from None
        over = None
        if maxrec == 0 or len(rows) > maxrec:
            over = maxrec
            rows = rows[:maxrec]
        return fields, rows, over, fmt, base

    def tap_response(fields, rows, over, fmt, base) -> Response:
        if fmt == "csv":
            return Response(formats.csv_rows(fields, rows, over), mimetype="text/csv")
        return Response(formats.votable(fields, rows, overflow_at=over, resources=datalink_descriptors(fields, base)),
                        mimetype=VOTABLE_MIME)

    @app.route("/tap/sync", methods=["GET", "POST"])
    def tap_sync():
        try:
            params, parts = _tap_request(own_result)
            return tap_response(*run_adql(params, parts=parts))
        except TapError as exc:
            return _xml(formats.votable_error(str(exc)), status=400, mime=VOTABLE_MIME)

    @app.route("/tap")
    @app.route("/tap/")
    def tap_root():
        tables = []
        if db.value("SELECT to_regclass('tap_schema.tables') IS NOT NULL"):
            tables = db.dicts("SELECT t.table_name, t.table_type, t.description, count(c.column_name) AS n"
                              " FROM tap_schema.tables t LEFT JOIN tap_schema.columns c USING (table_name)"
                              " GROUP BY 1, 2, 3, t.table_index ORDER BY t.table_index")
        return render_template("tap.html", tables=tables, base=absolute("/tap"))

    @app.route("/tap/availability")
    def tap_availability():
        ok, note = True, "service is accepting queries"
        try:
            db.value("SELECT 1")
        except psycopg.Error as exc:
            ok, note = False, f"database unavailable: {error_info(exc)['message']}"
        return _xml('<?xml version="1.0" encoding="UTF-8"?>\n'
                    '<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">\n'
                    f'<vosi:available>{"true" if ok else "false"}</vosi:available>\n'
                    f'<vosi:note>{escape(note)}</vosi:note>\n</vosi:availability>\n')

    @app.route("/tap/examples")
    def tap_examples():
        """The queries users most need, as DALI examples (XHTML with RDFa): TOPCAT lists them."""
        items = "".join(
            f'<div typeof="example" id="{key}" resource="#{key}">\n<h2 property="name">{escape(name)}</h2>\n'
            f'<p>{escape(text)}</p>\n<pre class="dali-example" property="query">{escape(query)}</pre>\n'
            + "".join(f'<span property="table" style="display:none">{escape(t)}</span>' for t in tables)
            + "\n</div>\n" for key, name, text, query, tables in TAP_EXAMPLES)
        return _xml('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
                    '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>xmmdb TAP examples</title></head>\n'
                    '<body vocab="http://www.ivoa.net/rdf/examples#">\n<h1>Examples</h1>\n' + items + "</body></html>\n",
                    mime="application/xhtml+xml")

    @app.route("/tap/capabilities")
    def tap_capabilities():
        base = absolute("/tap")
        return _xml(f'''<?xml version="1.0" encoding="UTF-8"?>
<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1"
    xmlns:tr="http://www.ivoa.net/xml/TAPRegExt/v1.0">
  <capability standardID="ivo://ivoa.net/std/TAP" xsi:type="tr:TableAccess">
    <interface xsi:type="vs:ParamHTTP" role="std" version="1.1">
      <accessURL use="base">{escape(base)}</accessURL>
    </interface>
    <language>
      <name>ADQL</name>
      <version ivo-id="ivo://ivoa.net/std/ADQL#v2.0">2.0</version>
      <description>ADQL 2.0, translated to PostgreSQL with Q3C (xmm_adql)</description>
      <languageFeatures type="ivo://ivoa.net/std/TAPRegExt#features-adqlgeo">
        <feature><form>POINT</form></feature>
        <feature><form>CIRCLE</form></feature>
        <feature><form>BOX</form></feature>
        <feature><form>POLYGON</form></feature>
        <feature><form>CONTAINS</form></feature>
        <feature><form>INTERSECTS</form></feature>
        <feature><form>DISTANCE</form></feature>
      </languageFeatures>
      <languageFeatures type="ivo://ivoa.net/std/TAPRegExt#features-udf">
        {"".join(f"<feature><form>{escape(f)}</form><description>{escape(d)}</description></feature>" for f, d in TAP_UDFS)}
      </languageFeatures>
    </language>
    <outputFormat ivo-id="ivo://ivoa.net/std/TAPRegExt#output-votable-td">
      <mime>application/x-votable+xml</mime>
      <alias>votable</alias>
    </outputFormat>
    <outputFormat>
      <mime>text/csv</mime>
      <alias>csv</alias>
    </outputFormat>
    <uploadMethod ivo-id="ivo://ivoa.net/std/TAPRegExt#upload-inline"/>
    <uploadMethod ivo-id="ivo://ivoa.net/std/TAPRegExt#upload-http"/>
    <retentionPeriod><default>{int(default_lifetime.total_seconds())}</default><hard>{int(max_lifetime.total_seconds())}</hard></retentionPeriod>
    <executionDuration><default>{db.timeout_ms // 1000}</default></executionDuration>
    <outputLimit>
      <default unit="row">{TAP_DEFAULT_MAXREC}</default>
      <hard unit="row">{TAP_HARD_MAXREC}</hard>
    </outputLimit>
    <uploadLimit>
      <default unit="byte">{UPLOAD_MAX_BYTES}</default>
      <hard unit="byte">{UPLOAD_MAX_BYTES}</hard>
    </uploadLimit>
  </capability>
  <capability standardID="ivo://ivoa.net/std/DataLink#links-1.1">
    <interface xsi:type="vs:ParamHTTP" role="std" version="1.1"><accessURL use="base">{escape(absolute("/datalink"))}</accessURL></interface>
  </capability>
  <capability standardID="ivo://ivoa.net/std/DALI#examples">
    <interface xsi:type="vr:WebBrowser" xmlns:vr="http://www.ivoa.net/xml/VOResource/v1.0"><accessURL use="full">{escape(base)}/examples</accessURL></interface>
  </capability>
  <capability standardID="ivo://ivoa.net/std/VOSI#capabilities">
    <interface xsi:type="vs:ParamHTTP"><accessURL use="full">{escape(base)}/capabilities</accessURL></interface>
  </capability>
  <capability standardID="ivo://ivoa.net/std/VOSI#availability">
    <interface xsi:type="vs:ParamHTTP"><accessURL use="full">{escape(base)}/availability</accessURL></interface>
  </capability>
  <capability standardID="ivo://ivoa.net/std/VOSI#tables">
    <interface xsi:type="vs:ParamHTTP"><accessURL use="full">{escape(base)}/tables</accessURL></interface>
  </capability>
</vosi:capabilities>
''')

    @app.route("/tap/tables")
    def tap_tables():
        schemas = db.dicts("SELECT * FROM tap_schema.schemas ORDER BY schema_index, schema_name")
        tables = db.dicts("SELECT * FROM tap_schema.tables ORDER BY table_index, table_name")
        columns = db.dicts("SELECT * FROM tap_schema.columns ORDER BY table_name, column_index")
        keys = db.dicts("SELECT * FROM tap_schema.keys ORDER BY key_id")
        keycols = db.dicts("SELECT * FROM tap_schema.key_columns")  # in the order the key lists them
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n'
               '<vosi:tableset xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0"'
               ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
               ' xmlns:vod="http://www.ivoa.net/xml/VODataService/v1.1">\n']

        def opt(tag, value):
            return f"<{tag}>{escape(str(value))}</{tag}>" if value not in (None, "") else ""

        for s in schemas:
            out.append(f"<schema>{opt('name', s['schema_name'])}{opt('description', s['description'])}\n")
            for t in tables:
                if t["schema_name"] != s["schema_name"]:
                    continue
                out.append(f'<table type="{t["table_type"]}">{opt("name", t["table_name"])}'
                           f'{opt("description", t["description"])}\n')
                for c in columns:
                    if c["table_name"] != t["table_name"]:
                        continue
                    size = f' arraysize="{c["arraysize"]}"' if c["arraysize"] else ""
                    xtype = f' extendedType="{c["xtype"]}"' if c["xtype"] else ""
                    flags = ("<flag>indexed</flag>" if c["indexed"] else "") + \
                            ("<flag>principal</flag>" if c["principal"] else "") + \
                            ("<flag>std</flag>" if c["std"] else "")
                    out.append(f"<column>{opt('name', c['column_name'])}{opt('description', c['description'])}"
                               f"{opt('unit', c['unit'])}{opt('ucd', c['ucd'])}{opt('utype', c['utype'])}"
                               f'<dataType xsi:type="vod:VOTableType"{size}{xtype}>{c["datatype"]}</dataType>'
                               f"{flags}</column>\n")
                for k in keys:
                    if k["from_table"] != t["table_name"]:
                        continue
                    out.append(f"<foreignKey>{opt('targetTable', k['target_table'])}")
                    for kc in keycols:
                        if kc["key_id"] == k["key_id"]:
                            out.append(f"<fkColumn>{opt('fromColumn', kc['from_column'])}"
                                       f"{opt('targetColumn', kc['target_column'])}</fkColumn>")
                    out.append(f"{opt('description', k['description'])}</foreignKey>\n")
                out.append("</table>\n")
            out.append("</schema>\n")
        out.append("</vosi:tableset>\n")
        return _xml("".join(out))

    # -- TAP async (UWS 1.1): jobs in the database (sql/82_uws.sql) ---------------------
    # Each job belongs to its owner (owner()): the functions of xmm_uws act for one owner
    # only, so a client never lists, reads or deletes another's jobs. At most
    # limits.executing jobs run at once (a pool of that many threads); results are
    # spooled to the database and sent back in chunks, never kept in this process.

    with db.connect() as conn:
        conn.execute("SELECT xmm_uws.recover()")
    workers = ThreadPoolExecutor(max_workers=executing, thread_name_prefix="tap-job")
    running: dict = {}                  # job id -> the connection running its query, or CLAIMED, ABORTED
    running_lock = threading.Lock()

    def owner() -> str:
        """The authenticated user (REMOTE_USER, set by a front server that authenticates), else the client address."""
        user = request.environ.get("REMOTE_USER")
        return f"user:{user}" if user else f"address:{request.remote_addr}"

    def work() -> None:
        """Runs queued jobs, oldest first, until none is left."""
        while True:
            with db.connect() as conn:
                claimed = conn.execute("SELECT job_id, parameters FROM xmm_uws.claim() WHERE job_id IS NOT NULL"
                                       ).fetchone()
            if not claimed:
                return
            with running_lock:
                running.setdefault(claimed[0], CLAIMED)
            run_one(*claimed)

    def stop(jid) -> None:
        """A job of this process's workers, aborted or deleted: its query cancelled if it runs,
        not started if it has not (an abort between the claim and the query is not lost)."""
        with running_lock:
            entry = running.get(jid)
            if entry is None:
                return
            running[jid] = ABORTED
        if entry is not CLAIMED and entry is not ABORTED:
            entry.cancel()

    def run_one(jid, params) -> None:
        error = mime = body = None
        try:
            fields, rows, over, fmt, base = run_adql(params, running, jid, job_parts(params))
            text = "".join(formats.csv_rows(fields, rows, over) if fmt == "csv"
                           else formats.votable(fields, rows, overflow_at=over,
                                                resources=datalink_descriptors(fields, base)))
            body, mime = text.encode(), ("text/csv" if fmt == "csv" else VOTABLE_MIME)
            if len(body) > result_bytes:
                error, body, mime = (f"the result has {len(body):,} bytes, more than the {result_bytes:,} a job may "
                                     "keep: ask for fewer rows (MAXREC) or columns"), None, None
        except TapError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a job must end in a phase
            error = f"internal error: {exc}"
        finally:
            running.pop(jid, None)
        with db.connect() as conn:
            conn.execute("SELECT xmm_uws.finish(%s, %s, %s, %s)", (jid, error, mime, body))

    for _ in range(executing):          # jobs queued before a restart run now
        workers.submit(work)

    def own_result(url: str) -> bytes | None:
        """The result of one of the client's own completed jobs, by its URL on this service; None
        for any other URL (this service fetches nothing from elsewhere)."""
        m = re.fullmatch(r"(.*)/tap/async/([\w-]{1,80})/results/result", url)
        if not m or m.group(1).rstrip("/") != absolute("").rstrip("/"):
            return None
        job = fetch(m.group(2))
        if job is None or job["phase"] != "COMPLETED" or (job["result_bytes"] or 0) > UPLOAD_MAX_BYTES:
            return None
        size, chunk, out = job["result_bytes"] or 0, 1 << 20, bytearray()
        with db.connect() as conn:
            for start in range(0, size, chunk):
                out += bytes(conn.execute("SELECT xmm_uws.result_chunk(%s, %s, %s, %s)",
                                          (owner(), m.group(2), start, chunk)).fetchone()[0] or b"")
        return bytes(out)

    def fetch(jid):
        """The job without its uploads (they go to the worker that runs it), with their count and size."""
        with db.connect() as conn:
            cur = conn.cursor(row_factory=dict_row)
            return cur.execute(
                "SELECT j.job_id, j.phase, j.run_id, j.created, j.started, j.ended, j.destruction, j.error,"
                "       j.result_mime, j.result_bytes, j.parameters - u.keys AS parameters,"
                "       cardinality(u.keys) AS upload_parts, u.bytes AS upload_bytes"
                "  FROM xmm_uws.jobs(%s, %s) j,"
                "       LATERAL (SELECT coalesce(array_agg(key), '{}') AS keys,"
                "                       coalesce(sum((value ->> 'bytes')::bigint), 0) AS bytes"
                "                  FROM jsonb_each(j.parameters) WHERE starts_with(key, %s)) u",
                (owner(), jid, JOB_UPLOAD)).fetchone()

    def call(sql, *args):
        """One job function for this client; a bound reached is HTTP 429 with its message."""
        try:
            with db.connect() as conn:
                return conn.execute(sql, (owner(), *args)).fetchone()
        except psycopg.errors.ProgramLimitExceeded as exc:
            raise Refused(exc.diag.message_primary, 429) from None

    def iso(t):
        return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if t else None

    def job_xml(job) -> str:
        base = absolute(url_for("tap_job", jid=job["job_id"]))
        params = "".join(f'<uws:parameter id={quoteattr(k.lower())}>{escape(str(v))}</uws:parameter>'
                         for k, v in job["parameters"].items() if not k.startswith("xmmdb:"))
        results = (f'<uws:result id="result" xlink:href={quoteattr(base + "/results/result")}/>'
                   if job["phase"] == "COMPLETED" else "")
        error = (f'<uws:errorSummary type="fatal" hasDetail="true"><uws:message>{escape(job["error"] or "")}'
                 f'</uws:message></uws:errorSummary>' if job["phase"] == "ERROR" else "")

        def t(tag, value):
            return f"<uws:{tag}>{value}</uws:{tag}>" if value else f'<uws:{tag} xsi:nil="true"/>'

        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink"'
                ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.1">'
                f'<uws:jobId>{job["job_id"]}</uws:jobId><uws:runId>{escape(job["run_id"] or "")}</uws:runId>'
                f'<uws:ownerId xsi:nil="true"/><uws:phase>{job["phase"]}</uws:phase>'
                f'<uws:quote xsi:nil="true"/><uws:creationTime>{iso(job["created"])}</uws:creationTime>'
                f'{t("startTime", iso(job["started"]))}{t("endTime", iso(job["ended"]))}'
                f'<uws:executionDuration>{db.timeout_ms // 1000}</uws:executionDuration>'
                f'<uws:destruction>{iso(job["destruction"])}</uws:destruction>'
                f'<uws:parameters>{params}</uws:parameters><uws:results>{results}</uws:results>{error}'
                '</uws:job>\n')

    def no_job(jid):
        return Response(f"no job {jid}", status=404, mimetype="text/plain")

    def run(jid):
        call("SELECT xmm_uws.queue(%s, %s)", jid)
        workers.submit(work)

    def tap_request():
        """_tap_request for the job routes: a bound passed is HTTP 413 with its message."""
        try:
            return _tap_request(own_result)
        except TapError as exc:
            raise Refused(str(exc), 413) from None

    def add_parameters(job, p: dict, parts: dict[str, bytes]) -> None:
        """More parameters for a pending job: uploads join those it has, within the bounds."""
        if parts:
            count, size = job["upload_parts"] + len(parts), job["upload_bytes"] + sum(map(len, parts.values()))
            if count > UPLOAD_MAX_TABLES or size > UPLOAD_MAX_BYTES:
                raise Refused(f"with these the job would have {count} uploads of {size:,} bytes: a job may have "
                              f"{UPLOAD_MAX_TABLES} of {UPLOAD_MAX_BYTES:,} bytes together", 413)
            p.update(stored_parts(parts))
        if p.get("UPLOAD") and job["parameters"].get("UPLOAD"):
            p["UPLOAD"] = job["parameters"]["UPLOAD"] + ";" + p["UPLOAD"]
        if p:
            call("SELECT xmm_uws.set_parameters(%s, %s, %s)", job["job_id"], Jsonb(p))

    @app.errorhandler(Refused)
    def refused(exc):
        return _xml(formats.votable_error(str(exc)), status=exc.status, mime=VOTABLE_MIME)

    @app.route("/tap/async", methods=["GET", "POST"])
    def tap_async():
        if request.method == "GET":
            with db.connect() as conn:
                jobs = conn.execute("SELECT job_id, phase FROM xmm_uws.jobs(%s)", (owner(),)).fetchall()
            items = "".join(f'<uws:jobref id="{jid}" xlink:href={quoteattr(absolute(url_for("tap_job", jid=jid)))}>'
                            f'<uws:phase>{phase}</uws:phase></uws:jobref>' for jid, phase in jobs)
            return _xml('<?xml version="1.0" encoding="UTF-8"?>\n<uws:jobs xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0"'
                        f' xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1">{items}</uws:jobs>\n')
        p, parts = tap_request()
        phase = (p.pop("PHASE", None) or "").upper()
        if phase not in ("", "RUN"):
            raise Refused(f"PHASE={phase} is not allowed when creating a job: use RUN or nothing", 400)
        runid = p.pop("RUNID", None)
        jid = secrets.token_hex(16)
        call("SELECT xmm_uws.add(%s, %s, %s, %s)", jid, Jsonb({**p, **stored_parts(parts), JOB_BASE: absolute("")}),
             runid)
        if phase == "RUN":
            run(jid)
        return redirect(absolute(url_for("tap_job", jid=jid)), code=303)

    @app.route("/tap/async/<jid>", methods=["GET", "POST", "DELETE"])
    def tap_job(jid):
        job = fetch(jid)
        if job is None:
            return no_job(jid)
        p, parts = tap_request() if request.method == "POST" else ({}, {})
        if request.method == "DELETE" or p.get("ACTION", "").upper() == "DELETE":
            call("SELECT xmm_uws.remove(%s, %s)", jid)
            stop(jid)
            return redirect(absolute(url_for("tap_async")), code=303)
        if request.method == "POST":
            add_parameters(job, {k: v for k, v in p.items() if k not in ("PHASE", "ACTION")}, parts)
            return redirect(absolute(url_for("tap_job", jid=jid)), code=303)
        wait = request.args.get("WAIT") or request.args.get("wait")
        if wait is not None:
            try:
                seconds = float(wait)
            except ValueError:
                raise Refused(f"WAIT={wait!r} is not a number of seconds", 400) from None
            if not (seconds == -1 or 0 <= seconds):
                raise Refused(f"WAIT={wait!r}: a number of seconds, or -1 for as long as the service waits", 400)
            until = time.monotonic() + (30 if seconds == -1 else min(30.0, seconds))
            while job["phase"] in ("QUEUED", "EXECUTING") and time.monotonic() < until:
                time.sleep(0.2)
                job = fetch(jid) or job
        return _xml(job_xml(job))

    @app.route("/tap/async/<jid>/phase", methods=["GET", "POST"])
    def tap_job_phase(jid):
        job = fetch(jid)
        if job is None:
            return no_job(jid)
        if request.method == "POST":
            phase = (_params().get("PHASE") or "").upper()
            if phase == "RUN":
                if job["phase"] == "PENDING":
                    run(jid)
            elif phase == "ABORT":
                call("SELECT xmm_uws.abort(%s, %s)", jid)
                stop(jid)
            else:
                raise Refused(f"PHASE={phase} is not allowed: use RUN or ABORT", 400)
            return redirect(absolute(url_for("tap_job", jid=jid)), code=303)
        return Response(job["phase"], mimetype="text/plain")

    @app.route("/tap/async/<jid>/<attr>", methods=["GET", "POST"])
    def tap_job_attr(jid, attr):
        job = fetch(jid)
        if job is None:
            return no_job(jid)
        if request.method == "POST":
            if attr == "parameters" and job["phase"] == "PENDING":
                add_parameters(job, *tap_request())
            elif attr == "destruction":
                value = _params().get("DESTRUCTION") or ""
                try:
                    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    raise Refused(f"DESTRUCTION={value!r} is not an ISO 8601 time", 400) from None
                call("SELECT xmm_uws.set_destruction(%s, %s, %s)", jid,
                     when if when.tzinfo else when.replace(tzinfo=timezone.utc))
            elif attr not in ("executionduration", "parameters"):
                return Response("not allowed", status=405, mimetype="text/plain")
            return redirect(absolute(url_for("tap_job", jid=jid)), code=303)
        values = {"executionduration": str(db.timeout_ms // 1000), "destruction": iso(job["destruction"]),
                  "quote": "", "owner": "", "error": None, "parameters": None, "results": None}
        if attr == "error":
            if job["phase"] != "ERROR":
                return Response("the job has no error", status=404, mimetype="text/plain")
            return _xml(formats.votable_error(job["error"]), mime=VOTABLE_MIME)
        if attr in ("parameters", "results"):
            doc = job_xml(job)
            inner = doc[doc.index(f"<uws:{attr}>"):doc.index(f"</uws:{attr}>") + len(f"</uws:{attr}>")]
            return _xml('<?xml version="1.0" encoding="UTF-8"?>\n' + inner.replace(
                f"<uws:{attr}>", f'<uws:{attr} xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0"'
                                 ' xmlns:xlink="http://www.w3.org/1999/xlink">', 1))
        if attr in values:
            return Response(values[attr] or "", mimetype="text/plain")
        return Response(f"no {attr}", status=404, mimetype="text/plain")

    @app.route("/tap/async/<jid>/results/result")
    def tap_job_result(jid):
        job = fetch(jid)
        if job is None or job["phase"] != "COMPLETED":
            return Response("no result", status=404, mimetype="text/plain")
        who, size, chunk = owner(), job["result_bytes"] or 0, 1 << 20

        def chunks():
            for start in range(0, size, chunk):
                with db.connect() as conn:
                    yield bytes(conn.execute("SELECT xmm_uws.result_chunk(%s, %s, %s, %s)",
                                             (who, jid, start, chunk)).fetchone()[0])

        return Response(chunks(), mimetype=job["result_mime"], headers={"Content-Length": str(size)})


# (id, name, what it does, ADQL, tables it reads): the queries users most need.
TAP_EXAMPLES = [
    ("cone", "Sources in a cone",
     "The catalogue's sources within 6 arcmin of a position (M31's nucleus), brightest first: the Q3C index answers.",
     "SELECT TOP 100 srcid, iauname, sc_ra, sc_dec, sc_ep_8_flux, n_detections\nFROM xmm.source\n"
     "WHERE 1 = CONTAINS(POINT('ICRS', sc_ra, sc_dec), CIRCLE('ICRS', 10.6847, 41.2690, 0.1))\n"
     "ORDER BY sc_ep_8_flux DESC", ["xmm.source"]),
    ("crossmatch", "Cross-match your own list",
     "Upload a table with ra and dec columns as mine (TOPCAT: the upload's table name; pyvo: uploads={'mine': table}) "
     "and find the catalogue's sources within 5 arcsec of each row: the catalogue's Q3C index is searched once a row.",
     "SELECT m.*, s.srcid, s.iauname, s.sc_ep_8_flux,\n"
     "       DISTANCE(POINT('ICRS', m.ra, m.dec), POINT('ICRS', s.sc_ra, s.sc_dec)) * 3600 AS sep_arcsec\n"
     "FROM TAP_UPLOAD.mine AS m JOIN xmm.source AS s\n"
     "  ON 1 = CONTAINS(POINT('ICRS', s.sc_ra, s.sc_dec), CIRCLE('ICRS', m.ra, m.dec, 5.0 / 3600))",
     ["xmm.source"]),
    ("photons", "Photons in a region",
     "Every photon of every epoch within 30 arcsec of a source, with its time (TT s since MJD 50814) and energy (PI, eV).",
     "SELECT obs_id, instrument, \"time\", ra, dec, \"pi\"\nFROM xmm.photon\n"
     "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10.6606, 41.3137, 30.0 / 3600))", ["xmm.photon"]),
    ("detections", "A source's detections over time",
     "The detections of the sources near a position, one row per observation, with their fluxes: a light curve from the catalogue.",
     "SELECT d.srcid, d.obs_id, o.mjd_start, d.ep_8_flux, d.ep_8_flux_err\n"
     "FROM xmm.detection AS d JOIN xmm.observation AS o ON o.obs_id = d.obs_id\n"
     "WHERE 1 = CONTAINS(POINT('ICRS', d.ra, d.dec), CIRCLE('ICRS', 10.7083, 41.3011, 10.0 / 3600))\n"
     "ORDER BY srcid, mjd_start", ["xmm.detection", "xmm.observation"]),
    ("fit", "A fit over a query's result",
     "An absorbed power law fitted to the stored spectrum of each source a query finds (the service's function "
     "xmm_fit_flux: Sherpa in the database; the 0.2-12 keV flux in erg/cm2/s, and xmm_fit_stat the fit statistic).",
     "SELECT TOP 5 s.srcid, s.iauname, s.sc_ep_8_flux,\n"
     "       xmm_fit_flux(s.srcid, 'phabs_pl') AS fit_flux, xmm_fit_stat(s.srcid, 'phabs_pl') AS fit_stat\n"
     "FROM xmm.source AS s\n"
     "WHERE s.srcid IN (SELECT d.srcid FROM xmm.detection AS d JOIN xmm.spectrum AS p ON p.detid = d.detid)\n"
     "ORDER BY sc_ep_8_flux DESC", ["xmm.source", "xmm.detection", "xmm.spectrum"]),
]
# The service's own ADQL functions, as the capabilities declare them (xmmdb.adql.translate.UDFS).
TAP_UDFS = [
    ("xmm_fit_flux(srcid BIGINT, model VARCHAR) -> DOUBLE",
     "the absorbed 0.2-12 keV flux (erg/cm2/s) of a fit of the source's best stored EPIC spectrum with a model "
     "(phabs_pl, tbabs_pl, phabs_bb, ... or an expression): xmm_fit"),
    ("xmm_fit_stat(srcid BIGINT, model VARCHAR) -> DOUBLE", "the fit statistic of the same fit"),
]


# DataLink (sql/83_obscore.sql): the identifiers a result column holds, by column name. A TAP
# result with one of these columns announces the links of its rows (a service descriptor).
DATALINK_COLUMNS = {"obs_publisher_did": None, "srcid": "source", "detid": "detection", "spectrum_id": "spectrum",
                    "obs_id": "observation"}
DATALINK_KINDS = ("source", "detection", "observation", "spectrum")
DATALINK_MAX_IDS = 100
DATALINK_FIELDS = [("ID", "char", "*", "meta.id;meta.main"), ("access_url", "char", "*", "meta.ref.url"),
                   ("service_def", "char", "*", "meta.ref"), ("error_message", "char", "*", "meta.code.error"),
                   ("semantics", "char", "*", "meta.code"), ("description", "char", "*", "meta.note"),
                   ("content_type", "char", "*", "meta.code.mime"), ("content_length", "long", None, "phys.size;meta.file")]
# The event extraction (SODA-style, sync): what /soda/events takes.
SODA_EVENTS = [("ID", "char", "*", None, "", "the source: ivo://xmmdb/source?<srcid>"),
               ("RADIUS", "double", None, "arcsec", "", "extraction radius (default: 20-40 arcsec by flux)"),
               ("BAND", "double", "2", "eV", "", "energy range, two numbers (default 200 12000)"),
               ("OBS_ID", "char", "*", None, "", "one observation only"),
               ("BARYCENTRE", "boolean", None, None, "", "times at the solar-system barycentre (TDB, JPL DE421)")]


def _param(name, datatype, arraysize, unit, value, description, ref=None) -> str:
    attrs = f'name="{name}" datatype="{datatype}" value={quoteattr(value)}'
    attrs += f' arraysize="{arraysize}"' if arraysize else ""
    attrs += f' unit="{unit}"' if unit else ""
    attrs += f' ref="{ref}"' if ref else ""
    return f"<PARAM {attrs}><DESCRIPTION>{escape(description)}</DESCRIPTION></PARAM>"


def datalink_descriptors(fields: list[formats.Field], base: str) -> list[str]:
    """Service descriptors announcing DataLink for the identifier columns of a result (DataLink 1.1 §4)."""
    out = []
    for name, kind in DATALINK_COLUMNS.items():
        if any(f.name == name for f in fields):
            url = f"{base}/datalink" + (f"/{kind}" if kind else "")
            what = f"the links of the row's {kind or 'dataset'}"
            out.append(f'<RESOURCE type="meta" utype="adhoc:service" name="datalink_{kind or "dataset"}">'
                       f"<DESCRIPTION>{escape(what)}</DESCRIPTION>"
                       + _param("standardID", "char", "*", None, "ivo://ivoa.net/std/DataLink#links-1.1", "DataLink")
                       + _param("accessURL", "char", "*", None, url, "links of an identifier")
                       + '<GROUP name="inputParams">'
                       + _param("ID", "char", "*", None, "", "identifier", ref=f"col_{name}")
                       + "</GROUP></RESOURCE>")
    return out


def absolute(path: str) -> str:
    """An absolute URL of the service for a path. The request's Host header is used only when it names
    this machine (127.0.0.1, localhost, ::1) or a host in $XMMDB_WEB_HOSTS; $XMMDB_WEB_BASE_URL,
    when set, is the service's address: a client's Host header is never written into a redirect."""
    base = os.environ.get("XMMDB_WEB_BASE_URL", "").rstrip("/")
    if not base:
        trusted = {"127.0.0.1", "localhost", "[::1]", "::1",
                   *(h.strip() for h in os.environ.get("XMMDB_WEB_HOSTS", "").split(",") if h.strip())}
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        base = (request.host_url.rstrip("/") if host in trusted
                else f"http://127.0.0.1:{request.environ.get('SERVER_PORT', '8008')}")
    return base + path


class Refused(Exception):
    """A request the service refuses, with its HTTP status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class TapError(Exception):
    pass
