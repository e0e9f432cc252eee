/* vectorfile.c - reading and writing golden test vectors (see vectorfile.h). */
#define _POSIX_C_SOURCE 200809L
#include "vectorfile.h"

#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bg__hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int bg_read_file(const char *path, uint8_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, n = 0;
  uint8_t *b = malloc(cap);
  while (b != NULL) {
    if (n + 1 >= cap) {
      uint8_t *nb = realloc(b, cap * 2);
      if (nb == NULL) break;
      b = nb;
      cap *= 2;
    }
    size_t got = fread(b + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
  }
  int err = ferror(f);
  if (f != stdin) fclose(f);
  if (b == NULL || err) {
    fprintf(stderr, "%s: cannot read\n", path);
    free(b);
    return -1;
  }
  b[n] = 0;
  *data = b;
  *len = n;
  return 0;
}

int bg_hex_text(const char *text, size_t len, uint8_t **bytes, size_t *n) {
  uint8_t *out = malloc(len / 2 + 1);
  size_t k = 0;
  int hi = -1;
  bool line_start = true;
  *bytes = NULL;
  *n = 0;
  if (out == NULL) return -1;
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)text[i];
    if (line_start && c == '#') {
      while (i < len && text[i] != '\n') i++;
      continue;
    }
    line_start = c == '\n';
    if (isspace(c)) continue;
    int d = bg__hexval(c);
    if (d < 0) {
      free(out);
      return -1;
    }
    if (hi < 0) {
      hi = d;
    } else {
      out[k++] = (uint8_t)(hi << 4 | d);
      hi = -1;
    }
  }
  if (hi >= 0) {
    free(out);
    return -1;
  }
  *bytes = out;
  *n = k;
  return 0;
}

int bg_vector_load(const char *path, bg_vector *v) {
  memset(v, 0, sizeof *v);
  const char *slash = strrchr(path, '/');
  snprintf(v->name, sizeof v->name, "%s", slash ? slash + 1 : path);
  uint8_t *text;
  size_t len;
  if (bg_read_file(path, &text, &len) != 0) return -1;
  const char *ex = strstr((const char *)text, "# expect: ");
  char kind[16], what[64];
  int rc = -1;
  if (ex != NULL && sscanf(ex, "# expect: %15s %63s", kind, what) == 2) {
    snprintf(v->what, sizeof v->what, "%s", what);
    rc = 0;
    if (strcmp(kind, "ok") == 0) v->expect = BG_EXPECT_OK;
    else if (strcmp(kind, "accept") == 0) v->expect = BG_EXPECT_ACCEPT;
    else if (strcmp(kind, "error") == 0) v->expect = BG_EXPECT_ERROR;
    else rc = -1;
  }
  if (rc == 0) rc = bg_hex_text((const char *)text, len, &v->bytes, &v->len);
  free(text);
  if (rc != 0) fprintf(stderr, "%s: malformed vector file (bad hex or no '# expect:' line)\n", path);
  return rc;
}

void bg_vector_free(bg_vector *v) {
  free(v->bytes);
  v->bytes = NULL;
  v->len = 0;
}

static int bg__cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int bg_vector_names(const char *dir, char ***names) {
  DIR *d = opendir(dir);
  *names = NULL;
  if (d == NULL) {
    fprintf(stderr, "%s: cannot open directory\n", dir);
    return -1;
  }
  int n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t l = strlen(e->d_name);
    if (l < 5 || strcmp(e->d_name + l - 4, ".hex") != 0) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **nn = realloc(*names, (size_t)cap * sizeof *nn);
      if (nn == NULL) break;
      *names = nn;
    }
    (*names)[n] = malloc(l + 1);
    if ((*names)[n] == NULL) break;
    memcpy((*names)[n++], e->d_name, l + 1);
  }
  closedir(d);
  if (n > 0) qsort(*names, (size_t)n, sizeof **names, bg__cmp_names);
  return n;
}

void bg_vector_names_free(char **names, int n) {
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}

int bg_vector_write(const char *path, const char *comment, const char *expect,
                    const uint8_t *bytes, size_t len) {
  FILE *f = fopen(path, "w");
  if (f == NULL) return -1;
  const char *c = comment;
  while (*c) {
    const char *nl = strchr(c, '\n');
    int l = nl ? (int)(nl - c) : (int)strlen(c);
    fprintf(f, "# %.*s\n", l, c);
    c += l + (nl ? 1 : 0);
  }
  fprintf(f, "# expect: %s\n", expect);
  for (size_t i = 0; i < len; i++) {
    fprintf(f, "%02x%s", bytes[i], (i + 1) % 16 == 0 || i + 1 == len ? "\n" : " ");
  }
  return fclose(f) == 0 ? 0 : -1;
}
