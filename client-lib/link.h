/*
 * link.h - the transport a sync session speaks through (client-lib internal).
 *
 * sync.c knows nothing of sockets or TLS: it sends messages as frames, ends
 * the session with a result, and hears back through three callbacks. net.c
 * (TLS over TCP on libuv) is the production implementation; the full-stack
 * simulation (tools/bgfullsim.c) implements the same interface with in-memory
 * queues, so the real session code runs against the real daemon code with a
 * simulated network in between.
 *
 * The contract an implementation keeps:
 *  - on_ready once, when frames may flow; then on_frame per frame body
 *    received, in order; neither after the link ended;
 *  - send queues one message as one frame behind those sent before; after the
 *    end it fails with BG_E_CONNECTION_LOST;
 *  - end(e, why): only the first call (or the transport's own failure, which
 *    sets result and why) counts; frames sent before it still leave;
 *  - on_closed exactly once, after the end, never from inside send or end:
 *    `result` and `why` then say how it ended (BG_OK: an orderly end), and
 *    the owner may let go of the link.
 */
#ifndef BGSYNC_LINK_H
#define BGSYNC_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_error.h"
#include "bg_msg.h"

typedef struct bgs_link bgs_link;

typedef struct bgs_link_cbs {
  void (*on_ready)(bgs_link *l);                                   /* frames may flow */
  void (*on_frame)(bgs_link *l, const uint8_t *body, size_t len);  /* one frame body */
  void (*on_closed)(bgs_link *l);                                  /* the end; l->result */
} bgs_link_cbs;

typedef struct bgs_link_ops {
  bg_err (*send)(bgs_link *l, const bg_msg *m);
  void (*end)(bgs_link *l, bg_err e, const char *why); /* why may be NULL */
} bgs_link_ops;

struct bgs_link {
  const bgs_link_ops *ops;     /* the implementation's */
  bgs_link_cbs cbs;            /* the owner's */
  void *data;                  /* the owner's */
  bool ended;                  /* no more frames either way */
  bg_err result;               /* why it ended (BG_OK: an orderly end) */
  char why[384];
  uint64_t sent, received;     /* bytes on the wire */
};

static inline bg_err bgs_link_send(bgs_link *l, const bg_msg *m) { return l->ops->send(l, m); }
static inline void bgs_link_end(bgs_link *l, bg_err e, const char *why) { l->ops->end(l, e, why); }

#endif /* BGSYNC_LINK_H */
