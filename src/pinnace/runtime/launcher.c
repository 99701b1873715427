/*
 * `pinnace-runtime`'s first step, native: start warming the kernel's cgroup
 * migration lock, then execute the Python runtime (PINNACE_RUNTIME_PYTHON)
 * with the same arguments.
 *
 * The first cgroup migration after a quiet spell waits for an RCU grace
 * period (5-10 ms here) and holds cgroup_mutex meanwhile, so every cgroup
 * mkdir or /proc/PID/cgroup read behind it waits too
 * (pinnace.runtime.cgroups.WarmUp).  In Python the warm-up can only begin
 * once the interpreter has started (~7 ms), and then the grace period lands
 * in the middle of create.  Begun here, it passes while the interpreter
 * starts.
 *
 * For a command line with create, run or exec in it (the words
 * pinnace.runtime.cli._CGROUP_VERBS names), this forks a *warmer*: it
 * writes 0 ("myself") to its own cgroup.procs -- a migration to where it
 * already is, which takes the lock -- and again every 3 ms, until the pipe
 * from the runtime reads end-of-file (the runtime closes it once the
 * container's cgroups are joined, or by exiting) or 0.5 s have passed.  The
 * runtime finds the pipe and the warmer's pid in PINNACE_RUNTIME_WARMER
 * ("FD,PID") and reaps the warmer before it exits.  The warmer keeps no
 * other descriptor, so a caller that waits for end-of-file on the runtime's
 * output never waits for it.
 *
 * For the same verbs it also starts stage 1 ahead (pinnace.runtime.linux.standby):
 * a child that executes PINNACE_RUNTIME_STAGE1 (the sealed interpreter's
 * `pinnace-runtime-init FD`), imports what the container's init needs and
 * waits on a socket for its job, while the runtime's own interpreter starts
 * on the other CPU.  The runtime finds the socket and the standby's pid in
 * PINNACE_RUNTIME_STANDBY ("FD,PID"); it hands the standby its job, or kills
 * and reaps it before exiting.
 *
 * Any failure here only skips the warm-up or the standby: the runtime itself
 * is all Python, and starts stage 1 itself without one.
 *
 * Built by setup.sh:  gcc -O2 -DPINNACE_RUNTIME_PYTHON='"..."' -DPINNACE_RUNTIME_STAGE1='"..."'
 *                         -o .venv/bin/pinnace-runtime launcher.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"
#define INTERVAL_MS 3
#define LIMIT_NS 500000000L
/* Where the pipe's end that crosses the exec goes: above any descriptor a caller passes on. */
#define FD_FLOOR 256

/* Whether a verb that moves processes into cgroups is among the arguments. */
static int moves_cgroups(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "create") == 0 || strcmp(argv[i], "run") == 0 || strcmp(argv[i], "exec") == 0)
            return 1;
    return 0;
}

/* Write the cgroup.procs of our cgroup to out (the pids hierarchy's, else the unified one's); 0 on success. */
static int own_procs_file(char *out, size_t size)
{
    char data[8192];
    int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t len = read(fd, data, sizeof data - 1);
    close(fd);
    if (len <= 0)
        return -1;
    data[len] = '\0';
    const char *unified = NULL;
    for (char *line = data, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *controllers = strchr(line, ':');
        char *path = controllers ? strchr(controllers + 1, ':') : NULL;
        if (!path)
            continue;
        *path++ = '\0';
        controllers++;
        if (strcmp(controllers, "pids") == 0) {
            int n = snprintf(out, size, CGROUP_ROOT "/pids%s/cgroup.procs", path);
            return n > 0 && (size_t)n < size ? 0 : -1;
        }
        if (*controllers == '\0')
            unified = path;
    }
    if (!unified)
        return -1;
    static const char *const BASES[] = {CGROUP_ROOT "/unified", CGROUP_ROOT};
    for (size_t i = 0; i < sizeof BASES / sizeof *BASES; i++) {
        int n = snprintf(out, size, "%s%s/cgroup.procs", BASES[i], unified);
        if (n > 0 && (size_t)n < size && access(out, W_OK) == 0)
            return 0;
    }
    return -1;
}

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/*
 * Pass our end ``fd`` of the link to the child ``pid`` on to the runtime, as "FD,PID" in ``env``.
 * The end crosses the exec, so it moves out of the way of the descriptors the caller passes on
 * (--preserve-fds counts up from 3, and a gap among them must stay a gap): F_DUPFD gives the
 * lowest free number from FD_FLOOR up, without close-on-exec.  Without a kept end (the fork or
 * the move failed), a child that was started sees end-of-file and ends at once.
 */
static void export_end(int fd, pid_t pid, const char *env)
{
    int end = pid < 0 ? -1 : fcntl(fd, F_DUPFD, FD_FLOOR);
    close(fd);
    if (end < 0)
        return;
    char value[64];
    snprintf(value, sizeof value, "%d,%d", end, (int)pid);
    setenv(env, value, 1);
}

/* The warmer's life: migrate itself every few ms until end-of-file on ``stop`` or the time limit. */
static _Noreturn void warm(int procs, int stop)
{
    int low = procs < stop ? procs : stop, high = procs < stop ? stop : procs;
    if (low > 0)
        close_range(0, (unsigned)low - 1, 0);
    if (high > low + 1)
        close_range((unsigned)low + 1, (unsigned)high - 1, 0);
    close_range((unsigned)high + 1, ~0U, 0);
    long deadline = now_ns() + LIMIT_NS;
    struct pollfd pfd = {.fd = stop, .events = POLLIN};
    do {
        if (write(procs, "0", 1) < 0)
            break;
        if (poll(&pfd, 1, INTERVAL_MS) != 0)
            break; /* end-of-file (or an error): the runtime is done with it */
    } while (now_ns() < deadline);
    _exit(0);
}

/* Fork the warmer; set PINNACE_RUNTIME_WARMER for the runtime.  Silent on failure. */
static void start_warmer(void)
{
    char path[4096];
    if (own_procs_file(path, sizeof path) != 0)
        return;
    int procs = open(path, O_WRONLY | O_CLOEXEC);
    if (procs < 0)
        return;
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        close(procs);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pipe_fds[1]);
        warm(procs, pipe_fds[0]);
    }
    close(procs);
    close(pipe_fds[0]);
    export_end(pipe_fds[1], pid, "PINNACE_RUNTIME_WARMER");
}

/*
 * Have the new child ``pid`` start on another CPU than ours.  The kernel
 * queues a forked child on its parent's CPU, where it waits until the
 * parent sleeps or a balancer moves it: 1-3 ms here, while the other CPU
 * idles.  Restricting the child to the other CPUs moves it there at once
 * (and wakes that CPU, ~0.25 ms); widening its mask back to ours right away
 * keeps it there without pinning it, so it and what it forks end with the
 * caller's affinity.  Best effort: with one CPU allowed there is nowhere to go.
 */
static void run_elsewhere(pid_t pid)
{
    cpu_set_t ours, others;
    if (sched_getaffinity(0, sizeof ours, &ours) != 0)
        return;
    others = ours;
    CPU_CLR(sched_getcpu(), &others);
    if (CPU_COUNT(&others) == 0)
        return;
    if (sched_setaffinity(pid, sizeof others, &others) == 0)
        sched_setaffinity(pid, sizeof ours, &ours);
}

/* Fork and execute stage 1 ahead (PINNACE_RUNTIME_STAGE1); set PINNACE_RUNTIME_STANDBY.  Silent on failure. */
static void start_standby(void)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        /* Its end goes above the caller's descriptors, as the warmer's pipe does; it keeps the
         * caller's others (stdio, --preserve-fds), which the init it forks inherits. */
        int end = fcntl(pair[1], F_DUPFD, FD_FLOOR);
        if (end >= 0) {
            char arg[16];
            snprintf(arg, sizeof arg, "%d", end);
            execl(PINNACE_RUNTIME_STAGE1, "pinnace-runtime-init", arg, (char *)NULL);
        }
        _exit(125);
    }
    close(pair[1]);
    if (pid > 0)
        run_elsewhere(pid);
    export_end(pair[0], pid, "PINNACE_RUNTIME_STANDBY");
}

int main(int argc, char **argv)
{
    /* Only ever ours: the runtime uses and closes the fds they name. */
    unsetenv("PINNACE_RUNTIME_WARMER");
    unsetenv("PINNACE_RUNTIME_STANDBY");
    if (moves_cgroups(argc, argv)) {
        start_standby(); /* first: it must not inherit the warmer's pipe */
        start_warmer();
    }
    execv(PINNACE_RUNTIME_PYTHON, argv);
    fprintf(stderr, "pinnace-runtime: cannot execute %s: %m\n", PINNACE_RUNTIME_PYTHON);
    return 125;
}
