/*
 * bench_merge - merged writes per second per core, in memory.
 *
 *   bench_merge [WRITES]     default 200000
 *
 * Two workloads, each applied to a fresh in-memory replica (the writes are made
 * beforehand; only bg_engine_apply is timed, best of 3 runs):
 *   ordinary  caseworkers editing fields of their clients' records one after the
 *             other: each write has seen the previous one (the common case)
 *   conflict  four devices editing the same few fields without seeing each
 *             other's latest writes: every field holds several current writes,
 *             and every write meets a conflict
 * Ceiling, same run: a single put of each encoded write into the same store -
 * the least any engine that keeps a log of writes must do. Target (issue 4):
 * at least 1,000,000 ordinary writes/s/core.
 */
#include "bench_util.h"

#include <string.h>

#include "bg_engine.h"
#include "bg_hlc.h"

typedef struct workload {
  bg_write *w;
  bg_dot *ctx; /* ctx storage, 4 entries per write */
  char *rid;   /* rid and client id storage, 32 bytes per write */
  size_t n;
} workload;

static const char *const k_texts[] = {
    "Woont zelfstandig; de huur is te hoog voor het inkomen.",
    "Heeft een goed contact met zijn zus, die wekelijks langskomt.",
    "Wil graag vrijwilligerswerk doen bij de voedselbank.",
    "Schulden in kaart; budgetbeheer loopt via de gemeente.",
};

/* Writes to fields of `records` persoonsbeschrijving records (5 text fields each).
 * conflict = 0: each write covers every earlier write of its record (one writer
 * at a time). conflict = 1: four devices, each having seen only its own writes. */
static void make(workload *wl, size_t n, int conflict) {
  wl->n = n;
  wl->w = calloc(n, sizeof *wl->w);
  wl->ctx = calloc(n * 4, sizeof *wl->ctx);
  wl->rid = calloc(n, 32);
  size_t records = conflict ? 64 : n / 10 + 1;
  uint64_t *last = calloc(records * 4, sizeof *last); /* per record, per device: last counter */
  uint64_t counter[5] = {0};
  for (size_t i = 0; i < n; i++) {
    bg_write *w = &wl->w[i];
    size_t r = (i * 2654435761u) % records;
    int dev = conflict ? 1 + (int)(i % 4) : 1 + (int)((i / 7) % 4);
    char *rid = wl->rid + 32 * i, *cl = rid + 16;
    snprintf(rid, 16, "1/lg%u", (unsigned)(r % 7));
    snprintf(cl, 16, "C%u", (unsigned)(r / 7 % 1000000));
    w->client = bg_str_c(cl);
    w->rtype = BG_RT_PB;
    w->rid = bg_str_c(rid);
    w->field = 1 + (uint32_t)(conflict ? i % 2 : i % 5);
    w->value = (bg_value){BG_V_STR, false, 0, bg_str_c(k_texts[i % 4])};
    w->dot = (bg_dot){(uint64_t)dev, ++counter[dev]};
    /* context: the writes this device had seen of the record */
    bg_dot *c = wl->ctx + 4 * i;
    uint32_t k = 0;
    for (int d = 1; d <= 4; d++) {
      uint64_t seen = last[r * 4 + (size_t)(d - 1)];
      if (conflict && d != dev) continue;
      if (seen) c[k++] = (bg_dot){(uint64_t)d, seen};
    }
    w->ctx = (bg_vv){k ? c : NULL, k, 0};
    last[r * 4 + (size_t)(dev - 1)] = w->dot.counter;
    w->cycle = 1;
    w->phase = BG_PH_ANALYSE;
    w->user = (uint64_t)dev;
    w->role = BG_ROLE_BEGELEIDER;
    w->tb = dev == 1;
    w->hlc = bg_hlc_make(UINT64_C(1795426200000) + i, 0);
  }
  free(last);
}

/* Seconds to apply every write of `wl` to a fresh replica (the store's creation
 * and release are not timed); best of `rounds`. ceiling != 0 times the ceiling. */
static double timed(const workload *wl, int ceiling, int rounds) {
  double best = 1e30;
  for (int round = 0; round < rounds; round++) {
    bg_memkv *m = bg_memkv_new();
    bg_kv kv = bg_memkv_kv(m);
    bg_engine e;
    bg_buf b = BG_BUF_INIT;
    if (bg_engine_init(&e, kv) != BG_OK) abort();
    double t0 = bench_now();
    for (size_t i = 0; i < wl->n; i++) {
      const bg_write *w = &wl->w[i];
      if (ceiling) {
        bg_buf_reset(&b);
        if (bg_write_encode(w, &b) != BG_OK) abort();
        uint8_t key[16];
        for (int k = 0; k < 8; k++) {
          key[k] = (uint8_t)(w->dot.device >> (56 - 8 * k));
          key[8 + k] = (uint8_t)(w->dot.counter >> (56 - 8 * k));
        }
        if (kv.ops->put(kv.self, BG_KV_LOG, key, 16, b.data, b.len) != BG_OK) abort();
      } else {
        bg_apply_result res;
        if (bg_engine_apply(&e, w, &res) != BG_OK || res.outcome != BG_APPLIED) abort();
      }
    }
    double t = bench_now() - t0;
    if (t < best) best = t;
    bg_buf_free(&b);
    bg_engine_free(&e);
    bg_memkv_free(m);
  }
  return best;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 200000;
  if (n < 1000) {
    fprintf(stderr, "usage: bench_merge [WRITES]   (at least 1000)\n");
    return 2;
  }
  const char *P = "bench_merge";
  bench_header(P);
  const char *names[] = {"ordinary", "conflict"};
  double rate[2], ratio[2];
  for (int kind = 0; kind < 2; kind++) {
    workload wl;
    make(&wl, n, kind);
    double te = timed(&wl, 0, 3);
    double tc = timed(&wl, 1, 3);
    rate[kind] = (double)n / te;
    ratio[kind] = te / tc;
    char fig[64];
    snprintf(fig, sizeof fig, "%s_writes_per_s", names[kind]);
    bench_figure(P, fig, rate[kind], "writes/s", tc / te);
    snprintf(fig, sizeof fig, "%s_ceiling_puts_per_s", names[kind]);
    bench_figure(P, fig, (double)n / tc, "puts/s", -1);
    free(wl.w);
    free(wl.ctx);
    free(wl.rid);
  }
  printf("\n%-10s %16s %18s   (%zu writes, one core)\n", "workload", "writes/s", "time vs ceiling", n);
  for (int k = 0; k < 2; k++) printf("%-10s %16.0f %17.1fx\n", names[k], rate[k], ratio[k]);
  printf("target: >= 1000000 ordinary writes/s/core: %s\n", rate[0] >= 1e6 ? "met" : "NOT met");
  return 0;
}
