/*
 * bgframe - decode bgsync protocol frames and show them.
 *
 * For people implementing or debugging the protocol: feeds golden-vector files
 * (hex with '#' comments) or raw bytes captured from a session through the same
 * frame decoder and message decoder the daemon and the client library use, and
 * prints every message as one line of JSON - or, for a refused frame, the error
 * code with the field that was wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_frame.h"
#include "bg_msg.h"
#include "vectorfile.h"

static void usage(FILE *f) {
  fputs("usage: bgframe decode [--quiet] [FILE...]\n"
        "       bgframe --help | --version\n"
        "\n"
        "Decodes bgsync protocol frames and prints each message as one line of JSON.\n"
        "FILE holds hex digits ('#' starts a comment line, as in tests/vectors/*.hex)\n"
        "or raw bytes captured from a session; '-' or no FILE reads standard input.\n"
        "A refused frame prints its error code, name and the offending field; a\n"
        "connection would close there, so the rest of that FILE is not decoded.\n"
        "\n"
        "  --quiet   print only refusals and the summary\n"
        "\n"
        "Exit status: 0 every frame decoded, 1 a frame was refused or a FILE ended\n"
        "inside a frame, 2 usage or input error.\n"
        "\n"
        "Example:\n"
        "  bgframe decode tests/vectors/push.hex tests/vectors/err_huge_array_claim.hex\n",
        f);
}

/* Decode one input; returns 0 when every frame decoded, 1 otherwise. */
static int decode_input(const char *name, const uint8_t *p, size_t n, bool quiet,
                        unsigned *frames) {
  bg_fdec d;
  bg_fdec_init(&d, 0);
  bg_buf json = BG_BUF_INIT;
  int rc = 0;
  size_t off = 0;
  while (off < n && rc == 0) {
    size_t used, blen;
    const uint8_t *body;
    bg_err e = bg_fdec_feed(&d, p + off, n - off, &used, &body, &blen);
    if (e != BG_OK) {
      printf("%s @%zu: refused: %d %s: %s\n", name, off, e, bg_err_name(e), bg_err_message(e));
      rc = 1;
      break;
    }
    size_t start = off;
    off += used;
    if (body == NULL) continue;
    (*frames)++;
    bg_msg m;
    bg_msg_why why;
    e = bg_msg_decode(body, blen, &m, &why);
    if (e != BG_OK) {
      printf("%s @%zu: refused: %d %s: %s\n", name, start, e, bg_err_name(e),
             why.text[0] ? why.text : bg_err_message(e));
      rc = 1;
      break;
    }
    bg_buf_reset(&json);
    if (bg_msg_json(&m, &json) == BG_OK && !quiet)
      printf("%s @%zu (%zu bytes): %.*s\n", name, start, blen + BG_FRAME_HEADER, (int)json.len,
             (const char *)json.data);
    bg_msg_free(&m);
  }
  if (rc == 0 && bg_fdec_partial(&d)) {
    printf("%s: ends inside a frame (%zu bytes of it)\n", name, d.body.len);
    rc = 1;
  }
  bg_buf_free(&json);
  bg_fdec_free(&d);
  return rc;
}

int main(int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    usage(stdout);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
    printf("bgframe %s (protocol %u..%u)\n", BG_VERSION, BG_PROTO_VERSION_MIN, BG_PROTO_VERSION_MAX);
    return 0;
  }
  if (argc < 2 || strcmp(argv[1], "decode") != 0) {
    fprintf(stderr, argc < 2 ? "bgframe: missing command\n" : "bgframe: unknown command '%s'\n",
            argc < 2 ? "" : argv[1]);
    usage(stderr);
    return 2;
  }
  bool quiet = false;
  int first = 2;
  if (argc > 2 && strcmp(argv[2], "--quiet") == 0) {
    quiet = true;
    first = 3;
  }
  const char *stdin_only[] = {"-"};
  const char **files = argc > first ? (const char **)(argv + first) : stdin_only;
  int nfiles = argc > first ? argc - first : 1;
  int rc = 0;
  unsigned frames = 0, refused = 0;
  for (int i = 0; i < nfiles; i++) {
    uint8_t *raw;
    size_t len;
    if (bg_read_file(files[i], &raw, &len) != 0) return 2;
    uint8_t *bytes;
    size_t n;
    const char *slash = strrchr(files[i], '/');
    const char *name = slash ? slash + 1 : files[i];
    int r;
    if (bg_hex_text((const char *)raw, len, &bytes, &n) == 0) {
      r = decode_input(name, bytes, n, quiet, &frames);
      free(bytes);
    } else {
      r = decode_input(name, raw, len, quiet, &frames);
    }
    free(raw);
    if (r != 0) {
      refused++;
      rc = 1;
    }
  }
  printf("%u frame(s) read from %d input(s); %u input(s) refused\n", frames, nfiles, refused);
  return rc;
}
