/*
 * fuzz_check.h - what every fuzz target asserts about one frame body.
 *
 * A body either decodes, or is refused with a code this build knows. What
 * decodes must re-encode (the encoder accepts everything the decoder accepts),
 * and re-encoding is a fixed point: decode(encode(m)) encodes to the same bytes.
 * A crash, a leak, an abort or undefined behaviour is the failure libFuzzer
 * reports, together with the input that caused it.
 */
#ifndef BG_FUZZ_CHECK_H
#define BG_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_msg.h"

static void bg_fuzz_die(const char *what, bg_err e) {
  fprintf(stderr, "fuzz invariant broken: %s (%s)\n", what, bg_err_name(e));
  abort();
}

static void bg_fuzz_check_body(const uint8_t *body, size_t len) {
  bg_msg m;
  bg_msg_why why;
  bg_err e = bg_msg_decode(body, len, &m, &why);
  if (e != BG_OK) {
    if (!bg_err_known(e) || e == BG_E_INTERNAL) bg_fuzz_die("decode returned an unknown code", e);
    return;
  }
  bg_buf a = BG_BUF_INIT, b = BG_BUF_INIT;
  e = bg_msg_encode(&m, &a);
  if (e != BG_OK) bg_fuzz_die("a decoded message does not re-encode", e);
  if (a.len > len) bg_fuzz_die("canonical encoding longer than the input", BG_OK);
  bg_msg m2;
  e = bg_msg_decode(a.data, a.len, &m2, &why);
  if (e != BG_OK) bg_fuzz_die("a canonical encoding does not decode", e);
  e = bg_msg_encode(&m2, &b);
  if (e != BG_OK || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
    bg_fuzz_die("re-encoding is not a fixed point", e);
  bg_msg_free(&m2);
  bg_msg_free(&m);
  bg_buf_free(&a);
  bg_buf_free(&b);
}

#endif /* BG_FUZZ_CHECK_H */
