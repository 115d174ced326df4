/*
 * Duplicate photos for the audit: exact copies (the same bytes), the same
 * picture in another file (the same decoded, upright pixels: a PNG of a
 * JPEG's pixels, a copy with different metadata) and near-duplicates
 * (re-encoded, resized, slightly cropped or EXIF-rotated copies, burst
 * shots).
 *
 * Near-duplicates are found by three signals: a 64-bit perceptual hash of
 * the upright photo (the DCT hash of Zauner's pHash thesis, 2010, as the
 * Python imagehash library computes it: 32x32 grey, 2-D DCT-II, the 8x8
 * lowest frequencies against their median), which survives re-encoding and
 * resizing; the cosine of the backbone's features, which survives cropping
 * and small shifts but is also high for two similar garments shot alike;
 * and, for the pairs the features make candidates, a check of the pixels:
 * the best correlation of the photos' detail over a search of crops
 * (df_dupes_aligned_similarity). A pair is a near-duplicate when the hashes
 * are all but equal, when the aligned pixels agree, or when the features
 * agree almost exactly (burst shots).
 *
 * Pure functions over arrays; reading and decoding files is audit.c's job.
 */
#ifndef DF_AUDIT_DUPES_H
#define DF_AUDIT_DUPES_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "image/image.h"

/* The 8x8 lowest-frequency coefficients of the 2-D DCT-II of a 32x32
 * plane (unnormalised: out[v * 8 + u] = sum_y sum_x in[y * 32 + x]
 * cos(pi (2x + 1) u / 64) cos(pi (2y + 1) v / 64)), computed separably. */
void df_dupes_dct8(const float *in, float out[64]);

/* The perceptual hash of an upright photo: bit k (k = v * 8 + u) set when
 * DCT coefficient k of the photo's 32x32 area-downscaled luma exceeds the
 * median of the 64. */
df_status df_dupes_phash(const df_image *img, uint64_t *hash, df_error *err) DF_MUST_CHECK;

static inline int df_dupes_hamming(uint64_t a, uint64_t b) { return __builtin_popcountll(a ^ b); }

/* Side of the grey thumbnail kept per photo for the alignment check. */
#define DF_DUPES_THUMB 64

/* thumb: the photo's luma, area-downscaled (stretched) to 64x64. */
df_status df_dupes_thumbnail(const df_image *img, uint8_t *thumb, df_error *err) DF_MUST_CHECK;

/* How well two thumbnails match once a crop is undone: the best
 * normalised cross-correlation between one photo at 32x32 and a window of
 * the other (widths and heights 100% down to 80% of it, anywhere inside),
 * searched both ways, on the detail (each pixel minus its 3x3 mean) so a
 * shared background and silhouette count for less than the picture's
 * content. 1 = identical up to brightness and contrast. */
double df_dupes_aligned_similarity(const uint8_t *a, const uint8_t *b);

typedef struct df_dupes_photo {
    uint8_t bytes[32];   /* SHA-256 of the file */
    uint8_t pixels[32];  /* SHA-256 of the decoded upright photo (size and pixels) */
    uint64_t phash;
    uint8_t thumb[DF_DUPES_THUMB * DF_DUPES_THUMB];
} df_dupes_photo;

typedef enum df_dup_kind {
    DF_DUP_BYTES,   /* identical files */
    DF_DUP_PIXELS,  /* identical decoded pixels, different files */
    DF_DUP_NEAR     /* near-duplicate */
} df_dup_kind;

const char *df_dup_kind_name(df_dup_kind k); /* "same bytes", "same pixels", "near-duplicate" */

typedef struct df_dupes_pair {
    int a, b;          /* photo indices, a < b */
    df_dup_kind kind;
    int hamming;       /* pHash distance */
    float cosine;      /* feature cosine; NAN without features */
    double aligned;    /* df_dupes_aligned_similarity, NAN when not computed */
    double score;      /* 1 for bytes and pixels; else the largest of 1 - hamming / 64, cosine and aligned */
} df_dupes_pair;

/* Defaults measured on the closet and clothing photos (bench/audit_planted.sh):
 * different garments photographed alike on one background reach a hash
 * distance of 4 to 8 (pants on a floor) or a cosine of 0.94 (T-shirts with
 * different prints on one sheet), and a copy cropped by 6% per side sits at
 * hash distance 10 to 18 and cosine 0.92 to 0.95: neither separates them.
 * The aligned similarity does: 0.86 and 0.87 for the cropped copies, at most
 * 0.64 for different garments (0.71 and 0.73 for two real near-duplicates of
 * the clothing set: the same skirt with and without its tag, a dress shot
 * twice). */
typedef struct df_dupes_options {
    int hamming_near;      /* near-duplicate on the hash at or below this; default 3 */
    float cosine_floor;    /* ... unless the features' cosine is below this; default 0.80 */
    float cosine_candidate;/* pairs at or above this cosine are aligned; default 0.85 */
    int hamming_candidate; /* without features: pairs at or below this hash distance are; default 12 */
    double aligned_min;    /* a near-duplicate when aligned this well; default 0.75 */
    float cosine_alone;    /* near-duplicate on the features alone at or above this; default 0.97 */
} df_dupes_options;

df_dupes_options df_dupes_options_default(void);

/* All duplicate pairs among n photos, a < b, in order of (a, b). feat: n x
 * F features with L2-normalised rows, or NULL (the hash alone decides).
 * *pairs is malloc'ed (NULL when none), owned by the caller. */
df_status df_dupes_find(const df_dupes_photo *p, int n, const float *feat, size_t F,
                        const df_dupes_options *opt, df_dupes_pair **pairs, int *n_pairs,
                        df_error *err) DF_MUST_CHECK;

/* Scales each of the n rows of x (F wide) to unit L2 norm (a zero row stays zero). */
void df_dupes_normalize_rows(float *x, int n, size_t F);

#endif
