"""SQL clients: TOPCAT's engine (stilts) reads the archive through the real
PostgreSQL JDBC driver as a reader login (over TCP, SCRAM), with every column typed."""

import re
import shutil
import subprocess

import pytest
from psycopg.conninfo import conninfo_to_dict

from xmmdb_loader.roles import stored_passwords

PLAIN = {"bigint", "integer", "smallint", "real", "double precision", "text", "boolean"}
JDBC_JAR = "/usr/share/java/postgresql.jar"


def test_client_views_have_only_plain_types(db):
    rows = db.execute("""
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relnamespace = 'xmmpub'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped""").fetchall()
    assert {r[0] for r in rows} >= {"source", "detection", "observation", "catalogue", "photon", "spectrum"}
    assert [r for r in rows if r[2] not in PLAIN] == []


def jdbc_url(dsn: str) -> str:
    """As a TOPCAT user made with `xmmdb user add`: the archive's own reader login and its password."""
    p = conninfo_to_dict(dsn)
    host = p.get("host", "127.0.0.1")
    host = "127.0.0.1" if host.startswith("/") else host
    password = stored_passwords()["xmm_user"]
    return f"jdbc:postgresql://{host}:{p.get('port', 5432)}/{p['dbname']}?user=xmm_user&password={password}"


def stilts(*args: str) -> str:
    assert shutil.which("stilts"), "stilts is missing (setup/deps.sh installs it)"
    out = subprocess.run(["stilts", "-classpath", JDBC_JAR, "-Djdbc.drivers=org.postgresql.Driver", *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("view", ["source", "detection", "observation", "catalogue", "spectrum", "exposure", "gti"])
def test_stilts_reads_each_view_typed(dsn, view):
    meta = stilts("tpipe", f"in={jdbc_url(dsn)}#SELECT * FROM xmmpub.{view}", "omode=meta")
    columns = re.findall(r"^\s+\d+: (\w+)\((\w+)\)", meta, re.M)
    assert columns, meta
    untyped = [c for c, t in columns if t not in {"Long", "Integer", "Short", "Float", "Double", "String", "Boolean"}]
    assert untyped == []


def test_stilts_runs_a_cone_search_and_writes_votable(dsn, tmp_path):
    query = ("SELECT srcid, iauname, sc_ra, sc_dec, sc_ep_8_flux FROM xmmpub.source "
             "WHERE q3c_radial_query(sc_ra, sc_dec, 10.68, 41.27, 0.2)")
    out = tmp_path / "m31.vot"
    stilts("tpipe", f"in={jdbc_url(dsn)}#{query}", f"out={out}", "ofmt=votable")
    from astropy.table import Table

    table = Table.read(out)
    assert len(table) > 20
    assert table["sc_ra"].dtype.kind == "f" and table["srcid"].dtype.kind == "i"
