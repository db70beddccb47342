// shim.h: OpenBLAS's CBLAS interface (Debian's libopenblas-dev, pkg-config `openblas`).
// Only gru-bench links it, to set OpenBLAS's sgemm beside the package's own kernels.
#ifndef GRU_CONVERT_COPENBLAS_SHIM_H
#define GRU_CONVERT_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
