/*
 * bgload - a load generator for bgsyncd: many devices over loopback TLS, in one
 * process and one libuv loop.
 *
 *   bgload [--active N] [--idle M] [--seconds S] [--think-ms T] [--per-user K]
 *          [--window W] [--keep]
 *
 * It makes its own organisation (bgctl init, then the store API), starts the
 * real bgsyncd as a child process on loopback with max_connections and
 * idle_timeout_ms raised, and then:
 *   1. opens M idle sessions (TLS handshake, HELLO/WELCOME, then silence) and
 *      reads the daemon's RSS before and after: RSS per idle connection;
 *   2. opens N active sessions; each device pulls until more = false, then
 *      loops for S seconds: PUSH 1-5 writes, wait for the ACK (push-to-ack
 *      latency), PULL until more = false, wait T ms, again;
 *   3. prints latency percentiles, pushes/s, writes/s, errors by kind and the
 *      daemon's RSS (bench_util.h's contract: one JSON line per figure, then a
 *      table with machine, build and revision).
 *
 * Devices are registered the way enrolment registers them (bg_store_code_add,
 * bg_store_code_use) but without N + M enrolment sessions: the tool signs each
 * device's certificate itself with the organisation's CA (subject CN=<device
 * id>,OU=<login>, as the daemon's enrolment makes it). All devices share one
 * key pair - keys are not what is measured, and one P-256 signature per device
 * instead of a key generation, a CSR and its check makes 11,000 certificates
 * take seconds. Every certificate is distinct and the daemon checks it at the
 * handshake against the store like any other.
 *
 * A writing device is made as the client library makes one: a merge engine over
 * an in-memory store applies what the device pulls and what it writes;
 * bg_engine_context_for fills in each write's causal context and the traject
 * position, the dot is the device's next counter. K devices (--per-user, 2)
 * share a user, its team and its one client, so pulls carry the other device's
 * writes and concurrent edits of the same fields occur.
 *
 * Not a test: nothing fails on a slow machine. The fd limit is raised as far as
 * the hard limit allows (the daemon inherits it); when connections can no
 * longer be opened, the tool says why and measures with what it reached.
 */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "bg_engine.h"
#include "bg_frame.h"
#include "bg_hlc.h"
#include "bg_kv.h"
#include "bg_msg.h"
#include "bg_pki.h"
#include "bg_schema.h"
#include "bg_tls.h"
#include "harness.h"
#include "store.h"

static const char *P = "bgload";


#define UV(call)                                                               \
  do {                                                                         \
    int rc_ = (call);                                                          \
    if (rc_ != 0) DIE("%s: %s (line %d)", #call, uv_strerror(rc_), __LINE__); \
  } while (0)

/* --- devices and connections ---------------------------------------------------------------- */

typedef struct ld_dev {
  uint64_t id, user;
  char login[24], client[16];
  bg_buf cert; /* PEM, NUL counted */
} ld_dev;

enum { ST_CONNECTING = 1, ST_HANDSHAKE, ST_HELLO, ST_PULLING, ST_PUSHING, ST_THINKING, ST_DONE };

typedef struct ld ld;

typedef struct ld_conn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_timer_t think;
  ld *L;
  ld_dev *dev;
  uint32_t idx;
  bool active, ready, failed, closing, counted;
  int state, handles;
  bg_tls_conf conf;
  bg_tls tls;
  bool has_conf, has_tls;
  bg_buf plain;
  /* an active device's replica */
  bg_memkv *mem;
  bg_engine eng;
  bg_hlc hlc;
  uint64_t counter, batch, cursor, rng;
  uint32_t proto;                /* chosen in WELCOME */
  uint32_t pushed_n;
  double t_push;
} ld_conn;

typedef struct ld_kind {
  char name[80];
  uint64_t n;
} ld_kind;

struct ld {
  uv_loop_t *loop;
  bg_rng rng;
  bgh_org org;
  bg_buf ca_pem, key_pem;
  ld_dev *devs;
  ld_conn **conns;
  uint32_t n_active, n_idle, per_user, window, think_ms;
  double seconds;
  /* opening: connections [next, target) of the current phase */
  uint32_t next, target, inflight, phase_ready, phase_failed;
  bool phase_stopped;
  char stop_reason[160];
  void (*phase_done)(ld *);
  uv_timer_t timer;
  /* measurement */
  bool measuring;
  double t_start, t_end;
  double *lat;
  size_t n_lat, cap_lat;
  uint64_t pushes, writes, pulls, pulled_writes, rejected;
  ld_kind kinds[48];
  size_t n_kinds;
  /* figures */
  long rss_before, rss_idle, rss_active, rss_end;
  uint32_t idle_reached, active_reached;
  double idle_open_s, active_open_s;
  char idle_stop[160];
};

static char g_rbuf[65536]; /* libuv reads into it and the bytes go to TLS at once */

static void ld_count(ld *L, const char *kind) {
  for (size_t i = 0; i < L->n_kinds; i++)
    if (strcmp(L->kinds[i].name, kind) == 0) {
      L->kinds[i].n++;
      return;
    }
  if (L->n_kinds == sizeof L->kinds / sizeof *L->kinds) return;
  snprintf(L->kinds[L->n_kinds].name, sizeof L->kinds[0].name, "%s", kind);
  L->kinds[L->n_kinds++].n = 1;
}

static uint64_t ld_errors(const ld *L) {
  uint64_t n = 0;
  for (size_t i = 0; i < L->n_kinds; i++) n += L->kinds[i].n;
  return n;
}

static void ld_open_more(ld *L);
static void ld_conn_ended(ld_conn *c);

/* --- sending ------------------------------------------------------------------------------------ */

typedef struct ld_wreq {
  uv_write_t req;
  ld_conn *c;
  uint8_t data[];
} ld_wreq;

static void ld_fail(ld_conn *c, const char *kind);

static void ld_on_written(uv_write_t *req, int status) {
  ld_wreq *w = (ld_wreq *)req;
  ld_conn *c = w->c;
  free(w);
  if (status < 0 && !c->closing) {
    char k[80];
    snprintf(k, sizeof k, "write: %s", uv_err_name(status));
    ld_fail(c, k);
  }
}

static bool ld_flush(ld_conn *c) {
  bg_buf *o = &c->tls.out;
  if (o->len == 0) return true;
  ld_wreq *w = malloc(sizeof *w + o->len);
  if (w == NULL) DIE("out of memory");
  w->c = c;
  memcpy(w->data, o->data, o->len);
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)o->len);
  bg_buf_reset(o);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, ld_on_written);
  if (rc < 0) {
    free(w);
    char k[80];
    snprintf(k, sizeof k, "write: %s", uv_err_name(rc));
    ld_fail(c, k);
    return false;
  }
  return true;
}

static bool ld_send(ld_conn *c, const bg_msg *m) {
  bg_buf b = BG_BUF_INIT;
  bg_err e = bg_msg_encode_frame(m, &b, 0);
  if (e == BG_OK) e = bg_tls_write(&c->tls, b.data, b.len);
  bg_buf_free(&b);
  if (e != BG_OK) {
    char k[80];
    snprintf(k, sizeof k, "encode/TLS write: %s", bg_err_name(e));
    ld_fail(c, k);
    return false;
  }
  return ld_flush(c);
}

/* --- closing ------------------------------------------------------------------------------------- */

static void ld_on_closed(uv_handle_t *h) {
  ld_conn *c = h->data;
  if (--c->handles > 0) return;
  if (c->has_tls) bg_tls_free(&c->tls);
  if (c->has_conf) bg_tls_conf_free(&c->conf);
  bg_buf_free(&c->plain);
  if (c->mem) {
    bg_engine_free(&c->eng);
    bg_memkv_free(c->mem);
  }
  c->L->conns[c->idx] = NULL;
  free(c);
}

static void ld_close(ld_conn *c) {
  if (c->closing) return;
  c->closing = true;
  if (c->handles == 0) { /* never opened a handle */
    c->handles = 1;
    ld_on_closed((uv_handle_t *)&c->tcp);
    return;
  }
  if (c->active && c->state != ST_CONNECTING) (void)uv_read_stop((uv_stream_t *)&c->tcp);
  uv_close((uv_handle_t *)&c->tcp, ld_on_closed);
  if (c->active) uv_close((uv_handle_t *)&c->think, ld_on_closed);
}

/* A connection ends with an error of `kind`: counted, closed; while opening,
 * the next one is started. */
static void ld_fail(ld_conn *c, const char *kind) {
  if (c->failed || c->closing) return;
  c->failed = true;
  ld_count(c->L, kind);
  ld_conn_ended(c);
  ld_close(c);
}

/* --- an active device's work ------------------------------------------------------------------------ */

static uint32_t ld_rand(ld_conn *c, uint32_t below) {
  c->rng = c->rng * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
  return (uint32_t)((c->rng >> 33) % below);
}

static void ld_pull(ld_conn *c) {
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_PULL;
  m.u.pull.cursor = c->cursor;
  c->state = ST_PULLING;
  (void)ld_send(c, &m);
}

/* 1-5 writes of the client's personalia (adres, telefoon, email), made and
 * applied as the client library makes them, and pushed. */
static void ld_push(ld_conn *c) {
  ld *L = c->L;
  enum { MAXW = 5 };
  static const uint32_t fields[] = {3, 4, 5};
  bg_write w[MAXW];
  char val[MAXW][64];
  uint32_t n = 1 + ld_rand(c, MAXW);
  memset(w, 0, sizeof w);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t f = fields[ld_rand(c, 3)];
    uint32_t x = ld_rand(c, 100000000);
    if (f == 3) snprintf(val[i], sizeof val[i], "Dorpsstraat %u, Utrecht", x % 500 + 1);
    else if (f == 4) snprintf(val[i], sizeof val[i], "06-%08u", x);
    else snprintf(val[i], sizeof val[i], "client%u@example.nl", x);
    w[i].client = bg_str_c(c->dev->client);
    w[i].rtype = BG_RT_CLIENT;
    w[i].rid = BG_STR("c");
    w[i].field = f;
    w[i].value = (bg_value){.type = BG_V_STR, .s = bg_str_c(val[i])};
    bg_err e = bg_engine_context_for(&c->eng, &w[i]);
    if (e != BG_OK) {
      for (uint32_t k = 0; k < i; k++) bg_vv_free(&w[k].ctx);
      char k[80];
      snprintf(k, sizeof k, "local context: %s", bg_err_name(e));
      ld_fail(c, k);
      return;
    }
    w[i].dot = (bg_dot){c->dev->id, ++c->counter};
    w[i].user = c->dev->user;
    w[i].role = BG_ROLE_BEGELEIDER;
    w[i].tb = true;
    w[i].hlc = bg_hlc_now(&c->hlc, bg_wall_ms());
    bg_apply_result res;
    e = bg_engine_apply(&c->eng, &w[i], &res);
    if (e != BG_OK) {
      char k[80];
      snprintf(k, sizeof k, "local apply: %s", bg_err_name(e));
      ld_count(L, k);
    }
  }
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_PUSH;
  m.u.push = (bg_msg_push){++c->batch, w, n, c->proto >= BG_PROTO_PACKED && bg_writes_pack_smaller(w, n)};
  c->state = ST_PUSHING;
  c->pushed_n = n;
  c->t_push = bench_now();
  (void)ld_send(c, &m);
  for (uint32_t i = 0; i < n; i++) bg_vv_free(&w[i].ctx);
}

static void ld_on_think(uv_timer_t *t) {
  ld_conn *c = t->data;
  if (!c->closing) ld_push(c);
}

/* A pull ended with more = false: the device is ready (the first time), then
 * waits its think time and pushes again. */
static void ld_cycle_done(ld_conn *c) {
  ld *L = c->L;
  if (!c->ready) {
    c->ready = true;
    ld_conn_ended(c);
  }
  if (L->phase_done == NULL && !L->measuring) { /* the run is over */
    c->state = ST_DONE;
    return;
  }
  c->state = ST_THINKING;
  if (L->think_ms == 0) {
    ld_push(c);
    return;
  }
  /* spread the first pushes over the think time */
  uint64_t wait = L->think_ms / 2 + ld_rand(c, L->think_ms);
  int rc = uv_timer_start(&c->think, ld_on_think, wait, 0);
  if (rc != 0) {
    char k[80];
    snprintf(k, sizeof k, "timer: %s", uv_err_name(rc));
    ld_fail(c, k);
  }
}

/* --- receiving --------------------------------------------------------------------------------------- */

static void ld_message(ld_conn *c, const bg_msg *m) {
  ld *L = c->L;
  char k[120];
  if (m->type == BG_MSG_ERROR) {
    snprintf(k, sizeof k, "server ERROR %s", bg_err_name((bg_err)m->u.error.code));
    ld_fail(c, k);
    return;
  }
  if (m->type == BG_MSG_BYE) {
    snprintf(k, sizeof k, "server BYE %s", bg_err_name((bg_err)m->u.bye.code));
    ld_fail(c, k);
    return;
  }
  switch (c->state) {
    case ST_HELLO:
      if (m->type != BG_MSG_WELCOME) break;
      c->proto = m->u.welcome.proto;
      if (!c->active) {
        c->ready = true;
        c->state = ST_DONE;
        ld_conn_ended(c);
        return;
      }
      c->cursor = 0;
      ld_pull(c);
      return;
    case ST_PULLING:
      if (m->type != BG_MSG_CHANGES) break;
      for (uint32_t i = 0; i < m->u.changes.n; i++) {
        bg_apply_result res;
        bg_err e = bg_engine_apply(&c->eng, &m->u.changes.writes[i], &res);
        if (e != BG_OK) {
          snprintf(k, sizeof k, "local apply of a pulled write: %s", bg_err_name(e));
          ld_count(L, k);
        }
      }
      if (L->measuring) {
        L->pulls++;
        L->pulled_writes += m->u.changes.n;
      }
      c->cursor = m->u.changes.next;
      if (m->u.changes.more) ld_pull(c);
      else ld_cycle_done(c);
      return;
    case ST_PUSHING:
      if (m->type != BG_MSG_ACK || m->u.ack.id != c->batch) break;
      if (L->measuring) {
        double lat = bench_now() - c->t_push;
        if (L->n_lat == L->cap_lat) {
          L->cap_lat = L->cap_lat ? 2 * L->cap_lat : 65536;
          if ((L->lat = realloc(L->lat, L->cap_lat * sizeof *L->lat)) == NULL) DIE("out of memory");
        }
        L->lat[L->n_lat++] = lat;
        L->pushes++;
        L->writes += c->pushed_n - m->u.ack.n_rejected;
      }
      L->rejected += m->u.ack.n_rejected;
      for (uint32_t i = 0; i < m->u.ack.n_rejected; i++) {
        snprintf(k, sizeof k, "write rejected: %s", bg_err_name((bg_err)m->u.ack.rejected[i].code));
        ld_count(L, k);
      }
      ld_pull(c);
      return;
    default: break;
  }
  snprintf(k, sizeof k, "unexpected %s", bg_msg_type_name((int)m->type));
  ld_fail(c, k);
}

static void ld_hello(ld_conn *c) {
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_HELLO;
  m.u.hello = (bg_msg_hello){BG_PROTO_VERSION_MIN, BG_PROTO_VERSION_MAX, BG_SCHEMA_VERSION, BG_STR("bgload/1"),
                             c->dev->id, 0};
  c->state = ST_HELLO;
  (void)ld_send(c, &m);
}

static void ld_pump(ld_conn *c) {
  if (!c->tls.handshake_done) {
    bool again;
    bg_err e = bg_tls_handshake(&c->tls, &again);
    if (!ld_flush(c)) return;
    if (e != BG_OK) {
      char why[200], k[120];
      bg_tls_reason(&c->tls, why, sizeof why);
      snprintf(k, sizeof k, "handshake: %.100s", why);
      ld_fail(c, k);
      return;
    }
    if (again) return;
    ld_hello(c);
    if (c->closing) return;
  }
  bg_err e = bg_tls_read(&c->tls, &c->plain);
  if (e == BG_E_CONNECTION_LOST) {
    ld_fail(c, "server closed the session (close_notify)");
    return;
  }
  if (e != BG_OK) {
    ld_fail(c, "TLS read failed");
    return;
  }
  while (c->plain.len >= 4 && !c->closing) {
    const uint8_t *p = c->plain.data;
    uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (len > BG_FRAME_MAX) {
      ld_fail(c, "frame too large");
      return;
    }
    if (c->plain.len < 4 + (size_t)len) break;
    bg_msg m;
    bg_msg_why why;
    e = bg_msg_decode(p + 4, len, &m, &why);
    if (e != BG_OK) {
      char k[120];
      snprintf(k, sizeof k, "undecodable frame: %s", bg_err_name(e));
      ld_fail(c, k);
      return;
    }
    ld_message(c, &m);
    bg_msg_free(&m);
    if (!c->closing) bg_buf_consume(&c->plain, 4 + (size_t)len);
  }
}

static void ld_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(g_rbuf, sizeof g_rbuf);
}

static void ld_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  ld_conn *c = st->data;
  (void)buf;
  if (n == 0 || c->closing) return;
  if (n < 0) {
    char k[80];
    snprintf(k, sizeof k, "connection lost: %s", uv_err_name((int)n));
    ld_fail(c, k);
    return;
  }
  if (bg_tls_feed(&c->tls, (const uint8_t *)g_rbuf, (size_t)n) != BG_OK) DIE("out of memory");
  ld_pump(c);
}

static void ld_on_connect(uv_connect_t *req, int status) {
  ld_conn *c = req->data;
  if (c->closing) return;
  if (status < 0) {
    char k[80];
    snprintf(k, sizeof k, "connect: %s", uv_err_name(status));
    ld_fail(c, k);
    return;
  }
  c->state = ST_HANDSHAKE;
  int rc = uv_read_start((uv_stream_t *)&c->tcp, ld_on_alloc, ld_on_read);
  if (rc != 0) {
    char k[80];
    snprintf(k, sizeof k, "read: %s", uv_err_name(rc));
    ld_fail(c, k);
    return;
  }
  ld_pump(c); /* the ClientHello */
}

/* --- opening connections, phase by phase ------------------------------------------------------------------ */

/* The connection is ready or failed: one fewer in flight; open the next. */
static void ld_conn_ended(ld_conn *c) {
  ld *L = c->L;
  if (c->counted || L->phase_done == NULL) return;
  c->counted = true;
  if (c->ready && !c->failed) L->phase_ready++;
  else L->phase_failed++;
  L->inflight--;
  ld_open_more(L);
}

static bool ld_open(ld *L, uint32_t i) {
  bool active = i < L->n_active;
  ld_dev *d = &L->devs[i];
  ld_conn *c = calloc(1, sizeof *c);
  if (c == NULL) DIE("out of memory");
  L->conns[i] = c;
  c->idx = i;
  c->L = L;
  c->dev = d;
  c->active = active;
  c->state = ST_CONNECTING;
  c->rng = d->id * UINT64_C(0x9E3779B97F4A7C15) + 1;
  bg_tls_conf_opts o = {.ca = L->ca_pem.data, .ca_len = L->ca_pem.len, .cert = d->cert.data,
                        .cert_len = d->cert.len, .key = L->key_pem.data, .key_len = L->key_pem.len};
  OK(bg_tls_conf_init(&c->conf, &o, &L->rng));
  c->has_conf = true;
  OK(bg_tls_init(&c->tls, &c->conf, "localhost"));
  c->has_tls = true;
  if (active) {
    if ((c->mem = bg_memkv_new()) == NULL) DIE("out of memory");
    OK(bg_engine_init(&c->eng, bg_memkv_kv(c->mem)));
    bg_hlc_init(&c->hlc, 0);
    UV(uv_timer_init(L->loop, &c->think));
    c->think.data = c;
    c->handles++;
  }
  UV(uv_tcp_init(L->loop, &c->tcp));
  c->tcp.data = c;
  c->handles++;
  struct sockaddr_in sa;
  UV(uv_ip4_addr("127.0.0.1", L->org.port, &sa));
  c->creq.data = c;
  int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&sa, ld_on_connect);
  if (rc != 0) {
    /* no socket: the fd limit (EMFILE), or the kernel's (ENFILE, ENOBUFS) */
    snprintf(L->stop_reason, sizeof L->stop_reason, "connect: %s (%s)", uv_err_name(rc), uv_strerror(rc));
    ld_count(L, L->stop_reason);
    L->phase_stopped = true;
    c->failed = true;
    ld_close(c);
    return false;
  }
  (void)uv_tcp_nodelay(&c->tcp, 1);
  return true;
}

static void ld_open_more(ld *L) {
  while (!L->phase_stopped && L->next < L->target && L->inflight < L->window) {
    uint32_t i = L->next++;
    L->inflight++;
    if (!ld_open(L, i)) {
      L->inflight--;
      break;
    }
  }
  if (L->inflight == 0 && (L->next >= L->target || L->phase_stopped) && L->phase_done) {
    void (*done)(ld *) = L->phase_done;
    L->phase_done = NULL;
    done(L);
  }
}

static void ld_phase(ld *L, uint32_t from, uint32_t to, void (*done)(ld *)) {
  L->next = from;
  L->target = to;
  L->inflight = L->phase_ready = L->phase_failed = 0;
  L->phase_stopped = false;
  L->stop_reason[0] = 0;
  L->phase_done = done;
  ld_open_more(L);
}

/* --- the run's phases ---------------------------------------------------------------------------------- */

static double g_phase_t0;

static void ld_end(uv_timer_t *t);
static void ld_active_opened(ld *L);

static void ld_after_settle(uv_timer_t *t) {
  ld *L = t->data;
  L->rss_idle = bgh_daemon_rss_kb(&L->org);
  g_phase_t0 = bench_now();
  ld_phase(L, 0, L->n_active, ld_active_opened);
}

static void ld_idle_opened(ld *L) {
  L->idle_reached = L->phase_ready;
  L->idle_open_s = bench_now() - g_phase_t0;
  snprintf(L->idle_stop, sizeof L->idle_stop, "%s", L->stop_reason);
  fprintf(stderr, "bgload: %u of %u idle sessions open in %.1f s%s%s\n", L->idle_reached, L->n_idle, L->idle_open_s,
          L->stop_reason[0] ? "; stopped: " : "", L->stop_reason);
  /* let the daemon's allocator settle before reading its RSS */
  UV(uv_timer_start(&L->timer, ld_after_settle, 1000, 0));
}

static void ld_active_opened(ld *L) {
  L->active_reached = L->phase_ready;
  L->active_open_s = bench_now() - g_phase_t0;
  fprintf(stderr, "bgload: %u of %u active devices synced in %.1f s; measuring for %.0f s\n", L->active_reached,
          L->n_active, L->active_open_s, L->seconds);
  L->rss_active = bgh_daemon_rss_kb(&L->org);
  L->measuring = true;
  L->t_start = bench_now();
  UV(uv_timer_start(&L->timer, ld_end, (uint64_t)(L->seconds * 1000), 0));
}

static void ld_end(uv_timer_t *t) {
  ld *L = t->data;
  L->measuring = false;
  L->t_end = bench_now();
  L->rss_end = bgh_daemon_rss_kb(&L->org);
  /* uv_run returns once every handle is closed */
  uv_close((uv_handle_t *)&L->timer, NULL);
  for (uint32_t i = 0; i < L->n_active + L->n_idle; i++)
    if (L->conns[i]) ld_close(L->conns[i]);
}

/* --- the organisation and its devices ------------------------------------------------------------------- */

static void ld_read_file(const char *path, bg_buf *out) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) DIE("%s: %s", path, strerror(errno));
  uint8_t chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) OK(bg_buf_append(out, chunk, n));
  if (ferror(f)) DIE("%s: read error", path);
  fclose(f);
  OK(bg_buf_append(out, "", 1));
}

/* Users (K devices each, one client and one team each: a begeleider sees the
 * clients of the team, so one shared team would send every write to every
 * device) for the active devices, one user for the idle ones; every device registered as enrolment registers it and given a
 * certificate signed by the organisation's CA. */
static void ld_setup(ld *L) {
  char path[200], why[512] = "";
  snprintf(path, sizeof path, "%s/store.db", L->org.home);
  bg_store *s;
  if (bg_store_open(path, &s, why, sizeof why) != BG_OK) DIE("store: %s", why);
  int64_t now = (int64_t)bg_wall_ms();
  OK(bg_store_team_add(s, "load", now));
  uint32_t n = L->n_active + L->n_idle;
  uint32_t users = (L->n_active + L->per_user - 1) / L->per_user;
  uint64_t idle_user = 0;
  OK(bg_store_user_add(s, "idle", BG_ROLE_BEGELEIDER, "load", now, &idle_user));
  uint64_t *uid = calloc(users + 1, sizeof *uid);
  if (uid == NULL) DIE("out of memory");
  for (uint32_t u = 0; u < users; u++) {
    char login[24], client[16], team[24];
    snprintf(login, sizeof login, "u%05u", u);
    snprintf(client, sizeof client, "c-%05u", u);
    snprintf(team, sizeof team, "t%05u", u);
    OK(bg_store_team_add(s, team, now));
    OK(bg_store_user_add(s, login, BG_ROLE_BEGELEIDER, team, now, &uid[u]));
    OK(bg_store_client_add(s, client, team, login, now));
  }
  double t0 = bench_now();
  for (uint32_t i = 0; i < n; i++) {
    ld_dev *d = &L->devs[i];
    if (i < L->n_active) {
      uint32_t u = i / L->per_user;
      snprintf(d->login, sizeof d->login, "u%05u", u);
      snprintf(d->client, sizeof d->client, "c-%05u", u);
      d->user = uid[u];
    } else {
      snprintf(d->login, sizeof d->login, "idle");
      d->user = idle_user;
    }
    char id[40];
    uint8_t hash[32] = {0};
    uint64_t user;
    snprintf(id, sizeof id, "bgload-%u", i);
    OK(bg_store_code_add(s, id, hash, d->user, now, now + 3600000));
    OK(bg_store_code_use(s, id, hash, "bgload device", now, &d->id, &user));
    if (user != d->user) DIE("code %s registered a device of user %" PRIu64 ", not %" PRIu64, id, user, d->user);
  }
  double t_reg = bench_now() - t0;
  bg_store_close(s);
  free(uid);

  /* the certificates: the CA's key signs each device's, over one shared key */
  bg_buf cakey = BG_BUF_INIT;
  snprintf(path, sizeof path, "%s/ca.crt", L->org.home);
  ld_read_file(path, &L->ca_pem);
  snprintf(path, sizeof path, "%s/ca.key", L->org.home);
  ld_read_file(path, &cakey);
  mbedtls_x509_crt ca;
  mbedtls_pk_context ca_key, key;
  mbedtls_x509_crt_init(&ca);
  mbedtls_pk_init(&ca_key);
  mbedtls_pk_init(&key);
  if (mbedtls_x509_crt_parse(&ca, L->ca_pem.data, L->ca_pem.len) != 0) DIE("ca.crt: not a PEM certificate");
  if (mbedtls_pk_parse_key(&ca_key, cakey.data, cakey.len, NULL, 0) != 0) DIE("ca.key: not a PEM key");
  OK(bg_pki_key_new(&L->rng, &key));
  OK(bg_pki_key_pem(&key, &L->key_pem));
  t0 = bench_now();
  for (uint32_t i = 0; i < n; i++) {
    ld_dev *d = &L->devs[i];
    char subject[80];
    snprintf(subject, sizeof subject, "CN=%" PRIu64 ",OU=%s", d->id, d->login);
    bg_pki_cert c = {subject, d->id, now / 1000 - 300, now / 1000 + 7 * 86400, false};
    bg_buf der = BG_BUF_INIT;
    OK(bg_pki_issue(&L->rng, &key, &ca, &ca_key, &c, &der));
    OK(bg_pki_cert_pem(der.data, der.len, &d->cert));
    bg_buf_free(&der);
  }
  double t_cert = bench_now() - t0;
  mbedtls_platform_zeroize(cakey.data, cakey.cap);
  bg_buf_free(&cakey);
  mbedtls_x509_crt_free(&ca);
  mbedtls_pk_free(&ca_key);
  mbedtls_pk_free(&key);
  fprintf(stderr, "bgload: %u devices registered in %.1f s, certificates signed in %.1f s\n", n, t_reg, t_cert);
}

/* --- figures ---------------------------------------------------------------------------------------------- */

static int ld_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double ld_pct(const double *v, size_t n, double p) {
  if (n == 0) return 0;
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}

static void ld_report(ld *L, long fd_limit) {
  double secs = L->t_end - L->t_start;
  qsort(L->lat, L->n_lat, sizeof *L->lat, ld_cmp);
  double p50 = ld_pct(L->lat, L->n_lat, 0.50) * 1e3, p90 = ld_pct(L->lat, L->n_lat, 0.90) * 1e3,
         p99 = ld_pct(L->lat, L->n_lat, 0.99) * 1e3, mx = L->n_lat ? L->lat[L->n_lat - 1] * 1e3 : 0;
  double per_idle = L->idle_reached ? (double)(L->rss_idle - L->rss_before) / (double)L->idle_reached : 0;
  char f[96];
  uint32_t a = L->n_active;
#define FIG(name, value, unit)                              \
  do {                                                      \
    snprintf(f, sizeof f, "active_%u_" name, a);            \
    bench_figure(P, f, (double)(value), unit, -1);          \
  } while (0)
  bench_figure(P, "fd_limit", (double)fd_limit, "fds", -1);
  bench_figure(P, "idle_connections_asked", L->n_idle, "connections", -1);
  bench_figure(P, "idle_connections_reached", L->idle_reached, "connections", -1);
  bench_figure(P, "idle_open_per_s", L->idle_open_s > 0 ? L->idle_reached / L->idle_open_s : 0, "connections/s", -1);
  bench_figure(P, "daemon_rss_before_kib", (double)L->rss_before, "KiB", -1);
  bench_figure(P, "daemon_rss_idle_kib", (double)L->rss_idle, "KiB", -1);
  bench_figure(P, "daemon_rss_per_idle_connection_kib", per_idle, "KiB", -1);
  FIG("devices_reached", L->active_reached, "devices");
  FIG("think_ms", L->think_ms, "ms");
  FIG("push_ack_p50_ms", p50, "ms");
  FIG("push_ack_p90_ms", p90, "ms");
  FIG("push_ack_p99_ms", p99, "ms");
  FIG("push_ack_max_ms", mx, "ms");
  FIG("pushes_per_s", (double)L->pushes / secs, "pushes/s");
  FIG("writes_per_s", (double)L->writes / secs, "writes/s");
  FIG("pulls_per_s", (double)L->pulls / secs, "pulls/s");
  FIG("pulled_writes_per_s", (double)L->pulled_writes / secs, "writes/s");
  FIG("rejected_writes", L->rejected, "writes");
  FIG("errors", ld_errors(L), "errors");
  FIG("daemon_rss_end_kib", L->rss_end, "KiB");
#undef FIG
  printf("\nbgload: %u active devices (%u per user, think %u ms) for %.1f s, %u idle sessions; fd limit %ld\n",
         L->n_active, L->per_user, L->think_ms, secs, L->n_idle, fd_limit);
  printf("  %-34s %12s\n", "figure", "value");
  printf("  %-34s %12u  of %u%s%s\n", "idle sessions open", L->idle_reached, L->n_idle,
         L->idle_stop[0] ? "; stopped: " : "", L->idle_stop);
  printf("  %-34s %12.0f  (%.1f s)\n", "idle sessions opened per s", L->idle_open_s > 0 ? L->idle_reached / L->idle_open_s : 0,
         L->idle_open_s);
  printf("  %-34s %12ld KiB\n", "daemon RSS before", L->rss_before);
  printf("  %-34s %12ld KiB\n", "daemon RSS with the idle sessions", L->rss_idle);
  printf("  %-34s %12.1f KiB  (target <= 64: %s)\n", "daemon RSS per idle session", per_idle,
         L->idle_reached == 0 ? "not measured" : per_idle <= 64 ? "met" : "NOT met");
  printf("  %-34s %12u  of %u\n", "active devices synced", L->active_reached, L->n_active);
  printf("  %-34s %12.1f ms\n", "push-to-ack p50", p50);
  printf("  %-34s %12.1f ms\n", "push-to-ack p90", p90);
  printf("  %-34s %12.1f ms  (target <= 100 at 1,000 active on 2 cores)\n", "push-to-ack p99", p99);
  printf("  %-34s %12.1f ms\n", "push-to-ack max", mx);
  printf("  %-34s %12.0f\n", "pushes/s", (double)L->pushes / secs);
  printf("  %-34s %12.0f\n", "writes/s (accepted)", (double)L->writes / secs);
  printf("  %-34s %12.0f  (%.0f writes/s pulled)\n", "pulls/s", (double)L->pulls / secs,
         (double)L->pulled_writes / secs);
  printf("  %-34s %12" PRIu64 "\n", "rejected writes", L->rejected);
  printf("  %-34s %12ld KiB\n", "daemon RSS at the end", L->rss_end);
  printf("  errors by kind: %s\n", L->n_kinds ? "" : "none");
  for (size_t i = 0; i < L->n_kinds; i++) printf("    %8" PRIu64 "  %s\n", L->kinds[i].n, L->kinds[i].name);
}

/* --- main ---------------------------------------------------------------------------------------------------- */

static long ld_raise_nofile(void) {
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return -1;
  r.rlim_cur = r.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &r) != 0) fprintf(stderr, "bgload: setrlimit: %s\n", strerror(errno));
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return -1;
  return (long)r.rlim_cur;
}

static void usage(void) {
  fprintf(stderr,
          "usage: bgload [--active N] [--idle M] [--seconds S] [--think-ms T] [--per-user K] [--window W] [--keep]\n"
          "  N active devices (default 100) push 1-5 writes, wait for the ACK, pull, wait T ms (default 0),\n"
          "  for S seconds (default 10), while M idle sessions (default 1000) stay open; K active devices\n"
          "  share a user and a client (default 2); W handshakes at once (default 64).\n");
}

/* A whole number for an option; false for anything else. */
static bool ld_number(const char *s, uint32_t *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v > UINT32_MAX) return false;
  *out = (uint32_t)v;
  return true;
}

int main(int argc, char **argv) {
  static ld L;
  L.n_active = 100;
  L.n_idle = 1000;
  L.seconds = 10;
  L.per_user = 2;
  L.window = 64;
  bool keep = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool has = i + 1 < argc, ok = true;
    if (strcmp(a, "--active") == 0 && has) ok = ld_number(argv[++i], &L.n_active);
    else if (strcmp(a, "--idle") == 0 && has) ok = ld_number(argv[++i], &L.n_idle);
    else if (strcmp(a, "--seconds") == 0 && has) {
      char *end;
      L.seconds = strtod(argv[++i], &end);
      ok = end != argv[i] && *end == 0;
    } else if (strcmp(a, "--think-ms") == 0 && has) ok = ld_number(argv[++i], &L.think_ms);
    else if (strcmp(a, "--per-user") == 0 && has) ok = ld_number(argv[++i], &L.per_user);
    else if (strcmp(a, "--window") == 0 && has) ok = ld_number(argv[++i], &L.window);
    else if (strcmp(a, "--keep") == 0) keep = true;
    else {
      usage();
      return 2;
    }
    if (!ok) {
      fprintf(stderr, "bgload: %s takes a number, not '%s'\n", a, argv[i]);
      return 2;
    }
  }
  if (L.per_user == 0 || L.window == 0 || L.seconds <= 0 || L.n_active + L.n_idle == 0) {
    usage();
    return 2;
  }
  bench_header(P);
  signal(SIGPIPE, SIG_IGN);
  long fd_limit = ld_raise_nofile(); /* before the daemon starts: it inherits the limit */
  fprintf(stderr, "bgload: fd limit %ld\n", fd_limit);

  OK(bg_rng_init(&L.rng, "bgload"));
  uint32_t n = L.n_active + L.n_idle;
  L.devs = calloc(n, sizeof *L.devs);
  L.conns = calloc(n, sizeof *L.conns);
  if (L.devs == NULL || L.conns == NULL) DIE("out of memory");
  char conf[256];
  snprintf(conf, sizeof conf,
           "log_level = warn\nmax_connections = %u\nidle_timeout_ms = 86400000\nhandshake_timeout_ms = 120000",
           n + 64);
  if (bgh_org_init(&L.org, "load", 27000, conf) != 0) DIE("bgctl init failed");
  ld_setup(&L);
  if (bgh_daemon_start(&L.org) != 0) DIE("bgsyncd did not start");
  bgh_sleep_ms(500);
  L.rss_before = bgh_daemon_rss_kb(&L.org);

  L.loop = uv_default_loop();
  UV(uv_timer_init(L.loop, &L.timer));
  L.timer.data = &L;
  g_phase_t0 = bench_now();
  if (L.n_idle) {
    ld_phase(&L, L.n_active, n, ld_idle_opened);
  } else {
    L.rss_idle = L.rss_before;
    ld_phase(&L, 0, L.n_active, ld_active_opened);
  }
  (void)uv_run(L.loop, UV_RUN_DEFAULT); /* returns when nothing is left open */
  ld_report(&L, fd_limit);

  bgh_daemon_stop(&L.org, SIGTERM);
  UV(uv_loop_close(L.loop));
  for (uint32_t i = 0; i < n; i++) bg_buf_free(&L.devs[i].cert);
  free(L.devs);
  free(L.conns);
  free(L.lat);
  bg_buf_free(&L.ca_pem);
  bg_buf_free(&L.key_pem);
  bg_rng_free(&L.rng);
  if (!keep) bgh_org_remove(&L.org, 1);
  else printf("kept %s (daemon log %s.log)\n", L.org.home, L.org.home);
  return 0;
}
