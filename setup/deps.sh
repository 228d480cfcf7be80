#!/usr/bin/env bash
# Installs the Debian packages xmmdb needs and repairs Debian's pgsphere 1.2.0
# install script. Idempotent and non-interactive; prints one line per action.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

PACKAGES=(
  postgresql-15 postgresql-contrib postgresql-15-q3c postgresql-15-pgsphere postgresql-plpython3-15
  postgresql-server-dev-15                    # builds the extension's C module (src/)
  python3.11 python3.11-venv python3.11-dev   # the interpreter PL/Python embeds, and headers for builds
  bison flex libfftw3-dev                     # Sherpa 4.19 builds from source
  stilts libpostgresql-jdbc-java              # TOPCAT's engine and the JDBC driver (client tests)
  chromium chromium-driver                    # browser tests of the web shim
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages present"
fi

# Debian's pg_sphere--1.2.0.sql declares two DaCHS-compatibility operators
# `bigint @ smoc` and `spoint @ smoc` whose COMMUTATOR '@>' is already the
# commutator of '<@', so CREATE EXTENSION pg_sphere fails on PostgreSQL 15 with
# "commutator operator @> is already the commutator of operator <@".
# Upstream pgsphere removed exactly these two operators (PR #92); we do the same.
SHAREDIR=$(/usr/lib/postgresql/15/bin/pg_config --sharedir)/extension
for f in "$SHAREDIR/pg_sphere--1.2.0.sql" "$SHAREDIR/pg_sphere--1.1.5beta4gavo--1.2.0.sql"; do
  [ -f "$f" ] || continue
  $SUDO /usr/bin/python3.11 - "$f" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
# Each `CREATE OPERATOR @ (...)` whose right argument is smoc.
pattern = re.compile(r"CREATE OPERATOR @ \(\s*LEFTARG\s*=\s*\w+,\s*RIGHTARG\s*=\s*smoc,.*?\);\n", re.S)
patched, n = pattern.subn("", text)
if n:
    open(path, "w").write(patched)
    print(f"setup: pgsphere fix (upstream PR #92): removed {n} DaCHS '@' operators on smoc from {path}")
else:
    print(f"setup: pgsphere fix (upstream PR #92) already applied to {path.rsplit('/', 1)[-1]}")
PY
done
