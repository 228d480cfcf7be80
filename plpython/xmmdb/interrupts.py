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

The handlers only note that a cancel or a termination is pending; the
backend acts on it when it next checks, which long Python work (a Sherpa fit,
a periodogram) never does: a fit ran 15 minutes past a 2 s timeout and a
pg_terminate_backend. So while a call runs, a watcher thread (one a session,
idle between calls) looks at the flag every CHECK_EVERY seconds and, when it is
set, raises Cancelled in the call's thread (at its next Python instruction); `xmmdb.pg.call` then lets PostgreSQL
raise its own error (statement timeout, cancel, or the end of the session).
"""

from __future__ import annotations

import ctypes
import signal
import sys
import threading
from contextlib import contextmanager

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


CHECK_EVERY = 0.05      # s


class Cancelled(BaseException):
    """PostgreSQL has an interrupt pending (BaseException: library code's `except Exception` lets it through)."""


_flags: list | None = None


def interrupt_pending() -> bool:
    """Whether PostgreSQL has a cancel (QueryCancelPending: a cancel or statement timeout) or a
    termination (ProcDiePending) pending; false outside a backend. Not InterruptPending alone:
    that is also set for the backend's housekeeping, which must not stop a call."""
    global _flags
    if _flags is None:
        try:
            _flags = [ctypes.c_int.in_dll(_libc, name) for name in ("QueryCancelPending", "ProcDiePending")]
        except ValueError:
            _flags = []
    return any(flag.value for flag in _flags)


def importing(thread_id: int) -> bool:
    """Whether the thread is executing an import. A Cancelled raised there would leave the
    modules it was initialising half done in sys.modules (scipy.ndimage without its names, for
    the rest of the session), so the watcher waits until the import is over (imports are short)."""
    frame = sys._current_frames().get(thread_id)
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


class _Watcher:
    """The session's one watcher thread (started by the first call, then idle between calls):
    starting a thread for each call cost a call ~0.5 ms on a busy machine."""

    def __init__(self):
        self.cond = threading.Condition()
        self.depth = 0          # calls under way (a call may run another through SPI)
        self.target = 0         # the thread they run in
        self.fired = False      # raised once for the outermost call
        threading.Thread(target=self.watch, name="xmmdb-interrupts", daemon=True).start()

    def watch(self):
        with self.cond:
            while True:
                if not self.depth:
                    self.cond.wait()
                    continue
                self.cond.wait(CHECK_EVERY)
                if self.depth and not self.fired and interrupt_pending() and not importing(self.target):
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.target),
                                                               ctypes.py_object(Cancelled))
                    self.fired = True


_watcher: _Watcher | None = None


@contextmanager
def cancellable():
    """Runs the block so that a pending cancel, timeout or termination stops it (raises Cancelled)."""
    global _watcher
    if _watcher is None:
        _watcher = _Watcher()
    w, target = _watcher, threading.get_ident()
    with w.cond:
        if not w.depth:
            w.target, w.fired = target, False
        w.depth += 1
        w.cond.notify()
    try:
        yield
    finally:
        with w.cond:
            w.depth -= 1
            outermost = not w.depth
        if outermost:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), None)   # one raised too late goes unraised
