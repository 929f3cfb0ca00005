"""shield(): every case runs with asyncio.shield (the oracle) and asyncio_c.shield, each on
asyncio's loop (asyncio's Future/Task) and on asyncio_c's loop (asyncio_c's Future/Task)."""
import asyncio
import contextvars
import sys
import weakref

import pytest

import asyncio_c
from _helpers import (  # noqa: F401  (fixtures are used by name)
    ASYNCIO,
    ASYNCIO_C,
    HAS_EAGER,
    ForeignFuture,
    bare_yield,
    collect,
    env,
    impl,
)
from test_gather import _call, fresh_policy

needs_eager = pytest.mark.skipif(not HAS_EAGER, reason="eager tasks are 3.12+")

SHIELDS = [
    pytest.param(asyncio.shield, id="asyncio.shield"),
    pytest.param(asyncio_c.shield, id="asyncio_c.shield"),
]


@pytest.fixture(params=SHIELDS)
def shield(request):
    return request.param


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


def test_exported():
    assert "shield" in asyncio_c.__all__
    assert asyncio_c.shield is asyncio_c._core.shield


# ---------------------------------------------------------------- outcome


def test_result(env, shield):
    async def main():
        inner = env.fut()
        outer = shield(inner)
        assert outer is not inner
        assert type(outer) is type(env.loop.create_future())
        assert outer.get_loop() is env.loop
        assert not outer.done()
        inner.set_result(5)
        return await outer

    assert env.run(main()) == 5


def test_exception(env, shield):
    async def main():
        inner = env.fut()
        outer = shield(inner)
        inner.set_exception(ValueError("v"))
        with pytest.raises(ValueError, match="v"):
            await outer
        del inner, outer

    env.run(main())
    collect()
    assert env.take_errors() == []


@pytest.mark.parametrize("state", ["result", "exception", "cancelled"])
def test_shortcut_done_inner(env, shield, state):
    async def main():
        inner = env.fut()
        if state == "result":
            inner.set_result(1)
        elif state == "exception":
            inner.set_exception(ValueError())
        else:
            inner.cancel()
        assert shield(inner) is inner
        assert not inner._callbacks
        if state == "exception":
            inner.exception()

    env.run(main())


def test_keyword_argument(env, shield):
    async def main():
        inner = env.fut()
        outer = shield(arg=inner)
        inner.set_result(3)
        return await outer

    assert env.run(main()) == 3


def test_coroutine_becomes_task_of_running_loop(env, shield):
    async def main():
        outer = shield(ret(4, 2))
        assert type(outer) is type(env.loop.create_future())
        assert outer.get_loop() is env.loop
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert len(tasks) == 1 and type(tasks[0]) is env.Task
        return await outer

    assert env.run(main()) == 4


# ---------------------------------------------------------------- cancellation


def test_cancel_outer_leaves_inner(env, shield):
    async def main():
        inner = env.fut()
        outer = shield(inner)
        assert len(inner._callbacks) == 1
        assert outer.cancel("o") is True
        assert not inner.cancelled()
        await bare_yield()  # the outer's callback removes the inner's
        assert not inner._callbacks
        inner.set_result(1)
        await bare_yield()
        assert outer.cancelled()
        with pytest.raises(asyncio.CancelledError) as ei:
            outer.result()
        return ei.value.args

    assert env.run(main()) == ("o",)


def test_cancel_outer_then_inner_fails_later_is_logged(env, shield):
    """Once the outer's callback removed the inner's, nobody retrieves the inner's error."""
    async def main():
        inner = env.fut()
        outer = shield(inner)
        outer.cancel()
        await bare_yield()
        inner.set_exception(ValueError("lost"))
        await bare_yield()

    env.run(main())
    collect()
    errors = env.take_errors()
    assert [e["message"] for e in errors] == ["Future exception was never retrieved"]


@pytest.mark.parametrize("order", ["cancel first", "fail first"])
def test_cancel_outer_inner_fails_same_iteration_retrieved(env, shield, order):
    """The inner's callback runs with the outer cancelled: it marks the exception retrieved."""
    async def main():
        inner = env.fut()
        outer = shield(inner)
        if order == "cancel first":
            outer.cancel()
            inner.set_exception(ValueError("x"))
        else:
            inner.set_exception(ValueError("x"))
            outer.cancel()
        await bare_yield()
        await bare_yield()
        assert outer.cancelled()

    env.run(main())
    collect()
    assert env.take_errors() == []


def test_cancel_inner_cancels_outer(env, shield):
    async def main():
        inner = env.fut()
        outer = shield(inner)
        inner.cancel("inner msg")
        with pytest.raises(asyncio.CancelledError) as ei:
            await outer
        assert outer.cancelled()
        return ei.value.args

    assert env.run(main()) == ()


def test_cancel_awaiting_task(env, shield):
    async def waiter(t):
        return await shield(t)

    async def main():
        t = env.task(ret("done", 3))
        w = env.task(waiter(t))
        await bare_yield()
        w.cancel()
        with pytest.raises(asyncio.CancelledError):
            await w
        assert not t.done()
        return await t

    assert env.run(main()) == "done"


def test_cancel_outer_already_done(env, shield):
    async def main():
        inner = env.fut()
        outer = shield(inner)
        inner.set_result(1)
        await bare_yield()
        assert outer.result() == 1
        assert outer.cancel() is False

    env.run(main())


# ---------------------------------------------------------------- foreign futures


def test_foreign_impl_futures(env, shield):
    Other = other_impl(env)

    async def main():
        inner = Other.Future(loop=env.loop)
        outer = shield(inner)
        assert type(outer) is type(env.loop.create_future())
        inner.set_result("x")
        r1 = await outer
        inner2 = Other.Future(loop=env.loop)
        outer2 = shield(inner2)
        outer2.cancel()
        await bare_yield()
        assert not inner2._callbacks
        inner2.set_result(None)
        t = Other.Task(ret("t"), loop=env.loop)
        r2 = await shield(t)
        return r1, r2

    assert env.run(main()) == ("x", "t")


def test_foreign_loop_outer(env, shield):
    """The outer future comes from the inner's loop, whatever its class."""
    Other = other_impl(env)
    other = Other.new_event_loop()
    try:
        inner = other.create_future()
        outer = shield(inner)
        assert outer.get_loop() is other
        assert type(outer) is type(other.create_future())
        inner.set_result(2)
        assert other.run_until_complete(outer) == 2
    finally:
        other.close()


def test_duck_typed_inner(env, shield):
    async def main():
        ff = ForeignFuture(env.loop)
        outer = shield(ff)
        assert ff.log == ["get_loop", "add_done_callback"]
        assert ff.contexts == [None]
        ff.set_result(5)
        r = await outer
        assert ff.log[-1] == "result"
        ff2 = ForeignFuture(env.loop)
        outer2 = shield(ff2)
        outer2.cancel()
        await bare_yield()
        assert ff2.log == ["get_loop", "add_done_callback", "remove_done_callback"]
        assert ff2._callbacks == []
        return r

    assert env.run(main()) == 5


def test_callbacks_context_and_repr(env, shield):
    async def main():
        inner = env.fut()
        outer = shield(inner)
        [(cb, ctx)] = inner._callbacks
        assert isinstance(ctx, contextvars.Context)
        [(ocb, octx)] = outer._callbacks
        assert isinstance(octx, contextvars.Context)
        r = repr(inner), repr(outer)
        inner.set_result(1)
        await outer
        return r

    ri, ro = env.run(main())
    assert "_inner_done_callback" in ri
    assert "_outer_done_callback" in ro


# ---------------------------------------------------------------- bad input, no loop


def test_not_awaitable(env, shield):
    with pytest.raises(TypeError) as ei:
        shield(1)
    assert str(ei.value) == "An asyncio.Future, a coroutine or an awaitable is required"
    with pytest.raises(TypeError):
        shield()
    with pytest.raises(TypeError):
        shield(env.fut(), env.fut())


def _outcome(shield, case, make_arg):
    loop_set = asyncio_c.new_event_loop() if case == "loop set" else None
    try:
        with fresh_policy(set_loop=loop_set, set_none=case == "set None") as policy:
            arg = make_arg()
            r, err, ws = _call(shield, arg)
            info = None
            if r is not None:
                loop = r.get_loop()
                info = (loop is policy._local._loop, loop is loop_set,
                        loop.run_until_complete(r))
            else:
                arg.close()
            return info, err, ws
    finally:
        if loop_set is not None:
            loop_set.close()


@pytest.mark.parametrize("case", ["fresh policy", "set None", "loop set"])
def test_no_running_loop_like_asyncio(case):
    ours = _outcome(asyncio_c.shield, case, lambda: ret(1))
    theirs = _outcome(asyncio.shield, case, lambda: ret(1))
    assert ours == theirs


@needs_eager
def test_eager_inner_done_is_returned(env, shield):
    env.loop.set_task_factory(env.impl.eager_task_factory)

    async def quick():
        return 9

    async def main():
        outer = shield(quick())
        assert outer.done()
        assert type(outer) is env.Task
        r = await outer
        outer2 = shield(ret(1))
        assert not outer2.done()
        return r, await outer2

    assert env.run(main()) == (9, 1)


# ---------------------------------------------------------------- references


def test_no_refleaks(env, shield):
    sentinel = object()

    async def main(n):
        for _ in range(n):
            assert await shield(ret(sentinel)) is sentinel
            with pytest.raises(ValueError):
                await shield(fail(ValueError(sentinel)))
            inner = env.fut()
            outer = shield(inner)
            outer.cancel(sentinel)
            await bare_yield()
            inner.set_result(sentinel)
            inner = env.fut()
            outer = shield(inner)
            inner.cancel(sentinel)
            with pytest.raises(asyncio.CancelledError):
                await outer
            with pytest.raises(TypeError):
                shield(sentinel)
        del inner, outer

    env.run(main(3))
    collect()
    base = sys.getrefcount(sentinel)
    env.run(main(50))
    collect()
    assert sys.getrefcount(sentinel) == base
    assert env.take_errors() == []


def test_futures_freed(env, shield):
    refs = []

    async def main():
        for _ in range(10):
            inner = env.fut()
            outer = shield(inner)
            refs.extend([weakref.ref(inner), weakref.ref(outer)])
            if _ % 2:
                outer.cancel()
                await bare_yield()
            inner.set_result(1)
            await bare_yield()
        del inner, outer

    env.run(main())
    collect()
    assert all(r() is None for r in refs)
