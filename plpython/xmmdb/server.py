"""Settings for running inside a PostgreSQL backend (called once per session)."""

import os


def configure():
    """Make the scientific stack safe and quiet inside a backend process.

    - astropy must never download (IERS tables, ephemerides): no network here.
    - matplotlib draws with Agg into a writable config dir.
    """
    os.makedirs(os.environ.get("MPLCONFIGDIR", "/tmp"), exist_ok=True)
    from astropy.utils import iers
    from astropy.utils.data import conf as data_conf

    data_conf.allow_internet = False
    iers.conf.auto_download = False
    iers.conf.auto_max_age = None
