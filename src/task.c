/* task.c -- asyncio_c.Task: drives a coroutine with the send/throw protocol,
 * in C, on any asyncio-compatible loop.
 *
 * On our own loop a task's next step and its wakeup are bare ready records
 * and the wakeup sits in the awaited future's callbacks as (task, marker):
 * no callable object per task or per step.  The bound builtins task_step
 * and task_wakeup are made only when a foreign loop, debug mode, a report or
 * introspection (fut._callbacks) needs them, and dropped when the task is
 * done.  Awaiting one of our own futures takes a fast path (no attribute
 * lookups, no method calls);
 * anything else with `_asyncio_future_blocking` goes through its Python
 * methods, exactly as asyncio's Task does.  current_task() sees our tasks
 * through asyncio's own tasks._current_tasks; all_tasks() through our
 * registry of live tasks (below), which asyncio_c/_alltasks.py chains after
 * asyncio's own set of tasks. */
#include "state.h"

#define AC_TASK(o) ((TaskObj *)(o))

static PyObject *task_step(ac_state *st, TaskObj *task, PyObject *exc);
static int task_cancel_impl(ac_state *st, TaskObj *task, PyObject *msg);

/* ---------------------------------------------------------------------
 * current task bookkeeping, on asyncio's own dict */

static int
enter_task(ac_state *st, PyObject *loop, PyObject *task)
{
    /* one lookup: setdefault, and the size tells whether it inserted */
    PyObject *d = st->current_tasks;
    Py_ssize_t n = PyDict_GET_SIZE(d);
    PyObject *cur = PyDict_SetDefault(d, loop, task);  /* borrowed */
    if (cur == NULL) {
        return -1;
    }
    if (PyDict_GET_SIZE(d) == n) {
        PyErr_Format(PyExc_RuntimeError,
                     "Cannot enter into task %R while another task %R is "
                     "being executed.", task, cur);
        return -1;
    }
    return 0;
}

static int
leave_task(ac_state *st, PyObject *loop, PyObject *task)
{
    PyObject *cur;
    int found = ac_dict_pop(st->current_tasks, loop, &cur);
    if (found < 0) {
        return -1;
    }
    if (cur == task) {
        Py_DECREF(cur);
        return 0;
    }
    /* not ours: put back what was there, then refuse */
    if (cur != NULL && PyDict_SetItem(st->current_tasks, loop, cur) < 0) {
        Py_DECREF(cur);
        return -1;
    }
    PyErr_Format(PyExc_RuntimeError,
                 "Leaving task %R does not match the current task %R.",
                 task, cur ? cur : Py_None);
    Py_XDECREF(cur);
    return -1;
}

#if AC_HAVE_EAGER_TASKS
/* Make task (or nobody, for None) the current task of loop; returns the
 * previous one (new reference, None if there was none) or NULL on error. */
static PyObject *
swap_current_task(ac_state *st, PyObject *loop, PyObject *task)
{
    PyObject *prev = ac_dict_get(st->current_tasks, loop);
    if (prev == NULL && PyErr_Occurred()) {
        return NULL;
    }
    prev = ac_or_none(prev);
    int rc;
    if (task == Py_None) {
        rc = prev == Py_None ? 0 : PyDict_DelItem(st->current_tasks, loop);
    }
    else {
        rc = PyDict_SetItem(st->current_tasks, loop, task);
    }
    if (rc < 0) {
        Py_DECREF(prev);
        return NULL;
    }
    return prev;
}
#endif

/* ---------------------------------------------------------------------
 * the live-task registry: what asyncio.all_tasks() sees of our tasks
 * (asyncio_c/_alltasks.py chains it after asyncio's own WeakSet).  A task
 * is linked while scheduled and not done; linking and unlinking are a few
 * pointer writes, where asyncio's WeakSet makes a weakref per task and runs
 * Python code to add it and to drop it. */

static inline void
task_link(ac_state *st, TaskObj *task)
{
    ac_tlink *l = &task->task_link, *head = &st->live_tasks;
    if (l->next != NULL) {
        return;
    }
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static inline void
task_unlink(TaskObj *task)
{
    ac_tlink *l = &task->task_link;
    if (l->next == NULL) {
        return;
    }
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

#define TASK_OF_LINK(l) \
    ((TaskObj *)((char *)(l) - offsetof(TaskObj, task_link)))

/* _core._live_tasks(): a list of the registered tasks not done yet. */
PyObject *
ac_task_live_list(ac_state *st)
{
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    for (ac_tlink *l = st->live_tasks.next; l != &st->live_tasks;
         l = l->next) {
        TaskObj *task = TASK_OF_LINK(l);
        if (AC_FUT(task)->fut_state == AC_PENDING &&
            PyList_Append(list, (PyObject *)task) < 0) {
            Py_DECREF(list);
            return NULL;
        }
    }
    return list;
}

/* _core._forget_task(task): what asyncio.tasks._unregister_task does. */
void
ac_task_forget(ac_state *st, PyObject *obj)
{
    if (PyObject_TypeCheck(obj, st->TaskType)) {
        task_unlink(AC_TASK(obj));
    }
}

#if AC_HAVE_EAGER_TASKS
static int
call_and_drop(PyObject *fn, PyObject *arg)
{
    PyObject *r = PyObject_CallOneArg(fn, arg);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}
#endif

/* ---------------------------------------------------------------------
 * the bound step and wakeup callables */

static PyObject *task_step_meth(PyObject *self, PyObject *const *args,
                                Py_ssize_t nargs);
static PyObject *task_wakeup_meth(PyObject *self, PyObject *fut);

static PyMethodDef task_step_def = {
    "task_step", (PyCFunction)(void (*)(void))task_step_meth, METH_FASTCALL,
    NULL};
static PyMethodDef task_wakeup_def = {
    "task_wakeup", task_wakeup_meth, METH_O, NULL};

/* The name: a str (or NULL) in task_name.obj, or while task_name_is_num
 * the N of a "Task-N" not formatted yet. */
static inline PyObject *
task_name_obj(TaskObj *task)
{
    return task->task_fut.task_name_is_num ? NULL : task->task_name.obj;
}

/* Set the name to name (stolen; NULL: none). */
static void
task_set_name_obj(TaskObj *task, PyObject *name)
{
    PyObject *old = task_name_obj(task);
    task->task_fut.task_name_is_num = 0;
    task->task_name.obj = name;
    Py_XDECREF(old);
}

static void
task_set_name_num(TaskObj *task, unsigned long long num)
{
    PyObject *old = task_name_obj(task);
    task->task_name.num = num;
    task->task_fut.task_name_is_num = 1;
    Py_XDECREF(old);
}

/* The bound builtins are made once, when first needed, and kept in the
 * rare block (most tasks on our loop never need them). */
static PyObject *
task_step_cb(TaskObj *task)
{
    ac_fut_rare *r = ac_future_rare(AC_FUT(task));
    if (r != NULL && r->step_cb == NULL) {
        r->step_cb = PyCFunction_NewEx(&task_step_def, (PyObject *)task, NULL);
    }
    return r == NULL ? NULL : r->step_cb;  /* borrowed */
}

static PyObject *
task_wakeup_cb(TaskObj *task)
{
    ac_fut_rare *r = ac_future_rare(AC_FUT(task));
    if (r != NULL && r->wakeup_cb == NULL) {
        r->wakeup_cb = PyCFunction_NewEx(&task_wakeup_def, (PyObject *)task,
                                         NULL);
    }
    return r == NULL ? NULL : r->wakeup_cb;  /* borrowed */
}

/* A done task needs neither again; dropping them breaks the self cycle. */
static inline void
task_forget_callables(TaskObj *task)
{
    if (AC_FUT(task)->fut_state != AC_PENDING) {
        ac_fut_rare *r = AC_FUT(task)->fut_rare;
        if (r != NULL) {
            /* detach both first: a decref may free the block */
            PyObject *step = r->step_cb, *wakeup = r->wakeup_cb;
            r->step_cb = NULL;
            r->wakeup_cb = NULL;
            Py_XDECREF(step);
            Py_XDECREF(wakeup);
        }
        task_unlink(task);
    }
}

/* loop.call_soon(task_step, arg, context=task_context); on our own loop
 * (not in debug mode) a bare ready record, with no bound method made. */
static int
task_call_step_soon(ac_state *st, TaskObj *task, PyObject *arg)
{
    PyObject *loop = AC_FUT(task)->fut_loop;
    int r = ac_loop_push_task_record(st, loop, AC_READY_TASK_STEP,
                                     (PyObject *)task, arg);
    if (r != 0) {
        return r < 0 ? -1 : 0;
    }
    PyObject *cb = task_step_cb(task);
    if (cb == NULL) {
        return -1;
    }
    return ac_call_soon(st, loop, cb, arg, task->task_context);
}

/* Schedule a step that throws RuntimeError(msg) into the coroutine. */
static int
task_step_soon_with_error(ac_state *st, TaskObj *task, PyObject *msg)
{
    if (msg == NULL) {
        return -1;
    }
    PyObject *exc = PyObject_CallOneArg(PyExc_RuntimeError, msg);
    Py_DECREF(msg);
    if (exc == NULL) {
        return -1;
    }
    int rc = task_call_step_soon(st, task, exc);
    Py_DECREF(exc);
    return rc;
}

/* ---------------------------------------------------------------------
 * one step */

/* The coroutine yielded `result` (borrowed): decide what to wait for. */
static int
task_handle_yield(ac_state *st, TaskObj *task, PyObject *result)
{
    FutureObj *fut = AC_FUT(task);
    PyObject *self = (PyObject *)task;

    if (ac_future_check_exact(st, result)) {
        /* fast path: one of our own futures or tasks */
        FutureObj *wf = AC_FUT(result);
        if (wf->fut_loop != fut->fut_loop) {
            goto different_loop;
        }
        if (!wf->fut_blocking) {
            goto yield_not_from;
        }
        if (result == self) {
            goto self_await;
        }
        wf->fut_blocking = 0;
        if (ac_future_add_task_wakeup(st, wf, self) < 0) {
            return -1;
        }
        Py_XSETREF(task->task_fut_waiter, Py_NewRef(result));
        if (task->task_fut.task_must_cancel) {
            int r;
            if (Py_IS_TYPE(result, st->TaskType)) {
                r = task_cancel_impl(st, AC_TASK(result),
                                     AC_RARE(fut, cancel_msg));
            }
            else {
                r = ac_future_cancel(st, wf, AC_RARE(fut, cancel_msg));
            }
            if (r < 0) {
                return -1;
            }
            if (r) {
                task->task_fut.task_must_cancel = 0;
            }
        }
        return 0;
    }

    if (result == Py_None) {
        /* bare yield: run again on the next pass */
        return task_call_step_soon(st, task, NULL);
    }

    PyObject *blocking;
    int found = ac_getattr_opt(result, st->s_asyncio_future_blocking,
                               &blocking);
    if (found < 0) {
        return -1;
    }
    if (found && blocking != Py_None) {
        /* a foreign future: asyncio's, or anything duck-typed like one */
        PyObject *wloop;
        int has_get_loop = ac_getattr_opt(result, st->s_get_loop, &wloop);
        if (has_get_loop < 0) {
            Py_DECREF(blocking);
            return -1;
        }
        if (has_get_loop) {
            PyObject *m = wloop;
            wloop = PyObject_CallNoArgs(m);
            Py_DECREF(m);
        }
        else {
            wloop = PyObject_GetAttr(result, st->s_loop);
        }
        if (wloop == NULL) {
            Py_DECREF(blocking);
            return -1;
        }
        int same = wloop == fut->fut_loop;
        Py_DECREF(wloop);
        if (!same) {
            Py_DECREF(blocking);
            goto different_loop;
        }
        int b = PyObject_IsTrue(blocking);
        Py_DECREF(blocking);
        if (b < 0) {
            return -1;
        }
        if (!b) {
            goto yield_not_from;
        }
        if (result == self) {
            goto self_await;
        }
        if (PyObject_SetAttr(result, st->s_asyncio_future_blocking,
                             Py_False) < 0) {
            return -1;
        }
        PyObject *cb = task_wakeup_cb(task);
        if (cb == NULL) {
            return -1;
        }
        PyObject *args[3] = {result, cb, task->task_context};
        PyObject *r = PyObject_VectorcallMethod(
            st->s_add_done_callback, args, 2, st->kw_context);
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
        Py_XSETREF(task->task_fut_waiter, Py_NewRef(result));
        if (task->task_fut.task_must_cancel) {
            PyObject *cargs[2] = {result, AC_RARE(fut, cancel_msg) ?
                                  AC_RARE(fut, cancel_msg) : Py_None};
            r = PyObject_VectorcallMethod(st->s_cancel, cargs, 1,
                                          st->kw_msg);
            if (r == NULL) {
                return -1;
            }
            int t = PyObject_IsTrue(r);
            Py_DECREF(r);
            if (t < 0) {
                return -1;
            }
            if (t) {
                task->task_fut.task_must_cancel = 0;
            }
        }
        return 0;
    }
    Py_XDECREF(blocking);

    if (PyGen_Check(result)) {
        return task_step_soon_with_error(st, task, PyUnicode_FromFormat(
            "yield was used instead of yield from for generator in task %R "
            "with %R", self, result));
    }
    return task_step_soon_with_error(st, task, PyUnicode_FromFormat(
        "Task got bad yield: %R", result));

different_loop:
    return task_step_soon_with_error(st, task, PyUnicode_FromFormat(
        "Task %R got Future %R attached to a different loop", self, result));
yield_not_from:
    return task_step_soon_with_error(st, task, PyUnicode_FromFormat(
        "yield was used instead of yield from in task %R with %R",
        self, result));
self_await:
    return task_step_soon_with_error(st, task, PyUnicode_FromFormat(
        "Task cannot await on itself: %R", self));
}

/* Send None (exc == NULL) or throw exc into the coroutine and act on what
 * comes out.  Returns 0, or -1 with an exception that must reach the loop
 * (KeyboardInterrupt/SystemExit, or a failure of our own machinery). */
static int
task_run_step(ac_state *st, TaskObj *task, PyObject *exc)
{
    FutureObj *fut = AC_FUT(task);
    PyObject *coro = task->task_coro;
    PyObject *result = NULL;
    int rc;

    if (coro == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Task has no coroutine");
        return -1;
    }
    Py_INCREF(coro);
    PySendResult status;
    if (exc == NULL) {
        status = PyIter_Send(coro, Py_None, &result);
    }
    else {
        result = PyObject_CallMethodOneArg(coro, st->s_throw, exc);
        if (result != NULL) {
            status = PYGEN_NEXT;
        }
        else if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
            PyObject *stop = ac_err_take();
            result = PyObject_GetAttrString(stop, "value");
            Py_DECREF(stop);
            if (result == NULL) {
                Py_DECREF(coro);
                return -1;
            }
            status = PYGEN_RETURN;
        }
        else {
            status = PYGEN_ERROR;
        }
    }
    Py_DECREF(coro);

    switch (status) {
    case PYGEN_RETURN:
        if (task->task_fut.task_must_cancel) {
            task->task_fut.task_must_cancel = 0;
            rc = ac_future_cancel(st, fut, AC_RARE(fut, cancel_msg));
            rc = rc < 0 ? -1 : 0;
        }
        else {
            rc = ac_future_set_result(st, fut, result);
        }
        Py_DECREF(result);
        return rc;
    case PYGEN_ERROR: {
        PyObject *err = ac_err_take();
        if (PyErr_GivenExceptionMatches(err, st->CancelledError)) {
            /* kept for result(); without a block, result() makes one */
            ac_fut_rare *r = ac_future_rare(fut);
            if (r != NULL) {
                Py_XSETREF(r->cancelled_exc, err);
            }
            else {
                PyErr_Clear();
                Py_DECREF(err);
            }
            return ac_future_cancel(st, fut, NULL) < 0 ? -1 : 0;
        }
        rc = ac_future_set_exception(st, fut, err);
        if (rc == 0 &&
            (PyErr_GivenExceptionMatches(err, PyExc_KeyboardInterrupt) ||
             PyErr_GivenExceptionMatches(err, PyExc_SystemExit))) {
            ac_err_give(err);  /* re-raised, as asyncio does */
            return -1;
        }
        Py_DECREF(err);
        return rc;
    }
    default:  /* PYGEN_NEXT */
        rc = task_handle_yield(st, task, result);
        Py_DECREF(result);
        return rc;
    }
}

static PyObject *
task_step(ac_state *st, TaskObj *task, PyObject *exc)
{
    FutureObj *fut = AC_FUT(task);
    PyObject *owned_exc = NULL;

    if (fut->fut_state != AC_PENDING) {
        PyErr_Format(st->InvalidStateError, "_step(): already done: %R, %R",
                     task, exc ? exc : Py_None);
        return NULL;
    }
    if (task->task_fut.task_must_cancel) {
        if (exc == NULL ||
            !PyErr_GivenExceptionMatches(exc, st->CancelledError)) {
            owned_exc = ac_future_make_cancelled_error(st, fut);
            if (owned_exc == NULL) {
                return NULL;
            }
            exc = owned_exc;
        }
        task->task_fut.task_must_cancel = 0;
    }
    Py_CLEAR(task->task_fut_waiter);

    PyObject *loop = Py_NewRef(fut->fut_loop);
    int rc = enter_task(st, loop, (PyObject *)task);
    if (rc == 0) {
        rc = task_run_step(st, task, exc);
        PyObject *err = rc < 0 ? ac_err_take() : NULL;
        if (leave_task(st, loop, (PyObject *)task) < 0) {
            if (err != NULL) {
                PyObject *err2 = ac_err_take();
                PyException_SetContext(err2, err);  /* steals err */
                err = err2;
            }
            else {
                err = ac_err_take();
            }
            rc = -1;
        }
        if (err != NULL) {
            ac_err_give(err);
        }
    }
    Py_DECREF(loop);
    Py_XDECREF(owned_exc);
    task_forget_callables(task);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
task_step_meth(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError,
                     "task_step() takes at most 1 argument (%zd given)", nargs);
        return NULL;
    }
    PyObject *exc = nargs == 1 && args[0] != Py_None ? args[0] : NULL;
    Py_INCREF(self);  /* the step may drop the last other reference */
    PyObject *r = task_step(AC_STATE_OF(self), AC_TASK(self), exc);
    Py_DECREF(self);
    return r;
}

static PyObject *task_wakeup_impl(ac_state *st, PyObject *self,
                                  PyObject *waited);

static PyObject *
task_wakeup_meth(PyObject *self, PyObject *waited)
{
    return task_wakeup_impl(AC_STATE_OF(self), self, waited);
}

PyObject *
ac_task_wakeup_callable(PyObject *task)
{
    return Py_XNewRef(task_wakeup_cb(AC_TASK(task)));
}

int
ac_task_is_wakeup(PyObject *fn, PyObject *task)
{
    return PyCFunction_Check(fn) && PyCFunction_GET_SELF(fn) == task &&
           PyCFunction_GET_FUNCTION(fn) == (PyCFunction)task_wakeup_meth;
}

int
ac_task_schedule_wakeup(ac_state *st, PyObject *loop, PyObject *task,
                        PyObject *fut)
{
    int r = ac_loop_push_task_record(st, loop, AC_READY_TASK_WAKEUP, task,
                                     fut);
    if (r != 0) {
        return r < 0 ? -1 : 0;
    }
    PyObject *cb = task_wakeup_cb(AC_TASK(task));
    if (cb == NULL) {
        return -1;
    }
    Py_INCREF(cb);
    r = ac_call_soon(st, loop, cb, fut, AC_TASK(task)->task_context);
    Py_DECREF(cb);
    return r;
}

/* Run a task's ready record (AC_READY_TASK_STEP: arg is the exception to
 * throw in or NULL; AC_READY_TASK_WAKEUP: arg is the awaited future) in the
 * task's context.  A failure is reported as asyncio reports a failed
 * task_step / task_wakeup callback, naming the bound method; only SystemExit
 * and KeyboardInterrupt leave (-1). */
int
ac_task_run_record(ac_state *st, PyObject *loop, int kind, PyObject *self,
                   PyObject *arg)
{
    int wakeup = kind == AC_READY_TASK_WAKEUP;
    TaskObj *task = AC_TASK(self);
    PyObject *ctx = task->task_context;
    PyObject *res = NULL;
    Py_INCREF(self);
    Py_XINCREF(ctx);
    if (ctx == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Task has no context");
    }
    else if (PyContext_Enter(ctx) == 0) {
        res = wakeup ? task_wakeup_impl(st, self, arg)
                     : task_step(st, task, arg != Py_None ? arg : NULL);
        if (PyContext_Exit(ctx) < 0) {
            Py_CLEAR(res);
        }
    }
    int rc = 0;
    if (res != NULL) {
        Py_DECREF(res);
    }
    else {
        PyObject *exc = ac_err_take();
        if (PyErr_GivenExceptionMatches(exc, PyExc_SystemExit) ||
            PyErr_GivenExceptionMatches(exc, PyExc_KeyboardInterrupt)) {
            ac_err_give(exc);
            rc = -1;
        }
        else {
            PyObject *cb = Py_XNewRef(wakeup ? task_wakeup_cb(task)
                                             : task_step_cb(task));
            if (cb == NULL) {
                PyErr_WriteUnraisable(self);
                Py_DECREF(exc);
            }
            else {
                rc = ac_callback_report(st, loop, cb, arg,
                                        ctx ? ctx : Py_None, exc);
                Py_DECREF(cb);
            }
            /* the report made the bound method again: a done task drops it
             * (the step itself does this on every other path) */
            task_forget_callables(task);
        }
    }
    Py_XDECREF(ctx);
    Py_DECREF(self);
    return rc;
}

static PyObject *
task_wakeup_impl(ac_state *st, PyObject *self, PyObject *waited)
{
    PyObject *value = NULL, *r;
    int outcome;

    Py_INCREF(self);
    if (ac_future_check_exact(st, waited)) {
        outcome = ac_future_outcome(st, AC_FUT(waited), &value);
    }
    else {
        PyObject *res = PyObject_CallMethodNoArgs(waited, st->s_result);
        outcome = res == NULL ? -1 : 0;
        Py_XDECREF(res);
    }
    if (outcome == 0) {
        Py_XDECREF(value);
        r = task_step(st, AC_TASK(self), NULL);
    }
    else {
        if (outcome < 0) {
            value = ac_err_take();  /* whatever result() raised goes in */
        }
        r = task_step(st, AC_TASK(self), value);
        Py_DECREF(value);
    }
    Py_DECREF(self);
    return r;
}

#if AC_HAVE_EAGER_TASKS
/* Run the first step right now, inside the creator's call. */
static int
task_eager_start(ac_state *st, TaskObj *task)
{
    PyObject *self = (PyObject *)task;
    PyObject *loop = Py_NewRef(AC_FUT(task)->fut_loop);
    PyObject *prev = swap_current_task(st, loop, self);
    int rc = -1;
    if (prev == NULL) {
        goto done;
    }
    if (call_and_drop(st->register_eager_task, self) < 0) {
        goto restore;
    }
    if (PyContext_Enter(task->task_context) < 0) {
        rc = -1;
    }
    else {
        rc = task_run_step(st, task, NULL);
        if (PyContext_Exit(task->task_context) < 0) {
            rc = -1;
        }
    }
    {
        PyObject *err = rc < 0 ? ac_err_take() : NULL;
        if (call_and_drop(st->unregister_eager_task, self) < 0) {
            PyErr_WriteUnraisable(self);
        }
        ac_err_give(err);
    }
restore:
    {
        PyObject *err = rc < 0 ? ac_err_take() : NULL;
        PyObject *cur = swap_current_task(st, loop, prev);
        if (cur == NULL) {
            PyErr_WriteUnraisable(self);
        }
        else {
            assert(cur == self);
            Py_DECREF(cur);
        }
        ac_err_give(err);
    }
    Py_DECREF(prev);
    if (AC_FUT(task)->fut_state != AC_PENDING) {
        Py_CLEAR(task->task_coro);
        task_forget_callables(task);
    }
    else {
        task_link(st, task);
    }
done:
    Py_DECREF(loop);
    return rc;
}
#endif

/* ---------------------------------------------------------------------
 * cancel */

static int
task_cancel_impl(ac_state *st, TaskObj *task, PyObject *msg)
{
    FutureObj *fut = AC_FUT(task);
    fut->fut_log_tb = 0;
    if (fut->fut_state != AC_PENDING) {
        return 0;
    }
    ac_fut_rare *r = ac_future_rare(fut);
    if (r == NULL) {
        return -1;
    }
    r->num_cancels_requested++;
    PyObject *waiter = task->task_fut_waiter;
    if (waiter != NULL) {
        int r;
        Py_INCREF(waiter);
        if (Py_IS_TYPE(waiter, st->TaskType)) {
            r = task_cancel_impl(st, AC_TASK(waiter), msg);
        }
        else if (Py_IS_TYPE(waiter, st->FutureType)) {
            r = ac_future_cancel(st, AC_FUT(waiter), msg);
        }
        else {
            PyObject *res = PyObject_CallMethodOneArg(
                waiter, st->s_cancel, msg ? msg : Py_None);
            r = res == NULL ? -1 : PyObject_IsTrue(res);
            Py_XDECREF(res);
        }
        Py_DECREF(waiter);
        if (r < 0) {
            return -1;
        }
        if (r) {
            return 1;
        }
    }
    if (ac_future_set_cancel_msg(fut, msg) < 0) {
        return -1;
    }
    task->task_fut.task_must_cancel = 1;
    return 1;
}

/* ---------------------------------------------------------------------
 * type slots */

/* Task.__init__ after its arguments are parsed. */
static int
task_setup(ac_state *st, TaskObj *task, PyObject *coro, PyObject *loop,
           PyObject *name, PyObject *context, PyObject *eager)
{
    FutureObj *fut = AC_FUT(task);

    if (ac_future_init(st, fut, loop) < 0) {
        return -1;
    }
    /* No frame to drop from _source_traceback: unlike asyncio's Python
     * Task, no Python frame of ours is on the stack. */
    task->task_fut.task_log_destroy_pending = 1;
    if (!PyCoro_CheckExact(coro)) {
        PyObject *r = PyObject_CallOneArg(st->iscoroutine, coro);
        int ok = r == NULL ? -1 : PyObject_IsTrue(r);
        Py_XDECREF(r);
        if (ok < 0) {
            return -1;
        }
        if (!ok) {
            task->task_fut.task_log_destroy_pending = 0;
            PyErr_Format(PyExc_TypeError,
                         "a coroutine was expected, got %R", coro);
            return -1;
        }
    }
    if (context == Py_None) {
        context = PyContext_CopyCurrent();
        if (context == NULL) {
            return -1;
        }
    }
    else {
        Py_INCREF(context);
    }
    Py_XSETREF(task->task_context, context);

    /* "Task-N" is formatted when first asked for (get_name, repr) */
    if (name == Py_None) {
        task_set_name_num(task, ++st->task_name_counter);
    }
    else if (PyUnicode_CheckExact(name)) {
        task_set_name_obj(task, Py_NewRef(name));
    }
    else if ((name = PyObject_Str(name)) == NULL) {
        return -1;
    }
    else {
        task_set_name_obj(task, name);
    }

    /* the cancel count went with the rare block in ac_future_init */
    task->task_fut.task_must_cancel = 0;
    Py_CLEAR(task->task_fut_waiter);
    Py_XSETREF(task->task_coro, Py_NewRef(coro));

#if AC_HAVE_EAGER_TASKS
    int is_eager = eager == Py_False ? 0 : PyObject_IsTrue(eager);
    if (is_eager < 0) {
        return -1;
    }
    if (is_eager) {
        PyObject *running = PyObject_CallMethodNoArgs(fut->fut_loop,
                                                      st->s_is_running);
        if (running == NULL) {
            return -1;
        }
        is_eager = PyObject_IsTrue(running);
        Py_DECREF(running);
        if (is_eager < 0) {
            return -1;
        }
        if (is_eager) {
            return task_eager_start(st, task);
        }
    }
#else
    (void)eager;
#endif
    if (task_call_step_soon(st, task, NULL) < 0) {
        return -1;
    }
    task_link(st, task);
    return 0;
}

static int
Task_init(PyObject *self, PyObject *args, PyObject *kwds)
{
#if AC_HAVE_EAGER_TASKS
    static char *kwlist[] = {"coro", "loop", "name", "context", "eager_start",
                             NULL};
    const char *fmt = "O|$OOOO:Task";
#else
    static char *kwlist[] = {"coro", "loop", "name", "context", NULL};
    const char *fmt = "O|$OOO:Task";
#endif
    PyObject *coro, *loop = Py_None, *name = Py_None, *context = Py_None;
    PyObject *eager = Py_False;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, fmt, kwlist, &coro, &loop,
                                     &name, &context, &eager)) {
        return -1;
    }
    return task_setup(AC_STATE_OF(self), AC_TASK(self), coro, loop, name,
                      context, eager);
}

PyObject *
ac_task_new(ac_state *st, PyObject *coro, PyObject *loop, PyObject *name,
            PyObject *context)
{
    PyTypeObject *tp = st->TaskType;
    PyObject *task = ac_freelist_alloc(&st->task_free, tp, sizeof(TaskObj));
    if (task == NULL) {
        return NULL;
    }
    PyObject_GC_Track(task);
    if (task_setup(st, AC_TASK(task), coro, loop, name, context,
                   Py_False) < 0) {
        Py_DECREF(task);
        return NULL;
    }
    return task;
}

static int
Task_traverse(PyObject *self, visitproc visit, void *arg)
{
    TaskObj *task = AC_TASK(self);
    Py_VISIT(task->task_coro);
    Py_VISIT(task_name_obj(task));
    Py_VISIT(task->task_context);
    Py_VISIT(task->task_fut_waiter);
    return ac_future_traverse(AC_FUT(self), visit, arg);
}

static void
task_clear_fields(TaskObj *task)
{
    Py_CLEAR(task->task_coro);
    task_set_name_obj(task, NULL);
    Py_CLEAR(task->task_context);
    Py_CLEAR(task->task_fut_waiter);
}

static int
Task_clear(PyObject *self)
{
    task_unlink(AC_TASK(self));
    task_clear_fields(AC_TASK(self));
    ac_future_clear(AC_FUT(self));
    return 0;
}

/* Whether Task_finalize reports "destroyed but pending" (besides what
 * ac_future_finalize may report). */
static int
task_would_report_pending(const FutureObj *fut)
{
    return fut->fut_state == AC_PENDING && fut->task_log_destroy_pending &&
           fut->fut_loop != NULL;
}

static void
Task_finalize(PyObject *self)
{
    TaskObj *task = AC_TASK(self);
    FutureObj *fut = AC_FUT(self);
    /* on its way out, as asyncio's WeakSet forgets it (even if the report
     * below makes someone keep it) */
    task_unlink(task);
    if (task_would_report_pending(fut)) {
        ac_state *st = AC_STATE_OF(self);
        PyObject *saved = ac_err_take();
        PyObject *message = PyUnicode_FromString(
            "Task was destroyed but it is pending!");
        if (message == NULL) {
            PyErr_WriteUnraisable(self);
        }
        else {
            ac_report_from_finalizer(st, self, fut->fut_loop,
                                     AC_RARE(fut, source_tb), st->s_task, self,
                                     st->s_message, message, NULL);
            Py_DECREF(message);
        }
        ac_err_give(saved);
    }
    ac_future_finalize(self);
}

static void
Task_dealloc(PyObject *self)
{
    /* Exactly Task (a Python subclass's instances come through
     * subtype_dealloc, which ran Task_finalize), and Task_finalize would
     * only unlink it: done here, before any weakref callback could see it
     * in all_tasks(). */
    FutureObj *fut = AC_FUT(self);
    if (Py_TYPE(self)->tp_dealloc == Task_dealloc &&
        !task_would_report_pending(fut) && !ac_future_would_report(fut)) {
        task_unlink(AC_TASK(self));
        ac_future_dealloc_reusable(self, Task_clear);
    }
    else {
        ac_future_dealloc(self, Task_clear);
    }
}

static PyObject *
Task_repr(PyObject *self)
{
    if (AC_FUT(self)->fut_loop == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Future object is not initialized.");
        return NULL;
    }
    return PyObject_CallOneArg(AC_STATE_OF(self)->task_repr, self);
}

/* --- methods --- */

static PyObject *
Task_cancel(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
            PyObject *kwnames)
{
    static const char *const names[] = {"msg"};
    PyObject *msg = Py_None;
    if (ac_parse_args("cancel", args, nargs, kwnames, names, 1, 1, 0,
                      &msg) < 0) {
        return NULL;
    }
    int r = task_cancel_impl(AC_STATE_OF(self), AC_TASK(self), msg);
    if (r < 0) {
        return NULL;
    }
    return PyBool_FromLong(r);
}

static PyObject *
Task_cancelling(PyObject *self, PyObject *unused)
{
    return PyLong_FromLong(AC_RARE(AC_FUT(self), num_cancels_requested));
}

static PyObject *
Task_uncancel(PyObject *self, PyObject *unused)
{
    TaskObj *task = AC_TASK(self);
    ac_fut_rare *r = AC_FUT(task)->fut_rare;
    if (r != NULL && r->num_cancels_requested > 0) {
        r->num_cancels_requested--;
#if AC_UNCANCEL_CLEARS_MUST_CANCEL
        if (r->num_cancels_requested == 0) {
            task->task_fut.task_must_cancel = 0;
        }
#endif
    }
    return PyLong_FromLong(AC_RARE(AC_FUT(task), num_cancels_requested));
}

static PyObject *
Task_get_coro(PyObject *self, PyObject *unused)
{
    return ac_or_none(AC_TASK(self)->task_coro);
}

static PyObject *
Task_get_context(PyObject *self, PyObject *unused)
{
    return ac_or_none(AC_TASK(self)->task_context);
}

static PyObject *
Task_get_name(PyObject *self, PyObject *unused)
{
    TaskObj *task = AC_TASK(self);
    if (task->task_fut.task_name_is_num) {
        PyObject *name = PyUnicode_FromFormat("Task-%llu",
                                              task->task_name.num);
        if (name == NULL) {
            return NULL;
        }
        task_set_name_obj(task, name);
    }
    return ac_or_none(task->task_name.obj);
}

static PyObject *
Task_set_name(PyObject *self, PyObject *value)
{
    PyObject *name = PyUnicode_CheckExact(value) ? Py_NewRef(value)
                                                 : PyObject_Str(value);
    if (name == NULL) {
        return NULL;
    }
    task_set_name_obj(AC_TASK(self), name);
    Py_RETURN_NONE;
}

static PyObject *
Task_set_result(PyObject *self, PyObject *unused)
{
    PyErr_SetString(PyExc_RuntimeError,
                    "Task does not support set_result operation");
    return NULL;
}

static PyObject *
Task_set_exception(PyObject *self, PyObject *unused)
{
    PyErr_SetString(PyExc_RuntimeError,
                    "Task does not support set_exception operation");
    return NULL;
}

static PyObject *
Task_get_stack(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"limit", NULL};
    PyObject *limit = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$O:get_stack", kwlist,
                                     &limit)) {
        return NULL;
    }
    return PyObject_CallFunctionObjArgs(AC_STATE_OF(self)->task_get_stack,
                                        self, limit, NULL);
}

static PyObject *
Task_print_stack(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"limit", "file", NULL};
    PyObject *limit = Py_None, *file = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$OO:print_stack", kwlist,
                                     &limit, &file)) {
        return NULL;
    }
    return PyObject_CallFunctionObjArgs(AC_STATE_OF(self)->task_print_stack,
                                        self, limit, file, NULL);
}

/* --- properties --- */

static PyObject *
Task_get_must_cancel(PyObject *self, void *c)
{
    return PyBool_FromLong(AC_TASK(self)->task_fut.task_must_cancel);
}

static PyObject *
Task_get_log_destroy_pending(PyObject *self, void *c)
{
    return PyBool_FromLong(AC_TASK(self)->task_fut.task_log_destroy_pending);
}

static int
Task_set_log_destroy_pending(PyObject *self, PyObject *val, void *c)
{
    int b = ac_flag_value(val);
    if (b < 0) {
        return -1;
    }
    AC_TASK(self)->task_fut.task_log_destroy_pending = (char)b;
    return 0;
}

static PyMethodDef Task_methods[] = {
    {"cancel", (PyCFunction)(void (*)(void))Task_cancel,
     METH_FASTCALL | METH_KEYWORDS,
     "Request that this task cancel itself."},
    {"cancelling", Task_cancelling, METH_NOARGS,
     "The number of pending cancellation requests."},
    {"uncancel", Task_uncancel, METH_NOARGS,
     "Decrement the count of cancellation requests; return it."},
    {"get_coro", Task_get_coro, METH_NOARGS, "The task's coroutine."},
    {"get_context", Task_get_context, METH_NOARGS, "The task's context."},
    {"get_name", Task_get_name, METH_NOARGS, "The task's name."},
    {"set_name", Task_set_name, METH_O, "Set the task's name."},
    {"set_result", Task_set_result, METH_O, "Not supported on a Task."},
    {"set_exception", Task_set_exception, METH_O, "Not supported on a Task."},
    {"get_stack", (PyCFunction)(void (*)(void))Task_get_stack,
     METH_VARARGS | METH_KEYWORDS, "The frames of the task's coroutine."},
    {"print_stack", (PyCFunction)(void (*)(void))Task_print_stack,
     METH_VARARGS | METH_KEYWORDS, "Print the task's stack or traceback."},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS,
     "See PEP 585"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Task_getset[] = {
    {"_must_cancel", Task_get_must_cancel, NULL, NULL, NULL},
    {"_log_destroy_pending", Task_get_log_destroy_pending,
     Task_set_log_destroy_pending, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Task_members[] = {
    {"_coro", AC_T_OBJECT, offsetof(TaskObj, task_coro), AC_READONLY, NULL},
    {"_fut_waiter", AC_T_OBJECT, offsetof(TaskObj, task_fut_waiter),
     AC_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Task_slots[] = {
    {Py_tp_doc, "asyncio.Task, implemented in C by asyncio_c."},
    {Py_tp_dealloc, Task_dealloc},
    {Py_tp_traverse, Task_traverse},
    {Py_tp_clear, Task_clear},
    {Py_tp_finalize, Task_finalize},
    {Py_tp_repr, Task_repr},
    {Py_tp_methods, Task_methods},
    {Py_tp_getset, Task_getset},
    {Py_tp_members, Task_members},
    {Py_tp_init, Task_init},
    {0, NULL},
};

static PyType_Spec Task_spec = {
    .name = "asyncio_c._core.Task",
    .basicsize = sizeof(TaskObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Task_slots,
};

int
ac_task_init_types(PyObject *mod, ac_state *st)
{
    st->TaskType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &Task_spec, (PyObject *)st->FutureType);
    if (st->TaskType == NULL ||
        ac_own_method_descrs(st->TaskType, st->FutureType) < 0) {
        return -1;
    }
    return PyModule_AddType(mod, st->TaskType);
}
