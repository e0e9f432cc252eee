/*
 * test_hlc.c - hybrid logical clock.
 *
 * Fixed cases pin down the layout, the overflow step and the skew boundary;
 * seeded random runs drive the clock with a wall clock that drifts, stalls and
 * jumps back, and check that every timestamp is greater than all before it.
 *
 * The random tests start from a fixed seed, printed with the step number on
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

#include "bg_hlc.h"
#include "testrand.h"

/* ---- deterministic randomness ---------------------------------------------- */

#define DEFAULT_SEED UINT64_C(0x41c0ffee5eed1234)
#define STEPS 20000u

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

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fail_msg("%s (seed 0x%016" PRIx64 ", step %u)", #cond, rng_seed, rng_case);   \
    }                                                                                 \
  } while (0)

/* 2024-01-01T00:00:00Z in milliseconds: a realistic wall clock. */
#define T0 UINT64_C(1704067200000)

/* A wall clock that mostly moves on a little, sometimes stands still, and
 * sometimes jumps back (NTP correction, a user fixing the date) or far ahead. */
static uint64_t next_wall(uint64_t wall) {
  switch (rng_below(10)) {
  case 0: return wall > 60000 ? wall - rng_below(60000) : wall;
  case 1: return wall;
  case 2: return wall + rng_below(3600000);
  default: return wall + rng_below(3);
  }
}

/* ---- layout ------------------------------------------------------------------ */

static void init_with_zero_selects_the_default_tolerance(void **state) {
  (void)state;
  bg_hlc c;
  bg_hlc_init(&c, 0);
  assert_int_equal(c.last, 0);
  assert_int_equal(c.max_ahead_ms, BG_HLC_DEFAULT_MAX_AHEAD_MS);
  bg_hlc_init(&c, 1234);
  assert_int_equal(c.max_ahead_ms, 1234);
}

static void physical_and_logical_split_round_trips(void **state) {
  (void)state;
  static const struct {
    uint64_t physical;
    uint16_t logical;
  } cases[] = {
      {0, 0}, {0, 1}, {1, 0}, {T0, 7}, {BG_HLC_PHYSICAL_MAX, BG_HLC_LOGICAL_MAX},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t ts = bg_hlc_make(cases[i].physical, cases[i].logical);
    assert_int_equal(bg_hlc_physical(ts), cases[i].physical);
    assert_int_equal(bg_hlc_logical(ts), cases[i].logical);
  }
  assert_int_equal(bg_hlc_make(BG_HLC_PHYSICAL_MAX, BG_HLC_LOGICAL_MAX), UINT64_MAX);

  rng_start();
  for (rng_case = 0; rng_case < STEPS; rng_case++) {
    uint64_t ts = rng_next();
    CHECK(bg_hlc_make(bg_hlc_physical(ts), bg_hlc_logical(ts)) == ts);
    uint64_t p = rng_next() & BG_HLC_PHYSICAL_MAX;
    uint16_t l = (uint16_t)rng_next();
    CHECK(bg_hlc_physical(bg_hlc_make(p, l)) == p);
    CHECK(bg_hlc_logical(bg_hlc_make(p, l)) == l);
  }
}

static void make_truncates_physical_to_48_bits(void **state) {
  (void)state;
  uint64_t ts = bg_hlc_make((UINT64_C(1) << 48) | 5, 3);
  assert_int_equal(bg_hlc_physical(ts), 5);
  assert_int_equal(bg_hlc_logical(ts), 3);
}

/* Timestamps compare as integers: physical first, then logical. */
static void timestamps_order_by_physical_then_logical(void **state) {
  (void)state;
  assert_true(bg_hlc_make(T0, BG_HLC_LOGICAL_MAX) < bg_hlc_make(T0 + 1, 0));
  assert_true(bg_hlc_make(T0, 1) < bg_hlc_make(T0, 2));
}

/* ---- local events ---------------------------------------------------------- */

static void now_follows_a_wall_clock_that_moves_on(void **state) {
  (void)state;
  bg_hlc c;
  bg_hlc_init(&c, 0);
  assert_int_equal(bg_hlc_now(&c, T0), bg_hlc_make(T0, 0));
  assert_int_equal(bg_hlc_now(&c, T0 + 5), bg_hlc_make(T0 + 5, 0));
  assert_int_equal(c.last, bg_hlc_make(T0 + 5, 0));
}

static void events_in_one_millisecond_count_logically(void **state) {
  (void)state;
  bg_hlc c;
  bg_hlc_init(&c, 0);
  assert_int_equal(bg_hlc_now(&c, T0), bg_hlc_make(T0, 0));
  assert_int_equal(bg_hlc_now(&c, T0), bg_hlc_make(T0, 1));
  assert_int_equal(bg_hlc_now(&c, T0), bg_hlc_make(T0, 2));
}

static void clock_never_runs_backward_when_wall_jumps_back(void **state) {
  (void)state;
  bg_hlc c;
  bg_hlc_init(&c, 0);
  uint64_t t1 = bg_hlc_now(&c, T0 + 60000);
  uint64_t t2 = bg_hlc_now(&c, T0);
  assert_true(t2 > t1);
  /* It keeps its physical part and counts on in the logical part. */
  assert_int_equal(bg_hlc_physical(t2), T0 + 60000);
  assert_int_equal(bg_hlc_logical(t2), 1);
  /* A wall clock that fails (reads 0) is just a large backward jump. */
  assert_true(bg_hlc_now(&c, 0) > t2);
}

static void logical_overflow_advances_physical(void **state) {
  (void)state;
  bg_hlc c;
  bg_hlc_init(&c, 0);
  c.last = bg_hlc_make(T0, BG_HLC_LOGICAL_MAX - 1);
  assert_int_equal(bg_hlc_now(&c, T0), bg_hlc_make(T0, BG_HLC_LOGICAL_MAX));
  assert_int_equal(bg_hlc_now(&c, T0), bg_hlc_make(T0 + 1, 0));
  assert_int_equal(bg_hlc_now(&c, T0), bg_hlc_make(T0 + 1, 1));

  /* The same through observe, with the remote at the end of its millisecond. */
  bg_hlc_init(&c, 0);
  uint64_t out = 0;
  assert_int_equal(bg_hlc_observe(&c, bg_hlc_make(T0, BG_HLC_LOGICAL_MAX), T0, &out), BG_OK);
  assert_int_equal(out, bg_hlc_make(T0 + 1, 0));
}

/* Past the year 10889 the wall clock is broken: it is ignored, not truncated
 * into a plausible-looking time. */
static void wall_clock_past_48_bits_is_ignored(void **state) {
  (void)state;
  bg_hlc c;
  bg_hlc_init(&c, 0);
  uint64_t t1 = bg_hlc_now(&c, T0);
  assert_int_equal(bg_hlc_now(&c, (UINT64_C(1) << 48) + T0 + 5000), t1 + 1);
  assert_int_equal(bg_hlc_now(&c, UINT64_MAX), t1 + 2);
}

/* At the very last timestamp the clock cannot move on; it must not wrap to 0. */
static void clock_at_the_end_of_time_stays_put(void **state) {
  (void)state;
  bg_hlc c;
  bg_hlc_init(&c, 0);
  uint64_t out = 0;
  assert_int_equal(bg_hlc_observe(&c, UINT64_MAX, BG_HLC_PHYSICAL_MAX, &out), BG_OK);
  assert_int_equal(out, UINT64_MAX);
  assert_int_equal(bg_hlc_now(&c, BG_HLC_PHYSICAL_MAX), UINT64_MAX);
}

static void now_is_strictly_monotonic_under_random_wall_clocks(void **state) {
  (void)state;
  rng_start();
  bg_hlc c;
  bg_hlc_init(&c, 0);
  uint64_t wall = T0, prev = 0;
  for (rng_case = 0; rng_case < STEPS; rng_case++) {
    wall = next_wall(wall);
    uint64_t ts = bg_hlc_now(&c, wall);
    CHECK(ts > prev);
    CHECK(bg_hlc_physical(ts) >= wall); /* never behind the wall clock */
    CHECK(c.last == ts);
    prev = ts;
  }
}

/* ---- remote timestamps ----------------------------------------------------- */

static void observe_moves_past_a_remote_ahead_of_us(void **state) {
  (void)state;
  bg_hlc c;
  bg_hlc_init(&c, 0);
  uint64_t out = 0, remote = bg_hlc_make(T0 + 1000, 4);
  assert_int_equal(bg_hlc_observe(&c, remote, T0, &out), BG_OK);
  assert_int_equal(out, bg_hlc_make(T0 + 1000, 5));
  assert_int_equal(c.last, out);
  /* A remote behind us still moves the clock on. */
  uint64_t again = 0;
  assert_int_equal(bg_hlc_observe(&c, bg_hlc_make(T0 - 1000, 0), T0, &again), BG_OK);
  assert_true(again > out);
}

static void remote_far_future_is_refused_and_clock_untouched(void **state) {
  (void)state;
  bg_hlc c;
  bg_hlc_init(&c, 0);
  uint64_t before = bg_hlc_now(&c, T0);
  uint64_t out = 77;
  uint64_t remote = bg_hlc_make(T0 + 365 * UINT64_C(86400000), 0);
  assert_int_equal(bg_hlc_observe(&c, remote, T0, &out), BG_E_CLOCK_SKEW);
  assert_int_equal(c.last, before);
  assert_int_equal(out, 77);
  assert_int_equal(bg_hlc_now(&c, T0), before + 1);
}

static void skew_boundary_accepts_equal_and_refuses_one_more(void **state) {
  (void)state;
  static const uint64_t tolerances[] = {0, 1, 5000};
  for (size_t i = 0; i < sizeof tolerances / sizeof tolerances[0]; i++) {
    bg_hlc c;
    bg_hlc_init(&c, tolerances[i]);
    uint64_t ahead = c.max_ahead_ms, out = 0;
    uint64_t before = bg_hlc_now(&c, T0);

    /* The whole millisecond at the boundary is accepted, logical part and all. */
    uint64_t edge = bg_hlc_make(T0 + ahead, BG_HLC_LOGICAL_MAX);
    assert_int_equal(bg_hlc_observe(&c, bg_hlc_make(T0 + ahead + 1, 0), T0, &out), BG_E_CLOCK_SKEW);
    assert_int_equal(c.last, before);
    assert_int_equal(bg_hlc_observe(&c, edge, T0, &out), BG_OK);
    assert_true(out > edge);
  }
}

/* No configuration lets one wrong clock drag replicas more than a day ahead. */
static void huge_tolerance_is_capped_at_one_day(void **state) {
  (void)state;
  bg_hlc c;
  bg_hlc_init(&c, UINT64_MAX);
  assert_true(c.max_ahead_ms == BG_HLC_MAX_AHEAD_LIMIT_MS);
  uint64_t out = 0;
  assert_int_equal(bg_hlc_observe(&c, bg_hlc_make(T0 + BG_HLC_MAX_AHEAD_LIMIT_MS, 0), T0, &out), BG_OK);
  assert_int_equal(bg_hlc_observe(&c, bg_hlc_make(T0 + BG_HLC_MAX_AHEAD_LIMIT_MS + 1, 0), T0, &out),
                   BG_E_CLOCK_SKEW);
}

static void observe_returns_more_than_remote_and_last(void **state) {
  (void)state;
  rng_start();
  bg_hlc c;
  bg_hlc_init(&c, 0);
  uint64_t wall = T0, prev = 0;
  for (rng_case = 0; rng_case < STEPS; rng_case++) {
    wall = next_wall(wall);
    if (rng_below(3) == 0) {
      uint64_t ts = bg_hlc_now(&c, wall);
      CHECK(ts > prev);
      prev = ts;
      continue;
    }
    /* A peer's timestamp: behind, near, or beyond our tolerance. */
    uint64_t lo = wall > 7200000 ? wall - 7200000 : 0;
    uint64_t remote_ms = lo + rng_below(7200000 + c.max_ahead_ms * 2);
    uint64_t remote = bg_hlc_make(remote_ms, (uint16_t)rng_next());
    uint64_t out = 0, last = c.last;
    bg_err err = bg_hlc_observe(&c, remote, wall, &out);
    if (remote_ms > wall + c.max_ahead_ms) {
      CHECK(err == BG_E_CLOCK_SKEW);
      CHECK(c.last == last);
      continue;
    }
    CHECK(err == BG_OK);
    CHECK(out > remote);
    CHECK(out > last);
    CHECK(out > prev);
    CHECK(bg_hlc_physical(out) >= wall);
    CHECK(c.last == out);
    prev = out;
  }
}

static void wall_ms_reads_a_plausible_clock(void **state) {
  (void)state;
  uint64_t a = bg_wall_ms();
  assert_true(a > T0);                   /* after 2024 */
  assert_true(a < BG_HLC_PHYSICAL_MAX); /* and representable */
  bg_hlc c;
  bg_hlc_init(&c, 0);
  assert_true(bg_hlc_physical(bg_hlc_now(&c, bg_wall_ms())) >= a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(init_with_zero_selects_the_default_tolerance),
      cmocka_unit_test(physical_and_logical_split_round_trips),
      cmocka_unit_test(make_truncates_physical_to_48_bits),
      cmocka_unit_test(timestamps_order_by_physical_then_logical),
      cmocka_unit_test(now_follows_a_wall_clock_that_moves_on),
      cmocka_unit_test(events_in_one_millisecond_count_logically),
      cmocka_unit_test(clock_never_runs_backward_when_wall_jumps_back),
      cmocka_unit_test(logical_overflow_advances_physical),
      cmocka_unit_test(wall_clock_past_48_bits_is_ignored),
      cmocka_unit_test(clock_at_the_end_of_time_stays_put),
      cmocka_unit_test(now_is_strictly_monotonic_under_random_wall_clocks),
      cmocka_unit_test(observe_moves_past_a_remote_ahead_of_us),
      cmocka_unit_test(remote_far_future_is_refused_and_clock_untouched),
      cmocka_unit_test(skew_boundary_accepts_equal_and_refuses_one_more),
      cmocka_unit_test(huge_tolerance_is_capped_at_one_day),
      cmocka_unit_test(observe_returns_more_than_remote_and_last),
      cmocka_unit_test(wall_ms_reads_a_plausible_clock),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
