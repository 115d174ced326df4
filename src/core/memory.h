/*
 * Buffers for the engines' activations, workspaces and scratchpads.
 */
#ifndef DF_CORE_MEMORY_H
#define DF_CORE_MEMORY_H

#include <stddef.h>

/* size bytes (at least 1), 64-byte aligned (the kernels load whole cache
 * lines); free() releases it. A buffer of DF_HUGE_PAGE bytes or more is
 * aligned to DF_HUGE_PAGE and asked for transparent huge pages, where the
 * kernel grants them only on request (THP "madvise", the default of
 * Ubuntu and others): a batch's feature maps are tens of MB, and in 4 KB
 * pages every first touch faults and every layer's sweep misses the TLB.
 * NULL when out of memory. */
#define DF_HUGE_PAGE ((size_t)2 << 20)
void *df_alloc_aligned(size_t size);

#endif
