/*
 * fullsim.h - what the two files of bgfullsim share: the simulated world (its
 * devices, connections, clients and tallies), its random numbers and its
 * reports. bgfullsim.c holds the network, the office, the seeds and the
 * checks; fullsim_workload.c what the devices write (dev_write).
 */
#ifndef BG_FULLSIM_H
#define BG_FULLSIM_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "bg_msg.h"
#include "bg_schema.h"
#include "internal.h"
#include "session.h"
#include "store.h"

#define MAX_DEV 16
#define MAX_CONN 64
#define MAX_CLIENTS 12    /* the office's first ones and those office devices register (bits of a uint64_t) */

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
  bool refused;        /* refused at the handshake: the device was revoked */
  bg_session sess;
  bg_buf up, down, rx; /* device->daemon, daemon->device, received not yet framed */
  uint32_t id;
} conn;

/* A growing list of dots or counters. */
typedef struct dots {
  uint64_t *v;
  size_t n, cap;
} dots;

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
  dots queued;         /* counters of the writes it queued */
  char visiting[16];   /* the client of its last write: most writes continue there */
} device;

typedef struct user {
  const char *login;
  uint8_t role;
  int team;            /* the team it starts in (index into g_teams) */
} user;

/* Teams are made in this order, so the store's first team of a user (the
 * lowest id) is the lowest index. */
#define N_TEAMS 2
extern const char *const g_teams[N_TEAMS];
#define N_USERS 4
extern const user g_users[N_USERS];

typedef struct sim_client {
  char id[16];
  int team;
  int begeleider;      /* index into the users */
  int by;              /* the device that registered it, -1: the office */
} sim_client;

/* The tallies of the summary line. */
enum {
  T_WRITES_OK, T_WRITES_REFUSED, T_REFUSALS_CHECKED, T_SYNCS, T_SYNCS_OK, T_CUTS, T_ABANDONS, T_DEV_RESTARTS,
  T_SRV_RESTARTS, T_MOVES, T_TEAM_CHANGES, T_REGISTRATIONS, T_REVOCATIONS, T_CONFLICTS, T_PROPOSALS, T_N
};

struct sim {
  uint64_t seed, rng;
  int ndev, steps;
  bool verbose;
  char dir[128], store_path[256];
  bg_store *store;      /* the daemon's handle */
  bg_store *office;     /* bgctl's: its commits are what the daemon's poll notices */
  bg_session_env env;
  uint64_t data_version; /* the store's, as the daemon last read it */
  int64_t poll_at;      /* the daemon's next poll */
  uv_loop_t loop;
  device dev[MAX_DEV];
  conn conns[MAX_CONN];
  uint32_t next_conn;
  uint64_t uid[N_USERS];
  unsigned teams[N_USERS]; /* bit t: a member of g_teams[t] */
  uint64_t ever[N_USERS];  /* bit ci: client ci has been in the user's scope */
  sim_client cl[MAX_CLIENTS]; /* the clients on the office */
  int ncl;
  sim_client reg[MAX_CLIENTS]; /* registered on a device, not yet on the office */
  int nreg, next_client;
  int revoked;             /* the revoked device, -1: none */
  uint64_t revoked_head;   /* the feed's head when it was revoked */
  uint64_t revoked_may_hold; /* the clients (bits) its user had in scope until then */
  char fail[1024];
  bool failed;
  unsigned long n[T_N];
};
static inline uint64_t rnd(sim *S) { /* xorshift64* */
  S->rng ^= S->rng >> 12;
  S->rng ^= S->rng << 25;
  S->rng ^= S->rng >> 27;
  return S->rng * UINT64_C(2685821657736338717);
}
static inline uint32_t below(sim *S, uint32_t n) { return n ? (uint32_t)(rnd(S) % n) : 0; }
static inline bool chance(sim *S, uint32_t percent) { return below(S, 100) < percent; }

/* The seed's first failure (later ones are dropped), and a line of --verbose. */
void fail(sim *S, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void say(sim *S, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Notes the dots of the device's queued writes made since `before` (ms). */
void note_writes(sim *S, device *d, int64_t before);

/* One local write, or a short visit's worth, on device di (fullsim_workload.c). */
void dev_write(sim *S, int di);

#endif /* BG_FULLSIM_H */
