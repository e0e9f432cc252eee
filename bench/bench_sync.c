/*
 * bench_sync - initial and incremental sync over loopback TLS, against the
 * real bgsyncd, with libbgsync; every time beside the SQLite ceiling of the
 * same rows, measured in the same run.
 *
 *   bench_sync [--clients N] [--seed S] [--keep]     N >= 400, default 2000
 *
 * The organisation (bgctl init, then the store API): begeleiders bert (3
 * clients), anna (30) and carla (300), one begeleider per further 30 clients,
 * and olga (office: every client). Each begeleider's caseload is made by a
 * device of that begeleider (caseload.h: the merge engine in memory, writes as
 * the client library makes them) and loaded with bg_store_push - exactly what
 * the daemon does with a PUSH from that device, minus TLS and framing, which
 * the initial sync measures anyway. (Pushing 3 M writes through libbgsync
 * would spend minutes materialising a loader replica nobody reads.)
 *
 * Then bgsyncd runs as a child process and fresh devices enrol (bgctl device
 * enroll, bgsync_enroll) and pull:
 *   initial_3 / initial_30 / initial_300   bert, anna, carla: 1x, 10x, 100x
 *   initial_<N>                           olga's office device: every client
 * Each beside its ceiling: the same visible rows bulk-inserted into a plain
 * SQLite file (bc_ceiling), timed just before the sync.
 * Incremental: on one of anna's devices 1% of her caseload's fields are
 * edited (bgsync_set), it syncs (push), a second device of anna syncs (pull):
 * latency, and bytes per edit beyond the bytes of an empty sync.
 */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

#include <inttypes.h>
#include <msgpack.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "bg_hlc.h"
#include "bg_schema.h"
#include "bgsync.h"
#include "caseload.h"
#include "harness.h"
#include "store.h"

static const char *P = "bench_sync";


static int64_t now_ms(void) { return (int64_t)bg_wall_ms(); }

/* --- the organisation ----------------------------------------------------------------------- */

typedef struct begeleider {
  char login[32], team[40]; /* team: "team-" + login */
  uint32_t first, n; /* clients first .. first + n - 1 */
  bg_who who;        /* the loader device */
} begeleider;

static void client_id(uint32_t i, char out[16]) { snprintf(out, 16, "c-%05u", i); }

static uint64_t file_size(const char *path) {
  struct stat sb;
  char wal[600];
  uint64_t n = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
  snprintf(wal, sizeof wal, "%s-wal", path);
  if (stat(wal, &sb) == 0) n += (uint64_t)sb.st_size;
  return n;
}

/* The loader device of a user: registered as an enrolment would (a spent code). */
static uint64_t loader_device(bg_store *s, uint64_t user, const char *login) {
  char id[40];
  uint8_t hash[32] = {0};
  snprintf(id, sizeof id, "load-%s", login);
  OK(bg_store_code_add(s, id, hash, user, now_ms(), now_ms() + 3600000));
  uint64_t device, u;
  OK(bg_store_code_use(s, id, hash, "caseload loader", now_ms(), &device, &u));
  return device;
}

typedef struct load_stats {
  uint64_t writes, value_bytes;
  double gen_s, push_s;
} load_stats;

/* Make and load the caseload of one begeleider (see the header comment). */
static void load_caseload(bg_store *s, begeleider *b, uint64_t seed, bc_rows *rows, load_stats *ls) {
  bc_gen g;
  OK(bc_gen_init(&g, b->who.device, b->who.user, seed, (uint64_t)now_ms() - UINT64_C(90) * 86400000));
  /* what the device receives first: the office's writes that opened the
   * trajects (kept encoded, with their client, to give each client's engine) */
  bg_buf recv = BG_BUF_INIT;
  uint64_t cursor = 0;
  for (bool more = true; more;) {
    bg_pull_page pg;
    OK(bg_store_pull(s, &b->who, cursor, 0, 0, now_ms(), &pg));
    for (uint32_t i = 0; i < pg.n; i++) {
      uint8_t len[4] = {(uint8_t)(pg.writes[i].len >> 24), (uint8_t)(pg.writes[i].len >> 16),
                        (uint8_t)(pg.writes[i].len >> 8), (uint8_t)pg.writes[i].len};
      OK(bg_buf_append(&recv, len, 4));
      OK(bg_buf_append(&recv, pg.writes[i].p, pg.writes[i].len));
    }
    cursor = pg.next;
    more = pg.more;
  }
  for (uint32_t i = 0; i < b->n; i++) {
    char c[16];
    client_id(b->first + i, c);
    double t0 = bench_now();
    OK(bc_gen_forget(&g));
    msgpack_zone *z = msgpack_zone_new(4096);
    if (z == NULL) DIE("out of memory");
    for (size_t off = 0; off < recv.len;) {
      uint32_t len = (uint32_t)recv.data[off] << 24 | (uint32_t)recv.data[off + 1] << 16 |
                     (uint32_t)recv.data[off + 2] << 8 | recv.data[off + 3];
      bg_write w;
      OK(bg_write_decode(recv.data + off + 4, len, z, &w, NULL));
      if (bg_str_eq(w.client, bg_str_c(c)) || bg_str_eq(w.client, BG_STR(BG_ORG_CLIENT))) OK(bc_gen_receive(&g, &w));
      off += 4 + len;
    }
    msgpack_zone_free(z);
    OK(bc_gen_client(&g, c, b->first + i));
    OK(bc_gen_rows(&g, rows));
    ls->gen_s += bench_now() - t0;
    size_t n;
    const bg_write *w = bc_gen_writes(&g, &n);
    ls->writes += n;
    ls->value_bytes += g.value_bytes;
    t0 = bench_now();
    static uint64_t batch = 0;
    for (size_t at = 0; at < n; at += 4096) {
      uint32_t k = (uint32_t)(n - at < 4096 ? n - at : 4096);
      bg_push_result res;
      OK(bg_store_push(s, &b->who, ++batch, w + at, k, now_ms(), &res));
      if (res.n_rejected) DIE("the store refused write %u of client %s: %s", res.rejected[0].index, c,
                              bg_err_name((bg_err)res.rejected[0].code));
    }
    ls->push_s += bench_now() - t0;
    bc_gen_clear(&g);
  }
  bc_gen_free(&g);
  bg_buf_free(&recv);
}

/* --- devices ---------------------------------------------------------------------------------- */

typedef struct device {
  bgsync *r;
  char path[160];
  bgsync_progress last;
} device;

static void on_progress(void *arg, const bgsync_progress *p) { ((device *)arg)->last = *p; }

static void device_new(device *d, const bgh_org *o, const char *dir, const char *login, const char *name) {
  char code[160], server[64];
  snprintf(d->path, sizeof d->path, "%s/%s.db", dir, name);
  bg_err e = bgsync_open(d->path, &d->r);
  if (e != BG_OK) DIE("open %s: %s", d->path, d->r ? bgsync_errmsg(d->r) : bg_err_name(e));
  if (bgh_bgctl(o, code, sizeof code, "device enroll %s", login) != 0) DIE("bgctl device enroll %s: %s", login, code);
  snprintf(server, sizeof server, "localhost:%d", o->port);
  if ((e = bgsync_enroll(d->r, server, code, name, o->enrol_port)) != BG_OK)
    DIE("enrol %s: %s", name, bgsync_errmsg(d->r));
}

/* One sync: seconds; d->last holds its progress (bytes). */
static double device_sync(device *d) {
  bgsync_options opt = {on_progress, d, 120000};
  memset(&d->last, 0, sizeof d->last);
  double t0 = bench_now();
  bg_err e = bgsync_sync(d->r, &opt);
  double t = bench_now() - t0;
  if (e != BG_OK) DIE("sync %s: %s", d->path, bgsync_errmsg(d->r));
  return t;
}

static long long sql_int(device *d, const char *sql) {
  sqlite3_stmt *st;
  long long v = -1;
  if (sqlite3_prepare_v2(bgsync_db(d->r), sql, -1, &st, NULL) != SQLITE_OK) DIE("%s: %s", sql, sqlite3_errmsg(bgsync_db(d->r)));
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* Rows in the record tables (the caseload's records). */
static uint64_t device_records(device *d) {
  uint64_t n = 0;
  char sql[128];
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    if (bg_rtype(t)->org) continue;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", bg_rtype(t)->name);
    n += (uint64_t)sql_int(d, sql);
  }
  return n;
}

/* --- figures ------------------------------------------------------------------------------------ */

typedef struct initial {
  const char *who;
  uint32_t clients;
  double secs, ceiling_s;
  uint64_t records, ceiling_rows, writes, bytes, replica_bytes, ceiling_bytes;
} initial;

static void initial_sync(initial *f, const bgh_org *o, const char *dir, const char *login, const char *name,
                         const bc_rows *rows, uint32_t first, uint32_t n, uint32_t shown, device *keep) {
  char cpath[200];
  snprintf(cpath, sizeof cpath, "%s/ceiling-%s.db", dir, name);
  OK(bc_ceiling(rows, first, n, cpath, &f->ceiling_s, &f->ceiling_rows, &f->ceiling_bytes));
  unlink(cpath);
  device d;
  device_new(&d, o, dir, login, name);
  f->who = login;
  f->clients = shown;
  f->secs = device_sync(&d);
  f->writes = d.last.pulled;
  f->bytes = d.last.bytes_received + d.last.bytes_sent;
  f->records = device_records(&d);
  if (sqlite3_exec(bgsync_db(d.r), "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
    DIE("checkpoint: %s", sqlite3_errmsg(bgsync_db(d.r)));
  f->replica_bytes = file_size(d.path);
  if (f->records != f->ceiling_rows)
    fprintf(stderr, "note: %s's replica holds %" PRIu64 " records, the ceiling %" PRIu64 " rows\n", login, f->records,
            f->ceiling_rows);
  char fig[64];
  n = shown;
  snprintf(fig, sizeof fig, "initial_sync_%u_clients_s", n);
  bench_figure(P, fig, f->secs, "s", f->secs / f->ceiling_s);
  snprintf(fig, sizeof fig, "initial_sync_%u_clients_records_per_s", n);
  bench_figure(P, fig, (double)f->records / f->secs, "records/s", -1);
  snprintf(fig, sizeof fig, "initial_sync_%u_clients_writes_per_s", n);
  bench_figure(P, fig, (double)f->writes / f->secs, "writes/s", -1);
  snprintf(fig, sizeof fig, "initial_sync_%u_clients_wire_bytes", n);
  bench_figure(P, fig, (double)f->bytes, "bytes", -1);
  snprintf(fig, sizeof fig, "initial_sync_%u_clients_replica_bytes", n);
  bench_figure(P, fig, (double)f->replica_bytes, "bytes", -1);
  snprintf(fig, sizeof fig, "ceiling_%u_clients_s", n);
  bench_figure(P, fig, f->ceiling_s, "s", -1);
  fflush(stdout);
  if (keep) *keep = d;
  else bgsync_close(d.r);
}

/* --- incremental ------------------------------------------------------------------------------------ */

typedef struct edit {
  char client[16], path[96];
} edit;

/* Editable fields of anna's caseload in the state the generator leaves it
 * (the last cycle in uitvoering): actie progress of the current cycle,
 * netwerkcontacten, personalia. */
static size_t edit_candidates(device *d, edit **out) {
  static const char *const q =
      "SELECT a.client, 'actie:' || a.rid || '.voortgang' FROM actie a JOIN traject t ON t.client = a.client"
      " WHERE a.cycle = t.cycle"
      " UNION ALL SELECT a.client, 'actie:' || a.rid || '.status' FROM actie a JOIN traject t ON t.client = a.client"
      " WHERE a.cycle = t.cycle"
      " UNION ALL SELECT client, 'netwerkcontact:' || rid || '.rol' FROM netwerkcontact"
      " UNION ALL SELECT client, 'netwerkcontact:' || rid || '.telefoon' FROM netwerkcontact"
      " UNION ALL SELECT client, 'client.adres' FROM client UNION ALL SELECT client, 'client.email' FROM client"
      " ORDER BY 1, 2";
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(bgsync_db(d->r), q, -1, &st, NULL) != SQLITE_OK) DIE("%s", sqlite3_errmsg(bgsync_db(d->r)));
  size_t n = 0, cap = 1024;
  edit *v = malloc(cap * sizeof *v);
  while (v && sqlite3_step(st) == SQLITE_ROW) {
    if (n == cap && (v = realloc(v, (cap *= 2) * sizeof *v)) == NULL) break;
    snprintf(v[n].client, sizeof v[n].client, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(v[n].path, sizeof v[n].path, "%s", (const char *)sqlite3_column_text(st, 1));
    n++;
  }
  sqlite3_finalize(st);
  if (v == NULL) DIE("out of memory");
  *out = v;
  return n;
}

static void incremental(device *a, device *b, uint64_t fields, uint64_t seed) {
  /* the cost of a sync with nothing to do, each side */
  device_sync(a);
  uint64_t a0 = a->last.bytes_sent + a->last.bytes_received;
  double tb0 = device_sync(b);
  uint64_t b0 = b->last.bytes_sent + b->last.bytes_received;
  edit *c;
  size_t nc = edit_candidates(a, &c);
  size_t n = (size_t)(fields / 100);
  if (n > nc) n = nc;
  /* a seeded shuffle of the candidates; the first n are edited */
  uint64_t s = seed;
  for (size_t i = nc - 1; i > 0; i--) {
    s = s * UINT64_C(6364136223846793005) + 1442695040888963407u;
    size_t j = (size_t)((s >> 33) % (i + 1));
    edit t = c[i];
    c[i] = c[j];
    c[j] = t;
  }
  static const char *const status[] = {"bezig", "afgerond"};
  uint64_t value_bytes = 0;
  double t0 = bench_now();
  for (size_t i = 0; i < n; i++) {
    char text[200];
    const char *v = text;
    if (strstr(c[i].path, ".status")) v = status[i % 2];
    else if (strstr(c[i].path, ".telefoon")) snprintf(text, sizeof text, "06-%08zu", 10000000 + i);
    else if (strstr(c[i].path, ".voortgang"))
      snprintf(text, sizeof text, "Voortgang %zu: gesprek gehad, afspraken gemaakt over de volgende stap.", i);
    else snprintf(text, sizeof text, "Nieuwe waarde %zu", i);
    value_bytes += strlen(v);
    if (bgsync_set(a->r, c[i].client, c[i].path, v) != BG_OK) DIE("set %s %s: %s", c[i].client, c[i].path, bgsync_errmsg(a->r));
  }
  double t_edit = bench_now() - t0;
  free(c);
  t0 = bench_now();
  double t_push = device_sync(a);
  uint64_t a1 = a->last.bytes_sent + a->last.bytes_received;
  uint64_t pushed = a->last.pushed;
  double t_pull = device_sync(b);
  double latency = bench_now() - t0;
  uint64_t b1 = b->last.bytes_sent + b->last.bytes_received;
  if (pushed != n || b->last.pulled != n)
    fprintf(stderr, "note: %zu edits, %" PRIu64 " pushed, %" PRIu64 " pulled\n", n, pushed, b->last.pulled);
  char da[65], db[65];
  OK(bgsync_digest(a->r, NULL, da));
  OK(bgsync_digest(b->r, NULL, db));
  if (strcmp(da, db) != 0) DIE("after the incremental sync the two devices differ");
  double per_push = (double)(a1 - a0) / (double)n, per_pull = (double)(b1 - b0) / (double)n;
  double val = (double)value_bytes / (double)n;
  bench_figure(P, "incremental_edits", (double)n, "edits", -1);
  bench_figure(P, "incremental_edit_local_ms", t_edit * 1e3 / (double)n, "ms/edit", -1);
  bench_figure(P, "incremental_push_s", t_push, "s", -1);
  bench_figure(P, "incremental_pull_s", t_pull, "s", -1);
  bench_figure(P, "incremental_latency_s", latency, "s", -1);
  bench_figure(P, "incremental_empty_sync_s", tb0, "s", -1);
  bench_figure(P, "incremental_push_bytes_per_edit", per_push, "bytes", -1);
  bench_figure(P, "incremental_pull_bytes_per_edit", per_pull, "bytes", -1);
  bench_figure(P, "incremental_value_bytes_per_edit", val, "bytes", -1);
  bench_figure(P, "incremental_push_overhead_per_edit", per_push - val, "bytes", -1);
  bench_figure(P, "incremental_pull_overhead_per_edit", per_pull - val, "bytes", -1);
  printf("\nincremental: %zu edits (1%% of %" PRIu64 " fields) on one of anna's devices, pushed, pulled by another\n", n,
         fields);
  printf("  local edits %.2f ms each; push %.3f s, pull %.3f s, edit-to-arrival %.3f s (an empty sync: %.3f s)\n",
         t_edit * 1e3 / (double)n, t_push, t_pull, latency, tb0);
  printf("  bytes per edit: push %.1f, pull %.1f; value %.1f -> overhead push %.1f, pull %.1f (target <= 40): %s\n",
         per_push, per_pull, val, per_push - val, per_pull - val,
         per_push - val <= 40 && per_pull - val <= 40 ? "met" : "NOT met");
}

/* --- main ----------------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  uint32_t n_clients = 2000;
  uint64_t seed = 42;
  bool keep = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc) n_clients = (uint32_t)strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--keep") == 0) keep = true;
    else {
      fprintf(stderr, "usage: bench_sync [--clients N] [--seed S] [--keep]   (N >= 400, default 2000)\n");
      return 2;
    }
  }
  if (n_clients < 400) DIE("--clients: at least 400 (bert 3, anna 30, carla 300, and more)");
  bench_header(P);
  signal(SIGPIPE, SIG_IGN);

  bgh_org o;
  if (bgh_org_init(&o, "bench", 26000, "log_level = warn\nmax_connections = 100") != 0) DIE("bgctl init failed");
  char dir[160], spath[200], why[512] = "";
  snprintf(dir, sizeof dir, "%s/devices", o.home);
  if (mkdir(dir, 0700) != 0) DIE("mkdir %s", dir);
  snprintf(spath, sizeof spath, "%s/store.db", o.home);
  bg_store *s;
  if (bg_store_open(spath, &s, why, sizeof why) != BG_OK) DIE("store: %s", why);

  /* people and clients: bert 3, anna 30, carla 300, then 30 each */
  size_t nb = 3 + (n_clients - 333 + 29) / 30;
  begeleider *b = calloc(nb, sizeof *b);
  if (b == NULL) DIE("out of memory");
  uint32_t at = 0;
  for (size_t i = 0; i < nb; i++) {
    const char *names[] = {"bert", "anna", "carla"};
    uint32_t sizes[] = {3, 30, 300};
    if (i < 3) snprintf(b[i].login, sizeof b[i].login, "%s", names[i]);
    else snprintf(b[i].login, sizeof b[i].login, "b%03zu", i);
    snprintf(b[i].team, sizeof b[i].team, "team-%s", b[i].login);
    b[i].first = at;
    b[i].n = i < 3 ? sizes[i] : (n_clients - at < 30 ? n_clients - at : 30);
    at += b[i].n;
    int64_t t = now_ms();
    OK(bg_store_team_add(s, b[i].team, t));
    OK(bg_store_user_add(s, b[i].login, BG_ROLE_BEGELEIDER, b[i].team, t, &b[i].who.user));
    b[i].who.role = BG_ROLE_BEGELEIDER;
    for (uint32_t k = 0; k < b[i].n; k++) {
      char c[16];
      client_id(b[i].first + k, c);
      OK(bg_store_client_add(s, c, b[i].team, b[i].login, t));
    }
    b[i].who.device = loader_device(s, b[i].who.user, b[i].login);
  }
  uint64_t olga;
  OK(bg_store_user_add(s, "olga", BG_ROLE_OFFICE, NULL, now_ms(), &olga));

  bc_rows rows = {0};
  load_stats ls = {0};
  double t0 = bench_now();
  for (size_t i = 0; i < nb; i++) load_caseload(s, &b[i], seed, &rows, &ls);
  double t_load = bench_now() - t0;
  bg_store_close(s);
  uint64_t store_bytes = file_size(spath);
  bench_figure(P, "caseload_clients", n_clients, "clients", -1);
  bench_figure(P, "caseload_writes", (double)ls.writes, "writes", -1);
  bench_figure(P, "caseload_records", (double)rows.n, "records", -1);
  bench_figure(P, "caseload_value_bytes", (double)ls.value_bytes, "bytes", -1);
  bench_figure(P, "caseload_generate_writes_per_s", (double)ls.writes / ls.gen_s, "writes/s", -1);
  bench_figure(P, "caseload_store_push_writes_per_s", (double)ls.writes / ls.push_s, "writes/s", -1);
  bench_figure(P, "daemon_store_bytes", (double)store_bytes, "bytes", -1);
  printf("caseload: %u clients, %" PRIu64 " writes, %" PRIu64 " records, %.0f MB of values; made in %.1f s "
         "(generator %.1f s, bg_store_push %.1f s); daemon store %.0f MB\n",
         n_clients, ls.writes, rows.n, (double)ls.value_bytes / 1e6, t_load, ls.gen_s, ls.push_s,
         (double)store_bytes / 1e6);
  fflush(stdout);

  if (bgh_daemon_start(&o) != 0) DIE("bgsyncd did not start");
  initial f[4];
  device anna_a, anna_b;
  initial_sync(&f[0], &o, dir, "bert", "bert-1", &rows, b[0].first, b[0].n, b[0].n, NULL);
  initial_sync(&f[1], &o, dir, "anna", "anna-1", &rows, b[1].first, b[1].n, b[1].n, &anna_a);
  initial_sync(&f[2], &o, dir, "carla", "carla-1", &rows, b[2].first, b[2].n, b[2].n, NULL);
  initial_sync(&f[3], &o, dir, "olga", "olga-1", &rows, 0, 0, n_clients, NULL);
  /* a second device of anna (and a second sample of the 30-client sync) */
  initial fb;
  initial_sync(&fb, &o, dir, "anna", "anna-2", &rows, b[1].first, b[1].n, b[1].n, &anna_b);

  printf("\n%-8s %8s %9s %10s %10s %11s %9s %12s %12s %8s\n", "device", "clients", "records", "sync s", "ceiling s",
         "vs ceiling", "rec/s", "wire MB", "replica MB", "B/record");
  initial *all[] = {&f[0], &f[1], &fb, &f[2], &f[3]};
  for (int i = 0; i < 5; i++) {
    initial *x = all[i];
    printf("%-8s %8u %9" PRIu64 " %10.3f %10.3f %10.2fx %9.0f %12.1f %12.1f %8.0f\n", x->who, x->clients, x->records,
           x->secs, x->ceiling_s, x->secs / x->ceiling_s, (double)x->records / x->secs, (double)x->bytes / 1e6,
           (double)x->replica_bytes / 1e6, (double)x->replica_bytes / (double)x->records);
  }
  printf("target: initial sync <= 2x the ceiling: 30 clients %.2fx, %u clients %.2fx\n", f[1].secs / f[1].ceiling_s,
         n_clients, f[3].secs / f[3].ceiling_s);
  printf("growth (1x/10x/100x = 3/30/300 clients): time per client %.1f / %.1f / %.1f ms, replica bytes per client "
         "%.0f / %.0f / %.0f kB\n",
         f[0].secs * 1e3 / 3, f[1].secs * 1e3 / 30, f[2].secs * 1e3 / 300, f[0].replica_bytes / 3e3,
         f[1].replica_bytes / 30e3, f[2].replica_bytes / 300e3);

  /* incremental: 1% of the fields anna's device received */
  incremental(&anna_a, &anna_b, f[1].writes, seed);
  bgsync_close(anna_a.r);
  bgsync_close(anna_b.r);

  bgh_daemon_stop(&o, SIGTERM);
  bc_rows_free(&rows);
  free(b);
  if (!keep) bgh_org_remove(&o, 1);
  else printf("kept %s\n", o.home);
  return 0;
}
