"""asyncio.wait_for: every case runs asyncio's wait_for and asyncio_c's, each on asyncio's loop
(with asyncio's Future/Task) and on asyncio_c's loop (with asyncio_c's), with the same
expectations: asyncio's function on asyncio's loop is the oracle.  Where the running
version's asyncio differs (3.11: a task of its own and a waiter; 3.12+: the timeout context
manager in the caller's task; 3.13: TimeoutError inserted into other exceptions' context),
the expectation says so."""
import asyncio
import gc
import sys
import time

import pytest

import asyncio_c
from _helpers import (  # noqa: F401  (fixtures are used by name)
    ForeignFuture,
    env,
    impl,
)

PY312 = sys.version_info >= (3, 12)
PY313 = sys.version_info >= (3, 13)
LONG = 30  # a timeout that never expires in a test


class Fns:
    def __init__(self, name, wait_for):
        self.name = name
        self.wait_for = wait_for

    def __repr__(self):
        return f"<Fns {self.name}>"


FNS = [Fns("asyncio", asyncio.wait_for), Fns("asyncio_c", asyncio_c.wait_for)]


@pytest.fixture(params=FNS, ids=lambda f: f.name)
def fns(request):
    return request.param


def no_callbacks(fut):
    return not fut._callbacks


def chain(exc):
    """Type names along the __context__ chain of exc."""
    names = []
    while exc is not None and len(names) < 10:
        names.append(type(exc).__name__)
        exc = exc.__context__
    return names


async def forever():
    await asyncio.sleep(LONG * 10)


# ---------------------------------------------------------------- results


@pytest.mark.parametrize("timeout", [None, LONG, 0.05])
def test_coroutine_result(env, fns, timeout):
    async def inner(x):
        await asyncio.sleep(0)
        return x, asyncio.current_task()

    async def main():
        res, task = await fns.wait_for(inner(7), timeout)
        assert res == 7
        # 3.12+ awaits the coroutine in the caller's task; 3.11 wraps it unless timeout is None
        assert (task is asyncio.current_task()) == (PY312 or timeout is None)
        assert asyncio.current_task().cancelling() == 0
        # the timer was cancelled (asyncio's loop shows it; ours keeps its heap in C) ...
        assert [h for h in getattr(env.loop, "_scheduled", []) if not h.cancelled()] == []
        # ... and nothing cancels this task later
        await asyncio.sleep(0.1 if timeout == 0.05 else 0)
        return "survived"

    assert env.run(main()) == "survived"


@pytest.mark.parametrize("timeout", [None, LONG, 0, -1])
def test_done_future(env, fns, timeout):
    async def main():
        f = env.fut()
        f.set_result("r")
        assert await fns.wait_for(f, timeout) == "r"
        g = env.fut()
        g.set_exception(ValueError("v"))
        with pytest.raises(ValueError, match="v"):
            await fns.wait_for(g, timeout)

    env.run(main())


def test_future_set_later(env, fns):
    async def main():
        f = env.fut()
        env.loop.call_later(0.01, f.set_result, "ok")
        assert await fns.wait_for(f, LONG) == "ok"
        assert no_callbacks(f)

    env.run(main())


def test_inner_exception(env, fns):
    async def inner():
        await asyncio.sleep(0)
        raise KeyError("k")

    async def main():
        with pytest.raises(KeyError):
            await fns.wait_for(inner(), LONG)
        assert asyncio.current_task().cancelling() == 0

    env.run(main())


def test_awaitable_object(env, fns):
    class Aw:
        def __await__(self):
            yield from asyncio.sleep(0).__await__()
            return "aw"

    async def main():
        assert await fns.wait_for(Aw(), None) == "aw"
        assert await fns.wait_for(Aw(), LONG) == "aw"

    env.run(main())


def test_c_coroutines(env, fns):
    async def main():
        assert await fns.wait_for(asyncio_c.sleep(0, "s"), LONG) == "s"
        assert await fns.wait_for(asyncio_c.sleep(0.001, "t"), None) == "t"
        with pytest.raises(TimeoutError):
            await fns.wait_for(asyncio_c.sleep(LONG), 0.01)
        f = env.fut()
        f.set_result(1)
        done, _ = await fns.wait_for(asyncio_c.wait([f]), LONG)
        assert done == {f}
        # wait_for(wait_for(...))
        assert await fns.wait_for(asyncio_c.wait_for(asyncio_c.sleep(0, 3), LONG), LONG) == 3

    env.run(main())


# ---------------------------------------------------------------- timeouts


@pytest.mark.parametrize("timeout", [0, -1, -0.5, 0.0])
def test_nonpositive_timeout_coroutine_never_starts(env, fns, timeout):
    started = []

    async def inner():
        started.append(1)

    async def main():
        with pytest.raises(TimeoutError) as ei:
            await fns.wait_for(inner(), timeout)
        assert isinstance(ei.value.__cause__, asyncio.CancelledError)
        assert ei.value.__context__ is ei.value.__cause__
        assert ei.value.__suppress_context__
        assert started == []
        assert asyncio.current_task().cancelling() == 0

    env.run(main())


@pytest.mark.parametrize("timeout", [0, -1])
def test_nonpositive_timeout_pending_future(env, fns, timeout):
    async def main():
        f = env.fut()
        with pytest.raises(TimeoutError):
            await fns.wait_for(f, timeout)
        assert f.cancelled()
        assert no_callbacks(f)

    env.run(main())


@pytest.mark.parametrize("timeout", [0, -1])
def test_nonpositive_timeout_task_swallows_cancel(env, fns, timeout):
    async def inner():
        try:
            await asyncio.sleep(LONG)
        except asyncio.CancelledError:
            return "swallowed"

    async def main():
        t = env.loop.create_task(inner())
        await asyncio.sleep(0)
        assert await fns.wait_for(t, timeout) == "swallowed"
        assert no_callbacks(t)

    env.run(main())


@pytest.mark.parametrize("timeout", [0.01, 1e-300])
def test_timeout_expires(env, fns, timeout):
    async def main():
        t = env.loop.create_task(forever())
        with pytest.raises(TimeoutError) as ei:
            await fns.wait_for(t, timeout)
        assert type(ei.value) is TimeoutError
        assert isinstance(ei.value.__cause__, asyncio.CancelledError)
        assert ei.value.__context__ is ei.value.__cause__
        assert t.cancelled()
        assert asyncio.current_task().cancelling() == 0
        assert no_callbacks(t)
        # the task goes on normally
        await asyncio.sleep(0.001)
        return "after"

    assert env.run(main()) == "after"


def test_timeout_expires_coroutine(env, fns):
    finalised = []

    async def inner():
        try:
            await asyncio.sleep(LONG)
        finally:
            finalised.append(asyncio.current_task())

    async def main():
        with pytest.raises(TimeoutError):
            await fns.wait_for(inner(), 0.01)
        # the inner coroutine was finished before wait_for returned
        assert len(finalised) == 1
        assert (finalised[0] is asyncio.current_task()) == PY312

    env.run(main())


def test_timeout_bad_types(env, fns):
    async def main():
        for timeout in ["1", [], object()]:
            c = forever()
            with pytest.raises(TypeError) as ei:
                await fns.wait_for(c, timeout)
            c.close()
            ref = forever()
            with pytest.raises(TypeError) as ei_ref:
                await asyncio.wait_for(ref, timeout)
            ref.close()
            assert str(ei.value) == str(ei_ref.value)

    env.run(main())


def test_timeout_not_comparable_but_addable(env, fns):
    # `timeout <= 0` consults the object; a false answer then goes to loop.time() + timeout
    class T:
        def __le__(self, other):
            return False

        def __radd__(self, other):
            return other + 0.01

    async def main():
        with pytest.raises(TimeoutError):
            await fns.wait_for(forever(), T())

    if not PY312:
        pytest.skip("3.11 passes the object to call_later")
    env.run(main())


def test_inner_swallows_timeout_cancellation(env, fns):
    async def inner():
        try:
            await asyncio.sleep(LONG)
        except asyncio.CancelledError:
            pass
        await asyncio.sleep(0)
        return 42

    async def main():
        sentinel = object()
        before = sys.getrefcount(sentinel)

        async def holder():
            return sentinel, await inner()

        for _ in range(3):
            res = await fns.wait_for(holder(), 0.01)
            assert res == (sentinel, 42)
            del res
        assert asyncio.current_task().cancelling() == 0
        gc.collect()
        assert sys.getrefcount(sentinel) == before
        # nothing cancels us later
        await asyncio.sleep(0.02)
        return "ok"

    assert env.run(main()) == "ok"


def test_inner_task_swallows_timeout_cancellation(env, fns):
    async def inner():
        try:
            await asyncio.sleep(LONG)
        except asyncio.CancelledError:
            return "swallowed"

    async def main():
        t = env.loop.create_task(inner())
        assert await fns.wait_for(t, 0.01) == "swallowed"
        assert no_callbacks(t)
        assert asyncio.current_task().cancelling() == 0
        assert [h for h in getattr(env.loop, "_scheduled", []) if not h.cancelled()] == []

    env.run(main())


def test_inner_finishes_at_the_moment_of_the_timeout(env, fns):
    # The inner future gets its result and the deadline passes in the same loop iteration
    # (the result first).  3.11 returns the result; 3.12+ cancels the task before its step
    # runs, so the result is lost and TimeoutError is raised.
    T = 0.4

    async def main():
        loop = env.loop
        f = env.fut()
        t0 = loop.time()
        loop.call_at(t0 + T / 2, f.set_result, "r")

        def block():
            time.sleep(max(0.0, t0 + T + 0.1 - loop.time()))

        loop.call_soon(block)
        try:
            return await fns.wait_for(f, T)
        except TimeoutError:
            return "timeout"

    assert env.run(main()) == ("timeout" if PY312 else "r")


def test_waiter_cancelled_while_inner_finishes(env, fns):
    # The task running wait_for is cancelled in the same callback that finishes the inner
    # future: 3.11 returns the result, 3.12+ raises CancelledError.
    async def main():
        loop = env.loop
        f = env.fut()
        t = loop.create_task(fns.wait_for(f, LONG))
        await asyncio.sleep(0)

        def both():
            f.set_result("r")
            t.cancel()

        loop.call_soon(both)
        try:
            res = await t
        except asyncio.CancelledError:
            res = "cancelled"
        return res, t.cancelling()

    assert env.run(main()) == (("cancelled", 1) if PY312 else ("r", 1))


@pytest.mark.parametrize("timeout", [None, LONG])
def test_cancel_the_waiting_task(env, fns, timeout):
    async def main():
        inner = env.loop.create_task(forever())
        t = env.loop.create_task(fns.wait_for(inner, timeout))
        await asyncio.sleep(0.001)
        t.cancel("stop")
        with pytest.raises(asyncio.CancelledError):
            await t
        assert inner.cancelled()
        assert no_callbacks(inner)

    env.run(main())


def test_cancel_during_cancel_and_wait(env, fns):
    # The inner task resists its cancellation for a while; meanwhile the task running
    # wait_for is cancelled.  3.11 is waiting in _cancel_and_wait (the inner task is left to
    # finish); 3.12+ awaits the inner task itself, so the second cancel reaches it too.
    release = None

    async def stubborn():
        try:
            await asyncio.sleep(LONG)
        except asyncio.CancelledError:
            await release
            return "late"

    async def main():
        nonlocal release
        release = env.fut()
        inner = env.loop.create_task(stubborn())
        t = env.loop.create_task(fns.wait_for(inner, 0.01))
        await asyncio.sleep(0.05)
        assert not t.done()  # waiting for the inner task to finish its cancellation
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        if not release.done():
            release.set_result(None)
        await asyncio.wait([inner])
        return "cancelled" if inner.cancelled() else inner.result()

    assert env.run(main()) == ("cancelled" if PY312 else "late")


def test_exception_during_cancellation(env, fns):
    async def inner():
        try:
            await asyncio.sleep(LONG)
        except asyncio.CancelledError:
            raise ZeroDivisionError

    async def main():
        with pytest.raises(ZeroDivisionError) as ei:
            await fns.wait_for(inner(), 0.01)
        names = chain(ei.value)
        if PY313:  # _insert_timeout_error
            assert names[:3] == ["ZeroDivisionError", "TimeoutError", "CancelledError"]
            te = ei.value.__context__
            assert te.__cause__ is te.__context__
        else:
            assert names[:2] == ["ZeroDivisionError", "CancelledError"]
        assert asyncio.current_task().cancelling() == 0

    env.run(main())


def test_exception_group_during_cancellation(env, fns):
    async def inner():
        try:
            await asyncio.sleep(LONG)
        except asyncio.CancelledError:
            try:
                raise ValueError("v")
            except ValueError as e:
                raise ExceptionGroup("g", [e, KeyError("k")])  # noqa: B904

    async def main():
        with pytest.raises(ExceptionGroup) as ei:
            await fns.wait_for(inner(), 0.01)
        eg = ei.value
        v, k = eg.exceptions
        if PY313:
            assert chain(eg)[:3] == ["ExceptionGroup", "ValueError", "TimeoutError"]
            # marked twice: through the group's context chain, then as a member
            assert chain(v)[:4] == ["ValueError", "TimeoutError", "TimeoutError",
                                    "CancelledError"]
        else:
            assert chain(eg)[:3] == ["ExceptionGroup", "ValueError", "CancelledError"]
            assert chain(v)[:2] == ["ValueError", "CancelledError"]
        assert chain(k) == ["KeyError"]

    env.run(main())


def test_cancelled_error_subclass(env, fns):
    class MyCancelled(asyncio.CancelledError):
        pass

    async def inner():
        try:
            await asyncio.sleep(LONG)
        except asyncio.CancelledError:
            raise MyCancelled  # noqa: B904

    async def main():
        try:
            await fns.wait_for(inner(), 0.01)
        except TimeoutError as e:
            return "timeout", type(e.__cause__).__name__
        except MyCancelled:
            return "mycancelled", None

    # 3.11: the inner task ends cancelled-ish: fut.result() raises MyCancelled -> TimeoutError
    exp = ("mycancelled", None) if PY312 and not PY313 else ("timeout", "MyCancelled")
    assert env.run(main()) == exp


# ---------------------------------------------------------------- uncancel bookkeeping


def test_outer_cancelled_earlier(env, fns):
    # the task has a pending cancellation count (caught, not uncancelled): a timeout is still
    # reported as TimeoutError and the count stays
    async def main():
        task = asyncio.current_task()
        task.cancel()
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            pass
        assert task.cancelling() == 1
        with pytest.raises(TimeoutError):
            await fns.wait_for(forever(), 0.01)
        return task.cancelling()

    assert env.run(main()) == 1


def test_external_cancel_with_timeout(env, fns):
    # the task is cancelled from outside in the same iteration as the deadline passes:
    # CancelledError, not TimeoutError, and the external request is still counted
    T = 0.4

    async def main():
        loop = env.loop
        task = asyncio.current_task()
        t0 = loop.time()
        loop.call_at(t0 + T / 2, task.cancel)

        def block():
            time.sleep(max(0.0, t0 + T + 0.1 - loop.time()))

        loop.call_soon(block)
        try:
            await fns.wait_for(forever(), T)
        except asyncio.CancelledError:
            return "cancelled", task.cancelling()
        except TimeoutError:
            return "timeout", task.cancelling()

    async def runner():
        t = env.loop.create_task(main())
        return await t

    assert env.run(runner()) == ("cancelled", 1)


def test_nested_wait_for_inner_expires(env, fns):
    async def main():
        with pytest.raises(TimeoutError):
            await fns.wait_for(fns.wait_for(forever(), 0.01), LONG)
        return asyncio.current_task().cancelling()

    assert env.run(main()) == 0


def test_nested_wait_for_outer_expires(env, fns):
    async def main():
        with pytest.raises(TimeoutError):
            await fns.wait_for(fns.wait_for(forever(), LONG), 0.01)
        return asyncio.current_task().cancelling()

    assert env.run(main()) == 0


def test_nested_wait_for_same_iteration(env, fns):
    # both deadlines pass in the same iteration: the innermost reports TimeoutError
    async def main():
        loop = env.loop
        t0 = loop.time()

        def block():
            time.sleep(max(0.0, t0 + 0.3 - loop.time()))

        loop.call_soon(block)
        try:
            await fns.wait_for(fns.wait_for(forever(), 0.1), 0.2)
        except TimeoutError as e:
            return "timeout", chain(e)[:2], asyncio.current_task().cancelling()

    res = env.run(main())
    assert res[0] == "timeout" and res[2] == 0


def test_inside_asyncio_timeout(env, fns):
    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await fns.wait_for(forever(), LONG)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(LONG):
                await fns.wait_for(forever(), 0.01)
        async with asyncio.timeout(LONG) as cm:
            assert await fns.wait_for(asyncio.sleep(0, 5), LONG) == 5
        assert not cm.expired()
        return asyncio.current_task().cancelling()

    assert env.run(main()) == 0


def test_in_task_group(env, fns):
    async def main():
        async def ok():
            return await fns.wait_for(asyncio.sleep(0, "x"), LONG)

        with pytest.raises(ExceptionGroup) as ei:
            async with asyncio.TaskGroup() as tg:
                t1 = tg.create_task(ok())
                tg.create_task(fns.wait_for(forever(), 0.01))
        assert t1.result() == "x"
        assert [type(e) for e in ei.value.exceptions] == [TimeoutError]

    env.run(main())


# ---------------------------------------------------------------- foreign futures


def test_foreign_future(env, fns):
    async def main():
        ff = ForeignFuture(env.loop)
        env.loop.call_later(0.01, ff.set_result, "f")
        assert await fns.wait_for(ff, LONG) == "f"
        assert ff._callbacks == []
        ff2 = ForeignFuture(env.loop)
        with pytest.raises(TimeoutError):
            await fns.wait_for(ff2, 0.01)
        assert ff2.cancelled()
        ff3 = ForeignFuture(env.loop)
        with pytest.raises(TimeoutError):
            await fns.wait_for(ff3, 0)
        assert ff3.cancelled() and ff3._callbacks == []

    env.run(main())


def test_other_implementations_future(env, fns):
    other = asyncio.Future if env.Future is not asyncio.Future else asyncio_c.Future

    async def main():
        f = other(loop=env.loop)
        env.loop.call_later(0.01, f.set_result, 1)
        assert await fns.wait_for(f, LONG) == 1
        g = other(loop=env.loop)
        with pytest.raises(TimeoutError):
            await fns.wait_for(g, 0.01)
        assert g.cancelled() and no_callbacks(g)

    env.run(main())


# ---------------------------------------------------------------- errors


def drive(coro):
    """Start coro by hand: ('yield', type) / ('return', value) / (exception type, message)."""
    try:
        y = coro.send(None)
    except StopIteration as e:
        return ("return", e.value)
    except BaseException as e:  # noqa: BLE001
        return (type(e), str(e))
    coro.close()
    return ("yield", type(y).__name__)


def test_no_running_loop(env, fns):
    done = env.fut()
    done.set_result("d")
    for fut_factory, timeout in [(env.fut, None), (env.fut, 1), (lambda: done, 0),
                                 (lambda: done, None), (env.fut, 0)]:
        f = fut_factory()
        got = drive(fns.wait_for(f, timeout))
        ref = drive(asyncio.wait_for(f, timeout))
        assert got == ref, (timeout, got, ref)
        if f is not done:
            f.cancel()


def test_outside_a_task(env, fns):
    # a running loop but no current task: 3.12+'s Timeout refuses, 3.11 just waits
    results = {}

    def in_callback():
        for name, wf in [("got", fns.wait_for), ("ref", asyncio.wait_for)]:
            f = env.fut()
            results[name] = (drive(wf(f, 1)), drive(wf(f, None)))
            f.cancel()
        env.loop.stop()

    env.loop.call_soon(in_callback)
    env.loop.run_forever()
    assert results["got"] == results["ref"]
    if PY312:
        assert results["got"][0] == (RuntimeError, "Timeout should be used inside a task")


def test_not_awaitable(env, fns):
    async def main():
        out = []
        for timeout in [None, LONG, 0]:
            for wf in (fns.wait_for, asyncio.wait_for):
                try:
                    await wf(1, timeout)
                except TypeError as e:
                    out.append(str(e))
        assert out[0::2] == out[1::2]

    env.run(main())


def test_call_errors(fns):
    def outcome(fn):
        try:
            c = fn()
        except BaseException as e:  # noqa: BLE001
            return (type(e), str(e))
        c.close()
        return "ok"

    for args, kwargs in [((), {}), ((1,), {}), ((1, 2, 3), {}), ((1,), {"bogus": 1}),
                         ((1, 2), {"timeout": 2}), ((), {"fut": 1, "timeout": None})]:
        assert outcome(lambda: fns.wait_for(*args, **kwargs)) == \
            outcome(lambda: asyncio.wait_for(*args, **kwargs)), (args, kwargs)


def test_coroutine_protocol(env, fns):
    c = fns.wait_for(env.fut(), None)
    assert c.__name__ == "wait_for" and c.__qualname__ == "wait_for"
    assert asyncio.iscoroutine(c)
    c.close()
    with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
        c.send(None)


def test_close_while_waiting(env, fns):
    async def main():
        for timeout in [None, LONG, 0.05]:
            f = env.fut()
            c = fns.wait_for(f, timeout)
            c.send(None)
            c.close()
            assert not f.cancelled()
            f.cancel()
        # a timer would cancel this task if it were left behind
        await asyncio.sleep(0.1)
        return asyncio.current_task().cancelling()

    assert env.run(main()) == 0


def test_many_calls_no_leak(env, fns):
    async def inner(x):
        await asyncio.sleep(0)
        return x

    async def main():
        sentinel = object()
        before = sys.getrefcount(sentinel)
        for _ in range(50):
            await fns.wait_for(inner(sentinel), LONG)
        for _ in range(5):
            with pytest.raises(TimeoutError):
                await fns.wait_for(forever(), 0)
        gc.collect()
        assert sys.getrefcount(sentinel) == before

    env.run(main())


def test_signature(fns):
    import inspect
    assert str(inspect.signature(fns.wait_for)) == str(inspect.signature(asyncio.wait_for))


@pytest.mark.skipif(not PY312, reason="eager tasks are 3.12+")
def test_nonpositive_timeout_eager_task(env, fns):
    # ensure_future() starts the coroutine eagerly: finished already -> its result
    env.loop.set_task_factory(env.impl.eager_task_factory)

    async def quick():
        return "quick"

    async def slow():
        await asyncio.sleep(LONG)

    async def main():
        assert await fns.wait_for(quick(), 0) == "quick"
        with pytest.raises(TimeoutError):
            await fns.wait_for(slow(), 0)

    env.run(main())
