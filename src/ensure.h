/* ensure.h -- what the combinators (gather, shield, wait, wait_for) do with
 * futures they did not make: asyncio's ensure_future and futures._get_loop,
 * and the operations on "any future".  Our own Future/Task take direct C
 * paths; anything else (asyncio's futures, duck-typed future-likes,
 * subclasses of ours) gets the Python method call asyncio itself would make.
 * Implemented in ensure.c. */
#ifndef AC_ENSURE_H
#define AC_ENSURE_H

#include "state.h"

/* Called once from module init (by ac_gather_init). */
int ac_ensure_init(PyObject *mod, ac_state *st);

/* asyncio's ensure_future(obj, loop=loop) (loop may be NULL or None), as
 * the running version's gather/shield/wait_for call it; new reference. */
PyObject *ac_ensure_future(ac_state *st, PyObject *obj, PyObject *loop);
/* futures._get_loop(fut); new reference. */
PyObject *ac_future_get_loop(ac_state *st, PyObject *fut);
/* loop.create_future(); new reference.  Our loop's is made in C. */
PyObject *ac_loop_create_future(ac_state *st, PyObject *loop);

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
/* `if not fut.cancelled(): fut.exception()` (marks a done future's
 * exception as retrieved): 0 or -1. */
int ac_fut_retrieve(ac_state *st, PyObject *fut);

/* fut.set_result(res), fut.set_exception(exc): 0 or -1. */
int ac_fut_set_result(ac_state *st, PyObject *fut, PyObject *res);
int ac_fut_set_exception(ac_state *st, PyObject *fut, PyObject *exc);
/* fut.cancel() (msg NULL) or fut.cancel(msg=msg): 0, or -1 with an
 * exception.  cancelled not NULL: *cancelled = the truth of what it returned
 * (not evaluated otherwise, as for asyncio's `fut.cancel()` statements). */
int ac_fut_cancel(ac_state *st, PyObject *fut, PyObject *msg,
                  int *cancelled);

/* fut.add_done_callback(cb).  Ours: the callback runs in ctx (asyncio's
 * add_done_callback copies the current context: pass such a copy, or NULL
 * for a callback that does not depend on it); any other future gets the
 * plain one-argument call, as asyncio makes it. */
int ac_fut_add_done_callback(ac_state *st, PyObject *fut, PyObject *cb,
                             PyObject *ctx);
/* fut.remove_done_callback(cb), its count discarded: 0 or -1. */
int ac_fut_remove_done_callback(ac_state *st, PyObject *fut, PyObject *cb);

/* The argument check of a done callback object standing for asyncio's
 * closure name(fut): 0, or -1 with TypeError. */
static inline int
ac_check_callback_args(const char *name, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes exactly one positional argument (%zd given)",
                     name, nargs);
        return -1;
    }
    return 0;
}

#endif /* AC_ENSURE_H */
