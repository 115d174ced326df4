/*
 * Image decode/resize timings (not a test: prints numbers, asserts nothing).
 *
 *   ./build/bench_image [photo.jpg]
 *
 * 1. A real photo (default: the first JPEG under
 *    $DF_SHARED_DIR/datasets/clothing/train/dress, else ../shared/...) decoded
 *    full size and with the 224x224 DCT-scaling hint.
 * 2. A synthetic 4000x3000 JPEG (12 MP, quality 90, 4:2:0, encoded here)
 *    decoded full size and with the hint (1/8 scale: 500x375).
 * 3. Resizing the decoded photo to 224x224 with each method.
 * Each figure is the median of several runs, single thread.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>

#include "core/fileio.h"
#include "image/image.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median decode time; reports the decoded size. */
static double time_decode(const uint8_t *d, size_t n, int minw, int minh, int reps, int *w, int *h) {
    double t[64];
    if (reps > 64) reps = 64;
    df_image_load_options opt = df_image_load_options_default();
    opt.min_width = minw;
    opt.min_height = minh;
    for (int r = 0; r < reps; r++) {
        df_image img;
        df_error err;
        double t0 = now_ms();
        if (df_image_decode(d, n, "bench", &opt, &img, &err) != DF_OK) {
            fprintf(stderr, "decode failed: %s\n", err.message);
            exit(1);
        }
        t[r] = now_ms() - t0;
        *w = img.width;
        *h = img.height;
        df_image_free(&img);
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps / 2];
}

static uint8_t *synthetic_jpeg(int w, int h, size_t *size) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * 3);
    uint32_t s = 12345;
    while (c.next_scanline < c.image_height) {
        int y = (int)c.next_scanline;
        for (int x = 0; x < w; x++) {
            s = s * 1664525u + 1013904223u; /* fixed LCG: texture like sensor noise */
            int noise = (int)(s >> 28) - 8;
            int v[3] = {x * 255 / w + noise, y * 255 / h + noise, ((x / 64 + y / 64) % 2) * 120 + 60 + noise};
            for (int k = 0; k < 3; k++) row[3 * x + k] = (uint8_t)(v[k] < 0 ? 0 : v[k] > 255 ? 255 : v[k]);
        }
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    free(row);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *size = len;
    return buf;
}

static char *find_photo(void) {
    const char *shared = getenv("DF_SHARED_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/datasets/clothing/train/dress", shared ? shared : "../shared");
    DIR *d = opendir(dir);
    if (!d) return NULL;
    struct dirent *e;
    char *best = NULL;
    while ((e = readdir(d)) != NULL) {
        size_t L = strlen(e->d_name);
        if (L > 4 && strcmp(e->d_name + L - 4, ".jpg") == 0 && (!best || strcmp(e->d_name, strrchr(best, '/') + 1) < 0)) {
            free(best);
            best = df_path_join(dir, e->d_name);
        }
    }
    closedir(d);
    return best;
}

int main(int argc, char **argv) {
    char *photo = argc > 1 ? strdup(argv[1]) : find_photo();
    int w, h;
    df_image img = {0, 0, NULL};
    if (photo) {
        uint8_t *d;
        size_t n;
        df_error err;
        if (df_file_read(photo, DF_IMAGE_MAX_FILE_BYTES, &d, &n, &err) != DF_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        printf("photo %s (%zu bytes)\n", photo, n);
        double full = time_decode(d, n, 0, 0, 31, &w, &h);
        printf("  decode full size        %4dx%-4d  %7.2f ms\n", w, h, full);
        double hint = time_decode(d, n, 224, 224, 31, &w, &h);
        printf("  decode, min 224x224     %4dx%-4d  %7.2f ms\n", w, h, hint);
        if (df_image_decode(d, n, "photo", NULL, &img, &err) != DF_OK) return 1;
        free(d);
    } else {
        printf("photo: none found (pass a JPEG path or set DF_SHARED_DIR)\n");
    }

    size_t n;
    double t0 = now_ms();
    uint8_t *big = synthetic_jpeg(4000, 3000, &n);
    printf("synthetic 4000x3000 JPEG q90 (%zu bytes, encoded in %.0f ms)\n", n, now_ms() - t0);
    double full = time_decode(big, n, 0, 0, 5, &w, &h);
    printf("  decode full size        %4dx%-4d  %7.2f ms\n", w, h, full);
    double hint = time_decode(big, n, 224, 224, 15, &w, &h);
    printf("  decode, min 224x224     %4dx%-4d  %7.2f ms  (%.1fx faster)\n", w, h, hint, full / hint);
    free(big);

    if (img.pixels) {
        printf("resize photo %dx%d -> 224x224\n", img.width, img.height);
        for (int m = DF_RESIZE_NEAREST; m <= DF_RESIZE_BILINEAR; m++) {
            double t[31];
            for (int r = 0; r < 31; r++) {
                df_image out;
                df_error err;
                double a = now_ms();
                if (df_image_resize(&img, 224, 224, (df_resize_method)m, &out, &err) != DF_OK) return 1;
                t[r] = now_ms() - a;
                df_image_free(&out);
            }
            qsort(t, 31, sizeof t[0], cmp_double);
            printf("  %-8s                           %7.3f ms\n", df_resize_method_name((df_resize_method)m), t[15]);
        }
        df_image_free(&img);
    }
    free(photo);
    return 0;
}
