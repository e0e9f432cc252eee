/*
 * bgproxy - a fault-injecting TCP proxy for tests.
 *
 * Listens on a loopback port; for each accepted connection it connects to the
 * target and forwards bytes both ways, unchanged (it does not understand TLS:
 * it forwards ciphertext). One fault per connection, at a byte offset counted
 * in one direction (up = client to server, down = server to client):
 *   close  forward exactly N bytes in that direction, then close both sides;
 *   stall  forward N bytes, then stop reading that side (TCP backpressure
 *          builds) until the peer gives up and closes;
 *   delay  from byte N on, hold every chunk of that direction MS milliseconds
 *          before forwarding it (order kept).
 * --connections K applies the fault to the first K connections only.
 *
 * Memory is bounded: a side is not read while more than BGP_QUEUE_MAX bytes
 * wait to be written toward the other. Half-close is forwarded: EOF from one
 * side shuts down the write side toward the other, and the other direction
 * goes on until it ends too. Not a general-purpose proxy: one target, no
 * TLS, no protocol knowledge.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <uv.h>

#ifndef BG_VERSION
#define BG_VERSION "0.0.0"
#endif

#define BGP_QUEUE_MAX (1u << 20) /* bytes queued toward one side before its source is no longer read */
#define BGP_LINGER_MS 5000       /* a cut waits at most this long for its last bytes to be taken */
#define BGP_READ_MAX 65536

static void usage(FILE *f) {
  fputs("usage: bgproxy --listen PORT --to HOST:PORT [--fault close|stall|delay] [--dir up|down]\n"
        "               [--at N] [--delay-ms MS] [--connections K] [--port-file FILE]\n"
        "       bgproxy --help | --version\n"
        "\n"
        "A TCP proxy for tests that injects one fault per connection. Listens on\n"
        "127.0.0.1:PORT, connects each accepted connection to HOST:PORT and forwards\n"
        "the bytes both ways unchanged (TLS passes through as ciphertext).\n"
        "\n"
        "  --listen PORT      port on 127.0.0.1; 0 picks a free one\n"
        "  --to HOST:PORT     the target (a name, an IPv4 address or [IPv6])\n"
        "  --fault F          close: after N bytes in direction DIR, close both sides\n"
        "                     stall: after N bytes in DIR, stop reading that side until\n"
        "                            the peer gives up and closes\n"
        "                     delay: from byte N on, hold each chunk in DIR MS ms\n"
        "                     (default: no fault, plain forwarding)\n"
        "  --dir up|down      up = client to server (default), down = server to client\n"
        "  --at N             the byte offset in DIR where the fault starts (default 0;\n"
        "                     close and stall at 0 act as soon as both sides connect)\n"
        "  --delay-ms MS      the hold of --fault delay (default 100)\n"
        "  --connections K    fault only the first K connections, forward later ones\n"
        "                     cleanly (default: every connection)\n"
        "  --port-file FILE   once listening, write the port and a newline to FILE\n"
        "                     (atomically: FILE.tmp, then renamed)\n"
        "\n"
        "Logs to stderr: one line when listening, one per connection when it ends\n"
        "(bytes forwarded up and down, whether the fault fired). SIGINT and SIGTERM\n"
        "close everything and exit 0.\n"
        "\n"
        "Exit status: 0 stopped by a signal, 1 could not start, 2 usage error.\n"
        "\n"
        "Example: cut the first sync after 300 bytes from the device, let the next pass:\n"
        "  bgproxy --listen 0 --port-file /tmp/p.port --to 127.0.0.1:7443 \\\n"
        "          --fault close --dir up --at 300 --connections 1\n",
        f);
}

/* --- the configuration ------------------------------------------------------------------ */

typedef enum { BGP_NONE, BGP_CLOSE, BGP_STALL, BGP_DELAY } bgp_fault;
static const char *const bgp_fault_names[] = {"none", "close", "stall", "delay"};

typedef struct bgp_opts {
  int listen_port;
  const char *to;
  bgp_fault fault;
  int dir; /* 0 up, 1 down */
  uint64_t at;
  uint64_t delay_ms;
  uint64_t connections; /* UINT64_MAX: all */
  const char *port_file;
} bgp_opts;

/* --- connections ------------------------------------------------------------------------- */

typedef struct bgp_conn bgp_conn;

/* A chunk read from one side: queued for its delay, then written to the other. */
typedef struct bgp_chunk {
  uv_write_t req;
  struct bgp_chunk *next;
  struct bgp_flow *flow;
  uint64_t due; /* loop time (ms) it may be written */
  size_t len;
  char data[];
} bgp_chunk;

#define BGP_CHUNK_COST(len) (sizeof(bgp_chunk) + (len)) /* what a chunk counts against BGP_QUEUE_MAX */

/* One direction of a connection: bytes read from `src`, written to `dst`. */
typedef struct bgp_flow {
  bgp_conn *c;
  uv_tcp_t *src, *dst;
  const char *name; /* "up" or "down" */
  bool faulty;      /* this connection's fault is in this direction */
  bool fired;       /* the fault took effect */
  uint64_t accepted; /* bytes taken for forwarding (handed to libuv or delayed) */
  uint64_t written;  /* bytes libuv reports written to dst */
  uint64_t held;     /* bytes read past a stall's offset, never forwarded */
  size_t queued;     /* cost of chunks delayed or being written */
  bgp_chunk *head, *tail; /* the delay queue */
  uv_timer_t timer;  /* the delay queue's head is due */
  uv_shutdown_t shut;
  bool reading, eof, shutting, shut_done;
  char rbuf[BGP_READ_MAX];
} bgp_flow;

struct bgp_conn {
  uint64_t id;
  const bgp_opts *o;
  bgp_conn *prev, *next;
  uv_tcp_t client, server;
  uv_connect_t connect;
  uv_timer_t linger;
  bgp_flow up, down;
  bool connected, cut, closing;
  int handles_open;
  unsigned writes; /* uv_write requests in flight, both directions */
  char peer[64];
  char reason[160];
};

typedef struct bgp_proxy {
  uv_loop_t *loop;
  bgp_opts o;
  struct sockaddr_storage target;
  uv_tcp_t listener;
  uv_signal_t sigint, sigterm;
  bgp_conn *conns;
  uint64_t accepted;
  bool stopping;
} bgp_proxy;

static bgp_proxy g_proxy;

static void bgp__update_reading(bgp_flow *f);

/* Called as each of a connection's handles is closed; the last one frees it. */
static void bgp__handle_gone(bgp_conn *c) {
  if (--c->handles_open > 0) return;
  if (c->prev) c->prev->next = c->next;
  else g_proxy.conns = c->next;
  if (c->next) c->next->prev = c->prev;
  bgp_flow *flows[2] = {&c->up, &c->down};
  for (int i = 0; i < 2; i++) {
    for (bgp_chunk *k = flows[i]->head, *next; k; k = next) {
      next = k->next;
      free(k);
    }
  }
  free(c);
}

static void bgp__on_handle_closed(uv_handle_t *h) { bgp__handle_gone(h->data); }
static void bgp__on_timer_closed(uv_handle_t *h) { bgp__handle_gone(((bgp_flow *)h->data)->c); }

static void bgp__fault_text(const bgp_conn *c, char *out, size_t outlen) {
  const bgp_flow *f = c->up.faulty ? &c->up : c->down.faulty ? &c->down : NULL;
  if (f == NULL) {
    snprintf(out, outlen, "%s", c->o->fault == BGP_NONE ? "no fault" : "no fault (past --connections)");
    return;
  }
  int n = snprintf(out, outlen, "fault %s %s at %" PRIu64 " %s", bgp_fault_names[c->o->fault], f->name, c->o->at,
                   f->fired ? "fired" : "not reached");
  if (f->held && n > 0 && (size_t)n < outlen)
    snprintf(out + n, outlen - (size_t)n, " (%" PRIu64 " bytes read past it held back)", f->held);
}

/* Log the connection's line and close its handles; pending writes are cancelled. */
static void bgp__close(bgp_conn *c, const char *why) {
  if (c->closing) return;
  c->closing = true;
  if (why && !c->reason[0]) snprintf(c->reason, sizeof c->reason, "%s", why);
  char fault[160];
  bgp__fault_text(c, fault, sizeof fault);
  fprintf(stderr, "bgproxy: connection %" PRIu64 " from %s: up %" PRIu64 " bytes, down %" PRIu64 " bytes, %s; %s\n",
          c->id, c->peer, c->up.written, c->down.written, fault, c->reason[0] ? c->reason : "ended");
  uv_close((uv_handle_t *)&c->client, bgp__on_handle_closed);
  uv_close((uv_handle_t *)&c->server, bgp__on_handle_closed);
  uv_close((uv_handle_t *)&c->up.timer, bgp__on_timer_closed);
  uv_close((uv_handle_t *)&c->down.timer, bgp__on_timer_closed);
  uv_close((uv_handle_t *)&c->linger, bgp__on_handle_closed);
}

static void bgp__on_linger(uv_timer_t *t) {
  bgp_conn *c = t->data;
  bgp__close(c, "cut (the peer did not take the last bytes within 5 s)");
}

/* The close fault fired: read no more, and close once what was forwarded is written. */
static void bgp__cut(bgp_conn *c) {
  c->cut = true;
  bgp__update_reading(&c->up);
  bgp__update_reading(&c->down);
  if (c->writes == 0) {
    bgp__close(c, "cut");
    return;
  }
  int rc = uv_timer_start(&c->linger, bgp__on_linger, BGP_LINGER_MS, 0);
  if (rc != 0) bgp__close(c, "cut (linger timer failed)");
}

/* A direction is over and the other is stalled: nothing can move any more. */
static void bgp__check_end(bgp_conn *c) {
  if (c->closing) return;
  if (c->up.shut_done && c->down.shut_done) {
    bgp__close(c, "both sides closed");
    return;
  }
  bool up_stuck = c->up.fired && c->o->fault == BGP_STALL, down_stuck = c->down.fired && c->o->fault == BGP_STALL;
  if ((up_stuck && c->down.shut_done) || (down_stuck && c->up.shut_done))
    bgp__close(c, "stalled, and the other direction ended");
}

static void bgp__on_shutdown(uv_shutdown_t *req, int status) {
  bgp_flow *f = req->data;
  bgp_conn *c = f->c;
  if (c->closing) return;
  if (status < 0) {
    char why[120];
    snprintf(why, sizeof why, "shutdown %s: %s", f->name, uv_strerror(status));
    bgp__close(c, why);
    return;
  }
  f->shut_done = true;
  bgp__check_end(c);
}

/* EOF was read from f->src and everything before it has been handed to libuv:
 * pass the half-close on (libuv shuts down once the pending writes are done). */
static void bgp__maybe_shutdown(bgp_flow *f) {
  bgp_conn *c = f->c;
  if (c->closing || c->cut || !f->eof || f->shutting || f->head) return;
  f->shutting = true;
  f->shut.data = f;
  int rc = uv_shutdown(&f->shut, (uv_stream_t *)f->dst, bgp__on_shutdown);
  if (rc != 0) {
    char why[120];
    snprintf(why, sizeof why, "shutdown %s: %s", f->name, uv_strerror(rc));
    bgp__close(c, why);
  }
}

static void bgp__on_written(uv_write_t *req, int status) {
  bgp_chunk *k = (bgp_chunk *)req;
  bgp_flow *f = k->flow;
  bgp_conn *c = f->c;
  f->queued -= BGP_CHUNK_COST(k->len);
  c->writes--;
  if (status == 0) f->written += k->len;
  free(k);
  if (c->closing) return;
  if (status < 0) {
    char why[120];
    snprintf(why, sizeof why, "writing %s: %s", f->name, uv_strerror(status));
    bgp__close(c, why);
    return;
  }
  if (c->cut) {
    if (c->writes == 0) bgp__close(c, "cut");
    return;
  }
  bgp__update_reading(f);
}

static void bgp__write(bgp_chunk *k) {
  bgp_flow *f = k->flow;
  bgp_conn *c = f->c;
  uv_buf_t b = uv_buf_init(k->data, (unsigned)k->len);
  int rc = uv_write(&k->req, (uv_stream_t *)f->dst, &b, 1, bgp__on_written);
  if (rc != 0) {
    f->queued -= BGP_CHUNK_COST(k->len);
    free(k);
    char why[120];
    snprintf(why, sizeof why, "writing %s: %s", f->name, uv_strerror(rc));
    bgp__close(c, why);
    return;
  }
  c->writes++;
}

/* Write the delay queue's chunks that are due; wake again for the next one. */
static void bgp__on_due(uv_timer_t *t) {
  bgp_flow *f = t->data;
  bgp_conn *c = f->c;
  if (c->closing) return;
  uint64_t now = uv_now(t->loop);
  while (f->head && f->head->due <= now && !c->closing) {
    bgp_chunk *k = f->head;
    f->head = k->next;
    if (f->head == NULL) f->tail = NULL;
    bgp__write(k);
  }
  if (c->closing) return;
  if (f->head) {
    int rc = uv_timer_start(&f->timer, bgp__on_due, f->head->due - now, 0);
    if (rc != 0) {
      bgp__close(c, "delay timer failed");
      return;
    }
  }
  bgp__maybe_shutdown(f);
}

/* Forward n bytes of f, now or after the delay. */
static void bgp__forward(bgp_flow *f, const char *p, size_t n, bool delayed) {
  bgp_conn *c = f->c;
  if (n == 0 || c->closing) return;
  bgp_chunk *k = malloc(sizeof *k + n);
  if (k == NULL) {
    bgp__close(c, "out of memory");
    return;
  }
  memcpy(k->data, p, n);
  k->len = n;
  k->flow = f;
  k->next = NULL;
  f->accepted += n;
  f->queued += BGP_CHUNK_COST(n);
  if (!delayed) {
    assert(f->head == NULL); /* bytes are delayed only after the offset, then all of them */
    bgp__write(k);
    return;
  }
  k->due = uv_now(c->client.loop) + c->o->delay_ms;
  if (f->tail) f->tail->next = k;
  else f->head = k;
  f->tail = k;
  if (!uv_is_active((uv_handle_t *)&f->timer)) {
    int rc = uv_timer_start(&f->timer, bgp__on_due, k->due - uv_now(c->client.loop), 0);
    if (rc != 0) bgp__close(c, "delay timer failed");
  }
}

/* The fault's offset is reached in f (its bytes before the offset are forwarded). */
static void bgp__fire(bgp_flow *f) {
  f->fired = true;
  switch (f->c->o->fault) {
  case BGP_CLOSE:
    bgp__cut(f->c);
    break;
  case BGP_STALL:
    bgp__update_reading(f);
    bgp__check_end(f->c);
    break;
  default:
    break;
  }
}

static void bgp__on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  bgp_conn *c = h->data;
  bgp_flow *f = h == (uv_handle_t *)&c->client ? &c->up : &c->down;
  *buf = uv_buf_init(f->rbuf, sizeof f->rbuf);
}

static void bgp__on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  bgp_conn *c = st->data;
  bgp_flow *f = st == (uv_stream_t *)&c->client ? &c->up : &c->down;
  if (n == 0 || c->closing) return;
  if (n < 0) {
    f->reading = false; /* libuv stops reading at EOF and on errors */
    if (n != UV_EOF) {
      char why[120];
      snprintf(why, sizeof why, "reading %s: %s", f->name, uv_strerror((int)n));
      bgp__close(c, why);
      return;
    }
    f->eof = true;
    bgp__maybe_shutdown(f);
    return;
  }
  const char *p = buf->base;
  size_t len = (size_t)n;
  if (f->faulty && !f->fired) {
    /* the bytes before the offset go through unchanged; a read may straddle it */
    uint64_t before = c->o->at - f->accepted;
    size_t take = before < len ? (size_t)before : len;
    bgp__forward(f, p, take, false);
    p += take;
    len -= take;
    if (f->accepted == c->o->at && !c->closing) bgp__fire(f);
  }
  if (c->closing || c->cut) return;
  if (f->fired && c->o->fault == BGP_STALL) f->held += len;
  else bgp__forward(f, p, len, f->fired && c->o->fault == BGP_DELAY);
  bgp__update_reading(f);
}

/* Read f's source exactly when it may move: connected, not ended, not cut, not
 * stalled, and not too much queued toward the other side. */
static void bgp__update_reading(bgp_flow *f) {
  bgp_conn *c = f->c;
  if (c->closing) return;
  bool stalled = f->fired && c->o->fault == BGP_STALL;
  bool want = c->connected && !c->cut && !f->eof && !stalled && f->queued <= BGP_QUEUE_MAX;
  if (want == f->reading) return;
  int rc = want ? uv_read_start((uv_stream_t *)f->src, bgp__on_alloc, bgp__on_read) : uv_read_stop((uv_stream_t *)f->src);
  if (rc != 0) {
    char why[120];
    snprintf(why, sizeof why, "%s reading %s: %s", want ? "starting" : "stopping", f->name, uv_strerror(rc));
    bgp__close(c, why);
    return;
  }
  f->reading = want;
}

static void bgp__on_connected(uv_connect_t *req, int status) {
  bgp_conn *c = req->data;
  if (c->closing) return;
  if (status < 0) {
    char why[160];
    snprintf(why, sizeof why, "cannot connect to %s: %s", c->o->to, uv_strerror(status));
    bgp__close(c, why);
    return;
  }
  c->connected = true;
  (void)uv_tcp_nodelay(&c->client, 1); /* chunks as they come: a test sees the fault where it asked */
  (void)uv_tcp_nodelay(&c->server, 1);
  bgp_flow *faulty = c->up.faulty ? &c->up : c->down.faulty ? &c->down : NULL;
  if (faulty && c->o->at == 0) {
    bgp__fire(faulty);
    if (c->closing || c->cut) return;
  }
  bgp__update_reading(&c->up);
  bgp__update_reading(&c->down);
}

static void bgp__flow_init(bgp_conn *c, bgp_flow *f, uv_tcp_t *src, uv_tcp_t *dst, const char *name) {
  f->c = c;
  f->src = src;
  f->dst = dst;
  f->name = name;
}

static void bgp__peer_name(uv_tcp_t *t, char *out, size_t outlen) {
  struct sockaddr_storage sa;
  int salen = sizeof sa;
  snprintf(out, outlen, "?");
  if (uv_tcp_getpeername(t, (struct sockaddr *)&sa, &salen) != 0) return;
  char ip[46] = "?";
  if (sa.ss_family == AF_INET6) {
    (void)uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
    snprintf(out, outlen, "[%s]:%d", ip, ntohs(((struct sockaddr_in6 *)&sa)->sin6_port));
  } else {
    (void)uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
    snprintf(out, outlen, "%s:%d", ip, ntohs(((struct sockaddr_in *)&sa)->sin_port));
  }
}

static void bgp__must(int rc, const char *what) {
  if (rc == 0) return;
  fprintf(stderr, "bgproxy: %s: %s\n", what, uv_strerror(rc));
  exit(1);
}

static void bgp__on_connection(uv_stream_t *l, int status) {
  bgp_proxy *px = l->data;
  if (status < 0) {
    fprintf(stderr, "bgproxy: accept: %s\n", uv_strerror(status));
    return;
  }
  bgp_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    fprintf(stderr, "bgproxy: accept: out of memory\n");
    return;
  }
  c->o = &px->o;
  /* These fail only on bad flags or a broken loop; a test tool stops there
   * rather than run on with half a connection. */
  bgp__must(uv_tcp_init(px->loop, &c->client), "uv_tcp_init");
  bgp__must(uv_tcp_init(px->loop, &c->server), "uv_tcp_init");
  bgp__must(uv_timer_init(px->loop, &c->up.timer), "uv_timer_init");
  bgp__must(uv_timer_init(px->loop, &c->down.timer), "uv_timer_init");
  bgp__must(uv_timer_init(px->loop, &c->linger), "uv_timer_init");
  c->handles_open = 5;
  c->client.data = c->server.data = c->linger.data = c;
  c->up.timer.data = &c->up;
  c->down.timer.data = &c->down;
  c->next = px->conns;
  if (px->conns) px->conns->prev = c;
  px->conns = c;
  c->id = ++px->accepted;
  bgp__flow_init(c, &c->up, &c->client, &c->server, "up");
  bgp__flow_init(c, &c->down, &c->server, &c->client, "down");
  int rc;
  if ((rc = uv_accept(l, (uv_stream_t *)&c->client)) != 0) {
    char why[120];
    snprintf(why, sizeof why, "accept: %s", uv_strerror(rc));
    bgp__close(c, why);
    return;
  }
  bgp__peer_name(&c->client, c->peer, sizeof c->peer);
  if (px->o.fault != BGP_NONE && c->id <= px->o.connections) (px->o.dir == 0 ? &c->up : &c->down)->faulty = true;
  c->connect.data = c;
  if ((rc = uv_tcp_connect(&c->connect, &c->server, (const struct sockaddr *)&px->target, bgp__on_connected)) != 0) {
    char why[160];
    snprintf(why, sizeof why, "cannot connect to %s: %s", px->o.to, uv_strerror(rc));
    bgp__close(c, why);
  }
}

/* --- start and stop ------------------------------------------------------------------------- */

static void bgp__on_signal(uv_signal_t *sig, int signum) {
  bgp_proxy *px = sig->data;
  if (px->stopping) return;
  px->stopping = true;
  fprintf(stderr, "bgproxy: %s: closing every connection and stopping\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
  uv_close((uv_handle_t *)&px->listener, NULL);
  uv_close((uv_handle_t *)&px->sigint, NULL);
  uv_close((uv_handle_t *)&px->sigterm, NULL);
  for (bgp_conn *c = px->conns; c; c = c->next) bgp__close(c, "stopped by a signal");
}

/* HOST:PORT or [V6]:PORT to an address, resolving HOST; false with a message in why. */
static bool bgp__resolve(uv_loop_t *loop, const char *hostport, struct sockaddr_storage *out, char *why,
                         size_t whylen) {
  char host[256];
  const char *colon = strrchr(hostport, ':');
  const char *h = hostport;
  size_t hlen = colon ? (size_t)(colon - hostport) : 0;
  if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
    h++;
    hlen -= 2;
  }
  char *end;
  unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
  if (colon == NULL || hlen == 0 || hlen >= sizeof host || colon[1] == 0 || *end != 0 || port == 0 || port > 65535) {
    snprintf(why, whylen, "--to '%s' is not HOST:PORT (for example 127.0.0.1:7443 or [::1]:7443)", hostport);
    return false;
  }
  memcpy(host, h, hlen);
  host[hlen] = 0;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  uv_getaddrinfo_t req;
  int rc = uv_getaddrinfo(loop, &req, NULL, host, colon + 1, &hints); /* no callback: synchronous */
  if (rc != 0) {
    snprintf(why, whylen, "--to '%s': cannot resolve '%s': %s", hostport, host, uv_strerror(rc));
    return false;
  }
  memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
  uv_freeaddrinfo(req.addrinfo);
  return true;
}

/* Write the port to FILE.tmp and rename it to FILE, so a reader sees all or nothing. */
static bool bgp__write_port_file(const char *path, int port, char *why, size_t whylen) {
  char tmp[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
    snprintf(why, whylen, "--port-file: path too long");
    return false;
  }
  FILE *f = fopen(tmp, "w");
  if (f == NULL) {
    snprintf(why, whylen, "--port-file %.3000s: %s", tmp, strerror(errno));
    return false;
  }
  bool ok = fprintf(f, "%d\n", port) > 0;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    snprintf(why, whylen, "--port-file %.3000s: %s", path, strerror(errno));
    (void)remove(tmp);
    return false;
  }
  return true;
}

static int bgp__run(bgp_proxy *px) {
  char why[4200] = "";
  int rc;
  px->loop = uv_default_loop();
  if (!bgp__resolve(px->loop, px->o.to, &px->target, why, sizeof why)) {
    fprintf(stderr, "bgproxy: %s\n", why);
    return 1;
  }
  struct sockaddr_in sa;
  int port = 0;
  if ((rc = uv_ip4_addr("127.0.0.1", px->o.listen_port, &sa)) != 0 || (rc = uv_tcp_init(px->loop, &px->listener)) != 0) {
    fprintf(stderr, "bgproxy: listening: %s\n", uv_strerror(rc));
    return 1;
  }
  px->listener.data = px;
  if ((rc = uv_tcp_bind(&px->listener, (const struct sockaddr *)&sa, 0)) != 0 ||
      (rc = uv_listen((uv_stream_t *)&px->listener, 128, bgp__on_connection)) != 0) {
    fprintf(stderr, "bgproxy: listening on 127.0.0.1:%d: %s\n", px->o.listen_port, uv_strerror(rc));
    return 1;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  if ((rc = uv_tcp_getsockname(&px->listener, (struct sockaddr *)&bound, &blen)) != 0) {
    fprintf(stderr, "bgproxy: the port listened on: %s\n", uv_strerror(rc));
    return 1;
  }
  port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  if ((rc = uv_signal_init(px->loop, &px->sigint)) != 0 || (rc = uv_signal_init(px->loop, &px->sigterm)) != 0 ||
      (rc = uv_signal_start(&px->sigint, bgp__on_signal, SIGINT)) != 0 ||
      (rc = uv_signal_start(&px->sigterm, bgp__on_signal, SIGTERM)) != 0) {
    fprintf(stderr, "bgproxy: libuv signals: %s\n", uv_strerror(rc));
    return 1;
  }
  px->sigint.data = px->sigterm.data = px;
  if (px->o.port_file && !bgp__write_port_file(px->o.port_file, port, why, sizeof why)) {
    fprintf(stderr, "bgproxy: %s\n", why);
    return 1;
  }
  char fault[160] = "no fault";
  if (px->o.fault != BGP_NONE) {
    int n = snprintf(fault, sizeof fault, "fault %s %s at %" PRIu64, bgp_fault_names[px->o.fault],
                     px->o.dir == 0 ? "up" : "down", px->o.at);
    if (px->o.fault == BGP_DELAY) n += snprintf(fault + n, sizeof fault - (size_t)n, " by %" PRIu64 " ms", px->o.delay_ms);
    if (px->o.connections != UINT64_MAX)
      snprintf(fault + n, sizeof fault - (size_t)n, ", first %" PRIu64 " connection(s)", px->o.connections);
  }
  fprintf(stderr, "bgproxy %s: listening on 127.0.0.1:%d, forwarding to %s, %s\n", BG_VERSION, port, px->o.to, fault);
  (void)uv_run(px->loop, UV_RUN_DEFAULT); /* non-zero only after uv_stop, which nothing calls */
  if ((rc = uv_loop_close(px->loop)) != 0) fprintf(stderr, "bgproxy: closing the loop: %s\n", uv_strerror(rc));
  return 0;
}

/* --- the command line ------------------------------------------------------------------------ */

static bool bgp__number(const char *opt, const char *v, uint64_t max, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (end == v || *end != 0 || v[0] == '-' || errno != 0 || n > max) {
    fprintf(stderr, "bgproxy: %s: '%s' is not a number from 0 to %" PRIu64 "\n", opt, v, max);
    return false;
  }
  *out = n;
  return true;
}

int main(int argc, char **argv) {
  /* a side that closes while we write to it ends that connection, not the proxy */
  struct sigaction ign;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  if (sigaction(SIGPIPE, &ign, NULL) != 0) {
    perror("bgproxy: sigaction(SIGPIPE)");
    return 1;
  }
  bgp_opts *o = &g_proxy.o;
  o->listen_port = -1;
  o->delay_ms = 100;
  o->connections = UINT64_MAX;
  bool have_dir = false, have_at = false, have_delay = false, have_conns = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(a, "--version") == 0) {
      printf("bgproxy %s\n", BG_VERSION);
      return 0;
    }
    static const char *const known[] = {"--listen", "--to", "--fault", "--dir", "--at", "--delay-ms", "--connections",
                                        "--port-file"};
    bool ok = false;
    for (size_t k = 0; k < sizeof known / sizeof *known; k++) ok = ok || strcmp(a, known[k]) == 0;
    if (!ok) {
      fprintf(stderr, "bgproxy: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "bgproxy: %s needs a value\n", a);
      return 2;
    }
    const char *v = argv[++i];
    uint64_t n;
    if (strcmp(a, "--listen") == 0) {
      if (!bgp__number(a, v, 65535, &n)) return 2;
      o->listen_port = (int)n;
    } else if (strcmp(a, "--to") == 0) {
      o->to = v;
    } else if (strcmp(a, "--fault") == 0) {
      o->fault = strcmp(v, "close") == 0 ? BGP_CLOSE : strcmp(v, "stall") == 0 ? BGP_STALL
                 : strcmp(v, "delay") == 0 ? BGP_DELAY : BGP_NONE;
      if (o->fault == BGP_NONE) {
        fprintf(stderr, "bgproxy: --fault '%s' is none of close, stall, delay\n", v);
        return 2;
      }
    } else if (strcmp(a, "--dir") == 0) {
      if (strcmp(v, "up") != 0 && strcmp(v, "down") != 0) {
        fprintf(stderr, "bgproxy: --dir '%s' is neither up (client to server) nor down (server to client)\n", v);
        return 2;
      }
      o->dir = strcmp(v, "down") == 0;
      have_dir = true;
    } else if (strcmp(a, "--at") == 0) {
      if (!bgp__number(a, v, UINT64_MAX - 1, &o->at)) return 2;
      have_at = true;
    } else if (strcmp(a, "--delay-ms") == 0) {
      if (!bgp__number(a, v, 3600000, &o->delay_ms)) return 2;
      have_delay = true;
    } else if (strcmp(a, "--connections") == 0) {
      if (!bgp__number(a, v, UINT64_MAX - 1, &o->connections)) return 2;
      have_conns = true;
    } else {
      o->port_file = v;
    }
  }
  if (o->listen_port < 0 || o->to == NULL) {
    fprintf(stderr, "bgproxy: %s is required\n", o->listen_port < 0 ? "--listen PORT" : "--to HOST:PORT");
    usage(stderr);
    return 2;
  }
  if (o->fault == BGP_NONE && (have_dir || have_at || have_delay || have_conns)) {
    fprintf(stderr, "bgproxy: --dir, --at, --delay-ms and --connections need --fault\n");
    return 2;
  }
  if (have_delay && o->fault != BGP_DELAY) {
    fprintf(stderr, "bgproxy: --delay-ms goes with --fault delay\n");
    return 2;
  }
  return bgp__run(&g_proxy);
}
