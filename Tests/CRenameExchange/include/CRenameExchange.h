// renameat2(2) with RENAME_EXCHANGE, which Swift's Glibc module does not expose (no _GNU_SOURCE).
#pragma once

/// Atomically swaps the two paths (both must exist). Returns 0, or -1 with errno set.
int airlock_test_exchange(const char *first, const char *second);
