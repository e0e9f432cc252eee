/*
 * bg_hlc.h - hybrid logical clock.
 *
 * An HLC timestamp is a u64: the high 48 bits are milliseconds since the Unix
 * epoch (enough until the year 10889), the low 16 bits a logical counter that
 * orders events within one millisecond. Timestamps compare as plain integers.
 *
 * HLC time is for display and for tie-breaks between concurrent writes (rule R2);
 * it never decides causality (that is what version vectors are for).
 *
 * The clock never runs backward: when the wall clock jumps back, the clock keeps
 * its last physical part and counts on in the logical part. A timestamp received
 * from a peer that lies more than `max_ahead_ms` beyond our wall clock is refused
 * with BG_E_CLOCK_SKEW and leaves the clock untouched: one device with a wrong
 * clock must not drag every replica into the future.
 *
 * proto/ reads no clock itself except in bg_wall_ms(); the functions take the wall
 * time as an argument, so simulations and tests can drive time.
 */
#ifndef BG_HLC_H
#define BG_HLC_H

#include <stdint.h>

#include "bg_error.h"

#define BG_HLC_LOGICAL_BITS 16
#define BG_HLC_LOGICAL_MAX 0xFFFFu
#define BG_HLC_PHYSICAL_MAX ((UINT64_C(1) << 48) - 1)
/* Default tolerance for timestamps ahead of our wall clock: 10 minutes. */
#define BG_HLC_DEFAULT_MAX_AHEAD_MS (10u * 60u * 1000u)
/* Largest tolerance a clock accepts: one day. A larger one would let a single
 * wrong clock drag every replica far into the future. */
#define BG_HLC_MAX_AHEAD_LIMIT_MS (24u * 60u * 60u * 1000u)

typedef struct bg_hlc {
  uint64_t last;         /* last timestamp issued or observed */
  uint64_t max_ahead_ms; /* tolerance for remote timestamps ahead of the wall clock */
} bg_hlc;

/* Clock starting at 0 with the given tolerance (0 selects the default; values
 * above BG_HLC_MAX_AHEAD_LIMIT_MS are lowered to it). */
void bg_hlc_init(bg_hlc *c, uint64_t max_ahead_ms);

/* Compose and split timestamps. physical_ms is truncated to 48 bits. */
uint64_t bg_hlc_make(uint64_t physical_ms, uint16_t logical);
uint64_t bg_hlc_physical(uint64_t ts);
uint16_t bg_hlc_logical(uint64_t ts);

/* Timestamp for a local event or a message we send, given the wall clock now.
 * Strictly greater than every timestamp issued or observed before. When the
 * logical counter would overflow, the physical part moves on by one millisecond.
 * A wall clock beyond the 48-bit range is ignored like a failed read (the clock
 * counts on from its last timestamp). */
uint64_t bg_hlc_now(bg_hlc *c, uint64_t wall_ms);

/* Observe a remote timestamp (a received write or message) and return the local
 * timestamp for the receive event, strictly greater than both. BG_E_CLOCK_SKEW,
 * clock untouched, when physical(remote) > wall_ms + max_ahead_ms. */
bg_err bg_hlc_observe(bg_hlc *c, uint64_t remote, uint64_t wall_ms, uint64_t *out);

/* Wall clock in milliseconds since the Unix epoch (C11 timespec_get); 0 when the
 * clock cannot be read, which the HLC treats as a backward jump. */
uint64_t bg_wall_ms(void);

#endif /* BG_HLC_H */
