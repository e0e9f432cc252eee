/*
 * peer.h - a device's side of the protocol for end-to-end tests: blocking
 * sockets, the product's TLS (bg_tls) and messages (bg_msg). It can also
 * misbehave on purpose (raw bytes, never reading).
 */
#ifndef BG_TEST_PEER_H
#define BG_TEST_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "bg_msg.h"
#include "bg_tls.h"

typedef struct peer {
  int fd;
  bg_tls_conf conf;
  bool has_conf;
  bg_tls tls;
  bool has_tls;
  bg_buf plain;   /* decrypted bytes not yet taken as frames */
  bg_buf body;    /* the body of the last frame received (messages borrow it) */
  char error[256];
} peer;

/* What a device keeps after enrolment (PEM, NUL counted). */
typedef struct identity {
  bg_buf key, cert, ca;
  uint64_t device, user;
} identity;

void identity_free(identity *id);

/* The loopback address connections come from (NULL: the kernel's choice,
 * 127.0.0.1). Another one, 127.0.0.2, is another peer address to the daemon:
 * its per-address limits count it apart. */
extern const char *peer_source;

/* Connect and handshake. `id` NULL: an enrolment connection (no certificate),
 * verified against the CA fingerprint `ca_fp` (16 bytes) when given. */
bg_err peer_connect(peer *p, bg_rng *rng, int port, const identity *id, const uint8_t *ca_fp);
bg_err peer_send(peer *p, const bg_msg *m);
/* Plaintext bytes as they are (garbage, partial frames). */
bg_err peer_send_raw(peer *p, const void *bytes, size_t n);
/* The next message; BG_E_CONNECTION_LOST when the server closed. The message
 * borrows p->body until the next call: bg_msg_free it. */
bg_err peer_recv(peer *p, bg_msg *m, int timeout_ms);
void peer_close(peer *p);

/* Enrol with `code` as printed by bgctl; fills `id`. Returns the server's
 * error code when it refused (and `why`). */
bg_err peer_enrol(bg_rng *rng, int port, const char *code, const char *name, identity *id, char *why, size_t whylen);

#endif /* BG_TEST_PEER_H */
