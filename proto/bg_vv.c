/*
 * bg_vv.c - dots and version vectors (see bg_vv.h).
 *
 * A vector is a sorted array of (device, counter) entries, so lookups are binary
 * searches and merge and compare are one linear walk over both arrays. Vectors
 * stay small (one entry per device that ever wrote), which is why a sorted array
 * beats a hash table here. The wire encoding is not done in this file.
 *
 * Invariant kept by every function: a vector that was canonical stays canonical,
 * and storage with cap == 0 (borrowed) is never written to or freed.
 */
#include "bg_vv.h"

#include <stdlib.h>
#include <string.h>

/* Index of the first entry whose device is >= `device` (v->n when none). */
static uint32_t bg__vv_lower_bound(const bg_vv *v, uint64_t device) {
  uint32_t lo = 0, hi = v->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (v->e[mid].device < device) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/* Give v owned storage for at least `need` entries, copying a borrowed array
 * first. BG_E_LIMIT past BG_VV_MAX_ENTRIES, BG_E_NOMEM; on error v is unchanged. */
static bg_err bg__vv_reserve(bg_vv *v, uint32_t need) {
  if (need > BG_VV_MAX_ENTRIES) return BG_E_LIMIT;
  if (v->cap != 0 && need <= v->cap) return BG_OK;
  /* Doubling keeps a run of inserts amortised O(1); the limit caps the last step. */
  uint32_t cap = v->cap != 0 ? v->cap : 4;
  while (cap < need) cap *= 2;
  if (cap > BG_VV_MAX_ENTRIES) cap = BG_VV_MAX_ENTRIES;

  bg_dot *e;
  if (v->cap != 0) {
    e = realloc(v->e, (size_t)cap * sizeof *e);
  } else {
    e = malloc((size_t)cap * sizeof *e);
    if (e != NULL && v->n != 0) memcpy(e, v->e, (size_t)v->n * sizeof *e);
  }
  if (e == NULL) return BG_E_NOMEM;
  v->e = e;
  v->cap = cap;
  return BG_OK;
}

void bg_vv_init(bg_vv *v) {
  v->e = NULL;
  v->n = 0;
  v->cap = 0;
}

void bg_vv_free(bg_vv *v) {
  if (v->cap != 0) free(v->e);
  bg_vv_init(v);
}

uint64_t bg_vv_get(const bg_vv *v, uint64_t device) {
  uint32_t i = bg__vv_lower_bound(v, device);
  return i < v->n && v->e[i].device == device ? v->e[i].counter : 0;
}

/* A no-op (counter 0, or already covered) writes nothing, so it neither
 * allocates nor turns a borrowed vector into an owned one. */
bg_err bg_vv_advance(bg_vv *v, uint64_t device, uint64_t counter) {
  /* Device 0 is never assigned; storing it would break canonical form. */
  if (device == 0) return BG_E_USAGE;
  if (counter == 0) return BG_OK;

  uint32_t i = bg__vv_lower_bound(v, device);
  bg_err err;
  if (i < v->n && v->e[i].device == device) {
    if (v->e[i].counter >= counter) return BG_OK;
    err = bg__vv_reserve(v, v->n);
    if (err != BG_OK) return err;
    v->e[i].counter = counter;
    return BG_OK;
  }
  err = bg__vv_reserve(v, v->n + 1);
  if (err != BG_OK) return err;
  memmove(&v->e[i + 1], &v->e[i], (size_t)(v->n - i) * sizeof v->e[0]);
  v->e[i].device = device;
  v->e[i].counter = counter;
  v->n++;
  return BG_OK;
}

bool bg_vv_contains(const bg_vv *v, bg_dot dot) {
  return bg_vv_get(v, dot.device) >= dot.counter;
}

bg_err bg_vv_join_into(const bg_vv *a, const bg_vv *b, bg_dot *out, uint32_t room, bg_vv *res, bool *changed) {
  const bg_dot *x = a->e, *y = b->e;
  uint32_t i = 0, j = 0, k = 0;
  bool more = false;
  while (i < a->n || j < b->n) {
    bg_dot d;
    if (j == b->n || (i < a->n && x[i].device < y[j].device)) {
      d = x[i++];
    } else if (i == a->n || y[j].device < x[i].device) {
      d = y[j++];
      more = true;
    } else {
      d = x[i];
      if (y[j].counter > d.counter) {
        d.counter = y[j].counter;
        more = true;
      }
      i++;
      j++;
    }
    if (k == room) return BG_E_LIMIT;
    out[k++] = d;
  }
  *res = (bg_vv){out, k, 0};
  *changed = more;
  return BG_OK;
}

/* One pass over both sorted arrays (bg_vv_join_into) into a result allocated
 * once, sized for the worst case (no device in common) but never past the
 * limit, so the limit is checked while writing rather than by a separate
 * counting pass. The old storage is released only after the result is
 * complete, which keeps dst unchanged on error and makes bg_vv_merge(v, v) safe. */
bg_err bg_vv_merge(bg_vv *dst, const bg_vv *src) {
  if (src->n == 0 || dst == src) return BG_OK;
  /* The common case on the hot path: src adds nothing. Answer it without
   * allocating (compare is one linear pass). */
  bg_vv_order o = bg_vv_compare(src, dst);
  if (o == BG_VV_EQUAL || o == BG_VV_BEFORE) return BG_OK;

  size_t room = (size_t)dst->n + src->n;
  if (room > BG_VV_MAX_ENTRIES) room = BG_VV_MAX_ENTRIES;
  bg_dot *out = malloc(room * sizeof *out);
  if (out == NULL) return BG_E_NOMEM;
  bg_vv res;
  bool changed;
  bg_err err = bg_vv_join_into(dst, src, out, (uint32_t)room, &res, &changed);
  /* src added nothing: keep dst exactly as it was (owned or borrowed). */
  if (err != BG_OK || !changed) {
    free(out);
    return err;
  }
  bg_vv_free(dst);
  dst->e = out;
  dst->n = res.n;
  dst->cap = (uint32_t)room;
  return BG_OK;
}

/* On error dst is unchanged. A copy of an empty vector holds no storage. */
bg_err bg_vv_copy(bg_vv *dst, const bg_vv *src) {
  if (dst == src) return BG_OK;
  if (src->n == 0) {
    bg_vv_free(dst);
    return BG_OK;
  }
  if (dst->cap < src->n) {
    bg_dot *e = malloc((size_t)src->n * sizeof *e);
    if (e == NULL) return BG_E_NOMEM;
    bg_vv_free(dst);
    dst->e = e;
    dst->cap = src->n;
  }
  memcpy(dst->e, src->e, (size_t)src->n * sizeof *dst->e);
  dst->n = src->n;
  return BG_OK;
}

bg_vv_order bg_vv_compare(const bg_vv *a, const bg_vv *b) {
  /* a_more: a has seen a write b has not; b_more: the reverse. An absent device
   * counts as 0, so a device present on one side only is seen by that side. */
  bool a_more = false, b_more = false;
  uint32_t i = 0, j = 0;
  while ((i < a->n || j < b->n) && !(a_more && b_more)) {
    if (j == b->n || (i < a->n && a->e[i].device < b->e[j].device)) {
      a_more = true;
      i++;
    } else if (i == a->n || b->e[j].device < a->e[i].device) {
      b_more = true;
      j++;
    } else {
      if (a->e[i].counter > b->e[j].counter) a_more = true;
      if (a->e[i].counter < b->e[j].counter) b_more = true;
      i++;
      j++;
    }
  }
  if (a_more && b_more) return BG_VV_CONCURRENT;
  if (a_more) return BG_VV_AFTER;
  if (b_more) return BG_VV_BEFORE;
  return BG_VV_EQUAL;
}

/* Canonical form makes equal entries and equal vectors the same thing. */
bool bg_vv_equal(const bg_vv *a, const bg_vv *b) {
  if (a->n != b->n) return false;
  for (uint32_t i = 0; i < a->n; i++) {
    if (a->e[i].device != b->e[i].device || a->e[i].counter != b->e[i].counter) {
      return false;
    }
  }
  return true;
}

bool bg_vv_is_canonical(const bg_vv *v) {
  if (v->n > BG_VV_MAX_ENTRIES) return false;
  if (v->cap != 0 && v->n > v->cap) return false;
  if (v->n != 0 && v->e == NULL) return false;
  for (uint32_t i = 0; i < v->n; i++) {
    if (v->e[i].device == 0 || v->e[i].counter == 0) return false;
    if (i > 0 && v->e[i - 1].device >= v->e[i].device) return false;
  }
  return true;
}
