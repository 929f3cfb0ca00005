/* sleep.c -- native asyncio.sleep (not written yet). */
#include "state.h"

int
ac_sleep_init(PyObject *mod, ac_state *st)
{
    return 0;
}
