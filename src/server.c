/* server.c -- accepting connections on listening sockets (the loop's _start_serving).  (stub: being written) */
#include "transport.h"

int
ac_server_init(PyObject *mod, ac_state *st)
{
    return 0;
}
