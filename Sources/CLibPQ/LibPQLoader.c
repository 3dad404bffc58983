// libpq is loaded with dlopen on first use instead of being linked: linking it loads libpq and
// about twenty libraries behind it (OpenSSL, Kerberos, LDAP, GnuTLS) into every process, at every
// start of `airlock run`, a one-shot command that mostly records to SQLite.
//
// Each function below has libpq's own name and signature and forwards to libpq's, so the Swift code
// calls libpq as usual. PostgresConnection calls airlock_libpq_load before anything else.

#include "CLibPQ.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

// X(return type, name, parameters, arguments) for functions with a result, V(...) for void ones.
#define LIBPQ_FUNCTIONS(X, V) \
    X(ConnStatusType, PQstatus, (const PGconn *conn), (conn)) \
    X(char *, PQuser, (const PGconn *conn), (conn)) \
    X(char *, PQhost, (const PGconn *conn), (conn)) \
    X(char *, PQport, (const PGconn *conn), (conn)) \
    X(char *, PQdb, (const PGconn *conn), (conn)) \
    X(char *, PQerrorMessage, (const PGconn *conn), (conn)) \
    X(PGTransactionStatusType, PQtransactionStatus, (const PGconn *conn), (conn)) \
    X(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *conn, PQnoticeProcessor proc, void *arg), (conn, proc, arg)) \
    X(PQconninfoOption *, PQconninfoParse, (const char *conninfo, char **errmsg), (conninfo, errmsg)) \
    X(PGconn *, PQconnectdbParams, (const char *const *keywords, const char *const *values, int expand_dbname), (keywords, values, expand_dbname)) \
    V(void, PQconninfoFree, (PQconninfoOption *options), (options)) \
    V(void, PQreset, (PGconn *conn), (conn)) \
    V(void, PQfinish, (PGconn *conn), (conn)) \
    V(void, PQfreemem, (void *ptr), (ptr)) \
    X(PGresult *, PQexec, (PGconn *conn, const char *query), (conn, query)) \
    X(PGresult *, PQexecParams, (PGconn *conn, const char *command, int nParams, const Oid *paramTypes, \
                                 const char *const *paramValues, const int *paramLengths, const int *paramFormats, \
                                 int resultFormat), \
      (conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat)) \
    X(PGresult *, PQprepare, (PGconn *conn, const char *stmtName, const char *query, int nParams, const Oid *paramTypes), \
      (conn, stmtName, query, nParams, paramTypes)) \
    X(PGresult *, PQexecPrepared, (PGconn *conn, const char *stmtName, int nParams, const char *const *paramValues, \
                                   const int *paramLengths, const int *paramFormats, int resultFormat), \
      (conn, stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat)) \
    X(ExecStatusType, PQresultStatus, (const PGresult *res), (res)) \
    X(char *, PQresultErrorMessage, (const PGresult *res), (res)) \
    X(char *, PQresultErrorField, (const PGresult *res, int fieldcode), (res, fieldcode)) \
    X(char *, PQcmdStatus, (PGresult *res), (res)) \
    X(int, PQntuples, (const PGresult *res), (res)) \
    X(int, PQnfields, (const PGresult *res), (res)) \
    X(char *, PQfname, (const PGresult *res, int field_num), (res, field_num)) \
    X(char *, PQgetvalue, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num)) \
    X(int, PQgetisnull, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num)) \
    V(void, PQclear, (PGresult *res), (res))

#define DECLARE_POINTER(type, name, parameters, arguments) static type(*loaded_##name) parameters;
LIBPQ_FUNCTIONS(DECLARE_POINTER, DECLARE_POINTER)

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;
static char load_error[512];

static void load(void) {
    void *library = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(load_error, sizeof load_error,
                 "libpq could not be loaded (%s); install it (Debian: apt-get install libpq5)", dlerror());
        return;
    }
#define RESOLVE(type, name, parameters, arguments)                                                        \
    loaded_##name = (type(*) parameters)dlsym(library, #name);                                            \
    if (loaded_##name == NULL) {                                                                          \
        snprintf(load_error, sizeof load_error, "libpq.so.5 has no function %s; it is too old", #name);  \
        return;                                                                                           \
    }
    LIBPQ_FUNCTIONS(RESOLVE, RESOLVE)
    loaded = 1;
}

int airlock_libpq_load(char *error, size_t capacity) {
    pthread_once(&load_once, load);
    if (!loaded && error != NULL && capacity > 0) snprintf(error, capacity, "%s", load_error);
    return loaded;
}

// Reached only if a libpq function is called before airlock_libpq_load succeeded: a bug, not a
// condition to carry on from with a null function pointer.
static void require_loaded(const char *name) {
    if (airlock_libpq_load(NULL, 0)) return;
    fprintf(stderr, "airlock: %s called but %s\n", name, load_error);
    abort();
}

#define FORWARD(type, name, parameters, arguments) \
    type name parameters {                         \
        require_loaded(#name);                     \
        return loaded_##name arguments;            \
    }
#define FORWARD_VOID(type, name, parameters, arguments) \
    void name parameters {                              \
        require_loaded(#name);                          \
        loaded_##name arguments;                        \
    }
LIBPQ_FUNCTIONS(FORWARD, FORWARD_VOID)
