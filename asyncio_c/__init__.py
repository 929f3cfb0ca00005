"""asyncio_c: asyncio's Future, Task and event loop implemented in C.

Use it like uvloop:

    asyncio_c.run(main())
    asyncio.run(main(), loop_factory=asyncio_c.new_event_loop)     # 3.12+
    with asyncio.Runner(loop_factory=asyncio_c.new_event_loop): ...
    asyncio_c.install()                                            # policy

"""
from . import _core

Future = _core.Future
Task = _core.Task
from ._core import gather, shield  # noqa: E402

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
    "Loop",
    "task_factory",
    "new_event_loop",
    "run",
    "EventLoopPolicy",
    "install",
]
try:
    from ._loop import eager_task_factory, create_eager_task_factory  # noqa: E402,F401
except ImportError:
    pass
else:
    __all__ += ["eager_task_factory", "create_eager_task_factory"]

__version__ = "0.1.0"
