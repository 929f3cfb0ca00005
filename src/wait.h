/* wait.h -- what wait.c shares with waitfor.c beyond the operations on any
 * future (ensure.h): asyncio's tasks._release_waiter, and the `finally:` /
 * `except:` semantics both coroutines need (cancelling their timer, implicit
 * exception chaining). */
#ifndef AC_WAIT_H
#define AC_WAIT_H

#include "coro.h"
#include "ensure.h"

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

#endif /* AC_WAIT_H */
