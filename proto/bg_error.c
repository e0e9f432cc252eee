/* bg_error.c - names, messages and retryability of the product's error codes. */
#include "bg_error.h"

#include <stddef.h>

struct bg__err_info {
  int code;
  bool retryable;
  const char *name;
  const char *message;
};

static const struct bg__err_info bg__errors[] = {
#define BG__INFO(sym, code, retry, msg) {code, retry, #sym, msg},
    BG_ERROR_TABLE(BG__INFO)
#undef BG__INFO
};

static const struct bg__err_info *bg__err_find(int code) {
  for (size_t i = 0; i < sizeof bg__errors / sizeof bg__errors[0]; i++) {
    if (bg__errors[i].code == code) return &bg__errors[i];
  }
  return NULL;
}

const char *bg_err_name(int code) {
  const struct bg__err_info *e = bg__err_find(code);
  return e ? e->name : "BG_E_UNKNOWN_CODE";
}

const char *bg_err_message(int code) {
  const struct bg__err_info *e = bg__err_find(code);
  return e ? e->message : "unknown error code (the peer may run a newer version)";
}

bool bg_err_retryable(int code) {
  const struct bg__err_info *e = bg__err_find(code);
  return e ? e->retryable : false;
}

bool bg_err_known(int code) { return bg__err_find(code) != NULL; }
