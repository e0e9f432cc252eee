/*
 * config.h - the organisation directory's configuration file, bgsyncd.conf.
 *
 * A text file of `key = value` lines; '#' starts a comment; blank lines are
 * ignored. Every key has a default (bg_config_defaults), so an empty file is a
 * valid configuration; an unknown key or a bad value stops the daemon with the
 * file, the line and what to write instead. Paths are relative to the
 * organisation directory (--home). docs/OPERATIONS.md lists every key.
 */
#ifndef BG_CONFIG_H
#define BG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_error.h"

#define BG_CONFIG_FILE "bgsyncd.conf"
#define BG_PATH_MAX 1024

typedef struct bg_config {
  char listen[256];          /* HOST:PORT of sync sessions; "[::]:7443" takes IPv6 and IPv4 */
  char enrol_listen[256];    /* HOST:PORT of enrolment sessions (no device certificate yet) */
  char store[BG_PATH_MAX];   /* the store file */
  char ca_cert[BG_PATH_MAX], ca_key[BG_PATH_MAX];
  char server_cert[BG_PATH_MAX], server_key[BG_PATH_MAX];
  char org[128];             /* the organisation's name (informational) */
  char host[256];            /* the host name in the server certificate */
  uint32_t max_connections;
  uint32_t max_frame;        /* largest frame body accepted */
  uint32_t conn_buffer;      /* bytes queued for one connection before it stops being read */
  uint32_t handshake_timeout_ms;
  uint32_t idle_timeout_ms;
  uint32_t device_cert_days; /* validity of device certificates issued at enrolment */
  uint32_t enrol_code_minutes; /* how long an enrolment code stays valid */
  uint32_t enrol_failures_per_minute; /* per peer address, before BG_E_RATE_LIMITED */
  uint32_t ticket_lifetime_s;
  int log_level;             /* 0 error, 1 warn, 2 info, 3 debug */
} bg_config;

void bg_config_defaults(bg_config *c);

/* Read `path` over the defaults. BG_E_CONFIG with `why` naming file, line and
 * the problem; BG_E_NOT_FOUND when the file is missing. */
bg_err bg_config_load(bg_config *c, const char *path, char *why, size_t whylen);

/* Write the configuration with every key and a comment line per key. */
bg_err bg_config_write(const bg_config *c, const char *path);

/* Every key in the file's order with its value as text and its one-line help
 * (bgctl config show). */
typedef void (*bg_config_key_cb)(void *arg, const char *key, const char *value, const char *help);
void bg_config_each(const bg_config *c, bg_config_key_cb cb, void *arg);

/* A path from the configuration resolved against the home directory. */
void bg_config_path(const char *home, const char *path, char *out, size_t outlen);

/* Split HOST:PORT ("[::1]:7443", "0.0.0.0:7443", "localhost:7443"). */
bool bg_config_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif /* BG_CONFIG_H */
