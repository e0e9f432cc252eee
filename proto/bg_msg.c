/*
 * bg_msg.c - message encoding and decoding (see bg_msg.h).
 *
 * Table-driven: each message type (and the write) is described once, as a list of
 * fields with key, kind, bounds and where the field lives in the C struct. The
 * encoder, the decoder and the JSON renderer all walk that one table, so they
 * cannot disagree on a key, a bound or what is optional. docs/PROTOCOL.md copies
 * the tables; the golden vectors (tests/vectors) pin their encoding.
 */
#include "bg_msg.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_frame.h"
#include "bg_mp.h"

/* --- the tables --------------------------------------------------------------- */

typedef enum bg__kind {
  BG__UINT,    /* unsigned integer in a uint8/16/32/64 member (width) */
  BG__BOOL,    /* bool */
  BG__STR,     /* bg_str, UTF-8, length min..max */
  BG__BIN,     /* bg_str, binary, length min..max */
  BG__VALUE,   /* bg_value */
  BG__DOT,     /* bg_dot as [device, counter] */
  BG__VV,      /* bg_vv as [d1, c1, d2, c2, ...] */
  BG__WRITES,  /* const bg_write * + uint32_t count, count min..max */
  BG__REJECTS, /* const bg_reject * + uint32_t count, as [[index, code], ...] */
  BG__STRS,    /* const bg_str * + uint32_t count, each 1..BG_ID_MAX */
  BG__PACKED,  /* the writes of a BG__WRITES twin, packed (protocol 2; 4.7 below) */
} bg__kind;

typedef struct bg__field {
  uint8_t key;
  uint8_t kind;
  uint8_t width;    /* BG__UINT: bytes of the C member */
  bool required;
  const char *name; /* as in docs/PROTOCOL.md */
  size_t off;       /* offset of the member */
  size_t off_n;     /* arrays: offset of the uint32_t count */
  uint64_t min, max;
  size_t off_flag;  /* BG__WRITES, BG__PACKED: offset of the bool `packed` */
  uint8_t twin;     /* BG__WRITES, BG__PACKED: key of the other form of the same writes */
} bg__field;

typedef struct bg__desc {
  const char *name;
  const bg__field *fields;
  size_t n;
} bg__desc;

#define U(key, name, req, type, member, lo, hi) \
  {key, BG__UINT, sizeof(((type *)0)->member), req, name, offsetof(type, member), 0, lo, hi, 0, 0}
#define B(key, name, req, type, member) \
  {key, BG__BOOL, 0, req, name, offsetof(type, member), 0, 0, 1, 0, 0}
#define S(key, name, req, type, member, lo, hi) \
  {key, BG__STR, 0, req, name, offsetof(type, member), 0, lo, hi, 0, 0}
#define BIN(key, name, req, type, member, lo, hi) \
  {key, BG__BIN, 0, req, name, offsetof(type, member), 0, lo, hi, 0, 0}
#define ARR(key, kind, name, req, type, member, count, lo, hi) \
  {key, kind, 0, req, name, offsetof(type, member), offsetof(type, count), lo, hi, 0, 0}
/* Writes in either form: exactly one of the two keys is present (4.7 below). */
#define WRITES(key, twin, name, type, lo, hi) \
  {key, BG__WRITES, 0, OPT, name, offsetof(type, writes), offsetof(type, n), lo, hi, offsetof(type, packed), twin}
#define PACKED(key, twin, name, type, lo, hi) \
  {key, BG__PACKED, 0, OPT, name, offsetof(type, writes), offsetof(type, n), lo, hi, offsetof(type, packed), twin}
#define OTHER(key, kind, name, req, type, member) \
  {key, kind, 0, req, name, offsetof(type, member), 0, 0, 0, 0, 0}

#define REQ true
#define OPT false
#define U64MAX UINT64_MAX
#define U32MAX UINT32_MAX

static const bg__field bg__write_fields[] = {
    S(1, "client", REQ, bg_write, client, 1, BG_ID_MAX),
    U(2, "rtype", REQ, bg_write, rtype, 0, U32MAX),
    S(3, "rid", REQ, bg_write, rid, 1, BG_ID_MAX),
    U(4, "field", REQ, bg_write, field, 0, U32MAX),
    OTHER(5, BG__VALUE, "value", OPT, bg_write, value),
    OTHER(6, BG__DOT, "dot", REQ, bg_write, dot),
    OTHER(7, BG__VV, "ctx", OPT, bg_write, ctx),
    U(8, "cycle", OPT, bg_write, cycle, 0, U32MAX),
    U(9, "phase", REQ, bg_write, phase, 0, 255),
    U(10, "user", REQ, bg_write, user, 1, U64MAX),
    U(11, "role", REQ, bg_write, role, 0, 255),
    B(12, "tb", OPT, bg_write, tb),
    U(13, "hlc", REQ, bg_write, hlc, 0, U64MAX),
};

static const bg__field bg__hello[] = {
    U(1, "proto_min", REQ, bg_msg_hello, proto_min, 1, 0xffff),
    U(2, "proto_max", REQ, bg_msg_hello, proto_max, 1, 0xffff),
    U(3, "schema", REQ, bg_msg_hello, schema, 1, U32MAX),
    S(4, "software", REQ, bg_msg_hello, software, 1, BG_ID_MAX),
    U(5, "device", OPT, bg_msg_hello, device, 0, U64MAX),
    U(6, "cursor", OPT, bg_msg_hello, cursor, 0, U64MAX),
};
static const bg__field bg__welcome[] = {
    U(1, "proto", REQ, bg_msg_welcome, proto, 1, 0xffff),
    U(2, "schema", REQ, bg_msg_welcome, schema, 1, U32MAX),
    S(3, "software", REQ, bg_msg_welcome, software, 1, BG_ID_MAX),
    U(4, "device", REQ, bg_msg_welcome, device, 1, U64MAX),
    U(5, "user", REQ, bg_msg_welcome, user, 1, U64MAX),
    S(6, "login", REQ, bg_msg_welcome, login, 1, BG_ID_MAX),
    U(7, "role", REQ, bg_msg_welcome, role, 0, 255),
    U(8, "head", OPT, bg_msg_welcome, head, 0, U64MAX),
    U(9, "hlc", OPT, bg_msg_welcome, hlc, 0, U64MAX),
    U(10, "max_frame", OPT, bg_msg_welcome, max_frame, 0, BG_FRAME_MAX),
};
static const bg__field bg__push[] = {
    U(1, "batch", REQ, bg_msg_push, batch, 1, U64MAX),
    WRITES(2, 3, "writes", bg_msg_push, 1, BG_MSG_MAX_WRITES),
    PACKED(3, 2, "packed", bg_msg_push, 1, BG_MSG_MAX_WRITES),
};
static const bg__field bg__ack[] = {
    U(1, "id", REQ, bg_msg_ack, id, 1, U64MAX),
    ARR(2, BG__REJECTS, "rejected", OPT, bg_msg_ack, rejected, n_rejected, 0, BG_MSG_MAX_REJECTED),
    U(3, "seq", OPT, bg_msg_ack, seq, 0, U64MAX),
};
static const bg__field bg__pull[] = {
    U(1, "cursor", REQ, bg_msg_pull, cursor, 0, U64MAX),
    U(2, "max_bytes", OPT, bg_msg_pull, max_bytes, 0, BG_FRAME_MAX),
    U(3, "max_writes", OPT, bg_msg_pull, max_writes, 0, BG_MSG_MAX_WRITES),
};
static const bg__field bg__changes[] = {
    WRITES(1, 4, "writes", bg_msg_changes, 0, BG_MSG_MAX_WRITES),
    U(2, "next", REQ, bg_msg_changes, next, 0, U64MAX),
    B(3, "more", OPT, bg_msg_changes, more),
    PACKED(4, 1, "packed", bg_msg_changes, 0, BG_MSG_MAX_WRITES),
};
static const bg__field bg__purge[] = {
    U(1, "id", REQ, bg_msg_purge, id, 1, U64MAX),
    ARR(2, BG__STRS, "clients", REQ, bg_msg_purge, clients, n, 1, BG_MSG_MAX_PURGE),
};
static const bg__field bg__error[] = {
    U(1, "code", REQ, bg_msg_error, code, 1, 0xffff),
    S(2, "message", OPT, bg_msg_error, message, 0, BG_TEXT_MAX),
    B(3, "retryable", OPT, bg_msg_error, retryable),
    U(4, "ref", OPT, bg_msg_error, ref, 0, U64MAX),
};
static const bg__field bg__ping[] = {
    U(1, "nonce", OPT, bg_msg_ping, nonce, 0, U64MAX),
};
static const bg__field bg__bye[] = {
    U(1, "code", OPT, bg_msg_bye, code, 0, 0xffff),
    S(2, "message", OPT, bg_msg_bye, message, 0, BG_TEXT_MAX),
};
static const bg__field bg__enroll[] = {
    S(1, "code", REQ, bg_msg_enroll, code, 1, BG_ID_MAX),
    BIN(2, "csr", REQ, bg_msg_enroll, csr, 1, BG_CERT_MAX),
    S(3, "software", REQ, bg_msg_enroll, software, 1, BG_ID_MAX),
    S(4, "name", OPT, bg_msg_enroll, name, 0, BG_TEXT_MAX),
};
static const bg__field bg__enrolled[] = {
    U(1, "device", REQ, bg_msg_enrolled, device, 1, U64MAX),
    U(2, "user", REQ, bg_msg_enrolled, user, 1, U64MAX),
    S(3, "login", REQ, bg_msg_enrolled, login, 1, BG_ID_MAX),
    BIN(4, "cert", REQ, bg_msg_enrolled, cert, 1, BG_CERT_MAX),
    BIN(5, "ca", REQ, bg_msg_enrolled, ca, 1, BG_CERT_MAX),
};

#define D(name, tbl) {name, tbl, sizeof tbl / sizeof tbl[0]}
static const bg__desc bg__msgs[BG_MSG_TYPE_MAX + 1] = {
    [BG_MSG_HELLO] = D("HELLO", bg__hello),       [BG_MSG_WELCOME] = D("WELCOME", bg__welcome),
    [BG_MSG_PUSH] = D("PUSH", bg__push),          [BG_MSG_ACK] = D("ACK", bg__ack),
    [BG_MSG_PULL] = D("PULL", bg__pull),          [BG_MSG_CHANGES] = D("CHANGES", bg__changes),
    [BG_MSG_PURGE] = D("PURGE", bg__purge),       [BG_MSG_ERROR] = D("ERROR", bg__error),
    [BG_MSG_PING] = D("PING", bg__ping),          [BG_MSG_PONG] = D("PONG", bg__ping),
    [BG_MSG_BYE] = D("BYE", bg__bye),             [BG_MSG_ENROLL] = D("ENROLL", bg__enroll),
    [BG_MSG_ENROLLED] = D("ENROLLED", bg__enrolled),
};
static const bg__desc bg__write_desc = D("write", bg__write_fields);

static const bg__desc *bg__desc_of(int type) {
  return (type >= 1 && type <= BG_MSG_TYPE_MAX) ? &bg__msgs[type] : NULL;
}

const char *bg_msg_type_name(int type) {
  const bg__desc *d = bg__desc_of(type);
  return d ? d->name : "UNKNOWN";
}

bg_str bg_str_c(const char *s) {
  bg_str r = {s ? s : "", s ? (uint32_t)strlen(s) : 0};
  return r;
}

bool bg_str_eq(bg_str a, bg_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0); }

bool bg_value_eq(const bg_value *a, const bg_value *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
    case BG_V_NIL: return true;
    case BG_V_BOOL: return a->b == b->b;
    case BG_V_INT: return a->i == b->i;
    default: return bg_str_eq(a->s, b->s);
  }
}

void bg_str_copy(char *dst, size_t cap, bg_str s) {
  size_t n = s.len < cap - 1 ? s.len : cap - 1;
  if (n) memcpy(dst, s.p, n);
  dst[n] = 0;
}

/* --- member access ------------------------------------------------------------ */

static uint64_t bg__uint_get(const void *base, const bg__field *f) {
  const char *p = (const char *)base + f->off;
  switch (f->width) {
    case 1: return *(const uint8_t *)p;
    case 2: return *(const uint16_t *)(const void *)p;
    case 4: return *(const uint32_t *)(const void *)p;
    default: return *(const uint64_t *)(const void *)p;
  }
}

static void bg__uint_set(void *base, const bg__field *f, uint64_t v) {
  char *p = (char *)base + f->off;
  switch (f->width) {
    case 1: *(uint8_t *)p = (uint8_t)v; break;
    case 2: *(uint16_t *)(void *)p = (uint16_t)v; break;
    case 4: *(uint32_t *)(void *)p = (uint32_t)v; break;
    default: *(uint64_t *)(void *)p = v; break;
  }
}

/* Array members as pointer typedefs, so that CMEMBER's added const binds right. */
typedef const bg_write *bg__writes;
typedef const bg_reject *bg__rejects;
typedef const bg_str *bg__strs;

#define MEMBER(type, base, f) ((type *)(void *)((char *)(base) + (f)->off))
#define CMEMBER(type, base, f) ((const type *)(const void *)((const char *)(base) + (f)->off))
#define COUNT(base, f) (*(uint32_t *)(void *)((char *)(base) + (f)->off_n))
#define CCOUNT(base, f) (*(const uint32_t *)(const void *)((const char *)(base) + (f)->off_n))
#define FLAG(base, f) (*(bool *)(void *)((char *)(base) + (f)->off_flag))
#define CFLAG(base, f) (*(const bool *)(const void *)((const char *)(base) + (f)->off_flag))

/* --- decoding ----------------------------------------------------------------- */

typedef struct bg__dec {
  msgpack_zone *zone;
  bg_msg_why *why;
} bg__dec;

static bg_err bg__decode_struct(bg__dec *dc, const bg__desc *d, const msgpack_object *o,
                                void *base);

static bg_err bg__decode_dot(const bg_mp_map *m, const bg__field *f, const msgpack_object *o,
                             bg_dot *dot) {
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2 ||
      !bg_mp_as_uint(&o->via.array.ptr[0], &dot->device) ||
      !bg_mp_as_uint(&o->via.array.ptr[1], &dot->counter))
    return bg_mp_fail(m, f->name, BG_E_FIELD_TYPE, "expected [device, counter]");
  if (dot->device == 0 || dot->counter == 0)
    return bg_mp_fail(m, f->name, BG_E_FIELD_RANGE, "device and counter must be > 0");
  return BG_OK;
}

static bg_err bg__decode_vv(bg__dec *dc, const bg_mp_map *m, const bg__field *f,
                            const msgpack_object *o, bg_vv *vv) {
  bg_vv_init(vv);
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size % 2 != 0)
    return bg_mp_fail(m, f->name, BG_E_FIELD_TYPE, "expected [device, counter, ...]");
  uint32_t n = o->via.array.size / 2;
  if (n > BG_VV_MAX_ENTRIES) return bg_mp_fail(m, f->name, BG_E_LIMIT, "too many entries");
  if (n == 0) return BG_OK;
  bg_dot *e = msgpack_zone_malloc(dc->zone, n * sizeof *e);
  if (e == NULL) return BG_E_NOMEM;
  for (uint32_t i = 0; i < n; i++) {
    if (!bg_mp_as_uint(&o->via.array.ptr[2 * i], &e[i].device) ||
        !bg_mp_as_uint(&o->via.array.ptr[2 * i + 1], &e[i].counter))
      return bg_mp_fail(m, f->name, BG_E_FIELD_TYPE, "expected unsigned integers");
  }
  vv->e = e;
  vv->n = n;
  vv->cap = 0; /* borrowed from the zone */
  if (!bg_vv_is_canonical(vv)) {
    bg_vv_init(vv);
    return bg_mp_fail(m, f->name, BG_E_FIELD_RANGE,
                      "not canonical (devices ascending, devices and counters > 0)");
  }
  return BG_OK;
}

/* After a nested write failed: "PUSH.writes[3].rid: ..." from "write.rid: ...". */
static void bg__why_write(bg__dec *dc, const bg_mp_map *m, const bg__field *f, uint32_t i) {
  if (dc->why == NULL) return;
  char inner[sizeof dc->why->text];
  memcpy(inner, dc->why->text, sizeof inner);
  snprintf(dc->why->text, sizeof dc->why->text, "%s.%s[%u].%.150s", m->what, f->name, i,
           strncmp(inner, "write.", 6) == 0 ? inner + 6 : inner);
}

/* An array of ids (client ids): each a string of 1..BG_ID_MAX bytes, UTF-8.
 * `what` prefixes the failure's text ("clients: "). */
static bg_err bg__decode_ids(const bg_mp_map *m, const bg__field *f, const msgpack_object_array *a, bg_str *out,
                             const char *what) {
  char t[64];
  for (uint32_t i = 0; i < a->size; i++) {
    const msgpack_object *o = &a->ptr[i];
    bg_err e = BG_OK;
    const char *why = NULL;
    if (o->type != MSGPACK_OBJECT_STR) e = BG_E_FIELD_TYPE, why = "expected strings";
    else if (o->via.str.size > BG_ID_MAX) e = BG_E_LIMIT, why = "longer than 64 bytes";
    else if (o->via.str.size == 0) e = BG_E_FIELD_RANGE, why = "empty string";
    else if (!bg_utf8_valid(o->via.str.ptr, o->via.str.size)) e = BG_E_UTF8, why = "not valid UTF-8";
    if (e != BG_OK) {
      snprintf(t, sizeof t, "%s%s", what, why);
      return bg_mp_fail(m, f->name, e, t);
    }
    out[i] = (bg_str){o->via.str.ptr, o->via.str.size};
  }
  return BG_OK;
}

static bg_err bg__decode_array(bg__dec *dc, const bg_mp_map *m, const bg__field *f, void *base) {
  const msgpack_object_array *a;
  bg_err e = bg_mp_get_array(m, f->key, f->name, f->required, (uint32_t)f->min,
                             (uint32_t)f->max, &a);
  if (e != BG_OK) return e;
  COUNT(base, f) = a->size;
  if (a->size == 0) return BG_OK;
  switch (f->kind) {
    case BG__WRITES: {
      bg_write *w = msgpack_zone_malloc(dc->zone, a->size * sizeof *w);
      if (w == NULL) return BG_E_NOMEM;
      for (uint32_t i = 0; i < a->size; i++) {
        e = bg__decode_struct(dc, &bg__write_desc, &a->ptr[i], &w[i]);
        if (e != BG_OK) {
          bg__why_write(dc, m, f, i);
          return e;
        }
      }
      *MEMBER(bg__writes, base, f) = w;
      return BG_OK;
    }
    case BG__REJECTS: {
      bg_reject *r = msgpack_zone_malloc(dc->zone, a->size * sizeof *r);
      if (r == NULL) return BG_E_NOMEM;
      for (uint32_t i = 0; i < a->size; i++) {
        const msgpack_object *t = &a->ptr[i];
        uint64_t idx, code;
        if (t->type != MSGPACK_OBJECT_ARRAY || t->via.array.size != 2 ||
            !bg_mp_as_uint(&t->via.array.ptr[0], &idx) || !bg_mp_as_uint(&t->via.array.ptr[1], &code))
          return bg_mp_fail(m, f->name, BG_E_FIELD_TYPE, "expected [[index, code], ...]");
        if (idx >= BG_MSG_MAX_WRITES || code == 0 || code > 0xffff)
          return bg_mp_fail(m, f->name, BG_E_FIELD_RANGE, "index or code out of range");
        r[i].index = (uint32_t)idx;
        r[i].code = (uint32_t)code;
      }
      *MEMBER(bg__rejects, base, f) = r;
      return BG_OK;
    }
    case BG__STRS: {
      bg_str *s = msgpack_zone_malloc(dc->zone, a->size * sizeof *s);
      if (s == NULL) return BG_E_NOMEM;
      if ((e = bg__decode_ids(m, f, a, s, "")) != BG_OK) return e;
      *MEMBER(bg__strs, base, f) = s;
      return BG_OK;
    }
    default: assert(!"not an array kind"); return BG_E_INTERNAL;
  }
}

static bg_err bg__decode_packed(bg__dec *dc, const bg_mp_map *m, const bg__field *f, void *base);

static bg_err bg__decode_field(bg__dec *dc, const bg_mp_map *m, const bg__field *f, void *base) {
  switch (f->kind) {
    case BG__UINT: {
      uint64_t v;
      bg_err e = bg_mp_get_uint(m, f->key, f->name, f->required, f->min, f->max, &v);
      if (e == BG_OK) bg__uint_set(base, f, v);
      return e;
    }
    case BG__BOOL: return bg_mp_get_bool(m, f->key, f->name, f->required, MEMBER(bool, base, f));
    case BG__STR:
      return bg_mp_get_str(m, f->key, f->name, f->required, (uint32_t)f->min, (uint32_t)f->max,
                           MEMBER(bg_str, base, f));
    case BG__BIN:
      return bg_mp_get_bin(m, f->key, f->name, f->required, (uint32_t)f->min, (uint32_t)f->max,
                           MEMBER(bg_str, base, f));
    case BG__VALUE: return bg_mp_get_value(m, f->key, f->name, MEMBER(bg_value, base, f));
    case BG__DOT: {
      const msgpack_object *o = m->v[f->key];
      if (o == NULL) return bg_mp_fail(m, f->name, BG_E_MISSING_FIELD, "required field missing");
      return bg__decode_dot(m, f, o, MEMBER(bg_dot, base, f));
    }
    case BG__VV: {
      const msgpack_object *o = m->v[f->key];
      bg_vv_init(MEMBER(bg_vv, base, f));
      return o == NULL ? BG_OK : bg__decode_vv(dc, m, f, o, MEMBER(bg_vv, base, f));
    }
    case BG__WRITES:
      if (m->v[f->key] != NULL) return bg__decode_array(dc, m, f, base);
      /* absent: the writes must come packed (BG__PACKED refuses both) */
      return m->v[f->twin] != NULL ? BG_OK : bg_mp_fail(m, f->name, BG_E_MISSING_FIELD, "required field missing");
    case BG__PACKED: return bg__decode_packed(dc, m, f, base);
    default: return bg__decode_array(dc, m, f, base);
  }
}

static bg_err bg__decode_struct(bg__dec *dc, const bg__desc *d, const msgpack_object *o,
                                void *base) {
  bg_mp_map m;
  bg_err e = bg_mp_map_index(&m, o, BG_MP_MAX_KEY, d->name, dc->why);
  for (size_t i = 0; e == BG_OK && i < d->n; i++) e = bg__decode_field(dc, &m, &d->fields[i], base);
  return e;
}

/* Checks that span fields. */
static bg_err bg__msg_check(const bg_msg *m, bg_msg_why *why) {
  if (m->type == BG_MSG_HELLO && m->u.hello.proto_max < m->u.hello.proto_min) {
    if (why) snprintf(why->text, sizeof why->text, "HELLO.proto_max: below proto_min");
    return BG_E_FIELD_RANGE;
  }
  return BG_OK;
}

bg_err bg_msg_decode(const uint8_t *body, size_t len, bg_msg *m, bg_msg_why *why) {
  memset(m, 0, sizeof *m);
  if (why) why->text[0] = '\0';
  msgpack_zone *zone = NULL;
  msgpack_object root;
  bg_err e = bg_mp_unpack(body, len, &zone, &root);
  if (e != BG_OK) {
    if (why) snprintf(why->text, sizeof why->text, "%s", bg_err_message(e));
    return e;
  }
  bg_mp_map top;
  uint64_t type = 0;
  e = bg_mp_map_index(&top, &root, BG_MP_MAX_KEY, "message", why);
  if (e == BG_OK) e = bg_mp_get_uint(&top, 0, "type", true, 0, U64MAX, &type);
  const bg__desc *d = e == BG_OK ? bg__desc_of(type > BG_MSG_TYPE_MAX ? 0 : (int)type) : NULL;
  if (e == BG_OK && d == NULL) {
    if (why) snprintf(why->text, sizeof why->text, "message.type: unknown type %llu", (unsigned long long)type);
    e = BG_E_UNKNOWN_MESSAGE;
  }
  if (e == BG_OK) {
    bg__dec dc = {zone, why};
    m->type = (bg_msg_type)type;
    e = bg__decode_struct(&dc, d, &root, &m->u);
  }
  if (e == BG_OK) e = bg__msg_check(m, why);
  if (e != BG_OK) {
    msgpack_zone_free(zone);
    memset(m, 0, sizeof *m);
    return e;
  }
  m->zone = zone;
  return BG_OK;
}

void bg_msg_free(bg_msg *m) {
  if (m->zone != NULL) msgpack_zone_free(m->zone);
  m->zone = NULL;
}

/* --- encoding ----------------------------------------------------------------- */

static bool bg__is_default(const void *base, const bg__field *f) {
  switch (f->kind) {
    case BG__UINT: return bg__uint_get(base, f) == 0;
    case BG__BOOL: return !*CMEMBER(bool, base, f);
    case BG__STR: case BG__BIN: return CMEMBER(bg_str, base, f)->len == 0;
    case BG__VALUE: return CMEMBER(bg_value, base, f)->type == BG_V_NIL;
    case BG__DOT: return false;
    case BG__VV: return CMEMBER(bg_vv, base, f)->n == 0;
    /* the writes go under one of the two keys, even when there are none */
    case BG__WRITES: return CFLAG(base, f);
    case BG__PACKED: return !CFLAG(base, f);
    default: return CCOUNT(base, f) == 0;
  }
}

static bg_err bg__encode_struct(bg_mp_out *o, const bg__desc *d, const void *base, int type);
static bg_err bg__write_encode_fast(bg_mp_out *o, const bg_write *w, bool checked);
static bg_err bg__packed_encode(bg_mp_out *o, const bg_write *w, uint32_t n);

static bg_err bg__check_len(uint64_t len, const bg__field *f) {
  if (len > f->max) return BG_E_LIMIT;
  if (len < f->min) return BG_E_FIELD_RANGE;
  return BG_OK;
}

static bg_err bg__encode_field(bg_mp_out *o, const bg__field *f, const void *base) {
  switch (f->kind) {
    case BG__UINT: {
      uint64_t v = bg__uint_get(base, f);
      if (v < f->min || v > f->max) return BG_E_FIELD_RANGE;
      bg_mp_put_uint(o, v);
      return BG_OK;
    }
    case BG__BOOL:
      bg_mp_put_bool(o, *CMEMBER(bool, base, f));
      return BG_OK;
    case BG__STR: case BG__BIN: {
      const bg_str *s = CMEMBER(bg_str, base, f);
      bg_err e = bg__check_len(s->len, f);
      if (e != BG_OK) return e;
      if (f->kind == BG__STR) {
        if (!bg_utf8_valid(s->p, s->len)) return BG_E_UTF8;
        bg_mp_put_str(o, s->p, s->len);
      } else {
        bg_mp_put_bin(o, s->p, s->len);
      }
      return BG_OK;
    }
    case BG__VALUE: {
      const bg_value *v = CMEMBER(bg_value, base, f);
      switch (v->type) {
        case BG_V_NIL: bg_mp_put_nil(o); return BG_OK;
        case BG_V_BOOL: bg_mp_put_bool(o, v->b); return BG_OK;
        case BG_V_INT: bg_mp_put_int(o, v->i); return BG_OK;
        case BG_V_STR:
          if (v->s.len > BG_VALUE_MAX) return BG_E_LIMIT;
          if (!bg_utf8_valid(v->s.p, v->s.len)) return BG_E_UTF8;
          bg_mp_put_str(o, v->s.p, v->s.len);
          return BG_OK;
        case BG_V_BIN:
          if (v->s.len > BG_VALUE_MAX) return BG_E_LIMIT;
          bg_mp_put_bin(o, v->s.p, v->s.len);
          return BG_OK;
      }
      return BG_E_FIELD_TYPE;
    }
    case BG__DOT: {
      const bg_dot *d = CMEMBER(bg_dot, base, f);
      if (d->device == 0 || d->counter == 0) return BG_E_FIELD_RANGE;
      bg_mp_put_array(o, 2);
      bg_mp_put_uint(o, d->device);
      bg_mp_put_uint(o, d->counter);
      return BG_OK;
    }
    case BG__VV: {
      const bg_vv *vv = CMEMBER(bg_vv, base, f);
      if (!bg_vv_is_canonical(vv)) return BG_E_FIELD_RANGE;
      bg_mp_put_array(o, 2 * vv->n);
      for (uint32_t i = 0; i < vv->n; i++) {
        bg_mp_put_uint(o, vv->e[i].device);
        bg_mp_put_uint(o, vv->e[i].counter);
      }
      return BG_OK;
    }
    default: break;
  }
  uint32_t n = CCOUNT(base, f);
  bg_err e = bg__check_len(n, f);
  if (e != BG_OK) return e;
  if (f->kind == BG__PACKED) return bg__packed_encode(o, *CMEMBER(bg__writes, base, f), n);
  bg_mp_put_array(o, n);
  for (uint32_t i = 0; i < n && e == BG_OK; i++) {
    if (f->kind == BG__WRITES) {
      e = bg__write_encode_fast(o, &(*CMEMBER(bg__writes, base, f))[i], false);
    } else if (f->kind == BG__REJECTS) {
      const bg_reject *r = &(*CMEMBER(bg__rejects, base, f))[i];
      if (r->index >= BG_MSG_MAX_WRITES || r->code == 0 || r->code > 0xffff) return BG_E_FIELD_RANGE;
      bg_mp_put_array(o, 2);
      bg_mp_put_uint(o, r->index);
      bg_mp_put_uint(o, r->code);
    } else {
      const bg_str *s = &(*CMEMBER(bg__strs, base, f))[i];
      if (s->len > BG_ID_MAX) return BG_E_LIMIT;
      if (s->len == 0) return BG_E_FIELD_RANGE;
      if (!bg_utf8_valid(s->p, s->len)) return BG_E_UTF8;
      bg_mp_put_str(o, s->p, s->len);
    }
  }
  return e;
}

/* Pack a struct as a map: the type under key 0 when `type` > 0, then its fields
 * in ascending key order, optional fields at their default left out. */
static bg_err bg__encode_struct(bg_mp_out *o, const bg__desc *d, const void *base, int type) {
  /* Up to 15 entries the map header is one byte: write it first, patch the
   * count at the end (one pass over the fields); larger maps count first. */
  bool fix = d->n + 1 < 16;
  size_t entries = type > 0 ? 1 : 0, head = o->buf->len;
  if (!fix) {
    for (size_t i = 0; i < d->n; i++)
      if (d->fields[i].required || !bg__is_default(base, &d->fields[i])) entries++;
  }
  bg_mp_put_map(o, (uint32_t)entries);
  if (type > 0) {
    bg_mp_put_uint(o, 0);
    bg_mp_put_uint(o, (uint64_t)type);
  }
  for (size_t i = 0; i < d->n; i++) {
    const bg__field *f = &d->fields[i];
    if (!f->required && bg__is_default(base, f)) continue;
    if (fix) entries++;
    bg_mp_put_uint(o, f->key);
    bg_err e = bg__encode_field(o, f, base);
    if (e != BG_OK) return e;
  }
  if (fix && o->err == BG_OK) o->buf->data[head] = (uint8_t)(0x80 | entries);
  return o->err;
}

bg_err bg_msg_encode(const bg_msg *m, bg_buf *out) {
  const bg__desc *d = bg__desc_of((int)m->type);
  if (d == NULL) return BG_E_UNKNOWN_MESSAGE;
  bg_err e = bg__msg_check(m, NULL);
  if (e != BG_OK) return e;
  size_t mark = out->len;
  bg_mp_out o;
  bg_mp_out_init(&o, out);
  e = bg__encode_struct(&o, d, &m->u, (int)m->type);
  if (e == BG_OK) e = o.err;
  if (e != BG_OK) out->len = mark;
  return e;
}

bg_err bg_msg_encode_frame(const bg_msg *m, bg_buf *out, uint32_t max) {
  size_t mark;
  bg_err e = bg_frame_begin(out, &mark);
  if (e != BG_OK) return e;
  e = bg_msg_encode(m, out);
  if (e != BG_OK) {
    bg_frame_abort(out, mark);
    return e;
  }
  return bg_frame_end(out, mark, max);
}

/*
 * The write, encoded without the descriptor walk: writes are encoded for every
 * merge and in every PUSH and CHANGES, and walking bg__write_fields cost about
 * 1,000 instructions a write (BENCHMARKS.md). Same keys, order, defaults and
 * checks as the table above - bg__write_encode_table stays the reference, and
 * test_msg checks that both give the same bytes and the same errors.
 *
 * `checked`: the write passed bg_write_check, which leaves the record id ASCII
 * within BG_ID_MAX (bg_rid_parse) and the value of its field's type, a text
 * within the field's maximum (<= BG_VALUE_MAX) and valid UTF-8 (bg_value_check).
 * Those checks are then skipped - the merge engine encodes every write it
 * applies, and they were a fifth of the encoding. The client id is checked
 * either way: bg_write_check only refuses control characters in it. The
 * lengths skipped are asserted; test_engine checks that both forms agree on
 * every write bg_write_check accepts, defective ones among them.
 */
static bg_err bg__id_valid(bg_str s, bool checked) {
  if (checked) {
    assert(s.len > 0 && s.len <= BG_ID_MAX);
    return BG_OK;
  }
  if (s.len > BG_ID_MAX) return BG_E_LIMIT;
  if (s.len == 0) return BG_E_FIELD_RANGE;
  return bg_utf8_valid(s.p, s.len) ? BG_OK : BG_E_UTF8;
}

/* Everything the encoders refuse in a write, in key order (both forms refuse
 * alike, with the same code for the same write). */
static bg_err bg__write_valid(const bg_write *w, bool checked) {
  bg_err e = bg__id_valid(w->client, false);
  if (e == BG_OK) e = bg__id_valid(w->rid, checked);
  if (e != BG_OK) return e;
  const bg_value *v = &w->value;
  switch (v->type) {
    case BG_V_NIL: case BG_V_BOOL: case BG_V_INT: break;
    case BG_V_STR:
      if (checked) {
        assert(v->s.len <= BG_VALUE_MAX);
        break;
      }
      if (v->s.len > BG_VALUE_MAX) return BG_E_LIMIT;
      if (!bg_utf8_valid(v->s.p, v->s.len)) return BG_E_UTF8;
      break;
    case BG_V_BIN:
      if (v->s.len > BG_VALUE_MAX) return BG_E_LIMIT;
      break;
    default: return BG_E_FIELD_TYPE;
  }
  if (w->dot.device == 0 || w->dot.counter == 0) return BG_E_FIELD_RANGE;
  if (w->ctx.n > 0 && !bg_vv_is_canonical(&w->ctx)) return BG_E_FIELD_RANGE;
  if (w->user == 0) return BG_E_FIELD_RANGE;
  return BG_OK;
}

/* One key of a valid write and its value, as a write map holds it (the packed
 * form's client and hlc are its own). Inlined with a constant key, the switch
 * folds away. */
static inline void bg__write_put_key(bg_mp_out *o, const bg_write *w, unsigned key) {
  bg_mp_put_uint(o, key);
  switch (key) {
    case 1: bg_mp_put_str(o, w->client.p, w->client.len); break;
    case 2: bg_mp_put_uint(o, w->rtype); break;
    case 3: bg_mp_put_str(o, w->rid.p, w->rid.len); break;
    case 4: bg_mp_put_uint(o, w->field); break;
    case 5:
      switch (w->value.type) {
        case BG_V_NIL: bg_mp_put_nil(o); break;
        case BG_V_BOOL: bg_mp_put_bool(o, w->value.b); break;
        case BG_V_INT: bg_mp_put_int(o, w->value.i); break;
        case BG_V_STR: bg_mp_put_str(o, w->value.s.p, w->value.s.len); break;
        case BG_V_BIN: bg_mp_put_bin(o, w->value.s.p, w->value.s.len); break;
      }
      break;
    case 6:
      bg_mp_put_array(o, 2);
      bg_mp_put_uint(o, w->dot.device);
      bg_mp_put_uint(o, w->dot.counter);
      break;
    case 7:
      bg_mp_put_array(o, 2 * w->ctx.n);
      for (uint32_t i = 0; i < w->ctx.n; i++) {
        bg_mp_put_uint(o, w->ctx.e[i].device);
        bg_mp_put_uint(o, w->ctx.e[i].counter);
      }
      break;
    case 8: bg_mp_put_uint(o, w->cycle); break;
    case 9: bg_mp_put_uint(o, w->phase); break;
    case 10: bg_mp_put_uint(o, w->user); break;
    case 11: bg_mp_put_uint(o, w->role); break;
    case 12: bg_mp_put_bool(o, w->tb); break;
    default: bg_mp_put_uint(o, w->hlc); break;
  }
}

static bg_err bg__write_encode_fast(bg_mp_out *o, const bg_write *w, bool checked) {
  bg_err e = bg__write_valid(w, checked);
  if (e != BG_OK) return e;
  bool has_value = w->value.type != BG_V_NIL, has_ctx = w->ctx.n > 0, has_cycle = w->cycle != 0, has_tb = w->tb;
  bg_mp_put_map(o, 9u + has_value + has_ctx + has_cycle + has_tb);
  bg__write_put_key(o, w, 1);
  bg__write_put_key(o, w, 2);
  bg__write_put_key(o, w, 3);
  bg__write_put_key(o, w, 4);
  if (has_value) bg__write_put_key(o, w, 5);
  bg__write_put_key(o, w, 6);
  if (has_ctx) bg__write_put_key(o, w, 7);
  if (has_cycle) bg__write_put_key(o, w, 8);
  bg__write_put_key(o, w, 9);
  bg__write_put_key(o, w, 10);
  bg__write_put_key(o, w, 11);
  if (has_tb) bg__write_put_key(o, w, 12);
  bg__write_put_key(o, w, 13);
  return o->err;
}

static bg_err bg__write_encode_to(const bg_write *w, bg_buf *out, bool checked) {
  size_t mark = out->len;
  bg_mp_out o;
  bg_mp_out_init(&o, out);
  bg_err e = bg__write_encode_fast(&o, w, checked);
  if (e == BG_OK) e = o.err;
  if (e != BG_OK) out->len = mark;
  return e;
}

bg_err bg_write_encode(const bg_write *w, bg_buf *out) { return bg__write_encode_to(w, out, false); }

bg_err bg__write_encode_checked(const bg_write *w, bg_buf *out) { return bg__write_encode_to(w, out, true); }

bg_err bg__write_encode_table(const bg_write *w, bg_buf *out) {
  size_t mark = out->len;
  bg_mp_out o;
  bg_mp_out_init(&o, out);
  bg_err e = bg__encode_struct(&o, &bg__write_desc, w, 0);
  if (e == BG_OK) e = o.err;
  if (e != BG_OK) out->len = mark;
  return e;
}

bg_err bg_write_decode(const uint8_t *p, size_t n, struct msgpack_zone *zone, bg_write *w,
                       bg_msg_why *why) {
  memset(w, 0, sizeof *w);
  bg_err e = bg_mp_check(p, n);
  if (e != BG_OK) return e;
  msgpack_object root;
  size_t off = 0;
  msgpack_unpack_return r = msgpack_unpack((const char *)p, n, &off, zone, &root);
  if (r == MSGPACK_UNPACK_NOMEM_ERROR) return BG_E_NOMEM;
  if (r != MSGPACK_UNPACK_SUCCESS || off != n) return BG_E_MALFORMED;
  bg__dec dc = {zone, why};
  return bg__decode_struct(&dc, &bg__write_desc, &root, w);
}

/* --- packed writes (protocol 2) ---------------------------------------------------
 *
 * docs/PROTOCOL.md 4.7. `packed` is [clients, writes]: the client ids of the
 * writes, each once, in order of first use; then one map per write with the
 * keys of a write, holding only what differs from the write before it (before
 * the first: the zero write - every number 0, strings empty, no value, empty
 * context). Three keys differ from the write map: client (1) is an index into
 * `clients`; dot (6) left out is the previous write's device with the next
 * counter; hlc (13) is the signed difference to the previous write's (mod 2^64).
 * What a write cannot take from the zero write - client, rid, dot, user - the
 * first write must carry. The encoder leaves out exactly what the decoder would
 * fill in, so this form is canonical too.
 */

static const bg__field *bg__wfield(unsigned key) { return &bg__write_fields[key - 1]; }

/* Before the first write: every number 0, strings empty (not NULL), no value. */
static const bg_write bg__zero_write = {.client = {"", 0}, .rid = {"", 0}, .value = {.s = {"", 0}}};

/* The keys of `w` a packed write carries after `p` (bit k = key k). */
static uint32_t bg__packed_keys(const bg_write *w, const bg_write *p, bool same_client) {
  uint32_t k = 0;
  k |= (uint32_t)!same_client << 1;
  k |= (uint32_t)(w->rtype != p->rtype) << 2;
  k |= (uint32_t)!bg_str_eq(w->rid, p->rid) << 3;
  k |= (uint32_t)(w->field != p->field) << 4;
  k |= (uint32_t)!bg_value_eq(&w->value, &p->value) << 5;
  k |= (uint32_t)(w->dot.device != p->dot.device || w->dot.counter != p->dot.counter + 1) << 6;
  k |= (uint32_t)!bg_vv_equal(&w->ctx, &p->ctx) << 7;
  k |= (uint32_t)(w->cycle != p->cycle) << 8;
  k |= (uint32_t)(w->phase != p->phase) << 9;
  k |= (uint32_t)(w->user != p->user) << 10;
  k |= (uint32_t)(w->role != p->role) << 11;
  k |= (uint32_t)(w->tb != p->tb) << 12;
  k |= (uint32_t)(w->hlc != p->hlc) << 13;
  return k;
}

static uint32_t bg__str_hash(bg_str s) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < s.len; i++) h = (h ^ (uint8_t)s.p[i]) * 16777619u;
  return h;
}

/* Numbers the distinct clients of w[0..n) in order of first use: ix[i] is the
 * number of w[i]'s client, first[j] the first write of client j; returns how
 * many there are, 0 when out of memory. */
static uint32_t bg__client_table(const bg_write *w, uint32_t n, uint32_t *ix, uint32_t *first) {
  uint32_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  uint32_t *slot = calloc(cap, sizeof *slot); /* write index + 1 of each client, 0 = free */
  if (slot == NULL) return 0;
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (i > 0 && bg_str_eq(w[i].client, w[i - 1].client)) {
      ix[i] = ix[i - 1];
      continue;
    }
    uint32_t h = bg__str_hash(w[i].client) & (cap - 1);
    while (slot[h] != 0 && !bg_str_eq(w[slot[h] - 1].client, w[i].client)) h = (h + 1) & (cap - 1);
    if (slot[h] == 0) {
      slot[h] = i + 1;
      first[k] = i;
      ix[i] = k++;
    } else {
      ix[i] = ix[slot[h] - 1];
    }
  }
  free(slot);
  return k;
}

static bg_err bg__packed_encode(bg_mp_out *o, const bg_write *w, uint32_t n) {
  /* every write as the plain form checks it, in the same order: the same
   * refusals for the same writes, and nothing unchecked is compared below */
  for (uint32_t i = 0; i < n; i++) {
    bg_err e = bg__write_valid(&w[i], false);
    if (e != BG_OK) return e;
  }
  bg_mp_put_array(o, 2);
  if (n == 0) {
    bg_mp_put_array(o, 0);
    bg_mp_put_array(o, 0);
    return o->err;
  }
  uint32_t *ix = malloc(2 * (size_t)n * sizeof *ix), *first = ix + n;
  uint32_t k = ix != NULL ? bg__client_table(w, n, ix, first) : 0;
  if (k == 0) {
    free(ix);
    return BG_E_NOMEM;
  }
  bg_mp_put_array(o, k);
  for (uint32_t j = 0; j < k; j++) bg_mp_put_str(o, w[first[j]].client.p, w[first[j]].client.len);
  bg_mp_put_array(o, n);
  for (uint32_t i = 0; i < n; i++) {
    const bg_write *p = i > 0 ? &w[i - 1] : &bg__zero_write;
    uint32_t keys = bg__packed_keys(&w[i], p, i > 0 && ix[i] == ix[i - 1]);
    bg_mp_put_map(o, (uint32_t)__builtin_popcount(keys));
    for (unsigned key = 1; key <= 13; key++) {
      if (!(keys & (1u << key))) continue;
      if (key == 1) {
        bg_mp_put_uint(o, 1);
        bg_mp_put_uint(o, ix[i]);
      } else if (key == 13) {
        uint64_t d = w[i].hlc - p->hlc;
        bg_mp_put_uint(o, 13);
        bg_mp_put_int(o, d <= INT64_MAX ? (int64_t)d : -(int64_t)(~d) - 1); /* d - 2^64 from 2^63 on */
      } else {
        bg__write_put_key(o, &w[i], key);
      }
    }
  }
  free(ix);
  return o->err;
}

/* One packed write after `p`: `w` starts as `p` with the next dot and takes
 * the keys present. */
static bg_err bg__decode_packed_write(bg__dec *dc, const msgpack_object *o, const bg_str *clients, uint32_t nc,
                                      const bg_write *p, bg_write *w) {
  bg_mp_map m;
  bg_err e = bg_mp_map_index(&m, o, BG_MP_MAX_KEY, "write", dc->why);
  if (e != BG_OK) return e;
  *w = *p;
  w->dot.counter = p->dot.counter + 1;
  for (unsigned key = 1; key <= 13; key++) {
    const msgpack_object *v = m.v[key];
    if (v == NULL) continue;
    if (key == 1) {
      uint64_t c;
      if (!bg_mp_as_uint(v, &c)) return bg_mp_fail(&m, "client", BG_E_FIELD_TYPE, "expected an index into clients");
      if (c >= nc) return bg_mp_fail(&m, "client", BG_E_FIELD_RANGE, "no such index in clients");
      w->client = clients[c];
    } else if (key == 13) {
      uint64_t d;
      if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) d = v->via.u64;
      else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) d = (uint64_t)v->via.i64;
      else return bg_mp_fail(&m, "hlc", BG_E_FIELD_TYPE, "expected an integer (the difference to the previous write)");
      w->hlc = p->hlc + d;
    } else if ((e = bg__decode_field(dc, &m, bg__wfield(key), w)) != BG_OK) {
      return e;
    }
  }
  /* what the zero write cannot give: the first write's own */
  if (w->client.len == 0) return bg_mp_fail(&m, "client", BG_E_MISSING_FIELD, "required in the first write");
  if (w->rid.len == 0) return bg_mp_fail(&m, "rid", BG_E_MISSING_FIELD, "required in the first write");
  if (w->dot.device == 0) return bg_mp_fail(&m, "dot", BG_E_MISSING_FIELD, "required in the first write");
  if (w->dot.counter == 0) return bg_mp_fail(&m, "dot", BG_E_FIELD_RANGE, "the next counter is past 2^64-1");
  if (w->user == 0) return bg_mp_fail(&m, "user", BG_E_MISSING_FIELD, "required in the first write");
  return BG_OK;
}

static bg_err bg__decode_packed(bg__dec *dc, const bg_mp_map *m, const bg__field *f, void *base) {
  const msgpack_object *o = m->v[f->key];
  bool plain = m->v[f->twin] != NULL;
  if (o == NULL) return BG_OK; /* BG__WRITES refused neither form */
  if (plain) return bg_mp_fail(m, f->name, BG_E_DUPLICATE_KEY, "writes and packed both present: send one");
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2 ||
      o->via.array.ptr[0].type != MSGPACK_OBJECT_ARRAY || o->via.array.ptr[1].type != MSGPACK_OBJECT_ARRAY)
    return bg_mp_fail(m, f->name, BG_E_FIELD_TYPE, "expected [clients, writes]");
  const msgpack_object_array *ca = &o->via.array.ptr[0].via.array, *wa = &o->via.array.ptr[1].via.array;
  if (wa->size > f->max) {
    char t[64];
    snprintf(t, sizeof t, "%u writes, at most %u allowed", wa->size, (unsigned)f->max);
    return bg_mp_fail(m, f->name, BG_E_LIMIT, t);
  }
  if (wa->size < f->min) return bg_mp_fail(m, f->name, BG_E_FIELD_RANGE, "too few writes");
  if (ca->size > wa->size) return bg_mp_fail(m, f->name, BG_E_LIMIT, "more clients than writes");
  if (wa->size == 0) {
    FLAG(base, f) = true;
    return BG_OK;
  }
  bg_str *cs = msgpack_zone_malloc(dc->zone, (ca->size ? ca->size : 1) * sizeof *cs);
  bg_write *w = msgpack_zone_malloc(dc->zone, wa->size * sizeof *w);
  if (cs == NULL || w == NULL) return BG_E_NOMEM;
  bg_err e = bg__decode_ids(m, f, ca, cs, "clients: ");
  if (e != BG_OK) return e;
  for (uint32_t i = 0; i < wa->size; i++) {
    e = bg__decode_packed_write(dc, &wa->ptr[i], cs, ca->size, i > 0 ? &w[i - 1] : &bg__zero_write, &w[i]);
    if (e != BG_OK) {
      bg__why_write(dc, m, f, i);
      return e;
    }
  }
  *MEMBER(bg__writes, base, f) = w;
  COUNT(base, f) = wa->size;
  FLAG(base, f) = true;
  return BG_OK;
}

/* The packed form of a page: decode the stored writes, encode them packed. */
static bg_err bg__changes_frame_packed(const bg_str *writes, uint32_t n, uint64_t next, bool more, bg_buf *out,
                                       uint32_t max) {
  msgpack_zone *zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
  bg_write *w = n ? malloc(n * sizeof *w) : NULL;
  bg_err e = zone == NULL || (n && w == NULL) ? BG_E_NOMEM : BG_OK;
  for (uint32_t i = 0; i < n && e == BG_OK; i++) {
    e = bg_write_decode((const uint8_t *)writes[i].p, writes[i].len, zone, &w[i], NULL);
    if (e != BG_OK && e != BG_E_NOMEM) e = BG_E_INTERNAL; /* the store's own encoding */
  }
  if (e == BG_OK) {
    bg_msg m;
    memset(&m, 0, sizeof m);
    m.type = BG_MSG_CHANGES;
    m.u.changes = (bg_msg_changes){w, n, next, more, true};
    e = bg_msg_encode_frame(&m, out, max);
  }
  free(w);
  if (zone != NULL) msgpack_zone_free(zone);
  return e;
}

static bg_err bg__changes_frame_plain(const bg_str *writes, uint32_t n, uint64_t next, bool more, bg_buf *out,
                                      uint32_t max);

bg_err bg_changes_frame_raw(const bg_str *writes, uint32_t n, uint64_t next, bool more, bool packed,
                            bg_buf *out, uint32_t max) {
  if (n > BG_MSG_MAX_WRITES) return BG_E_LIMIT;
  size_t start = out->len;
  bg_err e = bg__changes_frame_plain(writes, n, next, more, out, max);
  if (e != BG_OK || !packed) return e;
  /* packed after it; the smaller stays (a page sized by its stored writes
   * keeps to its budget, PROTOCOL.md 4.7) */
  size_t plain = out->len - start;
  e = bg__changes_frame_packed(writes, n, next, more, out, max);
  if (e != BG_OK) return BG_OK; /* too large, or no memory to pack: the plain frame stands */
  size_t packed_len = out->len - start - plain;
  if (packed_len <= plain) {
    memmove(out->data + start, out->data + start + plain, packed_len);
    out->len = start + packed_len;
  } else {
    out->len = start + plain;
  }
  return BG_OK;
}

static bg_err bg__changes_frame_plain(const bg_str *writes, uint32_t n, uint64_t next, bool more, bg_buf *out,
                                      uint32_t max) {
  size_t mark;
  bg_err e = bg_frame_begin(out, &mark);
  if (e != BG_OK) return e;
  /* the CHANGES map of the table above: type, writes, next, and more when true */
  bg_mp_out o;
  bg_mp_out_init(&o, out);
  bg_mp_put_map(&o, more ? 4 : 3);
  bg_mp_put_uint(&o, 0);
  bg_mp_put_uint(&o, BG_MSG_CHANGES);
  bg_mp_put_uint(&o, 1);
  bg_mp_put_array(&o, n);
  for (uint32_t i = 0; i < n && o.err == BG_OK; i++) {
    if ((e = bg_buf_append(out, writes[i].p, writes[i].len)) != BG_OK) o.err = e;
  }
  bg_mp_put_uint(&o, 2);
  bg_mp_put_uint(&o, next);
  if (more) {
    bg_mp_put_uint(&o, 3);
    bg_mp_put_bool(&o, true);
  }
  e = o.err;
  if (e == BG_OK) return bg_frame_end(out, mark, max);
  bg_frame_abort(out, mark);
  return e;
}

bool bg_writes_pack_smaller(const bg_write *w, uint32_t n) {
  if (n > BG_MSG_MAX_WRITES) return false;
  bg_buf b = BG_BUF_INIT;
  bg_mp_out o;
  bg_mp_out_init(&o, &b);
  bg_mp_put_array(&o, n);
  bg_err e = BG_OK;
  for (uint32_t i = 0; i < n && e == BG_OK; i++) e = bg__write_encode_fast(&o, &w[i], false);
  size_t plain = b.len;
  if (e == BG_OK) e = bg__packed_encode(&o, w, n);
  bool smaller = e == BG_OK && o.err == BG_OK && b.len - plain <= plain;
  bg_buf_free(&b);
  return smaller;
}

size_t bg_write_encoded_size(const bg_write *w) {
  bg_buf b = BG_BUF_INIT;
  size_t n = bg_write_encode(w, &b) == BG_OK ? b.len : 0;
  bg_buf_free(&b);
  return n;
}

/* --- JSON rendering -------------------------------------------------------------- */

typedef struct bg__jout {
  bg_buf *b;
  bg_err err; /* first failed append; later output is skipped */
} bg__jout;

static void bg__json_put(bg__jout *o, const void *p, size_t n) {
  if (o->err == BG_OK) o->err = bg_buf_append(o->b, p, n);
}

static void bg__json_raw(bg__jout *o, const char *s) { bg__json_put(o, s, strlen(s)); }

static void bg__json_u64(bg__jout *o, uint64_t v) {
  char t[24];
  int n = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
  bg__json_put(o, t, (size_t)n);
}

static void bg__json_i64(bg__jout *o, int64_t v) {
  char t[24];
  int n = snprintf(t, sizeof t, "%lld", (long long)v);
  bg__json_put(o, t, (size_t)n);
}

static void bg__json_pair(bg__jout *o, uint64_t a, uint64_t b) {
  bg__json_raw(o, "[");
  bg__json_u64(o, a);
  bg__json_raw(o, ",");
  bg__json_u64(o, b);
  bg__json_raw(o, "]");
}

static void bg__json_str(bg__jout *o, bg_str s) {
  static const char hex[] = "0123456789abcdef";
  bg__json_raw(o, "\"");
  for (uint32_t i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.p[i];
    if (c == '"' || c == '\\') {
      char t[2] = {'\\', (char)c};
      bg__json_put(o, t, 2);
    } else if (c < 0x20 || c == 0x7f) {
      char t[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      bg__json_put(o, t, 6);
    } else {
      bg__json_put(o, &s.p[i], 1);
    }
  }
  bg__json_raw(o, "\"");
}

static void bg__json_hex(bg__jout *o, bg_str s) {
  static const char hex[] = "0123456789abcdef";
  bg__json_raw(o, "\"");
  for (uint32_t i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.p[i];
    char t[2] = {hex[c >> 4], hex[c & 15]};
    bg__json_put(o, t, 2);
  }
  bg__json_raw(o, "\"");
}

static void bg__json_struct(bg__jout *o, const bg__desc *d, const void *base, const char *type);

static void bg__json_field(bg__jout *o, const bg__field *f, const void *base) {
  switch (f->kind) {
    case BG__UINT: bg__json_u64(o, bg__uint_get(base, f)); return;
    case BG__BOOL: bg__json_raw(o, *CMEMBER(bool, base, f) ? "true" : "false"); return;
    case BG__STR: bg__json_str(o, *CMEMBER(bg_str, base, f)); return;
    case BG__BIN: bg__json_hex(o, *CMEMBER(bg_str, base, f)); return;
    case BG__VALUE: {
      const bg_value *v = CMEMBER(bg_value, base, f);
      if (v->type == BG_V_NIL) bg__json_raw(o, "null");
      else if (v->type == BG_V_BOOL) bg__json_raw(o, v->b ? "true" : "false");
      else if (v->type == BG_V_INT) bg__json_i64(o, v->i);
      else if (v->type == BG_V_STR) bg__json_str(o, v->s);
      else {
        bg__json_raw(o, "{\"bin\":");
        bg__json_hex(o, v->s);
        bg__json_raw(o, "}");
      }
      return;
    }
    case BG__DOT: {
      const bg_dot *dt = CMEMBER(bg_dot, base, f);
      bg__json_pair(o, dt->device, dt->counter);
      return;
    }
    case BG__VV: {
      const bg_vv *vv = CMEMBER(bg_vv, base, f);
      bg__json_raw(o, "[");
      for (uint32_t i = 0; i < vv->n; i++) {
        if (i) bg__json_raw(o, ",");
        bg__json_pair(o, vv->e[i].device, vv->e[i].counter);
      }
      bg__json_raw(o, "]");
      return;
    }
    default: break;
  }
  uint32_t n = CCOUNT(base, f);
  bg__json_raw(o, "[");
  for (uint32_t i = 0; i < n; i++) {
    if (i) bg__json_raw(o, ",");
    if (f->kind == BG__WRITES || f->kind == BG__PACKED) {
      bg__json_struct(o, &bg__write_desc, &(*CMEMBER(bg__writes, base, f))[i], NULL);
    } else if (f->kind == BG__REJECTS) {
      const bg_reject *r = &(*CMEMBER(bg__rejects, base, f))[i];
      bg__json_pair(o, r->index, r->code);
    } else {
      bg__json_str(o, (*CMEMBER(bg__strs, base, f))[i]);
    }
  }
  bg__json_raw(o, "]");
}

static void bg__json_struct(bg__jout *o, const bg__desc *d, const void *base, const char *type) {
  bool first = true;
  bg__json_raw(o, "{");
  if (type != NULL) {
    bg__json_raw(o, "\"type\":\"");
    bg__json_raw(o, type);
    bg__json_raw(o, "\"");
    first = false;
  }
  for (size_t i = 0; i < d->n; i++) {
    const bg__field *f = &d->fields[i];
    if (!f->required && bg__is_default(base, f)) continue;
    bg__json_raw(o, first ? "\"" : ",\"");
    bg__json_raw(o, f->name);
    bg__json_raw(o, "\":");
    bg__json_field(o, f, base);
    first = false;
  }
  bg__json_raw(o, "}");
}

bg_err bg_msg_json(const bg_msg *m, bg_buf *out) {
  const bg__desc *d = bg__desc_of((int)m->type);
  if (d == NULL) return BG_E_UNKNOWN_MESSAGE;
  size_t mark = out->len;
  bg__jout o = {out, BG_OK};
  bg__json_struct(&o, d, &m->u, d->name);
  if (o.err != BG_OK) out->len = mark;
  return o.err;
}
