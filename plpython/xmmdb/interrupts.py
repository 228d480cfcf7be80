"""PostgreSQL's signal handlers, kept whatever the Python libraries do.

A backend learns of statement timeouts, cancels and shutdown through its
signal handlers (SIGINT: cancel and statement timeout's delivery, SIGALRM:
timeouts, SIGTERM: terminate, SIGUSR1: latches …). Importing Sherpa installs
its own SIGINT handler and never gives PostgreSQL's back, so after a fit the
session's statement_timeout and pg_cancel_backend() did nothing. The boot
saves the handlers PostgreSQL installed, before any library is imported, and
every call of ours puts them back (`xmmdb.pg.call`): a few system calls.

The handlers are kept as opaque `struct sigaction` buffers read and written by
libc's sigaction(), so their layout never matters here.
"""

from __future__ import annotations

import ctypes
import signal

_SIGNALS = tuple(getattr(signal, name) for name in (
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGALRM", "SIGUSR1", "SIGUSR2", "SIGPIPE", "SIGCHLD"))
_SIZE = 512     # more than sizeof(struct sigaction) on every Linux ABI (152 bytes on x86-64)
_libc = ctypes.CDLL(None, use_errno=True)
_saved: dict[int, ctypes.Array] = {}


def save_handlers() -> None:
    """Remembers the current handlers (the boot calls this before importing anything)."""
    if _saved:
        return
    for sig in _SIGNALS:
        buf = ctypes.create_string_buffer(_SIZE)
        if _libc.sigaction(sig, None, buf) == 0:
            _saved[sig] = buf


def restore_handlers() -> None:
    """Puts back the handlers save_handlers() found."""
    for sig, buf in _saved.items():
        _libc.sigaction(sig, buf, None)
