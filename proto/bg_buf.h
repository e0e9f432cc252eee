/*
 * bg_buf.h - a growable byte buffer that the caller owns.
 *
 * Encoders append into a bg_buf; the caller decides when to reset or free it, so a
 * connection can reuse one buffer for every frame it sends. A buffer may carry a
 * limit: growth past it fails with BG_E_LIMIT instead of allocating, so a peer can
 * never make us hold more than we chose to.
 */
#ifndef BG_BUF_H
#define BG_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "bg_error.h"

typedef struct bg_buf {
  uint8_t *data; /* heap, owned by the buffer; NULL while empty */
  size_t len;    /* bytes in use */
  size_t cap;    /* bytes allocated */
  size_t limit;  /* maximum len; 0 = no limit */
} bg_buf;

#define BG_BUF_INIT {NULL, 0, 0, 0}

/* Initialise an empty buffer; `limit` 0 means unbounded. Allocates nothing. */
void bg_buf_init(bg_buf *b, size_t limit);

/* Release the memory; the buffer is empty (and reusable) afterwards. */
void bg_buf_free(bg_buf *b);

/* Forget the contents, keep the allocation. */
void bg_buf_reset(bg_buf *b);

/* Make room for `extra` more bytes. BG_E_LIMIT past the limit, BG_E_NOMEM. */
bg_err bg_buf_reserve(bg_buf *b, size_t extra);

/* Append `n` bytes. On error the buffer is unchanged. */
bg_err bg_buf_append(bg_buf *b, const void *p, size_t n);

/* Drop the first `n` bytes (n <= len), moving the rest to the front. */
void bg_buf_consume(bg_buf *b, size_t n);

#endif /* BG_BUF_H */
