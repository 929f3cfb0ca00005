"""CPython's test.test_asyncio.test_subprocess with asyncio_c's event loop as the loop every test gets.

See _loop_mirror.py.  Collected names: Ours_<CPython class> (and Ref_<CPython class>, on
asyncio's own loop, with ASYNCIO_C_CONFORMANCE_REF=1); CPython's own classes are not in this
namespace.
"""
from ._loop_mirror import mirror_loop_module

mirror_loop_module("test_subprocess", globals())
