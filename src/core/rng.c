/* PCG32 random streams (see rng.h). Matches the reference pcg32_random_r. */
#include "core/rng.h"

#include <math.h>

void df_rng_seed(df_rng *rng, uint64_t seed, uint64_t stream) {
    rng->state = 0u;
    rng->inc = (stream << 1u) | 1u;
    df_rng_u32(rng);
    rng->state += seed;
    df_rng_u32(rng);
}

/* splitmix64 finaliser: spreads (kind, a, b) into an uncorrelated stream id. */
static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void df_rng_seed_for(df_rng *rng, uint64_t seed, uint64_t kind, uint64_t a, uint64_t b) {
    uint64_t stream = mix64(kind ^ mix64(a ^ mix64(b)));
    df_rng_seed(rng, mix64(seed) ^ stream, stream);
}

uint32_t df_rng_u32(df_rng *rng) {
    uint64_t old = rng->state;
    rng->state = old * 6364136223846793005ull + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

float df_rng_uniform(df_rng *rng) {
    return (float)(df_rng_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

float df_rng_uniform_range(df_rng *rng, float lo, float hi) {
    return lo + (hi - lo) * df_rng_uniform(rng);
}

uint32_t df_rng_below(df_rng *rng, uint32_t n) {
    uint64_t m = (uint64_t)df_rng_u32(rng) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)df_rng_u32(rng) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float df_rng_normal(df_rng *rng) {
    /* 1 - u keeps the log argument in (0, 1]. */
    double u1 = 1.0 - (double)df_rng_uniform(rng);
    double u2 = (double)df_rng_uniform(rng);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void df_rng_shuffle(df_rng *rng, int *idx, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)df_rng_below(rng, (uint32_t)(i + 1));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
