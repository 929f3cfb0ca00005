/* module.c -- asyncio_c._core: module init and the module state (the
 * asyncio objects we call into, looked up once, and interned names). */
#include "state.h"
#include "transport.h"

PyObject *
ac_import_attr(const char *modname, const char *attr)
{
    PyObject *mod = PyImport_ImportModule(modname);
    if (mod == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_GetAttrString(mod, attr);
    Py_DECREF(mod);
    return r;
}

/* A one-name kwnames tuple for vectorcall. */
static PyObject *
kwnames_of(const char *name)
{
    PyObject *s = PyUnicode_InternFromString(name);
    if (s == NULL) {
        return NULL;
    }
    PyObject *t = PyTuple_Pack(1, s);
    Py_DECREF(s);
    return t;
}

#define STATE_OBJECTS(X)                  \
    X(FutureType)                         \
    X(FutureIterType)                     \
    X(TaskType)                           \
    X(HandleType)                         \
    X(TimerHandleType)                    \
    X(LoopType)                           \
    X(loop_class)                         \
    X(handle_repr)                        \
    X(base_create_task)                   \
    X(CancelledError)                     \
    X(InvalidStateError)                  \
    X(get_event_loop)                     \
    X(future_repr)                        \
    X(task_repr)                          \
    X(task_get_stack)                     \
    X(task_print_stack)                   \
    X(iscoroutine)                        \
    X(extract_stack)                      \
    X(current_tasks)                      \
    X(register_eager_task)                \
    X(wakeup_marker)                      \
    X(unregister_eager_task)              \
    X(s_call_soon)                        \
    X(s_cancel)                           \
    X(s_throw)                            \
    X(s_add_done_callback)                \
    X(s_get_debug)                        \
    X(s_call_exception_handler)           \
    X(s_asyncio_future_blocking)          \
    X(s_get_loop)                         \
    X(s_loop)                             \
    X(s_result)                           \
    X(s_is_running)                       \
    X(s_message)                          \
    X(s_exception)                        \
    X(s_future)                           \
    X(s_task)                             \
    X(s_source_traceback)                 \
    X(s_handle)                           \
    X(s_run)                              \
    X(s_cancelled)                        \
    X(s_check_thread)                     \
    X(s_check_callback)                   \
    X(s_current_handle)                   \
    X(s_slow_callback)                    \
    X(kw_context)                         \
    X(kw_msg)                             \
    X(s_create_task)                      \
    X(s_create_future)                    \
    X(s_done)                             \
    X(s_cancelled_meth)                   \
    X(s_remove_done_callback)             \
    X(s_make_cancelled_error)             \
    X(s_cancel_message)                   \
    X(s_log_destroy_pending)              \
    X(s_set_result)                       \
    X(s_set_exception)                    \
    X(s_close)                            \
    X(s_empty)                            \
    X(s_call_later)                       \
    X(s_cancelling)                       \
    X(s_uncancel)                         \
    X(s_call_at)                          \
    X(s_time)                             \
    X(s_exceptions)                       \
    X(kw_loop)                            \
    /* ensure.c, gather.c, shield.c */    \
    X(GatheringFutureType)                \
    X(GatherCallbackType)                 \
    X(ShieldCallbackType)                 \
    X(ensure_future_py)                   \
    /* end ensure.c, gather.c, shield.c */\
    /* sleep.c, coro.c */                 \
    X(SleepType)                          \
    X(get_running_loop)                   \
    X(set_result_unless_cancelled)        \
    /* end sleep.c, coro.c */             \
    /* wait.c, waitfor.c */               \
    X(WaitType)                           \
    X(WaitForType)                        \
    X(WaitCallbackType)                   \
    X(ReleaseWaiterType)                  \
    X(FIRST_COMPLETED)                    \
    X(FIRST_EXCEPTION)                    \
    X(ALL_COMPLETED)                      \
    X(release_waiter)                     \
    X(wait_for_on_timeout)                \
    X(ExceptionGroup)                     \
    /* end wait.c, waitfor.c */          \
    /* transport*.c */                    \
    X(TransportBaseType)                  \
    X(ReadTransportBaseType)              \
    X(ReadTransport)                      \
    X(SocketTransportType)                \
    X(BufferedProtocol)                   \
    X(logger)                             \
    X(s_transports)                       \
    X(s_attach)                           \
    X(s_detach)                           \
    X(s_call_connection_lost)             \
    X(s_connection_lost)                  \
    X(s_data_received)                    \
    X(s_eof_received)                     \
    X(s_get_buffer)                       \
    X(s_buffer_updated)                   \
    X(s_pause_writing)                    \
    X(s_resume_writing)                   \
    X(s_fileno)                           \
    /* end transport*.c */               \
    /* transport_dgram.c */               \
    X(DatagramTransportType)              \
    X(s_datagram_received)                \
    X(s_error_received)                   \
    X(s_dg_sendto)                        \
    X(s_dg_recvfrom)                      \
    X(s_dg_peername)                      \
    /* end transport_dgram.c */          \
    /* transport_pipe.c */                \
    X(ReadPipeTransportType)              \
    X(WritePipeTransportType)             \
    /* end transport_pipe.c */           \
    /* server.c */                        \
    X(ListenerType)                       \
    X(sv_socket_type)                     \
    X(sv_socket_accept)                   \
    X(sv_accept_connection)               \
    X(sv_accept_connection2)              \
    X(sv_accept)                          \
    X(sv_accept_raw)                      \
    X(sv_setblocking)                     \
    X(sv_errno)                           \
    X(sv_remove_reader)                   \
    X(sv_start_serving)                   \
    X(sv_peername)                        \
    X(sv_kw_fileno)                       \
    /* end server.c */                   \
    /* sock.c */                          \
    X(SockOpType)                         \
    X(check_ssl_socket)                   \
    X(s_recv)                             \
    X(s_recv_into)                        \
    X(s_recvfrom)                         \
    X(s_recvfrom_into)                    \
    X(s_send)                             \
    X(s_sendto)                           \
    X(s_accept)                           \
    X(s_connect)                          \
    X(s_setblocking)                      \
    X(s_gettimeout)                       \
    X(s_ensure_fd_no_transport)           \
    /* end sock.c */                     \
    /* selector_view.c */                 \
    X(SelectorViewType)                   \
    X(SelectorMappingType)                \
    X(SelectorKey)                        \
    /* end selector_view.c */            \
    /* process.c */                       \
    X(ChildWatchType)                     \
    X(str_pidfd)                          \
    /* end process.c */

static int
module_traverse(PyObject *mod, visitproc visit, void *arg)
{
    ac_state *st = PyModule_GetState(mod);
#define VISIT(name) Py_VISIT(st->name);
    STATE_OBJECTS(VISIT)
#undef VISIT
    return 0;
}

static int
module_clear(PyObject *mod)
{
    ac_state *st = PyModule_GetState(mod);
    /* before the types go: freeing the memory reads its type */
    ac_handle_freelists_close(st);
    ac_future_freelists_close(st);
#define CLEAR(name) Py_CLEAR(st->name);
    STATE_OBJECTS(CLEAR)
#undef CLEAR
    return 0;
}

static void
module_free(void *mod)
{
    module_clear((PyObject *)mod);
    ac_state *st = PyModule_GetState((PyObject *)mod);
    PyMem_RawFree(st->read_buf);
    st->read_buf = NULL;
}

static int
module_exec(PyObject *mod)
{
    ac_state *st = PyModule_GetState(mod);

#define INTERN(field, text)                                     \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) \
        return -1;
    INTERN(s_call_soon, "call_soon");
    INTERN(s_cancel, "cancel");
    INTERN(s_throw, "throw");
    INTERN(s_add_done_callback, "add_done_callback");
    INTERN(s_get_debug, "get_debug");
    INTERN(s_call_exception_handler, "call_exception_handler");
    INTERN(s_asyncio_future_blocking, "_asyncio_future_blocking");
    INTERN(s_get_loop, "get_loop");
    INTERN(s_loop, "_loop");
    INTERN(s_result, "result");
    INTERN(s_is_running, "is_running");
    INTERN(s_message, "message");
    INTERN(s_exception, "exception");
    INTERN(s_future, "future");
    INTERN(s_task, "task");
    INTERN(s_source_traceback, "source_traceback");
    INTERN(s_handle, "handle");
    INTERN(s_run, "_run");
    INTERN(s_cancelled, "_cancelled");
    INTERN(s_check_thread, "_check_thread");
    INTERN(s_check_callback, "_check_callback");
    INTERN(s_current_handle, "_current_handle");
    INTERN(s_slow_callback, "_ac_slow_callback");
    INTERN(s_create_task, "create_task");
    INTERN(s_create_future, "create_future");
    INTERN(s_done, "done");
    INTERN(s_cancelled_meth, "cancelled");
    INTERN(s_remove_done_callback, "remove_done_callback");
    INTERN(s_make_cancelled_error, "_make_cancelled_error");
    INTERN(s_cancel_message, "_cancel_message");
    INTERN(s_log_destroy_pending, "_log_destroy_pending");
    INTERN(s_set_result, "set_result");
    INTERN(s_set_exception, "set_exception");
    INTERN(s_close, "close");
    INTERN(s_empty, "");
    INTERN(s_call_later, "call_later");
    INTERN(s_cancelling, "cancelling");
    INTERN(s_uncancel, "uncancel");
    INTERN(s_call_at, "call_at");
    INTERN(s_time, "time");
    INTERN(s_exceptions, "exceptions");
#undef INTERN
    if ((st->kw_context = kwnames_of("context")) == NULL ||
        (st->kw_msg = kwnames_of("msg")) == NULL ||
        (st->kw_loop = kwnames_of("loop")) == NULL) {
        return -1;
    }
    PyObject *asyncio = PyImport_ImportModule("asyncio");
    if (asyncio == NULL) {
        return -1;
    }
    Py_DECREF(asyncio);

#define LOOKUP(field, modname, attr)                            \
    if ((st->field = ac_import_attr(modname, attr)) == NULL)       \
        return -1;
    LOOKUP(CancelledError, "asyncio.exceptions", "CancelledError");
    LOOKUP(InvalidStateError, "asyncio.exceptions", "InvalidStateError");
    LOOKUP(get_event_loop, "asyncio.events", AC_GET_EVENT_LOOP_NAME);
    LOOKUP(future_repr, "asyncio.base_futures", "_future_repr");
    LOOKUP(task_repr, "asyncio.base_tasks", "_task_repr");
    LOOKUP(task_get_stack, "asyncio.base_tasks", "_task_get_stack");
    LOOKUP(task_print_stack, "asyncio.base_tasks", "_task_print_stack");
    LOOKUP(iscoroutine, "asyncio.coroutines", "iscoroutine");
    LOOKUP(extract_stack, "traceback", "extract_stack");
    LOOKUP(current_tasks, "asyncio.tasks", "_current_tasks");
    LOOKUP(base_create_task, "asyncio.base_events", "BaseEventLoop");
    Py_SETREF(st->base_create_task,
              PyObject_GetAttrString(st->base_create_task, "create_task"));
    if (st->base_create_task == NULL) {
        return -1;
    }
#if AC_HAVE_EAGER_TASKS
    LOOKUP(register_eager_task, "asyncio.tasks", "_register_eager_task");
    LOOKUP(unregister_eager_task, "asyncio.tasks", "_unregister_eager_task");
#endif
#undef LOOKUP
    if (!PyDict_Check(st->current_tasks)) {
        PyErr_SetString(PyExc_ImportError,
                        "asyncio.tasks._current_tasks is not a dict");
        return -1;
    }
    st->task_name_counter = 0;
    st->live_tasks.prev = st->live_tasks.next = &st->live_tasks;
    st->wakeup_marker = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (st->wakeup_marker == NULL) {
        return -1;
    }

    if (ac_future_init_types(mod, st) < 0) {
        return -1;
    }
    if (ac_task_init_types(mod, st) < 0) {
        return -1;
    }
    if (ac_handle_init_types(mod, st) < 0) {
        return -1;
    }
    if (ac_loop_init_types(mod, st) < 0) {
        return -1;
    }
    if (ac_gather_init(mod, st) < 0 || ac_shield_init(mod, st) < 0 ||
        ac_sleep_init(mod, st) < 0 || ac_wait_init(mod, st) < 0 ||
        ac_waitfor_init(mod, st) < 0) {
        return -1;
    }
    if (ac_transport_init(mod, st) < 0 || ac_stream_init(mod, st) < 0 ||
        ac_dgram_init(mod, st) < 0 || ac_pipe_init(mod, st) < 0 ||
        ac_server_init(mod, st) < 0 || ac_sock_init(mod, st) < 0) {
        return -1;
    }
    /* selector_view.c */
    if (ac_selector_view_init(mod, st) < 0) {
        return -1;
    }
    /* end selector_view.c */
    /* process.c */
    if (ac_process_init(mod, st) < 0) {
        return -1;
    }
    /* end process.c */
    return 0;
}

int
ac_own_method_descrs(PyTypeObject *sub, PyTypeObject *base)
{
    for (PyMethodDef *def = base->tp_methods; def && def->ml_name; def++) {
        if (def->ml_flags & (METH_CLASS | METH_STATIC)) {
            continue;
        }
        PyObject *name = PyUnicode_InternFromString(def->ml_name);
        if (name == NULL) {
            return -1;
        }
        int rc = PyDict_Contains(sub->tp_dict, name);
        if (rc == 0) {
            PyObject *descr = PyDescr_NewMethod(sub, def);
            rc = descr == NULL ? -1
                               : PyObject_SetAttr((PyObject *)sub, name, descr);
            Py_XDECREF(descr);
        }
        Py_DECREF(name);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

/* asyncio_c.Loop registers itself: loops of exactly that class take the
 * C fast paths (a subclass may override call_soon & co. in Python).  It
 * also gets its own descriptors of _core.Loop's methods (see
 * ac_own_method_descrs), so that loop.create_future() & co. called from
 * asyncio's Python code are specialized calls. */
static PyObject *
set_loop_class(PyObject *mod, PyObject *cls)
{
    ac_state *st = PyModule_GetState(mod);
    if (!PyType_Check(cls) ||
        !PyType_IsSubtype((PyTypeObject *)cls, st->LoopType)) {
        PyErr_SetString(PyExc_TypeError, "expected a subclass of _core.Loop");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)cls;
    /* only if _core.Loop comes right after it: then a copied method is
     * exactly what the lookup found before */
    PyObject *mro = tp->tp_mro;
    if (PyTuple_GET_SIZE(mro) > 1 &&
        PyTuple_GET_ITEM(mro, 1) == (PyObject *)st->LoopType &&
        ac_own_method_descrs(tp, st->LoopType) < 0) {
        return NULL;
    }
    Py_XSETREF(st->loop_class, Py_NewRef(cls));
    Py_RETURN_NONE;
}

static PyObject *
live_tasks(PyObject *mod, PyObject *unused)
{
    return ac_task_live_list(PyModule_GetState(mod));
}

static PyObject *
forget_task(PyObject *mod, PyObject *task)
{
    ac_task_forget(PyModule_GetState(mod), task);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"_set_loop_class", set_loop_class, METH_O, NULL},
    {"_live_tasks", live_tasks, METH_NOARGS,
     "Our tasks that are scheduled and not done (all_tasks() adds them)."},
    {"_forget_task", forget_task, METH_O,
     "Take a task out of _live_tasks() (asyncio's _unregister_task)."},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#ifdef Py_mod_multiple_interpreters     /* 3.12+ */
    /* Every object the module keeps is in its module state or in its heap
     * types (no static PyObject*, no static mutable C data; the process
     * reaper threads of process.c touch no Python object), so each
     * interpreter gets a module of its own, and one with its own GIL is
     * fine: asyncio_c.run() works in an isolated subinterpreter
     * (tests/test_packaging.py).  (3.11: the subinterpreters of the C API
     * share the GIL, and a multi-phase module loads in them.) */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

PyModuleDef ac_moduledef = {
    PyModuleDef_HEAD_INIT,
    .m_name = "asyncio_c._core",
    .m_doc = "asyncio's Future and Task (and event loop) in C.",
    .m_size = sizeof(ac_state),
    .m_slots = module_slots,
    .m_methods = module_methods,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&ac_moduledef);
}
