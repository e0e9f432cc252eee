/*
 * bg_code.c - the enrolment code's text form (bg_code.h).
 */
#include "bg_code.h"

#include <mbedtls/sha256.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define BG__CODE_BYTES (BG_CODE_ID_BYTES + BG_CODE_SECRET_BYTES + BG_CODE_CA_BYTES + 2u)

static const char bg__b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void bg__sha(const uint8_t *p, size_t n, uint8_t out[32]) {
  /* SHA-256 cannot fail on memory input; the _ret form reports only misuse */
  (void)mbedtls_sha256_ret(p, n, out, 0);
}

static void bg__pack(const bg_code *c, uint8_t b[BG__CODE_BYTES]) {
  memcpy(b, c->id, BG_CODE_ID_BYTES);
  memcpy(b + BG_CODE_ID_BYTES, c->secret, BG_CODE_SECRET_BYTES);
  memcpy(b + BG_CODE_ID_BYTES + BG_CODE_SECRET_BYTES, c->ca, BG_CODE_CA_BYTES);
  uint8_t h[32];
  bg__sha(b, BG__CODE_BYTES - 2, h);
  b[BG__CODE_BYTES - 2] = h[0];
  b[BG__CODE_BYTES - 1] = h[1];
}

void bg_code_format(const bg_code *c, char out[BG_CODE_TEXT_LEN + 1]) {
  uint8_t b[BG__CODE_BYTES];
  bg__pack(c, b);
  /* 35 bytes = 280 bits = 56 characters of 5 bits */
  size_t o = 0;
  for (unsigned i = 0; i < 56; i++) {
    unsigned bit = 5 * i, v = 0;
    for (unsigned k = 0; k < 5; k++, bit++) v = v << 1 | ((b[bit / 8] >> (7 - bit % 8)) & 1u);
    if (i > 0 && i % 7 == 0) out[o++] = '-';
    out[o++] = bg__b32[v];
  }
  out[o] = 0;
}

static int bg__b32_value(char ch) {
  if (ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
  if (ch == 'O') ch = '0';
  if (ch == 'I' || ch == 'L') ch = '1';
  const char *p = ch ? strchr(bg__b32, ch) : NULL;
  return p ? (int)(p - bg__b32) : -1;
}

bg_err bg_code_parse(const char *text, bg_code *c) {
  uint8_t b[BG__CODE_BYTES];
  memset(b, 0, sizeof b);
  unsigned bit = 0; /* bits read; each character gives five, most significant first */
  for (const char *p = text; p && *p; p++) {
    if (*p == '-' || *p == ' ') continue;
    int v = bg__b32_value(*p);
    if (v < 0 || bit >= 8 * BG__CODE_BYTES) return BG_E_ENROLL_CODE;
    for (int k = 4; k >= 0; k--, bit++)
      if ((v >> k) & 1) b[bit / 8] |= (uint8_t)(1u << (7 - bit % 8));
  }
  if (bit != 8 * BG__CODE_BYTES) return BG_E_ENROLL_CODE;
  uint8_t h[32];
  bg__sha(b, BG__CODE_BYTES - 2, h);
  if (h[0] != b[BG__CODE_BYTES - 2] || h[1] != b[BG__CODE_BYTES - 1]) return BG_E_ENROLL_CODE;
  memcpy(c->id, b, BG_CODE_ID_BYTES);
  memcpy(c->secret, b + BG_CODE_ID_BYTES, BG_CODE_SECRET_BYTES);
  memcpy(c->ca, b + BG_CODE_ID_BYTES + BG_CODE_SECRET_BYTES, BG_CODE_CA_BYTES);
  return BG_OK;
}

void bg_code_id_hex(const bg_code *c, char out[2 * BG_CODE_ID_BYTES + 1]) {
  static const char hex[] = "0123456789abcdef";
  for (unsigned i = 0; i < BG_CODE_ID_BYTES; i++) {
    out[2 * i] = hex[c->id[i] >> 4];
    out[2 * i + 1] = hex[c->id[i] & 15];
  }
  out[2 * BG_CODE_ID_BYTES] = 0;
}

void bg_code_secret_hash(const bg_code *c, uint8_t out[32]) { bg__sha(c->secret, BG_CODE_SECRET_BYTES, out); }

bool bg_code_ca_matches(const bg_code *c, const uint8_t *der, size_t len) {
  uint8_t h[32];
  bg__sha(der, len, h);
  uint8_t d = 0;
  for (unsigned i = 0; i < BG_CODE_CA_BYTES; i++) d |= (uint8_t)(h[i] ^ c->ca[i]);
  return d == 0;
}
