"""Classes of known objects: the sample sky's planted objects (data/sample/classes,
loaded with the sample) select sources in the search language and in SQL, down to
their photons; catalogues load transactionally and idempotently, and bad rows are
named."""

import io
import json

import pytest
from conftest import SAMPLE

from xmmdb_loader.classes import load_classes
from xmmdb_loader.staging import LoadError

PULSAR = json.loads((SAMPLE / "truth" / "events.json").read_text())["pulsar"]


def test_the_search_language_selects_by_class(db):
    got = [r[0] for r in db.execute("SELECT srcid FROM xmm_search('class = ''pulsar''')")]
    assert got == [PULSAR["srcid"]]
    ulx = db.execute("SELECT count(*) FROM xmm_search('class = ''ulx'' AND is_ulx')").fetchone()[0]
    assert ulx >= 5
    (sql,) = db.execute("SELECT xmm_to_sql('class = ''pulsar'' OR class = ''cluster''')").fetchone()
    assert "xmm.source_class" in sql


def test_photons_of_a_class(db):
    """"Give me all photons from neutron stars": a join, the class table to the photons."""
    n, srcids = db.execute(
        "SELECT count(*), array_agg(DISTINCT c.srcid) FROM xmm.source_class c JOIN xmm.source s USING (srcid) "
        "CROSS JOIN LATERAL xmm_photons(s.sc_ra, s.sc_dec, 20) p WHERE c.class = 'pulsar'").fetchone()
    assert srcids == [PULSAR["srcid"]] and n > 1000
    sep = db.execute("SELECT max(separation), min(radius) FROM xmm.source_class").fetchone()
    assert sep[0] < sep[1] == 10


def write(tmp_path, text, name="known.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_catalogue_loads_once_and_again_changes_nothing(db, tmp_path):
    path = write(tmp_path, f"name,ra,dec,class,radius\nmy pulsar,{PULSAR['ra']},{PULSAR['dec']},Pulsar,5\n"
                           "nowhere,1.0,1.0,agn,5\n")
    said = io.StringIO()
    first = load_classes(db, [path], out=said)
    assert first["source_class"]["inserted"] == 1 and "2 objects, 1 matched a source" in said.getvalue()
    again = load_classes(db, [path], out=said)
    assert again["source_class"] == {"inserted": 0, "updated": 0, "unchanged": 1}
    row = db.execute("SELECT srcid, class, catalogue, radius FROM xmm.source_class WHERE name = 'my pulsar'").fetchone()
    assert row == (PULSAR["srcid"], "pulsar", "known", 5)


@pytest.mark.parametrize("text, words", [
    ("name,ra,dec\nx,1,2\n", "no column CLASS"),
    ("name,ra,dec,class\nx,400,2,agn\n", "column RA value 400.0 in row 1 is outside 0..360"),
    ("name,ra,dec,class\nx,1,2,agn\ny,1,-91,agn\n", "column DEC value -91.0 in row 2"),
    ("name,ra,dec,class\nx,1,2,DROP TABLE; --\n", "column CLASS value 'drop table; --' in row 1 is not a class"),
    ("name,ra,dec,class,radius\nx,1,2,agn,1e9\n", "column RADIUS value 1000000000.0 in row 1"),
])
def test_bad_rows_are_named_and_nothing_is_written(db, tmp_path, text, words):
    before = db.execute("SELECT count(*) FROM xmm.source_class").fetchone()[0]
    with pytest.raises(LoadError, match=words):
        load_classes(db, [write(tmp_path, text)])
    assert db.execute("SELECT count(*) FROM xmm.source_class").fetchone()[0] == before
