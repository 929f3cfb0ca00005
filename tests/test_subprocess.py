"""Subprocesses on the loop (issue #6): asyncio.create_subprocess_exec/_shell and
loop.subprocess_exec/_shell with a SubprocessProtocol, with real children.

Every case runs on asyncio's selector loop and on asyncio_c's loop (fixture ``lenv``) with the
same expectations: asyncio's base_subprocess / unix_events and its child watcher of each
version are the oracle.  The children are real (this interpreter, ``cat``, ``true``, ``sh``,
``sleep``); nothing is mocked.  No assertion depends on how long anything takes: waits have
generous deadlines and the assertions are about order and state.
"""
import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from _loop_helpers import collect, lenv, limpl  # noqa: F401

PIPE = asyncio.subprocess.PIPE
DEVNULL = asyncio.subprocess.DEVNULL
STDOUT = asyncio.subprocess.STDOUT
PYV = sys.version_info[:2]
MiB = 1024 * 1024
T = 60          # the deadline of one test's coroutine: only reached when something hangs


def py(code):
    """argv running code in a fresh interpreter (isolated: quick to start, no site)."""
    return [sys.executable, "-I", "-S", "-c", textwrap.dedent(code)]


def run(lenv, coro, timeout=T):
    return lenv.run(asyncio.wait_for(coro, timeout))


def fd_count():
    """Open fds of this process (after collecting what earlier tests left to the GC)."""
    collect()
    return len(os.listdir("/proc/self/fd"))


def proc_stat(pid):
    """(state, ppid) of pid, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def zombie_children(pids=None):
    """The zombie children of this process (among pids, if given)."""
    me = os.getpid()
    if pids is None:
        pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
    found = []
    for pid in pids:
        st = proc_stat(pid)
        if st is not None and st == ("Z", me):
            found.append(pid)
    return found


def children_of_ours():
    me = os.getpid()
    return [int(n) for n in os.listdir("/proc")
            if n.isdigit() and (proc_stat(n) or ("", 0))[1] == me]


def wait_reaped(pids, timeout=10.0):
    """Poll until none of pids is a child of ours any more (exited and reaped: neither
    running nor a zombie); {pid: (state, ppid)} of the ones still there after timeout."""
    me = os.getpid()
    deadline = time.monotonic() + timeout
    while True:
        left = {pid: st for pid in pids if (st := proc_stat(pid)) is not None and st[1] == me}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def wait_exited_unreaped(pid, timeout=30.0):
    """Block (the loop not running) until the child pid has exited, without reaping it.

    A watcher thread (asyncio's ThreadedChildWatcher, our fallback) may reap it meanwhile:
    then it has exited too.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            res = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        except ChildProcessError:
            return
        if res is not None and res.si_pid == pid:
            return
        time.sleep(0.005)
    raise TimeoutError(f"child {pid} did not exit within {timeout} s")


def reap_quietly(pid):
    """Test clean-up: reap pid if it is still a child of ours (a failed test's zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


class SPRec(asyncio.SubprocessProtocol):
    """Records the SubprocessProtocol calls.

    Data is kept per fd; consecutive pipe_data_received calls for one fd are one event (how
    the data is split is the kernel's).
    """

    def __init__(self, loop):
        self.events = []
        self.data = {1: bytearray(), 2: bytearray()}
        self.transport = None
        self.made = loop.create_future()
        self.exited = loop.create_future()
        self.lost = loop.create_future()
        self.returncode_at_exit = "unset"

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")
        self.made.set_result(None)

    def pipe_data_received(self, fd, data):
        assert isinstance(data, bytes)
        self.data[fd] += data
        ev = ("data", fd)
        if self.events[-1:] != [ev]:
            self.events.append(ev)

    def pipe_connection_lost(self, fd, exc):
        self.events.append(("pipe_lost", fd, exc))

    def process_exited(self):
        self.events.append("exited")
        self.returncode_at_exit = self.transport.get_returncode()
        self.exited.set_result(None)

    def connection_lost(self, exc):
        self.events.append(("lost", exc))
        self.lost.set_result(None)


def check_events(events, pipes):
    """The order every subprocess transport keeps: connection_made first, for each pipe its
    data before its pipe_connection_lost (once, with None), process_exited once, and
    connection_lost(None) last, after all of those."""
    assert events[0] == "made"
    assert events[-1] == ("lost", None)
    assert events.count("exited") == 1
    for fd in pipes:
        lost = ("pipe_lost", fd, None)
        assert events.count(lost) == 1, events
        if ("data", fd) in events:
            assert max(i for i, e in enumerate(events) if e == ("data", fd)) < events.index(lost)
    assert len([e for e in events if e[0] == "pipe_lost"]) == len(pipes), events
    assert all(e[0] in ("data", "pipe_lost") for e in events[1:-1] if e != "exited"), events


# --------------------------------------------------------------------------------------
# create_subprocess_exec / _shell: the streams


def test_communicate_with_input(lenv):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            *py("""
                import sys
                data = sys.stdin.buffer.read()
                sys.stdout.buffer.write(data.upper())
                sys.stderr.buffer.write(b"err:" + data)
                raise SystemExit(4)
            """), stdin=PIPE, stdout=PIPE, stderr=PIPE)
        assert proc.returncode is None
        assert repr(proc) == f"<Process {proc.pid}>"
        out, err = await proc.communicate(b"hello")
        return proc.returncode, out, err

    assert run(lenv, main()) == (4, b"HELLO", b"err:hello")


def test_communicate_without_input(lenv):
    async def main():
        res = []
        # stdin is a pipe the child does not read: communicate() returns once it is gone
        proc = await asyncio.create_subprocess_exec(
            *py("print('not reading')"), stdin=PIPE, stdout=PIPE)
        res.append((await proc.communicate(), proc.returncode))
        if PYV >= (3, 12):
            # from 3.12 communicate() without input closes stdin (3.11 leaves it open)
            proc = await asyncio.create_subprocess_exec(
                *py("import sys; print(len(sys.stdin.buffer.read()))"),
                stdin=PIPE, stdout=PIPE)
            res.append((await proc.communicate(), proc.returncode))
        # no pipes at all: communicate() just waits
        proc = await asyncio.create_subprocess_exec("true", stdin=DEVNULL, stdout=DEVNULL,
                                                    stderr=DEVNULL)
        assert (proc.stdin, proc.stdout, proc.stderr) == (None, None, None)
        res.append((await proc.communicate(), proc.returncode))
        return res

    expected = [((b"not reading\n", None), 0), ((None, None), 0)]
    if PYV >= (3, 12):
        expected.insert(1, ((b"0\n", None), 0))
    assert run(lenv, main()) == expected


def test_stderr_to_stdout(lenv):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            *py("""
                import os
                os.write(1, b"one\\n")
                os.write(2, b"two\\n")
                os.write(1, b"three\\n")
            """), stdin=DEVNULL, stdout=PIPE, stderr=STDOUT)
        assert proc.stderr is None and proc.stdin is None
        tr = proc._transport
        assert tr.get_pipe_transport(1) is not None
        assert tr.get_pipe_transport(2) is None
        assert tr.get_pipe_transport(0) is None
        out, err = await proc.communicate()
        return proc.returncode, out, err

    assert run(lenv, main()) == (0, b"one\ntwo\nthree\n", None)


def test_devnull(lenv):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            *py("""
                import sys
                assert sys.stdin.buffer.read() == b""
                print("to devnull")
                print("err", file=sys.stderr)
                raise SystemExit(6)
            """), stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)
        assert (proc.stdin, proc.stdout, proc.stderr) == (None, None, None)
        tr = proc._transport
        assert [tr.get_pipe_transport(fd) for fd in (0, 1, 2)] == [None, None, None]
        return await proc.wait()

    assert run(lenv, main()) == 6


def test_fds_and_files_as_std_streams(lenv):
    """stdin from a temp file object, stdout into an os.pipe() end (an int), stderr into a
    temp file's fileno."""
    r, w = os.pipe()
    with tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as ferr:
        fin.write(b"from a file")
        fin.seek(0)

        async def main():
            proc = await asyncio.create_subprocess_exec(
                *py("""
                    import sys
                    data = sys.stdin.buffer.read()
                    sys.stdout.buffer.write(b"out:" + data)
                    sys.stderr.buffer.write(b"err:" + data)
                """), stdin=fin, stdout=w, stderr=ferr.fileno())
            assert (proc.stdin, proc.stdout, proc.stderr) == (None, None, None)
            return await proc.wait()

        try:
            rc = run(lenv, main())
        finally:
            os.close(w)
        with os.fdopen(r, "rb") as rf:
            out = rf.read()
        ferr.seek(0)
        err = ferr.read()
    assert (rc, out, err) == (0, b"out:from a file", b"err:from a file")


def test_pass_fds(lenv):
    r, w = os.pipe()
    other_r, other_w = os.pipe()
    try:
        async def main():
            proc = await asyncio.create_subprocess_exec(
                *py(f"""
                    import os
                    os.write({w}, b"through the passed fd")
                    try:
                        os.fstat({other_r})
                    except OSError:
                        print("not inherited")
                """), stdin=DEVNULL, stdout=PIPE, pass_fds=(w,))
            out, _ = await proc.communicate()
            return proc.returncode, out

        rc, out = run(lenv, main())
        os.close(w)
        w = -1
        with os.fdopen(r, "rb") as rf:
            r = -1
            got = rf.read()
    finally:
        for fd in (r, w, other_r, other_w):
            if fd >= 0:
                os.close(fd)
    assert (rc, out, got) == (0, b"not inherited\n", b"through the passed fd")


def test_cwd_and_env(lenv, tmp_path):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            *py("""
                import os
                print(os.getcwd())
                print(os.environ.get("AC_SP_TEST"), os.environ.get("AC_SP_ABSENT"))
            """), stdin=DEVNULL, stdout=PIPE, cwd=tmp_path,
            env={"AC_SP_TEST": "value one", "PATH": os.environ.get("PATH", "")})
        out, _ = await proc.communicate()
        shell = await asyncio.create_subprocess_shell(
            'pwd; echo "$AC_SP_TEST"', stdout=PIPE, cwd=str(tmp_path),
            env={"AC_SP_TEST": "shell value", "PATH": os.environ.get("PATH", "")})
        sout, _ = await shell.communicate()
        return proc.returncode, out.decode(), shell.returncode, sout.decode()

    os.environ["AC_SP_ABSENT"] = "not passed"
    try:
        rc, out, src, sout = run(lenv, main())
    finally:
        del os.environ["AC_SP_ABSENT"]
    real = os.path.realpath(tmp_path)
    assert rc == 0 and out == f"{real}\nvalue one None\n"
    assert src == 0 and os.path.realpath(sout.splitlines()[0]) == real
    assert sout.splitlines()[1] == "shell value"


def test_start_new_session(lenv):
    async def main():
        out = {}
        for new in (True, False):
            proc = await asyncio.create_subprocess_exec(
                *py("import os; print(os.getsid(0))"), stdin=DEVNULL, stdout=PIPE,
                start_new_session=new)
            o, _ = await proc.communicate()
            out[new] = (proc.pid, int(o), proc.returncode)
        return out

    out = run(lenv, main())
    pid, sid, rc = out[True]
    assert rc == 0 and sid == pid and sid != os.getsid(0)
    pid, sid, rc = out[False]
    assert rc == 0 and sid == os.getsid(0)


def test_preexec_fn(lenv, tmp_path):
    marker = tmp_path / "marker"

    def before_exec():
        # runs in the child, between fork and exec: the pid is already the child's
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)

    async def main():
        proc = await asyncio.create_subprocess_exec(
            "true", stdin=DEVNULL, stdout=DEVNULL, preexec_fn=before_exec)
        return proc.pid, await proc.wait()

    pid, rc = run(lenv, main())
    assert rc == 0
    assert marker.read_bytes() == str(pid).encode()


def test_shell(lenv):
    async def main():
        proc = await asyncio.create_subprocess_shell(
            "read x; echo got $x; echo oops 1>&2; exit 3", stdin=PIPE, stdout=PIPE, stderr=PIPE)
        out, err = await proc.communicate(b"word\n")
        proc2 = await asyncio.create_subprocess_shell(b"echo bytes cmd", stdout=PIPE)
        out2, _ = await proc2.communicate()
        return proc.returncode, out, err, proc2.returncode, out2

    assert run(lenv, main()) == (3, b"got word\n", b"oops\n", 0, b"bytes cmd\n")


# --------------------------------------------------------------------------------------
# create_subprocess_*: wait, signals, return codes


def test_wait_returncodes(lenv):
    async def main():
        codes = []
        for code in (0, 1, 3, 127, 255):
            proc = await asyncio.create_subprocess_exec(
                "sh", "-c", f"exit {code}", stdin=DEVNULL, stdout=DEVNULL)
            codes.append(await proc.wait())
            assert proc.returncode == codes[-1]
            assert await proc.wait() == codes[-1]       # again: at once, the same
        return codes

    assert run(lenv, main()) == [0, 1, 3, 127, 255]


def test_wait_from_several_tasks(lenv):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            *py("import sys; sys.stdin.read(); raise SystemExit(9)"), stdin=PIPE)
        waiters = [asyncio.ensure_future(proc.wait()) for _ in range(3)]
        await asyncio.sleep(0)
        assert not any(w.done() for w in waiters)
        proc.stdin.close()
        return await asyncio.gather(*waiters)

    assert run(lenv, main()) == [9, 9, 9]


@pytest.mark.parametrize("how", ["kill", "terminate", "sigterm", "sigkill"])
def test_kill_terminate_send_signal(lenv, how):
    async def main():
        proc = await asyncio.create_subprocess_exec("sleep", "60", stdin=DEVNULL)
        assert proc.returncode is None
        if how == "kill":
            proc.kill()
        elif how == "terminate":
            proc.terminate()
        elif how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGKILL)
        rc = await proc.wait()
        # the transport is finished: the Popen is released, signalling is an error
        with pytest.raises(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with pytest.raises(ProcessLookupError):
            proc.kill()
        with pytest.raises(ProcessLookupError):
            proc.terminate()
        return rc

    expected = -signal.SIGKILL if how in ("kill", "sigkill") else -signal.SIGTERM
    assert run(lenv, main()) == expected


def test_send_signal_handled_by_child(lenv):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            *py("""
                import os, signal
                def handler(signum, frame):
                    os.write(1, b"got %d\\n" % signum)
                    os._exit(5)
                signal.signal(signal.SIGUSR1, handler)
                os.write(1, b"ready\\n")
                while True:
                    signal.pause()
            """), stdin=DEVNULL, stdout=PIPE)
        assert await proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGUSR1)
        rest = await proc.stdout.read()
        return await proc.wait(), rest

    assert run(lenv, main()) == (5, b"got %d\n" % signal.SIGUSR1)


def test_child_exits_before_anyone_awaits(lenv):
    loop = lenv.loop
    procs = [run(lenv, asyncio.create_subprocess_exec(*argv, stdin=DEVNULL, stdout=DEVNULL))
             for argv in (["true"], ["sh", "-c", "exit 3"])]
    # the children are dead (zombies, or reaped by a watcher thread) while the loop stands
    for p in procs:
        wait_exited_unreaped(p.pid)
    assert run(lenv, procs[0].wait()) == 0
    assert run(lenv, procs[1].wait()) == 3

    # and with pipes: exited while the spawn itself is not yet complete
    async def main():
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", "echo quick; exit 3", stdin=PIPE, stdout=PIPE, stderr=PIPE)
        return proc

    proc = run(lenv, main())
    wait_exited_unreaped(proc.pid)
    out, err = run(lenv, proc.communicate())
    assert (proc.returncode, out, err) == (3, b"quick\n", b"")
    assert not loop.is_closed()


# --------------------------------------------------------------------------------------
# loop.subprocess_exec / _shell with a SubprocessProtocol: the transport


def test_transport_api(lenv):
    loop = lenv.loop
    proto = SPRec(loop)
    argv = py("import sys; sys.stdout.write(sys.stdin.read()); raise SystemExit(3)")
    tr, p = run(lenv, loop.subprocess_exec(lambda: proto, *argv))
    assert p is proto and proto.transport is tr
    assert isinstance(tr, asyncio.SubprocessTransport)
    assert proto.events == ["made"]     # made before subprocess_exec() returns
    popen = tr.get_extra_info("subprocess")
    assert isinstance(popen, subprocess.Popen)
    assert popen.args == tuple(argv)
    pid = tr.get_pid()
    assert pid == popen.pid and isinstance(pid, int)
    assert tr.get_returncode() is None
    assert not tr.is_closing()
    assert tr.get_protocol() is proto
    assert tr.get_extra_info("nope", 5) == 5
    assert f"pid={pid}" in repr(tr) and "running" in repr(tr)
    stdin, stdout, stderr = (tr.get_pipe_transport(fd) for fd in (0, 1, 2))
    assert isinstance(stdin, asyncio.WriteTransport)
    assert isinstance(stdout, asyncio.ReadTransport)
    assert isinstance(stderr, asyncio.ReadTransport)
    assert stdin.get_extra_info("pipe") is popen.stdin
    assert stdout.get_extra_info("pipe") is popen.stdout
    assert stderr.get_extra_info("pipe") is popen.stderr
    assert tr.get_pipe_transport(3) is None
    stdin.write(b"echo me")
    stdin.close()
    run(lenv, proto.lost)
    assert proto.data == {1: bytearray(b"echo me"), 2: bytearray()}
    check_events(proto.events, (0, 1, 2))
    assert proto.returncode_at_exit == 3
    assert tr.get_returncode() == 3
    assert popen.returncode == 3
    assert "returncode=3" in repr(tr)
    tr.close()
    assert tr.is_closing()
    assert zombie_children([pid]) == []


def test_transport_non_pipe_streams(lenv):
    loop = lenv.loop
    proto = SPRec(loop)
    tr, _ = run(lenv, loop.subprocess_exec(
        lambda: proto, "sh", "-c", "echo out; echo err 1>&2",
        stdin=DEVNULL, stdout=PIPE, stderr=STDOUT))
    assert tr.get_pipe_transport(0) is None
    assert tr.get_pipe_transport(1) is not None
    assert tr.get_pipe_transport(2) is None
    run(lenv, proto.lost)
    assert proto.data[1] == b"out\nerr\n"
    check_events(proto.events, (1,))
    tr.close()


def test_protocol_callbacks_order(lenv):
    """The order of the protocol calls, made deterministic by the child: it writes to
    stdout and stderr and closes both, then waits for EOF on stdin before exiting."""
    loop = lenv.loop
    proto = SPRec(loop)
    tr, _ = run(lenv, loop.subprocess_exec(lambda: proto, *py("""
        import os
        os.write(1, b"out")
        os.write(2, b"err")
        os.close(1)
        os.close(2)
        while os.read(0, 1024):
            pass
        os._exit(7)
    """)))
    lenv.run_until(lambda: ("pipe_lost", 1, None) in proto.events
                   and ("pipe_lost", 2, None) in proto.events, timeout=T)
    before = list(proto.events)
    assert before[0] == "made"
    assert sorted(before[1:], key=repr) == sorted(
        [("data", 1), ("data", 2), ("pipe_lost", 1, None), ("pipe_lost", 2, None)], key=repr)
    assert before.index(("data", 1)) < before.index(("pipe_lost", 1, None))
    assert before.index(("data", 2)) < before.index(("pipe_lost", 2, None))
    assert tr.get_returncode() is None
    tr.get_pipe_transport(0).close()
    run(lenv, proto.lost)
    assert proto.events[len(before):] == [("pipe_lost", 0, None), "exited", ("lost", None)]
    assert proto.data == {1: bytearray(b"out"), 2: bytearray(b"err")}
    assert proto.returncode_at_exit == 7
    tr.close()


def test_child_exits_before_connection_made(lenv):
    """The child exits (after writing) before the transport has even connected its pipes:
    all is reported, connection_made first."""
    loop = lenv.loop
    for code in (0, 3):
        proto = SPRec(loop)
        before = set(children_of_ours())
        task = loop.create_task(loop.subprocess_exec(
            lambda: proto, "sh", "-c", f"echo x; exit {code}", stdin=DEVNULL))
        # step the loop only until the child exists (the task's first step starts it)
        deadline = time.monotonic() + T
        while not (new := set(children_of_ours()) - before) and not task.done():
            assert time.monotonic() < deadline
            lenv.spin(1)
        if new:
            (pid,) = new
            assert proto.events == []
            wait_exited_unreaped(pid)
        tr, _ = run(lenv, task)
        run(lenv, proto.lost)
        assert tr.get_returncode() == code
        assert proto.data == {1: bytearray(b"x\n"), 2: bytearray()}
        check_events(proto.events, (1, 2))
        tr.close()


def test_transport_close_kills_running_child(lenv):
    loop = lenv.loop
    proto = SPRec(loop)
    tr, _ = run(lenv, loop.subprocess_exec(lambda: proto, "sleep", "60"))
    pid = tr.get_pid()
    tr.close()
    assert tr.is_closing()
    tr.close()                      # again: nothing
    run(lenv, proto.lost)
    assert tr.get_returncode() == -signal.SIGKILL
    assert proto.returncode_at_exit == -signal.SIGKILL
    check_events(proto.events, (0, 1, 2))
    assert zombie_children([pid]) == []


def test_transport_kill_terminate_send_signal(lenv):
    loop = lenv.loop
    got = []
    for how, expected in (("kill", -signal.SIGKILL), ("terminate", -signal.SIGTERM),
                          ("send_signal", -signal.SIGINT)):
        proto = SPRec(loop)
        tr, _ = run(lenv, loop.subprocess_exec(lambda: proto, "sleep", "60", stdin=DEVNULL,
                                               stdout=DEVNULL, stderr=DEVNULL))
        if how == "send_signal":
            tr.send_signal(signal.SIGINT)
        else:
            getattr(tr, how)()
        run(lenv, proto.lost)
        got.append(tr.get_returncode())
        assert proto.events == ["made", "exited", ("lost", None)]
        assert expected == got[-1]
        with pytest.raises(ProcessLookupError):
            tr.kill()
        tr.close()
    assert got == [-signal.SIGKILL, -signal.SIGTERM, -signal.SIGINT]


def test_subprocess_shell_protocol(lenv):
    loop = lenv.loop
    for cmd in ("echo $((6 * 7)); exit 2", b"echo $((6 * 7)); exit 2"):
        proto = SPRec(loop)
        tr, _ = run(lenv, loop.subprocess_shell(lambda: proto, cmd, stdin=DEVNULL))
        assert tr.get_extra_info("subprocess").args == cmd
        run(lenv, proto.lost)
        assert tr.get_returncode() == 2
        assert proto.data == {1: bytearray(b"42\n"), 2: bytearray()}
        check_events(proto.events, (1, 2))
        tr.close()


# --------------------------------------------------------------------------------------
# bad input: asyncio's exceptions, type and message


def _factory():
    return asyncio.SubprocessProtocol()


ERROR_CASES = {
    # asyncio's own checks in base_events.subprocess_exec / subprocess_shell
    "exec_text": (lambda l: l.subprocess_exec(_factory, "true", text=True),
                  ValueError, "text must be False"),
    "exec_universal_newlines": (
        lambda l: l.subprocess_exec(_factory, "true", universal_newlines=True),
        ValueError, "universal_newlines must be False"),
    "exec_encoding": (lambda l: l.subprocess_exec(_factory, "true", encoding="utf-8"),
                      ValueError, "encoding must be None"),
    "exec_errors": (lambda l: l.subprocess_exec(_factory, "true", errors="strict"),
                    ValueError, "errors must be None"),
    "exec_bufsize": (lambda l: l.subprocess_exec(_factory, "true", bufsize=1),
                     ValueError, "bufsize must be 0"),
    "exec_bufsize_-1": (lambda l: l.subprocess_exec(_factory, "true", bufsize=-1),
                        ValueError, "bufsize must be 0"),
    "exec_shell": (lambda l: l.subprocess_exec(_factory, "true", shell=True),
                   ValueError, "shell must be False"),
    "shell_list": (lambda l: l.subprocess_shell(_factory, ["true"]),
                   ValueError, "cmd must be a string"),
    "shell_none": (lambda l: l.subprocess_shell(_factory, None),
                   ValueError, "cmd must be a string"),
    "shell_shell_false": (lambda l: l.subprocess_shell(_factory, "true", shell=False),
                          ValueError, "shell must be True"),
    "shell_text": (lambda l: l.subprocess_shell(_factory, "true", text=True),
                   ValueError, "text must be False"),
    "shell_universal_newlines": (
        lambda l: l.subprocess_shell(_factory, "true", universal_newlines=True),
        ValueError, "universal_newlines must be False"),
    "shell_encoding": (lambda l: l.subprocess_shell(_factory, "true", encoding="latin-1"),
                       ValueError, "encoding must be None"),
    "shell_errors": (lambda l: l.subprocess_shell(_factory, "true", errors="replace"),
                     ValueError, "errors must be None"),
    "shell_bufsize": (lambda l: l.subprocess_shell(_factory, "true", bufsize=4096),
                      ValueError, "bufsize must be 0"),
    # the same through asyncio.subprocess (which passes them on)
    "create_exec_text": (lambda l: asyncio.create_subprocess_exec("true", text=True),
                         ValueError, "text must be False"),
    "create_exec_bufsize": (lambda l: asyncio.create_subprocess_exec("true", bufsize=1),
                            ValueError, "bufsize must be 0"),
    "create_exec_encoding": (
        lambda l: asyncio.create_subprocess_exec("true", encoding="utf-8"),
        ValueError, "encoding must be None"),
    "create_exec_universal_newlines": (
        lambda l: asyncio.create_subprocess_exec("true", universal_newlines=True),
        ValueError, "universal_newlines must be False"),
    "create_shell_list": (lambda l: asyncio.create_subprocess_shell(["true"]),
                          ValueError, "cmd must be a string"),
    "create_shell_text": (lambda l: asyncio.create_subprocess_shell("true", text=True),
                          ValueError, "text must be False"),
    # the protocol factory is called after the checks, before the child is started
    "exec_factory_not_callable": (lambda l: l.subprocess_exec(None, "true"),
                                  TypeError, "'NoneType' object is not callable"),
    "shell_factory_not_callable": (lambda l: l.subprocess_shell(42, "true"),
                                   TypeError, "'int' object is not callable"),
    # subprocess.Popen's, through the transport
    "exec_int_arg": (lambda l: l.subprocess_exec(_factory, "echo", 1),
                     TypeError, "expected str, bytes or os.PathLike object, not int"),
    "exec_int_program": (lambda l: l.subprocess_exec(_factory, 1),
                         TypeError, "expected str, bytes or os.PathLike object, not int"),
    "exec_nul_in_arg": (lambda l: l.subprocess_exec(_factory, "echo", "a\0b"),
                        ValueError, "embedded null byte"),
    "exec_no_such_program": (
        lambda l: l.subprocess_exec(_factory, "/nonexistent/ac-program"),
        FileNotFoundError, "[Errno 2] No such file or directory: '/nonexistent/ac-program'"),
    "exec_no_such_cwd": (
        lambda l: l.subprocess_exec(_factory, "true", cwd="/nonexistent/ac-dir"),
        FileNotFoundError, "[Errno 2] No such file or directory: '/nonexistent/ac-dir'"),
    "create_exec_no_such_program": (
        lambda l: asyncio.create_subprocess_exec("/nonexistent/ac-program"),
        FileNotFoundError, "[Errno 2] No such file or directory: '/nonexistent/ac-program'"),
    "exec_unknown_keyword": (lambda l: l.subprocess_exec(_factory, "true", nope=1),
                             TypeError,
                             "Popen.__init__() got an unexpected keyword argument 'nope'"),
    "exec_bad_fd": (lambda l: l.subprocess_exec(_factory, "true", stdout=987654),
                    OSError, "[Errno 9] Bad file descriptor"),
    "exec_preexec_fn_raises": (
        lambda l: l.subprocess_exec(_factory, "true", preexec_fn=lambda: 1 / 0),
        subprocess.SubprocessError, "Exception occurred in preexec_fn."),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_bad_input(lenv, case):
    make, etype, message = ERROR_CASES[case]
    before = fd_count()
    zombies_before = set(zombie_children())
    with pytest.raises(BaseException) as info:
        run(lenv, make(lenv.loop))
    assert type(info.value) is etype
    assert str(info.value) == message
    if etype is FileNotFoundError:
        assert info.value.errno == 2
        assert info.value.filename == message.split(": ", 1)[1].strip("'")
    collect()
    assert fd_count() == before         # nothing left open by the failed spawn
    assert set(zombie_children()) <= zombies_before    # a child that failed exec is reaped


def test_bad_input_missing_program(lenv):
    loop = lenv.loop
    with pytest.raises(TypeError) as info:
        loop.subprocess_exec(_factory)      # the coroutine is not even made
    # asyncio's message names the method by its qualified name (BaseEventLoop.subprocess_exec):
    # the part after the name is compared
    assert str(info.value).endswith(
        "subprocess_exec() missing 1 required positional argument: 'program'")
    with pytest.raises(TypeError) as info:
        loop.subprocess_shell(_factory)
    assert str(info.value).endswith(
        "subprocess_shell() missing 1 required positional argument: 'cmd'")
    with pytest.raises(TypeError) as info:
        asyncio.create_subprocess_exec()
    assert "missing 1 required positional argument: 'program'" in str(info.value)


# --------------------------------------------------------------------------------------
# scale: many children, big data


def test_200_concurrent_children(lenv):
    n = 200

    async def one(i):
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", f"echo {i}; exit {i % 7}", stdin=DEVNULL, stdout=PIPE,
            stderr=DEVNULL)
        out, _ = await proc.communicate()
        return proc.pid, proc.returncode, out

    async def main():
        return await asyncio.gather(*(one(i) for i in range(n)))

    before = fd_count()
    res = run(lenv, main(), timeout=120)
    assert [(rc, out) for _, rc, out in res] == [(i % 7, b"%d\n" % i) for i in range(n)]
    assert len({pid for pid, _, _ in res}) == n
    lenv.spin(3)
    collect()
    assert fd_count() == before
    assert zombie_children([pid for pid, _, _ in res]) == []


def test_10mib_through_cat_communicate(lenv):
    payload = os.urandom(10 * MiB)

    async def main():
        proc = await asyncio.create_subprocess_exec("cat", stdin=PIPE, stdout=PIPE)
        out, err = await proc.communicate(payload)
        return proc.returncode, out, err

    rc, out, err = run(lenv, main(), timeout=120)
    assert rc == 0 and err is None
    assert len(out) == len(payload) and out == payload


def test_10mib_through_cat_streaming(lenv):
    payload = os.urandom(10 * MiB)
    chunk = 64 * 1024

    async def main():
        proc = await asyncio.create_subprocess_exec("cat", stdin=PIPE, stdout=PIPE)

        async def writer():
            for i in range(0, len(payload), chunk):
                proc.stdin.write(payload[i:i + chunk])
                await proc.stdin.drain()
            proc.stdin.close()
            await proc.stdin.wait_closed()

        async def reader():
            h = hashlib.sha256()
            n = 0
            while True:
                data = await proc.stdout.read(100_000)
                if not data:
                    return n, h.hexdigest()
                n += len(data)
                h.update(data)

        _, got = await asyncio.gather(writer(), reader())
        return await proc.wait(), got

    rc, got = run(lenv, main(), timeout=120)
    assert rc == 0
    assert got == (len(payload), hashlib.sha256(payload).hexdigest())


# --------------------------------------------------------------------------------------
# reaping: no zombies, no stolen exit statuses


def test_no_zombie_after_children_awaited(lenv):
    loop = lenv.loop

    async def main():
        pids = []
        p = await asyncio.create_subprocess_exec("true")
        await p.communicate()
        pids.append(p.pid)
        p = await asyncio.create_subprocess_shell("exit 3", stdout=DEVNULL)
        assert await p.wait() == 3
        pids.append(p.pid)
        p = await asyncio.create_subprocess_exec("sleep", "60", stdin=DEVNULL)
        p.kill()
        assert await p.wait() == -signal.SIGKILL
        pids.append(p.pid)
        proto = SPRec(loop)
        tr, _ = await loop.subprocess_exec(lambda: proto, "sleep", "60")
        tr.close()
        await proto.lost
        pids.append(tr.get_pid())
        return pids

    pids = run(lenv, main())
    # the exit was reported, so the status was read: nothing is left to reap
    assert zombie_children(pids) == []
    assert all(proc_stat(pid) is None or proc_stat(pid)[1] != os.getpid() for pid in pids)


def _loop_close_leaves_zombie(limpl, loop):
    """asyncio's PidfdChildWatcher (the default from 3.12) watches the child through the
    loop: once the loop is closed, nobody waits for it, and the zombie stays until the
    transport is garbage-collected (its __del__ polls the Popen).  3.11's default
    ThreadedChildWatcher reaps it from its thread.  asyncio_c reaps it from a background
    thread (issue #6), once its own watcher is in (loop._ac_children)."""
    if PYV < (3, 12):
        return False
    return not limpl.is_c or not hasattr(loop, "_ac_children")


@pytest.mark.parametrize("child", ["sleep", "stdin_eof"])
def test_loop_closed_with_live_child_leaves_no_zombie(lenv, limpl, child):
    loop = lenv.loop
    if _loop_close_leaves_zombie(limpl, loop):
        pytest.skip("ours-only from 3.12: asyncio's pidfd watcher leaves the zombie")
    r = w = -1
    if child == "sleep":
        # most likely still running when the loop is closed (if not, its exit was simply
        # reported before: nothing to assert about the state at close)
        argv, stdin = ["sleep", "0.5"], DEVNULL
    else:
        r, w = os.pipe()
        argv, stdin = py("import sys; sys.stdin.buffer.read()"), r
    try:
        proc = run(lenv, asyncio.create_subprocess_exec(*argv, stdin=stdin, stdout=DEVNULL))
        if r >= 0:
            os.close(r)
            r = -1
        pid = proc.pid
        lenv.close()
        assert loop.is_closed()
        if w >= 0:
            # blocked on its stdin: certainly alive when the loop was closed
            assert proc.returncode is None
            assert proc_stat(pid) is not None and proc_stat(pid)[0] != "Z"
            os.close(w)             # EOF: the child exits now, the loop being closed
            w = -1
        # proc (and its transport) are kept alive: their finalizers would reap the child
        assert wait_reaped([pid], timeout=10.0) == {}
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
    proc._transport.close()         # no "unclosed transport" warning at collection
    reap_quietly(pid)


def test_does_not_steal_other_childrens_status(lenv):
    other = subprocess.Popen(["sh", "-c", "read x; exit 7"], stdin=subprocess.PIPE)
    try:
        async def some_children():
            procs = [await asyncio.create_subprocess_exec("sh", "-c", f"exit {i}")
                     for i in range(5)]
            return [await p.wait() for p in procs]

        assert run(lenv, some_children()) == [0, 1, 2, 3, 4]
        other.stdin.close()         # the unrelated child exits now...
        wait_exited_unreaped(other.pid)
        # ... and is a zombie (nobody else may reap it) while our children come and go
        assert proc_stat(other.pid) == ("Z", os.getpid())
        assert run(lenv, some_children()) == [0, 1, 2, 3, 4]
        assert proc_stat(other.pid) == ("Z", os.getpid())
        assert other.wait(timeout=30) == 7
    finally:
        if other.returncode is None:
            other.kill()
            other.wait()
