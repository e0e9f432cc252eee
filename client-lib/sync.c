/*
 * sync.c - a sync session and an enrolment, on a libuv loop (bgsync.h; the
 * protocol is docs/PROTOCOL.md section 6).
 *
 * A session: HELLO/WELCOME; the outbox's writes go out in batches (a batch's
 * id and writes are fixed in the replica before it is first sent, so a resent
 * batch is the same batch), at most BG_MAX_OUTSTANDING unacknowledged; each
 * ACK removes its batch from the outbox (refused writes move to
 * bgsync_rejected) in one transaction. Then PULL from the stored cursor: a
 * PURGE drops clients that have no pending writes (then ACK); each CHANGES page
 * is applied with its cursor in one transaction - after the PULL for the next
 * page has gone out, so the server works on that page meanwhile. BYE. A cut anywhere leaves
 * the replica at the last commit, and the next session carries on from there.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "bg_code.h"
#include "bg_pki.h"
#include "internal.h"
#include "net.h"

#define BGS_BATCH_BYTES (512u * 1024u) /* encoded writes per PUSH */
#define BGS_SOFTWARE "bgsync/" BGSYNC_VERSION

struct bgsync_op {
  bgsync *r;
  uv_loop_t *loop;
  uv_async_t wake; /* bgsync_cancel from another thread */
  bgs_conn conn;   /* the TLS connection, unless the session runs on a link of the caller's */
  bgs_link *link;  /* what the session speaks through: &conn.link, or the caller's */
  bool conn_started;
  bgsync_options opts;
  bgsync_done_cb done;
  void *done_arg;
  bool decided;    /* result below was set by the session (else the connection's) */
  bg_err result;
  bool enrol;
  /* sync */
  bg_buf key, cert, ca;
  char host[256];
  int port;
  uint64_t *batches; /* batch ids to push, in order */
  size_t n_batches, next_batch;
  size_t outstanding;
  uint64_t sent_id[BG_MAX_OUTSTANDING]; /* PUSHes awaiting their ACK, oldest first */
  uint32_t sent_n[BG_MAX_OUTSTANDING];
  size_t sent_head;
  uint32_t max_frame;   /* the server's, from WELCOME */
  uint32_t proto;       /* the protocol version the server chose (WELCOME) */
  bool welcomed;        /* WELCOME received: the session is ready */
  bool pull_out;        /* a PULL awaits its CHANGES */
  bool server_said;     /* the server's ERROR carried its own retryable flag */
  bool server_retryable;
  bool pulling, finished;
  uint64_t cursor;
  bgsync_progress prog;
  /* enrolment */
  bg_code code;
  char code_text[128], name[128];
  mbedtls_pk_context pk;
  bool has_pk;
  bg_buf csr;
};

/* --- ending ---------------------------------------------------------------------------------- */

static void bgs_decide(bgsync_op *op, bg_err e) {
  if (op->decided) return;
  op->decided = true;
  op->result = e;
}

/* End the session with `e` (BG_OK: in order); r->err holds the message. */
static void bgs_end(bgsync_op *op, bg_err e) {
  bgs_decide(op, e);
  bgs_link_end(op->link, e, NULL);
}

static void bgs_op_free(bgsync_op *op) {
  bg_buf_free(&op->key);
  bg_buf_free(&op->cert);
  bg_buf_free(&op->ca);
  bg_buf_free(&op->csr);
  if (op->has_pk) mbedtls_pk_free(&op->pk);
  free(op->batches);
  free(op);
}

static void bgs_on_wake_closed(uv_handle_t *h) {
  bgsync_op *op = h->data;
  bgsync *r = op->r;
  bg_err e = op->result;
  bgsync_done_cb done = op->done;
  void *arg = op->done_arg;
  bgs_op_free(op);
  if (done) done(arg, e);
  (void)r;
}

/* The connection is gone: settle the result, remember it for the backoff, and
 * tell the app. */
static void bgs_on_closed(bgs_link *c) {
  bgsync_op *op = c->data;
  bgsync *r = op->r;
  if (!op->decided) {
    bg_err e = c->result != BG_OK ? c->result : op->finished ? BG_OK : BG_E_CONNECTION_LOST;
    op->decided = true;
    op->result = e;
    snprintf(r->err, sizeof r->err, "%s", c->why[0] ? c->why : bg_err_message(e));
  }
  uv_mutex_lock(&r->lock);
  r->op = NULL;
  r->cancel = false;
  uv_mutex_unlock(&r->lock);
  if (!op->enrol) {
    /* the backoff and the status; a failure to record them changes nothing else */
    if (op->result == BG_OK) {
      r->failures = 0;
      r->retry_ms = 0;
      if (bgs_begin(r) == BG_OK) {
        if (bgs_meta_set_int(r, "last_sync", (int64_t)bgs_now_ms(r)) == BG_OK && bgs_meta_set_int(r, "last_error", 0) == BG_OK)
          (void)bgs_commit(r);
        bgs_rollback(r);
      }
    } else {
      char keep[sizeof r->err];
      memcpy(keep, r->err, sizeof keep);
      if (bgs_begin(r) == BG_OK) {
        if (bgs_meta_set_int(r, "last_error", op->result) == BG_OK) (void)bgs_commit(r);
        bgs_rollback(r);
      }
      memcpy(r->err, keep, sizeof keep);
      if (op->server_said ? op->server_retryable : bg_err_retryable(op->result)) {
        if (r->failures < 30) r->failures++;
        uint64_t bound = 2000;
        for (uint32_t i = 1; i < r->failures && bound < 300000; i++) bound *= 2;
        if (bound > 300000) bound = 300000;
        r->jitter ^= r->jitter << 13;
        r->jitter ^= r->jitter >> 7;
        r->jitter ^= r->jitter << 17;
        r->retry_ms = r->jitter % (bound + 1);
      } else {
        r->retry_ms = 0;
      }
    }
    if (op->opts.progress && op->result == BG_OK) {
      op->prog.stage = BGSYNC_DONE;
      op->prog.bytes_sent = c->sent;
      op->prog.bytes_received = c->received;
      op->opts.progress(op->opts.arg, &op->prog);
    }
  }
  uv_close((uv_handle_t *)&op->wake, bgs_on_wake_closed);
}

static void bgs_on_wake(uv_async_t *a) {
  bgsync_op *op = a->data;
  bgsync *r = op->r;
  uv_mutex_lock(&r->lock);
  bool cancel = r->cancel;
  uv_mutex_unlock(&r->lock);
  if (cancel && !op->decided && !op->link->ended) { /* a cancel after the end changes nothing */
    bgs_fail(r, BG_E_CANCELLED, "the sync was cancelled; what was committed stays, the next sync carries on");
    bgs_end(op, BG_E_CANCELLED);
  }
}

void bgsync_cancel(bgsync *r) {
  uv_mutex_lock(&r->lock);
  if (r->op) {
    r->cancel = true;
    (void)uv_async_send(&r->op->wake);
  }
  uv_mutex_unlock(&r->lock);
}

uint64_t bgsync_retry_ms(bgsync *r) { return r->retry_ms; }

static void bgs_progress(bgsync_op *op) {
  if (!op->opts.progress) return;
  op->prog.bytes_sent = op->link->sent;
  op->prog.bytes_received = op->link->received;
  op->opts.progress(op->opts.arg, &op->prog);
}

static bool bgs_send(bgsync_op *op, const bg_msg *m) {
  bg_err e = bgs_link_send(op->link, m);
  if (e == BG_OK) return true;
  bgs_fail(op->r, e, "sending %s failed: %s", bg_msg_type_name(m->type), bg_err_message(e));
  bgs_end(op, e);
  return false;
}

/* The device refuses what the server sent: ERROR with the code and r->err as
 * its message, then the session ends (PROTOCOL.md 6c). */
static void bgs_refuse(bgsync_op *op, bg_err e) {
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_ERROR;
  size_t n = strlen(op->r->err);
  m.u.error = (bg_msg_error){(uint32_t)e, {op->r->err, (uint32_t)(n < BG_TEXT_MAX ? n : BG_TEXT_MAX)}, false, 0};
  (void)bgs_link_send(op->link, &m);
  bgs_end(op, e);
}

/* --- push ------------------------------------------------------------------------------------ */

/* Give every unbatched write in the outbox a batch (ids from the replica's
 * counter), BGS_BATCH_BYTES and BG_MSG_MAX_WRITES at most per batch; list
 * every batch to push. */
static bg_err bgs_plan_batches(bgsync_op *op) {
  bgsync *r = op->r;
  sqlite3_stmt *sel = NULL, *upd = NULL, *list = NULL;
  /* what one PUSH may carry: our batch size, within the server's frame limit
   * (a little room for the message around the writes) */
  uint64_t limit = BGS_BATCH_BYTES;
  if (op->max_frame > 0 && op->max_frame - 64 < limit) limit = op->max_frame > 128 ? op->max_frame - 64 : 64;
  bg_err e = bgs_begin(r);
  int64_t batch = 0;
  if (e == BG_OK) e = bgs_meta_int(r, "batch", &batch);
  int rc = SQLITE_OK;
  if (e == BG_OK) {
    /* a batch planned for a larger frame than this server takes is planned
     * anew: the server never acknowledged it (it may have applied it; writes
     * apply once by their dots, so a new batch id repeats nothing) */
    rc = sqlite3_prepare_v2(r->db,
                            "UPDATE bgsync_outbox SET batch = NULL WHERE batch IN (SELECT batch FROM bgsync_outbox "
                            "WHERE batch IS NOT NULL GROUP BY batch HAVING sum(length(w)) > ?1 OR count(*) > ?2)",
                            -1, &upd, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(upd, 1, (int64_t)limit);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(upd, 2, BG_MSG_MAX_WRITES);
    if (rc == SQLITE_OK) rc = sqlite3_step(upd) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(r->db);
    if (rc != SQLITE_OK) e = bgs_sqlfail(r, rc, "planning the push");
    sqlite3_finalize(upd);
    upd = NULL;
  }
  if (e == BG_OK) {
    rc = sqlite3_prepare_v2(r->db, "SELECT seq, length(w) FROM bgsync_outbox WHERE batch IS NULL ORDER BY seq", -1, &sel, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(r->db, "UPDATE bgsync_outbox SET batch = ?2 WHERE seq = ?1", -1, &upd, NULL);
    if (rc != SQLITE_OK) e = bgs_sqlfail(r, rc, "planning the push");
  }
  uint64_t bytes = 0, count = 0;
  bool open = false;
  while (e == BG_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
    uint64_t len = (uint64_t)sqlite3_column_int64(sel, 1);
    if (!open || bytes + len > limit || count == BG_MSG_MAX_WRITES) {
      batch++;
      open = true;
      bytes = count = 0;
    }
    bytes += len;
    count++;
    if (sqlite3_bind_int64(upd, 1, sqlite3_column_int64(sel, 0)) != SQLITE_OK ||
        sqlite3_bind_int64(upd, 2, batch) != SQLITE_OK || sqlite3_step(upd) != SQLITE_DONE)
      e = bgs_sqlfail(r, sqlite3_errcode(r->db), "planning the push");
    sqlite3_reset(upd);
  }
  if (e == BG_OK && rc != SQLITE_DONE) e = bgs_sqlfail(r, rc, "planning the push");
  if (e == BG_OK) e = bgs_meta_set_int(r, "batch", batch);
  if (e == BG_OK) e = bgs_commit(r);
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  if (e != BG_OK) {
    bgs_rollback(r);
    return e;
  }
  rc = sqlite3_prepare_v2(r->db, "SELECT batch, count(*) FROM bgsync_outbox GROUP BY batch ORDER BY batch", -1, &list, NULL);
  if (rc != SQLITE_OK) return bgs_sqlfail(r, rc, "planning the push");
  while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
    uint64_t *p = realloc(op->batches, (op->n_batches + 1) * sizeof *p);
    if (!p) {
      e = bgs_fail(r, BG_E_NOMEM, "out of memory");
      break;
    }
    op->batches = p;
    op->batches[op->n_batches++] = (uint64_t)sqlite3_column_int64(list, 0);
    op->prog.to_push += (uint64_t)sqlite3_column_int64(list, 1);
  }
  if (e == BG_OK && rc != SQLITE_DONE) e = bgs_sqlfail(r, rc, "planning the push");
  sqlite3_finalize(list);
  return e;
}

/* Send the PUSH of one batch, as stored. */
static bg_err bgs_push_batch(bgsync_op *op, uint64_t batch) {
  bgsync *r = op->r;
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(r->db, "SELECT w FROM bgsync_outbox WHERE batch = ?1 ORDER BY seq", -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 1, (int64_t)batch);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(st);
    return bgs_sqlfail(r, rc, "reading the outbox");
  }
  /* the encoded writes first (decoding borrows them), then decode */
  bg_buf blobs = BG_BUF_INIT;
  size_t *ends = NULL, n = 0;
  bg_err e = BG_OK;
  while (e == BG_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    size_t *p = realloc(ends, (n + 1) * sizeof *p);
    if (!p) {
      e = BG_E_NOMEM;
      break;
    }
    ends = p;
    e = bg_buf_append(&blobs, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    ends[n++] = blobs.len;
  }
  if (e == BG_OK && rc != SQLITE_DONE) e = bgs_sqlfail(r, rc, "reading the outbox");
  sqlite3_finalize(st);
  msgpack_zone *zone = msgpack_zone_new(4096);
  bg_write *w = n ? calloc(n, sizeof *w) : NULL;
  if (e == BG_OK && (!zone || (n && !w))) e = BG_E_NOMEM;
  for (size_t i = 0; i < n && e == BG_OK; i++) {
    size_t start = i ? ends[i - 1] : 0;
    bg_msg_why why;
    if ((e = bg_write_decode(blobs.data + start, ends[i] - start, zone, &w[i], &why)) != BG_OK)
      e = bgs_fail(r, BG_E_CORRUPT, "a queued write cannot be read (%s): the replica is damaged", why.text);
  }
  if (e == BG_OK && n > 0) {
    bg_msg m;
    memset(&m, 0, sizeof m);
    m.type = BG_MSG_PUSH;
    /* packed where the server speaks it, unless that is larger: the batch was
     * planned by the plain sizes to fit the server's frame */
    bool packed = op->proto >= BG_PROTO_PACKED && bg_writes_pack_smaller(w, (uint32_t)n);
    m.u.push = (bg_msg_push){batch, w, (uint32_t)n, packed};
    if (!bgs_send(op, &m)) {
      e = op->result;
    } else {
      size_t slot = (op->sent_head + op->outstanding) % BG_MAX_OUTSTANDING;
      op->sent_id[slot] = batch;
      op->sent_n[slot] = (uint32_t)n;
      op->outstanding++;
    }
  }
  if (e == BG_E_NOMEM) bgs_fail(r, e, "out of memory");
  free(w);
  if (zone) msgpack_zone_free(zone);
  free(ends);
  bg_buf_free(&blobs);
  return e;
}

static void bgs_pull(bgsync_op *op) {
  op->pulling = true;
  op->prog.stage = BGSYNC_PULLING;
  bgs_progress(op);
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_PULL;
  m.u.pull = (bg_msg_pull){op->cursor, 0, 0};
  if (bgs_send(op, &m)) op->pull_out = true;
}

/* Keep up to BG_MAX_OUTSTANDING batches in flight; pull when all are acknowledged. */
static void bgs_push_more(bgsync_op *op) {
  while (!op->link->ended && op->outstanding < BG_MAX_OUTSTANDING && op->next_batch < op->n_batches) {
    bg_err e = bgs_push_batch(op, op->batches[op->next_batch++]);
    if (e != BG_OK) {
      bgs_end(op, e);
      return;
    }
  }
  if (!op->link->ended && op->outstanding == 0 && op->next_batch == op->n_batches) bgs_pull(op);
}

/* ACK of a batch: refused writes to bgsync_rejected, the rest leave the outbox. */
static bg_err bgs_acked(bgsync_op *op, const bg_msg_ack *a) {
  bgsync *r = op->r;
  /* the server answers PUSHes in order: this ACK is for the oldest one */
  if (op->outstanding == 0 || a->id != op->sent_id[op->sent_head])
    return bgs_fail(r, BG_E_UNEXPECTED_MESSAGE, "the server acknowledged batch %" PRIu64 ", not the one it was sent",
                    a->id);
  uint32_t sent = op->sent_n[op->sent_head];
  for (uint32_t i = 0; i < a->n_rejected; i++)
    if (a->rejected[i].index >= sent)
      return bgs_fail(r, BG_E_FIELD_RANGE, "the server refused write %u of batch %" PRIu64 ", which has %u",
                      a->rejected[i].index, a->id, sent);
  op->sent_head = (op->sent_head + 1) % BG_MAX_OUTSTANDING;
  op->outstanding--;
  bg_err e = bgs_begin(r);
  sqlite3_stmt *st = NULL;
  int rc = SQLITE_OK;
  if (e == BG_OK && a->n_rejected > 0) {
    rc = sqlite3_prepare_v2(r->db,
                            "INSERT INTO bgsync_rejected(seq, client, w, code, at) SELECT seq, client, w, ?3, ?4 "
                            "FROM bgsync_outbox WHERE batch = ?1 ORDER BY seq LIMIT 1 OFFSET ?2",
                            -1, &st, NULL);
    for (uint32_t i = 0; i < a->n_rejected && rc == SQLITE_OK; i++) {
      sqlite3_reset(st);
      rc = sqlite3_bind_int64(st, 1, (int64_t)a->id);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, a->rejected[i].index);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 3, a->rejected[i].code);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 4, (int64_t)bgs_now_ms(r));
      if (rc == SQLITE_OK) rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(r->db);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_OK) e = bgs_sqlfail(r, rc, "recording refused writes");
    /* and out of the engine: no other replica has them */
    if (e == BG_OK)
      rc = sqlite3_prepare_v2(r->db, "SELECT w FROM bgsync_outbox WHERE batch = ?1 ORDER BY seq LIMIT 1 OFFSET ?2", -1,
                              &st, NULL);
    for (uint32_t i = 0; i < a->n_rejected && e == BG_OK; i++) {
      if (rc == SQLITE_OK) rc = sqlite3_reset(st);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 1, (int64_t)a->id);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, a->rejected[i].index);
      int sr = rc == SQLITE_OK ? sqlite3_step(st) : rc;
      if (sr == SQLITE_ROW) e = bgs_forget(r, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
      else if (sr != SQLITE_DONE) rc = sr;
      if (rc != SQLITE_OK && e == BG_OK) e = bgs_sqlfail(r, rc, "taking back refused writes");
    }
    sqlite3_finalize(st);
    st = NULL;
  }
  if (e == BG_OK) {
    rc = sqlite3_prepare_v2(r->db, "DELETE FROM bgsync_outbox WHERE batch = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 1, (int64_t)a->id);
    if (rc == SQLITE_OK) rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(r->db);
    if (rc != SQLITE_OK) e = bgs_sqlfail(r, rc, "clearing the outbox");
    else op->prog.pushed += (uint64_t)sqlite3_changes(r->db);
    sqlite3_finalize(st);
  }
  if (e == BG_OK) e = bgs_commit(r);
  if (e != BG_OK) {
    bgs_rollback(r);
    return e;
  }
  /* a reused dot: this device counts again (restored from a backup?); pushing
   * more would only be refused the same way */
  for (uint32_t i = 0; i < a->n_rejected; i++)
    if (a->rejected[i].code == BG_E_DOT_REUSED)
      return bgs_fail(r, BG_E_DOT_REUSED,
                      "the office already has writes with this device's numbers (was the replica restored from a "
                      "backup?): enrol this device anew; the refused writes are kept in bgsync_rejected");
  return BG_OK;
}

/* --- pull ------------------------------------------------------------------------------------ */

static bg_err bgs_purge(bgsync_op *op, const bg_msg_purge *p) {
  bgsync *r = op->r;
  bg_err e = bgs_begin(r); /* the check and the purge in one transaction: no write slips in between */
  for (uint32_t i = 0; i < p->n && e == BG_OK; i++) {
    bool has;
    if ((e = bgs_has_pending(r, p->clients[i], &has)) == BG_OK && has) {
      bgs_rollback(r); /* push first; the server repeats the PURGE */
      return BG_OK;
    }
  }
  for (uint32_t i = 0; i < p->n && e == BG_OK; i++) e = bgs_purge_client(r, p->clients[i]);
  if (e == BG_OK) e = bgs_commit(r);
  if (e != BG_OK) {
    bgs_rollback(r);
    return e;
  }
  op->prog.purged += p->n;
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_ACK;
  m.u.ack.id = p->id;
  return bgs_send(op, &m) ? BG_OK : op->result;
}

static bg_err bgs_changes(bgsync_op *op, const bg_msg_changes *ch) {
  bgsync *r = op->r;
  op->pull_out = false;
  /* the next PULL first: the server prepares that page while this one is
   * applied. Should this one fail to commit, the replica keeps the cursor
   * before, which the server keeps too (PROTOCOL.md 6b). */
  op->cursor = ch->next;
  if (ch->more) bgs_pull(op);
  bg_err e = bgs_begin(r);
  if (e == BG_OK) e = bgs_apply_remote(r, ch->writes, ch->n);
  if (e == BG_OK) e = bgs_meta_set_int(r, "cursor", (int64_t)ch->next);
  if (e == BG_OK) e = bgs_commit(r);
  if (e != BG_OK) {
    bgs_rollback(r);
    return e;
  }
  op->prog.pulled += ch->n;
  op->prog.more = ch->more;
  bgs_progress(op);
  if (ch->more) return BG_OK;
  op->finished = true;
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_BYE;
  if (bgs_send(op, &m)) bgs_end(op, BG_OK);
  return BG_OK;
}

/* --- the session ------------------------------------------------------------------------------- */

static void bgs_on_ready(bgs_link *c) {
  bgsync_op *op = c->data;
  int64_t cursor = 0, device = 0;
  bg_err e = bgs_meta_int(op->r, "cursor", &cursor);
  if (e == BG_OK) e = bgs_meta_int(op->r, "device", &device);
  if (e != BG_OK) {
    bgs_end(op, e);
    return;
  }
  op->cursor = (uint64_t)cursor;
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_HELLO;
  m.u.hello = (bg_msg_hello){BG_PROTO_VERSION_MIN, BG_PROTO_VERSION_MAX, BG_SCHEMA_VERSION, BG_STR(BGS_SOFTWARE),
                             (uint64_t)device, op->cursor};
  (void)bgs_send(op, &m);
}

static void bgs_welcome(bgsync_op *op, const bg_msg_welcome *w) {
  bgsync *r = op->r;
  bgsync_identity id;
  bg_err e = bgsync_identity_get(r, &id);
  if (e != BG_OK) {
    bgs_end(op, e);
    return;
  }
  op->welcomed = true;
  op->max_frame = w->max_frame;
  op->proto = w->proto;
  if (w->proto < BG_PROTO_VERSION_MIN || w->proto > BG_PROTO_VERSION_MAX) {
    bgs_fail(r, BG_E_PROTOCOL_VERSION, "the server chose protocol %u, this app speaks %u..%u: update the app", w->proto,
             BG_PROTO_VERSION_MIN, BG_PROTO_VERSION_MAX);
    bgs_refuse(op, BG_E_PROTOCOL_VERSION);
    return;
  }
  if (w->schema != BG_SCHEMA_VERSION) {
    bgs_fail(r, BG_E_SCHEMA_VERSION, "the server has data schema %u, this app %u: update the app", w->schema,
             BG_SCHEMA_VERSION);
    bgs_refuse(op, BG_E_SCHEMA_VERSION);
    return;
  }
  if (w->device != id.device || w->user != id.user) {
    bgs_end(op, bgs_fail(r, BG_E_AUTH, "the server knows this certificate as device %" PRIu64 " of user %" PRIu64
                         ", the replica says device %" PRIu64 " of user %" PRIu64 ": enrol this replica anew",
                         w->device, w->user, id.device, id.user));
    return;
  }
  char login[BG_ID_MAX + 1];
  snprintf(login, sizeof login, "%.*s", (int)w->login.len, w->login.p);
  e = bgs_begin(r);
  if (e == BG_OK) e = bgs_meta_set_text(r, "role", bg_role_name(w->role));
  if (e == BG_OK) e = bgs_meta_set_text(r, "login", login);
  if (e == BG_OK) e = bgs_commit(r);
  if (e != BG_OK) {
    bgs_rollback(r);
    bgs_end(op, e);
    return;
  }
  op->prog.stage = BGSYNC_PUSHING;
  if ((e = bgs_plan_batches(op)) != BG_OK) {
    bgs_end(op, e);
    return;
  }
  bgs_progress(op);
  bgs_push_more(op);
}

/* Decode a frame from the server; one it cannot read is answered with ERROR
 * and ends the session (false). */
static bool bgs_decode(bgsync_op *op, const uint8_t *body, size_t len, bg_msg *m) {
  bg_msg_why why;
  bg_err e = bg_msg_decode(body, len, m, &why);
  if (e == BG_OK) return true;
  bgs_fail(op->r, e, "the server sent a message this app cannot read: %s", why.text);
  bgs_refuse(op, e);
  return false;
}

static void bgs_on_frame(bgs_link *c, const uint8_t *body, size_t len) {
  bgsync_op *op = c->data;
  bgsync *r = op->r;
  bg_msg m;
  bg_err e;
  if (!bgs_decode(op, body, len, &m)) return;
  /* what may arrive now (PROTOCOL.md 6): WELCOME first, PURGE and CHANGES only
   * for a PULL, ERROR and BYE any time */
  bool allowed = m.type == BG_MSG_ERROR || m.type == BG_MSG_BYE ||
                 (m.type == BG_MSG_WELCOME ? !op->welcomed
                  : !op->welcomed          ? false
                  : m.type == BG_MSG_PURGE || m.type == BG_MSG_CHANGES ? op->pull_out
                                                                        : m.type == BG_MSG_ACK || m.type == BG_MSG_PING ||
                                                                              m.type == BG_MSG_PONG);
  if (!allowed) {
    bgs_fail(r, BG_E_UNEXPECTED_MESSAGE, "the server sent %s where the protocol does not allow it",
             bg_msg_type_name(m.type));
    bgs_refuse(op, BG_E_UNEXPECTED_MESSAGE);
    bg_msg_free(&m);
    return;
  }
  switch (m.type) {
    case BG_MSG_WELCOME:
      bgs_welcome(op, &m.u.welcome);
      break;
    case BG_MSG_ACK:
      if ((e = bgs_acked(op, &m.u.ack)) == BG_E_UNEXPECTED_MESSAGE || e == BG_E_FIELD_RANGE) {
        bgs_refuse(op, e);
      } else if (e != BG_OK) {
        bgs_end(op, e);
      } else {
        bgs_progress(op);
        bgs_push_more(op);
      }
      break;
    case BG_MSG_PURGE:
      if ((e = bgs_purge(op, &m.u.purge)) != BG_OK) bgs_end(op, e);
      break;
    case BG_MSG_CHANGES:
      if ((e = bgs_changes(op, &m.u.changes)) != BG_OK) bgs_end(op, e);
      break;
    case BG_MSG_PING: {
      bg_msg p;
      memset(&p, 0, sizeof p);
      p.type = BG_MSG_PONG;
      p.u.ping.nonce = m.u.ping.nonce;
      (void)bgs_send(op, &p);
      break;
    }
    case BG_MSG_PONG:
      break;
    case BG_MSG_ERROR:
      bgs_fail(r, (bg_err)m.u.error.code, "the server refused: %.*s (%s)", (int)m.u.error.message.len,
               m.u.error.message.p, bg_err_name((int)m.u.error.code));
      if (m.u.error.message.len == 0)
        bgs_fail(r, (bg_err)m.u.error.code, "the server refused: %s (%s)", bg_err_message((int)m.u.error.code),
                 bg_err_name((int)m.u.error.code));
      op->server_said = true;
      op->server_retryable = m.u.error.retryable;
      bgs_decide(op, (bg_err)m.u.error.code);
      bgs_link_end(op->link, (bg_err)m.u.error.code, NULL);
      break;
    case BG_MSG_BYE:
      if (m.u.bye.code == 0 && op->finished) bgs_end(op, BG_OK);
      else {
        bg_err code = m.u.bye.code ? (bg_err)m.u.bye.code : BG_E_CONNECTION_LOST;
        bgs_fail(r, code, "the server ended the session: %s", bg_err_message(code));
        bgs_decide(op, code);
        bgs_link_end(op->link, code, NULL);
      }
      break;
    case BG_MSG_ENROLLED:
    default:
      bgs_end(op, bgs_fail(r, BG_E_UNEXPECTED_MESSAGE, "the server sent %s where it may not", bg_msg_type_name(m.type)));
      break;
  }
  bg_msg_free(&m);
}

/* A file beside the replica, whole, NUL-terminated (PEM). */
static bg_err bgs_read_file(bgsync *r, const char *suffix, bg_buf *out) {
  char *path = bgs_path(r, suffix);
  if (!path) return bgs_fail(r, BG_E_NOMEM, "out of memory");
  uv_fs_t req;
  bg_err e = BG_OK;
  uv_file f = uv_fs_open(NULL, &req, path, UV_FS_O_RDONLY, 0, NULL);
  uv_fs_req_cleanup(&req);
  if (f < 0) e = bgs_fail(r, BG_E_AUTH, "cannot read %s (%s): enrol this replica first", path, uv_strerror(f));
  while (e == BG_OK) {
    char chunk[4096];
    uv_buf_t b = uv_buf_init(chunk, sizeof chunk);
    int n = uv_fs_read(NULL, &req, f, &b, 1, -1, NULL);
    uv_fs_req_cleanup(&req);
    if (n < 0) e = bgs_fail(r, BG_E_IO, "cannot read %s: %s", path, uv_strerror(n));
    else if (n == 0) break;
    else if (out->len + (size_t)n > 64 * 1024) e = bgs_fail(r, BG_E_AUTH, "%s is too large to be a key or certificate", path);
    else e = bg_buf_append(out, chunk, (size_t)n);
  }
  if (f >= 0) {
    (void)uv_fs_close(NULL, &req, f, NULL);
    uv_fs_req_cleanup(&req);
  }
  if (e == BG_OK) e = bg_buf_append(out, "", 1);
  free(path);
  return e;
}

static bg_err bgs_op_new(bgsync *r, uv_loop_t *loop, const bgsync_options *o, bgsync_done_cb done, void *arg,
                         bgsync_op **out) {
  uv_mutex_lock(&r->lock);
  bool busy = r->op != NULL;
  uv_mutex_unlock(&r->lock);
  if (busy) return bgs_fail(r, BG_E_USAGE, "a sync or enrolment is already running on this replica");
  bgsync_op *op = calloc(1, sizeof *op);
  if (!op) return bgs_fail(r, BG_E_NOMEM, "out of memory");
  op->r = r;
  op->loop = loop;
  if (o) op->opts = *o;
  op->done = done;
  op->done_arg = arg;
  op->link = &op->conn.link;
  *out = op;
  return BG_OK;
}

/* The op is under way: bgsync_cancel can reach it from now on (a cancel asked
 * before it started does not count), and the app hears it connect. */
static void bgs_op_running(bgsync_op *op) {
  bgsync *r = op->r;
  uv_mutex_lock(&r->lock);
  r->op = op;
  r->cancel = false;
  uv_mutex_unlock(&r->lock);
  op->prog.stage = BGSYNC_CONNECTING;
  bgs_progress(op);
}

/* Start the connection of an op; on failure the op is freed. */
static bg_err bgs_op_start(bgsync_op *op, const bg_tls_conf_opts *tls) {
  bgsync *r = op->r;
  int rc = uv_async_init(op->loop, &op->wake, bgs_on_wake);
  if (rc < 0) {
    bgs_op_free(op);
    return bgs_fail(r, BG_E_INTERNAL, "libuv: %s", uv_strerror(rc));
  }
  op->wake.data = op;
  bgs_link_cbs cbs = {bgs_on_ready, bgs_on_frame, bgs_on_closed};
  bg_err e = bgs_conn_start(&op->conn, op->loop, op->host, op->port, tls, op->opts.timeout_ms, &r->tls_session,
                            &r->has_tls_session, &cbs, op);
  if (e != BG_OK) {
    bgs_fail(r, e, "%s", op->conn.link.why);
    op->done = NULL;
    op->decided = true;
    op->result = e;
    uv_close((uv_handle_t *)&op->wake, bgs_on_wake_closed);
    return e;
  }
  bgs_op_running(op);
  return BG_OK;
}

bg_err bgsync_sync_start(bgsync *r, uv_loop_t *loop, const bgsync_options *o, bgsync_done_cb done, void *done_arg) {
  bgsync_identity id;
  bg_err e = bgsync_identity_get(r, &id);
  if (e != BG_OK) return e;
  if (!id.enrolled) return bgs_fail(r, BG_E_USAGE, "this replica is not enrolled: enrol it with a code from the office");
  bgsync_op *op;
  if ((e = bgs_op_new(r, loop, o, done, done_arg, &op)) != BG_OK) return e;
  if (bgs_split_server(id.server, op->host, sizeof op->host, &op->port, BG_DEFAULT_PORT) != BG_OK) e = bgs_fail(r, BG_E_CONFIG, "the replica's server address '%s' is not HOST:PORT", id.server);
  if (e == BG_OK) e = bgs_read_file(r, ".key", &op->key);
  if (e == BG_OK) e = bgs_read_file(r, ".crt", &op->cert);
  if (e == BG_OK) e = bgs_read_file(r, ".ca", &op->ca);
  if (e != BG_OK) {
    bgs_op_free(op);
    return e;
  }
  bg_tls_conf_opts tls = {.ca = op->ca.data, .ca_len = op->ca.len, .cert = op->cert.data, .cert_len = op->cert.len,
                          .key = op->key.data, .key_len = op->key.len};
  return bgs_op_start(op, &tls);
}

bg_err bgs_sync_start_link(bgsync *r, uv_loop_t *loop, bgs_link *link, const bgsync_options *o, bgsync_done_cb done,
                          void *done_arg) {
  bgsync_identity id;
  bg_err e = bgsync_identity_get(r, &id);
  if (e != BG_OK) return e;
  if (!id.enrolled) return bgs_fail(r, BG_E_USAGE, "this replica is not enrolled: enrol it with a code from the office");
  bgsync_op *op;
  if ((e = bgs_op_new(r, loop, o, done, done_arg, &op)) != BG_OK) return e;
  int rc = uv_async_init(loop, &op->wake, bgs_on_wake);
  if (rc < 0) {
    bgs_op_free(op);
    return bgs_fail(r, BG_E_INTERNAL, "libuv: %s", uv_strerror(rc));
  }
  op->wake.data = op;
  op->link = link;
  link->cbs = (bgs_link_cbs){bgs_on_ready, bgs_on_frame, bgs_on_closed};
  link->data = op;
  bgs_op_running(op);
  return BG_OK;
}

typedef struct bgs_wait {
  bool done;
  bg_err result;
} bgs_wait;

static void bgs_wait_done(void *arg, bg_err result) {
  bgs_wait *w = arg;
  w->done = true;
  w->result = result;
}

#ifndef _WIN32
/* A write to a connection the server closed raises SIGPIPE, which would end
 * the app. A library must not change the process's signal handling, so the
 * blocking calls block SIGPIPE in their own thread while they run and take a
 * SIGPIPE they caused off the pending set before unblocking. (Apps that use
 * bgsync_sync_start on their own loop ignore SIGPIPE, as libuv apps do.) */
typedef struct bgs_nopipe {
  sigset_t set, old;
  bool was_pending, blocked;
} bgs_nopipe;

static void bgs_nopipe_begin(bgs_nopipe *p) {
  sigset_t pending;
  sigemptyset(&p->set);
  sigaddset(&p->set, SIGPIPE);
  p->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
  p->blocked = pthread_sigmask(SIG_BLOCK, &p->set, &p->old) == 0;
}

static void bgs_nopipe_end(bgs_nopipe *p) {
  if (!p->blocked) return;
  sigset_t pending;
  if (!p->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&p->set, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  (void)pthread_sigmask(SIG_SETMASK, &p->old, NULL);
}
#endif

/* Run an operation to its end on a private loop. */
static bg_err bgs_run(bgsync *r, bg_err (*start)(bgsync *, uv_loop_t *, void *, bgsync_done_cb, void *), void *arg) {
  uv_loop_t loop;
  int rc = uv_loop_init(&loop);
  if (rc < 0) return bgs_fail(r, BG_E_INTERNAL, "libuv: %s", uv_strerror(rc));
  bgs_wait w = {false, BG_OK};
#ifndef _WIN32
  bgs_nopipe np;
  bgs_nopipe_begin(&np);
#endif
  bg_err e = start(r, &loop, arg, bgs_wait_done, &w);
  (void)uv_run(&loop, UV_RUN_DEFAULT);
#ifndef _WIN32
  bgs_nopipe_end(&np);
#endif
  if (uv_loop_close(&loop) != 0) {
    /* a handle left open is a bug; run once more to let closes finish */
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
  }
  if (e != BG_OK) return e;
  if (!w.done) return bgs_fail(r, BG_E_INTERNAL, "the sync ended without a result (a bug)");
  if (w.result == BG_OK) r->err[0] = 0;
  return w.result;
}

static bg_err bgs_sync_thunk(bgsync *r, uv_loop_t *loop, void *arg, bgsync_done_cb done, void *done_arg) {
  return bgsync_sync_start(r, loop, arg, done, done_arg);
}

bg_err bgsync_sync(bgsync *r, const bgsync_options *o) {
  return bgs_run(r, bgs_sync_thunk, (void *)o);
}

/* --- enrolment ------------------------------------------------------------------------------------ */

/* Write a file beside the replica, readable by its owner only (replaced whole). */
static bg_err bgs_write_private(bgsync *r, const char *suffix, const bg_buf *data) {
  char *path = bgs_path(r, suffix), *tmp = bgs_path(r, ".tmp");
  bg_err e = path && tmp ? BG_OK : bgs_fail(r, BG_E_NOMEM, "out of memory");
  uv_fs_t req;
  uv_file f = -1;
  if (e == BG_OK) {
    (void)uv_fs_unlink(NULL, &req, tmp, NULL);
    uv_fs_req_cleanup(&req);
    f = uv_fs_open(NULL, &req, tmp, UV_FS_O_WRONLY | UV_FS_O_CREAT | UV_FS_O_EXCL, 0600, NULL);
    uv_fs_req_cleanup(&req);
    if (f < 0) e = bgs_fail(r, BG_E_IO, "cannot create %s: %s", tmp, uv_strerror(f));
  }
  size_t len = data->len && data->data[data->len - 1] == 0 ? data->len - 1 : data->len; /* PEM without its NUL */
  size_t off = 0;
  while (e == BG_OK && off < len) {
    uv_buf_t b = uv_buf_init((char *)data->data + off, (unsigned)(len - off));
    int n = uv_fs_write(NULL, &req, f, &b, 1, -1, NULL);
    uv_fs_req_cleanup(&req);
    if (n <= 0) e = bgs_fail(r, BG_E_IO, "cannot write %s: %s", tmp, uv_strerror(n));
    else off += (size_t)n;
  }
  if (e == BG_OK) {
    int rc = uv_fs_fsync(NULL, &req, f, NULL);
    uv_fs_req_cleanup(&req);
    if (rc < 0) e = bgs_fail(r, BG_E_IO, "cannot write %s: %s", tmp, uv_strerror(rc));
  }
  if (f >= 0) {
    (void)uv_fs_close(NULL, &req, f, NULL);
    uv_fs_req_cleanup(&req);
  }
  if (e == BG_OK) {
    int rc = uv_fs_rename(NULL, &req, tmp, path, NULL);
    uv_fs_req_cleanup(&req);
    if (rc < 0) e = bgs_fail(r, BG_E_IO, "cannot write %s: %s", path, uv_strerror(rc));
  }
  free(path);
  free(tmp);
  return e;
}

static void bgs_enrol_ready(bgs_link *c) {
  bgsync_op *op = c->data;
  bgsync *r = op->r;
  bg_buf ca = BG_BUF_INIT;
  char why[256];
  bg_err e = bg_tls_enrol_verify(&op->conn.tls, op->code.ca, BG_CODE_CA_BYTES, op->host, &ca, why, sizeof why);
  bg_buf_free(&ca);
  if (e != BG_OK) {
    bgs_end(op, bgs_fail(r, e, "this server is not the one the code was made for: %s", why));
    return;
  }
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_ENROLL;
  m.u.enroll = (bg_msg_enroll){bg_str_c(op->code_text), {(const char *)op->csr.data, (uint32_t)op->csr.len},
                               BG_STR(BGS_SOFTWARE), bg_str_c(op->name)};
  (void)bgs_send(op, &m);
}

static void bgs_enrol_frame(bgs_link *c, const uint8_t *body, size_t len) {
  bgsync_op *op = c->data;
  bgsync *r = op->r;
  bg_msg m;
  bg_err e = BG_OK;
  if (!bgs_decode(op, body, len, &m)) return;
  if (m.type == BG_MSG_ERROR) {
    bg_err code = (bg_err)m.u.error.code;
    bgs_fail(r, code, "enrolment refused: %s%s%.*s", bg_err_message(code), m.u.error.message.len ? " - " : "",
             (int)m.u.error.message.len, m.u.error.message.p);
    bgs_decide(op, code);
    bgs_link_end(op->link, code, NULL);
  } else if (m.type == BG_MSG_ENROLLED) {
    const bg_msg_enrolled *en = &m.u.enrolled;
    bg_buf key = BG_BUF_INIT, cert = BG_BUF_INIT, ca = BG_BUF_INIT;
    if (!bg_code_ca_matches(&op->code, (const uint8_t *)en->ca.p, en->ca.len))
      e = bgs_fail(r, BG_E_TLS, "the server sent another CA than the code names: not enrolled");
    if (e == BG_OK && (bg_pki_key_pem(&op->pk, &key) != BG_OK ||
                       bg_pki_cert_pem((const uint8_t *)en->cert.p, en->cert.len, &cert) != BG_OK ||
                       bg_pki_cert_pem((const uint8_t *)en->ca.p, en->ca.len, &ca) != BG_OK))
      e = bgs_fail(r, BG_E_TLS, "the server's certificate cannot be read");
    if (e == BG_OK) e = bgs_write_private(r, ".key", &key);
    if (e == BG_OK) e = bgs_write_private(r, ".crt", &cert);
    if (e == BG_OK) e = bgs_write_private(r, ".ca", &ca);
    char login[BG_ID_MAX + 1], server[300];
    snprintf(login, sizeof login, "%.*s", (int)en->login.len, en->login.p);
    snprintf(server, sizeof server, strchr(op->host, ':') ? "[%s]:%d" : "%s:%d", op->host, op->port);
    if (e == BG_OK) e = bgs_begin(r);
    if (e == BG_OK) e = bgs_meta_set_int(r, "device", (int64_t)en->device);
    if (e == BG_OK) e = bgs_meta_set_int(r, "user", (int64_t)en->user);
    if (e == BG_OK) e = bgs_meta_set_text(r, "login", login);
    if (e == BG_OK) e = bgs_meta_set_text(r, "server", server);
    if (e == BG_OK) e = bgs_commit(r);
    if (e != BG_OK) bgs_rollback(r);
    bg_buf_free(&key);
    bg_buf_free(&cert);
    bg_buf_free(&ca);
    op->finished = e == BG_OK;
    bgs_end(op, e);
  } else {
    bgs_end(op, bgs_fail(r, BG_E_UNEXPECTED_MESSAGE, "the server sent %s during enrolment", bg_msg_type_name(m.type)));
  }
  bg_msg_free(&m);
}

typedef struct bgs_enrol_args {
  const char *server, *code, *name;
  int enrol_port;
} bgs_enrol_args;

static bg_err bgs_enrol_start(bgsync *r, uv_loop_t *loop, void *arg, bgsync_done_cb done, void *done_arg) {
  const bgs_enrol_args *a = arg;
  bgsync_op *op;
  bg_err e = bgs_op_new(r, loop, NULL, done, done_arg, &op);
  if (e != BG_OK) return e;
  op->enrol = true;
  int port;
  if (bgs_split_server(a->server, op->host, sizeof op->host, &port, BG_DEFAULT_PORT) != BG_OK)
    e = bgs_fail(r, BG_E_USAGE, "'%s' is not a server address: write HOST or HOST:PORT", a->server);
  op->port = port;
  if (e == BG_OK && bg_code_parse(a->code, &op->code) != BG_OK)
    e = bgs_fail(r, BG_E_ENROLL_CODE, "the enrolment code is mistyped: check it against the one the office gave");
  snprintf(op->code_text, sizeof op->code_text, "%s", a->code);
  snprintf(op->name, sizeof op->name, "%s", a->name ? a->name : "");
  bg_rng rng;
  bool has_rng = false;
  if (e == BG_OK) {
    has_rng = (e = bg_rng_init(&rng, "bgsync enrol")) == BG_OK;
    if (e != BG_OK) bgs_fail(r, e, "no randomness for a key");
  }
  if (e == BG_OK) {
    mbedtls_pk_init(&op->pk);
    op->has_pk = true;
    e = bg_pki_key_new(&rng, &op->pk);
    if (e == BG_OK) e = bg_pki_csr(&rng, &op->pk, "CN=new device", &op->csr);
    if (e != BG_OK) bgs_fail(r, e, "cannot make the device's key pair");
  }
  if (has_rng) bg_rng_free(&rng);
  if (e != BG_OK) {
    bgs_op_free(op);
    return e;
  }
  /* the enrolment port: PORT + 1 unless given */
  int eport = a->enrol_port > 0 ? a->enrol_port : port + 1;
  op->port = port; /* remembered as the sync address */
  int uv_rc = uv_async_init(loop, &op->wake, bgs_on_wake);
  if (uv_rc < 0) {
    bgs_op_free(op);
    return bgs_fail(r, BG_E_INTERNAL, "libuv: %s", uv_strerror(uv_rc));
  }
  op->wake.data = op;
  bgs_link_cbs cbs = {bgs_enrol_ready, bgs_enrol_frame, bgs_on_closed};
  bg_tls_conf_opts tls = {.enrol = true};
  e = bgs_conn_start(&op->conn, loop, op->host, eport, &tls, 15000, NULL, NULL, &cbs, op);
  op->conn.enrol = true;
  if (e != BG_OK) {
    bgs_fail(r, e, "%s", op->conn.link.why);
    op->done = NULL;
    uv_close((uv_handle_t *)&op->wake, bgs_on_wake_closed);
    return e;
  }
  bgs_op_running(op);
  return BG_OK;
}

bg_err bgsync_enroll(bgsync *r, const char *server, const char *code, const char *device_name, int enrol_port) {
  if (!server || !code) return bgs_fail(r, BG_E_USAGE, "enrolment needs the server address and the code");
  bgsync_identity id;
  bg_err e = bgsync_identity_get(r, &id);
  if (e != BG_OK) return e;
  if (id.enrolled)
    return bgs_fail(r, BG_E_EXISTS, "this replica is already enrolled as device %" PRIu64 " of %s; use a new replica file",
                    id.device, id.login);
  bgs_enrol_args a = {server, code, device_name, enrol_port};
  return bgs_run(r, bgs_enrol_start, &a);
}
