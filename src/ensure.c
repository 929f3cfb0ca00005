/* ensure.c -- asyncio's ensure_future and futures._get_loop for the
 * combinators, and the "any future" operations of ensure.h.
 *
 * The cases that matter for speed are C: a future (ours without a single
 * call; any other future through isfuture's attribute checks) and a native
 * coroutine when the loop is known (loop.create_task(coro)).  Everything
 * rarer -- other awaitables that need wrapping, the event loop lookup of
 * loop=None with its per-version deprecation warnings -- is handed to the
 * running version's own Python function (tasks._ensure_future on 3.11,
 * tasks.ensure_future on 3.12+), so its warnings and messages are asyncio's. */
#include "ensure.h"

/* ---------------------------------------------------------------------
 * futures._get_loop, loop.create_future() and isfuture */

PyObject *
ac_future_get_loop(ac_state *st, PyObject *fut)
{
    if (ac_fut_is_ours(st, fut)) {
        return Py_NewRef(AC_FUT(fut)->fut_loop);
    }
    PyObject *get_loop;
    int found = ac_getattr_opt(fut, st->s_get_loop, &get_loop);
    if (found < 0) {
        return NULL;
    }
    if (found) {
        PyObject *loop = PyObject_CallNoArgs(get_loop);
        Py_DECREF(get_loop);
        return loop;
    }
    return PyObject_GetAttr(fut, st->s_loop);
}

PyObject *
ac_loop_create_future(ac_state *st, PyObject *loop)
{
    if (!ac_is_fast_loop(st, loop)) {
        return PyObject_CallMethodNoArgs(loop, st->s_create_future);
    }
    return ac_future_new(st, loop);   /* what our loop's create_future() does */
}

int
ac_isfuture(ac_state *st, PyObject *obj)
{
    if (ac_future_check_exact(st, obj)) {
        /* even before __init__, as asyncio's C Future */
        return 1;
    }
    /* hasattr(obj.__class__, '_asyncio_future_blocking') and
     * obj._asyncio_future_blocking is not None */
    PyObject *v;
    int found = ac_getattr_opt((PyObject *)Py_TYPE(obj),
                               st->s_asyncio_future_blocking, &v);
    if (found <= 0) {
        return found;
    }
    Py_DECREF(v);
    v = PyObject_GetAttr(obj, st->s_asyncio_future_blocking);
    if (v == NULL) {
        return -1;
    }
    int r = v != Py_None;
    Py_DECREF(v);
    return r;
}

/* ---------------------------------------------------------------------
 * ensure_future */

/* asyncio's own ensure_future(obj, loop=loop) (loop may be NULL). */
static PyObject *
ensure_future_python(ac_state *st, PyObject *obj, PyObject *loop)
{
    PyObject *args[2] = {obj, loop};
    return PyObject_Vectorcall(st->ensure_future_py, args, 1,
                               loop != NULL ? st->kw_loop : NULL);
}

/* loop.create_task(coro); if that raises RuntimeError, the coroutine is
 * closed (it would never run) and the error re-raised, as asyncio does. */
static PyObject *
create_task_or_close(ac_state *st, PyObject *loop, PyObject *coro)
{
    PyObject *args[2] = {loop, coro};
    PyObject *task = PyObject_VectorcallMethod(
        st->s_create_task, args, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (task != NULL || !PyErr_ExceptionMatches(PyExc_RuntimeError)) {
        return task;
    }
    PyObject *err = ac_err_take();
    PyObject *r = PyObject_CallMethodNoArgs(coro, st->s_close);
    if (r == NULL) {
        /* raised while handling err: err becomes its context */
        PyObject *err2 = ac_err_take();
        PyException_SetContext(err2, err);  /* steals err */
        err = err2;
    }
    Py_XDECREF(r);
    ac_err_give(err);
    return NULL;
}

PyObject *
ac_ensure_future(ac_state *st, PyObject *obj, PyObject *loop)
{
    if (loop == Py_None) {
        loop = NULL;
    }
    if (PyCoro_CheckExact(obj)) {
        /* a native coroutine is never a future */
        if (loop == NULL) {
            return ensure_future_python(st, obj, NULL);
        }
        return create_task_or_close(st, loop, obj);
    }
    int isf = ac_isfuture(st, obj);
    if (isf < 0) {
        return NULL;
    }
    if (!isf) {
        /* other coroutines, awaitables to wrap, or a TypeError */
        return ensure_future_python(st, obj, loop);
    }
    if (loop != NULL) {
        PyObject *floop = ac_future_get_loop(st, obj);
        if (floop == NULL) {
            return NULL;
        }
        int same = floop == loop;
        Py_DECREF(floop);
        if (!same) {
            PyErr_SetString(PyExc_ValueError,
                            "The future belongs to a different loop than the "
                            "one specified as the loop argument");
            return NULL;
        }
    }
    return Py_NewRef(obj);
}

/* ---------------------------------------------------------------------
 * operations on any future */

static int
call_truth(PyObject *obj, PyObject *name)
{
    PyObject *r = PyObject_CallMethodNoArgs(obj, name);
    if (r == NULL) {
        return -1;
    }
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    return t;
}

static int
call_drop(PyObject *r)
{
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

int
ac_fut_done(ac_state *st, PyObject *fut)
{
    if (ac_fut_is_ours(st, fut)) {
        return AC_FUT(fut)->fut_state != AC_PENDING;
    }
    return call_truth(fut, st->s_done);
}

int
ac_fut_cancelled(ac_state *st, PyObject *fut)
{
    if (ac_fut_is_ours(st, fut)) {
        return AC_FUT(fut)->fut_state == AC_CANCELLED;
    }
    return call_truth(fut, st->s_cancelled_meth);
}

PyObject *
ac_fut_exception(ac_state *st, PyObject *fut)
{
    if (ac_fut_is_ours(st, fut) && AC_FUT(fut)->fut_state == AC_FINISHED) {
        FutureObj *f = AC_FUT(fut);
        f->fut_log_tb = 0;
        return ac_or_none(f->fut_exception);
    }
    /* the other states raise; the method raises what asyncio's does */
    return PyObject_CallMethodNoArgs(fut, st->s_exception);
}

PyObject *
ac_fut_result(ac_state *st, PyObject *fut)
{
    if (ac_fut_is_ours(st, fut)) {
        PyObject *res;
        int rc = ac_future_outcome(st, AC_FUT(fut), &res);
        if (rc == 1) {
            ac_err_give(res);
            return NULL;
        }
        return rc < 0 ? NULL : res;
    }
    return PyObject_CallMethodNoArgs(fut, st->s_result);
}

int
ac_fut_retrieve(ac_state *st, PyObject *fut)
{
    int c = ac_fut_cancelled(st, fut);
    if (c != 0) {
        return c < 0 ? -1 : 0;
    }
    return call_drop(ac_fut_exception(st, fut));
}

PyObject *
ac_fut_make_cancelled_error(ac_state *st, PyObject *fut)
{
    if (ac_fut_is_ours(st, fut)) {
        return ac_future_make_cancelled_error(st, AC_FUT(fut));
    }
    return PyObject_CallMethodNoArgs(fut, st->s_make_cancelled_error);
}

PyObject *
ac_fut_cancel_message(ac_state *st, PyObject *fut)
{
    if (ac_fut_is_ours(st, fut)) {
        return ac_or_none(AC_RARE(AC_FUT(fut), cancel_msg));
    }
    return PyObject_GetAttr(fut, st->s_cancel_message);
}

int
ac_fut_set_result(ac_state *st, PyObject *fut, PyObject *res)
{
    if (ac_fut_is_ours(st, fut) && Py_IS_TYPE(fut, st->FutureType)) {
        return ac_future_set_result(st, AC_FUT(fut), res);
    }
    return call_drop(PyObject_CallMethodOneArg(fut, st->s_set_result, res));
}

int
ac_fut_set_exception(ac_state *st, PyObject *fut, PyObject *exc)
{
    if (ac_fut_is_ours(st, fut) && Py_IS_TYPE(fut, st->FutureType)) {
        return ac_future_set_exception(st, AC_FUT(fut), exc);
    }
    return call_drop(PyObject_CallMethodOneArg(fut, st->s_set_exception,
                                               exc));
}

int
ac_fut_cancel(ac_state *st, PyObject *fut, PyObject *msg, int *cancelled)
{
    int r;
    if (ac_fut_is_ours(st, fut) && Py_IS_TYPE(fut, st->FutureType)) {
        r = ac_future_cancel(st, AC_FUT(fut), msg);
    }
    else {
        PyObject *res;
        if (msg == NULL) {
            res = PyObject_CallMethodNoArgs(fut, st->s_cancel);
        }
        else {
            PyObject *args[2] = {fut, msg};
            res = PyObject_VectorcallMethod(
                st->s_cancel, args, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                st->kw_msg);
        }
        if (res == NULL) {
            return -1;
        }
        /* the result's truth only where asyncio looks at it */
        r = cancelled != NULL ? PyObject_IsTrue(res) : 0;
        Py_DECREF(res);
    }
    if (r < 0) {
        return -1;
    }
    if (cancelled != NULL) {
        *cancelled = r;
    }
    return 0;
}

int
ac_fut_add_done_callback(ac_state *st, PyObject *fut, PyObject *cb,
                         PyObject *ctx)
{
    if (ac_fut_is_ours(st, fut)) {
        return ac_future_add_done_callback(st, AC_FUT(fut), cb, ctx);
    }
    return call_drop(PyObject_CallMethodOneArg(fut, st->s_add_done_callback,
                                               cb));
}

int
ac_fut_remove_done_callback(ac_state *st, PyObject *fut, PyObject *cb)
{
    if (ac_fut_is_ours(st, fut)) {
        Py_ssize_t n = ac_future_remove_done_callback(st, AC_FUT(fut), cb);
        return n < 0 ? -1 : 0;
    }
    return call_drop(PyObject_CallMethodOneArg(fut, st->s_remove_done_callback,
                                               cb));
}

/* ---------------------------------------------------------------------
 * init */

int
ac_ensure_init(PyObject *mod, ac_state *st)
{
    PyObject *tasks = PyImport_ImportModule("asyncio.tasks");
    if (tasks == NULL) {
        return -1;
    }
    st->ensure_future_py = PyObject_GetAttrString(tasks, AC_ENSURE_FUTURE_NAME);
    Py_DECREF(tasks);
    return st->ensure_future_py == NULL ? -1 : 0;
}
