/* future.c -- asyncio_c.Future: asyncio.Future's API and behaviour in C, and
 * its await iterator.
 *
 * The first done callback is kept inline (most futures have exactly one:
 * the task awaiting them); further ones go to a small PyMem array.  Any
 * Python call (a callback's __eq__, loop.call_soon, an exception handler)
 * can run arbitrary code, so callback storage is always detached from the
 * future before such a call and never indexed across one. */
#include "coro.h"

#define FUT_CHECK_INIT(fut, ret)                                        \
    do {                                                                \
        if ((fut)->fut_loop == NULL) {                                  \
            PyErr_SetString(PyExc_RuntimeError,                         \
                            "Future object is not initialized.");      \
            return ret;                                                 \
        }                                                               \
    } while (0)

/* ---------------------------------------------------------------------
 * callbacks */

static void
cbs_release(ac_cb *cbs, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_XDECREF(cbs[i].cb);
        Py_XDECREF(cbs[i].ctx);
    }
}

/* Detach every callback from fut into *out (a new PyMem array, or NULL when
 * there are none); returns the count or -1 on memory error. */
static Py_ssize_t
cbs_detach(FutureObj *fut, ac_cb **out)
{
    *out = NULL;
    if (fut->fut_cb0.cb == NULL) {
        return 0;
    }
    Py_ssize_t n = 1 + AC_NCBS(fut);
    ac_cb *v = PyMem_New(ac_cb, n);
    if (v == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v[0] = fut->fut_cb0;
    for (Py_ssize_t i = 1; i < n; i++) {
        v[i] = fut->fut_cbs->v[i - 1];
    }
    fut->fut_cb0.cb = NULL;
    fut->fut_cb0.ctx = NULL;
    if (fut->fut_cbs != NULL) {
        fut->fut_cbs->n = 0;
    }
    *out = v;
    return n;
}

/* Append (cb, ctx), taking new references. */
static int
cbs_append(FutureObj *fut, PyObject *cb, PyObject *ctx)
{
    if (fut->fut_cb0.cb == NULL) {
        assert(AC_NCBS(fut) == 0);
        fut->fut_cb0.cb = Py_NewRef(cb);
        fut->fut_cb0.ctx = Py_XNewRef(ctx);
        return 0;
    }
    ac_cbvec *vec = fut->fut_cbs;
    if (vec == NULL || vec->n == vec->cap) {
        Py_ssize_t n = vec ? vec->n : 0, cap = vec ? vec->cap * 2 : 4;
        size_t max = (PY_SSIZE_T_MAX - sizeof(ac_cbvec)) / sizeof(ac_cb);
        if ((size_t)cap > max) {
            PyErr_NoMemory();
            return -1;
        }
        vec = PyMem_Realloc(vec,
                            sizeof(ac_cbvec) + (size_t)cap * sizeof(ac_cb));
        if (vec == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        vec->n = n;
        vec->cap = cap;
        fut->fut_cbs = vec;
    }
    vec->v[vec->n].cb = Py_NewRef(cb);
    vec->v[vec->n].ctx = Py_XNewRef(ctx);
    vec->n++;
    return 0;
}

/* One callback of a done future: cb(fut) in ctx through the loop, or, for
 * a task-wakeup entry (ctx is the marker), the task's wakeup. */
static inline int
schedule_one(ac_state *st, PyObject *loop, FutureObj *fut, ac_cb *e)
{
    if (e->ctx == st->wakeup_marker) {
        return ac_task_schedule_wakeup(st, loop, e->cb, (PyObject *)fut);
    }
    return ac_call_soon(st, loop, e->cb, (PyObject *)fut, e->ctx);
}

static int
schedule_callbacks(ac_state *st, FutureObj *fut)
{
    if (fut->fut_cb0.cb == NULL) {
        return 0;
    }
    /* detach everything first: a callback may add new ones */
    ac_cb first = fut->fut_cb0;
    ac_cbvec *rest = fut->fut_cbs;
    Py_ssize_t nrest = AC_NCBS(fut);
    fut->fut_cb0.cb = NULL;
    fut->fut_cb0.ctx = NULL;
    fut->fut_cbs = NULL;

    PyObject *loop = Py_NewRef(fut->fut_loop);
    int rc = schedule_one(st, loop, fut, &first);
    for (Py_ssize_t i = 0; i < nrest && rc == 0; i++) {
        rc = schedule_one(st, loop, fut, &rest->v[i]);
        /* as in asyncio: after a failure the rest are dropped */
    }
    Py_DECREF(loop);
    cbs_release(&first, 1);
    if (rest != NULL) {
        cbs_release(rest->v, nrest);
        PyMem_Free(rest);
    }
    return rc < 0 ? -1 : 0;
}

int
ac_future_add_done_callback(ac_state *st, FutureObj *fut, PyObject *cb,
                            PyObject *ctx)
{
    if (fut->fut_state != AC_PENDING) {
        return ac_call_soon(st, fut->fut_loop, cb, (PyObject *)fut, ctx);
    }
    return cbs_append(fut, cb, ctx);
}

int
ac_future_add_task_wakeup(ac_state *st, FutureObj *fut, PyObject *task)
{
    if (fut->fut_state != AC_PENDING) {
        return ac_task_schedule_wakeup(st, fut->fut_loop, task,
                                       (PyObject *)fut);
    }
    return cbs_append(fut, task, st->wakeup_marker);
}

/* ---------------------------------------------------------------------
 * state changes */

int
ac_future_init(ac_state *st, FutureObj *fut, PyObject *loop)
{
    /* __init__ may run twice: start over (but keep the instance dict,
     * which a subclass's __init__ may have filled already). */
    PyObject *dict = fut->fut_dict;
    fut->fut_dict = NULL;
    ac_future_clear(fut);
    fut->fut_dict = dict;
    fut->fut_state = AC_PENDING;
    fut->fut_log_tb = 0;
    fut->fut_blocking = 0;

    if (loop == NULL || loop == Py_None) {
        loop = PyObject_CallNoArgs(st->get_event_loop);
        if (loop == NULL) {
            return -1;
        }
    }
    else {
        Py_INCREF(loop);
    }
    fut->fut_loop = loop;

    int is_debug;
    if (ac_is_fast_loop(st, loop)) {
        is_debug = ((LoopObj *)loop)->loop_debug;
    }
    else {
        PyObject *dbg = PyObject_CallMethodNoArgs(loop, st->s_get_debug);
        if (dbg == NULL) {
            return -1;
        }
        is_debug = PyObject_IsTrue(dbg);
        Py_DECREF(dbg);
        if (is_debug < 0) {
            return -1;
        }
    }
    if (is_debug) {
        ac_fut_rare *r = ac_future_rare(fut);
        PyObject *tb = r == NULL ? NULL
                                 : PyObject_CallNoArgs(st->extract_stack);
        if (tb == NULL) {
            return -1;
        }
        Py_XSETREF(r->source_tb, tb);
    }
    return 0;
}

int
ac_future_set_result(ac_state *st, FutureObj *fut, PyObject *res)
{
    FUT_CHECK_INIT(fut, -1);
    if (fut->fut_state != AC_PENDING) {
        PyErr_SetString(st->InvalidStateError, "invalid state");
        return -1;
    }
    assert(fut->fut_result == NULL);
    fut->fut_result = Py_NewRef(res);
    fut->fut_state = AC_FINISHED;
    return schedule_callbacks(st, fut);
}

int
ac_future_set_exception(ac_state *st, FutureObj *fut, PyObject *exc)
{
    FUT_CHECK_INIT(fut, -1);
    if (fut->fut_state != AC_PENDING) {
        PyErr_SetString(st->InvalidStateError, "invalid state");
        return -1;
    }
    PyObject *val;
    if (PyExceptionClass_Check(exc)) {
        val = PyObject_CallNoArgs(exc);
        if (val == NULL) {
            return -1;
        }
        if (!PyExceptionInstance_Check(val)) {
            Py_DECREF(val);
            PyErr_SetString(PyExc_TypeError, "invalid exception object");
            return -1;
        }
    }
    else {
        val = Py_NewRef(exc);
    }
    if (!PyExceptionInstance_Check(val)) {
        Py_DECREF(val);
        PyErr_SetString(PyExc_TypeError, "invalid exception object");
        return -1;
    }
#if AC_STOPITERATION_WRAPPED
    if (PyErr_GivenExceptionMatches(val, PyExc_StopIteration)) {
        PyObject *wrapped = PyObject_CallFunction(
            PyExc_RuntimeError, "s",
            "StopIteration interacts badly with generators and cannot be "
            "raised into a Future");
        if (wrapped == NULL) {
            Py_DECREF(val);
            return -1;
        }
        PyException_SetCause(wrapped, Py_NewRef(val));
        PyException_SetContext(wrapped, val);  /* steals val */
        val = wrapped;
    }
#else
    if (Py_IS_TYPE(val, (PyTypeObject *)PyExc_StopIteration)) {
        Py_DECREF(val);
        PyErr_SetString(PyExc_TypeError,
                        "StopIteration interacts badly with generators and "
                        "cannot be raised into a Future");
        return -1;
    }
#endif
    assert(fut->fut_exception == NULL);
    PyObject *tb = PyException_GetTraceback(val);
    if (tb != NULL) {
        ac_fut_rare *r = ac_future_rare(fut);
        if (r == NULL) {
            Py_XDECREF(tb);
            Py_DECREF(val);
            return -1;
        }
        Py_XSETREF(r->exception_tb, tb);
    }
    fut->fut_exception = val;
    fut->fut_state = AC_FINISHED;
    if (schedule_callbacks(st, fut) < 0) {
        return -1;
    }
    fut->fut_log_tb = 1;
    return 0;
}

int
ac_future_set_cancel_msg(FutureObj *fut, PyObject *msg)
{
    if (msg == NULL && fut->fut_rare == NULL) {
        return 0;
    }
    ac_fut_rare *r = ac_future_rare(fut);
    if (r == NULL) {
        return -1;
    }
    Py_XSETREF(r->cancel_msg, Py_XNewRef(msg));
    return 0;
}

int
ac_future_cancel(ac_state *st, FutureObj *fut, PyObject *msg)
{
    fut->fut_log_tb = 0;
    if (fut->fut_state != AC_PENDING) {
        return 0;
    }
    if (ac_future_set_cancel_msg(fut, msg) < 0) {
        return -1;
    }
    fut->fut_state = AC_CANCELLED;
    if (schedule_callbacks(st, fut) < 0) {
        return -1;
    }
    return 1;
}

PyObject *
ac_future_make_cancelled_error(ac_state *st, FutureObj *fut)
{
    if (AC_RARE(fut, cancelled_exc) != NULL) {
        PyObject *exc = fut->fut_rare->cancelled_exc;
        fut->fut_rare->cancelled_exc = NULL;
        return exc;
    }
    PyObject *msg = AC_RARE(fut, cancel_msg);
    if (msg == NULL || msg == Py_None) {
        return PyObject_CallNoArgs(st->CancelledError);
    }
    return PyObject_CallOneArg(st->CancelledError, msg);
}

/* Outcome of a done future: 0 and *res = new ref to the result, or 1 and
 * *res = new ref to the exception result() would raise; -1 on error (also
 * for a pending future: InvalidStateError). */
int
ac_future_outcome(ac_state *st, FutureObj *fut, PyObject **res)
{
    *res = NULL;
    if (fut->fut_state == AC_CANCELLED) {
        *res = ac_future_make_cancelled_error(st, fut);
        return *res == NULL ? -1 : 1;
    }
    if (fut->fut_state != AC_FINISHED) {
        PyErr_SetString(st->InvalidStateError, "Result is not set.");
        return -1;
    }
    fut->fut_log_tb = 0;
    if (fut->fut_exception != NULL) {
        *res = Py_NewRef(fut->fut_exception);
        PyObject *tb = AC_RARE(fut, exception_tb);
        if (tb != NULL) {
            if (PyException_SetTraceback(*res, tb) < 0) {
                Py_CLEAR(*res);
                return -1;
            }
        }
        return 1;
    }
    *res = Py_NewRef(fut->fut_result);
    return 0;
}

PyObject *
ac_future_new(ac_state *st, PyObject *loop)
{
    PyObject *fut = ac_freelist_alloc(&st->future_free, st->FutureType,
                                      sizeof(FutureObj));
    if (fut == NULL) {
        return NULL;
    }
    PyObject_GC_Track(fut);
    if (ac_future_init(st, AC_FUT(fut), loop) < 0) {
        Py_DECREF(fut);
        return NULL;
    }
    return fut;
}

/* fut.result(): new reference, or NULL with the exception set. */
static PyObject *
future_result(ac_state *st, FutureObj *fut)
{
    PyObject *res;
    if (fut->fut_loop == NULL) {
        PyErr_SetString(st->InvalidStateError,
                        "Future object is not initialized.");
        return NULL;
    }
    int rc = ac_future_outcome(st, fut, &res);
    if (rc == 1) {
        ac_err_raise(res);
        return NULL;
    }
    return rc < 0 ? NULL : res;
}

/* ---------------------------------------------------------------------
 * GC and lifetime */

int
ac_future_traverse(FutureObj *fut, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(fut));
    Py_VISIT(fut->fut_loop);
    Py_VISIT(fut->fut_cb0.cb);
    Py_VISIT(fut->fut_cb0.ctx);
    for (Py_ssize_t i = 0; i < AC_NCBS(fut); i++) {
        Py_VISIT(fut->fut_cbs->v[i].cb);
        Py_VISIT(fut->fut_cbs->v[i].ctx);
    }
    Py_VISIT(fut->fut_result);
    Py_VISIT(fut->fut_exception);
    ac_fut_rare *r = fut->fut_rare;
    if (r != NULL) {
        Py_VISIT(r->exception_tb);
        Py_VISIT(r->source_tb);
        Py_VISIT(r->cancel_msg);
        Py_VISIT(r->cancelled_exc);
        Py_VISIT(r->step_cb);
        Py_VISIT(r->wakeup_cb);
    }
    Py_VISIT(fut->fut_dict);
    return 0;
}

ac_fut_rare *
ac_future_rare(FutureObj *fut)
{
    if (fut->fut_rare == NULL) {
        fut->fut_rare = PyMem_Calloc(1, sizeof(ac_fut_rare));
        if (fut->fut_rare == NULL) {
            PyErr_NoMemory();
        }
    }
    return fut->fut_rare;
}

void
ac_future_clear(FutureObj *fut)
{
    Py_CLEAR(fut->fut_loop);
    /* detach first: a destructor may re-enter this future */
    ac_cbvec *v = fut->fut_cbs;
    PyObject *cb0 = fut->fut_cb0.cb, *ctx0 = fut->fut_cb0.ctx;
    fut->fut_cb0.cb = NULL;
    fut->fut_cb0.ctx = NULL;
    fut->fut_cbs = NULL;
    Py_XDECREF(cb0);
    Py_XDECREF(ctx0);
    if (v != NULL) {
        cbs_release(v->v, v->n);
        PyMem_Free(v);
    }
    Py_CLEAR(fut->fut_result);
    Py_CLEAR(fut->fut_exception);
    /* a destructor run here may make a new block: loop until none */
    while (fut->fut_rare != NULL) {
        ac_fut_rare *r = fut->fut_rare;
        fut->fut_rare = NULL;
        Py_XDECREF(r->exception_tb);
        Py_XDECREF(r->source_tb);
        Py_XDECREF(r->cancel_msg);
        Py_XDECREF(r->cancelled_exc);
        Py_XDECREF(r->step_cb);
        Py_XDECREF(r->wakeup_cb);
        PyMem_Free(r);
    }
    Py_CLEAR(fut->fut_dict);
}

/* "exception was never retrieved", through the loop's exception handler. */
void
ac_future_finalize(PyObject *self)
{
    FutureObj *fut = AC_FUT(self);
    if (!ac_future_would_report(fut)) {
        return;
    }
    fut->fut_log_tb = 0;
    ac_state *st = AC_STATE_OF(self);
    PyObject *saved = ac_err_take();
    PyObject *name = PyType_GetName(Py_TYPE(self));
    PyObject *message = name == NULL ? NULL : PyUnicode_FromFormat(
        "%U exception was never retrieved", name);
    Py_XDECREF(name);
    if (message == NULL) {
        PyErr_WriteUnraisable(self);
    }
    else {
        ac_report_from_finalizer(st, self, fut->fut_loop,
                                 AC_RARE(fut, source_tb),
                                 st->s_message, message,
                                 st->s_exception, fut->fut_exception,
                                 st->s_future, self, NULL);
        Py_DECREF(message);
    }
    ac_err_give(saved);
}

/* ---------------------------------------------------------------------
 * freelists (freelist.h)
 *
 * Every create_future, create_task and await of a future makes an object
 * that soon dies.  The memory of a dead Future, Task or FutureIter of
 * exactly our types (never a subclass: those go through subtype_dealloc)
 * goes on a per-interpreter list, up to AC_FUTURE_FREELIST_MAX of each.
 * A future or task is kept only when its tp_finalize was not called (see
 * ac_future_dealloc_reusable: skipped when it would do nothing), as the GC
 * header's "finalized" bit stays set for good once it ran; one finalized
 * by the collector (cyclic garbage) or that had something to report is
 * freed as before.
 * -DAC_FUTURE_FREELIST_MAX=0 turns the lists off (debug and ASan builds). */

#ifndef AC_FUTURE_FREELIST_MAX
#define AC_FUTURE_FREELIST_MAX 256
#endif

void
ac_future_freelists_close(ac_state *st)
{
    st->freelists_off = 1;
    ac_freelist_drop(&st->future_free);
    ac_freelist_drop(&st->task_free);
    ac_freelist_drop(&st->futiter_free);
}

/* After the finalizer: weakrefs, clear(), then the memory to the freelist
 * (reusable) or freed. */
static void
future_dealloc_tail(PyObject *self, inquiry clear, int reusable)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (AC_FUT(self)->fut_weakreflist != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    (void)clear(self);
    if (!reusable || !ac_freelist_keep(self, AC_FUTURE_FREELIST_MAX)) {
        tp->tp_free(self);
    }
    Py_DECREF(tp);
}

void
ac_future_dealloc(PyObject *self, inquiry clear)
{
    if (PyObject_CallFinalizerFromDealloc(self) < 0) {
        return;  /* resurrected */
    }
    future_dealloc_tail(self, clear, 0);
}

/* PyObject_CallFinalizerFromDealloc sets the "finalized" bit even when the
 * finalizer has nothing to do: not called here. */
void
ac_future_dealloc_reusable(PyObject *self, inquiry clear)
{
    future_dealloc_tail(self, clear, 1);
}

static int
Future_traverse(PyObject *self, visitproc visit, void *arg)
{
    return ac_future_traverse(AC_FUT(self), visit, arg);
}

static int
Future_clear(PyObject *self)
{
    ac_future_clear(AC_FUT(self));
    return 0;
}

static void
Future_dealloc(PyObject *self)
{
    /* exactly Future (a Python subclass's instances come through
     * subtype_dealloc), and nothing for ac_future_finalize to report */
    if (Py_TYPE(self)->tp_dealloc == Future_dealloc &&
        !ac_future_would_report(AC_FUT(self))) {
        ac_future_dealloc_reusable(self, Future_clear);
    }
    else {
        ac_future_dealloc(self, Future_clear);
    }
}

/* ---------------------------------------------------------------------
 * Python-visible methods */

static int
Future_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"loop", NULL};
    PyObject *loop = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$O:Future", kwlist, &loop)) {
        return -1;
    }
    return ac_future_init(AC_STATE_OF(self), AC_FUT(self), loop);
}

static PyObject *
Future_result(PyObject *self, PyObject *unused)
{
    return future_result(AC_STATE_OF(self), AC_FUT(self));
}

static PyObject *
Future_exception(PyObject *self, PyObject *unused)
{
    FutureObj *fut = AC_FUT(self);
    ac_state *st = AC_STATE_OF(self);
    if (fut->fut_loop == NULL) {
        PyErr_SetString(st->InvalidStateError,
                        "Future object is not initialized.");
        return NULL;
    }
    if (fut->fut_state == AC_CANCELLED) {
        PyObject *exc = ac_future_make_cancelled_error(st, fut);
        if (exc != NULL) {
            ac_err_raise(exc);
        }
        return NULL;
    }
    if (fut->fut_state != AC_FINISHED) {
        PyErr_SetString(st->InvalidStateError, "Exception is not set.");
        return NULL;
    }
    fut->fut_log_tb = 0;
    if (fut->fut_exception != NULL) {
        return Py_NewRef(fut->fut_exception);
    }
    Py_RETURN_NONE;
}

static PyObject *
Future_set_result(PyObject *self, PyObject *res)
{
    if (ac_future_set_result(AC_STATE_OF(self), AC_FUT(self), res) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Future_set_exception(PyObject *self, PyObject *exc)
{
    if (ac_future_set_exception(AC_STATE_OF(self), AC_FUT(self), exc) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Future_add_done_callback(PyObject *self, PyObject *const *args,
                         Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"", "context"};
    PyObject *vals[2] = {NULL, Py_None};
    FutureObj *fut = AC_FUT(self);
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "add_done_callback() missing 1 "
                        "required positional argument: 'fn'");
        return NULL;
    }
    if (ac_parse_args("add_done_callback", args, nargs, kwnames, names, 2, 1,
                      1, vals) < 0) {
        return NULL;
    }
    PyObject *fn = vals[0], *ctx = vals[1];
    FUT_CHECK_INIT(fut, NULL);
    ac_state *st = AC_STATE_OF(self);
    int rc;
    if (ctx == Py_None) {
        if (fut->fut_state != AC_PENDING) {
            rc = ac_call_soon(st, fut->fut_loop, fn, self, NULL);
        }
        else {
            PyObject *copy = PyContext_CopyCurrent();
            if (copy == NULL) {
                return NULL;
            }
            rc = cbs_append(fut, fn, copy);
            Py_DECREF(copy);
        }
    }
    else {
        rc = ac_future_add_done_callback(st, fut, fn, ctx);
    }
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

Py_ssize_t
ac_future_remove_done_callback(ac_state *st, FutureObj *fut, PyObject *fn)
{
    if (fut->fut_cb0.cb == NULL) {
        return 0;
    }
    PyObject *marker = st->wakeup_marker;
    if (AC_NCBS(fut) == 0 && fut->fut_cb0.cb == fn &&
        fut->fut_cb0.ctx != marker) {
        /* the only callback, by identity (no __eq__ runs): what the general
         * case below ends with, without copying */
        PyObject *cb = fut->fut_cb0.cb, *ctx = fut->fut_cb0.ctx;
        fut->fut_cb0.cb = NULL;
        fut->fut_cb0.ctx = NULL;
        Py_DECREF(cb);
        Py_XDECREF(ctx);
        return 1;
    }
    /* Compare against a snapshot: __eq__ may run any code, including code
     * that changes this future's callbacks.  Then, as asyncio does, the
     * callbacks become the filtered snapshot. */
    ac_cb *snap;
    Py_ssize_t n = 1 + AC_NCBS(fut);
    snap = PyMem_New(ac_cb, n);
    if (snap == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    snap[0].cb = Py_NewRef(fut->fut_cb0.cb);
    snap[0].ctx = Py_XNewRef(fut->fut_cb0.ctx);
    for (Py_ssize_t i = 1; i < n; i++) {
        snap[i].cb = Py_NewRef(fut->fut_cbs->v[i - 1].cb);
        snap[i].ctx = Py_XNewRef(fut->fut_cbs->v[i - 1].ctx);
    }
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int eq = snap[i].ctx == marker ? ac_task_is_wakeup(fn, snap[i].cb) :
            snap[i].cb == fn ? 1 :
            PyObject_RichCompareBool(snap[i].cb, fn, Py_EQ);
        if (eq < 0) {
            /* drop the not yet compacted rest */
            for (Py_ssize_t j = i; j < n; j++) {
                Py_XDECREF(snap[j].cb);
                Py_XDECREF(snap[j].ctx);
            }
            cbs_release(snap, kept);
            PyMem_Free(snap);
            return -1;
        }
        if (eq) {
            Py_CLEAR(snap[i].cb);
            Py_CLEAR(snap[i].ctx);
        }
        else {
            snap[kept++] = snap[i];
        }
    }
    Py_ssize_t removed = n - kept;
    if (removed == 0) {
        cbs_release(snap, kept);
        PyMem_Free(snap);
        return 0;
    }
    /* replace the current callbacks with the survivors */
    ac_cb *old;
    Py_ssize_t nold = cbs_detach(fut, &old);
    if (nold < 0) {
        cbs_release(snap, kept);
        PyMem_Free(snap);
        return -1;
    }
    int rc = 0;
    for (Py_ssize_t i = 0; i < kept && rc == 0; i++) {
        rc = cbs_append(fut, snap[i].cb, snap[i].ctx);
    }
    cbs_release(snap, kept);
    PyMem_Free(snap);
    if (old != NULL) {
        cbs_release(old, nold);
        PyMem_Free(old);
    }
    return rc < 0 ? -1 : removed;
}

static PyObject *
Future_remove_done_callback(PyObject *self, PyObject *fn)
{
    FUT_CHECK_INIT(AC_FUT(self), NULL);
    Py_ssize_t n = ac_future_remove_done_callback(AC_STATE_OF(self),
                                                  AC_FUT(self), fn);
    return n < 0 ? NULL : PyLong_FromSsize_t(n);
}

static PyObject *
Future_cancel(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
              PyObject *kwnames)
{
    static const char *const names[] = {"msg"};
    PyObject *msg = Py_None;
    if (ac_parse_args("cancel", args, nargs, kwnames, names, 1, 1, 0,
                      &msg) < 0) {
        return NULL;
    }
    FUT_CHECK_INIT(AC_FUT(self), NULL);
    int rc = ac_future_cancel(AC_STATE_OF(self), AC_FUT(self), msg);
    if (rc < 0) {
        return NULL;
    }
    return PyBool_FromLong(rc);
}

static PyObject *
Future_cancelled(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(AC_FUT(self)->fut_state == AC_CANCELLED);
}

static PyObject *
Future_done(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(AC_FUT(self)->fut_state != AC_PENDING);
}

static PyObject *
Future_get_loop(PyObject *self, PyObject *unused)
{
    FUT_CHECK_INIT(AC_FUT(self), NULL);
    return Py_NewRef(AC_FUT(self)->fut_loop);
}

static PyObject *
Future_make_cancelled_error(PyObject *self, PyObject *unused)
{
    return ac_future_make_cancelled_error(AC_STATE_OF(self), AC_FUT(self));
}

static PyObject *
Future_repr(PyObject *self)
{
    ac_state *st = AC_STATE_OF(self);
    FUT_CHECK_INIT(AC_FUT(self), NULL);
    return PyObject_CallOneArg(st->future_repr, self);
}

static PyObject *future_new_iter(PyObject *self);

/* --- properties --- */

static PyObject *
Future_get_blocking(PyObject *self, void *c)
{
    /* as asyncio's C Future: False until initialised */
    return PyBool_FromLong(AC_FUT(self)->fut_loop != NULL &&
                           AC_FUT(self)->fut_blocking);
}

static int
Future_set_blocking(PyObject *self, PyObject *val, void *c)
{
    FUT_CHECK_INIT(AC_FUT(self), -1);
    int b = ac_flag_value(val);
    if (b < 0) {
        return -1;
    }
    AC_FUT(self)->fut_blocking = (char)b;
    return 0;
}

static PyObject *
Future_get_log_traceback(PyObject *self, void *c)
{
    FUT_CHECK_INIT(AC_FUT(self), NULL);
    return PyBool_FromLong(AC_FUT(self)->fut_log_tb);
}

static int
Future_set_log_traceback(PyObject *self, PyObject *val, void *c)
{
    int b = ac_flag_value(val);
    if (b < 0) {
        return -1;
    }
    if (b) {
        PyErr_SetString(PyExc_ValueError,
                        "_log_traceback can only be set to False");
        return -1;
    }
    AC_FUT(self)->fut_log_tb = 0;
    return 0;
}

static PyObject *
Future_get_callbacks(PyObject *self, void *c)
{
    FutureObj *fut = AC_FUT(self);
    if (fut->fut_cb0.cb == NULL) {
        Py_RETURN_NONE;
    }
    Py_ssize_t n = 1 + AC_NCBS(fut);
    PyObject *list = PyList_New(n);
    if (list == NULL) {
        return NULL;
    }
    ac_state *st = AC_STATE_OF(self);
    for (Py_ssize_t i = 0; i < n; i++) {
        ac_cb *e = i == 0 ? &fut->fut_cb0 : &fut->fut_cbs->v[i - 1];
        PyObject *t;
        if (e->ctx == st->wakeup_marker) {
            /* a task's wakeup: its bound method, in the task's context */
            PyObject *cb = ac_task_wakeup_callable(e->cb);
            PyObject *ctx = ((TaskObj *)e->cb)->task_context;
            t = cb == NULL ? NULL :
                PyTuple_Pack(2, cb, ctx ? ctx : Py_None);
            Py_XDECREF(cb);
        }
        else {
            t = PyTuple_Pack(2, e->cb, e->ctx ? e->ctx : Py_None);
        }
        if (t == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, t);
    }
    return list;
}

static PyObject *
Future_get_cancel_message(PyObject *self, void *c)
{
    return ac_or_none(AC_RARE(AC_FUT(self), cancel_msg));
}

static int
Future_set_cancel_message(PyObject *self, PyObject *val, void *c)
{
    if (val == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete attribute");
        return -1;
    }
    return ac_future_set_cancel_msg(AC_FUT(self), val);
}

static PyObject *
Future_get_source_traceback(PyObject *self, void *c)
{
    return ac_or_none(AC_RARE(AC_FUT(self), source_tb));
}

static PyObject *
Future_get_state(PyObject *self, void *c)
{
    FUT_CHECK_INIT(AC_FUT(self), NULL);
    switch (AC_FUT(self)->fut_state) {
    case AC_PENDING:
        return PyUnicode_FromString("PENDING");
    case AC_CANCELLED:
        return PyUnicode_FromString("CANCELLED");
    default:
        return PyUnicode_FromString("FINISHED");
    }
}

static PyMethodDef Future_methods[] = {
    {"result", Future_result, METH_NOARGS,
     "Return the result, or raise the exception, of a done future."},
    {"exception", Future_exception, METH_NOARGS,
     "Return the exception set on a done future (None if none)."},
    {"set_result", Future_set_result, METH_O,
     "Mark the future done and set its result."},
    {"set_exception", Future_set_exception, METH_O,
     "Mark the future done and set an exception."},
    {"add_done_callback", (PyCFunction)(void (*)(void))Future_add_done_callback,
     METH_FASTCALL | METH_KEYWORDS,
     "Call fn(future) via the loop when the future is done."},
    {"remove_done_callback", Future_remove_done_callback, METH_O,
     "Remove all instances of a callback; return how many."},
    {"cancel", (PyCFunction)(void (*)(void))Future_cancel,
     METH_FASTCALL | METH_KEYWORDS,
     "Cancel the future and schedule its callbacks."},
    {"cancelled", Future_cancelled, METH_NOARGS, "True if cancelled."},
    {"done", Future_done, METH_NOARGS, "True if done."},
    {"get_loop", Future_get_loop, METH_NOARGS, "The future's event loop."},
    {"_make_cancelled_error", Future_make_cancelled_error, METH_NOARGS,
     "The CancelledError to raise for this cancelled future."},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS,
     "See PEP 585"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Future_getset[] = {
    {"_asyncio_future_blocking", Future_get_blocking, Future_set_blocking,
     NULL, NULL},
    {"_log_traceback", Future_get_log_traceback, Future_set_log_traceback,
     NULL, NULL},
    {"_callbacks", Future_get_callbacks, NULL, NULL, NULL},
    {"_cancel_message", Future_get_cancel_message, Future_set_cancel_message,
     NULL, NULL},
    {"_state", Future_get_state, NULL, NULL, NULL},
    {"_source_traceback", Future_get_source_traceback, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Future_members[] = {
    {"_loop", AC_T_OBJECT, offsetof(FutureObj, fut_loop), AC_READONLY, NULL},
    {"_result", AC_T_OBJECT, offsetof(FutureObj, fut_result), AC_READONLY,
     NULL},
    {"_exception", AC_T_OBJECT, offsetof(FutureObj, fut_exception),
     AC_READONLY, NULL},
    {"__weaklistoffset__", T_PYSSIZET,
     offsetof(FutureObj, fut_weakreflist), READONLY, NULL},
    {"__dictoffset__", T_PYSSIZET, offsetof(FutureObj, fut_dict), READONLY,
     NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Future_slots[] = {
    {Py_tp_doc, "asyncio.Future, implemented in C by asyncio_c."},
    {Py_tp_dealloc, Future_dealloc},
    {Py_tp_traverse, Future_traverse},
    {Py_tp_clear, Future_clear},
    {Py_tp_finalize, ac_future_finalize},
    {Py_tp_repr, Future_repr},
    {Py_tp_iter, future_new_iter},
    {Py_am_await, future_new_iter},
    {Py_tp_methods, Future_methods},
    {Py_tp_getset, Future_getset},
    {Py_tp_members, Future_members},
    {Py_tp_init, Future_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_alloc, ac_freelist_tp_alloc},  /* inherited by Task */
    {0, NULL},
};

static PyType_Spec Future_spec = {
    .name = "asyncio_c._core.Future",
    .basicsize = sizeof(FutureObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Future_slots,
};

/* ---------------------------------------------------------------------
 * The await iterator: `yield self` while pending, then return the result. */

typedef struct {
    PyObject_HEAD
    FutureObj *it_fut;   /* NULL once exhausted */
} FutureIterObj;

static PyObject *
future_new_iter(PyObject *self)
{
    ac_state *st = AC_STATE_OF(self);
    FUT_CHECK_INIT(AC_FUT(self), NULL);
    FutureIterObj *it = (FutureIterObj *)ac_freelist_alloc(
        &st->futiter_free, st->FutureIterType, sizeof(FutureIterObj));
    if (it == NULL) {
        return NULL;
    }
    it->it_fut = (FutureObj *)Py_NewRef(self);
    PyObject_GC_Track(it);
    return (PyObject *)it;
}

static void
FutureIter_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(((FutureIterObj *)self)->it_fut);
    /* no subclasses, no finalizer, no weakrefs */
    if (!ac_freelist_keep(self, AC_FUTURE_FREELIST_MAX)) {
        PyObject_GC_Del(self);
    }
    Py_DECREF(tp);
}

static int
FutureIter_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((FutureIterObj *)self)->it_fut);
    return 0;
}

static int
FutureIter_clear(PyObject *self)
{
    Py_CLEAR(((FutureIterObj *)self)->it_fut);
    return 0;
}

static PySendResult
FutureIter_am_send(PyObject *self, PyObject *arg, PyObject **result)
{
    FutureIterObj *it = (FutureIterObj *)self;
    FutureObj *fut = it->it_fut;
    *result = NULL;
    if (fut == NULL) {
        *result = Py_NewRef(Py_None);
        return PYGEN_RETURN;
    }
    if (fut->fut_state == AC_PENDING) {
        /* As asyncio's C Future: yield while nobody has taken the future
         * (a task clears the flag when it starts waiting on it). */
        if (!fut->fut_blocking) {
            fut->fut_blocking = 1;
            *result = Py_NewRef((PyObject *)fut);
            return PYGEN_NEXT;
        }
        PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
        return PYGEN_ERROR;
    }
    it->it_fut = NULL;
    PyObject *res = future_result(AC_STATE_OF(fut), fut);
    Py_DECREF(fut);
    if (res == NULL) {
        return PYGEN_ERROR;
    }
    *result = res;
    return PYGEN_RETURN;
}

static PyObject *
FutureIter_iternext(PyObject *self)
{
    PyObject *res = NULL;
    PySendResult r = FutureIter_am_send(self, Py_None, &res);
    return ac_gen_result(r, res, 0);
}

static PyObject *
FutureIter_send(PyObject *self, PyObject *arg)
{
    /* Futures ignore sent values, like asyncio's; send() raises
     * StopIteration even for a None result. */
    PyObject *res;
    PySendResult r = FutureIter_am_send(self, Py_None, &res);
    return ac_gen_result(r, res, 1);
}

static PyObject *
FutureIter_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *exc = ac_exc_from_throw_args(args, nargs);
    if (exc == NULL) {
        return NULL;
    }
    Py_CLEAR(((FutureIterObj *)self)->it_fut);
    ac_err_give(exc);
    return NULL;
}

static PyObject *
FutureIter_close(PyObject *self, PyObject *unused)
{
    Py_CLEAR(((FutureIterObj *)self)->it_fut);
    Py_RETURN_NONE;
}

static PyMethodDef FutureIter_methods[] = {
    {"send", FutureIter_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))FutureIter_throw, METH_FASTCALL,
     NULL},
    {"close", FutureIter_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot FutureIter_slots[] = {
    {Py_tp_dealloc, FutureIter_dealloc},
    {Py_tp_traverse, FutureIter_traverse},
    {Py_tp_clear, FutureIter_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, FutureIter_iternext},
    {Py_am_send, FutureIter_am_send},
    {Py_tp_methods, FutureIter_methods},
    {0, NULL},
};

static PyType_Spec FutureIter_spec = {
    .name = "asyncio_c._core.FutureIter",
    .basicsize = sizeof(FutureIterObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = FutureIter_slots,
};

int
ac_future_init_types(PyObject *mod, ac_state *st)
{
    st->FutureType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &Future_spec, NULL);
    if (st->FutureType == NULL) {
        return -1;
    }
    st->FutureIterType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &FutureIter_spec, NULL);
    if (st->FutureIterType == NULL) {
        return -1;
    }
    if (PyModule_AddType(mod, st->FutureType) < 0) {
        return -1;
    }
    return 0;
}
