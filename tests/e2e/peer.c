/*
 * peer.c - the test device (peer.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bg_code.h"
#include "bg_frame.h"
#include "bg_pki.h"

const char *peer_source;

void identity_free(identity *id) {
  bg_buf_free(&id->key);
  bg_buf_free(&id->cert);
  bg_buf_free(&id->ca);
}

static bg_err fail(peer *p, bg_err e, const char *what) {
  snprintf(p->error, sizeof p->error, "%s", what);
  return e;
}

/* Send everything TLS produced. */
static bg_err flush(peer *p) {
  size_t off = 0;
  while (off < p->tls.out.len) {
    ssize_t n = send(p->fd, p->tls.out.data + off, p->tls.out.len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(p, BG_E_CONNECTION_LOST, "send failed");
    off += (size_t)n;
  }
  bg_buf_reset(&p->tls.out);
  return BG_OK;
}

/* Read what the socket has (waiting up to timeout_ms) into TLS. */
static bg_err fill(peer *p, int timeout_ms) {
  struct pollfd pf = {p->fd, POLLIN, 0};
  int r = poll(&pf, 1, timeout_ms);
  if (r == 0) return fail(p, BG_E_TIMEOUT, "no answer in time");
  if (r < 0) return fail(p, BG_E_CONNECTION_LOST, "poll failed");
  uint8_t buf[65536];
  ssize_t n = recv(p->fd, buf, sizeof buf, 0);
  if (n <= 0) return fail(p, BG_E_CONNECTION_LOST, "the server closed the connection");
  return bg_tls_feed(&p->tls, buf, (size_t)n);
}

bg_err peer_connect(peer *p, bg_rng *rng, int port, const identity *id, const uint8_t *ca_fp) {
  memset(p, 0, sizeof *p);
  p->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (p->fd < 0) return fail(p, BG_E_CONNECT, "socket");
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  if (peer_source) {
    if (inet_pton(AF_INET, peer_source, &sa.sin_addr) != 1 || bind(p->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
      return fail(p, BG_E_CONNECT, "bind to the source address");
  }
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(p->fd, (struct sockaddr *)&sa, sizeof sa) != 0) return fail(p, BG_E_CONNECT, "connect refused");
  int one = 1;
  (void)setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bg_tls_conf_opts o = {.enrol = id == NULL};
  if (id) {
    o.ca = id->ca.data;
    o.ca_len = id->ca.len;
    o.cert = id->cert.data;
    o.cert_len = id->cert.len;
    o.key = id->key.data;
    o.key_len = id->key.len;
  }
  bg_err e = bg_tls_conf_init(&p->conf, &o, rng);
  if (e != BG_OK) return fail(p, e, p->conf.error);
  p->has_conf = true;
  if ((e = bg_tls_init(&p->tls, &p->conf, "localhost")) != BG_OK) return fail(p, e, "tls init");
  p->has_tls = true;
  for (;;) {
    bool again;
    e = bg_tls_handshake(&p->tls, &again);
    if (flush(p) != BG_OK && e == BG_OK) e = BG_E_CONNECTION_LOST;
    if (e != BG_OK) {
      bg_tls_reason(&p->tls, p->error, sizeof p->error);
      return e;
    }
    if (!again) break;
    if ((e = fill(p, 5000)) != BG_OK) return e;
  }
  if (id == NULL && ca_fp) {
    bg_buf ca = BG_BUF_INIT;
    e = bg_tls_enrol_verify(&p->tls, ca_fp, BG_CODE_CA_BYTES, "localhost", &ca, p->error, sizeof p->error);
    bg_buf_free(&ca);
  }
  return e;
}

bg_err peer_send_raw(peer *p, const void *bytes, size_t n) {
  bg_err e = bg_tls_write(&p->tls, bytes, n);
  return e == BG_OK ? flush(p) : e;
}

bg_err peer_send(peer *p, const bg_msg *m) {
  bg_buf b = BG_BUF_INIT;
  bg_err e = bg_msg_encode_frame(m, &b, 0);
  if (e == BG_OK) e = peer_send_raw(p, b.data, b.len);
  bg_buf_free(&b);
  return e;
}

bg_err peer_recv(peer *p, bg_msg *m, int timeout_ms) {
  memset(m, 0, sizeof *m);
  for (;;) {
    bg_err e = bg_tls_read(&p->tls, &p->plain);
    if (e != BG_OK && e != BG_E_CONNECTION_LOST) return fail(p, e, "TLS read failed");
    if (p->plain.len >= 4) {
      uint32_t len = (uint32_t)p->plain.data[0] << 24 | (uint32_t)p->plain.data[1] << 16 |
                     (uint32_t)p->plain.data[2] << 8 | p->plain.data[3];
      if (len > BG_FRAME_MAX) return fail(p, BG_E_FRAME_TOO_LARGE, "frame too large");
      if (p->plain.len >= 4 + (size_t)len) {
        bg_buf_reset(&p->body);
        if (bg_buf_append(&p->body, p->plain.data + 4, len) != BG_OK) return BG_E_NOMEM;
        bg_buf_consume(&p->plain, 4 + (size_t)len);
        bg_msg_why why;
        e = bg_msg_decode(p->body.data, p->body.len, m, &why);
        if (e != BG_OK) snprintf(p->error, sizeof p->error, "%s", why.text);
        return e;
      }
    }
    if (e == BG_E_CONNECTION_LOST) return fail(p, e, "the server closed the session");
    if ((e = fill(p, timeout_ms)) != BG_OK) return e;
  }
}

void peer_close(peer *p) {
  if (p->has_tls) {
    bg_tls_close(&p->tls);
    (void)flush(p);
    bg_tls_free(&p->tls);
  }
  if (p->has_conf) bg_tls_conf_free(&p->conf);
  if (p->fd > 0) close(p->fd);
  bg_buf_free(&p->plain);
  bg_buf_free(&p->body);
  p->fd = -1;
  p->has_tls = p->has_conf = false;
}

bg_err peer_enrol(bg_rng *rng, int port, const char *text, const char *name, identity *id, char *why, size_t whylen) {
  memset(id, 0, sizeof *id);
  bg_code code;
  if (bg_code_parse(text, &code) != BG_OK) {
    snprintf(why, whylen, "the code is mistyped");
    return BG_E_ENROLL_CODE;
  }
  peer p;
  bg_err e = peer_connect(&p, rng, port, NULL, code.ca);
  if (e != BG_OK) {
    snprintf(why, whylen, "%s", p.error);
    peer_close(&p);
    return e;
  }
  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  bg_buf csr = BG_BUF_INIT;
  e = bg_pki_key_new(rng, &key);
  if (e == BG_OK) e = bg_pki_csr(rng, &key, "CN=new device", &csr);
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_ENROLL;
  m.u.enroll = (bg_msg_enroll){bg_str_c(text), {(const char *)csr.data, (uint32_t)csr.len}, BG_STR("peer/test"),
                               bg_str_c(name)};
  if (e == BG_OK) e = peer_send(&p, &m);
  bg_msg r;
  memset(&r, 0, sizeof r);
  if (e == BG_OK) e = peer_recv(&p, &r, 10000);
  if (e == BG_OK && r.type == BG_MSG_ERROR) {
    snprintf(why, whylen, "%.*s", (int)r.u.error.message.len, r.u.error.message.p);
    e = (bg_err)r.u.error.code;
  } else if (e == BG_OK && r.type == BG_MSG_ENROLLED) {
    id->device = r.u.enrolled.device;
    id->user = r.u.enrolled.user;
    e = bg_pki_cert_pem((const uint8_t *)r.u.enrolled.cert.p, r.u.enrolled.cert.len, &id->cert);
    if (e == BG_OK) e = bg_pki_cert_pem((const uint8_t *)r.u.enrolled.ca.p, r.u.enrolled.ca.len, &id->ca);
    if (e == BG_OK) e = bg_pki_key_pem(&key, &id->key);
    if (e == BG_OK && !bg_code_ca_matches(&code, (const uint8_t *)r.u.enrolled.ca.p, r.u.enrolled.ca.len)) {
      snprintf(why, whylen, "ENROLLED carries another CA than the code names");
      e = BG_E_TLS;
    }
  } else if (e == BG_OK) {
    e = BG_E_UNEXPECTED_MESSAGE;
  } else {
    snprintf(why, whylen, "%s", p.error);
  }
  bg_msg_free(&r);
  bg_buf_free(&csr);
  mbedtls_pk_free(&key);
  peer_close(&p);
  return e;
}
