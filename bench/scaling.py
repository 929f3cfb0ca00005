#!/usr/bin/env python3
"""Scaling: cost per operation at 1k, 10k, 100k and 1M, asyncio vs uvloop vs asyncio_c.

    python bench/scaling.py                  # full run, ~3-4 min on 2 cores
    python bench/scaling.py --quick          # smoke test: 1k and 10k, 1 rep
    python bench/scaling.py --ops tasks,timers --sizes 1k,1M --reps 1
    python bench/scaling.py --png docs/scaling-3.11.png --json bench/results/scaling-3.11.json

Operations (bench/workloads.py, SCALING), all n objects alive at once:

  tasks         create n tasks awaiting one shared future, set it, all n done
                (workload spawn_run); ns/task
  gather        asyncio.gather of n trivial coroutines (workload gather); ns/task
  timers        n call_later with distinct delays spread over the last 1 ms
                (shuffled; all due at once), until all fired (workload
                timers_due; run.py's timers, whose delays are 0-1 ms ahead,
                would add 1 ms of waiting, 1 us per timer at 1k); ns/timer
  timer_cancel  n call_later(60), then cancel() on each, then one loop
                iteration (workload timer_cancel_all); ns/pair

Every (operation, n, loop, repetition) runs in a fresh child process
(bench/_child.py, as bench/run.py does), repetitions interleaved.  The table
shows the median per size and the ratio of the largest size's cost to the
smallest's: "flat" when it is within 1.5x.  A PNG chart (ns/op against n, log
x, a panel per operation, a line per loop) is written unless --no-png.
"""
import argparse
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import _chart  # noqa: E402
import run as _run  # noqa: E402  (children, machine info, probes, formatting)
import workloads  # noqa: E402

LOOPS = ("asyncio", "uvloop", "asyncio_c")
FLAT = 1.5              # largest n's cost / smallest n's within this: "flat"
BIG = 1_000_000         # sizes from here on get --big-reps repetitions


def parse_size(text):
    t = text.strip().lower().replace("_", "").replace(",", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    return int(float(t.rstrip("km")) * mult)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--ops", metavar="OP[,OP]", default=",".join(
        workloads.SCALING), help="operations (default: all)")
    p.add_argument("--sizes", metavar="N[,N]", default=",".join(
        _chart._size_label(n) for n in workloads.SCALING_SIZES),
        help="sizes, 1k/1M/1000 forms (default 1k,10k,100k,1M)")
    p.add_argument("--loops", metavar="LOOP[,LOOP]", default=",".join(LOOPS),
                   help=f"loops (default {','.join(LOOPS)})")
    p.add_argument("--reps", type=int, default=3,
                   help="repetitions below 1M (default 3)")
    p.add_argument("--big-reps", type=int, default=1,
                   help="repetitions at 1M and above (default 1: ~100 s each)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: sizes 1k,10k, 1 repetition, no warm-up")
    p.add_argument("--gc-off", action="store_true",
                   help="disable the garbage collector in the timed runs")
    p.add_argument("--png", metavar="FILE",
                   help="chart (default bench/results/scaling-X.Y.png)")
    p.add_argument("--no-png", action="store_true", help="write no chart")
    p.add_argument("--json", metavar="FILE", help="also save the results here")
    p.add_argument("--timeout", type=float, default=300,
                   help="seconds before a child is given up (default 300)")
    args = p.parse_args(argv)
    args.op_list = [o.strip() for o in args.ops.split(",") if o.strip()]
    bad = [o for o in args.op_list if o not in workloads.SCALING]
    if bad or not args.op_list:
        p.error(f"--ops: choose from {', '.join(workloads.SCALING)}")
    try:
        args.size_list = sorted({parse_size(s) for s in args.sizes.split(",")
                                 if s.strip()})
    except ValueError:
        p.error(f"--sizes: bad size in {args.sizes!r}")
    if args.quick:
        args.size_list = [1_000, 10_000]
        args.reps = args.big_reps = 1
    if not args.size_list or min(args.size_list) < 1:
        p.error("--sizes: at least one size, each at least 1")
    if args.reps < 1 or args.big_reps < 1:
        p.error("--reps and --big-reps must be at least 1")
    args.loop_list = _run.pick_loops(p, args.loops, LOOPS)
    return args


def reps_for(args, n):
    return args.big_reps if n >= BIG else args.reps


def render(args, loops, medians, spreads, skipped):
    """One row per operation and loop: the median per size, then the
    largest size's over the smallest's."""
    sizes = args.size_list
    lo, hi = sizes[0], sizes[-1]
    span = f"{_chart._size_label(hi)}/{_chart._size_label(lo)}"
    head = ["operation", "unit", "loop"] + [_chart._size_label(n)
                                           for n in sizes] + [span, ""]
    rows = [head]
    for op in args.op_list:
        unit = workloads.SCALING[op].unit
        for i, lp in enumerate(loops):
            row = [op if i == 0 else "", unit if i == 0 else "", lp]
            for n in sizes:
                if lp in skipped:
                    row.append("n/a")
                elif (op, lp, n) in medians:
                    txt = _run.fmt_value(medians[op, lp, n])
                    if (op, lp, n) in spreads:
                        txt += f" ±{spreads[op, lp, n]:.0f}%"
                    row.append(txt)
                else:
                    row.append("ERR")
            a, b = medians.get((op, lp, lo)), medians.get((op, lp, hi))
            if a and b and hi > lo:
                r = b / a
                row += [f"{r:.2f}x", "flat" if r <= FLAT else "NOT flat"]
            else:
                row += ["n/a", ""]
            rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for k, r in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(r[:3], widths[:3])]
        cells += [c.rjust(w) for c, w in zip(r[3:-1], widths[3:-1])]
        cells.append(r[-1])
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    info = _run.print_machine()
    facts, skipped = _run.probe_loops(args.loop_list, args.timeout)
    loops = args.loop_list
    runnable = [lp for lp in loops if lp not in skipped]
    print(f"{args.reps} repetition(s) below 1M, {args.big_reps} at 1M and "
          f"above, one process each; garbage collector "
          f"{'OFF' if args.gc_off else 'on'}"
          f"{', QUICK (smoke test)' if args.quick else ''}; medians shown\n",
          flush=True)

    results = {(op, n): {lp: {"samples": [], "errors": [], "runs": []}
                         for lp in runnable}
               for op in args.op_list for n in args.size_list}
    plan = [(rep, op, n, lp)
            for rep in range(max(args.reps, args.big_reps))
            for op in args.op_list for n in args.size_list
            if rep < reps_for(args, n) for lp in runnable]
    tty = sys.stderr.isatty()
    for k, (rep, op, n, lp) in enumerate(plan, 1):
        wl = workloads.SCALING[op]
        if tty:
            print(f"\r[{k}/{len(plan)}] rep {rep + 1} {op} "
                  f"{_chart._size_label(n)} {lp}".ljust(60), end="",
                  file=sys.stderr, flush=True)
        cargs = [lp, wl.name, str(n)]
        if args.quick:
            cargs.append("--no-warmup")
        if args.gc_off:
            cargs.append("--gc-off")
        out, err = _run.run_child(cargs, args.timeout)
        r = results[op, n][lp]
        if err:
            r["errors"].append(err)
            print(f"\n{op} n={n} on {lp} failed: {err}", file=sys.stderr,
                  flush=True)
        else:
            r["samples"].append(out["value"])
            r["runs"].append(out)
    if tty:
        print("\r".ljust(61) + "\r", end="", file=sys.stderr, flush=True)

    medians, spreads = {}, {}
    for (op, n), per in results.items():
        for lp, r in per.items():
            if r["samples"]:
                s = _run.summarize(r["samples"])
                medians[op, lp, n] = s["median"]
                if len(r["samples"]) > 1:
                    spreads[op, lp, n] = s["spread_pct"]
    print(render(args, loops, medians, spreads, skipped))
    print()
    notes = [f"Cost per operation (median); the last columns: the cost at "
             f"the largest n over the smallest, 'flat' within {FLAT:g}x."]
    if spreads:
        notes.append("±: half the min..max range of the repetitions, in % "
                     "of the median.")
    if not args.gc_off:
        notes.append("The garbage collector is on (as in bench/run.py): its "
                     "full collections over all live objects are part of "
                     "the cost at large n (--gc-off to see without).")
    keyed = {f"{op} n={n}": per for (op, n), per in results.items()}
    load, errors = _run.run_notes(notes, keyed, skipped, info, "timings")
    elapsed = time.monotonic() - started
    notes.append(f"Total time {elapsed:.0f} s.")
    print("\n".join(notes))

    if not args.no_png:
        path = args.png or _run.default_png("scaling")
        reps = (f"{args.reps}" if args.reps == args.big_reps
                or max(args.size_list) < BIG
                else f"{args.reps} (1M: {args.big_reps})")
        _chart.scaling_chart(
            path, args.op_list, args.size_list, runnable, medians,
            {op: workloads.SCALING[op].unit for op in args.op_list}, info,
            reps=reps, gc_off=args.gc_off)
    if args.json:
        doc = dict(
            machine=info, loadavg_end=load, reps=args.reps,
            big_reps=args.big_reps, quick=args.quick, gc=not args.gc_off,
            elapsed_s=elapsed, sizes=args.size_list,
            loops={lp: facts.get(lp, {"error": skipped.get(lp)})
                   for lp in loops},
            operations={op: dict(workload=workloads.SCALING[op].name,
                                 unit=workloads.SCALING[op].unit,
                                 doc=workloads.SCALING[op].doc)
                        for op in args.op_list},
            results={op: {lp: {str(n): dict(
                _run.summarize(results[op, n][lp]["samples"])
                if results[op, n][lp]["samples"] else {},
                errors=results[op, n][lp]["errors"])
                for n in args.size_list} for lp in runnable}
                for op in args.op_list},
        )
        _run.save_json(args.json, doc)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
