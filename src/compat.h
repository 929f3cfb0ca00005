/* compat.h -- every difference between the CPython versions we build for
 * (3.11, 3.12, 3.13) lives here, as feature macros and small inline helpers.
 * Nothing else in src/ tests PY_VERSION_HEX. */
#ifndef AC_COMPAT_H
#define AC_COMPAT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* 3.12: eager tasks (Task(..., eager_start=True), _swap_current_task,
 * _register_eager_task), and the 3-argument throw() is deprecated. */
#if PY_VERSION_HEX >= 0x030C0000
#  define AC_HAVE_EAGER_TASKS 1
#  define AC_THROW_3ARG_DEPRECATED 1
#else
#  define AC_HAVE_EAGER_TASKS 0
#  define AC_THROW_3ARG_DEPRECATED 0
#endif

/* 3.13: set_exception(StopIteration instance) wraps it into a RuntimeError
 * instead of raising TypeError; uncancel() reaching 0 clears _must_cancel. */
#if PY_VERSION_HEX >= 0x030D0000
#  define AC_STOPITERATION_WRAPPED 1
#  define AC_UNCANCEL_CLEARS_MUST_CANCEL 1
#else
#  define AC_STOPITERATION_WRAPPED 0
#  define AC_UNCANCEL_CLEARS_MUST_CANCEL 0
#endif

/* 3.13: asyncio.sleep() refuses a NaN delay (ValueError). */
#if PY_VERSION_HEX >= 0x030D0000
#  define AC_SLEEP_REJECTS_NAN 1
#else
#  define AC_SLEEP_REJECTS_NAN 0
#endif

/* 3.12: wait_for() is `async with timeouts.timeout(t): return await fut`
 * in the caller's task (3.11: fut is wrapped in a task and raced against a
 * waiter future and a timer).  3.13: Timeout.__aexit__ turns any
 * CancelledError subclass (3.12: exactly CancelledError) into TimeoutError
 * and marks other exceptions with an inserted TimeoutError context. */
#if PY_VERSION_HEX >= 0x030C0000
#  define AC_WAIT_FOR_USES_TIMEOUT 1
#else
#  define AC_WAIT_FOR_USES_TIMEOUT 0
#endif
#if PY_VERSION_HEX >= 0x030D0000
#  define AC_TIMEOUT_INSERTS_ERROR 1
#else
#  define AC_TIMEOUT_INSERTS_ERROR 0
#endif

/* 3.12: gather() and shield() call tasks.ensure_future (3.11: the private
 * tasks._ensure_future), and gather() runs the done callback of children
 * already done (eager tasks) itself, after the outer future exists. */
#if PY_VERSION_HEX >= 0x030C0000
#  define AC_ENSURE_FUTURE_NAME "ensure_future"
#  define AC_GATHER_DONE_CHILDREN_AFTER 1
#else
#  define AC_ENSURE_FUTURE_NAME "_ensure_future"
#  define AC_GATHER_DONE_CHILDREN_AFTER 0
#endif

/* Which asyncio.events function Future(loop=None) asks for a loop. */
#if PY_VERSION_HEX >= 0x030C0000
#  define AC_GET_EVENT_LOOP_NAME "get_event_loop"
#else
#  define AC_GET_EVENT_LOOP_NAME "_get_event_loop"
#endif

/* asyncio.Server._attach/_detach take the transport (3.13+). */
#if PY_VERSION_HEX >= 0x030D0000
#  define AC_SERVER_ATTACH_TAKES_TRANSPORT 1
#else
#  define AC_SERVER_ATTACH_TAKES_TRANSPORT 0
#endif

/* The datagram transport (selector_events._SelectorDatagramTransport):
 * 3.13+ count 8 bytes of header per queued datagram in the write buffer
 * size, and send an empty datagram for sendto(b''), which earlier versions
 * ignore. */
#if PY_VERSION_HEX >= 0x030D0000
#  define AC_DGRAM_HEADER_SIZE 8
#else
#  define AC_DGRAM_HEADER_SIZE 0
#endif
#if PY_VERSION_HEX >= 0x030D0000
#  define AC_DGRAM_SENDS_EMPTY 1
#else
#  define AC_DGRAM_SENDS_EMPTY 0
#endif

/* The socket transport's writelines(): 3.11 inherits WriteTransport's
 * write(b"".join(...)); 3.12+ buffers the items and writes at once. */
#if PY_VERSION_HEX >= 0x030C0000
#  define AC_WRITELINES_JOINS 0
#else
#  define AC_WRITELINES_JOINS 1
#endif

/* The current exception as one object (NULL if none), cleared; and back. */
static inline PyObject *
ac_err_take(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL) {
        return NULL;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* Steals the reference to exc (which may be NULL: then clears). */
static inline void
ac_err_give(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    if (exc == NULL) {
        PyErr_Clear();
        return;
    }
    PyObject *tb = PyException_GetTraceback(exc);
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, tb);
#endif
}

/* `raise exc`: like ac_err_give, but the exception being handled becomes
 * its __context__ (implicit chaining).  Steals the reference. */
static inline void
ac_err_raise(PyObject *exc)
{
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
}

/* getattr(obj, name) where a missing attribute is not an error:
 * 1 found (*res new ref), 0 missing (*res NULL), -1 error. */
static inline int
ac_getattr_opt(PyObject *obj, PyObject *name, PyObject **res)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_GetOptionalAttr(obj, name, res);
#else
    *res = PyObject_GetAttr(obj, name);
    if (*res != NULL) {
        return 1;
    }
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
#endif
}

/* Read-only object members: None when the field is NULL.  (3.12 renamed
 * structmember.h's names; the old ones still work on 3.11-3.13.) */
#include <structmember.h>
#define AC_T_OBJECT T_OBJECT
#define AC_READONLY READONLY

/* dict[key] as a borrowed reference, NULL without error when missing. */
static inline PyObject *
ac_dict_get(PyObject *dict, PyObject *key)
{
    return PyDict_GetItemWithError(dict, key);
}

/* 3.13: PyDict_Pop (take a key out and get its value in one lookup). */
static inline int
ac_dict_pop(PyObject *d, PyObject *key, PyObject **value)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyDict_Pop(d, key, value);
#else
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL) {
        *value = NULL;
        return PyErr_Occurred() ? -1 : 0;
    }
    Py_INCREF(v);
    if (PyDict_DelItem(d, key) < 0) {
        Py_DECREF(v);
        *value = NULL;
        return -1;
    }
    *value = v;
    return 1;
#endif
}

#endif /* AC_COMPAT_H */
