"""CPython's test.test_asyncio.test_futures, C-implementation classes mirrored onto asyncio_c.

See _mirror.py.  Collected names: Ours_<CPython class> (and Ref_<CPython class> with
ASYNCIO_C_CONFORMANCE_REF=1); CPython's own classes are not in this namespace.
"""
from ._mirror import mirror_module

mirror_module("test_futures", globals())
