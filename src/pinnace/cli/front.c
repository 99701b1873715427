/*
 * The `pinnace` entry point's first step, native: hands `run` and `exec` to
 * the warm worker zygote without starting an interpreter.
 *
 * This is pinnace.cli.client's front half (_command, _hand_over, _serve)
 * and speaks the same protocol with the zygote (pinnace.shim.zygote): one
 * JSON line {"cli", "program", "cwd", "env", "umask"} sent with our
 * stdin/stdout/stderr (SCM_RIGHTS), then the signals we receive as lines
 * with their number, until the zygote's process answers {"exit": N}.
 * Starting the interpreter costs ~7-9 ms here, a fifth of an `exec`; the
 * engine's code is all in the process the zygote forks, already loaded.
 *
 * Anything else -- another command, a global flag other than --root,
 * --runroot, --log-level, no zygote yet, a stale one, PINNACE_NO_ZYGOTE,
 * a remote engine (PINNACE_HOST, DOCKER_HOST), text that is not UTF-8 --
 * executes the Python entry point (PINNACE_PYTHON_FRONT) with the same
 * arguments, which does what it always did.  No engine logic lives here.
 *
 * Built by setup.sh:  gcc -O2 -DPINNACE_PYTHON_FRONT='"..."'
 *                     -DPINNACE_DEFAULT_RUNROOT='"..."' -o .venv/bin/pinnace front.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

/* The signals passed on (pinnace.cli.client._FORWARDED): HUP INT QUIT USR1 USR2 PIPE TERM WINCH. */
static const int FORWARDED[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGTERM, SIGWINCH};

static char **original_argv;
static int zygote = -1;

/* Run the Python entry point instead: it handles every case this one leaves. */
static _Noreturn void fall_back(void)
{
    execv(PINNACE_PYTHON_FRONT, original_argv);
    fprintf(stderr, "pinnace: cannot execute %s: %s\n", PINNACE_PYTHON_FRONT, strerror(errno));
    _exit(125);
}

/* A growing byte buffer; any allocation failure falls back to the Python front. */
struct buffer {
    char *data;
    size_t len, cap;
};

static void put(struct buffer *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            fall_back();
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void puts_(struct buffer *b, const char *s) { put(b, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static int utf8_length(const unsigned char *s)
{
    int n;
    unsigned int c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (c == 0xe0 && s[1] < 0xa0)
        return 0; /* overlong */
    if (c == 0xed && s[1] >= 0xa0)
        return 0; /* a surrogate */
    if (c == 0xf0 && s[1] < 0x90)
        return 0; /* overlong */
    if (c == 0xf4 && s[1] >= 0x90)
        return 0; /* past U+10FFFF */
    return n;
}

/* ``s`` (n bytes) as a JSON string; bytes that are not UTF-8 are left to Python (surrogateescape). */
static void put_json(struct buffer *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char escaped[2] = {'\\', (char)c};
            put(b, escaped, 2);
            i++;
        } else if (c < 0x20) {
            char escaped[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(b, escaped, 6);
            i++;
        } else {
            int len = utf8_length((const unsigned char *)s + i);
            if (len == 0 || i + (size_t)len > n)
                fall_back();
            put(b, s + i, (size_t)len);
            i += (size_t)len;
        }
    }
    put(b, "\"", 1);
}

static int is_valued(const char *name, size_t len)
{
    static const char *const VALUED[] = {"--root", "--runroot", "--log-level", "-l"};
    for (size_t i = 0; i < sizeof VALUED / sizeof *VALUED; i++)
        if (strlen(VALUED[i]) == len && memcmp(VALUED[i], name, len) == 0)
            return 1;
    return 0;
}

/* The --runroot of a command line handed over (pinnace.cli.client._command), or fall back. */
static const char *command_runroot(int argc, char **argv)
{
    const char *runroot = NULL;
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        const char *name = argv[i];
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const char *value;
        if (!is_valued(name, len))
            fall_back(); /* --help, --version, an unknown flag: the full CLI answers */
        if (eq) {
            value = eq + 1;
        } else {
            if (++i >= argc)
                fall_back();
            value = argv[i];
        }
        if (len == strlen("--runroot") && memcmp(name, "--runroot", len) == 0)
            runroot = value;
        i++;
    }
    if (i >= argc)
        fall_back();
    const char *word = argv[i];
    if (strcmp(word, "container") == 0 && i + 1 < argc)
        word = argv[i + 1];
    else if (strcmp(word, "container") == 0)
        fall_back();
    if (strcmp(word, "run") != 0 && strcmp(word, "exec") != 0)
        fall_back();
    if (!runroot || !*runroot)
        runroot = getenv("PINNACE_RUNROOT");
    if (!runroot || !*runroot)
        runroot = PINNACE_DEFAULT_RUNROOT;
    return runroot;
}

/* A socket connected to the worker zygote (or the plain one) under runroot; -1 when none listens. */
static int connect_zygote(const char *runroot)
{
    static const char *const NAMES[] = {"worker.sock", "zygote.sock"};
    int dir = open(runroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    for (size_t i = 0; i < sizeof NAMES / sizeof *NAMES; i++) {
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dir, NAMES[i]);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
            close(dir);
            return fd;
        }
        close(fd);
    }
    close(dir);
    return -1;
}

static void forward(int signum)
{
    char line[8];
    int n = snprintf(line, sizeof line, "%d\n", signum);
    int saved = errno;
    /* MSG_NOSIGNAL: a closed connection must not raise the SIGPIPE this very handler forwards. */
    if (send(zygote, line, (size_t)n, MSG_NOSIGNAL) < 0) {
        /* the process went away: its reply (or its absence) says so */
    }
    errno = saved;
}

/* Send the request with our stdio; 0 on success. */
static int send_request(int argc, char **argv)
{
    struct buffer b = {0};
    char path[PATH_MAX];
    puts_(&b, "{\"cli\":[");
    for (int i = 1; i < argc; i++) {
        if (i > 1)
            put(&b, ",", 1);
        put_json(&b, argv[i], strlen(argv[i]));
    }
    puts_(&b, "],\"program\":");
    ssize_t len = readlink("/proc/self/exe", path, sizeof path);
    if (len <= 0 || (size_t)len >= sizeof path)
        fall_back();
    put_json(&b, path, (size_t)len);
    puts_(&b, ",\"cwd\":");
    if (!getcwd(path, sizeof path))
        fall_back(); /* a deleted cwd: Python reports it as it always did */
    put_json(&b, path, strlen(path));
    puts_(&b, ",\"env\":{");
    int first = 1;
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        if (!first)
            put(&b, ",", 1);
        first = 0;
        put_json(&b, *e, (size_t)(eq - *e));
        put(&b, ":", 1);
        put_json(&b, eq + 1, strlen(eq + 1));
    }
    mode_t mask = umask(0);
    umask(mask);
    char tail[32];
    int n = snprintf(tail, sizeof tail, "},\"umask\":%u}\n", (unsigned)mask);
    put(&b, tail, (size_t)n);

    int fds[3] = {0, 1, 2};
    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    struct iovec iov = {.iov_base = b.data, .iov_len = b.len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
    ssize_t sent = sendmsg(zygote, &msg, MSG_NOSIGNAL);
    if (sent < 0)
        return -1;
    /* The descriptors went with the first byte; the rest of a long line follows plainly. */
    for (size_t done = (size_t)sent; done < b.len;) {
        ssize_t more = send(zygote, b.data + done, b.len - done, MSG_NOSIGNAL);
        if (more < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)more;
    }
    free(b.data);
    return 0;
}

/* Pass our signals on until the reply line; the exit code, or -1 when the zygote was stale. */
static int serve(void)
{
    struct sigaction action = {.sa_handler = forward, .sa_flags = SA_RESTART};
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof FORWARDED / sizeof *FORWARDED; i++)
        sigaction(FORWARDED[i], &action, NULL);
    char reply[256];
    size_t len = 0;
    while (len < sizeof reply - 1 && !memchr(reply, '\n', len)) {
        ssize_t n = read(zygote, reply + len, sizeof reply - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    reply[len] = '\0';
    if (strstr(reply, "\"stale\""))
        return -1;
    const char *exit_code = strstr(reply, "\"exit\":");
    if (!exit_code || !memchr(reply, '\n', len))
        return 125; /* it died without a word (killed): as docker's CLI when the daemon goes away */
    return atoi(exit_code + strlen("\"exit\":")) & 0xff;
}

int main(int argc, char **argv)
{
    original_argv = argv;
    const char *no_zygote = getenv("PINNACE_NO_ZYGOTE");
    const char *host = getenv("PINNACE_HOST");
    const char *docker_host = getenv("DOCKER_HOST");
    if ((no_zygote && *no_zygote) || (host && *host) || (docker_host && *docker_host))
        fall_back();
    const char *runroot = command_runroot(argc, argv);
    char absolute[PATH_MAX];
    if (runroot[0] != '/') {
        if (!getcwd(absolute, sizeof absolute) || strlen(absolute) + strlen(runroot) + 2 > sizeof absolute)
            fall_back();
        strcat(strcat(absolute, "/"), runroot);
        runroot = absolute;
    }
    zygote = connect_zygote(runroot);
    if (zygote < 0 || send_request(argc, argv) != 0)
        fall_back();
    int code = serve();
    if (code < 0)
        fall_back();
    return code;
}
