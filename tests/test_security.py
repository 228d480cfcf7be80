"""A reader is a reader: no path from the role that TAP, JDBC and web users
connect as to code execution or to another role's powers."""

import os
import stat

import psycopg
import pytest
from psycopg import sql


def extension_functions(conn):
    return conn.execute("""
        SELECT p.oid::regprocedure::text, l.lanname, p.prosecdef, p.proconfig
          FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
          JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
          JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'xmmdb'""").fetchall()


def search_path_of(config):
    for item in config or []:
        if item.startswith("search_path="):
            return [p.strip() for p in item.split("=", 1)[1].split(",")]
    return None


def test_functions_search_pg_temp_last(db):
    """Untrusted-language and definer functions pin a search path; every pinned path ends with pg_temp."""
    functions = extension_functions(db)
    assert len(functions) > 50
    wrong = []
    for name, language, definer, config in functions:
        path = search_path_of(config)
        if (language == "plpython3u" or definer) and path is None:
            wrong.append((name, "no search_path"))
        elif path is not None and path[-1] != "pg_temp":
            wrong.append((name, path))
    assert wrong == []


@pytest.fixture
def attacker_dir(tmp_path):
    """A directory a reader could write, holding a package named xmmdb that leaves a mark when imported."""
    evil = tmp_path / "evil"
    (evil / "xmmdb").mkdir(parents=True)
    marker = tmp_path / "pwned"
    (evil / "xmmdb" / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n__version__ = '0'\n")
    (evil / "xmmdb" / "server.py").write_text("def configure():\n    pass\n")
    for p in (tmp_path, evil, evil / "xmmdb"):
        p.chmod(p.stat().st_mode | stat.S_IRWXO)
    for f in (evil / "xmmdb").iterdir():
        f.chmod(0o644)
    return evil, marker


SHADOW = """
CREATE TEMP TABLE pg_db_role_setting (setdatabase oid, setrole oid, setconfig text[]);
INSERT INTO pg_temp.pg_db_role_setting
SELECT d.oid, 0, ARRAY['xmm.python_lib_dir={lib}'] FROM pg_catalog.pg_database d
 WHERE d.datname = current_database()
"""


@pytest.mark.parametrize("call", [
    "SELECT * FROM xmm_resolve('M 82')",
    "SELECT * FROM xmm_fit_detection((SELECT detid FROM xmm.spectrum WHERE detid IS NOT NULL LIMIT 1),"
    " 'EPN', 'phabs_pl', '{\"stat\": \"cstat\", \"emin\": 0.51}')",
])
def test_a_temporary_catalogue_table_cannot_redirect_imports(dsn, attacker_dir, call):
    """The first PL/Python call of a session boots; a reader's temporary pg_db_role_setting naming
    its own directory must not be read (through a plain function nor the definer fit)."""
    evil, marker = attacker_dir
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET ROLE xmm_reader")
        conn.execute(SHADOW.format(lib=evil))
        try:
            conn.execute(call.replace("'EPN'", "(SELECT instrument FROM xmm.spectrum WHERE detid IS NOT NULL LIMIT 1)"))
        except psycopg.Error:
            pass     # whatever the call says, what matters is what was imported
        assert not marker.exists(), "the server imported the reader's code"
        conn.execute("RESET ROLE")
        assert not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'xmm_reader'").fetchone()[0]
