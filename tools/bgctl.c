/*
 * bgctl - the office's administration tool.
 *
 *   bgctl --home DIR COMMAND ...     (bgctl --help lists the commands)
 *
 * Works on the organisation directory directly: the configuration, the PKI
 * files and the store. It is safe to use while bgsyncd runs: every change is
 * one SQLite transaction, and SQLite's locking (WAL mode, a busy timeout of
 * five seconds) orders it with the daemon's; the daemon notices revocations
 * within a second.
 *
 * Exit status: 0 success, 1 the command failed (the message says why and what
 * to do), 2 usage error.
 */
#define _DEFAULT_SOURCE /* timegm, gmtime_r */
#include <errno.h>
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
#include "config.h"
#include "store.h"

#ifndef BG_VERSION
#define BG_VERSION "0.0.0"
#endif

static const char *g_home;
static bool g_json;

static const char k_usage[] =
    "usage: bgctl --home DIR COMMAND [ARGS]\n"
    "\n"
    "The office's administration tool for an organisation directory.\n"
    "\n"
    "  init --org NAME --host HOST        make DIR: CA, server certificate for HOST,\n"
    "                                     empty store, configuration\n"
    "  team add TEAM\n"
    "  user add LOGIN --role begeleider|office|admin [--team TEAM]\n"
    "  user list [--json]\n"
    "  client add CLIENT_ID --team TEAM --begeleider LOGIN\n"
    "                                     register a client; its traject opens in aanmelding\n"
    "  client move CLIENT_ID --team TEAM --begeleider LOGIN\n"
    "  client list [--json]\n"
    "  device enroll LOGIN                print a one-time enrolment code (last line);\n"
    "                                     the device names itself when it enrols\n"
    "  device list [--json]\n"
    "  device revoke DEVICE_ID            refused at its next handshake; an open\n"
    "                                     session is closed within a second\n"
    "  audit [--client ID] [--user LOGIN] [--since YYYY-MM-DD] [--json]\n"
    "  audit verify                       check the audit log's hash chain\n"
    "\n"
    "Run 'bgctl COMMAND --help' for one command. It is safe to use while bgsyncd runs.\n"
    "Example: bgctl --home /srv/zorg-noord user add anna --role begeleider --team noord\n"
    "Exit status: 0 success, 1 failure (the message says why), 2 usage error.\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bgctl: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n(bgctl --help lists the commands)\n", stderr);
  va_end(ap);
  return 2;
}

static int failed(bg_err e, const char *detail) {
  fprintf(stderr, "bgctl: %s\n", detail && *detail ? detail : bg_err_message(e));
  return 1;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Options after the positional arguments: --key value or --flag. */
typedef struct opts {
  const char *pos[4];
  int npos;
  const char *team, *role, *begeleider, *org, *host, *client, *user, *since;
  bool help;
} opts;

static int parse_opts(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof *o);
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      o->help = true;
      continue;
    }
    if (strcmp(a, "--json") == 0) {
      g_json = true;
      continue;
    }
    const char **slot = NULL;
    if (strcmp(a, "--team") == 0) slot = &o->team;
    else if (strcmp(a, "--role") == 0) slot = &o->role;
    else if (strcmp(a, "--begeleider") == 0) slot = &o->begeleider;
    else if (strcmp(a, "--org") == 0) slot = &o->org;
    else if (strcmp(a, "--host") == 0) slot = &o->host;
    else if (strcmp(a, "--client") == 0) slot = &o->client;
    else if (strcmp(a, "--user") == 0) slot = &o->user;
    else if (strcmp(a, "--since") == 0) slot = &o->since;
    if (slot) {
      if (i + 1 >= argc) return usage_error("%s needs a value", a);
      *slot = argv[++i];
      continue;
    }
    if (a[0] == '-') return usage_error("unknown option '%s'", a);
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

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static const char *role_name(uint8_t r) {
  return r == BG_ROLE_ADMIN ? "admin" : r == BG_ROLE_OFFICE ? "office" : r == BG_ROLE_BEGELEIDER ? "begeleider" : "?";
}

static bg_err print_user(void *arg, const bg_user_row *u) {
  int *n = arg;
  if (g_json) {
    printf("%s{\"id\":%llu,\"login\":", (*n)++ ? "," : "[", (unsigned long long)u->id);
    json_str(u->login);
    printf(",\"role\":\"%s\",\"teams\":", role_name(u->role));
    json_str(u->teams);
    printf(",\"disabled\":%s}", u->disabled ? "true" : "false");
  } else {
    if ((*n)++ == 0) printf("%-6s %-24s %-11s %-8s %s\n", "ID", "LOGIN", "ROLE", "STATE", "TEAMS");
    printf("%-6llu %-24s %-11s %-8s %s\n", (unsigned long long)u->id, u->login, role_name(u->role),
           u->disabled ? "disabled" : "active", u->teams);
  }
  return BG_OK;
}

static void fmt_time(int64_t ms, char *out, size_t len) {
  if (ms == 0) {
    snprintf(out, len, "-");
    return;
  }
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bg_err print_device(void *arg, const bg_device_row *d) {
  int *n = arg;
  char en[32], seen[32], rev[32];
  fmt_time(d->enrolled, en, sizeof en);
  fmt_time(d->last_seen, seen, sizeof seen);
  fmt_time(d->revoked, rev, sizeof rev);
  if (g_json) {
    printf("%s{\"id\":%llu,\"user\":", (*n)++ ? "," : "[", (unsigned long long)d->id);
    json_str(d->login);
    printf(",\"name\":");
    json_str(d->name);
    printf(",\"enrolled\":\"%s\",\"last_seen\":\"%s\",\"revoked\":%s%s%s}", en, d->last_seen ? seen : "",
           d->revoked ? "\"" : "", d->revoked ? rev : "null", d->revoked ? "\"" : "");
  } else {
    if ((*n)++ == 0) printf("%-6s %-20s %-20s %-21s %-21s %s\n", "ID", "USER", "NAME", "ENROLLED", "LAST SEEN", "REVOKED");
    printf("%-6llu %-20s %-20s %-21s %-21s %s\n", (unsigned long long)d->id, d->login, d->name[0] ? d->name : "-", en,
           seen, rev);
  }
  return BG_OK;
}

static bg_err print_client(void *arg, const bg_client_row *c) {
  int *n = arg;
  if (g_json) {
    printf("%s{\"id\":", (*n)++ ? "," : "[");
    json_str(c->id);
    printf(",\"team\":");
    json_str(c->team);
    printf(",\"begeleider\":");
    json_str(c->begeleider);
    printf("}");
  } else {
    if ((*n)++ == 0) printf("%-20s %-16s %s\n", "CLIENT", "TEAM", "BEGELEIDER");
    printf("%-20s %-16s %s\n", c->id, c->team, c->begeleider);
  }
  return BG_OK;
}

static int end_list(int n) {
  if (g_json) puts(n ? "]" : "[]");
  return 0;
}

static bg_err print_audit(void *arg, const bg_audit_row *a) {
  int *n = arg;
  char when[32];
  fmt_time(a->at, when, sizeof when);
  if (g_json) {
    printf("%s{\"seq\":%llu,\"at\":\"%s\",\"user\":%llu,\"device\":%llu,\"client\":", (*n)++ ? "," : "[",
           (unsigned long long)a->seq, when, (unsigned long long)a->user, (unsigned long long)a->device);
    json_str(a->client);
    printf(",\"action\":");
    json_str(a->action);
    printf(",\"object\":");
    json_str(a->object);
    printf(",\"outcome\":");
    json_str(a->outcome);
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

/* --- dispatch ------------------------------------------------------------------------------------------ */

static int run(int argc, char **argv) {
  if (argc < 1) return usage_error("no command");
  const char *cmd = argv[0], *sub = argc > 1 ? argv[1] : "";
  opts o;
  if (strcmp(cmd, "init") == 0) {
    if (parse_opts(argc - 1, argv + 1, &o) != 0) return 2;
    return cmd_init(&o);
  }
  bool two = strcmp(cmd, "team") == 0 || strcmp(cmd, "user") == 0 || strcmp(cmd, "client") == 0 ||
             strcmp(cmd, "device") == 0;
  if (!two && strcmp(cmd, "audit") != 0) return usage_error("unknown command '%s'", cmd);
  int skip = two ? 2 : 1;
  if (two && argc < 2) return usage_error("'%s' needs a subcommand", cmd);
  if (strcmp(cmd, "audit") == 0 && argc > 1 && strcmp(argv[1], "verify") == 0) skip = 2;
  if (parse_opts(argc - skip, argv + skip, &o) != 0) return 2;
  if (o.help) {
    fputs(k_usage, stdout);
    return 0;
  }
  bg_config cfg;
  bg_store *s = open_store(&cfg);
  if (s == NULL) return 1;
  int64_t now = now_ms();
  int status = 0, n = 0;
  bg_err e = BG_OK;
  if (strcmp(cmd, "team") == 0 && strcmp(sub, "add") == 0) {
    if (o.npos != 1) status = usage_error("usage: bgctl --home DIR team add TEAM");
    else if ((e = bg_store_team_add(s, o.pos[0], now)) == BG_OK) printf("team %s added\n", o.pos[0]);
  } else if (strcmp(cmd, "user") == 0 && strcmp(sub, "add") == 0) {
    int role = parse_role(o.role);
    uint64_t id;
    if (o.npos != 1 || role < 0)
      status = usage_error("usage: bgctl --home DIR user add LOGIN --role begeleider|office|admin [--team TEAM]");
    else if ((e = bg_store_user_add(s, o.pos[0], (uint8_t)role, o.team, now, &id)) == BG_OK)
      printf("user %s added (id %llu, %s%s%s)\n", o.pos[0], (unsigned long long)id, o.role, o.team ? ", team " : "",
             o.team ? o.team : "");
  } else if (strcmp(cmd, "user") == 0 && strcmp(sub, "list") == 0) {
    if ((e = bg_store_users(s, print_user, &n)) == BG_OK) end_list(n);
  } else if (strcmp(cmd, "client") == 0 && (strcmp(sub, "add") == 0 || strcmp(sub, "move") == 0)) {
    if (o.npos != 1 || !o.team || !o.begeleider)
      status = usage_error("usage: bgctl --home DIR client %s CLIENT_ID --team TEAM --begeleider LOGIN", sub);
    else if (sub[0] == 'a' && (e = bg_store_client_add(s, o.pos[0], o.team, o.begeleider, now)) == BG_OK)
      printf("client %s added to team %s, trajectbegeleider %s; traject in aanmelding\n", o.pos[0], o.team, o.begeleider);
    else if (sub[0] == 'm' && (e = bg_store_client_move(s, o.pos[0], o.team, o.begeleider, now)) == BG_OK)
      printf("client %s moved to team %s, trajectbegeleider %s\n", o.pos[0], o.team, o.begeleider);
  } else if (strcmp(cmd, "client") == 0 && strcmp(sub, "list") == 0) {
    if ((e = bg_store_clients(s, print_client, &n)) == BG_OK) end_list(n);
  } else if (strcmp(cmd, "device") == 0 && strcmp(sub, "enroll") == 0) {
    if (o.npos != 1) status = usage_error("usage: bgctl --home DIR device enroll LOGIN");
    else status = cmd_enroll(s, &cfg, o.pos[0]);
  } else if (strcmp(cmd, "device") == 0 && strcmp(sub, "list") == 0) {
    if ((e = bg_store_devices(s, print_device, &n)) == BG_OK) end_list(n);
  } else if (strcmp(cmd, "device") == 0 && strcmp(sub, "revoke") == 0) {
    char *end = NULL;
    unsigned long long id = o.npos == 1 ? strtoull(o.pos[0], &end, 10) : 0;
    if (o.npos != 1 || end == o.pos[0] || *end) status = usage_error("usage: bgctl --home DIR device revoke DEVICE_ID");
    else if ((e = bg_store_device_revoke(s, id, now)) == BG_OK) printf("device %llu revoked\n", id);
  } else if (strcmp(cmd, "audit") == 0 && skip == 2) {
    uint64_t entries, bad;
    e = bg_store_audit_verify(s, &entries, &bad);
    if (e == BG_OK) printf("audit chain intact: %llu entries\n", (unsigned long long)entries);
  } else if (strcmp(cmd, "audit") == 0) {
    bg_audit_filter f = {o.client, 0, 0};
    if (o.user) {
      bg_user_row u;
      if ((e = bg_store_user_by_login(s, o.user, &u)) == BG_OK) f.user = u.id;
    }
    if (e == BG_OK && o.since) {
      struct tm tm;
      memset(&tm, 0, sizeof tm);
      if (sscanf(o.since, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3) {
        status = usage_error("--since takes a date: YYYY-MM-DD");
      } else {
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        f.since = (int64_t)timegm(&tm) * 1000;
      }
    }
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
