/*
 * bench_codec - encode and decode throughput of a realistic PUSH batch.
 *
 *   bench_codec [WRITES]     default 1000 writes per batch
 *
 * The batch holds caseload-like writes (texts up to 2,000 characters,
 * persoonsbeschrijving and rapportage sized; integers; small causal contexts).
 * Figures, each the best of 5 rounds:
 *   encode:   bg_msg_encode_frame into a reused buffer
 *   decode:   frame decoder + bg_msg_decode (scan, unpack, every field checked)
 * Ceilings from the same run, on the same bytes:
 *   memcpy:   copying the encoded batch (the memory-bandwidth floor)
 *   unpack:   msgpack-c's msgpack_unpack alone (what any msgpack decoder costs)
 * The ratio is our time over the ceiling's time (1.0 = as fast as the ceiling).
 */
#include "bench_util.h"

#include <msgpack.h>
#include <string.h>

#include "bg_frame.h"
#include "bg_msg.h"
#include "msggen.h"

static bg_msg g_push;
static bg_buf g_out;
static uint8_t *g_copy;

static void run_encode(void *arg) {
  (void)arg;
  bg_buf_reset(&g_out);
  if (bg_msg_encode_frame(&g_push, &g_out, 0) != BG_OK) abort();
}

static void run_decode(void *arg) {
  (void)arg;
  bg_fdec d;
  bg_fdec_init(&d, 0);
  size_t used, blen;
  const uint8_t *body;
  if (bg_fdec_feed(&d, g_out.data, g_out.len, &used, &body, &blen) != BG_OK || body == NULL) abort();
  bg_msg m;
  if (bg_msg_decode(body, blen, &m, NULL) != BG_OK) abort();
  bg_msg_free(&m);
  bg_fdec_free(&d);
}

static void run_memcpy(void *arg) {
  (void)arg;
  memcpy(g_copy, g_out.data, g_out.len);
  __asm__ volatile("" : : "r"(g_copy) : "memory"); /* keep the copy */
}

static void run_unpack(void *arg) {
  (void)arg;
  msgpack_zone *z = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
  msgpack_object o;
  size_t off = 0;
  if (msgpack_unpack((const char *)g_out.data + 4, g_out.len - 4, &off, z, &o) != MSGPACK_UNPACK_SUCCESS)
    abort();
  msgpack_zone_free(z);
}

int main(int argc, char **argv) {
  unsigned writes = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000;
  if (writes == 0 || writes > BG_MSG_MAX_WRITES) {
    fprintf(stderr, "usage: bench_codec [WRITES]   (1..%u)\n", BG_MSG_MAX_WRITES);
    return 2;
  }
  static bg_gen g;
  bg_gen_init_pool(&g, 2026, (size_t)writes * 2200); /* every text stays valid */
  g.realistic = true;
  bg_write *w = calloc(writes, sizeof *w);
  bg_dot(*ctx)[8] = calloc(writes, sizeof *ctx);
  for (unsigned i = 0; i < writes; i++) bg_gen_write(&g, &w[i], ctx[i]);
  g_push.type = BG_MSG_PUSH;
  g_push.u.push = (bg_msg_push){1, w, writes, false};
  bg_buf_init(&g_out, 0);
  run_encode(NULL);
  g_copy = malloc(g_out.len);
  double mb = (double)g_out.len / 1e6;

  const char *P = "bench_codec";
  bench_header(P);
  double t_enc = bench_best(run_encode, NULL, 5, 0.2);
  double t_dec = bench_best(run_decode, NULL, 5, 0.2);
  double t_cpy = bench_best(run_memcpy, NULL, 5, 0.2);
  double t_unp = bench_best(run_unpack, NULL, 5, 0.2);
  bench_figure(P, "batch_bytes", (double)g_out.len, "bytes", -1);
  bench_figure(P, "batch_writes", writes, "writes", -1);
  bench_figure(P, "encode_mb_per_s", mb / t_enc, "MB/s", t_cpy / t_enc);
  bench_figure(P, "encode_writes_per_s", writes / t_enc, "writes/s", -1);
  bench_figure(P, "decode_mb_per_s", mb / t_dec, "MB/s", t_cpy / t_dec);
  bench_figure(P, "decode_writes_per_s", writes / t_dec, "writes/s", -1);
  bench_figure(P, "decode_vs_msgpack_unpack", t_dec / t_unp, "x", -1);
  bench_figure(P, "ceiling_memcpy_mb_per_s", mb / t_cpy, "MB/s", -1);
  bench_figure(P, "ceiling_unpack_mb_per_s", mb / t_unp, "MB/s", -1);

  printf("\n%-28s %14s %14s %18s\n", "PUSH batch", "MB/s", "writes/s", "time vs memcpy");
  printf("%-28s %14.1f %14.0f %17.1fx\n", "encode (bg_msg_encode)", mb / t_enc, writes / t_enc, t_enc / t_cpy);
  printf("%-28s %14.1f %14.0f %17.1fx\n", "decode (scan+unpack+check)", mb / t_dec, writes / t_dec, t_dec / t_cpy);
  printf("%-28s %14.1f %14.0f %17.1fx\n", "ceiling: msgpack_unpack", mb / t_unp, writes / t_unp, t_unp / t_cpy);
  printf("%-28s %14.1f %14s %17.1fx\n", "ceiling: memcpy", mb / t_cpy, "-", 1.0);
  printf("batch: %u writes, %zu bytes (%.0f bytes/write); our decode takes %.2fx msgpack_unpack's time\n",
         writes, g_out.len, (double)g_out.len / writes, t_dec / t_unp);
  free(g_copy);
  free(ctx);
  free(w);
  bg_gen_free(&g);
  bg_buf_free(&g_out);
  return 0;
}
