/* server.c -- accepting connections on listening sockets: the loop side of
 * asyncio's Server (base_events.Server stays asyncio's own Python).
 * asyncio's selector_events.BaseSelectorEventLoop._start_serving and
 * _accept_connection of the running version are the specification (they
 * are the same in 3.11, 3.12 and 3.13).
 *
 * _core._start_serving(loop, protocol_factory, sock, sslcontext, server,
 * backlog, ssl_handshake_timeout, ssl_shutdown_timeout) puts a small C
 * owner (_core._Listener) on the listening fd with ac_loop_io_start, in
 * place of asyncio's reader Handle for loop._accept_connection.  At each
 * readiness it does what _accept_connection does, in the context copied
 * when serving started (as the reader Handle's):
 *   - up to `backlog` times: accept one connection, log it in debug mode,
 *     make it non-blocking;
 *   - BlockingIOError, InterruptedError, ConnectionAbortedError: stop until
 *     the next readiness;
 *   - EMFILE, ENFILE, ENOBUFS, ENOMEM: report 'socket.accept() out of system
 *     resource', remove the reader, call_later(ACCEPT_RETRY_DELAY,
 *     loop._start_serving, ...) and go on with the loop, as asyncio does;
 *   - any other error leaves the loop and is reported as the reader
 *     Handle's exception would be ("Exception in callback
 *     BaseSelectorEventLoop._accept_connection(...)");
 *   - each connection: loop.create_task(loop._accept_connection2(
 *     protocol_factory, conn, {'peername': addr}, sslcontext, server, ...)),
 *     asyncio's own coroutine.  The Task is kept: it is observable (it is in
 *     all_tasks() until the connection is made, so asyncio.run's shutdown
 *     cancels it and the transport is closed; current_task() in
 *     protocol_factory; it takes a task name number; a task factory sees
 *     it; the waiter it awaits), so skipping it would not be exact.
 * A listening socket of exactly socket.socket (neither it nor its accept
 * replaced) is accepted with its C _accept() and the connection built as
 * socket.socket.accept() builds it, without that Python wrapper (its enum
 * conversions of family and type are most of its cost); any other socket
 * object through its accept() method.
 *
 * In debug mode at _start_serving time, or when the loop's
 * _accept_connection is overridden, asyncio_c.Loop._start_serving leaves it
 * all to asyncio's own code (a reader Handle: slow-callback reports, source
 * tracebacks, loop._current_handle).
 *
 * loop._stop_serving stays asyncio's: loop._remove_reader(fd) drops the
 * owner (src/loop.c), then the socket is closed. */
#include "transport.h"
#include "coro.h"

#include <errno.h>
#include <unistd.h>

typedef struct {
    PyObject_HEAD
    PyObject *ls_loop;
    PyObject *ls_sock;
    PyObject *ls_args;      /* (protocol_factory, sock, sslcontext, server,
                               backlog, ssl_handshake_timeout,
                               ssl_shutdown_timeout): the reader Handle's */
    PyObject *ls_context;   /* what the accept loop runs in */
    PyObject *ls_family;    /* ints, for socket.socket(...) on the fast */
    PyObject *ls_type;      /* path; NULL for any other socket object */
    PyObject *ls_proto;
} ListenerObj;

#define LS(o) ((ListenerObj *)(o))

enum { A_FACTORY = 0, A_SOCK, A_SSL, A_SERVER, A_BACKLOG, A_HS, A_SD, A_N };

/* ---------------------------------------------------------------------
 * errors */

/* An exception leaving the accept loop, reported as asyncio's reader
 * Handle reports it: {'message': 'Exception in callback
 * BaseSelectorEventLoop._accept_connection(...)', 'exception', 'handle'}.
 * -1 for SystemExit / KeyboardInterrupt (left set) and for what the
 * exception handler lets through. */
static int
report_unexpected(ListenerObj *ls)
{
    if (PyErr_ExceptionMatches(PyExc_SystemExit) ||
        PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return -1;
    }
    ac_state *st = AC_STATE_OF(ls);
    PyObject *exc = ac_err_take();
    PyObject *cb = NULL, *h = NULL, *src = NULL, *msg = NULL, *ctx = NULL;
    int rc = 0;
    cb = PyObject_GetAttr(ls->ls_loop, st->sv_accept_connection);
    if (cb == NULL) {
        goto error;
    }
    h = ac_handle_new(st, cb, ls->ls_args, NULL, ls->ls_loop, ls->ls_context);
    if (h == NULL) {
        goto error;
    }
    if (st->handle_repr == NULL &&
        (st->handle_repr = PyImport_ImportModule("asyncio_c._handles")) == NULL) {
        goto error;
    }
    src = PyObject_CallMethod(st->handle_repr, "callback_source", "OOO", cb,
                              ls->ls_args, ls->ls_loop);
    if (src == NULL) {
        goto error;
    }
    msg = PyUnicode_FromFormat("Exception in callback %U", src);
    if (msg == NULL) {
        goto error;
    }
    ctx = PyDict_New();
    if (ctx == NULL || PyDict_SetItem(ctx, st->s_message, msg) < 0 ||
        PyDict_SetItem(ctx, st->s_exception, exc) < 0 ||
        PyDict_SetItem(ctx, st->s_handle, h) < 0) {
        goto error;
    }
    rc = ac_call_exception_handler(st, ls->ls_loop, ctx);
    goto done;
error:
    PyErr_WriteUnraisable((PyObject *)ls);
done:
    Py_XDECREF(cb);
    Py_XDECREF(h);
    Py_XDECREF(src);
    Py_XDECREF(msg);
    Py_XDECREF(ctx);
    Py_XDECREF(exc);
    return rc;
}

/* exc.errno is one of EMFILE, ENFILE, ENOBUFS, ENOMEM: 1, 0, -1 error. */
static int
is_resource_error(ac_state *st, PyObject *exc)
{
    if (!PyErr_GivenExceptionMatches(exc, PyExc_OSError)) {
        return 0;
    }
    PyObject *e = PyObject_GetAttr(exc, st->sv_errno);
    if (e == NULL) {
        return -1;
    }
    int found = 0;
    if (PyLong_CheckExact(e)) {
        int ov;
        long v = PyLong_AsLongAndOverflow(e, &ov);
        found = !ov && (v == EMFILE || v == ENFILE || v == ENOBUFS ||
                        v == ENOMEM);
    }
    else if (e != Py_None) {
        /* `exc.errno in (...)`: equality of any other object */
        static const int codes[] = {EMFILE, ENFILE, ENOBUFS, ENOMEM};
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]) && !found; i++) {
            PyObject *c = PyLong_FromLong(codes[i]);
            found = c == NULL ? -1 : PyObject_RichCompareBool(c, e, Py_EQ);
            Py_XDECREF(c);
            if (found < 0) {
                break;
            }
        }
    }
    Py_DECREF(e);
    return found;
}

/* asyncio's answer to accept() running out of fds or memory: report, stop
 * reading, try again after constants.ACCEPT_RETRY_DELAY.  0, or -1 with an
 * exception (leaving the accept loop, as it would leave asyncio's). */
static int
out_of_resource(ListenerObj *ls, PyObject *exc)
{
    ac_state *st = AC_STATE_OF(ls);
    PyObject *loop = ls->ls_loop;
    PyObject *ts = NULL, *ctx = NULL, *fd = NULL, *r = NULL, *delay = NULL;
    PyObject *again = NULL, *cargs = NULL;
    int rc = -1;

    PyObject *trsock = ac_import_attr("asyncio.trsock", "TransportSocket");
    if (trsock == NULL) {
        goto done;
    }
    ts = PyObject_CallOneArg(trsock, ls->ls_sock);
    Py_DECREF(trsock);
    if (ts == NULL) {
        goto done;
    }
    ctx = Py_BuildValue("{sssOsO}",
                        "message", "socket.accept() out of system resource",
                        "exception", exc, "socket", ts);
    if (ctx == NULL || ac_call_exception_handler(st, loop, ctx) < 0) {
        goto done;
    }
    fd = PyObject_CallMethodNoArgs(ls->ls_sock, st->s_fileno);
    if (fd == NULL) {
        goto done;
    }
    r = PyObject_CallMethodOneArg(loop, st->sv_remove_reader, fd);
    if (r == NULL) {
        goto done;
    }
    delay = ac_import_attr("asyncio.constants", "ACCEPT_RETRY_DELAY");
    again = delay == NULL ? NULL : PyObject_GetAttr(loop, st->sv_start_serving);
    if (again == NULL) {
        goto done;
    }
    /* call_later(delay, loop._start_serving, *args) */
    cargs = PyTuple_New(2 + A_N);
    if (cargs == NULL) {
        goto done;
    }
    PyTuple_SET_ITEM(cargs, 0, Py_NewRef(delay));
    PyTuple_SET_ITEM(cargs, 1, Py_NewRef(again));
    for (Py_ssize_t i = 0; i < A_N; i++) {
        PyTuple_SET_ITEM(cargs, 2 + i,
                         Py_NewRef(PyTuple_GET_ITEM(ls->ls_args, i)));
    }
    Py_SETREF(r, PyObject_GetAttr(loop, st->s_call_later));
    if (r == NULL) {
        goto done;
    }
    Py_SETREF(r, PyObject_Call(r, cargs, NULL));
    rc = r == NULL ? -1 : 0;
done:
    Py_XDECREF(ts);
    Py_XDECREF(ctx);
    Py_XDECREF(fd);
    Py_XDECREF(r);
    Py_XDECREF(delay);
    Py_XDECREF(again);
    Py_XDECREF(cargs);
    return rc;
}

/* ---------------------------------------------------------------------
 * accepting */

/* `conn, addr = value` (new references in *conn, *addr); steals value. */
static int
unpack_pair(PyObject *value, PyObject **conn, PyObject **addr)
{
    PyObject *t = PyTuple_CheckExact(value) ? value : PySequence_Tuple(value);
    if (t == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Format(PyExc_TypeError,
                         "cannot unpack non-iterable %.200s object",
                         Py_TYPE(value)->tp_name);
        }
        Py_DECREF(value);
        return -1;
    }
    if (t != value) {
        Py_DECREF(value);
    }
    Py_ssize_t n = PyTuple_GET_SIZE(t);
    if (n != 2) {
        if (n > 2) {
            PyErr_SetString(PyExc_ValueError,
                            "too many values to unpack (expected 2)");
        }
        else {
            PyErr_Format(PyExc_ValueError,
                         "not enough values to unpack (expected 2, got %zd)", n);
        }
        Py_DECREF(t);
        return -1;
    }
    *conn = Py_NewRef(PyTuple_GET_ITEM(t, 0));
    *addr = Py_NewRef(PyTuple_GET_ITEM(t, 1));
    Py_DECREF(t);
    return 0;
}

/* sock.accept() of a socket.socket, without its Python wrapper:
 * fd, addr = sock._accept(); socket.socket(family, type, proto, fileno=fd).
 * (accept() also calls setblocking(True) when the listening socket has a
 * timeout and there is no default timeout: the caller makes the socket
 * non-blocking next, which gives the same socket.) */
static int
accept_fast(ListenerObj *ls, PyObject **conn, PyObject **addr)
{
    ac_state *st = AC_STATE_OF(ls);
    PyObject *res = PyObject_CallMethodNoArgs(ls->ls_sock, st->sv_accept_raw);
    if (res == NULL) {
        return -1;
    }
    if (!PyTuple_CheckExact(res) || PyTuple_GET_SIZE(res) != 2) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_SystemError, "socket._accept() returned an "
                        "unexpected value");
        return -1;
    }
    PyObject *fd = PyTuple_GET_ITEM(res, 0);
    PyObject *args[4] = {ls->ls_family, ls->ls_type, ls->ls_proto, fd};
    PyObject *c = PyObject_Vectorcall(st->sv_socket_type, args, 3,
                                      st->sv_kw_fileno);
    if (c == NULL) {
        /* the fd is nobody's: do not leak it */
        PyObject *exc = ac_err_take();
        int n = PyLong_AsLong(fd);
        if (n >= 0) {
            close(n);
        }
        PyErr_Clear();
        ac_err_give(exc);
        Py_DECREF(res);
        return -1;
    }
    *conn = c;
    *addr = Py_NewRef(PyTuple_GET_ITEM(res, 1));
    Py_DECREF(res);
    return 0;
}

/* The `try:` block of asyncio's loop body: accept, log it in debug mode,
 * make the connection non-blocking.  0 with *conn and *addr, or -1 with an
 * exception. */
static int
accept_one(ListenerObj *ls, PyObject **conn, PyObject **addr)
{
    ac_state *st = AC_STATE_OF(ls);
    *conn = *addr = NULL;
    int rc;
    if (ls->ls_family != NULL) {
        rc = accept_fast(ls, conn, addr);
    }
    else {
        PyObject *res = PyObject_CallMethodNoArgs(ls->ls_sock, st->sv_accept);
        rc = res == NULL ? -1 : unpack_pair(res, conn, addr);
    }
    if (rc < 0) {
        return -1;
    }
    if (((LoopObj *)ls->ls_loop)->loop_debug) {
        PyObject *r = PyObject_CallMethod(
            st->logger, "debug", "sOOO", "%r got a new connection from %r: %r",
            PyTuple_GET_ITEM(ls->ls_args, A_SERVER), *addr, *conn);
        if (r == NULL) {
            goto error;
        }
        Py_DECREF(r);
    }
    PyObject *r = PyObject_CallMethodOneArg(*conn, st->sv_setblocking, Py_False);
    if (r == NULL) {
        goto error;
    }
    Py_DECREF(r);
    return 0;
error:
    Py_CLEAR(*conn);
    Py_CLEAR(*addr);
    return -1;
}

/* The `else:` block: the connection's transport is made by a Task running
 * loop._accept_connection2 (asyncio's coroutine). */
static int
start_connection(ListenerObj *ls, PyObject *conn, PyObject *addr)
{
    ac_state *st = AC_STATE_OF(ls);
    PyObject *extra = PyDict_New();
    if (extra == NULL || PyDict_SetItem(extra, st->sv_peername, addr) < 0) {
        Py_XDECREF(extra);
        return -1;
    }
    PyObject *a = ls->ls_args;
    PyObject *args[8] = {
        ls->ls_loop, PyTuple_GET_ITEM(a, A_FACTORY), conn, extra,
        PyTuple_GET_ITEM(a, A_SSL), PyTuple_GET_ITEM(a, A_SERVER),
        PyTuple_GET_ITEM(a, A_HS), PyTuple_GET_ITEM(a, A_SD),
    };
    PyObject *coro = PyObject_VectorcallMethod(
        st->sv_accept_connection2, args, 8 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_DECREF(extra);
    if (coro == NULL) {
        return -1;
    }
    PyObject *task = PyObject_CallMethodOneArg(ls->ls_loop, st->s_create_task,
                                               coro);
    Py_DECREF(coro);
    Py_XDECREF(task);
    return task == NULL ? -1 : 0;
}

/* One readiness of the listening fd: asyncio's _accept_connection.  -1
 * with the exception that leaves it. */
static int
accept_loop(ListenerObj *ls)
{
    Py_ssize_t n = PyNumber_AsSsize_t(PyTuple_GET_ITEM(ls->ls_args, A_BACKLOG),
                                      NULL);     /* range(backlog) */
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    ac_state *st = AC_STATE_OF(ls);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *conn, *addr;
        if (accept_one(ls, &conn, &addr) < 0) {
            if (PyErr_ExceptionMatches(PyExc_BlockingIOError) ||
                PyErr_ExceptionMatches(PyExc_InterruptedError) ||
                PyErr_ExceptionMatches(PyExc_ConnectionAbortedError)) {
                PyErr_Clear();      /* nothing more to accept for now */
                return 0;
            }
            PyObject *exc = ac_err_take();
            int res = is_resource_error(st, exc);
            if (res == 1) {
                res = out_of_resource(ls, exc);
                if (res < 0) {
                    ac_chain_context(exc);  /* raised in `except OSError` */
                }
                Py_DECREF(exc);
                if (res < 0) {
                    return -1;
                }
                continue;   /* asyncio goes on with the loop */
            }
            if (res < 0) {  /* reading errno failed: that error, in exc's
                               handling */
                ac_chain_context(exc);
                Py_DECREF(exc);
            }
            else {
                ac_err_give(exc);
            }
            return -1;
        }
        int rc = start_connection(ls, conn, addr);
        Py_DECREF(conn);
        Py_DECREF(addr);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

/* The fd watcher: the accept loop in the listener's context. */
static int
on_readable(PyObject *self)
{
    ListenerObj *ls = LS(self);
    PyObject *ctx = Py_NewRef(ls->ls_context);
    Py_INCREF(self);
    int entered = PyContext_Enter(ctx) == 0;
    if (!entered) {
        PyErr_Clear();      /* already entered further up: run in it */
    }
    int rc = accept_loop(ls);
    if (entered) {
        PyObject *exc = ac_err_take();
        if (PyContext_Exit(ctx) < 0) {
            PyErr_WriteUnraisable(self);
        }
        ac_err_give(exc);
    }
    /* reported outside the context, as Handle._run reports (the exception
     * handler runs in the handle's context) */
    if (rc < 0) {
        rc = report_unexpected(ls);
    }
    Py_DECREF(ctx);
    Py_DECREF(self);
    return rc;
}

/* ---------------------------------------------------------------------
 * type */

static int
Listener_traverse(PyObject *op, visitproc visit, void *arg)
{
    ListenerObj *ls = LS(op);
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(ls->ls_loop);
    Py_VISIT(ls->ls_sock);
    Py_VISIT(ls->ls_args);
    Py_VISIT(ls->ls_context);
    return 0;
}

static int
Listener_clear(PyObject *op)
{
    ListenerObj *ls = LS(op);
    Py_CLEAR(ls->ls_loop);
    Py_CLEAR(ls->ls_sock);
    Py_CLEAR(ls->ls_args);
    Py_CLEAR(ls->ls_context);
    Py_CLEAR(ls->ls_family);
    Py_CLEAR(ls->ls_type);
    Py_CLEAR(ls->ls_proto);
    return 0;
}

static void
Listener_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    Listener_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *
Listener_repr(PyObject *op)
{
    ListenerObj *ls = LS(op);
    if (ls->ls_sock == NULL) {
        return PyUnicode_FromString("<_Listener>");
    }
    return PyUnicode_FromFormat("<_Listener %R>", ls->ls_sock);
}

static PyType_Slot Listener_slots[] = {
    {Py_tp_doc, "What watches a listening socket for loop._start_serving."},
    {Py_tp_traverse, Listener_traverse},
    {Py_tp_clear, Listener_clear},
    {Py_tp_dealloc, Listener_dealloc},
    {Py_tp_repr, Listener_repr},
    {0, NULL},
};

static PyType_Spec Listener_spec = {
    .name = "asyncio_c._core._Listener",
    .basicsize = sizeof(ListenerObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Listener_slots,
};

/* Whether sock.accept() is socket.socket.accept as the module defined it,
 * building socket.socket objects: sock is exactly a socket.socket and
 * neither socket.socket.accept nor socket.socket were replaced since (a
 * mock, a monkeypatch).  1, 0, -1 error. */
static int
fast_path_ok(ac_state *st, PyObject *sock)
{
    if ((PyObject *)Py_TYPE(sock) != st->sv_socket_type) {
        return 0;
    }
    PyObject *cls = ac_import_attr("socket", "socket");
    if (cls == NULL) {
        return -1;
    }
    PyObject *acc = PyObject_GetAttr(st->sv_socket_type, st->sv_accept);
    int ok = cls == st->sv_socket_type && acc == st->sv_socket_accept;
    Py_DECREF(cls);
    Py_XDECREF(acc);
    return acc == NULL ? -1 : ok;
}

/* For the fast path: the listening socket's family, type and proto as ints
 * (what socket.accept() passes to socket.socket()). */
static int
listener_fast_init(ac_state *st, ListenerObj *ls, PyObject *sock)
{
    static const char *const names[3] = {"family", "type", "proto"};
    PyObject **fields[3] = {&ls->ls_family, &ls->ls_type, &ls->ls_proto};
    for (int i = 0; i < 3; i++) {
        PyObject *v = PyObject_GetAttrString(sock, names[i]);
        if (v == NULL) {
            return -1;
        }
        *fields[i] = PyNumber_Index(v);
        Py_DECREF(v);
        if (*fields[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

/* _core._start_serving(loop, protocol_factory, sock, sslcontext, server,
 * backlog, ssl_handshake_timeout, ssl_shutdown_timeout): asyncio's
 * loop._add_reader(sock.fileno(), loop._accept_connection, ...), with the
 * C owner as the reader. */
static PyObject *
start_serving(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    ac_state *st = PyModule_GetState(mod);
    if (nargs != 1 + A_N) {
        PyErr_SetString(PyExc_TypeError,
                        "_start_serving(loop, protocol_factory, sock, "
                        "sslcontext, server, backlog, ssl_handshake_timeout, "
                        "ssl_shutdown_timeout)");
        return NULL;
    }
    PyObject *loop = args[0];
    PyObject *sock = args[1 + A_SOCK];
    if (!PyObject_TypeCheck(loop, st->LoopType)) {
        PyErr_SetString(PyExc_TypeError, "_start_serving needs an asyncio_c loop");
        return NULL;
    }
    PyObject *fdobj = PyObject_CallMethodNoArgs(sock, st->s_fileno);
    if (fdobj == NULL) {
        return NULL;
    }
    if (((LoopObj *)loop)->loop_closed) {
        Py_DECREF(fdobj);
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return NULL;
    }
    /* asyncio passes sock.fileno() to _add_reader: converted as selectors do */
    int fd = ac_fileobj_to_fd(st, fdobj);
    Py_DECREF(fdobj);
    if (fd < 0) {
        return NULL;
    }
    ListenerObj *ls = PyObject_GC_New(ListenerObj, st->ListenerType);
    if (ls == NULL) {
        return NULL;
    }
    ls->ls_loop = Py_NewRef(loop);
    ls->ls_sock = Py_NewRef(sock);
    ls->ls_args = PyTuple_New(A_N);
    ls->ls_context = PyContext_CopyCurrent();
    ls->ls_family = ls->ls_type = ls->ls_proto = NULL;
    PyObject_GC_Track(ls);
    if (ls->ls_args == NULL || ls->ls_context == NULL) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < A_N; i++) {
        PyTuple_SET_ITEM(ls->ls_args, i, Py_NewRef(args[1 + i]));
    }
    int fast = fast_path_ok(st, sock);
    if (fast < 0 || (fast && listener_fast_init(st, ls, sock) < 0)) {
        goto error;
    }
    if (ac_loop_io_start(loop, fd, AC_POLL_READ, on_readable,
                         (PyObject *)ls) < 0) {
        goto error;
    }
    Py_DECREF(ls);
    Py_RETURN_NONE;
error:
    Py_DECREF(ls);
    return NULL;
}

static PyMethodDef server_functions[] = {
    {"_start_serving", (PyCFunction)(void (*)(void))start_serving,
     METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

int
ac_server_init(PyObject *mod, ac_state *st)
{
#define INTERN(field, text)                                     \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) \
        return -1;
    INTERN(sv_accept_connection, "_accept_connection");
    INTERN(sv_accept_connection2, "_accept_connection2");
    INTERN(sv_accept, "accept");
    INTERN(sv_accept_raw, "_accept");
    INTERN(sv_setblocking, "setblocking");
    INTERN(sv_errno, "errno");
    INTERN(sv_remove_reader, "_remove_reader");
    INTERN(sv_start_serving, "_start_serving");
    INTERN(sv_peername, "peername");
#undef INTERN
    if ((st->sv_kw_fileno = Py_BuildValue("(s)", "fileno")) == NULL ||
        (st->sv_socket_type = ac_import_attr("socket", "socket")) == NULL ||
        (st->sv_socket_accept = PyObject_GetAttr(st->sv_socket_type,
                                              st->sv_accept)) == NULL) {
        return -1;
    }
    st->ListenerType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &Listener_spec, NULL);
    if (st->ListenerType == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(mod, server_functions);
}
