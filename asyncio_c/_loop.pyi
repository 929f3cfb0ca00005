# Types of asyncio_c._loop: the event loop, its entry points and policy.
import asyncio
import selectors
import sys
from asyncio.events import AbstractEventLoop
from collections.abc import Callable, Coroutine, Generator
from contextvars import Context
from typing import Any, Protocol, TypeAlias, TypeVar, TypeVarTuple, Unpack, type_check_only

from . import _core

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)
_Ts = TypeVarTuple("_Ts")

if sys.version_info >= (3, 12):
    _TaskCompatibleCoro: TypeAlias = Coroutine[Any, Any, _T_co]
else:
    _TaskCompatibleCoro: TypeAlias = Generator[Any, None, _T_co] | Coroutine[Any, Any, _T_co]

# The C core first, then asyncio's unix selector loop (the runtime MRO).  The
# core's methods return asyncio_c's Future/Task/Handle, which are not
# asyncio's classes: hence the ignores for the differing definitions (what
# mypy infers for loop.create_task() & co. on an asyncio_c.Loop is the truth;
# through AbstractEventLoop typeshed says asyncio.Task & co.).
class Loop(_core.Loop, asyncio.unix_events.SelectorEventLoop):  # type: ignore[misc]
    def __init__(self, selector: selectors.BaseSelector | None = None) -> None: ...
    def call_soon(  # type: ignore[override]
        self, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: Context | None = None
    ) -> _core.Handle: ...
    def call_soon_threadsafe(  # type: ignore[override]
        self, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: Context | None = None
    ) -> _core.Handle: ...
    def call_later(  # type: ignore[override]
        self, delay: float, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: Context | None = None
    ) -> _core.TimerHandle: ...
    def call_at(  # type: ignore[override]
        self, when: float, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: Context | None = None
    ) -> _core.TimerHandle: ...
    def create_future(self) -> _core.Future[Any]: ...  # type: ignore[override]
    def create_task(  # type: ignore[override]
        self, coro: _TaskCompatibleCoro[_T], *, name: object = None, context: Context | None = None
    ) -> _core.Task[_T]: ...

def new_event_loop() -> Loop: ...
def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T: ...

class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> Loop: ...

def install(patch: bool = False) -> None: ...

# For loop.set_task_factory() on any asyncio loop.  (typeshed's
# set_task_factory wants a factory returning asyncio.Future, which our Task
# is not a subclass of: mypy asks for a "type: ignore[arg-type]" there.)
def task_factory(loop: AbstractEventLoop, coro: _TaskCompatibleCoro[_T], **kwargs: Any) -> _core.Task[_T]: ...

if sys.version_info >= (3, 12):
    _TaskT_co = TypeVar("_TaskT_co", bound=_core.Task[Any] | asyncio.Task[Any], covariant=True)

    @type_check_only
    class _CustomTaskConstructor(Protocol[_TaskT_co]):
        def __call__(
            self,
            coro: _TaskCompatibleCoro[Any],
            /,
            *,
            loop: AbstractEventLoop,
            name: str | None,
            context: Context | None,
            eager_start: bool,
        ) -> _TaskT_co: ...

    @type_check_only
    class _EagerTaskFactoryType(Protocol[_TaskT_co]):
        def __call__(
            self,
            loop: AbstractEventLoop,
            coro: _TaskCompatibleCoro[Any],
            *,
            name: str | None = None,
            context: Context | None = None,
        ) -> _TaskT_co: ...

    def create_eager_task_factory(
        custom_task_constructor: _CustomTaskConstructor[_TaskT_co] = ...,
    ) -> _EagerTaskFactoryType[_TaskT_co]: ...
    def eager_task_factory(
        loop: AbstractEventLoop | None,
        coro: _TaskCompatibleCoro[_T_co],
        *,
        name: str | None = None,
        context: Context | None = None,
    ) -> _core.Task[_T_co]: ...
