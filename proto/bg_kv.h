/*
 * bg_kv.h - the storage interface of the merge engine, and an in-memory store.
 *
 * The engine keeps everything it knows in a few key spaces of an ordered
 * key-value store: get, put, delete, and a scan by key prefix in ascending byte
 * order, and an insert-if-absent. That is all it asks of storage, so the same engine runs on the client's
 * SQLite replica, the daemon's store (SQLite today; a distributed database could
 * implement these four calls) and the simulation's memory. Transactions belong
 * to the caller: the engine assumes its calls for one write are applied together.
 *
 * Keys and values are opaque bytes to the store. Keys sort so that a prefix
 * selects a client, a record or a field (bg_engine.c documents the layout).
 */
#ifndef BG_KV_H
#define BG_KV_H

#include <stddef.h>
#include <stdint.h>

#include "bg_buf.h"
#include "bg_error.h"

/* The engine's key spaces. Stable: stores persist them. */
enum {
  BG_KV_FIELD = 1,    /* field key -> field state (causal frontier, current writes) */
  BG_KV_LOG = 2,      /* field key + dot -> the write, for every write received */
  BG_KV_RECORD = 3,   /* record key -> record version vector */
  BG_KV_PLAN = 4,     /* client + cycle -> signatures of that cycle's plan */
  BG_KV_PROPOSAL = 5, /* client + dot -> field key of a write held as wijzigingsvoorstel */
};
#define BG_KV_SPACES 5

/* Called by scan for each entry; a result other than BG_OK stops the scan and is
 * returned by it. Key and value are valid during the call only. */
typedef bg_err (*bg_kv_scan_cb)(void *arg, const uint8_t *key, size_t klen, const uint8_t *val,
                                size_t vlen);

typedef struct bg_kv_ops {
  /* Replace *val's contents with the value; BG_E_NOT_FOUND when absent. */
  bg_err (*get)(void *self, int space, const uint8_t *key, size_t klen, bg_buf *val);
  bg_err (*put)(void *self, int space, const uint8_t *key, size_t klen, const uint8_t *val,
                size_t vlen);
  /* Insert only when the key is absent: BG_E_EXISTS (and no change) otherwise.
   * (SQLite: INSERT OR IGNORE, then sqlite3_changes.) */
  bg_err (*add)(void *self, int space, const uint8_t *key, size_t klen, const uint8_t *val,
                size_t vlen);
  /* Deleting an absent key is not an error. */
  bg_err (*del)(void *self, int space, const uint8_t *key, size_t klen);
  /* Every entry whose key starts with `prefix`, ascending by key bytes. The
   * callback must not modify the store. */
  bg_err (*scan)(void *self, int space, const uint8_t *prefix, size_t plen, bg_kv_scan_cb cb,
                 void *arg);
} bg_kv_ops;

typedef struct bg_kv {
  const bg_kv_ops *ops;
  void *self;
} bg_kv;

/* --- the in-memory store -------------------------------------------------------- */

typedef struct bg_memkv bg_memkv;

/* New empty store (NULL when out of memory); bg_memkv_kv gives its interface. */
bg_memkv *bg_memkv_new(void);
void bg_memkv_free(bg_memkv *m);
bg_kv bg_memkv_kv(bg_memkv *m);

/* Entries in a space (for tests). */
size_t bg_memkv_count(const bg_memkv *m, int space);

/* Remove every entry of every space (the store stays usable). */
void bg_memkv_clear(bg_memkv *m);

/* --- a write-back cache in front of a store ------------------------------------------ */

/*
 * Applying a page of writes reads and writes the same field states and record
 * vectors again and again (a record's fields one after another, then the
 * record drawn for the app's tables). Between bg_kvcache_begin and
 * bg_kvcache_end the cache keeps what was read and written in the chosen key
 * spaces in memory and writes the changes to the inner store once, in key
 * order, at the end. The other spaces, and every space while no begin is
 * open, pass straight through.
 *
 * What a caller sees through the cache is what it would see without it: a get
 * returns the last put, a del hides the key, a scan of a cached space merges
 * the cache's entries into the inner store's, in key order. The inner
 * store is written only by the cache while a begin is open; the caller's
 * transaction on it must stay open until the end. The cache also writes its
 * changes through, and starts empty, whenever it holds more than its limit
 * (counted as the in-memory store allocates, roughly). That write may come
 * with any change, to any cached space: the rule that a scan's callback must
 * not modify the store matters here even across spaces.
 */
typedef struct bg_kvcache bg_kvcache;

#define BG_KVCACHE_MAX_BYTES (32u << 20)
/* The spaces applying writes reads and writes again and again (the log is
 * written once a write, and read rarely). */
#define BG_KVCACHE_SPACES (1u << BG_KV_FIELD | 1u << BG_KV_RECORD | 1u << BG_KV_PLAN)

/* A cache over `inner` for the key spaces whose bits are set in `spaces`
 * (1u << BG_KV_FIELD | ...), holding at most `max_bytes` (0:
 * BG_KVCACHE_MAX_BYTES). NULL when out of memory. */
bg_kvcache *bg_kvcache_new(bg_kv inner, unsigned spaces, size_t max_bytes);
void bg_kvcache_free(bg_kvcache *c);
bg_kv bg_kvcache_kv(bg_kvcache *c);

/* Start keeping the cached spaces in memory (the cache is empty).
 * BG_E_USAGE while a begin is open: begins do not nest. */
bg_err bg_kvcache_begin(bg_kvcache *c);
/* Write the changes to the inner store in key order, empty the cache, pass
 * through again. On an error the cache is emptied all the same and the inner
 * store may hold part of the changes: the caller rolls its transaction back. */
bg_err bg_kvcache_end(bg_kvcache *c);
/* Empty the cache without writing (the caller rolls its transaction back). */
void bg_kvcache_discard(bg_kvcache *c);

#endif /* BG_KV_H */
