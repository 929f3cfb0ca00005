"""Signals arriving at awkward moments, on asyncio's loop and on asyncio_c's.

Every case runs in a fresh interpreter (a real os.kill of this process: a stray SIGINT
must not reach pytest), which prints one repr() line of what it saw; the parent
compares it with what asyncio guarantees, for both loops.

- A signal arriving while a callback (or a task's step) is busy: the loop's handler
  runs after that callback/step has finished, exactly once, in a later pass of the
  loop (the self-pipe is read by the next poll), never inside it.
- SIGINT with no loop handler (Python's default_int_handler) inside
  run_until_complete: KeyboardInterrupt raised where Python ran the handler (inside a
  callback, a task's step, or the poller) comes out of run_until_complete; the loop is
  then not running, get_running_loop() is cleared, the callbacks of the interrupted
  pass that had not run yet run on the next run, in order, none lost; the loop is
  reusable and closes.  A task whose step was interrupted is done with the
  KeyboardInterrupt as its exception; one interrupted in the poller stays pending.
- The same under asyncio.Runner with a loop factory (Runner's own SIGINT handler
  cancels the main task, then Runner.run raises KeyboardInterrupt, the runner stays
  usable).  test_entrypoints.py already covers an external Ctrl-C ending asyncio_c.run.
"""
import ast
import os
import sys

import pytest

import asyncio_c
from _loop_helpers import run_python

PRELUDE = r"""
import asyncio, os, signal, sys, time
import asyncio_c
IMPL = os.environ["IMPL"]
new_loop = asyncio.SelectorEventLoop if IMPL == "asyncio" else asyncio_c.new_event_loop

def busy(seconds=0.05):
    # a callback doing blocking work: no bytecode boundary is skipped, but the loop
    # does not get control back until it returns
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass

class Passes:
    # counts the loop's passes: a callback that re-schedules itself once per pass
    def __init__(self, loop):
        self.n = 0
        self.loop = loop
        self.h = loop.call_soon(self.tick)
    def tick(self):
        self.n += 1
        self.h = self.loop.call_soon(self.tick)
    def cancel(self):
        self.h.cancel()
"""


def child(impl, code, timeout=60):
    r = run_python(PRELUDE + code, args=("-P",), env={"IMPL": impl},
                   timeout=timeout)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 1, r.stdout + r.stderr
    return ast.literal_eval(lines[0][len("RESULT "):]), r.stderr


IMPLS = ["asyncio", "asyncio_c"]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals, /proc")


@pytest.mark.parametrize("impl", IMPLS)
def test_signal_during_a_callback_runs_after_it_once_in_a_later_pass(impl):
    res, _ = child(impl, r"""
loop = new_loop()
log = []
state = {"in_cb": False}
passes = Passes(loop)
def handler():
    log.append(("handler", passes.n, state["in_cb"]))
def cb():
    state["in_cb"] = True
    log.append(("cb start", passes.n))
    os.kill(os.getpid(), signal.SIGUSR1)
    busy()
    log.append(("cb end", passes.n))
    state["in_cb"] = False
loop.add_signal_handler(signal.SIGUSR1, handler)
loop.call_soon(cb)
loop.run_until_complete(asyncio.sleep(0.2))
passes.cancel()
loop.remove_signal_handler(signal.SIGUSR1)
loop.close()
print("RESULT", repr(log))
""")
    (s, p0), (e, p1), (h, p2, inside) = res
    assert (s, e, h) == ("cb start", "cb end", "handler")   # exactly once, after cb
    assert p0 == p1 and p2 > p1                             # a later pass
    assert inside is False


@pytest.mark.parametrize("impl", IMPLS)
def test_signals_during_long_task_steps(impl):
    """Three steps of a task each send a signal and keep working; each delivery happens
    between steps, once per signal (they are spaced by a full pass, so none coalesce)."""
    res, _ = child(impl, r"""
loop = new_loop()
log = []
def handler(tag):
    log.append(("handler", tag))
async def worker():
    for i in range(3):
        log.append(("step", i))
        os.kill(os.getpid(), signal.SIGUSR1)
        busy(0.03)
        log.append(("step end", i))
        # one pass for the loop to read the self-pipe and another for the handler
        await asyncio.sleep(0.05)
    return "done"
loop.add_signal_handler(signal.SIGUSR1, handler, "usr1")
r = loop.run_until_complete(worker())
loop.remove_signal_handler(signal.SIGUSR1)
loop.close()
print("RESULT", repr((r, log)))
""")
    r, log = res
    assert r == "done"
    want = []
    for i in range(3):
        want += [("step", i), ("step end", i), ("handler", "usr1")]
    assert log == want


SIGINT_IN_LOOP = r"""
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
loop = new_loop()
asyncio.set_event_loop(loop)
out = {}
order = []
where = os.environ["WHERE"]

async def main():
    order.append("main")
    if where == "step":
        os.kill(os.getpid(), signal.SIGINT)
        busy(0.02)   # the handler raises at the next bytecode boundary: in here
        order.append("NOT REACHED")
    else:           # blocked in the poller with nothing scheduled
        await loop.create_future()

if where == "callback":
    def interrupting():
        os.kill(os.getpid(), signal.SIGINT)
        busy(0.02)
        order.append("NOT REACHED")
    fut = loop.create_future()
    loop.call_soon(order.append, "a")
    loop.call_soon(interrupting)
    loop.call_soon(order.append, "b")        # same pass, after the interrupted one
    loop.call_soon(order.append, "c")
    aw = fut
else:
    if where == "poller":
        loop.call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
    aw = task = loop.create_task(main())
try:
    loop.run_until_complete(aw)
except KeyboardInterrupt as e:
    out["raised"] = "KeyboardInterrupt"
    import traceback
    out["from_ruc"] = any(f.name == "run_until_complete"
                          for f in traceback.extract_tb(e.__traceback__))
out["running"] = loop.is_running()
out["running_loop"] = asyncio._get_running_loop() is None and "cleared" or "SET"
try:
    asyncio.get_running_loop()
    out["get_running_loop"] = "loop"
except RuntimeError:
    out["get_running_loop"] = "RuntimeError"
out["order_at_interrupt"] = list(order)
if where == "callback":
    # the rest of the interrupted pass runs on the next run, in order
    loop.run_until_complete(asyncio.sleep(0))
    out["order_after"] = list(order)
    fut.cancel()
else:
    out["task_done"] = task.done()
    if task.done():
        exc = task.exception()
        out["task_exc"] = type(exc).__name__
    else:
        task.cancel()
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            out["task_after"] = "cancelled"
out["reusable"] = loop.run_until_complete(asyncio.sleep(0.01, "again"))
loop.close()
out["closed"] = loop.is_closed()
asyncio.set_event_loop(None)
print("RESULT", repr(out))
"""


@pytest.mark.parametrize("where", ["callback", "step", "poller"])
@pytest.mark.parametrize("impl", IMPLS)
def test_sigint_without_handler_in_run_until_complete(impl, where):
    out, err = run_sigint(impl, where)
    common = {"raised": "KeyboardInterrupt", "from_ruc": True, "running": False,
              "running_loop": "cleared", "get_running_loop": "RuntimeError",
              "reusable": "again", "closed": True}
    for k, v in common.items():
        assert out[k] == v, (k, out, err)
    if where == "callback":
        assert out["order_at_interrupt"] == ["a"]
        assert out["order_after"] == ["a", "b", "c"]
    elif where == "step":
        assert out["order_at_interrupt"] == ["main"]
        assert (out["task_done"], out["task_exc"]) == (True, "KeyboardInterrupt")
    else:
        assert out["order_at_interrupt"] == ["main"]
        assert out["task_done"] is False
        assert out["task_after"] == "cancelled"


def run_sigint(impl, where):
    r = run_python(PRELUDE + SIGINT_IN_LOOP, args=("-P",),
                   env={"IMPL": impl, "WHERE": where})
    assert r.returncode == 0, r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert len(line) == 1, r.stdout + r.stderr
    return ast.literal_eval(line[0][7:]), r.stderr


@pytest.mark.parametrize("impl", IMPLS)
def test_sigint_inside_runner_with_loop_factory(impl):
    res, err = child(impl, r"""
out = {}
log = []
async def main():
    log.append("start")
    os.kill(os.getpid(), signal.SIGINT)     # Runner's handler: cancels this task
    busy(0.02)
    log.append("still in the step")
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    finally:
        log.append("finally")

async def child_task():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        log.append("child cancelled")
        raise

async def main2():
    t = asyncio.ensure_future(child_task())
    await asyncio.sleep(0)
    await main()

with asyncio.Runner(loop_factory=new_loop) as runner:
    loop = runner.get_loop()
    assert isinstance(loop, new_loop if isinstance(new_loop, type) else asyncio_c.Loop)
    for coro in (main, main2):
        try:
            runner.run(coro())
            out[coro.__name__] = "returned"
        except KeyboardInterrupt:
            out[coro.__name__] = "KeyboardInterrupt"
        out[coro.__name__ + " handler restored"] = (
            signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        out[coro.__name__ + " running"] = loop.is_running()
        out[coro.__name__ + " running_loop"] = asyncio._get_running_loop()
    out["again"] = runner.run(asyncio.sleep(0, "again"))
    out["left"] = sorted(t.get_coro().__name__ for t in asyncio.all_tasks(loop) if not t.done())
out["closed"] = loop.is_closed()
out["log"] = log
print("RESULT", repr(out))
""")
    assert res == {
        "main": "KeyboardInterrupt", "main handler restored": True,
        "main running": False, "main running_loop": None,
        "main2": "KeyboardInterrupt", "main2 handler restored": True,
        "main2 running": False, "main2 running_loop": None,
        "again": "again",
        # the child task of the interrupted main2 is still pending between runs
        # (Runner.run does not cancel the other tasks; close() does)
        "left": ["child_task"],
        "closed": True,
        "log": ["start", "still in the step", "cancelled", "finally",
                "start", "still in the step", "cancelled", "finally",
                "child cancelled"],
    }, err


@pytest.mark.parametrize("impl", IMPLS)
def test_handler_that_removes_and_replaces_itself(impl):
    """A handler removes itself and installs another one for the same signal (and sends
    the signal again from inside): the new handler gets the second signal, once; the old
    one never runs again; removing the last handler restores the default disposition."""
    res, _ = child(impl, r"""
loop = new_loop()
log = []
def second(tag):
    log.append(("second", tag))
    loop.remove_signal_handler(signal.SIGUSR1)
def first(tag):
    log.append(("first", tag))
    assert loop.remove_signal_handler(signal.SIGUSR1)
    loop.add_signal_handler(signal.SIGUSR1, second, "b")
    os.kill(os.getpid(), signal.SIGUSR1)
    busy(0.01)
    log.append("first end")
loop.add_signal_handler(signal.SIGUSR1, first, "a")
async def main():
    os.kill(os.getpid(), signal.SIGUSR1)
    for _ in range(40):
        await asyncio.sleep(0.005)
loop.run_until_complete(main())
log.append(signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL)
loop.close()
print("RESULT", repr(log))
""")
    assert res == [("first", "a"), "first end", ("second", "b"), True]


@pytest.mark.parametrize("impl", IMPLS)
def test_signals_mixed_with_threadsafe_storms(impl):
    """The self-pipe carries both call_soon_threadsafe wake-ups and signal numbers:
    producers in four threads storm the loop (blocked in the poller in between) while
    another thread sends SIGUSR1 repeatedly.  Every callback runs once, in order per
    producer; signals may coalesce, but the handler runs at least once and never more
    often than sent, and a signal sent after the storm is still delivered."""
    res, _ = child(impl, r"""
import threading
loop = new_loop()
got = {k: [] for k in range(4)}
hits = []
loop.add_signal_handler(signal.SIGUSR1, hits.append, 1)
PER = 2000
done = threading.Event()
def producer(k):
    for n in range(PER):
        loop.call_soon_threadsafe(got[k].append, n)
        if n % 100 == 0:
            time.sleep(0.001)
def sender():
    for _ in range(30):
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.002)
ths = [threading.Thread(target=producer, args=(k,)) for k in range(4)]
ths.append(threading.Thread(target=sender))
async def main():
    for t in ths:
        t.start()
    while any(t.is_alive() for t in ths) or sum(map(len, got.values())) < 4 * PER:
        await asyncio.sleep(0.005)
    n = len(hits)
    os.kill(os.getpid(), signal.SIGUSR1)
    for _ in range(2000):
        if len(hits) > n:
            break
        await asyncio.sleep(0.005)
    return n, len(hits)
before, after = loop.run_until_complete(main())
for t in ths:
    t.join()
loop.remove_signal_handler(signal.SIGUSR1)
loop.close()
print("RESULT", repr((before, after, all(got[k] == list(range(PER)) for k in got))))
""")
    before, after, in_order = res
    assert in_order
    assert 1 <= before <= 30
    assert after == before + 1


# KeyboardInterrupt / SystemExit raised by a protocol callback run by a transport (what
# a SIGINT landing in data_received amounts to; raised directly here, no real signal):
# it leaves run_until_complete, the transport stays open and delivers the next data.

import asyncio  # noqa: E402
import socket  # noqa: E402

from _loop_helpers import limpl  # noqa: E402,F401  (fixture)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("kind", ["tcp", "pipe", "udp"])
def test_base_exception_from_a_protocol_callback(limpl, kind, exc):
    loop = limpl.new_loop()
    errors, log = [], []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx["message"]))

    class P(asyncio.Protocol):
        def data_received(self, data):
            log.append(data)
            if len(log) == 1:
                raise exc

        def datagram_received(self, data, addr):
            self.data_received(data)

        def connection_lost(self, e):
            log.append(("lost", e))

    keep = []

    async def setup():
        if kind == "tcp":
            srv = socket.create_server(("127.0.0.1", 0))
            acc = asyncio.ensure_future(loop.sock_accept(srv))
            t, _ = await loop.create_connection(P, *srv.getsockname())
            s, _ = await acc
            srv.close()
            keep.append(s)
            return t, s.send
        if kind == "pipe":
            r, w = os.pipe()
            t, _ = await loop.connect_read_pipe(P, os.fdopen(r, "rb", 0))
            keep.append(os.fdopen(w, "wb", 0))
            return t, keep[0].write
        t, _ = await loop.create_datagram_endpoint(P, local_addr=("127.0.0.1", 0))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        keep.append(s)
        addr = t.get_extra_info("sockname")
        return t, lambda b: s.sendto(b, addr)

    try:
        t, send = loop.run_until_complete(setup())
        send(b"1")
        with pytest.raises(exc):
            loop.run_until_complete(asyncio.sleep(10))
        assert not loop.is_running() and asyncio._get_running_loop() is None
        assert not t.is_closing()
        send(b"2")
        deadline = 200
        while len(log) < 2 and deadline:
            loop.run_until_complete(asyncio.sleep(0.005))
            deadline -= 1
        t.close()
        loop.run_until_complete(asyncio.sleep(0.01))
        assert log == [b"1", b"2", ("lost", None)]
        assert errors == []
    finally:
        for k in keep:
            k.close()
        loop.close()
