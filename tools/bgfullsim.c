/*
 * bgfullsim - full-stack deterministic simulation: the real client library and
 * the real daemon code in one process, with a simulated network between them.
 *
 *   bgfullsim --seeds N --start S [--devices D] [--steps K] [--verbose]
 *
 * Per seed, in a temporary directory (in /dev/shm when there is one):
 *   office   the daemon's store (daemon/store_sqlite.c) on a SQLite file, with
 *            an organisation made through the store API (two teams, three
 *            begeleiders, an office user, four clients, D devices), and one
 *            daemon session (daemon/session.c) per connection;
 *   devices  D replicas of libbgsync (client-lib/: replica.c, sync.c), each a
 *            SQLite file, written through the public API (bgsync_set, _note,
 *            _doel_add, _sign, _phase, _propose, _resolve) and plain SQL on
 *            bgsync_db;
 *   network  each sync is a session whose frames - the real protocol frames,
 *            without TLS - travel through in-memory byte queues (a link.h
 *            transport). The seed chooses every step: which device writes or
 *            starts a sync, which connection moves how many bytes in which
 *            direction (several sessions interleave: reordering across
 *            connections), cuts at a random byte (a lost frame is a cut),
 *            devices that give up on a connection whose bytes still reach the
 *            office (a retry while the first session lives on: duplicate
 *            batches), restarts of a device (its replica handle closed and
 *            reopened; the file stays, memory is lost) or of the daemon (every
 *            session dropped, the store closed and reopened), a client moved
 *            to another team (PURGE), and time: one simulated clock read by
 *            the daemon (env->now_ms) and by every replica (bgs_set_clock),
 *            each device with its own skew.
 * Then the network heals and every device syncs cleanly until nothing is
 * pending (at least twice). Checks:
 *   convergence   every device's digest of each client in its user's scope
 *                 equals the store's (bg_store_digest);
 *   scope         a device holds no row of a client outside its scope;
 *   nothing lost  every write a device queued (its dots, read from the outbox
 *                 after each local write) is in the store's feed or in the
 *                 device's bgsync_rejected (none expected);
 *   once          no dot appears twice in the feed; nothing pending anywhere;
 *   files         PRAGMA integrity_check on every replica and on the store;
 *   sessions      a sync ends OK or with a network error (cut, timeout, the
 *                 daemon gone), never with a protocol or storage error.
 * Exit 0 only when every seed passes; a failing seed prints the command that
 * replays it alone, bit for bit (no randomness or clock outside the seed).
 *
 * A sibling of bgsim rather than a mode of it: bgsim simulates the merge
 * engine alone and links only proto/; this one links the client library, the
 * daemon's store and sessions and libuv, and its steps are a network's.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>
#include <sqlite3.h>
#include <uv.h>

#include "bg_frame.h"
#include "bg_msg.h"
#include "bg_schema.h"
#include "internal.h"
#include "session.h"
#include "store.h"

#define MAX_DEV 16
#define MAX_CONN 64
#define N_CLIENTS 4

/* --- the world ------------------------------------------------------------------------------ */

typedef struct sim sim;

typedef struct conn {
  bgs_link link;       /* first: what the device's session speaks to */
  sim *S;
  int dev;
  bool used;
  bool dev_open;       /* the device's side still takes frames */
  bool closed_due;     /* the device's on_closed is still to come */
  bool srv_open;       /* the daemon's session is alive */
  bool up_eof;         /* the device closed its side: the daemon sees EOF after `up` */
  bg_session sess;
  bg_buf up, down, rx; /* device->daemon, daemon->device, received not yet framed */
  uint32_t id;
} conn;

typedef struct device {
  bgsync *r;
  char path[256];
  uint64_t id, user;
  int uidx;            /* index into the users */
  int64_t skew;        /* ms, of its clock against the simulated one */
  bool syncing;        /* an op runs on r */
  bool done;           /* its done callback came */
  bg_err result;
  conn *c;             /* the connection of the running op */
  uint64_t *dots;      /* counters of the writes it queued */
  size_t n_dots, cap_dots;
} device;

typedef struct user {
  const char *login;
  uint8_t role;
  int team;            /* index into teams */
  uint64_t id;
} user;

typedef struct sim_client {
  char id[16];
  int team;
  int begeleider;      /* index into the users */
} sim_client;

struct sim {
  uint64_t seed, rng;
  int ndev, steps;
  bool verbose;
  char dir[128], store_path[256];
  bg_store *store;
  bg_session_env env;
  uv_loop_t loop;
  device dev[MAX_DEV];
  conn conns[MAX_CONN];
  uint32_t next_conn;
  sim_client cl[N_CLIENTS];
  char fail[1024];
  bool failed;
  /* tallies */
  unsigned long writes_ok, writes_refused, syncs, syncs_ok, cuts, abandons, dev_restarts, srv_restarts, moves;
};

static const char *const g_teams[] = {"noord", "zuid"};
static user g_users[] = {
    {"anna", BG_ROLE_BEGELEIDER, 0, 0},
    {"bert", BG_ROLE_BEGELEIDER, 0, 0},
    {"carla", BG_ROLE_BEGELEIDER, 1, 0},
    {"olga", BG_ROLE_OFFICE, 0, 0},
};
#define N_USERS (int)(sizeof g_users / sizeof g_users[0])

static int64_t g_now; /* the simulated clock, ms */
static int64_t sim_now(void) { return g_now; }

static uint64_t dev_clock(void *arg) {
  device *d = arg;
  return (uint64_t)(g_now + d->skew);
}

static uint64_t rnd(sim *S) { /* xorshift64* */
  S->rng ^= S->rng >> 12;
  S->rng ^= S->rng << 25;
  S->rng ^= S->rng >> 27;
  return S->rng * UINT64_C(2685821657736338717);
}
static uint32_t below(sim *S, uint32_t n) { return n ? (uint32_t)(rnd(S) % n) : 0; }
static bool chance(sim *S, uint32_t percent) { return below(S, 100) < percent; }

static void fail(sim *S, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(sim *S, const char *fmt, ...) {
  if (S->failed) return;
  S->failed = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(S->fail, sizeof S->fail, fmt, ap);
  va_end(ap);
}

static void say(sim *S, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(sim *S, const char *fmt, ...) {
  if (!S->verbose) return;
  va_list ap;
  va_start(ap, fmt);
  printf("  [%" PRId64 "] ", g_now);
  vprintf(fmt, ap);
  putchar('\n');
  va_end(ap);
}

/* --- the simulated link (link.h) ------------------------------------------------------------ */

static bg_err link_send(bgs_link *l, const bg_msg *m) {
  conn *c = (conn *)l;
  if (l->ended) return BG_E_CONNECTION_LOST;
  size_t before = c->up.len;
  bg_err e = bg_msg_encode_frame(m, &c->up, 0);
  if (e == BG_OK) l->sent += c->up.len - before;
  return e;
}

/* The device ends its side: what it sent still travels, then the daemon sees
 * EOF; the device hears of the end on a later step (never from inside end). */
static void link_end(bgs_link *l, bg_err e, const char *why) {
  conn *c = (conn *)l;
  if (l->ended) return;
  l->ended = true;
  l->result = e;
  if (why) snprintf(l->why, sizeof l->why, "%s", why);
  c->dev_open = false;
  c->up_eof = true;
  c->closed_due = true;
}

static const bgs_link_ops g_link_ops = {link_send, link_end};

/* The transport fails under the device (a cut, the daemon gone, a timeout). */
static void link_fail(conn *c, bg_err e, const char *why) {
  if (c->link.ended) return;
  c->link.ended = true;
  c->link.result = e;
  snprintf(c->link.why, sizeof c->link.why, "%s", why);
  c->dev_open = false;
  c->closed_due = true;
}

static void srv_close(conn *c) {
  if (!c->srv_open) return;
  bg_session_free(&c->sess);
  c->srv_open = false;
}

static void conn_release_if_done(conn *c) {
  if (!c->used || c->closed_due || c->dev_open || c->srv_open) return;
  if (c->up.len && !c->up_eof) return;
  bg_buf_free(&c->up);
  bg_buf_free(&c->down);
  bg_buf_free(&c->rx);
  c->used = false;
}

static void on_done(void *arg, bg_err result) {
  device *d = arg;
  d->done = true;
  d->result = result;
}

/* Deliver the device's on_closed, and its done callback (the loop closes the op's handle). */
static void deliver_closed(sim *S, conn *c) {
  device *d = &S->dev[c->dev];
  c->closed_due = false;
  c->link.cbs.on_closed(&c->link);
  if (uv_run(&S->loop, UV_RUN_NOWAIT) < 0) fail(S, "uv_run");
  if (!d->done) {
    fail(S, "device %d: no done callback after on_closed", c->dev);
    return;
  }
  d->syncing = false;
  d->c = NULL;
  S->syncs++;
  bg_err e = d->result;
  if (e == BG_OK) S->syncs_ok++;
  say(S, "dev %d: sync #%u ends: %s%s%s", c->dev, c->id, bg_err_name(e), e ? " - " : "", e ? bgsync_errmsg(d->r) : "");
  /* network faults and a daemon that went away are the simulation's doing;
   * anything else is a finding */
  if (e != BG_OK && e != BG_E_CONNECTION_LOST && e != BG_E_TIMEOUT && e != BG_E_SHUTTING_DOWN)
    fail(S, "device %d: sync #%u failed with %s: %s", c->dev, c->id, bg_err_name(e), bgsync_errmsg(d->r));
  conn_release_if_done(c);
}

/* Move up to n bytes device -> daemon (n = 0: all). */
static void step_up(sim *S, conn *c, size_t n) {
  if (!c->srv_open) return;
  if (n == 0 || n > c->up.len) n = c->up.len;
  size_t off = 0;
  while (off < n && c->srv_open && !c->sess.done) {
    size_t used = 0;
    (void)bg_session_input(&c->sess, c->up.data + off, n - off, &c->down, &used);
    if (used == 0 || used > n - off) {
      fail(S, "session took %zu of %zu bytes", used, n - off);
      return;
    }
    off += used;
  }
  if (c->srv_open && c->sess.done) n = c->up.len; /* the daemon reads no more */
  bg_buf_consume(&c->up, n);
  if (!c->dev_open) bg_buf_reset(&c->down); /* no one to read the answers */
  if (c->srv_open && c->sess.done && c->down.len == 0) srv_close(c);
  if (c->srv_open && c->up_eof && c->up.len == 0) srv_close(c); /* EOF */
}

/* Move up to n bytes daemon -> device (n = 0: all), and the frames they complete. */
static void step_down(sim *S, conn *c, size_t n) {
  if (!c->dev_open) return;
  if (n == 0 || n > c->down.len) n = c->down.len;
  if (bg_buf_append(&c->rx, c->down.data, n) != BG_OK) {
    fail(S, "out of memory");
    return;
  }
  bg_buf_consume(&c->down, n);
  c->link.received += n;
  while (c->dev_open && c->rx.len >= 4) {
    uint32_t len = (uint32_t)c->rx.data[0] << 24 | (uint32_t)c->rx.data[1] << 16 | (uint32_t)c->rx.data[2] << 8 |
                   c->rx.data[3];
    if (len == 0 || len > BG_FRAME_MAX) {
      fail(S, "the daemon sent a bad frame header (%u)", len);
      return;
    }
    if (c->rx.len < 4 + (size_t)len) break;
    c->link.cbs.on_frame(&c->link, c->rx.data + 4, len);
    bg_buf_consume(&c->rx, 4 + (size_t)len);
  }
  /* the daemon closed after its last answer */
  if (c->dev_open && c->srv_open && c->sess.done && c->down.len == 0) srv_close(c);
  if (c->dev_open && !c->srv_open && c->down.len == 0)
    link_fail(c, BG_E_CONNECTION_LOST, "the server ended the connection");
}

/* Cut the connection here: everything in flight is lost both ways. */
static void cut(sim *S, conn *c, const char *why) {
  bg_buf_reset(&c->up);
  bg_buf_reset(&c->down);
  srv_close(c);
  link_fail(c, BG_E_CONNECTION_LOST, why);
  c->up_eof = true;
  S->cuts++;
}

static conn *conn_new(sim *S, int di) {
  for (int i = 0; i < MAX_CONN; i++) {
    conn *c = &S->conns[i];
    if (c->used) continue;
    memset(c, 0, sizeof *c);
    c->used = true;
    c->S = S;
    c->dev = di;
    c->link.ops = &g_link_ops;
    c->dev_open = c->srv_open = true;
    c->id = ++S->next_conn;
    bg_session_init(&c->sess, &S->env, BG_SESSION_SYNC, S->dev[di].id, g_users[S->dev[di].uidx].login);
    return c;
  }
  return NULL;
}

/* Start a sync on device di over a fresh connection; the handshake is done at once. */
static bool sync_start(sim *S, int di) {
  device *d = &S->dev[di];
  conn *c = conn_new(S, di);
  if (!c) return false;
  d->done = false;
  bg_err e = bgs_sync_start_link(d->r, &S->loop, &c->link, NULL, on_done, d);
  if (e != BG_OK) {
    fail(S, "device %d: sync start: %s", di, bgsync_errmsg(d->r));
    srv_close(c);
    c->dev_open = false;
    c->up_eof = true;
    conn_release_if_done(c);
    return false;
  }
  d->syncing = true;
  d->c = c;
  say(S, "dev %d: sync #%u starts", di, c->id);
  c->link.cbs.on_ready(&c->link);
  return true;
}

/* --- the office ----------------------------------------------------------------------------- */

static bool store_open(sim *S) {
  char why[256];
  if (bg_store_open(S->store_path, &S->store, why, sizeof why) != BG_OK) {
    fail(S, "store open: %s", why);
    return false;
  }
  S->env.store = S->store;
  bg_hlc_init(&S->env.hlc, 0);
  return true;
}

/* The daemon restarts: every session is gone, the store is closed and opened. */
static void daemon_restart(sim *S) {
  for (int i = 0; i < MAX_CONN; i++) {
    conn *c = &S->conns[i];
    if (!c->used) continue;
    bg_buf_reset(&c->up);
    bg_buf_reset(&c->down);
    srv_close(c);
    link_fail(c, BG_E_CONNECTION_LOST, "the daemon restarted");
    c->up_eof = true;
    conn_release_if_done(c);
  }
  bg_store_close(S->store);
  S->store = NULL;
  S->srv_restarts++;
  say(S, "daemon restarts");
  (void)store_open(S);
}

static bool in_scope(const sim *S, int uidx, int ci) {
  const user *u = &g_users[uidx];
  if (u->role != BG_ROLE_BEGELEIDER) return true;
  return S->cl[ci].team == u->team || S->cl[ci].begeleider == uidx;
}

static void move_client(sim *S) {
  int ci = (int)below(S, N_CLIENTS);
  int team = 1 - S->cl[ci].team;
  int cand[N_USERS], n = 0;
  for (int u = 0; u < N_USERS; u++)
    if (g_users[u].role == BG_ROLE_BEGELEIDER && g_users[u].team == team) cand[n++] = u;
  if (n == 0) return;
  int b = cand[below(S, (uint32_t)n)];
  if (bg_store_client_move(S->store, S->cl[ci].id, g_teams[team], g_users[b].login, g_now) != BG_OK) {
    fail(S, "client move: %s", bg_store_errmsg(S->store));
    return;
  }
  S->cl[ci].team = team;
  S->cl[ci].begeleider = b;
  S->moves++;
  say(S, "office moves %s to %s (%s)", S->cl[ci].id, g_teams[team], g_users[b].login);
}

/* --- devices -------------------------------------------------------------------------------- */

static bool dev_open(sim *S, device *d) {
  bg_err e = bgsync_open(d->path, &d->r);
  if (e != BG_OK) {
    fail(S, "replica open %s: %s", d->path, d->r ? bgsync_errmsg(d->r) : bg_err_name(e));
    return false;
  }
  bgs_set_clock(d->r, dev_clock, d);
  return true;
}

static bool dev_enrol(sim *S, int di) {
  device *d = &S->dev[di];
  d->uidx = di % N_USERS;
  d->skew = (int64_t)below(S, 600001) - 300000;
  snprintf(d->path, sizeof d->path, "%s/dev%d.db", S->dir, di);
  uint8_t hash[32] = {(uint8_t)di};
  char code[16];
  snprintf(code, sizeof code, "code%d", di);
  uint64_t uid = 0;
  if (bg_store_code_add(S->store, code, hash, g_users[d->uidx].id, g_now, g_now + 3600000) != BG_OK ||
      bg_store_code_use(S->store, code, hash, code, g_now, &d->id, &uid) != BG_OK) {
    fail(S, "enrol: %s", bg_store_errmsg(S->store));
    return false;
  }
  d->user = uid;
  if (!dev_open(S, d)) return false;
  bgsync *r = d->r;
  bg_err e = bgs_begin(r);
  if (e == BG_OK) e = bgs_meta_set_int(r, "device", (int64_t)d->id);
  if (e == BG_OK) e = bgs_meta_set_int(r, "user", (int64_t)d->user);
  if (e == BG_OK) e = bgs_meta_set_text(r, "login", g_users[d->uidx].login);
  if (e == BG_OK) e = bgs_meta_set_text(r, "server", "office.sim:7443");
  if (e == BG_OK) e = bgs_commit(r);
  if (e != BG_OK) {
    bgs_rollback(r);
    fail(S, "enrol device %d: %s", di, bgsync_errmsg(r));
    return false;
  }
  return true;
}

/* The device's process ends between steps: its connection dies with it (the
 * bytes it already sent may still reach the office), the handle is closed and
 * the file opened again. */
static void dev_restart(sim *S, int di) {
  device *d = &S->dev[di];
  if (d->syncing) {
    conn *c = d->c;
    link_fail(c, BG_E_CONNECTION_LOST, "the device restarted");
    c->up_eof = true;
    if (chance(S, 50)) bg_buf_reset(&c->up);
    deliver_closed(S, c);
  }
  bgsync_close(d->r);
  d->r = NULL;
  S->dev_restarts++;
  say(S, "dev %d restarts", di);
  (void)dev_open(S, d);
}

static bool add_dot(device *d, uint64_t counter) {
  if (d->n_dots == d->cap_dots) {
    size_t cap = d->cap_dots ? d->cap_dots * 2 : 64;
    uint64_t *p = realloc(d->dots, cap * sizeof *p);
    if (!p) return false;
    d->dots = p;
    d->cap_dots = cap;
  }
  d->dots[d->n_dots++] = counter;
  return true;
}

/* Note the dots of the writes queued since the counter stood at `before`. */
static void note_writes(sim *S, device *d, int64_t before) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(bgsync_db(d->r), "SELECT w FROM bgsync_outbox", -1, &st, NULL) != SQLITE_OK) {
    fail(S, "outbox: %s", sqlite3_errmsg(bgsync_db(d->r)));
    return;
  }
  msgpack_zone *zone = msgpack_zone_new(4096);
  int rc;
  while (zone && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    bg_write w;
    if (bg_write_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), zone, &w, NULL) != BG_OK) {
      fail(S, "an outbox write does not decode");
      break;
    }
    if (w.dot.device != d->id) fail(S, "an outbox write of device %" PRIu64 " on device %" PRIu64, w.dot.device, d->id);
    if ((int64_t)w.dot.counter <= before) continue;
    say(S, "  queued: dot %" PRIu64 " of %.*s", w.dot.counter, (int)w.client.len, w.client.p);
    if (!add_dot(d, w.dot.counter)) fail(S, "out of memory");
  }
  if (zone) msgpack_zone_free(zone);
  sqlite3_finalize(st);
}

static const char *const g_phases[] = {"intake", "opstart", "analyse", "planning", "uitvoering", "evaluatie"};

typedef struct pick {
  sim *S;
  char id[80];
  bool proposal;
  uint32_t seen;
} pick;

/* A uniform choice among the entries seen (reservoir sampling). */
static void conflict_cb(void *arg, const bgsync_conflict *c) {
  pick *p = arg;
  p->seen++;
  if (below(p->S, p->seen) == 0) {
    snprintf(p->id, sizeof p->id, "%s", c->id);
    p->proposal = c->proposal;
  }
}

/* One local write on device di, chosen by the seed. */
static void dev_write(sim *S, int di) {
  device *d = &S->dev[di];
  bgsync *r = d->r;
  sqlite3 *db = bgsync_db(r);
  char cl[N_CLIENTS][16];
  int n = 0;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "SELECT client FROM traject ORDER BY client", -1, &st, NULL) != SQLITE_OK) {
    fail(S, "traject: %s", sqlite3_errmsg(db));
    return;
  }
  while (sqlite3_step(st) == SQLITE_ROW && n < N_CLIENTS)
    snprintf(cl[n++], sizeof cl[0], "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  if (n == 0) return;
  const char *c = cl[below(S, (uint32_t)n)];
  int64_t before = 0;
  if (bgs_meta_int(r, "counter", &before) != BG_OK) {
    fail(S, "meta: %s", bgsync_errmsg(r));
    return;
  }
  char text[64], sql[256];
  snprintf(text, sizeof text, "t%" PRIu64 "-%u", S->seed, below(S, 100000));
  bg_err e = BG_OK;
  const char *what;
  switch (below(S, 15)) {
    case 0: what = "aanmelding.besluit"; e = bgsync_set(r, c, what, "intakegesprek"); break;
    case 1:
    case 2: what = g_phases[below(S, 6)]; e = bgsync_phase(r, c, what); break;
    case 3: what = "intake.besluit"; e = bgsync_set(r, c, what, "toelating"); break;
    case 4: what = "persoonsbeschrijving:wonen.situatie"; e = bgsync_set(r, c, what, text); break;
    case 5: what = "plan.einddoel"; e = bgsync_set(r, c, what, text); break;
    case 6: what = "doel"; e = bgsync_doel_add(r, c, "wonen", text, "6 maanden", 1 + (int)below(S, 3), NULL); break;
    case 7: what = "sign"; e = bgsync_sign(r, c, "handtekening", "2030-05-01"); break;
    case 8: what = "propose plan.einddoel"; e = bgsync_propose(r, c, "plan.einddoel", text); break;
    case 9: what = "note"; e = bgsync_note(r, c, chance(S, 50) ? "voortgangsgesprek" : "overig", text, NULL, NULL, NULL); break;
    case 10: what = "client.adres"; e = bgsync_set(r, c, what, text); break;
    case 11:
    case 12: {
      what = "SQL";
      snprintf(sql, sizeof sql, "UPDATE client SET %s = '%s' WHERE client = '%s'", chance(S, 50) ? "adres" : "telefoon",
               text, c);
      char *msg = NULL;
      if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) e = BG_E_USAGE;
      sqlite3_free(msg);
      break;
    }
    case 13: {
      what = "SQL doel";
      snprintf(sql, sizeof sql,
               "INSERT INTO doel(client, rid, omschrijving) VALUES('%s', bgsync_new_rid('doel', '%s'), '%s')", c, c,
               text);
      char *msg = NULL;
      if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) e = BG_E_USAGE;
      sqlite3_free(msg);
      break;
    }
    default: {
      what = "resolve";
      pick p = {S, "", false, 0};
      if (bgsync_conflicts(r, c, conflict_cb, &p) != BG_OK) {
        fail(S, "conflicts: %s", bgsync_errmsg(r));
        return;
      }
      if (p.seen == 0) return;
      char keep = chance(S, 50) ? 'A' : 'B';
      e = bgsync_resolve(r, p.id, keep, NULL);
      break;
    }
  }
  if (e == BG_OK) S->writes_ok++;
  else S->writes_refused++;
  say(S, "dev %d: %s on %s: %s", di, what, c, bg_err_name(e));
  note_writes(S, d, before);
}

/* --- a seed --------------------------------------------------------------------------------- */

/* One sync of device di over a perfect network, to its end. */
static bg_err clean_sync(sim *S, int di) {
  device *d = &S->dev[di];
  if (!sync_start(S, di)) return BG_E_INTERNAL;
  conn *c = d->c;
  for (int guard = 0; guard < 1000000 && !S->failed; guard++) {
    if (c->closed_due) {
      deliver_closed(S, c);
      return d->result;
    }
    if (c->up.len || (c->up_eof && c->srv_open)) step_up(S, c, 0);
    else step_down(S, c, 0);
  }
  fail(S, "device %d: a clean sync does not end", di);
  return BG_E_INTERNAL;
}

static int dot_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static bool integrity_ok(sim *S, sqlite3 *db, const char *what) {
  sqlite3_stmt *st;
  bool ok = false;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    ok = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
  sqlite3_finalize(st);
  if (!ok) fail(S, "%s: integrity_check fails", what);
  return ok;
}


static void hex32(const uint8_t d[32], char out[65]) {
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Why a device's digest of `client` differs from the store's: the feed's
 * writes it lacks, and whether rebuilding its records from its log agrees. */
static void explain(sim *S, device *d, const char *client, char *out, size_t len) {
  sqlite3 *db = NULL;
  size_t off = 0;
  out[0] = 0;
  if (sqlite3_open_v2(S->store_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    sqlite3_close(db);
    return;
  }
  sqlite3_stmt *st;
  msgpack_zone *zone = msgpack_zone_new(4096);
  unsigned total = 0, missing = 0;
  if (zone && sqlite3_prepare_v2(db, "SELECT seq, write FROM feed WHERE client = ?1 ORDER BY seq", -1, &st, NULL) ==
                  SQLITE_OK) {
    if (sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) {
        bg_write w;
        bg_fate fate;
        if (bg_write_decode(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), zone, &w, NULL) != BG_OK)
          continue;
        total++;
        if (bg_engine_fate(&d->r->eng, &w, &fate) == BG_OK && fate == BG_FATE_MISSING) {
          if (missing++ < 6 && off < len)
            off += (size_t)snprintf(out + off, len - off, "lacks seq %lld (%" PRIu64 ",%" PRIu64 ") ",
                                    sqlite3_column_int64(st, 0), w.dot.device, w.dot.counter);
        }
      }
    }
    sqlite3_finalize(st);
  }
  if (zone) msgpack_zone_free(zone);
  sqlite3_close(db);
  if (off < len) off += (size_t)snprintf(out + off, len - off, "%u of %u feed writes missing", missing, total);
  char hex[65];
  uint8_t sd[32];
  char shex[65];
  if (bg_engine_rebuild(&d->r->eng, bg_str_c(client)) == BG_OK && bgsync_digest(d->r, client, hex) == BG_OK &&
      bg_store_digest(S->store, client, sd) == BG_OK && off < len) {
    hex32(sd, shex);
    snprintf(out + off, len - off, "; after a rebuild the device %s", strcmp(hex, shex) ? "still differs" : "agrees");
  }
}

/* The checks after the network healed. */
static void check(sim *S) {
  /* the feed: every dot once */
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(S->store_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    fail(S, "store file: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return;
  }
  (void)integrity_ok(S, db, "store");
  uint64_t *feed = NULL;
  size_t nf = 0, cap = 0;
  sqlite3_stmt *st;
  msgpack_zone *zone = msgpack_zone_new(4096);
  if (!zone || sqlite3_prepare_v2(db, "SELECT write FROM feed", -1, &st, NULL) != SQLITE_OK) {
    fail(S, "feed: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    if (zone) msgpack_zone_free(zone);
    return;
  }
  while (sqlite3_step(st) == SQLITE_ROW) {
    bg_write w;
    if (bg_write_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), zone, &w, NULL) != BG_OK) {
      fail(S, "a feed write does not decode");
      break;
    }
    if (nf == cap) {
      cap = cap ? cap * 2 : 256;
      uint64_t *p = realloc(feed, cap * sizeof *p);
      if (!p) break;
      feed = p;
    }
    feed[nf++] = w.dot.device << 40 | w.dot.counter;
  }
  sqlite3_finalize(st);
  msgpack_zone_clear(zone);
  qsort(feed, nf, sizeof *feed, dot_cmp);
  for (size_t i = 1; i < nf; i++)
    if (feed[i] == feed[i - 1])
      fail(S, "dot (%" PRIu64 ",%" PRIu64 ") is twice in the feed", feed[i] >> 40, feed[i] & ((UINT64_C(1) << 40) - 1));

  for (int di = 0; di < S->ndev && !S->failed; di++) {
    device *d = &S->dev[di];
    bgsync_status stt;
    if (bgsync_status_get(d->r, &stt) != BG_OK) {
      fail(S, "device %d: status: %s", di, bgsync_errmsg(d->r));
      break;
    }
    if (stt.pending) fail(S, "device %d: %" PRIu64 " writes still pending", di, stt.pending);
    /* rejected writes: none expected */
    uint64_t *rej = NULL;
    size_t nr = 0;
    if (sqlite3_prepare_v2(bgsync_db(d->r), "SELECT w, code FROM bgsync_rejected", -1, &st, NULL) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) {
        bg_write w;
        if (bg_write_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), zone, &w, NULL) != BG_OK)
          continue;
        fail(S, "device %d: write %" PRIu64 " refused by the office: %s", di, w.dot.counter,
             bg_err_name(sqlite3_column_int(st, 1)));
        uint64_t *p = realloc(rej, (nr + 1) * sizeof *p);
        if (p) (rej = p)[nr++] = w.dot.counter;
      }
      sqlite3_finalize(st);
    }
    /* nothing lost */
    for (size_t i = 0; i < d->n_dots; i++) {
      uint64_t key = d->id << 40 | d->dots[i];
      bool in_feed = feed && bsearch(&key, feed, nf, sizeof *feed, dot_cmp);
      bool in_rej = false;
      for (size_t j = 0; j < nr; j++) in_rej |= rej[j] == d->dots[i];
      if (!in_feed && !in_rej) {
        fail(S, "device %d: its write %" PRIu64 " is lost (not on the office, not refused)", di, d->dots[i]);
        break;
      }
    }
    free(rej);
    /* convergence and scope */
    for (int ci = 0; ci < N_CLIENTS; ci++) {
      const char *c = S->cl[ci].id;
      if (in_scope(S, d->uidx, ci)) {
        uint8_t sd[32];
        char shex[65], dhex[65];
        if (bg_store_digest(S->store, c, sd) != BG_OK || bgsync_digest(d->r, c, dhex) != BG_OK) {
          fail(S, "digest of %s", c);
          break;
        }
        hex32(sd, shex);
        if (strcmp(shex, dhex) != 0) {
          char why[600];
          explain(S, d, c, why, sizeof why);
          fail(S, "device %d: %s differs from the office (%.12s vs %.12s): %s", di, c, dhex, shex, why);
        }
      } else {
        static const char *const tables[] = {"client", "traject", "aanmelding", "intake", "persoonsbeschrijving",
                                             "begeleidingsplan", "doel", "rapportage", "wijzigingsvoorstel"};
        for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
          char q[128];
          snprintf(q, sizeof q, "SELECT count(*) FROM %s WHERE client = ?1", tables[t]);
          int rows = -1;
          if (sqlite3_prepare_v2(bgsync_db(d->r), q, -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_bind_text(st, 1, c, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
              rows = sqlite3_column_int(st, 0);
            sqlite3_finalize(st);
          }
          if (rows != 0) fail(S, "device %d (%s): holds %d rows of %s in %s, outside its scope", di,
                              g_users[d->uidx].login, rows, c, tables[t]);
        }
      }
    }
    (void)integrity_ok(S, bgsync_db(d->r), d->path);
  }
  free(feed);
  msgpack_zone_free(zone);
  sqlite3_close(db);
}

static void run_seed(sim *S) {
  g_now = INT64_C(1798761600000) + (int64_t)(S->seed % 1000) * 86400000;
  S->env.now_ms = sim_now;
  S->env.max_frame = chance(S, 30) ? 4096 + below(S, 60000) : 0;
  S->env.software = "bgsyncd/sim";
  if (!store_open(S)) return;
  for (int t = 0; t < 2; t++)
    if (bg_store_team_add(S->store, g_teams[t], g_now) != BG_OK) {
      fail(S, "team: %s", bg_store_errmsg(S->store));
      return;
    }
  for (int u = 0; u < N_USERS; u++)
    if (bg_store_user_add(S->store, g_users[u].login, g_users[u].role, g_teams[g_users[u].team], g_now,
                          &g_users[u].id) != BG_OK)
      {
      fail(S, "user: %s", bg_store_errmsg(S->store));
      return;
    }
  static const int owner[N_CLIENTS] = {0, 1, 2, 2};
  for (int ci = 0; ci < N_CLIENTS; ci++) {
    snprintf(S->cl[ci].id, sizeof S->cl[ci].id, "c-%d", ci + 1);
    S->cl[ci].begeleider = owner[ci];
    S->cl[ci].team = g_users[owner[ci]].team;
    if (bg_store_client_add(S->store, S->cl[ci].id, g_teams[S->cl[ci].team], g_users[owner[ci]].login, g_now) != BG_OK)
      {
      fail(S, "client: %s", bg_store_errmsg(S->store));
      return;
    }
  }
  for (int di = 0; di < S->ndev; di++)
    if (!dev_enrol(S, di)) return;

  /* the chaos */
  for (int step = 0; step < S->steps && !S->failed; step++) {
    g_now += below(S, 5000);
    uint32_t k = below(S, 1000);
    int di = (int)below(S, (uint32_t)S->ndev);
    device *d = &S->dev[di];
    if (k < 5) {
      daemon_restart(S);
    } else if (k < 15) {
      dev_restart(S, di);
    } else if (k < 20) {
      move_client(S);
    } else if (k < 350) {
      if (!d->syncing) dev_write(S, di);
    } else if (k < 450) {
      if (!d->syncing) (void)sync_start(S, di);
    } else {
      /* move a connection: one of those alive, chosen at random */
      int live[MAX_CONN], n = 0;
      for (int i = 0; i < MAX_CONN; i++)
        if (S->conns[i].used) live[n++] = i;
      if (n == 0) continue;
      conn *c = &S->conns[live[below(S, (uint32_t)n)]];
      uint32_t a = below(S, 100);
      if (c->closed_due) {
        deliver_closed(S, c);
      } else if (a < 3) {
        say(S, "conn #%u cut", c->id);
        cut(S, c, "the connection was cut");
      } else if (a < 5 && c->dev_open) {
        /* the device gives up; what it sent still reaches the office */
        say(S, "dev %d gives up on conn #%u", c->dev, c->id);
        link_fail(c, BG_E_TIMEOUT, "the server did not answer within the timeout");
        c->up_eof = true;
        S->abandons++;
      } else {
        bool up = c->up.len && (c->down.len == 0 || chance(S, 50));
        size_t avail = up ? c->up.len : c->down.len;
        size_t n_bytes = chance(S, 70) ? 0 : 1 + below(S, (uint32_t)(avail ? avail : 1));
        if (up) step_up(S, c, n_bytes);
        else if (c->down.len || (c->dev_open && !c->srv_open)) step_down(S, c, n_bytes);
        else if (c->up_eof && c->srv_open) step_up(S, c, 0);
        if (chance(S, 2) && c->dev_open) {
          say(S, "conn #%u cut after a partial delivery", c->id);
          cut(S, c, "the connection was cut");
        }
        conn_release_if_done(c);
      }
    }
  }
  if (S->failed) return;
  /* the network heals: finish what runs, then sync everyone cleanly */
  for (int i = 0; i < MAX_CONN && !S->failed; i++) {
    conn *c = &S->conns[i];
    if (!c->used) continue;
    if (c->dev_open) cut(S, c, "the connection was cut");
    if (c->srv_open) step_up(S, c, 0);
    srv_close(c);
    if (c->closed_due) deliver_closed(S, c);
    c->up_eof = true;
    bg_buf_reset(&c->up);
    conn_release_if_done(c);
  }
  for (int round = 0; round < 6 && !S->failed; round++) {
    bool pending = false;
    for (int di = 0; di < S->ndev && !S->failed; di++) {
      g_now += 1000;
      bg_err e = clean_sync(S, di);
      if (e != BG_OK) fail(S, "device %d: clean sync: %s: %s", di, bg_err_name(e), bgsync_errmsg(S->dev[di].r));
      bgsync_status st;
      if (bgsync_status_get(S->dev[di].r, &st) == BG_OK && st.pending) pending = true;
    }
    if (round >= 1 && !pending) break;
  }
  if (!S->failed) check(S);
}

static void cleanup(sim *S) {
  for (int i = 0; i < MAX_CONN; i++) {
    conn *c = &S->conns[i];
    if (!c->used) continue;
    srv_close(c);
    if (c->closed_due) deliver_closed(S, c);
    bg_buf_free(&c->up);
    bg_buf_free(&c->down);
    bg_buf_free(&c->rx);
    c->used = false;
  }
  for (int di = 0; di < S->ndev; di++) {
    device *d = &S->dev[di];
    if (d->r) bgsync_close(d->r);
    d->r = NULL;
    free(d->dots);
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (int k = 0; k < 3; k++) {
      char p[300];
      snprintf(p, sizeof p, "%s%s", d->path, sfx[k]);
      (void)unlink(p);
    }
  }
  if (S->store) bg_store_close(S->store);
  S->store = NULL;
  static const char *const sfx[] = {"", "-wal", "-shm"};
  for (int k = 0; k < 3; k++) {
    char p[300];
    snprintf(p, sizeof p, "%s%s", S->store_path, sfx[k]);
    (void)unlink(p);
  }
  (void)uv_run(&S->loop, UV_RUN_DEFAULT);
}

/* --- main ----------------------------------------------------------------------------------- */

static void usage(FILE *f) {
  fputs("usage: bgfullsim --seeds N [--start S] [--devices D] [--steps K] [--verbose]\n"
        "Full-stack deterministic simulation: libbgsync replicas and the daemon's store and\n"
        "sessions in one process, over a simulated network (cuts, retries, interleaving,\n"
        "restarts, simulated time).\n"
        "  --seeds N     number of seeds to run (default 100)\n"
        "  --start S     first seed (default 1)\n"
        "  --devices D   devices per seed, 1..16 (default 5)\n"
        "  --steps K     simulation steps per seed (default 400)\n"
        "  --verbose     print every step\n"
        "Exit status: 0 every seed passed, 1 a seed failed (its replay command is\n"
        "printed), 2 usage error.\n"
        "Example: bgfullsim --seeds 300 --start 1\n",
        f);
}

int main(int argc, char **argv) {
  uint64_t seeds = 100, start = 1;
  int ndev = 5, steps = 400;
  bool verbose = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(a, "--verbose") == 0) {
      verbose = true;
      continue;
    }
    if (i + 1 >= argc) {
      usage(stderr);
      return 2;
    }
    char *end;
    unsigned long long n = strtoull(argv[++i], &end, 10);
    if (*end || argv[i][0] == '-') {
      usage(stderr);
      return 2;
    }
    if (strcmp(a, "--seeds") == 0) seeds = n;
    else if (strcmp(a, "--start") == 0) start = n;
    else if (strcmp(a, "--devices") == 0 && n >= 1 && n <= MAX_DEV) ndev = (int)n;
    else if (strcmp(a, "--steps") == 0 && n <= 1000000) steps = (int)n;
    else {
      usage(stderr);
      return 2;
    }
  }
  char base[] = "/dev/shm/bgfullsim_XXXXXX", alt[] = "/tmp/bgfullsim_XXXXXX";
  char *dir = mkdtemp(base);
  if (!dir) dir = mkdtemp(alt);
  if (!dir) {
    fprintf(stderr, "bgfullsim: no temporary directory\n");
    return 1;
  }
  unsigned long passed = 0, failed = 0;
  unsigned long tw = 0, twr = 0, ts = 0, tso = 0, tc = 0, ta = 0, tdr = 0, tsr = 0, tm = 0;
  for (uint64_t s = start; s < start + seeds; s++) {
    static sim S;
    memset(&S, 0, sizeof S);
    S.seed = s;
    S.rng = s * UINT64_C(0x9E3779B97F4A7C15) + 1;
    S.ndev = ndev;
    S.steps = steps;
    S.verbose = verbose;
    snprintf(S.dir, sizeof S.dir, "%s", dir);
    snprintf(S.store_path, sizeof S.store_path, "%s/store.db", dir);
    if (uv_loop_init(&S.loop) != 0) {
      fprintf(stderr, "bgfullsim: libuv loop\n");
      return 1;
    }
    if (verbose) printf("seed %" PRIu64 "\n", s);
    run_seed(&S);
    cleanup(&S);
    if (uv_loop_close(&S.loop) != 0 && !S.failed) fail(&S, "a libuv handle was left open");
    tw += S.writes_ok, twr += S.writes_refused, ts += S.syncs, tso += S.syncs_ok, tc += S.cuts, ta += S.abandons;
    tdr += S.dev_restarts, tsr += S.srv_restarts, tm += S.moves;
    if (S.failed) {
      failed++;
      printf("bgfullsim: seed %" PRIu64 " FAILED: %s\n  replay: bgfullsim --seeds 1 --start %" PRIu64
             " --devices %d --steps %d --verbose\n",
             s, S.fail, s, ndev, steps);
    } else {
      passed++;
    }
    fflush(stdout);
  }
  (void)rmdir(dir);
  printf("bgfullsim: %lu local writes (%lu refused locally), %lu syncs (%lu ok), %lu cuts, %lu abandoned "
         "connections, %lu device restarts, %lu daemon restarts, %lu client moves\n",
         tw, twr, ts, tso, tc, ta, tdr, tsr, tm);
  printf("bgfullsim: %lu passed, %lu failed\n", passed, failed);
  return failed ? 1 : 0;
}
