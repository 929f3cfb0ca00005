"""Future: every case runs on asyncio.Future (the oracle) and on asyncio_c.Future."""
import asyncio
import concurrent.futures
import contextvars
import functools
import gc
import sys
import traceback
import types
import weakref

import pytest

from _helpers import (  # noqa: F401  (fixtures are used by name)
    PY,
    collect,
    debug_env,
    env,
    impl,
)

HERE = __file__


def _lineno_of(func):
    return func.__code__.co_firstlineno


# ---------------------------------------------------------------- state and result


def test_initial_state(env):
    f = env.fut()
    assert not f.done()
    assert not f.cancelled()
    assert f.get_loop() is env.loop
    with pytest.raises(asyncio.InvalidStateError, match=r"^Result is not set\.$"):
        f.result()
    with pytest.raises(asyncio.InvalidStateError, match=r"^Exception is not set\.$"):
        f.exception()


def test_set_result(env):
    f = env.fut()
    obj = object()
    assert f.set_result(obj) is None
    assert f.done()
    assert not f.cancelled()
    assert f.result() is obj
    assert f.exception() is None


def test_set_result_none(env):
    f = env.fut()
    f.set_result(None)
    assert f.done()
    assert f.result() is None


def test_set_exception_instance(env):
    f = env.fut()
    exc = ValueError("boom")
    f.set_exception(exc)
    assert f.done()
    assert not f.cancelled()
    assert f.exception() is exc
    with pytest.raises(ValueError, match="^boom$") as info:
        f.result()
    assert info.value is exc


def test_set_exception_class_is_instantiated(env):
    f = env.fut()
    f.set_exception(KeyError)
    exc = f.exception()
    assert type(exc) is KeyError
    assert exc.args == ()
    with pytest.raises(KeyError) as info:
        f.result()
    assert info.value is exc


def test_set_exception_keeps_traceback(env):
    f = env.fut()

    def thrower():
        raise RuntimeError("tb")

    try:
        thrower()
    except RuntimeError as e:
        f.set_exception(e)
    with pytest.raises(RuntimeError) as info:
        f.result()
    names = [fr.name for fr in traceback.extract_tb(info.value.__traceback__)]
    assert "thrower" in names


def test_result_traceback_does_not_grow(env):
    f = env.fut()
    try:
        raise ValueError("tb")
    except ValueError as e:
        f.set_exception(e)
    lengths = []
    for _ in range(4):
        try:
            f.result()
        except ValueError as e:
            lengths.append(len(traceback.extract_tb(e.__traceback__)))
    assert lengths[1] == lengths[2] == lengths[3]
    assert max(lengths) <= 2


def test_hash_and_equality_are_identity(env):
    f, g = env.fut(), env.fut()
    assert f == f and f != g
    assert len({f, g, f}) == 2
    assert hash(f) == hash(f)


def test_set_exception_base_exception(env):
    f = env.fut()
    f.set_exception(KeyboardInterrupt())
    assert isinstance(f.exception(), KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        f.result()


@pytest.mark.parametrize("exc", [StopIteration, StopIteration("x")], ids=["class", "instance"])
def test_set_exception_stopiteration(env, exc):
    f = env.fut()
    msg = "StopIteration interacts badly with generators and cannot be raised into a Future"
    if PY < (3, 13):
        with pytest.raises(TypeError, match=f"^{msg}$"):
            f.set_exception(exc)
        assert not f.done()
    else:
        # 3.13: stored as a RuntimeError whose cause and context are the StopIteration.
        f.set_exception(exc)
        assert f.done()
        stored = f.exception()
        assert type(stored) is RuntimeError
        assert str(stored) == msg
        assert type(stored.__cause__) is StopIteration
        assert stored.__context__ is stored.__cause__
        if isinstance(exc, BaseException):
            assert stored.__cause__ is exc
        with pytest.raises(RuntimeError, match=f"^{msg}$"):
            f.result()


@pytest.mark.parametrize("bad", [1, "x", None, int, object()], ids=repr)
def test_set_exception_not_an_exception(env, bad):
    f = env.fut()
    with pytest.raises(TypeError, match="^invalid exception object$"):
        f.set_exception(bad)
    assert not f.done()


def test_set_exception_class_whose_constructor_returns_non_exception(env):
    class Weird(Exception):
        def __new__(cls):
            return 5

    f = env.fut()
    with pytest.raises(TypeError, match="^invalid exception object$"):
        f.set_exception(Weird)
    assert not f.done()


def test_set_exception_class_whose_constructor_raises(env):
    class Angry(Exception):
        def __init__(self):
            raise ZeroDivisionError("ctor")

    f = env.fut()
    with pytest.raises(ZeroDivisionError, match="^ctor$"):
        f.set_exception(Angry)
    assert not f.done()


@pytest.mark.parametrize("first", ["result", "exception", "cancel"])
@pytest.mark.parametrize("second", ["set_result", "set_exception"])
def test_invalid_state(env, first, second):
    f = env.fut()
    if first == "result":
        f.set_result(1)
    elif first == "exception":
        f.set_exception(ValueError())
        f.exception()
    else:
        f.cancel()
    with pytest.raises(asyncio.InvalidStateError, match="^invalid state$"):
        if second == "set_result":
            f.set_result(2)
        else:
            f.set_exception(ValueError())
    # The first outcome is kept.
    if first == "result":
        assert f.result() == 1
    elif first == "exception":
        assert type(f.exception()) is ValueError
    else:
        assert f.cancelled()


def test_invalid_state_error_is_asyncio_s(env):
    f = env.fut()
    f.set_result(1)
    with pytest.raises(Exception) as info:
        f.set_result(2)
    assert type(info.value) is asyncio.InvalidStateError
    assert type(info.value) is asyncio.exceptions.InvalidStateError


# ---------------------------------------------------------------- cancellation


def test_cancel(env):
    f = env.fut()
    assert f.cancel() is True
    assert f.cancelled()
    assert f.done()
    assert f.cancel() is False
    with pytest.raises(asyncio.CancelledError) as info:
        f.result()
    assert info.value.args == ()
    with pytest.raises(asyncio.CancelledError):
        f.exception()


def test_cancel_with_message(env):
    f = env.fut()
    assert f.cancel("stop it")
    with pytest.raises(asyncio.CancelledError) as info:
        f.result()
    assert info.value.args == ("stop it",)
    with pytest.raises(asyncio.CancelledError) as info:
        f.exception()
    assert info.value.args == ("stop it",)


def test_cancel_msg_keyword_and_second_message_ignored(env):
    f = env.fut()
    assert f.cancel(msg="first")
    assert not f.cancel(msg="second")
    with pytest.raises(asyncio.CancelledError) as info:
        f.result()
    assert info.value.args == ("first",)


def test_cancel_message_non_string(env):
    f = env.fut()
    payload = ("tuple", 1)
    f.cancel(payload)
    with pytest.raises(asyncio.CancelledError) as info:
        f.result()
    assert info.value.args == (payload,)
    assert info.value.args[0] is payload


def test_cancel_after_done(env):
    f = env.fut()
    f.set_result(3)
    assert f.cancel() is False
    assert not f.cancelled()
    assert f.result() == 3

    g = env.fut()
    g.set_exception(ValueError())
    assert g.cancel("x") is False
    assert not g.cancelled()
    assert type(g.exception()) is ValueError


def test_cancel_message_attribute(env):
    f = env.fut()
    assert f._cancel_message is None
    f.cancel("why")
    assert f._cancel_message == "why"


def test_make_cancelled_error(env):
    f = env.fut()
    f.cancel("m")
    e1 = f._make_cancelled_error()
    e2 = f._make_cancelled_error()
    assert type(e1) is asyncio.CancelledError
    assert e1.args == ("m",)
    assert e1 is not e2
    assert e1.__context__ is None and e1.__cause__ is None

    g = env.fut()
    g.cancel()
    assert g._make_cancelled_error().args == ()


def test_cancelled_error_is_new_each_time(env):
    f = env.fut()
    f.cancel("again")
    errors = []
    for _ in range(2):
        try:
            f.result()
        except asyncio.CancelledError as e:
            errors.append(e)
    assert len(errors) == 2
    assert errors[0] is not errors[1]
    assert errors[0].args == errors[1].args == ("again",)


def test_cancel_schedules_callbacks(env):
    f = env.fut()
    seen = []
    f.add_done_callback(lambda fut: seen.append(fut.cancelled()))
    f.cancel()
    assert seen == []
    env.spin()
    assert seen == [True]


# ---------------------------------------------------------------- callbacks


def test_callback_not_called_synchronously(env):
    f = env.fut()
    seen = []
    f.add_done_callback(seen.append)
    f.set_result(1)
    assert seen == []
    env.spin()
    assert seen == [f]


def test_callbacks_order_and_interleaving_with_call_soon(env):
    f = env.fut()
    order = []
    f.add_done_callback(lambda _: order.append("cb1"))
    f.add_done_callback(lambda _: order.append("cb2"))
    env.loop.call_soon(order.append, "before")
    f.add_done_callback(lambda _: order.append("cb3"))
    f.set_result(None)
    env.loop.call_soon(order.append, "after")
    env.spin()
    assert order == ["before", "cb1", "cb2", "cb3", "after"]


def test_callback_added_when_done_is_scheduled(env):
    f = env.fut()
    f.set_result(5)
    order = []
    env.loop.call_soon(order.append, "first")
    f.add_done_callback(lambda fut: order.append(("cb", fut.result())))
    env.loop.call_soon(order.append, "last")
    assert order == []
    env.spin()
    assert order == ["first", ("cb", 5), "last"]


def test_callback_added_by_callback_runs_next_iteration(env):
    f = env.fut()
    order = []

    def first(fut):
        order.append("first")
        fut.add_done_callback(lambda _: order.append("late"))

    f.add_done_callback(first)
    f.add_done_callback(lambda _: order.append("second"))
    f.set_result(None)
    env.spin()
    assert order == ["first", "second"]
    env.spin()
    assert order == ["first", "second", "late"]


def test_many_callbacks_keep_order(env):
    f = env.fut()
    order = []
    for i in range(50):
        f.add_done_callback(functools.partial(lambda i, _: order.append(i), i))
    f.set_exception(ValueError())
    f.exception()
    env.spin()
    assert order == list(range(50))


def test_remove_done_callback(env):
    f = env.fut()
    order = []

    def a(_):
        order.append("a")

    def b(_):
        order.append("b")

    f.add_done_callback(a)
    f.add_done_callback(b)
    f.add_done_callback(a)
    f.add_done_callback(b)
    f.add_done_callback(a)
    assert f.remove_done_callback(a) == 3
    assert f.remove_done_callback(a) == 0
    f.set_result(None)
    env.spin()
    assert order == ["b", "b"]


def test_remove_done_callback_uses_equality(env):
    class Key:
        def __init__(self, k):
            self.k = k

        def __eq__(self, other):
            return isinstance(other, Key) and other.k == self.k

        def __hash__(self):
            return hash(self.k)

        def __call__(self, fut):
            pass

    f = env.fut()
    f.add_done_callback(Key(1))
    f.add_done_callback(Key(2))
    f.add_done_callback(Key(1))
    assert f.remove_done_callback(Key(1)) == 2
    assert f.remove_done_callback(Key(2)) == 1
    assert f.remove_done_callback(Key(2)) == 0


def test_remove_only_callback_and_first_callback(env):
    f = env.fut()
    order = []

    def a(_):
        order.append("a")

    def b(_):
        order.append("b")

    f.add_done_callback(a)
    assert f.remove_done_callback(a) == 1
    f.add_done_callback(a)
    f.add_done_callback(b)
    assert f.remove_done_callback(a) == 1
    f.add_done_callback(a)
    f.set_result(None)
    env.spin()
    assert order == ["b", "a"]


def test_remove_done_callback_after_done(env):
    f = env.fut()
    seen = []
    f.add_done_callback(seen.append)
    f.set_result(1)
    # Already scheduled: removing finds nothing left on the future.
    assert f.remove_done_callback(seen.append) == 0
    env.spin()
    assert seen == [f]


def test_remove_done_callback_with_mutating_eq(env):
    # An __eq__ that adds callbacks while remove_done_callback scans must not crash.
    f = env.fut()

    added = []

    class Evil:
        def __eq__(self, other):
            if len(added) < 3:
                added.append(1)
                f.add_done_callback(noop)
            return False

        def __call__(self, fut):
            pass

    def noop(_):
        pass

    for _ in range(3):
        f.add_done_callback(noop)
    assert f.remove_done_callback(Evil()) == 0
    f.set_result(None)
    env.spin()


def test_remove_done_callback_whose_eq_completes_the_future(env):
    # __eq__ finishing the future during the scan: no crash, the callbacks that
    # were registered when it finished all run once.
    f = env.fut()
    ran = []

    class Finisher:
        def __eq__(self, other):
            if not f.done():
                f.set_result(None)
            return True

    def a(_):
        ran.append("a")

    for _ in range(3):
        f.add_done_callback(a)
    f.remove_done_callback(Finisher())
    assert f.done()
    env.spin()
    assert ran == ["a", "a", "a"]


def test_remove_every_other_callback(env):
    f = env.fut()
    order = []
    cbs = [functools.partial(lambda i, _: order.append(i), i) for i in range(10)]
    for cb in cbs:
        f.add_done_callback(cb)
    for cb in cbs[::2]:
        assert f.remove_done_callback(cb) == 1
    f.set_result(None)
    env.spin()
    assert order == [1, 3, 5, 7, 9]


var = contextvars.ContextVar("var", default="default")


def test_callback_runs_in_given_context(env):
    f = env.fut()
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in ctx")
    seen = []
    f.add_done_callback(lambda _: seen.append(var.get()), context=ctx)
    f.add_done_callback(lambda _: seen.append(var.get()))
    f.set_result(None)
    env.spin()
    assert seen == ["in ctx", "default"]
    assert var.get() == "default"


def test_callback_context_changes_persist_in_that_context(env):
    f = env.fut()
    ctx = contextvars.copy_context()
    f.add_done_callback(lambda _: var.set("changed"), context=ctx)
    f.set_result(None)
    env.spin()
    assert ctx[var] == "changed"
    assert var.get() == "default"


def test_callback_default_context_is_copy_at_add_time(env):
    f = env.fut()
    seen = []
    token = var.set("at add")
    try:
        f.add_done_callback(lambda _: seen.append(var.get()))
    finally:
        var.reset(token)
    var.set("later")
    try:
        f.set_result(None)
        env.spin()
    finally:
        var.set("default")
    assert seen == ["at add"]


def test_callback_added_when_done_uses_context(env):
    f = env.fut()
    f.set_result(None)
    ctx = contextvars.copy_context()
    ctx.run(var.set, "done ctx")
    seen = []
    f.add_done_callback(lambda _: seen.append(var.get()), context=ctx)
    env.spin()
    assert seen == ["done ctx"]


def test_callback_exception_goes_to_handler(env):
    f = env.fut()
    order = []

    def bad(_):
        order.append("bad")
        raise ZeroDivisionError("cb")

    f.add_done_callback(bad)
    f.add_done_callback(lambda _: order.append("good"))
    f.set_result(None)
    env.spin()
    assert order == ["bad", "good"]
    errors = env.take_errors()
    assert len(errors) == 1
    assert type(errors[0]["exception"]) is ZeroDivisionError
    assert errors[0]["message"].startswith("Exception in callback ")


# ---------------------------------------------------------------- loop


def test_get_loop(env):
    f = env.fut()
    assert f.get_loop() is env.loop
    assert f._loop is env.loop


def test_loop_from_running_loop(env):
    async def make():
        return env.Future()

    f = env.run(make())
    assert f.get_loop() is env.loop


def test_loop_none_uses_running_loop(env):
    async def make():
        return env.Future(loop=None)

    assert env.run(make()).get_loop() is env.loop


def test_loop_create_future_type(env):
    f = env.loop.create_future()
    assert type(f) is env.Future


# ---------------------------------------------------------------- await protocol


def test_await_protocol_pending_then_done(env):
    f = env.fut()
    it = f.__await__()
    assert f._asyncio_future_blocking is False
    assert it.send(None) is f
    assert f._asyncio_future_blocking is True
    # The driver (a Task) is expected to reset the flag.
    f._asyncio_future_blocking = False
    f.set_result("v")
    with pytest.raises(StopIteration) as info:
        it.send(None)
    assert info.value.value == "v"


def test_iter_is_await(env):
    f = env.fut()
    it = iter(f)
    assert type(it) is type(f.__await__())
    assert next(it) is f
    f._asyncio_future_blocking = False
    f.set_result(7)
    with pytest.raises(StopIteration) as info:
        next(it)
    assert info.value.value == 7


def test_await_done_future_stops_at_once(env):
    f = env.fut()
    f.set_result([1])
    it = f.__await__()
    with pytest.raises(StopIteration) as info:
        next(it)
    assert info.value.value == [1]
    assert f._asyncio_future_blocking is False


def test_await_failed_future_raises(env):
    f = env.fut()
    exc = LookupError("x")
    f.set_exception(exc)
    it = f.__await__()
    with pytest.raises(LookupError) as info:
        it.send(None)
    assert info.value is exc


def test_await_cancelled_future_raises(env):
    f = env.fut()
    f.cancel("msg")
    with pytest.raises(asyncio.CancelledError) as info:
        next(f.__await__())
    assert info.value.args == ("msg",)


def test_await_resumed_while_pending(env):
    f = env.fut()
    it = f.__await__()
    assert next(it) is f
    with pytest.raises(RuntimeError, match="^await wasn't used with future$"):
        it.send(None)


def test_await_resumed_after_flag_reset_yields_again(env):
    # What a task does: take the yielded future, clear its blocking flag.  If the
    # iterator is then resumed while the future is still pending, asyncio's
    # Future.__await__ yields the future again (the flag decides, not the iterator).
    f = env.fut()
    it = f.__await__()
    assert next(it) is f
    f._asyncio_future_blocking = False
    assert it.send(None) is f
    assert f._asyncio_future_blocking is True
    f._asyncio_future_blocking = False
    f.set_result("finally")
    with pytest.raises(StopIteration) as info:
        it.send(None)
    assert info.value.value == "finally"


def test_await_iterator_exhausted(env):
    f = env.fut()
    f.set_result(1)
    it = f.__await__()
    with pytest.raises(StopIteration):
        next(it)
    with pytest.raises(StopIteration) as info:
        next(it)
    assert info.value.value is None


def test_await_iterator_throw(env):
    f = env.fut()
    it = f.__await__()
    next(it)
    exc = ValueError("thrown")
    with pytest.raises(ValueError) as info:
        it.throw(exc)
    assert info.value is exc
    it2 = env.fut().__await__()
    with pytest.raises(TypeError):
        it2.throw(1)


def test_await_iterator_throw_class(env):
    it = env.fut().__await__()
    with pytest.raises(KeyError):
        it.throw(KeyError)


def test_await_iterator_close(env):
    f = env.fut()
    it = f.__await__()
    next(it)
    assert it.close() is None
    assert not f.done()


def test_await_iterator_methods(env):
    it = env.fut().__await__()
    for name in ("send", "throw", "close", "__next__", "__iter__"):
        assert callable(getattr(it, name)), name
    assert iter(it) is it


def test_yield_from_in_generator(env):
    f = env.fut()

    def gen():
        return (yield from f)

    g = gen()
    assert g.send(None) is f
    f._asyncio_future_blocking = False
    f.set_result("from gen")
    with pytest.raises(StopIteration) as info:
        g.send(None)
    assert info.value.value == "from gen"


def test_await_in_coroutine_via_task(env):
    f = env.fut()

    async def main():
        return await f

    t = env.task(main())
    env.spin()
    assert not t.done()
    f.set_result("awaited")
    assert env.run(t) == "awaited"


def test_await_same_future_twice(env):
    f = env.fut()

    async def main():
        a = await f
        b = await f
        return a, b

    t = env.task(main())
    env.loop.call_soon(f.set_result, 9)
    assert env.run(t) == (9, 9)


# ---------------------------------------------------------------- attributes


def test_asyncio_future_blocking(env):
    f = env.fut()
    assert f._asyncio_future_blocking is False
    f._asyncio_future_blocking = True
    assert f._asyncio_future_blocking is True
    f._asyncio_future_blocking = False
    assert f._asyncio_future_blocking is False
    # Truthiness is what counts.
    f._asyncio_future_blocking = 5
    assert f._asyncio_future_blocking is True
    f._asyncio_future_blocking = ""
    assert f._asyncio_future_blocking is False
    with pytest.raises(AttributeError):
        del f._asyncio_future_blocking


def test_asyncio_future_blocking_bad_bool(env):
    class NoBool:
        def __bool__(self):
            raise ZeroDivisionError("no bool")

    f = env.fut()
    with pytest.raises(ZeroDivisionError):
        f._asyncio_future_blocking = NoBool()
    assert f._asyncio_future_blocking is False


def test_asyncio_future_blocking_on_class(impl):
    assert impl.Future._asyncio_future_blocking is not None


def test_log_traceback(env):
    f = env.fut()
    assert f._log_traceback is False
    f.set_exception(ValueError())
    assert f._log_traceback is True
    f._log_traceback = False
    assert f._log_traceback is False
    with pytest.raises(ValueError, match="^_log_traceback can only be set to False$"):
        f._log_traceback = True
    with pytest.raises(ValueError, match="^_log_traceback can only be set to False$"):
        f._log_traceback = 1
    with pytest.raises(AttributeError):
        del f._log_traceback
    # No report: the flag was cleared by hand.
    del f
    collect()


def test_log_traceback_cleared_by_retrieval(env):
    for getter in ("exception", "result"):
        f = env.fut()
        f.set_exception(ValueError())
        assert f._log_traceback is True
        try:
            getattr(f, getter)()
        except ValueError:
            pass
        assert f._log_traceback is False


def test_log_traceback_not_set_by_result(env):
    f = env.fut()
    f.set_result(1)
    assert f._log_traceback is False
    g = env.fut()
    g.cancel()
    assert g._log_traceback is False


def test_private_state_attributes(env):
    f = env.fut()
    assert f._state == "PENDING"
    assert f._result is None and f._exception is None
    f.set_result(4)
    assert f._state == "FINISHED" and f._result == 4
    g = env.fut()
    exc = OSError()
    g.set_exception(exc)
    assert g._state == "FINISHED" and g._exception is exc
    g.exception()
    h = env.fut()
    h.cancel()
    assert h._state == "CANCELLED"


def test_callbacks_attribute(env):
    f = env.fut()
    assert not f._callbacks

    def cb(_):
        pass

    f.add_done_callback(cb)
    ctx = contextvars.copy_context()
    f.add_done_callback(cb, context=ctx)
    cbs = f._callbacks
    assert [c[0] for c in cbs] == [cb, cb]
    assert cbs[1][1] is ctx
    f.set_result(None)
    assert not f._callbacks
    env.spin()


def test_source_traceback_off_without_debug(env):
    assert env.fut()._source_traceback is None


def test_source_traceback_with_debug(debug_env):
    env = debug_env

    def make_it():
        return env.Future(loop=env.loop)

    f = make_it()
    tb = f._source_traceback
    assert isinstance(tb, traceback.StackSummary)
    assert tb[-1].name == "make_it"
    assert tb[-1].filename == HERE
    assert tb[-2].name == "test_source_traceback_with_debug"
    # base_events.create_task() deletes the last entry: it must be a mutable list.
    del tb[-1]
    assert f._source_traceback[-1].name == "test_source_traceback_with_debug"


# ---------------------------------------------------------------- repr


def _cb_here(_):
    pass


CB_LINE = _lineno_of(_cb_here)


def test_repr_pending(env):
    assert repr(env.fut()) == "<Future pending>"


def test_repr_pending_callbacks(env):
    f = env.fut()
    f.add_done_callback(_cb_here)
    one = f"_cb_here() at {HERE}:{CB_LINE}"
    assert repr(f) == f"<Future pending cb=[{one}]>"
    f.add_done_callback(_cb_here)
    assert repr(f) == f"<Future pending cb=[{one}, {one}]>"
    f.add_done_callback(_cb_here)
    assert repr(f) == f"<Future pending cb=[{one}, <1 more>, {one}]>"
    f.add_done_callback(_cb_here)
    assert repr(f) == f"<Future pending cb=[{one}, <2 more>, {one}]>"


def test_repr_pending_partial_callback(env):
    f = env.fut()
    f.add_done_callback(functools.partial(_cb_here, 1))
    args = "1" if PY < (3, 13) else ""
    assert repr(f) == f"<Future pending cb=[_cb_here({args})() at {HERE}:{CB_LINE}]>"


def test_repr_finished_result(env):
    f = env.fut()
    f.set_result([1, "a"])
    assert repr(f) == "<Future finished result=[1, 'a']>"
    g = env.fut()
    g.set_result("x" * 100)
    assert repr(g) == "<Future finished result='xxxxxxxxxxxx...xxxxxxxxxxxxx'>"


def test_repr_finished_exception(env):
    f = env.fut()
    f.set_exception(ValueError("bad"))
    assert repr(f) == "<Future finished exception=ValueError('bad')>"
    f.exception()


def test_repr_cancelled(env):
    f = env.fut()
    f.cancel("with msg")
    assert repr(f) == "<Future cancelled>"


def test_repr_finished_callbacks_gone(env):
    f = env.fut()
    f.add_done_callback(_cb_here)
    f.set_result(None)
    assert repr(f) == "<Future finished result=None>"
    env.spin()


def test_repr_debug_created_at(debug_env):
    env = debug_env
    f = env.Future(loop=env.loop); line = sys._getframe().f_lineno  # noqa: E702
    assert repr(f) == f"<Future pending created at {HERE}:{line}>"
    f.set_result(2)
    assert repr(f) == f"<Future finished result=2 created at {HERE}:{line}>"


def test_repr_subclass(env):
    class MyFuture(env.Future):
        pass

    f = MyFuture(loop=env.loop)
    assert repr(f) == "<MyFuture pending>"
    f.set_result(1)
    assert repr(f) == "<MyFuture finished result=1>"


def test_repr_subclass_overrides_repr(env):
    class Custom(env.Future):
        def __repr__(self):
            return "custom!"

    f = Custom(loop=env.loop)
    assert repr(f) == "custom!"


def test_repr_recursive_result(env):
    f = env.fut()
    f.set_result([f])
    assert repr(f) == "<Future finished result=[...]>"


# ---------------------------------------------------------------- typing, weakref, subclass


def test_class_getitem(impl):
    alias = impl.Future[int]
    assert isinstance(alias, types.GenericAlias)
    assert alias.__origin__ is impl.Future
    assert alias.__args__ == (int,)


def test_weakref(env):
    f = env.fut()
    ref = weakref.ref(f)
    assert ref() is f
    del f
    assert ref() is None


def test_weakref_callback(env):
    f = env.fut()
    dead = []
    ref = weakref.ref(f, lambda r: dead.append(r))
    del f
    assert dead == [ref]


def test_instances_take_attributes(env):
    # asyncio's C Future has a __dict__: code out there hangs data on futures.
    f = env.fut()
    f.some_new_attribute = 1
    assert f.some_new_attribute == 1
    del f.some_new_attribute
    with pytest.raises(AttributeError):
        f.some_new_attribute


def test_subclass_attributes_and_overrides(env):
    calls = []

    class Recorded(env.Future):
        extra = "class attr"

        def __init__(self, *, loop, tag):
            super().__init__(loop=loop)
            self.tag = tag

        def set_result(self, value):
            calls.append(("set_result", value))
            super().set_result(value * 2)

        def add_done_callback(self, fn, *, context=None):
            calls.append("add_done_callback")
            super().add_done_callback(fn, context=context)

    f = Recorded(loop=env.loop, tag="T")
    assert f.tag == "T" and f.extra == "class attr"
    assert isinstance(f, env.Future)
    assert asyncio.isfuture(f)
    f.add_done_callback(lambda fut: calls.append(("cb", fut.result())))
    f.set_result(21)
    env.spin()
    assert calls == ["add_done_callback", ("set_result", 21), ("cb", 42)]


def test_subclass_overrides_seen_by_task(env):
    calls = []

    class Watched(env.Future):
        def add_done_callback(self, fn, *, context=None):
            calls.append("add_done_callback")
            return super().add_done_callback(fn, context=context)

        def result(self):
            calls.append("result")
            return super().result()

    f = Watched(loop=env.loop)

    async def main():
        return await f

    t = env.task(main())
    env.spin()
    assert calls == ["add_done_callback"]
    f.set_result("r")
    assert env.run(t) == "r"
    # The task wakes up through result(); Future.__await__ reads the state directly.
    assert calls == ["add_done_callback", "result"]


def test_subclass_without_calling_init(env):
    class NoInit(env.Future):
        def __init__(self):
            pass

    f = NoInit()
    # An uninitialised future must fail cleanly, never crash.
    msg = r"^Future object is not initialized\.$"
    assert f.done() is False
    assert f.cancelled() is False
    with pytest.raises(asyncio.InvalidStateError, match=msg):
        f.result()
    with pytest.raises(asyncio.InvalidStateError, match=msg):
        f.exception()
    for call in (f.get_loop, lambda: f.set_result(1), lambda: f.set_exception(ValueError),
                 lambda: f.remove_done_callback(print), f.cancel, lambda: repr(f),
                 lambda: next(iter(f))):
        with pytest.raises(RuntimeError, match=msg):
            call()
    with pytest.raises(RuntimeError):
        f.add_done_callback(print)


def test_subclass_with_slots_and_dict(env):
    class Slotted(env.Future):
        __slots__ = ("a",)

    f = Slotted(loop=env.loop)
    f.a = 1
    f.b = 2  # the base has a __dict__ already
    assert (f.a, f.b) == (1, 2)


def test_init_twice_resets(env):
    f = env.fut()
    f.set_result(1)
    other = env.impl.new_event_loop()
    try:
        f.__init__(loop=other)
        assert f.get_loop() is other
        assert not f.done()
    finally:
        other.close()


# ---------------------------------------------------------------- garbage collection


def test_gc_cycle_through_callback(env):
    f = env.fut()
    f.add_done_callback(lambda _, keep=f: None)
    ref = weakref.ref(f)
    del f
    collect()
    assert ref() is None


def test_gc_cycle_through_result(env):
    f = env.fut()
    f.set_result([f])
    ref = weakref.ref(f)
    del f
    collect()
    assert ref() is None


def test_gc_cycle_through_subclass_dict(env):
    class Holder(env.Future):
        pass

    f = Holder(loop=env.loop)
    f.me = f
    ref = weakref.ref(f)
    del f
    collect()
    assert ref() is None


def test_gc_cycle_through_exception_traceback(env):
    f = env.fut()
    try:
        fut_in_frame = f  # noqa: F841  (the frame in the traceback holds f)
        raise ValueError("cycle")
    except ValueError as e:
        f.set_exception(e)
    f.exception()
    ref = weakref.ref(f)
    del f, fut_in_frame
    collect()
    assert ref() is None


def test_gc_is_tracked(env):
    assert gc.is_tracked(env.fut())


# ---------------------------------------------------------------- never retrieved


def test_exception_never_retrieved_reported(env):
    f = env.fut()
    exc = ValueError("lost")
    f.set_exception(exc)
    fut_repr = repr(f)
    del f
    collect()
    errors = env.take_errors()
    assert len(errors) == 1
    ctx = errors[0]
    assert set(ctx) == {"message", "exception", "future"}
    assert ctx["message"] == "Future exception was never retrieved"
    assert ctx["exception"] is exc
    assert repr(ctx["future"]) == fut_repr


def test_exception_never_retrieved_in_cycle_reported(env):
    f = env.fut()
    f.add_done_callback(lambda _, keep=f: None)
    f.set_exception(ValueError("cyclic"))
    del f
    env.spin()  # run the callback, so only the cycle keeps f alive
    collect()
    errors = env.take_errors()
    assert [e["message"] for e in errors] == ["Future exception was never retrieved"]


def test_exception_never_retrieved_debug_has_source_traceback(debug_env):
    env = debug_env
    f = env.fut()
    f.set_exception(ValueError())
    tb = f._source_traceback
    del f
    collect()
    errors = env.take_errors()
    assert len(errors) == 1
    assert set(errors[0]) == {"message", "exception", "future", "source_traceback"}
    assert errors[0]["source_traceback"] == tb


def test_exception_retrieved_not_reported(env):
    for how in ("exception", "result"):
        f = env.fut()
        f.set_exception(ValueError())
        try:
            getattr(f, how)()
        except ValueError:
            pass
        del f
    g = env.fut()
    g.set_result(1)
    h = env.fut()
    h.cancel()
    del g, h
    collect()
    assert env.take_errors() == []


def test_exception_retrieved_by_await_not_reported(env):
    f = env.fut()

    async def main():
        try:
            await f
        except ValueError:
            return "caught"

    t = env.task(main())
    env.spin()
    f.set_exception(ValueError())
    assert env.run(t) == "caught"
    del f, t
    collect()
    assert env.take_errors() == []


def test_never_retrieved_subclass_del(env):
    order = []

    class WithDel(env.Future):
        def __del__(self):
            order.append("subclass __del__")
            super().__del__()

    f = WithDel(loop=env.loop)
    f.set_exception(ValueError())
    del f
    collect()
    assert order == ["subclass __del__"]
    # The message names the class.
    assert [e["message"] for e in env.take_errors()] == ["WithDel exception was never retrieved"]


# ---------------------------------------------------------------- wrap_future, isfuture


def test_isfuture(env):
    f = env.fut()
    assert asyncio.isfuture(f)
    assert asyncio.futures.isfuture(f)
    assert not asyncio.isfuture(env.Future)
    assert not asyncio.isfuture(object())


def test_wrap_future_result(env):
    cf = concurrent.futures.Future()
    f = asyncio.wrap_future(cf, loop=env.loop)
    assert type(f) is env.Future
    assert f.get_loop() is env.loop
    cf.set_result("from cf")
    assert env.run(f) == "from cf"


def test_wrap_future_exception(env):
    cf = concurrent.futures.Future()
    f = asyncio.wrap_future(cf, loop=env.loop)
    cf.set_exception(OSError("cf failed"))
    with pytest.raises(OSError, match="^cf failed$"):
        env.run(f)


def test_wrap_future_cancel_propagates(env):
    cf = concurrent.futures.Future()
    f = asyncio.wrap_future(cf, loop=env.loop)
    assert f.cancel()
    env.spin(2)
    assert cf.cancelled()


def test_wrap_future_of_our_future_is_identity(env):
    f = env.fut()
    assert asyncio.wrap_future(f) is f
    assert asyncio.ensure_future(f) is f


def test_wrap_future_with_executor(env):
    def work():
        return 6 * 7

    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        f = env.loop.run_in_executor(ex, work)
        assert type(f) is env.Future
        assert env.run(f) == 42


def test_chain_into_concurrent_future(env):
    async def main():
        return "threadsafe"

    cf = asyncio.run_coroutine_threadsafe(main(), env.loop)
    assert env.run(asyncio.wrap_future(cf, loop=env.loop)) == "threadsafe"


# ---------------------------------------------------------------- cross-implementation


def test_our_future_awaited_by_asyncio_task(env):
    f = env.fut()

    async def main():
        return await f

    t = asyncio.Task(main(), loop=env.loop)
    env.spin()
    assert not t.done()
    f.set_result("cross")
    assert env.run(t) == "cross"


def test_our_future_cancel_seen_by_asyncio_task(env):
    f = env.fut()

    async def main():
        try:
            await f
        except asyncio.CancelledError as e:
            return ("caught", e.args)

    t = asyncio.Task(main(), loop=env.loop)
    env.spin()
    f.cancel("from fut")
    assert env.run(t) == ("caught", ("from fut",))


def test_asyncio_task_cancels_our_future(env):
    f = env.fut()

    async def main():
        await f

    t = asyncio.Task(main(), loop=env.loop)
    env.spin()
    t.cancel("via task")
    with pytest.raises(asyncio.CancelledError):
        env.run(t)
    assert f.cancelled()
    with pytest.raises(asyncio.CancelledError) as info:
        f.result()
    assert info.value.args == ("via task",)


def test_asyncio_gather_of_our_futures(env):
    a, b = env.fut(), env.fut()

    async def main():
        return await asyncio.gather(a, b)

    t = env.task(main())
    env.spin()
    b.set_result(2)
    a.set_result(1)
    assert env.run(t) == [1, 2]


def test_asyncio_gather_cancel_our_future(env):
    a = env.fut()

    async def main():
        return await asyncio.gather(a)

    t = env.task(main())
    env.spin()
    a.cancel("gathered")
    with pytest.raises(asyncio.CancelledError) as info:
        env.run(t)
    assert info.value.args == ("gathered",)


def test_asyncio_wait_for_our_future(env):
    f = env.fut()
    env.loop.call_soon(f.set_result, "w")
    assert env.run(asyncio.wait_for(f, 5)) == "w"


def test_asyncio_shield_our_future(env):
    f = env.fut()

    async def main():
        return await asyncio.shield(f)

    t = env.task(main())
    env.spin()
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        env.run(t)
    assert not f.cancelled()
    f.set_result(None)
