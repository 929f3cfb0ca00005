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
