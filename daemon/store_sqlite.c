/*
 * store_sqlite.c - the daemon's store on SQLite (store.h).
 *
 * One file in WAL mode. All SQL of the store is in this file: the migrations
 * below and the statements in bg__sql, each prepared once on first use. Every
 * call that changes something runs in one BEGIN IMMEDIATE transaction and rolls
 * back on any failure, so a crash or an error leaves the file as before the call.
 *
 * The change feed (table feed) holds every write the engine applied or held as
 * a wijzigingsvoorstel, in commit order: seq is the order devices pull in.
 * A pull cursor is a row of `cursors`: the clients the device holds with, for
 * each, the feed position up to which it has been fed, and the clients named
 * for PURGE and not yet acknowledged (store.h explains why).
 */
#include "store.h"

#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_engine.h"
#include "bg_hlc.h"
#include "bg_mp.h"
#include "bg_schema.h"
#include "bg_sql.h"

/* --- schema ------------------------------------------------------------------------ */

static const char bg__migration_1[] =
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "CREATE TABLE teams(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL);"
    "CREATE TABLE users(id INTEGER PRIMARY KEY, login TEXT NOT NULL UNIQUE, role INTEGER NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
    "CREATE TABLE user_teams(user INTEGER NOT NULL REFERENCES users(id), team INTEGER NOT NULL REFERENCES teams(id),"
    "  PRIMARY KEY(user, team)) WITHOUT ROWID;"
    "CREATE TABLE clients(id TEXT PRIMARY KEY, team INTEGER NOT NULL REFERENCES teams(id),"
    "  begeleider INTEGER NOT NULL REFERENCES users(id), created INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX clients_team ON clients(team);"
    "CREATE INDEX clients_begeleider ON clients(begeleider);"
    /* every user who has been a client's trajectbegeleider: their offline writes keep that standing */
    "CREATE TABLE begeleider_history(client TEXT NOT NULL, user INTEGER NOT NULL, since INTEGER NOT NULL,"
    "  PRIMARY KEY(client, user)) WITHOUT ROWID;"
    "CREATE TABLE devices(id INTEGER PRIMARY KEY, user INTEGER NOT NULL REFERENCES users(id),"
    "  name TEXT NOT NULL DEFAULT '', enrolled INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,"
    "  last_seen INTEGER NOT NULL DEFAULT 0, counter INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE enrol_codes(id TEXT PRIMARY KEY, secret_hash BLOB NOT NULL, user INTEGER NOT NULL"
    "  REFERENCES users(id), created INTEGER NOT NULL, expires INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0,"
    "  device INTEGER) WITHOUT ROWID;"
    "CREATE TABLE feed(seq INTEGER PRIMARY KEY, client TEXT NOT NULL, device INTEGER NOT NULL, write BLOB NOT NULL);"
    "CREATE INDEX feed_client ON feed(client, seq);"
    "CREATE TABLE batches(device INTEGER NOT NULL, batch INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  rejected BLOB NOT NULL, at INTEGER NOT NULL, PRIMARY KEY(device, batch)) WITHOUT ROWID;"
    "CREATE TABLE cursors(id INTEGER PRIMARY KEY AUTOINCREMENT, device INTEGER NOT NULL, held BLOB NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE INDEX cursors_device ON cursors(device);"
    "CREATE TABLE purges(id INTEGER PRIMARY KEY AUTOINCREMENT, device INTEGER NOT NULL, clients BLOB NOT NULL,"
    "  created INTEGER NOT NULL, acked INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE audit(seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, user INTEGER NOT NULL,"
    "  device INTEGER NOT NULL, client TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL,"
    "  outcome TEXT NOT NULL, hash BLOB NOT NULL);"
    "CREATE INDEX audit_client ON audit(client, seq);"
    "CREATE INDEX audit_user ON audit(user, seq);"
    /* the office: author of what bgctl writes */
    "INSERT INTO users(id, login, role, disabled, created) VALUES(1, '_office', 3, 1, 0);"
    "INSERT INTO devices(id, user, name, enrolled) VALUES(1, 1, 'the office (bgctl)', 0);";

/* 3: each cursor remembers the cursor it was issued from (0: none, or one the
 * store did not know), which a pull from it keeps (bg_store_pull). */
static const char bg__migration_3[] = "ALTER TABLE cursors ADD COLUMN parent INTEGER NOT NULL DEFAULT 0;";

/* Version n is reached by running steps[0..n-1]: 1 the organisation, sync and
 * audit tables; 2 the merge engine's tables (bg_sql.h); 3 cursors' parents. */
static const char *const bg__migrations[] = {bg__migration_1, bg_sqlkv_schema, bg__migration_3};
_Static_assert(sizeof bg__migrations / sizeof *bg__migrations == BG_STORE_VERSION,
               "BG_STORE_VERSION counts the migrations");

/* --- statements ----------------------------------------------------------------------- */

enum {
  Q_TEAM_ADD, Q_TEAM_ID, Q_USER_ADD, Q_USER_TEAM_ADD, Q_USER_BY_LOGIN, Q_USER_BY_ID, Q_USERS,
  Q_CLIENT_ADD, Q_CLIENT_MOVE, Q_CLIENTS, Q_HISTORY_ADD, Q_HISTORY_HAS, Q_USER_FIRST_TEAM,
  Q_CODE_ADD, Q_CODE_GET, Q_CODE_SPEND, Q_DEVICE_ADD, Q_DEVICE_GET, Q_DEVICES, Q_DEVICE_REVOKE,
  Q_DEVICE_SEEN, Q_DEVICE_COUNTER, Q_DEVICE_REVOKED,
  Q_BATCH_GET, Q_BATCH_ADD, Q_FEED_ADD, Q_HEAD, Q_IN_TEAM,
  Q_SCOPE_ALL, Q_SCOPE_USER, Q_CURSOR_GET, Q_CURSOR_PRUNE, Q_CURSOR_ADD, Q_CURSORS_OF,
  Q_CURSOR_SET, Q_PURGE_ADD, Q_PURGE_GET, Q_PURGE_ACK, Q_PAGE,
  Q_AUDIT_LAST, Q_AUDIT_ADD, Q_AUDIT_ALL, Q_AUDIT_QUERY, Q_DATA_VERSION,
  Q_USER_DISABLE, Q_USER_TEAM_DEL, Q_TEAMS, Q_CLIENT_GET, Q_CLIENT_ASSIGN, Q_USER_DISABLED, Q_HISTORY,
  Q_STATS, Q_DEVICES_ACTIVE,
  Q_N
};

static const char *const bg__sql[Q_N] = {
    [Q_TEAM_ADD] = "INSERT INTO teams(name, created) VALUES(?1, ?2)",
    [Q_TEAM_ID] = "SELECT id FROM teams WHERE name = ?1",
    [Q_USER_ADD] = "INSERT INTO users(login, role, created) VALUES(?1, ?2, ?3)",
    [Q_USER_TEAM_ADD] = "INSERT OR IGNORE INTO user_teams(user, team) VALUES(?1, ?2)",
    [Q_USER_BY_LOGIN] =
        "SELECT u.id, u.login, u.role, u.disabled, (SELECT coalesce(group_concat(t.name, ','), '') FROM"
        " (SELECT t.name FROM user_teams ut JOIN teams t ON t.id = ut.team WHERE ut.user = u.id ORDER BY t.name) t)"
        " FROM users u WHERE u.login = ?1",
    [Q_USER_BY_ID] =
        "SELECT u.id, u.login, u.role, u.disabled, (SELECT coalesce(group_concat(t.name, ','), '') FROM"
        " (SELECT t.name FROM user_teams ut JOIN teams t ON t.id = ut.team WHERE ut.user = u.id ORDER BY t.name) t)"
        " FROM users u WHERE u.id = ?1",
    [Q_USERS] =
        "SELECT u.id, u.login, u.role, u.disabled, (SELECT coalesce(group_concat(t.name, ','), '') FROM"
        " (SELECT t.name FROM user_teams ut JOIN teams t ON t.id = ut.team WHERE ut.user = u.id ORDER BY t.name) t)"
        " FROM users u WHERE u.id != 1 ORDER BY u.login",
    [Q_CLIENT_ADD] = "INSERT INTO clients(id, team, begeleider, created) VALUES(?1, ?2, ?3, ?4)",
    [Q_CLIENT_MOVE] = "UPDATE clients SET team = ?2, begeleider = ?3 WHERE id = ?1",
    [Q_CLIENTS] = "SELECT c.id, t.name, u.login, c.created FROM clients c JOIN teams t ON t.id = c.team"
                  " JOIN users u ON u.id = c.begeleider ORDER BY c.id",
    [Q_HISTORY_ADD] = "INSERT OR IGNORE INTO begeleider_history(client, user, since) VALUES(?1, ?2, ?3)",
    [Q_HISTORY_HAS] = "SELECT 1 FROM begeleider_history WHERE client = ?1 AND user = ?2",
    [Q_USER_FIRST_TEAM] = "SELECT team FROM user_teams WHERE user = ?1 ORDER BY team LIMIT 1",
    [Q_CODE_ADD] = "INSERT INTO enrol_codes(id, secret_hash, user, created, expires) VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_CODE_GET] = "SELECT secret_hash, user, expires, used FROM enrol_codes WHERE id = ?1",
    [Q_CODE_SPEND] = "UPDATE enrol_codes SET used = ?2, device = ?3 WHERE id = ?1 AND used = 0",
    [Q_DEVICE_ADD] = "INSERT INTO devices(user, name, enrolled) VALUES(?1, ?2, ?3)",
    [Q_DEVICE_GET] = "SELECT d.id, d.user, u.login, d.name, d.enrolled, d.revoked, d.last_seen FROM devices d"
                     " JOIN users u ON u.id = d.user WHERE d.id = ?1",
    [Q_DEVICES] = "SELECT d.id, d.user, u.login, d.name, d.enrolled, d.revoked, d.last_seen FROM devices d"
                  " JOIN users u ON u.id = d.user WHERE d.id != 1 ORDER BY d.id",
    [Q_DEVICE_REVOKE] = "UPDATE devices SET revoked = ?2 WHERE id = ?1 AND revoked = 0",
    [Q_DEVICE_SEEN] = "UPDATE devices SET last_seen = ?2 WHERE id = ?1",
    [Q_DEVICE_COUNTER] = "UPDATE devices SET counter = counter + 1 WHERE id = ?1 RETURNING counter",
    [Q_DEVICE_REVOKED] = "SELECT 1 FROM devices WHERE id = ?1 AND revoked != 0",
    [Q_BATCH_GET] = "SELECT seq, rejected FROM batches WHERE device = ?1 AND batch = ?2",
    [Q_BATCH_ADD] = "INSERT INTO batches(device, batch, seq, rejected, at) VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_FEED_ADD] = "INSERT INTO feed(client, device, write) VALUES(?1, ?2, ?3)",
    [Q_HEAD] = "SELECT coalesce(max(seq), 0) FROM feed",
    [Q_IN_TEAM] = "SELECT 1 FROM user_teams WHERE user = ?1 AND team = ?2",
    [Q_SCOPE_ALL] = "SELECT id FROM clients UNION SELECT '" BG_ORG_CLIENT "' ORDER BY 1",
    [Q_SCOPE_USER] = "SELECT id FROM clients WHERE begeleider = ?1 OR team IN (SELECT team FROM user_teams"
                     " WHERE user = ?1) UNION SELECT '" BG_ORG_CLIENT "' ORDER BY 1",
    [Q_CURSOR_GET] = "SELECT held FROM cursors WHERE id = ?1 AND device = ?2",
    [Q_CURSOR_PRUNE] = "DELETE FROM cursors WHERE device = ?1 AND id < ?2 AND id IS NOT "
                       "(SELECT parent FROM cursors WHERE id = ?2 AND device = ?1)",
    [Q_CURSOR_ADD] = "INSERT INTO cursors(device, held, created, parent) VALUES(?1, ?2, ?3, ?4)",
    [Q_CURSORS_OF] = "SELECT id, held FROM cursors WHERE device = ?1",
    [Q_CURSOR_SET] = "UPDATE cursors SET held = ?2 WHERE id = ?1",
    [Q_PURGE_ADD] = "INSERT INTO purges(device, clients, created) VALUES(?1, ?2, ?3)",
    [Q_PURGE_GET] = "SELECT clients, acked FROM purges WHERE id = ?1 AND device = ?2",
    [Q_PURGE_ACK] = "UPDATE purges SET acked = ?2 WHERE id = ?1 AND acked = 0",
    /* one client's writes after its position, through feed_client(client, seq);
     * the device's own too when the client is fed from the start (see the page) */
    [Q_PAGE] = "SELECT seq, write FROM feed WHERE client = ?1 AND seq > ?2 AND (device != ?3 OR seq <= ?5)"
               " ORDER BY seq LIMIT ?4",
    [Q_AUDIT_LAST] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
    [Q_AUDIT_ADD] = "INSERT INTO audit(seq, at, user, device, client, action, object, outcome, hash)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [Q_DATA_VERSION] = "PRAGMA data_version",
    [Q_AUDIT_ALL] = "SELECT seq, at, user, device, client, action, object, outcome, hash FROM audit ORDER BY seq",
    [Q_AUDIT_QUERY] = "SELECT seq, at, user, device, client, action, object, outcome FROM audit"
                      " WHERE (?1 IS NULL OR client = ?1) AND (?2 = 0 OR user = ?2) AND at >= ?3 ORDER BY seq",
    [Q_USER_DISABLE] = "UPDATE users SET disabled = ?2 WHERE id = ?1",
    [Q_USER_TEAM_DEL] = "DELETE FROM user_teams WHERE user = ?1 AND team = ?2",
    [Q_TEAMS] = "SELECT t.name, (SELECT count(*) FROM user_teams ut WHERE ut.team = t.id),"
                " (SELECT count(*) FROM clients c WHERE c.team = t.id), t.created FROM teams t ORDER BY t.name",
    [Q_CLIENT_GET] = "SELECT c.id, t.name, u.login, c.created, c.team FROM clients c JOIN teams t ON t.id = c.team"
                     " JOIN users u ON u.id = c.begeleider WHERE c.id = ?1",
    [Q_CLIENT_ASSIGN] = "UPDATE clients SET begeleider = ?2 WHERE id = ?1",
    [Q_USER_DISABLED] = "SELECT disabled FROM users WHERE id = ?1",
    [Q_HISTORY] = "SELECT write FROM feed WHERE client = ?1 ORDER BY seq",
    [Q_STATS] = "SELECT (SELECT count(*) FROM users WHERE id != 1), (SELECT count(*) FROM users WHERE id != 1 AND disabled),"
                " (SELECT count(*) FROM teams), (SELECT count(*) FROM clients),"
                " (SELECT count(*) FROM devices WHERE id != 1 AND revoked = 0),"
                " (SELECT count(*) FROM devices WHERE id != 1 AND revoked = 0 AND last_seen >= ?1),"
                " (SELECT coalesce(max(seq), 0) FROM feed), (SELECT count(*) FROM audit)",
    [Q_DEVICES_ACTIVE] = "SELECT d.id, d.user, u.role FROM devices d JOIN users u ON u.id = d.user"
                         " WHERE d.id != 1 AND d.revoked = 0 ORDER BY d.id",
};

/* --- the handle --------------------------------------------------------------------------- */

/* A client the device holds: fed up to `pos`. */
typedef struct bg__held {
  char *client;
  uint64_t pos;
  /* > 0 while a client that entered the scope is fed from the start: the
   * device's own writes up to this feed position are sent too (it may have
   * dropped them at an earlier PURGE), also after the page boundary */
  uint64_t own;
} bg__held;

/* What a cursor names: held clients (sorted) and clients awaiting a PURGE ack. */
typedef struct bg__holding {
  bg__held *v;
  size_t n, cap;
  char **purging;
  size_t np, capp;
} bg__holding;

struct bg_store {
  sqlite3 *db;
  bg_sqlkv *kv;
  bg_kvcache *cache; /* the engine's view of kv: a push's writes are applied in memory */
  bg_engine eng;
  sqlite3_stmt *q[Q_N];
  char err[256];
  /* rows returned to the caller, valid until the next call */
  char row_login[BG_ID_MAX + 1], row_name[BG_TEXT_MAX + 1], row_teams[1024], row_team[BG_ID_MAX + 1];
  bg_reject *rej;
  size_t rejcap;
  bg_buf page;  /* the bytes of a page's writes */
  bg_buf names; /* the clients of a page's PURGE, NUL-separated */
  bg_str *pagev, *purgev;
  size_t pagecap, purgecap;
  bg_buf tmp;
  bool group; /* a group commit is open (bg_store_group_begin): calls are savepoints in it */
};

const char *bg_store_errmsg(const bg_store *s) { return s->err; }

__attribute__((format(printf, 3, 4))) static bg_err bg__fail(bg_store *s, bg_err e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->err, sizeof s->err, fmt, ap);
  va_end(ap);
  return e;
}

/* A SQLite failure: its code as the product's error, its message as detail. */
static bg_err bg__sqlfail(bg_store *s, int rc, const char *what) {
  return bg__fail(s, bg_sql_fail(rc), "%s: %s", what, sqlite3_errmsg(s->db));
}

/* Statement `id`, prepared on first use, reset, bindings cleared. */
static sqlite3_stmt *bg__q(bg_store *s, int id) {
  if (s->q[id] == NULL) {
    if (sqlite3_prepare_v3(s->db, bg__sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->q[id], NULL) != SQLITE_OK) {
      bg__fail(s, BG_E_STORAGE, "preparing statement %d: %s", id, sqlite3_errmsg(s->db));
      return NULL;
    }
  }
  sqlite3_reset(s->q[id]);
  sqlite3_clear_bindings(s->q[id]);
  return s->q[id];
}

/* Bind a sequence of values: "i" int64, "t" text (NUL-terminated; NULL binds NULL),
 * "s" bg_str as text, "b" blob (pointer, length as size_t). */
static int bg__bind(sqlite3_stmt *st, const char *types, ...) {
  va_list ap;
  va_start(ap, types);
  int rc = SQLITE_OK;
  for (int i = 0; types[i] && rc == SQLITE_OK; i++) {
    switch (types[i]) {
      case 'i': rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t)); break;
      case 't': {
        const char *t = va_arg(ap, const char *);
        rc = t ? sqlite3_bind_text(st, i + 1, t, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i + 1);
        break;
      }
      case 's': {
        bg_str v = va_arg(ap, bg_str);
        rc = sqlite3_bind_text(st, i + 1, v.len ? v.p : "", (int)v.len, SQLITE_STATIC);
        break;
      }
      default: {
        const void *p = va_arg(ap, const void *);
        size_t n = va_arg(ap, size_t);
        rc = sqlite3_bind_blob(st, i + 1, n ? p : "", (int)n, SQLITE_STATIC);
        break;
      }
    }
  }
  va_end(ap);
  return rc;
}

/* Run a statement that returns no rows (or ignore them). */
static bg_err bg__run(bg_store *s, sqlite3_stmt *st, const char *what) {
  if (st == NULL) return BG_E_STORAGE;
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? BG_OK : bg__sqlfail(s, rc, what);
}

/* One row expected: SQLITE_ROW -> BG_OK (the statement stays on the row),
 * none -> BG_E_NOT_FOUND. */
static bg_err bg__row(bg_store *s, sqlite3_stmt *st, const char *what) {
  if (st == NULL) return BG_E_STORAGE;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) return BG_OK;
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? BG_E_NOT_FOUND : bg__sqlfail(s, rc, what);
}

/* Step `st` through its rows, handing each to `fn`; stop at the first failure
 * (fn's, or SQLite's as BG_E_*), reset the statement. */
typedef bg_err (*bg__row_fn)(bg_store *s, sqlite3_stmt *st, void *arg);
static bg_err bg__each(bg_store *s, sqlite3_stmt *st, const char *what, bg__row_fn fn, void *arg) {
  if (st == NULL) return BG_E_STORAGE;
  bg_err r = BG_OK;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && (r = fn(s, st, arg)) == BG_OK) {
  }
  if (r == BG_OK && rc != SQLITE_DONE) r = bg__sqlfail(s, rc, what);
  sqlite3_reset(st);
  return r;
}

/* A row callback and its argument, for the listing calls. */
typedef struct bg__cb {
  void (*cb)(void); /* the caller's typed callback (function pointers convert among themselves) */
  void *arg;
} bg__cb;

static const char *bg__col_text(sqlite3_stmt *st, int col) {
  const char *t = (const char *)sqlite3_column_text(st, col);
  return t ? t : "";
}

static void bg__copy(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

/* A call's transaction: its own BEGIN IMMEDIATE ... COMMIT, or, inside a group
 * commit, a savepoint of the group's transaction that is released (kept until
 * the group commits) or rolled back alone. SQLite itself rolls the whole
 * transaction back after some errors (disk full, I/O error): then the group is
 * lost, and every later call of it fails until bg_store_group_commit says so. */
static bool bg__group_lost(const bg_store *s) { return s->group && sqlite3_get_autocommit(s->db); }

static bg_err bg__lost(bg_store *s) {
  return bg__fail(s, BG_E_STORAGE, "the store rolled back this moment's changes after an error: try again");
}

static bg_err bg__begin(bg_store *s) {
  s->err[0] = 0;
  if (bg__group_lost(s)) return bg__lost(s);
  int rc = sqlite3_exec(s->db, s->group ? "SAVEPOINT bg_call" : "BEGIN IMMEDIATE", NULL, NULL, NULL);
  return rc == SQLITE_OK ? BG_OK : bg__sqlfail(s, rc, "begin");
}

/* Commit when r is BG_OK, else roll back; returns the outcome. */
static bg_err bg__end(bg_store *s, bg_err r) {
  if (r == BG_OK) {
    int rc = sqlite3_exec(s->db, s->group ? "RELEASE bg_call" : "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK) return BG_OK;
    r = bg__sqlfail(s, rc, "commit");
  }
  if (!s->group) (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  else if (!bg__group_lost(s)) (void)sqlite3_exec(s->db, "ROLLBACK TO bg_call; RELEASE bg_call", NULL, NULL, NULL);
  return r;
}

/* A read of several statements that must see one snapshot. */
static bg_err bg__read_begin(bg_store *s) {
  s->err[0] = 0;
  if (bg__group_lost(s)) return bg__lost(s);
  int rc = sqlite3_exec(s->db, s->group ? "SAVEPOINT bg_read" : "BEGIN", NULL, NULL, NULL);
  return rc == SQLITE_OK ? BG_OK : bg__sqlfail(s, rc, "begin");
}

static void bg__read_end(bg_store *s) {
  (void)sqlite3_exec(s->db, s->group ? "RELEASE bg_read" : "COMMIT", NULL, NULL, NULL);
}

bg_err bg_store_group_begin(bg_store *s) {
  if (s->group) return BG_OK;
  s->err[0] = 0;
  int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK) return bg__sqlfail(s, rc, "begin");
  s->group = true;
  return BG_OK;
}

bg_err bg_store_group_commit(bg_store *s) {
  if (!s->group) return BG_OK;
  s->err[0] = 0;
  bool lost = bg__group_lost(s);
  s->group = false;
  if (lost) return bg__lost(s);
  int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
  if (rc == SQLITE_OK) return BG_OK;
  bg_err r = bg__sqlfail(s, rc, "commit");
  if (!sqlite3_get_autocommit(s->db)) (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return r;
}

bool bg_store_in_group(const bg_store *s) { return s->group; }

bg_err bg_store_open(const char *path, bg_store **out, char *why, size_t whylen) {
  *out = NULL;
  bg_store *s = calloc(1, sizeof *s);
  if (s == NULL) return BG_E_NOMEM;
  bg_err r = bg_sql_open(path, true, 5000, &s->db, why, whylen);
  /* A page cache of 64 MiB instead of SQLite's 2 MiB: under load the daemon
   * otherwise reads the same b-tree pages back from the OS on every push and
   * pull. Temporary storage in memory: inside a group commit each call is a
   * savepoint, whose journal (the pages the call changes, as they were) would
   * otherwise be written to a temporary file - over 1 GB/s at saturation.
   * BENCHMARKS.md, Concurrency, has the figures. */
  if (r == BG_OK &&
      sqlite3_exec(s->db, "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY", NULL, NULL, NULL) != SQLITE_OK) {
    if (why && whylen) snprintf(why, whylen, "%s: setting the page cache: %s", path, sqlite3_errmsg(s->db));
    r = BG_E_STORAGE;
  }
  int from = 0;
  if (r == BG_OK) {
    r = bg_sql_migrate(s->db, bg__migrations, (int)(sizeof bg__migrations / sizeof *bg__migrations), &from);
    if (r != BG_OK && why && whylen) {
      if (r == BG_E_NEWER_SCHEMA)
        snprintf(why, whylen, "%s: store version %d is newer than this bgsyncd's %d: update the software", path,
                 from, BG_STORE_VERSION);
      else
        snprintf(why, whylen, "%s: migrating the store: %s", path, sqlite3_errmsg(s->db));
    }
  }
  if (r == BG_OK) r = bg_sqlkv_new(s->db, &s->kv);
  if (r == BG_OK && (s->cache = bg_kvcache_new(bg_sqlkv_kv(s->kv), BG_KVCACHE_SPACES, 0)) == NULL) r = BG_E_NOMEM;
  if (r == BG_OK) r = bg_engine_init(&s->eng, bg_kvcache_kv(s->cache));
  if (r != BG_OK) {
    if (why && whylen && why[0] == 0) snprintf(why, whylen, "%s: %s", path, bg_err_message(r));
    bg_store_close(s);
    return r;
  }
  *out = s;
  return BG_OK;
}

void bg_store_close(bg_store *s) {
  if (s == NULL) return;
  if (s->kv) bg_engine_free(&s->eng);
  bg_kvcache_free(s->cache);
  bg_sqlkv_free(s->kv);
  for (int i = 0; i < Q_N; i++) sqlite3_finalize(s->q[i]);
  sqlite3_close(s->db);
  free(s->rej);
  free(s->pagev);
  free(s->purgev);
  bg_buf_free(&s->page);
  bg_buf_free(&s->names);
  bg_buf_free(&s->tmp);
  free(s);
}

/* --- people ------------------------------------------------------------------------------- */

static bool bg__name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > BG_ID_MAX || !bg_utf8_valid(name, n)) return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f || name[i] == ',') return false;
  return true;
}

static bg_err bg__team_id(bg_store *s, const char *name, int64_t *id) {
  sqlite3_stmt *st = bg__q(s, Q_TEAM_ID);
  if (st == NULL || bg__bind(st, "t", name) != SQLITE_OK) return bg__sqlfail(s, SQLITE_ERROR, "team");
  bg_err r = bg__row(s, st, "team");
  if (r == BG_E_NOT_FOUND) return bg__fail(s, r, "no team '%s' (add it with: bgctl team add %s)", name, name);
  if (r != BG_OK) return r;
  *id = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return BG_OK;
}

bg_err bg_store_team_add(bg_store *s, const char *name, int64_t now) {
  if (!bg__name_ok(name)) return bg__fail(s, BG_E_USAGE, "a team name is 1..64 bytes of text without commas");
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  sqlite3_stmt *st = bg__q(s, Q_TEAM_ADD);
  if (st == NULL || bg__bind(st, "ti", name, now) != SQLITE_OK) r = bg__sqlfail(s, SQLITE_ERROR, "team add");
  if (r == BG_OK) r = bg__run(s, st, "team add");
  if (r == BG_E_EXISTS) bg__fail(s, r, "team '%s' exists", name);
  if (r == BG_OK) r = bg_store_audit(s, now, BG_OFFICE_USER, BG_OFFICE_DEVICE, "", "team-add", name, "ok");
  return bg__end(s, r);
}

bg_err bg_store_user_add(bg_store *s, const char *login, uint8_t role, const char *team, int64_t now,
                         uint64_t *id) {
  if (!bg__name_ok(login) || login[0] == '_')
    return bg__fail(s, BG_E_USAGE, "a login is 1..64 bytes of text without commas, not starting with '_'");
  if (role < BG_ROLE_BEGELEIDER || role > BG_ROLE_ADMIN) return bg__fail(s, BG_E_USAGE, "unknown role");
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  int64_t tid = 0;
  if (team) r = bg__team_id(s, team, &tid);
  sqlite3_stmt *st = r == BG_OK ? bg__q(s, Q_USER_ADD) : NULL;
  if (r == BG_OK && (st == NULL || bg__bind(st, "tii", login, (int64_t)role, now) != SQLITE_OK))
    r = bg__sqlfail(s, SQLITE_ERROR, "user add");
  if (r == BG_OK) r = bg__run(s, st, "user add");
  if (r == BG_E_EXISTS) bg__fail(s, r, "user '%s' exists", login);
  int64_t uid = sqlite3_last_insert_rowid(s->db);
  if (r == BG_OK && team) {
    st = bg__q(s, Q_USER_TEAM_ADD);
    r = st && bg__bind(st, "ii", uid, tid) == SQLITE_OK ? bg__run(s, st, "user team") : BG_E_STORAGE;
  }
  if (r == BG_OK) r = bg_store_audit(s, now, BG_OFFICE_USER, BG_OFFICE_DEVICE, "", "user-add", login, "ok");
  r = bg__end(s, r);
  if (r == BG_OK && id) *id = (uint64_t)uid;
  return r;
}

static void bg__user_row(bg_store *s, sqlite3_stmt *st, bg_user_row *u) {
  u->id = (uint64_t)sqlite3_column_int64(st, 0);
  bg__copy(s->row_login, sizeof s->row_login, bg__col_text(st, 1));
  u->login = s->row_login;
  u->role = (uint8_t)sqlite3_column_int(st, 2);
  u->disabled = sqlite3_column_int(st, 3) != 0;
  bg__copy(s->row_teams, sizeof s->row_teams, bg__col_text(st, 4));
  u->teams = s->row_teams;
}

static bg_err bg__user_get(bg_store *s, int q, const char *login, int64_t id, bg_user_row *out) {
  s->err[0] = 0;
  sqlite3_stmt *st = bg__q(s, q);
  int rc = st == NULL ? SQLITE_ERROR : login ? bg__bind(st, "t", login) : bg__bind(st, "i", id);
  if (rc != SQLITE_OK) return bg__sqlfail(s, rc, "user");
  bg_err r = bg__row(s, st, "user");
  if (r == BG_E_NOT_FOUND) {
    if (login) return bg__fail(s, r, "no user '%s' (add one with: bgctl user add)", login);
    return bg__fail(s, r, "no user %lld", (long long)id);
  }
  if (r != BG_OK) return r;
  bg__user_row(s, st, out);
  sqlite3_reset(st);
  return BG_OK;
}

bg_err bg_store_user_by_login(bg_store *s, const char *login, bg_user_row *out) {
  return bg__user_get(s, Q_USER_BY_LOGIN, login, 0, out);
}

bg_err bg_store_user_by_id(bg_store *s, uint64_t id, bg_user_row *out) {
  return bg__user_get(s, Q_USER_BY_ID, NULL, (int64_t)id, out);
}

static bg_err bg__user_each(bg_store *s, sqlite3_stmt *st, void *arg) {
  bg__cb *c = arg;
  bg_user_row u;
  bg__user_row(s, st, &u);
  return ((bg_user_cb)c->cb)(c->arg, &u);
}

bg_err bg_store_users(bg_store *s, bg_user_cb cb, void *arg) {
  s->err[0] = 0;
  bg__cb c = {(void (*)(void))cb, arg};
  return bg__each(s, bg__q(s, Q_USERS), "users", bg__user_each, &c);
}

/* The office's own write (bgctl): dot (BG_OFFICE_DEVICE, next counter), author
 * the office, context from the store's replica. Applied and fed. */
static bg_err bg__office_write(bg_store *s, bg_str client, uint32_t rtype, bg_str rid, uint32_t field, bg_value v,
                               int64_t now, bg_outcome *outcome);

/* The office's write of traject.begeleider: the user id of the client's
 * trajectbegeleider, so that devices learn their R2 standing (the `tb` flag)
 * from the data. Its context is what the store has applied of the traject, so
 * a move supersedes the previous assignment. */
static bg_err bg__assign_begeleider(bg_store *s, const char *client, uint64_t user, int64_t now) {
  bg_value v = {BG_V_INT, false, (int64_t)user, {"", 0}};
  return bg__office_write(s, bg_str_c(client), BG_RT_TRAJECT, BG_STR("t"), 2, v, now, NULL);
}

bg_err bg_store_client_add(bg_store *s, const char *client, const char *team, const char *begeleider,
                           int64_t now) {
  if (!bg__name_ok(client) || client[0] == '_')
    return bg__fail(s, BG_E_USAGE, "a client id is 1..64 bytes of text without commas, not starting with '_'");
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  int64_t tid = 0;
  bg_user_row u;
  r = bg__team_id(s, team, &tid);
  if (r == BG_OK) r = bg_store_user_by_login(s, begeleider, &u);
  if (r == BG_OK && u.disabled) r = bg__fail(s, BG_E_USER_DISABLED, "user '%s' is disabled", begeleider);
  sqlite3_stmt *st = r == BG_OK ? bg__q(s, Q_CLIENT_ADD) : NULL;
  if (r == BG_OK && (st == NULL || bg__bind(st, "tiii", client, tid, (int64_t)u.id, now) != SQLITE_OK))
    r = bg__sqlfail(s, SQLITE_ERROR, "client add");
  if (r == BG_OK) r = bg__run(s, st, "client add");
  if (r == BG_E_EXISTS) bg__fail(s, r, "client '%s' exists", client);
  if (r == BG_OK) {
    st = bg__q(s, Q_HISTORY_ADD);
    r = st && bg__bind(st, "tii", client, (int64_t)u.id, now) == SQLITE_OK ? bg__run(s, st, "history") : BG_E_STORAGE;
  }
  if (r == BG_OK) {
    bg_value pos = {BG_V_INT, false, bg_pos_encode((bg_pos){0, BG_PH_AANMELDING}), {"", 0}};
    r = bg__office_write(s, bg_str_c(client), BG_RT_TRAJECT, BG_STR("t"), 1, pos, now, NULL);
  }
  if (r == BG_OK) r = bg__assign_begeleider(s, client, u.id, now);
  if (r == BG_OK) r = bg_store_audit(s, now, BG_OFFICE_USER, BG_OFFICE_DEVICE, client, "client-add", team, "ok");
  return bg__end(s, r);
}

bg_err bg_store_client_move(bg_store *s, const char *client, const char *team, const char *begeleider,
                            int64_t now) {
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  int64_t tid = 0;
  bg_user_row u;
  r = bg__team_id(s, team, &tid);
  if (r == BG_OK) r = bg_store_user_by_login(s, begeleider, &u);
  if (r == BG_OK && u.disabled) r = bg__fail(s, BG_E_USER_DISABLED, "user '%s' is disabled", begeleider);
  sqlite3_stmt *st = r == BG_OK ? bg__q(s, Q_CLIENT_MOVE) : NULL;
  if (r == BG_OK && (st == NULL || bg__bind(st, "tii", client, tid, (int64_t)u.id) != SQLITE_OK)) r = BG_E_STORAGE;
  if (r == BG_OK) r = bg__run(s, st, "client move");
  if (r == BG_OK && sqlite3_changes(s->db) != 1) r = bg__fail(s, BG_E_NOT_FOUND, "no client '%s'", client);
  if (r == BG_OK) {
    st = bg__q(s, Q_HISTORY_ADD);
    r = st && bg__bind(st, "tii", client, (int64_t)u.id, now) == SQLITE_OK ? bg__run(s, st, "history") : BG_E_STORAGE;
  }
  if (r == BG_OK) r = bg__assign_begeleider(s, client, u.id, now);
  char obj[160];
  snprintf(obj, sizeof obj, "to team %s, begeleider %s", team, begeleider);
  if (r == BG_OK) r = bg_store_audit(s, now, BG_OFFICE_USER, BG_OFFICE_DEVICE, client, "client-move", obj, "ok");
  return bg__end(s, r);
}

static bg_err bg__client_each(bg_store *s, sqlite3_stmt *st, void *arg) {
  (void)s;
  bg__cb *c = arg;
  bg_client_row row = {bg__col_text(st, 0), bg__col_text(st, 1), bg__col_text(st, 2), sqlite3_column_int64(st, 3)};
  return ((bg_client_cb)c->cb)(c->arg, &row);
}

bg_err bg_store_clients(bg_store *s, bg_client_cb cb, void *arg) {
  s->err[0] = 0;
  bg__cb c = {(void (*)(void))cb, arg};
  return bg__each(s, bg__q(s, Q_CLIENTS), "clients", bg__client_each, &c);
}

/* --- devices and enrolment ------------------------------------------------------------------ */

bg_err bg_store_code_add(bg_store *s, const char *id, const uint8_t secret_hash[32], uint64_t user, int64_t now,
                         int64_t expires) {
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  sqlite3_stmt *st = bg__q(s, Q_CODE_ADD);
  if (st == NULL || bg__bind(st, "tbiii", id, (const void *)secret_hash, (size_t)32, (int64_t)user, now, expires) !=
                        SQLITE_OK)
    r = bg__sqlfail(s, SQLITE_ERROR, "code add");
  if (r == BG_OK) r = bg__run(s, st, "code add");
  char obj[96];
  snprintf(obj, sizeof obj, "enrolment code %s", id);
  if (r == BG_OK) r = bg_store_audit(s, now, user, BG_OFFICE_DEVICE, "", "enrol-code", obj, "ok");
  return bg__end(s, r);
}

/* Compare secrets without an early exit (no timing hint on how much matched). */
static bool bg__same32(const uint8_t *a, const uint8_t *b) {
  uint8_t d = 0;
  for (int i = 0; i < 32; i++) d |= (uint8_t)(a[i] ^ b[i]);
  return d == 0;
}

bg_err bg_store_code_use(bg_store *s, const char *id, const uint8_t secret_hash[32], const char *name, int64_t now,
                         uint64_t *device, uint64_t *user) {
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  sqlite3_stmt *st = bg__q(s, Q_CODE_GET);
  if (st == NULL || bg__bind(st, "t", id) != SQLITE_OK) r = bg__sqlfail(s, SQLITE_ERROR, "code");
  if (r == BG_OK) r = bg__row(s, st, "code");
  int64_t uid = 0, expires = 0, used = 0;
  if (r == BG_E_NOT_FOUND) r = bg__fail(s, BG_E_ENROLL_CODE, "unknown enrolment code");
  else if (r == BG_OK) {
    bool match = sqlite3_column_bytes(st, 0) == 32 && bg__same32(sqlite3_column_blob(st, 0), secret_hash);
    uid = sqlite3_column_int64(st, 1);
    expires = sqlite3_column_int64(st, 2);
    used = sqlite3_column_int64(st, 3);
    sqlite3_reset(st);
    if (!match) r = bg__fail(s, BG_E_ENROLL_CODE, "enrolment code secret does not match");
    else if (used) r = bg__fail(s, BG_E_ENROLL_USED, "enrolment code already used");
    else if (now >= expires) r = bg__fail(s, BG_E_ENROLL_EXPIRED, "enrolment code expired");
  }
  bg_user_row u;
  if (r == BG_OK) r = bg_store_user_by_id(s, (uint64_t)uid, &u);
  if (r == BG_OK && u.disabled) r = bg__fail(s, BG_E_USER_DISABLED, "user '%s' is disabled", u.login);
  if (r == BG_OK) {
    st = bg__q(s, Q_DEVICE_ADD);
    r = st && bg__bind(st, "iti", uid, name ? name : "", now) == SQLITE_OK ? bg__run(s, st, "device add")
                                                                             : BG_E_STORAGE;
  }
  int64_t did = sqlite3_last_insert_rowid(s->db);
  if (r == BG_OK) {
    st = bg__q(s, Q_CODE_SPEND);
    r = st && bg__bind(st, "tii", id, now, did) == SQLITE_OK ? bg__run(s, st, "code spend") : BG_E_STORAGE;
    if (r == BG_OK && sqlite3_changes(s->db) != 1) r = bg__fail(s, BG_E_ENROLL_USED, "enrolment code already used");
  }
  char obj[96];
  snprintf(obj, sizeof obj, "device %lld with code %s", (long long)did, id);
  if (r == BG_OK) r = bg_store_audit(s, now, (uint64_t)uid, (uint64_t)did, "", "enrol", obj, "ok");
  r = bg__end(s, r);
  if (r == BG_OK) {
    *device = (uint64_t)did;
    *user = (uint64_t)uid;
  }
  return r;
}

static void bg__device_row(bg_store *s, sqlite3_stmt *st, bg_device_row *d) {
  d->id = (uint64_t)sqlite3_column_int64(st, 0);
  d->user = (uint64_t)sqlite3_column_int64(st, 1);
  bg__copy(s->row_login, sizeof s->row_login, bg__col_text(st, 2));
  d->login = s->row_login;
  bg__copy(s->row_name, sizeof s->row_name, bg__col_text(st, 3));
  d->name = s->row_name;
  d->enrolled = sqlite3_column_int64(st, 4);
  d->revoked = sqlite3_column_int64(st, 5);
  d->last_seen = sqlite3_column_int64(st, 6);
}

bg_err bg_store_device_get(bg_store *s, uint64_t id, bg_device_row *out) {
  s->err[0] = 0;
  sqlite3_stmt *st = bg__q(s, Q_DEVICE_GET);
  if (st == NULL || bg__bind(st, "i", (int64_t)id) != SQLITE_OK) return bg__sqlfail(s, SQLITE_ERROR, "device");
  bg_err r = bg__row(s, st, "device");
  if (r == BG_E_NOT_FOUND) return bg__fail(s, r, "no device %llu", (unsigned long long)id);
  if (r != BG_OK) return r;
  bg__device_row(s, st, out);
  sqlite3_reset(st);
  return BG_OK;
}

static bg_err bg__device_each(bg_store *s, sqlite3_stmt *st, void *arg) {
  bg__cb *c = arg;
  bg_device_row d;
  bg__device_row(s, st, &d);
  return ((bg_device_cb)c->cb)(c->arg, &d);
}

bg_err bg_store_devices(bg_store *s, bg_device_cb cb, void *arg) {
  s->err[0] = 0;
  bg__cb c = {(void (*)(void))cb, arg};
  return bg__each(s, bg__q(s, Q_DEVICES), "devices", bg__device_each, &c);
}

bg_err bg_store_device_revoke(bg_store *s, uint64_t id, int64_t now) {
  if (id == BG_OFFICE_DEVICE) return bg__fail(s, BG_E_USAGE, "device 1 is the office itself");
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  bg_device_row d;
  r = bg_store_device_get(s, id, &d);
  uint64_t user = r == BG_OK ? d.user : 0;
  if (r == BG_OK) {
    sqlite3_stmt *st = bg__q(s, Q_DEVICE_REVOKE);
    r = st && bg__bind(st, "ii", (int64_t)id, now) == SQLITE_OK ? bg__run(s, st, "revoke") : BG_E_STORAGE;
  }
  char obj[48];
  snprintf(obj, sizeof obj, "device %llu", (unsigned long long)id);
  if (r == BG_OK) r = bg_store_audit(s, now, user, BG_OFFICE_DEVICE, "", "revoke", obj, "ok");
  return bg__end(s, r);
}

bg_err bg_store_device_seen(bg_store *s, uint64_t id, int64_t now) {
  s->err[0] = 0;
  sqlite3_stmt *st = bg__q(s, Q_DEVICE_SEEN);
  if (st == NULL || bg__bind(st, "ii", (int64_t)id, now) != SQLITE_OK) return bg__sqlfail(s, SQLITE_ERROR, "seen");
  return bg__run(s, st, "device seen");
}

/* --- audit -------------------------------------------------------------------------------- */

/* hash = SHA-256(prev || [seq, at, user, device, client, action, object, outcome]) */
static bg_err bg__audit_hash(bg_store *s, const uint8_t prev[32], uint64_t seq, int64_t at, uint64_t user,
                             uint64_t device, const char *client, const char *action, const char *object,
                             const char *outcome, uint8_t out[32]) {
  bg_buf_reset(&s->tmp);
  bg_mp_out o;
  bg_mp_out_init(&o, &s->tmp);
  bg_mp_put_array(&o, 8);
  bg_mp_put_uint(&o, seq);
  bg_mp_put_int(&o, at);
  bg_mp_put_uint(&o, user);
  bg_mp_put_uint(&o, device);
  const char *t[4] = {client, action, object, outcome};
  for (int i = 0; i < 4; i++) bg_mp_put_str(&o, t[i], (uint32_t)strlen(t[i]));
  if (o.err != BG_OK) return o.err;
  mbedtls_sha256_context c;
  mbedtls_sha256_init(&c);
  int rc = mbedtls_sha256_starts_ret(&c, 0);
  if (rc == 0) rc = mbedtls_sha256_update_ret(&c, prev, 32);
  if (rc == 0) rc = mbedtls_sha256_update_ret(&c, s->tmp.data, s->tmp.len);
  if (rc == 0) rc = mbedtls_sha256_finish_ret(&c, out);
  mbedtls_sha256_free(&c);
  return rc == 0 ? BG_OK : BG_E_INTERNAL;
}

bg_err bg_store_audit(bg_store *s, int64_t now, uint64_t user, uint64_t device, const char *client,
                      const char *action, const char *object, const char *outcome) {
  /* Inside the caller's transaction when there is one; else its own. */
  bool own = sqlite3_get_autocommit(s->db) != 0;
  bg_err r = own ? bg__begin(s) : BG_OK;
  if (r != BG_OK) return r;
  uint8_t prev[32] = {0}, hash[32];
  uint64_t seq = 1;
  sqlite3_stmt *st = bg__q(s, Q_AUDIT_LAST);
  r = bg__row(s, st, "audit");
  if (r == BG_OK) {
    seq = (uint64_t)sqlite3_column_int64(st, 0) + 1;
    if (sqlite3_column_bytes(st, 1) == 32) memcpy(prev, sqlite3_column_blob(st, 1), 32);
    sqlite3_reset(st);
  } else if (r == BG_E_NOT_FOUND) {
    r = BG_OK;
  }
  client = client ? client : "";
  object = object ? object : "";
  if (r == BG_OK) r = bg__audit_hash(s, prev, seq, now, user, device, client, action, object, outcome, hash);
  if (r == BG_OK) {
    st = bg__q(s, Q_AUDIT_ADD);
    if (st == NULL || bg__bind(st, "iiiittttb", (int64_t)seq, now, (int64_t)user, (int64_t)device, client, action,
                               object, outcome, (const void *)hash, (size_t)32) != SQLITE_OK)
      r = bg__sqlfail(s, SQLITE_ERROR, "audit");
    else
      r = bg__run(s, st, "audit");
  }
  return own ? bg__end(s, r) : r;
}

static bg_err bg__audit_each(bg_store *s, sqlite3_stmt *st, void *arg) {
  (void)s;
  bg__cb *c = arg;
  bg_audit_row a = {(uint64_t)sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                    (uint64_t)sqlite3_column_int64(st, 2), (uint64_t)sqlite3_column_int64(st, 3),
                    bg__col_text(st, 4), bg__col_text(st, 5), bg__col_text(st, 6), bg__col_text(st, 7)};
  return ((bg_audit_cb)c->cb)(c->arg, &a);
}

bg_err bg_store_audit_query(bg_store *s, const bg_audit_filter *f, bg_audit_cb cb, void *arg) {
  s->err[0] = 0;
  sqlite3_stmt *st = bg__q(s, Q_AUDIT_QUERY);
  if (st == NULL || bg__bind(st, "tii", f->client, (int64_t)f->user, f->since) != SQLITE_OK)
    return bg__sqlfail(s, SQLITE_ERROR, "audit query");
  bg__cb c = {(void (*)(void))cb, arg};
  return bg__each(s, st, "audit query", bg__audit_each, &c);
}

bg_err bg_store_audit_verify(bg_store *s, uint64_t *entries, uint64_t *bad) {
  s->err[0] = 0;
  *entries = 0;
  *bad = 0;
  /* One read transaction: a consistent snapshot while the daemon appends. */
  bg_err r = bg__read_begin(s);
  if (r != BG_OK) return r;
  int rc = SQLITE_OK;
  sqlite3_stmt *st = bg__q(s, Q_AUDIT_ALL);
  if (st == NULL) r = BG_E_STORAGE;
  uint8_t prev[32] = {0}, want[32];
  uint64_t expect = 1;
  while (r == BG_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
    r = bg__audit_hash(s, prev, seq, sqlite3_column_int64(st, 1), (uint64_t)sqlite3_column_int64(st, 2),
                       (uint64_t)sqlite3_column_int64(st, 3), bg__col_text(st, 4), bg__col_text(st, 5),
                       bg__col_text(st, 6), bg__col_text(st, 7), want);
    if (r != BG_OK) break;
    if (seq != expect || sqlite3_column_bytes(st, 8) != 32 || memcmp(sqlite3_column_blob(st, 8), want, 32) != 0) {
      *bad = seq != expect && seq > expect ? expect : seq;
      r = bg__fail(s, BG_E_CORRUPT, "audit entry %llu does not follow the chain (changed, or an entry before it "
                   "was changed, inserted or removed)", (unsigned long long)*bad);
      break;
    }
    memcpy(prev, want, 32);
    expect++;
    (*entries)++;
  }
  if (r == BG_OK && rc != SQLITE_DONE) r = bg__sqlfail(s, rc, "audit");
  if (st) sqlite3_reset(st);
  bg__read_end(s);
  return r;
}

/* --- holdings (what a cursor names) -------------------------------------------------------- */

static void bg__holding_free(bg__holding *h) {
  for (size_t i = 0; i < h->n; i++) free(h->v[i].client);
  for (size_t i = 0; i < h->np; i++) free(h->purging[i]);
  free(h->v);
  free(h->purging);
  memset(h, 0, sizeof *h);
}

static char *bg__strndup(const uint8_t *p, size_t n) {
  char *c = malloc(n + 1);
  if (c) {
    memcpy(c, p, n);
    c[n] = 0;
  }
  return c;
}

static bg_err bg__holding_add(bg__holding *h, const char *client, size_t len, uint64_t pos, uint64_t own) {
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 16;
    bg__held *v = realloc(h->v, cap * sizeof *v);
    if (v == NULL) return BG_E_NOMEM;
    h->v = v;
    h->cap = cap;
  }
  char *c = bg__strndup((const uint8_t *)client, len);
  if (c == NULL) return BG_E_NOMEM;
  h->v[h->n++] = (bg__held){c, pos, own};
  return BG_OK;
}

static bg_err bg__holding_purging(bg__holding *h, const char *client, size_t len) {
  if (h->np == h->capp) {
    size_t cap = h->capp ? h->capp * 2 : 8;
    char **v = realloc(h->purging, cap * sizeof *v);
    if (v == NULL) return BG_E_NOMEM;
    h->purging = v;
    h->capp = cap;
  }
  if ((h->purging[h->np] = bg__strndup((const uint8_t *)client, len)) == NULL) return BG_E_NOMEM;
  h->np++;
  return BG_OK;
}

static int bg__held_cmp(const void *a, const void *b) {
  return strcmp(((const bg__held *)a)->client, ((const bg__held *)b)->client);
}

/* Stored form: [[client, pos, client, pos, ...], [purging client, ...]]. */
static bg_err bg__holding_parse(const uint8_t *p, size_t n, bg__holding *h) {
  memset(h, 0, sizeof *h);
  bg_mp_in in;
  uint32_t two, k;
  bg_mp_in_init(&in, p, n);
  if (!bg_mp_read_array(&in, &two) || two != 2 || !bg_mp_read_array(&in, &k) || k % 2) return BG_E_CORRUPT;
  bg_err r = BG_OK;
  for (uint32_t i = 0; i < k / 2 && r == BG_OK; i++) {
    const uint8_t *c;
    uint32_t len, two_own;
    uint64_t pos, own = 0;
    bool ok = bg_mp_read_str(&in, &c, &len);
    /* a position, or [position, own] for a client still catching up */
    if (ok && in.p < in.end && *in.p == 0x92)
      ok = bg_mp_read_array(&in, &two_own) && bg_mp_read_uint(&in, &pos) && bg_mp_read_uint(&in, &own);
    else if (ok)
      ok = bg_mp_read_uint(&in, &pos);
    r = ok ? bg__holding_add(h, (const char *)c, len, pos, own) : BG_E_CORRUPT;
  }
  if (r == BG_OK && !bg_mp_read_array(&in, &k)) r = BG_E_CORRUPT;
  for (uint32_t i = 0; i < k && r == BG_OK; i++) {
    const uint8_t *c;
    uint32_t len;
    if (!bg_mp_read_str(&in, &c, &len)) r = BG_E_CORRUPT;
    else r = bg__holding_purging(h, (const char *)c, len);
  }
  if (r == BG_OK && !bg_mp_in_done(&in)) r = BG_E_CORRUPT;
  if (r != BG_OK) bg__holding_free(h);
  /* written sorted (from the sorted scope); sorted again here so that the
   * binary search of bg__holding_find never depends on how a row was made */
  if (r == BG_OK && h->n > 1) qsort(h->v, h->n, sizeof *h->v, bg__held_cmp);
  return r;
}

static bg_err bg__holding_encode(const bg__holding *h, bg_buf *out) {
  bg_buf_reset(out);
  bg_mp_out o;
  bg_mp_out_init(&o, out);
  bg_mp_put_array(&o, 2);
  bg_mp_put_array(&o, (uint32_t)(2 * h->n));
  for (size_t i = 0; i < h->n; i++) {
    bg_mp_put_str(&o, h->v[i].client, (uint32_t)strlen(h->v[i].client));
    if (h->v[i].own) bg_mp_put_array(&o, 2);
    bg_mp_put_uint(&o, h->v[i].pos);
    if (h->v[i].own) bg_mp_put_uint(&o, h->v[i].own);
  }
  bg_mp_put_array(&o, (uint32_t)h->np);
  for (size_t i = 0; i < h->np; i++) bg_mp_put_str(&o, h->purging[i], (uint32_t)strlen(h->purging[i]));
  return o.err;
}

/* A pull looks up every client of the scope (every client, for the office):
 * the held list is sorted, so this is a binary search. */
static const bg__held *bg__holding_find(const bg__holding *h, const char *client) {
  const bg__held key = {(char *)(uintptr_t)client, 0, 0};
  return h->n ? bsearch(&key, h->v, h->n, sizeof *h->v, bg__held_cmp) : NULL;
}

/* The holding of cursor `id` of `device` (empty when 0 or unknown; *known says which). */
static bg_err bg__holding_load(bg_store *s, int q, int64_t a, int64_t b, bg__holding *h, bool *known) {
  memset(h, 0, sizeof *h);
  *known = false;
  sqlite3_stmt *st = bg__q(s, q);
  if (st == NULL || (q == Q_CURSOR_GET ? bg__bind(st, "ii", a, b) : bg__bind(st, "i", a)) != SQLITE_OK)
    return bg__sqlfail(s, SQLITE_ERROR, "cursor");
  bg_err r = bg__row(s, st, "cursor");
  if (r == BG_E_NOT_FOUND) return BG_OK;
  if (r != BG_OK) return r;
  r = bg__holding_parse(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), h);
  sqlite3_reset(st);
  if (r == BG_E_CORRUPT) bg__fail(s, r, "cursor of device %lld is damaged", (long long)(q == Q_CURSOR_GET ? b : a));
  *known = r == BG_OK;
  return r;
}

/* --- sync: scope ---------------------------------------------------------------------------- */

/* The clients `who` may see, sorted. A disabled user sees nothing, not even
 * the organisation data: every device of theirs is purged of all it holds. */
typedef struct bg__scope {
  char **v;
  size_t n, cap;
  bool disabled;
} bg__scope;

static void bg__scope_free(bg__scope *sc) {
  for (size_t i = 0; i < sc->n; i++) free(sc->v[i]);
  free(sc->v);
  memset(sc, 0, sizeof *sc);
}

static bg_err bg__scope_add(bg_store *s, sqlite3_stmt *st, void *arg) {
  (void)s;
  bg__scope *sc = arg;
  if (sc->n == sc->cap) {
    size_t cap = sc->cap ? sc->cap * 2 : 32;
    char **v = realloc(sc->v, cap * sizeof *v);
    if (v == NULL) return BG_E_NOMEM;
    sc->v = v;
    sc->cap = cap;
  }
  const char *t = bg__col_text(st, 0);
  if ((sc->v[sc->n] = bg__strndup((const uint8_t *)t, strlen(t))) == NULL) return BG_E_NOMEM;
  sc->n++;
  return BG_OK;
}

static bg_err bg__scope_load(bg_store *s, const bg_who *who, bg__scope *sc) {
  memset(sc, 0, sizeof *sc);
  sqlite3_stmt *dq = bg__q(s, Q_USER_DISABLED);
  if (dq == NULL || bg__bind(dq, "i", (int64_t)who->user) != SQLITE_OK) return bg__sqlfail(s, SQLITE_ERROR, "scope");
  bg_err dr = bg__row(s, dq, "scope");
  if (dr != BG_OK && dr != BG_E_NOT_FOUND) return dr;
  sc->disabled = dr == BG_E_NOT_FOUND || sqlite3_column_int(dq, 0) != 0;
  if (dr == BG_OK) sqlite3_reset(dq);
  if (sc->disabled) return BG_OK;
  bool all = who->role == BG_ROLE_OFFICE || who->role == BG_ROLE_ADMIN;
  sqlite3_stmt *st = bg__q(s, all ? Q_SCOPE_ALL : Q_SCOPE_USER);
  if (st == NULL || (!all && bg__bind(st, "i", (int64_t)who->user) != SQLITE_OK))
    return bg__sqlfail(s, SQLITE_ERROR, "scope");
  bg_err r = bg__each(s, st, "scope", bg__scope_add, sc);
  if (r != BG_OK) bg__scope_free(sc);
  return r;
}

/* Index of `client` in the scope, or -1. */
static long bg__scope_index(const bg__scope *sc, const char *client) {
  size_t lo = 0, hi = sc->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(sc->v[mid], client);
    if (c == 0) return (long)mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

static bool bg__scope_has(const bg__scope *sc, const char *client) { return bg__scope_index(sc, client) >= 0; }

static int bg__str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorts h->purging, each client once, for bg__holding_in_set. */
static void bg__purging_sort(bg__holding *h) {
  if (h->np < 2) return;
  qsort(h->purging, h->np, sizeof *h->purging, bg__str_cmp);
  size_t k = 1;
  for (size_t i = 1; i < h->np; i++) {
    if (strcmp(h->purging[i], h->purging[k - 1]) == 0) free(h->purging[i]);
    else h->purging[k++] = h->purging[i];
  }
  h->np = k;
}

/* Whether `client` is in the purging list of `set`, sorted by bg__purging_sort. */
static bool bg__holding_in_set(const bg__holding *set, const char *client) {
  return set->np && bsearch(&client, set->purging, set->np, sizeof *set->purging, bg__str_cmp) != NULL;
}

/* The cursors of `device` but `skip`, parsed, with their ids (*n of them;
 * free with bg__cursors_free). */
static bg_err bg__cursors_load(bg_store *s, uint64_t device, int64_t skip, int64_t **ids, bg__holding **hs,
                               size_t *n) {
  *ids = NULL;
  *hs = NULL;
  *n = 0;
  sqlite3_stmt *st = bg__q(s, Q_CURSORS_OF);
  if (st == NULL || bg__bind(st, "i", (int64_t)device) != SQLITE_OK) return bg__sqlfail(s, SQLITE_ERROR, "cursors");
  bg_err r = BG_OK;
  size_t cap = 0;
  int rc = SQLITE_DONE;
  while (r == BG_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_int64(st, 0) == skip) continue;
    if (*n == cap) {
      cap = cap ? cap * 2 : 4;
      int64_t *i2 = realloc(*ids, cap * sizeof *i2);
      if (i2) *ids = i2;
      bg__holding *h2 = i2 ? realloc(*hs, cap * sizeof *h2) : NULL;
      if (h2 == NULL) {
        r = BG_E_NOMEM;
        break;
      }
      *hs = h2;
    }
    (*ids)[*n] = sqlite3_column_int64(st, 0);
    r = bg__holding_parse(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), &(*hs)[*n]);
    if (r == BG_E_CORRUPT) bg__fail(s, r, "cursor of device %llu is damaged", (unsigned long long)device);
    if (r == BG_OK) (*n)++;
  }
  if (r == BG_OK && rc != SQLITE_DONE) r = bg__sqlfail(s, rc, "cursors");
  sqlite3_reset(st);
  return r;
}

static void bg__cursors_free(int64_t *ids, bg__holding *hs, size_t n) {
  for (size_t i = 0; i < n; i++) bg__holding_free(&hs[i]);
  free(hs);
  free(ids);
}

/* Adds to all->purging every client that a cursor of `device` other than
 * `skip` names (held or being purged) and - when `outside` is given - that is
 * not in that scope; then sorts the list, each client once. A device may
 * present any cursor it was given and has not confirmed past, and a pull
 * carries the names of every cursor it finds into the one it issues: together
 * the device's cursors name everything it may hold. */
static bg_err bg__device_holding(bg_store *s, uint64_t device, int64_t skip, const bg__scope *outside,
                                 bg__holding *all) {
  int64_t *ids;
  bg__holding *hs;
  size_t n;
  bg_err r = bg__cursors_load(s, device, skip, &ids, &hs, &n);
  for (size_t k = 0; r == BG_OK && k < n; k++) {
    for (size_t i = 0; r == BG_OK && i < hs[k].n + hs[k].np; i++) {
      const char *c = i < hs[k].n ? hs[k].v[i].client : hs[k].purging[i - hs[k].n];
      if (outside == NULL || !bg__scope_has(outside, c)) r = bg__holding_purging(all, c, strlen(c));
    }
  }
  bg__cursors_free(ids, hs, n);
  if (r == BG_OK) bg__purging_sort(all);
  return r;
}

/* Rewrites every cursor of `device` for the clients of `set` (sorted). With
 * `drop`, those being purged are gone from it (the device acknowledged
 * dropping them; one held again came back into the scope since, and was fed
 * anew). Without, one held becomes one being purged: the device may drop it
 * and its ACK be lost with the connection, and should the client come back
 * into the scope it is then fed from its first write, not from where the
 * device was. */
static bg_err bg__cursors_rewrite(bg_store *s, uint64_t device, const bg__holding *set, bool drop) {
  int64_t *ids;
  bg__holding *hs;
  size_t n;
  bg_err r = bg__cursors_load(s, device, -1, &ids, &hs, &n);
  for (size_t k = 0; r == BG_OK && k < n; k++) {
    bg__holding kept = {0};
    bool changed = false;
    for (size_t i = 0; r == BG_OK && i < hs[k].n; i++) {
      const bg__held *hd = &hs[k].v[i];
      if (!drop && bg__holding_in_set(set, hd->client)) {
        r = bg__holding_purging(&kept, hd->client, strlen(hd->client));
        changed = true;
      } else {
        r = bg__holding_add(&kept, hd->client, strlen(hd->client), hd->pos, hd->own);
      }
    }
    for (size_t i = 0; r == BG_OK && i < hs[k].np; i++) {
      const char *c = hs[k].purging[i];
      if (drop && bg__holding_in_set(set, c)) changed = true;
      else r = bg__holding_purging(&kept, c, strlen(c));
    }
    if (r == BG_OK && changed) {
      sqlite3_stmt *st = NULL;
      if ((r = bg__holding_encode(&kept, &s->tmp)) == BG_OK) st = bg__q(s, Q_CURSOR_SET);
      if (r == BG_OK)
        r = st && bg__bind(st, "ib", ids[k], (const void *)s->tmp.data, s->tmp.len) == SQLITE_OK
                ? bg__run(s, st, "cursor set")
                : BG_E_STORAGE;
    }
    bg__holding_free(&kept);
  }
  bg__cursors_free(ids, hs, n);
  return r;
}

/* Adds to out->purging every client of the store outside `sc`: what a device
 * may hold when it presents a cursor this store does not know (the store was
 * restored from an older backup, say). */
static bg_err bg__all_outside(bg_store *s, const bg__scope *sc, bg__holding *out) {
  bg__scope all = {0};
  sqlite3_stmt *st = bg__q(s, Q_SCOPE_ALL);
  bg_err r = st ? bg__each(s, st, "clients", bg__scope_add, &all) : BG_E_STORAGE;
  for (size_t i = 0; r == BG_OK && i < all.n; i++)
    if (!bg__scope_has(sc, all.v[i])) r = bg__holding_purging(out, all.v[i], strlen(all.v[i]));
  bg__scope_free(&all);
  if (r == BG_OK) bg__purging_sort(out);
  return r;
}

/* --- sync: push ---------------------------------------------------------------------------- */

/* BG_E_DEVICE_REVOKED when `who` is a revoked device. Checked inside the
 * transaction of each push and pull, so from the commit of the revocation on
 * nothing of the device is accepted and nothing is served to it - also in the
 * moment before the daemon's poll (twice a second, server.c) ends its open
 * sessions. */
static bg_err bg__not_revoked(bg_store *s, const bg_who *who) {
  sqlite3_stmt *st = bg__q(s, Q_DEVICE_REVOKED);
  if (st == NULL || bg__bind(st, "i", (int64_t)who->device) != SQLITE_OK) return bg__sqlfail(s, SQLITE_ERROR, "device");
  bg_err r = bg__row(s, st, "device");
  if (r == BG_E_NOT_FOUND) return BG_OK;
  if (r != BG_OK) return r;
  sqlite3_reset(st);
  return bg__fail(s, BG_E_DEVICE_REVOKED,
                  "device %llu has been revoked by the office; its data can no longer be synced",
                  (unsigned long long)who->device);
}

bg_err bg_store_digest(bg_store *s, const char *client, uint8_t out[32]) {
  s->err[0] = 0;
  bg_err r = bg__read_begin(s);
  if (r != BG_OK) return r;
  r = bg_engine_digest(&s->eng, bg_str_c(client), out);
  bg__read_end(s);
  return r;
}

bg_err bg_store_data_version(bg_store *s, uint64_t *v) {
  sqlite3_stmt *st = bg__q(s, Q_DATA_VERSION);
  bg_err r = bg__row(s, st, "data version");
  if (r != BG_OK) return r;
  *v = (uint64_t)sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return BG_OK;
}

bg_err bg_store_head(bg_store *s, uint64_t *seq) {
  sqlite3_stmt *st = bg__q(s, Q_HEAD);
  bg_err r = bg__row(s, st, "head");
  if (r != BG_OK) return r;
  *seq = (uint64_t)sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return BG_OK;
}

static bg_err bg__feed_add(bg_store *s, const bg_write *w) {
  bg_buf_reset(&s->tmp);
  bg_err r = bg_write_encode(w, &s->tmp);
  if (r != BG_OK) return r;
  sqlite3_stmt *st = bg__q(s, Q_FEED_ADD);
  if (st == NULL || bg__bind(st, "sib", w->client, (int64_t)w->dot.device, (const void *)s->tmp.data, s->tmp.len) !=
                        SQLITE_OK)
    return bg__sqlfail(s, SQLITE_ERROR, "feed");
  return bg__run(s, st, "feed");
}

/* Apply one write through the engine; feed it when it took part. *refused gets
 * a validation error (the write is refused, nothing stored). */
static bg_err bg__apply(bg_store *s, const bg_write *w, bg_err *refused, bg_outcome *outcome) {
  bg_apply_result res;
  *refused = BG_OK;
  bg_err r = bg_engine_apply(&s->eng, w, &res);
  if (r == BG_OK) {
    *outcome = res.outcome;
    return res.outcome == BG_DUPLICATE ? BG_OK : bg__feed_add(s, w);
  }
  switch (r) {
    case BG_E_UNKNOWN_RECORD: case BG_E_UNKNOWN_FIELD: case BG_E_VALUE: case BG_E_PHASE_TRANSITION:
    case BG_E_FORBIDDEN: case BG_E_DOT_REUSED: case BG_E_USAGE: case BG_E_LIMIT: case BG_E_UTF8:
      *refused = r == BG_E_USAGE || r == BG_E_LIMIT || r == BG_E_UTF8 ? BG_E_VALUE : r;
      return BG_OK;
    default:
      return bg__fail(s, r, "applying a write: %s", bg_err_message(r));
  }
}

static bg_err bg__office_write(bg_store *s, bg_str client, uint32_t rtype, bg_str rid, uint32_t field, bg_value v,
                               int64_t now, bg_outcome *outcome) {
  bg_write w;
  memset(&w, 0, sizeof w);
  w.client = client;
  w.rtype = rtype;
  w.rid = rid;
  w.field = field;
  w.value = v;
  bg_err r = bg_engine_context_for(&s->eng, &w);
  sqlite3_stmt *st = r == BG_OK ? bg__q(s, Q_DEVICE_COUNTER) : NULL;
  if (r == BG_OK && (st == NULL || bg__bind(st, "i", (int64_t)BG_OFFICE_DEVICE) != SQLITE_OK)) r = BG_E_STORAGE;
  if (r == BG_OK) r = bg__row(s, st, "office counter");
  if (r == BG_OK) {
    w.dot = (bg_dot){BG_OFFICE_DEVICE, (uint64_t)sqlite3_column_int64(st, 0)};
    sqlite3_reset(st);
    w.user = BG_OFFICE_USER;
    w.role = BG_ROLE_ADMIN;
    w.hlc = bg_hlc_make((uint64_t)now, 0);
    bg_err refused;
    bg_outcome o;
    r = bg__apply(s, &w, &refused, &o);
    if (r == BG_OK && refused != BG_OK) r = bg__fail(s, refused, "the office's write was refused: %s", bg_err_message(refused));
    if (r == BG_OK && outcome) *outcome = o;
  }
  bg_vv_free(&w.ctx);
  return r;
}

static bg_err bg__reject(bg_store *s, uint32_t *n, uint32_t index, bg_err code) {
  if (*n == s->rejcap) {
    size_t cap = s->rejcap ? s->rejcap * 2 : 16;
    bg_reject *v = realloc(s->rej, cap * sizeof *v);
    if (v == NULL) return BG_E_NOMEM;
    s->rej = v;
    s->rejcap = cap;
  }
  s->rej[(*n)++] = (bg_reject){index, (uint32_t)code};
  return BG_OK;
}

/* May `who` write to `client`? In scope now, or held by the device (access it
 * had when the work was done; the PURGE follows the push). The latest cursor
 * issued to the device may be one it never received (the connection was cut
 * after the pull): its held clients and those it names for PURGE together
 * cover everything the device may still hold - a client is dropped from the
 * cursors only when the device acknowledged its PURGE. */
static bg_err bg__may_write(bg_store *s, const bg_who *who, const char *client, const bg__scope *sc,
                            bg__holding *held, bool *held_loaded, bool *ok) {
  *ok = bg__scope_has(sc, client);
  if (*ok) return BG_OK;
  if (!*held_loaded) {
    memset(held, 0, sizeof *held);
    bg_err r = bg__device_holding(s, who->device, -1, NULL, held);
    if (r != BG_OK) return r;
    *held_loaded = true;
  }
  *ok = bg__holding_in_set(held, client);
  return BG_OK;
}

/* Whether a write opens the traject of a new client from an office device: the
 * registration of an aanmelding taken outside the office's bgctl. */
static bool bg__is_registration(const bg_write *w, const bg_who *who) {
  return (who->role == BG_ROLE_OFFICE || who->role == BG_ROLE_ADMIN) && w->rtype == BG_RT_TRAJECT && w->field == 1 &&
         w->value.type == BG_V_INT && w->value.i == bg_pos_encode((bg_pos){0, BG_PH_AANMELDING}) &&
         w->client.len > 0 && w->client.p[0] != '_';
}

/* Register `client`, new, for the office user who opened its traject: in the
 * user's first team, with the user as trajectbegeleider until the office
 * assigns one (bgctl client move). A user in no team cannot: *refuse. The
 * scope is reloaded so the rest of the batch may write to the client. */
static bg_err bg__register(bg_store *s, const bg_who *who, const char *client, int64_t now, bg__scope *sc,
                           bg_err *refuse) {
  if (!bg__name_ok(client)) {
    *refuse = BG_E_VALUE;
    return BG_OK;
  }
  sqlite3_stmt *st = bg__q(s, Q_USER_FIRST_TEAM);
  if (st == NULL || bg__bind(st, "i", (int64_t)who->user) != SQLITE_OK) return bg__sqlfail(s, SQLITE_ERROR, "team");
  bg_err r = bg__row(s, st, "team");
  if (r == BG_E_NOT_FOUND) {
    *refuse = BG_E_FORBIDDEN; /* no team to put the client in */
    return BG_OK;
  }
  if (r != BG_OK) return r;
  int64_t team = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  st = bg__q(s, Q_CLIENT_ADD);
  if (st == NULL || bg__bind(st, "tiii", client, team, (int64_t)who->user, now) != SQLITE_OK)
    return bg__sqlfail(s, SQLITE_ERROR, "client add");
  if ((r = bg__run(s, st, "client add")) != BG_OK) return r;
  st = bg__q(s, Q_HISTORY_ADD);
  r = st && bg__bind(st, "tii", client, (int64_t)who->user, now) == SQLITE_OK ? bg__run(s, st, "history") : BG_E_STORAGE;
  if (r == BG_OK) r = bg__assign_begeleider(s, client, who->user, now);
  if (r == BG_OK) r = bg_store_audit(s, now, who->user, who->device, client, "client-add", "from a device", "ok");
  if (r != BG_OK) return r;
  bg__scope_free(sc);
  return bg__scope_load(s, who, sc);
}

bg_err bg_store_push(bg_store *s, const bg_who *who, uint64_t batch, const bg_write *writes, uint32_t n, int64_t now,
                     bg_push_result *out) {
  memset(out, 0, sizeof *out);
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  if ((r = bg__not_revoked(s, who)) != BG_OK) return bg__end(s, r);
  /* a batch seen before: the first answer again */
  sqlite3_stmt *st = bg__q(s, Q_BATCH_GET);
  if (st == NULL || bg__bind(st, "ii", (int64_t)who->device, (int64_t)batch) != SQLITE_OK)
    return bg__end(s, bg__sqlfail(s, SQLITE_ERROR, "batch"));
  r = bg__row(s, st, "batch");
  if (r == BG_OK) {
    out->duplicate = true;
    out->seq = (uint64_t)sqlite3_column_int64(st, 0);
    bg_mp_in in;
    uint32_t k = 0;
    bg_mp_in_init(&in, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    if (!bg_mp_read_array(&in, &k) || k % 2) r = BG_E_CORRUPT;
    for (uint32_t i = 0; i < k / 2 && r == BG_OK; i++) {
      uint64_t idx, code;
      if (!bg_mp_read_uint(&in, &idx) || !bg_mp_read_uint(&in, &code)) r = BG_E_CORRUPT;
      else r = bg__reject(s, &out->n_rejected, (uint32_t)idx, (bg_err)code);
    }
    sqlite3_reset(st);
    out->rejected = s->rej;
    return bg__end(s, r);
  }
  if (r != BG_E_NOT_FOUND) return bg__end(s, r);
  r = BG_OK;

  bg__scope sc;
  bg__holding held = {0};
  bool held_loaded = false;
  if ((r = bg__scope_load(s, who, &sc)) != BG_OK) return bg__end(s, r);
  uint32_t nrej = 0;
  char client[BG_ID_MAX + 1];
  /* the batch's field states and records in memory, written once at the end */
  bool cached = bg_kvcache_begin(s->cache) == BG_OK;
  if (!cached) r = bg__fail(s, BG_E_USAGE, "the merge state is already being applied");
  for (uint32_t i = 0; i < n && r == BG_OK; i++) {
    const bg_write *w = &writes[i];
    bg_err refuse = BG_OK;
    snprintf(client, sizeof client, "%.*s", (int)w->client.len, w->client.p);
    bool ok = false;
    if (w->dot.device != who->device || w->user != who->user || w->role != who->role) refuse = BG_E_AUTHOR;
    else if (memchr(w->client.p, 0, w->client.len) != NULL) refuse = BG_E_VALUE;
    else if ((r = bg__may_write(s, who, client, &sc, &held, &held_loaded, &ok)) != BG_OK) break;
    else if (!ok && !sc.disabled && bg__is_registration(w, who)) r = bg__register(s, who, client, now, &sc, &refuse);
    else if (!ok) refuse = BG_E_FORBIDDEN;
    else if (w->tb) {
      /* the trajectbegeleider claim: the user is, or has been, this client's */
      st = bg__q(s, Q_HISTORY_HAS);
      if (st == NULL || bg__bind(st, "ti", client, (int64_t)who->user) != SQLITE_OK) r = BG_E_STORAGE;
      else if ((r = bg__row(s, st, "history")) == BG_OK) sqlite3_reset(st);
      else if (r == BG_E_NOT_FOUND) {
        r = BG_OK;
        refuse = BG_E_AUTHOR;
      }
    }
    if (r == BG_OK && refuse == BG_OK) {
      bg_outcome o = BG_APPLIED;
      r = bg__apply(s, w, &refuse, &o);
      if (r == BG_OK && refuse == BG_OK && o == BG_APPLIED) out->applied++;
      if (r == BG_OK && refuse == BG_OK && o == BG_PROPOSAL) out->proposals++;
    }
    if (r == BG_OK && refuse != BG_OK) {
      r = bg__reject(s, &nrej, i, refuse);
      char obj[64];
      snprintf(obj, sizeof obj, "batch %llu write %u", (unsigned long long)batch, i);
      if (r == BG_OK) r = bg_store_audit(s, now, who->user, who->device, client, "write", obj, bg_err_name(refuse));
    }
  }
  /* one audit entry per client written to, in the order they first appear:
   * the distinct clients of a batch are few, so a list is searched */
  typedef struct { bg_str client; uint32_t first, count; } bg__written;
  bg__written *seen = r == BG_OK ? calloc(n ? n : 1, sizeof *seen) : NULL;
  bool *refused = r == BG_OK ? calloc(n ? n : 1, sizeof *refused) : NULL;
  uint32_t nseen = 0;
  if (r == BG_OK && (seen == NULL || refused == NULL)) r = BG_E_NOMEM;
  for (uint32_t k = 0; r == BG_OK && k < nrej; k++) refused[s->rej[k].index] = true;
  for (uint32_t i = 0; r == BG_OK && i < n; i++) {
    uint32_t j = 0;
    while (j < nseen && !bg_str_eq(seen[j].client, writes[i].client)) j++;
    if (j == nseen) seen[nseen++] = (bg__written){writes[i].client, i, 0};
    seen[j].count++;
  }
  for (uint32_t j = 0; r == BG_OK && j < nseen; j++) {
    if (seen[j].count == 1 && refused[seen[j].first]) continue; /* its refusal is on record */
    char obj[64];
    snprintf(obj, sizeof obj, "batch %llu: %u writes", (unsigned long long)batch, seen[j].count);
    snprintf(client, sizeof client, "%.*s", (int)seen[j].client.len, seen[j].client.p);
    r = bg_store_audit(s, now, who->user, who->device, client, "write", obj, "ok");
  }
  free(seen);
  free(refused);
  bg__scope_free(&sc);
  bg__holding_free(&held);
  if (r == BG_OK) r = bg_store_head(s, &out->seq);
  if (r == BG_OK) {
    bg_buf_reset(&s->tmp);
    bg_mp_out o;
    bg_mp_out_init(&o, &s->tmp);
    bg_mp_put_array(&o, 2 * nrej);
    for (uint32_t k = 0; k < nrej; k++) {
      bg_mp_put_uint(&o, s->rej[k].index);
      bg_mp_put_uint(&o, s->rej[k].code);
    }
    r = o.err;
    st = r == BG_OK ? bg__q(s, Q_BATCH_ADD) : NULL;
    if (r == BG_OK && (st == NULL || bg__bind(st, "iiibi", (int64_t)who->device, (int64_t)batch, (int64_t)out->seq,
                                              (const void *)s->tmp.data, s->tmp.len, now) != SQLITE_OK))
      r = BG_E_STORAGE;
    if (r == BG_OK) r = bg__run(s, st, "batch add");
  }
  out->rejected = s->rej;
  out->n_rejected = nrej;
  if (cached && r != BG_OK) bg_kvcache_discard(s->cache);
  else if (cached && (r = bg_kvcache_end(s->cache)) != BG_OK)
    r = bg__fail(s, r, "writing the batch's merge state: %s", bg_err_message(r));
  r = bg__end(s, r);
  if (r != BG_OK) memset(out, 0, sizeof *out);
  return r;
}

/* --- sync: pull ------------------------------------------------------------------------------ */

static bg_err bg__page_reserve(bg_str **v, size_t *cap, size_t need) {
  if (need <= *cap) return BG_OK;
  size_t c = need < 64 ? 64 : need * 2;
  bg_str *nv = realloc(*v, c * sizeof *nv);
  if (nv == NULL) return BG_E_NOMEM;
  *v = nv;
  *cap = c;
  return BG_OK;
}

bg_err bg_store_pull(bg_store *s, const bg_who *who, uint64_t cursor, uint32_t max_bytes, uint32_t max_writes,
                     int64_t now, bg_pull_page *out) {
  memset(out, 0, sizeof *out);
  if (max_writes == 0 || max_writes > BG_MSG_MAX_WRITES) max_writes = BG_MSG_MAX_WRITES;
  if (max_bytes == 0) max_bytes = BG_PULL_DEFAULT_BYTES;
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  if ((r = bg__not_revoked(s, who)) != BG_OK) return bg__end(s, r);
  bg__holding h, next = {0};
  bool known = false;
  bg__scope sc = {0};
  r = cursor ? bg__holding_load(s, Q_CURSOR_GET, (int64_t)cursor, (int64_t)who->device, &h, &known) : BG_OK;
  if (!cursor) memset(&h, 0, sizeof h);
  if (r == BG_OK && known) {
    /* the device confirmed the cursor `cursor` was issued from (its parent):
     * the cursors issued before `cursor` are spent, except that parent. It
     * stays: a device may pull from a page's next before it has committed
     * the page (PROTOCOL.md 6b), and if it fails to, the parent is the
     * cursor it comes back with. Later ones stay: one of a session that was
     * cut, or of a connection the device gave up on and the daemon still
     * serves, may name what it holds */
    sqlite3_stmt *st = bg__q(s, Q_CURSOR_PRUNE);
    r = st && bg__bind(st, "ii", (int64_t)who->device, (int64_t)cursor) == SQLITE_OK ? bg__run(s, st, "prune")
                                                                                      : BG_E_STORAGE;
  }
  if (r == BG_OK) r = bg__scope_load(s, who, &sc);

  /* PURGE: every client outside the scope that the device may hold - named
   * by any of its cursors, or, when the cursor it presents is one this store
   * does not know, any client at all. All of them are named in the next
   * cursor; one PURGE carries at most BG_MSG_MAX_PURGE, the rest come next. */
  bg_buf_reset(&s->page);
  for (size_t i = 0; r == BG_OK && i < h.n + h.np; i++) {
    const char *c = i < h.n ? h.v[i].client : h.purging[i - h.n];
    if (!bg__scope_has(&sc, c)) r = bg__holding_purging(&next, c, strlen(c));
  }
  if (r == BG_OK)
    r = cursor && !known ? bg__all_outside(s, &sc, &next) : bg__device_holding(s, who->device, (int64_t)cursor, &sc, &next);
  size_t np = next.np < BG_MSG_MAX_PURGE ? next.np : BG_MSG_MAX_PURGE;
  if (r == BG_OK && np > 0) {
    bg_mp_out o;
    bg_buf_reset(&s->tmp);
    bg_mp_out_init(&o, &s->tmp);
    bg_mp_put_array(&o, (uint32_t)np);
    for (size_t i = 0; i < np; i++) bg_mp_put_str(&o, next.purging[i], (uint32_t)strlen(next.purging[i]));
    sqlite3_stmt *st = o.err == BG_OK ? bg__q(s, Q_PURGE_ADD) : NULL;
    r = st && bg__bind(st, "ibi", (int64_t)who->device, (const void *)s->tmp.data, s->tmp.len, now) == SQLITE_OK
            ? bg__run(s, st, "purge")
            : BG_E_STORAGE;
    out->purge_id = (uint64_t)sqlite3_last_insert_rowid(s->db);
    if (r == BG_OK) r = bg__page_reserve(&s->purgev, &s->purgecap, np);
    bg_buf_reset(&s->names);
    for (size_t i = 0; r == BG_OK && i < np; i++) r = bg_buf_append(&s->names, next.purging[i], strlen(next.purging[i]) + 1);
    const char *name = (const char *)s->names.data;
    for (size_t i = 0; r == BG_OK && i < np; i++) {
      s->purgev[i] = (bg_str){name, (uint32_t)strlen(name)};
      name += s->purgev[i].len + 1;
      char obj[48];
      snprintf(obj, sizeof obj, "purge %llu", (unsigned long long)out->purge_id);
      r = bg_store_audit(s, now, who->user, who->device, next.purging[i], "purge", obj, "sent");
    }
    out->purge = s->purgev;
    out->n_purge = (uint32_t)np;
  }
  /* every cursor of the device counts them as purging from now on */
  if (r == BG_OK && next.np > 0) r = bg__cursors_rewrite(s, who->device, &next, false);

  /* The page: client by client in scope order, each from its own position and
   * in feed order, through the feed's (client, seq) index - so a page costs
   * what it returns. The device's own writes are left out (it has them),
   * except for a client fed from the start: one entering the scope may be one
   * the device dropped at an earlier PURGE (a client moved back, a user enabled
   * again), its own writes with it. (One query ordering the scope's whole remaining feed by
   * seq read everything still to come for every page: an initial sync was
   * quadratic in the caseload.) The client the page stops in is fed up to
   * its last write sent, the clients it drained up to the head, the clients
   * it did not reach keep their position. */
  uint64_t head = 0;
  if (r == BG_OK) r = bg_store_head(s, &head);
  uint32_t n = 0;
  size_t bytes = 0;
  /* offsets first (the buffer may move while it grows), pointers after;
   * read[i]: the page holds writes of scope client i (audited below) */
  size_t *offs = NULL;
  bool *read = NULL;
  uint64_t *upto = NULL, *own = NULL;
  if (r == BG_OK && ((offs = malloc((size_t)(max_writes + 1) * 2 * sizeof *offs)) == NULL ||
                     (read = calloc(sc.n + 1, sizeof *read)) == NULL || (upto = calloc(sc.n + 1, sizeof *upto)) == NULL ||
                     (own = calloc(sc.n + 1, sizeof *own)) == NULL))
    r = BG_E_NOMEM;
  for (size_t i = 0; r == BG_OK && i < sc.n; i++) {
    const bg__held *hd = bg__holding_find(&h, sc.v[i]);
    upto[i] = hd ? hd->pos : 0;
    /* fed from the start: its own writes up to now too, until it has caught up */
    own[i] = hd && hd->pos > 0 ? hd->own : head;
    if (upto[i] >= head || out->more) continue; /* nothing new, or the page is full */
    sqlite3_stmt *st = bg__q(s, Q_PAGE);
    if (st == NULL || bg__bind(st, "tiiii", sc.v[i], (int64_t)upto[i], (int64_t)who->device,
                               (int64_t)(max_writes - n) + 1, (int64_t)own[i]) != SQLITE_OK) {
      r = BG_E_STORAGE;
      break;
    }
    int rc = SQLITE_DONE;
    while (r == BG_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      size_t len = (size_t)sqlite3_column_bytes(st, 1);
      if (n == max_writes || (n > 0 && bytes + len > max_bytes)) {
        out->more = true;
        break;
      }
      offs[2 * n] = s->page.len;
      offs[2 * n + 1] = len;
      r = bg_buf_append(&s->page, sqlite3_column_blob(st, 1), len);
      bytes += len;
      upto[i] = (uint64_t)sqlite3_column_int64(st, 0);
      read[i] = true;
      n++;
    }
    if (r == BG_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) r = bg__sqlfail(s, rc, "page");
    sqlite3_reset(st);
    if (r == BG_OK && !out->more) upto[i] = head; /* drained */
  }
  if (r == BG_OK) r = bg__page_reserve(&s->pagev, &s->pagecap, n);
  for (uint32_t i = 0; r == BG_OK && i < n; i++)
    s->pagev[i] = (bg_str){(const char *)s->page.data + offs[2 * i], (uint32_t)offs[2 * i + 1]};
  free(offs);

  /* audit the reads: one entry per client with writes in the page */
  for (size_t i = 0; r == BG_OK && read && i < sc.n; i++) {
    if (!read[i]) continue;
    char obj[48];
    snprintf(obj, sizeof obj, "pull after cursor %llu", (unsigned long long)cursor);
    r = bg_store_audit(s, now, who->user, who->device, sc.v[i], "read", obj, "ok");
  }
  free(read);

  /* the next cursor: every client in scope with its position after the page;
   * clients still to be purged */
  for (size_t i = 0; r == BG_OK && i < sc.n; i++)
    r = bg__holding_add(&next, sc.v[i], strlen(sc.v[i]), upto[i], upto[i] >= head || upto[i] == 0 ? 0 : own[i]);
  free(upto);
  free(own);
  if (r == BG_OK) r = bg__holding_encode(&next, &s->tmp);
  if (r == BG_OK) {
    sqlite3_stmt *st = bg__q(s, Q_CURSOR_ADD);
    r = st && bg__bind(st, "ibii", (int64_t)who->device, (const void *)s->tmp.data, s->tmp.len, now,
                       known ? (int64_t)cursor : (int64_t)0) == SQLITE_OK
            ? bg__run(s, st, "cursor")
            : BG_E_STORAGE;
    out->next = (uint64_t)sqlite3_last_insert_rowid(s->db);
  }
  out->writes = s->pagev;
  out->n = n;
  bg__holding_free(&h);
  bg__holding_free(&next);
  bg__scope_free(&sc);
  r = bg__end(s, r);
  if (r != BG_OK) memset(out, 0, sizeof *out);
  return r;
}

bg_err bg_store_purge_ack(bg_store *s, const bg_who *who, uint64_t id, int64_t now) {
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  sqlite3_stmt *st = bg__q(s, Q_PURGE_GET);
  if (st == NULL || bg__bind(st, "ii", (int64_t)id, (int64_t)who->device) != SQLITE_OK) r = BG_E_STORAGE;
  if (r == BG_OK) r = bg__row(s, st, "purge");
  if (r == BG_E_NOT_FOUND) r = bg__fail(s, r, "no PURGE %llu for this device", (unsigned long long)id);
  if (r == BG_OK && sqlite3_column_int64(st, 1) != 0) { /* acknowledged before: nothing more to do, or to audit */
    sqlite3_reset(st);
    return bg__end(s, BG_OK);
  }
  bg__holding gone = {0};
  if (r == BG_OK) {
    /* the purge's clients, parsed into gone.purging */
    bg_mp_in in;
    uint32_t k;
    bg_mp_in_init(&in, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    if (!bg_mp_read_array(&in, &k)) r = BG_E_CORRUPT;
    for (uint32_t i = 0; i < k && r == BG_OK; i++) {
      const uint8_t *c;
      uint32_t len;
      r = bg_mp_read_str(&in, &c, &len) ? bg__holding_purging(&gone, (const char *)c, len) : BG_E_CORRUPT;
    }
    sqlite3_reset(st);
  }
  if (r == BG_OK) {
    st = bg__q(s, Q_PURGE_ACK);
    r = st && bg__bind(st, "ii", (int64_t)id, now) == SQLITE_OK ? bg__run(s, st, "purge ack") : BG_E_STORAGE;
  }
  /* drop the clients from every cursor of the device: it holds them no more */
  if (r == BG_OK) {
    bg__purging_sort(&gone);
    r = bg__cursors_rewrite(s, who->device, &gone, true);
  }
  for (size_t i = 0; r == BG_OK && i < gone.np; i++) {
    char obj[48];
    snprintf(obj, sizeof obj, "purge %llu", (unsigned long long)id);
    r = bg_store_audit(s, now, who->user, who->device, gone.purging[i], "purge", obj, "done");
  }
  bg__holding_free(&gone);
  return bg__end(s, r);
}

/* --- the office: people and access ------------------------------------------------------------ */

/* A user bgctl may change: an existing login that is not the office's own. */
static bg_err bg__user_for_change(bg_store *s, const char *login, bg_user_row *u) {
  if (login == NULL || login[0] == '_') return bg__fail(s, BG_E_USAGE, "'%s' is the office itself", login ? login : "");
  return bg_store_user_by_login(s, login, u);
}

bg_err bg_store_user_set_disabled(bg_store *s, const char *login, bool disabled, int64_t now) {
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  bg_user_row u;
  r = bg__user_for_change(s, login, &u);
  if (r == BG_OK && u.disabled == disabled)
    r = bg__fail(s, BG_E_EXISTS, "user '%s' is %s already", login, disabled ? "disabled" : "enabled");
  sqlite3_stmt *st = r == BG_OK ? bg__q(s, Q_USER_DISABLE) : NULL;
  if (r == BG_OK)
    r = st && bg__bind(st, "ii", (int64_t)u.id, (int64_t)disabled) == SQLITE_OK ? bg__run(s, st, "user disable")
                                                                                 : BG_E_STORAGE;
  if (r == BG_OK)
    r = bg_store_audit(s, now, u.id, BG_OFFICE_DEVICE, "", disabled ? "user-disable" : "user-enable", login, "ok");
  return bg__end(s, r);
}

bg_err bg_store_user_team(bg_store *s, const char *login, const char *team, bool member, int64_t now) {
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  bg_user_row u;
  int64_t tid = 0;
  r = bg__user_for_change(s, login, &u);
  if (r == BG_OK) r = bg__team_id(s, team, &tid);
  sqlite3_stmt *st = r == BG_OK ? bg__q(s, member ? Q_USER_TEAM_ADD : Q_USER_TEAM_DEL) : NULL;
  if (r == BG_OK)
    r = st && bg__bind(st, "ii", (int64_t)u.id, tid) == SQLITE_OK ? bg__run(s, st, "user team") : BG_E_STORAGE;
  if (r == BG_OK && sqlite3_changes(s->db) != 1)
    r = member ? bg__fail(s, BG_E_EXISTS, "user '%s' is in team '%s' already", login, team)
               : bg__fail(s, BG_E_NOT_FOUND, "user '%s' is not in team '%s'", login, team);
  if (r == BG_OK)
    r = bg_store_audit(s, now, u.id, BG_OFFICE_DEVICE, "", member ? "team-join" : "team-leave", team, "ok");
  return bg__end(s, r);
}

static bg_err bg__team_each(bg_store *s, sqlite3_stmt *st, void *arg) {
  (void)s;
  bg__cb *c = arg;
  bg_team_row t = {bg__col_text(st, 0), (uint32_t)sqlite3_column_int64(st, 1), (uint32_t)sqlite3_column_int64(st, 2),
                   sqlite3_column_int64(st, 3)};
  return ((bg_team_cb)c->cb)(c->arg, &t);
}

bg_err bg_store_teams(bg_store *s, bg_team_cb cb, void *arg) {
  s->err[0] = 0;
  bg__cb c = {(void (*)(void))cb, arg};
  return bg__each(s, bg__q(s, Q_TEAMS), "teams", bg__team_each, &c);
}

/* The client's row; *team_id its team. */
static bg_err bg__client_get(bg_store *s, const char *client, bg_client_row *out, int64_t *team_id) {
  sqlite3_stmt *st = bg__q(s, Q_CLIENT_GET);
  if (st == NULL || bg__bind(st, "t", client) != SQLITE_OK) return bg__sqlfail(s, SQLITE_ERROR, "client");
  bg_err r = bg__row(s, st, "client");
  if (r == BG_E_NOT_FOUND) return bg__fail(s, r, "no client '%s' (bgctl client list shows them)", client);
  if (r != BG_OK) return r;
  bg__copy(s->row_name, sizeof s->row_name, bg__col_text(st, 0));
  bg__copy(s->row_team, sizeof s->row_team, bg__col_text(st, 1));
  bg__copy(s->row_login, sizeof s->row_login, bg__col_text(st, 2));
  *out = (bg_client_row){s->row_name, s->row_team, s->row_login, sqlite3_column_int64(st, 3)};
  if (team_id) *team_id = sqlite3_column_int64(st, 4);
  sqlite3_reset(st);
  return BG_OK;
}

bg_err bg_store_client_get(bg_store *s, const char *client, bg_client_row *out) {
  s->err[0] = 0;
  return bg__client_get(s, client, out, NULL);
}

bg_err bg_store_client_assign(bg_store *s, const char *client, const char *begeleider, int64_t now) {
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  bg_client_row c;
  int64_t tid = 0;
  char team[BG_ID_MAX + 1];
  r = bg__client_get(s, client, &c, &tid);
  if (r == BG_OK) bg__copy(team, sizeof team, c.team);
  bg_user_row u;
  if (r == BG_OK) r = bg__user_for_change(s, begeleider, &u);
  if (r == BG_OK && u.disabled) r = bg__fail(s, BG_E_USER_DISABLED, "user '%s' is disabled", begeleider);
  sqlite3_stmt *st = r == BG_OK ? bg__q(s, Q_IN_TEAM) : NULL;
  if (r == BG_OK && (st == NULL || bg__bind(st, "ii", (int64_t)u.id, tid) != SQLITE_OK)) r = BG_E_STORAGE;
  if (r == BG_OK) {
    r = bg__row(s, st, "team");
    if (r == BG_OK) sqlite3_reset(st);
    else if (r == BG_E_NOT_FOUND)
      r = bg__fail(s, BG_E_FORBIDDEN,
                   "user '%s' is not in team '%s', the team of %s (add them: bgctl user team add %s %s; or move the "
                   "client: bgctl client move %s --team TEAM --begeleider %s)",
                   begeleider, team, client, begeleider, team, client, begeleider);
  }
  st = r == BG_OK ? bg__q(s, Q_CLIENT_ASSIGN) : NULL;
  if (r == BG_OK)
    r = st && bg__bind(st, "ti", client, (int64_t)u.id) == SQLITE_OK ? bg__run(s, st, "client assign") : BG_E_STORAGE;
  if (r == BG_OK) {
    st = bg__q(s, Q_HISTORY_ADD);
    r = st && bg__bind(st, "tii", client, (int64_t)u.id, now) == SQLITE_OK ? bg__run(s, st, "history") : BG_E_STORAGE;
  }
  if (r == BG_OK) r = bg__assign_begeleider(s, client, u.id, now);
  char obj[160];
  snprintf(obj, sizeof obj, "begeleider %s", begeleider);
  if (r == BG_OK) r = bg_store_audit(s, now, BG_OFFICE_USER, BG_OFFICE_DEVICE, client, "client-assign", obj, "ok");
  return bg__end(s, r);
}

bg_err bg_store_device_holds(bg_store *s, uint64_t device, bool *holds) {
  s->err[0] = 0;
  *holds = false;
  bg__holding all = {0};
  bg_err r = bg__device_holding(s, device, -1, NULL, &all);
  if (r == BG_OK) *holds = all.np > 0;
  bg__holding_free(&all);
  return r;
}

bg_err bg_store_stats_get(bg_store *s, int64_t seen_since, bg_store_stats *out) {
  memset(out, 0, sizeof *out);
  s->err[0] = 0;
  bg_err r = bg__read_begin(s);
  if (r != BG_OK) return r;
  sqlite3_stmt *st = bg__q(s, Q_STATS);
  r = st && bg__bind(st, "i", seen_since) == SQLITE_OK ? bg__row(s, st, "stats") : BG_E_STORAGE;
  if (r == BG_OK) {
    uint64_t *f[] = {&out->users, &out->users_disabled, &out->teams, &out->clients, &out->devices, &out->devices_seen,
                     &out->feed_head, &out->audit_entries};
    for (int i = 0; i < 8; i++) *f[i] = (uint64_t)sqlite3_column_int64(st, i);
    sqlite3_reset(st);
  }
  /* pending purges: what each device holds beyond its scope, until it acknowledges */
  bg_who *devs = NULL;
  size_t nd = 0, cap = 0;
  int rc = SQLITE_DONE;
  st = r == BG_OK ? bg__q(s, Q_DEVICES_ACTIVE) : NULL;
  while (r == BG_OK && st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (nd == cap) {
      cap = cap ? cap * 2 : 32;
      bg_who *v = realloc(devs, cap * sizeof *v);
      if (v == NULL) {
        r = BG_E_NOMEM;
        break;
      }
      devs = v;
    }
    devs[nd++] = (bg_who){(uint64_t)sqlite3_column_int64(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
                          (uint8_t)sqlite3_column_int(st, 2)};
  }
  if (r == BG_OK && st && rc != SQLITE_DONE) r = bg__sqlfail(s, rc, "devices");
  if (st) sqlite3_reset(st);
  for (size_t i = 0; r == BG_OK && i < nd; i++) {
    bg__holding h = {0};
    bg__scope sc;
    if ((r = bg__scope_load(s, &devs[i], &sc)) != BG_OK) break;
    if ((r = bg__device_holding(s, devs[i].device, -1, &sc, &h)) == BG_OK) {
      out->purge_devices += h.np > 0;
      out->purge_clients += h.np;
    }
    bg__scope_free(&sc);
    bg__holding_free(&h);
  }
  free(devs);
  bg__read_end(s);
  return r;
}

/* --- the office: care data ----------------------------------------------------------------------- */

bg_err bg_store_read_begin(bg_store *s, struct bg_engine **eng) {
  s->err[0] = 0;
  bg_err r = bg__read_begin(s);
  if (r == BG_OK) *eng = &s->eng;
  return r;
}

void bg_store_read_end(bg_store *s) { bg__read_end(s); }

bg_err bg_store_history(bg_store *s, const char *client, bg_write_cb cb, void *arg) {
  s->err[0] = 0;
  sqlite3_stmt *st = bg__q(s, Q_HISTORY);
  if (st == NULL || bg__bind(st, "t", client) != SQLITE_OK) return bg__sqlfail(s, SQLITE_ERROR, "history");
  msgpack_zone *z = msgpack_zone_new(4096);
  if (z == NULL) {
    sqlite3_reset(st);
    return BG_E_NOMEM;
  }
  bg_err r = BG_OK;
  int rc = SQLITE_DONE;
  while (r == BG_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    bg_write w;
    r = bg_write_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), z, &w, NULL);
    if (r != BG_OK) r = bg__fail(s, BG_E_CORRUPT, "a stored write of client '%s' cannot be read", client);
    else r = cb(arg, &w);
    msgpack_zone_clear(z);
  }
  if (r == BG_OK && rc != SQLITE_DONE) r = bg__sqlfail(s, rc, "history");
  sqlite3_reset(st);
  msgpack_zone_free(z);
  return r;
}

bg_err bg_store_office_write(bg_store *s, const char *client, uint32_t rtype, const char *rid, uint32_t field,
                             const bg_value *v, const char *action, const char *object, int64_t now) {
  bg_err r = bg__begin(s);
  if (r != BG_OK) return r;
  bg_client_row c;
  r = bg__client_get(s, client, &c, NULL);
  bg_outcome o = BG_APPLIED;
  if (r == BG_OK) r = bg__office_write(s, bg_str_c(client), rtype, bg_str_c(rid), field, *v, now, &o);
  /* the office does not make wijzigingsvoorstellen: a write the rules would
   * hold back is not made at all */
  if (r == BG_OK && o == BG_PROPOSAL)
    r = bg__fail(s, BG_E_WINDOW, "this field cannot be changed in the traject's phase now (or the plan is signed): "
                 "it would only become a wijzigingsvoorstel");
  if (r == BG_OK) r = bg_store_audit(s, now, BG_OFFICE_USER, BG_OFFICE_DEVICE, client, action, object, "ok");
  return bg__end(s, r);
}
