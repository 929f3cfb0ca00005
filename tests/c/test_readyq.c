/* test_readyq.c -- src/readyq.c alone.
 *
 * Built and run by tests/test_c_layers.py; by hand:
 *   gcc -std=c11 -O1 -g -fsanitize=address,undefined -Isrc \
 *       tests/c/test_readyq.c src/readyq.c -o /tmp/t && /tmp/t */
#define _GNU_SOURCE
#include "readyq.h"
#include "check.h"

#include <stdlib.h>

/* Record number i: every field derived from i, so a torn or misplaced
 * record is caught, not just a wrong order. */
static int
push_n(ac_readyq *q, uintptr_t i)
{
    return ac_readyq_push(q, i, (void *)(i * 3 + 1), (void *)(i * 5 + 2),
                          (void *)(i * 7 + 3));
}

static int
is_n(const ac_ready *r, uintptr_t i)
{
    return r->kind == i && r->a == (void *)(i * 3 + 1)
           && r->b == (void *)(i * 5 + 2) && r->c == (void *)(i * 7 + 3);
}

/* The ring's memory invariant after any operation. */
static int
cap_ok(const ac_readyq *q)
{
    if (q->cap == 0) {
        return q->len == 0 && q->buf == NULL;
    }
    return (q->cap & (q->cap - 1)) == 0 && q->len <= q->cap
           && q->cap >= AC_READYQ_MIN_CAP && q->head < q->cap
           && (q->cap == AC_READYQ_MIN_CAP || q->len >= q->cap / 4);
}

static void
test_empty(void)
{
    ac_readyq q;
    ac_ready r;
    ac_readyq_init(&q);
    CHECK(ac_readyq_len(&q) == 0);
    CHECK(ac_readyq_pop(&q, &r) == -ENOENT);
    CHECK(ac_readyq_peek(&q, 0) == NULL);
    CHECK(q.buf == NULL);          /* nothing allocated yet */
    CHECK(push_n(&q, 1) == 0);
    CHECK(q.cap == AC_READYQ_MIN_CAP);
    CHECK(ac_readyq_pop(&q, &r) == 0 && is_n(&r, 1));
    CHECK(ac_readyq_pop(&q, &r) == -ENOENT);
    ac_readyq_free(&q);
    CHECK(q.buf == NULL && q.len == 0 && q.cap == 0);
    ac_readyq_free(&q);            /* twice is fine */
}

static void
test_fifo_growth(void)
{
    enum { N = 5000 };
    ac_readyq q;
    ac_ready r;
    ac_readyq_init(&q);
    for (uintptr_t i = 0; i < N; i++) {
        REQUIRE(push_n(&q, i) == 0);
        REQUIRE(cap_ok(&q));
    }
    CHECK(q.cap == 8192);
    for (uintptr_t i = 0; i < N; i++) {
        REQUIRE(ac_readyq_pop(&q, &r) == 0);
        REQUIRE(is_n(&r, i));
        REQUIRE(cap_ok(&q));
    }
    CHECK(ac_readyq_len(&q) == 0);
    CHECK(q.cap == AC_READYQ_MIN_CAP);
    ac_readyq_free(&q);
}

/* The head goes round the ring many times; then the ring grows while its
 * records wrap past the end, and later shrinks while they wrap. */
static void
test_wraparound(void)
{
    ac_readyq q;
    ac_ready r;
    uintptr_t next_in = 0, next_out = 0;
    ac_readyq_init(&q);
    for (int i = 0; i < 100; i++) {
        REQUIRE(push_n(&q, next_in++) == 0);
    }
    for (int i = 0; i < 10000; i++) {
        REQUIRE(ac_readyq_pop(&q, &r) == 0 && is_n(&r, next_out++));
        REQUIRE(push_n(&q, next_in++) == 0);
    }
    CHECK(q.cap == AC_READYQ_MIN_CAP);      /* steady load: no resizing */
    /* Fill the ring exactly with the head in the middle, then one more. */
    while (q.len < q.cap) {
        REQUIRE(push_n(&q, next_in++) == 0);
    }
    CHECK(q.head != 0 && q.head + q.len > q.cap);
    /* peek sees every record in order across the wrap, and nothing past */
    for (size_t k = 0; k < q.len; k++) {
        REQUIRE(is_n(ac_readyq_peek(&q, k), next_out + k));
    }
    CHECK(ac_readyq_peek(&q, q.len) == NULL);
    REQUIRE(push_n(&q, next_in++) == 0);
    CHECK(q.cap == 2 * AC_READYQ_MIN_CAP);
    /* Grow once more, then come down to a quarter without shrinking. */
    while (q.len < 400) {
        REQUIRE(push_n(&q, next_in++) == 0);
    }
    CHECK(q.cap == 512);
    while (q.len > 128) {
        REQUIRE(ac_readyq_pop(&q, &r) == 0 && is_n(&r, next_out++));
    }
    CHECK(q.cap == 512);
    /* Rotate (push, then pop: never below a quarter) until the records
     * wrap past the end; the next pop shrinks a wrapped ring. */
    while (q.head + q.len <= q.cap) {
        REQUIRE(push_n(&q, next_in++) == 0);
        REQUIRE(ac_readyq_pop(&q, &r) == 0 && is_n(&r, next_out++));
    }
    CHECK(q.cap == 512);
    REQUIRE(ac_readyq_pop(&q, &r) == 0 && is_n(&r, next_out++));
    CHECK(q.cap == 256 && q.head == 0 && q.len == 127);
    /* Drain the rest. */
    while (ac_readyq_pop(&q, &r) == 0) {
        REQUIRE(is_n(&r, next_out++));
        REQUIRE(cap_ok(&q));
    }
    CHECK(next_out == next_in);
    CHECK(q.cap == AC_READYQ_MIN_CAP);
    ac_readyq_free(&q);
}

/* A pass runs only what was ready when it began: every record run queues
 * follow-ups (two each for a while, so the ring grows mid-pass, then one,
 * then none), and none of them may run in the pass that queued them. */
static void
test_pass_snapshot(void)
{
    ac_readyq q;
    ac_ready r;
    uintptr_t next_id = 0, expect = 0;
    ac_readyq_init(&q);
    for (int i = 0; i < 5; i++) {
        REQUIRE(push_n(&q, next_id++) == 0);
    }
    size_t ran = 0;
    for (int pass = 0; pass < 24; pass++) {
        uintptr_t first_new = next_id;
        size_t n = ac_readyq_len(&q);
        REQUIRE(n == (pass <= 8 ? (size_t)5 << pass : pass <= 16 ? 1280 : 0));
        while (n-- > 0) {
            REQUIRE(ac_readyq_pop(&q, &r) == 0);
            REQUIRE(r.kind < first_new);        /* not queued by this pass */
            REQUIRE(is_n(&r, expect++));
            ran++;
            int follow = pass < 8 ? 2 : pass < 16 ? 1 : 0;
            for (int k = 0; k < follow; k++) {
                REQUIRE(push_n(&q, next_id++) == 0);
            }
        }
        REQUIRE(ac_readyq_len(&q) == next_id - expect);
    }
    CHECK(ac_readyq_len(&q) == 0);
    CHECK(ran == next_id);
    CHECK(ran == 5 * (255 + 8 * 256 + 256));
    CHECK(q.cap == AC_READYQ_MIN_CAP);
    ac_readyq_free(&q);
}

/* Random bursts against a plain array used as the reference FIFO. */
static void
test_random_vs_reference(void)
{
    enum { OPS = 200000 };
    uintptr_t *ref = malloc(OPS * sizeof(uintptr_t));
    REQUIRE(ref != NULL);
    size_t ref_head = 0, ref_tail = 0, max_cap = 0;
    uint64_t rng = 2024;
    uintptr_t counter = 0;
    ac_readyq q;
    ac_ready r;
    ac_readyq_init(&q);
    for (size_t op = 0; op < OPS;) {
        /* A burst of pushes or pops of random length (up to 3000). */
        int pushing = rng_below(&rng, 2) == 0;
        size_t burst = rng_below(&rng, 3000) + 1;
        for (size_t k = 0; k < burst && op < OPS; k++, op++) {
            if (pushing) {
                if (push_n(&q, counter) != 0) {
                    CHECK(0);
                    goto done;
                }
                ref[ref_tail++] = counter++;
            }
            else {
                int rc = ac_readyq_pop(&q, &r);
                if (ref_head == ref_tail) {
                    if (rc != -ENOENT) {
                        CHECK(0);
                        goto done;
                    }
                    continue;
                }
                if (rc != 0 || !is_n(&r, ref[ref_head])) {
                    CHECK(0);
                    goto done;
                }
                ref_head++;
            }
            if (ac_readyq_len(&q) != ref_tail - ref_head || !cap_ok(&q)) {
                CHECK(0);
                goto done;
            }
            if (q.cap > max_cap) {
                max_cap = q.cap;
            }
        }
    }
    CHECK(max_cap >= 4096);
done:
    ac_readyq_free(&q);
    free(ref);
}

int
main(void)
{
    RUN(test_empty);
    RUN(test_fifo_growth);
    RUN(test_wraparound);
    RUN(test_pass_snapshot);
    RUN(test_random_vs_reference);
    return summary();
}
