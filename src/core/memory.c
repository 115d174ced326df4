#include "core/memory.h"

#include <stdlib.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

void *df_alloc_aligned(size_t size) {
    void *p = NULL;
    if (size < DF_HUGE_PAGE) return posix_memalign(&p, 64, size ? size : 1) ? NULL : p;
    if (posix_memalign(&p, DF_HUGE_PAGE, size)) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* Advice only: where THP is off or "always" this changes nothing, and
     * a refusal leaves ordinary pages, so the result is not looked at. */
    (void)madvise(p, size & ~(DF_HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    return p;
}
