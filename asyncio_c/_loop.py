"""Entry points: new_event_loop, run, the event loop policy, task factories.

The loop is Loop: the C core in _core.Loop under asyncio's unix selector
loop (see its docstring and docs/architecture.md).
"""
import asyncio
import os
import signal
import socket
import sys
import threading
import weakref
from asyncio import (base_events, constants, events, futures,
                     selector_events, sslproto, trsock)

from . import _core, _handles, _process

_ENSURE_FD = sys.version_info >= (3, 12)   # _make_*_transport check the fd
_set_nodelay = base_events._set_nodelay
_set_result_unless_cancelled = futures._set_result_unless_cancelled
_socket_transport = _core._socket_transport
_datagram_transport = _core._datagram_transport
_read_pipe_transport = _core._read_pipe_transport
_write_pipe_transport = _core._write_pipe_transport
_c_start_serving = _core._start_serving
_UnixSubprocessTransport = asyncio.unix_events._UnixSubprocessTransport
_accept_connection = selector_events.BaseSelectorEventLoop._accept_connection
_core.SocketTransport._start_tls_compatible = True
_core.SocketTransport._sendfile_compatible = constants._SendfileMode.TRY_NATIVE


def _start(loop, tr, protocol, waiter):
    """The end of every transport's __init__ in asyncio: connection_made(),
    then reading (only once connection_made() has run; for a write pipe,
    watching a fifo or socket for the other end closing), then the waiter."""
    loop.call_soon(protocol.connection_made, tr)
    loop.call_soon(tr._ac_start_reading)
    if waiter is not None:
        loop.call_soon(_set_result_unless_cancelled, waiter, None)
    return tr


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
    return _start(loop, tr, protocol, waiter)


def _new_datagram_transport(loop, sock, protocol, address, waiter, extra):
    """_SelectorDatagramTransport.__init__'s steps, with our C transport."""
    tr = _datagram_transport(loop, sock, protocol, address,
                             _socket_extra(sock, extra))
    return _start(loop, tr, protocol, waiter)


_Future = _core.Future
_Task = _core.Task
_C_RUN_ONCE = _core.Loop._run_once
_HAVE_RUN_FOREVER_SETUP = hasattr(base_events.BaseEventLoop,
                                  '_run_forever_setup')


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
    create_future and create_task are C (_core.Loop), and so are the
    transports (stream, datagram, pipes) the _make_*_transport methods
    make.  The rest is asyncio's own unix selector loop running on that core.
    """

    def __init__(self, selector=None):
        # The C core polls its own epoll: asyncio's __init__ gets, in place
        # of a selectors selector it would open and never use, a read-only
        # view of the C watch table (loop._selector; asyncio's close() drops
        # it).  A selector passed in is accepted and ignored, as before.
        super().__init__(_core._selector_view(self))
        self._ac_thread_children = {}   # pid -> _process.ThreadWatch
        self._ac_quiet_self_pipe()
        _live_loops.add(self)

    def close(self):
        super().close()
        self._ac_close()

    # run_forever: asyncio's set-up and clean-up around the C loop of
    # iterations (_core.Loop._ac_run), unless a subclass or the instance
    # replaced _run_once: then asyncio's own Python loop calls that.
    def run_forever(self):
        if (type(self)._run_once is not _C_RUN_ONCE
                or '_run_once' in self.__dict__):
            return super().run_forever()
        if _HAVE_RUN_FOREVER_SETUP:
            try:
                self._run_forever_setup()
                self._ac_run()
            finally:
                self._run_forever_cleanup()
            return
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        hooks = sys.get_asyncgen_hooks()
        try:
            self._thread_id = threading.get_ident()
            sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                                   finalizer=self._asyncgen_finalizer_hook)
            events._set_running_loop(self)
            self._ac_run()
        finally:
            self._stopping = False
            self._thread_id = None
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*hooks)

    # A zero-timeout poll (something is ready) is skipped while the only fd
    # watched is the self-pipe: a byte there only repeats that
    # call_soon_threadsafe queued a callback.  Not while signal handlers
    # are set: their signal numbers arrive through the self-pipe.
    def _ac_quiet_self_pipe(self):
        ssock = getattr(self, '_ssock', None)
        quiet = ssock is not None and not self._signal_handlers
        self._ac_quiet_fd = ssock.fileno() if quiet else -1

    def add_signal_handler(self, sig, callback, *args):
        self._ac_quiet_fd = -1
        try:
            return super().add_signal_handler(sig, callback, *args)
        finally:
            self._ac_quiet_self_pipe()

    def remove_signal_handler(self, sig):
        try:
            return super().remove_signal_handler(sig)
        finally:
            self._ac_quiet_self_pipe()

    # subprocesses: asyncio's subprocess transport (over our C pipe
    # transports), with the child's exit watched by the loop itself (a pidfd
    # on our epoll; see _process.py) rather than by the policy's child
    # watcher, unless the user set a watcher asyncio must use.
    _ac_use_pidfd = True        # False: a waitpid thread per child

    @property
    def _ac_children(self):
        """{pid: "pidfd" | "thread"} of the children watched now."""
        return _process.children(self)

    async def _make_subprocess_transport(self, protocol, args, shell,
                                         stdin, stdout, stderr, bufsize,
                                         extra=None, **kwargs):
        if _process.user_child_watcher() is not None:
            return await super()._make_subprocess_transport(
                protocol, args, shell, stdin, stdout, stderr, bufsize,
                extra=extra, **kwargs)
        waiter = self.create_future()
        transp = _UnixSubprocessTransport(self, protocol, args, shell,
                                          stdin, stdout, stderr, bufsize,
                                          waiter=waiter, extra=extra, **kwargs)
        try:
            _process.watch_child(self, transp.get_pid(), transp._process_exited)
        except BaseException:
            transp.close()      # kills the child; a reaper thread waits
            _process.ThreadWatch(self, transp.get_pid(), None)
            raise
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transp.close()
            await transp._wait()
            raise
        return transp

    # transports: C types (src/transport*.c), made as asyncio makes its own
    def _make_socket_transport(self, sock, protocol, waiter=None, *,
                               extra=None, server=None):
        if _ENSURE_FD:
            self._ensure_fd_no_transport(sock)
        return _new_socket_transport(self, sock, protocol, waiter, extra, server)

    def _make_datagram_transport(self, sock, protocol,
                                 address=None, waiter=None, extra=None):
        if _ENSURE_FD:
            self._ensure_fd_no_transport(sock)
        return _new_datagram_transport(self, sock, protocol, address, waiter,
                                       extra)

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

    def _make_read_pipe_transport(self, pipe, protocol, waiter=None,
                                  extra=None):
        return _start(self, _read_pipe_transport(self, pipe, protocol, extra),
                      protocol, waiter)

    def _make_write_pipe_transport(self, pipe, protocol, waiter=None,
                                   extra=None):
        return _start(self, _write_pipe_transport(self, pipe, protocol, extra),
                      protocol, waiter)

    # sock_*: asyncio's coroutine methods; the work is C (src/sock.c): each
    # _core function tries the call at once and returns a future, done
    # already or completed from a C watch on the fd.
    async def sock_recv(self, sock, n):
        """Receive up to n bytes from the non-blocking socket sock."""
        return await _core._sock_recv(self, sock, n)

    async def sock_recv_into(self, sock, buf):
        """Receive into the writable buffer buf; the number of bytes."""
        return await _core._sock_recv_into(self, sock, buf)

    async def sock_recvfrom(self, sock, bufsize):
        """Receive a datagram of up to bufsize bytes: (data, address)."""
        return await _core._sock_recvfrom(self, sock, bufsize)

    async def sock_recvfrom_into(self, sock, buf, nbytes=0):
        """Receive a datagram into buf: (number of bytes, address)."""
        return await _core._sock_recvfrom_into(self, sock, buf, nbytes)

    async def sock_sendall(self, sock, data):
        """Send all of data on the connected socket sock."""
        return await _core._sock_sendall(self, sock, data)

    async def sock_sendto(self, sock, data, address):
        """Send the datagram data to address; the number of bytes sent."""
        return await _core._sock_sendto(self, sock, data, address)

    async def sock_connect(self, sock, address):
        """Connect sock to address (resolved first for an IP socket)."""
        _core._sock_check(self, sock)
        family = sock.family
        if family == socket.AF_INET or (
                base_events._HAS_IPv6 and family == socket.AF_INET6):
            resolved = await self._ensure_resolved(
                address, family=family, type=sock.type, proto=sock.proto,
                loop=self)
            _, _, _, _, address = resolved[0]
        return await _core._sock_connect(self, sock, address)

    async def sock_accept(self, sock):
        """Accept a connection on the listening socket: (conn, address)."""
        return await _core._sock_accept(self, sock)

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
        # through the name base_events.logger, looked up now, as asyncio logs it
        base_events.logger.warning(
            'Executing %s took %.3f seconds', _handles.format_handle(handle), dt)


_core._set_loop_class(Loop)
# Registering gave Loop its own descriptors of _core.Loop's methods (calls
# to them from Python get specialized): _run_once is now Loop's own.
_C_RUN_ONCE = Loop._run_once


# fork(): a child's copy of a loop holds the parent's epoll fd, i.e. the
# same kernel interest set, so without this the child removing a reader,
# closing a transport or closing its copy of the loop would silently
# unregister the parent's fds (asyncio's own EpollSelector has that hole).
# In the child every live loop gets an epoll set of its own, rebuilt from
# its C watch table (_core.Loop._ac_after_fork).  Also, as asyncio does
# itself from 3.12 on (asyncio/events.py on_fork), a signal wakeup fd that
# is one of our loops' self-pipes is dropped in the child: left in place, a
# signal the child receives would be written into the socketpair the
# parent's loop reads, and run the parent's handler.  (The running loop
# needs nothing here: asyncio's _get_running_loop ignores it in another
# process on 3.11, and 3.12+ resets it at fork.)
_live_loops = weakref.WeakSet()


def _after_fork_in_child():
    wakeup_fds = set()
    for loop in list(_live_loops):
        if loop.is_closed():
            continue
        csock = getattr(loop, '_csock', None)
        if csock is not None and csock.fileno() >= 0:
            wakeup_fds.add(csock.fileno())
        try:
            loop._ac_after_fork()
        except OSError:     # no memory for an epoll set: keep the shared one
            pass
    if wakeup_fds:
        try:
            old = signal.set_wakeup_fd(-1)
            if old not in wakeup_fds:
                signal.set_wakeup_fd(old)   # not ours: left as it was
        except ValueError:  # not the main thread of the child
            pass


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
