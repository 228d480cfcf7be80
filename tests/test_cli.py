"""The `xmmdb` command as a user meets it: from any directory, with its
database found by --dsn, $XMMDB_DSN, the checkout, or the saved config; help
for each kind of file; status; and `init` upgrading an older archive in place."""

import os
import re
import subprocess
import sys

import psycopg
import pytest
from astropy.io import fits
from conftest import REPO, SAMPLE, drop_database

import xmmdb
from xmmdb_loader import database
from xmmdb_loader.dsn import with_dbname

XMMDB = [sys.executable, "-m", "xmmdb_loader.cli"]


def run(args, cwd, env=None, check=True):
    out = subprocess.run(XMMDB + args, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A directory outside any checkout, and a config home of its own."""
    monkeypatch.delenv("XMMDB_DSN", raising=False)
    (tmp_path / "work").mkdir()
    return tmp_path / "work", {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XMMDB_DSN": ""}


def test_status_from_any_directory_after_the_dsn_is_saved(elsewhere, dsn):
    cwd, env = elsewhere
    missing = run(["status"], cwd, env, check=False)
    assert missing.returncode == 1 and "no xmmdb database" in missing.stderr and "--dsn" in missing.stderr
    saved = run(["--dsn", dsn, "dsn", "--save"], cwd, env)
    assert saved.stdout.strip() == dsn and "from --dsn" in saved.stderr
    assert (cwd.parent / "config" / "xmmdb" / "dsn").stat().st_mode & 0o777 == 0o600
    which = run(["dsn"], cwd, env)
    assert which.stdout.strip() == dsn and "config" in which.stderr
    status = run(["status"], cwd, env).stdout
    assert f"extension {xmmdb.__version__}, Python package {xmmdb.__version__}" in status
    n_sources = len(set(fits.getdata(SAMPLE / "catalogue" / "xmmdb_sample_cat.fits")["SRCID"].tolist()))
    assert re.search(rf"sources +{n_sources:,}\n", status) and "photons" in status


def test_dsn_order(elsewhere, dsn):
    cwd, env = elsewhere
    assert run(["dsn"], cwd, {**env, "XMMDB_DSN": "dbname=from_env"}).stdout.strip() == "dbname=from_env"
    assert run(["--dsn", "dbname=given", "dsn"], cwd, {**env, "XMMDB_DSN": "dbname=from_env"}
               ).stdout.strip() == "dbname=given"
    inside = run(["dsn"], REPO / "docs", env)
    assert "var/dsn" in inside.stderr


def test_version_and_help_for_each_kind(elsewhere):
    cwd, env = elsewhere
    assert run(["--version"], cwd, env).stdout.strip() == f"xmmdb {xmmdb.__version__}"
    helps = {kind: run(["load", kind, "--help"], cwd, env).stdout for kind in ("catalogue", "responses", "products",
                                                                                "events")}
    assert len(set(helps.values())) == 4
    assert "OBS_ID" in helps["catalogue"] and "RESPFILE" in helps["products"] and "GTI" in helps["events"]
    assert "canned" in helps["responses"]


def test_simulate_needs_an_output_folder(elsewhere):
    cwd, env = elsewhere
    out = run(["simulate"], cwd, env, check=False)
    assert out.returncode == 2 and "--out" in out.stderr
    assert not (cwd / "data").exists()


def test_init_upgrades_an_older_archive_in_place(server_dsn, elsewhere):
    cwd, env = elsewhere
    name = f"xmmtest_cliupgrade_{os.getpid()}"
    drop_database(server_dsn, name)
    target = with_dbname(server_dsn, name)
    try:
        database.ensure_database(target)
        with psycopg.connect(target, autocommit=True) as conn:
            for ext in database.REQUIRED_EXTENSIONS:
                conn.execute(f"CREATE EXTENSION {ext}")
            conn.execute("CREATE EXTENSION xmmdb VERSION '0.1.0'")
            conn.execute("INSERT INTO xmm.load_log (format, file, sha256, n_rows, summary) VALUES ('catalogue', 'mine.fits', 'x', 0, '{}')")
        out = run(["--dsn", target, "init"], cwd, env)
        assert f"updated from 0.1.0 to {xmmdb.__version__}" in out.stderr
        with psycopg.connect(target) as conn:
            assert conn.execute("SELECT file FROM xmm.load_log").fetchall() == [("mine.fits",)]
        assert "current" in run(["--dsn", target, "init"], cwd, env).stderr
    finally:
        drop_database(server_dsn, name)


def test_the_database_phase_of_a_load_shows_elapsed_time_rows_and_rate():
    import io
    import time

    from xmmdb_loader.progress import phase

    shown = io.StringIO()
    with phase("cat.fits: validate and upsert in the database", 5000, tick=True, out=shown):
        time.sleep(1.3)
    text = shown.getvalue()
    assert "\rcat.fits: validate and upsert in the database: 5,000 rows, 1 s …" in text
    assert text.rstrip().endswith("rows/s)") and "5,000 rows in 1." in text
    quiet = io.StringIO()
    with phase("short", 10, tick=False, out=quiet):
        pass
    assert quiet.getvalue() == ""            # not a terminal, and quick: the final summary line says enough
