"""Task: every case runs on asyncio.Task (the oracle) and on asyncio_c.Task."""
import asyncio
import contextvars
import io
import sys
import traceback
import types
import weakref

import pytest

from _helpers import (  # noqa: F401  (fixtures are used by name)
    ASYNCIO,
    HAS_EAGER,
    PY,
    STANDIN,
    ForeignFuture,
    bare_yield,
    collect,
    debug_env,
    env,
    impl,
    norm,
    spin_loop,
)

HERE = __file__
needs_eager = pytest.mark.skipif(not HAS_EAGER, reason="eager tasks are 3.12+")
# CPython 3.12.0/3.12.1 crash in get_coro() (and repr) of an eagerly finished task
# (coro cleared, NULL returned): the oracle cannot be asked there.
EAGER_GET_CORO_CRASHES = (3, 12, 0) <= sys.version_info[:3] < (3, 12, 2)

var = contextvars.ContextVar("task_var", default="default")


def _line_of(text, func):
    """Line number of the first line of func's source containing text."""
    import inspect
    lines, start = inspect.getsourcelines(func)
    for i, line in enumerate(lines):
        if text in line:
            return start + i
    raise AssertionError(f"{text!r} not in {func.__name__}")


# ---------------------------------------------------------------- running


def test_run_to_completion(env):
    async def main(x):
        await bare_yield()
        return x * 2

    coro = main(21)
    t = env.task(coro)
    assert type(t) is env.Task
    assert not t.done()
    assert env.run(t) == 42
    assert t.done() and not t.cancelled()
    assert t.result() == 42
    assert t.exception() is None
    assert t.get_coro() is coro
    assert coro.cr_frame is None  # the coroutine finished
    assert t.get_loop() is env.loop


def test_run_until_complete_wraps_in_our_task(env):
    async def main():
        return type(asyncio.current_task())

    assert env.run(main()) is env.Task


def test_create_task_type(env):
    async def main():
        return 1

    t = env.loop.create_task(main())
    assert type(t) is env.Task
    assert env.run(t) == 1


def test_exception(env):
    exc = ValueError("inside")

    async def main():
        await bare_yield()
        raise exc

    t = env.task(main())
    with pytest.raises(ValueError) as info:
        env.run(t)
    assert info.value is exc
    assert t.done() and not t.cancelled()
    assert t.exception() is exc
    names = [fr.name for fr in traceback.extract_tb(exc.__traceback__)]
    assert "main" in names


def test_exception_before_first_suspension(env):
    async def main():
        raise KeyError("k")

    t = env.task(main())
    env.spin()
    assert t.done()
    assert type(t.exception()) is KeyError


def test_first_step_is_scheduled_not_synchronous(env):
    order = []

    async def main():
        order.append("body")

    env.loop.call_soon(order.append, "before")
    t = env.task(main())
    env.loop.call_soon(order.append, "after")
    assert order == []
    env.spin()
    assert order == ["before", "body", "after"]
    assert t.done()


def test_steps_interleave_round_robin(env):
    order = []

    async def worker(name):
        for i in range(3):
            order.append((name, i))
            await bare_yield()

    ta = env.task(worker("a"))
    tb = env.task(worker("b"))
    env.loop.call_soon(order.append, "cs")
    env.spin(4)
    assert ta.done() and tb.done()
    assert order == [("a", 0), ("b", 0), "cs", ("a", 1), ("b", 1), ("a", 2), ("b", 2)]


def test_await_done_future_does_not_suspend(env):
    order = []
    f = env.fut()
    f.set_result("ready")

    async def main():
        order.append("start")
        order.append(await f)
        return "end"

    t = env.task(main())
    env.spin()
    assert order == ["start", "ready"]
    assert t.done() and t.result() == "end"


def test_wakeup_is_fifo_with_call_soon(env):
    order = []
    f = env.fut()

    async def main():
        await f
        order.append("woke")

    t = env.task(main())
    env.spin()
    env.loop.call_soon(order.append, "x")
    f.set_result(None)
    env.loop.call_soon(order.append, "y")
    env.spin()
    assert order == ["x", "woke", "y"]
    assert t.done()


def test_task_resets_blocking_flag_of_awaited_future(env):
    # Future.__await__ sets _asyncio_future_blocking; the task that takes the
    # yielded future clears it (asyncio's step does result._asyncio_future_blocking = False).
    f = env.fut()

    class Sub(env.Future):
        pass

    g = Sub(loop=env.loop)
    h = asyncio.Future(loop=env.loop)

    async def main():
        await f
        await g
        await h

    t = env.task(main())
    env.spin()
    assert f._asyncio_future_blocking is False
    f.set_result(None)
    env.spin()
    assert g._asyncio_future_blocking is False
    g.set_result(None)
    env.spin()
    assert h._asyncio_future_blocking is False
    h.set_result(None)
    env.run(t)


def test_awaited_result_and_exception_pass_through(env):
    f, g = env.fut(), env.fut()
    exc = OSError("g")

    async def main():
        a = await f
        try:
            await g
        except OSError as e:
            return a, e

    t = env.task(main())
    env.spin()
    f.set_result("fr")
    env.spin()
    g.set_exception(exc)
    a, e = env.run(t)
    assert a == "fr" and e is exc


def test_task_awaits_task(env):
    f = env.fut()

    async def inner():
        return await f + 1

    async def outer():
        return await env.task(inner()) * 10

    t = env.task(outer())
    env.spin(2)
    f.set_result(1)
    assert env.run(t) == 20


def test_two_tasks_wait_on_one_task_wake_in_order(env):
    order = []
    f = env.fut()

    async def inner():
        return await f

    inner_t = env.task(inner())

    async def waiter(name):
        order.append((name, await inner_t))

    w1 = env.task(waiter("w1"))
    w2 = env.task(waiter("w2"))
    env.spin(2)
    f.set_result("r")
    env.run(asyncio.gather(w1, w2))
    assert order == [("w1", "r"), ("w2", "r")]


def test_task_done_callbacks(env):
    order = []

    async def main():
        return 5

    t = env.task(main())
    t.add_done_callback(lambda task: order.append(("cb1", task.result())))
    t.add_done_callback(lambda task: order.append(("cb2", task is t)))
    env.run(t)
    env.spin()
    assert order == [("cb1", 5), ("cb2", True)]


def test_task_remove_done_callback(env):
    seen = []

    async def main():
        return 5

    t = env.task(main())
    t.add_done_callback(seen.append)
    assert t.remove_done_callback(seen.append) == 1
    env.run(t)
    env.spin()
    assert seen == []


def test_task_set_result_and_exception_refused(env):
    async def main():
        return 1

    t = env.task(main())
    with pytest.raises(RuntimeError, match="^Task does not support set_result operation$"):
        t.set_result(1)
    with pytest.raises(RuntimeError, match="^Task does not support set_exception operation$"):
        t.set_exception(ValueError())
    assert env.run(t) == 1


def test_return_value_of_generator_based_coroutine_protocol(env):
    # A coroutine that awaits a plain awaitable object whose __await__ is a generator.
    class Awaitable:
        def __await__(self):
            yield
            return "from __await__"

    async def main():
        return await Awaitable()

    assert env.run(env.task(main())) == "from __await__"


def test_loop_defaults_to_running_loop(env):
    async def main():
        async def child():
            return asyncio.get_running_loop()

        t = env.Task(child())
        return t.get_loop(), await t

    assert env.run(main()) == (env.loop, env.loop)


# ---------------------------------------------------------------- cancellation


def test_cancel_propagates_msg_to_awaited_future(env):
    f = env.fut()
    seen = []

    async def main():
        try:
            await f
        except asyncio.CancelledError as e:
            seen.append(e)
            raise

    t = env.task(main())
    env.spin()
    assert t.cancel("bye") is True
    assert f.cancelled()
    with pytest.raises(asyncio.CancelledError) as info:
        f.result()
    assert info.value.args == ("bye",)
    assert not t.cancelled() and not t.done()
    with pytest.raises(asyncio.CancelledError) as info:
        env.run(t)
    assert t.cancelled()
    assert seen[0].args == ("bye",)
    # run_until_complete() called result() once: it got the coroutine's own exception.
    assert info.value is seen[0]


def test_cancelled_task_result_first_then_fresh(env):
    # The first result() re-raises the CancelledError that ended the coroutine;
    # later calls build a fresh one from the task's own (here: absent) message.
    seen = []

    async def main():
        try:
            await env.fut()
        except asyncio.CancelledError as e:
            seen.append(e)
            raise

    t = env.task(main())
    env.spin()
    t.cancel("bye")
    env.spin(2)
    assert t.cancelled()
    with pytest.raises(asyncio.CancelledError) as first:
        t.result()
    with pytest.raises(asyncio.CancelledError) as second:
        t.result()
    assert first.value is seen[0]
    assert first.value.args == ("bye",)
    assert second.value is not seen[0]
    assert second.value.args == ()


def test_cancel_before_start(env):
    ran = []

    async def main():
        ran.append(True)

    t = env.task(main())
    assert t.cancel("early") is True
    assert t.cancelling() == 1
    assert not t.done()
    with pytest.raises(asyncio.CancelledError) as info:
        env.run(t)
    assert info.value.args == ("early",)
    assert ran == []
    assert t.cancelled()


def test_exception_of_cancelled_task_raises(env):
    async def main():
        await env.fut()

    t = env.task(main())
    env.spin()
    t.cancel("exc")
    env.spin()
    assert t.cancelled()
    with pytest.raises(asyncio.CancelledError):
        t.exception()
    assert t.get_coro() is not None


def test_cancel_done_task_returns_false(env):
    async def main():
        return 1

    t = env.task(main())
    env.run(t)
    assert t.cancel() is False
    assert t.cancelling() == 0
    assert not t.cancelled() and t.result() == 1


def test_cancel_counts(env):
    f = env.fut()

    async def main():
        await f

    t = env.task(main())
    env.spin()
    assert t.cancelling() == 0
    assert t.cancel() is True
    assert t.cancelling() == 1
    assert t.cancel() is True  # counted again, even though already cancelling
    assert t.cancelling() == 2
    assert t.uncancel() == 1
    assert t.uncancel() == 0
    assert t.uncancel() == 0
    assert t.cancelling() == 0
    # f was cancelled by the first cancel(): the task still ends cancelled.
    with pytest.raises(asyncio.CancelledError):
        env.run(t)
    assert t.cancelled()


def test_uncancel_before_first_step(env):
    ran = []

    async def main():
        ran.append(True)
        return "ran"

    t = env.task(main())
    assert t.cancel() is True
    assert t.uncancel() == 0
    if PY >= (3, 13):
        # 3.13: uncancel() back to zero also drops the pending cancellation.
        assert env.run(t) == "ran"
        assert ran == [True]
    else:
        with pytest.raises(asyncio.CancelledError):
            env.run(t)
        assert ran == []
        assert t.cancelled()


def test_uncancel_inside_cancelled_task(env):
    f = env.fut()

    async def main():
        task = asyncio.current_task()
        try:
            await f
        except asyncio.CancelledError:
            assert task.cancelling() == 1
            assert task.uncancel() == 0
        await bare_yield()
        return "survived", task.cancelling()

    t = env.task(main())
    env.spin()
    t.cancel()
    assert env.run(t) == ("survived", 0)
    assert not t.cancelled()


def test_cancel_caught_and_ignored(env):
    async def main():
        try:
            await env.fut()
        except asyncio.CancelledError:
            return "ignored"

    t = env.task(main())
    env.spin()
    t.cancel()
    assert env.run(t) == "ignored"
    assert not t.cancelled()
    assert t.cancelling() == 1  # not reset by catching


def test_cancel_twice_first_message_wins(env):
    f = env.fut()

    async def main():
        try:
            await f
        except asyncio.CancelledError as e:
            return e.args

    t = env.task(main())
    env.spin()
    assert t.cancel("a") is True
    assert t.cancel("b") is True
    assert env.run(t) == ("a",)


def test_second_cancel_while_first_pending_is_absorbed(env):
    # The second cancel() finds the waiter already cancelled, so the task remembers
    # to cancel; the wake-up step then delivers the first CancelledError and forgets
    # the second one: the next await is not cancelled.
    f, g = env.fut(), env.fut()

    async def main():
        try:
            await f
        except asyncio.CancelledError as e:
            first = e.args
        try:
            return first, await g
        except asyncio.CancelledError as e:
            return ("second", e.args)

    t = env.task(main())
    env.spin()
    assert t.cancel("one") is True
    assert t.cancel("two") is True
    assert t.cancelling() == 2
    env.spin()
    g.set_result("g done")
    assert env.run(t) == (("one",), "g done")
    assert not g.cancelled()


def test_cancel_self_then_await_cancels_awaited_future(env):
    f = env.fut()

    async def main():
        assert asyncio.current_task().cancel("self") is True
        try:
            await f
        except asyncio.CancelledError as e:
            return e.args

    t = env.task(main())
    assert env.run(t) == ("self",)
    assert f.cancelled()
    assert t.cancelling() == 1


def test_cancel_self_right_before_return(env):
    async def main():
        asyncio.current_task().cancel("late")
        return 1

    t = env.task(main())
    with pytest.raises(asyncio.CancelledError) as info:
        env.run(t)
    assert info.value.args == ("late",)
    assert t.cancelled()


def test_cancel_self_then_bare_yield(env):
    async def main():
        asyncio.current_task().cancel("y")
        try:
            await bare_yield()
        except asyncio.CancelledError as e:
            return ("caught", e.args)
        return "missed"

    assert env.run(env.task(main())) == ("caught", ("y",))


def test_cancel_propagates_down_a_task_chain(env):
    f = env.fut()
    seen = []

    async def inner():
        try:
            await f
        except asyncio.CancelledError as e:
            seen.append(("inner", e.args))
            raise

    async def outer(inner_task):
        try:
            await inner_task
        except asyncio.CancelledError as e:
            seen.append(("outer", e.args))
            raise

    it = env.task(inner())
    ot = env.task(outer(it))
    env.spin(2)
    assert ot.cancel("chain")
    with pytest.raises(asyncio.CancelledError):
        env.run(ot)
    assert f.cancelled() and it.cancelled() and ot.cancelled()
    assert seen == [("inner", ("chain",)), ("outer", ("chain",))]
    assert it.cancelling() == 1 and ot.cancelling() == 1


def test_cancelled_error_raised_by_coroutine_cancels_task(env):
    async def main():
        raise asyncio.CancelledError("own")

    t = env.task(main())
    with pytest.raises(asyncio.CancelledError) as info:
        env.run(t)
    assert info.value.args == ("own",)
    assert t.cancelled()
    assert t.cancelling() == 0


def test_cancel_waiting_task_on_never_done_future_in_cancelling_state(env):
    class Stubborn(env.Future):
        def cancel(self, msg=None):
            return False  # refuses

    s = Stubborn(loop=env.loop)

    async def main():
        try:
            return await s
        except asyncio.CancelledError as e:
            return ("cancelled", e.args)

    t = env.task(main())
    env.spin()
    assert t.cancel("m") is True
    # The waiter refused: the task remembers and cancels on its next step.
    s.set_result("value")
    assert env.run(t) == ("cancelled", ("m",))


# ---------------------------------------------------------------- names


def test_default_names_count_up(env):
    async def main():
        pass

    ts = [env.task(main()) for _ in range(3)]
    names = [t.get_name() for t in ts]
    for n in names:
        assert n.startswith("Task-") and n[5:].isdigit(), n
    nums = [int(n[5:]) for n in names]
    assert nums[1] == nums[0] + 1 and nums[2] == nums[1] + 1
    env.run(asyncio.gather(*ts))


def test_name_argument_and_set_name(env):
    async def main():
        return asyncio.current_task().get_name()

    t = env.task(main(), name="given")
    assert t.get_name() == "given"
    t.set_name("renamed")
    assert t.get_name() == "renamed"
    assert env.run(t) == "renamed"
    t.set_name(42)
    assert t.get_name() == "42"
    t2 = env.task(main(), name=3.5)
    assert t2.get_name() == "3.5"
    env.run(t2)


def test_name_none_means_default(env):
    async def main():
        pass

    t = env.task(main(), name=None)
    assert t.get_name().startswith("Task-")
    t.set_name(None)
    assert t.get_name() == "None"
    env.run(t)


def test_set_name_uses_str(env):
    class Named:
        def __str__(self):
            return "via __str__"

    async def main():
        pass

    t = env.task(main())
    t.set_name(Named())
    assert t.get_name() == "via __str__"
    env.run(t)


def test_name_in_repr(env):
    async def main():
        pass

    t = env.task(main(), name="shown")
    assert "name='shown'" in repr(t)
    env.run(t)


# ---------------------------------------------------------------- context


def test_context_argument(env):
    ctx = contextvars.copy_context()
    ctx.run(var.set, "ctx value")

    async def main():
        before = var.get()
        await bare_yield()
        var.set("changed in task")
        return before

    t = env.task(main(), context=ctx)
    if PY >= (3, 12):
        assert t.get_context() is ctx
    assert env.run(t) == "ctx value"
    assert ctx[var] == "changed in task"
    assert var.get() == "default"


def test_default_context_is_a_copy_at_creation(env):
    async def main():
        v = var.get()
        var.set("inside")
        return v

    token = var.set("at creation")
    try:
        t = env.task(main())
    finally:
        var.reset(token)
    assert env.run(t) == "at creation"
    assert var.get() == "default"
    if PY >= (3, 12):
        ctx = t.get_context()
        assert isinstance(ctx, contextvars.Context)
        assert ctx[var] == "inside"


def test_context_shared_by_steps_and_wakeups(env):
    f = env.fut()

    async def main():
        var.set("step 1")
        await f
        return var.get()

    t = env.task(main())
    env.spin()
    f.set_result(None)
    assert env.run(t) == "step 1"
    assert var.get() == "default"


def test_done_callbacks_of_task_do_not_run_in_task_context(env):
    seen = []

    async def main():
        var.set("task only")

    t = env.task(main())
    t.add_done_callback(lambda _: seen.append(var.get()))
    env.run(t)
    env.spin()
    assert seen == ["default"]


@pytest.mark.skipif(PY < (3, 12), reason="get_context() is 3.12+")
def test_get_context_in_child_tasks(env):
    async def child():
        return var.get()

    async def main():
        var.set("parent")
        t = env.Task(child())
        return t.get_context() is not asyncio.current_task().get_context(), await t

    assert env.run(main()) == (True, "parent")


# ---------------------------------------------------------------- stack


def test_get_stack_suspended(env):
    f = env.fut()

    async def suspended_here():
        await f

    t = env.task(suspended_here())
    env.spin()
    stack = t.get_stack()
    assert len(stack) == 1
    assert stack[0].f_code is suspended_here.__code__
    assert stack[0].f_lineno == _line_of("await f", suspended_here)
    assert t.get_stack(limit=1)[0] is stack[0]
    assert t.get_stack(limit=0) == []
    f.set_result(None)
    env.run(t)
    assert t.get_stack() == []


def test_get_stack_not_started(env):
    async def not_started():
        pass

    t = env.task(not_started())
    stack = t.get_stack()
    assert [fr.f_code for fr in stack] == [not_started.__code__]
    env.run(t)


def test_get_stack_after_exception_is_traceback(env):
    def helper():
        raise ValueError("deep")

    async def failing():
        helper()

    t = env.task(failing())
    env.spin()
    stack = t.get_stack()
    assert [fr.f_code.co_name for fr in stack] == ["failing", "helper"]
    assert [fr.f_code.co_name for fr in t.get_stack(limit=1)] == ["failing"]
    t.exception()


def test_print_stack_suspended(env):
    f = env.fut()

    async def printed():
        await f

    t = env.task(printed(), name="P")
    env.spin()
    out = io.StringIO()
    assert t.print_stack(file=out) is None
    line = _line_of("await f", printed)
    expected = (
        f"Stack for {t!r} (most recent call last):\n"
        f'  File "{HERE}", line {line}, in printed\n'
        "    await f\n"
    )
    assert out.getvalue() == expected
    f.set_result(None)
    env.run(t)


def test_print_stack_done(env):
    async def quick():
        return 1

    t = env.task(quick(), name="Q")
    env.run(t)
    out = io.StringIO()
    t.print_stack(file=out)
    assert out.getvalue() == f"No stack for {t!r}\n"


def test_print_stack_exception(env):
    async def raiser():
        raise KeyError("pk")

    t = env.task(raiser(), name="X")
    env.spin()
    out = io.StringIO()
    t.print_stack(file=out)
    line = _line_of("raise KeyError", raiser)
    expected = (
        f"Traceback for {t!r} (most recent call last):\n"
        f'  File "{HERE}", line {line}, in raiser\n'
        '    raise KeyError("pk")\n'
        "KeyError: 'pk'\n"
    )
    assert out.getvalue() == expected
    t.exception()


def test_print_stack_default_file(env, capsys):
    # Documented as stderr, but print(file=None) writes to stdout.
    async def quick():
        return 1

    t = env.task(quick(), name="E")
    env.run(t)
    t.print_stack()
    assert capsys.readouterr().out == f"No stack for {t!r}\n"


# ---------------------------------------------------------------- repr


def test_repr_pending_not_started(env):
    async def coro_fn():
        pass

    t = env.task(coro_fn(), name="R")
    line = coro_fn.__code__.co_firstlineno
    assert repr(t) == f"<Task pending name='R' coro=<{coro_fn.__qualname__}() running at {HERE}:{line}>>"
    env.run(t)


def test_repr_waiting_on_future(env):
    f = env.fut()

    async def coro_fn():
        await f

    t = env.task(coro_fn(), name="W")
    env.spin()
    line = _line_of("await f", coro_fn)
    fut_repr = "<Future pending cb=[Task.task_wakeup()]>"
    assert repr(f) == fut_repr
    assert repr(t) == (f"<Task pending name='W' coro=<{coro_fn.__qualname__}() running at {HERE}:{line}> "
                       f"wait_for={fut_repr}>")
    t.cancel()
    assert repr(t) == (f"<Task cancelling name='W' coro=<{coro_fn.__qualname__}() running at {HERE}:{line}> "
                       "wait_for=<Future cancelled>>")
    with pytest.raises(asyncio.CancelledError):
        env.run(t)
    first = coro_fn.__code__.co_firstlineno
    assert repr(t) == f"<Task cancelled name='W' coro=<{coro_fn.__qualname__}() done, defined at {HERE}:{first}>>"


def test_repr_waiting_on_task(env):
    f = env.fut()

    async def inner():
        await f

    async def outer(t):
        await t

    it = env.task(inner(), name="I")
    ot = env.task(outer(it), name="O")
    env.spin(2)
    assert f"wait_for={it!r}" in repr(ot)
    assert repr(it).startswith(f"<Task pending name='I' coro=<{inner.__qualname__}() running at ")
    assert repr(it).endswith(" cb=[Task.task_wakeup()]>")
    f.set_result(None)
    env.run(ot)


def test_repr_finished(env):
    async def coro_fn():
        return [1, 2]

    t = env.task(coro_fn(), name="F")
    env.run(t)
    first = coro_fn.__code__.co_firstlineno
    assert repr(t) == (f"<Task finished name='F' coro=<{coro_fn.__qualname__}() done, defined at {HERE}:{first}> "
                       "result=[1, 2]>")


def test_repr_exception(env):
    async def coro_fn():
        raise ValueError("v")

    t = env.task(coro_fn(), name="X")
    env.spin()
    first = coro_fn.__code__.co_firstlineno
    assert repr(t) == (f"<Task finished name='X' coro=<{coro_fn.__qualname__}() done, defined at {HERE}:{first}> "
                       "exception=ValueError('v')>")
    t.exception()


def test_repr_cancelling_before_start(env):
    async def coro_fn():
        pass

    t = env.task(coro_fn(), name="C")
    t.cancel()
    line = coro_fn.__code__.co_firstlineno
    assert repr(t) == f"<Task cancelling name='C' coro=<{coro_fn.__qualname__}() running at {HERE}:{line}>>"
    with pytest.raises(asyncio.CancelledError):
        env.run(t)


def test_repr_debug_created_at(debug_env):
    env = debug_env

    async def coro_fn():
        pass

    t = env.Task(coro_fn(), loop=env.loop, name="D"); line = sys._getframe().f_lineno  # noqa
    first = coro_fn.__code__.co_firstlineno
    assert repr(t) == (f"<Task pending name='D' coro=<{coro_fn.__qualname__}() running at {HERE}:{first}> "
                       f"created at {HERE}:{line}>")
    env.run(t)


@pytest.mark.skipif(STANDIN, reason="the stand-in loop creates tasks through a Python "
                    "task factory, whose frame base_events.create_task() leaves in place")
def test_source_traceback_of_create_task_points_at_caller(debug_env):
    env = debug_env

    async def coro_fn():
        pass

    def spawn():
        return env.loop.create_task(coro_fn())

    t = spawn()
    # base_events.create_task() deletes its own frame from the list.
    assert t._source_traceback[-1].name == "spawn"
    env.run(t)


def test_repr_subclass(env):
    class MyTask(env.Task):
        pass

    async def coro_fn():
        pass

    t = MyTask(coro_fn(), loop=env.loop, name="S")
    assert repr(t).startswith(f"<MyTask pending name='S' coro=<{coro_fn.__qualname__}() running at ")
    env.run(t)


def test_repr_recursive_result(env):
    async def coro_fn():
        return asyncio.current_task()

    t = env.task(coro_fn(), name="Self")
    env.run(t)
    first = coro_fn.__code__.co_firstlineno
    assert repr(t) == (f"<Task finished name='Self' coro=<{coro_fn.__qualname__}() done, defined at "
                       f"{HERE}:{first}> result=...>")


# ---------------------------------------------------------------- eager tasks (3.12+)


@needs_eager
def test_eager_start_completes_synchronously(env):
    order = []

    async def quick():
        order.append("body")
        return asyncio.current_task()

    async def main():
        outer = asyncio.current_task()
        t = env.Task(quick(), loop=env.loop, eager_start=True, name="E")
        order.append("after ctor")
        assert asyncio.current_task() is outer
        return t

    t = env.run(main())
    assert order == ["body", "after ctor"]
    assert t.done() and t.result() is t
    assert t.get_name() == "E"
    if not (EAGER_GET_CORO_CRASHES and env.Task is asyncio.Task):
        assert t.get_coro() is None


@needs_eager
def test_eager_start_suspends_then_continues(env):
    order = []
    f = env.fut()

    async def slow():
        order.append("start")
        await f
        order.append("resumed")
        return "slow"

    async def main():
        t = env.Task(slow(), loop=env.loop, eager_start=True)
        order.append("ctor returned")
        assert not t.done()
        assert t in asyncio.all_tasks()
        f.set_result(None)
        return await t

    assert env.run(main()) == "slow"
    assert order == ["start", "ctor returned", "resumed"]


@needs_eager
def test_eager_start_exception(env):
    async def boom():
        raise ValueError("eager boom")

    async def main():
        t = env.Task(boom(), loop=env.loop, eager_start=True)
        assert t.done()
        return t.exception()

    exc = env.run(main())
    assert type(exc) is ValueError and str(exc) == "eager boom"


@needs_eager
def test_eager_start_without_running_loop_is_lazy(env):
    ran = []

    async def main():
        ran.append(True)
        return 1

    t = env.Task(main(), loop=env.loop, eager_start=True)
    assert ran == [] and not t.done()
    assert env.run(t) == 1
    assert ran == [True]


@needs_eager
def test_eager_task_sees_context(env):
    ctx = contextvars.copy_context()
    ctx.run(var.set, "eager ctx")

    async def quick():
        return var.get()

    async def main():
        return env.Task(quick(), loop=env.loop, eager_start=True, context=ctx).result()

    assert env.run(main()) == "eager ctx"


@needs_eager
def test_eager_task_factory(env):
    order = []

    async def quick():
        order.append("body")
        return 7

    async def main():
        t = asyncio.get_running_loop().create_task(quick(), name="fact")
        order.append("created")
        return t

    env.loop.set_task_factory(env.impl.eager_task_factory)
    t = env.run(main())
    assert type(t) is env.Task
    assert order == ["body", "created"]
    assert t.result() == 7 and t.get_name() == "fact"


@needs_eager
def test_create_eager_task_factory_with_subclass(env):
    class Sub(env.Task):
        pass

    async def quick():
        return type(asyncio.current_task())

    async def main():
        return asyncio.get_running_loop().create_task(quick())

    env.loop.set_task_factory(env.impl.create_eager_task_factory(Sub))
    t = env.run(main())
    assert type(t) is Sub
    assert t.done() and t.result() is Sub


@needs_eager
def test_eager_cancel_inside(env):
    async def quick():
        asyncio.current_task().cancel("eager cancel")
        await bare_yield()

    async def main():
        t = env.Task(quick(), loop=env.loop, eager_start=True)
        try:
            await t
        except asyncio.CancelledError as e:
            return t.cancelled(), e.args

    assert env.run(main()) == (True, ("eager cancel",))


# ---------------------------------------------------------------- asyncio machinery


def test_timeout_expires(env):
    f = env.fut()

    async def main():
        task = asyncio.current_task()
        try:
            async with asyncio.timeout(0):
                await f
        except TimeoutError as e:
            return "timed out", type(e.__cause__).__name__, task.cancelling()

    assert env.run(main()) == ("timed out", "CancelledError", 0)
    assert f.cancelled()


def test_timeout_not_expired(env):
    f = env.fut()
    env.loop.call_soon(f.set_result, "in time")

    async def main():
        async with asyncio.timeout(10) as cm:
            r = await f
        return r, cm.expired()

    assert env.run(main()) == ("in time", False)


def test_timeout_with_outer_cancel_is_cancellation(env):
    f = env.fut()

    async def main():
        async with asyncio.timeout(0):
            asyncio.current_task().cancel("outer")
            await f

    t = env.task(main())
    with pytest.raises(asyncio.CancelledError):
        env.run(t)
    assert t.cancelled()


def test_wait_for_timeout(env):
    f = env.fut()

    async def main():
        try:
            await asyncio.wait_for(f, 0.001)
        except TimeoutError:
            return "timeout"

    assert env.run(main()) == "timeout"
    assert f.cancelled()


def test_taskgroup(env):
    f = env.fut()

    async def child(v):
        await bare_yield()
        return v, type(asyncio.current_task())

    async def main():
        async with asyncio.TaskGroup() as tg:
            a = tg.create_task(child(1))
            b = tg.create_task(child(2), name="second")
            asyncio.get_running_loop().call_soon(f.set_result, None)
        return a.result(), b.result(), b.get_name()

    assert env.run(main()) == ((1, env.Task), (2, env.Task), "second")


def test_taskgroup_error_cancels_siblings(env):
    seen = []

    async def failing():
        await bare_yield()
        raise ValueError("tg")

    async def sleeper():
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            seen.append("sibling cancelled")
            raise

    async def main():
        async with asyncio.TaskGroup() as tg:
            tg.create_task(sleeper())
            tg.create_task(failing())

    with pytest.raises(ExceptionGroup) as info:
        env.run(main())
    assert [type(e) for e in info.value.exceptions] == [ValueError]
    assert seen == ["sibling cancelled"]


def test_gather_and_wait(env):
    async def child(v):
        await bare_yield()
        return v

    async def main():
        r = await asyncio.gather(child(1), env.Task(child(2)))
        done, pending = await asyncio.wait([env.Task(child(3))])
        return r, [t.result() for t in done], pending

    assert env.run(main()) == ([1, 2], [3], set())


def test_runner_cancels_leftovers(impl):
    seen = []

    async def leftover():
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            seen.append(("cancelled", type(asyncio.current_task())))
            raise

    async def main():
        t = asyncio.get_running_loop().create_task(leftover())
        await bare_yield()
        seen.append(("main", type(asyncio.current_task())))
        return t

    with asyncio.Runner(loop_factory=impl.new_event_loop) as runner:
        t = runner.run(main())
        assert not t.done()
    assert t.cancelled()
    assert seen == [("main", impl.Task), ("cancelled", impl.Task)]


def test_runner_shutdown_reports_leftover_errors(impl):
    errors = []

    async def bad_leftover():
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            raise ZeroDivisionError("during shutdown")

    keep = []  # a task only the loop knows of may be collected (asyncio's docs)

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, ctx: errors.append(ctx))
        keep.append(loop.create_task(bad_leftover()))
        await bare_yield()

    with asyncio.Runner(loop_factory=impl.new_event_loop) as runner:
        runner.run(main())
    assert len(errors) == 1
    assert errors[0]["message"] == "unhandled exception during asyncio.run() shutdown"
    assert type(errors[0]["exception"]) is ZeroDivisionError
    assert type(errors[0]["task"]) is impl.Task


def test_runner_main_task_cancelled_by_exception(impl):
    async def main():
        raise RuntimeError("main failed")

    with asyncio.Runner(loop_factory=impl.new_event_loop) as runner:
        with pytest.raises(RuntimeError, match="main failed"):
            runner.run(main())


@pytest.mark.skipif(PY < (3, 12), reason="asyncio.run(loop_factory=) is 3.12+")
def test_asyncio_run_loop_factory(impl):
    async def main():
        return type(asyncio.current_task())

    assert asyncio.run(main(), loop_factory=impl.new_event_loop) is impl.Task


def test_asyncio_c_run():
    import asyncio_c

    async def main():
        return type(asyncio.current_task()), type(asyncio.get_running_loop().create_future())

    assert asyncio_c.run(main()) == (asyncio_c.Task, asyncio_c.Future)


# ---------------------------------------------------------------- stock loop, foreign futures


def test_our_task_on_stock_loop_via_task_factory(impl):
    loop = asyncio.new_event_loop()
    try:
        loop.set_task_factory(impl.task_factory)
        ctx = contextvars.copy_context()
        ctx.run(var.set, "stock")
        f = loop.create_future()  # asyncio's own Future

        async def main():
            return await f, var.get(), type(asyncio.current_task())

        t = loop.create_task(main(), name="stock task", context=ctx)
        assert type(t) is impl.Task
        assert t.get_name() == "stock task"
        loop.call_soon(f.set_result, "asyncio fut")
        assert loop.run_until_complete(t) == ("asyncio fut", "stock", impl.Task)

        async def outer():
            return type(asyncio.current_task())

        assert loop.run_until_complete(outer()) is impl.Task
    finally:
        loop.close()


def test_our_task_awaits_asyncio_future(env):
    f = asyncio.Future(loop=env.loop)

    async def main():
        return await f

    t = env.task(main())
    env.spin()
    assert not t.done()
    f.set_result("from asyncio.Future")
    assert env.run(t) == "from asyncio.Future"


def test_our_task_cancels_asyncio_future(env):
    f = asyncio.Future(loop=env.loop)

    async def main():
        await f

    t = env.task(main())
    env.spin()
    t.cancel("cross")
    with pytest.raises(asyncio.CancelledError):
        env.run(t)
    assert f.cancelled()
    with pytest.raises(asyncio.CancelledError) as info:
        f.result()
    assert info.value.args == ("cross",)


def test_asyncio_task_awaits_our_task_and_back(env):
    async def leaf():
        await bare_yield()
        return "leaf"

    async def ours():
        return await asyncio.Task(leaf(), loop=env.loop) + "+ours"

    async def theirs():
        return await env.Task(ours(), loop=env.loop) + "+theirs"

    assert env.run(asyncio.Task(theirs(), loop=env.loop)) == "leaf+ours+theirs"


def test_our_task_awaits_foreign_future(env):
    ff = ForeignFuture(env.loop)

    async def main():
        return await ff

    t = env.task(main())
    env.spin()
    assert ff.log == ["get_loop", "add_done_callback"]
    assert ff._asyncio_future_blocking is False  # reset by the task
    assert isinstance(ff.contexts[0], contextvars.Context)
    if PY >= (3, 12):
        assert ff.contexts[0] is t.get_context()
    assert "wait_for=<" in repr(t) and "ForeignFuture object at" in repr(t)
    ff.set_result("foreign")
    assert env.run(t) == "foreign"
    # The task's wake-up calls result(); the foreign __await__ calls it again.
    assert ff.log == ["get_loop", "add_done_callback", "result", "result"]


def test_our_task_cancels_foreign_future(env):
    ff = ForeignFuture(env.loop)

    async def main():
        try:
            await ff
        except asyncio.CancelledError as e:
            return e.args

    t = env.task(main())
    env.spin()
    assert t.cancel("to foreign") is True
    assert ff.log[-1] == ("cancel", "to foreign")
    assert env.run(t) == ("to foreign",)


def test_foreign_future_exception(env):
    ff = ForeignFuture(env.loop)
    exc = LookupError("foreign exc")

    async def main():
        try:
            await ff
        except LookupError as e:
            return e

    t = env.task(main())
    env.spin()
    ff.set_exception(exc)
    assert env.run(t) is exc


def test_foreign_future_done_before_await(env):
    ff = ForeignFuture(env.loop)
    ff.set_result("early")

    async def main():
        return await ff

    assert env.run(env.task(main())) == "early"
    assert ff.log == ["result"]


# ---------------------------------------------------------------- gc and reporting


def test_pending_task_destroyed_is_reported(env):
    async def forever():
        await env.fut()  # only the coroutine's frame holds it

    t = env.task(forever(), name="doomed")
    env.spin()
    ref = weakref.ref(t)
    t_repr = repr(t)
    del t
    collect()
    assert ref() is None
    errors = env.take_errors()
    assert len(errors) == 1
    assert set(errors[0]) == {"task", "message"}
    assert errors[0]["message"] == "Task was destroyed but it is pending!"
    assert norm(repr(errors[0]["task"])).startswith(norm(t_repr)[:40])


def test_pending_task_destroyed_debug_has_source_traceback(debug_env):
    env = debug_env

    async def forever():
        await env.fut()

    t = env.task(forever())
    env.spin()
    del t
    collect()
    errors = [e for e in env.take_errors()
              if e["message"] == "Task was destroyed but it is pending!"]
    assert len(errors) == 1
    assert set(errors[0]) == {"task", "message", "source_traceback"}


def test_log_destroy_pending_false_silences(env):
    async def forever():
        await env.fut()

    t = env.task(forever())
    assert t._log_destroy_pending is True
    t._log_destroy_pending = False
    assert t._log_destroy_pending is False
    env.spin()
    del t
    collect()
    assert env.take_errors() == []


def test_destroyed_pending_task_closes_coroutine(env):
    closed = []

    async def forever():
        try:
            await env.fut()
        finally:
            closed.append(True)

    t = env.task(forever())
    t._log_destroy_pending = False
    env.spin()
    del t
    collect()
    assert closed == [True]


def test_task_exception_never_retrieved(env):
    exc = ValueError("unseen")

    async def main():
        raise exc

    t = env.task(main())
    env.spin()
    assert t.done()
    del t
    collect()
    errors = env.take_errors()
    assert len(errors) == 1
    assert set(errors[0]) == {"message", "exception", "future"}
    assert errors[0]["message"] == "Task exception was never retrieved"
    assert errors[0]["exception"] is exc


def test_task_cycle_collected(env):
    async def main():
        return asyncio.current_task()  # result refers to the task itself

    t = env.task(main())
    env.run(t)
    ref = weakref.ref(t)
    del t
    collect()
    assert ref() is None


def test_finished_task_releases_coroutine_frame_locals(env):
    class Marker:
        pass

    refs = []

    async def main():
        m = Marker()
        refs.append(weakref.ref(m))
        await bare_yield()
        return 1

    t = env.task(main())
    env.run(t)
    assert refs[0]() is None
    del t


# ---------------------------------------------------------------- type behaviour


def test_class_getitem(impl):
    alias = impl.Task[str]
    assert isinstance(alias, types.GenericAlias)
    assert alias.__origin__ is impl.Task
    assert alias.__args__ == (str,)


def test_weakref(env):
    async def main():
        pass

    t = env.task(main())
    ref = weakref.ref(t)
    env.run(t)
    assert ref() is t
    del t
    assert ref() is None


def test_isfuture_and_subclass_of_future(impl):
    assert issubclass(impl.Task, impl.Future)
    assert impl.Task._asyncio_future_blocking is not None


def test_subclass_from_python(env):
    log = []

    class Recorded(env.Task):
        def __init__(self, coro, *, loop, tag):
            super().__init__(coro, loop=loop)
            self.tag = tag

        def cancel(self, msg=None):
            log.append(("cancel", msg))
            return super().cancel(msg)

    async def main():
        await env.fut()

    t = Recorded(main(), loop=env.loop, tag="T")
    assert t.tag == "T" and asyncio.isfuture(t)
    env.spin()
    t.cancel("sub")
    with pytest.raises(asyncio.CancelledError):
        env.run(t)
    assert log == [("cancel", "sub")]
    assert t.cancelled()


def test_runner_uses_task_cancel_override(impl):
    # asyncio.run's shutdown calls cancel() on leftovers: a Python override is honoured.
    log = []

    def factory():
        loop = impl.new_event_loop()

        class Logged(impl.Task):
            def cancel(self, msg=None):
                log.append(self.get_name())
                return super().cancel(msg)

        loop.set_task_factory(lambda loop, coro, **kw: Logged(coro, loop=loop, **kw))
        return loop

    async def leftover():
        await asyncio.get_running_loop().create_future()

    async def main():
        asyncio.get_running_loop().create_task(leftover(), name="left")
        await bare_yield()

    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())
    assert log == ["left"]


# ---------------------------------------------------------------- differential schedules


def _scripted_run(impl, seed):
    """Run a pseudo-random but deterministic mix of tasks, futures, cancellations
    and failures on impl's loop and return the trace of everything observable."""
    import random

    rnd = random.Random(seed)
    loop = impl.new_event_loop()
    trace = []
    loop.set_exception_handler(lambda l, ctx: trace.append(("handler", ctx["message"])))
    nfut, ntask = 6, 16
    futs = [impl.Future(loop=loop) for _ in range(nfut)]
    tasks = []

    def outcome(e):
        return type(e).__name__, e.args

    kinds = ["yield", "fut", "fut", "task", "cancel", "raise", "uncancel", "self_cancel"]
    scripts = []
    for i in range(ntask):
        script = []
        for _ in range(rnd.randint(1, 5)):
            kind = rnd.choice(kinds)
            if kind == "task" and i == 0:
                kind = "yield"
            arg = {"fut": rnd.randrange(nfut), "task": rnd.randrange(max(i, 1)),
                   "cancel": rnd.randrange(ntask)}.get(kind)
            script.append((kind, arg, rnd.random() < 0.5))  # last: swallow CancelledError
        scripts.append(script)

    async def run_script(i):
        me = asyncio.current_task()
        for kind, arg, swallow in scripts[i]:
            try:
                if kind == "yield":
                    await bare_yield()
                    trace.append((i, "yielded"))
                elif kind == "fut":
                    trace.append((i, "fut", arg, await futs[arg]))
                elif kind == "task":
                    trace.append((i, "task", arg, await tasks[arg]))
                elif kind == "cancel":
                    if arg < len(tasks):
                        trace.append((i, "cancel", arg, tasks[arg].cancel(f"by {i}")))
                elif kind == "raise":
                    raise ValueError(i)
                elif kind == "uncancel":
                    trace.append((i, "uncancel", me.uncancel()))
                elif kind == "self_cancel":
                    trace.append((i, "self_cancel", me.cancel(f"self {i}")))
            except asyncio.CancelledError as e:
                trace.append((i, "caught", kind, outcome(e), me.cancelling()))
                if not swallow:
                    raise
            except ValueError as e:
                trace.append((i, "caught", kind, outcome(e)))
                if kind == "raise" and swallow:
                    raise
        return ("ret", i)

    for i in range(ntask):
        t = impl.Task(run_script(i), loop=loop, name=f"s{i}")
        t.add_done_callback(lambda t, i=i: trace.append(("done cb", i)))
        tasks.append(t)

    plan = [(k, rnd.choice(["result", "exception", "cancel"])) for k in range(nfut)]
    rnd.shuffle(plan)

    def drive(step=0):
        if step < len(plan):
            k, how = plan[step]
            trace.append(("drive", step, k, how, futs[k].done()))
            if futs[k].done():  # cancelled by a task cancelled while awaiting it
                pass
            elif how == "result":
                futs[k].set_result(k)
            elif how == "exception":
                futs[k].set_exception(ValueError(f"fut {k}"))
            else:
                futs[k].cancel(f"fut {k}")
            loop.call_soon(drive, step + 1)

    loop.call_soon(drive)
    try:
        for _ in range(200):
            if all(t.done() for t in tasks):
                break
            spin_loop(loop)
        spin_loop(loop)  # the last done callbacks
        for i, t in enumerate(tasks):
            if not t.done():
                trace.append(("stuck", i))
                t._log_destroy_pending = False
            elif t.cancelled():
                trace.append(("final", i, "cancelled", t.cancelling()))
            elif t.exception() is not None:
                trace.append(("final", i, "exception", outcome(t.exception())))
            else:
                trace.append(("final", i, "result", t.result()))
        for f in futs:
            if f.done() and not f.cancelled():
                f.exception()
    finally:
        loop.close()
    return trace


@pytest.mark.parametrize("seed", range(12))
def test_differential_scripted_schedules(seed):
    from _helpers import ASYNCIO_C

    expected = _scripted_run(ASYNCIO, seed)
    got = _scripted_run(ASYNCIO_C, seed)
    assert got == expected


def test_task_has_its_own_future_method_descriptors():
    """As asyncio's C Task lists Future's methods again, so does ours: a call
    is specialized by CPython only on an object exactly of the descriptor's
    type (#7).  Same names as asyncio's own, same behaviour as Future's."""
    import _asyncio
    from asyncio_c import _core
    names = ("result", "exception", "add_done_callback",
             "remove_done_callback", "cancelled", "done")
    for name in names:
        assert name in _asyncio.Task.__dict__, name      # the oracle
        assert name in _core.Task.__dict__, name
        assert _core.Task.__dict__[name] is not _core.Future.__dict__[name]
        assert _core.Task.__dict__[name].__qualname__ == f"Task.{name}"
    # what Task defines itself is untouched
    assert _core.Task.__dict__["cancel"].__qualname__ == "Task.cancel"


def test_loop_class_has_its_own_core_method_descriptors():
    """asyncio_c.Loop gets its own descriptors of _core.Loop's C methods
    (same functions; specialized calls from asyncio's Python), and the
    methods it defines in Python stay its own."""
    import asyncio_c
    from asyncio_c import _core, _loop
    for name in ("call_soon", "call_later", "create_future", "create_task",
                 "time", "_run_once"):
        own = asyncio_c.Loop.__dict__[name]
        assert own is not _core.Loop.__dict__[name]
        assert own.__objclass__ is asyncio_c.Loop
    assert asyncio_c.Loop.run_forever is _loop.Loop.__dict__["run_forever"]
    assert asyncio_c.Loop._run_once is _loop._C_RUN_ONCE   # C iterations

    loop = asyncio_c.new_event_loop()
    try:
        fut = loop.create_future()
        loop.call_soon(fut.set_result, loop.time())
        assert isinstance(loop.run_until_complete(fut), float)
    finally:
        loop.close()
