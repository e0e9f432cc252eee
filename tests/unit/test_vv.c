/*
 * test_vv.c - dots and version vectors.
 *
 * Table-driven cases pin down the rules (order, canonical form, the limit, borrowed
 * storage); seeded random properties check the algebra: merge is a pointwise max
 * (commutative, associative, idempotent) and compare agrees with it. Every random
 * case is also checked against a dense model (one counter per device).
 *
 * The random tests start from a fixed seed, printed with the case number on
 * failure; BG_TEST_SEED=<number> in the environment replays another seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_vv.h"
#include "testrand.h"

/* ---- deterministic randomness ---------------------------------------------- */

#define DEFAULT_SEED UINT64_C(0x5eedb0e1ed5eed01)
#define CASES 5000u

static uint64_t rng_seed;
static bg_rand rng_state;
static unsigned rng_case;

static void rng_start(void) {
  rng_seed = bg_test_seed(DEFAULT_SEED);
  rng_state.s = rng_seed;
  rng_case = 0;
}

static uint64_t rng_next(void) { return bg_rand_next(&rng_state); }
static uint64_t rng_below(uint64_t n) { return bg_rand_below(&rng_state, n); }

/* Like assert_true, but names the seed and case so a failure can be replayed. */
#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fail_msg("%s (seed 0x%016" PRIx64 ", case %u)", #cond, rng_seed, rng_case);   \
    }                                                                                 \
  } while (0)

/* ---- a dense model of a vector ------------------------------------------------ */

/* Random vectors draw devices from this small set, so overlaps are common; it
 * includes the extremes of the id range. */
static const uint64_t device_ids[] = {
    1, 2, 3, 7, 64, 1000, UINT64_C(1) << 32, UINT64_C(1) << 63, UINT64_MAX - 1, UINT64_MAX,
};
#define DEVICES (sizeof device_ids / sizeof device_ids[0])

typedef struct model {
  uint64_t c[DEVICES]; /* counter per device_ids[i]; 0 = absent */
} model;

/* Mostly small counters, so ties between vectors are common; sometimes huge. */
static uint64_t random_counter(void) {
  if (rng_below(8) == 0) return rng_next() | 1u;
  return 1 + rng_below(4);
}

static model random_model(void) {
  model m;
  for (size_t i = 0; i < DEVICES; i++) m.c[i] = rng_below(2) ? random_counter() : 0;
  return m;
}

static model model_max(model a, model b) {
  for (size_t i = 0; i < DEVICES; i++) {
    if (b.c[i] > a.c[i]) a.c[i] = b.c[i];
  }
  return a;
}

static bg_vv_order model_compare(model a, model b) {
  bool a_more = false, b_more = false;
  for (size_t i = 0; i < DEVICES; i++) {
    if (a.c[i] > b.c[i]) a_more = true;
    if (a.c[i] < b.c[i]) b_more = true;
  }
  if (a_more && b_more) return BG_VV_CONCURRENT;
  if (a_more) return BG_VV_AFTER;
  if (b_more) return BG_VV_BEFORE;
  return BG_VV_EQUAL;
}

/* Build the model's vector with advances in a random order, so inserts land at
 * the front, middle and end; now and then raise a counter in two steps. */
static bg_vv vv_from_model(model m) {
  size_t order[DEVICES];
  for (size_t i = 0; i < DEVICES; i++) order[i] = i;
  for (size_t i = DEVICES - 1; i > 0; i--) {
    size_t j = (size_t)rng_below(i + 1);
    size_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  bg_vv v = BG_VV_INIT;
  for (size_t k = 0; k < DEVICES; k++) {
    size_t i = order[k];
    if (m.c[i] > 1 && rng_below(4) == 0) {
      CHECK(bg_vv_advance(&v, device_ids[i], m.c[i] / 2) == BG_OK);
    }
    CHECK(bg_vv_advance(&v, device_ids[i], m.c[i]) == BG_OK);
  }
  return v;
}

static bool vv_matches(const bg_vv *v, model m) {
  if (!bg_vv_is_canonical(v)) return false;
  uint32_t present = 0;
  for (size_t i = 0; i < DEVICES; i++) {
    if (bg_vv_get(v, device_ids[i]) != m.c[i]) return false;
    present += m.c[i] != 0;
  }
  return v->n == present;
}

/* A read-only view of v's entries in `storage`, as a decoder would hand out. */
static bg_vv borrow(const bg_vv *v, bg_dot storage[DEVICES]) {
  if (v->n != 0) memcpy(storage, v->e, v->n * sizeof *storage);
  bg_vv view = {storage, v->n, 0};
  return view;
}

/* ---- helpers for literal cases --------------------------------------------- */

typedef struct dots {
  bg_dot d[4];
  uint32_t n;
} dots;

static bg_vv vv_of(const dots *in) {
  bg_vv v = BG_VV_INIT;
  for (uint32_t i = 0; i < in->n; i++) {
    assert_int_equal(bg_vv_advance(&v, in->d[i].device, in->d[i].counter), BG_OK);
  }
  return v;
}

/* A vector with devices first, first + 1, ..., first + n - 1, all at `counter`. */
static bg_vv vv_range(uint64_t first, uint32_t n, uint64_t counter) {
  bg_vv v = BG_VV_INIT;
  for (uint32_t i = 0; i < n; i++) {
    assert_int_equal(bg_vv_advance(&v, first + i, counter), BG_OK);
  }
  return v;
}

/* ---- rules ------------------------------------------------------------------ */

static void init_allocates_nothing_and_reads_as_zero(void **state) {
  (void)state;
  bg_vv v;
  bg_vv_init(&v);
  assert_null(v.e);
  assert_int_equal(v.n, 0);
  assert_int_equal(v.cap, 0);
  assert_int_equal(bg_vv_get(&v, 1), 0);
  assert_true(bg_vv_is_canonical(&v));
  bg_dot none = {5, 1};
  assert_false(bg_vv_contains(&v, none));
  bg_vv_free(&v);
  assert_int_equal(v.n, 0);
}

static void advance_keeps_the_maximum_counter(void **state) {
  (void)state;
  bg_vv v = BG_VV_INIT;
  assert_int_equal(bg_vv_advance(&v, 9, 5), BG_OK);
  assert_int_equal(bg_vv_advance(&v, 9, 3), BG_OK);
  assert_int_equal(bg_vv_get(&v, 9), 5);
  assert_int_equal(bg_vv_advance(&v, 9, 8), BG_OK);
  assert_int_equal(bg_vv_get(&v, 9), 8);
  assert_int_equal(v.n, 1);
  bg_vv_free(&v);
}

static void advance_with_counter_zero_is_a_noop(void **state) {
  (void)state;
  bg_vv v = BG_VV_INIT;
  assert_int_equal(bg_vv_advance(&v, 4, 0), BG_OK);
  assert_int_equal(v.n, 0);
  assert_null(v.e);
  bg_vv_free(&v);
}

/* Device 0 is never assigned; accepting it would break canonical form. */
static void advance_refuses_device_zero(void **state) {
  (void)state;
  bg_vv v = BG_VV_INIT;
  assert_int_equal(bg_vv_advance(&v, 0, 1), BG_E_USAGE);
  assert_int_equal(v.n, 0);
  assert_true(bg_vv_is_canonical(&v));
  bg_vv_free(&v);
}

static void contains_dot_after_advance(void **state) {
  (void)state;
  bg_vv v = BG_VV_INIT;
  bg_dot d = {42, 7};
  assert_false(bg_vv_contains(&v, d));
  assert_int_equal(bg_vv_advance(&v, d.device, d.counter), BG_OK);
  assert_true(bg_vv_contains(&v, d));
  bg_dot earlier = {42, 1}, later = {42, 8}, other = {41, 1};
  assert_true(bg_vv_contains(&v, earlier));
  assert_false(bg_vv_contains(&v, later));
  assert_false(bg_vv_contains(&v, other));
  bg_vv_free(&v);
}

static void compare_follows_the_causal_order(void **state) {
  (void)state;
  static const struct {
    dots a, b;
    bg_vv_order want;
  } cases[] = {
      {{{{0}}, 0}, {{{0}}, 0}, BG_VV_EQUAL},
      {{{{1, 1}}, 1}, {{{1, 1}}, 1}, BG_VV_EQUAL},
      {{{{0}}, 0}, {{{1, 1}}, 1}, BG_VV_BEFORE},
      {{{{1, 1}}, 1}, {{{0}}, 0}, BG_VV_AFTER},
      {{{{1, 1}}, 1}, {{{1, 2}}, 1}, BG_VV_BEFORE},
      {{{{1, 3}, {2, 1}}, 2}, {{{1, 3}}, 1}, BG_VV_AFTER},
      {{{{1, 1}}, 1}, {{{2, 1}}, 1}, BG_VV_CONCURRENT},
      {{{{1, 2}, {2, 1}}, 2}, {{{1, 1}, {2, 2}}, 2}, BG_VV_CONCURRENT},
      {{{{1, 1}, {3, 1}}, 2}, {{{1, 1}, {2, 1}, {3, 1}}, 3}, BG_VV_BEFORE},
      {{{{1, 1}, {3, 2}}, 2}, {{{1, 1}, {2, 1}, {3, 1}}, 3}, BG_VV_CONCURRENT},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bg_vv a = vv_of(&cases[i].a), b = vv_of(&cases[i].b);
    if (bg_vv_compare(&a, &b) != cases[i].want) fail_msg("case %zu", i);
    bg_vv_free(&a);
    bg_vv_free(&b);
  }
}

static void is_canonical_rejects_malformed_vectors(void **state) {
  (void)state;
  static const struct {
    const char *why;
    dots in;
    bool want;
  } cases[] = {
      {"empty", {{{0}}, 0}, true},
      {"sorted, unique", {{{1, 1}, {2, 5}, {UINT64_MAX, 1}}, 3}, true},
      {"unsorted", {{{2, 1}, {1, 1}}, 2}, false},
      {"duplicate device", {{{1, 1}, {1, 2}}, 2}, false},
      {"zero counter", {{{1, 1}, {2, 0}}, 2}, false},
      {"zero device", {{{0, 1}, {1, 1}}, 2}, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bg_dot storage[4];
    memcpy(storage, cases[i].in.d, sizeof storage);
    bg_vv v = {storage, cases[i].in.n, 0};
    if (bg_vv_is_canonical(&v) != cases[i].want) fail_msg("%s", cases[i].why);
  }
  bg_vv missing = {NULL, 1, 0};
  assert_false(bg_vv_is_canonical(&missing));
}

static void borrowed_vector_is_copied_before_mutation(void **state) {
  (void)state;
  bg_dot storage[2] = {{1, 1}, {3, 1}};
  bg_dot pristine[2];
  memcpy(pristine, storage, sizeof pristine);

  /* Raising an existing counter. */
  bg_vv v = {storage, 2, 0};
  assert_int_equal(bg_vv_advance(&v, 3, 9), BG_OK);
  assert_true(v.cap > 0);
  assert_ptr_not_equal(v.e, storage);
  assert_int_equal(bg_vv_get(&v, 3), 9);
  bg_vv_free(&v);

  /* Inserting a device. */
  v = (bg_vv){storage, 2, 0};
  assert_int_equal(bg_vv_advance(&v, 2, 1), BG_OK);
  assert_true(v.cap > 0);
  assert_int_equal(v.n, 3);
  assert_true(bg_vv_is_canonical(&v));
  bg_vv_free(&v);

  /* Merging into it. */
  v = (bg_vv){storage, 2, 0};
  bg_vv src = BG_VV_INIT;
  assert_int_equal(bg_vv_advance(&src, 1, 4), BG_OK);
  assert_int_equal(bg_vv_merge(&v, &src), BG_OK);
  assert_true(v.cap > 0);
  assert_int_equal(bg_vv_get(&v, 1), 4);
  bg_vv_free(&v);

  /* Copying over it. */
  v = (bg_vv){storage, 2, 0};
  assert_int_equal(bg_vv_copy(&v, &src), BG_OK);
  assert_true(v.cap > 0);
  assert_true(bg_vv_equal(&v, &src));
  bg_vv_free(&v);
  bg_vv_free(&src);

  assert_memory_equal(storage, pristine, sizeof pristine);
}

static void noop_on_borrowed_vector_keeps_it_borrowed(void **state) {
  (void)state;
  bg_dot storage[2] = {{1, 5}, {3, 5}};
  bg_vv v = {storage, 2, 0};
  bg_vv src = BG_VV_INIT;
  assert_int_equal(bg_vv_advance(&src, 3, 2), BG_OK);
  assert_int_equal(bg_vv_advance(&v, 1, 4), BG_OK);
  assert_int_equal(bg_vv_advance(&v, 1, 0), BG_OK);
  assert_int_equal(bg_vv_merge(&v, &src), BG_OK);
  assert_ptr_equal(v.e, storage);
  assert_int_equal(v.cap, 0);
  bg_vv_free(&v); /* only forgets: freeing stack storage would crash under ASan */
  assert_null(v.e);
  bg_vv_free(&src);
}

static void copy_of_borrowed_vector_owns_its_storage(void **state) {
  (void)state;
  bg_dot storage[2] = {{1, 1}, {3, 1}};
  bg_vv src = {storage, 2, 0};
  bg_vv dst = BG_VV_INIT;
  assert_int_equal(bg_vv_advance(&dst, 8, 8), BG_OK);
  assert_int_equal(bg_vv_copy(&dst, &src), BG_OK);
  assert_true(dst.cap >= 2);
  assert_ptr_not_equal(dst.e, storage);
  assert_true(bg_vv_equal(&dst, &src));
  assert_int_equal(bg_vv_advance(&dst, 1, 2), BG_OK);
  assert_int_equal(storage[0].counter, 1);

  bg_vv empty = BG_VV_INIT;
  assert_int_equal(bg_vv_copy(&dst, &empty), BG_OK);
  assert_int_equal(dst.n, 0);
  bg_vv_free(&dst);
}

static void merge_with_itself_changes_nothing(void **state) {
  (void)state;
  dots in = {{{1, 2}, {5, 1}}, 2};
  bg_vv v = vv_of(&in), want = vv_of(&in);
  assert_int_equal(bg_vv_merge(&v, &v), BG_OK);
  assert_true(bg_vv_equal(&v, &want));
  assert_int_equal(bg_vv_copy(&v, &v), BG_OK);
  assert_true(bg_vv_equal(&v, &want));
  bg_vv_free(&v);
  bg_vv_free(&want);
}

/* ---- the limit on entries ---------------------------------------------------- */

static void advance_enforces_the_entry_limit(void **state) {
  (void)state;
  bg_vv v = vv_range(1, BG_VV_MAX_ENTRIES, 1);
  assert_int_equal(v.n, BG_VV_MAX_ENTRIES);
  assert_true(bg_vv_is_canonical(&v));

  bg_vv before = BG_VV_INIT;
  assert_int_equal(bg_vv_copy(&before, &v), BG_OK);
  assert_int_equal(bg_vv_advance(&v, BG_VV_MAX_ENTRIES + 1, 1), BG_E_LIMIT);
  assert_int_equal(bg_vv_advance(&v, UINT64_MAX, 1), BG_E_LIMIT);
  assert_true(bg_vv_equal(&v, &before));
  /* A full vector can still move on for devices it already holds. */
  assert_int_equal(bg_vv_advance(&v, 7, 2), BG_OK);
  assert_int_equal(bg_vv_get(&v, 7), 2);
  bg_vv_free(&v);
  bg_vv_free(&before);
}

static void merge_enforces_the_entry_limit_and_leaves_dst_unchanged(void **state) {
  (void)state;
  const uint32_t half = BG_VV_MAX_ENTRIES / 2;

  /* Disjoint halves fill the vector exactly. */
  bg_vv low = vv_range(1, half, 1), high = vv_range(1 + half, half, 1);
  assert_int_equal(bg_vv_merge(&low, &high), BG_OK);
  assert_int_equal(low.n, BG_VV_MAX_ENTRIES);
  assert_true(bg_vv_is_canonical(&low));

  /* Two full vectors over the same devices merge: only the union counts. */
  bg_vv same = vv_range(1, BG_VV_MAX_ENTRIES, 2);
  assert_int_equal(bg_vv_merge(&low, &same), BG_OK);
  assert_true(bg_vv_equal(&low, &same));

  /* One more device is refused, whichever side it comes from. */
  bg_vv extra = vv_range(BG_VV_MAX_ENTRIES + 1, 1, 1), before = BG_VV_INIT;
  assert_int_equal(bg_vv_copy(&before, &low), BG_OK);
  assert_int_equal(bg_vv_merge(&low, &extra), BG_E_LIMIT);
  assert_true(bg_vv_equal(&low, &before));
  bg_vv extra_before = BG_VV_INIT;
  assert_int_equal(bg_vv_copy(&extra_before, &extra), BG_OK);
  assert_int_equal(bg_vv_merge(&extra, &low), BG_E_LIMIT);
  assert_true(bg_vv_equal(&extra, &extra_before));

  /* A borrowed destination stays borrowed and untouched on failure. */
  bg_dot storage[1] = {{BG_VV_MAX_ENTRIES + 1, 1}};
  bg_vv view = {storage, 1, 0};
  assert_int_equal(bg_vv_merge(&view, &low), BG_E_LIMIT);
  assert_ptr_equal(view.e, storage);
  assert_int_equal(view.n, 1);
  assert_int_equal(view.cap, 0);

  bg_vv_free(&low);
  bg_vv_free(&high);
  bg_vv_free(&same);
  bg_vv_free(&extra);
  bg_vv_free(&before);
  bg_vv_free(&extra_before);
}

static void is_canonical_rejects_more_than_the_limit(void **state) {
  (void)state;
  bg_vv v = vv_range(1, BG_VV_MAX_ENTRIES, 1);
  bg_dot *storage = malloc((BG_VV_MAX_ENTRIES + 1) * sizeof *storage);
  assert_non_null(storage);
  memcpy(storage, v.e, BG_VV_MAX_ENTRIES * sizeof *storage);
  storage[BG_VV_MAX_ENTRIES] = (bg_dot){BG_VV_MAX_ENTRIES + 1, 1};
  bg_vv view = {storage, BG_VV_MAX_ENTRIES + 1, 0};
  assert_false(bg_vv_is_canonical(&view));
  view.n = BG_VV_MAX_ENTRIES;
  assert_true(bg_vv_is_canonical(&view));
  free(storage);
  bg_vv_free(&v);
}

/* ---- random properties ------------------------------------------------------- */

static void advance_matches_the_model(void **state) {
  (void)state;
  rng_start();
  for (rng_case = 0; rng_case < CASES; rng_case++) {
    model m = {{0}};
    bg_vv v = BG_VV_INIT;
    for (int step = 0; step < 20; step++) {
      size_t i = (size_t)rng_below(DEVICES);
      uint64_t c = rng_below(4) == 0 ? 0 : random_counter();
      CHECK(bg_vv_advance(&v, device_ids[i], c) == BG_OK);
      if (c > m.c[i]) m.c[i] = c;
      CHECK(vv_matches(&v, m));
    }
    bg_vv_free(&v);
  }
}

static void contains_is_consistent_with_get(void **state) {
  (void)state;
  rng_start();
  for (rng_case = 0; rng_case < CASES; rng_case++) {
    model m = random_model();
    bg_vv v = vv_from_model(m);
    CHECK(vv_matches(&v, m));
    for (int k = 0; k < 8; k++) {
      /* Mostly known devices near their counter; sometimes an unknown device. */
      size_t i = (size_t)rng_below(DEVICES);
      bool known = rng_below(8) != 0;
      uint64_t device = known ? device_ids[i] : 4 + rng_below(3);
      uint64_t have = known ? m.c[i] : 0;
      uint64_t counter = have == 0 || have == UINT64_MAX ? 1 + rng_below(3)
                                                         : have - 1 + rng_below(3);
      bg_dot d = {device, counter};
      CHECK(bg_vv_get(&v, device) == have);
      CHECK(bg_vv_contains(&v, d) == (have >= counter));
    }
    bg_vv_free(&v);
  }
}

static void merge_is_the_pointwise_maximum(void **state) {
  (void)state;
  rng_start();
  for (rng_case = 0; rng_case < CASES; rng_case++) {
    model ma = random_model(), mb = random_model();
    bg_vv a = vv_from_model(ma), b = vv_from_model(mb);
    bg_dot storage[DEVICES], pristine[DEVICES];
    /* Half the time the destination is a borrowed view. */
    bool borrowed = rng_below(2) == 0;
    if (borrowed) {
      bg_vv view = borrow(&a, storage);
      memcpy(pristine, storage, sizeof storage);
      bg_vv_free(&a);
      a = view;
    }
    CHECK(bg_vv_merge(&a, &b) == BG_OK);
    CHECK(vv_matches(&a, model_max(ma, mb)));
    CHECK(vv_matches(&b, mb));
    if (borrowed) CHECK(memcmp(storage, pristine, sizeof storage) == 0);
    bg_vv_free(&a);
    bg_vv_free(&b);
  }
}

static void merge_is_commutative(void **state) {
  (void)state;
  rng_start();
  for (rng_case = 0; rng_case < CASES; rng_case++) {
    model ma = random_model(), mb = random_model();
    bg_vv ab = vv_from_model(ma), ba = vv_from_model(mb);
    bg_vv a = vv_from_model(ma), b = vv_from_model(mb);
    CHECK(bg_vv_merge(&ab, &b) == BG_OK);
    CHECK(bg_vv_merge(&ba, &a) == BG_OK);
    CHECK(bg_vv_equal(&ab, &ba));
    CHECK(bg_vv_is_canonical(&ab) && bg_vv_is_canonical(&ba));
    bg_vv_free(&ab);
    bg_vv_free(&ba);
    bg_vv_free(&a);
    bg_vv_free(&b);
  }
}

static void merge_is_associative(void **state) {
  (void)state;
  rng_start();
  for (rng_case = 0; rng_case < CASES; rng_case++) {
    model ma = random_model(), mb = random_model(), mc = random_model();
    bg_vv left = vv_from_model(ma), right = vv_from_model(ma);
    bg_vv b = vv_from_model(mb), c = vv_from_model(mc), bc = vv_from_model(mb);
    /* (a + b) + c */
    CHECK(bg_vv_merge(&left, &b) == BG_OK);
    CHECK(bg_vv_merge(&left, &c) == BG_OK);
    /* a + (b + c) */
    CHECK(bg_vv_merge(&bc, &c) == BG_OK);
    CHECK(bg_vv_merge(&right, &bc) == BG_OK);
    CHECK(bg_vv_equal(&left, &right));
    CHECK(bg_vv_is_canonical(&left) && bg_vv_is_canonical(&right));
    bg_vv_free(&left);
    bg_vv_free(&right);
    bg_vv_free(&b);
    bg_vv_free(&c);
    bg_vv_free(&bc);
  }
}

static void merge_is_idempotent(void **state) {
  (void)state;
  rng_start();
  for (rng_case = 0; rng_case < CASES; rng_case++) {
    model ma = random_model(), mb = random_model();
    bg_vv a = vv_from_model(ma), a2 = vv_from_model(ma), b = vv_from_model(mb);
    CHECK(bg_vv_merge(&a, &a2) == BG_OK);
    CHECK(vv_matches(&a, ma));
    CHECK(bg_vv_merge(&a, &b) == BG_OK);
    bg_vv once = BG_VV_INIT;
    CHECK(bg_vv_copy(&once, &a) == BG_OK);
    CHECK(bg_vv_merge(&a, &b) == BG_OK);
    CHECK(bg_vv_equal(&a, &once));
    CHECK(vv_matches(&a, model_max(ma, mb)));
    bg_vv_free(&a);
    bg_vv_free(&a2);
    bg_vv_free(&b);
    bg_vv_free(&once);
  }
}

static void compare_matches_the_model(void **state) {
  (void)state;
  rng_start();
  for (rng_case = 0; rng_case < CASES; rng_case++) {
    model ma = random_model(), mb = random_model();
    /* Make ordered pairs common: otherwise nearly every pair is concurrent. */
    switch (rng_below(4)) {
    case 0: mb = model_max(ma, mb); break;
    case 1: ma = model_max(ma, mb); break;
    case 2: mb = ma; break;
    default: break;
    }
    bg_vv a = vv_from_model(ma), b = vv_from_model(mb);
    CHECK(bg_vv_compare(&a, &b) == model_compare(ma, mb));
    bg_vv_free(&a);
    bg_vv_free(&b);
  }
}

static void compare_is_equal_iff_vectors_are_equal(void **state) {
  (void)state;
  rng_start();
  for (rng_case = 0; rng_case < CASES; rng_case++) {
    model ma = random_model(), mb = rng_below(2) ? ma : random_model();
    bg_vv a = vv_from_model(ma), b = vv_from_model(mb);
    CHECK((bg_vv_compare(&a, &b) == BG_VV_EQUAL) == bg_vv_equal(&a, &b));
    CHECK(bg_vv_compare(&a, &a) == BG_VV_EQUAL);
    bg_vv_free(&a);
    bg_vv_free(&b);
  }
}

static bg_vv_order mirror(bg_vv_order o) {
  switch (o) {
  case BG_VV_BEFORE: return BG_VV_AFTER;
  case BG_VV_AFTER: return BG_VV_BEFORE;
  default: return o;
  }
}

static void compare_is_antisymmetric(void **state) {
  (void)state;
  rng_start();
  for (rng_case = 0; rng_case < CASES; rng_case++) {
    model ma = random_model(), mb = random_model();
    if (rng_below(2)) mb = model_max(ma, mb);
    bg_vv a = vv_from_model(ma), b = vv_from_model(mb);
    CHECK(bg_vv_compare(&b, &a) == mirror(bg_vv_compare(&a, &b)));
    bg_vv_free(&a);
    bg_vv_free(&b);
  }
}

static void compare_is_consistent_with_merge(void **state) {
  (void)state;
  rng_start();
  for (rng_case = 0; rng_case < CASES; rng_case++) {
    model ma = random_model(), mb = random_model();
    if (rng_below(2)) mb = model_max(ma, mb);
    bg_vv a = vv_from_model(ma), b = vv_from_model(mb), ab = vv_from_model(ma);
    CHECK(bg_vv_merge(&ab, &b) == BG_OK);
    bg_vv_order a_ab = bg_vv_compare(&a, &ab), a_b = bg_vv_compare(&a, &b);
    CHECK(a_ab == BG_VV_BEFORE || a_ab == BG_VV_EQUAL);
    /* Merging changes nothing exactly when a has already seen all of b. */
    CHECK((a_ab == BG_VV_EQUAL) == (a_b == BG_VV_EQUAL || a_b == BG_VV_AFTER));
    /* And when b has seen all of a, the merge is b. */
    CHECK((a_b == BG_VV_BEFORE || a_b == BG_VV_EQUAL) == bg_vv_equal(&ab, &b));
    bg_vv_free(&a);
    bg_vv_free(&b);
    bg_vv_free(&ab);
  }
}

static void copy_is_equal_to_its_source(void **state) {
  (void)state;
  rng_start();
  for (rng_case = 0; rng_case < CASES; rng_case++) {
    model ma = random_model(), mb = random_model();
    bg_vv src = vv_from_model(ma), dst = vv_from_model(mb);
    CHECK(bg_vv_copy(&dst, &src) == BG_OK);
    CHECK(bg_vv_equal(&dst, &src));
    CHECK(vv_matches(&dst, ma));
    CHECK(dst.n == 0 || dst.e != src.e);
    bg_vv_free(&src);
    bg_vv_free(&dst);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(init_allocates_nothing_and_reads_as_zero),
      cmocka_unit_test(advance_keeps_the_maximum_counter),
      cmocka_unit_test(advance_with_counter_zero_is_a_noop),
      cmocka_unit_test(advance_refuses_device_zero),
      cmocka_unit_test(contains_dot_after_advance),
      cmocka_unit_test(compare_follows_the_causal_order),
      cmocka_unit_test(is_canonical_rejects_malformed_vectors),
      cmocka_unit_test(borrowed_vector_is_copied_before_mutation),
      cmocka_unit_test(noop_on_borrowed_vector_keeps_it_borrowed),
      cmocka_unit_test(copy_of_borrowed_vector_owns_its_storage),
      cmocka_unit_test(merge_with_itself_changes_nothing),
      cmocka_unit_test(advance_enforces_the_entry_limit),
      cmocka_unit_test(merge_enforces_the_entry_limit_and_leaves_dst_unchanged),
      cmocka_unit_test(is_canonical_rejects_more_than_the_limit),
      cmocka_unit_test(advance_matches_the_model),
      cmocka_unit_test(contains_is_consistent_with_get),
      cmocka_unit_test(merge_is_the_pointwise_maximum),
      cmocka_unit_test(merge_is_commutative),
      cmocka_unit_test(merge_is_associative),
      cmocka_unit_test(merge_is_idempotent),
      cmocka_unit_test(compare_matches_the_model),
      cmocka_unit_test(compare_is_equal_iff_vectors_are_equal),
      cmocka_unit_test(compare_is_antisymmetric),
      cmocka_unit_test(compare_is_consistent_with_merge),
      cmocka_unit_test(copy_is_equal_to_its_source),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
