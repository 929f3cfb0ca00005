/* transport_dgram.c -- datagram transport (UDP, Unix datagram): _core.DatagramTransport.  (stub: being written) */
#include "transport.h"

int
ac_dgram_init(PyObject *mod, ac_state *st)
{
    return 0;
}
