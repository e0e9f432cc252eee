/*
 * test_cut.c - libbgsync when the connection fails, against the real daemon:
 *
 *  - a large push cut at byte N of the device's upload, and a large pull cut
 *    at byte N of the download, N swept over the session (the handshake,
 *    HELLO, every batch, the pages), through bgproxy (tools/bgproxy.c). After
 *    each cut the next sync completes; then nothing is lost (a replica that
 *    pulls everything holds every write, with the same digest), nothing is
 *    duplicated (one rapportage per note written) and nothing is pending;
 *  - cancellation from another thread during a slow sync (BG_E_CANCELLED,
 *    what was committed stays, the next sync completes);
 *  - two replicas syncing at once on one libuv loop (bgsync_sync_start);
 *  - the backoff after failures: bounded, growing, 0 after a success.
 *
 * The daemon runs with max_frame = 64 KiB so that a push is several batches.
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
#include <uv.h>

#include "bgsync.h"
#include "harness.h"
#include "replicas.h"

static char g_tmp[64];
static bgh_org g_org;
static int g_proxy_port;

#define CHECK(r, call)                                                                          \
  do {                                                                                          \
    bg_err e_ = (call);                                                                         \
    if (e_ != BG_OK) fail_msg("%s:%d: %s -> %s: %s", __FILE__, __LINE__, #call, bg_err_name(e_), \
                              bgsync_errmsg(r));                                                \
  } while (0)

/* A replica enrolled for `login`; its sync address is `port` (the daemon's or
 * the proxy's: the proxy passes TLS through, the certificate names localhost). */
static bgsync *replica(const char *name, const char *login, int port) {
  return bgr_enrolled(&g_org, g_tmp, name, login, port);
}

/* --- the proxy ------------------------------------------------------------------------------ */

static pid_t proxy_start(const char *fault, const char *dir, long at, int delay_ms) {
  char portfile[128], to[32], at_s[32], listen_s[16], delay_s[16];
  snprintf(portfile, sizeof portfile, "%s/proxy.port", g_tmp);
  unlink(portfile);
  snprintf(to, sizeof to, "127.0.0.1:%d", g_org.port);
  snprintf(at_s, sizeof at_s, "%ld", at);
  snprintf(listen_s, sizeof listen_s, "%d", g_proxy_port);
  snprintf(delay_s, sizeof delay_s, "%d", delay_ms);
  pid_t p = fork();
  assert_true(p >= 0);
  if (p == 0) {
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    char log[128], bin[512];
    snprintf(log, sizeof log, "%s/proxy.log", g_tmp);
    if (!freopen(log, "a", stderr)) _exit(126);
    snprintf(bin, sizeof bin, "%s/tools/bgproxy", BG_BINARY_DIR);
    if (fault && strcmp(fault, "delay") == 0)
      execl(bin, "bgproxy", "--listen", listen_s, "--to", to, "--fault", fault, "--dir", dir, "--at", at_s,
            "--delay-ms", delay_s, "--connections", "1", "--port-file", portfile, (char *)NULL);
    else if (fault)
      execl(bin, "bgproxy", "--listen", listen_s, "--to", to, "--fault", fault, "--dir", dir, "--at", at_s,
            "--connections", "1", "--port-file", portfile, (char *)NULL);
    else
      execl(bin, "bgproxy", "--listen", listen_s, "--to", to, "--port-file", portfile, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 200; i++) {
    if (access(portfile, F_OK) == 0) return p;
    bgh_sleep_ms(25);
  }
  char log[128], line[256] = "";
  snprintf(log, sizeof log, "%s/proxy.log", g_tmp);
  FILE *f = fopen(log, "r");
  while (f && fgets(line, sizeof line, f)) {
  }
  if (f) fclose(f);
  fail_msg("bgproxy did not start: %s", line);
  return -1;
}

static void proxy_stop(pid_t p) {
  kill(p, SIGTERM);
  int st;
  waitpid(p, &st, 0);
}

/* --- checks --------------------------------------------------------------------------------- */


static void same_state(bgsync *a, bgsync *b, const char *what) {
  char ha[65], hb[65];
  CHECK(a, bgsync_digest(a, NULL, ha));
  CHECK(b, bgsync_digest(b, NULL, hb));
  if (strcmp(ha, hb) != 0) fail_msg("%s: the replicas differ", what);
}

/* `n` rapportages of about 1.5 KB on clients c-1..c-4: several 64 KiB batches. */
static void write_notes(bgsync *r, int n, int *written) {
  char text[1600];
  for (int i = 0; i < n; i++) {
    int k = (*written)++;
    snprintf(text, sizeof text, "Rapportage %d. %0*d", k, 1400, k);
    char client[16];
    snprintf(client, sizeof client, "c-%d", 1 + k % 4);
    CHECK(r, bgsync_note(r, client, "overig", text, NULL, NULL, NULL));
  }
}

/* Offsets into a session: inside the handshake, HELLO, the first frames, and
 * spread over the rest of a session of about `size` bytes. */
static int offsets(long size, long *at) {
  static const long fixed[] = {0, 1, 60, 300, 900, 1500, 2200, 3000, 4500};
  int n = 0;
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) at[n++] = fixed[i];
  for (int k = 1; k <= 12; k++) at[n++] = 5000 + (size - 5000) * k / 13;
  return n;
}

/* --- the sweeps ------------------------------------------------------------------------------- */

static void a_push_cut_anywhere_loses_nothing(void **state) {
  (void)state;
  bgsync *p = replica("pusher", "anna", g_proxy_port); /* syncs through the proxy */
  bgsync *v = replica("verifier", "bert", g_org.port);
  pid_t px = proxy_start(NULL, NULL, 0, 0);
  CHECK(p, bgsync_sync(p, NULL));
  proxy_stop(px);
  CHECK(v, bgsync_sync(v, NULL));
  int written = 0;
  long at[32];
  int n = offsets(200 * 1024, at); /* 120 notes of 1.5 KB: about 190 KB up */
  int cut = 0;
  for (int i = 0; i < n; i++) {
    write_notes(p, 120, &written);
    px = proxy_start("close", "up", at[i], 0);
    bg_err e = bgsync_sync(p, NULL);
    if (e != BG_OK) {
      cut++;
      if (!bg_err_retryable(e)) fail_msg("cut at %ld up: not retryable: %s: %s", at[i], bg_err_name(e), bgsync_errmsg(p));
      CHECK(p, bgsync_sync(p, NULL)); /* the proxy forwards the second connection cleanly */
    }
    proxy_stop(px);
    bgsync_status st;
    CHECK(p, bgsync_status_get(p, &st));
    if (st.pending || st.rejected) fail_msg("cut at %ld up: %llu pending, %llu refused", at[i], (unsigned long long)st.pending, (unsigned long long)st.rejected);
    CHECK(v, bgsync_sync(v, NULL));
    long notes = bgr_count(v, "SELECT count(*) FROM rapportage");
    if (notes != written) fail_msg("cut at %ld up: the office has %ld notes of %d", at[i], notes, written);
    same_state(p, v, "after a cut push");
  }
  if (cut < n / 2) fail_msg("only %d of %d sessions were cut: the offsets miss the session", cut, n);
  print_message("push: %d offsets, %d sessions cut, %d notes, all present once\n", n, cut, written);
  bgsync_close(p);
  bgsync_close(v);
}

static void a_pull_cut_anywhere_resumes(void **state) {
  (void)state;
  bgsync *w = replica("writer", "anna", g_org.port);
  bgsync *q = replica("puller", "bert", g_proxy_port);
  CHECK(w, bgsync_sync(w, NULL));
  int written = 0;
  long at[32];
  int n = offsets(400 * 1024, at);
  int cut = 0;
  for (int i = 0; i < n; i++) {
    write_notes(w, 250, &written); /* about 400 KB down: several pages */
    CHECK(w, bgsync_sync(w, NULL));
    pid_t px = proxy_start("close", "down", at[i], 0);
    bg_err e = bgsync_sync(q, NULL);
    if (e != BG_OK) {
      cut++;
      if (!bg_err_retryable(e)) fail_msg("cut at %ld down: not retryable: %s: %s", at[i], bg_err_name(e), bgsync_errmsg(q));
      CHECK(q, bgsync_sync(q, NULL));
    }
    proxy_stop(px);
    long notes = bgr_count(q, "SELECT count(*) FROM rapportage");
    if (notes != bgr_count(w, "SELECT count(*) FROM rapportage")) fail_msg("cut at %ld down: the puller has %ld notes of %d", at[i], notes, written);
    same_state(w, q, "after a cut pull");
  }
  if (cut < n / 2) fail_msg("only %d of %d sessions were cut", cut, n);
  print_message("pull: %d offsets, %d sessions cut, %d notes\n", n, cut, written);
  bgsync_close(w);
  bgsync_close(q);
}

/* --- every byte (a long run: BG_CUT_EVERY_BYTE=1) ------------------------------------------------ */

/* Bytes the proxy forwarded up and down in its last connection (its log). */
static void last_session_bytes(long *up, long *down) {
  char log[128], line[512], last[512] = "";
  snprintf(log, sizeof log, "%s/proxy.log", g_tmp);
  FILE *f = fopen(log, "r");
  while (f && fgets(line, sizeof line, f))
    if (strstr(line, " up ") && strstr(line, " down ")) snprintf(last, sizeof last, "%s", line);
  if (f) fclose(f);
  const char *u = strstr(last, ": up "), *d = strstr(last, ", down ");
  if (!u || !d) fail_msg("no session in the proxy's log: %s", last);
  *up = strtol(u + 5, NULL, 10);
  *down = strtol(d + 7, NULL, 10);
}

/* A representative small session - a push of a rapportage and a field edit,
 * and a pull of a colleague's - cut at every byte offset of its upload and of
 * its download. After each cut the next sync completes and nothing is lost or
 * twice. Minutes: a long run (docs/TESTING.md), skipped unless asked for. */
static void every_byte_of_a_session(void **state) {
  (void)state;
  if (!getenv("BG_CUT_EVERY_BYTE")) {
    print_message("skipped: BG_CUT_EVERY_BYTE=1 runs it (minutes)\n");
    return;
  }
  bgsync *d = replica("eb-dev", "anna", g_proxy_port);
  bgsync *c = replica("eb-col", "bert", g_org.port);
  pid_t px = proxy_start(NULL, NULL, 0, 0);
  CHECK(d, bgsync_sync(d, NULL));
  CHECK(c, bgsync_sync(c, NULL));
  int mine = 0, theirs = 1000000;
  /* the size of the representative session */
  write_notes(d, 1, &mine);
  write_notes(c, 1, &theirs);
  CHECK(c, bgsync_sync(c, NULL));
  CHECK(d, bgsync_sync(d, NULL));
  proxy_stop(px);
  long up, down;
  last_session_bytes(&up, &down);
  long sweeps = 0, cuts = 0;
  for (int dir = 0; dir < 2; dir++) {
    long size = dir == 0 ? up : down;
    for (long at = 0; at <= size; at++) {
      write_notes(d, 1, &mine);
      write_notes(c, 1, &theirs);
      CHECK(c, bgsync_sync(c, NULL));
      px = proxy_start("close", dir == 0 ? "up" : "down", at, 0);
      bg_err e = bgsync_sync(d, NULL);
      if (e != BG_OK) {
        cuts++;
        if (!bg_err_retryable(e)) fail_msg("cut at %ld %s: not retryable: %s", at, dir ? "down" : "up", bgsync_errmsg(d));
        CHECK(d, bgsync_sync(d, NULL));
      }
      proxy_stop(px);
      CHECK(c, bgsync_sync(c, NULL));
      sweeps++;
      if (bgr_count(d, "SELECT count(*) FROM rapportage") != bgr_count(c, "SELECT count(*) FROM rapportage"))
        fail_msg("cut at %ld %s: the replicas hold different notes", at, dir ? "down" : "up");
      same_state(d, c, "after a cut at a byte");
    }
  }
  print_message("every byte: a session of %ld bytes up and %ld down, %ld cuts swept, %ld broke the session\n", up, down,
                sweeps, cuts);
  bgsync_close(d);
  bgsync_close(c);
}

/* --- cancellation, the app's loop, backoff ----------------------------------------------------- */

typedef struct canceller {
  bgsync *r;
  int after_ms;
} canceller;

static void *cancel_later(void *arg) {
  canceller *c = arg;
  bgh_sleep_ms(c->after_ms);
  bgsync_cancel(c->r);
  return NULL;
}

static void a_cancelled_sync_keeps_what_was_committed(void **state) {
  (void)state;
  bgsync *w = replica("cw", "anna", g_org.port);
  bgsync *q = replica("cq", "bert", g_proxy_port);
  CHECK(w, bgsync_sync(w, NULL));
  int written = 0;
  write_notes(w, 300, &written);
  CHECK(w, bgsync_sync(w, NULL));
  /* every chunk from the server held 150 ms: the pull takes seconds */
  pid_t px = proxy_start("delay", "down", 0, 150);
  canceller c = {q, 700};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
  bg_err e = bgsync_sync(q, NULL);
  pthread_join(t, NULL);
  proxy_stop(px);
  if (e != BG_E_CANCELLED) fail_msg("expected BG_E_CANCELLED, got %s: %s", bg_err_name(e), bgsync_errmsg(q));
  assert_non_null(strstr(bgsync_errmsg(q), "cancelled"));
  long part = bgr_count(q, "SELECT count(*) FROM rapportage");
  px = proxy_start(NULL, NULL, 0, 0);
  CHECK(q, bgsync_sync(q, NULL));
  proxy_stop(px);
  if (bgr_count(q, "SELECT count(*) FROM rapportage") != bgr_count(w, "SELECT count(*) FROM rapportage"))
    fail_msg("after the cancel, not everything arrived");
  same_state(w, q, "after a cancelled pull");
  print_message("cancel: %ld of %d notes committed before the cancel\n", part, written);
  bgsync_cancel(q); /* nothing runs: harmless */
  bgsync_close(w);
  bgsync_close(q);
}

typedef struct done_rec {
  int calls;
  bg_err result;
} done_rec;

static void on_done(void *arg, bg_err result) {
  done_rec *d = arg;
  d->calls++;
  d->result = result;
}

static void two_replicas_sync_on_the_apps_loop(void **state) {
  (void)state;
  bgsync *a = replica("la", "anna", g_org.port);
  bgsync *b = replica("lb", "bert", g_org.port);
  CHECK(a, bgsync_sync(a, NULL));
  int written = 0;
  write_notes(a, 40, &written);
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  done_rec da = {0}, db = {0};
  CHECK(a, bgsync_sync_start(a, &loop, NULL, on_done, &da));
  CHECK(b, bgsync_sync_start(b, &loop, NULL, on_done, &db));
  /* a second start on a busy replica is refused */
  assert_int_equal(bgsync_sync_start(a, &loop, NULL, on_done, &da), BG_E_USAGE);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0); /* every handle closed */
  assert_int_equal(da.calls, 1);
  assert_int_equal(db.calls, 1);
  assert_int_equal(da.result, BG_OK);
  assert_int_equal(db.result, BG_OK);
  CHECK(b, bgsync_sync(b, NULL));
  same_state(a, b, "after syncing on one loop");
  bgsync_close(a);
  bgsync_close(b);
}

static void failures_back_off_and_a_success_resets(void **state) {
  (void)state;
  bgsync *r = replica("bo", "anna", g_proxy_port); /* nothing listens there now */
  uint64_t bound = 2000;
  for (int i = 0; i < 4; i++) {
    bg_err e = bgsync_sync(r, NULL);
    assert_int_equal(e, BG_E_CONNECT);
    assert_true(bg_err_retryable(e));
    if (bgsync_retry_ms(r) > bound) fail_msg("attempt %d: wait %llu ms above %llu", i, (unsigned long long)bgsync_retry_ms(r), (unsigned long long)bound);
    bound *= 2;
  }
  bgsync_status st;
  CHECK(r, bgsync_status_get(r, &st));
  assert_int_equal(st.last_error, BG_E_CONNECT);
  pid_t px = proxy_start(NULL, NULL, 0, 0);
  CHECK(r, bgsync_sync(r, NULL));
  proxy_stop(px);
  assert_int_equal(bgsync_retry_ms(r), 0);
  CHECK(r, bgsync_status_get(r, &st));
  assert_int_equal(st.last_error, 0);
  assert_true(st.last_sync_ms > 0);
  bgsync_close(r);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_tmp, sizeof g_tmp, "/tmp/test_cut.XXXXXX");
  if (!mkdtemp(g_tmp)) return -1;
  if (bgh_org_init(&g_org, "cut", 23000 + (getpid() % 2000) * 2, "max_frame = 65536\n") != 0) return -1;
  g_proxy_port = bgh_free_port_pair(g_org.port + 2);
  const char *cmds[] = {"team add t", "user add anna --role begeleider --team t", "user add bert --role begeleider --team t"};
  for (size_t i = 0; i < 3; i++)
    if (bgh_bgctl(&g_org, NULL, 0, "%s", cmds[i]) != 0) return -1;
  for (int i = 1; i <= 4; i++)
    if (bgh_bgctl(&g_org, NULL, 0, "client add c-%d --team t --begeleider anna", i) != 0) return -1;
  return bgh_daemon_start(&g_org);
}

static int teardown(void **state) {
  (void)state;
  bgh_daemon_stop(&g_org, SIGTERM);
  bgh_org_remove(&g_org, 0);
  if (getenv("BG_KEEP")) {
    fprintf(stderr, "kept %s\n", g_tmp);
    return 0;
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_push_cut_anywhere_loses_nothing),
      cmocka_unit_test(a_pull_cut_anywhere_resumes),
      cmocka_unit_test(every_byte_of_a_session),
      cmocka_unit_test(a_cancelled_sync_keeps_what_was_committed),
      cmocka_unit_test(two_replicas_sync_on_the_apps_loop),
      cmocka_unit_test(failures_back_off_and_a_success_resets),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
