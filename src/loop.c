/* loop.c -- _core.Loop: the C core of asyncio_c's event loop.
 *
 * Owns the ready queue (a ring of C records), the timer heap (TimerHandles,
 * cancelled in O(log n)) and the epoll poller with its fd -> reader/writer
 * table, and runs one iteration of the loop (_run_once) with the GIL
 * released around epoll_wait.  The Python class asyncio_c.Loop puts this
 * type first in its bases, before asyncio's unix selector loop, so the
 * scheduling core here replaces asyncio's while everything not yet native
 * (run_forever's bookkeeping, signals, executor, sockets, subprocesses)
 * is asyncio's own code running on top of it.  The attributes that code
 * reads and writes (_closed, _debug, _stopping, _thread_id,
 * _clock_resolution, _task_factory) are C fields behind data descriptors. */
#include "state.h"
#include <errno.h>
#include <math.h>
#include <time.h>

#define L(o) ((LoopObj *)(o))
#define AC_MAX_EVENTS 256
#define AC_MAX_SELECT_TIMEOUT (24.0 * 3600.0)

static inline double
mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
check_closed(LoopObj *self)
{
    if (self->loop_closed) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return -1;
    }
    return 0;
}

static PyObject *
errno_error(int neg_errno)
{
    errno = -neg_errno;
    return PyErr_SetFromErrno(PyExc_OSError);
}

int
ac_loop_push_handle(LoopObj *loop, PyObject *handle)
{
    if (ac_readyq_push(&loop->loop_ready, AC_READY_HANDLE, handle, NULL,
                       NULL) < 0) {
        Py_DECREF(handle);
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

void
ac_loop_timer_cancelled(ac_state *st, PyObject *loop, PyObject *th)
{
    if (loop == NULL || !PyObject_TypeCheck(loop, st->LoopType)) {
        return;
    }
    TimerHandleObj *t = (TimerHandleObj *)th;
    if (ac_timerheap_remove(&L(loop)->loop_timers, &t->th_node) == 0) {
        Py_DECREF(th);  /* the heap's reference; the caller holds another */
    }
}

/* The value of a `context=` keyword in a vectorcall, or NULL; -1 on a bad
 * keyword. */
static int
parse_context_kw(const char *fname, PyObject *kwnames, PyObject *const *kwvals,
                 PyObject **ctx)
{
    *ctx = NULL;
    if (kwnames == NULL) {
        return 0;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_CompareWithASCIIString(k, "context") != 0) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument '%U'",
                         fname, k);
            return -1;
        }
        *ctx = kwvals[i];
    }
    return 0;
}

/* In debug mode, asyncio's _check_thread and _check_callback. */
static int
debug_checks(ac_state *st, LoopObj *self, PyObject *cb, const char *method,
             int check_thread)
{
    if (!self->loop_debug) {
        return 0;
    }
    PyObject *r;
    if (check_thread) {
        r = PyObject_CallMethodNoArgs((PyObject *)self, st->s_check_thread);
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
    }
    r = PyObject_CallMethod((PyObject *)self, "_check_callback", "Os", cb,
                            method);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static PyObject *
tuple_of(PyObject *const *items, Py_ssize_t n)
{
    PyObject *t = PyTuple_New(n);
    if (t == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyTuple_SET_ITEM(t, i, Py_NewRef(items[i]));
    }
    return t;
}

/* A Handle for cb(*args) pushed to the ready queue; new reference. */
static PyObject *
loop_call_soon(ac_state *st, LoopObj *self, PyObject *cb,
               PyObject *const *args, Py_ssize_t nargs, PyObject *ctx)
{
    PyObject *targs = NULL, *arg1 = NULL;
    if (nargs == 1) {
        arg1 = args[0];
    }
    else if (nargs > 1) {
        targs = tuple_of(args, nargs);
        if (targs == NULL) {
            return NULL;
        }
    }
    PyObject *h = ac_handle_new(st, cb, targs, arg1, (PyObject *)self, ctx);
    Py_XDECREF(targs);
    if (h == NULL) {
        return NULL;
    }
    if (ac_loop_push_handle(self, Py_NewRef(h)) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    return h;
}

/* sched.c's fast path: loop.call_soon(fn, arg, context=ctx) on our loop. */
int
ac_loop_call_soon_internal(ac_state *st, PyObject *loop, PyObject *fn,
                           PyObject *arg, PyObject *ctx)
{
    LoopObj *self = L(loop);
    if (check_closed(self) < 0) {
        return -1;
    }
    if (!self->loop_debug) {
        /* nobody sees this callback's Handle: queue a bare record */
        PyObject *c = ctx != NULL && ctx != Py_None ? Py_NewRef(ctx)
                                                    : PyContext_CopyCurrent();
        if (c == NULL) {
            return -1;
        }
        if (ac_readyq_push(&self->loop_ready, AC_READY_CALL, Py_NewRef(fn),
                           Py_XNewRef(arg), c) < 0) {
            Py_DECREF(fn);
            Py_XDECREF(arg);
            Py_DECREF(c);
            PyErr_NoMemory();
            return -1;
        }
        return 0;
    }
    if (debug_checks(st, self, fn, "call_soon", 1) < 0) {
        return -1;
    }
    PyObject *h = loop_call_soon(st, self, fn, arg ? &arg : NULL,
                                 arg ? 1 : 0, ctx);
    if (h == NULL) {
        return -1;
    }
    Py_DECREF(h);
    return 0;
}

/* ---------------------------------------------------------------------
 * scheduling methods */

static PyObject *
Loop_call_soon(PyObject *op, PyObject *const *args, size_t nargsf,
               PyObject *kwnames)
{
    LoopObj *self = L(op);
    ac_state *st = self->loop_st;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *ctx;
    if (parse_context_kw("call_soon", kwnames, args + nargs, &ctx) < 0) {
        return NULL;
    }
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError,
                        "call_soon() missing 1 required positional argument: "
                        "'callback'");
        return NULL;
    }
    if (check_closed(self) < 0 ||
        debug_checks(st, self, args[0], "call_soon", 1) < 0) {
        return NULL;
    }
    return loop_call_soon(st, self, args[0], args + 1, nargs - 1, ctx);
}

/* call_soon_threadsafe: like call_soon, and wake the loop if it is blocked
 * in epoll_wait.  The loop sets loop_polling under the GIL right before it
 * releases it to poll, and computes its timeout from the ready queue before
 * that, so a push made while it is not polling is seen without a wakeup;
 * at most one byte goes down the self-pipe per poll. */
static PyObject *
Loop_call_soon_threadsafe(PyObject *op, PyObject *const *args, size_t nargsf,
                          PyObject *kwnames)
{
    LoopObj *self = L(op);
    ac_state *st = self->loop_st;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *ctx;
    if (parse_context_kw("call_soon_threadsafe", kwnames, args + nargs,
                         &ctx) < 0) {
        return NULL;
    }
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError,
                        "call_soon_threadsafe() missing 1 required positional "
                        "argument: 'callback'");
        return NULL;
    }
    if (check_closed(self) < 0 ||
        debug_checks(st, self, args[0], "call_soon_threadsafe", 0) < 0) {
        return NULL;
    }
    PyObject *h = loop_call_soon(st, self, args[0], args + 1, nargs - 1, ctx);
    if (h == NULL) {
        return NULL;
    }
    if (self->loop_polling && !self->loop_wakeup_sent) {
        self->loop_wakeup_sent = 1;
        PyObject *r = PyObject_CallMethod(op, "_write_to_self", NULL);
        if (r == NULL) {
            Py_DECREF(h);
            return NULL;
        }
        Py_DECREF(r);
    }
    return h;
}

/* _call_soon(callback, args, context): what asyncio's own Python code
 * (call_soon_threadsafe) calls. */
static PyObject *
Loop__call_soon(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "_call_soon() takes 3 arguments (callback, args, "
                        "context)");
        return NULL;
    }
    PyObject *cargs = PySequence_Tuple(args[1]);
    if (cargs == NULL) {
        return NULL;
    }
    PyObject *r = loop_call_soon(L(op)->loop_st, L(op), args[0],
                                 &PyTuple_GET_ITEM(cargs, 0),
                                 PyTuple_GET_SIZE(cargs), args[2]);
    Py_DECREF(cargs);
    return r;
}

int
ac_loop_push_task_record(ac_state *st, PyObject *loop, int kind,
                         PyObject *task, PyObject *arg)
{
    if (!ac_is_fast_loop(st, loop) || L(loop)->loop_debug) {
        return 0;
    }
    LoopObj *self = L(loop);
    if (check_closed(self) < 0) {
        return -1;
    }
    if (ac_readyq_push(&self->loop_ready, (uintptr_t)kind, Py_NewRef(task),
                       Py_XNewRef(arg), NULL) < 0) {
        Py_DECREF(task);
        Py_XDECREF(arg);
        PyErr_NoMemory();
        return -1;
    }
    return 1;
}

static PyObject *
loop_call_at(ac_state *st, LoopObj *self, double when, PyObject *cb,
             PyObject *const *args, Py_ssize_t nargs, PyObject *ctx,
             const char *method)
{
    if (isnan(when)) {
        PyErr_SetString(PyExc_ValueError, "the time of a timer cannot be NaN");
        return NULL;
    }
    if (check_closed(self) < 0 ||
        debug_checks(st, self, cb, method, 1) < 0) {
        return NULL;
    }
    PyObject *targs = tuple_of(args, nargs);
    if (targs == NULL) {
        return NULL;
    }
    PyObject *th = ac_timerhandle_new(st, when, cb, targs, (PyObject *)self,
                                      ctx);
    Py_DECREF(targs);
    if (th == NULL) {
        return NULL;
    }
    int rc = ac_timerheap_push(&self->loop_timers,
                               &((TimerHandleObj *)th)->th_node);
    if (rc < 0) {
        Py_DECREF(th);
        return rc == -ENOMEM ? PyErr_NoMemory() : errno_error(rc);
    }
    Py_INCREF(th);  /* the heap's reference */
    return th;
}

static PyObject *
Loop_call_at(PyObject *op, PyObject *const *args, size_t nargsf,
             PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *ctx;
    if (parse_context_kw("call_at", kwnames, args + nargs, &ctx) < 0) {
        return NULL;
    }
    if (nargs < 2) {
        PyErr_SetString(PyExc_TypeError,
                        "call_at() missing required positional arguments: "
                        "'when' and 'callback'");
        return NULL;
    }
    if (args[0] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "when cannot be None");
        return NULL;
    }
    double when = PyFloat_AsDouble(args[0]);
    if (when == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    return loop_call_at(L(op)->loop_st, L(op), when, args[1], args + 2,
                        nargs - 2, ctx, "call_at");
}

static PyObject *
Loop_call_later(PyObject *op, PyObject *const *args, size_t nargsf,
                PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *ctx;
    if (parse_context_kw("call_later", kwnames, args + nargs, &ctx) < 0) {
        return NULL;
    }
    if (nargs < 2) {
        PyErr_SetString(PyExc_TypeError,
                        "call_later() missing required positional arguments: "
                        "'delay' and 'callback'");
        return NULL;
    }
    if (args[0] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "delay must not be None");
        return NULL;
    }
    double delay = PyFloat_AsDouble(args[0]);
    if (delay == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    return loop_call_at(L(op)->loop_st, L(op), mono_now() + delay, args[1],
                        args + 2, nargs - 2, ctx, "call_at");
}

static PyObject *
Loop_add_callback(PyObject *op, PyObject *handle)
{
    ac_state *st = L(op)->loop_st;
    uintptr_t kind;
    if (Py_IS_TYPE(handle, st->HandleType) ||
        Py_IS_TYPE(handle, st->TimerHandleType)) {
        if (((HandleObj *)handle)->h_cancelled) {
            Py_RETURN_NONE;
        }
        kind = AC_READY_HANDLE;
    }
    else {
        PyObject *c = PyObject_GetAttr(handle, st->s_cancelled);
        int b = c == NULL ? -1 : PyObject_IsTrue(c);
        Py_XDECREF(c);
        if (b < 0) {
            return NULL;
        }
        if (b) {
            Py_RETURN_NONE;
        }
        kind = AC_READY_PYHANDLE;
    }
    if (ac_readyq_push(&L(op)->loop_ready, kind, Py_NewRef(handle), NULL,
                       NULL) < 0) {
        Py_DECREF(handle);
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

static PyObject *
Loop_time(PyObject *op, PyObject *unused)
{
    return PyFloat_FromDouble(mono_now());
}

static PyObject *
Loop_get_debug_meth(PyObject *op, PyObject *unused)
{
    return PyBool_FromLong(L(op)->loop_debug);
}

static PyObject *
Loop_is_running(PyObject *op, PyObject *unused)
{
    return PyBool_FromLong(L(op)->loop_thread_id != Py_None);
}

static PyObject *
Loop_is_closed(PyObject *op, PyObject *unused)
{
    return PyBool_FromLong(L(op)->loop_closed);
}

/* ---------------------------------------------------------------------
 * readers and writers */

/* The fd of a reader/writer argument, as asyncio's selector finds it
 * (selectors._fileobj_to_fd): an int is the fd, anything else gives
 * int(obj.fileno()); ValueError("Invalid file object: ...") when that
 * raises AttributeError, TypeError or ValueError, ValueError("Invalid file
 * descriptor: ...") for a negative fd.  -1 with an exception. */
int
ac_fileobj_to_fd(ac_state *st, PyObject *obj)
{
    PyObject *num;
    if (PyLong_Check(obj)) {
        num = Py_NewRef(obj);
    }
    else {
        PyObject *f = PyObject_CallMethodNoArgs(obj, st->s_fileno);
        num = f == NULL ? NULL : PyNumber_Long(f);
        Py_XDECREF(f);
        if (num == NULL) {
            if (PyErr_ExceptionMatches(PyExc_AttributeError) ||
                PyErr_ExceptionMatches(PyExc_TypeError) ||
                PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError, "Invalid file object: %R",
                             obj);
            }
            return -1;
        }
    }
    int overflow;
    long fd = PyLong_AsLongAndOverflow(num, &overflow);
    if (fd == -1 && PyErr_Occurred()) {
        Py_DECREF(num);
        return -1;
    }
    /* overflow > 0 comes with fd == -1: tested first, or a huge fd would
     * be reported as a negative one (asyncio: OverflowError). */
    if (overflow == 0 && fd >= 0 && fd <= INT_MAX) {
        Py_DECREF(num);
        return (int)fd;
    }
    if (overflow < 0 || (overflow == 0 && fd < 0)) {
        PyErr_Format(PyExc_ValueError, "Invalid file descriptor: %S", num);
        Py_DECREF(num);
        return -1;
    }
    Py_DECREF(num);
    PyErr_SetString(PyExc_OverflowError,
                    "file descriptor is greater than maximum");
    return -1;
}

static int
watch_reserve(LoopObj *self, int fd)
{
    if (fd < self->loop_nwatch) {
        return 0;
    }
    int n = self->loop_nwatch ? self->loop_nwatch : 64;
    while (n <= fd) {
        n *= 2;
    }
    ac_watch *w = PyMem_Realloc(self->loop_watch, (size_t)n * sizeof(ac_watch));
    if (w == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(w + self->loop_nwatch, 0,
           (size_t)(n - self->loop_nwatch) * sizeof(ac_watch));
    self->loop_watch = w;
    self->loop_nwatch = n;
    return 0;
}

static unsigned
watch_mask(const ac_watch *w)
{
    return (w->reader ? AC_POLL_READ : 0) | (w->writer ? AC_POLL_WRITE : 0);
}

/* Puts obj (a new reference, or NULL) and fn in the which-slot of w and
 * drops what was there (a Handle is cancelled, a C owner released). */
static int
watch_replace(ac_state *st, LoopObj *self, ac_watch *w, unsigned which,
              PyObject *obj, ac_io_fn fn)
{
    PyObject *old;
    ac_io_fn oldfn;
    if (which == AC_POLL_READ) {
        old = w->reader;
        oldfn = w->rfn;
        w->reader = obj;
        w->rfn = fn;
        w->rgen++;
    }
    else {
        old = w->writer;
        oldfn = w->wfn;
        w->writer = obj;
        w->wfn = fn;
        w->wgen++;
    }
    self->loop_nwatched += (obj != NULL) - (old != NULL);
    if (old == NULL) {
        return 0;
    }
    int rc = oldfn == NULL ? ac_handle_cancel(st, old) : 0;
    Py_DECREF(old);
    return rc;
}

/* Register cb(*args) for fd readiness (which = READ or WRITE). */
static PyObject *
loop_add_watch(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
               unsigned which, const char *fname)
{
    LoopObj *self = L(op);
    ac_state *st = self->loop_st;
    if (nargs < 2) {
        PyErr_Format(PyExc_TypeError,
                     "%s() missing required arguments: 'fd' and 'callback'",
                     fname);
        return NULL;
    }
    if (check_closed(self) < 0) {
        return NULL;
    }
    int fd = ac_fileobj_to_fd(st, args[0]);
    if (fd < 0) {
        return NULL;
    }
    PyObject *targs = tuple_of(args + 2, nargs - 2);
    if (targs == NULL) {
        return NULL;
    }
    PyObject *h = ac_handle_new(st, args[1], targs, NULL, op, Py_None);
    Py_DECREF(targs);
    if (h == NULL || watch_reserve(self, fd) < 0) {
        Py_XDECREF(h);
        return NULL;
    }
    ac_watch *w = &self->loop_watch[fd];
    unsigned mask = watch_mask(w) | which;
    int rc = ac_poller_set(self->loop_poller, fd, mask, NULL);
    if (rc < 0) {
        Py_DECREF(h);
        return errno_error(rc);
    }
    if (watch_replace(st, self, w, which, Py_NewRef(h), NULL) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    return h;
}

/* 1 if a callback was registered (now removed and cancelled), 0 if not. */
static int
loop_remove_watch(LoopObj *self, ac_state *st, int fd, unsigned which)
{
    if (self->loop_closed || fd < 0 || fd >= self->loop_nwatch) {
        return 0;
    }
    ac_watch *w = &self->loop_watch[fd];
    if ((which == AC_POLL_READ ? w->reader : w->writer) == NULL) {
        return 0;
    }
    unsigned mask = watch_mask(w) & ~which;
    /* an fd closed behind our back is already out of the kernel set */
    (void)ac_poller_set(self->loop_poller, fd, mask, NULL);
    return watch_replace(st, self, w, which, NULL, NULL) < 0 ? -1 : 1;
}

int
ac_loop_io_start(PyObject *loop, int fd, unsigned which, ac_io_fn fn,
                 PyObject *owner)
{
    LoopObj *self = L(loop);
    if (check_closed(self) < 0 || watch_reserve(self, fd) < 0) {
        return -1;
    }
    ac_watch *w = &self->loop_watch[fd];
    if (which == AC_POLL_READ ? (w->reader == owner && w->rfn == fn)
                              : (w->writer == owner && w->wfn == fn)) {
        return 0;
    }
    int rc = ac_poller_set(self->loop_poller, fd, watch_mask(w) | which, NULL);
    if (rc < 0) {
        errno_error(rc);
        return -1;
    }
    return watch_replace(L(loop)->loop_st, self, w, which, Py_NewRef(owner),
                         fn);
}

int
ac_loop_io_stop(PyObject *loop, int fd, unsigned which)
{
    return loop_remove_watch(L(loop), L(loop)->loop_st, fd, which);
}

int
ac_loop_io_watched(PyObject *loop, int fd, unsigned which)
{
    LoopObj *self = L(loop);
    if (fd < 0 || fd >= self->loop_nwatch) {
        return 0;
    }
    ac_watch *w = &self->loop_watch[fd];
    return (which == AC_POLL_READ ? w->reader : w->writer) != NULL;
}

static PyObject *
loop_remove_watch_meth(PyObject *op, PyObject *fdobj, unsigned which)
{
    if (L(op)->loop_closed) {
        Py_RETURN_FALSE;
    }
    int fd = ac_fileobj_to_fd(L(op)->loop_st, fdobj);
    if (fd < 0) {
        /* An fd beyond int cannot be registered: not watched, as asyncio's
         * selector answers (its lookup is a dict of Python ints). */
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            Py_RETURN_FALSE;
        }
        return NULL;
    }
    int r = loop_remove_watch(L(op), L(op)->loop_st, fd, which);
    if (r < 0) {
        return NULL;
    }
    return PyBool_FromLong(r);
}

static PyObject *
Loop_add_reader(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    return loop_add_watch(op, args, nargs, AC_POLL_READ, "_add_reader");
}

static PyObject *
Loop_add_writer(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    return loop_add_watch(op, args, nargs, AC_POLL_WRITE, "_add_writer");
}

static PyObject *
Loop_remove_reader(PyObject *op, PyObject *fd)
{
    return loop_remove_watch_meth(op, fd, AC_POLL_READ);
}

static PyObject *
Loop_remove_writer(PyObject *op, PyObject *fd)
{
    return loop_remove_watch_meth(op, fd, AC_POLL_WRITE);
}

/* ---------------------------------------------------------------------
 * one iteration */

/* Drop the references a ready record holds. */
static inline int
ready_is_io(const ac_ready *r)
{
    return r->kind == AC_READY_IO_READ || r->kind == AC_READY_IO_WRITE;
}

static inline void
ready_release(ac_ready *r)
{
    Py_XDECREF((PyObject *)r->a);
    if (!ready_is_io(r)) {
        Py_XDECREF((PyObject *)r->b);
        Py_XDECREF((PyObject *)r->c);
    }
}

/* An fd event for a C watcher: fn(owner) if the watch it was queued for is
 * still the one in place (not stopped, not replaced since). */
static int
run_io_entry(LoopObj *self, ac_ready *r)
{
    PyObject *owner = (PyObject *)r->a;
    int fd = (int)(intptr_t)r->b;
    unsigned gen = (unsigned)(uintptr_t)r->c;
    ac_io_fn fn = NULL;
    if (fd < self->loop_nwatch) {
        ac_watch *w = &self->loop_watch[fd];
        if (r->kind == AC_READY_IO_READ) {
            fn = w->reader == owner && w->rgen == gen ? w->rfn : NULL;
        }
        else {
            fn = w->writer == owner && w->wgen == gen ? w->wfn : NULL;
        }
    }
    int rc = fn == NULL ? 0 : fn(owner);
    Py_DECREF(owner);
    return rc;
}

/* A long pass (many timers due at once, a big batch of callbacks) runs
 * handles made long ago, scattered in memory, each a cache miss or two
 * (the handle, then its context): ask for them a few entries ahead, the
 * handle at PREFETCH_FAR and, once it has arrived, its context at
 * PREFETCH_NEAR, so each is in cache when its turn comes. */
#define PREFETCH_NEAR 4
#define PREFETCH_FAR 8

/* always_inline (both): left functions of their own, GCC finds they have
 * no effect (a prefetch changes nothing it can see) and drops the calls. */
static inline __attribute__((always_inline)) void
prefetch_lines(const void *p, size_t n)
{
    /* the 64-byte cache lines of [p, p + n) */
    uintptr_t line = (uintptr_t)p & ~(uintptr_t)63;
    for (; line < (uintptr_t)p + n; line += 64) {
        __builtin_prefetch((const void *)line);
    }
}

static inline __attribute__((always_inline)) void
prefetch_ahead(LoopObj *self)
{
    const ac_ready *far = ac_readyq_peek(&self->loop_ready, PREFETCH_FAR);
    if (far != NULL && far->kind == AC_READY_HANDLE) {
        prefetch_lines(far->a, sizeof(HandleObj));
    }
    const ac_ready *near = ac_readyq_peek(&self->loop_ready, PREFETCH_NEAR);
    if (near != NULL && near->kind == AC_READY_HANDLE) {
        __builtin_prefetch(((HandleObj *)near->a)->h_context);
    }
}

static int
run_ready_entry(ac_state *st, LoopObj *self, ac_ready *r)
{
    PyObject *obj = (PyObject *)r->a;
    int rc = 0;
    if (ready_is_io(r)) {
        return run_io_entry(self, r);
    }
    if (r->kind == AC_READY_TASK_STEP || r->kind == AC_READY_TASK_WAKEUP) {
        rc = ac_task_run_record(st, (PyObject *)self, (int)r->kind, obj,
                                (PyObject *)r->b);
        ready_release(r);
        return rc;
    }
    if (r->kind == AC_READY_CALL) {
        rc = ac_callback_run(st, (PyObject *)self, obj, (PyObject *)r->b,
                             (PyObject *)r->c);
        ready_release(r);
        return rc;
    }
    if (r->kind == AC_READY_HANDLE) {
        if (((HandleObj *)obj)->h_cancelled) {
            Py_DECREF(obj);
            return 0;
        }
        if (!self->loop_debug) {
            rc = ac_handle_run(st, obj);
            Py_DECREF(obj);
            return rc;
        }
    }
    else {
        PyObject *c = PyObject_GetAttr(obj, st->s_cancelled);
        int b = c == NULL ? -1 : PyObject_IsTrue(c);
        Py_XDECREF(c);
        if (b != 0) {
            Py_DECREF(obj);
            return b < 0 ? -1 : 0;
        }
        if (!self->loop_debug) {
            PyObject *res = PyObject_CallMethodNoArgs(obj, st->s_run);
            Py_DECREF(obj);
            Py_XDECREF(res);
            return res == NULL ? -1 : 0;
        }
    }
    /* debug mode: asyncio's slow-callback report, and _current_handle */
    PyObject *me = (PyObject *)self;
    if (PyObject_SetAttr(me, st->s_current_handle, obj) < 0) {
        Py_DECREF(obj);
        return -1;
    }
    double t0 = mono_now();
    if (r->kind == AC_READY_HANDLE) {
        rc = ac_handle_run(st, obj);
    }
    else {
        PyObject *res = PyObject_CallMethodNoArgs(obj, st->s_run);
        rc = res == NULL ? -1 : 0;
        Py_XDECREF(res);
    }
    double dt = mono_now() - t0;
    PyObject *err = rc < 0 ? ac_err_take() : NULL;
    if (rc == 0) {
        PyObject *lim = PyObject_GetAttrString(me, "slow_callback_duration");
        double limit = lim ? PyFloat_AsDouble(lim) : -1.0;
        Py_XDECREF(lim);
        if (PyErr_Occurred()) {
            rc = -1;
            err = ac_err_take();
        }
        else if (dt >= limit) {
            PyObject *res = PyObject_CallMethod(me, "_ac_slow_callback", "Od",
                                                obj, dt);
            if (res == NULL) {
                rc = -1;
                err = ac_err_take();
            }
            Py_XDECREF(res);
        }
    }
    if (PyObject_SetAttr(me, st->s_current_handle, Py_None) < 0) {
        PyErr_WriteUnraisable(me);
    }
    Py_DECREF(obj);
    ac_err_give(err);
    return rc;
}

static void
push_watch_event(LoopObj *self, ac_state *st, int fd, unsigned which)
{
    if (fd >= self->loop_nwatch) {
        return;
    }
    ac_watch *w = &self->loop_watch[fd];
    PyObject *h = which == AC_POLL_READ ? w->reader : w->writer;
    if (h == NULL) {
        return;
    }
    if ((which == AC_POLL_READ ? w->rfn : w->wfn) != NULL) {
        unsigned gen = which == AC_POLL_READ ? w->rgen : w->wgen;
        if (ac_readyq_push(&self->loop_ready,
                           which == AC_POLL_READ ? AC_READY_IO_READ
                                                 : AC_READY_IO_WRITE,
                           Py_NewRef(h), (void *)(intptr_t)fd,
                           (void *)(uintptr_t)gen) < 0) {
            Py_DECREF(h);
            PyErr_NoMemory();
            PyErr_WriteUnraisable((PyObject *)self);
        }
        return;
    }
    if (((HandleObj *)h)->h_cancelled) {
        if (loop_remove_watch(self, st, fd, which) < 0) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
        return;
    }
    if (ac_loop_push_handle(self, Py_NewRef(h)) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
}

/* Nothing but the quiet fd is watched: a zero-timeout poll could find
 * nothing that must run soon (a byte on the self-pipe only says that
 * call_soon_threadsafe already queued its callback), so it is skipped. */
static inline int
poll_can_skip(LoopObj *self)
{
    if (self->loop_nwatched == 0) {
        return 1;
    }
    int q = self->loop_quiet_fd;
    return self->loop_nwatched == 1 && q >= 0 && q < self->loop_nwatch &&
           self->loop_watch[q].reader != NULL;
}

/* One iteration: poll (blocking only when nothing is ready), queue due
 * timers, run what was ready when the pass began.  0, or -1 with an
 * exception that leaves the loop. */
static int
loop_run_once(ac_state *st, LoopObj *self)
{
    ac_poll_event events[AC_MAX_EVENTS];

    if (self->loop_poller == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return -1;
    }
    int timeout_ms;
    ac_timer *top = ac_timerheap_peek(&self->loop_timers);
    if (ac_readyq_len(&self->loop_ready) > 0 || self->loop_stopping) {
        timeout_ms = 0;
    }
    else if (top != NULL) {
        double dt = top->deadline - mono_now();
        if (dt > AC_MAX_SELECT_TIMEOUT) {
            dt = AC_MAX_SELECT_TIMEOUT;
        }
        timeout_ms = ac_poller_timeout_ms(dt);
    }
    else {
        timeout_ms = -1;
    }

    int n;
    ac_poller *poller = self->loop_poller;
    if (timeout_ms != 0) {
        /* may block: let other threads run meanwhile */
        self->loop_polling = 1;
        self->loop_wakeup_sent = 0;
        Py_BEGIN_ALLOW_THREADS
        n = ac_poller_wait(poller, timeout_ms, events, AC_MAX_EVENTS);
        Py_END_ALLOW_THREADS
        self->loop_polling = 0;
    }
    else if (poll_can_skip(self)) {
        n = 0;
    }
    else {
        /* returns at once: no reason to drop the GIL */
        n = ac_poller_wait(poller, 0, events, AC_MAX_EVENTS);
    }
    if (n == -EINTR) {
        /* run Python's signal handlers (KeyboardInterrupt starts here) */
        if (PyErr_CheckSignals() < 0) {
            return -1;
        }
        n = 0;
    }
    else if (n < 0) {
        errno_error(n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (events[i].events & AC_POLL_READ) {
            push_watch_event(self, st, events[i].fd, AC_POLL_READ);
        }
        if (events[i].events & AC_POLL_WRITE) {
            push_watch_event(self, st, events[i].fd, AC_POLL_WRITE);
        }
    }

    /* timers due within the clock's resolution fire now, as in asyncio */
    if (ac_timerheap_peek(&self->loop_timers) != NULL) {
        double end = mono_now() + self->loop_clock_resolution;
        while ((top = ac_timerheap_pop_before(&self->loop_timers, end))
               != NULL) {
            /* the heap's reference moves to the ready queue */
            if (ac_loop_push_handle(self, ac_timer_handle_of(top)) < 0) {
                return -1;
            }
        }
    }

    /* run only what was ready when the pass began */
    size_t ntodo = ac_readyq_len(&self->loop_ready);
    for (size_t i = 0; i < ntodo; i++) {
        ac_ready r;
        prefetch_ahead(self);
        if (ac_readyq_pop(&self->loop_ready, &r) < 0) {
            break;  /* emptied by a callback (close) */
        }
        if (run_ready_entry(st, self, &r) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *
Loop_run_once(PyObject *op, PyObject *unused)
{
    if (loop_run_once(L(op)->loop_st, L(op)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The body of run_forever (asyncio_c.Loop.run_forever does the set-up and
 * the clean-up around it): iterations until stop() is seen, checking for
 * signals between them as the Python loop it replaces does. */
static PyObject *
Loop_ac_run(PyObject *op, PyObject *unused)
{
    LoopObj *self = L(op);
    ac_state *st = self->loop_st;
    Py_INCREF(op);
    for (;;) {
        if (loop_run_once(st, self) < 0) {
            break;
        }
        if (self->loop_stopping) {
            Py_DECREF(op);
            Py_RETURN_NONE;
        }
        if (PyErr_CheckSignals() < 0) {
            break;
        }
    }
    Py_DECREF(op);
    return NULL;
}

/* _ac_quiet_fd: the fd (asyncio's self-pipe) whose reader alone does not
 * make a zero-timeout poll worth its system call; -1 for none. */
static PyObject *
Loop_get_quiet_fd(PyObject *op, void *c)
{
    return PyLong_FromLong(L(op)->loop_quiet_fd);
}

static int
Loop_set_quiet_fd(PyObject *op, PyObject *v, void *c)
{
    long fd = v == NULL ? -1 : PyLong_AsLong(v);
    if (fd == -1 && PyErr_Occurred()) {
        return -1;
    }
    L(op)->loop_quiet_fd = fd < 0 || fd > INT_MAX ? -1 : (int)fd;
    return 0;
}

/* ---------------------------------------------------------------------
 * futures and tasks */

static PyObject *
Loop_create_future(PyObject *op, PyObject *unused)
{
    return ac_future_new(L(op)->loop_st, op);
}

static PyObject *
Loop_create_task(PyObject *op, PyObject *const *args, size_t nargsf,
                 PyObject *kwnames)
{
    ac_state *st = L(op)->loop_st;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (L(op)->loop_task_factory != Py_None) {
        /* asyncio's own code path for factories (it differs per version):
         * BaseEventLoop.create_task(self, *args, **kwargs) */
        Py_ssize_t n = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
        PyObject *small[8];
        PyObject **full = n < 8 ? small : PyMem_New(PyObject *, n + 1);
        if (full == NULL) {
            return PyErr_NoMemory();
        }
        full[0] = op;
        memcpy(full + 1, args, (size_t)n * sizeof(PyObject *));
        PyObject *r = PyObject_Vectorcall(st->base_create_task, full,
                                          (size_t)nargs + 1, kwnames);
        if (full != small) {
            PyMem_Free(full);
        }
        return r;
    }
    /* create_task(coro, *, name=None, context=None), as asyncio's */
    static const char *const names[] = {"coro", "name", "context"};
    PyObject *vals[3] = {NULL, Py_None, Py_None};
    if (ac_parse_args("create_task", args, nargs, kwnames, names, 3, 1, 1,
                      vals) < 0 ||
        check_closed(L(op)) < 0) {
        return NULL;
    }
    return ac_task_new(st, vals[0], op, vals[1], vals[2]);
}

/* Drop everything queued, scheduled and watched; close the poller.
 * Called by asyncio_c.Loop.close() after asyncio's own close. */
static void
loop_release(LoopObj *self)
{
    ac_ready r;
    while (ac_readyq_pop(&self->loop_ready, &r) == 0) {
        ready_release(&r);
    }
    ac_timer *t;
    while ((t = ac_timerheap_pop(&self->loop_timers)) != NULL) {
        Py_DECREF(ac_timer_handle_of(t));
    }
    if (self->loop_watch != NULL) {
        ac_watch *w = self->loop_watch;
        int n = self->loop_nwatch;
        self->loop_watch = NULL;
        self->loop_nwatch = 0;
        self->loop_nwatched = 0;
        for (int i = 0; i < n; i++) {
            Py_XDECREF(w[i].reader);
            Py_XDECREF(w[i].writer);
        }
        PyMem_Free(w);
    }
}

static PyObject *
Loop_ac_close(PyObject *op, PyObject *unused)
{
    LoopObj *self = L(op);
    loop_release(self);
    if (self->loop_poller != NULL) {
        ac_poller_close(self->loop_poller);
        self->loop_poller = NULL;
    }
    ac_readyq_free(&self->loop_ready);
    ac_readyq_init(&self->loop_ready);
    ac_timerheap_free(&self->loop_timers);
    ac_timerheap_init(&self->loop_timers);
    Py_RETURN_NONE;
}

static PyObject *
Loop_after_fork(PyObject *op, PyObject *unused)
{
    if (L(op)->loop_poller != NULL) {
        int rc = ac_poller_reinit_after_fork(L(op)->loop_poller);
        if (rc < 0) {
            return errno_error(rc);
        }
    }
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------
 * attributes asyncio's Python code reads and writes */

#define FLAG_GETSET(field)                                          \
    static PyObject *Loop_get_##field(PyObject *op, void *c)                \
    {                                                                       \
        return PyBool_FromLong(L(op)->loop_##field);                        \
    }                                                                       \
    static int Loop_set_##field(PyObject *op, PyObject *v, void *c)         \
    {                                                                       \
        int b = ac_flag_value(v);                                           \
        if (b < 0) {                                                        \
            return -1;                                                      \
        }                                                                   \
        L(op)->loop_##field = (char)b;                                      \
        return 0;                                                           \
    }

FLAG_GETSET(closed)
FLAG_GETSET(debug)
FLAG_GETSET(stopping)

static PyObject *
Loop_get_thread_id(PyObject *op, void *c)
{
    return Py_NewRef(L(op)->loop_thread_id);
}

static int
Loop_set_thread_id(PyObject *op, PyObject *v, void *c)
{
    Py_XSETREF(L(op)->loop_thread_id, ac_or_none(v));
    return 0;
}

static PyObject *
Loop_get_task_factory(PyObject *op, void *c)
{
    return Py_NewRef(L(op)->loop_task_factory);
}

static int
Loop_set_task_factory(PyObject *op, PyObject *v, void *c)
{
    Py_XSETREF(L(op)->loop_task_factory, ac_or_none(v));
    return 0;
}

static PyObject *
Loop_get_clock_resolution(PyObject *op, void *c)
{
    return PyFloat_FromDouble(L(op)->loop_clock_resolution);
}

/* How many timers are scheduled (cancelled ones leave the heap at once). */
static PyObject *
Loop_get_timer_count(PyObject *op, void *c)
{
    return PyLong_FromSize_t(L(op)->loop_timers.size);
}

static int
Loop_set_clock_resolution(PyObject *op, PyObject *v, void *c)
{
    double d = v ? PyFloat_AsDouble(v) : 0.0;
    if (d == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    L(op)->loop_clock_resolution = d;
    return 0;
}

/* ---------------------------------------------------------------------
 * type machinery */

static PyObject *
Loop_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    LoopObj *self = (LoopObj *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->loop_st = ac_state_of_type(type);
    ac_readyq_init(&self->loop_ready);
    ac_timerheap_init(&self->loop_timers);
    self->loop_thread_id = Py_NewRef(Py_None);
    self->loop_task_factory = Py_NewRef(Py_None);
    self->loop_clock_resolution = 1e-9;
    self->loop_quiet_fd = -1;
    int rc = ac_poller_create(&self->loop_poller);
    if (rc < 0) {
        Py_DECREF(self);
        return errno_error(rc);
    }
    return (PyObject *)self;
}

static int
Loop_traverse(PyObject *op, visitproc visit, void *arg)
{
    LoopObj *self = L(op);
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->loop_thread_id);
    Py_VISIT(self->loop_task_factory);
    ac_readyq *q = &self->loop_ready;
    for (size_t i = 0; i < q->len; i++) {
        ac_ready *r = &q->buf[(q->head + i) & (q->cap - 1)];
        Py_VISIT((PyObject *)r->a);
        if (!ready_is_io(r)) {
            Py_VISIT((PyObject *)r->b);
            Py_VISIT((PyObject *)r->c);
        }
    }
    for (size_t i = 0; i < self->loop_timers.size; i++) {
        Py_VISIT(ac_timer_handle_of(self->loop_timers.entries[i].node));
    }
    for (int i = 0; i < self->loop_nwatch; i++) {
        Py_VISIT(self->loop_watch[i].reader);
        Py_VISIT(self->loop_watch[i].writer);
    }
    return 0;
}

static int
Loop_clear(PyObject *op)
{
    loop_release(L(op));
    Py_CLEAR(L(op)->loop_task_factory);
    return 0;
}

static void
Loop_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    LoopObj *self = L(op);
    PyObject_GC_UnTrack(op);
    loop_release(self);
    ac_readyq_free(&self->loop_ready);
    ac_timerheap_free(&self->loop_timers);
    if (self->loop_poller != NULL) {
        ac_poller_close(self->loop_poller);
        self->loop_poller = NULL;
    }
    Py_CLEAR(self->loop_thread_id);
    Py_CLEAR(self->loop_task_factory);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMethodDef Loop_methods[] = {
    {"time", Loop_time, METH_NOARGS, "The loop's clock (time.monotonic())."},
    {"get_debug", Loop_get_debug_meth, METH_NOARGS, "Whether debug mode is on."},
    {"is_running", Loop_is_running, METH_NOARGS, "Whether the loop runs."},
    {"is_closed", Loop_is_closed, METH_NOARGS, "Whether the loop is closed."},
    {"call_soon", (PyCFunction)(void (*)(void))Loop_call_soon,
     METH_FASTCALL | METH_KEYWORDS, "Run callback(*args) soon."},
    {"call_soon_threadsafe",
     (PyCFunction)(void (*)(void))Loop_call_soon_threadsafe,
     METH_FASTCALL | METH_KEYWORDS,
     "Like call_soon(), from any thread: wakes the loop if it waits."},
    {"_call_soon", (PyCFunction)(void (*)(void))Loop__call_soon,
     METH_FASTCALL, NULL},
    {"call_later", (PyCFunction)(void (*)(void))Loop_call_later,
     METH_FASTCALL | METH_KEYWORDS, "Run callback(*args) after delay seconds."},
    {"call_at", (PyCFunction)(void (*)(void))Loop_call_at,
     METH_FASTCALL | METH_KEYWORDS, "Run callback(*args) at loop time when."},
    {"_add_callback", Loop_add_callback, METH_O, NULL},
    {"_add_reader", (PyCFunction)(void (*)(void))Loop_add_reader,
     METH_FASTCALL, NULL},
    {"_add_writer", (PyCFunction)(void (*)(void))Loop_add_writer,
     METH_FASTCALL, NULL},
    {"_remove_reader", Loop_remove_reader, METH_O, NULL},
    {"_remove_writer", Loop_remove_writer, METH_O, NULL},
    {"_run_once", Loop_run_once, METH_NOARGS,
     "One iteration: poll, fire due timers, run what is ready."},
    {"_ac_run", Loop_ac_run, METH_NOARGS,
     "Iterations until stop(): run_forever's loop."},
    {"create_future", Loop_create_future, METH_NOARGS,
     "A new asyncio_c.Future bound to this loop."},
    {"create_task", (PyCFunction)(void (*)(void))Loop_create_task,
     METH_FASTCALL | METH_KEYWORDS, "Schedule a coroutine as a Task."},
    {"_ac_close", Loop_ac_close, METH_NOARGS, NULL},
    {"_ac_after_fork", Loop_after_fork, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Loop_getset[] = {
    {"_closed", Loop_get_closed, Loop_set_closed, NULL, NULL},
    {"_debug", Loop_get_debug, Loop_set_debug, NULL, NULL},
    {"_stopping", Loop_get_stopping, Loop_set_stopping, NULL, NULL},
    {"_thread_id", Loop_get_thread_id, Loop_set_thread_id, NULL, NULL},
    {"_task_factory", Loop_get_task_factory, Loop_set_task_factory, NULL,
     NULL},
    {"_clock_resolution", Loop_get_clock_resolution,
     Loop_set_clock_resolution, NULL, NULL},
    {"_ac_quiet_fd", Loop_get_quiet_fd, Loop_set_quiet_fd, NULL, NULL},
    {"_ac_timer_count", Loop_get_timer_count, NULL,
     "Number of scheduled, not cancelled timers.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Loop_slots[] = {
    {Py_tp_doc, "The C core of asyncio_c's event loop (use asyncio_c.Loop)."},
    {Py_tp_new, Loop_new},
    {Py_tp_dealloc, Loop_dealloc},
    {Py_tp_traverse, Loop_traverse},
    {Py_tp_clear, Loop_clear},
    {Py_tp_methods, Loop_methods},
    {Py_tp_getset, Loop_getset},
    {0, NULL},
};

static PyType_Spec Loop_spec = {
    .name = "asyncio_c._core.Loop",
    .basicsize = sizeof(LoopObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Loop_slots,
};

int
ac_loop_init_types(PyObject *mod, ac_state *st)
{
    st->LoopType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &Loop_spec, NULL);
    if (st->LoopType == NULL) {
        return -1;
    }
    return PyModule_AddType(mod, st->LoopType);
}
