/*
 * net.c - one TLS connection on a libuv loop, in frames (net.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bg_frame.h"

typedef struct bgs_wreq {
  uv_write_t req;
  size_t len;
  uint8_t bytes[];
} bgs_wreq;

/* Why the connection ends: `what`, then `detail` (may be NULL). */
static void bgs_fail(bgs_conn *c, bg_err e, const char *what, const char *detail) {
  if (c->link.ended) return;
  c->link.result = e;
  snprintf(c->link.why, sizeof c->link.why, "%s%s", what, detail ? detail : "");
}

/* One handle or request fewer; after the last, the owner hears of the end. */
static void bgs_release(bgs_conn *c) {
  if (--c->open_handles > 0) return;
  if (c->has_tls) bg_tls_free(&c->tls);
  if (c->has_conf) bg_tls_conf_free(&c->conf);
  if (c->has_rng) bg_rng_free(&c->rng);
  c->has_tls = c->has_conf = c->has_rng = false;
  bg_buf_free(&c->plain);
  if (c->ai) uv_freeaddrinfo(c->ai);
  c->ai = c->ai_cur = NULL;
  if (c->link.cbs.on_closed) c->link.cbs.on_closed(&c->link);
}

static void bgs_on_handle_closed(uv_handle_t *h) { bgs_release(h->data); }

static void bgs_close_handles(bgs_conn *c) {
  if (c->closing) return;
  c->closing = true;
  c->link.ended = true;
  if (c->resolving) (void)uv_cancel((uv_req_t *)&c->gai); /* its callback still comes, with UV_ECANCELED */
  if (!uv_is_closing((uv_handle_t *)&c->timer)) uv_close((uv_handle_t *)&c->timer, bgs_on_handle_closed);
  if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, bgs_on_handle_closed);
}

static void bgs_rearm(bgs_conn *c);
static bg_err bgs_conn_send(bgs_link *l, const bg_msg *m);
static void bgs_conn_end(bgs_link *l, bg_err e, const char *why);
static const bgs_link_ops bgs_conn_ops = {bgs_conn_send, bgs_conn_end};

static void bgs_on_written(uv_write_t *req, int status) {
  bgs_wreq *w = (bgs_wreq *)req;
  bgs_conn *c = req->data;
  free(w);
  if (status < 0 && status != UV_ECANCELED) {
    bgs_fail(c, BG_E_CONNECTION_LOST, "sending failed: ", uv_strerror(status));
    bgs_close_handles(c);
    return;
  }
  /* bytes leaving are life too: a large push on a slow uplink waits long for
   * its first answer */
  if (status == 0) bgs_rearm(c);
}

/* Send what TLS produced. */
static bg_err bgs_flush(bgs_conn *c) {
  if (c->tls.out.len == 0 || c->closing) return BG_OK;
  bgs_wreq *w = malloc(sizeof *w + c->tls.out.len);
  if (!w) return BG_E_NOMEM;
  w->len = c->tls.out.len;
  memcpy(w->bytes, c->tls.out.data, w->len);
  bg_buf_reset(&c->tls.out);
  w->req.data = c;
  uv_buf_t b = uv_buf_init((char *)w->bytes, (unsigned)w->len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, bgs_on_written);
  if (rc < 0) {
    free(w);
    bgs_fail(c, BG_E_CONNECTION_LOST, "sending failed: ", uv_strerror(rc));
    return BG_E_CONNECTION_LOST;
  }
  c->link.sent += w->len;
  return BG_OK;
}

static void bgs_on_timeout(uv_timer_t *t) {
  bgs_conn *c = t->data;
  bgs_fail(c, BG_E_TIMEOUT, "the server did not answer within the timeout", NULL);
  bgs_close_handles(c);
}

static void bgs_rearm(bgs_conn *c) {
  if (c->closing) return;
  (void)uv_timer_start(&c->timer, bgs_on_timeout, (uint64_t)c->timeout_ms, 0);
}

static void bgs_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  bgs_conn *c = h->data;
  (void)hint;
  *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

/* Frames out of the decrypted bytes. */
static void bgs_frames(bgs_conn *c) {
  while (!c->link.ended && c->plain.len >= 4) {
    uint32_t len = (uint32_t)c->plain.data[0] << 24 | (uint32_t)c->plain.data[1] << 16 |
                   (uint32_t)c->plain.data[2] << 8 | c->plain.data[3];
    if (len == 0 || len > BG_FRAME_MAX) {
      bgs_fail(c, len ? BG_E_FRAME_TOO_LARGE : BG_E_FRAME_EMPTY, "the server sent a bad frame", NULL);
      bgs_close_handles(c);
      return;
    }
    if (c->plain.len < 4 + (size_t)len) return;
    /* the owner may end the connection in the callback; the bytes stay until after it */
    c->link.cbs.on_frame(&c->link, c->plain.data + 4, len);
    if (c->closing) return;
    bg_buf_consume(&c->plain, 4 + (size_t)len);
  }
}

static void bgs_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  bgs_conn *c = s->data;
  if (c->closing) return;
  if (n < 0) {
    bgs_fail(c, BG_E_CONNECTION_LOST, "the server closed the connection", NULL);
    if (!c->tls.handshake_done)
      snprintf(c->link.why, sizeof c->link.why, "%s",
               c->enrol ? "the server closed the connection during the TLS handshake: is this the enrolment port "
                          "(the sync port + 1, or as the office says)?"
                        : "the server closed the connection during the TLS handshake (a revoked or unknown device "
                          "certificate, or not the sync port?)");
    bgs_close_handles(c);
    return;
  }
  if (n == 0) return;
  c->link.received += (uint64_t)n;
  bgs_rearm(c);
  bg_err e = bg_tls_feed(&c->tls, (const uint8_t *)buf->base, (size_t)n);
  if (e == BG_OK && !c->tls.handshake_done) {
    bool again;
    e = bg_tls_handshake(&c->tls, &again);
    if (bgs_flush(c) != BG_OK && e == BG_OK) e = BG_E_CONNECTION_LOST;
    if (e != BG_OK) {
      char r[256];
      bg_tls_reason(&c->tls, r, sizeof r);
      /* bgsyncd answers a revoked device certificate with this alert */
      if (e == BG_E_TLS && bg_tls_peer_alert(&c->tls) == MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED) {
        bgs_fail(c, BG_E_DEVICE_REVOKED,
                 "the office revoked this device: it cannot sync any more (changes not yet sent stay on it); ask "
                 "the office for a new enrolment code",
                 NULL);
      } else {
        if (c->tls.last == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE)
          snprintf(r, sizeof r, "the server refused this device's certificate (expired, or of another "
                                "organisation?): ask the office");
        bgs_fail(c, e == BG_E_TLS ? BG_E_TLS : e, "TLS handshake failed: ", r);
      }
      bgs_close_handles(c);
      return;
    }
    if (!c->tls.handshake_done) return;
    if (c->resume) {
      mbedtls_ssl_session_free(c->resume);
      mbedtls_ssl_session_init(c->resume);
      *c->resume_has = bg_tls_session_save(&c->tls, c->resume) == BG_OK;
    }
    c->link.cbs.on_ready(&c->link);
    if (c->closing) return;
  }
  if (e == BG_OK) e = bg_tls_read(&c->tls, &c->plain);
  if (e == BG_OK || e == BG_E_CONNECTION_LOST) {
    bg_err closed = e;
    bgs_frames(c);
    if (closed == BG_E_CONNECTION_LOST && !c->closing) {
      bgs_fail(c, BG_E_CONNECTION_LOST, "the server ended the connection", NULL);
      bgs_close_handles(c);
    }
    return;
  }
  char r[256];
  bg_tls_reason(&c->tls, r, sizeof r);
  bgs_fail(c, e, "TLS failed: ", r);
  bgs_close_handles(c);
}

static void bgs_on_connect(uv_connect_t *req, int status);

/* Connect the (fresh) TCP handle to the address being tried. */
static int bgs_connect_cur(bgs_conn *c) {
  int rc = uv_tcp_init(c->loop, &c->tcp);
  if (rc < 0) return rc;
  c->tcp.data = c;
  c->tcp_open = true;
  (void)uv_tcp_nodelay(&c->tcp, 1);
  c->creq.data = c;
  return uv_tcp_connect(&c->creq, &c->tcp, c->ai_cur->ai_addr, bgs_on_connect);
}

/* The handle of a refused address is closed: try the next address. */
static void bgs_on_retry_closed(uv_handle_t *h) {
  bgs_conn *c = h->data;
  c->tcp_open = false;
  if (c->closing) { /* ended meanwhile: this was the handle's close */
    bgs_release(c);
    return;
  }
  int rc = bgs_connect_cur(c);
  if (rc < 0) {
    c->open_handles--; /* the handle was not opened again */
    bgs_fail(c, BG_E_CONNECT, "cannot connect: ", uv_strerror(rc));
    bgs_close_handles(c);
  }
}

static void bgs_on_connect(uv_connect_t *req, int status) {
  bgs_conn *c = req->data;
  if (c->closing) return;
  if (status < 0) {
    bgs_fail(c, BG_E_CONNECT, "cannot connect: ", uv_strerror(status));
    if (c->ai_cur && c->ai_cur->ai_next) { /* e.g. ::1 refused, 127.0.0.1 listening */
      c->ai_cur = c->ai_cur->ai_next;
      c->link.result = BG_OK;
      c->link.why[0] = 0;
      uv_close((uv_handle_t *)&c->tcp, bgs_on_retry_closed);
      return;
    }
    bgs_close_handles(c);
    return;
  }
  c->connected = true;
  bool again;
  bg_err e = bg_tls_handshake(&c->tls, &again);
  if (e == BG_OK) e = bgs_flush(c);
  int rc = e == BG_OK ? uv_read_start((uv_stream_t *)&c->tcp, bgs_on_alloc, bgs_on_read) : 0;
  if (e != BG_OK || rc < 0) {
    bgs_fail(c, e != BG_OK ? e : BG_E_CONNECT, "cannot start the TLS handshake", NULL);
    bgs_close_handles(c);
  }
}

static void bgs_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  bgs_conn *c = req->data;
  c->resolving = false;
  if (c->closing) {
    uv_freeaddrinfo(res);
    bgs_release(c); /* the request held a count (bgs_conn_start) */
    return;
  }
  c->open_handles--; /* the timer still holds one */
  if (status < 0 || !res) {
    bgs_fail(c, BG_E_CONNECT, "cannot resolve the server's name: ", uv_strerror(status));
    uv_freeaddrinfo(res);
    bgs_close_handles(c);
    return;
  }
  c->ai = c->ai_cur = res; /* freed at the end: a refused address moves on to the next */
  c->open_handles++;       /* the TCP handle */
  int rc = bgs_connect_cur(c);
  if (rc < 0 && !c->tcp_open) c->open_handles--;
  if (rc < 0) {
    bgs_fail(c, BG_E_CONNECT, "cannot connect: ", uv_strerror(rc));
    bgs_close_handles(c);
  }
}

bg_err bgs_split_server(const char *server, char *host, size_t hostlen, int *port, int def) {
  const char *p = server, *end;
  *port = def;
  if (!server || !*server) return BG_E_USAGE;
  if (*p == '[') {
    end = strchr(p, ']');
    if (!end) return BG_E_USAGE;
    p++;
  } else {
    end = strrchr(p, ':');
    if (end && strchr(p, ':') != end) end = NULL; /* a bare IPv6 address */
    if (!end) end = p + strlen(p);
  }
  size_t n = (size_t)(end - p);
  if (n == 0 || n >= hostlen) return BG_E_USAGE;
  memcpy(host, p, n);
  host[n] = 0;
  const char *colon = *end == ']' ? end + 1 : end;
  if (*colon == ':') {
    char *e;
    long v = strtol(colon + 1, &e, 10);
    if (*e || v < 1 || v > 65535) return BG_E_USAGE;
    *port = (int)v;
  } else if (*colon) {
    return BG_E_USAGE;
  }
  return BG_OK;
}

bg_err bgs_conn_start(bgs_conn *c, uv_loop_t *loop, const char *host, int port, const bg_tls_conf_opts *o,
                      int timeout_ms, mbedtls_ssl_session *resume, bool *resume_has, const bgs_link_cbs *cbs,
                      void *data) {
  memset(c, 0, sizeof *c);
  c->loop = loop;
  c->link.cbs = *cbs;
  c->link.ops = &bgs_conn_ops;
  c->link.data = data;
  c->port = port;
  c->hostname = host;
  c->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
  bg_err e = bg_rng_init(&c->rng, "bgsync client");
  if (e != BG_OK) {
    snprintf(c->link.why, sizeof c->link.why, "no randomness for TLS");
    return e;
  }
  c->has_rng = true;
  e = bg_tls_conf_init(&c->conf, o, &c->rng);
  if (e != BG_OK) {
    snprintf(c->link.why, sizeof c->link.why, "TLS configuration: %s", c->conf.error);
    bg_rng_free(&c->rng);
    return e;
  }
  c->has_conf = true;
  if ((e = bg_tls_init(&c->tls, &c->conf, host)) != BG_OK) {
    snprintf(c->link.why, sizeof c->link.why, "TLS setup failed");
    bg_tls_conf_free(&c->conf);
    bg_rng_free(&c->rng);
    return e;
  }
  c->has_tls = true;
  c->resume = resume;
  c->resume_has = resume_has;
  /* a session the server no longer knows just costs a full handshake */
  if (resume && *resume_has && bg_tls_session_offer(&c->tls, resume) != BG_OK) *resume_has = false;
  int rc = uv_timer_init(loop, &c->timer);
  if (rc < 0) {
    snprintf(c->link.why, sizeof c->link.why, "timer: %s", uv_strerror(rc));
    bg_tls_free(&c->tls);
    bg_tls_conf_free(&c->conf);
    bg_rng_free(&c->rng);
    return BG_E_INTERNAL;
  }
  c->timer.data = c;
  c->open_handles = 1;
  bgs_rearm(c);
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  c->gai.data = c;
  c->open_handles++; /* until the resolution answers */
  c->resolving = true;
  rc = uv_getaddrinfo(loop, &c->gai, bgs_on_resolved, host, portstr, &hints);
  if (rc < 0) {
    c->resolving = false;
    c->open_handles--;
    bgs_fail(c, BG_E_CONNECT, "cannot resolve the server's name: ", uv_strerror(rc));
    bgs_close_handles(c);
  }
  return BG_OK;
}

static bg_err bgs_conn_send(bgs_link *l, const bg_msg *m) {
  bgs_conn *c = (bgs_conn *)l;
  if (c->closing) return BG_E_CONNECTION_LOST;
  bg_buf b = BG_BUF_INIT;
  bg_err e = bg_msg_encode_frame(m, &b, 0);
  if (e == BG_OK) e = bg_tls_write(&c->tls, b.data, b.len);
  bg_buf_free(&b);
  if (e == BG_OK) e = bgs_flush(c);
  return e;
}

static void bgs_on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  bgs_close_handles(req->data);
}

static void bgs_conn_end(bgs_link *l, bg_err e, const char *why) {
  bgs_conn *c = (bgs_conn *)l;
  if (c->link.ended) return;
  c->link.result = e;
  if (why) snprintf(c->link.why, sizeof c->link.why, "%s", why);
  c->link.ended = true;
  if (c->connected && !c->closing) {
    bg_tls_close(&c->tls);
    (void)bgs_flush(c);
    (void)uv_read_stop((uv_stream_t *)&c->tcp);
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, bgs_on_shutdown) == 0) return;
  }
  bgs_close_handles(c);
}
