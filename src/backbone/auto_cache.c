/* --precision auto's choice remembered per key (see auto_cache.h). */
#include "backbone/auto_cache.h"

#include <limits.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "backbone/backbone.h"
#include "core/cpu.h"
#include "core/fileio.h"

#define MAGIC "deepfashion auto precision 1"

/* The CPU as far as the race can tell CPUs apart: the brand string (a KVM
 * guest may only say "Intel(R) Xeon(R) Processor"), the family/model/
 * stepping signature and the feature words of leaf 7 (AVX-512, VNNI, BF16,
 * AMX), which differ between guests of one host model. */
static void cpu_identity(char *out, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a = 0, b = 0, c = 0, d = 0, sig = 0, f7b = 0, f7c = 0, f7d = 0, f71a = 0;
    char brand[49] = "";
    if (__get_cpuid(1, &a, &b, &c, &d)) sig = a;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, f7b, f7c, f7d);
        __cpuid_count(7, 1, f71a, b, c, d);
    }
    if (__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        unsigned w[12];
        for (unsigned leaf = 0; leaf < 3; leaf++)
            __get_cpuid(0x80000002u + leaf, &w[4 * leaf], &w[4 * leaf + 1], &w[4 * leaf + 2], &w[4 * leaf + 3]);
        memcpy(brand, w, 48);
        brand[48] = '\0';
    }
    const char *s = brand;
    while (*s == ' ') s++;
    snprintf(out, n, "%s sig %x leaf7 %x.%x.%x.%x", s, sig, f7b, f7c, f7d, f71a);
#else
    snprintf(out, n, "non-x86");
#endif
}

df_status df_auto_cache_key(const char *kind, const char *weights_path, const df_backbone_options *opt,
                            char *key, size_t key_size, df_error *err) {
    struct stat sb;
    char real[PATH_MAX];
    if (!weights_path || !realpath(weights_path, real) || stat(real, &sb) != 0)
        return df_error_set(err, DF_ERR_IO, "%s: cannot examine the weights file", weights_path ? weights_path : "");
    df_cpu_cap_libraries(); /* the effective ISA below must be the capped one */
    char cpu[160];
    cpu_identity(cpu, sizeof cpu);
    const dnnl_version_t *v = dnnl_version();
#ifdef _OPENMP
    int threads = omp_get_max_threads();
#else
    int threads = 1;
#endif
    const char *engine = getenv("DF_INT8_ENGINE"), *dw = getenv("DF_NO_DW_FUSION");
    int race_batch = opt->max_batch < DF_RACE_IMAGES ? opt->max_batch : DF_RACE_IMAGES;
    int n = snprintf(key, key_size,
                     "deepfashion %s onednn %d.%d.%d; cpu %s; isa %s onednn-isa %x; threads %d; %s %s size %lld "
                     "mtime %lld.%09ld; cut %s pool %d pooling %d.%d.%d algo %d autotune %d batch %d int8-engine %s dw %s",
                     DF_VERSION, v->major, v->minor, v->patch, cpu, df_cpu_isa_name(df_cpu_isa_best()),
                     (unsigned)dnnl_get_effective_cpu_isa(), threads, kind, real, (long long)sb.st_size,
                     (long long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec,
                     opt->cut_tensor ? opt->cut_tensor : "", opt->pool, (int)opt->pooling.kind, opt->pooling.k,
                     opt->pooling.s, (int)opt->conv_algo, opt->autotune,
                     race_batch, engine ? engine : "", dw ? dw : "");
    if (n < 0 || (size_t)n >= key_size)
        return df_error_set(err, DF_ERR_TOO_LARGE, "%s: the precision cache key is too long", real);
    for (char *p = key; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' '; /* one line, whatever the path holds */
    return DF_OK;
}

char *df_auto_cache_path(const char *dir, const char *key) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a: a file name, not a check (the key is) */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 1099511628211ull;
    char name[64];
    snprintf(name, sizeof name, "precision-auto-%016llx.txt", (unsigned long long)h);
    return df_path_join(dir, name);
}

/* The rest of the line starting with tag (which ends in a space), or NULL. */
static const char *field(const char *text, const char *tag, size_t *len) {
    size_t t = strlen(tag);
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n >= t && !strncmp(line, tag, t)) {
            *len = n - t;
            return line + t;
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

int df_auto_cache_lookup(const char *dir, const char *key, df_precision *precision, char *measured,
                         size_t measured_size) {
    char *path = df_auto_cache_path(dir, key);
    uint8_t *data = NULL;
    size_t size = 0;
    df_error e;
    int found = 0;
    if (path && df_file_read(path, 1 << 16, &data, &size, &e) == DF_OK) {
        char *text = realloc(data, size + 1);
        if (text) {
            data = (uint8_t *)text;
            text[size] = '\0';
            size_t kn = 0, pn = 0, mn = 0;
            const char *k = field(text, "key ", &kn), *p = field(text, "precision ", &pn);
            const char *m = field(text, "measured ", &mn);
            char pname[16];
            df_precision got;
            if (!strncmp(text, MAGIC "\n", strlen(MAGIC) + 1) && k && kn == strlen(key) && !strncmp(k, key, kn) &&
                p && pn > 0 && pn < sizeof pname) {
                memcpy(pname, p, pn);
                pname[pn] = '\0';
                if (df_precision_parse(pname, &got, &e) == DF_OK && got != DF_PRECISION_AUTO) {
                    found = 1;
                    *precision = got;
                    if (measured && measured_size) {
                        size_t c = m ? (mn < measured_size ? mn : measured_size - 1) : 0;
                        if (m) memcpy(measured, m, c);
                        measured[c] = '\0';
                    }
                }
            }
        }
    }
    free(data);
    free(path);
    return found;
}

df_status df_auto_cache_store(const char *dir, const char *key, df_precision precision, const char *measured,
                              df_error *err) {
    if (precision == DF_PRECISION_AUTO)
        return df_error_set(err, DF_ERR_INVALID_ARG, "precision cache: auto is not a choice");
    df_status st = df_mkdir_p(dir, err);
    if (st != DF_OK) return st;
    char *path = df_auto_cache_path(dir, key);
    if (!path) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", dir);
    df_atomic_file af;
    st = df_atomic_open(&af, path, err);
    if (st == DF_OK) {
        fprintf(af.fp, MAGIC "\nkey %s\nprecision %s\nmeasured ", key, df_precision_name(precision));
        for (const char *p = measured ? measured : ""; *p; p++) fputc(*p == '\n' ? ' ' : *p, af.fp);
        fputc('\n', af.fp);
        st = df_atomic_commit(&af, err);
    }
    free(path);
    return st;
}
