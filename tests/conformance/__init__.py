"""CPython's own test.test_asyncio, driven against asyncio_c's Future, Task and event loop.

CPython tests its C and Python implementations of Future/Task by instantiating
implementation-neutral base classes (BaseFutureTests, BaseTaskTests, ...) once per
implementation (CFutureTests, CTask_CFuture_Tests, PyTask_CFuture_Tests, ...).  For every
such class that uses asyncio's C types we generate a subclass with asyncio_c's types put in
their place (see _mirror.py).  No CPython test code is copied; the tests come from the
running interpreter's own `test` package, so each interpreter checks its own semantics.

The loop layer (_loop_mirror.py, test_cpython_loop_*.py) runs test_events' epoll loop class,
test_locks, test_queues, test_pep492, test_context, test_taskgroups, test_timeouts,
test_runners, test_threads and test_waitfor, and the networking modules test_sock_lowlevel,
test_sendfile, test_server, test_streams, test_unix_events, test_ssl, test_sslproto and
test_base_events, and test_subprocess (their classes that run a loop through its public
API; test_events' epoll class also runs SubprocessTestsMixin's subprocess tests), with
asyncio_c's loop as the loop every test gets, and checks that no other loop was made.

Files:
  _mirror.py            finds CPython's C-implementation test classes and mirrors them
  _loop_mirror.py       the same for the loop layer
  test_harness.py, test_loop_harness.py   checks that "ours" really is ours
  exclusions.py         every test we do not run, with its reason (the only such list)
  test_cpython_*.py     one module per CPython test module (what pytest collects)
  report.py             runs ours and asyncio's own (reference) per interpreter, prints counts
  _report_plugin.py     pytest plugin report.py uses to record outcomes

Environment:
  ASYNCIO_C_CONFORMANCE_REF=1   also generate the reference classes (Ref_*), i.e. the same
                                mirrored classes with asyncio's own _CTask/_CFuture
                                (and, for the loop layer, asyncio's own loop)
"""
