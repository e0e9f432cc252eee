/*
 * bgctl_care.c - bgctl's care-data commands: client list and show, conflicts
 * (list, show, resolve), proposals, signals and the report. What they show is
 * computed by daemon/care.c (the office's view of care data); this file turns
 * it into tables and answers.
 */
#define _DEFAULT_SOURCE
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bg_schema.h"
#include "bgctl.h"
#include "care.h"

/* --- logins by user id ----------------------------------------------------------------------- */

typedef struct logins {
  uint64_t *id;
  char (*login)[BG_ID_MAX + 1];
  size_t n, cap;
} logins;

static bg_err logins_add(void *arg, const bg_user_row *u) {
  logins *l = arg;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 32;
    uint64_t *id = realloc(l->id, cap * sizeof *id);
    if (id == NULL) return BG_E_NOMEM;
    l->id = id;
    char(*lg)[BG_ID_MAX + 1] = realloc(l->login, cap * sizeof *lg);
    if (lg == NULL) return BG_E_NOMEM;
    l->login = lg;
    l->cap = cap;
  }
  l->id[l->n] = u->id;
  snprintf(l->login[l->n], sizeof l->login[0], "%s", u->login);
  l->n++;
  return BG_OK;
}

static const char *login_of(const logins *l, uint64_t id) {
  if (id == BG_OFFICE_USER) return "office";
  for (size_t i = 0; i < l->n; i++)
    if (l->id[i] == id) return l->login[i];
  return "?";
}

static void logins_free(logins *l) {
  free(l->id);
  free(l->login);
}

/* A value for a terminal table: at most 48 characters (whole UTF-8 characters). */
static const char *clip(const char *s, char *buf, size_t len) {
  if (g_fmt != BGCTL_TEXT || s == NULL) return s ? s : "";
  size_t chars = 0, i = 0;
  for (; s[i] && i + 4 < len; i++) {
    if (((unsigned char)s[i] & 0xC0) != 0x80 && ++chars > 47) break;
    if (s[i] == '\n') break;
  }
  if (s[i] == 0) return s;
  snprintf(buf, len, "%.*s...", (int)i, s);
  return buf;
}

static const char *phase_text(bg_pos p) { return p.phase == BG_PH_NONE ? "-" : bg_phase_name(p.phase); }

/* --- client list ------------------------------------------------------------------------------- */

static int client_list(bg_store *s, const opts *o) {
  bg_care_filter f = {o->team, o->begeleider, NULL};
  bg_care_set set;
  bg_err e = bg_care_load(s, &f, &set);
  if (e != BG_OK) return failed(e, bg_store_errmsg(s));
  static const bgctl_col cols[] = {{"CLIENT", "id", false},       {"TEAM", "team", false},
                                   {"BEGELEIDER", "begeleider", false}, {"PHASE", "phase", false},
                                   {"CYCLE", "cycle", true},      {"SINCE", "since", false},
                                   {"PLAN", "plan", false},       {"CONFLICTS", "conflicts", true},
                                   {"PROPOSALS", "proposals", true}};
  bgctl_table t;
  tbl_init(&t, cols, 9);
  bool ok = true;
  for (size_t i = 0; ok && i < set.n; i++) {
    const bg_care_client *c = &set.v[i];
    char cy[16], since[16], nc[16], np[16];
    snprintf(cy, sizeof cy, "%u", c->pos.cycle);
    fmt_date(c->pos_since, since, sizeof since);
    snprintf(nc, sizeof nc, "%u", c->conflicts);
    snprintf(np, sizeof np, "%u", c->proposals);
    const char *row[] = {c->id, c->team, c->begeleider, phase_text(c->pos), cy, since, bg_plan_status_name(c->plan), nc, np};
    ok = tbl_row(&t, row);
  }
  if (ok) tbl_print(&t, "no clients (register one: bgctl client add CLIENT_ID --team TEAM --begeleider LOGIN)");
  tbl_free(&t);
  bg_care_free(&set);
  return ok ? BGCTL_OK : failed(BG_E_NOMEM, NULL);
}

/* --- client show ------------------------------------------------------------------------------- */

typedef struct show {
  const logins *users;
  bgctl_table t;
  bool ok;
} show;

static bg_err show_field(void *arg, const bg_care_field *f) {
  show *sh = arg;
  char rec[2 * BG_ID_MAX + 8], at[32], clipped[256];
  snprintf(rec, sizeof rec, "%s:%s%s", f->type, f->rid, f->deleted ? " (removed)" : "");
  fmt_time(f->at, at, sizeof at);
  const char *row[] = {rec, f->field, clip(f->value, clipped, sizeof clipped), login_of(sh->users, f->user), at};
  if (!tbl_row(&sh->t, row)) return BG_E_NOMEM;
  return BG_OK;
}

static int client_show(bg_store *s, const opts *o, const logins *users) {
  if (o->npos != 1) return usage_error("usage: bgctl --home DIR client show CLIENT_ID [--json]");
  bg_care_filter f = {NULL, NULL, o->pos[0]};
  bg_care_set set;
  bg_err e = bg_care_load(s, &f, &set);
  if (e != BG_OK) return failed(e, bg_store_errmsg(s));
  if (set.n == 0) {
    bg_care_free(&set);
    fprintf(stderr, "bgctl: no client '%s' (bgctl client list shows them)\n", o->pos[0]);
    return BGCTL_FAILED;
  }
  static const bgctl_col cols[] = {{"RECORD", "record", false}, {"FIELD", "field", false}, {"VALUE", "value", false},
                                   {"BY", "by", false},         {"AT", "at", false}};
  show sh = {users, {0}, true};
  tbl_init(&sh.t, cols, 5);
  e = bg_care_records(s, o->pos[0], show_field, &sh);
  if (e == BG_E_NOT_FOUND) e = BG_OK; /* registered, nothing written yet */
  const bg_care_client *c = &set.v[0];
  char since[32], signed_at[32], term[16];
  fmt_time(c->pos_since, since, sizeof since);
  fmt_time(c->plan_signed_at, signed_at, sizeof signed_at);
  fmt_date(c->plan_term, term, sizeof term);
  if (e == BG_OK && g_fmt == BGCTL_JSON) {
    fputs("{\"id\":", stdout);
    json_str(stdout, c->id);
    fputs(",\"team\":", stdout);
    json_str(stdout, c->team);
    fputs(",\"begeleider\":", stdout);
    json_str(stdout, c->begeleider);
    printf(",\"phase\":\"%s\",\"cycle\":%u,\"since\":\"%s\",\"plan\":\"%s\",\"conflicts\":%u,\"proposals\":%u,\"records\":",
           phase_text(c->pos), c->pos.cycle, c->pos_since ? since : "", bg_plan_status_name(c->plan), c->conflicts,
           c->proposals);
    tbl_print(&sh.t, NULL);
    fputs("}\n", stdout);
  } else if (e == BG_OK) {
    printf("client %s, team %s, trajectbegeleider %s\n", c->id, c->team, c->begeleider);
    printf("traject: %s, cycle %u, since %s\n", phase_text(c->pos), c->pos.cycle, since);
    printf("plan of cycle %u: %s%s%s%s%s\n", c->pos.cycle, bg_plan_status_name(c->plan),
           c->plan == BG_PLAN_SIGNED ? ", signed " : "", c->plan == BG_PLAN_SIGNED ? signed_at : "",
           c->plan_term ? "; term " : "", c->plan_term ? term : "");
    printf("open: %u conflict%s, %u wijzigingsvoorstel%s\n\n", c->conflicts, c->conflicts == 1 ? "" : "s", c->proposals,
           c->proposals == 1 ? "" : "len");
    g_fmt = BGCTL_TEXT;
    tbl_print(&sh.t, "(no records written yet)");
  }
  tbl_free(&sh.t);
  bg_care_free(&set);
  return e == BG_OK ? BGCTL_OK : failed(e, bg_store_errmsg(s));
}

/* --- conflicts and proposals ------------------------------------------------------------------- */

static const char *field_name(const bg_open_entry *x) {
  const bg_rtype_def *rt = bg_rtype(x->rtype);
  const bg_field_def *f = rt ? bg_field(rt, x->field) : NULL;
  return f ? f->name : "?";
}

static void record_name(const bg_open_entry *x, char *out, size_t len) {
  const bg_rtype_def *rt = bg_rtype(x->rtype);
  snprintf(out, len, "%s:%s", rt ? rt->name : "?", x->rid);
}

static int entries_list(bg_store *s, const opts *o, const logins *users, bool proposals) {
  bg_open_entries l;
  bg_err e = bg_care_entries_get(s, o->client, !proposals, proposals, &l);
  if (e != BG_OK) {
    bg_open_entries_free(&l);
    return failed(e, bg_store_errmsg(s));
  }
  static const bgctl_col ccols[] = {{"ID", "id", false},         {"CLIENT", "client", false},
                                    {"RECORD", "record", false}, {"FIELD", "field", false},
                                    {"RULE", "rule", false},     {"A (SHOWN)", "shown", false},
                                    {"BY", "shown_by", false},   {"B (KEPT)", "other", false},
                                    {"BY", "other_by", false},   {"SINCE", "since", false}};
  static const bgctl_col pcols[] = {{"ID", "id", false},         {"CLIENT", "client", false},
                                    {"RECORD", "record", false}, {"FIELD", "field", false},
                                    {"WHY", "rule", false},      {"PROPOSED", "proposed", false},
                                    {"BY", "by", false},         {"AT", "at", false}};
  bgctl_table t;
  tbl_init(&t, proposals ? pcols : ccols, proposals ? 8 : 10);
  bool ok = true;
  for (size_t i = 0; ok && i < l.n; i++) {
    const bg_open_entry *x = &l.v[i];
    char rec[2 * BG_ID_MAX + 4], at[32], c1[256], c2[256];
    record_name(x, rec, sizeof rec);
    int64_t since = x->other.at > x->shown.at ? x->other.at : x->shown.at;
    if (proposals) {
      fmt_time(x->other.at, at, sizeof at);
      const char *row[] = {x->id, x->client, rec, field_name(x), bg_open_entry_rule(x),
                           clip(x->other.text ? x->other.text : "(leeg)", c1, sizeof c1), login_of(users, x->other.user),
                           at};
      ok = tbl_row(&t, row);
    } else {
      fmt_time(since, at, sizeof at);
      const char *row[] = {x->id, x->client, rec, field_name(x), bg_open_entry_rule(x),
                           clip(x->shown.text ? x->shown.text : "(leeg)", c1, sizeof c1), login_of(users, x->shown.user),
                           clip(x->other.text ? x->other.text : "(leeg)", c2, sizeof c2), login_of(users, x->other.user),
                           at};
      ok = tbl_row(&t, row);
    }
  }
  if (ok) tbl_print(&t, proposals ? "no wijzigingsvoorstellen waiting" : "no open conflicts");
  tbl_free(&t);
  bg_open_entries_free(&l);
  return ok ? BGCTL_OK : failed(BG_E_NOMEM, NULL);
}

/* The open entry `id`, or a message and NULL. */
static const bg_open_entry *entry_find(const bg_open_entries *l, const char *id) {
  const bg_open_entry *x = bg_open_entries_find(l, id);
  if (x) return x;
  fprintf(stderr, "bgctl: no open conflict or wijzigingsvoorstel '%s' (bgctl conflicts list, bgctl proposals list)\n", id);
  return NULL;
}

static void side_print(const char *label, const bg_entry_side *sd, const logins *users) {
  char at[32];
  fmt_time(sd->at, at, sizeof at);
  printf("%s %s\n     by %s on device %" PRIu64 " at %s\n", label, sd->text ? sd->text : "(leeg)",
         login_of(users, sd->user), sd->device, at);
}

/* A conflict of two phase moves (traject.positie): closed only by keeping the shown phase. */
static bool phase_conflict(const bg_open_entry *x) {
  const bg_field_def *f = bg_rtype(x->rtype) ? bg_field(bg_rtype(x->rtype), x->field) : NULL;
  return f != NULL && f->type == BG_FT_POS;
}

static int conflicts_show(bg_store *s, const opts *o, const logins *users) {
  if (o->npos != 1) return usage_error("usage: bgctl --home DIR conflicts show ID [--json]");
  bg_open_entries l;
  bg_err e = bg_care_entries_get(s, NULL, true, true, &l);
  if (e != BG_OK) {
    bg_open_entries_free(&l);
    return failed(e, bg_store_errmsg(s));
  }
  const bg_open_entry *x = entry_find(&l, o->pos[0]);
  if (x == NULL) {
    bg_open_entries_free(&l);
    return BGCTL_FAILED;
  }
  char rec[2 * BG_ID_MAX + 4];
  record_name(x, rec, sizeof rec);
  if (g_fmt == BGCTL_JSON) {
    char a1[32], a2[32];
    fmt_time(x->shown.at, a1, sizeof a1);
    fmt_time(x->other.at, a2, sizeof a2);
    printf("{\"id\":\"%s\",\"kind\":\"%s\",\"client\":", x->id, x->proposal ? "proposal" : "conflict");
    json_str(stdout, x->client);
    fputs(",\"record\":", stdout);
    json_str(stdout, rec);
    printf(",\"field\":\"%s\",\"rule\":\"%s\",\"why\":", field_name(x), bg_open_entry_rule(x));
    json_str(stdout, bg_open_entry_why(x));
    fputs(",\"a\":{\"value\":", stdout);
    x->shown.text ? json_str(stdout, x->shown.text) : (void)fputs("null", stdout);
    fputs(",\"by\":", stdout);
    json_str(stdout, login_of(users, x->shown.user));
    printf(",\"device\":%" PRIu64 ",\"at\":\"%s\"},\"b\":{\"value\":", x->shown.device, x->shown.at ? a1 : "");
    x->other.text ? json_str(stdout, x->other.text) : (void)fputs("null", stdout);
    fputs(",\"by\":", stdout);
    json_str(stdout, login_of(users, x->other.user));
    printf(",\"device\":%" PRIu64 ",\"at\":\"%s\"}}\n", x->other.device, a2);
  } else {
    printf("%s %s: %s, field %s of %s\n", x->proposal ? "wijzigingsvoorstel" : "conflict", x->id, x->client,
           field_name(x), rec);
    printf("why: %s\n", bg_open_entry_why(x));
    if (x->shown.at) side_print(x->proposal ? "now: " : "A (shown):", &x->shown, users);
    side_print(x->proposal ? "proposed:" : "B (kept): ", &x->other, users);
    if (!x->proposal && phase_conflict(x))
      printf("resolve: bgctl --home %s conflicts resolve %s --keep A (the phase shown stays; the traject moves on "
             "with a phase move on the trajectbegeleider's device)\n", g_home, x->id);
    else if (!x->proposal)
      printf("resolve: bgctl --home %s conflicts resolve %s --keep A | --keep B | --value TEXT\n", g_home, x->id);
    else
      puts("decided at the next evaluation, on a device (bgsync resolve ID --keep A|B)");
  }
  bg_open_entries_free(&l);
  return BGCTL_OK;
}

static int conflicts_resolve(bg_store *s, const opts *o) {
  bool keep = o->keep != NULL;
  if (o->npos != 1 || keep == (o->value != NULL) || (keep && strcmp(o->keep, "A") != 0 && strcmp(o->keep, "B") != 0))
    return usage_error("usage: bgctl --home DIR conflicts resolve ID (--keep A | --keep B | --value TEXT)");
  bg_open_entries l;
  bg_err e = bg_care_entries_get(s, NULL, true, true, &l);
  if (e != BG_OK) {
    bg_open_entries_free(&l);
    return failed(e, bg_store_errmsg(s));
  }
  const bg_open_entry *x = entry_find(&l, o->pos[0]);
  int status = BGCTL_OK;
  if (x && x->proposal) {
    fprintf(stderr, "bgctl: %s is a wijzigingsvoorstel: it waits for the next evaluation and is decided there "
            "(on a device: bgsync resolve %s --keep A|B)\n", x->id, x->id);
    status = BGCTL_FAILED;
  } else if (x) {
    const bg_rtype_def *rt = bg_rtype(x->rtype);
    const bg_field_def *f = rt ? bg_field(rt, x->field) : NULL;
    bg_value v;
    const char *what = keep ? (o->keep[0] == 'A' ? "A (the shown value)" : "B (the kept value)") : "a new value";
    char why[512] = "unknown field";
    if (phase_conflict(x) && !(keep && o->keep[0] == 'A')) {
      /* two concurrent phase moves: the traject stands where R5 put it (RULES.md 7) */
      fprintf(stderr, "bgctl: %s is a conflict of the traject's phase: it is closed by keeping the phase shown "
              "(bgctl --home %s conflicts resolve %s --keep A); the traject moves on with a phase move on the "
              "trajectbegeleider's device\n", x->id, g_home, x->id);
      status = BGCTL_FAILED;
    } else if (keep) v = o->keep[0] == 'A' ? x->shown.value : x->other.value;
    else if (f == NULL || bg_value_parse(rt, f, o->value, &v, why, sizeof why) != BG_OK)
      status = usage_error("%s", why);
    if (status == BGCTL_OK) {
      char obj[96];
      snprintf(obj, sizeof obj, "conflict %s: %s", x->id, keep ? (o->keep[0] == 'A' ? "keep A" : "keep B") : "value");
      e = bg_store_office_write(s, x->client, x->rtype, x->rid, x->field, &v, "resolve", obj, now_ms());
      if (e == BG_OK)
        printf("conflict %s resolved with %s; devices get the resolution on their next sync\n", x->id, what);
      else
        status = failed(e, bg_store_errmsg(s));
    }
  } else {
    status = BGCTL_FAILED;
  }
  bg_open_entries_free(&l);
  return status;
}

/* --- signals ------------------------------------------------------------------------------------ */

static bg_err signal_row(void *arg, const bg_signal *sig) {
  bgctl_table *t = arg;
  char since[16], days[16], dev[24];
  fmt_date(sig->since, since, sizeof since);
  snprintf(days, sizeof days, "%d", sig->days);
  snprintf(dev, sizeof dev, "%" PRIu64, sig->device);
  const char *row[] = {sig->kind, sig->client, sig->device ? dev : "", sig->team, sig->begeleider, since, days, sig->detail};
  return tbl_row(t, row) ? BG_OK : BG_E_NOMEM;
}

static int signals(bg_store *s, const opts *o) {
  bg_signal_opts so = {now_ms(), 7, BG_CARE_EVALUATE_DAYS};
  if (o->now && !parse_date_opt("--now", o->now, &so.now)) return BGCTL_USAGE;
  if (o->days && !parse_int_opt("--days", o->days, 0, 3650, &so.days)) return BGCTL_USAGE;
  if (o->evaluate_after && !parse_int_opt("--evaluate-after", o->evaluate_after, 1, 3650, &so.evaluate_days))
    return BGCTL_USAGE;
  if (o->npos) return usage_error("usage: bgctl --home DIR signals [--team T] [--begeleider LOGIN] [--days N] [--now D]");
  bg_care_filter f = {o->team, o->begeleider, NULL};
  bg_care_set set;
  bg_err e = bg_care_load(s, &f, &set);
  if (e != BG_OK) return failed(e, bg_store_errmsg(s));
  static const bgctl_col cols[] = {{"SIGNAL", "signal", false},   {"CLIENT", "client", false},
                                   {"DEVICE", "device", true},    {"TEAM", "team", false},
                                   {"BEGELEIDER", "begeleider", false}, {"SINCE", "since", false},
                                   {"DAYS", "days", true},        {"DETAIL", "detail", false}};
  bgctl_table t;
  tbl_init(&t, cols, 8);
  e = bg_care_signals(&set, &so, signal_row, &t);
  if (e == BG_OK) {
    char now[16];
    fmt_date(so.now, now, sizeof now);
    if (g_fmt == BGCTL_TEXT)
      printf("signals on %s for %zu clients and %zu devices%s%s%s%s (N = %d days)\n\n", now, set.n, set.ndev,
             o->team ? ", team " : "", o->team ? o->team : "", o->begeleider ? ", begeleider " : "",
             o->begeleider ? o->begeleider : "", so.days);
    tbl_print(&t, "no signals: every deadline of the method is met");
  }
  tbl_free(&t);
  bg_care_free(&set);
  return e == BG_OK ? BGCTL_OK : failed(e, NULL);
}

/* --- report ------------------------------------------------------------------------------------- */

static bg_err report_row(void *arg, const bg_report_row *r) {
  bgctl_table *t = arg;
  char cy[16] = "", n[24], med[24] = "", p90[24] = "";
  if (r->cycle >= 0) snprintf(cy, sizeof cy, "%d", r->cycle);
  snprintf(n, sizeof n, "%" PRIu64, r->count);
  if (r->median >= 0) snprintf(med, sizeof med, "%.1f", r->median);
  if (r->p90 >= 0) snprintf(p90, sizeof p90, "%.1f", r->p90);
  const char *row[] = {r->section, r->team, r->item, cy, n, med, p90};
  return tbl_row(t, row) ? BG_OK : BG_E_NOMEM;
}

static const char *const k_sections[][2] = {
    {"fase", "Clients per phase and cycle at the end of the period"},
    {"doorlooptijd", "Throughput: days spent in each phase left during the period (median, p90)"},
    {"cycli", "Cycles per traject at the end of the period (cycles begun: analyse to evaluatie)"},
    {"besluit", "Decisions made in the period (the value shown now)"},
    {"uitstroom", "Uitstroom reasons written in the period"},
};

/* The report on a terminal: a heading and an aligned table per section. */
static void report_text(const bgctl_table *all) {
  static const bgctl_col cols[][7] = {
      {{"TEAM", "team", false}, {"PHASE", "item", false}, {"CYCLE", "cycle", true}, {"CLIENTS", "count", true}},
      {{"TEAM", "team", false}, {"PHASE", "item", false}, {"LEFT", "count", true}, {"MEDIAN DAYS", "median", true},
       {"P90 DAYS", "p90", true}},
      {{"TEAM", "team", false}, {"CYCLES", "item", false}, {"TRAJECTEN", "count", true}},
      {{"TEAM", "team", false}, {"DECISION", "item", false}, {"COUNT", "count", true}},
      {{"TEAM", "team", false}, {"REASON", "item", false}, {"COUNT", "count", true}},
  };
  static const int pick[][5] = {{1, 2, 3, 4, -1}, {1, 2, 4, 5, 6}, {1, 2, 4, -1, -1}, {1, 2, 4, -1, -1}, {1, 2, 4, -1, -1}};
  for (size_t sct = 0; sct < 5; sct++) {
    size_t nc = 0;
    while (nc < 5 && pick[sct][nc] >= 0) nc++;
    bgctl_table t;
    tbl_init(&t, cols[sct], nc);
    for (size_t r = 0; r < all->nrows; r++) {
      char *const *row = &all->cells[r * all->ncols];
      if (strcmp(row[0], k_sections[sct][0]) != 0) continue;
      const char *cells[5];
      for (size_t c = 0; c < nc; c++) cells[c] = row[pick[sct][c]];
      if (strcmp(cells[0], "*") == 0) cells[0] = "(all)";
      (void)tbl_row(&t, cells);
    }
    printf("\n%s\n", k_sections[sct][1]);
    tbl_print(&t, "  (none)");
    tbl_free(&t);
  }
}

static int report(bg_store *s, const opts *o) {
  bg_report_opts ro = {0, now_ms(), o->team == NULL};
  if (o->from && !parse_date_opt("--from", o->from, &ro.from)) return BGCTL_USAGE;
  if (o->to && !parse_date_opt("--to", o->to, &ro.to)) return BGCTL_USAGE;
  if (o->to) ro.to += BG_DAY_MS; /* --to names the last day of the period */
  if (ro.from >= ro.to) return usage_error("--from must be on or before --to");
  if (o->npos) return usage_error("usage: bgctl --home DIR report [--team T] [--from D] [--to D] [--json|--csv]");
  bg_care_filter f = {o->team, NULL, NULL};
  bg_care_set set;
  bg_err e = bg_care_load(s, &f, &set);
  if (e != BG_OK) return failed(e, bg_store_errmsg(s));
  static const bgctl_col cols[] = {{"SECTION", "section", false}, {"TEAM", "team", false}, {"ITEM", "item", false},
                                   {"CYCLE", "cycle", true},      {"COUNT", "count", true}, {"MEDIAN DAYS", "median_days", true},
                                   {"P90 DAYS", "p90_days", true}};
  bgctl_table t;
  tbl_init(&t, cols, 7);
  e = bg_care_report(&set, &ro, report_row, &t);
  if (e == BG_OK) {
    char from[16], to[16];
    fmt_date(ro.from, from, sizeof from);
    fmt_date(ro.to - 1, to, sizeof to);
    if (g_fmt == BGCTL_TEXT) {
      printf("report %s to %s%s%s: %zu clients\n", ro.from ? from : "the start", to, o->team ? ", team " : ", all teams",
             o->team ? o->team : "", set.n);
      report_text(&t);
    } else {
      tbl_print(&t, NULL);
    }
  }
  tbl_free(&t);
  bg_care_free(&set);
  return e == BG_OK ? BGCTL_OK : failed(e, NULL);
}

/* --- dispatch ----------------------------------------------------------------------------------- */

bool bgctl_care_has(const char *cmd, const char *sub) {
  if (strcmp(cmd, "client") == 0) return strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0;
  if (strcmp(cmd, "conflicts") == 0)
    return strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0 || strcmp(sub, "resolve") == 0;
  if (strcmp(cmd, "proposals") == 0) return strcmp(sub, "list") == 0;
  return strcmp(cmd, "signals") == 0 || strcmp(cmd, "report") == 0;
}

int bgctl_care(const char *cmd, const char *sub, const opts *o, bg_store *s) {
  if (!bgctl_care_has(cmd, sub)) return -1;
  if (strcmp(cmd, "signals") == 0) return signals(s, o);
  if (strcmp(cmd, "report") == 0) return report(s, o);
  if (strcmp(cmd, "client") == 0 && strcmp(sub, "list") == 0) {
    if (o->npos) return usage_error("usage: bgctl --home DIR client list [--team T] [--begeleider LOGIN] [--json|--csv]");
    return client_list(s, o);
  }
  if (strcmp(sub, "resolve") == 0) return conflicts_resolve(s, o);
  logins users = {0};
  bg_err e = bg_store_users(s, logins_add, &users);
  int status;
  if (e != BG_OK) status = failed(e, bg_store_errmsg(s));
  else if (strcmp(cmd, "client") == 0) status = client_show(s, o, &users);
  else if (strcmp(cmd, "proposals") == 0) status = o->npos ? usage_error("usage: bgctl --home DIR proposals list [--client C]") : entries_list(s, o, &users, true);
  else if (strcmp(sub, "show") == 0) status = conflicts_show(s, o, &users);
  else status = o->npos ? usage_error("usage: bgctl --home DIR conflicts list [--client C]") : entries_list(s, o, &users, false);
  logins_free(&users);
  return status;
}
