/* shield.c -- native asyncio.shield (not written yet). */
#include "state.h"

int
ac_shield_init(PyObject *mod, ac_state *st)
{
    return 0;
}
