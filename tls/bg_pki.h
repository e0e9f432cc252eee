/*
 * bg_pki.h - the organisation's keys and certificates (mbedTLS X.509).
 *
 * The organisation has its own CA (made by `bgctl init`); it certifies the
 * server (CN = the host name devices connect to) and, at enrolment, each
 * device: the device makes its key pair and sends a certificate request; the
 * private key never leaves it. A device certificate's subject binds the device
 * id and the user: CN = the device id in decimal, OU = the user's login.
 * Keys are ECDSA on P-256, signatures SHA-256.
 */
#ifndef BG_PKI_H
#define BG_PKI_H

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <stdbool.h>
#include <stdint.h>

#include "bg_buf.h"
#include "bg_error.h"
#include "bg_tls.h"

/* A new P-256 key pair in `key` (initialised by the caller with mbedtls_pk_init). */
bg_err bg_pki_key_new(bg_rng *rng, mbedtls_pk_context *key);

/* PEM forms, appended to `out` with a terminating NUL counted in out->len (the
 * form mbedtls_x509_crt_parse and mbedtls_pk_parse_key want). */
bg_err bg_pki_key_pem(mbedtls_pk_context *key, bg_buf *out);
bg_err bg_pki_cert_pem(const uint8_t *der, size_t len, bg_buf *out);

/* A certificate request for `key` (DER, appended to `out`). */
bg_err bg_pki_csr(bg_rng *rng, mbedtls_pk_context *key, const char *subject, bg_buf *out);

typedef struct bg_pki_cert {
  const char *subject;    /* "CN=...,O=..." */
  uint64_t serial;        /* > 0 */
  int64_t not_before;     /* seconds since the epoch */
  int64_t not_after;
  bool ca;                /* a CA certificate (may sign certificates) */
} bg_pki_cert;

/* Issue a certificate for `subject_key` (DER appended to `out`), signed by
 * issuer_key; issuer NULL makes it self-signed (the CA). */
bg_err bg_pki_issue(bg_rng *rng, mbedtls_pk_context *subject_key, const mbedtls_x509_crt *issuer,
                    mbedtls_pk_context *issuer_key, const bg_pki_cert *c, bg_buf *out);

/* Check a certificate request: well-formed, an EC P-256 key, signed by that
 * key (the requester holds it). BG_E_VALUE with `why` for a bad request. */
bg_err bg_pki_csr_check(const uint8_t *csr, size_t len, char *why, size_t whylen);

/* bg_pki_csr_check, then issue a certificate for the request's key. */
bg_err bg_pki_sign_csr(bg_rng *rng, const uint8_t *csr, size_t len, const mbedtls_x509_crt *ca,
                       mbedtls_pk_context *ca_key, const bg_pki_cert *c, bg_buf *out, char *why, size_t whylen);

/* The device id and login a device certificate names (CN, OU). BG_E_AUTH when
 * it names none. */
bg_err bg_pki_device_of(const mbedtls_x509_crt *crt, uint64_t *device, char *login, size_t login_len);

#endif /* BG_PKI_H */
