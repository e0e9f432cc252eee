/*
 * session.h - one session of the protocol, on the server's side: plaintext
 * frames in, plaintext frames out (docs/PROTOCOL.md, section 6).
 *
 * No sockets and no TLS here: the connection (server.c) decrypts what arrives,
 * hands it to bg_session_input, encrypts and sends what the session appended to
 * `out`, and closes when told. So the whole protocol logic can be driven in
 * process - by tests and by the fuzz target - against a real store.
 *
 * A connection carries one session of one kind:
 *   sync    the device authenticated with its certificate: HELLO, then PUSH,
 *           PULL, ACK of PURGE, PING, BYE. Identity comes from the certificate
 *           and the store, never from a message.
 *   enrol   a device without a certificate yet: ENROLL, answered with
 *           ENROLLED or ERROR, and the session ends.
 * Every malformed or unexpected frame is answered with an ERROR naming what
 * was wrong, and the session ends (the connection closes after sending it).
 */
#ifndef BG_SESSION_H
#define BG_SESSION_H

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <stdbool.h>
#include <stdint.h>

#include "bg_buf.h"
#include "bg_error.h"
#include "bg_frame.h"
#include "bg_hlc.h"
#include "bg_tls.h"
#include "store.h"

/* What sessions share: the store, the clock, and for enrolment the CA. */
typedef struct bg_session_env {
  bg_store *store;
  bg_hlc hlc;
  int64_t (*now_ms)(void);
  uint32_t max_frame;       /* largest body accepted (0 = BG_FRAME_MAX) */
  const char *software;     /* "bgsyncd/<version>" */
  /* enrolment */
  bg_rng *rng;
  const mbedtls_x509_crt *ca;
  mbedtls_pk_context *ca_key;
  uint32_t device_cert_days; /* validity of a device certificate */
} bg_session_env;

typedef enum bg_session_kind { BG_SESSION_SYNC = 1, BG_SESSION_ENROL = 2 } bg_session_kind;

/* PURGE ids a session remembers for the ACKs (a device ACKs the one it just got). */
#define BG_SESSION_PURGES 8

typedef struct bg_session {
  bg_session_env *env;
  bg_session_kind kind;
  int state;
  bg_fdec dec;
  bg_who who;              /* sync: set at HELLO */
  uint32_t proto;          /* sync: the protocol version chosen at HELLO */
  uint64_t cert_device;    /* sync: from the certificate */
  char cert_login[BG_ID_MAX + 1];
  char login[BG_ID_MAX + 1];
  /* for the session's log line */
  uint64_t frames_in, frames_out, writes_in, writes_out;
  bg_err outcome;          /* why it ended (BG_OK: BYE) */
  char detail[256];        /* what went wrong, for the log */
  bool done;               /* nothing more to read: close after sending `out` */
  uint64_t purges[BG_SESSION_PURGES]; /* the ids of the latest PURGEs sent in this session: what an ACK may name */
  unsigned n_purges;
} bg_session;

/* A sync session for the device a verified certificate names (device id and
 * login from bg_pki_device_of), or an enrolment session (device 0). */
void bg_session_init(bg_session *s, bg_session_env *env, bg_session_kind kind, uint64_t cert_device,
                     const char *cert_login);
void bg_session_free(bg_session *s);

/*
 * Take plaintext bytes from the peer, up to and including the first frame
 * they complete (*used says how many; call again with the rest), and append
 * the answers (whole frames) to `out`. One frame at a time, so the caller can
 * stop taking requests while its answers wait to be sent. Returns BG_OK, or a
 * storage failure the session reported to the peer as a retryable ERROR;
 * either way s->done says whether the session has ended.
 */
bg_err bg_session_input(bg_session *s, const uint8_t *p, size_t n, bg_buf *out, size_t *used);

/* The server is shutting down: append BYE 504 and end the session. */
void bg_session_shutdown(bg_session *s, bg_buf *out);

/* The server closes an idle session: append BYE 502 and end it. */
void bg_session_idle(bg_session *s, bg_buf *out);

/* The device was revoked while connected: append ERROR 203 and end it. */
void bg_session_revoked(bg_session *s, bg_buf *out);
/* The store could not keep what the session's last requests changed (a group
 * commit failed: store.h): the answers already made are withdrawn by the caller
 * (`out` emptied), and the session ends with ERROR `code` (retryable when the
 * code is) and `text`, whatever state it was in. */
void bg_session_fail(bg_session *s, bg_buf *out, bg_err code, const char *text);

#endif /* BG_SESSION_H */
