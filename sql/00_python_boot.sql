-- PL/Python boot: every plpython3u function of xmmdb starts with
--     GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
-- and then imports the tested `xmmdb` package (plpython/xmmdb) from the lib
-- dir configured for the database:
--     ALTER DATABASE xmm SET xmm.python_lib_dir = '<venv>/lib/python3.11/site-packages';
-- The path is read from the database's stored settings, never from the
-- session: a session-level SET by an ordinary user must not be able to make
-- the untrusted language import code from a directory of their choosing.
-- Nor may a session's temporary table named pg_db_role_setting stand in for
-- the catalogue: pg_temp is searched last (a search path that does not name it
-- searches it first) and every catalogue name is qualified.

CREATE FUNCTION xmm.python_boot() RETURNS void
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
import os, site, sys
rows = plpy.execute("""
    SELECT pg_catalog.split_part(cfg, '=', 2) AS dir
      FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) AS cfg
     WHERE s.setdatabase = (SELECT d.oid FROM pg_catalog.pg_database d
                             WHERE d.datname = pg_catalog.current_database())
       AND s.setrole = 0 AND cfg LIKE 'xmm.python_lib_dir=%'""")
if not rows or not rows[0]['dir']:
    plpy.error('the Python lib dir of this database is not configured', sqlstate='55000',
               hint="ALTER DATABASE %s SET xmm.python_lib_dir = '<venv>/lib/python3.11/site-packages' "
                    "(xmmdb init does this)" % plpy.quote_ident(plpy.execute('SELECT pg_catalog.current_database() AS d')[0]['d']))
lib = rows[0]['dir']
if not os.path.isdir(lib):
    plpy.error('xmm.python_lib_dir %s is not a directory readable by the server' % lib, sqlstate='55000')
before = list(sys.path)
site.addsitedir(lib)  # processes the venv's .pth files too
sys.path[:] = [p for p in sys.path if p not in before] + before  # the venv wins over system packages
# A backend must not fork worker pools or look for a display or the network.
os.environ.update(OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', MKL_NUM_THREADS='1', MPLBACKEND='Agg',
                  MPLCONFIGDIR=os.path.join(os.environ.get('TMPDIR') or '/tmp', 'xmmdb-mpl-%d' % os.getuid()))
try:
    import xmmdb.interrupts
    xmmdb.interrupts.save_handlers()   # PostgreSQL's, before any library can replace them
except ImportError:
    pass                               # a package of another release: the check below says so
import xmmdb, xmmdb.server
# The SQL of this database and the Python it calls must be one release.
installed = plpy.execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'xmmdb'")[0]['extversion']
if xmmdb.__version__ != installed:
    plpy.error('this database has the xmmdb extension %s, but the server imports the xmmdb Python package %s '
               '(from %s)' % (installed, xmmdb.__version__, lib), sqlstate='55000',
               hint='bring them to one version: `xmmdb init` upgrades the database (ALTER EXTENSION xmmdb UPDATE), '
                    '`make install venv` installs the package of the checkout; then reconnect')
xmmdb.server.configure()
xmmdb.interrupts.restore_handlers()
GD['xmm_booted'] = True
$$;

COMMENT ON FUNCTION xmm.python_boot() IS
  'Puts the configured xmm.python_lib_dir on sys.path and configures astropy/matplotlib for a backend (once per session).';

-- Raises an error for humans from PL/pgSQL. PL/Python puts the exception's type
-- before every message it raises ("xmmdb: ..." from xmmdb.pg.call, "plpy.Error: ...")
-- and a Python traceback as its CONTEXT, so user-facing functions whose Python
-- side returns the error as data (search, ADQL) or catches it (fitting, timing,
-- images) raise it here instead, as it is, with its hint and SQLSTATE. A fault
-- (an uncaught Python exception, SQLSTATE 38000, or an internal error, XX) is
-- not a message for humans: given its context, it keeps that as DETAIL, which
-- says where it happened. Does nothing when message is NULL.
CREATE FUNCTION xmm.raise_error(message text, hint text, sqlstate text, context text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF message IS NULL THEN
    RETURN;
  END IF;
  sqlstate := coalesce(sqlstate, '22023');
  IF context IS NOT NULL AND left(sqlstate, 2) IN ('38', 'XX') THEN
    RAISE EXCEPTION USING MESSAGE = message, DETAIL = context, ERRCODE = sqlstate;
  END IF;
  -- each PL/Python level names the exception before the message: spiexceptions.X: plpy.Error: xmmdb: …
  message := regexp_replace(message, '^((spiexceptions\.\w+|plpy\.\w+|xmmdb): )+', '');
  IF coalesce(hint, '') IN ('', 'None') THEN
    RAISE EXCEPTION USING MESSAGE = message, ERRCODE = sqlstate;
  END IF;
  RAISE EXCEPTION USING MESSAGE = message, HINT = hint, ERRCODE = sqlstate;
END $$;
