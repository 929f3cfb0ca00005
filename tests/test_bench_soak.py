"""Smoke test of the soak run (bench/soak.py), so that it cannot rot: real
processes and sockets on loopback, small numbers (a few seconds of 40
churning connections against a server whose fd limit stops accept() at
about 20, 3 waves of 2,000 tasks), on asyncio's loop (the
oracle) and on asyncio_c's with the same expectations: it runs, prints its
tables and verdicts, every criterion holds, the JSON has the figures, and no
process is left behind.  The real run (minutes, 1,000 connections, 1M
tasks) is `make soak`; no timing is asserted here."""
import json
import os
import re
import resource
import subprocess
import sys

import pytest

# Under scripts/debug.sh's ASan run: these drive bench/ scripts in child processes that import
# the checkout's in-place build (not the sanitized one) and draw charts with matplotlib, whose
# C++ exceptions abort under the preloaded ASan runtime ("CHECK failed ... real___cxa_throw").
pytestmark = pytest.mark.skipif(os.environ.get("ASYNCIO_C_MEMCHECK") == "asan",
                                reason="bench tool children: not the ASan build; matplotlib "
                                       "aborts under a preloaded ASan runtime")

from _loop_helpers import child_env as _env, pid_gone as _gone

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOAK = os.path.join(TOP, "bench", "soak.py")
LOOPS = ("asyncio", "asyncio_c")
# --server-nofile 32: the server runs out of fds with ~20 connections, so
# the accept back-off (EMFILE) path is soaked too.
SMALL = ["--duration", "3", "--interval", "0.25", "--clients", "40",
         "--server-nofile", "32", "--client-procs", "2", "--every", "1",
         "--waves", "3", "--wave-size", "2000"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("loop", LOOPS)
def test_soak_small(tmp_path, loop):
    out_json = tmp_path / "soak.json"
    cp = subprocess.run(
        [sys.executable, SOAK, "--loop", loop, *SMALL,
         "--json", str(out_json), "--no-png"],
        capture_output=True, text=True, timeout=100, env=_env(), cwd=TOP)
    out = cp.stdout
    assert cp.returncode == 0, out + cp.stderr
    assert out.startswith("Python ")
    assert re.search(rf"^Loop under test: {loop} ", out, re.M), out
    assert "==== echo soak ====" in out and "==== task waves ====" in out
    # The sample table: baseline, run and after phases.
    for phase in ("baseline", "run", "after"):
        assert re.search(rf"^\s+\d+\s+{phase}\s", out, re.M), out
    assert "FAIL" not in out
    assert re.search(r"^Soak on \S+: all \d+ criteria held", out, re.M), out

    doc = json.loads(out_json.read_text())
    assert doc["loop"] == loop
    echo, waves = doc["echo"], doc["waves"]
    assert all(v["ok"] for v in echo["verdicts"] + waves["verdicts"])
    names = {v["criterion"] for v in echo["verdicts"]}
    assert {"every reply verified", "fds back to baseline",
            "RSS flat after warm-up", "all connections closed"} <= names
    tot = echo["client_totals"]
    assert tot["requests"] > 0 and tot["bytes_verified"] > 0
    assert tot["connects"] >= 40
    # Connections still connecting when the clients stopped may never have
    # been accepted.
    assert 0 < echo["stopped"]["accepted"] <= tot["connects"]
    assert echo["idle"]["live"] == 0
    assert echo["stopped"]["accept_pauses"] > 0     # the fd limit was hit
    assert echo["stopped"]["errors"] == []
    assert echo["idle"]["fds"] <= echo["baseline"]["fds"]
    assert waves["end"]["total"] == 3 * 2000
    assert [r["all_tasks"] for r in waves["rows"]] == [1, 1, 1]
    if loop == "asyncio_c":
        assert waves["end"]["live_tasks"] == 0
        assert "_live_tasks() empty at the end" in \
            {v["criterion"] for v in waves["verdicts"]}

    # Nobody left behind: the server and the clients were reaped.
    pids = [echo["server_facts"]["pid"], *echo["client_pids"]]
    assert len(pids) == 3
    assert all(_gone(p) for p in pids)


@pytest.mark.timeout(60)
def test_soak_fails_clearly_without_descriptors():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard > 10**6:
        pytest.skip("no finite RLIMIT_NOFILE hard limit to exceed")
    cp = subprocess.run(
        [sys.executable, SOAK, "--what", "echo", "--clients", str(hard + 1),
         "--duration", "1", "--no-png", "--json", os.devnull],
        capture_output=True, text=True, timeout=50, env=_env(), cwd=TOP)
    assert cp.returncode == 1
    assert "RLIMIT_NOFILE hard limit" in cp.stderr, cp.stdout + cp.stderr
    assert "soak FAILED" in cp.stderr
