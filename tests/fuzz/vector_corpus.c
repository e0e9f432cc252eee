/*
 * vector_corpus - builds the fuzzers' seed corpus:
 *
 *   vector_corpus VECTOR_DIR OUT_DIR
 *
 * OUT_DIR/frame gets every golden vector as a whole frame, OUT_DIR/body every
 * frame's body; both also get random valid messages of every type (msggen), so
 * the fuzzers start from deep inside the message structure.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bg_frame.h"
#include "vectorfile.h"
#include "msggen.h"

static int put(const char *dir, const char *sub, const char *name, const uint8_t *b, size_t n) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(b, 1, n, f) != n) {
    fprintf(stderr, "vector_corpus: cannot write %s\n", path);
    if (f) fclose(f);
    return -1;
  }
  return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: vector_corpus VECTOR_DIR OUT_DIR\n");
    return 2;
  }
  const char *out = argv[2];
  char sub[1100];
  mkdir(out, 0755);
  snprintf(sub, sizeof sub, "%s/frame", out);
  mkdir(sub, 0755);
  snprintf(sub, sizeof sub, "%s/body", out);
  mkdir(sub, 0755);
  char **names;
  int n = bg_vector_names(argv[1], &names);
  if (n <= 0) return 1;
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
    bg_vector v;
    if (bg_vector_load(path, &v) != 0) return 1;
    rc |= put(out, "frame", names[i], v.bytes, v.len);
    if (v.len > BG_FRAME_HEADER) rc |= put(out, "body", names[i], v.bytes + 4, v.len - 4);
    bg_vector_free(&v);
  }
  bg_vector_names_free(names, n);
  static bg_gen g;
  bg_gen_init(&g, 1);
  for (int t = 1; t <= BG_MSG_TYPE_MAX && rc == 0; t++) {
    for (int k = 0; k < 8 && rc == 0; k++) {
      g.realistic = k % 2;
      bg_msg m;
      bg_gen_msg(&g, (bg_msg_type)t, 4, &m);
      bg_buf b = BG_BUF_INIT;
      if (bg_msg_encode_frame(&m, &b, 0) != BG_OK) return 1;
      char name[64];
      snprintf(name, sizeof name, "gen_%s_%d", bg_msg_type_name(t), k);
      rc |= put(out, "frame", name, b.data, b.len);
      rc |= put(out, "body", name, b.data + 4, b.len - 4);
      bg_buf_free(&b);
    }
  }
  bg_gen_free(&g);
  return rc == 0 ? 0 : 1;
}
