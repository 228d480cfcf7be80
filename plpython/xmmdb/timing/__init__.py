"""Timing analysis of the all-time photon table: barycentring (JPL DE421 and the
spacecraft orbit), OGIP event-file extraction, light curves and pulsation
searches (Z^2_n, H-test). The SQL functions of sql/55-59 call `xmmdb.timing.api`."""
