/*
 * bgsync - the caseworker's command line over libbgsync (bgsync.h): enrol a
 * replica, sync it, read and write a client's traject, settle conflicts.
 *
 *   bgsync --replica FILE COMMAND ...     (bgsync --help lists the commands)
 *
 * Uses only the library's public API and plain SQL on its tables, like any app.
 * Exit status: 0 success, 1 the command failed (the message says why and what
 * to do), 2 usage error, 75 a sync failed for a reason that may pass (network,
 * busy server): try again later.
 */
#define _POSIX_C_SOURCE 200809L /* localtime_r */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bgsync.h"

#define EXIT_USAGE 2
#define EXIT_TEMPFAIL 75

static const char k_usage[] =
    "usage: bgsync --replica FILE [--json] COMMAND [ARGS]\n"
    "\n"
    "A caseworker's offline replica: work without a network, sync when there is one.\n"
    "\n"
    "  enroll --server HOST:PORT --code CODE [--name NAME] [--enrol-port PORT]\n"
    "                                 make this replica a device of the user the code is for\n"
    "  sync                           push what was written here, pull what changed\n"
    "  status                         pending writes, last sync, open conflicts\n"
    "  clients                        the clients in this replica, with phase and cycle\n"
    "  show CLIENT                    every record of a client\n"
    "  set CLIENT FIELD VALUE         FIELD as TYPE.FIELD (plan.einddoel) or\n"
    "                                 TYPE:RID.FIELD (actie:1:7.12.status); VALUE '-' clears\n"
    "  propose CLIENT FIELD VALUE     a wijzigingsvoorstel for a signed plan\n"
    "  register CLIENT [NAAM]         a new client's aanmelding (office users)\n"
    "  phase CLIENT NEXT              move the traject (intake, opstart, analyse, ...)\n"
    "  sign CLIENT SIGNATURE          the client signs the current plan\n"
    "  doel CLIENT LEEFGEBIED TEXT    add a doel to the current plan\n"
    "  actie CLIENT DOEL_RID TEXT     add an actie to a doel\n"
    "  note CLIENT TEXT [--soort S] [--corrects RID]\n"
    "                                 add a rapportage (append-only)\n"
    "  conflicts                      open conflict entries and wijzigingsvoorstellen\n"
    "  resolve ID (--keep A|B | --value V)\n"
    "  digest [CLIENT]                the replica's state digest, hex, alone on a line\n"
    "\n"
    "The replica may also be given as BGSYNC_REPLICA. Run 'bgsync COMMAND --help' for one\n"
    "command. Exit status: 0 ok, 1 failed, 2 usage, 75 sync failed for now (retry later).\n";

typedef struct cmd_help {
  const char *name, *text;
} cmd_help;

static const cmd_help k_help[] = {
    {"enroll",
     "usage: bgsync --replica FILE enroll --server HOST:PORT --code CODE [--name NAME] [--enrol-port PORT]\n"
     "Enrol a new replica with the one-time code the office printed (bgctl device enroll).\n"
     "HOST:PORT is the sync address (port 7443 when left out); enrolment goes to PORT + 1\n"
     "unless --enrol-port says otherwise. The key is made here and never leaves the device;\n"
     "it is stored beside the replica as FILE.key (mode 0600), with FILE.crt and FILE.ca.\n"
     "Example: bgsync --replica anna.db enroll --server office.example.nl:7443 --code K7QW3XB-...\n"},
    {"sync",
     "usage: bgsync --replica FILE sync\n"
     "Push every pending write, pull everything new, drop clients the office withdrew.\n"
     "A cut connection loses nothing: run it again. Exit 75 when it may succeed later.\n"
     "Example: bgsync --replica anna.db sync\n"},
    {"status", "usage: bgsync --replica FILE [--json] status\nExample: bgsync --replica anna.db status\n"},
    {"clients", "usage: bgsync --replica FILE [--json] clients\nExample: bgsync --replica anna.db clients\n"},
    {"show", "usage: bgsync --replica FILE [--json] show CLIENT\nExample: bgsync --replica anna.db show c-0042\n"},
    {"set",
     "usage: bgsync --replica FILE set CLIENT FIELD VALUE\n"
     "FIELD: TYPE.FIELD for a client's single records and the current cycle's plan and\n"
     "evaluatie (plan.einddoel, client.adres, intake.besluit); TYPE:RID.FIELD for others\n"
     "(actie:1:7.12.status, persoonsbeschrijving:wonen.situatie). VALUE '-' clears the field.\n"
     "Refused, with the reason, where the rules say no (wrong phase, signed plan).\n"
     "Example: bgsync --replica anna.db set c-0042 plan.einddoel 'Zelfstandig wonen'\n"},
    {"propose",
     "usage: bgsync --replica FILE propose CLIENT FIELD VALUE\n"
     "A wijzigingsvoorstel: a change to a signed plan, kept for the next evaluation.\n"
     "Example: bgsync --replica anna.db propose c-0042 plan.einddoel 'Zelfstandig wonen met hulp'\n"},
    {"register",
     "usage: bgsync --replica FILE register CLIENT [NAAM]\n"
     "Open a new client's traject in aanmelding, for devices of office users. After the next\n"
     "sync the office assigns the team and trajectbegeleider (bgctl client move).\n"
     "Example: bgsync --replica olga.db register c-0107 'Fatima el Idrissi'\n"},
    {"phase",
     "usage: bgsync --replica FILE phase CLIENT NEXT\n"
     "NEXT: aanmelding intake opstart analyse planning uitvoering evaluatie uitstroom gesloten.\n"
     "From evaluatie, analyse or planning starts the next cycle.\n"
     "Example: bgsync --replica anna.db phase c-0042 uitvoering\n"},
    {"sign",
     "usage: bgsync --replica FILE sign CLIENT SIGNATURE [--date YYYY-MM-DD]\n"
     "Example: bgsync --replica anna.db sign c-0042 'J. de Vries, Utrecht'\n"},
    {"doel",
     "usage: bgsync --replica FILE doel CLIENT LEEFGEBIED TEXT [--termijn T] [--prioriteit 1-5]\n"
     "Prints the new doel's record id.\n"
     "Example: bgsync --replica anna.db doel c-0042 financien 'Schulden in beeld'\n"},
    {"actie",
     "usage: bgsync --replica FILE actie CLIENT DOEL_RID TEXT [--wie client|begeleider|netwerk] [--deadline D]\n"
     "Prints the new actie's record id.\n"
     "Example: bgsync --replica anna.db actie c-0042 1:7.3 'Post openen met Anna' --wie client\n"},
    {"note",
     "usage: bgsync --replica FILE note CLIENT TEXT [--soort SOORT] [--leefgebied L] [--corrects RID]\n"
     "SOORT: begeleidingsgesprek voortgangsgesprek evaluatiegesprek exitgesprek overig.\n"
     "A rapportage is never changed; a correction is a new one naming the old (--corrects).\n"
     "Example: bgsync --replica anna.db note c-0042 'Huisbezoek, post samen geopend' --soort voortgangsgesprek\n"},
    {"conflicts", "usage: bgsync --replica FILE [--json] conflicts\nExample: bgsync --replica anna.db conflicts\n"},
    {"resolve",
     "usage: bgsync --replica FILE resolve ID (--keep A|B | --value VALUE)\n"
     "A conflict: keep the shown value (A), the other (B), or write a new one.\n"
     "A wijzigingsvoorstel: --keep B takes it over, --keep A declines it.\n"
     "Two concurrent phase moves: --keep A keeps the phase shown (the traject moves with phase).\n"
     "Example: bgsync --replica anna.db resolve c3.17 --keep B\n"},
    {"digest",
     "usage: bgsync --replica FILE digest [CLIENT]\n"
     "The SHA-256 of the visible state, conflict entries and proposals, in hex: replicas\n"
     "that received the same writes print the same digest.\n"},
};

static bool g_json;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bgsync: ");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nRun 'bgsync --help' for the commands.\n");
  return EXIT_USAGE;
}

static int failed(bgsync *r, bg_err e) {
  fprintf(stderr, "bgsync: %s\n", bgsync_errmsg(r)[0] ? bgsync_errmsg(r) : bg_err_message(e));
  return EXIT_FAILURE;
}

/* Options after the command: --name value pairs; positional arguments kept in order. */
typedef struct args {
  const char *pos[8];
  int npos;
  const char *opt_names[8], *opt_vals[8];
  int nopt;
  bool help;
} args;

static int parse_args(int argc, char **argv, args *a, const char *const *known) {
  memset(a, 0, sizeof *a);
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      a->help = true;
    } else if (strcmp(argv[i], "--json") == 0) {
      g_json = true;
    } else if (strncmp(argv[i], "--", 2) == 0 && argv[i][2]) {
      bool ok = false;
      for (int k = 0; known && known[k]; k++) ok |= strcmp(known[k], argv[i] + 2) == 0;
      if (!ok) return usage_error("unknown option %s", argv[i]);
      if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
      if (a->nopt == 8) return usage_error("too many options");
      a->opt_names[a->nopt] = argv[i] + 2;
      a->opt_vals[a->nopt++] = argv[++i];
    } else {
      if (a->npos == 8) return usage_error("too many arguments");
      a->pos[a->npos++] = argv[i];
    }
  }
  return 0;
}

static const char *opt(const args *a, const char *name) {
  for (int i = 0; i < a->nopt; i++)
    if (strcmp(a->opt_names[i], name) == 0) return a->opt_vals[i];
  return NULL;
}

static void json_str(const char *s) {
  putchar('"');
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void print_time(int64_t ms) {
  if (ms <= 0) {
    printf("never");
    return;
  }
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  char buf[32];
  if (localtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm)) printf("%s", buf);
  else printf("%" PRId64, ms);
}

/* --- sync with progress --------------------------------------------------------------------- */

static void on_progress(void *arg, const bgsync_progress *p) {
  bool tty = *(bool *)arg;
  static const char *const stage[] = {"", "connecting", "pushing", "pulling", "done"};
  if (tty) {
    fprintf(stderr, "\r%-10s pushed %" PRIu64 "/%" PRIu64 "  pulled %" PRIu64 "%s  %.1f kB sent, %.1f kB received ",
            stage[p->stage], p->pushed, p->to_push, p->pulled, p->more ? "+" : "", p->bytes_sent / 1000.0,
            p->bytes_received / 1000.0);
    if (p->stage == BGSYNC_DONE) fputc('\n', stderr);
  } else {
    fprintf(stderr, "%s: pushed %" PRIu64 "/%" PRIu64 ", pulled %" PRIu64 "%s%s\n", stage[p->stage], p->pushed,
            p->to_push, p->pulled, p->more ? " (more coming)" : "", p->purged ? ", clients removed" : "");
  }
}

/* The clients a sync dropped (bgsync_purged since `since`), one line each. */
static void print_purged(bgsync *r, int64_t since) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(bgsync_db(r), "SELECT client FROM bgsync_purged WHERE at >= ?1 ORDER BY client", -1, &st, NULL) !=
      SQLITE_OK)
    return;
  if (sqlite3_bind_int64(st, 1, since) == SQLITE_OK)
    while (sqlite3_step(st) == SQLITE_ROW)
      printf("client %s removed from this device: the office withdrew access (its writes from here were pushed first)\n",
             (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
}

static int cmd_sync(bgsync *r) {
  bool tty = isatty(2);
  bgsync_options o = {.progress = on_progress, .arg = &tty};
  struct timespec ts;
  int64_t start = timespec_get(&ts, TIME_UTC) ? (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 : 0;
  bg_err e = bgsync_sync(r, &o);
  print_purged(r, start);
  if (e == BG_OK) return 0;
  if (tty) fputc('\n', stderr);
  fprintf(stderr, "bgsync: %s\n", bgsync_errmsg(r));
  return bg_err_retryable(e) ? EXIT_TEMPFAIL : EXIT_FAILURE;
}

/* --- reading --------------------------------------------------------------------------------- */

static int cmd_status(bgsync *r) {
  bgsync_status s;
  bgsync_identity id;
  bg_err e = bgsync_status_get(r, &s);
  if (e == BG_OK) e = bgsync_identity_get(r, &id);
  if (e != BG_OK) return failed(r, e);
  if (g_json) {
    printf("{\"enrolled\":%s,\"device\":%" PRIu64 ",\"user\":%" PRIu64 ",\"login\":", id.enrolled ? "true" : "false",
           id.device, id.user);
    json_str(id.login);
    printf(",\"role\":");
    json_str(id.role);
    printf(",\"server\":");
    json_str(id.server);
    printf(",\"clients\":%" PRIu64 ",\"pending\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"conflicts\":%" PRIu64
           ",\"proposals\":%" PRIu64 ",\"last_sync_ms\":%" PRId64 ",\"last_error\":%" PRId64 "}\n",
           s.clients, s.pending, s.rejected, s.conflicts, s.proposals, s.last_sync_ms, s.last_error);
    return 0;
  }
  if (id.enrolled)
    printf("device %" PRIu64 " of %s (%s), server %s\n", id.device, id.login, id.role[0] ? id.role : "role unknown until the first sync", id.server);
  else
    printf("not enrolled: bgsync --replica FILE enroll --server HOST:PORT --code CODE\n");
  printf("clients            %" PRIu64 "\n", s.clients);
  printf("pending writes     %" PRIu64 "\n", s.pending);
  printf("refused writes     %" PRIu64 "%s\n", s.rejected, s.rejected ? " (kept in table bgsync_rejected)" : "");
  printf("open conflicts     %" PRIu64 "\n", s.conflicts);
  printf("open proposals     %" PRIu64 "\n", s.proposals);
  printf("last sync          ");
  print_time(s.last_sync_ms);
  if (s.last_error) printf(" (the last attempt failed: %s)", bg_err_message((int)s.last_error));
  printf("\n");
  return 0;
}

/* Print the rows of a query: a table on a terminal, JSON objects with --json. */
static int print_rows(bgsync *r, const char *sql, const char *bind, const char *label_col, bool *first_json) {
  sqlite3 *db = bgsync_db(r);
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK) {
    fprintf(stderr, "bgsync: %s\n", sqlite3_errmsg(db));
    return EXIT_FAILURE;
  }
  if (bind && sqlite3_bind_text(st, 1, bind, -1, SQLITE_STATIC) != SQLITE_OK) {
    sqlite3_finalize(st);
    return EXIT_FAILURE;
  }
  int n = sqlite3_column_count(st);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (g_json) {
      printf("%s{", *first_json ? "" : ",\n");
      *first_json = false;
      if (label_col) {
        printf("\"type\":");
        json_str(label_col);
        printf(",");
      }
      for (int i = 0, k = 0; i < n; i++) {
        int t = sqlite3_column_type(st, i);
        if (t == SQLITE_NULL) continue;
        printf("%s", k++ ? "," : "");
        json_str(sqlite3_column_name(st, i));
        printf(":");
        if (t == SQLITE_INTEGER) printf("%lld", (long long)sqlite3_column_int64(st, i));
        else json_str((const char *)sqlite3_column_text(st, i));
      }
      printf("}");
    } else {
      if (label_col) printf("%s", label_col);
      for (int i = 0; i < n; i++) {
        if (sqlite3_column_type(st, i) == SQLITE_NULL) continue;
        const char *name = sqlite3_column_name(st, i);
        if (strcmp(name, "client") == 0 && label_col) continue;
        printf("%s%s=%s", label_col || i ? "  " : "", name, (const char *)sqlite3_column_text(st, i));
      }
      printf("\n");
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    fprintf(stderr, "bgsync: %s\n", sqlite3_errmsg(db));
    return EXIT_FAILURE;
  }
  return 0;
}

static int cmd_clients(bgsync *r) {
  bool first = true;
  if (g_json) printf("[");
  int rc = print_rows(r,
                      "SELECT t.client, t.phase, t.cycle, c.naam FROM traject t LEFT JOIN client c USING(client) "
                      "ORDER BY t.client",
                      NULL, NULL, &first);
  if (g_json) printf("]\n");
  return rc;
}

static int cmd_show(bgsync *r, const char *client) {
  static const char *const types[] = {"client", "traject", "aanmelding", "intake", "opstart", "persoonsbeschrijving",
                                      "begeleidingsplan", "doel", "actie", "netwerkcontact", "rapportage",
                                      "evaluatie", "uitstroom", "wijzigingsvoorstel"};
  bool first = true;
  char sql[160];
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(bgsync_db(r), "SELECT 1 FROM traject WHERE client = ?1", -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) {
    fprintf(stderr, "bgsync: client %s is not in this replica (run 'bgsync clients'; sync first?)\n", client);
    return EXIT_FAILURE;
  }
  if (g_json) printf("[");
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    snprintf(sql, sizeof sql, "SELECT * FROM \"%s\" WHERE client = ?1 ORDER BY rid", types[i]);
    if ((rc = print_rows(r, sql, client, types[i], &first)) != 0) return rc;
  }
  if (g_json) printf("]\n");
  return 0;
}

typedef struct conflict_print {
  bool first;
  int n;
} conflict_print;

static void print_side(const char *label, const bgsync_side *s) {
  printf("    %s %s  (user %" PRIu64 ", device %" PRIu64 ", ", label, s->value ? s->value : "(leeg)", s->user, s->device);
  print_time((int64_t)s->time_ms);
  printf(")\n");
}

static void json_side(const char *name, const bgsync_side *s) {
  printf(",\"%s\":{\"value\":", name);
  if (s->value) json_str(s->value);
  else printf("null");
  printf(",\"user\":%" PRIu64 ",\"device\":%" PRIu64 ",\"time_ms\":%" PRIu64 "}", s->user, s->device, s->time_ms);
}

static void on_conflict(void *arg, const bgsync_conflict *c) {
  conflict_print *p = arg;
  p->n++;
  if (g_json) {
    printf("%s{\"id\":", p->first ? "" : ",\n");
    p->first = false;
    json_str(c->id);
    printf(",\"kind\":\"%s\",\"client\":", c->proposal ? "proposal" : "conflict");
    json_str(c->client);
    printf(",\"type\":");
    json_str(c->type);
    printf(",\"rid\":");
    json_str(c->rid);
    printf(",\"field\":");
    json_str(c->field);
    printf(",\"rule\":");
    json_str(c->rule);
    printf(",\"why\":");
    json_str(c->why);
    if (!c->proposal) json_side("shown", &c->shown);
    json_side(c->proposal ? "proposed" : "other", &c->other);
    printf("}");
    return;
  }
  printf("%s %s  client %s  %s %s.%s\n", c->id, c->proposal ? "wijzigingsvoorstel" : "conflict", c->client, c->type,
         c->rid, c->field);
  printf("    %s\n", c->why);
  if (!c->proposal) print_side("A (shown)", &c->shown);
  print_side(c->proposal ? "proposed " : "B (other)", &c->other);
}

static int cmd_conflicts(bgsync *r) {
  conflict_print p = {true, 0};
  if (g_json) printf("[");
  bg_err e = bgsync_conflicts(r, NULL, on_conflict, &p);
  if (g_json) printf("]\n");
  if (e != BG_OK) return failed(r, e);
  if (!g_json && p.n == 0) printf("no open conflicts or proposals\n");
  return 0;
}

/* --- main ------------------------------------------------------------------------------------ */

static const char *help_of(const char *cmd) {
  for (size_t i = 0; i < sizeof k_help / sizeof k_help[0]; i++)
    if (strcmp(k_help[i].name, cmd) == 0) return k_help[i].text;
  return NULL;
}

static int run(bgsync *r, const char *cmd, const args *a) {
  bg_err e;
  char rid[65];
#define NEED(n, what)                                                        \
  do {                                                                       \
    if (a->npos != (n)) return usage_error("%s", "usage: bgsync --replica FILE " what); \
  } while (0)
  if (strcmp(cmd, "enroll") == 0) {
    NEED(0, "enroll --server HOST:PORT --code CODE");
    const char *server = opt(a, "server"), *code = opt(a, "code"), *eport = opt(a, "enrol-port");
    if (!server || !code) return usage_error("%s", "enroll needs --server HOST:PORT and --code CODE");
    e = bgsync_enroll(r, server, code, opt(a, "name"), eport ? atoi(eport) : 0);
    if (e != BG_OK) return failed(r, e);
    bgsync_identity id;
    if ((e = bgsync_identity_get(r, &id)) != BG_OK) return failed(r, e);
    printf("enrolled as device %" PRIu64 " of %s; run 'bgsync --replica FILE sync' to fetch the caseload\n", id.device,
           id.login);
    return 0;
  }
  if (strcmp(cmd, "sync") == 0) return cmd_sync(r);
  if (strcmp(cmd, "status") == 0) return cmd_status(r);
  if (strcmp(cmd, "clients") == 0) return cmd_clients(r);
  if (strcmp(cmd, "conflicts") == 0) return cmd_conflicts(r);
  if (strcmp(cmd, "show") == 0) {
    NEED(1, "show CLIENT");
    return cmd_show(r, a->pos[0]);
  }
  if (strcmp(cmd, "set") == 0 || strcmp(cmd, "propose") == 0) {
    NEED(3, "set CLIENT FIELD VALUE");
    const char *v = strcmp(a->pos[2], "-") == 0 ? NULL : a->pos[2];
    e = cmd[0] == 's' ? bgsync_set(r, a->pos[0], a->pos[1], v) : bgsync_propose(r, a->pos[0], a->pos[1], v);
    return e == BG_OK ? 0 : failed(r, e);
  }
  if (strcmp(cmd, "register") == 0) {
    if (a->npos != 1 && a->npos != 2) return usage_error("%s", "usage: bgsync --replica FILE register CLIENT [NAAM]");
    e = bgsync_client_add(r, a->pos[0], a->npos == 2 ? a->pos[1] : NULL);
    return e == BG_OK ? 0 : failed(r, e);
  }
  if (strcmp(cmd, "phase") == 0) {
    NEED(2, "phase CLIENT NEXT");
    e = bgsync_phase(r, a->pos[0], a->pos[1]);
    return e == BG_OK ? 0 : failed(r, e);
  }
  if (strcmp(cmd, "sign") == 0) {
    NEED(2, "sign CLIENT SIGNATURE");
    e = bgsync_sign(r, a->pos[0], a->pos[1], opt(a, "date"));
    return e == BG_OK ? 0 : failed(r, e);
  }
  if (strcmp(cmd, "doel") == 0) {
    NEED(3, "doel CLIENT LEEFGEBIED TEXT");
    const char *pr = opt(a, "prioriteit");
    e = bgsync_doel_add(r, a->pos[0], a->pos[1], a->pos[2], opt(a, "termijn"), pr ? atoi(pr) : 0, rid);
    if (e != BG_OK) return failed(r, e);
    printf("%s\n", rid);
    return 0;
  }
  if (strcmp(cmd, "actie") == 0) {
    NEED(3, "actie CLIENT DOEL_RID TEXT");
    const char *pr = opt(a, "prioriteit");
    e = bgsync_actie_add(r, a->pos[0], a->pos[1], a->pos[2], opt(a, "wie"), opt(a, "deadline"), pr ? atoi(pr) : 0, rid);
    if (e != BG_OK) return failed(r, e);
    printf("%s\n", rid);
    return 0;
  }
  if (strcmp(cmd, "note") == 0) {
    NEED(2, "note CLIENT TEXT");
    e = bgsync_note(r, a->pos[0], opt(a, "soort"), a->pos[1], opt(a, "leefgebied"), opt(a, "corrects"), rid);
    if (e != BG_OK) return failed(r, e);
    printf("%s\n", rid);
    return 0;
  }
  if (strcmp(cmd, "resolve") == 0) {
    NEED(1, "resolve ID (--keep A|B | --value V)");
    const char *keep = opt(a, "keep"), *value = opt(a, "value");
    if ((keep != NULL) == (value != NULL) || (keep && strcmp(keep, "A") && strcmp(keep, "B")))
      return usage_error("%s", "resolve takes --keep A, --keep B or --value VALUE");
    e = bgsync_resolve(r, a->pos[0], keep ? keep[0] : 0, value);
    return e == BG_OK ? 0 : failed(r, e);
  }
  if (strcmp(cmd, "digest") == 0) {
    if (a->npos > 1) return usage_error("%s", "usage: bgsync --replica FILE digest [CLIENT]");
    char hex[65];
    e = bgsync_digest(r, a->npos ? a->pos[0] : NULL, hex);
    if (e != BG_OK) return failed(r, e);
    printf("%s\n", hex);
    return 0;
  }
#undef NEED
  return usage_error("unknown command '%s'", cmd);
}

int main(int argc, char **argv) {
  const char *replica = getenv("BGSYNC_REPLICA");
  int i = 1;
  for (; i < argc && strncmp(argv[i], "-", 1) == 0; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(k_usage, stdout);
      return 0;
    }
    if (strcmp(argv[i], "--version") == 0) {
      printf("bgsync %s\n", BGSYNC_VERSION);
      return 0;
    }
    if (strcmp(argv[i], "--json") == 0) g_json = true;
    else if (strcmp(argv[i], "--replica") == 0 && i + 1 < argc) replica = argv[++i];
    else return usage_error("unknown option %s", argv[i]);
  }
  if (i >= argc) {
    fputs(k_usage, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[i++];
  const char *help = help_of(cmd);
  if (!help) return usage_error("unknown command '%s'", cmd);
  static const char *const known[] = {"server", "code", "name", "enrol-port", "keep", "value", "soort",
                                      "corrects", "leefgebied", "date", "termijn", "prioriteit", "wie", "deadline",
                                      NULL};
  args a;
  int rc = parse_args(argc - i, argv + i, &a, known);
  if (rc) return rc;
  if (a.help) {
    fputs(help, stdout);
    return 0;
  }
  if (!replica) return usage_error("%s", "which replica? give --replica FILE (or set BGSYNC_REPLICA)");
  bgsync *r;
  bg_err e = bgsync_open(replica, &r);
  if (e != BG_OK) {
    rc = failed(r, e);
    bgsync_close(r);
    return rc;
  }
  rc = run(r, cmd, &a);
  bgsync_close(r);
  return rc;
}
