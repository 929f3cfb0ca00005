"""Differential testing against asyncio: the program model, its generator, its interpreter.

A *program* is plain data (``Program``): a few coroutine *bodies* (lists of op tuples), a few
bare futures, and the list of ops the main coroutine performs.  ``run_program(prog, mode)``
runs it on one implementation and returns its *trace*; the test compares the trace of asyncio
(the oracle, same interpreter) with asyncio_c's.

Modes:
    "asyncio"  asyncio.SelectorEventLoop, asyncio's functions            (the oracle)
    "c_loop"   asyncio_c's loop, asyncio's gather/wait/wait_for/shield/sleep
    "c_native" asyncio_c's loop, asyncio_c's native gather/wait/wait_for/shield/sleep
    "c_patch"  asyncio_c's loop with asyncio_c.patch() in force during the run (unpatched
               after it, even when it fails): asyncio.gather/wait/wait_for/shield/sleep, as the
               program calls them, are the native ones; asyncio.timeout, TaskGroup,
               as_completed and the Event/Lock/Queue stay asyncio's Python code over them

Objects.  Body i runs as task ``Ti`` (spawned on first use, at most once); future j is
``Fj`` (loop.create_future()).  A reference is ("T", i), ("F", j) or ("C", i): the bare
coroutine of body i handed to the combinator (which wraps it in a task we do not name; if body
i is already spawned, ("C", i) means ("T", i)).

Ops (any place: main, a body, a callback):
    ("set_result", j, v) ("set_exception", j, e) ("cancel", ref, msg) ("uncancel", i)
    ("spawn", i) ("probe", ref) ("add_cb", ref, k) ("remove_cb", ref, k)
    ("ev_set",) ("ev_clear",) ("q_put", v) ("q_get_nowait",) ("lock_probe",)
        on the program's one asyncio.Event, asyncio.Lock and asyncio.Queue(maxsize=1) (made by
        main at its start: asyncio's pure-Python primitives over the loop's futures)
    ("call_soon", op) ("call_later0", op) ("call_never", op)   op: one of the above, or
    ("boom", e) (raise from a callback: the loop's exception handler gets it)
Ops only in a body (they await):
    ("tick", n)                      n x sleep(0)
    ("await", ref)
    ("gather", refs, return_exceptions)
    ("wait", refs, return_when, timeout)
    ("wait_for", ref, timeout)
    ("shield", ref)
    ("timeout", delay, ops)          async with asyncio.timeout(delay) as cm: ops
    ("timeout_at", delay, ops)       async with asyncio.timeout_at(loop.time() + delay) as cm
                                     (delay None: timeout_at(None)); both log cm.when() in
                                     relative form (None / "past" / "never", never a time) and
                                     cm.expired() after the block
    ("reschedule", delay)            (in a timeout's ops) cm.reschedule(None / loop.time() /
                                     loop.time() + NEVER) on the innermost cm of the body
    ("as_completed", refs, timeout, form)
                                     for c in asyncio.as_completed(refs, timeout=timeout): await
                                     c, each outcome recorded (every outcome is caught one by
                                     one, even a CancelledError unless the body itself is
                                     being cancelled; TimeoutError ends the loop); form "async"
                                     (3.13+): async for f in as_completed(...), recording each
                                     future's label and state.  refs are tasks and futures only
                                     (see below)
    ("ev_wait",) ("q_get",) ("q_put_wait", v)
                                     await event.wait() / queue.get() / queue.put(v)
    ("lock", ops)                    async with lock: ops
    ("raise_base", k)                raise DiffBase(k): a BaseException that is neither
                                     Exception nor CancelledError (the Task stores it as its
                                     exception; TaskGroup and gather see a BaseException);
                                     k "kbi" / "exit": KeyboardInterrupt / SystemExit, which
                                     the Task also re-raises out of run_until_complete: the
                                     runner logs it ("escaped") and runs the loop on (Run.drive)
    ("taskgroup", bodies, ops)       async with TaskGroup() as tg: spawn bodies in tg; ops
    ("try", ops, how)                how: "log" (swallow anything), "reraise", "uncancel"
    ("cancel_self", msg)             current_task().cancel(msg), and go on
    ("raise", e)                     raise Err(e)
    ("return", v)
The main coroutine performs only non-blocking ops and ("tick", n): it never blocks, so every
program ends: after main's ops (and three ticks), an end phase (a second task) cancels every
pending task and future in rounds until all are done (bodies are finite, so a few rounds
suffice).

Time.  The trace must not depend on machine speed, so the only delays are 0 and NEVER
(3600 s, far beyond the program's life).  A timer of delay 0 created at loop time t fires in
the first iteration that starts after t, after the callbacks already ready (both loops move
expired timers behind the ready queue), and two such timers created at different moments have
different deadlines (CLOCK_MONOTONIC has ns resolution, far below the microseconds between two
ops) so they fire in creation order on both loops.  No op sleeps a real delay: the order of a
real timer against sleep(0) ticks would depend on the speed of the machine.

as_completed.  asyncio builds its set of futures with set(fs) (order: object addresses) and
adds its done callback to each in that order: the futures already done when as_completed
starts are queued in an arbitrary order (the ones that finish later in completion order).  So
its refs are tasks and futures, never bare coroutines (ensure_future would create their tasks in
set order), every outcome is caught (the futures already done at the start are all consumed
in one step of the body: their callbacks run in one loop iteration, before any later one; the
body's own cancellation can come only while it waits, i.e. never among them), and the outcomes
are recorded as a sorted list.

The trace records, in order: every op's outcome (values, exception types and args, i.e.
cancellation messages), done-callbacks, the final state of every task and future; and, as a
sorted multiset (they come from the garbage collector, whose timing is not asyncio's
behaviour), the calls of the loop's exception handler.
"""
import asyncio
import contextlib
import gc
import re
import signal
import sys
import time
import warnings

import asyncio_c

PY = sys.version_info[:2]
NEVER = 3600.0
WHENS = ("FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED")
MODES = ("asyncio", "c_loop", "c_native", "c_patch")
HANG_SECONDS = 20.0   # a program takes milliseconds: one that runs this long is a hang


_SRCPOS = re.compile(r" at [^\s<>]+\.py:\d+")
_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")
_CBS = re.compile(r" cb=\[[^\]]*\]")


class Err(ValueError):
    """The exceptions programs raise: Err(id)."""


def _innermost_function(e):
    """The name of the Python function the exception was raised in."""
    tb = e.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_name


def make_exc(e):
    """An exception spec of a program: an int n is Err(n); "cls" the class Err itself
    (set_exception and raise accept a class); "stop" StopIteration (set_exception refuses
    it, a coroutine raising it gets RuntimeError); "cancel" a CancelledError of our own."""
    if e == "cls":
        return Err
    if e == "stop":
        return StopIteration("st")
    if e == "cancel":
        return asyncio.CancelledError("own")
    return Err(e)


class DiffBase(BaseException):
    """The BaseException (not an Exception, not a CancelledError) programs raise."""


class Hang(BaseException):
    pass


class Program:
    """bodies: list of op lists; nfut: number of bare futures; main: op list; eager: 3.12+
    eager task factory.  repr() is Python source that rebuilds it (paste into the
    regressions file)."""

    def __init__(self, bodies, nfut, main, eager=False):
        self.bodies = bodies
        self.nfut = nfut
        self.main = main
        self.eager = eager

    def __repr__(self):
        lines = ["Program(", "    bodies=["]
        for b in self.bodies:
            lines.append(f"        {b!r},")
        lines.append("    ],")
        lines.append(f"    nfut={self.nfut},")
        lines.append(f"    main={self.main!r},")
        lines.append(f"    eager={self.eager!r},")
        lines.append(")")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the generator

def programs(max_bodies=5, max_fut=3):
    from hypothesis import strategies as st

    @st.composite
    def program(draw):
        nb = draw(st.integers(1, max_bodies))
        nf = draw(st.integers(0, max_fut))
        tidx = st.integers(0, nb - 1)
        msg = st.sampled_from([None, "m1", "m2"])
        val = st.integers(0, 9)
        eid = st.one_of(st.integers(0, 9), st.sampled_from(["cls", "stop", "cancel"]))
        tref = st.tuples(st.just("T"), tidx)
        refs = [tref, st.tuples(st.just("C"), tidx)]
        if nf:
            fidx = st.integers(0, nf - 1)
            fref = st.tuples(st.just("F"), fidx)
            refs.append(fref)
            fut_ops = [st.tuples(st.just("set_result"), fidx, val),
                       st.tuples(st.just("set_exception"), fidx, eid)]
            wref = st.one_of(tref, fref)
        else:
            fut_ops = []
            wref = tref
        ref = st.one_of(*refs)
        cancel_ref = wref
        simple = st.one_of(
            *fut_ops,
            st.tuples(st.just("cancel"), cancel_ref, msg),
            st.tuples(st.just("uncancel"), tidx),
            st.tuples(st.just("spawn"), tidx),
            st.tuples(st.just("probe"), wref),
            st.tuples(st.just("add_cb"), wref, st.integers(0, 2)),
            st.tuples(st.just("remove_cb"), wref, st.integers(0, 2)),
            st.tuples(st.just("all_tasks")),
            st.one_of(st.tuples(st.sampled_from(["ev_set", "ev_clear", "q_get_nowait",
                                                 "lock_probe"])),
                      st.tuples(st.just("q_put"), val)),
        )
        in_cb = st.one_of(simple, st.tuples(st.just("boom"), eid))
        action = st.one_of(
            simple,
            st.tuples(st.sampled_from(["call_soon", "call_later0", "call_never"]), in_cb),
        )
        tick = st.tuples(st.just("tick"), st.integers(1, 3))
        timeout = st.sampled_from([None, 0, NEVER])
        ac_form = st.sampled_from(["for", "async"]) if PY >= (3, 13) else st.just("for")

        def body_ops(leaf):
            return st.one_of(
                action, tick, tick, leaf, leaf,
                st.tuples(st.just("await"), ref),
                st.tuples(st.just("gather"), st.lists(ref, max_size=3).map(tuple),
                          st.booleans()),
                st.tuples(st.just("wait"), st.lists(wref, max_size=3).map(tuple),
                          st.sampled_from(WHENS), timeout),
                st.tuples(st.just("wait_for"), ref, timeout),
                st.tuples(st.just("shield"), ref),
                st.tuples(st.just("cancel_self"), msg),
                st.tuples(st.just("raise"), eid),
                st.tuples(st.just("as_completed"), st.lists(wref, max_size=3).map(tuple),
                          timeout, ac_form),
                st.tuples(st.just("raise_base"), st.sampled_from([0, 1, "kbi", "exit"])),
                st.one_of(st.tuples(st.sampled_from(["ev_wait", "q_get"])),
                          st.tuples(st.just("q_put_wait"), val)),
            )

        flat = body_ops(st.nothing())
        flat_list = st.lists(flat, max_size=3)
        resched = st.tuples(st.just("reschedule"), timeout)
        tmo_list = st.lists(st.one_of(flat, resched), max_size=3)
        nested = st.one_of(
            st.tuples(st.sampled_from(["timeout", "timeout_at"]), timeout, tmo_list),
            st.tuples(st.just("taskgroup"), st.lists(tidx, max_size=2).map(tuple), flat_list),
            st.tuples(st.just("try"), flat_list, st.sampled_from(["log", "reraise", "uncancel"])),
            st.tuples(st.just("lock"), flat_list),
        )
        op = st.one_of(body_ops(nested), st.tuples(st.just("return"), val))
        bodies = [draw(st.lists(op, max_size=5)) for _ in range(nb)]
        spawn = st.tuples(st.just("spawn"), tidx)
        main = draw(st.lists(st.one_of(spawn, spawn, action, tick, tick), min_size=1,
                             max_size=8))
        eager = PY >= (3, 12) and draw(st.integers(0, 3)) == 0
        return Program(bodies, nf, main, eager)

    return program()


# ---------------------------------------------------------------------------------------------
# the interpreter

class _Api:
    def __init__(self, mod):
        self.gather = mod.gather
        self.wait = mod.wait
        self.wait_for = mod.wait_for
        self.shield = mod.shield
        self.sleep = mod.sleep


class Run:
    # Also compare the type of each exception's __context__ (the implicit chain a traceback
    # shows as "During handling of the above exception, another exception occurred").
    with_context = True

    def __init__(self, prog, mode):
        self.prog = prog
        self.mode = mode
        self.api = None           # set by run() (in mode c_patch, once patched)
        self.cms = {}             # body label -> stack of its asyncio.timeout cms
        self.trace = []
        self.handler_calls = []
        self.labels = {}          # id(obj) -> label, for tasks/futures we made
        self.objs = {}            # label -> obj
        self.tasks = {}           # body index -> task (or None: consumed as a bare coroutine)
        self.futs = []
        self.cbs = {}
        self.made = []
        self.waits = {}           # body label -> {body label it waits for: count}

    # -- naming and describing

    def label(self, obj):
        return self.labels.get(id(obj), "?")

    def register(self, label, obj):
        self.labels[id(obj)] = label
        self.objs[label] = obj

    def desc_exc(self, e):
        if isinstance(e, BaseExceptionGroup):
            return ("EG", type(e).__name__, e.args[0] if e.args else None,
                    [self.desc_exc(x) for x in e.exceptions])
        cause = type(e.__cause__).__name__ if e.__cause__ is not None else None
        if not self.with_context:
            return (type(e).__name__, self.norm(e.args), cause)
        ctx = type(e.__context__).__name__ if e.__context__ is not None else None
        return (type(e).__name__, self.norm(e.args), cause, ctx)

    def norm(self, v):
        if isinstance(v, str):
            # Messages may embed reprs: a Task's repr lists its callbacks, and asyncio's
            # Python callbacks show "at file:line" where asyncio_c's C ones cannot; object
            # addresses differ from run to run.
            # The callbacks a repr lists are asyncio's closures on one side, asyncio_c's C
            # callables on the other: dropped.
            return _CBS.sub("", _ADDR.sub("", _SRCPOS.sub("", v)))
        if v is None or isinstance(v, (int, bool, float)):
            return v
        if isinstance(v, (list, tuple)):
            return type(v)(self.norm(x) for x in v)
        if isinstance(v, (set, frozenset)):
            return ("set", sorted(str(self.norm(x)) for x in v))
        if isinstance(v, BaseException):
            return self.desc_exc(v)
        if isinstance(v, asyncio.Future) or asyncio.isfuture(v):
            return self.label(v)
        return ("obj", type(v).__name__)

    def log(self, *ev):
        self.trace.append(ev)

    def state(self, f):
        if not f.done():
            return ("pending",)
        if f.cancelled():
            try:
                f.result()
            except asyncio.CancelledError as e:
                return ("cancelled", self.desc_exc(e))
            except BaseException as e:   # pragma: no cover - would itself be a divergence
                return ("cancelled?", self.desc_exc(e))
            return ("cancelled?",)
        e = f.exception()
        if e is not None:
            return ("exception", self.desc_exc(e))
        return ("result", self.norm(f.result()))

    # -- objects

    def body_name(self, i):
        return f"T{i}"

    def spawn(self, i, tg=None):
        if i in self.tasks:
            return self.tasks[i]
        self.tasks[i] = None       # reserved (an eager task runs inside create_task)
        coro = self.body(i)
        if tg is not None:
            t = tg.create_task(coro, name=self.body_name(i))
        else:
            t = self.loop.create_task(coro, name=self.body_name(i))
        self.tasks[i] = t
        self.register(self.body_name(i), t)
        return t

    def resolve(self, ref, allow_coro=False):
        kind, n = ref
        if kind == "F":
            return self.futs[n]
        if kind == "C" and allow_coro and n not in self.tasks:
            self.tasks[n] = None   # consumed: runs in a task the combinator makes
            c = self.body(n)
            self.made.append(c)
            return c
        t = self.spawn(n)
        if t is None:              # consumed as a bare coroutine, or being created eagerly
            raise LookupError(f"T{n} not available")
        return t

    # -- non-blocking ops

    def do_action(self, where, op):
        kind = op[0]
        try:
            if kind == "set_result":
                self.futs[op[1]].set_result(op[2])
                self.log(where, kind, op[1])
            elif kind == "set_exception":
                self.futs[op[1]].set_exception(make_exc(op[2]))
                self.log(where, kind, op[1])
            elif kind == "cancel":
                obj = self.resolve(op[1])
                if op[2] is None:
                    r = obj.cancel()
                else:
                    r = obj.cancel(op[2])
                self.log(where, kind, self.label(obj), r)
            elif kind == "uncancel":
                t = self.resolve(("T", op[1]))
                self.log(where, kind, self.label(t), t.uncancel(), t.cancelling())
            elif kind == "spawn":
                t = self.resolve(("T", op[1]))
                self.log(where, kind, self.label(t))
            elif kind == "probe":
                obj = self.resolve(op[1])
                self.log(where, kind, self.label(obj), self.state(obj))
                if hasattr(obj, "cancelling"):
                    self.log(where, "cancelling", self.label(obj), obj.cancelling())
            elif kind == "add_cb":
                obj = self.resolve(op[1])
                obj.add_done_callback(self.cb(op[2]))
                self.log(where, kind, self.label(obj), op[2])
            elif kind == "remove_cb":
                obj = self.resolve(op[1])
                self.log(where, kind, self.label(obj), op[2],
                         obj.remove_done_callback(self.cb(op[2])))
            elif kind in ("call_soon", "call_later0", "call_never"):
                inner = op[1]

                def callback():
                    if inner[0] == "boom":
                        self.log("callback", "boom", inner[1])
                        raise make_exc(inner[1])
                    self.do_action("callback", inner)

                if kind == "call_soon":
                    self.loop.call_soon(callback)
                elif kind == "call_later0":
                    self.loop.call_later(0, callback)
                else:
                    self.never_handles.append(self.loop.call_later(NEVER, callback))
                self.log(where, kind)
            elif kind == "ev_set":
                self.event.set()
                self.log(where, kind)
            elif kind == "ev_clear":
                self.event.clear()
                self.log(where, kind)
            elif kind == "q_put":
                self.queue.put_nowait(op[1])
                self.log(where, kind, op[1])
            elif kind == "q_get_nowait":
                self.log(where, kind, self.queue.get_nowait())
            elif kind == "lock_probe":
                self.log(where, kind, self.lock.locked(), self.event.is_set(),
                         self.queue.qsize())
            elif kind == "all_tasks":
                ts = asyncio.all_tasks(self.loop)
                self.log(where, kind, sorted(self.label(t) for t in ts))
            elif kind == "boom":
                raise make_exc(op[1])
            else:  # pragma: no cover
                raise AssertionError(op)
        except (asyncio.InvalidStateError, LookupError, RuntimeError, TypeError,
                ValueError, asyncio.QueueEmpty, asyncio.QueueFull) as e:
            self.log(where, kind, "raised", self.desc_exc(e))

    def cb(self, k):
        if k not in self.cbs:
            def done_callback(fut, k=k):
                self.log("cb", k, self.label(fut), self.state(fut))
            self.cbs[k] = done_callback
        return self.cbs[k]

    # -- bodies

    async def body(self, i):
        where = self.body_name(i)
        self.log(where, "start")
        if self.tasks.get(i) is None:
            # An eager task runs its first step inside create_task, before spawn() has it:
            # it is the current task (and not the task of a combinator running a bare body).
            t = asyncio.current_task()
            if t is not None and t.get_name() == where and self.label(t) == "?":
                self.tasks[i] = t
                self.register(where, t)
        try:
            r = await self.run_ops(where, self.prog.bodies[i])
        except BaseException as e:
            self.log(where, "end-exc", self.desc_exc(e))
            raise
        self.log(where, "end", r)
        return r

    async def run_ops(self, where, ops):
        """Returns ("ret", v) for a return op, else where's default value."""
        for op in ops:
            r = await self.run_op(where, op)
            if r is not None:
                return r
        return where

    async def run_op(self, where, op):
        kind = op[0]
        api = self.api
        if kind == "tick":
            for _ in range(op[1]):
                await api.sleep(0)
            self.log(where, "tick")
            return None
        if kind == "return":
            return ("ret", op[1])
        if kind == "raise":
            self.log(where, "raise", op[1])
            raise make_exc(op[1])
        if kind == "raise_base":
            self.log(where, kind, op[1])
            if op[1] == "kbi":
                raise KeyboardInterrupt("kbi")
            if op[1] == "exit":
                raise SystemExit("exit")
            raise DiffBase(op[1])
        if kind == "reschedule":
            stack = self.cms.get(where)
            if not stack:
                self.log(where, kind, "no cm")
                return None
            cm = stack[-1]
            delay = op[1]
            try:
                cm.reschedule(None if delay is None else self.loop.time() + delay)
            except RuntimeError as e:
                self.log(where, kind, "raised", self.desc_exc(e))
                return None
            self.log(where, kind, delay, self.when(cm), cm.expired())
            return None
        if kind == "as_completed":
            return await self.as_completed(where, op)
        if kind in ("ev_wait", "q_get", "q_put_wait"):
            try:
                if kind == "ev_wait":
                    r = await self.event.wait()
                elif kind == "q_get":
                    r = await self.queue.get()
                else:
                    r = await self.queue.put(op[1])
            except BaseException as e:
                self.log(where, kind, "raised", self.desc_exc(e))
                raise
            self.log(where, kind, "->", self.norm(r))
            return None
        if kind == "lock":
            try:
                async with self.lock:
                    self.log(where, "locked")
                    r = await self.run_ops(where, op[1])
            except BaseException as e:
                self.log(where, "lock-exc", self.desc_exc(e), self.lock.locked())
                raise
            self.log(where, "unlocked", self.lock.locked())
            return r if isinstance(r, tuple) else None
        if kind == "cancel_self":
            t = asyncio.current_task()
            self.log(where, kind, t.cancel() if op[1] is None else t.cancel(op[1]))
            return None
        if kind in ("timeout", "timeout_at"):
            delay = op[1]
            if kind == "timeout":
                cm = asyncio.timeout(delay)
            else:
                cm = asyncio.timeout_at(None if delay is None else self.loop.time() + delay)
            stack = self.cms.setdefault(where, [])
            stack.append(cm)
            try:
                async with cm:
                    r = await self.run_ops(where, op[2])
            except BaseException as e:
                self.log(where, "timeout-exc", self.desc_exc(e), self.when(cm), cm.expired())
                raise
            finally:
                stack.pop()
            self.log(where, "timeout-ok", self.when(cm), cm.expired())
            return r if isinstance(r, tuple) else None
        if kind == "taskgroup":
            kids = [f"T{i}" for i in op[1]]
            if self.would_cycle(where, kids):
                self.log(where, kind, "skipped: cycle")
                return None
            self.edges(where, kids, +1)
            try:
                async with asyncio.TaskGroup() as tg:
                    for i in op[1]:
                        if i not in self.tasks:
                            self.spawn(i, tg)
                    r = await self.run_ops(where, op[2])
            except BaseException as e:
                self.log(where, "tg-exc", self.desc_exc(e))
                raise
            finally:
                self.edges(where, kids, -1)
            self.log(where, "tg-ok")
            return r if isinstance(r, tuple) else None
        if kind == "try":
            how = op[2]
            try:
                r = await self.run_ops(where, op[1])
            except asyncio.CancelledError as e:
                self.log(where, "caught", how, self.desc_exc(e))
                if how == "reraise":
                    raise
                if how == "uncancel":
                    t = asyncio.current_task()
                    self.log(where, "uncancel-self", t.uncancel())
                return None
            except Exception as e:
                self.log(where, "caught", how, self.desc_exc(e))
                if how == "reraise":
                    raise
                return None
            return r if isinstance(r, tuple) else None
        if kind in ("await", "gather", "wait", "wait_for", "shield"):
            refs = op[1] if kind in ("gather", "wait") else (op[1],)
            targets = [f"T{n}" for k, n in refs if k != "F"]
            selfawait = kind == "await" and op[1][0] == "T" and targets == [where]
            if not selfawait and self.would_cycle(where, targets):
                # A task waiting (through any chain of tasks and combinators) for itself:
                # cancelling it recurses without end in asyncio too (Task.cancel follows
                # the chain of awaited futures).  Not a program worth comparing.
                self.log(where, kind, "skipped: cycle")
                return None
            # The edges go in before the setup: an eager task (3.12+) made by the setup
            # runs at once, and may try to wait for us.
            self.edges(where, targets, +1)
            self.made = []   # bare coroutines made for this op: closed if the setup fails
            try:
                if kind == "await":
                    aw = self.resolve(op[1], allow_coro=True)
                elif kind == "gather":
                    aws = [self.resolve(r, allow_coro=True) for r in op[1]]
                    aw = api.gather(*aws, return_exceptions=op[2])
                elif kind == "wait":
                    fs = [self.resolve(r) for r in op[1]]
                    aw = api.wait(fs, return_when=getattr(asyncio, op[2]), timeout=op[3])
                elif kind == "wait_for":
                    aw = api.wait_for(self.resolve(op[1], allow_coro=True), op[2])
                else:
                    aw = api.shield(self.resolve(op[1], allow_coro=True))
            except (LookupError, TypeError, ValueError, RuntimeError) as e:
                # setting up failed synchronously (e.g. a body not available)
                for c in self.made:
                    c.close()
                self.edges(where, targets, -1)
                self.log(where, kind, "setup-raised", self.desc_exc(e))
                return None
            try:
                r = await aw
            except BaseException as e:
                self.log(where, kind, "raised", self.desc_exc(e))
                raise
            finally:
                self.edges(where, targets, -1)
            if kind == "wait":
                done, pending = r
                r = (sorted(self.label(f) for f in done), sorted(self.label(f) for f in pending))
            self.log(where, kind, "->", self.norm(r))
            return None
        self.do_action(where, op)
        return None

    def when(self, cm):
        """cm.when() in relative form: the absolute times differ from run to run."""
        w = cm.when()
        if w is None:
            return None
        return "never" if w > self.loop.time() + NEVER / 2 else "past"

    async def as_completed(self, where, op):
        refs, timeout, form = op[1], op[2], op[3]
        targets = [f"T{n}" for k, n in refs if k != "F"]
        if self.would_cycle(where, targets):
            self.log(where, "as_completed", "skipped: cycle")
            return None
        if form == "async" and PY < (3, 13):
            self.log(where, "as_completed", "skipped: no async for before 3.13")
            return None
        self.edges(where, targets, +1)
        outcomes = []
        try:
            try:
                objs = [self.resolve(r) for r in refs]
                it = asyncio.as_completed(objs, timeout=timeout)
            except (LookupError, TypeError, ValueError, RuntimeError) as e:
                self.log(where, "as_completed", "setup-raised", self.desc_exc(e))
                return None

            try:
                if form == "async":
                    async for f in it:
                        outcomes.append((self.label(f), self.state(f)))
                else:
                    for c in it:
                        try:
                            v = await c
                        except asyncio.CancelledError as e:
                            # a cancelled future's outcome (raised by f.result()), or our
                            # own cancellation (raised where as_completed waits, in
                            # Queue.get): that one ends the iteration
                            if _innermost_function(e) == "get":
                                raise
                            outcomes.append(("raised", self.desc_exc(e)))
                        except BaseException as e:
                            # every outcome caught one by one: whatever the (arbitrary)
                            # order of the first ones, they are all consumed
                            outcomes.append(("raised", self.desc_exc(e)))
                            if isinstance(e, TimeoutError):
                                break
                        else:
                            outcomes.append(("ok", self.norm(v)))
            except TimeoutError as e:
                outcomes.append(("raised", self.desc_exc(e)))
            except BaseException as e:
                self.log(where, "as_completed", "raised", self.desc_exc(e),
                         self.ac_outcomes(outcomes))
                raise
        finally:
            self.edges(where, targets, -1)
        self.log(where, "as_completed", "->", self.ac_outcomes(outcomes))
        return None

    @staticmethod
    def ac_outcomes(outcomes):
        # the first ones (the futures already done at the start) come in set order, i.e.
        # arbitrary: all sorted (see the docstring)
        return sorted(outcomes, key=repr)

    # -- the waits-for graph (nodes: body labels), to keep programs free of cycles

    def edges(self, src, targets, d):
        w = self.waits.setdefault(src, {})
        for t in targets:
            w[t] = w.get(t, 0) + d
            if not w[t]:
                del w[t]

    def would_cycle(self, src, targets):
        seen = set()
        stack = list(targets)
        while stack:
            n = stack.pop()
            if n == src:
                return True
            if n in seen:
                continue
            seen.add(n)
            stack.extend(self.waits.get(n, ()))
        return False

    # -- main

    async def main(self):
        loop = self.loop
        self.futs = [loop.create_future() for _ in range(self.prog.nfut)]
        self.event = asyncio.Event()
        self.lock = asyncio.Lock()
        self.queue = asyncio.Queue(maxsize=1)
        for j, f in enumerate(self.futs):
            self.register(f"F{j}", f)
        for op in self.prog.main:
            if op[0] == "tick":
                for _ in range(op[1]):
                    await self.api.sleep(0)
                self.log("main", "tick")
            else:
                self.do_action("main", op)
        for _ in range(3):
            await self.api.sleep(0)

    async def end_phase(self):
        self.log("main", "end phase")
        for rnd in range(8):
            pending = [lab for lab, o in sorted(self.objs.items()) if not o.done()]
            if not pending:
                break
            self.log("main", "round", rnd, pending)
            for lab in pending:
                self.objs[lab].cancel(f"end{rnd}")
            for _ in range(3):
                await self.api.sleep(0)
        for lab, o in sorted(self.objs.items()):
            self.log("final", lab, self.state(o))
        for h in self.never_handles:
            h.cancel()

    def drive(self, phase, hung):
        """Run phase() (a coroutine function) in a task until it is done: a KeyboardInterrupt
        or SystemExit a task raises leaves run_until_complete (asyncio's Task sets it as the
        task's exception and re-raises it), is logged, and the loop runs on where it stopped.
        False after a hang."""
        task = self.loop.create_task(phase())
        self.labels[id(task)] = "main"
        while True:
            try:
                self.loop.run_until_complete(task)
                return True
            except (KeyboardInterrupt, SystemExit) as e:
                self.log("escaped", self.desc_exc(e), task.done())
                if task.done():
                    return True
            except RuntimeError as e:
                if hung:
                    self.log("HANG")
                    return False
                if "stopped before Future completed" not in str(e):
                    raise
                # The previous phase's task finished in the loop iteration that a
                # KeyboardInterrupt/SystemExit left: run_until_complete's stop() callback
                # was already scheduled, and stops this run: run on.
                self.log("stopped early")

    def handler(self, loop, context):
        exc = context.get("exception")
        fut = context.get("future") or context.get("task")
        msg = context.get("message", "")
        # messages may embed reprs (addresses, Task-N names): keep their fixed head
        for head in ("Task exception was never retrieved", "Future exception was never retrieved",
                     "Task was destroyed but it is pending!", "Exception in callback",
                     "unhandled exception during asyncio.run() shutdown"):
            if msg.startswith(head):
                msg = head
                break
        self.handler_calls.append((msg, self.desc_exc(exc) if exc is not None else None,
                                   self.label(fut) if fut is not None else None))

    def run(self):
        if self.mode != "c_patch":
            return self.run_patched()
        asyncio_c.patch()
        try:
            return self.run_patched()
        finally:
            asyncio_c.unpatch()

    def run_patched(self):
        self.api = _Api(asyncio_c if self.mode == "c_native" else asyncio)
        if self.mode == "asyncio":
            loop = asyncio.SelectorEventLoop()
            eager_factory = getattr(asyncio, "eager_task_factory", None)
        else:
            loop = asyncio_c.new_event_loop()
            eager_factory = getattr(asyncio_c, "eager_task_factory", None)
        self.loop = loop
        self.never_handles = []
        loop.set_exception_handler(self.handler)
        if self.prog.eager:
            loop.set_task_factory(eager_factory)
        hung = []

        def on_alarm(signum, frame):
            raise Hang("program still running after %s s" % (HANG_SECONDS * 1.5))

        # Everything that exists now (the test runner, hypothesis) is frozen out of the
        # collections below, which then only look at what this run made: fast.
        gc.freeze()
        # (pytest-timeout may have its own SIGALRM timer running: it is put back after)
        old = signal.signal(signal.SIGALRM, on_alarm)
        started = time.monotonic()
        old_timer, _ = signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS * 1.5)
        try:
            guard = loop.call_later(HANG_SECONDS, lambda: (hung.append(1), loop.stop()))
            if self.drive(self.main, hung):
                self.drive(self.end_phase, hung)
            guard.cancel()
            # close: what is left pending is dropped (and reported by the handler at GC)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            if old_timer:
                left = old_timer - (time.monotonic() - started)
                signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))
        # Release everything and collect, so every "never retrieved" / "destroyed but
        # pending" report has been made before the handler calls are compared.
        # A coroutine left suspended in an asyncio primitive (Queue.get, Lock.acquire) and
        # closed by the collector after loop.close() fails to cancel its waiter ("Event loop
        # is closed"): Python reports that as unraisable; compared like the handler calls, and
        # so are the warnings the release gives ("coroutine ... was never awaited").
        unraisable = []
        old_hook = sys.unraisablehook
        sys.unraisablehook = lambda u: unraisable.append(
            ("unraisable", type(u.exc_value).__name__, self.norm(str(u.exc_value))))
        try:
            with warnings.catch_warnings(record=True) as warned:
                warnings.simplefilter("always")
                self.labels_snapshot = dict(self.labels)
                self.objs.clear()
                self.tasks.clear()
                self.futs = []
                self.cbs.clear()
                self.event = self.lock = self.queue = None   # (their waiters hold tasks)
                self.made = []
                self.loop = None
                for _ in range(3):
                    if not gc.collect():
                        break
        finally:
            sys.unraisablehook = old_hook
            gc.unfreeze()
        self.handler_calls.extend(unraisable)
        self.handler_calls.extend(("warning", w.category.__name__, self.norm(str(w.message)))
                                  for w in warned)
        return {"trace": self.trace, "handler": sorted(map(repr, self.handler_calls))}


def run_program(prog, mode):
    r = Run(prog, mode)
    out = r.run()
    # break the cycles Run keeps (bound methods in the handler, etc.)
    return out


def first_difference(a, b):
    """A readable account of where two results differ."""
    ta, tb = a["trace"], b["trace"]
    for k, (x, y) in enumerate(zip(ta, tb)):
        if x != y:
            ctx = "\n".join(f"      {e!r}" for e in ta[max(0, k - 5):k])
            return (f"trace differs at event {k}:\n   before:\n{ctx}\n"
                    f"   oracle: {x!r}\n   got:    {y!r}")
    if len(ta) != len(tb):
        k = min(len(ta), len(tb))
        return (f"trace lengths differ ({len(ta)} vs {len(tb)}); first extra: "
                f"oracle {ta[k:k + 3]!r} got {tb[k:k + 3]!r}")
    if a["handler"] != b["handler"]:
        return f"exception handler calls differ:\n   oracle: {a['handler']!r}\n   got:    {b['handler']!r}"
    return None


def check(prog, modes=("c_loop", "c_native", "c_patch"), repeat=1):
    """Run prog on asyncio and on the given asyncio_c modes; AssertionError on a divergence."""
    oracle = run_program(prog, "asyncio")
    for _ in range(repeat):
        again = run_program(prog, "asyncio")
        assert again == oracle, "the oracle is not deterministic:\n" + str(
            first_difference(oracle, again)) + f"\n{prog!r}"
    for mode in modes:
        for _ in range(repeat):
            got = run_program(prog, mode)
            diff = first_difference(oracle, got)
            if diff is not None:
                raise AssertionError(f"[{mode}] {diff}\nprogram:\n{prog!r}")
    return oracle
