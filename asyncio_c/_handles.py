"""Reprs of asyncio_c's C Handle and TimerHandle, shaped like asyncio's."""
from asyncio import format_helpers


def _repr_info(handle):
    info = [type(handle).__name__]
    if handle._cancelled:
        info.append('cancelled')
    if hasattr(handle, '_when'):
        info.insert(2 if handle._cancelled else 1, f'when={handle._when}')
    if handle._callback is not None:
        info.append(format_helpers._format_callback_source(
            handle._callback, handle._args))
    tb = handle._source_traceback
    if tb:
        frame = tb[-1]
        info.append(f'created at {frame[0]}:{frame[1]}')
    return info


def handle_repr(handle):
    return '<{}>'.format(' '.join(_repr_info(handle)))
