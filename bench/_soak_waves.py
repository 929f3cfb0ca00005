"""Task waves for bench/soak.py: ``_soak_waves.py LOOP --waves W --size N``.

On the loop named (made by bench/_child.make_loop), W waves of N tasks each
are created and finished, every task made with ``loop.create_task`` so the
count is exact.  A wave is a mix, in rounds of ten tasks:

- 2 tasks doing a few ``asyncio.sleep(0)`` and returning a value;
- a waiter awaiting a fresh future and a setter resolving it after a
  ``sleep(0)`` (futures resolved by other tasks);
- a task gathering its own future with a sibling's result (``gather`` of
  a task and a future);
- 2 tasks awaiting a future that never resolves, cancelled by the wave
  (one of them before it ever ran);
- a task raising ``ValueError`` after a ``sleep(0)``;
- a task in ``asyncio.wait_for`` on a never-resolved future with a tiny
  timeout (a timer, a timeout, a cancellation inside);
- a task in ``asyncio.wait(FIRST_COMPLETED)`` over two futures, one set.

The wave gathers everything with ``return_exceptions=True`` and checks every
outcome (value, CancelledError, ValueError, TimeoutError).  After each wave
(after ``gc.collect()``) one JSON line is printed: RSS (VmRSS), open fds,
``len(asyncio.all_tasks())`` (the driver only, expected 1), the number of
objects the garbage collector tracks, ``sys.getallocatedblocks()``, the
bytes malloc() has out (bench/_soak_server.malloc_kib), and on
asyncio_c the length of ``asyncio_c._core._live_tasks()``.  A last line
``{"event": "end"}`` comes after the loop has finished the driver, with
``_live_tasks()`` then (expected 0) and the totals.
"""
import argparse
import asyncio
import gc
import json
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)                       # _child
sys.path.insert(1, os.path.dirname(_HERE))      # the asyncio_c package

from _child import make_loop  # noqa: E402
from _soak_server import malloc_kib, nfds, rss_kib  # noqa: E402

LOOPS = ("asyncio", "uvloop", "asyncio_c", "asyncio_c+native")
PER_ROUND = 10


def live_tasks():
    """len(asyncio_c._core._live_tasks()), or None off asyncio_c."""
    if "asyncio_c" not in sys.modules:
        return None
    core = sys.modules["asyncio_c"]._core
    fn = getattr(core, "_live_tasks", None)
    return len(fn()) if fn is not None else None


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def _sleeper(k):
    for _ in range(k):
        await asyncio.sleep(0)
    return k


async def _waiter(fut):
    return await fut


async def _setter(fut, value):
    await asyncio.sleep(0)
    fut.set_result(value)
    return value


async def _gatherer(fut, other):
    a, b = await asyncio.gather(fut, other)
    return a + b


async def _forever(fut):
    await fut


async def _raiser(i):
    await asyncio.sleep(0)
    raise ValueError(i)


async def _timeout(fut):
    await asyncio.wait_for(fut, 0.0005)


async def _first(f1, f2):
    done, pending = await asyncio.wait((f1, f2),
                                       return_when=asyncio.FIRST_COMPLETED)
    return len(done), len(pending)


async def wave(loop, n):
    """One wave of n tasks (n a multiple of PER_ROUND); returns the number
    of tasks made and a list of problems."""
    tasks, expect, cancel_later = [], [], []
    for i in range(n // PER_ROUND):
        ct = loop.create_task
        tasks.append(ct(_sleeper(1)))
        expect.append(1)
        tasks.append(ct(_sleeper(3)))
        expect.append(3)
        f = loop.create_future()
        tasks.append(ct(_waiter(f)))
        expect.append(i)
        setter = ct(_setter(f, i))
        tasks.append(setter)
        expect.append(i)
        g = loop.create_future()
        loop.call_soon(g.set_result, 1)
        tasks.append(ct(_gatherer(g, setter)))
        expect.append(i + 1)
        t = ct(_forever(loop.create_future()))
        tasks.append(t)
        expect.append(asyncio.CancelledError)
        cancel_later.append(t)
        t = ct(_forever(loop.create_future()))
        t.cancel()                      # before it ever ran
        tasks.append(t)
        expect.append(asyncio.CancelledError)
        tasks.append(ct(_raiser(i)))
        expect.append(ValueError)
        tasks.append(ct(_timeout(loop.create_future())))
        expect.append(asyncio.TimeoutError)
        f1, f2 = loop.create_future(), loop.create_future()
        loop.call_soon(f1.set_result, None)
        tasks.append(ct(_first(f1, f2)))
        expect.append((1, 1))
    await asyncio.sleep(0)
    for t in cancel_later:
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    problems = []
    for k, (r, e) in enumerate(zip(results, expect)):
        ok = (isinstance(r, e) if isinstance(e, type) else r == e)
        if not ok:
            problems.append(f"task {k}: {r!r}, expected {e!r}")
            if len(problems) >= 5:
                break
    if not all(t.done() for t in tasks):
        problems.append("a task is not done after gather")
    return len(tasks), problems


async def driver(loop, waves, size, t0):
    total = 0
    for w in range(1, waves + 1):
        made, problems = await wave(loop, size)
        total += made
        # One more step: this one runs inside the handle that woke the
        # driver, whose args hold the wave's gather future (and so the wave).
        await asyncio.sleep(0)
        gc.collect()
        emit(dict(event="wave", wave=w, tasks=made, total=total,
                  t=round(time.monotonic() - t0, 3), rss_kib=rss_kib(),
                  fds=nfds(), all_tasks=len(asyncio.all_tasks()),
                  live_tasks=live_tasks(), objects=len(gc.get_objects()),
                  blocks=sys.getallocatedblocks(), malloc_kib=malloc_kib(),
                  problems=problems))
    return total


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("loop", choices=LOOPS)
    p.add_argument("--waves", type=int, default=20)
    p.add_argument("--size", type=int, default=50_000,
                   help=f"tasks per wave (rounded down to a multiple of "
                        f"{PER_ROUND})")
    args = p.parse_args(argv)
    size = max(PER_ROUND, args.size // PER_ROUND * PER_ROUND)
    loop, facts = make_loop(args.loop)
    facts.update(loop=args.loop, python=sys.version.split()[0])
    gc.collect()
    emit(dict(event="start", rss_kib=rss_kib(), fds=nfds(),
              objects=len(gc.get_objects()), blocks=sys.getallocatedblocks(),
              malloc_kib=malloc_kib(),
              live_tasks=live_tasks(), size=size, **facts))
    t0 = time.monotonic()
    errors = []
    loop.set_exception_handler(
        lambda lp, ctx: errors.append(
            f"{ctx.get('message')} {ctx.get('exception')!r}"))
    try:
        asyncio.set_event_loop(loop)
        total = loop.run_until_complete(driver(loop, args.waves, size, t0))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    gc.collect()
    emit(dict(event="end", total=total, seconds=time.monotonic() - t0,
              live_tasks=live_tasks(), rss_kib=rss_kib(), fds=nfds(),
              objects=len(gc.get_objects()),
              blocks=sys.getallocatedblocks(), malloc_kib=malloc_kib(),
              errors=errors[:20]))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
