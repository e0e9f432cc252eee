/*
 * replicas.h - libbgsync replicas in end-to-end tests (test_cut, test_crash,
 * test_storage): open one, enrol one against an organisation of harness.h,
 * count rows, check a database file. A failure ends the test (cmocka),
 * naming what failed.
 */
#ifndef BG_TEST_REPLICAS_H
#define BG_TEST_REPLICAS_H

#include "bgsync.h"
#include "harness.h"

/* DIR/NAME.db, opened (created when absent). */
bgsync *bgr_open(const char *dir, const char *name);

/* DIR/NAME.db enrolled as a new device of `login` with a code from bgctl; its
 * sync address is localhost:`port` (the daemon's, or a proxy's). Not synced. */
bgsync *bgr_enrolled(const bgh_org *o, const char *dir, const char *name, const char *login, int port);

/* The first column of the first row of `sql` as a number (-1 without a row). */
long bgr_count(bgsync *r, const char *sql);

/* PRAGMA integrity_check of a database file on a connection of its own: NULL
 * when it says ok, else what it said (static storage). */
const char *bgr_integrity(const char *path);

#endif /* BG_TEST_REPLICAS_H */
