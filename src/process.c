/* process.c -- child exit watching with a pidfd on the loop's poller.
 *
 * asyncio_c.Loop._make_subprocess_transport asks _core._watch_child(loop,
 * pid, callback) to report the exit of a child it started: a pidfd
 * (pidfd_open, Linux 5.3+) is watched for reading with a C fd watcher
 * (ac_loop_io_start), so no thread, no SIGCHLD handler and no Python
 * callback wait for it.  When the pidfd is readable the child has exited:
 * it is reaped with waitid(P_PIDFD) (bound to that very process, so no
 * other child's status is ever taken; waitpid(pid) on kernels without
 * P_PIDFD, where the unreaped zombie still holds the pid) and
 * callback(returncode) is scheduled with call_soon, one loop iteration
 * later, as asyncio's child watchers do through call_soon_threadsafe.
 * A child that exited before we looked is a zombie whose pidfd is readable
 * at once, so it is reported too.  A child reaped by someone else first
 * (Popen.wait() on the transport's process) is reported with returncode
 * 255 and a warning, as asyncio's PidfdChildWatcher does.
 *
 * ChildWatch: the watch's owner object; the loop's watch table holds it
 * while the child runs.  When it is dropped with the child not reaped (the
 * loop closed or collected with children alive) its pidfd goes to a
 * detached thread that blocks in waitid(P_PIDFD) and closes it: no zombie
 * is left behind and no Python runs in that thread.
 *
 * _core._watch_child returns True when watching, None when pidfds cannot be
 * used here (no pidfd_open, or forbidden by a seccomp filter: the caller
 * falls back to a waitpid thread), and raises ProcessLookupError when there
 * is no such process (already reaped elsewhere).  _core._children(loop):
 * {pid: "pidfd"} of the children watched now. */
#include "state.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

typedef struct {
    PyObject_HEAD
    PyObject *cw_loop;        /* the loop watching, NULL once reaped */
    PyObject *cw_callback;    /* callback(returncode) */
    PyObject *cw_context;     /* the context it runs in */
    pid_t cw_pid;
    int cw_pidfd;             /* -1 once reaped or handed to a reaper */
} ChildWatchObj;

#define CW(o) ((ChildWatchObj *)(o))

static int
pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* Reap the child of pidfd, blocking or not.  1 with *code set (exit status,
 * or -signal), 0 if it has not exited (nonblocking), -1 with errno. */
static int
reap(pid_t pid, int pidfd, int block, int *code)
{
    siginfo_t si;
    int flags = WEXITED | (block ? 0 : WNOHANG);
    for (;;) {
        memset(&si, 0, sizeof(si));
        if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, flags) == 0) {
            if (si.si_pid == 0) {
                return 0;
            }
            *code = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
            return 1;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EINVAL) {
            return -1;
        }
        /* a kernel without P_PIDFD (5.3): the zombie holds the pid */
        int status;
        pid_t r = waitpid(pid, &status, block ? 0 : WNOHANG);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return r;
        }
        *code = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
        return 1;
    }
}

typedef struct {
    pid_t pid;
    int pidfd;
} orphan;

static void *
orphan_reaper(void *arg)
{
    orphan o = *(orphan *)arg;
    free(arg);
    int code;
    (void)reap(o.pid, o.pidfd, 1, &code);
    close(o.pidfd);
    return NULL;
}

/* The child is no longer watched by a loop: reap it in a thread of its own
 * (or now, if it has exited or a thread cannot be made). */
static void
orphan_reap(pid_t pid, int pidfd)
{
    int code;
    if (reap(pid, pidfd, 0, &code) != 0) {
        close(pidfd);       /* reaped now, or not ours to reap */
        return;
    }
    orphan *o = malloc(sizeof(*o));
    pthread_attr_t attr;
    pthread_t th;
    int ok = 0;
    if (o != NULL && pthread_attr_init(&attr) == 0) {
        o->pid = pid;
        o->pidfd = pidfd;
        (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        (void)pthread_attr_setstacksize(&attr, 64 * 1024);
        ok = pthread_create(&th, &attr, orphan_reaper, o) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!ok) {
        free(o);
        close(pidfd);       /* nothing better: the zombie goes with us */
    }
}

/* The child is reaped: stop watching, close the pidfd. */
static void
watch_release(ChildWatchObj *self)
{
    int fd = self->cw_pidfd;
    self->cw_pidfd = -1;
    PyObject *exc = ac_err_take();
    if (ac_loop_io_stop(self->cw_loop, fd, AC_POLL_READ) < 0) {
        PyErr_Clear();
    }
    ac_err_give(exc);
    close(fd);
}

/* The pidfd is readable: the child has exited. */
static int
child_ready(PyObject *op)
{
    ChildWatchObj *self = CW(op);
    ac_state *st = AC_STATE_OF(op);
    int code;
    if (self->cw_pidfd < 0 || self->cw_loop == NULL) {
        return 0;
    }
    int r = reap(self->cw_pid, self->cw_pidfd, 0, &code);
    if (r == 0) {
        return 0;           /* not yet (level-triggered: asked again) */
    }
    Py_INCREF(op);          /* the watch table lets go of it below */
    PyObject *loop = self->cw_loop;
    watch_release(self);
    self->cw_loop = NULL;   /* our reference now */
    int rc = 0;
    if (r < 0) {
        /* ECHILD: someone else took the status (Popen.wait()) */
        code = 255;
        PyObject *res = PyObject_CallMethod(
            st->logger, "warning", "si",
            "child process pid %d exit status already read: "
            " will report returncode 255", (int)self->cw_pid);
        rc = res == NULL ? -1 : 0;
        Py_XDECREF(res);
    }
    if (rc == 0) {
        PyObject *value = PyLong_FromLong(code);
        rc = value == NULL ? -1
             : ac_call_soon(st, loop, self->cw_callback, value,
                            self->cw_context);
        Py_XDECREF(value);
    }
    if (rc < 0 && !PyErr_ExceptionMatches(PyExc_SystemExit) &&
        !PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        PyErr_WriteUnraisable(op);
        rc = 0;
    }
    Py_DECREF(loop);
    Py_DECREF(op);
    return rc;
}

static PyObject *
process_watch_child(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    ac_state *st = PyModule_GetState(mod);
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "_watch_child(loop, pid, callback) takes 3 arguments");
        return NULL;
    }
    PyObject *loop = args[0];
    if (!PyObject_TypeCheck(loop, (PyTypeObject *)st->LoopType)) {
        PyErr_SetString(PyExc_TypeError, "_watch_child: not an asyncio_c loop");
        return NULL;
    }
    long pid = PyLong_AsLong(args[1]);
    if (pid == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (pid <= 0 || pid != (long)(pid_t)pid) {
        PyErr_Format(PyExc_ValueError, "invalid pid %ld", pid);
        return NULL;
    }
    if (!PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "a callable object was expected");
        return NULL;
    }
    if (((LoopObj *)loop)->loop_closed) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return NULL;
    }
    int fd = pidfd_open_((pid_t)pid);
    if (fd < 0) {
        if (errno == ESRCH || errno == EMFILE || errno == ENFILE ||
            errno == ENOMEM) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        Py_RETURN_NONE;     /* ENOSYS, EPERM (seccomp), EINVAL... */
    }
    PyObject *ctx = PyContext_CopyCurrent();
    ChildWatchObj *self = ctx == NULL ? NULL
                          : PyObject_GC_New(ChildWatchObj, st->ChildWatchType);
    if (self == NULL) {
        Py_XDECREF(ctx);
        close(fd);
        return NULL;
    }
    self->cw_loop = Py_NewRef(loop);
    self->cw_callback = Py_NewRef(args[2]);
    self->cw_context = ctx;
    self->cw_pid = (pid_t)pid;
    self->cw_pidfd = fd;
    PyObject_GC_Track((PyObject *)self);
    if (ac_loop_io_start(loop, fd, AC_POLL_READ, child_ready,
                         (PyObject *)self) < 0) {
        Py_DECREF(self);    /* the child goes to a reaper */
        return NULL;
    }
    Py_DECREF(self);        /* the loop's watch table holds it */
    Py_RETURN_TRUE;
}

static PyObject *
process_children(PyObject *mod, PyObject *loop)
{
    ac_state *st = PyModule_GetState(mod);
    if (!PyObject_TypeCheck(loop, (PyTypeObject *)st->LoopType)) {
        PyErr_SetString(PyExc_TypeError, "_children: not an asyncio_c loop");
        return NULL;
    }
    PyObject *d = PyDict_New();
    LoopObj *l = (LoopObj *)loop;
    for (int fd = 0; d != NULL && fd < l->loop_nwatch; fd++) {
        ac_watch *w = &l->loop_watch[fd];
        if (w->rfn != child_ready) {
            continue;
        }
        PyObject *pid = PyLong_FromLong(CW(w->reader)->cw_pid);
        if (pid == NULL || PyDict_SetItem(d, pid, st->str_pidfd) < 0) {
            Py_CLEAR(d);
        }
        Py_XDECREF(pid);
    }
    return d;
}

static int
ChildWatch_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(CW(op)->cw_loop);
    Py_VISIT(CW(op)->cw_callback);
    Py_VISIT(CW(op)->cw_context);
    return 0;
}

static int
ChildWatch_clear(PyObject *op)
{
    Py_CLEAR(CW(op)->cw_loop);
    Py_CLEAR(CW(op)->cw_callback);
    Py_CLEAR(CW(op)->cw_context);
    return 0;
}

static void
ChildWatch_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    ChildWatchObj *self = CW(op);
    PyObject_GC_UnTrack(op);
    if (self->cw_pidfd >= 0) {
        /* dropped by its loop (closed or collected) with the child alive:
         * nothing is left to stop watching */
        int fd = self->cw_pidfd;
        self->cw_pidfd = -1;
        orphan_reap(self->cw_pid, fd);
    }
    (void)ChildWatch_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *
ChildWatch_repr(PyObject *op)
{
    return PyUnicode_FromFormat("<ChildWatch pid=%d pidfd=%d>",
                                (int)CW(op)->cw_pid, CW(op)->cw_pidfd);
}

static PyType_Slot ChildWatch_slots[] = {
    {Py_tp_dealloc, ChildWatch_dealloc},
    {Py_tp_traverse, ChildWatch_traverse},
    {Py_tp_clear, ChildWatch_clear},
    {Py_tp_repr, ChildWatch_repr},
    {0, NULL},
};

static PyType_Spec ChildWatch_spec = {
    .name = "asyncio_c._core.ChildWatch",
    .basicsize = sizeof(ChildWatchObj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = ChildWatch_slots,
};

static PyMethodDef process_functions[] = {
    {"_watch_child", (PyCFunction)(void (*)(void))process_watch_child,
     METH_FASTCALL,
     "_watch_child(loop, pid, callback): report the child's exit with "
     "callback(returncode); True, or None if pidfds cannot be used."},
    {"_children", process_children, METH_O,
     "_children(loop): {pid: 'pidfd'} of the children the loop watches."},
    {NULL, NULL, 0, NULL},
};

int
ac_process_init(PyObject *mod, ac_state *st)
{
    st->ChildWatchType = (PyTypeObject *)PyType_FromModuleAndSpec(
        mod, &ChildWatch_spec, NULL);
    if (st->ChildWatchType == NULL ||
        (st->str_pidfd = PyUnicode_InternFromString("pidfd")) == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(mod, process_functions);
}
