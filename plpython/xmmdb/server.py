"""Settings for running inside a PostgreSQL backend (called once per session)."""

import importlib.util
import os
import sys


def configure():
    """Make the scientific stack safe and quiet inside a backend process.

    - astropy must never download (IERS tables, ephemerides): no network here. It is
      configured as it is first imported, not at the boot: importing it costs ~0.7 s that a
      session which only searches the catalogue should not pay. astropy.utils.data (downloads)
      is configured when astropy is imported, astropy.utils.iers when IERS itself is: importing
      IERS brings astropy.time and astropy.table (~0.2 s), which reading a FITS file (a spectrum,
      an exposure map, a cross-section table) does not need.
    - matplotlib draws with Agg into a writable config dir.
    """
    os.makedirs(os.environ.get("MPLCONFIGDIR", "/tmp"), exist_ok=True)
    for name, configure_module in (("astropy", configure_astropy), ("astropy.utils.iers", configure_iers)):
        if name in sys.modules:
            configure_module()
        elif not any(isinstance(f, _After) and f.name == name for f in sys.meta_path):
            sys.meta_path.insert(0, _After(name, configure_module))


def configure_astropy():
    from astropy.utils.data import conf as data_conf

    data_conf.allow_internet = False


def configure_iers():
    from astropy.utils import iers

    iers.conf.auto_download = False
    iers.conf.auto_max_age = None


class _After:
    """A finder (sys.meta_path) that finds the module `name` as the other finders do, and has
    it run `then` once the module's own initialisation is done, before the import returns to
    the caller."""

    def __init__(self, name, then):
        self.name, self.then = name, then

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            run, then = spec.loader.exec_module, self.then

            def exec_module(module):
                run(module)
                then()

            spec.loader.exec_module = exec_module
        return spec
