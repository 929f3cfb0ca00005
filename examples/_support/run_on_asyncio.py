"""Run one example on plain asyncio, for comparison:

    python examples/_support/run_on_asyncio.py examples/seed03_hello_world.py

The examples pick their loop with ``asyncio_c.run(main())`` and nothing else.
To run the very same file on asyncio (no second copy, no edit), this runner
registers a stand-in module named ``asyncio_c`` whose ``run`` is
``asyncio.run`` and then executes FILE as ``__main__``, as ``python FILE``
would (same sys.path[0], same sys.argv[0]).
"""
import asyncio
import os
import runpy
import sys
import types


def main():
    if len(sys.argv) < 2:
        sys.exit(f"usage: {sys.argv[0]} FILE [ARG...]")
    path = sys.argv[1]
    standin = types.ModuleType(
        "asyncio_c", "plain asyncio standing in for asyncio_c (examples/_support/run_on_asyncio.py)")
    standin.run = asyncio.run
    sys.modules["asyncio_c"] = standin
    sys.argv[:] = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    runpy.run_path(path, run_name="__main__")


if __name__ == "__main__":
    main()
