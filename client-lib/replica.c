/*
 * replica.c - the replica file: migrations, the record tables derived from the
 * schema, capture of plain SQL writes, local writes, the visible state written
 * into the record tables, conflicts and status (bgsync.h, internal.h).
 *
 * The engine's tables (engine_*) are the truth; the record tables are the
 * engine's visible state, kept up to date after every write applied - a local
 * one or a received one - so that an app reads them with plain SQL.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "bg_text.h"
#include "internal.h"

/* --- errors and small helpers ---------------------------------------------------------- */

bg_err bgs_fail(bgsync *r, bg_err e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, sizeof r->err, fmt, ap);
  va_end(ap);
  return e;
}

bg_err bgs_sqlfail(bgsync *r, int rc, const char *what) {
  return bgs_fail(r, bg_sql_fail(rc), "%s: %s", what, sqlite3_errmsg(r->db));
}

const char *bgsync_errmsg(const bgsync *r) { return r ? r->err : "out of memory"; }

struct sqlite3 *bgsync_db(bgsync *r) { return r->db; }

char *bgs_path(const bgsync *r, const char *suffix) {
  size_t n = strlen(r->path) + strlen(suffix) + 1;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s%s", r->path, suffix);
  return p;
}

static bg_err bgs_exec(bgsync *r, const char *sql) {
  char *msg = NULL;
  int rc = sqlite3_exec(r->db, sql, NULL, NULL, &msg);
  if (rc == SQLITE_OK) return BG_OK;
  bg_err e = bgs_fail(r, bg_sql_fail(rc), "%s", msg ? msg : sqlite3_errstr(rc));
  sqlite3_free(msg);
  return e;
}

bg_err bgs_begin(bgsync *r) { return bgs_exec(r, "BEGIN IMMEDIATE"); }
bg_err bgs_commit(bgsync *r) { return bgs_exec(r, "COMMIT"); }
void bgs_rollback(bgsync *r) {
  if (!sqlite3_get_autocommit(r->db)) (void)sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Step a statement that returns no row, then reset it. */
static bg_err bgs_done(bgsync *r, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? BG_OK : bgs_sqlfail(r, rc, what);
}

static bg_str bgs_str(const char *s) { return s ? bg_str_c(s) : (bg_str){"", 0}; }

/* --- meta ----------------------------------------------------------------------------------- */

static bg_err bgs_meta_step(bgsync *r, const char *k, sqlite3_stmt **out) {
  sqlite3_stmt *st = r->q[Q_META_GET];
  sqlite3_reset(st);
  int rc = sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *out = st;
    return BG_OK;
  }
  sqlite3_reset(st);
  *out = NULL;
  return rc == SQLITE_DONE ? BG_OK : bgs_sqlfail(r, rc, "reading the replica's settings");
}

bg_err bgs_meta_int(bgsync *r, const char *k, int64_t *v) {
  sqlite3_stmt *st;
  bg_err e = bgs_meta_step(r, k, &st);
  *v = st ? sqlite3_column_int64(st, 0) : 0;
  if (st) sqlite3_reset(st);
  return e;
}

bg_err bgs_meta_text(bgsync *r, const char *k, char *out, size_t len) {
  sqlite3_stmt *st;
  bg_err e = bgs_meta_step(r, k, &st);
  const unsigned char *t = st ? sqlite3_column_text(st, 0) : NULL;
  snprintf(out, len, "%s", t ? (const char *)t : "");
  if (st) sqlite3_reset(st);
  return e;
}

bg_err bgs_meta_set_int(bgsync *r, const char *k, int64_t v) {
  sqlite3_stmt *st = r->q[Q_META_SET];
  if (sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC) != SQLITE_OK || sqlite3_bind_int64(st, 2, v) != SQLITE_OK)
    return bgs_sqlfail(r, sqlite3_errcode(r->db), "binding a setting");
  return bgs_done(r, st, "writing the replica's settings");
}

bg_err bgs_meta_set_text(bgsync *r, const char *k, const char *v) {
  sqlite3_stmt *st = r->q[Q_META_SET];
  if (sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, v, -1, SQLITE_TRANSIENT) != SQLITE_OK)
    return bgs_sqlfail(r, sqlite3_errcode(r->db), "binding a setting");
  return bgs_done(r, st, "writing the replica's settings");
}

/* --- migrations and the record tables ------------------------------------------------------- */

/* Migration 1: sync bookkeeping and the engine's tables. The record tables are
 * derived from the schema at every open (bgs_tables): they follow the schema
 * table, which only ever adds types and fields. */
static const char bgs_m1[] =
    "CREATE TABLE bgsync_meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    /* writes made here and not yet acknowledged; batch is set when they are
     * first sent, and a resent batch keeps its id and its writes */
    "CREATE TABLE bgsync_outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, client TEXT NOT NULL,"
    "  batch INTEGER, w BLOB NOT NULL);"
    "CREATE INDEX bgsync_outbox_batch ON bgsync_outbox(batch);"
    "CREATE INDEX bgsync_outbox_client ON bgsync_outbox(client);"
    /* writes the office refused: kept for the user, never pushed again */
    "CREATE TABLE bgsync_rejected(seq INTEGER PRIMARY KEY, client TEXT NOT NULL, w BLOB NOT NULL,"
    "  code INTEGER NOT NULL, at INTEGER NOT NULL);";

/* Migration 3: the clients this replica dropped because the office withdrew
 * access (PURGE), so an app can tell its user where a client went. */
static const char bgs_m3[] = "CREATE TABLE bgsync_purged(client TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;";

#define BGS_MIGRATIONS 3

static const char *bgs_type_sql(const bg_field_def *f) {
  return f->type == BG_FT_INT || f->type == BG_FT_BOOL || f->type == BG_FT_POS ? "INTEGER" : "TEXT";
}

/* Columns every table has beyond its fields: generated from the record id (or
 * the position), so they never disagree with it. */
static const char *bgs_derived_sql(const bg_rtype_def *rt) {
  switch (rt->keying) {
    case BG_KEY_CYCLE: return ", cycle INTEGER GENERATED ALWAYS AS (CAST(rid AS INTEGER)) VIRTUAL";
    case BG_KEY_CYCLE_LG:
      return ", cycle INTEGER GENERATED ALWAYS AS (CAST(substr(rid, 1, instr(rid, '/') - 1) AS INTEGER)) VIRTUAL"
             ", leefgebied TEXT GENERATED ALWAYS AS (substr(rid, instr(rid, '/') + 1)) VIRTUAL";
    case BG_KEY_CYCLE_DOT:
      return ", cycle INTEGER GENERATED ALWAYS AS (CAST(substr(rid, 1, instr(rid, ':') - 1) AS INTEGER)) VIRTUAL";
    default:
      if (rt->id == BG_RT_TRAJECT)
        return ", cycle INTEGER GENERATED ALWAYS AS (positie >> 4) VIRTUAL"
               ", phase TEXT GENERATED ALWAYS AS (CASE positie & 15 WHEN 1 THEN 'aanmelding' WHEN 2 THEN 'intake'"
               " WHEN 3 THEN 'opstart' WHEN 4 THEN 'analyse' WHEN 5 THEN 'planning' WHEN 6 THEN 'uitvoering'"
               " WHEN 7 THEN 'evaluatie' WHEN 8 THEN 'uitstroom' WHEN 9 THEN 'gesloten' END) VIRTUAL";
      return "";
  }
}

static const bg_field_def *bgs_deleted_field(const bg_rtype_def *rt) {
  return bg_field_by_name(rt, BG_FIELD_DELETED_NAME, strlen(BG_FIELD_DELETED_NAME));
}

/* Append to a growing SQL text. */
typedef struct bgs_sql {
  char *p;
  size_t len, cap;
  bool oom;
} bgs_sql;

static void bgs_cat(bgs_sql *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bgs_cat(bgs_sql *s, const char *fmt, ...) {
  if (s->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->p ? s->p + s->len : NULL, s->p ? s->cap - s->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      s->oom = true;
      return;
    }
    if (s->p && s->len + (size_t)n < s->cap) {
      s->len += (size_t)n;
      return;
    }
    size_t cap = (s->cap ? s->cap * 2 : 4096) + (size_t)n;
    char *p = realloc(s->p, cap);
    if (!p) {
      s->oom = true;
      return;
    }
    s->p = p;
    s->cap = cap;
  }
}

/* Whether table `t` has column `c`. */
static bg_err bgs_has_column(bgsync *r, const char *t, const char *c, bool *has) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(r->db, "SELECT 1 FROM pragma_table_xinfo(?1) WHERE name = ?2", -1, &st, NULL);
  if (rc != SQLITE_OK) return bgs_sqlfail(r, rc, "reading the table layout");
  rc = sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 2, c, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  *has = rc == SQLITE_ROW;
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? BG_OK : bgs_sqlfail(r, rc, "reading the table layout");
}

/*
 * The record tables, from the schema: one per record type, a column per field
 * (added when a newer schema brought the field), and the triggers that capture
 * plain SQL writes. Idempotent; runs in one transaction at every open.
 */
static bg_err bgs_tables(bgsync *r) {
  bg_err e = BG_OK;
  bgs_sql s = {0};
  for (uint32_t t = 1; t <= BG_RTYPE_MAX && e == BG_OK; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    s.len = 0;
    bgs_cat(&s, "CREATE TABLE IF NOT EXISTS \"%s\"(client TEXT NOT NULL, rid TEXT NOT NULL", rt->name);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      if (&rt->fields[i] == bgs_deleted_field(rt)) continue;
      bgs_cat(&s, ", \"%s\" %s", rt->fields[i].name, bgs_type_sql(&rt->fields[i]));
    }
    bgs_cat(&s, "%s, PRIMARY KEY(client, rid)) WITHOUT ROWID", bgs_derived_sql(rt));
    if (s.oom) return bgs_fail(r, BG_E_NOMEM, "out of memory");
    if ((e = bgs_exec(r, s.p)) != BG_OK) break;
    /* fields a newer schema added */
    for (uint16_t i = 0; i < rt->n_fields && e == BG_OK; i++) {
      const bg_field_def *f = &rt->fields[i];
      if (f == bgs_deleted_field(rt)) continue;
      bool has = false;
      if ((e = bgs_has_column(r, rt->name, f->name, &has)) != BG_OK || has) continue;
      s.len = 0;
      bgs_cat(&s, "ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s", rt->name, f->name, bgs_type_sql(f));
      if (s.oom) e = bgs_fail(r, BG_E_NOMEM, "out of memory");
      else e = bgs_exec(r, s.p);
    }
    if (e != BG_OK) break;
    /* capture: a write to a field column is a write of that field */
    s.len = 0;
    bgs_cat(&s,
            "DROP TRIGGER IF EXISTS \"bgsync_%1$s_ins\"; DROP TRIGGER IF EXISTS \"bgsync_%1$s_upd\";"
            "DROP TRIGGER IF EXISTS \"bgsync_%1$s_del\"; DROP TRIGGER IF EXISTS \"bgsync_%1$s_key\";"
            "DROP TRIGGER IF EXISTS \"bgsync_%1$s_new\";"
            /* a removed record is not inserted again under its old id (the row
             * would lack what the engine still holds of it) */
            "CREATE TRIGGER \"bgsync_%1$s_new\" BEFORE INSERT ON \"%1$s\" BEGIN "
            "SELECT bgsync_fresh(%2$u, NEW.client, NEW.rid); END;"
            "CREATE TRIGGER \"bgsync_%1$s_ins\" AFTER INSERT ON \"%1$s\" BEGIN ",
            rt->name, t);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      if (f == bgs_deleted_field(rt)) continue;
      bgs_cat(&s, "SELECT bgsync_capture(%u, NEW.client, NEW.rid, %u, NEW.\"%s\") WHERE NEW.\"%s\" IS NOT NULL; ",
              t, f->id, f->name, f->name);
    }
    /* a row of no fields at all would be a record nobody wrote: refused */
    bgs_cat(&s, "SELECT bgsync_capture(%u, NEW.client, NEW.rid, 0, NULL) WHERE 1", t);
    for (uint16_t i = 0; i < rt->n_fields; i++)
      if (&rt->fields[i] != bgs_deleted_field(rt)) bgs_cat(&s, " AND NEW.\"%s\" IS NULL", rt->fields[i].name);
    bgs_cat(&s, "; END;");
    bgs_cat(&s, "CREATE TRIGGER \"bgsync_%s_upd\" AFTER UPDATE ON \"%s\" BEGIN ", rt->name, rt->name);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      if (f == bgs_deleted_field(rt)) continue;
      bgs_cat(&s, "SELECT bgsync_capture(%u, NEW.client, NEW.rid, %u, NEW.\"%s\") WHERE NEW.\"%s\" IS NOT OLD.\"%s\"; ",
              t, f->id, f->name, f->name, f->name);
    }
    bgs_cat(&s, "END;");
    bgs_cat(&s,
            "CREATE TRIGGER \"bgsync_%1$s_key\" BEFORE UPDATE OF client, rid ON \"%1$s\" "
            "WHEN NEW.client IS NOT OLD.client OR NEW.rid IS NOT OLD.rid BEGIN "
            "SELECT RAISE(ABORT, 'bgsync: the client and rid of a record cannot change; add a new record'); END;",
            rt->name);
    const bg_field_def *del = bgs_deleted_field(rt);
    if (del)
      bgs_cat(&s,
              "CREATE TRIGGER \"bgsync_%s_del\" AFTER DELETE ON \"%s\" BEGIN "
              "SELECT bgsync_capture(%u, OLD.client, OLD.rid, %u, 1); END;",
              rt->name, rt->name, t, del->id);
    else
      bgs_cat(&s,
              "CREATE TRIGGER \"bgsync_%1$s_del\" BEFORE DELETE ON \"%1$s\" WHEN bgsync_local() BEGIN "
              "SELECT RAISE(ABORT, 'bgsync: records of type %1$s cannot be removed; change their fields'); END;",
              rt->name);
    if (s.oom) e = bgs_fail(r, BG_E_NOMEM, "out of memory");
    else e = bgs_exec(r, s.p);
  }
  free(s.p);
  return e;
}

/* Statements for writing the visible state of one record type. */
static bg_err bgs_prepare_rtype(bgsync *r, uint32_t t) {
  const bg_rtype_def *rt = bg_rtype(t);
  const bg_field_def *del = bgs_deleted_field(rt);
  bgs_sql s = {0};
  bgs_cat(&s, "INSERT INTO \"%s\"(client, rid", rt->name);
  for (uint16_t i = 0; i < rt->n_fields; i++)
    if (&rt->fields[i] != del) bgs_cat(&s, ", \"%s\"", rt->fields[i].name);
  bgs_cat(&s, ") VALUES(?1, ?2");
  for (uint16_t i = 0, k = 3; i < rt->n_fields; i++)
    if (&rt->fields[i] != del) bgs_cat(&s, ", ?%u", k++);
  bgs_cat(&s, ") ON CONFLICT(client, rid) DO UPDATE SET client = excluded.client");
  for (uint16_t i = 0; i < rt->n_fields; i++)
    if (&rt->fields[i] != del) bgs_cat(&s, ", \"%1$s\" = excluded.\"%1$s\"", rt->fields[i].name);
  if (s.oom) return bgs_fail(r, BG_E_NOMEM, "out of memory");
  int rc = sqlite3_prepare_v3(r->db, s.p, -1, SQLITE_PREPARE_PERSISTENT, &r->upsert[t], NULL);
  s.len = 0;
  bgs_cat(&s, "DELETE FROM \"%s\" WHERE client = ?1 AND rid = ?2", rt->name);
  if (s.oom) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v3(r->db, s.p, -1, SQLITE_PREPARE_PERSISTENT, &r->remove[t], NULL);
  free(s.p);
  return rc == SQLITE_OK ? BG_OK : bgs_sqlfail(r, rc, "preparing the record tables' statements");
}

static const char *const bgs_queries[Q_MAX] = {
    [Q_META_GET] = "SELECT v FROM bgsync_meta WHERE k = ?1",
    [Q_META_SET] = "INSERT INTO bgsync_meta(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
    [Q_OUTBOX_ADD] = "INSERT INTO bgsync_outbox(client, w) VALUES(?1, ?2)",
    [Q_OUTBOX_CLIENT] = "SELECT 1 FROM bgsync_outbox WHERE client = ?1 LIMIT 1",
    [Q_OUTBOX_COUNT] = "SELECT count(*) FROM bgsync_outbox",
    [Q_REJECTED_COUNT] = "SELECT count(*) FROM bgsync_rejected",
};

/* --- capture of plain SQL writes --------------------------------------------------------- */

static bg_err bgs_local_write(bgsync *r, bg_write *w, bool propose);
static bg_err bgs_phase_allowed(bgsync *r, bg_str c, bg_pos from, bg_pos to);
static bg_err bgs_materialise(bgsync *r, bg_str client, uint32_t rtype, bg_str rid);

/* bgsync_local(): 1 inside an app's statement, 0 while the library itself
 * writes the record tables. */
static void bgs_fn_local(sqlite3_context *cx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  bgsync *r = sqlite3_user_data(cx);
  sqlite3_result_int(cx, r->applying == 0);
}

/* A column value as the field's value; BG_E_VALUE with a message otherwise. */
static bg_err bgs_sql_value(bgsync *r, const bg_rtype_def *rt, const bg_field_def *f, sqlite3_value *v,
                            bg_value *out) {
  int t = sqlite3_value_type(v);
  memset(out, 0, sizeof *out);
  if (t == SQLITE_NULL) return BG_OK;
  bool want_int = f->type == BG_FT_INT || f->type == BG_FT_BOOL || f->type == BG_FT_POS;
  if (want_int && t == SQLITE_INTEGER) {
    int64_t i = sqlite3_value_int64(v);
    if (f->type == BG_FT_BOOL) {
      if (i != 0 && i != 1) return bgs_fail(r, BG_E_VALUE, "%s.%s takes 0 or 1", rt->name, f->name);
      out->type = BG_V_BOOL;
      out->b = i == 1;
    } else {
      out->type = BG_V_INT;
      out->i = i;
    }
    return BG_OK;
  }
  if (!want_int && t == SQLITE_TEXT) {
    out->type = BG_V_STR;
    out->s.p = (const char *)sqlite3_value_text(v);
    out->s.len = (uint32_t)sqlite3_value_bytes(v);
    return out->s.p ? BG_OK : bgs_fail(r, BG_E_NOMEM, "out of memory");
  }
  return bgs_fail(r, BG_E_VALUE, "%s.%s takes %s, not %s", rt->name, f->name, want_int ? "an integer" : "text",
                  t == SQLITE_INTEGER ? "an integer" : t == SQLITE_FLOAT ? "a real number" : t == SQLITE_TEXT ? "text" : "a blob");
}

/* A key column of a plain SQL write (client, rid): text without NUL
 * characters (a number is stored as its text), or NULL. A blob, or text cut
 * short at a NUL, would be stored under another value than the text the write
 * is made of, and the row could never be drawn again from the engine. */
static const char *bgs_key_text(sqlite3_value *v, bool *bad) {
  int type = sqlite3_value_type(v); /* before the conversion to text, which changes it */
  if (type == SQLITE_NULL) return NULL;
  const char *t = (const char *)sqlite3_value_text(v);
  if (type == SQLITE_BLOB || !t || strlen(t) != (size_t)sqlite3_value_bytes(v)) *bad = true;
  return t;
}

/* bgsync_capture(rtype, client, rid, field, value): a plain SQL write of one
 * field, made a write of the replica (checked, applied, queued). */
static void bgs_fn_capture(sqlite3_context *cx, int argc, sqlite3_value **argv) {
  (void)argc;
  bgsync *r = sqlite3_user_data(cx);
  if (r->applying) return; /* the library's own writes of the visible state */
  const bg_rtype_def *rt = bg_rtype((uint32_t)sqlite3_value_int64(argv[0]));
  bool bad = false;
  const char *client = bgs_key_text(argv[1], &bad);
  const char *rid = bgs_key_text(argv[2], &bad);
  uint32_t fid = (uint32_t)sqlite3_value_int64(argv[3]);
  bg_err e = BG_OK;
  if (!rt) e = bgs_fail(r, BG_E_UNKNOWN_RECORD, "unknown record type");
  else if (!client || !rid) e = bgs_fail(r, BG_E_USAGE, "%s: client and rid must be given", rt->name);
  else if (bad) e = bgs_fail(r, BG_E_VALUE, "%s: client and rid are text (not a blob, no NUL character)", rt->name);
  else if (fid == 0) {
    /* a row without any field: a record nobody wrote anything in */
    e = bgs_fail(r, BG_E_USAGE, "%s: a new record needs at least one field", rt->name);
  } else {
    const bg_field_def *f = bg_field(rt, fid);
    bg_write w;
    memset(&w, 0, sizeof w);
    w.client = bg_str_c(client);
    w.rtype = rt->id;
    w.rid = bg_str_c(rid);
    w.field = fid;
    e = f ? bgs_sql_value(r, rt, f, argv[4], &w.value) : bgs_fail(r, BG_E_UNKNOWN_FIELD, "unknown field");
    if (e == BG_OK) {
      r->in_capture = true;
      e = bgs_local_write(r, &w, false);
      r->in_capture = false;
      bg_vv_free(&w.ctx);
    }
  }
  if (e != BG_OK) {
    char msg[600];
    snprintf(msg, sizeof msg, "bgsync: %s (%s)", r->err, bg_err_name(e));
    sqlite3_result_error(cx, msg, -1);
    sqlite3_result_error_code(cx, e == BG_E_NOMEM ? SQLITE_NOMEM : SQLITE_CONSTRAINT);
  }
}

/* bgsync_fresh(rtype, client, rid): refuses a SQL INSERT of a record the
 * engine holds writes of (a removed one; a present one has its row already). */
static void bgs_fn_fresh(sqlite3_context *cx, int argc, sqlite3_value **argv) {
  (void)argc;
  bgsync *r = sqlite3_user_data(cx);
  if (r->applying) return;
  const bg_rtype_def *rt = bg_rtype((uint32_t)sqlite3_value_int64(argv[0]));
  const char *client = (const char *)sqlite3_value_text(argv[1]);
  const char *rid = (const char *)sqlite3_value_text(argv[2]);
  if (!rt || !client || !rid) return; /* the capture that follows names what is missing */
  bg_vv seen;
  bg_vv_init(&seen);
  bg_err e = bg_engine_record_context(&r->eng, bg_str_c(client), rt->id, bg_str_c(rid), &seen);
  bool exists = seen.n > 0;
  bg_vv_free(&seen);
  if (e != BG_OK || exists) {
    char msg[300];
    if (e != BG_OK) snprintf(msg, sizeof msg, "bgsync: reading %s %s: %s (%s)", rt->name, rid, bg_err_message(e), bg_err_name(e));
    else
      snprintf(msg, sizeof msg,
               "bgsync: %s %s of client %s existed before (it was removed): a new record needs a new id from "
               "bgsync_new_rid('%s', client) (BG_E_EXISTS)",
               rt->name, rid, client, rt->name);
    sqlite3_result_error(cx, msg, -1);
    sqlite3_result_error_code(cx, SQLITE_CONSTRAINT);
  }
}

/* bgsync_new_rid(type, client): a new record id for a record of `type`. */
static bg_err bgs_new_rid(bgsync *r, const bg_rtype_def *rt, bg_str client, char out[BG_ID_MAX + 1]);

static void bgs_fn_new_rid(sqlite3_context *cx, int argc, sqlite3_value **argv) {
  (void)argc;
  bgsync *r = sqlite3_user_data(cx);
  const char *type = (const char *)sqlite3_value_text(argv[0]);
  const char *client = (const char *)sqlite3_value_text(argv[1]);
  const bg_rtype_def *rt = type ? bg_rtype_by_name(type, strlen(type)) : NULL;
  char rid[BG_ID_MAX + 1];
  bg_err e = rt ? bgs_new_rid(r, rt, bgs_str(client), rid)
                : bgs_fail(r, BG_E_UNKNOWN_RECORD, "bgsync_new_rid: unknown record type '%s'", type ? type : "");
  if (e != BG_OK) {
    char msg[600];
    snprintf(msg, sizeof msg, "bgsync: %s (%s)", r->err, bg_err_name(e));
    sqlite3_result_error(cx, msg, -1);
    return;
  }
  sqlite3_result_text(cx, rid, -1, SQLITE_TRANSIENT);
}

/* --- open and close ------------------------------------------------------------------------- */

/* A new replica file is made readable by its owner only (it holds care data);
 * SQLite gives its -wal and -shm files the same mode. */
static bg_err bgs_create_private(bgsync *r, const char *path) {
  uv_fs_t req;
  uv_file f = uv_fs_open(NULL, &req, path, UV_FS_O_RDWR | UV_FS_O_CREAT, 0600, NULL);
  uv_fs_req_cleanup(&req);
  if (f < 0) return bgs_fail(r, BG_E_IO, "cannot open the replica %s: %s", path, uv_strerror(f));
  (void)uv_fs_close(NULL, &req, f, NULL);
  uv_fs_req_cleanup(&req);
  return BG_OK;
}

static bg_err bgs_open(bgsync *r, const char *path) {
  char why[256] = "";
  bg_err e = bgs_create_private(r, path);
  if (e != BG_OK) return e;
  e = bg_sql_open(path, true, 5000, &r->db, why, sizeof why);
  if (e != BG_OK) return bgs_fail(r, e, "cannot open the replica %s: %s", path, why);
  /* used by the record tables' triggers (so not SQLITE_DIRECTONLY); with
   * PRAGMA trusted_schema=OFF the triggers cannot call them and every write to
   * a record table fails: refused, never silently kept */
  int rc = sqlite3_create_function(r->db, "bgsync_capture", 5, SQLITE_UTF8, r, bgs_fn_capture, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(r->db, "bgsync_local", 0, SQLITE_UTF8, r, bgs_fn_local, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(r->db, "bgsync_fresh", 3, SQLITE_UTF8, r, bgs_fn_fresh, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(r->db, "bgsync_new_rid", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, r, bgs_fn_new_rid,
                                 NULL, NULL);
  if (rc != SQLITE_OK) return bgs_sqlfail(r, rc, "registering the capture functions");

  static const char *const steps[BGS_MIGRATIONS] = {bgs_m1, bg_sqlkv_schema, bgs_m3};
  int from = 0;
  e = bg_sql_migrate(r->db, steps, BGS_MIGRATIONS, &from);
  if (e == BG_E_NEWER_SCHEMA)
    return bgs_fail(r, e, "the replica %s was written by a newer bgsync (version %d; this one knows %d): update the app",
                    path, from, BGS_MIGRATIONS);
  if (e != BG_OK) return bgs_fail(r, e, "cannot bring the replica %s up to date: %s", path, sqlite3_errmsg(r->db));

  if ((e = bgs_begin(r)) != BG_OK) return e;
  e = bgs_tables(r);
  if (e == BG_OK) e = bgs_commit(r);
  if (e != BG_OK) {
    bgs_rollback(r);
    return e;
  }
  for (int i = 0; i < Q_MAX; i++) {
    rc = sqlite3_prepare_v3(r->db, bgs_queries[i], -1, SQLITE_PREPARE_PERSISTENT, &r->q[i], NULL);
    if (rc != SQLITE_OK) return bgs_sqlfail(r, rc, "preparing the replica's statements");
  }
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++)
    if ((e = bgs_prepare_rtype(r, t)) != BG_OK) return e;
  if ((e = bg_sqlkv_new(r->db, &r->kv)) != BG_OK) return bgs_fail(r, e, "cannot use the replica's engine tables");
  r->cache = bg_kvcache_new(bg_sqlkv_kv(r->kv), BG_KVCACHE_SPACES, 0);
  if (!r->cache) return bgs_fail(r, BG_E_NOMEM, "out of memory");
  if ((e = bg_engine_init(&r->eng, bg_kvcache_kv(r->cache))) != BG_OK) return bgs_fail(r, e, "out of memory");
  r->has_engine = true;
  return BG_OK;
}

bg_err bgsync_open(const char *path, bgsync **out) {
  *out = NULL;
  if (!path || !*path) return BG_E_USAGE;
  bgsync *r = calloc(1, sizeof *r);
  if (!r) return BG_E_NOMEM;
  *out = r;
  if (uv_mutex_init(&r->lock) != 0) {
    free(r);
    *out = NULL;
    return BG_E_NOMEM;
  }
  r->jitter = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)r;
  mbedtls_ssl_session_init(&r->tls_session);
  if (!(r->path = strdup(path))) return bgs_fail(r, BG_E_NOMEM, "out of memory");
  bg_err e = bgs_open(r, path);
  if (e == BG_OK) r->err[0] = 0;
  return e;
}

void bgsync_close(bgsync *r) {
  if (!r) return;
  if (r->has_engine) bg_engine_free(&r->eng);
  bg_kvcache_free(r->cache);
  bg_sqlkv_free(r->kv);
  for (int i = 0; i < Q_MAX; i++) sqlite3_finalize(r->q[i]);
  for (int t = 0; t <= BG_RTYPE_MAX; t++) {
    sqlite3_finalize(r->upsert[t]);
    sqlite3_finalize(r->remove[t]);
  }
  if (r->db) sqlite3_close_v2(r->db);
  uv_mutex_destroy(&r->lock);
  mbedtls_ssl_session_free(&r->tls_session);
  free(r->path);
  free(r);
}

/* --- identity ------------------------------------------------------------------------------------ */

bg_err bgsync_identity_get(bgsync *r, bgsync_identity *out) {
  memset(out, 0, sizeof *out);
  int64_t dev = 0, user = 0;
  bg_err e = bgs_meta_int(r, "device", &dev);
  if (e == BG_OK) e = bgs_meta_int(r, "user", &user);
  if (e == BG_OK) e = bgs_meta_text(r, "login", out->login, sizeof out->login);
  if (e == BG_OK) e = bgs_meta_text(r, "role", out->role, sizeof out->role);
  if (e == BG_OK) e = bgs_meta_text(r, "server", out->server, sizeof out->server);
  out->device = (uint64_t)dev;
  out->user = (uint64_t)user;
  out->enrolled = dev > 0;
  return e;
}

/* --- visible state into the record tables --------------------------------------------------- */

static bg_err bgs_bind_value(bgsync *r, sqlite3_stmt *st, int col, const bg_value *v) {
  int rc;
  switch (v ? v->type : BG_V_NIL) {
    case BG_V_BOOL: rc = sqlite3_bind_int(st, col, v->b); break;
    case BG_V_INT: rc = sqlite3_bind_int64(st, col, v->i); break;
    case BG_V_STR: rc = sqlite3_bind_text(st, col, v->s.p, (int)v->s.len, SQLITE_TRANSIENT); break;
    case BG_V_BIN: rc = sqlite3_bind_blob(st, col, v->s.p, (int)v->s.len, SQLITE_TRANSIENT); break;
    default: rc = sqlite3_bind_null(st, col); break;
  }
  return rc == SQLITE_OK ? BG_OK : bgs_sqlfail(r, rc, "binding a value");
}

/* Write the engine's visible state of one record into its table: the row with
 * every field's visible value, or no row when the record is removed or holds
 * no applied write. */
static bg_err bgs_materialise(bgsync *r, bg_str client, uint32_t rtype, bg_str rid) {
  const bg_rtype_def *rt = bg_rtype(rtype);
  const bg_field_def *del = bgs_deleted_field(rt);
  sqlite3_stmt *up = r->upsert[rtype];
  bg_err e = BG_OK;
  bool exists = false;
  sqlite3_reset(up);
  for (uint16_t i = 0, col = 3; i < rt->n_fields && e == BG_OK; i++) {
    const bg_field_def *f = &rt->fields[i];
    bg_field_view fv;
    if ((e = bg_engine_field(&r->eng, client, rtype, rid, f->id, &fv)) != BG_OK) break;
    if (fv.n_current > 0) exists = true;
    if (f != del) e = bgs_bind_value(r, up, col++, fv.winner ? &fv.winner->value : NULL);
  }
  if (e == BG_OK && exists && del) {
    bool deleted = false, edit_won = false;
    e = bg_engine_deleted(&r->eng, client, rtype, rid, &deleted, &edit_won);
    if (deleted) exists = false;
  }
  if (e != BG_OK) return bgs_fail(r, e, "reading the merged state of %s %.*s", rt->name, (int)rid.len, rid.p);
  sqlite3_stmt *st = exists ? up : r->remove[rtype];
  if (sqlite3_bind_text(st, 1, client.p, (int)client.len, SQLITE_TRANSIENT) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, rid.p, (int)rid.len, SQLITE_TRANSIENT) != SQLITE_OK)
    return bgs_sqlfail(r, sqlite3_errcode(r->db), "binding a record key");
  r->applying++;
  e = bgs_done(r, st, "writing the visible state");
  r->applying--;
  sqlite3_clear_bindings(up);
  return e;
}

/* The record ids to redraw when a signature may have reclassified a client's
 * records of `rtype`: those with an applied write (the engine's record
 * vectors) and those the table shows - a record whose every write became a
 * wijzigingsvoorstel has no vector left, and its row must go. */
typedef struct bgs_rids {
  char (*v)[BG_ID_MAX + 1];
  size_t n, cap;
  size_t prefix;
} bgs_rids;

static bg_err bgs_rids_add(bgs_rids *l, const void *rid, size_t n) {
  if (n > BG_ID_MAX) return BG_OK;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    void *p = realloc(l->v, cap * sizeof *l->v);
    if (!p) return BG_E_NOMEM;
    l->v = p;
    l->cap = cap;
  }
  memcpy(l->v[l->n], rid, n);
  l->v[l->n++][n] = 0;
  return BG_OK;
}

static bg_err bgs_rids_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  (void)val;
  (void)vlen;
  bgs_rids *l = arg;
  if (klen < l->prefix + 1) return BG_OK;
  return bgs_rids_add(l, key + l->prefix, klen - l->prefix - 1); /* record key = prefix rid 0x00 */
}

static int bgs_rid_cmp(const void *a, const void *b) { return strcmp(a, b); }

static bg_err bgs_rematerialise_type(bgsync *r, bg_str client, uint32_t rtype) {
  uint8_t prefix[BG_ID_MAX + 3];
  if (client.len > BG_ID_MAX) return BG_E_USAGE;
  memcpy(prefix, client.p, client.len);
  prefix[client.len] = 0;
  prefix[client.len + 1] = (uint8_t)(rtype >> 8);
  prefix[client.len + 2] = (uint8_t)rtype;
  bgs_rids l = {.prefix = client.len + 3};
  bg_err e = r->eng.kv.ops->scan(r->eng.kv.self, BG_KV_RECORD, prefix, client.len + 3, bgs_rids_cb, &l);
  char sql[96];
  snprintf(sql, sizeof sql, "SELECT rid FROM \"%s\" WHERE client = ?1", bg_rtype(rtype)->name);
  sqlite3_stmt *st = NULL;
  if (e == BG_OK) {
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, client.p, (int)client.len, SQLITE_STATIC);
    while (rc == SQLITE_OK && e == BG_OK) {
      if ((rc = sqlite3_step(st)) != SQLITE_ROW) break;
      rc = SQLITE_OK;
      const unsigned char *rid = sqlite3_column_text(st, 0);
      e = rid ? bgs_rids_add(&l, rid, (size_t)sqlite3_column_bytes(st, 0)) : BG_E_NOMEM;
    }
    if (e == BG_OK && rc != SQLITE_DONE) e = bgs_sqlfail(r, rc, "reading the records shown");
  }
  sqlite3_finalize(st);
  if (e == BG_E_NOMEM) e = bgs_fail(r, e, "out of memory");
  if (e == BG_OK && l.n > 1) qsort(l.v, l.n, sizeof *l.v, bgs_rid_cmp);
  for (size_t i = 0; i < l.n && e == BG_OK; i++)
    if (i == 0 || strcmp(l.v[i - 1], l.v[i]) != 0) e = bgs_materialise(r, client, rtype, bg_str_c(l.v[i]));
  free(l.v);
  return e;
}

/* --- local writes ------------------------------------------------------------------------------- */

/* Whether this replica's user is the client's trajectbegeleider (traject.begeleider). */
static bg_err bgs_is_tb(bgsync *r, bg_str client, uint64_t user, bool *tb) {
  *tb = false;
  const bg_field_def *f = bg_field_by_name(bg_rtype(BG_RT_TRAJECT), "begeleider", 10);
  if (!f) return BG_OK;
  bg_field_view fv;
  bg_err e = bg_engine_field(&r->eng, client, BG_RT_TRAJECT, BG_STR("t"), f->id, &fv);
  if (e == BG_OK && fv.winner && fv.winner->value.type == BG_V_INT) *tb = (uint64_t)fv.winner->value.i == user;
  return e;
}

/* The next dot counter and HLC time of this device, persisted with the write. */
static bg_err bgs_next_dot(bgsync *r, uint64_t *counter, uint64_t *hlc) {
  int64_t c = 0, h = 0;
  bg_err e = bgs_meta_int(r, "counter", &c);
  if (e == BG_OK) e = bgs_meta_int(r, "hlc", &h);
  if (e != BG_OK) return e;
  bg_hlc clock;
  bg_hlc_init(&clock, 0);
  clock.last = (uint64_t)h;
  *hlc = bg_hlc_now(&clock, bgs_now_ms(r));
  *counter = (uint64_t)c + 1;
  e = bgs_meta_set_int(r, "counter", (int64_t)*counter);
  return e == BG_OK ? bgs_meta_set_int(r, "hlc", (int64_t)*hlc) : e;
}

static const char *bgs_field_label(const bg_write *w, char *buf, size_t len) {
  const bg_rtype_def *rt = bg_rtype(w->rtype);
  const bg_field_def *f = rt ? bg_field(rt, w->field) : NULL;
  snprintf(buf, len, "%s %.*s field %s of client %.*s", rt ? rt->name : "?", (int)w->rid.len, w->rid.p,
           f ? f->name : "?", (int)w->client.len, w->client.p);
  return buf;
}

/* The engine refused write `w` (`pos`: the traject's position): what was
 * wrong, in a sentence. */
static bg_err bgs_refused(bgsync *r, const bg_write *w, bg_err e, bg_pos pos) {
  char label[200];
  bgs_field_label(w, label, sizeof label);
  const bg_rtype_def *rt = bg_rtype(w->rtype);
  bool of_a_cycle = rt && (rt->keying == BG_KEY_CYCLE || rt->keying == BG_KEY_CYCLE_LG || rt->keying == BG_KEY_CYCLE_DOT);
  if (e == BG_E_UNKNOWN_RECORD && of_a_cycle && pos.phase != BG_PH_NONE && pos.cycle == 0)
    return bgs_fail(r, e, "%s: client %.*s has no cycle yet (the traject is in %s): the %s belongs to a cycle, which "
                          "starts with analyse",
                    label, (int)w->client.len, w->client.p, bg_phase_name(pos.phase), rt->name);
  return bgs_fail(r, e, "%s: %s", label, bg_err_message(e));
}

/*
 * Make, check, apply and queue one write of this device. The caller set
 * client, rtype, rid, field and value; everything else comes from the replica:
 * the dot, the causal context and the position seen, the author. Refused
 * locally, with the code the office would give: what the engine refuses, an
 * edit outside its window, a plan edit after signing (unless `propose`), a
 * second write of a written-once field. Runs inside the caller's transaction
 * (or the SQL statement being captured).
 */
static bg_err bgs_local_write(bgsync *r, bg_write *w, bool propose) {
  char label[200];
  bgsync_identity id;
  bg_err e = bgsync_identity_get(r, &id);
  if (e != BG_OK) return e;
  if (!id.enrolled || !id.role[0])
    return bgs_fail(r, BG_E_USAGE, "this replica has no caseload yet: enrol it and sync once first");
  bg_pos pos = {0, BG_PH_NONE};
  if (!bg_str_eq(w->client, BG_STR(BG_ORG_CLIENT))) {
    if ((e = bg_engine_position(&r->eng, w->client, &pos)) != BG_OK)
      return bgs_fail(r, e, "reading the traject of client %.*s", (int)w->client.len, w->client.p);
    if (pos.phase == BG_PH_NONE && !r->registering)
      return bgs_fail(r, BG_E_NOT_FOUND, "client %.*s is not in this replica (sync, or ask the office for access)",
                      (int)w->client.len, w->client.p);
    if (pos.phase != BG_PH_NONE && r->registering)
      return bgs_fail(r, BG_E_EXISTS, "client %.*s exists already", (int)w->client.len, w->client.p);
  }
  if (w->rtype == BG_RT_TRAJECT && w->field == 1 && !r->registering) {
    /* a move of the traject, also through plain SQL: the decisions it needs */
    bg_pos to;
    if (w->value.type != BG_V_INT || !bg_pos_decode(w->value.i, &to))
      return bgs_fail(r, BG_E_VALUE, "traject.positie takes a position (cycle * 16 + phase); use bgsync_phase");
    bool stays = r->keeping_position && to.cycle == pos.cycle && to.phase == pos.phase; /* no move */
    if (!stays && (e = bgs_phase_allowed(r, w->client, pos, to)) != BG_OK) return e;
  }
  if ((e = bg_engine_context_for(&r->eng, w)) != BG_OK) return bgs_refused(r, w, e, pos);
  w->user = id.user;
  w->role = (uint8_t)bg_role_by_name(id.role, strlen(id.role));
  if ((e = bgs_is_tb(r, w->client, id.user, &w->tb)) != BG_OK) return bgs_fail(r, e, "reading the traject");
  const bg_rtype_def *rt;
  const bg_field_def *f;
  bg_rid_info ri;
  /* the dot now: the check wants the context below it (a refusal rolls it back) */
  w->dot.device = id.device;
  if ((e = bgs_next_dot(r, &w->dot.counter, &w->hlc)) != BG_OK) return e;
  if ((e = bg_write_check(w, &rt, &f, &ri)) != BG_OK) return bgs_refused(r, w, e, pos);
  bool in_window = bg_write_in_window(w, f, &ri);
  bool is_signed = false;
  if (ri.has_cycle && (f->group == BG_G_PLAN || f->group == BG_G_SIGN) &&
      (e = bg_engine_plan_signed(&r->eng, w->client, ri.cycle, &is_signed)) != BG_OK)
    return bgs_fail(r, e, "reading the plan");
  bool held = !in_window || (is_signed && (f->group == BG_G_PLAN || f->group == BG_G_SIGN));
  if (propose && !held)
    return bgs_fail(r, BG_E_USAGE, "%s may be edited now: set it instead of proposing",
                    bgs_field_label(w, label, sizeof label));
  if (!propose && !in_window) {
    if (w->phase == BG_PH_GESLOTEN)
      return bgs_fail(r, BG_E_TRAJECT_CLOSED, "%s: the traject is closed", bgs_field_label(w, label, sizeof label));
    return bgs_fail(r, BG_E_WINDOW, "%s cannot be edited in phase %s (cycle %u)%s",
                    bgs_field_label(w, label, sizeof label), bg_phase_name(w->phase), w->cycle,
                    f->group == BG_G_PLAN || f->group == BG_G_PB ? ": propose the change instead" : "");
  }
  if (!propose && held)
    return bgs_fail(r, BG_E_PLAN_SIGNED,
                    "%s: the client signed the plan of cycle %u; propose the change (bgsync_propose) for the next "
                    "evaluation",
                    bgs_field_label(w, label, sizeof label), ri.cycle);
  if (f->rule == BG_RULE_ONCE) {
    bg_field_view fv;
    if ((e = bg_engine_field(&r->eng, w->client, w->rtype, w->rid, w->field, &fv)) != BG_OK) return e;
    if (fv.n_current > 0)
      return bgs_fail(r, BG_E_IMMUTABLE, "%s was written before: a rapportage is never changed; add a correction",
                      bgs_field_label(w, label, sizeof label));
  }
  bg_apply_result res;
  if ((e = bg_engine_apply(&r->eng, w, &res)) != BG_OK)
    return bgs_fail(r, e, "%s: %s", bgs_field_label(w, label, sizeof label), bg_err_message(e));
  if (res.outcome == BG_PROPOSAL && !propose)
    return bgs_fail(r, res.reason, "%s: %s", bgs_field_label(w, label, sizeof label), bg_err_message(res.reason));
  bg_buf enc = BG_BUF_INIT;
  e = bg_write_encode(w, &enc);
  sqlite3_stmt *st = r->q[Q_OUTBOX_ADD];
  if (e == BG_OK && (sqlite3_bind_text(st, 1, w->client.p, (int)w->client.len, SQLITE_TRANSIENT) != SQLITE_OK ||
                     sqlite3_bind_blob(st, 2, enc.data, (int)enc.len, SQLITE_TRANSIENT) != SQLITE_OK))
    e = bgs_sqlfail(r, sqlite3_errcode(r->db), "queueing the write");
  else if (e == BG_OK)
    e = bgs_done(r, st, "queueing the write");
  else
    e = bgs_fail(r, e, "%s: %s", bgs_field_label(w, label, sizeof label), bg_err_message(e));
  bg_buf_free(&enc);
  /* a plain SQL write already shows its value; the library's own go into the table */
  if (e == BG_OK && !r->in_capture) e = bgs_materialise(r, w->client, w->rtype, w->rid);
  return e;
}

/* End the transaction of a write function: commit after success, else roll
 * back. The result, with r->err cleared on success. */
static bg_err bgs_end_tx(bgsync *r, bg_err e) {
  if (e == BG_OK) e = bgs_commit(r);
  if (e != BG_OK) bgs_rollback(r);
  else r->err[0] = 0;
  return e;
}

/* A write of one field as the caller names it (the rest comes from the replica). */
static bg_write bgs_w(bg_str client, uint32_t rtype, bg_str rid, uint32_t field, bg_value v) {
  bg_write w;
  memset(&w, 0, sizeof w);
  w.client = client;
  w.rtype = rtype;
  w.rid = rid;
  w.field = field;
  w.value = v;
  return w;
}

/* One local write inside the caller's transaction. */
static bg_err bgs_put(bgsync *r, bg_str client, uint32_t rtype, bg_str rid, uint32_t field, bg_value v) {
  bg_write w = bgs_w(client, rtype, rid, field, v);
  bg_err e = bgs_local_write(r, &w, false);
  bg_vv_free(&w.ctx);
  return e;
}

/* One local write in its own transaction. */
static bg_err bgs_write1(bgsync *r, bg_write *w, bool propose) {
  bg_err e = bgs_begin(r);
  if (e != BG_OK) return e;
  e = bgs_local_write(r, w, propose);
  bg_vv_free(&w->ctx);
  return bgs_end_tx(r, e);
}

/* --- names, paths and values from text ------------------------------------------------------- */

static const bg_rtype_def *bgs_rtype_named(const char *name, size_t len) {
  if (len == 4 && memcmp(name, "plan", 4) == 0) return bg_rtype(BG_RT_PLAN);
  if (len == 7 && memcmp(name, "voorstel", 7) == 0) return bg_rtype(BG_RT_VOORSTEL);
  return bg_rtype_by_name(name, len);
}

/* The current cycle of a client (0 before analyse). */
static bg_err bgs_cycle(bgsync *r, bg_str client, uint32_t *cycle) {
  bg_pos p;
  bg_err e = bg_engine_position(&r->eng, client, &p);
  *cycle = p.cycle;
  return e == BG_OK ? BG_OK : bgs_fail(r, e, "reading the traject");
}

/* Parse TYPE.FIELD / TYPE:RID.FIELD (see bgsync_set) into w's rtype, rid, field;
 * `rid` is w->rid's storage. */
static bg_err bgs_parse_path(bgsync *r, const char *path, bg_write *w, char rid[BG_ID_MAX + 1]) {
  const char *dot = strrchr(path, '.');
  const char *colon = strchr(path, ':');
  size_t tlen = colon && (!dot || colon < dot) ? (size_t)(colon - path) : dot ? (size_t)(dot - path) : strlen(path);
  if (!dot)
    return bgs_fail(r, BG_E_UNKNOWN_FIELD, "'%s' names no field: write TYPE.FIELD, e.g. plan.einddoel", path);
  const bg_rtype_def *rt = bgs_rtype_named(path, tlen);
  if (!rt) return bgs_fail(r, BG_E_UNKNOWN_RECORD, "'%.*s' is no record type (see docs/RULES.md)", (int)tlen, path);
  const bg_field_def *f = bg_field_by_name(rt, dot + 1, strlen(dot + 1));
  if (!f) return bgs_fail(r, BG_E_UNKNOWN_FIELD, "%s has no field '%s'", rt->name, dot + 1);
  w->rtype = rt->id;
  w->field = f->id;
  uint32_t cycle = 0;
  if (colon && colon < dot) {
    size_t n = (size_t)(dot - colon - 1);
    if (n == 0 || n > BG_ID_MAX) return bgs_fail(r, BG_E_UNKNOWN_RECORD, "'%s': the record id is empty or too long", path);
    memcpy(rid, colon + 1, n);
    rid[n] = 0;
    if (rt->keying == BG_KEY_CYCLE_LG && !memchr(rid, '/', n)) {
      bg_err e = bgs_cycle(r, w->client, &cycle);
      if (e != BG_OK) return e;
      char lg[BG_ID_MAX + 1];
      snprintf(lg, sizeof lg, "%s", rid);
      if (snprintf(rid, BG_ID_MAX + 1, "%u/%s", cycle, lg) > (int)BG_ID_MAX)
        return bgs_fail(r, BG_E_UNKNOWN_RECORD, "'%s': the record id is too long", path);
    }
  } else if (rt->keying == BG_KEY_SINGLETON) {
    snprintf(rid, BG_ID_MAX + 1, "%s", rt->key);
  } else if (rt->keying == BG_KEY_CYCLE) {
    bg_err e = bgs_cycle(r, w->client, &cycle);
    if (e != BG_OK) return e;
    if (cycle == 0)
      return bgs_fail(r, BG_E_WINDOW, "client %.*s has no cycle yet (the traject is before analyse)",
                      (int)w->client.len, w->client.p);
    snprintf(rid, BG_ID_MAX + 1, "%u", cycle);
  } else {
    return bgs_fail(r, BG_E_UNKNOWN_RECORD, "%s records are named by id: write %s:RID.%s", rt->name, rt->name, f->name);
  }
  w->rid = bg_str_c(rid);
  return BG_OK;
}

/* A value from text by the field's type; NULL clears. */
static bg_err bgs_parse_value(bgsync *r, const bg_write *w, const char *text, bg_value *v) {
  const bg_rtype_def *rt = bg_rtype(w->rtype);
  char why[512];
  bg_err e = bg_value_parse(rt, bg_field(rt, w->field), text, v, why, sizeof why);
  return e == BG_OK ? BG_OK : bgs_fail(r, e, "%s", why);
}

static bg_err bgs_set(bgsync *r, const char *client, const char *path, const char *text, bool propose) {
  if (!client || !path) return bgs_fail(r, BG_E_USAGE, "client and field must be given");
  bg_write w;
  memset(&w, 0, sizeof w);
  w.client = bg_str_c(client);
  char rid[BG_ID_MAX + 1];
  bg_err e = bgs_parse_path(r, path, &w, rid);
  if (e == BG_OK) e = bgs_parse_value(r, &w, text, &w.value);
  return e == BG_OK ? bgs_write1(r, &w, propose) : e;
}

bg_err bgsync_set(bgsync *r, const char *client, const char *path, const char *text) {
  return bgs_set(r, client, path, text, false);
}

bg_err bgsync_propose(bgsync *r, const char *client, const char *path, const char *text) {
  return bgs_set(r, client, path, text, true);
}

/* --- the typed functions ------------------------------------------------------------------------- */

/* The decisions of a client as this replica sees them (for the phase machine). */
typedef struct bgs_decisions {
  bg_decisions d;
  char a[40], i[40], ev[40];
} bgs_decisions;

static bg_err bgs_decision(bgsync *r, bg_str client, uint32_t rtype, bg_str rid, const char *field, char *out,
                           size_t len, const char **set) {
  const bg_field_def *f = bg_field_by_name(bg_rtype(rtype), field, strlen(field));
  bg_field_view fv;
  bg_err e = bg_engine_field(&r->eng, client, rtype, rid, f->id, &fv);
  if (e == BG_OK && fv.winner && fv.winner->value.type == BG_V_STR) {
    snprintf(out, len, "%.*s", (int)fv.winner->value.s.len, fv.winner->value.s.p);
    *set = out;
  }
  return e;
}

/* Whether the phase machine lets the traject move from `from` to `to`, with the
 * decisions as this replica sees them (the engine judges only the structure:
 * decisions are not part of a write). BG_E_PHASE_TRANSITION with a sentence. */
static bg_err bgs_phase_allowed(bgsync *r, bg_str c, bg_pos from, bg_pos to) {
  bgs_decisions d;
  memset(&d, 0, sizeof d);
  char cyc[16];
  snprintf(cyc, sizeof cyc, "%u", from.cycle);
  bg_err e = bgs_decision(r, c, BG_RT_AANMELDING, BG_STR("a"), "besluit", d.a, sizeof d.a, &d.d.aanmeldingsbesluit);
  if (e == BG_OK) e = bgs_decision(r, c, BG_RT_INTAKE, BG_STR("i"), "besluit", d.i, sizeof d.i, &d.d.intakebesluit);
  if (e == BG_OK)
    e = bgs_decision(r, c, BG_RT_EVALUATIE, bg_str_c(cyc), "besluit", d.ev, sizeof d.ev, &d.d.evaluatiebesluit);
  if (e == BG_OK) e = bg_engine_plan_signed(&r->eng, c, from.cycle, &d.d.plan_signed);
  if (e != BG_OK) return bgs_fail(r, e, "reading the traject's decisions");
  char why[300];
  if ((e = bg_phase_check(from, to, &d.d, why, sizeof why)) != BG_OK) return bgs_fail(r, e, "%s", why);
  return BG_OK;
}

bg_err bgsync_phase(bgsync *r, const char *client, const char *phase) {
  if (!client || !phase) return bgs_fail(r, BG_E_USAGE, "client and phase must be given");
  int to = bg_phase_by_name(phase, strlen(phase));
  if (!to)
    return bgs_fail(r, BG_E_USAGE,
                    "'%s' is no phase: aanmelding, intake, opstart, analyse, planning, uitvoering, evaluatie, "
                    "uitstroom, gesloten",
                    phase);
  bg_str c = bg_str_c(client);
  bg_pos from;
  bg_err e = bg_engine_position(&r->eng, c, &from);
  if (e != BG_OK) return bgs_fail(r, e, "reading the traject");
  if (from.phase == BG_PH_NONE) return bgs_fail(r, BG_E_NOT_FOUND, "client %s is not in this replica", client);
  /* a move from evaluatie back into the core phases starts the next cycle; the
   * first analyse starts cycle 1 */
  bg_pos next = {from.cycle, (uint8_t)to};
  if (to == BG_PH_ANALYSE || to == BG_PH_PLANNING) {
    if (from.phase == BG_PH_EVALUATIE) next.cycle = from.cycle + 1;
    else if (from.phase == BG_PH_OPSTART) next.cycle = 1;
  }
  if ((e = bgs_phase_allowed(r, c, from, next)) != BG_OK) return e;
  bg_write w = bgs_w(c, BG_RT_TRAJECT, BG_STR("t"), 1, (bg_value){.type = BG_V_INT, .i = bg_pos_encode(next)});
  return bgs_write1(r, &w, false);
}

void bgs_set_clock(bgsync *r, uint64_t (*now_ms)(void *arg), void *arg) {
  r->clock = now_ms;
  r->clock_arg = arg;
}

uint64_t bgs_now_ms(const bgsync *r) { return r->clock ? r->clock(r->clock_arg) : bg_wall_ms(); }

static void bgs_today(const bgsync *r, char out[11]) {
  time_t t = (time_t)(bgs_now_ms(r) / 1000);
  struct tm tm;
  if (!localtime_r(&t, &tm) || strftime(out, 11, "%Y-%m-%d", &tm) != 10) snprintf(out, 11, "1970-01-01");
}

/* Several fields of one record in one transaction; fields[i] NULL are left out. */
static bg_err bgs_record(bgsync *r, bg_str client, uint32_t rtype, bg_str rid, const char *const *names,
                         const bg_value *vals, int n) {
  bg_err e = bgs_begin(r);
  const bg_rtype_def *rt = bg_rtype(rtype);
  for (int i = 0; i < n && e == BG_OK; i++) {
    if (vals[i].type == BG_V_NIL) continue;
    const bg_field_def *f = bg_field_by_name(rt, names[i], strlen(names[i]));
    e = bgs_put(r, client, rtype, rid, f->id, vals[i]);
  }
  return bgs_end_tx(r, e);
}

bg_err bgsync_client_add(bgsync *r, const char *client, const char *naam) {
  if (!client || !*client || client[0] == '_' || strlen(client) > BG_ID_MAX || strchr(client, ','))
    return bgs_fail(r, BG_E_USAGE, "a client id is 1..64 bytes of text without commas, not starting with '_'");
  bgsync_identity id;
  bg_err e = bgsync_identity_get(r, &id);
  if (e != BG_OK) return e;
  if (id.role[0] && strcmp(id.role, "office") != 0 && strcmp(id.role, "admin") != 0)
    return bgs_fail(r, BG_E_FORBIDDEN, "new clients are registered by the office (bgctl client add, or a device of an "
                                       "office user); ask the office to register %s", client);
  if ((e = bgs_begin(r)) != BG_OK) return e;
  r->registering = true;
  e = bgs_put(r, bg_str_c(client), BG_RT_TRAJECT, BG_STR("t"), 1,
              (bg_value){.type = BG_V_INT, .i = bg_pos_encode((bg_pos){0, BG_PH_AANMELDING})});
  r->registering = false;
  if (e == BG_OK && naam)
    e = bgs_put(r, bg_str_c(client), BG_RT_CLIENT, BG_STR("c"), bg_field_by_name(bg_rtype(BG_RT_CLIENT), "naam", 4)->id,
                (bg_value){.type = BG_V_STR, .s = bg_str_c(naam)});
  return bgs_end_tx(r, e);
}

bg_err bgsync_sign(bgsync *r, const char *client, const char *signature, const char *date) {
  if (!client || !signature || !*signature) return bgs_fail(r, BG_E_USAGE, "client and signature must be given");
  uint32_t cycle;
  bg_err e = bgs_cycle(r, bg_str_c(client), &cycle);
  if (e != BG_OK) return e;
  char rid[16], today[11];
  snprintf(rid, sizeof rid, "%u", cycle);
  if (!date) bgs_today(r, today);
  static const char *const names[] = {"getekend_op", "handtekening"};
  bg_value v[2] = {{.type = BG_V_STR, .s = bg_str_c(date ? date : today)},
                   {.type = BG_V_STR, .s = bg_str_c(signature)}};
  /* the date first: the signature write must be the last plan write it covers */
  return bgs_record(r, bg_str_c(client), BG_RT_PLAN, bg_str_c(rid), names, v, 2);
}

/* A new record id: "<device>.<counter>", prefixed by the current cycle for
 * records made in a cycle. The counter is taken (a dot no write will carry). */
static bg_err bgs_new_rid(bgsync *r, const bg_rtype_def *rt, bg_str client, char out[BG_ID_MAX + 1]) {
  bgsync_identity id;
  bg_err e = bgsync_identity_get(r, &id);
  if (e != BG_OK) return e;
  if (!id.enrolled) return bgs_fail(r, BG_E_USAGE, "this replica is not enrolled yet: enrol it first");
  if (rt->keying != BG_KEY_DOT && rt->keying != BG_KEY_CYCLE_DOT)
    return bgs_fail(r, BG_E_USAGE, "%s records have fixed ids; bgsync_new_rid is for doel, actie, netwerkcontact, "
                    "rapportage", rt->name);
  uint32_t cycle = 0;
  if (rt->keying == BG_KEY_CYCLE_DOT && (e = bgs_cycle(r, client, &cycle)) != BG_OK) return e;
  uint64_t counter, hlc;
  if ((e = bgs_next_dot(r, &counter, &hlc)) != BG_OK) return e;
  if (rt->keying == BG_KEY_CYCLE_DOT)
    snprintf(out, BG_ID_MAX + 1, "%u:%" PRIu64 ".%" PRIu64, cycle, id.device, counter);
  else
    snprintf(out, BG_ID_MAX + 1, "%" PRIu64 ".%" PRIu64, id.device, counter);
  return BG_OK;
}

static bg_err bgs_add(bgsync *r, const char *client, uint32_t rtype, const char *const *names, const bg_value *v,
                      int n, char *rid_out) {
  if (!client) return bgs_fail(r, BG_E_USAGE, "client must be given");
  char rid[BG_ID_MAX + 1];
  bg_err e = bgs_begin(r);
  if (e == BG_OK) e = bgs_new_rid(r, bg_rtype(rtype), bg_str_c(client), rid);
  if (e == BG_OK) e = bgs_commit(r);
  if (e != BG_OK) {
    bgs_rollback(r);
    return e;
  }
  e = bgs_record(r, bg_str_c(client), rtype, bg_str_c(rid), names, v, n);
  if (e == BG_OK && rid_out) snprintf(rid_out, BG_ID_MAX + 1, "%s", rid);
  return e;
}

static bg_value bgs_text(const char *s) { return s ? (bg_value){.type = BG_V_STR, .s = bg_str_c(s)} : (bg_value){0}; }
static bg_value bgs_int(int i) { return i ? (bg_value){.type = BG_V_INT, .i = i} : (bg_value){0}; }

bg_err bgsync_doel_add(bgsync *r, const char *client, const char *leefgebied, const char *omschrijving,
                       const char *termijn, int prioriteit, char *rid_out) {
  static const char *const names[] = {"leefgebied", "omschrijving", "termijn", "prioriteit"};
  bg_value v[] = {bgs_text(leefgebied), bgs_text(omschrijving), bgs_text(termijn), bgs_int(prioriteit)};
  return bgs_add(r, client, BG_RT_DOEL, names, v, 4, rid_out);
}

bg_err bgsync_actie_add(bgsync *r, const char *client, const char *doel_rid, const char *omschrijving,
                        const char *wie, const char *deadline, int prioriteit, char *rid_out) {
  static const char *const names[] = {"doel", "omschrijving", "wie", "deadline", "prioriteit"};
  bg_value v[] = {bgs_text(doel_rid), bgs_text(omschrijving), bgs_text(wie), bgs_text(deadline), bgs_int(prioriteit)};
  return bgs_add(r, client, BG_RT_ACTIE, names, v, 5, rid_out);
}

bg_err bgsync_note(bgsync *r, const char *client, const char *soort, const char *text, const char *leefgebied,
                   const char *corrects, char *rid_out) {
  if (!text || !*text) return bgs_fail(r, BG_E_USAGE, "a rapportage needs a text");
  char today[11];
  bgs_today(r, today);
  static const char *const names[] = {"soort", "datum", "tekst", "leefgebied", "corrigeert"};
  bg_value v[] = {bgs_text(soort ? soort : "overig"), bgs_text(today), bgs_text(text), bgs_text(leefgebied),
                  bgs_text(corrects)};
  return bgs_add(r, client, BG_RT_RAPPORTAGE, names, v, 5, rid_out);
}

bg_err bgsync_remove(bgsync *r, const char *client, const char *type, const char *rid) {
  if (!client || !type || !rid) return bgs_fail(r, BG_E_USAGE, "client, type and rid must be given");
  const bg_rtype_def *rt = bgs_rtype_named(type, strlen(type));
  if (!rt) return bgs_fail(r, BG_E_UNKNOWN_RECORD, "'%s' is no record type", type);
  const bg_field_def *del = bgs_deleted_field(rt);
  if (!del) return bgs_fail(r, BG_E_USAGE, "%s records cannot be removed; change their fields", rt->name);
  bg_write w = bgs_w(bg_str_c(client), rt->id, bg_str_c(rid), del->id, (bg_value){.type = BG_V_BOOL, .b = true});
  return bgs_write1(r, &w, false);
}

/* --- received writes ----------------------------------------------------------------------------- */

typedef struct bgs_touch {
  bg_str client, rid;
  uint32_t rtype;
  bool signature; /* the write signed the plan (bg_engine_is_signature) */
} bgs_touch;

static int bgs_touch_cmp(const void *a, const void *b) {
  const bgs_touch *x = a, *y = b;
  uint32_t n = x->client.len < y->client.len ? x->client.len : y->client.len;
  int c = memcmp(x->client.p, y->client.p, n);
  if (c || x->client.len != y->client.len) return c ? c : x->client.len < y->client.len ? -1 : 1;
  if (x->rtype != y->rtype) return x->rtype < y->rtype ? -1 : 1;
  n = x->rid.len < y->rid.len ? x->rid.len : y->rid.len;
  c = memcmp(x->rid.p, y->rid.p, n);
  return c ? c : x->rid.len < y->rid.len ? -1 : x->rid.len > y->rid.len;
}

bg_err bgs_apply_remote(bgsync *r, const bg_write *w, uint32_t n) {
  bgs_touch *t = n ? malloc(n * sizeof *t) : NULL;
  if (n && !t) return bgs_fail(r, BG_E_NOMEM, "out of memory");
  int64_t h = 0;
  bg_err e = bgs_meta_int(r, "hlc", &h);
  uint64_t hlc = (uint64_t)h;
  uint32_t nt = 0;
  /* the page's field states and records in memory, written once at the end */
  if (e == BG_OK && bg_kvcache_begin(r->cache) != BG_OK) {
    free(t);
    return bgs_fail(r, BG_E_USAGE, "the merge state is already being applied");
  }
  for (uint32_t i = 0; i < n && e == BG_OK; i++) {
    bg_apply_result res;
    e = bg_engine_apply(&r->eng, &w[i], &res);
    if (e != BG_OK) {
      char label[200];
      e = bgs_fail(r, e, "the server sent a write this replica cannot apply (%s, dot %" PRIu64 ".%" PRIu64 "): %s",
                   bgs_field_label(&w[i], label, sizeof label), w[i].dot.device, w[i].dot.counter, bg_err_message(e));
      break;
    }
    if (res.outcome == BG_DUPLICATE) continue;
    /* the clock stays ahead of every write seen (a day's tolerance for a wrong clock) */
    if (w[i].hlc > hlc && bg_hlc_physical(w[i].hlc) <= bgs_now_ms(r) + BG_HLC_MAX_AHEAD_LIMIT_MS) hlc = w[i].hlc;
    t[nt++] = (bgs_touch){w[i].client, w[i].rid, w[i].rtype, bg_engine_is_signature(&w[i])};
  }
  if (e == BG_OK && hlc != (uint64_t)h) e = bgs_meta_set_int(r, "hlc", (int64_t)hlc);
  if (nt > 1) qsort(t, nt, sizeof *t, bgs_touch_cmp);
  /* Each record touched is drawn once; client by client (the order of t), a
   * signature may reclassify every doel and actie of the client's plans, so
   * after one those are all drawn again, once for the page. */
  for (uint32_t from = 0, to; from < nt && e == BG_OK; from = to) {
    bool signed_now = false;
    for (to = from; to < nt && bg_str_eq(t[to].client, t[from].client); to++) signed_now |= t[to].signature;
    if (signed_now) e = bgs_rematerialise_type(r, t[from].client, BG_RT_DOEL);
    if (signed_now && e == BG_OK) e = bgs_rematerialise_type(r, t[from].client, BG_RT_ACTIE);
    for (uint32_t i = from; i < to && e == BG_OK; i++) {
      if (i > from && bgs_touch_cmp(&t[i - 1], &t[i]) == 0) continue;
      if (signed_now && (t[i].rtype == BG_RT_DOEL || t[i].rtype == BG_RT_ACTIE)) continue; /* drawn above */
      e = bgs_materialise(r, t[i].client, t[i].rtype, t[i].rid);
    }
  }
  free(t);
  if (e != BG_OK) {
    bg_kvcache_discard(r->cache); /* the caller rolls the page back */
    return e;
  }
  if ((e = bg_kvcache_end(r->cache)) != BG_OK) return bgs_fail(r, e, "writing the page's merge state: %s", bg_err_message(e));
  return BG_OK;
}

/* A write of this device that the office refused exists nowhere else: take it
 * out of the engine and the tables, so the replica shows what every other
 * replica shows (the write itself stays in bgsync_rejected for the user). */
bg_err bgs_forget(bgsync *r, const uint8_t *enc, size_t len) {
  msgpack_zone *z = msgpack_zone_new(1024);
  if (!z) return bgs_fail(r, BG_E_NOMEM, "out of memory");
  bg_write w;
  bg_msg_why why;
  bg_err e = bg_write_decode(enc, len, z, &w, &why);
  if (e != BG_OK) e = bgs_fail(r, BG_E_CORRUPT, "a refused write cannot be read (%s): the replica is damaged", why.text);
  if (e == BG_OK && (e = bg_engine_forget(&r->eng, &w)) == BG_E_NOT_FOUND) e = BG_OK;
  if (e != BG_OK && !r->err[0]) bgs_fail(r, e, "taking back a refused write: %s", bg_err_message(e));
  if (e == BG_OK) e = bgs_redraw(r, w.client);
  msgpack_zone_free(z);
  return e;
}

bg_err bgs_redraw(bgsync *r, bg_str client) {
  bg_err e = BG_OK;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX && e == BG_OK; t++) e = bgs_rematerialise_type(r, client, t);
  return e;
}

/* --- purge ----------------------------------------------------------------------------------------- */

bg_err bgs_has_pending(bgsync *r, bg_str client, bool *has) {
  sqlite3_stmt *st = r->q[Q_OUTBOX_CLIENT];
  if (sqlite3_bind_text(st, 1, client.p, (int)client.len, SQLITE_TRANSIENT) != SQLITE_OK)
    return bgs_sqlfail(r, sqlite3_errcode(r->db), "binding a client");
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  *has = rc == SQLITE_ROW;
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? BG_OK : bgs_sqlfail(r, rc, "reading the outbox");
}

bg_err bgs_purge_client(bgsync *r, bg_str client) {
  bg_err e = BG_OK;
  /* the engine's keys start with client 0x00: a range of each table */
  static const char *const tables[] = {"engine_field", "engine_log", "engine_record", "engine_plan", "engine_proposal"};
  uint8_t lo[BG_ID_MAX + 1], hi[BG_ID_MAX + 1];
  if (client.len == 0 || client.len > BG_ID_MAX) return bgs_fail(r, BG_E_USAGE, "bad client id");
  memcpy(lo, client.p, client.len);
  memcpy(hi, client.p, client.len);
  lo[client.len] = 0;
  hi[client.len] = 1;
  char sql[160];
  r->applying++;
  for (size_t i = 0; i < sizeof tables / sizeof tables[0] && e == BG_OK; i++) {
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE k >= ?1 AND k < ?2", tables[i]);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_blob(st, 1, lo, (int)client.len + 1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_bind_blob(st, 2, hi, (int)client.len + 1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) e = bgs_sqlfail(r, rc, "purging a client");
    sqlite3_finalize(st);
  }
  /* writes the office refused are care data too: access ended, they go */
  for (uint32_t t = 0; t <= BG_RTYPE_MAX && e == BG_OK; t++) {
    if (t == 0) snprintf(sql, sizeof sql, "DELETE FROM bgsync_rejected WHERE client = ?1");
    else snprintf(sql, sizeof sql, "DELETE FROM \"%s\" WHERE client = ?1", bg_rtype(t)->name);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, client.p, (int)client.len, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) e = bgs_sqlfail(r, rc, "purging a client");
    sqlite3_finalize(st);
  }
  r->applying--;
  if (e == BG_OK) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO bgsync_purged(client, at) VALUES(?1, ?2)", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, client.p, (int)client.len, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, (int64_t)bgs_now_ms(r));
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) e = bgs_sqlfail(r, rc, "recording a purge");
    sqlite3_finalize(st);
  }
  return e;
}

/* --- conflicts -------------------------------------------------------------------------------------- */

/* The open entries: conflict entries, and proposals nobody decided on. */
static bg_err bgs_load_entries(bgsync *r, const char *client, bg_open_entries *l) {
  bg_err e = bg_open_entries_get(&r->eng, bgs_str(client), true, true, l);
  return e == BG_OK ? BG_OK : bgs_fail(r, e, "reading the conflicts");
}

static bgsync_side bgs_side(const bg_entry_side *sd) {
  return (bgsync_side){sd->text, sd->user, sd->device, (uint64_t)sd->at};
}

bg_err bgsync_conflicts(bgsync *r, const char *client, bgsync_conflict_cb cb, void *arg) {
  bg_open_entries l;
  bg_err e = bgs_load_entries(r, client, &l);
  for (size_t i = 0; i < l.n && e == BG_OK; i++) {
    const bg_open_entry *x = &l.v[i];
    const bg_rtype_def *rt = bg_rtype(x->rtype);
    const bg_field_def *f = bg_field(rt, x->field);
    bgsync_conflict c = {.id = x->id,
                         .proposal = x->proposal,
                         .client = x->client,
                         .type = rt->name,
                         .rid = x->rid,
                         .field = f ? f->name : "?",
                         .rule = bg_open_entry_rule(x),
                         .why = bg_open_entry_why(x),
                         .shown = bgs_side(&x->shown),
                         .other = bgs_side(&x->other)};
    cb(arg, &c);
  }
  bg_open_entries_free(&l);
  if (e == BG_OK) r->err[0] = 0;
  return e;
}

bg_err bgsync_resolve(bgsync *r, const char *id, char keep, const char *value) {
  if (!id || (keep != 'A' && keep != 'B' && keep != 0) || (keep == 0 && !value))
    return bgs_fail(r, BG_E_USAGE, "resolve takes an id and --keep A, --keep B or --value TEXT");
  bg_open_entries l;
  bg_err e = bgs_load_entries(r, NULL, &l);
  const bg_open_entry *x = e == BG_OK ? bg_open_entries_find(&l, id) : NULL;
  if (e == BG_OK && !x) e = bgs_fail(r, BG_E_NOT_FOUND, "no open conflict or proposal with id '%s' (see conflicts)", id);
  if (e == BG_OK && x->proposal) {
    if (keep == 0) {
      e = bgs_fail(r, BG_E_USAGE, "a proposal is taken over (--keep B) or declined (--keep A)");
    } else {
      /* the decision, and for a take-over the value where it may be written now */
      e = bgs_begin(r);
      if (e == BG_OK)
        e = bgs_put(r, bg_str_c(x->client), BG_RT_VOORSTEL, bg_str_c(x->id + 1), 1,
                    bgs_text(keep == 'B' ? "overgenomen" : "afgewezen"));
      if (e == BG_OK && keep == 'B') {
        bg_write v = bgs_w(bg_str_c(x->client), x->rtype, bg_str_c(x->rid), x->field, (bg_value){0});
        v.value = x->other.value;
        bg_err pe = bgs_local_write(r, &v, false);
        bg_vv_free(&v.ctx);
        /* a take-over of a field that cannot be edited now stays a decision only */
        if (pe != BG_OK && pe != BG_E_WINDOW && pe != BG_E_PLAN_SIGNED) e = pe;
      }
      e = bgs_end_tx(r, e);
    }
  } else if (e == BG_OK) {
    /* a write that has seen both: the record's context covers them */
    bg_write w = bgs_w(bg_str_c(x->client), x->rtype, bg_str_c(x->rid), x->field, (bg_value){0});
    const bg_field_def *f = bg_field(bg_rtype(x->rtype), x->field);
    bool position = f && f->type == BG_FT_POS;
    if (position && keep != 'A')
      /* two concurrent phase moves: the traject stands where R5 put it; it
       * moves on (or back, where the phase machine allows) with a phase move */
      e = bgs_fail(r, BG_E_USAGE, "a conflict of the traject's phase is closed by keeping the phase shown (--keep A); "
                                  "to move the traject, use phase");
    else if (keep)
      w.value = keep == 'A' ? x->shown.value : x->other.value;
    else
      e = bgs_parse_value(r, &w, value, &w.value);
    r->keeping_position = position;
    if (e == BG_OK) e = bgs_write1(r, &w, false);
    r->keeping_position = false;
  }
  bg_open_entries_free(&l);
  if (e == BG_OK) r->err[0] = 0;
  return e;
}

/* --- status and digest --------------------------------------------------------------------------- */

static bg_err bgs_count(bgsync *r, sqlite3_stmt *st, uint64_t *out) {
  int rc = sqlite3_step(st);
  *out = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? BG_OK : bgs_sqlfail(r, rc, "counting");
}

bg_err bgsync_status_get(bgsync *r, bgsync_status *out) {
  memset(out, 0, sizeof *out);
  bg_err e = bgs_count(r, r->q[Q_OUTBOX_COUNT], &out->pending);
  if (e == BG_OK) e = bgs_count(r, r->q[Q_REJECTED_COUNT], &out->rejected);
  if (e == BG_OK) e = bgs_meta_int(r, "last_sync", &out->last_sync_ms);
  if (e == BG_OK) e = bgs_meta_int(r, "last_error", &out->last_error);
  bg_open_entries l = {0};
  if (e == BG_OK) e = bgs_load_entries(r, NULL, &l);
  for (size_t i = 0; e == BG_OK && i < l.n; i++) {
    if (l.v[i].proposal) out->proposals++;
    else out->conflicts++;
  }
  bg_open_entries_free(&l);
  if (e == BG_OK) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(r->db, "SELECT count(*) FROM traject", -1, &st, NULL);
    if (rc != SQLITE_OK) e = bgs_sqlfail(r, rc, "counting clients");
    else {
      e = bgs_count(r, st, &out->clients);
      sqlite3_finalize(st);
    }
  }
  if (e == BG_OK) r->err[0] = 0;
  return e;
}

bg_err bgsync_digest(bgsync *r, const char *client, char hex[65]) {
  uint8_t d[32];
  bg_err e = bg_engine_digest(&r->eng, bgs_str(client), d);
  if (e != BG_OK) return bgs_fail(r, e, "computing the digest");
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
  r->err[0] = 0;
  return BG_OK;
}
