/* sock.c -- the loop's sock_* coroutines on C fd watchers.  (stub: being written) */
#include "transport.h"

int
ac_sock_init(PyObject *mod, ac_state *st)
{
    return 0;
}
