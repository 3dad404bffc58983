/*
 * airlock-secrets: the entrypoint of a tool's container when its policy declares secrets.
 *
 *   /airlock-secrets ENVFILE -- PROGRAM [ARGS...]
 *
 * Reads ENVFILE, records of NAME=value each ended by a NUL byte (a value may hold any byte but
 * NUL, which no environment variable can hold), adds them to the environment and replaces itself
 * with PROGRAM (execv): the tool keeps this process, its pid, its stdin, stdout and stderr, and
 * its exit status and signals are its own. Airlock binds ENVFILE read-only from a tmpfs on the
 * host, so the values never pass through the engine's command line or its stored configuration.
 *
 * Nothing is ever written to stdout; stderr only for this program's own failures, prefixed
 * "airlock-secrets:": 125 for its own errors (usage, an unreadable or malformed ENVFILE), 127 when
 * PROGRAM does not exist, 126 when it cannot be run, as a shell would say. A value is never
 * written anywhere.
 *
 * Built static (scripts/build-probe) so it runs in any image; bound read-only at /airlock-secrets.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Larger than any environment the kernel would pass on to the tool (ARG_MAX is smaller). */
#define MAX_FILE (4 << 20)

static int fail(const char *message) {
    fprintf(stderr, "airlock-secrets: %s\n", message);
    return 125;
}

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[2], "--") != 0)
        return fail("usage: airlock-secrets ENVFILE -- PROGRAM [ARGS...]");
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        fprintf(stderr, "airlock-secrets: cannot open %s: %s\n", argv[1], strerror(errno));
        return 125;
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || info.st_size > MAX_FILE) {
        close(fd);
        return fail("the environment file is not a regular file of at most 4 MiB");
    }
    /* One byte more than the file, so that the last record always ends in a NUL. */
    char *buffer = calloc((size_t)info.st_size + 1, 1);
    if (!buffer) { close(fd); return fail("out of memory"); }
    size_t length = 0;
    while (length < (size_t)info.st_size) {
        ssize_t count = read(fd, buffer + length, (size_t)info.st_size - length);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) { close(fd); return fail("cannot read the environment file"); }
        length += (size_t)count;
    }
    close(fd);
    for (size_t start = 0; start < length;) {
        char *record = buffer + start;
        size_t size = strlen(record);
        char *equals = strchr(record, '=');
        if (equals == NULL || equals == record) return fail("the environment file holds a record without NAME=");
        /* putenv keeps the record itself: the buffer lives until execv replaces this program. */
        if (putenv(record) != 0) return fail("cannot set a variable");
        start += size + 1;
    }
    execv(argv[3], argv + 3);
    int error = errno;
    fprintf(stderr, "airlock-secrets: cannot run %s: %s\n", argv[3], strerror(error));
    return error == ENOENT || error == ENOTDIR ? 127 : 126;
}
