"""Bad input to Future and Task: the same errors, raised the same way, as asyncio's."""
import asyncio
import re
import types
import warnings

import pytest

from _helpers import (  # noqa: F401  (fixtures are used by name)
    HAS_EAGER,
    PY,
    ForeignFuture,
    bare_yield,
    collect,
    env,
    impl,
    yield_value,
)


async def _noop():
    return None


def _closed_coro():
    c = _noop()
    c.close()
    return c


# ---------------------------------------------------------------- Task construction


@pytest.mark.parametrize("bad", [1, None, "coro", _noop, object()], ids=repr)
def test_task_needs_a_coroutine(env, bad):
    with pytest.raises(TypeError, match=f"^a coroutine was expected, got {re.escape(repr(bad))}$"):
        env.Task(bad, loop=env.loop)
    collect()  # the half-built task is not reported as "destroyed but pending"


def test_task_refuses_future(env):
    f = env.fut()
    with pytest.raises(TypeError, match="^a coroutine was expected, got <Future pending>$"):
        env.Task(f, loop=env.loop)


def test_task_of_plain_generator(env):
    def gen():
        yield

    g = gen()
    if PY < (3, 12):
        # 3.11 still takes generators (generator-based coroutines).
        t = env.Task(g, loop=env.loop)
        env.run(t)
        assert t.result() is None
    else:
        with pytest.raises(TypeError, match="^a coroutine was expected, got <generator object "):
            env.Task(g, loop=env.loop)
    collect()


def test_task_needs_coro_argument(impl):
    with pytest.raises(TypeError):
        impl.Task()


def test_task_loop_is_keyword_only(env):
    c = _noop()
    try:
        with pytest.raises(TypeError):
            env.Task(c, env.loop)
    finally:
        c.close()


def test_task_unknown_keyword(env):
    c = _noop()
    try:
        with pytest.raises(TypeError):
            env.Task(c, loop=env.loop, bogus=1)
    finally:
        c.close()


@pytest.mark.parametrize("bad_loop", [1, "loop", object()], ids=repr)
def test_task_loop_of_wrong_type(impl, bad_loop):
    c = _noop()
    try:
        with pytest.raises(AttributeError):
            impl.Task(c, loop=bad_loop)
    finally:
        c.close()
    collect()


@pytest.mark.parametrize("bad_loop", [1, "loop", object()], ids=repr)
def test_future_loop_of_wrong_type(impl, bad_loop):
    with pytest.raises(AttributeError):
        impl.Future(loop=bad_loop)


def test_future_positional_and_unknown_arguments(impl):
    loop = impl.new_event_loop()
    try:
        with pytest.raises(TypeError):
            impl.Future(loop)
        with pytest.raises(TypeError):
            impl.Future(loop=loop, bogus=1)
    finally:
        loop.close()


def test_task_on_closed_loop(impl):
    loop = impl.new_event_loop()
    errors = []
    loop.set_exception_handler(lambda l, ctx: errors.append(ctx))
    loop.close()
    c = _noop()
    with pytest.raises(RuntimeError, match="^Event loop is closed$"):
        impl.Task(c, loop=loop)
    c.close()
    collect()
    # asyncio reports the half-made task when it is collected.
    assert [e["message"] for e in errors] == ["Task was destroyed but it is pending!"]


def test_future_on_closed_loop_is_allowed(impl):
    loop = impl.new_event_loop()
    loop.close()
    f = impl.Future(loop=loop)
    assert f.get_loop() is loop
    f.set_result(1)  # scheduling nothing: no callbacks
    assert f.result() == 1


def test_future_callback_on_closed_loop(impl):
    loop = impl.new_event_loop()
    f = impl.Future(loop=loop)
    f.add_done_callback(lambda _: None)
    loop.close()
    with pytest.raises(RuntimeError, match="^Event loop is closed$"):
        f.set_result(1)


# ---------------------------------------------------------------- wrong argument types


def _future_calls(f):
    return {
        "set_result()": lambda: f.set_result(),
        "set_result(1, 2)": lambda: f.set_result(1, 2),
        "set_exception()": lambda: f.set_exception(),
        "result(1)": lambda: f.result(1),
        "exception(1)": lambda: f.exception(1),
        "done(1)": lambda: f.done(1),
        "cancelled(1)": lambda: f.cancelled(1),
        "get_loop(1)": lambda: f.get_loop(1),
        "cancel(1, 2)": lambda: f.cancel(1, 2),
        "cancel(bogus=1)": lambda: f.cancel(bogus=1),
        "add_done_callback()": lambda: f.add_done_callback(),
        "add_done_callback(cb, ctx)": lambda: f.add_done_callback(print, None),
        "add_done_callback(cb, bogus=1)": lambda: f.add_done_callback(print, bogus=1),
        "add_done_callback(fn=cb)": lambda: f.add_done_callback(fn=print),
        "remove_done_callback()": lambda: f.remove_done_callback(),
        "remove_done_callback(1, 2)": lambda: f.remove_done_callback(1, 2),
        "_make_cancelled_error(1)": lambda: f._make_cancelled_error(1),
        "__await__(1)": lambda: f.__await__(1),
    }


@pytest.mark.parametrize("call", sorted(_future_calls(None)))
def test_future_method_wrong_arguments(env, call):
    f = env.fut()
    with pytest.raises(TypeError):
        _future_calls(f)[call]()
    assert not f.done()


def _task_calls(t):
    return {
        "get_stack(1)": lambda: t.get_stack(1),
        "print_stack(1)": lambda: t.print_stack(1),
        "get_name(1)": lambda: t.get_name(1),
        "set_name()": lambda: t.set_name(),
        "set_name(1, 2)": lambda: t.set_name(1, 2),
        "uncancel(1)": lambda: t.uncancel(1),
        "cancelling(1)": lambda: t.cancelling(1),
        "get_coro(1)": lambda: t.get_coro(1),
        "cancel(1, 2)": lambda: t.cancel(1, 2),
        "cancel(bogus=1)": lambda: t.cancel(bogus=1),
        "result(1)": lambda: t.result(1),
        "add_done_callback()": lambda: t.add_done_callback(),
    }


@pytest.mark.parametrize("call", sorted(_task_calls(None)))
def test_task_method_wrong_arguments(env, call):
    t = env.task(_noop())
    with pytest.raises(TypeError):
        _task_calls(t)[call]()
    assert t.cancelling() == 0
    env.run(t)


def test_get_stack_bad_limit(env):
    f = env.fut()

    async def main():
        await f

    t = env.task(main())
    env.spin()
    with pytest.raises(TypeError):
        t.get_stack(limit="x")
    f.set_result(None)
    env.run(t)


def test_print_stack_bad_file(env):
    t = env.task(_noop())
    env.run(t)
    with pytest.raises(AttributeError):
        t.print_stack(file=1)


def test_log_destroy_pending_cannot_be_deleted(env):
    t = env.task(_noop())
    with pytest.raises(AttributeError):
        del t._log_destroy_pending
    env.run(t)


def test_non_callable_callback_fails_when_run(env):
    f = env.fut()
    f.add_done_callback(1)  # accepted: asyncio does not check at add time
    f.add_done_callback(lambda _: None)
    f.set_result(None)
    env.spin()
    errors = env.take_errors()
    assert len(errors) == 1
    assert errors[0]["message"].startswith("Exception in callback ")
    assert type(errors[0]["exception"]) is TypeError


# ---------------------------------------------------------------- state errors


def test_set_result_twice(env):
    f = env.fut()
    f.set_result(1)
    with pytest.raises(asyncio.InvalidStateError, match="^invalid state$"):
        f.set_result(2)
    assert f.result() == 1


def test_result_on_pending(env):
    f = env.fut()
    with pytest.raises(asyncio.InvalidStateError, match=r"^Result is not set\.$"):
        f.result()


def test_task_result_on_pending(env):
    t = env.task(_noop())
    with pytest.raises(asyncio.InvalidStateError, match=r"^Result is not set\.$"):
        t.result()
    with pytest.raises(asyncio.InvalidStateError, match=r"^Exception is not set\.$"):
        t.exception()
    env.run(t)


# ---------------------------------------------------------------- bad awaits inside a task


def test_await_future_of_another_loop(env):
    other = env.impl.new_event_loop()
    try:
        alien = env.Future(loop=other)

        async def main():
            await alien

        t = env.task(main(), name="T")
        env.spin(3)
        assert t.done()
        exc = t.exception()
        assert type(exc) is RuntimeError
        assert re.fullmatch(r"Task <Task .*name='T'.*> got Future <Future pending> "
                            r"attached to a different loop", str(exc)), str(exc)
        assert not alien.done()
    finally:
        other.close()


def test_await_foreign_future_of_another_loop(env):
    other = env.impl.new_event_loop()
    try:
        alien = ForeignFuture(other)

        async def main():
            await alien

        t = env.task(main())
        env.spin(3)
        assert type(t.exception()) is RuntimeError
        assert "attached to a different loop" in str(t.exception())
        assert alien.log == ["get_loop"]
    finally:
        other.close()


@pytest.mark.parametrize("value", [1, "str", object(), [None]], ids=repr)
def test_bare_yield_of_non_future(env, value):
    async def main():
        try:
            await yield_value(value)
        except RuntimeError as e:
            return str(e)

    t = env.task(main())
    assert env.run(t) == f"Task got bad yield: {value!r}"


def test_bad_yield_is_raised_at_next_step(env):
    order = []

    async def main():
        try:
            await yield_value(42)
        except RuntimeError:
            order.append("got error")

    t = env.task(main())
    env.spin()
    # The error step was scheduled by the failing step, so it runs before this.
    env.loop.call_soon(order.append, "between")
    assert order == []
    env.spin()
    assert order == ["got error", "between"]
    assert t.done()


def test_yield_future_without_yield_from(env):
    f = env.fut()

    @types.coroutine
    def wrong():
        yield f  # a pending future, not via __await__: blocking flag is False

    async def main():
        await wrong()

    t = env.task(main(), name="Y")
    env.spin(2)
    exc = t.exception()
    assert type(exc) is RuntimeError
    assert re.fullmatch(r"yield was used instead of yield from in task <Task .*name='Y'.*> "
                        r"with <Future pending>", str(exc)), str(exc)


def test_yield_generator(env):
    def gen():
        yield

    @types.coroutine
    def wrong():
        yield gen()

    async def main():
        await wrong()

    t = env.task(main(), name="G")
    env.spin(2)
    exc = t.exception()
    assert type(exc) is RuntimeError
    assert re.fullmatch(r"yield was used instead of yield from for generator in task "
                        r"<Task .*name='G'.*> with <generator object .*>", str(exc)), str(exc)


def test_awaitable_whose_await_yields_wrong_type(env):
    class Wrong:
        def __await__(self):
            yield "not a future"

    async def main():
        await Wrong()

    t = env.task(main())
    env.spin(2)
    exc = t.exception()
    assert type(exc) is RuntimeError
    assert str(exc) == "Task got bad yield: 'not a future'"


def test_awaitable_whose_await_returns_non_iterator(env):
    class Wrong:
        def __await__(self):
            return 5

    async def main():
        await Wrong()

    t = env.task(main())
    env.spin()
    exc = t.exception()
    assert type(exc) is TypeError
    assert "__await__() returned non-iterator of type 'int'" in str(exc)


def test_task_awaits_itself(env):
    async def main():
        await asyncio.current_task()

    t = env.task(main(), name="Me")
    env.spin(2)
    exc = t.exception()
    assert type(exc) is RuntimeError
    assert re.fullmatch(r"Task cannot await on itself: <Task .*name='Me'.*>", str(exc)), str(exc)


def test_blocking_flag_set_on_foreign_future_of_wrong_shape(env):
    # A future-like with _asyncio_future_blocking but neither get_loop() nor _loop:
    # the step itself fails; asyncio reports it as a failed callback and the task
    # is left pending (nothing will ever wake it).
    class Broken:
        _asyncio_future_blocking = True

        def __await__(self):
            yield self

    async def main():
        await Broken()

    t = env.task(main())
    env.spin(3)
    assert not t.done()
    errors = env.take_errors()
    assert len(errors) == 1
    assert errors[0]["message"].startswith("Exception in callback ")
    assert type(errors[0]["exception"]) is AttributeError
    t._log_destroy_pending = False


# ---------------------------------------------------------------- coroutine in a bad state


def test_task_of_closed_coroutine(env):
    t = env.task(_closed_coro())
    env.spin()
    exc = t.exception()
    assert type(exc) is RuntimeError
    assert str(exc) == "cannot reuse already awaited coroutine"


def test_task_of_finished_coroutine(env):
    c = _noop()
    with pytest.raises(StopIteration):
        c.send(None)
    t = env.task(c)
    env.spin()
    assert type(t.exception()) is RuntimeError
    assert str(t.exception()) == "cannot reuse already awaited coroutine"


@pytest.mark.skipif(not HAS_EAGER, reason="eager tasks are 3.12+")
def test_task_of_running_coroutine(env):
    holder = {}

    async def main():
        t = env.Task(holder["self"], loop=env.loop, eager_start=True)
        return t

    holder["self"] = c = main()
    t = env.run(c)
    exc = t.exception()
    assert type(exc) is ValueError
    assert str(exc) == "coroutine already executing"


def test_task_of_coroutine_driven_elsewhere(env):
    # A second task over a coroutine that another task is already driving: its
    # first step resumes the coroutine inside Future.__await__, which yields the
    # (still pending) future again, so both tasks end up waiting on it.  The first
    # to wake finishes the coroutine; the other then finds it exhausted.
    f = env.fut()

    async def main():
        await f
        return "done"

    c = main()
    first = env.task(c)
    env.spin()
    second = env.task(c)
    env.spin()
    assert not first.done() and not second.done()
    assert len(f._callbacks) == 2
    f.set_result(None)
    env.spin()
    assert first.result() == "done"
    exc = second.exception()
    assert type(exc) is RuntimeError
    assert str(exc) == "cannot reuse already awaited coroutine"


# ---------------------------------------------------------------- what coroutines raise


def test_coroutine_raises_stopiteration(env):
    async def main():
        raise StopIteration("inside")

    t = env.task(main())
    env.spin()
    exc = t.exception()
    assert type(exc) is RuntimeError
    assert str(exc) == "coroutine raised StopIteration"
    assert type(exc.__cause__) is StopIteration


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_propagate(env, exc_type):
    async def main():
        await bare_yield()
        raise exc_type("out")

    t = env.task(main())
    with pytest.raises(exc_type):
        env.run(t)
    assert t.done()
    assert type(t.exception()) is exc_type
    # The loop is usable again and no task is left current.
    seen = []
    env.loop.call_soon(lambda: seen.append(asyncio.current_task(env.loop)))
    env.spin()
    assert seen == [None]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exception_in_first_step(env, exc_type):
    async def main():
        raise exc_type()

    t = env.task(main())
    with pytest.raises(exc_type):
        env.spin()
    assert type(t.exception()) is exc_type
    assert asyncio.all_tasks(env.loop) == set()


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exception_after_wakeup(env, exc_type):
    f = env.fut()

    async def main():
        await f
        raise exc_type()

    t = env.task(main())
    env.spin()
    f.set_result(None)
    with pytest.raises(exc_type):
        env.spin()
    assert t.done()
    t.exception()


@pytest.mark.skipif(not HAS_EAGER, reason="eager tasks are 3.12+")
def test_base_exception_during_eager_start_escapes_constructor(env):
    async def kb():
        raise KeyboardInterrupt()

    async def main():
        with pytest.raises(KeyboardInterrupt):
            env.Task(kb(), loop=env.loop, eager_start=True)
        return "after"

    assert env.run(main()) == "after"
    collect()
    # The lost task finished with the KeyboardInterrupt nobody retrieved.
    errors = env.take_errors()
    assert [e["message"] for e in errors] == ["Task exception was never retrieved"]
    assert type(errors[0]["exception"]) is KeyboardInterrupt


def test_generator_exit_from_coroutine(env):
    async def main():
        raise GeneratorExit()

    t = env.task(main())
    env.spin()
    assert type(t.exception()) is GeneratorExit


# ---------------------------------------------------------------- callbacks that raise


def test_raising_done_callback_goes_to_handler_and_loop_continues(env):
    order = []

    async def main():
        return 1

    def bad(_):
        order.append("bad")
        raise ZeroDivisionError("cb")

    t = env.task(main())
    t.add_done_callback(bad)
    t.add_done_callback(lambda _: order.append("next cb"))
    env.loop.call_soon(lambda: None)
    env.run(t)
    env.spin()
    env.loop.call_soon(order.append, "loop alive")
    env.spin()
    assert order == ["bad", "next cb", "loop alive"]
    errors = env.take_errors()
    assert len(errors) == 1
    assert errors[0]["message"].startswith("Exception in callback ")
    assert type(errors[0]["exception"]) is ZeroDivisionError


def test_base_exception_in_done_callback_propagates(env):
    f = env.fut()
    f.add_done_callback(lambda _: (_ for _ in ()).throw(KeyboardInterrupt()))
    f.set_result(None)
    with pytest.raises(KeyboardInterrupt):
        env.spin()


def test_raising_exception_handler_does_not_kill_loop(env):
    def handler(loop, ctx):
        raise ValueError("handler broke")

    env.loop.set_exception_handler(handler)
    f = env.fut()
    f.add_done_callback(lambda _: 1 / 0)
    f.set_result(None)
    order = []
    env.loop.call_soon(order.append, "alive")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import logging
        logger = logging.getLogger("asyncio")
        old = logger.disabled
        logger.disabled = True
        try:
            env.spin()
        finally:
            logger.disabled = old
    assert order == ["alive"]
    env.loop.set_exception_handler(env._handler)


def test_task_name_whose_str_raises(env):
    class BadStr:
        def __str__(self):
            raise ValueError("no str")

    c = _noop()
    try:
        with pytest.raises(ValueError, match="no str"):
            env.Task(c, loop=env.loop, name=BadStr())
    finally:
        c.close()
    collect()
    # asyncio reports the half-built task when it is collected.
    errs = env.take_errors()
    assert [e["message"] for e in errs] == ["Task was destroyed but it is pending!"]


def test_await_iterator_send_with_none_result(env):
    f = env.fut()
    f.set_result(None)
    it = f.__await__()
    with pytest.raises(StopIteration) as ei:
        it.send(None)
    assert ei.value.value is None


def test_uninitialised_future_is_not_blocking(impl):
    f = impl.Future.__new__(impl.Future)
    assert f._asyncio_future_blocking is False
