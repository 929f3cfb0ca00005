/* transport_stream.c -- _core.SocketTransport: the stream transport of TCP
 * and Unix sockets (asyncio's selector_events._SelectorSocketTransport of
 * the running version is the specification).
 *
 * Reads: one recv() per readiness into the module's scratch buffer, then a
 * bytes object of the received size for data_received(); a BufferedProtocol
 * gets recv() straight into the buffer its get_buffer() returns.
 * Writes: tried at once; what the kernel does not take goes to one
 * contiguous buffer, flushed with send() when the fd is writable, with the
 * water marks of transport.c.  recv/send are called directly on the fd
 * (the socket is non-blocking) with the GIL held. */
#include "transport.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static int
would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* ---------------------------------------------------------------------
 * reading */

static int
stream_on_eof(ac_transport *t)
{
    ac_state *st = AC_STATE_OF(t);
    if (ac_transport_log(t, "debug", "%r received EOF", NULL, NULL) < 0) {
        return ac_transport_report_unexpected(t, "_read_ready");
    }
    PyObject *keep = PyObject_CallMethodNoArgs(t->tr_protocol,
                                               st->s_eof_received);
    int b = keep == NULL ? -1 : PyObject_IsTrue(keep);
    Py_XDECREF(keep);
    if (b < 0) {
        return ac_transport_fatal_current(
            t, "Fatal error: protocol.eof_received() call failed.");
    }
    if (b) {
        /* the protocol may still write, but nothing more can be read */
        return ac_transport_remove_reader(t);
    }
    PyObject *r = PyObject_CallMethodNoArgs((PyObject *)t, st->s_close);
    if (r == NULL) {
        return ac_transport_report_unexpected(t, "_read_ready");
    }
    Py_DECREF(r);
    return 0;
}

static int
read_error(ac_transport *t, int e)
{
    errno = e;
    PyErr_SetFromErrno(PyExc_OSError);
    return ac_transport_fatal_current(t, "Fatal read error on socket transport");
}

static int
stream_read_data(ac_transport *t)
{
    ac_state *st = AC_STATE_OF(t);
    if (ac_read_buf(st) == NULL) {
        return ac_transport_fatal_current(
            t, "Fatal read error on socket transport");
    }
    ssize_t n = recv(t->tr_fd, st->read_buf, AC_READ_BUF_SIZE, 0);
    if (n < 0) {
        return would_block(errno) ? 0 : read_error(t, errno);
    }
    if (n == 0) {
        return stream_on_eof(t);
    }
    PyObject *data = PyBytes_FromStringAndSize(st->read_buf, n);
    if (data == NULL) {
        return ac_transport_fatal_current(t, "Fatal read error on socket transport");
    }
    PyObject *r = PyObject_CallMethodOneArg(t->tr_protocol, st->s_data_received,
                                            data);
    Py_DECREF(data);
    if (r == NULL) {
        return ac_transport_fatal_current(
            t, "Fatal error: protocol.data_received() call failed.");
    }
    Py_DECREF(r);
    return 0;
}

static int
stream_read_buffered(ac_transport *t)
{
    ac_state *st = AC_STATE_OF(t);
    static const char get_failed[] =
        "Fatal error: protocol.get_buffer() call failed.";
    PyObject *minus1 = PyLong_FromLong(-1);
    if (minus1 == NULL) {
        return ac_transport_fatal_current(t, get_failed);
    }
    PyObject *buf = PyObject_CallMethodOneArg(t->tr_protocol, st->s_get_buffer,
                                              minus1);
    Py_DECREF(minus1);
    if (buf == NULL) {
        return ac_transport_fatal_current(t, get_failed);
    }
    Py_ssize_t len = PyObject_Size(buf);
    if (len <= 0) {
        Py_DECREF(buf);
        if (len == 0) {
            PyErr_SetString(PyExc_RuntimeError,
                            "get_buffer() returned an empty buffer");
        }
        return ac_transport_fatal_current(t, get_failed);
    }
    Py_buffer view;
    if (PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE) < 0) {
        /* what socket.recv_into() raises for it */
        PyObject *name = PyType_GetName(Py_TYPE(buf));
        PyErr_Clear();
        if (name != NULL) {
            PyErr_Format(PyExc_TypeError, "recv_into() argument 'buffer' must be "
                         "read-write bytes-like object, not %U", name);
            Py_DECREF(name);
        }
        Py_DECREF(buf);
        return ac_transport_fatal_current(t, "Fatal read error on socket transport");
    }
    ssize_t n = recv(t->tr_fd, view.buf, (size_t)view.len, 0);
    int e = errno;
    PyBuffer_Release(&view);
    Py_DECREF(buf);
    if (n < 0) {
        return would_block(e) ? 0 : read_error(t, e);
    }
    if (n == 0) {
        return stream_on_eof(t);
    }
    PyObject *nb = PyLong_FromSsize_t(n);
    PyObject *r = nb == NULL ? NULL : PyObject_CallMethodOneArg(
        t->tr_protocol, st->s_buffer_updated, nb);
    Py_XDECREF(nb);
    if (r == NULL) {
        return ac_transport_fatal_current(
            t, "Fatal error: protocol.buffer_updated() call failed.");
    }
    Py_DECREF(r);
    return 0;
}

static int
stream_read_io(ac_transport *t)
{
    if (t->tr_conn_lost || t->tr_protocol == NULL) {
        return 0;
    }
    return t->tr_buffered ? stream_read_buffered(t) : stream_read_data(t);
}

static int
stream_on_readable(PyObject *self)
{
    return ac_transport_run_io(self, stream_read_io);
}

/* ---------------------------------------------------------------------
 * writing */

static int
waiter_call(ac_transport *t, PyObject *name, PyObject *arg)
{
    if (t->tr_empty_waiter == NULL) {
        return 0;
    }
    PyObject *w = Py_NewRef(t->tr_empty_waiter);
    PyObject *r = PyObject_CallMethodOneArg(w, name, arg);
    Py_DECREF(w);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static int
shutdown_write(ac_transport *t)
{
    PyObject *r = PyObject_CallMethod(t->tr_sock, "shutdown", "i", SHUT_WR);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static int
stream_write_io(ac_transport *t)
{
    ac_state *st = AC_STATE_OF(t);
    if (t->tr_conn_lost || t->tr_wsize == 0) {
        return 0;
    }
    Py_ssize_t len;
    const char *p = ac_wbuf_peek(t, &len);
    ssize_t n = send(t->tr_fd, p, (size_t)len, MSG_NOSIGNAL);
    if (n < 0) {
        if (would_block(errno)) {
            return 0;
        }
        PyErr_SetFromErrno(PyExc_OSError);
        if (ac_transport_remove_writer(t) < 0) {
            return ac_transport_report_unexpected(t, "_write_ready");
        }
        ac_wbuf_clear(t);
        PyObject *exc = ac_err_take();
        int rc = ac_transport_fatal_error(t, exc,
                                          "Fatal write error on socket transport");
        if (rc == 0 && waiter_call(t, st->s_set_exception, exc) < 0) {
            rc = ac_transport_report_unexpected(t, "_write_ready");
        }
        Py_DECREF(exc);
        return rc;
    }
    ac_wbuf_consume(t, n);
    if (ac_transport_maybe_resume(t) < 0) {     /* may write more */
        return -1;
    }
    if (t->tr_wsize > 0) {
        return 0;
    }
    if (ac_transport_remove_writer(t) < 0 ||
        waiter_call(t, st->s_set_result, Py_None) < 0) {
        return ac_transport_report_unexpected(t, "_write_ready");
    }
    if (t->tr_closing) {
        if (ac_transport_call_lost(t, NULL) < 0) {
            return ac_transport_report_unexpected(t, "_write_ready");
        }
    }
    else if (t->tr_eof && shutdown_write(t) < 0) {
        return ac_transport_report_unexpected(t, "_write_ready");
    }
    return 0;
}

static int
stream_on_writable(PyObject *self)
{
    return ac_transport_run_io(self, stream_write_io);
}

/* write()'s checks, in asyncio's order; 1 go on, 0 nothing to do, -1 error.
 * `what` is "write" or "writelines". */
static int
write_checks(ac_transport *t, const char *what)
{
    if (t->tr_eof) {
        PyErr_Format(PyExc_RuntimeError, "Cannot call %s() after write_eof()",
                     what);
        return -1;
    }
    if (t->tr_empty_waiter != NULL) {
        PyErr_Format(PyExc_RuntimeError,
                     "unable to %s; sendfile is in progress", what);
        return -1;
    }
    return 1;
}

/* A write on a lost connection: counted, and logged past a threshold. */
static int
write_after_lost(ac_transport *t)
{
    if (t->tr_conn_lost >= 5) {     /* constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES */
        ac_state *st = AC_STATE_OF(t);
        PyObject *r = PyObject_CallMethod(st->logger, "warning", "s",
                                          "socket.send() raised exception.");
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
    }
    t->tr_conn_lost++;
    return 0;
}

/* Sends what it can of p[0:n] now (the buffer is empty), buffers the rest. */
static int
write_bytes(ac_transport *t, PyObject *obj, const char *p, Py_ssize_t n)
{
    if (t->tr_wsize == 0) {
        ssize_t k = send(t->tr_fd, p, (size_t)n, MSG_NOSIGNAL);
        if (k < 0) {
            if (!would_block(errno)) {
                PyErr_SetFromErrno(PyExc_OSError);
                PyObject *exc = ac_err_take();
                int rc = ac_transport_fatal_error(
                    t, exc, "Fatal write error on socket transport");
                Py_DECREF(exc);
                return rc;
            }
            k = 0;
        }
        if (k == n) {
            return 0;
        }
        p += k;
        n -= k;
        if (ac_transport_add_writer(t) < 0) {
            return -1;
        }
    }
    if (ac_wbuf_append(t, obj, p, n) < 0) {
        return -1;
    }
    return ac_transport_maybe_pause(t);
}

/* data (one of the bytes-like types, or every item of a writelines() list)
 * is not one contiguous block, so PyObject_GetBuffer() failed: asyncio
 * finds that out when socket.send()/sendmsg() refuses it inside its try,
 * a fatal write error.  An empty object or a lost connection come first, as
 * in asyncio's write().  Returns None, or NULL for another error. */
static PyObject *
write_unsendable(ac_transport *t, PyObject *data)
{
    if (!PyErr_ExceptionMatches(PyExc_BufferError)) {
        return NULL;
    }
    PyObject *exc = ac_err_take();
    Py_ssize_t len = data == NULL ? 1 : PyObject_Size(data);
    int rc = len < 0 ? -1 : 0;
    if (len > 0) {
        rc = t->tr_conn_lost ? write_after_lost(t)
                             : ac_transport_fatal_error(
                                   t, exc, "Fatal write error on socket transport");
    }
    Py_DECREF(exc);
    return rc < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
Stream_write(PyObject *op, PyObject *data)
{
    ac_transport *t = AC_TR(op);
    if (!PyBytes_Check(data) && !PyByteArray_Check(data) &&
        !PyMemoryView_Check(data)) {
        PyObject *name = PyType_GetName(Py_TYPE(data));
        if (name != NULL) {
            PyErr_Format(PyExc_TypeError,
                         "data argument must be a bytes-like object, not %R",
                         name);
            Py_DECREF(name);
        }
        return NULL;
    }
    if (write_checks(t, "write") < 0) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return write_unsendable(t, data);
    }
    int rc = 0;
    if (view.len > 0) {
        rc = t->tr_conn_lost ? write_after_lost(t)
                             : write_bytes(t, data, view.buf, view.len);
    }
    PyBuffer_Release(&view);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

#if AC_WRITELINES_JOINS
/* 3.11: asyncio.WriteTransport.writelines(): write(b"".join(list_of_data)) */
static PyObject *
Stream_writelines(PyObject *op, PyObject *list_of_data)
{
    PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
    if (empty == NULL) {
        return NULL;
    }
    PyObject *data = PyObject_CallMethod(empty, "join", "O", list_of_data);
    Py_DECREF(empty);
    if (data == NULL) {
        return NULL;
    }
    PyObject *r = Stream_write(op, data);
    Py_DECREF(data);
    return r;
}
#else
/* 3.12+: every item taken as a buffer first (one that is not fails the call
 * with nothing written), then sent at once as far as the kernel takes it */
static PyObject *
Stream_writelines(PyObject *op, PyObject *list_of_data)
{
    ac_transport *t = AC_TR(op);
    if (write_checks(t, "writelines") < 0) {
        return NULL;
    }
    int nonempty = PyObject_IsTrue(list_of_data);
    if (nonempty <= 0) {
        return nonempty < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *seq = PySequence_List(list_of_data);  /* TypeError as asyncio's */
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_buffer *views = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_buffer));
    Py_ssize_t got = 0;
    int rc = views == NULL ? -1 : 0;
    if (views == NULL) {
        PyErr_NoMemory();
    }
    PyObject *unsendable = NULL;
    for (; rc == 0 && got < n; got++) {
        if (PyObject_GetBuffer(items[got], &views[got], PyBUF_SIMPLE) < 0) {
            rc = -1;
            if (PyErr_ExceptionMatches(PyExc_BufferError) &&
                PyMemoryView_Check(items[got])) {
                /* asyncio took memoryview(item) and fails later, in sendmsg */
                unsendable = write_unsendable(t, NULL);
                rc = unsendable == NULL ? -1 : 0;
            }
            break;
        }
    }
    if (unsendable != NULL) {
        /* reported and closed by write_unsendable */
    }
    else if (rc == 0 && t->tr_conn_lost) {
        rc = write_after_lost(t);
    }
    else if (rc == 0) {
        int was_empty = t->tr_wsize == 0;
        for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
            rc = ac_wbuf_append(t, views[i].obj, views[i].buf, views[i].len);
        }
        /* asyncio tries to write at once and watches the fd for the rest */
        if (rc == 0 && was_empty) {
            rc = stream_write_io(t);
        }
        if (rc == 0 && t->tr_wsize > 0 && !t->tr_conn_lost) {
            rc = ac_transport_add_writer(t);
        }
    }
    for (Py_ssize_t i = 0; i < got; i++) {
        PyBuffer_Release(&views[i]);
    }
    PyMem_Free(views);
    Py_DECREF(seq);
    Py_XDECREF(unsendable);
    return rc < 0 ? NULL : Py_NewRef(Py_None);
}
#endif

static PyObject *
Stream_write_eof(PyObject *op, PyObject *unused)
{
    ac_transport *t = AC_TR(op);
    if (t->tr_closing || t->tr_eof) {
        Py_RETURN_NONE;
    }
    t->tr_eof = 1;
    if (t->tr_wsize == 0 && shutdown_write(t) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Stream_can_write_eof(PyObject *op, PyObject *unused)
{
    Py_RETURN_TRUE;
}

static PyObject *
Stream_make_empty_waiter(PyObject *op, PyObject *unused)
{
    ac_transport *t = AC_TR(op);
    ac_state *st = AC_STATE_OF(op);
    if (t->tr_empty_waiter != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Empty waiter is already set");
        return NULL;
    }
    if (t->tr_loop == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "transport is closed");
        return NULL;
    }
    PyObject *w = PyObject_CallMethodNoArgs(t->tr_loop, st->s_create_future);
    if (w == NULL) {
        return NULL;
    }
    t->tr_empty_waiter = Py_NewRef(w);
    if (t->tr_wsize == 0) {
        PyObject *r = PyObject_CallMethodOneArg(w, st->s_set_result, Py_None);
        if (r == NULL) {
            Py_DECREF(w);
            return NULL;
        }
        Py_DECREF(r);
    }
    return w;
}

static PyObject *
Stream_reset_empty_waiter(PyObject *op, PyObject *unused)
{
    Py_CLEAR(AC_TR(op)->tr_empty_waiter);
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------
 * type */

static PyMethodDef Stream_methods[] = {
    {"write", Stream_write, METH_O, NULL},
    {"writelines", Stream_writelines, METH_O, NULL},
    {"write_eof", Stream_write_eof, METH_NOARGS, NULL},
    {"can_write_eof", Stream_can_write_eof, METH_NOARGS, NULL},
    {"_make_empty_waiter", Stream_make_empty_waiter, METH_NOARGS, NULL},
    {"_reset_empty_waiter", Stream_reset_empty_waiter, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Stream_slots[] = {
    {Py_tp_doc, "The transport of a TCP or Unix stream socket."},
    {Py_tp_methods, Stream_methods},
    {Py_tp_traverse, ac_transport_tp_traverse},
    {Py_tp_clear, ac_transport_tp_clear},
    {Py_tp_dealloc, ac_transport_tp_dealloc},
    {0, NULL},
};

static PyType_Spec Stream_spec = {
    .name = "asyncio_c._core.SocketTransport",
    .basicsize = sizeof(ac_transport),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Stream_slots,
};

/* _core._socket_transport(loop, sock, protocol, extra, server): the
 * transport, set up; the caller schedules connection_made & co. */
static PyObject *
make_socket_transport(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "_socket_transport(loop, sock, protocol, extra, server)");
        return NULL;
    }
    ac_state *st = PyModule_GetState(mod);
    return ac_transport_new(st->SocketTransportType, stream_on_readable,
                            stream_on_writable, args[0], args[1], args[2],
                            args[3], args[4]);
}

static PyMethodDef stream_functions[] = {
    {"_socket_transport", (PyCFunction)(void (*)(void))make_socket_transport,
     METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

int
ac_stream_init(PyObject *mod, ac_state *st)
{
    PyObject *base = ac_import_attr("asyncio.transports", "Transport");
    if (base == NULL) {
        return -1;
    }
    st->SocketTransportType = ac_transport_type_new(mod, &Stream_spec, base);
    Py_DECREF(base);
    if (st->SocketTransportType == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(mod, stream_functions);
}
