"""What a catalogue file can do wrong is said in its own terms: a NUL or an
overlong text value names its column and row; a name already used by another
source names the column, the value and the row (not `duplicate key …
source_iauname_key`); a file that moves stored sources or detections loads,
with a warning that counts them."""

import io

import numpy as np
import pytest
from astropy.table import Table

from conftest import SAMPLE
from xmmdb_loader.catalogue import load_catalogue
from xmmdb_loader.staging import LoadError

CATALOGUE = SAMPLE / "catalogue" / "xmmdb_sample_cat.fits"


@pytest.fixture(scope="module")
def one_observation():
    cat = Table.read(CATALOGUE)
    return cat[cat["OBS_ID"] == "0201903501"]


def text_names(table):
    """The table with IAUNAME as Python text (FITS gives bytes), so single values can change."""
    t = table.copy()
    t["IAUNAME"] = np.array([v.decode() if isinstance(v, bytes) else v for v in t["IAUNAME"]], dtype=object)
    return t


def write_csv(table, path):
    table.write(path, format="ascii.csv", overwrite=True)
    return path


def test_a_nul_in_text_names_column_and_row(db, one_observation, tmp_path):
    t = text_names(one_observation)
    t["IAUNAME"][2] = "4XMM J0958\x00evil"
    with pytest.raises(LoadError, match=r"nul.csv: column IAUNAME: a NUL character inside the text in row 3"):
        load_catalogue(db, [write_csv(t, tmp_path / "nul.csv")], progress=False)


def test_overlong_text_names_column_and_row(db, one_observation, tmp_path):
    t = text_names(one_observation)
    t["IAUNAME"][4] = "x" * 11472
    with pytest.raises(LoadError, match=r"long.csv: column IAUNAME: 11,472 characters of text \(at most 500\) in row 5"):
        load_catalogue(db, [write_csv(t, tmp_path / "long.csv")], progress=False)


def test_a_name_of_another_source_names_column_value_and_row(db, one_observation, tmp_path):
    t = text_names(one_observation)
    other = db.execute("SELECT iauname FROM xmm.source WHERE srcid <> ALL(%s) LIMIT 1",
                       ([int(v) for v in t["SRCID"]],)).fetchone()[0]
    t["IAUNAME"][t["SRCID"] == t["SRCID"][6]] = other
    with pytest.raises(LoadError) as err:
        load_catalogue(db, [write_csv(t, tmp_path / "dup.csv")], progress=False)
    message = str(err.value)
    assert f"dup.csv: column IAUNAME: '{other}' in row" in message and "already used" in message
    assert "duplicate key" not in message


def test_moving_stored_sources_and_detections_is_loaded_with_a_warning(db, one_observation, tmp_path):
    t = one_observation.copy()
    first = t["SRCID"][0]
    t["SC_DEC"][t["SRCID"] == first] += 10 / 3600.0
    db.execute("SELECT 1")       # in the test's transaction: the load is a savepoint, rolled back after
    out = io.StringIO()
    load_catalogue(db, [write_csv(t, tmp_path / "moved.csv")], progress=False, out=out)
    assert f"moves 1 source(s) by more than 1\" (e.g. srcid {first})" in out.getvalue()
    dec = db.execute("SELECT sc_dec FROM xmm.source WHERE srcid = %s", (int(first),)).fetchone()[0]
    assert dec == pytest.approx(float(t["SC_DEC"][t["SRCID"] == first][0]))
