"""Personal sessions of the web interface (sql/84_accounts.sql, webshim/accounts.py): accounts,
logins and their rate limits, CSRF tokens, what a logged-in user keeps (saved queries, the basket,
the history of fits and extractions), shared read-only links, and what readers cannot reach in SQL.
The shim runs as its own reader login (xmm_web), as `make run` starts it."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote_plus

import psycopg
import pytest

from conftest import served
from test_web import bright, web_dsn  # noqa: F401 - shared fixtures
from xmmdb_loader.roles import login_dsn
from xmmdb_web.app import create_app
from xmmdb_web.db import resolve_dsn

PASSWORD = "correct horse battery"
TABLES = ("account", "session", "attempt", "setting", "saved_query", "basket", "history", "share")


@pytest.fixture(scope="module")
def shim(web_dsn):
    app = create_app(resolve_dsn(web_dsn), hips_url="")
    app.config["TESTING"] = True
    assert app.extensions["xmmdb"].value("SELECT current_user") == "xmm_web"
    yield app
    app.extensions["xmmdb"].close()


_addresses = iter(range(1, 250))


def client_of(app, address: str | None = None):
    """A browser of its own, at an address of its own (registrations are limited per address)."""
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address or f"10.77.0.{next(_addresses)}"
    return c


def csrf(c, path: str = "/account/login") -> str:
    page = c.get(path).get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def signup(app, name: str, password: str = PASSWORD):
    c = client_of(app)
    rv = c.post("/account/register", data={"csrf": csrf(c, "/account/register"), "username": name,
                                           "password": password, "password2": password})
    assert rv.status_code == 303, rv.get_data(as_text=True)
    return c


def login(c, name: str, password: str = PASSWORD):
    return c.post("/account/login", data={"csrf": csrf(c), "username": name, "password": password})


def post(c, path: str, **data):
    return c.post(path, data={"csrf": csrf(c, "/account"), **data})


def session_cookie(c):
    return c.get_cookie("xmmdb_session")


def test_register_login_logout(shim):
    c = signup(shim, "alice")
    page = c.get("/account").get_data(as_text=True)
    assert c.get("/account").status_code == 200 and 'id="account-name"' in page and ">alice<" in page
    assert 'id="account-name"' in c.get("/").get_data(as_text=True)          # the account area on every page
    before_logout = session_cookie(c).value
    rv = c.post("/account/logout", data={"csrf": csrf(c, "/account")})
    assert rv.status_code == 303
    assert c.get("/account").status_code == 302                              # to the login page
    assert 'id="login-link"' in c.get("/").get_data(as_text=True)
    # the cookie of the ended session, sent again, is nobody's
    c.set_cookie("xmmdb_session", before_logout)
    assert c.get("/account").status_code == 302
    # logging in again rotates the session: a new cookie, a new CSRF token
    anonymous_token = csrf(c)
    rv = login(c, "ALICE")                                                   # names are not case-sensitive
    assert rv.status_code == 303
    assert session_cookie(c).value != before_logout
    assert csrf(c, "/account") != anonymous_token
    assert c.get("/account").status_code == 200


def test_the_session_cookie_and_anonymous_pages(shim):
    c = client_of(shim)
    assert "Set-Cookie" not in c.get("/").headers                            # browsing sets no cookie
    rv = c.get("/account/login")
    cookie = rv.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert rv.headers["Cache-Control"] == "no-store"
    secure = shim.test_client()
    rv = secure.get("/account/login", base_url="https://archive.example")
    assert "Secure" in rv.headers["Set-Cookie"]


def test_wrong_passwords_are_rate_limited(shim):
    signup(shim, "bob")
    guesser = client_of(shim)
    for _ in range(5):
        rv = login(guesser, "bob", "not the password")
        assert rv.status_code == 401 and "wrong name or password" in rv.get_data(as_text=True)
    rv = login(guesser, "bob")                                               # even the right one, now
    assert rv.status_code == 429 and "too many failed logins" in rv.get_data(as_text=True)
    assert login(client_of(shim), "bob").status_code == 429                  # per account, from any address
    # per address: many names guessed from one address
    signup(shim, "carol")
    sprayer = client_of(shim)
    for i in range(20):
        assert login(sprayer, f"nobody{i}", "whatever it is").status_code == 401
    assert login(sprayer, "carol").status_code == 429
    assert login(client_of(shim), "carol").status_code == 303                # from elsewhere she still can


def test_csrf_token_required(shim):
    c = signup(shim, "dave")
    for data in ({}, {"csrf": "forged"}, {"csrf": csrf(client_of(shim))}):   # none, wrong, another session's
        rv = c.post("/account/basket/add", data={**data, "srcid": "1"})
        assert rv.status_code == 400 and b"CSRF" in rv.data
        assert c.post("/account/logout", data=data).status_code == 400
        assert c.post("/account/queries", data={**data, "name": "x", "language": "search", "query": "M82"}
                      ).status_code == 400
    assert 'id="basket-empty"' in c.get("/account/basket").get_data(as_text=True)
    anonymous = client_of(shim)
    anonymous.get("/account/login")
    assert anonymous.post("/account/login", data={"username": "dave", "password": PASSWORD}).status_code == 400
    assert c.get("/account").status_code == 200                              # still logged in
    assert post(c, "/account/basket/add", srcid="1").status_code == 303


def test_register_refuses_bad_names_and_passwords(shim, web_dsn):
    signup(shim, "erin")
    c = client_of(shim)
    token = csrf(c, "/account/register")
    for name, password, status, words in (("x", PASSWORD, 400, "3 to 40"), ("erin2", "short", 400, "at least 10"),
                                          ("erin2", "erin" * 300, 400, "at most 1024"),
                                          ("ERIN", PASSWORD, 409, "taken"), ("Robert'); DROP", PASSWORD, 400, "3 to 40")):
        rv = c.post("/account/register", data={"csrf": token, "username": name, "password": password,
                                               "password2": password})
        assert rv.status_code == status and words in rv.get_data(as_text=True), (name, rv.status_code)
        assert password not in rv.get_data(as_text=True) or password == PASSWORD
    with psycopg.connect(web_dsn, autocommit=True) as su:
        su.execute("SELECT xmm_accounts.allow_registration(false)")
        try:
            assert c.get("/account/register").status_code == 403
            rv = c.post("/account/register", data={"csrf": token, "username": "frank", "password": PASSWORD,
                                                   "password2": PASSWORD})
            assert rv.status_code == 403 and "closed" in rv.get_data(as_text=True)
        finally:
            su.execute("SELECT xmm_accounts.allow_registration(true)")


def test_saved_queries_basket_and_shared_links(shim, bright):
    c = signup(shim, "grace")
    assert post(c, "/account/queries", name="bright ULXs", language="search", query="is_ulx = true").status_code == 303
    assert post(c, "/account/queries", name="top", language="adql",
                query="SELECT TOP 3 srcid FROM xmm.source").status_code == 303
    page = c.get("/account/queries").get_data(as_text=True)
    assert "bright ULXs" in page and "is_ulx = true" in page and "SELECT TOP 3" in page
    # from a search: the rows' boxes and "add this page"
    results = c.get("/?q=srcid IN {1, 2, 3}").get_data(as_text=True)
    assert 'form="basket-search-form"' in results and 'id="save-search"' in results
    assert post(c, "/account/basket/add", srcid=["1", "2"], next="/?q=x").headers["Location"] == "/?q=x"
    assert post(c, "/account/basket/add", all="1", page_srcid=["1", "2", "3"]).status_code == 303
    # from a source page
    src = bright["srcid"]
    assert 'id="basket-add"' in c.get(f"/source/{src}").get_data(as_text=True)
    post(c, "/account/basket/add", srcid=str(src), next=f"/source/{src}")
    assert 'id="in-basket"' in c.get(f"/source/{src}").get_data(as_text=True)
    post(c, "/account/basket/remove", srcid="2")
    csv = c.get("/account/basket.csv").get_data(as_text=True).splitlines()
    assert csv[0].split(",")[0] == "srcid" and [r.split(",")[0] for r in csv[1:]] == ["1", "3", str(src)]
    vot = c.get("/account/basket.vot").get_data(as_text=True)
    assert "<VOTABLE" in vot and vot.count("<TR>") == 3
    basket = c.get("/account/basket").get_data(as_text=True)
    assert 'id="samp-send"' in basket and f"srcid IN {{1, 3, {src}}}" in unquote_plus(html.unescape(basket))
    # shared links: read-only, for anyone, until deleted
    post(c, "/account/basket/share")
    link = re.search(r'id="basket-share-link" href="/shared/([0-9a-f]{32})"', c.get("/account/basket").get_data(
        as_text=True)).group(1)
    item = re.search(r'/account/queries/(\d+)/share', c.get("/account/queries").get_data(as_text=True)).group(1)
    post(c, f"/account/queries/{item}/share")
    qlink = re.search(r'class="share-link" href="/shared/([0-9a-f]{32})"',
                      c.get("/account/queries").get_data(as_text=True)).group(1)
    stranger = client_of(shim)
    rv = stranger.get(f"/shared/{link}")
    page = rv.get_data(as_text=True)
    assert rv.status_code == 200 and "A basket of 3 sources" in page and 'name="csrf"' not in page
    assert "grace" not in page and rv.headers["Referrer-Policy"] == "no-referrer"
    assert f"/export.vot?q=srcid IN {{1, 3, {src}}}" in unquote_plus(html.unescape(page))    # public searches
    page = stranger.get(f"/shared/{qlink}").get_data(as_text=True)
    assert "SELECT TOP 3 srcid FROM xmm.source" in page and 'name="csrf"' not in page
    assert stranger.post(f"/shared/{qlink}").status_code == 405
    assert stranger.get("/shared/" + "0" * 32).status_code == 404
    assert post(c, f"/account/links/{link}/delete").status_code == 303
    assert stranger.get(f"/shared/{link}").status_code == 404
    assert stranger.get(f"/shared/{qlink}").status_code == 200
    assert post(c, f"/account/queries/{item}/delete").status_code == 303        # the query goes, its link too
    assert stranger.get(f"/shared/{qlink}").status_code == 404


def test_one_user_cannot_reach_anothers_items(shim):
    owner, other = signup(shim, "heidi"), signup(shim, "ivan")
    post(owner, "/account/queries", name="mine", language="search", query="M82")
    post(owner, "/account/basket/add", srcid="5")
    item = re.search(r'/account/queries/(\d+)/share', owner.get("/account/queries").get_data(as_text=True)).group(1)
    post(owner, f"/account/queries/{item}/share")
    link = re.search(r'href="/shared/([0-9a-f]{32})"', owner.get("/account").get_data(as_text=True)).group(1)
    assert "M82" not in other.get("/account/queries").get_data(as_text=True)
    assert post(other, f"/account/queries/{item}/delete").status_code == 404
    assert post(other, f"/account/queries/{item}/share").status_code == 404
    assert post(other, f"/account/links/{link}/delete").status_code == 404
    post(other, "/account/basket/remove", srcid="5")
    assert post(other, "/account/basket/share").status_code == 303              # a link to ivan's own basket
    assert "A basket of 0 sources" in client_of(shim).get(
        re.search(r'href="(/shared/[0-9a-f]{32})"', other.get("/account").get_data(as_text=True)).group(1)
    ).get_data(as_text=True)
    anonymous = client_of(shim)
    for path in ("/account/queries", "/account/basket", "/account/basket.csv", "/account/history"):
        assert anonymous.get(path).status_code == 302
    assert "M82" in owner.get("/account/queries").get_data(as_text=True)
    assert ">5<" in owner.get("/account/basket").get_data(as_text=True)
    assert client_of(shim).get(f"/shared/{link}").status_code == 200


def test_password_change_ends_the_other_sessions(shim):
    laptop = signup(shim, "judy")
    phone = client_of(shim)
    assert login(phone, "judy").status_code == 303
    new = "a much longer passphrase"
    rv = post(laptop, "/account/password", old_password="wrong one here", new_password=new, new_password2=new)
    assert rv.status_code == 401
    rv = post(laptop, "/account/password", old_password=PASSWORD, new_password=new, new_password2=new)
    assert rv.status_code == 200 and "password changed" in rv.get_data(as_text=True)
    assert laptop.get("/account").status_code == 200
    assert phone.get("/account").status_code == 302
    assert login(client_of(shim), "judy").status_code == 401
    assert login(client_of(shim), "judy", new).status_code == 303


def test_history_of_fits_and_extractions(shim, bright):
    c = signup(shim, "karl")
    src = bright["photon_srcid"]
    assert c.get(f"/source/{src}/events.fits?radius=20").status_code == 200
    assert client_of(shim).get(f"/source/{src}/events.fits?radius=21").status_code == 200   # not logged in: kept nowhere
    fit = c.get(f"/source/{bright['spectrum_srcid']}/fit.json?model=phabs_pl")
    assert fit.status_code == 200
    page = c.get("/account/history").get_data(as_text=True)
    assert f"/source/{src}/events.fits?radius=20" in page and "extraction" in page
    assert f"/source/{bright['spectrum_srcid']}/fit.png?model=phabs_pl" in page and "model=phabs_pl" in page
    assert "radius=21" not in page
    post(c, "/account/history/clear")
    assert 'id="history-empty"' in c.get("/account/history").get_data(as_text=True)


def test_caps_per_account(shim, web_dsn):
    c = signup(shim, "leo")
    with psycopg.connect(resolve_dsn(web_dsn), autocommit=True) as conn:       # as the shim's login
        token = conn.execute("SELECT xmm_accounts.login('leo', %s, '10.9.9.9')", (PASSWORD,)).fetchone()[0]
        for i in range(100):
            conn.execute("SELECT xmm_accounts.save_query(%s, %s, 'search', 'M82')", (token, f"q{i}"))
        with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="100 saved queries"):
            conn.execute("SELECT xmm_accounts.save_query(%s, 'one more', 'search', 'M82')", (token,))
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="1 to 100 characters"):
            conn.execute("SELECT xmm_accounts.save_query(%s, %s, 'search', 'M82')", (token, "n" * 101))
        with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="20000 characters"):
            conn.execute("SELECT xmm_accounts.save_query(%s, 'q0', 'search', %s)", (token, "M" * 20001))
        assert conn.execute("SELECT xmm_accounts.basket_add(%s, ARRAY(SELECT generate_series(1, 1000)::bigint))",
                            (token,)).fetchone()[0] == 1000
        with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="at most 1000 sources"):
            conn.execute("SELECT xmm_accounts.basket_add(%s, ARRAY[5000::bigint])", (token,))
        for i in range(210):
            conn.execute("SELECT xmm_accounts.history_add(%s, 'fit', 'x', %s)", (token, f"/source/1/fit.json?i={i}"))
        assert conn.execute("SELECT count(*), min(url) FROM xmm_accounts.history(%s)", (token,)).fetchone() == (
            200, "/source/1/fit.json?i=10")
        with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification):
            conn.execute("SELECT * FROM xmm_accounts.basket('not a session')")
    rv = post(c, "/account/basket/add", srcid="5000")
    assert rv.status_code == 429 and b"at most 1000" in rv.data


def test_readers_cannot_reach_the_accounts_in_sql(shim, web_dsn):
    signup(shim, "mallory")
    shim_login, reader = resolve_dsn(web_dsn), login_dsn(web_dsn, "xmm_user")
    admin = ("SELECT xmm_accounts.allow_registration(true)", "SELECT * FROM xmm_accounts.account_list()",
             "SELECT xmm_accounts.reset_password('mallory')", "SELECT xmm_accounts.remove_account('mallory')",
             "SELECT xmm_accounts.hash_password('x')", "SELECT xmm_accounts.verify_password('x', 'y')",
             "SELECT xmm_accounts.open_session(1)", "SELECT xmm_accounts.account_of('x')")
    for dsn in (shim_login, reader):
        with psycopg.connect(dsn, autocommit=True) as conn:
            for sql in [f"SELECT * FROM xmm_accounts.{t}" for t in TABLES] + list(admin):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(sql)
    with psycopg.connect(reader, autocommit=True) as conn:                  # nor the shim's functions
        for sql in ("SELECT xmm_accounts.login('mallory', 'x', 'y')", "SELECT * FROM xmm_accounts.shared('x')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
    with psycopg.connect(shim_login, autocommit=True) as conn:              # the shim acts only with a session
        with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification):
            conn.execute("SELECT * FROM xmm_accounts.queries('')")
    # not in TAP_SCHEMA, and ADQL cannot name them
    with psycopg.connect(web_dsn) as su:
        assert su.execute("SELECT count(*) FROM tap_schema.tables WHERE table_name LIKE 'xmm_accounts.%%'"
                          " OR schema_name = 'xmm_accounts'").fetchone()[0] == 0
    rv = client_of(shim).get("/tap/sync", query_string={"REQUEST": "doQuery", "LANG": "ADQL",
                                                        "QUERY": "SELECT * FROM xmm_accounts.account"})
    assert b"QUERY_STATUS" in rv.data and b'value="ERROR"' in rv.data and b"argon2" not in rv.data


def test_passwords_never_appear_in_clear(shim, web_dsn):
    secret = "Zq7-unmistakable-secret"
    signup(shim, "nancy", secret)
    login(client_of(shim), "nancy", secret + "-typo")                         # a failure is kept, not its password
    c = client_of(shim)
    c.post("/account/register", data={"csrf": csrf(c, "/account/register"), "username": "oscar",
                                      "password": "Qx9-short", "password2": "Qx9-short"})    # refused: too short
    with psycopg.connect(web_dsn) as su:
        for table in TABLES:
            text = su.execute(f"SELECT coalesce(string_agg(t::text, '|'), '') FROM xmm_accounts.{table} t").fetchone()[0]
            assert secret not in text and "Qx9-short" not in text, table
        stored = su.execute("SELECT password_hash FROM xmm_accounts.account WHERE username = 'nancy'").fetchone()[0]
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        activity = su.execute("SELECT string_agg(coalesce(query, ''), '|') FROM pg_stat_activity").fetchone()[0]
        assert secret not in activity
        log = su.execute("SELECT pg_current_logfile()").fetchone()[0]
        if log:                                                            # the server's log, its last 4 MB
            size = su.execute("SELECT (pg_stat_file(%s)).size", (log,)).fetchone()[0]
            tail = su.execute("SELECT pg_read_file(%s, greatest(%s - 4194304, 0), 4194304)", (log, size)).fetchone()[0]
            assert secret not in tail and "Qx9-short" not in tail


# -- in a browser ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def live(shim):
    with served(shim, threads=4) as url:
        yield url


def test_in_a_browser_basket_saved_query_and_shared_link(live, bright, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    me = browser
    try:
        wait = WebDriverWait(me, 30, poll_frequency=0.2).until
        src = bright["srcid"]
        me.get(f"{live}/source/{src}")
        me.find_element(By.ID, "login-link").click()
        me.find_element(By.ID, "register-link").click()
        me.find_element(By.ID, "username").send_keys("petra")
        me.find_element(By.ID, "password").send_keys(PASSWORD)
        me.find_element(By.ID, "password2").send_keys(PASSWORD)
        me.find_element(By.ID, "register-go").click()
        wait(lambda d: d.current_url.endswith(f"/source/{src}"))              # back where she was
        assert me.find_element(By.ID, "account-name").text == "petra"
        me.find_element(By.ID, "basket-add").click()
        wait(lambda d: d.find_elements(By.ID, "in-basket"))
        me.get(f"{live}/?q=M82")
        me.find_element(By.ID, "save-search").click()
        wait(lambda d: d.find_elements(By.ID, "save-query-form"))
        assert me.find_element(By.ID, "query-text").get_attribute("value") == "M82"
        me.find_element(By.ID, "query-name").send_keys("the cigar")
        me.find_element(By.ID, "save-query").click()
        wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#queries button.share-query"))
        me.find_element(By.CSS_SELECTOR, "#queries button.share-query").click()
        link = wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#queries a.share-link"))[0].get_attribute("href")
        me.get(f"{live}/account/basket")
        assert me.find_element(By.ID, "basket-count").text == "1 source"
        me.find_element(By.ID, "basket-share").click()
        basket_link = wait(lambda d: d.find_elements(By.ID, "basket-share-link"))[0].get_attribute("href")
    finally:
        me.delete_all_cookies()
    stranger = browser                                                       # her cookie gone: a stranger
    try:
        stranger.get(link)
        assert stranger.find_element(By.ID, "shared-name").text == "the cigar"
        assert stranger.find_element(By.ID, "shared-query").text == "M82"
        assert stranger.find_elements(By.ID, "login-link") and not stranger.find_elements(By.ID, "account-name")
        stranger.get(basket_link)
        assert str(src) in stranger.find_element(By.ID, "basket").text
        stranger.find_element(By.ID, "shared-name")
        assert not stranger.find_elements(By.CSS_SELECTOR, "input[name=csrf]")
    finally:
        stranger.delete_all_cookies()
