"""Smoke tests of bench/run.py's newer workloads (queue_pc, seeds_zero,
coro_send), its chart, bench/scaling.py and bench/instructions.py: real
child processes at their quickest settings.  No timing is asserted, only that
they run on every loop, print their tables and write their files, and that
the seeds' examples print the same things on every loop."""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("uvloop")

# Under scripts/debug.sh's ASan run: these drive bench/ scripts in child processes that import
# the checkout's in-place build (not the sanitized one) and draw charts with matplotlib, whose
# C++ exceptions abort under the preloaded ASan runtime ("CHECK failed ... real___cxa_throw").
pytestmark = pytest.mark.skipif(os.environ.get("ASYNCIO_C_MEMCHECK") == "asan",
                                reason="bench tool children: not the ASan build; matplotlib "
                                       "aborts under a preloaded ASan runtime")

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(TOP, "bench")
LOOPS = ("asyncio", "uvloop", "asyncio_c", "asyncio_c+native")
HAVE_MPL = importlib.util.find_spec("matplotlib") is not None
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = TOP + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(script, *args, timeout=240):
    cp = subprocess.run([sys.executable, os.path.join(BENCH, script), *args],
                        capture_output=True, text=True, timeout=timeout,
                        env=_env(), cwd=TOP)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    return cp.stdout, cp.stderr


def _table(out, first):
    """The rows of the table whose header starts with `first`."""
    lines = out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith(first))
    rows = []
    for ln in lines[head + 2:]:
        if not ln.strip() or ln.startswith("Floor:"):
            break
        rows.append(ln)
    return lines[head].split(), rows


# Runs the seeds' examples on one loop in a fresh process and prints their
# outputs (numbers masked) as JSON.
SEEDS_ON_LOOP = r"""
import asyncio, json, sys, warnings
sys.path.insert(0, sys.argv[1])
import _child, workloads
loop, _ = _child.make_loop(sys.argv[2])
warnings.simplefilter("ignore", RuntimeWarning)
async def go():
    outputs = {}
    await workloads.run_seeds(workloads.load_seeds(), 2, outputs)
    return outputs
outputs = loop.run_until_complete(go())
loop.close()
print(json.dumps({k: [workloads.normalize_output(o) for o in v]
                  for k, v in outputs.items()}))
"""


@pytest.mark.timeout(120)
def test_seeds_zero_same_output_on_every_loop():
    per_loop = {}
    for lp in LOOPS:
        cp = subprocess.run([sys.executable, "-c", SEEDS_ON_LOOP, BENCH, lp],
                            capture_output=True, text=True, timeout=60,
                            env=_env(), cwd=TOP)
        assert cp.returncode == 0, cp.stderr
        per_loop[lp] = json.loads(cp.stdout)
    ref = per_loop["asyncio"]
    examples = sorted(os.path.basename(p)[:-3] for p in os.listdir(
        os.path.join(TOP, "examples")) if re.match(r"seed\d\d_.*\.py$", p))
    assert sorted(ref) == examples
    for name, (first, last) in ref.items():
        assert first and first == last, name
    # Spot checks: the delays really are zero-length but the programs ran.
    assert ref["seed03_factorial_gather"][0].endswith("[#, #, #, #]\n")
    left = ref["seed01_create_task_without_await"][0]     # tasks cancelled
    assert "Start say_after(#, hello)" in left and "#.# hello" not in left
    assert ref["seed03_knights"][0] == "Ni!\n"
    for lp in LOOPS[1:]:
        assert per_loop[lp] == ref, lp


@pytest.mark.timeout(180)
def test_run_new_workloads_table_floor_and_chart(tmp_path):
    png, js = tmp_path / "bench.png", tmp_path / "bench.json"
    out, err = _run("run.py", "--quick", "--reps", "1", "--only",
                    "sleep0,sleep0_native,queue_pc,seeds_zero,coro_send",
                    "--png", str(png), "--json", str(js))
    head, rows = _table(out, "workload")
    assert head[3:7] == list(LOOPS)
    cells = {r.split()[0]: r.split() for r in rows}
    assert list(cells) == ["sleep0", "sleep0_native", "queue_pc",
                           "seeds_zero", "coro_send"]
    assert cells["seeds_zero"][2] == "us/pass"
    assert "-" not in cells["seeds_zero"][3:7]          # runs native too
    assert cells["queue_pc"][6] == "-"                  # calls no combinator
    assert cells["coro_send"][7:] == ["-"] * 4          # no ratio for the floor
    floor = next(ln for ln in out.splitlines() if ln.startswith("Floor:"))
    assert "coro_send" in floor and "sleep0_native on asyncio_c" in floor
    assert re.search(r"asyncio_c\+native \d+\.\d\dx", floor)
    doc = json.loads(js.read_text())
    assert doc["floor"] == floor
    if HAVE_MPL:
        assert png.read_bytes()[:8] == PNG_MAGIC
    else:
        assert "no chart" in err and not png.exists()


@pytest.mark.timeout(180)
def test_scaling_quick(tmp_path):
    png, js = tmp_path / "scaling.png", tmp_path / "scaling.json"
    out, err = _run("scaling.py", "--sizes", "1k,2k", "--reps", "1",
                    "--png", str(png), "--json", str(js))
    head, rows = _table(out, "operation")
    assert head == ["operation", "unit", "loop", "1k", "2k", "2k/1k"]
    assert len(rows) == 4 * 3
    for row in rows:
        assert re.search(r"\d\.\d\dx  (flat|NOT flat)$", row), row
    doc = json.loads(js.read_text())
    assert sorted(doc["results"]) == ["gather", "tasks", "timer_cancel",
                                      "timers"]
    for per in doc["results"].values():
        for lp, by_n in per.items():
            assert sorted(by_n) == ["1000", "2000"]
            assert all(r["errors"] == [] and r["median"] > 0
                       for r in by_n.values()), lp
    if HAVE_MPL:
        assert png.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="no valgrind")
# Six interpreters under callgrind take ~20 s: once per `make test`, on the interpreter `make
# main` uses by default (ASYNCIO_C_ALL_BENCH_TOOLS=1 runs it everywhere).
@pytest.mark.skipif(sys.version_info[:2] != (3, 11)
                    and os.environ.get("ASYNCIO_C_ALL_BENCH_TOOLS", "0") == "0",
                    reason="callgrind tool test runs on 3.11 only (ASYNCIO_C_ALL_BENCH_TOOLS=1)")
def test_instructions_tiny(tmp_path):
    cg = tmp_path / "cg"
    out, _ = _run("instructions.py", "--only", "sleep0,coro_send", "--loops",
                  "asyncio_c,asyncio_c+native", "--scale", "0.1",
                  "--callgrind-out", str(cg), timeout=280)
    head, rows = _table(out, "workload")
    assert head[:5] == ["workload", "n", "unit", "asyncio_c",
                        "asyncio_c+native"]
    cells = {r.split()[0]: r.split() for r in rows}
    assert cells["sleep0"][2] == "instr/op"
    assert re.fullmatch(r"\d{1,3}(,\d{3})*", cells["sleep0"][3])
    assert cells["coro_send"][4] == "-"
    assert "Floor: coro_send" in out
    assert len(list(cg.glob("*.out"))) == 6
