/*
 * internal.h - what the parts of libbgsync share: the handle, the replica's
 * statements, and the functions replica.c offers to sync.c and enrol.c.
 *
 * replica.c  the SQLite file: migrations, record tables derived from the
 *            schema, capture of SQL writes, local writes, materialisation of
 *            the engine's visible state into the tables, conflicts, status
 * sync.c     a sync session on a libuv loop (blocking and asynchronous)
 * enrol.c    enrolment: key pair, certificate request, ENROLL
 * net.c      one TLS connection on a libuv loop, in frames (a link.h transport)
 */
#ifndef BGSYNC_INTERNAL_H
#define BGSYNC_INTERNAL_H

#include <mbedtls/ssl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <uv.h>

#include "bg_engine.h"
#include "bg_hlc.h"
#include "bg_msg.h"
#include "bg_schema.h"
#include "bg_sql.h"
#include "bgsync.h"
#include "link.h"

/* Statements of the replica (replica.c prepares them once). */
enum {
  Q_META_GET,
  Q_META_SET,
  Q_OUTBOX_ADD,
  Q_OUTBOX_CLIENT,
  Q_OUTBOX_COUNT,
  Q_REJECTED_COUNT,
  Q_MAX
};

typedef struct bgsync_op bgsync_op; /* a running sync (sync.c) */

struct bgsync {
  sqlite3 *db;
  bg_sqlkv *kv;
  bg_kvcache *cache; /* the engine's view of kv: a page of remote writes is applied in memory */
  bg_engine eng;
  bool has_engine;
  char *path;
  char err[512];
  int applying;            /* > 0: the library itself writes the record tables */
  bool in_capture;         /* a SQL write is being captured */
  bool registering;        /* bgsync_client_add: the traject does not exist yet */
  bool keeping_position;   /* bgsync_resolve: a write of the shown position closes a conflict of it */
  sqlite3_stmt *q[Q_MAX];
  sqlite3_stmt *upsert[BG_RTYPE_MAX + 1], *remove[BG_RTYPE_MAX + 1];

  /* sync state */
  uv_mutex_t lock;         /* guards op and cancel (bgsync_cancel from other threads) */
  bgsync_op *op;
  bool cancel;
  uint32_t failures;       /* consecutive failed syncs, for the backoff */
  uint64_t retry_ms;
  uint64_t jitter;         /* xorshift state for the backoff's jitter */
  mbedtls_ssl_session tls_session; /* the last sync's, offered to resume the next */
  bool has_tls_session;

  /* the wall clock (bgs_now_ms): NULL = bg_wall_ms; a test sets its own */
  uint64_t (*clock)(void *arg);
  void *clock_arg;
};

/* Test hook: read the wall clock through `now_ms(arg)` instead of the
 * system's (every time the replica and its syncs take; NULL restores the
 * system clock), so a simulation replays bit for bit. */
void bgs_set_clock(bgsync *r, uint64_t (*now_ms)(void *arg), void *arg);
/* The wall clock in ms since the epoch, as set by bgs_set_clock. */
uint64_t bgs_now_ms(const bgsync *r);

/* Test entry: a sync session like bgsync_sync_start, over a link the caller
 * implements (link.h) instead of a TLS connection. The session sets the
 * link's callbacks and data; the caller calls on_ready when frames may flow,
 * on_frame for each frame from the server, and on_closed once after the end.
 * `done` is called on `loop` after on_closed (run the loop). */
bg_err bgs_sync_start_link(bgsync *r, uv_loop_t *loop, bgs_link *link, const bgsync_options *o, bgsync_done_cb done,
                          void *done_arg);

/* Set r->err from a format; returns e. */
bg_err bgs_fail(bgsync *r, bg_err e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* r->err from SQLite's message for a failed call with result rc. */
bg_err bgs_sqlfail(bgsync *r, int rc, const char *what);

/* Transactions: BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
bg_err bgs_begin(bgsync *r);
bg_err bgs_commit(bgsync *r);
void bgs_rollback(bgsync *r);

/* The meta table: integers and texts by key. A missing key reads as 0 / "". */
bg_err bgs_meta_int(bgsync *r, const char *k, int64_t *v);
bg_err bgs_meta_text(bgsync *r, const char *k, char *out, size_t len);
bg_err bgs_meta_set_int(bgsync *r, const char *k, int64_t v);
bg_err bgs_meta_set_text(bgsync *r, const char *k, const char *v);

/* Paths of the files beside the replica: FILE + suffix (malloc'ed). */
char *bgs_path(const bgsync *r, const char *suffix);

/* Apply a page of received writes (the caller holds the transaction):
 * through the engine, then the record tables. A write this replica cannot
 * apply is an error naming it (nothing of the page stays). */
bg_err bgs_apply_remote(bgsync *r, const bg_write *w, uint32_t n);

/* Take a refused own write (its encoding) out of the engine and the tables
 * (caller holds the transaction). */
bg_err bgs_forget(bgsync *r, const uint8_t *enc, size_t len);

/* Draw every record table's rows of a client again from the engine (caller
 * holds the transaction): afterwards they show exactly its merged state. */
bg_err bgs_redraw(bgsync *r, bg_str client);

/* Drop everything the replica has of a client (caller holds the transaction). */
bg_err bgs_purge_client(bgsync *r, bg_str client);

/* Whether writes for `client` wait in the outbox. */
bg_err bgs_has_pending(bgsync *r, bg_str client, bool *has);

#endif /* BGSYNC_INTERNAL_H */
