/* coro.h -- coroutines written in C: the object protocol a Task drives
 * (send, throw, close, __await__, __next__, am_send), shared by sleep, wait
 * and wait_for.
 *
 * A C coroutine embeds ac_coro as its first member and supplies a body: a
 * state machine called once per resumption.  The body gets what the last
 * suspension produced (a value sent in, the result of what it awaited, or an
 * exception thrown in / raised by what it awaited) and says what happens
 * next: return a value, raise, yield a value to the Task, or await an
 * awaitable (the protocol then drives it as `await` would, forwarding send
 * and throw, and calls the body again with its outcome).  Awaiting one of
 * our own Futures or Tasks yields it directly (no iterator object). */
#ifndef AC_CORO_H
#define AC_CORO_H

#include "state.h"

typedef enum {
    AC_STEP_RETURN = 0,   /* *out: the return value (new reference) */
    AC_STEP_ERROR,        /* an exception is set */
    AC_STEP_YIELD,        /* *out: yield it (new reference); the body is
                             resumed with the value sent or the exception
                             thrown */
    AC_STEP_AWAIT,        /* *out: an awaitable (new reference); the body is
                             resumed with its result or its exception */
} ac_step;

/* val: None at the start, else the value sent or the awaited result
 * (borrowed; NULL when exc is set).  exc: the exception thrown in or raised
 * by the awaited object (borrowed), else NULL.  No exception is set on entry. */
typedef ac_step (*ac_coro_body)(PyObject *self, PyObject *val, PyObject *exc,
                                PyObject **out);

typedef struct {
    PyObject_HEAD
    ac_state *co_st;          /* the module state (lives as long as the type) */
    ac_coro_body co_body;
    const char *co_name;      /* __name__ / __qualname__, a static string */
    PyObject *co_sub;         /* what is being awaited, or NULL */
    char co_sub_is_fut;       /* co_sub is one of our futures, yielded as is */
    char co_state;            /* ac_coro_state (coro.c) */
} ac_coro;

void ac_coro_init(ac_coro *co, ac_state *st, ac_coro_body body,
                  const char *name);

/* The module state of a C coroutine, without a type lookup. */
static inline ac_state *
ac_coro_st(PyObject *self)
{
    return ((ac_coro *)self)->co_st;
}
int ac_coro_traverse(ac_coro *co, visitproc visit, void *arg);
void ac_coro_clear(ac_coro *co);
/* tp_dealloc of a C coroutine: finalizer, untrack, clear(), free. */
void ac_coro_dealloc(PyObject *self, inquiry clear);

/* The exception that throw(*args) raises (the 1- and 3-argument forms, with
 * the 3.12+ deprecation warning), or NULL with an error set. */
PyObject *ac_exc_from_throw_args(PyObject *const *args, Py_ssize_t nargs);

/* What a generator method returns for the outcome (r, res) of an am_send:
 * the value yielded (PYGEN_NEXT: res returned); NULL with the error
 * (PYGEN_ERROR: res unused); for a return value (PYGEN_RETURN: res stolen)
 * NULL with StopIteration carrying it -- an instance, so that a tuple is not
 * taken as arguments -- except that a None result sets nothing unless
 * stop_on_none (tp_iternext may end without an exception; send() and throw()
 * raise StopIteration). */
PyObject *ac_gen_result(PySendResult r, PyObject *res, int stop_on_none);

PyObject *ac_coro_await_self(PyObject *self);
PySendResult ac_coro_am_send(PyObject *self, PyObject *arg, PyObject **res);
PyObject *ac_coro_iternext(PyObject *self);
void ac_coro_finalize(PyObject *self);
extern PyMethodDef ac_coro_methods[];
extern PyGetSetDef ac_coro_getset[];

/* The slots every C coroutine type lists (plus its own dealloc, traverse,
 * clear). */
#define AC_CORO_TYPE_SLOTS                            \
    {Py_am_await, ac_coro_await_self},                \
    {Py_am_send, ac_coro_am_send},                    \
    {Py_tp_iternext, ac_coro_iternext},               \
    {Py_tp_methods, ac_coro_methods},                 \
    {Py_tp_getset, ac_coro_getset},                   \
    {Py_tp_finalize, ac_coro_finalize}

/* asyncio.events.get_running_loop(): a new reference, or NULL with
 * RuntimeError("no running event loop"). */
PyObject *ac_running_loop(ac_state *st);

/* `x <= 0` (a delay or a timeout): 1, 0, or -1 with an error. */
int ac_is_nonpositive(PyObject *x);
/* h.cancel() for a timer in a `finally:`: 0 or -1.  On error, exc
 * (borrowed, may be NULL: the exception being handled) becomes the new
 * error's context. */
int ac_cancel_timer(ac_state *st, PyObject *h, PyObject *exc);
/* What raising inside `except handled:` does to the error now set: its
 * __context__ becomes handled (no cycle is made).  handled may be NULL. */
void ac_chain_context(PyObject *handled);
/* The same for the exception exc (handled not NULL). */
void ac_set_context(PyObject *exc, PyObject *handled);

#endif /* AC_CORO_H */
