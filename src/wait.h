/* wait.h -- what wait.c shares with waitfor.c beyond the operations on any
 * future (ensure.h): asyncio's tasks._release_waiter. */
#ifndef AC_WAIT_H
#define AC_WAIT_H

#include "coro.h"
#include "ensure.h"

/* asyncio's _release_waiter(waiter): set None as its result unless done. */
int acw_release_waiter(ac_state *st, PyObject *waiter);
/* partial(_release_waiter, waiter): a callable that ignores its arguments. */
PyObject *acw_release_waiter_new(ac_state *st, PyObject *waiter);

#endif /* AC_WAIT_H */
