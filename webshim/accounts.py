"""Personal sessions of the web interface (optional: nothing needs a login to browse).

    register(app, db)        # from create_app: routes under /account and /shared, the session cookie

A local account keeps saved queries (search language and ADQL), a basket of sources, a history
of the fits and extractions run through these pages, and read-only links that show a saved
query or the basket to anyone who has the link. Everything is kept in the database (schema
xmm_accounts, sql/84_accounts.sql) and reached only through its definer functions, which act
for a session token: the shim never sees a password hash, and its login cannot reach anyone's
items without that person's session. Passwords are hashed (Argon2id) and checked inside the
server, which also counts failed logins per name and per address.

The Flask session (a signed cookie: HttpOnly, SameSite=Lax, Secure over https) holds the session
token and a CSRF token; every POST here must carry the CSRF token (form field `csrf` or header
X-CSRF-Token). The signing key: $XMMDB_WEB_SECRET_KEY, else the file $XMMDB_WEB_SECRET_FILE
(`serve.py` makes var/web.secret), else a random key per process (sessions end at a restart).
Threat model: docs/web.md, "Accounts and sessions".
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

import psycopg
from flask import (Blueprint, Response, abort, current_app, g, redirect, render_template, request, session,
                   url_for)
from flask.sessions import SecureCookieSessionInterface

from . import formats

bp = Blueprint("accounts", __name__)
COOKIE = "xmmdb_session"
# Pages whose successful answers are kept in the history, and as what.
# (Extractions of an observation or of any region, where the pages offer them, count too.)
HISTORY = {"fit_json": "fit", "events": "extraction", "observation_events": "extraction",
           "photons_file": "extraction"}
SOURCE_COLUMNS = ("srcid", "iauname", "sc_ra", "sc_dec", "sc_ep_8_flux", "sc_det_ml", "n_detections")


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with the Secure flag whenever the page is served over https."""

    def get_cookie_secure(self, app) -> bool:
        if app.config.get("SESSION_COOKIE_SECURE"):
            return True
        try:
            return request.is_secure
        except RuntimeError:       # outside a request
            return False


def secret_key() -> str | None:
    """$XMMDB_WEB_SECRET_KEY, else the content of $XMMDB_WEB_SECRET_FILE, else None."""
    key = os.environ.get("XMMDB_WEB_SECRET_KEY", "").strip()
    if key:
        return key
    path = os.environ.get("XMMDB_WEB_SECRET_FILE", "").strip()
    if path:
        try:
            key = Path(path).read_text().strip()
        except OSError:
            key = ""
        if key:
            return key
    return None


def register(app, db) -> None:
    if not app.secret_key:
        key = secret_key()
        if key is None:
            app.logger.warning("no $XMMDB_WEB_SECRET_KEY or $XMMDB_WEB_SECRET_FILE: a random session key, "
                               "so logins end when the shim restarts")
            key = secrets.token_hex(32)
        app.secret_key = key
    base = os.environ.get("XMMDB_WEB_BASE_URL", "")
    app.config.update(SESSION_COOKIE_NAME=COOKIE, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=base.startswith("https:"),
                      PERMANENT_SESSION_LIFETIME=timedelta(days=30))
    app.session_interface = _SessionInterface()
    app.extensions["xmmdb_accounts"] = db
    app.register_blueprint(bp)


def _db():
    return current_app.extensions["xmmdb_accounts"]


# -- who is logged in, CSRF --------------------------------------------------------------

def current_account() -> str | None:
    """The name of the logged-in account, or None (read once per request, only when a session
    cookie came with it: anonymous pages cost nothing)."""
    if "account" in g:
        return g.account
    g.account = None
    if COOKIE in request.cookies and session.get("t"):
        try:
            g.account = _db().value("SELECT xmm_accounts.whoami(%s)", (session["t"],))
        except psycopg.errors.InvalidAuthorizationSpecification:
            session.pop("t", None)      # the session ended (logout elsewhere, a new password, its age)
        except (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName):
            pass                        # a database without accounts
    return g.account


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


@bp.app_context_processor
def _template_globals():
    return {"account": current_account(), "csrf_token": csrf_token, "in_basket": _in_basket}


@bp.before_request
def _check_csrf():
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    sent = request.form.get("csrf") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, "this form has expired or did not come from this site (its CSRF token is missing or wrong): "
                   "reload the page and send it again")
    return None


@bp.after_app_request
def _record_history(response):
    """A fit or an extraction that a logged-in user ran through the pages goes into their history."""
    kind = HISTORY.get(request.endpoint or "")
    if kind and response.status_code == 200 and current_account():
        args, on = request.args.to_dict(), request.view_args or {}
        subject = (f"source {on['srcid']}" if "srcid" in on else f"observation {on['obs_id']}" if "obs_id" in on
                   else "a region")
        what = subject + (" · " + ", ".join(f"{k}={v}" for k, v in args.items()) if args else "")
        url = request.full_path.rstrip("?")
        if len(url) <= 4000:
            try:
                _db().value("SELECT xmm_accounts.history_add(%s, %s, %s, %s)", (session["t"], kind, what, url))
            except psycopg.Error as exc:   # the answer goes out all the same
                current_app.logger.warning("history not kept: %s", exc)
    return response


def _in_basket(srcid) -> bool:
    if not current_account():
        return False
    if "basket" not in g:
        g.basket = {r[0] for r in _db().rows("SELECT srcid FROM xmm_accounts.basket(%s)", (session["t"],))[1]}
    return srcid in g.basket


def _token() -> str:
    """The session token of the logged-in user; anyone else is sent to the login page."""
    if not current_account():
        abort(redirect(url_for("accounts.login", next=request.full_path.rstrip("?"))))
    return session["t"]


def _next(default: str) -> str:
    """A local path to go to afterwards (never another site)."""
    target = request.values.get("next", "")
    return target if re.fullmatch(r"/(?![/\\])[^\s]*", target) else default


def _message(exc: psycopg.Error) -> str:
    return (exc.diag.message_primary or str(exc)).strip()


def _status(exc: psycopg.Error) -> int:
    state = exc.diag.sqlstate or ""
    return {"54000": 429, "23505": 409, "42501": 403, "28000": 401, "28P01": 401, "P0002": 404}.get(
        state, 400 if state[:2] in ("22", "P0") else 500)


def _page(template: str, status: int = 200, **ctx):
    response = Response(render_template(template, **ctx), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _login(token: str) -> None:
    """A new session (rotation): nothing of the one before survives, not even its CSRF token."""
    session.clear()
    session["t"] = token
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = True
    g.pop("account", None)


# -- log in, register, log out, password -------------------------------------------------

@bp.route("/account/login", methods=["GET", "POST"])
def login():
    db = _db()
    ctx = {"mode": "login", "error": None, "next": _next(url_for("accounts.overview")),
           "registration": db.value("SELECT xmm_accounts.registration_open()"), "limits": _limits()}
    if request.method == "GET":
        return _page("account_login.html", **ctx)
    name, password = request.form.get("username", "").strip(), request.form.get("password", "")
    try:
        token = db.value("SELECT xmm_accounts.login(%s, %s, %s)", (name, password, request.remote_addr))
    except psycopg.Error as exc:
        return _page("account_login.html", _status(exc), **{**ctx, "error": _message(exc), "username": name})
    if token is None:
        return _page("account_login.html", 401, **{**ctx, "error": "wrong name or password", "username": name})
    _login(token)
    return redirect(ctx["next"], 303)


@bp.route("/account/register", methods=["GET", "POST"])
def register_account():
    db = _db()
    ctx = {"mode": "register", "error": None, "next": _next(url_for("accounts.overview")),
           "registration": db.value("SELECT xmm_accounts.registration_open()"), "limits": _limits()}
    if request.method == "GET":
        return _page("account_login.html", 200 if ctx["registration"] else 403, **ctx)
    name, password = request.form.get("username", "").strip(), request.form.get("password", "")
    if password != request.form.get("password2", password):
        return _page("account_login.html", 400, **{**ctx, "error": "the two passwords differ", "username": name})
    try:
        token = db.value("SELECT xmm_accounts.register(%s, %s, %s)", (name, password, request.remote_addr))
    except psycopg.Error as exc:
        return _page("account_login.html", _status(exc), **{**ctx, "error": _message(exc), "username": name})
    _login(token)
    return redirect(ctx["next"], 303)


@bp.route("/account/logout", methods=["POST"])
def logout():
    if session.get("t"):
        _db().value("SELECT xmm_accounts.logout(%s)", (session["t"],))
    session.clear()
    return redirect(url_for("home"), 303)


@bp.route("/account/password", methods=["POST"])
def password():
    token = _token()
    new = request.form.get("new_password", "")
    if new != request.form.get("new_password2", new):
        return _overview(400, "the two new passwords differ")
    try:
        fresh = _db().value("SELECT xmm_accounts.change_password(%s, %s, %s)",
                            (token, request.form.get("old_password", ""), new))
    except psycopg.Error as exc:
        return _overview(_status(exc), _message(exc))
    _login(fresh)
    return _overview(200, None, "password changed: every other session of this account has ended")


@bp.route("/account")
def overview():
    _token()
    return _overview()


def _overview(status=200, error=None, done=None):
    token = _token()
    db = _db()
    shares = db.dicts("SELECT * FROM xmm_accounts.shares(%s)", (token,))
    counts = db.one("SELECT (SELECT count(*) FROM xmm_accounts.queries(%(t)s)) AS queries,"
                    " (SELECT count(*) FROM xmm_accounts.basket(%(t)s)) AS basket,"
                    " (SELECT count(*) FROM xmm_accounts.history(%(t)s)) AS history", {"t": token})
    return _page("account.html", status, shares=shares, counts=counts, error=error, done=done, limits=_limits())


def _limits() -> dict:
    if "limits" not in g:
        g.limits = _db().one("SELECT * FROM xmm_accounts.limits()")
    return g.limits


# -- saved queries -------------------------------------------------------------------------

@bp.route("/account/queries", methods=["GET", "POST"])
def queries():
    token = _token()
    db = _db()
    error, status = None, 200
    form = {"name": request.values.get("name", ""), "query": request.values.get("q", request.values.get("query", "")),
            "language": "adql" if request.values.get("language") == "adql" else "search"}
    if request.method == "POST":
        try:
            db.value("SELECT xmm_accounts.save_query(%s, %s, %s, %s)",
                     (token, form["name"], request.form.get("language", ""), form["query"]))
            return redirect(url_for("accounts.queries"), 303)
        except psycopg.Error as exc:
            error, status = _message(exc), _status(exc)
    rows = db.dicts("SELECT * FROM xmm_accounts.queries(%s)", (token,))
    links = {s["item_id"]: s["share_token"] for s in db.dicts("SELECT * FROM xmm_accounts.shares(%s)", (token,))
             if s["kind"] == "query"}
    return _page("account_queries.html", status, rows=rows, form=form, error=error, links=links, limits=_limits())


@bp.route("/account/queries/<int:item_id>/delete", methods=["POST"])
def query_delete(item_id):
    if not _db().value("SELECT xmm_accounts.delete_query(%s, %s)", (_token(), item_id)):
        abort(404, f"you have no saved query {item_id}")
    return redirect(url_for("accounts.queries"), 303)


@bp.route("/account/queries/<int:item_id>/share", methods=["POST"])
def query_share(item_id):
    try:
        _db().value("SELECT xmm_accounts.share_link(%s, 'query', %s)", (_token(), item_id))
    except psycopg.errors.NoDataFound:
        abort(404, f"you have no saved query {item_id}")
    except psycopg.Error as exc:
        abort(_status(exc), _message(exc))
    return redirect(url_for("accounts.queries"), 303)


# -- the basket ------------------------------------------------------------------------------

def _srcids() -> list[int]:
    out = []
    for raw in request.form.getlist("srcid"):
        for part in re.split(r"[\s,]+", raw.strip()):
            if part:
                if not part.isdigit() or len(part) > 18:
                    abort(400, f"a SRCID is a positive whole number, not {part[:40]!r}")
                out.append(int(part))
    return out


def _sources(srcids: list[int]) -> list[dict]:
    """The basket's sources in its order; one no longer in the catalogue with only its SRCID."""
    found = {r["srcid"]: r for r in _db().dicts(
        f"SELECT {', '.join(SOURCE_COLUMNS)} FROM xmm.source WHERE srcid = ANY (%s)", (srcids,))}
    return [found.get(s, {"srcid": s, "gone": True}) for s in srcids]


def _search_of(srcids: list[int]) -> str:
    return "srcid IN {" + ", ".join(map(str, srcids)) + "}"


@bp.route("/account/basket")
def basket():
    token = _token()
    db = _db()
    srcids = [r[0] for r in db.rows("SELECT srcid FROM xmm_accounts.basket(%s)", (token,))[1]]
    link = next((s["share_token"] for s in db.dicts("SELECT * FROM xmm_accounts.shares(%s)", (token,))
                 if s["kind"] == "basket"), None)
    return _page("account_basket.html", sources=_sources(srcids), query=_search_of(srcids) if srcids else None,
                 link=link, limits=_limits(), shared=False)


@bp.route("/account/basket/add", methods=["POST"])
def basket_add():
    token = _token()
    srcids = _srcids() + ([int(x) for x in request.form.getlist("page_srcid") if x.isdigit()]
                          if request.form.get("all") else [])
    try:
        _db().value("SELECT xmm_accounts.basket_add(%s, %s)", (token, srcids))
    except psycopg.Error as exc:
        abort(_status(exc), _message(exc))
    return redirect(_next(url_for("accounts.basket")), 303)


@bp.route("/account/basket/remove", methods=["POST"])
def basket_remove():
    _db().value("SELECT xmm_accounts.basket_remove(%s, %s)", (_token(), _srcids()))
    return redirect(_next(url_for("accounts.basket")), 303)


@bp.route("/account/basket/share", methods=["POST"])
def basket_share():
    try:
        _db().value("SELECT xmm_accounts.share_link(%s, 'basket')", (_token(),))
    except psycopg.Error as exc:
        abort(_status(exc), _message(exc))
    return redirect(url_for("accounts.basket"), 303)


@bp.route("/account/basket.<fmt>")
def basket_export(fmt):
    if fmt not in ("csv", "vot"):
        abort(404)
    token = _token()
    db = _db()
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT s.* FROM xmm.source s JOIN xmm_accounts.basket(%s) b USING (srcid) ORDER BY b.added, srcid",
                    (token,))
        meta = current_app.extensions.get("xmmdb_accounts_meta")
        if meta is None:
            meta = current_app.extensions["xmmdb_accounts_meta"] = formats.Metadata(db)
        fields = meta.fields(cur)
        rows = cur.fetchall()
    headers = {"Content-Disposition": f'attachment; filename="xmmdb_basket.{fmt}"', "Cache-Control": "no-store"}
    if fmt == "csv":
        return Response(formats.csv_rows(fields, rows), mimetype="text/csv", headers=headers)
    return Response(formats.votable(fields, rows, name="xmmdb_basket", description="xmmdb: a basket of sources"),
                    mimetype="application/x-votable+xml", headers=headers)


# -- history, shared links -------------------------------------------------------------------

@bp.route("/account/history")
def history():
    rows = _db().dicts("SELECT * FROM xmm_accounts.history(%s)", (_token(),))
    return _page("account_history.html", rows=rows, limits=_limits())


@bp.route("/account/history/clear", methods=["POST"])
def history_clear():
    _db().value("SELECT xmm_accounts.history_clear(%s)", (_token(),))
    return redirect(url_for("accounts.history"), 303)


@bp.route("/account/links/<share>/delete", methods=["POST"])
def link_delete(share):
    if not _db().value("SELECT xmm_accounts.unshare(%s, %s)", (_token(), share)):
        abort(404, "you have no such link")
    return redirect(_next(url_for("accounts.overview")), 303)


@bp.route("/shared/<share>")
def shared(share):
    """What a read-only link shows, to anyone who has it."""
    if not re.fullmatch(r"[0-9a-f]{32}", share):
        abort(404, "no such link (it may have been deleted)")
    item = _db().one("SELECT * FROM xmm_accounts.shared(%s)", (share,))
    if item is None:
        abort(404, "no such link (it may have been deleted)")
    ctx = {"item": item, "shared": True, "limits": None}
    if item["kind"] == "basket":
        srcids = list(item["srcids"] or [])
        ctx.update(sources=_sources(srcids), query=_search_of(srcids) if srcids else None)
    if item["language"] == "adql":
        ctx["adql_url"] = url_for("tap_sync", REQUEST="doQuery", LANG="ADQL", QUERY=item["query"], FORMAT="votable")
    response = _page("account_shared.html", **ctx)
    response.headers["Referrer-Policy"] = "no-referrer"     # the link is the key: no page it leads to learns it
    response.headers["X-Robots-Tag"] = "noindex"
    return response
