/*
 * care.c - the office's view of care data, its signals and reports (care.h).
 *
 * Loading reads, per client, the history of writes once (positions reached,
 * rapportages, which records exist) and then asks the merge engine for the
 * visible state of the few fields that matter; the signals and the report are
 * computed from the loaded set without touching the store.
 */
#define _DEFAULT_SOURCE /* timegm */
#include "care.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bg_engine.h"
#include "bg_hlc.h"

const char *bg_plan_status_name(int status) {
  return status == BG_PLAN_SIGNED ? "signed" : status == BG_PLAN_DRAFT ? "draft" : "none";
}

static int64_t bg__at(const bg_write *w) { return (int64_t)bg_hlc_physical(w->hlc); }

/* --- values -------------------------------------------------------------------------------- */

bool bg_care_date_ms(const char *s, size_t len, int64_t *ms) {
  if (len != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return false;
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = atoi(s) - 1900;
  tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
  tm.tm_mday = (s[8] - '0') * 10 + (s[9] - '0');
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31) return false;
  *ms = (int64_t)timegm(&tm) * 1000;
  return true;
}

/* --- loading --------------------------------------------------------------------------------- */

/* A record of the client: type and id. */
typedef struct bg__rec {
  uint32_t rtype;
  char rid[BG_ID_MAX + 1];
} bg__rec;

/* What one pass over a client's history collects. */
typedef struct bg__scan {
  bg_care_client *c;
  bg__rec *recs;
  size_t nrec, caprec;
  size_t capmoves;
} bg__scan;

static bg_err bg__scan_rec(bg__scan *sc, const bg_write *w) {
  for (size_t i = sc->nrec; i-- > 0;)
    if (sc->recs[i].rtype == w->rtype && strlen(sc->recs[i].rid) == w->rid.len &&
        memcmp(sc->recs[i].rid, w->rid.p, w->rid.len) == 0)
      return BG_OK;
  if (sc->nrec == sc->caprec) {
    size_t cap = sc->caprec ? sc->caprec * 2 : 32;
    bg__rec *v = realloc(sc->recs, cap * sizeof *v);
    if (v == NULL) return BG_E_NOMEM;
    sc->recs = v;
    sc->caprec = cap;
  }
  sc->recs[sc->nrec].rtype = w->rtype;
  bg_str_copy(sc->recs[sc->nrec].rid, sizeof sc->recs[sc->nrec].rid, w->rid);
  sc->nrec++;
  return BG_OK;
}

static bg_err bg__scan_write(void *arg, const bg_write *w) {
  bg__scan *sc = arg;
  bg_care_client *c = sc->c;
  int64_t at = bg__at(w);
  bg_pos p;
  if (w->rtype == BG_RT_TRAJECT && w->field == 1 && w->value.type == BG_V_INT && bg_pos_decode(w->value.i, &p)) {
    size_t i = 0;
    while (i < c->n_moves && bg_pos_encode(c->moves[i].pos) != w->value.i) i++;
    if (i == c->n_moves) {
      if (c->n_moves == sc->capmoves) {
        size_t cap = sc->capmoves ? sc->capmoves * 2 : 8;
        bg_care_move *v = realloc(c->moves, cap * sizeof *v);
        if (v == NULL) return BG_E_NOMEM;
        c->moves = v;
        sc->capmoves = cap;
      }
      c->moves[c->n_moves++] = (bg_care_move){p, at};
    } else if (at < c->moves[i].at) {
      c->moves[i].at = at;
    }
  }
  if (w->rtype == BG_RT_RAPPORTAGE && w->field == 1 && w->value.type == BG_V_STR &&
      bg_str_eq(w->value.s, BG_STR("voortgangsgesprek")) && at > c->last_voortgang)
    c->last_voortgang = at;
  return bg__scan_rec(sc, w);
}

static int bg__move_cmp(const void *a, const void *b) {
  int64_t x = bg_pos_encode(((const bg_care_move *)a)->pos), y = bg_pos_encode(((const bg_care_move *)b)->pos);
  return x < y ? -1 : x > y;
}

static int bg__rec_cmp(const void *a, const void *b) {
  const bg__rec *x = a, *y = b;
  if (x->rtype != y->rtype) return x->rtype < y->rtype ? -1 : 1;
  return strcmp(x->rid, y->rid);
}

/* The visible write of a field, or NULL (a view valid until the next engine call). */
static bg_err bg__winner(bg_engine *e, const char *client, uint32_t rtype, const char *rid, uint32_t field,
                         const bg_write **w, bg_field_view *fv) {
  bg_err r = bg_engine_field(e, bg_str_c(client), rtype, bg_str_c(rid), field, fv);
  *w = r == BG_OK ? fv->winner : NULL;
  if (*w && (*w)->value.type == BG_V_NIL) *w = NULL;
  return r;
}

/* Whether the record of the plan of `cycle` (a doel or actie id "<cycle>:...") belongs to that cycle. */
static bool bg__of_cycle(const char *rid, uint32_t cycle) {
  char pre[16];
  int n = snprintf(pre, sizeof pre, "%u:", cycle);
  return strncmp(rid, pre, (size_t)n) == 0;
}

static bg_err bg__decision(bg_care_client *c, size_t *cap, uint8_t kind, uint32_t cycle, const bg_write *w) {
  if (w == NULL || w->value.type != BG_V_STR) return BG_OK;
  if (c->n_decisions == *cap) {
    size_t n = *cap ? *cap * 2 : 4;
    bg_care_decision *v = realloc(c->decisions, n * sizeof *v);
    if (v == NULL) return BG_E_NOMEM;
    c->decisions = v;
    *cap = n;
  }
  bg_care_decision *d = &c->decisions[c->n_decisions++];
  d->kind = kind;
  d->cycle = cycle;
  bg_str_copy(d->value, sizeof d->value, w->value.s);
  d->at = bg__at(w);
  return BG_OK;
}

/* Entry counting for the client view: conflicts and the dots of proposals. */
typedef struct bg__count {
  bg_care_client *c;
  bg_dot *props;
  size_t nprops, cap;
  bg_err err;
} bg__count;

static bg_err bg__count_entry(void *arg, const bg_entry *en) {
  bg__count *k = arg;
  if (!en->proposal) {
    int64_t at = bg__at(en->write);
    if (en->winner && bg__at(en->winner) > at) at = bg__at(en->winner);
    if (k->c->conflicts == 0 || at < k->c->oldest_conflict) k->c->oldest_conflict = at;
    k->c->conflicts++;
    return BG_OK;
  }
  if (k->nprops == k->cap) {
    size_t cap = k->cap ? k->cap * 2 : 8;
    bg_dot *v = realloc(k->props, cap * sizeof *v);
    if (v == NULL) return BG_E_NOMEM;
    k->props = v;
    k->cap = cap;
  }
  k->props[k->nprops++] = en->write->dot;
  return BG_OK;
}

static bg_err bg__load_client(bg_store *s, bg_engine *e, bg_care_client *c) {
  bg__scan sc = {c, NULL, 0, 0, 0};
  bg_err r = bg_store_history(s, c->id, bg__scan_write, &sc);
  if (r == BG_OK && c->n_moves > 1) qsort(c->moves, c->n_moves, sizeof *c->moves, bg__move_cmp);
  bg_field_view fv;
  const bg_write *w = NULL;
  /* the position, and since when: the earliest current write of the shown value */
  if (r == BG_OK) r = bg__winner(e, c->id, BG_RT_TRAJECT, "t", 1, &w, &fv);
  if (r == BG_OK && w && bg_pos_decode(w->value.i, &c->pos)) {
    c->pos_since = bg__at(w);
    for (uint32_t i = 0; i < fv.n_current; i++)
      if (fv.current[i]->value.type == BG_V_INT && fv.current[i]->value.i == w->value.i && bg__at(fv.current[i]) < c->pos_since)
        c->pos_since = bg__at(fv.current[i]);
  }
  /* the plan of the current cycle */
  uint32_t cy = c->pos.cycle;
  char rid[32];
  snprintf(rid, sizeof rid, "%u", cy);
  bool is_signed = false;
  if (r == BG_OK && cy >= 1) r = bg_engine_plan_signed(e, bg_str_c(c->id), cy, &is_signed);
  if (r == BG_OK && cy >= 1 && is_signed) {
    c->plan = BG_PLAN_SIGNED;
    r = bg__winner(e, c->id, BG_RT_PLAN, rid, 2, &w, &fv);
    if (r == BG_OK && w) c->plan_signed_at = bg__at(w);
  } else if (r == BG_OK && cy >= 1) {
    r = bg__winner(e, c->id, BG_RT_PLAN, rid, 1, &w, &fv);
    if (r == BG_OK && w && w->value.type == BG_V_STR && w->value.s.len > 0) c->plan = BG_PLAN_DRAFT;
  }
  for (size_t i = 0; r == BG_OK && cy >= 1 && i < sc.nrec; i++) {
    const bg__rec *rec = &sc.recs[i];
    if ((rec->rtype != BG_RT_DOEL && rec->rtype != BG_RT_ACTIE) || !bg__of_cycle(rec->rid, cy)) continue;
    bool deleted = false, edit_won = false;
    if ((r = bg_engine_deleted(e, bg_str_c(c->id), rec->rtype, bg_str_c(rec->rid), &deleted, &edit_won)) != BG_OK) break;
    if (deleted) continue;
    if (rec->rtype == BG_RT_DOEL && c->plan == BG_PLAN_NONE) c->plan = BG_PLAN_DRAFT;
    /* the term: a doel's termijn when it is a date, an actie's deadline */
    r = bg__winner(e, c->id, rec->rtype, rec->rid, rec->rtype == BG_RT_DOEL ? 3 : 4, &w, &fv);
    int64_t t;
    if (r == BG_OK && w && w->value.type == BG_V_STR && bg_care_date_ms(w->value.s.p, w->value.s.len, &t) &&
        t > c->plan_term)
      c->plan_term = t;
  }
  /* open entries */
  bg__count k = {c, NULL, 0, 0, BG_OK};
  if (r == BG_OK) r = bg_engine_entries(e, bg_str_c(c->id), bg__count_entry, &k);
  for (size_t i = 0; r == BG_OK && i < k.nprops; i++) {
    bool decided;
    if ((r = bg_engine_proposal_decided(e, bg_str_c(c->id), k.props[i], &decided)) == BG_OK && !decided) c->proposals++;
  }
  free(k.props);
  /* decisions */
  size_t cap = 0;
  if (r == BG_OK && (r = bg__winner(e, c->id, BG_RT_AANMELDING, "a", 4, &w, &fv)) == BG_OK)
    r = bg__decision(c, &cap, BG_DEC_AANMELDING, 0, w);
  if (r == BG_OK && (r = bg__winner(e, c->id, BG_RT_INTAKE, "i", 4, &w, &fv)) == BG_OK)
    r = bg__decision(c, &cap, BG_DEC_INTAKE, 0, w);
  uint32_t maxcy = c->n_moves ? c->moves[c->n_moves - 1].pos.cycle : 0;
  for (uint32_t y = 1; r == BG_OK && y <= maxcy; y++) {
    snprintf(rid, sizeof rid, "%u", y);
    if ((r = bg__winner(e, c->id, BG_RT_EVALUATIE, rid, 5, &w, &fv)) == BG_OK) r = bg__decision(c, &cap, BG_DEC_EVALUATIE, y, w);
  }
  if (r == BG_OK && (r = bg__winner(e, c->id, BG_RT_UITSTROOM, "u", 7, &w, &fv)) == BG_OK)
    r = bg__decision(c, &cap, BG_DEC_UITSTROOM, 0, w);
  free(sc.recs);
  return r;
}

/* Rows of bg_store_clients and bg_store_devices, copied (their strings last one call). */
typedef struct bg__rows {
  const bg_care_filter *f;
  bg_care_set *set;
  size_t cap;
} bg__rows;

static bg_err bg__client_row(void *arg, const bg_client_row *row) {
  bg__rows *x = arg;
  const bg_care_filter *f = x->f;
  if ((f->team && strcmp(f->team, row->team) != 0) || (f->begeleider && strcmp(f->begeleider, row->begeleider) != 0) ||
      (f->client && strcmp(f->client, row->id) != 0))
    return BG_OK;
  bg_care_set *set = x->set;
  if (set->n == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 64;
    bg_care_client *v = realloc(set->v, cap * sizeof *v);
    if (v == NULL) return BG_E_NOMEM;
    set->v = v;
    x->cap = cap;
  }
  bg_care_client *c = &set->v[set->n++];
  memset(c, 0, sizeof *c);
  snprintf(c->id, sizeof c->id, "%s", row->id);
  snprintf(c->team, sizeof c->team, "%s", row->team);
  snprintf(c->begeleider, sizeof c->begeleider, "%s", row->begeleider);
  return BG_OK;
}

static bg_err bg__device_row(void *arg, const bg_device_row *d) {
  bg__rows *x = arg;
  if (d->revoked) return BG_OK;
  bg_care_set *set = x->set;
  if (set->ndev == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 32;
    bg_care_device *v = realloc(set->dev, cap * sizeof *v);
    if (v == NULL) return BG_E_NOMEM;
    set->dev = v;
    x->cap = cap;
  }
  bg_care_device *v = &set->dev[set->ndev++];
  memset(v, 0, sizeof *v);
  v->id = d->id;
  snprintf(v->login, sizeof v->login, "%s", d->login);
  snprintf(v->name, sizeof v->name, "%s", d->name);
  v->enrolled = d->enrolled;
  v->last_seen = d->last_seen;
  return BG_OK;
}

/* Whether `team` is one of the comma-separated `teams`. */
static bool bg__in_teams(const char *teams, const char *team) {
  size_t n = strlen(team);
  for (const char *p = teams; *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == n && memcmp(p, team, n) == 0) return true;
    if (!comma) break;
    p = comma + 1;
  }
  return false;
}

bg_err bg_care_load(bg_store *s, const bg_care_filter *f, bg_care_set *out) {
  memset(out, 0, sizeof *out);
  bg_engine *e;
  bg_err r = bg_store_read_begin(s, &e);
  if (r != BG_OK) return r;
  bg__rows x = {f, out, 0};
  r = bg_store_clients(s, bg__client_row, &x);
  for (size_t i = 0; r == BG_OK && i < out->n; i++) r = bg__load_client(s, e, &out->v[i]);
  x.cap = 0;
  if (r == BG_OK && !f->client) r = bg_store_devices(s, bg__device_row, &x);
  /* the devices' users: teams and state (looked up after the listing: one store call at a time) */
  size_t k = 0;
  for (size_t i = 0; r == BG_OK && i < out->ndev; i++) {
    bg_care_device *d = &out->dev[i];
    bg_user_row u;
    if ((r = bg_store_user_by_login(s, d->login, &u)) != BG_OK) break;
    snprintf(d->teams, sizeof d->teams, "%s", u.teams);
    d->user_disabled = u.disabled;
    if ((f->team && !bg__in_teams(d->teams, f->team)) || (f->begeleider && strcmp(f->begeleider, d->login) != 0)) continue;
    out->dev[k++] = *d;
  }
  out->ndev = k;
  bg_store_read_end(s);
  if (r != BG_OK) bg_care_free(out);
  return r;
}

void bg_care_free(bg_care_set *set) {
  for (size_t i = 0; i < set->n; i++) {
    free(set->v[i].moves);
    free(set->v[i].decisions);
  }
  free(set->v);
  free(set->dev);
  memset(set, 0, sizeof *set);
}

/* --- entries ---------------------------------------------------------------------------------- */

bg_err bg_care_entries_get(bg_store *s, const char *client, bool conflicts, bool proposals, bg_open_entries *out) {
  bg_engine *e;
  memset(out, 0, sizeof *out);
  bg_err r = bg_store_read_begin(s, &e);
  if (r != BG_OK) return r;
  r = bg_open_entries_get(e, client ? bg_str_c(client) : (bg_str){"", 0}, conflicts, proposals, out);
  bg_store_read_end(s);
  return r;
}

/* --- records ---------------------------------------------------------------------------------- */

static bg_err bg__rec_write(void *arg, const bg_write *w) { return bg__scan_rec(arg, w); }

bg_err bg_care_records(bg_store *s, const char *client, bg_care_field_cb cb, void *arg) {
  bg_engine *e;
  bg_err r = bg_store_read_begin(s, &e);
  if (r != BG_OK) return r;
  bg__scan sc = {NULL, NULL, 0, 0, 0};
  r = bg_store_history(s, client, bg__rec_write, &sc);
  if (r == BG_OK && sc.nrec == 0) r = BG_E_NOT_FOUND;
  if (r == BG_OK && sc.nrec > 1) qsort(sc.recs, sc.nrec, sizeof *sc.recs, bg__rec_cmp);
  char text[BG_TEXT_MAX + 80];
  for (size_t i = 0; r == BG_OK && i < sc.nrec; i++) {
    const bg__rec *rec = &sc.recs[i];
    const bg_rtype_def *rt = bg_rtype(rec->rtype);
    if (rt == NULL) continue;
    bool deleted = false, edit_won = false;
    const bg_field_def *del = bg_field_by_name(rt, BG_FIELD_DELETED_NAME, strlen(BG_FIELD_DELETED_NAME));
    if (del) r = bg_engine_deleted(e, bg_str_c(client), rec->rtype, bg_str_c(rec->rid), &deleted, &edit_won);
    for (uint16_t j = 0; r == BG_OK && j < rt->n_fields; j++) {
      const bg_field_def *f = &rt->fields[j];
      if (f == del) continue;
      bg_field_view fv;
      const bg_write *w;
      if ((r = bg__winner(e, client, rec->rtype, rec->rid, f->id, &w, &fv)) != BG_OK || w == NULL) continue;
      bg_value_text(f, &w->value, text, sizeof text);
      bg_care_field cf = {rt->name, rec->rid, f->name, text, w->user, bg__at(w), deleted};
      r = cb(arg, &cf);
    }
  }
  free(sc.recs);
  bg_store_read_end(s);
  return r;
}

/* --- signals ---------------------------------------------------------------------------------- */

static void bg__date(int64_t ms, char *out, size_t len) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (ms <= 0 || gmtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%d", &tm) == 0) snprintf(out, len, "-");
}

/* Emit a signal of a client when its clock, started at `since`, ran past `limit_days`. */
__attribute__((format(printf, 7, 8))) static bg_err bg__signal(bg_signal_cb cb, void *arg, const bg_signal_opts *o,
                                                              const bg_care_client *c, const char *kind, int64_t since,
                                                              const char *fmt, ...) {
  bg_signal sig = {kind, c->id, c->team, c->begeleider, 0, since, (int)((o->now - since) / BG_DAY_MS), ""};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sig.detail, sizeof sig.detail, fmt, ap);
  va_end(ap);
  return cb(arg, &sig);
}

static bool bg__past(const bg_signal_opts *o, int64_t since, int64_t days) { return since > 0 && o->now - since > days * BG_DAY_MS; }

bg_err bg_care_signals(const bg_care_set *set, const bg_signal_opts *o, bg_signal_cb cb, void *arg) {
  bg_err r = BG_OK;
  char d1[16];
  for (size_t i = 0; r == BG_OK && i < set->n; i++) {
    const bg_care_client *c = &set->v[i];
    uint8_t ph = c->pos.phase;
    bg__date(c->pos_since, d1, sizeof d1);
    if (ph == BG_PH_PLANNING && c->plan == BG_PLAN_NONE && bg__past(o, c->pos_since, BG_CARE_PLAN_DAYS))
      r = bg__signal(cb, arg, o, c, "plan-late", c->pos_since,
                     "in planning since %s (persoonsbeschrijving done) and no begeleidingsplan: due within %d days",
                     d1, BG_CARE_PLAN_DAYS);
    if (r == BG_OK && ph == BG_PH_PLANNING && c->plan == BG_PLAN_DRAFT && bg__past(o, c->pos_since, o->days))
      r = bg__signal(cb, arg, o, c, "plan-unsigned", c->pos_since,
                     "in planning since %s; the begeleidingsplan is a draft the client has not signed", d1);
    if (r == BG_OK && (ph == BG_PH_UITVOERING || ph == BG_PH_EVALUATIE) && c->plan != BG_PLAN_SIGNED)
      r = bg__signal(cb, arg, o, c, "plan-unsigned", c->pos_since,
                     "in %s since %s, but the plan of cycle %u is not signed: sign it or move the traject back by a "
                     "new cycle", bg_phase_name(ph), d1, c->pos.cycle);
    if (r == BG_OK && ph == BG_PH_UITVOERING) {
      int64_t ref = c->last_voortgang > c->pos_since ? c->last_voortgang : c->pos_since;
      char d2[16];
      bg__date(ref, d2, sizeof d2);
      if (bg__past(o, ref, BG_CARE_VOORTGANG_DAYS))
        r = bg__signal(cb, arg, o, c, "voortgangsgesprek-due", ref,
                       c->last_voortgang > c->pos_since
                           ? "last voortgangsgesprek %s: at least one every %d days in uitvoering"
                           : "no voortgangsgesprek since uitvoering began on %s: at least one every %d days",
                       d2, BG_CARE_VOORTGANG_DAYS);
      if (r == BG_OK && c->plan_term > 0 && o->now > c->plan_term) {
        bg__date(c->plan_term, d2, sizeof d2);
        r = bg__signal(cb, arg, o, c, "evaluatie-due", c->plan_term,
                       "the plan's term (latest deadline or termijn) was %s: time to evaluate", d2);
      } else if (r == BG_OK && c->plan_term == 0 && bg__past(o, c->pos_since, o->evaluate_days)) {
        r = bg__signal(cb, arg, o, c, "evaluatie-due", c->pos_since,
                       "in uitvoering since %s and the plan names no dated term: evaluate after %d days", d1,
                       o->evaluate_days);
      }
    }
    if (r == BG_OK && c->conflicts > 0 && bg__past(o, c->oldest_conflict, o->days)) {
      char d2[16];
      bg__date(c->oldest_conflict, d2, sizeof d2);
      r = bg__signal(cb, arg, o, c, "conflict-open", c->oldest_conflict,
                     "%u open conflict%s, the oldest since %s: bgctl conflicts list --client %s", c->conflicts,
                     c->conflicts == 1 ? "" : "s", d2, c->id);
    }
  }
  for (size_t i = 0; r == BG_OK && i < set->ndev; i++) {
    const bg_care_device *d = &set->dev[i];
    int64_t ref = d->last_seen ? d->last_seen : d->enrolled;
    if (d->user_disabled || !bg__past(o, ref, o->days)) continue;
    bg_signal sig = {"device-silent", "", d->teams, d->login, d->id, ref, (int)((o->now - ref) / BG_DAY_MS), ""};
    bg__date(ref, d1, sizeof d1);
    snprintf(sig.detail, sizeof sig.detail,
             d->last_seen ? "device %" PRIu64 " (%s) last synced %s: its unsynced work is at risk"
                          : "device %" PRIu64 " (%s) enrolled %s and never synced",
             d->id, d->name[0] ? d->name : "-", d1);
    r = cb(arg, &sig);
  }
  return r;
}

/* --- reports ---------------------------------------------------------------------------------- */

/* Days, nearest-rank percentile of sorted values. */
static double bg__pct(const double *v, size_t n, double p) {
  size_t k = (size_t)(p * (double)n);
  if ((double)k < p * (double)n) k++; /* the rank is ceil(p * n) */
  return v[k ? k - 1 : 0];
}

static int bg__dbl_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The position at `t`: the largest reached before it (moves are ascending). */
static const bg_care_move *bg__pos_at(const bg_care_client *c, int64_t t) {
  const bg_care_move *m = NULL;
  for (size_t i = 0; i < c->n_moves; i++)
    if (c->moves[i].at < t) m = &c->moves[i];
  return m;
}

#define BG__MAX_CYCLE 16 /* cycles counted one by one; more are counted at the last */

typedef struct bg__tally {
  uint64_t fase[BG_PHASE_MAX + 1][BG__MAX_CYCLE + 1];
  double *dur[BG_PHASE_MAX + 1];
  size_t ndur[BG_PHASE_MAX + 1], capdur[BG_PHASE_MAX + 1];
  uint64_t cycli[BG__MAX_CYCLE + 1];
  uint64_t dec[BG_DEC_UITSTROOM + 1][16];
} bg__tally;

static const bg_enum_def *bg__dec_enum(int kind) {
  switch (kind) {
    case BG_DEC_AANMELDING: return &bg_enum_aanmeldingsbesluit;
    case BG_DEC_INTAKE: return &bg_enum_intakebesluit;
    case BG_DEC_EVALUATIE: return &bg_enum_evaluatiebesluit;
    default: return &bg_enum_uitstroomreden;
  }
}

static bg_err bg__tally_client(bg__tally *t, const bg_care_client *c, const bg_report_opts *o) {
  const bg_care_move *now = bg__pos_at(c, o->to);
  if (now == NULL) return BG_OK; /* no traject yet at the period's end */
  uint32_t cy = now->pos.cycle > BG__MAX_CYCLE ? BG__MAX_CYCLE : now->pos.cycle;
  t->fase[now->pos.phase][cy]++;
  t->cycli[cy]++;
  /* each position left in the period: from its first write to the first write of a later one */
  for (size_t i = 0; i < c->n_moves; i++) {
    int64_t left = INT64_MAX;
    for (size_t j = i + 1; j < c->n_moves; j++)
      if (c->moves[j].at < left) left = c->moves[j].at;
    if (left == INT64_MAX || left < o->from || left >= o->to) continue;
    uint8_t ph = c->moves[i].pos.phase;
    if (t->ndur[ph] == t->capdur[ph]) {
      size_t cap = t->capdur[ph] ? t->capdur[ph] * 2 : 16;
      double *v = realloc(t->dur[ph], cap * sizeof *v);
      if (v == NULL) return BG_E_NOMEM;
      t->dur[ph] = v;
      t->capdur[ph] = cap;
    }
    int64_t ms = left - c->moves[i].at;
    t->dur[ph][t->ndur[ph]++] = ms > 0 ? (double)ms / (double)BG_DAY_MS : 0.0;
  }
  for (size_t i = 0; i < c->n_decisions; i++) {
    const bg_care_decision *d = &c->decisions[i];
    if (d->at < o->from || d->at >= o->to) continue;
    int rank = bg_enum_rank(bg__dec_enum(d->kind), d->value, strlen(d->value));
    if (rank >= 0 && rank < 16) t->dec[d->kind][rank]++;
  }
  return BG_OK;
}

static bg_err bg__tally_emit(bg__tally *t, const char *team, bg_report_cb cb, void *arg) {
  bg_err r = BG_OK;
  char item[64];
  for (int ph = 1; r == BG_OK && ph <= BG_PHASE_MAX; ph++)
    for (int cy = 0; r == BG_OK && cy <= BG__MAX_CYCLE; cy++)
      if (t->fase[ph][cy]) {
        bg_report_row row = {"fase", team, bg_phase_name(ph), cy, t->fase[ph][cy], -1, -1};
        r = cb(arg, &row);
      }
  for (int ph = 1; r == BG_OK && ph <= BG_PHASE_MAX; ph++) {
    if (t->ndur[ph] == 0) continue;
    qsort(t->dur[ph], t->ndur[ph], sizeof *t->dur[ph], bg__dbl_cmp);
    bg_report_row row = {"doorlooptijd", team, bg_phase_name(ph), -1, t->ndur[ph], bg__pct(t->dur[ph], t->ndur[ph], 0.5),
                         bg__pct(t->dur[ph], t->ndur[ph], 0.9)};
    r = cb(arg, &row);
  }
  for (int cy = 0; r == BG_OK && cy <= BG__MAX_CYCLE; cy++) {
    if (!t->cycli[cy]) continue;
    snprintf(item, sizeof item, "%d%s", cy, cy == BG__MAX_CYCLE ? "+" : "");
    bg_report_row row = {"cycli", team, item, -1, t->cycli[cy], -1, -1};
    r = cb(arg, &row);
  }
  static const char *const kinds[] = {"", "aanmelding", "intake", "evaluatie"};
  for (int k = BG_DEC_AANMELDING; r == BG_OK && k <= BG_DEC_UITSTROOM; k++) {
    const bg_enum_def *en = bg__dec_enum(k);
    for (int v = 0; r == BG_OK && v < en->n && v < 16; v++) {
      if (!t->dec[k][v]) continue;
      if (k == BG_DEC_UITSTROOM) snprintf(item, sizeof item, "%s", en->values[v]);
      else snprintf(item, sizeof item, "%s: %s", kinds[k], en->values[v]);
      bg_report_row row = {k == BG_DEC_UITSTROOM ? "uitstroom" : "besluit", team, item, -1, t->dec[k][v], -1, -1};
      r = cb(arg, &row);
    }
  }
  return r;
}

static void bg__tally_free(bg__tally *t) {
  for (int ph = 0; ph <= BG_PHASE_MAX; ph++) free(t->dur[ph]);
  free(t);
}

static int bg__str_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

bg_err bg_care_report(const bg_care_set *set, const bg_report_opts *o, bg_report_cb cb, void *arg) {
  /* the teams present, sorted */
  const char **teams = malloc((set->n ? set->n : 1) * sizeof *teams);
  if (teams == NULL) return BG_E_NOMEM;
  size_t nt = 0;
  for (size_t i = 0; i < set->n; i++) teams[nt++] = set->v[i].team;
  qsort(teams, nt, sizeof *teams, bg__str_cmp);
  size_t k = 0;
  for (size_t i = 0; i < nt; i++)
    if (k == 0 || strcmp(teams[k - 1], teams[i]) != 0) teams[k++] = teams[i];
  nt = k;
  bg_err r = BG_OK;
  for (size_t ti = 0; r == BG_OK && ti <= nt; ti++) {
    if (ti == nt && !o->total) break;
    const char *team = ti < nt ? teams[ti] : "*";
    bg__tally *t = calloc(1, sizeof *t);
    if (t == NULL) {
      r = BG_E_NOMEM;
      break;
    }
    for (size_t i = 0; r == BG_OK && i < set->n; i++)
      if (ti == nt || strcmp(set->v[i].team, team) == 0) r = bg__tally_client(t, &set->v[i], o);
    if (r == BG_OK) r = bg__tally_emit(t, team, cb, arg);
    bg__tally_free(t);
  }
  free(teams);
  return r;
}
