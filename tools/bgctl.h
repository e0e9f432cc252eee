/*
 * bgctl.h - what the files of bgctl share: the parsed command line, the
 * output formats (an aligned table on a terminal, --json, --csv) and the
 * message helpers. bgctl.c has the organisation, people and devices;
 * bgctl_care.c the care data, signals and reports; bgctl_out.c the output.
 */
#ifndef BGCTL_H
#define BGCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bg_error.h"
#include "config.h"
#include "store.h"

/* Exit status (the usage text and docs/OPERATIONS.md list them). */
#define BGCTL_OK 0
#define BGCTL_FAILED 1
#define BGCTL_USAGE 2
#define BGCTL_NOT_RUNNING 3 /* status: the daemon does not run */

typedef enum bgctl_fmt { BGCTL_TEXT = 0, BGCTL_JSON, BGCTL_CSV } bgctl_fmt;

extern const char *g_home;
extern bgctl_fmt g_fmt;

/* Options after the positional arguments: --key value or --flag. */
typedef struct opts {
  const char *pos[4];
  int npos;
  const char *team, *role, *begeleider, *org, *host, *client, *user, *since;
  const char *now, *days, *from, *to, *keep, *value, *evaluate_after;
  bool help;
} opts;

__attribute__((format(printf, 1, 2))) int usage_error(const char *fmt, ...);
/* Print the failure (`detail`, else the code's message): exit status 1. */
int failed(bg_err e, const char *detail);
int64_t now_ms(void);

/* "YYYY-MM-DDTHH:MM:SSZ", "-" for 0. */
void fmt_time(int64_t ms, char *out, size_t len);
/* "YYYY-MM-DD", "-" for 0. */
void fmt_date(int64_t ms, char *out, size_t len);
/* A --now/--from/--to date: 00:00 UTC of that day. false (after a usage
 * message naming `opt`) when it is not YYYY-MM-DD. */
bool parse_date_opt(const char *opt, const char *text, int64_t *ms);
/* A whole number option in lo..hi; false after a usage message. */
bool parse_int_opt(const char *opt, const char *text, int lo, int hi, int *out);
void json_str(FILE *f, const char *s);

/* --- tables: every listing goes through one --------------------------------------------- */

/* Columns: terminal header, JSON/CSV key, and whether the JSON value is a
 * number (printed bare; "" prints null). */
typedef struct bgctl_col {
  const char *header, *key;
  bool number;
} bgctl_col;

typedef struct bgctl_table {
  const bgctl_col *cols;
  size_t ncols;
  char **cells; /* row-major, owned */
  size_t nrows, cap;
} bgctl_table;

void tbl_init(bgctl_table *t, const bgctl_col *cols, size_t ncols);
/* Append a row of ncols strings (copied). false when out of memory. */
bool tbl_row(bgctl_table *t, const char *const *cells);
/* Print in the chosen format: aligned columns with a header (nothing but
 * `empty` when there are no rows), a JSON array of objects, or CSV with a
 * header line. */
void tbl_print(const bgctl_table *t, const char *empty);
void tbl_free(bgctl_table *t);

/* The commands of bgctl_care.c: client list/show, conflicts, proposals,
 * signals, report. -1 when `cmd sub` is none of them. */
int bgctl_care(const char *cmd, const char *sub, const opts *o, bg_store *s);

/* Whether bgctl_care serves `cmd` (and so needs the store). */
bool bgctl_care_has(const char *cmd, const char *sub);

#endif /* BGCTL_H */
