"""Shared helpers for the Future/Task tests: run every case on asyncio and on asyncio_c.

Import explicitly from the test modules (``from _helpers import ...``); the fixtures
defined here become visible to a module by being imported into it.

asyncio is the oracle: each case runs once on asyncio's own types and loop and once on
asyncio_c's, with the same expectations, so a wrong expectation fails on asyncio.
"""
import asyncio
import contextlib
import gc
import re
import sys
import types

import pytest

import asyncio_c

PY = sys.version_info[:2]
HAS_EAGER = PY >= (3, 12)


class Impl:
    """One implementation of Future/Task and the loop that goes with it."""

    def __init__(self, name, future, task, new_event_loop, task_factory,
                 eager_task_factory=None, create_eager_task_factory=None):
        self.name = name
        self.Future = future
        self.Task = task
        self.new_event_loop = new_event_loop
        self.task_factory = task_factory
        self.eager_task_factory = eager_task_factory
        self.create_eager_task_factory = create_eager_task_factory

    def __repr__(self):
        return f"<Impl {self.name}>"


def _asyncio_task_factory(loop, coro, **kwargs):
    return asyncio.Task(coro, loop=loop, **kwargs)


ASYNCIO = Impl(
    "asyncio", asyncio.Future, asyncio.Task, asyncio.new_event_loop, _asyncio_task_factory,
    getattr(asyncio, "eager_task_factory", None),
    getattr(asyncio, "create_eager_task_factory", None),
)
ASYNCIO_C = Impl(
    "asyncio_c", asyncio_c.Future, asyncio_c.Task, asyncio_c.new_event_loop,
    asyncio_c.task_factory,
    getattr(asyncio_c, "eager_task_factory", None),
    getattr(asyncio_c, "create_eager_task_factory", None),
)
IMPLS = [ASYNCIO, ASYNCIO_C]

# True when asyncio_c is only the stand-in (ASYNCIO_C_STANDIN=1 and no extension built).
STANDIN = asyncio_c.Future is asyncio.Future


@pytest.fixture(params=IMPLS, ids=lambda i: i.name)
def impl(request):
    return request.param


class Env:
    """A fresh loop of one implementation, with an exception handler that records.

    Any call of the loop's exception handler that the test did not collect with
    take_errors() fails the test at teardown (as in uvloop's test base).
    """

    def __init__(self, impl):
        self.impl = impl
        self.Future = impl.Future
        self.Task = impl.Task
        self.loop = impl.new_event_loop()
        self.errors = []
        self.loop.set_exception_handler(self._handler)

    def _handler(self, loop, context):
        assert loop is self.loop
        self.errors.append(context)

    def take_errors(self):
        errors, self.errors = self.errors, []
        return errors

    def fut(self):
        return self.Future(loop=self.loop)

    def task(self, coro, **kwargs):
        return self.Task(coro, loop=self.loop, **kwargs)

    def run(self, aw):
        return self.loop.run_until_complete(aw)

    def spin(self, n=1):
        """Run exactly n iterations of the loop (what was ready when each began)."""
        for _ in range(n):
            self.loop.call_soon(self.loop.stop)
            self.loop.run_forever()

    def close(self):
        loop = self.loop
        if not loop.is_closed():
            # Cancel what the test left running and give it a few iterations to
            # unwind; never run unboundedly (a broken task may never finish).
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            for _ in range(5):
                if all(t.done() for t in pending):
                    break
                with contextlib.suppress(BaseException):
                    self.spin()
            for t in pending:
                if not t.done():
                    t._log_destroy_pending = False
                elif not t.cancelled():
                    t._log_traceback = False
            loop.close()


@pytest.fixture
def env(impl):
    e = Env(impl)
    try:
        yield e
    finally:
        e.close()
    assert e.errors == [], f"unexpected calls of the exception handler: {e.errors!r}"


@pytest.fixture
def debug_env(env):
    env.loop.set_debug(True)
    return env


def collect():
    """Run the cyclic GC until nothing more is found (finalizers may free more)."""
    for _ in range(3):
        if not gc.collect():
            break


_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")
_TASKN = re.compile(r"Task-\d+")


def norm(text):
    """Normalise a repr for comparison: object addresses and default task numbers."""
    return _TASKN.sub("Task-N", _ADDR.sub(" at 0x?", text))


def spin_loop(loop, n=1):
    for _ in range(n):
        loop.call_soon(loop.stop)
        loop.run_forever()


@types.coroutine
def bare_yield():
    """Give up control for one loop iteration (what asyncio.sleep(0) does)."""
    yield


@types.coroutine
def yield_value(value):
    """Yield an arbitrary value to the driving task (bad input for a Task)."""
    return (yield value)


class ForeignFuture:
    """A minimal future-like object that is no asyncio Future: the duck-typed protocol.

    Records every call made on it in self.log.
    """

    _asyncio_future_blocking = False

    def __init__(self, loop):
        self._loop = loop
        self._callbacks = []
        self._done = False
        self._result = None
        self._exc = None
        self.log = []

    def get_loop(self):
        self.log.append("get_loop")
        return self._loop

    def add_done_callback(self, fn, *, context=None):
        self.log.append("add_done_callback")
        self.contexts = getattr(self, "contexts", []) + [context]
        self._callbacks.append((fn, context))

    def remove_done_callback(self, fn):
        self.log.append("remove_done_callback")
        before = len(self._callbacks)
        self._callbacks = [(f, c) for f, c in self._callbacks if f != fn]
        return before - len(self._callbacks)

    def done(self):
        return self._done

    def cancelled(self):
        return isinstance(self._exc, asyncio.CancelledError)

    def result(self):
        self.log.append("result")
        if self._exc is not None:
            raise self._exc
        return self._result

    def exception(self):
        return self._exc

    def cancel(self, msg=None):
        self.log.append(("cancel", msg))
        if self._done:
            return False
        self._exc = asyncio.CancelledError() if msg is None else asyncio.CancelledError(msg)
        self._finish()
        return True

    def set_result(self, value):
        self._result = value
        self._finish()

    def set_exception(self, exc):
        self._exc = exc
        self._finish()

    def _finish(self):
        self._done = True
        callbacks, self._callbacks = self._callbacks, []
        for fn, ctx in callbacks:
            self._loop.call_soon(fn, self, context=ctx)

    def __await__(self):
        if not self._done:
            self._asyncio_future_blocking = True
            yield self
        return self.result()

    __iter__ = __await__
