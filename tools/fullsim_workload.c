/*
 * fullsim_workload.c - what bgfullsim's devices write: mostly the next step of
 * the 8-fasenmodel for what the replica shows of a client (its phase, cycle
 * and decisions), several writes on one client in a row (a visit); some writes
 * chosen blindly; some that must be refused, with their codes checked; on an
 * office user's device, registrations of new clients. All through libbgsync's
 * public API and plain SQL on bgsync_db, as an app would.
 */
#define _DEFAULT_SOURCE /* uv.h, by way of fullsim.h */
#include "fullsim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "bgsync.h"

/* --- the workload: local writes ------------------------------------------------------------- */

/* What a replica shows of one client (its SQL tables): where the traject
 * stands, the decisions that move it on, a doel and an actie of its cycle. */
typedef struct view {
  int phase;              /* bg_phase; BG_PH_NONE before the position arrived */
  unsigned cycle;
  char aanmelding[32], intake[32], evaluatie[32]; /* the besluit (the cycle's), "" when none */
  bool signed_plan;       /* the cycle's plan shows a signature */
  char doel[BG_ID_MAX + 1], actie[BG_ID_MAX + 1]; /* record ids, "" when none */
} view;

/* The text of column `col`, "" when NULL. */
static void col_text(sqlite3_stmt *st, int col, char *out, size_t len) {
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(out, len, "%s", t ? (const char *)t : "");
}

/* One row of `sql` (binding ?1 the client, ?2 the cycle) chosen uniformly by
 * the seed; the text of its first column in out ("" when none). */
static bool pick_row(sim *S, sqlite3 *db, const char *sql, const char *client, unsigned cycle, char *out, size_t len) {
  sqlite3_stmt *st;
  out[0] = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
      sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 2, cycle) != SQLITE_OK) {
    fail(S, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return false;
  }
  int rc;
  uint32_t seen = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    if (below(S, ++seen) == 0) col_text(st, 0, out, len);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) fail(S, "%s: %s", sql, sqlite3_errmsg(db));
  return rc == SQLITE_DONE;
}

static bool view_read(sim *S, bgsync *r, const char *c, view *v) {
  static const char q[] =
      "SELECT coalesce(positie & 15, 0), coalesce(positie >> 4, 0),"
      " (SELECT besluit FROM aanmelding WHERE client = ?1), (SELECT besluit FROM intake WHERE client = ?1),"
      " (SELECT besluit FROM evaluatie e WHERE client = ?1 AND e.cycle = t.positie >> 4),"
      " EXISTS (SELECT 1 FROM begeleidingsplan p WHERE client = ?1 AND p.cycle = t.positie >> 4"
      "         AND handtekening IS NOT NULL)"
      " FROM traject t WHERE client = ?1";
  sqlite3 *db = bgsync_db(r);
  sqlite3_stmt *st;
  memset(v, 0, sizeof *v);
  if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK ||
      sqlite3_bind_text(st, 1, c, -1, SQLITE_STATIC) != SQLITE_OK) {
    fail(S, "view: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return false;
  }
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    v->phase = sqlite3_column_int(st, 0);
    v->cycle = (unsigned)sqlite3_column_int(st, 1);
    col_text(st, 2, v->aanmelding, sizeof v->aanmelding);
    col_text(st, 3, v->intake, sizeof v->intake);
    col_text(st, 4, v->evaluatie, sizeof v->evaluatie);
    v->signed_plan = sqlite3_column_int(st, 5) != 0;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    fail(S, "view: %s", sqlite3_errmsg(db));
    return false;
  }
  return pick_row(S, db, "SELECT rid FROM doel WHERE client = ?1 AND cycle = ?2 ORDER BY rid", c, v->cycle, v->doel,
                  sizeof v->doel) &&
         pick_row(S, db, "SELECT rid FROM actie WHERE client = ?1 AND cycle = ?2 ORDER BY rid", c, v->cycle, v->actie,
                  sizeof v->actie);
}

/* Plain SQL on the replica, captured as writes like the API's. */
static bg_err write_sql(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  sqlite3_free(msg);
  return rc == SQLITE_OK ? BG_OK : BG_E_USAGE;
}

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

/* Decide one of the client's conflict entries or wijzigingsvoorstellen, when
 * it has any (*what NULL when not). */
static bg_err write_resolve(sim *S, bgsync *r, const char *c, const char **what) {
  pick p = {S, "", false, 0};
  *what = NULL;
  bg_err e = bgsync_conflicts(r, c, conflict_cb, &p);
  if (e != BG_OK) {
    fail(S, "conflicts: %s", bgsync_errmsg(r));
    return e;
  }
  if (p.seen == 0) return BG_OK;
  *what = p.proposal ? "decide a proposal" : "resolve";
  return bgsync_resolve(r, p.id, chance(S, 50) ? 'A' : 'B', NULL);
}

static const char *const g_phases[] = {"intake", "opstart", "analyse", "planning", "uitvoering", "evaluatie"};

/* A write chosen blindly among the kinds the library takes: most of them are
 * refused locally (wrong phase, no cycle yet, a signed plan). */
static bg_err write_blind(sim *S, bgsync *r, const char *c, const char *text, const char **what) {
  sqlite3 *db = bgsync_db(r);
  char sql[1024];
  switch (below(S, 15)) {
    case 0: *what = "aanmelding.besluit"; return bgsync_set(r, c, *what, "intakegesprek");
    case 1:
    case 2: *what = g_phases[below(S, 6)]; return bgsync_phase(r, c, *what);
    case 3: *what = "intake.besluit"; return bgsync_set(r, c, *what, "toelating");
    case 4: *what = "persoonsbeschrijving:wonen.situatie"; return bgsync_set(r, c, *what, text);
    case 5: *what = "plan.einddoel"; return bgsync_set(r, c, *what, text);
    case 6: *what = "doel"; return bgsync_doel_add(r, c, "wonen", text, "6 maanden", 1 + (int)below(S, 3), NULL);
    case 7: *what = "sign"; return bgsync_sign(r, c, "handtekening", "2030-05-01");
    case 8: *what = "propose plan.einddoel"; return bgsync_propose(r, c, "plan.einddoel", text);
    case 9:
      *what = "note";
      return bgsync_note(r, c, chance(S, 50) ? "voortgangsgesprek" : "overig", text, NULL, NULL, NULL);
    case 10: *what = "client.adres"; return bgsync_set(r, c, *what, text);
    case 11:
    case 12:
      *what = "SQL";
      snprintf(sql, sizeof sql, "UPDATE client SET %s = '%s' WHERE client = '%s'", chance(S, 50) ? "adres" : "telefoon",
               text, c);
      return write_sql(db, sql);
    case 13:
      *what = "SQL doel";
      snprintf(sql, sizeof sql,
               "INSERT INTO doel(client, rid, omschrijving) VALUES('%s', bgsync_new_rid('doel', '%s'), '%s')", c, c,
               text);
      return write_sql(db, sql);
    default: return write_resolve(S, r, c, what); /* *what NULL: none open, no write */
  }
}

/* A write that fits any phase until the traject closes: a rapportage, the
 * client's personalia (API or SQL), a netwerkcontact (SQL), a decision on an
 * open conflict. */
static bg_err write_anytime(sim *S, bgsync *r, const char *c, const char *text, const char **what) {
  char sql[1024];
  uint32_t k = below(S, 5);
  if (k == 0) {
    bg_err e = write_resolve(S, r, c, what);
    if (*what) return e;
    k = 1; /* none open: a rapportage */
  }
  switch (k) {
    case 1:
      *what = "note";
      return bgsync_note(r, c, chance(S, 50) ? "voortgangsgesprek" : "begeleidingsgesprek", text, NULL, NULL, NULL);
    case 2: *what = chance(S, 50) ? "client.adres" : "client.telefoon"; return bgsync_set(r, c, *what, text);
    case 3:
      *what = "SQL client";
      snprintf(sql, sizeof sql, "UPDATE client SET %s = '%s' WHERE client = '%s'",
               chance(S, 50) ? "adres" : "bijzonderheden", text, c);
      return write_sql(bgsync_db(r), sql);
    default:
      *what = "SQL netwerkcontact";
      snprintf(sql, sizeof sql,
               "INSERT INTO netwerkcontact(client, rid, naam, soort) "
               "VALUES('%s', bgsync_new_rid('netwerkcontact', '%s'), '%s', '%s')",
               c, c, text, chance(S, 50) ? "formeel" : "informeel");
      return write_sql(bgsync_db(r), sql);
  }
}

typedef struct choice {
  const char *value;
  uint32_t weight;
} choice;

/* One of the values, by weight. */
static const char *choose(sim *S, const choice *v, size_t n) {
  uint32_t total = 0;
  for (size_t i = 0; i < n; i++) total += v[i].weight;
  uint32_t k = below(S, total);
  size_t i = 0;
  while (k >= v[i].weight) k -= v[i++].weight;
  return v[i].value;
}
#define CHOOSE(S, v) choose(S, v, sizeof v / sizeof v[0])

/* A write that fits what the replica shows of the client: what a caseworker
 * does next in its phase (DOMAIN.md) - the phase's fields, its decision, the
 * move on once the decision allows it - or something any phase takes. Nearly
 * all are accepted; not checked, since a closed traject gets a blind write and
 * a decision on an open entry may be on a field now outside its window. */
static bg_err write_fitting(sim *S, bgsync *r, const char *c, const view *v, const char *text, const char **what) {
  /* decisions that end the traject are rare: a closed one takes no more work */
  static const choice aanmelding[] = {{"intakegesprek", 90}, {"spoedopname", 8}, {"doorverwijzing", 2}};
  static const choice intake[] = {{"toelating", 70}, {"proefbegeleiding", 10}, {"voorwaardelijke_toelating", 5},
                                  {"wachtlijst", 13}, {"afwijzing", 2}};
  static const choice status[] = {{"bezig", 50}, {"afgerond", 25}, {"vervallen", 15}, {"open", 10}};
  static const char *const pb[] = {"situatie", "krachten", "zwaktes", "wensen", "toekomst"};
  static char path[160]; /* *what may point here until the next write */
  bool move = chance(S, 50);
  if (v->phase == BG_PH_NONE || v->phase == BG_PH_GESLOTEN) return write_blind(S, r, c, text, what);
  if (chance(S, 15)) return write_anytime(S, r, c, text, what);
  switch (v->phase) {
    case BG_PH_AANMELDING:
      if (!v->aanmelding[0] || chance(S, 10))
        return bgsync_set(r, c, *what = "aanmelding.besluit", CHOOSE(S, aanmelding));
      if (move)
        return bgsync_phase(r, c, *what = strcmp(v->aanmelding, "intakegesprek") == 0 ? "intake"
                                          : strcmp(v->aanmelding, "spoedopname") == 0 ? "opstart"
                                                                                       : "gesloten");
      return bgsync_set(r, c, *what = chance(S, 50) ? "aanmelding.gesprek" : "aanmelding.overweging", text);
    case BG_PH_INTAKE:
      if (!v->intake[0] || (strcmp(v->intake, "wachtlijst") == 0 && chance(S, 40)) || chance(S, 10))
        return bgsync_set(r, c, *what = "intake.besluit", CHOOSE(S, intake));
      if (move)
        return bgsync_phase(r, c, *what = strcmp(v->intake, "wachtlijst") == 0 ? "intake"
                                          : strcmp(v->intake, "afwijzing") == 0 ? "gesloten"
                                                                                 : "opstart");
      return bgsync_set(r, c, *what = chance(S, 50) ? "intake.gesprek" : "intake.overweging", text);
    case BG_PH_OPSTART:
      if (move) return bgsync_phase(r, c, *what = "analyse");
      if (chance(S, 50)) return bgsync_set(r, c, *what = "opstart.notities", text);
      return bgsync_set(r, c, *what = chance(S, 50) ? "opstart.indicatie_geregeld" : "opstart.eerste_afspraken", "ja");
    case BG_PH_ANALYSE:
      if (move) return bgsync_phase(r, c, *what = "planning");
      snprintf(path, sizeof path, "persoonsbeschrijving:%s.%s",
               bg_default_leefgebieden[below(S, (uint32_t)bg_n_default_leefgebieden)].key, pb[below(S, 5)]);
      return bgsync_set(r, c, *what = path, text);
    case BG_PH_PLANNING: {
      if (v->signed_plan) {
        if (move || chance(S, 40)) return bgsync_phase(r, c, *what = "uitvoering");
        return bgsync_propose(r, c, *what = "plan.einddoel", text); /* a wijzigingsvoorstel */
      }
      if (move) {
        *what = "sign";
        return bgsync_sign(r, c, "handtekening van de client", NULL); /* today */
      }
      uint32_t k = below(S, 100);
      if (k < 25) return bgsync_set(r, c, *what = "plan.einddoel", text);
      if (k < 50 || !v->doel[0]) {
        *what = "doel";
        return bgsync_doel_add(r, c, bg_default_leefgebieden[below(S, (uint32_t)bg_n_default_leefgebieden)].key, text,
                               "3 maanden", 1 + (int)below(S, 5), NULL);
      }
      if (k < 70) {
        *what = "actie";
        return bgsync_actie_add(r, c, v->doel, text, chance(S, 50) ? "client" : "begeleider", "2030-06-01",
                                1 + (int)below(S, 5), NULL);
      }
      if (k < 92) {
        snprintf(path, sizeof path, "doel:%s.omschrijving", v->doel);
        return bgsync_set(r, c, *what = path, text);
      }
      *what = "remove doel";
      return bgsync_remove(r, c, "doel", v->doel);
    }
    case BG_PH_UITVOERING:
    case BG_PH_EVALUATIE:
      if (v->phase == BG_PH_EVALUATIE) {
        if (!v->evaluatie[0] || chance(S, 10))
          return bgsync_set(r, c, *what = "evaluatie.besluit", chance(S, 75) ? "voortzetten" : "uitstroom");
        if (move)
          return bgsync_phase(r, c, *what = strcmp(v->evaluatie, "uitstroom") == 0 ? "uitstroom"
                                            : chance(S, 50)                      ? "analyse"
                                                                                 : "planning");
        if (chance(S, 40))
          return bgsync_set(r, c, *what = chance(S, 50) ? "evaluatie.gesprek" : "evaluatie.rapport", text);
      } else if (move) {
        return bgsync_phase(r, c, *what = "evaluatie");
      }
      if (v->actie[0] && chance(S, 70)) {
        bool st = chance(S, 50);
        snprintf(path, sizeof path, "actie:%s.%s", v->actie, st ? "status" : "voortgang");
        return bgsync_set(r, c, *what = path, st ? CHOOSE(S, status) : text);
      }
      *what = "note";
      return bgsync_note(r, c, "voortgangsgesprek", text, NULL, NULL, NULL);
    default: /* uitstroom */
      if (move && chance(S, 30)) return bgsync_phase(r, c, *what = "gesloten");
      if (chance(S, 50))
        return bgsync_set(r, c, *what = chance(S, 50) ? "uitstroom.nazorg" : "uitstroom.overdracht", text);
      return bgsync_set(r, c, *what = "uitstroom.reden", chance(S, 50) ? "doelen_bereikt" : "verhuisd");
  }
}

/* A write that must be refused locally, and the code it must get (*want): a
 * field outside its phase, a phase move the machine does not have. */
static bg_err write_refused(sim *S, bgsync *r, const char *c, const view *v, const char *text, const char **what,
                            bg_err *want) {
  if (chance(S, 50)) {
    *want = BG_E_PHASE_TRANSITION; /* nothing moves back to aanmelding */
    return bgsync_phase(r, c, *what = "aanmelding");
  }
  *want = v->phase == BG_PH_GESLOTEN ? BG_E_TRAJECT_CLOSED : BG_E_WINDOW;
  return bgsync_set(r, c, *what = v->phase == BG_PH_AANMELDING ? "intake.gesprek" : "aanmelding.gesprek", text);
}

/* An office user's device registers a new client (while there is room):
 * BG_OK and *id set. Any other device must be refused (*want), as must an
 * office device registering a client whose traject it shows (`shown`). */
static bg_err write_register(sim *S, int di, const char *held, bool shown, char id[16], const char **what,
                             bg_err *want) {
  device *d = &S->dev[di];
  bgsync_identity me;
  bg_err e = bgsync_identity_get(d->r, &me);
  if (e != BG_OK) {
    fail(S, "identity: %s", bgsync_errmsg(d->r));
    return e;
  }
  *what = "register";
  if (g_users[d->uidx].role == BG_ROLE_BEGELEIDER) {
    *want = me.role[0] ? BG_E_FORBIDDEN : BG_E_USAGE; /* no role before the first sync: no caseload */
    snprintf(id, 16, "c-%d", S->next_client);
  } else if (S->ncl + S->nreg < MAX_CLIENTS && (chance(S, 80) || !shown)) {
    snprintf(id, 16, "c-%d", S->next_client);
  } else if (shown) {
    *want = BG_E_EXISTS;
    snprintf(id, 16, "%.15s", held);
  } else {
    *what = NULL; /* no room, and nothing to refuse */
    return BG_OK;
  }
  return bgsync_client_add(d->r, id, "Nieuwe Client");
}

/* One local write on device di, chosen by the seed: mostly what fits the
 * client's phase, some blind, some that must be refused, and on an office
 * user's device registrations of new clients. */
void dev_write(sim *S, int di) {
  device *d = &S->dev[di];
  bgsync *r = d->r;
  sqlite3 *db = bgsync_db(r);
  char cl[MAX_CLIENTS][16];
  int n = 0;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "SELECT client FROM traject ORDER BY client", -1, &st, NULL) != SQLITE_OK) {
    fail(S, "traject: %s", sqlite3_errmsg(db));
    return;
  }
  while (sqlite3_step(st) == SQLITE_ROW && n < MAX_CLIENTS) col_text(st, 0, cl[n++], sizeof cl[0]);
  sqlite3_finalize(st);
  if (n == 0) return;
  /* a caseworker's visit: several writes on one client, which so moves on
   * through its phases; now and then another client */
  const char *c = cl[below(S, (uint32_t)n)];
  if (chance(S, 75))
    for (int i = 0; i < n; i++)
      if (strcmp(cl[i], d->visiting) == 0) c = cl[i];
  snprintf(d->visiting, sizeof d->visiting, "%.15s", c);
  int64_t before = 0;
  if (bgs_meta_int(r, "counter", &before) != BG_OK) {
    fail(S, "meta: %s", bgsync_errmsg(r));
    return;
  }
  view v;
  if (!view_read(S, r, c, &v)) return;
  char text[64], id[16] = "";
  snprintf(text, sizeof text, "t%" PRIu64 "-%u", S->seed, below(S, 100000));
  bg_err e, want = BG_OK;
  const char *what = NULL;
  bool office = g_users[d->uidx].role != BG_ROLE_BEGELEIDER;
  uint32_t k = below(S, 100);
  if (k < (office ? 15u : 2u)) e = write_register(S, di, c, v.phase != BG_PH_NONE, id, &what, &want);
  else if (k < 20 && v.phase != BG_PH_NONE) e = write_refused(S, r, c, &v, text, &what, &want);
  else if (k < 28) e = write_blind(S, r, c, text, &what);
  else e = write_fitting(S, r, c, &v, text, &what);
  if (S->failed || !what) return;
  if (e == BG_OK) S->n[T_WRITES_OK]++;
  else S->n[T_WRITES_REFUSED]++;
  const char *on = id[0] ? id : c;
  say(S, "dev %d: %s on %s: %s%s%s", di, what, on, bg_err_name(e), e ? " - " : "", e ? bgsync_errmsg(r) : "");
  if (want != BG_OK) {
    S->n[T_REFUSALS_CHECKED]++;
    if (e != want)
      fail(S, "device %d: %s on %s must be refused with %s, was %s: %s", di, what, on, bg_err_name(want),
           bg_err_name(e), bgsync_errmsg(r));
  } else if (e == BG_OK && id[0]) {
    sim_client p = {"", 0, d->uidx, di};
    snprintf(p.id, sizeof p.id, "%s", id);
    S->reg[S->nreg++] = p;
    S->next_client++;
  }
  note_writes(S, d, before);
}
