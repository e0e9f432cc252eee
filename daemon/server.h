/*
 * server.h - bgsyncd's network side: one libuv loop, TLS over libuv's reads
 * and writes, sessions on a store.
 *
 * Two listeners: sync sessions (mutual TLS: a device certificate from the
 * organisation CA is required; an unknown or revoked device is refused at the
 * handshake) and enrolment sessions (the server authenticates, the device has
 * no certificate yet). Each connection has a TLS engine (bg_tls), a session
 * (session.h), a handshake timer then an idle timer, and a bound on the bytes
 * queued to it: past conn_buffer the server stops reading from it until the
 * peer has taken its answers (backpressure), so a peer that never reads costs
 * a bounded amount of memory and holds up no one.
 *
 * Signals: SIGINT and SIGTERM end every session with BYE 504 after the frame
 * in hand (a transaction is never cut: each runs to its end inside one
 * callback), close the listeners and return from bg_server_run with 0.
 * SIGHUP reloads the certificates and the live keys of the configuration.
 * A device revoked while connected is sent ERROR 203 and disconnected within
 * a second (the store is polled for changes).
 */
#ifndef BG_SERVER_H
#define BG_SERVER_H

#include <stdarg.h>

#include "bg_error.h"
#include "config.h"

/* Run the daemon for the organisation directory `home` with configuration
 * `cfg` (already loaded; config_path is where SIGHUP rereads it, may be NULL).
 * Returns the process exit status: 0 after a signal, 1 when it cannot start
 * (the reason is logged). */
int bg_server_run(const char *home, const bg_config *cfg, const char *config_path);

/* Logging to stderr: "2026-11-24T18:50:01.123Z info  message". */
enum { BG_LOG_ERROR = 0, BG_LOG_WARN, BG_LOG_INFO, BG_LOG_DEBUG };
void bg_log_level(int level);
void bg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* BG_SERVER_H */
