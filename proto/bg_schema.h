/*
 * bg_schema.h - the records of the 8-fasenmodel as one declarative table.
 *
 * Everything both ends derive from the domain lives here: record types, their
 * fields, each field's value type, its field group (which decides the window:
 * the phases in which it may be edited) and the rule that resolves concurrent
 * writes to it. The client library builds its SQL tables from this table, the
 * merge engine (bg_engine.h) its behaviour, both ends their validation. Nothing
 * about a record is written down anywhere else. docs/RULES.md explains it.
 *
 * Identity. A record is (client id, record type, record id). Record ids say
 * where the record belongs, so that every write can be judged on its own:
 *   singleton            "c" (client), "t" (traject), "a", "i", "o", "u"
 *   per cycle            "<cycle>"                     begeleidingsplan, evaluatie
 *   per cycle+leefgebied "<cycle>/<leefgebied>"        persoonsbeschrijving
 *   made in a cycle      "<cycle>:<device>.<counter>"  doel, actie
 *   made any time        "<device>.<counter>"          netwerkcontact, rapportage
 *   organisation data    "<key>" under client "_org"   leefgebied
 * <device>.<counter> is the dot of the write that created the record: unique
 * without coordination, so a caseworker can add a doel offline.
 *
 * Ids and numbers here are stable: a field id is never reused or renumbered;
 * BG_SCHEMA_VERSION goes up whenever the table changes, and HELLO carries it.
 *
 * Versions: 1 the first table. 2 adds traject.begeleider (field 2) in the new
 * group BG_G_ASSIGN: the user id of the client's trajectbegeleider, written by
 * the office (an administrator) when it registers or moves a client, so that a
 * device learns from the data whether its user leads the traject - the author
 * flag `tb` that R2 ranks by. A device on schema 1 would refuse the field as
 * unknown, hence the bump.
 */
#ifndef BG_SCHEMA_H
#define BG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_error.h"
#include "bg_msg.h"

#define BG_SCHEMA_VERSION 2u

/* The client id under which organisation-wide records (leefgebieden) live. Client
 * ids starting with '_' are reserved. */
#define BG_ORG_CLIENT "_org"

/* --- phases -------------------------------------------------------------------- */

typedef enum bg_phase {
  BG_PH_NONE = 0, /* no traject position seen (organisation records) */
  BG_PH_AANMELDING = 1,
  BG_PH_INTAKE = 2,
  BG_PH_OPSTART = 3,
  BG_PH_ANALYSE = 4,
  BG_PH_PLANNING = 5,
  BG_PH_UITVOERING = 6,
  BG_PH_EVALUATIE = 7,
  BG_PH_UITSTROOM = 8,
  BG_PH_GESLOTEN = 9, /* traject closed */
} bg_phase;
#define BG_PHASE_MAX 9

/* "aanmelding", ..., "gesloten"; "?" for anything else. */
const char *bg_phase_name(int phase);
/* Phase by name; 0 when unknown. */
int bg_phase_by_name(const char *name, size_t len);

/* --- roles --------------------------------------------------------------------- */

typedef enum bg_role {
  BG_ROLE_BEGELEIDER = 1, /* caseworker: the clients of their teams */
  BG_ROLE_OFFICE = 2,     /* intake staff, team leads: every client */
  BG_ROLE_ADMIN = 3,      /* administrators: every client, organisation data */
} bg_role;
const char *bg_role_name(int role);
int bg_role_by_name(const char *name, size_t len);

/* --- enumerations (decisions, statuses, kinds) ----------------------------------- */

typedef struct bg_enum_def {
  const char *name;          /* "aanmeldingsbesluit" */
  const char *const *values; /* value keys, in rank order: low to high */
  uint8_t n;
} bg_enum_def;

/* Rank of a value key in its enumeration (0-based), -1 when not a member. */
int bg_enum_rank(const bg_enum_def *e, const char *key, size_t len);

extern const bg_enum_def bg_enum_aanmeldingsbesluit; /* afwijzing < doorverwijzing < intakegesprek < spoedopname */
extern const bg_enum_def bg_enum_intakebesluit;      /* afwijzing < ... < toelating */
extern const bg_enum_def bg_enum_evaluatiebesluit;   /* uitstroom < voortzetten */
extern const bg_enum_def bg_enum_actiestatus;        /* open < bezig < vervallen < afgerond */
extern const bg_enum_def bg_enum_rapportagesoort;
extern const bg_enum_def bg_enum_actiewie;           /* client, begeleider, netwerk */
extern const bg_enum_def bg_enum_netwerksoort;       /* formeel, informeel */
extern const bg_enum_def bg_enum_uitstroomreden;
extern const bg_enum_def bg_enum_voorstelstatus;     /* open < afgewezen < overgenomen */

/* --- field groups: windows ----------------------------------------------------- */

typedef enum bg_group_id {
  BG_G_CLIENT = 1,     /* personalia, netwerkcontact: any phase until closed */
  BG_G_AANMELDING,     /* phase 1 */
  BG_G_INTAKE,         /* phase 2 */
  BG_G_OPSTART,        /* phase 3 */
  BG_G_PB,             /* persoonsbeschrijving: phase 4 of the record's cycle */
  BG_G_PLAN,           /* plan content: phase 5 of the record's cycle, until signed (R1) */
  BG_G_SIGN,           /* the client's signature: phase 5 of the plan's cycle */
  BG_G_UITVOERING,     /* actie status and progress: phases 6-7 of the record's cycle */
  BG_G_EVALUATIE,      /* phase 7 of the record's cycle */
  BG_G_UITSTROOM,      /* phase 8 */
  BG_G_TRAJECT,        /* the traject position: moved by the phase machine */
  BG_G_RAPPORTAGE,     /* any phase until closed; written once */
  BG_G_REVIEW,         /* decisions on proposals and conflicts: any phase */
  BG_G_ORG,            /* organisation data: administrators, any time */
  BG_G_ASSIGN,         /* who leads the traject (toewijzing): administrators, any time */
} bg_group_id;
#define BG_GROUP_MAX BG_G_ASSIGN

typedef struct bg_group_def {
  uint8_t id;
  const char *name;
  uint16_t phases;  /* bit p set: editable when the writer saw phase p */
  bool same_cycle;  /* the writer's cycle must equal the record's cycle */
  bool admin_only;  /* only BG_ROLE_ADMIN may write */
} bg_group_def;

const bg_group_def *bg_group(int id);

/* --- rules --------------------------------------------------------------------- */

typedef enum bg_rule {
  BG_RULE_R2 = 2,        /* trajectbegeleider leads, then later HLC, then higher device */
  BG_RULE_R3 = 3,        /* progress is monotone: maximum of the enumeration */
  BG_RULE_R4 = 4,        /* when in doubt, care continues: maximum of the enumeration */
  BG_RULE_R5 = 5,        /* the phase moves forward: largest position */
  BG_RULE_ONCE = 6,      /* written once (rapportage): the first write stands */
} bg_rule;
const char *bg_rule_name(int rule); /* "R2", ..., "once" */

/* --- fields and record types ------------------------------------------------- */

typedef enum bg_ftype {
  BG_FT_TEXT = 1, /* UTF-8 string, at most maxlen bytes */
  BG_FT_INT,      /* integer in min..max */
  BG_FT_BOOL,
  BG_FT_DATE,     /* "YYYY-MM-DD" */
  BG_FT_ENUM,     /* a value key of `enm` */
  BG_FT_POS,      /* traject position (cycle, phase) as cycle * 16 + phase */
} bg_ftype;

typedef struct bg_field_def {
  uint16_t id;          /* stable, > 0 */
  const char *name;     /* SQL column and CLI name */
  uint8_t type;         /* bg_ftype */
  uint8_t group;        /* bg_group_id */
  uint8_t rule;         /* bg_rule */
  const bg_enum_def *enm; /* BG_FT_ENUM */
  int64_t min, max;     /* BG_FT_INT range; BG_FT_TEXT max bytes */
} bg_field_def;

/* The field every deletable record has: writing true is a tombstone. */
#define BG_FIELD_DELETED_NAME "verwijderd"

typedef enum bg_keying {
  BG_KEY_SINGLETON = 1, /* rid is the fixed string `key` */
  BG_KEY_CYCLE,         /* "<cycle>" */
  BG_KEY_CYCLE_LG,      /* "<cycle>/<leefgebied>" */
  BG_KEY_CYCLE_DOT,     /* "<cycle>:<device>.<counter>" */
  BG_KEY_DOT,           /* "<device>.<counter>" */
  BG_KEY_NAME,          /* "<name>" (organisation data) */
} bg_keying;

typedef struct bg_rtype_def {
  uint16_t id;             /* stable, > 0 */
  const char *name;        /* SQL table and CLI name */
  uint8_t keying;          /* bg_keying */
  const char *key;         /* BG_KEY_SINGLETON: the record id */
  bool org;                /* lives under BG_ORG_CLIENT */
  const bg_field_def *fields;
  uint16_t n_fields;
} bg_rtype_def;

/* Record types 1..BG_RTYPE_MAX (stable ids). */
enum {
  BG_RT_CLIENT = 1,
  BG_RT_TRAJECT = 2,
  BG_RT_AANMELDING = 3,
  BG_RT_INTAKE = 4,
  BG_RT_OPSTART = 5,
  BG_RT_PB = 6,
  BG_RT_PLAN = 7,
  BG_RT_DOEL = 8,
  BG_RT_ACTIE = 9,
  BG_RT_NETWERK = 10,
  BG_RT_RAPPORTAGE = 11,
  BG_RT_EVALUATIE = 12,
  BG_RT_UITSTROOM = 13,
  BG_RT_LEEFGEBIED = 14,
  BG_RT_VOORSTEL = 15,
};
#define BG_RTYPE_MAX 15

/* Record type by id (NULL when unknown) or by name. */
const bg_rtype_def *bg_rtype(uint32_t id);
const bg_rtype_def *bg_rtype_by_name(const char *name, size_t len);

/* Field of a record type by id or name (NULL when unknown). */
const bg_field_def *bg_field(const bg_rtype_def *rt, uint32_t id);
const bg_field_def *bg_field_by_name(const bg_rtype_def *rt, const char *name, size_t len);

/* The default leefgebieden, shipped as organisation data: key and display name. */
typedef struct bg_leefgebied_def {
  const char *key;  /* stable key used in record ids: "financien" */
  const char *naam; /* display name: "Financiën" */
} bg_leefgebied_def;
extern const bg_leefgebied_def bg_default_leefgebieden[];
extern const size_t bg_n_default_leefgebieden;

/* --- record ids ------------------------------------------------------------------ */

/* What a record id says: the cycle it belongs to (0 when none). */
typedef struct bg_rid_info {
  uint32_t cycle;
  bool has_cycle;
} bg_rid_info;

/* Parse and check a record id against its type's keying. BG_E_UNKNOWN_RECORD when
 * malformed (the message says how it should look). Leefgebied keys are checked for
 * shape (lowercase ASCII, digits, '-', '_'), not membership: organisations add
 * their own. */
bg_err bg_rid_parse(const bg_rtype_def *rt, bg_str rid, bg_rid_info *out);

/* --- values ---------------------------------------------------------------------- */

/* Check a value against its field: type, range (text: bytes, valid UTF-8),
 * enumeration membership, date shape (a real date from 1900 on). Nil (a cleared
 * field) is always allowed. BG_E_VALUE otherwise. */
bg_err bg_value_check(const bg_field_def *f, const bg_value *v);

/* --- traject positions -------------------------------------------------------------- */

typedef struct bg_pos {
  uint32_t cycle; /* 0 during aanmelding, intake and opstart; 1 from the first analyse */
  uint8_t phase;  /* bg_phase */
} bg_pos;

int64_t bg_pos_encode(bg_pos p);           /* cycle * 16 + phase */
bool bg_pos_decode(int64_t v, bg_pos *p);  /* false when not a valid position */

/* The decisions that drive the phase machine, as the writer sees them. NULL for
 * a decision not taken. */
typedef struct bg_decisions {
  const char *aanmeldingsbesluit;
  const char *intakebesluit;
  const char *evaluatiebesluit;
  bool plan_signed; /* the current cycle's plan carries the client's signature */
} bg_decisions;

/*
 * Whether the traject may move from `from` to `to`, given the decisions. The
 * allowed moves (DOMAIN.md): 1->2 (intakegesprek), 1->3 (spoedopname),
 * 1->closed (doorverwijzing, afwijzing), 2->3 (toelating, proefbegeleiding,
 * voorwaardelijke toelating), 2->2 (wachtlijst), 2->closed (doorverwijzing,
 * afwijzing), 3->4 (cycle 1 starts), 4->5, 5->6 (plan signed), 6->7,
 * 7->4 or 7->5 (voortzetten; cycle + 1), 7->8 (uitstroom), 8->closed; and the
 * creation of a traject: from no position ({0, BG_PH_NONE}) to aanmelding.
 * With `d` NULL only the structure is checked, not the decisions: that is what
 * the merge engine can judge, since decisions are not part of a write.
 * BG_E_PHASE_TRANSITION otherwise, with `why` (may be NULL) naming the current
 * and the requested phase and what is missing.
 */
bg_err bg_phase_check(bg_pos from, bg_pos to, const bg_decisions *d, char *why, size_t why_len);

#endif /* BG_SCHEMA_H */
