// writeback.c: sync_file_range, Linux only.
#define _GNU_SOURCE
#include <fcntl.h>
#include "storage.h"

int gc_start_writeback(int descriptor) {
#if defined(__linux__)
    return sync_file_range(descriptor, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)descriptor;
    return -1;
#endif
}
