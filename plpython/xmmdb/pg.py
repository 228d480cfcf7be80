"""The bridge between PL/Python function bodies and the xmmdb package.

The build writes each body in sql/ from one template (setup/build_extension.py):

    GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
    from xmmdb.pg import Spi, call, rows; from xmmdb.timing.api import lightcurve
    db, notice = Spi(plpy), plpy.notice
    return rows(plpy, call(plpy, lightcurve, db, srcid, bin_s, options, notice=notice))

`call` turns an XmmError into a PostgreSQL error carrying its message, hint
and SQLSTATE, so psql, JDBC and the web shim all see the human message.
"""

import types

from .errors import XmmError
from .interrupts import Cancelled, cancellable, restore_handlers


def call(plpy, func, *args, **kwargs):
    """Runs func with PostgreSQL's signal handlers in place before and after (a library
    imported on the way, Sherpa, replaces SIGINT's), stoppable by a cancel, a statement
    timeout or pg_terminate_backend (xmmdb.interrupts), and XmmError as a PostgreSQL error."""
    restore_handlers()
    try:
        with cancellable():
            return func(*args, **kwargs)
    except XmmError as exc:
        raise server_error(plpy, exc) from None
    except Cancelled:
        try:
            plpy.execute("SELECT 1")  # PostgreSQL processes the interrupt: its own error, or the session ends
        except plpy.SPIError as exc:
            raise server_error(plpy, XmmError(str(exc.args[0] if exc.args else exc), sqlstate=exc.sqlstate)) from None
        raise server_error(plpy, XmmError("the statement was cancelled", sqlstate="57014")) from None
    finally:
        restore_handlers()


def rows(plpy, result):
    """What a set-returning body returns: one row (a dict) as a list of one; a generator's rows
    one by one, each computed as `call` runs a function (stoppable, errors for humans) so that
    none is held; anything else (a list of rows) as it is."""
    if isinstance(result, dict):
        return [result]
    if isinstance(result, types.GeneratorType):
        return _each(plpy, result)
    return result


def _each(plpy, generator):
    while (row := call(plpy, next, generator, None)) is not None:
        yield row


def server_error(plpy, exc: XmmError):
    """The exception PL/Python reports as `ERROR:  xmmdb: <message>` with the
    hint and SQLSTATE. PL/Python prefixes every message with the exception's
    module-qualified type name (plpy.error gives `plpy.Error: ...`); a plpy.Error
    subclass named `xmmdb` in module builtins makes that prefix the product's name."""
    cls = type("xmmdb", (plpy.Error,), {"__module__": "builtins"})
    err = cls(exc.message)
    err.sqlstate, err.hint = exc.sqlstate, exc.hint
    return err


ARRAY_HEADER = 20   # bytes of a one-dimensional binary array before its elements


def binary_array(data, dtype: str):
    """A one-dimensional array without NULLs in PostgreSQL's binary format (array_send,
    or a binary result) as a numpy array of dtype (i2, i4, i8, f4, f8): a header of
    ndim, has-NULLs, element type, then size and lower bound of the dimension (20 bytes),
    then the elements (binary_elements)."""
    import numpy as np

    data = memoryview(data)
    ndim = int.from_bytes(data[0:4], "big")
    if ndim == 0:
        return np.empty(0, dtype)
    has_nulls = int.from_bytes(data[4:8], "big")
    if ndim != 1 or has_nulls:
        raise XmmError(f"a numpy array needs a one-dimensional array without NULLs, got {ndim} dimensions"
                       + (" with NULLs" if has_nulls else ""), sqlstate="22000")
    values = binary_elements(data[ARRAY_HEADER:], dtype)
    if len(values) != int.from_bytes(data[12:16], "big"):
        raise XmmError("a binary array holds fewer or more elements than its header says", sqlstate="22000")
    return values


def binary_elements(data, dtype: str):
    """The elements of binary arrays without their headers (one array's, or several
    concatenated): each its length (4 bytes) and its big-endian value, read in one numpy
    view, with no Python object per element."""
    import numpy as np

    native = np.dtype(dtype)
    element = np.dtype([("length", ">i4"), ("value", native.newbyteorder(">"))])
    if len(data) % element.itemsize:
        raise XmmError(f"binary array elements of {dtype} come in {element.itemsize} bytes, got {len(data)}",
                       sqlstate="22000")
    return np.frombuffer(data, element)["value"].astype(native)


_PLANS: dict = {}
MAX_PLANS = 256


class Spi:
    """A tiny database handle over plpy, so package code can run queries the
    same way inside the server (plpy) and outside it (psycopg, see `Psycopg`)."""

    def __init__(self, plpy):
        self.plpy = plpy

    def query(self, sql: str, params: tuple = (), types: tuple = ()) -> list[dict]:
        if not params:
            return list(self.plpy.execute(sql))
        key = (sql, tuple(types))
        plan = _PLANS.get(key)
        if plan is None:      # prepared once a session: planning is most of a small query's time
            if len(_PLANS) >= MAX_PLANS:
                _PLANS.clear()
            plan = _PLANS[key] = self.plpy.prepare(sql, list(types))
        return list(self.plpy.execute(plan, list(params)))


class Psycopg:
    """The same interface over a psycopg connection ($1-style placeholders)."""

    def __init__(self, conn):
        self.conn = conn

    def query(self, sql: str, params: tuple = (), types: tuple = ()) -> list[dict]:
        import re

        from psycopg.rows import dict_row

        # $n may come in any order and more than once: one %s per place, its parameter with it
        ordered = [params[int(n) - 1] for n in re.findall(r"\$(\d+)", sql)] if params else None
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(re.sub(r"\$(\d+)", r"%s", sql) if params else sql, ordered)
            return cur.fetchall() if cur.description else []
