/* wait.c -- native asyncio.wait (not written yet). */
#include "state.h"

int
ac_wait_init(PyObject *mod, ac_state *st)
{
    return 0;
}
