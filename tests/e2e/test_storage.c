/*
 * test_storage.c - the daemon's disk fills up, or fails: bgsyncd runs with
 * tests/fault/fsfault.c preloaded, which makes every write and sync of its
 * store (store.db and its WAL) fail with ENOSPC or EIO while a flag file
 * exists. While the fault lasts, a device's sync fails with a retryable
 * storage error and a clear message, the daemon keeps running (another device
 * is answered too), nothing is half-applied; once the disk has room again the
 * same syncs complete, every write is on the office once and the store passes
 * PRAGMA integrity_check.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bgsync.h"
#include "harness.h"
#include "replicas.h"

static char g_tmp[64], g_flag[96];
static bgh_org g_org;

#define CHECK(r, call)                                                                                        \
  do {                                                                                                        \
    bg_err e_ = (call);                                                                                       \
    if (e_ != BG_OK) fail_msg("%s:%d: %s -> %s: %s", __FILE__, __LINE__, #call, bg_err_name(e_), bgsync_errmsg(r)); \
  } while (0)

static bgsync *replica_new(const char *name, const char *login) {
  bgsync *r = bgr_enrolled(&g_org, g_tmp, name, login, g_org.port);
  CHECK(r, bgsync_sync(r, NULL));
  return r;
}


static void fault(const char *kind) {
  if (!kind) {
    unlink(g_flag);
    return;
  }
  FILE *f = fopen(g_flag, "w");
  assert_non_null(f);
  fputs(kind, f);
  fclose(f);
}

static void intact(void) {
  char path[160];
  snprintf(path, sizeof path, "%s/store.db", g_org.home);
  const char *said = bgr_integrity(path);
  if (said) fail_msg("%s: integrity_check: %s", path, said);
}

/* With the disk whole again, both devices sync and hold the same `written`
 * rapportages, the same data, and the store passes integrity_check. */
static void both_sync_whole(bgsync *a, bgsync *b, int written) {
  CHECK(a, bgsync_sync(a, NULL));
  CHECK(b, bgsync_sync(b, NULL));
  assert_int_equal(bgr_count(a, "SELECT count(*) FROM rapportage"), written);
  assert_int_equal(bgr_count(b, "SELECT count(*) FROM rapportage"), written);
  char ha[65], hb[65];
  CHECK(a, bgsync_digest(a, NULL, ha));
  CHECK(b, bgsync_digest(b, NULL, hb));
  assert_string_equal(ha, hb);
  intact();
}

static void a_failing_disk_costs_a_retry_and_nothing_else(void **state) {
  (void)state;
  bgsync *a = replica_new("a", "anna");
  bgsync *b = replica_new("b", "bert");
  static const char *const kinds[] = {"ENOSPC", "EIO"};
  static const bg_err expected[] = {BG_E_DISK_FULL, BG_E_IO};
  int written = 0;
  for (int k = 0; k < 2; k++) {
    for (int i = 0; i < 40; i++) {
      char text[64];
      snprintf(text, sizeof text, "Rapportage %d", written++);
      CHECK(a, bgsync_note(a, "c-1", "overig", text, NULL, NULL, NULL));
    }
    bgsync_status before;
    CHECK(a, bgsync_status_get(a, &before));
    fault(kinds[k]);
    bg_err e = bgsync_sync(a, NULL);
    if (e != expected[k] && e != BG_E_STORAGE)
      fail_msg("%s: expected %s, got %s: %s", kinds[k], bg_err_name(expected[k]), bg_err_name(e), bgsync_errmsg(a));
    assert_true(bg_err_retryable(e));
    assert_true(bgsync_retry_ms(a) > 0 || e == BG_OK);
    print_message("%s: the device was told: %s\n", kinds[k], bgsync_errmsg(a));
    /* the daemon is still there and answers another device (its pull reads;
     * what it must write fails the same retryable way) */
    assert_int_equal(kill(g_org.daemon, 0), 0);
    e = bgsync_sync(b, NULL);
    assert_true(e == BG_OK || bg_err_retryable(e));
    bgsync_status st;
    CHECK(a, bgsync_status_get(a, &st));
    assert_int_equal(st.pending, before.pending); /* nothing was taken as done */
    fault(NULL);
    both_sync_whole(a, b, written);
  }
  assert_int_equal(kill(g_org.daemon, 0), 0);
  bgsync_close(a);
  bgsync_close(b);
}

/* The fault starts once the session is under way: at `stage` (sync progress). */
typedef struct fault_at {
  bgsync_stage stage;
  const char *kind;
  int started;
} fault_at;

static void start_fault_at(void *arg, const bgsync_progress *p) {
  fault_at *f = arg;
  if (p->stage == f->stage && !f->started++) fault(f->kind);
}

/* How often the daemon's log says a group commit failed. */
static int group_failures(void) {
  char path[160], line[1024];
  snprintf(path, sizeof path, "%s.log", g_org.home);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, "the requests of this moment are undone")) n++;
  fclose(f);
  return n;
}

/* bgsyncd answers the requests of one turn of its loop after one commit of
 * them all (store.h, group commit). The disk fails between the session's
 * HELLO (answered) and its PUSH, then between its last ACK and its PULL: the
 * commit that would have kept the batch (the cursor) fails, and the device
 * must hear an error, not an ACK (a page): its writes stay pending, and the
 * next sync delivers each once. */
static void a_failing_commit_withdraws_its_answers(void **state) {
  (void)state;
  bgsync *a = replica_new("a2", "anna");
  bgsync *b = replica_new("b2", "bert");
  static const bgsync_stage stages[] = {BGSYNC_PUSHING, BGSYNC_PULLING};
  int before_failures = group_failures();
  int written = bgr_count(b, "SELECT count(*) FROM rapportage");
  for (int k = 0; k < 2; k++) {
    for (int i = 0; i < 25; i++) {
      char text[64];
      snprintf(text, sizeof text, "Rapportage na de storing %d", written++);
      CHECK(a, bgsync_note(a, "c-1", "overig", text, NULL, NULL, NULL));
    }
    /* b's edits reach a in the pull that fails */
    CHECK(b, bgsync_note(b, "c-1", "overig", "Van bert", NULL, NULL, NULL));
    written++;
    CHECK(b, bgsync_sync(b, NULL));
    bgsync_status before;
    CHECK(a, bgsync_status_get(a, &before));
    fault_at f = {stages[k], "EIO", 0};
    bgsync_options o = {start_fault_at, &f, 0};
    bg_err e = bgsync_sync(a, &o);
    fault(NULL);
    assert_int_equal(f.started, 1);
    if (e == BG_OK) fail_msg("stage %d: the sync succeeded on a failing disk", (int)stages[k]);
    assert_true(bg_err_retryable(e));
    print_message("failing commit at stage %d: the device was told: %s\n", (int)stages[k], bgsync_errmsg(a));
    bgsync_status st;
    CHECK(a, bgsync_status_get(a, &st));
    if (k == 0) assert_int_equal(st.pending, before.pending); /* no ACK: nothing taken as done */
    else assert_int_equal(st.pending, 0);                       /* the pushes were acknowledged before */
    assert_int_equal(kill(g_org.daemon, 0), 0);
    both_sync_whole(a, b, written);
  }
  /* the failures were the group commits' (not a statement's before them) */
  assert_true(group_failures() >= before_failures + 2);
  bgsync_close(a);
  bgsync_close(b);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_tmp, sizeof g_tmp, "/tmp/test_storage.XXXXXX");
  if (!mkdtemp(g_tmp)) return -1;
  snprintf(g_flag, sizeof g_flag, "%s/fault", g_tmp);
  if (bgh_org_init(&g_org, "storage", 27000 + (getpid() % 2000) * 2, NULL) != 0) return -1;
  const char *cmds[] = {"team add t", "user add anna --role begeleider --team t", "user add bert --role begeleider --team t",
                        "client add c-1 --team t --begeleider anna"};
  for (size_t i = 0; i < 4; i++)
    if (bgh_bgctl(&g_org, NULL, 0, "%s", cmds[i]) != 0) return -1;
  /* the daemon alone gets the fault (an ASan daemon accepts a library before its runtime) */
  char match[160];
  snprintf(match, sizeof match, "%s/store.db", g_org.home);
  setenv("LD_PRELOAD", BG_FSFAULT_LIB, 1);
  setenv("BG_FSFAULT_MATCH", match, 1);
  setenv("BG_FSFAULT_FLAG", g_flag, 1);
  setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 1);
  int rc = bgh_daemon_start(&g_org);
  unsetenv("LD_PRELOAD");
  unsetenv("BG_FSFAULT_MATCH");
  unsetenv("BG_FSFAULT_FLAG");
  return rc;
}

static int teardown(void **state) {
  (void)state;
  if (g_org.daemon) bgh_daemon_stop(&g_org, SIGTERM);
  bgh_org_remove(&g_org, 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_failing_disk_costs_a_retry_and_nothing_else),
      cmocka_unit_test(a_failing_commit_withdraws_its_answers),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
