"""Event lists that would be stored wrong are refused, naming file, column and
row: a time far outside the exposure (its packed high word used to wrap: one
event 1e8 s late was stored 4e7 s early), a NaN PI (stored as 0), companion
files outside the spectrum's directory; overlapping GTIs count once in the
on-time; a failing multi-file load says which files were committed."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from photon_db import db, dsn  # noqa: F401  (the sample catalogue + events)
from xmmdb_loader.events import load_events, read_event_list
from xmmdb_loader.products import load_products
from xmmdb_loader.staging import LoadError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
MOS = SAMPLE / "events" / "P0112290601M1S001MIEVLI0000.FTZ"       # 15,114 events, 7 CCDs


def variant(tmp_path, name, change) -> Path:
    """The sample MOS list with one change, under a name of its own."""
    with fits.open(MOS) as hdul:
        hdul = fits.HDUList([h.copy() for h in hdul])
    change(hdul)
    path = tmp_path / name
    hdul.writeto(path)
    return path


def test_a_time_far_outside_the_exposure_is_refused(tmp_path):
    def late(hdul):
        hdul["EVENTS"].data["TIME"][100] += 1e8
    path = variant(tmp_path, "late.fits", late)
    with pytest.raises(LoadError, match=r"late.fits: column TIME value .* in row 101 is after the exposure"):
        read_event_list(path)


def test_a_nan_pi_is_refused(tmp_path):
    def nan_pi(hdul):
        ev = hdul["EVENTS"]
        cols = [fits.Column(name="PI", format="E", unit=c.unit, array=ev.data["PI"].astype(np.float32))
                if c.name == "PI" else c.copy() for c in ev.columns]
        new = fits.BinTableHDU.from_columns(cols, header=ev.header, name="EVENTS")
        new.data["PI"][7] = np.nan
        hdul[1] = new
    path = variant(tmp_path, "nanpi.fits", nan_pi)
    with pytest.raises(LoadError, match=r"nanpi.fits: column PI value nan in row 8 is outside"):
        read_event_list(path)


def test_overlapping_gtis_count_once(tmp_path):
    def overlap(hdul):
        start = hdul["EVENTS"].header["TSTART"]
        for h in hdul[2:]:
            h.data = fits.BinTableHDU.from_columns(
                [fits.Column(name="START", format="D", array=[start, start + 1000.0]),
                 fits.Column(name="STOP", format="D", array=[start + 5000.0, start + 3000.0])]).data
    path = variant(tmp_path, "overlap.fits", overlap)
    assert read_event_list(path).meta["ontime"] == pytest.approx(5000.0)


def test_a_failing_multi_file_load_says_what_was_committed(db, tmp_path):
    def late(hdul):
        hdul["EVENTS"].data["TIME"][0] -= 1e8
    good = tmp_path / "P0112290601M1S001MIEVLI0000.FTZ"
    shutil.copy(MOS, good)
    bad = variant(tmp_path, "bad.fits", late)
    with pytest.raises(LoadError) as err:
        load_events(db, [good, bad], progress=False)
    message = str(err.value)
    assert "bad.fits: column TIME" in message and "before the exposure" in message
    assert "the 1 file(s) before it were loaded and committed: P0112290601M1S001MIEVLI0000.FTZ" in message


def test_a_header_cannot_make_the_loader_open_other_directories(db, tmp_path):
    spectra = sorted((SAMPLE / "products").glob("*SRSPEC*"))[0]
    with fits.open(spectra) as hdul:
        hdul = fits.HDUList([h.copy() for h in hdul])
    hdul["SPECTRUM"].header["BACKFILE"] = "/etc/passwd"
    path = tmp_path / "mine.pha"
    hdul.writeto(path)
    with pytest.raises(LoadError, match=r"mine.pha: background spectrum /etc/passwd \(BACKFILE\) is neither in "
                                        r"the load nor beside the file"):
        load_products(db, [path], progress=False)
