/*
 * bg_sql.c - SQLite helpers shared by the daemon's store and the client's
 * replica, and the engine's key-value interface on SQLite (bg_sql.h).
 */
#include "bg_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bg_err bg_sql_err(int rc) {
  switch (rc & 0xff) {
    case SQLITE_OK: case SQLITE_ROW: case SQLITE_DONE: return BG_OK;
    case SQLITE_FULL: return BG_E_DISK_FULL;
    case SQLITE_BUSY: case SQLITE_LOCKED: return BG_E_BUSY;
    case SQLITE_IOERR: return BG_E_IO;
    case SQLITE_CORRUPT: case SQLITE_NOTADB: return BG_E_CORRUPT;
    case SQLITE_NOMEM: return BG_E_NOMEM;
    case SQLITE_CONSTRAINT: return BG_E_EXISTS;
    default: return BG_E_STORAGE;
  }
}

bg_err bg_sql_fail(int rc) {
  bg_err e = bg_sql_err(rc);
  return e != BG_OK ? e : BG_E_STORAGE;
}

bg_err bg_sql_open(const char *path, bool create, int busy_ms, sqlite3 **db, char *why, size_t whylen) {
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  *db = NULL;
  sqlite3 *d = NULL;
  int rc = sqlite3_open_v2(path, &d, flags, NULL);
  bg_err r = bg_sql_err(rc);
  if (rc == SQLITE_CANTOPEN) r = BG_E_NOT_FOUND;
  if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(d, busy_ms);
  if (rc == SQLITE_OK) rc = sqlite3_extended_result_codes(d, 1);
  /* 16 KiB pages for a new file (an existing file keeps its size): the
   * engine's tables and the record tables are WITHOUT ROWID, whose rows keep
   * at most about a quarter page in the b-tree; with 4 KiB pages every
   * rapportage text of 1-2 KB spilled into an overflow page of its own - 4 KB
   * written for each, in the log, the field state and the record table */
  if (rc == SQLITE_OK) rc = sqlite3_exec(d, "PRAGMA page_size=16384", NULL, NULL, NULL);
  /* journal_mode answers with a row (the mode now in force): check it is WAL */
  sqlite3_stmt *st = NULL;
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(d, "PRAGMA journal_mode=WAL", -1, &st, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    rc = mode != NULL && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_ERROR;
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_OK) rc = sqlite3_exec(d, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    if (r == BG_OK) r = bg_sql_fail(rc);
    if (why && whylen) snprintf(why, whylen, "%s: %s", path, d ? sqlite3_errmsg(d) : "cannot open");
    sqlite3_close(d);
    return r;
  }
  *db = d;
  return BG_OK;
}

bg_err bg_sql_exec(sqlite3 *db, const char *sql) { return bg_sql_err(sqlite3_exec(db, sql, NULL, NULL, NULL)); }

static bg_err bg__user_version(sqlite3 *db, int *v) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
  if (rc != SQLITE_OK) return bg_sql_err(rc);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? BG_OK : bg_sql_err(rc);
}

bg_err bg_sql_migrate(sqlite3 *db, const char *const *steps, int n, int *from) {
  int v = 0;
  bg_err r = bg__user_version(db, &v);
  if (r != BG_OK) return r;
  if (from) *from = v;
  if (v > n) return BG_E_NEWER_SCHEMA;
  for (; v < n; v++) {
    /* IMMEDIATE: a second process opening the same file waits, then finds the
     * step done (the version is read again inside the transaction). */
    if ((r = bg_sql_exec(db, "BEGIN IMMEDIATE")) != BG_OK) return r;
    int now = 0;
    r = bg__user_version(db, &now);
    if (r == BG_OK && now == v) {
      char bump[48];
      snprintf(bump, sizeof bump, "PRAGMA user_version=%d", v + 1);
      r = bg_sql_exec(db, steps[v]);
      if (r == BG_OK) r = bg_sql_exec(db, bump);
    } else if (r == BG_OK && now > n) {
      r = BG_E_NEWER_SCHEMA;
    }
    if (r == BG_OK) r = bg_sql_exec(db, "COMMIT");
    if (r != BG_OK) {
      (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      return r;
    }
    if (now > v) v = now - 1; /* another process went ahead */
  }
  return BG_OK;
}

/* --- the engine's key-value interface ------------------------------------------------- */

const char bg_sqlkv_schema[] =
    "CREATE TABLE engine_field(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE engine_log(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE engine_record(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE engine_plan(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE engine_proposal(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;";

static const char *const bg__tables[BG_KV_SPACES + 1] = {
    NULL, "engine_field", "engine_log", "engine_record", "engine_plan", "engine_proposal"};

enum { OP_GET, OP_PUT, OP_ADD, OP_DEL, OP_SCAN, OP_SCAN_ALL, OP_N };

/* Each statement as the text before and after its table's name. */
static const char *const bg__op_sql[OP_N][2] = {
    {"SELECT v FROM ", " WHERE k = ?1"},
    {"INSERT OR REPLACE INTO ", "(k, v) VALUES(?1, ?2)"},
    {"INSERT OR IGNORE INTO ", "(k, v) VALUES(?1, ?2)"},
    {"DELETE FROM ", " WHERE k = ?1"},
    {"SELECT k, v FROM ", " WHERE k >= ?1 AND k < ?2 ORDER BY k"},
    {"SELECT k, v FROM ", " WHERE k >= ?1 ORDER BY k"},
};

struct bg_sqlkv {
  sqlite3 *db;
  sqlite3_stmt *st[BG_KV_SPACES + 1][OP_N];
};

static bg_err bg__prepare(sqlite3 *db, int space, int op, sqlite3_stmt **st) {
  char sql[128];
  snprintf(sql, sizeof sql, "%s%s%s", bg__op_sql[op][0], bg__tables[space], bg__op_sql[op][1]);
  int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
  return bg_sql_err(rc);
}

bg_err bg_sqlkv_new(sqlite3 *db, bg_sqlkv **out) {
  *out = NULL;
  bg_sqlkv *s = calloc(1, sizeof *s);
  if (s == NULL) return BG_E_NOMEM;
  s->db = db;
  bg_err r = BG_OK;
  for (int sp = 1; sp <= BG_KV_SPACES && r == BG_OK; sp++)
    for (int op = 0; op < OP_N && r == BG_OK; op++) r = bg__prepare(db, sp, op, &s->st[sp][op]);
  if (r != BG_OK) {
    bg_sqlkv_free(s);
    return r;
  }
  *out = s;
  return BG_OK;
}

void bg_sqlkv_free(bg_sqlkv *s) {
  if (s == NULL) return;
  for (int sp = 1; sp <= BG_KV_SPACES; sp++)
    for (int op = 0; op < OP_N; op++) sqlite3_finalize(s->st[sp][op]);
  free(s);
}

/* The statement for (space, op), reset and with its bindings cleared. */
static sqlite3_stmt *bg__st(bg_sqlkv *s, int space, int op) {
  if (space < 1 || space > BG_KV_SPACES) return NULL;
  sqlite3_stmt *st = s->st[space][op];
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return st;
}

/* SQLite hands out a zero-length BLOB as NULL; the engine wants a pointer. */
static const uint8_t *bg__blob(sqlite3_stmt *st, int col, size_t *n) {
  static const uint8_t empty[1] = {0};
  const void *p = sqlite3_column_blob(st, col);
  *n = (size_t)sqlite3_column_bytes(st, col);
  return p ? p : empty;
}

static bg_err bg__sget(void *self, int space, const uint8_t *key, size_t klen, bg_buf *val) {
  sqlite3_stmt *st = bg__st(self, space, OP_GET);
  if (st == NULL) return BG_E_USAGE;
  int rc = sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  bg_err r;
  if (rc == SQLITE_ROW) {
    size_t n;
    const uint8_t *p = bg__blob(st, 0, &n);
    bg_buf_reset(val);
    r = bg_buf_append(val, p, n);
  } else {
    r = rc == SQLITE_DONE ? BG_E_NOT_FOUND : bg_sql_err(rc);
  }
  sqlite3_reset(st);
  return r;
}

/* One statement that changes a row: put, add, delete. *changed: rows changed. */
static bg_err bg__change(bg_sqlkv *s, int space, int op, const uint8_t *key, size_t klen, const uint8_t *val,
                         size_t vlen, int *changed) {
  sqlite3_stmt *st = bg__st(s, space, op);
  if (st == NULL) return BG_E_USAGE;
  int rc = sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
  if (rc == SQLITE_OK && op != OP_DEL) rc = sqlite3_bind_blob(st, 2, vlen ? (const void *)val : "", (int)vlen, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc == SQLITE_DONE && changed) *changed = sqlite3_changes(s->db);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? BG_OK : bg_sql_fail(rc);
}

static bg_err bg__sput(void *self, int space, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  return bg__change(self, space, OP_PUT, key, klen, val, vlen, NULL);
}

static bg_err bg__sadd(void *self, int space, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  int changed = 0;
  bg_err r = bg__change(self, space, OP_ADD, key, klen, val, vlen, &changed);
  return r != BG_OK ? r : changed ? BG_OK : BG_E_EXISTS;
}

static bg_err bg__sdel(void *self, int space, const uint8_t *key, size_t klen) {
  return bg__change(self, space, OP_DEL, key, klen, NULL, 0, NULL);
}

static bg_err bg__sscan(void *self, int space, const uint8_t *prefix, size_t plen, bg_kv_scan_cb cb, void *arg) {
  bg_sqlkv *s = self;
  if (space < 1 || space > BG_KV_SPACES) return BG_E_USAGE;
  /* Upper bound: the prefix with trailing 0xff bytes dropped and the last byte
   * incremented; none when the prefix is empty or all 0xff. */
  uint8_t *hi = malloc(plen ? plen : 1);
  if (hi == NULL) return BG_E_NOMEM;
  size_t hlen = plen;
  if (plen) memcpy(hi, prefix, plen);
  while (hlen > 0 && hi[hlen - 1] == 0xff) hlen--;
  if (hlen > 0) hi[hlen - 1]++;
  int op = hlen > 0 ? OP_SCAN : OP_SCAN_ALL;
  /* A callback may scan again (reading one thing while walking another): the
   * cached statement is then in use, and that scan gets one of its own. */
  sqlite3_stmt *st = s->st[space][op], *own = NULL;
  bg_err r = BG_OK;
  if (sqlite3_stmt_busy(st)) {
    r = bg__prepare(s->db, space, op, &own);
    st = own;
  } else {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
  }
  int rc = SQLITE_OK;
  if (r == BG_OK) rc = sqlite3_bind_blob(st, 1, plen ? (const void *)prefix : "", (int)plen, SQLITE_STATIC);
  if (r == BG_OK && rc == SQLITE_OK && op == OP_SCAN) rc = sqlite3_bind_blob(st, 2, hi, (int)hlen, SQLITE_STATIC);
  while (r == BG_OK && rc == SQLITE_OK) {
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) break;
    if (step != SQLITE_ROW) {
      rc = step;
      break;
    }
    size_t kn, vn;
    const uint8_t *k = bg__blob(st, 0, &kn);
    const uint8_t *v = bg__blob(st, 1, &vn);
    r = cb(arg, k, kn, v, vn);
  }
  if (r == BG_OK && rc != SQLITE_OK) r = bg_sql_fail(rc);
  if (own) sqlite3_finalize(own);
  else sqlite3_reset(st);
  free(hi);
  return r;
}

static const bg_kv_ops bg__sqlkv_ops = {bg__sget, bg__sput, bg__sadd, bg__sdel, bg__sscan};

bg_kv bg_sqlkv_kv(bg_sqlkv *s) { return (bg_kv){&bg__sqlkv_ops, s}; }
