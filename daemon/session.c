/*
 * session.c - the server's side of a session (session.h).
 */
#include "session.h"

#include <stdio.h>
#include <string.h>

#include "bg_code.h"
#include "bg_msg.h"
#include "bg_pki.h"
#include "bg_schema.h"

enum { ST_HELLO = 1, ST_READY, ST_ENROL, ST_DONE };

void bg_session_init(bg_session *s, bg_session_env *env, bg_session_kind kind, uint64_t cert_device,
                     const char *cert_login) {
  memset(s, 0, sizeof *s);
  s->env = env;
  s->kind = kind;
  s->state = kind == BG_SESSION_SYNC ? ST_HELLO : ST_ENROL;
  s->cert_device = cert_device;
  snprintf(s->cert_login, sizeof s->cert_login, "%s", cert_login ? cert_login : "");
  bg_fdec_init(&s->dec, env->max_frame);
}

void bg_session_free(bg_session *s) { bg_fdec_free(&s->dec); }

/* Append a message as a frame. A message we cannot encode is a bug: the
 * session ends with what it has. */
static void bg__send(bg_session *s, const bg_msg *m, bg_buf *out) {
  if (bg_msg_encode_frame(m, out, 0) == BG_OK) s->frames_out++;
  else s->done = true;
}

/* End the session with ERROR `code` (and the sentence `text`). */
static void bg__error(bg_session *s, bg_buf *out, bg_err code, const char *text, uint64_t ref) {
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_ERROR;
  char msg[BG_TEXT_MAX];
  snprintf(msg, sizeof msg, "%s", text && *text ? text : bg_err_message(code));
  m.u.error = (bg_msg_error){(uint32_t)code, bg_str_c(msg), bg_err_retryable(code), ref};
  bg__send(s, &m, out);
  s->outcome = code;
  snprintf(s->detail, sizeof s->detail, "%.200s", msg);
  s->state = ST_DONE;
  s->done = true;
}

static void bg__bye(bg_session *s, bg_buf *out, bg_err code) {
  if (s->state == ST_DONE) return;
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_BYE;
  m.u.bye.code = (uint32_t)code;
  bg__send(s, &m, out);
  s->outcome = code;
  s->state = ST_DONE;
  s->done = true;
}

void bg_session_shutdown(bg_session *s, bg_buf *out) { bg__bye(s, out, BG_E_SHUTTING_DOWN); }
void bg_session_idle(bg_session *s, bg_buf *out) { bg__bye(s, out, BG_E_TIMEOUT); }
void bg_session_revoked(bg_session *s, bg_buf *out) {
  if (s->state != ST_DONE) bg__error(s, out, BG_E_DEVICE_REVOKED, NULL, 0);
}

void bg_session_fail(bg_session *s, bg_buf *out, bg_err code, const char *text) {
  bg__error(s, out, code, text, 0);
}

/* --- sync ------------------------------------------------------------------------- */

static void bg__hello(bg_session *s, const bg_msg_hello *h, bg_buf *out) {
  bg_session_env *env = s->env;
  int64_t now = env->now_ms();
  bg_device_row d;
  bg_err r = bg_store_device_get(env->store, s->cert_device, &d);
  if (r == BG_E_NOT_FOUND) return bg__error(s, out, BG_E_AUTH, "this certificate names no device of this office", 0);
  if (r != BG_OK) return bg__error(s, out, r, bg_store_errmsg(env->store), 0);
  if (strcmp(d.login, s->cert_login) != 0)
    return bg__error(s, out, BG_E_AUTH, "the certificate's user is not the device's", 0);
  if (d.revoked) return bg__error(s, out, BG_E_DEVICE_REVOKED, NULL, 0);
  uint64_t user = d.user;
  bg_user_row u;
  if ((r = bg_store_user_by_id(env->store, user, &u)) != BG_OK) return bg__error(s, out, r, bg_store_errmsg(env->store), 0);
  if (u.disabled) {
    /* A disabled user's device gets one more session while it still holds
     * data: it pushes what it wrote (nothing typed is lost) and its scope is
     * empty, so the pull purges everything it holds. Then it is refused. */
    bool holds = false;
    if ((r = bg_store_device_holds(env->store, s->cert_device, &holds)) != BG_OK)
      return bg__error(s, out, r, bg_store_errmsg(env->store), 0);
    if (!holds) return bg__error(s, out, BG_E_USER_DISABLED, NULL, 0);
  }
  snprintf(s->login, sizeof s->login, "%s", u.login);
  s->who = (bg_who){s->cert_device, user, u.role};
  /* the highest version in both ranges */
  uint32_t lo = h->proto_min > BG_PROTO_VERSION_MIN ? h->proto_min : BG_PROTO_VERSION_MIN;
  uint32_t hi = h->proto_max < BG_PROTO_VERSION_MAX ? h->proto_max : BG_PROTO_VERSION_MAX;
  if (lo > hi) return bg__error(s, out, BG_E_PROTOCOL_VERSION, NULL, 0);
  if (h->schema != BG_SCHEMA_VERSION) {
    char t[160];
    snprintf(t, sizeof t, "the data schema differs from the server's (device %u, server %u): update the app",
             h->schema, BG_SCHEMA_VERSION);
    return bg__error(s, out, BG_E_SCHEMA_VERSION, t, 0);
  }
  uint64_t head = 0;
  if ((r = bg_store_head(env->store, &head)) != BG_OK) return bg__error(s, out, r, bg_store_errmsg(env->store), 0);
  (void)bg_store_device_seen(env->store, s->cert_device, now); /* a failure here is not the device's problem */
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_WELCOME;
  s->proto = hi;
  m.u.welcome = (bg_msg_welcome){hi, BG_SCHEMA_VERSION, bg_str_c(env->software), s->cert_device, user,
                                 bg_str_c(s->login), u.role, head, bg_hlc_now(&env->hlc, (uint64_t)now),
                                 env->max_frame};
  bg__send(s, &m, out);
  s->state = ST_READY;
}

static bg_err bg__push(bg_session *s, const bg_msg_push *p, bg_buf *out) {
  bg_session_env *env = s->env;
  bg_push_result res;
  bg_err r = bg_store_push(env->store, &s->who, p->batch, p->writes, p->n, env->now_ms(), &res);
  if (r != BG_OK) {
    bg__error(s, out, r, bg_store_errmsg(env->store), p->batch);
    return r == BG_E_DEVICE_REVOKED ? BG_OK : r; /* the device's end, not the store's failure */
  }
  s->writes_in += p->n - res.n_rejected;
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_ACK;
  m.u.ack = (bg_msg_ack){p->batch, res.rejected, res.n_rejected, res.seq};
  bg__send(s, &m, out);
  return BG_OK;
}

static bg_err bg__pull(bg_session *s, const bg_msg_pull *p, bg_buf *out) {
  bg_session_env *env = s->env;
  bg_pull_page page;
  uint32_t budget = p->max_bytes ? p->max_bytes : BG_PULL_DEFAULT_BYTES;
  uint32_t max = env->max_frame ? env->max_frame : BG_FRAME_MAX;
  if (budget > max / 2) budget = max / 2; /* room for the frame around the writes */
  bg_err r = bg_store_pull(env->store, &s->who, p->cursor, budget, p->max_writes ? p->max_writes : BG_PULL_DEFAULT_WRITES,
                           env->now_ms(), &page);
  if (r != BG_OK) {
    bg__error(s, out, r, bg_store_errmsg(env->store), 0);
    return r == BG_E_DEVICE_REVOKED ? BG_OK : r; /* the device's end, not the store's failure */
  }
  if (page.purge_id) {
    bg_msg m;
    memset(&m, 0, sizeof m);
    m.type = BG_MSG_PURGE;
    m.u.purge = (bg_msg_purge){page.purge_id, page.purge, page.n_purge};
    bg__send(s, &m, out);
    s->purges[s->n_purges++ % BG_SESSION_PURGES] = page.purge_id;
  }
  r = bg_changes_frame_raw(page.writes, page.n, page.next, page.more, s->proto >= BG_PROTO_PACKED, out, 0);
  if (r != BG_OK) {
    bg__error(s, out, BG_E_INTERNAL, "a page of changes could not be framed", 0);
    return BG_OK;
  }
  s->frames_out++;
  s->writes_out += page.n;
  return BG_OK;
}

static bg_err bg__ready(bg_session *s, const bg_msg *m, bg_buf *out) {
  switch (m->type) {
    case BG_MSG_PUSH: return bg__push(s, &m->u.push, out);
    case BG_MSG_PULL: return bg__pull(s, &m->u.pull, out);
    case BG_MSG_ACK: {
      /* an ACK names a PURGE of this session (PROTOCOL.md 6b) */
      bool sent = false;
      for (unsigned i = 0; i < s->n_purges && i < BG_SESSION_PURGES; i++) sent |= s->purges[i] == m->u.ack.id;
      if (!sent) {
        bg__error(s, out, BG_E_UNEXPECTED_MESSAGE, "ACK of a PURGE not sent in this session", 0);
        return BG_OK;
      }
      bg_err r = bg_store_purge_ack(s->env->store, &s->who, m->u.ack.id, s->env->now_ms());
      if (r == BG_E_NOT_FOUND) bg__error(s, out, BG_E_UNEXPECTED_MESSAGE, "ACK of a PURGE this device was not sent", 0);
      else if (r != BG_OK) bg__error(s, out, r, bg_store_errmsg(s->env->store), m->u.ack.id);
      return r == BG_E_NOT_FOUND ? BG_OK : r;
    }
    case BG_MSG_PING: {
      bg_msg pong;
      memset(&pong, 0, sizeof pong);
      pong.type = BG_MSG_PONG;
      pong.u.ping.nonce = m->u.ping.nonce;
      bg__send(s, &pong, out);
      return BG_OK;
    }
    case BG_MSG_PONG: return BG_OK;
    case BG_MSG_BYE:
      s->outcome = BG_OK;
      s->state = ST_DONE;
      s->done = true;
      return BG_OK;
    default: {
      char t[96];
      snprintf(t, sizeof t, "%s is not allowed in a ready session", bg_msg_type_name((int)m->type));
      bg__error(s, out, BG_E_UNEXPECTED_MESSAGE, t, 0);
      return BG_OK;
    }
  }
}

/* --- enrolment ------------------------------------------------------------------------ */

static void bg__enrol(bg_session *s, const bg_msg_enroll *e, bg_buf *out) {
  bg_session_env *env = s->env;
  int64_t now = env->now_ms();
  char text[BG_ID_MAX + 1], why[160] = "";
  snprintf(text, sizeof text, "%.*s", (int)e->code.len, e->code.p);
  bg_code code;
  if (bg_code_parse(text, &code) != BG_OK) return bg__error(s, out, BG_E_ENROLL_CODE, "enrolment code mistyped: check it", 0);
  /* Check the request before spending the code on it. */
  bg_err r = bg_pki_csr_check((const uint8_t *)e->csr.p, e->csr.len, why, sizeof why);
  if (r != BG_OK) return bg__error(s, out, BG_E_VALUE, why[0] ? why : "the certificate request was refused", 0);
  char id[2 * BG_CODE_ID_BYTES + 1], name[BG_TEXT_MAX + 1];
  uint8_t hash[32];
  bg_code_id_hex(&code, id);
  bg_code_secret_hash(&code, hash);
  snprintf(name, sizeof name, "%.*s", (int)e->name.len, e->name.p);
  uint64_t device = 0, user = 0;
  r = bg_store_code_use(env->store, id, hash, name, now, &device, &user);
  if (r != BG_OK) return bg__error(s, out, r, bg_store_errmsg(env->store), 0);
  bg_user_row u;
  if ((r = bg_store_user_by_id(env->store, user, &u)) != BG_OK) return bg__error(s, out, r, bg_store_errmsg(env->store), 0);
  snprintf(s->login, sizeof s->login, "%s", u.login);
  char subject[BG_ID_MAX + 48];
  snprintf(subject, sizeof subject, "CN=%llu,OU=%s", (unsigned long long)device, s->login);
  bg_pki_cert c = {subject, device, now / 1000 - 300, now / 1000 + (int64_t)env->device_cert_days * 86400, false};
  bg_buf cert = BG_BUF_INIT;
  r = bg_pki_sign_csr(env->rng, (const uint8_t *)e->csr.p, e->csr.len, env->ca, env->ca_key, &c, &cert, why, sizeof why);
  if (r != BG_OK) {
    bg_buf_free(&cert);
    return bg__error(s, out, BG_E_INTERNAL, "the device certificate could not be made", 0);
  }
  bg_msg m;
  memset(&m, 0, sizeof m);
  m.type = BG_MSG_ENROLLED;
  m.u.enrolled = (bg_msg_enrolled){device, user, bg_str_c(s->login), {(const char *)cert.data, (uint32_t)cert.len},
                                   {(const char *)env->ca->raw.p, (uint32_t)env->ca->raw.len}};
  bg__send(s, &m, out);
  bg_buf_free(&cert);
  s->who.device = device;
  s->who.user = user;
  s->outcome = BG_OK;
  s->state = ST_DONE;
  s->done = true;
}

/* --- input ------------------------------------------------------------------------------ */

static bg_err bg__frame(bg_session *s, const uint8_t *body, size_t len, bg_buf *out) {
  bg_msg m;
  bg_msg_why why;
  why.text[0] = 0;
  s->frames_in++;
  bg_err r = bg_msg_decode(body, len, &m, &why);
  if (r != BG_OK) {
    bg__error(s, out, r, why.text, 0);
    return BG_OK;
  }
  if (m.type == BG_MSG_ERROR) {
    /* the peer ends the session; nothing is sent back */
    s->outcome = (bg_err)m.u.error.code;
    snprintf(s->detail, sizeof s->detail, "peer sent ERROR %u: %.*s", m.u.error.code, (int)m.u.error.message.len,
             m.u.error.message.p);
    s->state = ST_DONE;
    s->done = true;
    bg_msg_free(&m);
    return BG_OK;
  }
  bg_err ret = BG_OK;
  switch (s->state) {
    case ST_HELLO:
      if (m.type == BG_MSG_HELLO) bg__hello(s, &m.u.hello, out);
      else bg__error(s, out, BG_E_UNEXPECTED_MESSAGE, "the first frame of a sync session is HELLO", 0);
      break;
    case ST_READY: ret = bg__ready(s, &m, out); break;
    case ST_ENROL:
      if (m.type == BG_MSG_ENROLL) bg__enrol(s, &m.u.enroll, out);
      else if (m.type == BG_MSG_HELLO)
        bg__error(s, out, BG_E_AUTH, "no device certificate: enrol this device first (bgsync enroll)", 0);
      else bg__error(s, out, BG_E_UNEXPECTED_MESSAGE, "an enrolment session starts with ENROLL", 0);
      break;
    default: break;
  }
  bg_msg_free(&m);
  return ret;
}

bg_err bg_session_input(bg_session *s, const uint8_t *p, size_t n, bg_buf *out, size_t *used) {
  *used = 0;
  bg_err ret = BG_OK;
  while (n > 0 && !s->done) {
    size_t u = 0, blen = 0;
    const uint8_t *body = NULL;
    bg_err r = bg_fdec_feed(&s->dec, p, n, &u, &body, &blen);
    *used += u;
    p += u;
    n -= u;
    if (r != BG_OK) {
      bg__error(s, out, r, NULL, 0);
      break;
    }
    if (body != NULL) {
      ret = bg__frame(s, body, blen, out);
      break;
    }
  }
  if (s->done) *used += n; /* bytes after the end are ignored */
  return ret;
}
