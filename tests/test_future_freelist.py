"""The memory of dead Futures, Tasks and Future iterators of exactly our types is reused
(src/future.c's freelists, src/freelist.h): nothing about a new one may show it.  The trap: the
garbage collector's "finalized" bit stays with an object's memory once its finalizer ran, so a
reused object that had it would never report "Task was destroyed but it is pending!" or
"exception was never retrieved".  Every churn below makes hundreds of objects die and be made
again, far more than any single reuse needs; where asyncio gives the same program a meaning,
the same counts are checked on asyncio's own loop."""
import asyncio
import contextvars
import gc
import sys
import weakref

import pytest

import asyncio_c
from asyncio_c import _core

CYCLES = 300


def new_loop(kind):
    return asyncio_c.new_event_loop() if kind == "asyncio_c" else asyncio.new_event_loop()


def record(loop):
    msgs = []
    loop.set_exception_handler(lambda lp, ctx: msgs.append(ctx["message"]))
    return msgs


def _recording(kind):
    loop = new_loop(kind)
    try:
        yield loop, record(loop)
    finally:
        loop.close()


@pytest.fixture(params=["asyncio_c", "asyncio"])
def kloop(request):
    """A loop of either kind and the messages its exception handler got."""
    yield from _recording(request.param)


@pytest.fixture
def loop():
    """asyncio_c's loop; its exception handler must not be called behind the test's back."""
    for loop, msgs in _recording("asyncio_c"):
        yield loop
        assert msgs == []


def spin(loop):
    loop.run_until_complete(asyncio.sleep(0))


async def noop():
    pass


class Sink:
    """A foreign future that drops its callbacks: a task waiting on it is referenced only by
    whoever holds the task, and by itself (asyncio_c's task keeps its bound wakeup while
    pending), so `del task` + a collection destroy it, still pending."""
    _asyncio_future_blocking = False

    def __init__(self, loop):
        self._loop = loop

    def get_loop(self):
        return self._loop

    def add_done_callback(self, cb, *, context=None):
        pass

    def remove_done_callback(self, cb):
        return 0

    def cancel(self, msg=None):
        return False

    def done(self):
        return False

    def __await__(self):
        self._asyncio_future_blocking = True
        yield self


async def wait_sink(loop):
    await Sink(loop)


def destroy_pending_task(loop):
    t = loop.create_task(wait_sink(loop))
    spin(loop)
    assert not t.done()
    del t
    gc.collect()


# ---------------------------------------------------------------- the finalizer still runs


def test_pending_task_destroyed_after_a_finished_one_is_reported(kloop):
    loop, msgs = kloop
    for _ in range(CYCLES):
        t = loop.create_task(noop())      # finishes quietly: its memory is kept
        loop.run_until_complete(t)
        del t
        destroy_pending_task(loop)        # most likely made in that memory
    assert msgs == ["Task was destroyed but it is pending!"] * CYCLES


def test_pending_task_after_collected_cycles_is_reported(kloop):
    # A task finalized by the collector (cyclic garbage) has the bit set for good: its
    # memory must not come back as a task whose finalizer would then never run.
    loop, msgs = kloop
    gc.disable()
    try:
        for _ in range(CYCLES // 3):
            for _ in range(3):
                t = loop.create_task(noop())
                loop.run_until_complete(t)
                t.cycle = t
                del t
            gc.collect()
            destroy_pending_task(loop)
            destroy_pending_task(loop)
    finally:
        gc.enable()
    assert msgs == ["Task was destroyed but it is pending!"] * (2 * (CYCLES // 3))


def test_pending_task_of_task_constructor_is_reported(kloop):
    # Task(coro) memory comes from the type's tp_alloc: kept and reused all the same.
    loop, msgs = kloop
    Task = _core.Task if isinstance(loop, asyncio_c.Loop) else asyncio.Task
    for _ in range(CYCLES):
        t = Task(noop(), loop=loop)
        loop.run_until_complete(t)
        del t
        t = Task(wait_sink(loop), loop=loop)
        spin(loop)
        del t
        gc.collect()
        destroy_pending_task(loop)
    assert msgs == ["Task was destroyed but it is pending!"] * (2 * CYCLES)


def test_quiet_pending_task_then_loud_one(kloop):
    # _log_destroy_pending = False: destroyed pending without a word (and taken out of
    # all_tasks), its memory reused by one that must speak.
    loop, msgs = kloop
    for _ in range(CYCLES):
        t = loop.create_task(wait_sink(loop))
        spin(loop)
        t._log_destroy_pending = False
        del t
        gc.collect()
        assert not asyncio.all_tasks(loop)
        destroy_pending_task(loop)
    assert msgs == ["Task was destroyed but it is pending!"] * CYCLES


def test_exception_never_retrieved_of_reused_futures(kloop):
    loop, msgs = kloop
    Future = _core.Future if isinstance(loop, asyncio_c.Loop) else asyncio.Future
    for i in range(CYCLES):
        f = loop.create_future()
        f.set_result(i)
        del f
        g = loop.create_future()
        g.set_exception(ValueError(i))
        del g
        h = Future(loop=loop)
        h.set_result(i)
        del h
        k = Future(loop=loop)
        k.set_exception(ValueError(i))
        del k
    assert msgs == ["Future exception was never retrieved"] * (2 * CYCLES)


def test_task_exception_never_retrieved_after_reuse(kloop):
    async def boom():
        raise ValueError("boom")

    loop, msgs = kloop
    for _ in range(CYCLES):
        t = loop.create_task(noop())
        loop.run_until_complete(t)
        del t
        t = loop.create_task(boom())
        spin(loop)
        assert t.done()
        del t
    assert msgs == ["Task exception was never retrieved"] * CYCLES


# ---------------------------------------------------------------- nothing of the old object


def test_weakref_to_dead_future_stays_dead(loop):
    fired = []
    refs = []
    for _ in range(CYCLES):
        f = loop.create_future()
        refs.append(weakref.ref(f, fired.append))
        del f
    assert all(r() is None for r in refs)
    assert len(fired) == CYCLES
    news = [loop.create_future() for _ in range(CYCLES)]
    assert all(r() is None for r in refs)
    assert all(weakref.getweakrefcount(f) == 0 for f in news)
    r = weakref.ref(news[0])
    assert r() is news[0]


def test_weakref_to_dead_task_and_all_tasks(loop):
    refs = []
    for _ in range(CYCLES):
        t = loop.create_task(noop())
        refs.append(weakref.ref(t))
        loop.run_until_complete(t)
        del t
    assert all(r() is None for r in refs)
    live = [loop.create_task(noop()) for _ in range(10)]
    assert all(r() is None for r in refs)
    assert asyncio.all_tasks(loop) == set(live)
    loop.run_until_complete(asyncio.gather(*live))
    assert asyncio.all_tasks(loop) == set()


def test_instance_dict_does_not_survive(loop):
    for i in range(CYCLES):
        f = loop.create_future()
        f.attr = i
        t = loop.create_task(noop())
        t.attr = i
        loop.run_until_complete(t)
        del f, t
    f = loop.create_future()
    t = loop.create_task(noop())
    assert not hasattr(f, "attr") and not hasattr(t, "attr")
    loop.run_until_complete(t)


def test_future_fields_are_fresh(loop):
    def cb(f):
        pass

    for i in range(CYCLES):
        f = loop.create_future()
        f.add_done_callback(cb)
        f.add_done_callback(cb, context=contextvars.copy_context())
        f.add_done_callback(print)
        f.cancel(msg=f"msg {i}")
        f._log_traceback = False
        del f
        g = loop.create_future()
        g.set_exception(RuntimeError(i))
        g.exception()
        del g
    spin(loop)
    f = loop.create_future()
    assert not f.done() and not f.cancelled()
    assert f._state == "PENDING"
    assert not f._callbacks
    assert f._result is None and f._exception is None
    assert f._cancel_message is None
    assert f._source_traceback is None
    assert f._log_traceback is False and f._asyncio_future_blocking is False
    assert f.get_loop() is loop
    assert gc.is_tracked(f)
    assert sys.getrefcount(f) == 2
    f.cancel()
    with pytest.raises(asyncio.CancelledError) as ei:
        f.result()
    assert ei.value.args == ()


def test_source_traceback_only_in_debug_mode(loop):
    loop.set_debug(True)
    for _ in range(CYCLES):
        f = loop.create_future()
        assert f._source_traceback
        t = loop.create_task(noop())
        assert t._source_traceback
        loop.run_until_complete(t)
        del f, t
    loop.set_debug(False)
    f = loop.create_future()
    t = loop.create_task(noop())
    assert f._source_traceback is None and t._source_traceback is None
    loop.run_until_complete(t)


def test_task_fields_are_fresh(loop):
    ctx = contextvars.copy_context()

    async def cancelled_one():
        await asyncio.sleep(3600)

    for i in range(CYCLES):
        t = loop.create_task(noop(), name=f"old {i}", context=ctx)
        loop.run_until_complete(t)
        u = loop.create_task(cancelled_one(), name=f"old c {i}")
        spin(loop)
        u.cancel(msg=f"bye {i}")
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(u)
        del t, u
    coro = noop()
    t = loop.create_task(coro)
    assert t.get_name().startswith("Task-")
    assert t.get_coro() is coro
    assert t.get_context() is not ctx
    assert not t.done() and not t.cancelled() and t.cancelling() == 0
    assert t._must_cancel is False and t._fut_waiter is None
    assert t._log_destroy_pending is True
    assert t._source_traceback is None
    assert gc.is_tracked(t)
    assert sys.getrefcount(t) == 3        # ours, the argument, the scheduled step
    assert t in asyncio.all_tasks(loop)
    t.cancel()
    with pytest.raises(asyncio.CancelledError) as ei:
        loop.run_until_complete(t)
    assert ei.value.args == ()
    assert t not in asyncio.all_tasks(loop)


def test_future_iterators_are_fresh(loop):
    for i in range(CYCLES):
        f = loop.create_future()
        it = f.__await__()
        assert next(it) is f
        f.set_result(i)
        with pytest.raises(StopIteration) as si:
            next(it)
        assert si.value.value == i
        it2 = f.__await__()
        it2.close()
        del f, it, it2
    f = loop.create_future()
    it = f.__await__()
    assert type(it).__name__ == "FutureIter"
    assert gc.is_tracked(it)
    assert sys.getrefcount(it) == 2
    f._asyncio_future_blocking = False
    assert next(it) is f
    f.set_result("fresh")
    with pytest.raises(StopIteration) as si:
        next(it)
    assert si.value.value == "fresh"
    with pytest.raises(StopIteration) as si:
        next(it)                          # exhausted: None, as asyncio's
    assert si.value.value is None


def test_awaiting_futures_in_tasks_after_churn(loop):
    async def pingpong(n):
        total = 0
        for i in range(n):
            f = loop.create_future()
            loop.call_soon(f.set_result, i)
            total += await f
        return total

    assert loop.run_until_complete(pingpong(CYCLES)) == sum(range(CYCLES))
    async def many():
        return await asyncio.gather(*[pingpong(10) for _ in range(CYCLES)])

    assert loop.run_until_complete(many()) == [45] * CYCLES


# ---------------------------------------------------------------- subclasses and others


def test_subclasses_keep_their_finalizers_and_fields(loop):
    class Fut(_core.Future):
        __slots__ = ("a", "b", "c")

    class Tsk(_core.Task):
        pass

    msgs = record(loop)
    for i in range(CYCLES):
        f = Fut(loop=loop)
        f.a = i
        f.set_exception(ValueError(i))
        del f
        t = Tsk(wait_sink(loop), loop=loop)
        spin(loop)
        del t
        gc.collect()
        f = loop.create_future()
        assert type(f) is _core.Future
        f.set_exception(ValueError(i))
        del f
        destroy_pending_task(loop)
    assert msgs.count("Fut exception was never retrieved") == CYCLES
    assert msgs.count("Future exception was never retrieved") == CYCLES
    assert msgs.count("Task was destroyed but it is pending!") == 2 * CYCLES
    f = Fut(loop=loop)
    assert not hasattr(f, "a")
    t = loop.create_task(noop())
    assert type(t) is _core.Task
    loop.run_until_complete(t)


def test_gathering_futures_and_tasks_in_cycles(loop):
    msgs = record(loop)

    async def fail(i):
        raise ValueError(i)

    async def gather_failures():
        return await asyncio.gather(*[fail(j) for j in range(10)], return_exceptions=True)

    for i in range(CYCLES // 10):
        assert loop.run_until_complete(gather_failures())[3].args == (3,)
        tasks = [loop.create_task(noop()) for _ in range(10)]
        for t in tasks:
            t.others = tasks
        loop.run_until_complete(asyncio.gather(*tasks))
        del tasks, t
        gc.collect()
        destroy_pending_task(loop)
    assert msgs == ["Task was destroyed but it is pending!"] * (CYCLES // 10)


def test_freelists_survive_a_closed_loop_and_a_new_one():
    for _ in range(3):
        loop = asyncio_c.new_event_loop()
        msgs = record(loop)
        futs = [loop.create_future() for _ in range(CYCLES)]
        tasks = [loop.create_task(noop()) for _ in range(CYCLES)]
        loop.run_until_complete(asyncio.gather(*tasks))
        del futs, tasks
        destroy_pending_task(loop)
        loop.close()
        assert msgs == ["Task was destroyed but it is pending!"]
