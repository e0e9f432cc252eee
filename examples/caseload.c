/*
 * caseload.c - a small app on libbgsync: what a caseworker's app does first.
 *
 *   caseload REPLICA                  the replica's state and its clients
 *   caseload REPLICA CLIENT NOTE      also add a rapportage to CLIENT
 *
 * Built against the installed library only (bgsync.h and pkg-config, or the
 * CMake package): see examples/README.md.
 */
#include <bgsync.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc != 2 && argc != 4) {
    fprintf(stderr, "usage: caseload REPLICA [CLIENT NOTE]\n");
    return 2;
  }
  bgsync *r;
  bg_err e = bgsync_open(argv[1], &r);
  if (e != BG_OK) {
    fprintf(stderr, "caseload: %s\n", bgsync_errmsg(r));
    bgsync_close(r);
    return 1;
  }
  bgsync_identity id;
  bgsync_status st;
  if ((e = bgsync_identity_get(r, &id)) == BG_OK) e = bgsync_status_get(r, &st);
  if (e != BG_OK) goto fail;
  if (id.enrolled)
    printf("device %" PRIu64 " of %s: %" PRIu64 " clients, %" PRIu64 " writes to sync, %" PRIu64 " conflicts\n",
           id.device, id.login, st.clients, st.pending, st.conflicts);
  else
    printf("not enrolled yet: enrol with a code from the office first\n");

  /* the record tables are plain SQL */
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(bgsync_db(r), "SELECT client, phase, cycle FROM traject ORDER BY client", -1, &q, NULL) != SQLITE_OK) {
    fprintf(stderr, "caseload: %s\n", sqlite3_errmsg(bgsync_db(r)));
    bgsync_close(r);
    return 1;
  }
  while (sqlite3_step(q) == SQLITE_ROW)
    printf("  %-12s %-11s cycle %d\n", (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
           sqlite3_column_int(q, 2));
  sqlite3_finalize(q);

  if (argc == 4) {
    char rid[65];
    if ((e = bgsync_note(r, argv[2], "overig", argv[3], NULL, NULL, rid)) != BG_OK) goto fail;
    printf("rapportage %s added; it goes out with the next sync\n", rid);
  }
  bgsync_close(r);
  return 0;
fail:
  fprintf(stderr, "caseload: %s (%s)\n", bgsync_errmsg(r), bg_err_name(e));
  bgsync_close(r);
  return bg_err_retryable(e) ? 75 : 1;
}
