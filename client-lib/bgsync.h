/*
 * bgsync.h - libbgsync: an offline replica of a caseworker's caseload that
 * synchronises with the office's bgsyncd.
 *
 * A replica is one SQLite file on the device. Everything works offline: read
 * with plain SQL, write through the functions below or with plain SQL on the
 * same connection; every write is checked by the same rules the office applies
 * and queued. bgsync_sync() pushes the queue and pulls what changed, whenever a
 * connection is there.
 *
 *   bgsync *r;
 *   if (bgsync_open("caseload.db", &r) != BG_OK) { puts(bgsync_errmsg(r)); ... }
 *   bgsync_enroll(r, "office.example.nl:7443", "K7QW3XB-...", "laptop Anna");
 *   bgsync_sync(r, NULL);                       // first sync: the caseload arrives
 *   bgsync_set(r, "c-0042", "plan.einddoel", "Zelfstandig wonen");
 *   bgsync_sync(r, NULL);                       // whenever there is a network
 *   bgsync_close(r);
 *
 * Errors. Every function that can fail returns a bg_err (bg_error.h, installed
 * beside this header: the product's one list of codes, the same numbers the
 * protocol carries). BG_OK is 0. bgsync_errmsg(r) holds a sentence for the
 * last failure on that handle: what was wrong and what to do. bg_err_retryable()
 * says whether the same call may succeed later unchanged (network, busy disk).
 *
 * Threads. A handle belongs to one thread at a time (open one handle per
 * thread; they share the file safely through SQLite's locking). Only
 * bgsync_cancel() may be called from another thread.
 *
 * The tables. Each record type of the 8-fasenmodel is a table named after it
 * (client, traject, aanmelding, intake, opstart, persoonsbeschrijving, begeleidingsplan,
 * doel, actie, netwerkcontact, rapportage, evaluatie, uitstroom, leefgebied,
 * wijzigingsvoorstel) with the columns `client` (client id), `rid` (record id), one column
 * per field (docs/RULES.md lists them), and `cycle` where the record belongs to
 * a cycle (persoonsbeschrijving also `leefgebied`; traject also `phase`). The
 * rows are the visible state: what the rules chose among every write received.
 * Removed records have no row. Leefgebieden are rows of the table leefgebied.
 * Sync bookkeeping lives in tables whose names start with `bgsync_` and
 * `engine_`: do not write those. bgsync_purged lists the clients the replica
 * dropped because the office withdrew access, with the time (ms).
 *
 * Plain SQL writes. On the connection bgsync_db() returns, INSERT, UPDATE and
 * DELETE on the record tables are captured as writes, exactly like the
 * functions below: checked, queued, synchronised. A write the rules refuse
 * (outside its phase, a signed plan, a rapportage changed afterwards) fails
 * with the same error and leaves nothing behind. New records need a record id:
 * `INSERT INTO doel(client, rid, omschrijving) VALUES('c-1',
 * bgsync_new_rid('doel', 'c-1'), '...')`. Other connections may read the file
 * (WAL); their writes to record tables fail ("no such function:
 * bgsync_capture"), so nothing escapes the rules.
 */
#ifndef BGSYNC_H
#define BGSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BGSYNC_VERSION "0.1.0"

typedef struct bgsync bgsync;
struct sqlite3;
struct uv_loop_s;

/* --- the replica ------------------------------------------------------------------ */

/*
 * Open the replica file at `path`, creating it when absent, and bring it to the
 * current version (numbered migrations, each in one transaction). A file
 * written by newer software is refused (BG_E_NEWER_SCHEMA), untouched.
 * *out is set whenever memory allowed, also on failure, so bgsync_errmsg works:
 * always bgsync_close it.
 */
bg_err bgsync_open(const char *path, bgsync **out);
void bgsync_close(bgsync *r);

/* The sentence for the last failure on `r` ("" after success); never NULL. */
const char *bgsync_errmsg(const bgsync *r);

/* The replica's SQLite connection, for queries and plain SQL writes (see
 * above). Owned by `r`: do not close it. */
struct sqlite3 *bgsync_db(bgsync *r);

/* --- identity and enrolment --------------------------------------------------------- */

typedef struct bgsync_identity {
  bool enrolled;
  uint64_t device;      /* this device's id */
  uint64_t user;        /* its user's id */
  char login[65];       /* its user's login */
  char role[16];        /* "begeleider", "office", "admin"; "" before the first sync */
  char server[256];     /* HOST:PORT of the sync service */
} bgsync_identity;

/*
 * Enrol this replica as a new device of the user the office made `code` for
 * (bgctl device enroll prints it). `server` is the sync address HOST:PORT (port
 * 7443 when left out); enrolment uses the daemon's enrolment port, PORT + 1
 * (override with `enrol_port`, 0 = PORT + 1). The key pair is made here and never
 * leaves the device: the private key and the certificate are written beside
 * the replica (FILE.key, FILE.crt, FILE.ca; mode 0600). The code names the
 * organisation's CA, so a server that is not the office's is refused.
 * BG_E_ENROLL_CODE (mistyped or unknown), BG_E_ENROLL_EXPIRED, BG_E_ENROLL_USED,
 * BG_E_RATE_LIMITED, BG_E_CONNECT, BG_E_TLS; BG_E_EXISTS when already enrolled.
 */
bg_err bgsync_enroll(bgsync *r, const char *server, const char *code, const char *device_name,
                     int enrol_port);

bg_err bgsync_identity_get(bgsync *r, bgsync_identity *out);

/* --- writing --------------------------------------------------------------------------- */

/*
 * Set one field from text, the way a person types it. `path` names the field:
 *   TYPE.FIELD         a record of which the client has one (client, traject,
 *                      aanmelding, intake, opstart, uitstroom) or one per cycle
 *                      (plan, evaluatie: the current cycle's)
 *   TYPE:RID.FIELD     any record by id ("actie:1:7.12.status",
 *                      "persoonsbeschrijving:1/wonen.situatie"); for
 *                      persoonsbeschrijving a RID without '/' is a leefgebied of
 *                      the current cycle ("persoonsbeschrijving:wonen.situatie")
 * `text` is parsed by the field's type: text as is, integers in decimal, booleans
 * ja/nee/true/false/1/0, dates YYYY-MM-DD, enumerations by key; NULL clears the
 * field. Refusals: BG_E_UNKNOWN_RECORD / BG_E_UNKNOWN_FIELD / BG_E_VALUE (what
 * was wrong), BG_E_WINDOW (not in this phase), BG_E_PLAN_SIGNED (use
 * bgsync_propose), BG_E_IMMUTABLE (rapportage: add a correction),
 * BG_E_FORBIDDEN, BG_E_TRAJECT_CLOSED, BG_E_USAGE (no caseload yet: sync first).
 */
bg_err bgsync_set(bgsync *r, const char *client, const char *path, const char *text);

/* The same as a wijzigingsvoorstel: for a plan field after the client signed.
 * It travels like any write and waits for the next evaluation. */
bg_err bgsync_propose(bgsync *r, const char *client, const char *path, const char *text);

/* Register a new client whose aanmelding is taken here: opens its traject in
 * aanmelding (and sets client.naam when given). For devices of office users
 * (role office or admin; BG_E_FORBIDDEN for begeleiders: the office registers
 * clients). The office puts the client in the user's first team, with the
 * user as trajectbegeleider until it assigns one (bgctl client move); a user
 * in no team gets the write refused (BG_E_FORBIDDEN, in bgsync_rejected).
 * BG_E_EXISTS when the replica knows the client already. */
bg_err bgsync_client_add(bgsync *r, const char *client, const char *naam);

/* Move the traject to phase `phase` ("intake", ..., "uitstroom", "gesloten"; a
 * move from evaluatie to analyse or planning starts the next cycle). Refused
 * with BG_E_PHASE_TRANSITION and a message naming both phases and what is
 * missing (a decision, the signature) when the phase machine says no. */
bg_err bgsync_phase(bgsync *r, const char *client, const char *phase);

/* The client signs the current cycle's plan: records the plan's state as this
 * replica has it (later plan edits become wijzigingsvoorstellen). `signature`
 * names who signed and where; `date` YYYY-MM-DD (NULL: today). */
bg_err bgsync_sign(bgsync *r, const char *client, const char *signature, const char *date);

/* New records. The new record id is written to `rid_out` (at least 65 bytes;
 * may be NULL). Optional arguments may be NULL (or 0). */
bg_err bgsync_doel_add(bgsync *r, const char *client, const char *leefgebied, const char *omschrijving,
                       const char *termijn, int prioriteit, char *rid_out);
bg_err bgsync_actie_add(bgsync *r, const char *client, const char *doel_rid, const char *omschrijving,
                        const char *wie, const char *deadline, int prioriteit, char *rid_out);
/* A rapportage (append-only): `soort` a rapportagesoort ("voortgangsgesprek",
 * ...), `corrects` the record id of an entry this one corrects (or NULL). */
bg_err bgsync_note(bgsync *r, const char *client, const char *soort, const char *text,
                   const char *leefgebied, const char *corrects, char *rid_out);
/* Remove a doel, actie or netwerkcontact (an edit made concurrently elsewhere
 * keeps it: edit wins). */
bg_err bgsync_remove(bgsync *r, const char *client, const char *type, const char *rid);

/* --- conflicts and wijzigingsvoorstellen ---------------------------------------------- */

typedef struct bgsync_side {
  const char *value;    /* as text; NULL for a cleared field */
  uint64_t user, device;
  uint64_t time_ms;     /* when it was written (the writer's clock) */
} bgsync_side;

typedef struct bgsync_conflict {
  const char *id;       /* stable id, for bgsync_resolve */
  bool proposal;        /* a wijzigingsvoorstel (else a conflict entry) */
  const char *client, *type, *rid, *field;
  const char *rule;     /* conflicts: the rule that chose ("R2", ...) */
  const char *why;      /* a sentence: why this was decided so */
  bgsync_side shown;    /* conflicts: the value the rules chose (A) */
  bgsync_side other;    /* the value not shown (B); proposals: the proposed value */
} bgsync_conflict;

typedef void (*bgsync_conflict_cb)(void *arg, const bgsync_conflict *c);

/* Every open conflict entry and wijzigingsvoorstel of `client` (NULL: all). The
 * entry's strings are valid during the call. */
bg_err bgsync_conflicts(bgsync *r, const char *client, bgsync_conflict_cb cb, void *arg);

/* Resolve a conflict entry: keep 'A' (the shown value), 'B' (the other), or
 * write `value` (keep 0). The resolution is a write that has seen both, so every
 * replica ends with the same value and the entry closes everywhere. A
 * wijzigingsvoorstel is decided with keep 'B' (overgenomen: applied, where the
 * field may be edited now) or 'A' (afgewezen). A conflict of the traject's
 * phase (two concurrent phase moves; R5 shows the furthest) closes with 'A'
 * only: the traject does not move by a resolution (BG_E_USAGE otherwise; it
 * moves with bgsync_phase). BG_E_NOT_FOUND for an unknown id. */
bg_err bgsync_resolve(bgsync *r, const char *id, char keep, const char *value);

/* --- status ----------------------------------------------------------------------------- */

typedef struct bgsync_status {
  uint64_t pending;       /* writes waiting to be pushed */
  uint64_t rejected;      /* writes the office refused (kept; bgsync_rejected) */
  uint64_t conflicts;     /* open conflict entries */
  uint64_t proposals;     /* open wijzigingsvoorstellen */
  uint64_t clients;       /* clients in the replica */
  int64_t last_sync_ms;   /* end of the last completed sync, 0 = never */
  int64_t last_error;     /* bg_err of the last failed sync, 0 = none since */
} bgsync_status;

bg_err bgsync_status_get(bgsync *r, bgsync_status *out);

/* SHA-256 of the canonical visible state (the same on every replica that
 * received the same writes), as 64 hex digits and a NUL. */
bg_err bgsync_digest(bgsync *r, const char *client, char hex[65]);

/* --- synchronising ---------------------------------------------------------------------- */

typedef enum bgsync_stage {
  BGSYNC_CONNECTING = 1,
  BGSYNC_PUSHING = 2,
  BGSYNC_PULLING = 3,
  BGSYNC_DONE = 4,
} bgsync_stage;

typedef struct bgsync_progress {
  bgsync_stage stage;
  uint64_t pushed, to_push;   /* writes acknowledged / to push in this sync */
  uint64_t pulled;            /* writes received */
  uint64_t purged;            /* clients dropped: the office withdrew access (table bgsync_purged) */
  bool more;                  /* the server has more to send */
  uint64_t bytes_sent, bytes_received;
} bgsync_progress;

typedef void (*bgsync_progress_cb)(void *arg, const bgsync_progress *p);

typedef struct bgsync_options {
  bgsync_progress_cb progress; /* optional */
  void *arg;
  int timeout_ms;              /* silence from the server that ends the attempt; 0 = 30 s */
} bgsync_options;

/*
 * One sync, blocking: connect, push every pending write (in batches, each
 * acknowledged), pull everything new (each page applied with its cursor in one
 * transaction), drop the clients the office withdrew (after their pending
 * writes were pushed), say goodbye. A cut at any point loses nothing; the next
 * sync resumes. `o` may be NULL.
 */
bg_err bgsync_sync(bgsync *r, const bgsync_options *o);

/* The same on the app's libuv loop; `done` is called once, on the loop. Do not
 * use `r` for anything else until then. The app ignores SIGPIPE, as libuv apps
 * do (a write to a connection the server closed raises it; the blocking calls
 * shield their own thread). */
typedef void (*bgsync_done_cb)(void *arg, bg_err result);
bg_err bgsync_sync_start(bgsync *r, struct uv_loop_s *loop, const bgsync_options *o, bgsync_done_cb done,
                         void *done_arg);

/* Ask a running sync to stop (from any thread): it ends with BG_E_CANCELLED,
 * keeping what was committed. Harmless when none runs. */
void bgsync_cancel(bgsync *r);

/* How long to wait before the next attempt after a failed sync: exponential
 * backoff with jitter (up to 2 s after the first failure, doubling to a cap of
 * 5 minutes, drawn uniformly below the bound); 0 after a successful sync, and
 * for an error that retrying cannot fix (then tell the user). */
uint64_t bgsync_retry_ms(bgsync *r);

#ifdef __cplusplus
}
#endif

#endif /* BGSYNC_H */
