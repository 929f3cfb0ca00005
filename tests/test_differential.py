"""Differential testing against asyncio: random programs run on asyncio and on asyncio_c.

hypothesis builds programs (tests/_diffprog.py: tasks, bare futures, cancellations with and
without messages, uncancel, sleep(0) ticks, gather/wait/wait_for/shield, as_completed (and its
3.13 async for), asyncio.timeout/timeout_at with reschedule, TaskGroup, exceptions, a
BaseException of our own, KeyboardInterrupt/SystemExit leaving run_until_complete, done
callbacks, call_soon/call_later callbacks, state probes, asyncio.Event/Lock/Queue, 3.12+ eager
tasks); each one runs on asyncio's own loop (the oracle, same interpreter), then on asyncio_c's
loop with asyncio's functions, on asyncio_c's loop with the native combinators, and on
asyncio_c's loop with asyncio_c.patch() in force, and the traces must be equal.  A divergence prints the program as Python source: shrink it, paste it
into tests/test_differential_regressions.py, fix the bug.

Examples per run: ASYNCIO_C_DIFF_EXAMPLES (default 500, about 10 s per interpreter: make test has a time budget);
for a long hunt, e.g.  ASYNCIO_C_DIFF_EXAMPLES=5000 pytest tests/test_differential.py
"""
import os

import pytest
from hypothesis import HealthCheck, given, settings

import _diffprog
from _diffprog import NEVER, Program, check, programs, run_program

EXAMPLES = int(os.environ.get("ASYNCIO_C_DIFF_EXAMPLES", "500"))
# Each implementation runs each program REPEAT times (the oracle REPEAT + 1 times), all
# traces compared: a determinism stress, e.g. ASYNCIO_C_DIFF_REPEAT=5.
REPEAT = int(os.environ.get("ASYNCIO_C_DIFF_REPEAT", "1"))

settings.register_profile(
    "asyncio_c_diff",
    max_examples=EXAMPLES,
    deadline=None,                  # a loaded 2-core box: no per-example time limit
    database=None,                  # no .hypothesis directory; failures print the program
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
DIFF = settings.get_profile("asyncio_c_diff")

pytestmark = pytest.mark.timeout(max(600, EXAMPLES))


def _drop_strategy_cache():
    """The generator builds its strategies per program (they depend on the drawn sizes), and
    hypothesis keeps up to 1024 of them in a process-wide cache, each with its whole tree: after
    1500 programs ~380k objects and ~300 MiB stayed alive, every later gc.collect() of the session
    walked them (the rest of make test ran 2-3x slower) and the heap never shrank back (RSS-based
    tests of later modules misjudged).  Emptied after every program; the cache is hypothesis's
    private one, so only where it is found."""
    try:
        from hypothesis.strategies._internal import utils
    except ImportError:
        return
    clear = getattr(utils, "clear_strategy_cache", None)
    if clear is not None:
        clear()


@pytest.fixture(autouse=True, scope="module")
def _empty_strategy_cache_at_the_end():
    yield
    _drop_strategy_cache()


@DIFF
@given(prog=programs())
def test_differential(prog):
    _drop_strategy_cache()
    check(prog, repeat=REPEAT)


def test_trace_is_deterministic():
    """The same program gives the same trace run after run, on every implementation (the
    premise of the comparison; a program with timers of delay 0 and NEVER only)."""
    prog = Program(
        bodies=[
            [("tick", 2), ("wait", (("F", 0), ("T", 1)), "FIRST_COMPLETED", 0),
             ("call_later0", ("set_result", 0, 7)), ("await", ("F", 0))],
            [("wait_for", ("F", 1), NEVER), ("raise", 3)],
            [("timeout", NEVER, [("tick", 1)]), ("gather", (("T", 0), ("T", 1)), True)],
        ],
        nfut=2,
        main=[("spawn", 2), ("tick", 1), ("call_later0", ("cancel", ("F", 1), "x")),
              ("call_soon", ("boom", 1)), ("tick", 3)],
    )
    traces = [run_program(prog, mode) for mode in _diffprog.MODES for _ in range(5)]
    assert all(t == traces[0] for t in traces)
    trace = traces[0]["trace"]
    # the call_later(0) callback fired after the tick that followed it, cancelling F1
    assert trace.index(("callback", "cancel", "F1", True)) > trace.index(("main", "call_later0"))
    assert ("T1", "wait_for", "raised", ("CancelledError", ("x",), None, None)) in trace
    assert ("T0", "wait", "->", (["T1"], ["F0"])) in trace


def test_hang_is_reported(monkeypatch):
    """A program still running after the guard's time is stopped and reported (as "HANG" in
    its trace), not left to hang the suite."""
    monkeypatch.setattr(_diffprog, "HANG_SECONDS", 0.3)

    async def stuck(self):
        self.log("main", "stuck")
        await self.loop.create_future()

    monkeypatch.setattr(_diffprog.Run, "main", stuck)
    prog = Program(bodies=[[]], nfut=0, main=[("tick", 1)])
    for mode in _diffprog.MODES:
        assert run_program(prog, mode)["trace"] == [("main", "stuck"), ("HANG",)]


def test_new_ops_trace():
    """as_completed, timeout rescheduling, a BaseException and a KeyboardInterrupt, the
    primitives: same trace on every implementation, and the trace says what asyncio does."""
    prog = Program(
        bodies=[
            [("tick", 1), ("raise_base", 0)],
            [("as_completed", (("T", 0), ("F", 0)), None, "for"),
             ("as_completed", (("F", 1),), 0, "for")],
            [("timeout", NEVER, [("reschedule", 0), ("tick", 1)])],
            [("timeout_at", None, [("reschedule", NEVER), ("tick", 1), ("reschedule", None)])],
            [("lock", [("ev_wait",)]), ("q_get",), ("raise_base", "kbi")],
        ],
        nfut=2,
        main=[("spawn", 1), ("spawn", 2), ("spawn", 3), ("spawn", 4), ("set_result", 0, 7),
              ("tick", 2),
              ("ev_set",), ("q_put", 4), ("tick", 2)],
    )
    traces = [run_program(prog, mode) for mode in _diffprog.MODES for _ in range(2)]
    assert all(t == traces[0] for t in traces)
    trace = traces[0]["trace"]
    assert ("T1", "as_completed", "->", [("ok", 7),
                                         ("raised", ("DiffBase", (0,), None, None))]) in trace
    assert ("T1", "as_completed", "->", [("raised", ("TimeoutError", (), None, None))]) in trace
    assert ("T2", "reschedule", 0, "past", False) in trace
    assert ("T2", "timeout-exc", ("TimeoutError", (), "CancelledError", "CancelledError"),
            "past", True) in trace
    assert ("T3", "reschedule", NEVER, "never", False) in trace
    assert ("T3", "timeout-ok", None, False) in trace
    assert ("T4", "q_get", "->", 4) in trace
    assert ("escaped", ("KeyboardInterrupt", ("kbi",), None, None), False) in trace
    assert ("final", "T4", ("exception", ("KeyboardInterrupt", ("kbi",), None, None))) in trace


def test_c_patch_mode_unpatches_on_failure(monkeypatch):
    """Mode c_patch patches asyncio for the run only, even when the run fails."""
    import asyncio

    import asyncio_c
    gather = asyncio.gather

    def failing(self):
        assert asyncio_c.is_patched()
        raise KeyError("boom")

    monkeypatch.setattr(_diffprog.Run, "run_patched", failing)
    with pytest.raises(KeyError):
        run_program(Program(bodies=[[]], nfut=0, main=[("tick", 1)]), "c_patch")
    assert not asyncio_c.is_patched()
    assert asyncio.gather is gather
