#!/usr/bin/env python3
"""Echo benchmark: asyncio vs uvloop vs asyncio_c serving TCP on loopback.

    python bench/echo.py                     # full matrix, 3 repetitions (~3.5 min)
    python bench/echo.py --quick             # smoke test: short windows, 1 repetition
    python bench/echo.py --flavours protocol --sizes 1k --concurrency 10
    python bench/echo.py --json bench/results/echo-3.11.json
    python bench/echo.py --pin split         # server and client a CPU each

For every cell of loop x flavour (protocol, streams) x message size (1, 10,
100 KiB) x concurrency (1, 10 connections) it starts a fresh echo server
process (bench/_echo_server.py) on that loop and flavour, on 127.0.0.1 and a
port the kernel picks, then a separate client process (bench/_echo_client.py,
the same client for every server) doing request/response: send a message,
wait for all of it to come back, send the next, on every connection at once.
Requests per second are counted over a fixed window after a warm-up; the
table shows the median of the repetitions, their spread, and the ratios
asyncio_c/asyncio and asyncio_c/uvloop: above 1x means asyncio_c is faster.

By default server and client are pinned to the same CPU (--pin same; the
steadiest choice on a shared 2-core VM, see bench/README.md), and every
server frees one 1 MiB block before serving (glibc's mmap threshold; see
_echo_server.warm_heap).  Repetitions are interleaved (each repetition
runs every cell, the loops of a cell one after the other), so load changes
on a shared machine hit all loops alike.  Every run checks that each byte sent came back (client and server
totals agree) and that the server shut down cleanly.  Children run in their
own process groups and are killed on timeouts, errors and Ctrl-C.
"""
import argparse
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import run as _run  # noqa: E402  (machine info, loop probes, formatting)

SERVER = os.path.join(_HERE, "_echo_server.py")
CLIENT = os.path.join(_HERE, "_echo_client.py")
LOOPS = ("asyncio", "uvloop", "asyncio_c")
REF = "asyncio_c"
FLAVOURS = ("protocol", "streams")
SIZES = (1024, 10 * 1024, 100 * 1024)
CONCURRENCY = (1, 10)
DEFAULTS = dict(reps=3, warmup=0.3, duration=1.5)
QUICK = dict(reps=1, warmup=0.05, duration=0.2)
STARTUP_TIMEOUT = 30.0          # server: from exec to listening
STOP_TIMEOUT = 10.0             # server: from stdin EOF to exit

_CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------- processes

class ChildError(Exception):
    pass


class Child:
    """A helper process in its own process group, stdout read by lines."""

    live = set()                # every Child not yet reaped

    def __init__(self, args, label):
        self.label = label
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, *args], cwd=_HERE, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.err, start_new_session=True)
        Child.live.add(self)
        self.buf = b""
        self.eof = False

    @property
    def pid(self):
        return self.proc.pid

    def readline(self, deadline):
        """The next stdout line as JSON; ChildError on EOF or timeout."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            if self.eof:
                raise ChildError(f"{self.label} exited early"
                                 f"{self._status()}: {self.stderr_tail()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildError(f"{self.label} timed out")
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                self.buf += chunk
                self.eof = not chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise ChildError(f"{self.label}: bad output {line[:200]!r}")

    def close_stdin(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ChildError(f"{self.label} did not exit within {timeout:g} s")

    def _status(self):
        rc = self.proc.poll()
        if rc is None:
            return ""
        return (f" (killed by signal {-rc})" if rc < 0
                else f" (exit status {rc})")

    def stderr_tail(self):
        self.err.seek(0)
        return _run._tail(self.err.read().decode(errors="replace")) or \
            "(no stderr)"

    def kill(self):
        """Make sure the child is gone: TERM, then KILL, to its process
        group (its own; the helpers start no processes of their own) while
        it is still unreaped, so the group id cannot have been reused."""
        if self.proc.poll() is None:
            for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.close_stdin()
        self.proc.stdout.close()
        self.err.close()
        Child.live.discard(self)

    @classmethod
    def kill_all(cls):
        for c in list(cls.live):
            c.kill()


def proc_stat(pid):
    """(utime + stime in clock ticks, minor page faults) of a process, from
    /proc/PID/stat, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[11]) + int(fields[12]), int(fields[7])
    except (OSError, IndexError, ValueError):
        return None


def run_cell(loop, flavour, size, conc, args):
    """One measurement: a fresh server and a client.  Returns a dict with
    rps and the checks' figures; raises ChildError on any failure."""
    server = client = None
    pin_s, pin_c = args.pin_cpus or (None, None)
    try:
        sargs = [SERVER, loop, flavour]
        if args.cold_heap:
            sargs.append("--cold-heap")
        if pin_s is not None:
            sargs += ["--cpu", str(pin_s)]
        server = Child(sargs, f"{loop} {flavour} server")
        hello = server.readline(time.monotonic() + STARTUP_TIMEOUT)
        port = hello.get("port")
        if not isinstance(port, int):
            raise ChildError(f"server: unexpected output {hello!r}")

        cargs = [CLIENT, str(port), str(size), str(conc),
                 "--warmup", str(args.warmup),
                 "--duration", str(args.duration)]
        if pin_c is not None:
            cargs += ["--cpu", str(pin_c)]
        client = Child(cargs, "client")
        deadline = time.monotonic() + args.timeout
        msg = client.readline(deadline)
        srv0 = proc_stat(server.pid)
        t0 = time.monotonic()
        if msg.get("event") == "start":
            msg = client.readline(deadline)
        srv1 = proc_stat(server.pid)
        t1 = time.monotonic()
        if msg.get("event") == "end":
            msg = client.readline(deadline)
        if msg.get("error"):
            raise ChildError(f"client: {msg['error']}")
        if msg.get("event") != "result" or "rps" not in msg:
            raise ChildError(f"client: unexpected output {msg!r}")
        res = msg
        rc = client.wait(max(1.0, deadline - time.monotonic()))
        if rc != 0:
            raise ChildError(f"client exit status {rc}: "
                             f"{client.stderr_tail()}")

        server.close_stdin()            # the server's signal to stop
        stats = server.readline(time.monotonic() + STOP_TIMEOUT)
        rc = server.wait(STOP_TIMEOUT)
        if stats.get("event") != "stopped":
            raise ChildError(f"server: unexpected output {stats!r}")
        if rc != 0 or stats.get("errors"):
            raise ChildError(f"server exit status {rc}, errors "
                             f"{stats.get('errors')}: {server.stderr_tail()}")
    finally:
        for c in (client, server):
            if c is not None:
                c.kill()

    # Every byte came back, as both ends saw it.
    problems = []
    if res["bytes_received"] != res["bytes_sent"]:
        problems.append(f"client sent {res['bytes_sent']} bytes, received "
                        f"{res['bytes_received']}")
    if stats["bytes_in"] != res["bytes_sent"]:
        problems.append(f"server received {stats['bytes_in']} bytes, client "
                        f"sent {res['bytes_sent']}")
    if stats["bytes_out"] != stats["bytes_in"]:
        problems.append(f"server received {stats['bytes_in']} bytes, sent "
                        f"{stats['bytes_out']}")
    if stats["connections"] != conc:
        problems.append(f"server saw {stats['connections']} connections, "
                        f"expected {conc}")
    if res["requests"] <= 0:
        problems.append("no request completed in the measured window")
    if problems:
        raise ChildError("; ".join(problems))

    server_cpu = server_faults = None
    if srv0 is not None and srv1 is not None and t1 > t0:
        server_cpu = (srv1[0] - srv0[0]) / _CLK_TCK / (t1 - t0) * 100
        server_faults = (srv1[1] - srv0[1]) / res["requests"]
    return dict(
        rps=res["rps"],
        requests=res["requests"],
        window_s=res["window_s"],
        bytes_sent=res["bytes_sent"],
        bytes_received=res["bytes_received"],
        server_bytes_in=stats["bytes_in"],
        server_bytes_out=stats["bytes_out"],
        server_connections=stats["connections"],
        server_close_s=stats["close_s"],
        server_cpu_pct=server_cpu,
        client_cpu_pct=res["client_cpu_pct"],
        server_minflt_per_request=server_faults,
        server_pid=server.pid,
        client_pid=client.pid,
    )


# ------------------------------------------------------------------ report

def size_label(n):
    return f"{n // 1024} KiB" if n % 1024 == 0 else f"{n} B"


def parse_size(text):
    t = text.strip().lower().replace("kib", "k").replace("kb", "k")
    if t.endswith("k"):
        return int(t[:-1]) * 1024
    return int(t)


def cell_key(flavour, size, conc):
    return f"{flavour}/{size}/{conc}"


def fmt_rps(s, n):
    txt = f"{s['median']:,.0f}"
    if n > 1:
        txt += f" ±{s['spread_pct']:.0f}%"
    return txt


def _table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(r[:3], widths[:3])]
        cells += [c.rjust(w) for c, w in zip(r[3:], widths[3:])]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(cells, loops, results, skipped):
    """The req/s table with ratios, and the CPU table."""
    others = [lp for lp in ("asyncio", "uvloop") if lp in loops]
    has_ref = REF in loops and REF not in skipped
    head = ["flavour", "size", "conn"] + [f"{lp} req/s" for lp in loops]
    if has_ref:
        head += [f"{REF}/{lp}" for lp in others]
    rows, cpu_rows = [head], [["flavour", "size", "conn"] + list(loops)]
    for flavour, size, conc in cells:
        per = results[cell_key(flavour, size, conc)]
        label = [flavour, size_label(size), str(conc)]
        row, crow, med = list(label), list(label), {}
        for lp in loops:
            if lp in skipped:
                row.append("n/a")
                crow.append("n/a")
                continue
            r = per[lp]
            if not r["runs"]:
                row.append("ERR" if r["errors"] else "-")
                crow.append("-")
                continue
            s = _run.summarize([x["rps"] for x in r["runs"]])
            med[lp] = s["median"]
            txt = fmt_rps(s, len(r["runs"]))
            if r["errors"]:
                txt += f" ({len(r['errors'])} err)"
            row.append(txt)
            srv = [x["server_cpu_pct"] for x in r["runs"]
                   if x["server_cpu_pct"] is not None]
            cli = [x["client_cpu_pct"] for x in r["runs"]]
            flt = [x["server_minflt_per_request"] for x in r["runs"]
                   if x["server_minflt_per_request"] is not None]
            crow.append((f"{statistics.median(srv):.0f}" if srv else "?")
                        + f" / {statistics.median(cli):.0f} / "
                        + (f"{statistics.median(flt):.1f}" if flt else "?"))
        if has_ref:
            for lp in others:
                row.append(f"{med[REF] / med[lp]:.2f}x"
                           if REF in med and med.get(lp) else "n/a")
        rows.append(row)
        cpu_rows.append(crow)
    return _table(rows), _table(cpu_rows)


def ratios(cells, results):
    out = {}
    for flavour, size, conc in cells:
        key = cell_key(flavour, size, conc)
        med = {lp: statistics.median(x["rps"] for x in r["runs"])
               for lp, r in results[key].items() if r["runs"]}
        if REF in med:
            out[key] = {f"{REF}/{lp}": med[REF] / m
                        for lp, m in med.items() if lp != REF and m}
    return out


# -------------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--quick", action="store_true",
                   help=f"smoke test: {QUICK['reps']} repetition, "
                        f"{QUICK['warmup']} s warm-up, {QUICK['duration']} s "
                        "windows (unless given explicitly)")
    p.add_argument("--reps", type=int, default=None,
                   help=f"repetitions (default {DEFAULTS['reps']})")
    p.add_argument("--warmup", type=float, default=None,
                   help=f"seconds of warm-up per run, not counted "
                        f"(default {DEFAULTS['warmup']})")
    p.add_argument("--duration", type=float, default=None,
                   help=f"seconds of the measured window per run "
                        f"(default {DEFAULTS['duration']})")
    p.add_argument("--loops", default=",".join(LOOPS),
                   help=f"comma-separated subset of {','.join(LOOPS)}")
    p.add_argument("--flavours", default=",".join(FLAVOURS),
                   help=f"comma-separated subset of {','.join(FLAVOURS)}")
    p.add_argument("--sizes", default="1k,10k,100k",
                   help="comma-separated message sizes: bytes, or 'Nk' "
                        "for N KiB (default 1k,10k,100k)")
    p.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)),
                   help="comma-separated numbers of connections "
                        "(default 1,10)")
    p.add_argument("--pin", choices=("same", "split", "none"),
                   default="same",
                   help="same (default): server and client both on the "
                        "first usable CPU; split: server on the first, "
                        "client on the second; none: not pinned (see "
                        "bench/README.md for why same is the default)")
    p.add_argument("--cold-heap", action="store_true",
                   help="servers skip their 1 MiB malloc warm-up (see "
                        "_echo_server.warm_heap and bench/README.md)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds a client may take beyond warm-up + window "
                        "(default 30) before the run counts as an error")
    p.add_argument("--json", metavar="PATH", help="also write results here")
    args = p.parse_args(argv)
    base = QUICK if args.quick else DEFAULTS
    for k, v in base.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.reps < 1 or args.duration <= 0 or args.warmup < 0:
        p.error("--reps and --duration must be positive, --warmup >= 0")

    def items(text, allowed=None, conv=str, what=""):
        out = []
        for t in text.split(","):
            if not t.strip():
                continue
            try:
                v = conv(t.strip())
            except ValueError:
                p.error(f"bad {what} {t!r}")
            if (allowed is not None and v not in allowed) or \
                    (allowed is None and v < 1):
                p.error(f"bad {what} {t!r}")
            if v not in out:
                out.append(v)
        if not out:
            p.error(f"no {what} given")
        return out

    loops = items(args.loops, LOOPS, what="loop")
    args.loop_list = [lp for lp in LOOPS if lp in loops]
    args.flavour_list = items(args.flavours, FLAVOURS, what="flavour")
    args.size_list = items(args.sizes, conv=parse_size, what="size")
    args.conc_list = items(args.concurrency, conv=int, what="concurrency")
    args.timeout = (args.warmup + args.duration
                    + (30.0 if args.timeout is None else args.timeout))
    args.pin_cpus = None
    if args.pin != "none":
        cpus = sorted(os.sched_getaffinity(0))
        if args.pin == "same":
            args.pin_cpus = [cpus[0], cpus[0]]
        elif len(cpus) < 2:
            p.error("--pin split needs two usable CPUs")
        else:
            args.pin_cpus = cpus[:2]
    return args


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _main(args, started)
    finally:
        Child.kill_all()
        signal.signal(signal.SIGTERM, old_term)


def _main(args, started):
    info = _run.print_machine()

    loops, facts, skipped = args.loop_list, {}, {}
    for lp in loops:
        f, err = _run.probe(lp, 60)
        if err:
            skipped[lp] = err
        else:
            facts[lp] = f
    for lp, f in facts.items():
        extra = ""
        if "uvloop_version" in f:
            extra = f" (uvloop {f['uvloop_version']})"
        if lp == REF:
            extra = (" (ASYNCIO_C_STANDIN: extension not loaded)"
                     if f.get("standin") else f" ({f.get('core_file')})")
        print(f"  {lp:9}: loop {f['loop_type']}{extra}")
    for lp, err in skipped.items():
        print(f"  {lp:9}: n/a ({err.splitlines()[-1]})")
    if not args.pin_cpus:
        pin = "not pinned"
    elif args.pin_cpus[0] == args.pin_cpus[1]:
        pin = f"server and client pinned to CPU {args.pin_cpus[0]}"
    else:
        pin = (f"server pinned to CPU {args.pin_cpus[0]}, client to CPU "
               f"{args.pin_cpus[1]}")
    heap = ("servers' malloc NOT warmed (--cold-heap)" if args.cold_heap
            else "servers' malloc warmed (1 MiB freed at start)")
    print(f"{args.reps} repetition(s); per run a fresh server and client "
          f"process, {args.warmup:g} s warm-up, {args.duration:g} s measured; "
          f"{pin}; {heap}{'; QUICK (smoke test)' if args.quick else ''}; "
          "medians shown\n", flush=True)

    runnable = [lp for lp in loops if lp not in skipped]
    cells = [(fl, sz, c) for fl in args.flavour_list for sz in args.size_list
             for c in args.conc_list]
    results = {cell_key(*cell): {lp: {"runs": [], "errors": []}
                                 for lp in runnable}
               for cell in cells}
    total = args.reps * len(cells) * len(runnable)
    tty = sys.stderr.isatty()
    done = 0
    interrupted = False
    try:
        for rep in range(args.reps):
            for fl, sz, c in cells:
                for lp in runnable:
                    done += 1
                    if tty:
                        print(f"\r[{done}/{total}] rep {rep + 1} {lp} {fl} "
                              f"{size_label(sz)} x{c}".ljust(60), end="",
                              file=sys.stderr, flush=True)
                    r = results[cell_key(fl, sz, c)][lp]
                    try:
                        r["runs"].append(run_cell(lp, fl, sz, c, args))
                    except ChildError as exc:
                        r["errors"].append(str(exc))
                        print(f"\n{lp} {fl} {size_label(sz)} x{c} failed: "
                              f"{exc}", file=sys.stderr, flush=True)
            if not tty:
                print(f"repetition {rep + 1}/{args.reps} done",
                      file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        interrupted = True
        Child.kill_all()
        print("\ninterrupted: children stopped; partial results below",
              file=sys.stderr, flush=True)
    if tty:
        print("\r".ljust(61) + "\r", end="", file=sys.stderr, flush=True)

    table, cpu_table = render(cells, loops, results, skipped)
    print(table)
    print()
    print("In the measured window, medians: server CPU % / client CPU % "
          "(of one core) / server minor page faults per request:")
    print(cpu_table)
    print()
    notes = []
    if REF in runnable:
        notes.append(f"{REF}/X: {REF}'s median req/s over X's; above 1x "
                     f"means {REF} is faster.")
    if args.reps > 1:
        notes.append("±: half the min..max range of the repetitions, in % "
                     "of the median.")
    notes.append("req/s: request/response round trips completed per second "
                 "over all connections (each request is one message of the "
                 "given size, answered by its full echo).")
    f = facts.get(REF)
    if f and f.get("standin"):
        notes.append(f"NOTE: ASYNCIO_C_STANDIN is in effect: {REF}'s loop "
                     "is not the C extension's.")
    if f and f.get("c_loop"):
        tr = ("C transports (asyncio_c._core.SocketTransport), "
              if f.get("c_transports") else "")
        base = (f", {tr}the rest (streams, create_connection/create_server) "
                f"inherited from {f['python_base']}"
                if f.get("python_base") else "")
        notes.append(f"NOTE: {REF}'s loop is {f['loop_type']}: C core "
                     f"{f['core_loop_type']}{base}.")
    load, errors = _run.run_notes(notes, results, skipped, info, "figures")
    if interrupted:
        notes.append("INTERRUPTED: partial results.")
    elapsed = time.monotonic() - started
    notes.append(f"Total time {elapsed:.0f} s.")
    print("\n".join(notes))

    if args.json:
        doc = dict(
            benchmark="echo",
            machine=info,
            loadavg_end=load,
            reps=args.reps,
            quick=args.quick,
            warmup_s=args.warmup,
            duration_s=args.duration,
            pin=args.pin,
            pinned_cpus=args.pin_cpus,
            cold_heap=args.cold_heap,
            interrupted=interrupted,
            elapsed_s=elapsed,
            loops={lp: facts.get(lp, {"error": skipped.get(lp)})
                   for lp in loops},
            cells=[dict(key=cell_key(fl, sz, c), flavour=fl, size=sz,
                        concurrency=c) for fl, sz, c in cells],
            results={key: {lp: dict(
                _run.summarize([x["rps"] for x in r["runs"]])
                if r["runs"] else {}, errors=r["errors"], runs=r["runs"])
                for lp, r in per.items()} for key, per in results.items()},
            ratios=ratios(cells, results),
        )
        d = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(d, exist_ok=True)
        with open(args.json, "w") as fp:
            json.dump(doc, fp, indent=1)
            fp.write("\n")
        print(f"Saved {args.json}")
    if interrupted:
        return 130
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
