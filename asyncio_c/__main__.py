"""python -m asyncio_c: run a Python program with asyncio_c's event loop as the default.

    python -m asyncio_c [--patch] [--debug] script.py [args ...]
    python -m asyncio_c [--patch] [--debug] -m package.module [args ...]
    python -m asyncio_c [--patch] [--debug] -c command [args ...]

The program runs as `python script.py [args]` (or `python -m package.module [args]`,
`python -c command [args]`; the script may also be a directory or zip file with a
__main__.py, a .pyc file, or - for stdin) would run it: as a fresh module __main__, with the
same sys.argv, sys.path[0] and __main__ attributes as python gives it, the same exit status,
and an uncaught exception's traceback printed without the frames of this launcher (nor
runpy's, which python shows for -m and directories).  The only difference is that
asyncio_c's event loop policy is installed first (asyncio_c.install()), so asyncio.run(),
asyncio.Runner(), asyncio.new_event_loop() and asyncio.get_event_loop() give asyncio_c loops.

Options (before the program; everything after it belongs to the program):
  --patch    also replace asyncio.gather/wait/wait_for/shield/sleep by asyncio_c's native
             functions (asyncio_c._patch.patch(); see there for what is and is not replaced)
  --debug    asyncio debug mode, as PYTHONASYNCIODEBUG=1 would (the variable is set, so child
             processes inherit it too)
  -m MOD     run library module MOD as a script (a package runs its __main__ submodule)
  -c CMD     run the program passed as a string
  -h, --help this text
  -V, --version  asyncio_c's version
"""
import io
import os
import runpy
import sys
import types

USAGE = ("usage: python -m asyncio_c [--patch] [--debug] (script.py | -m module | -c cmd) "
         "[args ...]\n"
         "       python -m asyncio_c --help")

_THIS_FILE = os.path.normcase(os.path.abspath(__file__))
_RUNPY_FILE = runpy.run_path.__code__.co_filename


class _UsageError(Exception):
    pass


def parse(argv):
    """argv (without the program name) -> (options, "path"|"module"|"command", target, args)."""
    opts = {"patch": False, "debug": False, "help": False, "version": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            opts["help"] = True
            return opts, None, None, []
        if a in ("-V", "--version"):
            opts["version"] = True
            return opts, None, None, []
        if a == "--patch":
            opts["patch"] = True
        elif a == "--debug":
            opts["debug"] = True
        elif a[:2] in ("-m", "-c"):
            # -mMOD / -m MOD, -cCMD / -c CMD: the rest of argv is the program's
            value = a[2:]
            if not value:
                i += 1
                if i == len(argv):
                    raise _UsageError(f"Argument expected for the {a} option")
                value = argv[i]
            return opts, ("module" if a[1] == "m" else "command"), value, argv[i + 1:]
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
    # python puts the script's directory (or, for -m, the current directory; for -c and
    # stdin, '') first on sys.path, except under -P / PYTHONSAFEPATH; `python -m asyncio_c`
    # already put the current directory there.
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


def _abspath(path):
    # How python makes the script's path absolute (what __file__, tracebacks and its error
    # messages show): the current directory joined in front, nothing normalised, so
    # `python ./x.py` says /cwd/./x.py where os.path.abspath would say /cwd/x.py.
    return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)


def _new_main(**attrs):
    """A fresh module __main__ in sys.modules, with what the interpreter's own __main__ has.

    The program runs in it rather than in this launcher's module (which is __main__ when
    we start), so that it sees none of our globals, and `import __main__`, pickle and
    multiprocessing find the program's.
    """
    import builtins
    import importlib.machinery
    module = types.ModuleType("__main__")
    module.__dict__.update(__package__=None, __loader__=importlib.machinery.BuiltinImporter,
                           __spec__=None, __builtins__=builtins)
    if sys.version_info < (3, 14):
        module.__annotations__ = {}     # (the interpreter's __main__ has it before 3.14)
    module.__dict__.update(attrs)
    sys.modules["__main__"] = module
    return module


def _is_pyc(path, head):
    # python runs a compiled file when its name ends in .pyc or it starts like one
    import importlib.util
    return path.endswith(".pyc") or head[:2] == importlib.util.MAGIC_NUMBER[:2]


def _load_file(path, data):
    """(code, globals) to run a source (or compiled) file as module __main__, as python does.

    (Not runpy.run_path: that sets sys.argv[0] to the path it is given, while python keeps
    sys.argv[0] as typed but compiles the file under its absolute path, which is what
    __file__ and tracebacks show.)
    """
    import importlib.machinery
    import importlib.util
    if _is_pyc(path, data):
        import marshal
        if data[:4] != importlib.util.MAGIC_NUMBER:
            raise RuntimeError("Bad magic number in .pyc file")
        code = marshal.loads(data[16:])
        loader = importlib.machinery.SourcelessFileLoader("__main__", path)
    else:
        code = compile(data, path, "exec", dont_inherit=True)
        loader = importlib.machinery.SourceFileLoader("__main__", path)
    module = _new_main(__loader__=loader, __file__=path, __cached__=None)
    return exec, (code, module.__dict__)


def _load_source(source, filename, **attrs):
    """-c CODE and - (the program read from stdin)."""
    code = compile(source, filename, "exec", dont_inherit=True)
    module = _new_main(**attrs)
    return exec, (code, module.__dict__)


def _load_module(name, alter_argv):
    """-m NAME (alter_argv) and a directory or zip file with a __main__.py (name "__main__").

    Run by what the interpreter itself calls for both (runpy's private
    _run_module_as_main, the same function since Python 2.7): it finds the module the way
    python -m does, reports what it cannot run with python's messages (sys.exit), sets
    sys.argv[0] to the module's file for -m, and runs the code in sys.modules["__main__"],
    here a fresh module (runpy.run_module would run it in a temporary module and put
    sys.argv[0] back afterwards).
    """
    _new_main()
    return runpy._run_module_as_main, (name, alter_argv)


def _version():
    from . import __version__
    return f"asyncio_c {__version__} (Python {sys.version.split()[0]})"


def main(argv=None):
    """Everything up to running the program: an exit status, or (function, args) that runs it.

    The caller, this module's top level, makes that call itself, so that the launcher adds a
    single frame under the program (tracebacks leave it out; debug mode's "created at"
    stacks of coroutines and tasks show it, as python -m shows runpy's).
    """
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts, kind, target, args = parse(argv)
    except _UsageError as e:
        print(f"{USAGE}\nerror: {e}", file=sys.stderr)
        return 2
    if opts["help"]:
        print(__doc__.strip())
        return 0
    if opts["version"]:
        print(_version())
        return 0

    data = None
    if kind == "path" and target != "-" and not os.path.isdir(target):
        # Like python: read the file first; if it cannot be, python's message and status 2.
        try:
            with io.open_code(target) as f:
                data = f.read()
        except OSError as e:
            print(f"{sys.executable}: can't open file {_abspath(target)!r}: "
                  f"[Errno {e.errno}] {e.strerror}", file=sys.stderr)
            return 2

    if opts["debug"]:
        _enable_debug()
    import asyncio_c
    asyncio_c.install(patch=opts["patch"])

    _install_excepthook()
    if kind == "command":
        sys.argv[:] = ["-c", *args]
        _set_path0("")
        import linecache
        if hasattr(linecache, "_register_code"):
            # 3.13+: python -c keeps the command's text where tracebacks find it (their
            # source lines for File "<string>"); the same private call python makes
            linecache._register_code("<string>", target, "<string>")
        return _load_source(target, "<string>")
    elif kind == "path" and target == "-":
        sys.argv[:] = ["-", *args]
        _set_path0("")
        return _load_source(sys.stdin.read(), "<stdin>", __file__="<stdin>", __cached__=None)
    elif kind == "path":
        sys.argv[:] = [target, *args]
        if data is not None and not _is_zip(target):
            _set_path0(os.path.dirname(os.path.realpath(target)))
            return _load_file(_abspath(target), data)
        else:
            # a directory or zip file with a __main__.py in it: python puts it first on
            # sys.path and runs its __main__ from there as -m __main__ would
            _set_path0(_abspath(target))
            return _load_module("__main__", alter_argv=False)
    else:
        _set_path0(os.getcwd())
        # (while python -m imports the module's packages, sys.argv[0] is "-m")
        sys.argv[:] = ["-m", *args]
        return _load_module(target, alter_argv=True)


if __name__ == "__main__":
    _job = main()
    if isinstance(_job, int):
        sys.exit(_job)
    _job[0](*_job[1])       # the program: exec(code, globals) or runpy's -m

