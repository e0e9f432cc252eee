/* test_buf.c - the growable buffer: growth, limit, consume. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bg_buf.h"

static void appends_accumulate_and_consume_shifts(void **state) {
  (void)state;
  bg_buf b = BG_BUF_INIT;
  for (int i = 0; i < 1000; i++) assert_int_equal(bg_buf_append(&b, "abcd", 4), BG_OK);
  assert_int_equal(b.len, 4000);
  assert_true(b.cap >= 4000);
  bg_buf_consume(&b, 3998);
  assert_int_equal(b.len, 2);
  assert_memory_equal(b.data, "cd", 2);
  bg_buf_reset(&b);
  assert_int_equal(b.len, 0);
  bg_buf_free(&b);
  assert_null(b.data);
}

static void limit_refuses_growth_and_leaves_buffer_unchanged(void **state) {
  (void)state;
  bg_buf b;
  bg_buf_init(&b, 10);
  assert_int_equal(bg_buf_append(&b, "0123456789", 10), BG_OK);
  assert_int_equal(bg_buf_append(&b, "x", 1), BG_E_LIMIT);
  assert_int_equal(b.len, 10);
  assert_true(b.cap <= 10);
  assert_int_equal(bg_buf_reserve(&b, SIZE_MAX), BG_E_LIMIT);
  bg_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(appends_accumulate_and_consume_shifts),
      cmocka_unit_test(limit_refuses_growth_and_leaves_buffer_unchanged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
