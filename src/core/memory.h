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
 * NULL when out of memory.
 *
 * DF_HUGE_PAGES=0 in the environment asks for ordinary pages instead: a
 * virtual machine whose host backs the guest's memory lazily can take
 * 3 ms per MB for huge pages the guest has not used lately (a training
 * run's first batch 116-135 ms against 25-28 ms in 4 KB pages, the AMD
 * EPYC guest of docs/backbone-speed.md), while on another guest the same
 * pages paid for themselves in the run (docs/backbone-speed.md, *Huge
 * pages for the feature maps*). Read at each allocation: no state kept. */
#define DF_HUGE_PAGE ((size_t)2 << 20)
void *df_alloc_aligned(size_t size);

/* 0 when DF_HUGE_PAGES is "0", else 1. */
int df_huge_pages_wanted(void);

#endif
