/* transport.c -- _core.TransportBase: what every C transport shares (see
 * transport.h): setup, reading on/off, write flow control, closing and
 * connection_lost, error reports, the unclosed-transport warning, GC.
 * asyncio's selector_events._SelectorTransport and transports.
 * _FlowControlMixin are the specification. */
#include "transport.h"

#include <stddef.h>
#include <string.h>

static PyObject *
tr_loop_call(ac_transport *t, PyObject *name, PyObject *a, PyObject *b)
{
    if (t->tr_loop == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "transport is closed");
        return NULL;
    }
    return PyObject_CallMethodObjArgs(t->tr_loop, name, a, b, NULL);
}

int
ac_transport_debug(ac_transport *t)
{
    if (t->tr_loop == NULL) {
        return 0;
    }
    if (PyObject_TypeCheck(t->tr_loop, AC_STATE_OF(t)->LoopType)) {
        return ((LoopObj *)t->tr_loop)->loop_debug;
    }
    PyObject *r = PyObject_CallMethodNoArgs(t->tr_loop,
                                            AC_STATE_OF(t)->s_get_debug);
    int b = r == NULL ? -1 : PyObject_IsTrue(r);
    Py_XDECREF(r);
    return b;
}

int
ac_transport_log(ac_transport *t, const char *level, const char *fmt,
                 PyObject *arg, PyObject *exc)
{
    int d = ac_transport_debug(t);
    if (d <= 0) {
        return d;
    }
    ac_state *st = AC_STATE_OF(t);
    PyObject *meth = PyObject_GetAttrString(st->logger, level);
    if (meth == NULL) {
        return -1;
    }
    PyObject *args = arg == NULL ? Py_BuildValue("(sO)", fmt, (PyObject *)t)
                                 : Py_BuildValue("(sOO)", fmt, (PyObject *)t, arg);
    PyObject *kw = exc == NULL ? NULL : Py_BuildValue("{sO}", "exc_info", exc);
    PyObject *r = NULL;
    if (args != NULL && (exc == NULL || kw != NULL)) {
        r = PyObject_Call(meth, args, kw);
    }
    Py_DECREF(meth);
    Py_XDECREF(args);
    Py_XDECREF(kw);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* ---------------------------------------------------------------------
 * watching the fd */

static int
tr_loop_ok(ac_transport *t)
{
    return t->tr_loop != NULL &&
           PyObject_TypeCheck(t->tr_loop, AC_STATE_OF(t)->LoopType);
}

int
ac_transport_add_reader(ac_transport *t)
{
    if (t->tr_closing || t->tr_paused || !tr_loop_ok(t)) {
        return 0;
    }
    return ac_loop_io_start(t->tr_loop, t->tr_fd, AC_POLL_READ, t->tr_read_fn,
                            (PyObject *)t);
}

int
ac_transport_remove_reader(ac_transport *t)
{
    if (!tr_loop_ok(t)) {
        return 0;
    }
    return ac_loop_io_stop(t->tr_loop, t->tr_fd, AC_POLL_READ) < 0 ? -1 : 0;
}

int
ac_transport_add_writer(ac_transport *t)
{
    if (!tr_loop_ok(t)) {
        return 0;
    }
    return ac_loop_io_start(t->tr_loop, t->tr_fd, AC_POLL_WRITE,
                            t->tr_write_fn, (PyObject *)t);
}

int
ac_transport_remove_writer(ac_transport *t)
{
    if (!tr_loop_ok(t)) {
        return 0;
    }
    return ac_loop_io_stop(t->tr_loop, t->tr_fd, AC_POLL_WRITE) < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------------
 * set-up */

static int
tr_set_protocol(ac_transport *t, PyObject *protocol)
{
    ac_state *st = AC_STATE_OF(t);
    int b = PyObject_IsInstance(protocol, st->BufferedProtocol);
    if (b < 0) {
        return -1;
    }
    Py_XSETREF(t->tr_protocol, Py_NewRef(protocol));
    t->tr_buffered = (char)b;
    t->tr_protocol_connected = 1;
    return 0;
}

static int
tr_server_call(ac_transport *t, PyObject *name)
{
    PyObject *server = t->tr_server;
    if (server == NULL || server == Py_None) {
        return 0;
    }
#if AC_SERVER_ATTACH_TAKES_TRANSPORT
    PyObject *r = PyObject_CallMethodOneArg(server, name, (PyObject *)t);
#else
    PyObject *r = PyObject_CallMethodNoArgs(server, name);
#endif
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

int
ac_transport_setup(ac_transport *t, PyObject *loop, PyObject *sock,
                   PyObject *protocol, PyObject *extra, PyObject *server)
{
    ac_state *st = AC_STATE_OF(t);
    if (!PyObject_TypeCheck(loop, st->LoopType)) {
        PyErr_SetString(PyExc_TypeError,
                        "a C transport needs an asyncio_c loop");
        return -1;
    }
    int fd = ac_fileobj_to_fd(st, sock);
    if (fd < 0) {
        return -1;
    }
    /* the caller's dict itself, as asyncio.BaseTransport keeps it */
    t->tr_extra = extra == NULL || extra == Py_None ? PyDict_New()
                                                    : Py_NewRef(extra);
    if (t->tr_extra == NULL) {
        return -1;
    }
    t->tr_loop = Py_NewRef(loop);
    t->tr_sock = Py_NewRef(sock);
    t->tr_fd = fd;
    t->tr_high = 64 * 1024;
    t->tr_low = 16 * 1024;
    if (tr_set_protocol(t, protocol) < 0) {
        return -1;
    }
    if (server != NULL && server != Py_None) {
        t->tr_server = Py_NewRef(server);
        if (tr_server_call(t, st->s_attach) < 0) {
            Py_CLEAR(t->tr_server);
            return -1;
        }
    }
    t->tr_context = PyContext_CopyCurrent();
    if (t->tr_context == NULL) {
        return -1;
    }
    PyObject *map = PyObject_GetAttr(loop, st->s_transports);
    if (map == NULL) {
        return -1;
    }
    PyObject *key = PyLong_FromLong(fd);
    int rc = key == NULL ? -1 : PyObject_SetItem(map, key, (PyObject *)t);
    Py_XDECREF(key);
    Py_DECREF(map);
    return rc;
}

char *
ac_read_buf(ac_state *st)
{
    if (st->read_buf == NULL) {
        st->read_buf = PyMem_RawMalloc(AC_READ_BUF_SIZE);
        if (st->read_buf == NULL) {
            PyErr_NoMemory();
        }
    }
    return st->read_buf;
}

PyObject *
ac_transport_new(PyTypeObject *tp, ac_io_fn read_fn, ac_io_fn write_fn,
                 PyObject *loop, PyObject *sock, PyObject *protocol,
                 PyObject *extra, PyObject *server)
{
    PyObject *self = tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    ac_transport *t = AC_TR(self);
    t->tr_read_fn = read_fn;
    t->tr_write_fn = write_fn;
    if (ac_transport_setup(t, loop, sock, protocol, extra, server) < 0) {
        Py_CLEAR(t->tr_sock);   /* not ours to close, nor to warn about */
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

/* ---------------------------------------------------------------------
 * errors, closing, connection_lost */

int
ac_transport_report(ac_transport *t, const char *msg, PyObject *exc)
{
    if (t->tr_loop == NULL) {
        return 0;
    }
    ac_state *st = AC_STATE_OF(t);
    PyObject *ctx = Py_BuildValue("{sssOsOsO}", "message", msg,
                                  "exception", exc, "transport", (PyObject *)t,
                                  "protocol",
                                  t->tr_protocol ? t->tr_protocol : Py_None);
    if (ctx == NULL) {
        return -1;
    }
    int rc = ac_call_exception_handler(st, t->tr_loop, ctx);
    Py_DECREF(ctx);
    return rc;
}

int
ac_transport_schedule_lost(ac_transport *t, PyObject *exc)
{
    ac_state *st = AC_STATE_OF(t);
    PyObject *cb = PyObject_GetAttr((PyObject *)t, st->s_call_connection_lost);
    if (cb == NULL) {
        return -1;
    }
    PyObject *r = tr_loop_call(t, st->s_call_soon, cb,
                               exc != NULL ? exc : Py_None);
    Py_DECREF(cb);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

int
ac_transport_force_close(ac_transport *t, PyObject *exc)
{
    if (t->tr_conn_lost) {
        return 0;
    }
    if (t->tr_wsize > 0) {
        if (t->tr_clear_buffer != NULL) {
            t->tr_clear_buffer(t);
        }
        else {
            ac_wbuf_clear(t);
        }
        t->tr_wsize = 0;
        if (ac_transport_remove_writer(t) < 0) {
            return -1;
        }
    }
    if (!t->tr_closing) {
        t->tr_closing = 1;
        if (ac_transport_remove_reader(t) < 0) {
            return -1;
        }
    }
    t->tr_conn_lost++;
    return ac_transport_schedule_lost(t, exc);
}

int
ac_transport_fatal_error(ac_transport *t, PyObject *exc, const char *msg)
{
    if (PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_OSError)) {
        PyObject *m = PyUnicode_FromString(msg);
        int rc = m == NULL ? -1 : ac_transport_log(t, "debug", "%r: %s", m, exc);
        Py_XDECREF(m);
        if (rc < 0) {
            return -1;
        }
    }
    else if (ac_transport_report(t, msg, exc) < 0) {
        return -1;
    }
    return ac_transport_force_close(t, exc);
}

int
ac_transport_fatal_current(ac_transport *t, const char *msg)
{
    if (PyErr_ExceptionMatches(PyExc_SystemExit) ||
        PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return -1;
    }
    PyObject *exc = ac_err_take();
    int rc = ac_transport_fatal_error(t, exc, msg);
    Py_XDECREF(exc);
    return rc;
}

int
ac_transport_call_lost(ac_transport *t, PyObject *exc)
{
    ac_state *st = AC_STATE_OF(t);
    PyObject *err = NULL;
    if (t->tr_protocol_connected && t->tr_protocol != NULL) {
        PyObject *r = PyObject_CallMethodOneArg(
            t->tr_protocol, st->s_connection_lost, exc != NULL ? exc : Py_None);
        if (r == NULL) {
            err = ac_err_take();
        }
        Py_XDECREF(r);
    }
    /* finally: */
    PyObject *sock = t->tr_sock;
    t->tr_sock = NULL;
    if (sock != NULL) {
        PyObject *r = PyObject_CallMethodNoArgs(sock, st->s_close);
        Py_DECREF(sock);
        if (r == NULL) {
            Py_XDECREF(err);
            err = ac_err_take();
        }
        Py_XDECREF(r);
    }
    Py_CLEAR(t->tr_protocol);
    Py_CLEAR(t->tr_loop);
    if (t->tr_server != NULL) {
        if (tr_server_call(t, st->s_detach) < 0) {
            Py_XDECREF(err);
            err = ac_err_take();
        }
        Py_CLEAR(t->tr_server);
    }
    if (err != NULL) {
        ac_err_give(err);
        return -1;
    }
    if (t->tr_empty_waiter != NULL) {
        /* a sendfile in progress learns that it cannot finish */
        PyObject *exc = PyObject_CallFunction(
            PyExc_ConnectionError, "s", "Connection is closed by peer");
        PyObject *r = exc == NULL ? NULL : PyObject_CallMethodOneArg(
            t->tr_empty_waiter, st->s_set_exception, exc);
        Py_XDECREF(exc);
        Py_XDECREF(r);
        return r == NULL ? -1 : 0;
    }
    return 0;
}

int
ac_transport_run_io(PyObject *self, int (*fn)(ac_transport *t))
{
    ac_transport *t = AC_TR(self);
    PyObject *ctx = t->tr_context;
    if (ctx == NULL) {
        return 0;
    }
    Py_INCREF(ctx);
    int entered = PyContext_Enter(ctx) == 0;
    if (!entered) {
        PyErr_Clear();      /* already entered further up: run in it */
    }
    int rc = fn(t);
    if (entered) {
        PyObject *exc = ac_err_take();
        if (PyContext_Exit(ctx) < 0) {
            PyErr_WriteUnraisable(self);
        }
        ac_err_give(exc);
    }
    Py_DECREF(ctx);
    return rc;
}

int
ac_transport_report_unexpected(ac_transport *t, const char *where)
{
    if (PyErr_ExceptionMatches(PyExc_SystemExit) ||
        PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return -1;
    }
    PyObject *exc = ac_err_take();
    PyObject *msg = PyUnicode_FromFormat("Exception in callback %R.%s()",
                                         (PyObject *)t, where);
    int rc = -1;
    if (msg != NULL) {
        rc = ac_transport_report(t, PyUnicode_AsUTF8(msg), exc);
        Py_DECREF(msg);
    }
    Py_XDECREF(exc);
    return rc;
}

/* ---------------------------------------------------------------------
 * the byte write buffer */

/* Below this size a copy costs less than keeping the object. */
#define WBUF_BY_REFERENCE (64 * 1024)

static Py_ssize_t
head_left(ac_wbuf *b)
{
    return b->head == NULL ? 0 : PyBytes_GET_SIZE(b->head) - b->hoff;
}

int
ac_wbuf_append(ac_transport *t, PyObject *obj, const char *p, Py_ssize_t n)
{
    ac_wbuf *b = &t->tr_wb;
    if (obj != NULL && PyBytes_CheckExact(obj) && n >= WBUF_BY_REFERENCE &&
        t->tr_wsize == 0 && p + n == PyBytes_AS_STRING(obj) + PyBytes_GET_SIZE(obj)) {
        b->head = Py_NewRef(obj);
        b->hoff = p - PyBytes_AS_STRING(obj);
        t->tr_wsize = n;
        return 0;
    }
    if (b->start > 0 && b->end + n > b->cap) {
        memmove(b->buf, b->buf + b->start, (size_t)(b->end - b->start));
        b->end -= b->start;
        b->start = 0;
    }
    if (n > PY_SSIZE_T_MAX - b->end) {
        PyErr_NoMemory();
        return -1;
    }
    if (b->end + n > b->cap) {
        Py_ssize_t cap = b->cap ? b->cap : 16 * 1024;
        while (cap < b->end + n) {
            if (cap > PY_SSIZE_T_MAX / 2) {
                cap = b->end + n;
                break;
            }
            cap *= 2;
        }
        char *nb = PyMem_Realloc(b->buf, (size_t)cap);
        if (nb == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->end, p, (size_t)n);
    b->end += n;
    t->tr_wsize = head_left(b) + b->end - b->start;
    return 0;
}

const char *
ac_wbuf_peek(ac_transport *t, Py_ssize_t *n)
{
    ac_wbuf *b = &t->tr_wb;
    if (b->head != NULL) {
        *n = head_left(b);
        return PyBytes_AS_STRING(b->head) + b->hoff;
    }
    *n = b->end - b->start;
    return b->buf + b->start;
}

PyObject *
ac_wbuf_copy(ac_transport *t)
{
    ac_wbuf *b = &t->tr_wb;
    Py_ssize_t h = head_left(b);
    PyObject *r = PyByteArray_FromStringAndSize(NULL, t->tr_wsize);
    if (r != NULL && t->tr_wsize > 0) {
        char *d = PyByteArray_AS_STRING(r);
        if (h > 0) {
            memcpy(d, PyBytes_AS_STRING(b->head) + b->hoff, (size_t)h);
        }
        if (b->end > b->start) {
            memcpy(d + h, b->buf + b->start, (size_t)(b->end - b->start));
        }
    }
    return r;
}

void
ac_wbuf_consume(ac_transport *t, Py_ssize_t n)
{
    ac_wbuf *b = &t->tr_wb;
    if (b->head != NULL) {
        b->hoff += n;
        if (head_left(b) == 0) {
            Py_CLEAR(b->head);
        }
    }
    else {
        b->start += n;
        if (b->start >= b->end) {
            b->start = b->end = 0;
        }
    }
    t->tr_wsize = head_left(b) + b->end - b->start;
}

void
ac_wbuf_clear(ac_transport *t)
{
    ac_wbuf *b = &t->tr_wb;
    Py_CLEAR(b->head);
    b->start = b->end = 0;
    if (b->cap > 256 * 1024) {      /* keep a small block for the next burst */
        PyMem_Free(b->buf);
        b->buf = NULL;
        b->cap = 0;
    }
    t->tr_wsize = 0;
}

/* ---------------------------------------------------------------------
 * write flow control */

static int
tr_protocol_flow(ac_transport *t, PyObject *name, const char *failed)
{
    PyObject *r = PyObject_CallMethodNoArgs(t->tr_protocol, name);
    if (r != NULL) {
        Py_DECREF(r);
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_SystemExit) ||
        PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return -1;
    }
    PyObject *exc = ac_err_take();
    int rc = ac_transport_report(t, failed, exc);
    Py_DECREF(exc);
    return rc;
}

int
ac_transport_maybe_pause(ac_transport *t)
{
    if (t->tr_wsize <= t->tr_high || t->tr_protocol_paused ||
        t->tr_protocol == NULL) {
        return 0;
    }
    t->tr_protocol_paused = 1;
    return tr_protocol_flow(t, AC_STATE_OF(t)->s_pause_writing,
                            "protocol.pause_writing() failed");
}

int
ac_transport_maybe_resume(ac_transport *t)
{
    if (!t->tr_protocol_paused || t->tr_wsize > t->tr_low ||
        t->tr_protocol == NULL) {
        return 0;
    }
    t->tr_protocol_paused = 0;
    return tr_protocol_flow(t, AC_STATE_OF(t)->s_resume_writing,
                            "protocol.resume_writing() failed");
}

/* ---------------------------------------------------------------------
 * Python methods */

#define T(o) AC_TR(o)

static PyObject *
TB_abort(PyObject *op, PyObject *unused)
{
    if (ac_transport_force_close(T(op), NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
TB_force_close(PyObject *op, PyObject *exc)
{
    if (ac_transport_force_close(T(op), exc == Py_None ? NULL : exc) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
TB_fatal_error(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
               PyObject *kwnames)
{
    static const char *const names[] = {"exc", "message"};
    PyObject *vals[2] = {NULL, NULL};
    if (ac_parse_args("_fatal_error", args, nargs, kwnames, names, 2, 2, 1,
                      vals) < 0) {
        return NULL;
    }
    const char *msg = "Fatal error on transport";
    if (vals[1] != NULL) {
        msg = PyUnicode_AsUTF8(vals[1]);
        if (msg == NULL) {
            return NULL;
        }
    }
    if (ac_transport_fatal_error(T(op), vals[0], msg) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
TB_call_connection_lost(PyObject *op, PyObject *exc)
{
    if (ac_transport_call_lost(T(op), exc == Py_None ? NULL : exc) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
TB_set_protocol(PyObject *op, PyObject *protocol)
{
    if (tr_set_protocol(T(op), protocol) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
TB_get_protocol(PyObject *op, PyObject *unused)
{
    return ac_or_none(T(op)->tr_protocol);
}

static PyObject *
TB_is_closing(PyObject *op, PyObject *unused)
{
    return PyBool_FromLong(T(op)->tr_closing);
}

static PyObject *
TB_is_reading(PyObject *op, PyObject *unused)
{
    return PyBool_FromLong(!T(op)->tr_closing && !T(op)->tr_paused);
}

static PyObject *
TB_pause_reading(PyObject *op, PyObject *unused)
{
    ac_transport *t = T(op);
    if (t->tr_closing || t->tr_paused) {
        Py_RETURN_NONE;
    }
    t->tr_paused = 1;
    if (ac_transport_remove_reader(t) < 0 ||
        ac_transport_log(t, "debug", "%r pauses reading", NULL, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
TB_resume_reading(PyObject *op, PyObject *unused)
{
    ac_transport *t = T(op);
    if (t->tr_closing || !t->tr_paused) {
        Py_RETURN_NONE;
    }
    t->tr_paused = 0;
    if (ac_transport_add_reader(t) < 0 ||
        ac_transport_log(t, "debug", "%r resumes reading", NULL, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
TB_close(PyObject *op, PyObject *unused)
{
    ac_transport *t = T(op);
    if (t->tr_closing) {
        Py_RETURN_NONE;
    }
    t->tr_closing = 1;
    if (ac_transport_remove_reader(t) < 0) {
        return NULL;
    }
    if (t->tr_wsize == 0) {
        t->tr_conn_lost++;
        if (ac_transport_remove_writer(t) < 0 ||
            ac_transport_schedule_lost(t, NULL) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
TB_get_write_buffer_size(PyObject *op, PyObject *unused)
{
    return PyLong_FromSsize_t(T(op)->tr_wsize);
}

static PyObject *
TB_get_write_buffer_limits(PyObject *op, PyObject *unused)
{
    return Py_BuildValue("(nn)", T(op)->tr_low, T(op)->tr_high);
}

/* One limit as a C size: an int beyond Py_ssize_t or a float (asyncio
 * keeps whatever number it is given) is clamped, which compares the same
 * against any buffer size.  Only called once the values passed asyncio's
 * check, so a NaN never gets here. */
static Py_ssize_t
limit_as_size(PyObject *v)
{
    if (PyFloat_Check(v)) {
        double d = PyFloat_AS_DOUBLE(v);
        return d >= (double)PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX
               : d <= 0 ? 0 : (Py_ssize_t)d;
    }
    return PyNumber_AsSsize_t(v, NULL);   /* NULL: clamp on overflow */
}

/* asyncio's _FlowControlMixin._set_write_buffer_limits: the defaults, then
 * `high >= low >= 0` evaluated on the objects themselves (so 2**100 is
 * accepted, NaN refused with ValueError, a str with TypeError, as asyncio
 * does), then the values stored as C sizes. */
static int
tr_set_limits(ac_transport *t, PyObject *high, PyObject *low)
{
    PyObject *h = NULL, *l = NULL, *four = NULL;
    int rc = -1;
    if (high == Py_None && low == Py_None) {
        h = PyLong_FromLong(64 * 1024);
    }
    else if (high == Py_None) {
        four = PyLong_FromLong(4);
        h = four == NULL ? NULL : PyNumber_Multiply(four, low);
    }
    else {
        h = Py_NewRef(high);
    }
    if (h == NULL) {
        goto done;
    }
    if (low == Py_None) {
        if (four == NULL && (four = PyLong_FromLong(4)) == NULL) {
            goto done;
        }
        l = PyNumber_FloorDivide(h, four);
    }
    else {
        l = Py_NewRef(low);
    }
    if (l == NULL) {
        goto done;
    }
    int ok = PyObject_RichCompareBool(h, l, Py_GE);
    if (ok > 0) {
        PyObject *zero = PyLong_FromLong(0);
        if (zero == NULL) {
            goto done;
        }
        ok = PyObject_RichCompareBool(l, zero, Py_GE);
        Py_DECREF(zero);
    }
    if (ok < 0) {
        goto done;
    }
    if (!ok) {
        PyErr_Format(PyExc_ValueError,
                     "high (%R) must be >= low (%R) must be >= 0", h, l);
        goto done;
    }
    Py_ssize_t hs = limit_as_size(h);
    if (hs == -1 && PyErr_Occurred()) {
        goto done;
    }
    Py_ssize_t ls = limit_as_size(l);
    if (ls == -1 && PyErr_Occurred()) {
        goto done;
    }
    t->tr_high = hs;
    t->tr_low = ls;
    rc = 0;
done:
    Py_XDECREF(h);
    Py_XDECREF(l);
    Py_XDECREF(four);
    return rc;
}

static PyObject *
TB_set_write_buffer_limits(PyObject *op, PyObject *const *args,
                           Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"high", "low"};
    PyObject *vals[2] = {Py_None, Py_None};
    if (ac_parse_args("set_write_buffer_limits", args, nargs, kwnames, names,
                      2, 2, 0, vals) < 0 ||
        tr_set_limits(T(op), vals[0], vals[1]) < 0 ||
        ac_transport_maybe_pause(T(op)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
TB_maybe_pause_protocol(PyObject *op, PyObject *unused)
{
    if (ac_transport_maybe_pause(T(op)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
TB_maybe_resume_protocol(PyObject *op, PyObject *unused)
{
    if (ac_transport_maybe_resume(T(op)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
TB_repr(PyObject *op)
{
    ac_transport *t = T(op);
    PyObject *name = PyType_GetName(Py_TYPE(op));
    if (name == NULL) {
        return NULL;
    }
    const char *state = t->tr_sock == NULL ? " closed"
                        : t->tr_closing  ? " closing" : "";
    PyObject *r;
    if (t->tr_loop != NULL && tr_loop_ok(t) &&
        !((LoopObj *)t->tr_loop)->loop_closed) {
        int rd = ac_loop_io_watched(t->tr_loop, t->tr_fd, AC_POLL_READ);
        int wr = ac_loop_io_watched(t->tr_loop, t->tr_fd, AC_POLL_WRITE);
        r = PyUnicode_FromFormat("<%U%s fd=%d read=%s write=<%s, bufsize=%zd>>",
                                 name, state, t->tr_fd,
                                 rd ? "polling" : "idle",
                                 wr ? "polling" : "idle", t->tr_wsize);
    }
    else {
        r = PyUnicode_FromFormat("<%U%s fd=%d>", name, state, t->tr_fd);
    }
    Py_DECREF(name);
    return r;
}

/* ---------------------------------------------------------------------
 * life cycle */

void
ac_transport_finalize(PyObject *self)
{
    ac_transport *t = T(self);
    if (t->tr_sock == NULL) {
        return;
    }
    PyObject *err = ac_err_take();
    if (PyErr_ResourceWarning(self, 1, "unclosed transport %R", self) < 0) {
        PyErr_WriteUnraisable(self);
    }
    PyObject *sock = t->tr_sock;
    t->tr_sock = NULL;
    PyObject *r = PyObject_CallMethodNoArgs(sock, AC_STATE_OF(self)->s_close);
    Py_DECREF(sock);
    if (r == NULL) {
        PyErr_WriteUnraisable(self);
    }
    Py_XDECREF(r);
    if (t->tr_server != NULL) {
        if (tr_server_call(t, AC_STATE_OF(self)->s_detach) < 0) {
            PyErr_WriteUnraisable(self);
        }
        Py_CLEAR(t->tr_server);
    }
    ac_err_give(err);
}

int
ac_transport_traverse(ac_transport *t, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(t));
    Py_VISIT(t->tr_extra);
    Py_VISIT(t->tr_loop);
    Py_VISIT(t->tr_protocol);
    Py_VISIT(t->tr_sock);
    Py_VISIT(t->tr_server);
    Py_VISIT(t->tr_context);
    Py_VISIT(t->tr_empty_waiter);
    Py_VISIT(t->tr_dict);
    return 0;
}

void
ac_transport_clear(ac_transport *t)
{
    Py_CLEAR(t->tr_extra);
    Py_CLEAR(t->tr_loop);
    Py_CLEAR(t->tr_protocol);
    Py_CLEAR(t->tr_sock);
    Py_CLEAR(t->tr_server);
    Py_CLEAR(t->tr_context);
    Py_CLEAR(t->tr_empty_waiter);
    Py_CLEAR(t->tr_dict);
}

void
ac_transport_dealloc(PyObject *self, inquiry clear)
{
    PyTypeObject *tp = Py_TYPE(self);
    /* The finalizer (the "unclosed transport" ResourceWarning, whose source is the
     * transport) runs while the object is still GC-tracked: if it resurrects the transport
     * (a warnings recorder keeps the source), the object must stay tracked, or cycles through
     * it are never collected (debug interpreters abort on this).  Untrack only after. */
    if (PyObject_CallFinalizerFromDealloc(self) < 0) {
        return;     /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    if (T(self)->tr_weakreflist != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    (void)clear(self);
    Py_CLEAR(T(self)->tr_wb.head);
    PyMem_Free(T(self)->tr_wb.buf);
    T(self)->tr_wb.buf = NULL;
    tp->tp_free(self);
    Py_DECREF(tp);
}

int
ac_transport_tp_traverse(PyObject *op, visitproc visit, void *arg)
{
    return ac_transport_traverse(T(op), visit, arg);
}

int
ac_transport_tp_clear(PyObject *op)
{
    ac_transport_clear(T(op));
    return 0;
}

void
ac_transport_tp_dealloc(PyObject *op)
{
    ac_transport_dealloc(op, ac_transport_tp_clear);
}

/* Attributes asyncio's code and tests read (`_sock`, `_protocol_paused`, ...). */
static PyObject *
TB_get_sock_fd(PyObject *op, void *c)
{
    return PyLong_FromLong(T(op)->tr_fd);
}

static PyObject *
TB_get_conn_lost(PyObject *op, void *c)
{
    return PyLong_FromLong(T(op)->tr_conn_lost);
}

#define TB_FLAG(field)                                              \
    static PyObject *TB_get_##field(PyObject *op, void *c)          \
    {                                                               \
        return PyBool_FromLong(T(op)->tr_##field);                  \
    }
TB_FLAG(closing)
TB_FLAG(paused)
TB_FLAG(protocol_paused)
TB_FLAG(eof)
#undef TB_FLAG

static PyObject *
TB_get_high(PyObject *op, void *c)
{
    return PyLong_FromSsize_t(T(op)->tr_high);
}

static PyObject *
TB_get_low(PyObject *op, void *c)
{
    return PyLong_FromSsize_t(T(op)->tr_low);
}

static PyGetSetDef TB_getset[] = {
    {"_sock_fd", TB_get_sock_fd, NULL, NULL, NULL},
    {"_conn_lost", TB_get_conn_lost, NULL, NULL, NULL},
    {"_closing", TB_get_closing, NULL, NULL, NULL},
    {"_paused", TB_get_paused, NULL, NULL, NULL},
    {"_protocol_paused", TB_get_protocol_paused, NULL, NULL, NULL},
    {"_eof", TB_get_eof, NULL, NULL, NULL},
    {"_high_water", TB_get_high, NULL, NULL, NULL},
    {"_low_water", TB_get_low, NULL, NULL, NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef TB_members[] = {
    {"_sock", AC_T_OBJECT, offsetof(ac_transport, tr_sock), AC_READONLY, NULL},
    {"_loop", AC_T_OBJECT, offsetof(ac_transport, tr_loop), AC_READONLY, NULL},
    {"_protocol", AC_T_OBJECT, offsetof(ac_transport, tr_protocol),
     AC_READONLY, NULL},
    {"_server", AC_T_OBJECT, offsetof(ac_transport, tr_server), AC_READONLY,
     NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(ac_transport, tr_weakreflist),
     AC_READONLY, NULL},
    {"__dictoffset__", T_PYSSIZET, offsetof(ac_transport, tr_dict),
     AC_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)

static PyObject *
TB_start_reading(PyObject *op, PyObject *unused)
{
    if (ac_transport_add_reader(T(op)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef TB_methods[] = {
    {"_ac_start_reading", TB_start_reading, METH_NOARGS,
     "Start reading if is_reading() (scheduled after connection_made)."},
    {"abort", TB_abort, METH_NOARGS, NULL},
    {"close", TB_close, METH_NOARGS, NULL},
    {"is_closing", TB_is_closing, METH_NOARGS, NULL},
    {"set_protocol", TB_set_protocol, METH_O, NULL},
    {"get_protocol", TB_get_protocol, METH_NOARGS, NULL},
    {"is_reading", TB_is_reading, METH_NOARGS, NULL},
    {"pause_reading", TB_pause_reading, METH_NOARGS, NULL},
    {"resume_reading", TB_resume_reading, METH_NOARGS, NULL},
    {"get_write_buffer_size", TB_get_write_buffer_size, METH_NOARGS, NULL},
    {"get_write_buffer_limits", TB_get_write_buffer_limits, METH_NOARGS, NULL},
    {"set_write_buffer_limits",
     (PyCFunction)(void (*)(void))TB_set_write_buffer_limits, FASTKW, NULL},
    {"_maybe_pause_protocol", TB_maybe_pause_protocol, METH_NOARGS, NULL},
    {"_maybe_resume_protocol", TB_maybe_resume_protocol, METH_NOARGS, NULL},
    {"_force_close", TB_force_close, METH_O, NULL},
    {"_fatal_error", (PyCFunction)(void (*)(void))TB_fatal_error, FASTKW, NULL},
    {"_call_connection_lost", TB_call_connection_lost, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot TB_slots[] = {
    {Py_tp_doc, "What asyncio_c's C transports share (not instantiable)."},
    {Py_tp_repr, TB_repr},
    {Py_tp_methods, TB_methods},
    {Py_tp_members, TB_members},
    {Py_tp_getset, TB_getset},
    {Py_tp_traverse, ac_transport_tp_traverse},
    {Py_tp_clear, ac_transport_tp_clear},
    {Py_tp_dealloc, ac_transport_tp_dealloc},
    {Py_tp_finalize, ac_transport_finalize},
    {0, NULL},
};

static PyType_Spec TB_spec = {
    .name = "asyncio_c._core.TransportBase",
    .basicsize = sizeof(ac_transport),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = TB_slots,
};

/* The same, on asyncio.ReadTransport (whose layout is BaseTransport's: the
 * mixin's slots are then padding), for the read pipe. */
static PyType_Spec RTB_spec = {
    .name = "asyncio_c._core.ReadTransportBase",
    .basicsize = sizeof(ac_transport),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = TB_slots,
};

PyTypeObject *
ac_transport_type_new(PyObject *mod, PyType_Spec *spec, PyObject *asyncio_base)
{
    ac_state *st = PyModule_GetState(mod);
    /* a read-only kind must not become a WriteTransport through the mixin */
    PyObject *bases = asyncio_base == st->ReadTransport
        ? PyTuple_Pack(1, (PyObject *)st->ReadTransportBaseType)
        : PyTuple_Pack(2, (PyObject *)st->TransportBaseType, asyncio_base);
    if (bases == NULL) {
        return NULL;
    }
    PyObject *tp = PyType_FromModuleAndSpec(mod, spec, bases);
    Py_DECREF(bases);
    if (tp != NULL && PyModule_AddObjectRef(mod, spec->name + sizeof("asyncio_c._core"),
                                            tp) < 0) {
        Py_CLEAR(tp);
    }
    return (PyTypeObject *)tp;
}

int
ac_transport_init(PyObject *mod, ac_state *st)
{
#define INTERN(field, text)                                     \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) \
        return -1;
    INTERN(s_transports, "_transports");
    INTERN(s_attach, "_attach");
    INTERN(s_detach, "_detach");
    INTERN(s_call_connection_lost, "_call_connection_lost");
    INTERN(s_connection_lost, "connection_lost");
    INTERN(s_data_received, "data_received");
    INTERN(s_eof_received, "eof_received");
    INTERN(s_get_buffer, "get_buffer");
    INTERN(s_buffer_updated, "buffer_updated");
    INTERN(s_pause_writing, "pause_writing");
    INTERN(s_resume_writing, "resume_writing");
    INTERN(s_fileno, "fileno");
#undef INTERN
    if ((st->BufferedProtocol = ac_import_attr("asyncio.protocols",
                                            "BufferedProtocol")) == NULL ||
        (st->logger = ac_import_attr("asyncio.log", "logger")) == NULL) {
        return -1;
    }
    PyObject *base = ac_import_attr("asyncio.transports", "_FlowControlMixin");
    PyObject *bt = ac_import_attr("asyncio.transports", "BaseTransport");
    st->ReadTransport = ac_import_attr("asyncio.transports", "ReadTransport");
    if (base == NULL || bt == NULL || st->ReadTransport == NULL) {
        Py_XDECREF(base);
        Py_XDECREF(bt);
        return -1;
    }
    /* BaseTransport's _extra slot must be our first field, the mixin's four
     * slots the next four (Python lays __slots__ out after the base's) */
    PyTypeObject *ft = (PyTypeObject *)base;
    int ok = PyType_Check(base) && PyType_Check(bt) &&
             ((PyTypeObject *)bt)->tp_basicsize ==
                 (Py_ssize_t)offsetof(ac_transport, tr_fcm_slots) &&
             ft->tp_basicsize == (Py_ssize_t)offsetof(ac_transport, tr_loop) &&
             ft->tp_dictoffset == 0 && ft->tp_weaklistoffset == 0 &&
             PyType_Check(st->ReadTransport) &&
             ((PyTypeObject *)st->ReadTransport)->tp_basicsize ==
                 (Py_ssize_t)offsetof(ac_transport, tr_fcm_slots);
    Py_DECREF(bt);
    if (!ok) {
        Py_DECREF(base);
        PyErr_SetString(PyExc_ImportError,
                        "asyncio.transports._FlowControlMixin has an unexpected "
                        "layout (its __slots__ changed?)");
        return -1;
    }
    st->TransportBaseType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &TB_spec, base);
    Py_DECREF(base);
    if (st->TransportBaseType == NULL) {
        return -1;
    }
    st->ReadTransportBaseType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &RTB_spec, st->ReadTransport);
    if (st->ReadTransportBaseType == NULL ||
        PyModule_AddObjectRef(mod, "ReadTransportBase",
                              (PyObject *)st->ReadTransportBaseType) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(mod, "TransportBase",
                                 (PyObject *)st->TransportBaseType);
}
