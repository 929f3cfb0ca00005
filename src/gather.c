/* gather.c -- asyncio.gather in C, and its outer future _GatheringFuture
 * (a subclass of our Future whose cancel() cancels the children).
 *
 * One gather makes one done callback object (a vectorcall C object holding
 * what asyncio's _done_callback closure holds: the outer future, the
 * children, the counters), shared by all children; our own futures get it
 * without a method call, with one copy of the caller's context for all of
 * them (asyncio copies it per child; nothing the callback runs can tell).
 * The behaviour is the running version's tasks.gather, line by line: the
 * dedup of repeated arguments through a dict, the first exception
 * propagated, cancelled children as CancelledError, outer._cancel_requested,
 * and on 3.12+ children already done (eager tasks) handled after the outer
 * future exists. */
#include "ensure.h"

/* ---------------------------------------------------------------------
 * _GatheringFuture */

typedef struct {
    FutureObj gf_fut;
    PyObject *gf_children;        /* _children (NULL once deleted) */
    char gf_cancel_requested;
} GatheringObj;

#define AC_GF(o) ((GatheringObj *)(o))

static int
GF_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(AC_GF(self)->gf_children);
    return ac_future_traverse(AC_FUT(self), visit, arg);
}

static int
GF_clear(PyObject *self)
{
    Py_CLEAR(AC_GF(self)->gf_children);
    ac_future_clear(AC_FUT(self));
    return 0;
}

static void
GF_dealloc(PyObject *self)
{
    ac_future_dealloc(self, GF_clear);
}

static int
GF_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"children", "loop", NULL};
    PyObject *children, *loop = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$O:_GatheringFuture",
                                     kwlist, &children, &loop)) {
        return -1;
    }
    if (loop == Py_None) {
        /* asyncio's asserts it */
        PyErr_SetNone(PyExc_AssertionError);
        return -1;
    }
    if (ac_future_init(AC_STATE_OF(self), AC_FUT(self), loop) < 0) {
        return -1;
    }
    Py_XSETREF(AC_GF(self)->gf_children, Py_NewRef(children));
    AC_GF(self)->gf_cancel_requested = 0;
    return 0;
}

/* outer._children: a new reference, or AttributeError once deleted */
static PyObject *
GF_get_children(PyObject *self, void *c)
{
    PyObject *children = AC_GF(self)->gf_children;
    if (children == NULL) {
        PyErr_SetString(PyExc_AttributeError,
                        "'_GatheringFuture' object has no attribute "
                        "'_children'");
        return NULL;
    }
    return Py_NewRef(children);
}

/* cancel(msg=None): cancel every child; the outer future itself is only
 * marked as cancel-requested (its result comes from the children). */
static PyObject *
GF_cancel(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"msg", NULL};
    PyObject *msg = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:cancel", kwlist, &msg)) {
        return NULL;
    }
    ac_state *st = AC_STATE_OF(self);
    if (AC_FUT(self)->fut_state != AC_PENDING) {
        Py_RETURN_FALSE;
    }
    PyObject *children = GF_get_children(self, NULL);
    if (children == NULL) {
        return NULL;
    }
    PyObject *it = PyObject_GetIter(children);
    Py_DECREF(children);
    if (it == NULL) {
        return NULL;
    }
    int ret = 0;
    PyObject *child;
    while ((child = PyIter_Next(it)) != NULL) {
        int r, cancelled;
        r = ac_fut_cancel(st, child, msg, &cancelled);
        Py_DECREF(child);
        if (r < 0) {
            Py_DECREF(it);
            return NULL;
        }
        if (cancelled) {
            ret = 1;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (ret) {
        AC_GF(self)->gf_cancel_requested = 1;
    }
    return PyBool_FromLong(ret);
}

static int
GF_set_children(PyObject *self, PyObject *val, void *c)
{
    Py_XSETREF(AC_GF(self)->gf_children, Py_XNewRef(val));
    return 0;
}

static PyObject *
GF_get_cancel_requested(PyObject *self, void *c)
{
    return PyBool_FromLong(AC_GF(self)->gf_cancel_requested);
}

static int
GF_set_cancel_requested(PyObject *self, PyObject *val, void *c)
{
    int b = ac_flag_value(val);
    if (b < 0) {
        return -1;
    }
    AC_GF(self)->gf_cancel_requested = (char)b;
    return 0;
}

static PyMethodDef GF_methods[] = {
    {"cancel", (PyCFunction)(void (*)(void))GF_cancel,
     METH_VARARGS | METH_KEYWORDS,
     "Cancel all the children; True if any of them was cancelled."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef GF_getset[] = {
    {"_children", GF_get_children, GF_set_children, NULL, NULL},
    {"_cancel_requested", GF_get_cancel_requested, GF_set_cancel_requested,
     NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot GF_slots[] = {
    {Py_tp_doc, "The future gather() returns (asyncio.tasks._GatheringFuture "
                "in C)."},
    {Py_tp_dealloc, GF_dealloc},
    {Py_tp_traverse, GF_traverse},
    {Py_tp_clear, GF_clear},
    {Py_tp_init, GF_init},
    {Py_tp_methods, GF_methods},
    {Py_tp_getset, GF_getset},
    {0, NULL},
};

static PyType_Spec GF_spec = {
    .name = "asyncio_c._core._GatheringFuture",
    .basicsize = sizeof(GatheringObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = GF_slots,
};

/* ---------------------------------------------------------------------
 * the done callback shared by the children of one gather */

typedef struct {
    PyObject_HEAD
    vectorcallfunc gc_vectorcall;
    PyObject *gc_outer;           /* NULL until made ("outer is None") */
    PyObject *gc_children;        /* the list, also outer._children */
    PyObject *gc_return_exceptions;
    Py_ssize_t gc_nfuts;
    Py_ssize_t gc_nfinished;
} GatherCbObj;

#define AC_GCB(o) ((GatherCbObj *)(o))

/* outer.set_exception(fut._make_cancelled_error()) */
static int
set_cancelled_error(ac_state *st, PyObject *outer, PyObject *fut)
{
    PyObject *exc = ac_fut_make_cancelled_error(st, fut);
    if (exc == NULL) {
        return -1;
    }
    int rc = ac_future_set_exception(st, AC_FUT(outer), exc);
    Py_DECREF(exc);
    return rc;
}

/* What a child contributes to the results list (new reference). */
static PyObject *
child_result(ac_state *st, PyObject *child)
{
    int c = ac_fut_cancelled(st, child);
    if (c < 0) {
        return NULL;
    }
    if (c) {
        /* a fresh CancelledError, without calling _make_cancelled_error */
        PyObject *msg = ac_fut_cancel_message(st, child);
        if (msg == NULL) {
            return NULL;
        }
        PyObject *res = PyObject_CallOneArg(
            st->CancelledError, msg == Py_None ? st->s_empty : msg);
        Py_DECREF(msg);
        return res;
    }
    PyObject *res = ac_fut_exception(st, child);
    if (res == Py_None) {
        Py_DECREF(res);
        res = ac_fut_result(st, child);
    }
    return res;
}

/* All the children are done: the results, or the cancellation. */
static int
gather_finish(ac_state *st, GatherCbObj *cb, PyObject *outer, PyObject *fut)
{
    PyObject *children = Py_NewRef(cb->gc_children);
    PyObject *results = PyList_New(0);
    PyObject *last = Py_NewRef(fut);  /* asyncio's loop variable `fut` */
    int rc = -1;
    if (results == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(children); i++) {
        PyObject *child = Py_NewRef(PyList_GET_ITEM(children, i));
        Py_SETREF(last, child);
        PyObject *res = child_result(st, child);
        if (res == NULL) {
            goto done;
        }
        int r = PyList_Append(results, res);
        Py_DECREF(res);
        if (r < 0) {
            goto done;
        }
    }
    if (AC_GF(outer)->gf_cancel_requested) {
        rc = set_cancelled_error(st, outer, last);
    }
    else {
        rc = ac_future_set_result(st, AC_FUT(outer), results);
    }
done:
    Py_XDECREF(results);
    Py_DECREF(last);
    Py_DECREF(children);
    return rc;
}

/* asyncio's _done_callback(fut). */
static int
gather_child_done(ac_state *st, GatherCbObj *cb, PyObject *fut)
{
    int c, rc = 0;
    cb->gc_nfinished++;
    PyObject *outer = Py_XNewRef(cb->gc_outer);
    if (outer == NULL || AC_FUT(outer)->fut_state != AC_PENDING) {
        /* too late: only mark the exception as retrieved */
        rc = ac_fut_retrieve(st, fut);
        goto done;
    }
    int ret_exc = PyObject_IsTrue(cb->gc_return_exceptions);
    if (ret_exc < 0) {
        rc = -1;
        goto done;
    }
    if (!ret_exc) {
        c = ac_fut_cancelled(st, fut);
        if (c < 0) {
            rc = -1;
            goto done;
        }
        if (c) {
            rc = set_cancelled_error(st, outer, fut);
            goto done;
        }
        PyObject *exc = ac_fut_exception(st, fut);
        if (exc == NULL) {
            rc = -1;
            goto done;
        }
        if (exc != Py_None) {
            rc = ac_future_set_exception(st, AC_FUT(outer), exc);
            Py_DECREF(exc);
            goto done;
        }
        Py_DECREF(exc);
    }
    if (cb->gc_nfinished == cb->gc_nfuts) {
        rc = gather_finish(st, cb, outer, fut);
    }
done:
    Py_XDECREF(outer);
    return rc;
}

static PyObject *
GatherCb_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                    PyObject *kwnames)
{
    if (ac_check_callback_args("_done_callback", nargsf, kwnames) < 0) {
        return NULL;
    }
    Py_INCREF(self);
    int rc = gather_child_done(AC_STATE_OF(self), AC_GCB(self), args[0]);
    Py_DECREF(self);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
GatherCb_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(AC_GCB(self)->gc_outer);
    Py_VISIT(AC_GCB(self)->gc_children);
    Py_VISIT(AC_GCB(self)->gc_return_exceptions);
    return 0;
}

static int
GatherCb_clear(PyObject *self)
{
    Py_CLEAR(AC_GCB(self)->gc_outer);
    Py_CLEAR(AC_GCB(self)->gc_children);
    Py_CLEAR(AC_GCB(self)->gc_return_exceptions);
    return 0;
}

static void
GatherCb_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)GatherCb_clear(self);
    PyObject_GC_Del(self);
    Py_DECREF(tp);
}

/* What asyncio's reprs show for a callback (format_helpers looks for
 * __qualname__): the name of the closure this object stands for. */
static PyObject *
GatherCb_get_qualname(PyObject *self, void *c)
{
    return PyUnicode_FromString("gather.<locals>._done_callback");
}

static PyObject *
GatherCb_get_name(PyObject *self, void *c)
{
    return PyUnicode_FromString("_done_callback");
}

static PyGetSetDef GatherCb_getset[] = {
    {"__qualname__", GatherCb_get_qualname, NULL, NULL, NULL},
    {"__name__", GatherCb_get_name, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef GatherCb_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET,
     offsetof(GatherCbObj, gc_vectorcall), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot GatherCb_slots[] = {
    {Py_tp_doc, "gather()'s done callback for its children."},
    {Py_tp_dealloc, GatherCb_dealloc},
    {Py_tp_traverse, GatherCb_traverse},
    {Py_tp_clear, GatherCb_clear},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_members, GatherCb_members},
    {Py_tp_getset, GatherCb_getset},
    {0, NULL},
};

static PyType_Spec GatherCb_spec = {
    .name = "asyncio_c._core._GatherCallback",
    .basicsize = sizeof(GatherCbObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = GatherCb_slots,
};

/* ---------------------------------------------------------------------
 * gather() */

/* No arguments: a future of the current event loop, already done. */
static PyObject *
gather_empty(ac_state *st)
{
    PyObject *loop = PyObject_CallNoArgs(st->get_event_loop);
    if (loop == NULL) {
        return NULL;
    }
    PyObject *outer = PyObject_CallMethodNoArgs(loop, st->s_create_future);
    Py_DECREF(loop);
    if (outer == NULL) {
        return NULL;
    }
    PyObject *empty = PyList_New(0);
    if (empty == NULL || ac_fut_set_result(st, outer, empty) < 0) {
        Py_XDECREF(empty);
        Py_DECREF(outer);
        return NULL;
    }
    Py_DECREF(empty);
    return outer;
}

/* fut._log_destroy_pending = False */
static int
no_destroy_pending_log(ac_state *st, PyObject *fut)
{
    if (Py_IS_TYPE(fut, st->TaskType)) {
        ((TaskObj *)fut)->task_fut.task_log_destroy_pending = 0;
        return 0;
    }
    return PyObject_SetAttr(fut, st->s_log_destroy_pending, Py_False);
}

/* A new child fut for arg: what asyncio's loop body does with it, up to
 * (not including) children.append(fut).  On 3.12+ a child already done is
 * put in *done_futs (made on first use) instead of getting the callback. */
static int
child_register(ac_state *st, GatherCbObj *cb, PyObject *arg_to_fut,
               PyObject *arg, PyObject *fut, PyObject **loop, PyObject **ctx,
               PyObject **done_futs)
{
    if (*loop == NULL) {
        *loop = ac_future_get_loop(st, fut);
        if (*loop == NULL) {
            return -1;
        }
    }
    if (fut != arg && no_destroy_pending_log(st, fut) < 0) {
        return -1;
    }
    cb->gc_nfuts++;
    if (PyDict_SetItem(arg_to_fut, arg, fut) < 0) {
        return -1;
    }
#if AC_GATHER_DONE_CHILDREN_AFTER
    int done = ac_fut_done(st, fut);
    if (done < 0) {
        return -1;
    }
    if (done) {
        if (*done_futs == NULL && (*done_futs = PyList_New(0)) == NULL) {
            return -1;
        }
        return PyList_Append(*done_futs, fut);
    }
#endif
    if (*ctx == NULL && ac_fut_is_ours(st, fut)) {
        /* asyncio's add_done_callback(cb) runs cb in a copy of the current
         * context: one copy serves all our children */
        *ctx = PyContext_CopyCurrent();
        if (*ctx == NULL) {
            return -1;
        }
    }
    return ac_fut_add_done_callback(st, fut, (PyObject *)cb, *ctx);
}

static PyObject *
gather_impl(ac_state *st, PyObject *const *args, Py_ssize_t nargs,
            PyObject *return_exceptions)
{
    PyObject *arg_to_fut = NULL, *children = NULL, *loop = NULL;
    PyObject *ctx = NULL, *outer = NULL, *done_futs = NULL;
    GatherCbObj *cb = PyObject_GC_New(GatherCbObj, st->GatherCallbackType);
    if (cb == NULL) {
        return NULL;
    }
    cb->gc_vectorcall = GatherCb_vectorcall;
    cb->gc_outer = NULL;
    cb->gc_children = NULL;
    cb->gc_return_exceptions = Py_NewRef(return_exceptions);
    cb->gc_nfuts = 0;
    cb->gc_nfinished = 0;
    PyObject_GC_Track(cb);

    /* appended to, never pre-sized: the list is reachable (gc, callbacks)
     * while children are made, which runs arbitrary code */
    children = PyList_New(0);
    arg_to_fut = PyDict_New();
    if (children == NULL || arg_to_fut == NULL) {
        goto error;
    }
    cb->gc_children = Py_NewRef(children);

    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyObject *arg = args[i];
        int seen = PyDict_Contains(arg_to_fut, arg);
        if (seen < 0) {
            goto error;
        }
        PyObject *fut;
        if (seen) {
            /* the same awaitable again: the same child (looked up again,
             * as asyncio's arg_to_fut[arg] does after its `in` test) */
            fut = ac_dict_get(arg_to_fut, arg);
            if (fut == NULL) {
                if (!PyErr_Occurred()) {
                    PyObject *ke = PyObject_CallOneArg(PyExc_KeyError, arg);
                    if (ke != NULL) {
                        PyErr_SetObject(PyExc_KeyError, ke);
                        Py_DECREF(ke);
                    }
                }
                goto error;
            }
            if (PyList_Append(children, fut) < 0) {
                goto error;
            }
            continue;
        }
        fut = ac_ensure_future(st, arg, loop);
        if (fut == NULL) {
            goto error;
        }
        if (child_register(st, cb, arg_to_fut, arg, fut, &loop, &ctx,
                           &done_futs) < 0) {
            Py_DECREF(fut);
            goto error;
        }
        int r = PyList_Append(children, fut);
        Py_DECREF(fut);
        if (r < 0) {
            goto error;
        }
    }

    outer = st->GatheringFutureType->tp_alloc(st->GatheringFutureType, 0);
    if (outer == NULL) {
        goto error;
    }
    if (ac_future_init(st, AC_FUT(outer), loop) < 0) {
        goto error;
    }
    AC_GF(outer)->gf_children = Py_NewRef(children);
    AC_GF(outer)->gf_cancel_requested = 0;
    cb->gc_outer = Py_NewRef(outer);

    /* 3.12+: children done already (eagerly) get their callback now, so
     * that when all of them are, the outer future is done when returned */
    if (done_futs != NULL) {
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(done_futs); j++) {
            PyObject *fut = Py_NewRef(PyList_GET_ITEM(done_futs, j));
            int r = gather_child_done(st, cb, fut);
            Py_DECREF(fut);
            if (r < 0) {
                goto error;
            }
        }
    }
    Py_XDECREF(done_futs);
    Py_DECREF(cb);
    Py_DECREF(children);
    Py_DECREF(arg_to_fut);
    Py_DECREF(loop);
    Py_XDECREF(ctx);
    return outer;

error:
    /* The children made so far keep running with the callback, whose outer
     * stays None unless it was made. */
    Py_XDECREF(done_futs);
    Py_XDECREF(outer);
    Py_DECREF(cb);
    Py_XDECREF(children);
    Py_XDECREF(arg_to_fut);
    Py_XDECREF(loop);
    Py_XDECREF(ctx);
    return NULL;
}

static PyObject *
gather(PyObject *mod, PyObject *const *args, Py_ssize_t nargs,
       PyObject *kwnames)
{
    ac_state *st = PyModule_GetState(mod);
    PyObject *return_exceptions = Py_False;
    if (kwnames != NULL) {
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); k++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, k);
            int eq = PyUnicode_CompareWithASCIIString(name,
                                                      "return_exceptions");
            if (eq != 0) {
                PyErr_Format(PyExc_TypeError,
                             "gather() got an unexpected keyword argument "
                             "'%U'", name);
                return NULL;
            }
            return_exceptions = args[nargs + k];
        }
    }
    if (nargs == 0) {
        return gather_empty(st);
    }
    return gather_impl(st, args, nargs, return_exceptions);
}

static PyMethodDef gather_methods[] = {
    {"gather", (PyCFunction)(void (*)(void))gather,
     METH_FASTCALL | METH_KEYWORDS,
     "gather(*coros_or_futures, return_exceptions=False)\n--\n\n"
     "Return a future aggregating results from the given coroutines or "
     "futures (asyncio.gather in C)."},
    {NULL, NULL, 0, NULL},
};

int
ac_gather_init(PyObject *mod, ac_state *st)
{
    if (ac_ensure_init(mod, st) < 0) {
        return -1;
    }
    st->GatheringFutureType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &GF_spec, (PyObject *)st->FutureType);
    if (st->GatheringFutureType == NULL) {
        return -1;
    }
    if (PyModule_AddType(mod, st->GatheringFutureType) < 0) {
        return -1;
    }
    st->GatherCallbackType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &GatherCb_spec, NULL);
    if (st->GatherCallbackType == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(mod, gather_methods);
}
