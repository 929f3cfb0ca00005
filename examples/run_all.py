"""Run every seed example on asyncio_c and print their outputs in order.

    python examples/run_all.py [NAME ...]         # all examples, or those named
    ASYNCIO_C_EXAMPLES_LOOP=asyncio python examples/run_all.py   # on plain asyncio

Each example is printed as a header ``=== examples/NAME.py ===`` followed by its
stdout (and its stderr, if any, and its exit status if not 0).  The examples
mostly sleep, so they run concurrently, each in its own interpreter; their
outputs are buffered and printed in order.  Exits 1 if any example exited
with a non-zero status.
"""
import concurrent.futures
import importlib.util
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
RUNNER = HERE / "_support" / "run_on_asyncio.py"
LOOPS = ("asyncio_c", "asyncio")


def example_paths():
    """The example files, in order: examples/seedNN_*.py."""
    return sorted(HERE.glob("seed[0-9][0-9]_*.py"))


def command(path, loop="asyncio_c"):
    """The command line running the example at ``path`` on ``loop``."""
    if loop == "asyncio_c":
        return [sys.executable, str(path)]
    if loop == "asyncio":
        return [sys.executable, str(RUNNER), str(path)]
    raise ValueError(f"unknown loop {loop!r}, expected one of {LOOPS}")


def package_dir():
    """The directory this interpreter imports asyncio_c from (the checkout by default)."""
    spec = importlib.util.find_spec("asyncio_c")
    if spec is None or not spec.origin:
        return str(ROOT)
    return str(pathlib.Path(spec.origin).resolve().parent.parent)


def environment(**extra):
    """os.environ with asyncio_c's directory first on PYTHONPATH, so that the
    examples import the same asyncio_c as this interpreter would."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_dir(), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def _run(path, loop):
    start = time.monotonic()
    proc = subprocess.run(command(path, loop), cwd=ROOT, env=environment(),
                          capture_output=True, timeout=120)
    return proc, time.monotonic() - start


def main(argv):
    loop = os.environ.get("ASYNCIO_C_EXAMPLES_LOOP", "asyncio_c")
    if loop not in LOOPS:
        sys.exit(f"ASYNCIO_C_EXAMPLES_LOOP={loop!r}: expected one of {LOOPS}")
    paths = example_paths()
    if argv:
        wanted = {pathlib.Path(a).stem for a in argv}
        unknown = wanted - {p.stem for p in paths}
        if unknown:
            sys.exit(f"no such example: {', '.join(sorted(unknown))}")
        paths = [p for p in paths if p.stem in wanted]
    start = time.monotonic()
    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(paths) or 1) as pool:
        runs = [pool.submit(_run, p, loop) for p in paths]
        for path, fut in zip(paths, runs):
            proc, elapsed = fut.result()
            out = sys.stdout
            out.write(f"=== examples/{path.name} ===\n")
            out.write(proc.stdout.decode("utf-8", "replace"))
            if proc.stderr:
                out.write("--- stderr ---\n")
                out.write(proc.stderr.decode("utf-8", "replace"))
            if proc.returncode:
                out.write(f"--- exit status {proc.returncode} ---\n")
                failed.append(path.name)
            out.flush()
    print(f"=== {len(paths)} examples on {loop} in {time.monotonic() - start:.1f} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else "") + " ===")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
