/*
 * bg_engine.c - the merge engine (see bg_engine.h for what it guarantees).
 *
 * Key layout (all integers big-endian, so keys sort by their parts):
 *   client key  = client bytes, 0x00
 *   record key  = client key, rtype (2), rid bytes, 0x00
 *   field key   = record key, field (2)
 *   FIELD       field key                -> [K, [[device, counter, write], ...]]
 *                                           current writes by dot, each with its dot
 *                                           beside its encoding: applying a write
 *                                           needs the dots only, never a decode
 *   LOG         field key, dot (8+8)     -> write
 *   RECORD      record key               -> [vv]                dots of applied writes
 *   PLAN        client key, cycle (4)    -> [S, n, D]   the plan's signatures that count
 *                                           (made without having seen another): n of
 *                                           them, their dots D, S the join of their
 *                                           contexts - the plan's coverage (R1)
 *   PROPOSAL    client key, dot (8+8), field key -> [field key, reason]
 * Client ids and record ids never contain bytes below 0x20 (bg_write_check), so
 * the 0x00 separators cannot occur inside them.
 *
 * Two paths keep the state. The incremental path (bg_engine_apply) touches one
 * field, one record and one log entry per write. The rebuild path recomputes a
 * record from its log; a signature uses it to reclassify its plan's writes (R1),
 * and tests use it as the oracle the incremental path must agree with.
 */
#include "bg_engine.h"

#include <inttypes.h>
#include <stdio.h>

#include <assert.h>
#include <mbedtls/sha256.h>
#include <string.h>

#include "bg_mp.h"

#define Z(e) ((e)->zone)

/* --- keys ------------------------------------------------------------------------ */

static bg_err bg__put_be(bg_buf *b, uint64_t v, unsigned n) {
  uint8_t t[8];
  for (unsigned i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
  return bg_buf_append(b, t, n);
}

static uint64_t bg__get_be(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

/* v big-endian into p[0..8) (a fixed loop: compilers make it one swap and store). */
static inline void bg__be64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Client ids and record ids: no control characters (so 0x00 separates key parts). */
static bool bg__id_ok(bg_str s) {
  for (uint32_t i = 0; i < s.len; i++)
    if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f) return false;
  return s.len > 0;
}

static bg_err bg__key_client(bg_buf *k, bg_str client) {
  static const uint8_t nul = 0;
  if (!bg__id_ok(client)) return BG_E_USAGE;
  bg_buf_reset(k);
  bg_err e = bg_buf_append(k, client.p, client.len);
  return e ? e : bg_buf_append(k, &nul, 1);
}

/* client 0x00 rtype(2) rid 0x00, then field(2) and the dot when given: every
 * key of a write, built with one reservation. */
static bg_err bg__key_write(bg_buf *k, bg_str client, uint32_t rtype, bg_str rid, const uint32_t *field,
                            const bg_dot *dot) {
  if (!bg__id_ok(client)) return BG_E_USAGE;
  bg_buf_reset(k);
  size_t n = (size_t)client.len + 4 + rid.len + (field ? 2 : 0) + (dot ? 16 : 0);
  bg_err e = bg_buf_reserve(k, n);
  if (e != BG_OK) return e;
  uint8_t *p = k->data;
  memcpy(p, client.p, client.len);
  p += client.len;
  *p++ = 0;
  *p++ = (uint8_t)(rtype >> 8);
  *p++ = (uint8_t)rtype;
  if (rid.len) memcpy(p, rid.p, rid.len);
  p += rid.len;
  *p++ = 0;
  if (field) {
    *p++ = (uint8_t)(*field >> 8);
    *p++ = (uint8_t)*field;
  }
  if (dot) {
    bg__be64(p, dot->device);
    bg__be64(p + 8, dot->counter);
  }
  k->len = n;
  return BG_OK;
}

static bg_err bg__key_record(bg_buf *k, bg_str client, uint32_t rtype, bg_str rid) {
  return bg__key_write(k, client, rtype, rid, 0, NULL);
}

static bg_err bg__key_field(bg_buf *k, bg_str client, uint32_t rtype, bg_str rid, uint32_t field) {
  return bg__key_write(k, client, rtype, rid, &field, NULL);
}

static bg_err bg__put_dot(bg_buf *k, bg_dot d) {
  bg_err e = bg__put_be(k, d.device, 8);
  return e ? e : bg__put_be(k, d.counter, 8);
}

/* The record key inside a field key: everything but the last two bytes. */
static size_t bg__fk_record_len(size_t fklen) { return fklen - 2; }

/* The cycle a record key's record id names (record key = client 0x00 rtype(2)
 * rid 0x00). BG_E_CORRUPT for a key that is not one. */
static bg_err bg__rk_cycle(const uint8_t *rk, size_t rklen, uint32_t rtype, uint32_t *cycle) {
  const uint8_t *nul = memchr(rk, 0, rklen);
  size_t at = nul ? (size_t)(nul - rk) : rklen;
  if (at + 4 > rklen || rk[rklen - 1] != 0) return BG_E_CORRUPT;
  bg_str rid = {(const char *)rk + at + 3, (uint32_t)(rklen - at - 4)};
  bg_rid_info info;
  if (bg_rid_parse(bg_rtype(rtype), rid, &info) != BG_OK) return BG_E_CORRUPT;
  *cycle = info.cycle;
  return BG_OK;
}

/* --- (de)serialisation of engine states --------------------------------------------- */

static void bg__put_vv(bg_mp_out *o, const bg_vv *v) {
  bg_mp_put_array(o, 2 * v->n);
  for (uint32_t i = 0; i < v->n; i++) {
    bg_mp_put_uint(o, v->e[i].device);
    bg_mp_put_uint(o, v->e[i].counter);
  }
}

/* Read a flat version vector into zone memory (borrowed: cap 0), checking as it
 * reads that it is canonical (bg_vv_is_canonical): devices ascending, nothing 0. */
static bg_err bg__read_vv(bg_engine *e, bg_mp_in *in, bg_vv *v) {
  uint32_t n2;
  bg_vv_init(v);
  /* Every number takes a byte at least: a count past the bytes left is damage
   * (and must not size an allocation). */
  if (!bg_mp_read_array(in, &n2) || n2 % 2 || n2 > (size_t)(in->end - in->p)) return BG_E_CORRUPT;
  uint32_t n = n2 / 2;
  if (n == 0) return BG_OK;
  if (n > BG_VV_MAX_ENTRIES) return BG_E_CORRUPT;
  bg_dot *d = msgpack_zone_malloc(Z(e), n * sizeof *d);
  if (d == NULL) return BG_E_NOMEM;
  uint64_t last = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (!bg_mp_read_uint(in, &d[i].device) || !bg_mp_read_uint(in, &d[i].counter) || d[i].device <= last ||
        d[i].counter == 0)
      return BG_E_CORRUPT;
    last = d[i].device;
  }
  *v = (bg_vv){d, n, 0};
  return BG_OK;
}

/* v = pointwise max(v, add), in zone memory. The engine's vectors live in the
 * zone for one call, so a join allocates nothing to free (with bg_vv_merge and
 * bg_vv_advance it was a malloc and a free per vector per write). */
static bg_err bg__vv_join(bg_engine *e, bg_vv *v, const bg_vv *add) {
  if (add->n == 0) return BG_OK;
  uint32_t room = v->n + add->n > BG_VV_MAX_ENTRIES ? BG_VV_MAX_ENTRIES : v->n + add->n;
  bg_dot *out = msgpack_zone_malloc(Z(e), room * sizeof *out);
  if (out == NULL) return BG_E_NOMEM;
  bg_vv res;
  bool changed;
  bg_err r = bg_vv_join_into(v, add, out, room, &res, &changed);
  if (r == BG_OK && changed) *v = res;
  return r;
}

/* A one-vector state [vv, count] (RECORD). */
static bg_err bg__vv_parse(bg_engine *e, const uint8_t *p, size_t n, bg_vv *v, uint64_t *count) {
  bg_mp_in in;
  uint32_t size;
  uint64_t c;
  bg_mp_in_init(&in, p, n);
  if (!bg_mp_read_array(&in, &size) || size != 2) return BG_E_CORRUPT;
  bg_err r = bg__read_vv(e, &in, v);
  if (r != BG_OK) return r;
  if (!bg_mp_read_uint(&in, &c) || !bg_mp_in_done(&in)) return BG_E_CORRUPT;
  if (count) *count = c;
  return BG_OK;
}

static bg_err bg__decode_write(bg_engine *e, const uint8_t *p, size_t n, bg_write *w) {
  uint8_t *copy = msgpack_zone_malloc(Z(e), n ? n : 1);
  if (copy == NULL) return BG_E_NOMEM;
  memcpy(copy, p, n);
  bg_err r = bg_write_decode(copy, n, Z(e), w, NULL);
  return r == BG_OK || r == BG_E_NOMEM ? r : BG_E_CORRUPT;
}

/* A current write of a field: its dot, its encoding, and - decoded on demand
 * (bg__cur_write) - the write itself. */
typedef struct bg__cur {
  bg_dot dot;
  const uint8_t *raw;
  size_t rawlen;
  bool decoded;
  bg_write w;
} bg__cur;

/* A field's state: the join K of all its applied writes' contexts and its
 * current writes (dot not in K), sorted by dot. */
typedef struct bg__fstate {
  bg_vv K;
  bg__cur *cur;
  uint32_t n, cap;
} bg__fstate;

static bg_err bg__fstate_reserve(bg_engine *e, bg__fstate *st, uint32_t need) {
  if (need <= st->cap) return BG_OK;
  uint32_t cap = need < 4 ? 4 : need * 2;
  bg__cur *c = msgpack_zone_malloc(Z(e), cap * sizeof *c);
  if (c == NULL) return BG_E_NOMEM;
  if (st->n) memcpy(c, st->cur, st->n * sizeof *c);
  st->cur = c;
  st->cap = cap;
  return BG_OK;
}

static bg_err bg__cur_write(bg_engine *e, bg__cur *c, const bg_write **out) {
  if (!c->decoded) {
    bg_err r = bg__decode_write(e, c->raw, c->rawlen, &c->w);
    if (r != BG_OK) return r;
    c->decoded = true;
  }
  *out = &c->w;
  return BG_OK;
}

/* Parse a stored field state. The current writes' encodings point into `val`
 * itself, not a copy: the caller keeps those bytes (e->v1 until the next load, a
 * scan's value during its callback) while it uses writes not yet decoded.
 * Decoding (bg__cur_write, bg__view) copies into the zone, so a view outlives
 * them; bg_engine_apply saves the state before it loads anything else. */
static bg_err bg__fstate_parse(bg_engine *e, const bg_buf *val, bg__fstate *st) {
  memset(st, 0, sizeof *st);
  bg_mp_in in;
  bg_mp_in_init(&in, val->len ? val->data : (const uint8_t *)"", val->len);
  uint32_t size, n;
  if (!bg_mp_read_array(&in, &size) || size != 2) return BG_E_CORRUPT;
  bg_err r = bg__read_vv(e, &in, &st->K);
  if (r != BG_OK) return r;
  if (!bg_mp_read_array(&in, &n) || n > (size_t)(in.end - in.p)) return BG_E_CORRUPT;
  if ((r = bg__fstate_reserve(e, st, n + 1)) != BG_OK) return r;
  for (uint32_t i = 0; i < n; i++) {
    bg__cur *c = &st->cur[i];
    uint32_t rawlen;
    if (!bg_mp_read_array(&in, &size) || size != 3 || !bg_mp_read_uint(&in, &c->dot.device) ||
        !bg_mp_read_uint(&in, &c->dot.counter) || !bg_mp_read_bin(&in, &c->raw, &rawlen))
      return BG_E_CORRUPT;
    c->rawlen = rawlen;
    c->decoded = false;
  }
  st->n = n;
  return bg_mp_in_done(&in) ? BG_OK : BG_E_CORRUPT;
}

/* Load the field state under `fk` (empty when absent). */
static bg_err bg__field_load(bg_engine *e, const bg_buf *fk, bg__fstate *st) {
  memset(st, 0, sizeof *st);
  bg_err r = e->kv.ops->get(e->kv.self, BG_KV_FIELD, fk->data, fk->len, &e->v1);
  if (r == BG_E_NOT_FOUND) return BG_OK;
  return r == BG_OK ? bg__fstate_parse(e, &e->v1, st) : r;
}

static bg_err bg__field_save(bg_engine *e, const bg_buf *fk, const bg__fstate *st) {
  if (st->n == 0 && st->K.n == 0) return e->kv.ops->del(e->kv.self, BG_KV_FIELD, fk->data, fk->len);
  bg_buf_reset(&e->v2);
  bg_mp_out o;
  bg_mp_out_init(&o, &e->v2);
  bg_mp_put_array(&o, 2);
  bg__put_vv(&o, &st->K);
  bg_mp_put_array(&o, st->n);
  for (uint32_t i = 0; i < st->n; i++) {
    bg_mp_put_array(&o, 3);
    bg_mp_put_uint(&o, st->cur[i].dot.device);
    bg_mp_put_uint(&o, st->cur[i].dot.counter);
    bg_mp_put_bin(&o, st->cur[i].raw, (uint32_t)st->cur[i].rawlen);
  }
  if (o.err != BG_OK) return o.err;
  return e->kv.ops->put(e->kv.self, BG_KV_FIELD, fk->data, fk->len, e->v2.data, e->v2.len);
}

/* Load a one-vector state (RECORD) or a [vv, count] state (PLAN). */
static bg_err bg__vv_load(bg_engine *e, int space, const bg_buf *key, bg_vv *v, uint64_t *count) {
  bg_vv_init(v);
  if (count) *count = 0;
  bg_err r = e->kv.ops->get(e->kv.self, space, key->data, key->len, &e->v1);
  if (r == BG_E_NOT_FOUND) return BG_OK;
  if (r != BG_OK) return r;
  return bg__vv_parse(e, e->v1.data, e->v1.len, v, count);
}

static bg_err bg__vv_save(bg_engine *e, int space, const bg_buf *key, const bg_vv *v, uint64_t count) {
  bg_buf_reset(&e->v2);
  bg_mp_out o;
  bg_mp_out_init(&o, &e->v2);
  bg_mp_put_array(&o, 2);
  bg__put_vv(&o, v);
  bg_mp_put_uint(&o, count);
  if (o.err != BG_OK) return o.err;
  return e->kv.ops->put(e->kv.self, space, key->data, key->len, e->v2.data, e->v2.len);
}

/* --- lifecycle ---------------------------------------------------------------------- */

bg_err bg_engine_init(bg_engine *e, bg_kv kv) {
  memset(e, 0, sizeof *e);
  e->kv = kv;
  /* Large enough that one ordinary write never needs a second chunk. */
  e->zone = msgpack_zone_new(64 * 1024);
  if (e->zone == NULL) return BG_E_NOMEM;
  bg_buf_init(&e->k1, 0);
  bg_buf_init(&e->k2, 0);
  bg_buf_init(&e->v1, 0);
  bg_buf_init(&e->v2, 0);
  bg_buf_init(&e->v3, 0);
  return BG_OK;
}

void bg_engine_free(bg_engine *e) {
  if (e->zone) msgpack_zone_free(e->zone);
  e->zone = NULL;
  bg_buf_free(&e->k1);
  bg_buf_free(&e->k2);
  bg_buf_free(&e->v1);
  bg_buf_free(&e->v2);
  bg_buf_free(&e->v3);
}

/* Every public call starts with a clean scratch zone. */
static void bg__begin(bg_engine *e) { msgpack_zone_clear(e->zone); }

/* --- validation and windows ---------------------------------------------------------- */

bg_err bg_write_check(const bg_write *w, const bg_rtype_def **rtp, const bg_field_def **fp,
                      bg_rid_info *rid) {
  const bg_rtype_def *rt = bg_rtype(w->rtype);
  if (rt == NULL || !bg__id_ok(w->client) || !bg__id_ok(w->rid)) return BG_E_UNKNOWN_RECORD;
  bool org = w->client.len == sizeof BG_ORG_CLIENT - 1 && memcmp(w->client.p, BG_ORG_CLIENT, w->client.len) == 0;
  if (org != rt->org || (!org && w->client.p[0] == '_')) return BG_E_UNKNOWN_RECORD;
  bg_err r = bg_rid_parse(rt, w->rid, rid);
  if (r != BG_OK) return r;
  const bg_field_def *f = bg_field(rt, w->field);
  if (f == NULL) return BG_E_UNKNOWN_FIELD;
  if ((r = bg_value_check(f, &w->value)) != BG_OK) return r;
  /* A write cannot have seen itself or its device's later writes: a context that
   * does would supersede writes nobody had seen. */
  if (bg_vv_get(&w->ctx, w->dot.device) >= w->dot.counter) return BG_E_VALUE;
  /* What the writer saw must itself be a position (or nothing yet). */
  if (w->phase > BG_PHASE_MAX) return BG_E_VALUE;
  bg_pos seen = {w->cycle, w->phase};
  bg_pos tmp;
  if (w->phase != BG_PH_NONE && !bg_pos_decode(bg_pos_encode(seen), &tmp)) return BG_E_VALUE;
  if (w->phase == BG_PH_NONE && w->cycle != 0) return BG_E_VALUE;
  if (w->role < BG_ROLE_BEGELEIDER || w->role > BG_ROLE_ADMIN) return BG_E_VALUE;
  if (bg_group(f->group)->admin_only && w->role != BG_ROLE_ADMIN) return BG_E_FORBIDDEN;
  if (f->type == BG_FT_POS) {
    /* A position must be reachable from what the writer saw (decisions are the
     * writer's to check; they are not part of the write), or be that position:
     * a write that keeps it moves nothing (it resolves a conflict of two
     * moves, and ranks as staying in the phase). */
    if (w->value.type != BG_V_INT) return BG_E_VALUE;
    bg_pos to;
    bg_pos_decode(w->value.i, &to);
    bool stays = seen.phase != BG_PH_NONE && to.cycle == seen.cycle && to.phase == seen.phase;
    if (!stays && (r = bg_phase_check(seen, to, NULL, NULL, 0)) != BG_OK) return r;
  }
  if (f->group == BG_G_SIGN && f->id == 2 && w->value.type == BG_V_NIL) return BG_E_VALUE; /* no un-signing */
  if (rtp) *rtp = rt;
  if (fp) *fp = f;
  return BG_OK;
}

bool bg_write_in_window(const bg_write *w, const bg_field_def *f, const bg_rid_info *rid) {
  const bg_group_def *g = bg_group(f->group);
  if (w->phase > BG_PHASE_MAX || !(g->phases & (1u << w->phase))) return false;
  if (g->same_cycle && (!rid->has_cycle || rid->cycle != w->cycle)) return false;
  return true;
}

/* The signature field of the plan. */
bool bg_engine_is_signature(const bg_write *w) {
  return w->rtype == BG_RT_PLAN && w->field == 2 && w->value.type != BG_V_NIL;
}

/* --- the rules ------------------------------------------------------------------------ */

/* R2 order: trajectbegeleider first, then later HLC, then higher device (then
 * higher counter, which only orders writes no rule compares). */
static int bg__cmp_r2(const bg_write *a, const bg_write *b) {
  if (a->tb != b->tb) return a->tb ? 1 : -1;
  if (a->hlc != b->hlc) return a->hlc > b->hlc ? 1 : -1;
  if (a->dot.device != b->dot.device) return a->dot.device > b->dot.device ? 1 : -1;
  if (a->dot.counter != b->dot.counter) return a->dot.counter > b->dot.counter ? 1 : -1;
  return 0;
}

/* R5 rank, within a cycle by phase p: entering p (4p) < a closing outcome from p
 * (4p + 1: doorverwijzing or afwijzing, decided by someone already in p) <
 * staying in p (4p + 2: wachtlijst). So progress, and staying in care, beat a
 * closing outcome, which beats a concurrent move into the phase it closed from.
 * Closing after uitstroom is the traject's normal end: above everything in 8. */
static int64_t bg__pos_rank(const bg_write *w) {
  bg_pos p;
  if (w->value.type != BG_V_INT || !bg_pos_decode(w->value.i, &p)) return -1;
  if (p.phase == BG_PH_GESLOTEN)
    return (int64_t)w->cycle * 64 + 4 * (int64_t)w->phase + (w->phase == BG_PH_UITSTROOM ? 3 : 1);
  bool staying = p.cycle == w->cycle && p.phase == w->phase;
  return (int64_t)p.cycle * 64 + 4 * (int64_t)p.phase + (staying ? 2 : 0);
}

static int bg__enum_rank(const bg_field_def *f, const bg_write *w) {
  if (w->value.type != BG_V_STR) return -1;
  return bg_enum_rank(f->enm, w->value.s.p, w->value.s.len);
}

/* > 0 when a should be shown rather than b. */
static int bg__prefer(const bg_field_def *f, const bg_write *a, const bg_write *b) {
  switch (f->rule) {
    case BG_RULE_R3: case BG_RULE_R4: {
      int ra = bg__enum_rank(f, a), rb = bg__enum_rank(f, b);
      if (ra != rb) return ra > rb ? 1 : -1;
      return bg__cmp_r2(a, b);
    }
    case BG_RULE_R5: {
      int64_t ra = bg__pos_rank(a), rb = bg__pos_rank(b);
      if (ra != rb) return ra > rb ? 1 : -1;
      return bg__cmp_r2(a, b);
    }
    case BG_RULE_ONCE: { /* the first write stands */
      if (a->hlc != b->hlc) return a->hlc < b->hlc ? 1 : -1;
      if (a->dot.device != b->dot.device) return a->dot.device < b->dot.device ? 1 : -1;
      return a->dot.counter < b->dot.counter ? 1 : (a->dot.counter > b->dot.counter ? -1 : 0);
    }
    default: return bg__cmp_r2(a, b);
  }
}

/* Whether a current write that lost keeps a conflict entry. Equal values lose
 * nothing. Under R3 a lower status is subsumed by progress, except that
 * vervallen meeting afgerond is kept (DOMAIN.md). */
static bool bg__keeps_entry(const bg_field_def *f, const bg_write *winner, const bg_write *loser) {
  /* Positions: two transitions differ when they start or end apart (1->closed
   * and 2->closed end alike but are different decisions). */
  bool same_from = winner->cycle == loser->cycle && winner->phase == loser->phase;
  if (bg_value_eq(&winner->value, &loser->value) && (f->rule != BG_RULE_R5 || same_from)) return false;
  if (f->rule != BG_RULE_R3) return true;
  int rw = bg__enum_rank(f, winner), rl = bg__enum_rank(f, loser);
  int vervallen = bg_enum_rank(f->enm, "vervallen", 9), afgerond = bg_enum_rank(f->enm, "afgerond", 8);
  return (rw == afgerond && rl == vervallen) || (rw == vervallen && rl == afgerond);
}

static bg_err bg__view(bg_engine *e, const bg_field_def *f, bg__fstate *st, bg_field_view *v) {
  memset(v, 0, sizeof *v);
  v->field = f;
  v->rule = f->rule;
  v->n_current = st->n;
  if (st->n == 0) return BG_OK;
  const bg_write **w = msgpack_zone_malloc(Z(e), st->n * sizeof *w);
  v->current = w;
  v->losers = msgpack_zone_malloc(Z(e), st->n * sizeof *v->losers);
  if (w == NULL || v->losers == NULL) return BG_E_NOMEM;
  for (uint32_t i = 0; i < st->n; i++) {
    bg_err r = bg__cur_write(e, &st->cur[i], &w[i]);
    if (r != BG_OK) return r;
  }
  const bg_write *win = w[0];
  for (uint32_t i = 1; i < st->n; i++)
    if (bg__prefer(f, w[i], win) > 0) win = w[i];
  v->winner = win;
  for (uint32_t i = 0; i < st->n; i++)
    if (w[i] != win && bg__keeps_entry(f, win, w[i])) v->losers[v->n_losers++] = w[i];
  return BG_OK;
}

/* --- the incremental path ------------------------------------------------------------------ */

static int bg__cmp_dot(bg_dot a, bg_dot b) {
  if (a.device != b.device) return a.device < b.device ? -1 : 1;
  return a.counter < b.counter ? -1 : (a.counter > b.counter);
}

/* Fold one applied write (its encoding `raw`, which must outlive the state) into
 * a field state: K grows by its context, current writes it covers drop out, and
 * it joins the current writes unless K covers it. A field written once (rule
 * "once") keeps every write current: a later write, even by someone who had seen
 * the first, replaces nothing - the rule shows the first, the rest are entries. */
static bg_err bg__fold(bg_engine *e, bg__fstate *st, const bg_field_def *f, const bg_write *w,
                       const uint8_t *raw, size_t rawlen) {
  bg_err r = f->rule == BG_RULE_ONCE ? BG_OK : bg__vv_join(e, &st->K, &w->ctx);
  if (r != BG_OK) return r;
  uint32_t k = 0;
  for (uint32_t i = 0; i < st->n; i++)
    if (!bg_vv_contains(&st->K, st->cur[i].dot)) st->cur[k++] = st->cur[i];
  st->n = k;
  if (bg_vv_contains(&st->K, w->dot)) return BG_OK;
  if ((r = bg__fstate_reserve(e, st, st->n + 1)) != BG_OK) return r;
  uint32_t at = st->n;
  while (at > 0 && bg__cmp_dot(st->cur[at - 1].dot, w->dot) > 0) {
    st->cur[at] = st->cur[at - 1];
    at--;
  }
  bg__cur *c = &st->cur[at];
  c->decoded = false; /* the write is decoded from raw when needed */
  c->dot = w->dot;
  c->raw = raw;
  c->rawlen = rawlen;
  st->n++;
  return BG_OK;
}

/* The proposal index key of a write: client key, dot, field key (the field key
 * makes it unique even should a device reuse a dot in another field). */
static bg_err bg__proposal_key(bg_buf *k, const bg_write *w, const bg_buf *fk) {
  bg_err r = bg__key_client(k, w->client);
  if (!r) r = bg__put_dot(k, w->dot);
  return r ? r : bg_buf_append(k, fk->data, fk->len);
}

static bg_err bg__proposal_put(bg_engine *e, const bg_write *w, const bg_buf *fk, bg_err reason) {
  bg_err r = bg__proposal_key(&e->k2, w, fk);
  if (r) return r;
  bg_buf_reset(&e->v2);
  bg_mp_out o;
  bg_mp_out_init(&o, &e->v2);
  bg_mp_put_array(&o, 2);
  bg_mp_put_bin(&o, fk->data, (uint32_t)fk->len);
  bg_mp_put_uint(&o, (uint32_t)reason);
  if (o.err) return o.err;
  return e->kv.ops->put(e->kv.self, BG_KV_PROPOSAL, e->k2.data, e->k2.len, e->v2.data, e->v2.len);
}

static bg_err bg__plan_key(bg_buf *k, bg_str client, uint32_t cycle) {
  bg_err r = bg__key_client(k, client);
  return r ? r : bg__put_be(k, cycle, 4);
}

typedef struct bg__logw {
  bg_write w;
  size_t fklen; /* field key = key[0..fklen) */
  const uint8_t *key;
  const uint8_t *raw; /* the write's encoding */
  size_t rawlen;
} bg__logw;

typedef struct bg__collect {
  bg_engine *e;
  bg__logw *v;
  size_t n, cap;
  bg_err err;
} bg__collect;

static bg_err bg__collect_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  bg__collect *c = arg;
  if (klen < 18) return BG_E_CORRUPT;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 32;
    bg__logw *nv = msgpack_zone_malloc(Z(c->e), cap * sizeof *nv);
    if (nv == NULL) return BG_E_NOMEM;
    if (c->n) memcpy(nv, c->v, c->n * sizeof *nv);
    c->v = nv;
    c->cap = cap;
  }
  bg__logw *l = &c->v[c->n];
  uint8_t *k = msgpack_zone_malloc(Z(c->e), klen);
  if (k == NULL) return BG_E_NOMEM;
  memcpy(k, key, klen);
  l->key = k;
  l->fklen = klen - 16;
  uint8_t *raw = msgpack_zone_malloc(Z(c->e), vlen ? vlen : 1);
  if (raw == NULL) return BG_E_NOMEM;
  memcpy(raw, val, vlen);
  l->raw = raw;
  l->rawlen = vlen;
  bg_err r = bg_write_decode(raw, vlen, Z(c->e), &l->w, NULL);
  if (r != BG_OK && r != BG_E_NOMEM) r = BG_E_CORRUPT;
  if (r != BG_OK) return r;
  c->n++;
  return BG_OK;
}

typedef struct bg__plan {
  bg_vv S;    /* coverage: join of the counting signatures' contexts */
  uint64_t n; /* counting signatures */
  bg_vv D;    /* their dots (at most one per device: a device's later signature saw its earlier) */
} bg__plan;

/* Load the plan state under key `k` (empty when absent); vectors borrow the zone. */
static bg_err bg__plan_load(bg_engine *e, const bg_buf *k, bg__plan *p) {
  memset(p, 0, sizeof *p);
  bg_err r = e->kv.ops->get(e->kv.self, BG_KV_PLAN, k->data, k->len, &e->v1);
  if (r == BG_E_NOT_FOUND) return BG_OK;
  if (r != BG_OK) return r;
  bg_mp_in in;
  uint32_t size;
  bg_mp_in_init(&in, e->v1.data, e->v1.len);
  if (!bg_mp_read_array(&in, &size) || size != 3) return BG_E_CORRUPT;
  if ((r = bg__read_vv(e, &in, &p->S)) != BG_OK) return r;
  if (!bg_mp_read_uint(&in, &p->n)) return BG_E_CORRUPT;
  if ((r = bg__read_vv(e, &in, &p->D)) != BG_OK) return r;
  return bg_mp_in_done(&in) ? BG_OK : BG_E_CORRUPT;
}

/* Whether a signature write counts for its plan's coverage. */
static bool bg__plan_counts(const bg__plan *p, bg_dot d) { return bg_vv_get(&p->D, d.device) == d.counter; }

/*
 * Recompute the signature state of the plan of `cycle` from the signatures in the
 * log. A signature counts when its author had seen no other signature of the
 * plan: a plan is signed once per cycle, and concurrent first signatures all
 * count (union). Before any signature is known every in-window plan write is
 * applied, so a first signature's context is exactly the version it signed; a
 * later one (made having seen a signature) could cover writes held back as
 * proposals, and is held as a proposal itself.
 */
static bg_err bg__plan_recompute(bg_engine *e, bg_str client, uint32_t cycle) {
  char rid[16];
  int len = snprintf(rid, sizeof rid, "%u", cycle);
  bg_err r = bg__key_field(&e->k2, client, BG_RT_PLAN, (bg_str){rid, (uint32_t)len}, 2);
  if (r != BG_OK) return r;
  bg__collect c = {e, NULL, 0, 0, BG_OK};
  if ((r = e->kv.ops->scan(e->kv.self, BG_KV_LOG, e->k2.data, e->k2.len, bg__collect_cb, &c)) != BG_OK) return r;
  const bg__logw *v = c.v;
  const bg_field_def *f = bg_field(bg_rtype(BG_RT_PLAN), 2);
  bg_vv S = BG_VV_INIT, D = BG_VV_INIT;
  uint64_t n = 0;
  for (size_t i = 0; i < c.n && r == BG_OK; i++) {
    bg_rid_info ri = {cycle, true};
    if (!bg_engine_is_signature(&v[i].w) || !bg_write_in_window(&v[i].w, f, &ri)) continue;
    bool counts = true;
    for (size_t j = 0; j < c.n && counts; j++)
      if (j != i && bg_engine_is_signature(&v[j].w) && bg_write_in_window(&v[j].w, f, &ri) &&
          bg_vv_contains(&v[i].w.ctx, v[j].w.dot))
        counts = false; /* a signature held as a proposal is not a signature */
    if (!counts) continue;
    n++;
    r = bg_vv_merge(&S, &v[i].w.ctx);
    if (r == BG_OK) r = bg_vv_advance(&D, v[i].w.dot.device, v[i].w.dot.counter);
  }
  if (r == BG_OK) r = bg__plan_key(&e->k2, client, cycle);
  if (r == BG_OK && n == 0) r = e->kv.ops->del(e->kv.self, BG_KV_PLAN, e->k2.data, e->k2.len);
  if (r == BG_OK && n > 0) {
    bg_buf_reset(&e->v2);
    bg_mp_out o;
    bg_mp_out_init(&o, &e->v2);
    bg_mp_put_array(&o, 3);
    bg__put_vv(&o, &S);
    bg_mp_put_uint(&o, n);
    bg__put_vv(&o, &D);
    r = o.err != BG_OK ? o.err : e->kv.ops->put(e->kv.self, BG_KV_PLAN, e->k2.data, e->k2.len, e->v2.data, e->v2.len);
  }
  bg_vv_free(&S);
  bg_vv_free(&D);
  return r;
}

static bg_err bg__rebuild_plan(bg_engine *e, bg_str client, uint32_t cycle);

static bg_err bg__apply_new(bg_engine *e, const bg_write *w, const bg_field_def *f, const bg_rid_info *ridp,
                            bg_buf *fk, size_t fklen, bg_apply_result *res);

bg_err bg_engine_apply(bg_engine *e, const bg_write *w, bg_apply_result *res) {
  bg__begin(e);
  res->outcome = BG_APPLIED;
  res->reason = BG_OK;
  const bg_field_def *f;
  bg_rid_info rid;
  bg_err r = bg_write_check(w, NULL, &f, &rid);
  if (r != BG_OK) return r;

  /* Received before? The log answers, so a resent batch changes nothing. */
  bg_buf *fk = &e->k1;
  if ((r = bg__key_write(fk, w->client, w->rtype, w->rid, &w->field, &w->dot)) != BG_OK) return r;
  size_t fklen = fk->len - 16;
  bg_buf_reset(&e->v3);
  if ((r = bg__write_encode_checked(w, &e->v3)) != BG_OK) return r;
  r = e->kv.ops->add(e->kv.self, BG_KV_LOG, fk->data, fk->len, e->v3.data, e->v3.len);
  if (r == BG_E_EXISTS) {
    /* Received before - unless the device used this dot for something else (a
     * device restored from a backup counts again): that is refused, not merged. */
    if ((r = e->kv.ops->get(e->kv.self, BG_KV_LOG, fk->data, fk->len, &e->v1)) != BG_OK) return r;
    if (e->v1.len != e->v3.len || memcmp(e->v1.data, e->v3.data, e->v3.len) != 0) return BG_E_DOT_REUSED;
    res->outcome = BG_DUPLICATE;
    return BG_OK;
  }
  if (r != BG_OK) return r;
  r = bg__apply_new(e, w, f, &rid, fk, fklen, res);
  if (r != BG_OK) {
    /* Stores without transactions (memory) must not keep a logged write whose
     * state change failed: its retry would be taken for a duplicate. */
    fk->len = fklen;
    (void)bg__put_dot(fk, w->dot);
    (void)e->kv.ops->del(e->kv.self, BG_KV_LOG, fk->data, fk->len);
  }
  return r;
}

/* The rest of bg_engine_apply, for a write not received before: classify it and
 * fold it in. `fk` holds the field key followed by the dot; e->v3 its encoding. */
static bg_err bg__apply_new(bg_engine *e, const bg_write *w, const bg_field_def *f, const bg_rid_info *ridp,
                            bg_buf *fk, size_t fklen, bg_apply_result *res) {
  bg_rid_info rid = *ridp;
  bg_err r;
  fk->len = fklen;
  /* The encoding is needed again for the field state; keep it in the zone. */
  uint8_t *raw = msgpack_zone_malloc(Z(e), e->v3.len);
  if (raw == NULL) return BG_E_NOMEM;
  memcpy(raw, e->v3.data, e->v3.len);
  size_t rawlen = e->v3.len;

  /* Outside its window: a wijzigingsvoorstel, judged by what the writer saw. */
  if (!bg_write_in_window(w, f, &rid)) {
    res->outcome = BG_PROPOSAL;
    res->reason = BG_E_WINDOW;
    return bg__proposal_put(e, w, fk, BG_E_WINDOW);
  }
  /* A signature changes the plan's coverage: recompute it and reclassify the
   * plan's writes, this signature's among them. */
  if (bg_engine_is_signature(w)) {
    r = bg__plan_recompute(e, w->client, rid.cycle);
    if (r == BG_OK) r = bg__rebuild_plan(e, w->client, rid.cycle);
    if (r == BG_OK) {
      bg__plan p;
      if ((r = bg__plan_key(&e->k2, w->client, rid.cycle)) == BG_OK && (r = bg__plan_load(e, &e->k2, &p)) == BG_OK &&
          !bg__plan_counts(&p, w->dot)) {
        res->outcome = BG_PROPOSAL;
        res->reason = BG_E_PLAN_SIGNED;
      }
    }
    return r;
  }
  /* R1: a plan write the signature(s) did not cover is a wijzigingsvoorstel. */
  if (f->group == BG_G_PLAN) {
    bg__plan p;
    if ((r = bg__plan_key(&e->k2, w->client, rid.cycle)) != BG_OK) return r;
    if ((r = bg__plan_load(e, &e->k2, &p)) != BG_OK) return r;
    if (p.n > 0 && !bg_vv_contains(&p.S, w->dot)) {
      res->outcome = BG_PROPOSAL;
      res->reason = BG_E_PLAN_SIGNED;
      return bg__proposal_put(e, w, fk, BG_E_PLAN_SIGNED);
    }
  }

  bg__fstate st;
  if ((r = bg__field_load(e, fk, &st)) != BG_OK) return r;
  r = bg__fold(e, &st, f, w, raw, rawlen);
  if (r == BG_OK) r = bg__field_save(e, fk, &st);
  if (r != BG_OK) return r;

  bg_dot d = w->dot;
  bg_vv rvv, dot = {&d, 1, 0};
  fk->len = bg__fk_record_len(fklen);
  if ((r = bg__vv_load(e, BG_KV_RECORD, fk, &rvv, NULL)) != BG_OK) return r;
  if ((r = bg__vv_join(e, &rvv, &dot)) != BG_OK) return r;
  return bg__vv_save(e, BG_KV_RECORD, fk, &rvv, 0);
}

/* --- the rebuild path ------------------------------------------------------------------- */

/* Recompute one record from its log: classification of every write (window, R1),
 * every field's state, the record's vector and the proposal index. */
static bg_err bg__rebuild_record(bg_engine *e, const uint8_t *rk, size_t rklen) {
  bg__collect c = {e, NULL, 0, 0, BG_OK};
  bg_err r = e->kv.ops->scan(e->kv.self, BG_KV_LOG, rk, rklen, bg__collect_cb, &c);
  if (r != BG_OK) return r;
  bg_vv rvv = BG_VV_INIT;
  bg__plan plan;
  memset(&plan, 0, sizeof plan);
  bool plan_loaded = false;
  bg__fstate st;
  memset(&st, 0, sizeof st);
  bg_buf fk = BG_BUF_INIT;
  for (size_t i = 0; i < c.n && r == BG_OK; i++) {
    const bg__logw *l = &c.v[i];
    const bg_field_def *f;
    bg_rid_info rid;
    if (bg_write_check(&l->w, NULL, &f, &rid) != BG_OK) {
      r = BG_E_CORRUPT;
      break;
    }
    bg_err reason = BG_OK;
    if (!bg_write_in_window(&l->w, f, &rid)) {
      reason = BG_E_WINDOW;
    } else if (f->group == BG_G_PLAN || bg_engine_is_signature(&l->w)) {
      if (!plan_loaded) { /* one record belongs to one plan */
        r = bg__plan_key(&e->k2, l->w.client, rid.cycle);
        if (r == BG_OK) r = bg__plan_load(e, &e->k2, &plan);
        plan_loaded = true;
      }
      if (bg_engine_is_signature(&l->w)) {
        if (!bg__plan_counts(&plan, l->w.dot)) reason = BG_E_PLAN_SIGNED;
      } else if (plan.n > 0 && !bg_vv_contains(&plan.S, l->w.dot)) {
        reason = BG_E_PLAN_SIGNED;
      }
    }
    if (r != BG_OK) break;
    bg_buf_reset(&fk);
    if ((r = bg_buf_append(&fk, l->key, l->fklen)) != BG_OK) break;
    if (reason != BG_OK) {
      r = bg__proposal_put(e, &l->w, &fk, reason);
    } else {
      if ((r = bg__proposal_key(&e->k2, &l->w, &fk)) == BG_OK)
        r = e->kv.ops->del(e->kv.self, BG_KV_PROPOSAL, e->k2.data, e->k2.len);
      if (r == BG_OK) r = bg__fold(e, &st, f, &l->w, l->raw, l->rawlen);
      if (r == BG_OK) r = bg_vv_advance(&rvv, l->w.dot.device, l->w.dot.counter);
    }
    /* The log is sorted by field key: save a field when the next entry leaves it. */
    bool last = i + 1 == c.n || c.v[i + 1].fklen != l->fklen || memcmp(c.v[i + 1].key, l->key, l->fklen) != 0;
    if (r == BG_OK && last) {
      r = bg__field_save(e, &fk, &st);
      memset(&st, 0, sizeof st); /* K and the current writes are zone memory */
    }
  }
  if (r == BG_OK) {
    bg_buf rkb = {(uint8_t *)(uintptr_t)rk, rklen, rklen, 0};
    r = rvv.n ? bg__vv_save(e, BG_KV_RECORD, &rkb, &rvv, 0)
              : e->kv.ops->del(e->kv.self, BG_KV_RECORD, rk, rklen);
  }
  bg_vv_free(&rvv);
  bg_buf_free(&fk);
  return r;
}

/* The distinct record keys under a prefix of the log. */
typedef struct bg__reckeys {
  bg_engine *e;
  const uint8_t **k;
  size_t *len;
  size_t n, cap;
  uint32_t cycle; /* keep only records of this cycle (0: all) */
  uint32_t rtype;
} bg__reckeys;

static bg_err bg__reckeys_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  (void)val;
  (void)vlen;
  bg__reckeys *c = arg;
  if (klen < 18) return BG_E_CORRUPT;
  size_t rklen = klen - 18; /* minus field (2) and dot (16) */
  if (c->n > 0 && c->len[c->n - 1] == rklen && memcmp(c->k[c->n - 1], key, rklen) == 0) return BG_OK;
  if (c->cycle != 0) {
    uint32_t cycle;
    bg_err r = bg__rk_cycle(key, rklen, c->rtype, &cycle);
    if (r != BG_OK) return r;
    if (cycle != c->cycle) return BG_OK;
  }
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    const uint8_t **nk = msgpack_zone_malloc(Z(c->e), cap * sizeof *nk);
    size_t *nl = msgpack_zone_malloc(Z(c->e), cap * sizeof *nl);
    if (nk == NULL || nl == NULL) return BG_E_NOMEM;
    if (c->n) {
      memcpy(nk, c->k, c->n * sizeof *nk);
      memcpy(nl, c->len, c->n * sizeof *nl);
    }
    c->k = nk;
    c->len = nl;
    c->cap = cap;
  }
  uint8_t *copy = msgpack_zone_malloc(Z(c->e), rklen);
  if (copy == NULL) return BG_E_NOMEM;
  memcpy(copy, key, rklen);
  c->k[c->n] = copy;
  c->len[c->n++] = rklen;
  return BG_OK;
}

static bg_err bg__fk_parse(const uint8_t *k, size_t n, const bg_rtype_def **rt, const bg_field_def **f);

/* Collects the signature writes in the log (for bg_engine_rebuild). */
static bg_err bg__sigs_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  bg__collect *c = arg;
  const bg_rtype_def *rt;
  const bg_field_def *f;
  if (klen < 18) return BG_E_CORRUPT;
  bg_err r = bg__fk_parse(key, klen - 16, &rt, &f);
  if (r != BG_OK) return r;
  if (rt->id != BG_RT_PLAN || f->group != BG_G_SIGN || f->id != 2) return BG_OK;
  return bg__collect_cb(c, key, klen, val, vlen);
}

bg_err bg_engine_rebuild(bg_engine *e, bg_str client) {
  bg__begin(e);
  bg_buf prefix = BG_BUF_INIT;
  bg_err r = client.len ? bg__key_client(&prefix, client) : BG_OK;
  /* First the plans' signature states, from the signatures in the log. */
  bg__collect sigs = {e, NULL, 0, 0, BG_OK};
  if (r == BG_OK) r = e->kv.ops->scan(e->kv.self, BG_KV_LOG, prefix.data, prefix.len, bg__sigs_cb, &sigs);
  for (int pass = 0; pass < 2 && r == BG_OK; pass++) {
    for (size_t i = 0; i < sigs.n && r == BG_OK; i++) {
      const bg_write *w = &sigs.v[i].w;
      const bg_field_def *f;
      bg_rid_info rid;
      if (bg_write_check(w, NULL, &f, &rid) != BG_OK) {
        r = BG_E_CORRUPT;
        break;
      }
      if (pass == 0) { /* forget what was there */
        if ((r = bg__plan_key(&e->k2, w->client, rid.cycle)) == BG_OK)
          r = e->kv.ops->del(e->kv.self, BG_KV_PLAN, e->k2.data, e->k2.len);
      } else {
        r = bg__plan_recompute(e, w->client, rid.cycle);
      }
    }
  }
  /* Then every record. */
  bg__reckeys c = {e, NULL, NULL, 0, 0, 0, 0};
  if (r == BG_OK) r = e->kv.ops->scan(e->kv.self, BG_KV_LOG, prefix.data, prefix.len, bg__reckeys_cb, &c);
  bg_buf_free(&prefix);
  for (size_t i = 0; i < c.n && r == BG_OK; i++) r = bg__rebuild_record(e, c.k[i], c.len[i]);
  return r;
}

void bg_entry_id(const bg_entry *entry, char out[BG_ENTRY_ID_MAX]) {
  snprintf(out, BG_ENTRY_ID_MAX, "%c%" PRIu64 ".%" PRIu64, entry->proposal ? 'p' : 'c', entry->write->dot.device,
           entry->write->dot.counter);
}

bg_err bg_engine_proposal_decided(bg_engine *e, bg_str client, bg_dot dot, bool *decided) {
  char rid[BG_ENTRY_ID_MAX];
  snprintf(rid, sizeof rid, "%" PRIu64 ".%" PRIu64, dot.device, dot.counter);
  bg_field_view fv;
  bg_err r = bg_engine_field(e, client, BG_RT_VOORSTEL, bg_str_c(rid), 1, &fv);
  *decided = r == BG_OK && fv.winner && fv.winner->value.type == BG_V_STR &&
             !bg_str_eq(fv.winner->value.s, BG_STR("open"));
  return r;
}

bg_err bg_engine_forget(bg_engine *e, const bg_write *w) {
  const bg_field_def *f;
  bg_rid_info rid;
  bg_err r = bg_write_check(w, NULL, &f, &rid);
  if (r != BG_OK) return r;
  bg__begin(e);
  /* the write's log entry, its proposal index entry, and the states it shaped
   * (the rebuild makes them again from what is left in the log) */
  if ((r = bg__key_write(&e->k1, w->client, w->rtype, w->rid, &w->field, &w->dot)) != BG_OK) return r;
  if ((r = e->kv.ops->get(e->kv.self, BG_KV_LOG, e->k1.data, e->k1.len, &e->v1)) != BG_OK) return r;
  r = e->kv.ops->del(e->kv.self, BG_KV_LOG, e->k1.data, e->k1.len);
  if (r == BG_OK) r = bg__key_field(&e->k1, w->client, w->rtype, w->rid, w->field);
  if (r == BG_OK) r = bg__proposal_key(&e->k2, w, &e->k1);
  if (r == BG_OK) r = e->kv.ops->del(e->kv.self, BG_KV_PROPOSAL, e->k2.data, e->k2.len);
  if (r == BG_OK) r = e->kv.ops->del(e->kv.self, BG_KV_FIELD, e->k1.data, e->k1.len);
  if (r == BG_OK) r = bg__key_record(&e->k1, w->client, w->rtype, w->rid);
  if (r == BG_OK) r = e->kv.ops->del(e->kv.self, BG_KV_RECORD, e->k1.data, e->k1.len);
  if (r == BG_OK && bg_engine_is_signature(w) && rid.has_cycle && (r = bg__plan_key(&e->k2, w->client, rid.cycle)) == BG_OK)
    r = e->kv.ops->del(e->kv.self, BG_KV_PLAN, e->k2.data, e->k2.len);
  return r == BG_OK ? bg_engine_rebuild(e, w->client) : r;
}

static const uint32_t bg__plan_rtypes[] = {BG_RT_PLAN, BG_RT_DOEL, BG_RT_ACTIE};

static bg_err bg__rebuild_plan(bg_engine *e, bg_str client, uint32_t cycle) {
  for (size_t t = 0; t < sizeof bg__plan_rtypes / sizeof *bg__plan_rtypes; t++) {
    bg__reckeys c = {e, NULL, NULL, 0, 0, cycle, bg__plan_rtypes[t]};
    bg_err r = bg__key_client(&e->k2, client);
    if (!r) r = bg__put_be(&e->k2, bg__plan_rtypes[t], 2);
    if (!r) r = e->kv.ops->scan(e->kv.self, BG_KV_LOG, e->k2.data, e->k2.len, bg__reckeys_cb, &c);
    for (size_t i = 0; i < c.n && r == BG_OK; i++) r = bg__rebuild_record(e, c.k[i], c.len[i]);
    if (r != BG_OK) return r;
  }
  return BG_OK;
}

/* --- reading -------------------------------------------------------------------------- */

bg_err bg_engine_field(bg_engine *e, bg_str client, uint32_t rtype, bg_str rid, uint32_t field,
                       bg_field_view *out) {
  bg__begin(e);
  const bg_rtype_def *rt = bg_rtype(rtype);
  const bg_field_def *f = rt ? bg_field(rt, field) : NULL;
  if (f == NULL) return rt ? BG_E_UNKNOWN_FIELD : BG_E_UNKNOWN_RECORD;
  bg_err r = bg__key_field(&e->k1, client, rtype, rid, field);
  bg__fstate st;
  if (r == BG_OK) r = bg__field_load(e, &e->k1, &st);
  return r == BG_OK ? bg__view(e, f, &st, out) : r;
}

/* Whether the removals - every current verwijderd=true write of the record,
 * together - had seen every applied write on it: a write is covered when it is
 * one of the removals, lies in one's context, or is an earlier write of a
 * removal's own device. */
static bool bg__removals_cover(const bg_write *const *dels, size_t n, const bg_vv *rvv) {
  for (uint32_t i = 0; i < rvv->n; i++) {
    bg_dot d = {rvv->e[i].device, rvv->e[i].counter};
    bool seen = false;
    for (size_t k = 0; k < n && !seen; k++)
      seen = (d.device == dels[k]->dot.device && d.counter <= dels[k]->dot.counter) || bg_vv_contains(&dels[k]->ctx, d);
    if (!seen) return false;
  }
  return true;
}

/* Deletion state of the record whose key is in `rk`, given its verwijderd view:
 * removed when the visible value is true and the removals had seen everything. */
static bg_err bg__deleted(bg_engine *e, const bg_buf *rk, const bg_field_view *v, bool *deleted,
                          bool *edit_won) {
  *deleted = *edit_won = false;
  if (v->winner == NULL || v->winner->value.type != BG_V_BOOL || !v->winner->value.b) return BG_OK;
  const bg_write **dels = msgpack_zone_malloc(Z(e), v->n_current * sizeof *dels);
  if (dels == NULL) return BG_E_NOMEM;
  size_t n = 0;
  for (uint32_t i = 0; i < v->n_current; i++)
    if (v->current[i]->value.type == BG_V_BOOL && v->current[i]->value.b) dels[n++] = v->current[i];
  bg_vv rvv;
  bg_err r = bg__vv_load(e, BG_KV_RECORD, rk, &rvv, NULL);
  if (r != BG_OK) return r;
  *deleted = bg__removals_cover(dels, n, &rvv);
  *edit_won = !*deleted;
  return BG_OK;
}

static const bg_field_def *bg__deleted_field(const bg_rtype_def *rt) {
  return bg_field_by_name(rt, BG_FIELD_DELETED_NAME, sizeof BG_FIELD_DELETED_NAME - 1);
}

bg_err bg_engine_deleted(bg_engine *e, bg_str client, uint32_t rtype, bg_str rid, bool *deleted,
                         bool *edit_won) {
  *deleted = *edit_won = false;
  const bg_rtype_def *rt = bg_rtype(rtype);
  if (rt == NULL) return BG_E_UNKNOWN_RECORD;
  const bg_field_def *f = bg__deleted_field(rt);
  if (f == NULL) return BG_OK;
  bg_field_view v;
  bg_err r = bg_engine_field(e, client, rtype, rid, f->id, &v);
  if (r == BG_OK) r = bg__key_record(&e->k2, client, rtype, rid);
  return r == BG_OK ? bg__deleted(e, &e->k2, &v, deleted, edit_won) : r;
}

bg_err bg_engine_record_context(bg_engine *e, bg_str client, uint32_t rtype, bg_str rid, bg_vv *out) {
  bg__begin(e);
  bg_vv v;
  bg_err r = bg__key_record(&e->k1, client, rtype, rid);
  if (r == BG_OK) r = bg__vv_load(e, BG_KV_RECORD, &e->k1, &v, NULL);
  return r == BG_OK ? bg_vv_copy(out, &v) : r;
}

typedef struct bg__planctx {
  bg_engine *e;
  uint32_t cycle, rtype;
  bg_vv *out;
} bg__planctx;

static bg_err bg__planctx_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  bg__planctx *c = arg;
  uint32_t cycle;
  bg_err r = bg__rk_cycle(key, klen, c->rtype, &cycle);
  if (r != BG_OK || cycle != c->cycle) return r;
  bg_vv vv;
  r = bg__vv_parse(c->e, val, vlen, &vv, NULL);
  return r == BG_OK ? bg_vv_merge(c->out, &vv) : r;
}

bg_err bg_engine_plan_context(bg_engine *e, bg_str client, uint32_t cycle, bg_vv *out) {
  bg__begin(e);
  bg_vv_free(out);
  for (size_t t = 0; t < sizeof bg__plan_rtypes / sizeof *bg__plan_rtypes; t++) {
    bg__planctx c = {e, cycle, bg__plan_rtypes[t], out};
    bg_err r = bg__key_client(&e->k1, client);
    if (!r) r = bg__put_be(&e->k1, bg__plan_rtypes[t], 2);
    if (!r) r = e->kv.ops->scan(e->kv.self, BG_KV_RECORD, e->k1.data, e->k1.len, bg__planctx_cb, &c);
    if (r != BG_OK) return r;
  }
  return BG_OK;
}

bg_err bg_engine_context_for(bg_engine *e, bg_write *w) {
  bg_vv_init(&w->ctx);
  bg_pos p;
  bg_err r = bg_engine_position(e, w->client, &p);
  if (r != BG_OK) return r;
  w->cycle = p.cycle;
  w->phase = (uint8_t)p.phase;
  if (!bg_engine_is_signature(w)) return bg_engine_record_context(e, w->client, w->rtype, w->rid, &w->ctx);
  bg_rid_info rid;
  if ((r = bg_rid_parse(bg_rtype(w->rtype), w->rid, &rid)) != BG_OK) return r;
  return bg_engine_plan_context(e, w->client, rid.cycle, &w->ctx);
}

bg_err bg_engine_plan_signed(bg_engine *e, bg_str client, uint32_t cycle, bool *is_signed) {
  bg__begin(e);
  bg__plan p;
  bg_err r = bg__plan_key(&e->k1, client, cycle);
  if (r == BG_OK) r = bg__plan_load(e, &e->k1, &p);
  *is_signed = r == BG_OK && p.n > 0;
  return r;
}

bg_err bg_engine_position(bg_engine *e, bg_str client, bg_pos *out) {
  bg_field_view v;
  *out = (bg_pos){0, BG_PH_NONE};
  bg_err r = bg_engine_field(e, client, BG_RT_TRAJECT, BG_STR("t"), 1, &v);
  if (r == BG_OK && v.winner != NULL && v.winner->value.type == BG_V_INT) bg_pos_decode(v.winner->value.i, out);
  return r;
}

/* --- walking every field: entries and digest ------------------------------------------- */

typedef struct bg__walk {
  bg_engine *e;
  bg_err (*field)(struct bg__walk *w, const bg_buf *fk, const bg_field_view *v, bool deleted, bool edit_won);
  bg_err (*proposal)(struct bg__walk *w, const uint8_t *pk, size_t pklen, const bg_buf *fk, bg_err reason,
                     const bg_write *write);
  void *arg;
} bg__walk;

/* Split a field key into its parts. */
static bg_err bg__fk_parse(const uint8_t *k, size_t n, const bg_rtype_def **rt, const bg_field_def **f) {
  const uint8_t *nul = memchr(k, 0, n);
  if (nul == NULL || (size_t)(nul - k) + 6 > n || k[n - 3] != 0) return BG_E_CORRUPT;
  *rt = bg_rtype((uint32_t)bg__get_be(nul + 1, 2));
  *f = *rt ? bg_field(*rt, (uint32_t)bg__get_be(k + n - 2, 2)) : NULL;
  return *f ? BG_OK : BG_E_CORRUPT;
}

static bg_err bg__walk_field_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  bg__walk *w = arg;
  bg_engine *e = w->e;
  const bg_rtype_def *rt;
  const bg_field_def *f;
  bg_err r = bg__fk_parse(key, klen, &rt, &f);
  if (r != BG_OK) return r;
  bg_buf fk = {(uint8_t *)(uintptr_t)key, klen, klen, 0};
  bg_buf v = {(uint8_t *)(uintptr_t)val, vlen, vlen, 0};
  bg__fstate st;
  if ((r = bg__fstate_parse(e, &v, &st)) != BG_OK) return r;
  bg_field_view view;
  if ((r = bg__view(e, f, &st, &view)) != BG_OK) return r;
  bool deleted = false, edit_won = false;
  if (strcmp(f->name, BG_FIELD_DELETED_NAME) == 0) {
    bg_buf rk = {(uint8_t *)(uintptr_t)key, klen - 2, klen - 2, 0};
    if ((r = bg__deleted(e, &rk, &view, &deleted, &edit_won)) != BG_OK) return r;
  }
  return w->field(w, &fk, &view, deleted, edit_won);
}

static bg_err bg__walk_proposal_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  bg__walk *w = arg;
  bg_engine *e = w->e;
  /* value = [field key, reason]; the field key is copied: it outlives the scan's value */
  bg_mp_in in;
  uint32_t size, fklen;
  const uint8_t *fkp;
  uint64_t reason;
  bg_mp_in_init(&in, val, vlen);
  if (!bg_mp_read_array(&in, &size) || size != 2 || !bg_mp_read_bin(&in, &fkp, &fklen) ||
      !bg_mp_read_uint(&in, &reason) || !bg_mp_in_done(&in) || klen < 16)
    return BG_E_CORRUPT;
  uint8_t *fkcopy = msgpack_zone_malloc(Z(e), fklen ? fklen : 1);
  if (fkcopy == NULL) return BG_E_NOMEM;
  memcpy(fkcopy, fkp, fklen);
  bg_buf fk = {fkcopy, fklen, fklen, 0};
  bg_err r;
  /* The write itself, from the log: field key + dot. */
  /* key = client key, dot (16), field key */
  if (klen < fk.len + 16) return BG_E_CORRUPT;
  bg_buf lk = BG_BUF_INIT;
  bg_buf lv = BG_BUF_INIT;
  r = bg_buf_append(&lk, fk.data, fk.len);
  if (r == BG_OK) r = bg_buf_append(&lk, key + klen - fk.len - 16, 16);
  if (r == BG_OK) r = e->kv.ops->get(e->kv.self, BG_KV_LOG, lk.data, lk.len, &lv);
  bg_write write;
  if (r == BG_OK) r = bg__decode_write(e, lv.data, lv.len, &write);
  bg_buf_free(&lk);
  bg_buf_free(&lv);
  if (r == BG_E_NOT_FOUND) r = BG_E_CORRUPT;
  return r == BG_OK ? w->proposal(w, key, klen, &fk, (bg_err)reason, &write) : r;
}

static bg_err bg__walk_all(bg_engine *e, bg_str client, bg__walk *w) {
  bg__begin(e);
  bg_buf prefix = BG_BUF_INIT;
  bg_err r = client.len ? bg__key_client(&prefix, client) : BG_OK;
  if (r == BG_OK)
    r = e->kv.ops->scan(e->kv.self, BG_KV_FIELD, prefix.data, prefix.len, bg__walk_field_cb, w);
  if (r == BG_OK)
    r = e->kv.ops->scan(e->kv.self, BG_KV_PROPOSAL, prefix.data, prefix.len, bg__walk_proposal_cb, w);
  bg_buf_free(&prefix);
  return r;
}

typedef struct bg__entries {
  bg_entry_cb cb;
  void *arg;
} bg__entries;

static bg_err bg__entries_field(bg__walk *w, const bg_buf *fk, const bg_field_view *v, bool deleted,
                                bool edit_won) {
  (void)fk;
  (void)deleted;
  bg__entries *x = w->arg;
  for (uint32_t i = 0; i < v->n_losers; i++) {
    bg_entry en = {false, BG_OK, BG_CONFLICT_VALUE, v->rule, v->losers[i], v->winner, false, NULL};
    bg_err r = x->cb(x->arg, &en);
    if (r != BG_OK) return r;
  }
  if (edit_won) {
    bg_entry en = {false, BG_OK, BG_CONFLICT_EDIT_WINS, v->rule, v->winner, NULL, false, NULL};
    return x->cb(x->arg, &en);
  }
  return BG_OK;
}

static bg_err bg__entries_proposal(bg__walk *w, const uint8_t *pk, size_t pklen, const bg_buf *fk,
                                   bg_err reason, const bg_write *write) {
  (void)pk;
  (void)pklen;
  (void)fk;
  bg__entries *x = w->arg;
  bg_entry en = {true, reason, 0, 0, write, NULL, false, NULL};
  return x->cb(x->arg, &en);
}

bg_err bg_engine_entries(bg_engine *e, bg_str client, bg_entry_cb cb, void *arg) {
  bg__entries x = {cb, arg};
  bg__walk w = {e, bg__entries_field, bg__entries_proposal, &x};
  return bg__walk_all(e, client, &w);
}

/* Resolved conflicts: per field with superseded writes, the concurrent pairs of
 * its applied writes that one later write covers. */
typedef struct bg__resolved {
  bg_engine *e;
  bg_entry_cb cb;
  void *arg;
} bg__resolved;

static bg_err bg__resolved_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  bg__resolved *x = arg;
  bg_engine *e = x->e;
  const bg_rtype_def *rt;
  const bg_field_def *f;
  bg_err r = bg__fk_parse(key, klen, &rt, &f);
  if (r != BG_OK) return r;
  bg_buf v = {(uint8_t *)(uintptr_t)val, vlen, vlen, 0};
  bg__fstate st;
  if ((r = bg__fstate_parse(e, &v, &st)) != BG_OK) return r;
  if (st.K.n == 0 || f->rule == BG_RULE_ONCE) return BG_OK; /* nothing was ever replaced */
  /* The field's history: its applied writes (the log minus its proposals). */
  bg__collect c = {e, NULL, 0, 0, BG_OK};
  if ((r = e->kv.ops->scan(e->kv.self, BG_KV_LOG, key, klen, bg__collect_cb, &c)) != BG_OK) return r;
  bg_buf fk = {(uint8_t *)(uintptr_t)key, klen, klen, 0};
  bool *applied = msgpack_zone_malloc(Z(e), (c.n ? c.n : 1) * sizeof *applied);
  if (applied == NULL) return BG_E_NOMEM;
  for (size_t i = 0; i < c.n; i++) {
    bg_buf pk = BG_BUF_INIT;
    r = bg__proposal_key(&pk, &c.v[i].w, &fk);
    if (r == BG_OK) r = e->kv.ops->get(e->kv.self, BG_KV_PROPOSAL, pk.data, pk.len, &e->v1);
    bg_buf_free(&pk);
    if (r != BG_OK && r != BG_E_NOT_FOUND) return r;
    applied[i] = r == BG_E_NOT_FOUND;
  }
  for (size_t i = 0; i < c.n; i++) {
    for (size_t j = i + 1; j < c.n; j++) {
      const bg_write *a = &c.v[i].w, *b = &c.v[j].w;
      if (!applied[i] || !applied[j] || bg_vv_contains(&a->ctx, b->dot) || bg_vv_contains(&b->ctx, a->dot)) continue;
      const bg_write *win = bg__prefer(f, a, b) > 0 ? a : b, *lose = win == a ? b : a;
      if (!bg__keeps_entry(f, win, lose)) continue;
      const bg_write *res = NULL;
      for (size_t k = 0; k < c.n; k++) {
        const bg_write *o = &c.v[k].w;
        if (!applied[k] || !bg_vv_contains(&o->ctx, a->dot) || !bg_vv_contains(&o->ctx, b->dot)) continue;
        if (res == NULL || o->hlc < res->hlc ||
            (o->hlc == res->hlc && bg__cmp_dot(o->dot, res->dot) < 0))
          res = o;
      }
      if (res == NULL) continue;
      bg_entry en = {false, BG_OK, BG_CONFLICT_VALUE, f->rule, lose, win, true, res};
      if ((r = x->cb(x->arg, &en)) != BG_OK) return r;
    }
  }
  return BG_OK;
}

bg_err bg_engine_resolved(bg_engine *e, bg_str client, bg_entry_cb cb, void *arg) {
  bg__begin(e);
  bg_buf prefix = BG_BUF_INIT;
  bg_err r = client.len ? bg__key_client(&prefix, client) : BG_OK;
  bg__resolved x = {e, cb, arg};
  if (r == BG_OK) r = e->kv.ops->scan(e->kv.self, BG_KV_FIELD, prefix.data, prefix.len, bg__resolved_cb, &x);
  bg_buf_free(&prefix);
  return r;
}

/* The digest: SHA-256 over one MessagePack stream, in key order, of
 *   per field:    [field key, winner, [losers...], deleted, edit_won]
 *   per proposal: [proposal key, field key, reason, write]
 * where a write is its canonical wire encoding (bin). */
typedef struct bg__digest {
  mbedtls_sha256_context sha;
  bg_buf out; /* one entry's encoding, hashed when complete */
  bg_mp_out o;
  bg_buf tmp;
} bg__digest;

/* Hash the entry written to d->out, and start the next. */
static bg_err bg__digest_flush(bg__digest *d) {
  bg_err r = d->o.err;
  if (r == BG_OK && mbedtls_sha256_update_ret(&d->sha, d->out.data, d->out.len) != 0) r = BG_E_INTERNAL;
  bg_buf_reset(&d->out);
  bg_mp_out_init(&d->o, &d->out);
  return r;
}

static bg_err bg__digest_write_bin(bg__digest *d, const bg_write *w) {
  if (w == NULL) {
    bg_mp_put_nil(&d->o);
    return BG_OK;
  }
  bg_buf_reset(&d->tmp);
  bg_err r = bg_write_encode(w, &d->tmp);
  if (r == BG_OK) bg_mp_put_bin(&d->o, d->tmp.data, (uint32_t)d->tmp.len);
  return r;
}

static bg_err bg__digest_field(bg__walk *w, const bg_buf *fk, const bg_field_view *v, bool deleted,
                               bool edit_won) {
  bg__digest *d = w->arg;
  bg_mp_put_array(&d->o, 5);
  bg_mp_put_bin(&d->o, fk->data, (uint32_t)fk->len);
  bg_err r = bg__digest_write_bin(d, v->winner);
  bg_mp_put_array(&d->o, v->n_losers);
  for (uint32_t i = 0; i < v->n_losers && r == BG_OK; i++) r = bg__digest_write_bin(d, v->losers[i]);
  bg_mp_put_bool(&d->o, deleted);
  bg_mp_put_bool(&d->o, edit_won);
  return r != BG_OK ? r : bg__digest_flush(d);
}

static bg_err bg__digest_proposal(bg__walk *w, const uint8_t *pk, size_t pklen, const bg_buf *fk, bg_err reason,
                                  const bg_write *write) {
  bg__digest *d = w->arg;
  bg_mp_put_array(&d->o, 4);
  bg_mp_put_bin(&d->o, pk, (uint32_t)pklen);
  bg_mp_put_bin(&d->o, fk->data, (uint32_t)fk->len);
  bg_mp_put_uint(&d->o, (uint32_t)reason);
  bg_err r = bg__digest_write_bin(d, write);
  return r != BG_OK ? r : bg__digest_flush(d);
}

bg_err bg_engine_digest(bg_engine *e, bg_str client, uint8_t out[32]) {
  bg__digest d;
  bg_buf_init(&d.tmp, 0);
  bg_buf_init(&d.out, 0);
  bg_mp_out_init(&d.o, &d.out);
  mbedtls_sha256_init(&d.sha);
  bg_err r = mbedtls_sha256_starts_ret(&d.sha, 0) == 0 ? BG_OK : BG_E_INTERNAL;
  bg__walk w = {e, bg__digest_field, bg__digest_proposal, &d};
  if (r == BG_OK) r = bg__walk_all(e, client, &w);
  if (r == BG_OK && mbedtls_sha256_finish_ret(&d.sha, out) != 0) r = BG_E_INTERNAL;
  mbedtls_sha256_free(&d.sha);
  bg_buf_free(&d.tmp);
  bg_buf_free(&d.out);
  return r;
}

/* --- fate ------------------------------------------------------------------------------- */

const char *bg_fate_name(int fate) {
  static const char *const n[] = {"missing", "visible", "superseded", "conflict", "subsumed", "equal", "proposal"};
  return fate >= 0 && fate <= BG_FATE_PROPOSAL ? n[fate] : "?";
}

bg_err bg_engine_fate(bg_engine *e, const bg_write *w, bg_fate *fate) {
  bg__begin(e);
  *fate = BG_FATE_MISSING;
  const bg_field_def *f;
  bg_rid_info rid;
  bg_err r = bg_write_check(w, NULL, &f, &rid);
  if (r != BG_OK) return r;
  r = bg__key_field(&e->k1, w->client, w->rtype, w->rid, w->field);
  size_t fklen = e->k1.len;
  if (r == BG_OK) r = bg__put_dot(&e->k1, w->dot);
  if (r == BG_OK) r = e->kv.ops->get(e->kv.self, BG_KV_LOG, e->k1.data, e->k1.len, &e->v1);
  if (r == BG_E_NOT_FOUND) return BG_OK;
  if (r != BG_OK) return r;
  e->k1.len = fklen;
  r = bg__proposal_key(&e->k2, w, &e->k1);
  if (r == BG_OK) r = e->kv.ops->get(e->kv.self, BG_KV_PROPOSAL, e->k2.data, e->k2.len, &e->v1);
  if (r == BG_OK) {
    *fate = BG_FATE_PROPOSAL;
    return BG_OK;
  }
  if (r != BG_E_NOT_FOUND) return r;
  bg__fstate st;
  if ((r = bg__field_load(e, &e->k1, &st)) != BG_OK) return r;
  if (bg_vv_contains(&st.K, w->dot)) {
    *fate = BG_FATE_SUPERSEDED;
    return BG_OK;
  }
  bg_field_view v;
  if ((r = bg__view(e, f, &st, &v)) != BG_OK) return r;
  if (v.winner != NULL && bg__cmp_dot(v.winner->dot, w->dot) == 0) {
    *fate = BG_FATE_VISIBLE;
    if (strcmp(f->name, BG_FIELD_DELETED_NAME) == 0) {
      bool deleted, edit_won;
      e->k1.len = fklen - 2;
      if ((r = bg__deleted(e, &e->k1, &v, &deleted, &edit_won)) != BG_OK) return r;
      if (edit_won) *fate = BG_FATE_CONFLICT;
    }
    return BG_OK;
  }
  for (uint32_t i = 0; i < v.n_losers; i++)
    if (bg__cmp_dot(v.losers[i]->dot, w->dot) == 0) {
      *fate = BG_FATE_CONFLICT;
      return BG_OK;
    }
  for (uint32_t i = 0; i < st.n; i++)
    if (bg__cmp_dot(st.cur[i].dot, w->dot) == 0) {
      *fate = v.winner && bg_value_eq(&v.winner->value, &w->value) ? BG_FATE_EQUAL : BG_FATE_SUBSUMED;
      return BG_OK;
    }
  return BG_E_CORRUPT; /* logged, not a proposal, not superseded, not current */
}
