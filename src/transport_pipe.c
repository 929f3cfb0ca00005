/* transport_pipe.c -- read and write pipe transports: _core.ReadPipeTransport, _core.WritePipeTransport.  (stub: being written) */
#include "transport.h"

int
ac_pipe_init(PyObject *mod, ac_state *st)
{
    return 0;
}
