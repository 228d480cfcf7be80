"""TAP async jobs are kept in the database (sql/82_uws.sql): each belongs to
its owner, who alone can list, read and delete it; owners and the service have
caps; jobs and results survive a restart of the shim; results are read back
from the database in chunks; no redirect carries a client's Host header; bad
parameters are HTTP 400, not 500."""

import re
import time

import psycopg
import pytest

from test_web import web_dsn  # noqa: F401 - shared fixture
from xmmdb_loader.roles import login_dsn
from xmmdb_web.app import create_app
from xmmdb_web.db import resolve_dsn

QUERY = {"LANG": "ADQL", "QUERY": "SELECT TOP 5 srcid FROM xmm.source ORDER BY srcid", "PHASE": "RUN"}


@pytest.fixture(scope="module")
def shim(web_dsn):
    """The shim as `make run` starts it: as its own reader login."""
    app = create_app(resolve_dsn(web_dsn), hips_url="")
    app.config["TESTING"] = True
    return app


def client_of(app, address):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    return c


def new_job(c, **params) -> str:
    rv = c.post("/tap/async", data={**QUERY, **params})
    assert rv.status_code == 303, rv.get_data(as_text=True)
    return re.search(r"/tap/async/([0-9a-f]{32})$", rv.headers["Location"]).group(1)


def finished(c, jid) -> str:
    for _ in range(300):          # 30 s, the longest WAIT the service grants: a loaded machine is slow
        phase = c.get(f"/tap/async/{jid}/phase").get_data(as_text=True)
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            return phase
        time.sleep(0.1)
    return phase


def test_a_job_belongs_to_its_owner(shim):
    alice, bob = client_of(shim, "10.0.0.1"), client_of(shim, "10.0.0.2")
    jid = new_job(alice)
    assert finished(alice, jid) == "COMPLETED"
    assert b"<TD>" in alice.get(f"/tap/async/{jid}/results/result").data
    assert jid in alice.get("/tap/async").get_data(as_text=True)
    assert jid not in bob.get("/tap/async").get_data(as_text=True)
    for path in (f"/tap/async/{jid}", f"/tap/async/{jid}/phase", f"/tap/async/{jid}/results/result"):
        assert bob.get(path).status_code == 404
    assert bob.delete(f"/tap/async/{jid}").status_code == 404
    assert alice.get(f"/tap/async/{jid}").status_code == 200


def test_readers_cannot_reach_the_jobs_in_sql(web_dsn):
    with psycopg.connect(login_dsn(web_dsn, "xmm_user")) as reader:
        for sql in ("SELECT * FROM xmm_uws.job", "SELECT * FROM xmm_uws.jobs('address:10.0.0.1')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(sql)
            reader.rollback()


def test_caps_per_owner(shim):
    carol = client_of(shim, "10.0.0.3")
    slow = {"QUERY": "SELECT COUNT(*) FROM xmm.source a, xmm.source b, xmm.source c"}
    jobs = [new_job(carol, **slow) for _ in range(4)]
    rv = carol.post("/tap/async", data={**QUERY, **slow})
    assert rv.status_code == 429 and b"queued or running" in rv.data
    for jid in jobs:
        carol.post(f"/tap/async/{jid}/phase", data={"PHASE": "ABORT"})
        carol.delete(f"/tap/async/{jid}")


def test_jobs_survive_a_restart_of_the_shim(shim, web_dsn):
    dave = client_of(shim, "10.0.0.4")
    jid = new_job(dave)
    assert finished(dave, jid) == "COMPLETED"
    result = dave.get(f"/tap/async/{jid}/results/result").data
    again = client_of(create_app(resolve_dsn(web_dsn), hips_url=""), "10.0.0.4")
    assert again.get(f"/tap/async/{jid}/phase").get_data(as_text=True) == "COMPLETED"
    assert again.get(f"/tap/async/{jid}/results/result").data == result


def test_the_destruction_time_is_bounded_and_expiry_deletes(shim, web_dsn):
    erin = client_of(shim, "10.0.0.5")
    jid = new_job(erin)
    erin.post(f"/tap/async/{jid}/destruction", data={"DESTRUCTION": "2999-01-01T00:00:00Z"})
    kept = erin.get(f"/tap/async/{jid}/destruction").get_data(as_text=True)
    assert kept < "2999" and kept.endswith("Z")
    erin.post(f"/tap/async/{jid}/destruction", data={"DESTRUCTION": "2000-01-01T00:00:00Z"})
    assert erin.get(f"/tap/async/{jid}").status_code == 404


def test_no_host_header_in_redirects_and_bad_parameters_are_400(shim):
    c = client_of(shim, "10.0.0.6")
    rv = c.post("/tap/async", data=QUERY, headers={"Host": "evil.example"})
    assert rv.status_code == 303 and "evil.example" not in rv.headers["Location"]
    jid = rv.headers["Location"].rsplit("/", 1)[1]
    assert "evil.example" not in c.get(f"/tap/async/{jid}", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert c.get(f"/tap/async/{jid}?WAIT=abc").status_code == 400
    assert c.get(f"/tap/async/{jid}?WAIT=-5").status_code == 400
    assert c.post(f"/tap/async/{jid}/phase", data={"PHASE": "EXPLODE"}).status_code == 400
    assert c.post(f"/tap/async/{jid}/destruction", data={"DESTRUCTION": "soon"}).status_code == 400
