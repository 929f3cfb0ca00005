"""asyncio.wait: every case runs asyncio's wait and asyncio_c's wait, each on asyncio's loop
(with asyncio's Future/Task) and on asyncio_c's loop (with asyncio_c's), with the same
expectations: asyncio's function on asyncio's loop is the oracle."""
import asyncio
import gc
import sys

import pytest

import asyncio_c
from _helpers import (  # noqa: F401  (fixtures are used by name)
    ForeignFuture,
    env,
    impl,
)

FC, FE, AC = asyncio.FIRST_COMPLETED, asyncio.FIRST_EXCEPTION, asyncio.ALL_COMPLETED
LONG = 30  # a timeout that never expires in a test


class Fns:
    def __init__(self, name, wait, wait_for):
        self.name = name
        self.wait = wait
        self.wait_for = wait_for

    def __repr__(self):
        return f"<Fns {self.name}>"


FNS = [Fns("asyncio", asyncio.wait, asyncio.wait_for),
       Fns("asyncio_c", asyncio_c.wait, asyncio_c.wait_for)]


@pytest.fixture(params=FNS, ids=lambda f: f.name)
def fns(request):
    return request.param


def no_callbacks(fut):
    return not fut._callbacks


def outcome(fn):
    """('ok', value) or (exception type, str) of fn()."""
    try:
        return ("ok", fn())
    except BaseException as e:  # noqa: BLE001
        return (type(e), str(e))


# ---------------------------------------------------------------- return_when


def test_first_completed(env, fns):
    async def main():
        f1, f2, f3 = env.fut(), env.fut(), env.fut()
        env.loop.call_later(0.01, f2.set_result, 2)
        done, pending = await fns.wait([f1, f2, f3], return_when=FC)
        assert done == {f2} and pending == {f1, f3}
        assert all(no_callbacks(f) for f in (f1, f2, f3))
        for f in (f1, f3):
            f.cancel()

    env.run(main())


def test_first_completed_several_done_already(env, fns):
    async def main():
        f1, f2, f3 = env.fut(), env.fut(), env.fut()
        f1.set_result(1)
        f3.set_exception(ValueError())
        done, pending = await fns.wait({f1, f2, f3}, return_when=FC)
        assert done == {f1, f3} and pending == {f2}
        assert f3._log_traceback  # FIRST_COMPLETED does not look at exceptions
        f3.exception()
        f2.cancel()

    env.run(main())


def test_first_exception(env, fns):
    async def main():
        f1, f2, f3 = env.fut(), env.fut(), env.fut()
        env.loop.call_later(0.01, f1.set_result, 1)
        env.loop.call_later(0.02, f2.set_exception, ValueError("x"))
        done, pending = await fns.wait([f1, f2, f3], return_when=FE)
        assert done == {f1, f2} and pending == {f3}
        assert not f2._log_traceback  # wait() retrieved it
        f3.cancel()

    env.run(main())


def test_first_exception_cancelled_is_no_exception(env, fns):
    async def main():
        f1, f2 = env.fut(), env.fut()
        env.loop.call_later(0.01, f1.cancel)
        env.loop.call_later(0.02, f2.set_result, 2)
        done, pending = await fns.wait([f1, f2], return_when=FE)
        assert done == {f1, f2} and pending == set()

    env.run(main())


def test_first_exception_none_raised_waits_for_all(env, fns):
    async def main():
        fs = [env.fut() for _ in range(4)]
        for i, f in enumerate(fs):
            env.loop.call_later(0.005 * i, f.set_result, i)
        done, pending = await fns.wait(fs, return_when=FE)
        assert done == set(fs) and not pending

    env.run(main())


def test_all_completed_default(env, fns):
    async def main():
        async def work(x):
            await asyncio.sleep(0.001 * x)
            return x

        tasks = [env.loop.create_task(work(i)) for i in range(5)]
        done, pending = await fns.wait(tasks)
        assert done == set(tasks) and pending == set()
        assert sorted(t.result() for t in done) == list(range(5))

    env.run(main())


def test_all_completed_with_exception(env, fns):
    async def main():
        f1, f2 = env.fut(), env.fut()
        env.loop.call_later(0.001, f1.set_exception, KeyError())
        env.loop.call_later(0.01, f2.set_result, 2)
        done, pending = await fns.wait([f1, f2], return_when=AC)
        assert done == {f1, f2}
        assert f1._log_traceback  # ALL_COMPLETED leaves it unretrieved
        f1.exception()

    env.run(main())


def test_duplicates_and_iterators(env, fns):
    async def main():
        f1, f2 = env.fut(), env.fut()
        f1.set_result(1)
        f2.set_result(2)
        done, pending = await fns.wait([f1, f1, f2, f1])
        assert done == {f1, f2} and not pending
        done, pending = await fns.wait(iter([f1, f2]))
        assert done == {f1, f2}
        if sys.version_info >= (3, 12):
            done, pending = await fns.wait(f for f in (f1, f2))
            assert done == {f1, f2}
        else:  # 3.11's iscoroutine() says yes to a generator
            with pytest.raises(TypeError, match="not generator"):
                await fns.wait(f for f in (f1, f2))
        done, pending = await fns.wait({f1: 1})
        assert done == {f1}

    env.run(main())


def test_return_value_types(env, fns):
    async def main():
        f = env.fut()
        f.set_result(None)
        res = await fns.wait([f])
        assert type(res) is tuple and len(res) == 2
        assert type(res[0]) is set and type(res[1]) is set

    env.run(main())


def test_return_when_equal_string(env, fns):
    class S(str):
        pass

    async def main():
        f1, f2 = env.fut(), env.fut()
        f1.set_result(1)
        done, pending = await fns.wait([f1, f2], return_when=S("FIRST_COMPLETED"))
        assert done == {f1} and pending == {f2}
        f2.cancel()

    env.run(main())


# ---------------------------------------------------------------- timeout


@pytest.mark.parametrize("timeout", [0, -1, 0.01])
def test_timeout(env, fns, timeout):
    async def main():
        f1, f2 = env.fut(), env.fut()
        f1.set_result(1)
        done, pending = await fns.wait([f1, f2], timeout=timeout)
        assert done == {f1} and pending == {f2}
        assert no_callbacks(f2)
        f2.cancel()

    env.run(main())


def test_timeout_not_reached(env, fns):
    async def main():
        f = env.fut()
        env.loop.call_later(0.01, f.set_result, 1)
        done, pending = await fns.wait([f], timeout=LONG)
        assert done == {f} and not pending
        # the timer was cancelled: the task stays alone on the loop
        assert [h for h in getattr(env.loop, "_scheduled", []) if not h.cancelled()] == []

    env.run(main())


def test_timeout_bad_type(env, fns):
    async def main():
        f = env.fut()
        with pytest.raises(TypeError):
            await fns.wait([f], timeout="1")
        assert no_callbacks(f)
        f.cancel()

    env.run(main())


# ---------------------------------------------------------------- errors


def _errors(fns, loop, fut):
    cases = {}

    async def coro():
        pass

    def one(name, *args, **kwargs):
        cases[name] = None

        async def run():
            try:
                await fns.wait(*args, **kwargs)
            except BaseException as e:  # noqa: BLE001
                return (type(e), str(e))
            return "no error"

        cases[name] = loop.run_until_complete(run())

    one("future", fut)
    c = coro()
    one("coroutine", c)
    c.close()
    one("empty", [])
    one("empty_set", set())
    one("zero", 0)
    one("int", 5)
    one("return_when", [fut], return_when="bogus")
    one("return_when_none", [fut], return_when=None)
    c = coro()
    one("coro_in_list", [fut, c])
    c.close()
    one("not_future", [1])
    one("none_in_list", [None])
    one("empty_generator", (x for x in ()))
    one("empty_iterator", iter([]))
    one("unhashable", [[1]])
    return cases


def test_argument_errors(env, fns):
    fut = env.fut()
    got = _errors(fns, env.loop, fut)
    ref = _errors(FNS[0], env.loop, fut)
    assert got == ref
    assert got["future"] == (TypeError, f"expect a list of futures, not {type(fut).__name__}")
    assert got["coroutine"] == (TypeError, "expect a list of futures, not coroutine")
    assert got["empty"] == (ValueError, "Set of Tasks/Futures is empty.")
    assert got["return_when"] == (ValueError, "Invalid return_when value: bogus")
    assert got["coro_in_list"] == (
        TypeError, "Passing coroutines is forbidden, use tasks explicitly.")
    assert got["empty_iterator"] == (AssertionError, "Set of Futures is empty.")
    assert no_callbacks(fut)
    fut.cancel()


def test_call_errors(fns):
    for args, kwargs in [((), {}), (([], 1), {}), (([],), {"bogus": 1}),
                         ((), {"timeout": 1}), (([],), {"fs": []})]:
        ref = outcome(lambda: asyncio.wait(*args, **kwargs))
        got = outcome(lambda: fns.wait(*args, **kwargs))
        assert got == ref, (args, kwargs)
        assert ref[0] is TypeError


def test_c_coroutine_is_a_coroutine(env, fns):
    async def main():
        c = asyncio_c.sleep(0)
        with pytest.raises(TypeError, match="Passing coroutines is forbidden"):
            await fns.wait([c])
        c.close()
        c = asyncio_c.wait([env.fut()])
        with pytest.raises(TypeError, match="not WaitCoroutine"):
            await fns.wait(c)
        c.close()

    env.run(main())


def test_no_running_loop(env, fns):
    fut = env.fut()
    coro = fns.wait([fut])
    with pytest.raises(RuntimeError, match="no running event loop"):
        coro.send(None)
    assert no_callbacks(fut)


def test_nothing_before_start(env, fns):
    # the checks run when the coroutine starts, not when wait() is called
    coro = fns.wait([])
    with pytest.raises(ValueError):
        coro.send(None)


def test_add_done_callback_fails_midway(env, fns):
    async def main():
        good = env.fut()
        done, pending = None, None
        with pytest.raises(AttributeError, match="add_done_callback"):
            done, pending = await fns.wait([good, object()], timeout=LONG)
        good.cancel()

    env.run(main())


# ---------------------------------------------------------------- cancellation, cleanup


def test_cancel_the_waiting_task(env, fns):
    async def main():
        f1, f2 = env.fut(), env.fut()
        t = env.loop.create_task(fns.wait([f1, f2], timeout=LONG))
        await asyncio.sleep(0)
        t.cancel("stop")
        with pytest.raises(asyncio.CancelledError):
            await t
        assert not f1.cancelled() and not f2.cancelled()
        assert no_callbacks(f1) and no_callbacks(f2)
        f1.cancel()
        f2.cancel()

    env.run(main())


def test_close_the_coroutine(env, fns):
    async def main():
        f = env.fut()
        coro = fns.wait([f], timeout=LONG)
        assert coro.send(None) is not None  # suspended on the waiter
        coro.close()
        assert no_callbacks(f)
        f.cancel()

    env.run(main())


def test_done_callback_of_done_future_runs_after_wait(env, fns):
    # a done future's callback is already scheduled when wait() returns; it must be harmless
    async def main():
        f1, f2 = env.fut(), env.fut()
        f1.set_result(1)
        f2.set_result(2)
        done, _ = await fns.wait([f1, f2], return_when=FC)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return done

    assert len(env.run(main())) == 2


def test_no_reference_leaks(env, fns):
    async def main():
        fs = [env.fut() for _ in range(3)]
        fs[0].set_result(0)
        before = [sys.getrefcount(f) for f in fs]
        for _ in range(20):
            await fns.wait(fs, return_when=FC, timeout=LONG)
        await asyncio.sleep(0)  # the done future's late callbacks
        gc.collect()
        assert [sys.getrefcount(f) for f in fs] == before
        for f in fs:
            assert no_callbacks(f)
            f.cancel()

    env.run(main())


# ---------------------------------------------------------------- other futures


def test_foreign_futures(env, fns):
    async def main():
        ff = ForeignFuture(env.loop)
        f = env.fut()
        env.loop.call_later(0.01, ff.set_result, "x")
        done, pending = await fns.wait([ff, f], return_when=FC)
        assert done == {ff} and pending == {f}
        assert ff.log == ["add_done_callback", "remove_done_callback"]
        assert ff._callbacks == []
        f.cancel()

    env.run(main())


def test_foreign_first_exception(env, fns):
    async def main():
        ff, ff2 = ForeignFuture(env.loop), ForeignFuture(env.loop)
        env.loop.call_later(0.01, ff.set_exception, ValueError())
        done, pending = await fns.wait([ff, ff2], return_when=FE)
        assert done == {ff} and pending == {ff2}

    env.run(main())


def test_other_implementations_futures(env, fns):
    # asyncio's futures on asyncio_c's loop and the other way round
    other = asyncio.Future if env.Future is not asyncio.Future else asyncio_c.Future

    async def main():
        f = other(loop=env.loop)
        g = env.fut()
        env.loop.call_later(0.01, f.set_result, 1)
        done, pending = await fns.wait([f, g], return_when=FC)
        assert done == {f} and pending == {g}
        assert no_callbacks(f) and no_callbacks(g)
        g.cancel()

    env.run(main())


def test_tasks_churn(env, fns):
    async def work(i):
        for _ in range(i % 3):
            await asyncio.sleep(0)
        return i

    async def main():
        pending = {env.loop.create_task(work(i)) for i in range(30)}
        results = []
        while pending:
            done, pending = await fns.wait(pending, return_when=FC)
            results += [t.result() for t in done]
        assert sorted(results) == list(range(30))

    env.run(main())


def test_signature(fns):
    import inspect
    assert str(inspect.signature(fns.wait)) == str(inspect.signature(asyncio.wait))
