/*
 * test_vectors.c - the golden vectors in tests/vectors: every canonical frame
 * decodes and re-encodes to the same bytes, whether fed whole or byte by byte;
 * every malformed frame is refused with its documented code; every message type
 * has a canonical vector.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "bg_frame.h"
#include "bg_msg.h"
#include "vectorfile.h"

/* Decode a whole vector through the frame decoder in chunks of `chunk` bytes.
 * Returns the first error; on success exactly one frame must fill the bytes
 * and *out holds the re-encoded frame. */
static bg_err run(const bg_vector *v, size_t chunk, bg_msg_type *type, bg_buf *out) {
  bg_fdec d;
  bg_fdec_init(&d, 0);
  bg_err e = BG_OK;
  int frames = 0;
  for (size_t off = 0; off < v->len && e == BG_OK;) {
    size_t n = v->len - off < chunk ? v->len - off : chunk;
    size_t used;
    const uint8_t *body;
    size_t blen;
    e = bg_fdec_feed(&d, v->bytes + off, n, &used, &body, &blen);
    off += used;
    if (e == BG_OK && body != NULL) {
      frames++;
      bg_msg m;
      e = bg_msg_decode(body, blen, &m, NULL);
      if (e == BG_OK) {
        *type = m.type;
        e = bg_msg_encode_frame(&m, out, 0);
        bg_msg_free(&m);
      }
    }
  }
  if (e == BG_OK && (frames != 1 || bg_fdec_partial(&d))) e = BG_E_TRUNCATED;
  bg_fdec_free(&d);
  return e;
}

static void check_vector(const bg_vector *v, size_t chunk) {
  bg_buf out = BG_BUF_INIT;
  bg_msg_type type = 0;
  bg_err e = run(v, chunk, &type, &out);
  if (v->expect == BG_EXPECT_ERROR) {
    if (strcmp(bg_err_name(e), v->what) != 0)
      fail_msg("%s (chunk %zu): expected %s, got %s", v->name, chunk, v->what, bg_err_name(e));
  } else {
    if (e != BG_OK) fail_msg("%s (chunk %zu): %s", v->name, chunk, bg_err_name(e));
    if (strcmp(bg_msg_type_name((int)type), v->what) != 0)
      fail_msg("%s: decoded as %s, expected %s", v->name, bg_msg_type_name((int)type), v->what);
    if (v->expect == BG_EXPECT_OK && (out.len != v->len || memcmp(out.data, v->bytes, v->len) != 0))
      fail_msg("%s: re-encoding differs from the vector (%zu vs %zu bytes)", v->name, out.len, v->len);
    if (v->expect == BG_EXPECT_ACCEPT && out.len == v->len && memcmp(out.data, v->bytes, v->len) == 0)
      fail_msg("%s: marked 'accept' but is canonical: mark it 'ok'", v->name);
  }
  bg_buf_free(&out);
}

static void golden_vectors_decode_and_reencode_byte_for_byte(void **state) {
  (void)state;
  char **names;
  int n = bg_vector_names(BG_VECTOR_DIR, &names);
  assert_true(n >= 40);
  bool covered[BG_MSG_TYPE_MAX + 1] = {false};
  int errors = 0;
  for (int i = 0; i < n; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", BG_VECTOR_DIR, names[i]);
    bg_vector v;
    assert_int_equal(bg_vector_load(path, &v), 0);
    check_vector(&v, v.len); /* whole */
    check_vector(&v, 1);     /* byte by byte */
    check_vector(&v, 3);
    if (v.expect == BG_EXPECT_OK) {
      for (int t = 1; t <= BG_MSG_TYPE_MAX; t++)
        if (strcmp(bg_msg_type_name(t), v.what) == 0) covered[t] = true;
    } else if (v.expect == BG_EXPECT_ERROR) {
      errors++;
    }
    bg_vector_free(&v);
  }
  for (int t = 1; t <= BG_MSG_TYPE_MAX; t++)
    if (!covered[t]) fail_msg("no canonical vector for %s", bg_msg_type_name(t));
  assert_true(errors >= 20);
  bg_vector_names_free(names, n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(golden_vectors_decode_and_reencode_byte_for_byte),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
