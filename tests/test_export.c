/*
 * deepfashion export: the classifier as one TFLite flatbuffer
 * (export/tflite_export.c, formats/tflite_write.c, formats/flatbuf.c,
 * formats/tflite_metadata.c, formats/zip.c).
 *
 * - Folding, checked against the unfolded reference: small backbones built
 *   here (uint8-quantized and float32), heads with random weights, BatchNorm
 *   statistics and standardisation (MLP and linear). The exported model is
 *   read back with our TFLite reader and run by our executor; its
 *   probabilities must equal backbone features -> df_head_predict within
 *   1e-5 (fp32, only the summation order and the folds' rounding differ).
 * - The rest of the graph is the backbone's as it was: every copied tensor
 *   keeps name, type, shape, quantization and bytes.
 * - Metadata round trip: TFLITE_METADATA parses (name, normalisation,
 *   image size, min_parser_version, labels file of type TENSOR_AXIS_LABELS),
 *   and labels.txt, unzipped from the appended archive, lists the classes
 *   in order. CRC-32 against its check value.
 * - Refusals: a VGG16 model, a feature size that does not match, an
 *   operator the exporter does not copy: one-line errors.
 * - Mutation: seeded byte mutations and truncations of the backbone bytes
 *   and of model files never crash the exporter; what it exports reads
 *   back (fuzz/fuzz_export.c does the same under libFuzzer).
 * - VGG16 (a generated Keras-layout file, 96x64 input so the reference is
 *   cheap; flattened features with caffe preprocessing and an MLP head,
 *   pooled features with seed preprocessing and a linear head): the float32
 *   graph (CONV_2D, MAX_POOL_2D, [MEAN], head) run by our executor on the
 *   input the metadata's normalisation describes gives the VGG16 backbone +
 *   head's probabilities within 1e-3.
 * - With ../shared: models trained by the CLI on the closet photos,
 *   exported by the CLI: on every validation photo (224x224 pixels, so no
 *   resize differs) our executor running the exported file gives predict's
 *   probabilities within 0.02 and the same class (the measured maximum
 *   difference is printed): an fp32 model exported both ways, run in fp32;
 *   an int8 model exported by default (as in its file), run in integers
 *   (the DEQUANTIZE before the head is the integer net's own output).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/classifier.h"
#include "backbone/pooling.h"
#include "backbone/tflite_backbone.h"
#include "backbone/vgg16.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/sha256.h"
#include "data/dataset.h"
#include "eval/unknown.h"
#include "export/tflite_export.h"
#include "formats/model_file.h"
#include "formats/tflite.h"
#include "formats/tflite_metadata.h"
#include "formats/zip.h"
#include "image/image.h"
#include "support/h5_fixture.h"
#include "support/test_support.h"
#include "support/tflite_builder.h"

enum { H = 6, W = 6, F = 4, CLASSES = 3 };
static const char *NAMES[CLASSES] = {"bottoms", "shoes", "tops"};

/* A backbone: CONV_2D 3x3 SAME (RELU6) -> AVERAGE_POOL_2D 6x6 -> [1,1,1,F],
 * then (like a real classifier's top) a CONCATENATION of the feature with
 * itself when with_top, which the exporter must not need. quantized: uint8
 * tensors, int32 bias; else float32. */
static uint8_t *backbone_bytes(int quantized, int concat_before_cut, size_t *size) {
    static uint8_t wq[F * 27];
    static float wf[F * 27], bf[F];
    static int32_t bq[F];
    df_rng r;
    df_rng_seed(&r, 7, 1);
    for (int k = 0; k < F * 27; k++) {
        wq[k] = (uint8_t)(100 + df_rng_below(&r, 50));
        wf[k] = (float)((int)df_rng_below(&r, 200) - 100) / 200.0f;
    }
    for (int k = 0; k < F; k++) {
        bq[k] = (int32_t)df_rng_below(&r, 400) - 200;
        bf[k] = (float)k * 0.1f - 0.15f;
    }
    static float s_in = 0.0078125f, s_w = 0.02f, s_b = 0.0078125f * 0.02f, s_act = 0.05f;
    static int64_t zp_in = 128, zp_w = 120, zp0 = 0;
    int at = quantized ? DF_TFLITE_UINT8 : DF_TFLITE_FLOAT32;
    int nq = quantized ? 1 : 0;
    df_tfb_tensor t[7];
    memset(t, 0, sizeof t);
    t[0] = (df_tfb_tensor){"input", at, 4, {1, H, W, 3}, NULL, 0, nq, &s_in, &zp_in, 0};
    t[1] = (df_tfb_tensor){"conv/weights", at, 4, {F, 3, 3, 3}, quantized ? (void *)wq : (void *)wf,
                           quantized ? sizeof wq : sizeof wf, nq, &s_w, &zp_w, 0};
    t[2] = (df_tfb_tensor){"conv/bias", quantized ? DF_TFLITE_INT32 : DF_TFLITE_FLOAT32, 1, {F},
                           quantized ? (void *)bq : (void *)bf, sizeof bq, nq, &s_b, &zp0, 0};
    t[3] = (df_tfb_tensor){"conv/out", at, 4, {1, H, W, F}, NULL, 0, nq, &s_act, &zp0, 0};
    t[4] = (df_tfb_tensor){"pool", at, 4, {1, 1, 1, F}, NULL, 0, nq, &s_act, &zp0, 0};
    t[5] = (df_tfb_tensor){"concat", at, 4, {1, H, W, 2 * F}, NULL, 0, nq, &s_act, &zp0, 0};
    t[6] = (df_tfb_tensor){"pool_in", at, 4, {1, H, W, F}, NULL, 0, nq, &s_act, &zp0, 0};
    df_tfb_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0] = (df_tfb_op){.builtin = DF_TFLITE_OP_CONV_2D, .n_inputs = 3, .inputs = {0, 1, 2},
                         .n_outputs = 1, .outputs = {3}, .options_type = DF_TFLITE_OPTIONS_CONV2D,
                         .padding = DF_TFLITE_PAD_SAME, .stride_w = 1, .stride_h = 1,
                         .activation = DF_TFLITE_ACT_RELU6};
    int n_ops = 2, pool_in = 3;
    if (concat_before_cut) {
        /* a CONCATENATION feeding the pool: not an operator the exporter copies */
        ops[1] = (df_tfb_op){.builtin = DF_TFLITE_OP_CONCATENATION, .n_inputs = 2,
                             .inputs = {3, 3}, .n_outputs = 1, .outputs = {5},
                             .options_type = DF_TFLITE_OPTIONS_CONCATENATION};
        t[4].shape[3] = 2 * F;
        pool_in = 5;
        n_ops = 3;
    }
    ops[n_ops - 1] = (df_tfb_op){.builtin = DF_TFLITE_OP_AVERAGE_POOL_2D, .n_inputs = 1,
                                 .inputs = {pool_in}, .n_outputs = 1, .outputs = {4},
                                 .options_type = DF_TFLITE_OPTIONS_POOL2D,
                                 .padding = DF_TFLITE_PAD_VALID, .stride_w = 1, .stride_h = 1,
                                 .filter_w = W, .filter_h = H};
    const int32_t in[1] = {0}, out[1] = {4};
    return df_tfb_model(t, 6, ops, n_ops, in, 1, out, 1, 0, size);
}

/* A model whose head has non-trivial weights, BN statistics and
 * standardisation, so every fold matters. */
static df_model *make_model(df_head_kind kind, int feature_dim) {
    df_head_config cfg = df_head_config_default();
    cfg.kind = kind;
    cfg.units = 5;
    df_model *m = NULL;
    df_error err;
    assert_int_equal(df_model_create(&cfg, feature_dim, CLASSES, NAMES, 3, &m, &err), DF_OK);
    snprintf(m->meta.backbone_kind, sizeof m->meta.backbone_kind, "tflite");
    snprintf(m->meta.backbone_name, sizeof m->meta.backbone_name, "test_backbone");
    df_rng r;
    df_rng_seed(&r, 11, 2);
    float *p = df_head_params(m->head);
    for (size_t i = 0; i < df_head_num_params(m->head); i++)
        p[i] = (float)((int)df_rng_below(&r, 2001) - 1000) / 1000.0f;
    if (kind == DF_HEAD_MLP) {
        float *mm = df_head_bn_moving_mean(m->head), *mv = df_head_bn_moving_var(m->head);
        for (int u = 0; u < cfg.units; u++) {
            mm[u] = 0.3f * (float)u;
            mv[u] = 0.5f + 0.25f * (float)u;
        }
    }
    float *mean = malloc((size_t)feature_dim * sizeof *mean), *sd = malloc((size_t)feature_dim * sizeof *sd);
    assert_non_null(mean);
    assert_non_null(sd);
    for (int i = 0; i < feature_dim; i++) {
        mean[i] = 0.1f * (float)i;
        sd[i] = 0.5f + 0.1f * (float)i;
    }
    assert_int_equal(df_head_set_standardisation(m->head, mean, sd, &err), DF_OK);
    free(mean);
    free(sd);
    return m;
}

static df_backbone_options fp32_options(void) {
    df_backbone_options o = df_backbone_options_default();
    o.precision = DF_PRECISION_FP32;
    o.autotune = 0;
    o.max_batch = 1;
    return o;
}

static df_image test_image(int seed) {
    df_image img = {W, H, malloc(W * H * 3)};
    assert_non_null(img.pixels);
    df_rng r;
    df_rng_seed(&r, (uint64_t)seed, 3);
    for (int k = 0; k < W * H * 3; k++) img.pixels[k] = (uint8_t)df_rng_below(&r, 256);
    return img;
}

static uint8_t *export_ok(const uint8_t *bb, size_t bb_size, const df_model *model,
                          int float_backbone, size_t *size) {
    df_export_options eo = df_export_options_default();
    eo.name = "closet";
    eo.float_backbone = float_backbone;
    uint8_t *out = NULL;
    df_error err;
    df_status st = df_export_tflite(bb, bb_size, "test.tflite", NULL, model, &eo, &out, size, &err);
    if (st) print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    return out;
}

/* The unknown score from the exported similarities, the slow obvious way:
 * 1 - the mean of the k largest. */
static double score_from_similarities(const float *sims, int n, int k) {
    char *used = calloc((size_t)n, 1);
    assert_non_null(used);
    double sum = 0;
    for (int t = 0; t < k; t++) {
        int best = -1;
        for (int r = 0; r < n; r++)
            if (!used[r] && (best < 0 || sims[r] > sims[best])) best = r;
        used[best] = 1;
        sum += sims[best];
    }
    free(used);
    return 1.0 - sum / k;
}

/* Output 1 of an exported model (g computes it) on input x against the
 * model's detector on the same image's backbone features: the same
 * decision; returns |score difference|. */
static double unknown_gap(df_tflite_graph *g, const df_model *model, const float *x,
                          const float *feat) {
    const df_unknown_detector *u = model->unknown;
    float *sims = malloc((size_t)u->n * sizeof *sims);
    assert_non_null(sims);
    df_error err;
    assert_int_equal(df_tflite_graph_output_size(g), (size_t)u->n);
    assert_int_equal(df_tflite_graph_run(g, x, 1, sims, &err), DF_OK);
    double got = score_from_similarities(sims, u->n, u->k), want = df_unknown_score(u, feat);
    free(sims);
    assert_int_equal(got > (double)u->threshold, want > (double)u->threshold);
    return fabs(got - want);
}

/* Every copied tensor keeps name, type, shape, quantization and bytes. */
static void check_copied(const df_tflite_model *src, const df_tflite_model *exp) {
    for (size_t i = 0; i < src->n_tensors; i++) {
        const df_tflite_tensor *a = &src->tensors[i];
        int j = df_tflite_find_tensor(exp, a->name);
        if (i == 5 || i == 6) continue; /* unused by the graph */
        assert_true(j >= 0);
        const df_tflite_tensor *b = &exp->tensors[j];
        assert_int_equal(a->type, b->type);
        assert_int_equal(a->rank, b->rank);
        assert_memory_equal(a->shape, b->shape, sizeof a->shape);
        assert_int_equal(a->quant.n, b->quant.n);
        for (size_t k = 0; k < a->quant.n; k++) {
            assert_true(a->quant.scale[k] == b->quant.scale[k]);
            assert_true(a->quant.zero_point[k] == b->quant.zero_point[k]);
        }
        const uint8_t *da = df_tflite_tensor_data(src, (int)i), *db = df_tflite_tensor_data(exp, j);
        assert_int_equal(da == NULL, db == NULL);
        if (da)
            assert_memory_equal(da, db, df_tflite_tensor_elements(a) * df_tflite_type_size(a->type));
    }
}

/* Exported model run by our executor vs backbone features -> head. */
static void check_folding(int quantized, df_head_kind kind, int float_backbone) {
    size_t bb_size, size;
    uint8_t *bb = backbone_bytes(quantized, 0, &bb_size);
    df_model *model = make_model(kind, F);
    uint8_t *out = export_ok(bb, bb_size, model, float_backbone, &size);
    df_error err;
    df_tflite_model *src, *exp;
    assert_int_equal(df_tflite_parse(bb, bb_size, "bb", &src, &err), DF_OK);
    df_status st = df_tflite_parse(out, size, "exported", &exp, &err);
    if (st) print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);

    df_backbone_options o = fp32_options();
    df_backbone *backbone;
    df_tflite_classifier *clf;
    assert_int_equal(df_tflite_backbone_from_model(src, "bb", &o, &backbone, &err), DF_OK);
    st = df_tflite_classifier_from_model(exp, &o, &clf, &err);
    if (st) print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    assert_int_equal(df_tflite_classifier_classes(clf), CLASSES);
    double worst = 0;
    for (int s = 0; s < 20; s++) {
        df_image img = test_image(s);
        float x[H * W * 3], x2[H * W * 3], feat[F], want[CLASSES], got[CLASSES];
        assert_int_equal(df_backbone_preprocess(backbone, &img, x, &err), DF_OK);
        assert_int_equal(df_backbone_run(backbone, x, 1, feat, &err), DF_OK);
        assert_int_equal(df_head_predict(model->head, feat, 1, want, &err), DF_OK);
        assert_int_equal(df_tflite_classifier_preprocess(clf, &img, x2, &err), DF_OK);
        assert_memory_equal(x, x2, sizeof x);
        assert_int_equal(df_tflite_classifier_run(clf, x2, 1, got, &err), DF_OK);
        for (int c = 0; c < CLASSES; c++) {
            double d = fabs((double)got[c] - (double)want[c]);
            if (d > worst) worst = d;
            if (d > 1e-5) {
                print_message("image %d class %d: exported %.9g, reference %.9g\n", s, c,
                              (double)got[c], (double)want[c]);
                fail();
            }
        }
        free(img.pixels);
    }
    print_message("%s backbone%s, %s head: max |exported - reference| = %.3g\n",
                  quantized ? "uint8" : "float32", float_backbone ? " (exported as float32)" : "",
                  df_head_kind_name(kind), worst);

    /* The backbone part is the backbone as it was; or, dequantized, float32
     * everywhere after the input. */
    if (!float_backbone) check_copied(src, exp);
    for (size_t i = 0; float_backbone && i < exp->n_tensors; i++)
        if ((int)i != exp->inputs[0] && exp->tensors[i].type != DF_TFLITE_INT32)
            assert_int_equal(exp->tensors[i].type, DF_TFLITE_FLOAT32);
    /* DEQUANTIZE only where the feature is quantized; SOFTMAX last. */
    int deq = 0;
    for (size_t i = 0; i < exp->n_operators; i++) deq += exp->operators[i].builtin == DF_TFLITE_OP_DEQUANTIZE;
    assert_int_equal(deq, quantized ? 1 : 0); /* at the feature, or at the input (float mode) */
    assert_int_equal(exp->operators[exp->n_operators - 1].builtin, DF_TFLITE_OP_SOFTMAX);
    assert_int_equal(exp->tensors[exp->outputs[0]].type, DF_TFLITE_FLOAT32);

    df_tflite_classifier_destroy(clf);
    df_backbone_destroy(backbone);
    df_tflite_destroy(src);
    df_tflite_destroy(exp);
    df_model_destroy(model);
    free(out);
    free(bb);
}

static void test_fold_quantized_mlp(void **state) {
    (void)state;
    check_folding(1, DF_HEAD_MLP, 0);
}
static void test_fold_float_mlp(void **state) {
    (void)state;
    check_folding(0, DF_HEAD_MLP, 0);
}
static void test_fold_quantized_linear(void **state) {
    (void)state;
    check_folding(1, DF_HEAD_LINEAR, 0);
}
static void test_fold_dequantized_backbone(void **state) {
    (void)state;
    check_folding(1, DF_HEAD_MLP, 1);
    check_folding(1, DF_HEAD_LINEAR, 1);
}

static void test_crc32(void **state) {
    (void)state;
    assert_int_equal(df_crc32("123456789", 9), 0xCBF43926u); /* the CRC-32 check value */
    assert_int_equal(df_crc32("", 0), 0);
}

static void test_metadata_round_trip(void **state) {
    (void)state;
    size_t bb_size, size;
    uint8_t *bb = backbone_bytes(1, 0, &bb_size);
    df_model *model = make_model(DF_HEAD_MLP, F);
    uint8_t *out = export_ok(bb, bb_size, model, 0, &size);
    df_error err;
    df_tflite_model *m;
    assert_int_equal(df_tflite_parse(out, size, "exported", &m, &err), DF_OK);
    size_t md_size;
    const uint8_t *md_buf = df_tflite_metadata_buffer(m, DF_TFLITE_METADATA_NAME, &md_size);
    assert_non_null(md_buf);
    assert_memory_equal(md_buf + 4, "M001", 4);
    df_tflite_md md;
    df_status st = df_tflite_md_parse(md_buf, md_size, "metadata", &md, &err);
    if (st) print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    assert_string_equal(md.name, "closet");
    assert_non_null(strstr(md.description, "3 classes (bottoms, shoes, tops)"));
    assert_string_equal(md.min_parser_version, DF_TFLITE_METADATA_PARSER_VERSION);
    assert_string_equal(md.input_name, "image");
    assert_int_equal(md.color_space, DF_MD_COLOR_RGB);
    assert_int_equal(md.width, W);
    assert_int_equal(md.height, H);
    /* uint8 input, scale 1/128, zero point 128: (pixel - 128) / 128 */
    assert_int_equal(md.n_norm, 1);
    assert_true(md.mean[0] == 128.0f && md.std[0] == 128.0f);
    assert_string_equal(md.output_name, "probability");
    assert_int_equal(md.has_stats, 1);
    assert_true(md.stats_min == 0.0f && md.stats_max == 1.0f);
    assert_string_equal(md.labels_file, "labels.txt");
    assert_int_equal(md.labels_type, DF_MD_FILE_TENSOR_AXIS_LABELS);
    const uint8_t *labels;
    size_t n;
    st = df_zip_find(out, size, "exported", md.labels_file, &labels, &n, &err);
    if (st) print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    const char want[] = "bottoms\nshoes\ntops\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(labels, want, n);
    /* The archive starts right after the flatbuffer; its offsets count from
     * the start of the model file, and a reader given the archive alone
     * still finds the entry (by the central directory's actual place). */
    size_t fb_end = size - (22 + 46 + 30 + 2 * strlen("labels.txt") + n);
    assert_int_equal(st = df_zip_find(out + fb_end, size - fb_end, "zip only", "labels.txt",
                                      &labels, &n, &err), DF_OK);
    df_tflite_md_free(&md);
    df_tflite_destroy(m);
    df_model_destroy(model);
    free(out);
    free(bb);
}

/* A model with an unknown detector: output 1 and its metadata, unknown.json,
 * the score from our executor against the detector's; --no-unknown; a
 * centred detector is refused. Both backbone forms. */
static void check_unknown_export(int float_backbone) {
    size_t bb_size, size;
    uint8_t *bb = backbone_bytes(1, 0, &bb_size);
    df_model *model = make_model(DF_HEAD_MLP, F);
    df_error err;
    df_tflite_model *src;
    assert_int_equal(df_tflite_parse(bb, bb_size, "bb", &src, &err), DF_OK);
    df_backbone_options o = fp32_options();
    df_backbone *backbone;
    assert_int_equal(df_tflite_backbone_from_model(src, "bb", &o, &backbone, &err), DF_OK);
    enum { NI = 24, NFIT = 12 };
    float x[NI][H * W * 3], feat[NI][F];
    for (int s = 0; s < NI; s++) {
        df_image img = test_image(100 + s);
        assert_int_equal(df_backbone_preprocess(backbone, &img, x[s], &err), DF_OK);
        assert_int_equal(df_backbone_run(backbone, x[s], 1, feat[s], &err), DF_OK);
        free(img.pixels);
    }
    /* fitted on the first 12 images; the other 12 are new photos */
    assert_int_equal(df_unknown_fit(&feat[0][0], NFIT, F, 3, 0, 0.25f, NULL, &model->unknown, &err),
                     DF_OK);
    uint8_t *out = export_ok(bb, bb_size, model, float_backbone, &size);
    df_tflite_model *m;
    assert_int_equal(df_tflite_parse(out, size, "exported", &m, &err), DF_OK);
    assert_int_equal(m->n_outputs, 2);
    assert_string_equal(m->tensors[m->outputs[0]].name, "probabilities");
    assert_string_equal(m->tensors[m->outputs[1]].name, "training_similarity");
    size_t md_size;
    const uint8_t *md_buf = df_tflite_metadata_buffer(m, DF_TFLITE_METADATA_NAME, &md_size);
    df_tflite_md md;
    assert_int_equal(df_tflite_md_parse(md_buf, md_size, "md", &md, &err), DF_OK);
    assert_int_equal(md.n_outputs, 2); /* the Task Library needs one entry per output */
    assert_string_equal(md.output_name, "probability");
    assert_string_equal(md.labels_file, "labels.txt");
    assert_string_equal(md.output2.name, "training_similarity");
    assert_string_equal(md.output2.file, "unknown.json");
    assert_int_equal(md.output2.file_type, DF_MD_FILE_DESCRIPTIONS);
    assert_true(md.output2.has_stats && md.output2.stats_min == -1.0f && md.output2.stats_max == 1.0f);
    const uint8_t *uj;
    size_t n;
    assert_int_equal(df_zip_find(out, size, "exported", "unknown.json", &uj, &n, &err), DF_OK);
    char text[512], want[96];
    assert_true(n < sizeof text);
    memcpy(text, uj, n);
    text[n] = '\0';
    snprintf(want, sizeof want, "\"k\":3,\"rows\":12,\"threshold\":%.9g,",
             (double)model->unknown->threshold);
    assert_non_null(strstr(text, want));
    df_tflite_graph *g;
    df_status st = df_tflite_graph_create(m, m->outputs[1], &o, &g, &err);
    if (st) fail_msg("%s", err.message);
    double worst = 0;
    for (int s = 0; s < NI; s++) {
        double d = unknown_gap(g, model, x[s], feat[s]);
        if (d > worst) worst = d;
    }
    print_message("unknown output (%s backbone): max |exported score - detector| = %.3g\n",
                  float_backbone ? "dequantized" : "uint8", worst);
    assert_true(worst <= 1e-4);
    df_tflite_graph_destroy(g);
    df_tflite_md_free(&md);
    df_tflite_destroy(m);
    free(out);

    /* --no-unknown: one output, one output in the metadata, no unknown.json */
    df_export_options eo = df_export_options_default();
    eo.unknown = 0;
    eo.float_backbone = float_backbone;
    assert_int_equal(df_export_tflite(bb, bb_size, "bb", NULL, model, &eo, &out, &size, &err), DF_OK);
    assert_int_equal(df_tflite_parse(out, size, "exported", &m, &err), DF_OK);
    assert_int_equal(m->n_outputs, 1);
    md_buf = df_tflite_metadata_buffer(m, DF_TFLITE_METADATA_NAME, &md_size);
    assert_int_equal(df_tflite_md_parse(md_buf, md_size, "md", &md, &err), DF_OK);
    assert_int_equal(md.n_outputs, 1);
    assert_null(md.output2.name);
    assert_int_not_equal(df_zip_find(out, size, "exported", "unknown.json", &uj, &n, &err), DF_OK);
    df_tflite_md_free(&md);
    df_tflite_destroy(m);
    free(out);

    /* a centred detector: refused, one line naming --no-unknown */
    df_unknown_destroy(model->unknown);
    assert_int_equal(df_unknown_fit(&feat[0][0], NFIT, F, 3, 1, 0.25f, NULL, &model->unknown, &err),
                     DF_OK);
    out = NULL;
    eo.unknown = 1;
    assert_int_equal(df_export_tflite(bb, bb_size, "bb", NULL, model, &eo, &out, &size, &err),
                     DF_ERR_UNSUPPORTED);
    assert_null(out);
    assert_non_null(strstr(err.message, "--no-unknown"));
    df_backbone_destroy(backbone);
    df_tflite_destroy(src);
    df_model_destroy(model);
    free(bb);
}

static void test_unknown_output(void **state) {
    (void)state;
    check_unknown_export(0);
    check_unknown_export(1);
}

/* A model pooled by regions (r2s2 on the 6x6 map: 3 x 3 windows of F):
 * the export adds AVERAGE_POOL_2D (2x2, stride 2, VALID) before the head
 * and, for the unknown detector (fitted on the windows' mean), one over
 * the whole 3x3 grid; our executor runs both on the host after the
 * hand-over, so the quantized backbone stays on the integer engine. The
 * exported probabilities and similarities against the backbone opened
 * with the same pooling -> head / detector, fp32 and (quantized) int8. */
static void check_regions_export(int quantized, df_precision precision) {
    enum { NW = 9, D = NW * F, NI = 8 };
    size_t bb_size, size;
    uint8_t *bb = backbone_bytes(quantized, 0, &bb_size);
    df_model *model = make_model(DF_HEAD_LINEAR, D);
    snprintf(model->meta.pooling, sizeof model->meta.pooling, "r2s2");
    df_error err;
    df_tflite_model *src, *exp;
    assert_int_equal(df_tflite_parse(bb, bb_size, "bb", &src, &err), DF_OK);
    df_backbone_options o = fp32_options();
    o.precision = precision;
    assert_int_equal(df_pooling_parse("r2s2", &o.pooling, &err), DF_OK);
    df_backbone *backbone;
    assert_int_equal(df_tflite_backbone_from_model(src, "bb", &o, &backbone, &err), DF_OK);
    backbone->max_batch = 1;
    backbone->map_buf = malloc(sizeof(float) * H * W * F); /* as df_backbone_open gives it */
    assert_non_null(backbone->map_buf);
    assert_int_equal(df_backbone_feature_dim(backbone), D);
    assert_int_equal(df_backbone_window_dim(backbone), F);
    float x[NI][H * W * 3], feat[NI][D], win[NI][F];
    for (int s = 0; s < NI; s++) {
        df_image img = test_image(100 + s);
        assert_int_equal(df_backbone_preprocess(backbone, &img, x[s], &err), DF_OK);
        assert_int_equal(df_backbone_run(backbone, x[s], 1, feat[s], &err), DF_OK);
        df_unknown_window_mean(feat[s], D, F, win[s]);
        free(img.pixels);
    }
    assert_int_equal(df_unknown_fit(&win[0][0], NI, F, 3, 0, 0.25f, NULL, &model->unknown, &err), DF_OK);
    df_export_options eo = df_export_options_default();
    eo.name = "closet";
    uint8_t *out = NULL;
    df_status st = df_export_tflite(bb, bb_size, "bb", NULL, model, &eo, &out, &size, &err);
    if (st) fail_msg("%s", err.message);
    assert_int_equal(df_tflite_parse(out, size, "exported", &exp, &err), DF_OK);
    int pools = 0;
    for (size_t i = 0; i < exp->n_operators; i++) pools += exp->operators[i].builtin == DF_TFLITE_OP_AVERAGE_POOL_2D;
    assert_int_equal(pools, 2); /* the regions and the detector's; not the backbone's own global pool */
    df_tflite_classifier *clf;
    st = df_tflite_classifier_from_model(exp, &o, &clf, &err);
    if (st) fail_msg("%s", err.message);
    assert_int_equal(df_tflite_classifier_precision(clf), precision); /* no fallback to fp32 */
    df_tflite_graph *g;
    assert_int_equal(df_tflite_graph_create(exp, exp->outputs[1], &o, &g, &err), DF_OK);
    double worst = 0, worst_u = 0;
    for (int s = 0; s < NI; s++) {
        float want[CLASSES], got[CLASSES];
        assert_int_equal(df_head_predict(model->head, feat[s], 1, want, &err), DF_OK);
        assert_int_equal(df_tflite_classifier_run(clf, x[s], 1, got, &err), DF_OK);
        for (int c = 0; c < CLASSES; c++) worst = fmax(worst, fabs((double)got[c] - (double)want[c]));
        float sims[NI];
        assert_int_equal(df_tflite_graph_run(g, x[s], 1, sims, &err), DF_OK);
        const double score = score_from_similarities(sims, NI, model->unknown->k);
        worst_u = fmax(worst_u, fabs(score - (double)df_unknown_score_features(model->unknown, feat[s], D)));
    }
    print_message("regions r2s2, %s backbone, %s: max |exported - reference| = %.3g, unknown score %.3g\n",
                  quantized ? "uint8" : "float32", df_precision_name(precision), worst, worst_u);
    assert_true(worst <= 1e-5);
    assert_true(worst_u <= 1e-5);
    /* the same model with a cut tensor is refused */
    free(out);
    out = NULL;
    assert_int_equal(df_export_tflite(bb, bb_size, "bb", "pool", model, &eo, &out, &size, &err), DF_ERR_INVALID_ARG);
    assert_null(out);
    df_tflite_graph_destroy(g);
    df_tflite_classifier_destroy(clf);
    df_backbone_destroy(backbone);
    df_tflite_destroy(src);
    df_tflite_destroy(exp);
    df_model_destroy(model);
    free(bb);
}

static void test_regions_export(void **state) {
    (void)state;
    check_regions_export(0, DF_PRECISION_FP32);
    check_regions_export(1, DF_PRECISION_FP32);
    check_regions_export(1, DF_PRECISION_INT8);
}

static void test_refusals(void **state) {
    (void)state;
    size_t bb_size, size;
    uint8_t *bb = backbone_bytes(1, 0, &bb_size), *out = NULL;
    df_export_options eo = df_export_options_default();
    df_error err;
    /* a VGG16 model given to the TFLite exporter */
    df_model *model = make_model(DF_HEAD_LINEAR, F);
    snprintf(model->meta.backbone_kind, sizeof model->meta.backbone_kind, "vgg16");
    assert_int_equal(df_export_tflite(bb, bb_size, "bb.tflite", NULL, model, &eo, &out, &size, &err),
                     DF_ERR_INVALID_ARG);
    assert_null(out);
    assert_non_null(strstr(err.message, "vgg16"));
    df_model_destroy(model);
    /* a head for 5 features on a 4-feature backbone */
    model = make_model(DF_HEAD_LINEAR, 5);
    assert_int_equal(df_export_tflite(bb, bb_size, "bb.tflite", NULL, model, &eo, &out, &size, &err),
                     DF_ERR_SHAPE);
    assert_null(out);
    df_model_destroy(model);
    /* an unknown cut tensor */
    model = make_model(DF_HEAD_LINEAR, F);
    assert_int_equal(df_export_tflite(bb, bb_size, "bb.tflite", "nope", model, &eo, &out, &size,
                                      &err), DF_ERR_UNSUPPORTED);
    free(bb);
    df_model_destroy(model);
    /* an operator the exporter does not copy, before the cut */
    bb = backbone_bytes(1, 1, &bb_size);
    model = make_model(DF_HEAD_LINEAR, 2 * F);
    assert_int_equal(df_export_tflite(bb, bb_size, "bb.tflite", NULL, model, &eo, &out, &size, &err),
                     DF_ERR_UNSUPPORTED);
    assert_null(out);
    assert_non_null(strstr(err.message, "CONCATENATION"));
    assert_null(strchr(err.message, '\n'));
    df_model_destroy(model);
    free(bb);
}

static void test_mutated_backbones(void **state) {
    (void)state;
    size_t bb_size;
    uint8_t *bb = backbone_bytes(1, 0, &bb_size);
    df_model *model = make_model(DF_HEAD_MLP, F);
    df_export_options eo = df_export_options_default();
    uint8_t *mut = malloc(bb_size);
    assert_non_null(mut);
    df_rng r;
    df_rng_seed(&r, 5, 4);
    int exported = 0, refused = 0;
    for (int i = 0; i < 3000; i++) {
        memcpy(mut, bb, bb_size);
        size_t n = bb_size;
        if (i % 10 == 9) {
            n = df_rng_below(&r, (uint32_t)bb_size);
        } else {
            int flips = 1 + (int)df_rng_below(&r, 4);
            for (int k = 0; k < flips; k++)
                mut[df_rng_below(&r, (uint32_t)bb_size)] = (uint8_t)df_rng_below(&r, 256);
        }
        uint8_t *out = NULL;
        size_t size = 0;
        df_error err;
        if (df_export_tflite(mut, n, "mutated", NULL, model, &eo, &out, &size, &err) != DF_OK) {
            assert_null(out);
            assert_null(strchr(err.message, '\n'));
            refused++;
            continue;
        }
        df_tflite_model *m;
        df_status st = df_tflite_parse(out, size, "re-read", &m, &err);
        if (st) print_message("mutation %d exported a file that does not read back: %s\n", i,
                              err.message);
        assert_int_equal(st, DF_OK);
        df_tflite_destroy(m);
        free(out);
        exported++;
    }
    print_message("3000 mutated backbones: %d exported (and read back), %d refused\n", exported,
                  refused);
    free(mut);
    free(bb);
    df_model_destroy(model);
}

/* The exporter's other input: model files, damaged. Each mutation is
 * loaded (the loader checks it in a child first) and, when it loads,
 * exported; nothing may crash, what exports reads back. */
static void test_mutated_model_files(void **state) {
    (void)state;
    char *dir = df_test_tempdir();
    char *path = df_path_join(dir, "m.dfm"), *mpath = df_path_join(dir, "mut.dfm");
    df_model *model = make_model(DF_HEAD_MLP, F);
    df_error err;
    /* with an unknown detector, so damaged detectors reach the export too */
    float rows[6 * F];
    for (int i = 0; i < 6 * F; i++) rows[i] = (float)((i * 7) % 11) / 10.0f;
    assert_int_equal(df_unknown_fit(rows, 6, F, 2, 0, 0.2f, NULL, &model->unknown, &err), DF_OK);
    assert_int_equal(df_model_save(model, path, &err), DF_OK);
    df_model_destroy(model);
    uint8_t *good, *mut;
    size_t n;
    assert_int_equal(df_file_read(path, (size_t)1 << 24, &good, &n, &err), DF_OK);
    mut = malloc(n);
    assert_non_null(mut);
    size_t bb_size;
    uint8_t *bb = backbone_bytes(1, 0, &bb_size);
    df_rng r;
    df_rng_seed(&r, 21, 5);
    int loaded = 0, exported = 0;
    enum { TRIES = 150 };
    for (int i = 0; i < TRIES; i++) {
        memcpy(mut, good, n);
        size_t len = n;
        if (i % 5 == 4) {
            len = df_rng_below(&r, (uint32_t)n);
        } else {
            int flips = 1 + (int)df_rng_below(&r, 8);
            for (int k = 0; k < flips; k++)
                mut[df_rng_below(&r, (uint32_t)n)] = (uint8_t)df_rng_below(&r, 256);
        }
        assert_int_equal(df_test_write_file(mpath, mut, len), 0);
        df_model *m = NULL;
        if (df_model_load(mpath, &m, &err) != DF_OK) {
            assert_null(strchr(err.message, '\n'));
            continue;
        }
        loaded++;
        df_export_options eo = df_export_options_default();
        uint8_t *out = NULL;
        size_t size = 0;
        if (df_export_tflite(bb, bb_size, "bb", NULL, m, &eo, &out, &size, &err) == DF_OK) {
            df_tflite_model *t;
            assert_int_equal(df_tflite_parse(out, size, "re-read", &t, &err), DF_OK);
            assert_int_equal(t->n_outputs, m->unknown ? 2 : 1);
            df_tflite_destroy(t);
            exported++;
        } else {
            assert_null(out);
        }
        free(out);
        df_model_destroy(m);
    }
    print_message("%d damaged model files: %d loaded, %d of them exported and read back\n", TRIES,
                  loaded, exported);
    free(bb);
    free(mut);
    free(good);
    df_test_rmtree(dir);
    free(dir);
    free(path);
    free(mpath);
}

/* ---- VGG16 ---- */

enum { VH = 64, VW = 96 };

/* A Keras-layout VGG16 file with He-uniform weights (as test_vgg16.c). */
static void write_vgg16(const char *path) {
    static char names[18][32], wnames[13][2][64];
    h5fx_layer layers[18];
    float *kernel[13], *bias[13];
    memset(layers, 0, sizeof layers);
    int li = 0;
    for (int i = 0; i < DF_VGG16_CONVS; i++) {
        int ic, oc;
        df_vgg16_conv_channels(i, &ic, &oc);
        df_vgg16_conv_name(i, names[li], sizeof names[li]);
        df_rng rng;
        df_rng_seed(&rng, 77, (uint64_t)i);
        size_t nk = (size_t)9 * ic * oc;
        kernel[i] = malloc(nk * sizeof(float));
        bias[i] = malloc((size_t)oc * sizeof(float));
        assert_non_null(kernel[i]);
        assert_non_null(bias[i]);
        float lim = sqrtf(6.0f / (9.0f * ic));
        for (size_t k = 0; k < nk; k++) kernel[i][k] = df_rng_uniform_range(&rng, -lim, lim);
        for (int o = 0; o < oc; o++) bias[i][o] = df_rng_uniform_range(&rng, -0.1f, 0.1f);
        snprintf(wnames[i][0], 64, "%s/kernel:0", names[li]);
        snprintf(wnames[i][1], 64, "%s/bias:0", names[li]);
        h5fx_layer *L = &layers[li++];
        L->name = names[li - 1];
        L->n = 2;
        L->w[0] = (h5fx_weight){wnames[i][0], 4, {3, 3, (size_t)ic, (size_t)oc}, kernel[i]};
        L->w[1] = (h5fx_weight){wnames[i][1], 1, {(size_t)oc}, bias[i]};
        if (df_vgg16_pool_after(i)) {
            int block = 0;
            for (int j = 0; j <= i; j++) block += df_vgg16_pool_after(j);
            snprintf(names[li], 32, "block%d_pool", block);
            layers[li].name = names[li];
            layers[li].n = 0;
            li++;
        }
    }
    h5fx_options fo = {0, 1, NULL, 0};
    assert_int_equal(h5fx_write_keras(path, layers, li, &fo), 0);
    for (int i = 0; i < DF_VGG16_CONVS; i++) {
        free(kernel[i]);
        free(bias[i]);
    }
}

static void check_vgg16(const char *path, const df_vgg16_weights *vw, int pooled, const char *pre,
                        df_head_kind kind) {
    int dim = pooled ? 512 : (VH / 32) * (VW / 32) * 512;
    df_backbone_options o = fp32_options();
    o.pool = pooled;
    o.max_batch = 1;
    df_error err;
    assert_int_equal(df_preprocess_parse(pre, &o.preprocess, &err), DF_OK);
    df_vgg16_source src = {path, 0, VH, VW};
    df_backbone *bb;
    if (df_vgg16_open_source(&src, &o, &bb, &err)) fail_msg("%s", err.message);
    assert_int_equal(bb->feature_dim, dim);
    enum { N = 6 };
    float *x = malloc((size_t)N * VH * VW * 3 * sizeof *x), *feat = malloc((size_t)N * dim * sizeof *feat);
    assert_non_null(x);
    assert_non_null(feat);
    df_image img[N];
    for (int s = 0; s < N; s++) {
        img[s] = (df_image){VW, VH, malloc(VW * VH * 3)};
        assert_non_null(img[s].pixels);
        df_rng r;
        df_rng_seed(&r, (uint64_t)s, 9);
        for (int k = 0; k < VW * VH * 3; k++) img[s].pixels[k] = (uint8_t)df_rng_below(&r, 256);
        assert_int_equal(df_backbone_preprocess(bb, &img[s], x + (size_t)s * VH * VW * 3, &err), DF_OK);
    }
    assert_int_equal(df_backbone_run(bb, x, N, feat, &err), DF_OK);

    df_model *model = make_model(kind, dim);
    snprintf(model->meta.backbone_kind, sizeof model->meta.backbone_kind, "vgg16");
    snprintf(model->meta.preprocess, sizeof model->meta.preprocess, "%s", pre);
    /* Features standardised on these images and small weights, so the
     * probabilities are not all 0 and 1. */
    assert_int_equal(df_head_fit_standardisation(model->head, feat, N, &err), DF_OK);
    float *p = df_head_params(model->head);
    for (size_t i = 0; i < df_head_num_params(model->head); i++) p[i] *= 0.3f;
    float want[N * CLASSES];
    assert_int_equal(df_head_predict(model->head, feat, N, want, &err), DF_OK);
    /* An unknown detector on these images' features: output 1 (flattened
     * features go through a RESHAPE to 1 x dim first). */
    assert_int_equal(df_unknown_fit(feat, N, dim, 2, 0, 0.2f, NULL, &model->unknown, &err), DF_OK);

    df_export_vgg16_weights w;
    for (int i = 0; i < 13; i++) {
        w.kernel[i] = vw->kernel[i];
        w.bias[i] = vw->bias[i];
    }
    w.input_h = VH;
    w.input_w = VW;
    w.pooled = pooled;
    df_export_options eo = df_export_options_default();
    uint8_t *out;
    size_t size;
    df_status st = df_export_vgg16(&w, model, &eo, &out, &size, &err);
    if (st) fail_msg("%s", err.message);
    df_tflite_model *m;
    assert_int_equal(df_tflite_parse(out, size, "vgg16.tflite", &m, &err), DF_OK);
    int convs = 0, pools = 0, means = 0;
    for (size_t i = 0; i < m->n_operators; i++) {
        convs += m->operators[i].builtin == DF_TFLITE_OP_CONV_2D;
        pools += m->operators[i].builtin == DF_TFLITE_OP_MAX_POOL_2D;
        means += m->operators[i].builtin == DF_TFLITE_OP_MEAN;
    }
    assert_int_equal(convs, 13);
    assert_int_equal(pools, 5);
    assert_int_equal(means, pooled);
    size_t md_size;
    const uint8_t *md_buf = df_tflite_metadata_buffer(m, DF_TFLITE_METADATA_NAME, &md_size);
    assert_non_null(md_buf);
    df_tflite_md md;
    assert_int_equal(df_tflite_md_parse(md_buf, md_size, "md", &md, &err), DF_OK);
    df_tflite_classifier *clf;
    st = df_tflite_classifier_from_model(m, &o, &clf, &err);
    if (st) fail_msg("%s", err.message);
    assert_int_equal(m->n_outputs, 2);
    assert_int_equal(md.n_outputs, 2);
    df_tflite_graph *ug;
    st = df_tflite_graph_create(m, m->outputs[1], &o, &ug, &err);
    if (st) fail_msg("%s", err.message);
    double worst = 0, lo = 1, hi = 0, worst_u = 0;
    for (int s = 0; s < N; s++) {
        /* the input as the metadata says: (pixel - mean[c]) / std[c], RGB */
        float *xi = x;
        for (int k = 0; k < VW * VH * 3; k++) {
            int c = md.n_norm > 1 ? k % 3 : 0;
            xi[k] = ((float)img[s].pixels[k] - md.mean[c]) / md.std[c];
        }
        float got[CLASSES];
        assert_int_equal(df_tflite_classifier_run(clf, xi, 1, got, &err), DF_OK);
        double du = unknown_gap(ug, model, xi, feat + (size_t)s * (size_t)dim);
        if (du > worst_u) worst_u = du;
        for (int c = 0; c < CLASSES; c++) {
            double d = fabs((double)got[c] - (double)want[s * CLASSES + c]);
            if (d > worst) worst = d;
            if (want[s * CLASSES + c] < lo) lo = want[s * CLASSES + c];
            if (want[s * CLASSES + c] > hi) hi = want[s * CLASSES + c];
        }
        free(img[s].pixels);
    }
    print_message("VGG16 %dx%d, %s, %s, %s head: max |exported - reference| = %.3g (probabilities "
                  "%.3f..%.3f)\n", VW, VH, pooled ? "pooled" : "flattened", pre,
                  df_head_kind_name(kind), worst, lo, hi);
    print_message("  unknown score from output 1: max |exported - detector| = %.3g\n", worst_u);
    assert_true(worst <= 1e-3);
    assert_true(worst_u <= 1e-4);
    df_tflite_graph_destroy(ug);
    assert_true(hi - lo > 0.1); /* not all saturated */
    df_tflite_md_free(&md);
    df_tflite_classifier_destroy(clf);
    df_tflite_destroy(m);
    free(out);
    df_model_destroy(model);
    free(x);
    free(feat);
    df_backbone_destroy(bb);
}

static void test_vgg16_export(void **state) {
    (void)state;
    char *dir = df_test_tempdir();
    char *path = df_path_join(dir, "vgg16_notop.h5");
    write_vgg16(path);
    df_vgg16_weights vw;
    df_error err;
    if (df_vgg16_weights_load(path, &vw, &err)) fail_msg("%s", err.message);
    check_vgg16(path, &vw, 0, "caffe", DF_HEAD_MLP);
    check_vgg16(path, &vw, 1, "seed", DF_HEAD_LINEAR);
    df_vgg16_weights_free(&vw);

    /* Through the command line: the model records the weights file and its
     * SHA-256; a wrong file is refused. */
    df_model *model = make_model(DF_HEAD_LINEAR, 512);
    snprintf(model->meta.backbone_kind, sizeof model->meta.backbone_kind, "vgg16");
    snprintf(model->meta.preprocess, sizeof model->meta.preprocess, "caffe");
    model->meta.input_h = VH;
    model->meta.input_w = VW;
    assert_int_equal(df_sha256_file(path, model->meta.backbone_sha256, &err), DF_OK);
    char json[1200], mpath[1024], cmd[4096], out[2048];
    snprintf(json, sizeof json, "{\"backbone_weights\":\"%s\"}", path);
    assert_int_equal(df_model_set_training_json(model, json, &err), DF_OK);
    snprintf(mpath, sizeof mpath, "%s/vgg.dfm", dir);
    assert_int_equal(df_model_save(model, mpath, &err), DF_OK);
    snprintf(cmd, sizeof cmd, "\"%s\" export --model \"%s\" --out \"%s/vgg.tflite\"", df_test_cli(),
             mpath, dir);
    int rc = df_test_run(cmd, out, sizeof out);
    if (rc) print_message("%s\n", out);
    assert_int_equal(rc, 0);
    snprintf(cmd, sizeof cmd, "%s/vgg.tflite", dir);
    df_tflite_model *m;
    assert_int_equal(df_tflite_load(cmd, &m, &err), DF_OK);
    assert_int_equal(m->tensors[m->inputs[0]].type, DF_TFLITE_FLOAT32);
    assert_int_equal(m->tensors[m->inputs[0]].shape[1], VH);
    df_tflite_destroy(m);
    snprintf(cmd, sizeof cmd, "\"%s\" export --model \"%s\" --weights \"%s\" --out \"%s/x.tflite\"",
             df_test_cli(), mpath, mpath, dir);
    assert_int_equal(df_test_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "not the ones the model was trained on"));
    df_model_destroy(model);
    df_test_rmtree(dir);
    free(path);
    free(dir);
}

/* ---- the real thing: closet photos ---- */

typedef struct closet_cmp {
    df_classifier *clf;          /* predict's side */
    df_tflite_classifier *tc;    /* our executor on the exported file: output 0 */
    df_tflite_graph *sims;       /* ... and output 1 (NULL without a detector) */
    int n_sims, C;
    float *x;
    double worst, worst_unknown;
    int same, same_unknown, unknown;
} closet_cmp;

/* One photo, resized to 224x224 once for both sides. */
static void compare_photo(closet_cmp *c, const char *path) {
    df_error err;
    df_image full, img;
    df_image_load_options lo = df_image_load_options_default();
    assert_int_equal(df_image_load(path, &lo, &full, &err), DF_OK);
    assert_int_equal(df_image_resize(&full, 224, 224, DF_RESIZE_BILINEAR, &img, &err), DF_OK);
    free(full.pixels);
    float want[16], got[16];
    assert_int_equal(df_classifier_predict_rgb(c->clf, img.pixels, 224, 224, want, &err), DF_OK);
    assert_int_equal(df_tflite_classifier_preprocess(c->tc, &img, c->x, &err), DF_OK);
    assert_int_equal(df_tflite_classifier_run(c->tc, c->x, 1, got, &err), DF_OK);
    int bw = 0, bg = 0;
    for (int k = 0; k < c->C; k++) {
        double d = fabs((double)got[k] - (double)want[k]);
        if (d > c->worst) c->worst = d;
        if (want[k] > want[bw]) bw = k;
        if (got[k] > got[bg]) bg = k;
    }
    c->same += bw == bg;
    if (c->sims) { /* predict's unknown answer from the same features */
        df_prediction pr;
        float probs[16], *sims = malloc((size_t)c->n_sims * sizeof *sims);
        assert_non_null(sims);
        assert_int_equal(df_classifier_judge(c->clf, c->clf->features, 1, probs, &pr, &err), DF_OK);
        assert_int_equal(df_tflite_graph_run(c->sims, c->x, 1, sims, &err), DF_OK);
        const df_unknown_detector *u = c->clf->model->unknown;
        double score = score_from_similarities(sims, c->n_sims, u->k);
        double d = fabs(score - (double)pr.unknown_score);
        if (d > c->worst_unknown) c->worst_unknown = d;
        c->same_unknown += (score > (double)u->threshold) == pr.unknown;
        c->unknown += pr.unknown;
        free(sims);
    }
    free(img.pixels);
}

/* predict (the public API) against our executor running the exported file,
 * on the closet validation photos (probabilities, class, unknown) and the
 * ImageNet check photos (unknown), resized to 224x224 once for both. */
static void compare_on_closet(const char *shared, const char *model_path, const char *tfl_path,
                              df_precision precision, const char *what) {
    char val[1024];
    snprintf(val, sizeof val, "%s/datasets/closet/validation", shared);
    df_error err;
    closet_cmp c;
    memset(&c, 0, sizeof c);
    df_classifier_options co = {NULL, precision, 1, NULL, NULL, 0};
    df_status st = df_classifier_open(model_path, &co, &c.clf, &err);
    if (st) fail_msg("%s", err.message);
    df_backbone_options o = fp32_options();
    o.precision = precision;
    st = df_tflite_classifier_open(tfl_path, &o, &c.tc, &err);
    if (st) fail_msg("%s", err.message);
    assert_int_equal(df_tflite_classifier_precision(c.tc), precision); /* no silent fallback */
    df_tflite_model *m;
    assert_int_equal(df_tflite_load(tfl_path, &m, &err), DF_OK);
    assert_int_equal(m->n_outputs, c.clf->model->unknown ? 2 : 1);
    if (c.clf->model->unknown) {
        st = df_tflite_graph_create(m, m->outputs[1], &o, &c.sims, &err);
        if (st) fail_msg("%s", err.message);
        c.n_sims = (int)df_tflite_graph_output_size(c.sims);
        assert_int_equal(c.n_sims, c.clf->model->unknown->n);
    }
    df_dataset *ds;
    assert_int_equal(df_dataset_scan(val, NULL, &ds, &err), DF_OK);
    c.C = df_classifier_num_classes(c.clf);
    assert_int_equal(df_tflite_classifier_classes(c.tc), (size_t)c.C);
    c.x = malloc(224 * 224 * 3 * sizeof *c.x);
    assert_non_null(c.x);
    for (int i = 0; i < ds->count; i++) compare_photo(&c, ds->items[i].path);
    print_message("closet validation, %d photos, %s: same class on %d; max |exported - predict| "
                  "= %.3g (our executor)\n", ds->count, what, c.same, c.worst);
    assert_int_equal(ds->count, 21);
    assert_int_equal(c.same, ds->count);
    assert_true(c.worst <= 0.02);
    static const char *const imagenet[] = {"parrot.jpg", "cat.bmp", "owl.jpg", "hot_dog.jpg"};
    int n_u = ds->count;
    for (size_t i = 0; c.sims && i < sizeof imagenet / sizeof imagenet[0]; i++, n_u++) {
        char path[1100];
        snprintf(path, sizeof path, "%s/images/imagenet/%s", shared, imagenet[i]);
        compare_photo(&c, path);
    }
    if (c.sims) {
        print_message("  unknown: %d closet + 4 ImageNet photos, same answer on %d (%d unknown); "
                      "max |exported score - predict's| = %.3g\n", ds->count, c.same_unknown,
                      c.unknown, c.worst_unknown);
        assert_int_equal(c.same_unknown, n_u);
        assert_true(c.worst_unknown <= 1e-4);
        assert_true(c.unknown >= 1); /* the ImageNet photos are off-topic */
    }
    free(c.x);
    df_dataset_free(ds);
    df_tflite_graph_destroy(c.sims);
    df_tflite_destroy(m);
    df_tflite_classifier_destroy(c.tc);
    df_classifier_destroy(c.clf);
}

static void test_closet_own_executor(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    char *tmp = df_test_tempdir(), cmd[8192], out[8192];
    snprintf(cmd, sizeof cmd,
             "\"%s\" train --data \"%s/datasets/closet\" --backbone tflite --weights "
             "\"%s/models/mobilenet_v2_1.0_224_quant.tflite\" --precision fp32 --epochs 5 "
             "--feature-cache 1 --out \"%s/m.dfm\" --quiet >/dev/null && "
             "\"%s\" export --model \"%s/m.dfm\" --out \"%s/closet.tflite\" && "
             "\"%s\" export --model \"%s/m.dfm\" --out \"%s/closet-float.tflite\" --float-backbone && "
             "\"%s\" train --data \"%s/datasets/closet\" --backbone tflite --weights "
             "\"%s/models/mobilenet_v2_1.0_224_quant.tflite\" --precision int8 --epochs 5 "
             "--feature-cache 1 --out \"%s/m8.dfm\" --quiet >/dev/null && "
             "\"%s\" export --model \"%s/m8.dfm\" --out \"%s/closet8.tflite\"",
             df_test_cli(), shared, shared, tmp, df_test_cli(), tmp, tmp, df_test_cli(), tmp, tmp,
             df_test_cli(), shared, shared, tmp, df_test_cli(), tmp, tmp);
    int rc = df_test_run(cmd, out, sizeof out);
    if (rc) print_message("%s\n", out);
    assert_int_equal(rc, 0);
    char model_path[1024], tfl_path[1024];
    snprintf(model_path, sizeof model_path, "%s/m.dfm", tmp);
    snprintf(tfl_path, sizeof tfl_path, "%s/closet.tflite", tmp);
    compare_on_closet(shared, model_path, tfl_path, DF_PRECISION_FP32,
                      "fp32 model, backbone as in its file, fp32 executor");
    snprintf(tfl_path, sizeof tfl_path, "%s/closet-float.tflite", tmp);
    compare_on_closet(shared, model_path, tfl_path, DF_PRECISION_FP32,
                      "fp32 model, --float-backbone, fp32 executor");
    /* An int8 model exported by default (as in its file), run by our
     * executor in integers (oneDNN where its int8 sums are exact, else
     * XNNPACK), as predict runs the model. */
    snprintf(model_path, sizeof model_path, "%s/m8.dfm", tmp);
    snprintf(tfl_path, sizeof tfl_path, "%s/closet8.tflite", tmp);
    compare_on_closet(shared, model_path, tfl_path, DF_PRECISION_INT8,
                      "int8 model, default export (as in its file), int8 executor");
    df_test_rmtree(tmp);
    free(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_fold_quantized_mlp),
        cmocka_unit_test(test_fold_float_mlp),
        cmocka_unit_test(test_fold_quantized_linear),
        cmocka_unit_test(test_fold_dequantized_backbone),
        cmocka_unit_test(test_metadata_round_trip),
        cmocka_unit_test(test_unknown_output),
        cmocka_unit_test(test_regions_export),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_mutated_backbones),
        cmocka_unit_test(test_mutated_model_files),
        cmocka_unit_test(test_vgg16_export),
        cmocka_unit_test(test_closet_own_executor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
