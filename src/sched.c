/* sched.c -- how Future and Task hand work to an event loop.
 *
 * asyncio_c's own loop is reached in C (no method lookup, no argument
 * parsing); any other loop through its Python methods. */
#include "state.h"
#include <stdarg.h>

int
ac_call_soon(ac_state *st, PyObject *loop, PyObject *fn, PyObject *arg,
             PyObject *ctx)
{
    if (ac_is_fast_loop(st, loop)) {
        return ac_loop_call_soon_internal(st, loop, fn, arg, ctx);
    }
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
ac_report_from_finalizer(ac_state *st, PyObject *self, PyObject *loop,
                         PyObject *source_tb, ...)
{
    PyObject *context = PyDict_New();
    int rc = context == NULL ? -1 : 0;
    va_list va;
    va_start(va, source_tb);
    for (;;) {
        PyObject *key = va_arg(va, PyObject *);
        if (key == NULL) {
            break;
        }
        PyObject *val = va_arg(va, PyObject *);
        if (rc == 0) {
            rc = PyDict_SetItem(context, key, val);
        }
    }
    va_end(va);
    if (rc == 0 && source_tb != NULL && PyObject_IsTrue(source_tb) == 1) {
        rc = PyDict_SetItem(context, st->s_source_traceback, source_tb);
    }
    if (rc == 0) {
        rc = ac_call_exception_handler(st, loop, context);
    }
    if (rc < 0) {
        PyErr_WriteUnraisable(self);
    }
    Py_XDECREF(context);
}

int
ac_call_exception_handler(ac_state *st, PyObject *loop, PyObject *context)
{
    PyObject *res = PyObject_CallMethodOneArg(
        loop, st->s_call_exception_handler, context);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}
