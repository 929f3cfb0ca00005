/* transport.h -- what the C transports share (implemented in transport.c).
 *
 * Every transport type is a C type whose bases are _core.TransportBase and
 * one of asyncio's transport classes (Transport, DatagramTransport,
 * ReadTransport, WriteTransport), so isinstance() checks against asyncio's
 * classes hold.  TransportBase derives from asyncio.transports.
 * _FlowControlMixin (asyncio's own code checks for it: loop.sendfile's
 * fallback), so its instances start with that class's layout: the object
 * header, BaseTransport's one __slots__ member (_extra: get_extra_info() is
 * asyncio's own and reads our tr_extra field) and the mixin's four.
 *
 * TransportBase owns: the fields below, the loop's `_transports` entry and
 * the Server's _attach/_detach, reading on/off (pause_reading,
 * resume_reading, is_reading), write flow control (water marks,
 * pause_writing/resume_writing), close/abort/_force_close/_fatal_error and
 * connection_lost exactly once (asyncio's selector_events._SelectorTransport
 * semantics), the ResourceWarning of an unclosed transport, GC.  A kind
 * (stream, datagram, pipe) adds its reading and writing, and overrides a
 * method where asyncio's class for that kind differs. */
#ifndef AC_TRANSPORT_H
#define AC_TRANSPORT_H

#include "state.h"

typedef struct ac_transport ac_transport;

/* The byte write buffer of the stream and write-pipe transports: the
 * rest of head (a bytes object, from hoff) if there is one, then bytes
 * [start, end) of buf, one contiguous PyMem block.  A large bytes object
 * that arrives when the buffer is empty is kept by reference (bytes are
 * immutable), not copied: communicate(input) of 100 MiB copies nothing. */
typedef struct {
    PyObject *head;
    Py_ssize_t hoff;
    char *buf;
    Py_ssize_t start;
    Py_ssize_t end;
    Py_ssize_t cap;
} ac_wbuf;

struct ac_transport {
    PyObject_HEAD
    PyObject *tr_extra;         /* asyncio.BaseTransport's _extra slot: the
                                   first field, at the offset Python gave it */
    PyObject *tr_fcm_slots[4];  /* transports._FlowControlMixin's four
                                   __slots__ (_loop, _high_water, ...): kept
                                   NULL; TransportBase's own attributes of
                                   those names shadow them */
    PyObject *tr_loop;          /* NULL once connection_lost has run */
    PyObject *tr_protocol;
    PyObject *tr_sock;          /* socket or pipe object; NULL once closed */
    PyObject *tr_server;        /* asyncio.Server, or NULL */
    PyObject *tr_context;       /* the context fd callbacks run in (copied at
                                   creation, as asyncio's reader Handle) */
    PyObject *tr_empty_waiter;  /* loop.sendfile's future, or NULL */
    PyObject *tr_weakreflist;
    PyObject *tr_dict;          /* instance attributes (asyncio's transports
                                   are plain Python objects: code and tests
                                   set attributes and patch methods) */
    ac_wbuf tr_wb;              /* stream and write pipe: what waits to be
                                   written (the datagram kind has a queue) */
    ac_io_fn tr_read_fn;        /* what readiness to read calls (kind's) */
    ac_io_fn tr_write_fn;       /* what readiness to write calls */
    void (*tr_clear_buffer)(ac_transport *t);  /* drops what waits to be
                                   written (_force_close); NULL: tr_wb's */
    Py_ssize_t tr_high;         /* write water marks */
    Py_ssize_t tr_low;
    Py_ssize_t tr_wsize;        /* bytes waiting to be written (the
                                   ac_wbuf_* functions keep it up to date;
                                   a kind with its own queue does) */
    int tr_fd;
    int tr_conn_lost;           /* >0 once connection_lost is scheduled */
    char tr_closing;
    char tr_paused;             /* pause_reading() */
    char tr_protocol_paused;    /* pause_writing() was called */
    char tr_protocol_connected;
    char tr_eof;                /* write_eof() was called */
    char tr_buffered;           /* the protocol is a BufferedProtocol */
};

#define AC_TR(o) ((ac_transport *)(o))

/* Creates _core.TransportBase (and the module state's transport fields). */
int ac_transport_init(PyObject *mod, ac_state *st);
/* Each kind adds its type to the module (after ac_transport_init). */
int ac_stream_init(PyObject *mod, ac_state *st);      /* transport_stream.c */
int ac_dgram_init(PyObject *mod, ac_state *st);       /* transport_dgram.c */
int ac_pipe_init(PyObject *mod, ac_state *st);        /* transport_pipe.c */
/* Not transports, but on the same fd watchers: */
int ac_server_init(PyObject *mod, ac_state *st);      /* server.c */
int ac_sock_init(PyObject *mod, ac_state *st);        /* sock.c */

/* recv() goes through one scratch buffer of this size in the module state
 * (asyncio's max_size), copied into a bytes object of the received size. */
#define AC_READ_BUF_SIZE (256 * 1024)
/* That buffer (allocated at first use), or NULL with MemoryError. */
char *ac_read_buf(ac_state *st);

/* A transport type: spec's slots/methods on bases (TransportBase, asyncio's
 * class).  The spec's basicsize is the kind's struct, which embeds
 * ac_transport first.  Not instantiable from Python. */
PyTypeObject *ac_transport_type_new(PyObject *mod, PyType_Spec *spec,
                                    PyObject *asyncio_base);

/* Fills the common part of a freshly allocated transport (asyncio's
 * _SelectorTransport.__init__): extra dict (`extra` itself, or a new
 * one; the kind fills it), loop, sock (fd = sock.fileno()), protocol (set_protocol), server
 * (_attach), the context, the water marks (64 KiB / 16 KiB), and
 * loop._transports[fd] = self.  0, or -1 with an exception. */
int ac_transport_setup(ac_transport *t, PyObject *loop, PyObject *sock,
                       PyObject *protocol, PyObject *extra, PyObject *server);

/* A new transport of type tp (a socket kind) with its fd callbacks,
 * allocated and set up (ac_transport_setup); on failure the socket is left
 * to its owner. */
PyObject *ac_transport_new(PyTypeObject *tp, ac_io_fn read_fn,
                           ac_io_fn write_fn, PyObject *loop, PyObject *sock,
                           PyObject *protocol, PyObject *extra,
                           PyObject *server);

/* Start/stop watching the fd; reading only while is_reading(). */
int ac_transport_add_reader(ac_transport *t);
int ac_transport_remove_reader(ac_transport *t);
int ac_transport_add_writer(ac_transport *t);
int ac_transport_remove_writer(ac_transport *t);

/* asyncio's _fatal_error(exc, message): an OSError is only logged in debug
 * mode, anything else goes to the loop's exception handler; then
 * _force_close(exc).  Borrows exc.  -1 only for an exception that must
 * leave the loop. */
int ac_transport_fatal_error(ac_transport *t, PyObject *exc, const char *msg);
/* Fetches the current exception: SystemExit/KeyboardInterrupt are put back
 * and -1 returned; anything else goes to ac_transport_fatal_error. */
int ac_transport_fatal_current(ac_transport *t, const char *msg);
/* asyncio's _force_close(exc) (exc borrowed, may be NULL = None). */
int ac_transport_force_close(ac_transport *t, PyObject *exc);
/* Schedules _call_connection_lost(exc) with loop.call_soon. */
int ac_transport_schedule_lost(ac_transport *t, PyObject *exc);
/* _call_connection_lost(exc) now (exc borrowed, NULL = None). */
int ac_transport_call_lost(ac_transport *t, PyObject *exc);

/* fn(t) in the transport's context: what a C fd callback runs. */
int ac_transport_run_io(PyObject *self, int (*fn)(ac_transport *t));
/* The current exception, raised by something other than the protocol in a
 * fd callback, goes to the exception handler as asyncio's Handle would
 * report it ("Exception in callback <t>.<where>()"); -1 for SystemExit and
 * KeyboardInterrupt (left set). */
int ac_transport_report_unexpected(ac_transport *t, const char *where);

/* tr_wb: append p[0:n], which lies in the buffer of obj (NULL: unknown):
 * a copy, or a reference to obj if it is bytes, large, and the buffer is
 * empty; the first contiguous block to write (*n bytes); drop the first n
 * bytes (n <= that block); drop all. */
int ac_wbuf_append(ac_transport *t, PyObject *obj, const char *p, Py_ssize_t n);
const char *ac_wbuf_peek(ac_transport *t, Py_ssize_t *n);
/* All that waits to be written, as a new bytearray. */
PyObject *ac_wbuf_copy(ac_transport *t);
void ac_wbuf_consume(ac_transport *t, Py_ssize_t n);
void ac_wbuf_clear(ac_transport *t);

/* _maybe_pause_protocol / _maybe_resume_protocol on tr_wsize. */
int ac_transport_maybe_pause(ac_transport *t);
int ac_transport_maybe_resume(ac_transport *t);

/* Reports {'message', 'exception', 'transport', 'protocol'} to the loop's
 * exception handler.  -1 only for SystemExit/KeyboardInterrupt. */
int ac_transport_report(ac_transport *t, const char *msg, PyObject *exc);

/* Whether the loop is in debug mode (0/1, -1 error). */
int ac_transport_debug(ac_transport *t);
/* In debug mode only: asyncio's logger.<level>(fmt, t[, arg]), with
 * exc_info=exc when exc is not NULL.  0, or -1 with an exception. */
int ac_transport_log(ac_transport *t, const char *level, const char *fmt,
                     PyObject *arg, PyObject *exc);

/* The common part of tp_traverse / tp_clear / tp_dealloc of each kind. */
int ac_transport_traverse(ac_transport *t, visitproc visit, void *arg);
void ac_transport_clear(ac_transport *t);
/* Frees t (untrack, finalizer with the ResourceWarning, weakrefs, clear). */
void ac_transport_dealloc(PyObject *self, inquiry clear);

/* The slots of a kind with no object fields of its own (the spec of a GC
 * type must name a traverse function). */
int ac_transport_tp_traverse(PyObject *op, visitproc visit, void *arg);
int ac_transport_tp_clear(PyObject *op);
void ac_transport_tp_dealloc(PyObject *op);

/* Default tp_finalize: "unclosed transport" ResourceWarning if the
 * socket is still open; closes it and detaches from the server. */
void ac_transport_finalize(PyObject *self);

#endif /* AC_TRANSPORT_H */
