"""Reprs and callback formatting for asyncio_c's C Handle and TimerHandle,
shaped like asyncio's for the running version (not hot: kept in Python)."""
import asyncio
import inspect
from asyncio import format_helpers

# 3.13 shows a callback's arguments only in debug mode.
_HAS_DEBUG = 'debug' in inspect.signature(
    format_helpers._format_callback_source).parameters


def callback_source(callback, args, loop):
    if args is None:
        args = ()
    if _HAS_DEBUG:
        debug = loop is not None and loop.get_debug()
        return format_helpers._format_callback_source(callback, args,
                                                      debug=debug)
    return format_helpers._format_callback_source(callback, args)


def _repr_info(handle):
    info = [type(handle).__name__]
    if handle._cancelled:
        info.append('cancelled')
    if hasattr(handle, '_when'):
        info.insert(2 if handle._cancelled else 1, f'when={handle._when}')
    if handle._callback is not None:
        info.append(callback_source(handle._callback, handle._args,
                                    handle._loop))
    tb = handle._source_traceback
    if tb:
        frame = tb[-1]
        info.append(f'created at {frame[0]}:{frame[1]}')
    return info


def handle_repr(handle):
    return '<{}>'.format(' '.join(_repr_info(handle)))


def format_handle(handle):
    """asyncio's base_events._format_handle, knowing our Task too."""
    from . import _core
    owner = getattr(handle._callback, '__self__', None)
    if isinstance(owner, (asyncio.Task, _core.Task)):
        return repr(owner)
    return str(handle)
