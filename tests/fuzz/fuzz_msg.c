/*
 * fuzz_msg - libFuzzer target: the input is one frame body, straight into the
 * message decoder (see fuzz_check.h). Reaches the field checks faster than
 * fuzz_frame, which spends input on length prefixes.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bg_fuzz_check_body(data, size);
  return 0;
}
