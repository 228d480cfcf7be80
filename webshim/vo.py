"""Virtual Observatory interfaces: Simple Cone Search and TAP (sync and async, VOSI).

    /vo/scs?RA=&DEC=&SR=            SCS 1.03 (SR=0: metadata only)
    /tap/sync                       TAP 1.1 sync: REQUEST=doQuery&LANG=ADQL&QUERY=…[&FORMAT=votable|csv][&MAXREC=n]
    /tap/async                      the same as UWS jobs (run in a thread, kept in memory for a day)
    /tap/tables, /tap/capabilities, /tap/availability    VOSI

ADQL is translated to SQL by xmm_adql() inside the database; TAP_SCHEMA is a
set of real tables filled by xmm.tap_schema_refresh(). The cone search is
xmm.vo_cone(). Results stop at MAXREC rows with QUERY_STATUS=OVERFLOW.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape, quoteattr

import psycopg
from flask import Response, redirect, render_template, request, url_for

from . import formats
from .db import error_info

TAP_DEFAULT_MAXREC = 10_000
TAP_HARD_MAXREC = 100_000
SCS_MAXREC = 10_000
JOB_LIFETIME = timedelta(days=1)
VOTABLE_MIME = "application/x-votable+xml"
FORMATS = {
    "votable": "votable", "application/x-votable+xml": "votable", "text/xml": "votable",
    "application/x-votable+xml;serialization=tabledata": "votable", "vot": "votable",
    "csv": "csv", "text/csv": "csv", "text/csv;header=present": "csv",
}
SCS_BRIEF = ["srcid", "iauname", "sc_ra", "sc_dec", "sc_poserr", "sc_ep_8_flux"]


def _params() -> dict:
    """Request parameters with case-insensitive names (DALI), values as given."""
    out = {}
    for source in (request.args, request.form):
        for k in source:
            out[k.upper()] = source.get(k)
    return out


def _xml(text: str, status: int = 200, mime: str = "text/xml") -> Response:
    return Response(text, status=status, mimetype=mime)


def register(app, db, meta) -> None:
    # -- Simple Cone Search ----------------------------------------------------------

    @app.route("/vo/scs")
    def scs():
        p = _params()
        try:
            ra, dec, sr = float(p["RA"]), float(p["DEC"]), float(p["SR"])
            if not (0 <= ra <= 360 and -90 <= dec <= 90 and 0 <= sr <= 10):
                raise ValueError("RA must be in [0, 360], DEC in [-90, 90] and SR in [0, 10] degrees")
            verb = int(p.get("VERB") or 2)
        except KeyError as exc:
            return _scs_error(f"missing parameter {exc.args[0]}: the cone search needs RA, DEC and SR in degrees")
        except ValueError as exc:
            return _scs_error(f"bad parameter value: {exc}")
        if not db.has("vo_cone"):
            return _scs_error("the cone search is not available in this database yet (xmm.vo_cone is not installed)")
        with db.connect() as conn, conn.cursor() as cur:
            cols = "*"
            if verb <= 1:
                cols = ", ".join(SCS_BRIEF)
            elif verb == 2:
                meta.refresh()
                principal = [c for (t, c), m in meta.by_table.items() if t == "xmm.source"
                             and (c in SCS_BRIEF or (m.get("ucd") or "").startswith(("phot.flux", "stat.likelihood")))]
                cols = ", ".join(dict.fromkeys(SCS_BRIEF + principal)) if principal else "*"
            cur.execute(f"SELECT {cols} FROM xmm.vo_cone(%s, %s, %s) LIMIT %s", (ra, dec, sr, 0 if sr == 0 else SCS_MAXREC + 1))
            fields = meta.fields(cur)
            rows = cur.fetchall()
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

    # -- TAP ----------------------------------------------------------------------------

    def run_adql(p: dict):
        """(fields, rows, overflow_at, format) or raises TapError."""
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
        if p.get("UPLOAD"):
            raise TapError("UPLOAD is not supported by this service")
        if not db.has("xmm_adql"):
            raise TapError("ADQL is not available in this database yet (the function xmm_adql is not installed)")
        try:
            with db.connect() as conn:
                sqltext = conn.execute("SELECT xmm.xmm_adql(%s)", (query,)).fetchone()[0]
                with conn.transaction():
                    conn.execute("SET TRANSACTION READ ONLY")
                    with conn.cursor(name="tap") as cur:
                        cur.execute(sqltext)
                        rows = cur.fetchmany(maxrec + 1) if maxrec else []
                        fields = meta.fields(cur)
        except psycopg.Error as exc:
            info = error_info(exc)
            if isinstance(exc, psycopg.errors.QueryCanceled):
                info["message"] = "the query took too long and was cancelled (statement timeout)"
            raise TapError(info["message"] + (f" (hint: {info['hint']})" if info.get("hint") else "")) from None
        over = None
        if maxrec == 0 or len(rows) > maxrec:
            over = maxrec
            rows = rows[:maxrec]
        return fields, rows, over, fmt

    def tap_response(fields, rows, over, fmt) -> Response:
        if fmt == "csv":
            return Response(formats.csv_rows(fields, rows, over), mimetype="text/csv")
        return Response(formats.votable(fields, rows, overflow_at=over), mimetype=VOTABLE_MIME)

    @app.route("/tap/sync", methods=["GET", "POST"])
    def tap_sync():
        try:
            return tap_response(*run_adql(_params()))
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
        return render_template("tap.html", tables=tables, base=request.url_root.rstrip("/") + "/tap")

    @app.route("/tap/availability")
    def tap_availability():
        ok, note = True, "service is accepting queries"
        try:
            db.value("SELECT 1")
        except psycopg.Error as exc:
            ok, note = False, f"database unavailable: {error_info(exc)['message']}"
        if ok and not db.has("xmm_adql"):
            note = "the database answers, but ADQL (xmm_adql) is not installed yet"
        return _xml('<?xml version="1.0" encoding="UTF-8"?>\n'
                    '<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">\n'
                    f'<vosi:available>{"true" if ok else "false"}</vosi:available>\n'
                    f'<vosi:note>{escape(note)}</vosi:note>\n</vosi:availability>\n')

    @app.route("/tap/capabilities")
    def tap_capabilities():
        base = request.url_root.rstrip("/") + "/tap"
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
    </language>
    <outputFormat ivo-id="ivo://ivoa.net/std/TAPRegExt#output-votable-td">
      <mime>application/x-votable+xml</mime>
      <alias>votable</alias>
    </outputFormat>
    <outputFormat>
      <mime>text/csv</mime>
      <alias>csv</alias>
    </outputFormat>
    <retentionPeriod><default>{int(JOB_LIFETIME.total_seconds())}</default></retentionPeriod>
    <executionDuration><default>{db.timeout_ms // 1000}</default></executionDuration>
    <outputLimit>
      <default unit="row">{TAP_DEFAULT_MAXREC}</default>
      <hard unit="row">{TAP_HARD_MAXREC}</hard>
    </outputLimit>
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
        if not db.value("SELECT to_regclass('tap_schema.columns') IS NOT NULL"):
            return _xml(formats.votable_error("TAP_SCHEMA is not installed in this database yet"), status=501)
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

    # -- TAP async (UWS 1.1), jobs in memory ------------------------------------------

    jobs: dict[str, dict] = {}
    lock = threading.Lock()

    def expire():
        now = datetime.now(timezone.utc)
        with lock:
            for jid in [j for j, job in jobs.items() if job["destruction"] < now]:
                jobs.pop(jid, None)

    def job_or_404(jid):
        expire()
        job = jobs.get(jid)
        if job is None:
            return None
        return job

    def execute(job):
        job["phase"] = "EXECUTING"
        job["start"] = datetime.now(timezone.utc)
        try:
            fields, rows, over, fmt = run_adql(job["params"])
            body = "".join(formats.csv_rows(fields, rows, over) if fmt == "csv"
                           else formats.votable(fields, rows, overflow_at=over))
            job["result"] = (body, "text/csv" if fmt == "csv" else VOTABLE_MIME)
            job["phase"] = "COMPLETED"
        except TapError as exc:
            job["error"] = str(exc)
            job["phase"] = "ERROR"
        except Exception as exc:  # noqa: BLE001 - a job must end in a phase
            job["error"] = f"internal error: {exc}"
            job["phase"] = "ERROR"
        job["end"] = datetime.now(timezone.utc)

    def start(job):
        if job["phase"] in ("PENDING", "HELD"):
            job["phase"] = "QUEUED"
            threading.Thread(target=execute, args=(job,), daemon=True).start()

    def iso(t):
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if t else None

    def job_xml(job) -> str:
        base = url_for("tap_job", jid=job["id"], _external=True)
        params = "".join(f'<uws:parameter id={quoteattr(k.lower())}>{escape(v)}</uws:parameter>'
                         for k, v in job["params"].items())
        results = (f'<uws:result id="result" xlink:href={quoteattr(base + "/results/result")}/>'
                   if job["phase"] == "COMPLETED" else "")
        error = (f'<uws:errorSummary type="fatal" hasDetail="true"><uws:message>{escape(job["error"])}'
                 f'</uws:message></uws:errorSummary>' if job["phase"] == "ERROR" else "")

        def t(tag, value):
            return f"<uws:{tag}>{value}</uws:{tag}>" if value else f'<uws:{tag} xsi:nil="true"/>'

        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink"'
                ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.1">'
                f'<uws:jobId>{job["id"]}</uws:jobId><uws:runId>{escape(job.get("runid") or "")}</uws:runId>'
                f'<uws:ownerId xsi:nil="true"/><uws:phase>{job["phase"]}</uws:phase>'
                f'<uws:quote xsi:nil="true"/><uws:creationTime>{iso(job["created"])}</uws:creationTime>'
                f'{t("startTime", iso(job.get("start")))}{t("endTime", iso(job.get("end")))}'
                f'<uws:executionDuration>{db.timeout_ms // 1000}</uws:executionDuration>'
                f'<uws:destruction>{iso(job["destruction"])}</uws:destruction>'
                f'<uws:parameters>{params}</uws:parameters><uws:results>{results}</uws:results>{error}'
                '</uws:job>\n')

    @app.route("/tap/async", methods=["GET", "POST"])
    def tap_async():
        expire()
        if request.method == "GET":
            items = "".join(f'<uws:jobref id="{j["id"]}" xlink:href={quoteattr(url_for("tap_job", jid=j["id"], _external=True))}>'
                            f'<uws:phase>{j["phase"]}</uws:phase></uws:jobref>' for j in jobs.values())
            return _xml('<?xml version="1.0" encoding="UTF-8"?>\n<uws:jobs xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0"'
                        f' xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1">{items}</uws:jobs>\n')
        p = _params()
        phase = p.pop("PHASE", None)
        jid = uuid.uuid4().hex[:16]
        job = {"id": jid, "phase": "PENDING", "params": {k: v for k, v in p.items() if k != "RUNID"},
               "runid": p.get("RUNID"), "created": datetime.now(timezone.utc),
               "destruction": datetime.now(timezone.utc) + JOB_LIFETIME}
        with lock:
            jobs[jid] = job
        if phase and phase.upper() == "RUN":
            start(job)
        return redirect(url_for("tap_job", jid=jid, _external=True), code=303)

    @app.route("/tap/async/<jid>", methods=["GET", "POST", "DELETE"])
    def tap_job(jid):
        job = job_or_404(jid)
        if job is None:
            return Response(f"no job {jid}", status=404, mimetype="text/plain")
        if request.method == "DELETE" or (request.method == "POST" and _params().get("ACTION", "").upper() == "DELETE"):
            with lock:
                jobs.pop(jid, None)
            return redirect(url_for("tap_async", _external=True), code=303)
        if request.method == "POST":
            p = _params()
            if job["phase"] == "PENDING":
                for k, v in p.items():
                    if k not in ("PHASE", "ACTION"):
                        job["params"][k] = v
            return redirect(url_for("tap_job", jid=jid, _external=True), code=303)
        if request.args.get("WAIT") or request.args.get("wait"):
            wait_until = time.monotonic() + min(30, float(request.args.get("WAIT") or request.args.get("wait") or 0))
            while job["phase"] in ("QUEUED", "EXECUTING") and time.monotonic() < wait_until:
                time.sleep(0.1)
        return _xml(job_xml(job))

    @app.route("/tap/async/<jid>/phase", methods=["GET", "POST"])
    def tap_job_phase(jid):
        job = job_or_404(jid)
        if job is None:
            return Response(f"no job {jid}", status=404, mimetype="text/plain")
        if request.method == "POST":
            phase = (_params().get("PHASE") or "").upper()
            if phase == "RUN":
                start(job)
            elif phase == "ABORT":
                if job["phase"] in ("PENDING", "QUEUED", "EXECUTING", "HELD"):
                    job["phase"] = "ABORTED"
            else:
                return Response(f"PHASE={phase} is not allowed: use RUN or ABORT", status=400, mimetype="text/plain")
            return redirect(url_for("tap_job", jid=jid, _external=True), code=303)
        return Response(job["phase"], mimetype="text/plain")

    @app.route("/tap/async/<jid>/<attr>", methods=["GET", "POST"])
    def tap_job_attr(jid, attr):
        job = job_or_404(jid)
        if job is None:
            return Response(f"no job {jid}", status=404, mimetype="text/plain")
        if request.method == "POST":
            if attr == "parameters" and job["phase"] == "PENDING":
                for k, v in _params().items():
                    job["params"][k] = v
            elif attr not in ("destruction", "executionduration", "parameters"):
                return Response("not allowed", status=405, mimetype="text/plain")
            return redirect(url_for("tap_job", jid=jid, _external=True), code=303)
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
        job = job_or_404(jid)
        if job is None or job["phase"] != "COMPLETED":
            return Response("no result", status=404, mimetype="text/plain")
        body, mime = job["result"]
        return Response(body, mimetype=mime)


class TapError(Exception):
    pass
