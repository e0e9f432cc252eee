/*
 * bg_msg.h - the protocol's messages: their C form, encoding and decoding.
 *
 * Every frame body is a MessagePack map. Key 0 holds the message type; the other
 * keys are small unsigned integers whose meaning depends on the type (the tables
 * in docs/PROTOCOL.md, mirrored in the structs below). Required fields must be
 * present; optional ones have a default and the encoder leaves them out when
 * they hold it, so every message has one canonical encoding: keys ascending,
 * defaults omitted, every integer in its shortest form.
 *
 * Decoding treats the body as hostile. Before msgpack-c builds any object the
 * body is scanned (bg_mp_check): every claimed string, array or map length is
 * checked against the bytes left, nesting depth and the number of values are
 * bounded, and bytes after the value are refused. Then every field is
 * type-checked and range-checked; unknown keys are ignored (a newer peer may add
 * optional fields); an unknown message type is BG_E_UNKNOWN_MESSAGE.
 *
 * Ownership: a decoded message *borrows* - strings and binaries point into the
 * body bytes given to bg_msg_decode, arrays (writes, version vectors) live in the
 * message's own zone. Keep the body bytes alive while you use the message, copy
 * what you keep, and call bg_msg_free. A message built for encoding borrows the
 * caller's memory and needs no bg_msg_free.
 */
#ifndef BG_MSG_H
#define BG_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_buf.h"
#include "bg_error.h"
#include "bg_vv.h"

/* Protocol versions this build speaks (negotiated in HELLO/WELCOME). */
#define BG_PROTO_VERSION_MIN 1u
#define BG_PROTO_VERSION_MAX 2u
/* The first version with packed writes (PUSH.packed, CHANGES.packed): a sender
 * uses them only in a session of this version or later. */
#define BG_PROTO_PACKED 2u

/* Limits, part of the specification. */
#define BG_MP_MAX_DEPTH 16u              /* nesting of arrays and maps */
#define BG_MP_MAX_OBJECTS (1u << 20)     /* MessagePack values in one frame */
#define BG_MSG_MAX_WRITES 8192u          /* writes in one PUSH or CHANGES */
#define BG_MSG_MAX_REJECTED BG_MSG_MAX_WRITES
#define BG_MSG_MAX_PURGE 4096u           /* clients in one PURGE */
#define BG_ID_MAX 64u                    /* client ids, record ids, logins, software */
#define BG_TEXT_MAX 1024u                /* error and bye messages, device names */
#define BG_VALUE_MAX (64u * 1024u)       /* one field value (string or binary) */
#define BG_CERT_MAX (16u * 1024u)        /* a DER certificate or CSR */
#define BG_PULL_DEFAULT_BYTES (1024u * 1024u)
#define BG_PULL_DEFAULT_WRITES 1024u

/* Session conventions (docs/PROTOCOL.md, "Session"). */
#define BG_DEFAULT_PORT 7443u
#define BG_MAX_OUTSTANDING 8u            /* PUSH + PULL requests awaiting an answer */
#define BG_IDLE_TIMEOUT_MS (120u * 1000u) /* default; servers may choose another */

typedef enum bg_msg_type {
  BG_MSG_HELLO = 1,     /* device -> server: opens a sync session */
  BG_MSG_WELCOME = 2,   /* server -> device: session accepted */
  BG_MSG_PUSH = 3,      /* device -> server: a batch of the device's writes */
  BG_MSG_ACK = 4,       /* receiver committed: a PUSH (server) or a PURGE (device) */
  BG_MSG_PULL = 5,      /* device -> server: send changes after this cursor */
  BG_MSG_CHANGES = 6,   /* server -> device: a page of changes */
  BG_MSG_PURGE = 7,     /* server -> device: drop these clients */
  BG_MSG_ERROR = 8,     /* either way: the session ends with this error */
  BG_MSG_PING = 9,      /* either way: are you there? */
  BG_MSG_PONG = 10,     /* either way: answer to PING */
  BG_MSG_BYE = 11,      /* either way: orderly end of the session */
  BG_MSG_ENROLL = 12,   /* new device -> server: code + certificate request */
  BG_MSG_ENROLLED = 13, /* server -> new device: its certificate and device id */
} bg_msg_type;
#define BG_MSG_TYPE_MAX 13

/* Name of a message type ("PUSH"), "UNKNOWN" otherwise. */
const char *bg_msg_type_name(int type);

/* A byte string that is not NUL-terminated; borrowed (see ownership above). */
typedef struct bg_str {
  const char *p;
  uint32_t len;
} bg_str;

#define BG_STR(literal) ((bg_str){(literal), (uint32_t)(sizeof(literal) - 1)})
bg_str bg_str_c(const char *s); /* from a NUL-terminated string */
bool bg_str_eq(bg_str a, bg_str b);
/* Copies `s` into dst as a C string, cut to cap - 1 bytes (cap > 0). */
void bg_str_copy(char *dst, size_t cap, bg_str s);

/* A field value. Strings are UTF-8; binaries are opaque. */
typedef enum bg_vtype {
  BG_V_NIL = 0, /* no value (a cleared field) */
  BG_V_BOOL = 1,
  BG_V_INT = 2,
  BG_V_STR = 3,
  BG_V_BIN = 4,
} bg_vtype;

typedef struct bg_value {
  bg_vtype type;
  bool b;     /* BG_V_BOOL */
  int64_t i;  /* BG_V_INT */
  bg_str s;   /* BG_V_STR and BG_V_BIN */
} bg_value;

/* Same type and same content. */
bool bg_value_eq(const bg_value *a, const bg_value *b);

/*
 * One write: a new value for one field of one record, with everything the merge
 * engine needs to place it among concurrent writes (docs/RULES.md).
 */
typedef struct bg_write {
  bg_str client;   /* client the record belongs to (scoping); 1..BG_ID_MAX bytes */
  uint32_t rtype;  /* record type (schema) */
  bg_str rid;      /* record id within the client and type; 1..BG_ID_MAX bytes */
  uint32_t field;  /* field id within the record type (schema) */
  bg_value value;
  bg_dot dot;      /* (device, counter) that made the write */
  bg_vv ctx;       /* causal context: what the writer had seen of this record */
  uint32_t cycle;  /* traject cycle the writer had seen */
  uint8_t phase;   /* traject phase the writer had seen */
  uint64_t user;   /* author's user id */
  uint8_t role;    /* author's role */
  bool tb;         /* author is the traject's trajectbegeleider */
  uint64_t hlc;    /* hybrid logical clock time of the write */
} bg_write;

typedef struct bg_msg_hello {
  uint32_t proto_min, proto_max; /* protocol versions the device speaks */
  uint32_t schema;               /* the device's schema version */
  bg_str software;               /* "name/version" */
  uint64_t device;               /* optional: the device id it believes it has */
  uint64_t cursor;               /* optional: its pull cursor */
} bg_msg_hello;

typedef struct bg_msg_welcome {
  uint32_t proto;    /* chosen protocol version */
  uint32_t schema;   /* the server's schema version */
  bg_str software;
  uint64_t device;   /* device id, from the certificate */
  uint64_t user;     /* user id, from the certificate */
  bg_str login;      /* user login */
  uint8_t role;      /* user role */
  uint64_t head;     /* optional: newest server sequence number */
  uint64_t hlc;      /* optional: server clock */
  uint32_t max_frame; /* optional: largest body the server accepts (0 = BG_FRAME_MAX) */
} bg_msg_welcome;

/*
 * PUSH and CHANGES carry their writes in one of two forms (docs/PROTOCOL.md 4.7):
 * `writes`, a map per write, or - from protocol 2 - `packed`, the same writes
 * with the client ids in a table and every field the previous write shares left
 * out. `packed` chooses the form when encoding and tells it after decoding; the
 * decoded writes are the same either way.
 */
typedef struct bg_msg_push {
  uint64_t batch;    /* > 0, unique per device; a resent batch keeps its id */
  const bg_write *writes;
  uint32_t n;        /* 1..BG_MSG_MAX_WRITES */
  bool packed;       /* encoded as PUSH.packed (protocol >= BG_PROTO_PACKED) */
} bg_msg_push;

typedef struct bg_reject {
  uint32_t index;    /* position of the write in the PUSH */
  uint32_t code;     /* bg_err */
} bg_reject;

typedef struct bg_msg_ack {
  uint64_t id;       /* batch id of the PUSH, or id of the PURGE */
  const bg_reject *rejected; /* optional: writes refused (the rest were applied) */
  uint32_t n_rejected;
  uint64_t seq;      /* optional: server sequence number after the commit */
} bg_msg_ack;

typedef struct bg_msg_pull {
  uint64_t cursor;     /* opaque: 0, or a CHANGES.next of this server */
  uint32_t max_bytes;  /* optional: budget for the CHANGES body */
  uint32_t max_writes; /* optional: budget in writes */
} bg_msg_pull;

typedef struct bg_msg_changes {
  const bg_write *writes;
  uint32_t n;        /* 0..BG_MSG_MAX_WRITES */
  uint64_t next;     /* opaque cursor to pull from next (persist with the page) */
  bool more;         /* optional: more changes wait beyond `next` */
  bool packed;       /* encoded as CHANGES.packed (protocol >= BG_PROTO_PACKED) */
} bg_msg_changes;

typedef struct bg_msg_purge {
  uint64_t id;       /* > 0; the device ACKs it after the purge committed */
  const bg_str *clients;
  uint32_t n;        /* 1..BG_MSG_MAX_PURGE */
} bg_msg_purge;

typedef struct bg_msg_error {
  uint32_t code;     /* bg_err */
  bg_str message;    /* optional: detail for logs and people */
  bool retryable;    /* optional: may the same request succeed later */
  uint64_t ref;      /* optional: batch id or other id the error refers to */
} bg_msg_error;

typedef struct bg_msg_ping {
  uint64_t nonce;    /* optional: echoed in PONG */
} bg_msg_ping;

typedef struct bg_msg_bye {
  uint32_t code;     /* optional: 0 = normal end, else a bg_err */
  bg_str message;    /* optional */
} bg_msg_bye;

typedef struct bg_msg_enroll {
  bg_str code;       /* one-time enrolment code */
  bg_str csr;        /* DER certificate signing request (binary) */
  bg_str software;
  bg_str name;       /* optional: device name shown in device lists */
} bg_msg_enroll;

typedef struct bg_msg_enrolled {
  uint64_t device;   /* assigned device id */
  uint64_t user;     /* user id */
  bg_str login;
  bg_str cert;       /* DER device certificate (binary) */
  bg_str ca;         /* DER organisation CA certificate (binary) */
} bg_msg_enrolled;

struct msgpack_zone;

typedef struct bg_msg {
  bg_msg_type type;
  union {
    bg_msg_hello hello;
    bg_msg_welcome welcome;
    bg_msg_push push;
    bg_msg_ack ack;
    bg_msg_pull pull;
    bg_msg_changes changes;
    bg_msg_purge purge;
    bg_msg_error error;
    bg_msg_ping ping; /* also PONG */
    bg_msg_bye bye;
    bg_msg_enroll enroll;
    bg_msg_enrolled enrolled;
  } u;
  struct msgpack_zone *zone; /* decoded messages: owns arrays; NULL otherwise */
} bg_msg;

/* Detail of a decoding failure: which field, what was wrong. */
typedef struct bg_msg_why {
  char text[192];
} bg_msg_why;

/*
 * Decode one frame body. On success *m holds the message (free with bg_msg_free).
 * On failure returns the error code, *m needs no freeing, and `why` (may be NULL)
 * says which field was wrong and how - fit for an ERROR frame's message.
 */
bg_err bg_msg_decode(const uint8_t *body, size_t len, bg_msg *m, bg_msg_why *why);

/* Release what decoding allocated. Safe on an encoded-only or zeroed message. */
void bg_msg_free(bg_msg *m);

/*
 * Append the canonical body of `m` to `out`. Checks every field against the same
 * limits the decoder enforces (BG_E_LIMIT, BG_E_FIELD_RANGE, BG_E_UTF8, ...), so
 * we never send what a peer must refuse. On error `out` is unchanged.
 */
bg_err bg_msg_encode(const bg_msg *m, bg_buf *out);

/* Append a whole frame (length prefix + canonical body), body at most `max`
 * bytes (0 = BG_FRAME_MAX). On error `out` is unchanged. */
bg_err bg_msg_encode_frame(const bg_msg *m, bg_buf *out, uint32_t max);

/* Append a JSON rendering of `m` to `out` (one line, field names as in
 * docs/PROTOCOL.md; binaries as hex strings). For logs and inspection tools. */
bg_err bg_msg_json(const bg_msg *m, bg_buf *out);

/* Append one write as it appears inside PUSH and CHANGES (a MessagePack map).
 * Stores use this encoding too, so a write is encoded one way everywhere. */
bg_err bg_write_encode(const bg_write *w, bg_buf *out);

/* Append a whole CHANGES frame (body at most `max` bytes, 0 = BG_FRAME_MAX)
 * whose writes are given already encoded, as bg_write_encode made them - the
 * form a store keeps them in - so a server pages writes out without decoding
 * and re-encoding each. The bytes equal bg_msg_encode_frame's for the same
 * writes. The encodings are trusted (the store validated them on the way in).
 * With `packed` (protocol 2) the writes are also decoded and packed, and the
 * smaller of the two frames is kept (bg_writes_pack_smaller's rule).
 * BG_E_LIMIT over BG_MSG_MAX_WRITES; on error `out` is unchanged. */
bg_err bg_changes_frame_raw(const bg_str *writes, uint32_t n, uint64_t next, bool more, bool packed,
                            bg_buf *out, uint32_t max);

/* The same through the generic, table-driven encoder: the reference the fast
 * write encoder is tested against (test_msg). Not for other uses. */
bg_err bg__write_encode_table(const bg_write *w, bg_buf *out);

/* bg_write_encode for a write that passed bg_write_check (bg_engine.h): the same
 * bytes, without checking again what that check guarantees (the record id, the
 * value). For the merge engine, which checks every write before it logs it. */
bg_err bg__write_encode_checked(const bg_write *w, bg_buf *out);

/* Decode one encoded write (the whole of p..p+n). Strings borrow from `p`; the
 * causal context is allocated in `zone`. */
bg_err bg_write_decode(const uint8_t *p, size_t n, struct msgpack_zone *zone, bg_write *w,
                       bg_msg_why *why);

/* Body size of a write as encoded (for CHANGES budgets). */
size_t bg_write_encoded_size(const bg_write *w);

/* Whether w[0..n) take no more bytes packed than as a plain writes array. A
 * sender packs only then, so that a batch or page sized by the writes' plain
 * encodings keeps to its limits (PROTOCOL.md 4.7); false when they cannot be
 * encoded. bg_changes_frame_raw applies the same rule to the frames it makes. */
bool bg_writes_pack_smaller(const bg_write *w, uint32_t n);

/* Whether `s` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool bg_utf8_valid(const char *s, size_t len);

#endif /* BG_MSG_H */
