/*
 * vectorfile.h - golden test vectors (the .hex files in tests/vectors).
 *
 * Format: lines starting with '#' are comments; one of them says what a
 * conforming decoder must do with the frame:
 *   # expect: ok TYPE          decodes as TYPE and re-encodes to the same bytes
 *   # expect: accept TYPE      decodes as TYPE (not canonical: re-encoding differs)
 *   # expect: error BG_E_NAME  refused with that error code
 * Every other line holds hex digits of one whole frame; whitespace is ignored.
 * (The same reader serves bgframe, which also takes hex without expectations.)
 */
#ifndef BG_VECTORFILE_H
#define BG_VECTORFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum bg_expect { BG_EXPECT_OK, BG_EXPECT_ACCEPT, BG_EXPECT_ERROR } bg_expect;

typedef struct bg_vector {
  char name[128];    /* file name without directory */
  bg_expect expect;
  char what[64];     /* message type name, or error name */
  uint8_t *bytes;    /* the frame, heap */
  size_t len;
} bg_vector;

/* Read a whole file into a heap buffer (NUL-terminated; *len excludes the NUL).
 * Returns 0, or -1 with a message on stderr. */
int bg_read_file(const char *path, uint8_t **data, size_t *len);

/* Whether `text` is in the vector format (hex digits, whitespace, '#' comment
 * lines) and, if so, its bytes in a heap buffer. Returns 0 or -1 (not hex). */
int bg_hex_text(const char *text, size_t len, uint8_t **bytes, size_t *n);

/* Load one vector file. Returns 0, or -1 with a message on stderr. */
int bg_vector_load(const char *path, bg_vector *v);
void bg_vector_free(bg_vector *v);

/* Sorted names of the .hex files in `dir` (heap array of heap strings; free
 * with bg_vector_names_free). Returns the count, or -1 on error. */
int bg_vector_names(const char *dir, char ***names);
void bg_vector_names_free(char **names, int n);

/* Write `len` bytes as a vector file with the given comment lines (each without
 * the leading '#') and expectation line. Returns 0 or -1. */
int bg_vector_write(const char *path, const char *comment, const char *expect,
                    const uint8_t *bytes, size_t len);

#endif /* BG_VECTORFILE_H */
