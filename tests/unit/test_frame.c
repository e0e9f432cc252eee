/* test_frame.c - framing: round trips under any chunking, limits, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bg_frame.h"
#include "testrand.h"

/* Feed `n` bytes in chunks of 1..maxchunk (random), collecting frame bodies. */
static bg_err feed_all(bg_fdec *d, const uint8_t *p, size_t n, bg_rand *r, size_t maxchunk,
                       bg_buf *bodies, size_t *count) {
  size_t off = 0;
  while (off < n) {
    size_t chunk = 1 + (size_t)bg_rand_below(r, maxchunk);
    if (chunk > n - off) chunk = n - off;
    size_t done = 0;
    while (done < chunk) {
      size_t used;
      const uint8_t *body;
      size_t blen;
      bg_err e = bg_fdec_feed(d, p + off + done, chunk - done, &used, &body, &blen);
      if (e != BG_OK) return e;
      assert_true(used > 0 || chunk - done == 0);
      done += used;
      if (body) {
        uint8_t hdr[4] = {(uint8_t)(blen >> 24), (uint8_t)(blen >> 16), (uint8_t)(blen >> 8),
                          (uint8_t)blen};
        assert_int_equal(bg_buf_append(bodies, hdr, 4), BG_OK);
        assert_int_equal(bg_buf_append(bodies, body, blen), BG_OK);
        (*count)++;
      }
    }
    off += chunk;
  }
  return BG_OK;
}

static void frames_round_trip_under_any_chunking(void **state) {
  (void)state;
  uint64_t seed = bg_test_seed(20261123);
  bg_rand r = {seed};
  for (int round = 0; round < 300; round++) {
    bg_buf stream = BG_BUF_INIT;
    size_t frames = 1 + (size_t)bg_rand_below(&r, 8);
    for (size_t f = 0; f < frames; f++) {
      size_t len = 1 + (size_t)bg_rand_below(&r, round % 10 == 0 ? 70000 : 300);
      uint8_t *body = malloc(len);
      for (size_t i = 0; i < len; i++) body[i] = (uint8_t)bg_rand_next(&r);
      assert_int_equal(bg_frame_write(&stream, body, len, 0), BG_OK);
      free(body);
    }
    size_t maxchunk = round % 3 == 0 ? 1 : 1 + (size_t)bg_rand_below(&r, 5000);
    bg_fdec d;
    bg_fdec_init(&d, 0);
    bg_buf out = BG_BUF_INIT;
    size_t count = 0;
    bg_err e = feed_all(&d, stream.data, stream.len, &r, maxchunk, &out, &count);
    if (e != BG_OK || count != frames || out.len != stream.len ||
        memcmp(out.data, stream.data, stream.len) != 0)
      BG_REPLAY(seed);
    assert_int_equal(e, BG_OK);
    assert_int_equal(count, frames);
    assert_memory_equal(out.data, stream.data, stream.len);
    assert_false(bg_fdec_partial(&d));
    bg_fdec_free(&d);
    bg_buf_free(&out);
    bg_buf_free(&stream);
  }
}

static void whole_frame_in_one_chunk_is_handed_out_without_copy(void **state) {
  (void)state;
  const uint8_t in[] = {0, 0, 0, 3, 0x81, 0x00, 0x09, 0, 0, 0, 1, 0xc0};
  bg_fdec d;
  bg_fdec_init(&d, 0);
  size_t used, blen;
  const uint8_t *body;
  assert_int_equal(bg_fdec_feed(&d, in, sizeof in, &used, &body, &blen), BG_OK);
  assert_int_equal(used, 7);
  assert_ptr_equal(body, in + 4);
  assert_int_equal(blen, 3);
  assert_int_equal(bg_fdec_feed(&d, in + 7, sizeof in - 7, &used, &body, &blen), BG_OK);
  assert_int_equal(used, 5);
  assert_ptr_equal(body, in + 11);
  assert_int_equal(d.body.cap, 0); /* never allocated */
  bg_fdec_free(&d);
}

static void zero_length_frame_is_refused(void **state) {
  (void)state;
  const uint8_t in[] = {0, 0, 0, 0};
  bg_fdec d;
  bg_fdec_init(&d, 0);
  size_t used, blen;
  const uint8_t *body;
  assert_int_equal(bg_fdec_feed(&d, in, 4, &used, &body, &blen), BG_E_FRAME_EMPTY);
  assert_null(body);
  bg_fdec_free(&d);
}

static void oversize_frame_is_refused_on_its_header_without_allocating(void **state) {
  (void)state;
  const uint8_t in[] = {0x00, 0x40, 0x00, 0x01, 0xaa};
  bg_fdec d;
  bg_fdec_init(&d, 0);
  size_t used, blen;
  const uint8_t *body;
  assert_int_equal(bg_fdec_feed(&d, in, sizeof in, &used, &body, &blen), BG_E_FRAME_TOO_LARGE);
  assert_int_equal(d.body.cap, 0);
  bg_fdec_free(&d);

  /* A connection may agree on a smaller maximum. */
  const uint8_t small[] = {0, 0, 0x04, 0x01};
  bg_fdec_init(&d, 1024);
  assert_int_equal(bg_fdec_feed(&d, small, 4, &used, &body, &blen), BG_E_FRAME_TOO_LARGE);
  bg_fdec_free(&d);
}

static void exactly_max_size_frame_is_accepted(void **state) {
  (void)state;
  bg_buf s = BG_BUF_INIT;
  uint8_t *body = calloc(1, BG_FRAME_MAX + 1u);
  assert_int_equal(bg_frame_write(&s, body, BG_FRAME_MAX, 0), BG_OK);
  assert_int_equal(bg_frame_write(&s, body, BG_FRAME_MAX + 1u, 0), BG_E_FRAME_TOO_LARGE);
  assert_int_equal(s.len, BG_FRAME_MAX + 4u);
  bg_fdec d;
  bg_fdec_init(&d, 0);
  size_t used, blen;
  const uint8_t *out;
  assert_int_equal(bg_fdec_feed(&d, s.data, 10, &used, &out, &blen), BG_OK);
  assert_null(out);
  assert_int_equal(bg_fdec_feed(&d, s.data + 10, s.len - 10, &used, &out, &blen), BG_OK);
  assert_non_null(out);
  assert_int_equal(blen, BG_FRAME_MAX);
  free(body);
  bg_fdec_free(&d);
  bg_buf_free(&s);
}

static void memory_follows_arrived_bytes_not_claimed_length(void **state) {
  (void)state;
  uint8_t in[14] = {0x00, 0x40, 0x00, 0x00}; /* claims exactly 4 MiB */
  bg_fdec d;
  bg_fdec_init(&d, 0);
  size_t used, blen;
  const uint8_t *body;
  assert_int_equal(bg_fdec_feed(&d, in, sizeof in, &used, &body, &blen), BG_OK);
  assert_null(body);
  assert_true(bg_fdec_partial(&d));
  assert_true(d.body.cap <= 1024);
  bg_fdec_free(&d);
}

static void decoder_errors_are_sticky(void **state) {
  (void)state;
  const uint8_t bad[] = {0, 0, 0, 0};
  const uint8_t good[] = {0, 0, 0, 1, 0xc0};
  bg_fdec d;
  bg_fdec_init(&d, 0);
  size_t used, blen;
  const uint8_t *body;
  assert_int_equal(bg_fdec_feed(&d, bad, 4, &used, &body, &blen), BG_E_FRAME_EMPTY);
  assert_int_equal(bg_fdec_feed(&d, good, 5, &used, &body, &blen), BG_E_FRAME_EMPTY);
  assert_int_equal(used, 0);
  bg_fdec_free(&d);
}

static void failed_frame_end_leaves_no_half_frame_in_buffer(void **state) {
  (void)state;
  bg_buf b = BG_BUF_INIT;
  assert_int_equal(bg_frame_write(&b, (const uint8_t *)"abc", 3, 0), BG_OK);
  size_t before = b.len, mark;
  assert_int_equal(bg_frame_begin(&b, &mark), BG_OK);
  assert_int_equal(bg_frame_end(&b, mark, 0), BG_E_FRAME_EMPTY);
  assert_int_equal(b.len, before);
  assert_int_equal(bg_frame_begin(&b, &mark), BG_OK);
  assert_int_equal(bg_buf_append(&b, "0123456789", 10), BG_OK);
  assert_int_equal(bg_frame_end(&b, mark, 9), BG_E_FRAME_TOO_LARGE);
  assert_int_equal(b.len, before);
  bg_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(frames_round_trip_under_any_chunking),
      cmocka_unit_test(whole_frame_in_one_chunk_is_handed_out_without_copy),
      cmocka_unit_test(zero_length_frame_is_refused),
      cmocka_unit_test(oversize_frame_is_refused_on_its_header_without_allocating),
      cmocka_unit_test(exactly_max_size_frame_is_accepted),
      cmocka_unit_test(memory_follows_arrived_bytes_not_claimed_length),
      cmocka_unit_test(decoder_errors_are_sticky),
      cmocka_unit_test(failed_frame_end_leaves_no_half_frame_in_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
