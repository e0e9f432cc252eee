/*
 * bgctl - the office's administration tool.
 *
 *   bgctl --home DIR COMMAND ...     (bgctl --help lists the commands)
 *
 * Works on the organisation directory directly: the configuration, the PKI
 * files and the store. It is safe to use while bgsyncd runs: every change is
 * one SQLite transaction, and SQLite's locking (WAL mode, a busy timeout of
 * five seconds) orders it with the daemon's; the daemon notices revocations
 * within a second, and every other change at the device's next request.
 *
 * This file: the command line, the organisation (init, config, status),
 * people, teams and devices. bgctl_care.c has the care data, signals and
 * reports; bgctl_out.c the output formats.
 *
 * Exit status: 0 success, 1 the command failed (the message says why and what
 * to do), 2 usage error, 3 (status) the daemon does not run.
 */
#define _DEFAULT_SOURCE /* timegm, gmtime_r */
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bg_code.h"
#include "bg_pki.h"
#include "bg_schema.h"
#include "bg_tls.h"
#include "bgctl.h"
#include "care.h"
#include "config.h"
#include "pidfile.h"
#include "store.h"

#ifndef BG_VERSION
#define BG_VERSION "0.0.0"
#endif

static const char k_usage[] =
    "usage: bgctl --home DIR COMMAND [ARGS]\n"
    "\n"
    "The office's administration tool for an organisation directory.\n"
    "\n"
    "Organisation\n"
    "  init --org NAME --host HOST        make DIR: CA, server certificate for HOST,\n"
    "                                     empty store, configuration\n"
    "  config show [--json]               the effective configuration\n"
    "  config check                       check bgsyncd.conf, the certificates and keys, the store\n"
    "  status [--json]                    daemon running?, store size, devices seen, pending purges\n"
    "  cert renew [--days N]              a new server certificate from the CA (then reload)\n"
    "People and access\n"
    "  team add TEAM | team list [--json|--csv]\n"
    "  user add LOGIN --role begeleider|office|admin [--team TEAM]\n"
    "  user list [--json]\n"
    "  user disable LOGIN | user enable LOGIN\n"
    "                                     a disabled user's devices push their work, are purged\n"
    "                                     of everything, then refused\n"
    "  user team add|remove LOGIN TEAM    caseloads: a user sees the clients of their teams\n"
    "  client add CLIENT_ID --team TEAM --begeleider LOGIN\n"
    "                                     register a client; its traject opens in aanmelding\n"
    "  client move CLIENT_ID --team TEAM --begeleider LOGIN\n"
    "  client assign CLIENT_ID --begeleider LOGIN\n"
    "                                     a new trajectbegeleider in the client's team\n"
    "  device enroll LOGIN                print a one-time enrolment code (last line)\n"
    "  device list [--json]               devices with last seen\n"
    "  device revoke DEVICE_ID            refused at its next handshake\n"
    "Care data\n"
    "  client list [--team T] [--begeleider LOGIN] [--json|--csv]\n"
    "                                     phase, cycle, since, plan status, open entries\n"
    "  client show CLIENT_ID [--json]     the visible state of the client's records\n"
    "  conflicts list [--client C] [--json|--csv]\n"
    "  conflicts show ID [--json]\n"
    "  conflicts resolve ID (--keep A | --keep B | --value TEXT)\n"
    "  proposals list [--client C] [--json|--csv]\n"
    "                                     wijzigingsvoorstellen waiting for the next evaluation\n"
    "  signals [--team T] [--begeleider LOGIN] [--days N] [--now YYYY-MM-DD] [--json|--csv]\n"
    "                                     the method's deadlines that are due\n"
    "  report [--team T] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json|--csv]\n"
    "                                     monitoring: phases, throughput, cycles, decisions, uitstroom\n"
    "Audit\n"
    "  audit [--client ID] [--user LOGIN] [--since YYYY-MM-DD] [--json]\n"
    "  audit verify                       check the audit log's hash chain\n"
    "\n"
    "Run 'bgctl COMMAND --help' for one command. It is safe to use while bgsyncd runs:\n"
    "every change is one SQLite transaction (WAL, five-second busy timeout).\n"
    "Example: bgctl --home /srv/zorg-noord user add anna --role begeleider --team noord\n"
    "Exit status: 0 success, 1 failure (the message says why), 2 usage error,\n"
    "3 (status only) the daemon does not run.\n";

/* One command's help: its usage, what it does, an example. */
typedef struct cmd_help {
  const char *cmd, *sub, *text;
} cmd_help;

static const cmd_help k_help[] = {
    {"config", "show", "usage: bgctl --home DIR config show [--json]\n\n"
     "The configuration bgsyncd would run with: every key of bgsyncd.conf, with the\n"
     "defaults filled in.\nExample: bgctl --home /srv/zorg-noord config show"},
    {"config", "check", "usage: bgctl --home DIR config check\n\n"
     "Checks bgsyncd.conf, the CA and server certificates and keys (readable, keys\n"
     "0600 and matching their certificates, the server certificate issued by the CA\n"
     "for the configured host and valid for more than 30 days) and the store. Each\n"
     "problem is named with what to do. Exit 0 when all is well, 1 when not.\n"
     "Example: bgctl --home /srv/zorg-noord config check"},
    {"cert", "renew", "usage: bgctl --home DIR cert renew [--days N]\n\n"
     "Issues the server a new key and certificate for the configured host, signed by the\n"
     "organisation CA, valid N days (default 732). The old pair is kept as FILE.old. Devices\n"
     "need nothing: they trust the CA. Then reload the daemon (systemctl reload bgsyncd,\n"
     "or kill -HUP its pid): new connections use the new certificate.\n"
     "Example: bgctl --home /srv/zorg-noord cert renew"},
    {"status", "", "usage: bgctl --home DIR status [--json]\n\n"
     "Whether bgsyncd serves this directory (it holds a lock on DIR/bgsyncd.pid while\n"
     "it runs), the store's size on disk (with its WAL), users, teams, clients,\n"
     "devices seen in the last 24 hours, and pending purges: clients devices still\n"
     "hold that they may no longer see (PURGE not yet acknowledged).\n"
     "Exit 0 when the daemon runs, 3 when it does not, 1 on failure.\n"
     "Example: bgctl --home /srv/zorg-noord status"},
    {"team", "add", "usage: bgctl --home DIR team add TEAM\n\nExample: bgctl --home /srv/zorg-noord team add noord"},
    {"team", "list", "usage: bgctl --home DIR team list [--json|--csv]\n\n"
     "Teams with their number of members and clients.\nExample: bgctl --home /srv/zorg-noord team list"},
    {"user", "add", "usage: bgctl --home DIR user add LOGIN --role begeleider|office|admin [--team TEAM]\n\n"
     "Example: bgctl --home /srv/zorg-noord user add anna --role begeleider --team noord"},
    {"user", "list", "usage: bgctl --home DIR user list [--json]\n\nExample: bgctl --home /srv/zorg-noord user list"},
    {"user", "disable", "usage: bgctl --home DIR user disable LOGIN\n\n"
     "Ends the user's access. Each of their devices is accepted for one more sync while\n"
     "it holds data: it pushes what it wrote (nothing typed is lost), then every\n"
     "client it holds is purged; after that it is refused (error 210). No new\n"
     "enrolment. 'user enable' gives the access back (devices are fed anew).\n"
     "Example: bgctl --home /srv/zorg-noord user disable anna"},
    {"user", "enable", "usage: bgctl --home DIR user enable LOGIN\n\nExample: bgctl --home /srv/zorg-noord user enable anna"},
    {"user", "team", "usage: bgctl --home DIR user team add|remove LOGIN TEAM\n\n"
     "A team shares a caseload: a member's devices hold the team's clients. After a\n"
     "removal the user's devices are purged of the team's clients on their next sync\n"
     "(after pushing their own work), except the clients the user leads.\n"
     "Example: bgctl --home /srv/zorg-noord user team add anna zuid"},
    {"client", "add", "usage: bgctl --home DIR client add CLIENT_ID --team TEAM --begeleider LOGIN\n\n"
     "Registers a client; its traject opens in aanmelding, led by LOGIN.\n"
     "Example: bgctl --home /srv/zorg-noord client add C-0042 --team noord --begeleider anna"},
    {"client", "move", "usage: bgctl --home DIR client move CLIENT_ID --team TEAM --begeleider LOGIN\n\n"
     "Moves the client to another team and trajectbegeleider; devices that lose it are\n"
     "purged of it on their next sync.\n"
     "Example: bgctl --home /srv/zorg-noord client move C-0042 --team zuid --begeleider bert"},
    {"client", "assign", "usage: bgctl --home DIR client assign CLIENT_ID --begeleider LOGIN\n\n"
     "A new trajectbegeleider in the client's own team (a member of it); the R2 rule\n"
     "follows the new one from now on.\n"
     "Example: bgctl --home /srv/zorg-noord client assign C-0042 --begeleider bert"},
    {"client", "list", "usage: bgctl --home DIR client list [--team T] [--begeleider LOGIN] [--json|--csv]\n\n"
     "Every client with team, trajectbegeleider, phase, cycle, the date the phase was\n"
     "entered, the status of the current cycle's plan (none, draft, signed) and the\n"
     "open conflicts and wijzigingsvoorstellen.\n"
     "Example: bgctl --home /srv/zorg-noord client list --team noord"},
    {"client", "show", "usage: bgctl --home DIR client show CLIENT_ID [--json]\n\n"
     "The client's traject and plan, and every visible field of its records with who\n"
     "wrote it and when.\nExample: bgctl --home /srv/zorg-noord client show C-0042"},
    {"device", "enroll", "usage: bgctl --home DIR device enroll LOGIN\n\n"
     "Prints a one-time enrolment code (its last line) for a new device of LOGIN.\n"
     "Example: bgctl --home /srv/zorg-noord device enroll anna"},
    {"device", "list", "usage: bgctl --home DIR device list [--json]\n\n"
     "Devices with their user, name, enrolment, last sync (LAST SEEN) and revocation.\n"
     "Example: bgctl --home /srv/zorg-noord device list"},
    {"device", "revoke", "usage: bgctl --home DIR device revoke DEVICE_ID\n\n"
     "Refused at its next handshake; an open session is closed within a second.\n"
     "Example: bgctl --home /srv/zorg-noord device revoke 7"},
    {"conflicts", "list", "usage: bgctl --home DIR conflicts list [--client C] [--json|--csv]\n\n"
     "Open conflict entries: two concurrent edits of a field; A is shown, B kept.\n"
     "Ids are those devices show (bgsync conflicts).\n"
     "Example: bgctl --home /srv/zorg-noord conflicts list --client C-0042"},
    {"conflicts", "show", "usage: bgctl --home DIR conflicts show ID [--json]\n\n"
     "Both values, who wrote them on which device and when, and the rule that chose.\n"
     "Example: bgctl --home /srv/zorg-noord conflicts show c7.12"},
    {"conflicts", "resolve", "usage: bgctl --home DIR conflicts resolve ID (--keep A | --keep B | --value TEXT)\n\n"
     "The office writes the field with a write that has seen both values, so it\n"
     "replaces them on every device at its next sync. Refused when the field can no\n"
     "longer be edited in the traject's phase (or its plan is signed). A conflict of\n"
     "two phase moves is closed with --keep A (the phase shown stays).\n"
     "Example: bgctl --home /srv/zorg-noord conflicts resolve c7.12 --keep B"},
    {"proposals", "list", "usage: bgctl --home DIR proposals list [--client C] [--json|--csv]\n\n"
     "Wijzigingsvoorstellen waiting for the next evaluation: edits of a signed plan, or\n"
     "made outside their field's phase, without a decision yet.\n"
     "Example: bgctl --home /srv/zorg-noord proposals list"},
    {"signals", "", "usage: bgctl --home DIR signals [--team T] [--begeleider LOGIN] [--days N]\n"
     "                  [--evaluate-after DAYS] [--now YYYY-MM-DD] [--json|--csv]\n\n"
     "The method's deadlines that are due, per client (and devices):\n"
     "  plan-late              in planning more than 14 days and no begeleidingsplan\n"
     "  plan-unsigned          a draft plan unsigned after N days in planning, or the\n"
     "                         traject moved on to uitvoering/evaluatie unsigned\n"
     "  voortgangsgesprek-due  in uitvoering, no voortgangsgesprek for more than 14 days\n"
     "  evaluatie-due          the plan's term (latest actie deadline or dated doel\n"
     "                         termijn) has passed; without one, after --evaluate-after\n"
     "                         days in uitvoering (default 182)\n"
     "  conflict-open          open conflicts older than N days\n"
     "  device-silent          a device of an active user not synced for N days\n"
     "N is --days (default 7); --now evaluates at 00:00 UTC of that day (default: now).\n"
     "docs/OPERATIONS.md gives each rule with the method's reason.\n"
     "Example: bgctl --home /srv/zorg-noord signals --team noord --days 10"},
    {"report", "", "usage: bgctl --home DIR report [--team T] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json|--csv]\n\n"
     "Monitoring and evaluation for the period (from the start to today by default;\n"
     "--to includes that day), per team and for all teams: clients per phase and\n"
     "cycle at the end of the period, days spent per phase (median and p90 of the\n"
     "phases left in the period), cycles per traject, the aanmelding, intake and\n"
     "evaluatie decisions made and the uitstroom reasons written in the period.\n"
     "--csv and --json give one row per number (section, team, item, cycle, count,\n"
     "median_days, p90_days).\n"
     "Example: bgctl --home /srv/zorg-noord report --team noord --from 2025-01-01 --to 2025-06-30 --csv"},
    {"audit", "verify", "usage: bgctl --home DIR audit verify\n\nExample: bgctl --home /srv/zorg-noord audit verify"},
    {"audit", "", "usage: bgctl --home DIR audit [--client ID] [--user LOGIN] [--since YYYY-MM-DD] [--json]\n\n"
     "Example: bgctl --home /srv/zorg-noord audit --client C-0042 --since 2025-01-01"},
};

static int print_help(const char *cmd, const char *sub) {
  for (size_t i = 0; i < sizeof k_help / sizeof *k_help; i++)
    if (strcmp(k_help[i].cmd, cmd) == 0 && (strcmp(k_help[i].sub, sub) == 0 || k_help[i].sub[0] == 0)) {
      puts(k_help[i].text);
      puts("Exit status: 0 success, 1 failure (the message says why), 2 usage error.");
      return BGCTL_OK;
    }
  fputs(k_usage, stdout);
  return BGCTL_OK;
}

static int parse_opts(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof *o);
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      o->help = true;
      continue;
    }
    if (strcmp(a, "--json") == 0 || strcmp(a, "--csv") == 0) {
      g_fmt = a[2] == 'j' ? BGCTL_JSON : BGCTL_CSV;
      continue;
    }
    static const struct {
      const char *name;
      size_t off;
    } k_opts[] = {
        {"--team", offsetof(opts, team)},   {"--role", offsetof(opts, role)},   {"--begeleider", offsetof(opts, begeleider)},
        {"--org", offsetof(opts, org)},     {"--host", offsetof(opts, host)},   {"--client", offsetof(opts, client)},
        {"--user", offsetof(opts, user)},   {"--since", offsetof(opts, since)}, {"--now", offsetof(opts, now)},
        {"--days", offsetof(opts, days)},   {"--from", offsetof(opts, from)},   {"--to", offsetof(opts, to)},
        {"--keep", offsetof(opts, keep)},   {"--value", offsetof(opts, value)},
        {"--evaluate-after", offsetof(opts, evaluate_after)},
    };
    const char **slot = NULL;
    for (size_t k = 0; k < sizeof k_opts / sizeof *k_opts && !slot; k++)
      if (strcmp(a, k_opts[k].name) == 0) slot = (const char **)(void *)((char *)o + k_opts[k].off);
    if (slot) {
      if (i + 1 >= argc) return usage_error("%s needs a value", a);
      *slot = argv[++i];
      continue;
    }
    if (a[0] == '-' && a[1] != 0) return usage_error("unknown option '%s'", a);
    if (o->npos == 4) return usage_error("too many arguments");
    o->pos[o->npos++] = a;
  }
  return 0;
}

static bool load_config(bg_config *cfg) {
  char path[BG_PATH_MAX + 300], why[1024];
  bg_config_defaults(cfg);
  bg_config_path(g_home, BG_CONFIG_FILE, path, sizeof path);
  bg_err e = bg_config_load(cfg, path, why, sizeof why);
  if (e == BG_E_NOT_FOUND) {
    fprintf(stderr, "bgctl: %s is not an organisation directory (make one with: bgctl --home %s init --org NAME --host HOST)\n",
            g_home, g_home);
    return false;
  }
  if (e != BG_OK) {
    fprintf(stderr, "bgctl: %s\n", why);
    return false;
  }
  return true;
}

static bg_store *open_store(bg_config *cfg) {
  if (!load_config(cfg)) return NULL;
  char path[BG_PATH_MAX + 300], why[1024] = "";
  bg_config_path(g_home, cfg->store, path, sizeof path);
  bg_store *s;
  bg_err e = bg_store_open(path, &s, why, sizeof why);
  if (e != BG_OK) {
    failed(e, why);
    return NULL;
  }
  return s;
}

/* --- init ---------------------------------------------------------------------------- */

static bool write_file(const char *dir, const char *name, const bg_buf *b, mode_t mode) {
  char path[BG_PATH_MAX + 300];
  bg_config_path(dir, name, path, sizeof path);
  FILE *f = fopen(path, "wx");
  if (f == NULL) {
    fprintf(stderr, "bgctl: %s: %s\n", path, strerror(errno));
    return false;
  }
  /* PEM buffers count their NUL; the file does not hold it */
  size_t n = b->len && b->data[b->len - 1] == 0 ? b->len - 1 : b->len;
  bool ok = chmod(path, mode) == 0 && fwrite(b->data, 1, n, f) == n;
  ok = fclose(f) == 0 && ok;
  if (!ok) fprintf(stderr, "bgctl: writing %s failed\n", path);
  return ok;
}

static bool name_ok_for_subject(const char *s) {
  for (; *s; s++)
    if (strchr(",=+\\\"<>;#", *s) || (unsigned char)*s < 0x20) return false;
  return true;
}

static int cmd_init(const opts *o) {
  if (o->help) {
    puts("usage: bgctl --home DIR init --org NAME --host HOST\n\n"
         "Makes the organisation directory DIR: the organisation CA (key and certificate,\n"
         "10 years), the server's key and certificate for HOST (the name devices connect\n"
         "to; 2 years), an empty store and bgsyncd.conf with every key. Keys are mode 0600.\n"
         "Example: bgctl --home /srv/zorg-noord init --org 'Zorg Noord' --host sync.zorgnoord.nl");
    return 0;
  }
  if (!o->org || !o->host) return usage_error("init needs --org NAME and --host HOST");
  if (!name_ok_for_subject(o->org) || !name_ok_for_subject(o->host) || strlen(o->org) > 100 || strlen(o->host) > 200)
    return usage_error("--org and --host may not contain , = + \\ \" < > ; # (and at most 100/200 characters)");
  char conf[BG_PATH_MAX + 300];
  bg_config_path(g_home, BG_CONFIG_FILE, conf, sizeof conf);
  struct stat st;
  if (stat(conf, &st) == 0) return failed(BG_E_EXISTS, "this directory is initialised already (bgsyncd.conf exists)");
  if (mkdir(g_home, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "bgctl: cannot make %s: %s\n", g_home, strerror(errno));
    return 1;
  }
  bg_rng rng;
  if (bg_rng_init(&rng, "bgctl init") != BG_OK) return failed(BG_E_INTERNAL, "no randomness from the operating system");
  mbedtls_pk_context cakey, skey;
  mbedtls_pk_init(&cakey);
  mbedtls_pk_init(&skey);
  bg_buf cader = BG_BUF_INIT, capem = BG_BUF_INIT, cakeypem = BG_BUF_INIT, sder = BG_BUF_INIT, spem = BG_BUF_INIT,
         skeypem = BG_BUF_INIT;
  int64_t now = now_ms() / 1000;
  char casub[256], ssub[320];
  snprintf(casub, sizeof casub, "CN=%s CA,O=%s", o->org, o->org);
  snprintf(ssub, sizeof ssub, "CN=%s,O=%s", o->host, o->org);
  bg_pki_cert ca = {casub, 1, now - 3600, now + 10 * 366 * 86400LL, true};
  bg_pki_cert sv = {ssub, 2, now - 3600, now + 2 * 366 * 86400LL, false};
  mbedtls_x509_crt cacrt;
  mbedtls_x509_crt_init(&cacrt);
  bg_err e = bg_pki_key_new(&rng, &cakey);
  if (e == BG_OK) e = bg_pki_issue(&rng, &cakey, NULL, &cakey, &ca, &cader);
  if (e == BG_OK && mbedtls_x509_crt_parse_der(&cacrt, cader.data, cader.len) != 0) e = BG_E_INTERNAL;
  if (e == BG_OK) e = bg_pki_key_new(&rng, &skey);
  if (e == BG_OK) e = bg_pki_issue(&rng, &skey, &cacrt, &cakey, &sv, &sder);
  if (e == BG_OK) e = bg_pki_cert_pem(cader.data, cader.len, &capem);
  if (e == BG_OK) e = bg_pki_key_pem(&cakey, &cakeypem);
  if (e == BG_OK) e = bg_pki_cert_pem(sder.data, sder.len, &spem);
  if (e == BG_OK) e = bg_pki_key_pem(&skey, &skeypem);
  bg_config cfg;
  bg_config_defaults(&cfg);
  snprintf(cfg.org, sizeof cfg.org, "%s", o->org);
  snprintf(cfg.host, sizeof cfg.host, "%s", o->host);
  bool ok = e == BG_OK && write_file(g_home, cfg.ca_cert, &capem, 0644) && write_file(g_home, cfg.ca_key, &cakeypem, 0600) &&
            write_file(g_home, cfg.server_cert, &spem, 0644) && write_file(g_home, cfg.server_key, &skeypem, 0600);
  if (ok) ok = bg_config_write(&cfg, conf) == BG_OK;
  bg_store *s = NULL;
  if (ok) {
    char path[BG_PATH_MAX + 300], why[1024] = "";
    bg_config_path(g_home, cfg.store, path, sizeof path);
    e = bg_store_open(path, &s, why, sizeof why);
    if (e != BG_OK) {
      failed(e, why);
      ok = false;
    }
    if (ok) ok = bg_store_audit(s, now_ms(), BG_OFFICE_USER, BG_OFFICE_DEVICE, "", "init", o->org, "ok") == BG_OK;
    bg_store_close(s);
  }
  uint8_t fp[32];
  bg_tls_fingerprint(&cacrt, fp);
  mbedtls_x509_crt_free(&cacrt);
  mbedtls_pk_free(&cakey);
  mbedtls_pk_free(&skey);
  bg_buf *bufs[] = {&cader, &capem, &cakeypem, &sder, &spem, &skeypem};
  for (size_t i = 0; i < 6; i++) {
    if (bufs[i]->data) mbedtls_platform_zeroize(bufs[i]->data, bufs[i]->cap);
    bg_buf_free(bufs[i]);
  }
  bg_rng_free(&rng);
  if (!ok) return failed(e != BG_OK ? e : BG_E_IO, NULL);
  printf("initialised %s for '%s'\n", g_home, o->org);
  printf("server certificate for %s; sync on %s, enrolment on %s (bgsyncd.conf)\n", o->host, cfg.listen, cfg.enrol_listen);
  printf("CA fingerprint (SHA-256): ");
  for (int i = 0; i < 32; i++) printf("%02x%s", fp[i], i < 31 ? ":" : "\n");
  printf("next: bgctl --home %s team add TEAM; user add ...; then: bgsyncd --home %s\n", g_home, g_home);
  return 0;
}

/* --- people -------------------------------------------------------------------------------- */


static const char *role_name(uint8_t r) {
  return r == BG_ROLE_ADMIN ? "admin" : r == BG_ROLE_OFFICE ? "office" : r == BG_ROLE_BEGELEIDER ? "begeleider" : "?";
}

static bg_err print_user(void *arg, const bg_user_row *u) {
  int *n = arg;
  if (g_fmt == BGCTL_JSON) {
    printf("%s{\"id\":%llu,\"login\":", (*n)++ ? "," : "[", (unsigned long long)u->id);
    json_str(stdout, u->login);
    printf(",\"role\":\"%s\",\"teams\":", role_name(u->role));
    json_str(stdout, u->teams);
    printf(",\"disabled\":%s}", u->disabled ? "true" : "false");
  } else {
    if ((*n)++ == 0) printf("%-6s %-24s %-11s %-8s %s\n", "ID", "LOGIN", "ROLE", "STATE", "TEAMS");
    printf("%-6llu %-24s %-11s %-8s %s\n", (unsigned long long)u->id, u->login, role_name(u->role),
           u->disabled ? "disabled" : "active", u->teams);
  }
  return BG_OK;
}

static bg_err print_device(void *arg, const bg_device_row *d) {
  int *n = arg;
  char en[32], seen[32], rev[32];
  fmt_time(d->enrolled, en, sizeof en);
  fmt_time(d->last_seen, seen, sizeof seen);
  fmt_time(d->revoked, rev, sizeof rev);
  if (g_fmt == BGCTL_JSON) {
    printf("%s{\"id\":%llu,\"user\":", (*n)++ ? "," : "[", (unsigned long long)d->id);
    json_str(stdout, d->login);
    printf(",\"name\":");
    json_str(stdout, d->name);
    printf(",\"enrolled\":\"%s\",\"last_seen\":\"%s\",\"revoked\":%s%s%s}", en, d->last_seen ? seen : "",
           d->revoked ? "\"" : "", d->revoked ? rev : "null", d->revoked ? "\"" : "");
  } else {
    if ((*n)++ == 0) printf("%-6s %-20s %-20s %-21s %-21s %s\n", "ID", "USER", "NAME", "ENROLLED", "LAST SEEN", "REVOKED");
    printf("%-6llu %-20s %-20s %-21s %-21s %s\n", (unsigned long long)d->id, d->login, d->name[0] ? d->name : "-", en,
           seen, rev);
  }
  return BG_OK;
}

static int end_list(int n) {
  if (g_fmt == BGCTL_JSON) puts(n ? "]" : "[]");
  return 0;
}

static bg_err print_audit(void *arg, const bg_audit_row *a) {
  int *n = arg;
  char when[32];
  fmt_time(a->at, when, sizeof when);
  if (g_fmt == BGCTL_JSON) {
    printf("%s{\"seq\":%llu,\"at\":\"%s\",\"user\":%llu,\"device\":%llu,\"client\":", (*n)++ ? "," : "[",
           (unsigned long long)a->seq, when, (unsigned long long)a->user, (unsigned long long)a->device);
    json_str(stdout, a->client);
    printf(",\"action\":");
    json_str(stdout, a->action);
    printf(",\"object\":");
    json_str(stdout, a->object);
    printf(",\"outcome\":");
    json_str(stdout, a->outcome);
    printf("}");
  } else {
    if ((*n)++ == 0) printf("%-7s %-21s %-5s %-6s %-12s %-11s %-32s %s\n", "SEQ", "AT", "USER", "DEVICE", "CLIENT", "ACTION", "OBJECT", "OUTCOME");
    printf("%-7llu %-21s %-5llu %-6llu %-12s %-11s %-32s %s\n", (unsigned long long)a->seq, when,
           (unsigned long long)a->user, (unsigned long long)a->device, a->client[0] ? a->client : "-", a->action,
           a->object, a->outcome);
  }
  return BG_OK;
}

static int parse_role(const char *r) {
  if (r == NULL) return -1;
  if (strcmp(r, "begeleider") == 0) return BG_ROLE_BEGELEIDER;
  if (strcmp(r, "office") == 0) return BG_ROLE_OFFICE;
  if (strcmp(r, "admin") == 0) return BG_ROLE_ADMIN;
  return -1;
}

/* --- enrolment ----------------------------------------------------------------------------------- */

static int cmd_enroll(bg_store *s, const bg_config *cfg, const char *login) {
  bg_user_row u;
  bg_err e = bg_store_user_by_login(s, login, &u);
  if (e != BG_OK) return failed(e, bg_store_errmsg(s));
  if (u.disabled) return failed(BG_E_USER_DISABLED, "this user is disabled");
  char path[BG_PATH_MAX + 300];
  bg_config_path(g_home, cfg->ca_cert, path, sizeof path);
  mbedtls_x509_crt ca;
  mbedtls_x509_crt_init(&ca);
  if (mbedtls_x509_crt_parse_file(&ca, path) != 0) {
    mbedtls_x509_crt_free(&ca);
    fprintf(stderr, "bgctl: %s: cannot read the CA certificate\n", path);
    return 1;
  }
  uint8_t fp[32];
  bg_tls_fingerprint(&ca, fp);
  mbedtls_x509_crt_free(&ca);
  bg_rng rng;
  if (bg_rng_init(&rng, "bgctl enroll") != BG_OK) return failed(BG_E_INTERNAL, "no randomness from the operating system");
  bg_code code;
  int rc = bg_rng_random(&rng.drbg, code.id, sizeof code.id);
  if (rc == 0) rc = bg_rng_random(&rng.drbg, code.secret, sizeof code.secret);
  bg_rng_free(&rng);
  if (rc != 0) return failed(BG_E_INTERNAL, "no randomness from the operating system");
  memcpy(code.ca, fp, BG_CODE_CA_BYTES);
  char id[2 * BG_CODE_ID_BYTES + 1], text[BG_CODE_TEXT_LEN + 1];
  uint8_t hash[32];
  bg_code_id_hex(&code, id);
  bg_code_secret_hash(&code, hash);
  int64_t now = now_ms(), expires = now + (int64_t)cfg->enrol_code_minutes * 60000;
  e = bg_store_code_add(s, id, hash, u.id, now, expires);
  if (e != BG_OK) return failed(e, bg_store_errmsg(s));
  bg_code_format(&code, text);
  char until[32];
  fmt_time(expires, until, sizeof until);
  printf("one-time enrolment code for %s, valid until %s; on the device:\n", login, until);
  printf("  bgsync --replica FILE enroll --server %s:%s --code CODE\n", cfg->host[0] ? cfg->host : "HOST",
         strrchr(cfg->enrol_listen, ':') ? strrchr(cfg->enrol_listen, ':') + 1 : "7444");
  printf("%s\n", text);
  return 0;
}

/* --- organisation: config and status ------------------------------------------------------ */

static void config_key(void *arg, const char *key, const char *value, const char *help) {
  bgctl_table *t = arg;
  const char *row[] = {key, value, help};
  (void)tbl_row(t, row);
}

/* Move `name` in the organisation directory aside to `name`.old (replacing an
 * older one); a missing file is fine. */
static bool keep_old(const char *name) {
  char path[BG_PATH_MAX + 300], old[BG_PATH_MAX + 310];
  bg_config_path(g_home, name, path, sizeof path);
  snprintf(old, sizeof old, "%s.old", path);
  if (rename(path, old) == 0 || errno == ENOENT) return true;
  fprintf(stderr, "bgctl: cannot move %s aside: %s\n", path, strerror(errno));
  return false;
}

/* A new server key and certificate from the organisation CA (the CA stays). */
static int cmd_cert_renew(const opts *o) {
  long days = 732;
  if (o->days && ((days = strtol(o->days, NULL, 10)) < 1 || days > 3660))
    return usage_error("--days takes a whole number from 1 to 3660");
  bg_config cfg;
  char conf[BG_PATH_MAX + 300], why[1024] = "", capath[BG_PATH_MAX + 300], cakeypath[BG_PATH_MAX + 300];
  bg_config_defaults(&cfg);
  bg_config_path(g_home, BG_CONFIG_FILE, conf, sizeof conf);
  bg_err e = bg_config_load(&cfg, conf, why, sizeof why);
  if (e != BG_OK) return failed(e, why[0] ? why : "cannot read bgsyncd.conf: is this an organisation directory?");
  bg_config_path(g_home, cfg.ca_cert, capath, sizeof capath);
  bg_config_path(g_home, cfg.ca_key, cakeypath, sizeof cakeypath);
  mbedtls_x509_crt ca;
  mbedtls_pk_context cakey, skey;
  mbedtls_x509_crt_init(&ca);
  mbedtls_pk_init(&cakey);
  mbedtls_pk_init(&skey);
  bg_buf der = BG_BUF_INIT, pem = BG_BUF_INIT, keypem = BG_BUF_INIT;
  bg_rng rng;
  bool has_rng = false;
  if (mbedtls_x509_crt_parse_file(&ca, capath) != 0) e = failed(BG_E_CONFIG, "the CA certificate cannot be read: check ca_cert in bgsyncd.conf (bgctl config check)");
  else if (mbedtls_pk_parse_keyfile(&cakey, cakeypath, NULL) != 0) e = failed(BG_E_CONFIG, "the CA key cannot be read: check ca_key in bgsyncd.conf (bgctl config check)");
  else if (mbedtls_pk_check_pair(&ca.pk, &cakey) != 0) e = failed(BG_E_CONFIG, "the CA key does not belong to the CA certificate (bgctl config check)");
  else if (bg_rng_init(&rng, "bgctl cert renew") != BG_OK) e = failed(BG_E_INTERNAL, "no randomness from the operating system");
  else has_rng = true;
  int64_t now = now_ms() / 1000;
  char sub[sizeof cfg.host + sizeof cfg.org + 8];
  snprintf(sub, sizeof sub, "CN=%s,O=%s", cfg.host, cfg.org);
  /* a serial of its own: the time, above the 2 of the first certificate */
  bg_pki_cert sv = {sub, (uint64_t)now, now - 3600, now + days * 86400LL, false};
  if (e == BG_OK) e = bg_pki_key_new(&rng, &skey);
  if (e == BG_OK) e = bg_pki_issue(&rng, &skey, &ca, &cakey, &sv, &der);
  if (e == BG_OK) e = bg_pki_cert_pem(der.data, der.len, &pem);
  if (e == BG_OK) e = bg_pki_key_pem(&skey, &keypem);
  bool ok = e == BG_OK && keep_old(cfg.server_cert) && keep_old(cfg.server_key) &&
            write_file(g_home, cfg.server_key, &keypem, 0600) && write_file(g_home, cfg.server_cert, &pem, 0644);
  if (e == BG_OK && !ok) e = failed(BG_E_IO, "the new certificate could not be written; the old pair is in *.old: move it back");
  if (has_rng) bg_rng_free(&rng);
  if (keypem.data) mbedtls_platform_zeroize(keypem.data, keypem.cap);
  bg_buf_free(&der);
  bg_buf_free(&pem);
  bg_buf_free(&keypem);
  mbedtls_pk_free(&skey);
  mbedtls_pk_free(&cakey);
  mbedtls_x509_crt_free(&ca);
  if (e != BG_OK) return BGCTL_FAILED;
  time_t until = (time_t)(now + days * 86400LL);
  struct tm tm;
  char date[32] = "?";
  if (gmtime_r(&until, &tm)) strftime(date, sizeof date, "%Y-%m-%d", &tm);
  bg_store *s = open_store(&cfg);
  if (s) {
    (void)bg_store_audit(s, now_ms(), BG_OFFICE_USER, BG_OFFICE_DEVICE, "", "cert-renew", cfg.host, "ok");
    bg_store_close(s);
  }
  printf("server certificate for %s renewed until %s (the old pair kept as *.old); reload the daemon: systemctl reload "
         "bgsyncd (or kill -HUP its pid)\n", cfg.host, date);
  return 0;
}

static int cmd_config_show(void) {
  bg_config cfg;
  if (!load_config(&cfg)) return BGCTL_FAILED;
  static const bgctl_col cols[] = {{"KEY", "key", false}, {"VALUE", "value", false}, {"MEANING", "meaning", false}};
  bgctl_table t;
  tbl_init(&t, cols, 3);
  bg_config_each(&cfg, config_key, &t);
  tbl_print(&t, NULL);
  tbl_free(&t);
  return BGCTL_OK;
}

/* One finding of config check. */
__attribute__((format(printf, 2, 3))) static void problem(int *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("problem: ", stdout);
  vprintf(fmt, ap);
  putchar('\n');
  va_end(ap);
  (*n)++;
}

/* Days from now until an X.509 time. */
static long days_until(const mbedtls_x509_time *t) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = t->year - 1900;
  tm.tm_mon = t->mon - 1;
  tm.tm_mday = t->day;
  tm.tm_hour = t->hour;
  tm.tm_min = t->min;
  return (long)(((int64_t)timegm(&tm) * 1000 - now_ms()) / 86400000);
}

/* Check a certificate and its key: readable, the key private to the owner and
 * the certificate's. Returns whether the certificate was read. */
static bool check_pair(int *n, const char *what, const char *crtname, const char *keyname, mbedtls_x509_crt *crt) {
  char crtpath[BG_PATH_MAX + 300], keypath[BG_PATH_MAX + 300];
  bg_config_path(g_home, crtname, crtpath, sizeof crtpath);
  bg_config_path(g_home, keyname, keypath, sizeof keypath);
  bool ok = mbedtls_x509_crt_parse_file(crt, crtpath) == 0;
  if (!ok) problem(n, "%s: the %s certificate cannot be read as PEM: restore it from the backup (or set %s in bgsyncd.conf)",
                   crtpath, what, strcmp(what, "CA") == 0 ? "ca_cert" : "server_cert");
  struct stat st;
  if (stat(keypath, &st) != 0) {
    problem(n, "%s: the %s key is missing: restore it from the backup", keypath, what);
    return ok;
  }
  if (st.st_mode & 077) problem(n, "%s is readable by others (mode %03o): chmod 600 %s", keypath, (unsigned)(st.st_mode & 0777), keypath);
  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  if (mbedtls_pk_parse_keyfile(&key, keypath, NULL) != 0)
    problem(n, "%s: the %s key cannot be read: restore it from the backup", keypath, what);
  else if (ok && mbedtls_pk_check_pair(&crt->pk, &key) != 0)
    problem(n, "%s does not belong to %s: restore the pair that belongs together", keypath, crtpath);
  mbedtls_pk_free(&key);
  if (ok) {
    long days = days_until(&crt->valid_to);
    if (days < 0) problem(n, "%s expired %ld days ago: renew it (docs/OPERATIONS.md, certificates)", crtpath, -days);
    else if (days < 30) problem(n, "%s expires in %ld days: renew it soon (docs/OPERATIONS.md, certificates)", crtpath, days);
  }
  return ok;
}

static int cmd_config_check(void) {
  bg_config cfg;
  char conf[BG_PATH_MAX + 300], why[1024];
  bg_config_defaults(&cfg);
  bg_config_path(g_home, BG_CONFIG_FILE, conf, sizeof conf);
  bg_err e = bg_config_load(&cfg, conf, why, sizeof why);
  int n = 0;
  if (e == BG_E_NOT_FOUND) {
    problem(&n, "%s is missing: is %s an organisation directory? (bgctl --home %s init --org NAME --host HOST)", conf,
            g_home, g_home);
    return BGCTL_FAILED;
  }
  if (e != BG_OK) {
    problem(&n, "%s: fix that line (docs/OPERATIONS.md lists the keys and their values)", why);
    return BGCTL_FAILED;
  }
  struct stat st;
  if (stat(conf, &st) == 0 && (st.st_mode & 077)) problem(&n, "%s is readable by others: chmod 600 %s", conf, conf);
  if (strcmp(cfg.listen, cfg.enrol_listen) == 0)
    problem(&n, "listen and enrol_listen are both %s: give enrolment its own port (e.g. 7444)", cfg.listen);
  if (cfg.host[0] == 0) problem(&n, "host is not set: set it to the name devices connect to (the server certificate's name)");
  mbedtls_x509_crt ca, srv;
  mbedtls_x509_crt_init(&ca);
  mbedtls_x509_crt_init(&srv);
  bool have_ca = check_pair(&n, "CA", cfg.ca_cert, cfg.ca_key, &ca);
  bool have_srv = check_pair(&n, "server", cfg.server_cert, cfg.server_key, &srv);
  if (have_ca && have_srv) {
    uint32_t flags = 0;
    int rc = mbedtls_x509_crt_verify(&srv, &ca, NULL, cfg.host[0] ? cfg.host : NULL, &flags, NULL, NULL);
    if (rc != 0 && (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH))
      problem(&n, "the server certificate is not for host '%s': issue one for that name, or set host to the name it has", cfg.host);
    if (rc != 0 && (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED))
      problem(&n, "the server certificate was not issued by the organisation CA (%s): devices will refuse it; issue one with this CA", cfg.ca_cert);
  }
  mbedtls_x509_crt_free(&ca);
  mbedtls_x509_crt_free(&srv);
  char path[BG_PATH_MAX + 300];
  bg_config_path(g_home, cfg.store, path, sizeof path);
  if (stat(path, &st) != 0) {
    problem(&n, "%s: no store (bgsyncd makes an empty one, but then every user, device and client is gone: restore the backup)", path);
  } else {
    if (st.st_mode & 077) problem(&n, "%s is readable by others: chmod 600 %s", path, path);
    bg_store *s;
    why[0] = 0;
    if ((e = bg_store_open(path, &s, why, sizeof why)) != BG_OK)
      problem(&n, "%s", why[0] ? why : bg_err_message(e));
    else
      bg_store_close(s);
  }
  if (n) {
    printf("%d problem%s in %s\n", n, n == 1 ? "" : "s", g_home);
    return BGCTL_FAILED;
  }
  printf("ok: %s (configuration, CA, server certificate for %s, keys, store)\n", g_home, cfg.host);
  return BGCTL_OK;
}

static int64_t file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

static int cmd_status(void) {
  bg_config cfg;
  bg_store *s = open_store(&cfg);
  if (s == NULL) return BGCTL_FAILED;
  bool running = false;
  long pid = 0;
  char listen[256] = "", enrol[256] = "", path[BG_PATH_MAX + 300], wal[BG_PATH_MAX + 310];
  bg_err e = bg_pidfile_probe(g_home, &running, &pid, listen, sizeof listen, enrol, sizeof enrol);
  if (e != BG_OK) {
    bg_store_close(s);
    fprintf(stderr, "bgctl: %s/%s cannot be read: check its permissions\n", g_home, BG_PIDFILE);
    return BGCTL_FAILED;
  }
  int64_t now = now_ms();
  bg_store_stats st;
  e = bg_store_stats_get(s, now - 86400000, &st);
  if (e != BG_OK) {
    int r = failed(e, bg_store_errmsg(s));
    bg_store_close(s);
    return r;
  }
  bg_store_close(s);
  bg_config_path(g_home, cfg.store, path, sizeof path);
  snprintf(wal, sizeof wal, "%s-wal", path);
  int64_t db = file_size(path), wl = file_size(wal);
  if (g_fmt == BGCTL_JSON) {
    printf("{\"running\":%s,\"pid\":%ld,\"listen\":", running ? "true" : "false", pid);
    json_str(stdout, running ? listen : "");
    printf(",\"store_bytes\":%lld,\"wal_bytes\":%lld,\"users\":%llu,\"users_disabled\":%llu,\"teams\":%llu,"
           "\"clients\":%llu,\"devices\":%llu,\"devices_seen_24h\":%llu,\"pending_purges\":%llu,"
           "\"pending_purge_devices\":%llu,\"feed_head\":%llu,\"audit_entries\":%llu}\n",
           (long long)db, (long long)wl, (unsigned long long)st.users, (unsigned long long)st.users_disabled,
           (unsigned long long)st.teams, (unsigned long long)st.clients, (unsigned long long)st.devices,
           (unsigned long long)st.devices_seen, (unsigned long long)st.purge_clients,
           (unsigned long long)st.purge_devices, (unsigned long long)st.feed_head,
           (unsigned long long)st.audit_entries);
  } else {
    if (running) printf("bgsyncd:        running (pid %ld), sync on %s, enrolment on %s\n", pid, listen, enrol);
    else printf("bgsyncd:        not running (start it: bgsyncd --home %s)\n", g_home);
    printf("store:          %s, %.1f MiB (%.1f MiB in the WAL)\n", path, (double)(db + wl) / 1048576.0, (double)wl / 1048576.0);
    printf("people:         %llu users (%llu disabled), %llu teams, %llu clients\n", (unsigned long long)st.users,
           (unsigned long long)st.users_disabled, (unsigned long long)st.teams, (unsigned long long)st.clients);
    printf("devices:        %llu active, %llu seen in the last 24 hours\n", (unsigned long long)st.devices,
           (unsigned long long)st.devices_seen);
    printf("pending purges: %llu client%s on %llu device%s not yet acknowledged\n", (unsigned long long)st.purge_clients,
           st.purge_clients == 1 ? "" : "s", (unsigned long long)st.purge_devices, st.purge_devices == 1 ? "" : "s");
    printf("feed:           %llu writes; audit log %llu entries\n", (unsigned long long)st.feed_head,
           (unsigned long long)st.audit_entries);
  }
  return running ? BGCTL_OK : BGCTL_NOT_RUNNING;
}

/* --- people and access -------------------------------------------------------------------------- */

static bg_err team_row(void *arg, const bg_team_row *tr) {
  bgctl_table *t = arg;
  char m[16], c[16], created[16];
  snprintf(m, sizeof m, "%u", tr->members);
  snprintf(c, sizeof c, "%u", tr->clients);
  fmt_date(tr->created, created, sizeof created);
  const char *row[] = {tr->name, m, c, created};
  return tbl_row(t, row) ? BG_OK : BG_E_NOMEM;
}

static int cmd_team_list(bg_store *s) {
  static const bgctl_col cols[] = {{"TEAM", "team", false}, {"MEMBERS", "members", true}, {"CLIENTS", "clients", true},
                                   {"CREATED", "created", false}};
  bgctl_table t;
  tbl_init(&t, cols, 4);
  bg_err e = bg_store_teams(s, team_row, &t);
  if (e == BG_OK) tbl_print(&t, "no teams (add one: bgctl team add TEAM)");
  tbl_free(&t);
  return e == BG_OK ? BGCTL_OK : failed(e, bg_store_errmsg(s));
}

/* --- dispatch ------------------------------------------------------------------------------------------ */

static bool is(const char *a, const char *b) { return strcmp(a, b) == 0; }

static int run(int argc, char **argv) {
  if (argc < 1) return usage_error("no command");
  const char *cmd = argv[0], *sub = argc > 1 ? argv[1] : "";
  opts o;
  bool two = is(cmd, "team") || is(cmd, "user") || is(cmd, "client") || is(cmd, "device") || is(cmd, "config") ||
             is(cmd, "conflicts") || is(cmd, "proposals") || is(cmd, "cert");
  bool one = is(cmd, "init") || is(cmd, "status") || is(cmd, "audit") || is(cmd, "signals") || is(cmd, "report");
  if (!two && !one) return usage_error("unknown command '%s'", cmd);
  if (two && (argc < 2 || sub[0] == '-')) {
    if (argc >= 2 && (is(sub, "--help") || is(sub, "-h"))) return print_help(cmd, "");
    return usage_error("'%s' needs a subcommand", cmd);
  }
  int skip = two ? 2 : 1;
  if (is(cmd, "audit") && is(sub, "verify")) skip = 2;
  /* user team add|remove LOGIN TEAM: the action is the first argument */
  if (parse_opts(argc - skip, argv + skip, &o) != 0) return BGCTL_USAGE;
  if (o.help) return print_help(cmd, skip == 2 ? sub : "");
  if (is(cmd, "init")) return cmd_init(&o);
  if (is(cmd, "config")) {
    if (o.npos) return usage_error("usage: bgctl --home DIR config show|check");
    if (is(sub, "show")) return cmd_config_show();
    if (is(sub, "check")) return cmd_config_check();
    return usage_error("unknown command 'config %s'", sub);
  }
  if (is(cmd, "status")) {
    if (o.npos) return usage_error("usage: bgctl --home DIR status [--json]");
    return cmd_status();
  }
  if (is(cmd, "cert")) {
    if (!is(sub, "renew") || o.npos) return usage_error("usage: bgctl --home DIR cert renew [--days N]");
    return cmd_cert_renew(&o);
  }
  bg_config cfg;
  bg_store *s = open_store(&cfg);
  if (s == NULL) return BGCTL_FAILED;
  int64_t now = now_ms();
  int status = 0, n = 0;
  bg_err e = BG_OK;
  if ((status = bgctl_care(cmd, sub, &o, s)) >= 0) {
    bg_store_close(s);
    return status;
  }
  status = 0;
  if (is(cmd, "team") && is(sub, "add")) {
    if (o.npos != 1) status = usage_error("usage: bgctl --home DIR team add TEAM");
    else if ((e = bg_store_team_add(s, o.pos[0], now)) == BG_OK) printf("team %s added\n", o.pos[0]);
  } else if (is(cmd, "team") && is(sub, "list")) {
    status = o.npos ? usage_error("usage: bgctl --home DIR team list [--json|--csv]") : cmd_team_list(s);
  } else if (is(cmd, "user") && is(sub, "add")) {
    int role = parse_role(o.role);
    uint64_t id;
    if (o.npos != 1 || role < 0)
      status = usage_error("usage: bgctl --home DIR user add LOGIN --role begeleider|office|admin [--team TEAM]");
    else if ((e = bg_store_user_add(s, o.pos[0], (uint8_t)role, o.team, now, &id)) == BG_OK)
      printf("user %s added (id %llu, %s%s%s)\n", o.pos[0], (unsigned long long)id, o.role, o.team ? ", team " : "",
             o.team ? o.team : "");
  } else if (is(cmd, "user") && is(sub, "list")) {
    if ((e = bg_store_users(s, print_user, &n)) == BG_OK) end_list(n);
  } else if (is(cmd, "user") && (is(sub, "disable") || is(sub, "enable"))) {
    bool off = is(sub, "disable");
    if (o.npos != 1) status = usage_error("usage: bgctl --home DIR user %s LOGIN", sub);
    else if ((e = bg_store_user_set_disabled(s, o.pos[0], off, now)) == BG_OK && off)
      printf("user %s disabled: each of their devices pushes its pending work at its next sync, is purged of every "
             "client, and is refused after that\n", o.pos[0]);
    else if (e == BG_OK)
      printf("user %s enabled: their devices are fed their caseload again at their next sync\n", o.pos[0]);
  } else if (is(cmd, "user") && is(sub, "team")) {
    bool add = o.npos == 3 && is(o.pos[0], "add"), rm = o.npos == 3 && is(o.pos[0], "remove");
    if (!add && !rm) status = usage_error("usage: bgctl --home DIR user team add|remove LOGIN TEAM");
    else if ((e = bg_store_user_team(s, o.pos[1], o.pos[2], add, now)) == BG_OK && add)
      printf("user %s joined team %s: their devices receive its clients at their next sync\n", o.pos[1], o.pos[2]);
    else if (e == BG_OK)
      printf("user %s left team %s: their devices are purged of its clients at their next sync (except those %s leads)\n",
             o.pos[1], o.pos[2], o.pos[1]);
  } else if (is(cmd, "client") && (is(sub, "add") || is(sub, "move"))) {
    if (o.npos != 1 || !o.team || !o.begeleider)
      status = usage_error("usage: bgctl --home DIR client %s CLIENT_ID --team TEAM --begeleider LOGIN", sub);
    else if (sub[0] == 'a' && (e = bg_store_client_add(s, o.pos[0], o.team, o.begeleider, now)) == BG_OK)
      printf("client %s added to team %s, trajectbegeleider %s; traject in aanmelding\n", o.pos[0], o.team, o.begeleider);
    else if (sub[0] == 'm' && (e = bg_store_client_move(s, o.pos[0], o.team, o.begeleider, now)) == BG_OK)
      printf("client %s moved to team %s, trajectbegeleider %s\n", o.pos[0], o.team, o.begeleider);
  } else if (is(cmd, "client") && is(sub, "assign")) {
    if (o.npos != 1 || !o.begeleider || o.team)
      status = usage_error("usage: bgctl --home DIR client assign CLIENT_ID --begeleider LOGIN (another team: client move)");
    else if ((e = bg_store_client_assign(s, o.pos[0], o.begeleider, now)) == BG_OK)
      printf("client %s: trajectbegeleider now %s\n", o.pos[0], o.begeleider);
  } else if (is(cmd, "device") && is(sub, "enroll")) {
    if (o.npos != 1) status = usage_error("usage: bgctl --home DIR device enroll LOGIN");
    else status = cmd_enroll(s, &cfg, o.pos[0]);
  } else if (is(cmd, "device") && is(sub, "list")) {
    if ((e = bg_store_devices(s, print_device, &n)) == BG_OK) end_list(n);
  } else if (is(cmd, "device") && is(sub, "revoke")) {
    char *end = NULL;
    unsigned long long id = o.npos == 1 ? strtoull(o.pos[0], &end, 10) : 0;
    if (o.npos != 1 || end == o.pos[0] || *end) status = usage_error("usage: bgctl --home DIR device revoke DEVICE_ID");
    else if ((e = bg_store_device_revoke(s, id, now)) == BG_OK) printf("device %llu revoked\n", id);
  } else if (is(cmd, "audit") && skip == 2) {
    uint64_t entries, bad;
    e = bg_store_audit_verify(s, &entries, &bad);
    if (e == BG_OK) printf("audit chain intact: %llu entries\n", (unsigned long long)entries);
  } else if (is(cmd, "audit")) {
    bg_audit_filter f = {o.client, 0, 0};
    if (o.user) {
      bg_user_row u;
      if ((e = bg_store_user_by_login(s, o.user, &u)) == BG_OK) f.user = u.id;
    }
    if (e == BG_OK && o.since && !parse_date_opt("--since", o.since, &f.since)) status = BGCTL_USAGE;
    if (e == BG_OK && status == 0 && (e = bg_store_audit_query(s, &f, print_audit, &n)) == BG_OK) end_list(n);
  } else {
    status = usage_error("unknown command '%s %s'", cmd, sub);
  }
  if (e != BG_OK) status = failed(e, bg_store_errmsg(s));
  bg_store_close(s);
  return status;
}

int main(int argc, char **argv) {
  umask(077); /* keys, the store and its journal hold client data: owner only */
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(k_usage, stdout);
      return 0;
    }
    if (strcmp(argv[i], "--version") == 0) {
      printf("bgctl %s\n", BG_VERSION);
      return 0;
    }
    if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
      g_home = argv[++i];
      continue;
    }
    break;
  }
  if (g_home == NULL) return usage_error("--home DIR is required");
  return run(argc - i, argv + i);
}
