/*
 * Seed corpus for fuzz_keras_report: `keras_report_seeds OUTDIR` writes
 * inputs of the form [u32 length of the names-and-shapes report][that
 * report][the values report], in the format formats/keras_h5.c's children
 * write (u32 counts and lengths, u64 dimensions, float32 values, native
 * byte order). Each seed is checked to load here before it is written, so a
 * change of format that left the seeds behind fails loudly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/keras_h5.h"

typedef struct buf {
    unsigned char b[1 << 16];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n) {
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void str(buf *b, const char *s) {
    u32(b, (uint32_t)strlen(s));
    put(b, s, strlen(s));
}

enum { META_MAGIC = 0x314d4b44u, DATA_MAGIC = 0x31444b44u };

typedef struct wdesc {
    const char *name;
    int rank;
    uint64_t dims[4];
    int shape_error; /* the meta report says why it has no shape */
    int data_error;  /* the values report says why it has no values */
} wdesc;

/* A model of n layers with 2 weights each, layer names "l<i>". */
static int write_seed(const char *dir, const char *name, const wdesc *w, int n_layers, int pools) {
    static buf meta, data;
    meta.n = data.n = 0;
    u32(&meta, META_MAGIC);
    u32(&meta, (uint32_t)(n_layers + pools));
    u32(&meta, (uint32_t)n_layers);
    u32(&data, DATA_MAGIC);
    u32(&data, (uint32_t)n_layers);
    for (int i = 0; i < n_layers; i++) {
        char lname[16];
        snprintf(lname, sizeof lname, "l%d", i);
        str(&meta, lname);
        u32(&meta, 2);
        u32(&data, 2);
        for (int j = 0; j < 2; j++) {
            const wdesc *d = &w[2 * i + j];
            str(&meta, d->name);
            if (d->shape_error) {
                u32(&meta, DF_ERR_FORMAT);
                str(&meta, "w.h5: layer: weight is not floating point");
                u32(&data, 1);
                continue;
            }
            u32(&meta, 0);
            u32(&meta, (uint32_t)d->rank);
            for (int k = 0; k < d->rank; k++) u64(&meta, d->dims[k]);
            u32(&data, 0);
            u32(&data, (uint32_t)d->rank);
            size_t count = 1;
            for (int k = 0; k < d->rank; k++) {
                u64(&data, d->dims[k]);
                count *= (size_t)d->dims[k];
            }
            if (d->data_error) {
                u32(&data, DF_ERR_FORMAT);
                str(&data, "w.h5: layer: cannot read weight, truncated?");
                continue;
            }
            u32(&data, 0);
            for (size_t k = 0; k < count; k++) {
                float v = (float)k * 0.25f - 1.0f;
                put(&data, &v, 4);
            }
        }
    }
    /* The seed must load as it is. */
    df_keras_h5 *f;
    df_error err;
    if (df_keras_h5_from_report("seed.h5", meta.b, meta.n, &f, &err) != DF_OK) {
        fprintf(stderr, "keras_report_seeds: %s: %s\n", name, err.message);
        return 1;
    }
    unsigned char *copy = malloc(data.n);
    if (!copy) return 1;
    memcpy(copy, data.b, data.n);
    df_status st = df_keras_h5_attach_data(f, copy, data.n, &err);
    df_keras_h5_close(f);
    if (st != DF_OK) {
        fprintf(stderr, "keras_report_seeds: %s: values: %s\n", name, err.message);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp) return 1;
    uint32_t ml = (uint32_t)meta.n;
    int bad = fwrite(&ml, 4, 1, fp) != 1 || fwrite(meta.b, 1, meta.n, fp) != meta.n ||
              fwrite(data.b, 1, data.n, fp) != data.n;
    return fclose(fp) != 0 || bad;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: keras_report_seeds OUTDIR\n");
        return 2;
    }
    const char *d = argv[1];
    const wdesc conv[4] = {{"l0/kernel:0", 4, {3, 3, 3, 4}, 0, 0},
                           {"l0/bias:0", 1, {4}, 0, 0},
                           {"l1_W_1:0", 4, {3, 3, 4, 2}, 0, 0},
                           {"l1_b_1:0", 1, {2}, 0, 0}};
    const wdesc odd[4] = {{"a", 2, {5, 3}, 0, 0}, {"b", 0, {0}, 0, 0}, {"c", 3, {2, 0, 7}, 0, 0}, {"d", 1, {1}, 0, 0}};
    const wdesc failing[4] = {{"k", 4, {1, 1, 2, 2}, 0, 0},
                              {"missing", 1, {2}, 1, 0},
                              {"truncated", 2, {2, 2}, 0, 1},
                              {"fine", 1, {3}, 0, 0}};
    int rc = write_seed(d, "conv.bin", conv, 2, 1);
    rc |= write_seed(d, "odd_shapes.bin", odd, 2, 0);
    rc |= write_seed(d, "failures.bin", failing, 2, 3);
    return rc;
}
