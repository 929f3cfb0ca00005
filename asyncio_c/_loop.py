"""Entry points: new_event_loop, run, the event loop policy, task factories.

Interim (foundation issue): the loop is asyncio's own selector loop, with our
C Future from create_future() and our C Task from create_task().  The loop
issue replaces _StockLoop with the C loop; the entry points stay.
"""
import asyncio
import sys

from . import _core

_Future = _core.Future
_Task = _core.Task


def task_factory(loop, coro, **kwargs):
    """A task factory for any asyncio loop: loop.set_task_factory(task_factory)."""
    return _Task(coro, loop=loop, **kwargs)


if sys.version_info >= (3, 12):

    def create_eager_task_factory(custom_task_constructor=_Task):
        def factory(loop, coro, *, name=None, context=None):
            return custom_task_constructor(
                coro, loop=loop, name=name, context=context, eager_start=True)
        return factory

    eager_task_factory = create_eager_task_factory(_Task)


class _StockLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop, but its futures and tasks are asyncio_c's."""

    def create_future(self):
        return _Future(loop=self)

    def create_task(self, coro, *, name=None, context=None):
        if self._task_factory is not None:
            return super().create_task(coro, name=name, context=context)
        self._check_closed()
        task = _Task(coro, loop=self, name=name, context=context)
        if task._source_traceback:
            del task._source_traceback[-1]
        return task


def new_event_loop():
    """A new event loop running asyncio_c's Task and Future."""
    return _StockLoop()


def run(main, *, debug=None):
    """asyncio.run(main) on an asyncio_c loop."""
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """Event loop policy whose loops are asyncio_c's."""

    def new_event_loop(self):
        return new_event_loop()


def install():
    """Make asyncio_c the loop of asyncio.run() & co. (sets the policy)."""
    asyncio.set_event_loop_policy(EventLoopPolicy())
