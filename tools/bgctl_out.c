/*
 * bgctl_out.c - bgctl's output and messages (bgctl.h): tables printed
 * aligned, as JSON or as CSV; dates; option values.
 */
#define _DEFAULT_SOURCE /* timegm, gmtime_r */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bgctl.h"
#include "care.h"

const char *g_home;
bgctl_fmt g_fmt;

int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bgctl: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n(bgctl --help lists the commands; bgctl COMMAND --help explains one)\n", stderr);
  va_end(ap);
  return BGCTL_USAGE;
}

int failed(bg_err e, const char *detail) {
  fprintf(stderr, "bgctl: %s\n", detail && *detail ? detail : bg_err_message(e));
  return BGCTL_FAILED;
}

int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The date and, with `clock`, the time of day. */
static void fmt_with(int64_t ms, bool clock, char *out, size_t len) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  size_t n = 0;
  if (ms != 0 && gmtime_r(&t, &tm) != NULL)
    n = clock ? strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) : strftime(out, len, "%Y-%m-%d", &tm);
  if (n == 0) snprintf(out, len, "-");
}

void fmt_time(int64_t ms, char *out, size_t len) { fmt_with(ms, true, out, len); }
void fmt_date(int64_t ms, char *out, size_t len) { fmt_with(ms, false, out, len); }

bool parse_date_opt(const char *opt, const char *text, int64_t *ms) {
  if (text && bg_care_date_ms(text, strlen(text), ms)) return true;
  usage_error("%s takes a date: YYYY-MM-DD (not '%s')", opt, text ? text : "");
  return false;
}

bool parse_int_opt(const char *opt, const char *text, int lo, int hi, int *out) {
  char *end = NULL;
  long v = text ? strtol(text, &end, 10) : 0;
  if (text && end != text && *end == 0 && v >= lo && v <= hi) {
    *out = (int)v;
    return true;
  }
  usage_error("%s takes a whole number from %d to %d (not '%s')", opt, lo, hi, text ? text : "");
  return false;
}

void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

/* --- tables ------------------------------------------------------------------------------ */

void tbl_init(bgctl_table *t, const bgctl_col *cols, size_t ncols) {
  memset(t, 0, sizeof *t);
  t->cols = cols;
  t->ncols = ncols;
}

bool tbl_row(bgctl_table *t, const char *const *cells) {
  if (t->nrows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 32;
    char **v = realloc(t->cells, cap * t->ncols * sizeof *v);
    if (v == NULL) return false;
    t->cells = v;
    t->cap = cap;
  }
  char **row = &t->cells[t->nrows * t->ncols];
  for (size_t i = 0; i < t->ncols; i++) {
    row[i] = strdup(cells[i] ? cells[i] : "");
    if (row[i] == NULL) {
      while (i-- > 0) free(row[i]);
      return false;
    }
  }
  t->nrows++;
  return true;
}

/* Display width: UTF-8 code points (the data is Dutch text: ë, é). */
static size_t width(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static void csv_cell(const char *s) {
  if (strpbrk(s, ",\"\n\r") == NULL) {
    fputs(s, stdout);
    return;
  }
  putchar('"');
  for (; *s; s++) {
    if (*s == '"') putchar('"');
    putchar(*s);
  }
  putchar('"');
}

void tbl_print(const bgctl_table *t, const char *empty) {
  if (g_fmt == BGCTL_JSON) {
    putchar('[');
    for (size_t r = 0; r < t->nrows; r++) {
      fputs(r ? ",{" : "{", stdout);
      for (size_t c = 0; c < t->ncols; c++) {
        const char *v = t->cells[r * t->ncols + c];
        if (c) putchar(',');
        json_str(stdout, t->cols[c].key);
        putchar(':');
        if (t->cols[c].number) fputs(*v ? v : "null", stdout);
        else json_str(stdout, v);
      }
      putchar('}');
    }
    puts("]");
    return;
  }
  if (g_fmt == BGCTL_CSV) {
    for (size_t c = 0; c < t->ncols; c++) {
      if (c) putchar(',');
      csv_cell(t->cols[c].key);
    }
    putchar('\n');
    for (size_t r = 0; r < t->nrows; r++) {
      for (size_t c = 0; c < t->ncols; c++) {
        if (c) putchar(',');
        csv_cell(t->cells[r * t->ncols + c]);
      }
      putchar('\n');
    }
    return;
  }
  if (t->nrows == 0) {
    if (empty) puts(empty);
    return;
  }
  size_t w[16] = {0};
  size_t nc = t->ncols < 16 ? t->ncols : 16;
  for (size_t c = 0; c < nc; c++) w[c] = width(t->cols[c].header);
  for (size_t r = 0; r < t->nrows; r++)
    for (size_t c = 0; c < nc; c++) {
      size_t n = width(t->cells[r * t->ncols + c]);
      if (n > w[c]) w[c] = n;
    }
  for (size_t r = 0; r <= t->nrows; r++) {
    for (size_t c = 0; c < nc; c++) {
      const char *v = r == 0 ? t->cols[c].header : t->cells[(r - 1) * t->ncols + c];
      if (r > 0 && *v == 0) v = "-";
      bool last = c + 1 == nc;
      /* numbers right-aligned, text left-aligned; no trailing blanks */
      size_t pad = w[c] - width(v);
      if (t->cols[c].number) printf("%*s%s", (int)pad, "", v);
      else if (last) fputs(v, stdout);
      else printf("%s%*s", v, (int)pad, "");
      if (!last) fputs("  ", stdout);
    }
    putchar('\n');
  }
}

void tbl_free(bgctl_table *t) {
  for (size_t i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
  free(t->cells);
  memset(t, 0, sizeof *t);
}
