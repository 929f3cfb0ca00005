"""One measurement in a fresh process: ``_child.py LOOP WORKLOAD SIZE``.

Run by bench/run.py, one process per (loop, workload, repetition), and by
bench/scaling.py and bench/instructions.py likewise.  Makes the loop,
optionally warms up on it with a small size, then times
``loop.run_until_complete(workload(size))`` with ``time.perf_counter`` (loop
creation excluded) and prints one JSON object on stdout.  ``--gc-off``
disables the garbage collector for the timed run.

LOOP ``asyncio_c+native`` is asyncio_c's loop with asyncio_c's native
gather/wait/wait_for/shield/sleep patched into asyncio first
(asyncio_c._patch.patch(), what ``asyncio_c.install(patch=True)`` does), so
that the workloads' ``asyncio.gather(...)`` etc. call them; ``asyncio_c`` is
the same loop with asyncio's own functions.
"""
import argparse
import asyncio
import gc
import json
import os
import sys
import time
import types

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)                       # workloads
sys.path.insert(1, os.path.dirname(_HERE))      # the asyncio_c package

import workloads  # noqa: E402

LOOPS = ("asyncio", "uvloop", "asyncio_c", "asyncio_c+native")
NATIVE = "asyncio_c+native"


def make_loop(name):
    """Return (new loop, facts about it that the runner reports)."""
    facts = {}
    if name == NATIVE:
        # asyncio_c's loop, and the native combinators in place of asyncio's
        from asyncio_c import _patch
        facts["native"] = list(_patch.patch())
        facts["patched"] = _patch.patched_places()
        loop, more = make_loop("asyncio_c")
        more.update(facts)
        return loop, more
    if name == "asyncio":
        loop = asyncio.new_event_loop()
    elif name == "uvloop":
        import uvloop
        loop = uvloop.new_event_loop()
        facts["uvloop_version"] = uvloop.__version__
    elif name == "asyncio_c":
        import asyncio_c
        loop = asyncio_c.new_event_loop()
        # The stand-in (ASYNCIO_C_STANDIN=1, extension not built) is a class
        # holding asyncio's own C types, not the _core extension module.
        facts["standin"] = not isinstance(asyncio_c._core, types.ModuleType)
        facts["core_file"] = getattr(asyncio_c._core, "__file__", None)
        try:
            from asyncio_c import _patch
            facts["natives_available"] = list(_patch.natives())
        except ImportError:                     # an older checkout
            facts["natives_available"] = []
        core_loop = getattr(asyncio_c._core, "Loop", None)
        facts["c_loop"] = (isinstance(core_loop, type)
                           and isinstance(loop, core_loop))
        if facts["c_loop"]:
            # The C core and the first pure-Python class after it in the
            # MRO (what the rest of the loop is inherited from).
            mro = type(loop).__mro__
            i = mro.index(core_loop)
            facts["core_loop_type"] = _qualname(core_loop)
            mst = getattr(type(loop), "_make_socket_transport", None)
            facts["c_transports"] = (
                getattr(mst, "__module__", "") == "asyncio_c._loop"
                and hasattr(asyncio_c._core, "SocketTransport"))
            facts["python_base"] = next(
                (_qualname(c) for c in mro[i + 1:]
                 if c.__module__.startswith("asyncio.")), None)
    else:
        raise SystemExit(f"unknown loop {name!r}; one of {LOOPS}")
    fut = loop.create_future()
    coro = workloads._noop()
    task = loop.create_task(coro)
    loop.run_until_complete(task)
    fut.cancel()
    facts.update(
        loop_type=_qualname(type(loop)),
        future_type=_qualname(type(fut)),
        task_type=_qualname(type(task)),
        base_event_loop=isinstance(loop, asyncio.BaseEventLoop),
    )
    return loop, facts


def _qualname(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("loop", choices=LOOPS)
    p.add_argument("workload", nargs="?", choices=sorted(workloads.ALL))
    p.add_argument("size", nargs="?", type=int)
    p.add_argument("--probe", action="store_true",
                   help="only make the loop and print what it is")
    p.add_argument("--no-warmup", dest="warmup", action="store_false",
                   help="skip the untimed run (workload's quick size) that "
                        "precedes the timed one on the same loop")
    p.add_argument("--gc-off", action="store_true",
                   help="disable the garbage collector for the timed run")
    args = p.parse_args(argv)
    if args.probe:
        loop, facts = make_loop(args.loop)
        loop.close()
        facts.update(loop=args.loop, python=sys.version.split()[0])
        print(json.dumps(facts))
        return
    if args.workload is None or args.size is None:
        p.error("workload and size are required (unless --probe)")
    wl = workloads.ALL[args.workload]

    loop, facts = make_loop(args.loop)
    try:
        if args.warmup and wl.warmup:
            loop.run_until_complete(wl.func(wl.quick_size))
        gc.collect()
        if args.gc_off:
            gc.disable()
        t0 = time.perf_counter()
        res = loop.run_until_complete(wl.func(args.size))
        t1 = time.perf_counter()
    finally:
        loop.close()

    if isinstance(res, (workloads.Elapsed, workloads.Bytes)):
        raw = float(res)
    elif res is None:
        raw = t1 - t0
    else:
        raise TypeError(f"workload {wl.name} returned {res!r}")
    ops = wl.ops(args.size)
    out = dict(
        loop=args.loop,
        workload=wl.name,
        size=args.size,
        ops=ops,
        kind=wl.kind,
        raw=raw,                            # seconds, or bytes for memory
        value=raw / ops * wl.scale,         # in `unit`
        unit=wl.unit,
        wall=t1 - t0,
        gc=not args.gc_off,
        python=sys.version.split()[0],
        **facts,
    )
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
