"""Opt-in patching: asyncio's combinators replaced by asyncio_c's native ones.

    asyncio_c._patch.patch()      # asyncio.gather & co. are now asyncio_c's
    asyncio_c._patch.unpatch()    # exactly as before
    asyncio_c.install(patch=True) # the event loop policy, and patch()
    python -m asyncio_c --patch script.py

NAMES are the functions concerned.  patch() looks each one up as asyncio_c._core.<name> at the
moment it is called and skips the ones the extension does not have (a partial build patches
what it can; a build without any patches nothing).  For each function found it replaces:

  * asyncio.tasks.<name>: asyncio's own modules that did `from . import tasks` look the
    function up there each time they call it, so they get ours from then on.  On 3.11-3.13
    these are base_events (tasks.gather in create_connection/getaddrinfo paths, tasks.sleep),
    runners (tasks.gather of the tasks left at the end of asyncio.run()), staggered
    (tasks.wait, tasks.wait_for in happy eyeballs), subprocess (tasks.gather in
    communicate()) and unix_events (tasks.sleep);
  * asyncio.<name>: what user code calls as asyncio.gather(...) (asyncio/__init__ copied it
    from tasks with `from .tasks import *`);
  * every other module of the asyncio package holding the same function under the same name,
    i.e. names bound with `from .tasks import <name>`: on 3.11-3.13 that is asyncio.streams'
    `sleep` (StreamWriter.drain's sleep(0)).  The asyncio modules are scanned for this at
    patch time, so the list follows the running version.

Not replaced (they keep asyncio's functions):

  * names bound before patch() outside the asyncio package: `from asyncio import sleep` in a
    user module, a default argument, a functools.partial(asyncio.sleep, ...), etc.  Patch
    early (python -m asyncio_c --patch, or install(patch=True) at start-up) to avoid these;
  * asyncio's other functions, even those that resemble the combinators: asyncio.as_completed,
    asyncio.timeout/timeout_at, asyncio.ensure_future, TaskGroup, and asyncio's Python-level
    helpers in tasks (_wait, _cancel_and_wait, ...).  On 3.12+ asyncio.wait_for itself is
    written with asyncio.timeout; if the native wait_for is present, asyncio.wait_for is ours
    and asyncio.timeout stays asyncio's;
  * modules of the asyncio package imported for the first time after patch() (none on Linux:
    `import asyncio` imports all of them).

unpatch() puts back exactly the objects patch() found, in every place it replaced one, whatever
they were (asyncio's functions, or someone else's replacement installed before).  patch() is
idempotent: while patched, calling it again changes nothing (call unpatch() first to re-patch,
e.g. after a rebuild).  Both are thread-safe with respect to each other.
"""
import asyncio
import sys
import threading

from asyncio import tasks as _tasks

__all__ = ["NAMES", "natives", "patch", "unpatch", "is_patched", "patched_names",
           "patched_places"]

# The functions of asyncio that asyncio_c may have a native version of.
NAMES = ("gather", "wait", "wait_for", "shield", "sleep")

_lock = threading.RLock()
_saved = None           # while patched: [(module, attribute, original object)] in patch order
_swapped = ()           # while patched: the names that were replaced


class _Missing:
    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()   # (an attribute that did not exist before patch(): deleted by unpatch())


def natives():
    """{name: asyncio_c's native function} for the NAMES this build of the extension has."""
    from . import _core
    found = {}
    for name in NAMES:
        fn = getattr(_core, name, None)
        if callable(fn):
            found[name] = fn
    return found


def _asyncio_modules():
    """asyncio and its submodules that are imported, tasks first (deterministic order)."""
    mods = [asyncio, _tasks]
    for modname in sorted(sys.modules):
        mod = sys.modules.get(modname)
        if (modname.startswith("asyncio.") and mod is not None
                and mod is not _tasks and mod not in mods):
            mods.append(mod)
    return mods


def patch():
    """Replace asyncio's gather/wait/wait_for/shield/sleep by asyncio_c's native ones.

    Returns the tuple of the names replaced (empty if the extension has none of them).
    Idempotent: while patched, returns the names already replaced and does nothing else.
    """
    global _saved, _swapped
    with _lock:
        if _saved is not None:
            return _swapped
        repl = natives()
        saved = []
        for name, native in repl.items():
            original = getattr(_tasks, name)
            for mod in _asyncio_modules():
                d = vars(mod)
                # asyncio and asyncio.tasks always; other asyncio modules only where they
                # bound this very function under this name (from .tasks import <name>).
                if mod is asyncio or mod is _tasks or (name in d and d[name] is original):
                    saved.append((mod, name, d.get(name, _MISSING)))
                    setattr(mod, name, native)
        _saved = saved
        _swapped = tuple(n for n in NAMES if n in repl)
        return _swapped


def unpatch():
    """Undo patch(): every replaced attribute gets back the object patch() found there.

    Returns True if something was patched, False if there was nothing to undo.
    """
    global _saved, _swapped
    with _lock:
        if _saved is None:
            return False
        for mod, name, original in reversed(_saved):
            if original is _MISSING:
                vars(mod).pop(name, None)
            else:
                setattr(mod, name, original)
        _saved = None
        _swapped = ()
        return True


def is_patched():
    """True between patch() and unpatch() (even if this build had nothing to replace)."""
    return _saved is not None


def patched_names():
    """The names patch() replaced (empty when not patched)."""
    return _swapped


def patched_places():
    """["asyncio.tasks.sleep", "asyncio.sleep", "asyncio.streams.sleep", ...] while patched."""
    with _lock:
        return [f"{mod.__name__}.{name}" for mod, name, _ in (_saved or ())]
