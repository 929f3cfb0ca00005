"""asyncio.current_task() / asyncio.all_tasks() must see asyncio_c's tasks (and asyncio's)."""
import asyncio
import gc

import pytest

from _helpers import (  # noqa: F401  (fixtures are used by name)
    HAS_EAGER,
    bare_yield,
    collect,
    env,
    impl,
)

needs_eager = pytest.mark.skipif(not HAS_EAGER, reason="eager tasks are 3.12+")


def test_current_task_inside_task(env):
    async def main():
        me = asyncio.current_task()
        return me, asyncio.current_task(env.loop), asyncio.current_task(loop=env.loop)

    t = env.task(main())
    me, me2, me3 = env.run(t)
    assert me is t and me2 is t and me3 is t


def test_current_task_survives_suspension(env):
    f = env.fut()

    async def main():
        seen = [asyncio.current_task()]
        await f
        seen.append(asyncio.current_task())
        await bare_yield()
        seen.append(asyncio.current_task())
        return seen

    t = env.task(main())
    env.spin()
    f.set_result(None)
    assert env.run(t) == [t, t, t]


def test_current_task_in_plain_callback_is_none(env):
    seen = []

    def cb():
        seen.append(asyncio.current_task())

    env.loop.call_soon(cb)
    env.spin()
    assert seen == [None]


def test_current_task_in_callback_scheduled_by_task_is_none(env):
    seen = []

    async def main():
        asyncio.get_running_loop().call_soon(lambda: seen.append(asyncio.current_task()))
        await bare_yield()

    env.run(env.task(main()))
    assert seen == [None]


def test_current_task_in_done_callback_is_none(env):
    seen = []

    async def main():
        return 1

    t = env.task(main())
    t.add_done_callback(lambda _: seen.append(asyncio.current_task()))
    env.run(t)
    env.spin()
    assert seen == [None]


def test_current_task_after_task_raised_is_none(env):
    seen = []

    async def main():
        raise ValueError()

    t = env.task(main())
    env.loop.call_soon(lambda: seen.append(asyncio.current_task()))
    env.spin()
    assert t.done()
    assert seen == [None]
    t.exception()


def test_current_task_no_running_loop():
    with pytest.raises(RuntimeError, match="no running event loop"):
        asyncio.current_task()


def test_current_task_of_idle_loop_is_none(env):
    assert asyncio.current_task(env.loop) is None


def test_current_task_other_loop_is_none(env):
    other = env.impl.new_event_loop()
    try:
        async def main():
            return asyncio.current_task(other)

        assert env.run(main()) is None
    finally:
        other.close()


def test_current_task_nested(env):
    log = []

    async def child():
        log.append(("child", asyncio.current_task()))
        await bare_yield()
        log.append(("child", asyncio.current_task()))

    async def parent():
        me = asyncio.current_task()
        c = env.Task(child())
        await c
        log.append(("parent", asyncio.current_task()))
        return me, c

    me, c = env.run(parent())
    assert log == [("child", c), ("child", c), ("parent", me)]


def test_current_task_mixed_with_asyncio_tasks(env):
    log = []

    async def theirs():
        log.append(("theirs", asyncio.current_task()))

    async def ours():
        t = asyncio.Task(theirs(), loop=env.loop)
        await t
        log.append(("ours", asyncio.current_task()))
        return t

    ours_t = env.task(ours())
    theirs_t = env.run(ours_t)
    assert log == [("theirs", theirs_t), ("ours", ours_t)]


def test_enter_task_conflict_is_detected(env):
    # asyncio's bookkeeping is shared: entering another task while ours runs fails.
    class Fake:
        pass

    async def main():
        with pytest.raises(RuntimeError, match="^Cannot enter into task "):
            asyncio.tasks._enter_task(env.loop, Fake())
        return asyncio.current_task()

    t = env.task(main())
    assert env.run(t) is t


def test_leave_task_mismatch_is_detected(env):
    class Fake:
        pass

    async def main():
        with pytest.raises(RuntimeError, match="^Leaving task "):
            asyncio.tasks._leave_task(env.loop, Fake())
        return asyncio.current_task()

    t = env.task(main())
    assert env.run(t) is t


@needs_eager
def test_current_task_during_eager_start(env):
    log = []

    async def child():
        log.append(("eager body", asyncio.current_task()))
        await bare_yield()
        log.append(("resumed", asyncio.current_task()))

    async def parent():
        me = asyncio.current_task()
        c = env.Task(child(), loop=env.loop, eager_start=True)
        log.append(("parent", asyncio.current_task()))
        await c
        return me, c

    me, c = env.run(parent())
    assert log == [("eager body", c), ("parent", me), ("resumed", c)]


# ---------------------------------------------------------------- all_tasks


def test_all_tasks_sees_pending_tasks(env):
    f = env.fut()

    async def waiter():
        await f

    a = env.task(waiter())
    b = env.task(waiter())
    assert asyncio.all_tasks(env.loop) == {a, b}  # not started yet: already there
    env.spin()
    assert asyncio.all_tasks(env.loop) == {a, b}

    async def check():
        return asyncio.all_tasks()

    checker = env.task(check())
    assert env.run(checker) == {a, b, checker}
    f.set_result(None)
    env.run(asyncio.gather(a, b))
    assert asyncio.all_tasks(env.loop) == set()


def test_all_tasks_excludes_done_and_other_loops(env):
    other = env.impl.new_event_loop()
    try:
        async def noop():
            pass

        foreign = env.impl.Task(noop(), loop=other)
        done = env.task(noop())
        env.run(done)
        pending = env.task(noop())
        assert asyncio.all_tasks(env.loop) == {pending}
        assert asyncio.all_tasks(other) == {foreign}
        env.run(pending)
        other.run_until_complete(foreign)
    finally:
        other.close()


def test_all_tasks_includes_both_implementations(env):
    async def noop():
        pass

    ours = env.task(noop())
    theirs = asyncio.Task(noop(), loop=env.loop)
    assert asyncio.all_tasks(env.loop) == {ours, theirs}
    env.run(asyncio.gather(ours, theirs))


def test_all_tasks_no_running_loop():
    with pytest.raises(RuntimeError, match="no running event loop"):
        asyncio.all_tasks()


def test_all_tasks_does_not_keep_tasks_alive(env):
    import weakref

    async def noop():
        pass

    t = env.task(noop())
    env.run(t)
    ref = weakref.ref(t)
    del t
    collect()
    assert ref() is None
    assert asyncio.all_tasks(env.loop) == set()


def test_all_tasks_many(env):
    async def noop():
        await bare_yield()

    tasks = {env.task(noop()) for _ in range(200)}
    assert asyncio.all_tasks(env.loop) == tasks
    env.run(asyncio.gather(*tasks))
    assert asyncio.all_tasks(env.loop) == set()


@needs_eager
def test_all_tasks_during_and_after_eager_start(env):
    f = env.fut()
    seen = []

    async def child():
        seen.append(asyncio.current_task() in asyncio.all_tasks())
        await f

    async def parent():
        c = env.Task(child(), loop=env.loop, eager_start=True)
        seen.append(c in asyncio.all_tasks())
        f.set_result(None)
        await c
        seen.append(c in asyncio.all_tasks())

    env.run(parent())
    assert seen == [True, True, False]


@needs_eager
def test_all_tasks_eager_finished_never_listed(env):
    async def quick():
        return 1

    async def parent():
        c = env.Task(quick(), loop=env.loop, eager_start=True)
        return c, asyncio.all_tasks()

    c, tasks = env.run(parent())
    assert c.done()
    assert c not in tasks
    assert len(tasks) == 1  # the parent


def test_all_tasks_counts_unstarted_tasks(env):
    async def noop():
        pass

    for _ in range(50):
        env.task(noop())
    gc.collect()
    assert len(asyncio.all_tasks(env.loop)) == 50
    env.run(asyncio.gather(*asyncio.all_tasks(env.loop)))
