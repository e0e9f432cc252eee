/*
 * pidfile.c - the daemon's lock on its organisation directory (pidfile.h).
 */
#define _DEFAULT_SOURCE /* flock */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "config.h"

static void bg__pidfile_path(const char *home, char *out, size_t len) { bg_config_path(home, BG_PIDFILE, out, len); }

/* The file's three lines (what is missing stays empty). */
static void bg__pidfile_read(int fd, long *pid, char *listen, size_t listenlen, char *enrol, size_t enrollen) {
  char buf[1024];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  buf[n > 0 ? n : 0] = 0;
  char *save = NULL, *line = strtok_r(buf, "\n", &save);
  if (pid) *pid = line ? strtol(line, NULL, 10) : 0;
  line = line ? strtok_r(NULL, "\n", &save) : NULL;
  if (listen) snprintf(listen, listenlen, "%s", line ? line : "");
  line = line ? strtok_r(NULL, "\n", &save) : NULL;
  if (enrol) snprintf(enrol, enrollen, "%s", line ? line : "");
}

bg_err bg_pidfile_hold(const char *home, const char *listen, const char *enrol_listen, int *fd, char *why,
                       size_t whylen) {
  char path[BG_PATH_MAX + 64];
  bg__pidfile_path(home, path, sizeof path);
  *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (*fd < 0) {
    snprintf(why, whylen, "%s: %s", path, strerror(errno));
    return BG_E_IO;
  }
  if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    long pid = 0;
    if (err == EWOULDBLOCK) bg__pidfile_read(*fd, &pid, NULL, 0, NULL, 0);
    close(*fd);
    *fd = -1;
    if (err == EWOULDBLOCK) {
      snprintf(why, whylen, "another bgsyncd (pid %ld) serves %s: stop it first (two daemons on one store would "
               "each order the feed)", pid, home);
      return BG_E_EXISTS;
    }
    snprintf(why, whylen, "%s: lock: %s", path, strerror(err));
    return BG_E_IO;
  }
  char text[700];
  int n = snprintf(text, sizeof text, "%ld\n%.300s\n%.300s\n", (long)getpid(), listen, enrol_listen);
  if (ftruncate(*fd, 0) != 0 || pwrite(*fd, text, (size_t)n, 0) != n) {
    snprintf(why, whylen, "%s: %s", path, strerror(errno));
    close(*fd);
    *fd = -1;
    return BG_E_IO;
  }
  return BG_OK;
}

void bg_pidfile_release(const char *home, int fd) {
  if (fd < 0) return;
  char path[BG_PATH_MAX + 64];
  bg__pidfile_path(home, path, sizeof path);
  (void)unlink(path); /* still locked: nobody reads a half-gone file as a live daemon */
  close(fd);
}

bg_err bg_pidfile_probe(const char *home, bool *running, long *pid, char *listen, size_t listenlen, char *enrol,
                        size_t enrollen) {
  char path[BG_PATH_MAX + 64];
  bg__pidfile_path(home, path, sizeof path);
  *running = false;
  if (pid) *pid = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? BG_OK : BG_E_IO;
  if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
    (void)flock(fd, LOCK_UN); /* nobody holds it: a file a stopped daemon left */
  } else if (errno == EWOULDBLOCK) {
    *running = true;
    bg__pidfile_read(fd, pid, listen, listenlen, enrol, enrollen);
  } else {
    close(fd);
    return BG_E_IO;
  }
  close(fd);
  return BG_OK;
}
