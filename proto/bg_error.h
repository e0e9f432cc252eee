/*
 * bg_error.h - the product's one error enum.
 *
 * Every failure that a user, an app or a peer can meet has a code here. The codes
 * are part of the wire protocol (ERROR frames, per-write rejections in ACK) and of
 * the client library's API, so they are stable: a code is never renumbered or
 * reused, only added. docs/PROTOCOL.md lists them; a test checks that the list
 * there and this table agree.
 *
 * Codes are grouped by hundreds: 1xx frame and message, 2xx session and access,
 * 3xx domain rules, 4xx storage, 5xx transport, 6xx usage and internal.
 *
 * Each code has a name (the enum's, for logs and scripts), a one-line message that
 * says what went wrong and what to do, and a retryable flag: whether trying the
 * same thing again later may succeed without anyone changing anything.
 */
#ifndef BG_ERROR_H
#define BG_ERROR_H

#include <stdbool.h>

/* X(symbol, code, retryable, message) */
#define BG_ERROR_TABLE(X)                                                                 \
  X(BG_OK, 0, false, "success")                                                           \
  /* 1xx: frames and messages */                                                          \
  X(BG_E_FRAME_TOO_LARGE, 100, false,                                                     \
    "frame larger than the maximum frame size; split the batch into smaller ones")       \
  X(BG_E_FRAME_EMPTY, 101, false, "frame with a zero-length body")                        \
  X(BG_E_MALFORMED, 102, false, "frame body is not valid MessagePack")                    \
  X(BG_E_TRUNCATED, 103, false,                                                           \
    "frame body ends inside a MessagePack value (a length claims more bytes than remain)") \
  X(BG_E_TRAILING_BYTES, 104, false, "frame body has bytes after its one MessagePack value") \
  X(BG_E_TOO_DEEP, 105, false, "MessagePack nesting deeper than the protocol allows")     \
  X(BG_E_TOO_MANY_OBJECTS, 106, false,                                                    \
    "frame holds more MessagePack values than the protocol allows")                      \
  X(BG_E_NOT_A_MAP, 107, false, "message body or structure is not a MessagePack map")     \
  X(BG_E_MISSING_FIELD, 108, false, "a required message field is missing")                \
  X(BG_E_FIELD_TYPE, 109, false, "a message field has the wrong MessagePack type")        \
  X(BG_E_FIELD_RANGE, 110, false, "a message field's value is out of its allowed range")  \
  X(BG_E_DUPLICATE_KEY, 111, false, "a map holds one of its known keys twice")                     \
  X(BG_E_UNKNOWN_MESSAGE, 112, false,                                                     \
    "unknown message type (a bug in the sender, or a peer too new for the chosen version)") \
  X(BG_E_UNEXPECTED_MESSAGE, 113, false,                                                  \
    "message not allowed in the session's current state")                                \
  X(BG_E_LIMIT, 114, false,                                                               \
    "a string, list or batch is longer than the protocol allows")                        \
  X(BG_E_UTF8, 115, false, "a string is not valid UTF-8")                                 \
  /* 2xx: session, identity and access */                                                 \
  X(BG_E_PROTOCOL_VERSION, 200, false,                                                    \
    "no protocol version in common with the server: update the app")                     \
  X(BG_E_SCHEMA_VERSION, 201, false,                                                      \
    "the data schema differs from the server's: update the app")                          \
  X(BG_E_AUTH, 202, false,                                                                \
    "device not authenticated: enrol the device again with a new code from the office")  \
  X(BG_E_DEVICE_REVOKED, 203, false,                                                      \
    "this device has been revoked by the office; its data can no longer be synced")     \
  X(BG_E_FORBIDDEN, 204, false, "the user has no access to this client")                  \
  X(BG_E_AUTHOR, 205, false, "a write names an author other than the device's own user") \
  X(BG_E_ENROLL_CODE, 206, false,                                                         \
    "enrolment code unknown or mistyped: check it, or ask the office for a new one")     \
  X(BG_E_ENROLL_EXPIRED, 207, false, "enrolment code expired: ask the office for a new one") \
  X(BG_E_ENROLL_USED, 208, false, "enrolment code already used: ask the office for a new one") \
  X(BG_E_RATE_LIMITED, 209, true, "too many attempts: wait a while before trying again")  \
  X(BG_E_USER_DISABLED, 210, false, "the user's account has been disabled by the office")  \
  X(BG_E_DOT_REUSED, 211, false,                                                          \
    "this device reused a write id for other content (restored from a backup?): enrol it again") \
  /* 3xx: domain rules */                                                                 \
  X(BG_E_PHASE_TRANSITION, 300, false, "this phase transition is not allowed")            \
  X(BG_E_WINDOW, 301, false, "this field cannot be edited in the traject's current phase") \
  X(BG_E_PLAN_SIGNED, 302, false,                                                         \
    "the begeleidingsplan is signed: make a wijzigingsvoorstel for the next evaluation") \
  X(BG_E_IMMUTABLE, 303, false,                                                           \
    "a rapportage cannot be changed once written: add a correction instead")              \
  X(BG_E_UNKNOWN_RECORD, 304, false, "unknown record type or record")                     \
  X(BG_E_UNKNOWN_FIELD, 305, false, "unknown field for this record type")                 \
  X(BG_E_VALUE, 306, false, "value does not fit the field's type")                        \
  X(BG_E_TRAJECT_CLOSED, 307, false, "the traject is closed: no more edits")              \
  X(BG_E_CLOCK_SKEW, 308, false,                                                          \
    "a timestamp lies too far in the future: check the device's clock")                   \
  /* 4xx: storage */                                                                      \
  X(BG_E_STORAGE, 400, true, "storage error")                                             \
  X(BG_E_BUSY, 401, true, "storage busy: try again shortly")                              \
  X(BG_E_DISK_FULL, 402, true, "disk full: free space and try again")                     \
  X(BG_E_IO, 403, true, "input/output error in storage")                                  \
  X(BG_E_CORRUPT, 404, false, "stored data is corrupt: restore from a backup")            \
  X(BG_E_NEWER_SCHEMA, 405, false,                                                        \
    "the file was written by a newer version: update the app")                            \
  X(BG_E_NOT_FOUND, 406, false, "not found")                                              \
  X(BG_E_EXISTS, 407, false, "already exists")                                            \
  /* 5xx: transport */                                                                    \
  X(BG_E_TLS, 500, false,                                                                 \
    "secure connection refused: certificate or TLS settings not accepted")               \
  X(BG_E_CONNECT, 501, true, "cannot reach the server: check the network and the address") \
  X(BG_E_TIMEOUT, 502, true, "the peer did not answer in time")                           \
  X(BG_E_CONNECTION_LOST, 503, true, "connection lost")                                   \
  X(BG_E_SHUTTING_DOWN, 504, true, "the server is shutting down: try again shortly")      \
  X(BG_E_OVERLOADED, 505, true, "the server is at its connection limit: try again shortly") \
  /* 6xx: usage and internal */                                                           \
  X(BG_E_USAGE, 600, false, "invalid argument")                                           \
  X(BG_E_NOMEM, 601, true, "out of memory")                                               \
  X(BG_E_INTERNAL, 602, false, "internal error (a bug): please report it")                \
  X(BG_E_CANCELLED, 603, false, "cancelled")                                              \
  X(BG_E_CONFIG, 604, false, "invalid configuration")

typedef enum bg_err {
#define BG__ENUM(sym, code, retry, msg) sym = code,
  BG_ERROR_TABLE(BG__ENUM)
#undef BG__ENUM
} bg_err;

/* The enum's symbol ("BG_E_WINDOW"), or "BG_E_UNKNOWN_CODE" for a code this build
 * does not know (a newer peer may send one). Never NULL; static storage. */
const char *bg_err_name(int code);

/* The one-line explanation for people, or a generic text for an unknown code.
 * Never NULL; static storage. */
const char *bg_err_message(int code);

/* Whether the same operation may succeed later unchanged (network, busy storage).
 * Unknown codes are not retryable. */
bool bg_err_retryable(int code);

/* Whether this build knows the code. */
bool bg_err_known(int code);

#endif /* BG_ERROR_H */
