"""The web shim: a Flask app whose every page is one or a few SQL calls.

    create_app(dsn=None)   # dsn None: $XMMDB_WEB_DSN, else the xmmdb DSN as xmm_reader if that role exists

Pages: / (search), /source/<srcid>, /detection/<detid>, /observation/<obs_id>,
/position (any position's long-term light curve), /diagram; plots and files at
stable URLs under /source/<srcid>/…; the VO interfaces (cone search, TAP) are
in vo.py. Science happens in SQL (xmm_search, xmm_fit, xmm_extract_events, …)
of the one installed release.
"""

from __future__ import annotations

import json
import math
import os
import re
import time

import psycopg
from flask import Flask, Response, abort, jsonify, redirect, render_template, request, url_for
from psycopg import sql
from xmmdb.instruments import BANDS
from xmmdb.spectral.fit import METHODS, STATS
from xmmdb.spectral.models import NAMED

from . import formats
from .db import Database, error_info, resolve_dsn

PAGE_SIZE = 50
EXPORT_MAX = int(os.environ.get("XMMDB_WEB_EXPORT_MAX", 100_000))
DIAGRAM_MAX = 20_000
# Extraction in the browser: the circle drawn when the pipeline's radius is unknown (arcsec), the
# radius of an observation's whole field (the EPIC field of view, arcsec) and its detections per page.
DEFAULT_RADIUS = 40.0
FIELD_RADIUS = 900.0
OBS_PAGE_SIZE = 50
RESULT_COLUMNS = ["srcid", "iauname", "sc_ra", "sc_dec", "sc_poserr", "sc_det_ml", "sc_ep_8_flux",
                  "sc_hr2", "sc_extent", "n_detections", "is_ulx"]
EXAMPLES = [
    ("M82", "a name: sources within 10 arcmin of it"),
    ("cone('M31', '20arcmin') AND sc_det_ml > 100", "a cone and a condition"),
    ("cone('10.68 41.27', '5arcmin')", "a cone at coordinates"),
    ("is_ulx = true", "candidate ultraluminous X-ray sources"),
    ("sc_ep_8_flux > 1e-12 AND n_detections > 2", "bright, detected more than twice"),
    ('"J0958" IN iauname', "a substring of the IAU name"),
    ("srcid IN {1, 2, 3}", "a list of sources"),
]
# The catalogue's energy bands (keV), for the choice of band of a long-term light curve.
ENERGY_BANDS = [(b, f"{lo / 1000:g}–{hi / 1000:g}") for b, (lo, hi) in BANDS.items()]


def create_app(dsn: str | None = None, *, hips_url: str | None = None, timeout_ms: int | None = None) -> Flask:
    app = Flask(__name__)
    app.config["JSON_SORT_KEYS"] = False
    db = Database(dsn if dsn else resolve_dsn(), timeout_ms=timeout_ms)
    meta = formats.Metadata(db)
    app.extensions["xmmdb"] = db
    hips = hips_url if hips_url is not None else os.environ.get("XMMDB_WEB_HIPS", "").strip()

    @app.context_processor
    def features():
        return {"hips_url": hips, "ks": _ks, "unit_display": UNIT_DISPLAY, "energy_bands": ENERGY_BANDS}

    app.add_template_filter(_num, "num")
    app.add_template_filter(_hms, "hms")
    app.add_template_filter(_dms, "dms")
    app.add_template_filter(_unit, "unit")
    app.add_template_filter(_utc, "utc")

    @app.errorhandler(404)
    def not_found(exc):
        if _wants_json():
            return jsonify(error=exc.description), 404
        return render_template("404.html", message=exc.description), 404

    @app.errorhandler(psycopg.Error)
    def sql_error(exc):
        info = _error_for_user(exc)
        status = 404 if info["sqlstate"] == "02000" else 400 if (info["sqlstate"] or "").startswith(("22", "42", "P0", "57")) else 500
        if _wants_json():
            return jsonify(error=info["message"], hint=info["hint"]), status
        return render_template("error.html", error=info), status

    columns_cache: dict = {}

    def search_columns() -> list[str]:
        """The columns of xmm.source (what xmm_search returns), re-read once a minute."""
        now = time.monotonic()
        if now - columns_cache.get("at", -1e9) > 60:
            columns_cache["cols"] = [r[0] for r in db.rows(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'xmm.source'::regclass"
                " AND attnum > 0 AND NOT attisdropped ORDER BY attnum")[1]]
            columns_cache["at"] = now
        return columns_cache["cols"]

    def column_units() -> dict[str, str]:
        """Each result column's unit as pages write it (the TAP_SCHEMA units of xmm.source)."""
        if "units" not in columns_cache:
            columns_cache["units"] = {r[0]: _unit(r[1]) for r in db.rows(
                "SELECT column_name, unit FROM tap_schema.columns WHERE table_name = 'xmm.source' AND unit <> ''")[1]}
            columns_cache["units"]["distance"] = "arcsec"
        return columns_cache["units"]

    def run_search(q: str, order: str | None, desc: bool, limit: int, offset: int, cols: list[str] | None = None,
                   centre: tuple[float, float] | None = None):
        """One call of xmm_search for a page of results and the total count; with a centre, each
        row's distance from it (arcsec, the column `distance`), nearest first unless sorted."""
        valid = search_columns() + (["distance"] if centre else [])
        order = order if order in valid else ("distance" if centre else None)
        pick = sql.SQL(", ").join(map(sql.Identifier, cols)) if cols else sql.SQL("*")
        params: tuple = (q, limit, offset)
        if centre:
            pick = sql.SQL("{}, q3c_dist(%s, %s, sc_ra, sc_dec) * 3600 AS distance").format(pick)
            params = (*centre, *params)
        query = sql.SQL("SELECT {}, count(*) OVER () AS _total FROM xmm.xmm_search(%s) s {} LIMIT %s OFFSET %s").format(
            pick,
            sql.SQL("ORDER BY {} {} NULLS LAST, srcid").format(sql.Identifier(order), sql.SQL("DESC" if desc else "ASC"))
            if order else sql.SQL("ORDER BY srcid"))
        names, rows = db.rows(query, params)
        total = rows[0][-1] if rows else 0
        if not rows and offset:
            total = db.value("SELECT count(*) FROM xmm.xmm_search(%s)", (q,))
        return names[:-1], [r[:-1] for r in rows], total

    def searched_position(q: str):
        """(name, ra, dec, origin) of the position a query searches around (xmm_search_centre), or None;
        a query in error says so when it runs."""
        try:
            return db.one("SELECT * FROM xmm.xmm_search_centre(%s)", (q,))
        except psycopg.Error:
            return None

    # -- search -----------------------------------------------------------------------

    @app.route("/")
    def home():
        q = request.args.get("q", "").strip()
        page = max(1, request.args.get("page", 1, type=int))
        per = min(500, max(10, request.args.get("per", PAGE_SIZE, type=int)))
        order, desc = request.args.get("sort"), request.args.get("dir", "asc") == "desc"
        ctx = dict(q=q, examples=EXAMPLES, page=page, per=per, sort=order, desc=desc, error=None,
                   columns=[], rows=[], total=0, sql_text=None, resolved=None)
        if q:
            try:
                cols = [c for c in RESULT_COLUMNS if c in search_columns()]
                ctx["resolved"] = searched_position(q)    # say where it resolved to; distances from it
                centre = (ctx["resolved"]["ra"], ctx["resolved"]["dec"]) if ctx["resolved"] else None
                ctx["columns"], ctx["rows"], ctx["total"] = run_search(q, order, desc, per, (page - 1) * per, cols,
                                                                       centre)
                ctx["sort"] = ctx["sort"] or ("distance" if centre else None)
                if request.args.get("showsql"):
                    ctx["sql_text"] = db.value("SELECT xmm.xmm_to_sql(%s)", (q,))
            except psycopg.Error as exc:
                ctx["error"] = _error_for_user(exc)
        ctx["pages"] = max(1, -(-ctx["total"] // per))
        ctx["units"] = column_units()
        return render_template("search.html", **ctx)

    @app.route("/api/search")
    def api_search():
        q = request.args.get("q", "").strip()
        cols = [c for c in request.args.get("cols", "").split(",") if c]
        valid = search_columns()
        bad = [c for c in cols if c not in valid]
        if bad:
            return jsonify(error=f"unknown column {bad[0]!r}", columns=valid), 400
        limit = min(DIAGRAM_MAX, max(1, request.args.get("limit", 1000, type=int)))
        try:
            names, rows, total = run_search(q, request.args.get("sort"), request.args.get("dir") == "desc",
                                            limit, max(0, request.args.get("offset", 0, type=int)), cols or None)
        except psycopg.Error as exc:
            return jsonify(error=error_info(exc)), 400
        return jsonify(columns=names, rows=[[formats.jsonable(v) for v in r] for r in rows], total=total,
                       truncated=total > len(rows), limit=limit)

    @app.route("/api/columns")
    def api_columns():
        return jsonify(columns=search_columns())

    @app.route("/export.<fmt>")
    def export(fmt):
        if fmt not in ("csv", "vot", "xml", "fits"):
            abort(404)
        q = request.args.get("q", "").strip()
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM xmm.xmm_search(%s) s ORDER BY srcid LIMIT %s", (q, EXPORT_MAX + 1))
            fields = meta.fields(cur)
            rows = cur.fetchall()
        over = EXPORT_MAX if len(rows) > EXPORT_MAX else None
        rows = rows[:EXPORT_MAX]
        name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", q)[:60].strip("_") or "xmmdb"
        headers = {"Content-Disposition": f'attachment; filename="xmmdb_{name}.{"vot" if fmt == "xml" else fmt}"'}
        if over:
            headers["X-Truncated"] = f"truncated at {over} rows"
        if fmt == "csv":
            return Response(formats.csv_rows(fields, rows, over), mimetype="text/csv", headers=headers)
        if fmt == "fits":
            return Response(formats.fits_bytes(fields, rows, over), mimetype="application/fits", headers=headers)
        if request.args.get("inline"):
            headers.pop("Content-Disposition")
        return Response(formats.votable(fields, rows, name="xmmdb_search", description=f"xmmdb search: {q}",
                                        overflow_at=over), mimetype="application/x-votable+xml", headers=headers)

    @app.route("/help")
    def help_page():
        meta.refresh()
        colmeta = {c: m for (t, c), m in meta.by_table.items() if t == "xmm.source"}
        return render_template("help.html", examples=EXAMPLES, columns=search_columns(), colmeta=colmeta)

    # -- diagrams ---------------------------------------------------------------------

    @app.route("/diagram")
    def diagram():
        cols = search_columns()
        return render_template("diagram.html", q=request.args.get("q", ""), columns=cols,
                               x=request.args.get("x", "sc_hr2"), y=request.args.get("y", "sc_ep_8_flux"),
                               kind=request.args.get("kind", "scatter"), units=column_units())

    # -- source, detection, observation -----------------------------------------------

    @app.route("/source/<int:srcid>")
    def source(srcid):
        src = db.one("SELECT * FROM xmm.source WHERE srcid = %s", (srcid,))
        if src is None:
            abort(404, f"no source with SRCID {srcid}")
        dets = db.dicts("""
            SELECT d.detid, d.obs_id, o.target, o.mjd_start, o.revolut, d.ra, d.dec, d.poserr, d.ep_8_flux,
                   d.ep_8_flux_err, d.pn_8_flux, d.m1_8_flux, d.m2_8_flux, d.ep_8_rate, d.ep_8_det_ml, d.ep_hr2,
                   d.pn_offax, o.pn_filter, o.pn_ontime, o.m1_ontime, o.m2_ontime, d.var_flag, d.sum_flag,
                   d.spectra, d.tseries, q3c_dist(d.ra, d.dec, s.sc_ra, s.sc_dec) * 3600 AS offset_arcsec
              FROM xmm.detection d JOIN xmm.observation o USING (obs_id) JOIN xmm.source s USING (srcid)
             WHERE d.srcid = %s ORDER BY o.mjd_start""", (srcid,))
        fields = db.dicts("SELECT column_name, unit, description FROM tap_schema.columns"
                          " WHERE table_name = 'xmm.source' ORDER BY column_index")
        spectra = _spectra(db, srcid)
        photons = bool(db.value("SELECT EXISTS (SELECT 1 FROM xmm.xmm_photons(%s, %s, 60))",
                                (src["sc_ra"], src["sc_dec"])))
        return render_template("source.html", src=src, dets=dets, fields=fields, spectra=spectra, photons=photons,
                               models=list(NAMED), stats=STATS, methods=METHODS,
                               pipeline_radius=_pipeline_radius(db, srcid), default_radius=DEFAULT_RADIUS)

    @app.route("/source/<int:srcid>.json")
    def source_json(srcid):
        src = db.one("SELECT * FROM xmm.source WHERE srcid = %s", (srcid,))
        if src is None:
            abort(404)
        dets = db.dicts("SELECT d.detid, d.obs_id, d.ra, d.dec, d.poserr, d.ep_8_flux, d.ep_8_flux_err, d.ep_8_det_ml,"
                        " o.mjd_start FROM xmm.detection d JOIN xmm.observation o USING (obs_id)"
                        " WHERE d.srcid = %s ORDER BY o.mjd_start", (srcid,))
        near = db.dicts("SELECT srcid, iauname, sc_ra, sc_dec, sc_ep_8_flux FROM xmm.source WHERE"
                        " q3c_radial_query(sc_ra, sc_dec, %s, %s, 0.1) AND srcid <> %s LIMIT 500",
                        (src["sc_ra"], src["sc_dec"], srcid))
        obs = db.dicts("SELECT DISTINCT o.obs_id, o.ra_pnt, o.dec_pnt FROM xmm.observation o"
                       " JOIN xmm.detection d USING (obs_id) WHERE d.srcid = %s", (srcid,))
        return jsonify(source={k: formats.jsonable(v) for k, v in src.items()},
                       detections=[{k: formats.jsonable(v) for k, v in d.items()} for d in dets],
                       neighbours=[{k: formats.jsonable(v) for k, v in d.items()} for d in near],
                       observations=obs)

    @app.route("/detection/<int:detid>")
    def detection(detid):
        det = db.one("SELECT * FROM xmm.detection WHERE detid = %s", (detid,))
        if det is None:
            abort(404, f"no detection with DETID {detid}")
        obs = db.one("SELECT * FROM xmm.observation_list WHERE obs_id = %s", (det["obs_id"],))
        src = db.one("SELECT srcid, iauname, sc_ra, sc_dec, sc_ep_8_flux, n_detections FROM xmm.source WHERE srcid = %s",
                     (det["srcid"],))
        meta.refresh()
        photons = bool(db.value("SELECT EXISTS (SELECT 1 FROM xmm.xmm_photons(%s, %s, 60)"
                                " WHERE obs_id = %s)", (det["ra"], det["dec"], det["obs_id"])))
        return render_template("detection.html", det=det, obs=obs, src=src, spectra=_spectra(db, det["srcid"], detid),
                               det_rows=_described(det, "xmm.detection", meta),
                               obs_rows=_described(obs or {}, "xmm.observation", meta), photons=photons,
                               pipeline_radius=_pipeline_radius(db, det["srcid"], detid), default_radius=DEFAULT_RADIUS)

    @app.route("/detection/<int:detid>/image.fits")
    def detection_image(detid):
        det = db.one("SELECT ra, dec, obs_id FROM xmm.detection WHERE detid = %s", (detid,))
        if det is None:
            abort(404)
        data = db.value("SELECT xmm.xmm_image(%s, %s, %s, %s, %s::jsonb)",
                        (det["ra"], det["dec"], request.args.get("size", 4.0, type=float),
                         request.args.get("bin", 2.0, type=float), json.dumps({"obs_id": det["obs_id"]})))
        return Response(bytes(data), mimetype="application/fits",
                        headers={"Content-Disposition": f'inline; filename="xmmdb_detection_{detid}_image.fits"'})

    @app.route("/observation/<obs_id>")
    def observation(obs_id):
        obs = db.one("SELECT * FROM xmm.observation_list WHERE obs_id = %s", (obs_id,))
        if obs is None:
            abort(404, f"no observation {obs_id}")
        a = request.args
        page, per = max(1, a.get("page", 1, type=int)), min(500, max(10, a.get("per", OBS_PAGE_SIZE, type=int)))
        name = a.get("name", "").strip()
        min_ml = a.get("min_ml", type=float)
        dets = db.dicts("""SELECT d.detid, d.srcid, s.iauname, d.ra, d.dec, d.ep_8_flux, d.ep_8_det_ml, d.pn_offax,
                                  d.sum_flag, d.var_flag, count(*) OVER () AS _total
                             FROM xmm.detection d JOIN xmm.source s USING (srcid)
                            WHERE d.obs_id = %s AND (%s = '' OR s.iauname ILIKE '%%' || %s || '%%' OR d.srcid::text = %s)
                              AND (%s::float8 IS NULL OR d.ep_8_det_ml >= %s::float8)
                            ORDER BY d.ep_8_flux DESC NULLS LAST, d.detid LIMIT %s OFFSET %s""",
                        (obs_id, name, name, name, min_ml, min_ml, per, (page - 1) * per))
        total = dets[0]["_total"] if dets else 0
        all_dets = db.value("SELECT count(*) FROM xmm.detection WHERE obs_id = %s", (obs_id,))
        cameras = [r[0] for r in db.rows("SELECT DISTINCT instrument FROM xmm.exposure WHERE obs_id = %s"
                                         " ORDER BY 1", (obs_id,))[1]]
        return render_template("observation.html", obs=obs, dets=dets, photons=bool(cameras), cameras=cameras,
                               page=page, per=per, pages=max(1, -(-total // per)), total=total, all_dets=all_dets,
                               name=name, min_ml=a.get("min_ml", ""), field_radius=FIELD_RADIUS)

    @app.route("/observation/<obs_id>/events.fits")
    def observation_events(obs_id):
        """The event file (OGIP, with the GTIs) of an observation's cameras, or of one: the EPIC
        field (15') at the pointing, xmm_extract_events_at of that observation."""
        obs = db.one("SELECT ra_pnt, dec_pnt FROM xmm.observation WHERE obs_id = %s", (obs_id,))
        if obs is None or obs["ra_pnt"] is None:
            abort(404, f"no observation {obs_id}")
        camera = request.args.get("instrument")
        opts = {"obs_id": obs_id, **({"instrument": camera} if camera else {})}
        data = db.value("SELECT xmm.xmm_extract_events_at(%s, %s, %s, %s::jsonb)",
                        (obs["ra_pnt"], obs["dec_pnt"], FIELD_RADIUS, json.dumps(opts)))
        return Response(bytes(data), mimetype="application/fits", headers={
            "Content-Disposition": f'attachment; filename="xmmdb_{obs_id}_{camera or "EPIC"}_events.fits"'})

    @app.route("/observation/<obs_id>/image.fits")
    def observation_image(obs_id):
        obs = db.one("SELECT ra_pnt, dec_pnt FROM xmm.observation WHERE obs_id = %s", (obs_id,))
        if obs is None or obs["ra_pnt"] is None:
            abort(404)
        data = db.value("SELECT xmm.xmm_image(%s, %s, %s, %s, %s::jsonb)",
                        (obs["ra_pnt"], obs["dec_pnt"], request.args.get("size", 32.0, type=float),
                         request.args.get("bin", 4.0, type=float), json.dumps({"obs_id": obs_id})))
        return Response(bytes(data), mimetype="application/fits",
                        headers={"Content-Disposition": f'inline; filename="xmmdb_{obs_id}_image.fits"'})

    @app.route("/observation/<obs_id>.json")
    def observation_json(obs_id):
        obs = db.one("SELECT obs_id, ra_pnt, dec_pnt FROM xmm.observation WHERE obs_id = %s", (obs_id,))
        if obs is None:
            abort(404)
        dets = db.dicts("SELECT d.detid, d.srcid, s.iauname, d.ra, d.dec, d.ep_8_flux FROM xmm.detection d"
                        " JOIN xmm.source s USING (srcid) WHERE d.obs_id = %s", (obs_id,))
        return jsonify(observation=obs, detections=[{k: formats.jsonable(v) for k, v in d.items()} for d in dets],
                       observations=[obs])

    # -- products of a source: fit, photons, image, light curve, periodogram ---------

    @app.route("/source/<int:srcid>/fit.json")
    def fit_json(srcid):
        call, params = _fit_call(db, srcid, plot=False)
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute(call, params)
            row = cur.fetchone()
            names = [d.name for d in cur.description]
        if row is None:
            return jsonify(error="no fit result"), 404
        out = {k: formats.jsonable(v) for k, v in zip(names, row)}
        out["plot_url"] = url_for("fit_png", srcid=srcid, **request.args.to_dict())
        return jsonify(out)

    @app.route("/source/<int:srcid>/fit.png")
    def fit_png(srcid):
        call, params = _fit_call(db, srcid, plot=True)
        png = db.value(call, params)
        return Response(bytes(png), mimetype="image/png", headers={"Cache-Control": "max-age=600"})

    def centre():
        """(ra, dec) of an extraction circle moved off the catalogue position (the page sends it), or None:
        the products are then the position's (xmm_*_at), not the source's."""
        ra, dec = request.args.get("ra", type=float), request.args.get("dec", type=float)
        return None if ra is None or dec is None else (ra, dec)

    @app.route("/source/<int:srcid>/events.fits")
    def events(srcid):
        opts = {}
        if request.args.get("barycentre") in ("1", "true", "on", "yes"):
            opts["barycentre"] = True
        if request.args.get("obs_id"):
            opts["obs_id"] = request.args["obs_id"]
        for k in ("emin", "emax"):
            if request.args.get(k):
                opts[k] = request.args.get(k, type=float)
        radius = request.args.get("radius", type=float)
        at = centre()
        data = (db.value("SELECT xmm.xmm_extract_events_at(%s, %s, %s, %s::jsonb)", (*at, radius, json.dumps(opts)))
                if at else db.value("SELECT xmm.xmm_extract_events(%s, %s, %s::jsonb)", (srcid, radius, json.dumps(opts))))
        suffix = "_bary" if opts.get("barycentre") else ""
        return Response(bytes(data), mimetype="application/fits",
                        headers={"Content-Disposition": f'attachment; filename="xmmdb_{srcid}_events{suffix}.fits"'})

    @app.route("/source/<int:srcid>/image.fits")
    def image(srcid):
        src = db.one("SELECT sc_ra, sc_dec FROM xmm.source WHERE srcid = %s", (srcid,))
        if src is None:
            abort(404)
        size = request.args.get("size", 4.0, type=float)
        binsize = request.args.get("bin", 2.0, type=float)
        data = db.value("SELECT xmm.xmm_image(%s, %s, %s, %s, %s::jsonb)",
                        (src["sc_ra"], src["sc_dec"], size, binsize, json.dumps({})))
        return Response(bytes(data), mimetype="application/fits",
                        headers={"Content-Disposition": f'inline; filename="xmmdb_{srcid}_image.fits"'})

    @app.route("/source/<int:srcid>/lightcurve.json")
    def lightcurve(srcid):
        at = centre()
        return table_json(f"SELECT * FROM xmm.xmm_lightcurve{'_at(%s, %s' if at else '(%s'}, %s, %s::jsonb)",
                          (*(at or (srcid,)), request.args.get("bin", 100.0, type=float),
                           json.dumps(_json_arg("options"))))

    @app.route("/source/<int:srcid>/lightcurve.png")
    def lightcurve_png(srcid):
        png = db.value("SELECT xmm.xmm_lightcurve_plot(%s, %s, %s::jsonb)",
                       (srcid, request.args.get("bin", 100.0, type=float), json.dumps(_json_arg("options"))))
        return Response(bytes(png), mimetype="image/png", headers={"Cache-Control": "max-age=600"})

    @app.route("/source/<int:srcid>/periodogram.json")
    def periodogram(srcid):
        opts = _json_arg("options")
        with db.connect() as conn, conn.cursor() as cur:
            at = centre()
            cur.execute(f"SELECT * FROM xmm.xmm_periodogram{'_at(%s, %s' if at else '(%s'}, %s, %s, %s::jsonb)",
                        (*(at or (srcid,)), request.args.get("fmin", 0.01, type=float),
                         request.args.get("fmax", 2.0, type=float), json.dumps(opts)))
            names = [d.name for d in cur.description]
            rows = cur.fetchall()
        return jsonify(columns=names, rows=[[formats.jsonable(v) if not isinstance(v, list) else
                                             [formats.jsonable(x) for x in v] for v in r] for r in rows])

    # -- extraction in the browser: the photons of any circle, its flux or upper limit ----------------

    def photon_args():
        a = request.args
        return (a.get("ra", type=float), a.get("dec", type=float), a.get("radius", type=float),
                a.get("emin", 200.0, type=float), a.get("emax", 12000.0, type=float))

    def photon_table(ra, dec, radius, obs_id, instrument, name, emin=200.0, emax=12000.0):
        """The rows of xmm_photons in a circle (of one observation and camera when given) as a FITS
        table, at most EXPORT_MAX rows (then marked truncated)."""
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM xmm.xmm_photons(%s, %s, %s, %s, %s) WHERE (%s::text IS NULL OR obs_id = %s)"
                        " AND (%s::text IS NULL OR instrument = %s) ORDER BY time LIMIT %s",
                        (ra, dec, radius, emin, emax, obs_id, obs_id, instrument, instrument, EXPORT_MAX + 1))
            fields = meta.fields(cur)
            rows = cur.fetchall()
        over = EXPORT_MAX if len(rows) > EXPORT_MAX else None
        headers = {"Content-Disposition": f'attachment; filename="{name}.fits"'}
        if over:
            headers["X-Truncated"] = f"truncated at {over} rows"
        return Response(formats.fits_bytes(fields, rows[:EXPORT_MAX], over), mimetype="application/fits",
                        headers=headers)

    @app.route("/photons/count.json")
    def photon_count():
        ra, dec, radius, emin, emax = photon_args()
        obs_id = request.args.get("obs_id") or None
        row = db.one("SELECT count(*) AS photons, count(DISTINCT obs_id) AS observations"
                     "  FROM xmm.xmm_photons(%s, %s, %s, %s, %s) WHERE (%s::text IS NULL OR obs_id = %s)",
                     (ra, dec, radius, emin, emax, obs_id, obs_id))
        return jsonify(ra=ra, dec=dec, radius=radius, emin=emin, emax=emax, obs_id=obs_id, **row)

    @app.route("/photons.fits")
    def photons_file():
        ra, dec, radius, emin, emax = photon_args()
        return photon_table(ra, dec, radius, request.args.get("obs_id") or None, request.args.get("instrument") or None,
                            f"xmmdb_photons_{ra:.5f}_{dec:+.5f}_{radius:g}" if None not in (ra, dec, radius)
                            else "xmmdb_photons", emin, emax)

    @app.route("/upper_limit.json")
    def upper_limit():
        return table_json("SELECT * FROM xmm.xmm_upper_limit(%s, %s, %s::jsonb)",
                          (request.args.get("ra", type=float), request.args.get("dec", type=float),
                           json.dumps(_json_arg("options"))))

    @app.route("/cone")
    def cone():
        """Cone search as a page: the search results of cone('ra dec', 'r arcmin'), the VOTable a link away."""
        a = request.args
        pos, radius = a.get("pos", "").strip(), a.get("radius", "").strip()
        if pos:
            return redirect(url_for("home", q=f"cone('{pos.replace(chr(39), chr(39) * 2)}', '{radius or 5}arcmin')"))
        return render_template("cone.html")

    # -- long-term light curves: every observation of a source or of any position ---------

    def table_json(query, params):
        """{columns, rows} of one SQL call, as the plots' JSON routes give them."""
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute(query, params)
            names = [d.name for d in cur.description]
            rows = cur.fetchall()
        return jsonify(columns=names, rows=[[formats.jsonable(v) for v in r] for r in rows])

    @app.route("/source/<int:srcid>/history.json")
    def source_history(srcid):
        return table_json("SELECT * FROM xmm.xmm_long_term_lightcurve(%s, %s::jsonb)",
                          (srcid, json.dumps(_json_arg("options"))))

    @app.route("/position/history.json")
    def position_history():
        # A coordinate missing or not a number goes as NULL: the function says what a position must be.
        return table_json("SELECT * FROM xmm.xmm_long_term_lightcurve_at(%s, %s, %s::jsonb)",
                          (request.args.get("ra", type=float), request.args.get("dec", type=float),
                           json.dumps(_json_arg("options"))))

    @app.route("/position")
    def position():
        a = request.args
        form = {"ra": a.get("ra", "").strip(), "dec": a.get("dec", "").strip(),
                "band": a.get("band", 8, type=int), "confidence": a.get("confidence", "0.9").strip()}
        ctx = dict(form=form, ra=None, dec=None, rows=None, error=None, history_url=None)
        if form["ra"] or form["dec"]:
            ra, dec = a.get("ra", type=float), a.get("dec", type=float)
            # as typed: the function says what a band or a confidence must be
            options = {"bands": [form["band"]], "confidence": _number_or_text(form["confidence"])}
            try:
                ctx["rows"] = db.dicts("SELECT * FROM xmm.xmm_long_term_lightcurve_at(%s, %s, %s::jsonb)",
                                       (ra, dec, json.dumps(options)))
                ctx.update(ra=ra, dec=dec, history_url=url_for("position_history", ra=ra, dec=dec,
                                                               options=json.dumps(options)))
            except psycopg.Error as exc:
                ctx["error"] = _error_for_user(exc)
        return render_template("position.html", **ctx)

    # -- misc ---------------------------------------------------------------------------

    @app.route("/status")
    def status():
        return jsonify(user=db.value("SELECT current_user"),
                       extension=db.value("SELECT extversion FROM pg_extension WHERE extname = 'xmmdb'"),
                       statement_timeout=db.value("SHOW statement_timeout"))

    @app.route("/favicon.ico")
    def favicon():
        return app.send_static_file("favicon.svg")

    @app.route("/hips/blank/<path:path>")
    def blank_hips(path):
        """A one-tile dark HiPS so the sky view works without any HiPS server."""
        if path == "properties":
            return Response("creator_did = ivo://xmmdb/blank\nobs_title = no background imagery\n"
                            "dataproduct_type = image\nhips_version = 1.4\nhips_frame = equatorial\n"
                            "hips_order = 3\nhips_order_min = 0\nhips_tile_width = 512\nhips_tile_format = png\n"
                            "hips_initial_fov = 1\n", mimetype="text/plain")
        if path.endswith("Moc.fits"):
            return app.send_static_file("blank-moc.fits")
        if path.endswith("Allsky.png"):
            return app.send_static_file("blank-allsky.png")
        return app.send_static_file("blank-tile.png")

    from .vo import register as register_vo

    register_vo(app, db, meta)
    app.register_blueprint(__import__("xmmdb_web.hips", fromlist=["routes"]).routes)   # the HiPS of the photons
    __import__("xmmdb_web.accounts", fromlist=["register"]).register(app, db)   # optional logins (docs/web.md)
    return app


def _described(row: dict, table: str, meta) -> list[tuple]:
    """(column, value, error, unit, description) for a record page: each *_err
    value beside its value, units and descriptions from TAP_SCHEMA."""
    out = []
    for k, v in row.items():
        if k.endswith("_err") and k[:-4] in row:
            continue
        m = meta.by_table.get((table, k)) or {}
        out.append((k, v, row.get(k + "_err"), m.get("unit"), m.get("description")))
    return out


# Units as an astronomer writes them, for the VOUnit strings of TAP_SCHEMA and the fit's parameter
# units (the templates' `unit` filter; the page's script gets the same table).
UNIT_DISPLAY = {"mW/m2": "erg cm⁻² s⁻¹", "erg/(s.cm**2)": "erg cm⁻² s⁻¹", "ct/s": "ct s⁻¹",
                "10^22 atoms / cm^2": "10²² cm⁻²"}


def _unit(u) -> str:
    return UNIT_DISPLAY.get(u, u or "")


def _num(v, col: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, bool) or isinstance(v, int):
        return str(v)
    v = float(v)
    if v != v:
        return "NaN"
    if col in ("sc_ra", "sc_dec", "ra", "dec", "ra_pnt", "dec_pnt", "lii", "bii"):
        return f"{v:.5f}"
    if col.startswith("mjd"):
        return f"{v:.4f}"
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3e}"
    return f"{v:.4g}"


def _split(x: float, decimals: int) -> tuple[int, int, float]:
    """Units, minutes and seconds of a non-negative value, seconds carried when they round to 60."""
    whole, rem = int(x), (x - int(x)) * 60
    mm, ss = int(rem), (rem - int(rem)) * 60
    if round(ss, decimals) >= 60:
        ss, mm = 0.0, mm + 1
    return whole, mm, ss


def _hms(ra) -> str:
    if ra is None:
        return ""
    hh, mm, ss = _split((float(ra) / 15.0) % 24, 2)
    return f"{hh:02d}h{mm:02d}m{ss:05.2f}s"


def _dms(dec) -> str:
    if dec is None:
        return ""
    dd, mm, ss = _split(abs(float(dec)), 1)
    return f"{'-' if dec < 0 else '+'}{dd:02d}°{mm:02d}′{ss:04.1f}″"


def _ks(seconds) -> str:
    return "—" if seconds is None else f"{float(seconds) / 1000:.1f}"


def _utc(moment) -> str:
    """A timestamp as YYYY-MM-DD hh:mm:ss in UTC, whatever the session's time zone."""
    return "" if moment is None else formats.timestamp(moment)[:19].replace("T", " ")


def _number_or_text(raw: str):
    """A number typed in a form as a JSON number; anything else as the text (JSON has no NaN)."""
    try:
        value = float(raw)
    except ValueError:
        return raw
    return value if math.isfinite(value) else raw


def _error_for_user(exc: psycopg.Error) -> dict:
    """error_info, with a cancelled statement said in words."""
    info = error_info(exc)
    if isinstance(exc, psycopg.errors.QueryCanceled):
        info["message"] = "the query took too long and was cancelled (statement timeout)"
    return info


def _wants_json() -> bool:
    return request.path.endswith(".json") or request.path.startswith("/api/")


def _json_arg(name: str) -> dict:
    raw = request.args.get(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        abort(400, f"{name} must be a JSON object")
    if not isinstance(value, dict):
        abort(400, f"{name} must be a JSON object")
    return value


def _spectra(db, srcid: int, detid: int | None = None) -> list[dict]:
    """The source's stored source spectra (of one detection, with detid), fewest counts first."""
    return db.dicts("SELECT s.spectrum_id, s.detid, s.obs_id, s.instrument, s.exposure, s.file, s.total_counts AS counts"
                    "  FROM xmm.spectrum s JOIN xmm.detection d USING (detid)"
                    " WHERE d.srcid = %s AND s.kind = 'source' AND (%s::bigint IS NULL OR d.detid = %s::bigint)"
                    " ORDER BY 2, 3", (srcid, detid, detid))


def _pipeline_radius(db, srcid: int, detid: int | None = None) -> float | None:
    """The radius (arcsec) of the pipeline's source-spectrum region of a source (of one detection,
    with detid): that of the spectrum with the most counts. None without a stored spectrum."""
    return db.value("SELECT s.region_radius FROM xmm.spectrum s JOIN xmm.detection d USING (detid)"
                    " WHERE d.srcid = %s AND s.kind = 'source' AND (%s::bigint IS NULL OR d.detid = %s::bigint)"
                    " ORDER BY s.total_counts DESC NULLS LAST LIMIT 1", (srcid, detid, detid))


def _fit_options() -> tuple[str, dict, int | None, str | None]:
    """model, options (jsonb), detid, instrument from the query string of a fit URL:
    model, inst, detid, emin, emax, group, stat, method, errors, joint,
    p.<name>=value, p.<name>.min, p.<name>.max, p.<name>.frozen."""
    a = request.args
    model = a.get("model", "phabs_pl").strip()
    opts: dict = {}
    for k in ("emin", "emax"):
        if a.get(k):
            opts[k] = a.get(k, type=float)
    if a.get("group") not in (None, ""):
        opts["group"] = a.get("group", type=int)
    for k in ("stat", "method", "errors"):
        if a.get(k):
            opts[k] = a[k]
    if a.get("joint") in ("1", "true", "on"):
        opts["joint"] = True
    params: dict = {}
    for key, value in a.items():
        m = re.fullmatch(r"p\.([A-Za-z_][\w.]*?)(?:\.(value|min|max|frozen))?", key)
        if not m or value == "":
            continue
        name, attr = m.group(1), m.group(2) or "value"
        if attr == "frozen":
            params.setdefault(name, {})["frozen"] = value in ("1", "true", "on", "yes")
        else:
            try:
                params.setdefault(name, {})[attr] = float(value)
            except ValueError:
                abort(400, f"parameter {name}: {attr} must be a number")
    if params:
        opts["params"] = params
    detid = a.get("detid", type=int)
    inst = a.get("inst") or None
    return model, opts, detid, inst


def _fit_call(db, srcid: int, plot: bool):
    model, opts, detid, inst = _fit_options()
    if detid:
        func = "xmm_fit_detection_plot" if plot else "xmm_fit_detection"
        return (sql.SQL("SELECT {} xmm.{}(%s, %s, %s, %s::jsonb)").format(
            sql.SQL("") if plot else sql.SQL("* FROM"), sql.Identifier(func)),
            (detid, inst or "PN", model, json.dumps(opts)))
    if plot:
        return "SELECT xmm.xmm_fit_plot(%s, %s, %s::jsonb)", (srcid, model, json.dumps(opts))
    return "SELECT * FROM xmm.xmm_fit(%s, %s, %s::jsonb)", (srcid, model, json.dumps(opts))
