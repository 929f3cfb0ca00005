"""gather(): every case runs with asyncio.gather (the oracle) and asyncio_c.gather, each on
asyncio's loop (asyncio's Future/Task) and on asyncio_c's loop (asyncio_c's Future/Task)."""
import asyncio
import contextlib
import contextvars
import sys
import warnings
import weakref

import pytest

import asyncio_c
from _helpers import (  # noqa: F401  (fixtures are used by name)
    ASYNCIO,
    ASYNCIO_C,
    HAS_EAGER,
    PY,
    ForeignFuture,
    bare_yield,
    collect,
    env,
    impl,
    norm,
    spin_loop,
)

needs_eager = pytest.mark.skipif(not HAS_EAGER, reason="eager tasks are 3.12+")

GATHERS = [
    pytest.param(asyncio.gather, id="asyncio.gather"),
    pytest.param(asyncio_c.gather, id="asyncio_c.gather"),
]


@pytest.fixture(params=GATHERS)
def gather(request):
    return request.param


class DuckFuture(ForeignFuture):
    """The duck-typed future, with the private bits gather() uses on cancelled children."""

    def _make_cancelled_error(self):
        self.log.append("_make_cancelled_error")
        return self._exc

    @property
    def _cancel_message(self):
        return self._exc.args[0] if self._exc.args else None


def other_impl(env):
    return ASYNCIO_C if env.impl is ASYNCIO else ASYNCIO


async def ret(x, steps=1):
    for _ in range(steps):
        await bare_yield()
    return x


async def fail(exc, steps=1):
    for _ in range(steps):
        await bare_yield()
    raise exc


async def sleeper():
    await asyncio.sleep(3600)


def test_exported():
    assert "gather" in asyncio_c.__all__
    assert asyncio_c.gather is asyncio_c._core.gather


# ---------------------------------------------------------------- results


def test_results_in_argument_order(env, gather):
    futs = [env.fut() for _ in range(3)]

    async def main():
        g = gather(*futs, ret("a", 3), ret("b", 1))
        for i, f in enumerate(reversed(futs)):
            f.set_result(i)
        return await g

    assert env.run(main()) == [2, 1, 0, "a", "b"]


def test_outer_future(env, gather):
    async def main():
        f = env.fut()
        g = gather(f)
        assert asyncio.isfuture(g)
        assert type(g).__name__ == "_GatheringFuture"
        assert g.get_loop() is env.loop
        assert g._children == [f]
        assert g._cancel_requested is False
        assert norm(repr(g)) == "<_GatheringFuture pending>"
        f.set_result(1)
        assert await g == [1]
        assert repr(g) == "<_GatheringFuture finished result=[1]>"
        f2 = env.fut()
        g2 = gather(f2)
        g2.add_done_callback(print)
        assert norm(repr(g2)) == "<_GatheringFuture pending cb=[print()]>"
        f2.set_result(2)
        await g2
        return g

    g = env.run(main())
    assert g.done() and not g.cancelled() and g.result() == [1]


def test_same_awaitable_twice(env, gather):
    async def main():
        c = ret("x", 2)
        f = env.fut()
        g = gather(c, f, c, f, ret("y"))
        ch = g._children
        assert len(ch) == 5
        assert ch[0] is ch[2] and ch[1] is f and ch[3] is f
        assert len(f._callbacks) == 1  # one callback per distinct child
        f.set_result("f")
        return await g

    assert env.run(main()) == ["x", "f", "x", "f", "y"]


def test_same_awaitable_twice_eq_not_identity(env, gather):
    """The dedup is a dict keyed by the argument: __eq__/__hash__ decide, as in asyncio."""
    calls = []

    class Aw:
        def __init__(self, v):
            self.v = v

        def __hash__(self):
            calls.append("hash")
            return 1

        def __eq__(self, other):
            calls.append("eq")
            return isinstance(other, Aw)

        def __await__(self):
            return ret(self.v).__await__()

    async def main():
        return await gather(Aw(1), Aw(2))

    assert env.run(main()) == [1, 1]
    assert calls == ["hash", "hash", "hash", "eq", "hash", "eq"]


def test_return_exceptions_keyword_only(env, gather):
    async def main():
        with pytest.raises(TypeError, match=r"gather\(\) got an unexpected keyword "
                                            r"argument 'loop'"):
            gather(env.fut(), loop=env.loop)
        g = gather(fail(ValueError("v")), ret(2), return_exceptions=1)
        r = await g
        assert type(r[0]) is ValueError and r[1] == 2

    env.run(main())


def test_log_destroy_pending_false_on_created_tasks(env, gather):
    async def main():
        t = env.task(ret(1))
        g = gather(ret(0), t)
        created = g._children[0]
        assert type(created) is env.Task
        assert created._log_destroy_pending is False
        assert t._log_destroy_pending is True
        return await g

    assert env.run(main()) == [0, 1]


def test_coroutines_become_tasks_of_the_loop(env, gather):
    async def main():
        g = gather(ret(1), ret(2))
        for c in g._children:
            assert type(c) is env.Task
            assert c.get_loop() is env.loop
        return await g

    assert env.run(main()) == [1, 2]


def test_task_factory_used(env, gather):
    made = []

    def factory(loop, coro, **kwargs):
        t = env.Task(coro, loop=loop, **kwargs)
        made.append(t)
        return t

    env.loop.set_task_factory(factory)

    async def main():
        g = gather(ret(1), ret(2))
        assert g._children == made[1:]
        return await g

    assert env.run(main()) == [1, 2]


def test_loop_taken_from_first_future(env, gather):
    """No running loop: the children's loop is the first future's (no event loop lookup)."""
    f = env.fut()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        g = gather(f, ret(2))
    assert w == []
    assert g.get_loop() is env.loop
    t = g._children[1]
    assert type(t) is env.Task and t.get_loop() is env.loop
    f.set_result(1)
    assert env.run(g) == [1, 2]


def test_generator_based_and_awaitable(env, gather):
    class Aw:
        def __await__(self):
            return ret(7).__await__()

    async def main():
        return await gather(Aw(), ret(8))

    assert env.run(main()) == [7, 8]


# ---------------------------------------------------------------- exceptions


def test_first_exception_propagates_others_keep_running(env, gather):
    async def main():
        g = gather(fail(ValueError("first"), 1), fail(KeyError("second"), 3), ret(5, 4))
        with pytest.raises(ValueError, match="first"):
            await g
        ch = g._children
        assert not ch[1].done() and not ch[2].done()
        while not all(c.done() for c in ch):
            await bare_yield()
        assert type(ch[1].exception()) is KeyError
        assert ch[2].result() == 5

    env.run(main())
    collect()
    assert env.take_errors() == []


def test_later_exceptions_retrieved(env, gather):
    """Children failing after the outer future is done: their exceptions are marked retrieved."""
    async def main():
        g = gather(fail(ValueError("a"), 1), fail(KeyError("b"), 2), fail(OSError("c"), 3))
        with pytest.raises(ValueError):
            await g
        for _ in range(5):
            await bare_yield()

    env.run(main())
    collect()
    assert env.take_errors() == []


def test_unretrieved_exception_is_logged_control(env):
    """The check the tests above rely on: an unretrieved task exception does get logged."""
    async def main():
        env.task(fail(KeyError("lost"), 1))
        for _ in range(3):
            await bare_yield()

    env.run(main())
    collect()
    errors = env.take_errors()
    assert len(errors) == 1 and "never retrieved" in errors[0]["message"]


def test_return_exceptions(env, gather):
    async def main():
        return await gather(fail(ValueError("v")), ret(1), fail(KeyError("k"), 2),
                            return_exceptions=True)

    r = env.run(main())
    assert [type(x) for x in r] == [ValueError, int, KeyError]
    collect()
    assert env.take_errors() == []


def test_outer_exception_unretrieved_is_logged(env, gather):
    async def main():
        g = gather(fail(ValueError("v")))
        while not g.done():
            await bare_yield()
        del g

    env.run(main())
    collect()
    errors = env.take_errors()
    assert [e["message"] for e in errors] == ["_GatheringFuture exception was never retrieved"]
    assert type(errors[0]["exception"]) is ValueError


# ---------------------------------------------------------------- cancellation


def test_cancelled_child_propagates(env, gather):
    async def main():
        f1, f2 = env.fut(), env.fut()
        t = env.task(sleeper())
        g = gather(f1, t, f2)
        await bare_yield()
        t.cancel("bye")
        with pytest.raises(asyncio.CancelledError) as ei:
            await g
        assert not g.cancelled()
        assert type(g.exception()) is asyncio.CancelledError
        assert not f1.done() and not f2.done()
        f1.cancel()
        f2.set_exception(ValueError())  # retrieved by the callback: outer is done
        await bare_yield()
        return ei.value.args

    assert env.run(main()) == ("bye",)
    collect()
    assert env.take_errors() == []


def test_cancelled_future_child_message(env, gather):
    async def main():
        f = env.fut()
        g = gather(f, env.fut())
        f.cancel("m")
        with pytest.raises(asyncio.CancelledError) as ei:
            await g
        return ei.value.args

    assert env.run(main()) == ("m",)


def test_return_exceptions_with_cancellations(env, gather):
    async def main():
        f1, f2, f4, f5 = env.fut(), env.fut(), env.fut(), env.fut()
        t3 = env.task(sleeper())
        await bare_yield()
        f1.cancel("m")
        f2.cancel()
        t3.cancel("tm")
        f4.set_result(4)
        f5.set_exception(ValueError("v"))
        return await gather(f1, f2, t3, f4, f5, return_exceptions=True)

    r = env.run(main())
    assert [(type(x).__name__, x.args if isinstance(x, BaseException) else x) for x in r] == [
        ("CancelledError", ("m",)),
        ("CancelledError", ("",)),
        ("CancelledError", ("",)),
        ("int", 4),
        ("ValueError", ("v",)),
    ]


@pytest.mark.parametrize("return_exceptions", [False, True])
def test_cancel_outer(env, gather, return_exceptions):
    async def main():
        f = env.fut()
        t = env.task(sleeper())
        g = gather(f, t, return_exceptions=return_exceptions)
        await bare_yield()
        assert g.cancel("stop") is True
        assert g._cancel_requested is True
        assert f.cancelled()
        assert not g.done()
        with pytest.raises(asyncio.CancelledError) as ei:
            await g
        assert t.cancelled()
        assert not g.cancelled()
        assert type(g.exception()) is asyncio.CancelledError
        assert g.cancel() is False  # done
        return ei.value.args

    assert env.run(main()) == ("stop",)


def test_cancel_outer_uses_last_child_error(env, gather):
    """With return_exceptions, outer gets the *last* child's _make_cancelled_error()."""
    async def main():
        t1 = env.task(sleeper())
        t2 = env.task(sleeper())
        g = gather(t1, t2, return_exceptions=True)
        await bare_yield()
        t1.cancel("one")
        assert g.cancel("all") is True
        with pytest.raises(asyncio.CancelledError) as ei:
            await g
        return ei.value.args

    assert env.run(main()) == ("all",)


def test_cancel_outer_nothing_to_cancel(env, gather):
    async def main():
        f1, f2 = env.fut(), env.fut()
        g = gather(f1, f2)
        f1.set_result(1)
        f2.set_result(2)
        assert g.cancel() is False  # children done, callbacks not run yet
        assert g._cancel_requested is False
        return await g

    assert env.run(main()) == [1, 2]


def test_cancel_outer_cancels_foreign_child_with_msg_keyword(env, gather):
    async def main():
        ff = DuckFuture(env.loop)
        g = gather(ff)
        assert g.cancel() is True
        assert ("cancel", None) in ff.log
        with pytest.raises(asyncio.CancelledError):
            await g

    env.run(main())


def test_cancel_requested_attribute_writable(env, gather):
    async def main():
        f = env.fut()
        g = gather(f)
        g._cancel_requested = True
        f.set_result(1)
        with pytest.raises(asyncio.CancelledError):
            await g

    env.run(main())


def test_cancel_outer_from_awaiting_task(env, gather):
    async def main():
        return await gather(sleeper(), sleeper())

    async def driver():
        t = env.task(main())
        await bare_yield()
        await bare_yield()
        t.cancel("outer msg")
        with pytest.raises(asyncio.CancelledError) as ei:
            await t
        return t.cancelled(), ei.value.args

    cancelled, args = env.run(driver())
    assert cancelled is True
    assert args == ("outer msg",)


# ---------------------------------------------------------------- loops and foreign futures


def test_children_of_different_loops(env, gather):
    other = env.impl.new_event_loop()
    try:
        f1 = env.fut()
        f2 = other.create_future()
        with pytest.raises(ValueError) as ei:
            gather(f1, f2)
        assert str(ei.value) == ("The future belongs to a different loop than the one "
                                 "specified as the loop argument")
        f1.set_result(None)
        env.spin()
    finally:
        other.close()


def test_different_loops_after_a_task_was_made(env, gather):
    """The task made before the ValueError keeps running; its exception is retrieved."""
    other = env.impl.new_event_loop()
    try:
        async def main():
            f2 = other.create_future()
            with pytest.raises(ValueError):
                gather(fail(KeyError("k"), 1), f2)
            for _ in range(4):
                await bare_yield()

        env.run(main())
        collect()
        assert env.take_errors() == []
    finally:
        other.close()


def test_foreign_impl_futures(env, gather):
    """asyncio.Future on asyncio_c's loop and asyncio_c.Future on asyncio's, mixed with ours."""
    Other = other_impl(env)

    async def main():
        a = Other.Future(loop=env.loop)
        b = env.fut()
        t = Other.Task(ret("t"), loop=env.loop)
        g = gather(a, b, t, ret("c"))
        b.set_result("b")
        a.set_result("a")
        return await g

    assert env.run(main()) == ["a", "b", "t", "c"]


def test_foreign_impl_future_exception_and_cancel(env, gather):
    Other = other_impl(env)

    async def main():
        a = Other.Future(loop=env.loop)
        c = Other.Future(loop=env.loop)
        g = gather(a, c, return_exceptions=True)
        a.set_exception(ValueError("x"))
        c.cancel("cm")
        r = await g
        return [(type(x).__name__, x.args) for x in r]

    assert env.run(main()) == [("ValueError", ("x",)), ("CancelledError", ("cm",))]


def test_duck_typed_future(env, gather):
    async def main():
        ff = ForeignFuture(env.loop)
        g = gather(ff)
        assert ff.log == ["get_loop", "add_done_callback"]
        assert ff.contexts == [None]  # asyncio calls add_done_callback(cb)
        ff.set_result(5)
        r = await g
        assert ff.log[-1] == "result"
        return r

    assert env.run(main()) == [5]


def test_duck_typed_future_exception(env, gather):
    async def main():
        ff = ForeignFuture(env.loop)
        g = gather(ff, env.fut())
        ff.set_exception(ValueError("duck"))
        with pytest.raises(ValueError, match="duck"):
            await g

    env.run(main())


def test_callback_context_of_our_futures(env, gather):
    async def main():
        f = env.fut()
        g = gather(f)
        [(cb, ctx)] = f._callbacks
        assert isinstance(ctx, contextvars.Context)
        assert callable(cb)
        f.set_result(1)
        await g

    env.run(main())


def test_callback_in_child_repr(env, gather):
    async def main():
        f = env.fut()
        gather(f)
        r = repr(f)
        f.set_result(1)
        return r

    assert "_done_callback" in env.run(main())


def test_closed_loop_closes_the_coroutine(env, gather):
    """create_task raising RuntimeError: the coroutine is closed, the error propagates."""
    import inspect
    other = env.impl.new_event_loop()
    f = other.create_future()
    other.close()
    c = ret(1)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        gather(f, c)
    assert inspect.getcoroutinestate(c) == inspect.CORO_CLOSED


@pytest.mark.parametrize("GF", [
    pytest.param(asyncio.tasks._GatheringFuture, id="asyncio"),
    pytest.param(asyncio_c._core._GatheringFuture, id="asyncio_c"),
])
def test_gathering_future_class(env, GF):
    f1, f2 = env.fut(), env.fut()
    f2.set_result(None)
    g = GF([f1, f2], loop=env.loop)
    assert g._children == [f1, f2] and g._cancel_requested is False
    assert g.cancel(msg="m") is True
    assert f1.cancelled() and not f2.cancelled()
    assert g._cancel_requested is True
    assert not g.done()
    g.set_result(1)
    assert g.cancel() is False
    with pytest.raises(AssertionError):
        GF([], loop=None)
    with pytest.raises(TypeError):
        GF([], env.loop)
    del g._children
    with pytest.raises(AttributeError):
        g._children
    env.spin()


# ---------------------------------------------------------------- bad input


def test_not_awaitable(env, gather):
    async def main():
        f = env.fut()
        with pytest.raises(TypeError) as ei:
            gather(f, 1)
        f.set_result(1)
        return str(ei.value)

    assert env.run(main()) == "An asyncio.Future, a coroutine or an awaitable is required"


def test_unhashable(env, gather):
    async def main():
        c = ret(1)
        with pytest.raises(TypeError, match="unhashable type: 'dict'"):
            gather(c, {})
        for _ in range(3):  # the task made for c runs anyway
            await bare_yield()

    env.run(main())


def test_bad_input_then_more_gathers(env, gather):
    """Errors half-way through leave nothing broken behind."""
    async def main():
        for _ in range(20):
            with pytest.raises(TypeError):
                gather(ret(1), ret(2), object())
        for _ in range(3):
            await bare_yield()
        return await gather(ret(1), ret(2))

    assert env.run(main()) == [1, 2]
    collect()


# ---------------------------------------------------------------- empty gather and no loop


def test_empty_in_running_loop(env, gather):
    async def main():
        g = gather()
        assert g.done() and g.result() == []
        assert g.get_loop() is env.loop
        assert type(g) is type(env.loop.create_future())
        g2 = gather(return_exceptions=True)
        return await g2

    assert env.run(main()) == []


@contextlib.contextmanager
def fresh_policy(set_loop=None, set_none=False):
    """A new default policy (no loop made yet) for the duration; its loop closed after."""
    old = asyncio.get_event_loop_policy()
    policy = asyncio.DefaultEventLoopPolicy()
    asyncio.set_event_loop_policy(policy)
    try:
        if set_loop is not None:
            asyncio.set_event_loop(set_loop)
        elif set_none:
            asyncio.set_event_loop(None)
        yield policy
    finally:
        loop = policy._local._loop
        if loop is not None and loop is not set_loop:
            loop.close()
        asyncio.set_event_loop_policy(old)


def _call(fn, *args):
    """Calls fn from one line, so the warnings of both gathers name the same place."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            r = fn(*args)
            err = None
        except Exception as e:  # noqa: BLE001
            r, err = None, (type(e), str(e))
    return r, err, [(x.category, str(x.message), x.filename, x.lineno) for x in w]


def _outcome(gather, case, make_args):
    loop_set = asyncio_c.new_event_loop() if case == "loop set" else None
    try:
        with fresh_policy(set_loop=loop_set, set_none=case == "set None") as policy:
            args = make_args()
            r, err, ws = _call(gather, *args)
            info = None
            if r is not None:
                loop = r.get_loop()
                info = (loop is policy._local._loop, loop is loop_set)
                info += (loop.run_until_complete(r),)
            else:
                for a in args:
                    if asyncio.iscoroutine(a):
                        a.close()
            return info, err, ws
    finally:
        if loop_set is not None:
            loop_set.close()


@pytest.mark.parametrize("case", ["fresh policy", "set None", "loop set"])
@pytest.mark.parametrize("what", ["empty", "coroutines"])
def test_no_running_loop_like_asyncio(case, what):
    """Outside a running loop: the version's event loop lookup, its warnings, its errors."""
    make_args = (lambda: ()) if what == "empty" else (lambda: (ret(1), ret(2)))
    ours = _outcome(asyncio_c.gather, case, make_args)
    theirs = _outcome(asyncio.gather, case, make_args)
    assert ours == theirs
    if case == "set None":
        assert theirs[1][0] is RuntimeError
    if case == "fresh policy" and PY >= (3, 12):
        assert [w[:2] for w in theirs[2]] == [(DeprecationWarning,
                                               "There is no current event loop")]


# ---------------------------------------------------------------- done children, eager tasks


def test_children_done_before_gather(env, gather):
    """3.12+ runs the callback of done children right away: the outer future is done."""
    async def main():
        f1, f2 = env.fut(), env.fut()
        f1.set_result(1)
        f2.set_result(2)
        g = gather(f1, f2, f1)
        done_now = g.done()
        return done_now, await g

    done_now, r = env.run(main())
    assert r == [1, 2, 1]
    assert done_now is (PY >= (3, 12))


def test_done_child_with_exception_before_gather(env, gather):
    async def main():
        f1, f2 = env.fut(), env.fut()
        f1.set_exception(ValueError("early"))
        g = gather(f1, f2)
        done_now = g.done()
        with pytest.raises(ValueError):
            await g
        f2.set_exception(KeyError("late"))  # retrieved by the callback
        await bare_yield()
        return done_now

    assert env.run(main()) is (PY >= (3, 12))
    collect()
    assert env.take_errors() == []


@needs_eager
def test_eager_children(env, gather):
    env.loop.set_task_factory(env.impl.eager_task_factory)

    async def quick(x):
        return x

    async def quick_fail(exc):
        raise exc

    async def main():
        g = gather(quick(1), quick(2))
        assert g.done() and g.result() == [1, 2]
        assert all(c.done() for c in g._children)
        g2 = gather(quick(1), ret(2))
        assert not g2.done()
        assert await g2 == [1, 2]
        g3 = gather(quick_fail(ValueError("e")), ret(2), quick_fail(KeyError("k")))
        assert g3.done() and type(g3.exception()) is ValueError
        g4 = gather(quick(1), quick_fail(ValueError("v")), return_exceptions=True)
        assert g4.done()
        r = g4.result()
        assert r[0] == 1 and type(r[1]) is ValueError
        await bare_yield()
        await bare_yield()

    env.run(main())
    collect()
    assert env.take_errors() == []


@needs_eager
def test_eager_cancel_outer_with_done_children(env, gather):
    env.loop.set_task_factory(env.impl.eager_task_factory)

    async def quick(x):
        return x

    async def main():
        g = gather(quick(1), sleeper())
        assert not g.done()
        assert g.cancel("c") is True
        with pytest.raises(asyncio.CancelledError) as ei:
            await g
        return ei.value.args

    assert env.run(main()) == ("c",)


# ---------------------------------------------------------------- references


def test_no_refleaks(env, gather):
    sentinel = object()

    async def main(n):
        for _ in range(n):
            assert await gather(ret(sentinel), ret(sentinel, 2)) == [sentinel, sentinel]
            with pytest.raises(ValueError):
                await gather(fail(ValueError(sentinel)), ret(sentinel, 2))
            r = await gather(fail(ValueError(sentinel)), ret(sentinel), return_exceptions=True)
            assert r[1] is sentinel
            g = gather(ret(sentinel), sleeper())
            await bare_yield()
            g.cancel(sentinel)
            with pytest.raises(asyncio.CancelledError):
                await g
            with pytest.raises(TypeError):
                gather(ret(sentinel), sentinel)
            f = env.fut()
            f.set_result(sentinel)
            assert await gather(f, f) == [sentinel, sentinel]
        for _ in range(4):
            await bare_yield()
        del r, g, f

    env.run(main(3))
    collect()
    base = sys.getrefcount(sentinel)
    env.run(main(50))
    collect()
    assert sys.getrefcount(sentinel) == base
    assert env.take_errors() == []


def test_outer_and_children_freed(env, gather):
    refs = []

    async def main():
        for _ in range(10):
            g = gather(ret(1), ret(2))
            refs.append(weakref.ref(g))
            refs.extend(weakref.ref(c) for c in g._children)
            await g
        del g

    env.run(main())
    collect()
    assert all(r() is None for r in refs)


def test_gather_many(env, gather):
    async def main():
        return await gather(*[ret(i, i % 3) for i in range(2000)])

    assert env.run(main()) == list(range(2000))
