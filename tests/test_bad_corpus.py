"""Every file of tests/data/bad/ (made by tests/data/make_bad_corpus.py) is
rejected by its loader with a clear message naming what is wrong, and
nothing is written."""

import csv
import importlib
from pathlib import Path

import psycopg
import pytest

from xmmdb.errors import XmmError
from xmmdb_loader.cli import LOADERS
from xmmdb_loader.staging import LoadError

BAD = Path(__file__).parent / "data" / "bad"
CASES = list(csv.DictReader(open(BAD / "MANIFEST.tsv"), delimiter="\t"))
TABLES = ["observation", "source", "detection", "spectrum", "response", "exposure", "gti", "orbit",
          "photon_cell", "load_log"]


def snapshot(db):
    return db.execute("SELECT " + ", ".join(f"(SELECT count(*) FROM xmm.{t})" for t in TABLES)).fetchone()


def test_corpus_is_large_enough():
    assert len(CASES) >= 30
    assert {c["kind"] for c in CASES} >= {"catalogue", "products", "events"}


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_bad_file_is_rejected_clearly(db, case):
    module, func, _ = LOADERS[case["kind"]]
    load = getattr(importlib.import_module(module), func)
    before = snapshot(db)
    with pytest.raises((LoadError, XmmError, psycopg.Error)) as info:
        load(db, [BAD / case["file"]], progress=False)
    error = info.value
    message = error.diag.message_primary if isinstance(error, psycopg.Error) else str(error)
    assert message, "empty error message"
    import re
    assert re.search(case["expected"], message), message
    db.rollback()
    assert snapshot(db) == before
