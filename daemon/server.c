/*
 * server.c - bgsyncd's libuv loop, connections and TLS (server.h).
 */
#define _POSIX_C_SOURCE 200809L /* gmtime_r, and what uv.h needs of pthread.h */
#include "server.h"

#include <arpa/inet.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "bg_pki.h"
#include "bg_tls.h"
#include "pidfile.h"
#include "session.h"
#include "store.h"

#ifndef BG_VERSION
#define BG_VERSION "0.0.0"
#endif

/* --- logging ------------------------------------------------------------------------ */

static int g_level = BG_LOG_INFO;

void bg_log_level(int level) { g_level = level; }

void bg_log(int level, const char *fmt, ...) {
  if (level > g_level) return;
  static const char *const names[] = {"error", "warn ", "info ", "debug"};
  uv_timeval64_t tv;
  char when[40] = "";
  if (uv_gettimeofday(&tv) == 0) {
    time_t t = (time_t)tv.tv_sec;
    struct tm tm;
    if (gmtime_r(&t, &tm)) {
      size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
      snprintf(when + n, sizeof when - n, ".%03dZ", (int)(tv.tv_usec / 1000));
    }
  }
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s %s %s\n", when, names[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}

static int64_t bg__now_ms(void) {
  uv_timeval64_t tv;
  if (uv_gettimeofday(&tv) != 0) return 0;
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* --- the server and its connections ---------------------------------------------------- */

/* A TLS configuration shared by connections; SIGHUP makes a new one, the old
 * lives until its last connection closes. */
typedef struct bg__conf {
  bg_tls_conf tls;
  int refs;
} bg__conf;

typedef struct bg__conn bg__conn;
typedef struct bg_server bg_server;

struct bg__conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  bg_server *srv;
  bg__conn *prev, *next;
  bool enrol;
  bg__conf *conf;
  bg_tls tls;
  bg_session sess;
  bool has_session, reading, flush_then_close, closed;
  bool peer_closed; /* the peer ended TLS; close once its requests are answered */
  bool held;        /* answers wait in `frames` for the group commit (bg__on_commit) */
  bg__conn *held_next;
  int handles_open;
  bg_buf plain, frames;
  size_t queued;      /* bytes handed to libuv, not yet written */
  char peer[64];
  int64_t t0;
  uint64_t bytes_in, bytes_out;
  char reason[200];   /* why it ended, when not the session's own outcome */
};

/* An enrolment attempt counter per peer address (rate limit). */
typedef struct bg__attempts {
  char peer[48];
  int64_t window;
  uint32_t failures;
} bg__attempts;

struct bg_server {
  uv_loop_t *loop;
  const char *home;
  const char *config_path;
  bg_config cfg;
  bg_store *store;
  bg_rng rng;
  bg__conf *sync_conf, *enrol_conf;
  mbedtls_x509_crt ca;
  mbedtls_pk_context ca_key;
  bg_session_env env;
  uv_tcp_t lsync, lenrol;
  uv_signal_t sigint, sigterm, sighup;
  uv_timer_t poll;
  uv_check_t commit; /* runs after each turn's I/O while a group commit is open */
  uv_idle_t nowait;  /* active with it: the loop does not block before the check runs */
  bg__conn *held;    /* connections whose answers wait for it */
  bg__conn *conns;
  uint32_t nconns;
  bool stopping;
  uint64_t data_version;
  bg__attempts attempts[64];
  char software[64];
  /* One read buffer for every connection: libuv reads into it and calls
   * bg__on_read at once, which hands the bytes to TLS (bg_tls_feed copies
   * them) before any other connection is read. A buffer per connection cost
   * 64 KiB of address space each, and resident pages wherever reads had
   * touched it, for every idle session. */
  char rbuf[65536];
  bool rbuf_busy;
};

static void bg__conf_unref(bg__conf *c) {
  if (c && --c->refs == 0) {
    bg_tls_conf_free(&c->tls);
    free(c);
  }
}

static void bg__maybe_finish(bg_server *s);

/* --- closing ------------------------------------------------------------------------------ */

static void bg__on_handle_closed(uv_handle_t *h) {
  bg__conn *c = h->data;
  if (--c->handles_open > 0) return;
  bg_server *s = c->srv;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->nconns--;
  if (c->has_session) bg_session_free(&c->sess);
  bg_tls_free(&c->tls);
  bg__conf_unref(c->conf);
  bg_buf_free(&c->plain);
  bg_buf_free(&c->frames);
  free(c);
  bg__maybe_finish(s);
}

/* The log line of a session, then close both handles. */
static void bg__close(bg__conn *c, const char *why) {
  if (c->closed) return;
  c->closed = true;
  if (why && !c->reason[0]) snprintf(c->reason, sizeof c->reason, "%s", why);
  const char *outcome = c->reason[0] ? c->reason : "ok";
  if (c->has_session) {
    bg_session *ss = &c->sess;
    char oc[300];
    if (ss->outcome != BG_OK && !c->reason[0])
      snprintf(oc, sizeof oc, "%s%s%s", bg_err_name(ss->outcome), ss->detail[0] ? ": " : "", ss->detail);
    else
      snprintf(oc, sizeof oc, "%s", outcome);
    bg_log(BG_LOG_INFO,
           "session %s peer=%s device=%llu user=%s bytes_in=%llu bytes_out=%llu writes_in=%llu writes_out=%llu "
           "duration_ms=%lld outcome=%s",
           c->enrol ? "enrol" : "sync", c->peer, (unsigned long long)(ss->who.device ? ss->who.device : ss->cert_device),
           ss->login[0] ? ss->login : "-", (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
           (unsigned long long)ss->writes_in, (unsigned long long)ss->writes_out, (long long)(bg__now_ms() - c->t0),
           oc);
  } else {
    bg_log(BG_LOG_INFO, "connection %s peer=%s bytes_in=%llu duration_ms=%lld outcome=%s",
           c->enrol ? "enrol" : "sync", c->peer, (unsigned long long)c->bytes_in, (long long)(bg__now_ms() - c->t0),
           outcome);
  }
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_close((uv_handle_t *)&c->tcp, bg__on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, bg__on_handle_closed);
}

/* --- writing ---------------------------------------------------------------------------------- */

typedef struct bg__wreq {
  uv_write_t req;
  bg__conn *c;
  size_t len;
  uint8_t data[];
} bg__wreq;

static void bg__pump(bg__conn *c);

static void bg__on_written(uv_write_t *req, int status) {
  bg__wreq *w = (bg__wreq *)req;
  bg__conn *c = w->c;
  c->queued -= w->len;
  free(w);
  if (c->closed) return;
  if (status < 0) {
    bg__close(c, uv_strerror(status));
    return;
  }
  if (c->flush_then_close && c->queued == 0) {
    bg__close(c, NULL);
    return;
  }
  /* backpressure released: read again, and take up what is waiting */
  if (!c->reading && c->queued <= c->srv->cfg.conn_buffer / 2) bg__pump(c);
}

/* Send what TLS produced. */
static void bg__flush(bg__conn *c) {
  bg_buf *o = &c->tls.out;
  if (o->len == 0 || c->closed) return;
  bg__wreq *w = malloc(sizeof *w + o->len);
  if (w == NULL) {
    bg__close(c, "out of memory");
    return;
  }
  w->c = c;
  w->len = o->len;
  memcpy(w->data, o->data, o->len);
  bg_buf_reset(o);
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, bg__on_written);
  if (rc < 0) {
    free(w);
    bg__close(c, uv_strerror(rc));
    return;
  }
  c->queued += w->len;
  c->bytes_out += w->len;
}

static void bg__on_timer(uv_timer_t *t);

/* The session ended: send the last frames and close_notify, then close - at
 * the latest after BG__LINGER_MS, for a peer that does not take them. */
#define BG__LINGER_MS 5000
static void bg__finish(bg__conn *c) {
  if (c->held) return; /* bg__on_commit finishes it, after its answers */
  bg_tls_close(&c->tls);
  bg__flush(c);
  c->flush_then_close = true;
  if (c->queued == 0) bg__close(c, NULL);
  else if (!c->closed) uv_timer_start(&c->timer, bg__on_timer, BG__LINGER_MS, 0);
}

/* Send the session's answers - unless they wait for a group commit: the one
 * place that keeps an answer from leaving before what it answers is durable. */
static bool bg__send_frames(bg__conn *c) {
  if (c->held) return !c->closed;
  if (c->frames.len == 0) return true;
  bg_err e = bg_tls_write(&c->tls, c->frames.data, c->frames.len);
  bg_buf_reset(&c->frames);
  if (e != BG_OK) {
    bg__close(c, "TLS write failed");
    return false;
  }
  bg__flush(c);
  return !c->closed;
}

/* --- the rate limit of enrolment ---------------------------------------------------------------- */

static bg__attempts *bg__attempts_of(bg_server *s, const char *peer) {
  /* the address without the port */
  char addr[48];
  snprintf(addr, sizeof addr, "%s", peer);
  char *colon = strrchr(addr, ':'); /* "[v6]:port" or "v4:port" */
  if (colon) *colon = 0;
  int64_t minute = bg__now_ms() / 60000;
  bg__attempts *free_slot = NULL, *oldest = &s->attempts[0];
  for (size_t i = 0; i < sizeof s->attempts / sizeof *s->attempts; i++) {
    bg__attempts *a = &s->attempts[i];
    if (a->peer[0] && strcmp(a->peer, addr) == 0) {
      if (a->window != minute) {
        a->window = minute;
        a->failures = 0;
      }
      return a;
    }
    if (!a->peer[0] && !free_slot) free_slot = a;
    if (a->window < oldest->window) oldest = a;
  }
  bg__attempts *a = free_slot ? free_slot : oldest;
  snprintf(a->peer, sizeof a->peer, "%s", addr);
  a->window = minute;
  a->failures = 0;
  return a;
}

/* --- reading ---------------------------------------------------------------------------------------- */

/* The handshake completed: who is it, and start the session. */
static bool bg__start_session(bg__conn *c) {
  bg_server *s = c->srv;
  uint64_t device = 0;
  char login[BG_ID_MAX + 1] = "";
  if (!c->enrol) {
    if (bg_pki_device_of(bg_tls_peer(&c->tls), &device, login, sizeof login) != BG_OK) {
      bg__close(c, "the certificate names no device");
      return false;
    }
  } else {
    bg__attempts *a = bg__attempts_of(s, c->peer);
    if (a->failures >= s->cfg.enrol_failures_per_minute) {
      bg_session_init(&c->sess, &s->env, BG_SESSION_ENROL, 0, NULL);
      c->has_session = true;
      bg_msg m;
      memset(&m, 0, sizeof m);
      m.type = BG_MSG_ERROR;
      m.u.error = (bg_msg_error){BG_E_RATE_LIMITED, bg_str_c(bg_err_message(BG_E_RATE_LIMITED)), true, 0};
      (void)bg_msg_encode_frame(&m, &c->frames, 0);
      snprintf(c->reason, sizeof c->reason, "BG_E_RATE_LIMITED");
      if (bg__send_frames(c)) bg__finish(c);
      return false;
    }
  }
  bg_session_init(&c->sess, &s->env, c->enrol ? BG_SESSION_ENROL : BG_SESSION_SYNC, device, login);
  c->has_session = true;
  uv_timer_stop(&c->timer);
  return true;
}

static void bg__on_timer(uv_timer_t *t);
static void bg__on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void bg__on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);
static bool bg__group_join(bg_server *s);
static void bg__on_commit(uv_check_t *h);
static void bg__answered(bg__conn *c);

static void bg__start_reading(bg__conn *c) {
  if (c->reading || c->closed) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, bg__on_alloc, bg__on_read) == 0) c->reading = true;
}

/* Advance TLS and the session with what has arrived; stop reading while too
 * much waits to be sent. */
static void bg__pump(bg__conn *c) {
  bg_server *s = c->srv;
  if (c->closed || c->flush_then_close) return;
  if (!c->tls.handshake_done) {
    bool again;
    bg_err e = bg_tls_handshake(&c->tls, &again);
    bg__flush(c);
    if (c->closed) return;
    if (e != BG_OK) {
      char why[200];
      bg_tls_reason(&c->tls, why, sizeof why);
      bg_log(BG_LOG_WARN, "handshake refused peer=%s: %s", c->peer, why);
      (void)bg_store_audit(s->store, bg__now_ms(), 0, 0, "", "refuse", c->peer, why);
      snprintf(c->reason, sizeof c->reason, "handshake refused: %.170s", why);
      c->flush_then_close = true;
      if (c->queued == 0) bg__close(c, NULL);
      else uv_timer_start(&c->timer, bg__on_timer, BG__LINGER_MS, 0);
      return;
    }
    if (again) return;
    if (!bg__start_session(c)) return;
    uv_timer_start(&c->timer, bg__on_timer, s->cfg.idle_timeout_ms, 0);
  }
  bg_err e = bg_tls_read(&c->tls, &c->plain);
  bool peer_closed = e == BG_E_CONNECTION_LOST;
  if (e != BG_OK && !peer_closed) {
    char why[200];
    bg_tls_reason(&c->tls, why, sizeof why);
    bg__close(c, why);
    return;
  }
  c->peer_closed |= peer_closed;
  /* Give the session one request at a time, while the answers fit. In a group
   * commit the connection is held: its answers wait in c->frames (bg__send_frames
   * keeps them) until the group is durable, and bg__on_commit sends them. */
  if (!c->held && c->plain.len > 0 && bg__group_join(s)) {
    c->held = true;
    c->held_next = s->held;
    s->held = c;
  }
  size_t off = 0;
  while (off < c->plain.len && !c->sess.done && c->queued + c->frames.len <= s->cfg.conn_buffer) {
    size_t used = 0;
    bg_err se = bg_session_input(&c->sess, c->plain.data + off, c->plain.len - off, &c->frames, &used);
    off += used;
    if (se != BG_OK) bg_log(BG_LOG_WARN, "session peer=%s: %s", c->peer, bg_err_name(se));
    if (!bg__send_frames(c)) return;
  }
  bg_buf_consume(&c->plain, off);
  if (c->held) return;
  bg__answered(c);
}

/* The session's answers may go: send them, end or go on reading. */
static void bg__answered(bg__conn *c) {
  bg_server *s = c->srv;
  if (c->closed || !bg__send_frames(c)) return;
  if (c->sess.done) {
    if (c->enrol && c->sess.outcome != BG_OK) bg__attempts_of(s, c->peer)->failures++;
    bg__finish(c);
    return;
  }
  if (c->peer_closed) {
    bg__close(c, "peer closed without BYE");
    return;
  }
  if (c->queued <= s->cfg.conn_buffer) bg__start_reading(c);
  else if (c->reading && uv_read_stop((uv_stream_t *)&c->tcp) == 0) c->reading = false;
}

/* --- group commit --------------------------------------------------------------------------------- */

/* The requests of one turn of the loop share one store transaction and one
 * sync of the disk (store.h, group commit): the first request of a turn opens
 * it, bg__on_commit - a check handle, run right after the turn's I/O callbacks
 * - commits it, and only then are the turn's answers sent. A request may also
 * arrive before the I/O phase (a write completing in the pending phase resumes
 * a connection's requests): an idle handle, active while the group is open,
 * keeps the loop from blocking in its poll before the check runs. If the group
 * cannot be opened, each request is its own transaction, as without groups. */
static void bg__on_nowait(uv_idle_t *h) { (void)h; }

static bool bg__group_join(bg_server *s) {
  if (bg_store_in_group(s->store)) return true;
  if (bg_store_group_begin(s->store) != BG_OK) {
    bg_log(BG_LOG_WARN, "store: %s (answering request by request)", bg_store_errmsg(s->store));
    return false;
  }
  int rc = uv_check_start(&s->commit, bg__on_commit);
  if (rc == 0 && (rc = uv_idle_start(&s->nowait, bg__on_nowait)) == 0) return true;
  bg_log(BG_LOG_ERROR, "libuv check and idle handles: %s", uv_strerror(rc));
  (void)uv_check_stop(&s->commit);
  (void)bg_store_group_commit(s->store); /* nothing in it yet */
  return false;
}

static void bg__on_commit(uv_check_t *h) {
  bg_server *s = h->data;
  (void)uv_check_stop(h);
  (void)uv_idle_stop(&s->nowait);
  bg_err r = bg_store_group_commit(s->store);
  char why[300] = "";
  if (r != BG_OK) {
    snprintf(why, sizeof why, "%s", bg_store_errmsg(s->store));
    bg_log(BG_LOG_ERROR, "store: %s: the requests of this moment are undone and their sessions end (%s)", why,
           bg_err_name(r));
  }
  bg__conn *list = s->held;
  s->held = NULL;
  for (bg__conn *c = list, *next; c; c = next) {
    next = c->held_next;
    c->held = false;
    c->held_next = NULL;
    if (c->closed) continue;
    if (r != BG_OK) {
      bg_buf_reset(&c->frames); /* answers about what was undone */
      bg_session_fail(&c->sess, &c->frames, r, why);
      c->reason[0] = 0; /* the log line gives the session's outcome: the store's failure */
    }
    bg__answered(c);
  }
}

static void bg__on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  bg_server *s = ((bg__conn *)h->data)->srv;
  if (s->rbuf_busy) { /* never while bg__on_read holds it; UV_ENOBUFS to the read callback */
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  s->rbuf_busy = true;
  *buf = uv_buf_init(s->rbuf, sizeof s->rbuf);
}

static void bg__on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  bg__conn *c = st->data;
  bg_server *s = c->srv;
  if (buf->base == s->rbuf) s->rbuf_busy = false;
  if (n == 0 || c->closed) return;
  if (n < 0) {
    bg__close(c, n == UV_EOF ? (c->has_session ? "peer closed without BYE" : "peer closed during the handshake")
                             : uv_strerror((int)n));
    return;
  }
  c->bytes_in += (uint64_t)n;
  if (c->tls.handshake_done) uv_timer_start(&c->timer, bg__on_timer, c->srv->cfg.idle_timeout_ms, 0);
  if (bg_tls_feed(&c->tls, (const uint8_t *)buf->base, (size_t)n) != BG_OK) {
    bg__close(c, "out of memory");
    return;
  }
  bg__pump(c);
  if (!c->closed && c->queued > c->srv->cfg.conn_buffer && c->reading) {
    uv_read_stop(st);
    c->reading = false;
  }
}


static void bg__on_timer(uv_timer_t *t) {
  bg__conn *c = t->data;
  if (c->closed) return;
  if (c->flush_then_close) {
    bg__close(c, c->reason[0] ? NULL : "the peer did not take its last frames in time");
    return;
  }
  if (!c->tls.handshake_done) {
    bg__close(c, "handshake timed out");
    return;
  }
  if (c->has_session && !c->sess.done) {
    bg_session_idle(&c->sess, &c->frames);
    snprintf(c->reason, sizeof c->reason, "idle timeout");
    if (bg__send_frames(c)) bg__finish(c);
  }
}

static void bg__on_connection(uv_stream_t *l, int status) {
  bg_server *s = l->data;
  if (status < 0) {
    bg_log(BG_LOG_WARN, "accept: %s", uv_strerror(status));
    return;
  }
  bg__conn *c = calloc(1, sizeof *c);
  if (c == NULL) return;
  c->srv = s;
  c->enrol = l == (uv_stream_t *)&s->lenrol;
  c->t0 = bg__now_ms();
  if (uv_tcp_init(s->loop, &c->tcp) != 0) {
    free(c);
    return;
  }
  c->tcp.data = c;
  c->handles_open = 1;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  if (uv_timer_init(s->loop, &c->timer) == 0) {
    c->timer.data = c;
    c->handles_open++;
  } else {
    uv_close((uv_handle_t *)&c->tcp, bg__on_handle_closed);
    return;
  }
  c->conf = c->enrol ? s->enrol_conf : s->sync_conf;
  c->conf->refs++;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
    bg__close(c, "accept failed");
    return;
  }
  struct sockaddr_storage sa;
  int salen = sizeof sa;
  snprintf(c->peer, sizeof c->peer, "?");
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) == 0) {
    char ip[46] = "?";
    int port = 0;
    if (sa.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
    }
    snprintf(c->peer, sizeof c->peer, sa.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port);
  }
  if (s->stopping || s->nconns > s->cfg.max_connections) {
    bg__close(c, s->stopping ? "shutting down" : "over max_connections");
    return;
  }
  (void)uv_tcp_nodelay(&c->tcp, 1);
  if (bg_tls_init(&c->tls, &c->conf->tls, NULL) != BG_OK) {
    bg__close(c, "TLS setup failed");
    return;
  }
  c->tls.out.limit = 0;
  uv_timer_start(&c->timer, bg__on_timer, s->cfg.handshake_timeout_ms, 0);
  bg__start_reading(c);
}

/* --- revocation while connected --------------------------------------------------------------- */

static void bg__on_poll(uv_timer_t *t) {
  bg_server *s = t->data;
  uint64_t v;
  if (bg_store_data_version(s->store, &v) != BG_OK || v == s->data_version) return;
  s->data_version = v;
  for (bg__conn *c = s->conns, *next; c; c = next) {
    next = c->next;
    if (c->closed || c->enrol || !c->has_session || c->sess.done || !c->sess.cert_device) continue;
    bg_device_row d;
    if (bg_store_device_get(s->store, c->sess.cert_device, &d) == BG_OK && d.revoked) {
      bg_session_revoked(&c->sess, &c->frames);
      snprintf(c->reason, sizeof c->reason, "device revoked while connected");
      if (bg__send_frames(c)) bg__finish(c);
    }
  }
}

/* Refuse, at the handshake, a device the store does not know or has revoked,
 * and a certificate that is no device certificate. mbedTLS checks the key
 * usage (digitalSignature) and extended key usage (clientAuth, when present)
 * of the peer's certificate, but not its basic constraints: a CA certificate
 * is never a device's, whatever subject it names. */
static int bg__verify(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags) {
  bg_server *s = arg;
  if (depth != 0) return 0;
  uint64_t device;
  char login[BG_ID_MAX + 1];
  bg_device_row d;
  if (crt->ca_istrue || bg_pki_device_of(crt, &device, login, sizeof login) != BG_OK ||
      bg_store_device_get(s->store, device, &d) != BG_OK || strcmp(d.login, login) != 0)
    *flags |= MBEDTLS_X509_BADCERT_NOT_TRUSTED;
  else if (d.revoked)
    *flags |= MBEDTLS_X509_BADCERT_REVOKED;
  return 0;
}

/* --- start, reload, stop -------------------------------------------------------------------------- */

static bg_err bg__read_file(const char *path, bg_buf *out, char *why, size_t whylen) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(why, whylen, "%.700s: cannot read it (is this the organisation directory made by bgctl init?)", path);
    return BG_E_CONFIG;
  }
  uint8_t chunk[4096];
  size_t n;
  bg_err e = BG_OK;
  while (e == BG_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0) e = bg_buf_append(out, chunk, n);
  fclose(f);
  if (e == BG_OK) e = bg_buf_append(out, "", 1); /* PEM parsers want the NUL */
  return e;
}

/* Load certificates and keys and make both TLS configurations. */
static bg_err bg__load_tls(bg_server *s, bg__conf **sync_out, bg__conf **enrol_out, char *why, size_t whylen) {
  char p[4][BG_PATH_MAX + 300];
  bg_config_path(s->home, s->cfg.ca_cert, p[0], sizeof p[0]);
  bg_config_path(s->home, s->cfg.ca_key, p[1], sizeof p[1]);
  bg_config_path(s->home, s->cfg.server_cert, p[2], sizeof p[2]);
  bg_config_path(s->home, s->cfg.server_key, p[3], sizeof p[3]);
  bg_buf f[4] = {BG_BUF_INIT, BG_BUF_INIT, BG_BUF_INIT, BG_BUF_INIT};
  bg_err e = BG_OK;
  for (int i = 0; i < 4 && e == BG_OK; i++) e = bg__read_file(p[i], &f[i], why, whylen);
  bg__conf *sc = NULL, *ec = NULL;
  if (e == BG_OK) {
    sc = calloc(1, sizeof *sc);
    ec = calloc(1, sizeof *ec);
    if (!sc || !ec) e = BG_E_NOMEM;
  }
  /* the server sends its chain up to the CA: a device enrolling checks the CA
   * against the fingerprint in its code (PROTOCOL.md 6e) */
  bg_buf chain = BG_BUF_INIT;
  if (e == BG_OK && f[2].len > 0) e = bg_buf_append(&chain, f[2].data, f[2].len - 1);
  if (e == BG_OK) e = bg_buf_append(&chain, f[0].data, f[0].len);
  if (e == BG_OK) {
    bg_tls_conf_opts o = {.server = true, .ca = f[0].data, .ca_len = f[0].len, .cert = chain.data,
                          .cert_len = chain.len, .key = f[3].data, .key_len = f[3].len, .require_peer_cert = true,
                          .verify = bg__verify, .verify_arg = s, .ticket_lifetime_s = s->cfg.ticket_lifetime_s};
    e = bg_tls_conf_init(&sc->tls, &o, &s->rng);
    if (e != BG_OK) snprintf(why, whylen, "%s", sc->tls.error);
    o.require_peer_cert = false;
    o.verify = NULL;
    if (e == BG_OK && (e = bg_tls_conf_init(&ec->tls, &o, &s->rng)) != BG_OK) snprintf(why, whylen, "%s", ec->tls.error);
  }
  /* the CA's key signs device certificates at enrolment */
  mbedtls_x509_crt ca;
  mbedtls_pk_context key;
  mbedtls_x509_crt_init(&ca);
  mbedtls_pk_init(&key);
  if (e == BG_OK && mbedtls_x509_crt_parse(&ca, f[0].data, f[0].len) != 0) {
    snprintf(why, whylen, "%.900s: not a PEM certificate", p[0]);
    e = BG_E_CONFIG;
  }
  if (e == BG_OK && mbedtls_pk_parse_key(&key, f[1].data, f[1].len, NULL, 0) != 0) {
    snprintf(why, whylen, "%.900s: not a PEM private key", p[1]);
    e = BG_E_CONFIG;
  }
  for (int i = 0; i < 4; i++) {
    if (f[i].data) mbedtls_platform_zeroize(f[i].data, f[i].cap);
    bg_buf_free(&f[i]);
  }
  bg_buf_free(&chain);
  if (e != BG_OK) {
    if (sc) bg_tls_conf_free(&sc->tls);
    if (ec) bg_tls_conf_free(&ec->tls);
    free(sc);
    free(ec);
    mbedtls_x509_crt_free(&ca);
    mbedtls_pk_free(&key);
    return e;
  }
  sc->refs = ec->refs = 1;
  *sync_out = sc;
  *enrol_out = ec;
  mbedtls_x509_crt_free(&s->ca);
  mbedtls_pk_free(&s->ca_key);
  s->ca = ca;
  s->ca_key = key;
  return BG_OK;
}

static void bg__on_listener_closed(uv_handle_t *h) { (void)h; }

static void bg__maybe_finish(bg_server *s) {
  if (s->stopping && s->nconns == 0) uv_stop(s->loop);
}

static void bg__stop(bg_server *s, const char *why) {
  if (s->stopping) return;
  s->stopping = true;
  bg_log(BG_LOG_INFO, "%s: finishing %u session(s) and stopping", why, s->nconns);
  uv_close((uv_handle_t *)&s->lsync, bg__on_listener_closed);
  uv_close((uv_handle_t *)&s->lenrol, bg__on_listener_closed);
  uv_timer_stop(&s->poll);
  for (bg__conn *c = s->conns, *next; c; c = next) {
    next = c->next;
    if (c->closed) continue;
    if (c->has_session && !c->sess.done) {
      bg_session_shutdown(&c->sess, &c->frames);
      snprintf(c->reason, sizeof c->reason, "shutting down");
      if (bg__send_frames(c)) bg__finish(c); /* held: after its group commits (bg__on_commit) */
    } else if (!c->flush_then_close && !c->held) {
      bg__close(c, "shutting down");
    }
  }
  bg__maybe_finish(s);
}

static void bg__on_signal(uv_signal_t *h, int signum) {
  bg_server *s = h->data;
  if (signum != SIGHUP) {
    bg__stop(s, signum == SIGINT ? "SIGINT" : "SIGTERM");
    return;
  }
  char why[512] = "";
  if (s->config_path) {
    bg_config c = s->cfg;
    bg_config fresh;
    bg_config_defaults(&fresh);
    if (bg_config_load(&fresh, s->config_path, why, sizeof why) != BG_OK) {
      bg_log(BG_LOG_ERROR, "SIGHUP: configuration not reloaded: %s", why);
      return;
    }
    /* what can change live: limits, timeouts, enrolment, logging, certificates */
    c.max_connections = fresh.max_connections;
    c.conn_buffer = fresh.conn_buffer;
    c.handshake_timeout_ms = fresh.handshake_timeout_ms;
    c.idle_timeout_ms = fresh.idle_timeout_ms;
    c.device_cert_days = fresh.device_cert_days;
    c.enrol_failures_per_minute = fresh.enrol_failures_per_minute;
    c.log_level = fresh.log_level;
    memcpy(c.ca_cert, fresh.ca_cert, sizeof c.ca_cert);
    memcpy(c.ca_key, fresh.ca_key, sizeof c.ca_key);
    memcpy(c.server_cert, fresh.server_cert, sizeof c.server_cert);
    memcpy(c.server_key, fresh.server_key, sizeof c.server_key);
    s->cfg = c;
    bg_log_level(c.log_level);
    s->env.device_cert_days = c.device_cert_days;
  }
  bg__conf *sc, *ec;
  if (bg__load_tls(s, &sc, &ec, why, sizeof why) != BG_OK) {
    bg_log(BG_LOG_ERROR, "SIGHUP: certificates not reloaded (the old ones stay in use): %s", why);
    return;
  }
  bg__conf_unref(s->sync_conf);
  bg__conf_unref(s->enrol_conf);
  s->sync_conf = sc;
  s->enrol_conf = ec;
  bg_log(BG_LOG_INFO, "SIGHUP: configuration and certificates reloaded");
}

static bg_err bg__listen(bg_server *s, uv_tcp_t *l, const char *addr, char *why, size_t whylen) {
  char host[256];
  int port;
  if (!bg_config_hostport(addr, host, sizeof host, &port)) {
    snprintf(why, whylen, "'%s' is not HOST:PORT", addr);
    return BG_E_CONFIG;
  }
  struct sockaddr_storage sa;
  int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa)
                             : uv_ip4_addr(host, port, (struct sockaddr_in *)&sa);
  if (rc != 0) {
    snprintf(why, whylen, "'%s': give an IP address (for example [::] or 127.0.0.1)", addr);
    return BG_E_CONFIG;
  }
  if ((rc = uv_tcp_init(s->loop, l)) == 0) {
    l->data = s;
    rc = uv_tcp_bind(l, (struct sockaddr *)&sa, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)l, 511, bg__on_connection);
  }
  if (rc != 0) {
    snprintf(why, whylen, "listening on %s: %s", addr, uv_strerror(rc));
    return BG_E_CONFIG;
  }
  return BG_OK;
}

int bg_server_run(const char *home, const bg_config *cfg, const char *config_path) {
  static bg_server srv;
  bg_server *s = &srv;
  memset(s, 0, sizeof *s);
  s->home = home;
  s->config_path = config_path;
  s->cfg = *cfg;
  s->loop = uv_default_loop();
  bg_log_level(cfg->log_level);
  mbedtls_x509_crt_init(&s->ca);
  mbedtls_pk_init(&s->ca_key);
  char why[1024] = "", path[BG_PATH_MAX + 300];
  int status = 1;
  bg_config_path(home, cfg->store, path, sizeof path);
  int pidfd = -1;
  bg_err e = bg_pidfile_hold(home, cfg->listen, cfg->enrol_listen, &pidfd, why, sizeof why);
  if (e == BG_OK && (e = bg_rng_init(&s->rng, "bgsyncd")) != BG_OK)
    snprintf(why, sizeof why, "no randomness from the operating system");
  if (e == BG_OK) e = bg_store_open(path, &s->store, why, sizeof why);
  if (e == BG_OK) e = bg__load_tls(s, &s->sync_conf, &s->enrol_conf, why, sizeof why);
  snprintf(s->software, sizeof s->software, "bgsyncd/%s", BG_VERSION);
  s->env = (bg_session_env){s->store, {0, 0}, bg__now_ms, cfg->max_frame, s->software, &s->rng, &s->ca, &s->ca_key,
                            cfg->device_cert_days};
  bg_hlc_init(&s->env.hlc, 0);
  if (e == BG_OK) e = bg__listen(s, &s->lsync, cfg->listen, why, sizeof why);
  if (e == BG_OK) e = bg__listen(s, &s->lenrol, cfg->enrol_listen, why, sizeof why);
  int rc = 0;
  if (e == BG_OK) {
    rc |= uv_signal_init(s->loop, &s->sigint) | uv_signal_init(s->loop, &s->sigterm) |
          uv_signal_init(s->loop, &s->sighup) | uv_timer_init(s->loop, &s->poll) | uv_check_init(s->loop, &s->commit) |
          uv_idle_init(s->loop, &s->nowait);
    s->sigint.data = s->sigterm.data = s->sighup.data = s->poll.data = s->commit.data = s->nowait.data = s;
    if (rc == 0)
      rc |= uv_signal_start(&s->sigint, bg__on_signal, SIGINT) | uv_signal_start(&s->sigterm, bg__on_signal, SIGTERM) |
            uv_signal_start(&s->sighup, bg__on_signal, SIGHUP) | uv_timer_start(&s->poll, bg__on_poll, 500, 500);
    if (rc != 0) {
      snprintf(why, sizeof why, "libuv signals and timers: %s", uv_strerror(rc));
      e = BG_E_INTERNAL;
    }
  }
  if (e == BG_OK) {
    (void)bg_store_data_version(s->store, &s->data_version);
    bg_log(BG_LOG_INFO, "bgsyncd %s serving %s: sync on %s, enrolment on %s, store %s", BG_VERSION,
           cfg->org[0] ? cfg->org : home, cfg->listen, cfg->enrol_listen, path);
    uv_run(s->loop, UV_RUN_DEFAULT);
    status = 0;
    bg_log(BG_LOG_INFO, "bgsyncd stopped");
  } else {
    bg_log(BG_LOG_ERROR, "cannot start: %s", why);
  }
  /* close what is left and let libuv release it */
  if (!uv_is_closing((uv_handle_t *)&s->sigint) && s->sigint.loop) uv_close((uv_handle_t *)&s->sigint, NULL);
  if (!uv_is_closing((uv_handle_t *)&s->sigterm) && s->sigterm.loop) uv_close((uv_handle_t *)&s->sigterm, NULL);
  if (!uv_is_closing((uv_handle_t *)&s->sighup) && s->sighup.loop) uv_close((uv_handle_t *)&s->sighup, NULL);
  if (!uv_is_closing((uv_handle_t *)&s->poll) && s->poll.loop) uv_close((uv_handle_t *)&s->poll, NULL);
  if (!uv_is_closing((uv_handle_t *)&s->commit) && s->commit.loop) uv_close((uv_handle_t *)&s->commit, NULL);
  if (!uv_is_closing((uv_handle_t *)&s->nowait) && s->nowait.loop) uv_close((uv_handle_t *)&s->nowait, NULL);
  if (s->lsync.loop && !uv_is_closing((uv_handle_t *)&s->lsync)) uv_close((uv_handle_t *)&s->lsync, NULL);
  if (s->lenrol.loop && !uv_is_closing((uv_handle_t *)&s->lenrol)) uv_close((uv_handle_t *)&s->lenrol, NULL);
  uv_run(s->loop, UV_RUN_DEFAULT);
  (void)uv_loop_close(s->loop);
  bg__conf_unref(s->sync_conf);
  bg__conf_unref(s->enrol_conf);
  mbedtls_x509_crt_free(&s->ca);
  mbedtls_pk_free(&s->ca_key);
  if (s->store && bg_store_group_commit(s->store) != BG_OK) /* none should be: each turn commits its own */
    bg_log(BG_LOG_ERROR, "store: %s", bg_store_errmsg(s->store));
  bg_store_close(s->store);
  bg_rng_free(&s->rng);
  bg_pidfile_release(home, pidfd);
  return status;
}
