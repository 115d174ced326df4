/* The report: every figure decodes, has the expected size, is not blank and
 * carries its title where the title band is; report.html is self-contained
 * (only data: images, each a valid PNG), escapes what it is given, and
 * renders in headless Chromium with the class names and the accuracy. All
 * images are synthesised here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fileio.h"
#include "report/report.h"
#include "report/text.h"
#include "support/test_support.h"

#define N_CLASSES 3
#define N_GALLERY 12
#define N_SAMPLES 2
#define N_AUG 3
#define N_EPOCHS 20

/* Everything a df_report_data borrows, owned by the test. */
typedef struct fixture {
    df_report_data d;
    const char *names[N_CLASSES];
    int train[N_CLASSES], val[N_CLASSES];
    df_report_epoch epochs[N_EPOCHS];
    int confusion[N_CLASSES * N_CLASSES];
    df_report_class_metrics metrics[N_CLASSES];
    df_image photos[N_GALLERY];
    df_report_gallery_item gallery[N_GALLERY];
    df_image originals[N_SAMPLES];
    df_image augmented[N_SAMPLES][N_AUG];
    df_report_sample samples[N_SAMPLES];
    df_report_skipped skipped[2];
    df_report_setting settings[4];
    df_report_layer layers[5];
} fixture;

/* A photo-like test image: a coloured garment shape on a textured
 * background, different per seed, with many distinct colours. */
static df_image synth_photo(int w, int h, int seed) {
    df_image im = {w, h, malloc((size_t)w * h * 3)};
    assert_non_null(im.pixels);
    const uint8_t base[4][3] = {{200, 60, 50}, {40, 90, 190}, {230, 180, 40}, {60, 150, 90}};
    const uint8_t *c = base[seed % 4];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im.pixels + ((size_t)y * w + x) * 3;
            double u = (double)x / w - 0.5, v = (double)y / h - 0.5;
            int inside = fabs(u) < 0.28 + 0.1 * (v < -0.2) && fabs(v) < 0.38;
            int tex = (x * 7 + y * 13 + seed * 31) % 23;
            for (int k = 0; k < 3; k++) {
                int bg = 225 - (int)(60 * (u + v + 1) / 2) + tex - 11;
                int fg = c[k] - 30 + (int)(60 * (v + 0.5)) + (tex / 3);
                int val = inside ? fg : bg;
                p[k] = (uint8_t)(val < 0 ? 0 : val > 255 ? 255 : val);
            }
        }
    return im;
}

static void fixture_init(fixture *f) {
    memset(f, 0, sizeof *f);
    df_report_data *d = &f->d;
    df_report_data_init(d);
    f->names[0] = "bottoms";
    f->names[1] = "shoes";
    f->names[2] = "tops & tees";
    const int train[N_CLASSES] = {42, 22, 42}, val[N_CLASSES] = {5, 3, 4};
    memcpy(f->train, train, sizeof train);
    memcpy(f->val, val, sizeof val);
    for (int i = 0; i < N_EPOCHS; i++) {
        f->epochs[i].accuracy = 0.97 - 0.4 * exp(-i / 3.0) + 0.02 * sin(i * 1.3);
        f->epochs[i].val_accuracy = 0.95 - 0.3 * exp(-i / 4.0);
        f->epochs[i].loss = 0.08 + 0.8 * exp(-i / 3.0);
        f->epochs[i].val_loss = 0.12 + 0.5 * exp(-i / 6.0);
        f->epochs[i].seconds = 2.5;
    }
    f->epochs[3].val_loss = NAN; /* a missing value must not break the plot */
    /* 12 validation photos, 1 wrong: 11/12 = 91.7% */
    for (int i = 0; i < N_GALLERY; i++) {
        int cls = i < 5 ? 0 : i < 8 ? 1 : 2;
        /* portrait, landscape and one large photo (exercises the pre-shrink) */
        int w = i == 0 ? 3000 : (i % 3 == 1 ? 400 : 300), h = i == 0 ? 4000 : (i % 3 == 1 ? 300 : 400);
        f->photos[i] = synth_photo(w, h, i);
        f->gallery[i].image = &f->photos[i];
        f->gallery[i].true_class = cls;
        f->gallery[i].predicted_class = i == 6 ? 2 : cls;
        f->gallery[i].confidence = i == 6 ? 0.61 : 0.9 + 0.008 * i;
        f->gallery[i].name = i == 6 ? "shoe_\xFF.jpg" : "IMG_2020.jpg";
        f->confusion[cls * N_CLASSES + f->gallery[i].predicted_class]++;
    }
    const double prec[3] = {1.0, 1.0, 0.8}, rec[3] = {1.0, 2.0 / 3.0, 1.0};
    for (int k = 0; k < N_CLASSES; k++) {
        f->metrics[k].precision = prec[k];
        f->metrics[k].recall = rec[k];
        f->metrics[k].f1 = 2 * prec[k] * rec[k] / (prec[k] + rec[k]);
        f->metrics[k].support = val[k];
    }
    for (int s = 0; s < N_SAMPLES; s++) {
        f->originals[s] = synth_photo(300, 400, 10 + s);
        for (int a = 0; a < N_AUG; a++) f->augmented[s][a] = synth_photo(224, 224, 20 + s * 5 + a);
        f->samples[s].original = &f->originals[s];
        f->samples[s].augmented = f->augmented[s];
        f->samples[s].n_augmented = N_AUG;
        f->samples[s].class_index = s;
        f->samples[s].name = "sample.jpg";
    }
    f->skipped[0] = (df_report_skipped){"tops/IMG_0412.HEIC", "HEIC is not supported"};
    f->skipped[1] = (df_report_skipped){"shoes/caf\xE9.jpg", "truncated JPEG"};
    f->settings[0] = (df_report_setting){"backbone", "mobilenet_v2"};
    f->settings[1] = (df_report_setting){"epochs", "20"};
    f->settings[2] = (df_report_setting){"note", "<script>alert(1)</script>"};
    f->settings[3] = (df_report_setting){"learning rate", "1e-05"};
    f->layers[0] = (df_report_layer){"mobilenet_v2", "Backbone", "(None, 1280)", 2257984, 0};
    f->layers[1] = (df_report_layer){"dense_1", "Dense", "(None, 1024)", 1311744, 1311744};
    f->layers[2] = (df_report_layer){"batch_normalization_1", "BatchNormalization", "(None, 1024)",
                                     4096, 2048};
    f->layers[3] = (df_report_layer){"dropout_1", "Dropout", "(None, 1024)", 0, 0};
    f->layers[4] = (df_report_layer){"dense_2", "Dense", "(None, 3)", 3075, 3075};

    d->title = "DeepFashion test report";
    d->backbone = "mobilenet_v2";
    d->dataset = "/data/closet";
    d->val_accuracy = 11.0 / 12.0;
    d->accuracy = 11.0 / 12.0;
    d->n_classes = N_CLASSES;
    d->class_names = f->names;
    d->train_counts = f->train;
    d->val_counts = f->val;
    d->skipped = f->skipped;
    d->n_skipped = 2;
    d->settings = f->settings;
    d->n_settings = 4;
    d->history.epochs = f->epochs;
    d->history.n_epochs = N_EPOCHS;
    d->history.best_epoch = 16;
    d->history.kept_epoch = N_EPOCHS - 1; /* no early stopping: the last epoch's weights */
    d->confusion = f->confusion;
    d->classification_text = "              precision    recall  f1-score   support\n\n"
                             "     bottoms       1.00      1.00      1.00         5\n";
    d->class_metrics = f->metrics;
    d->macro_avg = (df_report_class_metrics){0.93, 0.89, 0.90, 12};
    d->weighted_avg = (df_report_class_metrics){0.93, 0.92, 0.92, 12};
    d->gallery = f->gallery;
    d->n_gallery = N_GALLERY;
    d->gallery_max = 8;
    d->samples = f->samples;
    d->n_samples = N_SAMPLES;
    d->layers = f->layers;
    d->n_layers = 5;
}

static int setup(void **state) {
    fixture *f = malloc(sizeof *f);
    if (!f) return -1;
    fixture_init(f);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    for (int i = 0; i < N_GALLERY; i++) free(f->photos[i].pixels);
    for (int s = 0; s < N_SAMPLES; s++) {
        free(f->originals[s].pixels);
        for (int a = 0; a < N_AUG; a++) free(f->augmented[s][a].pixels);
    }
    free(f);
    return 0;
}

/* ---- PNG checks ---- */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} png_reader;

static cairo_status_t png_read(void *closure, unsigned char *out, unsigned int len) {
    png_reader *r = closure;
    if (r->pos + len > r->size) return CAIRO_STATUS_READ_ERROR;
    memcpy(out, r->data + r->pos, len);
    r->pos += len;
    return CAIRO_STATUS_SUCCESS;
}

/* NULL when the bytes are not a PNG cairo can read. */
static cairo_surface_t *decode_png(const uint8_t *data, size_t size) {
    png_reader r = {data, size, 0};
    cairo_surface_t *s = cairo_image_surface_create_from_png_stream(png_read, &r);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return NULL;
    }
    return s;
}

typedef struct {
    int distinct;    /* distinct RGB colours */
    double nonwhite; /* fraction of pixels that are not pure white */
} png_stats;

static png_stats stats(cairo_surface_t *s) {
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    uint8_t *seen = calloc(1u << 21, 1); /* one bit per 24-bit colour */
    assert_non_null(seen);
    png_stats st = {0, 0};
    size_t nonwhite = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t v = *(const uint32_t *)(d + (size_t)y * stride + (size_t)x * 4) & 0xFFFFFF;
            if (!(seen[v >> 3] & (1u << (v & 7)))) {
                seen[v >> 3] |= (uint8_t)(1u << (v & 7));
                st.distinct++;
            }
            nonwhite += v != 0xFFFFFF;
        }
    free(seen);
    st.nonwhite = (double)nonwhite / ((double)w * h);
    return st;
}

/* Pixels in the top rows [0, rows) with every channel below 100 (text ink). */
static int dark_in_band(cairo_surface_t *s, int rows) {
    int w = cairo_image_surface_get_width(s), stride = cairo_image_surface_get_stride(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    int n = 0;
    for (int y = 0; y < rows; y++)
        for (int x = 0; x < w; x++) {
            uint32_t v = *(const uint32_t *)(d + (size_t)y * stride + (size_t)x * 4);
            n += ((v >> 16) & 0xFF) < 100 && ((v >> 8) & 0xFF) < 100 && (v & 0xFF) < 100;
        }
    return n;
}

typedef enum { F_ACC, F_LOSS, F_CM, F_CMN, F_GALLERY, F_SAMPLES, F_MODEL, F_COUNT } fig_kind;
static const char *const FIG_NAMES[F_COUNT] = {"accuracy", "loss", "confusion", "confusion_norm",
                                               "gallery", "samples", "model_summary"};

static df_status render(const df_report_data *d, fig_kind k, const char *title, double scale,
                        df_png *out, df_error *err) {
    switch (k) {
    case F_ACC: return df_figure_curves(&d->history, DF_FIGURE_ACCURACY, title, scale, out, err);
    case F_LOSS: return df_figure_curves(&d->history, DF_FIGURE_LOSS, title, scale, out, err);
    case F_CM:
        return df_figure_confusion(d->n_classes, d->class_names, d->confusion, 0, title, scale,
                                   out, err);
    case F_CMN:
        return df_figure_confusion(d->n_classes, d->class_names, d->confusion, 1, title, scale,
                                   out, err);
    case F_GALLERY: return df_figure_gallery(d, title, scale, out, err);
    case F_SAMPLES: return df_figure_samples(d, title, scale, out, err);
    default: return df_figure_model_summary(d->layers, d->n_layers, title, scale, out, err);
    }
}

static void test_figures_decode_size_title(void **state) {
    fixture *f = *state;
    /* photos have thousands of colours; plots at least the anti-aliasing ramps */
    const int min_colours[F_COUNT] = {200, 200, 150, 150, 1000, 1000, 150};
    for (int k = 0; k < F_COUNT; k++) {
        df_error err;
        df_png p2, p1, pn;
        if (render(&f->d, k, "A figure title", 2.0, &p2, &err) != DF_OK ||
            render(&f->d, k, "A figure title", 1.0, &p1, &err) != DF_OK ||
            render(&f->d, k, "", 2.0, &pn, &err) != DF_OK)
            fail_msg("%s: %s", FIG_NAMES[k], err.message);
        cairo_surface_t *s2 = decode_png(p2.data, p2.size), *s1 = decode_png(p1.data, p1.size),
                        *sn = decode_png(pn.data, pn.size);
        assert_non_null(s2);
        assert_non_null(s1);
        assert_non_null(sn);
        /* the decoded size is the reported one, and twice the 1x size */
        assert_int_equal(cairo_image_surface_get_width(s2), p2.width);
        assert_int_equal(cairo_image_surface_get_height(s2), p2.height);
        assert_true(abs(p2.width - 2 * p1.width) <= 1 && abs(p2.height - 2 * p1.height) <= 1);
        assert_true(p1.width >= 300 && p1.height >= 150);
        if (k == F_ACC || k == F_LOSS) {
            assert_int_equal(p2.width, (int)(2 * DF_FIGURE_CURVES_WIDTH));
            assert_int_equal(p2.height, (int)(2 * DF_FIGURE_CURVES_HEIGHT));
        }
        png_stats st = stats(s2);
        if (st.distinct < min_colours[k] || st.nonwhite < 0.02)
            fail_msg("%s: looks blank (%d colours, %.1f%% non-white)", FIG_NAMES[k], st.distinct,
                     100 * st.nonwhite);
        /* the title band holds the title's ink, and nothing when untitled */
        int band = (int)(2 * DF_FIGURE_TITLE_BAND);
        int with = dark_in_band(s2, band), without = dark_in_band(sn, band);
        if (with < 300 || without != 0)
            fail_msg("%s: title band has %d dark pixels with a title, %d without", FIG_NAMES[k],
                     with, without);
        cairo_surface_destroy(s2);
        cairo_surface_destroy(s1);
        cairo_surface_destroy(sn);
        df_png_free(&p2);
        df_png_free(&p1);
        df_png_free(&pn);
    }
}

/* Nothing to show still gives a valid, titled figure that says so. */
static void test_figures_without_data(void **state) {
    (void)state;
    df_report_data d;
    df_report_data_init(&d);
    const char *names[1] = {"only"};
    d.n_classes = 1;
    d.class_names = names;
    for (int k = 0; k < F_COUNT; k++) {
        df_error err;
        df_png p;
        assert_int_equal(render(&d, k, "Empty", 1.0, &p, &err), DF_OK);
        cairo_surface_t *s = decode_png(p.data, p.size);
        assert_non_null(s);
        assert_true(dark_in_band(s, (int)DF_FIGURE_TITLE_BAND) > 50);
        assert_true(stats(s).distinct > 20); /* the message text */
        cairo_surface_destroy(s);
        df_png_free(&p);
    }
}

static void test_gallery_order_and_caption(void **state) {
    fixture *f = *state;
    int order[N_GALLERY];
    int n = df_report_gallery_order(&f->d, order, 0);
    assert_int_equal(n, 8); /* gallery_max */
    assert_int_equal(order[0], 6); /* the one misclassified photo first */
    for (int i = 1; i < n; i++) assert_int_equal(order[i], i - 1 < 6 ? i - 1 : i);
    assert_int_equal(df_report_gallery_order(&f->d, order, 100), N_GALLERY);
    char cap[128];
    df_report_gallery_caption(&f->d, &f->gallery[6], cap, sizeof cap);
    assert_string_equal(cap, "tops & tees 61% (shoes)");
    df_report_gallery_caption(&f->d, &f->gallery[0], cap, sizeof cap);
    assert_string_equal(cap, "bottoms 90% (bottoms)");
}

static void test_validate_rejects_bad_data(void **state) {
    fixture *f = *state;
    df_error err;
    assert_int_equal(df_report_validate(&f->d, &err), DF_OK);
    df_report_data d = f->d;
    d.history.best_epoch = N_EPOCHS;
    assert_int_equal(df_report_validate(&d, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "best epoch"));
    d = f->d;
    d.history.exact_fit = 1; /* N_EPOCHS entries: not an exact fit's one */
    assert_int_equal(df_report_validate(&d, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "exact fit"));
    d = f->d;
    df_report_gallery_item g[1] = {f->gallery[0]};
    g[0].predicted_class = 3;
    d.gallery = g;
    d.n_gallery = 1;
    assert_int_equal(df_report_validate(&d, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "gallery item 0"));
    d = f->d;
    int cm[N_CLASSES * N_CLASSES] = {0};
    cm[4] = -1;
    d.confusion = cm;
    assert_int_equal(df_report_validate(&d, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "(1, 1)"));
    d = f->d;
    d.n_classes = 0;
    assert_int_equal(df_report_validate(&d, &err), DF_ERR_INVALID_ARG);
    d = f->d;
    df_report_layer l = {"x", "Dense", "(None, 2)", 10, 11};
    d.layers = &l;
    d.n_layers = 1;
    assert_int_equal(df_report_validate(&d, &err), DF_ERR_INVALID_ARG);
    d = f->d;
    d.scale = 100;
    assert_int_equal(df_report_validate(&d, &err), DF_ERR_INVALID_ARG);
}

/* ---- report.html ---- */

static const char *const REPORT_FILES[] = {
    "report.html",     "accuracy.png", "loss.png",          "confusion_matrix.png",
    "confusion_matrix_normalized.png", "gallery.png", "samples.png", "model_summary.png",
    "reliability.png", "classification_report.txt"};

static int b64_value(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict RFC 4648 decoding of s[0..n); returns malloc'ed bytes or NULL. */
static uint8_t *b64_decode(const char *s, size_t n, size_t *out_len) {
    if (n % 4) return NULL;
    uint8_t *out = malloc(n / 4 * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            if (s[i + j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = b64_value((unsigned char)s[i + j])) < 0) {
                free(out);
                return NULL;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        out[k++] = (uint8_t)(x >> 16);
        if (pad < 2) out[k++] = (uint8_t)(x >> 8);
        if (pad < 1) out[k++] = (uint8_t)x;
    }
    *out_len = k;
    return out;
}

static int valid_utf8(const unsigned char *s, size_t n) {
    char *copy = malloc(n + 1);
    memcpy(copy, s, n);
    copy[n] = '\0';
    char *cleaned = df_report_utf8_clean(copy);
    /* cleaning changes nothing exactly when the text is valid UTF-8 without
     * stray control characters */
    int ok = cleaned && strlen(copy) == n && strcmp(cleaned, copy) == 0;
    free(cleaned);
    free(copy);
    return ok;
}

static void check_self_contained(const char *html, size_t len) {
    assert_true(valid_utf8((const unsigned char *)html, len));
    const char *forbidden[] = {"http:", "https:", "file:", "<script", "<link", "@import",
                               "<iframe", "<object", "<embed", "url(", "//fonts", "ftp:"};
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++)
        if (strstr(html, forbidden[i])) fail_msg("report.html contains \"%s\"", forbidden[i]);
    /* every href is a fragment on this page */
    for (const char *p = strstr(html, "href="); p; p = strstr(p + 1, "href="))
        if (strncmp(p, "href=\"#", 7) != 0) fail_msg("report.html links out: %.40s", p);
    /* every src is an embedded PNG that decodes */
    int images = 0;
    for (const char *p = strstr(html, "src="); p; p = strstr(p + 1, "src=")) {
        const char *prefix = "src=\"data:image/png;base64,";
        if (strncmp(p, prefix, strlen(prefix)) != 0) fail_msg("report.html src: %.40s", p);
        const char *b = p + strlen(prefix), *e = strchr(b, '"');
        assert_non_null(e);
        size_t n = 0;
        uint8_t *png = b64_decode(b, (size_t)(e - b), &n);
        assert_non_null(png);
        cairo_surface_t *s = decode_png(png, n);
        if (!s) fail_msg("embedded image %d is not a valid PNG", images);
        assert_true(cairo_image_surface_get_width(s) > 100);
        cairo_surface_destroy(s);
        free(png);
        images++;
    }
    assert_int_equal(images, 8);
}

static char *read_text(const char *dir, const char *name, size_t *len) {
    char *path = df_path_join(dir, name);
    uint8_t *data;
    df_error err;
    assert_int_equal(df_file_read(path, 64u << 20, &data, len, &err), DF_OK);
    free(path);
    char *s = realloc(data, *len + 1);
    assert_non_null(s);
    s[*len] = '\0';
    return s;
}

static void test_report_write(void **state) {
    fixture *f = *state;
    char *tmp = df_test_tempdir();
    char *dir = df_path_join(tmp, "nested/report");
    df_error err;
    /* twice: the second run replaces the first atomically */
    for (int run = 0; run < 2; run++) assert_int_equal(df_report_write(&f->d, dir, &err), DF_OK);

    for (size_t i = 0; i < sizeof REPORT_FILES / sizeof REPORT_FILES[0]; i++) {
        char *p = df_path_join(dir, REPORT_FILES[i]);
        assert_true(df_file_is_regular(p));
        if (strstr(REPORT_FILES[i], ".png")) {
            cairo_surface_t *s = cairo_image_surface_create_from_png(p);
            if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
                fail_msg("%s does not decode", REPORT_FILES[i]);
            assert_true(stats(s).distinct > 100);
            cairo_surface_destroy(s);
        }
        free(p);
    }
    /* no temp files left behind */
    char cmd[512], out[256];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -c tmp- || true", dir);
    assert_int_equal(df_test_run(cmd, out, sizeof out), 0);
    assert_int_equal(atoi(out), 0);

    size_t len;
    char *txt = read_text(dir, "classification_report.txt", &len);
    assert_string_equal(txt, f->d.classification_text);
    free(txt);

    char *html = read_text(dir, "report.html", &len);
    check_self_contained(html, len);
    /* headline, classes, escaping */
    assert_non_null(strstr(html, "91.7%"));
    assert_non_null(strstr(html, "mobilenet_v2"));
    assert_non_null(strstr(html, "tops &amp; tees"));
    assert_null(strstr(html, "tops & tees"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(html, "shoes/caf\\xE9.jpg")); /* invalid byte shown, escaped */
    assert_non_null(strstr(html, "HEIC is not supported"));
    assert_non_null(strstr(html, "<td>learning rate</td>"));
    assert_non_null(strstr(html, "batch_normalization_1"));
    assert_non_null(strstr(html, "2,048 of 4,096"));
    assert_non_null(strstr(html, "3,576,899")); /* total params */
    assert_non_null(strstr(html, "precision    recall")); /* the exact text */
    /* The curves' caption says whose weights the model holds. */
    char kept[96];
    snprintf(kept, sizeof kept, "the model keeps the weights of epoch %d, the last", N_EPOCHS);
    assert_non_null(strstr(html, kept));
    assert_non_null(strstr(html, "17 (best)"));
    free(html);

    /* the in-memory HTML is the file */
    df_report_figures figs;
    assert_int_equal(df_report_render(&f->d, &figs, &err), DF_OK);
    char *mem;
    size_t mem_len;
    assert_int_equal(df_report_html(&f->d, &figs, &mem, &mem_len, &err), DF_OK);
    html = read_text(dir, "report.html", &len);
    assert_int_equal(mem_len, len);
    assert_memory_equal(mem, html, len);
    free(mem);
    free(html);
    df_report_figures_free(&figs);

    df_test_rmtree(tmp);
    free(dir);
    free(tmp);
}

/* An exact fit's one-entry history is a fit, not an epoch: the page says
 * how the head was fitted and what it scores, the curves are placeholders
 * that say why, and the Adam-only wording is gone. */
static void test_report_exact_fit(void **state) {
    fixture *f = *state;
    df_report_data *d = &f->d;
    d->history.n_epochs = 1;
    d->history.best_epoch = 0;
    d->history.kept_epoch = 0;
    d->history.exact_fit = 1;
    df_error err;
    df_png p;
    assert_int_equal(df_figure_curves(&d->history, DF_FIGURE_ACCURACY, "Accuracy", 1.0, &p, &err), DF_OK);
    cairo_surface_t *s = decode_png(p.data, p.size);
    assert_non_null(s);
    assert_int_equal(cairo_image_surface_get_width(s), 640); /* the placeholder, not a plot */
    assert_int_equal(cairo_image_surface_get_height(s), 200);
    cairo_surface_destroy(s);
    df_png_free(&p);

    df_report_figures figs;
    assert_int_equal(df_report_render(d, &figs, &err), DF_OK);
    char *html;
    size_t len;
    assert_int_equal(df_report_html(d, &figs, &html, &len, &err), DF_OK);
    assert_non_null(strstr(html, "<h2>Head fit</h2>"));
    assert_non_null(strstr(html, "<a href=\"#curves\">Head fit</a>"));
    assert_non_null(strstr(html, "--solver exact"));
    assert_null(strstr(html, "<h2>Learning curves</h2>"));
    assert_null(strstr(html, "Per-epoch history"));
    assert_null(strstr(html, ">Epochs<"));
    char acc[32];
    snprintf(acc, sizeof acc, "%.1f%%", f->epochs[0].accuracy * 100);
    assert_non_null(strstr(html, acc));
    free(html);
    /* how L-BFGS ended, when known: within its tolerance, or stopped */
    d->history.exact_iterations = 38;
    d->history.exact_grad_max = 9.1e-7;
    d->history.exact_tol = 1e-6;
    assert_int_equal(df_report_html(d, &figs, &html, &len, &err), DF_OK);
    assert_non_null(strstr(html, "L-BFGS took 38 iterations; the objective's largest gradient entry is 9.1e-07, "
                                 "within the tolerance 1e-06."));
    free(html);
    d->history.exact_iterations = 5000;
    d->history.exact_grad_max = 3e-4;
    d->history.exact_tol = 1e-4;
    assert_int_equal(df_report_html(d, &figs, &html, &len, &err), DF_OK);
    assert_non_null(strstr(html, "above the tolerance 1e-04 (stopped at the iteration cap"));
    free(html);
    df_report_figures_free(&figs);
}

static void test_report_write_errors(void **state) {
    fixture *f = *state;
    char *tmp = df_test_tempdir();
    df_error err;
    /* out_dir is a file */
    char *file = df_path_join(tmp, "file");
    assert_int_equal(df_test_write_file(file, "x", 1), 0);
    df_status st = df_report_write(&f->d, file, &err);
    assert_int_not_equal(st, DF_OK);
    assert_non_null(strstr(err.message, file));
    /* bad data: nothing is written */
    char *dir = df_path_join(tmp, "out");
    df_report_data d = f->d;
    d.history.best_epoch = 99;
    assert_int_equal(df_report_write(&d, dir, &err), DF_ERR_INVALID_ARG);
    d = f->d;
    d.history.kept_epoch = -2;
    assert_int_equal(df_report_write(&d, dir, &err), DF_ERR_INVALID_ARG);
    struct stat sb;
    assert_int_not_equal(stat(dir, &sb), 0);
    /* A read-only folder. Root ignores permissions, so as root the check
     * runs in a child that drops to uid/gid 65534 (nobody). */
    char *ro = df_path_join(tmp, "ro");
    assert_int_equal(mkdir(ro, 0555), 0);
    assert_int_equal(chmod(ro, 0555), 0); /* umask may have removed bits */
    assert_int_equal(chmod(tmp, 0755), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(77);
        df_error cerr;
        df_status cst = df_report_write(&f->d, ro, &cerr);
        char *html = df_path_join(ro, "report.html");
        int ok = cst == DF_ERR_IO && strstr(cerr.message, ro) &&
                 strstr(cerr.message, "Permission denied") && !df_file_is_regular(html);
        if (!ok) fprintf(stderr, "read-only folder: status %d, message: %s\n", cst, cerr.message);
        _exit(ok ? 0 : 1);
    }
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst));
    if (WEXITSTATUS(wst) == 77)
        print_message("NOTE: cannot drop root privileges here; read-only case not checked\n");
    else
        assert_int_equal(WEXITSTATUS(wst), 0);
    df_test_rmtree(tmp);
    free(ro);
    free(dir);
    free(file);
    free(tmp);
}

/* ---- end to end in a browser ---- */

static void test_report_in_chromium(void **state) {
    fixture *f = *state;
    char out[4096];
    if (df_test_run("command -v chromium || command -v chromium-browser", out, sizeof out) != 0) {
        print_message("SKIP: chromium is not installed (scripts/setup-deps.sh installs it)\n");
        skip();
    }
    char browser[512];
    snprintf(browser, sizeof browser, "%s", strtok(out, "\n"));
    char *tmp = df_test_tempdir();
    df_error err;
    assert_int_equal(df_report_write(&f->d, tmp, &err), DF_OK);
    char cmd[4096];
    const char *flags = "--headless --no-sandbox --disable-gpu --disable-background-networking "
                        "--no-first-run --disable-extensions --hide-scrollbars";
    snprintf(cmd, sizeof cmd,
             "timeout 60 '%s' %s --user-data-dir='%s/profile1' --screenshot='%s/shot.png' "
             "--window-size=1280,2000 'file://%s/report.html' >/dev/null 2>&1",
             browser, flags, tmp, tmp, tmp);
    assert_int_equal(df_test_run(cmd, NULL, 0), 0);
    snprintf(cmd, sizeof cmd,
             "timeout 60 '%s' %s --user-data-dir='%s/profile2' --dump-dom "
             "'file://%s/report.html' > '%s/dom.html' 2>/dev/null",
             browser, flags, tmp, tmp, tmp);
    assert_int_equal(df_test_run(cmd, NULL, 0), 0);

    char shot[1024];
    snprintf(shot, sizeof shot, "%s/shot.png", tmp);
    cairo_surface_t *s = cairo_image_surface_create_from_png(shot);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    assert_int_equal(cairo_image_surface_get_width(s), 1280);
    assert_int_equal(cairo_image_surface_get_height(s), 2000);
    png_stats st = stats(s);
    if (st.distinct < 500 || st.nonwhite < 0.3)
        fail_msg("screenshot looks blank: %d colours, %.0f%% non-white", st.distinct,
                 100 * st.nonwhite);
    /* the header's blue band means the inline CSS applied */
    const unsigned char *px = cairo_image_surface_get_data(s);
    uint32_t v = *(const uint32_t *)(px + 20 * cairo_image_surface_get_stride(s) + 600 * 4);
    int r = (v >> 16) & 0xFF, b = v & 0xFF;
    assert_true(b > r + 60);
    assert_true(dark_in_band(s, 2000) > 2000); /* text was rendered */
    cairo_surface_destroy(s);

    size_t len;
    char *dom = read_text(tmp, "dom.html", &len);
    assert_non_null(strstr(dom, "bottoms"));
    assert_non_null(strstr(dom, "shoes"));
    assert_non_null(strstr(dom, "tops &amp; tees"));
    assert_non_null(strstr(dom, "91.7%"));
    free(dom);
    print_message("chromium: screenshot %s/shot.png, %d colours\n", tmp, st.distinct);
    df_test_rmtree(tmp);
    free(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_figures_decode_size_title, setup, teardown),
        cmocka_unit_test(test_figures_without_data),
        cmocka_unit_test_setup_teardown(test_gallery_order_and_caption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_rejects_bad_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_exact_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_write_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_in_chromium, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    cairo_debug_reset_static_data(); /* drop cairo's font caches for LeakSanitizer */
    return failed;
}
