#include "core/memory.h"

#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

int df_huge_pages_wanted(void) {
    const char *v = getenv("DF_HUGE_PAGES");
    return !(v && strcmp(v, "0") == 0);
}

void *df_alloc_aligned(size_t size) {
    void *p = NULL;
    if (size < DF_HUGE_PAGE) return posix_memalign(&p, 64, size ? size : 1) ? NULL : p;
    if (posix_memalign(&p, DF_HUGE_PAGE, size)) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
    /* Advice only: where THP is off this changes nothing, and a refusal
     * leaves ordinary pages, so the result is not looked at. The opt-out
     * asks for ordinary pages outright, so that it holds where THP is
     * "always" too. */
    (void)madvise(p, size & ~(DF_HUGE_PAGE - 1), df_huge_pages_wanted() ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#endif
    return p;
}
