"""Running the loop: run_forever, run_until_complete, stop, close, is_running, is_closed.

Every case runs on asyncio's selector loop and on asyncio_c's loop (fixture ``limpl``)
with the same expectations.
"""
import asyncio
import gc
import os
import threading
import time
import weakref

import pytest

from _loop_helpers import LOOP_IMPLS, LoopEnv, lenv, limpl, spin_loop  # noqa: F401


# --------------------------------------------------------------------------------------
# run_until_complete


def test_run_until_complete_future(lenv):
    loop = lenv.loop
    fut = loop.create_future()
    assert isinstance(fut, lenv.impl.Future)
    loop.call_soon(fut.set_result, 42)
    assert loop.run_until_complete(fut) == 42
    assert not loop.is_running()


def test_run_until_complete_coroutine_wraps_in_task_of_the_loop(lenv):
    seen = {}

    async def main():
        seen["loop"] = asyncio.get_running_loop()
        seen["task"] = asyncio.current_task()
        await asyncio.sleep(0)
        return "done"

    assert lenv.run(main()) == "done"
    assert seen["loop"] is lenv.loop
    assert type(seen["task"]) is lenv.impl.Task
    assert seen["task"].done() and seen["task"].result() == "done"


def test_run_until_complete_awaitable(lenv):
    class Awaitable:
        def __await__(self):
            yield from asyncio.sleep(0).__await__()
            return "awaited"

    assert lenv.run(Awaitable()) == "awaited"


def test_run_until_complete_already_done_future(lenv):
    fut = lenv.loop.create_future()
    fut.set_result("early")
    assert lenv.run(fut) == "early"


@pytest.mark.parametrize("bad", [42, None, "coro"])
def test_run_until_complete_not_awaitable(lenv, bad):
    with pytest.raises(TypeError, match="An asyncio.Future, a coroutine or an awaitable"):
        lenv.run(bad)
    assert not lenv.loop.is_running()


def test_run_until_complete_future_of_other_loop(lenv):
    other = asyncio.SelectorEventLoop()
    try:
        fut = other.create_future()
        with pytest.raises(ValueError, match="belongs to a different loop"):
            lenv.run(fut)
    finally:
        other.close()


def test_run_until_complete_stops_when_the_future_fails(lenv):
    loop = lenv.loop
    later = []
    loop.call_later(0.3, later.append, "timer")

    async def fail():
        await asyncio.sleep(0)
        raise ZeroDivisionError("boom")

    t0 = time.monotonic()
    with pytest.raises(ZeroDivisionError, match="boom"):
        loop.run_until_complete(fail())
    # stopped at once, not after the pending timer
    assert time.monotonic() - t0 < 0.25
    assert later == []
    assert not loop.is_running()
    # and usable again
    assert loop.run_until_complete(asyncio.sleep(0, "again")) == "again"


def test_run_until_complete_stops_when_the_future_is_cancelled(lenv):
    loop = lenv.loop
    fut = loop.create_future()
    loop.call_soon(fut.cancel)
    with pytest.raises(asyncio.CancelledError):
        loop.run_until_complete(fut)
    assert not loop.is_running()


def test_run_until_complete_stopped_before_future_completed(lenv):
    loop = lenv.loop
    fut = loop.create_future()
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError, match=r"^Event loop stopped before Future completed\.$"):
        loop.run_until_complete(fut)
    assert not fut.done()
    # the future can still complete on a later run
    loop.call_soon(fut.set_result, 7)
    assert loop.run_until_complete(fut) == 7


def test_run_until_complete_base_exception_propagates(lenv):
    loop = lenv.loop

    async def main():
        await asyncio.sleep(0)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(main())
    assert not loop.is_running()
    assert loop.run_until_complete(asyncio.sleep(0, 1)) == 1


def test_run_until_complete_while_running_refused(lenv):
    loop = lenv.loop
    errors = []

    async def main():
        coro = asyncio.sleep(0)
        try:
            loop.run_until_complete(coro)
        except RuntimeError as exc:
            errors.append(str(exc))
        finally:
            coro.close()

    lenv.run(main())
    assert errors == ["This event loop is already running"]


def test_run_forever_while_running_refused(lenv):
    loop = lenv.loop
    errors = []

    def cb():
        try:
            loop.run_forever()
        except RuntimeError as exc:
            errors.append(str(exc))
        loop.stop()

    loop.call_soon(cb)
    loop.run_forever()
    assert errors == ["This event loop is already running"]


@pytest.mark.parametrize("inner", LOOP_IMPLS, ids=lambda i: f"inner-{i.name}")
def test_refuses_to_run_inside_another_running_loop(lenv, inner):
    other = LoopEnv(inner)
    errors = []

    async def main():
        coro = asyncio.sleep(0)
        try:
            other.loop.run_until_complete(coro)
        except RuntimeError as exc:
            errors.append(str(exc))
        finally:
            coro.close()
        try:
            other.loop.run_forever()
        except RuntimeError as exc:
            errors.append(str(exc))

    try:
        lenv.run(main())
    finally:
        other.close()
    assert errors == ["Cannot run the event loop while another loop is running"] * 2
    assert other.errors == []


# --------------------------------------------------------------------------------------
# run_forever and stop


def test_stop_lets_the_current_pass_finish(lenv):
    loop = lenv.loop
    order = []

    def a():
        order.append("a")

    def b():
        order.append("b")
        loop.call_soon(order.append, "c")   # scheduled during the pass: next run

    loop.call_soon(a)
    loop.call_soon(loop.stop)
    loop.call_soon(b)
    loop.run_forever()
    assert order == ["a", "b"]
    spin_loop(loop)
    assert order == ["a", "b", "c"]


def test_stop_before_run_forever_runs_one_pass(lenv):
    loop = lenv.loop
    order = []
    loop.call_soon(order.append, 1)
    loop.stop()
    loop.run_forever()
    assert order == [1]
    assert not loop.is_running()
    # the stop request was consumed: a later stop() is needed to return again
    loop.call_soon(order.append, 2)
    loop.call_later(0.01, loop.stop)
    loop.run_forever()
    assert order == [1, 2]


def test_stop_from_another_thread(lenv):
    loop = lenv.loop

    def stopper():
        time.sleep(0.05)
        loop.call_soon_threadsafe(loop.stop)

    th = threading.Thread(target=stopper)
    t0 = time.monotonic()
    th.start()
    try:
        loop.run_forever()
    finally:
        th.join()
    assert time.monotonic() - t0 < 1.0


def test_run_forever_returns_after_stop_in_a_timer(lenv):
    loop = lenv.loop
    loop.call_later(0.02, loop.stop)
    t0 = loop.time()
    loop.run_forever()
    assert loop.time() - t0 >= 0.02 - 0.005  # epoll's ms granularity, rounded up


def test_is_running(lenv):
    loop = lenv.loop
    seen = []
    assert not loop.is_running()
    loop.call_soon(lambda: seen.append(loop.is_running()))
    spin_loop(loop)
    assert seen == [True]
    assert not loop.is_running()


def test_running_loop_and_get_event_loop_inside(lenv):
    loop = lenv.loop
    seen = []

    def cb():
        seen.append(asyncio.get_running_loop())
        seen.append(asyncio.get_event_loop())
        seen.append(asyncio._get_running_loop())

    loop.call_soon(cb)
    spin_loop(loop)
    assert seen == [loop, loop, loop]
    assert asyncio._get_running_loop() is None
    with pytest.raises(RuntimeError, match="no running event loop"):
        asyncio.get_running_loop()


def test_running_loop_restored_after_exception(lenv):
    loop = lenv.loop

    def cb():
        raise SystemExit(3)

    loop.call_soon(cb)
    with pytest.raises(SystemExit):
        loop.run_forever()
    assert asyncio._get_running_loop() is None
    assert not loop.is_running()


def test_thread_id_while_running(lenv):
    loop = lenv.loop
    seen = []
    loop.call_soon(lambda: seen.append(loop._thread_id))
    spin_loop(loop)
    assert seen == [threading.get_ident()]
    assert loop._thread_id is None


def test_loop_runs_in_another_thread(lenv):
    loop = lenv.loop
    result = []

    def body():
        asyncio.set_event_loop(loop)
        try:
            result.append(loop.run_until_complete(asyncio.sleep(0.01, threading.get_ident())))
        finally:
            asyncio.set_event_loop(None)

    th = threading.Thread(target=body)
    th.start()
    th.join(5)
    assert not th.is_alive()
    assert result == [th.ident]


# --------------------------------------------------------------------------------------
# close


def test_close_is_idempotent(lenv):
    loop = lenv.loop
    assert not loop.is_closed()
    loop.close()
    assert loop.is_closed()
    loop.close()
    assert loop.is_closed()


def test_close_refused_while_running(lenv):
    loop = lenv.loop
    errors = []

    def cb():
        try:
            loop.close()
        except RuntimeError as exc:
            errors.append(str(exc))

    loop.call_soon(cb)
    spin_loop(loop)
    assert errors == ["Cannot close a running event loop"]
    assert not loop.is_closed()


def test_closed_loop_refuses_work(lenv):
    loop = lenv.loop
    loop.close()
    for call in (
        lambda: loop.call_soon(print),
        lambda: loop.call_later(1, print),
        lambda: loop.call_at(loop.time() + 1, print),
        lambda: loop.call_soon_threadsafe(print),
        lambda: loop.run_forever(),
    ):
        with pytest.raises(RuntimeError, match="^Event loop is closed$"):
            call()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="^Event loop is closed$"):
        loop.run_until_complete(coro)
    coro.close()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="^Event loop is closed$"):
        loop.create_task(coro)
    coro.close()


def test_close_with_pending_timers_handles_and_readers(lenv):
    loop = lenv.loop
    ran = []

    class Callback:
        def __init__(self, tag):
            self.tag = tag

        def __call__(self, *args):
            ran.append(self.tag)

    cbs = [Callback("soon"), Callback("later"), Callback("reader"), Callback("writer")]
    refs = [weakref.ref(cb) for cb in cbs]
    r, w = os.pipe()
    try:
        loop.call_soon(cbs[0])
        loop.call_later(10, cbs[1])
        loop.add_reader(r, cbs[2])
        loop.add_writer(w, cbs[3])
        del cbs
        loop.close()
        assert loop.is_closed()
        assert ran == []
        # the loop let go of every callback it held
        gc.collect()
        assert [ref() for ref in refs] == [None] * 4
        # removal after close: nothing is registered any more
        assert loop.remove_reader(r) is False
        assert loop.remove_writer(w) is False
        # and the user's fds are left open
        os.write(w, b"x")
        assert os.read(r, 1) == b"x"
    finally:
        os.close(r)
        os.close(w)


def test_close_releases_the_loops_own_fds(limpl):
    def open_fds():
        return set(os.listdir("/proc/self/fd"))

    gc.collect()
    before = open_fds()
    loop = limpl.new_loop()
    during = open_fds()
    assert len(during) > len(before)          # epoll fd(s), self-pipe
    r, w = os.pipe()
    try:
        loop.add_reader(r, print)
        loop.run_until_complete(asyncio.sleep(0.001))
        loop.close()
        gc.collect()
        assert open_fds() - {str(r), str(w)} == before
    finally:
        os.close(r)
        os.close(w)


def test_close_shuts_the_default_executor_down(lenv):
    loop = lenv.loop
    assert lenv.run(loop.run_in_executor(None, sum, (1, 2))) == 3
    executor = loop._default_executor
    assert executor is not None
    loop.close()
    with pytest.raises(RuntimeError):
        executor.submit(print)


def test_closed_loop_is_not_running_and_reports_closed_in_repr(lenv):
    loop = lenv.loop
    assert "closed=False" in repr(loop)
    assert "running=False" in repr(loop)
    assert f"debug={loop.get_debug()}" in repr(loop)
    loop.close()
    assert "closed=True" in repr(loop)


def test_unclosed_loop_warns_and_is_collected(limpl):
    import warnings
    loop = limpl.new_loop()
    r, w = os.pipe()
    try:
        loop.call_soon(print)
        loop.call_later(10, print)
        loop.add_reader(r, print)
        loop.call_soon(lambda: loop)        # a cycle through a callback
        ref = weakref.ref(loop)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del loop
            gc.collect()
            gc.collect()
        assert ref() is None
        assert [str(x.message).split(" <")[0] for x in caught
                if issubclass(x.category, ResourceWarning)] == ["unclosed event loop"]
    finally:
        os.close(r)
        os.close(w)


# --------------------------------------------------------------------------------------
# foreign futures and tasks: asyncio's types on asyncio_c's loop and the other way round


@pytest.mark.parametrize("other", LOOP_IMPLS, ids=lambda i: f"types-of-{i.name}")
def test_futures_and_tasks_of_either_implementation(lenv, other):
    loop = lenv.loop

    async def child(x):
        await asyncio.sleep(0.001)
        return x + 1

    async def main():
        fut = other.Future(loop=loop)
        loop.call_soon(fut.set_result, 10)
        x = await fut
        task = other.Task(child(x), loop=loop)
        assert asyncio.current_task() is not task
        return await task

    task = other.Task(main(), loop=loop)
    assert loop.run_until_complete(task) == 11
    fut = other.Future(loop=loop)
    loop.call_later(0.001, fut.set_result, "f")
    assert loop.run_until_complete(fut) == "f"
