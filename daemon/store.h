/*
 * store.h - the daemon's store: the only way the daemon (and bgctl) touches
 * storage.
 *
 * The interface speaks in the product's terms - users, teams, clients,
 * devices, enrolment codes, batches of writes, pages of changes, audit
 * entries - never in SQL, so that an implementation on another database
 * (PostgreSQL, a distributed one behind several daemons: DESIGN.md decision 10)
 * can follow. Each call that changes something is one transaction: it happens
 * whole or not at all (inside a group commit, below: whole or not at all, and
 * durable when the group commits). The implementation here is SQLite (store_sqlite.c): one
 * file in WAL mode, prepared statements, numbered migrations run at open.
 *
 * Sync (docs/PROTOCOL.md section 6b):
 *  - a PUSH batch is checked write by write (author = the session's device and
 *    user, access to the client), applied through the merge engine and recorded
 *    in the change feed, all in one transaction; a batch id seen before from the
 *    same device returns the first answer and applies nothing;
 *  - a PULL returns the next page of the feed within the device's scope. The
 *    cursor is a token naming what the device holds - each client in scope and
 *    how far it has been fed - so a client that enters the scope is fed from its
 *    first write, and a client that leaves it is named for PURGE until the
 *    device acknowledges dropping it.
 *
 * Scope: a begeleider sees the clients of their teams and those they are
 * trajectbegeleider of; office and administrators see every client; everyone
 * sees the organisation data (BG_ORG_CLIENT). A device may still push writes
 * for a client it holds that has since left its scope (work done while it had
 * access is not refused); the PURGE follows.
 *
 * Time is passed in (milliseconds since the epoch), so tests control it.
 * Strings returned in rows and pages belong to the store and stay valid until
 * the next call on it. One store handle per thread.
 */
#ifndef BG_STORE_H
#define BG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_error.h"
#include "bg_msg.h"

/* The schema version of the store file (migrations, store_sqlite.c). */
#define BG_STORE_VERSION 3

/* The office itself: user and device ids of writes made with bgctl. */
#define BG_OFFICE_USER 1u
#define BG_OFFICE_DEVICE 1u

typedef struct bg_store bg_store;

/* Open (creating when absent) the store file and bring it to the current
 * version. BG_E_NEWER_SCHEMA when newer software wrote it; `why` gets detail. */
bg_err bg_store_open(const char *path, bg_store **out, char *why, size_t whylen);
void bg_store_close(bg_store *s);

/* Group commit. Between bg_store_group_begin and bg_store_group_commit every
 * call runs in one transaction of the group (each call still happens whole or
 * not at all: a call that fails rolls back its own changes only), and nothing
 * is durable until the group commits, with one sync of the disk for them all.
 * So a caller answers nobody - no ACK, no page of changes - about a call of the
 * group before bg_store_group_commit returned BG_OK; when it fails, every call
 * of the group is undone and their answers are withdrawn. bgsyncd groups the
 * requests of one turn of its event loop (daemon/server.c). A call made outside
 * a group is its own transaction, as ever. */
bg_err bg_store_group_begin(bg_store *s);
bg_err bg_store_group_commit(bg_store *s);
bool bg_store_in_group(const bg_store *s);

/* Detail of the last failure on this handle ("team 'x' exists", SQLite's
 * message), "" after success. */
const char *bg_store_errmsg(const bg_store *s);

/* --- people and access ----------------------------------------------------------- */

typedef struct bg_user_row {
  uint64_t id;
  const char *login;
  uint8_t role;     /* BG_ROLE_* */
  bool disabled;
  const char *teams; /* comma-separated team names, "" for none */
} bg_user_row;

typedef struct bg_device_row {
  uint64_t id, user;
  const char *login;
  const char *name;
  int64_t enrolled, revoked, last_seen; /* ms; 0 = never */
} bg_device_row;

typedef struct bg_client_row {
  const char *id;
  const char *team;
  const char *begeleider; /* login */
  int64_t created;
} bg_client_row;

/* BG_E_EXISTS when the name is taken; BG_E_USAGE for an empty or too long name. */
bg_err bg_store_team_add(bg_store *s, const char *name, int64_t now);
/* A user; `team` may be NULL. BG_E_NOT_FOUND for an unknown team. */
bg_err bg_store_user_add(bg_store *s, const char *login, uint8_t role, const char *team, int64_t now,
                         uint64_t *id);
bg_err bg_store_user_by_login(bg_store *s, const char *login, bg_user_row *out);
bg_err bg_store_user_by_id(bg_store *s, uint64_t id, bg_user_row *out);
typedef bg_err (*bg_user_cb)(void *arg, const bg_user_row *u);
bg_err bg_store_users(bg_store *s, bg_user_cb cb, void *arg);

/* Register a client in `team` with trajectbegeleider `begeleider` (a login),
 * and open its traject in aanmelding: the office's writes of the traject
 * position and of traject.begeleider (the begeleider's user id), applied
 * through the engine and fed to devices like any other. */
bg_err bg_store_client_add(bg_store *s, const char *client, const char *team, const char *begeleider,
                           int64_t now);
/* Move a client to another team and trajectbegeleider: the office writes the
 * new traject.begeleider, superseding the old one. Devices that lose access
 * get a PURGE on their next pull (after their own pending pushes). */
bg_err bg_store_client_move(bg_store *s, const char *client, const char *team, const char *begeleider,
                            int64_t now);
typedef bg_err (*bg_client_cb)(void *arg, const bg_client_row *c);
bg_err bg_store_clients(bg_store *s, bg_client_cb cb, void *arg);
/* One client. BG_E_NOT_FOUND. */
bg_err bg_store_client_get(bg_store *s, const char *client, bg_client_row *out);
/* A new trajectbegeleider within the client's team (the office writes
 * traject.begeleider, as for a move). BG_E_FORBIDDEN when the user is not a
 * member of the client's team (add them, or move the client instead),
 * BG_E_USER_DISABLED, BG_E_NOT_FOUND. */
bg_err bg_store_client_assign(bg_store *s, const char *client, const char *begeleider, int64_t now);

/* Disable or enable a user. A disabled user's scope is empty: each of their
 * devices is still accepted while it holds data, so that it pushes what it
 * wrote and then drops every client it holds (PURGE), and is refused with
 * BG_E_USER_DISABLED from then on (bg_store_device_holds; docs/OPERATIONS.md,
 * "Disabling a user"). No new enrolment for a disabled user. BG_E_EXISTS when
 * the user is in that state already, BG_E_USAGE for the office's own user. */
bg_err bg_store_user_set_disabled(bg_store *s, const char *login, bool disabled, int64_t now);

/* Make a user a member of a team (`member` true) or end the membership. The
 * scope follows at once: devices of a user who left a team are purged of its
 * clients on their next pull, except the clients the user leads.
 * BG_E_EXISTS / BG_E_NOT_FOUND when already a member / not a member. */
bg_err bg_store_user_team(bg_store *s, const char *login, const char *team, bool member, int64_t now);

typedef struct bg_team_row {
  const char *name;
  uint32_t members, clients;
  int64_t created;
} bg_team_row;
typedef bg_err (*bg_team_cb)(void *arg, const bg_team_row *t);
bg_err bg_store_teams(bg_store *s, bg_team_cb cb, void *arg);

/* --- devices and enrolment ------------------------------------------------------------ */

/* A one-time enrolment code for `user`: `id` names it, `secret_hash` is the
 * SHA-256 of its secret (the secret itself is never stored). */
bg_err bg_store_code_add(bg_store *s, const char *id, const uint8_t secret_hash[32], uint64_t user,
                         int64_t now, int64_t expires);
/* Use a code: BG_E_ENROLL_CODE (unknown, or the secret does not match),
 * BG_E_ENROLL_EXPIRED, BG_E_ENROLL_USED, BG_E_USER_DISABLED; on success a new
 * device of the code's user, *device its id, and the code is spent. */
bg_err bg_store_code_use(bg_store *s, const char *id, const uint8_t secret_hash[32], const char *name,
                         int64_t now, uint64_t *device, uint64_t *user);
bg_err bg_store_device_get(bg_store *s, uint64_t id, bg_device_row *out);
typedef bg_err (*bg_device_cb)(void *arg, const bg_device_row *d);
bg_err bg_store_devices(bg_store *s, bg_device_cb cb, void *arg);
/* BG_E_NOT_FOUND for an unknown device; revoking twice keeps the first time. */
bg_err bg_store_device_revoke(bg_store *s, uint64_t id, int64_t now);
bg_err bg_store_device_seen(bg_store *s, uint64_t id, int64_t now);
/* Whether the store counts the device as holding any client: fed to it or
 * named in a PURGE it has not acknowledged (by any of its cursors). */
bg_err bg_store_device_holds(bg_store *s, uint64_t id, bool *holds);

/* Counts for `bgctl status`. */
typedef struct bg_store_stats {
  uint64_t users, users_disabled, teams, clients;
  uint64_t devices;       /* enrolled and not revoked */
  uint64_t devices_seen;  /* of those, seen (HELLO) at or after `seen_since` */
  uint64_t feed_head, audit_entries;
  uint64_t purge_devices; /* devices holding clients outside their scope: a PURGE not yet acknowledged */
  uint64_t purge_clients; /* such (device, client) pairs */
} bg_store_stats;
bg_err bg_store_stats_get(bg_store *s, int64_t seen_since, bg_store_stats *out);

/* --- sync ------------------------------------------------------------------------------- */

/* Who a session speaks for: from the device certificate and the store. */
typedef struct bg_who {
  uint64_t device, user;
  uint8_t role;
} bg_who;

typedef struct bg_push_result {
  bool duplicate;            /* the batch was applied before: nothing done now */
  uint64_t seq;              /* the feed's head after the batch */
  const bg_reject *rejected; /* writes refused, by index (valid until the next call) */
  uint32_t n_rejected;
  uint32_t applied, proposals; /* of this call (0 for a duplicate) */
} bg_push_result;

/* Apply one PUSH batch (see the header comment). Write refusals: BG_E_AUTHOR
 * (dot, user, role or trajectbegeleider claim not the session's), BG_E_FORBIDDEN
 * (client unknown or out of reach), and the engine's validation errors.
 * A storage error rolls everything back and is returned. A revoked device's
 * batch is refused whole, BG_E_DEVICE_REVOKED (a resent one too): nothing of
 * it is accepted from the revocation on, also while its session is still open. */
bg_err bg_store_push(bg_store *s, const bg_who *who, uint64_t batch, const bg_write *writes, uint32_t n,
                     int64_t now, bg_push_result *out);

typedef struct bg_pull_page {
  uint64_t purge_id;      /* > 0: the device must drop `purge` (then ACK this id) */
  const bg_str *purge;
  uint32_t n_purge;
  const bg_str *writes;   /* encoded writes (bg_write_encode), in feed order */
  uint32_t n;
  uint64_t next;          /* cursor for the next PULL */
  bool more;
} bg_pull_page;

/* The page after `cursor` (0, or a `next` this store gave this device) within
 * `max_bytes` of encoded writes (at least one write when any is due) and
 * `max_writes`. The PURGE names every client outside the scope that any of
 * the device's cursors names (it may present any it has not confirmed past;
 * presenting one confirms the cursor it was issued from - a pull from it
 * keeps that one, which the device holds when it pulled ahead from a page it
 * then failed to commit - and spends every other one issued before it).
 * An unknown cursor (a store restored from an older backup) names every
 * client outside the scope and feeds the scope from the start (the device
 * re-receives what it has; harmless, applied by dot). BG_E_DEVICE_REVOKED for
 * a revoked device: nothing is served to it from the revocation on. */
bg_err bg_store_pull(bg_store *s, const bg_who *who, uint64_t cursor, uint32_t max_bytes, uint32_t max_writes,
                     int64_t now, bg_pull_page *out);

/* The device dropped the clients of PURGE `id`. BG_E_NOT_FOUND when the id is
 * not one of this device's; a repeat changes nothing (and is not audited). */
bg_err bg_store_purge_ack(bg_store *s, const bg_who *who, uint64_t id, int64_t now);

/* The merged state's digest of one client (bg_engine_digest): a device that
 * holds everything of the client has the same. */
bg_err bg_store_digest(bg_store *s, const char *client, uint8_t out[32]);

/* A number that changes whenever another connection (bgctl, another daemon
 * process) committed a change to the store: cheap to poll (PRAGMA data_version). */
bg_err bg_store_data_version(bg_store *s, uint64_t *v);

/* The feed's head: the sequence number of the newest change. */
bg_err bg_store_head(bg_store *s, uint64_t *seq);

/* --- the office's reading of care data ------------------------------------------------------ */

struct bg_engine;

/* A consistent read of the merged care data: the merge engine over the store's
 * state (use only bg_engine.h's reading calls on it: never apply a write
 * through it) inside a read transaction, which bg_store_read_end ends. The
 * store's other reading calls (bg_store_history, bg_store_clients, ...) may be
 * used in between and see the same snapshot. */
bg_err bg_store_read_begin(bg_store *s, struct bg_engine **eng);
void bg_store_read_end(bg_store *s);

/* Every write accepted for `client` (applied, or held as a wijzigingsvoorstel),
 * in the order the store received them. `w` is valid during the call; the
 * callback must not call the store. */
typedef bg_err (*bg_write_cb)(void *arg, const bg_write *w);
bg_err bg_store_history(bg_store *s, const char *client, bg_write_cb cb, void *arg);

/* The office writes one field of a client's record (bgctl conflicts resolve):
 * dot of the office device, author the office, context everything the store
 * has seen of the record - so the write supersedes every write the store holds
 * for the field, the conflict's two included - applied and fed to devices like
 * any other, and audited as `action` with `object`. BG_E_WINDOW (nothing
 * written) when the rules would hold it as a wijzigingsvoorstel: the field is
 * out of its phase, or its plan is signed. BG_E_NOT_FOUND for an unknown client. */
bg_err bg_store_office_write(bg_store *s, const char *client, uint32_t rtype, const char *rid, uint32_t field,
                             const bg_value *v, const char *action, const char *object, int64_t now);

/* --- audit (NEN 7513) --------------------------------------------------------------------- */

typedef struct bg_audit_row {
  uint64_t seq;
  int64_t at;
  uint64_t user, device; /* 0 = none (the office, an anonymous peer) */
  const char *client;    /* "" = none */
  const char *action;    /* "write", "read", "purge", "enrol", "revoke", "refuse", ... */
  const char *object;    /* what: "batch 31: 3 writes", a device id, a peer address */
  const char *outcome;   /* "ok", or the error's name */
} bg_audit_row;

/* Append an entry (seq and at are assigned: now). Entries are chained: each
 * carries SHA-256(previous hash || its own canonical encoding). */
bg_err bg_store_audit(bg_store *s, int64_t now, uint64_t user, uint64_t device, const char *client,
                      const char *action, const char *object, const char *outcome);

typedef struct bg_audit_filter {
  const char *client; /* NULL = any */
  uint64_t user;      /* 0 = any */
  int64_t since;      /* 0 = from the start */
} bg_audit_filter;
typedef bg_err (*bg_audit_cb)(void *arg, const bg_audit_row *row);
bg_err bg_store_audit_query(bg_store *s, const bg_audit_filter *f, bg_audit_cb cb, void *arg);

/* Check the whole chain: *entries checked; on BG_E_CORRUPT *bad is the first
 * entry whose hash does not follow (changed, inserted or removed before it). */
bg_err bg_store_audit_verify(bg_store *s, uint64_t *entries, uint64_t *bad);

#endif /* BG_STORE_H */
