# Types of the asyncio_c package (the names it exports; see _core.pyi,
# _loop.pyi and _patch.pyi for the definitions).
import sys

from . import _core as _core
from ._core import Future as Future
from ._core import Task as Task
from ._core import gather as gather
from ._core import shield as shield
from ._core import sleep as sleep
from ._core import wait as wait
from ._core import wait_for as wait_for
from ._loop import EventLoopPolicy as EventLoopPolicy
from ._loop import Loop as Loop
from ._loop import install as install
from ._loop import new_event_loop as new_event_loop
from ._loop import run as run
from ._loop import task_factory as task_factory
from ._patch import is_patched as is_patched
from ._patch import patch as patch
from ._patch import unpatch as unpatch

if sys.version_info >= (3, 12):
    from ._loop import create_eager_task_factory as create_eager_task_factory
    from ._loop import eager_task_factory as eager_task_factory

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
if sys.version_info >= (3, 12):
    __all__ += ["eager_task_factory", "create_eager_task_factory"]

__version__: str
