/*
 * make_vectors - writes the golden test vectors into a directory.
 *
 *   make_vectors DIR
 *
 * The canonical vectors are encoded by this build's encoder; the malformed ones
 * are written out byte by byte (hex below) so that they do not depend on it.
 * The files are committed: test_vectors checks that this build still decodes and
 * re-encodes every one of them to the same bytes, so an accidental change of the
 * wire format fails the tests. Run this only to add vectors, and review the diff.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_error.h"
#include "bg_frame.h"
#include "bg_hlc.h"
#include "bg_msg.h"
#include "vectorfile.h"

static const char *g_dir;
static int g_failed;

static void put(const char *name, const char *comment, const char *expect, const uint8_t *b,
                size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.hex", g_dir, name);
  if (bg_vector_write(path, comment, expect, b, n) != 0) {
    fprintf(stderr, "make_vectors: cannot write %s\n", path);
    g_failed = 1;
  }
}

static void ok(const char *name, const char *comment, const bg_msg *m) {
  bg_buf b = BG_BUF_INIT;
  bg_err e = bg_msg_encode_frame(m, &b, 0);
  if (e != BG_OK) {
    fprintf(stderr, "make_vectors: %s: %s\n", name, bg_err_name(e));
    g_failed = 1;
  } else {
    char expect[64];
    snprintf(expect, sizeof expect, "ok %s", bg_msg_type_name((int)m->type));
    put(name, comment, expect, b.data, b.len);
  }
  bg_buf_free(&b);
}

/* A vector given as hex; `frame` 0 means the hex is a body to be framed. */
static void raw(const char *name, const char *comment, const char *expect, const char *hex,
                int frame) {
  uint8_t buf[4096];
  size_t n = frame ? 0 : 4;
  for (const char *p = hex; *p;) {
    unsigned v;
    int used;
    if (sscanf(p, " %2x%n", &v, &used) != 1) break;
    buf[n++] = (uint8_t)v;
    p += used;
  }
  if (!frame) {
    size_t len = n - 4;
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
  }
  put(name, comment, expect, buf, n);
}

static bg_msg msg(bg_msg_type t) {
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = t;
  return m;
}

/* 2026-11-17 09:30:00 UTC in milliseconds. */
#define T0 UINT64_C(1795426200000)

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make_vectors DIR\n");
    return 2;
  }
  g_dir = argv[1];

  bg_msg m = msg(BG_MSG_HELLO);
  m.u.hello = (bg_msg_hello){1, 1, 1, BG_STR("bgsync/0.1.0"), 7, 9001};
  ok("hello", "HELLO: device 7 offers protocol 1..1, schema 1, resumes from cursor 9001", &m);
  m.u.hello = (bg_msg_hello){1, 3, 1, BG_STR("bgsync-kotlin/2.0"), 0, 0};
  ok("hello_minimal", "HELLO: only required fields; offers protocol 1..3", &m);

  m = msg(BG_MSG_WELCOME);
  m.u.welcome = (bg_msg_welcome){1, 1, BG_STR("bgsyncd/0.1.0"), 7, 12, BG_STR("sanne"), 1, 9350,
                                 bg_hlc_make(T0, 0), 0};
  ok("welcome", "WELCOME: protocol 1, device 7 of user 12 (sanne, role 1), head 9350", &m);
  m.u.welcome.max_frame = 1024 * 1024;
  ok("welcome_max_frame", "WELCOME from a server that accepts frames of at most 1 MiB", &m);

  /* A PUSH with three writes of one caseworker's device. */
  bg_dot ctx1[] = {{3, 12}, {7, 100}};
  bg_write w[3];
  memset(w, 0, sizeof w);
  w[0] = (bg_write){BG_STR("C-0001"), 4, BG_STR("1/wonen"), 2,
                    {BG_V_STR, false, 0,
                     BG_STR("Woont sinds maart zelfstandig; de huur is te hoog voor zijn inkomen.")},
                    {7, 101}, {ctx1, 2, 0}, 1, 4, 12, 1, true, bg_hlc_make(T0, 0)};
  w[1] = (bg_write){BG_STR("C-0001"), 7, BG_STR("7.88"), 5, {BG_V_INT, false, 2, {"", 0}},
                    {7, 102}, {NULL, 0, 0}, 1, 6, 12, 1, true, bg_hlc_make(T0 + 1500, 0)};
  w[2] = (bg_write){BG_STR("C-0001"), 7, BG_STR("7.88"), 3, {BG_V_NIL, false, 0, {"", 0}},
                    {7, 103}, {NULL, 0, 0}, 1, 6, 12, 1, true, bg_hlc_make(T0 + 1500, 1)};
  m = msg(BG_MSG_PUSH);
  m.u.push = (bg_msg_push){42, w, 3, false};
  ok("push", "PUSH batch 42: a persoonsbeschrijving text with a causal context,\n"
             "an actie status (integer) and a cleared field (nil value)", &m);
  m.u.push.packed = true;
  ok("push_packed", "PUSH batch 42 packed (protocol 2): the writes of push.hex; the second and\n"
                    "third give only what changed (rtype, rid, field, value, phase, context, time)", &m);

  bg_write v[4];
  memset(v, 0, sizeof v);
  static const uint8_t sig[] = {0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a};
  v[0] = (bg_write){BG_STR("C-0002"), 5, BG_STR("2"), 9, {BG_V_BOOL, true, 0, {"", 0}},
                    {9, 1}, {NULL, 0, 0}, 2, 5, 15, 2, false, bg_hlc_make(T0, 7)};
  v[1] = (bg_write){BG_STR("C-0002"), 6, BG_STR("9.2"), 4, {BG_V_INT, false, -3, {"", 0}},
                    {9, 2}, {NULL, 0, 0}, 2, 5, 15, 2, false, bg_hlc_make(T0, 8)};
  v[2] = (bg_write){BG_STR("C-0002"), 4, BG_STR("2/financi\xc3\xabn"), 1,
                    {BG_V_STR, false, 0, BG_STR("Schulden in kaart; budgetbeheer loopt.")},
                    {9, 3}, {NULL, 0, 0}, 2, 4, 15, 2, false, bg_hlc_make(T0, 9)};
  v[3] = (bg_write){BG_STR("C-0002"), 5, BG_STR("2"), 10,
                    {BG_V_BIN, false, 0, {(const char *)sig, sizeof sig}},
                    {9, 4}, {NULL, 0, 0}, 2, 5, 15, 2, false, bg_hlc_make(T0, 10)};
  m.u.push = (bg_msg_push){43, v, 4, false};
  ok("push_values", "PUSH batch 43: a boolean, a negative integer, UTF-8 text (financi\xc3\xabn)\n"
                    "and a binary value; the author is not the trajectbegeleider (tb omitted)", &m);

  m = msg(BG_MSG_ACK);
  m.u.ack = (bg_msg_ack){42, NULL, 0, 9353};
  ok("ack", "ACK of batch 42, committed at server sequence 9353", &m);
  bg_reject rj[] = {{1, BG_E_FORBIDDEN}, {3, BG_E_AUTHOR}};
  m.u.ack = (bg_msg_ack){43, rj, 2, 9355};
  ok("ack_rejected", "ACK of batch 43: writes 1 (204 forbidden) and 3 (205 author) refused,\n"
                     "the others applied", &m);

  m = msg(BG_MSG_PULL);
  m.u.pull = (bg_msg_pull){9001, 65536, 500};
  ok("pull", "PULL after cursor 9001, at most 64 KiB and 500 writes", &m);
  m.u.pull = (bg_msg_pull){0, 0, 0};
  ok("pull_defaults", "PULL from the start with the server's default budgets", &m);

  bg_dot ctx2[] = {{7, 103}};
  bg_write c[2];
  memset(c, 0, sizeof c);
  c[0] = (bg_write){BG_STR("C-0001"), 7, BG_STR("7.88"), 5, {BG_V_INT, false, 3, {"", 0}},
                    {11, 40}, {ctx2, 1, 0}, 1, 6, 14, 1, false, bg_hlc_make(T0 + 60000, 0)};
  c[1] = (bg_write){BG_STR("C-0001"), 9, BG_STR("11.41"), 2,
                    {BG_V_STR, false, 0, BG_STR("Voortgangsgesprek: afspraak met schuldhulp gemaakt.")},
                    {11, 41}, {NULL, 0, 0}, 1, 6, 14, 1, false, bg_hlc_make(T0 + 61000, 0)};
  m = msg(BG_MSG_CHANGES);
  m.u.changes = (bg_msg_changes){c, 2, 9120, true, false};
  ok("changes", "CHANGES: two writes of device 11, next cursor 9120, more to come", &m);
  m.u.changes.packed = true;
  ok("changes_packed", "CHANGES packed (protocol 2): the writes of changes.hex", &m);
  m.u.changes = (bg_msg_changes){NULL, 0, 9120, false, false};
  ok("changes_empty", "CHANGES: nothing new, cursor stays 9120", &m);
  m.u.changes.packed = true;
  ok("changes_empty_packed", "CHANGES packed (protocol 2): nothing new, [[], []]", &m);

  bg_str cl[] = {BG_STR("C-0003"), BG_STR("C-0017")};
  m = msg(BG_MSG_PURGE);
  m.u.purge = (bg_msg_purge){5, cl, 2};
  ok("purge", "PURGE 5: drop clients C-0003 and C-0017 from the replica", &m);
  m = msg(BG_MSG_ACK);
  m.u.ack = (bg_msg_ack){5, NULL, 0, 0};
  ok("ack_purge", "ACK of PURGE 5 (sent by the device after the purge committed)", &m);

  m = msg(BG_MSG_ERROR);
  m.u.error = (bg_msg_error){BG_E_SCHEMA_VERSION, BG_STR("server has schema 1, device has 2"), false, 0};
  ok("error", "ERROR 201: schema versions differ", &m);
  m.u.error = (bg_msg_error){BG_E_BUSY, BG_STR("store busy"), true, 42};
  ok("error_retryable", "ERROR 401 (retryable) while applying batch 42", &m);

  m = msg(BG_MSG_PING);
  m.u.ping = (bg_msg_ping){77};
  ok("ping", "PING with nonce 77", &m);
  m.u.ping = (bg_msg_ping){0};
  ok("ping_empty", "PING without a nonce", &m);
  m = msg(BG_MSG_PONG);
  m.u.ping = (bg_msg_ping){77};
  ok("pong", "PONG echoing nonce 77", &m);

  m = msg(BG_MSG_BYE);
  m.u.bye = (bg_msg_bye){0, {"", 0}};
  ok("bye", "BYE: normal end of session", &m);
  m.u.bye = (bg_msg_bye){BG_E_SHUTTING_DOWN, BG_STR("server shutting down")};
  ok("bye_shutdown", "BYE 504: the server is shutting down", &m);

  static const uint8_t csr[] = {0x30, 0x81, 0x9b, 0x30, 0x43, 0x02, 0x01, 0x00, 0x30, 0x16, 0x31,
                                0x14, 0x30, 0x12, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x0b, 0x73,
                                0x61, 0x6e, 0x6e, 0x65, 0x2d, 0x6c, 0x61, 0x70, 0x74, 0x6f, 0x70};
  m = msg(BG_MSG_ENROLL);
  m.u.enroll = (bg_msg_enroll){BG_STR("K7QF-2M9X-PL4T"), {(const char *)csr, sizeof csr},
                               BG_STR("bgsync/0.1.0"), BG_STR("laptop van Sanne")};
  ok("enroll", "ENROLL: one-time code and a (shortened, opaque) DER certificate request", &m);
  static const uint8_t crt[] = {0x30, 0x82, 0x01, 0x2a, 0x30, 0x81, 0xd1, 0xa0, 0x03, 0x02, 0x01, 0x02};
  static const uint8_t ca[] = {0x30, 0x82, 0x01, 0x4b, 0x30, 0x81, 0xf2, 0xa0, 0x03, 0x02, 0x01, 0x02};
  m = msg(BG_MSG_ENROLLED);
  m.u.enrolled = (bg_msg_enrolled){7, 12, BG_STR("sanne"), {(const char *)crt, sizeof crt},
                                   {(const char *)ca, sizeof ca}};
  ok("enrolled", "ENROLLED: device 7 of user 12 with its (shortened, opaque) DER certificate and CA", &m);

  /* Accepted but not canonical: decoders must take these, encoders never make them. */
  raw("accept_unknown_keys", "PING with keys this version does not know (17, and a string key):\n"
      "ignored for forward compatibility",
      "accept PING", "83 00 09 11 a6 66 75 74 75 72 65 a1 78 c0", 0);
  raw("accept_wide_integers", "PULL whose integers use wider encodings than needed",
      "accept PULL", "82 cf 00 00 00 00 00 00 00 00 cd 00 05 01 ce 00 00 23 29", 0);
  raw("accept_key_order", "PING with keys in descending order", "accept PING", "82 01 05 00 09", 0);

  /* Refused frames. */
  raw("err_frame_empty", "a frame whose length is 0", "error BG_E_FRAME_EMPTY", "00 00 00 00", 1);
  raw("err_frame_too_large", "a frame claiming 4 MiB + 1 bytes: refused on the header alone",
      "error BG_E_FRAME_TOO_LARGE", "00 40 00 01", 1);
  raw("err_reserved_byte", "body is the never-used byte 0xc1", "error BG_E_MALFORMED", "c1", 0);
  raw("err_truncated_string", "a string header claims 5 bytes, 2 follow", "error BG_E_TRUNCATED",
      "a5 61 62", 0);
  raw("err_huge_array_claim", "array32 claiming 4294967295 elements in a 5-byte body:\n"
      "refused before anything is allocated", "error BG_E_TRUNCATED", "dd ff ff ff ff", 0);
  raw("err_huge_map_claim", "map32 claiming 2^31 pairs after a valid type key",
      "error BG_E_TRUNCATED", "df 80 00 00 00 00 09", 0);
  raw("err_trailing_bytes", "a whole PING followed by one more byte", "error BG_E_TRAILING_BYTES",
      "81 00 09 c0", 0);
  raw("err_too_deep", "17 nested arrays inside a PING", "error BG_E_TOO_DEEP",
      "82 00 09 05 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 90", 0);
  raw("err_not_a_map", "body is an array", "error BG_E_NOT_A_MAP", "92 00 09", 0);
  raw("err_missing_type", "map without key 0", "error BG_E_MISSING_FIELD", "81 01 05", 0);
  raw("err_type_is_string", "message type given as a string", "error BG_E_FIELD_TYPE",
      "81 00 a4 50 49 4e 47", 0);
  raw("err_unknown_type", "message type 99", "error BG_E_UNKNOWN_MESSAGE", "81 00 63", 0);
  raw("err_duplicate_key", "PING with key 1 twice", "error BG_E_DUPLICATE_KEY",
      "83 00 09 01 01 01 02", 0);
  raw("err_push_no_writes", "PUSH without its writes", "error BG_E_MISSING_FIELD", "82 00 03 01 2a", 0);
  raw("err_changes_no_writes", "CHANGES without its writes (neither form), next given as a string:\n"
      "the missing writes come first", "error BG_E_MISSING_FIELD", "82 00 06 02 a1 78", 0);
  raw("err_push_empty_batch", "PUSH with an empty writes array", "error BG_E_FIELD_RANGE",
      "83 00 03 01 2a 02 90", 0);
  raw("err_push_batch_zero", "PUSH with batch id 0", "error BG_E_FIELD_RANGE",
      "83 00 03 01 00 02 91 80", 0);
  raw("err_write_missing_client", "PUSH whose write is an empty map", "error BG_E_MISSING_FIELD",
      "83 00 03 01 2a 02 91 80", 0);
  /* write: client "C", rtype 1, rid "r", field 1, dot <varies>, phase 4, user 3, role 1, hlc 1 */
  raw("err_write_bad_dot", "write whose dot has three elements", "error BG_E_FIELD_TYPE",
      "83 00 03 01 2a 02 91 89 01 a1 43 02 01 03 a1 72 04 01 06 93 07 01 01 09 04 0a 03 0b 01 0d 01", 0);
  raw("err_write_dot_zero", "write whose dot counter is 0", "error BG_E_FIELD_RANGE",
      "83 00 03 01 2a 02 91 89 01 a1 43 02 01 03 a1 72 04 01 06 92 07 00 09 04 0a 03 0b 01 0d 01", 0);
  raw("err_write_ctx_unsorted", "write whose causal context lists device 9 before device 3",
      "error BG_E_FIELD_RANGE",
      "83 00 03 01 2a 02 91 8a 01 a1 43 02 01 03 a1 72 04 01 06 92 07 01 07 94 09 01 03 01 09 04 0a 03 0b 01 0d 01",
      0);
  /* packed (protocol 2): [["C"], [first write]]; the first write as above with client 0, dot [7, 1] */
  raw("err_packed_and_writes", "PUSH with both writes and packed", "error BG_E_DUPLICATE_KEY",
      "84 00 03 01 2a 02 91 89 01 a1 43 02 01 03 a1 72 04 01 06 92 07 01 09 04 0a 03 0b 01 0d 01"
      " 03 92 91 a1 43 91 89 01 00 02 01 03 a1 72 04 01 06 92 07 01 09 04 0a 03 0b 01 0d 01", 0);
  raw("err_packed_no_such_client", "packed write naming client 1 of a table of one", "error BG_E_FIELD_RANGE",
      "83 00 03 01 2a 03 92 91 a1 43 91 89 01 01 02 01 03 a1 72 04 01 06 92 07 01 09 04 0a 03 0b 01 0d 01", 0);
  raw("err_packed_first_without_dot", "first packed write without its dot (nothing to follow)",
      "error BG_E_MISSING_FIELD",
      "83 00 03 01 2a 03 92 91 a1 43 91 88 01 00 02 01 03 a1 72 04 01 09 04 0a 03 0b 01 0d 01", 0);
  raw("err_packed_not_a_pair", "packed is one array, not [clients, writes]", "error BG_E_FIELD_TYPE",
      "83 00 03 01 2a 03 91 91 80", 0);
  raw("err_write_ctx_odd", "write whose causal context has an odd number of elements",
      "error BG_E_FIELD_TYPE",
      "83 00 03 01 2a 02 91 8a 01 a1 43 02 01 03 a1 72 04 01 06 92 07 01 07 93 03 01 09 09 04 0a 03 0b 01 0d 01",
      0);
  raw("err_write_value_array", "write whose value is an array", "error BG_E_FIELD_TYPE",
      "83 00 03 01 2a 02 91 8a 01 a1 43 02 01 03 a1 72 04 01 05 90 06 92 07 01 09 04 0a 03 0b 01 0d 01", 0);
  raw("err_write_bad_utf8", "write whose client id is not UTF-8 (0xff)", "error BG_E_UTF8",
      "83 00 03 01 2a 02 91 89 01 a1 ff 02 01 03 a1 72 04 01 06 92 07 01 09 04 0a 03 0b 01 0d 01", 0);
  raw("err_write_user_zero", "write whose author user id is 0", "error BG_E_FIELD_RANGE",
      "83 00 03 01 2a 02 91 89 01 a1 43 02 01 03 a1 72 04 01 06 92 07 01 09 04 0a 00 0b 01 0d 01", 0);
  raw("err_client_id_too_long", "PURGE naming a 65-byte client id", "error BG_E_LIMIT",
      "83 00 07 01 01 02 91 d9 41"
      " 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43"
      " 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43 43",
      0);
  raw("err_hello_range_inverted", "HELLO offering protocol 3..1", "error BG_E_FIELD_RANGE",
      "85 00 01 01 03 02 01 03 01 04 a1 78", 0);
  raw("err_error_code_zero", "ERROR with code 0", "error BG_E_FIELD_RANGE", "82 00 08 01 00", 0);
  raw("err_float_where_uint", "PULL whose cursor is a float", "error BG_E_FIELD_TYPE",
      "82 00 05 01 cb 3f f0 00 00 00 00 00 00", 0);
  return g_failed;
}
