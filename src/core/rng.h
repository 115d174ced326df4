/*
 * Seeded random streams (PCG32, O'Neill 2014, XSH-RR variant). No global
 * state: each consumer owns a df_rng made from (seed, stream id), so results
 * depend on the seed and not on thread count or scheduling. Stream ids name
 * the consumer (e.g. DF_STREAM_AUGMENT ^ image index) so adding a consumer
 * does not shift the numbers another one sees.
 */
#ifndef DF_CORE_RNG_H
#define DF_CORE_RNG_H

#include <stdint.h>

typedef struct df_rng {
    uint64_t state;
    uint64_t inc;
} df_rng;

enum {
    DF_STREAM_SPLIT = 1,      /* train/validation split */
    DF_STREAM_SHUFFLE = 2,    /* epoch order */
    DF_STREAM_INIT = 3,       /* weight initialisation */
    DF_STREAM_DROPOUT = 4,    /* dropout masks */
    DF_STREAM_AUGMENT = 5,    /* augmentation parameters (xor image/epoch ids in) */
    DF_STREAM_FOLDS = 6       /* cross-validation folds */
};

void df_rng_seed(df_rng *rng, uint64_t seed, uint64_t stream);
/* A stream for (seed, kind, a, b): e.g. augmentation of image a in epoch b. */
void df_rng_seed_for(df_rng *rng, uint64_t seed, uint64_t kind, uint64_t a, uint64_t b);
uint32_t df_rng_u32(df_rng *rng);
/* Uniform in [0, 1) with 24 random bits (exactly representable in float). */
float df_rng_uniform(df_rng *rng);
/* Uniform in [lo, hi). */
float df_rng_uniform_range(df_rng *rng, float lo, float hi);
/* Uniform integer in [0, n), unbiased (Lemire's method). n > 0. */
uint32_t df_rng_below(df_rng *rng, uint32_t n);
/* Standard normal (Box-Muller). */
float df_rng_normal(df_rng *rng);
/* Fisher-Yates shuffle of idx[0..n). */
void df_rng_shuffle(df_rng *rng, int *idx, int n);

#endif
