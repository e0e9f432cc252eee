/*
 * bench_util.h - what every benchmark program shares: a monotonic clock, a
 * "best of N rounds" timer, and the output contract of BENCHMARKS.md - a header
 * naming the machine, build and revision, then one JSON line per figure and a
 * readable table.
 */
#ifndef BG_BENCH_UTIL_H
#define BG_BENCH_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifndef BG_BUILD_TYPE
#define BG_BUILD_TYPE "unknown"
#endif

/* A program that sets up real processes stops at the first failure, naming
 * it: DIE(fmt, ...) and OK(call) print "<P>: ..." (each program defines P,
 * its name) and exit 1. */
#define DIE(...)                      \
  do {                                \
    fprintf(stderr, "%s: ", P);       \
    fprintf(stderr, __VA_ARGS__);     \
    fputc('\n', stderr);              \
    exit(1);                          \
  } while (0)

#define OK(call)                                                                \
  do {                                                                          \
    bg_err e_ = (call);                                                         \
    if (e_ != BG_OK) DIE("%s: %s (line %d)", #call, bg_err_name(e_), __LINE__); \
  } while (0)

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds per call of fn(arg): best of `rounds` rounds of at least `min_s` each,
 * so that a busy neighbour on a shared machine inflates as few rounds as possible. */
static inline double bench_best(void (*fn)(void *), void *arg, int rounds, double min_s) {
  double best = 1e30;
  for (int r = 0; r < rounds; r++) {
    long n = 0;
    double t0 = bench_now(), t;
    do {
      fn(arg);
      n++;
      t = bench_now() - t0;
    } while (t < min_s);
    if (t / (double)n < best) best = t / (double)n;
  }
  return best;
}

/* The run's header: machine, build type, git revision (BG_GIT_REV from the wrapper). */
static inline void bench_header(const char *program) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024 * 1024);
  const char *rev = getenv("BG_GIT_REV");
  printf("{\"bench\":\"%s\",\"machine\":{\"cores\":%ld,\"memory_gib\":%.1f},\"build\":\"%s\",\"rev\":\"%s\"}\n",
         program, cores, mem, BG_BUILD_TYPE, rev ? rev : "unknown");
}

/* One figure as a JSON line. `ratio` is value / ceiling of the same run, or < 0 when
 * the figure has no ceiling. */
static inline void bench_figure(const char *program, const char *name, double value, const char *unit,
                                double ratio) {
  if (ratio >= 0)
    printf("{\"bench\":\"%s\",\"figure\":\"%s\",\"value\":%.6g,\"unit\":\"%s\",\"ratio_to_ceiling\":%.3f}\n",
           program, name, value, unit, ratio);
  else
    printf("{\"bench\":\"%s\",\"figure\":\"%s\",\"value\":%.6g,\"unit\":\"%s\"}\n", program, name, value, unit);
}

#endif /* BG_BENCH_UTIL_H */
