/*
 * bg_tls.c - mbedTLS over memory buffers (bg_tls.h).
 */
#include "bg_tls.h"

#include <mbedtls/error.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <string.h>

/* TLS 1.2, ECDHE with ECDSA certificates, AEAD only. */
static const int bg__suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

bg_err bg_rng_init(bg_rng *r, const char *personalisation) {
  mbedtls_entropy_init(&r->entropy);
  mbedtls_ctr_drbg_init(&r->drbg);
  const char *p = personalisation ? personalisation : "bgsync";
  int rc = mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy, (const unsigned char *)p, strlen(p));
  if (rc != 0) {
    bg_rng_free(r);
    return BG_E_INTERNAL;
  }
  return BG_OK;
}

void bg_rng_free(bg_rng *r) {
  mbedtls_ctr_drbg_free(&r->drbg);
  mbedtls_entropy_free(&r->entropy);
}

int bg_rng_random(void *p_rng, unsigned char *out, size_t len) { return mbedtls_ctr_drbg_random(p_rng, out, len); }

static bg_err bg__conf_fail(bg_tls_conf *c, int rc, const char *what) {
  char e[160];
  mbedtls_strerror(rc, e, sizeof e);
  snprintf(c->error, sizeof c->error, "%s: %s", what, e);
  return BG_E_TLS;
}

bg_err bg_tls_conf_init(bg_tls_conf *c, const bg_tls_conf_opts *o, bg_rng *rng) {
  memset(c, 0, sizeof *c);
  mbedtls_ssl_config_init(&c->ssl);
  mbedtls_x509_crt_init(&c->ca);
  mbedtls_x509_crt_init(&c->cert);
  mbedtls_pk_init(&c->key);
  mbedtls_ssl_ticket_init(&c->ticket);
  c->server = o->server;
  int rc = mbedtls_ssl_config_defaults(&c->ssl, o->server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                       MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (rc != 0) return bg__conf_fail(c, rc, "TLS defaults");
  mbedtls_ssl_conf_rng(&c->ssl, bg_rng_random, &rng->drbg);
  mbedtls_ssl_conf_min_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(&c->ssl, bg__suites);
  mbedtls_ssl_conf_renegotiation(&c->ssl, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
  if (o->ca) {
    if ((rc = mbedtls_x509_crt_parse(&c->ca, o->ca, o->ca_len)) != 0) return bg__conf_fail(c, rc, "CA certificate");
    mbedtls_ssl_conf_ca_chain(&c->ssl, &c->ca, NULL);
  }
  if (o->cert) {
    if ((rc = mbedtls_x509_crt_parse(&c->cert, o->cert, o->cert_len)) != 0)
      return bg__conf_fail(c, rc, "own certificate");
    if ((rc = mbedtls_pk_parse_key(&c->key, o->key, o->key_len, NULL, 0)) != 0)
      return bg__conf_fail(c, rc, "own private key");
    if ((rc = mbedtls_ssl_conf_own_cert(&c->ssl, &c->cert, &c->key)) != 0) return bg__conf_fail(c, rc, "own certificate");
    c->has_cert = true;
  }
  if (o->server) {
    mbedtls_ssl_conf_authmode(&c->ssl, o->require_peer_cert ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);
    rc = mbedtls_ssl_ticket_setup(&c->ticket, bg_rng_random, &rng->drbg, MBEDTLS_CIPHER_AES_256_GCM,
                                  o->ticket_lifetime_s ? o->ticket_lifetime_s : 3600);
    if (rc != 0) return bg__conf_fail(c, rc, "session tickets");
    c->has_ticket = true;
    mbedtls_ssl_conf_session_tickets_cb(&c->ssl, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, &c->ticket);
  } else {
    /* a client always verifies the server against the organisation CA - when
     * enrolling, after the handshake, against the CA its code names */
    if (o->enrol) {
      mbedtls_ssl_conf_authmode(&c->ssl, MBEDTLS_SSL_VERIFY_OPTIONAL);
      return BG_OK;
    }
    if (!o->ca) {
      snprintf(c->error, sizeof c->error, "a client needs the organisation CA certificate");
      return BG_E_TLS;
    }
    mbedtls_ssl_conf_authmode(&c->ssl, MBEDTLS_SSL_VERIFY_REQUIRED);
  }
  if (o->verify) mbedtls_ssl_conf_verify(&c->ssl, o->verify, o->verify_arg);
  return BG_OK;
}

void bg_tls_conf_free(bg_tls_conf *c) {
  mbedtls_ssl_ticket_free(&c->ticket);
  mbedtls_ssl_config_free(&c->ssl);
  mbedtls_x509_crt_free(&c->ca);
  mbedtls_x509_crt_free(&c->cert);
  mbedtls_pk_free(&c->key);
}

/* The BIO: TLS reads from `in`, writes to `out`. */
static int bg__send(void *ctx, const unsigned char *buf, size_t len) {
  bg_tls *t = ctx;
  /* a full outgoing buffer (its limit) asks TLS to try again later */
  if (bg_buf_append(&t->out, buf, len) != BG_OK) return MBEDTLS_ERR_SSL_WANT_WRITE;
  return (int)len;
}

static int bg__recv(void *ctx, unsigned char *buf, size_t len) {
  bg_tls *t = ctx;
  size_t have = t->in.len - t->in_off;
  if (have == 0) return MBEDTLS_ERR_SSL_WANT_READ;
  if (len > have) len = have;
  memcpy(buf, t->in.data + t->in_off, len);
  t->in_off += len;
  if (t->in_off == t->in.len) {
    bg_buf_reset(&t->in);
    t->in_off = 0;
  }
  return (int)len;
}

bg_err bg_tls_init(bg_tls *t, const bg_tls_conf *conf, const char *hostname) {
  memset(t, 0, sizeof *t);
  mbedtls_ssl_init(&t->ssl);
  int rc = mbedtls_ssl_setup(&t->ssl, &conf->ssl);
  if (rc == 0 && hostname) rc = mbedtls_ssl_set_hostname(&t->ssl, hostname);
  if (rc != 0) {
    t->last = rc;
    mbedtls_ssl_free(&t->ssl);
    return rc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? BG_E_NOMEM : BG_E_TLS;
  }
  mbedtls_ssl_set_bio(&t->ssl, t, bg__send, bg__recv, NULL);
  return BG_OK;
}

void bg_tls_free(bg_tls *t) {
  mbedtls_ssl_free(&t->ssl);
  bg_buf_free(&t->in);
  bg_buf_free(&t->out);
}

bg_err bg_tls_feed(bg_tls *t, const uint8_t *p, size_t n) {
  /* compact first, so a long session does not grow the buffer */
  if (t->in_off > 0 && t->in_off == t->in.len) {
    bg_buf_reset(&t->in);
    t->in_off = 0;
  } else if (t->in_off > 16384) {
    bg_buf_consume(&t->in, t->in_off);
    t->in_off = 0;
  }
  return bg_buf_append(&t->in, p, n);
}

bg_err bg_tls_handshake(bg_tls *t, bool *again) {
  *again = false;
  if (t->handshake_done) return BG_OK;
  int rc = mbedtls_ssl_handshake(&t->ssl);
  t->last = rc;
  if (rc == 0) {
    t->handshake_done = true;
    return BG_OK;
  }
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
    *again = true;
    return BG_OK;
  }
  return rc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? BG_E_NOMEM : BG_E_TLS;
}

bg_err bg_tls_read(bg_tls *t, bg_buf *plain) {
  uint8_t chunk[16384];
  for (;;) {
    int rc = mbedtls_ssl_read(&t->ssl, chunk, sizeof chunk);
    if (rc > 0) {
      bg_err e = bg_buf_append(plain, chunk, (size_t)rc);
      if (e != BG_OK) return e;
      continue;
    }
    t->last = rc;
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return BG_OK;
    if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      t->closed = true;
      return BG_E_CONNECTION_LOST;
    }
    return rc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? BG_E_NOMEM : BG_E_TLS;
  }
}

bg_err bg_tls_write(bg_tls *t, const uint8_t *p, size_t n) {
  while (n > 0) {
    int rc = mbedtls_ssl_write(&t->ssl, p, n);
    if (rc < 0) {
      t->last = rc;
      if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) return BG_E_LIMIT; /* the outgoing buffer is full */
      return rc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? BG_E_NOMEM : BG_E_TLS;
    }
    p += rc;
    n -= (size_t)rc;
  }
  return BG_OK;
}

void bg_tls_close(bg_tls *t) { (void)mbedtls_ssl_close_notify(&t->ssl); }

bg_err bg_tls_session_save(const bg_tls *t, mbedtls_ssl_session *out) {
  return mbedtls_ssl_get_session(&t->ssl, out) == 0 ? BG_OK : BG_E_TLS;
}

bg_err bg_tls_session_offer(bg_tls *t, const mbedtls_ssl_session *s) {
  return mbedtls_ssl_set_session(&t->ssl, s) == 0 ? BG_OK : BG_E_TLS;
}

const mbedtls_x509_crt *bg_tls_peer(const bg_tls *t) { return mbedtls_ssl_get_peer_cert(&t->ssl); }

int bg_tls_peer_alert(const bg_tls *t) {
  /* mbedTLS leaves the alert record in in_msg: level, then description */
  if (t->last != MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE || t->ssl.in_msg == NULL) return -1;
  return t->ssl.in_msg[1];
}

void bg_tls_reason(const bg_tls *t, char *out, size_t len) {
  uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl);
  if (t->last == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags != 0 && flags != (uint32_t)-1) {
    char v[200];
    int n = mbedtls_x509_crt_verify_info(v, sizeof v, "", flags);
    if (n > 0 && v[n - 1] == '\n') v[n - 1] = 0;
    snprintf(out, len, "certificate verification failed: %s", v);
    return;
  }
  char e[160];
  mbedtls_strerror(t->last, e, sizeof e);
  snprintf(out, len, "%s", e);
}

bg_err bg_tls_enrol_verify(const bg_tls *t, const uint8_t *ca_fp, size_t fp_len, const char *hostname, bg_buf *ca,
                           char *why, size_t whylen) {
  const mbedtls_x509_crt *peer = bg_tls_peer(t);
  if (peer == NULL || fp_len > 32) {
    snprintf(why, whylen, "the server presented no certificate");
    return BG_E_TLS;
  }
  const mbedtls_x509_crt *found = NULL;
  for (const mbedtls_x509_crt *c = peer; c && !found; c = c->next) {
    uint8_t fp[32];
    if (c->raw.len == 0) continue;
    bg_tls_fingerprint(c, fp);
    if (memcmp(fp, ca_fp, fp_len) == 0) found = c;
  }
  if (found == NULL) {
    snprintf(why, whylen, "the server's chain holds no CA with the fingerprint in the code: wrong server, or "
                          "someone in between");
    return BG_E_TLS;
  }
  mbedtls_x509_crt anchor;
  mbedtls_x509_crt_init(&anchor);
  uint32_t flags = 0;
  int rc = mbedtls_x509_crt_parse_der(&anchor, found->raw.p, found->raw.len);
  if (rc == 0) rc = mbedtls_x509_crt_verify((mbedtls_x509_crt *)peer, &anchor, NULL, hostname, &flags, NULL, NULL);
  mbedtls_x509_crt_free(&anchor);
  if (rc != 0) {
    char v[200] = "";
    if (flags) (void)mbedtls_x509_crt_verify_info(v, sizeof v, "", flags);
    size_t n = strlen(v);
    if (n && v[n - 1] == '\n') v[n - 1] = 0;
    snprintf(why, whylen, "the server's certificate does not verify against the code's CA%s%s", v[0] ? ": " : "", v);
    return BG_E_TLS;
  }
  bg_buf_reset(ca);
  return bg_buf_append(ca, found->raw.p, found->raw.len);
}

void bg_tls_fingerprint(const mbedtls_x509_crt *crt, uint8_t out[32]) {
  (void)mbedtls_sha256_ret(crt->raw.p, crt->raw.len, out, 0);
}
