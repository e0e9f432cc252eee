/*
 * bg_code.h - the one-time enrolment code, as the office prints it and a new
 * device reads it (docs/PROTOCOL.md, section 6e).
 *
 * A code carries three things:
 *   id      5 bytes   names the code in the server's store
 *   secret  12 bytes  proves the holder got it from the office (the server
 *                     keeps only its SHA-256)
 *   ca      16 bytes  the first half of the SHA-256 fingerprint of the
 *                     organisation CA's DER certificate: the device accepts the
 *                     enrolment connection only from a server whose chain ends
 *                     at that CA - no trust on first use
 * then 2 check bytes (the start of SHA-256 over the 33 before), so a mistyped
 * code is caught on the device, before any connection. The 35 bytes are written
 * in Crockford's base32 (no I, L, O, U; reading is case-insensitive and takes O
 * for 0, I and L for 1) as 8 groups of 7 characters joined by '-': 63
 * characters, within BG_ID_MAX.
 */
#ifndef BG_CODE_H
#define BG_CODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_error.h"

#define BG_CODE_ID_BYTES 5u
#define BG_CODE_SECRET_BYTES 12u
#define BG_CODE_CA_BYTES 16u
#define BG_CODE_TEXT_LEN 63u /* characters, without the terminating NUL */

typedef struct bg_code {
  uint8_t id[BG_CODE_ID_BYTES];
  uint8_t secret[BG_CODE_SECRET_BYTES];
  uint8_t ca[BG_CODE_CA_BYTES];
} bg_code;

/* The printed form: BG_CODE_TEXT_LEN characters and a NUL. */
void bg_code_format(const bg_code *c, char out[BG_CODE_TEXT_LEN + 1]);

/* Read a code as typed or pasted (spaces and dashes anywhere are ignored).
 * BG_E_ENROLL_CODE when it is not a code or its check bytes do not match. */
bg_err bg_code_parse(const char *text, bg_code *c);

/* The id as 10 lowercase hex digits (how the store names the code). */
void bg_code_id_hex(const bg_code *c, char out[2 * BG_CODE_ID_BYTES + 1]);

/* SHA-256 of the secret (what the store keeps). */
void bg_code_secret_hash(const bg_code *c, uint8_t out[32]);

/* Whether a CA certificate (DER) is the one the code names. */
bool bg_code_ca_matches(const bg_code *c, const uint8_t *der, size_t len);

#endif /* BG_CODE_H */
