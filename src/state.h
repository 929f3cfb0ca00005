/* state.h -- the module state (types, cached asyncio objects, interned
 * names) and the declarations shared between the C files of asyncio_c._core. */
#ifndef AC_STATE_H
#define AC_STATE_H

#include "compat.h"
#include <stdint.h>
#include "freelist.h"
#include "poller.h"
#include "readyq.h"
#include "timerheap.h"

/* The live-task registry (all_tasks): an intrusive ring through every Task
 * that is scheduled and not done yet; the ring holds no references. */
typedef struct ac_tlink {
    struct ac_tlink *prev, *next;
} ac_tlink;

typedef struct {
    PyTypeObject *FutureType;
    PyTypeObject *FutureIterType;
    PyTypeObject *TaskType;
    PyTypeObject *HandleType;
    PyTypeObject *TimerHandleType;
    PyTypeObject *LoopType;         /* _core.Loop, the C base */
    PyObject *loop_class;           /* asyncio_c.Loop, registered by the package:
                                       exactly this class gets the fast paths */
    PyObject *handle_repr;          /* module asyncio_c._handles (reprs, callback
                                       formatting), imported lazily */
    PyObject *base_create_task;     /* asyncio.BaseEventLoop.create_task */

    /* asyncio objects, looked up once at import */
    PyObject *CancelledError;
    PyObject *InvalidStateError;
    PyObject *get_event_loop;       /* events.get_event_loop (or _get_event_loop) */
    PyObject *future_repr;          /* base_futures._future_repr */
    PyObject *task_repr;            /* base_tasks._task_repr */
    PyObject *task_get_stack;       /* base_tasks._task_get_stack */
    PyObject *task_print_stack;     /* base_tasks._task_print_stack */
    PyObject *iscoroutine;          /* coroutines.iscoroutine */
    PyObject *extract_stack;        /* traceback.extract_stack */
    PyObject *current_tasks;        /* tasks._current_tasks: loop -> task */
    PyObject *register_eager_task;  /* tasks._register_eager_task (3.12+) */
    PyObject *unregister_eager_task;/* tasks._unregister_eager_task (3.12+) */

    /* interned attribute names and keyword tuples */
    PyObject *s_call_soon;
    PyObject *s_cancel;
    PyObject *s_throw;
    PyObject *s_add_done_callback;
    PyObject *s_get_debug;
    PyObject *s_call_exception_handler;
    PyObject *s_asyncio_future_blocking;
    PyObject *s_get_loop;
    PyObject *s_loop;
    PyObject *s_result;
    PyObject *s_is_running;
    PyObject *s_message;
    PyObject *s_exception;
    PyObject *s_future;
    PyObject *s_task;
    PyObject *s_source_traceback;
    PyObject *s_handle;
    PyObject *s_run;
    PyObject *s_cancelled;
    PyObject *s_check_thread;
    PyObject *s_check_callback;
    PyObject *s_current_handle;
    PyObject *s_slow_callback;
    PyObject *kw_context;           /* ("context",) */
    PyObject *kw_msg;               /* ("msg",) */

    /* ---- combinators ---- */
    /* names the combinators use (interned in module.c) */
    PyObject *s_create_task;
    PyObject *s_create_future;
    PyObject *s_done;
    PyObject *s_cancelled_meth;
    PyObject *s_remove_done_callback;
    PyObject *s_make_cancelled_error;
    PyObject *s_cancel_message;
    PyObject *s_log_destroy_pending;
    PyObject *s_set_result;
    PyObject *s_set_exception;
    PyObject *s_close;
    PyObject *s_empty;
    PyObject *s_call_later;
    PyObject *s_cancelling;
    PyObject *s_uncancel;
    PyObject *s_call_at;
    PyObject *s_time;
    PyObject *s_exceptions;
    PyObject *kw_loop;              /* ("loop",) */
    /* ensure.c, gather.c, shield.c */
    PyTypeObject *GatheringFutureType;
    PyTypeObject *GatherCallbackType;   /* gather's one done callback */
    PyTypeObject *ShieldCallbackType;   /* shield's two callbacks */
    PyObject *ensure_future_py;     /* tasks.ensure_future (3.11: _ensure_future) */
    /* end ensure.c, gather.c, shield.c */
    /* sleep.c, coro.c */
    PyTypeObject *SleepType;
    PyObject *get_running_loop;     /* asyncio.events.get_running_loop */
    PyObject *set_result_unless_cancelled; /* _core's, for sleep's timer */
    /* end sleep.c, coro.c */
    /* wait.c, waitfor.c */
    PyTypeObject *WaitType;
    PyTypeObject *WaitForType;
    PyTypeObject *WaitCallbackType;   /* wait()'s done callback */
    PyTypeObject *ReleaseWaiterType;  /* partial(_release_waiter, waiter) */
    PyObject *FIRST_COMPLETED;        /* asyncio's return_when constants */
    PyObject *FIRST_EXCEPTION;
    PyObject *ALL_COMPLETED;
    PyObject *release_waiter;         /* _core._release_waiter */
    PyObject *wait_for_on_timeout;    /* _core._wait_for_on_timeout */
    PyObject *ExceptionGroup;         /* builtins.ExceptionGroup */
    /* end wait.c, waitfor.c */
    /* transport*.c */
    PyTypeObject *TransportBaseType;
    PyTypeObject *ReadTransportBaseType;  /* the same on ReadTransport */
    PyObject *ReadTransport;          /* asyncio.ReadTransport */
    PyTypeObject *SocketTransportType;
    PyObject *BufferedProtocol;       /* asyncio.BufferedProtocol */
    PyObject *logger;                 /* asyncio.log.logger */
    PyObject *s_transports;
    PyObject *s_attach;
    PyObject *s_detach;
    PyObject *s_call_connection_lost;
    PyObject *s_connection_lost;
    PyObject *s_data_received;
    PyObject *s_eof_received;
    PyObject *s_get_buffer;
    PyObject *s_buffer_updated;
    PyObject *s_pause_writing;
    PyObject *s_resume_writing;
    PyObject *s_fileno;
    char *read_buf;                   /* recv() scratch, AC_READ_BUF_SIZE bytes */
    /* end transport*.c */
    /* transport_dgram.c */
    PyTypeObject *DatagramTransportType;
    PyObject *s_datagram_received;
    PyObject *s_error_received;
    PyObject *s_dg_sendto;
    PyObject *s_dg_recvfrom;
    PyObject *s_dg_peername;
    /* end transport_dgram.c */
    /* transport_pipe.c */
    PyTypeObject *ReadPipeTransportType;
    PyTypeObject *WritePipeTransportType;
    /* end transport_pipe.c */
    /* server.c */
    PyTypeObject *ListenerType;       /* _core._Listener */
    PyObject *sv_socket_type;         /* socket.socket */
    PyObject *sv_socket_accept;       /* socket.socket.accept, the function */
    PyObject *sv_accept_connection;
    PyObject *sv_accept_connection2;
    PyObject *sv_accept;
    PyObject *sv_accept_raw;          /* "_accept" */
    PyObject *sv_setblocking;
    PyObject *sv_errno;
    PyObject *sv_remove_reader;
    PyObject *sv_start_serving;
    PyObject *sv_peername;
    PyObject *sv_kw_fileno;           /* ("fileno",) */
    /* end server.c */
    /* sock.c */
    PyTypeObject *SockOpType;         /* a pending sock_* operation */
    PyObject *check_ssl_socket;       /* base_events._check_ssl_socket */
    PyObject *s_recv;
    PyObject *s_recv_into;
    PyObject *s_recvfrom;
    PyObject *s_recvfrom_into;
    PyObject *s_send;
    PyObject *s_sendto;
    PyObject *s_accept;
    PyObject *s_connect;
    PyObject *s_setblocking;
    PyObject *s_gettimeout;
    PyObject *s_ensure_fd_no_transport;
    /* end sock.c */
    /* selector_view.c */
    PyTypeObject *SelectorViewType;   /* loop._selector */
    PyTypeObject *SelectorMappingType;/* its get_map() */
    PyObject *SelectorKey;            /* selectors.SelectorKey */
    /* end selector_view.c */
    /* process.c */
    PyTypeObject *ChildWatchType;     /* a pidfd watch's owner */
    PyObject *str_pidfd;              /* "pidfd" */
    /* end process.c */

    /* freelist.h: the memory of dead objects of exactly these types, kept
     * for the next ones (no references held).  Off (and emptied) once the
     * module is cleared. */
    ac_freelist handle_free;          /* handle.c */
    ac_freelist timer_free;
    ac_freelist future_free;          /* future.c (tasks' too) */
    ac_freelist task_free;
    ac_freelist futiter_free;
    char freelists_off;

    uint64_t task_name_counter;
    ac_tlink live_tasks;              /* task.c: the ring's head */
    PyObject *wakeup_marker;          /* future.c/task.c: the context slot of
                                         a task-wakeup callback entry */
} ac_state;

extern PyModuleDef ac_moduledef;

/* The freelist (freelist.h) of objects of exactly tp, or NULL (no
 * exception set): tp is none of the types with a list, the lists are off,
 * or the module state is out of reach (ac_freelist_owner). */
static inline ac_freelist *
ac_freelist_of(PyTypeObject *tp)
{
    ac_state *st = ac_freelist_owner(tp);
    if (st == NULL || st->freelists_off) {
        return NULL;
    }
    return tp == st->FutureType ? &st->future_free
           : tp == st->TaskType ? &st->task_free
           : tp == st->FutureIterType ? &st->futiter_free
           : tp == st->HandleType ? &st->handle_free
           : tp == st->TimerHandleType ? &st->timer_free
           : NULL;
}

/* Keep the memory of a dying object of exactly one of our types with a
 * freelist (untracked, cleared, weakrefs gone) for the next one, if that
 * list has fewer than max; 0 if it must be freed. */
static inline int
ac_freelist_keep(PyObject *self, int max)
{
    ac_freelist *fl = ac_freelist_of(Py_TYPE(self));
    return fl != NULL && ac_freelist_push(fl, max, self);
}

/* tp_alloc of the types with a freelist (Handle, TimerHandle, Future and,
 * by inheritance, Task), so that Handle(...), Future(), Task(coro) made
 * directly take back the memory their deaths give: exactly such a type
 * from its list; anything else (a Python subclass, whose type() gives
 * PyType_GenericAlloc anyway; a type whose module is gone) by
 * PyType_GenericAlloc.  Tracked, as PyType_GenericAlloc's. */
static inline PyObject *
ac_freelist_tp_alloc(PyTypeObject *tp, Py_ssize_t nitems)
{
    ac_freelist *fl = ac_freelist_of(tp);
    if (fl == NULL) {
        return PyType_GenericAlloc(tp, nitems);
    }
    PyObject *o = ac_freelist_alloc(fl, tp, (size_t)tp->tp_basicsize);
    if (o != NULL) {
        PyObject_GC_Track(o);
    }
    return o;
}

/* module.c: getattr(import(modname), attr), a new reference. */
PyObject *ac_import_attr(const char *modname, const char *attr);

/* The truth of a value assigned to a flag attribute: 0 or 1; -1 with an
 * exception (deleting the attribute is refused, as asyncio's C types do). */
static inline int
ac_flag_value(PyObject *val)
{
    if (val == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete attribute");
        return -1;
    }
    return PyObject_IsTrue(val);
}

/* A new reference to o, or to None when o is NULL. */
static inline PyObject *
ac_or_none(PyObject *o)
{
    return Py_NewRef(o != NULL ? o : Py_None);
}

/* The module state for an object of one of our types (or a subclass). */
static inline ac_state *
ac_state_of_type(PyTypeObject *tp)
{
    PyObject *mod = PyType_GetModuleByDef(tp, &ac_moduledef);
    assert(mod != NULL);
    return (ac_state *)PyModule_GetState(mod);
}

#define AC_STATE_OF(obj) ac_state_of_type(Py_TYPE(obj))

/* Give sub its own method descriptors for the methods of base it does not
 * define itself (module.c).  CPython specializes a call of a C method only
 * when the object is exactly of the descriptor's type, as asyncio's C Task
 * gets by listing Future's methods again.  For a sub whose lookup reaches
 * base right after its own dict, nothing else changes. */
int ac_own_method_descrs(PyTypeObject *sub, PyTypeObject *base);

/* ---- Future (future.c) ---- */

typedef enum {
    AC_PENDING = 0,
    AC_CANCELLED,
    AC_FINISHED
} ac_fut_state;

/* A done callback and the context it runs in. */
typedef struct {
    PyObject *cb;
    PyObject *ctx;
} ac_cb;

/* The done callbacks after the first: a PyMem block, count and capacity in
 * its header (a future with one waiter has none). */
typedef struct {
    Py_ssize_t n, cap;
    ac_cb v[];
} ac_cbvec;

/* What few futures and tasks need, kept out of the object (#7: bytes per
 * pending task): a PyMem block made by the first writer (ac_future_rare),
 * freed by clear.  Readers use AC_RARE(), which gives NULL / 0 without it. */
typedef struct {
    PyObject *exception_tb;       /* the traceback of fut_exception */
    PyObject *source_tb;          /* _source_traceback (debug mode) */
    PyObject *cancel_msg;
    PyObject *cancelled_exc;      /* the CancelledError, once made */
    PyObject *step_cb;            /* Task: bound task_step, made once */
    PyObject *wakeup_cb;          /* Task: bound task_wakeup, likewise */
    int num_cancels_requested;    /* Task */
} ac_fut_rare;

typedef struct {
    PyObject_HEAD
    PyObject *fut_loop;           /* NULL until __init__ ran */
    ac_cb fut_cb0;                /* first callback, inline */
    ac_cbvec *fut_cbs;            /* the others, or NULL */
    PyObject *fut_result;
    PyObject *fut_exception;
    ac_fut_rare *fut_rare;        /* NULL until needed */
    PyObject *fut_dict;
    PyObject *fut_weakreflist;
    unsigned char fut_state;      /* an ac_fut_state */
    char fut_log_tb;
    char fut_blocking;
    /* Task's flags, here to share the padding */
    char task_must_cancel;
    char task_log_destroy_pending;
    char task_name_is_num;        /* task_name holds the number of "Task-N" */
} FutureObj;

#define AC_RARE(fut, field) \
    ((fut)->fut_rare != NULL ? (fut)->fut_rare->field : 0)
/* fut's rare block, made (zeroed) if missing; NULL with MemoryError. */
ac_fut_rare *ac_future_rare(FutureObj *fut);
#define AC_NCBS(fut) ((fut)->fut_cbs != NULL ? (fut)->fut_cbs->n : 0)

#define AC_FUT(o) ((FutureObj *)(o))

int ac_future_init_types(PyObject *mod, ac_state *st);
int ac_future_init(ac_state *st, FutureObj *fut, PyObject *loop);
/* A new asyncio_c.Future bound to loop (what loop.create_future() makes). */
PyObject *ac_future_new(ac_state *st, PyObject *loop);
int ac_future_set_result(ac_state *st, FutureObj *fut, PyObject *res);
int ac_future_set_exception(ac_state *st, FutureObj *fut, PyObject *exc);
int ac_future_cancel(ac_state *st, FutureObj *fut, PyObject *msg);
/* fut._cancel_message = msg (NULL: none); -1 on memory error. */
int ac_future_set_cancel_msg(FutureObj *fut, PyObject *msg);
int ac_future_add_done_callback(ac_state *st, FutureObj *fut,
                                PyObject *cb, PyObject *ctx);
/* Wake task (ours) when fut is done: one (task, marker) callback entry. */
int ac_future_add_task_wakeup(ac_state *st, FutureObj *fut, PyObject *task);
/* fut.remove_done_callback(cb) of an initialised future: the number of
 * callbacks removed, or -1 with an exception (cb's __eq__ may run any code). */
Py_ssize_t ac_future_remove_done_callback(ac_state *st, FutureObj *fut,
                                          PyObject *cb);
PyObject *ac_future_make_cancelled_error(ac_state *st, FutureObj *fut);
/* What fut.result() would give: 0 and *res = the result, or 1 and *res = the
 * exception it would raise (new references); -1 with an exception set. */
int ac_future_outcome(ac_state *st, FutureObj *fut, PyObject **res);
int ac_future_traverse(FutureObj *fut, visitproc visit, void *arg);
void ac_future_clear(FutureObj *fut);
void ac_future_finalize(PyObject *self);
/* Whether ac_future_finalize has something to report (an exception never
 * retrieved); when not, a dealloc may skip the finalizer. */
static inline int
ac_future_would_report(const FutureObj *fut)
{
    return fut->fut_log_tb && fut->fut_loop != NULL;
}
/* tp_dealloc of Future and its subtypes: finalizer, weakrefs, clear(), free. */
void ac_future_dealloc(PyObject *self, inquiry clear);
/* The same for an object of exactly Future or Task whose tp_finalize would
 * do nothing: not called, and the memory may go on a freelist. */
void ac_future_dealloc_reusable(PyObject *self, inquiry clear);
/* Frees the Future, Task and FutureIter freelists (module clear/free;
 * the lists are off from then on, see ac_handle_freelists_close). */
void ac_future_freelists_close(ac_state *st);

static inline int
ac_future_check_exact(ac_state *st, PyObject *o)
{
    return Py_IS_TYPE(o, st->FutureType) || Py_IS_TYPE(o, st->TaskType);
}

/* ---- Task (task.c) ---- */

typedef struct {
    FutureObj task_fut;
    ac_tlink task_link;           /* in st->live_tasks while pending (or unlinked: NULLs) */
    union {
        PyObject *obj;            /* the name, a str (or NULL) */
        unsigned long long num;   /* while task_name_is_num: the N of a
                                     "Task-N" not formatted yet */
    } task_name;
    PyObject *task_coro;
    PyObject *task_context;
    PyObject *task_fut_waiter;
} TaskObj;

int ac_task_init_types(PyObject *mod, ac_state *st);
/* Task(coro, loop=loop, name=name, context=context) of exactly our Task
 * type, without the argument parsing (name, context: None for default). */
PyObject *ac_task_new(ac_state *st, PyObject *coro, PyObject *loop,
                      PyObject *name, PyObject *context);
/* The registered tasks not done yet (a new list), for all_tasks(). */
PyObject *ac_task_live_list(ac_state *st);
/* Take a task out of the registry (asyncio.tasks._unregister_task). */
void ac_task_forget(ac_state *st, PyObject *obj);

/* ---- Handle, TimerHandle (handle.c) ---- */

typedef struct {
    PyObject_HEAD
    PyObject *h_callback;         /* NULL once cancelled */
    PyObject *h_args;             /* a tuple (or what Handle() was given),
                                     or NULL (then h_arg1 is used) */
    PyObject *h_arg1;             /* the one argument of an internal handle */
    PyObject *h_context;
    PyObject *h_loop;
    PyObject *h_source_tb;
    PyObject *h_repr;             /* kept at cancel() in debug mode */
    PyObject *h_weakreflist;
    char h_cancelled;
} HandleObj;

typedef struct {
    HandleObj th_base;
    double th_when;
    ac_timer th_node;             /* in the loop's heap while scheduled; the
                                     heap then owns a reference */
} TimerHandleObj;

/* The TimerHandle a heap node belongs to, found by the node's offset in it
 * (reading the node would be a cache miss of its own with many timers). */
static inline PyObject *
ac_timer_handle_of(ac_timer *node)
{
    return (PyObject *)((char *)node - offsetof(TimerHandleObj, th_node));
}

int ac_handle_init_types(PyObject *mod, ac_state *st);
/* Frees the handle freelists and keeps them off (module clear/free). */
void ac_handle_freelists_close(ac_state *st);
PyObject *ac_handle_new(ac_state *st, PyObject *cb, PyObject *args,
                        PyObject *arg1, PyObject *loop, PyObject *ctx);
PyObject *ac_timerhandle_new(ac_state *st, double when, PyObject *cb,
                             PyObject *args, PyObject *loop, PyObject *ctx);
/* Runs the callback in its context; a raised exception goes to the loop's
 * exception handler, except SystemExit/KeyboardInterrupt: -1, raised. */
int ac_handle_run(ac_state *st, PyObject *handle);
int ac_handle_cancel(ac_state *st, PyObject *handle);
/* What ac_handle_run does, for internal work that has no Handle: cb(arg)
 * (cb() if arg is NULL) in ctx; a Handle is made only to report an error. */
int ac_callback_run(ac_state *st, PyObject *loop, PyObject *cb, PyObject *arg,
                    PyObject *ctx);

/* ---- Loop (loop.c) ---- */

/* What reading or writing an fd calls in C (a transport, a server, a
 * sock_* operation): fn(owner) from the ready queue.  0, or -1 with an
 * exception that must leave the loop (SystemExit, KeyboardInterrupt): the
 * callee handles and reports everything else itself. */
typedef int (*ac_io_fn)(PyObject *owner);

typedef struct {
    PyObject *reader;             /* Handle (rfn NULL), or rfn's owner, or NULL */
    PyObject *writer;             /* likewise with wfn */
    ac_io_fn rfn;
    ac_io_fn wfn;
    unsigned rgen;                /* bumped at each change of the slot: an */
    unsigned wgen;                /* event queued before it is dropped */
} ac_watch;

enum {
    AC_READY_HANDLE = 1,          /* a: one of our Handles (owned) */
    AC_READY_PYHANDLE,            /* a: any object with _run() and _cancelled */
    AC_READY_CALL,                /* internal work (a task step, a done
                                     callback): a(b) in context c, all owned,
                                     b may be NULL; no Handle object */
    AC_READY_TASK_STEP,           /* a task's next step: a the task, b the
                                     exception to throw in or NULL (owned);
                                     runs in the task's context */
    AC_READY_TASK_WAKEUP,         /* a task woken by a future it awaited: a the
                                     task, b the future (both owned); runs in
                                     the task's context */
    AC_READY_IO_READ,             /* fd readiness for a C watcher: a the owner */
    AC_READY_IO_WRITE,            /* (owned), b the fd, c the slot's generation */
};

typedef struct {
    PyObject_HEAD
    ac_state *loop_st;            /* the module state of its type, found once
                                     (the type is a Python subclass: finding
                                     it walks the MRO) */
    ac_readyq loop_ready;
    ac_timerheap loop_timers;
    ac_poller *loop_poller;
    ac_watch *loop_watch;         /* indexed by fd */
    int loop_nwatch;
    int loop_nwatched;            /* reader and writer slots in use */
    int loop_quiet_fd;            /* a reader fd a zero-timeout poll may skip
                                     (the self-pipe, no signal handlers), -1 */
    PyObject *loop_thread_id;     /* None when not running */
    PyObject *loop_task_factory;
    double loop_clock_resolution;
    char loop_closed;
    char loop_debug;
    char loop_stopping;
    char loop_polling;            /* in epoll_wait (set and read under the GIL) */
    char loop_wakeup_sent;        /* a self-pipe byte is on its way this poll */
} LoopObj;

int ac_loop_init_types(PyObject *mod, ac_state *st);
/* The heap entry of a cancelled TimerHandle is dropped (O(log n)). */
void ac_loop_timer_cancelled(ac_state *st, PyObject *loop, PyObject *th);
/* call_soon(fn, arg, context=ctx) on a loop of exactly asyncio_c.Loop. */
int ac_loop_call_soon_internal(ac_state *st, PyObject *loop, PyObject *fn,
                               PyObject *arg, PyObject *ctx);
/* Queue a task's AC_READY_TASK_STEP (arg: the exception to throw in, or
 * NULL) or AC_READY_TASK_WAKEUP (arg: the awaited future) as a bare record:
 * no callable made.  Only on a loop of exactly asyncio_c.Loop not in debug
 * mode; 1 if queued, 0 if the caller must use loop.call_soon, -1 on error. */
int ac_loop_push_task_record(ac_state *st, PyObject *loop, int kind,
                             PyObject *task, PyObject *arg);
/* task.c: run such a record (borrowed task and arg). */
int ac_task_run_record(ac_state *st, PyObject *loop, int kind, PyObject *task,
                       PyObject *arg);
/* task.c: a future's callback entry (task, st->wakeup_marker) stands for
 * the task's bound wakeup method, made only when someone needs it as an
 * object.  The bound method (new reference), or NULL with an exception. */
PyObject *ac_task_wakeup_callable(PyObject *task);
/* Whether fn is task's bound wakeup method (what remove_done_callback
 * compares a marker entry with). */
int ac_task_is_wakeup(PyObject *fn, PyObject *task);
/* loop.call_soon(task's wakeup, fut, context=task's context), as a bare
 * record on our own loop.  0 or -1. */
int ac_task_schedule_wakeup(ac_state *st, PyObject *loop, PyObject *task,
                            PyObject *fut);
/* handle.c: report exc (owned, not SystemExit/KeyboardInterrupt) raised by
 * the internal callback cb(arg) as a failed callback of loop; -1 if the
 * exception handler lets one of those through. */
int ac_callback_report(ac_state *st, PyObject *loop, PyObject *cb,
                       PyObject *arg, PyObject *ctx, PyObject *exc);
/* Push a ready handle (steals the reference). */
int ac_loop_push_handle(LoopObj *loop, PyObject *handle);
/* Watch fd for which (AC_POLL_READ or AC_POLL_WRITE) with fn(owner), called
 * from the ready queue at each poll that finds fd ready (level-triggered),
 * as asyncio runs a reader's Handle.  The loop holds a reference to owner
 * while watching.  Replaces what was in that slot (a Handle is cancelled).
 * Setting the same fn and owner again is free (no epoll_ctl).  0, or -1 with
 * RuntimeError (closed loop) or OSError. */
int ac_loop_io_start(PyObject *loop, int fd, unsigned which, ac_io_fn fn,
                     PyObject *owner);
/* Stop that watch; an event already queued for it is dropped.  1 if there
 * was one, 0 if not (or the loop is closed), -1 with an exception. */
int ac_loop_io_stop(PyObject *loop, int fd, unsigned which);
/* selectors._fileobj_to_fd: an int, or int(obj.fileno()); ValueError
 * ("Invalid file object" / "Invalid file descriptor") as asyncio's selector
 * raises.  The fd, or -1 with an exception. */
int ac_fileobj_to_fd(ac_state *st, PyObject *obj);
/* Whether fd has a watch (Handle or C) for which. */
int ac_loop_io_watched(PyObject *loop, int fd, unsigned which);

static inline int
ac_is_fast_loop(ac_state *st, PyObject *loop)
{
    return st->loop_class != NULL && (PyObject *)Py_TYPE(loop) == st->loop_class;
}

/* ---- scheduling (sched.c) ---- */

/* loop.call_soon(fn, arg, context=ctx); arg may be NULL (no argument),
 * ctx may be NULL (context=None).  0 on success, -1 with an exception. */
int ac_call_soon(ac_state *st, PyObject *loop, PyObject *fn, PyObject *arg,
                 PyObject *ctx);
/* loop.call_exception_handler(context); -1 with the exception it let
 * through (asyncio's lets only SystemExit and KeyboardInterrupt out). */
int ac_call_exception_handler(ac_state *st, PyObject *loop, PyObject *context);
/* From a finalizer: loop.call_exception_handler({key: value, ...,
 * "source_traceback": source_tb if not empty}), the pairs given as
 * arguments and ended by NULL.  Call it with no exception set (save the
 * current one first); anything that goes wrong is written as unraisable. */
void ac_report_from_finalizer(ac_state *st, PyObject *self, PyObject *loop,
                              PyObject *source_tb, ...);

/* ---- combinators ---- */

/* args.c: Python-style parsing of a METH_FASTCALL|METH_KEYWORDS call against
 * names[0..nnames): the first npos may be given by position, the first
 * nrequired must be given.  vals[i] is left untouched (the default) when
 * names[i] is not given; borrowed references.  0, or -1 with TypeError. */
int ac_parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
                  PyObject *kwnames, const char *const *names, int nnames,
                  int npos, int nrequired, PyObject **vals);

/* ensure.h: ensure_future, futures._get_loop and the operations on any
 * future (ours in C, others through their methods) the combinators use. */

/* Each adds its functions and types to the module. */
int ac_gather_init(PyObject *mod, ac_state *st);   /* gather.c */
int ac_shield_init(PyObject *mod, ac_state *st);   /* shield.c */
int ac_sleep_init(PyObject *mod, ac_state *st);    /* sleep.c */
int ac_wait_init(PyObject *mod, ac_state *st);     /* wait.c */
int ac_waitfor_init(PyObject *mod, ac_state *st);  /* waitfor.c */
/* selector_view.c: _core._selector_view(loop), loop._selector's type */
int ac_selector_view_init(PyObject *mod, ac_state *st);
/* process.c: _core._watch_child(loop, pid, callback), _core._children(loop) */
int ac_process_init(PyObject *mod, ac_state *st);

#endif /* AC_STATE_H */
