#define _GNU_SOURCE
#include "CLinuxMount.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

int airlock_open_path(int dirfd, const char *path, uint64_t resolve) {
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .mode = 0, .resolve = resolve};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int airlock_is_tmpfs(const char *path) {
    struct statfs info;
    if (statfs(path, &info) != 0) return -1;
    return info.f_type == TMPFS_MAGIC;
}
