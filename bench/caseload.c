/*
 * caseload.c - the synthetic caseload and the SQLite ceiling (caseload.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "caseload.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bg_hlc.h"
#include "bg_schema.h"

/* --- arena: the writes' strings and contexts ------------------------------------------------ */

struct bc_chunk {
  bc_chunk *next;
  size_t used, cap;
  uint8_t data[];
};

#define BC_CHUNK (1u << 20)

static void *bc_alloc(bc_gen *g, size_t n) {
  n = (n + 7) & ~(size_t)7;
  bc_chunk *c = g->arena;
  if (c == NULL || c->cap - c->used < n) {
    size_t cap = n > BC_CHUNK ? n : BC_CHUNK;
    bc_chunk *nc = malloc(sizeof *nc + cap);
    if (nc == NULL) return NULL;
    nc->used = 0;
    nc->cap = cap;
    nc->next = c;
    g->arena = c = nc;
  }
  void *p = c->data + c->used;
  c->used += n;
  return p;
}

static bg_str bc_copy(bc_gen *g, const char *p, size_t n) {
  char *d = bc_alloc(g, n + 1);
  if (d == NULL) return (bg_str){NULL, 0};
  memcpy(d, p, n);
  d[n] = 0;
  return (bg_str){d, (uint32_t)n};
}

/* --- randomness and text ---------------------------------------------------------------------- */

static uint64_t bc_rand(bc_gen *g) {
  uint64_t z = (g->rng += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static uint32_t bc_below(bc_gen *g, uint32_t n) { return (uint32_t)(bc_rand(g) % n); }

static const char *const k_words[] = {
    "client", "woont", "zelfstandig", "in", "een", "huurwoning", "en", "heeft", "schulden", "bij", "de",
    "woningcorporatie", "gesprek", "met", "begeleider", "over", "budget", "wekelijks", "contact", "zus",
    "dagbesteding", "werk", "vrijwilligerswerk", "voedselbank", "afspraak", "huisarts", "medicatie",
    "slaapt", "slecht", "maakt", "zich", "zorgen", "om", "toekomst", "wil", "graag", "weer", "sporten",
    "netwerk", "klein", "moeder", "vader", "vriend", "buurman", "gemeente", "uitkering", "aanvraag",
    "bewindvoering", "loopt", "goed", "moeizaam", "stap", "gezet", "doel", "bereikt", "volgende", "week",
    "samen", "besproken", "plan", "aangepast", "rustig", "gespannen", "positief", "afgesproken", "dat",
    "zij", "hij", "het", "is", "niet", "wel", "nog", "ook", "na", "voor", "tijdens", "huisbezoek"};
#define BC_NWORDS (sizeof k_words / sizeof k_words[0])

/* Text of lo..hi bytes (ASCII words and sentences). */
static bg_value bc_text(bc_gen *g, uint32_t lo, uint32_t hi) {
  uint32_t len = lo + bc_below(g, hi - lo + 1);
  char *d = bc_alloc(g, len + 1);
  if (d == NULL) return (bg_value){BG_V_NIL, false, 0, {NULL, 0}};
  uint32_t at = 0;
  bool cap = true;
  while (at < len) {
    const char *w = k_words[bc_below(g, BC_NWORDS)];
    size_t n = strlen(w);
    if (at + n + 2 > len) n = len - at > 1 ? len - at - 1 : 0;
    for (size_t i = 0; i < n; i++) d[at++] = (char)(cap && i == 0 ? w[i] - 32 : w[i]);
    cap = false;
    if (at < len) {
      bool stop = bc_below(g, 9) == 0 && at + 2 < len;
      if (stop) {
        d[at++] = '.';
        cap = true;
      }
      if (at < len) d[at++] = ' ';
    }
  }
  d[len] = 0;
  g->value_bytes += len;
  return (bg_value){BG_V_STR, false, 0, {d, len}};
}

static bg_value bc_lit(bc_gen *g, const char *s) {
  g->value_bytes += strlen(s);
  return (bg_value){BG_V_STR, false, 0, bc_copy(g, s, strlen(s))};
}

static bg_value bc_int(int64_t i) { return (bg_value){BG_V_INT, false, i, {NULL, 0}}; }
static bg_value bc_bool(bool b) { return (bg_value){BG_V_BOOL, b, 0, {NULL, 0}}; }

static bg_value bc_date(bc_gen *g, int64_t offset_days) {
  time_t t = (time_t)(g->clock_ms / 1000) + (time_t)offset_days * 86400;
  struct tm tm;
  char s[16];
  gmtime_r(&t, &tm);
  strftime(s, sizeof s, "%Y-%m-%d", &tm);
  return bc_lit(g, s);
}

/* --- lifecycle ------------------------------------------------------------------------------------ */

bg_err bc_gen_init(bc_gen *g, uint64_t device, uint64_t user, uint64_t seed, uint64_t start_ms) {
  memset(g, 0, sizeof *g);
  g->device = device;
  g->user = user;
  g->seed = seed;
  g->clock_ms = start_ms;
  if ((g->mem = bg_memkv_new()) == NULL) return BG_E_NOMEM;
  bg_err e = bg_engine_init(&g->eng, bg_memkv_kv(g->mem));
  if (e != BG_OK) {
    bg_memkv_free(g->mem);
    g->mem = NULL;
  }
  return e;
}

bg_err bc_gen_forget(bc_gen *g) {
  bg_engine_free(&g->eng);
  bg_memkv_free(g->mem);
  if ((g->mem = bg_memkv_new()) == NULL) return BG_E_NOMEM;
  bg_err e = bg_engine_init(&g->eng, bg_memkv_kv(g->mem));
  if (e != BG_OK) {
    bg_memkv_free(g->mem);
    g->mem = NULL;
  }
  return e;
}

void bc_gen_clear(bc_gen *g) {
  while (g->arena) {
    bc_chunk *c = g->arena;
    g->arena = c->next;
    free(c);
  }
  g->n = 0;
  g->value_bytes = 0;
}

void bc_gen_free(bc_gen *g) {
  bc_gen_clear(g);
  free(g->w);
  free(g->recs);
  if (g->mem) {
    bg_engine_free(&g->eng);
    bg_memkv_free(g->mem);
  }
  memset(g, 0, sizeof *g);
}

const bg_write *bc_gen_writes(const bc_gen *g, size_t *n) {
  *n = g->n;
  return g->w;
}

bg_err bc_gen_receive(bc_gen *g, const bg_write *w) {
  bg_apply_result res;
  return bg_engine_apply(&g->eng, w, &res);
}

/* --- making writes ------------------------------------------------------------------------------------ */

/* One write of this device, made as the client library makes it: context and
 * position from the engine, the next dot, the author; applied, and kept. */
static bg_err bc_put_in(bc_gen *g, bg_str client, uint32_t rtype, const char *rid, uint32_t field, bg_value v) {
  if (g->n == g->cap) {
    size_t cap = g->cap ? 2 * g->cap : 4096;
    bg_write *nw = realloc(g->w, cap * sizeof *nw);
    if (nw == NULL) return BG_E_NOMEM;
    g->w = nw;
    g->cap = cap;
  }
  bg_write w;
  memset(&w, 0, sizeof w);
  w.client = client;
  w.rtype = rtype;
  w.rid = bc_copy(g, rid, strlen(rid));
  w.field = field;
  w.value = v;
  if (w.rid.p == NULL || (v.type == BG_V_STR && v.s.p == NULL)) return BG_E_NOMEM;
  bg_err e = bg_engine_context_for(&g->eng, &w);
  if (e != BG_OK) return e;
  w.dot = (bg_dot){g->device, ++g->counter};
  w.user = g->user;
  w.role = BG_ROLE_BEGELEIDER;
  w.tb = true;
  g->clock_ms += 1000 + bc_below(g, 19000); /* 1-20 s between writes */
  w.hlc = bg_hlc_make(g->clock_ms, 0);
  bg_apply_result res;
  e = bg_engine_apply(&g->eng, &w, &res);
  if (e == BG_OK && res.outcome != BG_APPLIED) {
    fprintf(stderr, "caseload: write %s %s field %u not applied (%s)\n", bg_rtype(rtype)->name, rid, field,
            bg_err_name(res.reason));
    e = BG_E_INTERNAL;
  }
  bg_dot *ctx = w.ctx.n ? bc_alloc(g, w.ctx.n * sizeof *ctx) : NULL;
  if (e == BG_OK && w.ctx.n && ctx == NULL) e = BG_E_NOMEM;
  if (e == BG_OK && w.ctx.n) memcpy(ctx, w.ctx.e, w.ctx.n * sizeof *ctx);
  uint32_t nctx = w.ctx.n;
  bg_vv_free(&w.ctx);
  w.ctx = (bg_vv){ctx, nctx, 0};
  if (e == BG_OK) g->w[g->n++] = w;
  return e;
}

static bg_err bc_put(bc_gen *g, uint32_t rtype, const char *rid, uint32_t field, bg_value v) {
  return bc_put_in(g, g->cstr, rtype, rid, field, v);
}

bg_err bc_gen_write(bc_gen *g, const char *client, uint32_t rtype, const char *rid, uint32_t field, bg_value v) {
  if (v.type == BG_V_STR) {
    v.s = bc_copy(g, v.s.p, v.s.len);
    g->value_bytes += v.s.len;
  }
  bg_str c = bc_copy(g, client, strlen(client));
  if (c.p == NULL) return BG_E_NOMEM;
  return bc_put_in(g, c, rtype, rid, field, v);
}

static bg_err bc_rec(bc_gen *g, uint32_t rtype, const char *rid) {
  if (g->nrecs == g->caprecs) {
    size_t cap = g->caprecs ? 2 * g->caprecs : 512;
    struct bc_rec *n = realloc(g->recs, cap * sizeof *n);
    if (n == NULL) return BG_E_NOMEM;
    g->recs = n;
    g->caprecs = cap;
  }
  g->recs[g->nrecs].rtype = rtype;
  snprintf(g->recs[g->nrecs].rid, sizeof g->recs[g->nrecs].rid, "%s", rid);
  g->nrecs++;
  return BG_OK;
}

/* A new record id as bgsync_new_rid makes it: a counter of this device taken. */
static void bc_new_rid(bc_gen *g, uint32_t cycle, char rid[BG_ID_MAX + 1]) {
  uint64_t c = ++g->counter;
  if (cycle) snprintf(rid, BG_ID_MAX + 1, "%u:%" PRIu64 ".%" PRIu64, cycle, g->device, c);
  else snprintf(rid, BG_ID_MAX + 1, "%" PRIu64 ".%" PRIu64, g->device, c);
}

static bg_err bc_move(bc_gen *g, uint32_t cycle, int phase) {
  return bc_put(g, BG_RT_TRAJECT, "t", 1, bc_int(bg_pos_encode((bg_pos){cycle, (uint8_t)phase})));
}

static const char *const k_soort[] = {"begeleidingsgesprek", "voortgangsgesprek", "overig"};

static bg_err bc_notes(bc_gen *g, uint32_t n) {
  bg_err e = BG_OK;
  for (uint32_t i = 0; i < n && e == BG_OK; i++) {
    char rid[BG_ID_MAX + 1];
    bc_new_rid(g, 0, rid);
    e = bc_rec(g, BG_RT_RAPPORTAGE, rid);
    if (e == BG_OK) e = bc_put(g, BG_RT_RAPPORTAGE, rid, 1, bc_lit(g, k_soort[bc_below(g, 3)]));
    if (e == BG_OK) e = bc_put(g, BG_RT_RAPPORTAGE, rid, 2, bc_date(g, 0));
    if (e == BG_OK) e = bc_put(g, BG_RT_RAPPORTAGE, rid, 3, bc_text(g, 300, 2000));
    if (e == BG_OK && bc_below(g, 2))
      e = bc_put(g, BG_RT_RAPPORTAGE, rid, 4,
                 bc_lit(g, bg_default_leefgebieden[bc_below(g, (uint32_t)bg_n_default_leefgebieden)].key));
  }
  return e;
}

#define TRY(x)                      \
  do {                              \
    if ((e = (x)) != BG_OK) return e; \
  } while (0)

/* One cycle of the traject: analyse, planning (signed), uitvoering; and the
 * evaluatie that continues it unless it is the last. `notes` to spread. */
static bg_err bc_cycle(bc_gen *g, uint32_t k, bool last, uint32_t notes) {
  bg_err e;
  char rid[BG_ID_MAX + 1];
  TRY(bc_move(g, k, BG_PH_ANALYSE));
  for (size_t l = 0; l < bg_n_default_leefgebieden; l++) {
    snprintf(rid, sizeof rid, "%u/%s", k, bg_default_leefgebieden[l].key);
    TRY(bc_rec(g, BG_RT_PB, rid));
    for (uint32_t f = 1; f <= 5; f++) TRY(bc_put(g, BG_RT_PB, rid, f, bc_text(g, 80, 500)));
  }
  TRY(bc_notes(g, notes / 3));
  TRY(bc_move(g, k, BG_PH_PLANNING));
  char plan[16];
  snprintf(plan, sizeof plan, "%u", k);
  TRY(bc_rec(g, BG_RT_PLAN, plan));
  TRY(bc_put(g, BG_RT_PLAN, plan, 1, bc_text(g, 100, 400)));
  char doelen[10][BG_ID_MAX + 1], acties[30][BG_ID_MAX + 1];
  for (int d = 0; d < 10; d++) {
    bc_new_rid(g, k, doelen[d]);
    TRY(bc_rec(g, BG_RT_DOEL, doelen[d]));
    TRY(bc_put(g, BG_RT_DOEL, doelen[d], 1, bc_lit(g, bg_default_leefgebieden[d % 7].key)));
    TRY(bc_put(g, BG_RT_DOEL, doelen[d], 2, bc_text(g, 40, 200)));
    TRY(bc_put(g, BG_RT_DOEL, doelen[d], 3, bc_lit(g, bc_below(g, 2) ? "3 maanden" : "6 maanden")));
    TRY(bc_put(g, BG_RT_DOEL, doelen[d], 4, bc_int(1 + bc_below(g, 5))));
  }
  static const char *const wie[] = {"client", "begeleider", "netwerk"};
  for (int a = 0; a < 30; a++) {
    bc_new_rid(g, k, acties[a]);
    TRY(bc_rec(g, BG_RT_ACTIE, acties[a]));
    TRY(bc_put(g, BG_RT_ACTIE, acties[a], 1, bc_lit(g, doelen[a % 10])));
    TRY(bc_put(g, BG_RT_ACTIE, acties[a], 2, bc_text(g, 30, 160)));
    TRY(bc_put(g, BG_RT_ACTIE, acties[a], 3, bc_lit(g, wie[bc_below(g, 3)])));
    TRY(bc_put(g, BG_RT_ACTIE, acties[a], 4, bc_date(g, 30 + bc_below(g, 150))));
    TRY(bc_put(g, BG_RT_ACTIE, acties[a], 5, bc_int(1 + bc_below(g, 5))));
  }
  /* the signature last: its context covers the plan as shown to the client */
  TRY(bc_put(g, BG_RT_PLAN, plan, 3, bc_date(g, 0)));
  TRY(bc_put(g, BG_RT_PLAN, plan, 2, bc_lit(g, "getekend door client, op kantoor")));
  TRY(bc_move(g, k, BG_PH_UITVOERING));
  for (int a = 0; a < 30; a += 2) {
    TRY(bc_put(g, BG_RT_ACTIE, acties[a], 7, bc_lit(g, bc_below(g, 2) ? "bezig" : "afgerond")));
    TRY(bc_put(g, BG_RT_ACTIE, acties[a], 8, bc_text(g, 40, 300)));
  }
  TRY(bc_notes(g, notes / 3));
  if (!last) {
    TRY(bc_move(g, k, BG_PH_EVALUATIE));
    TRY(bc_rec(g, BG_RT_EVALUATIE, plan));
    TRY(bc_put(g, BG_RT_EVALUATIE, plan, 1, bc_date(g, 0)));
    TRY(bc_put(g, BG_RT_EVALUATIE, plan, 2, bc_text(g, 200, 800)));
    TRY(bc_put(g, BG_RT_EVALUATIE, plan, 3, bc_text(g, 100, 400)));
    TRY(bc_put(g, BG_RT_EVALUATIE, plan, 4, bc_text(g, 300, 1200)));
    TRY(bc_put(g, BG_RT_EVALUATIE, plan, 5, bc_lit(g, "voortzetten")));
  }
  return bc_notes(g, notes - 2 * (notes / 3));
}

bg_err bc_gen_client(bc_gen *g, const char *client, uint32_t index) {
  bg_err e;
  snprintf(g->client, sizeof g->client, "%s", client);
  g->nrecs = 0;
  g->rng = g->seed ^ (UINT64_C(0x2545f4914f6cdd1d) * (index + 1));
  bg_pos pos;
  TRY(bg_engine_position(&g->eng, bg_str_c(client), &pos));
  if (pos.phase != BG_PH_AANMELDING) return BG_E_USAGE; /* the office opens the traject first */
  /* the record keys borrow g->client: keep one copy per client in the arena */
  g->cstr = bc_copy(g, client, strlen(client));
  if (g->cstr.p == NULL) return BG_E_NOMEM;
  TRY(bc_rec(g, BG_RT_TRAJECT, "t"));
  TRY(bc_rec(g, BG_RT_CLIENT, "c"));
  char naam[64];
  snprintf(naam, sizeof naam, "Client %u %s", index, k_words[bc_below(g, BC_NWORDS)]);
  TRY(bc_put(g, BG_RT_CLIENT, "c", 1, bc_lit(g, naam)));
  TRY(bc_put(g, BG_RT_CLIENT, "c", 2, bc_lit(g, "1980-05-17")));
  TRY(bc_put(g, BG_RT_CLIENT, "c", 3, bc_text(g, 20, 40)));
  TRY(bc_put(g, BG_RT_CLIENT, "c", 4, bc_lit(g, "06-12345678")));
  TRY(bc_put(g, BG_RT_CLIENT, "c", 5, bc_lit(g, "client@example.nl")));
  TRY(bc_rec(g, BG_RT_AANMELDING, "a"));
  TRY(bc_put(g, BG_RT_AANMELDING, "a", 1, bc_date(g, 0)));
  TRY(bc_put(g, BG_RT_AANMELDING, "a", 2, bc_text(g, 300, 800)));
  TRY(bc_put(g, BG_RT_AANMELDING, "a", 3, bc_text(g, 100, 400)));
  TRY(bc_put(g, BG_RT_AANMELDING, "a", 4, bc_lit(g, "intakegesprek")));
  TRY(bc_notes(g, 4));
  TRY(bc_move(g, 0, BG_PH_INTAKE));
  TRY(bc_rec(g, BG_RT_INTAKE, "i"));
  TRY(bc_put(g, BG_RT_INTAKE, "i", 1, bc_date(g, 0)));
  TRY(bc_put(g, BG_RT_INTAKE, "i", 2, bc_text(g, 300, 800)));
  TRY(bc_put(g, BG_RT_INTAKE, "i", 3, bc_text(g, 100, 400)));
  TRY(bc_put(g, BG_RT_INTAKE, "i", 4, bc_lit(g, "toelating")));
  TRY(bc_notes(g, 4));
  TRY(bc_move(g, 0, BG_PH_OPSTART));
  TRY(bc_rec(g, BG_RT_OPSTART, "o"));
  for (uint32_t f = 1; f <= 3; f++) TRY(bc_put(g, BG_RT_OPSTART, "o", f, bc_bool(true)));
  TRY(bc_put(g, BG_RT_OPSTART, "o", 4, bc_text(g, 100, 400)));
  static const char *const rol[] = {"moeder", "zus", "buurman", "huisarts", "schuldhulp", "werkgever"};
  for (int i = 0; i < 15; i++) {
    char rid[BG_ID_MAX + 1];
    bc_new_rid(g, 0, rid);
    TRY(bc_rec(g, BG_RT_NETWERK, rid));
    TRY(bc_put(g, BG_RT_NETWERK, rid, 1, bc_text(g, 8, 24)));
    TRY(bc_put(g, BG_RT_NETWERK, rid, 2, bc_lit(g, i % 3 ? "informeel" : "formeel")));
    TRY(bc_put(g, BG_RT_NETWERK, rid, 3, bc_lit(g, rol[bc_below(g, 6)])));
    TRY(bc_put(g, BG_RT_NETWERK, rid, 4, bc_lit(g, "06-87654321")));
  }
  TRY(bc_notes(g, 4));
  uint32_t cycles = 2 + bc_below(g, 2), left = 200 - 12;
  for (uint32_t k = 1; k <= cycles; k++) {
    uint32_t notes = k == cycles ? left : 188 / cycles;
    TRY(bc_cycle(g, k, k == cycles, notes));
    left -= notes;
  }
  return BG_OK;
}

/* --- rows ------------------------------------------------------------------------------------------- */

static bg_err bc_row_str(bg_buf *b, const char *p, size_t n) {
  uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
  bg_err e = bg_buf_append(b, h, 4);
  return e == BG_OK ? bg_buf_append(b, p, n) : e;
}

/* Row: rtype, client, rid, field count, then per field a type byte and its
 * value (int64 big-endian, bool byte, or length + bytes). */
bg_err bc_gen_rows(bc_gen *g, bc_rows *out) {
  bg_err e = BG_OK;
  bg_str client = bg_str_c(g->client);
  for (size_t i = 0; i < g->nrecs && e == BG_OK; i++) {
    const bg_rtype_def *rt = bg_rtype(g->recs[i].rtype);
    bg_str rid = bg_str_c(g->recs[i].rid);
    uint8_t hdr[2] = {(uint8_t)rt->id, 0};
    for (uint16_t f = 0; f < rt->n_fields; f++) hdr[1] += strcmp(rt->fields[f].name, BG_FIELD_DELETED_NAME) != 0;
    e = bg_buf_append(&out->b, hdr, 1);
    if (e == BG_OK) e = bc_row_str(&out->b, client.p, client.len);
    if (e == BG_OK) e = bc_row_str(&out->b, rid.p, rid.len);
    if (e == BG_OK) e = bg_buf_append(&out->b, hdr + 1, 1);
    for (uint16_t f = 0; f < rt->n_fields && e == BG_OK; f++) {
      if (strcmp(rt->fields[f].name, BG_FIELD_DELETED_NAME) == 0) continue;
      bg_field_view fv;
      if ((e = bg_engine_field(&g->eng, client, rt->id, rid, rt->fields[f].id, &fv)) != BG_OK) break;
      const bg_value *v = fv.winner ? &fv.winner->value : NULL;
      uint8_t t = v ? (uint8_t)v->type : BG_V_NIL;
      e = bg_buf_append(&out->b, &t, 1);
      if (e != BG_OK || t == BG_V_NIL) continue;
      if (t == BG_V_BOOL) {
        uint8_t b = v->b;
        e = bg_buf_append(&out->b, &b, 1);
      } else if (t == BG_V_INT) {
        uint8_t b[8];
        for (int k = 0; k < 8; k++) b[k] = (uint8_t)((uint64_t)v->i >> (56 - 8 * k));
        e = bg_buf_append(&out->b, b, 8);
      } else {
        e = bc_row_str(&out->b, v->s.p, v->s.len);
        out->value_bytes += v->s.len;
      }
    }
    out->n++;
  }
  return e;
}

void bc_rows_free(bc_rows *r) {
  bg_buf_free(&r->b);
  memset(r, 0, sizeof *r);
}

/* --- the ceiling -------------------------------------------------------------------------------------- */

typedef struct bc_in {
  const uint8_t *p, *end;
} bc_in;

static uint32_t bc_u32(bc_in *in) {
  uint32_t v = (uint32_t)in->p[0] << 24 | (uint32_t)in->p[1] << 16 | (uint32_t)in->p[2] << 8 | in->p[3];
  in->p += 4;
  return v;
}

static int bc_exec(sqlite3 *db, const char *sql) {
  int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) fprintf(stderr, "ceiling: %s: %s\n", sql, sqlite3_errmsg(db));
  return rc;
}

bg_err bc_ceiling(const bc_rows *rows, uint32_t first, uint32_t n_clients, const char *path, double *secs, uint64_t *n_rows,
                  uint64_t *file_bytes) {
  char side[1100];
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
  sqlite3 *db = NULL;
  sqlite3_stmt *ins[BG_RTYPE_MAX + 1] = {0};
  int rc = sqlite3_open(path, &db);
  /* the replica's settings (store/bg_sql.c): 16 KiB pages, WAL, synchronous=FULL */
  if (rc == SQLITE_OK) rc = bc_exec(db, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL");
  char sql[2048];
  for (uint32_t t = 1; t <= BG_RTYPE_MAX && rc == SQLITE_OK; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    int n = snprintf(sql, sizeof sql, "CREATE TABLE \"%s\"(client TEXT NOT NULL, rid TEXT NOT NULL", rt->name);
    int k = 0;
    char cols[1024] = "", params[256] = "";
    int nc = 0, np = 0;
    for (uint16_t f = 0; f < rt->n_fields; f++) {
      const bg_field_def *fd = &rt->fields[f];
      if (strcmp(fd->name, BG_FIELD_DELETED_NAME) == 0) continue;
      bool integer = fd->type == BG_FT_INT || fd->type == BG_FT_BOOL || fd->type == BG_FT_POS;
      n += snprintf(sql + n, sizeof sql - (size_t)n, ", \"%s\" %s", fd->name, integer ? "INTEGER" : "TEXT");
      nc += snprintf(cols + nc, sizeof cols - (size_t)nc, ", \"%s\"", fd->name);
      np += snprintf(params + np, sizeof params - (size_t)np, ", ?%d", 3 + k++);
    }
    snprintf(sql + n, sizeof sql - (size_t)n, ", PRIMARY KEY(client, rid)) WITHOUT ROWID");
    rc = bc_exec(db, sql);
    snprintf(sql, sizeof sql, "INSERT INTO \"%s\"(client, rid%s) VALUES(?1, ?2%s)", rt->name, cols, params);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &ins[t], NULL);
  }
  uint64_t count = 0;
  double t0 = 0;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  t0 = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  if (rc == SQLITE_OK) rc = bc_exec(db, "BEGIN");
  bc_in in = {rows->b.data, rows->b.data + rows->b.len};
  const uint8_t *last_client = NULL;
  uint32_t last_len = 0, clients = 0;
  while (rc == SQLITE_OK && in.p < in.end) {
    uint32_t t = *in.p++;
    uint32_t clen = bc_u32(&in);
    const char *client = (const char *)in.p;
    in.p += clen;
    uint32_t rlen = bc_u32(&in);
    const char *rid = (const char *)in.p;
    in.p += rlen;
    uint32_t nf = *in.p++;
    if (last_client == NULL || clen != last_len || memcmp(last_client, client, clen) != 0) {
      clients++;
      if (n_clients && clients > first + n_clients) break;
      last_client = (const uint8_t *)client;
      last_len = clen;
    }
    sqlite3_stmt *st = ins[t];
    bool skip = clients <= first;
    rc = sqlite3_bind_text(st, 1, client, (int)clen, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 2, rid, (int)rlen, SQLITE_STATIC);
    for (uint32_t f = 0; f < nf && rc == SQLITE_OK; f++) {
      uint8_t ty = *in.p++;
      int col = 3 + (int)f;
      if (ty == BG_V_NIL) {
        rc = sqlite3_bind_null(st, col);
      } else if (ty == BG_V_BOOL) {
        rc = sqlite3_bind_int(st, col, *in.p++);
      } else if (ty == BG_V_INT) {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++) v = v << 8 | *in.p++;
        rc = sqlite3_bind_int64(st, col, (int64_t)v);
      } else {
        uint32_t n = bc_u32(&in);
        rc = ty == BG_V_STR ? sqlite3_bind_text(st, col, (const char *)in.p, (int)n, SQLITE_STATIC)
                            : sqlite3_bind_blob(st, col, in.p, (int)n, SQLITE_STATIC);
        in.p += n;
      }
    }
    if (rc == SQLITE_OK && skip) {
      rc = sqlite3_clear_bindings(st);
      continue;
    }
    if (rc == SQLITE_OK) {
      rc = sqlite3_step(st);
      rc = rc == SQLITE_DONE ? sqlite3_reset(st) : rc;
      if (rc != SQLITE_OK) fprintf(stderr, "ceiling: insert: %s\n", sqlite3_errmsg(db));
    }
    count++;
  }
  if (rc == SQLITE_OK) rc = bc_exec(db, "COMMIT");
  clock_gettime(CLOCK_MONOTONIC, &ts);
  *secs = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - t0;
  *n_rows = count;
  if (rc == SQLITE_OK) rc = bc_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) sqlite3_finalize(ins[t]);
  if (db && sqlite3_close(db) != SQLITE_OK && rc == SQLITE_OK) rc = SQLITE_BUSY;
  struct stat sb;
  *file_bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
  return rc == SQLITE_OK ? BG_OK : BG_E_STORAGE;
}
