/*
 * Data sets: scanning a fixture tree built here (tiny BMPs written by hand,
 * junk of every kind) gives the exact items in Keras order and the exact
 * skipped list; unusable trees give one-line DF_ERR_DATA errors; the split
 * is stratified and seeded; epoch orders are seeded permutations; names are
 * printed safely as JSON and as text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/text.h"
#include "image/image.h"
#include "support/jpeg_writer.h"
#include "support/test_support.h"

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A w x h 24-bit BMP (BITMAPINFOHEADER, bottom-up rows padded to 4 bytes). */
static void write_bmp(const char *path, int w, int h) {
    int row = (w * 3 + 3) & ~3;
    size_t size = 54 + (size_t)row * h;
    uint8_t *b = calloc(1, size);
    assert_non_null(b);
    b[0] = 'B', b[1] = 'M';
    put32(b + 2, (uint32_t)size);
    put32(b + 10, 54);  /* pixel data offset */
    put32(b + 14, 40);  /* info header size */
    put32(b + 18, (uint32_t)w);
    put32(b + 22, (uint32_t)h);
    b[26] = 1;          /* planes */
    b[28] = 24;         /* bits per pixel; compression 0 = BI_RGB */
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            uint8_t *p = b + 54 + (size_t)r * row + (size_t)c * 3;
            p[0] = (uint8_t)(c * 20), p[1] = (uint8_t)(r * 30), p[2] = 200;
        }
    assert_int_equal(df_test_write_file(path, b, size), 0);
    free(b);
}

static char *join(const char *a, const char *b) {
    char *p = malloc(strlen(a) + strlen(b) + 2);
    assert_non_null(p);
    sprintf(p, "%s/%s", a, b);
    return p;
}

static void mkdirs(const char *root, const char *rel) {
    char *p = join(root, rel);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
}

static void bmp(const char *root, const char *rel) {
    char *p = join(root, rel);
    write_bmp(p, 5, 4);
    free(p);
}

static void bytes(const char *root, const char *rel, const void *data, size_t n) {
    char *p = join(root, rel);
    assert_int_equal(df_test_write_file(p, data, n), 0);
    free(p);
}

static void link_to(const char *root, const char *rel, const char *target) {
    char *p = join(root, rel);
    assert_int_equal(symlink(target, p), 0);
    free(p);
}

/* Checks path == root + "/" + rel. */
static void assert_rel(const char *path, const char *root, const char *rel) {
    char *want = join(root, rel);
    if (strcmp(path, want)) print_message("got %s, want %s\n", path, want);
    assert_string_equal(path, want);
    free(want);
}

static void test_scan_fixture_tree(void **state) {
    (void)state;
    char *root = df_test_tempdir();
    assert_non_null(root);
    mkdirs(root, "Z");
    mkdirs(root, "Z/sub");
    mkdirs(root, "Z/d.jpg"); /* a folder with an image name is a folder */
    mkdirs(root, "a");
    mkdirs(root, ".git");
    bytes(root, "LICENSE", "cc0\n", 4);
    bmp(root, "Z/a1.bmp");
    bmp(root, "Z/UPPER.BMP");
    bmp(root, "Z/zz.bmp");
    bmp(root, "Z/sub/b.bmp");
    bmp(root, "Z/d.jpg/inner.bmp");
    bytes(root, "Z/notes.txt", "hello\n", 6);
    bytes(root, "Z/x.heic", "\0\0\0\x18" "ftypheic", 12);
    bytes(root, "Z/photo.jpg", "GIF89a\x01\0\x01\0\x80\0\0", 13); /* a GIF renamed */
    bytes(root, "Z/empty.jpg", "", 0);
    const unsigned char corrupt[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0,
                                     1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xDB, 0x00, 0x43, 0x00, 7};
    bytes(root, "Z/corrupt.jpg", corrupt, sizeof corrupt);
    bytes(root, "Z/scan.tif", "II*\0", 4);
    bmp(root, "Z/.hidden.png");
    char *fifo = join(root, "Z/fifo.jpg");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    free(fifo);
    link_to(root, "Z/loop", ".");      /* back to an ancestor */
    link_to(root, "Z/self", "self");   /* ELOOP */
    link_to(root, "Z/gone.jpg", "nowhere.jpg");
    /* Sparse: over the 512 MiB cap without using the disk; never read. */
    char *big = join(root, "Z/big.jpg");
    FILE *f = fopen(big, "wb");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), (off_t)DF_IMAGE_MAX_FILE_BYTES + 1), 0);
    fclose(f);
    free(big);
    bmp(root, "a/c.bmp");
    bmp(root, "a/c2.bmp");
    bmp(root, "a/caf\xe9.bmp"); /* Latin-1 name: not UTF-8 */
    bytes(root, "a/README", "x", 1);

    df_dataset *ds = NULL;
    df_error err;
    df_status s = df_dataset_scan(root, NULL, &ds, &err);
    if (s != DF_OK) print_message("scan: %s\n", err.message);
    assert_int_equal(s, DF_OK);
    assert_int_equal(ds->num_classes, 2);
    assert_string_equal(ds->class_names[0], "Z");
    assert_string_equal(ds->class_names[1], "a");
    assert_int_equal(ds->class_counts[0], 5);
    assert_int_equal(ds->class_counts[1], 3);
    assert_int_equal(ds->count, 8);
    /* Keras' order: files of a folder before its subfolders', folders by path. */
    const char *items[8] = {"Z/UPPER.BMP", "Z/a1.bmp", "Z/zz.bmp", "Z/d.jpg/inner.bmp",
                            "Z/sub/b.bmp", "a/c.bmp",  "a/c2.bmp", "a/caf\xe9.bmp"};
    for (int i = 0; i < 8; i++) {
        assert_rel(ds->items[i].path, root, items[i]);
        assert_int_equal(ds->items[i].label, i < 5 ? 0 : 1);
    }
    struct {
        const char *rel, *reason;
        int prefix_only;
    } skipped[] = {
        {".git", "hidden folder", 0},
        {"LICENSE", "not in a class folder", 0},
        {"Z/.hidden.png", "hidden file", 0},
        {"Z/big.jpg", "too large: 536870913 bytes (limit 536870912)", 0},
        {"Z/corrupt.jpg", "corrupt: ", 1},
        {"Z/empty.jpg", "empty file", 0},
        {"Z/fifo.jpg", "not a regular file (FIFO)", 0},
        {"Z/gone.jpg", "broken symlink", 0},
        {"Z/loop", "symlink loop", 0},
        {"Z/notes.txt", "unsupported type .txt", 0},
        {"Z/photo.jpg", "unsupported format: ", 1},
        {"Z/scan.tif", "unsupported format .tif", 0},
        {"Z/self", "symlink loop", 0},
        {"Z/x.heic", "unsupported type .heic", 0},
        {"a/README", "unsupported type (no extension)", 0},
    };
    int ns = (int)(sizeof skipped / sizeof skipped[0]);
    for (int i = 0; i < ds->num_skipped && i < ns; i++)
        print_message("skipped %s: %s\n", ds->skipped[i].path + strlen(root) + 1,
                      ds->skipped[i].reason);
    assert_int_equal(ds->num_skipped, ns);
    for (int i = 0; i < ns; i++) {
        assert_rel(ds->skipped[i].path, root, skipped[i].rel);
        if (skipped[i].prefix_only) {
            assert_memory_equal(ds->skipped[i].reason, skipped[i].reason, strlen(skipped[i].reason));
            assert_true(strlen(ds->skipped[i].reason) > strlen(skipped[i].reason) + 3);
            assert_null(strchr(ds->skipped[i].reason, '\n'));
            assert_null(strstr(ds->skipped[i].reason, root)); /* the path is not repeated */
        } else {
            assert_string_equal(ds->skipped[i].reason, skipped[i].reason);
        }
        int want_label = skipped[i].rel[0] == 'Z' ? 0 : (skipped[i].rel[0] == 'a' ? 1 : -1);
        assert_int_equal(ds->skipped[i].label, want_label);
    }
    assert_int_equal(df_dataset_class_index(ds, "a"), 1);
    assert_int_equal(df_dataset_class_index(ds, "A"), -1);
    df_dataset_free(ds);

    /* Same answer with one thread and with several. */
    df_scan_options o = df_scan_options_default();
    o.threads = 1;
    df_dataset *one = NULL, *many = NULL;
    assert_int_equal(df_dataset_scan(root, &o, &one, &err), DF_OK);
    o.threads = 3;
    assert_int_equal(df_dataset_scan(root, &o, &many, &err), DF_OK);
    assert_int_equal(one->count, many->count);
    assert_int_equal(one->num_skipped, many->num_skipped);
    for (int i = 0; i < one->count; i++) assert_string_equal(one->items[i].path, many->items[i].path);
    for (int i = 0; i < one->num_skipped; i++)
        assert_string_equal(one->skipped[i].reason, many->skipped[i].reason);
    df_dataset_free(one);
    df_dataset_free(many);

    /* Without verification the undecodable ones are kept (names and sizes
     * are all that is checked). */
    o = df_scan_options_default();
    o.verify = 0;
    assert_int_equal(df_dataset_scan(root, &o, &ds, &err), DF_OK);
    assert_int_equal(ds->class_counts[0], 7); /* + corrupt.jpg, photo.jpg */
    assert_int_equal(ds->num_skipped, ns - 2);
    df_dataset_free(ds);

    /* A trailing slash on the root does not double the separator. */
    char *slashed = join(root, "");
    assert_int_equal(df_dataset_scan(slashed, NULL, &ds, &err), DF_OK);
    assert_int_equal(ds->count, 8);
    assert_rel(ds->items[0].path, root, "Z/UPPER.BMP");
    df_dataset_free(ds);
    free(slashed);

    df_test_rmtree(root);
    free(root);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len > 0);
    rewind(f);
    unsigned char *b = malloc((size_t)len);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Verification decodes at the smallest DCT scale (it only needs the decoder
 * to walk every byte of the entropy-coded data): a photo damaged in the
 * middle of that data must still be skipped, and what it keeps must decode
 * at the size training asks for. */
static void test_scan_damaged_jpegs(void **state) {
    (void)state;
    char *root = df_test_tempdir();
    assert_non_null(root);
    mkdirs(root, "c");
    mkdirs(root, "d"); /* a data set needs two classes */
    df_image img;
    df_error err;
    assert_int_equal(df_image_alloc(&img, 640, 480, &err), DF_OK);
    uint32_t r = 12345;
    for (size_t i = 0; i < (size_t)640 * 480 * 3; i++) {
        r = r * 1664525u + 1013904223u;
        img.pixels[i] = (uint8_t)((i / 3 % 640) / 3 + (r >> 27)); /* a ramp with noise: real AC data */
    }
    char *good = join(root, "c/good.jpg");
    assert_int_equal(df_test_write_jpeg(good, &img, 90, 1), 0);
    df_image_free(&img);
    size_t n;
    unsigned char *b = slurp(good, &n);
    assert_true(n > 20000);
    bytes(root, "d/good.jpg", b, n);
    bytes(root, "c/truncated.jpg", b, n * 6 / 10);
    unsigned char *m = malloc(n);
    assert_non_null(m);
    memcpy(m, b, n);
    m[n / 2] = 0xFF, m[n / 2 + 1] = 0xE1; /* a marker inside the scan data, 4/5 of the rows before it */
    bytes(root, "c/marker.jpg", m, n);
    free(m);
    free(b);

    df_dataset *ds = NULL;
    assert_int_equal(df_dataset_scan(root, NULL, &ds, &err), DF_OK);
    assert_int_equal(ds->count, 2);
    assert_rel(ds->items[0].path, root, "c/good.jpg");
    assert_int_equal(ds->num_skipped, 2);
    assert_rel(ds->skipped[0].path, root, "c/marker.jpg");
    assert_rel(ds->skipped[1].path, root, "c/truncated.jpg");
    for (int i = 0; i < 2; i++) {
        print_message("%s\n", ds->skipped[i].reason);
        assert_memory_equal(ds->skipped[i].reason, "corrupt: ", 9);
    }
    df_image_load_options lo = df_image_load_options_default();
    lo.min_width = lo.min_height = 224;
    assert_int_equal(df_image_load(ds->items[0].path, &lo, &img, &err), DF_OK);
    assert_int_equal(img.width, 320); /* decoded at 1/2, as training does */
    df_image_free(&img);
    df_dataset_free(ds);
    free(good);
    df_test_rmtree(root);
    free(root);
}

static void test_scan_errors(void **state) {
    (void)state;
    char *root = df_test_tempdir();
    assert_non_null(root);
    df_dataset dummy, *ds = &dummy; /* must be reset to NULL on failure */
    df_error err;

    char *missing = join(root, "nope");
    assert_int_equal(df_dataset_scan(missing, NULL, &ds, &err), DF_ERR_DATA);
    assert_null(ds);
    assert_non_null(strstr(err.message, missing));
    assert_non_null(strstr(err.message, "no such folder"));
    free(missing);

    bytes(root, "file.jpg", "x", 1);
    char *file = join(root, "file.jpg");
    assert_int_equal(df_dataset_scan(file, NULL, &ds, &err), DF_ERR_DATA);
    assert_non_null(strstr(err.message, "not a folder"));
    assert_int_equal(unlink(file), 0);
    free(file);

    /* No class at all, then one class. */
    assert_int_equal(df_dataset_scan(root, NULL, &ds, &err), DF_ERR_DATA);
    assert_non_null(strstr(err.message, "needs at least two class folders, found 0"));
    mkdirs(root, "shoes");
    bmp(root, "shoes/s.bmp");
    assert_int_equal(df_dataset_scan(root, NULL, &ds, &err), DF_ERR_DATA);
    assert_null(ds);
    char want[1024];
    snprintf(want, sizeof want, "%s: needs at least two class folders, found 1: shoes", root);
    assert_string_equal(err.message, want);

    /* A class with nothing usable. */
    mkdirs(root, "bottoms");
    mkdirs(root, "tops");
    bmp(root, "tops/t.bmp");
    bytes(root, "bottoms/notes.txt", "x", 1);
    bytes(root, "bottoms/empty.jpg", "", 0);
    bytes(root, "bottoms/bad.png", "\x89PNG\r\n\x1a\n\0\0", 10);
    assert_int_equal(df_dataset_scan(root, NULL, &ds, &err), DF_ERR_DATA);
    snprintf(want, sizeof want, "%s/bottoms: class 'bottoms' has no usable image (3 skipped)", root);
    assert_string_equal(err.message, want);

    /* require_usable off: the listing comes back, the check says the same. */
    df_scan_options o = df_scan_options_default();
    o.require_usable = 0;
    assert_int_equal(df_dataset_scan(root, &o, &ds, &err), DF_OK);
    assert_int_equal(ds->num_classes, 3);
    assert_int_equal(ds->class_counts[0], 0);
    assert_int_equal(ds->num_skipped, 3);
    df_error err2;
    assert_int_equal(df_dataset_check(ds, &err2), DF_ERR_DATA);
    assert_string_equal(err2.message, want);
    df_dataset_free(ds);

    /* The decoder's pixel cap: a 5x4 image is "too large" for 10 pixels. */
    o.max_pixels = 10;
    assert_int_equal(df_dataset_scan(root, &o, &ds, &err), DF_OK);
    assert_int_equal(ds->count, 0);
    char *t = join(root, "tops/t.bmp");
    int seen = 0;
    for (int i = 0; i < ds->num_skipped; i++)
        if (!strcmp(ds->skipped[i].path, t)) {
            assert_memory_equal(ds->skipped[i].reason, "too large: ", 11);
            seen = 1;
        }
    assert_true(seen);
    free(t);
    df_dataset_free(ds);
    o.max_pixels = df_scan_options_default().max_pixels;

    if (geteuid() != 0) { /* root reads everything: the case cannot be made */
        bmp(root, "bottoms/locked.bmp");
        char *locked = join(root, "bottoms/locked.bmp");
        assert_int_equal(chmod(locked, 0), 0);
        assert_int_equal(df_dataset_scan(root, &o, &ds, &err), DF_OK);
        int found = 0;
        for (int i = 0; i < ds->num_skipped; i++)
            if (!strcmp(ds->skipped[i].path, locked)) {
                assert_string_equal(ds->skipped[i].reason, "unreadable: Permission denied");
                found = 1;
            }
        assert_true(found);
        df_dataset_free(ds);
        free(locked);
    }
    df_dataset_free(NULL);
    df_test_rmtree(root);
    free(root);
}

static void make_paths(int ncls, const int *counts, df_dataset **out) {
    const char *names[8] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};
    int n = 0;
    for (int c = 0; c < ncls; c++) n += counts[c];
    char **paths = calloc((size_t)n, sizeof *paths);
    int *labels = calloc((size_t)n, sizeof *labels);
    assert_true(paths && labels);
    /* Interleave classes so that order preservation is visible. */
    int k = 0, left[8];
    memcpy(left, counts, sizeof(int) * (size_t)ncls);
    while (k < n)
        for (int c = 0; c < ncls; c++)
            if (left[c]) {
                paths[k] = malloc(32);
                snprintf(paths[k], 32, "img%03d_%d.jpg", k, c);
                labels[k++] = c;
                left[c]--;
            }
    df_error err;
    assert_int_equal(df_dataset_from_paths(ncls, names, n, (const char *const *)paths, labels, out, &err),
                     DF_OK);
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    free(labels);
}

static void test_split_stratified_and_seeded(void **state) {
    (void)state;
    const int counts[5] = {10, 3, 2, 1, 42};
    const int want_val[5] = {2, 1, 1, 0, 8}; /* round(0.2 n), >= 1 when n >= 2, < n */
    df_dataset *ds;
    make_paths(5, counts, &ds);
    df_dataset *tr, *va, *tr2, *va2;
    df_error err;
    assert_int_equal(df_dataset_split(ds, 0.2, 7, &tr, &va, &err), DF_OK);
    for (int c = 0; c < 5; c++) {
        assert_int_equal(va->class_counts[c], want_val[c]);
        assert_int_equal(tr->class_counts[c], counts[c] - want_val[c]);
    }
    assert_int_equal(tr->count + va->count, ds->count);
    assert_int_equal(va->num_classes, 5);
    assert_string_equal(va->class_names[4], "c4");
    /* A partition that keeps the original order. */
    int ti = 0, vi = 0;
    for (int i = 0; i < ds->count; i++) {
        if (ti < tr->count && !strcmp(tr->items[ti].path, ds->items[i].path)) {
            assert_int_equal(tr->items[ti].label, ds->items[i].label);
            ti++;
        } else {
            assert_true(vi < va->count);
            assert_string_equal(va->items[vi].path, ds->items[i].path);
            assert_int_equal(va->items[vi].label, ds->items[i].label);
            vi++;
        }
    }
    assert_int_equal(ti, tr->count);
    assert_int_equal(vi, va->count);
    /* Same seed, same split; another seed, another split. */
    assert_int_equal(df_dataset_split(ds, 0.2, 7, &tr2, &va2, &err), DF_OK);
    assert_int_equal(va2->count, va->count);
    for (int i = 0; i < va->count; i++) assert_string_equal(va->items[i].path, va2->items[i].path);
    df_dataset_free(tr2);
    df_dataset_free(va2);
    assert_int_equal(df_dataset_split(ds, 0.2, 8, &tr2, &va2, &err), DF_OK);
    int same = 1;
    for (int i = 0; i < va->count; i++) same &= !strcmp(va->items[i].path, va2->items[i].path);
    assert_false(same);
    df_dataset_free(tr2);
    df_dataset_free(va2);
    df_dataset_free(tr);
    df_dataset_free(va);

    assert_int_equal(df_dataset_split(ds, 0.0, 7, &tr, &va, &err), DF_ERR_INVALID_ARG);
    assert_null(tr);
    assert_int_equal(df_dataset_split(ds, 1.0, 7, &tr, &va, &err), DF_ERR_INVALID_ARG);
    df_dataset_free(ds);

    /* Validation folders must match the training classes. */
    df_dataset *a, *b;
    const char *n3[3] = {"bottoms", "shoes", "tops"}, *n3b[3] = {"bottoms", "tops", "zz"};
    const char *none[1] = {NULL};
    assert_int_equal(df_dataset_from_paths(3, n3, 0, none, NULL, &a, &err), DF_OK);
    assert_int_equal(df_dataset_from_paths(3, n3, 0, none, NULL, &b, &err), DF_OK);
    assert_int_equal(df_dataset_same_classes(a, b, &err), DF_OK);
    df_dataset_free(b);
    assert_int_equal(df_dataset_from_paths(3, n3b, 0, none, NULL, &b, &err), DF_OK);
    assert_int_equal(df_dataset_same_classes(a, b, &err), DF_ERR_DATA);
    assert_string_equal(err.message,
                        "validation set: class 1 is 'tops' but in training set it is 'shoes'");
    df_dataset_free(b);
    assert_int_equal(df_dataset_from_paths(2, n3, 0, none, NULL, &b, &err), DF_OK);
    assert_int_equal(df_dataset_same_classes(a, b, &err), DF_ERR_DATA);
    assert_string_equal(err.message,
                        "validation set: has 2 classes, training set has 3 (first extra: 'tops')");
    df_dataset_free(a);
    df_dataset_free(b);

    const char *names[2] = {"x", "y"};
    const char *paths[1] = {"p.jpg"};
    const int bad[1] = {2};
    assert_int_equal(df_dataset_from_paths(2, names, 1, paths, bad, &ds, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "p.jpg"));
}

static void test_epoch_order(void **state) {
    (void)state;
    int a[106], b[106], c[106];
    df_epoch_order(106, 3, 0, a);
    df_epoch_order(106, 3, 0, b);
    df_epoch_order(106, 3, 1, c);
    assert_memory_equal(a, b, sizeof a);
    int seen[106] = {0}, same = 0, moved = 0;
    for (int i = 0; i < 106; i++) {
        seen[a[i]]++;
        same += a[i] == c[i];
        moved += a[i] != i;
    }
    for (int i = 0; i < 106; i++) assert_int_equal(seen[i], 1);
    assert_true(same < 10);
    assert_true(moved > 90);
    assert_int_equal(df_batch_count(106, 30), 4); /* 30, 30, 30, 16 */
    assert_int_equal(df_batch_count(90, 30), 3);
    assert_int_equal(df_batch_count(0, 30), 0);
}

static void test_text_escaping(void **state) {
    (void)state;
    char *s = df_text_json_quote("a\"b\\c\n\x01 caf\xc3\xa9 \xe9 \xf0\x9f\x91\x95 \xed\xa0\x80 \xc0\xaf");
    assert_string_equal(s, "\"a\\\"b\\\\c\\n\\u0001 caf\xc3\xa9 \\u00e9 \xf0\x9f\x91\x95 "
                           "\\u00ed\\u00a0\\u0080 \\u00c0\\u00af\"");
    free(s);
    s = df_text_printable("tab\there caf\xe9 ok\xc3\xa9");
    assert_string_equal(s, "tab\\x09here caf\\xe9 ok\xc3\xa9");
    free(s);
    s = df_text_json_quote("");
    assert_string_equal(s, "\"\"");
    free(s);
    /* truncated sequence at the end of the string */
    s = df_text_json_quote("x\xe2\x82");
    assert_string_equal(s, "\"x\\u00e2\\u0082\"");
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_fixture_tree),
        cmocka_unit_test(test_scan_damaged_jpegs),
        cmocka_unit_test(test_scan_errors),
        cmocka_unit_test(test_split_stratified_and_seeded),
        cmocka_unit_test(test_epoch_order),
        cmocka_unit_test(test_text_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
