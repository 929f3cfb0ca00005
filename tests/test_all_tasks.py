"""asyncio.all_tasks() with asyncio_c's task registry.

Our Task keeps the tasks that are scheduled and not done in a C ring
(_core._live_tasks()) instead of asyncio's WeakSet; asyncio_c/_alltasks.py
puts a view in place of asyncio's set that chains both.  Every case runs on
asyncio's loop and on ours with the same expectations.
"""
import asyncio
import gc
import sys

import pytest

import asyncio_c
from asyncio_c import _alltasks, _core

from _loop_helpers import LoopEnv, lenv, limpl  # noqa: F401

SET_NAME = "_all_tasks" if sys.version_info < (3, 12) else "_scheduled_tasks"


def test_view_is_installed_once():
    view = getattr(asyncio.tasks, SET_NAME)
    assert isinstance(view, _alltasks.TaskSetView)
    _alltasks.install()
    assert getattr(asyncio.tasks, SET_NAME) is view


def test_pending_tasks_listed_done_ones_not(lenv):
    loop = lenv.loop

    async def main():
        gate = loop.create_future()

        async def child():
            await gate

        kids = [asyncio.ensure_future(child()) for _ in range(5)]
        me = asyncio.current_task()
        assert asyncio.all_tasks() == set(kids) | {me}
        gate.set_result(None)
        await asyncio.gather(*kids)
        assert asyncio.all_tasks() == {me}
        return kids

    kids = loop.run_until_complete(main())
    assert asyncio.all_tasks(loop) == set()
    if lenv.impl.is_c:
        assert not any(t in _core._live_tasks() for t in kids)


def test_scheduled_not_started_task_is_listed(lenv):
    loop = lenv.loop

    async def noop():
        pass

    t = loop.create_task(noop())
    assert asyncio.all_tasks(loop) == {t}
    loop.run_until_complete(t)
    assert asyncio.all_tasks(loop) == set()


def test_tasks_of_other_loops_are_not_listed(limpl):
    a, b = limpl.new_loop(), limpl.new_loop()
    try:
        async def noop():
            pass
        ta, tb = a.create_task(noop()), b.create_task(noop())
        assert asyncio.all_tasks(a) == {ta}
        assert asyncio.all_tasks(b) == {tb}
        a.run_until_complete(ta)
        b.run_until_complete(tb)
    finally:
        a.close()
        b.close()


def test_asyncio_tasks_on_our_loop_and_ours_on_asyncio_loop():
    """Both kinds of Task, on both loops, all in all_tasks()."""
    for new_loop in (asyncio.SelectorEventLoop, asyncio_c.new_event_loop):
        loop = new_loop()
        try:
            gate = loop.create_future()

            async def w():
                await gate

            ours = asyncio_c.Task(w(), loop=loop)
            theirs = asyncio.Task(w(), loop=loop)
            loop.run_until_complete(asyncio.sleep(0))
            assert asyncio.all_tasks(loop) == {ours, theirs}
            gate.set_result(None)
            loop.run_until_complete(asyncio.gather(ours, theirs))
            assert asyncio.all_tasks(loop) == set()
        finally:
            loop.close()


def test_destroyed_pending_task_is_forgotten(lenv):
    """A pending task nobody references is collected and leaves the set,
    even when the 'destroyed but pending' report keeps it alive."""
    loop = lenv.loop
    kept = []
    loop.set_exception_handler(lambda lp, ctx: kept.append(ctx))

    async def stuck():
        await loop.create_future()

    t = loop.create_task(stuck())
    loop.run_until_complete(asyncio.sleep(0))
    assert asyncio.all_tasks(loop) == {t}
    del t
    gc.collect()
    assert asyncio.all_tasks(loop) == set()
    assert [c["message"] for c in kept] == ["Task was destroyed but it is pending!"]
    kept.clear()


def test_unregister_task_and_view_methods(lenv):
    loop = lenv.loop
    gate = loop.create_future()

    async def w():
        await gate

    t = loop.create_task(w())
    view = getattr(asyncio.tasks, SET_NAME)
    assert t in view
    assert len(view) >= 1
    asyncio.tasks._unregister_task(t)   # asyncio's own function
    if lenv.impl.is_c:
        # asyncio's C _unregister_task only knows its own set; the view's
        # discard is what takes one of ours out
        view.discard(t)
    assert t not in view
    assert asyncio.all_tasks(loop) == set()
    with pytest.raises(KeyError):
        view.remove(t)
    view.add(t)                         # goes to asyncio's set, as before
    assert asyncio.all_tasks(loop) == {t}
    view.remove(t)
    gate.set_result(None)
    loop.run_until_complete(t)


def test_forget_task_bad_input():
    for bad in (None, 1, object(), asyncio.Future):
        _core._forget_task(bad)     # not one of ours: nothing happens
    assert isinstance(_core._live_tasks(), list)
