/*
 * bg_frame.c - length-prefixed framing (see bg_frame.h).
 *
 * The decoder is a two-state machine: collecting the 4-byte header, then
 * collecting `need` body bytes. A frame that arrives whole inside one chunk is
 * handed out in place, without a copy; only a frame spread over several chunks is
 * gathered in d->body, which grows with the bytes that arrive (never to the
 * claimed length up front), so a peer that announces 4 MiB and sends 10 bytes
 * costs us 10 bytes.
 */
#include "bg_frame.h"

#include <assert.h>
#include <string.h>

void bg_fdec_init(bg_fdec *d, uint32_t max) {
  d->max = (max == 0 || max > BG_FRAME_MAX) ? BG_FRAME_MAX : max;
  d->need = 0;
  d->hdr_have = 0;
  d->yielded = false;
  d->err = BG_OK;
  bg_buf_init(&d->body, 0);
}

void bg_fdec_free(bg_fdec *d) { bg_buf_free(&d->body); }

bool bg_fdec_partial(const bg_fdec *d) { return d->hdr_have > 0 && !d->yielded; }

bg_err bg_fdec_feed(bg_fdec *d, const uint8_t *p, size_t n, size_t *used,
                    const uint8_t **body, size_t *body_len) {
  *used = 0;
  *body = NULL;
  *body_len = 0;
  if (d->err != BG_OK) return d->err;
  if (d->yielded) {
    d->yielded = false;
    d->hdr_have = 0;
    bg_buf_reset(&d->body);
  }
  size_t i = 0;
  if (d->hdr_have < BG_FRAME_HEADER) {
    while (d->hdr_have < BG_FRAME_HEADER && i < n) d->hdr[d->hdr_have++] = p[i++];
    *used = i;
    if (d->hdr_have < BG_FRAME_HEADER) return BG_OK;
    uint32_t len = ((uint32_t)d->hdr[0] << 24) | ((uint32_t)d->hdr[1] << 16) |
                   ((uint32_t)d->hdr[2] << 8) | d->hdr[3];
    if (len == 0) return d->err = BG_E_FRAME_EMPTY;
    if (len > d->max) return d->err = BG_E_FRAME_TOO_LARGE;
    d->need = len;
  }
  size_t avail = n - i;
  if (d->body.len == 0 && avail >= d->need) {
    /* Whole body inside this chunk: hand it out in place. */
    *body = p + i;
    *body_len = d->need;
    *used = i + d->need;
    d->hdr_have = 0;
    return BG_OK;
  }
  size_t take = d->need - d->body.len < avail ? d->need - d->body.len : avail;
  bg_err e = bg_buf_append(&d->body, p + i, take);
  if (e != BG_OK) return d->err = e;
  *used = i + take;
  if (d->body.len == d->need) {
    *body = d->body.data;
    *body_len = d->need;
    d->yielded = true;
  }
  return BG_OK;
}

bg_err bg_frame_begin(bg_buf *b, size_t *mark) {
  static const uint8_t zero[BG_FRAME_HEADER] = {0};
  *mark = b->len;
  return bg_buf_append(b, zero, sizeof zero);
}

void bg_frame_abort(bg_buf *b, size_t mark) {
  assert(mark <= b->len);
  b->len = mark;
}

bg_err bg_frame_end(bg_buf *b, size_t mark, uint32_t max) {
  assert(mark + BG_FRAME_HEADER <= b->len);
  if (max == 0 || max > BG_FRAME_MAX) max = BG_FRAME_MAX;
  size_t len = b->len - mark - BG_FRAME_HEADER;
  bg_err e = BG_OK;
  if (len == 0) e = BG_E_FRAME_EMPTY;
  else if (len > max) e = BG_E_FRAME_TOO_LARGE;
  if (e != BG_OK) {
    bg_frame_abort(b, mark);
    return e;
  }
  uint8_t *h = b->data + mark;
  h[0] = (uint8_t)(len >> 24);
  h[1] = (uint8_t)(len >> 16);
  h[2] = (uint8_t)(len >> 8);
  h[3] = (uint8_t)len;
  return BG_OK;
}

bg_err bg_frame_write(bg_buf *b, const uint8_t *body, size_t len, uint32_t max) {
  size_t mark;
  bg_err e = bg_frame_begin(b, &mark);
  if (e != BG_OK) return e;
  e = bg_buf_append(b, body, len);
  if (e != BG_OK) {
    bg_frame_abort(b, mark);
    return e;
  }
  return bg_frame_end(b, mark, max);
}
