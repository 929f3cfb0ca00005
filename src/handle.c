/* handle.c -- Handle and TimerHandle: what call_soon / call_later / call_at
 * and add_reader / add_writer return, and what the loop's ready queue runs.
 *
 * A handle made internally for one argument (a future's done callback)
 * keeps that argument inline and builds the `_args` tuple only if someone
 * asks for it.  Repr is asyncio-shaped and lives in Python
 * (asyncio_c/_handles.py): it is not hot. */
#include "state.h"

#define H(o) ((HandleObj *)(o))
#define TH(o) ((TimerHandleObj *)(o))

static int
handle_loop_debug(ac_state *st, PyObject *loop)
{
    if (loop != NULL && (ac_is_fast_loop(st, loop) ||
                         PyObject_TypeCheck(loop, st->LoopType))) {
        return ((LoopObj *)loop)->loop_debug;
    }
    if (loop == NULL || loop == Py_None) {
        return 0;
    }
    PyObject *r = PyObject_CallMethodNoArgs(loop, st->s_get_debug);
    if (r == NULL) {
        return -1;
    }
    int b = PyObject_IsTrue(r);
    Py_DECREF(r);
    return b;
}

/* Fill a fresh handle.  args: a tuple, or NULL with arg1 the single
 * argument (or NULL for none).  ctx NULL or None: copy the current one. */
static int
handle_fill(ac_state *st, HandleObj *h, PyObject *cb, PyObject *args,
            PyObject *arg1, PyObject *loop, PyObject *ctx)
{
    h->h_callback = Py_NewRef(cb);
    h->h_args = Py_XNewRef(args);
    h->h_arg1 = args == NULL ? Py_XNewRef(arg1) : NULL;
    h->h_loop = Py_NewRef(loop);
    if (ctx == NULL || ctx == Py_None) {
        h->h_context = PyContext_CopyCurrent();
        if (h->h_context == NULL) {
            return -1;
        }
    }
    else {
        h->h_context = Py_NewRef(ctx);
    }
    int dbg = handle_loop_debug(st, loop);
    if (dbg < 0) {
        return -1;
    }
    if (dbg) {
        h->h_source_tb = PyObject_CallNoArgs(st->extract_stack);
        if (h->h_source_tb == NULL) {
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * freelists (freelist.h)
 *
 * A loop makes and drops a handle per call_soon and per timer.  The memory
 * of a dead handle of exactly Handle or TimerHandle (never a subclass) goes
 * on a per-interpreter list, up to AC_HANDLE_FREELIST_MAX of each, and the
 * next handle reuses it: no malloc/free, and no allocation counted by the
 * garbage collector, whose gen0 collections come every 700 net
 * allocations (each call_soon also allocates a Context, which we cannot
 * avoid, so they are fewer, not gone).  Entries are chained through
 * h_callback.
 * 512 each: at most 512 * (112 + 144) bytes (obmalloc's size classes),
 * 128 KiB per interpreter; measured (callgrind, call_soon in batches of
 * 1000): 256 did worse than no list (the collections fell at a worse
 * moment), 512 and 1024 both did better.  -DAC_HANDLE_FREELIST_MAX=0
 * turns the lists off (e.g. to let ASan see a freed handle's reuse). */

#ifndef AC_HANDLE_FREELIST_MAX
#define AC_HANDLE_FREELIST_MAX 512
#endif

void
ac_handle_freelists_close(ac_state *st)
{
    st->freelists_off = 1;
    ac_freelist_drop(&st->handle_free);
    ac_freelist_drop(&st->timer_free);
}

PyObject *
ac_handle_new(ac_state *st, PyObject *cb, PyObject *args, PyObject *arg1,
              PyObject *loop, PyObject *ctx)
{
    HandleObj *h = H(ac_freelist_alloc(&st->handle_free, st->HandleType,
                                       sizeof(HandleObj)));
    if (h == NULL) {
        return NULL;
    }
    if (handle_fill(st, h, cb, args, arg1, loop, ctx) < 0) {
        PyObject_GC_Track(h);
        Py_DECREF(h);
        return NULL;
    }
    PyObject_GC_Track(h);
    return (PyObject *)h;
}

PyObject *
ac_timerhandle_new(ac_state *st, double when, PyObject *cb, PyObject *args,
                   PyObject *loop, PyObject *ctx)
{
    TimerHandleObj *t = TH(ac_freelist_alloc(&st->timer_free,
                                             st->TimerHandleType,
                                             sizeof(TimerHandleObj)));
    if (t == NULL) {
        return NULL;
    }
    ac_timer_init(&t->th_node, when);
    t->th_when = when;
    if (handle_fill(st, H(t), cb, args, NULL, loop, ctx) < 0) {
        PyObject_GC_Track(t);
        Py_DECREF(t);
        return NULL;
    }
    PyObject_GC_Track(t);
    return (PyObject *)t;
}

static int
ensure_handles_module(ac_state *st)
{
    if (st->handle_repr == NULL) {
        st->handle_repr = PyImport_ImportModule("asyncio_c._handles");
    }
    return st->handle_repr == NULL ? -1 : 0;
}

/* Report an exception raised by a callback, as asyncio's Handle._run:
 * -1 only for what the exception handler lets through. */
/* The report of a failed callback could not be made (the callback's or an
 * argument's repr raised, no memory): that error propagates out of the
 * run, with the callback's exception as its __context__, as it does out
 * of asyncio's Handle._run.  -1. */
static int
raise_from_report(PyObject *exc)
{
    PyObject *raised = ac_err_take();
    if (raised != NULL && raised != exc) {
        PyException_SetContext(raised, Py_NewRef(exc));
    }
    ac_err_give(raised);
    return -1;
}

static int
handle_report(ac_state *st, HandleObj *h, PyObject *cb, PyObject *args,
              PyObject *exc)
{
    PyObject *cbrepr = NULL, *msg = NULL, *context = NULL;
    int rc = 0;
    if (ensure_handles_module(st) < 0) {
        goto error;
    }
    cbrepr = PyObject_CallMethod(st->handle_repr, "callback_source", "OOO",
                                 cb, args ? args : Py_None, h->h_loop);
    if (cbrepr == NULL) {
        goto error;
    }
    msg = PyUnicode_FromFormat("Exception in callback %U", cbrepr);
    context = PyDict_New();
    if (msg == NULL || context == NULL ||
        PyDict_SetItem(context, st->s_message, msg) < 0 ||
        PyDict_SetItem(context, st->s_exception, exc) < 0 ||
        PyDict_SetItem(context, st->s_handle, (PyObject *)h) < 0) {
        goto error;
    }
    if (h->h_source_tb != NULL && PyObject_IsTrue(h->h_source_tb) == 1 &&
        PyDict_SetItem(context, st->s_source_traceback, h->h_source_tb) < 0) {
        goto error;
    }
    rc = ac_call_exception_handler(st, h->h_loop, context);
    goto done;
error:
    rc = raise_from_report(exc);
done:
    Py_XDECREF(cbrepr);
    Py_XDECREF(msg);
    Py_XDECREF(context);
    return rc;
}

static int report_failure(ac_state *st, PyObject *h, PyObject *loop,
                          PyObject *cb, PyObject *args, PyObject *arg1,
                          PyObject *ctx, PyObject *exc);

/* Call cb(*args), cb(arg1) or cb() in ctx.  An exception goes to the loop's
 * exception handler as asyncio's Handle._run sends it, naming h (or, for
 * internal work, a Handle made for the report); SystemExit and
 * KeyboardInterrupt are raised: -1.  The caller holds every reference. */
static int
call_in_context(ac_state *st, PyObject *h, PyObject *loop, PyObject *cb,
                PyObject *args, PyObject *arg1, PyObject *ctx)
{
    PyObject *res = NULL;
    if (PyContext_Enter(ctx) == 0) {
        if (args != NULL && PyTuple_Check(args)) {
            res = PyObject_Vectorcall(cb, &PyTuple_GET_ITEM(args, 0),
                                      PyTuple_GET_SIZE(args), NULL);
        }
        else if (args != NULL) {
            /* Handle(cb, args, loop) keeps args as given: cb(*args),
             * refused as the interpreter refuses *args */
            PyObject *t = NULL;
            if (Py_TYPE(args)->tp_iter == NULL && !PySequence_Check(args)) {
                PyErr_Format(PyExc_TypeError,
                             "Value after * must be an iterable, not %.200s",
                             Py_TYPE(args)->tp_name);
            }
            else {
                t = PySequence_Tuple(args);
            }
            if (t != NULL) {
                res = PyObject_Call(cb, t, NULL);
                Py_DECREF(t);
            }
        }
        else if (arg1 != NULL) {
            res = PyObject_Vectorcall(cb, &arg1, 1, NULL);
        }
        else {
            res = PyObject_CallNoArgs(cb);
        }
        if (PyContext_Exit(ctx) < 0) {
            Py_CLEAR(res);
        }
    }
    if (res != NULL) {
        Py_DECREF(res);
        return 0;
    }
    PyObject *exc = ac_err_take();
    if (PyErr_GivenExceptionMatches(exc, PyExc_SystemExit) ||
        PyErr_GivenExceptionMatches(exc, PyExc_KeyboardInterrupt)) {
        ac_err_give(exc);
        return -1;
    }
    return report_failure(st, h, loop, cb, args, arg1, ctx, exc);
}

/* The failed callback's report (exc owned). */
static int
report_failure(ac_state *st, PyObject *h, PyObject *loop, PyObject *cb,
               PyObject *args, PyObject *arg1, PyObject *ctx, PyObject *exc)
{
    int rc = 0;
    PyObject *rargs = args != NULL ? Py_NewRef(args) :
        arg1 != NULL ? PyTuple_Pack(1, arg1) : NULL;
    PyObject *owned = NULL;
    if (h == NULL && (rargs != NULL || arg1 == NULL)) {
        h = owned = ac_handle_new(st, cb, rargs, NULL, loop, ctx);
    }
    if (h == NULL) {
        rc = raise_from_report(exc);
    }
    else {
        rc = handle_report(st, (HandleObj *)h, cb, rargs, exc);
    }
    Py_XDECREF(owned);
    Py_XDECREF(rargs);
    Py_DECREF(exc);
    return rc;
}

int
ac_handle_run(ac_state *st, PyObject *self)
{
    HandleObj *h = H(self);
    PyObject *cb = h->h_callback, *args = h->h_args, *arg1 = h->h_arg1;
    PyObject *ctx = h->h_context, *loop = h->h_loop;
    if (cb == NULL) {
        return 0;  /* cancelled */
    }
    /* the callback may cancel its own handle: hold what we use */
    Py_INCREF(cb);
    Py_XINCREF(args);
    Py_XINCREF(arg1);
    Py_INCREF(ctx);
    Py_INCREF(loop);
    int rc = call_in_context(st, self, loop, cb, args, arg1, ctx);
    Py_DECREF(cb);
    Py_XDECREF(args);
    Py_XDECREF(arg1);
    Py_DECREF(ctx);
    Py_DECREF(loop);
    return rc;
}

int
ac_callback_run(ac_state *st, PyObject *loop, PyObject *cb, PyObject *arg,
                PyObject *ctx)
{
    return call_in_context(st, NULL, loop, cb, NULL, arg, ctx);
}

int
ac_callback_report(ac_state *st, PyObject *loop, PyObject *cb, PyObject *arg,
                   PyObject *ctx, PyObject *exc)
{
    return report_failure(st, NULL, loop, cb, NULL, arg, ctx, exc);
}

/* ---------------------------------------------------------------------
 * cancel */

int
ac_handle_cancel(ac_state *st, PyObject *self)
{
    HandleObj *h = H(self);
    if (h->h_cancelled) {
        return 0;
    }
    h->h_cancelled = 1;
    if (Py_IS_TYPE(self, st->TimerHandleType) || PyObject_TypeCheck(
            self, st->TimerHandleType)) {
        if (ac_timer_active(&TH(self)->th_node)) {
            /* the heap's reference goes with the entry */
            ac_loop_timer_cancelled(st, h->h_loop, self);
        }
    }
    int dbg = handle_loop_debug(st, h->h_loop);
    if (dbg < 0) {
        return -1;
    }
    if (dbg) {
        PyObject *r = PyObject_Repr(self);
        if (r == NULL) {
            return -1;
        }
        Py_XSETREF(h->h_repr, r);
    }
    Py_CLEAR(h->h_callback);
    Py_CLEAR(h->h_args);
    Py_CLEAR(h->h_arg1);
    return 0;
}

/* ---------------------------------------------------------------------
 * type machinery */

static int
Handle_traverse(PyObject *self, visitproc visit, void *arg)
{
    HandleObj *h = H(self);
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(h->h_callback);
    Py_VISIT(h->h_args);
    Py_VISIT(h->h_arg1);
    Py_VISIT(h->h_context);
    Py_VISIT(h->h_loop);
    Py_VISIT(h->h_source_tb);
    Py_VISIT(h->h_repr);
    return 0;
}

static int
Handle_clear(PyObject *self)
{
    HandleObj *h = H(self);
    Py_CLEAR(h->h_callback);
    Py_CLEAR(h->h_args);
    Py_CLEAR(h->h_arg1);
    Py_CLEAR(h->h_context);
    Py_CLEAR(h->h_loop);
    Py_CLEAR(h->h_source_tb);
    Py_CLEAR(h->h_repr);
    return 0;
}

static void
Handle_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (H(self)->h_weakreflist != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    Handle_clear(self);
    /* a Python subclass's instances come here through subtype_dealloc */
    if (tp->tp_dealloc != Handle_dealloc ||
        !ac_freelist_keep(self, AC_HANDLE_FREELIST_MAX)) {
        tp->tp_free(self);
    }
    Py_DECREF(tp);
}

/* Handle(callback, args, loop, context=None), as asyncio.Handle */
static int
Handle_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"callback", "args", "loop", "context", NULL};
    PyObject *cb, *cargs, *loop, *ctx = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO|O:Handle", kwlist,
                                     &cb, &cargs, &loop, &ctx)) {
        return -1;
    }
    Handle_clear(self);
    return handle_fill(AC_STATE_OF(self), H(self), cb, cargs, NULL, loop, ctx);
}

/* A zeroed TimerHandle's node would claim slot 0 of a heap: detach it. */
static PyObject *
TimerHandle_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    PyObject *self = PyType_GenericNew(tp, args, kwds);
    if (self != NULL) {
        ac_timer_init(&TH(self)->th_node, 0.0);
    }
    return self;
}

static int
TimerHandle_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"when", "callback", "args", "loop", "context",
                             NULL};
    double when;
    PyObject *cb, *cargs, *loop, *ctx = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "dOOO|O:TimerHandle", kwlist,
                                     &when, &cb, &cargs, &loop, &ctx)) {
        return -1;
    }
    if (ac_timer_active(&TH(self)->th_node)) {
        PyErr_SetString(PyExc_RuntimeError, "TimerHandle is scheduled");
        return -1;
    }
    Handle_clear(self);
    ac_timer_init(&TH(self)->th_node, when);
    TH(self)->th_when = when;
    return handle_fill(AC_STATE_OF(self), H(self), cb, cargs, NULL, loop, ctx);
}

static PyObject *
Handle_cancel(PyObject *self, PyObject *unused)
{
    if (ac_handle_cancel(AC_STATE_OF(self), self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Handle_cancelled(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(H(self)->h_cancelled);
}

static PyObject *
Handle_get_context(PyObject *self, PyObject *unused)
{
    return ac_or_none(H(self)->h_context);
}

static PyObject *
Handle_run(PyObject *self, PyObject *unused)
{
    if (ac_handle_run(AC_STATE_OF(self), self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Handle_repr(PyObject *self)
{
    ac_state *st = AC_STATE_OF(self);
    if (H(self)->h_repr != NULL) {
        return Py_NewRef(H(self)->h_repr);
    }
    if (ensure_handles_module(st) < 0) {
        return NULL;
    }
    return PyObject_CallMethod(st->handle_repr, "handle_repr", "O", self);
}

static PyObject *
TimerHandle_when(PyObject *self, PyObject *unused)
{
    return PyFloat_FromDouble(TH(self)->th_when);
}

static Py_hash_t
TimerHandle_hash(PyObject *self)
{
    PyObject *f = PyFloat_FromDouble(TH(self)->th_when);
    if (f == NULL) {
        return -1;
    }
    Py_hash_t h = PyObject_Hash(f);
    Py_DECREF(f);
    return h;
}

static PyObject *
TimerHandle_richcompare(PyObject *a, PyObject *b, int op)
{
    ac_state *st = AC_STATE_OF(a);
    if (!PyObject_TypeCheck(b, st->TimerHandleType)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    double x = TH(a)->th_when, y = TH(b)->th_when;
    switch (op) {
    case Py_LT:
        return PyBool_FromLong(x < y);
    case Py_GT:
        return PyBool_FromLong(x > y);
    case Py_LE:
    case Py_GE:
    case Py_EQ:
    case Py_NE: {
        int eq = x == y && H(a)->h_cancelled == H(b)->h_cancelled;
        if (eq) {
            PyObject *ca = H(a)->h_callback ? H(a)->h_callback : Py_None;
            PyObject *cb = H(b)->h_callback ? H(b)->h_callback : Py_None;
            eq = PyObject_RichCompareBool(ca, cb, Py_EQ);
            if (eq < 0) {
                return NULL;
            }
            if (eq) {
                PyObject *aa = PyObject_GetAttrString(a, "_args");
                PyObject *ab = aa ? PyObject_GetAttrString(b, "_args") : NULL;
                eq = ab ? PyObject_RichCompareBool(aa, ab, Py_EQ) : -1;
                Py_XDECREF(aa);
                Py_XDECREF(ab);
                if (eq < 0) {
                    return NULL;
                }
            }
        }
        if (op == Py_EQ) {
            return PyBool_FromLong(eq);
        }
        if (op == Py_NE) {
            return PyBool_FromLong(!eq);
        }
        return PyBool_FromLong(eq || (op == Py_LE ? x < y : x > y));
    }
    }
    Py_RETURN_NOTIMPLEMENTED;
}

/* --- attributes asyncio's reprs and tests read --- */

static PyObject *
Handle_get_args(PyObject *self, void *c)
{
    HandleObj *h = H(self);
    if (h->h_args == NULL && h->h_arg1 != NULL) {
        h->h_args = PyTuple_Pack(1, h->h_arg1);
        if (h->h_args == NULL) {
            return NULL;
        }
        Py_CLEAR(h->h_arg1);
    }
    if (h->h_args == NULL) {
        if (h->h_callback == NULL) {
            Py_RETURN_NONE;
        }
        h->h_args = PyTuple_New(0);
        if (h->h_args == NULL) {
            return NULL;
        }
    }
    return Py_NewRef(h->h_args);
}

static PyObject *
Handle_get_cancelled_attr(PyObject *self, void *c)
{
    return PyBool_FromLong(H(self)->h_cancelled);
}

static PyObject *
TimerHandle_get_when_attr(PyObject *self, void *c)
{
    return PyFloat_FromDouble(TH(self)->th_when);
}

static PyObject *
TimerHandle_get_scheduled(PyObject *self, void *c)
{
    return PyBool_FromLong(ac_timer_active(&TH(self)->th_node));
}

static PyMethodDef Handle_methods[] = {
    {"cancel", Handle_cancel, METH_NOARGS, "Cancel the callback."},
    {"cancelled", Handle_cancelled, METH_NOARGS, "True if cancelled."},
    {"get_context", Handle_get_context, METH_NOARGS,
     "The context the callback runs in."},
    {"_run", Handle_run, METH_NOARGS, "Run the callback now."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Handle_getset[] = {
    {"_args", Handle_get_args, NULL, NULL, NULL},
    {"_cancelled", Handle_get_cancelled_attr, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Handle_members[] = {
    {"_callback", AC_T_OBJECT, offsetof(HandleObj, h_callback), AC_READONLY,
     NULL},
    {"_loop", AC_T_OBJECT, offsetof(HandleObj, h_loop), AC_READONLY, NULL},
    {"_source_traceback", AC_T_OBJECT, offsetof(HandleObj, h_source_tb),
     AC_READONLY, NULL},
    {"_repr", AC_T_OBJECT, offsetof(HandleObj, h_repr), AC_READONLY, NULL},
    {"_context", AC_T_OBJECT, offsetof(HandleObj, h_context), AC_READONLY,
     NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(HandleObj, h_weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Handle_slots[] = {
    {Py_tp_doc, "asyncio.Handle, implemented in C by asyncio_c."},
    {Py_tp_dealloc, Handle_dealloc},
    {Py_tp_traverse, Handle_traverse},
    {Py_tp_clear, Handle_clear},
    {Py_tp_repr, Handle_repr},
    {Py_tp_init, Handle_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_alloc, ac_freelist_tp_alloc},
    {Py_tp_methods, Handle_methods},
    {Py_tp_getset, Handle_getset},
    {Py_tp_members, Handle_members},
    {0, NULL},
};

static PyType_Spec Handle_spec = {
    .name = "asyncio_c._core.Handle",
    .basicsize = sizeof(HandleObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Handle_slots,
};

static PyMethodDef TimerHandle_methods[] = {
    {"when", TimerHandle_when, METH_NOARGS,
     "The absolute time (loop.time()) the callback is due."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef TimerHandle_getset[] = {
    {"_when", TimerHandle_get_when_attr, NULL, NULL, NULL},
    {"_scheduled", TimerHandle_get_scheduled, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot TimerHandle_slots[] = {
    {Py_tp_doc, "asyncio.TimerHandle, implemented in C by asyncio_c."},
    {Py_tp_dealloc, Handle_dealloc},
    {Py_tp_init, TimerHandle_init},
    {Py_tp_new, TimerHandle_new},
    {Py_tp_alloc, ac_freelist_tp_alloc},
    {Py_tp_traverse, Handle_traverse},
    {Py_tp_clear, Handle_clear},
    {Py_tp_methods, TimerHandle_methods},
    {Py_tp_getset, TimerHandle_getset},
    {Py_tp_hash, TimerHandle_hash},
    {Py_tp_richcompare, TimerHandle_richcompare},
    {0, NULL},
};

static PyType_Spec TimerHandle_spec = {
    .name = "asyncio_c._core.TimerHandle",
    .basicsize = sizeof(TimerHandleObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = TimerHandle_slots,
};

int
ac_handle_init_types(PyObject *mod, ac_state *st)
{
    st->HandleType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &Handle_spec, NULL);
    if (st->HandleType == NULL || PyModule_AddType(mod, st->HandleType) < 0) {
        return -1;
    }
    st->TimerHandleType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &TimerHandle_spec, (PyObject *)st->HandleType);
    /* timer.cancel() from asyncio's Python (sleep, wait_for) a specialized
     * call: TimerHandle's own descriptors of Handle's methods */
    if (st->TimerHandleType == NULL ||
        ac_own_method_descrs(st->TimerHandleType, st->HandleType) < 0 ||
        PyModule_AddType(mod, st->TimerHandleType) < 0) {
        return -1;
    }
    return 0;
}
