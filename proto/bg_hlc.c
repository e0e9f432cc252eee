/*
 * bg_hlc.c - hybrid logical clock (see bg_hlc.h).
 *
 * Because the logical part sits in the low bits, "the next timestamp in the same
 * millisecond" is just last + 1, and a logical counter that overflows carries
 * into the physical part by itself: that is the one-millisecond step the header
 * promises. So both operations reduce to a max over candidates.
 *
 * Only bg_wall_ms() reads a clock; everything else takes the wall time as input.
 */
#include "bg_hlc.h"

#include <assert.h>
#include <stddef.h>
#include <time.h>

/* Move the clock past `seen` (the latest timestamp issued or observed) and not
 * behind the wall clock. At the very end of HLC time (the year 10889, or a
 * tolerance configured to accept anything) the clock stays put rather than wrap
 * to 0: repeating a timestamp is a far smaller harm than running backward. A wall
 * clock past the 48-bit range is broken, so it is ignored like a failed read
 * rather than truncated into some arbitrary time. */
static uint64_t bg__hlc_tick(bg_hlc *c, uint64_t seen, uint64_t wall_ms) {
  uint64_t next = seen == UINT64_MAX ? seen : seen + 1;
  uint64_t wall = wall_ms <= BG_HLC_PHYSICAL_MAX ? bg_hlc_make(wall_ms, 0) : 0;
  c->last = wall > next ? wall : next;
  return c->last;
}

void bg_hlc_init(bg_hlc *c, uint64_t max_ahead_ms) {
  c->last = 0;
  if (max_ahead_ms == 0) max_ahead_ms = BG_HLC_DEFAULT_MAX_AHEAD_MS;
  if (max_ahead_ms > BG_HLC_MAX_AHEAD_LIMIT_MS) max_ahead_ms = BG_HLC_MAX_AHEAD_LIMIT_MS;
  c->max_ahead_ms = max_ahead_ms;
}

uint64_t bg_hlc_make(uint64_t physical_ms, uint16_t logical) {
  return ((physical_ms & BG_HLC_PHYSICAL_MAX) << BG_HLC_LOGICAL_BITS) | logical;
}

uint64_t bg_hlc_physical(uint64_t ts) { return ts >> BG_HLC_LOGICAL_BITS; }

uint16_t bg_hlc_logical(uint64_t ts) { return (uint16_t)(ts & BG_HLC_LOGICAL_MAX); }

uint64_t bg_hlc_now(bg_hlc *c, uint64_t wall_ms) { return bg__hlc_tick(c, c->last, wall_ms); }

bg_err bg_hlc_observe(bg_hlc *c, uint64_t remote, uint64_t wall_ms, uint64_t *out) {
  assert(out != NULL);
  /* Written as a difference: wall_ms + max_ahead_ms may overflow for a large
   * configured tolerance. */
  uint64_t remote_ms = bg_hlc_physical(remote);
  if (remote_ms > wall_ms && remote_ms - wall_ms > c->max_ahead_ms) return BG_E_CLOCK_SKEW;
  *out = bg__hlc_tick(c, remote > c->last ? remote : c->last, wall_ms);
  return BG_OK;
}

/* A failing clock reads as 0, which the HLC survives: it then keeps counting
 * on from its last timestamp, as it does after any backward jump. */
uint64_t bg_wall_ms(void) {
  struct timespec ts;
  if (timespec_get(&ts, TIME_UTC) != TIME_UTC || ts.tv_sec < 0) return 0;
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
