/* timerheap.h -- an array-backed 4-ary min-heap of caller-owned timer nodes,
 * ordered by (deadline, seq) so that equal deadlines fire in the order they
 * were pushed.  Pure C: it knows nothing of Python or of what a timer does.
 *
 * Each node records its position in the heap (`index`), so removing any node
 * (a cancelled timer) is O(log n), not a scan.  The heap's array holds each
 * node's deadline next to a pointer to the node, so sifting compares
 * deadlines in the array without touching the nodes (with many timers the
 * nodes are scattered in memory, and reading four of them per level would
 * cost four cache misses); only equal deadlines need the nodes' seq.  A
 * node must stay at the same address while it is in the heap, and the heap
 * never frees one.  The node carries no payload: embed it in your own
 * struct and find that from the node by its offset (offsetof).
 *
 *     ac_timerheap h;            ac_timer t;
 *     ac_timerheap_init(&h);     ac_timer_init(&t, deadline);
 *     ac_timerheap_push(&h, &t);                  0, -EINVAL, -ENOMEM
 *     ac_timerheap_remove(&h, &t);                0 or -ENOENT
 *     while ((t = ac_timerheap_peek(&h)) && t->deadline <= now) {
 *         ac_timerheap_pop(&h); ...
 *     }
 *     ac_timerheap_free(&h);
 *
 * Memory: the array doubles when full and halves when fewer than a quarter
 * of its slots are used (down to AC_TIMERHEAP_MIN_CAP), so a server that
 * schedules and cancels timeouts forever keeps flat memory.  Growing and
 * shrinking are amortised O(1) per operation.
 *
 * Not thread-safe: one heap belongs to one loop. */
#ifndef AC_TIMERHEAP_H
#define AC_TIMERHEAP_H

#include <stddef.h>
#include <stdint.h>

/* `index` of a node that is in no heap. */
#define AC_TIMER_DETACHED SIZE_MAX

/* The array is never shrunk below this many slots (once allocated; 16 bytes
 * each). */
#define AC_TIMERHEAP_MIN_CAP 64

typedef struct ac_timer {
    double deadline;    /* when it is due; NaN is refused; do not change it
                           while the node is in a heap (remove, change, push) */
    uint64_t seq;       /* set by push: the tie-break for equal deadlines */
    size_t index;       /* slot in the heap, or AC_TIMER_DETACHED; the heap's */
} ac_timer;

/* A slot of the array: a copy of the node's deadline, and the node.  16
 * bytes, so the four children of a slot fill one 64-byte cache line (the
 * array is placed so that they start on one).  Equal deadlines, rare with
 * real clocks, are ordered by the nodes' seq. */
typedef struct {
    double deadline;
    ac_timer *node;
} ac_timerheap_entry;

typedef struct {
    ac_timerheap_entry *entries;    /* entries[0] is the earliest */
    size_t size;
    size_t cap;
    uint64_t next_seq;
} ac_timerheap;

/* A detached node; push it to schedule it. */
static inline void
ac_timer_init(ac_timer *t, double deadline)
{
    t->deadline = deadline;
    t->seq = 0;
    t->index = AC_TIMER_DETACHED;
}

/* Whether the node is in a heap right now. */
static inline int
ac_timer_active(const ac_timer *t)
{
    return t->index != AC_TIMER_DETACHED;
}

/* An empty heap; allocates nothing until the first push. */
void ac_timerheap_init(ac_timerheap *h);

/* Frees the array.  Nodes still in the heap are not touched (they may be
 * gone already), so their `index` goes stale: pop them first if the caller
 * will look at them again.  The heap is empty and usable afterwards. */
void ac_timerheap_free(ac_timerheap *h);

/* Inserts t, giving it the next sequence number.  -EINVAL if t is already
 * in a heap or its deadline is NaN; -ENOMEM (heap unchanged). */
int ac_timerheap_push(ac_timerheap *h, ac_timer *t);

/* The earliest node, or NULL when empty; it stays in the heap. */
static inline ac_timer *
ac_timerheap_peek(const ac_timerheap *h)
{
    return h->size != 0 ? h->entries[0].node : NULL;
}

/* Removes and returns the earliest node (detached), or NULL when empty. */
ac_timer *ac_timerheap_pop(ac_timerheap *h);

/* The same if the earliest deadline is before `end`, else NULL (the heap
 * unchanged).  It reads the key kept in the array, not the node. */
ac_timer *ac_timerheap_pop_before(ac_timerheap *h, double end);

/* Removes t from h in O(log n); -ENOENT if t is not in h (never pushed,
 * already popped or removed, or in another heap). */
int ac_timerheap_remove(ac_timerheap *h, ac_timer *t);

static inline size_t
ac_timerheap_size(const ac_timerheap *h)
{
    return h->size;
}

#endif /* AC_TIMERHEAP_H */
