/*
 * harness.c - an organisation for end-to-end tests (harness.h): bgctl and
 * bgsyncd as child processes, loopback ports.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void bgh_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int bgh_tcp(int port, bool do_connect) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = do_connect ? connect(fd, (struct sockaddr *)&sa, sizeof sa) : bind(fd, (struct sockaddr *)&sa, sizeof sa);
  close(fd);
  return rc;
}

int bgh_free_port_pair(int from) {
  for (int port = from;; port += 2) {
    if (port + 1 >= 32768) port = 20000;
    if (bgh_tcp(port, false) == 0 && bgh_tcp(port + 1, false) == 0) return port;
  }
}

static void bgh_shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bgh_shell(const char *fmt, ...) {
  char cmd[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  if (system(cmd) != 0) fprintf(stderr, "harness: '%s' failed\n", cmd);
}

int bgh_org_init(bgh_org *o, const char *tag, int port_from, const char *extra_conf) {
  memset(o, 0, sizeof *o);
  snprintf(o->home, sizeof o->home, "/tmp/bg_e2e_%s%s%d", tag ? tag : "", tag ? "_" : "", (int)getpid());
  o->port = bgh_free_port_pair(port_from);
  o->enrol_port = o->port + 1;
  bgh_shell("rm -rf %s %s.log %s.out", o->home, o->home, o->home);
  if (bgh_bgctl(o, NULL, 0, "init --org 'Zorg Test' --host localhost") != 0) return -1;
  char conf[160];
  snprintf(conf, sizeof conf, "%s/bgsyncd.conf", o->home);
  FILE *f = fopen(conf, "a");
  if (f == NULL) return -1;
  fprintf(f, "listen = 127.0.0.1:%d\nenrol_listen = 127.0.0.1:%d\n%s\n", o->port, o->enrol_port,
          extra_conf ? extra_conf : "");
  return fclose(f) == 0 ? 0 : -1;
}

void bgh_org_remove(const bgh_org *o, int log) {
  bgh_shell("rm -rf %s %s.out%s%s%s", o->home, o->home, log ? " " : "", log ? o->home : "", log ? ".log" : "");
}

int bgh_bgctl(const bgh_org *o, char *last, size_t lastlen, const char *fmt, ...) {
  char args[512], cmd[1024], out[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(out, sizeof out, "%s.out", o->home);
  snprintf(cmd, sizeof cmd, "%s/tools/bgctl --home %s %s > %s 2>&1", BG_BINARY_DIR, o->home, args, out);
  int st = system(cmd);
  if (last) {
    last[0] = 0;
    FILE *f = fopen(out, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
      line[strcspn(line, "\n")] = 0;
      size_t n = strlen(line) < lastlen ? strlen(line) : lastlen - 1;
      memcpy(last, line, n);
      last[n] = 0;
    }
    if (f) fclose(f);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int bgh_daemon_start(bgh_org *o) {
  char log[128];
  snprintf(log, sizeof log, "%s.log", o->home);
  pid_t parent = getpid();
  o->daemon = fork();
  if (o->daemon < 0) return -1;
  if (o->daemon == 0) {
    /* the daemon ends with the test, also when the test aborts (a sanitizer,
     * a crash), and holds none of its output pipes: ctest would wait for it */
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    FILE *f = freopen(log, "a", stderr);
    f = f ? freopen("/dev/null", "w", stdout) : NULL;
    (void)f;
    char bin[512];
    snprintf(bin, sizeof bin, "%s/daemon/bgsyncd", BG_BINARY_DIR);
    execl(bin, "bgsyncd", "--home", o->home, (char *)NULL);
    _exit(127);
  }
  /* ready when both ports accept: it listens once the configuration, the
   * certificates and the store are loaded */
  for (int i = 0; i < 600; i++) { /* 30 s: a loaded machine, a sanitizer build */
    int st;
    if (waitpid(o->daemon, &st, WNOHANG) == o->daemon) {
      fprintf(stderr, "bgsyncd exited at start (see %s)\n", log);
      o->daemon = 0;
      return -1;
    }
    if (bgh_tcp(o->enrol_port, true) == 0 && bgh_tcp(o->port, true) == 0) return 0;
    bgh_sleep_ms(50);
  }
  fprintf(stderr, "bgsyncd did not start (see %s)\n", log);
  return -1;
}

int bgh_daemon_stop(bgh_org *o, int sig) {
  if (o->daemon <= 0) return -1;
  kill(o->daemon, sig);
  int st;
  waitpid(o->daemon, &st, 0);
  o->daemon = 0;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

long bgh_daemon_rss_kb(const bgh_org *o) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)o->daemon);
  FILE *f = fopen(path, "r");
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kb;
}
