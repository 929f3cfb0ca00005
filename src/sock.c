/* sock.c -- the loop's sock_* operations on C fd watchers.
 *
 * asyncio's selector loop implements sock_recv, sock_recv_into,
 * sock_recvfrom, sock_recvfrom_into, sock_sendall, sock_sendto, sock_accept
 * and sock_connect (selector_events.py; the same code in 3.11.7, 3.12.1 and
 * 3.13.0) as: check the socket (not an SSLSocket; non-blocking in debug
 * mode), try the call at once, and only when it would block make a future,
 * register a reader or writer Handle that retries the call and completes
 * the future, and remove that reader/writer from a done callback of the
 * future (unless the Handle was cancelled meanwhile, i.e. replaced).
 *
 * Here the same steps are C: _core._sock_recv(loop, sock, n) & co. return a
 * future (already done when the first try succeeded or, for accept and
 * connect, failed), which asyncio_c.Loop's `async def sock_*` methods await
 * (asyncio_c/_loop.py; sock_connect resolves the address there with
 * asyncio's _ensure_resolved first).  A pending operation is a small C
 * object, SockOp: the owner of the loop's C watch on the fd (the Handle in
 * asyncio) and, called with the future, the done callback that stops the
 * watch if it is still its own.  Socket calls go through the socket
 * object's methods, so results, addresses and exceptions are Python's.
 *
 * As in asyncio: a second operation on the same fd and direction replaces
 * the first one's watch (the first future then waits until cancelled); a
 * retry after the future is done (cancelled) does nothing; the watch's
 * callback runs in a copy of the context at registration.  One deliberate
 * difference: asyncio's accept callback has no done() check, so a
 * cancelled sock_accept whose fd is ready in the same pass accepts a
 * connection and loses it (InvalidStateError reported); ours leaves the
 * connection to the next accept(). */
#include "coro.h"
#include "ensure.h"
#include "transport.h"
#include <sys/socket.h>

typedef enum {
    OP_RECV = 0,
    OP_RECV_INTO,
    OP_RECVFROM,
    OP_RECVFROM_INTO,
    OP_SENDALL,
    OP_SENDTO,
    OP_ACCEPT,
    OP_CONNECT,
} op_kind;

/* the names of asyncio's retry callbacks (what an error report shows) */
static const char *const op_names[] = {
    "_sock_recv", "_sock_recv_into", "_sock_recvfrom", "_sock_recvfrom_into",
    "_sock_sendall", "_sock_sendto", "_sock_accept", "_sock_connect_cb",
};

typedef struct {
    PyObject_HEAD
    vectorcallfunc so_vectorcall;
    PyObject *so_loop;
    PyObject *so_fut;
    PyObject *so_sock;
    PyObject *so_a;           /* n, buf, bufsize, data (sendto) or address
                                 (connect) */
    PyObject *so_b;           /* nbytes (recvfrom_into), address (sendto) */
    PyObject *so_view;        /* sendall: memoryview(data) */
    PyObject *so_ctx;         /* the context the retries run in */
    Py_ssize_t so_pos;        /* sendall: items of so_view sent so far */
    int so_fd;
    unsigned so_which;        /* AC_POLL_READ or AC_POLL_WRITE */
    op_kind so_kind;
} SockOpObj;

#define OP(o) ((SockOpObj *)(o))

/* ---------------------------------------------------------------------
 * helpers */

/* The exception set is BlockingIOError or InterruptedError (what asyncio
 * retries): cleared, 1; anything else is left set: 0. */
static int
clear_if_would_block(void)
{
    if (PyErr_ExceptionMatches(PyExc_BlockingIOError) ||
        PyErr_ExceptionMatches(PyExc_InterruptedError)) {
        PyErr_Clear();
        return 1;
    }
    return 0;
}

/* The same, keeping the exception (for the __context__ of an error raised
 * while handling it): *blocked gets it (new reference). */
static int
take_if_would_block(PyObject **blocked)
{
    if (PyErr_ExceptionMatches(PyExc_BlockingIOError) ||
        PyErr_ExceptionMatches(PyExc_InterruptedError)) {
        *blocked = ac_err_take();
        return 1;
    }
    return 0;
}

static int
is_exit_exception(void)
{
    return PyErr_ExceptionMatches(PyExc_SystemExit) ||
           PyErr_ExceptionMatches(PyExc_KeyboardInterrupt);
}

/* sock.<name>(*args) */
static PyObject *
call_sock(PyObject *sock, PyObject *name, PyObject *a, PyObject *b,
          PyObject *c)
{
    PyObject *args[4] = {sock, a, b, c};
    size_t n = c != NULL ? 4 : b != NULL ? 3 : a != NULL ? 2 : 1;
    return PyObject_VectorcallMethod(name, args,
                                     n | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

static int
check_loop(ac_state *st, PyObject *loop)
{
    if (!PyObject_TypeCheck(loop, st->LoopType)) {
        PyErr_SetString(PyExc_TypeError, "expected an asyncio_c loop");
        return -1;
    }
    return 0;
}

/* base_events._check_ssl_socket(sock), and in debug mode the refusal of a
 * blocking socket. */
static int
sock_check(ac_state *st, PyObject *loop, PyObject *sock)
{
    PyObject *r = PyObject_CallOneArg(st->check_ssl_socket, sock);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    if (!((LoopObj *)loop)->loop_debug) {
        return 0;
    }
    PyObject *t = PyObject_CallMethodNoArgs(sock, st->s_gettimeout);
    if (t == NULL) {
        return -1;
    }
    PyObject *zero = PyLong_FromLong(0);
    int ne = zero == NULL ? -1 : PyObject_RichCompareBool(t, zero, Py_NE);
    Py_XDECREF(zero);
    Py_DECREF(t);
    if (ne < 0) {
        return -1;
    }
    if (ne) {
        PyErr_SetString(PyExc_ValueError, "the socket must be non-blocking");
        return -1;
    }
    return 0;
}

/* A future of loop already holding res (stolen). */
static PyObject *
done_future(ac_state *st, PyObject *loop, PyObject *res)
{
    PyObject *fut = ac_loop_create_future(st, loop);
    if (fut == NULL || ac_fut_set_result(st, fut, res) < 0) {
        Py_XDECREF(fut);
        Py_DECREF(res);
        return NULL;
    }
    Py_DECREF(res);
    return fut;
}

/* ---------------------------------------------------------------------
 * SockOp: a pending operation */

static int
op_is_watching(SockOpObj *op)
{
    LoopObj *loop = (LoopObj *)op->so_loop;
    if (op->so_fd >= loop->loop_nwatch) {
        return 0;
    }
    ac_watch *w = &loop->loop_watch[op->so_fd];
    return op->so_which == AC_POLL_READ ? w->reader == (PyObject *)op
                                        : w->writer == (PyObject *)op;
}

/* One retry, as asyncio's _sock_recv & co. run from their Handle. */
static PyObject *
op_retry(SockOpObj *op)
{
    ac_state *st = AC_STATE_OF(op);
    PyObject *fut = op->so_fut, *sock = op->so_sock, *res = NULL;
    int done = ac_fut_done(st, fut);
    if (done != 0) {
        return done < 0 ? NULL : Py_NewRef(Py_None);
    }
    switch (op->so_kind) {
    case OP_RECV:
        res = call_sock(sock, st->s_recv, op->so_a, NULL, NULL);
        break;
    case OP_RECV_INTO:
        res = call_sock(sock, st->s_recv_into, op->so_a, NULL, NULL);
        break;
    case OP_RECVFROM:
        res = call_sock(sock, st->s_recvfrom, op->so_a, NULL, NULL);
        break;
    case OP_RECVFROM_INTO:
        res = call_sock(sock, st->s_recvfrom_into, op->so_a, op->so_b, NULL);
        break;
    case OP_SENDTO: {
        PyObject *flags = PyLong_FromLong(0);
        if (flags == NULL) {
            return NULL;
        }
        res = call_sock(sock, st->s_sendto, op->so_a, flags, op->so_b);
        Py_DECREF(flags);
        break;
    }
    case OP_SENDALL: {
        PyObject *rest = PySequence_GetSlice(op->so_view, op->so_pos,
                                             PY_SSIZE_T_MAX);
        PyObject *n = rest == NULL ? NULL
                                   : call_sock(sock, st->s_send, rest, NULL,
                                               NULL);
        Py_XDECREF(rest);
        if (n == NULL) {
            break;
        }
        /* a failure from here on is not the socket's: it is reported */
        Py_ssize_t sent = PyLong_AsSsize_t(n);
        Py_DECREF(n);
        if (sent == -1 && PyErr_Occurred()) {
            return NULL;
        }
        Py_ssize_t len = PyObject_Size(op->so_view);
        if (len < 0) {
            return NULL;
        }
        op->so_pos += sent;
        if (op->so_pos != len) {
            Py_RETURN_NONE;
        }
        res = Py_NewRef(Py_None);
        break;
    }
    case OP_ACCEPT: {
        PyObject *pair = call_sock(sock, st->s_accept, NULL, NULL, NULL);
        if (pair == NULL) {
            break;
        }
        PyObject *conn, *addr;
        if (!PyArg_ParseTuple(pair, "OO", &conn, &addr)) {
            Py_DECREF(pair);
            break;
        }
        PyObject *r = PyObject_CallMethodOneArg(conn, st->s_setblocking,
                                                Py_False);
        if (r != NULL) {
            Py_DECREF(r);
            res = PyTuple_Pack(2, conn, addr);
        }
        Py_DECREF(pair);
        break;
    }
    case OP_CONNECT: {
        PyObject *err = PyObject_CallMethod(sock, "getsockopt", "ii",
                                            SOL_SOCKET, SO_ERROR);
        if (err == NULL) {
            break;
        }
        int failed = PyObject_IsTrue(err);
        if (failed > 0) {
            /* OSError(err, ...) gives the errno's subclass */
            PyObject *exc = PyObject_CallFunction(
                PyExc_OSError, "ON", err,
                PyUnicode_FromFormat("Connect call failed %S", op->so_a));
            if (exc != NULL) {
                PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
                Py_DECREF(exc);
            }
        }
        else if (failed == 0) {
            res = Py_NewRef(Py_None);
        }
        Py_DECREF(err);
        break;
    }
    }
    int rc;
    if (res != NULL) {
        rc = ac_fut_set_result(st, fut, res);
        Py_DECREF(res);
    }
    else if (clear_if_would_block()) {
        Py_RETURN_NONE;  /* try again at the next event */
    }
    else if (is_exit_exception()) {
        return NULL;
    }
    else {
        PyObject *exc = ac_err_take();
        rc = ac_fut_set_exception(st, fut, exc);
        Py_DECREF(exc);
    }
    return rc < 0 ? NULL : Py_NewRef(Py_None);
}

/* op() retries (the fd is ready); op(fut) is the future's done callback:
 * the watch stops, unless it was replaced (asyncio: the Handle was
 * cancelled). */
static PyObject *
SockOp_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                  PyObject *kwnames)
{
    SockOpObj *op = OP(self);
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0) {
        PyErr_SetString(PyExc_TypeError, "no keyword arguments");
        return NULL;
    }
    if (op->so_loop == NULL) {
        Py_RETURN_NONE;   /* cleared by the GC */
    }
    if (nargs == 0) {
        return op_retry(op);
    }
    if (nargs == 1) {
        if (op_is_watching(op) &&
            ac_loop_io_stop(op->so_loop, op->so_fd, op->so_which) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    PyErr_SetString(PyExc_TypeError, "takes 0 or 1 argument");
    return NULL;
}

/* What the loop calls when the fd is ready: op() in the operation's
 * context; an error is reported as a Handle's would be. */
static int
op_io(PyObject *self)
{
    SockOpObj *op = OP(self);
    if (op->so_loop == NULL) {
        return 0;
    }
    return ac_callback_run(AC_STATE_OF(self), op->so_loop, self, NULL,
                           op->so_ctx);
}

static PyObject *
SockOp_get_name(PyObject *self, void *c)
{
    return PyUnicode_FromString(op_names[OP(self)->so_kind]);
}

static PyObject *
SockOp_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<%s fd=%d>", op_names[OP(self)->so_kind],
                                OP(self)->so_fd);
}

static int
SockOp_traverse(PyObject *self, visitproc visit, void *arg)
{
    SockOpObj *op = OP(self);
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(op->so_loop);
    Py_VISIT(op->so_fut);
    Py_VISIT(op->so_sock);
    Py_VISIT(op->so_a);
    Py_VISIT(op->so_b);
    Py_VISIT(op->so_view);
    Py_VISIT(op->so_ctx);
    return 0;
}

static int
SockOp_clear(PyObject *self)
{
    SockOpObj *op = OP(self);
    Py_CLEAR(op->so_loop);
    Py_CLEAR(op->so_fut);
    Py_CLEAR(op->so_sock);
    Py_CLEAR(op->so_a);
    Py_CLEAR(op->so_b);
    Py_CLEAR(op->so_view);
    Py_CLEAR(op->so_ctx);
    return 0;
}

static void
SockOp_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    SockOp_clear(self);
    PyObject_GC_Del(self);
    Py_DECREF(tp);
}

static PyGetSetDef SockOp_getset[] = {
    {"__qualname__", SockOp_get_name, NULL, NULL, NULL},
    {"__name__", SockOp_get_name, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef SockOp_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(SockOpObj, so_vectorcall),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot SockOp_slots[] = {
    {Py_tp_doc, "A pending sock_* operation of asyncio_c's loop: the owner "
                "of its fd watch and its future's done callback."},
    {Py_tp_dealloc, SockOp_dealloc},
    {Py_tp_traverse, SockOp_traverse},
    {Py_tp_clear, SockOp_clear},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_repr, SockOp_repr},
    {Py_tp_members, SockOp_members},
    {Py_tp_getset, SockOp_getset},
    {0, NULL},
};

static PyType_Spec SockOp_spec = {
    .name = "asyncio_c._core._SockOp",
    .basicsize = sizeof(SockOpObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = SockOp_slots,
};

/* The waiting part, asyncio's steps after a call would block:
 * fut = loop.create_future() (unless given), fd = sock.fileno(),
 * loop._ensure_fd_no_transport(fd), watch fd with a SockOp, and make the
 * SockOp a done callback of fut.  a, b, view: the operation's arguments
 * (borrowed; view is taken).  blocked: the BlockingIOError being handled
 * (accept and connect wait from inside their except clause), or NULL.
 * Returns fut (new reference). */
static PyObject *
op_wait(ac_state *st, PyObject *loop, PyObject *sock, op_kind kind,
        PyObject *fut, PyObject *fdobj, PyObject *a, PyObject *b,
        PyObject *view, Py_ssize_t pos, PyObject *blocked)
{
    SockOpObj *op = NULL;
    PyObject *myfdobj = NULL;
    if (fut == NULL) {
        fut = ac_loop_create_future(st, loop);
        if (fut == NULL) {
            goto error;
        }
    }
    else {
        Py_INCREF(fut);
    }
    if (fdobj == NULL) {
        fdobj = myfdobj = PyObject_CallMethodNoArgs(sock, st->s_fileno);
        if (fdobj == NULL) {
            goto error;
        }
    }
    PyObject *r = PyObject_CallMethodOneArg(loop, st->s_ensure_fd_no_transport,
                                            fdobj);
    if (r == NULL) {
        goto error;
    }
    Py_DECREF(r);
    int fd = ac_fileobj_to_fd(st, fdobj);
    if (fd < 0) {
        goto error;
    }
    op = PyObject_GC_New(SockOpObj, st->SockOpType);
    if (op == NULL) {
        goto error;
    }
    op->so_vectorcall = SockOp_vectorcall;
    op->so_loop = Py_NewRef(loop);
    op->so_fut = Py_NewRef(fut);
    op->so_sock = Py_NewRef(sock);
    op->so_a = Py_XNewRef(a);
    op->so_b = Py_XNewRef(b);
    op->so_view = view;
    view = NULL;
    op->so_ctx = PyContext_CopyCurrent();
    op->so_pos = pos;
    op->so_fd = fd;
    op->so_kind = kind;
    op->so_which = kind == OP_SENDALL || kind == OP_SENDTO ||
                   kind == OP_CONNECT ? AC_POLL_WRITE : AC_POLL_READ;
    PyObject_GC_Track(op);
    if (op->so_ctx == NULL ||
        ac_loop_io_start(loop, fd, op->so_which, op_io, (PyObject *)op) < 0 ||
        ac_fut_add_done_callback(st, fut, (PyObject *)op, NULL) < 0) {
        goto error;
    }
    Py_DECREF(op);
    Py_XDECREF(myfdobj);
    Py_XDECREF(blocked);
    return fut;
error:
    if (blocked != NULL) {
        ac_chain_context(blocked);
        Py_DECREF(blocked);
    }
    Py_XDECREF(op);
    Py_XDECREF(view);
    Py_XDECREF(myfdobj);
    Py_XDECREF(fut);
    return NULL;
}

/* ---------------------------------------------------------------------
 * the operations */

static int
check_args(const char *fname, Py_ssize_t nargs, Py_ssize_t want)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)",
                     fname, want, nargs);
        return -1;
    }
    return 0;
}

/* sock_recv, sock_recv_into, sock_recvfrom, sock_recvfrom_into: the call
 * at once, else wait for the fd to be readable. */
static PyObject *
recv_like(PyObject *mod, PyObject *const *args, Py_ssize_t nargs,
          op_kind kind, PyObject *name, const char *fname, int nparams)
{
    ac_state *st = PyModule_GetState(mod);
    if (check_args(fname, nargs, nparams) < 0) {
        return NULL;
    }
    PyObject *loop = args[0], *sock = args[1], *a = args[2];
    PyObject *b = nparams > 3 ? args[3] : NULL;
    if (check_loop(st, loop) < 0 || sock_check(st, loop, sock) < 0) {
        return NULL;
    }
    PyObject *nbytes = NULL;
    if (kind == OP_RECVFROM_INTO) {
        /* `if not nbytes: nbytes = len(buf)` */
        int t = PyObject_IsTrue(b);
        if (t < 0) {
            return NULL;
        }
        if (t) {
            nbytes = Py_NewRef(b);
        }
        else {
            Py_ssize_t len = PyObject_Size(a);
            if (len < 0) {
                return NULL;
            }
            nbytes = PyLong_FromSsize_t(len);
            if (nbytes == NULL) {
                return NULL;
            }
        }
    }
    PyObject *res = call_sock(sock, name, a, nbytes, NULL);
    if (res != NULL) {
        Py_XDECREF(nbytes);
        return done_future(st, loop, res);
    }
    if (!clear_if_would_block()) {
        Py_XDECREF(nbytes);
        return NULL;
    }
    PyObject *fut = op_wait(st, loop, sock, kind, NULL, NULL, a, nbytes,
                            NULL, 0, NULL);
    Py_XDECREF(nbytes);
    return fut;
}

static PyObject *
sock_recv(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    return recv_like(mod, args, nargs, OP_RECV,
                     ((ac_state *)PyModule_GetState(mod))->s_recv,
                     "_sock_recv", 3);
}

static PyObject *
sock_recv_into(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    return recv_like(mod, args, nargs, OP_RECV_INTO,
                     ((ac_state *)PyModule_GetState(mod))->s_recv_into,
                     "_sock_recv_into", 3);
}

static PyObject *
sock_recvfrom(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    return recv_like(mod, args, nargs, OP_RECVFROM,
                     ((ac_state *)PyModule_GetState(mod))->s_recvfrom,
                     "_sock_recvfrom", 3);
}

static PyObject *
sock_recvfrom_into(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    return recv_like(mod, args, nargs, OP_RECVFROM_INTO,
                     ((ac_state *)PyModule_GetState(mod))->s_recvfrom_into,
                     "_sock_recvfrom_into", 4);
}

/* _sock_sendall(loop, sock, data): one send() at once; what is left is
 * sent from a memoryview of data as the fd becomes writable. */
static PyObject *
sock_sendall(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    ac_state *st = PyModule_GetState(mod);
    if (check_args("_sock_sendall", nargs, 3) < 0) {
        return NULL;
    }
    PyObject *loop = args[0], *sock = args[1], *data = args[2];
    if (check_loop(st, loop) < 0 || sock_check(st, loop, sock) < 0) {
        return NULL;
    }
    PyObject *n = call_sock(sock, st->s_send, data, NULL, NULL);
    if (n == NULL) {
        if (!clear_if_would_block()) {
            return NULL;
        }
        n = PyLong_FromLong(0);
        if (n == NULL) {
            return NULL;
        }
    }
    Py_ssize_t len = PyObject_Size(data);
    PyObject *lenobj = len < 0 ? NULL : PyLong_FromSsize_t(len);
    int all = lenobj == NULL ? -1 : PyObject_RichCompareBool(n, lenobj, Py_EQ);
    Py_XDECREF(lenobj);
    Py_ssize_t pos = all == 0 ? PyLong_AsSsize_t(n) : 0;
    Py_DECREF(n);
    if (all < 0 || (pos == -1 && PyErr_Occurred())) {
        return NULL;
    }
    if (all) {
        return done_future(st, loop, Py_NewRef(Py_None));
    }
    PyObject *view = PyMemoryView_FromObject(data);
    if (view == NULL) {
        return NULL;
    }
    return op_wait(st, loop, sock, OP_SENDALL, NULL, NULL, NULL, NULL, view,
                   pos, NULL);
}

/* _sock_sendto(loop, sock, data, address) */
static PyObject *
sock_sendto(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    ac_state *st = PyModule_GetState(mod);
    if (check_args("_sock_sendto", nargs, 4) < 0) {
        return NULL;
    }
    PyObject *loop = args[0], *sock = args[1];
    if (check_loop(st, loop) < 0 || sock_check(st, loop, sock) < 0) {
        return NULL;
    }
    PyObject *res = call_sock(sock, st->s_sendto, args[2], args[3], NULL);
    if (res != NULL) {
        return done_future(st, loop, res);
    }
    if (!clear_if_would_block()) {
        return NULL;
    }
    return op_wait(st, loop, sock, OP_SENDTO, NULL, NULL, args[2], args[3],
                   NULL, 0, NULL);
}

/* sock_accept and sock_connect make their future before the first try, as
 * asyncio does, and complete it with that try's outcome: res (stolen), or
 * NULL with the exception raised; a would-block waits for the fd instead
 * (from inside the except clause: the BlockingIOError is the context).
 * Takes the references to fut and fdobj; returns the future to await. */
static PyObject *
settle_first_try(ac_state *st, PyObject *loop, PyObject *sock, op_kind kind,
                 PyObject *fut, PyObject *fdobj, PyObject *res,
                 PyObject *address)
{
    PyObject *blocked = NULL, *ret = fut;
    int rc = 0;
    if (res != NULL) {
        rc = ac_fut_set_result(st, fut, res);
        Py_DECREF(res);
    }
    else if (take_if_would_block(&blocked)) {
        ret = op_wait(st, loop, sock, kind, fut, fdobj, address, NULL, NULL, 0,
                      blocked);
        Py_DECREF(fut);
    }
    else if (is_exit_exception()) {
        rc = -1;
    }
    else {
        PyObject *exc = ac_err_take();
        rc = ac_fut_set_exception(st, fut, exc);
        Py_DECREF(exc);
    }
    Py_DECREF(fdobj);
    if (rc < 0) {
        Py_DECREF(fut);
        return NULL;
    }
    return ret;
}

/* _sock_accept(loop, sock): asyncio's sock_accept after its checks makes
 * the future first and completes it with the outcome of the first try,
 * unless that would block. */
static PyObject *
sock_accept(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    ac_state *st = PyModule_GetState(mod);
    if (check_args("_sock_accept", nargs, 2) < 0) {
        return NULL;
    }
    PyObject *loop = args[0], *sock = args[1];
    if (check_loop(st, loop) < 0 || sock_check(st, loop, sock) < 0) {
        return NULL;
    }
    PyObject *fut = ac_loop_create_future(st, loop);
    if (fut == NULL) {
        return NULL;
    }
    PyObject *fdobj = PyObject_CallMethodNoArgs(sock, st->s_fileno);
    if (fdobj == NULL) {
        Py_DECREF(fut);
        return NULL;
    }
    PyObject *res = NULL;
    PyObject *pair = call_sock(sock, st->s_accept, NULL, NULL, NULL);
    if (pair != NULL) {
        PyObject *conn, *addr;
        if (PyArg_ParseTuple(pair, "OO", &conn, &addr)) {
            PyObject *r = PyObject_CallMethodOneArg(conn, st->s_setblocking,
                                                    Py_False);
            if (r != NULL) {
                Py_DECREF(r);
                res = PyTuple_Pack(2, conn, addr);
            }
        }
        Py_DECREF(pair);
    }
    return settle_first_try(st, loop, sock, OP_ACCEPT, fut, fdobj, res, NULL);
}

/* _sock_connect(loop, sock, address): the part of asyncio's sock_connect
 * after its checks and the address resolution (both in asyncio_c/_loop.py):
 * connect() at once; if it is in progress, wait for the fd to be writable
 * and read SO_ERROR. */
static PyObject *
sock_connect(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    ac_state *st = PyModule_GetState(mod);
    if (check_args("_sock_connect", nargs, 3) < 0) {
        return NULL;
    }
    PyObject *loop = args[0], *sock = args[1], *address = args[2];
    if (check_loop(st, loop) < 0) {
        return NULL;
    }
    PyObject *fut = ac_loop_create_future(st, loop);
    if (fut == NULL) {
        return NULL;
    }
    PyObject *fdobj = PyObject_CallMethodNoArgs(sock, st->s_fileno);
    if (fdobj == NULL) {
        Py_DECREF(fut);
        return NULL;
    }
    PyObject *res = call_sock(sock, st->s_connect, address, NULL, NULL);
    if (res != NULL) {
        Py_SETREF(res, Py_NewRef(Py_None));
    }
    return settle_first_try(st, loop, sock, OP_CONNECT, fut, fdobj, res,
                            address);
}

/* _sock_check(loop, sock): the checks every sock_* method starts with
 * (sock_connect makes them before it resolves the address). */
static PyObject *
sock_check_meth(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    ac_state *st = PyModule_GetState(mod);
    if (check_args("_sock_check", nargs, 2) < 0 ||
        check_loop(st, args[0]) < 0 || sock_check(st, args[0], args[1]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

#define SOCK_FN(name, fn, doc) \
    {name, (PyCFunction)(void (*)(void))fn, METH_FASTCALL, doc}

static PyMethodDef sock_functions[] = {
    SOCK_FN("_sock_recv", sock_recv,
            "_sock_recv(loop, sock, n): a future of sock.recv(n)."),
    SOCK_FN("_sock_recv_into", sock_recv_into,
            "_sock_recv_into(loop, sock, buf): a future of sock.recv_into(buf)."),
    SOCK_FN("_sock_recvfrom", sock_recvfrom,
            "_sock_recvfrom(loop, sock, bufsize): a future of "
            "sock.recvfrom(bufsize)."),
    SOCK_FN("_sock_recvfrom_into", sock_recvfrom_into,
            "_sock_recvfrom_into(loop, sock, buf, nbytes): a future of "
            "sock.recvfrom_into(buf, nbytes or len(buf))."),
    SOCK_FN("_sock_sendall", sock_sendall,
            "_sock_sendall(loop, sock, data): a future done once all of data "
            "is sent."),
    SOCK_FN("_sock_sendto", sock_sendto,
            "_sock_sendto(loop, sock, data, address): a future of "
            "sock.sendto(data, address)."),
    SOCK_FN("_sock_accept", sock_accept,
            "_sock_accept(loop, sock): a future of (conn, address), conn "
            "non-blocking."),
    SOCK_FN("_sock_connect", sock_connect,
            "_sock_connect(loop, sock, address): a future done when "
            "sock is connected to the resolved address."),
    SOCK_FN("_sock_check", sock_check_meth,
            "_sock_check(loop, sock): the checks of the sock_* methods."),
    {NULL, NULL, 0, NULL},
};

int
ac_sock_init(PyObject *mod, ac_state *st)
{
#define INTERN(field, text)                                     \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) \
        return -1;
    INTERN(s_recv, "recv");
    INTERN(s_recv_into, "recv_into");
    INTERN(s_recvfrom, "recvfrom");
    INTERN(s_recvfrom_into, "recvfrom_into");
    INTERN(s_send, "send");
    INTERN(s_sendto, "sendto");
    INTERN(s_accept, "accept");
    INTERN(s_connect, "connect");
    INTERN(s_setblocking, "setblocking");
    INTERN(s_gettimeout, "gettimeout");
    INTERN(s_ensure_fd_no_transport, "_ensure_fd_no_transport");
#undef INTERN
    st->check_ssl_socket = ac_import_attr("asyncio.base_events",
                                          "_check_ssl_socket");
    if (st->check_ssl_socket == NULL) {
        return -1;
    }
    st->SockOpType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &SockOp_spec, NULL);
    if (st->SockOpType == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(mod, sock_functions);
}
