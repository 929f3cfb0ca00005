/* wait.c -- native asyncio.wait(fs, *, timeout=None,
 * return_when=ALL_COMPLETED): a C coroutine; and the helpers wait_for
 * shares with it (wait.h).
 *
 * 3.11, 3.12 and 3.13 agree: the arguments are checked when the coroutine
 * starts (a future or a coroutine as fs, an empty fs, a bad return_when,
 * then coroutines among fs), fs becomes a set of unique futures, and a
 * waiter future of the running loop is awaited while one done callback on
 * every future (and a timer when timeout is given) releases it.  However the
 * wait ends, the timer is cancelled and the callbacks are removed. */
#include "wait.h"

/* ---------------------------------------------------------------------
 * helpers shared with waitfor.c (wait.h) */

int
acw_release_waiter(ac_state *st, PyObject *waiter)
{
    int done = ac_fut_done(st, waiter);
    if (done != 0) {
        return done < 0 ? -1 : 0;
    }
    return ac_fut_set_result(st, waiter, Py_None);
}




/* ---------------------------------------------------------------------
 * _release_waiter and partial(_release_waiter, waiter) */

/* _release_waiter(waiter, *args) */
static PyObject *
release_waiter_fn(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "_release_waiter() missing 1 "
                        "required positional argument: 'waiter'");
        return NULL;
    }
    if (acw_release_waiter(PyModule_GetState(mod), args[0]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

typedef struct {
    PyObject_HEAD
    vectorcallfunc rw_vectorcall;
    PyObject *rw_waiter;
} ReleaseWaiterObj;

static PyObject *
ReleaseWaiter_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                         PyObject *kwnames)
{
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0) {
        PyErr_SetString(PyExc_TypeError,
                        "_release_waiter() got an unexpected keyword argument");
        return NULL;
    }
    ReleaseWaiterObj *rw = (ReleaseWaiterObj *)self;
    if (acw_release_waiter(AC_STATE_OF(self), rw->rw_waiter) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyObject *
acw_release_waiter_new(ac_state *st, PyObject *waiter)
{
    ReleaseWaiterObj *rw = PyObject_GC_New(ReleaseWaiterObj,
                                           st->ReleaseWaiterType);
    if (rw == NULL) {
        return NULL;
    }
    rw->rw_vectorcall = ReleaseWaiter_vectorcall;
    rw->rw_waiter = Py_NewRef(waiter);
    PyObject_GC_Track(rw);
    return (PyObject *)rw;
}

static int
ReleaseWaiter_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((ReleaseWaiterObj *)self)->rw_waiter);
    return 0;
}

static int
ReleaseWaiter_clear(PyObject *self)
{
    Py_CLEAR(((ReleaseWaiterObj *)self)->rw_waiter);
    return 0;
}

static void
ReleaseWaiter_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)ReleaseWaiter_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMemberDef ReleaseWaiter_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET,
     offsetof(ReleaseWaiterObj, rw_vectorcall), AC_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot ReleaseWaiter_slots[] = {
    {Py_tp_doc, "partial(_release_waiter, waiter), as wait_for uses it."},
    {Py_tp_dealloc, ReleaseWaiter_dealloc},
    {Py_tp_traverse, ReleaseWaiter_traverse},
    {Py_tp_clear, ReleaseWaiter_clear},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_members, ReleaseWaiter_members},
    {0, NULL},
};

static PyType_Spec ReleaseWaiter_spec = {
    .name = "asyncio_c._core._ReleaseWaiter",
    .basicsize = sizeof(ReleaseWaiterObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = ReleaseWaiter_slots,
};

/* ---------------------------------------------------------------------
 * wait()'s done callback (_on_completion) */

typedef struct {
    PyObject_HEAD
    vectorcallfunc wc_vectorcall;
    PyObject *wc_waiter;
    PyObject *wc_timer;           /* or NULL */
    Py_ssize_t wc_counter;
    char wc_first_completed;      /* return_when == FIRST_COMPLETED */
    char wc_first_exception;      /* return_when == FIRST_EXCEPTION */
} WaitCallbackObj;

/* `not f.cancelled() and f.exception() is not None`: 1, 0 or -1. */
static int
ended_with_exception(ac_state *st, PyObject *f)
{
    int cancelled = ac_fut_cancelled(st, f);
    if (cancelled != 0) {
        return cancelled < 0 ? -1 : 0;
    }
    PyObject *exc = ac_fut_exception(st, f);
    if (exc == NULL) {
        return -1;
    }
    int has = exc != Py_None;
    Py_DECREF(exc);
    return has;
}

static PyObject *
WaitCallback_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                        PyObject *kwnames)
{
    WaitCallbackObj *wc = (WaitCallbackObj *)self;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_Format(PyExc_TypeError,
                     "_on_completion() takes 1 positional argument but %zd "
                     "were given", nargs);
        return NULL;
    }
    ac_state *st = AC_STATE_OF(self);
    wc->wc_counter--;
    int fire = wc->wc_counter <= 0 || wc->wc_first_completed;
    if (!fire && wc->wc_first_exception) {
        fire = ended_with_exception(st, args[0]);
        if (fire < 0) {
            return NULL;
        }
    }
    if (fire) {
        if (wc->wc_timer != NULL &&
            ac_cancel_timer(st, wc->wc_timer, NULL) < 0) {
            return NULL;
        }
        if (acw_release_waiter(st, wc->wc_waiter) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static int
WaitCallback_traverse(PyObject *self, visitproc visit, void *arg)
{
    WaitCallbackObj *wc = (WaitCallbackObj *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(wc->wc_waiter);
    Py_VISIT(wc->wc_timer);
    return 0;
}

static int
WaitCallback_clear(PyObject *self)
{
    WaitCallbackObj *wc = (WaitCallbackObj *)self;
    Py_CLEAR(wc->wc_waiter);
    Py_CLEAR(wc->wc_timer);
    return 0;
}

static void
WaitCallback_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)WaitCallback_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMemberDef WaitCallback_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET,
     offsetof(WaitCallbackObj, wc_vectorcall), AC_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot WaitCallback_slots[] = {
    {Py_tp_doc, "The done callback of asyncio_c.wait()."},
    {Py_tp_dealloc, WaitCallback_dealloc},
    {Py_tp_traverse, WaitCallback_traverse},
    {Py_tp_clear, WaitCallback_clear},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_members, WaitCallback_members},
    {0, NULL},
};

static PyType_Spec WaitCallback_spec = {
    .name = "asyncio_c._core._WaitCallback",
    .basicsize = sizeof(WaitCallbackObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = WaitCallback_slots,
};

/* ---------------------------------------------------------------------
 * the coroutine */

typedef struct {
    ac_coro w_coro;
    PyObject *w_fs;           /* the argument; then a tuple of the futures */
    PyObject *w_timeout;
    PyObject *w_return_when;
    PyObject *w_cb;           /* the WaitCallback while waiting */
    int w_step;
} WaitObj;

enum { W_START = 0, W_WAITING, W_DONE };

/* coroutines.iscoroutine(obj): 1, 0 or -1. */
static int
is_coroutine(ac_state *st, PyObject *obj)
{
    if (PyCoro_CheckExact(obj)) {
        return 1;
    }
    if (ac_future_check_exact(st, obj)) {
        return 0;
    }
    PyObject *r = PyObject_CallOneArg(st->iscoroutine, obj);
    if (r == NULL) {
        return -1;
    }
    int b = PyObject_IsTrue(r);
    Py_DECREF(r);
    return b;
}

/* The checks of wait() and what _wait() does up to `await waiter`. */
static ac_step
wait_start(ac_state *st, WaitObj *w, PyObject **out)
{
    PyObject *fs = w->w_fs, *rw = w->w_return_when;
    PyObject *futs = NULL, *loop = NULL, *waiter = NULL, *timer = NULL;
    WaitCallbackObj *wc = NULL;
    Py_ssize_t n, added = 0;

    int r = ac_isfuture(st, fs);
    if (r == 0) {
        r = is_coroutine(st, fs);
    }
    if (r < 0) {
        return AC_STEP_ERROR;
    }
    if (r) {
        PyObject *name = PyType_GetName(Py_TYPE(fs));
        if (name != NULL) {
            PyErr_Format(PyExc_TypeError,
                         "expect a list of futures, not %U", name);
            Py_DECREF(name);
        }
        return AC_STEP_ERROR;
    }
    r = PyObject_IsTrue(fs);
    if (r <= 0) {
        if (r == 0) {
            PyErr_SetString(PyExc_ValueError, "Set of Tasks/Futures is empty.");
        }
        return AC_STEP_ERROR;
    }
    /* return_when in (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED) */
    PyObject *consts[3] = {st->FIRST_COMPLETED, st->FIRST_EXCEPTION,
                           st->ALL_COMPLETED};
    r = 0;
    for (int i = 0; i < 3 && r == 0; i++) {
        r = PyObject_RichCompareBool(consts[i], rw, Py_EQ);
    }
    if (r <= 0) {
        if (r == 0) {
            PyErr_Format(PyExc_ValueError, "Invalid return_when value: %S",
                         rw);
        }
        return AC_STEP_ERROR;
    }
    int first_completed = PyObject_RichCompareBool(rw, st->FIRST_COMPLETED,
                                                   Py_EQ);
    if (first_completed < 0) {
        return AC_STEP_ERROR;
    }
    int first_exception = PyObject_RichCompareBool(rw, st->FIRST_EXCEPTION,
                                                   Py_EQ);
    if (first_exception < 0) {
        return AC_STEP_ERROR;
    }

    PyObject *set = PySet_New(fs);
    if (set == NULL) {
        return AC_STEP_ERROR;
    }
    futs = PySequence_Tuple(set);
    Py_DECREF(set);
    if (futs == NULL) {
        return AC_STEP_ERROR;
    }
    n = PyTuple_GET_SIZE(futs);
    for (Py_ssize_t i = 0; i < n; i++) {
        r = is_coroutine(st, PyTuple_GET_ITEM(futs, i));
        if (r != 0) {
            if (r > 0) {
                PyErr_SetString(PyExc_TypeError, "Passing coroutines is "
                                "forbidden, use tasks explicitly.");
            }
            goto error;
        }
    }
    loop = ac_running_loop(st);
    if (loop == NULL) {
        goto error;
    }

    /* _wait() */
    if (n == 0) {
        PyErr_SetString(PyExc_AssertionError, "Set of Futures is empty.");
        goto error;
    }
    waiter = ac_loop_create_future(st, loop);
    if (waiter == NULL) {
        goto error;
    }
    if (w->w_timeout != Py_None) {
        PyObject *args[4] = {loop, w->w_timeout, st->release_waiter, waiter};
        timer = PyObject_VectorcallMethod(
            st->s_call_later, args, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        if (timer == NULL) {
            goto error;
        }
    }
    wc = PyObject_GC_New(WaitCallbackObj, st->WaitCallbackType);
    if (wc == NULL) {
        goto error;
    }
    wc->wc_vectorcall = WaitCallback_vectorcall;
    wc->wc_waiter = Py_NewRef(waiter);
    wc->wc_timer = Py_XNewRef(timer);
    wc->wc_counter = n;
    wc->wc_first_completed = (char)first_completed;
    wc->wc_first_exception = (char)first_exception;
    PyObject_GC_Track(wc);
    for (; added < n; added++) {
        /* no context copy: the callback does not depend on it */
        if (ac_fut_add_done_callback(st, PyTuple_GET_ITEM(futs, added),
                                     (PyObject *)wc, NULL) < 0) {
            goto error;
        }
    }
    Py_DECREF(loop);
    Py_XDECREF(timer);
    Py_SETREF(w->w_fs, futs);
    w->w_cb = (PyObject *)wc;
    w->w_step = W_WAITING;
    *out = waiter;
    return AC_STEP_AWAIT;

error:
    /* asyncio leaves the callbacks added so far and the timer behind; we
     * take them back (nobody waits for them) */
    if (added > 0 || timer != NULL) {
        PyObject *exc = ac_err_take();
        for (Py_ssize_t i = 0; i < added; i++) {
            if (ac_fut_remove_done_callback(st, PyTuple_GET_ITEM(futs, i),
                                            (PyObject *)wc) < 0) {
                PyErr_WriteUnraisable((PyObject *)w);
            }
        }
        if (timer != NULL && ac_cancel_timer(st, timer, NULL) < 0) {
            PyErr_WriteUnraisable((PyObject *)w);
        }
        ac_err_give(exc);
    }
    Py_XDECREF(wc);
    Py_XDECREF(timer);
    Py_XDECREF(waiter);
    Py_XDECREF(loop);
    Py_XDECREF(futs);
    return AC_STEP_ERROR;
}

/* After `await waiter`: the finally clause, then (done, pending). */
static ac_step
wait_end(ac_state *st, WaitObj *w, PyObject *exc, PyObject **out)
{
    WaitCallbackObj *wc = (WaitCallbackObj *)w->w_cb;
    PyObject *futs = w->w_fs, *done = NULL, *pending = NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(futs);
    w->w_cb = NULL;
    w->w_step = W_DONE;
    if (wc->wc_timer != NULL && ac_cancel_timer(st, wc->wc_timer, exc) < 0) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (ac_fut_remove_done_callback(st, PyTuple_GET_ITEM(futs, i),
                                        (PyObject *)wc) < 0) {
            ac_chain_context(exc);
            goto error;
        }
    }
    Py_CLEAR(wc);
    if (exc != NULL) {
        ac_err_give(Py_NewRef(exc));
        return AC_STEP_ERROR;
    }
    done = PySet_New(NULL);
    pending = PySet_New(NULL);
    if (done == NULL || pending == NULL) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *f = PyTuple_GET_ITEM(futs, i);
        int d = ac_fut_done(st, f);
        if (d < 0 || PySet_Add(d ? done : pending, f) < 0) {
            goto error;
        }
    }
    *out = PyTuple_Pack(2, done, pending);
    Py_DECREF(done);
    Py_DECREF(pending);
    return *out == NULL ? AC_STEP_ERROR : AC_STEP_RETURN;

error:
    Py_XDECREF(wc);
    Py_XDECREF(done);
    Py_XDECREF(pending);
    return AC_STEP_ERROR;
}

static ac_step
wait_body(PyObject *self, PyObject *val, PyObject *exc, PyObject **out)
{
    WaitObj *w = (WaitObj *)self;
    ac_state *st = ac_coro_st(self);
    switch (w->w_step) {
    case W_START:
        return wait_start(st, w, out);
    case W_WAITING:
        return wait_end(st, w, exc, out);
    default:
        PyErr_SetString(PyExc_RuntimeError, "wait resumed after it ended");
        return AC_STEP_ERROR;
    }
}

static int
Wait_traverse(PyObject *self, visitproc visit, void *arg)
{
    WaitObj *w = (WaitObj *)self;
    Py_VISIT(w->w_fs);
    Py_VISIT(w->w_timeout);
    Py_VISIT(w->w_return_when);
    Py_VISIT(w->w_cb);
    return ac_coro_traverse(&w->w_coro, visit, arg);
}

static int
Wait_clear(PyObject *self)
{
    WaitObj *w = (WaitObj *)self;
    Py_CLEAR(w->w_fs);
    Py_CLEAR(w->w_timeout);
    Py_CLEAR(w->w_return_when);
    Py_CLEAR(w->w_cb);
    ac_coro_clear(&w->w_coro);
    return 0;
}

static void
Wait_dealloc(PyObject *self)
{
    ac_coro_dealloc(self, Wait_clear);
}

static PyType_Slot Wait_slots[] = {
    {Py_tp_doc, "The coroutine asyncio_c.wait() returns."},
    {Py_tp_dealloc, Wait_dealloc},
    {Py_tp_traverse, Wait_traverse},
    {Py_tp_clear, Wait_clear},
    AC_CORO_TYPE_SLOTS,
    {0, NULL},
};

static PyType_Spec Wait_spec = {
    .name = "asyncio_c._core.WaitCoroutine",
    .basicsize = sizeof(WaitObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Wait_slots,
};

/* wait(fs, *, timeout=None, return_when=ALL_COMPLETED) */
static PyObject *
wait_fn(PyObject *mod, PyObject *const *args, Py_ssize_t nargs,
        PyObject *kwnames)
{
    static const char *const names[] = {"fs", "timeout", "return_when"};
    ac_state *st = PyModule_GetState(mod);
    PyObject *vals[3] = {NULL, Py_None, st->ALL_COMPLETED};
    if (ac_parse_args("wait", args, nargs, kwnames, names, 3, 1, 1, vals) < 0) {
        return NULL;
    }
    WaitObj *w = PyObject_GC_New(WaitObj, st->WaitType);
    if (w == NULL) {
        return NULL;
    }
    ac_coro_init(&w->w_coro, st, wait_body, "wait");
    w->w_fs = Py_NewRef(vals[0]);
    w->w_timeout = Py_NewRef(vals[1]);
    w->w_return_when = Py_NewRef(vals[2]);
    w->w_cb = NULL;
    w->w_step = W_START;
    PyObject_GC_Track(w);
    return (PyObject *)w;
}

static PyMethodDef wait_functions[] = {
    {"wait", (PyCFunction)(void (*)(void))wait_fn,
     METH_FASTCALL | METH_KEYWORDS,
     "wait(fs, *, timeout=None, return_when='ALL_COMPLETED')\n--\n\n"
     "Wait for the Futures or Tasks given by fs to complete.\n\n"
     "Returns two sets of Future: (done, pending)."},
    {"_release_waiter", (PyCFunction)(void (*)(void))release_waiter_fn,
     METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

int
ac_wait_init(PyObject *mod, ac_state *st)
{
    PyObject *tasks = PyImport_ImportModule("asyncio.tasks");
    if (tasks == NULL) {
        return -1;
    }
    st->FIRST_COMPLETED = PyObject_GetAttrString(tasks, "FIRST_COMPLETED");
    st->FIRST_EXCEPTION = PyObject_GetAttrString(tasks, "FIRST_EXCEPTION");
    st->ALL_COMPLETED = PyObject_GetAttrString(tasks, "ALL_COMPLETED");
    Py_DECREF(tasks);
    if (st->FIRST_COMPLETED == NULL || st->FIRST_EXCEPTION == NULL ||
        st->ALL_COMPLETED == NULL) {
        return -1;
    }
#define TYPE(field, spec)                                                   \
    st->field = (PyTypeObject *)PyType_FromModuleAndSpec(mod, &spec, NULL); \
    if (st->field == NULL)                                                  \
        return -1;
    TYPE(WaitType, Wait_spec);
    TYPE(WaitCallbackType, WaitCallback_spec);
    TYPE(ReleaseWaiterType, ReleaseWaiter_spec);
#undef TYPE
    if (PyModule_AddFunctions(mod, wait_functions) < 0) {
        return -1;
    }
    st->release_waiter = PyObject_GetAttrString(mod, "_release_waiter");
    if (st->release_waiter == NULL) {
        return -1;
    }
    return PyModule_AddType(mod, st->WaitType);
}
