/* sleep.c -- native asyncio.sleep(delay, result=None): a C coroutine.
 *
 * Like the running version's asyncio.sleep: nothing is checked before the
 * coroutine starts; a delay <= 0 is one bare yield (no future, no timer);
 * otherwise a future of the running loop is awaited while a timer sets its
 * result, and the timer is cancelled however the wait ends.  3.13 refuses
 * a NaN delay. */
#include "coro.h"
#include "ensure.h"
#include <math.h>

typedef struct {
    ac_coro sl_coro;
    PyObject *sl_delay;
    PyObject *sl_result;
    PyObject *sl_timer;       /* the TimerHandle while waiting */
    int sl_step;              /* where the body resumes: SL_* */
} SleepObj;

enum { SL_START = 0, SL_YIELDED, SL_WAITING, SL_DONE };

/* 3.13 refuses a NaN delay once it is known not to be <= 0: 0, or -1 with
 * the error math.isnan() or the check raises. */
static int
check_not_nan(PyObject *delay)
{
#if AC_SLEEP_REJECTS_NAN
    double d = PyFloat_AsDouble(delay);
    if (d == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    if (isnan(d)) {
        PyErr_SetString(PyExc_ValueError, "Invalid delay: NaN (not a number)");
        return -1;
    }
#endif
    return 0;
}

/* `delay <= 0`: 1, 0, or -1 with an error (3.13: a NaN delay is one). */
static int
delay_is_nonpositive(PyObject *delay)
{
    int r = ac_is_nonpositive(delay);
    if (r == 0 && !PyLong_CheckExact(delay) && check_not_nan(delay) < 0) {
        return -1;
    }
    return r;
}

static ac_step
sleep_body(PyObject *self, PyObject *val, PyObject *exc, PyObject **out)
{
    SleepObj *sl = (SleepObj *)self;
    ac_state *st = ac_coro_st(self);
    switch (sl->sl_step) {
    case SL_START: {
        int now = delay_is_nonpositive(sl->sl_delay);
        if (now < 0) {
            return AC_STEP_ERROR;
        }
        if (now) {
            sl->sl_step = SL_YIELDED;
            *out = Py_NewRef(Py_None);
            return AC_STEP_YIELD;
        }
        PyObject *loop = ac_running_loop(st);
        if (loop == NULL) {
            return AC_STEP_ERROR;
        }
        PyObject *fut = ac_loop_create_future(st, loop);
        if (fut == NULL) {
            Py_DECREF(loop);
            return AC_STEP_ERROR;
        }
        PyObject *args[5] = {loop, sl->sl_delay,
                             st->set_result_unless_cancelled, fut,
                             sl->sl_result};
        sl->sl_timer = PyObject_VectorcallMethod(
            st->s_call_later, args, 5 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        Py_DECREF(loop);
        if (sl->sl_timer == NULL) {
            Py_DECREF(fut);
            return AC_STEP_ERROR;
        }
        sl->sl_step = SL_WAITING;
        *out = fut;
        return AC_STEP_AWAIT;
    }
    case SL_YIELDED:
        sl->sl_step = SL_DONE;
        if (exc != NULL) {
            ac_err_give(Py_NewRef(exc));
            return AC_STEP_ERROR;
        }
        *out = Py_NewRef(sl->sl_result);
        return AC_STEP_RETURN;
    case SL_WAITING: {
        sl->sl_step = SL_DONE;
        PyObject *h = sl->sl_timer;
        sl->sl_timer = NULL;
        int rc = ac_cancel_timer(st, h, exc);
        Py_DECREF(h);
        if (rc < 0) {
            return AC_STEP_ERROR;
        }
        if (exc != NULL) {
            ac_err_give(Py_NewRef(exc));
            return AC_STEP_ERROR;
        }
        *out = Py_NewRef(val);
        return AC_STEP_RETURN;
    }
    default:
        PyErr_SetString(PyExc_RuntimeError, "sleep resumed after it ended");
        return AC_STEP_ERROR;
    }
}

static int
Sleep_traverse(PyObject *self, visitproc visit, void *arg)
{
    SleepObj *sl = (SleepObj *)self;
    Py_VISIT(sl->sl_delay);
    Py_VISIT(sl->sl_result);
    Py_VISIT(sl->sl_timer);
    return ac_coro_traverse(&sl->sl_coro, visit, arg);
}

static int
Sleep_clear(PyObject *self)
{
    SleepObj *sl = (SleepObj *)self;
    Py_CLEAR(sl->sl_delay);
    Py_CLEAR(sl->sl_result);
    Py_CLEAR(sl->sl_timer);
    ac_coro_clear(&sl->sl_coro);
    return 0;
}

static void
Sleep_dealloc(PyObject *self)
{
    ac_coro_dealloc(self, Sleep_clear);
}

static PyType_Slot Sleep_slots[] = {
    {Py_tp_doc, "The coroutine asyncio_c.sleep() returns."},
    {Py_tp_dealloc, Sleep_dealloc},
    {Py_tp_traverse, Sleep_traverse},
    {Py_tp_clear, Sleep_clear},
    AC_CORO_TYPE_SLOTS,
    {0, NULL},
};

static PyType_Spec Sleep_spec = {
    .name = "asyncio_c._core.SleepCoroutine",
    .basicsize = sizeof(SleepObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Sleep_slots,
};

/* sleep(delay, result=None) */
static PyObject *
sleep_fn(PyObject *mod, PyObject *const *args, Py_ssize_t nargs,
         PyObject *kwnames)
{
    static const char *const names[] = {"delay", "result"};
    PyObject *vals[2] = {NULL, Py_None};
    if (ac_parse_args("sleep", args, nargs, kwnames, names, 2, 2, 1, vals) < 0) {
        return NULL;
    }
    ac_state *st = PyModule_GetState(mod);
    SleepObj *sl = PyObject_GC_New(SleepObj, st->SleepType);
    if (sl == NULL) {
        return NULL;
    }
    ac_coro_init(&sl->sl_coro, st, sleep_body, "sleep");
    sl->sl_delay = Py_NewRef(vals[0]);
    sl->sl_result = Py_NewRef(vals[1]);
    sl->sl_timer = NULL;
    sl->sl_step = SL_START;
    PyObject_GC_Track(sl);
    return (PyObject *)sl;
}

/* futures._set_result_unless_cancelled(fut, result): sleep's timer. */
static PyObject *
set_result_unless_cancelled(PyObject *mod, PyObject *const *args,
                            Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "_set_result_unless_cancelled expected 2 arguments, "
                     "got %zd", nargs);
        return NULL;
    }
    ac_state *st = PyModule_GetState(mod);
    int cancelled = ac_fut_cancelled(st, args[0]);
    if (cancelled < 0) {
        return NULL;
    }
    if (!cancelled && ac_fut_set_result(st, args[0], args[1]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef sleep_functions[] = {
    {"sleep", (PyCFunction)(void (*)(void))sleep_fn,
     METH_FASTCALL | METH_KEYWORDS,
     "sleep(delay, result=None)\n--\n\n"
     "Coroutine that completes after a given time (in seconds)."},
    {"_set_result_unless_cancelled",
     (PyCFunction)(void (*)(void))set_result_unless_cancelled, METH_FASTCALL,
     NULL},
    {NULL, NULL, 0, NULL},
};

int
ac_sleep_init(PyObject *mod, ac_state *st)
{
    PyObject *events = PyImport_ImportModule("asyncio.events");
    if (events == NULL) {
        return -1;
    }
    st->get_running_loop = PyObject_GetAttrString(events, "get_running_loop");
    Py_DECREF(events);
    if (st->get_running_loop == NULL) {
        return -1;
    }
    st->SleepType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &Sleep_spec, NULL);
    if (st->SleepType == NULL) {
        return -1;
    }
    if (PyModule_AddFunctions(mod, sleep_functions) < 0) {
        return -1;
    }
    st->set_result_unless_cancelled =
        PyObject_GetAttrString(mod, "_set_result_unless_cancelled");
    if (st->set_result_unless_cancelled == NULL) {
        return -1;
    }
    return PyModule_AddType(mod, st->SleepType);
}
