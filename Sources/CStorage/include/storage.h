// storage.h: what the tensor store needs from C besides libhdf5: CRC-32C with the processor's crc32
// instruction where it has one, and starting disk writes early (sync_file_range, which Swift's Glibc
// module does not show).
#ifndef GRU_CONVERT_STORAGE_H
#define GRU_CONVERT_STORAGE_H

#include <stddef.h>
#include <stdint.h>

/// Whether this processor computes CRC-32C in hardware (x86-64 SSE4.2, checked at run time; AArch64 CRC).
/// When it does not, gc_crc32c_extend must not be called: the caller keeps its own table-driven code.
int gc_crc32c_hardware(void);

/// The CRC-32C state after `bytes` (pass the state, not the finished crc: the caller inverts before and
/// after, as for the table-driven form). Only when gc_crc32c_hardware() is nonzero.
uint32_t gc_crc32c_extend(uint32_t state, const void *bytes, size_t count);

/// Starts writing the dirty pages of the open file `descriptor` to disk without waiting for them
/// (`sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)`); returns 0, or -1 where that is not available.
int gc_start_writeback(int descriptor);

/// `rename(from, to)` that fails with EEXIST instead of replacing an existing `to` (`renameat2` with
/// RENAME_NOREPLACE); where the file system cannot, `link` + `unlink`, which also never replaces.
int gc_rename_noreplace(const char *from, const char *to);

#endif
