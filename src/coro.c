/* coro.c -- the coroutine protocol of C coroutines (see coro.h): states,
 * send/throw/close, delegation to what the body awaits, and finalization
 * ("never awaited" warning, closing a suspended coroutine). */
#include "coro.h"

typedef enum {
    AC_CORO_CREATED = 0,      /* not started */
    AC_CORO_SUSPENDED,        /* yielded; waits for send() or throw() */
    AC_CORO_RUNNING,          /* inside send/throw/close right now */
    AC_CORO_CLOSED,           /* returned, raised or closed */
} ac_coro_state;

void
ac_coro_init(ac_coro *co, ac_state *st, ac_coro_body body, const char *name)
{
    co->co_st = st;
    co->co_body = body;
    co->co_name = name;
    co->co_sub = NULL;
    co->co_sub_is_fut = 0;
    co->co_state = AC_CORO_CREATED;
}

int
ac_coro_traverse(ac_coro *co, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(co));
    Py_VISIT(co->co_sub);
    return 0;
}

void
ac_coro_clear(ac_coro *co)
{
    Py_CLEAR(co->co_sub);
}

void
ac_coro_dealloc(PyObject *self, inquiry clear)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (PyObject_CallFinalizerFromDealloc(self) < 0) {
        return;               /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    (void)clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

PyObject *
ac_exc_from_throw_args(PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *type, *val = NULL, *tb = NULL;
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     nargs < 1 ? "throw expected at least 1 argument, got %zd"
                               : "throw expected at most 3 arguments, got %zd",
                     nargs);
        return NULL;
    }
    type = args[0];
    if (nargs > 1) {
#if AC_THROW_3ARG_DEPRECATED
        if (PyErr_WarnEx(PyExc_DeprecationWarning,
                         "the (type, exc, tb) signature of throw() is "
                         "deprecated, use the single-arg signature instead.",
                         1) < 0) {
            return NULL;
        }
#endif
        val = args[1];
        if (nargs > 2) {
            tb = args[2];
        }
    }
    if (val == Py_None) {
        val = NULL;
    }
    if (tb == Py_None) {
        tb = NULL;
    }
    else if (tb != NULL && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError,
                        "throw() third argument must be a traceback");
        return NULL;
    }

    PyObject *exc;
    if (PyExceptionClass_Check(type)) {
        if (val != NULL && PyExceptionInstance_Check(val) &&
            PyObject_TypeCheck(val, (PyTypeObject *)type)) {
            exc = Py_NewRef(val);
        }
        else if (val == NULL) {
            exc = PyObject_CallNoArgs(type);
        }
        else if (PyTuple_Check(val)) {
            exc = PyObject_Call(type, val, NULL);
        }
        else {
            exc = PyObject_CallOneArg(type, val);
        }
        if (exc == NULL) {
            return NULL;
        }
        if (!PyExceptionInstance_Check(exc)) {
            PyErr_Format(PyExc_TypeError,
                         "calling %R should have returned an instance of "
                         "BaseException, not %s", type, Py_TYPE(exc)->tp_name);
            Py_DECREF(exc);
            return NULL;
        }
    }
    else if (PyExceptionInstance_Check(type)) {
        if (val != NULL) {
            PyErr_SetString(PyExc_TypeError,
                            "instance exception may not have a separate value");
            return NULL;
        }
        exc = Py_NewRef(type);
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "exceptions must be classes deriving BaseException or "
                     "instances of such a class, not %s",
                     Py_TYPE(type)->tp_name);
        return NULL;
    }
    if (tb != NULL && PyException_SetTraceback(exc, tb) < 0) {
        Py_DECREF(exc);
        return NULL;
    }
    return exc;
}

PyObject *
ac_running_loop(ac_state *st)
{
    return PyObject_CallNoArgs(st->get_running_loop);
}

/* ---- delegation ---- */

/* The iterator `await aw` drives, as the interpreter finds it: a coroutine
 * (or a generator marked as one) is its own; otherwise __await__(), which
 * must return an iterator that is not a coroutine. */
static PyObject *
await_iter(PyObject *aw)
{
    if (PyCoro_CheckExact(aw)) {
        return Py_NewRef(aw);
    }
    if (PyGen_CheckExact(aw)) {
        PyObject *code = PyObject_GetAttrString(aw, "gi_code");
        if (code == NULL) {
            return NULL;
        }
        int flags = ((PyCodeObject *)code)->co_flags;
        Py_DECREF(code);
        if (flags & CO_ITERABLE_COROUTINE) {
            return Py_NewRef(aw);
        }
    }
    PyAsyncMethods *am = Py_TYPE(aw)->tp_as_async;
    if (am == NULL || am->am_await == NULL) {
        PyErr_Format(PyExc_TypeError,
                     "object %.100s can't be used in 'await' expression",
                     Py_TYPE(aw)->tp_name);
        return NULL;
    }
    PyObject *it = am->am_await(aw);
    if (it == NULL) {
        return NULL;
    }
    if (PyCoro_CheckExact(it)) {
        PyErr_SetString(PyExc_TypeError, "__await__() returned a coroutine");
        Py_DECREF(it);
        return NULL;
    }
    if (!PyIter_Check(it)) {
        PyErr_Format(PyExc_TypeError,
                     "__await__() returned non-iterator of type '%.100s'",
                     Py_TYPE(it)->tp_name);
        Py_DECREF(it);
        return NULL;
    }
    return it;
}

/* The value of the StopIteration being raised (new reference), clearing it;
 * NULL when another exception is set. */
static PyObject *
take_stop_value(void)
{
    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
        return NULL;
    }
    PyObject *e = ac_err_take();
    PyObject *v = PyObject_GetAttrString(e, "value");
    Py_DECREF(e);
    return v;
}

/* Throw exc into the awaited iterator co_sub, as `await` does: a
 * GeneratorExit closes it instead; an iterator without throw() is dropped
 * and exc goes on.  PYGEN_NEXT: it yielded *out (and stays awaited).
 * PYGEN_RETURN: it returned *out.  PYGEN_ERROR: *out is the exception it
 * ended with.  Always a new reference in *out. */
static PySendResult
throw_into_sub(ac_state *st, ac_coro *co, PyObject *exc, PyObject **out)
{
    PyObject *sub = co->co_sub;
    PyObject *meth = NULL, *r;
    co->co_sub = NULL;
    if (PyErr_GivenExceptionMatches(exc, PyExc_GeneratorExit)) {
        int found = ac_getattr_opt(sub, st->s_close, &meth);
        if (found < 0) {
            goto error;
        }
        if (found == 1) {
            r = PyObject_CallNoArgs(meth);
            Py_DECREF(meth);
            if (r == NULL) {
                goto error;
            }
            Py_DECREF(r);
        }
        goto pass_on;
    }
    int found = ac_getattr_opt(sub, st->s_throw, &meth);
    if (found < 0) {
        goto error;
    }
    if (found == 0) {
        goto pass_on;
    }
    r = PyObject_CallOneArg(meth, exc);
    Py_DECREF(meth);
    if (r != NULL) {
        co->co_sub = sub;
        *out = r;
        return PYGEN_NEXT;
    }
    Py_DECREF(sub);
    *out = take_stop_value();
    if (*out != NULL) {
        return PYGEN_RETURN;
    }
    *out = ac_err_take();
    return PYGEN_ERROR;
pass_on:
    Py_DECREF(sub);
    *out = Py_NewRef(exc);
    return PYGEN_ERROR;
error:
    Py_DECREF(sub);
    *out = ac_err_take();
    return PYGEN_ERROR;
}

/* What awaiting our future fut gives once it was resumed: *val or *exc (new
 * references). */
static void
future_outcome(ac_state *st, PyObject *fut, PyObject **val, PyObject **exc)
{
    PyObject *res;
    if (AC_FUT(fut)->fut_state == AC_PENDING) {
        PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
        *exc = ac_err_take();
        return;
    }
    int rc = ac_future_outcome(st, AC_FUT(fut), &res);
    if (rc == 0) {
        *val = res;
        return;
    }
    if (rc == 1) {
        ac_err_raise(res);      /* chained as fut.result() raising it */
    }
    *exc = ac_err_take();
}

/* Resume the coroutine with val sent in, or with exc thrown in (val NULL).
 * PYGEN_NEXT: it yielded *out; PYGEN_RETURN: it returned *out; PYGEN_ERROR:
 * it raised (exception set). */
static PySendResult
coro_resume(ac_coro *co, PyObject *val, PyObject *exc, PyObject **out)
{
    ac_state *st = co->co_st;
    PyObject *in_val = NULL, *in_exc = NULL, *tmp = NULL;
    PySendResult ret;
    *out = NULL;
    switch (co->co_state) {
    case AC_CORO_RUNNING:
        PyErr_SetString(PyExc_ValueError, "coroutine already executing");
        return PYGEN_ERROR;
    case AC_CORO_CLOSED:
        if (exc != NULL) {
            ac_err_give(Py_NewRef(exc));
        }
        else {
            PyErr_SetString(PyExc_RuntimeError,
                            "cannot reuse already awaited coroutine");
        }
        return PYGEN_ERROR;
    case AC_CORO_CREATED:
        if (exc != NULL) {
            co->co_state = AC_CORO_CLOSED;
            ac_err_give(Py_NewRef(exc));
            return PYGEN_ERROR;
        }
        if (val != Py_None) {
            PyErr_SetString(PyExc_TypeError, "can't send non-None value to "
                            "a just-started coroutine");
            return PYGEN_ERROR;
        }
        break;
    default:
        break;
    }
    co->co_state = AC_CORO_RUNNING;
    Py_INCREF(co);

    /* 1. The outcome of what the body was waiting for. */
    if (co->co_sub == NULL) {
        in_val = Py_XNewRef(exc == NULL ? val : NULL);
        in_exc = Py_XNewRef(exc);
    }
    else if (co->co_sub_is_fut) {
        PyObject *fut = co->co_sub;
        co->co_sub = NULL;
        if (exc != NULL) {
            in_exc = Py_NewRef(exc);
        }
        else {
            future_outcome(st, fut, &in_val, &in_exc);
        }
        Py_DECREF(fut);
    }
    else {
        PySendResult r;
        if (exc != NULL) {
            r = throw_into_sub(st, co, exc, &tmp);
        }
        else {
            r = PyIter_Send(co->co_sub, val, &tmp);
            if (r != PYGEN_NEXT) {
                Py_CLEAR(co->co_sub);
            }
            if (r == PYGEN_ERROR) {
                tmp = ac_err_take();
            }
        }
        if (r == PYGEN_NEXT) {
            *out = tmp;
            ret = PYGEN_NEXT;
            co->co_state = AC_CORO_SUSPENDED;
            goto done;
        }
        if (r == PYGEN_RETURN) {
            in_val = tmp;
        }
        else {
            in_exc = tmp;
        }
    }

    /* 2. The body, until it yields, returns or raises. */
    for (;;) {
        PyObject *res = NULL;
        ac_step step = co->co_body((PyObject *)co, in_val, in_exc, &res);
        Py_CLEAR(in_val);
        Py_CLEAR(in_exc);
        if (step == AC_STEP_RETURN) {
            co->co_state = AC_CORO_CLOSED;
            *out = res;
            ret = PYGEN_RETURN;
            goto done;
        }
        if (step == AC_STEP_ERROR) {
            co->co_state = AC_CORO_CLOSED;
            if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
                PyObject *cause = ac_err_take();
                PyErr_SetString(PyExc_RuntimeError,
                                "coroutine raised StopIteration");
                PyObject *rt = ac_err_take();
                PyException_SetCause(rt, Py_NewRef(cause));
                PyException_SetContext(rt, cause);
                ac_err_give(rt);
            }
            ret = PYGEN_ERROR;
            goto done;
        }
        if (step == AC_STEP_YIELD) {
            co->co_state = AC_CORO_SUSPENDED;
            *out = res;
            ret = PYGEN_NEXT;
            goto done;
        }
        /* AC_STEP_AWAIT */
        if (ac_future_check_exact(st, res)) {
            if (AC_FUT(res)->fut_state != AC_PENDING) {
                future_outcome(st, res, &in_val, &in_exc);
                Py_DECREF(res);
                continue;
            }
            if (AC_FUT(res)->fut_blocking) {
                /* As the future's own iterator (future.c) and asyncio's C
                 * Future: a pending future whose blocking flag is still set
                 * (e.g. left so by a task that awaited itself) is not
                 * awaited again. */
                Py_DECREF(res);
                PyErr_SetString(PyExc_RuntimeError,
                                "await wasn't used with future");
                in_exc = ac_err_take();
                continue;
            }
            AC_FUT(res)->fut_blocking = 1;
            co->co_sub = Py_NewRef(res);
            co->co_sub_is_fut = 1;
            co->co_state = AC_CORO_SUSPENDED;
            *out = res;
            ret = PYGEN_NEXT;
            goto done;
        }
        PyObject *it = await_iter(res);
        Py_DECREF(res);
        if (it == NULL) {
            in_exc = ac_err_take();
            continue;
        }
        PySendResult r = PyIter_Send(it, Py_None, &tmp);
        if (r == PYGEN_NEXT) {
            co->co_sub = it;
            co->co_sub_is_fut = 0;
            co->co_state = AC_CORO_SUSPENDED;
            *out = tmp;
            ret = PYGEN_NEXT;
            goto done;
        }
        Py_DECREF(it);
        if (r == PYGEN_RETURN) {
            in_val = tmp;
        }
        else {
            in_exc = ac_err_take();
        }
    }
done:
    Py_DECREF(co);
    return ret;
}

/* ---- the Python-visible protocol ---- */

PyObject *
ac_coro_await_self(PyObject *self)
{
    return Py_NewRef(self);
}

PySendResult
ac_coro_am_send(PyObject *self, PyObject *arg, PyObject **res)
{
    return coro_resume((ac_coro *)self, arg, NULL, res);
}

PyObject *
ac_gen_result(PySendResult r, PyObject *res, int stop_on_none)
{
    if (r == PYGEN_NEXT) {
        return res;
    }
    if (r == PYGEN_RETURN) {
        if (res != Py_None) {
            /* an instance, so a tuple result is not taken as arguments */
            PyObject *e = PyObject_CallOneArg(PyExc_StopIteration, res);
            if (e != NULL) {
                PyErr_SetObject(PyExc_StopIteration, e);
                Py_DECREF(e);
            }
        }
        else if (stop_on_none) {
            PyErr_SetNone(PyExc_StopIteration);
        }
        Py_DECREF(res);
    }
    return NULL;
}

PyObject *
ac_coro_iternext(PyObject *self)
{
    PyObject *res;
    PySendResult r = coro_resume((ac_coro *)self, Py_None, NULL, &res);
    return ac_gen_result(r, res, 0);
}

static PyObject *
coro_send(PyObject *self, PyObject *arg)
{
    PyObject *res;
    PySendResult r = coro_resume((ac_coro *)self, arg, NULL, &res);
    return ac_gen_result(r, res, 1);
}

static PyObject *
coro_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *exc = ac_exc_from_throw_args(args, nargs);
    if (exc == NULL) {
        return NULL;
    }
    PyObject *res;
    PySendResult r = coro_resume((ac_coro *)self, NULL, exc, &res);
    Py_DECREF(exc);
    return ac_gen_result(r, res, 1);
}

/* close(): GeneratorExit thrown in if suspended; 0, or -1 with an error. */
static int
coro_close_impl(ac_coro *co)
{
    if (co->co_state == AC_CORO_RUNNING) {
        PyErr_SetString(PyExc_ValueError, "coroutine already executing");
        return -1;
    }
    if (co->co_state != AC_CORO_SUSPENDED) {
        co->co_state = AC_CORO_CLOSED;
        return 0;
    }
    PyObject *exit = PyObject_CallNoArgs(PyExc_GeneratorExit);
    if (exit == NULL) {
        return -1;
    }
    PyObject *res;
    PySendResult r = coro_resume(co, NULL, exit, &res);
    Py_DECREF(exit);
    if (r == PYGEN_NEXT) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_RuntimeError, "coroutine ignored GeneratorExit");
        return -1;
    }
    if (r == PYGEN_RETURN) {
        Py_DECREF(res);
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_GeneratorExit) ||
        PyErr_ExceptionMatches(PyExc_StopIteration)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

static PyObject *
coro_close(PyObject *self, PyObject *unused)
{
    if (coro_close_impl((ac_coro *)self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

void
ac_coro_finalize(PyObject *self)
{
    ac_coro *co = (ac_coro *)self;
    if (co->co_state != AC_CORO_CREATED && co->co_state != AC_CORO_SUSPENDED) {
        return;
    }
    PyObject *saved = ac_err_take();
    if (co->co_state == AC_CORO_CREATED) {
        co->co_state = AC_CORO_CLOSED;
        if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                             "coroutine '%s' was never awaited",
                             co->co_name) < 0) {
            PyErr_WriteUnraisable(self);
        }
    }
    else if (coro_close_impl(co) < 0) {
        PyErr_WriteUnraisable(self);
    }
    ac_err_give(saved);
}

static PyObject *
coro_get_name(PyObject *self, void *closure)
{
    return PyUnicode_FromString(((ac_coro *)self)->co_name);
}

static PyObject *
coro_get_running(PyObject *self, void *closure)
{
    return PyBool_FromLong(((ac_coro *)self)->co_state == AC_CORO_RUNNING);
}

static PyObject *
coro_get_await(PyObject *self, void *closure)
{
    return ac_or_none(((ac_coro *)self)->co_sub);
}

PyMethodDef ac_coro_methods[] = {
    {"send", coro_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))coro_throw, METH_FASTCALL, NULL},
    {"close", coro_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyGetSetDef ac_coro_getset[] = {
    {"__name__", coro_get_name, NULL, NULL, NULL},
    {"__qualname__", coro_get_name, NULL, NULL, NULL},
    {"cr_running", coro_get_running, NULL, NULL, NULL},
    {"cr_await", coro_get_await, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ---- helpers for the bodies ---- */

int
ac_is_nonpositive(PyObject *timeout)
{
    if (PyFloat_CheckExact(timeout)) {
        return PyFloat_AS_DOUBLE(timeout) <= 0.0;
    }
    if (PyLong_CheckExact(timeout)) {
        int overflow;
        long v = PyLong_AsLongAndOverflow(timeout, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        return overflow != 0 ? overflow < 0 : v <= 0;
    }
    PyObject *zero = PyLong_FromLong(0);
    if (zero == NULL) {
        return -1;
    }
    int r = PyObject_RichCompareBool(timeout, zero, Py_LE);
    Py_DECREF(zero);
    return r;
}

int
ac_cancel_timer(ac_state *st, PyObject *h, PyObject *exc)
{
    int rc;
    if (Py_IS_TYPE(h, st->TimerHandleType)) {
        rc = ac_handle_cancel(st, h);
    }
    else {
        PyObject *r = PyObject_CallMethodNoArgs(h, st->s_cancel);
        rc = r == NULL ? -1 : 0;
        Py_XDECREF(r);
    }
    if (rc < 0) {
        ac_chain_context(exc);
    }
    return rc;
}

void
ac_chain_context(PyObject *handled)
{
    if (handled == NULL || !PyErr_Occurred()) {
        return;
    }
    PyObject *exc = ac_err_take();
    ac_set_context(exc, handled);
    ac_err_give(exc);
}

void
ac_set_context(PyObject *exc, PyObject *handled)
{
    if (exc != handled) {
        /* as the interpreter does: cut a cycle through exc, and do not
         * hang on a cycle already in handled's chain (Floyd) */
        PyObject *o = handled, *slow = handled, *ctx;
        int toggle = 0;
        while ((ctx = PyException_GetContext(o)) != NULL) {
            Py_DECREF(ctx);           /* o's chain keeps it alive */
            if (ctx == exc) {
                PyException_SetContext(o, NULL);
                break;
            }
            o = ctx;
            if (o == slow) {
                break;
            }
            if (toggle) {
                slow = PyException_GetContext(slow);
                Py_DECREF(slow);
            }
            toggle = !toggle;
        }
        PyException_SetContext(exc, Py_NewRef(handled));
    }
}
