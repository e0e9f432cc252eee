/*
 * bg_engine.h - the merge engine: writes in, visible state, conflicts and
 * wijzigingsvoorstellen out. Client and daemon run this same code.
 *
 * The engine keeps, per field, the writes that no other write has superseded
 * ("current") and the join K of the causal contexts of every write received for
 * the field: a write is superseded when its dot lies in K, that is, when some
 * author had seen it before writing the field again. Both are functions of the
 * *set* of writes received, so replicas that received the same set hold the same
 * state whatever the order, batching or duplication (DOMAIN.md, property 1).
 * The visible value of a field is chosen among its current writes by the field's
 * rule (R2-R5, "once"); the others with a different value are conflict entries.
 * A write outside its field's window, or a plan write the client's signature did
 * not cover (R1), is not applied: it is held as a wijzigingsvoorstel. Every write
 * received is therefore visible, superseded by a write whose author had seen it,
 * a conflict entry, subsumed by monotone progress (R3), or a wijzigingsvoorstel
 * (property 2). docs/RULES.md has the rules with worked examples.
 *
 * Cost: applying an ordinary field write reads and writes one field state, one
 * record state and one log entry - independent of the history's length. Only a
 * signature reclassifies the writes of its plan.
 *
 * Storage goes through bg_kv (bg_kv.h); the caller wraps calls in a transaction.
 * Results that point into engine memory (views, conflict lists) stay valid until
 * the next call on the engine: copy a write before passing it back in. An engine
 * is used by one thread at a time, and a callback (entries) must not call the
 * engine it is called from: collect, then act.
 */
#ifndef BG_ENGINE_H
#define BG_ENGINE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "bg_buf.h"
#include "bg_error.h"
#include "bg_kv.h"
#include "bg_msg.h"
#include "bg_schema.h"
#include "bg_vv.h"

typedef struct bg_engine {
  bg_kv kv;
  msgpack_zone *zone; /* scratch for one call: decoded states and views */
  bg_buf k1, k2, v1, v2, v3; /* scratch keys and values */
} bg_engine;

/* Engine over a store. BG_E_NOMEM. */
bg_err bg_engine_init(bg_engine *e, bg_kv kv);
void bg_engine_free(bg_engine *e);

/* --- applying writes ------------------------------------------------------------- */

typedef enum bg_outcome {
  BG_APPLIED = 1,   /* the write takes part in its field (visible, superseded or in conflict) */
  BG_DUPLICATE = 2, /* this dot was received before: nothing changed */
  BG_PROPOSAL = 3,  /* held as a wijzigingsvoorstel (see `reason`) */
} bg_outcome;

typedef struct bg_apply_result {
  bg_outcome outcome;
  bg_err reason; /* BG_PROPOSAL: BG_E_WINDOW or BG_E_PLAN_SIGNED */
} bg_apply_result;

/*
 * Validate a write against the schema, then apply it. Validation errors
 * (nothing stored): BG_E_UNKNOWN_RECORD (type or record id), BG_E_UNKNOWN_FIELD,
 * BG_E_VALUE (also: a context claiming the write's own dot or later ones, a seen
 * position that is none), BG_E_PHASE_TRANSITION (a position no transition
 * reaches from what the writer saw), BG_E_FORBIDDEN (organisation data by a
 * non-administrator), BG_E_DOT_REUSED (this dot arrived before with other
 * content: a device counting again, e.g. restored from a backup).
 * Storage errors are passed on; the caller rolls its transaction back.
 */
bg_err bg_engine_apply(bg_engine *e, const bg_write *w, bg_apply_result *res);

/* Only the validation part of bg_engine_apply (for local refusal and per-write
 * rejection), with the record id's parsed form. */
bg_err bg_write_check(const bg_write *w, const bg_rtype_def **rt, const bg_field_def **f,
                      bg_rid_info *rid);

/* Whether the write's field may be edited given what the writer saw (the window
 * of DOMAIN.md's table). Pure function of the write. */
bool bg_write_in_window(const bg_write *w, const bg_field_def *f, const bg_rid_info *rid);

/* --- reading the merged state ------------------------------------------------------- */

typedef enum bg_conflict_kind {
  BG_CONFLICT_VALUE = 1,     /* concurrent writes, the rule chose another value */
  BG_CONFLICT_EDIT_WINS = 2, /* a removal lost to a concurrent edit; the record stays */
} bg_conflict_kind;

typedef struct bg_field_view {
  const bg_field_def *field;
  const bg_write *winner;    /* NULL when no write applies */
  const bg_write **losers;   /* conflict entries: current writes the rule did not choose */
  uint32_t n_losers;
  const bg_write **current;  /* every current write, winner included */
  uint32_t n_current;
  uint8_t rule;              /* the rule that chose */
} bg_field_view;

/* The visible state of one field. */
bg_err bg_engine_field(bg_engine *e, bg_str client, uint32_t rtype, bg_str rid, uint32_t field,
                       bg_field_view *out);

/* Whether a record is removed: its verwijderd field is true and that removal had
 * seen every write on the record (an edit it had not seen keeps the record). */
bg_err bg_engine_deleted(bg_engine *e, bg_str client, uint32_t rtype, bg_str rid, bool *deleted,
                         bool *edit_won);

/* The causal context for a new local write to a record: what this replica has
 * seen of it (an owned copy in *out, which is replaced). */
bg_err bg_engine_record_context(bg_engine *e, bg_str client, uint32_t rtype, bg_str rid, bg_vv *out);

/* The causal context a signature of the plan of `cycle` records: what this
 * replica has seen of the plan's records (plan, doelen, acties). */
bg_err bg_engine_plan_context(bg_engine *e, bg_str client, uint32_t cycle, bg_vv *out);

/* Fill in what a new local write carries from this replica's state: the causal
 * context (the record's; for a signature, the plan's) and the traject position
 * seen. w->client, rtype, rid, field and value must be set; w->ctx becomes an
 * owned vector (bg_vv_free). The caller sets dot, author and hlc. */
bg_err bg_engine_context_for(bg_engine *e, bg_write *w);

/* Whether applying `w` may reclassify writes of other records: a signature of
 * the begeleidingsplan (its coverage decides which writes of the plan's doelen
 * and acties stand). A replica that shows records redraws them after one. */
bool bg_engine_is_signature(const bg_write *w);

/* Whether the plan of `cycle` carries an applied signature. */
bg_err bg_engine_plan_signed(bg_engine *e, bg_str client, uint32_t cycle, bool *is_signed);

/* The traject's visible position; {0, BG_PH_NONE} when none was written. */
bg_err bg_engine_position(bg_engine *e, bg_str client, bg_pos *out);

/* One entry of bg_engine_entries: a conflict entry or a wijzigingsvoorstel. */
typedef struct bg_entry {
  bool proposal;              /* wijzigingsvoorstel (else conflict entry) */
  bg_err reason;              /* proposal: BG_E_WINDOW or BG_E_PLAN_SIGNED */
  uint8_t kind;               /* conflict: bg_conflict_kind */
  uint8_t rule;               /* conflict: the rule that decided */
  const bg_write *write;      /* the write not shown (the loser, the proposal) */
  const bg_write *winner;     /* conflict: the write shown instead */
  bool resolved;              /* bg_engine_resolved: a conflict someone resolved */
  const bg_write *resolver;   /* resolved: the write that had seen both and replaced them */
} bg_entry;

typedef bg_err (*bg_entry_cb)(void *arg, const bg_entry *entry);

/* The id by which devices and the office name an entry: 'c' (conflict entry)
 * or 'p' (wijzigingsvoorstel), then the device and counter of the write not
 * shown: "c3.17". Unique, since dots are. */
#define BG_ENTRY_ID_MAX 48
void bg_entry_id(const bg_entry *entry, char out[BG_ENTRY_ID_MAX]);

/* Whether a decision was recorded on the wijzigingsvoorstel made by the write
 * with `dot`: a wijzigingsvoorstel record "<device>.<counter>" of the client
 * whose status is no longer open. (Not from inside an entries callback.) */
bg_err bg_engine_proposal_decided(bg_engine *e, bg_str client, bg_dot dot, bool *decided);

/* Every open conflict entry and every wijzigingsvoorstel of a client (all clients
 * when client.len == 0), in key order. The entry is valid during the call. */
bg_err bg_engine_entries(bg_engine *e, bg_str client, bg_entry_cb cb, void *arg);

/* Every resolved conflict of a client (all when client.len == 0): two concurrent
 * writes of one field with different values, both later replaced by a write
 * whose author had seen both (the resolver: the earliest such write, by HLC
 * time, device, counter). `write` is the one the field's rule did not prefer,
 * `winner` the other. A function of the set of writes, like the open entries;
 * it reads each field's history, so it costs more than bg_engine_entries. */
bg_err bg_engine_resolved(bg_engine *e, bg_str client, bg_entry_cb cb, void *arg);

/* SHA-256 over a canonical encoding of the visible state, the conflict entries
 * and the wijzigingsvoorstellen of one client (all when client.len == 0).
 * Replicas that received the same writes have the same digest. */
bg_err bg_engine_digest(bg_engine *e, bg_str client, uint8_t out[32]);

/* Recompute every record of a client (all when client.len == 0) from the log of
 * writes received. The result equals what the incremental path built; after a
 * repair of a store, or as the oracle in tests. */
bg_err bg_engine_rebuild(bg_engine *e, bg_str client);

/* Take back a write this replica applied that exists nowhere else: a device's
 * own write the office refused. Its log entry goes and the client's records
 * are rebuilt from the rest, as if it had never been applied. Only for that
 * case: forgetting a write others hold breaks convergence. BG_E_NOT_FOUND when
 * the write is not in the log. Costs a rebuild of the client. */
bg_err bg_engine_forget(bg_engine *e, const bg_write *w);

/* How a received write is accounted for (for the "nothing lost" check). */
typedef enum bg_fate {
  BG_FATE_MISSING = 0,    /* not received */
  BG_FATE_VISIBLE,        /* its value is shown */
  BG_FATE_SUPERSEDED,     /* a later write by someone who had seen it replaced it */
  BG_FATE_CONFLICT,       /* kept as a conflict entry */
  BG_FATE_SUBSUMED,       /* R3: a concurrent status further along was taken */
  BG_FATE_EQUAL,          /* concurrent with the visible write, same value */
  BG_FATE_PROPOSAL,       /* kept as a wijzigingsvoorstel */
} bg_fate;
const char *bg_fate_name(int fate);

bg_err bg_engine_fate(bg_engine *e, const bg_write *w, bg_fate *fate);

#endif /* BG_ENGINE_H */
