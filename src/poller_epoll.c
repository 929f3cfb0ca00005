/* poller_epoll.c -- poller.h on Linux epoll, level-triggered.
 *
 * epoll's pitfalls, and what this file does about each:
 *
 * 1. Closed fds silently leave the set.  epoll watches open file
 *    descriptions, not fd numbers, and a registration disappears by itself
 *    when the last fd naming its description is closed.  The table cannot
 *    see a close, so callers must set the interest to 0 around it.  A DEL
 *    of an fd that is already closed (EBADF) or whose number now names a
 *    file the set does not have (ENOENT) counts as success: the table entry
 *    is cleared either way.
 *
 * 2. Dup'ed fds keep a closed fd in the set.  Only the *last* close removes
 *    the registration; while a dup (dup(), an fd inherited by a child, one
 *    sent over SCM_RIGHTS) keeps the description open, the kernel goes on
 *    reporting it under the old fd number, which can no longer remove it
 *    (epoll_ctl takes an fd, and that number is closed or names another
 *    file).  Level-triggered, such a ghost would wake every wait forever.
 *    So each registration carries (generation << 32 | fd) as its event data,
 *    the fd's generation being bumped at every ADD.  An event for an fd
 *    without interest in the table, or with another generation, is a ghost:
 *    it is dropped, and at the end of that wait the kernel set is rebuilt
 *    from the table, which leaves the ghost behind with the old set.  That
 *    costs O(watched fds) and only happens when a caller broke rule 1.
 *    Limit: a ghost with the generation the table expects (the fd was
 *    closed without setting 0, and its number not touched since) looks
 *    exactly like the fd and is reported as it; the caller's read or write
 *    then fails with EBADF.
 *
 * 3. Regular files and directories cannot be polled: ADD fails with EPERM.
 *    It is returned as -EPERM and the table is unchanged (asyncio's
 *    add_reader raises PermissionError for them too).
 *
 * 4. fork() shares the set.  The child's epoll fd is the parent's kernel
 *    object, so the child's epoll_ctl calls change the parent's interests.
 *    ac_poller_reinit_after_fork builds the child a set of its own from the
 *    table and leaves the parent's alone.  The epoll fd is O_CLOEXEC, so
 *    programs exec'd by children never hold it.
 *
 * 5. The kernel set and the table disagree (after 1, 2 or 4): ADD of an fd
 *    the kernel already has fails with EEXIST and is retried as MOD; MOD of
 *    an fd it lacks (closed, number reused) fails with ENOENT and is
 *    retried as ADD.  An unchanged mask makes no call at all, so a reused
 *    fd whose old interest was never cleared and that is given the same
 *    mask again is NOT registered: that is why rule 1 exists (asyncio's
 *    selectors have the same hole).
 *
 * 6. EPOLLERR and EPOLLHUP are reported whether asked for or not.  They are
 *    folded into READ and WRITE of the fd's interest (and flagged), as
 *    selectors.EpollSelector does, so the owner meets the error in its own
 *    read or write.  An fd is never left in the set with an empty mask
 *    (mask 0 means DEL), so a hung-up fd nobody listens to cannot spin.
 *
 * 7. EPOLLRDHUP is not used.  Level-triggered, it stays raised after the
 *    peer's shutdown, so a transport that paused reading (interest WRITE
 *    only) would be woken on every wait.  A half-close is seen by read()
 *    returning 0 when the interest includes READ, as in asyncio.
 *
 * 8. epoll_wait takes milliseconds; ac_poller_timeout_ms rounds up so that
 *    a wait never ends before the timer it waits for.  A signal ends the
 *    wait with EINTR, which is returned, not retried: only the caller can
 *    run Python's signal handlers.  epoll_ctl never fails with EINTR.
 *
 * 9. More ready fds than the caller's buffer holds: the rest stay ready
 *    (level-triggered) and come with the next wait; the kernel rotates its
 *    ready list, so none starves.
 *
 * 10. The table is indexed by fd, so its memory follows the highest fd
 *    watched (16 bytes per fd).  A new fd is checked by the kernel (ADD)
 *    before the table grows for it, so a bogus huge fd allocates nothing. */
#define _GNU_SOURCE
#include "poller.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define POLL_MASK (AC_POLL_READ | AC_POLL_WRITE)
#define TABLE_MIN 64

typedef struct {
    unsigned mask;      /* interest registered with the kernel; 0: none */
    uint32_t gen;       /* bumped at every ADD, see pitfall 2 */
    void *data;
} fd_entry;

struct ac_poller {
    int epfd;
    int stale;                  /* a ghost was seen: rebuild the set */
    fd_entry *table;
    size_t table_len;
    struct epoll_event *evbuf;
    size_t evbuf_len;
    ac_poller_stats stats;
};

static int
ctl(ac_poller *p, int epfd, int op, int fd, unsigned mask, uint32_t gen)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = ((mask & AC_POLL_READ) ? EPOLLIN : 0)
                | ((mask & AC_POLL_WRITE) ? EPOLLOUT : 0);
    ev.data.u64 = ((uint64_t)gen << 32) | (uint32_t)fd;
    p->stats.ctl_calls++;
    if (epoll_ctl(epfd, op, fd, &ev) < 0) {
        return -errno;
    }
    return 0;
}

/* Makes the table cover fd; new entries are empty. */
static int
table_fit(ac_poller *p, int fd)
{
    size_t need = (size_t)fd + 1;
    if (need <= p->table_len) {
        return 0;
    }
    size_t len = p->table_len != 0 ? p->table_len : TABLE_MIN;
    while (len < need) {
        len *= 2;
    }
    if (len > SIZE_MAX / sizeof(fd_entry)) {
        return -ENOMEM;
    }
    fd_entry *t = realloc(p->table, len * sizeof(fd_entry));
    if (t == NULL) {
        return -ENOMEM;
    }
    memset(t + p->table_len, 0, (len - p->table_len) * sizeof(fd_entry));
    p->table = t;
    p->table_len = len;
    return 0;
}

int
ac_poller_create(ac_poller **out)
{
    *out = NULL;
    ac_poller *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        int rc = -errno;
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void
ac_poller_close(ac_poller *p)
{
    if (p == NULL) {
        return;
    }
    /* Not retried on EINTR: on Linux the fd is released even then, and a
     * retry could close an fd another thread just got. */
    (void)close(p->epfd);
    free(p->table);
    free(p->evbuf);
    free(p);
}

int
ac_poller_fd(const ac_poller *p)
{
    return p->epfd;
}

void
ac_poller_get_stats(const ac_poller *p, ac_poller_stats *st)
{
    *st = p->stats;
}

unsigned
ac_poller_get(const ac_poller *p, int fd, void **data)
{
    unsigned mask = 0;
    void *d = NULL;
    if (fd >= 0 && (size_t)fd < p->table_len) {
        mask = p->table[fd].mask;
        d = p->table[fd].data;
    }
    if (data != NULL) {
        *data = d;
    }
    return mask;
}

int
ac_poller_set(ac_poller *p, int fd, unsigned mask, void *data)
{
    if (fd < 0) {
        return -EBADF;
    }
    if (mask & ~POLL_MASK) {
        return -EINVAL;
    }
    int known = (size_t)fd < p->table_len;
    unsigned old = known ? p->table[fd].mask : 0;
    uint32_t gen = known ? p->table[fd].gen : 0;
    int rc;

    if (mask == old) {
        if (mask != 0) {
            p->table[fd].data = data;
        }
        return 0;
    }
    if (mask == 0) {
        rc = ctl(p, p->epfd, EPOLL_CTL_DEL, fd, 0, gen);
        if (rc < 0 && rc != -EBADF && rc != -ENOENT) {
            return rc;
        }
        p->table[fd].mask = 0;
        p->table[fd].data = NULL;
        return 0;
    }
    if (old == 0) {
        gen++;
        rc = ctl(p, p->epfd, EPOLL_CTL_ADD, fd, mask, gen);
        if (rc == -EEXIST) {
            rc = ctl(p, p->epfd, EPOLL_CTL_MOD, fd, mask, gen);
        }
    }
    else {
        rc = ctl(p, p->epfd, EPOLL_CTL_MOD, fd, mask, gen);
        if (rc == -ENOENT) {
            gen++;
            rc = ctl(p, p->epfd, EPOLL_CTL_ADD, fd, mask, gen);
        }
    }
    if (rc < 0) {
        return rc;
    }
    if (!known) {
        rc = table_fit(p, fd);
        if (rc < 0) {
            (void)ctl(p, p->epfd, EPOLL_CTL_DEL, fd, 0, gen);
            return rc;
        }
    }
    p->table[fd].mask = mask;
    p->table[fd].gen = gen;
    p->table[fd].data = data;
    return 0;
}

/* A new kernel set from the table, put in place of the old one under the
 * same fd number.  Entries whose fd is no longer open (or cannot be polled
 * any more) are dropped.  On failure the old set stays. */
static int
rebuild(ac_poller *p)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        return -errno;
    }
    for (size_t fd = 0; fd < p->table_len; fd++) {
        fd_entry *e = &p->table[fd];
        if (e->mask == 0) {
            continue;
        }
        int rc = ctl(p, epfd, EPOLL_CTL_ADD, (int)fd, e->mask, e->gen);
        if (rc == -EBADF || rc == -EPERM) {
            e->mask = 0;
            e->data = NULL;
        }
        else if (rc < 0) {
            (void)close(epfd);
            return rc;
        }
    }
    /* dup3 swaps the object behind p->epfd atomically, closing the old
     * reference; EBUSY is Linux's transient race with a concurrent open. */
    int rc;
    do {
        rc = dup3(epfd, p->epfd, O_CLOEXEC);
    } while (rc < 0 && (errno == EINTR || errno == EBUSY));
    if (rc < 0) {
        (void)close(p->epfd);
        p->epfd = epfd;
    }
    else {
        (void)close(epfd);
    }
    p->stale = 0;
    p->stats.rebuilds++;
    return 0;
}

int
ac_poller_reinit_after_fork(ac_poller *p)
{
    return rebuild(p);
}

int
ac_poller_wait(ac_poller *p, int timeout_ms, ac_poll_event *out, int max)
{
    if (max <= 0) {
        return -EINVAL;
    }
    if (p->stale) {
        /* A rebuild that failed last time. */
        int rc = rebuild(p);
        if (rc < 0) {
            return rc;
        }
    }
    if ((size_t)max > p->evbuf_len) {
        struct epoll_event *buf = realloc(
            p->evbuf, (size_t)max * sizeof(struct epoll_event));
        if (buf == NULL) {
            return -ENOMEM;
        }
        p->evbuf = buf;
        p->evbuf_len = (size_t)max;
    }
    if (timeout_ms < -1) {
        timeout_ms = -1;
    }
    int n = epoll_wait(p->epfd, p->evbuf, max, timeout_ms);
    if (n < 0) {
        return -errno;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        uint32_t e = p->evbuf[i].events;
        uint64_t u = p->evbuf[i].data.u64;
        int fd = (int)(uint32_t)u;
        uint32_t gen = (uint32_t)(u >> 32);
        if (fd < 0 || (size_t)fd >= p->table_len
            || p->table[fd].mask == 0 || p->table[fd].gen != gen) {
            p->stats.stale++;
            p->stale = 1;
            continue;
        }
        unsigned ev = 0;
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            ev |= AC_POLL_READ;
        }
        if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            ev |= AC_POLL_WRITE;
        }
        ev &= p->table[fd].mask;
        if (ev == 0) {
            continue;
        }
        if (e & EPOLLERR) {
            ev |= AC_POLL_ERROR;
        }
        if (e & EPOLLHUP) {
            ev |= AC_POLL_HUP;
        }
        out[k].fd = fd;
        out[k].events = ev;
        out[k].data = p->table[fd].data;
        k++;
    }
    if (p->stale) {
        /* If this fails, the next wait tries again first; the events found
         * here are still valid. */
        (void)rebuild(p);
    }
    return k;
}
