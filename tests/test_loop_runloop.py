"""run_forever's loop of iterations, and when an iteration may skip its poll.

asyncio_c runs run_forever's iterations in C (``_core.Loop._ac_run``) and, when
something is ready (a zero-timeout poll) while the only fd watched is the
self-pipe and no signal handler is set, skips the epoll_wait call.  These
cases check that nothing a program can observe changes: I/O, signals and
cross-thread callbacks still arrive in the iteration asyncio would run them
in, and a _run_once replaced by a subclass or on the instance is still what
runs.  Every case runs on asyncio's loop and on ours.
"""
import asyncio
import os
import signal
import socket
import threading

import pytest

from _loop_helpers import LOOP_IMPLS, LoopEnv, lenv, limpl  # noqa: F401


def _count_iterations_until(loop, predicate, limit=10_000):
    """Iterations of one task doing sleep(0) until predicate() holds."""
    async def spin():
        for i in range(limit):
            if predicate():
                return i
            await asyncio.sleep(0)
        raise AssertionError("never happened")
    return loop.run_until_complete(spin())


def test_reader_added_during_busy_loop_runs_next_iteration(lenv):
    """A busy task (ready queue never empty) still sees a readable socket
    in the very next pass, as with asyncio's select(0)."""
    loop = lenv.loop
    a, b = socket.socketpair()
    try:
        got = []
        loop.add_reader(a, lambda: got.append(a.recv(10)))

        async def main():
            await asyncio.sleep(0)
            b.send(b"x")
            await asyncio.sleep(0)      # the pass that polls and queues the reader
            first = list(got)
            await asyncio.sleep(0)
            return first, list(got)

        first, later = loop.run_until_complete(main())
        assert later == [b"x"]
        assert first == [b"x"] or first == []   # same on both loops (checked below)
        loop.remove_reader(a)
    finally:
        a.close()
        b.close()


def test_reader_timing_is_asyncio_s():
    """The exact pass in which the reader runs, compared across loops."""
    seen = {}
    for impl in LOOP_IMPLS:
        env = LoopEnv(impl)
        a, b = socket.socketpair()
        try:
            got = []
            env.loop.add_reader(a, lambda: got.append(a.recv(10)))
            b.send(b"x")
            seen[impl.name] = _count_iterations_until(env.loop, lambda: got)
            env.loop.remove_reader(a)
        finally:
            a.close()
            b.close()
            env.close()
    assert seen["asyncio_c"] == seen["asyncio"], seen


def test_signal_handler_runs_during_busy_loop(lenv):
    """Signal numbers come through the self-pipe: with a handler set, the
    busy loop polls again and runs it promptly."""
    loop = lenv.loop
    hits = []
    loop.add_signal_handler(signal.SIGUSR1, hits.append, 1)
    try:
        if lenv.impl.is_c:
            assert loop._ac_quiet_fd == -1
        os.kill(os.getpid(), signal.SIGUSR1)
        n = _count_iterations_until(loop, lambda: hits)
        assert n < 10, n
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    if lenv.impl.is_c:
        assert loop._ac_quiet_fd == loop._ssock.fileno()


def test_call_soon_threadsafe_into_busy_loop(lenv):
    loop = lenv.loop
    hits = []
    started = threading.Event()

    def poster():
        started.wait()
        for i in range(200):
            loop.call_soon_threadsafe(hits.append, i)

    t = threading.Thread(target=poster)
    t.start()

    async def main():
        started.set()
        while len(hits) < 200:
            await asyncio.sleep(0)

    loop.run_until_complete(asyncio.wait_for(main(), 10))
    t.join()
    assert hits == list(range(200))


def test_call_soon_threadsafe_wakes_idle_loop(lenv):
    """The blocking poll is still woken by another thread."""
    loop = lenv.loop
    fut = loop.create_future()
    threading.Timer(0.05, loop.call_soon_threadsafe, (fut.set_result, 7)).start()
    assert loop.run_until_complete(asyncio.wait_for(fut, 5)) == 7


class _CountingLoopMixin:
    calls = 0

    def _run_once(self):
        type(self).calls += 1
        super()._run_once()


@pytest.mark.parametrize("where", ["subclass", "instance"])
def test_replaced_run_once_is_what_runs(limpl, where):
    if where == "subclass":
        cls = type("Counting", (_CountingLoopMixin, limpl.loop_type), {})
        loop = cls()
        counter = cls
    else:
        loop = limpl.new_loop()
        orig = loop._run_once

        class counter:
            calls = 0

        def run_once():
            counter.calls += 1
            orig()
        loop._run_once = run_once
    try:
        async def main():
            for _ in range(5):
                await asyncio.sleep(0)
        loop.run_until_complete(main())
        assert counter.calls >= 6
    finally:
        loop.close()


def test_run_forever_state_restored_after_error(lenv):
    loop = lenv.loop

    def boom():
        raise KeyboardInterrupt

    loop.call_soon(boom)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert not loop.is_running()
    assert asyncio._get_running_loop() is None
    assert loop._thread_id is None and not loop._stopping
    loop.call_soon(loop.stop)
    loop.run_forever()          # runs again


def test_run_forever_closed_and_nested(lenv):
    loop = lenv.loop

    async def nested():
        with pytest.raises(RuntimeError, match="already running"):
            loop.run_forever()

    loop.run_until_complete(nested())
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.run_forever()


def test_quiet_fd_bad_values(limpl):
    if not limpl.is_c:
        pytest.skip("asyncio_c's own attribute")
    loop = limpl.new_loop()
    try:
        with pytest.raises(TypeError):
            loop._ac_quiet_fd = "3"
        loop._ac_quiet_fd = -5
        assert loop._ac_quiet_fd == -1
        loop._ac_quiet_fd = 1 << 40
        assert loop._ac_quiet_fd == -1
        del loop._ac_quiet_fd
        assert loop._ac_quiet_fd == -1
        loop.run_until_complete(asyncio.sleep(0))   # polls every pass now
    finally:
        loop.close()
