"""Smoke test of the echo benchmark (bench/echo.py): real processes, real
sockets on loopback, its quickest mode; no timing is asserted, only that it
runs on all three loops, prints its tables, every byte came back and no
process is left behind (also after Ctrl-C)."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("uvloop")

from _loop_helpers import child_env as _env, pid_gone as _gone  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ECHO = os.path.join(TOP, "bench", "echo.py")
LOOPS = ("asyncio", "uvloop", "asyncio_c")
CONC = 3


@pytest.mark.timeout(180)
def test_echo_quick(tmp_path):
    out_json = tmp_path / "echo.json"
    cp = subprocess.run(
        [sys.executable, ECHO, "--quick", "--sizes", "100k",
         "--concurrency", str(CONC), "--json", str(out_json)],
        capture_output=True, text=True, timeout=150, env=_env(), cwd=TOP)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    out = cp.stdout

    # Header, like bench/run.py's.
    assert out.startswith("Python ")
    assert re.search(r"^Machine: .* cores", out, re.M)
    for lp in LOOPS:
        assert re.search(rf"^  {lp}\s*: loop ", out, re.M), out

    # The req/s table: one row per flavour, a number per loop, two ratios.
    lines = out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("flavour"))
    assert lines[head].split() == [
        "flavour", "size", "conn", "asyncio", "req/s", "uvloop", "req/s",
        "asyncio_c", "req/s", "asyncio_c/asyncio", "asyncio_c/uvloop"]
    assert set(lines[head + 1]) <= {"-", " "}
    rows = lines[head + 2:head + 4]
    for row, flavour in zip(rows, ("protocol", "streams")):
        cells = row.split()
        assert cells[:4] == [flavour, "100", "KiB", str(CONC)], row
        for value in cells[4:7]:
            assert re.fullmatch(r"\d{1,3}(,\d{3})*", value), row
        for ratio in cells[7:]:
            assert re.fullmatch(r"\d+\.\d\dx", ratio), row
    assert lines[head + 4] == ""
    assert "server CPU % / client CPU %" in out
    assert "above 1x means asyncio_c is faster" in out

    # JSON: every run of every cell got all its bytes back, on both ends.
    doc = json.loads(out_json.read_text())
    assert doc["benchmark"] == "echo" and doc["quick"] and doc["reps"] == 1
    assert [c["key"] for c in doc["cells"]] == [
        f"protocol/{100 * 1024}/{CONC}", f"streams/{100 * 1024}/{CONC}"]
    pids = []
    for key, per in doc["results"].items():
        assert sorted(per) == sorted(LOOPS)
        for lp, r in per.items():
            assert r["errors"] == [], (key, lp)
            (run,) = r["runs"]
            assert run["rps"] > 0 and run["requests"] > 0
            assert run["bytes_sent"] > 0
            assert (run["bytes_sent"] == run["bytes_received"]
                    == run["server_bytes_in"] == run["server_bytes_out"])
            assert run["bytes_sent"] % (100 * 1024) == 0
            assert run["server_connections"] == CONC
            pids += [run["server_pid"], run["client_pid"]]
        assert set(doc["ratios"][key]) == {"asyncio_c/asyncio",
                                           "asyncio_c/uvloop"}
    assert all(_gone(pid) for pid in pids)


def _children(pid):
    """(pid, cmdline) of the live processes whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat[1]) == pid and stat[0] != "Z":
            out.append((int(d), cmd))
    return out


@pytest.mark.timeout(120)
def test_echo_interrupted_leaves_nothing_behind():
    # SIGINT as Ctrl-C sends it; the default action restored in case the
    # test runner ignores it.
    p = subprocess.Popen(
        [sys.executable, ECHO, "--reps", "1", "--sizes", "1k",
         "--concurrency", "1", "--warmup", "0.2", "--duration", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), cwd=TOP,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            kids = dict(_children(p.pid))
            seen.update(kids)
            if any("_echo_client.py" in c for c in kids.values()):
                break
            assert p.poll() is None, p.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("the benchmark never started a client")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err
    assert b"INTERRUPTED: partial results." in out
    workers = [pid for pid, c in seen.items()
               if "_echo_server.py" in c or "_echo_client.py" in c]
    assert len(workers) >= 2
    assert all(_gone(pid) for pid in workers)
