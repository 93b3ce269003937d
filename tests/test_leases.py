"""Claims hold by lease: a live run renews its heartbeat, and a claim goes back to the queue
only when the lease has run out (any host) or, on this host, its process is gone."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from kiln.store.leases import LEASE_S, Heartbeat
from test_store import save_one


def stamp(seconds_ago: float) -> str:
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def claimed(store, *, host: str, pid: int, heartbeat_at: str | None) -> int:
    """A job claimed by a run of ``host`` whose last heartbeat was at ``heartbeat_at``."""
    save_one(store)
    run = store.start_run(["r"])
    store.claim("k1", run)
    store.db["runs"].update(run, {"host": host, "pid": pid, "heartbeat_at": heartbeat_at,
                                  "started_at": "2026-01-01T00:00:00.000Z"})
    return run


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_live_claim_of_another_host_is_kept(store):
    claimed(store, host="render-box-2", pid=4242, heartbeat_at=stamp(2))
    assert store.release_stale_claims() == 0
    assert store.db["jobs"].get("k1")["status"] == "running"


def test_a_claim_of_another_host_whose_lease_ran_out_is_released(store):
    run = claimed(store, host="render-box-2", pid=4242, heartbeat_at=stamp(LEASE_S + 5))
    assert store.release_stale_claims() == 1
    assert store.db["jobs"].get("k1")["status"] == "queued"
    assert store.db["runs"].get(run)["status"] == "interrupted"


def test_a_dead_local_process_releases_at_once_even_with_a_fresh_lease(store):
    claimed(store, host=socket.gethostname(), pid=dead_pid(), heartbeat_at=stamp(0))
    assert store.release_stale_claims() == 1


def test_a_live_local_process_that_stopped_renewing_loses_its_claim(store):
    live = subprocess.Popen(["sleep", "30"])
    try:
        claimed(store, host=socket.gethostname(), pid=live.pid, heartbeat_at=stamp(2))
        assert store.release_stale_claims() == 0
        store.db["runs"].update(1, {"heartbeat_at": stamp(LEASE_S + 5)})
        assert store.release_stale_claims() == 1
    finally:
        live.kill()
        live.wait()


def test_a_heartbeat_renews_the_lease_while_the_run_lives(store):
    save_one(store)
    run = store.start_run(["r"])
    store.claim("k1", run)
    first = store.db["runs"].get(run)["heartbeat_at"]
    assert first is not None
    with Heartbeat(store.path, run, every_s=0.02):
        # another host sees the run as live: its claims stay
        store.db["runs"].update(run, {"host": "render-box-2"})
        deadline = time.monotonic() + 5
        while store.db["runs"].get(run)["heartbeat_at"] == first and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.db["runs"].get(run)["heartbeat_at"] > first
        assert store.release_stale_claims() == 0


@pytest.mark.parametrize("status", ["finished", "interrupted", "failed"])
def test_a_claim_of_a_run_that_is_over_is_released(store, status):
    run = claimed(store, host="render-box-2", pid=4242, heartbeat_at=stamp(0))
    store.db["runs"].update(run, {"status": status})
    assert store.release_stale_claims() == 1


def test_a_run_killed_between_jobs_is_marked_interrupted(store):
    run = store.start_run(["r"])
    store.db["runs"].update(run, {"pid": dead_pid()})
    live = store.start_run(["r"])  # a live run of this process, between jobs too
    with Heartbeat(store.path, live):
        assert store.release_stale_claims() == 0
        assert [store.db["runs"].get(r)["status"] for r in (run, live)] == ["interrupted", "running"]
