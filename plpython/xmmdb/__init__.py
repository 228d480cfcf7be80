"""xmmdb: the Python that runs inside PostgreSQL.

PL/Python function bodies in sql/ are thin: they boot (xmm.python_boot) and
call into this package, which is tested on its own and shared with the CLI and
the web shim.
"""

__version__ = "0.16.0"
