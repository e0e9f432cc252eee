/*
 * testrand.h - the tests' deterministic random numbers.
 *
 * Property tests draw from splitmix64 seeded by BG_TEST_SEED (environment) or a
 * fixed default, and print the seed when they fail, so a failure replays with
 * BG_TEST_SEED=<seed>.
 */
#ifndef BG_TESTRAND_H
#define BG_TESTRAND_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct bg_rand {
  uint64_t s;
} bg_rand;

static inline uint64_t bg_rand_next(bg_rand *r) {
  uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* Uniform in 0..n-1 (n > 0); the slight modulo bias does not matter here. */
static inline uint64_t bg_rand_below(bg_rand *r, uint64_t n) { return bg_rand_next(r) % n; }

/* The seed for this run: BG_TEST_SEED or `dflt`. */
static inline uint64_t bg_test_seed(uint64_t dflt) {
  const char *s = getenv("BG_TEST_SEED");
  return s ? strtoull(s, NULL, 0) : dflt;
}

/* Print how to replay; call from a failing property before the assertion. */
#define BG_REPLAY(seed) \
  fprintf(stderr, "property failed: replay with BG_TEST_SEED=%llu\n", (unsigned long long)(seed))

#endif /* BG_TESTRAND_H */
