/*
 * bgfullsim - full-stack deterministic simulation: the real client library and
 * the real daemon code in one process, with a simulated network between them.
 *
 *   bgfullsim --seeds N --start S [--devices D] [--steps K] [--verbose]
 *
 * Per seed, in a temporary directory (in /dev/shm when there is one):
 *   office   the daemon's store (daemon/store_sqlite.c) on a SQLite file, with
 *            an organisation made through the store API (two teams, three
 *            begeleiders, an office user, four clients that the office takes
 *            to a phase between aanmelding and planning, D devices), and one
 *            daemon session (daemon/session.c) per connection. What bgctl
 *            does goes through a second handle on the file, as bgctl's own
 *            connection would: moves of clients to another team (PURGE),
 *            users joining and leaving teams (PURGE, or clients arriving
 *            whole), and at most one revocation of a device whose user has
 *            another. The daemon polls the store every 500 ms as server.c
 *            does, ending the open sessions of a revoked device with ERROR
 *            203, and refuses a revoked device at the handshake;
 *   devices  D replicas of libbgsync (client-lib/: replica.c, sync.c), each a
 *            SQLite file, written through the public API (bgsync_set, _note,
 *            _doel_add, _actie_add, _sign, _phase, _propose, _resolve,
 *            _remove, _client_add) and plain SQL on bgsync_db, mostly several
 *            on one client in a row (a visit). Most writes fit what the
 *            replica shows of the client (its phase, cycle and decisions: the
 *            next step of the 8-fasenmodel); some are chosen blindly, and some
 *            must be refused with a known code. An office user's device
 *            registers new clients (up to MAX_CLIENTS), which then take part
 *            like the others;
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
 *            session dropped, the store closed and reopened), and time: one
 *            simulated clock read by the daemon (env->now_ms) and by every
 *            replica (bgs_set_clock), each device with its own skew; steps
 *            are seconds apart, a quarter of them within the daemon's poll
 *            period.
 * Then the network heals and every device syncs cleanly until nothing is
 * pending (at least twice). Checks:
 *   convergence   every device's digest of each client in its user's scope
 *                 equals the store's (bg_store_digest), and its record tables
 *                 show that state (drawn again from its engine, they do not
 *                 change);
 *   scope         a device holds no row of a client outside its scope, nor of
 *                 a client registered elsewhere that has not reached the
 *                 office; a registered client is on the office in the first
 *                 team of its registering user, led by that user;
 *   nothing lost  every write a device queued (its dots, read from the outbox
 *                 after each local write) is in the store's feed or in the
 *                 device's bgsync_rejected (none expected);
 *   once          no dot appears twice in the feed; nothing pending anywhere;
 *   refusals      a write that must be refused locally gets its code;
 *   files         PRAGMA integrity_check on every replica and on the store;
 *   sessions      a sync ends OK or with a network error (cut, timeout, the
 *                 daemon gone), never with a protocol or storage error;
 *   revocation    the revoked device: every sync it starts afterwards ends
 *                 with BG_E_DEVICE_REVOKED (saying so, no retry), any other
 *                 with that or a network error or OK; nothing of it enters the
 *                 feed after the revocation and no session sends it a write
 *                 after it; every write it queued is in the feed or still in
 *                 its outbox. It is not purged, so instead of convergence and
 *                 the scope check it must hold no row of a client its user
 *                 never had in scope before the revocation.
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
#include "fullsim.h"

#define N_START_CLIENTS 4 /* registered by the office (bgctl) at the start */
#define POLL_MS 500       /* the daemon's poll of the store (server.c, bg__on_poll) */

/* the library's sentence for the TLS alert of a revoked certificate (net.c) */
#define REVOKED_WHY                                                                                               \
  "the office revoked this device: it cannot sync any more (changes not yet sent stay on it); ask the office for " \
  "a new enrolment code"
/* --- the world ------------------------------------------------------------------------------ */

const char *const g_teams[N_TEAMS] = {"noord", "zuid"};
const user g_users[N_USERS] = {
    {"anna", BG_ROLE_BEGELEIDER, 0},
    {"bert", BG_ROLE_BEGELEIDER, 0},
    {"carla", BG_ROLE_BEGELEIDER, 1},
    {"olga", BG_ROLE_OFFICE, 0},
};

static int64_t g_now; /* the simulated clock, ms */
static int64_t sim_now(void) { return g_now; }

static uint64_t dev_clock(void *arg) {
  device *d = arg;
  return (uint64_t)(g_now + d->skew);
}

void fail(sim *S, const char *fmt, ...) {
  if (S->failed) return;
  S->failed = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(S->fail, sizeof S->fail, fmt, ap);
  va_end(ap);
}

void say(sim *S, const char *fmt, ...) {
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
  S->n[T_SYNCS]++;
  bg_err e = d->result;
  if (e == BG_OK) S->n[T_SYNCS_OK]++;
  say(S, "dev %d: sync #%u ends: %s%s%s", c->dev, c->id, bg_err_name(e), e ? " - " : "", e ? bgsync_errmsg(d->r) : "");
  /* network faults and a daemon that went away are the simulation's doing,
   * and a revoked device is told so; anything else is a finding */
  bool revoked = S->revoked == c->dev;
  if (e != BG_OK && e != BG_E_CONNECTION_LOST && e != BG_E_TIMEOUT && e != BG_E_SHUTTING_DOWN &&
      !(revoked && e == BG_E_DEVICE_REVOKED))
    fail(S, "device %d: sync #%u failed with %s: %s", c->dev, c->id, bg_err_name(e), bgsync_errmsg(d->r));
  if (c->refused && e != BG_E_DEVICE_REVOKED)
    fail(S, "device %d: sync #%u, refused at the handshake, ended with %s", c->dev, c->id, bg_err_name(e));
  /* the app must be able to tell the user, and not retry */
  if (e == BG_E_DEVICE_REVOKED && (!strstr(bgsync_errmsg(d->r), "revoked") || bgsync_retry_ms(d->r) != 0))
    fail(S, "device %d: sync #%u: revoked, but the retry is in %" PRIu64 " ms and the message says: %s", c->dev, c->id,
         bgsync_retry_ms(d->r), bgsync_errmsg(d->r));
  conn_release_if_done(c);
}

static void reg_confirm(sim *S);

/* Move up to n bytes device -> daemon (n = 0: all). */
static void step_up(sim *S, conn *c, size_t n) {
  if (!c->srv_open) return;
  if (n == 0 || n > c->up.len) n = c->up.len;
  uint64_t served = c->sess.writes_out;
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
  if (S->revoked == c->dev && c->sess.writes_out > served)
    fail(S, "device %d: revoked, and a session sent it %" PRIu64 " writes after that", c->dev,
         c->sess.writes_out - served);
  if (c->srv_open && c->sess.done) n = c->up.len; /* the daemon reads no more */
  bg_buf_consume(&c->up, n);
  if (!c->dev_open) bg_buf_reset(&c->down); /* no one to read the answers */
  if (c->srv_open && c->sess.done && c->down.len == 0) srv_close(c);
  if (c->srv_open && c->up_eof && c->up.len == 0) srv_close(c); /* EOF */
  reg_confirm(S);
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
  S->n[T_CUTS]++;
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

/* Start a sync on device di over a fresh connection; the handshake is done at
 * once. As in server.c (bg__verify) it refuses a device the store counts as
 * revoked, with the alert the library reports as BG_E_DEVICE_REVOKED (net.c):
 * no session, the device hears of the end on a later step. */
static bool sync_start(sim *S, int di) {
  device *d = &S->dev[di];
  bg_device_row row;
  if (bg_store_device_get(S->store, d->id, &row) != BG_OK) {
    fail(S, "device %d: %s", di, bg_store_errmsg(S->store));
    return false;
  }
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
  if (row.revoked) {
    say(S, "dev %d: sync #%u refused at the handshake (revoked)", di, c->id);
    c->refused = true;
    c->up_eof = true;
    srv_close(c);
    link_fail(c, BG_E_DEVICE_REVOKED, REVOKED_WHY);
    return true;
  }
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
  /* as server.c at its start: the version it polls against */
  if (bg_store_data_version(S->store, &S->data_version) != BG_OK) {
    fail(S, "data_version: %s", bg_store_errmsg(S->store));
    return false;
  }
  S->poll_at = g_now + POLL_MS;
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
  S->n[T_SRV_RESTARTS]++;
  say(S, "daemon restarts");
  (void)store_open(S);
}

/* The daemon's poll (server.c, bg__on_poll): when another connection changed
 * the store, every open session of a revoked device gets ERROR 203 and ends;
 * the connection closes once that is sent (at once when no one reads it). */
static void daemon_poll(sim *S) {
  uint64_t v;
  if (bg_store_data_version(S->store, &v) != BG_OK) {
    fail(S, "data_version: %s", bg_store_errmsg(S->store));
    return;
  }
  if (v == S->data_version) return;
  S->data_version = v;
  for (int i = 0; i < MAX_CONN; i++) {
    conn *c = &S->conns[i];
    if (!c->used || !c->srv_open || c->sess.done) continue;
    bg_device_row row;
    if (bg_store_device_get(S->store, c->sess.cert_device, &row) != BG_OK) {
      fail(S, "device %" PRIu64 ": %s", c->sess.cert_device, bg_store_errmsg(S->store));
      return;
    }
    if (!row.revoked) continue;
    bg_session_revoked(&c->sess, &c->down);
    say(S, "daemon ends conn #%u: device revoked while connected", c->id);
    if (!c->dev_open) {
      bg_buf_reset(&c->down);
      srv_close(c);
      conn_release_if_done(c);
    }
  }
}

/* Simulated time passes; the daemon polls every POLL_MS (one poll for several
 * periods that passed in one step: it only compares versions). */
static void advance(sim *S, int64_t ms) {
  g_now += ms;
  if (g_now < S->poll_at) return;
  daemon_poll(S);
  S->poll_at += ((g_now - S->poll_at) / POLL_MS + 1) * POLL_MS;
}

static bool in_scope(const sim *S, int uidx, int ci) {
  if (g_users[uidx].role != BG_ROLE_BEGELEIDER) return true;
  return (S->teams[uidx] >> S->cl[ci].team & 1) || S->cl[ci].begeleider == uidx;
}

/* After every change of scope: what each user has ever had in scope (a device
 * may hold such a client until its PURGE, a revoked one for good). */
static void scope_note(sim *S) {
  for (int u = 0; u < N_USERS; u++)
    for (int ci = 0; ci < S->ncl; ci++)
      if (in_scope(S, u, ci)) S->ever[u] |= UINT64_C(1) << ci;
}

static void move_client(sim *S) {
  int ci = (int)below(S, (uint32_t)S->ncl);
  int team = (S->cl[ci].team + 1) % N_TEAMS;
  int cand[N_USERS], n = 0;
  for (int u = 0; u < N_USERS; u++)
    if (g_users[u].role == BG_ROLE_BEGELEIDER && S->teams[u] >> team & 1) cand[n++] = u;
  if (n == 0) return;
  int b = cand[below(S, (uint32_t)n)];
  if (bg_store_client_move(S->office, S->cl[ci].id, g_teams[team], g_users[b].login, g_now) != BG_OK) {
    fail(S, "client move: %s", bg_store_errmsg(S->office));
    return;
  }
  S->cl[ci].team = team;
  S->cl[ci].begeleider = b;
  scope_note(S);
  S->n[T_MOVES]++;
  say(S, "office moves %s to %s (%s)", S->cl[ci].id, g_teams[team], g_users[b].login);
}

/* A user joins or leaves a team. Everyone keeps a team most of the time: a
 * begeleider now and then leaves their only one (and sees only the clients
 * they lead), the office user never (its registrations go to its first team;
 * in none they would be refused). */
static void team_change(sim *S) {
  int u = (int)below(S, N_USERS);
  int t = (int)below(S, N_TEAMS);
  bool leave = S->teams[u] >> t & 1;
  if (leave && S->teams[u] == 1u << t && (g_users[u].role != BG_ROLE_BEGELEIDER || chance(S, 75))) {
    t = (t + 1) % N_TEAMS; /* join another instead */
    leave = false;
  }
  if (bg_store_user_team(S->office, g_users[u].login, g_teams[t], !leave, g_now) != BG_OK) {
    fail(S, "user team: %s", bg_store_errmsg(S->office));
    return;
  }
  S->teams[u] ^= 1u << t;
  scope_note(S);
  S->n[T_TEAM_CHANGES]++;
  say(S, "office: %s %s team %s", g_users[u].login, leave ? "leaves" : "joins", g_teams[t]);
}

/* The office revokes a device (bgctl device revoke): at most one a seed, of a
 * user who has another device, so the user's work goes on. */
static void revoke_device(sim *S) {
  if (S->revoked >= 0) return;
  int cand[MAX_DEV], n = 0;
  for (int i = 0; i < S->ndev; i++)
    for (int j = 0; j < S->ndev; j++)
      if (j != i && S->dev[j].uidx == S->dev[i].uidx) {
        cand[n++] = i;
        break;
      }
  if (n == 0) return;
  int di = cand[below(S, (uint32_t)n)];
  device *d = &S->dev[di];
  if (bg_store_device_revoke(S->office, d->id, g_now) != BG_OK || bg_store_head(S->office, &S->revoked_head) != BG_OK) {
    fail(S, "revoke: %s", bg_store_errmsg(S->office));
    return;
  }
  S->revoked = di;
  S->revoked_may_hold = S->ever[d->uidx];
  S->n[T_REVOCATIONS]++;
  say(S, "office revokes dev %d (%s)", di, g_users[d->uidx].login);
}

/* The office's write of one field (by name) of a client's record, as bgctl
 * makes it. */
static bool office_write(sim *S, const char *c, uint32_t rtype, const char *rid, const char *field, bg_value v) {
  const bg_field_def *f = bg_field_by_name(bg_rtype(rtype), field, strlen(field));
  if (bg_store_office_write(S->office, c, rtype, rid, f->id, &v, "sim", field, g_now) != BG_OK) {
    fail(S, "office write of %s %s.%s: %s", c, bg_rtype(rtype)->name, field, bg_store_errmsg(S->office));
    return false;
  }
  return true;
}

/* The office takes a new client on from aanmelding to `phase` (at most
 * planning: the signature is the client's), deciding and moving as it goes,
 * so that the devices find clients in every early phase and the core phases
 * get their share of the work. */
static bool office_advance(sim *S, const char *c, int phase) {
  static const struct {
    int phase;
    uint32_t rtype;                  /* the decision that allows the move: */
    const char *rid, *decision;      /* its record and value (none: a plain move) */
  } path[] = {{BG_PH_INTAKE, BG_RT_AANMELDING, "a", "intakegesprek"},
              {BG_PH_OPSTART, BG_RT_INTAKE, "i", "toelating"},
              {BG_PH_ANALYSE, 0, NULL, NULL},
              {BG_PH_PLANNING, 0, NULL, NULL}};
  for (size_t i = 0; i < sizeof path / sizeof path[0] && path[i].phase <= phase; i++) {
    bg_value decision = {.type = BG_V_STR, .s = bg_str_c(path[i].decision ? path[i].decision : "")};
    bg_value to = {.type = BG_V_INT,
                   .i = bg_pos_encode((bg_pos){path[i].phase >= BG_PH_ANALYSE ? 1 : 0, (uint8_t)path[i].phase})};
    if (path[i].decision && !office_write(S, c, path[i].rtype, path[i].rid, "besluit", decision)) return false;
    if (!office_write(S, c, BG_RT_TRAJECT, "t", "positie", to)) return false;
  }
  return true;
}

/* The registrations that reached the office (checked after every input the
 * daemon took, so the scope cannot have changed in between): the client is in
 * the first team of the registering user, who leads it (store_sqlite.c,
 * bg__register); from now on it is one of the clients. */
static void reg_confirm(sim *S) {
  for (int i = 0; i < S->nreg && !S->failed;) {
    sim_client *p = &S->reg[i];
    bg_client_row row;
    bg_err e = bg_store_client_get(S->store, p->id, &row);
    if (e == BG_E_NOT_FOUND) {
      i++;
      continue;
    }
    if (e != BG_OK) {
      fail(S, "client %s: %s", p->id, bg_store_errmsg(S->store));
      return;
    }
    int u = p->begeleider, first = 0;
    while (first < N_TEAMS && !(S->teams[u] >> first & 1)) first++;
    if (first == N_TEAMS || strcmp(row.team, g_teams[first]) != 0 || strcmp(row.begeleider, g_users[u].login) != 0) {
      fail(S, "%s, registered by device %d: on the office in team %s led by %s, expected %s led by %s", p->id, p->by,
           row.team, row.begeleider, first < N_TEAMS ? g_teams[first] : "(none)", g_users[u].login);
      return;
    }
    p->team = first;
    S->cl[S->ncl++] = *p;
    S->reg[i] = S->reg[--S->nreg];
    scope_note(S);
    S->n[T_REGISTRATIONS]++;
    say(S, "office registered %s (from dev %d) in %s", S->cl[S->ncl - 1].id, S->cl[S->ncl - 1].by, g_teams[first]);
  }
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
  if (bg_store_code_add(S->office, code, hash, S->uid[d->uidx], g_now, g_now + 3600000) != BG_OK) {
    fail(S, "enrolment code: %s", bg_store_errmsg(S->office));
    return false;
  }
  if (bg_store_code_use(S->store, code, hash, code, g_now, &d->id, &uid) != BG_OK) {
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
  S->n[T_DEV_RESTARTS]++;
  say(S, "dev %d restarts", di);
  (void)dev_open(S, d);
}

static bool add_dot(dots *o, uint64_t dot) {
  if (o->n == o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 64;
    uint64_t *p = realloc(o->v, cap * sizeof *p);
    if (!p) return false;
    o->v = p;
    o->cap = cap;
  }
  o->v[o->n++] = dot;
  return true;
}

typedef void (*outbox_fn)(sim *S, device *d, const bg_write *w, void *arg);

/* Every write in the device's outbox, decoded: fn(w) for each. */
static void outbox_each(sim *S, device *d, outbox_fn fn, void *arg) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(bgsync_db(d->r), "SELECT w FROM bgsync_outbox", -1, &st, NULL) != SQLITE_OK) {
    fail(S, "outbox: %s", sqlite3_errmsg(bgsync_db(d->r)));
    return;
  }
  msgpack_zone *zone = msgpack_zone_new(4096);
  if (!zone) fail(S, "out of memory");
  while (zone && !S->failed && sqlite3_step(st) == SQLITE_ROW) {
    bg_write w;
    if (bg_write_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), zone, &w, NULL) != BG_OK) {
      fail(S, "an outbox write does not decode");
      break;
    }
    if (w.dot.device != d->id) fail(S, "an outbox write of device %" PRIu64 " on device %" PRIu64, w.dot.device, d->id);
    fn(S, d, &w, arg);
    msgpack_zone_clear(zone);
  }
  if (zone) msgpack_zone_free(zone);
  sqlite3_finalize(st);
}

static void note_write(sim *S, device *d, const bg_write *w, void *arg) {
  int64_t before = *(const int64_t *)arg;
  if ((int64_t)w->dot.counter <= before) return;
  say(S, "  queued: dot %" PRIu64 " of %.*s", w->dot.counter, (int)w->client.len, w->client.p);
  if (!add_dot(&d->queued, w->dot.counter)) fail(S, "out of memory");
}

/* Note the dots of the writes queued since the counter stood at `before`. */
void note_writes(sim *S, device *d, int64_t before) { outbox_each(S, d, note_write, &before); }
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

/* `head` TABLE `tail` on a device's record table `rt`, prepared with `client`
 * bound to ?1; NULL when it cannot be. */
static sqlite3_stmt *per_client(device *d, const char *head, const bg_rtype_def *rt, const char *tail,
                                const char *client) {
  char q[160];
  snprintf(q, sizeof q, "%s \"%s\" %s", head, rt->name, tail);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(bgsync_db(d->r), q, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC) == SQLITE_OK)
    return st;
  sqlite3_finalize(st);
  return NULL;
}

/* The rows a device holds of `client` in its record tables (every table of the
 * schema but the organisation's); *table names one that has any. -1 when they
 * cannot be counted. */
static int client_rows(sim *S, device *d, const char *client, const char **table) {
  int total = 0;
  *table = "";
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    if (rt->org) continue;
    sqlite3_stmt *st = per_client(d, "SELECT count(*) FROM", rt, "WHERE client = ?1", client);
    int rows = -1;
    if (st && sqlite3_step(st) == SQLITE_ROW) rows = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rows < 0) {
      fail(S, "%s: counting rows of %s in %s: %s", d->path, client, rt->name, sqlite3_errmsg(bgsync_db(d->r)));
      return -1;
    }
    if (rows > 0 && !**table) *table = rt->name;
    total += rows;
  }
  return total;
}

/* A device must hold nothing of `client`. */
static void holds_none(sim *S, int di, const char *client, const char *why) {
  const char *table;
  int rows = client_rows(S, &S->dev[di], client, &table);
  if (rows > 0)
    fail(S, "device %d (%s): holds %d rows of %s (in %s and more), %s", di, g_users[S->dev[di].uidx].login, rows,
         client, table, why);
}

/* The rows a device shows of `client`, every table but the organisation's, as
 * text. */
static bool dump_rows(sim *S, device *d, const char *client, bg_buf *out) {
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    if (rt->org) continue;
    sqlite3_stmt *st = per_client(d, "SELECT * FROM", rt, "WHERE client = ?1 ORDER BY rid", client);
    if (!st) {
      fail(S, "%s: reading %s: %s", d->path, rt->name, sqlite3_errmsg(bgsync_db(d->r)));
      return false;
    }
    bg_err e = BG_OK;
    int rc;
    while (e == BG_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      e = bg_buf_append(out, rt->name, strlen(rt->name));
      for (int i = 0; e == BG_OK && i < sqlite3_column_count(st); i++) {
        const char *v = (const char *)sqlite3_column_text(st, i);
        e = bg_buf_append(out, "|", 1);
        if (e == BG_OK && v) e = bg_buf_append(out, v, strlen(v));
      }
      if (e == BG_OK) e = bg_buf_append(out, "\n", 1);
    }
    sqlite3_finalize(st);
    if (e != BG_OK || rc != SQLITE_DONE) {
      fail(S, "%s: reading %s: %s", d->path, rt->name, e != BG_OK ? "out of memory" : sqlite3_errstr(rc));
      return false;
    }
  }
  return true;
}

/* Empty the record tables of `client`, as the library does (not a user's delete). */
static bg_err clear_rows(device *d, const char *client) {
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    if (rt->org) continue;
    sqlite3_stmt *st = per_client(d, "DELETE FROM", rt, "WHERE client = ?1", client);
    if (!st) return BG_E_STORAGE;
    d->r->applying++;
    int rc = sqlite3_step(st);
    d->r->applying--;
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return BG_E_STORAGE;
  }
  return BG_OK;
}

/* The record tables show the engine's merged state: the rows of `client`
 * drawn from it afresh, on empty tables (in a transaction rolled back), are
 * the rows the device shows. */
static void tables_agree(sim *S, int di, const char *client) {
  device *d = &S->dev[di];
  bg_buf shown = BG_BUF_INIT, drawn = BG_BUF_INIT;
  if (dump_rows(S, d, client, &shown)) {
    bg_err e = bgs_begin(d->r);
    if (e == BG_OK) e = clear_rows(d, client);
    if (e == BG_OK) e = bgs_redraw(d->r, bg_str_c(client));
    if (e != BG_OK) fail(S, "device %d: drawing %s again: %s", di, client, bgsync_errmsg(d->r));
    else if (dump_rows(S, d, client, &drawn) &&
             (shown.len != drawn.len || memcmp(shown.data, drawn.data, shown.len) != 0))
      fail(S, "device %d: its tables of %s are not its merged state: shown\n%.*s\ndrawn from the engine\n%.*s", di,
           client, (int)shown.len, (const char *)shown.data, (int)drawn.len, (const char *)drawn.data);
    bgs_rollback(d->r);
  }
  bg_buf_free(&shown);
  bg_buf_free(&drawn);
}

static void collect_dot(sim *S, device *d, const bg_write *w, void *arg) {
  dots *o = arg;
  (void)d;
  if (!add_dot(o, w->dot.counter)) fail(S, "out of memory");
}

/* The feed's dots (device << 40 | counter), sorted. */
static bool feed_dots(sim *S, sqlite3 *db, msgpack_zone *zone, dots *out) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "SELECT write FROM feed", -1, &st, NULL) != SQLITE_OK) {
    fail(S, "feed: %s", sqlite3_errmsg(db));
    return false;
  }
  while (!S->failed && sqlite3_step(st) == SQLITE_ROW) {
    bg_write w;
    if (bg_write_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), zone, &w, NULL) != BG_OK)
      fail(S, "a feed write does not decode");
    else if (!add_dot(out, w.dot.device << 40 | w.dot.counter))
      fail(S, "out of memory");
    msgpack_zone_clear(zone);
  }
  sqlite3_finalize(st);
  if (out->n) qsort(out->v, out->n, sizeof *out->v, dot_cmp);
  return !S->failed;
}

/* What the revoked device got in after its revocation: feed entries of it
 * beyond the head at that time (none allowed). */
static void check_revoked_feed(sim *S, sqlite3 *db) {
  sqlite3_stmt *st;
  int n = -1;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM feed WHERE seq > ?1 AND device = ?2", -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_bind_int64(st, 1, (int64_t)S->revoked_head) == SQLITE_OK &&
        sqlite3_bind_int64(st, 2, (int64_t)S->dev[S->revoked].id) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  if (n < 0) fail(S, "feed: %s", sqlite3_errmsg(db));
  else if (n > 0)
    fail(S, "device %d: revoked with the feed at %" PRIu64 ", and %d of its writes were accepted after that",
         S->revoked, S->revoked_head, n);
}

/* The checks of one device after the network healed (the feed's dots given). */
static void check_device(sim *S, int di, const dots *feed, msgpack_zone *zone) {
  device *d = &S->dev[di];
  bool revoked = S->revoked == di;
  bgsync_status stt;
  if (bgsync_status_get(d->r, &stt) != BG_OK) {
    fail(S, "device %d: status: %s", di, bgsync_errmsg(d->r));
    return;
  }
  if (stt.pending && !revoked) fail(S, "device %d: %" PRIu64 " writes still pending", di, stt.pending);
  S->n[T_CONFLICTS] += stt.conflicts; /* how much merging there was */
  S->n[T_PROPOSALS] += stt.proposals;
  /* rejected writes: none expected */
  dots rej = {0}, outbox = {0};
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(bgsync_db(d->r), "SELECT w, code FROM bgsync_rejected", -1, &st, NULL) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      bg_write w;
      if (bg_write_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), zone, &w, NULL) != BG_OK)
        continue;
      fail(S, "device %d: write %" PRIu64 " refused by the office: %s", di, w.dot.counter,
           bg_err_name(sqlite3_column_int(st, 1)));
      if (!add_dot(&rej, w.dot.counter)) fail(S, "out of memory");
      msgpack_zone_clear(zone);
    }
    sqlite3_finalize(st);
  }
  /* nothing lost: on the office, refused, or - the revoked device - still queued */
  if (revoked) outbox_each(S, d, collect_dot, &outbox);
  if (outbox.n) qsort(outbox.v, outbox.n, sizeof *outbox.v, dot_cmp);
  for (size_t i = 0; i < d->queued.n; i++) {
    uint64_t dot = d->queued.v[i], key = d->id << 40 | dot;
    bool in_feed = feed->n && bsearch(&key, feed->v, feed->n, sizeof *feed->v, dot_cmp);
    bool queued = outbox.n && bsearch(&dot, outbox.v, outbox.n, sizeof *outbox.v, dot_cmp);
    bool in_rej = false;
    for (size_t j = 0; j < rej.n; j++) in_rej |= rej.v[j] == dot;
    if (!in_feed && !in_rej && !queued) {
      fail(S, "device %d: its write %" PRIu64 " is lost (not on the office, not refused%s)", di, dot,
           revoked ? ", not in its outbox" : "");
      break;
    }
  }
  free(rej.v);
  free(outbox.v);
  /* convergence and scope; the revoked device was never purged: it may hold
   * what its user had in scope until the revocation, and nothing else */
  for (int ci = 0; ci < S->ncl && !S->failed; ci++) {
    const char *c = S->cl[ci].id;
    if (revoked) {
      if (!(S->revoked_may_hold >> ci & 1)) holds_none(S, di, c, "never in its scope before its revocation");
    } else if (in_scope(S, d->uidx, ci)) {
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
      tables_agree(S, di, c);
    } else {
      holds_none(S, di, c, "outside its scope");
    }
  }
  /* a registration still on its device: another device cannot have it */
  for (int i = 0; i < S->nreg && !S->failed; i++) {
    if (S->reg[i].by != di) holds_none(S, di, S->reg[i].id, "registered on another device, not on the office");
    else if (!revoked) fail(S, "device %d: its registration of %s never reached the office", di, S->reg[i].id);
  }
  (void)integrity_ok(S, bgsync_db(d->r), d->path);
}

/* The checks after the network healed. */
static void check(sim *S) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(S->store_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    fail(S, "store file: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return;
  }
  (void)integrity_ok(S, db, "store");
  msgpack_zone *zone = msgpack_zone_new(4096);
  dots feed = {0};
  if (!zone) fail(S, "out of memory");
  else if (feed_dots(S, db, zone, &feed)) {
    /* every dot once */
    for (size_t i = 1; i < feed.n; i++)
      if (feed.v[i] == feed.v[i - 1])
        fail(S, "dot (%" PRIu64 ",%" PRIu64 ") is twice in the feed", feed.v[i] >> 40,
             feed.v[i] & ((UINT64_C(1) << 40) - 1));
    if (S->revoked >= 0) check_revoked_feed(S, db);
    for (int di = 0; di < S->ndev && !S->failed; di++) check_device(S, di, &feed, zone);
  }
  free(feed.v);
  if (zone) msgpack_zone_free(zone);
  sqlite3_close(db);
}

static void run_seed(sim *S) {
  g_now = INT64_C(1798761600000) + (int64_t)(S->seed % 1000) * 86400000;
  S->env.now_ms = sim_now;
  S->env.max_frame = chance(S, 30) ? 4096 + below(S, 60000) : 0;
  S->env.software = "bgsyncd/sim";
  S->revoked = -1;
  if (!store_open(S)) return;
  char why[256];
  if (bg_store_open(S->store_path, &S->office, why, sizeof why) != BG_OK) {
    fail(S, "the office's store handle: %s", why);
    return;
  }
  /* the organisation, as bgctl makes it */
  for (int t = 0; t < N_TEAMS; t++)
    if (bg_store_team_add(S->office, g_teams[t], g_now) != BG_OK) {
      fail(S, "team: %s", bg_store_errmsg(S->office));
      return;
    }
  for (int u = 0; u < N_USERS; u++) {
    if (bg_store_user_add(S->office, g_users[u].login, g_users[u].role, g_teams[g_users[u].team], g_now, &S->uid[u]) !=
        BG_OK) {
      fail(S, "user: %s", bg_store_errmsg(S->office));
      return;
    }
    S->teams[u] = 1u << g_users[u].team;
  }
  static const int owner[N_START_CLIENTS] = {0, 1, 2, 2};
  for (int ci = 0; ci < N_START_CLIENTS; ci++) {
    sim_client *c = &S->cl[S->ncl++];
    snprintf(c->id, sizeof c->id, "c-%d", ci + 1);
    c->begeleider = owner[ci];
    c->team = g_users[owner[ci]].team;
    c->by = -1;
    if (bg_store_client_add(S->office, c->id, g_teams[c->team], g_users[owner[ci]].login, g_now) != BG_OK) {
      fail(S, "client: %s", bg_store_errmsg(S->office));
      return;
    }
    if (!office_advance(S, c->id, BG_PH_AANMELDING + (int)below(S, BG_PH_PLANNING))) return;
  }
  S->next_client = N_START_CLIENTS + 1;
  scope_note(S);
  for (int di = 0; di < S->ndev; di++)
    if (!dev_enrol(S, di)) return;

  /* the chaos */
  for (int step = 0; step < S->steps && !S->failed; step++) {
    /* seconds between most steps; a quarter come within the daemon's poll
     * period, so what a session does before the poll notices a change is
     * explored too */
    advance(S, chance(S, 25) ? below(S, POLL_MS / 2) : below(S, 5000));
    uint32_t k = below(S, 1000);
    int di = (int)below(S, (uint32_t)S->ndev);
    device *d = &S->dev[di];
    if (k < 5) {
      daemon_restart(S);
    } else if (k < 15) {
      dev_restart(S, di);
    } else if (k < 20) {
      move_client(S);
    } else if (k < 24) {
      team_change(S);
    } else if (k < 26) {
      revoke_device(S);
    } else if (k < 356) {
      if (!d->syncing) dev_write(S, di);
    } else if (k < 456) {
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
        S->n[T_ABANDONS]++;
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
      advance(S, 1000);
      bg_err e = clean_sync(S, di);
      if (di == S->revoked) {
        if (e != BG_E_DEVICE_REVOKED) fail(S, "device %d: revoked, and a clean sync ends with %s", di, bg_err_name(e));
        continue;
      }
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
    link_fail(c, BG_E_CONNECTION_LOST, "the simulation ends"); /* a seed that failed midway */
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
    free(d->queued.v);
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (int k = 0; k < 3; k++) {
      char p[300];
      snprintf(p, sizeof p, "%s%s", d->path, sfx[k]);
      (void)unlink(p);
    }
  }
  if (S->store) bg_store_close(S->store);
  if (S->office) bg_store_close(S->office);
  S->store = S->office = NULL;
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
        "restarts, simulated time), with the office moving clients, changing team\n"
        "membership and revoking a device, and office devices registering new clients.\n"
        "  --seeds N     number of seeds to run (default 100)\n"
        "  --start S     first seed (default 1)\n"
        "  --devices D   devices per seed, 1..16 (default 5; device i belongs to user\n"
        "                i mod 4: anna, bert, carla, olga of the office)\n"
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
  unsigned long passed = 0, failed = 0, t[T_N] = {0};
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
    for (int i = 0; i < T_N; i++) t[i] += S.n[i];
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
  unsigned long writes = t[T_WRITES_OK] + t[T_WRITES_REFUSED];
  printf("bgfullsim: %lu local writes, %lu accepted (%lu%%), %lu refused locally (%lu of them checked for their "
         "code), %lu syncs (%lu ok), %lu cuts, %lu abandoned connections, %lu device restarts, %lu daemon restarts, "
         "%lu client moves, %lu team changes, %lu clients registered by a device, %lu devices revoked; at the end "
         "the devices show %lu conflict entries and %lu wijzigingsvoorstellen\n",
         writes, t[T_WRITES_OK], writes ? 100 * t[T_WRITES_OK] / writes : 0, t[T_WRITES_REFUSED], t[T_REFUSALS_CHECKED],
         t[T_SYNCS], t[T_SYNCS_OK], t[T_CUTS], t[T_ABANDONS], t[T_DEV_RESTARTS], t[T_SRV_RESTARTS], t[T_MOVES],
         t[T_TEAM_CHANGES], t[T_REGISTRATIONS], t[T_REVOCATIONS], t[T_CONFLICTS], t[T_PROPOSALS]);
  printf("bgfullsim: %lu passed, %lu failed\n", passed, failed);
  return failed ? 1 : 0;
}
