/*
 * bg_schema.c - the schema table, the phase machine, value and record-id checks
 * (see bg_schema.h).
 */
#include "bg_schema.h"

#include <stdio.h>
#include <string.h>

/* --- names ------------------------------------------------------------------------ */

static const char *const bg__phase_names[] = {
    "geen", "aanmelding", "intake", "opstart", "analyse", "planning",
    "uitvoering", "evaluatie", "uitstroom", "gesloten"};

const char *bg_phase_name(int phase) {
  return phase >= 0 && phase <= BG_PHASE_MAX ? bg__phase_names[phase] : "?";
}

static int bg__name_index(const char *const *names, int n, const char *s, size_t len) {
  for (int i = 0; i < n; i++)
    if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) return i;
  return -1;
}

int bg_phase_by_name(const char *name, size_t len) {
  int i = bg__name_index(bg__phase_names, BG_PHASE_MAX + 1, name, len);
  return i > 0 ? i : 0;
}

static const char *const bg__role_names[] = {"?", "begeleider", "office", "admin"};

const char *bg_role_name(int role) { return role >= 1 && role <= 3 ? bg__role_names[role] : "?"; }

int bg_role_by_name(const char *name, size_t len) {
  int i = bg__name_index(bg__role_names, 4, name, len);
  return i > 0 ? i : 0;
}

const char *bg_rule_name(int rule) {
  switch (rule) {
    case BG_RULE_R2: return "R2";
    case BG_RULE_R3: return "R3";
    case BG_RULE_R4: return "R4";
    case BG_RULE_R5: return "R5";
    case BG_RULE_ONCE: return "once";
    default: return "?";
  }
}

/* --- enumerations, values in rank order ---------------------------------------------- */

#define ENUM(var, name, ...)                                                   \
  static const char *const var##_values[] = {__VA_ARGS__};                    \
  const bg_enum_def var = {name, var##_values,                                \
                           (uint8_t)(sizeof var##_values / sizeof var##_values[0])}

ENUM(bg_enum_aanmeldingsbesluit, "aanmeldingsbesluit", "afwijzing", "doorverwijzing", "intakegesprek",
     "spoedopname");
ENUM(bg_enum_intakebesluit, "intakebesluit", "afwijzing", "doorverwijzing", "wachtlijst",
     "proefbegeleiding", "voorwaardelijke_toelating", "toelating");
ENUM(bg_enum_evaluatiebesluit, "evaluatiebesluit", "uitstroom", "voortzetten");
ENUM(bg_enum_actiestatus, "actiestatus", "open", "bezig", "vervallen", "afgerond");
ENUM(bg_enum_rapportagesoort, "rapportagesoort", "begeleidingsgesprek", "voortgangsgesprek",
     "evaluatiegesprek", "exitgesprek", "overig");
ENUM(bg_enum_actiewie, "actiewie", "client", "begeleider", "netwerk");
ENUM(bg_enum_netwerksoort, "netwerksoort", "formeel", "informeel");
ENUM(bg_enum_uitstroomreden, "uitstroomreden", "doelen_bereikt", "verhuisd", "doorverwezen",
     "voortijdig_gestopt", "overleden", "overig");
ENUM(bg_enum_voorstelstatus, "voorstelstatus", "open", "afgewezen", "overgenomen");

int bg_enum_rank(const bg_enum_def *e, const char *key, size_t len) {
  return bg__name_index(e->values, e->n, key, len);
}

/* --- groups ------------------------------------------------------------------------- */

#define PH(p) (1u << (p))
#define UNTIL_CLOSED (PH(1) | PH(2) | PH(3) | PH(4) | PH(5) | PH(6) | PH(7) | PH(8))

static const bg_group_def bg__groups[BG_GROUP_MAX + 1] = {
    [BG_G_CLIENT] = {BG_G_CLIENT, "client", UNTIL_CLOSED, false, false},
    [BG_G_AANMELDING] = {BG_G_AANMELDING, "aanmelding", PH(1), false, false},
    [BG_G_INTAKE] = {BG_G_INTAKE, "intake", PH(2), false, false},
    [BG_G_OPSTART] = {BG_G_OPSTART, "opstart", PH(3), false, false},
    [BG_G_PB] = {BG_G_PB, "persoonsbeschrijving", PH(4), true, false},
    [BG_G_PLAN] = {BG_G_PLAN, "plan", PH(5), true, false},
    [BG_G_SIGN] = {BG_G_SIGN, "ondertekening", PH(5), true, false},
    [BG_G_UITVOERING] = {BG_G_UITVOERING, "uitvoering", PH(6) | PH(7), true, false},
    [BG_G_EVALUATIE] = {BG_G_EVALUATIE, "evaluatie", PH(7), true, false},
    [BG_G_UITSTROOM] = {BG_G_UITSTROOM, "uitstroom", PH(8), false, false},
    [BG_G_TRAJECT] = {BG_G_TRAJECT, "traject", UNTIL_CLOSED | PH(BG_PH_NONE), false, false},
    [BG_G_RAPPORTAGE] = {BG_G_RAPPORTAGE, "rapportage", UNTIL_CLOSED, false, false},
    [BG_G_REVIEW] = {BG_G_REVIEW, "beoordeling", UNTIL_CLOSED | PH(BG_PH_GESLOTEN), false, false},
    [BG_G_ORG] = {BG_G_ORG, "organisatie", 0x3ff, false, true},
    /* Any phase, none and closed included: the office (re)assigns a client
     * whenever it must, and a device must learn it whatever it saw. */
    [BG_G_ASSIGN] = {BG_G_ASSIGN, "toewijzing", 0x3ff, false, true},
};

const bg_group_def *bg_group(int id) {
  return id >= 1 && id <= BG_GROUP_MAX ? &bg__groups[id] : NULL;
}

/* --- the records ----------------------------------------------------------------------- */

#define TEXT(id, name, group, maxlen) {id, name, BG_FT_TEXT, group, BG_RULE_R2, NULL, 0, maxlen}
#define DATE(id, name, group) {id, name, BG_FT_DATE, group, BG_RULE_R2, NULL, 0, 0}
#define INT(id, name, group, lo, hi) {id, name, BG_FT_INT, group, BG_RULE_R2, NULL, lo, hi}
#define BOOL(id, name, group) {id, name, BG_FT_BOOL, group, BG_RULE_R2, NULL, 0, 1}
#define ENUMF(id, name, group, rule, e) {id, name, BG_FT_ENUM, group, rule, &e, 0, 0}
#define ONCE(id, name, type, e, maxlen) {id, name, type, BG_G_RAPPORTAGE, BG_RULE_ONCE, e, 0, maxlen}

#define SHORT 200u
#define LONG 20000u

static const bg_field_def bg__client[] = {
    TEXT(1, "naam", BG_G_CLIENT, SHORT),         DATE(2, "geboortedatum", BG_G_CLIENT),
    TEXT(3, "adres", BG_G_CLIENT, SHORT),        TEXT(4, "telefoon", BG_G_CLIENT, 40),
    TEXT(5, "email", BG_G_CLIENT, SHORT),        TEXT(6, "bijzonderheden", BG_G_CLIENT, LONG),
};
static const bg_field_def bg__traject[] = {
    {1, "positie", BG_FT_POS, BG_G_TRAJECT, BG_RULE_R5, NULL, 0, 0},
    INT(2, "begeleider", BG_G_ASSIGN, 1, INT64_MAX), /* user id of the trajectbegeleider */
};
static const bg_field_def bg__aanmelding[] = {
    DATE(1, "datum", BG_G_AANMELDING),
    TEXT(2, "gesprek", BG_G_AANMELDING, LONG),
    TEXT(3, "overweging", BG_G_AANMELDING, LONG),
    ENUMF(4, "besluit", BG_G_AANMELDING, BG_RULE_R4, bg_enum_aanmeldingsbesluit),
};
static const bg_field_def bg__intake[] = {
    DATE(1, "datum", BG_G_INTAKE),
    TEXT(2, "gesprek", BG_G_INTAKE, LONG),
    TEXT(3, "overweging", BG_G_INTAKE, LONG),
    ENUMF(4, "besluit", BG_G_INTAKE, BG_RULE_R4, bg_enum_intakebesluit),
};
static const bg_field_def bg__opstart[] = {
    BOOL(1, "indicatie_geregeld", BG_G_OPSTART),   BOOL(2, "huisvesting_geregeld", BG_G_OPSTART),
    BOOL(3, "eerste_afspraken", BG_G_OPSTART),     TEXT(4, "notities", BG_G_OPSTART, LONG),
};
static const bg_field_def bg__pb[] = {
    TEXT(1, "situatie", BG_G_PB, LONG),   TEXT(2, "krachten", BG_G_PB, LONG),
    TEXT(3, "zwaktes", BG_G_PB, LONG),    TEXT(4, "wensen", BG_G_PB, LONG),
    TEXT(5, "toekomst", BG_G_PB, LONG),
};
static const bg_field_def bg__plan[] = {
    TEXT(1, "einddoel", BG_G_PLAN, LONG),
    TEXT(2, "handtekening", BG_G_SIGN, SHORT), /* the client's signature (name, place) */
    DATE(3, "getekend_op", BG_G_SIGN),
};
static const bg_field_def bg__doel[] = {
    TEXT(1, "leefgebied", BG_G_PLAN, 64),      TEXT(2, "omschrijving", BG_G_PLAN, LONG),
    TEXT(3, "termijn", BG_G_PLAN, SHORT),      INT(4, "prioriteit", BG_G_PLAN, 1, 5),
    BOOL(5, BG_FIELD_DELETED_NAME, BG_G_PLAN),
};
static const bg_field_def bg__actie[] = {
    TEXT(1, "doel", BG_G_PLAN, 64),            TEXT(2, "omschrijving", BG_G_PLAN, LONG),
    ENUMF(3, "wie", BG_G_PLAN, BG_RULE_R2, bg_enum_actiewie),
    DATE(4, "deadline", BG_G_PLAN),            INT(5, "prioriteit", BG_G_PLAN, 1, 5),
    BOOL(6, BG_FIELD_DELETED_NAME, BG_G_PLAN),
    ENUMF(7, "status", BG_G_UITVOERING, BG_RULE_R3, bg_enum_actiestatus),
    TEXT(8, "voortgang", BG_G_UITVOERING, LONG),
};
static const bg_field_def bg__netwerk[] = {
    TEXT(1, "naam", BG_G_CLIENT, SHORT),
    ENUMF(2, "soort", BG_G_CLIENT, BG_RULE_R2, bg_enum_netwerksoort),
    TEXT(3, "rol", BG_G_CLIENT, SHORT),        TEXT(4, "telefoon", BG_G_CLIENT, 40),
    BOOL(5, BG_FIELD_DELETED_NAME, BG_G_CLIENT),
};
static const bg_field_def bg__rapportage[] = {
    ONCE(1, "soort", BG_FT_ENUM, &bg_enum_rapportagesoort, 0),
    ONCE(2, "datum", BG_FT_DATE, NULL, 0),
    ONCE(3, "tekst", BG_FT_TEXT, NULL, LONG),
    ONCE(4, "leefgebied", BG_FT_TEXT, NULL, 64),
    ONCE(5, "corrigeert", BG_FT_TEXT, NULL, 64), /* record id of the entry it corrects */
};
static const bg_field_def bg__evaluatie[] = {
    DATE(1, "datum", BG_G_EVALUATIE),
    TEXT(2, "gesprek", BG_G_EVALUATIE, LONG),
    TEXT(3, "overweging", BG_G_EVALUATIE, LONG),
    TEXT(4, "rapport", BG_G_EVALUATIE, LONG),
    ENUMF(5, "besluit", BG_G_EVALUATIE, BG_RULE_R4, bg_enum_evaluatiebesluit),
};
static const bg_field_def bg__uitstroom[] = {
    BOOL(1, "afscheid", BG_G_UITSTROOM),       TEXT(2, "nazorg", BG_G_UITSTROOM, LONG),
    TEXT(3, "overdracht", BG_G_UITSTROOM, LONG), TEXT(4, "netwerk", BG_G_UITSTROOM, LONG),
    BOOL(5, "exitgesprek", BG_G_UITSTROOM),    INT(6, "tevredenheid", BG_G_UITSTROOM, 1, 10),
    ENUMF(7, "reden", BG_G_UITSTROOM, BG_RULE_R2, bg_enum_uitstroomreden),
};
static const bg_field_def bg__leefgebied[] = {
    TEXT(1, "naam", BG_G_ORG, SHORT), INT(2, "volgorde", BG_G_ORG, 0, 1000), BOOL(3, "actief", BG_G_ORG),
};
static const bg_field_def bg__voorstel[] = {
    ENUMF(1, "status", BG_G_REVIEW, BG_RULE_R4, bg_enum_voorstelstatus),
    TEXT(2, "toelichting", BG_G_REVIEW, LONG),
};

#define RT(id, name, keying, key, org, f) {id, name, keying, key, org, f, sizeof f / sizeof f[0]}
static const bg_rtype_def bg__rtypes[BG_RTYPE_MAX + 1] = {
    [BG_RT_CLIENT] = RT(BG_RT_CLIENT, "client", BG_KEY_SINGLETON, "c", false, bg__client),
    [BG_RT_TRAJECT] = RT(BG_RT_TRAJECT, "traject", BG_KEY_SINGLETON, "t", false, bg__traject),
    [BG_RT_AANMELDING] = RT(BG_RT_AANMELDING, "aanmelding", BG_KEY_SINGLETON, "a", false, bg__aanmelding),
    [BG_RT_INTAKE] = RT(BG_RT_INTAKE, "intake", BG_KEY_SINGLETON, "i", false, bg__intake),
    [BG_RT_OPSTART] = RT(BG_RT_OPSTART, "opstart", BG_KEY_SINGLETON, "o", false, bg__opstart),
    [BG_RT_PB] = RT(BG_RT_PB, "persoonsbeschrijving", BG_KEY_CYCLE_LG, NULL, false, bg__pb),
    [BG_RT_PLAN] = RT(BG_RT_PLAN, "begeleidingsplan", BG_KEY_CYCLE, NULL, false, bg__plan),
    [BG_RT_DOEL] = RT(BG_RT_DOEL, "doel", BG_KEY_CYCLE_DOT, NULL, false, bg__doel),
    [BG_RT_ACTIE] = RT(BG_RT_ACTIE, "actie", BG_KEY_CYCLE_DOT, NULL, false, bg__actie),
    [BG_RT_NETWERK] = RT(BG_RT_NETWERK, "netwerkcontact", BG_KEY_DOT, NULL, false, bg__netwerk),
    [BG_RT_RAPPORTAGE] = RT(BG_RT_RAPPORTAGE, "rapportage", BG_KEY_DOT, NULL, false, bg__rapportage),
    [BG_RT_EVALUATIE] = RT(BG_RT_EVALUATIE, "evaluatie", BG_KEY_CYCLE, NULL, false, bg__evaluatie),
    [BG_RT_UITSTROOM] = RT(BG_RT_UITSTROOM, "uitstroom", BG_KEY_SINGLETON, "u", false, bg__uitstroom),
    [BG_RT_LEEFGEBIED] = RT(BG_RT_LEEFGEBIED, "leefgebied", BG_KEY_NAME, NULL, true, bg__leefgebied),
    [BG_RT_VOORSTEL] = RT(BG_RT_VOORSTEL, "wijzigingsvoorstel", BG_KEY_DOT, NULL, false, bg__voorstel),
};

const bg_rtype_def *bg_rtype(uint32_t id) {
  return id >= 1 && id <= BG_RTYPE_MAX ? &bg__rtypes[id] : NULL;
}

const bg_rtype_def *bg_rtype_by_name(const char *name, size_t len) {
  for (uint32_t i = 1; i <= BG_RTYPE_MAX; i++) {
    const char *n = bg__rtypes[i].name;
    if (strlen(n) == len && memcmp(n, name, len) == 0) return &bg__rtypes[i];
  }
  return NULL;
}

const bg_field_def *bg_field(const bg_rtype_def *rt, uint32_t id) {
  for (uint16_t i = 0; i < rt->n_fields; i++)
    if (rt->fields[i].id == id) return &rt->fields[i];
  return NULL;
}

const bg_field_def *bg_field_by_name(const bg_rtype_def *rt, const char *name, size_t len) {
  for (uint16_t i = 0; i < rt->n_fields; i++)
    if (strlen(rt->fields[i].name) == len && memcmp(rt->fields[i].name, name, len) == 0) return &rt->fields[i];
  return NULL;
}

const bg_leefgebied_def bg_default_leefgebieden[] = {
    {"zingeving", "Zingeving"},
    {"wonen", "Wonen"},
    {"financien", "Financi\xc3\xabn"},
    {"sociale_relaties", "Sociale relaties"},
    {"lichamelijke_gezondheid", "Lichamelijke gezondheid"},
    {"psychische_gezondheid", "Psychische gezondheid"},
    {"werk_en_activiteiten", "Werk en activiteiten"},
};
const size_t bg_n_default_leefgebieden = sizeof bg_default_leefgebieden / sizeof bg_default_leefgebieden[0];

/* --- record ids ----------------------------------------------------------------------- */

/* Parse a decimal number without sign or leading zeros (except "0"), any u64. */
static bool bg__num(const char **p, const char *end, uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;
  if (s >= end || *s < '0' || *s > '9') return false;
  if (*s == '0' && s + 1 < end && s[1] >= '0' && s[1] <= '9') return false;
  while (s < end && *s >= '0' && *s <= '9') {
    uint64_t d = (uint64_t)(*s++ - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *p = s;
  *out = v;
  return true;
}

static bool bg__is_key(const char *s, const char *end) {
  if (s >= end || end - s > 48) return false;
  for (; s < end; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-')) return false;
  return true;
}

static bool bg__dot_str(const char **p, const char *end) {
  uint64_t dev, ctr;
  if (!bg__num(p, end, &dev) || dev == 0 || *p >= end || **p != '.') return false;
  (*p)++;
  return bg__num(p, end, &ctr) && ctr > 0;
}

bg_err bg_rid_parse(const bg_rtype_def *rt, bg_str rid, bg_rid_info *out) {
  const char *p = rid.p, *end = rid.p + rid.len;
  uint64_t cycle = 0;
  bool ok = false;
  out->cycle = 0;
  out->has_cycle = false;
  switch (rt->keying) {
    case BG_KEY_SINGLETON: ok = rid.len == strlen(rt->key) && memcmp(rid.p, rt->key, rid.len) == 0; break;
    case BG_KEY_CYCLE: ok = bg__num(&p, end, &cycle) && cycle > 0 && p == end; break;
    case BG_KEY_CYCLE_LG:
      ok = bg__num(&p, end, &cycle) && cycle > 0 && p < end && *p == '/' && bg__is_key(p + 1, end);
      break;
    case BG_KEY_CYCLE_DOT:
      ok = bg__num(&p, end, &cycle) && cycle > 0 && p < end && *p++ == ':' && bg__dot_str(&p, end) && p == end;
      break;
    case BG_KEY_DOT: ok = bg__dot_str(&p, end) && p == end; break;
    case BG_KEY_NAME: ok = bg__is_key(p, end); break;
  }
  if (!ok || cycle > UINT32_MAX) return BG_E_UNKNOWN_RECORD;
  out->cycle = (uint32_t)cycle;
  out->has_cycle = rt->keying == BG_KEY_CYCLE || rt->keying == BG_KEY_CYCLE_LG || rt->keying == BG_KEY_CYCLE_DOT;
  return BG_OK;
}

/* --- values ------------------------------------------------------------------------ */

static bool bg__date_ok(bg_str s) {
  static const uint8_t days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (s.len != 10 || s.p[4] != '-' || s.p[7] != '-') return false;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (s.p[i] < '0' || s.p[i] > '9')) return false;
  int y = (s.p[0] - '0') * 1000 + (s.p[1] - '0') * 100 + (s.p[2] - '0') * 10 + (s.p[3] - '0');
  int m = (s.p[5] - '0') * 10 + (s.p[6] - '0');
  int d = (s.p[8] - '0') * 10 + (s.p[9] - '0');
  if (y < 1900 || m < 1 || m > 12 || d < 1 || d > days[m - 1]) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return !(m == 2 && d == 29 && !leap);
}

bg_err bg_value_check(const bg_field_def *f, const bg_value *v) {
  if (v->type == BG_V_NIL) return BG_OK;
  switch (f->type) {
    case BG_FT_TEXT:
      return v->type == BG_V_STR && v->s.len <= (uint64_t)f->max && bg_utf8_valid(v->s.p, v->s.len) ? BG_OK
                                                                                                   : BG_E_VALUE;
    case BG_FT_INT:
      return v->type == BG_V_INT && v->i >= f->min && v->i <= f->max ? BG_OK : BG_E_VALUE;
    case BG_FT_BOOL: return v->type == BG_V_BOOL ? BG_OK : BG_E_VALUE;
    case BG_FT_DATE: return v->type == BG_V_STR && bg__date_ok(v->s) ? BG_OK : BG_E_VALUE;
    case BG_FT_ENUM:
      return v->type == BG_V_STR && bg_enum_rank(f->enm, v->s.p, v->s.len) >= 0 ? BG_OK : BG_E_VALUE;
    case BG_FT_POS: {
      bg_pos p;
      return v->type == BG_V_INT && bg_pos_decode(v->i, &p) ? BG_OK : BG_E_VALUE;
    }
  }
  return BG_E_VALUE;
}

/* --- positions and the phase machine ------------------------------------------------- */

int64_t bg_pos_encode(bg_pos p) { return (int64_t)p.cycle * 16 + p.phase; }

bool bg_pos_decode(int64_t v, bg_pos *p) {
  if (v < 0 || v / 16 > UINT32_MAX) return false;
  p->cycle = (uint32_t)(v / 16);
  p->phase = (uint8_t)(v % 16);
  if (p->phase < BG_PH_AANMELDING || p->phase > BG_PH_GESLOTEN) return false;
  /* Phases 1-3 come before the first cycle; 4-8 belong to a cycle. */
  if (p->phase >= BG_PH_ANALYSE && p->phase <= BG_PH_UITSTROOM) return p->cycle >= 1;
  if (p->phase < BG_PH_ANALYSE) return p->cycle == 0;
  return true; /* gesloten: from any cycle */
}

static bool bg__is(const char *a, const char *b) { return a != NULL && strcmp(a, b) == 0; }

bg_err bg_phase_check(bg_pos from, bg_pos to, const bg_decisions *d, char *why, size_t why_len) {
  const char *need = NULL; /* the decision the move needs, when it needs one */
  bool ok = false;         /* the move exists in the machine */
  bool decided = true;     /* its decision is there */
  bool same = to.cycle == from.cycle, next = to.cycle == from.cycle + 1;
  bool closing = to.phase == BG_PH_GESLOTEN && same;
#define NEEDS(cond, text) (ok = true, need = (text), decided = d == NULL || (cond))
  bg_pos tmp;
  bool from_valid = (from.phase == BG_PH_NONE && from.cycle == 0) || bg_pos_decode(bg_pos_encode(from), &tmp);
  bool to_valid = bg_pos_decode(bg_pos_encode(to), &tmp);
  int fp = from_valid && to_valid ? from.phase : -1; /* no move from or to a non-position */
  switch (fp) {
    case BG_PH_NONE: ok = from.cycle == 0 && to.cycle == 0 && to.phase == BG_PH_AANMELDING; break;
    case BG_PH_AANMELDING:
      if (to.phase == BG_PH_INTAKE && same)
        NEEDS(bg__is(d->aanmeldingsbesluit, "intakegesprek"), "aanmeldingsbesluit 'intakegesprek'");
      else if (to.phase == BG_PH_OPSTART && same)
        NEEDS(bg__is(d->aanmeldingsbesluit, "spoedopname"), "aanmeldingsbesluit 'spoedopname'");
      else if (closing)
        NEEDS(bg__is(d->aanmeldingsbesluit, "doorverwijzing") || bg__is(d->aanmeldingsbesluit, "afwijzing"),
              "aanmeldingsbesluit 'doorverwijzing' or 'afwijzing'");
      break;
    case BG_PH_INTAKE:
      if (to.phase == BG_PH_OPSTART && same)
        NEEDS(bg__is(d->intakebesluit, "toelating") || bg__is(d->intakebesluit, "proefbegeleiding") ||
                  bg__is(d->intakebesluit, "voorwaardelijke_toelating"),
              "intakebesluit 'toelating', 'proefbegeleiding' or 'voorwaardelijke_toelating'");
      else if (to.phase == BG_PH_INTAKE && same)
        NEEDS(bg__is(d->intakebesluit, "wachtlijst"), "intakebesluit 'wachtlijst'");
      else if (closing)
        NEEDS(bg__is(d->intakebesluit, "doorverwijzing") || bg__is(d->intakebesluit, "afwijzing"),
              "intakebesluit 'doorverwijzing' or 'afwijzing'");
      break;
    case BG_PH_OPSTART: ok = to.phase == BG_PH_ANALYSE && to.cycle == 1; break;
    case BG_PH_ANALYSE: ok = to.phase == BG_PH_PLANNING && same; break;
    case BG_PH_PLANNING:
      if (to.phase == BG_PH_UITVOERING && same) NEEDS(d->plan_signed, "the client's signature on the begeleidingsplan");
      break;
    case BG_PH_UITVOERING: ok = to.phase == BG_PH_EVALUATIE && same; break;
    case BG_PH_EVALUATIE:
      if ((to.phase == BG_PH_ANALYSE || to.phase == BG_PH_PLANNING) && next)
        NEEDS(bg__is(d->evaluatiebesluit, "voortzetten"), "evaluatiebesluit 'voortzetten'");
      else if (to.phase == BG_PH_UITSTROOM && same)
        NEEDS(bg__is(d->evaluatiebesluit, "uitstroom"), "evaluatiebesluit 'uitstroom'");
      break;
    case BG_PH_UITSTROOM: ok = closing; break;
    default: break;
  }
#undef NEEDS
  if (ok && decided) return BG_OK;
  if (why != NULL && why_len > 0) {
    if (ok)
      snprintf(why, why_len, "cannot move from %s (cycle %u) to %s (cycle %u) without %s",
               bg_phase_name(from.phase), from.cycle, bg_phase_name(to.phase), to.cycle, need);
    else
      snprintf(why, why_len, "cannot move from %s (cycle %u) to %s (cycle %u): not an allowed transition",
               bg_phase_name(from.phase), from.cycle, bg_phase_name(to.phase), to.cycle);
  }
  return BG_E_PHASE_TRANSITION;
}
