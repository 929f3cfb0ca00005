/* transport_pipe.c -- the pipe transports: _core.ReadPipeTransport and
 * _core.WritePipeTransport (asyncio's unix_events._UnixReadPipeTransport and
 * _UnixWritePipeTransport are the specification; they are the same in
 * 3.11.7, 3.12.1 and 3.13.0).  loop.connect_read_pipe/connect_write_pipe and
 * the subprocess transports make them through the loop's
 * _make_read_pipe_transport/_make_write_pipe_transport (asyncio_c/_loop.py).
 *
 * The pipe is a pipe, a socket or a character device (a pty), made
 * non-blocking.  Where asyncio's pipe classes differ from the socket
 * transport, the methods of TransportBase are overridden here:
 * - reading: one read() per readiness into the module's scratch buffer;
 *   data_received() always (no BufferedProtocol path), its exceptions are
 *   reported as an error of the callback and reading goes on; at EOF the
 *   transport is closing and eof_received() then _call_connection_lost(None)
 *   are scheduled (eof_received's result is not looked at);
 * - writing: write() tries at once, the rest goes to one buffer flushed at
 *   write readiness; flow control resumes only once the buffer is empty;
 *   write_eof()/close() let the buffer drain then lose the connection;
 *   writes after close() or an error are counted and dropped (no exception);
 * - the write pipe watches its fd for read readiness when it is a pipe or a
 *   socket: the other end was closed (connection_lost(BrokenPipeError()) if
 *   data was waiting, else connection_lost(None));
 * - _close(exc) (abort, _fatal_error) schedules connection_lost once;
 *   _fatal_error only logs OSError (the read pipe: only EIO) in debug mode;
 * - the transports are not entered in loop._transports;
 * - what asyncio's read pipe lacks (it is only a ReadTransport) is hidden
 *   (AttributeError): abort and the writing side; the write pipe's reading
 *   methods raise NotImplementedError (asyncio.ReadTransport's, which
 *   asyncio's write pipe inherits). */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    ac_transport base;
    char lost;                  /* _call_connection_lost scheduled or run */
    char watch_peer;            /* write pipe on a fifo or socket: watch for
                                   the other end closing */
} PipeObj;

#define P(o) ((PipeObj *)(o))

static const char read_error_msg[] = "Fatal read error on pipe transport";
static const char write_error_msg[] = "Fatal write error on pipe transport";
static const char default_error_msg[] = "Fatal error on pipe transport";

/* ---------------------------------------------------------------------
 * helpers */

static int
loop_alive(ac_transport *t)
{
    return t->tr_loop != NULL &&
           PyObject_TypeCheck(t->tr_loop, AC_STATE_OF(t)->LoopType) &&
           !((LoopObj *)t->tr_loop)->loop_closed;
}

/* loop.call_soon(self._call_connection_lost, exc), at most once. */
static int
schedule_lost(ac_transport *t, PyObject *exc)
{
    PipeObj *p = (PipeObj *)t;
    if (p->lost) {
        return 0;
    }
    p->lost = 1;
    return ac_transport_schedule_lost(t, exc);
}

static int
call_lost_now(ac_transport *t, PyObject *exc)
{
    P(t)->lost = 1;
    return ac_transport_call_lost(t, exc);
}

/* The fatal error's report: debug log or exception handler. */
static int
report_fatal(ac_transport *t, PyObject *exc, const char *msg, int log_only)
{
    if (log_only) {
        PyObject *m = PyUnicode_FromString(msg);
        int rc = m == NULL ? -1 : ac_transport_log(t, "debug", "%r: %s", m, exc);
        Py_XDECREF(m);
        return rc;
    }
    return ac_transport_report(t, msg, exc);
}

/* ---------------------------------------------------------------------
 * the read pipe */

/* _close(exc): closing, no more reading, connection_lost(exc) soon. */
static int
read_close(ac_transport *t, PyObject *exc)
{
    t->tr_closing = 1;
    if (ac_transport_remove_reader(t) < 0) {
        return -1;
    }
    return schedule_lost(t, exc);
}

static int
read_fatal_error(ac_transport *t, PyObject *exc, const char *msg)
{
    int eio = 0;
    if (PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_OSError)) {
        PyObject *en = PyObject_GetAttrString(exc, "errno");
        if (en == NULL) {
            return -1;
        }
        eio = PyLong_Check(en) && PyLong_AsLong(en) == EIO;
        Py_DECREF(en);
        if (PyErr_Occurred()) {
            return -1;
        }
    }
    if (report_fatal(t, exc, msg, eio) < 0) {
        return -1;
    }
    return read_close(t, exc);
}

/* The other end is closed: eof_received() and connection_lost(None), both
 * scheduled. */
static int
read_eof(ac_transport *t)
{
    ac_state *st = AC_STATE_OF(t);
    if (ac_transport_log(t, "info", "%r was closed by peer", NULL, NULL) < 0) {
        return -1;
    }
    t->tr_closing = 1;
    if (ac_transport_remove_reader(t) < 0) {
        return -1;
    }
    PyObject *cb = PyObject_GetAttr(t->tr_protocol, st->s_eof_received);
    if (cb == NULL) {
        return -1;
    }
    PyObject *r = PyObject_CallMethodObjArgs(t->tr_loop, st->s_call_soon, cb,
                                             NULL);
    Py_DECREF(cb);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return schedule_lost(t, NULL);
}

/* _read_ready: everything that goes wrong other than a read error is an
 * exception of the callback, reported as such (asyncio's Handle would). */
static int
read_io(ac_transport *t)
{
    ac_state *st = AC_STATE_OF(t);
    if (P(t)->lost || t->tr_protocol == NULL) {
        return 0;
    }
    if (ac_read_buf(st) == NULL) {
        return ac_transport_report_unexpected(t, "_read_ready");
    }
    ssize_t n;
    do {
        n = read(t->tr_fd, st->read_buf, AC_READ_BUF_SIZE);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        PyErr_SetFromErrno(PyExc_OSError);
        PyObject *exc = ac_err_take();
        int rc = read_fatal_error(t, exc, read_error_msg);
        Py_DECREF(exc);
        return rc < 0 ? ac_transport_report_unexpected(t, "_read_ready") : 0;
    }
    if (n == 0) {
        return read_eof(t) < 0 ? ac_transport_report_unexpected(t, "_read_ready")
                               : 0;
    }
    PyObject *data = PyBytes_FromStringAndSize(st->read_buf, n);
    PyObject *r = data == NULL ? NULL : PyObject_CallMethodOneArg(
        t->tr_protocol, st->s_data_received, data);
    Py_XDECREF(data);
    if (r == NULL) {
        return ac_transport_report_unexpected(t, "_read_ready");
    }
    Py_DECREF(r);
    return 0;
}

static int
read_on_readable(PyObject *self)
{
    return ac_transport_run_io(self, read_io);
}

static PyObject *
RPipe_close(PyObject *op, PyObject *unused)
{
    ac_transport *t = AC_TR(op);
    if (!t->tr_closing && read_close(t, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
RPipe_close_meth(PyObject *op, PyObject *exc)
{
    if (read_close(AC_TR(op), exc == Py_None ? NULL : exc) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* os.write(): bytes written, 0 if the pipe is full, -1 with an OSError. */
static Py_ssize_t
pipe_write(int fd, const char *s, Py_ssize_t n)
{
    ssize_t k;
    do {
        k = write(fd, s, (size_t)n);
    } while (k < 0 && errno == EINTR);
    if (k < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return (Py_ssize_t)k;
}

/* ---------------------------------------------------------------------
 * the write pipe */

/* _close(exc): closing, the buffer dropped, no more watching,
 * connection_lost(exc) soon. */
static int
write_close(ac_transport *t, PyObject *exc)
{
    t->tr_closing = 1;
    if (t->tr_wsize > 0 && ac_transport_remove_writer(t) < 0) {
        return -1;
    }
    ac_wbuf_clear(t);
    if (ac_transport_remove_reader(t) < 0) {
        return -1;
    }
    return schedule_lost(t, exc);
}

static int
write_fatal_error(ac_transport *t, PyObject *exc, const char *msg)
{
    int oserror = PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_OSError);
    if (report_fatal(t, exc, msg, oserror) < 0) {
        return -1;
    }
    return write_close(t, exc);
}

/* The current exception (a write error) through _fatal_error; -1 only if
 * _fatal_error itself failed. */
static int
write_failed(ac_transport *t)
{
    PyObject *exc = ac_err_take();
    int rc = write_fatal_error(t, exc, write_error_msg);
    Py_DECREF(exc);
    return rc;
}

/* _write_ready */
static int
write_io(ac_transport *t)
{
    PipeObj *p = (PipeObj *)t;
    if (t->tr_wsize == 0 || p->lost) {
        return 0;
    }
    Py_ssize_t len;
    const char *s = ac_wbuf_peek(t, &len);
    Py_ssize_t n = pipe_write(t->tr_fd, s, len);
    if (n < 0) {
        ac_wbuf_clear(t);
        t->tr_conn_lost++;
        if (ac_transport_remove_writer(t) < 0 || write_failed(t) < 0) {
            return ac_transport_report_unexpected(t, "_write_ready");
        }
        return 0;
    }
    if (n < t->tr_wsize) {
        ac_wbuf_consume(t, n);
        return 0;
    }
    ac_wbuf_clear(t);
    if (ac_transport_remove_writer(t) < 0) {
        return ac_transport_report_unexpected(t, "_write_ready");
    }
    if (ac_transport_maybe_resume(t) < 0) {     /* may write more */
        return -1;
    }
    if (t->tr_closing && !p->lost) {
        if (ac_transport_remove_reader(t) < 0 || call_lost_now(t, NULL) < 0) {
            return ac_transport_report_unexpected(t, "_write_ready");
        }
    }
    return 0;
}

static int
write_on_writable(PyObject *self)
{
    return ac_transport_run_io(self, write_io);
}

/* The fd of the write pipe is readable: the other end is closed. */
static int
peer_closed_io(ac_transport *t)
{
    if (P(t)->lost) {
        return 0;
    }
    int rc = ac_transport_log(t, "info", "%r was closed by peer", NULL, NULL);
    if (rc == 0) {
        if (t->tr_wsize > 0) {
            PyObject *exc = PyObject_CallNoArgs(PyExc_BrokenPipeError);
            rc = exc == NULL ? -1 : write_close(t, exc);
            Py_XDECREF(exc);
        }
        else {
            rc = write_close(t, NULL);
        }
    }
    return rc < 0 ? ac_transport_report_unexpected(t, "_read_ready") : 0;
}

static int
peer_on_readable(PyObject *self)
{
    return ac_transport_run_io(self, peer_closed_io);
}

static PyObject *
WPipe_write(PyObject *op, PyObject *data)
{
    ac_transport *t = AC_TR(op);
    if (!PyBytes_Check(data) && !PyByteArray_Check(data) &&
        !PyMemoryView_Check(data)) {
        PyObject *r = PyObject_Repr(data);
        if (r != NULL) {
            PyErr_SetObject(PyExc_AssertionError, r);
            Py_DECREF(r);
        }
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    int rc = 0;
    if (view.len == 0) {
        goto done;
    }
    if (t->tr_conn_lost || t->tr_closing) {
        if (t->tr_conn_lost >= 5) {  /* constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES */
            PyObject *r = PyObject_CallMethod(
                AC_STATE_OF(op)->logger, "warning", "s",
                "pipe closed by peer or os.write(pipe, data) raised exception.");
            if (r == NULL) {
                rc = -1;
                goto done;
            }
            Py_DECREF(r);
        }
        t->tr_conn_lost++;
        goto done;
    }
    const char *s = view.buf;
    Py_ssize_t len = view.len;
    if (t->tr_wsize == 0) {
        /* try to write it right away */
        Py_ssize_t n = pipe_write(t->tr_fd, s, len);
        if (n < 0) {
            t->tr_conn_lost++;
            rc = write_failed(t);
            goto done;
        }
        if (n == len) {
            goto done;
        }
        s += n;
        len -= n;
        if (ac_transport_add_writer(t) < 0) {
            rc = -1;
            goto done;
        }
    }
    rc = ac_wbuf_append(t, data, s, len);
    if (rc == 0) {
        rc = ac_transport_maybe_pause(t);
    }
done:
    PyBuffer_Release(&view);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
write_eof(ac_transport *t)
{
    if (t->tr_closing) {
        return 0;
    }
    if (t->tr_sock == NULL) {
        PyErr_SetNone(PyExc_AssertionError);
        return -1;
    }
    t->tr_closing = 1;
    if (t->tr_wsize == 0) {
        if (ac_transport_remove_reader(t) < 0) {
            return -1;
        }
        return schedule_lost(t, NULL);
    }
    return 0;
}

static PyObject *
WPipe_write_eof(PyObject *op, PyObject *unused)
{
    if (write_eof(AC_TR(op)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
WPipe_can_write_eof(PyObject *op, PyObject *unused)
{
    Py_RETURN_TRUE;
}

static PyObject *
WPipe_close(PyObject *op, PyObject *unused)
{
    ac_transport *t = AC_TR(op);
    /* write_eof is all a write pipe needs to close */
    if (t->tr_sock != NULL && !t->tr_closing && write_eof(t) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
WPipe_abort(PyObject *op, PyObject *unused)
{
    if (write_close(AC_TR(op), NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
WPipe_close_meth(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                 PyObject *kwnames)
{
    static const char *const names[] = {"exc"};
    PyObject *exc = Py_None;
    if (ac_parse_args("_close", args, nargs, kwnames, names, 1, 1, 0,
                      &exc) < 0 ||
        write_close(AC_TR(op), exc == Py_None ? NULL : exc) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Scheduled after connection_made: the reader trick (a fifo or a socket;
 * not once connection_lost is on its way). */
static PyObject *
WPipe_start_reading(PyObject *op, PyObject *unused)
{
    ac_transport *t = AC_TR(op);
    PipeObj *p = P(op);
    if (!p->watch_peer || p->lost || t->tr_sock == NULL || t->tr_loop == NULL) {
        Py_RETURN_NONE;
    }
    if (ac_loop_io_start(t->tr_loop, t->tr_fd, AC_POLL_READ, t->tr_read_fn,
                         op) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------
 * what both share */

static PyObject *
pipe_fatal_error_meth(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames,
                      int (*fatal)(ac_transport *, PyObject *, const char *))
{
    static const char *const names[] = {"exc", "message"};
    PyObject *vals[2] = {NULL, NULL};
    if (ac_parse_args("_fatal_error", args, nargs, kwnames, names, 2, 2, 1,
                      vals) < 0) {
        return NULL;
    }
    const char *msg = default_error_msg;
    if (vals[1] != NULL) {
        msg = PyUnicode_AsUTF8(vals[1]);
        if (msg == NULL) {
            return NULL;
        }
    }
    if (fatal(AC_TR(op), vals[0], msg) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
RPipe_fatal_error_meth(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                       PyObject *kwnames)
{
    return pipe_fatal_error_meth(op, args, nargs, kwnames, read_fatal_error);
}

static PyObject *
WPipe_fatal_error_meth(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                       PyObject *kwnames)
{
    return pipe_fatal_error_meth(op, args, nargs, kwnames, write_fatal_error);
}

/* _force_close(exc) (TransportBase's name for it): _close(exc). */
static PyObject *
RPipe_force_close(PyObject *op, PyObject *exc)
{
    return RPipe_close_meth(op, exc);
}

static PyObject *
WPipe_force_close(PyObject *op, PyObject *exc)
{
    if (write_close(AC_TR(op), exc == Py_None ? NULL : exc) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Pipe_call_connection_lost(PyObject *op, PyObject *exc)
{
    if (call_lost_now(AC_TR(op), exc == Py_None ? NULL : exc) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* asyncio's pipe reprs: "<Name [closed|closing] fd=N polling|idle
 * [bufsize=N]>" while the loop is open, "... open>" once it is closed,
 * "<Name closed fd=N closed>" once the pipe is. */
static PyObject *
pipe_repr(PyObject *op, unsigned which)
{
    ac_transport *t = AC_TR(op);
    PyObject *name = PyType_GetName(Py_TYPE(op));
    if (name == NULL) {
        return NULL;
    }
    const char *state = t->tr_sock == NULL ? " closed"
                        : t->tr_closing  ? " closing" : "";
    PyObject *r;
    if (t->tr_sock != NULL && loop_alive(t)) {
        const char *poll = ac_loop_io_watched(t->tr_loop, t->tr_fd, which)
                           ? "polling" : "idle";
        if (which == AC_POLL_WRITE) {
            r = PyUnicode_FromFormat("<%U%s fd=%d %s bufsize=%zd>", name, state,
                                     t->tr_fd, poll, t->tr_wsize);
        }
        else {
            r = PyUnicode_FromFormat("<%U%s fd=%d %s>", name, state, t->tr_fd,
                                     poll);
        }
    }
    else {
        r = PyUnicode_FromFormat("<%U%s fd=%d %s>", name, state, t->tr_fd,
                                 t->tr_sock != NULL ? "open" : "closed");
    }
    Py_DECREF(name);
    return r;
}

static PyObject *
RPipe_repr(PyObject *op)
{
    return pipe_repr(op, AC_POLL_READ);
}

static PyObject *
WPipe_repr(PyObject *op)
{
    return pipe_repr(op, AC_POLL_WRITE);
}

/* _pipe: asyncio's tests set it to None to drop the pipe without the
 * unclosed-transport warning. */
static PyObject *
Pipe_get_pipe(PyObject *op, void *c)
{
    return ac_or_none(AC_TR(op)->tr_sock);
}

static int
Pipe_set_pipe(PyObject *op, PyObject *value, void *c)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete attribute");
        return -1;
    }
    Py_XSETREF(AC_TR(op)->tr_sock, value == Py_None ? NULL : Py_NewRef(value));
    return 0;
}

static PyObject *
Pipe_get_fileno(PyObject *op, void *c)
{
    return PyLong_FromLong(AC_TR(op)->tr_fd);
}

static PyObject *
WPipe_get_buffer(PyObject *op, void *c)
{
    return ac_wbuf_copy(AC_TR(op));
}

/* A method of TransportBase that asyncio's pipe class does not have. */
static PyObject *
Pipe_hidden(PyObject *op, void *name)
{
    PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute '%s'",
                 Py_TYPE(op)->tp_name, (const char *)name);
    return NULL;
}

#define HIDE(name) {name, Pipe_hidden, NULL, NULL, name}

/* asyncio's write pipe has asyncio.ReadTransport's reading methods (through
 * _FlowControlMixin's base, Transport): they raise NotImplementedError. */
static PyObject *
WPipe_not_implemented(PyObject *op, PyObject *unused)
{
    PyErr_SetNone(PyExc_NotImplementedError);
    return NULL;
}

/* ---------------------------------------------------------------------
 * types */

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)

static PyMethodDef RPipe_methods[] = {
    {"close", RPipe_close, METH_NOARGS, NULL},
    {"_close", RPipe_close_meth, METH_O, NULL},
    {"_force_close", RPipe_force_close, METH_O, NULL},
    {"_fatal_error", (PyCFunction)(void (*)(void))RPipe_fatal_error_meth,
     FASTKW, NULL},
    {"_call_connection_lost", Pipe_call_connection_lost, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef RPipe_getset[] = {
    {"_pipe", Pipe_get_pipe, Pipe_set_pipe, NULL, NULL},
    {"_fileno", Pipe_get_fileno, NULL, NULL, NULL},
    HIDE("abort"),
    HIDE("write"),
    HIDE("writelines"),
    HIDE("write_eof"),
    HIDE("can_write_eof"),
    HIDE("get_write_buffer_size"),
    HIDE("get_write_buffer_limits"),
    HIDE("set_write_buffer_limits"),
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot RPipe_slots[] = {
    {Py_tp_doc, "The transport of the read end of a pipe (or a socket or "
                "character device)."},
    {Py_tp_repr, RPipe_repr},
    {Py_tp_methods, RPipe_methods},
    {Py_tp_getset, RPipe_getset},
    {Py_tp_traverse, ac_transport_tp_traverse},
    {Py_tp_clear, ac_transport_tp_clear},
    {Py_tp_dealloc, ac_transport_tp_dealloc},
    {0, NULL},
};

static PyType_Spec RPipe_spec = {
    .name = "asyncio_c._core.ReadPipeTransport",
    .basicsize = sizeof(PipeObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = RPipe_slots,
};

static PyMethodDef WPipe_methods[] = {
    {"write", WPipe_write, METH_O, NULL},
    {"write_eof", WPipe_write_eof, METH_NOARGS, NULL},
    {"can_write_eof", WPipe_can_write_eof, METH_NOARGS, NULL},
    {"close", WPipe_close, METH_NOARGS, NULL},
    {"abort", WPipe_abort, METH_NOARGS, NULL},
    {"_close", (PyCFunction)(void (*)(void))WPipe_close_meth, FASTKW, NULL},
    {"_force_close", WPipe_force_close, METH_O, NULL},
    {"_fatal_error", (PyCFunction)(void (*)(void))WPipe_fatal_error_meth,
     FASTKW, NULL},
    {"_call_connection_lost", Pipe_call_connection_lost, METH_O, NULL},
    {"is_reading", WPipe_not_implemented, METH_NOARGS, NULL},
    {"pause_reading", WPipe_not_implemented, METH_NOARGS, NULL},
    {"resume_reading", WPipe_not_implemented, METH_NOARGS, NULL},
    {"_ac_start_reading", WPipe_start_reading, METH_NOARGS,
     "Watch for the other end closing (scheduled after connection_made)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef WPipe_getset[] = {
    {"_pipe", Pipe_get_pipe, Pipe_set_pipe, NULL, NULL},
    {"_fileno", Pipe_get_fileno, NULL, NULL, NULL},
    {"_buffer", WPipe_get_buffer, NULL, "a copy of what waits to be written",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#undef HIDE

static PyType_Slot WPipe_slots[] = {
    {Py_tp_doc, "The transport of the write end of a pipe (or a socket or "
                "character device)."},
    {Py_tp_repr, WPipe_repr},
    {Py_tp_methods, WPipe_methods},
    {Py_tp_getset, WPipe_getset},
    {Py_tp_traverse, ac_transport_tp_traverse},
    {Py_tp_clear, ac_transport_tp_clear},
    {Py_tp_dealloc, ac_transport_tp_dealloc},
    {0, NULL},
};

static PyType_Spec WPipe_spec = {
    .name = "asyncio_c._core.WritePipeTransport",
    .basicsize = sizeof(PipeObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = WPipe_slots,
};

/* ---------------------------------------------------------------------
 * construction */

/* The pipe transports' __init__ up to the scheduling (done by the caller):
 * extra['pipe'], the fd, the fd's kind (ValueError unless a fifo, socket or
 * character device), non-blocking.  Like asyncio, a failure once the pipe is
 * kept (fstat, set_blocking) leaves it to the unclosed-transport warning;
 * the kind check drops it first. */
static int
pipe_setup(PipeObj *p, PyObject *loop, PyObject *pipe, PyObject *protocol,
           PyObject *extra, int is_write)
{
    ac_transport *t = &p->base;
    ac_state *st = AC_STATE_OF(p);
    if (!PyObject_TypeCheck(loop, st->LoopType)) {
        PyErr_SetString(PyExc_TypeError,
                        "a C transport needs an asyncio_c loop");
        return -1;
    }
    t->tr_extra = extra == Py_None ? PyDict_New() : Py_NewRef(extra);
    if (t->tr_extra == NULL) {
        return -1;
    }
    PyObject *key = PyUnicode_FromString("pipe");
    int rc = key == NULL ? -1 : PyObject_SetItem(t->tr_extra, key, pipe);
    Py_XDECREF(key);
    if (rc < 0) {
        return -1;
    }
    t->tr_loop = Py_NewRef(loop);
    t->tr_high = 64 * 1024;
    t->tr_low = 16 * 1024;
    PyObject *fdobj = PyObject_CallMethodNoArgs(pipe, st->s_fileno);
    if (fdobj == NULL) {
        return -1;
    }
    long fd = PyLong_AsLong(fdobj);
    Py_DECREF(fdobj);
    if (fd == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (fd < INT_MIN || fd > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "fd is out of range");
        return -1;
    }
    t->tr_fd = (int)fd;
    t->tr_sock = Py_NewRef(pipe);
    t->tr_protocol = Py_NewRef(protocol);
    t->tr_protocol_connected = 1;

    struct stat sb;
    if (fstat(t->tr_fd, &sb) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    int is_fifo = S_ISFIFO(sb.st_mode), is_sock = S_ISSOCK(sb.st_mode);
    if (!is_fifo && !is_sock && !S_ISCHR(sb.st_mode)) {
        Py_CLEAR(t->tr_sock);
        Py_CLEAR(t->tr_protocol);
        PyErr_SetString(PyExc_ValueError,
                        is_write ? "Pipe transport is only for pipes, sockets "
                                   "and character devices"
                                 : "Pipe transport is for pipes/sockets only.");
        return -1;
    }
    p->watch_peer = (char)(is_write && (is_fifo || is_sock));

    int flags = fcntl(t->tr_fd, F_GETFL);
    if (flags < 0 ||
        (!(flags & O_NONBLOCK) &&
         fcntl(t->tr_fd, F_SETFL, flags | O_NONBLOCK) < 0)) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    t->tr_context = PyContext_CopyCurrent();
    return t->tr_context == NULL ? -1 : 0;
}

static PyObject *
make_pipe_transport(PyObject *mod, PyObject *const *args, Py_ssize_t nargs,
                    int is_write)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError,
                     "_%s_pipe_transport(loop, pipe, protocol, extra)",
                     is_write ? "write" : "read");
        return NULL;
    }
    ac_state *st = PyModule_GetState(mod);
    PyTypeObject *tp = is_write ? st->WritePipeTransportType
                                : st->ReadPipeTransportType;
    PyObject *self = tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    ac_transport *t = AC_TR(self);
    t->tr_read_fn = is_write ? peer_on_readable : read_on_readable;
    t->tr_write_fn = write_on_writable;
    if (pipe_setup(P(self), args[0], args[1], args[2], args[3], is_write) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

/* _core._read_pipe_transport(loop, pipe, protocol, extra) and
 * _core._write_pipe_transport(...): the transport, set up; the caller
 * schedules connection_made, _ac_start_reading and the waiter. */
static PyObject *
make_read_pipe(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    return make_pipe_transport(mod, args, nargs, 0);
}

static PyObject *
make_write_pipe(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    return make_pipe_transport(mod, args, nargs, 1);
}

static PyMethodDef pipe_functions[] = {
    {"_read_pipe_transport", (PyCFunction)(void (*)(void))make_read_pipe,
     METH_FASTCALL, NULL},
    {"_write_pipe_transport", (PyCFunction)(void (*)(void))make_write_pipe,
     METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

int
ac_pipe_init(PyObject *mod, ac_state *st)
{
    PyObject *rbase = ac_import_attr("asyncio.transports", "ReadTransport");
    if (rbase == NULL) {
        return -1;
    }
    st->ReadPipeTransportType = ac_transport_type_new(mod, &RPipe_spec, rbase);
    Py_DECREF(rbase);
    if (st->ReadPipeTransportType == NULL) {
        return -1;
    }
    PyObject *wbase = ac_import_attr("asyncio.transports", "WriteTransport");
    if (wbase == NULL) {
        return -1;
    }
    st->WritePipeTransportType = ac_transport_type_new(mod, &WPipe_spec, wbase);
    Py_DECREF(wbase);
    if (st->WritePipeTransportType == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(mod, pipe_functions);
}
