/* waitfor.c -- native asyncio.wait_for (not written yet). */
#include "state.h"

int
ac_waitfor_init(PyObject *mod, ac_state *st)
{
    return 0;
}
