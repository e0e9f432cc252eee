/*
 * test_daemon.c - bgsyncd as a real process on loopback, with real
 * certificates made by bgctl, driven by test devices (peer.c) that keep real
 * engine replicas:
 *   - enrolment: a code works once; reused, mistyped or from another CA it is
 *     refused; a HELLO without a certificate is refused;
 *   - two users edit the same client offline and converge; a device outside
 *     the caseload never receives that client;
 *   - a revoked device is refused at the handshake, and its open session closed;
 *   - garbage, oversize and wrong-type frames get an ERROR and a closed
 *     connection while another device keeps syncing; a device that never
 *     reads does not grow the daemon's memory past its bound;
 *   - SIGTERM during a large PUSH: restart, resend, nothing lost or doubled;
 *   - the audit chain verifies.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bg_code.h"
#include "bg_engine.h"
#include "bg_hlc.h"
#include "bg_schema.h"
#include "harness.h"
#include "peer.h"

static bgh_org g_org;
static bg_rng g_rng;

static void daemon_start(void) {
  if (bgh_daemon_start(&g_org) != 0) fail_msg("bgsyncd did not start (see %s.log)", g_org.home);
}

static identity enrol(const char *login) {
  char code[128];
  assert_int_equal(bgh_bgctl(&g_org, code, sizeof code, "device enroll %s", login), 0);
  identity id;
  char why[256];
  bg_err e = peer_enrol(&g_rng, g_org.enrol_port, code, login, &id, why, sizeof why);
  if (e != BG_OK) fail_msg("enrol %s: %s: %s", login, bg_err_name(e), why);
  return id;
}

/* --- a device: identity, replica, pending writes ---------------------------------------- */

typedef struct held_write {
  bg_write w;
  bg_dot ctx[64];
  char client[BG_ID_MAX + 1], text[64];
} held_write;

typedef struct device {
  identity id;
  bg_memkv *kv;
  bg_engine e;
  bg_hlc hlc;
  uint64_t counter, cursor, batch, user;
  uint8_t role;
  uint32_t proto_max; /* highest protocol version it offers (0: 1, an app of protocol 1) */
  uint32_t proto;     /* chosen by the daemon */
  unsigned packed_pages; /* CHANGES received packed */
  held_write *pending;
  size_t npending, acked;
  char seen[8][BG_ID_MAX + 1];
  int nseen;
} device;

static void device_new(device *d, const char *login, uint8_t role) {
  memset(d, 0, sizeof *d);
  d->id = enrol(login);
  d->user = d->id.user;
  d->role = role;
  d->kv = bg_memkv_new();
  assert_int_equal(bg_engine_init(&d->e, bg_memkv_kv(d->kv)), BG_OK);
  bg_hlc_init(&d->hlc, 0);
  d->pending = calloc(20000, sizeof *d->pending);
}

static void device_free(device *d) {
  bg_engine_free(&d->e);
  bg_memkv_free(d->kv);
  free(d->pending);
  identity_free(&d->id);
}

static void device_edit(device *d, const char *client, uint32_t field, const char *text, bool tb) {
  held_write *h = &d->pending[d->npending++];
  snprintf(h->client, sizeof h->client, "%s", client);
  snprintf(h->text, sizeof h->text, "%s", text);
  bg_write *w = &h->w;
  memset(w, 0, sizeof *w);
  w->client = bg_str_c(h->client);
  w->rtype = BG_RT_CLIENT;
  w->rid = BG_STR("c");
  w->field = field;
  w->value = (bg_value){BG_V_STR, false, 0, bg_str_c(h->text)};
  assert_int_equal(bg_engine_context_for(&d->e, w), BG_OK);
  uint32_t n = w->ctx.n;
  if (n) memcpy(h->ctx, w->ctx.e, n * sizeof *h->ctx);
  bg_vv_free(&w->ctx);
  w->ctx = (bg_vv){h->ctx, n, 0};
  w->dot = (bg_dot){d->id.device, ++d->counter};
  w->user = d->user;
  w->role = d->role;
  w->tb = tb;
  w->hlc = bg_hlc_now(&d->hlc, (uint64_t)time(NULL) * 1000);
  bg_apply_result res;
  assert_int_equal(bg_engine_apply(&d->e, w, &res), BG_OK);
}

/* The next frame from `p` is an ERROR with `code`. */
static void recv_error(peer *p, bg_err code) {
  bg_msg r;
  assert_int_equal(peer_recv(p, &r, 5000), BG_OK);
  assert_int_equal(r.type, BG_MSG_ERROR);
  if (r.u.error.code != (uint32_t)code) fail_msg("expected %s, got %u", bg_err_name(code), r.u.error.code);
  bg_msg_free(&r);
}

static bg_err hello(peer *p, device *d) {
  bg_err e = peer_connect(p, &g_rng, g_org.port, &d->id, NULL);
  if (e != BG_OK) return e;
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_HELLO;
  m.u.hello = (bg_msg_hello){1, d->proto_max ? d->proto_max : 1, BG_SCHEMA_VERSION, BG_STR("peer/test"),
                             d->id.device, d->cursor};
  if ((e = peer_send(p, &m)) != BG_OK) return e;
  bg_msg r;
  if ((e = peer_recv(p, &r, 5000)) != BG_OK) return e;
  e = r.type == BG_MSG_WELCOME ? BG_OK : r.type == BG_MSG_ERROR ? (bg_err)r.u.error.code : BG_E_UNEXPECTED_MESSAGE;
  if (r.type == BG_MSG_WELCOME) {
    assert_true(r.u.welcome.device == d->id.device);
    d->proto = r.u.welcome.proto;
  }
  bg_msg_free(&r);
  return e;
}

static bool may_see(const char *const *allowed, bg_str c) {
  for (; allowed && *allowed; allowed++)
    if (strlen(*allowed) == c.len && memcmp(*allowed, c.p, c.len) == 0) return true;
  return allowed == NULL;
}

/* A whole sync: push pending writes in batches of `k`, pull to the end. Every
 * write received must be of a client in `allowed` (NULL: any). */
static void device_sync(device *d, size_t k, const char *const *allowed) {
  peer p;
  bg_err e = hello(&p, d);
  if (e != BG_OK) fail_msg("hello: %s (%s)", bg_err_name(e), p.error);
  while (d->acked < d->npending) {
    size_t n = d->npending - d->acked < k ? d->npending - d->acked : k;
    bg_write *ws = calloc(n, sizeof *ws);
    for (size_t i = 0; i < n; i++) ws[i] = d->pending[d->acked + i].w;
    bg_msg m;
    memset(&m, 0, sizeof m);
    m.type = BG_MSG_PUSH;
    m.u.push = (bg_msg_push){++d->batch, ws, (uint32_t)n,
                             d->proto >= BG_PROTO_PACKED && bg_writes_pack_smaller(ws, (uint32_t)n)};
    assert_int_equal(peer_send(&p, &m), BG_OK);
    bg_msg r;
    assert_int_equal(peer_recv(&p, &r, 20000), BG_OK);
    if (r.type != BG_MSG_ACK) fail_msg("PUSH answered with %s", bg_msg_type_name((int)r.type));
    assert_int_equal(r.u.ack.n_rejected, 0);
    bg_msg_free(&r);
    free(ws);
    d->acked += n;
  }
  for (;;) {
    bg_msg m;
    memset(&m, 0, sizeof m);
    m.type = BG_MSG_PULL;
    m.u.pull = (bg_msg_pull){d->cursor, 4096, 50};
    assert_int_equal(peer_send(&p, &m), BG_OK);
    bg_msg r;
    assert_int_equal(peer_recv(&p, &r, 20000), BG_OK);
    if (r.type == BG_MSG_PURGE) {
      bg_msg_free(&r);
      assert_int_equal(peer_recv(&p, &r, 20000), BG_OK);
    }
    assert_int_equal(r.type, BG_MSG_CHANGES);
    if (d->proto < BG_PROTO_PACKED) assert_false(r.u.changes.packed); /* what the session's version defines */
    d->packed_pages += r.u.changes.packed;
    for (uint32_t i = 0; i < r.u.changes.n; i++) {
      const bg_write *w = &r.u.changes.writes[i];
      if (!may_see(allowed, w->client))
        fail_msg("device %llu received client %.*s", (unsigned long long)d->id.device, (int)w->client.len, w->client.p);
      bg_apply_result res;
      assert_int_equal(bg_engine_apply(&d->e, w, &res), BG_OK);
    }
    d->cursor = r.u.changes.next;
    bool more = r.u.changes.more;
    bg_msg_free(&r);
    if (!more) break;
  }
  bg_msg bye;
  memset(&bye, 0, sizeof bye);
  bye.type = BG_MSG_BYE;
  (void)peer_send(&p, &bye);
  peer_close(&p);
}

static void digest(device *d, const char *client, uint8_t out[32]) {
  assert_int_equal(bg_engine_digest(&d->e, bg_str_c(client), out), BG_OK);
}

/* --- the organisation --------------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  if (bg_rng_init(&g_rng, "test_daemon") != BG_OK) return -1;
  if (bgh_org_init(&g_org, NULL, 20000 + 2 * (int)(getpid() % 6000),
                   "conn_buffer = 262144\nlog_level = debug\n"
                   "idle_timeout_ms = 4000\nhandshake_timeout_ms = 2000\nmax_connections = 48") != 0)
    return -1;
  const char *cmds[] = {"team add noord", "team add zuid", "user add anna --role begeleider --team noord",
                        "user add carla --role begeleider --team noord", "user add bert --role begeleider --team zuid",
                        "user add otto --role office", "client add N-1 --team noord --begeleider anna",
                        "client add Z-1 --team zuid --begeleider bert"};
  for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
    if (bgh_bgctl(&g_org, NULL, 0, "%s", cmds[i]) != 0) return -1;
  return bgh_daemon_start(&g_org);
}

static int teardown(void **state) {
  (void)state;
  int st = bgh_daemon_stop(&g_org, SIGTERM);
  bg_rng_free(&g_rng);
  if (st != 0) {
    fprintf(stderr, "bgsyncd exited with %d (log: %s.log)\n", st, g_org.home);
    return -1;
  }
  bgh_org_remove(&g_org, 0);
  return 0;
}

/* --- the tests ---------------------------------------------------------------------------------- */

static void enrolment_codes_work_once_and_only_with_the_right_ca(void **state) {
  (void)state;
  char code[128], why[256];
  assert_int_equal(bgh_bgctl(&g_org, code, sizeof code, "device enroll anna"), 0);
  identity a, b;
  assert_int_equal(peer_enrol(&g_rng, g_org.enrol_port, code, "laptop", &a, why, sizeof why), BG_OK);
  assert_true(a.device > 1);
  assert_int_equal(peer_enrol(&g_rng, g_org.enrol_port, code, "again", &b, why, sizeof why), BG_E_ENROLL_USED);
  identity_free(&b);
  /* a code whose CA is another's: the device refuses the server itself */
  bg_code c;
  assert_int_equal(bg_code_parse(code, &c), BG_OK);
  c.ca[0] ^= 1;
  char forged[BG_CODE_TEXT_LEN + 1];
  bg_code_format(&c, forged);
  assert_int_equal(peer_enrol(&g_rng, g_org.enrol_port, forged, "x", &b, why, sizeof why), BG_E_TLS);
  assert_non_null(strstr(why, "fingerprint"));
  identity_free(&b);
  /* a code with the right CA but another secret: the server refuses */
  assert_int_equal(bgh_bgctl(&g_org, code, sizeof code, "device enroll anna"), 0);
  assert_int_equal(bg_code_parse(code, &c), BG_OK);
  c.secret[0] ^= 1;
  bg_code_format(&c, forged);
  assert_int_equal(peer_enrol(&g_rng, g_org.enrol_port, forged, "x", &b, why, sizeof why), BG_E_ENROLL_CODE);
  identity_free(&b);
  /* HELLO on an enrolment connection */
  peer p;
  assert_int_equal(peer_connect(&p, &g_rng, g_org.enrol_port, NULL, NULL), BG_OK);
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_HELLO;
  m.u.hello = (bg_msg_hello){1, 1, BG_SCHEMA_VERSION, BG_STR("peer/test"), 0, 0};
  assert_int_equal(peer_send(&p, &m), BG_OK);
  recv_error(&p, BG_E_AUTH);
  peer_close(&p);
  /* and no certificate at all on the sync port: refused at the handshake */
  bg_err e = peer_connect(&p, &g_rng, g_org.port, NULL, NULL);
  assert_true(e == BG_E_TLS || e == BG_E_CONNECTION_LOST); /* an alert, or the connection closed */
  assert_false(p.tls.handshake_done);
  peer_close(&p);
  identity_free(&a);
}

static void two_users_converge_and_another_team_sees_nothing(void **state) {
  (void)state;
  device a, c, b, o;
  device_new(&a, "anna", BG_ROLE_BEGELEIDER);
  device_new(&c, "carla", BG_ROLE_BEGELEIDER);
  device_new(&b, "bert", BG_ROLE_BEGELEIDER);
  device_new(&o, "otto", BG_ROLE_OFFICE);
  /* anna's and otto's apps speak protocol 2 (packed writes), carla's and bert's only 1 */
  a.proto_max = o.proto_max = BG_PROTO_VERSION_MAX;
  const char *const noord[] = {"N-1", BG_ORG_CLIENT, NULL};
  const char *const zuid[] = {"Z-1", BG_ORG_CLIENT, NULL};
  device_sync(&a, 10, noord);
  device_sync(&c, 10, noord);
  device_sync(&b, 10, zuid);
  /* offline, both edit N-1: the same field and others */
  for (int i = 0; i < 20; i++) {
    char t[40];
    snprintf(t, sizeof t, "anna %d", i);
    device_edit(&a, "N-1", (uint32_t)(i % 2 ? 1 : 6), t, true);
    snprintf(t, sizeof t, "carla %d", i);
    device_edit(&c, "N-1", (uint32_t)(i % 3 ? 1 : 3), t, false);
  }
  device_edit(&b, "Z-1", 6, "zuid", true);
  device_sync(&c, 7, noord);
  device_sync(&a, 3, noord);
  device_sync(&b, 10, zuid);
  device_sync(&c, 5, noord);
  device_sync(&o, 10, NULL);
  uint8_t da[32], dc[32], dd[32];
  digest(&a, "N-1", da);
  digest(&c, "N-1", dc);
  digest(&o, "N-1", dd);
  /* the daemon packed pages for the apps of protocol 2 (otto's first pull holds
   * runs of writes of one device), never for those of protocol 1 */
  assert_true(o.packed_pages > 0);
  assert_int_equal(c.packed_pages + b.packed_pages, 0);
  assert_memory_equal(da, dc, 32);
  assert_memory_equal(da, dd, 32);
  /* the visible name is anna's: she is the trajectbegeleider (R2) */
  bg_field_view v;
  assert_int_equal(bg_engine_field(&a.e, BG_STR("N-1"), BG_RT_CLIENT, BG_STR("c"), 1, &v), BG_OK);
  assert_non_null(v.winner);
  assert_true(v.winner->user == a.user);
  assert_true(v.n_losers >= 1);
  /* bert's replica holds nothing of N-1 */
  bg_pos pos;
  assert_int_equal(bg_engine_position(&b.e, BG_STR("N-1"), &pos), BG_OK);
  assert_int_equal(pos.phase, BG_PH_NONE);
  device_free(&a);
  device_free(&c);
  device_free(&b);
  device_free(&o);
}

static void a_revoked_device_is_refused_and_its_session_closed(void **state) {
  (void)state;
  device d;
  device_new(&d, "anna", BG_ROLE_BEGELEIDER);
  peer p;
  assert_int_equal(hello(&p, &d), BG_OK);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "device revoke %llu", (unsigned long long)d.id.device);
  assert_int_equal(bgh_bgctl(&g_org, NULL, 0, "%s", cmd), 0);
  /* the open session: ERROR 203 within a second or so */
  recv_error(&p, BG_E_DEVICE_REVOKED);
  peer_close(&p);
  /* a new handshake is refused */
  bg_err e = peer_connect(&p, &g_rng, g_org.port, &d.id, NULL);
  assert_true(e == BG_E_TLS || e == BG_E_CONNECTION_LOST);
  assert_false(p.tls.handshake_done);
  peer_close(&p);
  device_free(&d);
}

/* Send raw plaintext after HELLO; expect ERROR `code`, then a closed connection. */
static void expect_error_for(device *d, const void *bytes, size_t n, bg_err code) {
  peer p;
  assert_int_equal(hello(&p, d), BG_OK);
  assert_int_equal(peer_send_raw(&p, bytes, n), BG_OK);
  recv_error(&p, code);
  bg_msg r;
  assert_int_equal(peer_recv(&p, &r, 5000), BG_E_CONNECTION_LOST);
  peer_close(&p);
}

static void hostile_frames_get_an_error_while_others_keep_syncing(void **state) {
  (void)state;
  device bad, good;
  device_new(&bad, "bert", BG_ROLE_BEGELEIDER);
  device_new(&good, "carla", BG_ROLE_BEGELEIDER);
  const char *const noord[] = {"N-1", BG_ORG_CLIENT, NULL};
  expect_error_for(&bad, "\x00\x00\x00\x03\xc1\xc1\xc1", 7, BG_E_MALFORMED);           /* never-used byte */
  expect_error_for(&bad, "\xff\xff\xff\xff", 4, BG_E_FRAME_TOO_LARGE);                  /* claims 4 GiB */
  expect_error_for(&bad, "\x00\x00\x00\x00", 4, BG_E_FRAME_EMPTY);
  expect_error_for(&bad, "\x00\x00\x00\x05\x82\x00\x03\x01\xa1", 9, BG_E_TRUNCATED);  /* PUSH cut short */
  expect_error_for(&bad, "\x00\x00\x00\x06\x82\x00\x03\x01\xa1x", 10, BG_E_FIELD_TYPE); /* batch is a string */
  expect_error_for(&bad, "\x00\x00\x00\x03\x81\x00\x63", 7, BG_E_UNKNOWN_MESSAGE);
  bg_msg again;
  memset(&again, 0, sizeof again);
  again.type = BG_MSG_HELLO;
  again.u.hello = (bg_msg_hello){1, 1, BG_SCHEMA_VERSION, BG_STR("peer/test"), 0, 0};
  bg_buf hb = BG_BUF_INIT;
  assert_int_equal(bg_msg_encode_frame(&again, &hb, 0), BG_OK);
  expect_error_for(&bad, hb.data, hb.len, BG_E_UNEXPECTED_MESSAGE); /* a second HELLO */
  bg_buf_free(&hb);
  device_edit(&good, "N-1", 5, "carla@example.org", false);
  device_sync(&good, 10, noord); /* served all along */
  device_free(&bad);
  device_free(&good);
}

static void sigterm_during_a_large_push_loses_nothing(void **state) {
  (void)state;
  device d, o;
  device_new(&d, "carla", BG_ROLE_BEGELEIDER);
  device_new(&o, "otto", BG_ROLE_OFFICE);
  device_sync(&o, 10, NULL);
  size_t n = 6000;
  for (size_t i = 0; i < n; i++) {
    char t[40];
    snprintf(t, sizeof t, "note %zu", i);
    device_edit(&d, "N-1", 6, t, false);
  }
  bg_write *ws = calloc(n, sizeof *ws);
  for (size_t i = 0; i < n; i++) ws[i] = d.pending[i].w;
  peer p;
  assert_int_equal(hello(&p, &d), BG_OK);
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_PUSH;
  m.u.push = (bg_msg_push){77, ws, (uint32_t)n, false};
  bg_buf frame = BG_BUF_INIT;
  assert_int_equal(bg_msg_encode_frame(&m, &frame, 0), BG_OK);
  /* half the batch, the signal, the rest */
  assert_int_equal(peer_send_raw(&p, frame.data, frame.len / 2), BG_OK);
  bgh_sleep_ms(200); /* the daemon holds half a frame when the signal comes */
  kill(g_org.daemon, SIGTERM);
  /* half a frame is no request: the daemon says BYE 504 and closes; the rest
   * is sent only then, so it can never complete the frame */
  bg_msg r;
  assert_int_equal(peer_recv(&p, &r, 5000), BG_OK);
  assert_int_equal(r.type, BG_MSG_BYE);
  assert_int_equal(r.u.bye.code, BG_E_SHUTTING_DOWN);
  bg_msg_free(&r);
  (void)peer_send_raw(&p, frame.data + frame.len / 2, frame.len - frame.len / 2);
  peer_close(&p);
  int st;
  waitpid(g_org.daemon, &st, 0);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  daemon_start();
  /* the device resends the batch: applied once */
  assert_int_equal(hello(&p, &d), BG_OK);
  bg_buf_reset(&frame);
  assert_int_equal(bg_msg_encode_frame(&m, &frame, 0), BG_OK);
  assert_int_equal(peer_send_raw(&p, frame.data, frame.len), BG_OK);
  assert_int_equal(peer_recv(&p, &r, 30000), BG_OK);
  assert_int_equal(r.type, BG_MSG_ACK);
  assert_true(r.u.ack.id == 77);
  assert_int_equal(r.u.ack.n_rejected, 0);
  bg_msg_free(&r);
  peer_close(&p);
  d.acked = n;
  /* the office sees every note once: the rapport of fates on its replica */
  device_sync(&o, 10, NULL);
  uint8_t dd[32], od[32];
  digest(&d, "N-1", dd);
  digest(&o, "N-1", od);
  /* the office also has earlier writes of N-1 that this device never pulled:
   * compare the fate of each of this device's writes instead */
  for (size_t i = 0; i < n; i++) {
    bg_fate f;
    assert_int_equal(bg_engine_fate(&o.e, &d.pending[i].w, &f), BG_OK);
    if (f == BG_FATE_MISSING) fail_msg("write %zu of the interrupted batch is missing", i);
  }
  (void)dd;
  (void)od;
  free(ws);
  bg_buf_free(&frame);
  device_free(&d);
  device_free(&o);
}

static void a_device_that_never_reads_costs_bounded_memory(void **state) {
  (void)state;
  device slow_dev, good;
  device_new(&slow_dev, "otto", BG_ROLE_OFFICE);
  device_new(&good, "carla", BG_ROLE_BEGELEIDER);
  const char *const noord[] = {"N-1", BG_ORG_CLIENT, NULL};
  /* PULL after PULL from the start - each answer a page of the 6,000 notes -
   * and never a byte read */
  peer slow;
  assert_int_equal(hello(&slow, &slow_dev), BG_OK);
  long before = bgh_daemon_rss_kb(&g_org);
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_PULL;
  m.u.pull = (bg_msg_pull){0, 0, 0};
  bg_buf many = BG_BUF_INIT;
  for (int i = 0; i < 2000; i++) assert_int_equal(bg_msg_encode_frame(&m, &many, 0), BG_OK);
  assert_int_equal(bg_tls_write(&slow.tls, many.data, many.len), BG_OK);
  bg_buf_free(&many);
  /* whole TLS records only: the kernel takes what it can, the rest waits */
  size_t off = 0;
  for (int tries = 0; tries < 200 && off < slow.tls.out.len; tries++) {
    ssize_t n = send(slow.fd, slow.tls.out.data + off, slow.tls.out.len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) off += (size_t)n;
    else bgh_sleep_ms(10);
  }
  bgh_sleep_ms(500);
  device_edit(&good, "N-1", 4, "0612345678", false);
  device_sync(&good, 10, noord); /* served meanwhile */
  long after = bgh_daemon_rss_kb(&g_org);
  /* 2,000 answers of about 100 KB each would be 200 MB; the daemon stops
   * reading at conn_buffer (256 KiB) and holds about one answer more */
#if defined(__SANITIZE_ADDRESS__) || defined(__has_feature)
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
  long bound = 100 * 1024; /* AddressSanitizer keeps freed memory in quarantine */
#else
  long bound = 24 * 1024;
#endif
#else
  long bound = 24 * 1024;
#endif
  if (after - before > bound) fail_msg("daemon RSS grew by %ld KiB for a peer that does not read", after - before);
  peer_close(&slow);
  device_free(&slow_dev);
  device_free(&good);
}

/* What a silent session costs the daemon: issue 9 asks for at most 64 KiB
 * each (a read buffer per connection was 64 KiB by itself, resident wherever
 * reads had touched it). */
/* Built with AddressSanitizer, the daemon's resident memory says nothing about
 * its own (shadow memory, quarantine): the check runs in the normal build. */
#if defined(__SANITIZE_ADDRESS__)
#define BG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BG_ASAN 1
#endif
#endif

static void an_idle_session_costs_the_daemon_at_most_64_kib(void **state) {
  (void)state;
#ifdef BG_ASAN
  print_message("skipped under AddressSanitizer: RSS is not the daemon's own there\n");
  return;
#endif
  enum { N = 33 }; /* under max_connections = 48 */
  static peer p[N];
  device d;
  device_new(&d, "carla", BG_ROLE_BEGELEIDER);
  assert_int_equal(hello(&p[0], &d), BG_OK);
  long before = bgh_daemon_rss_kb(&g_org);
  for (int i = 1; i < N; i++) assert_int_equal(hello(&p[i], &d), BG_OK);
  long after = bgh_daemon_rss_kb(&g_org);
  for (int i = 0; i < N; i++) peer_close(&p[i]);
  device_free(&d);
  long per = (after - before) / (N - 1);
#if defined(__SANITIZE_ADDRESS__) || defined(__has_feature)
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
  long bound = 512; /* AddressSanitizer's redzones and quarantine */
#else
  long bound = 64;
#endif
#else
  long bound = 64;
#endif
  if (per > bound) fail_msg("an idle session costs the daemon %ld KiB (%ld -> %ld KiB for %d)", per, before, after, N - 1);
}

/* One PULL from the device's cursor (following `more`); returns the PURGE id
 * (0 when none) and the number of clients it named. */
static uint64_t pull_once(peer *p, device *d, uint32_t *named) {
  bg_msg m, r;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_PULL;
  m.u.pull = (bg_msg_pull){d->cursor, 0, 0};
  assert_int_equal(peer_send(p, &m), BG_OK);
  uint64_t id = 0;
  *named = 0;
  for (;;) {
    assert_int_equal(peer_recv(p, &r, 10000), BG_OK);
    if (r.type == BG_MSG_PURGE) {
      id = r.u.purge.id;
      *named = r.u.purge.n;
      bg_msg_free(&r);
      continue;
    }
    assert_int_equal(r.type, BG_MSG_CHANGES);
    for (uint32_t i = 0; i < r.u.changes.n; i++) {
      bg_apply_result res;
      assert_int_equal(bg_engine_apply(&d->e, &r.u.changes.writes[i], &res), BG_OK);
    }
    d->cursor = r.u.changes.next;
    bool more = r.u.changes.more;
    bg_msg_free(&r);
    if (!more) return id;
    m.u.pull.cursor = d->cursor;
    assert_int_equal(peer_send(p, &m), BG_OK);
  }
}

static void a_client_moved_away_is_purged_until_acknowledged(void **state) {
  (void)state;
  assert_int_equal(bgh_bgctl(&g_org, NULL, 0, "client add M-1 --team noord --begeleider anna"), 0);
  device a;
  device_new(&a, "anna", BG_ROLE_BEGELEIDER);
  device_sync(&a, 10, NULL);
  bg_pos pos;
  assert_int_equal(bg_engine_position(&a.e, BG_STR("M-1"), &pos), BG_OK);
  assert_int_equal(pos.phase, BG_PH_AANMELDING);
  assert_int_equal(bgh_bgctl(&g_org, NULL, 0, "client move M-1 --team zuid --begeleider bert"), 0);
  peer p;
  assert_int_equal(hello(&p, &a), BG_OK);
  uint32_t named;
  uint64_t id = pull_once(&p, &a, &named);
  assert_true(id > 0);
  assert_int_equal(named, 1);
  /* not acknowledged: named again */
  uint64_t again = pull_once(&p, &a, &named);
  assert_true(again > 0);
  assert_int_equal(named, 1);
  bg_msg ack;
  memset(&ack, 0, sizeof ack);
  ack.type = BG_MSG_ACK;
  ack.u.ack.id = again;
  assert_int_equal(peer_send(&p, &ack), BG_OK);
  assert_int_equal(peer_send(&p, &ack), BG_OK); /* a repeat in the session: no error */
  assert_int_equal(pull_once(&p, &a, &named), 0);
  peer_close(&p);
  /* an ACK names a PURGE of its own session: the same ACK in the next one is ERROR 113 */
  assert_int_equal(hello(&p, &a), BG_OK);
  assert_int_equal(peer_send(&p, &ack), BG_OK);
  recv_error(&p, BG_E_UNEXPECTED_MESSAGE);
  peer_close(&p);
  assert_int_equal(hello(&p, &a), BG_OK);
  /* an ACK of a PURGE never sent: ERROR 113 */
  ack.u.ack.id = 999999;
  assert_int_equal(peer_send(&p, &ack), BG_OK);
  recv_error(&p, BG_E_UNEXPECTED_MESSAGE);
  peer_close(&p);
  device_free(&a);
}

static void enrolment_guessing_is_rate_limited(void **state) {
  (void)state;
  char code[128], why[256];
  assert_int_equal(bgh_bgctl(&g_org, code, sizeof code, "device enroll carla"), 0);
  bg_code c;
  assert_int_equal(bg_code_parse(code, &c), BG_OK);
  bg_code wrong = c;
  int refused = 0, limited = 0;
  /* the limit counts per wall-clock minute: do not start at a minute's end.
   * (It also holds for every later enrolment from 127.0.0.1 in that minute,
   * so this test runs last but one.) */
  time_t t = time(NULL);
  if (t % 60 > 56) bgh_sleep_ms((int)(61 - t % 60) * 1000);
  for (int i = 0; i < 14; i++) {
    wrong.secret[1] = (uint8_t)(c.secret[1] + i + 1);
    char text[BG_CODE_TEXT_LEN + 1];
    bg_code_format(&wrong, text);
    identity id;
    bg_err e = peer_enrol(&g_rng, g_org.enrol_port, text, "guess", &id, why, sizeof why);
    identity_free(&id);
    refused += e == BG_E_ENROLL_CODE;
    limited += e == BG_E_RATE_LIMITED;
  }
  assert_int_equal(refused, 10); /* enrol_failures_per_minute */
  assert_int_equal(limited, 4);
  /* even the right code waits now: guessing gains nothing */
  identity id;
  assert_int_equal(peer_enrol(&g_rng, g_org.enrol_port, code, "real", &id, why, sizeof why), BG_E_RATE_LIMITED);
  identity_free(&id);
}

/* HELLO with other version ranges or schema: a code the app can show. */
static void an_old_or_new_app_gets_a_clear_error(void **state) {
  (void)state;
  device d;
  device_new(&d, "anna", BG_ROLE_BEGELEIDER);
  struct { uint32_t lo, hi, schema; bg_err want; uint32_t proto; } cases[] = {
      {BG_PROTO_VERSION_MAX + 1, 9, BG_SCHEMA_VERSION, BG_E_PROTOCOL_VERSION, 0}, /* speaks only newer ones */
      {1, 1, BG_SCHEMA_VERSION + 1, BG_E_SCHEMA_VERSION, 0},
      {1, 9, BG_SCHEMA_VERSION, BG_OK, BG_PROTO_VERSION_MAX}, /* a newer app that also speaks ours */
      {1, 1, BG_SCHEMA_VERSION, BG_OK, 1},                     /* an app of protocol 1 keeps it */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    peer p;
    assert_int_equal(peer_connect(&p, &g_rng, g_org.port, &d.id, NULL), BG_OK);
    bg_msg m, r;
    memset(&m, 0, sizeof m);
    m.type = BG_MSG_HELLO;
    m.u.hello = (bg_msg_hello){cases[i].lo, cases[i].hi, cases[i].schema, BG_STR("peer/test"), 0, 0};
    assert_int_equal(peer_send(&p, &m), BG_OK);
    assert_int_equal(peer_recv(&p, &r, 5000), BG_OK);
    if (cases[i].want == BG_OK) {
      assert_int_equal(r.type, BG_MSG_WELCOME);
      assert_int_equal(r.u.welcome.proto, cases[i].proto);
    } else {
      assert_int_equal(r.type, BG_MSG_ERROR);
      assert_int_equal(r.u.error.code, cases[i].want);
      assert_false(r.u.error.retryable);
    }
    bg_msg_free(&r);
    peer_close(&p);
  }
  device_free(&d);
}

/* Idle sessions, silent connections and connections past the limit. */
static void idle_silent_and_surplus_connections_are_closed(void **state) {
  (void)state;
  device d;
  device_new(&d, "anna", BG_ROLE_BEGELEIDER);
  peer p;
  assert_int_equal(hello(&p, &d), BG_OK);
  bg_msg r;
  assert_int_equal(peer_recv(&p, &r, 8000), BG_OK); /* idle_timeout_ms = 4000 */
  assert_int_equal(r.type, BG_MSG_BYE);
  assert_int_equal(r.u.bye.code, BG_E_TIMEOUT);
  bg_msg_free(&r);
  peer_close(&p);
  /* TCP connections that never start TLS: 60, past max_connections (48) */
  int fds[60];
  for (int i = 0; i < 60; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)g_org.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof sa), 0);
  }
  bgh_sleep_ms(300);
  int closed_at_once = 0;
  for (int i = 0; i < 60; i++) {
    char c;
    ssize_t n = recv(fds[i], &c, 1, MSG_DONTWAIT);
    closed_at_once += n == 0;
  }
  assert_true(closed_at_once >= 60 - 48);
  /* meanwhile, and after the silent ones are dropped (handshake_timeout_ms = 2000), a device syncs */
  bgh_sleep_ms(2500);
  int closed_later = 0;
  for (int i = 0; i < 60; i++) {
    char c;
    closed_later += recv(fds[i], &c, 1, MSG_DONTWAIT) == 0;
    close(fds[i]);
  }
  assert_int_equal(closed_later, 60);
  device_sync(&d, 10, NULL);
  device_free(&d);
}

/* SIGHUP rereads the configuration and certificates; sessions go on. */
static void sighup_reloads_and_keeps_serving(void **state) {
  (void)state;
  kill(g_org.daemon, SIGHUP);
  bgh_sleep_ms(300);
  char log[128], line[512];
  snprintf(log, sizeof log, "%s.log", g_org.home);
  FILE *f = fopen(log, "r");
  bool reloaded = false;
  while (f && fgets(line, sizeof line, f)) reloaded |= strstr(line, "SIGHUP: configuration and certificates reloaded") != NULL;
  if (f) fclose(f);
  assert_true(reloaded);
  device d;
  device_new(&d, "carla", BG_ROLE_BEGELEIDER);
  device_sync(&d, 10, NULL);
  device_free(&d);
}

static void the_audit_chain_verifies(void **state) {
  (void)state;
  char last[256];
  assert_int_equal(bgh_bgctl(&g_org, last, sizeof last, "audit verify"), 0);
  assert_non_null(strstr(last, "audit chain intact"));
  assert_int_equal(bgh_bgctl(&g_org, last, sizeof last, "audit --client N-1"), 0);
  assert_int_equal(bgh_bgctl(&g_org, last, sizeof last, "device list --json"), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(enrolment_codes_work_once_and_only_with_the_right_ca),
      cmocka_unit_test(two_users_converge_and_another_team_sees_nothing),
      cmocka_unit_test(a_revoked_device_is_refused_and_its_session_closed),
      cmocka_unit_test(hostile_frames_get_an_error_while_others_keep_syncing),
      cmocka_unit_test(sigterm_during_a_large_push_loses_nothing),
      cmocka_unit_test(a_device_that_never_reads_costs_bounded_memory),
      cmocka_unit_test(an_idle_session_costs_the_daemon_at_most_64_kib),
      cmocka_unit_test(an_old_or_new_app_gets_a_clear_error),
      cmocka_unit_test(idle_silent_and_surplus_connections_are_closed),
      cmocka_unit_test(sighup_reloads_and_keeps_serving),
      cmocka_unit_test(a_client_moved_away_is_purged_until_acknowledged),
      cmocka_unit_test(enrolment_guessing_is_rate_limited),
      cmocka_unit_test(the_audit_chain_verifies),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
