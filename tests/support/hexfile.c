/* hexfile.c - reading and writing golden test vectors (see hexfile.h). */
#define _POSIX_C_SOURCE 200809L
#include "hexfile.h"

#include <ctype.h>
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

int bg_vector_load(const char *path, bg_vector *v) {
  memset(v, 0, sizeof *v);
  const char *slash = strrchr(path, '/');
  snprintf(v->name, sizeof v->name, "%s", slash ? slash + 1 : path);
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    fprintf(stderr, "%s: cannot open\n", path);
    return -1;
  }
  size_t cap = 256;
  v->bytes = malloc(cap);
  bool have_expect = false;
  int hi = -1;
  char line[4096];
  int rc = 0;
  while (rc == 0 && v->bytes != NULL && fgets(line, sizeof line, f) != NULL) {
    if (line[0] == '#') {
      char kind[16], what[64];
      if (sscanf(line, "# expect: %15s %63s", kind, what) == 2) {
        have_expect = true;
        snprintf(v->what, sizeof v->what, "%s", what);
        if (strcmp(kind, "ok") == 0) v->expect = BG_EXPECT_OK;
        else if (strcmp(kind, "accept") == 0) v->expect = BG_EXPECT_ACCEPT;
        else if (strcmp(kind, "error") == 0) v->expect = BG_EXPECT_ERROR;
        else rc = -1;
      }
      continue;
    }
    for (char *p = line; *p && rc == 0; p++) {
      if (isspace((unsigned char)*p)) continue;
      int d = bg__hexval((unsigned char)*p);
      if (d < 0) {
        rc = -1;
        break;
      }
      if (hi < 0) {
        hi = d;
        continue;
      }
      if (v->len == cap) {
        uint8_t *nb = realloc(v->bytes, cap * 2);
        if (nb == NULL) { rc = -1; break; }
        v->bytes = nb;
        cap *= 2;
      }
      v->bytes[v->len++] = (uint8_t)(hi << 4 | d);
      hi = -1;
    }
  }
  fclose(f);
  if (v->bytes == NULL || rc != 0 || hi >= 0 || !have_expect) {
    fprintf(stderr, "%s: malformed vector file (bad hex or no '# expect:' line)\n", path);
    bg_vector_free(v);
    return -1;
  }
  return 0;
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
