#include <sqlite3.h>

/// sqlite3_db_config() is variadic, so Swift cannot call it: one fixed-signature wrapper per option.
///
/// SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE: closing the last connection leaves the WAL in place instead
/// of checkpointing it into the database and deleting it. Returns an SQLite result code.
static inline int airlock_sqlite_skip_checkpoint_on_close(sqlite3 *db) {
    int applied = 0;
    int result = sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, &applied);
    return result == SQLITE_OK && applied != 1 ? SQLITE_ERROR : result;
}
