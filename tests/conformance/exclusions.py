"""Every CPython test the conformance layer does not run, with its reason.  The only such list.

Keys name the test by CPython's own class (not by our generated subclass):
    "<cpython module>.<CPython class>.<test method>"      e.g.
    "test_tasks.CTask_CFuture_Tests.test_cancel_traceback"
Shell-style wildcards (fnmatch) are allowed: "test_tasks.*.test_foo" excludes test_foo from
every mirrored class of test_tasks.

A value is either the reason (a string: applies to every version, to ours and to the
reference run), or an Exclude(reason, versions=(...), impls=(...)):
  versions  the "X.Y" versions it applies to; empty = all
  impls     "ours" and/or "ref" (the reference run on asyncio's own _CTask/_CFuture);
            an entry for "ours" only describes a deviation of the C extension and is not
            applied when "ours" are asyncio's own types (report.py --selfcheck, or a
            stand-in), where ours and the reference must count exactly the same.

Reasons, by kind:
  "fails on asyncio's own implementation too: ..."   also fails in the reference run
  "not about asyncio_c: ..."                         the test never touches our types
  "gap: ..."  a difference of ours that is not a behaviour (for example a test reading a
              private attribute asyncio's C types expose and ours do not).  Gaps are to be
              fixed, not to stay here; they are listed so that they are visible.
"""
from typing import NamedTuple


class Exclude(NamedTuple):
    reason: str
    versions: tuple = ()
    impls: tuple = ("ours", "ref")


EXCLUSIONS = {
    "test_eager_task_factory.CEagerTaskFactoryLoopTests.test_issue105987": Exclude(
        "not about asyncio_c: runs `from _asyncio import _swap_current_task` in a child "
        "interpreter (asyncio's C module function); no Task or Future is involved",
        versions=("3.12", "3.13")),
}


# =============================================================================================
# Loop layer (_loop_mirror.py, test_cpython_loop_*.py): CPython's tests with asyncio_c's event
# loop as the loop every test gets.  Same value format (Exclude: versions, impls).  Keys:
#   "<cpython module>.<CPython class>"               the class is not mirrored at all
#   "<cpython module>.<CPython class>.<test method>"  (fnmatch wildcards) the test is skipped
# Reasons, besides the kinds above:
#   "asyncio_c bug: ..."   fails on our loop, passes on asyncio's (impls=("ours",)); reported,
#                          to be fixed, not to stay here
#   "not mirrored: ..."    a class that is not about the event loop, or one whose tests are
#                          already run on our loop through another class
#   "waits for: ..."       networking/subprocess cases left for their own issue (none now:
#                          the networking modules (issue #5) and test_subprocess (issue #6)
#                          are in the layer)
#   "GAP #5: ..." / "GAP #6: ..."  (networking / subprocess modules) passes on asyncio's loop,
#                          fails on ours (impls=("ours",)): a bug of ours, reported to the lead
#   "not about the loop: ..."  (networking modules) a class testing asyncio internals with
#                          mocks or a TestLoop (child watchers, a transport class constructed
#                          by hand, BaseEventLoop on a mock selector), not a loop implementation
#   "slow: N s"            a class left out for its run time
# Every loop-layer test fails unless it made an event loop and every loop it made is ours, so
# tests that make no loop at all must be listed here ("not about asyncio_c: ...").

LOOP_EXCLUSIONS = {
    # -- test_events: classes ------------------------------------------------------------------
    "test_events.SelectEventLoopTests": (
        "not mirrored: EPollEventLoopTests' tests on asyncio's loop with another selector; "
        "asyncio_c's loop has one poller (epoll), tested through EPollEventLoopTests"),
    "test_events.PollEventLoopTests": (
        "not mirrored: EPollEventLoopTests' tests on asyncio's loop with another selector; "
        "asyncio_c's loop has one poller (epoll), tested through EPollEventLoopTests"),
    "test_events.TimerTests": (
        "not mirrored: not about asyncio_c: asyncio.TimerHandle built directly on a mock loop"),
    "test_events.AbstractEventLoopTests": (
        "not mirrored: not about asyncio_c: asyncio.AbstractEventLoop's NotImplementedError "
        "methods"),
    "test_events.PolicyTests": (
        "not mirrored: not about asyncio_c: asyncio's own event loop policies"),
    "test_events.TestPyGetEventLoop": (
        "not mirrored: not about asyncio_c: asyncio's get_event_loop()/set_event_loop() "
        "(Python implementation) and custom policies"),
    "test_events.TestCGetEventLoop": (
        "not mirrored: not about asyncio_c: asyncio's get_event_loop()/set_event_loop() "
        "(C implementation) and custom policies"),
    # -- test_events.HandleTests: only test_handle_source_traceback uses a loop (ours) ----------
    "test_events.HandleTests.test_handle": (
        "not about asyncio_c: asyncio.Handle built directly on a mock loop"),
    "test_events.HandleTests.test_callback_with_exception": (
        "not about asyncio_c: asyncio.Handle built directly on a mock loop"),
    "test_events.HandleTests.test_handle_weakref": (
        "not about asyncio_c: asyncio.Handle built directly on a mock loop"),
    "test_events.HandleTests.test_handle_repr*": (
        "not about asyncio_c: asyncio.Handle built directly on a mock loop"),
    "test_events.HandleTests.test_coroutine_like_object_debug_formatting": (
        "not about asyncio_c: asyncio.coroutines._format_coroutine; no loop"),
    "test_events.TestAbstractServer": (
        "not mirrored: not about asyncio_c: asyncio.AbstractServer's NotImplementedError "
        "methods"),
    # -- test_runners ---------------------------------------------------------------------------
    "test_runners.RunnerTests.test_custom_factory": (
        "not about asyncio_c: asyncio.Runner(loop_factory=...) returning a mock; no loop runs"),
    "test_runners.RunTests.test_loop_factory_default_event_loop": Exclude(
        "not about asyncio_c: asyncio.run(loop_factory=asyncio.EventLoop) runs asyncio's own "
        "loop class by name", versions=("3.13",)),

    # ==== networking modules (issue #5) =======================================================
    # -- test_sock_lowlevel, test_sendfile: the epoll class runs on our loop -------------------
    "test_sock_lowlevel.PollEventLoopTests": (
        "not mirrored: EPollEventLoopTests' tests on asyncio's loop with another selector; "
        "asyncio_c's loop has one poller (epoll), tested through EPollEventLoopTests"),
    "test_sock_lowlevel.SelectEventLoopTests": (
        "not mirrored: EPollEventLoopTests' tests on asyncio's loop with another selector; "
        "asyncio_c's loop has one poller (epoll), tested through EPollEventLoopTests"),
    "test_sendfile.PollEventLoopTests": (
        "not mirrored: EPollEventLoopTests' tests on asyncio's loop with another selector; "
        "asyncio_c's loop has one poller (epoll), tested through EPollEventLoopTests"),
    "test_sendfile.SelectEventLoopTests": (
        "not mirrored: EPollEventLoopTests' tests on asyncio's loop with another selector; "
        "asyncio_c's loop has one poller (epoll), tested through EPollEventLoopTests"),
    # -- test_server, test_sslproto -------------------------------------------------------------
    "test_server.ProactorStartServerTests": (
        "not mirrored: Windows only (asyncio.ProactorEventLoop); SelectorStartServerTests runs "
        "the same tests on our loop"),
    "test_sslproto.ProactorStartTLSTests": (
        "not mirrored: Windows only (asyncio.ProactorEventLoop); SelectorStartTLSTests runs "
        "the same tests on our loop"),
    "test_sslproto.SslProtoHandshakeTests": (
        "not about the loop: asyncio.sslproto.SSLProtocol constructed and driven by hand "
        "(connection_made/eof_received/_fatal_error) with a mock transport and a mock "
        "SSLObject; no socket, no transport of the loop"),
    # -- test_unix_events -----------------------------------------------------------------------
    "test_unix_events.UnixReadPipeTransportTests": (
        "not about the loop: asyncio.unix_events._UnixReadPipeTransport constructed directly "
        "on a TestLoop with os.read/os.fstat and the pipe mocked"),
    "test_unix_events.UnixWritePipeTransportTests": (
        "not about the loop: asyncio.unix_events._UnixWritePipeTransport constructed directly "
        "on a TestLoop with os.write/os.fstat and the pipe mocked"),
    "test_unix_events.AbstractChildWatcherTests": (
        "not about the loop: asyncio.AbstractChildWatcher's NotImplementedError methods "
        "(and, 3.12+, its subclassing DeprecationWarning); no loop"),
    "test_unix_events.BaseChildWatcherTests": (
        "not about the loop: unix_events.BaseChildWatcher._do_waitpid raises "
        "NotImplementedError; no loop"),
    "test_unix_events.SafeChildWatcherTests": (
        "not about the loop: asyncio.SafeChildWatcher's bookkeeping with os.waitpid/"
        "os.WIFEXITED & co. mocked, on a TestLoop"),
    "test_unix_events.FastChildWatcherTests": (
        "not about the loop: asyncio.FastChildWatcher's bookkeeping with os.waitpid/"
        "os.WIFEXITED & co. mocked, on a TestLoop"),
    "test_unix_events.PolicyTests": (
        "not about the loop: asyncio's unix DefaultEventLoopPolicy and its child watcher "
        "(get_child_watcher/set_child_watcher/attach_loop)"),
    # -- test_base_events: BaseEventLoopWithSelectorTests (asyncio.SelectorEventLoop(), public
    # API, socket module mocked) and RunningLoopTests run on our loop; the rest is not the loop
    "test_base_events.BaseEventTests": (
        "not about the loop: base_events._ipaddr_info and the port parameter check of "
        "_ipaddr_info (module functions); no loop"),
    "test_base_events.BaseEventLoopTests": (
        "not about the loop: asyncio's base_events.BaseEventLoop() itself with a mock "
        "_selector (its scheduling internals: _ready, _scheduled, _run_once, and methods "
        "mocked per test), not a loop implementation"),
    "test_base_events.BaseLoopSockSendfileTests": (
        "not about the loop: BaseEventLoop's sendfile fallback (read + sock_sendall) on a "
        "selector_events.BaseSelectorEventLoop, chosen because it has no native sendfile; "
        "asyncio_c's loop is the unix selector loop (native os.sendfile), whose sock_sendfile "
        "test_sendfile and test_unix_events.SelectorEventLoopUnixSockSendfileTests run"),
    "test_base_events.TestSelectorUtils": (
        "not about the loop: base_events._set_nodelay on a socket; no loop"),
    # ==== subprocesses (issue #6) =============================================================
    # -- test_subprocess: SubprocessWatcherMixin's classes (policy.new_event_loop(): the policy
    # in force, ours) and GenericWatcherTests (asyncio.Runner(loop_factory=
    # asyncio.new_event_loop)) run on our loop
    "test_subprocess.SubprocessTransportTests": (
        "not about asyncio_c: base_subprocess.BaseSubprocessTransport subclassed with a mock "
        "Popen (_start), constructed directly on a TestLoop; no loop of ours"),
    "test_subprocess.SubprocessMultiLoopWatcherTests": Exclude(
        "not mirrored: CPython skips the whole class itself (@unittest.skip, bpo-38323: "
        "MultiLoopChildWatcher has a race condition and can hang the suite); SubprocessMixin's "
        "tests run on our loop through the other watcher classes", versions=("3.11",)),
    "test_subprocess.MultiLoopChildWatcherTests": Exclude(
        "not about asyncio_c: MultiLoopChildWatcher()'s DeprecationWarning; no loop",
        versions=("3.12", "3.13")),
}

# CPython test_asyncio modules about sockets/transports that are not in the loop layer at all
# (_loop_mirror.MODULES): none of their classes runs a loop implementation through its public
# API.  Checked by test_loop_harness.py (the module exists and is not in MODULES).
LOOP_MODULE_EXCLUSIONS = {
    "test_selector_events": (
        "not about the loop: BaseSelectorEventLoopTests runs selector_events."
        "BaseSelectorEventLoop's private methods (_accept_connection, _sock_*, _add_reader) on "
        "a mock selector; SelectorTransportTests, SelectorSocketTransportTests, "
        "SelectorSocketTransportBufferedProtocolTests and SelectorDatagramTransportTests "
        "construct asyncio's _Selector*Transport classes directly on a TestLoop with mock "
        "sockets (asyncio's Python transports themselves, not a loop's)"),
    "test_proactor_events": (
        "not about the loop: asyncio's proactor transports and BaseProactorEventLoop on a mock "
        "proactor and TestLoop; ProactorEventLoopUnixSockSendfileTests is Windows only"),
}


# =============================================================================================
# Combinator layer (_combinator_mirror.py, test_cpython_combinators.py): CPython's tests of
# gather/wait/wait_for/shield/sleep/as_completed with asyncio's functions replaced by
# asyncio_c's native ones.  Same value format (Exclude: versions, impls); keys
# "<cpython module>.<CPython class>.<test method>" (fnmatch wildcards).  Reasons: the kinds
# above, and "asyncio_c bug: ..." (impls=("ours",)) for a native function that fails a test
# asyncio's own function passes: reported, to be fixed, not to stay here.

COMBINATOR_EXCLUSIONS = {
    "test_tasks.*GatherTests.test_env_var_debug": (
        "not about asyncio_c: runs `python -c` children to check how PYTHONASYNCIODEBUG and "
        "-X dev set asyncio.coroutines._is_debug_mode(); no combinator is called"),
}
