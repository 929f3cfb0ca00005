"""pytest plugin of report.py: one JSON line per event, flushed at once (a crash loses nothing).

Loaded with `-p conformance._report_plugin`; writes to $ASYNCIO_C_CONFORMANCE_RECORD.
Records: {"start": nodeid} | {"id", "when", "outcome", "msg"} | {"collect_error", "msg"} |
{"impl": ...} | {"unused_exclusions": [...]}.
"""
import json
import os
import sys

_out = None


def _write(**record):
    if _out is not None:
        _out.write(json.dumps(record) + "\n")
        _out.flush()


def _message(report):
    lr = report.longrepr
    if lr is None:
        return ""
    if isinstance(lr, tuple):                       # skipped: (path, lineno, reason)
        return str(lr[-1])
    crash = getattr(lr, "reprcrash", None)
    if crash is not None and crash.message:
        return crash.message
    text = str(lr).strip().splitlines()
    return text[-1] if text else ""


def pytest_configure(config):
    global _out
    path = os.environ.get("ASYNCIO_C_CONFORMANCE_RECORD")
    if path:
        _out = open(path, "w", buffering=1)


def _mirror_module():
    # (the package is "conformance", or "tests.conformance" if tests/ ever becomes a package)
    for name, mod in list(sys.modules.items()):
        if name.endswith("conformance._mirror") and getattr(mod, "GENERATED", None):
            return mod
    return None


def pytest_collection_finish(session):
    mod = _mirror_module()
    _write(impl=mod.OURS_DESCRIPTION if mod else "?", python=sys.version.split()[0])


def pytest_collectreport(report):
    if report.failed:
        _write(collect_error=report.nodeid, msg=_message(report) or str(report.longrepr))


def pytest_runtest_logstart(nodeid, location):
    _write(start=nodeid)


def pytest_runtest_logreport(report):
    _write(id=report.nodeid, when=report.when, outcome=report.outcome, msg=_message(report))


def pytest_sessionfinish(session, exitstatus):
    mod = _mirror_module()
    if mod is not None:
        live = [k for k, v in mod.EXCLUSIONS.items()
                if not (isinstance(v, mod.Exclude) and v.versions and mod.PY not in v.versions)]
        _write(unused_exclusions=sorted(set(live) - mod.USED_EXCLUSIONS))
    _write(exitstatus=int(exitstatus))
