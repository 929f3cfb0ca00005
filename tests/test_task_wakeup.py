"""A task waiting on a future: the wakeup callback in the future's callbacks.

On our loop the wakeup is stored as an entry that stands for the task's bound
wakeup method (no object per task); it must look and behave as asyncio's:
listed in ``_callbacks`` with the task's context, removable with
``remove_done_callback``, re-addable, and run in the task's context.
Every case runs on asyncio's loop and on ours.
"""
import asyncio
import contextvars

from _loop_helpers import LoopEnv, lenv, limpl  # noqa: F401

VAR = contextvars.ContextVar("VAR", default="unset")


def _waiting_task(loop):
    fut = loop.create_future()
    seen = []

    async def waiter():
        VAR.set("in task")
        seen.append(await fut)
        seen.append(VAR.get())
        return "done"

    task = loop.create_task(waiter())
    loop.run_until_complete(asyncio.sleep(0))
    return fut, task, seen


def test_callbacks_list_the_wakeup(lenv):
    loop = lenv.loop
    fut, task, seen = _waiting_task(loop)
    cbs = fut._callbacks
    assert len(cbs) == 1
    cb, ctx = cbs[0]
    assert callable(cb) and getattr(cb, "__self__", task) is task   # asyncio 3.11: a wrapper type
    if hasattr(task, "get_context"):        # 3.12+ (and ours on 3.11)
        assert ctx is task.get_context()
    assert ctx[VAR] == "in task"
    fut.set_result(7)
    assert loop.run_until_complete(task) == "done"
    assert seen == [7, "in task"]


def test_remove_and_add_back_the_wakeup(lenv):
    loop = lenv.loop
    fut, task, seen = _waiting_task(loop)
    cb, ctx = fut._callbacks[0]
    assert fut.remove_done_callback(task) == 0     # the task is not the callback
    assert fut.remove_done_callback(cb) == 1
    assert not fut._callbacks
    fut.add_done_callback(cb, context=ctx)
    fut.set_result(8)
    assert loop.run_until_complete(task) == "done"
    assert seen == [8, "in task"]


def test_several_waiters_wake_in_order(lenv):
    loop = lenv.loop
    fut = loop.create_future()
    order = []

    async def w(i):
        await fut
        order.append(i)

    tasks = [loop.create_task(w(i)) for i in range(5)]
    loop.run_until_complete(asyncio.sleep(0))
    fut.add_done_callback(lambda f: order.append("cb"))
    assert len(fut._callbacks) == 6
    fut.set_result(None)
    loop.run_until_complete(asyncio.gather(*tasks))
    assert order == [0, 1, 2, 3, 4, "cb"]


def test_wakeup_after_cancel_and_exception(lenv):
    loop = lenv.loop
    fut, task, seen = _waiting_task(loop)
    task.cancel("bye")
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError as e:
        assert e.args == ("bye",)
    assert task.cancelled() and fut.cancelled()

    fut2, task2, _ = _waiting_task(loop)
    fut2.set_exception(ValueError("x"))
    try:
        loop.run_until_complete(task2)
    except ValueError as e:
        assert str(e) == "x"
    else:
        raise AssertionError("no ValueError")


def test_wakeup_in_debug_mode(lenv):
    loop = lenv.loop
    loop.set_debug(True)
    fut, task, seen = _waiting_task(loop)
    fut.set_result(1)
    assert loop.run_until_complete(task) == "done"
    assert seen == [1, "in task"]


def test_step_of_a_task_done_behind_its_back_is_reported(lenv):
    """A queued step that finds its task already done raises asyncio's
    InvalidStateError through the loop's exception handler (the step's
    record on our loop reports as asyncio's callback does)."""
    loop = lenv.loop

    async def coro():
        return 1

    task = loop.create_task(coro())
    lenv.impl.Future.set_result(task, "forced")     # bypasses Task.set_result
    loop.run_until_complete(asyncio.sleep(0))
    errors = lenv.take_errors()
    assert len(errors) == 1
    exc = errors[0]["exception"]
    assert isinstance(exc, asyncio.InvalidStateError)
    assert "already done" in str(exc)
    task.get_coro().close()
    assert "step" in repr(errors[0]["handle"]).lower()
    assert task.result() == "forced"
