/* timerheap.c -- the 4-ary indexed min-heap of timerheap.h.
 *
 * Why 4-ary: a pop (the common operation: every timer that fires is popped)
 * sifts down through log4(n) levels instead of log2(n), and the keys of the
 * four children of a slot are adjacent in the array (one cache line), so
 * the extra comparisons per level are cheap.
 * Sifting moves a "hole" instead of swapping, writing each moved entry (and
 * its node's index) once.  A removal fills its hole bottom-up (fill_hole). */
#include "timerheap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ARITY 4

typedef ac_timerheap_entry entry;

/* Strict (deadline, seq) order; seqs are unique, so two entries never tie.
 * The seqs are read from the nodes, only for equal deadlines. */
static inline int
before(const entry *a, const entry *b)
{
    if (a->deadline != b->deadline) {
        return a->deadline < b->deadline;
    }
    return a->node->seq < b->node->seq;
}

static inline void
place(ac_timerheap *h, size_t i, const entry *e)
{
    h->entries[i] = *e;
    e->node->index = i;
}

/* Moves e up from the hole at i until its parent is earlier. */
static void
sift_up(ac_timerheap *h, size_t i, const entry *e)
{
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!before(e, &h->entries[parent])) {
            break;
        }
        place(h, i, &h->entries[parent]);
        i = parent;
    }
    place(h, i, e);
}

/* The earlier of the four children starting at `first` (all present):
 * three comparisons, two of them independent. */
static inline size_t
earliest_of_four(const entry *a, size_t first)
{
    size_t x = before(&a[first + 1], &a[first]) ? first + 1 : first;
    size_t y = before(&a[first + 3], &a[first + 2]) ? first + 3 : first + 2;
    return before(&a[y], &a[x]) ? y : x;
}

/* Fills the hole at i with e, which is not earlier than i's parent (Floyd's
 * bottom-up way): the hole first moves down to a leaf along the earliest
 * children, without comparing them with e, then e moves up from there.  e
 * is the heap's former last entry, which usually belongs near the bottom,
 * so the way up is short and the way down saves a comparison per level. */
static void
fill_hole(ac_timerheap *h, size_t i, const entry *e)
{
    const entry *a = h->entries;
    size_t n = h->size;
    for (;;) {
        size_t first = i * ARITY + 1;
        size_t best;
        if (first + ARITY <= n) {
            best = earliest_of_four(a, first);
        }
        else if (first < n) {
            best = first;
            for (size_t c = first + 1; c < n; c++) {
                if (before(&a[c], &a[best])) {
                    best = c;
                }
            }
        }
        else {
            break;
        }
        place(h, i, &a[best]);
        i = best;
    }
    sift_up(h, i, e);
}

/* The slots sit LEAD entries into a 64-byte aligned block, so that slot 1
 * (the first child of slot 0), and with it every group of four siblings
 * 4i+1..4i+4, starts a cache line. */
#define LINE 64
#define LEAD (LINE / sizeof(entry) - 1)

/* The aligned block the slots sit in (NULL for none). */
static void *
block_of(entry *entries)
{
    return entries != NULL ? entries - LEAD : NULL;
}

static int
resize(ac_timerheap *h, size_t cap)
{
    if (cap > SIZE_MAX / sizeof(entry) - LEAD - LINE / sizeof(entry)) {
        return -ENOMEM;
    }
    entry *block = aligned_alloc(LINE, ((cap + LEAD) * sizeof(entry)
                                        + LINE - 1) / LINE * LINE);
    if (block == NULL) {
        return -ENOMEM;
    }
    entry *entries = block + LEAD;
    if (h->size != 0) {
        memcpy(entries, h->entries, h->size * sizeof(entry));
    }
    free(block_of(h->entries));
    h->entries = entries;
    h->cap = cap;
    return 0;
}

/* After a removal: halve the array when under a quarter full.  Halving (not
 * fitting) leaves room to grow again without another realloc right away.  A
 * failed shrink is harmless: the old array is kept. */
static void
maybe_shrink(ac_timerheap *h)
{
    if (h->cap > AC_TIMERHEAP_MIN_CAP && h->size < h->cap / 4) {
        (void)resize(h, h->cap / 2);
    }
}

void
ac_timerheap_init(ac_timerheap *h)
{
    h->entries = NULL;
    h->size = 0;
    h->cap = 0;
    h->next_seq = 0;
}

void
ac_timerheap_free(ac_timerheap *h)
{
    free(block_of(h->entries));
    h->entries = NULL;
    h->size = 0;
    h->cap = 0;
}

int
ac_timerheap_push(ac_timerheap *h, ac_timer *t)
{
    if (t->index != AC_TIMER_DETACHED || t->deadline != t->deadline) {
        return -EINVAL;
    }
    if (h->size == h->cap) {
        size_t cap = h->cap != 0 ? h->cap * 2 : AC_TIMERHEAP_MIN_CAP;
        if (cap < h->cap) {
            return -ENOMEM;
        }
        int rc = resize(h, cap);
        if (rc < 0) {
            return rc;
        }
    }
    t->seq = h->next_seq++;
    entry e = {t->deadline, t};
    sift_up(h, h->size++, &e);
    return 0;
}

/* Removes the entry at slot i (< size) and returns its node, detached.
 * The node is only written, not read: with many timers it is cold, and a
 * read would wait for it. */
static inline ac_timer *
remove_at(ac_timerheap *h, size_t i)
{
    ac_timer *t = h->entries[i].node;
    t->index = AC_TIMER_DETACHED;
    entry last = h->entries[--h->size];
    if (i != h->size) {
        /* The last entry fills the hole; it may belong above or below it. */
        if (i > 0 && before(&last, &h->entries[(i - 1) / ARITY])) {
            sift_up(h, i, &last);
        }
        else {
            fill_hole(h, i, &last);
        }
    }
    maybe_shrink(h);
    return t;
}

ac_timer *
ac_timerheap_pop(ac_timerheap *h)
{
    return h->size != 0 ? remove_at(h, 0) : NULL;
}

ac_timer *
ac_timerheap_pop_before(ac_timerheap *h, double end)
{
    return h->size != 0 && h->entries[0].deadline < end ? remove_at(h, 0)
                                                        : NULL;
}

int
ac_timerheap_remove(ac_timerheap *h, ac_timer *t)
{
    size_t i = t->index;
    if (i >= h->size || h->entries[i].node != t) {
        return -ENOENT;
    }
    (void)remove_at(h, i);
    return 0;
}
