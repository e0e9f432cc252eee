/*
 * replicas.c - libbgsync replicas in end-to-end tests (replicas.h).
 */
#include "replicas.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

bgsync *bgr_open(const char *dir, const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s.db", dir, name);
  bgsync *r;
  bg_err e = bgsync_open(path, &r);
  if (e != BG_OK) fail_msg("open %s: %s", path, bgsync_errmsg(r));
  return r;
}

bgsync *bgr_enrolled(const bgh_org *o, const char *dir, const char *name, const char *login, int port) {
  bgsync *r = bgr_open(dir, name);
  char code[128], server[64];
  if (bgh_bgctl(o, code, sizeof code, "device enroll %s", login) != 0) fail_msg("bgctl device enroll %s: %s", login, code);
  snprintf(server, sizeof server, "localhost:%d", port);
  bg_err e = bgsync_enroll(r, server, code, name, o->enrol_port);
  if (e != BG_OK) fail_msg("enrol %s as %s: %s: %s", name, login, bg_err_name(e), bgsync_errmsg(r));
  return r;
}

long bgr_count(bgsync *r, const char *sql) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(bgsync_db(r), sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s", sqlite3_errmsg(bgsync_db(r)));
  long n = sqlite3_step(st) == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  return n;
}

const char *bgr_integrity(const char *path) {
  static char said[256];
  sqlite3 *db;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) fail_msg("open %s", path);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) fail_msg("%s", sqlite3_errmsg(db));
  const char *ok = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "no answer";
  snprintf(said, sizeof said, "%s", ok ? ok : "?");
  sqlite3_finalize(st);
  sqlite3_close(db);
  return strcmp(said, "ok") == 0 ? NULL : said;
}
