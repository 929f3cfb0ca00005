"""python -m asyncio_c: run a Python program with asyncio_c's event loop as the default.

    python -m asyncio_c [--patch] [--debug] script.py [args ...]
    python -m asyncio_c [--patch] [--debug] -m package.module [args ...]

The program runs as `python script.py [args]` (or `python -m package.module [args]`) would
run it: as module __main__, with the same sys.argv, sys.path[0] set the way python sets it,
the same exit status, and an uncaught exception's traceback printed without the frames of
this launcher.  The only difference is that asyncio_c's event loop policy is installed first
(asyncio_c.install()), so asyncio.run(), asyncio.Runner(), asyncio.new_event_loop() and
asyncio.get_event_loop() give asyncio_c loops (on 3.12+ that includes asyncio.run() without a
loop_factory, which asks the policy).

Options (before the script or -m; everything after belongs to the program):
  --patch    also replace asyncio.gather/wait/wait_for/shield/sleep by asyncio_c's native
             functions (asyncio_c._patch.patch(); see there for what is and is not replaced)
  --debug    asyncio debug mode, as PYTHONASYNCIODEBUG=1 would (the variable is set, so child
             processes inherit it too)
  -m MOD     run library module MOD as a script (a package runs its __main__ submodule)
  -h, --help this text
"""
import os
import runpy
import sys

USAGE = ("usage: python -m asyncio_c [--patch] [--debug] (script.py | -m module) [args ...]\n"
         "       python -m asyncio_c --help")

_THIS_FILE = os.path.normcase(os.path.abspath(__file__))
_RUNPY_FILE = runpy.run_path.__code__.co_filename


class _UsageError(Exception):
    pass


def parse(argv):
    """argv (without the program name) -> (options dict, "path"|"module", target, args)."""
    opts = {"patch": False, "debug": False, "help": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            opts["help"] = True
            return opts, None, None, []
        if a == "--patch":
            opts["patch"] = True
        elif a == "--debug":
            opts["debug"] = True
        elif a == "-m" or (a.startswith("-m") and not a.startswith("--")):
            mod = a[2:]
            if not mod:
                i += 1
                if i == len(argv):
                    raise _UsageError("Argument expected for the -m option")
                mod = argv[i]
            return opts, "module", mod, argv[i + 1:]
        elif a == "--":
            i += 1
            if i == len(argv):
                raise _UsageError("a script or -m module is required")
            return opts, "path", argv[i], argv[i + 1:]
        elif a.startswith("-") and a != "-":
            raise _UsageError(f"unknown option {a}")
        else:
            return opts, "path", a, argv[i + 1:]
        i += 1
    raise _UsageError("a script or -m module is required")


# ---------------------------------------------------------------------------------------------
# the program's traceback without our frames

def _strip(tb):
    """tb without its leading entries up to the last frame of this file and runpy's after it."""
    cut = None
    t = tb
    while t is not None:
        if os.path.normcase(t.tb_frame.f_code.co_filename) == _THIS_FILE:
            cut = t
        t = t.tb_next
    if cut is None:
        return tb
    t = cut.tb_next
    while t is not None and t.tb_frame.f_code.co_filename == _RUNPY_FILE:
        t = t.tb_next
    return t


def _install_excepthook():
    """Make the interpreter's report of an uncaught exception show only the program's frames.

    The interpreter keeps handling the exception itself (exit status 1, KeyboardInterrupt's
    exit by SIGINT, SystemExit), only what sys.excepthook prints is trimmed.
    """
    previous = sys.excepthook

    def excepthook(exc_type, exc, tb):
        tb = _strip(tb)
        if isinstance(exc, BaseException):
            exc.__traceback__ = tb      # (what the default hook prints when it is set)
        return previous(exc_type, exc, tb)

    excepthook.__wrapped__ = previous
    sys.excepthook = excepthook


# ---------------------------------------------------------------------------------------------

def _enable_debug():
    # Exactly what PYTHONASYNCIODEBUG=1 does: asyncio.coroutines._is_debug_mode() reads the
    # variable whenever a loop is made.  Under python -E the environment is ignored, so then
    # the function itself is made to say yes.
    os.environ["PYTHONASYNCIODEBUG"] = "1"
    if sys.flags.ignore_environment:
        import asyncio.coroutines
        asyncio.coroutines._is_debug_mode = lambda: True


def _set_path0(value):
    # python puts the script's directory (or, for -m, the current directory) first on
    # sys.path, except under -P / PYTHONSAFEPATH; `python -m asyncio_c` already put the
    # current directory there, which is what -m needs.
    if getattr(sys.flags, "safe_path", False):
        return
    if sys.path:
        sys.path[0] = value
    else:
        sys.path.insert(0, value)


def _is_zip(path):
    import zipfile
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def _run_file(path):
    """Run a source file as module __main__, with the globals python gives a script.

    (Not runpy.run_path: that sets sys.argv[0] to the path it is given, while python keeps
    sys.argv[0] as typed but compiles the file under its absolute path, which is what
    __file__ and tracebacks show.)
    """
    import builtins
    import importlib.machinery
    import io
    import types

    path = os.path.abspath(path)
    with io.open_code(path) as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    module = types.ModuleType("__main__")
    module.__dict__.update(
        __package__=None,
        __loader__=importlib.machinery.SourceFileLoader("__main__", path),
        __spec__=None,
        __file__=path,
        __cached__=None,
        __builtins__=builtins,
    )
    if sys.version_info < (3, 14):
        module.__annotations__ = {}
    sys.modules["__main__"] = module
    exec(code, module.__dict__)


def _module_file(name):
    """The file `python -m name` runs (a package's __main__), or None if it is not found.

    (Lookup errors are left to run_module, which reports them the way python -m does.)
    """
    import importlib.util
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(name + ".__main__")
    except Exception:
        return None
    return getattr(spec, "origin", None)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts, kind, target, args = parse(argv)
    except _UsageError as e:
        print(f"{USAGE}\nerror: {e}", file=sys.stderr)
        return 2
    if opts["help"]:
        print(__doc__.strip())
        return 0

    if kind == "path":
        # Like python: the file must be there (message and status 2 as python's).
        path = os.path.abspath(target)
        if not os.path.exists(target):
            print(f"{sys.executable}: can't open file {path!r}: [Errno 2] No such file "
                  f"or directory", file=sys.stderr)
            return 2

    if opts["debug"]:
        _enable_debug()
    import asyncio_c
    asyncio_c.install(patch=opts["patch"])

    _install_excepthook()
    if kind == "path":
        sys.argv[:] = [target, *args]
        if os.path.isfile(target) and not _is_zip(target):
            _set_path0(os.path.dirname(os.path.realpath(target)))
            _run_file(target)
        else:
            # a directory or zip file with a __main__.py: run_path puts it first itself
            if sys.path and not getattr(sys.flags, "safe_path", False):
                del sys.path[0]
            runpy.run_path(target, run_name="__main__")
    else:
        _set_path0(os.getcwd())
        # python -m puts the module's file in sys.argv[0] for good; run_module only while
        # the module runs (then puts back what it found): so find it first.
        sys.argv[:] = [_module_file(target) or target, *args]
        try:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        except ImportError as e:
            if _strip(e.__traceback__) is not None:
                raise                           # raised by the program: its traceback
            # the module was not found (runpy's own message, as python -m prints it)
            print(f"{sys.executable}: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
