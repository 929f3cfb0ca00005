/* ensure.h -- operations on "any future" for the combinators (gather,
 * shield, wait, wait_for): our own Future/Task take direct C paths, anything
 * else (asyncio's futures, duck-typed future-likes, subclasses of ours) gets
 * the Python method call asyncio itself would make.  Implemented in ensure.c,
 * with ac_ensure_future and ac_future_get_loop (declared in state.h). */
#ifndef AC_ENSURE_H
#define AC_ENSURE_H

#include "state.h"

/* Called once from module init (by ac_gather_init). */
int ac_ensure_init(PyObject *mod, ac_state *st);

/* fut is exactly our Future or Task, initialised: the C paths apply. */
static inline int
ac_fut_is_ours(ac_state *st, PyObject *fut)
{
    return ac_future_check_exact(st, fut) && AC_FUT(fut)->fut_loop != NULL;
}

/* asyncio.futures.isfuture(obj): 1, 0, or -1 with an exception. */
int ac_isfuture(ac_state *st, PyObject *obj);

/* fut.done() / fut.cancelled(): 1, 0, or -1 with an exception. */
int ac_fut_done(ac_state *st, PyObject *fut);
int ac_fut_cancelled(ac_state *st, PyObject *fut);

/* fut.exception(), fut.result(), fut._make_cancelled_error(),
 * fut._cancel_message: new references, NULL with an exception. */
PyObject *ac_fut_exception(ac_state *st, PyObject *fut);
PyObject *ac_fut_result(ac_state *st, PyObject *fut);
PyObject *ac_fut_make_cancelled_error(ac_state *st, PyObject *fut);
PyObject *ac_fut_cancel_message(ac_state *st, PyObject *fut);

/* fut.set_result(res), fut.set_exception(exc): 0 or -1. */
int ac_fut_set_result(ac_state *st, PyObject *fut, PyObject *res);
int ac_fut_set_exception(ac_state *st, PyObject *fut, PyObject *exc);
/* fut.cancel() (msg NULL) or fut.cancel(msg=msg): 1, 0, or -1. */
int ac_fut_cancel(ac_state *st, PyObject *fut, PyObject *msg);

/* fut.add_done_callback(cb).  Ours: the callback runs in ctx (asyncio's
 * add_done_callback copies the current context: pass such a copy); any
 * other future gets the plain one-argument call, as asyncio makes it. */
int ac_fut_add_done_callback(ac_state *st, PyObject *fut, PyObject *cb,
                             PyObject *ctx);
/* fut.remove_done_callback(cb), its count discarded: 0 or -1. */
int ac_fut_remove_done_callback(ac_state *st, PyObject *fut, PyObject *cb);

#endif /* AC_ENSURE_H */
