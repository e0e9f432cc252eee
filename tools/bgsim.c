/*
 * bgsim - deterministic simulation of a team working offline, proving the merge
 * engine's three properties (DOMAIN.md): convergence, nothing lost, rules kept.
 *
 *   bgsim --seeds N --start S [--devices D] [--clients C] [--ops K]
 *         [--store memory|sqlite|mixed] [--verbose]
 *
 * Per seed: an office device creates the clients and names their
 * trajectbegeleider (traject.begeleider; a device claims the R2 flag tb when its
 * replica shows its user there); begeleiders (some with two devices) and the
 * office work on them through all phases and several cycles - reassignments,
 * field edits, concurrent edits of one field, phase moves, decisions, plans with
 * doelen and acties, signatures, late edits after signing, removals, conflict
 * resolutions, decisions on proposals, rapportages - each on its own replica
 * (the real engine, over memory or over SQLite tables as the daemon and the
 * client keep them - "mixed" puts every other replica on each), checking its own view as the client library
 * does. A hub replica stands in for the daemon: devices push to it and pull from
 * it by cursor, with lost acknowledgements (resends), partial pages and lost
 * cursors (duplicates). After a full exchange:
 *   convergence  every replica's digest equals the hub's; a fresh replica fed the
 *                same writes in a random order (with duplicates) agrees; so does
 *                the hub rebuilt from its log;
 *   nothing lost every write made is visible, superseded by a write whose author
 *                had seen it, a conflict entry, subsumed progress (R3), an equal
 *                concurrent value or a wijzigingsvoorstel - the same on every replica;
 *   rules        checked against this program's own reading of the rules: no
 *                visible plan write outside a signature's coverage, every visible
 *                value preferred by its rule over every concurrent one.
 * Exit 0 only when every seed passes. A failing seed prints the command that
 * replays it alone.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_engine.h"
#include "bg_hlc.h"
#include "bg_schema.h"
#include "bg_sql.h"

/* --- deterministic randomness ---------------------------------------------------- */

static uint64_t g_rng;
static uint64_t rnd(void) {
  uint64_t z = (g_rng += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}
static unsigned below(unsigned n) { return (unsigned)(rnd() % n); }
static bool chance(unsigned pct) { return below(100) < pct; }

/* --- memory that lives for one seed ------------------------------------------------- */

typedef struct arena_block {
  struct arena_block *next;
  char data[];
} arena_block;
static arena_block *g_arena;

static void *arena(size_t n) {
  arena_block *b = malloc(sizeof *b + (n ? n : 1));
  if (b == NULL) {
    fprintf(stderr, "bgsim: out of memory\n");
    exit(2);
  }
  b->next = g_arena;
  g_arena = b;
  return b->data;
}
static void arena_free(void) {
  while (g_arena) {
    arena_block *n = g_arena->next;
    free(g_arena);
    g_arena = n;
  }
}
static bg_str astr(const char *p, size_t n) {
  char *c = arena(n + 1);
  memcpy(c, p, n);
  c[n] = 0;
  return (bg_str){c, (uint32_t)n};
}
static bg_str afmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bg_str afmt(const char *fmt, ...) {
  char t[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(t, sizeof t, fmt, ap);
  va_end(ap);
  return astr(t, (size_t)n);
}

/* --- the world --------------------------------------------------------------------- */

#define MAX_DEV 16
#define MAX_CLIENTS 8

typedef struct wlist {
  const bg_write **v;
  size_t n, cap;
} wlist;

static void wl_push(wlist *l, const bg_write *w) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 256;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    if (l->v == NULL) exit(2);
  }
  l->v[l->n++] = w;
}

typedef struct replica {
  bg_memkv *kv;    /* the engine's store: memory, */
  sqlite3 *db;     /* or SQLite (an in-memory database) */
  bg_sqlkv *sqlkv;
  bg_engine eng;
} replica;

/* Where replicas keep their state: memory, SQLite, or alternately. */
enum { STORE_MEMORY, STORE_SQLITE, STORE_MIXED };
static int g_store = STORE_MEMORY;
static unsigned g_replicas_made;

typedef struct device {
  uint64_t id;
  uint64_t user;
  uint8_t role;
  replica r;
  bg_hlc hlc;
  int64_t skew_ms;
  uint64_t counter;
  wlist own;     /* every write it made, in order */
  size_t acked;  /* own[0..acked) acknowledged by the hub */
  size_t cursor; /* hub log entries pulled */
} device;

typedef struct world {
  int ndev, nclients;
  device dev[MAX_DEV];
  replica hub;
  wlist hublog;   /* the hub's log: writes in arrival order */
  wlist all;      /* every write made anywhere */
  bg_str client[MAX_CLIENTS];
  uint64_t wall;  /* simulated wall clock, ms */
  bool verbose;
  uint64_t seed;
  /* statistics */
  unsigned long conflicts, proposals, resolutions, signatures, moves, cycles, resolved_listed;
} world;

static char g_fail[512];
#define FAIL(...) (snprintf(g_fail, sizeof g_fail, __VA_ARGS__), false)

static void check(bg_err e, const char *what) {
  if (e != BG_OK) {
    fprintf(stderr, "bgsim: %s: %s\n", what, bg_err_name(e));
    exit(2);
  }
}

static void replica_init(replica *r) {
  memset(r, 0, sizeof *r);
  bool sql = g_store == STORE_SQLITE || (g_store == STORE_MIXED && g_replicas_made++ % 2 == 1);
  if (!sql) {
    r->kv = bg_memkv_new();
    if (r->kv == NULL) exit(2);
    check(bg_engine_init(&r->eng, bg_memkv_kv(r->kv)), "engine init");
    return;
  }
  if (sqlite3_open(":memory:", &r->db) != SQLITE_OK) exit(2);
  check(bg_sql_exec(r->db, bg_sqlkv_schema), "sqlite schema");
  check(bg_sqlkv_new(r->db, &r->sqlkv), "sqlite store");
  check(bg_engine_init(&r->eng, bg_sqlkv_kv(r->sqlkv)), "engine init");
}
static void replica_free(replica *r) {
  bg_engine_free(&r->eng);
  bg_memkv_free(r->kv);
  bg_sqlkv_free(r->sqlkv);
  sqlite3_close(r->db);
}

/* Apply a write to a replica; validation errors are bugs of this simulation. */
static bg_outcome deliver(replica *r, const bg_write *w) {
  bg_apply_result res;
  bg_err e = bg_engine_apply(&r->eng, w, &res);
  if (e != BG_OK) {
    fprintf(stderr, "bgsim: apply refused a write (%s): client %.*s rtype %u rid %.*s field %u\n",
            bg_err_name(e), (int)w->client.len, w->client.p, w->rtype, (int)w->rid.len, w->rid.p, w->field);
    exit(2);
  }
  return res.outcome;
}

/* --- making writes as a device would ------------------------------------------------ */

/* An owned copy of a write (strings and context in the arena). */
static const bg_write *keep(const bg_write *w) {
  bg_write *c = arena(sizeof *c);
  *c = *w;
  c->client = astr(w->client.p, w->client.len);
  c->rid = astr(w->rid.p, w->rid.len);
  if (w->value.type == BG_V_STR || w->value.type == BG_V_BIN) c->value.s = astr(w->value.s.p, w->value.s.len);
  if (w->ctx.n) {
    bg_dot *d = arena(w->ctx.n * sizeof *d);
    memcpy(d, w->ctx.e, w->ctx.n * sizeof *d);
    c->ctx = (bg_vv){d, w->ctx.n, 0};
  } else {
    c->ctx = (bg_vv){NULL, 0, 0};
  }
  return c;
}

/* Whether d's user leads client c's traject, as d's replica knows it: the
 * visible traject.begeleider (the tb flag the client library sets). */
static bool is_tb(device *d, bg_str client) {
  bg_field_view v;
  check(bg_engine_field(&d->r.eng, client, BG_RT_TRAJECT, BG_STR("t"), 2, &v), "begeleider");
  return v.winner != NULL && v.winner->value.type == BG_V_INT && v.winner->value.i == (int64_t)d->user;
}

/* Write `value` to a field as device d, with its replica's view as context.
 * `sig` selects the plan context (a signature). Returns the kept write. */
static const bg_write *dwrite(world *W, device *d, int c, uint32_t rtype, bg_str rid, uint32_t field,
                              bg_value value, bool sig, uint32_t sig_cycle) {
  bg_write w;
  memset(&w, 0, sizeof w);
  w.client = W->client[c];
  w.rtype = rtype;
  w.rid = rid;
  w.field = field;
  w.value = value;
  bg_vv ctx = BG_VV_INIT;
  if (sig)
    check(bg_engine_plan_context(&d->r.eng, w.client, sig_cycle, &ctx), "plan context");
  else
    check(bg_engine_record_context(&d->r.eng, w.client, rtype, rid, &ctx), "record context");
  w.ctx = ctx;
  bg_pos p;
  check(bg_engine_position(&d->r.eng, w.client, &p), "position");
  w.cycle = p.cycle;
  w.phase = p.phase;
  w.dot = (bg_dot){d->id, ++d->counter};
  w.user = d->user;
  w.role = d->role;
  w.tb = is_tb(d, w.client);
  w.hlc = bg_hlc_now(&d->hlc, W->wall + (uint64_t)d->skew_ms);
  const bg_write *k = keep(&w);
  bg_vv_free(&ctx);
  bg_outcome o = deliver(&d->r, k);
  wl_push(&d->own, k);
  wl_push(&W->all, k);
  if (W->verbose)
    printf("  dev %" PRIu64 " writes %.*s %s/%.*s.%u (seen %u/%s)%s\n", d->id, (int)k->client.len, k->client.p,
           bg_rtype(rtype)->name, (int)rid.len, rid.p, field, k->cycle, bg_phase_name(k->phase),
           o == BG_PROPOSAL ? " -> wijzigingsvoorstel" : "");
  return k;
}

static bg_value vstr(bg_str s) { return (bg_value){BG_V_STR, false, 0, s}; }
static bg_value vint(int64_t i) { return (bg_value){BG_V_INT, false, i, {"", 0}}; }
static bg_value vbool(bool b) { return (bg_value){BG_V_BOOL, b, 0, {"", 0}}; }

static bg_value vtext(device *d) {
  static const char *const words[] = {"huur", "schulden", "werk", "netwerk", "moeder", "afspraak",
                                      "budgetbeheer", "dagbesteding", "huisarts", "vrijwilligerswerk"};
  return vstr(afmt("%s en %s (dev %" PRIu64 ")", words[below(10)], words[below(10)], d->id));
}

/* The visible string of a field on d's replica, NULL when none. */
static const char *view_str(device *d, bg_str client, uint32_t rtype, const char *rid, uint32_t field) {
  bg_field_view v;
  check(bg_engine_field(&d->r.eng, client, rtype, bg_str_c(rid), field, &v), "field");
  if (v.winner == NULL || v.winner->value.type != BG_V_STR) return NULL;
  return astr(v.winner->value.s.p, v.winner->value.s.len).p;
}

/* Records of a type that d's replica knows for client c in cycle `cycle` (0: any). */
typedef struct known {
  const bg_write *first[256];
  int n;
} known;

static void known_records(world *W, device *d, int c, uint32_t rtype, uint32_t cycle, known *k) {
  k->n = 0;
  for (size_t i = 0; i < W->all.n && k->n < 256; i++) {
    const bg_write *w = W->all.v[i];
    if (w->rtype != rtype || !bg_str_eq(w->client, W->client[c])) continue;
    bg_rid_info info;
    if (bg_rid_parse(bg_rtype(rtype), w->rid, &info) != BG_OK || (cycle && info.cycle != cycle)) continue;
    bool dup = false;
    for (int j = 0; j < k->n && !dup; j++) dup = bg_str_eq(k->first[j]->rid, w->rid);
    if (dup) continue;
    bg_fate f;
    check(bg_engine_fate(&d->r.eng, w, &f), "fate");
    if (f != BG_FATE_MISSING) k->first[k->n++] = w;
  }
}

/* --- the work of one step ---------------------------------------------------------- */

static const char *const k_text_fields_pb[] = {"situatie", "krachten", "zwaktes", "wensen", "toekomst"};

static uint32_t fid(uint32_t rtype, const char *name) {
  const bg_field_def *f = bg_field_by_name(bg_rtype(rtype), name, strlen(name));
  if (f == NULL) {
    fprintf(stderr, "bgsim: no field %s in %s\n", name, bg_rtype(rtype)->name);
    exit(2);
  }
  return f->id;
}

static bg_value enum_value(const bg_enum_def *e, int i) { return vstr(bg_str_c(e->values[i])); }

/* Try to move the traject on, as the phase machine allows from d's view. */
static void try_move(world *W, device *d, int c, bg_pos p) {
  bg_str cl = W->client[c];
  bg_decisions dec = {view_str(d, cl, BG_RT_AANMELDING, "a", 4), view_str(d, cl, BG_RT_INTAKE, "i", 4), NULL, false};
  if (p.cycle > 0) {
    char rid[16];
    snprintf(rid, sizeof rid, "%u", p.cycle);
    dec.evaluatiebesluit = view_str(d, cl, BG_RT_EVALUATIE, rid, 5);
    check(bg_engine_plan_signed(&d->r.eng, cl, p.cycle, &dec.plan_signed), "signed");
  }
  bg_pos cand[] = {
      {p.cycle, BG_PH_INTAKE},       {p.cycle, BG_PH_OPSTART},  {1, BG_PH_ANALYSE},
      {p.cycle, BG_PH_PLANNING},     {p.cycle, BG_PH_UITVOERING}, {p.cycle, BG_PH_EVALUATIE},
      {p.cycle + 1, BG_PH_ANALYSE},  {p.cycle + 1, BG_PH_PLANNING}, {p.cycle, BG_PH_UITSTROOM},
      {p.cycle, BG_PH_GESLOTEN},
  };
  bg_pos ok[10];
  int n = 0;
  for (size_t i = 0; i < sizeof cand / sizeof *cand; i++)
    if (bg_phase_check(p, cand[i], &dec, NULL, 0) == BG_OK) ok[n++] = cand[i];
  /* Keep most trajecten in care so that the later phases get exercised. */
  if (n == 0) return;
  bg_pos to = ok[below((unsigned)n)];
  if (to.phase == BG_PH_GESLOTEN && p.phase != BG_PH_UITSTROOM && chance(70)) return;
  dwrite(W, d, c, BG_RT_TRAJECT, BG_STR("t"), 1, vint(bg_pos_encode(to)), false, 0);
  W->moves++;
  if (to.cycle > p.cycle && p.cycle > 0) W->cycles++;
}

static void work_in_phase(world *W, device *d, int c, bg_pos p) {
  char rid[64];
  switch (p.phase) {
    case BG_PH_AANMELDING:
      if (chance(50)) dwrite(W, d, c, BG_RT_AANMELDING, BG_STR("a"), fid(BG_RT_AANMELDING, "gesprek"), vtext(d), false, 0);
      else dwrite(W, d, c, BG_RT_AANMELDING, BG_STR("a"), 4, enum_value(&bg_enum_aanmeldingsbesluit, chance(75) ? 2 + (int)below(2) : (int)below(2)), false, 0);
      break;
    case BG_PH_INTAKE:
      if (chance(50)) dwrite(W, d, c, BG_RT_INTAKE, BG_STR("i"), fid(BG_RT_INTAKE, "overweging"), vtext(d), false, 0);
      else dwrite(W, d, c, BG_RT_INTAKE, BG_STR("i"), 4, enum_value(&bg_enum_intakebesluit, chance(80) ? 2 + (int)below(4) : (int)below(2)), false, 0);
      break;
    case BG_PH_OPSTART:
      dwrite(W, d, c, BG_RT_OPSTART, BG_STR("o"), 1 + below(3), vbool(chance(80)), false, 0);
      break;
    case BG_PH_ANALYSE: {
      const bg_leefgebied_def *lg = &bg_default_leefgebieden[below((unsigned)bg_n_default_leefgebieden)];
      snprintf(rid, sizeof rid, "%u/%s", p.cycle, lg->key);
      dwrite(W, d, c, BG_RT_PB, astr(rid, strlen(rid)), fid(BG_RT_PB, k_text_fields_pb[below(5)]), vtext(d), false, 0);
      break;
    }
    case BG_PH_PLANNING: {
      known k;
      unsigned what = below(10);
      if (what < 2) {
        snprintf(rid, sizeof rid, "%u", p.cycle);
        dwrite(W, d, c, BG_RT_PLAN, astr(rid, strlen(rid)), 1, vtext(d), false, 0);
      } else if (what < 4) { /* a new doel */
        snprintf(rid, sizeof rid, "%u:%" PRIu64 ".%" PRIu64, p.cycle, d->id, d->counter + 1);
        bg_str r = astr(rid, strlen(rid));
        dwrite(W, d, c, BG_RT_DOEL, r, 1, vstr(bg_str_c(bg_default_leefgebieden[below(7)].key)), false, 0);
        dwrite(W, d, c, BG_RT_DOEL, r, 2, vtext(d), false, 0);
      } else if (what < 6) { /* a new actie under a known doel */
        known_records(W, d, c, BG_RT_DOEL, p.cycle, &k);
        if (k.n == 0) break;
        snprintf(rid, sizeof rid, "%u:%" PRIu64 ".%" PRIu64, p.cycle, d->id, d->counter + 1);
        bg_str r = astr(rid, strlen(rid));
        dwrite(W, d, c, BG_RT_ACTIE, r, 1, vstr(k.first[below((unsigned)k.n)]->rid), false, 0);
        dwrite(W, d, c, BG_RT_ACTIE, r, 2, vtext(d), false, 0);
        dwrite(W, d, c, BG_RT_ACTIE, r, 3, enum_value(&bg_enum_actiewie, (int)below(3)), false, 0);
      } else if (what < 8) { /* edit a known doel or actie */
        uint32_t rt = chance(50) ? BG_RT_DOEL : BG_RT_ACTIE;
        known_records(W, d, c, rt, p.cycle, &k);
        if (k.n == 0) break;
        const bg_write *t = k.first[below((unsigned)k.n)];
        if (chance(85)) dwrite(W, d, c, rt, t->rid, rt == BG_RT_DOEL ? 2 : 2, vtext(d), false, 0);
        else dwrite(W, d, c, rt, t->rid, fid(rt, BG_FIELD_DELETED_NAME), vbool(chance(85)), false, 0);
      } else { /* the client signs */
        bool s;
        check(bg_engine_plan_signed(&d->r.eng, W->client[c], p.cycle, &s), "signed");
        if (s && chance(80)) break;
        snprintf(rid, sizeof rid, "%u", p.cycle);
        dwrite(W, d, c, BG_RT_PLAN, astr(rid, strlen(rid)), 2, vstr(afmt("getekend bij dev %" PRIu64, d->id)),
               true, p.cycle);
        W->signatures++;
      }
      break;
    }
    case BG_PH_UITVOERING: case BG_PH_EVALUATIE: {
      known k;
      if (p.phase == BG_PH_EVALUATIE && chance(50)) {
        snprintf(rid, sizeof rid, "%u", p.cycle);
        if (chance(50)) dwrite(W, d, c, BG_RT_EVALUATIE, astr(rid, strlen(rid)), 4, vtext(d), false, 0);
        else dwrite(W, d, c, BG_RT_EVALUATIE, astr(rid, strlen(rid)), 5, enum_value(&bg_enum_evaluatiebesluit, chance(60) ? 1 : 0), false, 0);
        break;
      }
      known_records(W, d, c, BG_RT_ACTIE, p.cycle, &k);
      if (k.n == 0) break;
      const bg_write *t = k.first[below((unsigned)k.n)];
      if (chance(60)) dwrite(W, d, c, BG_RT_ACTIE, t->rid, 7, enum_value(&bg_enum_actiestatus, (int)below(4)), false, 0);
      else dwrite(W, d, c, BG_RT_ACTIE, t->rid, 8, vtext(d), false, 0);
      break;
    }
    case BG_PH_UITSTROOM:
      if (chance(50)) dwrite(W, d, c, BG_RT_UITSTROOM, BG_STR("u"), 2, vtext(d), false, 0); /* nazorg */
      else dwrite(W, d, c, BG_RT_UITSTROOM, BG_STR("u"), 7, enum_value(&bg_enum_uitstroomreden, (int)below(6)), false, 0);
      break;
    default: break;
  }
}

/* Late edit: a plan field edited after its window or signature (what the client
 * library offers as a wijzigingsvoorstel). */
static void late_plan_edit(world *W, device *d, int c, bg_pos p) {
  if (p.cycle == 0 || p.phase < BG_PH_PLANNING || p.phase > BG_PH_UITSTROOM) return;
  char rid[16];
  snprintf(rid, sizeof rid, "%u", p.cycle);
  dwrite(W, d, c, BG_RT_PLAN, astr(rid, strlen(rid)), 1, vtext(d), false, 0);
}

typedef struct pick {
  bg_entry e;
  int n;
  bool want_proposal;
  bg_write copy, winner;
} pick;

static bg_err pick_cb(void *arg, const bg_entry *en) {
  pick *p = arg;
  if (en->proposal != p->want_proposal) return BG_OK;
  if (!en->proposal && en->kind != BG_CONFLICT_VALUE) return BG_OK;
  /* reservoir sampling: every entry equally likely */
  if (below((unsigned)++p->n) == 0) {
    p->e = *en;
    p->copy = *keep(en->write);
    if (en->winner) p->winner = *keep(en->winner);
  }
  return BG_OK;
}

/* Resolve one conflict: write the field again having seen both values. */
static void resolve_conflict(world *W, device *d, int c) {
  pick p;
  memset(&p, 0, sizeof p);
  check(bg_engine_entries(&d->r.eng, W->client[c], pick_cb, &p), "entries");
  if (p.n == 0) return;
  const bg_write *l = &p.copy;
  bg_value v = chance(50) ? l->value : p.winner.value;
  bg_pos pos;
  check(bg_engine_position(&d->r.eng, W->client[c], &pos), "position");
  const bg_field_def *f = bg_field(bg_rtype(l->rtype), l->field);
  bg_rid_info rid;
  bg_rid_parse(bg_rtype(l->rtype), l->rid, &rid);
  bg_write probe = *l;
  probe.cycle = pos.cycle;
  probe.phase = pos.phase;
  if (!bg_write_in_window(&probe, f, &rid) || f->type == BG_FT_POS || f->rule == BG_RULE_ONCE) return;
  if (bg_group(f->group)->admin_only && d->role != BG_ROLE_ADMIN) return; /* not this user's to write */
  dwrite(W, d, c, l->rtype, l->rid, l->field, v, false, 0);
  W->resolutions++;
}

/* Decide on a wijzigingsvoorstel. */
static void decide_proposal(world *W, device *d, int c) {
  pick p;
  memset(&p, 0, sizeof p);
  p.want_proposal = true;
  check(bg_engine_entries(&d->r.eng, W->client[c], pick_cb, &p), "entries");
  if (p.n == 0) return;
  bg_pos pos;
  check(bg_engine_position(&d->r.eng, W->client[c], &pos), "position");
  if (pos.phase == BG_PH_NONE) return;
  bg_str rid = afmt("%" PRIu64 ".%" PRIu64, p.copy.dot.device, p.copy.dot.counter);
  dwrite(W, d, c, BG_RT_VOORSTEL, rid, 1, enum_value(&bg_enum_voorstelstatus, 1 + (int)below(2)), false, 0);
}

/* The office hands client c to another begeleider: a new traject.begeleider
 * that supersedes what its replica shows. Devices claim tb once they have it. */
static void reassign(world *W, device *d, int c) {
  uint64_t to = W->dev[1 + below((unsigned)(W->ndev - 1))].user;
  dwrite(W, d, c, BG_RT_TRAJECT, BG_STR("t"), fid(BG_RT_TRAJECT, "begeleider"), vint((int64_t)to), false, 0);
}

static void local_step(world *W, device *d) {
  int c = (int)below((unsigned)W->nclients);
  bg_pos p;
  check(bg_engine_position(&d->r.eng, W->client[c], &p), "position");
  if (p.phase == BG_PH_NONE || p.phase == BG_PH_GESLOTEN) return;
  unsigned what = below(100);
  if (what < 50) work_in_phase(W, d, c, p);
  else if (what < 62) try_move(W, d, c, p);
  else if (what < 66) { /* personalia: the text fields */
    static const uint32_t text_fields[] = {1, 3, 6}; /* naam, adres, bijzonderheden */
    dwrite(W, d, c, BG_RT_CLIENT, BG_STR("c"), text_fields[below(3)], vtext(d), false, 0);
  } else if (what < 70) { /* the network: add, edit or remove a contact */
    known k;
    known_records(W, d, c, BG_RT_NETWERK, 0, &k);
    if (k.n == 0 || chance(40)) {
      bg_str r = afmt("%" PRIu64 ".%" PRIu64, d->id, d->counter + 1);
      dwrite(W, d, c, BG_RT_NETWERK, r, 1, vtext(d), false, 0);
      dwrite(W, d, c, BG_RT_NETWERK, r, 2, enum_value(&bg_enum_netwerksoort, (int)below(2)), false, 0);
    } else {
      const bg_write *t = k.first[below((unsigned)k.n)];
      if (chance(75)) dwrite(W, d, c, BG_RT_NETWERK, t->rid, 3, vtext(d), false, 0);
      else dwrite(W, d, c, BG_RT_NETWERK, t->rid, 5, vbool(chance(85)), false, 0);
    }
  } else if (what < 76) { /* a rapportage: written once */
    known k;
    known_records(W, d, c, BG_RT_RAPPORTAGE, 0, &k);
    if (k.n > 0 && chance(8)) { /* a faulty client rewrites one: the first must stand */
      dwrite(W, d, c, BG_RT_RAPPORTAGE, k.first[below((unsigned)k.n)]->rid, 3, vtext(d), false, 0);
    } else {
      bg_str r = afmt("%" PRIu64 ".%" PRIu64, d->id, d->counter + 1);
      dwrite(W, d, c, BG_RT_RAPPORTAGE, r, 1, enum_value(&bg_enum_rapportagesoort, (int)below(5)), false, 0);
      dwrite(W, d, c, BG_RT_RAPPORTAGE, r, 3, vtext(d), false, 0);
    }
  } else if (what < 82) late_plan_edit(W, d, c, p);
  else if (what < 92) resolve_conflict(W, d, c);
  else if (what < 99 || d->role != BG_ROLE_ADMIN) decide_proposal(W, d, c);
  else reassign(W, d, c);
}

/* --- the network -------------------------------------------------------------------- */

static void push(world *W, device *d, size_t max) {
  size_t n = d->own.n - d->acked;
  if (n > max) n = max;
  for (size_t i = 0; i < n; i++) {
    const bg_write *w = d->own.v[d->acked + i];
    if (deliver(&W->hub, w) != BG_DUPLICATE) wl_push(&W->hublog, w);
  }
  if (!chance(15)) d->acked += n; /* else the ACK was lost: the batch is sent again */
}

static void pull(world *W, device *d, size_t max) {
  size_t from = d->cursor;
  size_t n = W->hublog.n - from;
  if (n > max) n = max;
  for (size_t i = 0; i < n; i++) deliver(&d->r, W->hublog.v[from + i]);
  if (!chance(10)) d->cursor = from + n; /* else the cursor was not saved: pulled again */
}

/* --- checks -------------------------------------------------------------------------- */

static bool digest_of(replica *r, uint8_t out[32]) { return bg_engine_digest(&r->eng, (bg_str){"", 0}, out) == BG_OK; }

/* This program's own reading of the rules: whether `a` should be shown over `b`. */
static int enum_rank(const bg_field_def *f, const bg_write *w) {
  return w->value.type == BG_V_STR ? bg_enum_rank(f->enm, w->value.s.p, w->value.s.len) : -1;
}
static int64_t pos_rank(const bg_write *w) {
  bg_pos p;
  if (w->value.type != BG_V_INT || !bg_pos_decode(w->value.i, &p)) return -1;
  /* Within a cycle, by phase p: moving into p < a closing outcome decided in p
   * (doorverwijzing, afwijzing) < staying in p (wachtlijst); closing after
   * uitstroom ends the traject and comes after everything in uitstroom. */
  if (p.phase == BG_PH_GESLOTEN)
    return (int64_t)w->cycle * 100 + w->phase * 10 + (w->phase == BG_PH_UITSTROOM ? 7 : 3);
  bool staying = p.cycle == w->cycle && p.phase == w->phase;
  return (int64_t)p.cycle * 100 + p.phase * 10 + (staying ? 5 : 0);
}

static bool r2_prefers(const bg_write *a, const bg_write *b) {
  if (a->tb != b->tb) return a->tb;
  if (a->hlc != b->hlc) return a->hlc > b->hlc;
  if (a->dot.device != b->dot.device) return a->dot.device > b->dot.device;
  return a->dot.counter >= b->dot.counter;
}
static bool rule_prefers(const bg_field_def *f, const bg_write *a, const bg_write *b) {
  switch (f->rule) {
    case BG_RULE_R3: case BG_RULE_R4:
      if (enum_rank(f, a) != enum_rank(f, b)) return enum_rank(f, a) > enum_rank(f, b);
      return r2_prefers(a, b);
    case BG_RULE_R5:
      if (pos_rank(a) != pos_rank(b)) return pos_rank(a) > pos_rank(b);
      return r2_prefers(a, b);
    case BG_RULE_ONCE:
      if (a->hlc != b->hlc) return a->hlc < b->hlc;
      if (a->dot.device != b->dot.device) return a->dot.device < b->dot.device;
      return a->dot.counter <= b->dot.counter;
    default: return r2_prefers(a, b);
  }
}

/* This program's own reading of when a write is held as a wijzigingsvoorstel
 * (DOMAIN.md window table, R1), independent of the engine's classification. */
static bool in_window(const bg_write *w) {
  const bg_field_def *f = bg_field(bg_rtype(w->rtype), w->field);
  const bg_group_def *g = bg_group(f->group);
  bg_rid_info rid;
  bg_rid_parse(bg_rtype(w->rtype), w->rid, &rid);
  if (w->phase > BG_PHASE_MAX || !(g->phases & (1u << w->phase))) return false;
  return !g->same_cycle || (rid.has_cycle && rid.cycle == w->cycle);
}

static bool is_sig(const bg_write *w) { return w->rtype == BG_RT_PLAN && w->field == 2 && in_window(w); }

static bool same_plan(const bg_write *a, const bg_write *b) {
  bg_rid_info ra, rb;
  bg_rid_parse(bg_rtype(a->rtype), a->rid, &ra);
  bg_rid_parse(bg_rtype(b->rtype), b->rid, &rb);
  return bg_str_eq(a->client, b->client) && ra.cycle == rb.cycle;
}

/* A signature counts when it had seen no other signature of its plan. */
static bool sig_counts(world *W, const bg_write *s) {
  for (size_t j = 0; j < W->all.n; j++) {
    const bg_write *o = W->all.v[j];
    if (o != s && is_sig(o) && same_plan(o, s) && bg_vv_contains(&s->ctx, o->dot)) return false;
  }
  return true;
}

/* `counting`: the signatures that count, computed once per check. */
static bool expect_proposal(const wlist *counting, const bg_write *w) {
  if (!in_window(w)) return true;
  bool counts = false;
  for (size_t j = 0; j < counting->n && !counts; j++) counts = counting->v[j] == w;
  if (is_sig(w)) return !counts;
  const bg_field_def *f = bg_field(bg_rtype(w->rtype), w->field);
  if (f->group != BG_G_PLAN) return false;
  bool signed_ = false, covered = false;
  for (size_t j = 0; j < counting->n; j++) {
    const bg_write *s = counting->v[j];
    if (!same_plan(s, w)) continue;
    signed_ = true;
    covered = covered || bg_vv_contains(&s->ctx, w->dot);
  }
  return signed_ && !covered;
}

static bool check_writes(world *W, const wlist *counting);

/* An order-independent summary of the resolved conflicts a replica lists. */
static bg_err resolved_sum(void *arg, const bg_entry *en) {
  uint64_t *h = arg;
  uint64_t x = en->write->dot.device * UINT64_C(0x9e3779b97f4a7c15) ^ en->write->dot.counter;
  x = x * UINT64_C(0xbf58476d1ce4e5b9) ^ en->resolver->dot.device * 31 ^ en->resolver->dot.counter;
  h[0] += x * UINT64_C(0x94d049bb133111eb);
  h[1]++;
  return BG_OK;
}

static bool check_world(world *W) {
  uint8_t hub[32], d[32];
  if (!digest_of(&W->hub, hub)) return FAIL("hub digest failed");
  for (int i = 0; i < W->ndev; i++) {
    if (!digest_of(&W->dev[i].r, d)) return FAIL("digest failed on device %d", i + 1);
    if (memcmp(hub, d, 32) != 0) return FAIL("device %d does not converge with the hub", i + 1);
  }
  /* The same set, in a random order with duplicates, on a fresh replica. */
  replica fresh;
  replica_init(&fresh);
  size_t n = W->all.n;
  const bg_write **order = malloc((n ? n : 1) * sizeof *order);
  memcpy(order, W->all.v, n * sizeof *order);
  for (size_t i = n; i > 1; i--) {
    size_t j = below((unsigned)i);
    const bg_write *t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
  for (size_t i = 0; i < n; i++) {
    deliver(&fresh, order[i]);
    if (chance(5)) deliver(&fresh, order[below((unsigned)(i + 1))]);
  }
  free(order);
  bool same = digest_of(&fresh, d) && memcmp(hub, d, 32) == 0;
  replica_free(&fresh);
  if (!same) return FAIL("a fresh replica fed the same writes in another order does not converge");
  /* Rebuilt from the log, the hub must hold the same state. */
  if (bg_engine_rebuild(&W->hub.eng, (bg_str){"", 0}) != BG_OK || !digest_of(&W->hub, d) || memcmp(hub, d, 32) != 0)
    return FAIL("the hub rebuilt from its log differs from its incremental state");

  /* The resolved conflicts are derived from the same writes: the same everywhere.
   * (Every 16th seed: listing them reads each field's history.) */
  if (W->seed % 16 == 0) {
    uint64_t hh[2] = {0, 0};
    if (bg_engine_resolved(&W->hub.eng, (bg_str){"", 0}, resolved_sum, hh) != BG_OK) return FAIL("resolved failed");
    for (int i = 0; i < W->ndev; i++) {
      uint64_t dh[2] = {0, 0};
      if (bg_engine_resolved(&W->dev[i].r.eng, (bg_str){"", 0}, resolved_sum, dh) != BG_OK) return FAIL("resolved failed");
      if (dh[0] != hh[0] || dh[1] != hh[1])
        return FAIL("device %d lists %" PRIu64 " resolved conflicts, the hub %" PRIu64 " (or other ones)", i + 1, dh[1], hh[1]);
    }
    W->resolved_listed += hh[1];
  }
  wlist counting = {NULL, 0, 0};
  for (size_t i = 0; i < W->all.n; i++)
    if (is_sig(W->all.v[i]) && sig_counts(W, W->all.v[i])) wl_push(&counting, W->all.v[i]);
  bool ok = check_writes(W, &counting);
  free(counting.v);
  return ok;
}

/* Nothing lost, the same account everywhere, and the rules. */
static bool check_writes(world *W, const wlist *counting) {
  for (size_t i = 0; i < W->all.n; i++) {
    const bg_write *w = W->all.v[i];
    bg_fate fh;
    if (bg_engine_fate(&W->hub.eng, w, &fh) != BG_OK) return FAIL("fate failed");
    if (fh == BG_FATE_MISSING) return FAIL("write %" PRIu64 ".%" PRIu64 " is lost", w->dot.device, w->dot.counter);
    if (fh == BG_FATE_CONFLICT) W->conflicts++;
    if (fh == BG_FATE_PROPOSAL) W->proposals++;
    if ((fh == BG_FATE_PROPOSAL) != expect_proposal(counting, w))
      return FAIL("write %" PRIu64 ".%" PRIu64 " is %s, but the window table and R1 say it %s a wijzigingsvoorstel",
                  w->dot.device, w->dot.counter, bg_fate_name(fh), expect_proposal(counting, w) ? "is" : "is not");
    for (int k = 0; k < W->ndev; k++) {
      bg_fate fd;
      if (bg_engine_fate(&W->dev[k].r.eng, w, &fd) != BG_OK || fd != fh)
        return FAIL("write %" PRIu64 ".%" PRIu64 " is %s on the hub but %s on device %d", w->dot.device,
                    w->dot.counter, bg_fate_name(fh), bg_fate_name(fd), k + 1);
    }
    if (fh != BG_FATE_VISIBLE && fh != BG_FATE_CONFLICT && fh != BG_FATE_SUBSUMED && fh != BG_FATE_EQUAL) continue;
    bg_field_view v;
    if (bg_engine_field(&W->hub.eng, w->client, w->rtype, w->rid, w->field, &v) != BG_OK || v.winner == NULL)
      return FAIL("field view failed");
    if (fh != BG_FATE_VISIBLE && !rule_prefers(v.field, v.winner, w))
      return FAIL("rule %s: the visible write %" PRIu64 ".%" PRIu64 " should not beat %" PRIu64 ".%" PRIu64,
                  bg_rule_name(v.field->rule), v.winner->dot.device, v.winner->dot.counter, w->dot.device,
                  w->dot.counter);
    if (fh == BG_FATE_SUBSUMED && (v.field->rule != BG_RULE_R3 || enum_rank(v.field, w) > enum_rank(v.field, v.winner)))
      return FAIL("write %" PRIu64 ".%" PRIu64 " subsumed outside R3 progress", w->dot.device, w->dot.counter);
    /* Written once: the visible write is the earliest of every write to the field,
     * not only of the concurrent ones. */
    if (fh == BG_FATE_VISIBLE && v.field->rule == BG_RULE_ONCE) {
      for (size_t j = 0; j < W->all.n; j++) {
        const bg_write *o = W->all.v[j];
        if (o == w || o->rtype != w->rtype || o->field != w->field || !bg_str_eq(o->client, w->client) ||
            !bg_str_eq(o->rid, w->rid))
          continue;
        bg_fate fo;
        if (bg_engine_fate(&W->hub.eng, o, &fo) != BG_OK) return FAIL("fate failed");
        if (fo != BG_FATE_PROPOSAL && rule_prefers(v.field, o, w))
          return FAIL("rapportage field written once: %" PRIu64 ".%" PRIu64 " shown instead of the first, %" PRIu64
                      ".%" PRIu64, w->dot.device, w->dot.counter, o->dot.device, o->dot.counter);
      }
    }
    /* Removals: a visible removal that had seen every applied write of its record
     * removes it; a visible removal that does not is an edit-wins conflict. */
    if (fh == BG_FATE_VISIBLE || fh == BG_FATE_CONFLICT) {
      const bg_field_def *df = bg_field(bg_rtype(w->rtype), w->field);
      bg_field_view dv;
      if (strcmp(df->name, BG_FIELD_DELETED_NAME) == 0 && w->value.type == BG_V_BOOL && w->value.b &&
          bg_engine_field(&W->hub.eng, w->client, w->rtype, w->rid, w->field, &dv) == BG_OK && dv.winner &&
          dv.winner->dot.device == w->dot.device && dv.winner->dot.counter == w->dot.counter) {
        /* all_seen: this removal had seen every applied write of the record;
         * union_seen: the current removals (value true) had, together. */
        bool all_seen = true, union_seen = true;
        for (size_t j = 0; j < W->all.n; j++) {
          const bg_write *o = W->all.v[j];
          if (o == w || o->rtype != w->rtype || !bg_str_eq(o->client, w->client) || !bg_str_eq(o->rid, w->rid)) continue;
          bg_fate fo;
          if (bg_engine_fate(&W->hub.eng, o, &fo) != BG_OK) return FAIL("fate failed");
          if (fo == BG_FATE_PROPOSAL) continue;
          bool seen = bg_vv_contains(&w->ctx, o->dot) ||
                      (o->dot.device == w->dot.device && o->dot.counter < w->dot.counter);
          all_seen = all_seen && seen;
          bool useen = seen;
          for (size_t k = 0; k < W->all.n && !useen; k++) {
            const bg_write *d = W->all.v[k];
            bg_fate fd;
            if (d->rtype != w->rtype || d->field != w->field || !bg_str_eq(d->client, w->client) ||
                !bg_str_eq(d->rid, w->rid) || d->value.type != BG_V_BOOL || !d->value.b)
              continue;
            if (bg_engine_fate(&W->hub.eng, d, &fd) != BG_OK) return FAIL("fate failed");
            if (fd != BG_FATE_VISIBLE && fd != BG_FATE_EQUAL && fd != BG_FATE_CONFLICT) continue;
            useen = d == o || bg_vv_contains(&d->ctx, o->dot) ||
                    (o->dot.device == d->dot.device && o->dot.counter < d->dot.counter);
          }
          union_seen = union_seen && useen;
        }
        bool deleted, edit_won;
        if (bg_engine_deleted(&W->hub.eng, w->client, w->rtype, w->rid, &deleted, &edit_won) != BG_OK)
          return FAIL("deleted failed");
        if (all_seen && !deleted)
          return FAIL("removal %" PRIu64 ".%" PRIu64 " had seen every write of its record, which is not removed",
                      w->dot.device, w->dot.counter);
        if (deleted && !union_seen)
          return FAIL("record of removal %" PRIu64 ".%" PRIu64 " is removed though an edit no removal had seen exists",
                      w->dot.device, w->dot.counter);
        if (!deleted && !edit_won)
          return FAIL("record of removal %" PRIu64 ".%" PRIu64 " is neither removed nor an edit-wins conflict",
                      w->dot.device, w->dot.counter);
      }
    }
    /* R1: a visible plan write lies within the signatures' coverage. */
    if (fh == BG_FATE_VISIBLE && v.field->group == BG_G_PLAN) {
      bg_rid_info rid;
      bg_rid_parse(bg_rtype(w->rtype), w->rid, &rid);
      bg_vv cover = BG_VV_INIT;
      bool signed_ = false;
      for (size_t j = 0; j < W->all.n; j++) {
        const bg_write *s = W->all.v[j];
        bg_rid_info srid;
        bg_fate fs;
        if (s->rtype != BG_RT_PLAN || s->field != 2 || !bg_str_eq(s->client, w->client)) continue;
        bg_rid_parse(bg_rtype(s->rtype), s->rid, &srid);
        if (srid.cycle != rid.cycle || bg_engine_fate(&W->hub.eng, s, &fs) != BG_OK || fs == BG_FATE_PROPOSAL) continue;
        signed_ = true;
        check(bg_vv_merge(&cover, &s->ctx), "merge");
      }
      bool ok = !signed_ || bg_vv_contains(&cover, w->dot);
      bg_vv_free(&cover);
      if (!ok) return FAIL("R1: plan write %" PRIu64 ".%" PRIu64 " is visible though no signature covers it",
                          w->dot.device, w->dot.counter);
    }
  }
  return true;
}

/* --- one seed ---------------------------------------------------------------------- */

static bool run_seed(uint64_t seed, int ndev, int nclients, int ops, bool verbose, world *W) {
  memset(W, 0, sizeof *W);
  g_replicas_made = 0;
  W->seed = seed;
  g_rng = seed * UINT64_C(0x2545f4914f6cdd1d) + 1;
  W->ndev = ndev;
  W->nclients = nclients;
  W->verbose = verbose;
  W->wall = UINT64_C(1795426200000) + below(86400000);
  replica_init(&W->hub);
  /* Device 1 is the office; the others belong to begeleiders, some of whom carry two. */
  uint64_t user = 100;
  for (int i = 0; i < ndev; i++) {
    device *d = &W->dev[i];
    d->id = (uint64_t)i + 1;
    if (i == 0) {
      d->user = 1;
      d->role = BG_ROLE_ADMIN; /* as bgctl writes: it assigns trajectbegeleiders */
    } else if (i >= 2 && chance(40) && W->dev[i - 1].role == BG_ROLE_BEGELEIDER) {
      d->user = W->dev[i - 1].user; /* a second device of the same begeleider */
      d->role = BG_ROLE_BEGELEIDER;
    } else {
      d->user = ++user;
      d->role = BG_ROLE_BEGELEIDER;
    }
    d->skew_ms = (int64_t)below(4000) - 2000;
    bg_hlc_init(&d->hlc, 0);
    replica_init(&d->r);
  }
  for (int c = 0; c < nclients; c++) {
    W->client[c] = afmt("C-%02d", c + 1);
    uint64_t tb = W->dev[1 + below((unsigned)(ndev - 1))].user;
    /* The office registers the client: a traject in aanmelding, and who leads it. */
    device *o = &W->dev[0];
    dwrite(W, o, c, BG_RT_TRAJECT, BG_STR("t"), 1, vint(bg_pos_encode((bg_pos){0, BG_PH_AANMELDING})), false, 0);
    dwrite(W, o, c, BG_RT_TRAJECT, BG_STR("t"), fid(BG_RT_TRAJECT, "begeleider"), vint((int64_t)tb), false, 0);
    dwrite(W, o, c, BG_RT_CLIENT, BG_STR("c"), 1, vstr(afmt("Client %d", c + 1)), false, 0);
  }
  for (int step = 0; step < ops; step++) {
    W->wall += 1 + below(600000);
    device *d = &W->dev[below((unsigned)ndev)];
    unsigned what = below(100);
    if (what < 60) local_step(W, d);
    else if (what < 80) push(W, d, 1 + below(12));
    else pull(W, d, 1 + below(24));
  }
  /* Full exchange until nothing moves. */
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < ndev; i++) {
      device *d = &W->dev[i];
      while (d->acked < d->own.n) push(W, d, SIZE_MAX);
    }
    for (int i = 0; i < ndev; i++) {
      device *d = &W->dev[i];
      while (d->cursor < W->hublog.n) pull(W, d, SIZE_MAX);
    }
  }
  bool ok = check_world(W);
  for (int i = 0; i < ndev; i++) {
    replica_free(&W->dev[i].r);
    free(W->dev[i].own.v);
  }
  replica_free(&W->hub);
  free(W->hublog.v);
  free(W->all.v);
  arena_free();
  return ok;
}

static void usage(FILE *f) {
  fputs("usage: bgsim --seeds N [--start S] [--devices D] [--clients C] [--ops K]\n"
        "             [--store memory|sqlite|mixed] [--verbose]\n"
        "\n"
        "Simulates a team working offline on shared clients, seed by seed, and checks\n"
        "convergence, that nothing is lost and that the phase rules hold.\n"
        "  --seeds N     number of seeds to run (default 100)\n"
        "  --start S     first seed (default 1)\n"
        "  --devices D   devices, the office's included, 2..16 (default 6)\n"
        "  --clients C   clients, 1..8 (default 3)\n"
        "  --ops K       steps per seed (default 1000)\n"
        "  --store S     where replicas keep their state: memory (default), sqlite\n"
        "                (SQLite tables, as daemon and client), or mixed (alternately;\n"
        "                the hub in memory, so both stores must agree byte for byte)\n"
        "  --verbose     print every write\n"
        "Exit status: 0 every seed passed, 1 a seed failed (its replay command is\n"
        "printed), 2 usage error.\n"
        "Example: bgsim --seeds 2000 --start 1\n",
        f);
}

int main(int argc, char **argv) {
  uint64_t seeds = 100, start = 1;
  int ndev = 6, nclients = 3, ops = 1000;
  bool verbose = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--verbose") == 0) {
      verbose = true;
      continue;
    } else if (strcmp(a, "--store") == 0 && v != NULL) {
      if (strcmp(v, "memory") == 0) g_store = STORE_MEMORY;
      else if (strcmp(v, "sqlite") == 0) g_store = STORE_SQLITE;
      else if (strcmp(v, "mixed") == 0) g_store = STORE_MIXED;
      else {
        fprintf(stderr, "bgsim: --store: '%s' is none of memory, sqlite, mixed\n", v);
        return 2;
      }
      i++;
      continue;
    }
    if (v == NULL) {
      fprintf(stderr, "bgsim: %s needs a value\n", a);
      usage(stderr);
      return 2;
    }
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || *end != 0) {
      fprintf(stderr, "bgsim: %s: '%s' is not a number\n", a, v);
      return 2;
    }
    i++;
    if (strcmp(a, "--seeds") == 0) seeds = n;
    else if (strcmp(a, "--start") == 0) start = n;
    else if (strcmp(a, "--devices") == 0 && n >= 2 && n <= MAX_DEV) ndev = (int)n;
    else if (strcmp(a, "--clients") == 0 && n >= 1 && n <= MAX_CLIENTS) nclients = (int)n;
    else if (strcmp(a, "--ops") == 0 && n <= 1000000) ops = (int)n;
    else {
      fprintf(stderr, "bgsim: unknown option or value out of range: %s %s\n", a, v);
      usage(stderr);
      return 2;
    }
  }
  static world W;
  unsigned long passed = 0, failed = 0, writes = 0, conflicts = 0, proposals = 0, resolutions = 0, signatures = 0,
                cycles = 0, resolved_listed = 0;
  for (uint64_t s = start; s < start + seeds; s++) {
    if (verbose) printf("seed %" PRIu64 "\n", s);
    bool ok = run_seed(s, ndev, nclients, ops, verbose, &W);
    writes += W.all.n;
    conflicts += W.conflicts;
    proposals += W.proposals;
    resolutions += W.resolutions;
    signatures += W.signatures;
    cycles += W.cycles;
    resolved_listed += W.resolved_listed;
    if (ok) {
      passed++;
    } else {
      failed++;
      static const char *const stores[] = {"memory", "sqlite", "mixed"};
      printf("bgsim: seed %" PRIu64 " FAILED: %s\n  replay: bgsim --seeds 1 --start %" PRIu64
             " --devices %d --clients %d --ops %d --store %s --verbose\n",
             s, g_fail, s, ndev, nclients, ops, stores[g_store]);
    }
  }
  printf("bgsim: %lu writes, %lu conflict entries, %lu wijzigingsvoorstellen, %lu resolutions, %lu signatures, "
         "%lu new cycles, %lu resolved conflicts compared\n",
         writes, conflicts, proposals, resolutions, signatures, cycles, resolved_listed);
  printf("bgsim: %lu passed, %lu failed\n", passed, failed);
  return failed ? 1 : 0;
}
