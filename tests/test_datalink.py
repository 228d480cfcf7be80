"""ObsCore and DataLink as TAP users meet them: pyvo finds observations and spectra in
ivoa.obscore, follows access_url to real OGIP files, follows the DataLink a TAP result
announces (source -> detections -> observation, spectrum -> background and responses), and
calls the event-extraction service the links describe."""

from __future__ import annotations

import io

import numpy as np
import psycopg
import pytest
import requests
from astropy.io import fits
from astropy.io.votable import parse
from test_web import app, client, live_url, web_dsn  # noqa: F401 - shared fixtures


def links(client, *ids, path="/datalink"):  # noqa: F811
    r = client.get(path, query_string=[("ID", i) for i in ids])
    assert r.status_code == 200 and r.mimetype == "application/x-votable+xml"
    vot = parse(io.BytesIO(r.data))
    return vot, vot.get_first_table().to_table(use_names_over_ids=True)


@pytest.fixture(scope="module")
def sample(web_dsn):
    with psycopg.connect(web_dsn) as conn:
        srcid = conn.execute("SELECT d.srcid FROM xmm.spectrum s JOIN xmm.detection d USING (detid) "
                             "JOIN xmm.exposure e ON e.obs_id = d.obs_id AND e.n_photons > 0 "
                             "WHERE s.kind = 'source' ORDER BY s.total_counts DESC LIMIT 1").fetchone()[0]
        detections = [r[0] for r in conn.execute("SELECT detid FROM xmm.detection WHERE srcid = %s", (srcid,))]
        spectrum = conn.execute("SELECT spectrum_id, background_id, rmf_id, arf_id, total_counts FROM xmm.spectrum "
                                "WHERE kind = 'source' AND background_id IS NOT NULL AND arf_id IS NOT NULL "
                                "ORDER BY spectrum_id LIMIT 1").fetchone()
        n_spectra, n_images = conn.execute(
            "SELECT (SELECT count(*) FROM xmm.spectrum), (SELECT count(DISTINCT obs_id) FROM xmm.exposure "
            "WHERE n_photons > 0)").fetchone()
    return dict(srcid=srcid, detections=detections, spectrum=spectrum, n_spectra=n_spectra, n_images=n_images)


def test_source_links(client, sample):  # noqa: F811
    vot, t = links(client, f"ivo://xmmdb/source?{sample['srcid']}")
    by = {}
    for row in t:
        by.setdefault(row["semantics"], []).append(row)
    assert by["#this"][0]["access_url"].endswith(f"/source/{sample['srcid']}")
    assert sorted(r["access_url"].rsplit("?", 1)[1] for r in by["#progenitor"]) == sorted(
        str(d) for d in sample["detections"])
    assert any(r["access_url"].endswith("/fit.png") for r in by["#preview-plot"])
    proc = by["#proc"][0]
    assert proc["service_def"] == "events"
    service = next(r for r in vot.resources if r.ID == "events")
    params = {p.name: p for p in service.params}
    assert params["standardID"].value == "ivo://ivoa.net/std/SODA#sync-1.0"
    inputs = {p.name for g in service.groups for p in g.entries}
    assert {"ID", "RADIUS", "BAND", "BARYCENTRE"} <= inputs
    # every plain link answers
    for row in t:
        if row["access_url"] and "barycentre" not in row["access_url"]:
            path = row["access_url"].split("://", 1)[1].split("/", 1)[1]
            assert client.get("/" + path).status_code == 200, row["access_url"]


def test_spectrum_links_and_files(client, sample):  # noqa: F811
    spectrum_id, background_id, rmf_id, arf_id, total = sample["spectrum"]
    _, t = links(client, str(spectrum_id), path="/datalink/spectrum")
    got = {(r["semantics"], r["access_url"].rsplit("/", 2)[-2] + "/" + r["access_url"].rsplit("/", 1)[-1])
           for r in t if r["access_url"]}
    assert {("#this", f"spectrum/{spectrum_id}.fits"), ("#auxiliary", f"spectrum/{background_id}.fits"),
            ("#calibration", f"response/{rmf_id}.fits"), ("#calibration", f"response/{arf_id}.fits")} <= got
    pha = fits.open(io.BytesIO(client.get(f"/spectrum/{spectrum_id}.fits").data))
    assert pha["SPECTRUM"].data["COUNTS"].sum() == pytest.approx(total)
    assert pha["SPECTRUM"].header["RESPFILE"] == f"xmmdb_response_{rmf_id}.fits"
    rmf = fits.open(io.BytesIO(client.get(f"/response/{rmf_id}.fits").data))
    assert rmf["MATRIX"].header["HDUCLAS2"] == "RSP_MATRIX" and "EBOUNDS" in rmf


def test_unknown_and_too_many_identifiers(client):  # noqa: F811
    _, t = links(client, "ivo://xmmdb/source?999999999", "ivo://elsewhere/x", "ivo://xmmdb/source?" + "9" * 19)
    assert [r["error_message"].split(":")[0] for r in t] == ["NotFoundFault"] * 3     # 19 digits: not a bigint
    r = client.get("/datalink", query_string=[("ID", f"ivo://xmmdb/source?{i}") for i in range(101)])
    assert r.status_code == 400 and b"at most 100" in r.data
    assert client.get("/datalink").status_code == 400


def test_obscore_through_pyvo_with_datalink(live_url, sample):  # noqa: F811
    import pyvo

    service = pyvo.dal.TAPService(f"{live_url}/tap")
    counts = service.run_sync("SELECT dataproduct_type, COUNT(*) AS n FROM ivoa.obscore GROUP BY dataproduct_type")
    assert {r["dataproduct_type"]: r["n"] for r in counts} == {"spectrum": sample["n_spectra"],
                                                               "image": sample["n_images"]}
    spectra = service.run_sync("SELECT TOP 3 obs_publisher_did, access_url, access_format, em_min, em_max, s_ra "
                               "FROM ivoa.obscore WHERE dataproduct_type = 'spectrum' ORDER BY obs_publisher_did")
    for row in spectra:
        assert row["access_url"].startswith(live_url)            # absolute: the service's own address
        head = fits.open(io.BytesIO(requests.get(row["access_url"], timeout=30).content))
        assert head["SPECTRUM"].header["HDUCLAS1"] == "SPECTRUM"
        assert row["em_min"] == pytest.approx(1.0332e-10, rel=1e-3) and row["em_max"] == pytest.approx(6.199e-9,
                                                                                                       rel=1e-3)
    # the DataLink a result announces: pyvo follows it row by row
    result = service.run_sync(f"SELECT srcid, iauname FROM xmm.source WHERE srcid = {sample['srcid']}")
    dl = next(result.iter_datalinks())
    assert {r.semantics for r in dl} >= {"#this", "#progenitor", "#proc"}
    detection = next(r for r in dl if r.semantics == "#progenitor")
    sub = pyvo.dal.adhoc.DatalinkResults.from_result_url(detection.access_url)
    assert any(r.semantics == "#progenitor" and "observation" in r.access_url for r in sub)
    # the event-extraction service the links describe
    events = requests.get(f"{live_url}/soda/events", params={"ID": f"ivo://xmmdb/source?{sample['srcid']}",
                                                             "RADIUS": "20", "BAND": "500 2000"}, timeout=60)
    assert events.status_code == 200
    ev = fits.open(io.BytesIO(events.content))["EVENTS"].data
    assert len(ev) > 0 and np.all((ev["PI"] >= 500) & (ev["PI"] <= 2000))
    bad = requests.get(f"{live_url}/soda/events", params={"ID": "ivo://xmmdb/spectrum?1"}, timeout=30)
    assert bad.status_code == 400 and "UsageError" in bad.text
