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
 *   page:     the daemon's CHANGES page from the same writes as its store keeps
 *             them (bg_changes_frame_raw): spliced as they are (protocol 1), and
 *             decoded and packed (protocol 2)
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
static bg_buf g_out, g_out2;
static uint8_t *g_copy;
static bg_str *g_stored; /* each write encoded alone, as a store keeps it */

static void run_page(void *arg) {
  bool packed = arg != NULL;
  bg_buf_reset(&g_out2);
  if (bg_changes_frame_raw(g_stored, g_push.u.push.n, 1, false, packed, &g_out2, 0) != BG_OK) abort();
}

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
  bg_buf stored = BG_BUF_INIT;
  size_t *off = calloc(writes + 1, sizeof *off);
  g_stored = calloc(writes, sizeof *g_stored);
  for (unsigned i = 0; i < writes; i++) {
    off[i] = stored.len;
    if (bg_write_encode(&w[i], &stored) != BG_OK) abort();
  }
  off[writes] = stored.len;
  for (unsigned i = 0; i < writes; i++)
    g_stored[i] = (bg_str){(const char *)stored.data + off[i], (uint32_t)(off[i + 1] - off[i])};
  bg_buf_init(&g_out2, 0);
  run_page((void *)1);
  size_t packed_len = g_out2.len;

  const char *P = "bench_codec";
  bench_header(P);
  double t_enc = bench_best(run_encode, NULL, 5, 0.2);
  double t_dec = bench_best(run_decode, NULL, 5, 0.2);
  double t_cpy = bench_best(run_memcpy, NULL, 5, 0.2);
  double t_unp = bench_best(run_unpack, NULL, 5, 0.2);
  double t_raw = bench_best(run_page, NULL, 5, 0.2);
  double t_pck = bench_best(run_page, (void *)1, 5, 0.2);
  bench_figure(P, "batch_bytes", (double)g_out.len, "bytes", -1);
  bench_figure(P, "batch_writes", writes, "writes", -1);
  bench_figure(P, "encode_mb_per_s", mb / t_enc, "MB/s", t_cpy / t_enc);
  bench_figure(P, "encode_writes_per_s", writes / t_enc, "writes/s", -1);
  bench_figure(P, "decode_mb_per_s", mb / t_dec, "MB/s", t_cpy / t_dec);
  bench_figure(P, "decode_writes_per_s", writes / t_dec, "writes/s", -1);
  bench_figure(P, "decode_vs_msgpack_unpack", t_dec / t_unp, "x", -1);
  bench_figure(P, "page_plain_writes_per_s", writes / t_raw, "writes/s", t_cpy / t_raw);
  bench_figure(P, "page_packed_writes_per_s", writes / t_pck, "writes/s", t_cpy / t_pck);
  bench_figure(P, "page_packed_bytes", (double)packed_len, "bytes", -1);
  bench_figure(P, "ceiling_memcpy_mb_per_s", mb / t_cpy, "MB/s", -1);
  bench_figure(P, "ceiling_unpack_mb_per_s", mb / t_unp, "MB/s", -1);

  printf("\n%-28s %14s %14s %18s\n", "PUSH batch", "MB/s", "writes/s", "time vs memcpy");
  printf("%-28s %14.1f %14.0f %17.1fx\n", "encode (bg_msg_encode)", mb / t_enc, writes / t_enc, t_enc / t_cpy);
  printf("%-28s %14.1f %14.0f %17.1fx\n", "decode (scan+unpack+check)", mb / t_dec, writes / t_dec, t_dec / t_cpy);
  printf("%-28s %14.1f %14.0f %17.1fx\n", "ceiling: msgpack_unpack", mb / t_unp, writes / t_unp, t_unp / t_cpy);
  printf("%-28s %14.1f %14s %17.1fx\n", "ceiling: memcpy", mb / t_cpy, "-", 1.0);
  printf("%-28s %14s %14.0f %17.1fx\n", "CHANGES page, stored writes", "-", writes / t_raw, t_raw / t_cpy);
  printf("%-28s %14s %14.0f %17.1fx\n", "  the same, packed", "-", writes / t_pck, t_pck / t_cpy);
  printf("batch: %u writes, %zu bytes (%.0f bytes/write); our decode takes %.2fx msgpack_unpack's time\n",
         writes, g_out.len, (double)g_out.len / writes, t_dec / t_unp);
  printf("page: %zu bytes packed (%.0f bytes/write; these writes are random, not a device's run)\n", packed_len,
         (double)packed_len / writes);
  free(g_copy);
  free(g_stored);
  free(off);
  bg_buf_free(&stored);
  bg_buf_free(&g_out2);
  free(ctx);
  free(w);
  bg_gen_free(&g);
  bg_buf_free(&g_out);
  return 0;
}
