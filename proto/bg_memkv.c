/*
 * bg_memkv.c - an in-memory ordered key-value store (see bg_kv.h).
 *
 * One open-addressing hash table per key space for get/put/delete in O(1); a
 * scan collects the matching entries and sorts them, which is fine for what
 * scans serve (digests, rare reclassifications, tests). Deleted slots become
 * tombstones and are reclaimed when the table grows. Keys and values are limited
 * to 2 GiB each (BG_E_LIMIT): the entry keeps their lengths in 32 bits.
 */
#include "bg_kv.h"

#include <stdlib.h>
#include <string.h>

/* 24 bytes: the table is probed and grown a lot, so the entry is kept small -
 * the value sits right after the key, lengths and the hash take 32 bits. */
typedef struct bg__ment {
  uint8_t *key;  /* NULL: empty; &bg__tomb: deleted. The value follows the key. */
  uint32_t klen;
  uint32_t vlen;
  uint32_t vcap; /* bytes allocated for the value: a replacement that fits reuses it */
  uint32_t hash;
} bg__ment;

#define BG__MVAL(e) ((e)->key + (e)->klen)

typedef struct bg__mtab {
  bg__ment *e;
  size_t cap;  /* power of two */
  size_t used; /* live entries */
  size_t fill; /* live + tombstones */
} bg__mtab;

struct bg_memkv {
  bg__mtab t[BG_KV_SPACES + 1];
};

static uint8_t bg__tomb;

/* Eight bytes at a time, each word mixed by a multiply-xorshift. */
static uint32_t bg__hash(const uint8_t *p, size_t n) {
  uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  uint64_t t = 0;
  memcpy(&t, p, n);
  h = (h ^ t) * UINT64_C(0x94d049bb133111eb);
  return (uint32_t)(h ^ (h >> 29));
}

static bg__ment *bg__find(bg__mtab *t, const uint8_t *key, size_t klen, uint32_t h, bool for_insert) {
  if (t->cap == 0) return NULL;
  size_t mask = t->cap - 1, i = h & mask;
  bg__ment *first_tomb = NULL;
  for (;;) {
    bg__ment *e = &t->e[i];
    if (e->key == NULL) return for_insert ? (first_tomb ? first_tomb : e) : NULL;
    if (e->key == &bg__tomb) {
      if (first_tomb == NULL) first_tomb = e;
    } else if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
      return e;
    }
    i = (i + 1) & mask;
  }
}

static bg_err bg__grow(bg__mtab *t) {
  size_t cap = t->cap ? t->cap * 2 : 64;
  if (t->used * 4 < t->cap) cap = t->cap; /* mostly tombstones: rehash in place size */
  bg__ment *ne = calloc(cap, sizeof *ne);
  if (ne == NULL) return BG_E_NOMEM;
  bg__mtab n = {ne, cap, 0, 0};
  for (size_t i = 0; i < t->cap; i++) {
    bg__ment *e = &t->e[i];
    if (e->key == NULL || e->key == &bg__tomb) continue;
    bg__ment *d = bg__find(&n, e->key, e->klen, e->hash, true);
    *d = *e;
    n.used++;
    n.fill++;
  }
  free(t->e);
  *t = n;
  return BG_OK;
}

static bg_err bg__mget(void *self, int space, const uint8_t *key, size_t klen, bg_buf *val) {
  bg_memkv *m = self;
  if (space < 1 || space > BG_KV_SPACES) return BG_E_USAGE;
  bg__ment *e = bg__find(&m->t[space], key, klen, bg__hash(key, klen), false);
  if (e == NULL) return BG_E_NOT_FOUND;
  bg_buf_reset(val);
  return bg_buf_append(val, BG__MVAL(e), e->vlen);
}

static bg_err bg__mstore(bg_memkv *m, int space, const uint8_t *key, size_t klen, const uint8_t *val,
                         size_t vlen, bool only_new) {
  if (space < 1 || space > BG_KV_SPACES) return BG_E_USAGE;
  if (klen > UINT32_MAX / 2 || vlen > UINT32_MAX / 2) return BG_E_LIMIT; /* 2 GiB: beyond any use in memory */
  bg__mtab *t = &m->t[space];
  if ((t->fill + 1) * 4 > t->cap * 3) {
    bg_err e = bg__grow(t);
    if (e != BG_OK) return e;
  }
  uint32_t h = bg__hash(key, klen);
  bg__ment *e = bg__find(t, key, klen, h, true);
  bool live = e->key != NULL && e->key != &bg__tomb;
  if (live && only_new) return BG_E_EXISTS;
  if (live && vlen <= e->vcap) { /* replace in place */
    if (vlen) memcpy(BG__MVAL(e), val, vlen);
    e->vlen = (uint32_t)vlen;
    return BG_OK;
  }
  /* Key and value share one allocation: the key first, then room for the value. */
  size_t vcap = vlen < 32 ? 32 : vlen + vlen / 2;
  uint8_t *block = malloc(klen + vcap);
  if (block == NULL) return BG_E_NOMEM;
  if (klen) memcpy(block, key, klen);
  if (vlen) memcpy(block + klen, val, vlen);
  if (live) free(e->key); /* replace with a larger value */
  else t->used++;
  if (e->key == NULL) t->fill++;
  *e = (bg__ment){block, (uint32_t)klen, (uint32_t)vlen, (uint32_t)vcap, h};
  return BG_OK;
}

static bg_err bg__mput(void *self, int space, const uint8_t *key, size_t klen, const uint8_t *val,
                       size_t vlen) {
  return bg__mstore(self, space, key, klen, val, vlen, false);
}

static bg_err bg__madd(void *self, int space, const uint8_t *key, size_t klen, const uint8_t *val,
                       size_t vlen) {
  return bg__mstore(self, space, key, klen, val, vlen, true);
}

static bg_err bg__mdel(void *self, int space, const uint8_t *key, size_t klen) {
  bg_memkv *m = self;
  if (space < 1 || space > BG_KV_SPACES) return BG_E_USAGE;
  bg__mtab *t = &m->t[space];
  bg__ment *e = bg__find(t, key, klen, bg__hash(key, klen), false);
  if (e == NULL) return BG_OK;
  free(e->key); /* the value shares the key's allocation */
  *e = (bg__ment){&bg__tomb, 0, 0, 0, 0};
  t->used--;
  return BG_OK;
}

static int bg__cmp_ent(const void *a, const void *b) {
  const bg__ment *x = *(const bg__ment *const *)a, *y = *(const bg__ment *const *)b;
  size_t n = x->klen < y->klen ? x->klen : y->klen;
  int c = memcmp(x->key, y->key, n);
  if (c != 0) return c;
  return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static bg_err bg__mscan(void *self, int space, const uint8_t *prefix, size_t plen, bg_kv_scan_cb cb,
                        void *arg) {
  bg_memkv *m = self;
  if (space < 1 || space > BG_KV_SPACES) return BG_E_USAGE;
  bg__mtab *t = &m->t[space];
  if (t->used == 0) return BG_OK;
  const bg__ment **hits = malloc(t->used * sizeof *hits);
  if (hits == NULL) return BG_E_NOMEM;
  size_t n = 0;
  for (size_t i = 0; i < t->cap; i++) {
    const bg__ment *e = &t->e[i];
    if (e->key == NULL || e->key == &bg__tomb) continue;
    if (e->klen >= plen && (plen == 0 || memcmp(e->key, prefix, plen) == 0)) hits[n++] = e;
  }
  qsort(hits, n, sizeof *hits, bg__cmp_ent);
  bg_err r = BG_OK;
  for (size_t i = 0; i < n && r == BG_OK; i++) r = cb(arg, hits[i]->key, hits[i]->klen, BG__MVAL(hits[i]), hits[i]->vlen);
  free(hits);
  return r;
}

static const bg_kv_ops bg__memkv_ops = {bg__mget, bg__mput, bg__madd, bg__mdel, bg__mscan};

bg_memkv *bg_memkv_new(void) { return calloc(1, sizeof(bg_memkv)); }

void bg_memkv_clear(bg_memkv *m) {
  for (int s = 1; s <= BG_KV_SPACES; s++) {
    for (size_t i = 0; i < m->t[s].cap; i++) {
      bg__ment *e = &m->t[s].e[i];
      if (e->key == NULL || e->key == &bg__tomb) continue;
      free(e->key);
    }
    free(m->t[s].e);
    m->t[s] = (bg__mtab){0};
  }
}

void bg_memkv_free(bg_memkv *m) {
  if (m == NULL) return;
  bg_memkv_clear(m);
  free(m);
}

bg_kv bg_memkv_kv(bg_memkv *m) { return (bg_kv){&bg__memkv_ops, m}; }

size_t bg_memkv_count(const bg_memkv *m, int space) {
  return space >= 1 && space <= BG_KV_SPACES ? m->t[space].used : 0;
}
