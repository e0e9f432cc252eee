/*
 * bg_pki.c - keys and certificates (bg_pki.h).
 */
#include "bg_pki.h"

#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/x509_csr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bg_err bg_pki_key_new(bg_rng *rng, mbedtls_pk_context *key) {
  int rc = mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (rc == 0) rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key), bg_rng_random, &rng->drbg);
  return rc == 0 ? BG_OK : BG_E_INTERNAL;
}

bg_err bg_pki_key_pem(mbedtls_pk_context *key, bg_buf *out) {
  unsigned char pem[1024];
  if (mbedtls_pk_write_key_pem(key, pem, sizeof pem) != 0) return BG_E_INTERNAL;
  bg_err e = bg_buf_append(out, pem, strlen((char *)pem) + 1);
  mbedtls_platform_zeroize(pem, sizeof pem);
  return e;
}

bg_err bg_pki_cert_pem(const uint8_t *der, size_t len, bg_buf *out) {
  size_t need = 0;
  (void)mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n", der, len, NULL, 0,
                                 &need);
  bg_err e = bg_buf_reserve(out, need + 1);
  if (e != BG_OK) return e;
  size_t olen = 0;
  if (mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n", der, len,
                               out->data + out->len, need + 1, &olen) != 0)
    return BG_E_INTERNAL;
  out->len += olen; /* olen counts the NUL */
  return BG_OK;
}

/* mbedTLS writes DER at the end of the buffer it is given: move it out. */
static bg_err bg__der_out(int n, const unsigned char *buf, size_t cap, bg_buf *out) {
  if (n < 0) return n == MBEDTLS_ERR_ASN1_BUF_TOO_SMALL ? BG_E_LIMIT : BG_E_INTERNAL;
  return bg_buf_append(out, buf + cap - (size_t)n, (size_t)n);
}

bg_err bg_pki_csr(bg_rng *rng, mbedtls_pk_context *key, const char *subject, bg_buf *out) {
  mbedtls_x509write_csr w;
  mbedtls_x509write_csr_init(&w);
  mbedtls_x509write_csr_set_key(&w, key);
  mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
  bg_err e = mbedtls_x509write_csr_set_subject_name(&w, subject) == 0 ? BG_OK : BG_E_VALUE;
  unsigned char buf[2048];
  if (e == BG_OK) e = bg__der_out(mbedtls_x509write_csr_der(&w, buf, sizeof buf, bg_rng_random, &rng->drbg), buf,
                                  sizeof buf, out);
  mbedtls_x509write_csr_free(&w);
  return e;
}

/* YYYYMMDDhhmmss (UTC) of a time in seconds, from the proleptic Gregorian
 * calendar (portable: no gmtime_r). */
static void bg__x509_time(int64_t t, char out[15]) {
  int64_t days = t / 86400, secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    days--;
  }
  /* days since 1970-01-01 to civil date (Howard Hinnant's algorithm) */
  int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y++;
  snprintf(out, 15, "%04d%02d%02d%02d%02d%02d", (int)y, (int)m, (int)d, (int)(secs / 3600), (int)(secs / 60 % 60),
           (int)(secs % 60));
}

bg_err bg_pki_issue(bg_rng *rng, mbedtls_pk_context *subject_key, const mbedtls_x509_crt *issuer,
                    mbedtls_pk_context *issuer_key, const bg_pki_cert *c, bg_buf *out) {
  mbedtls_x509write_cert w;
  mbedtls_mpi serial;
  mbedtls_x509write_crt_init(&w);
  mbedtls_mpi_init(&serial);
  char nb[15], na[15], issuer_name[256];
  bg__x509_time(c->not_before, nb);
  bg__x509_time(c->not_after, na);
  int rc = 0;
  if (issuer) {
    rc = mbedtls_x509_dn_gets(issuer_name, sizeof issuer_name, &issuer->subject);
    rc = rc < 0 ? rc : 0;
  } else {
    snprintf(issuer_name, sizeof issuer_name, "%s", c->subject);
  }
  mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&w, subject_key);
  mbedtls_x509write_crt_set_issuer_key(&w, issuer_key);
  if (rc == 0) rc = mbedtls_mpi_lset(&serial, 0);
  for (int i = 7; rc == 0 && i >= 0; i--) {
    rc = mbedtls_mpi_shift_l(&serial, 8);
    if (rc == 0) rc = mbedtls_mpi_add_int(&serial, &serial, (mbedtls_mpi_sint)((c->serial >> (8 * i)) & 0xff));
  }
  if (rc == 0) rc = mbedtls_x509write_crt_set_serial(&w, &serial);
  if (rc == 0) rc = mbedtls_x509write_crt_set_validity(&w, nb, na);
  if (rc == 0) rc = mbedtls_x509write_crt_set_subject_name(&w, c->subject);
  if (rc == 0) rc = mbedtls_x509write_crt_set_issuer_name(&w, issuer_name);
  if (rc == 0) rc = mbedtls_x509write_crt_set_basic_constraints(&w, c->ca ? 1 : 0, c->ca ? 0 : -1);
  if (rc == 0) rc = mbedtls_x509write_crt_set_subject_key_identifier(&w);
  if (rc == 0) rc = mbedtls_x509write_crt_set_authority_key_identifier(&w);
  if (rc == 0)
    rc = mbedtls_x509write_crt_set_key_usage(&w, c->ca ? MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN
                                                       : MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
  bg_err e = rc == 0 ? BG_OK : BG_E_VALUE;
  unsigned char buf[4096];
  if (e == BG_OK) e = bg__der_out(mbedtls_x509write_crt_der(&w, buf, sizeof buf, bg_rng_random, &rng->drbg), buf,
                                  sizeof buf, out);
  mbedtls_x509write_crt_free(&w);
  mbedtls_mpi_free(&serial);
  return e;
}

/* Parse and check a request into `csr` (initialised by the caller). */
static bg_err bg__csr_load(mbedtls_x509_csr *csr, const uint8_t *der, size_t len, char *why, size_t whylen) {
  if (mbedtls_x509_csr_parse_der(csr, der, len) != 0) {
    snprintf(why, whylen, "the certificate request is not a DER PKCS#10 request");
    return BG_E_VALUE;
  }
  if (mbedtls_pk_get_type(&csr->pk) != MBEDTLS_PK_ECKEY || mbedtls_pk_ec(csr->pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
    snprintf(why, whylen, "the certificate request's key is not an EC P-256 key");
    return BG_E_VALUE;
  }
  /* proof of possession: the request is signed by the key it carries */
  unsigned char hash[MBEDTLS_MD_MAX_SIZE];
  const mbedtls_md_info_t *md = mbedtls_md_info_from_type(csr->sig_md);
  if (md == NULL || mbedtls_md(md, csr->cri.p, csr->cri.len, hash) != 0 ||
      mbedtls_pk_verify(&csr->pk, csr->sig_md, hash, mbedtls_md_get_size(md), csr->sig.p, csr->sig.len) != 0) {
    snprintf(why, whylen, "the certificate request's signature does not verify");
    return BG_E_VALUE;
  }
  return BG_OK;
}

bg_err bg_pki_csr_check(const uint8_t *der, size_t len, char *why, size_t whylen) {
  mbedtls_x509_csr csr;
  mbedtls_x509_csr_init(&csr);
  bg_err e = bg__csr_load(&csr, der, len, why, whylen);
  mbedtls_x509_csr_free(&csr);
  return e;
}

bg_err bg_pki_sign_csr(bg_rng *rng, const uint8_t *der, size_t len, const mbedtls_x509_crt *ca,
                       mbedtls_pk_context *ca_key, const bg_pki_cert *c, bg_buf *out, char *why, size_t whylen) {
  mbedtls_x509_csr csr;
  mbedtls_x509_csr_init(&csr);
  bg_err e = bg__csr_load(&csr, der, len, why, whylen);
  if (e == BG_OK) e = bg_pki_issue(rng, &csr.pk, ca, ca_key, c, out);
  mbedtls_x509_csr_free(&csr);
  return e;
}

/* The value of the first attribute `oid` in a name. */
static bool bg__name_attr(const mbedtls_x509_name *n, const char *oid, size_t oidlen, char *out, size_t cap) {
  for (; n; n = n->next) {
    if (n->oid.len == oidlen && memcmp(n->oid.p, oid, oidlen) == 0) {
      if (n->val.len + 1 > cap) return false;
      memcpy(out, n->val.p, n->val.len);
      out[n->val.len] = 0;
      return true;
    }
  }
  return false;
}

bg_err bg_pki_device_of(const mbedtls_x509_crt *crt, uint64_t *device, char *login, size_t login_len) {
  char cn[32];
  if (crt == NULL || !bg__name_attr(&crt->subject, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN), cn, sizeof cn) ||
      !bg__name_attr(&crt->subject, MBEDTLS_OID_AT_ORG_UNIT, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORG_UNIT), login, login_len))
    return BG_E_AUTH;
  char *end;
  unsigned long long id = strtoull(cn, &end, 10);
  if (end == cn || *end != 0 || id == 0) return BG_E_AUTH;
  *device = id;
  return BG_OK;
}
