/* check.h -- the smallest test harness: CHECK (report and go on), REQUIRE
 * (report and leave the test function), RUN, and the final summary line
 * "N passed, M failed", where N and M count test functions.  The exit status
 * is 0 only when nothing failed.  Header-only; each test file includes it
 * once. */
#ifndef AC_TEST_CHECK_H
#define AC_TEST_CHECK_H

#include <stdio.h>
#include <stdint.h>
#include <time.h>

static int check_failures;      /* in the running test */
static int tests_passed;
static int tests_failed;

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n",                \
                    __FILE__, __LINE__, #cond);                         \
            check_failures++;                                           \
        }                                                               \
    } while (0)

/* Inside a test function returning void: stop it at the first failure
 * (used in loops, where one failure would otherwise repeat a million
 * times). */
#define REQUIRE(cond)                                                   \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n",              \
                    __FILE__, __LINE__, #cond);                         \
            check_failures++;                                           \
            return;                                                     \
        }                                                               \
    } while (0)

#define RUN(fn) run_test(#fn, fn)

static void
run_test(const char *name, void (*fn)(void))
{
    check_failures = 0;
    fn();
    if (check_failures == 0) {
        tests_passed++;
        printf("ok   %s\n", name);
    }
    else {
        tests_failed++;
        printf("FAIL %s (%d checks)\n", name, check_failures);
    }
    fflush(stdout);
}

static int
summary(void)
{
    printf("%d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed == 0 ? 0 : 1;
}

/* xorshift64*: the same sequence on every libc, so failures replay. */
static inline uint64_t
rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n), n > 0 (the tiny modulo bias does not matter here). */
static inline size_t
rng_below(uint64_t *s, size_t n)
{
    return (size_t)(rng_next(s) % n);
}

static inline double
now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif /* AC_TEST_CHECK_H */
