/* gather.c -- native asyncio.gather and its gathering future (not written yet). */
#include "state.h"

int
ac_gather_init(PyObject *mod, ac_state *st)
{
    return 0;
}
