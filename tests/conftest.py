"""Fixtures: every test run gets its own scratch database on the running
server (the private cluster, or $XMMDB_DSN), created with the xmmdb extension
and loaded with the bundled sample sky, and dropped at the end. Concurrent
runs therefore never see each other's data."""

import contextlib
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

import psycopg
import psycopg.rows
import pytest

from xmmdb_loader import database
from xmmdb_loader.cli import load_sample
from xmmdb_loader.dsn import NoDatabase, find_dsn, with_dbname

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SAMPLE = REPO / "data" / "sample"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"      # screenshots and reports of the browser tests
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


# Scratch databases are named <kind>_<pid of the test process>.
SCRATCH_NAME = re.compile(r"xmm(?:test|test_[a-z0-9]+|regress|fault)_(\d+)")


def scratch_database(server_dsn: str, name: str, sample: bool = True) -> str:
    """A new database with the extension (and the sample sky: a copy of the run's template)."""
    dsn = with_dbname(server_dsn, name)
    drop_orphans(server_dsn)
    drop_database(server_dsn, name)
    if sample:
        template = sample_template(server_dsn)
        with psycopg.connect(with_dbname(server_dsn, "postgres"), autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Identifier(template)))
    else:
        database.ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not sample:
            database.ensure_extension(conn, None)
        database.configure_database(conn)      # per-database settings and grants are not copied
    return dsn


def run_pid() -> int:
    """The pid of this test run: under pytest-xdist its controller's (the workers' parent)."""
    return os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()


def sample_template(server_dsn: str) -> str:
    """The run's database with the extension and the sample sky, built once (by the first
    process to ask) and copied by CREATE DATABASE … TEMPLATE: ~0.3 s a copy, against ~10 s
    to create the extension and load the sample."""
    name = f"xmmtest_template_{run_pid()}"
    with psycopg.connect(with_dbname(server_dsn, "postgres"), autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))      # released when it closes
        if not lock.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            with psycopg.connect(scratch_database(server_dsn, name, sample=False)) as conn:
                load_sample(conn, SAMPLE)
    return name


# The slowest files first: pytest-xdist hands out whole files in the order collected, and a
# slow file handed out last keeps one core busy while the other has nothing left to do.
SLOWEST_FIRST = ("test_web_extraction.py", "test_web_browser.py", "test_hips.py", "test_upgrade.py", "test_init.py",
                 "test_tap_upload.py", "test_faults.py", "test_accounts.py", "test_web_history.py",
                 "test_bounded_fuzz.py", "test_cli.py", "test_backup.py", "test_web_vo.py", "test_timing_sql.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))      # stable: each file keeps its order


def pytest_sessionfinish(session):
    if not os.environ.get("PYTEST_XDIST_WORKER"):      # the run's last word: its template goes
        try:
            drop_database(find_dsn(REPO), f"xmmtest_template_{os.getpid()}")
        except (psycopg.OperationalError, NoDatabase):
            pass                                     # no server: nothing was made


def drop_orphans(server_dsn: str) -> None:
    """Drops the scratch databases of killed test runs: those whose process is gone."""
    with psycopg.connect(with_dbname(server_dsn, "postgres"), autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database")]
    for name in names:
        m = SCRATCH_NAME.fullmatch(name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            drop_database(server_dsn, name)


def drop_database(server_dsn: str, name: str) -> None:
    with psycopg.connect(with_dbname(server_dsn, "postgres"), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))


def table_digests(conn, all_tables: bool = False, without_times: bool = False) -> dict[str, tuple]:
    """Rows and a digest of their content for every table the extension registers for backups
    (all_tables: every table of the extension); without_times leaves out timestamp columns."""
    tables = conn.execute(
        "SELECT n.nspname || '.' || c.relname, c.relkind, c.oid FROM pg_extension e"
        " JOIN pg_depend d ON d.refobjid = e.oid AND d.deptype = 'e' AND d.classid = 'pg_class'::regclass"
        " JOIN pg_class c ON c.oid = d.objid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE e.extname = 'xmmdb' AND c.relkind IN ('r', 'S') AND (%s OR c.oid = ANY (e.extconfig))"
        " ORDER BY 1", (all_tables,)).fetchall()
    out = {}
    for name, kind, oid in tables:
        if kind == "S":
            out[name] = conn.execute(f"SELECT last_value, is_called FROM {name}").fetchone()
            continue
        columns = [c for c, in conn.execute(
            "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped"
            " AND NOT (%s AND atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype)) ORDER BY attnum",
            (oid, without_times))]
        out[name] = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))"
            f" FROM (SELECT {', '.join(columns)} FROM {name}) r").fetchone()
    return out


@pytest.fixture(scope="session")
def server_dsn() -> str:
    return find_dsn(REPO)


@pytest.fixture(scope="session")
def dsn(server_dsn):
    """A database with the sample sky, for the whole run."""
    name = f"xmmtest_{os.getpid()}"
    yield scratch_database(server_dsn, name)
    drop_database(server_dsn, name)


@pytest.fixture(scope="session")
def _booted(dsn):
    """Sessions whose PL/Python has booted (a boot is ~1 s), kept between tests."""
    idle = []
    yield idle
    for conn in idle:
        conn.close()


@pytest.fixture
def db(dsn, _booted):
    """A connection whose changes are rolled back after the test: a session that earlier tests
    booted, its settings, temporary objects and prepared statements discarded (DISCARD ALL),
    or a new one when a test ended its session."""
    conn = _booted.pop() if _booted else psycopg.connect(dsn)
    handlers = list(conn._notice_handlers)
    try:
        yield conn
    finally:
        if conn.closed or conn.broken:
            conn.close()
        else:
            conn.rollback()
            conn.autocommit = True
            conn.execute("DISCARD ALL")
            conn.autocommit = False
            conn.row_factory = psycopg.rows.tuple_row
            for handler in set(conn._notice_handlers) - set(handlers):
                conn.remove_notice_handler(handler)
            _booted.append(conn)


@pytest.fixture(autouse=True)
def _browser_leaves_its_page(request):
    """After a browser test the shared browser shows a blank page and its downloads are gone: an
    open sky view keeps Aladin Lite's render loop going (WebGL drawn in software), and the tests
    that follow would pay for it."""
    yield
    if "browser" in request.fixturenames:
        driver = request.getfixturevalue("browser")
        driver.get("about:blank")
        for f in driver.downloads.glob("*"):
            f.unlink()


# Animation frames at 10 per second, as on a slow display: Aladin Lite asks for a frame 60
# times a second whatever it shows, and headless Chromium draws WebGL in software, so at 60 the
# browser alone keeps half a core busy while a sky view is open.
FRAMES_10_PER_SECOND = """
(() => {
  const ask = window.requestAnimationFrame.bind(window), cancel = window.cancelAnimationFrame.bind(window);
  const waiting = new Map();          // id given -> [timer, frame asked when it fires]
  let next = 0;
  window.requestAnimationFrame = cb => {
    const id = ++next;
    const timer = setTimeout(() => waiting.set(id, [0, ask(t => { waiting.delete(id); cb(t); })]), 100);
    waiting.set(id, [timer, 0]);
    return id;
  };
  window.cancelAnimationFrame = id => {
    const [timer, frame] = waiting.get(id) || [0, 0];
    clearTimeout(timer);
    if (frame) cancel(frame);
    waiting.delete(id);
  };
})();
"""


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the run (each test process), shared by the browser tests; each
    test leaves it on a blank page (_browser_leaves_its_page), a test that logs in deletes its cookies."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), \
        "Debian chromium and chromium-driver are missing (setup/deps.sh installs them)"
    profile = tempfile.mkdtemp(prefix="xmmdb-chromium-")
    downloads = tempfile.mkdtemp(prefix="xmmdb-downloads-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000", "--hide-scrollbars", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": downloads,
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FRAMES_10_PER_SECOND})
    driver.set_page_load_timeout(60)
    driver.downloads = Path(downloads)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
    shutil.rmtree(downloads, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_data():
    """The real XMM-Newton files beside the checkout: a test that needs them fails without them."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: the real-data tests need ../shared/data beside the checkout")
    return SHARED


@contextlib.contextmanager
def served(app, threads: int = 6):
    """The shim served by waitress on a free loopback port, as `make run` serves it: its base URL,
    for browsers, pyvo and STILTS."""
    from waitress import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=threads, ident="xmmdb-test")
    threading.Thread(target=server.run, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
