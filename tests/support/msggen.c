/* msggen.c - random valid messages (see msggen.h). */
#include "msggen.h"

#include <stdlib.h>
#include <string.h>

#include "bg_frame.h"
#include "bg_hlc.h"

void bg_gen_init_pool(bg_gen *g, uint64_t seed, size_t pool) {
  memset(g, 0, sizeof *g);
  g->r.s = seed;
  g->size = pool < 4096 ? 4096 : pool;
  g->text = malloc(g->size);
  if (g->text == NULL) abort();
}

void bg_gen_init(bg_gen *g, uint64_t seed) { bg_gen_init_pool(g, seed, BG_GEN_TEXT); }

void bg_gen_free(bg_gen *g) {
  free(g->text);
  g->text = NULL;
}

static uint64_t pick(bg_gen *g, uint64_t n) { return bg_rand_below(&g->r, n); }

/* Unsigned values biased toward the edges a codec gets wrong. */
static uint64_t edgy(bg_gen *g, uint64_t lo, uint64_t hi) {
  switch (pick(g, 6)) {
    case 0: return lo;
    case 1: return hi;
    case 2: return lo + pick(g, 200) > hi ? hi : lo + pick(g, 200);
    default: {
      uint64_t span = hi - lo;
      uint64_t v = bg_rand_next(&g->r) >> pick(g, 64);
      return span == UINT64_MAX ? v : lo + v % (span + 1);
    }
  }
}

static const char *const k_words[] = {
    "huur", "schulden", "budgetbeheer", "werk", "dagbesteding", "netwerk", "moeder", "buurman",
    "financi\xc3\xabn", "gezondheid", "afspraak", "huisarts", "wonen", "zingeving", "re\xc3\xafntegratie",
    "voortgang", "doel", "actie", "evaluatie", "cli\xc3\xabnt", "\xe2\x82\xac", "vrijwilligerswerk"};

/* A UTF-8 string of min..max bytes (never splitting a character). */
static bg_str gen_str(bg_gen *g, uint32_t min, uint32_t max) {
  uint32_t want = (uint32_t)(min + pick(g, (uint64_t)(max - min) + 1));
  if (g->used + want + 8 > g->size) g->used = 0;
  char *p = g->text + g->used;
  uint32_t n = 0;
  while (n < want) {
    const char *w = g->realistic || pick(g, 2) ? k_words[pick(g, sizeof k_words / sizeof *k_words)] : "x";
    size_t l = strlen(w);
    if (n + l + 1 > want) {
      while (n < want) p[n++] = (char)('a' + pick(g, 26));
      break;
    }
    memcpy(p + n, w, l);
    n += (uint32_t)l;
    if (n < want) p[n++] = ' ';
  }
  g->used += n;
  return (bg_str){p, n};
}

static bg_str gen_bin(bg_gen *g, uint32_t min, uint32_t max) {
  uint32_t n = (uint32_t)(min + pick(g, (uint64_t)(max - min) + 1));
  if (g->used + n > g->size) g->used = 0;
  char *p = g->text + g->used;
  for (uint32_t i = 0; i < n; i++) p[i] = (char)bg_rand_next(&g->r);
  g->used += n;
  return (bg_str){p, n};
}

void bg_gen_write(bg_gen *g, bg_write *w, bg_dot *ctx) {
  memset(w, 0, sizeof *w);
  if (g->realistic) {
    char *id = g->text + (g->used + 16 > g->size ? (g->used = 0) : g->used);
    unsigned num = (unsigned)pick(g, 2000);
    for (int i = 5; i >= 2; i--, num /= 10) id[i] = (char)('0' + num % 10);
    id[0] = 'C';
    id[1] = '-';
    g->used += 6;
    w->client = (bg_str){id, 6};
    w->rtype = (uint32_t)(1 + pick(g, 12));
    w->rid = gen_str(g, 1, 12);
    w->field = (uint32_t)(1 + pick(g, 20));
  } else {
    w->client = gen_str(g, 1, BG_ID_MAX);
    w->rtype = (uint32_t)edgy(g, 0, UINT32_MAX);
    w->rid = gen_str(g, 1, BG_ID_MAX);
    w->field = (uint32_t)edgy(g, 0, UINT32_MAX);
  }
  switch (pick(g, g->realistic ? 3 : 6)) {
    case 0: w->value.type = BG_V_STR; w->value.s = gen_str(g, 0, g->realistic ? 2000 : 300); break;
    case 1: w->value.type = BG_V_INT; w->value.i = (int64_t)(bg_rand_next(&g->r) >> pick(g, 64)) * (pick(g, 2) ? 1 : -1); break;
    case 2: w->value.type = BG_V_BOOL; w->value.b = pick(g, 2); break;
    case 3: w->value.type = BG_V_NIL; break;
    case 4: w->value.type = BG_V_BIN; w->value.s = gen_bin(g, 0, 64); break;
    default: w->value.type = BG_V_INT; w->value.i = INT64_MIN; break;
  }
  w->dot.device = g->realistic ? 1 + pick(g, 300) : edgy(g, 1, UINT64_MAX);
  w->dot.counter = g->realistic ? 1 + pick(g, 1000000) : edgy(g, 1, UINT64_MAX);
  uint32_t n = (uint32_t)pick(g, g->realistic ? 4 : 9);
  uint64_t dev = 0;
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    dev += 1 + pick(g, g->realistic ? 50 : 1u << 20);
    ctx[k++] = (bg_dot){dev, 1 + pick(g, g->realistic ? 1000000 : UINT64_MAX - 1)};
  }
  w->ctx = (bg_vv){k ? ctx : NULL, k, 0};
  w->cycle = (uint32_t)(g->realistic ? pick(g, 4) : edgy(g, 0, UINT32_MAX));
  w->phase = (uint8_t)(g->realistic ? 1 + pick(g, 8) : pick(g, 256));
  w->user = g->realistic ? 1 + pick(g, 200) : edgy(g, 1, UINT64_MAX);
  w->role = (uint8_t)(g->realistic ? 1 + pick(g, 3) : pick(g, 256));
  w->tb = pick(g, 2);
  w->hlc = g->realistic ? bg_hlc_make(UINT64_C(1795426200000) + pick(g, 86400000), 0) : edgy(g, 0, UINT64_MAX);
}

void bg_gen_like(bg_gen *g, bg_write *w, const bg_write *p) {
  if (pick(g, 2)) w->client = p->client;
  if (pick(g, 2)) w->rtype = p->rtype;
  if (pick(g, 2)) w->rid = p->rid;
  if (pick(g, 2)) w->field = p->field;
  if (pick(g, 4) == 0) w->value = p->value;
  if (pick(g, 2) && p->dot.counter < UINT64_MAX) w->dot = (bg_dot){p->dot.device, p->dot.counter + 1};
  if (pick(g, 2)) w->ctx = p->ctx;
  if (pick(g, 2)) w->cycle = p->cycle;
  if (pick(g, 2)) w->phase = p->phase;
  if (pick(g, 2)) {
    w->user = p->user;
    w->role = p->role;
    w->tb = p->tb;
  }
  if (pick(g, 4) == 0) w->hlc = p->hlc;
  else if (pick(g, 2)) w->hlc = p->hlc + pick(g, 1u << 20); /* wraps at the edge: so does packing */
}

void bg_gen_msg(bg_gen *g, bg_msg_type t, unsigned nwrites, bg_msg *m) {
  memset(m, 0, sizeof *m);
  m->type = t;
  if (nwrites == 0) nwrites = 1;
  if (nwrites > BG_GEN_WRITES) nwrites = BG_GEN_WRITES;
  switch (t) {
    case BG_MSG_HELLO: {
      uint32_t lo = (uint32_t)edgy(g, 1, 0xffff);
      m->u.hello = (bg_msg_hello){lo, (uint32_t)edgy(g, lo, 0xffff), (uint32_t)edgy(g, 1, UINT32_MAX),
                                  gen_str(g, 1, BG_ID_MAX), edgy(g, 0, UINT64_MAX), edgy(g, 0, UINT64_MAX)};
      break;
    }
    case BG_MSG_WELCOME:
      m->u.welcome = (bg_msg_welcome){(uint32_t)edgy(g, 1, 0xffff), (uint32_t)edgy(g, 1, UINT32_MAX),
                                      gen_str(g, 1, BG_ID_MAX), edgy(g, 1, UINT64_MAX),
                                      edgy(g, 1, UINT64_MAX), gen_str(g, 1, BG_ID_MAX),
                                      (uint8_t)pick(g, 256), edgy(g, 0, UINT64_MAX), edgy(g, 0, UINT64_MAX),
                                      (uint32_t)edgy(g, 0, BG_FRAME_MAX)};
      break;
    case BG_MSG_PUSH: case BG_MSG_CHANGES: {
      uint32_t n = (uint32_t)(t == BG_MSG_PUSH ? 1 + pick(g, nwrites) : pick(g, nwrites + 1));
      for (uint32_t i = 0; i < n; i++) {
        bg_gen_write(g, &g->w[i], g->ctx[i]);
        if (i > 0 && pick(g, 2)) bg_gen_like(g, &g->w[i], &g->w[i - 1]);
      }
      bool packed = pick(g, 2);
      if (t == BG_MSG_PUSH) m->u.push = (bg_msg_push){edgy(g, 1, UINT64_MAX), g->w, n, packed};
      else m->u.changes = (bg_msg_changes){n ? g->w : NULL, n, edgy(g, 0, UINT64_MAX), pick(g, 2), packed};
      break;
    }
    case BG_MSG_ACK: {
      uint32_t n = (uint32_t)pick(g, 5);
      for (uint32_t i = 0; i < n; i++)
        g->rej[i] = (bg_reject){(uint32_t)edgy(g, 0, BG_MSG_MAX_WRITES - 1), (uint32_t)edgy(g, 1, 0xffff)};
      m->u.ack = (bg_msg_ack){edgy(g, 1, UINT64_MAX), n ? g->rej : NULL, n, edgy(g, 0, UINT64_MAX)};
      break;
    }
    case BG_MSG_PULL:
      m->u.pull = (bg_msg_pull){edgy(g, 0, UINT64_MAX), (uint32_t)edgy(g, 0, BG_FRAME_MAX),
                                (uint32_t)edgy(g, 0, BG_MSG_MAX_WRITES)};
      break;
    case BG_MSG_PURGE: {
      uint32_t n = (uint32_t)(1 + pick(g, 16));
      for (uint32_t i = 0; i < n; i++) g->strs[i] = gen_str(g, 1, BG_ID_MAX);
      m->u.purge = (bg_msg_purge){edgy(g, 1, UINT64_MAX), g->strs, n};
      break;
    }
    case BG_MSG_ERROR:
      m->u.error = (bg_msg_error){(uint32_t)edgy(g, 1, 0xffff), gen_str(g, 0, BG_TEXT_MAX), pick(g, 2),
                                  edgy(g, 0, UINT64_MAX)};
      break;
    case BG_MSG_PING: case BG_MSG_PONG: m->u.ping.nonce = edgy(g, 0, UINT64_MAX); break;
    case BG_MSG_BYE: m->u.bye = (bg_msg_bye){(uint32_t)edgy(g, 0, 0xffff), gen_str(g, 0, BG_TEXT_MAX)}; break;
    case BG_MSG_ENROLL:
      m->u.enroll = (bg_msg_enroll){gen_str(g, 1, BG_ID_MAX), gen_bin(g, 1, 600), gen_str(g, 1, BG_ID_MAX),
                                    gen_str(g, 0, 80)};
      break;
    case BG_MSG_ENROLLED:
      m->u.enrolled = (bg_msg_enrolled){edgy(g, 1, UINT64_MAX), edgy(g, 1, UINT64_MAX),
                                        gen_str(g, 1, BG_ID_MAX), gen_bin(g, 1, 900), gen_bin(g, 1, 900)};
      break;
  }
}
