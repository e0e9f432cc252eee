/*
 * bg_sql.h - what the daemon's store and the client's replica share about
 * SQLite: opening a database file the product's way, numbered migrations, the
 * mapping of SQLite's result codes to the product's errors, and the merge
 * engine's key-value interface (bg_kv.h) on SQLite tables.
 *
 * Nothing here decides what is stored (each side has its own migrations); it
 * only keeps the two sides from doing the same thing two ways.
 */
#ifndef BG_SQL_H
#define BG_SQL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "bg_error.h"
#include "bg_kv.h"

/* A SQLite result code as the product's error: SQLITE_FULL -> BG_E_DISK_FULL,
 * SQLITE_BUSY/LOCKED -> BG_E_BUSY, SQLITE_IOERR* -> BG_E_IO, SQLITE_CORRUPT /
 * SQLITE_NOTADB -> BG_E_CORRUPT, SQLITE_NOMEM -> BG_E_NOMEM, SQLITE_CONSTRAINT ->
 * BG_E_EXISTS, other failures BG_E_STORAGE; SQLITE_OK/ROW/DONE -> BG_OK. */
bg_err bg_sql_err(int rc);

/* The same for a result the caller knows is a failure (a statement that did not
 * finish, a step that returned neither ROW nor DONE): never BG_OK - what maps
 * to no specific error is BG_E_STORAGE. */
bg_err bg_sql_fail(int rc);

/* Open (creating when `create`) a database file in WAL mode with foreign keys
 * on, a busy timeout of `busy_ms`, and synchronous=FULL (a committed
 * transaction survives a power cut: an ACK promises exactly that). On failure
 * *db is NULL and, when `why` is given, it receives SQLite's message. */
bg_err bg_sql_open(const char *path, bool create, int busy_ms, sqlite3 **db, char *why, size_t whylen);

/* Run SQL without results (several statements allowed). */
bg_err bg_sql_exec(sqlite3 *db, const char *sql);

/*
 * Bring the database to schema version `n` (PRAGMA user_version) by running
 * steps[v] for every version v from the current one to n - 1, each in its own
 * transaction together with the version bump. A database at a version above n
 * was written by newer software: BG_E_NEWER_SCHEMA, nothing changed.
 * *from (may be NULL) receives the version found.
 */
bg_err bg_sql_migrate(sqlite3 *db, const char *const *steps, int n, int *from);

/* --- the merge engine's storage on SQLite ----------------------------------------- */

/* The tables of the engine's key spaces, for a migration step of either side:
 * engine_field, engine_log, engine_record, engine_plan, engine_proposal, each
 * (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID. BLOBs compare with
 * memcmp and then by length - the byte order bg_kv.h asks of a scan. */
extern const char bg_sqlkv_schema[];

typedef struct bg_sqlkv bg_sqlkv;

/* The key-value interface over `db` (the tables must exist). Statements are
 * prepared once; the caller keeps transactions (bg_kv.h). BG_E_NOMEM, or the
 * error of a missing table. */
bg_err bg_sqlkv_new(sqlite3 *db, bg_sqlkv **out);
void bg_sqlkv_free(bg_sqlkv *s);
bg_kv bg_sqlkv_kv(bg_sqlkv *s);

#endif /* BG_SQL_H */
