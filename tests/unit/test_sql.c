/*
 * test_sql.c - the SQLite helpers shared by daemon and client (store/bg_sql.h):
 * the engine's key-value interface on SQLite behaves exactly as the in-memory
 * one (the same random operations, the same answers - scans in byte order
 * included), and so does the write-back cache in front of it; numbered migrations, refusal of a newer schema, error mapping, and
 * a rolled-back transaction leaves nothing of an apply behind.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bg_engine.h"
#include "bg_sql.h"
#include "testrand.h"

static sqlite3 *mem_db(void) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  assert_int_equal(bg_sql_exec(db, bg_sqlkv_schema), BG_OK);
  return db;
}

/* Keys from a small alphabet that includes 0x00 and 0xff, so prefixes end in
 * 0xff (the scan's upper bound must carry) and keys are prefixes of others. */
static size_t random_key(bg_rand *r, uint8_t *k) {
  static const uint8_t alphabet[] = {0x00, 0x01, 'a', 0x7f, 0xfe, 0xff};
  size_t n = (size_t)bg_rand_below(r, 5);
  for (size_t i = 0; i < n; i++) k[i] = alphabet[bg_rand_below(r, sizeof alphabet)];
  return n;
}

typedef struct seen {
  bg_buf all;
} seen;

static bg_err record_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  seen *s = arg;
  uint8_t n[2] = {(uint8_t)klen, (uint8_t)vlen};
  bg_err e = bg_buf_append(&s->all, n, 2);
  if (e == BG_OK) e = bg_buf_append(&s->all, key, klen);
  return e == BG_OK ? bg_buf_append(&s->all, val, vlen) : e;
}

/* One random operation on both stores: the same answer, the same values, the
 * same scans (key order included). */
static void same_answer(bg_rand *r, uint64_t seed, int i, bg_kv a, bg_kv b) {
  uint8_t key[8], val[8];
  size_t klen = random_key(r, key), vlen = random_key(r, val);
  int space = 1 + (int)bg_rand_below(r, BG_KV_SPACES);
  bg_err ea, eb;
  bg_buf va = BG_BUF_INIT, vb = BG_BUF_INIT;
  switch (bg_rand_below(r, 5)) {
    case 0:
      ea = a.ops->put(a.self, space, key, klen, val, vlen);
      eb = b.ops->put(b.self, space, key, klen, val, vlen);
      break;
    case 1:
      ea = a.ops->add(a.self, space, key, klen, val, vlen);
      eb = b.ops->add(b.self, space, key, klen, val, vlen);
      break;
    case 2:
      ea = a.ops->del(a.self, space, key, klen);
      eb = b.ops->del(b.self, space, key, klen);
      break;
    case 3:
      ea = a.ops->get(a.self, space, key, klen, &va);
      eb = b.ops->get(b.self, space, key, klen, &vb);
      if (ea == BG_OK && eb == BG_OK && (va.len != vb.len || (va.len && memcmp(va.data, vb.data, va.len) != 0))) {
        BG_REPLAY(seed);
        fail_msg("get differs at operation %d", i);
      }
      break;
    default: {
      seen sa = {BG_BUF_INIT}, sb = {BG_BUF_INIT};
      ea = a.ops->scan(a.self, space, key, klen, record_cb, &sa);
      eb = b.ops->scan(b.self, space, key, klen, record_cb, &sb);
      if (sa.all.len != sb.all.len || (sa.all.len && memcmp(sa.all.data, sb.all.data, sa.all.len) != 0)) {
        BG_REPLAY(seed);
        fail_msg("scan of a %zu-byte prefix differs at operation %d", klen, i);
      }
      bg_buf_free(&sa.all);
      bg_buf_free(&sb.all);
    }
  }
  bg_buf_free(&va);
  bg_buf_free(&vb);
  if (ea != eb) BG_REPLAY(seed);
  assert_int_equal(ea, eb);
}

static void sqlite_store_answers_as_the_memory_store(void **state) {
  (void)state;
  uint64_t seed = bg_test_seed(23);
  bg_rand r = {seed};
  sqlite3 *db = mem_db();
  bg_sqlkv *sq;
  assert_int_equal(bg_sqlkv_new(db, &sq), BG_OK);
  bg_memkv *mem = bg_memkv_new();
  for (int i = 0; i < 20000; i++) same_answer(&r, seed, i, bg_memkv_kv(mem), bg_sqlkv_kv(sq));
  bg_memkv_free(mem);
  bg_sqlkv_free(sq);
  sqlite3_close(db);
}

/* The write-back cache (bg_kvcache) over SQLite answers as SQLite alone: in and
 * out of a begin, across ends (changes written) and discards (both databases
 * roll back), with a limit small enough that it writes through on its own. */
static void cache_against_store(uint64_t seed, size_t max_bytes) {
  bg_rand r = {seed};
  sqlite3 *da = mem_db(), *db = mem_db();
  bg_sqlkv *sa, *sb;
  assert_int_equal(bg_sqlkv_new(da, &sa), BG_OK);
  assert_int_equal(bg_sqlkv_new(db, &sb), BG_OK);
  bg_kvcache *c = bg_kvcache_new(bg_sqlkv_kv(sb), 1u << BG_KV_FIELD | 1u << BG_KV_RECORD | 1u << BG_KV_PLAN, max_bytes);
  assert_non_null(c);
  bool open = false;
  int ends = 0, discards = 0;
  for (int i = 0; i < 40000; i++) {
    if (bg_rand_below(&r, 100) == 0) {
      if (!open) {
        assert_int_equal(bg_sql_exec(da, "SAVEPOINT p"), BG_OK);
        assert_int_equal(bg_sql_exec(db, "SAVEPOINT p"), BG_OK);
        assert_int_equal(bg_kvcache_begin(c), BG_OK);
      } else if (bg_rand_below(&r, 4) == 0) {
        bg_kvcache_discard(c);
        assert_int_equal(bg_sql_exec(da, "ROLLBACK TO p; RELEASE p"), BG_OK);
        assert_int_equal(bg_sql_exec(db, "ROLLBACK TO p; RELEASE p"), BG_OK);
        discards++;
      } else {
        assert_int_equal(bg_kvcache_end(c), BG_OK);
        assert_int_equal(bg_sql_exec(da, "RELEASE p"), BG_OK);
        assert_int_equal(bg_sql_exec(db, "RELEASE p"), BG_OK);
        ends++;
      }
      open = !open;
    }
    same_answer(&r, seed, i, bg_sqlkv_kv(sa), bg_kvcache_kv(c));
  }
  assert_true(ends > 20 && discards > 5);
  if (open) assert_int_equal(bg_kvcache_end(c), BG_OK);
  /* what the cache wrote is what the other store holds */
  for (int sp = 1; sp <= BG_KV_SPACES; sp++) {
    seen x = {BG_BUF_INIT}, y = {BG_BUF_INIT};
    bg_kv ka = bg_sqlkv_kv(sa), kb = bg_sqlkv_kv(sb);
    assert_int_equal(ka.ops->scan(ka.self, sp, NULL, 0, record_cb, &x), BG_OK);
    assert_int_equal(kb.ops->scan(kb.self, sp, NULL, 0, record_cb, &y), BG_OK);
    if (x.all.len != y.all.len || (x.all.len && memcmp(x.all.data, y.all.data, x.all.len) != 0)) BG_REPLAY(seed);
    assert_int_equal(x.all.len, y.all.len);
    if (x.all.len) assert_memory_equal(x.all.data, y.all.data, x.all.len);
    bg_buf_free(&x.all);
    bg_buf_free(&y.all);
  }
  bg_kvcache_free(c);
  bg_sqlkv_free(sa);
  bg_sqlkv_free(sb);
  sqlite3_close(da);
  sqlite3_close(db);
}

static void the_cache_answers_as_the_store_behind_it(void **state) {
  (void)state;
  uint64_t seed = bg_test_seed(29);
  cache_against_store(seed, 0);    /* the default limit: written at the ends only */
  cache_against_store(seed, 2048); /* and written through on its own as well */

  /* the limit: past it the changes are in the store before the end */
  for (int small = 0; small < 2; small++) {
    sqlite3 *db = mem_db();
    bg_sqlkv *sq;
    assert_int_equal(bg_sqlkv_new(db, &sq), BG_OK);
    bg_kvcache *c = bg_kvcache_new(bg_sqlkv_kv(sq), 1u << BG_KV_FIELD, small ? 2048 : 0);
    bg_kv kc = bg_kvcache_kv(c), ks = bg_sqlkv_kv(sq);
    assert_int_equal(bg_kvcache_begin(c), BG_OK);
    assert_int_equal(bg_kvcache_begin(c), BG_E_USAGE); /* begins do not nest */
    for (uint8_t k = 0; k < 100; k++) assert_int_equal(kc.ops->put(kc.self, BG_KV_FIELD, &k, 1, (const uint8_t *)"v", 1), BG_OK);
    bg_buf v = BG_BUF_INIT;
    uint8_t first = 0;
    assert_int_equal(ks.ops->get(ks.self, BG_KV_FIELD, &first, 1, &v), small ? BG_OK : BG_E_NOT_FOUND);
    assert_int_equal(bg_kvcache_end(c), BG_OK);
    assert_int_equal(ks.ops->get(ks.self, BG_KV_FIELD, &first, 1, &v), BG_OK);
    bg_buf_free(&v);
    bg_kvcache_free(c);
    bg_sqlkv_free(sq);
    sqlite3_close(db);
  }
}

/* A scan whose callback scans the same space again (the engine reads one thing
 * while walking another). */
typedef struct nest {
  bg_kv kv;
  int space, outer, inner, stop_at; /* stop_at > 0: the inner scan stops there (BG_E_EXISTS) */
} nest;

static bg_err inner_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  (void)val; (void)vlen;
  nest *n = arg;
  n->inner++;
  /* and a read of what is being walked (through a cache: kept while walked) */
  bg_buf v = BG_BUF_INIT;
  bg_err e = n->kv.ops->get(n->kv.self, n->space, key, klen, &v);
  if (e == BG_OK && (v.len != 1 || v.data[0] != 'v')) e = BG_E_CORRUPT;
  bg_buf_free(&v);
  return e == BG_OK && n->stop_at && n->inner == n->stop_at ? BG_E_EXISTS : e;
}

static bg_err outer_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  (void)val; (void)vlen;
  nest *n = arg;
  n->outer++;
  return n->kv.ops->scan(n->kv.self, n->space, key, klen, inner_cb, n);
}

static void scans_nest(void **state) {
  (void)state;
  sqlite3 *db = mem_db();
  bg_sqlkv *sq;
  assert_int_equal(bg_sqlkv_new(db, &sq), BG_OK);
  bg_kv kv = bg_sqlkv_kv(sq);
  const char *keys[] = {"a", "ab", "abc", "b"};
  for (int i = 0; i < 4; i++)
    assert_int_equal(kv.ops->put(kv.self, BG_KV_LOG, (const uint8_t *)keys[i], strlen(keys[i]), (const uint8_t *)"v", 1), BG_OK);
  nest n = {kv, BG_KV_LOG, 0, 0, 0};
  assert_int_equal(kv.ops->scan(kv.self, BG_KV_LOG, (const uint8_t *)"a", 1, outer_cb, &n), BG_OK);
  assert_int_equal(n.outer, 3); /* a, ab, abc */
  assert_int_equal(n.inner, 3 + 2 + 1);

  /* the same through the write-back cache, half of the keys in the store and
   * half in the cache, one of the stored ones deleted in the cache */
  bg_kvcache *c = bg_kvcache_new(kv, BG_KVCACHE_SPACES, 0);
  bg_kv ck = bg_kvcache_kv(c);
  for (int i = 0; i < 2; i++)
    assert_int_equal(kv.ops->put(kv.self, BG_KV_FIELD, (const uint8_t *)keys[i], strlen(keys[i]), (const uint8_t *)"v", 1), BG_OK);
  assert_int_equal(kv.ops->put(kv.self, BG_KV_FIELD, (const uint8_t *)"aa", 2, (const uint8_t *)"v", 1), BG_OK);
  assert_int_equal(bg_kvcache_begin(c), BG_OK);
  for (int i = 2; i < 4; i++)
    assert_int_equal(ck.ops->put(ck.self, BG_KV_FIELD, (const uint8_t *)keys[i], strlen(keys[i]), (const uint8_t *)"v", 1), BG_OK);
  assert_int_equal(ck.ops->del(ck.self, BG_KV_FIELD, (const uint8_t *)"aa", 2), BG_OK);
  nest m = {ck, BG_KV_FIELD, 0, 0, 0};
  assert_int_equal(ck.ops->scan(ck.self, BG_KV_FIELD, (const uint8_t *)"a", 1, outer_cb, &m), BG_OK);
  assert_int_equal(m.outer, 3);
  assert_int_equal(m.inner, 3 + 2 + 1);
  /* a callback that stops the walk: its result comes back, nothing after it is seen */
  nest stop = {ck, BG_KV_FIELD, 0, 0, 4};
  assert_int_equal(ck.ops->scan(ck.self, BG_KV_FIELD, (const uint8_t *)"a", 1, outer_cb, &stop), BG_E_EXISTS);
  assert_int_equal(stop.outer, 2);
  assert_int_equal(stop.inner, 4);
  assert_int_equal(bg_kvcache_end(c), BG_OK);
  bg_kvcache_free(c);
  bg_sqlkv_free(sq);
  sqlite3_close(db);
}

static const char *const steps_v2[] = {
    "CREATE TABLE t1(x INTEGER)",
    "CREATE TABLE t2(y INTEGER); INSERT INTO t1 VALUES(1)",
};

static void migrations_run_once_in_order_and_newer_is_refused(void **state) {
  (void)state;
  char path[] = "/tmp/bg_test_sql_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  sqlite3 *db;
  char why[256];
  assert_int_equal(bg_sql_open(path, true, 1000, &db, why, sizeof why), BG_OK);
  int from = -1;
  assert_int_equal(bg_sql_migrate(db, steps_v2, 1, &from), BG_OK);
  assert_int_equal(from, 0);
  assert_int_equal(bg_sql_migrate(db, steps_v2, 2, &from), BG_OK);
  assert_int_equal(from, 1);
  assert_int_equal(bg_sql_migrate(db, steps_v2, 2, &from), BG_OK); /* nothing left to do */
  assert_int_equal(from, 2);
  /* Older software meets a newer database: refused, nothing changed. */
  assert_int_equal(bg_sql_migrate(db, steps_v2, 1, &from), BG_E_NEWER_SCHEMA);
  assert_int_equal(from, 2);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t1", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 1);
  sqlite3_finalize(st);
  /* A failing step leaves the version where it was. */
  static const char *const bad[] = {"CREATE TABLE t1(x INTEGER)", "CREATE TABLE t2(y INTEGER)",
                                    "CREATE TABLE t3(z); CREATE TABLE t1(dup)"};
  assert_int_not_equal(bg_sql_migrate(db, bad, 3, &from), BG_OK);
  assert_int_equal(bg_sql_migrate(db, steps_v2, 2, &from), BG_OK);
  assert_int_equal(from, 2);
  assert_int_not_equal(sqlite3_exec(db, "SELECT * FROM t3", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  /* A file that is not a database: a clear storage error, not a crash. */
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs("this is not a SQLite database, it is a shopping list: bread, milk", f);
  fclose(f);
  char wal[300];
  snprintf(wal, sizeof wal, "%s-wal", path);
  unlink(wal);
  bg_err e = bg_sql_open(path, false, 1000, &db, why, sizeof why);
  assert_int_equal(e, BG_E_CORRUPT);
  assert_null(db);
  assert_non_null(strstr(why, path));
  unlink(path);
  assert_int_equal(bg_sql_open("/nonexistent-dir/x.db", false, 1000, &db, why, sizeof why), BG_E_NOT_FOUND);
}

static void error_mapping(void **state) {
  (void)state;
  assert_int_equal(bg_sql_err(SQLITE_OK), BG_OK);
  assert_int_equal(bg_sql_err(SQLITE_DONE), BG_OK);
  assert_int_equal(bg_sql_err(SQLITE_FULL), BG_E_DISK_FULL);
  assert_int_equal(bg_sql_err(SQLITE_IOERR_WRITE), BG_E_IO);
  assert_int_equal(bg_sql_err(SQLITE_BUSY_SNAPSHOT), BG_E_BUSY);
  assert_int_equal(bg_sql_err(SQLITE_CORRUPT), BG_E_CORRUPT);
  assert_int_equal(bg_sql_err(SQLITE_CONSTRAINT_PRIMARYKEY), BG_E_EXISTS);
  assert_int_equal(bg_sql_err(SQLITE_ERROR), BG_E_STORAGE);
  assert_true(bg_err_retryable(BG_E_DISK_FULL) && bg_err_retryable(BG_E_BUSY) && bg_err_retryable(BG_E_IO));
}

/* The engine on SQLite inside a transaction that is rolled back: no trace. */
static void a_rolled_back_apply_leaves_nothing(void **state) {
  (void)state;
  sqlite3 *db = mem_db();
  bg_sqlkv *sq;
  assert_int_equal(bg_sqlkv_new(db, &sq), BG_OK);
  bg_engine e;
  assert_int_equal(bg_engine_init(&e, bg_sqlkv_kv(sq)), BG_OK);
  bg_write w = {0};
  w.client = bg_str_c("C-1");
  w.rtype = BG_RT_TRAJECT;
  w.rid = bg_str_c("t");
  w.field = 1;
  w.value = (bg_value){BG_V_INT, false, bg_pos_encode((bg_pos){0, BG_PH_AANMELDING}), {NULL, 0}};
  w.dot = (bg_dot){1, 1};
  w.cycle = 0;
  w.phase = BG_PH_NONE;
  w.user = 1;
  w.role = BG_ROLE_OFFICE;
  w.hlc = 1;
  uint8_t before[32], after[32];
  assert_int_equal(bg_engine_digest(&e, (bg_str){"", 0}, before), BG_OK);
  assert_int_equal(bg_sql_exec(db, "BEGIN"), BG_OK);
  bg_apply_result res;
  assert_int_equal(bg_engine_apply(&e, &w, &res), BG_OK);
  assert_int_equal(res.outcome, BG_APPLIED);
  assert_int_equal(bg_sql_exec(db, "ROLLBACK"), BG_OK);
  assert_int_equal(bg_engine_digest(&e, (bg_str){"", 0}, after), BG_OK);
  assert_memory_equal(before, after, 32);
  /* and the write applies afresh - not taken for a duplicate */
  assert_int_equal(bg_engine_apply(&e, &w, &res), BG_OK);
  assert_int_equal(res.outcome, BG_APPLIED);
  bg_engine_free(&e);
  bg_sqlkv_free(sq);
  sqlite3_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sqlite_store_answers_as_the_memory_store),
      cmocka_unit_test(the_cache_answers_as_the_store_behind_it),
      cmocka_unit_test(scans_nest),
      cmocka_unit_test(migrations_run_once_in_order_and_newer_is_refused),
      cmocka_unit_test(error_mapping),
      cmocka_unit_test(a_rolled_back_apply_leaves_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
