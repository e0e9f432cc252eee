/*
 * bg_text.c - values and open entries as people read and type them (bg_text.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "bg_text.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_hlc.h"

void bg_value_text(const bg_field_def *f, const bg_value *v, char *out, size_t len) {
  bg_pos p;
  switch (v->type) {
    case BG_V_BOOL: snprintf(out, len, "%s", v->b ? "ja" : "nee"); break;
    case BG_V_INT:
      if (f && f->type == BG_FT_POS && bg_pos_decode(v->i, &p))
        snprintf(out, len, "%s (cycle %u)", bg_phase_name(p.phase), p.cycle);
      else
        snprintf(out, len, "%" PRId64, v->i);
      break;
    case BG_V_STR: snprintf(out, len, "%.*s", (int)v->s.len, v->s.p); break;
    case BG_V_BIN: snprintf(out, len, "(%u bytes)", v->s.len); break;
    default: snprintf(out, len, "%s", ""); break;
  }
}

static bool bg__same_ci(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
  return *a == *b;
}

bg_err bg_value_parse(const bg_rtype_def *rt, const bg_field_def *f, const char *text, bg_value *v, char *why,
                      size_t whylen) {
  memset(v, 0, sizeof *v);
  if (why && whylen) why[0] = 0;
  if (text == NULL) return BG_OK;
  const char *rn = rt ? rt->name : "?";
  switch (f->type) {
    case BG_FT_INT: {
      char *end;
      errno = 0;
      long long i = strtoll(text, &end, 10);
      if (errno || end == text || *end) {
        snprintf(why, whylen, "%s.%s takes a whole number (%" PRId64 "..%" PRId64 "), not '%s'", rn, f->name, f->min,
                 f->max, text);
        return BG_E_VALUE;
      }
      v->type = BG_V_INT;
      v->i = i;
      break;
    }
    case BG_FT_BOOL:
      v->type = BG_V_BOOL;
      if (bg__same_ci(text, "ja") || bg__same_ci(text, "true") || strcmp(text, "1") == 0) {
        v->b = true;
      } else if (bg__same_ci(text, "nee") || bg__same_ci(text, "false") || strcmp(text, "0") == 0) {
        v->b = false;
      } else {
        snprintf(why, whylen, "%s.%s takes ja or nee, not '%s'", rn, f->name, text);
        return BG_E_VALUE;
      }
      break;
    case BG_FT_POS:
      snprintf(why, whylen, "the traject's position is moved by the phase machine (bgsync phase), not set");
      return BG_E_USAGE;
    default:
      v->type = BG_V_STR;
      v->s = bg_str_c(text);
      if (f->type == BG_FT_ENUM && bg_enum_rank(f->enm, text, strlen(text)) < 0) {
        size_t used = (size_t)snprintf(why, whylen, "%s.%s takes one of: ", rn, f->name);
        for (uint8_t i = 0; i < f->enm->n && used < whylen; i++)
          used += (size_t)snprintf(why + used, whylen - used, "%s%s", i ? ", " : "", f->enm->values[i]);
        if (used < whylen) snprintf(why + used, whylen - used, " (not '%s')", text);
        return BG_E_VALUE;
      }
      if (f->type == BG_FT_DATE && bg_value_check(f, v) != BG_OK) {
        snprintf(why, whylen, "%s.%s takes a date YYYY-MM-DD, not '%s'", rn, f->name, text);
        return BG_E_VALUE;
      }
      break;
  }
  if (bg_value_check(f, v) != BG_OK) {
    snprintf(why, whylen, "'%s' is not a value of %s.%s", text, rn, f->name);
    return BG_E_VALUE;
  }
  return BG_OK;
}

/* --- open entries --------------------------------------------------------------------------- */

/* A side's copy of a write: the value as text, and a bg_value over that text. */
static bg_err bg__side(const bg_write *w, bg_entry_side *side) {
  memset(side, 0, sizeof *side);
  if (w == NULL) return BG_OK;
  side->present = true;
  side->user = w->user;
  side->device = w->dot.device;
  side->at = (int64_t)bg_hlc_physical(w->hlc);
  side->value = w->value;
  if (w->value.type == BG_V_NIL) return BG_OK;
  const bg_rtype_def *rt = bg_rtype(w->rtype);
  const bg_field_def *f = rt ? bg_field(rt, w->field) : NULL;
  bool text = w->value.type == BG_V_STR;
  size_t len = (text || w->value.type == BG_V_BIN ? w->value.s.len : 0) + 64;
  if ((side->text = malloc(len)) == NULL) return BG_E_NOMEM;
  if (text) { /* the string itself, embedded zero bytes and all */
    memcpy(side->text, w->value.s.p, w->value.s.len);
    side->text[w->value.s.len] = 0;
    side->value.s = (bg_str){side->text, w->value.s.len};
  } else {
    bg_value_text(f, &w->value, side->text, len);
    side->value.s = (bg_str){"", 0};
  }
  return BG_OK;
}

typedef struct bg__collect {
  bg_open_entries *l;
  bool conflicts, proposals;
} bg__collect;

static bg_err bg__collect_entry(void *arg, const bg_entry *en) {
  bg__collect *k = arg;
  if (en->proposal ? !k->proposals : !k->conflicts) return BG_OK;
  bg_open_entries *l = k->l;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    bg_open_entry *v = realloc(l->v, cap * sizeof *v);
    if (v == NULL) return BG_E_NOMEM;
    l->v = v;
    l->cap = cap;
  }
  bg_open_entry *x = &l->v[l->n];
  memset(x, 0, sizeof *x);
  const bg_write *w = en->write;
  bg_entry_id(en, x->id);
  x->proposal = en->proposal;
  x->reason = en->reason;
  x->rule = en->rule;
  bg_str_copy(x->client, sizeof x->client, w->client);
  bg_str_copy(x->rid, sizeof x->rid, w->rid);
  x->rtype = w->rtype;
  x->field = w->field;
  x->dot = w->dot;
  l->n++; /* counted before the copies: a failed copy is freed with the list */
  bg_err r = bg__side(w, &x->other);
  if (r == BG_OK) r = bg__side(en->winner, &x->shown);
  return r;
}

static void bg__entry_free(bg_open_entry *x) {
  free(x->shown.text);
  free(x->other.text);
}

bg_err bg_open_entries_get(bg_engine *e, bg_str client, bool conflicts, bool proposals, bg_open_entries *out) {
  memset(out, 0, sizeof *out);
  bg__collect k = {out, conflicts, proposals};
  bg_err r = bg_engine_entries(e, client, bg__collect_entry, &k);
  /* a proposal with a decision is not open (asked after the scan: the
   * engine's entries callback may not read the engine) */
  size_t n = 0;
  for (size_t i = 0; i < out->n; i++) {
    bg_open_entry *x = &out->v[i];
    bool decided = false;
    if (r == BG_OK && x->proposal)
      r = bg_engine_proposal_decided(e, bg_str_c(x->client), x->dot, &decided);
    if (decided) bg__entry_free(x);
    else out->v[n++] = *x;
  }
  out->n = n;
  return r;
}

void bg_open_entries_free(bg_open_entries *l) {
  for (size_t i = 0; i < l->n; i++) bg__entry_free(&l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

const bg_open_entry *bg_open_entries_find(const bg_open_entries *l, const char *id) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i].id, id) == 0) return &l->v[i];
  return NULL;
}

const char *bg_open_entry_rule(const bg_open_entry *x) {
  if (x->proposal) return x->reason == BG_E_PLAN_SIGNED ? "R1" : "window";
  return bg_rule_name(x->rule);
}

const char *bg_open_entry_why(const bg_open_entry *x) {
  if (x->proposal)
    return x->reason == BG_E_PLAN_SIGNED
               ? "made after or without seeing the client's signature: waits for the next evaluation (R1)"
               : "made outside the field's phase: waits for the next evaluation";
  switch (x->rule) {
    case BG_RULE_R2: return "concurrent edits; R2 (the trajectbegeleider leads, then the later edit) chose the shown value";
    case BG_RULE_R3: return "concurrent edits; R3 (progress is monotone) chose the shown value";
    case BG_RULE_R4: return "concurrent edits; R4 (when in doubt, care continues) chose the shown value";
    case BG_RULE_R5: return "concurrent edits; R5 (the phase moves forward) chose the shown value";
    default: return "concurrent edits; the field's rule chose the shown value";
  }
}
