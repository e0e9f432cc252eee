/*
 * bgsyncd - the central office's sync daemon.
 *
 *   bgsyncd --home DIR [--listen HOST:PORT] [--config FILE]
 *
 * Runs in the foreground, logs to stderr, exits 0 on SIGINT or SIGTERM.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <sys/stat.h>
#include <signal.h>
#include <string.h>

#include "config.h"
#include "server.h"

#ifndef BG_VERSION
#define BG_VERSION "0.0.0"
#endif

static void usage(FILE *f) {
  fputs("usage: bgsyncd --home DIR [--listen HOST:PORT] [--config FILE]\n"
        "\n"
        "The central office's sync daemon: devices push their writes to it and pull\n"
        "their caseload's changes, over mutually authenticated TLS.\n"
        "  --home DIR          the organisation directory made by 'bgctl init'\n"
        "                      (configuration, CA, server certificate, store)\n"
        "  --listen HOST:PORT  address of sync sessions, overriding the configuration\n"
        "                      (enrolment listens on enrol_listen)\n"
        "  --config FILE       configuration file (default DIR/bgsyncd.conf)\n"
        "  --help, --version\n"
        "Runs in the foreground and logs to stderr: one line per session. SIGINT and\n"
        "SIGTERM finish the sessions (BYE) and exit 0; SIGHUP reloads certificates\n"
        "and the live keys of the configuration.\n"
        "Example: bgsyncd --home /srv/zorg-noord\n"
        "Exit status: 0 stopped by a signal, 1 could not start, 2 usage error.\n",
        f);
}

int main(int argc, char **argv) {
  umask(077); /* keys, the store and its journal hold client data: owner only */
  /* a device that goes away while we write to it must cost an EPIPE on that
   * connection, not the daemon: SIGPIPE's default action ends the process */
  struct sigaction ign;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  if (sigaction(SIGPIPE, &ign, NULL) != 0) {
    perror("bgsyncd: sigaction(SIGPIPE)");
    return 1;
  }
  const char *home = NULL, *listen = NULL, *config = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(a, "--version") == 0) {
      printf("bgsyncd %s\n", BG_VERSION);
      return 0;
    }
    const char **slot = strcmp(a, "--home") == 0 ? &home : strcmp(a, "--listen") == 0 ? &listen
                        : strcmp(a, "--config") == 0 ? &config : NULL;
    if (slot == NULL) {
      fprintf(stderr, "bgsyncd: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "bgsyncd: %s needs a value\n", a);
      return 2;
    }
    *slot = argv[++i];
  }
  if (home == NULL) {
    fprintf(stderr, "bgsyncd: --home DIR is required (make one with: bgctl --home DIR init --org NAME --host HOST)\n");
    return 2;
  }
  bg_config cfg;
  bg_config_defaults(&cfg);
  char path[BG_PATH_MAX + 300], why[1024];
  if (config) snprintf(path, sizeof path, "%s", config);
  else bg_config_path(home, BG_CONFIG_FILE, path, sizeof path);
  bg_err e = bg_config_load(&cfg, path, why, sizeof why);
  if (e == BG_E_NOT_FOUND && config == NULL) {
    fprintf(stderr, "bgsyncd: %s: no configuration: is %s an organisation directory? (bgctl --home %s init ...)\n", path,
            home, home);
    return 1;
  }
  if (e != BG_OK) {
    fprintf(stderr, "bgsyncd: %s\n", why);
    return 1;
  }
  if (listen) {
    char host[256];
    int port;
    if (!bg_config_hostport(listen, host, sizeof host, &port) || strlen(listen) >= sizeof cfg.listen) {
      fprintf(stderr, "bgsyncd: --listen '%s' is not HOST:PORT (for example 127.0.0.1:7443 or [::]:7443)\n", listen);
      return 2;
    }
    snprintf(cfg.listen, sizeof cfg.listen, "%s", listen);
  }
  return bg_server_run(home, &cfg, path);
}
