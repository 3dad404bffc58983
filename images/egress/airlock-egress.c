/*
 * airlock-egress: the entrypoint of a tool's container when its policy allows egress.
 *
 *   /airlock-egress PORT SOCKET -- PROGRAM [ARGS...]
 *
 * The container has no network but lo. This program listens on 127.0.0.1:PORT, runs PROGRAM as
 * its child (the policy points the tool at http://127.0.0.1:PORT with HTTPS_PROXY), and relays
 * each accepted TCP connection byte for byte to the Unix socket SOCKET, which Airlock's egress
 * proxy for this one invocation listens on, bound in from the host. It decides nothing: the proxy
 * on the host checks every request against the allow-list; anything here may be bypassed by the
 * tool without gaining any reach.
 *
 * It leaves the tool's run unchanged: the tool inherits stdin, stdout and stderr; SIGTERM,
 * SIGINT, SIGHUP and SIGQUIT are passed on to it; the exit status is the tool's (128 + the signal
 * when a signal ended it; 127 or 126 when it cannot be run, as a shell would say). Nothing is ever
 * written to stdout; stderr only for this program's own fatal errors, prefixed "airlock-egress:".
 *
 * It runs as PID 1 of the container, so it also reaps any orphan the tool leaves.
 *
 * Built static (scripts/build-probe) so it runs in any image; bound read-only at /airlock-egress.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Connections relayed at once; more wait in the listen backlog until one ends. */
#define MAX_PAIRS 128
#define BUFFER_SIZE 16384
/* After the tool ends, bytes it already wrote are still delivered, for at most this long. */
#define DRAIN_MS 2000

struct direction {
    int from, to;
    char buffer[BUFFER_SIZE];
    size_t start, end;
    int eof; /* `from` reached its end; `to` gets a shutdown once the buffer is flushed */
    int done;
};

struct pair {
    int used;
    int tool, proxy; /* the accepted TCP socket, the Unix socket to the proxy */
    struct direction out, in; /* tool -> proxy, proxy -> tool */
};

static struct pair pairs[MAX_PAIRS];

static void fatal(const char *what, int error) {
    if (error)
        fprintf(stderr, "airlock-egress: %s: %s\n", what, strerror(error));
    else
        fprintf(stderr, "airlock-egress: %s\n", what);
    exit(125);
}

static void usage(void) { fatal("usage: airlock-egress PORT SOCKET -- PROGRAM [ARGS...]", 0); }

static int set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static void close_pair(struct pair *p) {
    close(p->tool);
    close(p->proxy);
    p->used = 0;
}

/* A blocking connect bounded by a send timeout: a Unix stream connect waits only while the
 * proxy's backlog is full. */
static int connect_proxy(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval timeout = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    memcpy(address.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0 || set_nonblocking(fd) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void accept_one(int listener, const char *socket_path, int *room) {
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        /* Out of descriptors: stop accepting until a connection ends (the backlog holds the rest). */
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) *room = 0;
        return;
    }
    for (int i = 0; i < MAX_PAIRS; i++) {
        struct pair *p = &pairs[i];
        if (p->used) continue;
        int proxy = connect_proxy(socket_path);
        if (proxy < 0) {
            /* The tool sees a closed connection, as it would if the network refused it. */
            close(fd);
            return;
        }
        memset(p, 0, sizeof *p);
        p->used = 1;
        p->tool = fd;
        p->proxy = proxy;
        p->out.from = fd, p->out.to = proxy;
        p->in.from = proxy, p->in.to = fd;
        return;
    }
    close(fd);
}

/* Moves what can be moved without blocking. Returns -1 when the connection is broken. */
static int pump(struct direction *d, short from_events, short to_events) {
    if (d->done) return 0;
    if (d->start == d->end && !d->eof && (from_events & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = read(d->from, d->buffer, BUFFER_SIZE);
        if (n > 0) {
            d->start = 0;
            d->end = (size_t)n;
        } else if (n == 0) {
            d->eof = 1;
        } else if (errno != EAGAIN && errno != EINTR) {
            return -1;
        }
    }
    if (d->start < d->end && (to_events & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t n = send(d->to, d->buffer + d->start, d->end - d->start, MSG_NOSIGNAL);
        if (n > 0)
            d->start += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
    }
    if (d->eof && d->start == d->end) {
        shutdown(d->to, SHUT_WR);
        d->done = 1;
    }
    return 0;
}

static short wanted(const struct direction *d, int reading) {
    if (d->done) return 0;
    if (reading) return (d->start == d->end && !d->eof) ? POLLIN : 0;
    return d->start < d->end ? POLLOUT : 0;
}

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int exit_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 125;
}

int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[3], "--") != 0) usage();
    char *end = NULL;
    long port = strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || port < 1 || port > 65535) usage();
    const char *socket_path = argv[2];
    if (socket_path[0] != '/' || strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        fatal("SOCKET must be an absolute path shorter than 108 bytes", 0);

    /* Signals arrive through a descriptor, so the one poll loop handles them in order with I/O. */
    sigset_t handled, original;
    sigemptyset(&handled);
    int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaddset(&handled, forwarded[i]);
    sigaddset(&handled, SIGCHLD);
    /* An inherited SIG_IGN for SIGCHLD would reap the tool before its status could be read. */
    signal(SIGCHLD, SIG_DFL);
    if (sigprocmask(SIG_BLOCK, &handled, &original) < 0) fatal("sigprocmask", errno);
    int signals = signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signals < 0) fatal("signalfd", errno);

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener < 0) fatal("socket(AF_INET)", errno);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0) {
        char what[64];
        snprintf(what, sizeof what, "bind 127.0.0.1:%ld", port);
        fatal(what, errno);
    }
    if (listen(listener, 64) < 0) fatal("listen", errno);

    /* Listening before the fork: the tool may connect from its first instruction. */
    pid_t tool = fork();
    if (tool < 0) fatal("fork", errno);
    if (tool == 0) {
        sigprocmask(SIG_SETMASK, &original, NULL);
        execvp(argv[4], argv + 4);
        int error = errno;
        fprintf(stderr, "airlock-egress: cannot run %s: %s\n", argv[4], strerror(error));
        _exit(error == ENOENT ? 127 : 126);
    }

    int status = 0, tool_running = 1, room = 1;
    long long drain_deadline = 0;
    struct pollfd fds[2 + 2 * MAX_PAIRS];
    for (;;) {
        int open_outbound = 0, used = 0;
        for (int i = 0; i < MAX_PAIRS; i++) {
            used += pairs[i].used;
            if (pairs[i].used && !pairs[i].out.done) open_outbound++;
        }
        if (!tool_running && (open_outbound == 0 || now_ms() >= drain_deadline)) break;

        int count = 0;
        fds[count++] = (struct pollfd){.fd = signals, .events = POLLIN};
        int listening = tool_running && room && used < MAX_PAIRS;
        fds[count++] = (struct pollfd){.fd = listening ? listener : -1, .events = POLLIN};
        for (int i = 0; i < MAX_PAIRS; i++) {
            struct pair *p = &pairs[i];
            short tool_events = p->used ? wanted(&p->out, 1) | wanted(&p->in, 0) : 0;
            short proxy_events = p->used ? wanted(&p->in, 1) | wanted(&p->out, 0) : 0;
            /* A socket with nothing to do is left out: poll would report its hang-up at once, again and again. */
            fds[2 + 2 * i] = (struct pollfd){.fd = tool_events ? p->tool : -1, .events = tool_events};
            fds[3 + 2 * i] = (struct pollfd){.fd = proxy_events ? p->proxy : -1, .events = proxy_events};
        }
        int timeout = tool_running ? -1 : (int)(drain_deadline - now_ms());
        if (poll(fds, 2 + 2 * MAX_PAIRS, timeout < 0 && !tool_running ? 0 : timeout) < 0) {
            if (errno == EINTR) continue;
            fatal("poll", errno);
        }

        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo info;
            while (read(signals, &info, sizeof info) == sizeof info) {
                if (info.ssi_signo != SIGCHLD) {
                    if (tool_running) kill(tool, (int)info.ssi_signo);
                    continue;
                }
                /* Reap every child: the tool, and orphans reparented to PID 1. */
                int child_status;
                pid_t pid;
                while ((pid = waitpid(-1, &child_status, WNOHANG)) > 0) {
                    if (pid == tool) {
                        status = child_status;
                        tool_running = 0;
                        drain_deadline = now_ms() + DRAIN_MS;
                        close(listener);
                    }
                }
            }
        }
        if (listening && (fds[1].revents & POLLIN)) accept_one(listener, socket_path, &room);

        for (int i = 0; i < MAX_PAIRS; i++) {
            struct pair *p = &pairs[i];
            if (!p->used) continue;
            short tool_events = fds[2 + 2 * i].revents, proxy_events = fds[3 + 2 * i].revents;
            if (pump(&p->out, tool_events, proxy_events) < 0 ||
                pump(&p->in, proxy_events, tool_events) < 0 || (p->out.done && p->in.done)) {
                close_pair(p);
                room = 1;
            }
        }
    }
    return exit_status(status);
}
