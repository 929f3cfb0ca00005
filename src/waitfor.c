/* waitfor.c -- native asyncio.wait_for(fut, timeout): a C coroutine with
 * the running version's semantics.
 *
 * 3.11: fut is wrapped by ensure_future(); a waiter future is released by a
 * timer or by fut's completion; on timeout (or when the wait is cancelled)
 * fut is cancelled and waited for (_cancel_and_wait) before TimeoutError
 * (or the CancelledError) is raised.  timeout None is a plain `await fut`.
 *
 * 3.12+: `async with timeouts.timeout(timeout): return await fut`, inlined:
 * fut is awaited in the caller's task, and the Timeout state machine
 * (entered, expiring, expired, exited) is kept here: a timer cancels the
 * current task when the deadline passes, and on exit the task is uncancelled
 * and the CancelledError becomes TimeoutError only if no other cancellation
 * was requested meanwhile (3.13 also marks other exceptions with a
 * TimeoutError in their context chain).
 *
 * Both: a timeout <= 0 cancels the (ensured) future at once unless it is
 * already done, waits for it, and turns its cancellation into TimeoutError. */
#include "wait.h"

typedef struct {
    ac_coro wf_coro;
    PyObject *wf_fut;         /* the argument; then the future it became */
    PyObject *wf_timeout;
    PyObject *wf_loop;        /* 3.11: the running loop */
    PyObject *wf_waiter;      /* the waiter future being awaited */
    PyObject *wf_cb;          /* partial(_release_waiter, waiter) on wf_fut */
    PyObject *wf_timer;       /* the timeout's handle */
    PyObject *wf_task;        /* 3.12+: the task the timeout cancels */
    PyObject *wf_handled;     /* 3.11: the CancelledError being handled
                                 while fut is cancelled and waited for */
    long wf_cancelling;       /* 3.12+: task.cancelling() on entry */
    char wf_tstate;           /* 3.12+: the Timeout's state (T_*) */
    char wf_step;             /* where the body resumes (WF_*) */
    char wf_after;            /* what follows _cancel_and_wait (AFTER_*) */
} WaitForObj;

enum {
    WF_START = 0,
    WF_PLAIN,                 /* 3.11, timeout None: `return await fut` */
    WF_WAITER,                /* 3.11: `await waiter` */
    WF_CAW,                   /* _cancel_and_wait(): `await waiter` */
    WF_TIMEOUT,               /* 3.12+: `await fut` inside the timeout */
    WF_DONE,
};

enum {
    AFTER_NONPOSITIVE = 0,    /* timeout <= 0: fut.result(), TimeoutError */
    AFTER_TIMEOUT,            /* 3.11, timed out: likewise, then the timer */
    AFTER_CANCELLED,          /* 3.11, wait cancelled: re-raise wf_handled */
};

enum { T_CREATED = 0, T_ENTERED, T_EXPIRING, T_EXPIRED, T_EXITED };


/* Raise `TimeoutError() from exc` (exc: the exception being handled). */
static void
raise_timeout_from(PyObject *exc)
{
    PyObject *te = PyObject_CallNoArgs(PyExc_TimeoutError);
    if (te == NULL) {
        return;
    }
    PyException_SetCause(te, Py_NewRef(exc));
    PyException_SetContext(te, Py_NewRef(exc));
    ac_err_give(te);
}

/* The `finally: timeout_handle.cancel()` of 3.11 (nothing when there is no
 * timer), then return res (stolen) or raise the error set (res NULL). */
static ac_step
finish(ac_state *st, WaitForObj *wf, PyObject *res, PyObject **out)
{
    PyObject *h = wf->wf_timer;
    wf->wf_step = WF_DONE;
    Py_CLEAR(wf->wf_handled);
    if (h != NULL) {
        wf->wf_timer = NULL;
        PyObject *exc = res == NULL ? ac_err_take() : NULL;
        int rc = ac_cancel_timer(st, h, exc);
        Py_DECREF(h);
        if (rc < 0) {
            Py_XDECREF(exc);
            Py_XDECREF(res);
            return AC_STEP_ERROR;
        }
        ac_err_give(exc);
    }
    if (res == NULL) {
        return AC_STEP_ERROR;
    }
    *out = res;
    return AC_STEP_RETURN;
}

/* _cancel_and_wait(fut): up to `await waiter`.  An error goes through
 * finish() (which drops wf_handled and cancels a 3.11 timer). */
static ac_step
caw_start(ac_state *st, WaitForObj *wf, PyObject **out)
{
    PyObject *loop, *waiter = NULL, *cb = NULL;
#if AC_WAIT_FOR_USES_TIMEOUT
    loop = ac_running_loop(st);
    if (loop == NULL) {
        goto error;
    }
#else
    loop = Py_NewRef(wf->wf_loop);
#endif
    waiter = ac_loop_create_future(st, loop);
    Py_DECREF(loop);
    if (waiter == NULL) {
        goto error;
    }
    cb = acw_release_waiter_new(st, waiter);
    if (cb == NULL || ac_fut_add_done_callback(st, wf->wf_fut, cb, NULL) < 0) {
        goto error;
    }
    if (ac_fut_cancel(st, wf->wf_fut, NULL, NULL) < 0) {
        /* finally: fut.remove_done_callback(cb) */
        ac_chain_context(wf->wf_handled);
        PyObject *exc = ac_err_take();
        if (ac_fut_remove_done_callback(st, wf->wf_fut, cb) < 0) {
            ac_chain_context(exc);
            Py_DECREF(exc);
        }
        else {
            ac_err_give(exc);
        }
        goto raise;
    }
    wf->wf_waiter = Py_NewRef(waiter);
    wf->wf_cb = cb;
    wf->wf_step = WF_CAW;
    *out = waiter;
    return AC_STEP_AWAIT;
error:
    ac_chain_context(wf->wf_handled);
raise:
    Py_XDECREF(waiter);
    Py_XDECREF(cb);
    return finish(st, wf, NULL, out);
}

/* fut.result() after fut was cancelled and waited for: a CancelledError
 * becomes `TimeoutError from` it. */
static ac_step
result_or_timeout(ac_state *st, WaitForObj *wf, PyObject **out)
{
    PyObject *res = ac_fut_result(st, wf->wf_fut);
    if (res == NULL && PyErr_ExceptionMatches(st->CancelledError)) {
        PyObject *exc = ac_err_take();
        raise_timeout_from(exc);
        Py_DECREF(exc);
    }
    return finish(st, wf, res, out);
}

/* Resumed after _cancel_and_wait's `await waiter`. */
static ac_step
caw_end(ac_state *st, WaitForObj *wf, PyObject *exc, PyObject **out)
{
    PyObject *cb = wf->wf_cb;
    wf->wf_cb = NULL;
    Py_CLEAR(wf->wf_waiter);
    if (exc != NULL && wf->wf_after == AFTER_CANCELLED) {
        /* it arrives inside `except CancelledError:` */
        ac_set_context(exc, wf->wf_handled);
    }
    /* finally: fut.remove_done_callback(cb) */
    int rc = ac_fut_remove_done_callback(st, wf->wf_fut, cb);
    Py_DECREF(cb);
    if (rc < 0) {
        ac_chain_context(exc != NULL ? exc : wf->wf_handled);
        return finish(st, wf, NULL, out);
    }
    if (exc != NULL) {
        ac_err_give(Py_NewRef(exc));
        return finish(st, wf, NULL, out);
    }
    if (wf->wf_after == AFTER_CANCELLED) {
        ac_err_give(Py_NewRef(wf->wf_handled));     /* bare `raise` */
        return finish(st, wf, NULL, out);
    }
    return result_or_timeout(st, wf, out);
}

/* The timeout <= 0 case: ensure_future(), done already?, else cancel it
 * and wait. */
static ac_step
nonpositive_start(ac_state *st, WaitForObj *wf, PyObject **out)
{
    PyObject *fut = ac_ensure_future(st, wf->wf_fut, wf->wf_loop);
    if (fut == NULL) {
        return AC_STEP_ERROR;
    }
    Py_SETREF(wf->wf_fut, fut);
    int done = ac_fut_done(st, fut);
    if (done < 0) {
        return AC_STEP_ERROR;
    }
    if (done) {
        wf->wf_step = WF_DONE;
        *out = ac_fut_result(st, fut);
        return *out == NULL ? AC_STEP_ERROR : AC_STEP_RETURN;
    }
    wf->wf_after = AFTER_NONPOSITIVE;
    return caw_start(st, wf, out);
}

#if !AC_WAIT_FOR_USES_TIMEOUT

/* ---------------------------------------------------------------------
 * 3.11 */

static ac_step
wf_start(ac_state *st, WaitForObj *wf, PyObject **out)
{
    wf->wf_loop = ac_running_loop(st);
    if (wf->wf_loop == NULL) {
        return AC_STEP_ERROR;
    }
    if (wf->wf_timeout == Py_None) {
        wf->wf_step = WF_PLAIN;
        *out = Py_NewRef(wf->wf_fut);
        return AC_STEP_AWAIT;
    }
    int r = ac_is_nonpositive(wf->wf_timeout);
    if (r < 0) {
        return AC_STEP_ERROR;
    }
    if (r) {
        return nonpositive_start(st, wf, out);
    }
    PyObject *waiter = ac_loop_create_future(st, wf->wf_loop);
    if (waiter == NULL) {
        return AC_STEP_ERROR;
    }
    PyObject *args[4] = {wf->wf_loop, wf->wf_timeout, st->release_waiter,
                         waiter};
    wf->wf_timer = PyObject_VectorcallMethod(
        st->s_call_later, args, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (wf->wf_timer == NULL) {
        Py_DECREF(waiter);
        return AC_STEP_ERROR;
    }
    wf->wf_cb = acw_release_waiter_new(st, waiter);
    if (wf->wf_cb == NULL) {
        goto error;
    }
    PyObject *fut = ac_ensure_future(st, wf->wf_fut, wf->wf_loop);
    if (fut == NULL) {
        goto error;
    }
    Py_SETREF(wf->wf_fut, fut);
    if (ac_fut_add_done_callback(st, fut, wf->wf_cb, NULL) < 0) {
        goto error;
    }
    wf->wf_waiter = Py_NewRef(waiter);
    wf->wf_step = WF_WAITER;
    *out = waiter;
    return AC_STEP_AWAIT;
error:
    /* asyncio leaves the timer scheduled here; nobody waits for it */
    Py_DECREF(waiter);
    Py_CLEAR(wf->wf_cb);
    return finish(st, wf, NULL, out);
}

/* Resumed after `await waiter`. */
static ac_step
wf_waited(ac_state *st, WaitForObj *wf, PyObject *exc, PyObject **out)
{
    Py_CLEAR(wf->wf_waiter);
    if (exc != NULL && !PyErr_GivenExceptionMatches(exc, st->CancelledError)) {
        ac_err_give(Py_NewRef(exc));
        Py_CLEAR(wf->wf_cb);
        return finish(st, wf, NULL, out);
    }
    int done = ac_fut_done(st, wf->wf_fut);
    if (done != 0) {
        Py_CLEAR(wf->wf_cb);
        PyObject *res = done < 0 ? NULL : ac_fut_result(st, wf->wf_fut);
        if (res == NULL) {
            ac_chain_context(exc);
        }
        return finish(st, wf, res, out);
    }
    PyObject *cb = wf->wf_cb;
    wf->wf_cb = NULL;
    int rc = ac_fut_remove_done_callback(st, wf->wf_fut, cb);
    Py_DECREF(cb);
    if (rc < 0) {
        ac_chain_context(exc);
        return finish(st, wf, NULL, out);
    }
    if (exc != NULL) {
        wf->wf_handled = Py_NewRef(exc);
        wf->wf_after = AFTER_CANCELLED;
    }
    else {
        wf->wf_after = AFTER_TIMEOUT;
    }
    return caw_start(st, wf, out);
}

#else /* AC_WAIT_FOR_USES_TIMEOUT */

/* ---------------------------------------------------------------------
 * 3.12+: timeouts.timeout(timeout), inlined */

/* task.cancelling(): 0, or -1 with an error. */
static int
task_cancelling(ac_state *st, PyObject *task, long *n)
{
    if (Py_IS_TYPE(task, st->TaskType)) {
        *n = AC_RARE(AC_FUT(task), num_cancels_requested);
        return 0;
    }
    PyObject *r = PyObject_CallMethodNoArgs(task, st->s_cancelling);
    if (r == NULL) {
        return -1;
    }
    *n = PyLong_AsLong(r);
    Py_DECREF(r);
    return *n == -1 && PyErr_Occurred() ? -1 : 0;
}

/* `async with timeouts.timeout(timeout):` then `await fut`. */
static ac_step
wf_start(ac_state *st, WaitForObj *wf, PyObject **out)
{
    PyObject *loop = NULL, *when = NULL, *now = NULL;
    if (wf->wf_timeout != Py_None) {
        int r = ac_is_nonpositive(wf->wf_timeout);
        if (r < 0) {
            return AC_STEP_ERROR;
        }
        if (r) {
            return nonpositive_start(st, wf, out);
        }
    }
    /* timeouts.timeout(): the deadline */
    loop = ac_running_loop(st);
    if (loop == NULL) {
        return AC_STEP_ERROR;
    }
    if (wf->wf_timeout != Py_None) {
        now = PyObject_CallMethodNoArgs(loop, st->s_time);
        if (now == NULL) {
            goto error;
        }
        when = PyNumber_Add(now, wf->wf_timeout);
        Py_CLEAR(now);
        if (when == NULL) {
            goto error;
        }
    }
    /* Timeout.__aenter__() */
    PyObject *task = ac_dict_get(st->current_tasks, loop);
    if (task == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError,
                            "Timeout should be used inside a task");
        }
        goto error;
    }
    Py_INCREF(task);
    wf->wf_tstate = T_ENTERED;
    wf->wf_task = task;
    if (task_cancelling(st, task, &wf->wf_cancelling) < 0) {
        goto error;
    }
    /* reschedule(when) */
    if (when != NULL) {
        now = PyObject_CallMethodNoArgs(loop, st->s_time);
        if (now == NULL) {
            goto error;
        }
        int past = PyObject_RichCompareBool(when, now, Py_LE);
        Py_CLEAR(now);
        if (past < 0) {
            goto error;
        }
        if (past) {
            PyObject *args[3] = {loop, st->wait_for_on_timeout,
                                 (PyObject *)wf};
            wf->wf_timer = PyObject_VectorcallMethod(
                st->s_call_soon, args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                NULL);
        }
        else {
            PyObject *args[4] = {loop, when, st->wait_for_on_timeout,
                                 (PyObject *)wf};
            wf->wf_timer = PyObject_VectorcallMethod(
                st->s_call_at, args, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                NULL);
        }
        if (wf->wf_timer == NULL) {
            goto error;
        }
        Py_CLEAR(when);
    }
    Py_DECREF(loop);
    wf->wf_step = WF_TIMEOUT;
    *out = Py_NewRef(wf->wf_fut);
    return AC_STEP_AWAIT;
error:
    Py_XDECREF(when);
    Py_XDECREF(loop);
    return AC_STEP_ERROR;
}

#if AC_TIMEOUT_INSERTS_ERROR
/* Timeout._insert_timeout_error(exc): the first CancelledError in exc's
 * context chain gets a TimeoutError put in front of it.  0 or -1. */
static int
insert_timeout_error(ac_state *st, PyObject *exc)
{
    PyObject *cur = Py_NewRef(exc), *ctx;
    while ((ctx = PyException_GetContext(cur)) != NULL) {
        int is_cancel = PyObject_IsInstance(ctx, st->CancelledError);
        if (is_cancel < 0) {
            Py_DECREF(ctx);
            Py_DECREF(cur);
            return -1;
        }
        if (is_cancel) {
            PyObject *te = PyObject_CallNoArgs(PyExc_TimeoutError);
            if (te == NULL) {
                Py_DECREF(ctx);
                Py_DECREF(cur);
                return -1;
            }
            PyException_SetContext(te, Py_NewRef(ctx));
            PyException_SetCause(te, ctx);                 /* stolen */
            PyException_SetContext(cur, te);               /* stolen */
            Py_DECREF(cur);
            return 0;
        }
        Py_SETREF(cur, ctx);
    }
    Py_DECREF(cur);
    return 0;
}

/* 3.13's __aexit__ for an exception that is not a CancelledError. */
static int
mark_timeout(ac_state *st, PyObject *exc)
{
    if (insert_timeout_error(st, exc) < 0) {
        return -1;
    }
    int is_group = PyObject_IsInstance(exc, st->ExceptionGroup);
    if (is_group <= 0) {
        return is_group;
    }
    PyObject *excs = PyObject_GetAttr(exc, st->s_exceptions);
    if (excs == NULL) {
        return -1;
    }
    PyObject *it = PyObject_GetIter(excs);
    Py_DECREF(excs);
    if (it == NULL) {
        return -1;
    }
    PyObject *e;
    while ((e = PyIter_Next(it)) != NULL) {
        int rc = insert_timeout_error(st, e);
        Py_DECREF(e);
        if (rc < 0) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}
#endif

/* Timeout.__aexit__(), then the outcome of `await fut` goes on. */
static ac_step
wf_exit(ac_state *st, WaitForObj *wf, PyObject *val, PyObject *exc,
        PyObject **out)
{
    wf->wf_step = WF_DONE;
    PyObject *h = wf->wf_timer;
    if (h != NULL) {
        wf->wf_timer = NULL;
        int rc = ac_cancel_timer(st, h, exc);
        Py_DECREF(h);
        if (rc < 0) {
            return AC_STEP_ERROR;
        }
    }
    if (wf->wf_tstate == T_EXPIRING) {
        wf->wf_tstate = T_EXPIRED;
        PyObject *r = PyObject_CallMethodNoArgs(wf->wf_task, st->s_uncancel);
        if (r == NULL) {
            ac_chain_context(exc);
            return AC_STEP_ERROR;
        }
        PyObject *limit = PyLong_FromLong(wf->wf_cancelling);
        int ours = limit == NULL ? -1 : PyObject_RichCompareBool(r, limit,
                                                                  Py_LE);
        Py_DECREF(r);
        Py_XDECREF(limit);
        if (ours < 0) {
            ac_chain_context(exc);
            return AC_STEP_ERROR;
        }
#if AC_TIMEOUT_INSERTS_ERROR
        if (ours && exc != NULL) {
            int is_cancel = PyObject_IsInstance(exc, st->CancelledError);
            if (is_cancel < 0 ||
                (!is_cancel && mark_timeout(st, exc) < 0)) {
                ac_chain_context(exc);
                return AC_STEP_ERROR;
            }
            if (is_cancel) {
                raise_timeout_from(exc);
                return AC_STEP_ERROR;
            }
        }
#else
        if (ours && exc != NULL &&
            (PyObject *)Py_TYPE(exc) == st->CancelledError) {
            raise_timeout_from(exc);
            return AC_STEP_ERROR;
        }
#endif
    }
    else if (wf->wf_tstate == T_ENTERED) {
        wf->wf_tstate = T_EXITED;
    }
    if (exc != NULL) {
        ac_err_give(Py_NewRef(exc));
        return AC_STEP_ERROR;
    }
    *out = Py_NewRef(val);
    return AC_STEP_RETURN;
}

/* Timeout._on_timeout(), the timer's callback: _wait_for_on_timeout(coro) */
static PyObject *
on_timeout_fn(PyObject *mod, PyObject *arg)
{
    ac_state *st = PyModule_GetState(mod);
    if (!Py_IS_TYPE(arg, st->WaitForType)) {
        PyErr_SetString(PyExc_TypeError,
                        "_wait_for_on_timeout() expects a wait_for coroutine");
        return NULL;
    }
    WaitForObj *wf = (WaitForObj *)arg;
    if (wf->wf_tstate != T_ENTERED || wf->wf_task == NULL) {
        PyErr_SetNone(PyExc_AssertionError);
        return NULL;
    }
    PyObject *r = PyObject_CallMethodNoArgs(wf->wf_task, st->s_cancel);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    wf->wf_tstate = T_EXPIRING;
    Py_CLEAR(wf->wf_timer);       /* drop the reference early */
    Py_RETURN_NONE;
}

#endif /* AC_WAIT_FOR_USES_TIMEOUT */

/* ---------------------------------------------------------------------
 * the coroutine */

static ac_step
wait_for_body(PyObject *self, PyObject *val, PyObject *exc, PyObject **out)
{
    WaitForObj *wf = (WaitForObj *)self;
    ac_state *st = ac_coro_st(self);
    switch (wf->wf_step) {
    case WF_START:
        return wf_start(st, wf, out);
    case WF_CAW:
        return caw_end(st, wf, exc, out);
#if AC_WAIT_FOR_USES_TIMEOUT
    case WF_TIMEOUT:
        return wf_exit(st, wf, val, exc, out);
#else
    case WF_PLAIN:
        wf->wf_step = WF_DONE;
        if (exc != NULL) {
            ac_err_give(Py_NewRef(exc));
            return AC_STEP_ERROR;
        }
        *out = Py_NewRef(val);
        return AC_STEP_RETURN;
    case WF_WAITER:
        return wf_waited(st, wf, exc, out);
#endif
    default:
        PyErr_SetString(PyExc_RuntimeError, "wait_for resumed after it ended");
        return AC_STEP_ERROR;
    }
}

static int
WaitFor_traverse(PyObject *self, visitproc visit, void *arg)
{
    WaitForObj *wf = (WaitForObj *)self;
    Py_VISIT(wf->wf_fut);
    Py_VISIT(wf->wf_timeout);
    Py_VISIT(wf->wf_loop);
    Py_VISIT(wf->wf_waiter);
    Py_VISIT(wf->wf_cb);
    Py_VISIT(wf->wf_timer);
    Py_VISIT(wf->wf_task);
    Py_VISIT(wf->wf_handled);
    return ac_coro_traverse(&wf->wf_coro, visit, arg);
}

static int
WaitFor_clear(PyObject *self)
{
    WaitForObj *wf = (WaitForObj *)self;
    Py_CLEAR(wf->wf_fut);
    Py_CLEAR(wf->wf_timeout);
    Py_CLEAR(wf->wf_loop);
    Py_CLEAR(wf->wf_waiter);
    Py_CLEAR(wf->wf_cb);
    Py_CLEAR(wf->wf_timer);
    Py_CLEAR(wf->wf_task);
    Py_CLEAR(wf->wf_handled);
    ac_coro_clear(&wf->wf_coro);
    return 0;
}

static void
WaitFor_dealloc(PyObject *self)
{
    ac_coro_dealloc(self, WaitFor_clear);
}

static PyType_Slot WaitFor_slots[] = {
    {Py_tp_doc, "The coroutine asyncio_c.wait_for() returns."},
    {Py_tp_dealloc, WaitFor_dealloc},
    {Py_tp_traverse, WaitFor_traverse},
    {Py_tp_clear, WaitFor_clear},
    AC_CORO_TYPE_SLOTS,
    {0, NULL},
};

static PyType_Spec WaitFor_spec = {
    .name = "asyncio_c._core.WaitForCoroutine",
    .basicsize = sizeof(WaitForObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = WaitFor_slots,
};

/* wait_for(fut, timeout) */
static PyObject *
wait_for_fn(PyObject *mod, PyObject *const *args, Py_ssize_t nargs,
            PyObject *kwnames)
{
    static const char *const names[] = {"fut", "timeout"};
    PyObject *vals[2] = {NULL, NULL};
    if (ac_parse_args("wait_for", args, nargs, kwnames, names, 2, 2, 2,
                      vals) < 0) {
        return NULL;
    }
    ac_state *st = PyModule_GetState(mod);
    WaitForObj *wf = PyObject_GC_New(WaitForObj, st->WaitForType);
    if (wf == NULL) {
        return NULL;
    }
    ac_coro_init(&wf->wf_coro, st, wait_for_body, "wait_for");
    wf->wf_fut = Py_NewRef(vals[0]);
    wf->wf_timeout = Py_NewRef(vals[1]);
    wf->wf_loop = NULL;
    wf->wf_waiter = NULL;
    wf->wf_cb = NULL;
    wf->wf_timer = NULL;
    wf->wf_task = NULL;
    wf->wf_handled = NULL;
    wf->wf_cancelling = 0;
    wf->wf_tstate = T_CREATED;
    wf->wf_step = WF_START;
    wf->wf_after = AFTER_NONPOSITIVE;
    PyObject_GC_Track(wf);
    return (PyObject *)wf;
}

static PyMethodDef waitfor_functions[] = {
    {"wait_for", (PyCFunction)(void (*)(void))wait_for_fn,
     METH_FASTCALL | METH_KEYWORDS,
     "wait_for(fut, timeout)\n--\n\n"
     "Wait for the single Future or coroutine to complete, with timeout."},
#if AC_WAIT_FOR_USES_TIMEOUT
    {"_wait_for_on_timeout", on_timeout_fn, METH_O, NULL},
#endif
    {NULL, NULL, 0, NULL},
};

int
ac_waitfor_init(PyObject *mod, ac_state *st)
{
    st->WaitForType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &WaitFor_spec, NULL);
    if (st->WaitForType == NULL) {
        return -1;
    }
    if (PyModule_AddFunctions(mod, waitfor_functions) < 0) {
        return -1;
    }
#if AC_WAIT_FOR_USES_TIMEOUT
    st->wait_for_on_timeout = PyObject_GetAttrString(mod,
                                                     "_wait_for_on_timeout");
    if (st->wait_for_on_timeout == NULL) {
        return -1;
    }
#endif
#if AC_TIMEOUT_INSERTS_ERROR
    PyObject *builtins = PyImport_ImportModule("builtins");
    if (builtins == NULL) {
        return -1;
    }
    st->ExceptionGroup = PyObject_GetAttrString(builtins, "ExceptionGroup");
    Py_DECREF(builtins);
    if (st->ExceptionGroup == NULL) {
        return -1;
    }
#endif
    return PyModule_AddType(mod, st->WaitForType);
}
