"""Where the database is: $XMMDB_DSN, else the private cluster's var/dsn.

The Makefile exports XMMDB_DSN when set and otherwise starts the private
cluster, which writes var/dsn; every command (CLI, tests, web shim, bench)
resolves the DSN through this one function.
"""

import os
from pathlib import Path


class NoDatabase(RuntimeError):
    pass


def find_dsn(start: Path | None = None) -> str:
    dsn = os.environ.get("XMMDB_DSN", "").strip()
    if dsn:
        return dsn
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        f = folder / "var" / "dsn"
        if f.is_file():
            return f.read_text().strip()
    raise NoDatabase("no xmmdb database: run `make run` in the checkout (private cluster) "
                     "or set XMMDB_DSN to a libpq connection string")


def with_dbname(dsn: str, dbname: str) -> str:
    """The same server and user, another database."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    return make_conninfo(**{**conninfo_to_dict(dsn), "dbname": dbname})
