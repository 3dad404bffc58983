// libpq, PostgreSQL's client library, loaded on first use (see LibPQLoader.c).
#pragma once

#if __has_include(<postgresql/libpq-fe.h>)
#include <postgresql/libpq-fe.h>  // Debian and Ubuntu (libpq-dev)
#else
#include <libpq-fe.h>
#endif

#include <stddef.h>

/// Loads libpq (libpq.so.5) and resolves the functions Airlock uses. Safe to call from any thread,
/// any number of times. Returns 1 when libpq is ready; 0 with a message in `error` otherwise.
int airlock_libpq_load(char *error, size_t capacity);
