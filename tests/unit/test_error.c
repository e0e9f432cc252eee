/* test_error.c - the error table: unique codes and names, messages, unknown codes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bg_error.h"

static const int codes[] = {
#define X(sym, code, retry, msg) code,
    BG_ERROR_TABLE(X)
#undef X
};
#define NCODES (sizeof codes / sizeof codes[0])

static void codes_and_names_are_unique(void **state) {
  (void)state;
  for (size_t i = 0; i < NCODES; i++) {
    for (size_t j = i + 1; j < NCODES; j++) {
      assert_int_not_equal(codes[i], codes[j]);
      assert_string_not_equal(bg_err_name(codes[i]), bg_err_name(codes[j]));
    }
  }
}

static void every_code_has_a_name_and_a_message(void **state) {
  (void)state;
  for (size_t i = 0; i < NCODES; i++) {
    assert_true(bg_err_known(codes[i]));
    assert_true(strncmp(bg_err_name(codes[i]), "BG_", 3) == 0);
    assert_true(strlen(bg_err_message(codes[i])) > 3);
    /* Codes fit the 16 bits the protocol gives them. */
    assert_true(codes[i] >= 0 && codes[i] <= 0xffff);
  }
}

static void unknown_code_gets_a_generic_name_and_is_not_retryable(void **state) {
  (void)state;
  assert_false(bg_err_known(999));
  assert_string_equal(bg_err_name(999), "BG_E_UNKNOWN_CODE");
  assert_non_null(bg_err_message(-5));
  assert_false(bg_err_retryable(999));
}

static void transport_and_storage_errors_are_retryable_rule_errors_are_not(void **state) {
  (void)state;
  assert_true(bg_err_retryable(BG_E_CONNECTION_LOST));
  assert_true(bg_err_retryable(BG_E_BUSY));
  assert_true(bg_err_retryable(BG_E_SHUTTING_DOWN));
  assert_false(bg_err_retryable(BG_E_PLAN_SIGNED));
  assert_false(bg_err_retryable(BG_E_DEVICE_REVOKED));
  assert_false(bg_err_retryable(BG_E_MALFORMED));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(codes_and_names_are_unique),
      cmocka_unit_test(every_code_has_a_name_and_a_message),
      cmocka_unit_test(unknown_code_gets_a_generic_name_and_is_not_retryable),
      cmocka_unit_test(transport_and_storage_errors_are_retryable_rule_errors_are_not),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
