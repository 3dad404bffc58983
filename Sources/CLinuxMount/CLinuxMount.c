#define _GNU_SOURCE
#include "CLinuxMount.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

int airlock_open_path(int dirfd, const char *path, uint64_t resolve) {
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .mode = 0, .resolve = resolve};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}
