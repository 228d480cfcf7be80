"""A scratch database with the catalogue and the event lists of the sample sky
only, so the photon tests do not depend on other product kinds loading."""

import os

import psycopg
import pytest

from conftest import SAMPLE, drop_database, scratch_database
from xmmdb_loader.catalogue import load_catalogue
from xmmdb_loader.events import load_events


@pytest.fixture(scope="session")
def dsn(server_dsn):
    name = f"xmmtest_photons_{os.getpid()}"
    url = scratch_database(server_dsn, name, sample=False)
    with psycopg.connect(url) as conn:
        load_catalogue(conn, sorted((SAMPLE / "catalogue").glob("*.fits")), progress=False)
        load_events(conn, sorted((SAMPLE / "events").glob("*.FTZ")), progress=False)
    yield url
    drop_database(server_dsn, name)


@pytest.fixture
def db(dsn):
    """A connection inside an open transaction, rolled back after the test: the
    loader's per-file transactions become savepoints of it."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT 1")
        yield conn
        conn.rollback()
