/* wait.h -- what wait.c shares with waitfor.c: the few calls both make on
 * any future (ours directly in C, any other through its methods), timer
 * cancelling, asyncio's _release_waiter and implicit exception chaining. */
#ifndef AC_WAIT_H
#define AC_WAIT_H

#include "coro.h"

/* fut.done(): 1, 0, or -1 with an error. */
int acw_is_done(ac_state *st, PyObject *fut);
/* fut.result(): a new reference, or NULL with its exception raised. */
PyObject *acw_result(ac_state *st, PyObject *fut);
/* fut.add_done_callback(cb) / fut.remove_done_callback(cb): 0 or -1. */
int acw_add_callback(ac_state *st, PyObject *fut, PyObject *cb);
int acw_remove_callback(ac_state *st, PyObject *fut, PyObject *cb);
/* loop.create_future(): new reference. */
PyObject *acw_create_future(ac_state *st, PyObject *loop);
/* asyncio's _release_waiter(waiter): set None as its result unless done. */
int acw_release_waiter(ac_state *st, PyObject *waiter);
/* partial(_release_waiter, waiter): a callable that ignores its arguments. */
PyObject *acw_release_waiter_new(ac_state *st, PyObject *waiter);
/* h.cancel() for a TimerHandle: 0 or -1.  On error, exc (borrowed, may be
 * NULL: the exception being handled) becomes the new error's context. */
int acw_cancel_timer(ac_state *st, PyObject *h, PyObject *exc);
/* What raising inside `except handled:` does to the error now set: its
 * __context__ becomes handled (no cycle is made).  handled may be NULL. */
void acw_chain_context(PyObject *handled);
/* The same for the exception exc (handled not NULL). */
void acw_set_context(PyObject *exc, PyObject *handled);
/* Raise `TimeoutError() from exc` (exc: the exception being handled). */
void acw_raise_timeout_from(PyObject *exc);

#endif /* AC_WAIT_H */
