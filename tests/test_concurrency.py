"""Twenty concurrent clients (as the web shim's reader login) mixing searches, photon queries,
extractions and fits for a short, bounded time: no request fails. The
3-minute version with latencies is `make bench` (section concurrency)."""

import pytest

from bench.concurrency import run_mixed


@pytest.mark.serial      # twenty connections of the web shim's login, whose limit is the cluster's
def test_twenty_clients_mixed_requests_without_errors(dsn):
    result = run_mixed(dsn, clients=20, seconds=3)
    assert result["errors"] == []
    done = {kind: len(v) for kind, v in result["timings"].items()}
    assert set(done) == {"search", "photons", "extract", "fit"}, done
