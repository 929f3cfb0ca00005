"""CPython's own test.test_asyncio, driven against asyncio_c's Future and Task.

CPython tests its C and Python implementations of Future/Task by instantiating
implementation-neutral base classes (BaseFutureTests, BaseTaskTests, ...) once per
implementation (CFutureTests, CTask_CFuture_Tests, PyTask_CFuture_Tests, ...).  For every
such class that uses asyncio's C types we generate a subclass with asyncio_c's types put in
their place (see _mirror.py).  No CPython test code is copied; the tests come from the
running interpreter's own `test` package, so each interpreter checks its own semantics.

Files:
  _mirror.py            finds CPython's C-implementation test classes and mirrors them
  exclusions.py         every test we do not run, with its reason (the only such list)
  test_cpython_*.py     one module per CPython test module (what pytest collects)
  report.py             runs ours and asyncio's own (reference) per interpreter, prints counts
  _report_plugin.py     pytest plugin report.py uses to record outcomes

Environment:
  ASYNCIO_C_CONFORMANCE_REF=1   also generate the reference classes (Ref_*), i.e. the same
                                mirrored classes with asyncio's own _CTask/_CFuture
"""
