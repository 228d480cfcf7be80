"""The EPIC cameras: one vocabulary, the values of the INSTRUME keyword.

    EPN    the pn camera          (also written PN)
    EMOS1  the first MOS camera   (MOS1, M1: M1 is the pipeline file names' spelling)
    EMOS2  the second MOS camera  (MOS2, M2)

Everything stored and returned uses the first column; `camera()` accepts the
others. sql/05_cameras.sql is the same table for SQL (a test keeps them equal).
"""

CAMERAS = ("EPN", "EMOS1", "EMOS2")
SPELLINGS = {"EPN": "EPN", "PN": "EPN",
             "EMOS1": "EMOS1", "MOS1": "EMOS1", "M1": "EMOS1",
             "EMOS2": "EMOS2", "MOS2": "EMOS2", "M2": "EMOS2"}
# The camera's two-letter code in pipeline (PPS) file names: P<obsid><code>S001...
FILE_CODE = {"EPN": "PN", "EMOS1": "M1", "EMOS2": "M2"}
# The catalogue's energy bands (eV): 1-5 the standard ones, 8 the total, 9 the
# 0.5-4.5 keV band of ROSAT-like comparisons (4XMM user guide); maps and limits use them.
BANDS = {1: (200, 500), 2: (500, 1000), 3: (1000, 2000), 4: (2000, 4500), 5: (4500, 12000),
         8: (200, 12000), 9: (500, 4500)}
# The mission's time: TIME is TT seconds since MJDREF (1998-01-01 00:00 TT) in every XMM file.
MJDREF = 50814.0
# The EPIC field of view: a circle of 15' radius about the pointing.
FOV_ARCMIN = 15.0
# The standard event selection (the XMM-Newton SOC's for imaging and timing): PATTERN <= the
# camera's top value, and none of the mask's FLAG bits set. xmm.event_rule('{}') (sql/51) is the
# same rule for SQL; a test keeps them equal.
STANDARD_SELECTION = {"EPN": (4, 0x0cfa0000), "EMOS1": (12, 0x766ba000), "EMOS2": (12, 0x766ba000)}


def camera(name) -> str | None:
    """EPN, EMOS1 or EMOS2 for any of their spellings; None for anything else."""
    if not isinstance(name, str):
        return None
    return SPELLINGS.get(name.strip().upper())
