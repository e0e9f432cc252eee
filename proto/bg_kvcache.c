/*
 * bg_kvcache.c - a write-back cache in front of an engine store (see bg_kv.h).
 *
 * The cache is an in-memory store whose values carry one byte of state before
 * the inner store's value: what was read and what was changed, present or
 * absent. A change is written through when the cache ends or when it has grown
 * past its limit; the in-memory store's scan gives the changes in key order,
 * which is the order a b-tree takes them best. A scan merges the two stores.
 */
#include "bg_kv.h"

#include <stdlib.h>
#include <string.h>

enum {
  BG__READ = 'v',    /* read from the inner store: present, unchanged */
  BG__ABSENT = 'n',  /* read from the inner store: absent */
  BG__PUT = 'V',     /* changed: present with this value */
  BG__DELETED = 'N', /* changed: absent */
};

struct bg_kvcache {
  bg_kv inner;
  unsigned spaces; /* a bit per cached space */
  bool active;
  bg_memkv *mem;
  bg_kv m;
  size_t bytes, max_bytes; /* held in mem since it was last emptied (an upper bound); the limit */
  bg_buf tmp, state; /* a value with its state byte; a lookup's own scratch */
};

static bool bg__cached(const bg_kvcache *c, int space) {
  return c->active && space >= 1 && space <= BG_KV_SPACES && (c->spaces >> space & 1u);
}

/* The cache's changes, for the callback of the in-memory scan. */
typedef struct bg__through {
  bg_kv inner;
  int space;
} bg__through;

static bg_err bg__through_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  const bg__through *t = arg;
  if (vlen == 0) return BG_E_CORRUPT;
  if (val[0] == BG__PUT) return t->inner.ops->put(t->inner.self, t->space, key, klen, val + 1, vlen - 1);
  if (val[0] == BG__DELETED) return t->inner.ops->del(t->inner.self, t->space, key, klen);
  return BG_OK;
}

/* Every change to the inner store, in key order; then the cache is empty. */
static bg_err bg__write_through(bg_kvcache *c) {
  bg_err r = BG_OK;
  for (int sp = 1; sp <= BG_KV_SPACES && r == BG_OK; sp++) {
    if (!(c->spaces >> sp & 1u)) continue;
    bg__through t = {c->inner, sp};
    r = c->m.ops->scan(c->m.self, sp, NULL, 0, bg__through_cb, &t);
  }
  bg_memkv_clear(c->mem);
  c->bytes = 0;
  return r;
}

/* Keep `state` and the value for a key. Past the limit a change writes every
 * change through and empties the cache; a read is then not kept (a read may
 * come from a scan's callback, which must not see the inner store change). */
static bg_err bg__keep(bg_kvcache *c, int space, const uint8_t *key, size_t klen, uint8_t state, const uint8_t *val,
                       size_t vlen) {
  bool change = state == BG__PUT || state == BG__DELETED;
  if (!change && c->bytes > c->max_bytes) return BG_OK;
  bg_buf_reset(&c->tmp);
  bg_err r = bg_buf_append(&c->tmp, &state, 1);
  if (r == BG_OK && vlen) r = bg_buf_append(&c->tmp, val, vlen);
  if (r == BG_OK) r = c->m.ops->put(c->m.self, space, key, klen, c->tmp.data, c->tmp.len);
  if (r != BG_OK) return r;
  /* what the in-memory store allocates: key and value with half the value
   * again to grow in place (at least 32), the entry and the table's share */
  c->bytes += klen + (vlen < 32 ? 32 : vlen + vlen / 2) + 48;
  return change && c->bytes > c->max_bytes ? bg__write_through(c) : BG_OK;
}

/* A key of a cached space: into *val when present (BG_OK), else BG_E_NOT_FOUND;
 * from the inner store the first time, kept from then on. */
static bg_err bg__lookup(bg_kvcache *c, int space, const uint8_t *key, size_t klen, bg_buf *val) {
  bg_err r = c->m.ops->get(c->m.self, space, key, klen, &c->tmp);
  if (r == BG_OK) {
    if (c->tmp.len == 0) return BG_E_CORRUPT;
    if (c->tmp.data[0] == BG__ABSENT || c->tmp.data[0] == BG__DELETED) return BG_E_NOT_FOUND;
    bg_buf_reset(val);
    return bg_buf_append(val, c->tmp.data + 1, c->tmp.len - 1);
  }
  if (r != BG_E_NOT_FOUND) return r;
  r = c->inner.ops->get(c->inner.self, space, key, klen, val);
  if (r == BG_OK) {
    r = bg__keep(c, space, key, klen, BG__READ, val->data, val->len);
  } else if (r == BG_E_NOT_FOUND) {
    r = bg__keep(c, space, key, klen, BG__ABSENT, NULL, 0);
    if (r == BG_OK) r = BG_E_NOT_FOUND;
  }
  return r;
}

static bg_err bg__cget(void *self, int space, const uint8_t *key, size_t klen, bg_buf *val) {
  bg_kvcache *c = self;
  if (!bg__cached(c, space)) return c->inner.ops->get(c->inner.self, space, key, klen, val);
  return bg__lookup(c, space, key, klen, val);
}

static bg_err bg__cput(void *self, int space, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  bg_kvcache *c = self;
  if (!bg__cached(c, space)) return c->inner.ops->put(c->inner.self, space, key, klen, val, vlen);
  return bg__keep(c, space, key, klen, BG__PUT, val, vlen);
}

static bg_err bg__cadd(void *self, int space, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  bg_kvcache *c = self;
  if (!bg__cached(c, space)) return c->inner.ops->add(c->inner.self, space, key, klen, val, vlen);
  bg_err r = bg__lookup(c, space, key, klen, &c->state);
  if (r == BG_OK) return BG_E_EXISTS;
  return r == BG_E_NOT_FOUND ? bg__keep(c, space, key, klen, BG__PUT, val, vlen) : r;
}

static bg_err bg__cdel(void *self, int space, const uint8_t *key, size_t klen) {
  bg_kvcache *c = self;
  if (!bg__cached(c, space)) return c->inner.ops->del(c->inner.self, space, key, klen);
  return bg__keep(c, space, key, klen, BG__DELETED, NULL, 0);
}

/* A scan of a cached space merges the inner store's entries with the cache's
 * (copied first: a callback may read, and a read is kept), both in key order;
 * the cache's state of a key wins. */
typedef struct bg__kept {
  uint8_t *key; /* the key, then the state byte and the value */
  size_t klen, vlen;
} bg__kept;

typedef struct bg__merge {
  bg__kept *v;
  size_t n, cap, next;
  bg_kv_scan_cb cb;
  void *arg;
} bg__merge;

static bg_err bg__kept_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  bg__merge *m = arg;
  if (vlen == 0) return BG_E_CORRUPT;
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    bg__kept *v = realloc(m->v, cap * sizeof *v);
    if (v == NULL) return BG_E_NOMEM;
    m->v = v;
    m->cap = cap;
  }
  uint8_t *p = malloc(klen + vlen);
  if (p == NULL) return BG_E_NOMEM;
  memcpy(p, key, klen);
  memcpy(p + klen, val, vlen);
  m->v[m->n++] = (bg__kept){p, klen, vlen - 1};
  return BG_OK;
}

static int bg__key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  int c = memcmp(a, b, an < bn ? an : bn);
  return c != 0 ? c : an < bn ? -1 : an > bn;
}

/* The kept entries before `key` (all when key is NULL) go to the callback when
 * present; *same: the next one is `key` itself. */
static bg_err bg__merge_upto(bg__merge *m, const uint8_t *key, size_t klen, bool *same) {
  *same = false;
  bg_err r = BG_OK;
  while (r == BG_OK && m->next < m->n) {
    const bg__kept *k = &m->v[m->next];
    int c = key ? bg__key_cmp(k->key, k->klen, key, klen) : -1;
    if (c > 0) break;
    if (c == 0) {
      *same = true;
      break;
    }
    uint8_t st = k->key[k->klen];
    if (st == BG__PUT || st == BG__READ) r = m->cb(m->arg, k->key, k->klen, k->key + k->klen + 1, k->vlen);
    m->next++;
  }
  return r;
}

static bg_err bg__merge_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  bg__merge *m = arg;
  bool same;
  bg_err r = bg__merge_upto(m, key, klen, &same);
  if (r != BG_OK || !same) return r != BG_OK ? r : m->cb(m->arg, key, klen, val, vlen);
  const bg__kept *k = &m->v[m->next++];
  uint8_t st = k->key[k->klen];
  if (st == BG__ABSENT || st == BG__DELETED) return BG_OK;
  return m->cb(m->arg, key, klen, k->key + k->klen + 1, k->vlen);
}

static bg_err bg__cscan(void *self, int space, const uint8_t *prefix, size_t plen, bg_kv_scan_cb cb, void *arg) {
  bg_kvcache *c = self;
  if (!bg__cached(c, space)) return c->inner.ops->scan(c->inner.self, space, prefix, plen, cb, arg);
  bg__merge m = {.cb = cb, .arg = arg};
  bool same;
  bg_err r = c->m.ops->scan(c->m.self, space, prefix, plen, bg__kept_cb, &m);
  if (r == BG_OK) r = c->inner.ops->scan(c->inner.self, space, prefix, plen, bg__merge_cb, &m);
  if (r == BG_OK) r = bg__merge_upto(&m, NULL, 0, &same);
  for (size_t i = 0; i < m.n; i++) free(m.v[i].key);
  free(m.v);
  return r;
}

static const bg_kv_ops bg__kvcache_ops = {bg__cget, bg__cput, bg__cadd, bg__cdel, bg__cscan};

bg_kvcache *bg_kvcache_new(bg_kv inner, unsigned spaces, size_t max_bytes) {
  bg_kvcache *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  if ((c->mem = bg_memkv_new()) == NULL) {
    free(c);
    return NULL;
  }
  c->inner = inner;
  c->spaces = spaces;
  c->max_bytes = max_bytes ? max_bytes : BG_KVCACHE_MAX_BYTES;
  c->m = bg_memkv_kv(c->mem);
  return c;
}

void bg_kvcache_free(bg_kvcache *c) {
  if (c == NULL) return;
  bg_memkv_free(c->mem);
  bg_buf_free(&c->tmp);
  bg_buf_free(&c->state);
  free(c);
}

bg_kv bg_kvcache_kv(bg_kvcache *c) { return (bg_kv){&bg__kvcache_ops, c}; }

bg_err bg_kvcache_begin(bg_kvcache *c) {
  if (c->active) return BG_E_USAGE; /* one begin at a time: a second would lose the first's changes */
  bg_kvcache_discard(c);
  c->active = true;
  return BG_OK;
}

bg_err bg_kvcache_end(bg_kvcache *c) {
  bg_err r = bg__write_through(c);
  c->active = false;
  return r;
}

void bg_kvcache_discard(bg_kvcache *c) {
  bg_memkv_clear(c->mem);
  c->bytes = 0;
  c->active = false;
}
