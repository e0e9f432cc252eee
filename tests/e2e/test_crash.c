/*
 * test_crash.c - kill -9, of the daemon and of the device, at random points
 * of sync sessions (real processes on loopback):
 *
 *  - the daemon: a device pushes a batch of new writes while bgsyncd is
 *    killed with SIGKILL after a random delay (before, during or after the
 *    session), restarted, and the device syncs until it succeeds. Then every
 *    write the device made is on the office exactly once (a second device that
 *    pulls everything holds one rapportage per note written, and the same
 *    digest), nothing is pending, and the store passes PRAGMA integrity_check;
 *  - the device: `bgsync sync` (the command, a process of its own) is killed
 *    with SIGKILL at a random moment; the replica passes integrity_check, and
 *    the next sync completes with the same guarantees.
 *
 * BG_CRASH_POINTS sets the number of kill points of each kind (default 20;
 * docs/TESTING.md has the long run). BG_TEST_SEED replays a run.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bgsync.h"
#include "harness.h"
#include "replicas.h"
#include "testrand.h"

static char g_tmp[64];
static bgh_org g_org;
static uint64_t g_seed;
static int g_points;

#define CHECK(r, call)                                                                                  \
  do {                                                                                                  \
    bg_err e_ = (call);                                                                                 \
    if (e_ != BG_OK) {                                                                                  \
      BG_REPLAY(g_seed);                                                                                \
      fail_msg("%s:%d: %s -> %s: %s", __FILE__, __LINE__, #call, bg_err_name(e_), bgsync_errmsg(r));     \
    }                                                                                                   \
  } while (0)

static void replica_path(const char *name, char *path, size_t len) { snprintf(path, len, "%s/%s.db", g_tmp, name); }


static bgsync *replica_new(const char *name, const char *login) {
  bgsync *r = bgr_enrolled(&g_org, g_tmp, name, login, g_org.port);
  CHECK(r, bgsync_sync(r, NULL));
  return r;
}


/* PRAGMA integrity_check of a database file, on a connection of its own. */
static void intact(const char *path) {
  const char *said = bgr_integrity(path);
  if (said) {
    BG_REPLAY(g_seed);
    fail_msg("%s: integrity_check: %s", path, said);
  }
}

static void notes(bgsync *r, bg_rand *g, int n, int *written) {
  char text[600];
  for (int i = 0; i < n; i++) {
    int k = (*written)++;
    snprintf(text, sizeof text, "Rapportage %d: %0*d", k, 300 + (int)bg_rand_below(g, 200), k);
    char client[16];
    snprintf(client, sizeof client, "c-%d", 1 + k % 3);
    CHECK(r, bgsync_note(r, client, "overig", text, NULL, NULL, NULL));
  }
  /* and an ordinary field, edited over and over */
  char adres[64];
  snprintf(adres, sizeof adres, "Dorpsstraat %d", *written);
  CHECK(r, bgsync_set(r, "c-1", "client.adres", adres));
}

/* Sync until it succeeds (the daemon may still be starting). */
static void sync_through(bgsync *r) {
  bg_err e = BG_OK;
  for (int i = 0; i < 50; i++) {
    if ((e = bgsync_sync(r, NULL)) == BG_OK) return;
    if (!bg_err_retryable(e)) break;
    bgh_sleep_ms(100);
  }
  BG_REPLAY(g_seed);
  fail_msg("no sync after the crash: %s: %s", bg_err_name(e), bgsync_errmsg(r));
}

/* `written` notes made in this test, on top of `base` there before. */
static void converged(bgsync *a, bgsync *b, long base, int written, const char *after) {
  char ha[65], hb[65];
  sync_through(b);
  bgsync_status st;
  CHECK(a, bgsync_status_get(a, &st));
  if (st.pending || st.rejected) {
    BG_REPLAY(g_seed);
    fail_msg("%s: %llu pending, %llu refused", after, (unsigned long long)st.pending, (unsigned long long)st.rejected);
  }
  long on_b = bgr_count(b, "SELECT count(*) FROM rapportage");
  if (on_b != base + written) {
    BG_REPLAY(g_seed);
    fail_msg("%s: the office has %ld of %ld notes", after, on_b, base + written);
  }
  CHECK(a, bgsync_digest(a, NULL, ha));
  CHECK(b, bgsync_digest(b, NULL, hb));
  if (strcmp(ha, hb) != 0) {
    BG_REPLAY(g_seed);
    fail_msg("%s: the replicas differ", after);
  }
}

/* --- the daemon killed ------------------------------------------------------------------------ */

typedef struct syncer {
  bgsync *r;
  bg_err result;
} syncer;

static void *sync_thread(void *arg) {
  syncer *s = arg;
  s->result = bgsync_sync(s->r, NULL);
  return NULL;
}

static void the_daemon_killed_anywhere_loses_nothing(void **state) {
  (void)state;
  bg_rand g = {g_seed};
  bgsync *a = replica_new("kd-a", "anna");
  bgsync *b = replica_new("kd-b", "bert");
  long base = bgr_count(b, "SELECT count(*) FROM rapportage");
  int written = 0, failed = 0;
  char store[160];
  snprintf(store, sizeof store, "%s/store.db", g_org.home);
  for (int i = 0; i < g_points; i++) {
    notes(a, &g, 20 + (int)bg_rand_below(&g, 60), &written);
    syncer s = {a, BG_OK};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sync_thread, &s), 0);
    bgh_sleep_ms((int)bg_rand_below(&g, 25)); /* a session of this size takes a few ms to tens of ms here */
    assert_int_equal(bgh_daemon_stop(&g_org, SIGKILL), 128 + SIGKILL);
    pthread_join(t, NULL);
    if (s.result != BG_OK) failed++;
    intact(store);
    assert_int_equal(bgh_daemon_start(&g_org), 0);
    sync_through(a);
    converged(a, b, base, written, "after killing the daemon");
  }
  print_message("daemon: %d kill points, %d sessions broken, %d notes, all present once\n", g_points, failed, written);
  bgsync_close(a);
  bgsync_close(b);
}

/* --- the device killed ------------------------------------------------------------------------ */

static void the_device_killed_anywhere_loses_nothing(void **state) {
  (void)state;
  bg_rand g = {g_seed ^ 0x5eed};
  bgsync *a = replica_new("kc-a", "anna");
  bgsync *b = replica_new("kc-b", "bert");
  long base = bgr_count(b, "SELECT count(*) FROM rapportage");
  int written = 0, killed = 0;
  char path[160];
  replica_path("kc-a", path, sizeof path);
  for (int i = 0; i < g_points; i++) {
    notes(a, &g, 20 + (int)bg_rand_below(&g, 60), &written);
    /* a second writer may pull what a first pushed: give bert something too */
    CHECK(b, bgsync_set(b, "c-2", "client.telefoon", "0612345678"));
    CHECK(b, bgsync_sync(b, NULL));
    bgsync_close(a); /* the command has the replica now */
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
      (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
      char bin[512];
      snprintf(bin, sizeof bin, "%s/tools/bgsync", BG_BINARY_DIR);
      execl(bin, "bgsync", "--replica", path, "sync", (char *)NULL);
      _exit(127);
    }
    bgh_sleep_ms((int)bg_rand_below(&g, 40));
    kill(p, SIGKILL);
    int st;
    waitpid(p, &st, 0);
    if (WIFSIGNALED(st)) killed++;
    intact(path);
    a = bgr_open(g_tmp, "kc-a");
    sync_through(a);
    converged(a, b, base, written, "after killing the device");
  }
  print_message("device: %d kill points, %d killed mid-way, %d notes, all present once\n", g_points, killed, written);
  bgsync_close(a);
  bgsync_close(b);
}

static int setup(void **state) {
  (void)state;
  g_seed = bg_test_seed(20261124);
  const char *p = getenv("BG_CRASH_POINTS");
  g_points = p ? atoi(p) : 20;
  if (g_points < 1) g_points = 1;
  fprintf(stderr, "test_crash: seed %llu, %d kill points of each kind\n", (unsigned long long)g_seed, g_points);
  snprintf(g_tmp, sizeof g_tmp, "/tmp/test_crash.XXXXXX");
  if (!mkdtemp(g_tmp)) return -1;
  if (bgh_org_init(&g_org, "crash", 25000 + (getpid() % 2000) * 2, NULL) != 0) return -1;
  const char *cmds[] = {"team add t", "user add anna --role begeleider --team t", "user add bert --role begeleider --team t"};
  for (size_t i = 0; i < 3; i++)
    if (bgh_bgctl(&g_org, NULL, 0, "%s", cmds[i]) != 0) return -1;
  for (int i = 1; i <= 3; i++)
    if (bgh_bgctl(&g_org, NULL, 0, "client add c-%d --team t --begeleider anna", i) != 0) return -1;
  return bgh_daemon_start(&g_org);
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
      cmocka_unit_test(the_daemon_killed_anywhere_loses_nothing),
      cmocka_unit_test(the_device_killed_anywhere_loses_nothing),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
