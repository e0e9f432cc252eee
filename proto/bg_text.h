/*
 * bg_text.h - values and open entries as people read and type them.
 *
 * One home for what the caseworker's library (bgsync conflicts, resolve,
 * set) and the office's tool (bgctl conflicts, proposals) show and accept, so
 * that a conflict has the same id, the same values as text and the same
 * explanation on a laptop and at the office.
 */
#ifndef BG_TEXT_H
#define BG_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_engine.h"
#include "bg_schema.h"

/* A value as text by its field: positions as "uitvoering (cycle 1)",
 * booleans "ja"/"nee", a binary as "(N bytes)", "" for nil. */
void bg_value_text(const bg_field_def *f, const bg_value *v, char *out, size_t len);

/* Text as a value of field `f` of `rt`: a whole number, ja/nee (also
 * true/false, 1/0, any case), one of an enumeration's values, a date
 * YYYY-MM-DD, or text; NULL is nil (a cleared field). A string value borrows
 * `text`. On failure (BG_E_VALUE; BG_E_USAGE for the traject's position,
 * which only the phase machine moves) `why` says what the field takes. */
bg_err bg_value_parse(const bg_rtype_def *rt, const bg_field_def *f, const char *text, bg_value *v, char *why,
                      size_t whylen);

/* One side of an open entry: a write's value (as text and as itself),
 * author, device and time. */
typedef struct bg_entry_side {
  bool present;   /* false: no such write (a proposal's field has no shown value here) */
  char *text;     /* the value as text (bg_value_text); NULL when nil (a cleared field) */
  bg_value value; /* the value; a string points into `text` */
  uint64_t user, device;
  int64_t at;     /* milliseconds since the epoch (the write's HLC time) */
} bg_entry_side;

/* An open conflict entry ("c<device>.<counter>": the dot of the write not
 * shown) or an undecided wijzigingsvoorstel ("p<device>.<counter>"). */
typedef struct bg_open_entry {
  char id[BG_ENTRY_ID_MAX];
  bool proposal;
  bg_err reason;  /* proposal: BG_E_WINDOW or BG_E_PLAN_SIGNED */
  uint8_t rule;   /* conflict: the rule that chose the shown value */
  char client[BG_ID_MAX + 1], rid[BG_ID_MAX + 1];
  uint32_t rtype, field;
  bg_dot dot;          /* of the entry's write */
  bg_entry_side shown; /* the visible write (a proposal: none) */
  bg_entry_side other; /* the entry's write: the one not shown, or the proposal */
} bg_open_entry;

typedef struct bg_open_entries {
  bg_open_entry *v;
  size_t n, cap;
} bg_open_entries;

/* The open entries of `client` (every client when client.len == 0), conflict
 * entries and/or wijzigingsvoorstellen, in the engine's order; a proposal
 * someone decided on is not open. Free with bg_open_entries_free (also after
 * a failure). */
bg_err bg_open_entries_get(bg_engine *e, bg_str client, bool conflicts, bool proposals, bg_open_entries *out);
void bg_open_entries_free(bg_open_entries *l);
/* The entry with `id`, or NULL. */
const bg_open_entry *bg_open_entries_find(const bg_open_entries *l, const char *id);

/* The rule in a word: "R2".."R5" for a conflict, "R1" for a proposal made
 * without seeing the signature, "window" for one outside the field's phase. */
const char *bg_open_entry_rule(const bg_open_entry *x);
/* The sentence saying why the entry exists ("concurrent edits; R2 (...)"). */
const char *bg_open_entry_why(const bg_open_entry *x);

#endif
