/*
 * harness.h - an organisation for end-to-end tests: a directory made by bgctl,
 * a bgsyncd.conf with loopback ports, the daemon as a real process, and bgctl
 * commands run against it. Shared by test_daemon (raw protocol peers) and
 * test_sync (libbgsync replicas). BG_BINARY_DIR names the build tree.
 */
#ifndef BG_TEST_HARNESS_H
#define BG_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct bgh_org {
  char home[96];      /* the organisation directory; HOME.log is the daemon's log, HOME.out bgctl's */
  int port;           /* sync sessions (listen) */
  int enrol_port;     /* enrolment sessions (enrol_listen), port + 1 */
  pid_t daemon;       /* 0 while not running */
} bgh_org;

void bgh_sleep_ms(int ms);

/* Two free loopback ports in a row at or above `from`, below the kernel's
 * ephemeral range (32768 up). */
int bgh_free_port_pair(int from);

/*
 * Make a fresh organisation at /tmp/bg_e2e_TAG_PID (removed first): bgctl init
 * for host localhost, then bgsyncd.conf gets listen and enrol_listen on
 * 127.0.0.1 and the lines `extra_conf` (may be NULL). Ports are probed from
 * `port_from`. 0 on success.
 */
int bgh_org_init(bgh_org *o, const char *tag, int port_from, const char *extra_conf);

/* Remove the organisation directory and its .out file (the log stays unless
 * `log` is true). */
void bgh_org_remove(const bgh_org *o, int log);

/* Run bgctl on the organisation; its output's last line in `last` (may be
 * NULL). Returns the exit status. */
int bgh_bgctl(const bgh_org *o, char *last, size_t lastlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Start bgsyncd; returns when both ports accept connections (0), or -1 after
 * 30 s or when the daemon died (its log says why). */
int bgh_daemon_start(bgh_org *o);

/* Send `sig` and wait: the exit status, or 128 + the signal that ended it. */
int bgh_daemon_stop(bgh_org *o, int sig);

/* The daemon's resident memory in KiB (-1 when unknown). */
long bgh_daemon_rss_kb(const bgh_org *o);

#endif /* BG_TEST_HARNESS_H */
