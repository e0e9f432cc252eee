/*
 * test_care.c - the office's view of care data (daemon/care.h) on a real
 * store: a generated caseload whose writes carry chosen HLC times, so that
 * each signal of the method fires just past its deadline and stays quiet just
 * before it, and a report whose numbers are known: positions at the period's
 * end, median and p90 days per phase, cycles, decisions, uitstroom reasons.
 * Also the store calls bgctl's access commands rest on: a disabled user's
 * device is purged of everything (and refused after), leaving a team purges
 * the team's clients, and the office's resolution of a conflict.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bg_engine.h"
#include "bg_hlc.h"
#include "bg_kv.h"
#include "bg_schema.h"
#include "care.h"
#include "store.h"
#include "teststore.h"

/* 2025-03-01T00:00:00Z; day(n) is 10:00 of day n after it. */
#define T0 INT64_C(1740787200000)
#define DAY BG_DAY_MS
static int64_t day(int n) { return T0 + n * DAY + 10 * 3600 * 1000; }

/* --- a device: the engine in memory, writes pushed one by one ------------------------------ */

typedef struct device {
  bg_who who;
  bg_memkv *kv;
  bg_engine e;
  uint64_t counter, cursor, batch;
} device;

static device *device_new(bg_store *s, const char *login, const char *code) {
  bg_user_row u;
  assert_int_equal(bg_store_user_by_login(s, login, &u), BG_OK);
  uint8_t h[32] = {0};
  snprintf((char *)h, sizeof h, "%s", code);
  assert_int_equal(bg_store_code_add(s, code, h, u.id, T0, T0 + 3600000), BG_OK);
  device *d = calloc(1, sizeof *d);
  uint64_t id, user;
  assert_int_equal(bg_store_code_use(s, code, h, login, T0 + 1, &id, &user), BG_OK);
  d->who = (bg_who){id, user, u.role};
  d->kv = bg_memkv_new();
  assert_int_equal(bg_engine_init(&d->e, bg_memkv_kv(d->kv)), BG_OK);
  return d;
}

static void device_free(device *d) {
  bg_engine_free(&d->e);
  bg_memkv_free(d->kv);
  free(d);
}

/* Pull until up to date; returns the clients named in PURGE (acknowledged). */
static int device_pull(bg_store *s, device *d, int64_t now, char purged[][BG_ID_MAX + 1]) {
  int np = 0;
  for (int guard = 0; guard < 1000; guard++) {
    bg_pull_page p;
    assert_int_equal(bg_store_pull(s, &d->who, d->cursor, 0, 0, now, &p), BG_OK);
    uint64_t purge_id = p.purge_id;
    for (uint32_t i = 0; i < p.n_purge && purged; i++)
      snprintf(purged[np++], BG_ID_MAX + 1, "%.*s", (int)p.purge[i].len, p.purge[i].p);
    msgpack_zone *z = msgpack_zone_new(4096);
    for (uint32_t i = 0; i < p.n; i++) {
      bg_write w;
      assert_int_equal(bg_write_decode((const uint8_t *)p.writes[i].p, p.writes[i].len, z, &w, NULL), BG_OK);
      bg_apply_result res;
      assert_int_equal(bg_engine_apply(&d->e, &w, &res), BG_OK);
    }
    msgpack_zone_free(z);
    d->cursor = p.next;
    if (purge_id) assert_int_equal(bg_store_purge_ack(s, &d->who, purge_id, now), BG_OK);
    if (!p.more && !purge_id) return np;
  }
  fail_msg("pull did not finish");
  return np;
}

/* One write made at `at` on the device, applied there and pushed; returns the
 * dot's counter (record ids of doelen and acties are made from it). */
static uint64_t put(bg_store *s, device *d, const char *client, uint32_t rtype, const char *rid, uint32_t field,
                    bg_value v, bool tb, int64_t at) {
  bg_write w;
  memset(&w, 0, sizeof w);
  w.client = bg_str_c(client);
  w.rtype = rtype;
  w.rid = bg_str_c(rid);
  w.field = field;
  w.value = v;
  assert_int_equal(bg_engine_context_for(&d->e, &w), BG_OK);
  w.dot = (bg_dot){d->who.device, ++d->counter};
  w.user = d->who.user;
  w.role = d->who.role;
  w.tb = tb;
  w.hlc = bg_hlc_make((uint64_t)at, 0);
  bg_apply_result res;
  assert_int_equal(bg_engine_apply(&d->e, &w, &res), BG_OK);
  bg_push_result pr;
  assert_int_equal(bg_store_push(s, &d->who, ++d->batch, &w, 1, at, &pr), BG_OK);
  if (pr.n_rejected) fail_msg("write to %s %u/%s.%u refused: %s", client, rtype, rid, field, bg_err_name((bg_err)pr.rejected[0].code));
  bg_vv_free(&w.ctx);
  return d->counter;
}

static bg_value text(const char *t) { return (bg_value){BG_V_STR, false, 0, bg_str_c(t)}; }

static void move(bg_store *s, device *d, const char *client, uint32_t cycle, int phase, int64_t at) {
  bg_value v = {BG_V_INT, false, bg_pos_encode((bg_pos){cycle, (uint8_t)phase}), {"", 0}};
  put(s, d, client, BG_RT_TRAJECT, "t", 1, v, true, at);
}

/* From aanmelding (registered at day 0) through intake, opstart and analyse to planning of cycle 1. */
static void to_planning(bg_store *s, device *d, const char *client, int64_t at) {
  move(s, d, client, 0, BG_PH_INTAKE, at - 4 * DAY);
  move(s, d, client, 0, BG_PH_OPSTART, at - 3 * DAY);
  move(s, d, client, 1, BG_PH_ANALYSE, at - 2 * DAY);
  move(s, d, client, 1, BG_PH_PLANNING, at);
}

static void sign(bg_store *s, device *d, const char *client, int64_t at) {
  put(s, d, client, BG_RT_PLAN, "1", 1, text("Zelfstandig wonen"), true, at);
  put(s, d, client, BG_RT_PLAN, "1", 2, text("Client, Utrecht"), true, at);
}

static void voortgangsgesprek(bg_store *s, device *d, const char *client, int64_t at) {
  char rid[48];
  snprintf(rid, sizeof rid, "%llu.%llu", (unsigned long long)d->who.device, (unsigned long long)d->counter + 1);
  put(s, d, client, BG_RT_RAPPORTAGE, rid, 1, text("voortgangsgesprek"), true, at);
}

/* --- signals ---------------------------------------------------------------------------------- */

typedef struct got {
  char v[64][96];
  int n;
} got;

static bg_err collect(void *arg, const bg_signal *sig) {
  got *g = arg;
  assert_true(g->n < 64);
  if (sig->client[0]) snprintf(g->v[g->n++], sizeof g->v[0], "%s %s %d", sig->kind, sig->client, sig->days);
  else snprintf(g->v[g->n++], sizeof g->v[0], "%s device %llu %d", sig->kind, (unsigned long long)sig->device, sig->days);
  return BG_OK;
}

static void expect_signals(const bg_care_set *set, const bg_signal_opts *o, const char *const *want) {
  got g = {.n = 0};
  assert_int_equal(bg_care_signals(set, o, collect, &g), BG_OK);
  int nwant = 0;
  while (want[nwant]) nwant++;
  bool ok = nwant == g.n;
  for (int i = 0; ok && i < g.n; i++) ok = strcmp(g.v[i], want[i]) == 0;
  if (!ok) {
    for (int i = 0; i < g.n; i++) fprintf(stderr, "  got:  %s\n", g.v[i]);
    for (int i = 0; i < nwant; i++) fprintf(stderr, "  want: %s\n", want[i]);
    fail_msg("the signals differ");
  }
}

static void each_signal_fires_past_its_deadline_and_not_before(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  assert_int_equal(bg_store_team_add(s, "noord", T0), BG_OK);
  assert_int_equal(bg_store_team_add(s, "zuid", T0), BG_OK);
  uint64_t id;
  assert_int_equal(bg_store_user_add(s, "anna", BG_ROLE_BEGELEIDER, "noord", T0, &id), BG_OK);
  assert_int_equal(bg_store_user_add(s, "carla", BG_ROLE_BEGELEIDER, "noord", T0, &id), BG_OK);
  assert_int_equal(bg_store_user_add(s, "bert", BG_ROLE_BEGELEIDER, "zuid", T0, &id), BG_OK);
  static const char *const noord[] = {"A-plan-late", "B-plan-early", "C-draft", "D-draft-new", "E-unsigned-on",
                                      "F-voortgang", "G-voortgang-ok", "H-term", "I-term-ahead", "J-no-term",
                                      "K-conflict", "L-conflict-new"};
  for (size_t i = 0; i < sizeof noord / sizeof *noord; i++)
    assert_int_equal(bg_store_client_add(s, noord[i], "noord", "anna", day(0)), BG_OK);
  assert_int_equal(bg_store_client_add(s, "Z-plan-late", "zuid", "bert", day(0)), BG_OK);
  device *a = device_new(s, "anna", "ka"), *c = device_new(s, "carla", "kc"), *b = device_new(s, "bert", "kb");
  device_pull(s, a, day(0), NULL);
  device_pull(s, b, day(0), NULL);

  /* now: day 30, 00:00. 14 days and 14 hours is past two weeks; 13 days 14 hours is not */
  to_planning(s, a, "A-plan-late", day(15));
  to_planning(s, a, "B-plan-early", day(16));
  to_planning(s, a, "C-draft", day(20));
  put(s, a, "C-draft", BG_RT_PLAN, "1", 1, text("Een eigen woning"), true, day(21));
  to_planning(s, a, "D-draft-new", day(24));
  put(s, a, "D-draft-new", BG_RT_PLAN, "1", 1, text("Schuldenvrij"), true, day(24));
  to_planning(s, a, "E-unsigned-on", day(27));
  move(s, a, "E-unsigned-on", 1, BG_PH_UITVOERING, day(28)); /* the engine allows it; the signal does not */
  to_planning(s, a, "F-voortgang", day(8));
  sign(s, a, "F-voortgang", day(9));
  move(s, a, "F-voortgang", 1, BG_PH_UITVOERING, day(10));
  voortgangsgesprek(s, a, "F-voortgang", day(15));
  to_planning(s, a, "G-voortgang-ok", day(8));
  sign(s, a, "G-voortgang-ok", day(9));
  move(s, a, "G-voortgang-ok", 1, BG_PH_UITVOERING, day(10));
  voortgangsgesprek(s, a, "G-voortgang-ok", day(12));
  voortgangsgesprek(s, a, "G-voortgang-ok", day(16));
  /* H: an actie deadline passed (and a doel termijn that is no date); I: a deadline still ahead */
  const char *term[][2] = {{"H-term", "2025-03-26"}, {"I-term-ahead", "2025-04-02"}};
  for (int i = 0; i < 2; i++) {
    to_planning(s, a, term[i][0], day(18));
    char rid[64];
    snprintf(rid, sizeof rid, "1:%llu.%llu", (unsigned long long)a->who.device, (unsigned long long)a->counter + 1);
    put(s, a, term[i][0], BG_RT_DOEL, rid, 2, text("Post openen"), true, day(18));
    put(s, a, term[i][0], BG_RT_DOEL, rid, 3, text("drie maanden"), true, day(18));
    snprintf(rid, sizeof rid, "1:%llu.%llu", (unsigned long long)a->who.device, (unsigned long long)a->counter + 1);
    put(s, a, term[i][0], BG_RT_ACTIE, rid, 2, text("Samen de post openen"), true, day(18));
    put(s, a, term[i][0], BG_RT_ACTIE, rid, 4, text(term[i][1]), true, day(18));
    sign(s, a, term[i][0], day(19));
    move(s, a, term[i][0], 1, BG_PH_UITVOERING, day(20));
    voortgangsgesprek(s, a, term[i][0], day(29));
  }
  to_planning(s, a, "J-no-term", day(4));
  sign(s, a, "J-no-term", day(4));
  move(s, a, "J-no-term", 1, BG_PH_UITVOERING, day(5));
  voortgangsgesprek(s, a, "J-no-term", day(28));
  /* K: anna and carla change the naam concurrently (a conflict since day 21); L: since day 25 */
  device_pull(s, c, day(20), NULL);
  put(s, a, "K-conflict", BG_RT_CLIENT, "c", 1, text("Jan de Vries"), true, day(20));
  put(s, c, "K-conflict", BG_RT_CLIENT, "c", 1, text("Jan de Vries-Bakker"), false, day(21));
  put(s, a, "L-conflict-new", BG_RT_CLIENT, "c", 1, text("Piet"), true, day(25));
  put(s, c, "L-conflict-new", BG_RT_CLIENT, "c", 1, text("Pieter"), false, day(25));
  to_planning(s, b, "Z-plan-late", day(10));
  /* devices: anna synced yesterday, carla on day 21, bert on day 23 */
  assert_int_equal(bg_store_device_seen(s, a->who.device, day(29)), BG_OK);
  assert_int_equal(bg_store_device_seen(s, c->who.device, day(21)), BG_OK);
  assert_int_equal(bg_store_device_seen(s, b->who.device, day(23)), BG_OK);

  bg_care_filter f = {"noord", NULL, NULL};
  bg_care_set set;
  assert_int_equal(bg_care_load(s, &f, &set), BG_OK);
  assert_int_equal(set.n, 12);
  assert_int_equal(set.ndev, 2); /* anna's and carla's: team noord */
  /* what the client list shows */
  const bg_care_client *cl = &set.v[0];
  assert_string_equal(cl->id, "A-plan-late");
  assert_int_equal(cl->pos.phase, BG_PH_PLANNING);
  assert_int_equal(cl->pos.cycle, 1);
  assert_true(cl->pos_since == day(15));
  assert_int_equal(cl->plan, BG_PLAN_NONE);
  assert_int_equal(set.v[2].plan, BG_PLAN_DRAFT);
  assert_int_equal(set.v[5].plan, BG_PLAN_SIGNED);
  assert_true(set.v[5].last_voortgang == day(15));
  assert_true(set.v[7].plan_term == T0 + 25 * DAY); /* H: 2025-03-26 */
  assert_int_equal(set.v[10].conflicts, 1);
  assert_true(set.v[10].oldest_conflict == day(21));
  assert_int_equal(set.v[4].n_moves, 6); /* aanmelding .. uitvoering */

  bg_signal_opts o = {T0 + 30 * DAY, 7, 20};
  static const char *const want[] = {
      "plan-late A-plan-late 14",
      "plan-unsigned C-draft 9",
      "plan-unsigned E-unsigned-on 1",
      "voortgangsgesprek-due F-voortgang 14",
      "evaluatie-due H-term 5",
      "evaluatie-due J-no-term 24",
      "conflict-open K-conflict 8",
      "device-silent device 3 8",
      NULL};
  expect_signals(&set, &o, want);
  /* a day earlier every deadline that was just past is not yet */
  o.now -= DAY;
  static const char *const earlier[] = {"plan-unsigned C-draft 8", "plan-unsigned E-unsigned-on 0",
                                        "evaluatie-due H-term 4", "evaluatie-due J-no-term 23",
                                        "conflict-open K-conflict 7", "device-silent device 3 7", NULL};
  expect_signals(&set, &o, earlier);
  /* N decides the plan, conflict and device signals only */
  o.now += DAY;
  o.days = 10;
  static const char *const tolerant[] = {"plan-late A-plan-late 14", "plan-unsigned E-unsigned-on 1",
                                         "voortgangsgesprek-due F-voortgang 14", "evaluatie-due H-term 5",
                                         "evaluatie-due J-no-term 24", NULL};
  expect_signals(&set, &o, tolerant);
  bg_care_free(&set);

  /* the other team, and one begeleider's devices */
  bg_care_filter fz = {"zuid", NULL, NULL};
  assert_int_equal(bg_care_load(s, &fz, &set), BG_OK);
  o.days = 7;
  static const char *const zuid[] = {"plan-late Z-plan-late 19", NULL};
  expect_signals(&set, &o, zuid);
  bg_care_free(&set);
  bg_care_filter fc = {NULL, "carla", NULL};
  assert_int_equal(bg_care_load(s, &fc, &set), BG_OK);
  assert_int_equal(set.n, 0);
  static const char *const carla[] = {"device-silent device 3 8", NULL};
  expect_signals(&set, &o, carla);
  bg_care_free(&set);

  /* the conflict entry as devices name it, and the office's resolution */
  bg_open_entries l;
  assert_int_equal(bg_care_entries_get(s, "K-conflict", true, true, &l), BG_OK);
  assert_int_equal(l.n, 1);
  char eid[48]; /* carla's write, her first: named as libbgsync names it */
  snprintf(eid, sizeof eid, "c%llu.1", (unsigned long long)c->who.device);
  assert_string_equal(l.v[0].id, eid);
  assert_string_equal(l.v[0].shown.text, "Jan de Vries"); /* R2: anna leads */
  assert_string_equal(l.v[0].other.text, "Jan de Vries-Bakker");
  assert_true(l.v[0].other.device == c->who.device);
  assert_int_equal(bg_store_office_write(s, "K-conflict", l.v[0].rtype, l.v[0].rid, l.v[0].field, &l.v[0].other.value,
                                         "resolve", "test", day(30)),
                   BG_OK);
  bg_open_entries_free(&l);
  assert_int_equal(bg_care_entries_get(s, "K-conflict", true, true, &l), BG_OK);
  assert_int_equal(l.n, 0);
  bg_open_entries_free(&l);
  bg_care_filter fk = {NULL, NULL, "K-conflict"};
  assert_int_equal(bg_care_load(s, &fk, &set), BG_OK);
  assert_int_equal(set.v[0].conflicts, 0);
  bg_care_free(&set);
  /* devices get the resolution */
  device_pull(s, a, day(30), NULL);
  bg_field_view fv;
  assert_int_equal(bg_engine_field(&a->e, BG_STR("K-conflict"), BG_RT_CLIENT, BG_STR("c"), 1, &fv), BG_OK);
  assert_true(bg_str_eq(fv.winner->value.s, BG_STR("Jan de Vries-Bakker")));
  assert_int_equal(fv.n_losers, 0);
  /* a field out of its phase is not written by the office: it would only be a proposal */
  bg_value v = text("Later doel");
  assert_int_equal(bg_store_office_write(s, "F-voortgang", BG_RT_PLAN, "1", 1, &v, "resolve", "test", day(30)), BG_E_WINDOW);
  device_free(a);
  device_free(b);
  device_free(c);
  remove_store(s);
}

/* --- reports ---------------------------------------------------------------------------------- */

typedef struct rows {
  char v[128][128];
  int n;
} rows;

static bg_err report_collect(void *arg, const bg_report_row *r) {
  rows *x = arg;
  assert_true(x->n < 128);
  char num[64] = "";
  if (r->median >= 0) snprintf(num, sizeof num, " median %.1f p90 %.1f", r->median, r->p90);
  if (r->cycle >= 0) snprintf(x->v[x->n++], sizeof x->v[0], "%s %s %s/%d: %llu", r->section, r->team, r->item, r->cycle,
                              (unsigned long long)r->count);
  else snprintf(x->v[x->n++], sizeof x->v[0], "%s %s %s: %llu%s", r->section, r->team, r->item,
                (unsigned long long)r->count, num);
  return BG_OK;
}

static void expect_rows(const rows *x, const char *const *want) {
  int nwant = 0;
  while (want[nwant]) nwant++;
  bool ok = nwant == x->n;
  for (int i = 0; ok && i < x->n; i++) ok = strcmp(x->v[i], want[i]) == 0;
  if (!ok) {
    for (int i = 0; i < x->n; i++) fprintf(stderr, "  got:  %s\n", x->v[i]);
    for (int i = 0; i < nwant; i++) fprintf(stderr, "  want: %s\n", want[i]);
    fail_msg("the report differs");
  }
}

static void report_counts_phases_throughput_cycles_and_decisions(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  assert_int_equal(bg_store_team_add(s, "noord", T0), BG_OK);
  assert_int_equal(bg_store_team_add(s, "zuid", T0), BG_OK);
  uint64_t id;
  assert_int_equal(bg_store_user_add(s, "anna", BG_ROLE_BEGELEIDER, "noord", T0, &id), BG_OK);
  assert_int_equal(bg_store_user_add(s, "bert", BG_ROLE_BEGELEIDER, "zuid", T0, &id), BG_OK);
  const char *cs[] = {"R1", "R2", "R3"};
  for (int i = 0; i < 3; i++) assert_int_equal(bg_store_client_add(s, cs[i], "noord", "anna", day(0)), BG_OK);
  assert_int_equal(bg_store_client_add(s, "Z1", "zuid", "bert", day(0)), BG_OK);
  device *a = device_new(s, "anna", "ka"), *b = device_new(s, "bert", "kb");
  device_pull(s, a, day(0), NULL);
  device_pull(s, b, day(0), NULL);
  /* R1: the whole way in two cycles, out on day 60 */
  put(s, a, "R1", BG_RT_AANMELDING, "a", 4, text("intakegesprek"), true, day(1));
  move(s, a, "R1", 0, BG_PH_INTAKE, day(2));
  put(s, a, "R1", BG_RT_INTAKE, "i", 4, text("toelating"), true, day(4));
  move(s, a, "R1", 0, BG_PH_OPSTART, day(5));
  move(s, a, "R1", 1, BG_PH_ANALYSE, day(6));
  move(s, a, "R1", 1, BG_PH_PLANNING, day(10));
  sign(s, a, "R1", day(11));
  move(s, a, "R1", 1, BG_PH_UITVOERING, day(12));
  move(s, a, "R1", 1, BG_PH_EVALUATIE, day(40));
  put(s, a, "R1", BG_RT_EVALUATIE, "1", 5, text("voortzetten"), true, day(41));
  move(s, a, "R1", 2, BG_PH_PLANNING, day(42));
  put(s, a, "R1", BG_RT_PLAN, "2", 1, text("Werk vinden"), true, day(43));
  put(s, a, "R1", BG_RT_PLAN, "2", 2, text("Client, Utrecht"), true, day(44));
  move(s, a, "R1", 2, BG_PH_UITVOERING, day(45));
  move(s, a, "R1", 2, BG_PH_EVALUATIE, day(58));
  put(s, a, "R1", BG_RT_EVALUATIE, "2", 5, text("uitstroom"), true, day(59));
  move(s, a, "R1", 2, BG_PH_UITSTROOM, day(60));
  put(s, a, "R1", BG_RT_UITSTROOM, "u", 7, text("doelen_bereikt"), true, day(61));
  /* R2: slower in, stays in planning */
  put(s, a, "R2", BG_RT_AANMELDING, "a", 4, text("intakegesprek"), true, day(3));
  move(s, a, "R2", 0, BG_PH_INTAKE, day(4));
  move(s, a, "R2", 0, BG_PH_OPSTART, day(5));
  move(s, a, "R2", 1, BG_PH_ANALYSE, day(8));
  move(s, a, "R2", 1, BG_PH_PLANNING, day(9));
  /* R3: refused at aanmelding, closed on day 1 */
  put(s, a, "R3", BG_RT_AANMELDING, "a", 4, text("afwijzing"), true, day(1));
  move(s, a, "R3", 0, BG_PH_GESLOTEN, day(1));
  /* Z1: in intake */
  put(s, b, "Z1", BG_RT_AANMELDING, "a", 4, text("intakegesprek"), true, day(1));
  move(s, b, "Z1", 0, BG_PH_INTAKE, day(1));

  bg_care_filter all = {NULL, NULL, NULL};
  bg_care_set set;
  assert_int_equal(bg_care_load(s, &all, &set), BG_OK);
  assert_int_equal(set.v[0].n_moves, 11); /* R1: every position it reached */
  /* the whole history: day 0 to day 70 */
  bg_report_opts o = {T0, T0 + 70 * DAY, true};
  rows x = {.n = 0};
  assert_int_equal(bg_care_report(&set, &o, report_collect, &x), BG_OK);
  static const char *const want[] = {
      "fase noord planning/1: 1",
      "fase noord uitstroom/2: 1",
      "fase noord gesloten/0: 1",
      /* aanmelding left after 2.0, 4.0 and 1.0 days (R3's at 10:00 the same day: 1.0 from day 0's 10:00) */
      "doorlooptijd noord aanmelding: 3 median 2.0 p90 4.0",
      "doorlooptijd noord intake: 2 median 1.0 p90 3.0",
      "doorlooptijd noord opstart: 2 median 1.0 p90 3.0",
      "doorlooptijd noord analyse: 2 median 1.0 p90 4.0",
      "doorlooptijd noord planning: 2 median 2.0 p90 3.0",
      "doorlooptijd noord uitvoering: 2 median 13.0 p90 28.0",
      "doorlooptijd noord evaluatie: 2 median 2.0 p90 2.0",
      "cycli noord 0: 1",
      "cycli noord 1: 1",
      "cycli noord 2: 1",
      "besluit noord aanmelding: afwijzing: 1",
      "besluit noord aanmelding: intakegesprek: 2",
      "besluit noord intake: toelating: 1",
      "besluit noord evaluatie: uitstroom: 1",
      "besluit noord evaluatie: voortzetten: 1",
      "uitstroom noord doelen_bereikt: 1",
      "fase zuid intake/0: 1",
      "doorlooptijd zuid aanmelding: 1 median 1.0 p90 1.0",
      "cycli zuid 0: 1",
      "besluit zuid aanmelding: intakegesprek: 1",
      "fase * intake/0: 1",
      "fase * planning/1: 1",
      "fase * uitstroom/2: 1",
      "fase * gesloten/0: 1",
      "doorlooptijd * aanmelding: 4 median 1.0 p90 4.0",
      "doorlooptijd * intake: 2 median 1.0 p90 3.0",
      "doorlooptijd * opstart: 2 median 1.0 p90 3.0",
      "doorlooptijd * analyse: 2 median 1.0 p90 4.0",
      "doorlooptijd * planning: 2 median 2.0 p90 3.0",
      "doorlooptijd * uitvoering: 2 median 13.0 p90 28.0",
      "doorlooptijd * evaluatie: 2 median 2.0 p90 2.0",
      "cycli * 0: 2",
      "cycli * 1: 1",
      "cycli * 2: 1",
      "besluit * aanmelding: afwijzing: 1",
      "besluit * aanmelding: intakegesprek: 3",
      "besluit * intake: toelating: 1",
      "besluit * evaluatie: uitstroom: 1",
      "besluit * evaluatie: voortzetten: 1",
      "uitstroom * doelen_bereikt: 1",
      NULL};
  expect_rows(&x, want);
  /* a period: days 3 to 9 of team noord only; positions as at day 9's start */
  o = (bg_report_opts){T0 + 3 * DAY, T0 + 9 * DAY, false};
  bg_care_free(&set);
  bg_care_filter noord = {"noord", NULL, NULL};
  assert_int_equal(bg_care_load(s, &noord, &set), BG_OK);
  x.n = 0;
  assert_int_equal(bg_care_report(&set, &o, report_collect, &x), BG_OK);
  static const char *const period[] = {
      "fase noord analyse/1: 2", /* R1 since day 6, R2 since day 8 */
      "fase noord gesloten/0: 1",
      "doorlooptijd noord aanmelding: 1 median 4.0 p90 4.0", /* R2 left on day 4; R1 on day 2, R3 on day 1: before */
      "doorlooptijd noord intake: 2 median 1.0 p90 3.0",
      "doorlooptijd noord opstart: 2 median 1.0 p90 3.0",
      "cycli noord 0: 1", "cycli noord 1: 2",
      "besluit noord aanmelding: intakegesprek: 1", /* R2's of day 3; R1's and R3's of day 1 are before */
      "besluit noord intake: toelating: 1",
      NULL};
  expect_rows(&x, period);
  bg_care_free(&set);
  device_free(a);
  device_free(b);
  remove_store(s);
}

/* --- access: disable, team membership ---------------------------------------------------------- */

static bool holds(bg_store *s, const device *d) {
  bool h;
  assert_int_equal(bg_store_device_holds(s, d->who.device, &h), BG_OK);
  return h;
}

static void a_disabled_users_device_is_purged_of_everything_then_holds_nothing(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  assert_int_equal(bg_store_team_add(s, "noord", T0), BG_OK);
  uint64_t id;
  assert_int_equal(bg_store_user_add(s, "anna", BG_ROLE_BEGELEIDER, "noord", T0, &id), BG_OK);
  assert_int_equal(bg_store_client_add(s, "N-1", "noord", "anna", day(0)), BG_OK);
  assert_int_equal(bg_store_client_add(s, "N-2", "noord", "anna", day(0)), BG_OK);
  device *a = device_new(s, "anna", "ka");
  assert_false(holds(s, a)); /* never synced */
  device_pull(s, a, day(0), NULL);
  assert_true(holds(s, a));
  assert_int_equal(bg_store_user_set_disabled(s, "anna", true, day(1)), BG_OK);
  assert_int_equal(bg_store_user_set_disabled(s, "anna", true, day(1)), BG_E_EXISTS);
  assert_int_equal(bg_store_user_set_disabled(s, "_office", false, day(1)), BG_E_USAGE);
  assert_int_equal(bg_store_user_set_disabled(s, "nobody", true, day(1)), BG_E_NOT_FOUND);
  bg_store_stats st;
  assert_int_equal(bg_store_stats_get(s, day(0), &st), BG_OK);
  assert_int_equal(st.users_disabled, 1);
  assert_int_equal(st.purge_devices, 1);
  assert_int_equal(st.purge_clients, 3); /* N-1, N-2 and the organisation data */
  /* what it wrote offline is still taken: it held the client */
  put(s, a, "N-1", BG_RT_CLIENT, "c", 3, text("Dorpsstraat 1"), true, day(1));
  char purged[8][BG_ID_MAX + 1];
  assert_int_equal(device_pull(s, a, day(2), purged), 3);
  assert_string_equal(purged[0], "N-1");
  assert_string_equal(purged[1], "N-2");
  assert_string_equal(purged[2], "_org");
  assert_false(holds(s, a)); /* so the next HELLO is refused */
  assert_int_equal(bg_store_stats_get(s, day(0), &st), BG_OK);
  assert_int_equal(st.purge_clients, 0);
  /* enabled again: fed from the start */
  assert_int_equal(bg_store_user_set_disabled(s, "anna", false, day(3)), BG_OK);
  device_pull(s, a, day(3), NULL);
  assert_true(holds(s, a));
  device_free(a);
  remove_store(s);
}

static void leaving_a_team_purges_its_clients_except_those_the_user_leads(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  assert_int_equal(bg_store_team_add(s, "noord", T0), BG_OK);
  assert_int_equal(bg_store_team_add(s, "zuid", T0), BG_OK);
  uint64_t id;
  assert_int_equal(bg_store_user_add(s, "anna", BG_ROLE_BEGELEIDER, "noord", T0, &id), BG_OK);
  assert_int_equal(bg_store_user_add(s, "bert", BG_ROLE_BEGELEIDER, "noord", T0, &id), BG_OK);
  assert_int_equal(bg_store_client_add(s, "N-1", "noord", "anna", day(0)), BG_OK);
  assert_int_equal(bg_store_client_add(s, "N-2", "noord", "bert", day(0)), BG_OK);
  assert_int_equal(bg_store_client_add(s, "Z-1", "zuid", "bert", day(0)), BG_OK);
  device *b = device_new(s, "bert", "kb");
  assert_int_equal(bg_store_user_team(s, "bert", "zuid", true, day(0)), BG_OK);
  assert_int_equal(bg_store_user_team(s, "bert", "zuid", true, day(0)), BG_E_EXISTS);
  assert_int_equal(bg_store_user_team(s, "bert", "oost", true, day(0)), BG_E_NOT_FOUND);
  device_pull(s, b, day(0), NULL);
  assert_int_equal(bg_store_user_team(s, "bert", "noord", false, day(1)), BG_OK);
  assert_int_equal(bg_store_user_team(s, "bert", "noord", false, day(1)), BG_E_NOT_FOUND);
  char purged[8][BG_ID_MAX + 1];
  assert_int_equal(device_pull(s, b, day(2), purged), 1);
  assert_string_equal(purged[0], "N-1"); /* N-2 stays: bert leads it */
  /* the team list counts members and clients */
  bg_user_row u;
  assert_int_equal(bg_store_user_by_login(s, "bert", &u), BG_OK);
  assert_string_equal(u.teams, "zuid");
  /* assign: within the client's team only */
  assert_int_equal(bg_store_client_assign(s, "N-1", "bert", day(3)), BG_E_FORBIDDEN);
  assert_non_null(strstr(bg_store_errmsg(s), "user team add bert noord"));
  assert_int_equal(bg_store_client_assign(s, "Z-9", "bert", day(3)), BG_E_NOT_FOUND);
  assert_int_equal(bg_store_user_team(s, "anna", "zuid", true, day(3)), BG_OK);
  assert_int_equal(bg_store_client_assign(s, "Z-1", "anna", day(3)), BG_OK);
  bg_client_row c;
  assert_int_equal(bg_store_client_get(s, "Z-1", &c), BG_OK);
  assert_string_equal(c.begeleider, "anna");
  assert_string_equal(c.team, "zuid");
  /* bert's device still holds Z-1 (his team), and learns anna leads it */
  device_pull(s, b, day(4), NULL);
  bg_field_view fv;
  assert_int_equal(bg_engine_field(&b->e, BG_STR("Z-1"), BG_RT_TRAJECT, BG_STR("t"), 2, &fv), BG_OK);
  assert_non_null(fv.winner);
  bg_user_row an;
  assert_int_equal(bg_store_user_by_login(s, "anna", &an), BG_OK);
  assert_true(fv.winner->value.i == (int64_t)an.id);
  device_free(b);
  remove_store(s);
}

/* Two devices moved one traject at once (R5 shows the further phase): the
 * office closes the entry as bgctl's `conflicts resolve ID --keep A` does - by
 * writing the shown phase, which moves nothing. --keep B would move the traject
 * back: bgctl refuses it with what to do, and the engine would too. */
static void the_office_closes_a_conflict_of_two_phase_moves_by_keeping_the_shown_phase(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  assert_int_equal(bg_store_team_add(s, "noord", T0), BG_OK);
  uint64_t id;
  assert_int_equal(bg_store_user_add(s, "anna", BG_ROLE_BEGELEIDER, "noord", T0, &id), BG_OK);
  assert_int_equal(bg_store_user_add(s, "carla", BG_ROLE_BEGELEIDER, "noord", T0, &id), BG_OK);
  assert_int_equal(bg_store_client_add(s, "P-1", "noord", "anna", day(0)), BG_OK);
  device *a = device_new(s, "anna", "ka"), *c = device_new(s, "carla", "kc");
  device_pull(s, a, day(0), NULL);
  device_pull(s, c, day(0), NULL);
  /* offline, both: anna to intake, carla (spoedopname) to opstart */
  move(s, a, "P-1", 0, BG_PH_INTAKE, day(1));
  bg_value v = {BG_V_INT, false, bg_pos_encode((bg_pos){0, BG_PH_OPSTART}), {"", 0}};
  put(s, c, "P-1", BG_RT_TRAJECT, "t", 1, v, false, day(1));
  bg_open_entries l;
  assert_int_equal(bg_care_entries_get(s, "P-1", true, true, &l), BG_OK);
  assert_int_equal(l.n, 1);
  assert_int_equal(l.v[0].rtype, BG_RT_TRAJECT);
  assert_string_equal(l.v[0].shown.text, "opstart (cycle 0)"); /* R5: the phase moves forward */
  assert_string_equal(l.v[0].other.text, "intake (cycle 0)");
  /* --keep B: back to intake is no move the method allows */
  assert_int_equal(bg_store_office_write(s, "P-1", l.v[0].rtype, l.v[0].rid, l.v[0].field, &l.v[0].other.value,
                                         "resolve", "test", day(2)),
                   BG_E_PHASE_TRANSITION);
  /* --keep A: the shown phase, written by the office, closes the entry */
  assert_int_equal(bg_store_office_write(s, "P-1", l.v[0].rtype, l.v[0].rid, l.v[0].field, &l.v[0].shown.value,
                                         "resolve", "test", day(2)),
                   BG_OK);
  bg_open_entries_free(&l);
  assert_int_equal(bg_care_entries_get(s, "P-1", true, true, &l), BG_OK);
  assert_int_equal(l.n, 0);
  bg_open_entries_free(&l);
  /* both devices get the resolution: opstart, no entry left */
  device *d[] = {a, c};
  for (int i = 0; i < 2; i++) {
    device_pull(s, d[i], day(3), NULL);
    bg_pos pos;
    assert_int_equal(bg_engine_position(&d[i]->e, BG_STR("P-1"), &pos), BG_OK);
    assert_int_equal(pos.phase, BG_PH_OPSTART);
    bg_field_view fv;
    assert_int_equal(bg_engine_field(&d[i]->e, BG_STR("P-1"), BG_RT_TRAJECT, BG_STR("t"), 1, &fv), BG_OK);
    assert_int_equal(fv.n_losers, 0);
  }
  device_free(a);
  device_free(c);
  remove_store(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(each_signal_fires_past_its_deadline_and_not_before),
      cmocka_unit_test(report_counts_phases_throughput_cycles_and_decisions),
      cmocka_unit_test(a_disabled_users_device_is_purged_of_everything_then_holds_nothing),
      cmocka_unit_test(leaving_a_team_purges_its_clients_except_those_the_user_leads),
      cmocka_unit_test(the_office_closes_a_conflict_of_two_phase_moves_by_keeping_the_shown_phase),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
