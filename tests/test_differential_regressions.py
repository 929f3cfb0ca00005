"""Divergences from asyncio found by tests/test_differential.py, as explicit programs.

Each program is the shrunk one hypothesis printed; check() runs it on asyncio (the oracle) and
on asyncio_c's loop with asyncio's and with the native combinators, and the traces must be
equal.  Every case failed before the fix named in its docstring.
"""
import pytest

from _diffprog import NEVER, PY, Program, check  # noqa: F401

