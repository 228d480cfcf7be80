"""Creating the xmmdb database and keeping its extension current (`xmmdb init`)."""

import re
import sysconfig

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from .dsn import with_dbname

REQUIRED_EXTENSIONS = ("q3c", "pg_sphere", "plpython3u")


def python_lib_dir() -> str:
    """site-packages of the venv this code runs from: PL/Python imports from there too."""
    return sysconfig.get_paths()["purelib"]


def ensure_database(dsn: str) -> bool:
    """Creates the DSN's database if it does not exist; True if it was created."""
    name = conninfo_to_dict(dsn).get("dbname") or "xmm"
    with psycopg.connect(with_dbname(dsn, "postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


class WouldDropData(Exception):
    """The extension must be re-created, and that would drop data the caller did not say may go."""


class NoUpgradePath(Exception):
    """The installed extension cannot be brought to the available version in place."""


def ensure_extension(conn: psycopg.Connection, available_build: str | None,
                     keep_data: bool = True, expendable: frozenset[str] = frozenset()) -> str:
    """Installs xmmdb, or brings the installed one to the available version.

    Returns what it did: 'created', 'current', 'updated from A to B' (ALTER
    EXTENSION UPDATE: in place, every row kept) or 'rebuilt'. Rebuilding
    happens only between two development builds of one unreleased version,
    which have no upgrade script between them; it drops the extension's data,
    so with keep_data it refuses (WouldDropData) while xmm.load_log records a
    file whose sha256 is not in `expendable` (the bundled sample, which the
    caller reloads).
    """
    for ext in REQUIRED_EXTENSIONS:
        conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'xmmdb'").fetchone()
    if not row:
        conn.execute("CREATE EXTENSION xmmdb")
        return "created"
    installed = row[0]
    available = conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'xmmdb'").fetchone()[0]
    if installed != available:
        try:
            conn.execute("ALTER EXTENSION xmmdb UPDATE")
        except psycopg.errors.UndefinedFunction as exc:     # a release's new C function, an old module loaded
            raise NoUpgradePath(
                f"database {conn.info.dbname!r}: the upgrade from xmmdb {installed} to {available} needs the new C "
                f"module, and the server still runs the one it started with ({exc.diag.message_primary}); nothing "
                f"was changed: restart PostgreSQL (make start does for the private cluster), then xmmdb init") from None
        except psycopg.errors.InvalidParameterValue as exc:   # no update path
            raise NoUpgradePath(
                f"database {conn.info.dbname!r} has xmmdb {installed}, and this installation offers {available} "
                f"with no upgrade path between them ({exc.diag.message_primary}); nothing was changed "
                f"(a newer archive needs the software of its version)") from None
        return f"updated from {installed} to {available}"
    current = conn.execute("SELECT xmm.build_id()").fetchone()[0]
    if available_build is None or current == available_build:
        return "current"
    if keep_data:
        refuse_drop(conn, current, available_build, expendable)
    conn.execute("DROP EXTENSION xmmdb CASCADE")
    conn.execute("CREATE EXTENSION xmmdb")
    return "rebuilt"


def refuse_drop(conn: psycopg.Connection, current: str, available: str, expendable: frozenset[str]) -> None:
    files = [f for f, digest in conn.execute("SELECT file, sha256 FROM xmm.load_log ORDER BY load_id")
             if digest not in expendable]
    if files:
        raise WouldDropData(
            f"database {conn.info.dbname!r} holds data loaded from {len(files)} file(s) besides the sample "
            f"(first {files[0]}); the installed xmmdb is another development build (build {current}) of the "
            f"version available (build {available}), which has no upgrade script between builds, and re-creating "
            f"the extension would drop those data; nothing was changed (to re-create it anyway: "
            f"xmmdb init --rebuild, then load those files again)")


def loaded_digests(conn: psycopg.Connection) -> set[str]:
    """sha256 of every file xmm.load_log records."""
    return {d for (d,) in conn.execute("SELECT sha256 FROM xmm.load_log")}


def configure_database(conn: psycopg.Connection) -> None:
    """search_path so users write `source`, `xmm_fit(...)`; where PL/Python finds xmmdb; who may
    connect: the reader and loader groups to this database, nobody but the superuser to the
    cluster's own databases; the archive's own login roles (loader/roles.py)."""
    db = sql.Identifier(conn.info.dbname)
    # The REVOKEs below rewrite rows of the cluster's pg_database that every database's set-up
    # shares: two at once fail with "tuple concurrently updated". One at a time, cluster-wide:
    # a lock on the shared catalogue itself (an advisory lock would be per database).
    with conn.transaction():
        conn.execute("LOCK TABLE pg_catalog.pg_database IN SHARE ROW EXCLUSIVE MODE")
        _configure(conn, db)


def _configure(conn: psycopg.Connection, db) -> None:
    from .roles import ensure_service_logins

    conn.execute(sql.SQL("ALTER DATABASE {} SET search_path = xmm, public").format(db))
    conn.execute(sql.SQL("ALTER DATABASE {} SET xmm.python_lib_dir = {}").format(db, sql.Literal(python_lib_dir())))
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
    conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO xmm_reader, xmm_loader").format(db))
    for other in ("postgres", "template1"):
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(other)))
    ensure_service_logins(conn)


def available_build_id(conn: psycopg.Connection) -> str | None:
    """The build id the install script PostgreSQL would load now defines (its first statement)."""
    row = conn.execute(
        "SELECT pg_read_file(c.setting || '/extension/xmmdb--' || e.default_version || '.sql')"
        "  FROM pg_config c, pg_available_extensions e"
        " WHERE c.name = 'SHAREDIR' AND e.name = 'xmmdb'").fetchone()
    found = row and re.search(r"FUNCTION xmm\.build_id\(\) .* SELECT '([0-9a-f]{16})' \$\$;", row[0])
    return found.group(1) if found else None
