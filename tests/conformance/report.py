#!/usr/bin/env python3
"""Run CPython's test_asyncio conformance suite on asyncio_c and on asyncio's own C types.

For each interpreter (.venv/3.11, .venv/3.12, .venv/3.13) this runs
    python -m pytest tests/conformance      with ASYNCIO_C_CONFORMANCE_REF=1
so that every mirrored CPython class runs twice: Ours_* (asyncio_c's Task/Future) and Ref_*
(asyncio's own _CTask/_CFuture, the reference), and prints per interpreter
    ours N passed / asyncio's own M passed
then the tests that pass on asyncio's own types but not on ours, grouped by error message.
The loop layer (test_cpython_loop_*: CPython's tests with asyncio_c's event loop, Ours_*, and
with asyncio's own loop, Ref_*) runs in the same process and is reported apart, per interpreter.
So does the combinator layer (test_cpython_combinators.py: CPython's gather/wait/wait_for/
shield/sleep/as_completed tests with asyncio_c's native functions patched into asyncio, Ours_*,
and with asyncio's own functions, Ref_*), reported as "passed with ours / passed with asyncio's
own functions" per interpreter.

    python tests/conformance/report.py                 all interpreters that have a venv
    python tests/conformance/report.py --python 3.12   one of them (repeatable)
    python tests/conformance/report.py --selfcheck     check the harness: "ours" is asyncio's
                                                       own C types (asyncio_c is not even
                                                       imported), so ours must == reference
    python tests/conformance/report.py --list          every failing test id, not 3 per cause
    python tests/conformance/report.py -- -k Future    extra pytest arguments after --

Exit status: 0 if, on every interpreter, everything that passes on asyncio's own types passes
on ours and nothing crashed; 1 otherwise.
"""
import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
TOP = os.path.dirname(TESTS)
VERSIONS = ("3.11", "3.12", "3.13")
# (the loop layer's test_cpython_loop_* files and the combinator layer's
# test_cpython_combinators.py are counted apart: see the end of this file)
NODE = re.compile(r"test_cpython_(?!loop_|combinators\.)(\w+)\.py::(Ours|Ref)_(\w+)::(\w+)")


class Run:
    """Outcomes of one interpreter's pytest run, per implementation."""

    def __init__(self, version):
        self.version = version
        self.python = None
        self.impl = None
        self.outcome = {}           # nodeid -> "passed" | "failed" | "error" | "skipped"
        self.message = {}           # nodeid -> first failure message / skip reason
        self.started = []
        self.collect_errors = []
        self.unused_exclusions = []
        self.exitstatus = None
        self.returncode = None
        self.timed_out = False
        self.stderr_tail = ""

    def add(self, rec):
        if "start" in rec:
            self.started.append(rec["start"])
        elif "id" in rec:
            nid, when, out = rec["id"], rec["when"], rec["outcome"]
            prev = self.outcome.get(nid)
            if out == "failed":
                new = "failed" if when == "call" else "error"
                if prev not in ("failed", "error"):
                    self.outcome[nid] = new
                    self.message[nid] = rec["msg"]
            elif out == "skipped":
                if prev is None or prev == "passed":
                    self.outcome[nid] = "skipped"
                    self.message[nid] = rec["msg"]
            elif prev is None:
                self.outcome[nid] = "passed"
        elif "collect_error" in rec:
            self.collect_errors.append((rec["collect_error"], rec["msg"]))
        elif "impl" in rec:
            self.impl, self.python = rec["impl"], rec["python"]
        elif "unused_exclusions" in rec:
            self.unused_exclusions = rec["unused_exclusions"]
        elif "exitstatus" in rec:
            self.exitstatus = rec["exitstatus"]

    def split(self):
        """{"ours"|"ref": {neutral id: (outcome, message)}}"""
        res = {"ours": {}, "ref": {}}
        for nid, out in self.outcome.items():
            m = NODE.search(nid)
            if not m:
                continue
            mod, impl, cls, test = m.groups()
            res["ours" if impl == "Ours" else "ref"][f"test_{mod}.{cls}.{test}"] = (
                out, self.message.get(nid, ""))
        return res

    @property
    def crashed(self):
        """The test running when the process died, if it died mid-test."""
        if self.exitstatus is not None or self.timed_out:
            return None
        done = set(self.outcome)
        pending = [n for n in self.started if n not in done]
        return pending[-1] if pending else (self.started[-1] if self.started else "<collection>")


def _counts(results):
    c = collections.Counter(out for out, _ in results.values())
    return c


def _fmt(c):
    return (f"{c['passed']} passed, {c['failed']} failed, {c['error']} errors, "
            f"{c['skipped']} skipped")


def _normalise(msg):
    """An error message with the parts that vary per test blanked out, to group by cause."""
    first = msg.strip().splitlines()[0] if msg.strip() else "<no message>"
    first = re.sub(r"0x[0-9a-fA-F]+", "0x…", first)
    first = re.sub(r"<(\w[\w.]*) object at 0x…>", r"<\1 object>", first)
    first = re.sub(r"(Ours|Ref)_\w+", "<class>", first)
    first = re.sub(r"\b\d+\.\d+\b", "<n>", first)
    return first[:300]


def run_one(version, args):
    r = Run(version)
    py = os.path.join(TOP, ".venv", version, "bin", "python")
    if not os.access(py, os.X_OK):
        return None
    fd, record = tempfile.mkstemp(prefix=f"conformance-{version}-", suffix=".jsonl")
    os.close(fd)
    env = dict(os.environ)
    env["ASYNCIO_C_CONFORMANCE_REF"] = "1"
    env["ASYNCIO_C_CONFORMANCE_RECORD"] = record
    env["ASYNCIO_C_CONFORMANCE_TEST_TIMEOUT"] = str(args.test_timeout)
    env["PYTHONPATH"] = os.pathsep.join([TESTS] + [p for p in [env.get("PYTHONPATH")] if p])
    if args.selfcheck:
        env["ASYNCIO_C_CONFORMANCE_SELFCHECK"] = "1"
    cmd = [py, "-m", "pytest", HERE, "-q", "-p", "conformance._report_plugin",
           "-p", "no:cacheprovider", "--rootdir", TOP, *args.pytest_args]
    proc = subprocess.Popen(cmd, cwd=TOP, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        r.timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    r.returncode = proc.returncode
    r.stderr_tail = "\n".join(err.strip().splitlines()[-15:])
    with open(record) as f:
        for line in f:
            if line.strip():
                r.add(json.loads(line))
    os.unlink(record)
    return r


def report(r, args):
    ok = True
    res = r.split()
    ours, ref = _counts(res["ours"]), _counts(res["ref"])
    print(f"\n=== Python {r.python or r.version}   asyncio_c = {r.impl or '?'}")
    print(f"  ours (asyncio_c)           : {_fmt(ours)}")
    print(f"  asyncio's own (reference)  : {_fmt(ref)}")
    modules = sorted({t.split(".")[0] for part in res.values() for t in part})
    if len(modules) > 1:
        for mod in modules:
            o = _counts({t: v for t, v in res["ours"].items() if t.startswith(mod + ".")})
            f = _counts({t: v for t, v in res["ref"].items() if t.startswith(mod + ".")})
            print(f"      {mod:28} ours {o['passed']:4} / asyncio's own {f['passed']:4} passed"
                  + (f"   (ours failed {o['failed'] + o['error']})"
                     if o['failed'] + o['error'] else ""))
    for nid, msg in r.collect_errors:
        ok = False
        print(f"  COLLECTION ERROR in {nid}: {msg.strip().splitlines()[-1] if msg.strip() else ''}")
    if r.timed_out:
        ok = False
        print(f"  TIMED OUT after {args.timeout}s; last test started: {r.started[-1:]}")
    elif r.crashed:
        ok = False
        print(f"  CRASHED (exit status {r.returncode}) while running: {r.crashed}")
        if r.stderr_tail:
            print("    " + r.stderr_tail.replace("\n", "\n    "))
    regress = {t: v for t, v in res["ours"].items()
               if v[0] in ("failed", "error") and res["ref"].get(t, ("",))[0] == "passed"}
    only_ref_fail = {t for t, v in res["ref"].items()
                     if v[0] in ("failed", "error") and res["ours"].get(t, ("",))[0] == "passed"}
    both_fail = {t for t, v in res["ours"].items()
                 if v[0] in ("failed", "error") and res["ref"].get(t, ("",))[0] in ("failed", "error")}
    if regress:
        ok = False
        print(f"  pass on asyncio's own, fail on ours: {len(regress)}; by cause:")
        groups = collections.defaultdict(list)
        for t, (_, msg) in regress.items():
            groups[_normalise(msg)].append(t)
        for cause, tests in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            print(f"    [{len(tests)}] {cause}")
            # one line per test method, with the classes it fails in
            by_test = collections.defaultdict(list)
            for t in tests:
                mod, cls, test = t.split(".")
                by_test[f"{mod}.{test}"].append(cls)
            shown = sorted(by_test.items())
            for name, classes in (shown if args.list else shown[:3]):
                print(f"        {name}  ({', '.join(sorted(classes))})")
            if not args.list and len(shown) > 3:
                print(f"        ... and {len(shown) - 3} more tests (--list shows all)")
    if both_fail:
        print(f"  fail on both (candidates for exclusions.py): {len(both_fail)}")
        for t in sorted(both_fail)[: None if args.list else 10]:
            print(f"        {t}: {_normalise(res['ref'][t][1])}")
    if only_ref_fail:
        print(f"  fail only on asyncio's own: {len(only_ref_fail)}")
        for t in sorted(only_ref_fail)[: None if args.list else 10]:
            print(f"        {t}")
    skips = collections.Counter(_normalise(msg) for out, msg in res["ours"].values()
                                if out == "skipped")
    if skips:
        print("  ours skipped, by reason:")
        for reason, n in skips.most_common():
            print(f"    [{n}] {reason}")
    if r.unused_exclusions:
        print(f"  exclusions.py entries that matched no test here: {r.unused_exclusions}")
    return ok, ours, ref


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", choices=VERSIONS,
                    help="interpreter version (repeatable; default: all with a venv)")
    ap.add_argument("--selfcheck", action="store_true",
                    help="check the harness: run 'ours' on asyncio's own C types")
    ap.add_argument("--list", action="store_true", help="list every failing test")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per interpreter")
    ap.add_argument("--test-timeout", type=float, default=15,
                    help="seconds before a single test counts as hung (default 15)")
    ap.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")
    args = ap.parse_args()
    all_ok, summary = True, []
    for v in args.python or VERSIONS:
        print(f"(running Python {v}: ours and asyncio's own ...)", file=sys.stderr, flush=True)
        r = run_one(v, args)
        if r is None:
            print(f"\n=== Python {v}: no venv at .venv/{v} (run scripts/venvs.sh)")
            all_ok = False
            continue
        ok, ours, ref = report(r, args)
        all_ok &= ok
        all_ok &= report_loop(r, args)
        all_ok &= report_combinators(r, args)
        summary.append((r.python or v, ours, ref, r.impl))
    print("\n=== summary: tests passed")
    for ver, ours, ref, impl in summary:
        kind = ("self-check" if impl and impl.startswith("self-check") else
                "stand-in" if impl and impl.startswith("stand-in") else "extension")
        print(f"  Python {ver:8} ours {ours['passed']:5} / asyncio's own {ref['passed']:5}"
              f"   (ours failed {ours['failed'] + ours['error']}, ref failed "
              f"{ref['failed'] + ref['error']}; ours = {kind})")
    print_loop_summary()
    print_combinator_summary()
    return 0 if all_ok else 1


# =============================================================================================
# Loop layer (_loop_mirror.py, test_cpython_loop_*.py): CPython's tests with asyncio_c's event
# loop as the loop every test gets (Ours_*) and with asyncio's own loop (Ref_*), run in the same
# pytest process as the Task/Future layer above.  Its counts are kept apart from those.

LOOP_NODE = re.compile(r"test_cpython_loop_(\w+)\.py::(Ours|Ref)_(\w+)::(\w+)")
LOOP_SUMMARY = []       # (python, ours counts, ref counts)


def split_loop(r):
    """The loop layer's outcomes: {"ours"|"ref": {"test_<mod>.<Class>.<test>": (out, msg)}}"""
    res = {"ours": {}, "ref": {}}
    for nid, out in r.outcome.items():
        m = LOOP_NODE.search(nid)
        if m:
            mod, impl, cls, test = m.groups()
            res["ours" if impl == "Ours" else "ref"][f"test_{mod}.{cls}.{test}"] = (
                out, r.message.get(nid, ""))
    return res


def _print_per_group(res, width):
    """One line per test class/module: passed with ours / with the reference."""
    for grp in sorted({t.split(".")[0] for part in res.values() for t in part}):
        o = _counts({t: v for t, v in res["ours"].items() if t.startswith(grp + ".")})
        f = _counts({t: v for t, v in res["ref"].items() if t.startswith(grp + ".")})
        bad = o["failed"] + o["error"]
        print(f"      {grp:{width}} ours {o['passed']:4} / asyncio's own {f['passed']:4} passed"
              + (f"   (ours failed {bad})" if bad else ""))


def _classify(res):
    """(regressions {test: (outcome, msg)}, passing only on ours, failing on both)."""
    failing = ("failed", "error")
    regress = {t: v for t, v in res["ours"].items()
               if v[0] in failing and res["ref"].get(t, ("",))[0] == "passed"}
    only_ours_pass = sorted(t for t, v in res["ours"].items()
                            if v[0] == "passed" and res["ref"].get(t, ("",))[0] in failing)
    both_fail = sorted(t for t, v in res["ours"].items()
                       if v[0] in failing and res["ref"].get(t, ("",))[0] in failing)
    return regress, only_ours_pass, both_fail


def _print_regressions(title, regress, args):
    if not regress:
        return
    print(f"  {title}: {len(regress)}; by cause:")
    groups = collections.defaultdict(list)
    for t, (_, msg) in regress.items():
        groups[_normalise(msg)].append(t)
    for cause, tests in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"    [{len(tests)}] {cause}")
        for t in sorted(tests)[: None if args.list else 5]:
            print(f"        {t}")
        if not args.list and len(tests) > 5:
            print(f"        ... and {len(tests) - 5} more (--list shows all)")


def _print_tests(title, tests, args, detail=None):
    if not tests:
        return
    print(f"  {title}: {len(tests)}")
    for t in tests[: None if args.list else 10]:
        print(f"        {t}" + (f": {detail(t)}" if detail else ""))


def report_loop(r, args):
    """Print the loop layer's counts and differences for one interpreter; True if all is well."""
    res = split_loop(r)
    ours, ref = _counts(res["ours"]), _counts(res["ref"])
    LOOP_SUMMARY.append((r.python or r.version, ours, ref))
    print("  --- loop layer (CPython's tests with an event loop of ours / of asyncio's)")
    print(f"  ours (asyncio_c's loop)    : {_fmt(ours)}")
    print(f"  asyncio's own loop         : {_fmt(ref)}")
    if not res["ours"]:
        print("  LOOP LAYER: NO TESTS RAN")
        return False
    _print_per_group(res, 28)
    regress, only_ours_pass, both_fail = _classify(res)
    ours_skipped_ref_passed = sorted(t for t, v in res["ours"].items()
                                     if v[0] == "skipped" and res["ref"].get(t, ("",))[0] == "passed")
    _print_regressions("pass on asyncio's own loop, fail on ours", regress, args)
    if ours_skipped_ref_passed:
        print(f"  skipped on ours (exclusions.LOOP_EXCLUSIONS), pass on asyncio's own loop: "
              f"{len(ours_skipped_ref_passed)}")
        for t in ours_skipped_ref_passed[: None if args.list else 10]:
            print(f"        {t}: {_normalise(res['ours'][t][1])}")
    _print_tests("fail on both loops", both_fail, args, lambda t: _normalise(res["ref"][t][1]))
    _print_tests("fail only on asyncio's own loop", only_ours_pass, args)
    return not regress and not both_fail


def print_loop_summary():
    if LOOP_SUMMARY:
        print("=== loop layer summary: tests passed")
    for ver, ours, ref in LOOP_SUMMARY:
        print(f"  Python {ver:8} ours {ours['passed']:5} / asyncio's own {ref['passed']:5}"
              f"   (ours failed {ours['failed'] + ours['error']}, skipped {ours['skipped']};"
              f" ref failed {ref['failed'] + ref['error']}, skipped {ref['skipped']})")



# =============================================================================================
# Combinator layer (_combinator_mirror.py, test_cpython_combinators.py): CPython's combinator
# tests with asyncio_c's native gather/wait/wait_for/shield/sleep patched into asyncio (Ours_*)
# and with asyncio's own functions (Ref_*), in the same pytest process as the layers above.

COMB_NODE = re.compile(r"test_cpython_combinators\.py::(Ours|Ref)_(\w+)::(\w+)")
COMB_SUMMARY = []       # (python, ours counts, ref counts, native names or None)


def split_combinators(r):
    """The combinator layer's outcomes: {"ours"|"ref": {"<Class>.<test>": (out, msg)}}"""
    res = {"ours": {}, "ref": {}}
    for nid, out in r.outcome.items():
        m = COMB_NODE.search(nid)
        if m:
            impl, cls, test = m.groups()
            res["ours" if impl == "Ours" else "ref"][f"{cls}.{test}"] = (
                out, r.message.get(nid, ""))
    return res


def native_names(version, selfcheck):
    """The native functions asyncio_c's build has on that interpreter (None if unknown)."""
    if selfcheck:
        return ()
    py = os.path.join(TOP, ".venv", version, "bin", "python")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([TOP] + [p for p in [env.get("PYTHONPATH")] if p])
    try:
        out = subprocess.run(
            [py, "-c", "from asyncio_c import _patch; print(' '.join(_patch.natives()))"],
            cwd=TOP, env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return tuple(out.stdout.split()) if out.returncode == 0 else None


def report_combinators(r, args):
    """Print the combinator layer's counts and differences for one interpreter."""
    res = split_combinators(r)
    ours, ref = _counts(res["ours"]), _counts(res["ref"])
    natives = native_names(r.version, args.selfcheck)
    COMB_SUMMARY.append((r.python or r.version, ours, ref, natives))
    print("  --- combinator layer (CPython's gather/wait/wait_for/shield/sleep/as_completed "
          "tests, asyncio's loop)")
    if natives is None:
        print("  native functions patched in  : ? (could not ask the build)")
    elif natives:
        print(f"  native functions patched in  : {', '.join(natives)}")
    else:
        print("  native functions patched in  : none in this build (the patch replaces "
              "nothing: both runs must agree)")
    print(f"  with ours (patched)          : {_fmt(ours)}")
    print(f"  with asyncio's own functions : {_fmt(ref)}")
    if not res["ours"]:
        print("  COMBINATOR LAYER: NO TESTS RAN")
        return False
    _print_per_group(res, 30)
    regress, only_ours_pass, both_fail = _classify(res)
    _print_regressions("pass with asyncio's own functions, fail with ours", regress, args)
    _print_tests("fail with both", both_fail, args, lambda t: _normalise(res["ref"][t][1]))
    _print_tests("fail only with asyncio's own functions", only_ours_pass, args)
    ok = not regress and not both_fail
    if natives == () and (ours != ref or set(res["ours"]) != set(res["ref"])):
        # nothing was replaced, so the two runs ran the very same code
        print("  MISMATCH: nothing is patched in, yet ours and asyncio's own counts differ")
        ok = False
    return ok


def print_combinator_summary():
    if COMB_SUMMARY:
        print("=== combinator layer summary: passed with ours / passed with asyncio's own "
              "functions")
    for ver, ours, ref, natives in COMB_SUMMARY:
        what = ("?" if natives is None else ", ".join(natives) if natives else "none")
        print(f"  Python {ver:8} ours {ours['passed']:5} / asyncio's own {ref['passed']:5}"
              f"   (ours failed {ours['failed'] + ours['error']}, skipped {ours['skipped']};"
              f" ref failed {ref['failed'] + ref['error']}, skipped {ref['skipped']};"
              f" native: {what})")


if __name__ == "__main__":
    sys.exit(main())
