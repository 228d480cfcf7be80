"""Runs the SQL regression suite (tests/sql/*.sql against tests/expected/*.out)
with PostgreSQL's pg_regress, in a scratch database of the running server."""

import os
import subprocess
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

sys.path.insert(0, str(Path(__file__).parent))
from conftest import REPO, drop_database, scratch_database  # noqa: E402

from xmmdb_loader.dsn import find_dsn  # noqa: E402

PG_REGRESS = "/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress"


def main() -> int:
    server = find_dsn(REPO)
    name = f"xmmregress_{os.getpid()}"
    scratch_database(server, name, sample=False)
    params = conninfo_to_dict(server)
    tests = sorted(p.stem for p in (REPO / "tests" / "sql").glob("*.sql"))
    out = REPO / "tests" / "artifacts" / "regress"
    out.mkdir(parents=True, exist_ok=True)
    cmd = [PG_REGRESS, "--use-existing", f"--dbname={name}", f"--inputdir={REPO / 'tests'}",
           f"--outputdir={out}", f"--host={params.get('host', 'localhost')}", f"--port={params.get('port', 5432)}",
           f"--user={params.get('user', 'postgres')}", *tests]
    try:
        result = subprocess.run(cmd)
    finally:
        drop_database(server, name)
    if result.returncode:
        print((out / "regression.diffs").read_text()[:20000], file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
