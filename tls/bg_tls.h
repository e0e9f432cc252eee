/*
 * bg_tls.h - TLS 1.2 (mbedTLS) over memory buffers, shared by the daemon and
 * the client library.
 *
 * No sockets here: the caller moves bytes. Whatever arrives from the network
 * goes in with bg_tls_feed; bg_tls_handshake and bg_tls_read advance the TLS
 * state machine and yield plaintext; bg_tls_write encrypts; the ciphertext to
 * send accumulates in bg_tls_outgoing, which the caller drains (libuv writes
 * it). So TLS never blocks an event loop, and tests can run both ends of a
 * connection in one thread.
 *
 * The product's TLS: version 1.2 only, ECDHE key exchange with ECDSA
 * certificates and AEAD ciphers only (AES-GCM, ChaCha20-Poly1305),
 * renegotiation off. A server configuration issues session tickets (a resumed
 * session costs no full handshake); a client keeps its last session and offers
 * it on the next connection.
 */
#ifndef BG_TLS_H
#define BG_TLS_H

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_buf.h"
#include "bg_error.h"

/* Randomness for keys and TLS: one per process or thread, seeded from the
 * operating system's entropy. */
typedef struct bg_rng {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
} bg_rng;

bg_err bg_rng_init(bg_rng *r, const char *personalisation);
void bg_rng_free(bg_rng *r);
/* mbedTLS's f_rng for `r` (pass &r->drbg as p_rng). */
int bg_rng_random(void *p_rng, unsigned char *out, size_t len);

/* Called for each certificate of the peer's chain (depth 0 = the peer's own)
 * after mbedTLS checked it; set bits in *flags to refuse (for example
 * MBEDTLS_X509_BADCERT_REVOKED). Return 0. */
typedef int (*bg_tls_verify_cb)(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags);

typedef struct bg_tls_conf {
  mbedtls_ssl_config ssl;
  mbedtls_x509_crt ca, cert;
  mbedtls_pk_context key;
  mbedtls_ssl_ticket_context ticket;
  bool server, has_cert, has_ticket;
  char error[256]; /* why bg_tls_conf_init failed */
} bg_tls_conf;

typedef struct bg_tls_conf_opts {
  bool server;
  const uint8_t *ca; size_t ca_len;     /* PEM (NUL included in the length) or DER */
  const uint8_t *cert; size_t cert_len; /* own certificate; NULL: none */
  const uint8_t *key; size_t key_len;   /* its private key */
  bool require_peer_cert;               /* server: mutual TLS; client: always verifies */
  bool enrol;                           /* client without CA yet: see bg_tls_enrol_verify */
  bg_tls_verify_cb verify;              /* optional */
  void *verify_arg;
  uint32_t ticket_lifetime_s;           /* server: 0 = one hour */
} bg_tls_conf_opts;

/* BG_E_TLS with conf->error naming what failed (a bad key, a PEM error). */
bg_err bg_tls_conf_init(bg_tls_conf *conf, const bg_tls_conf_opts *o, bg_rng *rng);
void bg_tls_conf_free(bg_tls_conf *conf);

/* One connection. `out` collects ciphertext to send; it may carry a limit. */
typedef struct bg_tls {
  mbedtls_ssl_context ssl;
  bg_buf in;       /* ciphertext received and not yet consumed by TLS */
  size_t in_off;
  bg_buf out;      /* ciphertext to send */
  bool handshake_done, closed;
  int last;        /* last mbedTLS result, for messages */
} bg_tls;

/* `hostname`: the name the client expects in the server's certificate (NULL
 * for servers; the client's CN check). */
bg_err bg_tls_init(bg_tls *t, const bg_tls_conf *conf, const char *hostname);
void bg_tls_free(bg_tls *t);

/* Append bytes received from the network. */
bg_err bg_tls_feed(bg_tls *t, const uint8_t *p, size_t n);

/* Advance the handshake with what has been fed: BG_OK, with *again set while
 * it needs more bytes from the peer and t->handshake_done once it is complete;
 * BG_E_TLS on failure (bg_tls_reason says why). Send bg_tls_outgoing after it. */
bg_err bg_tls_handshake(bg_tls *t, bool *again);

/* Decrypt what has been fed into `plain` (appended). BG_OK with nothing new
 * when more bytes are needed; BG_E_CONNECTION_LOST when the peer sent
 * close_notify; BG_E_TLS on failure. */
bg_err bg_tls_read(bg_tls *t, bg_buf *plain);

/* Encrypt `n` bytes into the outgoing ciphertext. */
bg_err bg_tls_write(bg_tls *t, const uint8_t *p, size_t n);

/* Queue a close_notify alert. */
void bg_tls_close(bg_tls *t);

/* Client session resumption: save the session after a handshake (into a
 * session the caller initialised with mbedtls_ssl_session_init) and offer it
 * on the next connection, before its handshake. */
bg_err bg_tls_session_save(const bg_tls *t, mbedtls_ssl_session *out);
bg_err bg_tls_session_offer(bg_tls *t, const mbedtls_ssl_session *s);

/* The peer's certificate (after the handshake), or NULL. */
const mbedtls_x509_crt *bg_tls_peer(const bg_tls *t);

/* The description of the fatal alert the peer sent (MBEDTLS_SSL_ALERT_MSG_*),
 * when the last failure was one; -1 otherwise. */
int bg_tls_peer_alert(const bg_tls *t);

/* A sentence on the last TLS failure ("certificate verification failed:
 * revoked", "peer offered no shared cipher suite", ...). */
void bg_tls_reason(const bg_tls *t, char *out, size_t len);

/* Enrolment, on the device: the connection was made without a CA to verify
 * against (opts.ca NULL, enrol true). Accept it only when the server's chain
 * holds a CA certificate whose fingerprint starts with `ca_fp` (the code's) and
 * the server's certificate verifies against that CA for `hostname`; then copy
 * the CA (DER) into *ca. BG_E_TLS otherwise, with a sentence in `why`. */
bg_err bg_tls_enrol_verify(const bg_tls *t, const uint8_t *ca_fp, size_t fp_len, const char *hostname, bg_buf *ca,
                           char *why, size_t whylen);

/* SHA-256 over a DER certificate. */
void bg_tls_fingerprint(const mbedtls_x509_crt *crt, uint8_t out[32]);

#endif /* BG_TLS_H */
