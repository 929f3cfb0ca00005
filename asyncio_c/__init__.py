"""asyncio_c: asyncio's Future, Task and event loop implemented in C.

Use it like uvloop:

    asyncio_c.run(main())
    asyncio.run(main(), loop_factory=asyncio_c.new_event_loop)     # 3.12+
    with asyncio.Runner(loop_factory=asyncio_c.new_event_loop): ...
    asyncio_c.install()                                            # policy

Native combinators: asyncio_c.gather / wait / wait_for / shield / sleep
behave as the running version's asyncio functions; asyncio_c.patch() (or
install(patch=True), or `python -m asyncio_c --patch script.py`) makes
asyncio's own names use them, asyncio_c.unpatch() undoes it.
"""
from . import _core
from . import _alltasks  # noqa: F401,E402  (all_tasks() sees our tasks)

Future = _core.Future
Task = _core.Task
gather = _core.gather
shield = _core.shield
sleep = _core.sleep
wait = _core.wait
wait_for = _core.wait_for

from ._patch import is_patched, patch, unpatch  # noqa: E402
from ._loop import (  # noqa: E402
    EventLoopPolicy,
    Loop,
    install,
    new_event_loop,
    run,
    task_factory,
)

__all__ = [
    "Future",
    "Task",
    "gather",
    "shield",
    "sleep",
    "wait",
    "wait_for",
    "Loop",
    "task_factory",
    "new_event_loop",
    "run",
    "EventLoopPolicy",
    "install",
    "patch",
    "unpatch",
    "is_patched",
]
try:
    from ._loop import eager_task_factory, create_eager_task_factory  # noqa: E402,F401
except ImportError:
    pass
else:
    __all__ += ["eager_task_factory", "create_eager_task_factory"]

__version__ = "0.1.0"
