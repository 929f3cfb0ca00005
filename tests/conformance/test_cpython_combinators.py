"""CPython's tests of gather/wait/wait_for/shield/sleep/as_completed with asyncio's functions
replaced by asyncio_c's native ones (asyncio_c._patch.patch() around every test).

See _combinator_mirror.py.  Collected names: Ours_<CPython class> (and Ref_<CPython class>,
with asyncio's own functions, with ASYNCIO_C_CONFORMANCE_REF=1) for the classes of
test.test_asyncio.test_tasks and test.test_asyncio.test_waitfor that have such tests;
CPython's own classes are not in this namespace.
"""
from ._combinator_mirror import mirror_combinator_modules

mirror_combinator_modules(globals())
