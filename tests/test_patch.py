"""asyncio_c._patch: patch()/unpatch()/is_patched() and install(patch=True).

The native functions are looked up in asyncio_c._core when patch() is called.  Whether or not
this build has them, the mechanics are checked with stand-ins put on asyncio_c._core for the
duration of a test (a wrapper around asyncio's own function that counts its calls), and the
build's real native functions, where they exist, with the same checks plus one call each on
asyncio's loop and on ours.
"""
import asyncio
import asyncio.streams
import asyncio.tasks
import sys
import threading

import pytest

import asyncio_c
from asyncio_c import _core, _patch

NAMES = _patch.NAMES
ORIGINAL = {name: getattr(asyncio.tasks, name) for name in NAMES}
# Every place patch() replaces (asyncio, asyncio.tasks, and the asyncio modules that bound the
# function with `from .tasks import <name>`), read from the modules as they are before any test.
PLACES = {
    name: sorted(
        mod.__name__ for mod in list(sys.modules.values())
        if mod is not None and getattr(mod, "__name__", "").split(".")[0] == "asyncio"
        and vars(mod).get(name) is ORIGINAL[name])
    for name in NAMES
}


def _state():
    """{(module, name): object} for every place patch() may touch."""
    return {(m, n): getattr(sys.modules[m], n) for n in NAMES for m in PLACES[n]}


BEFORE = _state()


@pytest.fixture(autouse=True)
def unpatched():
    assert not _patch.is_patched()
    assert _state() == BEFORE
    policy = asyncio.events._event_loop_policy
    yield
    _patch.unpatch()
    asyncio.set_event_loop_policy(policy)
    assert _state() == BEFORE


class Counting:
    """A stand-in native function: asyncio's own, counting its calls."""

    def __init__(self, name):
        self.name = name
        self.calls = 0
        self.wrapped = ORIGINAL[name]

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.wrapped(*args, **kwargs)

    def __repr__(self):
        return f"<stand-in native {self.name}>"


@pytest.fixture
def standins(monkeypatch):
    """Stand-in natives for all NAMES on asyncio_c._core (real ones hidden meanwhile)."""
    fakes = {name: Counting(name) for name in NAMES}
    for name, fake in fakes.items():
        monkeypatch.setattr(_core, name, fake, raising=False)
    return fakes


# ---------------------------------------------------------------------------------------------
# which places

def test_places():
    # asyncio and asyncio.tasks for each name; streams did `from .tasks import sleep`
    for name in NAMES:
        assert "asyncio" in PLACES[name] and "asyncio.tasks" in PLACES[name]
    assert "asyncio.streams" in PLACES["sleep"]


def test_natives_are_those_of_the_build():
    assert _patch.natives() == {n: getattr(_core, n) for n in NAMES if hasattr(_core, n)}


def test_patch_with_this_build():
    present = {n for n in NAMES if callable(getattr(_core, n, None))}
    assert set(_patch.patch()) == present
    assert _patch.is_patched()
    for name in NAMES:
        want = getattr(_core, name) if name in present else ORIGINAL[name]
        for mod in PLACES[name]:
            assert getattr(sys.modules[mod], name) is want, (mod, name)
    assert _patch.unpatch() is True
    assert not _patch.is_patched()


def test_partial_build_patches_what_exists(monkeypatch):
    for name in NAMES:
        monkeypatch.delattr(_core, name, raising=False)
    fake = Counting("sleep")
    monkeypatch.setattr(_core, "sleep", fake, raising=False)
    assert _patch.patch() == ("sleep",)
    assert asyncio.sleep is fake and asyncio.tasks.sleep is fake and asyncio.streams.sleep is fake
    for name in NAMES:
        if name != "sleep":
            assert asyncio.tasks.__dict__[name] is ORIGINAL[name]
            assert asyncio.__dict__[name] is ORIGINAL[name]


def test_nothing_to_patch(monkeypatch):
    for name in NAMES:
        monkeypatch.delattr(_core, name, raising=False)
    assert _patch.patch() == ()
    assert _patch.is_patched()              # patched, with nothing to replace
    assert _state() == BEFORE
    assert _patch.unpatch() is True


def test_patch_replaces_every_place(standins):
    assert _patch.patch() == NAMES
    assert _patch.patched_names() == NAMES
    for name in NAMES:
        for mod in PLACES[name]:
            assert getattr(sys.modules[mod], name) is standins[name], (mod, name)
    assert sorted(_patch.patched_places()) == sorted(
        f"{m}.{n}" for n in NAMES for m in PLACES[n])


def test_unpatch_restores_exactly(standins):
    _patch.patch()
    assert _patch.unpatch() is True
    assert _state() == BEFORE
    for name in NAMES:
        assert asyncio.tasks.__dict__[name] is ORIGINAL[name]
    assert _patch.unpatch() is False        # nothing left to undo
    assert _patch.patched_names() == ()


def test_patch_is_idempotent(standins, monkeypatch):
    first = _patch.patch()
    # a second patch() while patched changes nothing, even if the extension changed meanwhile
    monkeypatch.setattr(_core, "gather", Counting("gather"))
    assert _patch.patch() == first
    assert asyncio.gather is standins["gather"]
    _patch.unpatch()
    assert _state() == BEFORE               # not the stand-ins: the originals


def test_repatch_after_unpatch(standins):
    _patch.patch()
    _patch.unpatch()
    _patch.patch()
    assert asyncio.wait is standins["wait"]
    _patch.unpatch()
    assert asyncio.wait is ORIGINAL["wait"]


def test_unpatch_restores_what_patch_found(standins, monkeypatch):
    # someone else's replacement, installed before patch(), comes back
    theirs = object()
    monkeypatch.setattr(asyncio, "shield", theirs)
    _patch.patch()
    assert asyncio.shield is standins["shield"]
    assert asyncio.tasks.shield is standins["shield"]
    _patch.unpatch()
    assert asyncio.shield is theirs
    assert asyncio.tasks.shield is ORIGINAL["shield"]


def test_names_bound_before_are_not_replaced(standins):
    from asyncio import sleep as bound       # like a user module's `from asyncio import sleep`
    _patch.patch()
    assert bound is ORIGINAL["sleep"]
    assert asyncio.sleep is standins["sleep"]


def test_concurrent_patch_unpatch(standins):
    errors = []

    def work():
        try:
            for _ in range(200):
                _patch.patch()
                _patch.unpatch()
        except BaseException as e:          # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    _patch.unpatch()
    assert _state() == BEFORE


# ---------------------------------------------------------------------------------------------
# the replacements are what asyncio itself calls

LOOPS = [
    pytest.param(asyncio.SelectorEventLoop, id="asyncio-loop"),
    pytest.param(asyncio_c.new_event_loop, id="asyncio_c-loop"),
]


@pytest.mark.parametrize("new_loop", LOOPS)
def test_user_calls_go_to_the_replacements(standins, new_loop):
    _patch.patch()

    async def main():
        await asyncio.sleep(0)
        await asyncio.gather(asyncio.sleep(0))
        await asyncio.wait([asyncio.ensure_future(asyncio.sleep(0))])
        await asyncio.wait_for(asyncio.sleep(0), 10)
        await asyncio.shield(asyncio.sleep(0))

    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(main())
    for name in NAMES:
        assert standins[name].calls >= 1, name


@pytest.mark.parametrize("new_loop", LOOPS)
def test_asyncio_internals_call_the_replacements(standins, new_loop):
    # asyncio.run()/Runner cancels the tasks left over with tasks.gather (runners.py looks
    # it up in the tasks module at call time)
    _patch.patch()

    leftover = []  # a strong reference: a pending task only in a cycle may be collected

    async def main():
        leftover.append(asyncio.ensure_future(asyncio.Event().wait()))
        await asyncio.sleep(0)

    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(main())
        before = standins["gather"].calls
    assert standins["gather"].calls == before + 1


def test_install_patch(standins):
    asyncio_c.install(patch=True)
    assert isinstance(asyncio.get_event_loop_policy(), asyncio_c.EventLoopPolicy)
    assert _patch.is_patched()
    assert asyncio.gather is standins["gather"]


def test_install_default_does_not_patch(standins):
    asyncio_c.install()
    assert isinstance(asyncio.get_event_loop_policy(), asyncio_c.EventLoopPolicy)
    assert not _patch.is_patched()
    assert asyncio.gather is ORIGINAL["gather"]


# ---------------------------------------------------------------------------------------------
# this build's real native functions

REAL = [pytest.param(name, marks=pytest.mark.skipif(
            not callable(getattr(_core, name, None)),
            reason=f"asyncio_c._core has no {name} (not built yet)"))
        for name in NAMES]


async def _use(name):
    """One ordinary call of asyncio.<name> (whatever it is now); returns its result."""
    if name == "sleep":
        return await asyncio.sleep(0, result="slept")
    if name == "gather":
        return await asyncio.gather(asyncio.sleep(0, result=1), asyncio.sleep(0, result=2))
    if name == "wait":
        t = asyncio.ensure_future(asyncio.sleep(0, result=3))
        done, pending = await asyncio.wait([t])
        return (len(done), len(pending), t.result())
    if name == "wait_for":
        return await asyncio.wait_for(asyncio.sleep(0, result=4), 10)
    if name == "shield":
        return await asyncio.shield(asyncio.sleep(0, result=5))
    raise AssertionError(name)


@pytest.mark.parametrize("new_loop", LOOPS)
@pytest.mark.parametrize("name", REAL)
def test_real_native(name, new_loop):
    with asyncio.Runner(loop_factory=new_loop) as runner:
        expected = runner.run(_use(name))                               # asyncio's own
    assert name in _patch.patch()
    assert getattr(asyncio, name) is getattr(_core, name)
    assert getattr(asyncio.tasks, name) is getattr(_core, name)
    with asyncio.Runner(loop_factory=new_loop) as runner:
        assert runner.run(_use(name)) == expected
    _patch.unpatch()
    assert getattr(asyncio, name) is ORIGINAL[name]
