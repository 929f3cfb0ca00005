/* shield.c -- asyncio.shield in C.
 *
 * shield(arg) wraps the inner future (arg, made a future) in an outer one
 * from the inner's loop: the inner's outcome is copied to the outer, and
 * cancelling the outer leaves the inner alone.  The two done callbacks of
 * asyncio's closures are two small vectorcall C objects of one type: the
 * inner one holds the outer future, the outer one holds the inner future
 * and the inner callback (to remove it when the outer finishes first). */
#include "ensure.h"

typedef struct {
    PyObject_HEAD
    vectorcallfunc sc_vectorcall;   /* InnerCb_vectorcall or OuterCb_... */
    PyObject *sc_other;             /* inner callback: the outer future;
                                       outer callback: the inner future */
    PyObject *sc_inner_cb;          /* outer callback only */
} ShieldCbObj;

#define AC_SCB(o) ((ShieldCbObj *)(o))

/* asyncio's _inner_done_callback(inner): the inner's outcome goes to the
 * outer, unless the outer was cancelled (then the inner's exception is only
 * marked as retrieved). */
static int
inner_done(ac_state *st, PyObject *outer, PyObject *inner)
{
    int c = ac_fut_cancelled(st, outer);
    if (c < 0) {
        return -1;
    }
    if (c) {
        return ac_fut_retrieve(st, inner);
    }
    c = ac_fut_cancelled(st, inner);
    if (c < 0) {
        return -1;
    }
    if (c) {
        return ac_fut_cancel(st, outer, NULL, NULL);
    }
    PyObject *exc = ac_fut_exception(st, inner);
    if (exc == NULL) {
        return -1;
    }
    int rc;
    if (exc != Py_None) {
        rc = ac_fut_set_exception(st, outer, exc);
    }
    else {
        PyObject *res = ac_fut_result(st, inner);
        rc = res == NULL ? -1 : ac_fut_set_result(st, outer, res);
        Py_XDECREF(res);
    }
    Py_DECREF(exc);
    return rc;
}

static PyObject *
InnerCb_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                   PyObject *kwnames)
{
    if (ac_check_callback_args("_inner_done_callback", nargsf, kwnames) < 0) {
        return NULL;
    }
    ac_state *st = AC_STATE_OF(self);
    PyObject *outer = Py_XNewRef(AC_SCB(self)->sc_other);
    if (outer == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "shield callback was cleared");
        return NULL;
    }
    int rc = inner_done(st, outer, args[0]);
    Py_DECREF(outer);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* asyncio's _outer_done_callback(outer): the outer finished first, so the
 * inner need not report to it any more. */
static PyObject *
OuterCb_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                   PyObject *kwnames)
{
    if (ac_check_callback_args("_outer_done_callback", nargsf, kwnames) < 0) {
        return NULL;
    }
    ac_state *st = AC_STATE_OF(self);
    PyObject *inner = Py_XNewRef(AC_SCB(self)->sc_other);
    PyObject *inner_cb = Py_XNewRef(AC_SCB(self)->sc_inner_cb);
    int rc = -1;
    if (inner == NULL || inner_cb == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "shield callback was cleared");
        goto done;
    }
    int d = ac_fut_done(st, inner);
    if (d < 0) {
        goto done;
    }
    rc = d ? 0 : ac_fut_remove_done_callback(st, inner, inner_cb);
done:
    Py_XDECREF(inner);
    Py_XDECREF(inner_cb);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
ShieldCb_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(AC_SCB(self)->sc_other);
    Py_VISIT(AC_SCB(self)->sc_inner_cb);
    return 0;
}

static int
ShieldCb_clear(PyObject *self)
{
    Py_CLEAR(AC_SCB(self)->sc_other);
    Py_CLEAR(AC_SCB(self)->sc_inner_cb);
    return 0;
}

static void
ShieldCb_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)ShieldCb_clear(self);
    PyObject_GC_Del(self);
    Py_DECREF(tp);
}

/* The names of the closures these stand for (asyncio's reprs use them). */
static PyObject *
ShieldCb_get_qualname(PyObject *self, void *c)
{
    return PyUnicode_FromString(
        AC_SCB(self)->sc_vectorcall == InnerCb_vectorcall
            ? "shield.<locals>._inner_done_callback"
            : "shield.<locals>._outer_done_callback");
}

static PyObject *
ShieldCb_get_name(PyObject *self, void *c)
{
    return PyUnicode_FromString(
        AC_SCB(self)->sc_vectorcall == InnerCb_vectorcall
            ? "_inner_done_callback" : "_outer_done_callback");
}

static PyGetSetDef ShieldCb_getset[] = {
    {"__qualname__", ShieldCb_get_qualname, NULL, NULL, NULL},
    {"__name__", ShieldCb_get_name, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef ShieldCb_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET,
     offsetof(ShieldCbObj, sc_vectorcall), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot ShieldCb_slots[] = {
    {Py_tp_doc, "shield()'s done callback (of the inner or outer future)."},
    {Py_tp_dealloc, ShieldCb_dealloc},
    {Py_tp_traverse, ShieldCb_traverse},
    {Py_tp_clear, ShieldCb_clear},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_members, ShieldCb_members},
    {Py_tp_getset, ShieldCb_getset},
    {0, NULL},
};

static PyType_Spec ShieldCb_spec = {
    .name = "asyncio_c._core._ShieldCallback",
    .basicsize = sizeof(ShieldCbObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = ShieldCb_slots,
};

static PyObject *
shield_cb_new(ac_state *st, vectorcallfunc fn, PyObject *other,
              PyObject *inner_cb)
{
    ShieldCbObj *cb = PyObject_GC_New(ShieldCbObj, st->ShieldCallbackType);
    if (cb == NULL) {
        return NULL;
    }
    cb->sc_vectorcall = fn;
    cb->sc_other = Py_NewRef(other);
    cb->sc_inner_cb = Py_XNewRef(inner_cb);
    PyObject_GC_Track(cb);
    return (PyObject *)cb;
}

/* fut.add_done_callback(cb), with asyncio's context: a copy of the current
 * one (made only for our futures; the others copy it themselves). */
static int
add_done_callback_here(ac_state *st, PyObject *fut, PyObject *cb)
{
    PyObject *ctx = NULL;
    if (ac_fut_is_ours(st, fut)) {
        ctx = PyContext_CopyCurrent();
        if (ctx == NULL) {
            return -1;
        }
    }
    int rc = ac_fut_add_done_callback(st, fut, cb, ctx);
    Py_XDECREF(ctx);
    return rc;
}

static PyObject *
shield_impl(ac_state *st, PyObject *arg)
{
    PyObject *loop = NULL, *outer = NULL, *inner_cb = NULL, *outer_cb = NULL;
    PyObject *inner = ac_ensure_future(st, arg, NULL);
    if (inner == NULL) {
        return NULL;
    }
    int d = ac_fut_done(st, inner);
    if (d < 0) {
        goto error;
    }
    if (d) {
        return inner;  /* shortcut */
    }
    loop = ac_future_get_loop(st, inner);
    if (loop == NULL) {
        goto error;
    }
    outer = PyObject_CallMethodNoArgs(loop, st->s_create_future);
    if (outer == NULL) {
        goto error;
    }
    inner_cb = shield_cb_new(st, InnerCb_vectorcall, outer, NULL);
    if (inner_cb == NULL) {
        goto error;
    }
    outer_cb = shield_cb_new(st, OuterCb_vectorcall, inner, inner_cb);
    if (outer_cb == NULL) {
        goto error;
    }
    if (add_done_callback_here(st, inner, inner_cb) < 0 ||
        add_done_callback_here(st, outer, outer_cb) < 0) {
        goto error;
    }
    Py_DECREF(inner_cb);
    Py_DECREF(outer_cb);
    Py_DECREF(loop);
    Py_DECREF(inner);
    return outer;

error:
    Py_XDECREF(inner_cb);
    Py_XDECREF(outer_cb);
    Py_XDECREF(outer);
    Py_XDECREF(loop);
    Py_DECREF(inner);
    return NULL;
}

/* shield(arg), arg also accepted by keyword as in asyncio. */
static PyObject *
shield(PyObject *mod, PyObject *const *args, Py_ssize_t nargs,
       PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nargs == 1 && nkw == 0) {
        return shield_impl(PyModule_GetState(mod), args[0]);
    }
    if (nargs + nkw != 1) {
        if (nargs + nkw == 0) {
            PyErr_SetString(PyExc_TypeError,
                            "shield() missing 1 required positional "
                            "argument: 'arg'");
        }
        else {
            PyErr_Format(PyExc_TypeError,
                         "shield() takes 1 positional argument but %zd were "
                         "given", nargs + nkw);
        }
        return NULL;
    }
    PyObject *name = PyTuple_GET_ITEM(kwnames, 0);
    if (PyUnicode_CompareWithASCIIString(name, "arg") != 0) {
        PyErr_Format(PyExc_TypeError,
                     "shield() got an unexpected keyword argument '%U'", name);
        return NULL;
    }
    return shield_impl(PyModule_GetState(mod), args[0]);
}

static PyMethodDef shield_methods[] = {
    {"shield", (PyCFunction)(void (*)(void))shield,
     METH_FASTCALL | METH_KEYWORDS,
     "shield(arg)\n--\n\n"
     "Wait for a future, shielding it from cancellation (asyncio.shield "
     "in C)."},
    {NULL, NULL, 0, NULL},
};

int
ac_shield_init(PyObject *mod, ac_state *st)
{
    st->ShieldCallbackType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &ShieldCb_spec, NULL);
    if (st->ShieldCallbackType == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(mod, shield_methods);
}
