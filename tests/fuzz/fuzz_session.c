/*
 * fuzz_session - libFuzzer target: the input is what an authenticated device
 * sends after its HELLO, straight into the daemon's session (daemon/session.c)
 * on a real SQLite store (in /dev/shm when there is one). Checks beyond "no
 * crash, leak or undefined behaviour": whatever the session answers is a
 * sequence of whole frames that decode, and the audit chain still verifies.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bg_frame.h"
#include "bg_msg.h"
#include "bg_schema.h"
#include "session.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bg_store *g_store;
static bg_session_env g_env;
static uint64_t g_device;
static int64_t g_now = INT64_C(1795426200000);
static bg_buf g_hello;

static int64_t fake_now(void) { return g_now += 1000; }

static char g_dir[64];

/* The store lives for the process; remove it when libFuzzer exits. */
static void cleanup(void) {
  static const char *const files[] = {"store.db", "store.db-wal", "store.db-shm"};
  bg_store_close(g_store);
  g_store = NULL;
  for (int i = 0; i < 3; i++) {
    char p[96];
    snprintf(p, sizeof p, "%s/%s", g_dir, files[i]);
    unlink(p);
  }
  rmdir(g_dir);
}

static void die(const char *what) {
  fprintf(stderr, "fuzz_session: setup: %s\n", what);
  abort();
}

static void setup(void) {
  char dir[] = "/dev/shm/bg_fuzz_XXXXXX", alt[] = "/tmp/bg_fuzz_XXXXXX", path[64], why[256];
  char *d = mkdtemp(dir);
  if (d == NULL) d = mkdtemp(alt);
  if (d == NULL) die("no temporary directory");
  snprintf(g_dir, sizeof g_dir, "%s", d);
  snprintf(path, sizeof path, "%s/store.db", d);
  if (bg_store_open(path, &g_store, why, sizeof why) != BG_OK) die(why);
  atexit(cleanup);
  uint64_t user = 0, dev = 0;
  uint8_t hash[32] = {7};
  if (bg_store_team_add(g_store, "noord", g_now) != BG_OK ||
      bg_store_user_add(g_store, "anna", BG_ROLE_BEGELEIDER, "noord", g_now, &user) != BG_OK ||
      bg_store_client_add(g_store, "N-1", "noord", "anna", g_now) != BG_OK ||
      bg_store_client_add(g_store, "N-2", "noord", "anna", g_now) != BG_OK ||
      bg_store_code_add(g_store, "c1", hash, user, g_now, g_now + 3600000) != BG_OK ||
      bg_store_code_use(g_store, "c1", hash, "fuzz", g_now, &dev, &user) != BG_OK)
    die(bg_store_errmsg(g_store));
  g_device = dev;
  g_env.store = g_store;
  bg_hlc_init(&g_env.hlc, 0);
  g_env.now_ms = fake_now;
  g_env.max_frame = 1u << 16;
  g_env.software = "bgsyncd/fuzz";
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_HELLO;
  m.u.hello = (bg_msg_hello){1, BG_PROTO_VERSION_MAX, BG_SCHEMA_VERSION, BG_STR("fuzz/1"), 0, 0};
  if (bg_msg_encode_frame(&m, &g_hello, 0) != BG_OK) die("HELLO");
}

/* Every answer is a whole frame whose body decodes. */
static void check_answers(const bg_buf *out) {
  size_t off = 0;
  while (off < out->len) {
    if (out->len - off < 4) abort();
    uint32_t n = (uint32_t)out->data[off] << 24 | (uint32_t)out->data[off + 1] << 16 |
                 (uint32_t)out->data[off + 2] << 8 | out->data[off + 3];
    if (n == 0 || n > BG_FRAME_MAX || out->len - off - 4 < n) abort();
    bg_msg m;
    if (bg_msg_decode(out->data + off + 4, n, &m, NULL) != BG_OK) abort();
    bg_msg_free(&m);
    off += 4 + (size_t)n;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (g_store == NULL) setup();
  bg_session s;
  bg_session_init(&s, &g_env, BG_SESSION_SYNC, g_device, "anna");
  bg_buf out = BG_BUF_INIT;
  size_t used;
  (void)bg_session_input(&s, g_hello.data, g_hello.len, &out, &used);
  if (s.done) abort(); /* the HELLO must be welcomed */
  while (size > 0 && !s.done) {
    (void)bg_session_input(&s, data, size, &out, &used);
    if (used == 0 || used > size) abort();
    data += used;
    size -= used;
  }
  check_answers(&out);
  bg_buf_free(&out);
  bg_session_free(&s);
  /* now and then: the audit chain is still whole */
  static unsigned runs;
  if (++runs % 1000 == 0) {
    uint64_t entries, bad;
    if (bg_store_audit_verify(g_store, &entries, &bad) != BG_OK) abort();
  }
  return 0;
}
