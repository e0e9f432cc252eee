/*
 * bg_vv.h - dots and version vectors.
 *
 * A device id is a 64-bit number the server assigns at enrolment (never 0). Every
 * write a device makes gets the next value of that device's counter (starting at
 * 1): the pair (device, counter) is the write's *dot*, unique in the whole system.
 *
 * A version vector maps device ids to counters; a device absent from it has
 * counter 0. A write's causal context is a version vector: the writes the author
 * had seen. "vv contains dot" means vv[dot.device] >= dot.counter.
 *
 * Representation: entries sorted by device id, strictly increasing, counters > 0.
 * This form is canonical (one representation per vector), so equal vectors encode
 * to equal bytes.
 *
 * Storage: a vector either owns heap storage (cap > 0) or borrows read-only storage
 * it does not free (cap == 0, e.g. entries decoded into a message's zone). Before
 * writing, every mutating function gives a borrowed vector storage of its own, so
 * a borrowed vector can be used anywhere an owned one can (a call that changes
 * nothing leaves it borrowed). bg_vv_free on a borrowed vector only forgets it.
 * Every mutating function leaves its destination unchanged when it fails.
 *
 * Wire encoding (docs/PROTOCOL.md, "Version vectors"): a MessagePack array of 2n
 * unsigned integers [d1, c1, d2, c2, ...] with d1 < d2 < ... and every c > 0.
 */
#ifndef BG_VV_H
#define BG_VV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_error.h"

typedef struct bg_dot {
  uint64_t device;  /* > 0 */
  uint64_t counter; /* > 0 */
} bg_dot;

typedef struct bg_vv {
  bg_dot *e;    /* entries sorted by device, counters > 0 */
  uint32_t n;   /* entries in use */
  uint32_t cap; /* allocated entries; 0 = storage borrowed (or none) */
} bg_vv;

#define BG_VV_INIT {NULL, 0, 0}

/* Most entries a version vector may hold (a limit on hostile input). */
#define BG_VV_MAX_ENTRIES 4096u

typedef enum bg_vv_order {
  BG_VV_EQUAL,      /* a == b */
  BG_VV_BEFORE,     /* a < b: b has seen everything a has, and more */
  BG_VV_AFTER,      /* a > b */
  BG_VV_CONCURRENT, /* each has seen something the other has not */
} bg_vv_order;

/* Empty vector; allocates nothing. */
void bg_vv_init(bg_vv *v);

/* Release owned storage; the vector is empty afterwards. */
void bg_vv_free(bg_vv *v);

/* Counter for `device`, 0 when absent. O(log n). */
uint64_t bg_vv_get(const bg_vv *v, uint64_t device);

/* vv[device] = max(vv[device], counter); counter 0 is a no-op.
 * BG_E_USAGE for device 0, BG_E_NOMEM, BG_E_LIMIT past BG_VV_MAX_ENTRIES. */
bg_err bg_vv_advance(bg_vv *v, uint64_t device, uint64_t counter);

/* Whether the dot is covered: v[dot.device] >= dot.counter. */
bool bg_vv_contains(const bg_vv *v, bg_dot dot);

/* dst = pointwise max(dst, src). On error dst is unchanged. */
bg_err bg_vv_merge(bg_vv *dst, const bg_vv *src);

/* res = pointwise max(a, b), written into the caller's `out` - room for
 * `room` >= min(a->n + b->n, BG_VV_MAX_ENTRIES) entries - which res borrows
 * (cap 0): for callers that keep vectors in scratch memory of their own (the
 * engine's zone). *changed: whether b added anything to a. BG_E_LIMIT past
 * BG_VV_MAX_ENTRIES (res unchanged). a and b must not overlap `out`. */
bg_err bg_vv_join_into(const bg_vv *a, const bg_vv *b, bg_dot *out, uint32_t room, bg_vv *res, bool *changed);

/* dst = copy of src (dst's old contents released). */
bg_err bg_vv_copy(bg_vv *dst, const bg_vv *src);

/* Causal order of a and b. */
bg_vv_order bg_vv_compare(const bg_vv *a, const bg_vv *b);

/* Whether a == b (same entries). */
bool bg_vv_equal(const bg_vv *a, const bg_vv *b);

/* Whether v is in canonical form (sorted, unique, counters and devices > 0,
 * at most BG_VV_MAX_ENTRIES). Decoders check this on every vector they accept. */
bool bg_vv_is_canonical(const bg_vv *v);

#endif /* BG_VV_H */
