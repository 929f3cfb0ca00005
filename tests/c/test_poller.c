/* test_poller.c -- src/poller_epoll.c alone, on real pipes, socketpairs,
 * files, signals and fork().
 *
 * Built and run by tests/test_c_layers.py; by hand:
 *   gcc -std=c11 -O1 -g -fsanitize=address,undefined -Isrc \
 *       tests/c/test_poller.c src/poller_epoll.c -o /tmp/t && /tmp/t */
#define _GNU_SOURCE
#include "poller.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXEV 64

static ac_poll_event ev[MAXEV];

/* One wait; returns the number of events (or -errno). */
static int
poll_once(ac_poller *p, int timeout_ms)
{
    return ac_poller_wait(p, timeout_ms, ev, MAXEV);
}

/* The events reported for fd by the last poll_once of n events (0: none);
 * -1 if fd was reported twice. */
static int
events_for(int n, int fd)
{
    int found = 0;
    unsigned e = 0;
    for (int i = 0; i < n; i++) {
        if (ev[i].fd == fd) {
            found++;
            e = ev[i].events;
        }
    }
    return found > 1 ? -1 : (int)e;
}

static uint64_t
ctl_calls(const ac_poller *p)
{
    ac_poller_stats st;
    ac_poller_get_stats(p, &st);
    return st.ctl_calls;
}

static int
make_pipe(int fds[2])
{
    return pipe2(fds, O_NONBLOCK | O_CLOEXEC);
}

static int
make_socketpair(int fds[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                      fds);
}

static int
put_byte(int fd)
{
    return write(fd, "x", 1) == 1 ? 0 : -1;
}

static void
test_create_close(void)
{
    ac_poller *p = NULL;
    REQUIRE(ac_poller_create(&p) == 0 && p != NULL);
    int epfd = ac_poller_fd(p);
    CHECK(epfd >= 0);
    CHECK(fcntl(epfd, F_GETFD) & FD_CLOEXEC);
    CHECK(poll_once(p, 0) == 0);
    CHECK(ac_poller_wait(p, 0, ev, 0) == -EINVAL);
    ac_poller_close(p);
    CHECK(fcntl(epfd, F_GETFD) == -1 && errno == EBADF);
    ac_poller_close(NULL);
}

static void
test_pipe_readable(void)
{
    ac_poller *p;
    int fds[2];
    int tag;
    REQUIRE(ac_poller_create(&p) == 0);
    REQUIRE(make_pipe(fds) == 0);
    CHECK(ac_poller_set(p, fds[0], AC_POLL_READ, &tag) == 0);
    CHECK(poll_once(p, 0) == 0);
    CHECK(put_byte(fds[1]) == 0);
    int n = poll_once(p, 1000);
    CHECK(n == 1);
    CHECK(ev[0].fd == fds[0] && ev[0].events == AC_POLL_READ
          && ev[0].data == &tag);
    /* Level-triggered: still reported while unread. */
    n = poll_once(p, 0);
    CHECK(n == 1 && events_for(n, fds[0]) == AC_POLL_READ);
    char c;
    CHECK(read(fds[0], &c, 1) == 1);
    CHECK(poll_once(p, 0) == 0);
    ac_poller_close(p);
    close(fds[0]);
    close(fds[1]);
}

static void
test_socket_writable(void)
{
    ac_poller *p;
    int sv[2];
    REQUIRE(ac_poller_create(&p) == 0);
    REQUIRE(make_socketpair(sv) == 0);
    CHECK(ac_poller_set(p, sv[0], AC_POLL_WRITE, NULL) == 0);
    int n = poll_once(p, 0);
    CHECK(n == 1 && events_for(n, sv[0]) == AC_POLL_WRITE);
    /* Fill the socket: no longer writable. */
    char buf[65536];
    memset(buf, 'y', sizeof(buf));
    while (write(sv[0], buf, sizeof(buf)) > 0) {
    }
    CHECK(errno == EAGAIN);
    CHECK(poll_once(p, 0) == 0);
    /* Drain the peer: writable again. */
    while (read(sv[1], buf, sizeof(buf)) > 0) {
    }
    n = poll_once(p, 1000);
    CHECK(n == 1 && events_for(n, sv[0]) == AC_POLL_WRITE);
    ac_poller_close(p);
    close(sv[0]);
    close(sv[1]);
}

static void
test_read_and_write(void)
{
    ac_poller *p;
    int sv[2];
    REQUIRE(ac_poller_create(&p) == 0);
    REQUIRE(make_socketpair(sv) == 0);
    CHECK(ac_poller_set(p, sv[0], AC_POLL_READ | AC_POLL_WRITE, NULL) == 0);
    CHECK(ac_poller_set(p, sv[1], AC_POLL_READ, NULL) == 0);
    int n = poll_once(p, 0);
    CHECK(n == 1 && events_for(n, sv[0]) == AC_POLL_WRITE);
    CHECK(put_byte(sv[1]) == 0);
    n = poll_once(p, 0);
    CHECK(n == 1 && events_for(n, sv[0]) == (AC_POLL_READ | AC_POLL_WRITE));
    CHECK(put_byte(sv[0]) == 0);
    n = poll_once(p, 0);
    CHECK(n == 2 && events_for(n, sv[1]) == AC_POLL_READ);
    CHECK(ac_poller_get(p, sv[0], NULL) == (AC_POLL_READ | AC_POLL_WRITE));
    CHECK(ac_poller_get(p, sv[1], NULL) == AC_POLL_READ);
    CHECK(ac_poller_get(p, 100000, NULL) == 0);
    CHECK(ac_poller_get(p, -1, NULL) == 0);
    ac_poller_close(p);
    close(sv[0]);
    close(sv[1]);
}

/* The kernel is asked only when the interest changes; data alone changes
 * without a call. */
static void
test_interest_changes(void)
{
    ac_poller *p;
    int sv[2];
    int d1, d2;
    void *data;
    REQUIRE(ac_poller_create(&p) == 0);
    REQUIRE(make_socketpair(sv) == 0);
    CHECK(put_byte(sv[1]) == 0);            /* sv[0]: readable and writable */
    uint64_t c0 = ctl_calls(p);
    CHECK(ac_poller_set(p, sv[0], AC_POLL_READ, &d1) == 0);
    CHECK(ctl_calls(p) == c0 + 1);
    CHECK(ac_poller_set(p, sv[0], AC_POLL_READ, &d2) == 0);
    CHECK(ctl_calls(p) == c0 + 1);
    CHECK(ac_poller_get(p, sv[0], &data) == AC_POLL_READ && data == &d2);
    int n = poll_once(p, 0);
    CHECK(n == 1 && ev[0].events == AC_POLL_READ && ev[0].data == &d2);
    CHECK(ac_poller_set(p, sv[0], AC_POLL_READ | AC_POLL_WRITE, &d2) == 0);
    CHECK(ctl_calls(p) == c0 + 2);
    n = poll_once(p, 0);
    CHECK(n == 1 && ev[0].events == (AC_POLL_READ | AC_POLL_WRITE));
    CHECK(ac_poller_set(p, sv[0], AC_POLL_WRITE, &d2) == 0);
    CHECK(ctl_calls(p) == c0 + 3);
    n = poll_once(p, 0);
    CHECK(n == 1 && ev[0].events == AC_POLL_WRITE);
    /* Removal: nothing reported although it is readable and writable. */
    CHECK(ac_poller_set(p, sv[0], 0, &d2) == 0);
    CHECK(ctl_calls(p) == c0 + 4);
    CHECK(ac_poller_get(p, sv[0], &data) == 0 && data == NULL);
    CHECK(poll_once(p, 0) == 0);
    CHECK(ac_poller_set(p, sv[0], 0, NULL) == 0);
    CHECK(ctl_calls(p) == c0 + 4);
    /* Back again after removal. */
    CHECK(ac_poller_set(p, sv[0], AC_POLL_READ, &d1) == 0);
    n = poll_once(p, 0);
    CHECK(n == 1 && ev[0].events == AC_POLL_READ && ev[0].data == &d1);
    ac_poller_close(p);
    close(sv[0]);
    close(sv[1]);
}

static void
test_bad_arguments(void)
{
    ac_poller *p;
    int fds[2];
    REQUIRE(ac_poller_create(&p) == 0);
    REQUIRE(make_pipe(fds) == 0);
    CHECK(ac_poller_set(p, -1, AC_POLL_READ, NULL) == -EBADF);
    CHECK(ac_poller_set(p, fds[0], 0x10, NULL) == -EINVAL);
    CHECK(ac_poller_set(p, fds[0], AC_POLL_ERROR, NULL) == -EINVAL);
    CHECK(ac_poller_get(p, fds[0], NULL) == 0);
    /* Closed fds and absurd fd numbers: EBADF, nothing recorded. */
    int closed = dup(fds[0]);
    close(closed);
    CHECK(ac_poller_set(p, closed, AC_POLL_READ, NULL) == -EBADF);
    CHECK(ac_poller_get(p, closed, NULL) == 0);
    CHECK(ac_poller_set(p, 1 << 29, AC_POLL_READ, NULL) == -EBADF);
    CHECK(ac_poller_set(p, 1 << 29, 0, NULL) == 0);
    /* The poller cannot watch itself. */
    CHECK(ac_poller_set(p, ac_poller_fd(p), AC_POLL_READ, NULL) == -EINVAL);
    ac_poller_close(p);
    close(fds[0]);
    close(fds[1]);
}

/* Regular files and directories: -EPERM, and the table is unchanged. */
static void
test_eperm_regular_file(void)
{
    ac_poller *p;
    char path[] = "/tmp/ac_poller_test_XXXXXX";
    REQUIRE(ac_poller_create(&p) == 0);
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    unlink(path);
    CHECK(ac_poller_set(p, fd, AC_POLL_READ, NULL) == -EPERM);
    CHECK(ac_poller_set(p, fd, AC_POLL_WRITE, NULL) == -EPERM);
    CHECK(ac_poller_get(p, fd, NULL) == 0);
    CHECK(ac_poller_set(p, fd, 0, NULL) == 0);
    int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(dir >= 0);
    CHECK(ac_poller_set(p, dir, AC_POLL_READ, NULL) == -EPERM);
    CHECK(poll_once(p, 0) == 0);
    close(dir);
    close(fd);
    ac_poller_close(p);
}

/* Pitfall 1 and 5: an fd closed and its number reused. */
static void
test_closed_and_reused(void)
{
    ac_poller *p;
    int a[2], b[2];
    REQUIRE(ac_poller_create(&p) == 0);

    /* (a) By the rule: interest set to 0 after the close (the DEL's EBADF
     * is success), then the reused number is added afresh. */
    REQUIRE(make_pipe(a) == 0);
    CHECK(ac_poller_set(p, a[0], AC_POLL_READ, NULL) == 0);
    close(a[0]);
    close(a[1]);
    CHECK(ac_poller_set(p, a[0], 0, NULL) == 0);
    CHECK(ac_poller_get(p, a[0], NULL) == 0);
    REQUIRE(make_pipe(b) == 0);
    CHECK(b[0] == a[0]);                    /* lowest free number */
    CHECK(ac_poller_set(p, b[0], AC_POLL_READ, NULL) == 0);
    CHECK(put_byte(b[1]) == 0);
    int n = poll_once(p, 1000);
    CHECK(n == 1 && events_for(n, b[0]) == AC_POLL_READ);
    CHECK(ac_poller_set(p, b[0], 0, NULL) == 0);
    close(b[0]);
    close(b[1]);

    /* (b) The rule broken, but the mask changes: MOD fails with ENOENT
     * (the kernel dropped the closed fd) and is retried as ADD. */
    REQUIRE(make_pipe(a) == 0);
    CHECK(ac_poller_set(p, a[0], AC_POLL_READ, NULL) == 0);
    close(a[0]);
    close(a[1]);
    REQUIRE(make_pipe(b) == 0);
    CHECK(b[0] == a[0]);
    uint64_t c0 = ctl_calls(p);
    CHECK(ac_poller_set(p, b[0], AC_POLL_READ | AC_POLL_WRITE, NULL) == 0);
    CHECK(ctl_calls(p) == c0 + 2);          /* MOD (ENOENT), then ADD */
    CHECK(poll_once(p, 0) == 0);            /* a pipe's read end: no WRITE */
    CHECK(put_byte(b[1]) == 0);
    n = poll_once(p, 1000);
    CHECK(n == 1 && events_for(n, b[0]) == AC_POLL_READ);
    CHECK(ac_poller_set(p, b[0], 0, NULL) == 0);
    close(b[0]);
    close(b[1]);

    /* (c) The documented hole: the rule broken and the same mask set
     * again makes no kernel call, so the new pipe is not watched.  If this
     * ever changes, update poller_epoll.c's pitfall 5 and poller.h. */
    REQUIRE(make_pipe(a) == 0);
    CHECK(ac_poller_set(p, a[0], AC_POLL_READ, NULL) == 0);
    close(a[0]);
    close(a[1]);
    REQUIRE(make_pipe(b) == 0);
    CHECK(b[0] == a[0]);
    c0 = ctl_calls(p);
    CHECK(ac_poller_set(p, b[0], AC_POLL_READ, NULL) == 0);
    CHECK(ctl_calls(p) == c0);
    CHECK(put_byte(b[1]) == 0);
    CHECK(poll_once(p, 0) == 0);
    /* ...and the way out: 0, then the interest again. */
    CHECK(ac_poller_set(p, b[0], 0, NULL) == 0);
    CHECK(ac_poller_set(p, b[0], AC_POLL_READ, NULL) == 0);
    n = poll_once(p, 0);
    CHECK(n == 1 && events_for(n, b[0]) == AC_POLL_READ);
    close(b[0]);
    close(b[1]);
    ac_poller_close(p);
}

/* Pitfall 5: the kernel already has an fd the table does not know (added
 * behind the poller's back): ADD fails with EEXIST and is retried as MOD. */
static void
test_eexist(void)
{
    ac_poller *p;
    int fds[2];
    REQUIRE(ac_poller_create(&p) == 0);
    REQUIRE(make_pipe(fds) == 0);
    struct epoll_event e;
    memset(&e, 0, sizeof(e));
    e.events = EPOLLOUT;
    e.data.u64 = (uint32_t)fds[0];
    REQUIRE(epoll_ctl(ac_poller_fd(p), EPOLL_CTL_ADD, fds[0], &e) == 0);
    uint64_t c0 = ctl_calls(p);
    CHECK(ac_poller_set(p, fds[0], AC_POLL_READ, NULL) == 0);
    CHECK(ctl_calls(p) == c0 + 2);
    CHECK(put_byte(fds[1]) == 0);
    int n = poll_once(p, 1000);
    CHECK(n == 1 && events_for(n, fds[0]) == AC_POLL_READ);
    ac_poller_stats st;
    ac_poller_get_stats(p, &st);
    CHECK(st.stale == 0);
    ac_poller_close(p);
    close(fds[0]);
    close(fds[1]);
}

/* Pitfall 2: a dup keeps a closed fd's registration alive; its events are
 * dropped and the set is rebuilt without it. */
static void
test_dup_ghost(void)
{
    ac_poller *p;
    int a[2], b[2];
    ac_poller_stats st;
    struct epoll_event raw[4];
    REQUIRE(ac_poller_create(&p) == 0);
    int epfd = ac_poller_fd(p);
    REQUIRE(make_pipe(a) == 0);
    int keep = dup(a[0]);
    REQUIRE(keep >= 0);
    CHECK(ac_poller_set(p, a[0], AC_POLL_READ, NULL) == 0);
    close(a[0]);
    CHECK(ac_poller_set(p, a[0], 0, NULL) == 0);   /* DEL: EBADF */
    CHECK(put_byte(a[1]) == 0);
    /* The kernel still reports the closed fd... */
    CHECK(epoll_wait(epfd, raw, 4, 0) == 1);
    /* ...the poller does not, and rebuilds its set without it. */
    CHECK(poll_once(p, 0) == 0);
    ac_poller_get_stats(p, &st);
    CHECK(st.stale == 1 && st.rebuilds == 1);
    CHECK(ac_poller_fd(p) == epfd);                /* same fd number */
    CHECK(epoll_wait(epfd, raw, 4, 0) == 0);
    CHECK(poll_once(p, 0) == 0);
    ac_poller_get_stats(p, &st);
    CHECK(st.stale == 1 && st.rebuilds == 1);

    /* Again, with the number reused and watched anew: the new pipe's
     * events come through, the ghost's (old generation) do not. */
    int c[2];
    REQUIRE(make_pipe(c) == 0);
    int keep2 = dup(c[0]);                  /* keeps c[0]'s description */
    REQUIRE(keep2 >= 0);
    CHECK(ac_poller_set(p, c[0], AC_POLL_READ, NULL) == 0);
    close(c[0]);
    CHECK(ac_poller_set(p, c[0], 0, NULL) == 0);
    REQUIRE(make_pipe(b) == 0);
    CHECK(b[0] == c[0]);
    CHECK(ac_poller_set(p, b[0], AC_POLL_READ, NULL) == 0);
    CHECK(put_byte(b[1]) == 0);
    CHECK(put_byte(c[1]) == 0);
    CHECK(epoll_wait(epfd, raw, 4, 0) == 2);   /* the ghost and b[0] */
    int n = poll_once(p, 0);
    CHECK(n == 1 && events_for(n, b[0]) == AC_POLL_READ);
    ac_poller_get_stats(p, &st);
    CHECK(st.stale == 2 && st.rebuilds == 2);
    n = poll_once(p, 0);
    CHECK(n == 1 && events_for(n, b[0]) == AC_POLL_READ);
    ac_poller_get_stats(p, &st);
    CHECK(st.stale == 2 && st.rebuilds == 2);
    ac_poller_close(p);
    close(keep);
    close(keep2);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    close(c[1]);
}

/* EPOLLHUP and EPOLLERR come as READ/WRITE of the interest, flagged. */
static void
test_hup_and_error(void)
{
    ac_poller *p;
    int a[2], b[2];
    REQUIRE(ac_poller_create(&p) == 0);
    REQUIRE(make_pipe(a) == 0);
    CHECK(ac_poller_set(p, a[0], AC_POLL_READ, NULL) == 0);
    close(a[1]);                            /* writer gone */
    int n = poll_once(p, 1000);
    CHECK(n == 1 && events_for(n, a[0]) == (AC_POLL_READ | AC_POLL_HUP));
    CHECK(ac_poller_set(p, a[0], 0, NULL) == 0);
    REQUIRE(make_pipe(b) == 0);
    CHECK(ac_poller_set(p, b[1], AC_POLL_WRITE, NULL) == 0);
    close(b[0]);                            /* reader gone */
    n = poll_once(p, 1000);
    CHECK(n == 1 && events_for(n, b[1]) == (AC_POLL_WRITE | AC_POLL_ERROR));
    ac_poller_close(p);
    close(a[0]);
    close(b[1]);
}

/* More ready fds than the buffer holds: each wait returns at most max and
 * the others come next (the kernel rotates its ready list). */
static void
test_max_events(void)
{
    enum { NP = 8, MAX = 3 };
    ac_poller *p;
    int fds[NP][2];
    int seen[NP] = {0};
    REQUIRE(ac_poller_create(&p) == 0);
    for (int i = 0; i < NP; i++) {
        REQUIRE(make_pipe(fds[i]) == 0);
        CHECK(ac_poller_set(p, fds[i][0], AC_POLL_READ,
                            (void *)(intptr_t)i) == 0);
        CHECK(put_byte(fds[i][1]) == 0);
    }
    for (int round = 0; round < 3; round++) {
        int n = ac_poller_wait(p, 0, ev, MAX);
        CHECK(n == MAX);
        for (int k = 0; k < n; k++) {
            int i = (int)(intptr_t)ev[k].data;
            CHECK(i >= 0 && i < NP && ev[k].fd == fds[i][0]);
            seen[i]++;
        }
    }
    for (int i = 0; i < NP; i++) {
        CHECK(seen[i] >= 1);
        close(fds[i][0]);
        close(fds[i][1]);
    }
    ac_poller_close(p);
}

static void
test_timeout(void)
{
    ac_poller *p;
    REQUIRE(ac_poller_create(&p) == 0);
    double t0 = now_sec();
    CHECK(poll_once(p, 50) == 0);
    double dt = now_sec() - t0;
    CHECK(dt >= 0.045 && dt < 2.0);
    ac_poller_close(p);

    CHECK(ac_poller_timeout_ms(0.0) == 0);
    CHECK(ac_poller_timeout_ms(-1.0) == 0);
    CHECK(ac_poller_timeout_ms(NAN) == 0);
    CHECK(ac_poller_timeout_ms(1e-9) == 1);
    CHECK(ac_poller_timeout_ms(0.001) == 1);
    CHECK(ac_poller_timeout_ms(0.0011) == 2);
    CHECK(ac_poller_timeout_ms(0.5) == 500);
    CHECK(ac_poller_timeout_ms(2.0004) == 2001);
    CHECK(ac_poller_timeout_ms(1e12) == INT32_MAX);
    CHECK(ac_poller_timeout_ms(INFINITY) == INT32_MAX);
}

static volatile sig_atomic_t got_alarm;

static void
on_alarm(int sig)
{
    (void)sig;
    got_alarm = 1;
}

/* A signal ends the wait with -EINTR (not retried inside). */
static void
test_eintr(void)
{
    ac_poller *p;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;      /* epoll_wait is never restarted anyway */
    sigemptyset(&sa.sa_mask);
    REQUIRE(ac_poller_create(&p) == 0);
    REQUIRE(sigaction(SIGALRM, &sa, &old) == 0);
    struct itimerval it;
    memset(&it, 0, sizeof(it));
    it.it_value.tv_usec = 20000;
    got_alarm = 0;
    double t0 = now_sec();
    REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
    int rc = poll_once(p, 5000);
    double dt = now_sec() - t0;
    CHECK(rc == -EINTR);
    CHECK(got_alarm == 1);
    CHECK(dt < 2.0);
    sigaction(SIGALRM, &old, NULL);
    ac_poller_close(p);
}

/* Pitfall 4: after fork the child's changes would reach the parent's set,
 * unless the child reinitialises its poller. */
static void
test_fork(void)
{
    ac_poller *p;
    int fds[2];
    int status;
    REQUIRE(ac_poller_create(&p) == 0);
    REQUIRE(make_pipe(fds) == 0);
    CHECK(ac_poller_set(p, fds[0], AC_POLL_READ, NULL) == 0);
    CHECK(put_byte(fds[1]) == 0);

    /* Control: a child that does NOT reinitialise removes the fd from the
     * set the parent still uses. */
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        _exit(ac_poller_set(p, fds[0], 0, NULL) == 0 ? 0 : 1);
    }
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(poll_once(p, 0) == 0);            /* the parent lost its interest */
    /* Repair: the table still says READ, so clear (DEL: ENOENT) and set. */
    CHECK(ac_poller_set(p, fds[0], 0, NULL) == 0);
    CHECK(ac_poller_set(p, fds[0], AC_POLL_READ, NULL) == 0);
    int n = poll_once(p, 0);
    CHECK(n == 1 && events_for(n, fds[0]) == AC_POLL_READ);

    /* A child that reinitialises: has a working set of its own, and its
     * changes leave the parent's alone. */
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int parent_epfd = ac_poller_fd(p);
        int ok = ac_poller_reinit_after_fork(p) == 0
                 && ac_poller_fd(p) == parent_epfd
                 && ac_poller_get(p, fds[0], NULL) == AC_POLL_READ
                 && ac_poller_wait(p, 0, ev, MAXEV) == 1
                 && ev[0].fd == fds[0]
                 && ac_poller_set(p, fds[0], 0, NULL) == 0
                 && ac_poller_wait(p, 0, ev, MAXEV) == 0;
        _exit(ok ? 0 : 1);
    }
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    n = poll_once(p, 0);
    CHECK(n == 1 && events_for(n, fds[0]) == AC_POLL_READ);
    ac_poller_close(p);
    close(fds[0]);
    close(fds[1]);
}

/* Many fds, far apart: the table grows, every one is reported. */
static void
test_many_fds(void)
{
    enum { NP = 200 };
    ac_poller *p;
    int fds[NP][2];
    int seen[NP] = {0};
    REQUIRE(ac_poller_create(&p) == 0);
    for (int i = 0; i < NP; i++) {
        REQUIRE(make_pipe(fds[i]) == 0);
        /* Move every other read end up high, to a sparse number. */
        if (i % 2 == 1) {
            int high = fcntl(fds[i][0], F_DUPFD_CLOEXEC, 1000 + i * 7);
            REQUIRE(high >= 0);
            close(fds[i][0]);
            fds[i][0] = high;
        }
        CHECK(ac_poller_set(p, fds[i][0], AC_POLL_READ,
                            (void *)(intptr_t)i) == 0);
    }
    for (int i = 0; i < NP; i += 4) {
        CHECK(put_byte(fds[i][1]) == 0);
    }
    int n = poll_once(p, 1000);
    CHECK(n == NP / 4);       /* 50: fits in MAXEV */
    for (int k = 0; k < n; k++) {
        int i = (int)(intptr_t)ev[k].data;
        CHECK(i % 4 == 0 && ev[k].fd == fds[i][0]);
        seen[i]++;
    }
    for (int i = 0; i < NP; i++) {
        CHECK(seen[i] == (i % 4 == 0));
        CHECK(ac_poller_set(p, fds[i][0], 0, NULL) == 0);
        close(fds[i][0]);
        close(fds[i][1]);
    }
    ac_poller_close(p);
}

int
main(void)
{
    RUN(test_create_close);
    RUN(test_pipe_readable);
    RUN(test_socket_writable);
    RUN(test_read_and_write);
    RUN(test_interest_changes);
    RUN(test_bad_arguments);
    RUN(test_eperm_regular_file);
    RUN(test_closed_and_reused);
    RUN(test_eexist);
    RUN(test_dup_ghost);
    RUN(test_hup_and_error);
    RUN(test_max_events);
    RUN(test_timeout);
    RUN(test_eintr);
    RUN(test_fork);
    RUN(test_many_fds);
    return summary();
}
