#!/usr/bin/env python3
"""Side-by-side benchmarks: asyncio vs uvloop vs asyncio_c.

    python bench/run.py                      # full run, 5 repetitions
    python bench/run.py --reps 3 --only sleep0,gather
    python bench/run.py --quick --reps 1     # smoke test, well under 30 s
    python bench/run.py --json bench/results/3.11.json
    python bench/run.py --png docs/bench-3.11.png   # chart (default: bench/results/bench-3.11.png)

Every (loop, workload, repetition) runs in a fresh child process
(bench/_child.py) on this same interpreter, so no run inherits another's heap,
caches or loop.  The order is interleaved (each repetition runs every workload
on every loop in turn), so a machine that gets busier or quieter mid-run
affects all loops alike.  The table shows the median of the repetitions, its
spread (+-half the min..max range, in % of the median) and ratios
X/asyncio_c: above 1x means asyncio_c is faster (or smaller, for bytes/task).
A line under the table compares a sleep(0) step with the floor, coro_send (a
bare coroutine resumed with send()), and a PNG chart of the ratios is written
(matplotlib; skipped with a loud note if it is missing).

Times are per operation (see bench/workloads.py for what each one does and
for the memory method).  Speed is measured here, never in the unit tests.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import _chart  # noqa: E402
import workloads  # noqa: E402

CHILD = os.path.join(_HERE, "_child.py")
# asyncio_c+native: asyncio_c's loop with its native combinators patched into
# asyncio (see _child.py); only for the workloads flagged ``native``.
LOOPS = ("asyncio", "uvloop", "asyncio_c", "asyncio_c+native")
REF = "asyncio_c"
NATIVE = "asyncio_c+native"
REFS = (REF, NATIVE)            # the columns the ratios are taken against
SHORT = {REF: REF, NATIVE: "+native"}
FLOOR = "coro_send"             # the physical floor of a step, no loop
FLOOR_TARGET = 2.5              # issue #7: an asyncio_c.sleep step within 2.5x


# ----------------------------------------------------------------- machine

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return dict(
        python=sys.version.replace("\n", " "),
        executable=sys.executable,
        implementation=platform.python_implementation(),
        cpu=cpu_model(),
        cores=os.cpu_count(),
        usable_cores=usable,
        platform=platform.platform(),
        loadavg=os.getloadavg(),
        date=time.strftime("%Y-%m-%d %H:%M:%S %z"),
        standin_env=bool(os.environ.get("ASYNCIO_C_STANDIN")),
    )


# ---------------------------------------------------------------- children

def _tail(text, lines=6):
    return "\n".join(text.strip().splitlines()[-lines:])


def run_child(args, timeout, prefix=(), env=None):
    """Run bench/_child.py with args (under the command prefix, e.g.
    valgrind, and env if given); return (parsed JSON or None, error)."""
    cmd = [*prefix, sys.executable, CHILD, *args]
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True,
                            timeout=timeout, cwd=_HERE, env=env)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:g} s"
    if cp.returncode != 0:
        why = (f"killed by signal {-cp.returncode}" if cp.returncode < 0
               else f"exit status {cp.returncode}")
        return None, f"{why}: {_tail(cp.stderr) or '(no stderr)'}"
    try:
        return json.loads(cp.stdout.strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return None, f"bad output: {_tail(cp.stdout + cp.stderr)!r}"


def probe(loop, timeout):
    """Facts about a loop (or an error string if it cannot be made here)."""
    return run_child([loop, "--probe"], timeout)


# ------------------------------------------------------------------ report

def fmt_value(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def summarize(samples):
    med = statistics.median(samples)
    spread = (max(samples) - min(samples)) / 2 / med * 100 if med else 0.0
    return dict(median=med, min=min(samples), max=max(samples),
                spread_pct=spread, samples=samples)


def ratios(results):
    """{workload: {"X/asyncio_c": median(X) / median(asyncio_c),
    "X/asyncio_c+native": ...}} for X in asyncio, uvloop."""
    out = {}
    for name, per in results.items():
        for refname in REFS:
            ref = per.get(refname)
            if not ref or not ref["samples"]:
                continue
            m = statistics.median(ref["samples"])
            out.setdefault(name, {}).update(
                {f"{lp}/{refname}": statistics.median(r["samples"]) / m
                 for lp, r in per.items()
                 if lp not in REFS and r["samples"] and m})
    return out


def render_table(selected, loops, results, sizes, skipped):
    """Text table: one row per workload, median per loop, then the ratios."""
    others = [lp for lp in ("asyncio", "uvloop") if lp in loops]
    refs = [r for r in REFS if r in loops and r not in skipped]
    head = ["workload", "n", "unit"] + list(loops)
    for refname in refs:
        head += [f"{lp}/{SHORT[refname]}" for lp in others]
    rows = [head]
    for wl in selected:
        row = [wl.name, f"{wl.ops(sizes[wl.name]):,}", wl.unit]
        cell = {}
        for lp in loops:
            if lp in skipped:
                row.append("n/a")
                continue
            if lp == NATIVE and not wl.native:
                row.append("-")         # calls no combinator: as asyncio_c
                continue
            r = results[wl.name][lp]
            if r["samples"]:
                s = summarize(r["samples"])
                cell[lp] = s["median"]
                txt = fmt_value(s["median"])
                if len(r["samples"]) > 1:
                    txt += f" ±{s['spread_pct']:.0f}%"
                if r["errors"]:
                    txt += f" ({len(r['errors'])} err)"
                row.append(txt)
            else:
                row.append("ERR" if r["errors"] else "n/a")
        for refname in refs:
            for lp in others:
                if wl.name == FLOOR:
                    row.append("-")     # no loop: the ratio would be noise
                elif lp in cell and cell.get(refname):
                    row.append(f"{cell[lp] / cell[refname]:.2f}x")
                elif refname == NATIVE and not wl.native:
                    row.append("-")
                else:
                    row.append("n/a")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for i, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def floor_note(results, unit, judge=True):
    """The line under the table relating a sleep(0) step to the floor:
    sleep0_native on asyncio_c (asyncio_c.sleep) and sleep0 on every loop,
    over coro_send's median (all its runs together: it uses no loop, so every
    column measures the same thing).  judge: say whether issue #7's target
    (on time) is met.  None if those rows were not run."""
    pooled = [v for r in results.get(FLOOR, {}).values() for v in r["samples"]]
    if not pooled:
        return None
    floor = statistics.median(pooled)
    parts = []
    native = results.get("sleep0_native", {}).get(REF)
    if native and native["samples"]:
        x = statistics.median(native["samples"]) / floor
        verdict = (f"target: within {FLOOR_TARGET:g}x, "
                   f"{'met' if x <= FLOOR_TARGET else 'NOT met'}" if judge
                   else f"the {FLOOR_TARGET:g}x target is on time, run.py")
        parts.append(f"asyncio_c.sleep(0) step (sleep0_native on {REF}) "
                     f"{x:.2f}x the floor ({verdict})")
    plain = [f"{lp} {statistics.median(r['samples']) / floor:.2f}x"
             for lp, r in results.get("sleep0", {}).items() if r["samples"]]
    if plain:
        parts.append("asyncio.sleep(0) step (sleep0): " + ", ".join(plain))
    if not parts:
        return None
    runs = (f"median of all {len(pooled)} runs" if len(pooled) > 1
            else "one run")
    return (f"Floor: {FLOOR} {fmt_value(floor)} {unit} (bare coroutine "
            f"resumed with send(), no loop; {runs}); " + "; ".join(parts)
            + ".")


def save_json(path, doc):
    """Write doc as indented JSON to path (making its directory)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fp:
        json.dump(doc, fp, indent=1)
        fp.write("\n")
    print(f"Saved {path}")


def default_png(stem="bench"):
    v = sys.version_info
    return os.path.join(_HERE, "results", f"{stem}-{v.major}.{v.minor}.png")


def write_chart(path, selected, ratio, info, reps, note):
    """The speed-up chart of the run (bench/_chart.py), without the floor."""
    rows = [(w.name + (" (memory)" if w.kind == "memory" else ""),
             ratio.get(w.name, {}))
            for w in selected if w.name != FLOOR]
    return _chart.speedup_chart(path, rows, info, note=note or "", reps=reps)


# -------------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="workloads:\n" + "\n".join(
            f"  {w.name:20} {w.size:>8,}  {w.unit:12} {w.doc}"
            for w in workloads.WORKLOADS.values()))
    p.add_argument("--reps", type=int, default=5,
                   help="repetitions (one process each) per loop and workload "
                        "(default 5)")
    p.add_argument("--only", metavar="NAME[,NAME]",
                   help="run only these workloads")
    p.add_argument("--loops", metavar="LOOP[,LOOP]", default=",".join(LOOPS),
                   help=f"loops to compare (default {','.join(LOOPS)})")
    p.add_argument("--quick", action="store_true",
                   help="small sizes and no warm-up: a smoke test, not a "
                        "measurement")
    p.add_argument("--json", metavar="FILE", help="also save the results here")
    p.add_argument("--png", metavar="FILE",
                   help="write the chart here (default bench/results/"
                        "bench-X.Y.png)")
    p.add_argument("--no-png", action="store_true", help="write no chart")
    p.add_argument("--timeout", type=float, default=300,
                   help="seconds before a child is given up (default 300)")
    args = p.parse_args(argv)
    if args.reps < 1:
        p.error("--reps must be at least 1")
    names = list(workloads.WORKLOADS)
    if args.only:
        want = [n.strip() for n in args.only.split(",") if n.strip()]
        bad = [n for n in want if n not in workloads.WORKLOADS]
        if bad:
            p.error(f"unknown workload(s) {', '.join(bad)}; "
                    f"choose from {', '.join(names)}")
        names = [n for n in names if n in want]
    args.selected = [workloads.WORKLOADS[n] for n in names]
    args.loop_list = pick_loops(p, args.loops)
    return args


def pick_loops(parser, text, allowed=LOOPS):
    """--loops A,B: the loops named, in the order of allowed (a parser
    error for an unknown one or none)."""
    loops = [lp.strip() for lp in text.split(",") if lp.strip()]
    if not loops or any(lp not in allowed for lp in loops):
        parser.error(f"--loops: choose from {', '.join(allowed)}")
    return [lp for lp in allowed if lp in loops]


def print_machine():
    """Print the interpreter and machine header every runner starts with;
    return machine_info()."""
    info = machine_info()
    print(f"Python {info['python']}")
    print(f"  {info['executable']}")
    print(f"Machine: {info['cpu']}, {info['cores']} cores "
          f"({info['usable_cores']} usable), {info['platform']}")
    print("Load average at start: "
          + " ".join(f"{x:.2f}" for x in info["loadavg"]))
    return info


def probe_loops(loops, timeout):
    """Which loops can run here, and what are they?  Probes each one in a
    child, prints a line per loop and returns ({loop: facts}, {loop: why
    it cannot run})."""
    facts, skipped = {}, {}
    for lp in loops:
        f, err = probe(lp, timeout)
        if err:
            skipped[lp] = err
        elif lp == NATIVE and not f.get("native"):
            skipped[lp] = ("this build of asyncio_c has no native combinators "
                           "(asyncio_c._core has none of gather, wait, "
                           "wait_for, shield, sleep)")
            facts[lp] = f
        else:
            facts[lp] = f
    for lp, f in facts.items():
        if lp in skipped:
            continue
        extra = ""
        if "uvloop_version" in f:
            extra = f" (uvloop {f['uvloop_version']})"
        if lp == "asyncio_c":
            extra = (" (ASYNCIO_C_STANDIN: extension not loaded)"
                     if f.get("standin") else f" ({f.get('core_file')})")
        if lp == NATIVE:
            extra = f" + native {', '.join(f['native'])} patched into asyncio"
        print(f"  {lp:9}: loop {f['loop_type']}, task {f['task_type']}, "
              f"future {f['future_type']}{extra}")
    for lp, err in skipped.items():
        print(f"  {lp:9}: n/a ({err.splitlines()[-1]})")
    return facts, skipped


def run_notes(notes, results, skipped, info, what):
    """Append the notes every benchmark table ends with (loops skipped, child errors, a busy
    machine, unless what is None) to notes; results: {row: {loop: {"errors": [...]}}}.  Returns the load average
    at the end and the errors, {(row, loop, message): count}."""
    for lp, err in skipped.items():
        notes.append(f"{lp}: n/a, {err.splitlines()[-1]}")
    errors = {}
    for row, per in results.items():
        for lp, r in per.items():
            for e in r["errors"]:
                errors[row, lp, e] = errors.get((row, lp, e), 0) + 1
    for (row, lp, e), count in list(errors.items())[:10]:
        times = f" ({count} times)" if count > 1 else ""
        notes.append(f"ERROR {row} on {lp}{times}: {e}")
    if len(errors) > 10:
        notes.append(f"... and {len(errors) - 10} more errors (see --json)")
    load = os.getloadavg()
    if what and max(load[0], info["loadavg"][0]) > 0.75 * (
            info["usable_cores"] or 1):
        notes.append(f"Machine was busy (load average {info['loadavg'][0]:.2f}"
                     f" at start, {load[0]:.2f} at end, "
                     f"{info['usable_cores']} cores): expect noisy {what}.")
    return load, errors

def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    info = print_machine()
    loops = args.loop_list
    facts, skipped = probe_loops(loops, args.timeout)
    print(f"{args.reps} repetition(s), one process each"
          f"{', QUICK sizes (smoke test)' if args.quick else ''}; "
          f"medians shown\n", flush=True)

    runnable = [lp for lp in loops if lp not in skipped]
    sizes = {w.name: (w.quick_size if args.quick else w.size)
             for w in args.selected}
    results = {w.name: {lp: {"samples": [], "errors": [], "runs": []}
                        for lp in runnable if lp != NATIVE or w.native}
               for w in args.selected}
    def runs_on(wl, lp):
        return lp != NATIVE or wl.native

    total = args.reps * sum(runs_on(wl, lp) for wl in args.selected
                            for lp in runnable)
    tty = sys.stderr.isatty()
    done = 0
    for rep in range(args.reps):
        for wl in args.selected:
            for lp in runnable:
                if not runs_on(wl, lp):
                    continue
                done += 1
                if tty:
                    print(f"\r[{done}/{total}] rep {rep + 1} {wl.name} {lp}"
                          .ljust(60), end="", file=sys.stderr, flush=True)
                cargs = [lp, wl.name, str(sizes[wl.name])]
                if args.quick:
                    cargs.append("--no-warmup")
                out, err = run_child(cargs, args.timeout)
                r = results[wl.name][lp]
                if err:
                    r["errors"].append(err)
                    print(f"\n{wl.name} on {lp} failed: {err}",
                          file=sys.stderr, flush=True)
                else:
                    r["samples"].append(out["value"])
                    r["runs"].append(out)
        if not tty:
            print(f"repetition {rep + 1}/{args.reps} done", file=sys.stderr,
                  flush=True)
    if tty:
        print("\r".ljust(61) + "\r", end="", file=sys.stderr, flush=True)

    print(render_table(args.selected, loops, results, sizes, skipped))
    floor = floor_note(results, workloads.WORKLOADS[FLOOR].unit)
    if floor:
        print(floor)
    print()
    notes = []
    if REF in runnable:
        notes.append(f"X/{REF}: X's median over {REF}'s; above 1x means "
                     f"{REF} is faster (bytes/task: smaller).")
    fn = facts.get(NATIVE)
    if NATIVE in runnable and fn:
        missing = [n for n in ("gather", "wait", "wait_for", "shield", "sleep")
                   if n not in fn["native"]]
        notes.append(f"{NATIVE}: asyncio_c's loop with asyncio_c's native "
                     f"{', '.join(fn['native'])} patched into asyncio "
                     f"(asyncio_c.install(patch=True)); X/+native: X's median "
                     f"over {NATIVE}'s. '-': the workload calls no "
                     f"combinator, not run in that flavour."
                     + (f" Still asyncio's: {', '.join(missing)}."
                        if missing else ""))
    fc = facts.get(REF)
    if (fc and "natives_available" in fc and "sleep" not in
            fc["natives_available"] and any(w.name == "sleep0_native"
                                             for w in args.selected)):
        notes.append(f"sleep0_native: this build has no native sleep, so on "
                     f"{REF} it ran asyncio.sleep (= sleep0).")
    if args.reps > 1:
        notes.append("±: half the min..max range of the repetitions, in % "
                     "of the median.")
    if any(w.kind == "memory" for w in args.selected):
        notes.append("bytes/task: RSS growth (/proc/self/statm) per pending "
                     "task after its first step; lower is better.")
    f = facts.get(REF)
    if f and f.get("standin"):
        notes.append(f"NOTE: ASYNCIO_C_STANDIN is in effect: {REF} ran "
                     "asyncio's own C Future/Task (the extension is not "
                     "loaded), so ~1x is expected.")
    if f and f.get("c_loop"):
        base = (f", the rest inherited from {f['python_base']}"
                if f.get("python_base") else "")
        notes.append(f"NOTE: {REF}'s loop is {f['loop_type']}: C core "
                     f"{f['core_loop_type']}{base}.")
    elif f and f.get("base_event_loop"):
        notes.append(f"NOTE: the {REF} column is asyncio_c's Task and Future "
                     f"on asyncio's own event loop ({f['loop_type']} is an "
                     "asyncio.BaseEventLoop): the C event loop is not in yet.")
    load, errors = run_notes(notes, results, skipped, info, "timings")
    elapsed = time.monotonic() - started
    notes.append(f"Total time {elapsed:.0f} s.")
    print("\n".join(notes))
    if not args.no_png:
        write_chart(args.png or default_png(), args.selected, ratios(results),
                    info, args.reps, floor)

    if args.json:
        doc = dict(
            machine=info,
            loadavg_end=load,
            reps=args.reps,
            quick=args.quick,
            elapsed_s=elapsed,
            loops={lp: facts.get(lp, {"error": skipped.get(lp)})
                   for lp in loops},
            workloads={w.name: dict(size=sizes[w.name],
                                    ops=w.ops(sizes[w.name]), unit=w.unit,
                                    kind=w.kind, doc=w.doc)
                       for w in args.selected},
            results={w: {lp: dict(summarize(r["samples"]) if r["samples"]
                                  else {}, errors=r["errors"], runs=r["runs"])
                         for lp, r in per.items()}
                     for w, per in results.items()},
            ratios=ratios(results),
            floor=floor,
        )
        save_json(args.json, doc)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
