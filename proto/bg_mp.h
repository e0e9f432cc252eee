/*
 * bg_mp.h - internal MessagePack helpers shared by the message codec (and by
 * anything else in the product that reads or writes MessagePack).
 *
 * Four parts:
 *  - bg_mp_check: a scan of untrusted bytes *before* msgpack-c sees them.
 *    msgpack-c allocates room for the element count an array or map header
 *    claims, so a 6-byte body claiming 2^32 elements would ask for tens of
 *    gigabytes. The scan walks the value without allocating and refuses any
 *    length larger than the bytes left, nesting deeper than BG_MP_MAX_DEPTH, more
 *    than BG_MP_MAX_OBJECTS values, the never-used byte 0xc1, and trailing bytes.
 *    After it, msgpack-c's allocation is bounded by a small multiple of the body.
 *  - bg_mp_unpack: check, then unpack into a zone.
 *  - a writer that appends to a bg_buf, a cursor for reading back what the
 *    product stored itself, and typed readers for (untrusted) maps keyed by
 *    small unsigned integers, which turn every mismatch into a specific error
 *    and a sentence naming the field.
 */
#ifndef BG_MP_H
#define BG_MP_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bg_buf.h"
#include "bg_error.h"
#include "bg_msg.h"

/* Structural scan of one MessagePack value filling exactly `len` bytes.
 * BG_E_TRUNCATED, BG_E_TRAILING_BYTES, BG_E_TOO_DEEP, BG_E_TOO_MANY_OBJECTS,
 * BG_E_MALFORMED (0xc1, empty input). */
bg_err bg_mp_check(const uint8_t *p, size_t len);

/* bg_mp_check, then unpack with msgpack-c into a new zone (*zone, free with
 * msgpack_zone_free). Strings in *root point into `p`. */
bg_err bg_mp_unpack(const uint8_t *p, size_t len, msgpack_zone **zone, msgpack_object *root);

/* --- writing into a bg_buf ------------------------------------------------ */

/*
 * A MessagePack writer that appends to a bg_buf, always in the shortest form
 * (the same bytes msgpack-c's packer produces; test_mp checks it against it).
 * Our own rather than msgpack-c's packer because that one calls a function
 * pointer for every few bytes: encoding a write took 2,800 instructions through
 * it and takes a fraction of that here, and writes are encoded for every merge
 * (bench_merge). The first failure (BG_E_LIMIT, BG_E_NOMEM) is kept in `err`
 * and later puts do nothing, so a sequence of puts is checked once at the end.
 */
typedef struct bg_mp_out {
  bg_buf *buf;
  bg_err err;
} bg_mp_out;

/* Start writing at the end of `buf`. */
void bg_mp_out_init(bg_mp_out *o, bg_buf *buf);
void bg_mp_put_nil(bg_mp_out *o);
void bg_mp_put_bool(bg_mp_out *o, bool v);
void bg__mp_put_uint(bg_mp_out *o, uint64_t v);
/* Most numbers written are keys and small counts: one byte, inline. */
static inline void bg_mp_put_uint(bg_mp_out *o, uint64_t v) {
  bg_buf *b = o->buf;
  if (v <= 0x7f && b->len < b->cap && o->err == BG_OK) b->data[b->len++] = (uint8_t)v;
  else bg__mp_put_uint(o, v);
}
void bg_mp_put_int(bg_mp_out *o, int64_t v);
void bg__mp_put_array(bg_mp_out *o, uint32_t n);
/* Arrays of the engine's states are short (the fixarray form): inline too. */
static inline void bg_mp_put_array(bg_mp_out *o, uint32_t n) {
  bg_buf *b = o->buf;
  if (n < 16 && b->len < b->cap && o->err == BG_OK) b->data[b->len++] = (uint8_t)(0x90 | n);
  else bg__mp_put_array(o, n);
}
void bg_mp_put_map(bg_mp_out *o, uint32_t n);
void bg__mp_put_str(bg_mp_out *o, const void *p, uint32_t n);
/* Ids and short texts (under 32 bytes, the fixstr form) take the inline path. */
static inline void bg_mp_put_str(bg_mp_out *o, const void *p, uint32_t n) {
  bg_buf *b = o->buf;
  if (n < 32 && b->cap - b->len > n && o->err == BG_OK) {
    b->data[b->len] = (uint8_t)(0xa0 | n);
    if (n) memcpy(b->data + b->len + 1, p, n);
    b->len += 1 + (size_t)n;
  } else {
    bg__mp_put_str(o, p, n);
  }
}
void bg_mp_put_bin(bg_mp_out *o, const void *p, uint32_t n);

/* --- reading the product's own stored values ------------------------------- */

/*
 * A cursor over MessagePack that the product wrote itself (the engine's stored
 * states): reads exactly the expected shape without unpacking into a zone.
 * Every read checks bounds; a mismatch sets `bad` and makes every later read
 * fail, so a damaged store is reported (BG_E_CORRUPT), never read past.
 */
typedef struct bg_mp_in {
  const uint8_t *p, *end;
  bool bad;
} bg_mp_in;

void bg_mp_in_init(bg_mp_in *in, const uint8_t *p, size_t n);
bool bg__mp_read_array(bg_mp_in *in, uint32_t *n);
bool bg__mp_read_uint(bg_mp_in *in, uint64_t *v);
/* The short forms (fixarray, positive fixint) inline: most of what is read. */
static inline bool bg_mp_read_array(bg_mp_in *in, uint32_t *n) {
  if (!in->bad && in->p < in->end && (*in->p & 0xf0u) == 0x90) {
    *n = *in->p++ & 0x0fu;
    return true;
  }
  return bg__mp_read_array(in, n);
}
static inline bool bg_mp_read_uint(bg_mp_in *in, uint64_t *v) {
  if (!in->bad && in->p < in->end && *in->p <= 0x7f) {
    *v = *in->p++;
    return true;
  }
  return bg__mp_read_uint(in, v);
}
/* A bin value; *p points into the input. */
bool bg_mp_read_bin(bg_mp_in *in, const uint8_t **p, uint32_t *n);
/* A str value; *p points into the input. */
bool bg_mp_read_str(bg_mp_in *in, const uint8_t **p, uint32_t *n);
/* Whether every byte was read and nothing failed. */
bool bg_mp_in_done(const bg_mp_in *in);

/* --- reading maps keyed by small unsigned integers ------------------------ */

#define BG_MP_MAX_KEY 31u

typedef struct bg_mp_map {
  const msgpack_object *v[BG_MP_MAX_KEY + 1]; /* value per key, NULL when absent */
  const char *what;                           /* "PUSH", "write", ... for messages */
  bg_msg_why *why;                            /* may be NULL */
} bg_mp_map;

/* Index a map's known keys (0..max_key). Unknown keys (larger, or not unsigned
 * integers) are ignored; a known key twice is BG_E_DUPLICATE_KEY; a non-map is
 * BG_E_NOT_A_MAP. */
bg_err bg_mp_map_index(bg_mp_map *m, const msgpack_object *o, unsigned max_key,
                       const char *what, bg_msg_why *why);

/* Record a failure detail: "<what>.<name>: <text>". Returns `e`. */
bg_err bg_mp_fail(const bg_mp_map *m, const char *name, bg_err e, const char *text);

/* Typed field readers. `required` fields missing give BG_E_MISSING_FIELD;
 * optional missing ones yield the default (0, false, empty). */
bg_err bg_mp_get_uint(const bg_mp_map *m, unsigned key, const char *name, bool required,
                      uint64_t min, uint64_t max, uint64_t *out);
bg_err bg_mp_get_bool(const bg_mp_map *m, unsigned key, const char *name, bool required,
                      bool *out);
/* UTF-8 string of min..max bytes. */
bg_err bg_mp_get_str(const bg_mp_map *m, unsigned key, const char *name, bool required,
                     uint32_t min, uint32_t max, bg_str *out);
/* Binary of min..max bytes. */
bg_err bg_mp_get_bin(const bg_mp_map *m, unsigned key, const char *name, bool required,
                     uint32_t min, uint32_t max, bg_str *out);
/* Array of min..max elements. */
bg_err bg_mp_get_array(const bg_mp_map *m, unsigned key, const char *name, bool required,
                       uint32_t min, uint32_t max, const msgpack_object_array **out);
/* Any scalar value: nil, bool, integer, UTF-8 string, binary (<= BG_VALUE_MAX). */
bg_err bg_mp_get_value(const bg_mp_map *m, unsigned key, const char *name, bg_value *out);

/* Read an unsigned integer element of an array (used for tuples such as dots). */
bool bg_mp_as_uint(const msgpack_object *o, uint64_t *out);

#endif /* BG_MP_H */
