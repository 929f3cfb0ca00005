/* test_timerheap.c -- src/timerheap.c alone.
 *
 * Built and run by tests/test_c_layers.py; by hand:
 *   gcc -std=c11 -O1 -g -fsanitize=address,undefined -Isrc \
 *       tests/c/test_timerheap.c src/timerheap.c -o /tmp/t && /tmp/t */
#define _GNU_SOURCE
#include "timerheap.h"
#include "check.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* Every structural invariant: slot i holds a node whose index is i and
 * whose key is the slot's copy, and no slot comes before its parent. */
static int
heap_ok(const ac_timerheap *h)
{
    if (h->size > h->cap) {
        return 0;
    }
    for (size_t i = 0; i < h->size; i++) {
        const ac_timerheap_entry *e = &h->entries[i];
        if (e->node->index != i || e->node->deadline != e->deadline) {
            return 0;
        }
        if (i > 0) {
            const ac_timerheap_entry *p = &h->entries[(i - 1) / 4];
            if (e->deadline < p->deadline
                || (e->deadline == p->deadline
                    && e->node->seq < p->node->seq)) {
                return 0;
            }
        }
        /* each group of four siblings starts a cache line */
        if (i % 4 == 1 && (uintptr_t)e % 64 != 0) {
            return 0;
        }
    }
    return 1;
}

/* a fires no later than b, and if they tie, a was pushed first. */
static int
in_order(const ac_timer *a, const ac_timer *b)
{
    return a->deadline < b->deadline
           || (a->deadline == b->deadline && a->seq < b->seq);
}

static void
test_empty(void)
{
    ac_timerheap h;
    ac_timer t;
    ac_timerheap_init(&h);
    ac_timer_init(&t, 1.0);
    CHECK(ac_timerheap_size(&h) == 0);
    CHECK(ac_timerheap_peek(&h) == NULL);
    CHECK(ac_timerheap_pop(&h) == NULL);
    CHECK(ac_timerheap_remove(&h, &t) == -ENOENT);
    CHECK(!ac_timer_active(&t));
    ac_timerheap_free(&h);
}

static void
test_errors_and_reuse(void)
{
    ac_timerheap h, other;
    ac_timer a, b, nan_t;
    ac_timerheap_init(&h);
    ac_timerheap_init(&other);
    ac_timer_init(&a, 5.0);
    ac_timer_init(&b, 5.0);
    ac_timer_init(&nan_t, NAN);

    CHECK(ac_timerheap_push(&h, &nan_t) == -EINVAL);
    CHECK(ac_timerheap_size(&h) == 0);
    CHECK(ac_timerheap_push(&h, &a) == 0);
    CHECK(ac_timer_active(&a));
    CHECK(ac_timerheap_push(&h, &a) == -EINVAL);      /* already in */
    CHECK(ac_timerheap_push(&other, &a) == -EINVAL);  /* in another heap */
    CHECK(ac_timerheap_size(&h) == 1);
    CHECK(ac_timerheap_push(&h, &b) == 0);
    CHECK(ac_timerheap_remove(&other, &a) == -ENOENT);
    CHECK(ac_timerheap_size(&h) == 2);

    /* Popped: detached, and pushed again it goes behind its equal. */
    CHECK(ac_timerheap_pop(&h) == &a);
    CHECK(!ac_timer_active(&a));
    CHECK(ac_timerheap_remove(&h, &a) == -ENOENT);
    CHECK(ac_timerheap_push(&h, &a) == 0);
    CHECK(ac_timerheap_peek(&h) == &b);
    CHECK(ac_timerheap_pop(&h) == &b);
    CHECK(ac_timerheap_pop(&h) == &a);
    CHECK(ac_timerheap_pop(&h) == NULL);

    /* Infinite deadlines are fine (ordered last), only NaN is refused. */
    ac_timer inf;
    ac_timer_init(&inf, INFINITY);
    CHECK(ac_timerheap_push(&h, &b) == 0);
    CHECK(ac_timerheap_push(&h, &inf) == 0);
    CHECK(ac_timerheap_pop(&h) == &b);
    CHECK(ac_timerheap_pop(&h) == &inf);
    ac_timerheap_free(&h);
    ac_timerheap_free(&other);
}

/* Equal deadlines come out in push order, also with removals in between. */
static void
test_fifo_ties(void)
{
    enum { N = 3000 };
    static ac_timer t[N];
    static const double deadlines[3] = {2.0, 1.0, 3.0};
    ac_timerheap h;
    ac_timerheap_init(&h);
    for (size_t i = 0; i < N; i++) {
        ac_timer_init(&t[i], deadlines[i % 3]);
        REQUIRE(ac_timerheap_push(&h, &t[i]) == 0);
    }
    /* Every 7th removed. */
    for (size_t i = 0; i < N; i += 7) {
        REQUIRE(ac_timerheap_remove(&h, &t[i]) == 0);
    }
    REQUIRE(heap_ok(&h));
    double last_deadline = 0.0;
    uintptr_t last_i = 0;
    size_t popped = 0;
    ac_timer *x;
    while ((x = ac_timerheap_pop(&h)) != NULL) {
        uintptr_t i = (uintptr_t)(x - t);
        REQUIRE(i % 7 != 0);
        REQUIRE(x->deadline >= last_deadline);
        if (x->deadline == last_deadline) {
            REQUIRE(i > last_i);
        }
        last_deadline = x->deadline;
        last_i = i;
        popped++;
    }
    CHECK(popped == N - (N + 6) / 7);
    ac_timerheap_free(&h);
}

/* pop_before takes exactly the entries due before `end`, in order, and
 * leaves the rest (an equal deadline is not before end). */
static void
test_pop_before(void)
{
    enum { N = 1000 };
    static ac_timer t[N];
    ac_timerheap h;
    ac_timerheap_init(&h);
    CHECK(ac_timerheap_pop_before(&h, 1e300) == NULL);
    for (size_t i = 0; i < N; i++) {
        /* deadlines 0..99, ten of each, pushed out of order */
        ac_timer_init(&t[i], (double)((i * 37) % 100));
        REQUIRE(ac_timerheap_push(&h, &t[i]) == 0);
    }
    ac_timer *x, *prev = NULL;
    size_t taken = 0;
    while ((x = ac_timerheap_pop_before(&h, 50.0)) != NULL) {
        REQUIRE(x->deadline < 50.0 && !ac_timer_active(x));
        REQUIRE(prev == NULL || in_order(prev, x));
        prev = x;
        taken++;
    }
    CHECK(taken == 500);
    CHECK(ac_timerheap_size(&h) == 500 && heap_ok(&h));
    CHECK(ac_timerheap_peek(&h)->deadline == 50.0);
    CHECK(ac_timerheap_pop_before(&h, -INFINITY) == NULL);
    CHECK(ac_timerheap_pop_before(&h, NAN) == NULL);
    CHECK(ac_timerheap_size(&h) == 500);
    ac_timerheap_free(&h);
}

/* Random push / remove / pop against a brute-force reference: a flag per
 * node and its own sequence counter; the minimum is found by a linear scan.
 * Deadlines come from a small set, so ties are frequent. */
static void
random_vs_reference(uint64_t seed, size_t ops)
{
    enum { POOL = 2000 };
    static ac_timer t[POOL];
    static int in[POOL];
    static uint64_t ref_seq[POOL];
    uint64_t rng = seed, next_ref_seq = 0;
    size_t count = 0, max_cap = 0;
    ac_timerheap h;
    ac_timerheap_init(&h);
    for (size_t i = 0; i < POOL; i++) {
        ac_timer_init(&t[i], 0.0);
        in[i] = 0;
    }
    for (size_t op = 0; op < ops; op++) {
        /* Phases of 20000 ops: mostly pushing, then mostly draining, so
         * the heap grows to the pool size and shrinks back repeatedly. */
        int filling = (op / 20000) % 2 == 0;
        size_t r = rng_below(&rng, 100);
        size_t i = rng_below(&rng, POOL);
        if (r < (filling ? 60u : 25u)) {
            if (in[i]) {
                REQUIRE(ac_timerheap_push(&h, &t[i]) == -EINVAL);
                continue;
            }
            t[i].deadline = rng_below(&rng, 10) == 0
                ? (double)rng_next(&rng) / 1e15
                : (double)rng_below(&rng, 40) * 0.25;
            REQUIRE(ac_timerheap_push(&h, &t[i]) == 0);
            in[i] = 1;
            ref_seq[i] = next_ref_seq++;
            count++;
        }
        else if (r < 80) {
            REQUIRE(ac_timerheap_remove(&h, &t[i]) == (in[i] ? 0 : -ENOENT));
            if (in[i]) {
                in[i] = 0;
                count--;
            }
            REQUIRE(!ac_timer_active(&t[i]));
        }
        else {
            size_t best = POOL;
            for (size_t j = 0; j < POOL; j++) {
                if (in[j] && (best == POOL
                              || t[j].deadline < t[best].deadline
                              || (t[j].deadline == t[best].deadline
                                  && ref_seq[j] < ref_seq[best]))) {
                    best = j;
                }
            }
            REQUIRE(ac_timerheap_peek(&h) == (best == POOL ? NULL : &t[best]));
            ac_timer *x = ac_timerheap_pop(&h);
            if (best == POOL) {
                REQUIRE(x == NULL);
                continue;
            }
            REQUIRE(x == &t[best]);
            REQUIRE(!ac_timer_active(x));
            in[best] = 0;
            count--;
        }
        REQUIRE(ac_timerheap_size(&h) == count);
        /* Memory follows the size: at most 4x (plus the floor). */
        REQUIRE(h.cap <= AC_TIMERHEAP_MIN_CAP || h.size >= h.cap / 4);
        if (h.cap > max_cap) {
            max_cap = h.cap;
        }
        if (op % 997 == 0) {
            REQUIRE(heap_ok(&h));
        }
    }
    REQUIRE(heap_ok(&h));
    CHECK(max_cap >= 1024);     /* the phases really grew it */
    ac_timerheap_free(&h);
}

static void
test_random_seed_1(void)
{
    random_vs_reference(0x9E3779B97F4A7C15ULL, 100000);
}

static void
test_random_seed_2(void)
{
    random_vs_reference(42, 100000);
}

/* A server scheduling a timeout per request and cancelling almost all of
 * them, forever: the array must not creep. */
static void
test_flat_memory(void)
{
    enum { WINDOW = 1000, ROUNDS = 300000 };
    static ac_timer t[WINDOW];
    ac_timerheap h;
    ac_timerheap_init(&h);
    uint64_t rng = 7;
    size_t cap_after_warmup = 0;
    for (size_t i = 0; i < WINDOW; i++) {
        ac_timer_init(&t[i], 0.0);
    }
    for (size_t round = 0; round < ROUNDS; round++) {
        ac_timer *x = &t[round % WINDOW];
        if (ac_timer_active(x)) {
            REQUIRE(ac_timerheap_remove(&h, x) == 0);
        }
        x->deadline = (double)round + (double)rng_below(&rng, 1000);
        REQUIRE(ac_timerheap_push(&h, x) == 0);
        if (round == WINDOW) {
            cap_after_warmup = h.cap;
        }
        REQUIRE(round < WINDOW || h.cap == cap_after_warmup);
    }
    CHECK(cap_after_warmup == 1024);
    /* A burst of 100k, then everything cancelled: back to the floor. */
    enum { BURST = 100000 };
    ac_timer *burst = malloc(BURST * sizeof(ac_timer));
    REQUIRE(burst != NULL);
    for (size_t i = 0; i < BURST; i++) {
        ac_timer_init(&burst[i], (double)(BURST - i));
        if (ac_timerheap_push(&h, &burst[i]) != 0) {
            CHECK(0);
            break;
        }
    }
    CHECK(h.cap >= BURST);
    for (size_t i = 0; i < BURST; i++) {
        if (ac_timerheap_remove(&h, &burst[i]) != 0) {
            CHECK(0);
            break;
        }
    }
    CHECK(h.size == WINDOW);
    CHECK(h.cap == 2048 || h.cap == 4096);
    CHECK(heap_ok(&h));
    for (size_t i = 0; i < WINDOW; i++) {
        (void)ac_timerheap_remove(&h, &t[i]);
    }
    CHECK(h.size == 0);
    CHECK(h.cap == AC_TIMERHEAP_MIN_CAP);
    free(burst);
    ac_timerheap_free(&h);
}

/* libuv's million-timers benchmark, as a test: 1,000,000 pushed, half
 * removed at random, the rest popped in order.  The timings are printed
 * for information only. */
static void
test_million(void)
{
    enum { N = 1000000 };
    ac_timer *t = malloc(N * sizeof(ac_timer));
    size_t *order = malloc(N * sizeof(size_t));
    REQUIRE(t != NULL && order != NULL);
    uint64_t rng = 12345;
    ac_timerheap h;
    ac_timerheap_init(&h);
    for (size_t i = 0; i < N; i++) {
        /* Milliseconds-granular deadlines over ~16 minutes: many ties. */
        ac_timer_init(&t[i], (double)rng_below(&rng, 1000000) * 1e-3);
        order[i] = i;
    }
    for (size_t i = N - 1; i > 0; i--) {     /* Fisher-Yates */
        size_t j = rng_below(&rng, i + 1);
        size_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }

    double t0 = now_sec();
    for (size_t i = 0; i < N; i++) {
        if (ac_timerheap_push(&h, &t[i]) != 0) {
            CHECK(0);
            goto done;
        }
    }
    double t1 = now_sec();
    for (size_t i = 0; i < N / 2; i++) {
        if (ac_timerheap_remove(&h, &t[order[i]]) != 0) {
            CHECK(0);
            goto done;
        }
    }
    double t2 = now_sec();
    size_t popped = 0;
    ac_timer *prev = NULL, *x;
    int ordered = 1;
    while ((x = ac_timerheap_pop(&h)) != NULL) {
        if (prev != NULL && !in_order(prev, x)) {
            ordered = 0;
        }
        prev = x;
        popped++;
    }
    double t3 = now_sec();
    CHECK(ordered);
    CHECK(popped == N / 2);
    CHECK(h.cap == AC_TIMERHEAP_MIN_CAP);
    for (size_t i = 0; i < N; i++) {
        if (ac_timer_active(&t[i])) {
            CHECK(0);
            break;
        }
    }
    printf("     million timers: push %.0f ns/op, remove %.0f ns/op, "
           "pop %.0f ns/op (informational)\n",
           (t1 - t0) * 1e9 / N, (t2 - t1) * 1e9 / (N / 2),
           (t3 - t2) * 1e9 / (N / 2));
done:
    ac_timerheap_free(&h);
    free(order);
    free(t);
}

/* Removal fills the hole bottom-up (down to a leaf, then up): every heap
 * size from 1 to 300, every position removed once (in a shuffled order,
 * pops in between), with tie-heavy deadlines: the invariants hold after
 * each step and the pops come out in order. */
static void
test_remove_every_position(void)
{
    enum { MAXN = 300 };
    static ac_timer t[MAXN];
    uint64_t rng = 7;
    for (size_t n = 1; n <= MAXN; n++) {
        ac_timerheap h;
        ac_timerheap_init(&h);
        for (size_t i = 0; i < n; i++) {
            ac_timer_init(&t[i], (double)rng_below(&rng, 8));
            REQUIRE(ac_timerheap_push(&h, &t[i]) == 0);
        }
        REQUIRE(heap_ok(&h));
        const ac_timer *last_popped = NULL;
        while (ac_timerheap_size(&h) != 0) {
            if (rng_below(&rng, 3) == 0) {
                ac_timer *x = ac_timerheap_pop(&h);
                REQUIRE(x != NULL && !ac_timer_active(x));
                REQUIRE(last_popped == NULL || in_order(last_popped, x));
                last_popped = x;
            }
            else {
                /* any slot, the last one and the root included */
                size_t slot = rng_below(&rng, ac_timerheap_size(&h));
                ac_timer *x = h.entries[slot].node;
                REQUIRE(ac_timerheap_remove(&h, x) == 0);
                REQUIRE(!ac_timer_active(x));
            }
            REQUIRE(heap_ok(&h));
        }
        ac_timerheap_free(&h);
    }
}

int
main(void)
{
    RUN(test_empty);
    RUN(test_errors_and_reuse);
    RUN(test_fifo_ties);
    RUN(test_pop_before);
    RUN(test_random_seed_1);
    RUN(test_random_seed_2);
    RUN(test_remove_every_position);
    RUN(test_flat_memory);
    RUN(test_million);
    return summary();
}
