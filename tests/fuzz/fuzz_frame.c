/*
 * fuzz_frame - libFuzzer target: a byte stream through the frame decoder, in
 * chunks whose size follows from the input length (1 byte at a time included),
 * every complete body through the message decoder (see fuzz_check.h).
 */
#include <stddef.h>
#include <stdint.h>

#include "bg_frame.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t chunks[] = {SIZE_MAX, 1, 2, 3, 7, 64, 4096};
  size_t chunk = chunks[size % (sizeof chunks / sizeof chunks[0])];
  bg_fdec d;
  bg_fdec_init(&d, 0);
  size_t off = 0;
  while (off < size) {
    size_t n = size - off < chunk ? size - off : chunk;
    size_t used;
    const uint8_t *body;
    size_t blen;
    bg_err e = bg_fdec_feed(&d, data + off, n, &used, &body, &blen);
    if (e != BG_OK) break; /* the connection would close here */
    if (used == 0) bg_fuzz_die("frame decoder made no progress", e);
    off += used;
    if (body != NULL) bg_fuzz_check_body(body, blen);
  }
  bg_fdec_free(&d);
  return 0;
}
