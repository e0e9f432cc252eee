/* bg_buf.c - growable byte buffer (see bg_buf.h). */
#include "bg_buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void bg_buf_init(bg_buf *b, size_t limit) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->limit = limit;
}

void bg_buf_free(bg_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void bg_buf_reset(bg_buf *b) { b->len = 0; }

bg_err bg_buf_reserve(bg_buf *b, size_t extra) {
  if (extra > SIZE_MAX - b->len) return BG_E_LIMIT;
  size_t need = b->len + extra;
  if (b->limit != 0 && need > b->limit) return BG_E_LIMIT;
  if (need <= b->cap) return BG_OK;
  /* Doubling keeps appends amortised O(1); the limit caps the last step. */
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if (b->limit != 0 && cap > b->limit) cap = b->limit;
  uint8_t *p = realloc(b->data, cap);
  if (p == NULL) return BG_E_NOMEM;
  b->data = p;
  b->cap = cap;
  return BG_OK;
}

bg_err bg_buf_append(bg_buf *b, const void *p, size_t n) {
  if (n == 0) return BG_OK;
  if (n <= b->cap - b->len) { /* the common case: room already there */
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return BG_OK;
  }
  bg_err e = bg_buf_reserve(b, n);
  if (e != BG_OK) return e;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return BG_OK;
}

void bg_buf_consume(bg_buf *b, size_t n) {
  assert(n <= b->len);
  if (n == 0) return; /* also: an empty buffer has no data pointer to offset */
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}
