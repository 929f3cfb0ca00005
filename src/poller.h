/* poller.h -- readiness of file descriptors, behind a narrow interface (one
 * file per OS mechanism; today poller_epoll.c).  Pure C, no Python, no lock:
 * every call may be made with the GIL released.  A poller belongs to one
 * thread at a time (its loop's); nothing here is safe to call concurrently
 * on the same poller.
 *
 * Level-triggered: an fd is reported on every wait while it stays ready.
 * The poller keeps each fd's interest (AC_POLL_READ | AC_POLL_WRITE) and a
 * caller pointer in an fd-indexed table, and asks the kernel only when the
 * interest changes.
 *
 * Rule for callers: before (or right after) closing an fd that has
 * interest, set its interest to 0.  Otherwise the table still believes the
 * fd is watched; if the number is reused and the caller sets the same
 * interest again, nothing reaches the kernel (see poller_epoll.c, 1 and 5).
 *
 * All functions return 0 (or a count) on success and a negative errno on
 * failure. */
#ifndef AC_POLLER_H
#define AC_POLLER_H

#include <stdint.h>

/* Interest, and what a wait reports. */
#define AC_POLL_READ   0x1u
#define AC_POLL_WRITE  0x2u
/* Reported only, never part of an interest: the kernel said error or hang
 * up.  Such an fd is also reported as READ and/or WRITE, whichever it has
 * interest in, so the callback that owns it meets the error in its own
 * read or write (as asyncio's selectors do). */
#define AC_POLL_ERROR  0x4u
#define AC_POLL_HUP    0x8u

typedef struct ac_poller ac_poller;

typedef struct {
    int fd;
    unsigned events;    /* AC_POLL_* bits, READ/WRITE limited to the interest */
    void *data;         /* the pointer given with the interest */
} ac_poll_event;

typedef struct {
    uint64_t ctl_calls; /* epoll_ctl calls made, retries included */
    uint64_t rebuilds;  /* kernel sets rebuilt from the table (fork, stale) */
    uint64_t stale;     /* events dropped because their fd was no longer ours */
} ac_poller_stats;

/* A new poller in *out; -errno (EMFILE, ENOMEM, ...) on failure. */
int ac_poller_create(ac_poller **out);

/* Closes the kernel object and frees the poller (NULL is fine).  The fds
 * it watched are not touched. */
void ac_poller_close(ac_poller *p);

/* Sets fd's interest to mask (AC_POLL_READ|AC_POLL_WRITE; 0 removes it) and
 * its caller pointer to data (kept while the interest is not 0; returned
 * with each event).  The kernel is asked only when the mask changes.
 * Errors: -EBADF (bad fd), -EPERM (the fd cannot be polled: a regular file
 * or a directory), -EINVAL (bad mask), -ENOMEM, -ENOSPC (the per-user
 * epoll watch limit); after an error the fd's interest is what it was.
 * Removing the interest of an fd that is already closed succeeds. */
int ac_poller_set(ac_poller *p, int fd, unsigned mask, void *data);

/* fd's interest (0 when none) and, if data is not NULL, its pointer. */
unsigned ac_poller_get(const ac_poller *p, int fd, void **data);

/* Waits up to timeout_ms (-1: no limit, 0: just look) and stores at most
 * max ready fds in out; returns their number (0 on timeout).  When more
 * are ready than max, the rest come on the next call (level-triggered:
 * nothing is lost).  A signal ends the wait with -EINTR and it is not
 * retried here: the caller must run its signal handlers
 * (PyErr_CheckSignals) and then wait again with the time that is left. */
int ac_poller_wait(ac_poller *p, int timeout_ms, ac_poll_event *out, int max);

/* In a child after fork(): the kernel set is still shared with the parent,
 * so changing it would change the parent's.  This drops the child's
 * reference to it and builds a new one from the table; fds that are no
 * longer open are dropped from the table. */
int ac_poller_reinit_after_fork(ac_poller *p);

/* The kernel object's fd (to watch the poller from another poller). */
int ac_poller_fd(const ac_poller *p);

void ac_poller_get_stats(const ac_poller *p, ac_poller_stats *st);

/* Milliseconds for a wait of `seconds`, rounded up so that a timer is
 * never woken before it is due (a wait rounded down would return early
 * and spin until the deadline): 0 for seconds <= 0, INT32_MAX at most. */
static inline int
ac_poller_timeout_ms(double seconds)
{
    if (!(seconds > 0.0)) {
        return 0;
    }
    double ms = seconds * 1000.0;
    if (ms >= (double)INT32_MAX) {
        return INT32_MAX;
    }
    int whole = (int)ms;
    return (double)whole < ms ? whole + 1 : whole;
}

#endif /* AC_POLLER_H */
