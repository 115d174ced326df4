/*
 * Times df_augment_apply on a 224x224 image with the original recipe's
 * parameters (and the identity fast path), then the default recipe's (no
 * shear: the axis-aligned rows), the CPU's rows against the scalar ones in
 * the same run. Not a test: prints figures only.
 *     ./build/bench_augment [iterations]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "augment/augment.h"
#include "core/cpu.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* params[0 .. iters) from the seeded streams of cfg */
static void sample(const df_augment_config *cfg, int iters, df_augment_params *params) {
    df_rng rng;
    for (int i = 0; i < iters; i++) {
        df_rng_seed_for(&rng, 1, DF_STREAM_AUGMENT, (uint64_t)i, 0);
        df_augment_sample(cfg, 224, 224, &rng, &params[i]);
    }
}

/* ms per image of iters warps of src by p[i * step] (step 0: p[0] each
 * time) on isa's rows, a byte of each output added to *sum; -1 on failure */
static double ms_per_image(const df_image *src, const df_augment_params *p, int step, int iters, df_cpu_isa isa,
                           df_image *dst, unsigned *sum) {
    df_error err;
    const double t0 = now_s();
    for (int i = 0; i < iters; i++) {
        if (df_augment_apply_isa(src, &p[(size_t)i * step], dst, isa, &err) != DF_OK) return -1.0;
        *sum += dst->pixels[i % (224 * 224 * 3)];
    }
    return 1e3 * (now_s() - t0) / iters;
}

int main(int argc, char **argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 2000;
    if (iters <= 0) iters = 2000;
    df_error err;
    df_image src = {0}, dst = {0};
    if (df_image_alloc(&src, 224, 224, &err) != DF_OK || df_image_alloc(&dst, 224, 224, &err) != DF_OK) {
        fprintf(stderr, "bench_augment: %s\n", err.message);
        return 1;
    }
    df_rng rng;
    df_rng_seed(&rng, 1, 1);
    for (size_t i = 0; i < (size_t)224 * 224 * 3; i++) src.pixels[i] = (uint8_t)df_rng_u32(&rng);
    df_augment_params *params = malloc(sizeof *params * (size_t)iters);
    if (!params) return 1;
    const df_cpu_isa best = df_cpu_isa_best();
    const char *rows = best >= DF_CPU_ISA_AVX2 ? "AVX2" : "scalar";
    unsigned sum = 0;
    const df_augment_config cfg = df_augment_config_original();
    sample(&cfg, iters, params);
    const df_augment_params id = df_augment_params_identity();
    const double cpu = ms_per_image(&src, params, 1, iters, best, &dst, &sum);
    const double copy = ms_per_image(&src, &id, 0, iters, best, &dst, &sum);
    /* the scalar rows, the baseline the vector rows are measured against */
    const double scalar = ms_per_image(&src, params, 1, iters, DF_CPU_ISA_SCALAR, &dst, &sum);
    if (cpu < 0 || copy < 0 || scalar < 0) return 1;
    printf("augment 224x224 original recipe: %.3f ms/image (%s rows; scalar rows %.3f ms/image, %.2fx); "
           "identity copy: %.4f ms/image (%d iterations, checksum %u)\n",
           cpu, rows, scalar, scalar / cpu, copy, iters, sum);
    /* the default recipe's: shift and zoom 0.1, no shear (axis-aligned),
     * left-right mirroring; the AVX2 rows against the general AVX2 rows
     * are in the same figure's history (docs/training-speed.md), here
     * against scalar */
    df_augment_config def = df_augment_config_original();
    def.width_shift = def.height_shift = 0.1, def.zoom = 0.1, def.shear_deg = 0.0, def.vertical_flip = 0;
    sample(&def, iters, params);
    const double cpu_def = ms_per_image(&src, params, 1, iters, best, &dst, &sum);
    const double scalar_def = ms_per_image(&src, params, 1, iters, DF_CPU_ISA_SCALAR, &dst, &sum);
    if (cpu_def < 0 || scalar_def < 0) return 1;
    printf("augment 224x224 default recipe (no shear): %.3f ms/image (%s rows; scalar rows %.3f ms/image, %.2fx; "
           "checksum %u)\n",
           cpu_def, rows, scalar_def, scalar_def / cpu_def, sum);
    free(params);
    df_image_free(&src);
    df_image_free(&dst);
    return 0;
}
