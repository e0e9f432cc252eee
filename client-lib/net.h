/*
 * net.h - one TLS connection to the daemon on a libuv loop, carrying frames
 * (client-lib internal). Resolves the host, connects, does the handshake
 * (bg_tls over memory buffers), then hands every received frame body to the
 * owner and sends messages as frames. A timer ends the connection when the
 * peer stays silent too long. The owner learns the end once, in on_closed,
 * after every libuv handle is closed: then it may free the connection. The
 * connection is a bgs_link (link.h): what sync.c speaks to.
 */
#ifndef BGSYNC_NET_H
#define BGSYNC_NET_H

#include <uv.h>

#include "bg_msg.h"
#include "bg_tls.h"
#include "link.h"

typedef struct bgs_conn bgs_conn;

struct bgs_conn {
  bgs_link link;               /* first: the owner's view (callbacks, result, bytes) */
  uv_loop_t *loop;
  uv_getaddrinfo_t gai;
  uv_connect_t creq;
  uv_shutdown_t sreq;
  uv_tcp_t tcp;
  uv_timer_t timer;
  int open_handles;
  bool tcp_open, connected, closing;
  bool resolving;              /* the name lookup is under way (cancelled at an early end) */
  bool enrol;                  /* an enrolment connection (for the messages) */
  struct addrinfo *ai, *ai_cur; /* the addresses of the name, the one being tried */
  bg_rng rng;
  bg_tls_conf conf;
  bg_tls tls;
  bool has_rng, has_conf, has_tls;
  const char *hostname;        /* expected in the server's certificate */
  int port;
  int timeout_ms;
  bg_buf plain;                /* decrypted bytes not yet taken as frames */
  mbedtls_ssl_session *resume; /* the owner's session: offered, and replaced after a handshake */
  bool *resume_has;
  char rbuf[65536];            /* bytes read from the socket */
};

/* Start connecting to host:port. `o` is the TLS configuration (copied where
 * needed). `resume` (may be NULL) is a TLS session kept by the owner: offered
 * when *resume_has, so a resumed handshake skips the public-key work, and
 * replaced by the new one after the handshake. On error nothing was started
 * and c->link.why says why. on_ready
 * follows the handshake. */
bg_err bgs_conn_start(bgs_conn *c, uv_loop_t *loop, const char *host, int port, const bg_tls_conf_opts *o,
                      int timeout_ms, mbedtls_ssl_session *resume, bool *resume_has, const bgs_link_cbs *cbs,
                      void *data);

/* Sending and ending go through the link (bgs_link_send, bgs_link_end): a
 * message is sent as a frame; the end is close_notify after the bytes queued
 * before it (an ERROR just sent still arrives), then the TCP close. */

/* Split "host:port" / "[v6]:port" / "host" (port `def`). */
bg_err bgs_split_server(const char *server, char *host, size_t hostlen, int *port, int def);

#endif /* BGSYNC_NET_H */
