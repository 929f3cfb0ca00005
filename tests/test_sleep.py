"""asyncio_c.sleep against asyncio.sleep: every scenario runs with both, on asyncio's loop and on
ours, and must leave the same trace (results, exceptions, order of events, timers left)."""
import asyncio
import gc
import math
import sys
import warnings

import pytest

import asyncio_c

from _helpers import collect

PY = sys.version_info[:2]
SLEEPS = {"asyncio": asyncio.sleep, "asyncio_c": asyncio_c.sleep}
LOOPS = {"asyncio-loop": asyncio.new_event_loop, "asyncio_c-loop": asyncio_c.new_event_loop}


def live_timers(loop):
    """Scheduled, not cancelled timers of either loop."""
    if isinstance(loop, asyncio_c.Loop):
        return loop._ac_timer_count
    return len([h for h in loop._scheduled if not h.cancelled()])


def _exc(e):
    return (type(e).__name__, str(e))


def run_scenario(scenario, sleep_name, loop_name):
    loop = LOOPS[loop_name]()
    trace = []
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx.get("message")))
    try:
        try:
            res = loop.run_until_complete(scenario(SLEEPS[sleep_name], trace, loop))
            trace.append(("result", res))
        except BaseException as e:  # noqa: BLE001  (the trace records what happened)
            trace.append(("raised", _exc(e)))
        trace.append(("timers left", live_timers(loop)))
    finally:
        loop.close()
    trace.append(("handler", errors))
    return trace


def same_as_asyncio(scenario):
    """The scenario's trace, checked to be the same with both sleeps on both loops."""
    for loop_name in LOOPS:
        want = run_scenario(scenario, "asyncio", loop_name)
        got = run_scenario(scenario, "asyncio_c", loop_name)
        assert got == want, f"on {loop_name}"
    return want


async def _ticker(trace, n):
    for i in range(n):
        trace.append(("tick", i))
        await asyncio.sleep(0)


def test_results():
    async def sc(sleep, trace, loop):
        trace.append(await sleep(0))
        trace.append(await sleep(0, "zero"))
        trace.append(await sleep(-1, result=("neg",)))
        trace.append(await sleep(0.001, "pos"))
        trace.append(await sleep(delay=0.0, result=[1]))
        return await sleep(1e-9, {"k": 1})
    t = same_as_asyncio(sc)
    assert t[:5] == [None, "zero", ("neg",), "pos", [1]]


def test_zero_is_exactly_one_iteration():
    async def sc(sleep, trace, loop):
        ticker = loop.create_task(_ticker(trace, 4))
        await sleep(0)
        trace.append("a")
        await sleep(-5)
        trace.append("b")
        await sleep(0.0)
        trace.append("c")
        await ticker
    t = same_as_asyncio(sc)
    assert t[:6] == [("tick", 0), "a", ("tick", 1), "b", ("tick", 2), "c"]


def test_zero_sets_no_timer():
    async def sc(sleep, trace, loop):
        coro = sleep(0)
        fut = coro.send(None)
        trace.append(fut)
        trace.append(live_timers(loop))
        try:
            coro.send(None)
        except StopIteration as e:
            trace.append(("stop", e.value))
    assert same_as_asyncio(sc)[:3] == [None, 0, ("stop", None)]


def test_positive_delay_waits_on_a_future_and_cancels_its_timer():
    async def sc(sleep, trace, loop):
        t0 = loop.time()
        task = loop.create_task(sleep(10, "never"))
        await asyncio.sleep(0)
        trace.append(live_timers(loop))
        task.cancel("stop it")
        try:
            await task
        except asyncio.CancelledError as e:
            trace.append(("cancelled", e.args))
        trace.append(loop.time() - t0 < 5)
    t = same_as_asyncio(sc)
    assert t[:3] == [1, ("cancelled", ("stop it",)), True]
    assert ("timers left", 0) in t


def test_order_of_timers():
    async def sc(sleep, trace, loop):
        async def one(d, name):
            await sleep(d)
            trace.append(name)
        await asyncio.gather(one(0.03, "c"), one(0.01, "a"), one(0.02, "b"), one(0, "z"))
    assert same_as_asyncio(sc)[:4] == ["z", "a", "b", "c"]


@pytest.mark.parametrize("bad", ["1", None, object(), [1], 1j])
def test_bad_delay(bad):
    async def sc(sleep, trace, loop):
        coro = sleep(bad)  # nothing is checked before the coroutine runs
        trace.append("made")
        try:
            await coro
        except Exception as e:  # noqa: BLE001
            trace.append(_exc(e))
    t = same_as_asyncio(sc)
    assert t[0] == "made" and t[1][0] == "TypeError"


@pytest.mark.parametrize("delay", [math.nan, math.inf, -math.inf, 10**30, -(10**30), True, False])
def test_odd_delays(delay):
    async def sc(sleep, trace, loop):
        task = loop.create_task(sleep(delay, "r"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        trace.append(task.done())
        if task.done():
            try:
                trace.append(task.result())
            except BaseException as e:  # noqa: BLE001
                trace.append(_exc(e))
        else:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                trace.append("cancelled")
    if delay is math.nan or delay == 10**30:
        # asyncio's own loop vs ours differ on a NaN/huge deadline in call_at (a loop
        # matter, not sleep's): compare the sleeps on each loop separately.
        for loop_name in LOOPS:
            want = run_scenario(sc, "asyncio", loop_name)
            got = run_scenario(sc, "asyncio_c", loop_name)
            assert got == want, loop_name
        return
    same_as_asyncio(sc)


def test_nan_on_313():
    async def sc(sleep, trace, loop):
        try:
            await sleep(math.nan)
        except ValueError as e:
            trace.append(_exc(e))
        return "ok"
    if PY >= (3, 13):
        assert same_as_asyncio(sc)[0] == ("ValueError", "Invalid delay: NaN (not a number)")


def test_subclass_delays():
    class MyFloat(float):
        pass

    class MyInt(int):
        def __le__(self, other):
            raise ZeroDivisionError("custom compare")

    async def sc(sleep, trace, loop):
        trace.append(await sleep(MyFloat(0.0), "f"))
        trace.append(await sleep(MyFloat(0.001), "f2"))
        try:
            await sleep(MyInt(1))
        except ZeroDivisionError as e:
            trace.append(_exc(e))
    assert same_as_asyncio(sc)[:3] == ["f", "f2", ("ZeroDivisionError", "custom compare")]


def test_arguments():
    for sleep in SLEEPS.values():
        with pytest.raises(TypeError):
            sleep()
        with pytest.raises(TypeError):
            sleep(1, 2, 3)
        with pytest.raises(TypeError):
            sleep(1, bogus=2)
        with pytest.raises(TypeError):
            sleep(1, delay=2)


def test_is_a_coroutine_for_asyncio():
    loop = asyncio_c.new_event_loop()
    try:
        c = asyncio_c.sleep(0, "v")
        assert asyncio.iscoroutine(c)
        t = asyncio.ensure_future(c, loop=loop)
        assert loop.run_until_complete(t) == "v"
        t = loop.create_task(asyncio_c.sleep(0.001, "w"))
        assert loop.run_until_complete(t) == "w"
        assert loop.run_until_complete(asyncio_c.sleep(0, "x")) == "x"
        assert loop.run_until_complete(asyncio.wait_for(asyncio_c.sleep(0, "y"), 1)) == "y"

        async def both():
            return await asyncio.gather(asyncio_c.sleep(0, 1), asyncio_c.sleep(0.001, 2))
        assert loop.run_until_complete(both()) == [1, 2]
        assert asyncio_c.sleep.__name__ == "sleep"
        c = asyncio_c.sleep(0)
        assert c.__name__ == c.__qualname__ == "sleep" and c.cr_running is False
        c.close()
    finally:
        loop.close()


def test_protocol_errors():
    """The coroutine protocol's errors, as a native coroutine raises them."""
    for sleep in SLEEPS.values():
        c = sleep(0)
        with pytest.raises(TypeError, match="can't send non-None value to a just-started coroutine"):
            c.send(1)
        assert c.send(None) is None
        with pytest.raises(StopIteration):
            c.send("anything")
        with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
            c.send(None)
        c.close()  # closing a finished coroutine is fine

        c = sleep(0)
        with pytest.raises(KeyError):
            c.throw(KeyError("at start"))
        with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
            c.send(None)

        c = sleep(0)
        c.send(None)
        with pytest.raises(ZeroDivisionError):
            c.throw(ZeroDivisionError)
        c = sleep(0)
        with pytest.raises(TypeError):
            c.throw(42)
        c.close()


def test_close_suspended_cancels_timer():
    async def sc(sleep, trace, loop):
        c = sleep(5)
        fut = c.send(None)
        trace.append(type(fut).__name__ in ("Future", "_asyncio.Future"))
        trace.append(live_timers(loop))
        c.close()
        trace.append(live_timers(loop))
        with pytest.raises(RuntimeError):
            c.send(None)
    assert same_as_asyncio(sc)[:3] == [True, 1, 0]


def test_throw_into_waiting_sleep():
    async def sc(sleep, trace, loop):
        c = sleep(5)
        c.send(None)
        try:
            c.throw(ValueError("boom"))
        except ValueError as e:
            trace.append(_exc(e))
        trace.append(live_timers(loop))
    assert same_as_asyncio(sc)[:2] == [("ValueError", "boom"), 0]


def test_never_awaited_warns():
    for name, sleep in SLEEPS.items():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            sleep(1)
            collect()
        msgs = [str(x.message) for x in w if issubclass(x.category, RuntimeWarning)]
        assert msgs == ["coroutine 'sleep' was never awaited"], name


def test_without_running_loop():
    for sleep in SLEEPS.values():
        c = sleep(0, "r")
        assert c.send(None) is None  # a zero sleep needs no loop
        with pytest.raises(StopIteration):
            c.send(None)
        c = sleep(1)
        with pytest.raises(RuntimeError, match="no running event loop"):
            c.send(None)


def test_no_leak():
    """Many sleeps, cancelled or not, leave no objects behind."""
    loop = asyncio_c.new_event_loop()

    async def body():
        for _ in range(200):
            await asyncio_c.sleep(0)
            await asyncio_c.sleep(0.0001)
            t = loop.create_task(asyncio_c.sleep(10))
            await asyncio_c.sleep(0)
            t.cancel()
            try:
                await t
            except asyncio.CancelledError:
                pass

    try:
        loop.run_until_complete(body())
        collect()
        before = len(gc.get_objects())
        loop.run_until_complete(body())
        collect()
        after = len(gc.get_objects())
    finally:
        loop.close()
    assert after - before < 50


def test_in_timeout_and_taskgroup():
    async def sc(sleep, trace, loop):
        try:
            async with asyncio.timeout(0.01):
                await sleep(10)
        except TimeoutError:
            trace.append("timeout")
        async with asyncio.TaskGroup() as tg:
            a = tg.create_task(sleep(0.001, "a"))
            b = tg.create_task(sleep(0, "b"))
        trace.append((a.result(), b.result()))
        return "done"
    if PY >= (3, 11):
        assert same_as_asyncio(sc)[:2] == ["timeout", ("a", "b")]


@pytest.mark.parametrize("loop_name", list(LOOPS))
def test_timer_callback_bad_input(loop_name):
    """sleep's timer callback raises what asyncio's futures._set_result_unless_cancelled does."""
    ours = asyncio_c._core._set_result_unless_cancelled
    theirs = asyncio.futures._set_result_unless_cancelled
    loop = LOOPS[loop_name]()

    async def body():
        await asyncio.sleep(10)

    try:
        task = loop.create_task(body())
        done = loop.create_future()
        done.set_result(1)
        cancelled = loop.create_future()
        cancelled.cancel()
        for target, exc in [(task, RuntimeError), (done, asyncio.InvalidStateError),
                            (object(), AttributeError)]:
            for fn in (theirs, ours):
                with pytest.raises(exc):
                    fn(target, "r")
        for fn in (theirs, ours):
            assert fn(cancelled, "r") is None
        with pytest.raises(TypeError):
            ours(done)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)
    finally:
        loop.close()


def test_internal_types_cannot_be_instantiated():
    """The coroutine and callback types only come from the functions (asyncio's coroutine type
    refuses instantiation the same way): making one from Python is a TypeError, not a crash."""
    ref = asyncio.sleep(0)
    with pytest.raises(TypeError):
        type(ref.__await__())()  # asyncio's own, for reference
    ref.close()
    loop = asyncio_c.new_event_loop()

    async def body():
        f = loop.create_future()
        g = asyncio_c.gather(f)
        s = asyncio_c.shield(f)
        w = loop.create_task(asyncio_c.wait([f]))
        await asyncio.sleep(0)
        types_ = {type(cb[0]) for cb in f._callbacks}
        coros = [asyncio_c.sleep(0), asyncio_c.wait([f]), asyncio_c.wait_for(f, 1)]
        types_ |= {type(c) for c in coros}
        for c in coros:
            c.close()
        f.set_result(1)
        await g
        await s
        await w
        return types_

    try:
        found = loop.run_until_complete(body())
    finally:
        loop.close()
    assert len(found) == 6
    for t in found:
        with pytest.raises(TypeError, match="cannot create"):
            t()
