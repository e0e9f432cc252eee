/*
 * pidfile.h - how bgctl knows that bgsyncd serves an organisation directory.
 *
 * The daemon holds DIR/bgsyncd.pid for its whole life: an exclusive advisory
 * lock (flock) on the file, which holds its process id and the addresses it
 * listens on. The lock, not the file's existence, is the signal: the kernel
 * drops it when the process ends however it ends, so a file left behind by a
 * crash reads as "not running". A second daemon on the same directory is
 * refused (two daemons on one SQLite store would each think they hold the
 * feed's order). Linux and the BSDs; the daemon runs there.
 */
#ifndef BG_PIDFILE_H
#define BG_PIDFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "bg_error.h"

#define BG_PIDFILE "bgsyncd.pid"

/* Take the lock and write "PID\nLISTEN\nENROL_LISTEN\n". *fd keeps it (pass it
 * to bg_pidfile_release). BG_E_EXISTS when another process holds it (`why`
 * names its pid), BG_E_IO when the file cannot be made. */
bg_err bg_pidfile_hold(const char *home, const char *listen, const char *enrol_listen, int *fd, char *why,
                       size_t whylen);

/* Remove the file and drop the lock (at a clean exit). */
void bg_pidfile_release(const char *home, int fd);

/* Whether a daemon holds the directory's lock. When it does, *pid and the
 * addresses it wrote (either may be NULL). BG_E_IO when the file exists but
 * cannot be read. */
bg_err bg_pidfile_probe(const char *home, bool *running, long *pid, char *listen, size_t listenlen, char *enrol,
                        size_t enrollen);

#endif /* BG_PIDFILE_H */
