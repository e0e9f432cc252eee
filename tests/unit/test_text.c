/*
 * test_text.c - values as people read and type them (proto/bg_text.h): every
 * field of the schema takes back the text of its own values, and text that
 * does not fit is refused with a sentence saying what the field takes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bg_text.h"

static bool same_value(const bg_value *a, const bg_value *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
    case BG_V_BOOL: return a->b == b->b;
    case BG_V_INT: return a->i == b->i;
    case BG_V_STR: return a->s.len == b->s.len && memcmp(a->s.p, b->s.p, a->s.len) == 0;
    default: return true;
  }
}

/* A valid value of field f, the k-th of a few. */
static bool sample(const bg_field_def *f, int k, bg_value *v) {
  static const char *const texts[] = {"Jan de Vries", "", "Zo'n \"goede\" week: 100%"};
  static const char *const dates[] = {"2030-05-01", "1999-12-31", "2024-02-29"};
  memset(v, 0, sizeof *v);
  switch (f->type) {
    case BG_FT_TEXT: *v = (bg_value){BG_V_STR, false, 0, bg_str_c(texts[k % 3])}; return true;
    case BG_FT_DATE: *v = (bg_value){BG_V_STR, false, 0, bg_str_c(dates[k % 3])}; return true;
    case BG_FT_ENUM: *v = (bg_value){BG_V_STR, false, 0, bg_str_c(f->enm->values[k % f->enm->n])}; return true;
    case BG_FT_BOOL: *v = (bg_value){BG_V_BOOL, k % 2 == 0, 0, {"", 0}}; return true;
    case BG_FT_INT: *v = (bg_value){BG_V_INT, false, k == 0 ? f->min : k == 1 ? f->max : f->min / 2 + f->max / 2, {"", 0}}; return true;
    default: return false; /* the position: moved by the phase machine, never typed */
  }
}

static void every_field_takes_back_the_text_of_its_values(void **state) {
  (void)state;
  int checked = 0;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    assert_non_null(rt);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      for (int k = 0; k < 3; k++) {
        bg_value v, back;
        if (!sample(f, k, &v) || bg_value_check(f, &v) != BG_OK) continue;
        char text[256], why[512];
        bg_value_text(f, &v, text, sizeof text);
        bg_err e = bg_value_parse(rt, f, text, &back, why, sizeof why);
        if (e != BG_OK) fail_msg("%s.%s: '%s' refused: %s", rt->name, f->name, text, why);
        if (!same_value(&v, &back)) fail_msg("%s.%s: '%s' read back as another value", rt->name, f->name, text);
        checked++;
      }
    }
  }
  assert_true(checked > 100);
}

static void misfits_are_refused_saying_what_the_field_takes(void **state) {
  (void)state;
  const bg_rtype_def *actie = bg_rtype(BG_RT_ACTIE), *traject = bg_rtype(BG_RT_TRAJECT);
  const bg_field_def *status = bg_field_by_name(actie, "status", 6);
  assert_non_null(status);
  bg_value v;
  char why[512];
  assert_int_equal(bg_value_parse(actie, status, "klaar", &v, why, sizeof why), BG_E_VALUE);
  assert_non_null(strstr(why, "actie.status takes one of: open, bezig"));
  assert_non_null(strstr(why, "(not 'klaar')"));
  /* the position is not typed */
  const bg_field_def *pos = bg_field_by_name(traject, "positie", 7);
  assert_non_null(pos);
  assert_int_equal(bg_value_parse(traject, pos, "uitvoering", &v, why, sizeof why), BG_E_USAGE);
  assert_non_null(strstr(why, "phase"));
  /* NULL clears */
  assert_int_equal(bg_value_parse(actie, status, NULL, &v, why, sizeof why), BG_OK);
  assert_int_equal(v.type, BG_V_NIL);
  /* every other kind of field, found in the schema */
  int kinds = 0;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      const char *bad = f->type == BG_FT_INT ? "12x" : f->type == BG_FT_BOOL ? "misschien" : f->type == BG_FT_DATE ? "1-5-2030" : NULL;
      const char *says = f->type == BG_FT_INT ? "takes a whole number" : f->type == BG_FT_BOOL ? "takes ja or nee" : "takes a date YYYY-MM-DD";
      if (bad == NULL) continue;
      assert_int_equal(bg_value_parse(rt, f, bad, &v, why, sizeof why), BG_E_VALUE);
      if (strstr(why, says) == NULL || strstr(why, f->name) == NULL) fail_msg("%s.%s: %s", rt->name, f->name, why);
      kinds |= 1 << f->type;
    }
  }
  assert_int_equal(kinds, 1 << BG_FT_INT | 1 << BG_FT_BOOL | 1 << BG_FT_DATE);
  /* ja/nee in any case, and their synonyms */
  const bg_rtype_def *opstart = bg_rtype(BG_RT_OPSTART);
  const bg_field_def *flag = bg_field_by_name(opstart, "indicatie_geregeld", 18);
  assert_non_null(flag);
  static const char *const yes[] = {"ja", "JA", "Ja", "true", "TRUE", "1"}, *const no[] = {"nee", "Nee", "false", "0"};
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
    assert_int_equal(bg_value_parse(opstart, flag, yes[i], &v, why, sizeof why), BG_OK);
    assert_true(v.type == BG_V_BOOL && v.b);
  }
  for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
    assert_int_equal(bg_value_parse(opstart, flag, no[i], &v, why, sizeof why), BG_OK);
    assert_true(v.type == BG_V_BOOL && !v.b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_field_takes_back_the_text_of_its_values),
      cmocka_unit_test(misfits_are_refused_saying_what_the_field_takes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
