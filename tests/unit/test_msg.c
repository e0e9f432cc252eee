/*
 * test_msg.c - messages: every type round-trips (decode(encode(m)) == m, and the
 * encoding is canonical), the encoder refuses what the decoder would refuse,
 * failures name the field, and decoding borrows rather than copies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bg_frame.h"
#include "bg_hlc.h"
#include "bg_mp.h"
#include "bg_msg.h"
#include "msggen.h"

static void str_equal(bg_str a, bg_str b) {
  assert_int_equal(a.len, b.len);
  if (a.len) assert_memory_equal(a.p, b.p, a.len);
}

static void write_equal(const bg_write *a, const bg_write *b) {
  str_equal(a->client, b->client);
  assert_int_equal(a->rtype, b->rtype);
  str_equal(a->rid, b->rid);
  assert_int_equal(a->field, b->field);
  assert_int_equal(a->value.type, b->value.type);
  if (a->value.type == BG_V_BOOL) assert_int_equal(a->value.b, b->value.b);
  if (a->value.type == BG_V_INT) assert_true(a->value.i == b->value.i);
  if (a->value.type == BG_V_STR || a->value.type == BG_V_BIN) str_equal(a->value.s, b->value.s);
  assert_true(a->dot.device == b->dot.device && a->dot.counter == b->dot.counter);
  assert_true(bg_vv_equal(&a->ctx, &b->ctx));
  assert_int_equal(a->cycle, b->cycle);
  assert_int_equal(a->phase, b->phase);
  assert_true(a->user == b->user);
  assert_int_equal(a->role, b->role);
  assert_int_equal(a->tb, b->tb);
  assert_true(a->hlc == b->hlc);
}

/* The independent oracle: field by field, written without the codec's tables. */
static void msg_equal(const bg_msg *a, const bg_msg *b) {
  assert_int_equal(a->type, b->type);
  switch (a->type) {
    case BG_MSG_HELLO:
      assert_int_equal(a->u.hello.proto_min, b->u.hello.proto_min);
      assert_int_equal(a->u.hello.proto_max, b->u.hello.proto_max);
      assert_int_equal(a->u.hello.schema, b->u.hello.schema);
      str_equal(a->u.hello.software, b->u.hello.software);
      assert_true(a->u.hello.device == b->u.hello.device);
      assert_true(a->u.hello.cursor == b->u.hello.cursor);
      break;
    case BG_MSG_WELCOME:
      assert_int_equal(a->u.welcome.proto, b->u.welcome.proto);
      assert_int_equal(a->u.welcome.schema, b->u.welcome.schema);
      str_equal(a->u.welcome.software, b->u.welcome.software);
      assert_true(a->u.welcome.device == b->u.welcome.device);
      assert_true(a->u.welcome.user == b->u.welcome.user);
      str_equal(a->u.welcome.login, b->u.welcome.login);
      assert_int_equal(a->u.welcome.role, b->u.welcome.role);
      assert_true(a->u.welcome.head == b->u.welcome.head);
      assert_true(a->u.welcome.hlc == b->u.welcome.hlc);
      assert_int_equal(a->u.welcome.max_frame, b->u.welcome.max_frame);
      break;
    case BG_MSG_PUSH:
      assert_true(a->u.push.batch == b->u.push.batch);
      assert_int_equal(a->u.push.packed, b->u.push.packed);
      assert_int_equal(a->u.push.n, b->u.push.n);
      for (uint32_t i = 0; i < a->u.push.n; i++) write_equal(&a->u.push.writes[i], &b->u.push.writes[i]);
      break;
    case BG_MSG_CHANGES:
      assert_int_equal(a->u.changes.n, b->u.changes.n);
      for (uint32_t i = 0; i < a->u.changes.n; i++)
        write_equal(&a->u.changes.writes[i], &b->u.changes.writes[i]);
      assert_true(a->u.changes.next == b->u.changes.next);
      assert_int_equal(a->u.changes.more, b->u.changes.more);
      assert_int_equal(a->u.changes.packed, b->u.changes.packed);
      break;
    case BG_MSG_ACK:
      assert_true(a->u.ack.id == b->u.ack.id);
      assert_true(a->u.ack.seq == b->u.ack.seq);
      assert_int_equal(a->u.ack.n_rejected, b->u.ack.n_rejected);
      for (uint32_t i = 0; i < a->u.ack.n_rejected; i++) {
        assert_int_equal(a->u.ack.rejected[i].index, b->u.ack.rejected[i].index);
        assert_int_equal(a->u.ack.rejected[i].code, b->u.ack.rejected[i].code);
      }
      break;
    case BG_MSG_PULL:
      assert_true(a->u.pull.cursor == b->u.pull.cursor);
      assert_int_equal(a->u.pull.max_bytes, b->u.pull.max_bytes);
      assert_int_equal(a->u.pull.max_writes, b->u.pull.max_writes);
      break;
    case BG_MSG_PURGE:
      assert_true(a->u.purge.id == b->u.purge.id);
      assert_int_equal(a->u.purge.n, b->u.purge.n);
      for (uint32_t i = 0; i < a->u.purge.n; i++) str_equal(a->u.purge.clients[i], b->u.purge.clients[i]);
      break;
    case BG_MSG_ERROR:
      assert_int_equal(a->u.error.code, b->u.error.code);
      str_equal(a->u.error.message, b->u.error.message);
      assert_int_equal(a->u.error.retryable, b->u.error.retryable);
      assert_true(a->u.error.ref == b->u.error.ref);
      break;
    case BG_MSG_PING: case BG_MSG_PONG: assert_true(a->u.ping.nonce == b->u.ping.nonce); break;
    case BG_MSG_BYE:
      assert_int_equal(a->u.bye.code, b->u.bye.code);
      str_equal(a->u.bye.message, b->u.bye.message);
      break;
    case BG_MSG_ENROLL:
      str_equal(a->u.enroll.code, b->u.enroll.code);
      str_equal(a->u.enroll.csr, b->u.enroll.csr);
      str_equal(a->u.enroll.software, b->u.enroll.software);
      str_equal(a->u.enroll.name, b->u.enroll.name);
      break;
    case BG_MSG_ENROLLED:
      assert_true(a->u.enrolled.device == b->u.enrolled.device);
      assert_true(a->u.enrolled.user == b->u.enrolled.user);
      str_equal(a->u.enrolled.login, b->u.enrolled.login);
      str_equal(a->u.enrolled.cert, b->u.enrolled.cert);
      str_equal(a->u.enrolled.ca, b->u.enrolled.ca);
      break;
  }
}

static void every_message_type_round_trips_canonically(void **state) {
  (void)state;
  static bg_gen g;
  uint64_t seed = bg_test_seed(42);
  bg_gen_init(&g, seed);
  for (int type = 1; type <= BG_MSG_TYPE_MAX; type++) {
    for (int round = 0; round < 1500; round++) {
      g.realistic = round % 2;
      bg_msg m, d;
      bg_gen_msg(&g, (bg_msg_type)type, 8, &m);
      bg_buf a = BG_BUF_INIT, b = BG_BUF_INIT;
      bg_err e = bg_msg_encode(&m, &a);
      if (e != BG_OK) {
        BG_REPLAY(seed);
        fail_msg("%s round %d: encode %s", bg_msg_type_name(type), round, bg_err_name(e));
      }
      bg_msg_why why;
      e = bg_msg_decode(a.data, a.len, &d, &why);
      if (e != BG_OK) {
        BG_REPLAY(seed);
        fail_msg("%s round %d: decode %s: %s", bg_msg_type_name(type), round, bg_err_name(e), why.text);
      }
      msg_equal(&m, &d);
      assert_int_equal(bg_msg_encode(&d, &b), BG_OK);
      assert_int_equal(a.len, b.len);
      assert_memory_equal(a.data, b.data, a.len);
      bg_msg_free(&d);
      bg_buf_free(&a);
      bg_buf_free(&b);
    }
  }
  bg_gen_free(&g);
}

static bg_write a_write(void) {
  bg_write w;
  memset(&w, 0, sizeof w);
  w.client = BG_STR("C-0001");
  w.rid = BG_STR("1/wonen");
  w.rtype = 4;
  w.field = 2;
  w.dot = (bg_dot){7, 1};
  w.phase = 4;
  w.user = 12;
  w.role = 1;
  w.hlc = 1;
  return w;
}

/* A PUSH of one write; the packed form must refuse what the plain one does
 * (and leave `out` alone). The plain form's bytes stay in `out`. */
static bg_err encode_push_with(const bg_write *w, bg_buf *out) {
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_PUSH;
  m.u.push = (bg_msg_push){1, w, 1, true};
  size_t mark = out->len;
  bg_err packed = bg_msg_encode(&m, out);
  if (packed != BG_OK) assert_int_equal(out->len, mark);
  out->len = mark;
  m.u.push.packed = false;
  bg_err e = bg_msg_encode(&m, out);
  assert_int_equal(packed, e);
  return e;
}

static void encoder_refuses_what_the_decoder_must_refuse_and_leaves_buffer_unchanged(void **state) {
  (void)state;
  bg_buf out = BG_BUF_INIT;
  assert_int_equal(bg_buf_append(&out, "keep", 4), BG_OK);
  char big[BG_ID_MAX + 1];
  memset(big, 'C', sizeof big);
  bg_write w = a_write();
  w.client = (bg_str){big, sizeof big};
  assert_int_equal(encode_push_with(&w, &out), BG_E_LIMIT);
  w = a_write();
  w.client = BG_STR("C-\xff");
  assert_int_equal(encode_push_with(&w, &out), BG_E_UTF8);
  w = a_write();
  w.dot.counter = 0;
  assert_int_equal(encode_push_with(&w, &out), BG_E_FIELD_RANGE);
  w = a_write();
  bg_dot unsorted[] = {{9, 1}, {3, 1}};
  w.ctx = (bg_vv){unsorted, 2, 0};
  assert_int_equal(encode_push_with(&w, &out), BG_E_FIELD_RANGE);
  w = a_write();
  w.user = 0;
  assert_int_equal(encode_push_with(&w, &out), BG_E_FIELD_RANGE);
  w = a_write();
  w.value.type = BG_V_STR;
  w.value.s = (bg_str){big, 0};
  assert_int_equal(encode_push_with(&w, &out), BG_OK);
  assert_true(out.len > 4);
  out.len = 4;
  /* several defects: both forms name the first, in write order and key order */
  bg_write two[2] = {a_write(), a_write()};
  char *huge = malloc(BG_VALUE_MAX + 1);
  memset(huge, 'a', BG_VALUE_MAX + 1);
  two[0].value = (bg_value){BG_V_STR, false, 0, {huge, BG_VALUE_MAX + 1}};
  two[1].client = (bg_str){"", 0};
  two[1].dot.counter = 2;
  for (int packed = 0; packed < 2; packed++) {
    bg_msg pm;
    memset(&pm, 0, sizeof pm);
    pm.type = BG_MSG_PUSH;
    pm.u.push = (bg_msg_push){1, two, 2, packed};
    assert_int_equal(bg_msg_encode(&pm, &out), BG_E_LIMIT);
    pm.u.push.writes = &two[1];
    pm.u.push.n = 1;
    assert_int_equal(bg_msg_encode(&pm, &out), BG_E_FIELD_RANGE);
  }
  free(huge);
  w = a_write();
  w.rid = (bg_str){big, sizeof big};
  w.user = 0;
  assert_int_equal(encode_push_with(&w, &out), BG_E_LIMIT);
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = (bg_msg_type)99;
  assert_int_equal(bg_msg_encode(&m, &out), BG_E_UNKNOWN_MESSAGE);
  m.type = BG_MSG_HELLO;
  m.u.hello = (bg_msg_hello){3, 1, 1, BG_STR("x"), 0, 0};
  assert_int_equal(bg_msg_encode(&m, &out), BG_E_FIELD_RANGE);
  m.type = BG_MSG_PUSH;
  m.u.push = (bg_msg_push){1, NULL, 0, false};
  assert_int_equal(bg_msg_encode(&m, &out), BG_E_FIELD_RANGE);
  m.u.push.packed = true;
  assert_int_equal(bg_msg_encode(&m, &out), BG_E_FIELD_RANGE);
  assert_int_equal(out.len, 4);
  assert_memory_equal(out.data, "keep", 4);
  bg_buf_free(&out);
}

static void value_size_limit_is_exact(void **state) {
  (void)state;
  char *text = malloc(BG_VALUE_MAX + 1);
  memset(text, 'a', BG_VALUE_MAX + 1);
  bg_write w = a_write();
  w.value.type = BG_V_STR;
  w.value.s = (bg_str){text, BG_VALUE_MAX};
  bg_buf out = BG_BUF_INIT;
  assert_int_equal(encode_push_with(&w, &out), BG_OK);
  bg_msg d;
  assert_int_equal(bg_msg_decode(out.data, out.len, &d, NULL), BG_OK);
  assert_int_equal(d.u.push.writes[0].value.s.len, BG_VALUE_MAX);
  bg_msg_free(&d);
  bg_buf_reset(&out);
  w.value.s.len = BG_VALUE_MAX + 1;
  assert_int_equal(encode_push_with(&w, &out), BG_E_LIMIT);
  free(text);
  bg_buf_free(&out);
}

static void too_many_writes_in_one_batch_is_a_limit_error(void **state) {
  (void)state;
  bg_write *w = calloc(BG_MSG_MAX_WRITES + 1, sizeof *w);
  for (uint32_t i = 0; i <= BG_MSG_MAX_WRITES; i++) w[i] = a_write();
  bg_buf out = BG_BUF_INIT;
  for (int packed = 0; packed < 2; packed++) {
    bg_msg m;
    memset(&m, 0, sizeof m);
    m.type = BG_MSG_PUSH;
    m.u.push = (bg_msg_push){1, w, BG_MSG_MAX_WRITES, packed};
    assert_int_equal(bg_msg_encode(&m, &out), BG_OK);
    bg_msg d;
    assert_int_equal(bg_msg_decode(out.data, out.len, &d, NULL), BG_OK);
    assert_int_equal(d.u.push.n, BG_MSG_MAX_WRITES);
    assert_int_equal(d.u.push.packed, packed);
    bg_msg_free(&d);
    bg_buf_reset(&out);
    m.u.push.n = BG_MSG_MAX_WRITES + 1;
    assert_int_equal(bg_msg_encode(&m, &out), BG_E_LIMIT);
    assert_int_equal(out.len, 0);
  }
  free(w);
  bg_buf_free(&out);
}

/* A device's writes as it makes them: three clients in turn, one author,
 * consecutive dots, a second apart. */
static void a_run_of_writes(bg_write *w, uint32_t n) {
  static const char *const clients[] = {"C-0001", "C-0417", "C-1203"};
  static char rids[64][16];
  for (uint32_t i = 0; i < n; i++) {
    w[i] = a_write();
    w[i].client = bg_str_c(clients[(i / 2) % 3]);
    snprintf(rids[i % 64], sizeof rids[0], "4/%u", 10 + i);
    w[i].rid = bg_str_c(rids[i % 64]);
    w[i].rtype = 7;
    w[i].field = 2 + i % 3;
    w[i].value.type = BG_V_STR;
    w[i].value.s = BG_STR("Voortgang: gesprek gehad.");
    w[i].dot = (bg_dot){1000003, 5000 + i};
    w[i].cycle = 1 + (i / 2) % 3;
    w[i].hlc = bg_hlc_make(UINT64_C(1795426200000) + 1000 * i, 0);
  }
}

static void packed_writes_decode_to_the_same_writes_and_are_smaller(void **state) {
  (void)state;
  bg_write w[40];
  a_run_of_writes(w, 40);
  bg_buf plain = BG_BUF_INIT, packed = BG_BUF_INIT;
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_CHANGES;
  m.u.changes = (bg_msg_changes){w, 40, 9, false, false};
  assert_int_equal(bg_msg_encode(&m, &plain), BG_OK);
  m.u.changes.packed = true;
  assert_int_equal(bg_msg_encode(&m, &packed), BG_OK);
  bg_msg a, b;
  assert_int_equal(bg_msg_decode(plain.data, plain.len, &a, NULL), BG_OK);
  assert_int_equal(bg_msg_decode(packed.data, packed.len, &b, NULL), BG_OK);
  assert_false(a.u.changes.packed);
  assert_true(b.u.changes.packed);
  b.u.changes.packed = false;
  msg_equal(&a, &b);
  /* client, author, dot and most of the time are not repeated: at least 20
   * bytes a write fewer (the figure that matters is in bench_sync) */
  assert_true(packed.len + 20 * 40 <= plain.len);
  assert_true(bg_writes_pack_smaller(w, 40));
  /* writes that share nothing and go back to every default: packing costs bytes,
   * and a sender (bg_changes_frame_raw here) keeps them plain */
  bg_write odd[2] = {a_write(), a_write()};
  bg_dot ctx[] = {{3, 9}};
  odd[0].client = BG_STR("A");
  odd[0].value = (bg_value){BG_V_STR, false, 0, BG_STR("x")};
  odd[0].ctx = (bg_vv){ctx, 1, 0};
  odd[0].cycle = 3;
  odd[0].tb = true;
  odd[0].hlc = UINT64_C(1) << 62;
  odd[1].client = BG_STR("B");
  odd[1].user = 99;
  odd[1].dot = (bg_dot){8, 1};
  odd[1].hlc = 0;
  assert_false(bg_writes_pack_smaller(odd, 2));
  assert_false(bg_writes_pack_smaller(odd, 1)); /* one write: its client in a table costs bytes */
  bg_buf stored = BG_BUF_INIT, page = BG_BUF_INIT;
  assert_int_equal(bg_write_encode(&odd[0], &stored), BG_OK);
  size_t cut = stored.len;
  assert_int_equal(bg_write_encode(&odd[1], &stored), BG_OK);
  bg_str parts[2] = {{(const char *)stored.data, (uint32_t)cut},
                     {(const char *)stored.data + cut, (uint32_t)(stored.len - cut)}};
  assert_int_equal(bg_changes_frame_raw(parts, 2, 7, false, true, &page, 0), BG_OK);
  bg_msg d;
  assert_int_equal(bg_msg_decode(page.data + BG_FRAME_HEADER, page.len - BG_FRAME_HEADER, &d, NULL), BG_OK);
  assert_false(d.u.changes.packed);
  assert_int_equal(d.u.changes.n, 2);
  bg_msg_free(&d);
  bg_buf_free(&stored);
  bg_buf_free(&page);
  bg_msg_free(&a);
  bg_msg_free(&b);
  bg_buf_free(&plain);
  bg_buf_free(&packed);
}

/* A PUSH body {type, batch 1, key: value} with `value` given as MessagePack. */
static void push_body(bg_buf *b, unsigned key, void (*value)(bg_mp_out *)) {
  bg_buf_reset(b);
  bg_mp_out o;
  bg_mp_out_init(&o, b);
  bg_mp_put_map(&o, key ? 3 : 2);
  bg_mp_put_uint(&o, 0);
  bg_mp_put_uint(&o, BG_MSG_PUSH);
  bg_mp_put_uint(&o, 1);
  bg_mp_put_uint(&o, 1);
  if (key) {
    bg_mp_put_uint(&o, key);
    value(&o);
  }
  assert_int_equal(o.err, BG_OK);
}

/* the packed writes' first write, whole: client 0, rtype 4, rid "r", field 2,
 * dot [7, 1], phase 4, user 12, role 1, hlc 1 */
static void first_packed_write(bg_mp_out *o, unsigned leave_out) {
  static const unsigned keys[] = {1, 2, 3, 4, 6, 9, 10, 11, 13};
  unsigned n = 0;
  for (unsigned i = 0; i < 9; i++) n += keys[i] != leave_out;
  bg_mp_put_map(o, n);
  for (unsigned i = 0; i < 9; i++) {
    if (keys[i] == leave_out) continue;
    bg_mp_put_uint(o, keys[i]);
    switch (keys[i]) {
      case 1: bg_mp_put_uint(o, 0); break;
      case 3: bg_mp_put_str(o, "r", 1); break;
      case 6: bg_mp_put_array(o, 2); bg_mp_put_uint(o, 7); bg_mp_put_uint(o, 1); break;
      case 2: case 9: bg_mp_put_uint(o, 4); break;
      case 10: bg_mp_put_uint(o, 12); break;
      default: bg_mp_put_uint(o, keys[i] == 4 ? 2 : 1); break;
    }
  }
}

static void two_writes(bg_mp_out *o, unsigned leave_out, int second_client) {
  bg_mp_put_array(o, 2);
  bg_mp_put_array(o, 1);
  bg_mp_put_str(o, "C-1", 3);
  bg_mp_put_array(o, 2);
  first_packed_write(o, leave_out);
  if (second_client < 0) {
    bg_mp_put_map(o, 0); /* everything as before, the next dot */
  } else {
    bg_mp_put_map(o, 1);
    bg_mp_put_uint(o, 1);
    bg_mp_put_uint(o, (uint64_t)second_client);
  }
}
static void ok_packed(bg_mp_out *o) { two_writes(o, 0, -1); }
static void no_dot_first(bg_mp_out *o) { two_writes(o, 6, -1); }
static void no_rid_first(bg_mp_out *o) { two_writes(o, 3, -1); }
static void no_such_client(bg_mp_out *o) { two_writes(o, 0, 1); }
static void not_a_pair(bg_mp_out *o) { bg_mp_put_array(o, 0); }

static void packed_writes_refuse_what_they_cannot_mean(void **state) {
  (void)state;
  bg_buf b = BG_BUF_INIT;
  bg_msg d;
  bg_msg_why why;
  push_body(&b, 3, ok_packed);
  assert_int_equal(bg_msg_decode(b.data, b.len, &d, &why), BG_OK);
  assert_int_equal(d.u.push.n, 2);
  assert_int_equal(d.u.push.writes[1].dot.counter, 2); /* left out: the next counter */
  assert_true(bg_str_eq(d.u.push.writes[1].client, BG_STR("C-1")));
  assert_true(bg_str_eq(d.u.push.writes[1].rid, BG_STR("r")));
  assert_int_equal(d.u.push.writes[1].user, 12);
  bg_msg_free(&d);
  struct {
    void (*value)(bg_mp_out *);
    bg_err code;
    const char *why;
  } bad[] = {
      {no_dot_first, BG_E_MISSING_FIELD, "PUSH.packed[0].dot"},
      {no_rid_first, BG_E_MISSING_FIELD, "PUSH.packed[0].rid"},
      {no_such_client, BG_E_FIELD_RANGE, "PUSH.packed[1].client"},
      {not_a_pair, BG_E_FIELD_TYPE, "PUSH.packed"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    push_body(&b, 3, bad[i].value);
    assert_int_equal(bg_msg_decode(b.data, b.len, &d, &why), bad[i].code);
    if (strstr(why.text, bad[i].why) == NULL) fail_msg("case %zu: %s", i, why.text);
    assert_null(d.zone);
  }
  /* neither form, or both */
  push_body(&b, 0, NULL);
  assert_int_equal(bg_msg_decode(b.data, b.len, &d, &why), BG_E_MISSING_FIELD);
  assert_non_null(strstr(why.text, "PUSH.writes"));
  bg_write w = a_write();
  bg_buf plain = BG_BUF_INIT;
  assert_int_equal(encode_push_with(&w, &plain), BG_OK); /* {0: 3, 1: 1, 2: [write]} */
  assert_int_equal(plain.data[0], 0x83);
  plain.data[0] = 0x84;
  bg_mp_out o;
  bg_mp_out_init(&o, &plain);
  bg_mp_put_uint(&o, 3);
  ok_packed(&o);
  assert_int_equal(bg_msg_decode(plain.data, plain.len, &d, &why), BG_E_DUPLICATE_KEY);
  bg_buf_free(&plain);
  bg_buf_free(&b);
}

static void decoding_failure_names_the_field(void **state) {
  (void)state;
  /* PUSH with one write whose dot is [7] */
  const uint8_t body[] = {0x83, 0x00, 0x03, 0x01, 0x2a, 0x02, 0x91, 0x89, 0x01, 0xa1, 0x43, 0x02,
                          0x01, 0x03, 0xa1, 0x72, 0x04, 0x01, 0x06, 0x91, 0x07, 0x09, 0x04, 0x0a,
                          0x03, 0x0b, 0x01, 0x0d, 0x01};
  bg_msg d;
  bg_msg_why why;
  assert_int_equal(bg_msg_decode(body, sizeof body, &d, &why), BG_E_FIELD_TYPE);
  assert_non_null(strstr(why.text, "PUSH.writes[0].dot"));
  assert_null(d.zone);
}

static void decoded_message_borrows_from_the_body(void **state) {
  (void)state;
  bg_write w = a_write();
  bg_dot ctx[] = {{3, 9}};
  w.ctx = (bg_vv){ctx, 1, 0};
  bg_buf out = BG_BUF_INIT;
  assert_int_equal(encode_push_with(&w, &out), BG_OK);
  bg_msg d;
  assert_int_equal(bg_msg_decode(out.data, out.len, &d, NULL), BG_OK);
  const bg_write *dw = &d.u.push.writes[0];
  assert_true(dw->client.p >= (const char *)out.data && dw->client.p < (const char *)out.data + out.len);
  assert_int_equal(dw->ctx.cap, 0); /* borrowed from the message's zone */
  bg_vv own = BG_VV_INIT;
  assert_int_equal(bg_vv_copy(&own, &dw->ctx), BG_OK);
  bg_msg_free(&d);
  assert_int_equal(bg_vv_get(&own, 3), 9); /* the copy outlives the message */
  bg_vv_free(&own);
  bg_buf_free(&out);
}

static void encoded_size_of_a_write_matches_its_encoding(void **state) {
  (void)state;
  static bg_gen g;
  bg_gen_init(&g, bg_test_seed(5));
  for (int i = 0; i < 500; i++) {
    bg_dot ctx[8];
    bg_write w;
    bg_gen_write(&g, &w, ctx);
    bg_buf a = BG_BUF_INIT, b = BG_BUF_INIT;
    bg_write two[2] = {w, w};
    bg_msg m;
    memset(&m, 0, sizeof m);
    m.type = BG_MSG_PUSH;
    m.u.push = (bg_msg_push){1, two, 1, false};
    assert_int_equal(bg_msg_encode(&m, &a), BG_OK);
    m.u.push.n = 2;
    assert_int_equal(bg_msg_encode(&m, &b), BG_OK);
    assert_int_equal(b.len - a.len, bg_write_encoded_size(&w));
    bg_buf_free(&a);
    bg_buf_free(&b);
  }
  bg_gen_free(&g);
}

static void changes_from_encoded_writes_equal_the_encoder(void **state) {
  (void)state;
  static bg_gen g;
  uint64_t seed = bg_test_seed(29);
  bg_gen_init(&g, seed);
  int packed_larger = 0, packed_kept = 0;
  for (int round = 0; round < 300; round++) {
    bg_msg m;
    bg_gen_msg(&g, BG_MSG_CHANGES, (unsigned)(round % 40), &m);
    bg_buf want = BG_BUF_INIT, raw = BG_BUF_INIT, got = BG_BUF_INIT;
    assert_int_equal(bg_msg_encode_frame(&m, &want, 0), BG_OK);
    if (m.u.changes.packed) {
      /* packed only when that is not larger than the plain frame */
      bg_msg plain = m;
      plain.u.changes.packed = false;
      bg_buf p = BG_BUF_INIT;
      assert_int_equal(bg_msg_encode_frame(&plain, &p, 0), BG_OK);
      /* the two homes of the rule agree: frames compared, writes compared */
      assert_int_equal(bg_writes_pack_smaller(m.u.changes.writes, m.u.changes.n), want.len <= p.len);
      if (p.len < want.len) {
        bg_buf t = want;
        want = p;
        p = t;
        packed_larger++;
      } else {
        packed_kept++;
      }
      bg_buf_free(&p);
    }
    /* each write encoded alone, as a store keeps it */
    bg_str *parts = calloc(m.u.changes.n + 1, sizeof *parts);
    size_t *offs = calloc(m.u.changes.n + 1, sizeof *offs);
    for (uint32_t i = 0; i < m.u.changes.n; i++) {
      offs[i] = raw.len;
      assert_int_equal(bg_write_encode(&m.u.changes.writes[i], &raw), BG_OK);
    }
    for (uint32_t i = 0; i < m.u.changes.n; i++)
      parts[i] = (bg_str){(const char *)raw.data + offs[i], (uint32_t)((i + 1 < m.u.changes.n ? offs[i + 1] : raw.len) - offs[i])};
    assert_int_equal(bg_changes_frame_raw(parts, m.u.changes.n, m.u.changes.next, m.u.changes.more, m.u.changes.packed, &got, 0), BG_OK);
    if (got.len != want.len || memcmp(got.data, want.data, got.len) != 0) BG_REPLAY(seed);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, got.len);
    /* too small a maximum: refused, nothing appended */
    size_t before = got.len;
    assert_int_equal(bg_changes_frame_raw(parts, m.u.changes.n, 1, false, m.u.changes.packed, &got, 4), BG_E_FRAME_TOO_LARGE);
    assert_int_equal(got.len, before);
    free(parts);
    free(offs);
    bg_buf_free(&want);
    bg_buf_free(&raw);
    bg_buf_free(&got);
  }
  /* both cases happen: random writes often pack larger, runs of a device's smaller */
  assert_true(packed_larger > 0 && packed_kept > 0);
  bg_gen_free(&g);
}

/* The fast write encoder gives the table-driven encoder's bytes and errors. */
static void fast_write_encoder_equals_the_table(void **state) {
  (void)state;
  static bg_gen g;
  uint64_t seed = bg_test_seed(41);
  bg_gen_init(&g, seed);
  bg_rand r = {seed};
  static char big[BG_VALUE_MAX + 2];
  memset(big, 'x', sizeof big);
  bg_dot bad_ctx[2] = {{5, 1}, {3, 1}}; /* not sorted: not canonical */
  for (int i = 0; i < 20000; i++) {
    bg_dot ctx[8];
    bg_write w;
    bg_gen_write(&g, &w, ctx);
    switch (bg_rand_below(&r, 16)) { /* one defect now and then */
      case 0: w.client.len = 0; break;
      case 1: w.rid = (bg_str){big, BG_ID_MAX + 1}; break;
      case 2: w.client = (bg_str){"\xc3\x28", 2}; break;
      case 3: w.value = (bg_value){BG_V_STR, false, 0, {big, BG_VALUE_MAX + 1}}; break;
      case 4: w.value = (bg_value){BG_V_BIN, false, 0, {big, BG_VALUE_MAX + 1}}; break;
      case 5: w.value = (bg_value){(bg_vtype)9, false, 0, {"", 0}}; break;
      case 6: w.dot.counter = 0; break;
      case 7: w.ctx = (bg_vv){bad_ctx, 2, 0}; break;
      case 8: w.user = 0; break;
      case 9: w.value = (bg_value){BG_V_STR, false, 0, {"\xed\xa0\x80", 3}}; break;
      case 10: w.value = (bg_value){BG_V_NIL, false, 0, {"", 0}}; w.cycle = 0; w.tb = false; w.ctx.n = 0; break;
      default: break;
    }
    bg_buf a = BG_BUF_INIT, b = BG_BUF_INIT;
    bg_err ea = bg_write_encode(&w, &a), eb = bg__write_encode_table(&w, &b);
    if (ea != eb || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)) BG_REPLAY(seed);
    assert_int_equal(ea, eb);
    assert_int_equal(a.len, b.len);
    if (a.len) assert_memory_equal(a.data, b.data, a.len);
    bg_buf_free(&a);
    bg_buf_free(&b);
  }
  bg_gen_free(&g);
}

static void frame_encoding_respects_a_smaller_connection_maximum(void **state) {
  (void)state;
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_ERROR;
  m.u.error = (bg_msg_error){BG_E_BUSY, BG_STR("a message longer than sixteen bytes"), true, 0};
  bg_buf out = BG_BUF_INIT;
  assert_int_equal(bg_msg_encode_frame(&m, &out, 16), BG_E_FRAME_TOO_LARGE);
  assert_int_equal(out.len, 0);
  assert_int_equal(bg_msg_encode_frame(&m, &out, 0), BG_OK);
  assert_true(out.len > 20);
  bg_buf_free(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_message_type_round_trips_canonically),
      cmocka_unit_test(encoder_refuses_what_the_decoder_must_refuse_and_leaves_buffer_unchanged),
      cmocka_unit_test(value_size_limit_is_exact),
      cmocka_unit_test(too_many_writes_in_one_batch_is_a_limit_error),
      cmocka_unit_test(decoding_failure_names_the_field),
      cmocka_unit_test(decoded_message_borrows_from_the_body),
      cmocka_unit_test(encoded_size_of_a_write_matches_its_encoding),
      cmocka_unit_test(frame_encoding_respects_a_smaller_connection_maximum),
      cmocka_unit_test(changes_from_encoded_writes_equal_the_encoder),
      cmocka_unit_test(fast_write_encoder_equals_the_table),
      cmocka_unit_test(packed_writes_decode_to_the_same_writes_and_are_smaller),
      cmocka_unit_test(packed_writes_refuse_what_they_cannot_mean),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
