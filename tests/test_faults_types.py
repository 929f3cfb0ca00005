"""Wrong types for every public callable of asyncio_c: no crash, no hang, asyncio's exception.

The callables are DERIVED, not listed: every module-level callable of asyncio_c and of
asyncio_c._core, and every method of the types they export (Loop with all it inherits
from asyncio, Future, Task, Handle, TimerHandle, the transports, the selector view, the
native coroutines, the server...), so a new method is covered without touching this file.
Each is called with a matrix of bad arguments (None, object(), -1, 2**100, -2**100, nan,
inf, 'str', b'', [], a closed loop, a coroutine object; no / too many arguments, an
unknown keyword), on a fresh object for every callable.  A call may return or raise an
Exception; a coroutine or future it returns is run (bounded); a SystemError (a C error
path that forgot its exception) counts as a crash.

The matrix runs in a child interpreter per group, so a crash is this test's failure, not
pytest's death: its exit status and stderr are checked.  Where asyncio has the same
callable, the same calls are made on asyncio's object and the exception TYPES compared;
the differences that are deliberate are listed in KNOWN with the reason.
"""
import json
import os

import pytest

import asyncio_c

from _loop_helpers import PY, run_python

RUNNER = r'''
import asyncio, faulthandler, gc, inspect, json, math, os, socket, sys, warnings
import asyncio_c, asyncio_c._core as _core
warnings.simplefilter("ignore")
faulthandler.dump_traceback_later(100, exit=True)
GROUP = os.environ["GROUP"]
OUT = []

# Names are never resolved: a host that is not a literal address fails at once, on both
# loops alike (no DNS lookups from a test).
_real_gai = socket.getaddrinfo
def _gai(host, *a, **k):
    if isinstance(host, (str, bytes)) and host not in ("127.0.0.1", "::1", "localhost"):
        try:
            socket.inet_pton(socket.AF_INET, host if isinstance(host, str) else host.decode())
        except (OSError, UnicodeError, ValueError):
            raise socket.gaierror(socket.EAI_NONAME, "no lookups in this test")
    return _real_gai(host, *a, **k)
socket.getaddrinfo = _gai

# Callables never called, and why (all of them are about the process or block by design).
SKIP = {
    "run_forever": "runs until stop(): blocks by design",
    "_ac_run": "run_forever's C loop: blocks by design",
    "_run_once": "one iteration with nothing ready blocks in the poller by design",
    "_set_loop_class": "process-wide: replaces the class the C core makes loops of",
    "install": "process-wide: sets the event loop policy",
    "patch": "process-wide: replaces asyncio's functions",
    "unpatch": "process-wide",
    "_forget_task": "process-wide task registry",
    "select": "SelectorView.select(None) waits for events forever, by design",
}

def noop(*a, **k):
    pass

async def coro_fn():
    return 1

closed_loop = asyncio_c.new_event_loop()
closed_loop.close()
closed_aloop = asyncio.SelectorEventLoop()
closed_aloop.close()

def bad_values(is_c):
    return [None, object(), -1, 2**100, -2**100, math.nan, math.inf, "str", b"", [],
            closed_loop if is_c else closed_aloop, "CORO"]

def arg_sets(is_c):
    vals = bad_values(is_c)
    out = [((), {})]
    for v in vals:
        out.append(((v,), {}))
    for v in vals:
        out.append(((v, v), {}))
    for v in vals:
        out.append(((noop, v), {}))
        out.append(((v, noop), {}))
    out.append(((None, None, None), {}))
    out.append(((-1,) * 9, {}))
    out.append(((), {"bogus_keyword": 1}))
    out.append(((noop,), {"bogus_keyword": 1}))
    return out

def materialise(args):
    made = []
    def one(v):
        if isinstance(v, str) and v == "CORO":
            c = coro_fn()
            made.append(c)
            return c
        return v
    return tuple(one(a) for a in args), made

def describe(args, kw):
    def d(v):
        if v is noop: return "noop"
        if isinstance(v, str) and v == "CORO": return "coro"
        if isinstance(v, asyncio.AbstractEventLoop): return "closed_loop"
        if type(v) is object: return "object()"
        if isinstance(v, float): return repr(v)
        return repr(v)[:20]
    return "(" + ", ".join([d(a) for a in args] + [f"{k}=.." for k in kw]) + ")"

def outcome(fn, args, kw, loop):
    args, made = materialise(args)
    try:
        r = fn(*args, **kw)
        if inspect.isawaitable(r) and loop is not None and not loop.is_closed() \
                and not loop.is_running():
            async def bounded():
                return await asyncio.wait_for(r, 0.5)
            try:
                loop.run_until_complete(bounded())
            except RuntimeError as e:
                # this very loop stopped/closed by the call under test
                if hasattr(r, "close"):
                    r.close()
                return "ok+" + type(e).__name__
            except asyncio.TimeoutError:
                return "ok+timeout"
            except Exception as e:
                return "ok+" + type(e).__name__
            return "ok+ok"
        if inspect.iscoroutine(r):
            r.close()
        return "ok"
    except SystemError as e:
        return "SystemError:" + str(e)
    except Exception as e:
        return type(e).__name__
    finally:
        for c in made:
            c.close()

# ------------------------------------------------------------------- objects, per group
def new_loop(is_c):
    return asyncio_c.new_event_loop() if is_c else asyncio.SelectorEventLoop()

def cleanup_loop(loop):
    try:
        if not loop.is_closed() and not loop.is_running():
            for t in asyncio.all_tasks(loop):
                t.cancel()
            try:
                loop.run_until_complete(asyncio.sleep(0))
            except Exception:
                pass
            loop.close()
    except Exception:
        pass

class Proto(asyncio.Protocol):
    pass

class DProto(asyncio.DatagramProtocol):
    pass

def make(group, is_c):
    """(object, loop, cleanup) of the group, for one implementation; None if none."""
    loop = new_loop(is_c)
    extra = []
    def done():
        for x in extra:
            try:
                x()
            except Exception:
                pass
        cleanup_loop(loop)
    if group == "Loop":
        return loop, loop, done
    if group == "Future":
        return loop.create_future(), loop, done
    if group == "Task":
        t = loop.create_task(asyncio.sleep(10))
        return t, loop, done
    if group == "_GatheringFuture":
        f = loop.create_future()
        g = (asyncio_c.gather if is_c else asyncio.gather)(f)
        extra.append(lambda: g.cancel())
        return g, loop, done
    if group == "Handle":
        return loop.call_soon(noop), loop, done
    if group == "TimerHandle":
        return loop.call_later(10, noop), loop, done
    if group in ("SleepCoroutine", "WaitCoroutine", "WaitForCoroutine"):
        asyncio.events._set_running_loop(loop)
        try:
            mod = asyncio_c if is_c else asyncio
            if group == "SleepCoroutine":
                c = mod.sleep(10)
            elif group == "WaitCoroutine":
                c = mod.wait([loop.create_future()])
            else:
                c = mod.wait_for(loop.create_future(), 10)
        finally:
            asyncio.events._set_running_loop(None)
        extra.append(c.close)
        return c, loop, done
    if group in ("SocketTransport", "Server"):
        a, b = socket.socketpair()
        extra.append(b.close)
        if group == "Server":
            srv = loop.run_until_complete(loop.create_server(
                Proto, "127.0.0.1", 0))
            extra.append(srv.close)
            extra.insert(0, a.close)
            return srv, loop, done
        tr, _ = loop.run_until_complete(loop.create_connection(Proto, sock=a))
        extra.insert(0, tr.abort)
        return tr, loop, done
    if group == "DatagramTransport":
        tr, _ = loop.run_until_complete(loop.create_datagram_endpoint(
            DProto, local_addr=("127.0.0.1", 0)))
        extra.insert(0, tr.abort)
        return tr, loop, done
    if group in ("ReadPipeTransport", "WritePipeTransport"):
        r, w = os.pipe()
        ro, wo = open(r, "rb", 0), open(w, "wb", 0)
        if group == "ReadPipeTransport":
            tr, _ = loop.run_until_complete(loop.connect_read_pipe(Proto, ro))
            extra.append(wo.close)
        else:
            tr, _ = loop.run_until_complete(loop.connect_write_pipe(Proto, wo))
            extra.append(ro.close)
        extra.insert(0, tr.close)
        return tr, loop, done
    if group in ("SelectorView", "SelectorMapping"):
        sel = loop._selector
        return (sel if group == "SelectorView" else sel.get_map()), loop, done
    raise KeyError(group)

def method_names(group):
    """The names to call: derived from the type's attributes."""
    if group == "Loop":
        cls = asyncio_c.Loop
        own = set(_core.Loop.__dict__) | set(asyncio_c.Loop.__dict__)
        names = [n for n in dir(cls) if not n.startswith("__")
                 and (not n.startswith("_") or n in own)]
    elif group == "Server":
        obj, loop, done = make("Server", True)
        cls = type(obj)
        done()
        names = [n for n in dir(cls) if not n.startswith("_")]
    else:
        cls = getattr(_core, group)
        names = [n for n in dir(cls) if not n.startswith("__")]
    return [n for n in names if callable(getattr(cls, n, None))
            and not isinstance(getattr(cls, n), type)]

def record(name, is_c, results):
    OUT.append({"name": name, "impl": "c" if is_c else "a", "res": results})

def run_method_group(group):
    # a fresh object for every call: the outcome of one call never depends on what
    # an earlier bad call did to the object (or to asyncio's, which has fewer checks)
    for name in method_names(group):
        if name in SKIP:
            OUT.append({"name": name, "skip": SKIP[name]})
            continue
        for is_c in (True, False):
            results = []
            for args, kw in arg_sets(is_c):
                obj, loop, done = make(group, is_c)
                fn = getattr(obj, name, None)
                if fn is None:          # asyncio's object lacks it: no oracle
                    done()
                    break
                print(group, name, is_c, describe(args, kw), file=sys.stderr, flush=True)
                results.append((describe(args, kw), outcome(fn, args, kw, loop)))
                del fn, obj
                done()
            if results:
                record(group + "." + name, is_c, results)
        gc.collect()

def run_module_group():
    seen = {}
    for mod in (asyncio_c, _core):
        for n in dir(mod):
            if n.startswith("__"):
                continue
            f = getattr(mod, n)
            if isinstance(f, type) or not callable(f) or inspect.ismodule(f):
                continue
            if n.startswith("_") and mod is asyncio_c:
                continue
            seen[(mod.__name__, n)] = f
    for (modname, n), f in sorted(seen.items()):
        if n in SKIP:
            OUT.append({"name": n, "skip": SKIP[n]})
            continue
        pairs = [(True, f)]
        if modname == "asyncio_c" and hasattr(asyncio, n) and n not in (
                "task_factory", "create_eager_task_factory", "eager_task_factory"):
            pairs.append((False, getattr(asyncio, n)))
        for is_c, fn in pairs:
            loop = new_loop(is_c)
            results = []
            for args, kw in arg_sets(is_c):
                print(modname, n, is_c, describe(args, kw), file=sys.stderr, flush=True)
                # module functions that need a running loop get one: in a task
                async def call():
                    return outcome(fn, args, kw, None)
                results.append((describe(args, kw), outcome(fn, args, kw, loop)))
                results.append((describe(args, kw) + "@running",
                                loop.run_until_complete(call())))
            record(modname + "." + n, is_c, results)
            cleanup_loop(loop)
            gc.collect()
    # the types themselves (constructors)
    for tn in ("Future", "Task", "Loop", "Handle", "TimerHandle"):
        for is_c in (True, False):
            cls = getattr(_core, tn) if is_c else getattr(asyncio, tn, None)
            if tn == "Loop":
                cls = asyncio_c.Loop if is_c else asyncio.SelectorEventLoop
            results = []
            for args, kw in arg_sets(is_c):
                print("ctor", tn, is_c, describe(args, kw), file=sys.stderr, flush=True)
                res = outcome(cls, args, kw, None)
                results.append((describe(args, kw), res))
            record("ctor." + tn, is_c, results)
            gc.collect()

if GROUP == "module":
    run_module_group()
else:
    run_method_group(GROUP)
gc.collect()
faulthandler.cancel_dump_traceback_later()
print(json.dumps(OUT))
'''

GROUPS = ["module", "Loop", "Future", "Task", "_GatheringFuture", "Handle", "TimerHandle",
          "SocketTransport", "DatagramTransport", "ReadPipeTransport", "WritePipeTransport",
          "SleepCoroutine", "WaitCoroutine", "WaitForCoroutine", "SelectorView",
          "SelectorMapping", "Server"]

# Deliberate differences: {callable: (outcomes asyncio_c may give where asyncio differs,
# why)}.  Everything else must match asyncio's exception type.
_WHEN = ("asyncio_c checks a deadline/delay at once: a NaN or a non-number `when` would "
         "break the timer heap's order, so it is refused (ValueError/TypeError) where "
         "asyncio accepts it and fails later, or never fires (tests/test_loop_schedule.py "
         "test_call_at_nan)")
_NOKW = ("asyncio's C Future ignores unknown keywords of its no-argument methods "
         "(its argument-clinic wrappers take **kwargs unchecked); asyncio_c refuses them "
         "with TypeError like any Python method")
KNOWN = {
    "Loop.call_at": ({"TypeError", "ValueError"}, _WHEN),
    "Loop.call_later": ({"ValueError"}, _WHEN),
    "asyncio_c.sleep": ({"ok+ValueError"}, "sleep(nan): asyncio 3.13 raises ValueError; "
                        "3.11/3.12 sleep forever (never fires). asyncio_c: ValueError always"),
    "asyncio_c.wait_for": ({"ok+ValueError"}, "wait_for(x, nan): refused up front, " + _WHEN),
    "ctor.Loop": ({"ok"}, "asyncio_c.Loop(selector) ignores the selector (it polls its own "
                  "epoll); asyncio uses it and fails on a bad one"),
    "ctor.Handle": ({"ok"}, "asyncio's Handle(None, ...) asks the loop for its debug flag "
                    "at once; asyncio_c's does not (a None loop fails when the handle runs, "
                    "with AttributeError)"),
    "SelectorView.register": ({"RuntimeError"}, "loop._selector is a read-only view"),
    "SelectorView.modify": ({"RuntimeError"}, "loop._selector is a read-only view"),
    "SelectorView.unregister": ({"RuntimeError"}, "loop._selector is a read-only view"),
    "Loop.subprocess_shell": ({"ok+AttributeError", "ok+timeout"}, (
        "a protocol factory returning None: asyncio's own base_subprocess clean-up "
        "(shared by both loops) waits for an exit the None protocol can never report, "
        "and whether it hangs or raises depends on how soon the child exits")),
    "Loop.subprocess_exec": ({"ok+AttributeError", "ok+timeout"}, "as subprocess_shell"),
    "Future.exception": ({"TypeError"}, _NOKW),
    "Future.get_loop": ({"TypeError"}, _NOKW),
    "Task.exception": ({"TypeError"}, _NOKW),
    "Task.get_loop": ({"TypeError"}, _NOKW),
    "_GatheringFuture.exception": ({"TypeError"}, _NOKW),
    "_GatheringFuture.get_loop": ({"TypeError"}, _NOKW),
}


def _results(group, cwd):
    # cwd: a scratch directory, since calls such as create_unix_server("str") make files there.
    proc = run_python(RUNNER, args=("-P",), env={"GROUP": group},
                      timeout=240, cwd=cwd)
    last = proc.stderr.strip().splitlines()[-1:] if proc.stderr else []
    assert proc.returncode == 0, (
        f"the matrix child died ({proc.returncode}); its last call was {last}\n"
        + proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("group", GROUPS)
def test_bad_arguments_matrix(group, tmp_path):
    out = _results(group, tmp_path)
    by = {}
    for rec in out:
        if "skip" in rec:
            continue
        by.setdefault(rec["name"], {})[rec["impl"]] = rec["res"]
    assert by, "no callables found"
    crashes, mismatches = [], []
    for name, impls in sorted(by.items()):
        c = impls.get("c")
        if c is None:
            continue
        for call, res in c:
            if res.startswith("SystemError") or "SystemError" in res:
                crashes.append(f"{name}{call}: {res}")
        a = impls.get("a")
        # asyncio's private methods are another implementation's internals: only
        # public names (and the module functions) are compared with asyncio
        if a is None or name.split(".")[-1].startswith("_"):
            continue
        for (call, rc), (_, ra) in zip(c, a):
            if rc == ra:
                continue
            if name in KNOWN and rc in KNOWN[name][0]:
                continue
            mismatches.append(f"{name}{call}: asyncio_c {rc}, asyncio {ra}")
    assert not crashes, "\n".join(crashes)
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches)
