/*
 * test_store.c - the daemon's store (daemon/store.h) on a real SQLite file:
 * people and devices, enrolment codes, pushes (authorship, access, idempotent
 * resends), pulls scoped to the user's caseload with clients entering and
 * leaving it (history fed from the first write; PURGE until acknowledged), and
 * the audit chain. The seeded property: devices working offline and syncing
 * through the store with lost acknowledgements, lost pages and small page
 * budgets end with exactly the store's state for every client they may see,
 * and never receive a write of a client they may not.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <msgpack.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bg_engine.h"
#include "bg_hlc.h"
#include "bg_schema.h"
#include "store.h"
#include "teststore.h"
#include "testrand.h"

#define T0 INT64_C(1795426200000)

/* Two teams; a begeleider in each, a second one in team A; an office user. */
typedef struct org {
  uint64_t anna, bert, carla, otto; /* anna, carla: team A; bert: team B; otto: office */
} org;

static org make_org(bg_store *s) {
  org o;
  assert_int_equal(bg_store_team_add(s, "noord", T0), BG_OK);
  assert_int_equal(bg_store_team_add(s, "zuid", T0), BG_OK);
  assert_int_equal(bg_store_user_add(s, "anna", BG_ROLE_BEGELEIDER, "noord", T0, &o.anna), BG_OK);
  assert_int_equal(bg_store_user_add(s, "bert", BG_ROLE_BEGELEIDER, "zuid", T0, &o.bert), BG_OK);
  assert_int_equal(bg_store_user_add(s, "carla", BG_ROLE_BEGELEIDER, "noord", T0, &o.carla), BG_OK);
  assert_int_equal(bg_store_user_add(s, "otto", BG_ROLE_OFFICE, NULL, T0, &o.otto), BG_OK);
  assert_int_equal(bg_store_client_add(s, "N-1", "noord", "anna", T0), BG_OK);
  assert_int_equal(bg_store_client_add(s, "N-2", "noord", "carla", T0), BG_OK);
  assert_int_equal(bg_store_client_add(s, "Z-1", "zuid", "bert", T0), BG_OK);
  return o;
}

static uint64_t enrol(bg_store *s, const char *login, const char *code) {
  bg_user_row u;
  assert_int_equal(bg_store_user_by_login(s, login, &u), BG_OK);
  uint8_t h[32];
  memset(h, 0, sizeof h);
  snprintf((char *)h, sizeof h, "%s", code);
  assert_int_equal(bg_store_code_add(s, code, h, u.id, T0, T0 + 3600000), BG_OK);
  uint64_t dev, user;
  assert_int_equal(bg_store_code_use(s, code, h, "laptop", T0 + 1000, &dev, &user), BG_OK);
  assert_true(user == u.id);
  return dev;
}

static void people_and_their_errors(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  assert_int_equal(bg_store_team_add(s, "noord", T0), BG_E_EXISTS);
  assert_non_null(strstr(bg_store_errmsg(s), "exists"));
  uint64_t id;
  assert_int_equal(bg_store_user_add(s, "anna", BG_ROLE_BEGELEIDER, NULL, T0, &id), BG_E_EXISTS);
  assert_int_equal(bg_store_user_add(s, "dirk", BG_ROLE_BEGELEIDER, "oost", T0, &id), BG_E_NOT_FOUND);
  assert_non_null(strstr(bg_store_errmsg(s), "bgctl team add oost"));
  assert_int_equal(bg_store_user_add(s, "_x", BG_ROLE_BEGELEIDER, NULL, T0, &id), BG_E_USAGE);
  assert_int_equal(bg_store_client_add(s, "N-1", "noord", "anna", T0), BG_E_EXISTS);
  assert_int_equal(bg_store_client_add(s, "N-9", "noord", "nobody", T0), BG_E_NOT_FOUND);
  bg_user_row u;
  assert_int_equal(bg_store_user_by_login(s, "anna", &u), BG_OK);
  assert_true(u.id == o.anna);
  assert_string_equal(u.teams, "noord");
  assert_int_equal(u.role, BG_ROLE_BEGELEIDER);
  /* a failed call leaves nothing behind: the user "dirk" was not created */
  assert_int_equal(bg_store_user_by_login(s, "dirk", &u), BG_E_NOT_FOUND);
  remove_store(s);
}

static void enrolment_codes_are_single_use_and_expire(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  uint8_t h[32] = {1}, wrong[32] = {2};
  assert_int_equal(bg_store_code_add(s, "K1", h, o.anna, T0, T0 + 600000), BG_OK);
  uint64_t dev, user;
  assert_int_equal(bg_store_code_use(s, "K1", wrong, "x", T0, &dev, &user), BG_E_ENROLL_CODE);
  assert_int_equal(bg_store_code_use(s, "nope", h, "x", T0, &dev, &user), BG_E_ENROLL_CODE);
  assert_int_equal(bg_store_code_use(s, "K1", h, "x", T0 + 600000, &dev, &user), BG_E_ENROLL_EXPIRED);
  assert_int_equal(bg_store_code_use(s, "K1", h, "laptop", T0 + 1, &dev, &user), BG_OK);
  assert_true(user == o.anna && dev > BG_OFFICE_DEVICE);
  assert_int_equal(bg_store_code_use(s, "K1", h, "again", T0 + 2, &dev, &user), BG_E_ENROLL_USED);
  bg_device_row d;
  assert_int_equal(bg_store_device_get(s, dev, &d), BG_OK);
  assert_string_equal(d.login, "anna");
  assert_string_equal(d.name, "laptop");
  assert_true(d.revoked == 0);
  assert_int_equal(bg_store_device_revoke(s, dev, T0 + 5), BG_OK);
  assert_int_equal(bg_store_device_get(s, dev, &d), BG_OK);
  assert_true(d.revoked == T0 + 5);
  assert_int_equal(bg_store_device_revoke(s, 999, T0), BG_E_NOT_FOUND);
  remove_store(s);
}

/* --- a device replica: the real engine in memory, as the client library would
 * keep it, syncing through the store. --- */

typedef struct held_write {
  bg_write w;
  bg_dot ctx[64];
  char client[BG_ID_MAX + 1], rid[BG_ID_MAX + 1], text[64];
} held_write;

typedef struct device {
  bg_who who;
  bg_memkv *kv;
  bg_engine e;
  bg_hlc hlc;
  uint64_t counter, cursor, batch;
  held_write *pending;
  size_t npending, cap;
  size_t acked_from; /* pending[0..acked_from) acknowledged */
  char seen_clients[16][BG_ID_MAX + 1];
  int nseen;
} device;

static void device_init(device *d, uint64_t id, uint64_t user, uint8_t role) {
  memset(d, 0, sizeof *d);
  d->who = (bg_who){id, user, role};
  d->kv = bg_memkv_new();
  assert_int_equal(bg_engine_init(&d->e, bg_memkv_kv(d->kv)), BG_OK);
  bg_hlc_init(&d->hlc, 0);
}

static void device_free(device *d) {
  bg_engine_free(&d->e);
  bg_memkv_free(d->kv);
  free(d->pending);
}

/* A local edit of a client's personalia field (any phase until closed). */
static void device_edit(device *d, const char *client, uint32_t field, const char *text, bool tb, int64_t now) {
  if (d->npending == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 64;
    d->pending = realloc(d->pending, d->cap * sizeof *d->pending);
  }
  held_write *h = &d->pending[d->npending++];
  memset(h, 0, sizeof *h);
  snprintf(h->client, sizeof h->client, "%s", client);
  snprintf(h->rid, sizeof h->rid, "c");
  snprintf(h->text, sizeof h->text, "%s", text);
  bg_write *w = &h->w;
  w->client = bg_str_c(h->client);
  w->rtype = BG_RT_CLIENT;
  w->rid = bg_str_c(h->rid);
  w->field = field;
  w->value = (bg_value){BG_V_STR, false, 0, bg_str_c(h->text)};
  assert_int_equal(bg_engine_context_for(&d->e, w), BG_OK);
  uint32_t n = w->ctx.n;
  assert_true(n <= 64);
  if (n) memcpy(h->ctx, w->ctx.e, n * sizeof *h->ctx);
  bg_vv_free(&w->ctx);
  w->ctx = (bg_vv){h->ctx, n, 0};
  w->dot = (bg_dot){d->who.device, ++d->counter};
  w->user = d->who.user;
  w->role = d->who.role;
  w->tb = tb;
  w->hlc = bg_hlc_now(&d->hlc, (uint64_t)now);
  bg_apply_result res;
  assert_int_equal(bg_engine_apply(&d->e, w, &res), BG_OK);
}

/* Rebind the borrowed pointers of pending writes after the array moved. */
static void device_rebind(device *d) {
  for (size_t i = 0; i < d->npending; i++) {
    held_write *h = &d->pending[i];
    h->w.client = bg_str_c(h->client);
    h->w.rid = bg_str_c(h->rid);
    h->w.value.s = bg_str_c(h->text);
    h->w.ctx.e = h->ctx;
  }
}

/* Push pending writes in batches of up to `k`; `lose_ack`: the answer is lost and
 * the batch resent. Returns the number of rejected writes. */
static uint32_t device_push(bg_store *s, device *d, size_t k, bool lose_ack, int64_t now) {
  device_rebind(d);
  uint32_t rejected = 0;
  while (d->acked_from < d->npending) {
    size_t n = d->npending - d->acked_from;
    if (n > k) n = k;
    bg_write *ws = calloc(n, sizeof *ws);
    for (size_t i = 0; i < n; i++) ws[i] = d->pending[d->acked_from + i].w;
    bg_push_result r1, r2;
    uint64_t batch = ++d->batch;
    assert_int_equal(bg_store_push(s, &d->who, batch, ws, (uint32_t)n, now, &r1), BG_OK);
    assert_false(r1.duplicate);
    uint32_t nrej = r1.n_rejected;
    if (lose_ack) {
      assert_int_equal(bg_store_push(s, &d->who, batch, ws, (uint32_t)n, now, &r2), BG_OK);
      assert_true(r2.duplicate);
      assert_int_equal(r2.n_rejected, nrej);
      assert_int_equal(r2.applied, 0);
    }
    rejected += nrej;
    free(ws);
    d->acked_from += n;
  }
  return rejected;
}

static bool in_list(const char *const *list, const char *c) {
  for (; *list; list++)
    if (strcmp(*list, c) == 0) return true;
  return false;
}

/* Pull until up to date. Every write received must be of a client in `allowed`
 * (NULL: any). `lose`: percent of pages whose commit is lost (cursor kept). */
static void device_pull(bg_store *s, device *d, bg_rand *r, const char *const *allowed, unsigned lose, int64_t now,
                        uint64_t *purge_id, char purged[][BG_ID_MAX + 1], int *npurged) {
  if (npurged) *npurged = 0;
  for (int guard = 0; guard < 10000; guard++) {
    bg_pull_page p;
    uint32_t budget = 200 + (uint32_t)bg_rand_below(r, 3000);
    assert_int_equal(bg_store_pull(s, &d->who, d->cursor, budget, 1 + (uint32_t)bg_rand_below(r, 20), now, &p), BG_OK);
    if (p.purge_id && purge_id) {
      *purge_id = p.purge_id;
      for (uint32_t i = 0; i < p.n_purge && npurged; i++)
        snprintf(purged[(*npurged)++], BG_ID_MAX + 1, "%.*s", (int)p.purge[i].len, p.purge[i].p);
    }
    msgpack_zone *z = msgpack_zone_new(4096);
    for (uint32_t i = 0; i < p.n; i++) {
      bg_write w;
      assert_int_equal(bg_write_decode((const uint8_t *)p.writes[i].p, p.writes[i].len, z, &w, NULL), BG_OK);
      char c[BG_ID_MAX + 1];
      snprintf(c, sizeof c, "%.*s", (int)w.client.len, w.client.p);
      if (allowed && !in_list(allowed, c)) fail_msg("device %llu received a write of client %s", (unsigned long long)d->who.device, c);
      /* its own writes come back only for a client fed from the start
       * (a_client_back_after_a_purge_brings_the_devices_own_writes_too) */
      bg_apply_result res;
      assert_int_equal(bg_engine_apply(&d->e, &w, &res), BG_OK);
    }
    msgpack_zone_free(z);
    /* a lost commit: the device's transaction rolled back... its replica here
     * keeps the writes (applying them again is idempotent), the cursor does not move */
    bool lost = bg_rand_below(r, 100) < lose;
    if (!lost) d->cursor = p.next;
    if (!lost && !p.more) return;
  }
  fail_msg("pull did not finish");
}

static void assert_same_as_store(bg_store *s, device *d, const char *client) {
  uint8_t a[32], b[32];
  assert_int_equal(bg_store_digest(s, client, a), BG_OK);
  assert_int_equal(bg_engine_digest(&d->e, bg_str_c(client), b), BG_OK);
  if (memcmp(a, b, 32) != 0) fail_msg("device %llu differs from the store on %s", (unsigned long long)d->who.device, client);
}

static void push_checks_authorship_and_access_and_resends_are_idempotent(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  bg_rand r = {1};
  device a, b;
  device_init(&a, enrol(s, "anna", "ka"), o.anna, BG_ROLE_BEGELEIDER);
  device_init(&b, enrol(s, "bert", "kb"), o.bert, BG_ROLE_BEGELEIDER);
  device_pull(s, &a, &r, NULL, 0, T0, NULL, NULL, NULL);
  device_pull(s, &b, &r, NULL, 0, T0, NULL, NULL, NULL);
  device_edit(&a, "N-1", 1, "Anna's naam", true, T0 + 10);
  device_edit(&a, "N-2", 3, "Dorpsstraat 1", false, T0 + 11);
  assert_int_equal(device_push(s, &a, 10, true, T0 + 20), 0);
  /* bert writes to a client of the other team: refused, and a false tb claim too */
  device_edit(&b, "N-1", 4, "0612345678", false, T0 + 12);
  device_edit(&b, "Z-1", 4, "0687654321", true, T0 + 13);  /* he is Z-1's begeleider: ok */
  device_edit(&b, "Z-1", 5, "z@example.org", false, T0 + 14);
  assert_int_equal(device_push(s, &b, 10, false, T0 + 21), 1);
  /* a write claiming another author, another device's dot, another role */
  bg_write forged = a.pending[0].w;
  forged.client = BG_STR("N-1");
  forged.rid = BG_STR("c");
  forged.value.s = BG_STR("x");
  forged.ctx = (bg_vv){NULL, 0, 0};
  bg_push_result res;
  forged.dot = (bg_dot){b.who.device, 99};
  assert_int_equal(bg_store_push(s, &a.who, 500, &forged, 1, T0, &res), BG_OK);
  assert_int_equal(res.n_rejected, 1);
  assert_int_equal(res.rejected[0].code, BG_E_AUTHOR);
  forged.dot = (bg_dot){a.who.device, 98};
  forged.user = o.bert;
  assert_int_equal(bg_store_push(s, &a.who, 501, &forged, 1, T0, &res), BG_OK);
  assert_int_equal(res.rejected[0].code, BG_E_AUTHOR);
  forged.user = o.anna;
  forged.role = BG_ROLE_ADMIN;
  assert_int_equal(bg_store_push(s, &a.who, 502, &forged, 1, T0, &res), BG_OK);
  assert_int_equal(res.rejected[0].code, BG_E_AUTHOR);
  /* carla is in anna's team but not N-1's begeleider: her tb claim is refused */
  device c;
  device_init(&c, enrol(s, "carla", "kc"), o.carla, BG_ROLE_BEGELEIDER);
  device_pull(s, &c, &r, NULL, 0, T0, NULL, NULL, NULL);
  device_edit(&c, "N-1", 6, "valt op", true, T0 + 30);
  assert_int_equal(device_push(s, &c, 10, false, T0 + 31), 1);
  /* everyone pulls; anna and carla agree with the store on the noord clients */
  const char *const noord[] = {"N-1", "N-2", BG_ORG_CLIENT, NULL};
  const char *const zuid[] = {"Z-1", BG_ORG_CLIENT, NULL};
  device_pull(s, &a, &r, noord, 0, T0 + 40, NULL, NULL, NULL);
  device_pull(s, &b, &r, zuid, 0, T0 + 40, NULL, NULL, NULL);
  device_pull(s, &c, &r, noord, 0, T0 + 40, NULL, NULL, NULL);
  assert_same_as_store(s, &a, "N-1");
  assert_same_as_store(s, &a, "N-2");
  assert_same_as_store(s, &b, "Z-1");
  device_free(&a);
  device_free(&b);
  device_free(&c);
  remove_store(s);
}

static void a_client_entering_the_scope_comes_whole_and_one_leaving_is_purged(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  bg_rand r = {2};
  device a, b;
  device_init(&a, enrol(s, "anna", "ka"), o.anna, BG_ROLE_BEGELEIDER);
  device_init(&b, enrol(s, "bert", "kb"), o.bert, BG_ROLE_BEGELEIDER);
  for (int i = 0; i < 30; i++) {
    char t[32];
    snprintf(t, sizeof t, "zuid %d", i);
    device_edit(&b, "Z-1", 1 + (uint32_t)(i % 5 == 1 ? 0 : i % 5), t, true, T0 + i);
  }
  device_push(s, &b, 7, false, T0 + 100);
  device_pull(s, &b, &r, (const char *const[]){"Z-1", BG_ORG_CLIENT, NULL}, 0, T0 + 105, NULL, NULL, NULL);
  device_pull(s, &a, &r, (const char *const[]){"N-1", "N-2", BG_ORG_CLIENT, NULL}, 0, T0 + 110, NULL, NULL, NULL);
  /* Z-1 moves to anna: her next pull brings its whole history, though her
   * cursor is past it */
  assert_int_equal(bg_store_client_move(s, "Z-1", "noord", "anna", T0 + 200), BG_OK);
  uint64_t pid = 0;
  char purged[8][BG_ID_MAX + 1];
  int np = 0;
  device_pull(s, &a, &r, NULL, 20, T0 + 210, &pid, purged, &np);
  assert_int_equal(np, 0);
  assert_same_as_store(s, &a, "Z-1");
  /* bert lost Z-1; he edits it offline before he hears: the push is accepted
   * (he held it), then the pull names it for PURGE - until he acknowledges */
  device_edit(&b, "Z-1", 6, "laatste notitie van bert", false, T0 + 220);
  assert_int_equal(device_push(s, &b, 10, false, T0 + 230), 0);
  device_pull(s, &b, &r, (const char *const[]){BG_ORG_CLIENT, NULL}, 0, T0 + 240, &pid, purged, &np);
  assert_int_equal(np, 1);
  assert_string_equal(purged[0], "Z-1");
  device_pull(s, &b, &r, (const char *const[]){BG_ORG_CLIENT, NULL}, 0, T0 + 250, &pid, purged, &np);
  assert_int_equal(np, 1); /* not acknowledged: named again */
  assert_int_equal(bg_store_purge_ack(s, &b.who, pid, T0 + 260), BG_OK);
  assert_int_equal(bg_store_purge_ack(s, &a.who, pid, T0 + 260), BG_E_NOT_FOUND); /* not anna's */
  device_pull(s, &b, &r, (const char *const[]){BG_ORG_CLIENT, NULL}, 0, T0 + 270, &pid, purged, &np);
  assert_int_equal(np, 0);
  /* now that he no longer holds it, his writes to Z-1 are refused */
  device_edit(&b, "Z-1", 6, "te laat", false, T0 + 280);
  assert_int_equal(device_push(s, &b, 10, false, T0 + 290), 1);
  /* anna got bert's last note */
  device_pull(s, &a, &r, NULL, 0, T0 + 300, NULL, NULL, NULL);
  assert_same_as_store(s, &a, "Z-1");
  device_free(&a);
  device_free(&b);
  remove_store(s);
}

/* Found by bgfullsim: the PULL that names a client for PURGE is lost (the
 * connection cut before it arrived), so the device still holds the client and
 * keeps working on it; its push must be accepted like any work done while it
 * had access, and the PURGE follow. */
static void writes_to_a_client_whose_purge_was_lost_are_accepted(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  bg_rand r = {3};
  device b;
  device_init(&b, enrol(s, "bert", "kb"), o.bert, BG_ROLE_BEGELEIDER);
  device_pull(s, &b, &r, (const char *const[]){"Z-1", BG_ORG_CLIENT, NULL}, 0, T0 + 10, NULL, NULL, NULL);
  assert_int_equal(bg_store_client_move(s, "Z-1", "noord", "anna", T0 + 20), BG_OK);
  /* the pull that brings the PURGE: its answer never reaches the device */
  bg_pull_page p;
  assert_int_equal(bg_store_pull(s, &b.who, b.cursor, 0, 0, T0 + 30, &p), BG_OK);
  assert_true(p.purge_id > 0);
  device_edit(&b, "Z-1", 6, "notitie na de verloren PURGE", false, T0 + 40);
  assert_int_equal(device_push(s, &b, 10, false, T0 + 50), 0);
  uint64_t pid = 0;
  char purged[8][BG_ID_MAX + 1];
  int np = 0;
  device_pull(s, &b, &r, (const char *const[]){BG_ORG_CLIENT, NULL}, 0, T0 + 60, &pid, purged, &np);
  assert_int_equal(np, 1);
  assert_string_equal(purged[0], "Z-1");
  device_free(&b);
  remove_store(s);
}

/* Found by bgfullsim: the office revokes a device while its session is open;
 * until the daemon's poll ends the session (up to 500 ms), its requests went
 * on: a push was accepted and pages were served. From the revocation's commit
 * on, the store refuses both, a resent batch too; the user's other device is
 * not touched. */
static void a_revoked_device_gets_nothing_accepted_or_served(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  bg_rand r = {5};
  device b, b2;
  device_init(&b, enrol(s, "bert", "kb"), o.bert, BG_ROLE_BEGELEIDER);
  device_init(&b2, enrol(s, "bert", "kb2"), o.bert, BG_ROLE_BEGELEIDER);
  device_pull(s, &b, &r, NULL, 0, T0 + 10, NULL, NULL, NULL);
  device_pull(s, &b2, &r, NULL, 0, T0 + 10, NULL, NULL, NULL);
  device_edit(&b, "Z-1", 6, "voor de intrekking", false, T0 + 20);
  assert_int_equal(device_push(s, &b, 10, false, T0 + 30), 0);
  uint64_t batch = b.batch;
  device_edit(&b, "Z-1", 6, "na de intrekking", false, T0 + 40);
  device_rebind(&b);
  assert_int_equal(bg_store_device_revoke(s, b.who.device, T0 + 50), BG_OK);
  uint64_t head, now_head;
  assert_int_equal(bg_store_head(s, &head), BG_OK);
  bg_push_result res;
  assert_int_equal(bg_store_push(s, &b.who, batch + 1, &b.pending[1].w, 1, T0 + 60, &res), BG_E_DEVICE_REVOKED);
  assert_non_null(strstr(bg_store_errmsg(s), "revoked"));
  assert_int_equal(bg_store_push(s, &b.who, batch, &b.pending[0].w, 1, T0 + 60, &res), BG_E_DEVICE_REVOKED);
  assert_int_equal(bg_store_head(s, &now_head), BG_OK);
  assert_true(now_head == head);
  bg_pull_page p;
  assert_int_equal(bg_store_pull(s, &b.who, b.cursor, 0, 0, T0 + 70, &p), BG_E_DEVICE_REVOKED);
  assert_int_equal(bg_store_pull(s, &b.who, 0, 0, 0, T0 + 70, &p), BG_E_DEVICE_REVOKED);
  /* bert's other device works on, and receives what the first pushed before */
  device_edit(&b2, "Z-1", 3, "van de tweede", false, T0 + 80);
  assert_int_equal(device_push(s, &b2, 10, false, T0 + 90), 0);
  device_pull(s, &b2, &r, NULL, 0, T0 + 100, NULL, NULL, NULL);
  assert_same_as_store(s, &b2, "Z-1");
  device_free(&b);
  device_free(&b2);
  remove_store(s);
}

/* Counts a client's accepted writes by one device (bg_store_history). */
typedef struct by_device {
  uint64_t device;
  int n;
} by_device;

static bg_err count_by_device(void *arg, const bg_write *w) {
  by_device *b = arg;
  b->n += w->dot.device == b->device;
  return BG_OK;
}

static int writes_of(bg_store *s, const char *client, uint64_t dev) {
  by_device b = {dev, 0};
  assert_int_equal(bg_store_history(s, client, count_by_device, &b), BG_OK);
  return b.n;
}

static int64_t feed_rows(sqlite3_stmt *count) {
  assert_int_equal(sqlite3_step(count), SQLITE_ROW);
  int64_t n = sqlite3_column_int64(count, 0);
  sqlite3_reset(count);
  return n;
}

/* Group commit (store.h): the calls of a group are one transaction that
 * another connection sees only once it commits; a call of the group that fails
 * after it wrote rolls back alone, and the group's reads see its own calls. */
static void a_group_commits_its_calls_together_and_a_failing_call_alone(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  bg_rand r = {11};
  device a, c, z;
  device_init(&a, enrol(s, "anna", "ka"), o.anna, BG_ROLE_BEGELEIDER);
  device_init(&c, enrol(s, "carla", "kc"), o.carla, BG_ROLE_BEGELEIDER);
  device_init(&z, enrol(s, "bert", "kb"), o.bert, BG_ROLE_BEGELEIDER);
  device_pull(s, &a, &r, NULL, 0, T0 + 10, NULL, NULL, NULL);
  device_pull(s, &c, &r, NULL, 0, T0 + 10, NULL, NULL, NULL);
  device_pull(s, &z, &r, NULL, 0, T0 + 10, NULL, NULL, NULL);
  device_edit(&z, "Z-1", 6, "van een ingetrokken apparaat", false, T0 + 15);
  device_rebind(&z);
  assert_int_equal(bg_store_device_revoke(s, z.who.device, T0 + 16), BG_OK);
  /* another connection: it watches the feed, and makes a write to N-2 fail
   * after the same push has written to N-1 */
  sqlite3 *other;
  assert_int_equal(sqlite3_open_v2(g_store_path, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(other, "CREATE TRIGGER n2_fails BEFORE INSERT ON feed WHEN NEW.client = 'N-2' "
                                       "BEGIN SELECT RAISE(ABORT, 'the disk said no'); END", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_stmt *count;
  assert_int_equal(sqlite3_prepare_v2(other, "SELECT count(*) FROM feed", -1, &count, NULL), SQLITE_OK);
  int64_t feed0 = feed_rows(count);
  uint64_t head0, head;
  assert_int_equal(bg_store_head(s, &head0), BG_OK);

  assert_false(bg_store_in_group(s));
  assert_int_equal(bg_store_group_begin(s), BG_OK);
  assert_true(bg_store_in_group(s));
  device_edit(&c, "N-1", 4, "0611111111", false, T0 + 20);
  assert_int_equal(device_push(s, &c, 10, true, T0 + 21), 0);
  /* anna's batch writes N-1, then fails at N-2: none of it stays */
  device_edit(&a, "N-1", 3, "Dorpsstraat 2", false, T0 + 22);
  device_edit(&a, "N-2", 3, "Dorpsstraat 3", false, T0 + 23);
  device_rebind(&a);
  bg_write ws[2] = {a.pending[0].w, a.pending[1].w};
  bg_push_result res;
  assert_int_not_equal(bg_store_push(s, &a.who, 1, ws, 2, T0 + 24, &res), BG_OK);
  assert_true(bg_store_in_group(s));
  assert_int_equal(writes_of(s, "N-1", a.who.device), 0);
  /* so does the revoked device's push, refused before it writes */
  assert_int_equal(bg_store_push(s, &z.who, 1, &z.pending[0].w, 1, T0 + 25, &res), BG_E_DEVICE_REVOKED);
  /* the group's reads see carla's push */
  assert_int_equal(writes_of(s, "N-1", c.who.device), 1);
  assert_int_equal(bg_store_head(s, &head), BG_OK);
  assert_true(head == head0 + 1);
  device_pull(s, &a, &r, NULL, 0, T0 + 26, NULL, NULL, NULL);
  assert_same_as_store(s, &c, "N-1");
  /* nothing of the group is visible to another connection until it commits */
  assert_int_equal(feed_rows(count), feed0);
  assert_int_equal(bg_store_group_commit(s), BG_OK);
  assert_false(bg_store_in_group(s));
  assert_int_equal(feed_rows(count), feed0 + 1);
  assert_int_equal(bg_store_group_commit(s), BG_OK); /* no group: nothing to do */
  /* anna sends the same batch again once the fault is gone: all of it is taken */
  assert_int_equal(sqlite3_exec(other, "DROP TRIGGER n2_fails", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(bg_store_push(s, &a.who, 1, ws, 2, T0 + 30, &res), BG_OK);
  assert_false(res.duplicate);
  assert_int_equal(res.n_rejected, 0);
  assert_int_equal(feed_rows(count), feed0 + 3); /* a call outside a group commits at once */
  assert_int_equal(writes_of(s, "N-1", a.who.device), 1);
  assert_int_equal(writes_of(s, "N-2", a.who.device), 1);
  sqlite3_finalize(count);
  sqlite3_close(other);
  device_free(&a);
  device_free(&c);
  device_free(&z);
  remove_store(s);
}

/* Found by bgfullsim: a client leaves a device's scope (PURGE: the device
 * drops everything of it, its own writes too) and comes back: the device is
 * fed the client from its first write, its own writes included. */
static void a_client_back_after_a_purge_brings_the_devices_own_writes_too(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  bg_rand r = {4};
  device b;
  uint64_t id = enrol(s, "bert", "kb");
  device_init(&b, id, o.bert, BG_ROLE_BEGELEIDER);
  device_pull(s, &b, &r, NULL, 0, T0 + 10, NULL, NULL, NULL);
  /* many of his own writes, so that pages (1-20 writes here) end inside them:
   * those after a page boundary must come back too */
  for (int i = 0; i < 40; i++) {
    char text[32];
    snprintf(text, sizeof text, "van bert zelf %d", i);
    static const uint32_t text_fields[] = {1, 3, 4, 5, 6}; /* (2 is a date) */
    device_edit(&b, "Z-1", text_fields[i % 5], text, false, T0 + 20);
  }
  assert_int_equal(device_push(s, &b, 10, false, T0 + 30), 0);
  device_pull(s, &b, &r, NULL, 0, T0 + 40, NULL, NULL, NULL);
  assert_int_equal(bg_store_client_move(s, "Z-1", "noord", "anna", T0 + 50), BG_OK);
  uint64_t pid = 0;
  char purged[8][BG_ID_MAX + 1];
  int np = 0;
  device_pull(s, &b, &r, NULL, 0, T0 + 60, &pid, purged, &np);
  assert_int_equal(np, 1);
  assert_int_equal(bg_store_purge_ack(s, &b.who, pid, T0 + 70), BG_OK);
  /* the device dropped Z-1: a replica without it, the same cursor and counter */
  uint64_t cursor = b.cursor, counter = b.counter, batch = b.batch;
  device_free(&b);
  device_init(&b, id, o.bert, BG_ROLE_BEGELEIDER);
  b.cursor = cursor, b.counter = counter, b.batch = batch;
  assert_int_equal(bg_store_client_move(s, "Z-1", "zuid", "bert", T0 + 80), BG_OK);
  device_pull(s, &b, &r, NULL, 0, T0 + 90, NULL, NULL, NULL);
  assert_same_as_store(s, &b, "Z-1");
  device_free(&b);
  remove_store(s);
}

/* Found by bgfullsim: the device drops a client at a PURGE, but the
 * connection is cut before its ACK and the page's next cursor arrive; the
 * client comes back into the scope before the next sync. Pulling from its old
 * cursor, the device must get the client from its first write. */
static void a_client_back_after_a_purge_whose_ack_was_lost_comes_whole(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  bg_rand r = {5};
  device b;
  uint64_t id = enrol(s, "bert", "kb");
  device_init(&b, id, o.bert, BG_ROLE_BEGELEIDER);
  device_pull(s, &b, &r, NULL, 0, T0 + 10, NULL, NULL, NULL);
  assert_int_equal(bg_store_client_move(s, "Z-1", "noord", "anna", T0 + 20), BG_OK);
  bg_pull_page p;
  assert_int_equal(bg_store_pull(s, &b.who, b.cursor, 0, 0, T0 + 30, &p), BG_OK);
  assert_int_equal(p.n_purge, 1);
  /* dropped locally; the ACK and the page never reach the office */
  uint64_t cursor = b.cursor;
  device_free(&b);
  device_init(&b, id, o.bert, BG_ROLE_BEGELEIDER);
  b.cursor = cursor;
  assert_int_equal(bg_store_client_move(s, "Z-1", "zuid", "bert", T0 + 40), BG_OK);
  device_pull(s, &b, &r, NULL, 0, T0 + 50, NULL, NULL, NULL);
  assert_same_as_store(s, &b, "Z-1");
  device_free(&b);
  remove_store(s);
}

/* Found by bgfullsim (seeds 4786, 4800): a device gave up on a connection
 * the daemon still served; that session's late PULL, from the cursor the
 * device had before, must not make the cursor the device went on with
 * unknown - an unknown cursor named nothing the device held, so a client
 * that then left its scope was never purged. */
static void a_client_leaving_the_scope_is_purged_after_a_stale_session_pulled(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  bg_rand r = {6};
  device b;
  device_init(&b, enrol(s, "bert", "kb"), o.bert, BG_ROLE_BEGELEIDER);
  device_pull(s, &b, &r, NULL, 0, T0 + 10, NULL, NULL, NULL);
  uint64_t before = b.cursor;
  device_edit(&b, "Z-1", 6, "nieuw", false, T0 + 20);
  assert_int_equal(device_push(s, &b, 10, false, T0 + 30), 0);
  device_pull(s, &b, &r, NULL, 0, T0 + 40, NULL, NULL, NULL); /* the session the device finished */
  bg_pull_page p;
  assert_int_equal(bg_store_pull(s, &b.who, before, 0, 0, T0 + 50, &p), BG_OK); /* the stale one */
  assert_int_equal(bg_store_client_move(s, "Z-1", "noord", "anna", T0 + 60), BG_OK);
  uint64_t pid = 0;
  char purged[8][BG_ID_MAX + 1];
  int np = 0;
  device_pull(s, &b, &r, (const char *const[]){BG_ORG_CLIENT, NULL}, 0, T0 + 70, &pid, purged, &np);
  assert_int_equal(np, 1);
  assert_string_equal(purged[0], "Z-1");
  device_free(&b);
  remove_store(s);
}

/* A device pulls from a page's next before it has committed the page (libbgsync
 * does, PROTOCOL.md 6b). Whatever happens next - the commit succeeds, fails
 * (a full disk, again and again), or the session is cut with a pull out - the
 * device comes back with a cursor the store still knows: else the store would
 * feed its whole scope again and purge every client outside it. Seeded steps;
 * the device's cursors stay few: those of the sessions since its last commit. */
static int cursors_of(uint64_t dev) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(g_store_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM cursors WHERE device = ?1", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_bind_int64(st, 1, (int64_t)dev), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

static void a_device_that_pulled_ahead_of_its_commit_comes_back_with_the_cursor_before(void **state) {
  (void)state;
  uint64_t seed = bg_test_seed(1206);
  bg_rand r = {seed};
  bg_store *s = open_fresh();
  org o = make_org(s);
  device a, b; /* two devices of bert: a writes, b pulls */
  device_init(&a, enrol(s, "bert", "ka"), o.bert, BG_ROLE_BEGELEIDER);
  device_init(&b, enrol(s, "bert", "kb"), o.bert, BG_ROLE_BEGELEIDER);
  static const uint32_t text_fields[] = {1, 3, 4, 6};
  int64_t now = T0 + 5;
  uint64_t committed = 0; /* the cursor b's replica holds */
  char first[256] = "";   /* the first write b ever received */
  size_t first_len = 0;
  int outcomes[4] = {0}, sessions_since = 0;
  for (int step = 0; step < 200; step++, now++) {
    if (step % 25 == 0) { /* more to pull */
      for (uint32_t i = 0; i < 8; i++) device_edit(&a, "Z-1", text_fields[i % 4], i % 2 ? "een" : "twee", false, now);
      assert_int_equal(device_push(s, &a, 10, false, now), 0);
    }
    bg_pull_page p;
    assert_int_equal(bg_store_pull(s, &b.who, committed, 0, 2, now, &p), BG_OK);
    if (p.n_purge != 0 || (committed && p.n && p.writes[0].len == first_len &&
                           memcmp(p.writes[0].p, first, first_len) == 0)) {
      BG_REPLAY(seed);
      fail_msg("step %d: the cursor the device came back with was unknown (fed from the start, %u purged)", step,
               p.n_purge);
    }
    if (!committed && p.n && !first_len) {
      assert_true(p.writes[0].len < sizeof first);
      first_len = p.writes[0].len;
      memcpy(first, p.writes[0].p, first_len);
    }
    /* after the pull from the device's cursor: that cursor, the one it came
     * from, the one just issued, the one a pull ahead of the commit may have
     * left, and those of the sessions since the commit (two each at most:
     * each may name what the device holds) */
    int n = cursors_of(b.who.device);
    if (n > 4 + 2 * sessions_since) {
      BG_REPLAY(seed);
      fail_msg("step %d: the device has %d cursors, %d sessions after its last commit", step, n, sessions_since);
    }
    uint64_t next = p.next;
    bool more = p.more;
    int outcome = (int)bg_rand_below(&r, 4);
    outcomes[outcome]++;
    switch (outcome) {
      case 0: /* applied and committed, then the next pull */
        committed = next;
        break;
      case 1: /* pulled ahead, then the commit failed */
        if (more) assert_int_equal(bg_store_pull(s, &b.who, next, 0, 2, now, &p), BG_OK);
        break;
      case 2: /* pulled ahead, committed, then the session was cut before the next page arrived */
        if (more) assert_int_equal(bg_store_pull(s, &b.who, next, 0, 2, now, &p), BG_OK);
        committed = next;
        break;
      default: /* cut before the page arrived */
        break;
    }
    if (outcome == 0 || outcome == 2) sessions_since = 0;
    else sessions_since++;
  }
  assert_true(outcomes[0] > 20 && outcomes[1] > 20 && outcomes[2] > 20 && outcomes[3] > 20);
  device_free(&a);
  device_free(&b);
  remove_store(s);
}

/* A device presents a cursor the store does not know (the store was restored
 * from an older backup): the store cannot tell what it holds, so the PURGE
 * names every client outside its scope, and its scope comes whole. */
static void a_device_with_a_cursor_the_store_does_not_know_is_purged_of_all_outside_its_scope(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  bg_rand r = {7};
  device b;
  device_init(&b, enrol(s, "bert", "kb"), o.bert, BG_ROLE_BEGELEIDER);
  device_pull(s, &b, &r, NULL, 0, T0 + 10, NULL, NULL, NULL);
  assert_int_equal(bg_store_client_move(s, "Z-1", "noord", "anna", T0 + 20), BG_OK);
  assert_int_equal(bg_store_client_move(s, "N-2", "zuid", "bert", T0 + 20), BG_OK);
  b.cursor += 1000; /* never issued */
  uint64_t pid = 0;
  char purged[8][BG_ID_MAX + 1];
  int np = 0;
  device_pull(s, &b, &r, (const char *const[]){"N-2", BG_ORG_CLIENT, NULL}, 0, T0 + 30, &pid, purged, &np);
  assert_int_equal(np, 2);
  assert_string_equal(purged[0], "N-1");
  assert_string_equal(purged[1], "Z-1");
  assert_int_equal(bg_store_purge_ack(s, &b.who, pid, T0 + 40), BG_OK);
  assert_same_as_store(s, &b, "N-2");
  device_pull(s, &b, &r, NULL, 0, T0 + 50, &pid, purged, &np);
  assert_int_equal(np, 0);
  device_free(&b);
  remove_store(s);
}

/* More clients leave a scope at once than one PURGE may name: the rest come
 * in the next one (they were dropped from the cursor, and never purged). */
static void more_clients_leaving_than_one_purge_holds_are_purged_in_turn(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  const unsigned extra = BG_MSG_MAX_PURGE + 10;
  assert_int_equal(bg_store_team_add(s, "west", T0), BG_OK);
  assert_int_equal(bg_store_user_team(s, "bert", "west", true, T0), BG_OK);
  for (unsigned i = 0; i < extra; i++) {
    char id[16];
    snprintf(id, sizeof id, "W-%05u", i);
    assert_int_equal(bg_store_client_add(s, id, "west", "carla", T0), BG_OK);
  }
  bg_who b = {enrol(s, "bert", "kb"), o.bert, BG_ROLE_BEGELEIDER};
  uint64_t cursor = 0;
  bg_pull_page p;
  do {
    assert_int_equal(bg_store_pull(s, &b, cursor, 0, 0, T0 + 10, &p), BG_OK);
    cursor = p.next;
  } while (p.more);
  assert_int_equal(bg_store_user_team(s, "bert", "west", false, T0 + 20), BG_OK);
  unsigned named = 0;
  for (int round = 0; round < 3; round++) {
    assert_int_equal(bg_store_pull(s, &b, cursor, 0, 0, T0 + 30, &p), BG_OK);
    cursor = p.next;
    if (p.purge_id == 0) break;
    for (uint32_t i = 0; i < p.n_purge; i++) assert_int_equal(p.purge[i].p[0], 'W');
    named += p.n_purge;
    assert_int_equal(bg_store_purge_ack(s, &b, p.purge_id, T0 + 40), BG_OK);
  }
  assert_int_equal(named, extra);
  assert_int_equal(p.purge_id, 0);
  remove_store(s);
}

static bg_err count_purge_done(void *arg, const bg_audit_row *row) {
  if (strcmp(row->action, "purge") == 0 && strcmp(row->outcome, "done") == 0) (*(int *)arg)++;
  return BG_OK;
}

/* Found by the long network fuzz run: a device acknowledging the same PURGE
 * again and again made the store audit it again each time (the audit log
 * grew with every repeat). An acknowledged PURGE stays acknowledged: a
 * repeat changes nothing and is not audited. */
static void a_repeated_purge_ack_changes_nothing_and_is_audited_once(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  bg_rand r = {8};
  device b;
  device_init(&b, enrol(s, "bert", "kb"), o.bert, BG_ROLE_BEGELEIDER);
  device_pull(s, &b, &r, NULL, 0, T0 + 10, NULL, NULL, NULL);
  assert_int_equal(bg_store_client_move(s, "Z-1", "noord", "anna", T0 + 20), BG_OK);
  uint64_t pid = 0;
  char purged[8][BG_ID_MAX + 1];
  int np = 0;
  device_pull(s, &b, &r, NULL, 0, T0 + 30, &pid, purged, &np);
  assert_int_equal(np, 1);
  for (int i = 0; i < 3; i++) assert_int_equal(bg_store_purge_ack(s, &b.who, pid, T0 + 40 + i), BG_OK);
  int done = 0;
  bg_audit_filter f = {"Z-1", 0, 0};
  assert_int_equal(bg_store_audit_query(s, &f, count_purge_done, &done), BG_OK);
  assert_int_equal(done, 1);
  /* and Z-1, back in his scope, comes whole again though the ACK came late */
  assert_int_equal(bg_store_client_move(s, "Z-1", "zuid", "bert", T0 + 50), BG_OK);
  uint64_t cursor = b.cursor, id = b.who.device;
  device_free(&b); /* it dropped everything of Z-1 */
  device_init(&b, id, o.bert, BG_ROLE_BEGELEIDER);
  b.cursor = cursor;
  device_pull(s, &b, &r, NULL, 0, T0 + 60, NULL, NULL, NULL);
  assert_int_equal(bg_store_purge_ack(s, &b.who, pid, T0 + 70), BG_OK);
  device_pull(s, &b, &r, NULL, 0, T0 + 80, &pid, purged, &np);
  assert_int_equal(np, 0);
  assert_same_as_store(s, &b, "Z-1");
  device_free(&b);
  remove_store(s);
}

/* The property, over seeds: random offline edits by several devices (two of one
 * user, a colleague, another team, the office), synced in random orders with
 * lost acknowledgements, lost page commits and small budgets. */
static void devices_converge_with_the_store_within_their_scope(void **state) {
  (void)state;
  uint64_t seed0 = bg_test_seed(100);
  for (uint64_t seed = seed0; seed < seed0 + 12; seed++) {
    bg_store *s = open_fresh();
    org o = make_org(s);
    bg_rand r = {seed};
    device d[5];
    device_init(&d[0], enrol(s, "anna", "k0"), o.anna, BG_ROLE_BEGELEIDER);
    device_init(&d[1], enrol(s, "anna", "k1"), o.anna, BG_ROLE_BEGELEIDER);
    device_init(&d[2], enrol(s, "carla", "k2"), o.carla, BG_ROLE_BEGELEIDER);
    device_init(&d[3], enrol(s, "bert", "k3"), o.bert, BG_ROLE_BEGELEIDER);
    device_init(&d[4], enrol(s, "otto", "k4"), o.otto, BG_ROLE_OFFICE);
    const char *const noord[] = {"N-1", "N-2", BG_ORG_CLIENT, NULL};
    const char *const zuid[] = {"Z-1", BG_ORG_CLIENT, NULL};
    const char *const *allowed[5] = {noord, noord, noord, zuid, NULL};
    const char *tb_of[3] = {"anna", "carla", "bert"};
    const char *clients[3] = {"N-1", "N-2", "Z-1"};
    int64_t now = T0;
    for (int step = 0; step < 150; step++) {
      now += 1 + (int64_t)bg_rand_below(&r, 60000);
      int k = (int)bg_rand_below(&r, 5);
      device *x = &d[k];
      unsigned what = (unsigned)bg_rand_below(&r, 10);
      if (what < 6) {
        /* edit a client it may see */
        const char *const *mine = allowed[k];
        int c = (int)bg_rand_below(&r, 3);
        if (mine && !in_list(mine, clients[c])) continue;
        bg_user_row u;
        assert_int_equal(bg_store_user_by_id(s, x->who.user, &u), BG_OK);
        char t[40];
        snprintf(t, sizeof t, "s%llu step %d dev %d", (unsigned long long)seed, step, k);
        static const uint32_t text_fields[] = {1, 3, 4, 5, 6};
        device_edit(x, clients[c], text_fields[bg_rand_below(&r, 5)], t, strcmp(u.login, tb_of[c]) == 0, now);
      } else if (what < 8) {
        assert_int_equal(device_push(s, x, 1 + bg_rand_below(&r, 5), bg_rand_below(&r, 4) == 0, now), 0);
      } else {
        device_pull(s, x, &r, allowed[k], 25, now, NULL, NULL, NULL);
      }
    }
    for (int round = 0; round < 2; round++)
      for (int k = 0; k < 5; k++) {
        assert_int_equal(device_push(s, &d[k], 4, false, now), 0);
        device_pull(s, &d[k], &r, allowed[k], 0, now, NULL, NULL, NULL);
      }
    for (int k = 0; k < 5; k++) {
      for (int c = 0; c < 3; c++)
        if (!allowed[k] || in_list(allowed[k], clients[c])) assert_same_as_store(s, &d[k], clients[c]);
      /* and nothing of a client out of its reach */
      if (allowed[k]) {
        for (int c = 0; c < 3; c++) {
          if (in_list(allowed[k], clients[c])) continue;
          bg_pos p;
          assert_int_equal(bg_engine_position(&d[k].e, bg_str_c(clients[c]), &p), BG_OK);
          assert_int_equal(p.phase, BG_PH_NONE);
        }
      }
      device_free(&d[k]);
    }
    uint64_t entries, bad;
    assert_int_equal(bg_store_audit_verify(s, &entries, &bad), BG_OK);
    assert_true(entries > 10);
    remove_store(s);
  }
}

/* Pull the whole feed as `who` from the start, and return the last write of
 * traject.begeleider of `client` in it (*n: how many there were). */
static int64_t fed_begeleider(bg_store *s, const bg_who *who, const char *client, int *n) {
  uint64_t cursor = 0;
  int64_t last = 0;
  *n = 0;
  for (int guard = 0; guard < 1000; guard++) {
    bg_pull_page p;
    assert_int_equal(bg_store_pull(s, who, cursor, 1 << 20, 1000, T0, &p), BG_OK);
    msgpack_zone *z = msgpack_zone_new(4096);
    for (uint32_t i = 0; i < p.n; i++) {
      bg_write w;
      assert_int_equal(bg_write_decode((const uint8_t *)p.writes[i].p, p.writes[i].len, z, &w, NULL), BG_OK);
      if (!bg_str_eq(w.client, bg_str_c(client)) || w.rtype != BG_RT_TRAJECT || w.field != 2) continue;
      /* the office's own write, as bgctl makes it */
      assert_true(w.dot.device == BG_OFFICE_DEVICE && w.user == BG_OFFICE_USER);
      assert_int_equal(w.role, BG_ROLE_ADMIN);
      assert_int_equal(w.value.type, BG_V_INT);
      last = w.value.i;
      (*n)++;
    }
    msgpack_zone_free(z);
    cursor = p.next;
    if (!p.more) return last;
  }
  fail_msg("pull did not finish");
  return 0;
}

/* The visible traject.begeleider of `client` on a device's replica; 0 when none. */
static int64_t visible_begeleider(device *d, const char *client) {
  bg_field_view v;
  assert_int_equal(bg_engine_field(&d->e, bg_str_c(client), BG_RT_TRAJECT, BG_STR("t"), 2, &v), BG_OK);
  if (v.winner == NULL) return 0;
  assert_int_equal(v.winner->value.type, BG_V_INT);
  return v.winner->value.i;
}

static bg_err count_entry(void *arg, const bg_entry *en) {
  (void)en;
  (*(int *)arg)++;
  return BG_OK;
}

/* Devices learn who leads a traject (and so whether to claim tb) from the data:
 * registering and moving a client feed the office's write of traject.begeleider,
 * and the move's write supersedes the first on every replica. A begeleider
 * cannot write it. */
static void client_add_and_move_feed_the_trajectbegeleider_to_devices(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  bg_rand r = {3};
  device office, a;
  device_init(&office, enrol(s, "otto", "ko"), o.otto, BG_ROLE_OFFICE);
  device_init(&a, enrol(s, "anna", "ka"), o.anna, BG_ROLE_BEGELEIDER);
  int n;
  assert_true(fed_begeleider(s, &office.who, "N-1", &n) == (int64_t)o.anna);
  assert_int_equal(n, 1);
  assert_true(fed_begeleider(s, &office.who, "Z-1", &n) == (int64_t)o.bert);
  assert_int_equal(n, 1);
  device_pull(s, &office, &r, NULL, 0, T0 + 10, NULL, NULL, NULL);
  device_pull(s, &a, &r, (const char *const[]){"N-1", "N-2", BG_ORG_CLIENT, NULL}, 0, T0 + 10, NULL, NULL, NULL);
  assert_true(visible_begeleider(&office, "N-1") == (int64_t)o.anna);
  assert_true(visible_begeleider(&a, "N-1") == (int64_t)o.anna);
  assert_true(visible_begeleider(&a, "N-2") == (int64_t)o.carla);
  /* N-1 passes to carla, in the same team: both replicas show her, no conflict */
  assert_int_equal(bg_store_client_move(s, "N-1", "noord", "carla", T0 + 20), BG_OK);
  assert_true(fed_begeleider(s, &office.who, "N-1", &n) == (int64_t)o.carla);
  assert_int_equal(n, 2);
  device_pull(s, &office, &r, NULL, 0, T0 + 30, NULL, NULL, NULL);
  device_pull(s, &a, &r, (const char *const[]){"N-1", "N-2", BG_ORG_CLIENT, NULL}, 0, T0 + 30, NULL, NULL, NULL);
  assert_true(visible_begeleider(&office, "N-1") == (int64_t)o.carla);
  assert_true(visible_begeleider(&a, "N-1") == (int64_t)o.carla);
  int entries = 0;
  assert_int_equal(bg_engine_entries(&a.e, BG_STR("N-1"), count_entry, &entries), BG_OK);
  assert_int_equal(entries, 0);
  assert_same_as_store(s, &a, "N-1");
  assert_same_as_store(s, &office, "N-1");
  /* anna would take N-1 back herself: refused, the assignment is the office's */
  bg_write w;
  memset(&w, 0, sizeof w);
  w.client = BG_STR("N-1");
  w.rtype = BG_RT_TRAJECT;
  w.rid = BG_STR("t");
  w.field = 2;
  w.value = (bg_value){BG_V_INT, false, (int64_t)o.anna, {"", 0}};
  assert_int_equal(bg_engine_context_for(&a.e, &w), BG_OK);
  w.dot = (bg_dot){a.who.device, ++a.counter};
  w.user = a.who.user;
  w.role = a.who.role;
  w.hlc = bg_hlc_now(&a.hlc, (uint64_t)T0 + 40);
  bg_push_result res;
  assert_int_equal(bg_store_push(s, &a.who, 1, &w, 1, T0 + 40, &res), BG_OK);
  bg_vv_free(&w.ctx);
  assert_int_equal(res.n_rejected, 1);
  assert_int_equal(res.rejected[0].code, BG_E_FORBIDDEN);
  assert_true(fed_begeleider(s, &office.who, "N-1", &n) == (int64_t)o.carla);
  device_free(&office);
  device_free(&a);
  remove_store(s);
}

/* The write that opens a new client's traject, as a device makes it. */
static bg_write opening(const device *d, const char *client, uint64_t counter) {
  bg_write w;
  memset(&w, 0, sizeof w);
  w.client = bg_str_c(client);
  w.rtype = BG_RT_TRAJECT;
  w.rid = BG_STR("t");
  w.field = 1;
  w.value = (bg_value){BG_V_INT, false, bg_pos_encode((bg_pos){0, BG_PH_AANMELDING}), {"", 0}};
  w.dot = (bg_dot){d->who.device, counter};
  w.user = d->who.user;
  w.role = d->who.role;
  w.hlc = bg_hlc_make((uint64_t)T0, 0);
  return w;
}

typedef struct client_seen {
  const char *id;
  char team[32], begeleider[32];
  bool found;
} client_seen;

static bg_err find_client(void *arg, const bg_client_row *c) {
  client_seen *f = arg;
  if (strcmp(c->id, f->id) == 0) {
    f->found = true;
    snprintf(f->team, sizeof f->team, "%s", c->team);
    snprintf(f->begeleider, sizeof f->begeleider, "%s", c->begeleider);
  }
  return BG_OK;
}

static void an_office_device_registers_a_new_client(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  org o = make_org(s);
  uint64_t olga;
  assert_int_equal(bg_store_user_add(s, "olga", BG_ROLE_OFFICE, "noord", T0, &olga), BG_OK);
  device ot, ol, a;
  device_init(&ot, enrol(s, "otto", "ko"), o.otto, BG_ROLE_OFFICE);
  device_init(&ol, enrol(s, "olga", "kl"), olga, BG_ROLE_OFFICE);
  device_init(&a, enrol(s, "anna", "ka"), o.anna, BG_ROLE_BEGELEIDER);
  bg_push_result res;
  /* otto is in no team: nowhere to put the client */
  bg_write w = opening(&ot, "NEW-1", 1);
  assert_int_equal(bg_store_push(s, &ot.who, 1, &w, 1, T0, &res), BG_OK);
  assert_int_equal(res.n_rejected, 1);
  assert_int_equal(res.rejected[0].code, BG_E_FORBIDDEN);
  /* a begeleider does not register clients */
  w = opening(&a, "NEW-3", 1);
  assert_int_equal(bg_store_push(s, &a.who, 1, &w, 1, T0, &res), BG_OK);
  assert_int_equal(res.n_rejected, 1);
  assert_int_equal(res.rejected[0].code, BG_E_FORBIDDEN);
  /* olga (office, team noord) opens NEW-2's traject and writes its name in the same batch */
  bg_write two[2];
  two[0] = opening(&ol, "NEW-2", 1);
  two[1] = two[0];
  two[1].rtype = BG_RT_CLIENT;
  two[1].rid = BG_STR("c");
  two[1].value = (bg_value){BG_V_STR, false, 0, BG_STR("Nieuwe client")};
  two[1].dot.counter = 2;
  two[1].phase = BG_PH_AANMELDING; /* she had seen her own opening */
  bg_dot d1 = two[0].dot;
  two[1].ctx = (bg_vv){&d1, 1, 0};
  assert_int_equal(bg_store_push(s, &ol.who, 1, two, 2, T0, &res), BG_OK);
  assert_int_equal(res.n_rejected, 0);
  client_seen f = {.id = "NEW-2"};
  assert_int_equal(bg_store_clients(s, find_client, &f), BG_OK);
  assert_true(f.found);
  assert_string_equal(f.team, "noord");
  assert_string_equal(f.begeleider, "olga");
  client_seen none = {.id = "NEW-1"};
  assert_int_equal(bg_store_clients(s, find_client, &none), BG_OK);
  assert_false(none.found);
  /* anna, in noord, receives the new client whole */
  bg_rand r = {7};
  device_pull(s, &a, &r, NULL, 0, T0 + 10, NULL, NULL, NULL);
  assert_same_as_store(s, &a, "NEW-2");
  bg_field_view fv;
  assert_int_equal(bg_engine_field(&a.e, BG_STR("NEW-2"), BG_RT_CLIENT, BG_STR("c"), 1, &fv), BG_OK);
  assert_non_null(fv.winner);
  device_free(&ot);
  device_free(&ol);
  device_free(&a);
  remove_store(s);
}

static void audit_chain_detects_a_changed_byte(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  make_org(s);
  uint64_t entries, bad;
  assert_int_equal(bg_store_audit_verify(s, &entries, &bad), BG_OK);
  assert_true(entries >= 9);
  bg_store_close(s);
  /* someone edits the table behind the daemon's back */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(g_store_path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "UPDATE audit SET object = 'zuit' WHERE seq = 2", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  char why[128];
  assert_int_equal(bg_store_open(g_store_path, &s, why, sizeof why), BG_OK);
  assert_int_equal(bg_store_audit_verify(s, &entries, &bad), BG_E_CORRUPT);
  assert_int_equal(bad, 2);
  assert_int_equal(entries, 1);
  bg_store_close(s);
  /* a removed entry is caught too */
  assert_int_equal(sqlite3_open(g_store_path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "UPDATE audit SET object = 'zuid' WHERE seq = 2; DELETE FROM audit WHERE seq = 4",
                                NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(bg_store_open(g_store_path, &s, why, sizeof why), BG_OK);
  assert_int_equal(bg_store_audit_verify(s, &entries, &bad), BG_E_CORRUPT);
  assert_int_equal(bad, 4);
  remove_store(s);
}

static void a_store_from_newer_software_is_refused(void **state) {
  (void)state;
  bg_store *s = open_fresh();
  bg_store_close(s);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(g_store_path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  char why[256] = "";
  assert_int_equal(bg_store_open(g_store_path, &s, why, sizeof why), BG_E_NEWER_SCHEMA);
  assert_non_null(strstr(why, "update the software"));
  assert_int_equal(sqlite3_open(g_store_path, &db), SQLITE_OK);
  sqlite3_close(db);
  remove_store_files();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(people_and_their_errors),
      cmocka_unit_test(enrolment_codes_are_single_use_and_expire),
      cmocka_unit_test(push_checks_authorship_and_access_and_resends_are_idempotent),
      cmocka_unit_test(a_client_entering_the_scope_comes_whole_and_one_leaving_is_purged),
      cmocka_unit_test(writes_to_a_client_whose_purge_was_lost_are_accepted),
      cmocka_unit_test(a_revoked_device_gets_nothing_accepted_or_served),
      cmocka_unit_test(a_group_commits_its_calls_together_and_a_failing_call_alone),
      cmocka_unit_test(a_client_back_after_a_purge_brings_the_devices_own_writes_too),
      cmocka_unit_test(a_client_back_after_a_purge_whose_ack_was_lost_comes_whole),
      cmocka_unit_test(a_client_leaving_the_scope_is_purged_after_a_stale_session_pulled),
      cmocka_unit_test(a_device_that_pulled_ahead_of_its_commit_comes_back_with_the_cursor_before),
      cmocka_unit_test(a_device_with_a_cursor_the_store_does_not_know_is_purged_of_all_outside_its_scope),
      cmocka_unit_test(more_clients_leaving_than_one_purge_holds_are_purged_in_turn),
      cmocka_unit_test(a_repeated_purge_ack_changes_nothing_and_is_audited_once),
      cmocka_unit_test(client_add_and_move_feed_the_trajectbegeleider_to_devices),
      cmocka_unit_test(devices_converge_with_the_store_within_their_scope),
      cmocka_unit_test(an_office_device_registers_a_new_client),
      cmocka_unit_test(audit_chain_detects_a_changed_byte),
      cmocka_unit_test(a_store_from_newer_software_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
