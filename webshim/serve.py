"""Run the web shim with waitress in the background.

    python -m xmmdb_web.serve start --port 8008 --state var   # idempotent: a running shim is left alone
    python -m xmmdb_web.serve stop --state var
    python -m xmmdb_web.serve run --port 8008                 # in the foreground

The state dir holds web.pid and web.log. The shim listens on 127.0.0.1 unless
--host says otherwise; it connects with $XMMDB_WEB_DSN, else the xmmdb DSN as
the read-only role xmm_reader when that role exists.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie or a recycled pid that is not ours
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        return b"xmmdb_web.serve" in cmd
    except OSError:
        return True


def _read_pid(state: Path) -> int | None:
    try:
        return int((state / "web.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def run(host: str, port: int, threads: int, dsn: str | None = None) -> None:
    import logging

    from waitress import serve

    from .app import create_app

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    serve(create_app(dsn), host=host, port=port, threads=threads, ident="xmmdb", channel_timeout=120,
          connection_limit=200, backlog=256)


def start(args) -> int:
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    pid = _read_pid(state)
    if pid and _alive(pid):
        if _port_open(args.host, args.port):
            return 0  # already running
        stop(args)
    if _port_open(args.host, args.port):
        print(f"web: port {args.port} is in use by another program; choose another (make run WEB_PORT=…)",
              file=sys.stderr)
        return 1
    log = open(state / "web.log", "ab")
    cmd = [sys.executable, "-m", "xmmdb_web.serve", "run", "--host", args.host, "--port", str(args.port),
           "--threads", str(args.threads)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=os.getcwd())
    (state / "web.pid").write_text(f"{proc.pid} {args.port}\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"web: the shim exited at start (code {proc.returncode}); see {state / 'web.log'}", file=sys.stderr)
            (state / "web.pid").unlink(missing_ok=True)
            return 1
        if _port_open(args.host, args.port):
            return 0
        time.sleep(0.1)
    print(f"web: the shim did not answer on port {args.port} within 30 s; see {state / 'web.log'}", file=sys.stderr)
    return 1


def stop(args) -> int:
    state = Path(args.state)
    pid = _read_pid(state)
    if pid and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    (state / "web.pid").unlink(missing_ok=True)
    return 0


def ensure_secret(state: Path) -> None:
    """The key that signs the session cookies: $XMMDB_WEB_SECRET_KEY, else $XMMDB_WEB_SECRET_FILE, else
    <state>/web.secret, made once (random, mode 0600) and kept, so logins survive a restart."""
    if os.environ.get("XMMDB_WEB_SECRET_KEY", "").strip() or os.environ.get("XMMDB_WEB_SECRET_FILE", "").strip():
        return
    path = state / "web.secret"
    if not path.exists():
        import secrets

        state.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            fd = None                      # another start made it just now
        if fd is not None:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
    os.environ["XMMDB_WEB_SECRET_FILE"] = str(path.resolve())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m xmmdb_web.serve", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["start", "stop", "run"])
    ap.add_argument("--port", type=int, default=8008)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--state", default="var")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--dsn", default=None, help="connect here instead of $XMMDB_WEB_DSN / the xmmdb DSN")
    args = ap.parse_args(argv)
    if args.action in ("run", "start"):
        ensure_secret(Path(args.state))
    if args.action == "run":
        run(args.host, args.port, args.threads, args.dsn)
        return 0
    return start(args) if args.action == "start" else stop(args)


if __name__ == "__main__":
    sys.exit(main())
