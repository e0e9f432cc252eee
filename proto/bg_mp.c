/*
 * bg_mp.c - MessagePack scan, packing into bg_buf, typed map readers (bg_mp.h).
 */
#include "bg_mp.h"

#include <stdio.h>
#include <string.h>

/* --- the structural scan ------------------------------------------------- */

static uint64_t bg__be(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

/*
 * Classify the value starting at p[0] (at least one byte is there). Sets either
 * *payload (bytes after the first byte that belong to this scalar value) or
 * *count (values inside this array or map, counting keys and values).
 * `left` is the number of bytes available from p[0] on.
 */
static bg_err bg__mp_head(const uint8_t *p, size_t left, uint64_t *payload, uint64_t *count,
                          bool *container) {
  uint8_t b = p[0];
  unsigned lenbytes = 0; /* width of a length field that follows the type byte */
  uint64_t extra = 0;    /* fixed bytes after the length field (ext type byte) */
  *container = false;
  *payload = 0;
  *count = 0;
  if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return BG_OK;
  if (b >= 0x80 && b <= 0x8f) { *container = true; *count = 2u * (b & 0x0fu); return BG_OK; }
  if (b >= 0x90 && b <= 0x9f) { *container = true; *count = b & 0x0fu; return BG_OK; }
  if (b >= 0xa0 && b <= 0xbf) { *payload = b & 0x1fu; return BG_OK; }
  switch (b) {
    case 0xc1: return BG_E_MALFORMED; /* never used by the format */
    case 0xc4: case 0xd9: lenbytes = 1; break; /* bin8, str8 */
    case 0xc5: case 0xda: lenbytes = 2; break; /* bin16, str16 */
    case 0xc6: case 0xdb: lenbytes = 4; break; /* bin32, str32 */
    case 0xc7: lenbytes = 1; extra = 1; break; /* ext8 */
    case 0xc8: lenbytes = 2; extra = 1; break; /* ext16 */
    case 0xc9: lenbytes = 4; extra = 1; break; /* ext32 */
    case 0xca: *payload = 4; return BG_OK;     /* float32 */
    case 0xcb: *payload = 8; return BG_OK;     /* float64 */
    case 0xcc: case 0xd0: *payload = 1; return BG_OK;
    case 0xcd: case 0xd1: *payload = 2; return BG_OK;
    case 0xce: case 0xd2: *payload = 4; return BG_OK;
    case 0xcf: case 0xd3: *payload = 8; return BG_OK;
    case 0xd4: *payload = 2; return BG_OK;  /* fixext 1: type + 1 */
    case 0xd5: *payload = 3; return BG_OK;
    case 0xd6: *payload = 5; return BG_OK;
    case 0xd7: *payload = 9; return BG_OK;
    case 0xd8: *payload = 17; return BG_OK;
    case 0xdc: case 0xdd: case 0xde: case 0xdf: {
      unsigned w = (b == 0xdc || b == 0xde) ? 2 : 4;
      if (left - 1 < w) return BG_E_TRUNCATED;
      uint64_t n = bg__be(p + 1, w);
      *container = true;
      *count = (b >= 0xde) ? 2 * n : n;
      *payload = w; /* the count field itself */
      return BG_OK;
    }
    default: return BG_E_MALFORMED; /* unreachable: every byte is covered above */
  }
  if (left - 1 < lenbytes) return BG_E_TRUNCATED;
  *payload = lenbytes + extra + bg__be(p + 1, lenbytes);
  return BG_OK;
}

bg_err bg_mp_check(const uint8_t *p, size_t len) {
  if (len == 0) return BG_E_MALFORMED;
  /* remaining[d]: values still to read in the container open at depth d
   * (depth 0 is the top level, which holds exactly one value). */
  uint64_t remaining[BG_MP_MAX_DEPTH + 1];
  unsigned depth = 0;
  uint64_t objects = 0;
  size_t pos = 0;
  remaining[0] = 1;
  for (;;) {
    while (remaining[depth] == 0) {
      if (depth == 0) return pos == len ? BG_OK : BG_E_TRAILING_BYTES;
      depth--;
    }
    remaining[depth]--;
    if (pos >= len) return BG_E_TRUNCATED;
    if (++objects > BG_MP_MAX_OBJECTS) return BG_E_TOO_MANY_OBJECTS;
    uint64_t payload, count;
    bool container;
    bg_err e = bg__mp_head(p + pos, len - pos, &payload, &count, &container);
    if (e != BG_OK) return e;
    size_t left = len - pos - 1;
    if (payload > left) return BG_E_TRUNCATED;
    pos += 1 + (size_t)payload;
    if (container) {
      /* Each value takes at least one byte: a count beyond the bytes left is a
       * lie, refused before anything is allocated for it. */
      if (count > len - pos) return BG_E_TRUNCATED;
      /* The container's own level counts, empty or not. */
      if (depth + 1 > BG_MP_MAX_DEPTH) return BG_E_TOO_DEEP;
      if (count == 0) continue;
      remaining[++depth] = count;
    }
  }
}

bg_err bg_mp_unpack(const uint8_t *p, size_t len, msgpack_zone **zone, msgpack_object *root) {
  bg_err e = bg_mp_check(p, len);
  if (e != BG_OK) return e;
  msgpack_zone *z = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
  if (z == NULL) return BG_E_NOMEM;
  size_t off = 0;
  msgpack_unpack_return r = msgpack_unpack((const char *)p, len, &off, z, root);
  if (r == MSGPACK_UNPACK_SUCCESS && off == len) {
    *zone = z;
    return BG_OK;
  }
  msgpack_zone_free(z);
  if (r == MSGPACK_UNPACK_NOMEM_ERROR) return BG_E_NOMEM;
  /* The scan accepted what msgpack-c refuses: they disagree on the format. */
  return BG_E_MALFORMED;
}

/* --- writing ----------------------------------------------------------------- */

void bg_mp_out_init(bg_mp_out *o, bg_buf *buf) {
  o->buf = buf;
  o->err = BG_OK;
}

/* Room for n more bytes at the end of the buffer (NULL after any failure). */
static uint8_t *bg__room(bg_mp_out *o, size_t n) {
  bg_buf *b = o->buf;
  if (o->err != BG_OK) return NULL;
  if (n > b->cap - b->len) {
    bg_err e = bg_buf_reserve(b, n);
    if (e != BG_OK) {
      o->err = e;
      return NULL;
    }
  }
  uint8_t *p = b->data + b->len;
  b->len += n;
  return p;
}

/* A type byte, an n-byte big-endian number, then `blen` bytes of body - all or
 * nothing, so a failed put leaves the buffer as it was. */
static void bg__put(bg_mp_out *o, uint8_t type, uint64_t v, unsigned n, const void *body, uint32_t blen) {
  uint8_t *p = bg__room(o, 1 + n + (size_t)blen);
  if (p == NULL) return;
  p[0] = type;
  for (unsigned i = 0; i < n; i++) p[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
  if (blen > 0) memcpy(p + 1 + n, body, blen);
}

/* A length header in its shortest form - fix | len below `fixmax`, then the
 * 8/16/32-bit forms (t8 == 0: none, as for arrays and maps) - and the body. */
static void bg__put_len(bg_mp_out *o, uint8_t fix, uint32_t fixmax, uint8_t t8, uint8_t t16, uint8_t t32,
                        uint32_t len, const void *body, uint32_t blen) {
  if (len < fixmax) bg__put(o, (uint8_t)(fix | len), 0, 0, body, blen);
  else if (t8 && len <= 0xff) bg__put(o, t8, len, 1, body, blen);
  else if (len <= 0xffff) bg__put(o, t16, len, 2, body, blen);
  else bg__put(o, t32, len, 4, body, blen);
}

void bg_mp_put_nil(bg_mp_out *o) { bg__put(o, 0xc0, 0, 0, NULL, 0); }
void bg_mp_put_bool(bg_mp_out *o, bool v) { bg__put(o, v ? 0xc3 : 0xc2, 0, 0, NULL, 0); }

void bg__mp_put_uint(bg_mp_out *o, uint64_t v) {
  if (v <= 0x7f) bg__put(o, (uint8_t)v, 0, 0, NULL, 0);
  else if (v <= 0xff) bg__put(o, 0xcc, v, 1, NULL, 0);
  else if (v <= 0xffff) bg__put(o, 0xcd, v, 2, NULL, 0);
  else if (v <= 0xffffffffu) bg__put(o, 0xce, v, 4, NULL, 0);
  else bg__put(o, 0xcf, v, 8, NULL, 0);
}

void bg_mp_put_int(bg_mp_out *o, int64_t v) {
  if (v >= 0) bg_mp_put_uint(o, (uint64_t)v);
  else if (v >= -32) bg__put(o, (uint8_t)v, 0, 0, NULL, 0);
  else if (v >= INT8_MIN) bg__put(o, 0xd0, (uint64_t)v, 1, NULL, 0);
  else if (v >= INT16_MIN) bg__put(o, 0xd1, (uint64_t)v, 2, NULL, 0);
  else if (v >= INT32_MIN) bg__put(o, 0xd2, (uint64_t)v, 4, NULL, 0);
  else bg__put(o, 0xd3, (uint64_t)v, 8, NULL, 0);
}

void bg__mp_put_array(bg_mp_out *o, uint32_t n) { bg__put_len(o, 0x90, 16, 0, 0xdc, 0xdd, n, NULL, 0); }
void bg_mp_put_map(bg_mp_out *o, uint32_t n) { bg__put_len(o, 0x80, 16, 0, 0xde, 0xdf, n, NULL, 0); }
void bg__mp_put_str(bg_mp_out *o, const void *p, uint32_t n) { bg__put_len(o, 0xa0, 32, 0xd9, 0xda, 0xdb, n, p, n); }
/* bin has no fix form: with fixmax 0 the 8-bit form is the shortest. */
void bg_mp_put_bin(bg_mp_out *o, const void *p, uint32_t n) { bg__put_len(o, 0, 0, 0xc4, 0xc5, 0xc6, n, p, n); }

/* --- reading stored values ------------------------------------------------------ */

void bg_mp_in_init(bg_mp_in *in, const uint8_t *p, size_t n) {
  in->p = p;
  in->end = p + n;
  in->bad = false;
}

/* Take n bytes (NULL, and bad, when fewer are left). */
static const uint8_t *bg__take(bg_mp_in *in, size_t n) {
  if (in->bad || (size_t)(in->end - in->p) < n) {
    in->bad = true;
    return NULL;
  }
  const uint8_t *p = in->p;
  in->p += n;
  return p;
}

/* The type byte and, for a `width`-byte argument, that argument. */
static bool bg__arg(bg_mp_in *in, unsigned width, uint64_t *v) {
  const uint8_t *p = bg__take(in, width);
  if (p == NULL) return false;
  *v = bg__be(p, width);
  return true;
}

bool bg__mp_read_array(bg_mp_in *in, uint32_t *n) {
  const uint8_t *t = bg__take(in, 1);
  uint64_t v = 0;
  if (t == NULL) return false;
  if (*t >= 0x90 && *t <= 0x9f) v = *t & 0x0fu;
  else if (*t == 0xdc) { if (!bg__arg(in, 2, &v)) return false; }
  else if (*t == 0xdd) { if (!bg__arg(in, 4, &v)) return false; }
  else return !(in->bad = true);
  *n = (uint32_t)v;
  return true;
}

bool bg__mp_read_uint(bg_mp_in *in, uint64_t *v) {
  const uint8_t *t = bg__take(in, 1);
  if (t == NULL) return false;
  if (*t <= 0x7f) { *v = *t; return true; }
  if (*t >= 0xcc && *t <= 0xcf) return bg__arg(in, 1u << (*t - 0xcc), v);
  return !(in->bad = true);
}

bool bg_mp_read_bin(bg_mp_in *in, const uint8_t **p, uint32_t *n) {
  const uint8_t *t = bg__take(in, 1);
  uint64_t len;
  if (t == NULL) return false;
  if (*t < 0xc4 || *t > 0xc6) return !(in->bad = true);
  if (!bg__arg(in, 1u << (*t - 0xc4), &len)) return false;
  if ((*p = bg__take(in, (size_t)len)) == NULL) return false;
  *n = (uint32_t)len;
  return true;
}

bool bg_mp_read_str(bg_mp_in *in, const uint8_t **p, uint32_t *n) {
  const uint8_t *t = bg__take(in, 1);
  uint64_t len;
  if (t == NULL) return false;
  if (*t >= 0xa0 && *t <= 0xbf) len = *t & 0x1fu;
  else if (*t >= 0xd9 && *t <= 0xdb) { if (!bg__arg(in, 1u << (*t - 0xd9), &len)) return false; }
  else return !(in->bad = true);
  if ((*p = bg__take(in, (size_t)len)) == NULL) return false;
  *n = (uint32_t)len;
  return true;
}

bool bg_mp_in_done(const bg_mp_in *in) { return !in->bad && in->p == in->end; }

/* --- UTF-8 ------------------------------------------------------------------ */

bool bg_utf8_valid(const char *s, size_t len) {
  const uint8_t *p = (const uint8_t *)s;
  size_t i = 0;
  while (i < len) {
    /* Most text is ASCII: skip it eight bytes at a time. */
    while (len - i >= 8) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if (w & UINT64_C(0x8080808080808080)) break;
      i += 8;
    }
    if (i >= len) break;
    uint8_t c = p[i];
    if (c < 0x80) { i++; continue; }
    size_t n;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1fu; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0fu; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07u; min = 0x10000; }
    else return false;
    if (len - i - 1 < n) return false;
    for (size_t k = 1; k <= n; k++) {
      if ((p[i + k] & 0xc0u) != 0x80u) return false;
      cp = (cp << 6) | (p[i + k] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

/* --- typed readers ---------------------------------------------------------- */

bg_err bg_mp_fail(const bg_mp_map *m, const char *name, bg_err e, const char *text) {
  if (m->why != NULL) {
    snprintf(m->why->text, sizeof m->why->text, "%s%s%s: %s", m->what, *name ? "." : "", name, text);
  }
  return e;
}

bg_err bg_mp_map_index(bg_mp_map *m, const msgpack_object *o, unsigned max_key,
                       const char *what, bg_msg_why *why) {
  memset(m->v, 0, sizeof m->v);
  m->what = what;
  m->why = why;
  if (o->type != MSGPACK_OBJECT_MAP) return bg_mp_fail(m, "", BG_E_NOT_A_MAP, "expected a map");
  if (max_key > BG_MP_MAX_KEY) max_key = BG_MP_MAX_KEY;
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object_kv *kv = &o->via.map.ptr[i];
    if (kv->key.type != MSGPACK_OBJECT_POSITIVE_INTEGER || kv->key.via.u64 > max_key) continue;
    unsigned k = (unsigned)kv->key.via.u64;
    if (m->v[k] != NULL) {
      char t[48];
      snprintf(t, sizeof t, "key %u appears twice", k);
      return bg_mp_fail(m, "", BG_E_DUPLICATE_KEY, t);
    }
    m->v[k] = &kv->val;
  }
  return BG_OK;
}

static const msgpack_object *bg__mp_field(const bg_mp_map *m, unsigned key, const char *name,
                                          bool required, bg_err *e) {
  *e = BG_OK;
  const msgpack_object *o = key <= BG_MP_MAX_KEY ? m->v[key] : NULL;
  if (o == NULL && required) *e = bg_mp_fail(m, name, BG_E_MISSING_FIELD, "required field missing");
  return o;
}

bool bg_mp_as_uint(const msgpack_object *o, uint64_t *out) {
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) return false;
  *out = o->via.u64;
  return true;
}

bg_err bg_mp_get_uint(const bg_mp_map *m, unsigned key, const char *name, bool required,
                      uint64_t min, uint64_t max, uint64_t *out) {
  bg_err e;
  const msgpack_object *o = bg__mp_field(m, key, name, required, &e);
  *out = 0;
  if (o == NULL) return e;
  if (!bg_mp_as_uint(o, out)) return bg_mp_fail(m, name, BG_E_FIELD_TYPE, "expected an unsigned integer");
  if (*out < min || *out > max) {
    char t[96];
    snprintf(t, sizeof t, "%llu outside %llu..%llu", (unsigned long long)*out,
             (unsigned long long)min, (unsigned long long)max);
    return bg_mp_fail(m, name, BG_E_FIELD_RANGE, t);
  }
  return BG_OK;
}

bg_err bg_mp_get_bool(const bg_mp_map *m, unsigned key, const char *name, bool required,
                      bool *out) {
  bg_err e;
  const msgpack_object *o = bg__mp_field(m, key, name, required, &e);
  *out = false;
  if (o == NULL) return e;
  if (o->type != MSGPACK_OBJECT_BOOLEAN) return bg_mp_fail(m, name, BG_E_FIELD_TYPE, "expected a boolean");
  *out = o->via.boolean;
  return BG_OK;
}

static bg_err bg__mp_len_check(const bg_mp_map *m, const char *name, uint32_t len,
                               uint32_t min, uint32_t max) {
  if (len > max) {
    char t[64];
    snprintf(t, sizeof t, "%u bytes, at most %u allowed", len, max);
    return bg_mp_fail(m, name, BG_E_LIMIT, t);
  }
  if (len < min) return bg_mp_fail(m, name, BG_E_FIELD_RANGE, "too short");
  return BG_OK;
}

/* A string (UTF-8 checked) or a binary of min..max bytes. */
static bg_err bg__mp_get_bytes(const bg_mp_map *m, unsigned key, const char *name, bool required,
                               uint32_t min, uint32_t max, bool text, bg_str *out) {
  bg_err e;
  const msgpack_object *o = bg__mp_field(m, key, name, required, &e);
  out->p = "";
  out->len = 0;
  if (o == NULL) return e != BG_OK ? e : bg__mp_len_check(m, name, 0, min, max);
  if (o->type != (text ? MSGPACK_OBJECT_STR : MSGPACK_OBJECT_BIN))
    return bg_mp_fail(m, name, BG_E_FIELD_TYPE, text ? "expected a string" : "expected binary");
  uint32_t size = text ? o->via.str.size : o->via.bin.size;
  const char *ptr = text ? o->via.str.ptr : o->via.bin.ptr;
  e = bg__mp_len_check(m, name, size, min, max);
  if (e != BG_OK) return e;
  if (text && !bg_utf8_valid(ptr, size)) return bg_mp_fail(m, name, BG_E_UTF8, "not valid UTF-8");
  out->p = size ? ptr : "";
  out->len = size;
  return BG_OK;
}

bg_err bg_mp_get_str(const bg_mp_map *m, unsigned key, const char *name, bool required,
                     uint32_t min, uint32_t max, bg_str *out) {
  return bg__mp_get_bytes(m, key, name, required, min, max, true, out);
}

bg_err bg_mp_get_bin(const bg_mp_map *m, unsigned key, const char *name, bool required,
                     uint32_t min, uint32_t max, bg_str *out) {
  return bg__mp_get_bytes(m, key, name, required, min, max, false, out);
}

bg_err bg_mp_get_array(const bg_mp_map *m, unsigned key, const char *name, bool required,
                       uint32_t min, uint32_t max, const msgpack_object_array **out) {
  static const msgpack_object_array empty = {0, NULL};
  bg_err e;
  const msgpack_object *o = bg__mp_field(m, key, name, required, &e);
  *out = &empty;
  if (o == NULL) {
    if (e != BG_OK) return e;
    return min > 0 ? bg_mp_fail(m, name, BG_E_FIELD_RANGE, "too few elements") : BG_OK;
  }
  if (o->type != MSGPACK_OBJECT_ARRAY) return bg_mp_fail(m, name, BG_E_FIELD_TYPE, "expected an array");
  if (o->via.array.size > max) {
    char t[64];
    snprintf(t, sizeof t, "%u elements, at most %u allowed", o->via.array.size, max);
    return bg_mp_fail(m, name, BG_E_LIMIT, t);
  }
  if (o->via.array.size < min) return bg_mp_fail(m, name, BG_E_FIELD_RANGE, "too few elements");
  *out = &o->via.array;
  return BG_OK;
}

bg_err bg_mp_get_value(const bg_mp_map *m, unsigned key, const char *name, bg_value *out) {
  bg_err e;
  const msgpack_object *o = bg__mp_field(m, key, name, false, &e);
  memset(out, 0, sizeof *out);
  out->type = BG_V_NIL;
  out->s.p = "";
  if (o == NULL) return BG_OK;
  switch (o->type) {
    case MSGPACK_OBJECT_NIL: return BG_OK;
    case MSGPACK_OBJECT_BOOLEAN: out->type = BG_V_BOOL; out->b = o->via.boolean; return BG_OK;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
      if (o->via.u64 > (uint64_t)INT64_MAX) return bg_mp_fail(m, name, BG_E_FIELD_RANGE, "integer beyond int64");
      out->type = BG_V_INT;
      out->i = (int64_t)o->via.u64;
      return BG_OK;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: out->type = BG_V_INT; out->i = o->via.i64; return BG_OK;
    case MSGPACK_OBJECT_STR:
      e = bg_mp_get_str(m, key, name, false, 0, BG_VALUE_MAX, &out->s);
      if (e == BG_OK) out->type = BG_V_STR;
      return e;
    case MSGPACK_OBJECT_BIN: {
      e = bg_mp_get_bin(m, key, name, false, 0, BG_VALUE_MAX, &out->s);
      if (e == BG_OK) out->type = BG_V_BIN;
      return e;
    }
    default: return bg_mp_fail(m, name, BG_E_FIELD_TYPE, "expected nil, boolean, integer, string or binary");
  }
}
