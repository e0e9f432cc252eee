/*
 * test_security.c - the security properties of issue 8, against a real
 * bgsyncd on loopback (docs/TESTING.md, "Security checks: where each is
 * proven", says which other test proves the rest):
 *   - the sync port's handshake refuses, with the device seeing a failed
 *     handshake: certificates expired or not yet valid (issued here with the
 *     organisation CA's key for a real device), of a revoked device, and every
 *     certificate of the CA that is no device certificate - the server's, the
 *     CA's own, a CA certificate naming a device, one for server use only;
 *   - scope: every way a device may ask for a client outside its reach (PUSH
 *     to another team, writes as another user, device, role or
 *     trajectbegeleider, organisation data, PULL with another device's or a
 *     forged cursor, ACK of another device's PURGE, HELLO naming another
 *     device) is refused, and nothing of it reaches the store or any device;
 *   - enrolment guessing is limited per address and the limit ends with its
 *     window;
 *   - key, replica and store files are mode 0600 under a lax umask;
 *   - the audit chain names a changed byte and a removed entry;
 *   - a network fuzz run: devices that complete the handshake and then send
 *     mutated frames, while a well-behaved device keeps syncing; the daemon
 *     stays up, its memory bounded, its store intact. BG_SECURITY_FUZZ_CONNS
 *     sets the number of connections (default 40), BG_TEST_SEED the seed.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bg_code.h"
#include "bg_engine.h"
#include "bg_frame.h"
#include "bg_hlc.h"
#include "bg_pki.h"
#include "bg_schema.h"
#include "bgsync.h"
#include "harness.h"
#include "peer.h"
#include "store.h"

static bgh_org g_org;
static bg_rng g_rng;

static void daemon_start(void) {
  if (bgh_daemon_start(&g_org) != 0) fail_msg("bgsyncd did not start (see %s.log)", g_org.home);
}

static void org_path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_org.home, name); }

static identity enrol(const char *login) {
  char code[128], why[256];
  assert_int_equal(bgh_bgctl(&g_org, code, sizeof code, "device enroll %s", login), 0);
  identity id;
  bg_err e = peer_enrol(&g_rng, g_org.enrol_port, code, login, &id, why, sizeof why);
  if (e != BG_OK) fail_msg("enrol %s: %s: %s", login, bg_err_name(e), why);
  return id;
}

/* A file's bytes with a NUL counted (the PEM parsers want it). */
static void read_pem(const char *path, bg_buf *out) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) fail_msg("cannot read %s", path);
  uint8_t chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) assert_int_equal(bg_buf_append(out, chunk, n), BG_OK);
  fclose(f);
  assert_int_equal(bg_buf_append(out, "", 1), BG_OK);
}

/* --- sessions of a test device ------------------------------------------------------------------- */

/* HELLO naming `claimed` as the device (the certificate's own when 0); the
 * WELCOME's device and user in *dev, *user. */
static bg_err hello_as(peer *p, const identity *id, uint64_t claimed, uint64_t *dev, uint64_t *user) {
  bg_err e = peer_connect(p, &g_rng, g_org.port, id, NULL);
  if (e != BG_OK) return e;
  bg_msg m, r;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_HELLO;
  m.u.hello = (bg_msg_hello){1, 1, BG_SCHEMA_VERSION, BG_STR("peer/test"), claimed ? claimed : id->device, 0};
  if ((e = peer_send(p, &m)) != BG_OK) return e;
  if ((e = peer_recv(p, &r, 5000)) != BG_OK) return e;
  e = r.type == BG_MSG_WELCOME ? BG_OK : r.type == BG_MSG_ERROR ? (bg_err)r.u.error.code : BG_E_UNEXPECTED_MESSAGE;
  if (r.type == BG_MSG_WELCOME) {
    if (dev) *dev = r.u.welcome.device;
    if (user) *user = r.u.welcome.user;
  }
  bg_msg_free(&r);
  return e;
}

static bg_err hello(peer *p, const identity *id) { return hello_as(p, id, 0, NULL, NULL); }

static bool in_list(const char *const *allowed, bg_str c) {
  for (; *allowed; allowed++)
    if (strlen(*allowed) == c.len && memcmp(*allowed, c.p, c.len) == 0) return true;
  return false;
}

typedef struct pulled {
  uint64_t next, purge_id;
  uint32_t writes, purged;
  bool saw_forbidden_dot;
} pulled;

/* PULL from `cursor` to the end on an open session. Every write must be of a
 * client in `allowed` (NULL: any) and none may carry a dot of device `no_dot`
 * (0: no such check); an engine `e` (may be NULL) applies them. */
static pulled pull_all(peer *p, uint64_t cursor, const char *const *allowed, uint64_t no_dot, bg_engine *e) {
  pulled out = {cursor, 0, 0, 0, false};
  for (;;) {
    bg_msg m, r;
    memset(&m, 0, sizeof m);
    m.type = BG_MSG_PULL;
    m.u.pull = (bg_msg_pull){out.next, 0, 0};
    assert_int_equal(peer_send(p, &m), BG_OK);
    bg_err rc = peer_recv(p, &r, 20000);
    if (rc != BG_OK) fail_msg("PULL: %s (%s)", bg_err_name(rc), p->error);
    if (r.type == BG_MSG_PURGE) {
      out.purge_id = r.u.purge.id;
      out.purged = r.u.purge.n;
      bg_msg_free(&r);
      assert_int_equal(peer_recv(p, &r, 20000), BG_OK);
    }
    if (r.type != BG_MSG_CHANGES) fail_msg("PULL answered with %s", bg_msg_type_name((int)r.type));
    for (uint32_t i = 0; i < r.u.changes.n; i++) {
      const bg_write *w = &r.u.changes.writes[i];
      if (allowed && !in_list(allowed, w->client))
        fail_msg("a PULL handed out client %.*s, outside the device's scope", (int)w->client.len, w->client.p);
      if (no_dot && w->dot.device == no_dot) out.saw_forbidden_dot = true;
      if (e) {
        bg_apply_result res;
        assert_int_equal(bg_engine_apply(e, w, &res), BG_OK);
      }
    }
    out.writes += r.u.changes.n;
    out.next = r.u.changes.next;
    bool more = r.u.changes.more;
    bg_msg_free(&r);
    if (!more) return out;
  }
}

/* A whole session: HELLO, PULL everything from `cursor`, BYE. */
static pulled sync_pull(const identity *id, uint64_t cursor, const char *const *allowed, uint64_t no_dot) {
  peer p;
  bg_err e = hello(&p, id);
  if (e != BG_OK) fail_msg("hello: %s (%s)", bg_err_name(e), p.error);
  pulled out = pull_all(&p, cursor, allowed, no_dot, NULL);
  peer_close(&p);
  return out;
}

/* --- the organisation ------------------------------------------------------------------------- */

/* Devices enrolled once for the whole suite. */
static identity g_anna, g_bert, g_carla, g_otto;

static int setup(void **state) {
  (void)state;
  if (bg_rng_init(&g_rng, "test_security") != BG_OK) return -1;
  if (bgh_org_init(&g_org, "sec", 20000 + 2 * (int)((getpid() + 3001) % 6000),
                   "conn_buffer = 262144\nidle_timeout_ms = 3000\nhandshake_timeout_ms = 2000\n"
                   "max_frame = 1048576") != 0)
    return -1;
  const char *cmds[] = {"team add noord", "team add zuid", "team add west",
                        "user add anna --role begeleider --team noord", "user add carla --role begeleider --team noord",
                        "user add bert --role begeleider --team zuid", "user add wim --role begeleider --team west",
                        "user add otto --role office", "client add N-1 --team noord --begeleider anna",
                        "client add N-2 --team noord --begeleider anna", "client add Z-1 --team zuid --begeleider bert"};
  for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
    if (bgh_bgctl(&g_org, NULL, 0, "%s", cmds[i]) != 0) return -1;
  return bgh_daemon_start(&g_org);
}

static int teardown(void **state) {
  (void)state;
  identity_free(&g_anna);
  identity_free(&g_bert);
  identity_free(&g_carla);
  identity_free(&g_otto);
  int st = bgh_daemon_stop(&g_org, SIGTERM);
  bg_rng_free(&g_rng);
  if (st != 0) {
    fprintf(stderr, "bgsyncd exited with %d (log: %s.log)\n", st, g_org.home);
    return -1;
  }
  bgh_org_remove(&g_org, 0);
  return 0;
}

/* --- 1. enrolment guessing (first: its window must pass before the last test) ---------------- */

static char g_guessed_code[128];
static time_t g_guess_minute; /* the wall-clock minute of the guessing */

static void enrolment_guessing_is_limited_per_address_even_for_the_right_code(void **state) {
  (void)state;
  /* the limit counts per wall-clock minute: do not start at a minute's end */
  time_t t = time(NULL);
  if (t % 60 > 45) bgh_sleep_ms((int)(61 - t % 60) * 1000);
  g_guess_minute = time(NULL) / 60;
  assert_int_equal(bgh_bgctl(&g_org, g_guessed_code, sizeof g_guessed_code, "device enroll carla"), 0);
  bg_code c, wrong;
  assert_int_equal(bg_code_parse(g_guessed_code, &c), BG_OK);
  char why[256];
  int refused = 0, limited = 0;
  peer_source = "127.0.0.2"; /* another peer address than every other test's */
  for (int i = 0; i < 25; i++) {
    wrong = c;
    wrong.secret[2] = (uint8_t)(c.secret[2] + i + 1);
    char text[BG_CODE_TEXT_LEN + 1];
    bg_code_format(&wrong, text);
    identity id;
    bg_err e = peer_enrol(&g_rng, g_org.enrol_port, text, "guess", &id, why, sizeof why);
    identity_free(&id);
    refused += e == BG_E_ENROLL_CODE;
    limited += e == BG_E_RATE_LIMITED;
  }
  assert_int_equal(refused, 10); /* enrol_failures_per_minute */
  assert_int_equal(limited, 15);
  identity id;
  bg_err e = peer_enrol(&g_rng, g_org.enrol_port, g_guessed_code, "real", &id, why, sizeof why);
  identity_free(&id);
  peer_source = NULL;
  assert_int_equal(e, BG_E_RATE_LIMITED);
  assert_true(time(NULL) / 60 == g_guess_minute); /* all of it in one window */
  /* another address is not held up: every device of this suite enrols now */
  g_anna = enrol("anna");
  g_bert = enrol("bert");
  g_carla = enrol("carla");
  g_otto = enrol("otto");
}

/* Late in the suite, so that the guessing's minute has mostly passed. */
static void after_the_window_the_right_code_works(void **state) {
  (void)state;
  char why[256];
  identity id;
  bg_err e = BG_E_RATE_LIMITED;
  peer_source = "127.0.0.2";
  for (int i = 0; i < 70 && e == BG_E_RATE_LIMITED; i++) {
    e = peer_enrol(&g_rng, g_org.enrol_port, g_guessed_code, "real", &id, why, sizeof why);
    if (e == BG_E_RATE_LIMITED) {
      identity_free(&id);
      bgh_sleep_ms(1000);
    }
  }
  peer_source = NULL;
  if (e != BG_OK) fail_msg("the right code after the window: %s (%s)", bg_err_name(e), why);
  assert_true(time(NULL) / 60 > g_guess_minute); /* it was the window that ended, nothing else */
  printf("enrolment: the right code works %lld s after the guessing's minute began\n",
         (long long)(time(NULL) - g_guess_minute * 60));
  assert_true(id.device > 0);
  identity_free(&id);
}

/* --- 2. handshake refusals ------------------------------------------------------------------------ */

static int log_count(const char *needle) {
  char path[160], line[1024];
  snprintf(path, sizeof path, "%s.log", g_org.home);
  FILE *f = fopen(path, "r");
  int n = 0;
  while (f && fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
  if (f) fclose(f);
  return n;
}

/* The device sees a failed handshake and the daemon logs one more refusal. */
static void expect_refused(const identity *id, const char *what) {
  int before = log_count("handshake refused");
  peer p;
  bg_err e = peer_connect(&p, &g_rng, g_org.port, id, NULL);
  bool done = p.tls.handshake_done;
  peer_close(&p);
  if (e == BG_OK || done) fail_msg("%s: the handshake completed", what);
  if (e != BG_E_TLS && e != BG_E_CONNECTION_LOST) fail_msg("%s: %s", what, bg_err_name(e));
  for (int i = 0; i < 40 && log_count("handshake refused") == before; i++) bgh_sleep_ms(50);
  if (log_count("handshake refused") == before) fail_msg("%s: no refusal in the daemon's log", what);
}

typedef struct ca_keys {
  mbedtls_x509_crt crt;
  mbedtls_pk_context key;
  bg_buf pem;
} ca_keys;

static void ca_load(ca_keys *ca) {
  char path[160];
  mbedtls_x509_crt_init(&ca->crt);
  mbedtls_pk_init(&ca->key);
  ca->pem = (bg_buf)BG_BUF_INIT;
  org_path(path, sizeof path, "ca.crt");
  read_pem(path, &ca->pem);
  assert_int_equal(mbedtls_x509_crt_parse(&ca->crt, ca->pem.data, ca->pem.len), 0);
  bg_buf k = BG_BUF_INIT;
  org_path(path, sizeof path, "ca.key");
  read_pem(path, &k);
  assert_int_equal(mbedtls_pk_parse_key(&ca->key, k.data, k.len, NULL, 0), 0);
  bg_buf_free(&k);
}

static void ca_free(ca_keys *ca) {
  mbedtls_x509_crt_free(&ca->crt);
  mbedtls_pk_free(&ca->key);
  bg_buf_free(&ca->pem);
}

/* An identity for `of` (its device id and login) with a fresh key and a
 * certificate the organisation CA issued with bg_pki_issue. */
static void issue_identity(identity *out, const identity *of, const char *login, ca_keys *ca, int64_t not_before,
                           int64_t not_after, bool is_ca) {
  memset(out, 0, sizeof *out);
  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  assert_int_equal(bg_pki_key_new(&g_rng, &key), BG_OK);
  char subject[128];
  snprintf(subject, sizeof subject, "CN=%llu,OU=%s", (unsigned long long)of->device, login);
  bg_pki_cert c = {subject, 0x5ec0000 + (uint64_t)(rand() & 0xffff), not_before, not_after, is_ca};
  bg_buf der = BG_BUF_INIT;
  assert_int_equal(bg_pki_issue(&g_rng, &key, &ca->crt, &ca->key, &c, &der), BG_OK);
  assert_int_equal(bg_pki_cert_pem(der.data, der.len, &out->cert), BG_OK);
  assert_int_equal(bg_pki_key_pem(&key, &out->key), BG_OK);
  assert_int_equal(bg_buf_append(&out->ca, ca->pem.data, ca->pem.len), BG_OK);
  out->device = of->device;
  out->user = of->user;
  bg_buf_free(&der);
  mbedtls_pk_free(&key);
}

/* Like issue_identity, with the extensions chosen here: basic constraints
 * (`is_ca`), key usage `ku` and, when `eku_oid` is given, an extended key
 * usage of that one purpose. Valid from an hour ago for a day. */
static void issue_with_usage(identity *out, const identity *of, const char *login, ca_keys *ca, bool is_ca,
                             unsigned ku, const char *eku_oid, size_t eku_len) {
  memset(out, 0, sizeof *out);
  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  assert_int_equal(bg_pki_key_new(&g_rng, &key), BG_OK);
  char subject[128], issuer[256], nb[16], na[16];
  snprintf(subject, sizeof subject, "CN=%llu,OU=%s", (unsigned long long)of->device, login);
  assert_true(mbedtls_x509_dn_gets(issuer, sizeof issuer, &ca->crt.subject) > 0);
  time_t now = time(NULL), from = now - 3600, to = now + 86400;
  struct tm tm;
  strftime(nb, sizeof nb, "%Y%m%d%H%M%S", gmtime_r(&from, &tm));
  strftime(na, sizeof na, "%Y%m%d%H%M%S", gmtime_r(&to, &tm));
  mbedtls_x509write_cert w;
  mbedtls_mpi serial;
  mbedtls_x509write_crt_init(&w);
  mbedtls_mpi_init(&serial);
  mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&w, &key);
  mbedtls_x509write_crt_set_issuer_key(&w, &ca->key);
  assert_int_equal(mbedtls_mpi_lset(&serial, 0x5ec10000 + (rand() & 0xffff)), 0);
  assert_int_equal(mbedtls_x509write_crt_set_serial(&w, &serial), 0);
  assert_int_equal(mbedtls_x509write_crt_set_validity(&w, nb, na), 0);
  assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, subject), 0);
  assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w, issuer), 0);
  assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(&w, is_ca ? 1 : 0, is_ca ? 0 : -1), 0);
  assert_int_equal(mbedtls_x509write_crt_set_subject_key_identifier(&w), 0);
  assert_int_equal(mbedtls_x509write_crt_set_authority_key_identifier(&w), 0);
  assert_int_equal(mbedtls_x509write_crt_set_key_usage(&w, (unsigned char)ku), 0);
  if (eku_oid) {
    /* ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId */
    unsigned char eku[32];
    size_t n = 0;
    eku[n++] = 0x30;
    eku[n++] = (unsigned char)(eku_len + 2);
    eku[n++] = 0x06;
    eku[n++] = (unsigned char)eku_len;
    memcpy(eku + n, eku_oid, eku_len);
    n += eku_len;
    assert_int_equal(mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                                         MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku, n),
                     0);
  }
  unsigned char buf[4096];
  int len = mbedtls_x509write_crt_der(&w, buf, sizeof buf, bg_rng_random, &g_rng.drbg);
  assert_true(len > 0);
  assert_int_equal(bg_pki_cert_pem(buf + sizeof buf - len, (size_t)len, &out->cert), BG_OK);
  assert_int_equal(bg_pki_key_pem(&key, &out->key), BG_OK);
  assert_int_equal(bg_buf_append(&out->ca, ca->pem.data, ca->pem.len), BG_OK);
  out->device = of->device;
  out->user = of->user;
  mbedtls_x509write_crt_free(&w);
  mbedtls_mpi_free(&serial);
  mbedtls_pk_free(&key);
}

/* A certificate and key of the organisation directory as an identity. */
static void file_identity(identity *out, const char *crt, const char *key) {
  memset(out, 0, sizeof *out);
  char path[160];
  org_path(path, sizeof path, crt);
  read_pem(path, &out->cert);
  org_path(path, sizeof path, key);
  read_pem(path, &out->key);
  org_path(path, sizeof path, "ca.crt");
  read_pem(path, &out->ca);
}

static void expired_and_not_yet_valid_certificates_are_refused(void **state) {
  (void)state;
  ca_keys ca;
  ca_load(&ca);
  int64_t now = (int64_t)time(NULL);
  identity id;
  /* the control: the same construction, valid now, is a working device */
  issue_identity(&id, &g_anna, "anna", &ca, now - 3600, now + 86400, false);
  peer p;
  assert_int_equal(hello(&p, &id), BG_OK);
  peer_close(&p);
  identity_free(&id);
  issue_identity(&id, &g_anna, "anna", &ca, now - 30 * 86400, now - 86400, false);
  expect_refused(&id, "expired yesterday");
  identity_free(&id);
  issue_identity(&id, &g_anna, "anna", &ca, now + 86400, now + 30 * 86400, false);
  expect_refused(&id, "valid from tomorrow");
  identity_free(&id);
  ca_free(&ca);
}

static void certificates_of_the_ca_that_are_no_device_certificates_are_refused(void **state) {
  (void)state;
  ca_keys ca;
  ca_load(&ca);
  identity id;
  /* control: digitalSignature, end entity, clientAuth: a device */
  issue_with_usage(&id, &g_anna, "anna", &ca, false, MBEDTLS_X509_KU_DIGITAL_SIGNATURE, MBEDTLS_OID_CLIENT_AUTH,
                   MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
  peer p;
  assert_int_equal(hello(&p, &id), BG_OK);
  peer_close(&p);
  identity_free(&id);
  /* the server's own certificate and key, presented by a client */
  file_identity(&id, "server.crt", "server.key");
  expect_refused(&id, "the server's certificate as a client certificate");
  identity_free(&id);
  /* the CA's own */
  file_identity(&id, "ca.crt", "ca.key");
  expect_refused(&id, "the CA certificate as a client certificate");
  identity_free(&id);
  /* a CA certificate (basic constraints CA, keyCertSign) naming a device */
  issue_identity(&id, &g_anna, "anna", &ca, (int64_t)time(NULL) - 3600, (int64_t)time(NULL) + 86400, true);
  expect_refused(&id, "a CA certificate naming a device");
  identity_free(&id);
  /* ... also when it may sign as well */
  issue_with_usage(&id, &g_anna, "anna", &ca, true,
                   MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_CERT_SIGN, NULL, 0);
  expect_refused(&id, "a CA certificate with digitalSignature naming a device");
  identity_free(&id);
  /* an end entity whose key may not sign */
  issue_with_usage(&id, &g_anna, "anna", &ca, false, MBEDTLS_X509_KU_KEY_AGREEMENT, NULL, 0);
  expect_refused(&id, "key usage keyAgreement only");
  identity_free(&id);
  /* an end entity for servers only */
  issue_with_usage(&id, &g_anna, "anna", &ca, false, MBEDTLS_X509_KU_DIGITAL_SIGNATURE, MBEDTLS_OID_SERVER_AUTH,
                   MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
  expect_refused(&id, "extended key usage serverAuth only");
  identity_free(&id);
  /* a device certificate naming another user than the device's */
  issue_identity(&id, &g_anna, "bert", &ca, (int64_t)time(NULL) - 3600, (int64_t)time(NULL) + 86400, false);
  expect_refused(&id, "a device certificate with another login");
  identity_free(&id);
  ca_free(&ca);
}

static void a_revoked_device_is_refused_at_the_handshake(void **state) {
  (void)state;
  identity id = enrol("carla");
  peer p;
  assert_int_equal(hello(&p, &id), BG_OK);
  peer_close(&p);
  assert_int_equal(bgh_bgctl(&g_org, NULL, 0, "device revoke %llu", (unsigned long long)id.device), 0);
  expect_refused(&id, "a revoked device");
  identity_free(&id);
}

/* --- 3. scope -------------------------------------------------------------------------------------------- */

static void store_digest(const char *client, uint8_t out[32]) {
  char path[160], why[256];
  org_path(path, sizeof path, "store.db");
  bg_store *s;
  if (bg_store_open(path, &s, why, sizeof why) != BG_OK) fail_msg("store: %s", why);
  assert_int_equal(bg_store_digest(s, client, out), BG_OK);
  bg_store_close(s);
}

typedef struct attempt {
  const char *what;
  const char *client;
  uint32_t rtype;
  const char *rid;
  uint32_t field;
  bool other_user, other_dot, other_role, tb;
  bg_err want;
} attempt;

/* One PUSH of one write; the ACK must refuse it with `want`. */
static void push_refused(const identity *from, uint64_t user, uint64_t *counter, const attempt *a) {
  bg_hlc hlc;
  bg_hlc_init(&hlc, 0);
  bg_write w;
  memset(&w, 0, sizeof w);
  w.client = bg_str_c(a->client);
  w.rtype = a->rtype;
  w.rid = bg_str_c(a->rid);
  w.field = a->field;
  w.value = (bg_value){BG_V_STR, false, 0, BG_STR("ingevuld door een ander")};
  w.dot = (bg_dot){a->other_dot ? g_anna.device : from->device, ++*counter};
  w.user = a->other_user ? g_anna.user : user;
  w.role = a->other_role ? BG_ROLE_ADMIN : BG_ROLE_BEGELEIDER;
  w.tb = a->tb;
  w.hlc = bg_hlc_now(&hlc, (uint64_t)time(NULL) * 1000);
  peer p;
  assert_int_equal(hello(&p, from), BG_OK);
  bg_msg m, r;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_PUSH;
  m.u.push = (bg_msg_push){*counter, &w, 1, *counter % 2 == 1}; /* both forms of writes meet the same checks */
  assert_int_equal(peer_send(&p, &m), BG_OK);
  assert_int_equal(peer_recv(&p, &r, 10000), BG_OK);
  if (r.type != BG_MSG_ACK) fail_msg("%s: answered with %s", a->what, bg_msg_type_name((int)r.type));
  if (r.u.ack.n_rejected != 1 || r.u.ack.rejected[0].code != (uint32_t)a->want)
    fail_msg("%s: %u refused, code %u (want %s)", a->what, r.u.ack.n_rejected,
             r.u.ack.n_rejected ? r.u.ack.rejected[0].code : 0, bg_err_name(a->want));
  bg_msg_free(&r);
  peer_close(&p);
}

static void writes_outside_a_devices_reach_are_refused_and_go_nowhere(void **state) {
  (void)state;
  /* fresh devices that only ever attempt: no write of theirs may exist anywhere */
  identity zb = enrol("bert"), nc = enrol("carla");
  uint64_t zb_user = 0, nc_user = 0, counter = 0;
  peer p;
  assert_int_equal(hello_as(&p, &zb, 0, NULL, &zb_user), BG_OK);
  peer_close(&p);
  assert_int_equal(hello_as(&p, &nc, 0, NULL, &nc_user), BG_OK);
  peer_close(&p);
  const char *clients[] = {"N-1", "Z-1", BG_ORG_CLIENT};
  uint8_t before[3][32], after[32];
  for (int i = 0; i < 3; i++) store_digest(clients[i], before[i]);
  const attempt by_bert[] = {
      {"PUSH to a client of another team", "N-1", BG_RT_CLIENT, "c", 1, false, false, false, false, BG_E_FORBIDDEN},
      {"PUSH to a client that does not exist", "X-9", BG_RT_CLIENT, "c", 1, false, false, false, false, BG_E_FORBIDDEN},
      {"another team's client as its trajectbegeleider", "N-1", BG_RT_CLIENT, "c", 1, false, false, false, true,
       BG_E_FORBIDDEN},
  };
  const attempt by_carla[] = {
      {"a write with another user as author", "N-1", BG_RT_CLIENT, "c", 1, true, false, false, false, BG_E_AUTHOR},
      {"a write with another device's dot", "N-1", BG_RT_CLIENT, "c", 1, false, true, false, false, BG_E_AUTHOR},
      {"a write claiming the admin role", "N-1", BG_RT_CLIENT, "c", 1, false, false, true, false, BG_E_AUTHOR},
      {"a trajectbegeleider claim by a colleague", "N-1", BG_RT_CLIENT, "c", 1, false, false, false, true, BG_E_AUTHOR},
      {"organisation data by a begeleider", BG_ORG_CLIENT, BG_RT_LEEFGEBIED, "financien", 1, false, false, false,
       false, BG_E_FORBIDDEN},
  };
  for (size_t i = 0; i < sizeof by_bert / sizeof *by_bert; i++) push_refused(&zb, zb_user, &counter, &by_bert[i]);
  for (size_t i = 0; i < sizeof by_carla / sizeof *by_carla; i++) push_refused(&nc, nc_user, &counter, &by_carla[i]);
  for (int i = 0; i < 3; i++) {
    store_digest(clients[i], after);
    if (memcmp(before[i], after, 32) != 0) fail_msg("the store's %s changed", clients[i]);
  }
  /* no device, of either team or the office, receives any of it */
  const char *const noord[] = {"N-1", "N-2", BG_ORG_CLIENT, NULL};
  const char *const zuid[] = {"Z-1", BG_ORG_CLIENT, NULL};
  const identity *attackers[] = {&zb, &nc};
  for (int i = 0; i < 2; i++) {
    assert_false(sync_pull(&g_anna, 0, noord, attackers[i]->device).saw_forbidden_dot);
    assert_false(sync_pull(&g_bert, 0, zuid, attackers[i]->device).saw_forbidden_dot);
    assert_false(sync_pull(&g_otto, 0, NULL, attackers[i]->device).saw_forbidden_dot);
  }
  identity_free(&zb);
  identity_free(&nc);
}

static void pulls_with_anothers_or_forged_cursors_stay_in_scope(void **state) {
  (void)state;
  const char *const noord[] = {"N-1", "N-2", BG_ORG_CLIENT, NULL};
  const char *const zuid[] = {"Z-1", BG_ORG_CLIENT, NULL};
  pulled a = sync_pull(&g_anna, 0, noord, 0);
  assert_true(a.next != 0);
  assert_true(a.writes > 0);
  /* bert with anna's cursor: the store knows it only as anna's, so bert
   * starts over - from nothing, within his own scope */
  pulled b = sync_pull(&g_bert, a.next, zuid, 0);
  assert_true(b.writes > 0);
  assert_true(b.next != a.next);
  /* cursors that are no cursor of bert's (his own are above a.next) */
  const uint64_t forged[] = {a.next - 1, 1, UINT64_MAX, 0x8000000000000000ull, 0xdeadbeefcafe};
  for (size_t i = 0; i < sizeof forged / sizeof *forged; i++) {
    pulled f = sync_pull(&g_bert, forged[i], zuid, 0);
    if (f.writes != b.writes) /* the whole scope again, no more */
      fail_msg("cursor %llu: %u writes, the whole scope is %u", (unsigned long long)forged[i], f.writes, b.writes);
  }
  /* and anna's cursor still works for anna: nothing new */
  assert_int_equal(sync_pull(&g_anna, a.next, noord, 0).writes, 0);
}

static void an_ack_of_anothers_purge_and_a_hello_naming_another_device_change_nothing(void **state) {
  (void)state;
  assert_int_equal(bgh_bgctl(&g_org, NULL, 0, "client add M-2 --team noord --begeleider anna"), 0);
  const char *const noord[] = {"N-1", "N-2", "M-2", BG_ORG_CLIENT, NULL};
  pulled a = sync_pull(&g_anna, 0, noord, 0);
  assert_int_equal(bgh_bgctl(&g_org, NULL, 0, "client move M-2 --team west --begeleider wim"), 0);
  peer p;
  assert_int_equal(hello(&p, &g_anna), BG_OK);
  pulled pa = pull_all(&p, a.next, noord, 0, NULL);
  peer_close(&p);
  assert_true(pa.purge_id > 0);
  assert_int_equal(pa.purged, 1);
  /* bert acknowledges anna's PURGE: refused */
  assert_int_equal(hello(&p, &g_bert), BG_OK);
  bg_msg m, r;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_ACK;
  m.u.ack.id = pa.purge_id;
  assert_int_equal(peer_send(&p, &m), BG_OK);
  assert_int_equal(peer_recv(&p, &r, 5000), BG_OK);
  assert_int_equal(r.type, BG_MSG_ERROR);
  assert_int_equal(r.u.error.code, BG_E_UNEXPECTED_MESSAGE);
  bg_msg_free(&r);
  peer_close(&p);
  /* anna is still told to purge M-2 */
  assert_int_equal(hello(&p, &g_anna), BG_OK);
  pulled again = pull_all(&p, pa.next, noord, 0, NULL);
  assert_true(again.purge_id > 0);
  assert_int_equal(again.purged, 1);
  m.u.ack.id = again.purge_id;
  assert_int_equal(peer_send(&p, &m), BG_OK);
  peer_close(&p);
  /* bert's certificate with a HELLO naming anna's device: the certificate decides */
  uint64_t dev = 0, user = 0;
  assert_int_equal(hello_as(&p, &g_bert, g_anna.device, &dev, &user), BG_OK);
  assert_true(dev == g_bert.device);
  assert_true(user == g_bert.user);
  const char *const zuid[] = {"Z-1", BG_ORG_CLIENT, NULL};
  pulled b = pull_all(&p, 0, zuid, 0, NULL);
  assert_true(b.writes > 0);
  peer_close(&p);
}

/* --- 4. files with keys and client data are 0600 ------------------------------------------------------- */

static void expect_private(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) fail_msg("%s: missing", path);
  if ((st.st_mode & 0777) != 0600) fail_msg("%s has mode %03o, not 600", path, (unsigned)(st.st_mode & 0777));
}

/* Every file in `dir` whose name ends in one of `suffixes`; at least `min`. */
static void expect_private_in(const char *dir, const char *const *suffixes, int min) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    size_t len = strlen(e->d_name);
    for (const char *const *s = suffixes; *s; s++) {
      size_t sl = strlen(*s);
      if (len >= sl && strcmp(e->d_name + len - sl, *s) == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        expect_private(path);
        n++;
        break;
      }
    }
  }
  closedir(d);
  if (n < min) fail_msg("%s: %d private files found, expected at least %d", dir, n, min);
}

static void key_replica_and_store_files_are_mode_0600(void **state) {
  (void)state;
  /* main() set umask 022: the modes below are the programs' own doing */
  const char *const secret[] = {".key", ".key.old", "store.db", "store.db-wal", "store.db-shm", NULL};
  expect_private_in(g_org.home, secret, 3); /* ca.key, server.key, store.db at least */
  assert_int_equal(bgh_bgctl(&g_org, NULL, 0, "cert renew --days 30"), 0);
  char path[192];
  org_path(path, sizeof path, "server.key");
  expect_private(path);
  org_path(path, sizeof path, "server.key.old");
  expect_private(path);
  expect_private_in(g_org.home, secret, 4);
  /* a replica enrolled with libbgsync */
  char replica[160], code[128], server[64];
  snprintf(replica, sizeof replica, "%s/replica.db", g_org.home);
  snprintf(server, sizeof server, "localhost:%d", g_org.port);
  assert_int_equal(bgh_bgctl(&g_org, code, sizeof code, "device enroll anna"), 0);
  bgsync *r;
  assert_int_equal(bgsync_open(replica, &r), BG_OK);
  bg_err e = bgsync_enroll(r, server, code, "laptop", 0);
  if (e != BG_OK) fail_msg("bgsync_enroll: %s: %s", bg_err_name(e), bgsync_errmsg(r));
  assert_int_equal(bgsync_sync(r, NULL), BG_OK);
  bgsync_close(r);
  expect_private(replica);
  snprintf(path, sizeof path, "%s.key", replica);
  expect_private(path);
  const char *const replica_files[] = {"replica.db", "replica.db.key", "replica.db-wal", "replica.db-shm", NULL};
  expect_private_in(g_org.home, replica_files, 2);
}

/* --- 5. hostile peers: a network fuzz run ------------------------------------------------------------ */

typedef struct fuzz_stats {
  int conns, frames, errors, closed, answers, waited;
} fuzz_stats;

static uint64_t g_fuzz_state;

static uint32_t fuzz_rand(void) {
  g_fuzz_state ^= g_fuzz_state << 13;
  g_fuzz_state ^= g_fuzz_state >> 7;
  g_fuzz_state ^= g_fuzz_state << 17;
  return (uint32_t)(g_fuzz_state >> 32);
}

static void put_len(uint8_t *p, uint32_t len) {
  p[0] = (uint8_t)(len >> 24);
  p[1] = (uint8_t)(len >> 16);
  p[2] = (uint8_t)(len >> 8);
  p[3] = (uint8_t)len;
}

/* One mutation of a real frame (length prefix included) into `out`. */
static void mutate(const bg_buf *frame, bg_buf *out) {
  bg_buf_reset(out);
  size_t body = frame->len - 4;
  uint8_t hdr[4];
  switch (fuzz_rand() % 8) {
    case 0: /* bit flips in the body */
      assert_int_equal(bg_buf_append(out, frame->data, frame->len), BG_OK);
      for (uint32_t i = 0, n = 1 + fuzz_rand() % 8; i < n; i++)
        out->data[4 + fuzz_rand() % body] ^= (uint8_t)(1u << (fuzz_rand() % 8));
      break;
    case 1: /* a body cut short, the prefix telling the truth */
      body = body > 1 ? fuzz_rand() % body : 0;
      put_len(hdr, (uint32_t)body);
      assert_int_equal(bg_buf_append(out, hdr, 4), BG_OK);
      assert_int_equal(bg_buf_append(out, frame->data + 4, body), BG_OK);
      break;
    case 2: /* a prefix shorter than the body: the rest reads as the next frame */
      put_len(hdr, (uint32_t)(fuzz_rand() % body));
      assert_int_equal(bg_buf_append(out, hdr, 4), BG_OK);
      assert_int_equal(bg_buf_append(out, frame->data + 4, body), BG_OK);
      break;
    case 3: /* a prefix longer than the body: the daemon waits for bytes that never come */
      put_len(hdr, (uint32_t)(body + 1 + fuzz_rand() % 4096));
      assert_int_equal(bg_buf_append(out, hdr, 4), BG_OK);
      assert_int_equal(bg_buf_append(out, frame->data + 4, body), BG_OK);
      break;
    case 4: /* a huge length */
      put_len(hdr, 0x00100001u + fuzz_rand() % 0xfff00000u);
      assert_int_equal(bg_buf_append(out, hdr, 4), BG_OK);
      assert_int_equal(bg_buf_append(out, frame->data + 4, body), BG_OK);
      break;
    case 5: { /* random bytes, prefix true */
      uint32_t n = 1 + fuzz_rand() % 300;
      put_len(hdr, n);
      assert_int_equal(bg_buf_append(out, hdr, 4), BG_OK);
      for (uint32_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)fuzz_rand();
        assert_int_equal(bg_buf_append(out, &b, 1), BG_OK);
      }
      break;
    }
    case 6: /* bytes overwritten with msgpack's edge values */
      assert_int_equal(bg_buf_append(out, frame->data, frame->len), BG_OK);
      for (uint32_t i = 0, n = 1 + fuzz_rand() % 4; i < n; i++) {
        static const uint8_t edge[] = {0xc1, 0xdd, 0xdf, 0xdb, 0xc6, 0xcf, 0xd3, 0xff, 0x00, 0x7f, 0x80, 0x90};
        out->data[4 + fuzz_rand() % body] = edge[fuzz_rand() % sizeof edge];
      }
      break;
    default: /* the real frame */
      assert_int_equal(bg_buf_append(out, frame->data, frame->len), BG_OK);
  }
}

/* Real frames of every kind a device sends after HELLO, and HELLO itself. */
static void fuzz_templates(bg_buf *t, int n) {
  bg_hlc hlc;
  bg_hlc_init(&hlc, 0);
  bg_write w[3];
  memset(w, 0, sizeof w);
  for (int i = 0; i < 3; i++) {
    w[i].client = BG_STR("Z-1");
    w[i].rtype = BG_RT_CLIENT;
    w[i].rid = BG_STR("c");
    w[i].field = (uint32_t)(1 + i);
    w[i].value = (bg_value){BG_V_STR, false, 0, BG_STR("fuzz")};
    w[i].dot = (bg_dot){g_bert.device, (uint64_t)(900000 + i)};
    w[i].user = g_bert.user;
    w[i].role = BG_ROLE_BEGELEIDER;
    w[i].hlc = bg_hlc_now(&hlc, (uint64_t)time(NULL) * 1000);
  }
  bg_msg m[5];
  memset(m, 0, sizeof m);
  m[0].type = BG_MSG_HELLO;
  m[0].u.hello = (bg_msg_hello){1, 1, BG_SCHEMA_VERSION, BG_STR("peer/fuzz"), g_bert.device, 0};
  m[1].type = BG_MSG_PUSH;
  m[1].u.push = (bg_msg_push){424242, w, 3, false};
  m[2].type = BG_MSG_PULL;
  m[2].u.pull = (bg_msg_pull){0, 4096, 10};
  m[3].type = BG_MSG_ACK;
  m[3].u.ack.id = 1;
  m[4].type = BG_MSG_BYE;
  assert_int_equal(n, 5);
  for (int i = 0; i < n; i++) assert_int_equal(bg_msg_encode_frame(&m[i], &t[i], 0), BG_OK);
}

/* Read answers for up to `ms`: every one must be a whole frame that decodes.
 * Returns false when the connection ended. */
static bool fuzz_answers(peer *p, int ms, fuzz_stats *st) {
  for (;;) {
    bg_msg r;
    bg_err e = peer_recv(p, &r, ms);
    if (e == BG_E_TIMEOUT) {
      st->waited++;
      return true;
    }
    if (e == BG_E_CONNECTION_LOST) {
      st->closed++;
      return false;
    }
    if (e != BG_OK) fail_msg("the daemon's answer did not decode: %s (%s)", bg_err_name(e), p->error);
    if (r.type == BG_MSG_ERROR) st->errors++;
    else st->answers++;
    bg_msg_free(&r);
    ms = 50;
  }
}

static int store_integrity_ok(void) {
  char path[160];
  org_path(path, sizeof path, "store.db");
  sqlite3 *db;
  int ok = 0;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK) {
      ok = sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
      sqlite3_finalize(st);
    }
  }
  sqlite3_close(db);
  return ok;
}

static void hostile_devices_sending_mutated_frames_leave_the_daemon_serving(void **state) {
  (void)state;
  const char *env = getenv("BG_SECURITY_FUZZ_CONNS");
  int conns = env ? atoi(env) : 40;
  const char *seed_env = getenv("BG_TEST_SEED");
  uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL);
  printf("network fuzz: %d connections, seed %llu (replay: BG_TEST_SEED=%llu BG_SECURITY_FUZZ_CONNS=%d)\n", conns,
         (unsigned long long)seed, (unsigned long long)seed, conns);
  g_fuzz_state = seed * 0x9e3779b97f4a7c15ull + 1;
  bg_buf t[5] = {BG_BUF_INIT, BG_BUF_INIT, BG_BUF_INIT, BG_BUF_INIT, BG_BUF_INIT}, frame = BG_BUF_INIT;
  fuzz_templates(t, 5);
  const char *const noord[] = {"N-1", "N-2", BG_ORG_CLIENT, NULL};
  uint64_t good_cursor = sync_pull(&g_carla, 0, noord, 0).next;
  long rss0 = bgh_daemon_rss_kb(&g_org), peak = rss0;
  fuzz_stats st = {0};
  int good_syncs = 0;
  for (int c = 0; c < conns; c++) {
    peer p;
    bg_err e = peer_connect(&p, &g_rng, g_org.port, &g_bert, NULL);
    if (e != BG_OK) fail_msg("connection %d: the handshake of a real device failed: %s", c, bg_err_name(e));
    st.conns++;
    bool open = true;
    /* most sessions begin with a real HELLO, some with a mutated one */
    if (fuzz_rand() % 8) {
      assert_int_equal(peer_send_raw(&p, t[0].data, t[0].len), BG_OK);
      open = fuzz_answers(&p, 2000, &st);
    }
    for (uint32_t f = 0, n = 1 + fuzz_rand() % 6; open && f < n; f++) {
      mutate(&t[fuzz_rand() % 5], &frame);
      st.frames++;
      if (peer_send_raw(&p, frame.data, frame.len) != BG_OK) {
        st.closed++;
        open = false;
        break;
      }
      open = fuzz_answers(&p, 100, &st);
    }
    /* meanwhile a well-behaved device syncs */
    if (c % 5 == 0) {
      pulled g = sync_pull(&g_carla, good_cursor, noord, 0);
      good_cursor = g.next;
      good_syncs++;
    }
    if (fuzz_rand() % 2) {
      close(p.fd); /* no close_notify */
      p.fd = -1;
    }
    peer_close(&p);
    long rss = bgh_daemon_rss_kb(&g_org);
    if (rss > peak) peak = rss;
  }
  printf("network fuzz: %d connections, %d frames: %d ERROR answers, %d other answers, %d connections closed by "
         "the daemon, %d waits for more bytes; %d syncs of a good device; RSS %ld -> peak %ld KiB\n",
         st.conns, st.frames, st.errors, st.answers, st.closed, st.waited, good_syncs, rss0, peak);
  assert_true(st.errors > 0);
  /* alive and serving */
  assert_int_equal(kill(g_org.daemon, 0), 0);
  sync_pull(&g_carla, good_cursor, noord, 0);
#if defined(__SANITIZE_ADDRESS__) || defined(__has_feature)
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
  long bound = 320 * 1024; /* AddressSanitizer keeps up to 256 MiB of freed memory in quarantine */
#else
  long bound = 32 * 1024;
#endif
#else
  long bound = 32 * 1024;
#endif
  if (peak - rss0 > bound) fail_msg("the daemon's RSS grew by %ld KiB under the fuzz run", peak - rss0);
  assert_true(store_integrity_ok());
  char last[256];
  assert_int_equal(bgh_bgctl(&g_org, last, sizeof last, "audit verify"), 0);
  for (int i = 0; i < 5; i++) bg_buf_free(&t[i]);
  bg_buf_free(&frame);
}

/* --- 6. the audit chain catches tampering ------------------------------------------------------------- */

static void sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sql(const char *fmt, ...) {
  char q[512], path[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q, sizeof q, fmt, ap);
  va_end(ap);
  org_path(path, sizeof path, "store.db");
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char *err = NULL;
  if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK) fail_msg("%s: %s", q, err);
  if (sqlite3_changes(db) != 1 && strncmp(q, "INSERT INTO audit SELECT", 24) != 0 && strncmp(q, "DROP", 4) != 0 &&
      strncmp(q, "CREATE", 6) != 0)
    fail_msg("%s: changed %d rows", q, sqlite3_changes(db));
  sqlite3_close(db);
}

static int64_t sql_int(const char *q) {
  char path[160];
  org_path(path, sizeof path, "store.db");
  sqlite3 *db;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static void expect_audit_broken_at(int64_t seq, const char *what) {
  char out[256], want[64];
  int rc = bgh_bgctl(&g_org, out, sizeof out, "audit verify");
  snprintf(want, sizeof want, "audit entry %lld ", (long long)seq);
  if (rc == 0) fail_msg("%s: audit verify passed", what);
  if (strstr(out, want) == NULL) fail_msg("%s: audit verify did not name entry %lld: %s", what, (long long)seq, out);
}

static void the_audit_chain_names_a_changed_byte_and_a_removed_entry(void **state) {
  (void)state;
  assert_int_equal(bgh_daemon_stop(&g_org, SIGTERM), 0);
  char out[256];
  assert_int_equal(bgh_bgctl(&g_org, out, sizeof out, "audit verify"), 0);
  int64_t n = sql_int("SELECT count(*) FROM audit");
  assert_true(n >= 10);
  int64_t mid = sql_int("SELECT seq FROM audit ORDER BY seq LIMIT 1 OFFSET (SELECT count(*) / 2 FROM audit)");
  /* one byte of the row's object: its first character, one bit flipped */
  sql("UPDATE audit SET object = char((unicode(substr(object, 1, 1)) | 1) - (unicode(substr(object, 1, 1)) & 1)) || substr(object, 2) WHERE seq = %lld",
      (long long)mid);
  expect_audit_broken_at(mid, "a changed byte");
  sql("UPDATE audit SET object = char((unicode(substr(object, 1, 1)) | 1) - (unicode(substr(object, 1, 1)) & 1)) || substr(object, 2) WHERE seq = %lld",
      (long long)mid);
  assert_int_equal(bgh_bgctl(&g_org, out, sizeof out, "audit verify"), 0); /* restored exactly */
  /* one byte of its time */
  sql("UPDATE audit SET at = at + 1 WHERE seq = %lld", (long long)mid);
  expect_audit_broken_at(mid, "a changed time");
  sql("UPDATE audit SET at = at - 1 WHERE seq = %lld", (long long)mid);
  /* a row removed from the middle */
  sql("CREATE TABLE kept AS SELECT * FROM audit WHERE seq = %lld", (long long)mid);
  sql("DELETE FROM audit WHERE seq = %lld", (long long)mid);
  expect_audit_broken_at(mid, "a removed entry");
  sql("INSERT INTO audit SELECT * FROM kept");
  sql("DROP TABLE kept");
  assert_int_equal(bgh_bgctl(&g_org, out, sizeof out, "audit verify"), 0);
  daemon_start();
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  umask(022); /* a lax umask: files must be private by the programs' own doing */
  srand((unsigned)getpid());
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(enrolment_guessing_is_limited_per_address_even_for_the_right_code),
      cmocka_unit_test(expired_and_not_yet_valid_certificates_are_refused),
      cmocka_unit_test(certificates_of_the_ca_that_are_no_device_certificates_are_refused),
      cmocka_unit_test(a_revoked_device_is_refused_at_the_handshake),
      cmocka_unit_test(writes_outside_a_devices_reach_are_refused_and_go_nowhere),
      cmocka_unit_test(pulls_with_anothers_or_forged_cursors_stay_in_scope),
      cmocka_unit_test(an_ack_of_anothers_purge_and_a_hello_naming_another_device_change_nothing),
      cmocka_unit_test(key_replica_and_store_files_are_mode_0600),
      cmocka_unit_test(hostile_devices_sending_mutated_frames_leave_the_daemon_serving),
      cmocka_unit_test(after_the_window_the_right_code_works), /* before any restart: the limit is in memory */
      cmocka_unit_test(the_audit_chain_names_a_changed_byte_and_a_removed_entry),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
