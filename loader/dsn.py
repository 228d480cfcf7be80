"""Where the database is. In this order:

1. `--dsn` on the command line;
2. $XMMDB_DSN;
3. inside a checkout, its private cluster (`var/dsn`, written by setup/cluster.sh);
4. elsewhere, the user's config file `$XDG_CONFIG_HOME/xmmdb/dsn` (else
   `~/.config/xmmdb/dsn`), written by `make run` (`xmmdb dsn --save`), so the
   command works from any directory.

Every command (CLI, tests, web shim, bench) resolves the DSN through `find_dsn`.
Tests and the bench name their checkout (`start`) and never read the config file.
"""

import os
from pathlib import Path


class NoDatabase(RuntimeError):
    pass


def config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "xmmdb" / "dsn"


def which_dsn(start: Path | None = None, explicit: str | None = None) -> tuple[str, str]:
    """(dsn, where it came from)."""
    if explicit and explicit.strip():
        return explicit.strip(), "--dsn"
    env = os.environ.get("XMMDB_DSN", "").strip()
    if env:
        return env, "$XMMDB_DSN"
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        f = folder / "var" / "dsn"
        if f.is_file():
            return f.read_text().strip(), str(f)
    if start is None and config_file().is_file() and config_file().read_text().strip():
        return config_file().read_text().strip(), str(config_file())
    raise NoDatabase("no xmmdb database: run `make run` in a checkout (private cluster), "
                     "or give --dsn or $XMMDB_DSN (a libpq connection string)")


def find_dsn(start: Path | None = None, explicit: str | None = None) -> str:
    return which_dsn(start, explicit)[0]


def save_dsn(dsn: str) -> Path:
    """Writes the user's config file (readable by the user only)."""
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(dsn + "\n")
    return path


def with_dbname(dsn: str, dbname: str) -> str:
    """The same server and user, another database."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    return make_conninfo(**{**conninfo_to_dict(dsn), "dbname": dbname})
