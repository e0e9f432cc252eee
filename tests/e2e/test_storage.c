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
    CHECK(a, bgsync_sync(a, NULL));
    CHECK(b, bgsync_sync(b, NULL));
    assert_int_equal(bgr_count(b, "SELECT count(*) FROM rapportage"), written);
    char ha[65], hb[65];
    CHECK(a, bgsync_digest(a, NULL, ha));
    CHECK(b, bgsync_digest(b, NULL, hb));
    assert_string_equal(ha, hb);
    intact();
  }
  assert_int_equal(kill(g_org.daemon, 0), 0);
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
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
