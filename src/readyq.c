/* readyq.c -- resizing of the ring in readyq.h (push and pop are inline). */
#include "readyq.h"

#include <stdlib.h>
#include <string.h>

void
ac_readyq_init(ac_readyq *q)
{
    q->buf = NULL;
    q->cap = 0;
    q->head = 0;
    q->len = 0;
}

void
ac_readyq_free(ac_readyq *q)
{
    free(q->buf);
    ac_readyq_init(q);
}

/* Doubles the ring.  The records that wrapped around to the start of the
 * old buffer move to just past its old end, which keeps them in order. */
int
ac_readyq__grow(ac_readyq *q)
{
    size_t old = q->cap;
    size_t cap = old != 0 ? old * 2 : AC_READYQ_MIN_CAP;
    if (cap < old || cap > SIZE_MAX / sizeof(ac_ready)) {
        return -ENOMEM;
    }
    ac_ready *buf = realloc(q->buf, cap * sizeof(ac_ready));
    if (buf == NULL) {
        return -ENOMEM;
    }
    if (q->head + q->len > old) {
        size_t wrapped = q->head + q->len - old;
        memcpy(buf + old, buf, wrapped * sizeof(ac_ready));
    }
    q->buf = buf;
    q->cap = cap;
    return 0;
}

/* Halves the ring, copying the records to the start of a new buffer.  A
 * failed allocation keeps the old ring (nothing is lost). */
void
ac_readyq__shrink(ac_readyq *q)
{
    size_t cap = q->cap / 2;
    ac_ready *buf = malloc(cap * sizeof(ac_ready));
    if (buf == NULL) {
        return;
    }
    size_t first = q->cap - q->head;    /* records up to the old end */
    if (first > q->len) {
        first = q->len;
    }
    memcpy(buf, q->buf + q->head, first * sizeof(ac_ready));
    memcpy(buf + first, q->buf, (q->len - first) * sizeof(ac_ready));
    free(q->buf);
    q->buf = buf;
    q->cap = cap;
    q->head = 0;
}
