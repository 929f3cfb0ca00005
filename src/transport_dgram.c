/* transport_dgram.c -- _core.DatagramTransport: the transport of UDP and
 * Unix datagram sockets (asyncio's selector_events._SelectorDatagramTransport
 * of the running version is the specification; what every transport shares
 * is transport.c's).
 *
 * Reads: one recvfrom() per readiness into the module's scratch buffer, then
 * datagram_received(bytes of the received size, address).  The address is
 * built in C, as the socket module builds it, for AF_INET, AF_INET6 and
 * AF_UNIX; a socket of any other family is read with its own recvfrom().
 * Errors of the socket go to protocol.error_received(), anything else is a
 * fatal error.
 * Writes: sendto() tries to send at once while nothing is queued (send() on
 * the fd when the socket is connected, the socket's own sendto() method
 * otherwise: it converts the address); what would block is queued as
 * (bytes, address) pairs in a ring, sent when the fd is writable, with the
 * water marks of transport.c on the queued size (tr_wsize: the bytes of the
 * queued datagrams, plus AC_DGRAM_HEADER_SIZE each).
 *
 * Where asyncio is not followed to the letter: 3.13.0's asyncio adds the
 * 8 header bytes when it queues a datagram but does not take them off when
 * it sends it (CPython gh-135444, fixed later), and keeps its count after
 * abort(); here the size is always what is queued.  sendto() once
 * connection_lost has run raises AttributeError as asyncio's does (there,
 * by accident of self._sock being None), with a message that says so.
 * Datagrams queued by a sendto() between close() and connection_lost are
 * dropped when connection_lost runs (asyncio leaves its writer on a closed
 * socket). */
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

typedef struct {
    PyObject *data;     /* bytes */
    PyObject *addr;     /* where to: sendto()'s address (None if none) */
} dg_item;

typedef struct {
    ac_transport base;
    PyObject *dg_address;   /* create_datagram_endpoint's remote address, or
                               NULL (None) */
    dg_item *dg_q;          /* the queue: a ring of dg_cap items ... */
    Py_ssize_t dg_head;     /* ... dg_len of them from dg_head */
    Py_ssize_t dg_len;
    Py_ssize_t dg_cap;
    int dg_family;          /* AF_INET/AF_INET6/AF_UNIX: recvfrom() in C;
                               0: through the socket's recvfrom() */
} DgramObj;

#define D(o) ((DgramObj *)(o))
#define DG_READ_ERROR "Fatal read error on datagram transport"
#define DG_WRITE_ERROR "Fatal write error on datagram transport"

/* ---------------------------------------------------------------------
 * the queue (tr_wsize follows it) */

static Py_ssize_t
item_size(PyObject *data)
{
    return PyBytes_GET_SIZE(data) + AC_DGRAM_HEADER_SIZE;
}

static int
q_grow(DgramObj *d)
{
    if (d->dg_len < d->dg_cap) {
        return 0;
    }
    Py_ssize_t cap = d->dg_cap ? d->dg_cap * 2 : 16;
    if (cap > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(dg_item)) {
        PyErr_NoMemory();
        return -1;
    }
    dg_item *q = PyMem_Malloc((size_t)cap * sizeof(dg_item));
    if (q == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < d->dg_len; i++) {
        q[i] = d->dg_q[(d->dg_head + i) % d->dg_cap];
    }
    PyMem_Free(d->dg_q);
    d->dg_q = q;
    d->dg_head = 0;
    d->dg_cap = cap;
    return 0;
}

/* Steals data, not addr. */
static int
q_push_back(DgramObj *d, PyObject *data, PyObject *addr)
{
    if (q_grow(d) < 0) {
        Py_DECREF(data);
        return -1;
    }
    dg_item *it = &d->dg_q[(d->dg_head + d->dg_len) % d->dg_cap];
    it->data = data;
    it->addr = Py_NewRef(addr);
    d->dg_len++;
    d->base.tr_wsize += item_size(data);
    return 0;
}

/* Puts back what q_pop_front gave (steals both references). */
static int
q_push_front(DgramObj *d, dg_item it)
{
    if (q_grow(d) < 0) {
        Py_DECREF(it.data);
        Py_DECREF(it.addr);
        return -1;
    }
    d->dg_head = (d->dg_head + d->dg_cap - 1) % d->dg_cap;
    d->dg_q[d->dg_head] = it;
    d->dg_len++;
    d->base.tr_wsize += item_size(it.data);
    return 0;
}

/* The oldest item (the references go to the caller); the queue is not empty. */
static dg_item
q_pop_front(DgramObj *d)
{
    dg_item it = d->dg_q[d->dg_head];
    d->dg_head = (d->dg_head + 1) % d->dg_cap;
    d->dg_len--;
    d->base.tr_wsize -= item_size(it.data);
    if (d->dg_len == 0) {
        d->dg_head = 0;
    }
    return it;
}

/* Drops the queue (tr_clear_buffer: _force_close).  The queue is emptied
 * before the references go, whatever their release runs. */
static void
q_clear(ac_transport *t)
{
    DgramObj *d = (DgramObj *)t;
    dg_item *q = d->dg_q;
    Py_ssize_t head = d->dg_head, len = d->dg_len, cap = d->dg_cap;
    d->dg_q = NULL;
    d->dg_head = d->dg_len = d->dg_cap = 0;
    t->tr_wsize = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        dg_item *it = &q[(head + i) % cap];
        Py_DECREF(it->data);
        Py_DECREF(it->addr);
    }
    PyMem_Free(q);
}

/* ---------------------------------------------------------------------
 * protocol callbacks, errors */

/* protocol.error_received(exc) (exc borrowed); -1 with its exception. */
static int
error_received(ac_transport *t, PyObject *exc)
{
    if (t->tr_protocol == NULL) {
        return 0;
    }
    PyObject *r = PyObject_CallMethodOneArg(
        t->tr_protocol, AC_STATE_OF(t)->s_error_received, exc);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static int
err_would_block(void)
{
    return PyErr_ExceptionMatches(PyExc_BlockingIOError) ||
           PyErr_ExceptionMatches(PyExc_InterruptedError);
}

/* The current exception came out of sending or receiving (not blocking):
 * an OSError goes to error_received(), SystemExit and KeyboardInterrupt
 * stay set (-1), anything else is a fatal error.  -1 with an exception to
 * pass on (error_received() failed, or one that must leave the loop). */
static int
io_failed(ac_transport *t, const char *fatal_msg)
{
    if (PyErr_ExceptionMatches(PyExc_SystemExit) ||
        PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return -1;
    }
    if (!PyErr_ExceptionMatches(PyExc_OSError)) {
        return ac_transport_fatal_current(t, fatal_msg);
    }
    PyObject *exc = ac_err_take();
    int rc = error_received(t, exc);
    Py_DECREF(exc);
    return rc;
}

/* ---------------------------------------------------------------------
 * reading */

/* The address of a received datagram, as the socket module gives it. */
static PyObject *
make_addr(const struct sockaddr_storage *ss, socklen_t len)
{
    if (len == 0) {
        Py_RETURN_NONE;     /* an unnamed Unix socket */
    }
    char host[INET6_ADDRSTRLEN];
    switch (ss->ss_family) {
    case AF_INET: {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        if (inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host)) == NULL) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        return Py_BuildValue("(si)", host, (int)ntohs(a->sin_port));
    }
    case AF_INET6: {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host)) == NULL) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        return Py_BuildValue("(siII)", host, (int)ntohs(a->sin6_port),
                             (unsigned int)ntohl(a->sin6_flowinfo),
                             (unsigned int)a->sin6_scope_id);
    }
    case AF_UNIX: {
        const struct sockaddr_un *a = (const struct sockaddr_un *)ss;
        size_t n = len > offsetof(struct sockaddr_un, sun_path)
                       ? len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (n > sizeof(a->sun_path)) {
            n = sizeof(a->sun_path);
        }
        if (n > 0 && a->sun_path[0] == '\0') {  /* Linux abstract name */
            return PyBytes_FromStringAndSize(a->sun_path, (Py_ssize_t)n);
        }
        return PyUnicode_DecodeFSDefaultAndSize(
            a->sun_path, (Py_ssize_t)strnlen(a->sun_path, n));
    }
    default: {
        const struct sockaddr *a = (const struct sockaddr *)ss;
        return Py_BuildValue("(iy#)", (int)a->sa_family, a->sa_data,
                             (Py_ssize_t)sizeof(a->sa_data));
    }
    }
}

/* recvfrom() on the fd: 1 with *data and *addr, 0 nothing to read, -1 with
 * the exception it raised. */
static int
recv_c(ac_transport *t, PyObject **data, PyObject **addr)
{
    ac_state *st = AC_STATE_OF(t);
    if (ac_read_buf(st) == NULL) {
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    ssize_t n;
    for (;;) {
        memset(&ss, 0, sizeof(ss));
        len = sizeof(ss);
        n = recvfrom(t->tr_fd, st->read_buf, AC_READ_BUF_SIZE, 0,
                     (struct sockaddr *)&ss, &len);
        if (n >= 0 || errno != EINTR) {
            break;
        }
        if (PyErr_CheckSignals() < 0) {     /* as the socket module does */
            return -1;
        }
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    *data = PyBytes_FromStringAndSize(st->read_buf, n);
    if (*data == NULL) {
        return -1;
    }
    *addr = make_addr(&ss, len);
    if (*addr == NULL) {
        Py_CLEAR(*data);
        return -1;
    }
    return 1;
}

/* sock.recvfrom(max_size), for the families recv_c does not know. */
static int
recv_py(ac_transport *t, PyObject **data, PyObject **addr)
{
    PyObject *size = PyLong_FromLong(AC_READ_BUF_SIZE);
    if (size == NULL) {
        return -1;
    }
    PyObject *r = PyObject_CallMethodOneArg(t->tr_sock,
                                            AC_STATE_OF(t)->s_dg_recvfrom, size);
    Py_DECREF(size);
    if (r == NULL) {
        if (err_would_block()) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 2) {
        Py_DECREF(r);
        PyErr_SetString(PyExc_ValueError,
                        "recvfrom() did not return a (data, address) pair");
        return -1;
    }
    *data = Py_NewRef(PyTuple_GET_ITEM(r, 0));
    *addr = Py_NewRef(PyTuple_GET_ITEM(r, 1));
    Py_DECREF(r);
    return 1;
}

static int
dg_read_io(ac_transport *t)
{
    if (t->tr_conn_lost || t->tr_protocol == NULL || t->tr_sock == NULL) {
        return 0;
    }
    PyObject *data = NULL, *addr = NULL;
    int got = D(t)->dg_family ? recv_c(t, &data, &addr)
                              : recv_py(t, &data, &addr);
    if (got == 0) {
        return 0;
    }
    if (got < 0) {
        if (io_failed(t, DG_READ_ERROR) < 0) {
            return ac_transport_report_unexpected(t, "_read_ready");
        }
        return 0;
    }
    PyObject *r = PyObject_CallMethodObjArgs(
        t->tr_protocol, AC_STATE_OF(t)->s_datagram_received, data, addr, NULL);
    Py_DECREF(data);
    Py_DECREF(addr);
    if (r == NULL) {
        /* asyncio lets it out of _read_ready: the loop reports it */
        return ac_transport_report_unexpected(t, "_read_ready");
    }
    Py_DECREF(r);
    return 0;
}

static int
dg_on_readable(PyObject *self)
{
    return ac_transport_run_io(self, dg_read_io);
}

/* ---------------------------------------------------------------------
 * writing */

/* Sends one datagram (the socket is open): 0 sent, 1 it would block (no
 * exception), -1 with the exception raised. */
static int
send_one(DgramObj *d, PyObject *data, PyObject *addr)
{
    ac_transport *t = &d->base;
    ac_state *st = AC_STATE_OF(t);
    /* asyncio asks extra['peername'] each time */
    PyObject *peer = PyObject_GetItem(t->tr_extra, st->s_dg_peername);
    int connected = peer == NULL ? -1 : PyObject_IsTrue(peer);
    Py_XDECREF(peer);
    if (connected < 0) {
        return -1;
    }
    if (!connected) {
        /* the socket converts (and may resolve) the address */
        PyObject *r = PyObject_CallMethodObjArgs(t->tr_sock, st->s_dg_sendto,
                                                 data, addr, NULL);
        if (r != NULL) {
            Py_DECREF(r);
            return 0;
        }
        if (err_would_block()) {
            PyErr_Clear();
            return 1;
        }
        return -1;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    ssize_t n;
    int e;
    for (;;) {
        n = send(t->tr_fd, view.buf, (size_t)view.len, MSG_NOSIGNAL);
        e = errno;
        if (n >= 0 || e != EINTR) {
            break;
        }
        if (PyErr_CheckSignals() < 0) {
            PyBuffer_Release(&view);
            return -1;
        }
    }
    PyBuffer_Release(&view);
    if (n >= 0) {
        return 0;
    }
    if (e == EAGAIN || e == EWOULDBLOCK) {
        return 1;
    }
    errno = e;
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
}

/* asyncio's _call_connection_lost, after dropping what is still queued
 * (only a sendto() between close() and connection_lost can leave some: the
 * socket is about to go, and the loop must stop watching it). */
static int
dg_call_lost(ac_transport *t, PyObject *exc)
{
    if (D(t)->dg_len > 0) {
        q_clear(t);
        if (ac_transport_remove_writer(t) < 0) {
            return -1;
        }
    }
    return ac_transport_call_lost(t, exc);
}

/* _sendto_ready */
static int
dg_write_io(ac_transport *t)
{
    DgramObj *d = (DgramObj *)t;
    if (t->tr_sock == NULL || t->tr_protocol == NULL) {
        return 0;       /* connection_lost has run */
    }
    while (d->dg_len > 0) {
        dg_item it = q_pop_front(d);
        int rc = send_one(d, it.data, it.addr);
        if (rc == 1) {
            if (q_push_front(d, it) < 0) {  /* try again later */
                return ac_transport_report_unexpected(t, "_sendto_ready");
            }
            break;
        }
        if (rc < 0) {
            /* the datagram is dropped */
            rc = io_failed(t, DG_WRITE_ERROR);
            if (rc < 0) {
                rc = ac_transport_report_unexpected(t, "_sendto_ready");
            }
            PyObject *err = ac_err_take();
            Py_DECREF(it.data);
            Py_DECREF(it.addr);
            ac_err_give(err);
            return rc;
        }
        Py_DECREF(it.data);
        Py_DECREF(it.addr);
    }
    if (ac_transport_maybe_resume(t) < 0) {     /* may queue more */
        return -1;
    }
    if (d->dg_len > 0) {
        return 0;
    }
    if (ac_transport_remove_writer(t) < 0) {
        return ac_transport_report_unexpected(t, "_sendto_ready");
    }
    /* closing with the queue now empty; not when connection_lost is
     * already scheduled (close() found the queue empty, a sendto() queued
     * more before it ran) */
    if (t->tr_closing && !t->tr_conn_lost && dg_call_lost(t, NULL) < 0) {
        return ac_transport_report_unexpected(t, "_sendto_ready");
    }
    return 0;
}

static int
dg_on_writable(PyObject *self)
{
    return ac_transport_run_io(self, dg_write_io);
}

static PyObject *
Dgram_sendto(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
             PyObject *kwnames)
{
    static const char *const names[] = {"data", "addr"};
    PyObject *vals[2] = {NULL, Py_None};
    if (ac_parse_args("sendto", args, nargs, kwnames, names, 2, 2, 1,
                      vals) < 0) {
        return NULL;
    }
    ac_transport *t = AC_TR(op);
    DgramObj *d = D(op);
    PyObject *data = vals[0], *addr = vals[1];
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
#if !AC_DGRAM_SENDS_EMPTY
    int nonempty = PyObject_IsTrue(data);
    if (nonempty <= 0) {
        return nonempty < 0 ? NULL : Py_NewRef(Py_None);
    }
#endif
    int connected = 0;
    if (d->dg_address != NULL) {
        connected = PyObject_IsTrue(d->dg_address);
        if (connected < 0) {
            return NULL;
        }
    }
    if (connected) {
        /* addr not in (None, self._address) */
        int ok = PyObject_RichCompareBool(Py_None, addr, Py_EQ);
        if (ok == 0) {
            ok = PyObject_RichCompareBool(d->dg_address, addr, Py_EQ);
        }
        if (ok < 0) {
            return NULL;
        }
        if (!ok) {
            PyErr_Format(PyExc_ValueError,
                         "Invalid address: must be None or %S", d->dg_address);
            return NULL;
        }
        addr = d->dg_address;
    }
    if (t->tr_conn_lost && connected) {
        if (t->tr_conn_lost >= 5) {   /* LOG_THRESHOLD_FOR_CONNLOST_WRITES */
            PyObject *r = PyObject_CallMethod(AC_STATE_OF(op)->logger,
                                              "warning", "s",
                                              "socket.send() raised exception.");
            if (r == NULL) {
                return NULL;
            }
            Py_DECREF(r);
        }
        t->tr_conn_lost++;
        Py_RETURN_NONE;
    }
    /* the references the calls below may drop */
    Py_INCREF(data);
    Py_INCREF(addr);
    PyObject *res = NULL;
    if (d->dg_len == 0) {
        if (t->tr_sock == NULL) {
            /* connection_lost has run: asyncio fails with an AttributeError
             * (self._sock and self._loop are None) */
            PyErr_SetString(PyExc_AttributeError,
                            "sendto() on a transport whose connection_lost() "
                            "has run");
            goto done;
        }
        int rc = send_one(d, data, addr);
        if (rc == 0) {
            res = Py_NewRef(Py_None);
            goto done;
        }
        if (rc < 0) {
            if (io_failed(t, DG_WRITE_ERROR) == 0) {
                res = Py_NewRef(Py_None);
            }
            goto done;
        }
        if (ac_transport_add_writer(t) < 0) {
            goto done;
        }
    }
    /* queue an immutable copy */
    PyObject *copy = PyBytes_CheckExact(data) ? Py_NewRef(data)
                                              : PyBytes_FromObject(data);
    if (copy == NULL) {
        goto done;
    }
#if AC_DGRAM_HEADER_SIZE == 0
    if (PyBytes_GET_SIZE(copy) == 0) {
        /* a true memoryview of no bytes (shape (n, 0)): it would count for
         * nothing in the queue's size, which must stay > 0 while the queue
         * is not empty */
        Py_DECREF(copy);
        res = Py_NewRef(Py_None);
        goto done;
    }
#endif
    if (q_push_back(d, copy, addr) < 0 || ac_transport_maybe_pause(t) < 0) {
        goto done;
    }
    res = Py_NewRef(Py_None);
done:
    Py_DECREF(data);
    Py_DECREF(addr);
    return res;
}

static PyObject *
Dgram_call_connection_lost(PyObject *op, PyObject *exc)
{
    if (dg_call_lost(AC_TR(op), exc == Py_None ? NULL : exc) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------
 * type */

static int
Dgram_traverse(PyObject *op, visitproc visit, void *arg)
{
    DgramObj *d = D(op);
    Py_VISIT(d->dg_address);
    for (Py_ssize_t i = 0; i < d->dg_len; i++) {
        dg_item *it = &d->dg_q[(d->dg_head + i) % d->dg_cap];
        Py_VISIT(it->data);
        Py_VISIT(it->addr);
    }
    return ac_transport_traverse(AC_TR(op), visit, arg);
}

static int
Dgram_clear(PyObject *op)
{
    q_clear(AC_TR(op));
    Py_CLEAR(D(op)->dg_address);
    ac_transport_clear(AC_TR(op));
    return 0;
}

static void
Dgram_dealloc(PyObject *op)
{
    ac_transport_dealloc(op, Dgram_clear);
}

static PyObject *
Dgram_get_buffer_size(PyObject *op, void *c)
{
    return PyLong_FromSsize_t(AC_TR(op)->tr_wsize);
}

static PyObject *
Dgram_get_max_size(PyObject *op, void *c)
{
    return PyLong_FromLong(AC_READ_BUF_SIZE);
}

static PyGetSetDef Dgram_getset[] = {
    {"_buffer_size", Dgram_get_buffer_size, NULL, NULL, NULL},
    {"max_size", Dgram_get_max_size, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Dgram_members[] = {
    {"_address", AC_T_OBJECT, offsetof(DgramObj, dg_address), AC_READONLY,
     NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef Dgram_methods[] = {
    {"sendto", (PyCFunction)(void (*)(void))Dgram_sendto,
     METH_FASTCALL | METH_KEYWORDS, NULL},
    {"_call_connection_lost", Dgram_call_connection_lost, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Dgram_slots[] = {
    {Py_tp_doc, "The transport of a UDP or Unix datagram socket."},
    {Py_tp_methods, Dgram_methods},
    {Py_tp_members, Dgram_members},
    {Py_tp_getset, Dgram_getset},
    {Py_tp_traverse, Dgram_traverse},
    {Py_tp_clear, Dgram_clear},
    {Py_tp_dealloc, Dgram_dealloc},
    {0, NULL},
};

static PyType_Spec Dgram_spec = {
    .name = "asyncio_c._core.DatagramTransport",
    .basicsize = sizeof(DgramObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Dgram_slots,
};

/* The families whose addresses make_addr builds (0: another one). */
static int
socket_family(int fd)
{
#ifdef SO_DOMAIN
    int fam = 0;
    socklen_t len = sizeof(fam);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &fam, &len) == 0 &&
        (fam == AF_INET || fam == AF_INET6 || fam == AF_UNIX)) {
        return fam;
    }
#endif
    return 0;
}

/* _core._datagram_transport(loop, sock, protocol, address, extra): the
 * transport, set up; the caller schedules connection_made & co. */
static PyObject *
make_datagram_transport(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "_datagram_transport(loop, sock, protocol, address, "
                        "extra)");
        return NULL;
    }
    ac_state *st = PyModule_GetState(mod);
    PyObject *self = ac_transport_new(st->DatagramTransportType,
                                      dg_on_readable, dg_on_writable, args[0],
                                      args[1], args[2], args[4], NULL);
    if (self == NULL) {
        return NULL;
    }
    ac_transport *t = AC_TR(self);
    t->tr_clear_buffer = q_clear;
    if (args[3] != Py_None) {
        D(self)->dg_address = Py_NewRef(args[3]);
    }
    D(self)->dg_family = socket_family(t->tr_fd);
    return self;
}

static PyMethodDef dgram_functions[] = {
    {"_datagram_transport", (PyCFunction)(void (*)(void))make_datagram_transport,
     METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

int
ac_dgram_init(PyObject *mod, ac_state *st)
{
#define INTERN(field, text)                                     \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) \
        return -1;
    INTERN(s_datagram_received, "datagram_received");
    INTERN(s_error_received, "error_received");
    INTERN(s_dg_sendto, "sendto");
    INTERN(s_dg_recvfrom, "recvfrom");
    INTERN(s_dg_peername, "peername");
#undef INTERN
    PyObject *base = ac_import_attr("asyncio.transports", "DatagramTransport");
    if (base == NULL) {
        return -1;
    }
    st->DatagramTransportType = ac_transport_type_new(mod, &Dgram_spec, base);
    Py_DECREF(base);
    if (st->DatagramTransportType == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(mod, dgram_functions);
}
