"""Huge, negative, infinite and NaN delays and deadlines, on asyncio's loop and asyncio_c's.

call_later / call_at / sleep / wait_for / wait / asyncio.timeout, and asyncio_c's sleep,
wait_for and wait, with 1e300, -1e300, -1, inf, -inf, 2**63, sys.maxsize, 2**100: no
crash, no C overflow (the poller's int milliseconds), and the same outcome as asyncio's
own functions on asyncio's own loop of this interpreter.

NaN is where asyncio itself misbehaves: its loop accepts a NaN deadline, which then
compares false with everything (asyncio.sleep(nan) never ends on 3.11/3.12, 3.13 refuses
it with ValueError; asyncio.wait_for(x, nan) and asyncio.timeout(nan) time out at once).
asyncio_c's loop refuses a NaN deadline with ValueError everywhere (the sane choice, the
one asyncio 3.13 made for sleep), so on asyncio_c's loop every NaN case raises ValueError.
"""
import asyncio
import math
import sys

import pytest

import asyncio_c
from _loop_helpers import ASYNCIO, ASYNCIO_C

VALUES = [1e300, -1e300, -1, math.inf, -math.inf, 2**63, sys.maxsize, 2**100, math.nan]
IDS = ["1e300", "-1e300", "-1", "inf", "-inf", "2**63", "maxsize", "2**100", "nan"]


def noop():
    pass


def outcome(loop, kind, fn, v):
    async def go():
        if kind == "call_later" or kind == "call_at":
            h = getattr(loop, kind)(v, noop)
            await asyncio.sleep(0.01)
            h.cancel()
            return "ok"
        if kind == "sleep":
            # bounded: a sleep that never ends is seen as TimeoutError
            return await asyncio.wait_for(fn(v, "r"), 0.05)
        if kind == "wait_for":
            c = asyncio.sleep(0.01, "r")
            try:
                return await fn(c, v)
            finally:
                c.close()       # refused before it was awaited (NaN on asyncio_c)
        if kind == "wait":
            done, pending = await fn([asyncio.ensure_future(asyncio.sleep(0.01, "r"))],
                                     timeout=v)
            for p in pending:
                p.cancel()
            return len(done)
        if kind == "timeout":
            async with asyncio.timeout(v):
                return await asyncio.sleep(0.01, "r")
        raise AssertionError(kind)
    try:
        return loop.run_until_complete(go())
    except Exception as e:
        return type(e).__name__


CASES = [("call_later", None), ("call_at", None), ("sleep", asyncio.sleep),
         ("wait_for", asyncio.wait_for), ("wait", asyncio.wait), ("timeout", None),
         ("sleep", asyncio_c.sleep), ("wait_for", asyncio_c.wait_for),
         ("wait", asyncio_c.wait)]
CASE_IDS = ["call_later", "call_at", "asyncio.sleep", "asyncio.wait_for", "asyncio.wait",
            "asyncio.timeout", "asyncio_c.sleep", "asyncio_c.wait_for", "asyncio_c.wait"]
ORACLE = {"sleep": asyncio.sleep, "wait_for": asyncio.wait_for, "wait": asyncio.wait}


@pytest.mark.parametrize("v", VALUES, ids=IDS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_extreme_delay(case, v):
    kind, fn = case
    aloop, cloop = ASYNCIO.new_loop(), ASYNCIO_C.new_loop()
    try:
        want = outcome(aloop, kind, ORACLE.get(kind), v)   # asyncio's on asyncio's loop
        got = outcome(cloop, kind, fn, v)
        if isinstance(v, float) and math.isnan(v):
            assert got == "ValueError", got
        else:
            assert got == want, (got, want)
        # the loop keeps serving
        assert cloop.run_until_complete(asyncio.sleep(0, "alive")) == "alive"
    finally:
        aloop.close()
        cloop.close()
