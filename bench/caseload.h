/*
 * caseload.h - a synthetic caseload, made the way a caseworker's device makes it.
 *
 * The generator is a device: a merge engine over an in-memory store, holding
 * what the device received (the office's writes that opened each traject,
 * applied with bc_gen_receive) and what it wrote itself. Every write is made
 * as the client library makes one - bg_engine_context_for fills in the causal
 * context and the traject position seen, the dot is the device's next counter -
 * and applied to that engine, so the writes pass every check the daemon makes
 * and a replica that receives them shows what this engine shows.
 *
 * One client's record mix (deterministic by seed and client index):
 *   client personalia; aanmelding, intake and opstart with their decisions;
 *   15 netwerkcontacten; a traject of 2-3 cycles, each with a
 *   persoonsbeschrijving of the 7 leefgebieden, a signed plan with 10 doelen
 *   and 30 acties, progress on half of the acties, and (all but the last
 *   cycle) an evaluatie that continues; the last cycle ends in uitvoering;
 *   200 rapportages of 300-2,000 characters spread over the traject.
 * About 1,450 writes and 340 records per client.
 *
 * The writes of bc_gen_client accumulate (bc_gen_writes) until bc_gen_clear;
 * their strings and contexts live in the generator's arena. The visible rows
 * of a client (what a replica's record tables hold) are appended to a bc_rows
 * by bc_gen_rows, for the SQLite ceiling.
 */
#ifndef BG_BENCH_CASELOAD_H
#define BG_BENCH_CASELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bg_buf.h"
#include "bg_engine.h"
#include "bg_kv.h"
#include "bg_msg.h"

/* Visible rows, serialised one after another (bc_rows_each reads them back). */
typedef struct bc_rows {
  bg_buf b;
  uint64_t n;
  uint64_t value_bytes; /* text and blob bytes in the rows */
} bc_rows;

typedef struct bc_chunk bc_chunk;

typedef struct bc_gen {
  bg_memkv *mem;
  bg_engine eng;
  uint64_t device, user, counter;
  uint64_t seed;
  uint64_t clock_ms;   /* the device's wall clock: a few minutes per write */
  uint64_t rng;
  bc_chunk *arena;     /* strings and contexts of the writes made */
  bg_write *w;         /* writes made since bc_gen_clear */
  size_t n, cap;
  uint64_t value_bytes; /* value bytes of the writes made since bc_gen_clear */
  /* the records of the client being made: for bc_gen_rows */
  struct bc_rec { uint32_t rtype; char rid[BG_ID_MAX + 1]; } *recs;
  size_t nrecs, caprecs;
  char client[BG_ID_MAX + 1];
  bg_str cstr;         /* the same, in the arena: the writes borrow it */
} bc_gen;

/* A device `device` of begeleider `user`; `start_ms` its clock's start. */
bg_err bc_gen_init(bc_gen *g, uint64_t device, uint64_t user, uint64_t seed, uint64_t start_ms);
void bc_gen_free(bc_gen *g);

/* Start the engine over, empty (the dot counter and clock go on). A device
 * holds all its clients in one replica; the generator holds one client at a
 * time, because the in-memory store's scans (a signature reclassifies its
 * plan) walk the whole store. */
bg_err bc_gen_forget(bc_gen *g);

/* A write this device received (the office's): applied to its engine. */
bg_err bc_gen_receive(bc_gen *g, const bg_write *w);

/* Make the caseload of one client whose traject the office opened (received).
 * `index` selects the client's variation. The writes are appended. */
bg_err bc_gen_client(bc_gen *g, const char *client, uint32_t index);

/* Writes made since the last bc_gen_clear (borrowed, valid until then). */
const bg_write *bc_gen_writes(const bc_gen *g, size_t *n);
void bc_gen_clear(bc_gen *g);

/* Append the visible rows of the client last made by bc_gen_client. */
bg_err bc_gen_rows(bc_gen *g, bc_rows *out);

/* One write as the client library makes it, for edits after the caseload:
 * context, position, dot and author from this generator's engine; value
 * copied. Appended like the others. */
bg_err bc_gen_write(bc_gen *g, const char *client, uint32_t rtype, const char *rid, uint32_t field, bg_value v);

/* --- rows and the ceiling ---------------------------------------------------------------- */

void bc_rows_free(bc_rows *r);

/*
 * The ceiling: the rows of `n_clients` clients (0 = all) from the
 * `first`-th distinct client of `rows` on (0-based), bulk-inserted into a
 * fresh plain SQLite file at `path` - the replica's record tables (same
 * columns and primary key), 16 KiB pages, WAL and synchronous=FULL like the
 * replica, one
 * transaction, one prepared statement per table. *secs is the time from BEGIN
 * to the end of COMMIT, *n_rows the rows inserted, *file_bytes the file's
 * size after a checkpoint.
 */
bg_err bc_ceiling(const bc_rows *rows, uint32_t first, uint32_t n_clients, const char *path, double *secs, uint64_t *n_rows,
                  uint64_t *file_bytes);

#endif /* BG_BENCH_CASELOAD_H */
