"""Entry points: new_event_loop, run, the event loop policy, task factories.

The loop is Loop: the C core in _core.Loop under asyncio's unix selector
loop (see its docstring and docs/architecture.md).
"""
import asyncio
import sys
from asyncio import (base_events, constants, futures, selector_events,
                     sslproto, trsock)

from . import _core, _handles

_ENSURE_FD = sys.version_info >= (3, 12)   # _make_*_transport check the fd
_set_nodelay = base_events._set_nodelay
_set_result_unless_cancelled = futures._set_result_unless_cancelled
_socket_transport = _core._socket_transport
_c_start_serving = _core._start_serving
_accept_connection = selector_events.BaseSelectorEventLoop._accept_connection
_core.SocketTransport._start_tls_compatible = True
_core.SocketTransport._sendfile_compatible = constants._SendfileMode.TRY_NATIVE


def _socket_extra(sock, extra):
    """The extra info _SelectorTransport.__init__ adds (into extra itself)."""
    if extra is None:
        extra = {}
    extra['socket'] = trsock.TransportSocket(sock)
    try:
        extra['sockname'] = sock.getsockname()
    except OSError:
        extra['sockname'] = None
    if 'peername' not in extra:
        try:
            extra['peername'] = sock.getpeername()
        except OSError:
            extra['peername'] = None
    return extra


def _new_socket_transport(loop, sock, protocol, waiter, extra, server):
    """_SelectorSocketTransport.__init__'s steps, with our C transport."""
    tr = _socket_transport(loop, sock, protocol, _socket_extra(sock, extra),
                           server)
    _set_nodelay(sock)
    loop.call_soon(protocol.connection_made, tr)
    # reading starts once connection_made() has run
    loop.call_soon(tr._ac_start_reading)
    if waiter is not None:
        loop.call_soon(_set_result_unless_cancelled, waiter, None)
    return tr

_Future = _core.Future
_Task = _core.Task


def task_factory(loop, coro, **kwargs):
    """A task factory for any asyncio loop: loop.set_task_factory(task_factory)."""
    return _Task(coro, loop=loop, **kwargs)


if sys.version_info >= (3, 12):

    def create_eager_task_factory(custom_task_constructor=_Task):
        def factory(loop, coro, *, name=None, context=None):
            return custom_task_constructor(
                coro, loop=loop, name=name, context=context, eager_start=True)
        return factory

    eager_task_factory = create_eager_task_factory(_Task)


class Loop(_core.Loop, asyncio.unix_events.SelectorEventLoop):
    """asyncio_c's event loop.

    Scheduling (call_soon/call_later/call_at, the ready queue, the timer
    heap), polling (epoll, add_reader/add_writer), one iteration of the loop,
    create_future and create_task are C (_core.Loop).  The rest is asyncio's
    own unix selector loop running on that core, until each part is native.
    """

    def close(self):
        super().close()
        self._ac_close()

    # transports: C types (src/transport*.c), made as asyncio makes its own
    def _make_socket_transport(self, sock, protocol, waiter=None, *,
                               extra=None, server=None):
        if _ENSURE_FD:
            self._ensure_fd_no_transport(sock)
        return _new_socket_transport(self, sock, protocol, waiter, extra, server)

    def _make_ssl_transport(
            self, rawsock, protocol, sslcontext, waiter=None,
            *, server_side=False, server_hostname=None,
            extra=None, server=None,
            ssl_handshake_timeout=constants.SSL_HANDSHAKE_TIMEOUT,
            ssl_shutdown_timeout=constants.SSL_SHUTDOWN_TIMEOUT):
        if _ENSURE_FD:
            self._ensure_fd_no_transport(rawsock)
        ssl_protocol = sslproto.SSLProtocol(
            self, protocol, sslcontext, waiter, server_side, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)
        _new_socket_transport(self, rawsock, ssl_protocol, None, extra, server)
        return ssl_protocol._app_transport

    # servers: the listening fd is watched in C (src/server.c), which does
    # what asyncio's _accept_connection does at each readiness.  In debug
    # mode, or if _accept_connection is overridden, asyncio's own reader
    # Handle (slow-callback reports, source tracebacks, _current_handle).
    # _stop_serving is asyncio's: _remove_reader drops the C watcher.
    def _start_serving(self, protocol_factory, sock,
                       sslcontext=None, server=None, backlog=100,
                       ssl_handshake_timeout=constants.SSL_HANDSHAKE_TIMEOUT,
                       ssl_shutdown_timeout=constants.SSL_SHUTDOWN_TIMEOUT):
        if (self._debug or getattr(self._accept_connection, '__func__', None)
                is not _accept_connection):
            return super()._start_serving(
                protocol_factory, sock, sslcontext, server, backlog,
                ssl_handshake_timeout, ssl_shutdown_timeout)
        _c_start_serving(self, protocol_factory, sock, sslcontext, server,
                         backlog, ssl_handshake_timeout, ssl_shutdown_timeout)

    def _ac_slow_callback(self, handle, dt):
        asyncio.log.logger.warning(
            'Executing %s took %.3f seconds', _handles.format_handle(handle), dt)


_core._set_loop_class(Loop)


def new_event_loop():
    """A new asyncio_c event loop."""
    return Loop()


def run(main, *, debug=None):
    """asyncio.run(main) on an asyncio_c loop."""
    if asyncio.events._get_running_loop() is not None:
        raise RuntimeError(
            "asyncio.run() cannot be called from a running event loop")
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """Event loop policy whose loops are asyncio_c's."""

    def new_event_loop(self):
        return new_event_loop()


def install(patch=False):
    """Make asyncio_c the loop of asyncio.run() & co. (sets the policy).

    With patch=True, also replace asyncio.gather/wait/wait_for/shield/sleep by asyncio_c's
    native functions (asyncio_c._patch.patch(); undo with asyncio_c._patch.unpatch()).
    """
    asyncio.set_event_loop_policy(EventLoopPolicy())
    if patch:
        from . import _patch
        _patch.patch()
