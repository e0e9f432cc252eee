/*
 * msggen.h - random valid messages for property tests and benchmarks.
 *
 * bg_gen_msg fills a message of the requested type with random field values
 * that respect every protocol bound, drawing storage (writes, strings, vectors)
 * from the generator itself; the message is valid until the next call. Strings
 * come from a pool that wraps around when full: size it (bg_gen_init_pool) for
 * everything that must stay valid at once.
 */
#ifndef BG_MSGGEN_H
#define BG_MSGGEN_H

#include "bg_msg.h"
#include "testrand.h"

#define BG_GEN_WRITES 64
#define BG_GEN_TEXT (256 * 1024) /* default string pool */

typedef struct bg_gen {
  bg_rand r;
  bool realistic;          /* caseload-like texts and ids rather than edge cases */
  char *text;              /* string pool (heap) */
  size_t size;             /* bytes in the pool */
  size_t used;
  bg_write w[BG_GEN_WRITES];
  bg_dot ctx[BG_GEN_WRITES][8];
  bg_str strs[16];
  bg_reject rej[16];
} bg_gen;

/* Generator with the default pool; bg_gen_init_pool with `pool` bytes. Both
 * abort when out of memory (test code). Release with bg_gen_free. */
void bg_gen_init(bg_gen *g, uint64_t seed);
void bg_gen_init_pool(bg_gen *g, uint64_t seed, size_t pool);
void bg_gen_free(bg_gen *g);

/* A random valid message of type t; `nwrites` caps PUSH/CHANGES sizes (>= 1). */
void bg_gen_msg(bg_gen *g, bg_msg_type t, unsigned nwrites, bg_msg *m);

/* A random valid write. */
void bg_gen_write(bg_gen *g, bg_write *w, bg_dot *ctx);

/* Gives `w` some of `p`'s fields (and the dot after p's), as consecutive
 * writes of one device share them: what packed writes leave out. */
void bg_gen_like(bg_gen *g, bg_write *w, const bg_write *p);

#endif /* BG_MSGGEN_H */
