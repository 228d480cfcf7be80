"""Arrays as numpy arrays in psycopg: for xmm_photon_arrays and any other
one-dimensional array of numbers fetched in binary.

    conn = psycopg.connect(dsn)
    register_numpy_arrays(conn)
    rows = conn.execute("SELECT time, pi FROM xmm_photon_arrays(10.6847, 41.269, 30)",
                        binary=True).fetchall()
    time = numpy.concatenate([r[0] for r in rows])

psycopg's own loaders make a Python list with an object per element; these
read PostgreSQL's binary array format in one numpy view (xmmdb.pg.binary_array,
which the server's photon functions use too): ~1 ns an element instead of ~50.
Text results, multidimensional arrays and arrays with NULLs are refused with an
error, never misread.
"""

from __future__ import annotations

from psycopg import DataError
from psycopg.abc import AdaptContext
from psycopg.adapt import Loader
from psycopg.pq import Format

from xmmdb.errors import XmmError
from xmmdb.pg import binary_array

ELEMENTS = {"int2": "i2", "int4": "i4", "int8": "i8", "float4": "f4", "float8": "f8"}   # PostgreSQL -> numpy


def _loader(dtype: str) -> type[Loader]:
    class NumpyArrayLoader(Loader):
        format = Format.BINARY

        def load(self, data):
            try:
                return binary_array(data, dtype)
            except XmmError as e:
                raise DataError(e.message) from None

    return NumpyArrayLoader


def register_numpy_arrays(context: AdaptContext) -> None:
    """Binary arrays of int2, int4, int8, float4 and float8 load as numpy arrays in
    this connection or cursor (and its cursors)."""
    for name, dtype in ELEMENTS.items():
        context.adapters.register_loader(context.adapters.types[name].array_oid, _loader(dtype))
