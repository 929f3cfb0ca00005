/* selector_view.c -- loop._selector: a read-only view of the C poller's
 * fd table.
 *
 * asyncio's selector loop keeps its readers and writers in a selectors
 * selector (loop._selector); asyncio's own code and tests read it
 * (get_key(fd).events to tell "polling" from "idle" in reprs, get_key(sock)
 * .data for the (reader, writer) Handles).  Our loop keeps them in its
 * watch table (src/loop.c) and polls its own epoll, so asyncio_c.Loop
 * passes one of these views to asyncio's __init__ as its selector (no
 * unused epoll selector is opened) and asyncio's close() drops it.
 *
 * SelectorView: get_key(fileobj) -> selectors.SelectorKey(fileobj, fd,
 * events, (reader, writer)), where reader/writer is the Handle asyncio's
 * _add_reader/_add_writer made, or None for a side that is free or watched
 * by a C watcher (a transport, a sock_* operation); get_map() -> a live
 * SelectorMapping (fd -> key, looked up by fd or file object); close() does
 * nothing (the loop owns the poller); select/register/unregister/modify
 * raise RuntimeError: the loop alone polls and registers.  Once the loop's
 * C side is closed, get_map() is None and get_key() raises RuntimeError
 * ('Selector is closed'), as for a closed selector.  Keys made while
 * iterating the map carry the fd as their fileobj (the table has no file
 * objects). */
#include "state.h"

typedef struct {
    PyObject_HEAD
    PyObject *sv_loop;      /* the _core.Loop */
} SelectorViewObj;

#define SV(o) ((SelectorViewObj *)(o))

/* The loop's watch table is gone once _ac_close() ran. */
static int
view_open(PyObject *loop)
{
    return ((LoopObj *)loop)->loop_poller != NULL;
}

static unsigned
fd_events(LoopObj *loop, int fd)
{
    if (fd < 0 || fd >= loop->loop_nwatch) {
        return 0;
    }
    ac_watch *w = &loop->loop_watch[fd];
    return (w->reader ? AC_POLL_READ : 0) | (w->writer ? AC_POLL_WRITE : 0);
}

/* The Handle in a slot, or None for a free or C-watched side. */
static PyObject *
slot_data(PyObject *obj, ac_io_fn fn)
{
    return Py_NewRef(obj != NULL && fn == NULL ? obj : Py_None);
}

/* SelectorKey(fileobj, fd, events, (reader, writer)), or NULL with
 * KeyError when fd is not watched. */
static PyObject *
make_key(ac_state *st, LoopObj *loop, PyObject *fileobj, int fd)
{
    unsigned ev = fd_events(loop, fd);
    if (ev == 0) {
        PyErr_Format(PyExc_KeyError, "%R is not registered", fileobj);
        return NULL;
    }
    ac_watch *w = &loop->loop_watch[fd];
    PyObject *data = PyTuple_New(2);
    if (data == NULL) {
        return NULL;
    }
    PyTuple_SET_ITEM(data, 0, slot_data(w->reader, w->rfn));
    PyTuple_SET_ITEM(data, 1, slot_data(w->writer, w->wfn));
    /* selectors.EVENT_READ / EVENT_WRITE are 1 and 2, as AC_POLL_* */
    PyObject *key = PyObject_CallFunction(st->SelectorKey, "OiIO", fileobj,
                                          fd, ev, data);
    Py_DECREF(data);
    return key;
}

static PyObject *
lookup(PyObject *loop, PyObject *fileobj)
{
    ac_state *st = AC_STATE_OF(loop);
    int fd = ac_fileobj_to_fd(st, fileobj);
    if (fd < 0) {
        /* An fd beyond int is never watched: selectors' lookup (a dict of
         * Python ints) says KeyError, not OverflowError. */
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_KeyError, "%R is not registered", fileobj);
        }
        return NULL;
    }
    return make_key(st, (LoopObj *)loop, fileobj, fd);
}

/* ---------------------------------------------------------------------
 * SelectorMapping: selectors' _SelectorMapping over the watch table */

static Py_ssize_t
SM_len(PyObject *op)
{
    LoopObj *loop = (LoopObj *)SV(op)->sv_loop;
    Py_ssize_t n = 0;
    for (int fd = 0; fd < loop->loop_nwatch; fd++) {
        n += fd_events(loop, fd) != 0;
    }
    return n;
}

static PyObject *
SM_getitem(PyObject *op, PyObject *fileobj)
{
    return lookup(SV(op)->sv_loop, fileobj);
}

/* The watched fds as a list (the table may change while one iterates). */
static PyObject *
watched_fds(LoopObj *loop)
{
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    for (int fd = 0; fd < loop->loop_nwatch; fd++) {
        if (fd_events(loop, fd) == 0) {
            continue;
        }
        PyObject *n = PyLong_FromLong(fd);
        if (n == NULL || PyList_Append(list, n) < 0) {
            Py_XDECREF(n);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(n);
    }
    return list;
}

static PyObject *
SM_iter(PyObject *op)
{
    PyObject *list = watched_fds((LoopObj *)SV(op)->sv_loop);
    if (list == NULL) {
        return NULL;
    }
    PyObject *it = PyObject_GetIter(list);
    Py_DECREF(list);
    return it;
}

static int
SM_contains(PyObject *op, PyObject *fileobj)
{
    PyObject *key = lookup(SV(op)->sv_loop, fileobj);
    if (key != NULL) {
        Py_DECREF(key);
        return 1;
    }
    if (PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

static PyObject *
SM_get(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get() takes 1 or 2 arguments");
        return NULL;
    }
    PyObject *key = lookup(SV(op)->sv_loop, args[0]);
    if (key == NULL && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        return Py_NewRef(nargs == 2 ? args[1] : Py_None);
    }
    return key;
}

/* keys(), items(), values(): collections.abc's views on this mapping. */
static PyObject *
abc_view(PyObject *op, const char *cls)
{
    PyObject *view = ac_import_attr("collections.abc", cls);
    if (view == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_CallOneArg(view, op);
    Py_DECREF(view);
    return r;
}

static PyObject *
SM_keys(PyObject *op, PyObject *unused)
{
    return abc_view(op, "KeysView");
}

static PyObject *
SM_items(PyObject *op, PyObject *unused)
{
    return abc_view(op, "ItemsView");
}

static PyObject *
SM_values(PyObject *op, PyObject *unused)
{
    return abc_view(op, "ValuesView");
}

static PyMethodDef SM_methods[] = {
    {"get", (PyCFunction)(void (*)(void))SM_get, METH_FASTCALL, NULL},
    {"keys", SM_keys, METH_NOARGS, NULL},
    {"items", SM_items, METH_NOARGS, NULL},
    {"values", SM_values, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

/* ---------------------------------------------------------------------
 * SelectorView */

static PyObject *
new_view(PyTypeObject *tp, PyObject *loop)
{
    SelectorViewObj *v = PyObject_GC_New(SelectorViewObj, tp);
    if (v == NULL) {
        return NULL;
    }
    v->sv_loop = Py_NewRef(loop);
    PyObject_GC_Track(v);
    return (PyObject *)v;
}

static PyObject *
SV_get_map(PyObject *op, PyObject *unused)
{
    if (!view_open(SV(op)->sv_loop)) {
        Py_RETURN_NONE;
    }
    ac_state *st = AC_STATE_OF(op);
    return new_view(st->SelectorMappingType, SV(op)->sv_loop);
}

static PyObject *
SV_get_key(PyObject *op, PyObject *fileobj)
{
    if (!view_open(SV(op)->sv_loop)) {
        PyErr_SetString(PyExc_RuntimeError, "Selector is closed");
        return NULL;
    }
    return lookup(SV(op)->sv_loop, fileobj);
}

static PyObject *
SV_close(PyObject *op, PyObject *unused)
{
    Py_RETURN_NONE;
}

static PyObject *
SV_refuse(PyObject *op, PyObject *args, PyObject *kwds)
{
    PyErr_SetString(PyExc_RuntimeError,
                    "the loop's _selector is a read-only view: asyncio_c's "
                    "loop polls its fds itself (use add_reader/add_writer)");
    return NULL;
}

static PyObject *
SV_enter(PyObject *op, PyObject *unused)
{
    return Py_NewRef(op);
}

static PyObject *
SV_exit(PyObject *op, PyObject *args)
{
    Py_RETURN_NONE;
}

static PyMethodDef SV_methods[] = {
    {"get_key", SV_get_key, METH_O,
     "The SelectorKey of a watched file object or fd (KeyError if none)."},
    {"get_map", SV_get_map, METH_NOARGS,
     "A live mapping of the watched fds to their keys (None once closed)."},
    {"close", SV_close, METH_NOARGS, "Does nothing: the loop owns the poller."},
    {"select", (PyCFunction)(void (*)(void))SV_refuse,
     METH_VARARGS | METH_KEYWORDS, "Refused: the loop polls itself."},
    {"register", (PyCFunction)(void (*)(void))SV_refuse,
     METH_VARARGS | METH_KEYWORDS, "Refused: read-only view."},
    {"unregister", (PyCFunction)(void (*)(void))SV_refuse,
     METH_VARARGS | METH_KEYWORDS, "Refused: read-only view."},
    {"modify", (PyCFunction)(void (*)(void))SV_refuse,
     METH_VARARGS | METH_KEYWORDS, "Refused: read-only view."},
    {"__enter__", SV_enter, METH_NOARGS, NULL},
    {"__exit__", SV_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

/* the GC part, shared by both types */
static int
SV_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(SV(op)->sv_loop);
    return 0;
}

static int
SV_clear(PyObject *op)
{
    Py_CLEAR(SV(op)->sv_loop);
    return 0;
}

static void
SV_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    SV_clear(op);
    PyObject_GC_Del(op);
    Py_DECREF(tp);
}

static PyType_Slot SV_slots[] = {
    {Py_tp_doc, "loop._selector of asyncio_c's loop: a read-only view of "
                "the loop's fd watches."},
    {Py_tp_dealloc, SV_dealloc},
    {Py_tp_traverse, SV_traverse},
    {Py_tp_clear, SV_clear},
    {Py_tp_methods, SV_methods},
    {0, NULL},
};

static PyType_Spec SV_spec = {
    .name = "asyncio_c._core.SelectorView",
    .basicsize = sizeof(SelectorViewObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = SV_slots,
};

static PyType_Slot SM_slots[] = {
    {Py_tp_doc, "SelectorView.get_map(): the watched fds and their keys."},
    {Py_tp_dealloc, SV_dealloc},
    {Py_tp_traverse, SV_traverse},
    {Py_tp_clear, SV_clear},
    {Py_tp_methods, SM_methods},
    {Py_tp_iter, SM_iter},
    {Py_mp_length, SM_len},
    {Py_mp_subscript, SM_getitem},
    {Py_sq_contains, SM_contains},
    {0, NULL},
};

static PyType_Spec SM_spec = {
    .name = "asyncio_c._core.SelectorMapping",
    .basicsize = sizeof(SelectorViewObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_MAPPING,
    .slots = SM_slots,
};

/* _core._selector_view(loop): the view asyncio_c.Loop.__init__ passes to
 * asyncio's __init__ as its selector. */
static PyObject *
selector_view(PyObject *mod, PyObject *loop)
{
    ac_state *st = PyModule_GetState(mod);
    if (!PyObject_TypeCheck(loop, st->LoopType)) {
        PyErr_SetString(PyExc_TypeError, "expected an asyncio_c loop");
        return NULL;
    }
    return new_view(st->SelectorViewType, loop);
}

static PyMethodDef sv_functions[] = {
    {"_selector_view", selector_view, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

int
ac_selector_view_init(PyObject *mod, ac_state *st)
{
    st->SelectorViewType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &SV_spec, NULL);
    if (st->SelectorViewType == NULL ||
        PyModule_AddType(mod, st->SelectorViewType) < 0) {
        return -1;
    }
    st->SelectorMappingType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &SM_spec, NULL);
    if (st->SelectorMappingType == NULL ||
        PyModule_AddType(mod, st->SelectorMappingType) < 0) {
        return -1;
    }
    st->SelectorKey = ac_import_attr("selectors", "SelectorKey");
    if (st->SelectorKey == NULL) {
        return -1;
    }
    /* isinstance(view.get_map(), collections.abc.Mapping) */
    PyObject *mapping = ac_import_attr("collections.abc", "Mapping");
    if (mapping == NULL) {
        return -1;
    }
    PyObject *r = PyObject_CallMethod(mapping, "register", "O",
                                      (PyObject *)st->SelectorMappingType);
    Py_DECREF(mapping);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return PyModule_AddFunctions(mod, sv_functions);
}
