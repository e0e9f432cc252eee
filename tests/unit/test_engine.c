/*
 * test_engine.c - the merge engine (bg_engine.h) against the phase rules of
 * DOMAIN.md: R1-R5, the window table, deletes, rapportage, the resolution of a
 * conflict, and the properties "convergence" and "nothing lost".
 *
 * Every expectation is written down from DOMAIN.md (and, where DOMAIN.md is
 * silent, from the contract in bg_engine.h): the decision orders, the windows,
 * who wins under R2. The schema is only used to look fields up by name.
 *
 * Conventions of the scenarios: client "C-1"; device 1 is the laptop of the
 * traject's trajectbegeleider (user 101), device 4 her phone (user 101 too),
 * device 2 a colleague (user 102), device 3 the office (user 103), device 5 a
 * second colleague. A write carries the dots its writer had seen (its causal
 * context) and the (cycle, phase) its writer's replica showed.
 *
 * Where order matters, a scenario is applied to a fresh replica in every order of
 * its writes, and every order must give the same digest. The seeded tests use a
 * fixed seed (BG_TEST_SEED=<number> in the environment replays another one).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_engine.h"
#include "bg_error.h"
#include "bg_kv.h"
#include "bg_msg.h"
#include "bg_schema.h"
#include "bg_vv.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define CLIENT "C-1"
#define MAX_CTX 16u
#define MAX_ENTRIES 64u
#define MAX_LIVE 64u
#define TEXT_CAP 96u

static const bg_str all_clients = {"", 0};

/* Static initialisers for values (tables). */
#define V_TEXT(lit) {.type = BG_V_STR, .s = {(lit), (uint32_t)(sizeof(lit) - 1)}}
#define V_INT(n) {.type = BG_V_INT, .i = (n)}
#define V_BOOL(v) {.type = BG_V_BOOL, .b = (v)}
#define V_POS(cycle, phase) V_INT((int64_t)(cycle) * 16 + (phase)) /* bg_schema.h: cycle * 16 + phase */

static bg_value vtext(const char *s) { return (bg_value){.type = BG_V_STR, .s = bg_str_c(s)}; }
static bg_value vint(int64_t i) { return (bg_value){.type = BG_V_INT, .i = i}; }
static bg_value vpos(uint32_t cycle, uint8_t phase) { return vint(bg_pos_encode((bg_pos){cycle, phase})); }

static bool dot_eq(bg_dot a, bg_dot b) { return a.device == b.device && a.counter == b.counter; }

/* Where a failure happened (the order being replayed, the table row). */
static char g_context[256];

/* ---- replicas ---------------------------------------------------------------- */

typedef struct replica {
  bg_memkv *kv;
  bg_engine eng;
} replica;

/* Replicas alive; the teardown frees those a failed assertion left behind. */
static replica *g_live[MAX_LIVE];

static replica *replica_new(void) {
  replica *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->kv = bg_memkv_new();
  if (r->kv == NULL) {
    free(r);
    fail_msg("bg_memkv_new: out of memory");
    return NULL;
  }
  bg_err e = bg_engine_init(&r->eng, bg_memkv_kv(r->kv));
  if (e != BG_OK) {
    bg_engine_free(&r->eng);
    bg_memkv_free(r->kv);
    free(r);
    fail_msg("bg_engine_init: %s", bg_err_name(e));
    return NULL;
  }
  for (size_t i = 0; i < MAX_LIVE; i++)
    if (g_live[i] == NULL) {
      g_live[i] = r;
      return r;
    }
  fail_msg("more than %u replicas alive", MAX_LIVE);
  return NULL;
}

static void replica_free(replica *r) {
  for (size_t i = 0; i < MAX_LIVE; i++)
    if (g_live[i] == r) g_live[i] = NULL;
  bg_engine_free(&r->eng);
  bg_memkv_free(r->kv);
  free(r);
}

static int free_live_replicas(void **state) {
  (void)state;
  for (size_t i = 0; i < MAX_LIVE; i++)
    if (g_live[i] != NULL) replica_free(g_live[i]);
  g_context[0] = 0;
  return 0;
}

/* Entries in every key space of the store (to show that nothing was stored). */
static size_t stored_entries(const replica *r) {
  size_t n = 0;
  for (int s = 1; s <= BG_KV_SPACES; s++) n += bg_memkv_count(r->kv, s);
  return n;
}

static void digest_of(replica *r, bg_str client, uint8_t out[32]) {
  bg_err e = bg_engine_digest(&r->eng, client, out);
  if (e != BG_OK) fail_msg("bg_engine_digest: %s", bg_err_name(e));
}

/* ---- writes ------------------------------------------------------------------ */

/* A write as a test states it: every part explicit (zero means "the default"
 * only where noted). */
typedef struct wspec {
  const char *client; /* NULL: CLIENT */
  uint32_t rtype;
  const char *rid;
  const char *field;  /* field name; NULL: field_id */
  uint32_t field_id;
  bg_value value;
  bg_dot dot;
  bg_dot seen[MAX_CTX]; /* dots the writer had seen (its causal context); ends at {0, 0} */
  uint32_t cycle;       /* the position the writer saw */
  uint8_t phase;
  uint64_t user;        /* 0: 100 + device */
  uint8_t role;         /* 0: BG_ROLE_BEGELEIDER */
  bool tb;              /* the author is the traject's trajectbegeleider */
  uint64_t hlc;
} wspec;

/* A built write with the storage it points into. Never copied by value once
 * built: w.ctx, w.client and w.rid point into the struct itself. */
typedef struct tw {
  bg_write w;
  bg_dot ctx[MAX_CTX];
  char client[BG_ID_MAX + 1];
  char rid[BG_ID_MAX + 1];
} tw;

static uint32_t fid(uint32_t rtype, const char *name) {
  const bg_rtype_def *rt = bg_rtype(rtype);
  const bg_field_def *f = rt ? bg_field_by_name(rt, name, strlen(name)) : NULL;
  if (f == NULL) fail_msg("no field '%s' in record type %u", name, rtype);
  return f ? f->id : 0;
}

/* The writer had seen `d` too: ctx[d.device] = max(ctx[d.device], d.counter). */
static void tw_see(tw *t, bg_dot d) {
  uint32_t n = t->w.ctx.n, i = 0;
  while (i < n && t->ctx[i].device < d.device) i++;
  if (i < n && t->ctx[i].device == d.device) {
    if (t->ctx[i].counter < d.counter) t->ctx[i].counter = d.counter;
    return;
  }
  assert_true(n < MAX_CTX);
  memmove(&t->ctx[i + 1], &t->ctx[i], (n - i) * sizeof t->ctx[0]);
  t->ctx[i] = d;
  t->w.ctx.n = n + 1;
}

static void tw_see_vv(tw *t, const bg_vv *v) {
  for (uint32_t i = 0; i < v->n; i++) tw_see(t, v->e[i]);
}

static void tw_make(tw *t, const wspec *s) {
  memset(t, 0, sizeof *t);
  const char *client = s->client ? s->client : CLIENT;
  size_t cl = strlen(client), rl = strlen(s->rid);
  assert_true(cl <= BG_ID_MAX && rl <= BG_ID_MAX);
  memcpy(t->client, client, cl);
  memcpy(t->rid, s->rid, rl);
  t->w.client = (bg_str){t->client, (uint32_t)cl};
  t->w.rtype = s->rtype;
  t->w.rid = (bg_str){t->rid, (uint32_t)rl};
  t->w.field = s->field ? fid(s->rtype, s->field) : s->field_id;
  t->w.value = s->value;
  t->w.dot = s->dot;
  t->w.ctx = (bg_vv){t->ctx, 0, 0};
  for (size_t i = 0; i < MAX_CTX && s->seen[i].device != 0; i++) tw_see(t, s->seen[i]);
  t->w.cycle = s->cycle;
  t->w.phase = s->phase;
  t->w.user = s->user ? s->user : 100 + s->dot.device;
  t->w.role = s->role ? s->role : BG_ROLE_BEGELEIDER;
  t->w.tb = s->tb;
  t->w.hlc = s->hlc;
}

/* The writer had seen what `r` applied of the write's record (a local edit). */
static void tw_see_record(tw *t, replica *r) {
  bg_vv v = BG_VV_INIT;
  bg_err e = bg_engine_record_context(&r->eng, t->w.client, t->w.rtype, t->w.rid, &v);
  if (e == BG_OK) tw_see_vv(t, &v);
  bg_vv_free(&v);
  if (e != BG_OK) fail_msg("bg_engine_record_context: %s", bg_err_name(e));
}

/* A signature: the writer had seen what `r` applied of the plan of `cycle`. */
static void tw_see_plan(tw *t, replica *r, uint32_t cycle) {
  bg_vv v = BG_VV_INIT;
  bg_err e = bg_engine_plan_context(&r->eng, t->w.client, cycle, &v);
  if (e == BG_OK) tw_see_vv(t, &v);
  bg_vv_free(&v);
  if (e != BG_OK) fail_msg("bg_engine_plan_context: %s", bg_err_name(e));
}

static void value_text(const bg_value *v, char *out, size_t cap) {
  switch (v->type) {
    case BG_V_NIL: snprintf(out, cap, "nil"); break;
    case BG_V_BOOL: snprintf(out, cap, "%s", v->b ? "true" : "false"); break;
    case BG_V_INT: snprintf(out, cap, "%" PRId64, v->i); break;
    default: snprintf(out, cap, "%.*s", (int)v->s.len, v->s.p); break;
  }
}

static const char *describe(const bg_write *w) {
  static char buf[256];
  char val[TEXT_CAP];
  const bg_rtype_def *rt = bg_rtype(w->rtype);
  value_text(&w->value, val, sizeof val);
  snprintf(buf, sizeof buf, "%s/%.*s field %u = '%s' (dot %" PRIu64 ".%" PRIu64 ", seen %u/%s)",
           rt ? rt->name : "?", (int)w->rid.len, w->rid.p, w->field, val, w->dot.device, w->dot.counter,
           w->cycle, bg_phase_name(w->phase));
  return buf;
}

static const char *outcome_name(int o) {
  switch (o) {
    case BG_APPLIED: return "BG_APPLIED";
    case BG_DUPLICATE: return "BG_DUPLICATE";
    case BG_PROPOSAL: return "BG_PROPOSAL";
    default: return "?";
  }
}

/* ---- applying ---------------------------------------------------------------- */

static bg_apply_result apply(replica *r, const tw *t) {
  bg_apply_result res = {0, BG_OK};
  bg_err e = bg_engine_apply(&r->eng, &t->w, &res);
  if (e != BG_OK) fail_msg("%s: write %s refused: %s", g_context, describe(&t->w), bg_err_name(e));
  return res;
}

/* Apply and require the outcome (and, for a proposal, its reason). */
static void apply_expect(replica *r, const tw *t, bg_outcome want, bg_err reason) {
  bg_apply_result res = apply(r, t);
  if (res.outcome != want || (want == BG_PROPOSAL && res.reason != reason))
    fail_msg("%s: write %s: expected %s (%s), got %s (%s)", g_context, describe(&t->w), outcome_name(want),
             want == BG_PROPOSAL ? bg_err_name(reason) : "-", outcome_name(res.outcome),
             res.outcome == BG_PROPOSAL ? bg_err_name(res.reason) : "-");
}

/* ---- reading ----------------------------------------------------------------- */

/* The visible write of t's field; {0, 0} when none. */
static bg_dot visible_dot(replica *r, const tw *t, char *val, size_t cap) {
  bg_field_view v;
  bg_err e = bg_engine_field(&r->eng, t->w.client, t->w.rtype, t->w.rid, t->w.field, &v);
  if (e != BG_OK) fail_msg("bg_engine_field: %s", bg_err_name(e));
  if (val) {
    if (v.winner) value_text(&v.winner->value, val, cap);
    else snprintf(val, cap, "(none)");
  }
  return v.winner ? v.winner->dot : (bg_dot){0, 0};
}

/* t's value is the one shown for its field. */
static void assert_visible(replica *r, const tw *t) {
  char shown[TEXT_CAP];
  bg_dot d = visible_dot(r, t, shown, sizeof shown);
  if (!dot_eq(d, t->w.dot))
    fail_msg("%s: expected %s to be visible, but write %" PRIu64 ".%" PRIu64 " ('%s') is", g_context,
             describe(&t->w), d.device, d.counter, shown);
}

/* Nothing is shown for t's field. */
static void assert_nothing_visible(replica *r, const tw *t) {
  char shown[TEXT_CAP];
  bg_dot d = visible_dot(r, t, shown, sizeof shown);
  if (d.device != 0)
    fail_msg("%s: expected no visible value for the field of %s, but write %" PRIu64 ".%" PRIu64 " ('%s') is",
             g_context, describe(&t->w), d.device, d.counter, shown);
}

static const char *fate_label(int f) { return bg_fate_name(f); }

static void assert_fate(replica *r, const tw *t, bg_fate want) {
  bg_fate got = BG_FATE_MISSING;
  bg_err e = bg_engine_fate(&r->eng, &t->w, &got);
  if (e != BG_OK) fail_msg("bg_engine_fate: %s", bg_err_name(e));
  if (got != want)
    fail_msg("%s: write %s: expected fate '%s', got '%s'", g_context, describe(&t->w), fate_label(want),
             fate_label(got));
}

/* One conflict entry or wijzigingsvoorstel, copied out of the engine. */
typedef struct entry_copy {
  bool proposal;
  bg_err reason;
  uint8_t kind, rule;
  bg_dot write, winner; /* winner {0, 0} when none */
  uint64_t write_user, write_hlc, winner_user, winner_hlc;
  char write_text[TEXT_CAP], winner_text[TEXT_CAP];
} entry_copy;

typedef struct entry_list {
  size_t n, conflicts, edit_wins, proposals;
  entry_copy e[MAX_ENTRIES];
} entry_list;

static bg_err collect_entry(void *arg, const bg_entry *en) {
  entry_list *l = arg;
  if (en->proposal) l->proposals++;
  else if (en->kind == BG_CONFLICT_EDIT_WINS) l->edit_wins++;
  else l->conflicts++;
  if (l->n == MAX_ENTRIES) return BG_OK;
  entry_copy *c = &l->e[l->n++];
  memset(c, 0, sizeof *c);
  c->proposal = en->proposal;
  c->reason = en->reason;
  c->kind = en->kind;
  c->rule = en->rule;
  c->write = en->write->dot;
  c->write_user = en->write->user;
  c->write_hlc = en->write->hlc;
  value_text(&en->write->value, c->write_text, sizeof c->write_text);
  if (en->winner) {
    c->winner = en->winner->dot;
    c->winner_user = en->winner->user;
    c->winner_hlc = en->winner->hlc;
    value_text(&en->winner->value, c->winner_text, sizeof c->winner_text);
  }
  return BG_OK;
}

static void entries_of(replica *r, entry_list *out) {
  memset(out, 0, sizeof *out);
  bg_err e = bg_engine_entries(&r->eng, all_clients, collect_entry, out);
  if (e != BG_OK) fail_msg("bg_engine_entries: %s", bg_err_name(e));
}

static void assert_no_entries(replica *r) {
  entry_list l;
  entries_of(r, &l);
  if (l.n != 0)
    fail_msg("%s: expected no conflict entries or proposals, found %zu conflicts, %zu edit-wins, %zu proposals "
             "(first: write %" PRIu64 ".%" PRIu64 " '%s')",
             g_context, l.conflicts, l.edit_wins, l.proposals, l.e[0].write.device, l.e[0].write.counter,
             l.e[0].write_text);
}

/* The entries hold exactly one wijzigingsvoorstel per write in `ws` (with `reason`)
 * and nothing else. */
static void assert_proposals(replica *r, const tw *const *ws, size_t n, bg_err reason) {
  entry_list l;
  entries_of(r, &l);
  if (l.n != n || l.proposals != n)
    fail_msg("%s: expected %zu wijzigingsvoorstel(len) and nothing else, found %zu conflicts, %zu edit-wins, "
             "%zu proposals",
             g_context, n, l.conflicts, l.edit_wins, l.proposals);
  for (size_t i = 0; i < n; i++) {
    bool found = false;
    for (size_t k = 0; k < l.n && !found; k++) {
      if (!dot_eq(l.e[k].write, ws[i]->w.dot)) continue;
      found = true;
      if (l.e[k].reason != reason)
        fail_msg("%s: proposal %s has reason %s, expected %s", g_context, describe(&ws[i]->w),
                 bg_err_name(l.e[k].reason), bg_err_name(reason));
    }
    if (!found) fail_msg("%s: no wijzigingsvoorstel for %s", g_context, describe(&ws[i]->w));
    assert_fate(r, ws[i], BG_FATE_PROPOSAL);
  }
}

/* ---- every order ------------------------------------------------------------- */

typedef void (*state_check)(replica *r, void *arg);

static bool next_permutation(size_t *a, size_t n) {
  if (n < 2) return false;
  size_t i = n - 1;
  while (i > 0 && a[i - 1] >= a[i]) i--;
  if (i == 0) return false;
  size_t j = n - 1;
  while (a[j] <= a[i - 1]) j--;
  size_t t = a[i - 1];
  a[i - 1] = a[j];
  a[j] = t;
  for (size_t lo = i, hi = n - 1; lo < hi; lo++, hi--) {
    t = a[lo];
    a[lo] = a[hi];
    a[hi] = t;
  }
  return true;
}

/* Apply `ws` to a fresh replica in every order (n! of them), run `check` on each
 * result (may be NULL), and require one digest for all orders. `label` names the
 * scenario in messages. */
static void in_every_order(const char *label, const tw *const *ws, size_t n, state_check check, void *arg) {
  size_t order[8];
  assert_true(n >= 1 && n <= N_ELEMS(order));
  for (size_t i = 0; i < n; i++) order[i] = i;
  uint8_t first[32], d[32];
  bool have_first = false;
  do {
    int len = snprintf(g_context, sizeof g_context, "%s, arrival order", label);
    for (size_t i = 0; i < n && len > 0 && (size_t)len < sizeof g_context; i++)
      len += snprintf(g_context + len, sizeof g_context - (size_t)len, " %" PRIu64 ".%" PRIu64,
                      ws[order[i]]->w.dot.device, ws[order[i]]->w.dot.counter);
    replica *r = replica_new();
    for (size_t i = 0; i < n; i++) {
      bg_apply_result res = apply(r, ws[order[i]]);
      if (res.outcome == BG_DUPLICATE) fail_msg("%s: a first arrival reported BG_DUPLICATE", g_context);
    }
    if (check) check(r, arg);
    digest_of(r, all_clients, d);
    replica_free(r);
    if (!have_first) {
      memcpy(first, d, sizeof d);
      have_first = true;
    } else if (memcmp(first, d, sizeof d) != 0) {
      fail_msg("%s: the digest differs from the first order's: the state depends on the arrival order", g_context);
    }
  } while (next_permutation(order, n));
  g_context[0] = 0;
}

/* Two concurrent writes to one field and what a rule must make of them. */
typedef struct pair_expect {
  const tw *winner, *loser;
  bool entry;         /* the loser is kept as a conflict entry */
  bg_fate loser_fate; /* when not */
  uint8_t rule;       /* the rule the entry names */
} pair_expect;

static void check_pair(replica *r, void *arg) {
  const pair_expect *x = arg;
  assert_visible(r, x->winner);
  assert_fate(r, x->winner, BG_FATE_VISIBLE);
  if (!x->entry) {
    assert_no_entries(r);
    assert_fate(r, x->loser, x->loser_fate);
    return;
  }
  entry_list l;
  entries_of(r, &l);
  if (l.n != 1 || l.conflicts != 1)
    fail_msg("%s: expected one conflict entry, found %zu conflicts, %zu edit-wins, %zu proposals", g_context,
             l.conflicts, l.edit_wins, l.proposals);
  const entry_copy *e = &l.e[0];
  char loser_text[TEXT_CAP], winner_text[TEXT_CAP];
  value_text(&x->loser->w.value, loser_text, sizeof loser_text);
  value_text(&x->winner->w.value, winner_text, sizeof winner_text);
  if (e->kind != BG_CONFLICT_VALUE || e->rule != x->rule)
    fail_msg("%s: conflict entry of kind %u by rule %s, expected a value conflict by %s", g_context, e->kind,
             bg_rule_name(e->rule), bg_rule_name(x->rule));
  if (!dot_eq(e->write, x->loser->w.dot) || strcmp(e->write_text, loser_text) != 0 ||
      e->write_user != x->loser->w.user || e->write_hlc != x->loser->w.hlc)
    fail_msg("%s: the conflict entry holds write %" PRIu64 ".%" PRIu64 " '%s', expected the loser %s", g_context,
             e->write.device, e->write.counter, e->write_text, describe(&x->loser->w));
  if (!dot_eq(e->winner, x->winner->w.dot) || strcmp(e->winner_text, winner_text) != 0 ||
      e->winner_user != x->winner->w.user || e->winner_hlc != x->winner->w.hlc)
    fail_msg("%s: the conflict entry names winner %" PRIu64 ".%" PRIu64 " '%s', expected %s", g_context,
             e->winner.device, e->winner.counter, e->winner_text, describe(&x->winner->w));
  assert_fate(r, x->loser, BG_FATE_CONFLICT);
}

/* ---- R2: the trajectbegeleider leads ------------------------------------------- */

typedef struct author {
  uint64_t device;
  bool tb;
  uint8_t role;
  uint64_t hlc;
} author;

static void make_naam(tw *t, const char *value, author a) {
  tw_make(t, &(wspec){.rtype = BG_RT_CLIENT, .rid = "c", .field = "naam", .value = vtext(value),
                      .dot = {a.device, 1}, .cycle = 1, .phase = BG_PH_UITVOERING,
                      .user = a.tb ? 101 : 100 + a.device, .role = a.role, .tb = a.tb, .hlc = a.hlc});
}

static void r2_concurrent_edits_go_to_trajectbegeleider_then_later_hlc_then_higher_device(void **state) {
  (void)state;
  static const struct {
    const char *name;
    author a, b; /* two concurrent writes to the client's naam */
    bool a_wins;
  } cases[] = {
      {"trajectbegeleider beats a later write by a colleague",
       {1, true, BG_ROLE_BEGELEIDER, 1000}, {2, false, BG_ROLE_BEGELEIDER, 2000}, true},
      {"trajectbegeleider beats a later write by the office",
       {1, true, BG_ROLE_BEGELEIDER, 1000}, {3, false, BG_ROLE_OFFICE, 9000}, true},
      {"trajectbegeleider on a lower device beats a colleague at the same time",
       {1, true, BG_ROLE_BEGELEIDER, 1000}, {5, false, BG_ROLE_BEGELEIDER, 1000}, true},
      {"without the trajectbegeleider the later HLC wins",
       {5, false, BG_ROLE_BEGELEIDER, 1000}, {2, false, BG_ROLE_BEGELEIDER, 1001}, false},
      {"without the trajectbegeleider the later HLC wins, office or not",
       {2, false, BG_ROLE_BEGELEIDER, 1500}, {3, false, BG_ROLE_OFFICE, 1000}, true},
      {"equal HLC: the higher device wins",
       {2, false, BG_ROLE_BEGELEIDER, 1000}, {5, false, BG_ROLE_BEGELEIDER, 1000}, false},
      {"both by the trajectbegeleider (phone, laptop): the later HLC wins",
       {4, true, BG_ROLE_BEGELEIDER, 1000}, {1, true, BG_ROLE_BEGELEIDER, 1001}, false},
      {"both by the trajectbegeleider at equal HLC: the higher device wins",
       {4, true, BG_ROLE_BEGELEIDER, 1000}, {1, true, BG_ROLE_BEGELEIDER, 1000}, true},
  };
  for (size_t i = 0; i < N_ELEMS(cases); i++) {
    tw a, b;
    make_naam(&a, "Jan de Vries", cases[i].a);
    make_naam(&b, "J. de Vries-Bakker", cases[i].b);
    pair_expect x = {cases[i].a_wins ? &a : &b, cases[i].a_wins ? &b : &a, true, BG_FATE_CONFLICT, BG_RULE_R2};
    const tw *ws[] = {&a, &b};
    in_every_order(cases[i].name, ws, 2, check_pair, &x);
  }
}

static void r2_loser_is_conflict_entry_with_both_values_authors_and_times(void **state) {
  (void)state;
  tw tb, colleague;
  make_naam(&tb, "Jan de Vries", (author){1, true, BG_ROLE_BEGELEIDER, 1000});
  make_naam(&colleague, "Johannes de Vries", (author){2, false, BG_ROLE_BEGELEIDER, 5000});
  replica *r = replica_new();
  apply_expect(r, &tb, BG_APPLIED, BG_OK);
  apply_expect(r, &colleague, BG_APPLIED, BG_OK); /* takes part in its field, as a conflict entry */
  entry_list l;
  entries_of(r, &l);
  assert_int_equal(l.n, 1);
  assert_false(l.e[0].proposal);
  assert_int_equal(l.e[0].kind, BG_CONFLICT_VALUE);
  assert_int_equal(l.e[0].rule, BG_RULE_R2);
  assert_string_equal(l.e[0].write_text, "Johannes de Vries");
  assert_int_equal(l.e[0].write_user, 102);
  assert_int_equal(l.e[0].write_hlc, 5000);
  assert_true(dot_eq(l.e[0].write, colleague.w.dot));
  assert_string_equal(l.e[0].winner_text, "Jan de Vries");
  assert_int_equal(l.e[0].winner_user, 101);
  assert_int_equal(l.e[0].winner_hlc, 1000);
  assert_true(dot_eq(l.e[0].winner, tb.w.dot));
  /* The field view tells the same story. */
  bg_field_view v;
  assert_int_equal(bg_engine_field(&r->eng, tb.w.client, BG_RT_CLIENT, BG_STR("c"), tb.w.field, &v), BG_OK);
  assert_int_equal(v.n_current, 2);
  assert_int_equal(v.n_losers, 1);
  assert_int_equal(v.rule, BG_RULE_R2);
  assert_true(dot_eq(v.losers[0]->dot, colleague.w.dot));
  replica_free(r);
}

static void r2_equal_concurrent_values_make_no_conflict_entry(void **state) {
  (void)state;
  tw a, b;
  make_naam(&a, "Jan de Vries", (author){1, true, BG_ROLE_BEGELEIDER, 1000});
  make_naam(&b, "Jan de Vries", (author){2, false, BG_ROLE_BEGELEIDER, 2000});
  pair_expect x = {&a, &b, false, BG_FATE_EQUAL, BG_RULE_R2};
  const tw *ws[] = {&a, &b};
  in_every_order("equal concurrent values", ws, 2, check_pair, &x);
}

static void check_superseded(replica *r, void *arg) {
  const tw *const *w = arg; /* {earlier, later} */
  assert_visible(r, w[1]);
  assert_fate(r, w[1], BG_FATE_VISIBLE);
  assert_fate(r, w[0], BG_FATE_SUPERSEDED);
  assert_no_entries(r);
}

static void r2_write_that_had_seen_the_other_supersedes_it_without_conflict(void **state) {
  (void)state;
  /* The trajectbegeleider wrote first; a colleague who had seen that write
   * changed it - with an older clock even. No rule is asked: not concurrent. */
  tw first, second;
  make_naam(&first, "Jan de Vries", (author){1, true, BG_ROLE_BEGELEIDER, 2000});
  tw_make(&second, &(wspec){.rtype = BG_RT_CLIENT, .rid = "c", .field = "naam", .value = vtext("Jan de Vries-Bakker"),
                            .dot = {2, 1}, .seen = {{1, 1}}, .cycle = 1, .phase = BG_PH_UITVOERING, .hlc = 1000});
  const tw *ws[] = {&first, &second};
  in_every_order("a write that had seen the other", ws, 2, check_superseded, (void *)ws);
}

/* ---- R3: progress is monotone ----------------------------------------------- */

static void make_status(tw *t, const char *value, author a) {
  tw_make(t, &(wspec){.rtype = BG_RT_ACTIE, .rid = "1:1.1", .field = "status", .value = vtext(value),
                      .dot = {a.device, 1}, .cycle = 1, .phase = BG_PH_UITVOERING,
                      .user = a.tb ? 101 : 100 + a.device, .role = a.role, .tb = a.tb, .hlc = a.hlc});
}

static void r3_concurrent_actie_status_takes_the_maximum(void **state) {
  (void)state;
  /* DOMAIN.md: open < bezig < vervallen < afgerond. */
  static const char *const order[] = {"open", "bezig", "vervallen", "afgerond"};
  for (size_t lo = 0; lo < N_ELEMS(order); lo++)
    for (size_t hi = lo + 1; hi < N_ELEMS(order); hi++) {
      /* The lower status by the trajectbegeleider, later: R2 would pick it. */
      tw low, high;
      make_status(&low, order[lo], (author){1, true, BG_ROLE_BEGELEIDER, 2000});
      make_status(&high, order[hi], (author){2, false, BG_ROLE_BEGELEIDER, 1000});
      bool vervallen_meets_afgerond = strcmp(order[lo], "vervallen") == 0 && strcmp(order[hi], "afgerond") == 0;
      pair_expect x = {&high, &low, vervallen_meets_afgerond, BG_FATE_SUBSUMED, BG_RULE_R3};
      char name[96];
      snprintf(name, sizeof name, "actie status %s vs %s", order[lo], order[hi]);
      const tw *ws[] = {&low, &high};
      in_every_order(name, ws, 2, check_pair, &x);
    }
}

/* ---- R4: when in doubt, care continues --------------------------------------- */

static void r4_concurrent_decisions_keep_the_client_in_care(void **state) {
  (void)state;
  /* The orders of DOMAIN.md, low to high. */
  static const char *const aanmelding[] = {"afwijzing", "doorverwijzing", "intakegesprek", "spoedopname"};
  static const char *const intake[] = {"afwijzing", "doorverwijzing", "wachtlijst", "proefbegeleiding",
                                       "voorwaardelijke_toelating", "toelating"};
  static const char *const evaluatie[] = {"uitstroom", "voortzetten"};
  static const struct {
    const char *name;
    uint32_t rtype;
    const char *rid, *field;
    uint32_t cycle;
    uint8_t phase; /* inside the decision's window */
    const char *const *order;
    size_t n;
  } cases[] = {
      {"aanmeldingsbesluit", BG_RT_AANMELDING, "a", "besluit", 0, BG_PH_AANMELDING, aanmelding, N_ELEMS(aanmelding)},
      {"intakebesluit", BG_RT_INTAKE, "i", "besluit", 0, BG_PH_INTAKE, intake, N_ELEMS(intake)},
      {"evaluatiebesluit", BG_RT_EVALUATIE, "1", "besluit", 1, BG_PH_EVALUATIE, evaluatie, N_ELEMS(evaluatie)},
  };
  for (size_t c = 0; c < N_ELEMS(cases); c++)
    for (size_t lo = 0; lo < cases[c].n; lo++)
      for (size_t hi = lo + 1; hi < cases[c].n; hi++) {
        /* The value that ends care by the trajectbegeleider, later: R2 would pick it. */
        tw low, high;
        tw_make(&low, &(wspec){.rtype = cases[c].rtype, .rid = cases[c].rid, .field = cases[c].field,
                               .value = vtext(cases[c].order[lo]), .dot = {1, 1}, .cycle = cases[c].cycle,
                               .phase = cases[c].phase, .tb = true, .hlc = 2000});
        tw_make(&high, &(wspec){.rtype = cases[c].rtype, .rid = cases[c].rid, .field = cases[c].field,
                                .value = vtext(cases[c].order[hi]), .dot = {3, 1}, .cycle = cases[c].cycle,
                                .phase = cases[c].phase, .role = BG_ROLE_OFFICE, .hlc = 1000});
        pair_expect x = {&high, &low, true, BG_FATE_CONFLICT, BG_RULE_R4};
        char name[128];
        snprintf(name, sizeof name, "%s %s vs %s", cases[c].name, cases[c].order[lo], cases[c].order[hi]);
        const tw *ws[] = {&low, &high};
        in_every_order(name, ws, 2, check_pair, &x);
      }
}

/* ---- R5: the phase moves forward -------------------------------------------- */

static void make_move(tw *t, bg_pos seen, bg_pos to, author a) {
  tw_make(t, &(wspec){.rtype = BG_RT_TRAJECT, .rid = "t", .field = "positie", .value = vpos(to.cycle, to.phase),
                      .dot = {a.device, 1}, .cycle = seen.cycle, .phase = seen.phase,
                      .user = a.tb ? 101 : 100 + a.device, .role = a.role, .tb = a.tb, .hlc = a.hlc});
}

typedef struct move_expect {
  pair_expect pair;
  bg_pos position;
} move_expect;

static void check_move(replica *r, void *arg) {
  const move_expect *x = arg;
  check_pair(r, (void *)&x->pair);
  bg_pos p;
  assert_int_equal(bg_engine_position(&r->eng, bg_str_c(CLIENT), &p), BG_OK);
  if (p.cycle != x->position.cycle || p.phase != x->position.phase)
    fail_msg("%s: position %u/%s, expected %u/%s", g_context, p.cycle, bg_phase_name(p.phase), x->position.cycle,
             bg_phase_name(x->position.phase));
}

static void r5_concurrent_transitions_resolve_to_the_larger_position(void **state) {
  (void)state;
  static const struct {
    const char *name;
    bg_pos seen, win, lose;
  } cases[] = {
      {"7 -> analyse of a new cycle beats 7 -> uitstroom", {1, 7}, {2, 4}, {1, 8}},
      {"7 -> planning of a new cycle beats 7 -> uitstroom", {1, 7}, {2, 5}, {1, 8}},
      {"cycle 2: 7 -> analyse of cycle 3 beats 7 -> uitstroom", {2, 7}, {3, 4}, {2, 8}},
      {"7 -> planning beats 7 -> analyse (both a new cycle)", {1, 7}, {2, 5}, {2, 4}},
      {"1 -> intake beats 1 -> closed (progress beats doorverwijzing/afwijzing)", {0, 1}, {0, 2}, {0, 9}},
      {"1 -> opstart (spoedopname) beats 1 -> closed", {0, 1}, {0, 3}, {0, 9}},
      {"1 -> opstart beats 1 -> intake", {0, 1}, {0, 3}, {0, 2}},
      {"2 -> 2 wachtlijst (staying in care) beats 2 -> closed", {0, 2}, {0, 2}, {0, 9}},
      {"2 -> opstart beats 2 -> closed", {0, 2}, {0, 3}, {0, 9}},
      {"2 -> opstart beats 2 -> 2 wachtlijst", {0, 2}, {0, 3}, {0, 2}},
  };
  for (size_t i = 0; i < N_ELEMS(cases); i++) {
    /* The losing move by the trajectbegeleider, later: R2 would pick it. */
    tw win, lose;
    make_move(&win, cases[i].seen, cases[i].win, (author){3, false, BG_ROLE_OFFICE, 1000});
    make_move(&lose, cases[i].seen, cases[i].lose, (author){1, true, BG_ROLE_BEGELEIDER, 2000});
    move_expect x = {{&win, &lose, true, BG_FATE_CONFLICT, BG_RULE_R5}, cases[i].win};
    const tw *ws[] = {&win, &lose};
    in_every_order(cases[i].name, ws, 2, check_move, &x);
  }
}

static void r5_equal_concurrent_transitions_make_no_conflict_entry(void **state) {
  (void)state;
  tw a, b;
  make_move(&a, (bg_pos){1, 4}, (bg_pos){1, 5}, (author){1, true, BG_ROLE_BEGELEIDER, 1000});
  make_move(&b, (bg_pos){1, 4}, (bg_pos){1, 5}, (author){3, false, BG_ROLE_OFFICE, 2000});
  move_expect x = {{&a, &b, false, BG_FATE_EQUAL, BG_RULE_R5}, {1, 5}};
  const tw *ws[] = {&a, &b};
  in_every_order("two equal moves 4 -> 5", ws, 2, check_move, &x);
}

static void r5_closing_after_uitstroom_beats_a_concurrent_move_to_uitstroom(void **state) {
  (void)state;
  /* The office moved 7 -> 8 and later closed the traject (8 -> closed, the
   * normal end, not a doorverwijzing or afwijzing). The trajectbegeleider,
   * offline, had also moved 7 -> 8. DOMAIN.md: the larger (cycle, phase) wins,
   * and closed (cycle 1, phase 9) is larger than uitstroom (cycle 1, phase 8). */
  tw office_to_uitstroom, office_closes, tb_to_uitstroom;
  make_move(&office_to_uitstroom, (bg_pos){1, 7}, (bg_pos){1, 8}, (author){3, false, BG_ROLE_OFFICE, 1000});
  tw_make(&office_closes, &(wspec){.rtype = BG_RT_TRAJECT, .rid = "t", .field = "positie", .value = vpos(1, 9),
                                   .dot = {3, 2}, .seen = {{3, 1}}, .cycle = 1, .phase = BG_PH_UITSTROOM,
                                   .role = BG_ROLE_OFFICE, .hlc = 2000});
  make_move(&tb_to_uitstroom, (bg_pos){1, 7}, (bg_pos){1, 8}, (author){1, true, BG_ROLE_BEGELEIDER, 1500});
  move_expect x = {{&office_closes, &tb_to_uitstroom, true, BG_FATE_CONFLICT, BG_RULE_R5}, {1, 9}};
  const tw *ws[] = {&office_to_uitstroom, &office_closes, &tb_to_uitstroom};
  in_every_order("closing after uitstroom vs a concurrent move to uitstroom", ws, N_ELEMS(ws), check_move, &x);
}

/* (A write of the position the writer saw - analyse -> analyse - is not a
 * move but a keep, accepted: it resolves a conflict of two moves; test_replica
 * a_conflict_of_two_phase_moves_closes_by_keeping_the_shown_phase.) */
static void r5_unreachable_position_is_refused_and_nothing_stored(void **state) {
  (void)state;
  static const struct {
    const char *name;
    bg_pos seen, to;
  } cases[] = {
      {"analyse -> uitvoering skips planning", {1, 4}, {1, 6}},
      {"planning -> analyse goes back", {1, 5}, {1, 4}},
      {"evaluatie -> analyse of the same cycle", {1, 7}, {1, 4}},
      {"evaluatie -> analyse two cycles on", {1, 7}, {3, 4}},
      {"aanmelding -> analyse", {0, 1}, {1, 4}},
      {"opstart -> analyse of cycle 2", {0, 3}, {2, 4}},
      {"uitvoering -> closed", {1, 6}, {1, 9}},
      {"uitstroom -> a new cycle", {1, 8}, {2, 4}},
      {"no position yet -> intake", {0, 0}, {0, 2}},
      {"closed -> aanmelding", {1, 9}, {0, 1}},
  };
  for (size_t i = 0; i < N_ELEMS(cases); i++) {
    snprintf(g_context, sizeof g_context, "%s", cases[i].name);
    replica *r = replica_new();
    tw t;
    make_move(&t, cases[i].seen, cases[i].to, (author){3, false, BG_ROLE_OFFICE, 1000});
    bg_apply_result res;
    bg_err e = bg_engine_apply(&r->eng, &t.w, &res);
    if (e != BG_E_PHASE_TRANSITION)
      fail_msg("%s: expected BG_E_PHASE_TRANSITION, got %s", g_context, bg_err_name(e));
    bg_rid_info rid;
    assert_int_equal(bg_write_check(&t.w, NULL, NULL, &rid), BG_E_PHASE_TRANSITION);
    if (stored_entries(r) != 0) fail_msg("%s: a refused position left %zu entries in the store", g_context, stored_entries(r));
    bg_pos p;
    assert_int_equal(bg_engine_position(&r->eng, bg_str_c(CLIENT), &p), BG_OK);
    assert_int_equal(p.phase, BG_PH_NONE);
    replica_free(r);
  }
  g_context[0] = 0;
}

/* ---- windows ---------------------------------------------------------------- */

static void window_table_turns_edits_outside_their_phase_into_proposals(void **state) {
  (void)state;
  /* One block per row of DOMAIN.md's window table. */
  static const struct {
    const char *name;
    uint32_t rtype;
    const char *rid, *field;
    bg_value value;
    uint32_t cycle;
    uint8_t phase; /* what the writer saw */
    bool applies;
  } cases[] = {
      /* client personalia, netwerkcontact: any phase until closed */
      {"personalia, seen aanmelding", BG_RT_CLIENT, "c", "naam", V_TEXT("Jan"), 0, 1, true},
      {"personalia, seen opstart", BG_RT_CLIENT, "c", "adres", V_TEXT("Dorpsstraat 1"), 0, 3, true},
      {"personalia, seen analyse", BG_RT_CLIENT, "c", "naam", V_TEXT("Jan"), 1, 4, true},
      {"personalia, seen uitstroom", BG_RT_CLIENT, "c", "telefoon", V_TEXT("0612345678"), 1, 8, true},
      {"personalia, seen closed", BG_RT_CLIENT, "c", "naam", V_TEXT("Jan"), 1, 9, false},
      {"personalia, seen closed after aanmelding", BG_RT_CLIENT, "c", "naam", V_TEXT("Jan"), 0, 9, false},
      {"netwerkcontact, seen uitvoering", BG_RT_NETWERK, "4.1", "naam", V_TEXT("Buurvrouw Els"), 1, 6, true},
      {"netwerkcontact, seen closed", BG_RT_NETWERK, "4.1", "rol", V_TEXT("mantelzorger"), 1, 9, false},
      /* aanmelding fields and aanmeldingsbesluit: 1 */
      {"aanmelding gesprek, seen aanmelding", BG_RT_AANMELDING, "a", "gesprek", V_TEXT("eerste contact"), 0, 1, true},
      {"aanmelding gesprek, seen intake", BG_RT_AANMELDING, "a", "gesprek", V_TEXT("eerste contact"), 0, 2, false},
      {"aanmeldingsbesluit, seen aanmelding", BG_RT_AANMELDING, "a", "besluit", V_TEXT("intakegesprek"), 0, 1, true},
      {"aanmeldingsbesluit, seen intake", BG_RT_AANMELDING, "a", "besluit", V_TEXT("intakegesprek"), 0, 2, false},
      {"aanmeldingsbesluit, seen analyse", BG_RT_AANMELDING, "a", "besluit", V_TEXT("afwijzing"), 1, 4, false},
      /* intake fields and intakebesluit: 2 */
      {"intake overweging, seen intake", BG_RT_INTAKE, "i", "overweging", V_TEXT("past bij ons"), 0, 2, true},
      {"intake overweging, seen aanmelding", BG_RT_INTAKE, "i", "overweging", V_TEXT("past bij ons"), 0, 1, false},
      {"intake overweging, seen opstart", BG_RT_INTAKE, "i", "overweging", V_TEXT("past bij ons"), 0, 3, false},
      {"intakebesluit, seen intake", BG_RT_INTAKE, "i", "besluit", V_TEXT("toelating"), 0, 2, true},
      {"intakebesluit, seen opstart", BG_RT_INTAKE, "i", "besluit", V_TEXT("toelating"), 0, 3, false},
      /* opstart checklist: 3 */
      {"opstart checklist, seen opstart", BG_RT_OPSTART, "o", "indicatie_geregeld", V_BOOL(true), 0, 3, true},
      {"opstart checklist, seen intake", BG_RT_OPSTART, "o", "indicatie_geregeld", V_BOOL(true), 0, 2, false},
      {"opstart checklist, seen analyse", BG_RT_OPSTART, "o", "notities", V_TEXT("sleutel opgehaald"), 1, 4, false},
      /* persoonsbeschrijving: 4 of the same cycle */
      {"persoonsbeschrijving, seen analyse", BG_RT_PB, "1/wonen", "situatie", V_TEXT("huurachterstand"), 1, 4, true},
      {"persoonsbeschrijving, seen planning", BG_RT_PB, "1/wonen", "situatie", V_TEXT("huurachterstand"), 1, 5, false},
      {"persoonsbeschrijving of cycle 1, seen analyse of cycle 2", BG_RT_PB, "1/wonen", "krachten", V_TEXT("netwerk"), 2,
       4, false},
      {"persoonsbeschrijving of cycle 2, seen analyse of cycle 2", BG_RT_PB, "2/wonen", "krachten", V_TEXT("netwerk"), 2,
       4, true},
      {"persoonsbeschrijving, seen opstart", BG_RT_PB, "1/financien", "wensen", V_TEXT("schuldenvrij"), 0, 3, false},
      /* begeleidingsplan: einddoel, doelen, acties: 5 of the same cycle (until signed: R1 tests) */
      {"einddoel, seen planning", BG_RT_PLAN, "1", "einddoel", V_TEXT("zelfstandig wonen"), 1, 5, true},
      {"einddoel, seen analyse", BG_RT_PLAN, "1", "einddoel", V_TEXT("zelfstandig wonen"), 1, 4, false},
      {"einddoel, seen uitvoering", BG_RT_PLAN, "1", "einddoel", V_TEXT("zelfstandig wonen"), 1, 6, false},
      {"einddoel of cycle 1, seen planning of cycle 2", BG_RT_PLAN, "1", "einddoel", V_TEXT("werk"), 2, 5, false},
      {"doel omschrijving, seen planning", BG_RT_DOEL, "1:2.1", "omschrijving", V_TEXT("huur betalen"), 1, 5, true},
      {"doel prioriteit, seen uitvoering", BG_RT_DOEL, "1:2.1", "prioriteit", V_INT(2), 1, 6, false},
      {"actie omschrijving, seen planning", BG_RT_ACTIE, "1:2.2", "omschrijving", V_TEXT("bel woningcorporatie"), 1, 5,
       true},
      {"actie wie, seen evaluatie", BG_RT_ACTIE, "1:2.2", "wie", V_TEXT("netwerk"), 1, 7, false},
      /* actie status: 6, 7 */
      {"actie status, seen planning", BG_RT_ACTIE, "1:2.2", "status", V_TEXT("bezig"), 1, 5, false},
      {"actie status, seen uitvoering", BG_RT_ACTIE, "1:2.2", "status", V_TEXT("bezig"), 1, 6, true},
      {"actie status, seen evaluatie", BG_RT_ACTIE, "1:2.2", "status", V_TEXT("afgerond"), 1, 7, true},
      {"actie status, seen uitstroom", BG_RT_ACTIE, "1:2.2", "status", V_TEXT("afgerond"), 1, 8, false},
      /* actie progress text: 6, 7 */
      {"actie voortgang, seen planning", BG_RT_ACTIE, "1:2.2", "voortgang", V_TEXT("gebeld"), 1, 5, false},
      {"actie voortgang, seen uitvoering", BG_RT_ACTIE, "1:2.2", "voortgang", V_TEXT("gebeld"), 1, 6, true},
      {"actie voortgang, seen evaluatie", BG_RT_ACTIE, "1:2.2", "voortgang", V_TEXT("gebeld"), 1, 7, true},
      /* evaluatie fields, evaluatiebesluit: 7 */
      {"evaluatie rapport, seen uitvoering", BG_RT_EVALUATIE, "1", "rapport", V_TEXT("goed verlopen"), 1, 6, false},
      {"evaluatie rapport, seen evaluatie", BG_RT_EVALUATIE, "1", "rapport", V_TEXT("goed verlopen"), 1, 7, true},
      {"evaluatiebesluit, seen evaluatie", BG_RT_EVALUATIE, "1", "besluit", V_TEXT("voortzetten"), 1, 7, true},
      {"evaluatiebesluit, seen uitvoering", BG_RT_EVALUATIE, "1", "besluit", V_TEXT("voortzetten"), 1, 6, false},
      /* uitstroom fields: 8 */
      {"uitstroom nazorg, seen evaluatie", BG_RT_UITSTROOM, "u", "nazorg", V_TEXT("wijkteam"), 1, 7, false},
      {"uitstroom nazorg, seen uitstroom", BG_RT_UITSTROOM, "u", "nazorg", V_TEXT("wijkteam"), 1, 8, true},
      {"uitstroom nazorg, seen closed", BG_RT_UITSTROOM, "u", "nazorg", V_TEXT("wijkteam"), 1, 9, false},
      /* traject (cycle, phase): no window, R5 */
      {"traject position analyse -> planning", BG_RT_TRAJECT, "t", "positie", V_POS(1, 5), 1, 4, true},
      /* rapportage: any phase until closed */
      {"rapportage, seen aanmelding", BG_RT_RAPPORTAGE, "6.1", "tekst", V_TEXT("kennismaking"), 0, 1, true},
      {"rapportage, seen uitvoering", BG_RT_RAPPORTAGE, "6.1", "tekst", V_TEXT("voortgangsgesprek"), 1, 6, true},
      {"rapportage, seen uitstroom", BG_RT_RAPPORTAGE, "6.1", "tekst", V_TEXT("exitgesprek"), 1, 8, true},
      {"rapportage, seen closed", BG_RT_RAPPORTAGE, "6.1", "tekst", V_TEXT("nagekomen"), 1, 9, false},
  };
  for (size_t i = 0; i < N_ELEMS(cases); i++) {
    snprintf(g_context, sizeof g_context, "window row '%s'", cases[i].name);
    replica *r = replica_new();
    tw t;
    tw_make(&t, &(wspec){.rtype = cases[i].rtype, .rid = cases[i].rid, .field = cases[i].field,
                         .value = cases[i].value, .dot = {2, 1}, .cycle = cases[i].cycle, .phase = cases[i].phase,
                         .hlc = 1000});
    if (cases[i].applies) {
      apply_expect(r, &t, BG_APPLIED, BG_OK);
      assert_visible(r, &t);
      assert_fate(r, &t, BG_FATE_VISIBLE);
      assert_no_entries(r);
    } else {
      apply_expect(r, &t, BG_PROPOSAL, BG_E_WINDOW);
      assert_nothing_visible(r, &t);
      const tw *ws[] = {&t};
      assert_proposals(r, ws, 1, BG_E_WINDOW);
    }
    replica_free(r);
  }
  g_context[0] = 0;
}

/* ---- R1: the signed plan stands ---------------------------------------------- */

static void plan_write(tw *t, uint32_t rtype, const char *rid, const char *field, bg_value value, bg_dot dot,
                       uint64_t hlc) {
  tw_make(t, &(wspec){.rtype = rtype, .rid = rid, .field = field, .value = value, .dot = dot, .cycle = 1,
                      .phase = BG_PH_PLANNING, .user = dot.device == 4 ? 101 : 0,
                      .tb = dot.device == 1 || dot.device == 4, .hlc = hlc});
}

static void signature(tw *t, bg_dot dot, uint64_t hlc) {
  plan_write(t, BG_RT_PLAN, "1", "handtekening", vtext("getekend: J. de Vries"), dot, hlc);
}

static void assert_signed(replica *r, bool want) {
  bool s = !want;
  assert_int_equal(bg_engine_plan_signed(&r->eng, bg_str_c(CLIENT), 1, &s), BG_OK);
  if (s != want) fail_msg("%s: plan of cycle 1 %s signed", g_context, s ? "is" : "is not");
}

static void signed_plan_turns_late_edit_into_proposal(void **state) {
  (void)state;
  replica *r = replica_new();
  tw einddoel, sig, late;
  plan_write(&einddoel, BG_RT_PLAN, "1", "einddoel", vtext("zelfstandig wonen"), (bg_dot){1, 1}, 1000);
  apply_expect(r, &einddoel, BG_APPLIED, BG_OK);
  signature(&sig, (bg_dot){1, 2}, 1100);
  tw_see_plan(&sig, r, 1);
  apply_expect(r, &sig, BG_APPLIED, BG_OK);
  assert_signed(r, true);
  /* A colleague, having received the signed plan, still in planning, edits. */
  plan_write(&late, BG_RT_PLAN, "1", "einddoel", vtext("zelfstandig wonen en werk"), (bg_dot){2, 1}, 1200);
  tw_see_record(&late, r);
  assert_true(bg_vv_contains(&late.w.ctx, sig.w.dot));
  assert_true(bg_vv_contains(&late.w.ctx, einddoel.w.dot));
  apply_expect(r, &late, BG_PROPOSAL, BG_E_PLAN_SIGNED);
  assert_visible(r, &einddoel);
  const tw *ws[] = {&late};
  assert_proposals(r, ws, 1, BG_E_PLAN_SIGNED);
  replica_free(r);
}

typedef struct r1_expect {
  const tw *const *visible;
  size_t n_visible;
  const tw *const *proposals;
  size_t n_proposals;
} r1_expect;

static void check_r1(replica *r, void *arg) {
  const r1_expect *x = arg;
  assert_signed(r, true);
  for (size_t i = 0; i < x->n_visible; i++) assert_visible(r, x->visible[i]);
  assert_proposals(r, x->proposals, x->n_proposals, BG_E_PLAN_SIGNED);
}

static void plan_edit_made_before_signing_but_not_covered_becomes_proposal_in_any_order(void **state) {
  (void)state;
  /* The trajectbegeleider's laptop: einddoel and a doel, then the client signs. */
  tw einddoel, doel, sig, other_einddoel, other_doel;
  plan_write(&einddoel, BG_RT_PLAN, "1", "einddoel", vtext("zelfstandig wonen"), (bg_dot){1, 1}, 1000);
  plan_write(&doel, BG_RT_DOEL, "1:1.2", "omschrijving", vtext("huurachterstand weg"), (bg_dot){1, 2}, 1010);
  signature(&sig, (bg_dot){1, 3}, 1100);
  tw_see(&sig, einddoel.w.dot);
  tw_see(&sig, doel.w.dot);
  /* Meanwhile, offline, a colleague who had synced the einddoel and the doel
   * edits both - later in time, but unseen by the signature. */
  plan_write(&other_einddoel, BG_RT_PLAN, "1", "einddoel", vtext("zelfstandig wonen met werk"), (bg_dot){2, 1}, 1200);
  tw_see(&other_einddoel, einddoel.w.dot);
  plan_write(&other_doel, BG_RT_DOEL, "1:1.2", "omschrijving", vtext("schulden geregeld"), (bg_dot){2, 2}, 1210);
  tw_see(&other_doel, doel.w.dot);
  tw_see(&other_doel, other_einddoel.w.dot);

  /* Before the signature arrives the colleague's edits are shown... */
  replica *r = replica_new();
  apply_expect(r, &einddoel, BG_APPLIED, BG_OK);
  apply_expect(r, &doel, BG_APPLIED, BG_OK);
  apply_expect(r, &other_einddoel, BG_APPLIED, BG_OK);
  apply_expect(r, &other_doel, BG_APPLIED, BG_OK);
  assert_visible(r, &other_einddoel);
  assert_visible(r, &other_doel);
  /* ...and become wijzigingsvoorstellen when it does; the signed version returns. */
  apply_expect(r, &sig, BG_APPLIED, BG_OK);
  assert_visible(r, &einddoel);
  assert_visible(r, &doel);
  const tw *props[] = {&other_einddoel, &other_doel};
  assert_proposals(r, props, 2, BG_E_PLAN_SIGNED);
  uint8_t late_sig[32], in_any_order[32];
  digest_of(r, all_clients, late_sig);
  replica_free(r);

  /* Signature first: the edits are proposals on arrival. */
  r = replica_new();
  apply_expect(r, &einddoel, BG_APPLIED, BG_OK);
  apply_expect(r, &doel, BG_APPLIED, BG_OK);
  apply_expect(r, &sig, BG_APPLIED, BG_OK);
  apply_expect(r, &other_einddoel, BG_PROPOSAL, BG_E_PLAN_SIGNED);
  apply_expect(r, &other_doel, BG_PROPOSAL, BG_E_PLAN_SIGNED);
  digest_of(r, all_clients, in_any_order);
  replica_free(r);
  assert_memory_equal(late_sig, in_any_order, 32);

  const tw *vis[] = {&einddoel, &doel};
  r1_expect x = {vis, 2, props, 2};
  const tw *ws[] = {&einddoel, &doel, &sig, &other_einddoel, &other_doel};
  in_every_order("uncovered plan edits and a signature", ws, N_ELEMS(ws), check_r1, &x);
}

static void plan_write_covered_by_signature_stays_visible(void **state) {
  (void)state;
  tw first, second, sig;
  plan_write(&first, BG_RT_PLAN, "1", "einddoel", vtext("zelfstandig wonen"), (bg_dot){1, 1}, 1000);
  plan_write(&second, BG_RT_PLAN, "1", "einddoel", vtext("zelfstandig wonen met werk"), (bg_dot){2, 1}, 1100);
  tw_see(&second, first.w.dot);
  /* The client signs on the colleague's device, which had both. */
  signature(&sig, (bg_dot){2, 2}, 1200);
  replica *colleague = replica_new();
  apply_expect(colleague, &first, BG_APPLIED, BG_OK);
  apply_expect(colleague, &second, BG_APPLIED, BG_OK);
  tw_see_plan(&sig, colleague, 1);
  replica_free(colleague);
  assert_true(bg_vv_contains(&sig.w.ctx, first.w.dot) && bg_vv_contains(&sig.w.ctx, second.w.dot));
  const tw *vis[] = {&second};
  r1_expect x = {vis, 1, NULL, 0};
  const tw *ws[] = {&first, &second, &sig};
  in_every_order("plan write covered by the signature", ws, N_ELEMS(ws), check_r1, &x);
}

typedef struct union_expect {
  const tw *shown, *kept, *doel_a, *doel_b;
} union_expect;

static void check_union(replica *r, void *arg) {
  const union_expect *x = arg;
  assert_signed(r, true);
  assert_visible(r, x->shown);
  assert_fate(r, x->kept, BG_FATE_CONFLICT);
  assert_visible(r, x->doel_a);
  assert_visible(r, x->doel_b);
  entry_list l;
  entries_of(r, &l);
  if (l.proposals != 0)
    fail_msg("%s: %zu wijzigingsvoorstel(len) though both signatures together cover every plan write", g_context,
             l.proposals);
}

static void concurrent_signatures_cover_the_union_of_their_versions(void **state) {
  (void)state;
  /* The client signed twice, on two devices that had different versions. */
  tw base, einddoel_a, doel_a, sig_a, einddoel_b, doel_b, sig_b;
  plan_write(&base, BG_RT_PLAN, "1", "einddoel", vtext("zelfstandig wonen"), (bg_dot){1, 1}, 1000);
  plan_write(&einddoel_a, BG_RT_PLAN, "1", "einddoel", vtext("zelfstandig wonen, versie A"), (bg_dot){2, 1}, 1100);
  tw_see(&einddoel_a, base.w.dot);
  plan_write(&doel_a, BG_RT_DOEL, "1:2.2", "omschrijving", vtext("doel A"), (bg_dot){2, 2}, 1110);
  plan_write(&einddoel_b, BG_RT_PLAN, "1", "einddoel", vtext("zelfstandig wonen, versie B"), (bg_dot){5, 1}, 1200);
  tw_see(&einddoel_b, base.w.dot);
  plan_write(&doel_b, BG_RT_DOEL, "1:5.2", "omschrijving", vtext("doel B"), (bg_dot){5, 2}, 1210);
  signature(&sig_a, (bg_dot){2, 3}, 1300);
  signature(&sig_b, (bg_dot){5, 3}, 1300);
  replica *a = replica_new(), *b = replica_new();
  apply_expect(a, &base, BG_APPLIED, BG_OK);
  apply_expect(a, &einddoel_a, BG_APPLIED, BG_OK);
  apply_expect(a, &doel_a, BG_APPLIED, BG_OK);
  tw_see_plan(&sig_a, a, 1);
  apply_expect(b, &base, BG_APPLIED, BG_OK);
  apply_expect(b, &einddoel_b, BG_APPLIED, BG_OK);
  apply_expect(b, &doel_b, BG_APPLIED, BG_OK);
  tw_see_plan(&sig_b, b, 1);
  replica_free(a);
  replica_free(b);
  assert_false(bg_vv_contains(&sig_a.w.ctx, einddoel_b.w.dot));
  assert_false(bg_vv_contains(&sig_b.w.ctx, einddoel_a.w.dot));
  /* Version B is later: R2 shows it, version A is a conflict entry, not a proposal. */
  union_expect x = {&einddoel_b, &einddoel_a, &doel_a, &doel_b};
  const tw *ws[] = {&base, &einddoel_a, &doel_a, &sig_a, &einddoel_b, &doel_b, &sig_b};
  in_every_order("two concurrent signatures", ws, N_ELEMS(ws), check_union, &x);

  /* An edit after both signatures is still a proposal. */
  replica *r = replica_new();
  for (size_t i = 0; i < N_ELEMS(ws); i++) apply(r, ws[i]);
  tw late;
  plan_write(&late, BG_RT_PLAN, "1", "einddoel", vtext("nog een versie"), (bg_dot){1, 2}, 1400);
  tw_see_record(&late, r);
  apply_expect(r, &late, BG_PROPOSAL, BG_E_PLAN_SIGNED);
  assert_visible(r, &einddoel_b);
  replica_free(r);
}

static void signature_covers_doel_and_actie_plan_fields_but_not_actie_status(void **state) {
  (void)state;
  replica *r = replica_new();
  tw doel_lg, doel_om, actie_doel, actie_om, actie_wie, sig;
  plan_write(&doel_lg, BG_RT_DOEL, "1:1.1", "leefgebied", vtext("wonen"), (bg_dot){1, 1}, 1000);
  plan_write(&doel_om, BG_RT_DOEL, "1:1.1", "omschrijving", vtext("huur op tijd betalen"), (bg_dot){1, 2}, 1010);
  plan_write(&actie_doel, BG_RT_ACTIE, "1:1.3", "doel", vtext("1:1.1"), (bg_dot){1, 3}, 1020);
  plan_write(&actie_om, BG_RT_ACTIE, "1:1.3", "omschrijving", vtext("automatische incasso"), (bg_dot){1, 4}, 1030);
  plan_write(&actie_wie, BG_RT_ACTIE, "1:1.3", "wie", vtext("client"), (bg_dot){1, 5}, 1040);
  const tw *plan[] = {&doel_lg, &doel_om, &actie_doel, &actie_om, &actie_wie};
  for (size_t i = 0; i < N_ELEMS(plan); i++) apply_expect(r, plan[i], BG_APPLIED, BG_OK);
  signature(&sig, (bg_dot){1, 6}, 1100);
  tw_see_plan(&sig, r, 1);
  apply_expect(r, &sig, BG_APPLIED, BG_OK);

  /* Still in planning, a colleague edits doel and actie after the signing. */
  static const struct {
    uint32_t rtype;
    const char *rid, *field;
    bg_value value;
  } late_cases[] = {
      {BG_RT_DOEL, "1:1.1", "omschrijving", V_TEXT("huur en energie op tijd")},
      {BG_RT_DOEL, "1:1.1", "prioriteit", V_INT(1)},
      {BG_RT_DOEL, "1:1.1", "termijn", V_TEXT("drie maanden")},
      {BG_RT_ACTIE, "1:1.3", "wie", V_TEXT("netwerk")},
      {BG_RT_ACTIE, "1:1.3", "deadline", V_TEXT("2025-03-01")},
      {BG_RT_ACTIE, "1:1.3", "prioriteit", V_INT(2)},
      {BG_RT_DOEL, "1:2.7", "leefgebied", V_TEXT("financien")}, /* a new doel */
  };
  tw late[N_ELEMS(late_cases)];
  const tw *props[N_ELEMS(late_cases)];
  for (size_t i = 0; i < N_ELEMS(late_cases); i++) {
    plan_write(&late[i], late_cases[i].rtype, late_cases[i].rid, late_cases[i].field, late_cases[i].value,
               (bg_dot){2, 1 + i}, 1200 + i);
    tw_see_record(&late[i], r);
    snprintf(g_context, sizeof g_context, "late %s after the signature", late_cases[i].field);
    apply_expect(r, &late[i], BG_PROPOSAL, BG_E_PLAN_SIGNED);
    props[i] = &late[i];
  }
  for (size_t i = 0; i < N_ELEMS(plan); i++) assert_visible(r, plan[i]);
  g_context[0] = 0;
  assert_proposals(r, props, N_ELEMS(props), BG_E_PLAN_SIGNED);

  /* Carrying out the plan: status and voortgang are not plan content. */
  tw status, voortgang;
  tw_make(&status, &(wspec){.rtype = BG_RT_ACTIE, .rid = "1:1.3", .field = "status", .value = vtext("bezig"),
                            .dot = {2, 20}, .cycle = 1, .phase = BG_PH_UITVOERING, .hlc = 2000});
  tw_see_record(&status, r);
  apply_expect(r, &status, BG_APPLIED, BG_OK);
  assert_visible(r, &status);
  tw_make(&voortgang, &(wspec){.rtype = BG_RT_ACTIE, .rid = "1:1.3", .field = "voortgang",
                               .value = vtext("incasso aangevraagd"), .dot = {2, 21}, .cycle = 1,
                               .phase = BG_PH_UITVOERING, .hlc = 2010});
  tw_see_record(&voortgang, r);
  apply_expect(r, &voortgang, BG_APPLIED, BG_OK);
  assert_visible(r, &voortgang);
  /* A status written concurrently with the signature (not covered) is applied too. */
  tw status2;
  tw_make(&status2, &(wspec){.rtype = BG_RT_ACTIE, .rid = "1:1.3", .field = "status", .value = vtext("afgerond"),
                             .dot = {5, 1}, .cycle = 1, .phase = BG_PH_EVALUATIE, .hlc = 2020});
  apply_expect(r, &status2, BG_APPLIED, BG_OK);
  assert_visible(r, &status2);
  assert_fate(r, &status, BG_FATE_SUBSUMED);
  assert_proposals(r, props, N_ELEMS(props), BG_E_PLAN_SIGNED);
  replica_free(r);
}

static void later_signature_does_not_adopt_a_proposal_its_signer_never_saw(void **state) {
  (void)state;
  /* The client signs the einddoel on the trajectbegeleider's laptop. */
  tw einddoel, sig1, colleague_einddoel, colleague_status, sig2;
  plan_write(&einddoel, BG_RT_PLAN, "1", "einddoel", vtext("zelfstandig wonen"), (bg_dot){1, 1}, 1000);
  signature(&sig1, (bg_dot){1, 2}, 1100);
  tw_see(&sig1, einddoel.w.dot);
  /* A colleague, offline, rewrote the einddoel: not covered, a wijzigingsvoorstel. */
  plan_write(&colleague_einddoel, BG_RT_PLAN, "1", "einddoel", vtext("versie van de collega"), (bg_dot){2, 1}, 1050);
  tw_see(&colleague_einddoel, einddoel.w.dot);
  /* Later, in uitvoering, the same colleague updates an actie of this plan. */
  tw_make(&colleague_status, &(wspec){.rtype = BG_RT_ACTIE, .rid = "1:1.3", .field = "status", .value = vtext("bezig"),
                                      .dot = {2, 2}, .cycle = 1, .phase = BG_PH_UITVOERING, .hlc = 1300});
  /* The trajectbegeleider's phone, still showing planning, has all of that; the
   * client signs there once more. What the phone shows is the signed einddoel;
   * the colleague's version is a wijzigingsvoorstel there. */
  replica *phone = replica_new();
  apply_expect(phone, &einddoel, BG_APPLIED, BG_OK);
  apply_expect(phone, &sig1, BG_APPLIED, BG_OK);
  apply_expect(phone, &colleague_einddoel, BG_PROPOSAL, BG_E_PLAN_SIGNED);
  apply_expect(phone, &colleague_status, BG_APPLIED, BG_OK);
  assert_visible(phone, &einddoel);
  signature(&sig2, (bg_dot){4, 1}, 1400);
  tw_see_plan(&sig2, phone, 1);
  replica_free(phone);
  /* A plan is signed once per cycle: the second signature, made having seen the
   * first, is itself held as a wijzigingsvoorstel, and so cannot adopt what its
   * context happens to cover. The signed einddoel stands; the proposal stays. */
  const tw *vis[] = {&einddoel};
  const tw *props[] = {&colleague_einddoel, &sig2};
  r1_expect x = {vis, 1, props, 2};
  const tw *ws[] = {&einddoel, &sig1, &colleague_einddoel, &colleague_status, &sig2};
  in_every_order("a second signature on a replica that held a proposal", ws, N_ELEMS(ws), check_r1, &x);
}

/* ---- deletes ---------------------------------------------------------------- */

static const struct delete_case {
  const char *name;
  uint32_t rtype;
  const char *rid, *first_field, *edit_field;
  uint32_t cycle;
  uint8_t phase;
} delete_cases[] = {
    {"doel", BG_RT_DOEL, "1:1.1", "leefgebied", "omschrijving", 1, BG_PH_PLANNING},
    {"actie", BG_RT_ACTIE, "1:1.1", "doel", "omschrijving", 1, BG_PH_PLANNING},
    {"netwerkcontact", BG_RT_NETWERK, "1.1", "naam", "rol", 1, BG_PH_UITVOERING},
};

/* A record made by device 1 (two writes), a removal by device 2 that had seen
 * both, and an edit by device 3 that had seen both but not the removal. */
typedef struct delete_scene {
  tw create, fill, removal, edit;
} delete_scene;

static void delete_scene_make(delete_scene *s, const struct delete_case *c) {
  wspec base = {.rtype = c->rtype, .rid = c->rid, .cycle = c->cycle, .phase = c->phase};
  wspec w = base;
  w.field = c->first_field;
  w.value = vtext("wonen");
  w.dot = (bg_dot){1, 1};
  w.tb = true;
  w.hlc = 1000;
  tw_make(&s->create, &w);
  w = base;
  w.field = c->edit_field;
  w.value = vtext("eerste versie");
  w.dot = (bg_dot){1, 2};
  w.seen[0] = (bg_dot){1, 1};
  w.tb = true;
  w.hlc = 1010;
  tw_make(&s->fill, &w);
  w = base;
  w.field = "verwijderd";
  w.value = (bg_value){.type = BG_V_BOOL, .b = true};
  w.dot = (bg_dot){2, 1};
  w.seen[0] = (bg_dot){1, 2};
  w.hlc = 1100;
  tw_make(&s->removal, &w);
  w = base;
  w.field = c->edit_field;
  w.value = vtext("tweede versie");
  w.dot = (bg_dot){3, 1};
  w.seen[0] = (bg_dot){1, 2};
  w.hlc = 1050;
  tw_make(&s->edit, &w);
}

static void assert_deleted(replica *r, const tw *t, bool want_deleted, bool want_edit_won) {
  bool deleted = !want_deleted, edit_won = !want_edit_won;
  assert_int_equal(bg_engine_deleted(&r->eng, t->w.client, t->w.rtype, t->w.rid, &deleted, &edit_won), BG_OK);
  if (deleted != want_deleted || edit_won != want_edit_won)
    fail_msg("%s: deleted %d, edit_won %d; expected deleted %d, edit_won %d", g_context, deleted, edit_won,
             want_deleted, want_edit_won);
}

static void check_removed(replica *r, void *arg) {
  const delete_scene *s = arg;
  assert_deleted(r, &s->removal, true, false);
  assert_fate(r, &s->removal, BG_FATE_VISIBLE);
  assert_no_entries(r);
}

static void removal_that_had_seen_everything_deletes_the_record(void **state) {
  (void)state;
  for (size_t i = 0; i < N_ELEMS(delete_cases); i++) {
    delete_scene s;
    delete_scene_make(&s, &delete_cases[i]);
    const tw *ws[] = {&s.create, &s.fill, &s.removal};
    in_every_order(delete_cases[i].name, ws, N_ELEMS(ws), check_removed, &s);
  }
}

static void check_edit_wins(replica *r, void *arg) {
  const delete_scene *s = arg;
  assert_deleted(r, &s->removal, false, true);
  assert_visible(r, &s->edit);
  assert_fate(r, &s->fill, BG_FATE_SUPERSEDED);
  entry_list l;
  entries_of(r, &l);
  if (l.n != 1 || l.edit_wins != 1)
    fail_msg("%s: expected one edit-wins entry, found %zu conflicts, %zu edit-wins, %zu proposals", g_context,
             l.conflicts, l.edit_wins, l.proposals);
  if (!dot_eq(l.e[0].write, s->removal.w.dot))
    fail_msg("%s: the edit-wins entry holds write %" PRIu64 ".%" PRIu64 ", expected the removal", g_context,
             l.e[0].write.device, l.e[0].write.counter);
  assert_fate(r, &s->removal, BG_FATE_CONFLICT);
}

static void edit_concurrent_with_removal_keeps_the_record(void **state) {
  (void)state;
  for (size_t i = 0; i < N_ELEMS(delete_cases); i++) {
    delete_scene s;
    delete_scene_make(&s, &delete_cases[i]);
    const tw *ws[] = {&s.create, &s.fill, &s.removal, &s.edit};
    in_every_order(delete_cases[i].name, ws, N_ELEMS(ws), check_edit_wins, &s);
  }
}

/* ---- rapportage -------------------------------------------------------------- */

static void rapportage_write(tw *t, const char *value, bg_dot dot, bool tb, uint64_t hlc) {
  tw_make(t, &(wspec){.rtype = BG_RT_RAPPORTAGE, .rid = "1.1", .field = "tekst", .value = vtext(value), .dot = dot,
                      .cycle = 1, .phase = BG_PH_UITVOERING, .user = tb ? 101 : 0, .tb = tb, .hlc = hlc});
}

static void rapportage_second_concurrent_write_is_conflict_and_first_stands(void **state) {
  (void)state;
  /* The second by the trajectbegeleider, later: R2 would pick it. */
  tw first, second;
  rapportage_write(&first, "gesprek over de huurachterstand", (bg_dot){2, 1}, false, 1000);
  rapportage_write(&second, "andere tekst", (bg_dot){1, 1}, true, 2000);
  pair_expect x = {&first, &second, true, BG_FATE_CONFLICT, BG_RULE_ONCE};
  const tw *ws[] = {&first, &second};
  in_every_order("two concurrent writes to a rapportage", ws, 2, check_pair, &x);
}

static void rapportage_second_write_that_had_seen_the_first_does_not_replace_it(void **state) {
  (void)state;
  /* DOMAIN.md: "immutable once written". A client that writes the field again
   * having seen it (the client library refuses this with BG_E_IMMUTABLE; the
   * daemon gets it anyway) must not change the rapportage. */
  tw first, second;
  rapportage_write(&first, "gesprek over de huurachterstand", (bg_dot){2, 1}, false, 1000);
  rapportage_write(&second, "gewijzigde tekst", (bg_dot){1, 1}, true, 2000);
  tw_see(&second, first.w.dot);
  const tw *ws[] = {&first, &second};
  size_t order[2] = {0, 1};
  do {
    snprintf(g_context, sizeof g_context, "rapportage rewritten by a writer who had seen it, %s first",
             order[0] == 0 ? "original" : "rewrite");
    replica *r = replica_new();
    apply(r, ws[order[0]]);
    bg_apply_result res;
    bg_err e = bg_engine_apply(&r->eng, &ws[order[1]]->w, &res);
    if (e != BG_OK && e != BG_E_IMMUTABLE)
      fail_msg("%s: apply returned %s", g_context, bg_err_name(e));
    assert_visible(r, &first);
    if (e == BG_OK) {
      /* Accepted: then it must be kept, not shown. */
      bg_fate f = BG_FATE_MISSING;
      assert_int_equal(bg_engine_fate(&r->eng, &second.w, &f), BG_OK);
      if (f != BG_FATE_CONFLICT && f != BG_FATE_PROPOSAL)
        fail_msg("%s: the rewrite has fate '%s', expected a conflict entry or wijzigingsvoorstel", g_context,
                 bg_fate_name(f));
    }
    replica_free(r);
  } while (next_permutation(order, 2));
  g_context[0] = 0;
}

/* ---- resolution -------------------------------------------------------------- */

typedef struct resolve_expect {
  const tw *a, *b, *resolution;
} resolve_expect;

typedef struct resolved_seen {
  int n;
  bg_dot write, winner, resolver;
} resolved_seen;

static bg_err count_resolved(void *arg, const bg_entry *en) {
  resolved_seen *x = arg;
  if (!en->resolved || en->resolver == NULL || en->winner == NULL) return BG_E_INTERNAL;
  x->n++;
  x->write = en->write->dot;
  x->winner = en->winner->dot;
  x->resolver = en->resolver->dot;
  return BG_OK;
}

static void check_resolved(replica *r, void *arg) {
  const resolve_expect *x = arg;
  assert_visible(r, x->resolution);
  assert_fate(r, x->a, BG_FATE_SUPERSEDED);
  assert_fate(r, x->b, BG_FATE_SUPERSEDED);
  assert_no_entries(r);
  /* The conflict stays on record as resolved: both values, and who resolved it. */
  resolved_seen seen = {0, {0, 0}, {0, 0}, {0, 0}};
  assert_int_equal(bg_engine_resolved(&r->eng, all_clients, count_resolved, &seen), BG_OK);
  if (seen.n != 1) fail_msg("%s: %d resolved conflicts listed, expected 1", g_context, seen.n);
  assert_true(seen.write.device == x->b->w.dot.device && seen.write.counter == x->b->w.dot.counter);
  assert_true(seen.winner.device == x->a->w.dot.device && seen.winner.counter == x->a->w.dot.counter);
  assert_true(seen.resolver.device == x->resolution->w.dot.device &&
              seen.resolver.counter == x->resolution->w.dot.counter);
}

static void write_that_saw_both_sides_resolves_the_conflict_and_it_stays_on_record_as_resolved(void **state) {
  (void)state;
  tw a, b, resolution;
  make_naam(&a, "Jan de Vries", (author){1, true, BG_ROLE_BEGELEIDER, 1000});
  make_naam(&b, "Johannes de Vries", (author){2, false, BG_ROLE_BEGELEIDER, 2000});
  replica *r = replica_new();
  apply(r, &a);
  apply(r, &b);
  entry_list l;
  entries_of(r, &l);
  assert_int_equal(l.conflicts, 1);
  /* A colleague (not the trajectbegeleider) resolves, having seen both. */
  tw_make(&resolution, &(wspec){.rtype = BG_RT_CLIENT, .rid = "c", .field = "naam", .value = vtext("Johannes (Jan) de Vries"),
                                .dot = {2, 2}, .cycle = 1, .phase = BG_PH_UITVOERING, .hlc = 3000});
  tw_see_record(&resolution, r);
  replica_free(r);
  assert_true(bg_vv_contains(&resolution.w.ctx, a.w.dot) && bg_vv_contains(&resolution.w.ctx, b.w.dot));
  resolve_expect x = {&a, &b, &resolution};
  const tw *ws[] = {&a, &b, &resolution};
  in_every_order("resolution of a conflict", ws, N_ELEMS(ws), check_resolved, &x);
}

/* ---- convergence: seeded random sets of writes ------------------------------- */

#define DEFAULT_SEED UINT64_C(0x8fa5e11ba7c0ffee)
#define RANDOM_WRITES 200u
#define RANDOM_ORDERS 20u

static uint64_t g_seed, g_rng;

static void rng_start(void) {
  const char *env = getenv("BG_TEST_SEED");
  g_seed = env != NULL ? strtoull(env, NULL, 0) : DEFAULT_SEED;
  g_rng = g_seed;
}

static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (g_rng += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}
static size_t below(size_t n) { return (size_t)(rnd() % n); }
static bool chance(unsigned pct) { return below(100) < pct; }

enum { VAL_TEXT, VAL_STATUS, VAL_INTAKE, VAL_EVALUATIE };

static const char *const k_words[] = {"huur", "schulden", "werk", "netwerk", "moeder", "afspraak", "budgetbeheer",
                                      "dagbesteding", "huisarts", "vrijwilligerswerk"};
static const char *const k_status[] = {"open", "bezig", "vervallen", "afgerond"};
static const char *const k_intake[] = {"afwijzing", "doorverwijzing", "wachtlijst", "proefbegeleiding",
                                       "voorwaardelijke_toelating", "toelating"};
static const char *const k_evaluatie[] = {"uitstroom", "voortzetten"};

/* Fields the random writes go to, each with a position inside its window. */
static const struct target {
  const char *client;
  uint32_t rtype;
  const char *rid, *field;
  int values;
  uint32_t cycle;
  uint8_t phase;
} k_targets[] = {
    {"C-1", BG_RT_CLIENT, "c", "naam", VAL_TEXT, 1, 6},
    {"C-1", BG_RT_CLIENT, "c", "adres", VAL_TEXT, 0, 2},
    {"C-1", BG_RT_PB, "1/wonen", "situatie", VAL_TEXT, 1, 4},
    {"C-1", BG_RT_PB, "1/financien", "wensen", VAL_TEXT, 1, 4},
    {"C-1", BG_RT_ACTIE, "1:1.1", "status", VAL_STATUS, 1, 6},
    {"C-1", BG_RT_ACTIE, "1:1.1", "voortgang", VAL_TEXT, 1, 7},
    {"C-1", BG_RT_INTAKE, "i", "besluit", VAL_INTAKE, 0, 2},
    {"C-1", BG_RT_RAPPORTAGE, "3.1", "tekst", VAL_TEXT, 1, 6},
    {"C-2", BG_RT_CLIENT, "c", "naam", VAL_TEXT, 1, 5},
    {"C-2", BG_RT_NETWERK, "2.7", "rol", VAL_TEXT, 1, 8},
    {"C-2", BG_RT_EVALUATIE, "1", "besluit", VAL_EVALUATIE, 1, 7},
};

static tw g_random[RANDOM_WRITES];
static size_t g_random_target[RANDOM_WRITES];

static bg_value random_value(int kind) {
  switch (kind) {
    case VAL_STATUS: return vtext(k_status[below(N_ELEMS(k_status))]);
    case VAL_INTAKE: return vtext(k_intake[below(N_ELEMS(k_intake))]);
    case VAL_EVALUATIE: return vtext(k_evaluatie[below(N_ELEMS(k_evaluatie))]);
    default: return chance(5) ? (bg_value){.type = BG_V_NIL} : vtext(k_words[below(N_ELEMS(k_words))]);
  }
}

/* RANDOM_WRITES valid writes by five devices to the targets; each had seen its
 * device's own writes and a random subset of the earlier writes to its record;
 * a few were made by a writer who saw the traject closed (proposals). */
static void make_random_writes(void) {
  rng_start();
  uint64_t counter[6] = {0};
  for (size_t i = 0; i < RANDOM_WRITES; i++) {
    size_t ti = below(N_ELEMS(k_targets));
    const struct target *t = &k_targets[ti];
    uint64_t dev = 1 + below(5);
    bool closed = chance(4);
    wspec s = {.client = t->client, .rtype = t->rtype, .rid = t->rid, .field = t->field,
               .value = random_value(t->values), .dot = {dev, ++counter[dev]},
               .cycle = closed ? 1 : t->cycle, .phase = closed ? BG_PH_GESLOTEN : t->phase,
               .user = dev == 4 ? 101 : 0, .tb = dev == 1 || dev == 4, .hlc = 1000 + i / 2 * 10 + below(15)};
    g_random_target[i] = ti;
    tw_make(&g_random[i], &s);
    /* Its device's own last write to the record, and up to two random earlier
     * writes to it (a version vector: seeing a device's write covers that
     * device's earlier ones too). */
    for (size_t j = i; j-- > 0;)
      if (g_random[j].w.dot.device == dev && bg_str_eq(g_random[j].w.client, g_random[i].w.client) &&
          g_random[j].w.rtype == t->rtype && bg_str_eq(g_random[j].w.rid, g_random[i].w.rid)) {
        tw_see(&g_random[i], g_random[j].w.dot);
        break;
      }
    for (int k = 0; k < 2 && i > 0; k++) {
      size_t j = below(i);
      const struct target *o = &k_targets[g_random_target[j]];
      bool same_record = strcmp(o->client, t->client) == 0 && o->rtype == t->rtype && strcmp(o->rid, t->rid) == 0;
      if (same_record && chance(60)) tw_see(&g_random[i], g_random[j].w.dot);
    }
  }
}

static void shuffle(size_t *a, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = below(i), t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}

static void same_set_of_writes_in_any_order_with_duplicates_gives_one_digest(void **state) {
  (void)state;
  make_random_writes();
  static const bg_str clients[] = {{"", 0}, {"C-1", 3}, {"C-2", 3}};
  uint8_t want[N_ELEMS(clients)][32], got[32];
  bg_fate fates[RANDOM_WRITES];

  /* The reference: generation order. */
  replica *ref = replica_new();
  for (size_t i = 0; i < RANDOM_WRITES; i++) {
    bg_apply_result res = apply(ref, &g_random[i]);
    assert_true(res.outcome == BG_APPLIED || res.outcome == BG_PROPOSAL);
  }
  for (size_t c = 0; c < N_ELEMS(clients); c++) digest_of(ref, clients[c], want[c]);
  size_t count[BG_FATE_PROPOSAL + 1] = {0};
  for (size_t i = 0; i < RANDOM_WRITES; i++) {
    assert_int_equal(bg_engine_fate(&ref->eng, &g_random[i].w, &fates[i]), BG_OK);
    if (fates[i] == BG_FATE_MISSING) fail_msg("write %s is lost", describe(&g_random[i].w));
    count[fates[i]]++;
  }
  /* The set is interesting: it has every kind of outcome. */
  print_message("seed 0x%" PRIx64 ": %zu visible, %zu superseded, %zu conflict, %zu subsumed, %zu equal, %zu proposal\n",
                g_seed, count[BG_FATE_VISIBLE], count[BG_FATE_SUPERSEDED], count[BG_FATE_CONFLICT],
                count[BG_FATE_SUBSUMED], count[BG_FATE_EQUAL], count[BG_FATE_PROPOSAL]);
  assert_true(count[BG_FATE_SUPERSEDED] > 0 && count[BG_FATE_CONFLICT] > 0 && count[BG_FATE_PROPOSAL] > 0);
  replica_free(ref);

  size_t order[RANDOM_WRITES];
  for (unsigned k = 0; k < RANDOM_ORDERS; k++) {
    snprintf(g_context, sizeof g_context, "seed 0x%" PRIx64 ", order %u", g_seed, k);
    for (size_t i = 0; i < RANDOM_WRITES; i++) order[i] = i;
    shuffle(order, RANDOM_WRITES);
    replica *r = replica_new();
    for (size_t i = 0; i < RANDOM_WRITES; i++) {
      bg_apply_result res = apply(r, &g_random[order[i]]);
      if (res.outcome == BG_DUPLICATE)
        fail_msg("%s: first arrival of %s reported BG_DUPLICATE", g_context, describe(&g_random[order[i]].w));
      if (chance(15)) { /* a resent batch, a lost cursor */
        const tw *again = &g_random[order[below(i + 1)]];
        res = apply(r, again);
        if (res.outcome != BG_DUPLICATE)
          fail_msg("%s: second arrival of %s reported %s", g_context, describe(&again->w), outcome_name(res.outcome));
      }
    }
    for (size_t c = 0; c < N_ELEMS(clients); c++) {
      digest_of(r, clients[c], got);
      if (memcmp(want[c], got, 32) != 0)
        fail_msg("%s: digest of client '%.*s' differs from the reference order's", g_context, (int)clients[c].len,
                 clients[c].p);
    }
    for (size_t i = 0; i < RANDOM_WRITES; i++) assert_fate(r, &g_random[i], fates[i]);
    /* Everything once more: nothing changes. */
    for (size_t i = 0; i < RANDOM_WRITES; i++) assert_int_equal(apply(r, &g_random[i]).outcome, BG_DUPLICATE);
    digest_of(r, all_clients, got);
    assert_memory_equal(want[0], got, 32);
    replica_free(r);
  }
  g_context[0] = 0;
}

static void rebuild_from_the_log_leaves_the_digest_unchanged(void **state) {
  (void)state;
  make_random_writes();
  size_t order[RANDOM_WRITES];
  for (size_t i = 0; i < RANDOM_WRITES; i++) order[i] = i;
  shuffle(order, RANDOM_WRITES);
  replica *r = replica_new();
  for (size_t i = 0; i < RANDOM_WRITES; i++) apply(r, &g_random[order[i]]);
  uint8_t before[32], one[32], after[32];
  digest_of(r, all_clients, before);
  digest_of(r, bg_str_c("C-1"), one);
  assert_int_equal(bg_engine_rebuild(&r->eng, bg_str_c("C-1")), BG_OK);
  digest_of(r, bg_str_c("C-1"), after);
  assert_memory_equal(one, after, 32);
  assert_int_equal(bg_engine_rebuild(&r->eng, all_clients), BG_OK);
  digest_of(r, all_clients, after);
  assert_memory_equal(before, after, 32);
  replica_free(r);
}

/* Plan writes, signatures made on replicas that had seen part of them, and
 * status updates, in random orders: one digest, and exactly the writes no
 * signature covered are wijzigingsvoorstellen. */
#define PLAN_WRITES 48u
#define PLAN_SIGNATURES 3u

static void plan_writes_and_signatures_in_any_order_give_one_digest(void **state) {
  (void)state;
  static const struct target plan_targets[] = {
      {"C-1", BG_RT_PLAN, "1", "einddoel", VAL_TEXT, 1, 5},
      {"C-1", BG_RT_DOEL, "1:1.1", "omschrijving", VAL_TEXT, 1, 5},
      {"C-1", BG_RT_DOEL, "1:1.1", "termijn", VAL_TEXT, 1, 5},
      {"C-1", BG_RT_ACTIE, "1:1.2", "omschrijving", VAL_TEXT, 1, 5},
      {"C-1", BG_RT_ACTIE, "1:1.2", "status", VAL_STATUS, 1, 6},
  };
  enum { N = PLAN_WRITES + PLAN_SIGNATURES };
  static tw ws[N];
  bool is_plan[N], is_sig[N];
  rng_start();
  uint64_t counter[6] = {0};
  size_t next_sig = 0;
  for (size_t i = 0; i < N; i++) {
    bool sig = next_sig < PLAN_SIGNATURES && i == 12 + next_sig * 14;
    size_t ti = below(N_ELEMS(plan_targets));
    const struct target *t = &plan_targets[ti];
    uint64_t dev = sig ? (next_sig % 2 ? 4 : 1) : 1 + below(5);
    wspec s = {.rtype = sig ? BG_RT_PLAN : t->rtype, .rid = sig ? "1" : t->rid, .field = sig ? "handtekening" : t->field,
               .value = sig ? vtext("getekend") : random_value(t->values), .dot = {dev, ++counter[dev]},
               .cycle = 1, .phase = sig ? BG_PH_PLANNING : t->phase, .user = dev == 4 ? 101 : 0,
               .tb = dev == 1 || dev == 4, .hlc = 1000 + i * 10};
    if (counter[dev] > 1) s.seen[0] = (bg_dot){dev, counter[dev] - 1};
    tw_make(&ws[i], &s);
    is_sig[i] = sig;
    is_plan[i] = !sig && t->phase == BG_PH_PLANNING;
    /* What the writer had seen: some earlier writes (a signature: of the plan). */
    for (size_t j = 0; j < i; j++)
      if ((sig ? is_plan[j] : bg_str_eq(ws[j].w.rid, ws[i].w.rid) && ws[j].w.rtype == ws[i].w.rtype) && chance(60))
        tw_see(&ws[i], ws[j].w.dot);
    if (sig) next_sig++;
  }
  /* Signatures that count: made without having seen another signature (a plan is
   * signed once per cycle; RULES.md, R1). The coverage: the union of their contexts. */
  bool counts[N], covered[N];
  for (size_t k = 0; k < N; k++) {
    counts[k] = is_sig[k];
    for (size_t j = 0; j < N && counts[k]; j++)
      if (j != k && is_sig[j] && bg_vv_contains(&ws[k].w.ctx, ws[j].w.dot)) counts[k] = false;
  }
  for (size_t i = 0; i < N; i++) {
    covered[i] = false;
    for (size_t k = 0; k < N; k++)
      if (counts[k] && bg_vv_contains(&ws[k].w.ctx, ws[i].w.dot)) covered[i] = true;
  }
  size_t n_plan = 0, n_uncovered = 0;
  for (size_t i = 0; i < N; i++) {
    n_plan += is_plan[i];
    n_uncovered += is_plan[i] && !covered[i];
  }
  print_message("seed 0x%" PRIx64 ": %zu of %zu plan-content writes not covered by a signature\n", g_seed,
                n_uncovered, n_plan);

  uint8_t want[32], got[32];
  size_t order[N];
  for (unsigned k = 0; k <= RANDOM_ORDERS; k++) {
    snprintf(g_context, sizeof g_context, "seed 0x%" PRIx64 ", plan order %u", g_seed, k);
    for (size_t i = 0; i < N; i++) order[i] = i;
    if (k > 0) shuffle(order, N);
    replica *r = replica_new();
    for (size_t i = 0; i < N; i++) {
      apply(r, &ws[order[i]]);
      if (chance(10)) assert_int_equal(apply(r, &ws[order[below(i + 1)]]).outcome, BG_DUPLICATE);
    }
    digest_of(r, all_clients, got);
    if (k == 0) memcpy(want, got, 32);
    else if (memcmp(want, got, 32) != 0) fail_msg("%s: digest differs from the generation order's", g_context);
    for (size_t i = 0; i < N; i++) {
      bg_fate f = BG_FATE_MISSING;
      assert_int_equal(bg_engine_fate(&r->eng, &ws[i].w, &f), BG_OK);
      bool want_proposal = (is_plan[i] && !covered[i]) || (is_sig[i] && !counts[i]);
      if ((f == BG_FATE_PROPOSAL) != want_proposal || f == BG_FATE_MISSING)
        fail_msg("%s: write %s has fate '%s'; the signatures %s it", g_context, describe(&ws[i].w), bg_fate_name(f),
                 covered[i] ? "cover" : "do not cover");
    }
    if (k == RANDOM_ORDERS) {
      assert_int_equal(bg_engine_rebuild(&r->eng, all_clients), BG_OK);
      digest_of(r, all_clients, got);
      if (memcmp(want, got, 32) != 0) fail_msg("%s: rebuild changed the digest", g_context);
    }
    replica_free(r);
  }
  g_context[0] = 0;
}

/* ---- validation -------------------------------------------------------------- */

static void invalid_writes_are_refused_and_nothing_is_stored(void **state) {
  (void)state;
  static const struct {
    const char *name;
    const char *client;
    uint32_t rtype;
    const char *rid;
    uint32_t field;
    bg_value value;
    uint32_t cycle;
    uint8_t phase;
    uint8_t role;
    bg_err want;
  } cases[] = {
      {"record type 0", CLIENT, 0, "c", 1, V_TEXT("Jan"), 1, 6, BG_ROLE_BEGELEIDER, BG_E_UNKNOWN_RECORD},
      {"record type 99", CLIENT, 99, "c", 1, V_TEXT("Jan"), 1, 6, BG_ROLE_BEGELEIDER, BG_E_UNKNOWN_RECORD},
      {"client field 99", CLIENT, BG_RT_CLIENT, "c", 99, V_TEXT("Jan"), 1, 6, BG_ROLE_BEGELEIDER, BG_E_UNKNOWN_FIELD},
      {"client field 0", CLIENT, BG_RT_CLIENT, "c", 0, V_TEXT("Jan"), 1, 6, BG_ROLE_BEGELEIDER, BG_E_UNKNOWN_FIELD},
      {"client record with id 'x'", CLIENT, BG_RT_CLIENT, "x", 1, V_TEXT("Jan"), 1, 6, BG_ROLE_BEGELEIDER,
       BG_E_UNKNOWN_RECORD},
      {"persoonsbeschrijving without leefgebied", CLIENT, BG_RT_PB, "1", 1, V_TEXT("x"), 1, 4, BG_ROLE_BEGELEIDER,
       BG_E_UNKNOWN_RECORD},
      {"begeleidingsplan of cycle 0", CLIENT, BG_RT_PLAN, "0", 1, V_TEXT("x"), 1, 5, BG_ROLE_BEGELEIDER,
       BG_E_UNKNOWN_RECORD},
      {"doel without cycle", CLIENT, BG_RT_DOEL, "3.1", 2, V_TEXT("x"), 1, 5, BG_ROLE_BEGELEIDER, BG_E_UNKNOWN_RECORD},
      {"rapportage id that is no dot", CLIENT, BG_RT_RAPPORTAGE, "abc", 3, V_TEXT("x"), 1, 6, BG_ROLE_BEGELEIDER,
       BG_E_UNKNOWN_RECORD},
      {"integer in a text field", CLIENT, BG_RT_CLIENT, "c", 1, V_INT(5), 1, 6, BG_ROLE_BEGELEIDER, BG_E_VALUE},
      {"text in a boolean field", CLIENT, BG_RT_OPSTART, "o", 1, V_TEXT("ja"), 0, 3, BG_ROLE_BEGELEIDER, BG_E_VALUE},
      {"prioriteit out of range", CLIENT, BG_RT_DOEL, "1:1.1", 4, V_INT(9), 1, 5, BG_ROLE_BEGELEIDER, BG_E_VALUE},
      {"unknown actie status", CLIENT, BG_RT_ACTIE, "1:1.1", 7, V_TEXT("klaar"), 1, 6, BG_ROLE_BEGELEIDER, BG_E_VALUE},
      {"unknown intakebesluit", CLIENT, BG_RT_INTAKE, "i", 4, V_TEXT("misschien"), 0, 2, BG_ROLE_BEGELEIDER,
       BG_E_VALUE},
      {"impossible date", CLIENT, BG_RT_CLIENT, "c", 2, V_TEXT("2023-02-29"), 1, 6, BG_ROLE_BEGELEIDER, BG_E_VALUE},
      {"position that is no position", CLIENT, BG_RT_TRAJECT, "t", 1, V_POS(1, 2), 1, 4, BG_ROLE_OFFICE, BG_E_VALUE},
      {"leefgebied by a begeleider", BG_ORG_CLIENT, BG_RT_LEEFGEBIED, "wonen", 1, V_TEXT("Wonen"), 0, 0,
       BG_ROLE_BEGELEIDER, BG_E_FORBIDDEN},
      {"leefgebied by the office", BG_ORG_CLIENT, BG_RT_LEEFGEBIED, "wonen", 1, V_TEXT("Wonen"), 0, 0, BG_ROLE_OFFICE,
       BG_E_FORBIDDEN},
      {"client record under the organisation", BG_ORG_CLIENT, BG_RT_CLIENT, "c", 1, V_TEXT("Jan"), 0, 0,
       BG_ROLE_ADMIN, BG_E_UNKNOWN_RECORD},
      {"leefgebied under a client", CLIENT, BG_RT_LEEFGEBIED, "wonen", 1, V_TEXT("Wonen"), 0, 0, BG_ROLE_ADMIN,
       BG_E_UNKNOWN_RECORD},
      /* who leads the traject is the office's to say (an administrator's write) */
      {"trajectbegeleider by a begeleider", CLIENT, BG_RT_TRAJECT, "t", 2, V_INT(102), 1, 6, BG_ROLE_BEGELEIDER,
       BG_E_FORBIDDEN},
      {"trajectbegeleider by the office role", CLIENT, BG_RT_TRAJECT, "t", 2, V_INT(102), 1, 6, BG_ROLE_OFFICE,
       BG_E_FORBIDDEN},
      {"trajectbegeleider user 0", CLIENT, BG_RT_TRAJECT, "t", 2, V_INT(0), 1, 6, BG_ROLE_ADMIN, BG_E_VALUE},
      {"trajectbegeleider as a login", CLIENT, BG_RT_TRAJECT, "t", 2, V_TEXT("anna"), 1, 6, BG_ROLE_ADMIN,
       BG_E_VALUE},
  };
  /* A replica with some state already, so that "unchanged" means something. */
  replica *r = replica_new();
  tw existing;
  make_naam(&existing, "Jan de Vries", (author){1, true, BG_ROLE_BEGELEIDER, 1000});
  apply_expect(r, &existing, BG_APPLIED, BG_OK);
  uint8_t before[32], after[32];
  digest_of(r, all_clients, before);
  size_t stored = stored_entries(r);
  for (size_t i = 0; i < N_ELEMS(cases); i++) {
    snprintf(g_context, sizeof g_context, "%s", cases[i].name);
    tw t;
    tw_make(&t, &(wspec){.client = cases[i].client, .rtype = cases[i].rtype, .rid = cases[i].rid,
                         .field_id = cases[i].field, .value = cases[i].value, .dot = {2, 1 + i},
                         .cycle = cases[i].cycle, .phase = cases[i].phase, .role = cases[i].role, .hlc = 2000});
    bg_apply_result res;
    bg_err e = bg_engine_apply(&r->eng, &t.w, &res);
    if (e != cases[i].want)
      fail_msg("%s: expected %s, got %s", g_context, bg_err_name(cases[i].want), bg_err_name(e));
    bg_rid_info rid;
    assert_int_equal(bg_write_check(&t.w, NULL, NULL, &rid), cases[i].want);
    if (stored_entries(r) != stored)
      fail_msg("%s: the refusal changed the store (%zu entries, was %zu)", g_context, stored_entries(r), stored);
    digest_of(r, all_clients, after);
    if (memcmp(before, after, 32) != 0) fail_msg("%s: the refusal changed the digest", g_context);
  }
  g_context[0] = 0;
  replica_free(r);
}

static void organisation_data_by_an_administrator_is_applied(void **state) {
  (void)state;
  replica *r = replica_new();
  tw t;
  tw_make(&t, &(wspec){.client = BG_ORG_CLIENT, .rtype = BG_RT_LEEFGEBIED, .rid = "wonen", .field = "naam",
                       .value = vtext("Wonen en huishouden"), .dot = {3, 1}, .role = BG_ROLE_ADMIN, .hlc = 1000});
  apply_expect(r, &t, BG_APPLIED, BG_OK);
  assert_visible(r, &t);
  replica_free(r);
}

/* traject.begeleider: an administrator assigns the trajectbegeleider whatever
 * position the writer saw - none yet, any phase, closed - and a reassignment
 * that had seen the assignment supersedes it, with no conflict entry. */
static void trajectbegeleider_is_assigned_by_an_administrator_in_every_phase(void **state) {
  (void)state;
  static const struct {
    uint32_t cycle;
    uint8_t phase;
  } seen[] = {{0, BG_PH_NONE}, {0, BG_PH_AANMELDING}, {0, BG_PH_INTAKE}, {1, BG_PH_PLANNING},
              {2, BG_PH_UITVOERING}, {2, BG_PH_UITSTROOM}, {2, BG_PH_GESLOTEN}};
  for (size_t i = 0; i < N_ELEMS(seen); i++) {
    snprintf(g_context, sizeof g_context, "assignment seen %s", bg_phase_name(seen[i].phase));
    replica *r = replica_new();
    tw first, second;
    tw_make(&first, &(wspec){.rtype = BG_RT_TRAJECT, .rid = "t", .field = "begeleider", .value = vint(101),
                             .dot = {1, 1}, .cycle = seen[i].cycle, .phase = seen[i].phase, .user = 1,
                             .role = BG_ROLE_ADMIN, .hlc = 1000});
    apply_expect(r, &first, BG_APPLIED, BG_OK);
    assert_visible(r, &first);
    tw_make(&second, &(wspec){.rtype = BG_RT_TRAJECT, .rid = "t", .field = "begeleider", .value = vint(102),
                              .dot = {1, 2}, .seen = {{1, 1}}, .cycle = seen[i].cycle, .phase = seen[i].phase,
                              .user = 1, .role = BG_ROLE_ADMIN, .hlc = 900 /* clock behind: context decides */});
    apply_expect(r, &second, BG_APPLIED, BG_OK);
    assert_visible(r, &second);
    assert_fate(r, &first, BG_FATE_SUPERSEDED);
    assert_no_entries(r);
    replica_free(r);
  }
  g_context[0] = 0;
}

/* ---- main ---------------------------------------------------------------------- */

/* ---- regressions found in review (each named for the property it broke) ------ */

/* Apply a list of writes in both orders and require one digest. */
static void both_orders_one_digest(const tw *a, const tw *b, const char *what) {
  uint8_t d1[32], d2[32];
  replica *r1 = replica_new(), *r2 = replica_new();
  apply(r1, a);
  apply(r1, b);
  apply(r2, b);
  apply(r2, a);
  digest_of(r1, bg_str_c(CLIENT), d1);
  digest_of(r2, bg_str_c(CLIENT), d2);
  replica_free(r1);
  replica_free(r2);
  if (memcmp(d1, d2, 32) != 0) fail_msg("%s: the two arrival orders give different digests", what);
}

static void concurrent_removals_together_remove_the_record(void **state) {
  (void)state;
  tw made, del_laptop, del_phone;
  tw_make(&made, &(wspec){.rtype = BG_RT_DOEL, .rid = "1:1.5", .field = "omschrijving", .value = vtext("wonen"),
                          .dot = {1, 5}, .cycle = 1, .phase = BG_PH_PLANNING, .tb = true, .hlc = 100});
  wspec del = {.rtype = BG_RT_DOEL, .rid = "1:1.5", .field = BG_FIELD_DELETED_NAME,
               .value = (bg_value){.type = BG_V_BOOL, .b = true}, .cycle = 1, .phase = BG_PH_PLANNING, .tb = true};
  del.dot = (bg_dot){1, 6};
  del.seen[0] = (bg_dot){1, 5};
  del.hlc = 200;
  tw_make(&del_laptop, &del);
  del.dot = (bg_dot){4, 3};
  del.hlc = 210;
  tw_make(&del_phone, &del);
  for (int order = 0; order < 2; order++) {
    replica *r = replica_new();
    apply(r, &made);
    apply(r, order ? &del_phone : &del_laptop);
    apply(r, order ? &del_laptop : &del_phone);
    bool deleted = false, edit_won = true;
    assert_int_equal(bg_engine_deleted(&r->eng, bg_str_c(CLIENT), BG_RT_DOEL, BG_STR("1:1.5"), &deleted, &edit_won), BG_OK);
    assert_true(deleted);
    assert_false(edit_won);
    replica_free(r);
  }
  both_orders_one_digest(&del_laptop, &del_phone, "two removals");
}

static void reused_dot_with_other_content_is_refused(void **state) {
  (void)state;
  tw a, b;
  wspec s = {.rtype = BG_RT_PB, .rid = "1/wonen", .field = "situatie", .value = vtext("eerste"), .dot = {7, 1},
             .cycle = 1, .phase = BG_PH_ANALYSE, .hlc = 100};
  tw_make(&a, &s);
  s.value = vtext("na een teruggezette back-up");
  tw_make(&b, &s);
  replica *r = replica_new();
  apply_expect(r, &a, BG_APPLIED, BG_OK);
  assert_int_equal(apply(r, &a).outcome, BG_DUPLICATE);
  bg_apply_result res;
  assert_int_equal(bg_engine_apply(&r->eng, &b.w, &res), BG_E_DOT_REUSED);
  assert_visible(r, &a);
  replica_free(r);
}

static void context_claiming_the_writes_own_dot_is_refused(void **state) {
  (void)state;
  static const uint64_t claims[] = {5, 9};
  for (size_t i = 0; i < 2; i++) {
    tw t;
    tw_make(&t, &(wspec){.rtype = BG_RT_PB, .rid = "1/wonen", .field = "situatie", .value = vtext("x"), .dot = {1, 5},
                         .seen = {{1, claims[i]}}, .cycle = 1, .phase = BG_PH_ANALYSE, .hlc = 1});
    replica *r = replica_new();
    bg_apply_result res;
    assert_int_equal(bg_engine_apply(&r->eng, &t.w, &res), BG_E_VALUE);
    replica_free(r);
  }
}

static void closing_outcome_beats_a_concurrent_move_into_the_phase_it_closed_from(void **state) {
  (void)state;
  tw office_in, office_close, sanne_in;
  wspec s = {.rtype = BG_RT_TRAJECT, .rid = "t", .field = "positie", .cycle = 0};
  s.value = vpos(0, BG_PH_INTAKE), s.dot = (bg_dot){3, 1}, s.phase = BG_PH_AANMELDING, s.hlc = 100;
  tw_make(&office_in, &s);
  s.value = vpos(0, BG_PH_GESLOTEN), s.dot = (bg_dot){3, 2}, s.phase = BG_PH_INTAKE, s.hlc = 200;
  s.seen[0] = (bg_dot){3, 1};
  tw_make(&office_close, &s);
  s.seen[0] = (bg_dot){0, 0};
  s.value = vpos(0, BG_PH_INTAKE), s.dot = (bg_dot){1, 1}, s.phase = BG_PH_AANMELDING, s.hlc = 300, s.tb = true;
  tw_make(&sanne_in, &s);
  replica *r = replica_new();
  apply(r, &office_in);
  apply(r, &sanne_in);
  apply(r, &office_close);
  assert_visible(r, &office_close);
  replica_free(r);
  both_orders_one_digest(&office_close, &sanne_in, "close vs move into intake");
}

static void different_transitions_to_the_same_position_keep_an_entry(void **state) {
  (void)state;
  tw from_aanmelding, from_intake;
  tw_make(&from_aanmelding, &(wspec){.rtype = BG_RT_TRAJECT, .rid = "t", .field = "positie",
                                     .value = vpos(0, BG_PH_GESLOTEN), .dot = {1, 1}, .phase = BG_PH_AANMELDING, .hlc = 1});
  tw_make(&from_intake, &(wspec){.rtype = BG_RT_TRAJECT, .rid = "t", .field = "positie",
                                 .value = vpos(0, BG_PH_GESLOTEN), .dot = {2, 1}, .phase = BG_PH_INTAKE, .hlc = 2});
  replica *r = replica_new();
  apply(r, &from_aanmelding);
  apply(r, &from_intake);
  entry_list l;
  entries_of(r, &l);
  assert_int_equal(l.conflicts, 1);
  replica_free(r);
}

static void signature_held_as_proposal_does_not_block_signing(void **state) {
  (void)state;
  tw stale_sig, edit, sig;
  /* Device 3 still showed analyse when it signed: a proposal (window). */
  tw_make(&stale_sig, &(wspec){.rtype = BG_RT_PLAN, .rid = "1", .field = "handtekening", .value = vtext("getekend"),
                               .dot = {3, 5}, .cycle = 1, .phase = BG_PH_ANALYSE, .hlc = 100});
  plan_write(&edit, BG_RT_PLAN, "1", "einddoel", vtext("zelfstandig wonen"), (bg_dot){3, 6}, 200);
  tw_see(&edit, (bg_dot){3, 5});
  signature(&sig, (bg_dot){1, 10}, 300);
  tw_see(&sig, (bg_dot){3, 6});
  const tw *ws[] = {&stale_sig, &edit, &sig};
  static const size_t orders[][3] = {{0, 1, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  uint8_t want[32], got[32];
  for (size_t o = 0; o < 4; o++) {
    replica *r = replica_new();
    for (size_t i = 0; i < 3; i++) apply(r, ws[orders[o][i]]);
    assert_signed(r, true);
    assert_visible(r, &edit);
    assert_fate(r, &stale_sig, BG_FATE_PROPOSAL);
    digest_of(r, bg_str_c(CLIENT), o ? got : want);
    if (o && memcmp(want, got, 32) != 0) fail_msg("order %zu: digest differs", o);
    replica_free(r);
  }
}

static void seen_phase_beyond_the_machine_is_refused(void **state) {
  (void)state;
  tw t;
  tw_make(&t, &(wspec){.rtype = BG_RT_CLIENT, .rid = "c", .field = "naam", .value = vtext("x"), .dot = {1, 1},
                       .cycle = 0, .phase = 20, .hlc = 1});
  replica *r = replica_new();
  bg_apply_result res;
  assert_int_equal(bg_engine_apply(&r->eng, &t.w, &res), BG_E_VALUE);
  replica_free(r);
}

static void record_ids_take_every_64_bit_device_id(void **state) {
  (void)state;
  bg_rid_info info;
  assert_int_equal(bg_rid_parse(bg_rtype(BG_RT_DOEL), BG_STR("1:18446744073709551615.1"), &info), BG_OK);
  assert_int_equal(bg_rid_parse(bg_rtype(BG_RT_DOEL), BG_STR("1:18446744073709551616.1"), &info), BG_E_UNKNOWN_RECORD);
  assert_int_equal(bg_rid_parse(bg_rtype(BG_RT_RAPPORTAGE), BG_STR("9223372036854775808.7"), &info), BG_OK);
}

/* The engine logs a write in the encoding bg__write_encode_checked gives, which
 * skips what bg_write_check has already checked: for every write the check
 * accepts - defective ones included - its bytes and errors are the public
 * encoder's, and a record id or value that encoder would refuse never passes. */
static void checked_encoding_equals_the_public_one_for_every_write_the_check_accepts(void **state) {
  (void)state;
  static char big[BG_VALUE_MAX + 2];
  memset(big, 'x', sizeof big);
  make_random_writes();
  size_t accepted = 0;
  for (size_t i = 0; i < 40 * RANDOM_WRITES; i++) {
    bg_write w = g_random[i % RANDOM_WRITES].w;
    switch (below(12)) { /* a defect now and then */
      case 0: w.client = (bg_str){"\xc3\x28", 2}; break;
      case 1: w.client = (bg_str){big, BG_ID_MAX + 1}; break;
      case 2: w.rid = (bg_str){"1/\xc3\x28", 4}; break;
      case 3: w.rid = (bg_str){big, BG_ID_MAX + 1}; break;
      case 4: if (w.rtype == BG_RT_ACTIE) w.rid = BG_STR("4294967295:18446744073709551615.18446744073709551615"); break;
      case 5: w.value = (bg_value){BG_V_STR, false, 0, {"\xed\xa0\x80", 3}}; break;
      case 6: w.value = (bg_value){BG_V_STR, false, 0, {big, 1 + (uint32_t)below(BG_VALUE_MAX + 1)}}; break;
      case 7: w.value = (bg_value){BG_V_BIN, false, 0, {"ab", 2}}; break;
      case 8: w.value = (bg_value){BG_V_STR, false, 0, BG_STR("\xc3\xa9\xc3\xa9n")}; break;
      default: break;
    }
    bg_rid_info rid;
    if (bg_write_check(&w, NULL, NULL, &rid) != BG_OK) continue;
    accepted++;
    bg_buf a = BG_BUF_INIT, b = BG_BUF_INIT;
    bg_err ea = bg_write_encode(&w, &a), eb = bg__write_encode_checked(&w, &b);
    if (ea != eb) fail_msg("write %zu (seed %llu): public %s, checked %s", i, (unsigned long long)g_seed,
                           bg_err_name(ea), bg_err_name(eb));
    assert_int_equal(a.len, b.len);
    if (a.len) assert_memory_equal(a.data, b.data, a.len);
    bg_buf_free(&a);
    bg_buf_free(&b);
  }
  assert_true(accepted > 20 * RANDOM_WRITES);
}

#define T(f) cmocka_unit_test_teardown(f, free_live_replicas)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(r2_concurrent_edits_go_to_trajectbegeleider_then_later_hlc_then_higher_device),
      T(r2_loser_is_conflict_entry_with_both_values_authors_and_times),
      T(r2_equal_concurrent_values_make_no_conflict_entry),
      T(r2_write_that_had_seen_the_other_supersedes_it_without_conflict),
      T(r3_concurrent_actie_status_takes_the_maximum),
      T(r4_concurrent_decisions_keep_the_client_in_care),
      T(r5_concurrent_transitions_resolve_to_the_larger_position),
      T(r5_equal_concurrent_transitions_make_no_conflict_entry),
      T(r5_closing_after_uitstroom_beats_a_concurrent_move_to_uitstroom),
      T(r5_unreachable_position_is_refused_and_nothing_stored),
      T(window_table_turns_edits_outside_their_phase_into_proposals),
      T(signed_plan_turns_late_edit_into_proposal),
      T(plan_edit_made_before_signing_but_not_covered_becomes_proposal_in_any_order),
      T(plan_write_covered_by_signature_stays_visible),
      T(concurrent_signatures_cover_the_union_of_their_versions),
      T(signature_covers_doel_and_actie_plan_fields_but_not_actie_status),
      T(later_signature_does_not_adopt_a_proposal_its_signer_never_saw),
      T(removal_that_had_seen_everything_deletes_the_record),
      T(edit_concurrent_with_removal_keeps_the_record),
      T(rapportage_second_concurrent_write_is_conflict_and_first_stands),
      T(rapportage_second_write_that_had_seen_the_first_does_not_replace_it),
      T(write_that_saw_both_sides_resolves_the_conflict_and_it_stays_on_record_as_resolved),
      T(same_set_of_writes_in_any_order_with_duplicates_gives_one_digest),
      T(rebuild_from_the_log_leaves_the_digest_unchanged),
      T(plan_writes_and_signatures_in_any_order_give_one_digest),
      T(invalid_writes_are_refused_and_nothing_is_stored),
      T(organisation_data_by_an_administrator_is_applied),
      T(trajectbegeleider_is_assigned_by_an_administrator_in_every_phase),
      T(concurrent_removals_together_remove_the_record),
      T(reused_dot_with_other_content_is_refused),
      T(context_claiming_the_writes_own_dot_is_refused),
      T(closing_outcome_beats_a_concurrent_move_into_the_phase_it_closed_from),
      T(different_transitions_to_the_same_position_keep_an_entry),
      T(signature_held_as_proposal_does_not_block_signing),
      T(seen_phase_beyond_the_machine_is_refused),
      T(record_ids_take_every_64_bit_device_id),
      T(checked_encoding_equals_the_public_one_for_every_write_the_check_accepts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
