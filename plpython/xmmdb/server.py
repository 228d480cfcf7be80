"""Settings for running inside a PostgreSQL backend (called once per session)."""

import importlib.util
import os
import sys


def configure():
    """Make the scientific stack safe and quiet inside a backend process.

    - astropy must never download (IERS tables, ephemerides): no network here. It is
      configured as soon as it is first imported, not at the boot: importing it costs
      ~0.7 s that a session which only searches the catalogue should not pay.
    - matplotlib draws with Agg into a writable config dir.
    """
    os.makedirs(os.environ.get("MPLCONFIGDIR", "/tmp"), exist_ok=True)
    if "astropy" in sys.modules:
        configure_astropy()
    elif not any(isinstance(f, _AfterAstropy) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterAstropy())


def configure_astropy():
    from astropy.utils import iers
    from astropy.utils.data import conf as data_conf

    data_conf.allow_internet = False
    iers.conf.auto_download = False
    iers.conf.auto_max_age = None


class _AfterAstropy:
    """A finder (sys.meta_path) that finds astropy as the other finders do, and has its module
    run configure_astropy once astropy's own initialisation is done, before the import
    returns to the caller."""

    def find_spec(self, name, path=None, target=None):
        if name != "astropy":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                configure_astropy()

            spec.loader.exec_module = exec_module
        return spec
