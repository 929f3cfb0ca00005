/* readyq.h -- the loop's ready queue: a growable FIFO ring of small fixed-size
 * records meaning "run this".  Pure C: a record is a tag and three pointers;
 * what they mean (a task to step, a future whose callbacks are due, a Python
 * Handle, ...) and who owns what they point to is the loop's business.
 *
 * A pass of the loop runs only what was ready when the pass began; work
 * queued while it runs waits for the next pass (asyncio's rule):
 *
 *     size_t n = ac_readyq_len(&q);           snapshot
 *     while (n-- > 0) {
 *         ac_ready r;
 *         ac_readyq_pop(&q, &r);              cannot fail: n <= len
 *         run(&r);                            may push more records
 *     }
 *
 * Records pushed during the pass go behind the snapshot, so the count is
 * all that is needed.  push and pop are inline; only resizing is not.
 *
 * Memory: the capacity is a power of two; it doubles when full and halves
 * when fewer than a quarter of the slots are used, never going below
 * AC_READYQ_MIN_CAP (a burst of work does not pin its peak memory forever,
 * and an ordinary load never reallocates).  Not thread-safe: the queue
 * belongs to its loop's thread. */
#ifndef AC_READYQ_H
#define AC_READYQ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/* First allocation, and the floor for shrinking (records, 32 bytes each). */
#define AC_READYQ_MIN_CAP 128

typedef struct {
    uintptr_t kind;     /* the loop's tag (an enum, or a function pointer
                           converted through uintptr_t) */
    void *a;
    void *b;
    void *c;
} ac_ready;

typedef struct {
    ac_ready *buf;
    size_t cap;         /* 0 or a power of two */
    size_t head;        /* slot of the oldest record */
    size_t len;
} ac_readyq;

/* An empty queue; allocates nothing until the first push. */
void ac_readyq_init(ac_readyq *q);

/* Frees the ring.  Records still queued are dropped without a look: pop
 * them first if they hold references.  The queue is empty and usable
 * afterwards. */
void ac_readyq_free(ac_readyq *q);

/* Internal: out-of-line resizing for the inline functions below. */
int ac_readyq__grow(ac_readyq *q);
void ac_readyq__shrink(ac_readyq *q);

static inline size_t
ac_readyq_len(const ac_readyq *q)
{
    return q->len;
}

/* Appends a record; 0 or -ENOMEM (queue unchanged). */
static inline int
ac_readyq_push(ac_readyq *q, uintptr_t kind, void *a, void *b, void *c)
{
    if (q->len == q->cap) {
        int rc = ac_readyq__grow(q);
        if (rc < 0) {
            return rc;
        }
    }
    ac_ready *r = &q->buf[(q->head + q->len) & (q->cap - 1)];
    r->kind = kind;
    r->a = a;
    r->b = b;
    r->c = c;
    q->len++;
    return 0;
}

/* The k-th oldest record (0: the next to pop), or NULL past the end; it
 * stays in the queue. */
static inline const ac_ready *
ac_readyq_peek(const ac_readyq *q, size_t k)
{
    if (k >= q->len) {
        return NULL;
    }
    return &q->buf[(q->head + k) & (q->cap - 1)];
}

/* Removes the oldest record into *out; 0, or -ENOENT when empty. */
static inline int
ac_readyq_pop(ac_readyq *q, ac_ready *out)
{
    if (q->len == 0) {
        return -ENOENT;
    }
    *out = q->buf[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->len--;
    if (q->cap > AC_READYQ_MIN_CAP && q->len < q->cap / 4) {
        ac_readyq__shrink(q);
    }
    return 0;
}

#endif /* AC_READYQ_H */
