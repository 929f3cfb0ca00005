#!/usr/bin/env python3
"""Instructions per operation under valgrind's callgrind: asyncio vs uvloop vs asyncio_c.

    python bench/instructions.py                         # ~3-5 min on 2 cores
    python bench/instructions.py --only sleep0,coro_send --loops asyncio_c
    python bench/instructions.py --callgrind-out bench/results/cg   # keep the profiles
    python bench/instructions.py --scale 2 --json bench/results/instr-3.11.json

Timings on a shared machine are noisy and this one has no hardware
performance counters; callgrind counts the instructions a process executes,
which does not depend on the load.  Every (workload, loop) runs bench/_child.py
under ``valgrind --tool=callgrind`` twice, at sizes n and 2n (no warm-up,
PYTHONHASHSEED=0; gather_tree, whose size is a depth, at n and n + 1), and
the table shows

    (I(2n) - I(n)) / (ops(2n) - ops(n))

instructions per operation: the interpreter's start-up, the imports, making
the loop and everything else done once cancel out.  n is the workload's quick
size (bench/workloads.py) times --scale.  Columns and ratios as in
bench/run.py (above 1x: asyncio_c executes fewer instructions), and the floor
line relates a sleep(0) step to a bare coroutine send() (coro_send).  With
--callgrind-out DIR the callgrind.out files stay in DIR, named
WORKLOAD.LOOP.N.out, for ``callgrind_annotate``.  Not part of ``make main``
(too slow); ``make instructions`` runs it.
"""
import argparse
import concurrent.futures
import os
import shutil
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import run as _run  # noqa: E402  (children, machine info, probes, table)
import workloads  # noqa: E402

DEFAULT = ("sleep0", "sleep0_native", "create_task", "future_pingpong",
           "call_soon", "timers", "gather", "coro_send")
UNIT = "instr/op"


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--only", metavar="NAME[,NAME]", default=",".join(DEFAULT),
                   help=f"workloads (default {','.join(DEFAULT)}; any of "
                        "bench/run.py's)")
    p.add_argument("--loops", metavar="LOOP[,LOOP]",
                   default=",".join(_run.LOOPS),
                   help=f"loops (default {','.join(_run.LOOPS)})")
    p.add_argument("--scale", type=float, default=1.0,
                   help="n = the workload's quick size times this (default 1)")
    p.add_argument("--jobs", type=int, default=2,
                   help="children under valgrind at once (default 2)")
    p.add_argument("--callgrind-out", metavar="DIR",
                   help="keep the callgrind.out files here")
    p.add_argument("--valgrind", default="valgrind",
                   help="the valgrind command (default: valgrind on PATH)")
    p.add_argument("--json", metavar="FILE", help="also save the results here")
    p.add_argument("--timeout", type=float, default=600,
                   help="seconds before a child is given up (default 600)")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    bad = [n for n in names if n not in workloads.WORKLOADS]
    if bad or not names:
        p.error(f"unknown workload(s) {', '.join(bad)}; choose from "
                f"{', '.join(workloads.WORKLOADS)}")
    args.selected = [workloads.WORKLOADS[n] for n in workloads.WORKLOADS
                     if n in names]
    args.loop_list = _run.pick_loops(p, args.loops)
    if args.scale <= 0 or args.jobs < 1:
        p.error("--scale must be positive and --jobs at least 1")
    return args


def read_total(path):
    """The instruction count of a callgrind.out file (its summary line)."""
    total = None
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    if total is None:
        raise ValueError(f"no summary line in {path}")
    return total


def second_size(wl, n):
    """The size the second profile runs at: 2n, or for a workload whose
    operations grow faster than its size (gather_tree's size is a depth) the
    smallest size with at least twice n's operations."""
    if wl.ops(2 * n) <= 4 * wl.ops(n):
        return 2 * n
    m = n + 1
    while wl.ops(m) < 2 * wl.ops(n):
        m += 1
    return m


def measure(args, outdir, wl, lp, n):
    """Run one child under callgrind; return (instructions, error)."""
    out = os.path.join(outdir, f"{wl.name}.{lp}.{n}.out")
    prefix = [args.valgrind, "--tool=callgrind", "--quiet",
              f"--callgrind-out-file={out}"]
    env = dict(os.environ, PYTHONHASHSEED="0")
    res, err = _run.run_child([lp, wl.name, str(n), "--no-warmup"],
                              args.timeout, prefix=prefix, env=env)
    if err:
        return None, err
    try:
        return read_total(out), None
    except (OSError, ValueError) as exc:
        return None, str(exc)


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    if shutil.which(args.valgrind) is None:
        print(f"!!!!!!!! {args.valgrind} not found: install valgrind "
              f"(apt-get install valgrind) !!!!!!!!", file=sys.stderr)
        return 2
    info = _run.print_machine()
    loops = args.loop_list
    facts, skipped = _run.probe_loops(loops, 120)
    runnable = [lp for lp in loops if lp not in skipped]
    sizes = {w.name: max(1, round(w.quick_size * args.scale))
             for w in args.selected}
    larger = {w.name: second_size(w, sizes[w.name]) for w in args.selected}
    print(f"valgrind --tool=callgrind, each workload at n and 2n (n shown; "
          f"a depth: n and n + 1), "
          f"no warm-up, PYTHONHASHSEED=0; {UNIT} = (I(2n) - I(n)) / "
          f"(ops(2n) - ops(n))\n", flush=True)

    # coro_send uses no loop and its count is the same in every child: it
    # runs once, in the first loop's child, and is shown in every column.
    def columns(wl):
        if wl.name == _run.FLOOR:
            return runnable[:1]
        return [lp for lp in runnable if lp != _run.NATIVE or wl.native]

    jobs = [(wl, lp, m) for wl in args.selected for lp in columns(wl)
            for m in (sizes[wl.name], larger[wl.name])]
    counts, errors = {}, {}
    tmp = None
    outdir = args.callgrind_out
    if outdir:
        os.makedirs(outdir, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-callgrind-")
        outdir = tmp.name
    tty = sys.stderr.isatty()
    try:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futs = {pool.submit(measure, args, outdir, *job): job
                    for job in jobs}
            for k, fut in enumerate(concurrent.futures.as_completed(futs), 1):
                wl, lp, n = futs[fut]
                count, err = fut.result()
                if err:
                    errors[wl.name, lp] = err
                    print(f"\n{wl.name} n={n} on {lp} failed: {err}",
                          file=sys.stderr, flush=True)
                else:
                    counts[wl.name, lp, n] = count
                if tty:
                    print(f"\r[{k}/{len(jobs)}] {wl.name} {lp} n={n}"
                          .ljust(60), end="", file=sys.stderr, flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    if tty:
        print("\r".ljust(61) + "\r", end="", file=sys.stderr, flush=True)

    results = {}
    for wl in args.selected:
        n = sizes[wl.name]
        per = results[wl.name] = {}
        for lp in columns(wl):
            r = per[lp] = {"samples": [], "errors": [], "runs": []}
            m = larger[wl.name]
            a, b = counts.get((wl.name, lp, n)), counts.get((wl.name, lp, m))
            if a is not None and b is not None:
                r["samples"].append((b - a) / (wl.ops(m) - wl.ops(n)))
                r["runs"] = [{"n": n, "instructions": a},
                             {"n": m, "instructions": b}]
            elif (wl.name, lp) in errors:
                r["errors"].append(errors[wl.name, lp])
    shown = [wl._replace(unit=UNIT) for wl in args.selected]
    table = dict(results)
    if results.get(_run.FLOOR):
        (once,) = results[_run.FLOOR].values()
        table[_run.FLOOR] = {lp: once for lp in runnable
                             if lp != _run.NATIVE}
    print(_run.render_table(shown, loops, table, sizes, skipped))
    floor = _run.floor_note(results, "instr/step", judge=False)
    if floor:
        print(floor)
    print()
    notes = [f"X/{_run.REF}: X's instructions per operation over "
             f"{_run.REF}'s; above 1x means {_run.REF} executes fewer."]
    if _run.NATIVE in runnable:
        notes.append(f"{_run.NATIVE}: asyncio_c's native combinators patched "
                     "into asyncio (see bench/README.md); '-': the workload "
                     "calls no combinator.")
    notes.append("Counts include everything the process executes in user "
                 "space per operation (the interpreter, the loop, the "
                 "garbage collector's share), not the kernel's work in "
                 "system calls (epoll_wait, ...).")
    if results.get(_run.FLOOR):
        notes.append(f"{_run.FLOOR} uses no loop: run once (in the "
                     f"{runnable[0]} child), its count shown in every "
                     "column.")
    if args.callgrind_out:
        notes.append(f"callgrind.out files in {args.callgrind_out} "
                     "(callgrind_annotate FILE).")
    _, errs = _run.run_notes(notes, results, skipped, info, None)
    elapsed = time.monotonic() - started
    notes.append(f"Total time {elapsed:.0f} s.")
    print("\n".join(notes))
    if args.json:
        _run.save_json(args.json, dict(
            machine=info, elapsed_s=elapsed, unit=UNIT, scale=args.scale,
            loops={lp: facts.get(lp, {"error": skipped.get(lp)})
                   for lp in loops},
            sizes=sizes, results=results, floor=floor))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
