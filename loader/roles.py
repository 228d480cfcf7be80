"""Login roles: who connects to the archive, with which password and limits.

The extension makes two groups that cannot log in (sql/91_roles.sql):
xmm_reader (read and compute) and xmm_loader (load). People and services log
in with roles of their own that belong to one of them:

    xmm_web    reader   the web shim and its TAP service (`make run`)
    xmm_user   reader   the installing user's own reader (`xmmdb dsn --role reader`)
    xmm_load   loader   loads (`xmmdb dsn --role loader`)
    NAME       either   `xmmdb user add NAME --role reader`: a JDBC (TOPCAT) user, a colleague

Each gets a generated password, stored only in the installing user's pgpass
file (`~/.config/xmmdb/pgpass`, mode 0600; the server keeps a SCRAM verifier
computed here, so the password never travels in SQL or reaches a log), and
the reader limits below as its own settings, so one user's `ALTER ROLE … SET`
changes nobody else's. The superuser logs in only over the Unix socket as the
cluster's owner (peer authentication, setup/cluster.sh).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .dsn import config_file

GROUPS = {"reader": "xmm_reader", "loader": "xmm_loader"}
SERVICE_LOGINS = {"xmm_web": ("reader", 24), "xmm_user": ("reader", 8), "xmm_load": ("loader", 4)}
DEFAULT_CONNECTIONS = {"reader": 8, "loader": 4}
MAX_CONNECTIONS_PER_ROLE = 64
# What every reader login gets as its own settings. temp_file_limit only a
# superuser may change; the others a session can lower but not escape: the
# server's watchdog enforces the reader limits whatever a session sets.
READER_SETTINGS = {
    "statement_timeout": "60s",
    "idle_in_transaction_session_timeout": "5min",
    "idle_session_timeout": "1h",
    "temp_file_limit": "2GB",
    "work_mem": "64MB",
}
LOADER_SETTINGS: dict[str, str] = {}       # search_path: the database's (xmm, public)
NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class RoleError(RuntimeError):
    pass


def pgpass_file() -> Path:
    return config_file().parent / "pgpass"


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677)."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()   # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def stored_passwords() -> dict[str, str]:
    """user -> password from the pgpass file (entries this module wrote: any host, port and database)."""
    path = pgpass_file()
    out = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            parts = line.split(":")
            if len(parts) == 5 and parts[:3] == ["*", "*", "*"]:
                out[parts[3]] = parts[4]
    return out


def _rewrite_pgpass(user: str, password: str | None) -> None:
    """Sets (or with None removes) one user's line, under a lock, replacing the file at once:
    a reader never sees it half written."""
    path = pgpass_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        keep = [line for line in (path.read_text().splitlines() if path.is_file() else [])
                if not line.startswith(f"*:*:*:{user}:")]
        if password is not None:
            keep.append(f"*:*:*:{user}:{password}")
        tmp = path.with_suffix(f".{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(line + "\n" for line in keep))
        os.replace(tmp, path)


def store_password(user: str, password: str) -> None:
    _rewrite_pgpass(user, password)


def forget_password(user: str) -> None:
    _rewrite_pgpass(user, None)


def password_works(conn: psycopg.Connection, user: str, password: str) -> bool:
    """Whether the server takes this password for user (a login to the connection's database)."""
    params = {**conninfo_to_dict(conn.info.dsn), "user": user, "password": password, "connect_timeout": "5"}
    params.pop("passfile", None)
    try:
        psycopg.connect(make_conninfo(**params)).close()
    except psycopg.OperationalError as exc:
        return "password authentication failed" not in str(exc)
    return True


def ensure_login(conn: psycopg.Connection, name: str, role: str, connections: int | None = None,
                 reset_unknown: bool = True) -> None:
    """Creates (or brings up to date) the login `name` in group `role` with its limits and a password
    in the pgpass file. Needs a superuser connection. An existing login whose password this user's
    file does not know keeps it unless reset_unknown (another user of the cluster may hold it); one
    whose stored password the server refuses gets a new one."""
    if role not in GROUPS:
        raise RoleError(f"unknown role {role!r}: reader or loader")
    if not NAME.fullmatch(name) or name in GROUPS.values() or name.startswith("pg_") or name == "postgres":
        raise RoleError(f"{name!r} cannot be a login name: lower-case letters, digits and _, "
                        f"not postgres, pg_… or a group's name")
    connections = DEFAULT_CONNECTIONS[role] if connections is None else connections
    if not 1 <= connections <= MAX_CONNECTIONS_PER_ROLE:
        raise RoleError(f"connections must be from 1 to {MAX_CONNECTIONS_PER_ROLE}, not {connections}")
    with conn.transaction():
        roles_locked(conn)
        _ensure_login(conn, name, role, connections, reset_unknown)


def roles_locked(conn: psycopg.Connection) -> None:
    """The roles and their settings are the cluster's: two processes changing them at once (two
    databases set up together) fail with 'tuple concurrently updated' or a duplicate key. Every
    change takes this lock first (the extension's install script too), so the second waits."""
    conn.execute("LOCK TABLE pg_catalog.pg_authid IN SHARE ROW EXCLUSIVE MODE")


def _ensure_login(conn: psycopg.Connection, name: str, role: str, connections: int, reset_unknown: bool) -> None:
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    if row and row[0]:
        raise RoleError(f"{name!r} is a superuser: it cannot become a {role}")
    stored = stored_passwords().get(name)
    if not row:
        new = stored or secrets.token_urlsafe(24)
    elif stored is None:
        new = secrets.token_urlsafe(24) if reset_unknown else None
    else:
        new = None if password_works(conn, name, stored) else secrets.token_urlsafe(24)
    ident = sql.Identifier(name)
    if new is not None:
        store_password(name, new)        # first: a password the server has is never one we lost
        verifier = sql.Literal(scram_verifier(new))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                             "INHERIT PASSWORD {}" if not row else "ALTER ROLE {} PASSWORD {}").format(ident, verifier))
    other = {"reader": "xmm_loader", "loader": "xmm_reader"}[role]
    if conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (name, other)).fetchone()[0]:
        conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(other), ident))
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(GROUPS[role]), ident))
    conn.execute(sql.SQL("ALTER ROLE {} LOGIN CONNECTION LIMIT {}").format(ident, sql.Literal(connections)))
    conn.execute(sql.SQL("ALTER ROLE {} RESET ALL").format(ident))
    for key, value in (READER_SETTINGS if role == "reader" else LOADER_SETTINGS).items():
        conn.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(ident, sql.Identifier(key), sql.Literal(value)))


# Groups a service login belongs to beside its role's: the web shim keeps the TAP jobs (sql/82_uws.sql).
SERVICE_GROUPS = {"xmm_web": ("xmm_tap",)}


def ensure_service_logins(conn: psycopg.Connection) -> None:
    with conn.transaction():
        roles_locked(conn)
        for name, (role, connections) in SERVICE_LOGINS.items():
            ensure_login(conn, name, role, connections, reset_unknown=False)
            for group in SERVICE_GROUPS.get(name, ()):
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name)))


def remove_login(conn: psycopg.Connection, name: str) -> None:
    if name in SERVICE_LOGINS:
        raise RoleError(f"{name} is one of the archive's own logins: it stays")
    if not conn.execute("SELECT 1 FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid"
                        " JOIN pg_roles g ON g.oid = m.roleid WHERE r.rolname = %s AND g.rolname = ANY(%s)",
                        (name, list(GROUPS.values()))).fetchone():
        raise RoleError(f"{name!r} is not a reader or loader login")
    with conn.transaction():
        roles_locked(conn)
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    forget_password(name)


def logins(conn: psycopg.Connection) -> list[tuple]:
    """(name, role, connection limit, settings) of every login in a group."""
    return conn.execute("""
        SELECT r.rolname, CASE g.rolname WHEN 'xmm_reader' THEN 'reader' ELSE 'loader' END, r.rolconnlimit,
               coalesce((SELECT array_to_string(s.setconfig, ', ') FROM pg_db_role_setting s
                          WHERE s.setrole = r.oid AND s.setdatabase = 0), '')
          FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
         WHERE g.rolname IN ('xmm_reader', 'xmm_loader') AND r.rolcanlogin ORDER BY 1""").fetchall()


def login_dsn(server_dsn: str, name: str) -> str:
    """The server DSN as login `name`, its password read from the pgpass file."""
    if name not in stored_passwords():
        raise RoleError(f"no password for {name!r} in {pgpass_file()}: create it with "
                        f"`xmmdb user add {name} --role reader` (or `xmmdb init` for the archive's own logins)")
    params = conninfo_to_dict(server_dsn)
    params.pop("password", None)
    return make_conninfo(**{**params, "user": name, "passfile": str(pgpass_file())})


def role_login(role: str) -> str:
    """The archive's own login of a role: reader -> xmm_user, loader -> xmm_load."""
    return {"reader": "xmm_user", "loader": "xmm_load"}[role]
