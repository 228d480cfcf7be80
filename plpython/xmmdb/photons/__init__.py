"""Photon access for analysis code (timing, extraction, images).

    from xmmdb.photons import fetch_photons, fetch_gtis, fetch_orbit
    ev = fetch_photons(db, 149.59, -11.06, 30)      # dict of numpy arrays, sorted by time
    ev["time"], ev["pi"], ev["obs_id"] ...

`db` is the small query interface of xmmdb.pg: `Spi(plpy)` inside the server,
`Psycopg(conn)` outside. Every call is one query through the indexed path
(xmm_photons: Q3C cells -> packed rows), returning column arrays, not rows.
"""

from .access import (PHOTON_COLUMNS, SELECTION_KEYS, fetch_coverage, fetch_flare_intervals, fetch_gtis, fetch_orbit,
                     fetch_photons)

__all__ = ["PHOTON_COLUMNS", "SELECTION_KEYS", "fetch_coverage", "fetch_flare_intervals", "fetch_gtis", "fetch_orbit",
           "fetch_photons"]

__all__ = ["PHOTON_COLUMNS", "fetch_photons", "fetch_gtis", "fetch_orbit", "fetch_coverage"]
