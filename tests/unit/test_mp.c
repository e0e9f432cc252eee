/*
 * test_mp.c - the hostile-input scan: it accepts exactly the well-formed values
 * msgpack-c accepts (within our bounds), refuses every lie about a length before
 * anything is allocated; the writer produces msgpack-c's bytes and the stored-
 * value cursor reads them back; and UTF-8 validation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bg_mp.h"
#include "testrand.h"

/* Pack a random value of bounded depth. */
static void pack_random(msgpack_packer *pk, bg_rand *r, int depth) {
  unsigned kind = (unsigned)bg_rand_below(r, depth > 0 ? 10 : 7);
  switch (kind) {
    case 0: msgpack_pack_nil(pk); break;
    case 1: msgpack_pack_true(pk); break;
    case 2: msgpack_pack_uint64(pk, bg_rand_next(r) >> bg_rand_below(r, 64)); break;
    case 3: msgpack_pack_int64(pk, -(int64_t)(bg_rand_next(r) >> (1 + bg_rand_below(r, 63)))); break;
    case 4: {
      /* Now and then a string long enough for a str16/str32 header. */
      size_t n = (size_t)bg_rand_below(r, depth >= 4 && bg_rand_below(r, 7) == 0 ? 70000 : 40);
      char *s = malloc(n + 1);
      for (size_t i = 0; i < n; i++) s[i] = (char)('a' + i % 26);
      msgpack_pack_str_with_body(pk, s, n);
      free(s);
      break;
    }
    case 5: msgpack_pack_bin_with_body(pk, "\x00\xff\x10", 3); break;
    case 6: msgpack_pack_double(pk, 1.5); break;
    case 7: case 8: {
      size_t n = (size_t)bg_rand_below(r, 20);
      msgpack_pack_array(pk, n);
      for (size_t i = 0; i < n; i++) pack_random(pk, r, depth - 1);
      break;
    }
    default: {
      size_t n = (size_t)bg_rand_below(r, 10);
      msgpack_pack_map(pk, n);
      for (size_t i = 0; i < 2 * n; i++) pack_random(pk, r, depth - 1);
      break;
    }
  }
}

/* A random value packed by msgpack-c, appended to b. */
static void pack_to_buf(bg_buf *b, bg_rand *r, int depth) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  pack_random(&pk, r, depth);
  assert_int_equal(bg_buf_append(b, sb.data, sb.size), BG_OK);
  msgpack_sbuffer_destroy(&sb);
}

/* Under AddressSanitizer: let a huge allocation fail instead of aborting. The
 * comparison below hands msgpack-c unvetted input on purpose, and msgpack-c asks
 * for memory in proportion to the element counts the bytes claim - the very
 * reason bg_mp_check runs before it in the product. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* msgpack-c's verdict on a whole buffer: one value, nothing after it. */
static bool msgpack_c_accepts(const uint8_t *p, size_t len) {
  msgpack_zone *z = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
  msgpack_object o;
  size_t off = 0;
  msgpack_unpack_return r = msgpack_unpack((const char *)p, len, &off, z, &o);
  msgpack_zone_free(z);
  return r == MSGPACK_UNPACK_SUCCESS && off == len;
}

static void valid_values_pass_and_every_prefix_is_truncated(void **state) {
  (void)state;
  uint64_t seed = bg_test_seed(7);
  bg_rand r = {seed};
  for (int round = 0; round < 400; round++) {
    bg_buf b = BG_BUF_INIT;
    pack_to_buf(&b, &r, 5);
    if (bg_mp_check(b.data, b.len) != BG_OK) BG_REPLAY(seed);
    assert_int_equal(bg_mp_check(b.data, b.len), BG_OK);
    /* MessagePack is prefix-free: no proper prefix is a whole value. */
    size_t step = b.len > 2000 ? b.len / 500 : 1;
    for (size_t cut = 1; cut < b.len; cut += step) {
      if (bg_mp_check(b.data, cut) != BG_E_TRUNCATED) BG_REPLAY(seed);
      assert_int_equal(bg_mp_check(b.data, cut), BG_E_TRUNCATED);
    }
    assert_int_equal(bg_buf_append(&b, "\xc0", 1), BG_OK);
    assert_int_equal(bg_mp_check(b.data, b.len), BG_E_TRAILING_BYTES);
    bg_buf_free(&b);
  }
}

static void scan_agrees_with_msgpack_c_on_mutated_input(void **state) {
  (void)state;
  uint64_t seed = bg_test_seed(11);
  bg_rand r = {seed};
  for (int round = 0; round < 20000; round++) {
    bg_buf b = BG_BUF_INIT;
    pack_to_buf(&b, &r, 3);
    if (b.len > 4096) {
      bg_buf_free(&b);
      continue;
    }
    int flips = 1 + (int)bg_rand_below(&r, 3);
    for (int i = 0; i < flips; i++) {
      /* No array32/map32 headers: for those msgpack-c would really allocate
       * gigabytes for the claimed count (the hazard the scan exists for; the
       * claims test covers them without msgpack-c). */
      uint8_t v;
      do v = (uint8_t)bg_rand_next(&r); while (v == 0xdd || v == 0xdf);
      b.data[bg_rand_below(&r, b.len)] = v;
    }
    bg_err e = bg_mp_check(b.data, b.len);
    /* Whatever the scan accepts, msgpack-c parses whole; whatever msgpack-c
     * parses whole, the scan accepts unless it breaks one of our bounds. */
    bool theirs = msgpack_c_accepts(b.data, b.len);
    if ((e == BG_OK) != theirs && !(e == BG_E_TOO_DEEP || e == BG_E_TOO_MANY_OBJECTS)) {
      BG_REPLAY(seed);
      fail_msg("round %d: scan %s, msgpack-c %s", round, bg_err_name(e), theirs ? "ok" : "refuses");
    }
    bg_buf_free(&b);
  }
}

static void claimed_counts_beyond_the_bytes_left_are_refused(void **state) {
  (void)state;
  const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
  const uint8_t map16[] = {0xde, 0x00, 0x03, 0x01, 0x02, 0x03, 0x04, 0x05};
  const uint8_t str32[] = {0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'};
  const uint8_t bin8[] = {0xc4, 0x05, 1, 2};
  const uint8_t ext32[] = {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01};
  const uint8_t u64[] = {0xcf, 0, 0, 0};
  const uint8_t arr16_hdr[] = {0xdc, 0x00};
  assert_int_equal(bg_mp_check(arr32, sizeof arr32), BG_E_TRUNCATED);
  assert_int_equal(bg_mp_check(map16, sizeof map16), BG_E_TRUNCATED);
  assert_int_equal(bg_mp_check(str32, sizeof str32), BG_E_TRUNCATED);
  assert_int_equal(bg_mp_check(bin8, sizeof bin8), BG_E_TRUNCATED);
  assert_int_equal(bg_mp_check(ext32, sizeof ext32), BG_E_TRUNCATED);
  assert_int_equal(bg_mp_check(u64, sizeof u64), BG_E_TRUNCATED);
  assert_int_equal(bg_mp_check(arr16_hdr, sizeof arr16_hdr), BG_E_TRUNCATED);
  assert_int_equal(bg_mp_check(NULL, 0), BG_E_MALFORMED);
  const uint8_t c1[] = {0x91, 0xc1};
  assert_int_equal(bg_mp_check(c1, sizeof c1), BG_E_MALFORMED);
}

static void nesting_is_bounded_at_the_specified_depth(void **state) {
  (void)state;
  uint8_t b[BG_MP_MAX_DEPTH + 2];
  memset(b, 0x91, sizeof b);
  b[BG_MP_MAX_DEPTH - 1] = 0x90; /* exactly BG_MP_MAX_DEPTH arrays */
  assert_int_equal(bg_mp_check(b, BG_MP_MAX_DEPTH), BG_OK);
  memset(b, 0x91, sizeof b);
  b[BG_MP_MAX_DEPTH] = 0x90; /* one more */
  assert_int_equal(bg_mp_check(b, BG_MP_MAX_DEPTH + 1), BG_E_TOO_DEEP);
  /* Maps count as nesting too. */
  uint8_t m[2 * BG_MP_MAX_DEPTH + 3];
  size_t n = 0;
  for (unsigned i = 0; i <= BG_MP_MAX_DEPTH; i++) {
    m[n++] = 0x81;
    m[n++] = 0x00;
  }
  m[n++] = 0xc0;
  assert_int_equal(bg_mp_check(m, n), BG_E_TOO_DEEP);
}

static void value_count_is_bounded(void **state) {
  (void)state;
  /* An array32 of nils: the array plus its elements are the values. */
  size_t elems = BG_MP_MAX_OBJECTS - 1;
  uint8_t *b = malloc(5 + elems + 1);
  b[0] = 0xdd;
  b[1] = (uint8_t)(elems >> 24);
  b[2] = (uint8_t)(elems >> 16);
  b[3] = (uint8_t)(elems >> 8);
  b[4] = (uint8_t)elems;
  memset(b + 5, 0xc0, elems + 1);
  assert_int_equal(bg_mp_check(b, 5 + elems), BG_OK);
  elems++;
  b[1] = (uint8_t)(elems >> 24);
  b[2] = (uint8_t)(elems >> 16);
  b[3] = (uint8_t)(elems >> 8);
  b[4] = (uint8_t)elems;
  assert_int_equal(bg_mp_check(b, 5 + elems), BG_E_TOO_MANY_OBJECTS);
  free(b);
}

static void utf8_validation_follows_the_standard(void **state) {
  (void)state;
  assert_true(bg_utf8_valid("", 0));
  assert_true(bg_utf8_valid("financi\xc3\xabn", 10));
  assert_true(bg_utf8_valid("\xe2\x82\xac", 3));          /* euro sign */
  assert_true(bg_utf8_valid("\xf0\x9f\x98\x80", 4));      /* emoji */
  assert_true(bg_utf8_valid("\xf4\x8f\xbf\xbf", 4));      /* U+10FFFF */
  assert_false(bg_utf8_valid("\xc0\xaf", 2));             /* overlong '/' */
  assert_false(bg_utf8_valid("\xe0\x80\xaf", 3));         /* overlong */
  assert_false(bg_utf8_valid("\xed\xa0\x80", 3));         /* surrogate */
  assert_false(bg_utf8_valid("\xf4\x90\x80\x80", 4));     /* > U+10FFFF */
  assert_false(bg_utf8_valid("\xe2\x82", 2));             /* cut short */
  assert_false(bg_utf8_valid("\x80", 1));                 /* lone continuation */
  assert_false(bg_utf8_valid("\xff", 1));
  assert_true(bg_utf8_valid("a\0b", 3));                  /* NUL is a character */
}

/* A number near a boundary of the encodings: 2^k - 1, 2^k, 2^k + 1, or any. */
static uint64_t edge_number(bg_rand *r) {
  unsigned k = (unsigned)bg_rand_below(r, 64);
  switch (bg_rand_below(r, 4)) {
    case 0: return (UINT64_C(1) << k) - 1;
    case 1: return UINT64_C(1) << k;
    case 2: return (UINT64_C(1) << k) + 1;
    default: return bg_rand_next(r) >> k;
  }
}

static void writer_produces_msgpack_c_bytes(void **state) {
  (void)state;
  uint64_t seed = bg_test_seed(13);
  bg_rand r = {seed};
  static char body[70000];
  memset(body, 'x', sizeof body);
  for (int round = 0; round < 20000; round++) {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    bg_buf b = BG_BUF_INIT;
    bg_mp_out o;
    bg_mp_out_init(&o, &b);
    for (int i = 0; i < 8; i++) {
      uint64_t u = edge_number(&r);
      /* lengths up to 70000 reach the 32-bit headers of str, bin, array, map */
      uint32_t n = (uint32_t)(edge_number(&r) % (bg_rand_below(&r, 8) ? 300 : 70000));
      switch (bg_rand_below(&r, 8)) {
        case 0: msgpack_pack_nil(&pk); bg_mp_put_nil(&o); break;
        case 1:
          if (u & 1) msgpack_pack_true(&pk); else msgpack_pack_false(&pk);
          bg_mp_put_bool(&o, u & 1);
          break;
        case 2: msgpack_pack_uint64(&pk, u); bg_mp_put_uint(&o, u); break;
        case 3: {
          int64_t v = u >> 63 ? (int64_t)u : -(int64_t)u;
          msgpack_pack_int64(&pk, v);
          bg_mp_put_int(&o, v);
          break;
        }
        case 4: msgpack_pack_array(&pk, n); bg_mp_put_array(&o, n); break;
        case 5: msgpack_pack_map(&pk, n); bg_mp_put_map(&o, n); break;
        case 6: msgpack_pack_str_with_body(&pk, body, n); bg_mp_put_str(&o, body, n); break;
        default: msgpack_pack_bin_with_body(&pk, body, n); bg_mp_put_bin(&o, body, n); break;
      }
    }
    assert_int_equal(o.err, BG_OK);
    if (b.len != sb.size || memcmp(b.data, sb.data, b.len) != 0) BG_REPLAY(seed);
    assert_memory_equal(b.data, sb.data, b.len);
    msgpack_sbuffer_destroy(&sb);
    bg_buf_free(&b);
  }
}

static void writer_keeps_its_first_error(void **state) {
  (void)state;
  bg_buf b;
  bg_buf_init(&b, 4);
  bg_mp_out o;
  bg_mp_out_init(&o, &b);
  bg_mp_put_uint(&o, 1);
  bg_mp_put_str(&o, "hello", 5); /* 6 bytes: past the limit, none written */
  bg_mp_put_uint(&o, 2);         /* ignored after the failure */
  assert_int_equal(o.err, BG_E_LIMIT);
  assert_int_equal(b.len, 1);
  bg_buf_free(&b);
}

static void cursor_reads_what_the_writer_wrote_and_refuses_damage(void **state) {
  (void)state;
  uint64_t seed = bg_test_seed(17);
  bg_rand r = {seed};
  for (int round = 0; round < 5000; round++) {
    bg_buf b = BG_BUF_INIT;
    bg_mp_out o;
    bg_mp_out_init(&o, &b);
    uint64_t u[3] = {edge_number(&r), edge_number(&r), edge_number(&r)};
    uint32_t n = (uint32_t)(edge_number(&r) % 70000);
    static uint8_t body[70000];
    bg_mp_put_array(&o, 5);
    for (int i = 0; i < 3; i++) bg_mp_put_uint(&o, u[i]);
    uint32_t sn = (uint32_t)(u[0] % 70000);
    bg_mp_put_str(&o, body, sn);
    bg_mp_put_bin(&o, body, n);
    assert_int_equal(o.err, BG_OK);

    bg_mp_in in;
    uint32_t size, len;
    uint64_t v;
    const uint8_t *p;
    bg_mp_in_init(&in, b.data, b.len);
    assert_true(bg_mp_read_array(&in, &size));
    assert_int_equal(size, 5);
    for (int i = 0; i < 3; i++) {
      assert_true(bg_mp_read_uint(&in, &v));
      assert_true(v == u[i]);
    }
    assert_true(bg_mp_read_str(&in, &p, &len));
    assert_int_equal(len, sn);
    assert_true(bg_mp_read_bin(&in, &p, &len));
    assert_int_equal(len, n);
    assert_ptr_equal(p, b.data + b.len - n);
    assert_true(bg_mp_in_done(&in));

    /* Any cut: some read fails, and no read goes past the bytes given. */
    size_t cut = (size_t)bg_rand_below(&r, b.len);
    uint8_t *copy = malloc(cut ? cut : 1);
    memcpy(copy, b.data, cut);
    bg_mp_in_init(&in, copy, cut);
    bool ok = bg_mp_read_array(&in, &size);
    for (int i = 0; i < 3; i++) ok = bg_mp_read_uint(&in, &v) && ok;
    ok = bg_mp_read_str(&in, &p, &len) && ok;
    ok = bg_mp_read_bin(&in, &p, &len) && ok;
    if (ok || bg_mp_in_done(&in)) BG_REPLAY(seed);
    assert_false(ok);
    free(copy);
    /* The wrong type where a number or an array is expected. */
    bg_mp_in_init(&in, b.data, b.len);
    assert_false(bg_mp_read_uint(&in, &v));
    assert_false(bg_mp_read_array(&in, &size)); /* stays failed */
    bg_mp_in_init(&in, b.data, b.len);
    assert_false(bg_mp_read_str(&in, &p, &len));
    bg_buf_free(&b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(valid_values_pass_and_every_prefix_is_truncated),
      cmocka_unit_test(scan_agrees_with_msgpack_c_on_mutated_input),
      cmocka_unit_test(claimed_counts_beyond_the_bytes_left_are_refused),
      cmocka_unit_test(nesting_is_bounded_at_the_specified_depth),
      cmocka_unit_test(value_count_is_bounded),
      cmocka_unit_test(utf8_validation_follows_the_standard),
      cmocka_unit_test(writer_produces_msgpack_c_bytes),
      cmocka_unit_test(writer_keeps_its_first_error),
      cmocka_unit_test(cursor_reads_what_the_writer_wrote_and_refuses_damage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
