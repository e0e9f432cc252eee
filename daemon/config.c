/*
 * config.c - bgsyncd.conf (config.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_frame.h"

void bg_config_defaults(bg_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->listen, sizeof c->listen, "[::]:7443");
  snprintf(c->enrol_listen, sizeof c->enrol_listen, "[::]:7444");
  snprintf(c->store, sizeof c->store, "store.db");
  snprintf(c->ca_cert, sizeof c->ca_cert, "ca.crt");
  snprintf(c->ca_key, sizeof c->ca_key, "ca.key");
  snprintf(c->server_cert, sizeof c->server_cert, "server.crt");
  snprintf(c->server_key, sizeof c->server_key, "server.key");
  c->max_connections = 1024;
  c->max_frame = BG_FRAME_MAX;
  c->conn_buffer = 1u << 20;
  c->handshake_timeout_ms = 10000;
  c->idle_timeout_ms = 120000;
  c->device_cert_days = 365;
  c->enrol_code_minutes = 24 * 60;
  c->enrol_failures_per_minute = 10;
  c->ticket_lifetime_s = 3600;
  c->log_level = 2;
}

typedef enum { K_STR, K_U32, K_LEVEL } bg__kind;

typedef struct bg__key {
  const char *name;
  bg__kind kind;
  size_t off, size;
  uint32_t min, max;
  const char *help;
} bg__key;

#define S(field, help) {#field, K_STR, offsetof(bg_config, field), sizeof(((bg_config *)0)->field), 0, 0, help}
#define U(field, lo, hi, help) {#field, K_U32, offsetof(bg_config, field), 0, lo, hi, help}

static const bg__key bg__keys[] = {
    S(org, "the organisation's name (informational)"),
    S(host, "the host name devices connect to (the server certificate's name)"),
    S(listen, "address of sync sessions, HOST:PORT; [::]:PORT takes IPv6 and IPv4"),
    S(enrol_listen, "address of enrolment sessions (devices without a certificate yet)"),
    S(store, "the store file (SQLite)"),
    S(ca_cert, "the organisation CA certificate (PEM)"),
    S(ca_key, "the organisation CA private key (PEM, mode 0600)"),
    S(server_cert, "the server certificate (PEM)"),
    S(server_key, "the server private key (PEM, mode 0600)"),
    U(max_connections, 1, 1000000, "connections served at once; more are closed at once"),
    U(max_frame, 1024, BG_FRAME_MAX, "largest frame body accepted, bytes"),
    U(conn_buffer, 65536, 1u << 30, "bytes queued to one connection before the daemon stops reading from it"),
    U(handshake_timeout_ms, 100, 600000, "time allowed for the TLS handshake"),
    U(idle_timeout_ms, 1000, 86400000, "a session without a frame for this long is closed (BYE 502)"),
    U(device_cert_days, 1, 3650, "validity of device certificates issued at enrolment, days"),
    U(enrol_code_minutes, 1, 43200, "how long an enrolment code stays valid, minutes"),
    U(enrol_failures_per_minute, 1, 10000, "failed enrolments per peer address and minute before refusing (209)"),
    U(ticket_lifetime_s, 60, 604800, "TLS session ticket lifetime, seconds"),
    {"log_level", K_LEVEL, offsetof(bg_config, log_level), 0, 0, 3, "error, warn, info or debug"},
};

static const char *const bg__levels[] = {"error", "warn", "info", "debug"};

static char *bg__trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = 0;
  return s;
}

bg_err bg_config_load(bg_config *c, const char *path, char *why, size_t whylen) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(why, whylen, "%s: %s", path, strerror(errno));
    return errno == ENOENT ? BG_E_NOT_FOUND : BG_E_CONFIG;
  }
  char line[2048];
  int lineno = 0;
  bg_err r = BG_OK;
  while (r == BG_OK && fgets(line, sizeof line, f)) {
    lineno++;
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    char *s = bg__trim(line);
    if (*s == 0) continue;
    char *eq = strchr(s, '=');
    if (eq == NULL) {
      snprintf(why, whylen, "%s:%d: expected 'key = value'", path, lineno);
      r = BG_E_CONFIG;
      break;
    }
    *eq = 0;
    char *key = bg__trim(s), *val = bg__trim(eq + 1);
    const bg__key *k = NULL;
    for (size_t i = 0; i < sizeof bg__keys / sizeof *bg__keys && !k; i++)
      if (strcmp(bg__keys[i].name, key) == 0) k = &bg__keys[i];
    if (k == NULL) {
      snprintf(why, whylen, "%s:%d: unknown key '%s' (docs/OPERATIONS.md lists the keys)", path, lineno, key);
      r = BG_E_CONFIG;
      break;
    }
    char *base = (char *)c + k->off;
    if (k->kind == K_STR) {
      if (strlen(val) == 0 || strlen(val) >= k->size) {
        snprintf(why, whylen, "%s:%d: %s must be 1..%zu characters", path, lineno, key, k->size - 1);
        r = BG_E_CONFIG;
      } else {
        snprintf(base, k->size, "%s", val);
      }
    } else if (k->kind == K_U32) {
      char *end;
      errno = 0;
      unsigned long long v = strtoull(val, &end, 10);
      if (end == val || *end || errno || v < k->min || v > k->max || val[0] == '-') {
        snprintf(why, whylen, "%s:%d: %s must be a whole number from %u to %u", path, lineno, key, k->min, k->max);
        r = BG_E_CONFIG;
      } else {
        *(uint32_t *)(void *)base = (uint32_t)v;
      }
    } else {
      int level = -1;
      for (int i = 0; i < 4; i++)
        if (strcmp(val, bg__levels[i]) == 0) level = i;
      if (level < 0) {
        snprintf(why, whylen, "%s:%d: log_level must be error, warn, info or debug", path, lineno);
        r = BG_E_CONFIG;
      } else {
        c->log_level = level;
      }
    }
  }
  fclose(f);
  if (r == BG_OK) {
    char host[256];
    int port;
    if (!bg_config_hostport(c->listen, host, sizeof host, &port) ||
        !bg_config_hostport(c->enrol_listen, host, sizeof host, &port)) {
      snprintf(why, whylen, "%s: listen and enrol_listen are HOST:PORT, for example [::]:7443", path);
      r = BG_E_CONFIG;
    }
  }
  return r;
}

bg_err bg_config_write(const bg_config *c, const char *path) {
  FILE *f = fopen(path, "w");
  if (f == NULL) return BG_E_IO;
  fprintf(f, "# bgsyncd configuration (docs/OPERATIONS.md). Paths are relative to this directory.\n");
  for (size_t i = 0; i < sizeof bg__keys / sizeof *bg__keys; i++) {
    const bg__key *k = &bg__keys[i];
    const char *base = (const char *)c + k->off;
    fprintf(f, "\n# %s\n", k->help);
    if (k->kind == K_STR) fprintf(f, "%s = %s\n", k->name, base);
    else if (k->kind == K_U32) fprintf(f, "%s = %u\n", k->name, *(const uint32_t *)(const void *)base);
    else fprintf(f, "%s = %s\n", k->name, bg__levels[c->log_level]);
  }
  return fclose(f) == 0 ? BG_OK : BG_E_IO;
}

void bg_config_each(const bg_config *c, bg_config_key_cb cb, void *arg) {
  for (size_t i = 0; i < sizeof bg__keys / sizeof *bg__keys; i++) {
    const bg__key *k = &bg__keys[i];
    const char *base = (const char *)c + k->off;
    char v[32];
    if (k->kind == K_STR) {
      cb(arg, k->name, base, k->help);
      continue;
    }
    if (k->kind == K_U32) snprintf(v, sizeof v, "%u", *(const uint32_t *)(const void *)base);
    else snprintf(v, sizeof v, "%s", bg__levels[c->log_level]);
    cb(arg, k->name, v, k->help);
  }
}

void bg_config_path(const char *home, const char *path, char *out, size_t outlen) {
  if (path[0] == '/' || home == NULL || home[0] == 0) snprintf(out, outlen, "%s", path);
  else snprintf(out, outlen, "%s/%s", home, path);
}

bool bg_config_hostport(const char *s, char *host, size_t hostlen, int *port) {
  const char *colon;
  size_t hl;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || close[1] != ':') return false;
    hl = (size_t)(close - s - 1);
    s++;
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL) return false;
    hl = (size_t)(colon - s);
  }
  if (hl == 0 || hl >= hostlen) return false;
  memcpy(host, s, hl);
  host[hl] = 0;
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || *end || p < 0 || p > 65535) return false;
  *port = (int)p;
  return true;
}
