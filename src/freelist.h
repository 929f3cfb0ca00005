/* freelist.h -- per-interpreter lists of the memory of dead objects of
 * exactly one of our GC types, kept for the next object of that type
 * (handle.c: Handle, TimerHandle; future.c: Future, FutureIter, Task).
 * No malloc/free, and no allocation counted by the garbage collector.
 *
 * An entry is an untracked object that holds no references (its type's
 * included: the dealloc drops it, PyObject_Init takes it again), chained
 * through the first pointer after its object header.  Its GC header's
 * "finalized" bit must be clear: the bit stays with the memory, and a
 * reused object that had it would never get its tp_finalize.
 *
 * The memory of PyType_GenericAlloc (the tp_alloc behind Future() and
 * Task()) and of PyObject_GC_New has the same layout for our types (the
 * GC pre-header, then tp_basicsize bytes), both freed by PyObject_GC_Del;
 * either may be reused for the other. */
#ifndef AC_FREELIST_H
#define AC_FREELIST_H

#include "compat.h"

typedef struct {
    PyObject *head;
    int n;
} ac_freelist;

#define AC_FREELIST_NEXT(o) (*(PyObject **)((char *)(o) + sizeof(PyObject)))

/* Fresh memory for an untracked object of exactly tp (size: its
 * tp_basicsize), from the list if it has some; everything after the object
 * header zeroed. */
static inline PyObject *
ac_freelist_alloc(ac_freelist *fl, PyTypeObject *tp, size_t size)
{
    PyObject *o = fl->head;
    if (o != NULL) {
        fl->head = AC_FREELIST_NEXT(o);
        fl->n--;
        (void)PyObject_Init(o, tp);
    }
    else {
        o = PyObject_GC_New(PyObject, tp);
        if (o == NULL) {
            return NULL;
        }
    }
    memset((char *)o + sizeof(PyObject), 0, size - sizeof(PyObject));
    return o;
}

/* Keep the memory of a dying object (untracked, cleared, weakrefs gone)
 * if the list has room and it was never finalized; 0: free it. */
static inline int
ac_freelist_push(ac_freelist *fl, int max, PyObject *self)
{
    if (fl->n >= max || PyObject_GC_IsFinalized(self)) {
        return 0;
    }
    AC_FREELIST_NEXT(self) = fl->head;
    fl->head = self;
    fl->n++;
    return 1;
}

/* Free every entry (their types must still be alive). */
static inline void
ac_freelist_drop(ac_freelist *fl)
{
    while (fl->head != NULL) {
        PyObject *o = fl->head;
        fl->head = AC_FREELIST_NEXT(o);
        PyObject_GC_Del(o);
    }
    fl->n = 0;
}

/* The module state of one of our types in a dealloc, or NULL (no
 * exception set) when it cannot be had.  The type loses its module when
 * the collector clears it (a garbage cycle of module and types: interpreter
 * or module teardown), and PyType_GetModuleState then raises: look only
 * with no exception set (an object dropped while one propagates is freed),
 * and clear that one. */
static inline void *
ac_freelist_owner(PyTypeObject *tp)
{
    if (PyErr_Occurred()) {
        return NULL;
    }
    void *st = PyType_GetModuleState(tp);
    if (st == NULL) {
        PyErr_Clear();
    }
    return st;
}

#endif
