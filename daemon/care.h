/*
 * care.h - the office's view of care data: where each client's traject
 * stands and since when, the plan's status, the conversations held, the open
 * conflict entries and wijzigingsvoorstellen; and from that view the method's
 * signals (signalen) and the reports for monitoring and evaluation (part 3 of
 * the method). bgctl's client list/show, conflicts, proposals, signals and
 * report read care data only through this module.
 *
 * Everything is read in one snapshot of the store (bg_store_read_begin): the
 * visible state from the merge engine, and the history of writes
 * (bg_store_history) for what the visible state does not keep - when each
 * position was first reached, which rapportages exist. Times are the writes'
 * hybrid-logical-clock times (their physical part, milliseconds since the
 * epoch): the time on the writer's device when the write was made, which for
 * a caseworker offline is the time of the visit, not of the sync.
 *
 * The rules behind the signals and the report's definitions are in
 * docs/OPERATIONS.md ("Signals", "Reports"), with the method's reasons.
 * The signal and report functions are pure functions of a loaded set and
 * their options, so tests give them chosen times.
 */
#ifndef BG_CARE_H
#define BG_CARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_engine.h"
#include "bg_error.h"
#include "bg_schema.h"
#include "bg_text.h"
#include "store.h"

#define BG_DAY_MS INT64_C(86400000)

/* The method's own periods (section 2.3 of the method's text). */
#define BG_CARE_PLAN_DAYS 14      /* planning: "maximaal twee weken na het opstellen van de persoonsbeschrijving" */
#define BG_CARE_VOORTGANG_DAYS 14 /* uitvoering: "minimaal eens per twee weken een voortgangsgesprek" */
#define BG_CARE_EVALUATE_DAYS 182 /* uitvoering without a dated term in the plan: evaluate after half a year */

typedef enum bg_plan_status {
  BG_PLAN_NONE = 0,   /* no einddoel and no doel in the plan of the current cycle */
  BG_PLAN_DRAFT = 1,  /* content, no signature */
  BG_PLAN_SIGNED = 2, /* the client signed it */
} bg_plan_status;
const char *bg_plan_status_name(int status); /* "none", "draft", "signed" */

/* A position the traject reached: the earliest time any write of it was made. */
typedef struct bg_care_move {
  bg_pos pos;
  int64_t at;
} bg_care_move;

typedef enum bg_care_decision_kind {
  BG_DEC_AANMELDING = 1, /* aanmelding.besluit */
  BG_DEC_INTAKE = 2,     /* intake.besluit */
  BG_DEC_EVALUATIE = 3,  /* evaluatie.besluit of a cycle */
  BG_DEC_UITSTROOM = 4,  /* uitstroom.reden */
} bg_care_decision_kind;

/* A visible decision: its value key and when the shown write was made. */
typedef struct bg_care_decision {
  uint8_t kind;
  uint32_t cycle; /* evaluatie: the cycle; else 0 */
  char value[40];
  int64_t at;
} bg_care_decision;

typedef struct bg_care_client {
  char id[BG_ID_MAX + 1], team[BG_ID_MAX + 1], begeleider[BG_ID_MAX + 1];
  bg_pos pos;              /* the visible position; phase BG_PH_NONE when none */
  int64_t pos_since;       /* when it was entered: the earliest HLC time among the current writes of it */
  uint8_t plan;            /* bg_plan_status of the plan of pos.cycle (none before cycle 1) */
  int64_t plan_signed_at;  /* when the shown signature was written */
  int64_t plan_term;       /* the plan's term: its latest actie deadline or doel termijn given as a date; 0 none */
  int64_t last_voortgang;  /* the newest rapportage of soort voortgangsgesprek; 0 none */
  uint32_t conflicts;      /* open conflict entries */
  uint32_t proposals;      /* wijzigingsvoorstellen without a decision */
  int64_t oldest_conflict; /* when the oldest open conflict arose: the later of its two writes */
  bg_care_move *moves;     /* every position written, ascending (cycle, phase) */
  size_t n_moves;
  bg_care_decision *decisions;
  size_t n_decisions;
} bg_care_client;

typedef struct bg_care_device {
  uint64_t id;
  char login[BG_ID_MAX + 1], name[BG_TEXT_MAX + 1], teams[256];
  int64_t enrolled, last_seen;
  bool user_disabled;
} bg_care_device;

/* The loaded view: clients sorted by id, devices by id. Owned; bg_care_free. */
typedef struct bg_care_set {
  bg_care_client *v;
  size_t n;
  bg_care_device *dev; /* active devices (not revoked) */
  size_t ndev;
} bg_care_set;

/* Which clients and devices to load (NULL: any). A device belongs to its
 * user's teams; `begeleider` selects a user's own devices. */
typedef struct bg_care_filter {
  const char *team, *begeleider, *client;
} bg_care_filter;

/* Load the view of every client (and device) the filter selects, in one
 * snapshot. Storage errors with bg_store_errmsg. */
bg_err bg_care_load(bg_store *s, const bg_care_filter *f, bg_care_set *out);
void bg_care_free(bg_care_set *set);

/* --- entries: conflicts and wijzigingsvoorstellen --------------------------------------- */

/* The open entries of `client` (NULL: every client), conflicts and/or
 * proposals, in one snapshot of the store; the same ids, values and
 * explanations libbgsync shows (proto/bg_text.h). Free with
 * bg_open_entries_free. */
bg_err bg_care_entries_get(bg_store *s, const char *client, bool conflicts, bool proposals, bg_open_entries *out);

/* --- a client's records ----------------------------------------------------------------------- */

/* One visible field of a record. */
typedef struct bg_care_field {
  const char *type;  /* record type name */
  const char *rid;
  const char *field; /* field name */
  const char *value; /* as text */
  uint64_t user;     /* author of the shown write */
  int64_t at;
  bool deleted;      /* the record is removed (its fields are still listed) */
} bg_care_field;
typedef bg_err (*bg_care_field_cb)(void *arg, const bg_care_field *f);

/* Every visible field of every record of `client`, by record type, record id
 * and field. BG_E_NOT_FOUND when the store holds no write of it. */
bg_err bg_care_records(bg_store *s, const char *client, bg_care_field_cb cb, void *arg);

/* --- values ------------------------------------------------------------------------------------- */

/* (Values as text: bg_value_text and bg_value_parse in proto/bg_text.h.) */
/* "YYYY-MM-DD" (00:00 UTC) to milliseconds; false when not such a date. */
bool bg_care_date_ms(const char *s, size_t len, int64_t *ms);

/* --- signals ----------------------------------------------------------------------------------- */

typedef struct bg_signal_opts {
  int64_t now;
  int days;          /* N: plan unsigned, conflicts, devices */
  int evaluate_days; /* uitvoering without a dated term: evaluation due after this many days */
} bg_signal_opts;

typedef struct bg_signal {
  const char *kind;       /* "plan-late", "plan-unsigned", "voortgangsgesprek-due", "evaluatie-due",
                             "conflict-open", "device-silent" */
  const char *client;     /* "" for a device */
  const char *team;       /* the client's team; a device: its user's teams */
  const char *begeleider; /* the trajectbegeleider; a device: its user */
  uint64_t device;        /* device-silent: the device */
  int64_t since;          /* when the clock started */
  int days;               /* whole days from `since` to now */
  char detail[240];       /* what is due, and why */
} bg_signal;
typedef bg_err (*bg_signal_cb)(void *arg, const bg_signal *sig);

/* Every signal of the set at `o->now`: clients in id order (a client's signals
 * in the order of the list above), then devices. */
bg_err bg_care_signals(const bg_care_set *set, const bg_signal_opts *o, bg_signal_cb cb, void *arg);

/* --- reports ------------------------------------------------------------------------------------ */

typedef struct bg_report_opts {
  int64_t from, to; /* the period [from, to); positions are counted as at `to` */
  bool total;       /* also a total over every team ("*") */
} bg_report_opts;

/* One row of a report. Sections:
 *   "fase"         clients per phase and cycle at the period's end (item phase, cycle)
 *   "doorlooptijd" phases left in the period: count, median and p90 of the days spent (item phase)
 *   "cycli"        trajecten by the number of cycles begun by the period's end (item "0", "1", ...)
 *   "besluit"      decisions made in the period (item "aanmelding: intakegesprek")
 *   "uitstroom"    uitstroom reasons written in the period (item the reason) */
typedef struct bg_report_row {
  const char *section;
  const char *team; /* a team, or "*" for all */
  const char *item;
  int cycle;        /* "fase": the cycle; else -1 */
  uint64_t count;
  double median, p90; /* "doorlooptijd": days; else -1 */
} bg_report_row;
typedef bg_err (*bg_report_cb)(void *arg, const bg_report_row *row);

/* The report of the set: per team (sorted), then the total when asked. */
bg_err bg_care_report(const bg_care_set *set, const bg_report_opts *o, bg_report_cb cb, void *arg);

#endif /* BG_CARE_H */
