/* ensure_tmp.c -- TEMPORARY stand-ins for ac_ensure_future and
 * ac_future_get_loop (declared in state.h, written in src/ensure.c on the
 * gather branch).  They call asyncio's own functions.
 *
 * DELETE THIS FILE when src/ensure.c is merged.  The definitions are weak,
 * so even before that, an ensure.c in the same build silently wins. */
#include "state.h"

__attribute__((weak)) PyObject *
ac_ensure_future(ac_state *st, PyObject *obj, PyObject *loop)
{
    PyObject *mod = PyImport_ImportModule("asyncio.tasks");
    if (mod == NULL) {
        return NULL;
    }
    PyObject *fn = PyObject_GetAttrString(mod, "ensure_future");
    Py_DECREF(mod);
    if (fn == NULL) {
        return NULL;
    }
    PyObject *args[2] = {obj, loop != NULL ? loop : Py_None};
    PyObject *kw = Py_BuildValue("(s)", "loop");
    if (kw == NULL) {
        Py_DECREF(fn);
        return NULL;
    }
    PyObject *r = PyObject_Vectorcall(fn, args, 1, kw);
    Py_DECREF(kw);
    Py_DECREF(fn);
    return r;
}

__attribute__((weak)) PyObject *
ac_future_get_loop(ac_state *st, PyObject *fut)
{
    PyObject *mod = PyImport_ImportModule("asyncio.futures");
    if (mod == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_CallMethod(mod, "_get_loop", "O", fut);
    Py_DECREF(mod);
    return r;
}
