/*
 * test_spec.c - docs/PROTOCOL.md agrees with the error table of bg_error.h.
 *
 * The protocol specification lists the error codes in one markdown table,
 * `| code | name | retryable | meaning |`, which a second implementation (Kotlin,
 * Swift) copies. This test reads the document and checks that table against
 * BG_ERROR_TABLE, so the two cannot drift apart: every code is documented exactly
 * once with its name, retryable flag and message, in code order, and the document
 * names no code the enum lacks.
 *
 * A line counts as an error row when it is a table row whose first cell is a
 * number and whose second cell starts with "BG_"; every other line is ignored.
 * Each test reports every mismatch it finds (with its line number) before failing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_error.h"

#define SPEC_PATH BG_SOURCE_DIR "/docs/PROTOCOL.md"
#define SPEC_MAX_BYTES (1024u * 1024u) /* the document is far smaller; a bound, not a guess */
#define MAX_ROWS 512u
#define NAME_CAP 64u
#define MEANING_CAP 256u
#define TOO_LONG "(cell too long)"

/* Every code of the enum, from the one table in bg_error.h. */
static const struct {
  int code;
  const char *symbol;
} codes[] = {
#define SPEC_CODE(sym, code, retry, msg) {code, #sym},
    BG_ERROR_TABLE(SPEC_CODE)
#undef SPEC_CODE
};
#define N_CODES (sizeof codes / sizeof codes[0])

typedef struct doc_row {
  unsigned line;     /* 1-based line number in the document */
  long code;
  char name[NAME_CAP];
  int retryable;     /* 1 "yes", 0 "no", -1 anything else */
  char meaning[MEANING_CAP];
} doc_row;

typedef struct doc {
  doc_row rows[MAX_ROWS];
  size_t n;
} doc;

/* ---- parsing ------------------------------------------------------------------ */

/* Copy [s, e) without surrounding blanks into out (cap bytes), or TOO_LONG. */
static void copy_trimmed(const char *s, const char *e, char *out, size_t cap) {
  while (s < e && (*s == ' ' || *s == '\t')) s++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
  size_t n = (size_t)(e - s);
  if (n >= cap) {
    snprintf(out, cap, "%s", TOO_LONG);
    return;
  }
  memcpy(out, s, n);
  out[n] = '\0';
}

/* A decimal number of at most 9 digits, nothing else. */
static bool parse_code(const char *cell, long *out) {
  size_t n = strlen(cell);
  if (n == 0 || n > 9) return false;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (cell[i] < '0' || cell[i] > '9') return false;
    v = v * 10 + (cell[i] - '0');
  }
  *out = v;
  return true;
}

/* Parse the line [s, e) into *row when it is an error row. */
static bool parse_row(const char *s, const char *e, unsigned line, doc_row *row) {
  while (s < e && (*s == ' ' || *s == '\t')) s++;
  if (s == e || *s != '|') return false;
  const char *bar[4]; /* the first four '|' of the row */
  const char *last = s;
  size_t bars = 0;
  for (const char *p = s; p < e; p++) {
    if (*p != '|') continue;
    if (bars < 4) bar[bars] = p;
    bars++;
    last = p;
  }
  if (bars < 4) return false;

  char cell[NAME_CAP];
  copy_trimmed(bar[0] + 1, bar[1], cell, sizeof cell);
  if (!parse_code(cell, &row->code)) return false;
  copy_trimmed(bar[1] + 1, bar[2], row->name, sizeof row->name);
  if (strncmp(row->name, "BG_", 3) != 0) return false;

  copy_trimmed(bar[2] + 1, bar[3], cell, sizeof cell);
  row->retryable = strcmp(cell, "yes") == 0 ? 1 : strcmp(cell, "no") == 0 ? 0 : -1;
  /* The meaning runs to the row's closing '|' (or the line's end without one). */
  copy_trimmed(bar[3] + 1, last > bar[3] ? last : e, row->meaning, sizeof row->meaning);
  row->line = line;
  return true;
}

static int load_spec(void **state) {
  FILE *f = fopen(SPEC_PATH, "rb");
  if (f == NULL) {
    print_error("cannot open %s: %s\n", SPEC_PATH, strerror(errno));
    return -1;
  }
  char *text = malloc(SPEC_MAX_BYTES + 1);
  doc *d = calloc(1, sizeof *d);
  size_t len = text != NULL ? fread(text, 1, SPEC_MAX_BYTES + 1, f) : 0;
  bool read_error = ferror(f) != 0;
  fclose(f);
  if (text == NULL || d == NULL || read_error || len > SPEC_MAX_BYTES) {
    print_error("cannot read %s (out of memory, read error, or over %u bytes)\n", SPEC_PATH,
                SPEC_MAX_BYTES);
    free(text);
    free(d);
    return -1;
  }

  unsigned line = 0;
  for (const char *s = text, *end = text + len; s < end; line++) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl != NULL ? nl : end;
    const char *content_end = (e > s && e[-1] == '\r') ? e - 1 : e;
    doc_row row;
    if (parse_row(s, content_end, line + 1, &row)) {
      if (d->n == MAX_ROWS) {
        print_error("%s: more than %u error rows\n", SPEC_PATH, MAX_ROWS);
        free(text);
        free(d);
        return -1;
      }
      d->rows[d->n++] = row;
    }
    s = nl != NULL ? nl + 1 : end;
  }
  free(text);
  *state = d;
  return 0;
}

static int free_spec(void **state) {
  free(*state);
  return 0;
}

static bool in_enum(long code) {
  for (size_t i = 0; i < N_CODES; i++) {
    if (codes[i].code == code) return true;
  }
  return false;
}

/* ---- the properties ------------------------------------------------------------ */

static void every_error_code_is_documented_with_its_name_and_retryability(void **state) {
  const doc *d = *state;
  unsigned problems = 0;
  for (size_t i = 0; i < N_CODES; i++) {
    int code = codes[i].code;
    const doc_row *found = NULL;
    unsigned times = 0;
    for (size_t r = 0; r < d->n; r++) {
      if (d->rows[r].code != code) continue;
      if (found == NULL) found = &d->rows[r];
      times++;
    }
    if (times != 1) {
      print_error("code %d (%s) is documented %u times, expected once\n", code,
                  codes[i].symbol, times);
      problems++;
      if (found == NULL) continue;
    }
    if (strcmp(found->name, bg_err_name(code)) != 0) {
      print_error("line %u: code %d is named \"%s\", the enum says %s\n", found->line, code,
                  found->name, bg_err_name(code));
      problems++;
    }
    int want = bg_err_retryable(code) ? 1 : 0;
    if (found->retryable != want) {
      print_error("line %u: code %d (%s): retryable must be \"%s\"\n", found->line, code,
                  bg_err_name(code), want ? "yes" : "no");
      problems++;
    }
  }
  assert_int_equal(problems, 0);
}

static void no_documented_error_code_is_missing_from_the_enum(void **state) {
  const doc *d = *state;
  unsigned problems = 0;
  for (size_t r = 0; r < d->n; r++) {
    const doc_row *row = &d->rows[r];
    if (!in_enum(row->code) || !bg_err_known((int)row->code)) {
      print_error("line %u: code %ld (%s) is not in BG_ERROR_TABLE\n", row->line, row->code,
                  row->name);
      problems++;
    }
  }
  assert_int_equal(problems, 0);
}

static void documented_error_codes_are_in_ascending_code_order(void **state) {
  const doc *d = *state;
  unsigned problems = 0;
  for (size_t r = 1; r < d->n; r++) {
    if (d->rows[r].code <= d->rows[r - 1].code) {
      print_error("line %u: code %ld follows code %ld\n", d->rows[r].line, d->rows[r].code,
                  d->rows[r - 1].code);
      problems++;
    }
  }
  assert_int_equal(problems, 0);
}

static void every_documented_meaning_is_the_codes_message(void **state) {
  const doc *d = *state;
  unsigned problems = 0;
  for (size_t r = 0; r < d->n; r++) {
    const doc_row *row = &d->rows[r];
    if (!bg_err_known((int)row->code)) continue; /* reported by the test above */
    const char *want = bg_err_message((int)row->code);
    if (strcmp(row->meaning, want) != 0) {
      print_error("line %u: code %ld: meaning \"%s\", bg_error.h says \"%s\"\n", row->line,
                  row->code, row->meaning, want);
      problems++;
    }
  }
  assert_int_equal(problems, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_error_code_is_documented_with_its_name_and_retryability),
      cmocka_unit_test(no_documented_error_code_is_missing_from_the_enum),
      cmocka_unit_test(documented_error_codes_are_in_ascending_code_order),
      cmocka_unit_test(every_documented_meaning_is_the_codes_message),
  };
  return cmocka_run_group_tests(tests, load_spec, free_spec);
}
