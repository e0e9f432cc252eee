/*
 * test_code.c - the enrolment code's text form: it round-trips, reads as a
 * person may type it, fits a protocol id, and a mistyped character is caught.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ctype.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "bg_code.h"
#include "bg_msg.h"
#include "testrand.h"

static void random_code(bg_rand *r, bg_code *c) {
  uint8_t *p = (uint8_t *)c;
  for (size_t i = 0; i < sizeof *c; i++) p[i] = (uint8_t)bg_rand_next(r);
}

static void codes_round_trip_and_read_as_typed(void **state) {
  (void)state;
  uint64_t seed = bg_test_seed(31);
  bg_rand r = {seed};
  for (int i = 0; i < 2000; i++) {
    bg_code c, d;
    random_code(&r, &c);
    char text[BG_CODE_TEXT_LEN + 1];
    bg_code_format(&c, text);
    assert_int_equal(strlen(text), BG_CODE_TEXT_LEN);
    assert_true(strlen(text) <= BG_ID_MAX);
    assert_int_equal(bg_code_parse(text, &d), BG_OK);
    assert_memory_equal(&c, &d, sizeof c);
    /* lower case, dashes dropped, spaces instead, O for 0 and l for 1 */
    char typed[2 * BG_CODE_TEXT_LEN];
    size_t o = 0;
    for (const char *p = text; *p; p++) {
      if (*p == '-') {
        if (i % 2) typed[o++] = ' ';
        continue;
      }
      char ch = (char)tolower((unsigned char)*p);
      if (ch == '0') ch = 'o';
      if (ch == '1') ch = 'l';
      typed[o++] = ch;
    }
    typed[o] = 0;
    assert_int_equal(bg_code_parse(typed, &d), BG_OK);
    assert_memory_equal(&c, &d, sizeof c);
  }
}

static void a_mistyped_code_is_refused(void **state) {
  (void)state;
  uint64_t seed = bg_test_seed(37);
  bg_rand r = {seed};
  static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  int caught = 0, tries = 3000;
  for (int i = 0; i < tries; i++) {
    bg_code c, d;
    random_code(&r, &c);
    char text[BG_CODE_TEXT_LEN + 1];
    bg_code_format(&c, text);
    size_t at;
    do at = (size_t)bg_rand_below(&r, BG_CODE_TEXT_LEN); while (text[at] == '-');
    char was = text[at];
    do text[at] = alphabet[bg_rand_below(&r, 32)]; while (text[at] == was);
    caught += bg_code_parse(text, &d) == BG_E_ENROLL_CODE;
  }
  /* 16 check bits: all but about 1 in 65,536 single-character typos are caught */
  assert_true(caught >= tries - 2);
  bg_code d;
  assert_int_equal(bg_code_parse("", &d), BG_E_ENROLL_CODE);
  assert_int_equal(bg_code_parse("ABC", &d), BG_E_ENROLL_CODE);
  assert_int_equal(bg_code_parse("U000000-0000000-0000000-0000000-0000000-0000000-0000000-0000000", &d),
                   BG_E_ENROLL_CODE); /* U is not in the alphabet */
  char longer[BG_CODE_TEXT_LEN + 3];
  bg_code c = {{1}, {2}, {3}};
  bg_code_format(&c, longer);
  strcat(longer, "0");
  assert_int_equal(bg_code_parse(longer, &d), BG_E_ENROLL_CODE);
}

static void the_code_names_its_ca(void **state) {
  (void)state;
  const uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x07};
  uint8_t h[32];
  bg_code c = {{0}, {0}, {0}};
  /* the fingerprint is the start of SHA-256 over the DER bytes */
  bg_code probe = c;
  assert_false(bg_code_ca_matches(&probe, der, sizeof der));
  bg_code_secret_hash(&c, h); /* any hash; set ca from a real one below */
  assert_int_equal(mbedtls_sha256_ret(der, sizeof der, h, 0), 0);
  memcpy(c.ca, h, BG_CODE_CA_BYTES);
  assert_true(bg_code_ca_matches(&c, der, sizeof der));
  char hex[2 * BG_CODE_ID_BYTES + 1];
  c.id[0] = 0xab;
  c.id[4] = 0x01;
  bg_code_id_hex(&c, hex);
  assert_string_equal(hex, "ab00000001");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(codes_round_trip_and_read_as_typed),
      cmocka_unit_test(a_mistyped_code_is_refused),
      cmocka_unit_test(the_code_names_its_ca),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
