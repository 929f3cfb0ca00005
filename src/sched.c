/* sched.c -- how Future and Task hand work to an event loop.
 *
 * Today every loop is reached through its Python methods (call_soon,
 * call_exception_handler); this is the one place that will learn to push
 * straight into the C loop's ready queue. */
#include "state.h"

int
ac_call_soon(ac_state *st, PyObject *loop, PyObject *fn, PyObject *arg,
             PyObject *ctx)
{
    PyObject *args[4];
    size_t n = 0;
    args[n++] = loop;
    args[n++] = fn;
    if (arg != NULL) {
        args[n++] = arg;
    }
    args[n] = ctx != NULL ? ctx : Py_None;
    PyObject *res = PyObject_VectorcallMethod(
        st->s_call_soon, args, n,
        st->kw_context);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

void
ac_call_exception_handler(ac_state *st, PyObject *loop, PyObject *context)
{
    PyObject *res = PyObject_CallMethodOneArg(
        loop, st->s_call_exception_handler, context);
    if (res == NULL) {
        PyErr_WriteUnraisable(context);
    }
    Py_XDECREF(res);
}
