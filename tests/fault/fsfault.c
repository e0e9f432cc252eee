/*
 * fsfault.c - a storage fault for a real process: loaded with LD_PRELOAD, it
 * makes writes and syncs of the files whose path contains $BG_FSFAULT_MATCH
 * fail while the file $BG_FSFAULT_FLAG exists - with ENOSPC (disk full), or
 * EIO when the flag file starts with "EIO". Removing the flag file ends the
 * fault: a disk that was full has room again. Everything else passes through.
 *
 * Test-only (tests/e2e/test_storage.c). It intercepts the calls SQLite's unix
 * VFS makes for writing: write, pwrite, pwrite64, fsync, fdatasync.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* The error to fail with now for `fd` (0: none). */
static int fault_for(int fd) {
  const char *flag = getenv("BG_FSFAULT_FLAG"), *match = getenv("BG_FSFAULT_MATCH");
  if (!flag || !match || fd < 0) return 0;
  int saved = errno;
  int err = 0;
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n > 0) {
    path[n] = 0;
    if (strstr(path, match)) {
      FILE *f = fopen(flag, "r");
      if (f) {
        char kind[8] = "";
        err = fgets(kind, sizeof kind, f) && strncmp(kind, "EIO", 3) == 0 ? EIO : ENOSPC;
        fclose(f);
      }
    }
  }
  errno = saved;
  return err;
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t write(int fd, const void *buf, size_t n) {
  int err = fault_for(fd);
  if (err) {
    errno = err;
    return -1;
  }
  return NEXT(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  int err = fault_for(fd);
  if (err) {
    errno = err;
    return -1;
  }
  return NEXT(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
  int err = fault_for(fd);
  if (err) {
    errno = err;
    return -1;
  }
  return NEXT(pwrite64)(fd, buf, n, off);
}

int fsync(int fd) {
  int err = fault_for(fd);
  if (err) {
    errno = err;
    return -1;
  }
  return NEXT(fsync)(fd);
}

int fdatasync(int fd) {
  int err = fault_for(fd);
  if (err) {
    errno = err;
    return -1;
  }
  return NEXT(fdatasync)(fd);
}
