/*
 * bg_mp.h - internal MessagePack helpers shared by the message codec (and by
 * anything else in the product that reads or writes MessagePack).
 *
 * Three parts:
 *  - bg_mp_check: a scan of untrusted bytes *before* msgpack-c sees them.
 *    msgpack-c allocates room for the element count an array or map header
 *    claims, so a 6-byte body claiming 2^32 elements would ask for tens of
 *    gigabytes. The scan walks the value without allocating and refuses any
 *    length larger than the bytes left, nesting deeper than BG_MP_MAX_DEPTH, more
 *    than BG_MP_MAX_OBJECTS values, the never-used byte 0xc1, and trailing bytes.
 *    After it, msgpack-c's allocation is bounded by a small multiple of the body.
 *  - bg_mp_unpack: check, then unpack into a zone.
 *  - a packer that appends to a bg_buf, and typed readers for maps keyed by small
 *    unsigned integers, which turn every mismatch into a specific error and a
 *    sentence naming the field.
 */
#ifndef BG_MP_H
#define BG_MP_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* --- packing into a bg_buf ------------------------------------------------ */

typedef struct bg_mp_out {
  msgpack_packer pk;
  bg_buf *buf;
  bg_err err; /* first error (a full buffer); later writes are ignored */
} bg_mp_out;

/* Start packing at the end of `buf`. */
void bg_mp_out_init(bg_mp_out *o, bg_buf *buf);

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
