/*
 * test_tls.c - the product's TLS and PKI, both ends in one process over memory
 * buffers: mutual authentication with certificates from the organisation CA;
 * refusal of no certificate, another CA, an expired or not yet valid one, a
 * revoked one (the verify callback), a wrong server name; enrolment mode; data
 * both ways; session resumption without a full handshake; a certificate request
 * signed by another key is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <mbedtls/x509_crt.h>
#include <string.h>
#include <time.h>

#include "bg_pki.h"
#include "bg_tls.h"

static bg_rng g_rng;

typedef struct party {
  mbedtls_pk_context key;
  bg_buf cert_pem, key_pem, cert_der;
} party;

static void party_free(party *p) {
  mbedtls_pk_free(&p->key);
  bg_buf_free(&p->cert_pem);
  bg_buf_free(&p->key_pem);
  bg_buf_free(&p->cert_der);
}

typedef struct pki {
  party ca, server;
  mbedtls_x509_crt ca_crt;
} pki;

static void make_party(party *p, const char *subject, uint64_t serial, int64_t from, int64_t until, const pki *by,
                       bool ca) {
  memset(p, 0, sizeof *p);
  mbedtls_pk_init(&p->key);
  assert_int_equal(bg_pki_key_new(&g_rng, &p->key), BG_OK);
  bg_pki_cert c = {subject, serial, from, until, ca};
  if (by) {
    /* through a request, as a device does */
    bg_buf csr = BG_BUF_INIT;
    char why[128];
    assert_int_equal(bg_pki_csr(&g_rng, &p->key, subject, &csr), BG_OK);
    mbedtls_pk_context *cakey = (mbedtls_pk_context *)&by->ca.key;
    assert_int_equal(bg_pki_sign_csr(&g_rng, csr.data, csr.len, &by->ca_crt, cakey, &c, &p->cert_der, why, sizeof why), BG_OK);
    bg_buf_free(&csr);
  } else {
    assert_int_equal(bg_pki_issue(&g_rng, &p->key, NULL, &p->key, &c, &p->cert_der), BG_OK);
  }
  assert_int_equal(bg_pki_cert_pem(p->cert_der.data, p->cert_der.len, &p->cert_pem), BG_OK);
  assert_int_equal(bg_pki_key_pem(&p->key, &p->key_pem), BG_OK);
}

static void make_pki(pki *k, const char *org) {
  int64_t now = (int64_t)time(NULL);
  char subject[128];
  snprintf(subject, sizeof subject, "CN=%s CA,O=%s", org, org);
  make_party(&k->ca, subject, 1, now - 60, now + 10 * 365 * 86400, NULL, true);
  mbedtls_x509_crt_init(&k->ca_crt);
  assert_int_equal(mbedtls_x509_crt_parse_der(&k->ca_crt, k->ca.cert_der.data, k->ca.cert_der.len), 0);
  snprintf(subject, sizeof subject, "CN=sync.example.org,O=%s", org);
  make_party(&k->server, subject, 2, now - 60, now + 365 * 86400, k, false);
}

static void pki_free(pki *k) {
  party_free(&k->ca);
  party_free(&k->server);
  mbedtls_x509_crt_free(&k->ca_crt);
}

static int g_revoked_device;

static int revocation_check(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags) {
  (void)arg;
  uint64_t dev;
  char login[65];
  if (depth == 0 && bg_pki_device_of(crt, &dev, login, sizeof login) == BG_OK && (int)dev == g_revoked_device)
    *flags |= MBEDTLS_X509_BADCERT_REVOKED;
  return 0;
}

static void server_conf(bg_tls_conf *c, const pki *k, bool mutual) {
  bg_tls_conf_opts o = {.server = true, .ca = k->ca.cert_pem.data, .ca_len = k->ca.cert_pem.len,
                        .cert = k->server.cert_pem.data, .cert_len = k->server.cert_pem.len,
                        .key = k->server.key_pem.data, .key_len = k->server.key_pem.len,
                        .require_peer_cert = mutual, .verify = revocation_check};
  assert_int_equal(bg_tls_conf_init(c, &o, &g_rng), BG_OK);
}

static void client_conf(bg_tls_conf *c, const pki *trust, const party *me) {
  bg_tls_conf_opts o = {.ca = trust->ca.cert_pem.data, .ca_len = trust->ca.cert_pem.len,
                        .cert = me ? me->cert_pem.data : NULL, .cert_len = me ? me->cert_pem.len : 0,
                        .key = me ? me->key_pem.data : NULL, .key_len = me ? me->key_pem.len : 0};
  bg_err e = bg_tls_conf_init(c, &o, &g_rng);
  if (e != BG_OK) fail_msg("client conf: %s", c->error);
}

/* Pump bytes between the two ends until both finished or one failed.
 * Returns the server's result; *server_bytes counts what the server sent. */
static bg_err connect_pair(bg_tls *cl, bg_tls *sv, bg_err *client_result, size_t *server_bytes) {
  bg_err rc = BG_OK, rs = BG_OK;
  size_t sent = 0;
  for (int round = 0; round < 50; round++) {
    bool ac = false, as = false;
    if (rc == BG_OK && !cl->handshake_done) rc = bg_tls_handshake(cl, &ac);
    if (cl->out.len) {
      assert_int_equal(bg_tls_feed(sv, cl->out.data, cl->out.len), BG_OK);
      bg_buf_reset(&cl->out);
    }
    if (rs == BG_OK && !sv->handshake_done) rs = bg_tls_handshake(sv, &as);
    if (sv->out.len) {
      sent += sv->out.len;
      assert_int_equal(bg_tls_feed(cl, sv->out.data, sv->out.len), BG_OK);
      bg_buf_reset(&sv->out);
    }
    if ((cl->handshake_done && sv->handshake_done) || rc != BG_OK || rs != BG_OK) break;
  }
  if (client_result) *client_result = rc;
  if (server_bytes) *server_bytes = sent;
  return rs;
}

static void mutual_tls_with_the_organisation_ca(void **state) {
  (void)state;
  pki k;
  make_pki(&k, "Zorg Noord");
  int64_t now = (int64_t)time(NULL);
  party dev;
  make_party(&dev, "CN=7,OU=anna", 7, now - 60, now + 86400, &k, false);
  bg_tls_conf sc, cc;
  server_conf(&sc, &k, true);
  client_conf(&cc, &k, &dev);
  bg_tls cl, sv;
  assert_int_equal(bg_tls_init(&cl, &cc, "sync.example.org"), BG_OK);
  assert_int_equal(bg_tls_init(&sv, &sc, NULL), BG_OK);
  bg_err crc;
  assert_int_equal(connect_pair(&cl, &sv, &crc, NULL), BG_OK);
  assert_int_equal(crc, BG_OK);
  assert_true(cl.handshake_done && sv.handshake_done);
  uint64_t id;
  char login[65];
  assert_int_equal(bg_pki_device_of(bg_tls_peer(&sv), &id, login, sizeof login), BG_OK);
  assert_int_equal(id, 7);
  assert_string_equal(login, "anna");
  /* data both ways, a large message included */
  static uint8_t big[1 << 20];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
  assert_int_equal(bg_tls_write(&cl, big, sizeof big), BG_OK);
  assert_int_equal(bg_tls_feed(&sv, cl.out.data, cl.out.len), BG_OK);
  bg_buf_reset(&cl.out);
  bg_buf got = BG_BUF_INIT;
  assert_int_equal(bg_tls_read(&sv, &got), BG_OK);
  assert_int_equal(got.len, sizeof big);
  assert_memory_equal(got.data, big, sizeof big);
  assert_int_equal(bg_tls_write(&sv, (const uint8_t *)"pong", 4), BG_OK);
  assert_int_equal(bg_tls_feed(&cl, sv.out.data, sv.out.len), BG_OK);
  bg_buf_reset(&sv.out);
  bg_buf_reset(&got);
  assert_int_equal(bg_tls_read(&cl, &got), BG_OK);
  assert_int_equal(got.len, 4);
  /* close_notify ends the session cleanly */
  bg_tls_close(&cl);
  assert_int_equal(bg_tls_feed(&sv, cl.out.data, cl.out.len), BG_OK);
  assert_int_equal(bg_tls_read(&sv, &got), BG_E_CONNECTION_LOST);

  /* resumption: the saved session is accepted, and the server sends no certificate */
  mbedtls_ssl_session saved;
  mbedtls_ssl_session_init(&saved);
  assert_int_equal(bg_tls_session_save(&cl, &saved), BG_OK);
  bg_tls_free(&cl);
  bg_tls_free(&sv);
  size_t full = 0, resumed = 0;
  assert_int_equal(bg_tls_init(&cl, &cc, "sync.example.org"), BG_OK);
  assert_int_equal(bg_tls_init(&sv, &sc, NULL), BG_OK);
  assert_int_equal(connect_pair(&cl, &sv, &crc, &full), BG_OK);
  bg_tls_free(&cl);
  bg_tls_free(&sv);
  assert_int_equal(bg_tls_init(&cl, &cc, "sync.example.org"), BG_OK);
  assert_int_equal(bg_tls_session_offer(&cl, &saved), BG_OK);
  assert_int_equal(bg_tls_init(&sv, &sc, NULL), BG_OK);
  assert_int_equal(connect_pair(&cl, &sv, &crc, &resumed), BG_OK);
  assert_int_equal(crc, BG_OK);
  assert_true(resumed * 3 < full);
  /* the resumed session still knows the device */
  assert_int_equal(bg_pki_device_of(bg_tls_peer(&sv), &id, login, sizeof login), BG_OK);
  assert_int_equal(id, 7);
  mbedtls_ssl_session_free(&saved);
  bg_tls_free(&cl);
  bg_tls_free(&sv);
  bg_buf_free(&got);
  bg_tls_conf_free(&sc);
  bg_tls_conf_free(&cc);
  party_free(&dev);
  pki_free(&k);
}

/* One handshake that the server must refuse. */
static void expect_refused(const pki *k, const pki *trust, const party *dev, const char *host, bool mutual,
                           bool client_fails) {
  bg_tls_conf sc, cc;
  server_conf(&sc, k, mutual);
  client_conf(&cc, trust, dev);
  bg_tls cl, sv;
  assert_int_equal(bg_tls_init(&cl, &cc, host), BG_OK);
  assert_int_equal(bg_tls_init(&sv, &sc, NULL), BG_OK);
  bg_err crc, src = connect_pair(&cl, &sv, &crc, NULL);
  if (client_fails) assert_int_equal(crc, BG_E_TLS);
  else assert_int_equal(src, BG_E_TLS);
  assert_false(sv.handshake_done && cl.handshake_done);
  bg_tls_free(&cl);
  bg_tls_free(&sv);
  bg_tls_conf_free(&sc);
  bg_tls_conf_free(&cc);
}

static void bad_certificates_are_refused_at_the_handshake(void **state) {
  (void)state;
  pki k, other;
  make_pki(&k, "Zorg Noord");
  make_pki(&other, "Elders");
  int64_t now = (int64_t)time(NULL);
  party ok, expired, early, foreign;
  make_party(&ok, "CN=8,OU=bert", 8, now - 60, now + 86400, &k, false);
  make_party(&expired, "CN=9,OU=bert", 9, now - 2 * 86400, now - 86400, &k, false);
  make_party(&early, "CN=10,OU=bert", 10, now + 86400, now + 2 * 86400, &k, false);
  make_party(&foreign, "CN=11,OU=bert", 11, now - 60, now + 86400, &other, false);
  expect_refused(&k, &k, NULL, "sync.example.org", true, false);      /* no certificate */
  expect_refused(&k, &k, &expired, "sync.example.org", true, false);  /* expired */
  expect_refused(&k, &k, &early, "sync.example.org", true, false);    /* not yet valid */
  expect_refused(&k, &k, &foreign, "sync.example.org", true, false);  /* another CA */
  g_revoked_device = 8;
  expect_refused(&k, &k, &ok, "sync.example.org", true, false);       /* revoked */
  g_revoked_device = 0;
  expect_refused(&k, &k, &ok, "elsewhere.example.org", true, true);   /* the client: wrong server name */
  expect_refused(&k, &other, &ok, "sync.example.org", true, true);    /* the client: server of another CA */
  party_free(&ok);
  party_free(&expired);
  party_free(&early);
  party_free(&foreign);
  pki_free(&k);
  pki_free(&other);
}

static void enrolment_mode_takes_a_device_without_certificate(void **state) {
  (void)state;
  pki k;
  make_pki(&k, "Zorg Noord");
  bg_tls_conf sc, cc;
  server_conf(&sc, &k, false);
  client_conf(&cc, &k, NULL);
  bg_tls cl, sv;
  assert_int_equal(bg_tls_init(&cl, &cc, "sync.example.org"), BG_OK);
  assert_int_equal(bg_tls_init(&sv, &sc, NULL), BG_OK);
  bg_err crc;
  assert_int_equal(connect_pair(&cl, &sv, &crc, NULL), BG_OK);
  assert_int_equal(crc, BG_OK);
  assert_null(bg_tls_peer(&sv));
  bg_tls_free(&cl);
  bg_tls_free(&sv);
  bg_tls_conf_free(&sc);
  bg_tls_conf_free(&cc);
  pki_free(&k);
}

static void a_request_not_signed_by_its_key_is_refused(void **state) {
  (void)state;
  pki k;
  make_pki(&k, "Zorg Noord");
  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  assert_int_equal(bg_pki_key_new(&g_rng, &key), BG_OK);
  bg_buf csr = BG_BUF_INIT, out = BG_BUF_INIT;
  assert_int_equal(bg_pki_csr(&g_rng, &key, "CN=12,OU=carla", &csr), BG_OK);
  char why[128] = "";
  assert_int_equal(bg_pki_csr_check(csr.data, csr.len, why, sizeof why), BG_OK);
  csr.data[csr.len - 5] ^= 0x40; /* damage the signature */
  assert_int_equal(bg_pki_csr_check(csr.data, csr.len, why, sizeof why), BG_E_VALUE);
  assert_non_null(strstr(why, "signature"));
  bg_pki_cert c = {"CN=12,OU=carla", 12, 0, 4102444800, false};
  assert_int_equal(bg_pki_sign_csr(&g_rng, csr.data, csr.len, &k.ca_crt, &k.ca.key, &c, &out, why, sizeof why),
                   BG_E_VALUE);
  assert_true(strlen(why) > 0);
  assert_int_equal(bg_pki_sign_csr(&g_rng, (const uint8_t *)"junk", 4, &k.ca_crt, &k.ca.key, &c, &out, why, sizeof why),
                   BG_E_VALUE);
  assert_int_equal(out.len, 0);
  bg_buf_free(&csr);
  bg_buf_free(&out);
  mbedtls_pk_free(&key);
  pki_free(&k);
}

static int setup(void **state) {
  (void)state;
  return bg_rng_init(&g_rng, "test_tls") == BG_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  bg_rng_free(&g_rng);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(mutual_tls_with_the_organisation_ca),
      cmocka_unit_test(bad_certificates_are_refused_at_the_handshake),
      cmocka_unit_test(enrolment_mode_takes_a_device_without_certificate),
      cmocka_unit_test(a_request_not_signed_by_its_key_is_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
