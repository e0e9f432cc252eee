/*
 * teststore.h - the daemon's store on a fresh temporary SQLite file, for the
 * unit tests that need one (test_store, test_care). Include after cmocka.h
 * and store.h. One store at a time per test program.
 */
#ifndef BG_TESTSTORE_H
#define BG_TESTSTORE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char g_store_path[64];

/* A new, empty store; the test fails when it cannot be made. */
static bg_store *open_fresh(void) {
  snprintf(g_store_path, sizeof g_store_path, "/tmp/bg_test_store_XXXXXX");
  int fd = mkstemp(g_store_path);
  assert_true(fd >= 0);
  close(fd);
  unlink(g_store_path);
  bg_store *s;
  char why[256] = "";
  if (bg_store_open(g_store_path, &s, why, sizeof why) != BG_OK) fail_msg("open: %s", why);
  return s;
}

/* Removes the store's files (closed already, or never opened). */
static void remove_store_files(void) {
  static const char *const sfx[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    char p[80];
    snprintf(p, sizeof p, "%s%s", g_store_path, sfx[i]);
    unlink(p);
  }
}

/* Closes the store and removes its files. */
static void remove_store(bg_store *s) {
  bg_store_close(s);
  remove_store_files();
}

#endif
