// openat2(2), which glibc 2.36 does not wrap (and Swift cannot call the variadic syscall(2)), and
// statfs(2), which Swift's Glibc module does not export.
#pragma once

#include <linux/openat2.h>  // RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS, ...
#include <stdint.h>

/// openat2(dirfd, path, {O_PATH | O_CLOEXEC, resolve}): a descriptor naming the object itself,
/// opened under the `resolve` restrictions. Returns the descriptor, or -1 with errno set.
int airlock_open_path(int dirfd, const char *path, uint64_t resolve);

/// Whether `path` lies on a tmpfs (statfs(2), which Swift's Glibc module does not export): 1 or 0,
/// or -1 with errno set.
int airlock_is_tmpfs(const char *path);
