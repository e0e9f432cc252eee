/*
 * bg_frame.h - framing: a 4-byte big-endian body length, then the body.
 *
 * The body is one MessagePack value (see bg_msg.h). A frame's body is 1 to
 * BG_FRAME_MAX bytes; a server may accept less (WELCOME.max_frame). The decoder is
 * incremental: feed it bytes in chunks of any size, one byte at a time included,
 * and it yields whole frame bodies. Memory it holds is bounded by the bytes that
 * actually arrived, never by a length a peer merely claimed.
 *
 * What this module does not do: interpret bodies (bg_msg.h), or touch sockets.
 */
#ifndef BG_FRAME_H
#define BG_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_buf.h"
#include "bg_error.h"

/* Hard maximum size of a frame body: 4 MiB. Part of the protocol specification. */
#define BG_FRAME_MAX (4u * 1024u * 1024u)
#define BG_FRAME_HEADER 4u

typedef struct bg_fdec {
  uint32_t max;       /* largest body accepted */
  uint32_t need;      /* body length of the frame being read (valid once hdr_have == 4) */
  uint8_t hdr[4];     /* length prefix collected so far */
  uint8_t hdr_have;   /* bytes of hdr collected */
  bool yielded;       /* body was handed out by the last call: reset on the next */
  bg_err err;         /* sticky: once set, every later feed returns it */
  bg_buf body;        /* body bytes collected (only when a frame spans feeds) */
} bg_fdec;

/* Decoder accepting bodies of 1..max bytes (max 0 or above BG_FRAME_MAX selects
 * BG_FRAME_MAX). Allocates nothing yet. */
void bg_fdec_init(bg_fdec *d, uint32_t max);

/* Release the decoder's memory. */
void bg_fdec_free(bg_fdec *d);

/*
 * Feed `n` bytes at `p`. Consumes bytes up to the end of at most one frame and
 * stores the count in *used (so call again with the rest while *used < n).
 * When a frame completes, *body and *body_len describe it and *body is non-NULL;
 * otherwise *body is NULL. The body stays valid until the next call to
 * bg_fdec_feed or bg_fdec_free, and - when it points into `p` (a frame that
 * arrived whole in one chunk is not copied) - only while the caller's bytes live.
 *
 * Errors: BG_E_FRAME_EMPTY (length 0), BG_E_FRAME_TOO_LARGE (length > max),
 * BG_E_NOMEM. Errors are sticky: the stream cannot be resynchronised, the
 * connection must close.
 */
bg_err bg_fdec_feed(bg_fdec *d, const uint8_t *p, size_t n, size_t *used,
                    const uint8_t **body, size_t *body_len);

/* Whether the decoder holds part of a frame (bytes fed but no frame yielded). */
bool bg_fdec_partial(const bg_fdec *d);

/*
 * Writing a frame into a buffer: bg_frame_begin reserves the length prefix and
 * returns its offset in *mark; append the body; bg_frame_end fills in the length.
 * bg_frame_end fails with BG_E_FRAME_EMPTY or BG_E_FRAME_TOO_LARGE (body > max)
 * and then removes the unfinished frame from the buffer, so a buffer never holds
 * half a frame. bg_frame_abort removes it on the caller's own errors.
 */
bg_err bg_frame_begin(bg_buf *b, size_t *mark);
bg_err bg_frame_end(bg_buf *b, size_t mark, uint32_t max);
void bg_frame_abort(bg_buf *b, size_t mark);

/* Append a whole frame holding an already encoded body. */
bg_err bg_frame_write(bg_buf *b, const uint8_t *body, size_t len, uint32_t max);

#endif /* BG_FRAME_H */
