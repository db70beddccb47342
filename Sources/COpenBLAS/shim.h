// shim.h: OpenBLAS's CBLAS interface (Debian's libopenblas-dev, pkg-config `openblas`).
// Only `cblas_sgemm` and `cblas_dgemm` are used, by GRUReference's fast path.
#ifndef GRU_CONVERT_COPENBLAS_SHIM_H
#define GRU_CONVERT_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
