"""python -m asyncio_c.kernel: a Jupyter kernel (ipykernel) running on asyncio_c.

    python -m asyncio_c.kernel install [--user | --sys-prefix | --prefix P]
                                       [--name N] [--display-name D] [--patch]
    python -m asyncio_c.kernel remove [--name N]
    python -m asyncio_c.kernel list
    python -m asyncio_c.kernel [--patch] -f CONNECTION_FILE [ipykernel options]

`install` writes a kernelspec whose argv runs the last form; Jupyter then starts
it with the connection file.  --patch makes the kernel apply asyncio_c.patch()
(asyncio.gather/wait/wait_for/shield/sleep become asyncio_c's) as well.
"""
import argparse
import sys

from . import (KERNEL_NAME, install_kernel_spec, launch, list_kernel_specs,
               remove_kernel_spec)


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
        print(__doc__.strip())
        return 0
    patch = "--patch" in argv
    launch([a for a in argv if a != "--patch"], patch=patch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
