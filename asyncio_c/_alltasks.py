"""asyncio.all_tasks() for our tasks.

asyncio keeps every task in a module-level WeakSet (asyncio.tasks._all_tasks
on 3.11, _scheduled_tasks on 3.12+): one weakref per task, made and dropped
by Python code.  Our Task keeps a registry of its own in C instead
(_core._live_tasks(): the tasks scheduled and not done), and at import this
module puts a view in place of asyncio's set that yields asyncio's own
entries and then ours.  asyncio's all_tasks() and anything else that
iterates the set sees both; add/discard and every other WeakSet method act
on asyncio's set as before (discard also takes one of our tasks out).
"""
import sys
from asyncio import tasks as _tasks

from . import _core

_NAME = "_all_tasks" if sys.version_info < (3, 12) else "_scheduled_tasks"
_live = _core._live_tasks
_forget = _core._forget_task


class TaskSetView:
    """asyncio's WeakSet of tasks, followed by asyncio_c's live tasks."""

    __slots__ = ("_ac_base",)

    def __init__(self, base):
        object.__setattr__(self, "_ac_base", base)

    def __iter__(self):
        # list() first: the WeakSet's own guard against changes while
        # iterating applies, as when asyncio lists it
        return iter(list(self._ac_base) + _live())

    def __len__(self):
        return len(self._ac_base) + len(_live())

    def __contains__(self, item):
        return item in self._ac_base or item in _live()

    def add(self, item):
        self._ac_base.add(item)

    def discard(self, item):
        self._ac_base.discard(item)
        _forget(item)

    def remove(self, item):
        if item in self._ac_base:
            self._ac_base.remove(item)
        elif item in _live():
            _forget(item)
        else:
            raise KeyError(item)

    def __getattr__(self, name):
        return getattr(self._ac_base, name)

    def __repr__(self):
        return f"<asyncio_c task set view of {self._ac_base!r}>"


def install():
    """Put the view in place of asyncio's set (once)."""
    base = getattr(_tasks, _NAME)
    if not isinstance(base, TaskSetView):
        setattr(_tasks, _NAME, TaskSetView(base))


install()
