"""Entry points: new_event_loop, run, the event loop policy, task factories.

The loop is Loop: the C core in _core.Loop under asyncio's unix selector
loop (see its docstring and docs/architecture.md).
"""
import asyncio
import sys

from . import _core, _handles

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


class Loop(_core.Loop, asyncio.unix_events.SelectorEventLoop):
    """asyncio_c's event loop.

    Scheduling (call_soon/call_later/call_at, the ready queue, the timer
    heap), polling (epoll, add_reader/add_writer), one iteration of the loop,
    create_future and create_task are C (_core.Loop).  The rest is asyncio's
    own unix selector loop running on that core, until each part is native.
    """

    def close(self):
        super().close()
        self._ac_close()

    def _ac_slow_callback(self, handle, dt):
        asyncio.log.logger.warning(
            'Executing %s took %.3f seconds', _handles.format_handle(handle), dt)


_core._set_loop_class(Loop)


def new_event_loop():
    """A new asyncio_c event loop."""
    return Loop()


def run(main, *, debug=None):
    """asyncio.run(main) on an asyncio_c loop."""
    if asyncio.events._get_running_loop() is not None:
        raise RuntimeError(
            "asyncio.run() cannot be called from a running event loop")
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """Event loop policy whose loops are asyncio_c's."""

    def new_event_loop(self):
        return new_event_loop()


def install(patch=False):
    """Make asyncio_c the loop of asyncio.run() & co. (sets the policy).

    With patch=True, also replace asyncio.gather/wait/wait_for/shield/sleep by asyncio_c's
    native functions (asyncio_c._patch.patch(); undo with asyncio_c._patch.unpatch()).
    """
    asyncio.set_event_loop_policy(EventLoopPolicy())
    if patch:
        from . import _patch
        _patch.patch()
