"""Jupyter and IPython on asyncio_c's event loop.

Jupyter kernel (ipykernel running on asyncio_c):

    python -m asyncio_c.kernel install --user       # or --sys-prefix / --prefix P
    jupyter notebook                                # pick "Python 3 (asyncio_c)"

IPython's %autoawait on an asyncio_c loop, in a plain (terminal) IPython:

    %autoawait asyncio_c.kernel.runner       # or: %load_ext asyncio_c.kernel

(The command line, `python -m asyncio_c.kernel --help`: see USAGE below.)

How the kernel's loops become ours: ipykernel 7 runs on tornado, and tornado's
IOLoop is a wrapper around an asyncio loop it gets from asyncio itself:
IOLoop.current() on the main thread asks asyncio.get_event_loop(), and every
service thread (control, IOPub, shell channel, subshells) builds
IOLoop(make_current=False), i.e. asyncio.new_event_loop().  Both go through the
event loop policy.  So launch() installs asyncio_c's policy and sets an asyncio_c
loop as the main thread's loop BEFORE IPKernelApp initializes; every loop of the
kernel process is then an asyncio_c Loop.  Cells with top-level await run on the
main thread's loop: ipykernel sees that IPython's loop runner is the asyncio one
and that loop is running, and wraps the cell's coroutine with
asyncio.ensure_future(), which on our loop makes an asyncio_c Task.
"""
import argparse
import asyncio
import sys

from . import _loop

__all__ = ["runner", "launch", "install_kernel_spec", "remove_kernel_spec",
           "list_kernel_specs", "KERNEL_NAME", "DISPLAY_NAME",
           "load_ipython_extension"]

KERNEL_NAME = "asyncio_c"
DISPLAY_NAME = "Python %d (asyncio_c)" % sys.version_info[0]


class _Runner:
    """IPython loop runner (%autoawait asyncio_c.kernel.runner).

    Runs each cell's top-level-await coroutine to completion on one asyncio_c
    loop kept for the whole session (as IPython's own asyncio runner keeps one
    loop), so tasks started in one cell keep running during later cells' awaits.
    """

    def __init__(self):
        self._loop = None

    @property
    def loop(self):
        """The session's asyncio_c loop (made on first use, remade if closed)."""
        if self._loop is None or self._loop.is_closed():
            self._loop = _loop.new_event_loop()
        return self._loop

    def __call__(self, coro):
        if asyncio.events._get_running_loop() is not None:
            # Inside a kernel the cell already runs on the running loop; a
            # nested run_until_complete() would fail with a less clear message.
            coro.close()
            raise RuntimeError(
                "asyncio_c.kernel.runner cannot run a cell while an event loop "
                "is running in this thread (in a Jupyter kernel use "
                "'%autoawait asyncio'; the asyncio_c kernel's loop is already "
                "asyncio_c's)")
        return self.loop.run_until_complete(coro)

    def __str__(self):
        return "asyncio_c"

    def __repr__(self):
        return "<asyncio_c.kernel.runner>"


runner = _Runner()


def load_ipython_extension(ip):
    """%load_ext asyncio_c.kernel: top-level await on asyncio_c's loop.

    In a terminal/embedded IPython this switches %autoawait to `runner`.  In a
    kernel whose cells already run on a running loop, the runner is left alone
    (ipykernel only runs cells on its own loop with IPython's asyncio runner).
    """
    if asyncio.events._get_running_loop() is None:
        ip.loop_runner = runner
        ip.autoawait = True


def unload_ipython_extension(ip):
    if ip.loop_runner is runner:
        ip.loop_runner = "asyncio"


# ---------------------------------------------------------------- the kernel

def launch(argv=None, *, patch=False):
    """Run ipykernel's IPKernelApp with every event loop an asyncio_c one.

    argv: IPKernelApp's command line (e.g. ["-f", connection_file]).
    patch: also asyncio_c.patch() (asyncio.gather & co. become asyncio_c's).
    """
    _loop.install(patch=patch)
    # The main thread's loop, made now: IOLoop.current() then finds it with
    # asyncio.get_event_loop() instead of creating one implicitly (deprecated
    # in 3.12+).
    asyncio.set_event_loop(_loop.new_event_loop())
    from ipykernel.kernelapp import IPKernelApp
    IPKernelApp.launch_instance(argv=argv)


# ---------------------------------------------------------------- kernelspecs

def _kernel_argv(patch=False, executable=None):
    from ipykernel.kernelspec import make_ipkernel_cmd
    extra = ["--patch"] if patch else []
    # -Xfrozen_modules=off: what ipykernel's own spec uses (debugpy warns otherwise)
    return make_ipkernel_cmd(mod="asyncio_c.kernel", executable=executable,
                             extra_arguments=extra,
                             python_arguments=["-Xfrozen_modules=off"])


def install_kernel_spec(*, user=False, prefix=None, kernel_name=KERNEL_NAME,
                        display_name=None, patch=False, env=None,
                        executable=None):
    """Install the asyncio_c kernelspec (as `ipykernel install` does); -> its path.

    user=True: the user's Jupyter data dir; prefix: PREFIX/share/jupyter/kernels;
    neither: the system-wide directory (as ipykernel).
    """
    import shutil
    import tempfile
    from jupyter_client.kernelspec import KernelSpecManager
    from ipykernel.kernelspec import write_kernel_spec

    if display_name is None:
        display_name = DISPLAY_NAME if kernel_name == KERNEL_NAME else kernel_name
    overrides = {"argv": _kernel_argv(patch, executable),
                 "display_name": display_name}
    if env:
        overrides["env"] = dict(env)
    tmp = tempfile.mkdtemp(suffix="_asyncio_c_kernel")
    try:
        path = write_kernel_spec(path=tmp + "/" + kernel_name, overrides=overrides)
        return KernelSpecManager().install_kernel_spec(
            path, kernel_name=kernel_name, user=user, prefix=prefix)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_kernel_spec(kernel_name=KERNEL_NAME):
    """Remove an installed kernelspec by name; -> the removed directory."""
    from jupyter_client.kernelspec import KernelSpecManager
    return KernelSpecManager().remove_kernel_spec(kernel_name)


def list_kernel_specs():
    """{name: directory} of the installed kernelspecs that launch asyncio_c.kernel."""
    from jupyter_client.kernelspec import KernelSpecManager
    found = {}
    for name, info in KernelSpecManager().get_all_specs().items():
        argv = info.get("spec", {}).get("argv", [])
        if "asyncio_c.kernel" in argv:
            found[name] = info["resource_dir"]
    return found


# ---------------------------------------------------------------- command line

USAGE = """python -m asyncio_c.kernel: a Jupyter kernel (ipykernel) running on asyncio_c.

    python -m asyncio_c.kernel install [--user | --sys-prefix | --prefix P]
                                       [--name N] [--display-name D] [--patch]
    python -m asyncio_c.kernel remove [--name N]
    python -m asyncio_c.kernel list
    python -m asyncio_c.kernel [--patch] -f CONNECTION_FILE [ipykernel options]

`install` writes a kernelspec whose argv runs the last form; Jupyter then starts
it with the connection file.  --patch makes the kernel apply asyncio_c.patch()
(asyncio.gather/wait/wait_for/shield/sleep become asyncio_c's) as well.
"""


def _install(args):
    p = argparse.ArgumentParser(prog="python -m asyncio_c.kernel install",
                                description="Install the asyncio_c Jupyter kernelspec.")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true",
                       help="install for the current user")
    where.add_argument("--prefix", metavar="P",
                       help="install into P/share/jupyter/kernels")
    where.add_argument("--sys-prefix", action="store_true",
                       help="install into sys.prefix (this venv/conda env)")
    p.add_argument("--name", default=KERNEL_NAME,
                   help="kernelspec name (default: %(default)s)")
    p.add_argument("--display-name", default=None,
                   help="name shown in Jupyter's kernel menu")
    p.add_argument("--patch", action="store_true",
                   help="the kernel also applies asyncio_c.patch()")
    p.add_argument("--env", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   default=[], help="environment variable for the kernel")
    ns = p.parse_args(args)
    prefix = sys.prefix if ns.sys_prefix else ns.prefix
    dest = install_kernel_spec(user=ns.user, prefix=prefix, kernel_name=ns.name,
                               display_name=ns.display_name, patch=ns.patch,
                               env=dict(ns.env))
    print("Installed kernelspec %s in %s" % (ns.name, dest))
    return 0


def _remove(args):
    p = argparse.ArgumentParser(prog="python -m asyncio_c.kernel remove")
    p.add_argument("--name", default=KERNEL_NAME)
    ns = p.parse_args(args)
    try:
        path = remove_kernel_spec(ns.name)
    except KeyError:
        print("No kernelspec named %s" % ns.name, file=sys.stderr)
        return 1
    print("Removed %s" % path)
    return 0


def _list(args):
    argparse.ArgumentParser(prog="python -m asyncio_c.kernel list").parse_args(args)
    for name, path in sorted(list_kernel_specs().items()):
        print("%s  %s" % (name, path))
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"install": _install, "remove": _remove, "list": _list}
    if argv and argv[0] in commands:
        return commands[argv[0]](argv[1:])
    if argv and argv[0] in ("-h", "--help", "help"):
        print(USAGE.strip())
        return 0
    patch = "--patch" in argv
    launch([a for a in argv if a != "--patch"], patch=patch)
    return 0


if __name__ == "__main__":
    # As ipykernel_launcher: `python -m` put the current directory (the notebook's) first on
    # sys.path; take it off while ipykernel loads, so that a notebook's own tornado.py or zmq.py
    # cannot shadow the kernel's modules.  IPython's init_path() puts it back for the cells.
    import os
    if sys.path and (sys.path[0] == ""
                     or os.path.realpath(sys.path[0]) == os.path.realpath(os.getcwd())):
        del sys.path[0]
    sys.exit(main())
