// writeback.c: sync_file_range and renameat2, Linux only, with fallbacks.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "storage.h"

int gc_start_writeback(int descriptor) {
#if defined(__linux__)
    return sync_file_range(descriptor, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)descriptor;
    return -1;
#endif
}

int gc_rename_noreplace(const char *from, const char *to) {
#if defined(__linux__) && defined(RENAME_NOREPLACE)
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
#endif
    if (link(from, to) == 0) {
        unlink(from);                     /* published; a leftover temporary name is harmless */
        return 0;
    }
    if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP && errno != ENOSYS && errno != EXDEV) return -1;
    /* No hard links here (FUSE, vfat): check, then rename; the window between is the caller's risk. */
    struct stat info;
    if (lstat(to, &info) == 0) { errno = EEXIST; return -1; }
    return rename(from, to);
}
