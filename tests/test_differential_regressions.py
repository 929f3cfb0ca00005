"""Divergences from asyncio found by tests/test_differential.py, as explicit programs.

Each program is the shrunk one hypothesis printed; check() runs it on asyncio (the oracle) and
on asyncio_c's loop with asyncio's and with the native combinators, and the traces must be
equal.  Every case failed before the fix named in its docstring.
"""
import pytest

from _diffprog import NEVER, PY, Program, check  # noqa: F401


def test_native_await_of_future_left_blocking():
    """T2 awaits itself (RuntimeError, and asyncio leaves T2's _asyncio_future_blocking set);
    T1's wait_for(T2) then awaits T2: asyncio's Future refuses ("await wasn't used with
    future").  The native wait_for awaited T2 through the inlined await of src/coro.c
    (coro_resume), which did not check the flag, and waited for T2 to finish instead."""
    check(Program(
        bodies=[
            [],
            [('try', [('wait_for', ('T', 2), None)], 'log')],
            [('uncancel', 1), ('await', ('T', 2))],
        ],
        nfut=0,
        main=[('spawn', 2)],
        eager=False,
    ))
