/*
 * test_sync.c - libbgsync against a real bgsyncd over loopback TLS. Replicas
 * live in a temporary directory, are enrolled with codes from bgctl and are
 * used only through bgsync.h, plus plain SQL on bgsync_db():
 *   - two devices of one user and a colleague's edit a client offline around
 *     the client's signature; in every sync order they converge, the signed
 *     plan stands and what the signature did not cover is a
 *     wijzigingsvoorstel everywhere (R1);
 *   - after the signature a plan edit is refused locally and proposed instead;
 *   - plain SQL writes are captured and synchronised; a refused one leaves
 *     nothing behind;
 *   - a revoked device gets a clear error and keeps its pending writes;
 *   - a client moved to another team is purged from a device once the
 *     device's writes for it are pushed, and those writes reach the new team;
 *   - a disabled user's device pushes its work, is purged of everything and
 *     is then refused; leaving a team purges the team's clients.
 * Every failure names the scenario (and the sync order) it happened in.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bgsync.h"
#include "harness.h"

static char g_tmp[64];   /* the replicas' directory */
static char g_ctx[160];  /* the scenario running, for failure messages */
static int g_orgs;       /* organisations made so far (ports, names) */
static bool g_failed;    /* a test failed: keep the replicas for a look */

__attribute__((format(printf, 2, 3))) static void fail_ctx(int line, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fail_msg("test_sync.c:%d [%s]: %s", line, g_ctx, msg);
}

#define EXPECT(cond, ...)                     \
  do {                                        \
    if (!(cond)) fail_ctx(__LINE__, __VA_ARGS__); \
  } while (0)

/* --- a device: one replica ------------------------------------------------------------------ */

typedef struct dev {
  char name[32];
  bgsync *r;
} dev;

#define CHECK(d, call) check_ok(__LINE__, (d), (call), #call)

static void check_ok(int line, const dev *d, bg_err e, const char *what) {
  if (e != BG_OK) fail_ctx(line, "%s: %s -> %s: %s", d->name, what, bg_err_name(e), bgsync_errmsg(d->r));
}

/* A new replica, enrolled as a device of `login`. */
static void dev_new(dev *d, const bgh_org *o, const char *login, const char *name) {
  char path[160], code[128], server[64];
  snprintf(d->name, sizeof d->name, "%s", name);
  snprintf(path, sizeof path, "%s/org%d-%s.db", g_tmp, g_orgs, name);
  bg_err e = bgsync_open(path, &d->r);
  EXPECT(e == BG_OK, "open %s: %s", path, d->r ? bgsync_errmsg(d->r) : bg_err_name(e));
  EXPECT(bgh_bgctl(o, code, sizeof code, "device enroll %s", login) == 0, "bgctl device enroll %s: %s", login, code);
  snprintf(server, sizeof server, "localhost:%d", o->port);
  CHECK(d, bgsync_enroll(d->r, server, code, name, o->enrol_port));
}

static void dev_close(dev *d) {
  bgsync_close(d->r);
  d->r = NULL;
}

static void dev_sync(dev *d) { CHECK(d, bgsync_sync(d->r, NULL)); }

static bgsync_status dev_status(dev *d) {
  bgsync_status st;
  CHECK(d, bgsync_status_get(d->r, &st));
  return st;
}

/* --- plain SQL on a replica ------------------------------------------------------------------- */

/* The first column of the first row of a query as text; false when there is
 * no row or it is NULL. */
__attribute__((format(printf, 4, 5))) static bool sql_text(dev *d, char *out, size_t len, const char *fmt, ...) {
  char sql[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sql, sizeof sql, fmt, ap);
  va_end(ap);
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(bgsync_db(d->r), sql, -1, &st, NULL);
  EXPECT(rc == SQLITE_OK, "%s: '%s': %s", d->name, sql, sqlite3_errmsg(bgsync_db(d->r)));
  rc = sqlite3_step(st);
  EXPECT(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: '%s': %s", d->name, sql, sqlite3_errmsg(bgsync_db(d->r)));
  const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
  snprintf(out, len, "%s", t ? (const char *)t : "");
  sqlite3_finalize(st);
  return t != NULL;
}

__attribute__((format(printf, 2, 3))) static long sql_count(dev *d, const char *fmt, ...) {
  char sql[512], n[32];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sql, sizeof sql, fmt, ap);
  va_end(ap);
  EXPECT(sql_text(d, n, sizeof n, "%s", sql), "%s: '%s' gave no row", d->name, sql);
  return strtol(n, NULL, 10);
}

/* Run SQL that may fail; the error text (empty on success) in `why`. */
static int sql_exec(dev *d, const char *sql, char *why, size_t len) {
  char *msg = NULL;
  int rc = sqlite3_exec(bgsync_db(d->r), sql, NULL, NULL, &msg);
  snprintf(why, len, "%s", msg ? msg : "");
  sqlite3_free(msg);
  return rc;
}

/* Rows of `client` in the record tables: every table but the bookkeeping. */
static long client_rows(dev *d, const char *client) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(bgsync_db(d->r),
                              "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'bgsync!_%' "
                              "ESCAPE '!' AND name NOT LIKE 'engine!_%' ESCAPE '!' AND name NOT LIKE 'sqlite!_%' "
                              "ESCAPE '!'",
                              -1, &st, NULL);
  EXPECT(rc == SQLITE_OK, "%s: listing tables: %s", d->name, sqlite3_errmsg(bgsync_db(d->r)));
  char tables[32][48];
  int n = 0;
  while (sqlite3_step(st) == SQLITE_ROW && n < 32) snprintf(tables[n++], sizeof tables[0], "%s", sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  EXPECT(n >= 14, "%s: only %d record tables", d->name, n);
  long rows = 0;
  for (int i = 0; i < n; i++) rows += sql_count(d, "SELECT count(*) FROM \"%s\" WHERE client = '%s'", tables[i], client);
  return rows;
}

/* --- conflict entries and wijzigingsvoorstellen ------------------------------------------------ */

typedef struct entry {
  bool proposal;
  char client[72], type[32], rid[72], field[32], rule[16], other[128], shown[128];
  bgsync_side a, b; /* value pointers not kept */
} entry;

typedef struct entries {
  entry v[32];
  int n;
} entries;

static void entries_cb(void *arg, const bgsync_conflict *c) {
  entries *l = arg;
  if (l->n == 32) return;
  entry *x = &l->v[l->n++];
  x->proposal = c->proposal;
  snprintf(x->client, sizeof x->client, "%s", c->client);
  snprintf(x->type, sizeof x->type, "%s", c->type);
  snprintf(x->rid, sizeof x->rid, "%s", c->rid);
  snprintf(x->field, sizeof x->field, "%s", c->field);
  snprintf(x->rule, sizeof x->rule, "%s", c->rule ? c->rule : "");
  snprintf(x->other, sizeof x->other, "%s", c->other.value ? c->other.value : "(leeg)");
  snprintf(x->shown, sizeof x->shown, "%s", c->shown.value ? c->shown.value : "(leeg)");
  x->a = c->shown;
  x->b = c->other;
  x->a.value = x->b.value = NULL;
}

static void entries_get(dev *d, entries *l) {
  memset(l, 0, sizeof *l);
  CHECK(d, bgsync_conflicts(d->r, NULL, entries_cb, l));
}

/* How many open entries match (`value` the proposed or losing value; NULL: any). */
static int entries_count(const entries *l, bool proposal, const char *client, const char *type, const char *field,
                         const char *value) {
  int n = 0;
  for (int i = 0; i < l->n; i++) {
    const entry *x = &l->v[i];
    n += x->proposal == proposal && strcmp(x->client, client) == 0 && strcmp(x->type, type) == 0 &&
         strcmp(x->field, field) == 0 && (!value || strcmp(x->other, value) == 0);
  }
  return n;
}

static void entries_print(const dev *d, const entries *l) {
  fprintf(stderr, "  %s: %d open entries\n", d->name, l->n);
  for (int i = 0; i < l->n; i++)
    fprintf(stderr,
            "    %s %s %s:%s.%s rule %s shown '%s' (user %llu device %llu at %llu) other '%s' (user %llu device %llu "
            "at %llu)\n",
            l->v[i].proposal ? "voorstel" : "conflict", l->v[i].client, l->v[i].type, l->v[i].rid, l->v[i].field,
            l->v[i].rule, l->v[i].shown, (unsigned long long)l->v[i].a.user, (unsigned long long)l->v[i].a.device,
            (unsigned long long)l->v[i].a.time_ms, l->v[i].other, (unsigned long long)l->v[i].b.user,
            (unsigned long long)l->v[i].b.device, (unsigned long long)l->v[i].b.time_ms);
}

/* --- the world: an organisation, its daemon, three devices ------------------------------------- */

typedef struct world {
  bool live;
  bgh_org org;
  dev al, ap, bl; /* anna's laptop, anna's phone, bert's laptop */
  dev cl;         /* carla's laptop, where a test makes one */
  char doel[65], actie[65];
} world;

static world g_w; /* one at a time; the teardown stops what a failed test left */

#define WORLD_PLAN_EINDDOEL "Zelfstandig wonen"
#define WORLD_DOEL "Een eigen woning"

static void world_bgctl(world *w, const char *cmd) {
  char last[256];
  EXPECT(bgh_bgctl(&w->org, last, sizeof last, "%s", cmd) == 0, "bgctl %s: %s", cmd, last);
}

/*
 * Team noord with begeleiders anna and bert; clients c-1 and c-2 with anna as
 * trajectbegeleider. Three enrolled devices that synced once.
 */
static world *world_new(void) {
  world *w = &g_w;
  memset(w, 0, sizeof *w);
  g_orgs++;
  char tag[16];
  snprintf(tag, sizeof tag, "sync%d", g_orgs);
  int from = 20000 + 2 * (int)(((unsigned)getpid() * 7u + (unsigned)g_orgs * 131u) % 6000u);
  EXPECT(bgh_org_init(&w->org, tag, from, "log_level = debug") == 0, "cannot make the organisation %s", tag);
  w->live = true;
  world_bgctl(w, "team add noord");
  world_bgctl(w, "user add anna --role begeleider --team noord");
  world_bgctl(w, "user add bert --role begeleider --team noord");
  world_bgctl(w, "client add c-1 --team noord --begeleider anna");
  world_bgctl(w, "client add c-2 --team noord --begeleider anna");
  EXPECT(bgh_daemon_start(&w->org) == 0, "bgsyncd did not start (%s.log)", w->org.home);
  dev_new(&w->al, &w->org, "anna", "anna-laptop");
  dev_new(&w->ap, &w->org, "anna", "anna-phone");
  dev_new(&w->bl, &w->org, "bert", "bert-laptop");
  dev *all[] = {&w->al, &w->ap, &w->bl};
  for (int i = 0; i < 3; i++) {
    dev_sync(all[i]);
    bgsync_identity id;
    CHECK(all[i], bgsync_identity_get(all[i]->r, &id));
    EXPECT(strcmp(id.role, "begeleider") == 0, "%s: role '%s' after the first sync", all[i]->name, id.role);
    EXPECT(dev_status(all[i]).clients == 2, "%s: %llu clients", all[i]->name,
           (unsigned long long)dev_status(all[i]).clients);
  }
  return w;
}

static void world_free(world *w) {
  dev_close(&w->al);
  dev_close(&w->ap);
  dev_close(&w->bl);
  dev_close(&w->cl);
  int st = bgh_daemon_stop(&w->org, SIGTERM);
  EXPECT(st == 0, "bgsyncd exited with %d (log: %s.log)", st, w->org.home);
  bgh_org_remove(&w->org, 1);
  w->live = false;
}

/* Anna's laptop brings c-1 to planning with an einddoel, a doel and an actie;
 * then all three sync. */
static void world_plan(world *w) {
  dev *a = &w->al;
  CHECK(a, bgsync_set(a->r, "c-1", "aanmelding.besluit", "intakegesprek"));
  CHECK(a, bgsync_phase(a->r, "c-1", "intake"));
  CHECK(a, bgsync_set(a->r, "c-1", "intake.besluit", "toelating"));
  CHECK(a, bgsync_phase(a->r, "c-1", "opstart"));
  CHECK(a, bgsync_phase(a->r, "c-1", "analyse"));
  CHECK(a, bgsync_set(a->r, "c-1", "persoonsbeschrijving:wonen.situatie", "Woont tijdelijk bij zijn zus"));
  CHECK(a, bgsync_phase(a->r, "c-1", "planning"));
  CHECK(a, bgsync_set(a->r, "c-1", "plan.einddoel", WORLD_PLAN_EINDDOEL));
  CHECK(a, bgsync_doel_add(a->r, "c-1", "wonen", WORLD_DOEL, "6 maanden", 1, w->doel));
  CHECK(a, bgsync_actie_add(a->r, "c-1", w->doel, "Inschrijven bij woningnet", "client", "2031-03-01", 1, w->actie));
  dev_sync(&w->al);
  dev_sync(&w->ap);
  dev_sync(&w->bl);
  char v[128];
  EXPECT(sql_text(&w->bl, v, sizeof v, "SELECT phase FROM traject WHERE client = 'c-1'") && strcmp(v, "planning") == 0,
         "bert-laptop: c-1 in phase '%s'", v);
  EXPECT(sql_text(&w->ap, v, sizeof v, "SELECT omschrijving FROM doel WHERE client = 'c-1' AND rid = '%s'", w->doel) &&
             strcmp(v, WORLD_DOEL) == 0,
         "anna-phone: doel %s is '%s'", w->doel, v);
}

/* Every device's digest equal to the first's. */
static void expect_same_digest(dev *const *devs, int n) {
  char first[65], hex[65];
  CHECK(devs[0], bgsync_digest(devs[0]->r, NULL, first));
  for (int i = 1; i < n; i++) {
    CHECK(devs[i], bgsync_digest(devs[i]->r, NULL, hex));
    if (strcmp(first, hex) != 0) {
      for (int k = 0; k < n; k++) {
        entries l;
        entries_get(devs[k], &l);
        entries_print(devs[k], &l);
      }
      fail_ctx(__LINE__, "digests differ: %s %s, %s %s", devs[0]->name, first, devs[i]->name, hex);
    }
  }
}

/* --- 1. convergence in several orders ---------------------------------------------------------- */

#define SIGNED_EINDDOEL "Zelfstandig wonen, met steun van zijn zus"
#define BERT_EINDDOEL "Werk vinden"
#define PHONE_DOEL "Een eigen woning in Assen"

static void converge_in_order(const int order[3]) {
  world *w = world_new();
  dev *by[3] = {&w->al, &w->ap, &w->bl};
  snprintf(g_ctx, sizeof g_ctx, "converge_in_several_orders, sync order %s, %s, %s", by[order[0]]->name,
           by[order[1]]->name, by[order[2]]->name);
  world_plan(w);
  /* offline: the laptop edits the einddoel and the client signs */
  dev *al = &w->al, *ap = &w->ap, *bl = &w->bl;
  CHECK(al, bgsync_set(al->r, "c-1", "plan.einddoel", SIGNED_EINDDOEL));
  CHECK(al, bgsync_sign(al->r, "c-1", "J. de Vries", NULL));
  CHECK(al, bgsync_set(al->r, "c-2", "client.adres", "Dorpsstraat 1"));
  /* the phone, which has not seen the signature: a doel edit */
  char path[128];
  snprintf(path, sizeof path, "doel:%s.omschrijving", w->doel);
  CHECK(ap, bgsync_set(ap->r, "c-1", path, PHONE_DOEL));
  CHECK(ap, bgsync_set(ap->r, "c-2", "client.adres", "Dorpsstraat 2"));
  CHECK(ap, bgsync_note(ap->r, "c-1", "voortgangsgesprek", "Samen naar de woningcorporatie geweest", "wonen", NULL, NULL));
  /* bert, a colleague: the einddoel too, and the address */
  CHECK(bl, bgsync_set(bl->r, "c-1", "plan.einddoel", BERT_EINDDOEL));
  CHECK(bl, bgsync_set(bl->r, "c-2", "client.adres", "Dorpsstraat 3"));
  char why[512];
  int rc = sql_exec(bl,
                    "INSERT INTO netwerkcontact(client, rid, naam, soort, rol) VALUES('c-2', "
                    "bgsync_new_rid('netwerkcontact', 'c-2'), 'Els', 'informeel', 'zus')",
                    why, sizeof why);
  EXPECT(rc == SQLITE_OK, "bert-laptop: netwerkcontact by SQL: %s", why);
  EXPECT(dev_status(al).pending == 4 && dev_status(ap).pending > 0 && dev_status(bl).pending == 5,
         "pending before the sync: %llu %llu %llu", (unsigned long long)dev_status(al).pending,
         (unsigned long long)dev_status(ap).pending, (unsigned long long)dev_status(bl).pending);

  /* two rounds in the same order */
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 3; i++) dev_sync(by[order[i]]);

  expect_same_digest(by, 3);
  uint64_t conflicts = 0, proposals = 0;
  char shown[64] = "";
  for (int i = 0; i < 3; i++) {
    dev *d = by[i];
    bgsync_status st = dev_status(d);
    EXPECT(st.pending == 0 && st.rejected == 0, "%s: %llu pending, %llu rejected", d->name,
           (unsigned long long)st.pending, (unsigned long long)st.rejected);
    if (i == 0) conflicts = st.conflicts, proposals = st.proposals;
    EXPECT(st.conflicts == conflicts && st.proposals == proposals, "%s: %llu conflicts, %llu proposals; %s has %llu, %llu",
           d->name, (unsigned long long)st.conflicts, (unsigned long long)st.proposals, by[0]->name,
           (unsigned long long)conflicts, (unsigned long long)proposals);
    /* R2 on c-2's adres: the trajectbegeleider's, not the colleague's. Which
     * of anna's two devices' wins is the later hybrid-logical-clock time, and
     * two writes in the same millisecond may order either way: the same on
     * every replica is what counts */
    char v[256], adres[64];
    EXPECT(sql_text(d, adres, sizeof adres, "SELECT adres FROM client WHERE client = 'c-2'") &&
               (strcmp(adres, "Dorpsstraat 1") == 0 || strcmp(adres, "Dorpsstraat 2") == 0),
           "%s: c-2's adres is '%s'", d->name, adres);
    if (i == 0) snprintf(shown, sizeof shown, "%s", adres);
    EXPECT(strcmp(adres, shown) == 0, "%s shows c-2's adres '%s', %s '%s'", d->name, adres, by[0]->name, shown);
    /* the open entries: the two plan edits the signature did not cover as
     * voorstellen, and the two addresses not shown */
    entries l;
    entries_get(d, &l);
    const char *other = strcmp(adres, "Dorpsstraat 1") == 0 ? "Dorpsstraat 2" : "Dorpsstraat 1";
    bool ok = l.n == 4 && entries_count(&l, true, "c-1", "begeleidingsplan", "einddoel", BERT_EINDDOEL) == 1 &&
              entries_count(&l, true, "c-1", "doel", "omschrijving", PHONE_DOEL) == 1 &&
              entries_count(&l, false, "c-2", "client", "adres", other) == 1 &&
              entries_count(&l, false, "c-2", "client", "adres", "Dorpsstraat 3") == 1;
    if (!ok) entries_print(d, &l);
    EXPECT(ok, "%s: the open entries are not bert's einddoel and the phone's doel as voorstellen plus conflict "
               "entries for '%s' and 'Dorpsstraat 3' on c-2's adres (listed above)", d->name, other);
    /* the signed plan stands */
    EXPECT(sql_text(d, v, sizeof v, "SELECT einddoel FROM begeleidingsplan WHERE client = 'c-1' AND cycle = 1") &&
               strcmp(v, SIGNED_EINDDOEL) == 0,
           "%s: the plan shows einddoel '%s'", d->name, v);
    EXPECT(sql_text(d, v, sizeof v, "SELECT handtekening FROM begeleidingsplan WHERE client = 'c-1'") &&
               strcmp(v, "J. de Vries") == 0,
           "%s: the plan's handtekening is '%s'", d->name, v);
    EXPECT(sql_text(d, v, sizeof v, "SELECT omschrijving FROM doel WHERE client = 'c-1' AND rid = '%s'", w->doel) &&
               strcmp(v, WORLD_DOEL) == 0,
           "%s: the doel shows '%s'", d->name, v);
    EXPECT(sql_count(d, "SELECT count(*) FROM rapportage WHERE client = 'c-1'") == 1, "%s: rapportage of c-1", d->name);
    EXPECT(sql_count(d, "SELECT count(*) FROM netwerkcontact WHERE client = 'c-2' AND naam = 'Els'") == 1,
           "%s: netwerkcontact of c-2", d->name);
  }
  /* two rounds were enough: a third changes nothing */
  char before[65], after[65];
  CHECK(al, bgsync_digest(al->r, NULL, before));
  for (int i = 0; i < 3; i++) dev_sync(by[order[i]]);
  expect_same_digest(by, 3);
  CHECK(al, bgsync_digest(al->r, NULL, after));
  EXPECT(strcmp(before, after) == 0, "a third round changed the state");
  world_free(w);
}

static void converge_in_several_orders(void **state) {
  (void)state;
  static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  for (int i = 0; i < 6; i++) converge_in_order(orders[i]);
}

/* --- 2. after the signature: refused, then proposed ---------------------------------------------- */

static void late_edit_after_signature_is_a_proposal_everywhere(void **state) {
  (void)state;
  world *w = world_new();
  snprintf(g_ctx, sizeof g_ctx, "late_edit_after_signature_is_a_proposal_everywhere");
  world_plan(w);
  dev *al = &w->al, *ap = &w->ap, *bl = &w->bl;
  CHECK(al, bgsync_sign(al->r, "c-1", "J. de Vries", "2030-05-01"));
  dev_sync(al);
  dev_sync(ap);
  dev_sync(bl);
  uint64_t pending = dev_status(al).pending;
  bg_err e = bgsync_set(al->r, "c-1", "plan.einddoel", "Zelfstandig wonen binnen een jaar");
  EXPECT(e == BG_E_PLAN_SIGNED, "set after signing: %s (%s)", bg_err_name(e), bgsync_errmsg(al->r));
  EXPECT(strstr(bgsync_errmsg(al->r), "propose") != NULL, "the refusal does not mention propose: %s",
         bgsync_errmsg(al->r));
  EXPECT(dev_status(al).pending == pending, "the refused edit was queued");
  char path[128];
  snprintf(path, sizeof path, "doel:%s.omschrijving", w->doel);
  e = bgsync_set(ap->r, "c-1", path, "Een woning met een tuin");
  EXPECT(e == BG_E_PLAN_SIGNED, "phone: doel edit after signing: %s (%s)", bg_err_name(e), bgsync_errmsg(ap->r));
  /* proposing a field that may be edited now is a usage error */
  e = bgsync_propose(bl->r, "c-2", "client.adres", "Dorpsstraat 4");
  EXPECT(e == BG_E_USAGE, "propose of an editable field: %s (%s)", bg_err_name(e), bgsync_errmsg(bl->r));
  CHECK(al, bgsync_propose(al->r, "c-1", "plan.einddoel", "Zelfstandig wonen binnen een jaar"));
  CHECK(ap, bgsync_propose(ap->r, "c-1", path, "Een woning met een tuin"));
  EXPECT(dev_status(al).proposals == 1, "anna-laptop: %llu proposals before syncing",
         (unsigned long long)dev_status(al).proposals);
  dev *all[] = {al, ap, bl};
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 3; i++) dev_sync(all[i]);
  expect_same_digest(all, 3);
  for (int i = 0; i < 3; i++) {
    entries l;
    entries_get(all[i], &l);
    bool ok = l.n == 2 &&
              entries_count(&l, true, "c-1", "begeleidingsplan", "einddoel", "Zelfstandig wonen binnen een jaar") == 1 &&
              entries_count(&l, true, "c-1", "doel", "omschrijving", "Een woning met een tuin") == 1;
    if (!ok) entries_print(all[i], &l);
    EXPECT(ok, "%s: not exactly the two voorstellen (listed above)", all[i]->name);
    bgsync_status st = dev_status(all[i]);
    EXPECT(st.pending == 0 && st.proposals == 2 && st.conflicts == 0, "%s: %llu pending, %llu proposals, %llu conflicts",
           all[i]->name, (unsigned long long)st.pending, (unsigned long long)st.proposals,
           (unsigned long long)st.conflicts);
    char v[256];
    EXPECT(sql_text(all[i], v, sizeof v, "SELECT einddoel FROM begeleidingsplan WHERE client = 'c-1'") &&
               strcmp(v, WORLD_PLAN_EINDDOEL) == 0,
           "%s: the plan shows einddoel '%s'", all[i]->name, v);
  }
  world_free(w);
}

/* --- 3. plain SQL --------------------------------------------------------------------------------- */

static void plain_sql_writes_sync(void **state) {
  (void)state;
  world *w = world_new();
  snprintf(g_ctx, sizeof g_ctx, "plain_sql_writes_sync");
  dev *al = &w->al, *ap = &w->ap, *bl = &w->bl;
  char why[512], v[128];
  /* the client record has no row yet (bgctl writes only the traject) */
  EXPECT(!sql_text(bl, v, sizeof v, "SELECT adres FROM client WHERE client = 'c-2'"), "c-2 has an adres already: %s", v);
  int rc = sql_exec(bl, "INSERT INTO client(client, rid, naam, adres) VALUES('c-2', 'c', 'Piet Jansen', 'oud')", why,
                    sizeof why);
  EXPECT(rc == SQLITE_OK, "INSERT INTO client: %s", why);
  uint64_t pending = dev_status(bl).pending;
  EXPECT(pending == 2, "after an INSERT of two fields, %llu pending", (unsigned long long)pending);
  rc = sql_exec(bl, "UPDATE client SET adres = 'x' WHERE client = 'c-2'", why, sizeof why);
  EXPECT(rc == SQLITE_OK, "UPDATE client: %s", why);
  EXPECT(sqlite3_changes(bgsync_db(bl->r)) == 1, "UPDATE changed %d rows", sqlite3_changes(bgsync_db(bl->r)));
  EXPECT(dev_status(bl).pending == pending + 1, "after the UPDATE, %llu pending",
         (unsigned long long)dev_status(bl).pending);
  dev_sync(bl);
  EXPECT(dev_status(bl).pending == 0, "bert-laptop: %llu pending after its sync",
         (unsigned long long)dev_status(bl).pending);
  dev_sync(al);
  dev_sync(ap);
  dev *all[] = {al, ap, bl};
  for (int i = 0; i < 3; i++) {
    EXPECT(sql_text(all[i], v, sizeof v, "SELECT adres FROM client WHERE client = 'c-2'") && strcmp(v, "x") == 0,
           "%s: c-2's adres is '%s'", all[i]->name, v);
    EXPECT(sql_text(all[i], v, sizeof v, "SELECT naam FROM client WHERE client = 'c-2'") && strcmp(v, "Piet Jansen") == 0,
           "%s: c-2's naam is '%s'", all[i]->name, v);
  }
  expect_same_digest(all, 3);

  /* a plan write in aanmelding: refused by the rules, nothing left behind */
  char before[65], after[65];
  CHECK(bl, bgsync_digest(bl->r, NULL, before));
  pending = dev_status(bl).pending;
  rc = sql_exec(bl, "INSERT INTO begeleidingsplan(client, rid, einddoel) VALUES('c-2', '1', 'Wonen')", why, sizeof why);
  EXPECT(rc != SQLITE_OK, "a plan write in aanmelding was accepted");
  EXPECT(strstr(why, "BG_E_WINDOW") != NULL, "the refusal does not name BG_E_WINDOW: %s", why);
  /* the same inside the app's own transaction: the statement fails, the transaction goes on */
  rc = sql_exec(bl, "BEGIN", why, sizeof why);
  EXPECT(rc == SQLITE_OK, "BEGIN: %s", why);
  rc = sql_exec(bl, "UPDATE client SET telefoon = '0612345678' WHERE client = 'c-2'", why, sizeof why);
  EXPECT(rc == SQLITE_OK, "UPDATE in a transaction: %s", why);
  rc = sql_exec(bl, "INSERT INTO begeleidingsplan(client, rid, einddoel) VALUES('c-2', '1', 'Wonen')", why, sizeof why);
  EXPECT(rc != SQLITE_OK && strstr(why, "BG_E_WINDOW") != NULL, "plan write in a transaction: %d %s", rc, why);
  rc = sql_exec(bl, "ROLLBACK", why, sizeof why);
  EXPECT(rc == SQLITE_OK, "ROLLBACK: %s", why);
  EXPECT(dev_status(bl).pending == pending, "after the refusals, %llu pending (was %llu)",
         (unsigned long long)dev_status(bl).pending, (unsigned long long)pending);
  EXPECT(sql_count(bl, "SELECT count(*) FROM begeleidingsplan WHERE client = 'c-2'") == 0, "a plan row stayed");
  CHECK(bl, bgsync_digest(bl->r, NULL, after));
  EXPECT(strcmp(before, after) == 0, "the refused writes changed the replica's state");
  dev_sync(bl);
  dev_sync(al);
  EXPECT(sql_count(al, "SELECT count(*) FROM begeleidingsplan WHERE client = 'c-2'") == 0, "a plan row reached anna");
  EXPECT(!sql_text(al, v, sizeof v, "SELECT telefoon FROM client WHERE client = 'c-2'"), "the rolled-back telefoon reached anna: %s", v);
  expect_same_digest(all, 2);
  world_free(w);
}

/* --- 4. revocation --------------------------------------------------------------------------------- */

static void revoked_device_fails_clearly(void **state) {
  (void)state;
  world *w = world_new();
  snprintf(g_ctx, sizeof g_ctx, "revoked_device_fails_clearly");
  dev *ap = &w->ap;
  CHECK(ap, bgsync_set(ap->r, "c-1", "client.adres", "Stationsweg 5"));
  CHECK(ap, bgsync_note(ap->r, "c-1", "overig", "Telefoon kwijt in de trein", NULL, NULL, NULL));
  uint64_t pending = dev_status(ap).pending;
  EXPECT(pending > 0, "nothing pending");
  bgsync_identity id;
  CHECK(ap, bgsync_identity_get(ap->r, &id));
  char last[256];
  EXPECT(bgh_bgctl(&w->org, last, sizeof last, "device revoke %llu", (unsigned long long)id.device) == 0,
         "bgctl device revoke: %s", last);
  bg_err e = bgsync_sync(ap->r, NULL);
  const char *msg = bgsync_errmsg(ap->r);
  EXPECT(e == BG_E_DEVICE_REVOKED, "sync of a revoked device: %s (%s)", bg_err_name(e), msg);
  EXPECT(strstr(msg, "revoked") != NULL, "the message does not say the device was revoked: '%s'", msg);
  EXPECT(!bg_err_retryable(e) && bgsync_retry_ms(ap->r) == 0, "a revoked device is told to retry");
  bgsync_status st = dev_status(ap);
  EXPECT(st.pending == pending, "%llu pending after the refusal (was %llu)", (unsigned long long)st.pending,
         (unsigned long long)pending);
  EXPECT(st.last_error == BG_E_DEVICE_REVOKED, "status last_error %lld", (long long)st.last_error);
  /* the same user's other device syncs on */
  dev_sync(&w->al);
  world_free(w);
}

/* --- 5. a client moved to another team ---------------------------------------------------------------- */

static void moved_client_is_purged_after_pending_writes_are_pushed(void **state) {
  (void)state;
  world *w = world_new();
  snprintf(g_ctx, sizeof g_ctx, "moved_client_is_purged_after_pending_writes_are_pushed");
  dev *al = &w->al, *bl = &w->bl;
  world_bgctl(w, "team add zuid");
  world_bgctl(w, "user add carla --role begeleider --team zuid");
  /* bert, offline, writes c-2; meanwhile the office moves c-2 to team zuid */
  CHECK(bl, bgsync_set(bl->r, "c-2", "client.adres", "Kerkstraat 12"));
  CHECK(bl, bgsync_note(bl->r, "c-2", "overig", "Huisbezoek, sleutel bij de buren", NULL, NULL, NULL));
  EXPECT(client_rows(bl, "c-2") > 0, "bert-laptop has no rows of c-2 before the move");
  world_bgctl(w, "client move c-2 --team zuid --begeleider carla");
  dev_sync(bl);
  bgsync_status st = dev_status(bl);
  EXPECT(st.pending == 0 && st.rejected == 0, "bert-laptop: %llu pending, %llu rejected", (unsigned long long)st.pending,
         (unsigned long long)st.rejected);
  EXPECT(client_rows(bl, "c-2") == 0, "bert-laptop still has %ld rows of c-2", client_rows(bl, "c-2"));
  EXPECT(client_rows(bl, "c-1") > 0, "bert-laptop lost c-1");
  EXPECT(st.clients == 1, "bert-laptop: %llu clients", (unsigned long long)st.clients);
  bg_err e = bgsync_set(bl->r, "c-2", "client.adres", "Kerkstraat 14");
  EXPECT(e == BG_E_NOT_FOUND, "a write of a purged client: %s (%s)", bg_err_name(e), bgsync_errmsg(bl->r));
  /* carla, the new trajectbegeleider, gets bert's writes */
  dev *cl = &w->cl;
  dev_new(cl, &w->org, "carla", "carla-laptop");
  dev_sync(cl);
  char v[128];
  EXPECT(sql_text(cl, v, sizeof v, "SELECT adres FROM client WHERE client = 'c-2'") && strcmp(v, "Kerkstraat 12") == 0,
         "carla-laptop: c-2's adres is '%s'", v);
  EXPECT(sql_count(cl, "SELECT count(*) FROM rapportage WHERE client = 'c-2'") == 1, "carla-laptop: bert's rapportage");
  EXPECT(client_rows(cl, "c-1") == 0, "carla-laptop holds c-1 of team noord");
  EXPECT(dev_status(cl).clients == 1, "carla-laptop: %llu clients", (unsigned long long)dev_status(cl).clients);
  /* anna, team noord and trajectbegeleider no more: the daemon's scope is her
   * teams' clients and those she leads now, so c-2 leaves her replica too */
  dev_sync(al);
  EXPECT(client_rows(al, "c-2") == 0, "anna-laptop still has %ld rows of c-2", client_rows(al, "c-2"));
  EXPECT(dev_status(al).clients == 1, "anna-laptop: %llu clients", (unsigned long long)dev_status(al).clients);
  world_free(w);
}

/* --- 6. access ends: a user disabled, a user leaving a team ------------------------------------------ */

static void disabled_user_pushes_then_is_purged_then_refused(void **state) {
  (void)state;
  world *w = world_new();
  snprintf(g_ctx, sizeof g_ctx, "disabled_user_pushes_then_is_purged_then_refused");
  dev *bl = &w->bl, *al = &w->al;
  char last[256];
  EXPECT(bgh_bgctl(&w->org, last, sizeof last, "status") == 0, "bgctl status with the daemon running: %s", last);
  /* bert, offline, writes; meanwhile the office disables him */
  CHECK(bl, bgsync_set(bl->r, "c-1", "client.adres", "Molenweg 3"));
  world_bgctl(w, "user disable bert");
  EXPECT(bgh_bgctl(&w->org, last, sizeof last, "user disable bert") == 1, "disabling twice: %s", last);
  EXPECT(bgh_bgctl(&w->org, last, sizeof last, "status") == 0 && strstr(last, "feed") != NULL, "status: %s", last);
  /* one more session: his write goes up, then everything he holds is purged */
  dev_sync(bl);
  bgsync_status st = dev_status(bl);
  EXPECT(st.pending == 0 && st.rejected == 0, "bert-laptop: %llu pending, %llu rejected", (unsigned long long)st.pending,
         (unsigned long long)st.rejected);
  EXPECT(client_rows(bl, "c-1") == 0 && client_rows(bl, "c-2") == 0, "bert-laptop still holds c-1 (%ld) or c-2 (%ld)",
         client_rows(bl, "c-1"), client_rows(bl, "c-2"));
  EXPECT(st.clients == 0, "bert-laptop: %llu clients", (unsigned long long)st.clients);
  EXPECT(sql_count(bl, "SELECT count(*) FROM bgsync_purged WHERE client = '_org'") == 1,
         "bert-laptop was not purged of the organisation data");
  /* then refused, clearly */
  bg_err e = bgsync_sync(bl->r, NULL);
  EXPECT(e == BG_E_USER_DISABLED, "sync of a disabled user's drained device: %s (%s)", bg_err_name(e), bgsync_errmsg(bl->r));
  /* his last write reached the team */
  dev_sync(al);
  char v[128];
  EXPECT(sql_text(al, v, sizeof v, "SELECT adres FROM client WHERE client = 'c-1'") && strcmp(v, "Molenweg 3") == 0,
         "anna-laptop: c-1's adres is '%s'", v);
  /* enabled again, the device is fed its caseload anew */
  world_bgctl(w, "user enable bert");
  dev_sync(bl);
  EXPECT(dev_status(bl).clients == 2, "bert-laptop after enable: %llu clients", (unsigned long long)dev_status(bl).clients);
  EXPECT(sql_text(bl, v, sizeof v, "SELECT adres FROM client WHERE client = 'c-1'") && strcmp(v, "Molenweg 3") == 0,
         "bert-laptop after enable: c-1's adres is '%s'", v);
  world_free(w);
}

static void leaving_a_team_purges_its_clients_on_the_next_sync(void **state) {
  (void)state;
  world *w = world_new();
  snprintf(g_ctx, sizeof g_ctx, "leaving_a_team_purges_its_clients_on_the_next_sync");
  dev *bl = &w->bl, *ap = &w->ap;
  world_bgctl(w, "team add zuid");
  world_bgctl(w, "user team add bert zuid");
  world_bgctl(w, "user team remove bert noord");
  dev_sync(bl);
  EXPECT(client_rows(bl, "c-1") == 0 && client_rows(bl, "c-2") == 0, "bert-laptop still holds c-1 (%ld) or c-2 (%ld)",
         client_rows(bl, "c-1"), client_rows(bl, "c-2"));
  EXPECT(dev_status(bl).clients == 0, "bert-laptop: %llu clients", (unsigned long long)dev_status(bl).clients);
  EXPECT(sql_count(bl, "SELECT count(*) FROM bgsync_purged WHERE client = '_org'") == 0,
         "bert-laptop was purged of the organisation data");
  /* anna leads c-1 and c-2: a new begeleider in the team, assigned by the office */
  world_bgctl(w, "user team add bert noord");
  world_bgctl(w, "client assign c-2 --begeleider bert");
  dev_sync(bl);
  EXPECT(dev_status(bl).clients == 2, "bert-laptop back in noord: %llu clients", (unsigned long long)dev_status(bl).clients);
  dev_sync(ap);
  char v[32];
  EXPECT(sql_text(ap, v, sizeof v, "SELECT begeleider FROM traject WHERE client = 'c-2'") && strcmp(v, "3") == 0,
         "anna-phone: c-2's begeleider is '%s' (bert is user 3)", v);
  world_free(w);
}

/* --- the program ------------------------------------------------------------------------------------------ */

static int group_setup(void **state) {
  (void)state;
  snprintf(g_tmp, sizeof g_tmp, "/tmp/bg_sync_replicas_XXXXXX");
  return mkdtemp(g_tmp) ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  if (g_failed) {
    fprintf(stderr, "replicas kept in %s\n", g_tmp);
    return 0;
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
  return system(cmd) == 0 ? 0 : -1;
}

/* After a failed test: stop its daemon, keep its files for a look. */
static int test_teardown(void **state) {
  (void)state;
  if (!g_w.live) return 0;
  g_failed = true;
  fprintf(stderr, "[%s] failed: daemon log %s.log\n", g_ctx, g_w.org.home);
  if (g_w.al.r) bgsync_close(g_w.al.r);
  if (g_w.ap.r) bgsync_close(g_w.ap.r);
  if (g_w.bl.r) bgsync_close(g_w.bl.r);
  if (g_w.cl.r) bgsync_close(g_w.cl.r);
  bgh_daemon_stop(&g_w.org, SIGTERM);
  g_w.live = false;
  return 0;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(converge_in_several_orders, test_teardown),
      cmocka_unit_test_teardown(late_edit_after_signature_is_a_proposal_everywhere, test_teardown),
      cmocka_unit_test_teardown(plain_sql_writes_sync, test_teardown),
      cmocka_unit_test_teardown(revoked_device_fails_clearly, test_teardown),
      cmocka_unit_test_teardown(moved_client_is_purged_after_pending_writes_are_pushed, test_teardown),
      cmocka_unit_test_teardown(disabled_user_pushes_then_is_purged_then_refused, test_teardown),
      cmocka_unit_test_teardown(leaving_a_team_purges_its_clients_on_the_next_sync, test_teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
