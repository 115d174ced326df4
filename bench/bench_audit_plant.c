/*
 * Builds a copy of a data set with planted problems, for bench/audit_planted.sh
 * (not a test: it writes a folder and a list of what it planted).
 *
 *   ./build/bench_audit_plant SRC DST SEED OFFTOPIC_DIR PLANTED.tsv
 *
 * SRC has train/<class>/ and validation/<class>/. DST (must not exist) gets
 * every photo of SRC, byte for byte, except, chosen by a seeded shuffle of
 * the training photos (each photo used once):
 *   6 mislabeled   training photos moved to another (seeded) class folder
 *   3 leak         copies of training photos put in validation/<class>/:
 *                  re-encoded at quality 75; resized to 70% (quality 85);
 *                  cropped 6% on every side (quality 90)
 *   2 duplicate    in the photo's own training folder: a byte copy; an
 *                  EXIF-rotated (orientation 6), re-encoded copy
 *   3 outlier      photos of OFFTOPIC_DIR (seeded choice) put in training
 *                  class folders
 *   1 dark         a training photo replaced by itself at 20% brightness
 *   1 blurry       a training photo replaced by a blurred version (box
 *                  blur, radius 3, three passes: close to a Gaussian)
 * PLANTED.tsv lists kind<TAB>path<TAB>other, where path is as DST/... and
 * other is the original photo (leak, duplicate; as DST/...) or the true
 * class (mislabeled).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#include "core/fileio.h"
#include "core/rng.h"
#include "image/image.h"
#include "support/jpeg_writer.h"

#define MAXP 8192

typedef struct photo {
    char rel[512];  /* train/<class>/<file> */
    int cls;
    int used;
} photo;

static char classes[64][128];
static int n_classes;

static void die(const char *what, const char *detail) {
    fprintf(stderr, "bench_audit_plant: %s: %s\n", what, detail);
    exit(1);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names in dir (no hidden ones); caller frees. */
static int list_dir(const char *dir, char ***out) {
    DIR *d = opendir(dir);
    if (!d) die(dir, strerror(errno));
    char **v = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        v = realloc(v, sizeof *v * (n + 1));
        v[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(v, n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

static void copy_file(const char *from, const char *to) {
    uint8_t *data;
    size_t size;
    df_error err;
    if (df_file_read(from, (size_t)1 << 30, &data, &size, &err)) die(from, err.message);
    FILE *fp = fopen(to, "wb");
    if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp)) die(to, "cannot write");
    free(data);
}

static void mkdirs(const char *p) {
    df_error err;
    if (df_mkdir_p(p, &err)) die(p, err.message);
}

/* The tests' JPEG writer (tests/support): orientation 6 stores the photo
 * turned with the EXIF tag that turns it back. */
static void write_jpeg(const char *path, const df_image *up, int quality, int orientation) {
    if (df_test_write_jpeg(path, up, quality, orientation)) die(path, "cannot write the JPEG");
}

static df_image load(const char *path) {
    df_image img;
    df_error err;
    if (df_image_load(path, NULL, &img, &err)) die(path, err.message);
    return img;
}

static void box_blur(df_image *img, int r) {
    int W = img->width, H = img->height;
    uint8_t *t = malloc((size_t)W * H * 3);
    for (int pass = 0; pass < 2; pass++) { /* horizontal, then vertical */
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int ch = 0; ch < 3; ch++) {
                    int s = 0, n = 0;
                    for (int d = -r; d <= r; d++) {
                        int xx = pass ? x : x + d, yy = pass ? y + d : y;
                        if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
                        s += img->pixels[((size_t)yy * W + xx) * 3 + ch];
                        n++;
                    }
                    t[((size_t)y * W + x) * 3 + ch] = (uint8_t)(s / n);
                }
        memcpy(img->pixels, t, (size_t)W * H * 3);
    }
    free(t);
}

static photo photos[MAXP];
static int n_photos;

/* Picks an unused training photo (seeded), optionally of class cls (-1 any). */
static int pick(df_rng *rng, int cls) {
    for (int tries = 0; tries < 100000; tries++) {
        int i = (int)df_rng_below(rng, (uint32_t)n_photos);
        if (!photos[i].used && (cls < 0 || photos[i].cls == cls)) {
            photos[i].used = 1;
            return i;
        }
    }
    die("pick", "no unused photo left");
    return -1;
}

static void path2(char *out, size_t n, const char *a, const char *b) { snprintf(out, n, "%s/%s", a, b); }

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: bench_audit_plant SRC DST SEED OFFTOPIC_DIR PLANTED.tsv\n");
        return 2;
    }
    const char *src = argv[1], *dst = argv[2], *offdir = argv[4];
    uint64_t seed = strtoull(argv[3], NULL, 10);
    struct stat sb;
    if (stat(dst, &sb) == 0) die(dst, "already exists");
    char p[2048], q[2048], r[4096];
    path2(p, sizeof p, src, "train");
    char **cls;
    n_classes = list_dir(p, &cls);
    /* Copy everything; remember the training photos. */
    for (int split = 0; split < 2; split++)
        for (int c = 0; c < n_classes; c++) {
            snprintf(p, sizeof p, "%s/%s/%s", src, split ? "validation" : "train", cls[c]);
            snprintf(q, sizeof q, "%s/%s/%s", dst, split ? "validation" : "train", cls[c]);
            mkdirs(q);
            snprintf(classes[c], sizeof classes[c], "%s", cls[c]);
            char **files;
            int nf = list_dir(p, &files);
            for (int k = 0; k < nf; k++) {
                snprintf(r, sizeof r, "%s/%s", p, files[k]);
                char to[4096];
                snprintf(to, sizeof to, "%s/%s", q, files[k]);
                copy_file(r, to);
                if (!split && n_photos < MAXP) {
                    snprintf(photos[n_photos].rel, sizeof photos[n_photos].rel, "train/%s/%s", cls[c], files[k]);
                    photos[n_photos++].cls = c;
                }
                free(files[k]);
            }
            free(files);
        }
    FILE *out = fopen(argv[5], "w");
    if (!out) die(argv[5], strerror(errno));
    df_rng rng;
    df_rng_seed(&rng, seed, 13);
    /* mislabeled: one per class in turn */
    for (int k = 0; k < 6; k++) {
        int i = pick(&rng, k % n_classes);
        int to = (photos[i].cls + 1 + (int)df_rng_below(&rng, (uint32_t)(n_classes - 1))) % n_classes;
        const char *file = strrchr(photos[i].rel, '/') + 1;
        snprintf(p, sizeof p, "%s/%s", dst, photos[i].rel);
        snprintf(q, sizeof q, "%s/train/%s/%s", dst, classes[to], file);
        if (rename(p, q)) die(p, strerror(errno));
        fprintf(out, "mislabeled\t%s\t%s\n", q, classes[photos[i].cls]);
    }
    /* leaks: re-encoded, resized, cropped copies in validation */
    for (int k = 0; k < 3; k++) {
        int i = pick(&rng, -1);
        snprintf(p, sizeof p, "%s/%s", dst, photos[i].rel);
        df_image img = load(p), t = {0};
        df_error err;
        int quality = 75;
        if (k == 1) {
            if (df_image_resize(&img, img.width * 7 / 10, img.height * 7 / 10, DF_RESIZE_AREA, &t, &err)) die(p, err.message);
            quality = 85;
        } else if (k == 2) {
            int mx = img.width * 6 / 100, my = img.height * 6 / 100;
            if (df_image_alloc(&t, img.width - 2 * mx, img.height - 2 * my, &err)) die(p, err.message);
            for (int y = 0; y < t.height; y++)
                memcpy(t.pixels + (size_t)y * t.width * 3, img.pixels + ((size_t)(y + my) * img.width + mx) * 3,
                       (size_t)t.width * 3);
            quality = 90;
        }
        snprintf(q, sizeof q, "%s/validation/%s/planted_leak_%d.jpg", dst, classes[photos[i].cls], k);
        write_jpeg(q, t.pixels ? &t : &img, quality, 1);
        fprintf(out, "leak\t%s\t%s\n", q, p);
        df_image_free(&img);
        df_image_free(&t);
    }
    /* duplicates in train: a byte copy, an EXIF-rotated re-encoded copy */
    for (int k = 0; k < 2; k++) {
        int i = pick(&rng, -1);
        snprintf(p, sizeof p, "%s/%s", dst, photos[i].rel);
        snprintf(q, sizeof q, "%s/train/%s/planted_dup_%d.jpg", dst, classes[photos[i].cls], k);
        if (k == 0) {
            copy_file(p, q);
        } else {
            df_image img = load(p);
            write_jpeg(q, &img, 88, 6);
            df_image_free(&img);
        }
        fprintf(out, "duplicate\t%s\t%s\n", q, p);
    }
    /* off-topic photos */
    char **off;
    int n_off = list_dir(offdir, &off), m = 0;
    for (int k = 0; k < n_off; k++) /* keep image files only */
        if (strstr(off[k], ".jpg") || strstr(off[k], ".bmp") || strstr(off[k], ".png")) off[m++] = off[k];
    for (int k = 0; k < 3 && m > 0; k++) {
        int j = (int)df_rng_below(&rng, (uint32_t)m);
        const char *name = off[j];
        off[j] = off[--m];
        int c = (int)df_rng_below(&rng, (uint32_t)n_classes);
        snprintf(p, sizeof p, "%s/%s", offdir, name);
        snprintf(q, sizeof q, "%s/train/%s/planted_offtopic_%s", dst, classes[c], name);
        copy_file(p, q);
        fprintf(out, "outlier\t%s\t-\n", q);
    }
    /* dark and blurry: replaced in place */
    for (int k = 0; k < 2; k++) {
        int i = pick(&rng, -1);
        snprintf(p, sizeof p, "%s/%s", dst, photos[i].rel);
        df_image img = load(p);
        if (k == 0)
            for (size_t z = 0; z < (size_t)img.width * img.height * 3; z++) img.pixels[z] = (uint8_t)(img.pixels[z] / 5);
        else
            for (int pass = 0; pass < 3; pass++) box_blur(&img, 3);
        write_jpeg(p, &img, 90, 1);
        fprintf(out, "%s\t%s\t-\n", k == 0 ? "dark" : "blurry", p);
        df_image_free(&img);
    }
    if (fclose(out)) die(argv[5], "cannot write");
    return 0;
}
