/*
 * Training end to end through the library API.
 *
 * Fixture tests (always run): a tiny float TFLite backbone built by the test
 * (conv 3x3/2 + ReLU -> global mean: 8 features of a 32x32 input) and a
 * fixture set of generated PNG photos in three colour classes. They check
 * that the loss falls, that a rerun with the same seed gives a bit-identical
 * history, that an interrupted run resumed from its checkpoint ends with the
 * same history as an uninterrupted one, and that a saved model predicts
 * exactly what the trained head did.
 *
 * Closet test (needs ../shared): the real MobileNetV2 on the closet photos
 * reaches >= 90% validation accuracy in a short run, and an EXIF-rotated,
 * enlarged copy of a validation photo gets the same class as the upright one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <omp.h>

#include "api/classifier.h"
#include "core/fileio.h"
#include "eval/unknown.h"
#include "formats/tflite.h"
#include "optim/softmax_exact.h"
#include "support/jpeg_writer.h"
#include "support/test_support.h"
#include "support/tflite_builder.h"
#include "train/model_select.h"
#include "train/recipe.h"
#include "train/train.h"
#include "train/trust.h"

/* ---- fixtures ---- */

/* conv 3x3 stride 2 (3 -> 8, ReLU) then MEAN over H, W: 8 features. */
static char *write_tiny_backbone(const char *dir) {
    static float w[8 * 3 * 3 * 3], b[8];
    for (int o = 0; o < 8; o++) {
        b[o] = 0.05f * (float)(o - 4);
        for (int k = 0; k < 9; k++)
            for (int i = 0; i < 3; i++)
                /* Channel o responds to colour channel o % 3, with a sign
                 * pattern so the features differ between classes. */
                w[((o * 3 + k / 3) * 3 + k % 3) * 3 + i] =
                    (i == o % 3 ? 0.2f : -0.05f) * (o < 3 ? 1.0f : (o < 6 ? -0.5f : 0.3f));
    }
    static const int32_t axes[2] = {1, 2};
    df_tfb_tensor t[6];
    memset(t, 0, sizeof t);
    t[0] = (df_tfb_tensor){
        .name = "input", .type = DF_TFLITE_FLOAT32, .rank = 4, .shape = {1, 32, 32, 3}};
    t[1] = (df_tfb_tensor){.name = "w",
                           .type = DF_TFLITE_FLOAT32,
                           .rank = 4,
                           .shape = {8, 3, 3, 3},
                           .data = w,
                           .data_size = sizeof w};
    t[2] = (df_tfb_tensor){.name = "b",
                           .type = DF_TFLITE_FLOAT32,
                           .rank = 1,
                           .shape = {8},
                           .data = b,
                           .data_size = sizeof b};
    t[3] = (df_tfb_tensor){
        .name = "conv", .type = DF_TFLITE_FLOAT32, .rank = 4, .shape = {1, 16, 16, 8}};
    t[4] = (df_tfb_tensor){.name = "axes",
                           .type = DF_TFLITE_INT32,
                           .rank = 1,
                           .shape = {2},
                           .data = axes,
                           .data_size = sizeof axes};
    t[5] = (df_tfb_tensor){
        .name = "pooled", .type = DF_TFLITE_FLOAT32, .rank = 4, .shape = {1, 1, 1, 8}};
    df_tfb_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0] = (df_tfb_op){.builtin = DF_TFLITE_OP_CONV_2D,
                         .n_inputs = 3,
                         .n_outputs = 1,
                         .inputs = {0, 1, 2},
                         .outputs = {3},
                         .options_type = DF_TFLITE_OPTIONS_CONV2D,
                         .padding = DF_TFLITE_PAD_SAME,
                         .stride_w = 2,
                         .stride_h = 2,
                         .dilation_w = 1,
                         .dilation_h = 1,
                         .activation = DF_TFLITE_ACT_RELU};
    ops[1] = (df_tfb_op){.builtin = DF_TFLITE_OP_MEAN,
                         .n_inputs = 2,
                         .n_outputs = 1,
                         .inputs = {3, 4},
                         .outputs = {5},
                         .options_type = DF_TFLITE_OPTIONS_REDUCER,
                         .keep_dims = 1};
    const int32_t in[1] = {0}, out[1] = {5};
    size_t size;
    uint8_t *bytes = df_tfb_model(t, 6, ops, 2, in, 1, out, 1, 0, &size);
    char *path = df_path_join(dir, "tiny.tflite");
    assert_int_equal(df_test_write_file(path, bytes, size), 0);
    free(bytes);
    return path;
}

/* Class c is a noisy photo dominated by colour channel c, 48x40 pixels. */
static void write_photo(const char *path, int c, int k) {
    df_image img;
    df_error err;
    assert_int_equal(df_image_alloc(&img, 48, 40, &err), DF_OK);
    df_rng rng;
    df_rng_seed(&rng, (uint64_t)(c * 1000 + k), 77);
    for (int i = 0; i < 48 * 40; i++)
        for (int ch = 0; ch < 3; ch++) {
            float base = ch == c ? 170.0f : 60.0f;
            float v = base + 60.0f * (df_rng_uniform(&rng) - 0.5f);
            img.pixels[i * 3 + ch] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    assert_int_equal(df_image_write_png(&img, path, &err), DF_OK);
    df_image_free(&img);
}

typedef struct fixture {
    char *dir;
    char *backbone_path;
    df_backbone *bb;
    df_dataset *train, *val;
} fixture;

static int fixture_setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = df_test_tempdir();
    f->backbone_path = write_tiny_backbone(f->dir);
    static const char *cls[3] = {"blue", "green", "red"}; /* sorted; label = colour index below */
    static const int colour[3] = {2, 1, 0};
    char path[1024];
    for (int split = 0; split < 2; split++)
        for (int c = 0; c < 3; c++) {
            snprintf(path, sizeof path, "%s/%s/%s", f->dir, split ? "val" : "train", cls[c]);
            df_error err;
            assert_int_equal(df_mkdir_p(path, &err), DF_OK);
            for (int k = 0; k < (split ? 3 : 9); k++) {
                snprintf(path, sizeof path, "%s/%s/%s/p%02d.png", f->dir, split ? "val" : "train",
                         cls[c], k);
                write_photo(path, colour[c], k + 100 * split);
            }
        }
    df_error err;
    df_backbone_options bo = df_backbone_options_default();
    bo.precision = DF_PRECISION_FP32;
    df_status st = df_backbone_open("tflite", f->backbone_path, &bo, &f->bb, &err);
    if (st)
        print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    assert_int_equal(df_backbone_feature_dim(f->bb), 8);
    df_scan_options so = df_scan_options_default();
    snprintf(path, sizeof path, "%s/train", f->dir);
    assert_int_equal(df_dataset_scan(path, &so, &f->train, &err), DF_OK);
    snprintf(path, sizeof path, "%s/val", f->dir);
    assert_int_equal(df_dataset_scan(path, &so, &f->val, &err), DF_OK);
    assert_int_equal(f->train->count, 27);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state) {
    fixture *f = *state;
    df_backbone_destroy(f->bb);
    df_dataset_free(f->train);
    df_dataset_free(f->val);
    df_test_rmtree(f->dir);
    free(f->dir);
    free(f->backbone_path);
    free(f);
    return 0;
}

static df_train_options small_options(df_head_kind kind) {
    df_train_options o = df_train_options_default();
    o.head.kind = kind;
    o.head.units = 16;
    o.head.l2 = 0.0f; /* these runs (and the pinned trajectories) predate the default's L2 */
    o.exact_fit = 0;  /* and train by Adam: epochs, resumes, early stopping */
    o.adam.lr = kind == DF_HEAD_MLP ? 1e-2f : 5e-2f;
    o.epochs = 6;
    o.batch_size = 8;
    o.feature_cache = 0; /* live augmentation: the prefetch path */
    o.seed = 5;
    return o;
}

static void run(fixture *f, const df_train_options *o, df_train_result *res) {
    df_error err;
    df_status st = df_train(f->bb, f->train, f->val, o, res, &err);
    if (st)
        print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
}

static void assert_same_history(const df_history *a, const df_history *b) {
    assert_int_equal(a->epochs, b->epochs);
    for (int e = 0; e < a->epochs; e++) {
        /* Bit-identical: the same seed must give the same numbers. */
        assert_memory_equal(&a->train_loss[e], &b->train_loss[e], sizeof(float));
        assert_memory_equal(&a->train_acc[e], &b->train_acc[e], sizeof(float));
        assert_memory_equal(&a->val_loss[e], &b->val_loss[e], sizeof(float));
        assert_memory_equal(&a->val_acc[e], &b->val_acc[e], sizeof(float));
    }
}

static void test_loss_falls_and_rerun_is_identical(void **state) {
    fixture *f = *state;
    df_head_kind kinds[2] = {DF_HEAD_LINEAR, DF_HEAD_MLP};
    for (int k = 0; k < 2; k++) {
        df_train_options o = small_options(kinds[k]);
        df_train_result a, b;
        run(f, &o, &a);
        run(f, &o, &b);
        assert_int_equal(a.history.epochs, 6);
        print_message("%s: loss %.4f -> %.4f, val_acc %.3f\n", df_head_kind_name(kinds[k]),
                      (double)a.history.train_loss[0], (double)a.history.train_loss[5],
                      (double)a.history.val_acc[5]);
        assert_true(a.history.train_loss[5] < 0.7f * a.history.train_loss[0]);
        assert_true(a.history.val_acc[5] >= 0.99f);
        assert_same_history(&a.history, &b.history);
        /* 6 epochs x 27 photos, plus the validation set once. */
        assert_int_equal(a.backbone_images, 6 * 27 + 9 + (kinds[k] == DF_HEAD_LINEAR ? 27 : 0));
        df_train_result_free(&a);
        df_train_result_free(&b);
    }
}

static void test_feature_cache_and_steps(void **state) {
    fixture *f = *state;
    df_train_options o = small_options(DF_HEAD_LINEAR);
    o.feature_cache = 3;
    o.steps_per_epoch = 2; /* like the original's n // 30 */
    df_train_result a;
    run(f, &o, &a);
    /* K = 3 variants of 27 photos once, plus validation; no passes per epoch. */
    assert_int_equal(a.backbone_images, 3 * 27 + 9);
    assert_true(a.history.train_loss[5] < a.history.train_loss[0]);
    df_train_result_free(&a);
}

typedef struct stopper {
    volatile sig_atomic_t flag;
    int stop_after_epoch; /* stop once this epoch ends... */
    int stop_in_epoch;    /* ...or after the first batch of this one */
} stopper;

static void stop_on_batch(void *ctx, int epoch, int batch, int batches) {
    (void)batches;
    stopper *st = ctx;
    if (epoch == st->stop_in_epoch && batch == 1)
        st->flag = 1;
}

static void stop_on_epoch(void *ctx, const df_epoch_stats *s) {
    stopper *st = ctx;
    if (s->epoch == st->stop_after_epoch)
        st->flag = 1;
}

/* Interrupted after the first batch of epoch 3 (mid-epoch), resumed: the
 * same history and weights as a run never interrupted; with live
 * augmentation and with the feature cache. */
/* --solver exact: one pass whose head is the optimum of the penalised
 * objective over every cached variant (the gradient of the plain
 * reference objective vanishes there), one history entry; the same head
 * the fold fit gives on all the photos; refused where it does not apply. */
static void test_exact_fit_is_the_optimum(void **state) {
    fixture *f = *state;
    df_error err;
    df_train_options o = df_train_options_default();
    o.feature_cache = 2;
    o.seed = 3;
    assert_true(o.exact_fit);
    df_train_result r;
    run(f, &o, &r);
    /* how it ended: 8 features, more rows: the primal, to 1e-4 */
    assert_true(r.exact.primal);
    assert_true(r.exact.tol == 1e-4);
    assert_true(r.exact.converged);
    assert_true(r.exact.iterations > 0 && r.exact.grad_max <= r.exact.tol);
    assert_int_equal(r.history.epochs, 1);
    assert_int_equal(r.epochs_run, 1);
    assert_true(r.history.val_acc[0] >= 0.99f);
    float *var = NULL, *clean = NULL;
    assert_int_equal(df_train_feature_variants(f->bb, f->train, &o, 2, &var, &clean, &err), DF_OK);
    const int N = f->train->count, C = f->train->num_classes, F = (int)df_backbone_feature_dim(f->bb);
    float *z = malloc(sizeof(float) * 2 * (size_t)N * F);
    int *y = malloc(sizeof(int) * 2 * (size_t)N);
    double *gW = malloc(sizeof(double) * (size_t)F * C), gb[8];
    assert_true(z && y && gW);
    df_head *head = r.model->head;
    df_head_standardise(head, var, 2 * (size_t)N, z);
    for (int k = 0; k < 2 * N; k++) y[k] = f->train->items[k % N].label;
    df_head_tensor t[DF_HEAD_MAX_TENSORS];
    const int nt = df_head_tensors(head, t);
    const float *W = NULL, *b = NULL;
    for (int k = 0; k < nt; k++) {
        if (!strcmp(t[k].weight, "dense/kernel:0")) W = t[k].data;
        if (!strcmp(t[k].weight, "dense/bias:0")) b = t[k].data;
    }
    assert_true(W && b);
    const double J = df_softmax_objective(z, y, 2 * N, F, C, o.head.l2, W, b, gW, gb);
    double g = 0.0;
    for (int k = 0; k < F * C; k++) g = fmax(g, fabs(gW[k]));
    for (int c = 0; c < C; c++) g = fmax(g, fabs(gb[c]));
    print_message("exact fit: objective %.6f, largest gradient entry %.2g\n", J, g);
    /* 8 features, more rows than that: the primal, fitted to a largest
     * gradient entry of 1e-4, plus the float weights' rounding */
    assert_true(g < 1.5e-4);
    /* the fold fit on every photo (calibration, --head auto) gives it too */
    df_head_candidate cand = df_head_candidate_from_options(&o);
    assert_true(cand.exact);
    const df_cached_stream st0 = {DF_TRAIN_STREAM_VARIANT, 0, 1};
    int *labels = malloc(sizeof(int) * (size_t)N);
    assert_non_null(labels);
    for (int i = 0; i < N; i++) labels[i] = f->train->items[i].label;
    df_head *h2 = NULL;
    assert_int_equal(df_fit_head_cached(var, 2, labels, N, (size_t)F, NULL, 0, C, &cand, &o, &st0, &h2, &err), DF_OK);
    assert_memory_equal(df_head_params(h2), df_head_params(head), df_head_num_params(head) * sizeof(float));
    df_head_destroy(h2);
    free(labels);
    /* where it does not apply: one line naming why and --solver adam */
    df_train_result bad;
    const struct {
        const char *why;
        int cache, mlp, early, weights;
    } cases[] = {{"linear head", 2, 1, 0, 0},
                 {"--feature-cache", 0, 0, 0, 0},
                 {"stop early", 2, 0, 3, 0},
                 {"class weights", 2, 0, 0, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        df_train_options ob = o;
        ob.feature_cache = cases[k].cache;
        ob.head.kind = cases[k].mlp ? DF_HEAD_MLP : DF_HEAD_LINEAR;
        ob.early_stop_patience = cases[k].early;
        ob.class_weight_balanced = cases[k].weights;
        assert_int_equal(df_train(f->bb, f->train, f->val, &ob, &bad, &err), DF_ERR_INVALID_ARG);
        assert_non_null(strstr(err.message, cases[k].why));
        assert_non_null(strstr(err.message, "--solver adam"));
    }
    df_train_options ol = o;
    ol.head.l2 = 0.0f;
    assert_int_equal(df_train(f->bb, f->train, f->val, &ol, &bad, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "L2 penalty > 0"));
    free(z);
    free(y);
    free(gW);
    free(var);
    free(clean);
    df_train_result_free(&r);
}

static void test_interrupt_and_resume_match_uninterrupted(void **state) {
    fixture *f = *state;
    for (int cache = 0; cache <= 3; cache += 3) {
        df_train_options o = small_options(DF_HEAD_MLP);
        o.feature_cache = cache;
        df_train_result full;
        run(f, &o, &full);

        char *ckpt = df_path_join(f->dir, "run.ckpt");
        /* Mid-epoch: after batch 1 of epoch 3; then between epochs 4 and 5. */
        for (int between = 0; between <= 1; between++) {
            stopper sp = {
                .flag = 0, .stop_after_epoch = between ? 4 : 0, .stop_in_epoch = between ? 0 : 3};
            df_train_options oi = o;
            oi.checkpoint_path = ckpt;
            oi.stop_flag = &sp.flag;
            oi.on_epoch = stop_on_epoch;
            oi.on_batch = stop_on_batch;
            oi.ctx = &sp;
            df_train_result part;
            df_error err;
            assert_int_equal(df_train(f->bb, f->train, f->val, &oi, &part, &err),
                             DF_ERR_INTERRUPTED);
            assert_non_null(
                strstr(err.message,
                       between ? "interrupted after epoch 4; checkpoint saved"
                               : "interrupted in epoch 3 after batch 1 of 4; checkpoint saved"));
            assert_true(df_file_is_regular(ckpt));
            df_train_result_free(&part);

            df_train_options orr = o;
            orr.resume_path = ckpt;
            df_train_result resumed;
            run(f, &orr, &resumed);
            assert_same_history(&full.history, &resumed.history);
            /* The weights end up identical too. */
            size_t P = df_head_num_params(full.model->head);
            assert_memory_equal(df_head_params(full.model->head),
                                df_head_params(resumed.model->head), P * sizeof(float));
            df_train_result_free(&resumed);
        }
        df_train_result_free(&full);
        free(ckpt);
    }
}

/* Early stopping, interrupted after its best epoch and resumed: the run
 * restores the same best weights as the uninterrupted one (the best-so-far
 * weights travel in the checkpoint; a resumed run used to take them from
 * the weights it resumed with). */
static void test_early_stop_resume_restores_best(void **state) {
    fixture *f = *state;
    df_train_options o = small_options(DF_HEAD_MLP);
    o.adam.lr = 0.3f; /* noisy enough that val_loss turns up and stopping triggers */
    o.epochs = 40;
    o.early_stop_patience = 3;
    o.feature_cache = 3;
    df_train_result full;
    run(f, &o, &full);
    print_message("best epoch %d of %d run\n", full.best_epoch, full.epochs_run);
    assert_true(full.epochs_run < o.epochs); /* stopping triggered */
    assert_true(full.epochs_run > full.best_epoch + 1);

    char *ckpt = df_path_join(f->dir, "es.ckpt");
    stopper sp = {.flag = 0, .stop_after_epoch = full.best_epoch + 1, .stop_in_epoch = 0};
    df_train_options oi = o;
    oi.checkpoint_path = ckpt;
    oi.stop_flag = &sp.flag;
    oi.on_epoch = stop_on_epoch;
    oi.ctx = &sp;
    df_train_result part;
    df_error err;
    assert_int_equal(df_train(f->bb, f->train, f->val, &oi, &part, &err), DF_ERR_INTERRUPTED);
    df_train_result_free(&part);
    df_train_options orr = o;
    orr.resume_path = ckpt;
    df_train_result resumed;
    run(f, &orr, &resumed);
    assert_int_equal(resumed.best_epoch, full.best_epoch);
    assert_int_equal(full.kept_epoch, full.best_epoch); /* early stopping restored the best */
    assert_int_equal(resumed.kept_epoch, full.best_epoch);
    assert_int_equal(resumed.epochs_run, full.epochs_run);
    assert_same_history(&full.history, &resumed.history);
    size_t P = df_head_num_params(full.model->head);
    assert_memory_equal(df_head_params(full.model->head), df_head_params(resumed.model->head), P * sizeof(float));
    int U = df_head_get_config(full.model->head)->units;
    assert_memory_equal(df_head_bn_moving_mean(full.model->head), df_head_bn_moving_mean(resumed.model->head),
                        (size_t)U * sizeof(float));
    df_train_result_free(&resumed);
    df_train_result_free(&full);
    free(ckpt);
}

/* The library alone, no command-line code: options from a recipe, train,
 * save, load with the public API, predict; the model embeds its backbone,
 * so it still predicts the same after the backbone file is deleted. */
static void test_library_only_model_is_the_whole_classifier(void **state) {
    fixture *f = *state;
    char *sub = df_path_join(f->dir, "lib"), *model_path = df_path_join(f->dir, "lib.dfm");
    df_error err;
    assert_int_equal(df_mkdir_p(sub, &err), DF_OK);
    char *bb_path = write_tiny_backbone(sub);
    df_backbone_options bo = df_backbone_options_default();
    bo.precision = DF_PRECISION_FP32;
    df_backbone *bb;
    assert_int_equal(df_backbone_open("tflite", bb_path, &bo, &bb, &err), DF_OK);
    df_recipe rc;
    assert_int_equal(df_recipe_start("default", f->train->count, "tflite", &rc, &err), DF_OK);
    assert_int_equal(df_recipe_set(&rc, "pooling", "mean", &err), DF_OK); /* as the backbone above was opened */
    assert_int_equal(df_recipe_set(&rc, "epochs", "20", &err), DF_OK);
    assert_int_equal(df_recipe_set(&rc, "units", "16", &err), DF_OK);
    assert_int_equal(df_recipe_set(&rc, "lr", "0.01", &err), DF_OK);
    assert_int_equal(df_recipe_set(&rc, "lr", "ten", &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "--lr 'ten'"));
    assert_int_equal(df_recipe_finish(&rc, &err), DF_OK);
    df_train_result r;
    assert_int_equal(df_train(bb, f->train, f->val, &rc.train, &r, &err), DF_OK);
    assert_int_equal(df_model_save(r.model, model_path, &err), DF_OK);
    df_backbone_destroy(bb);

    const char *photo = f->val->items[0].path;
    float before[3], after[3];
    df_classifier *clf;
    for (int pass = 0; pass < 2; pass++) {
        df_status st = df_classifier_load(model_path, NULL, &clf, &err);
        if (st) print_message("%s\n", err.message);
        assert_int_equal(st, DF_OK);
        assert_string_equal(df_classifier_class_name(clf, 0), "blue");
        assert_int_equal(df_classifier_predict_file(clf, photo, pass ? after : before, &err), DF_OK);
        df_classifier_destroy(clf);
        if (pass == 0) assert_int_equal(unlink(bb_path), 0); /* the backbone file is gone */
    }
    assert_memory_equal(before, after, sizeof before);
    assert_true(before[0] > before[1] && before[0] > before[2]); /* a blue validation photo */
    /* By reference, the same model needs its file. */
    rc.train.backbone_by_reference = 1;
    assert_int_equal(df_train_describe_backbone(r.model, f->bb, DF_RESIZE_BILINEAR, 0, &err), DF_OK);
    assert_null(r.model->meta.backbone_file);
    assert_int_equal(df_model_save(r.model, model_path, &err), DF_OK);
    assert_int_equal(df_classifier_load(model_path, NULL, &clf, &err), DF_OK);
    df_classifier_destroy(clf);
    df_train_result_free(&r);
    free(bb_path);
    free(sub);
    free(model_path);
}

/* A pinned loss trajectory (llm.c style): the first epochs of a short
 * seeded fp32 run on the fixture, so that an
 * unintended numerical change anywhere from the photo to Adam fails here.
 * Values from this code on 2026-12-01 (Intel, AVX-512). Within 1e-3 of
 * each: the MLP's fourth epoch came out 1.4e-4 apart on an AMD EPYC (Zen 5,
 * OpenBLAS's and oneDNN's kernels for it summing in another order, which
 * BatchNorm and dropout carry from epoch to epoch); a changed computation
 * moves these by far more. */
static void test_pinned_loss_trajectory(void **state) {
    fixture *f = *state;
    static const struct {
        df_head_kind kind;
        int cache;
        double loss[4];
    } pins[] = {
        {DF_HEAD_MLP, 0, {1.98555, 1.03804, 0.38641, 0.214049}},
        {DF_HEAD_LINEAR, 3, {1.18891, 0.29302, 0.0679782, 0.0208624}},
    };
    for (size_t k = 0; k < sizeof pins / sizeof pins[0]; k++) {
        df_train_options o = small_options(pins[k].kind);
        o.epochs = 4;
        o.feature_cache = pins[k].cache;
        df_train_result r;
        run(f, &o, &r);
        print_message("%s: %.6g %.6g %.6g %.6g\n", df_head_kind_name(pins[k].kind), (double)r.history.train_loss[0],
                      (double)r.history.train_loss[1], (double)r.history.train_loss[2], (double)r.history.train_loss[3]);
        for (int e = 0; e < 4; e++)
            assert_float_equal(r.history.train_loss[e], pins[k].loss[e], 1e-3 * pins[k].loss[e]);
        df_train_result_free(&r);
    }
}

static void test_saved_model_predicts_like_trained_head(void **state) {
    fixture *f = *state;
    df_train_options o = small_options(DF_HEAD_MLP);
    df_train_result r;
    run(f, &o, &r);
    char *model_path = df_path_join(f->dir, "m.dfm");
    char json[2048];
    snprintf(json, sizeof json, "{\"backbone_weights\":\"%s\",\"precision\":\"fp32\"}",
             f->backbone_path);
    df_error err;
    assert_int_equal(df_model_set_training_json(r.model, json, &err), DF_OK);
    assert_int_equal(df_model_save(r.model, model_path, &err), DF_OK);

    df_classifier *clf;
    df_status st = df_classifier_load(model_path, NULL, &clf, &err);
    if (st)
        print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    assert_int_equal(df_classifier_num_classes(clf), 3);
    float *feats;
    assert_int_equal(
        df_photo_features(f->bb, f->val, df_backbone_resize_method(f->bb), NULL, &feats, &err), DF_OK);
    float direct[9 * 3], loaded[3];
    assert_int_equal(df_head_predict(r.model->head, feats, 9, direct, &err), DF_OK);
    for (int i = 0; i < 9; i++) {
        assert_int_equal(df_classifier_predict_file(clf, f->val->items[i].path, loaded, &err),
                         DF_OK);
        for (int c = 0; c < 3; c++)
            assert_float_equal(loaded[c], direct[i * 3 + c], 1e-6);
    }
    free(feats);
    df_classifier_destroy(clf);
    df_train_result_free(&r);
    free(model_path);
}

/* ---- the real closet data ---- */

static void test_closet_short_run_and_phone_photo(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    char weights[1024], train_dir[1024], val_dir[1024];
    snprintf(weights, sizeof weights, "%s/models/mobilenet_v2_1.0_224_quant.tflite", shared);
    snprintf(train_dir, sizeof train_dir, "%s/datasets/closet/train", shared);
    snprintf(val_dir, sizeof val_dir, "%s/datasets/closet/validation", shared);
    df_error err;
    df_backbone_options bo = df_backbone_options_default();
    bo.precision = DF_PRECISION_FP32;
    df_backbone *bb;
    assert_int_equal(df_backbone_open("tflite", weights, &bo, &bb, &err), DF_OK);
    df_scan_options so = df_scan_options_default();
    df_dataset *train, *val;
    assert_int_equal(df_dataset_scan(train_dir, &so, &train, &err), DF_OK);
    assert_int_equal(df_dataset_scan(val_dir, &so, &val, &err), DF_OK);
    df_train_options o = df_train_options_default();
    o.feature_cache = 2; /* the default's epochs, half its variants */
    df_train_result r;
    df_status st = df_train(bb, train, val, &o, &r, &err);
    if (st)
        print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    float acc = r.history.val_acc[r.history.epochs - 1];
    print_message("closet: validation accuracy %.3f after %d epochs\n", (double)acc,
                  r.history.epochs);
    assert_true(acc >= 0.90f);

    /* Save, reload through the public API, and predict a phone-style photo:
     * the upright validation photo enlarged 3x, stored sideways with EXIF 6. */
    char *dir = df_test_tempdir();
    char *model_path = df_path_join(dir, "closet.dfm");
    char json[2048];
    snprintf(json, sizeof json, "{\"backbone_weights\":\"%s\",\"precision\":\"fp32\"}", weights);
    assert_int_equal(df_model_set_training_json(r.model, json, &err), DF_OK);
    assert_int_equal(df_model_save(r.model, model_path, &err), DF_OK);
    df_classifier *clf;
    assert_int_equal(df_classifier_load(model_path, NULL, &clf, &err), DF_OK);
    const char *photo = val->items[val->count - 1].path; /* a top */
    df_image_load_options lo = df_image_load_options_default();
    df_image up, big;
    assert_int_equal(df_image_load(photo, &lo, &up, &err), DF_OK);
    assert_int_equal(
        df_image_resize(&up, up.width * 3, up.height * 3, DF_RESIZE_BILINEAR, &big, &err), DF_OK);
    char *rotated = df_path_join(dir, "IMG_0001.jpg");
    assert_int_equal(df_test_write_jpeg(rotated, &big, 92, 6), 0);

    /* The pipeline sees the same upright picture (JPEG noise aside)... */
    df_image a, b;
    assert_int_equal(df_photo_load(clf->backbone, photo, clf->resize, &a, &err), DF_OK);
    assert_int_equal(df_photo_load(clf->backbone, rotated, clf->resize, &b, &err), DF_OK);
    double diff = 0;
    for (size_t i = 0; i < (size_t)a.width * a.height * 3; i++)
        diff += fabs((double)a.pixels[i] - b.pixels[i]);
    diff /= (double)a.width * a.height * 3;
    print_message("mean abs difference upright vs EXIF-rotated 3x copy: %.2f grey levels\n", diff);
    assert_true(diff < 6.0);
    /* ...and the same class. */
    float pa[3], pb[3];
    assert_int_equal(df_classifier_predict_file(clf, photo, pa, &err), DF_OK);
    assert_int_equal(df_classifier_predict_file(clf, rotated, pb, &err), DF_OK);
    int ca = pa[1] > pa[0] ? 1 : 0, cb = pb[1] > pb[0] ? 1 : 0;
    if (pa[2] > pa[ca])
        ca = 2;
    if (pb[2] > pb[cb])
        cb = 2;
    assert_int_equal(ca, cb);
    assert_string_equal(df_classifier_class_name(clf, ca), "tops");

    df_image_free(&a);
    df_image_free(&b);
    df_image_free(&up);
    df_image_free(&big);
    df_classifier_destroy(clf);
    df_train_result_free(&r);
    df_dataset_free(train);
    df_dataset_free(val);
    df_backbone_destroy(bb);
    df_test_rmtree(dir);
    free(dir);
    free(model_path);
    free(rotated);
}

/* The search's features are training's: plain ones equal df_train_features,
 * variant k of photo i is photo i augmented with stream key
 * DF_TRAIN_VARIANT_KEY(k) (recomputed here one photo at a time). */
static void test_feature_variants_are_trainings(void **state) {
    fixture *f = *state;
    df_error err;
    df_train_options o = small_options(DF_HEAD_LINEAR);
    const int N = f->train->count, K = 2;
    const size_t F = df_backbone_feature_dim(f->bb);
    float *variants, *clean, *plain;
    assert_int_equal(df_train_feature_variants(f->bb, f->train, &o, K, &variants, &clean, &err), DF_OK);
    assert_int_equal(df_photo_features(f->bb, f->train, df_backbone_resize_method(f->bb), NULL, &plain, &err), DF_OK);
    assert_memory_equal(clean, plain, (size_t)N * F * sizeof(float));
    int h, w;
    df_backbone_input_size(f->bb, &h, &w);
    float *x = malloc((size_t)h * w * 3 * sizeof *x), feat[64];
    assert_true(F <= 64);
    for (int k = 0; k < K; k++)
        for (int i = 0; i < N; i += 5) {
            df_image img, aug = {0};
            assert_int_equal(df_photo_load(f->bb, f->train->items[i].path, df_backbone_resize_method(f->bb),
                                                 &img, &err),
                             DF_OK);
            df_rng rng;
            df_augment_params ap;
            df_rng_seed_for(&rng, o.seed, DF_STREAM_AUGMENT, (uint64_t)i, DF_TRAIN_VARIANT_KEY(k));
            df_augment_sample(&o.augment_config, img.height, img.width, &rng, &ap);
            assert_int_equal(df_augment_apply(&img, &ap, &aug, &err), DF_OK);
            assert_int_equal(df_backbone_preprocess(f->bb, &aug, x, &err), DF_OK);
            assert_int_equal(df_backbone_run(f->bb, x, 1, feat, &err), DF_OK);
            const float *got = variants + ((size_t)k * N + (size_t)i) * F;
            for (size_t d = 0; d < F; d++) assert_float_equal(got[d], feat[d], 1e-5f * (1 + fabsf(feat[d])));
            df_image_free(&img);
            df_image_free(&aug);
        }
    free(x);
    free(variants);
    free(clean);
    free(plain);
}

/* Batches prepared by a prefetch thread (the backbone's threads leave a
 * core free) and by the backbone's own team between its calls (they take
 * every core) are the same inputs; a damaged photo in the middle of a pass
 * is the same error, naming it, either way. */
static void test_pass_same_with_or_without_prefetch_thread(void **state) {
    fixture *f = *state;
    df_error err;
    df_train_options o = small_options(DF_HEAD_LINEAR);
    const int N = f->train->count, K = 2, team = omp_get_max_threads();
    const size_t F = df_backbone_feature_dim(f->bb);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    float *v[2], *c[2];
    for (int mode = 0; mode < 2; mode++) {
        omp_set_num_threads(mode ? (int)(cores > 1 ? cores : 2) : 1);
        assert_int_equal(df_train_feature_variants(f->bb, f->train, &o, K, &v[mode], &c[mode], &err), DF_OK);
    }
    omp_set_num_threads(team);
    assert_memory_equal(v[0], v[1], (size_t)K * N * F * sizeof(float));
    assert_memory_equal(c[0], c[1], (size_t)N * F * sizeof(float));
    for (int mode = 0; mode < 2; mode++) {
        free(v[mode]);
        free(c[mode]);
    }

    /* photo 13 of 27 made unreadable: a copy of the data set pointing at a damaged file */
    char bad[1024];
    snprintf(bad, sizeof bad, "%s/damaged.jpg", f->dir);
    FILE *fp = fopen(bad, "wb");
    assert_non_null(fp);
    fputs("\xff\xd8\xff not a jpeg", fp);
    fclose(fp);
    char *saved = f->train->items[13].path;
    f->train->items[13].path = bad;
    char first[DF_ERROR_MESSAGE_MAX];
    for (int mode = 0; mode < 2; mode++) {
        omp_set_num_threads(mode ? (int)(cores > 1 ? cores : 2) : 1);
        float *vv = NULL, *cc = NULL;
        assert_int_not_equal(df_train_feature_variants(f->bb, f->train, &o, K, &vv, &cc, &err), DF_OK);
        assert_null(vv);
        assert_non_null(strstr(err.message, "damaged.jpg"));
        if (mode == 0) snprintf(first, sizeof first, "%s", err.message);
        else assert_string_equal(err.message, first);
    }
    omp_set_num_threads(team);
    f->train->items[13].path = saved;
    unlink(bad);
}

/* A pass over several variants is the passes over each variant, one
 * after the other (its batches straddle the variants), the last one plain
 * with plain_last; a stop flag already set ends it before any batch. */
static void test_variant_pass_is_the_passes_of_each_variant(void **state) {
    fixture *f = *state;
    df_error err;
    df_train_options o = small_options(DF_HEAD_LINEAR);
    const int N = f->train->count, V = 3;
    const size_t F = df_backbone_feature_dim(f->bb);
    const int batch = df_backbone_max_batch(f->bb) < 4 ? df_backbone_max_batch(f->bb) : 4;
    assert_true(N % batch != 0); /* so that a batch straddles two variants */
    df_photo_source *ps = NULL;
    assert_int_equal(df_photo_source_create(f->train, f->bb, df_backbone_resize_method(f->bb), 0, &ps, &err), DF_OK);
    float *all = malloc((size_t)V * N * F * sizeof *all), *one = malloc((size_t)N * F * sizeof *one);
    assert_non_null(all);
    assert_non_null(one);
    df_photo_pass pass = {.count = N, .batch = batch, .augment = &o.augment_config, .seed = 5, .aug_key = 77,
                          .variants = V, .plain_last = 1};
    assert_int_equal(df_photo_pass_run(f->bb, ps, &pass, all, NULL, &err), DF_OK);
    for (int v = 0; v < V; v++) {
        df_photo_pass single = {.count = N, .batch = batch, .augment = v < V - 1 ? &o.augment_config : NULL,
                                .seed = 5, .aug_key = 77 + (uint64_t)v};
        assert_int_equal(df_photo_pass_run(f->bb, ps, &single, one, NULL, &err), DF_OK);
        assert_memory_equal(all + (size_t)v * N * F, one, (size_t)N * F * sizeof *one);
    }
    /* the variants do differ: the augmented ones from each other */
    assert_memory_not_equal(all, all + (size_t)N * F, (size_t)N * F * sizeof *all);
    volatile sig_atomic_t stop = 1;
    pass.stop_flag = &stop;
    assert_int_equal(df_photo_pass_run(f->bb, ps, &pass, all, NULL, &err), DF_ERR_INTERRUPTED);
    assert_non_null(strstr(err.message, "interrupted after 0 of"));
    df_photo_source_destroy(ps);
    free(all);
    free(one);
}

/* The validation photos in the variants' pass (df_train_feature_passes)
 * are the features df_photo_features gives them, bit for bit, and the
 * variants and clean rows are df_train_feature_variants'; df_train
 * handed those validation features, or computing them in its own cache's
 * pass, trains the model it trains with its separate validation pass;
 * extra photos outside the source are an error. */
static void test_validation_rides_in_the_variant_pass(void **state) {
    fixture *f = *state;
    df_error err;
    df_train_options o = small_options(DF_HEAD_LINEAR);
    const int N = f->train->count, NV = f->val->count, K = 2;
    const size_t F = df_backbone_feature_dim(f->bb);
    assert_true(NV > 0);
    float *v1, *c1, *v2, *c2, *e2, *plain;
    assert_int_equal(df_train_feature_variants(f->bb, f->train, &o, K, &v1, &c1, &err), DF_OK);
    df_train_result acct = {0};
    assert_int_equal(df_train_feature_passes(f->bb, f->train, f->val, &o, K, &v2, &c2, &e2, &acct, &err), DF_OK);
    assert_int_equal(df_photo_features(f->bb, f->val, df_backbone_resize_method(f->bb), NULL, &plain, &err), DF_OK);
    assert_memory_equal(v1, v2, (size_t)K * N * F * sizeof(float));
    assert_memory_equal(c1, c2, (size_t)N * F * sizeof(float));
    assert_memory_equal(e2, plain, (size_t)NV * F * sizeof(float));
    assert_int_equal(acct.backbone_images, (long)(K + 1) * N + NV);

    /* df_train: its own pass (validation photos inside), handed the
     * variants and the validation features, handed the variants only */
    o.feature_cache = K;
    o.epochs = 3;
    df_train_result r[3];
    assert_int_equal(df_train(f->bb, f->train, f->val, &o, &r[0], &err), DF_OK);
    o.feature_variants = v2;
    o.val_features = e2;
    assert_int_equal(df_train(f->bb, f->train, f->val, &o, &r[1], &err), DF_OK);
    o.val_features = NULL;
    assert_int_equal(df_train(f->bb, f->train, f->val, &o, &r[2], &err), DF_OK);
    for (int k = 0; k < 3; k++) assert_memory_equal(r[k].val_features, plain, (size_t)NV * F * sizeof(float));
    for (int k = 1; k < 3; k++) {
        assert_int_equal(r[k].history.epochs, r[0].history.epochs);
        assert_memory_equal(r[k].history.val_loss, r[0].history.val_loss, sizeof(float) * (size_t)r[0].history.epochs);
        assert_memory_equal(r[k].history.train_loss, r[0].history.train_loss, sizeof(float) * (size_t)r[0].history.epochs);
    }
    for (int k = 0; k < 3; k++) df_train_result_free(&r[k]);

    df_photo_source *ps = NULL;
    assert_int_equal(df_photo_source_create(f->train, f->bb, df_backbone_resize_method(f->bb), 0, &ps, &err), DF_OK);
    df_photo_pass beyond = {.count = 2, .extra = 2, .extra_first = N - 1};
    assert_int_equal(df_photo_pass_run(f->bb, ps, &beyond, v1, NULL, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "extra photos"));
    df_photo_source_destroy(ps);
    free(v1);
    free(c1);
    free(v2);
    free(c2);
    free(e2);
    free(plain);
}

static void test_stratified_folds(void **state) {
    (void)state;
    int labels[15], fold[15], again[15], other[15];
    const int count[3] = {7, 5, 3};
    int n = 0;
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < count[c]; k++) labels[n++] = c;
    df_error err;
    assert_int_equal(df_stratified_folds(labels, 15, 3, 4, 9, fold, &err), DF_OK);
    int size[4] = {0}, per[3][4] = {{0}};
    for (int i = 0; i < 15; i++) {
        assert_true(fold[i] >= 0 && fold[i] < 4);
        size[fold[i]]++;
        per[labels[i]][fold[i]]++;
    }
    for (int f = 0; f < 4; f++) assert_true(size[f] == 3 || size[f] == 4); /* 15 = 4 + 4 + 4 + 3 */
    for (int c = 0; c < 3; c++) {
        int lo = 99, hi = 0;
        for (int f = 0; f < 4; f++) {
            lo = per[c][f] < lo ? per[c][f] : lo;
            hi = per[c][f] > hi ? per[c][f] : hi;
        }
        assert_true(hi - lo <= 1); /* each class spread evenly */
    }
    assert_int_equal(df_stratified_folds(labels, 15, 3, 4, 9, again, &err), DF_OK);
    assert_memory_equal(fold, again, sizeof fold);
    assert_int_equal(df_stratified_folds(labels, 15, 3, 4, 10, other, &err), DF_OK);
    assert_memory_not_equal(fold, other, sizeof fold);
    assert_int_equal(df_stratified_folds(labels, 15, 3, 16, 9, fold, &err), DF_ERR_INVALID_ARG);
    assert_int_equal(df_stratified_folds(labels, 15, 3, 1, 9, fold, &err), DF_ERR_INVALID_ARG);
}

/* A candidate that learns beats one whose learning rate is too small to
 * move (listed first, so order alone would pick it); scores are
 * reproducible; exact ties go to the earlier candidate. */
static void test_head_search(void **state) {
    fixture *f = *state;
    df_error err;
    df_train_options o = small_options(DF_HEAD_LINEAR);
    o.feature_cache = 2;
    df_head_candidate c[3];
    df_head_candidate all[DF_HEAD_SEARCH_MAX];
    int n_all = df_head_candidates_default(&o, all);
    assert_int_equal(n_all, 9);
    /* first the default recipe's own head: linear, its L2, fitted exactly;
     * then weaker L2s, then the MLPs */
    assert_int_equal(all[0].head.kind, DF_HEAD_LINEAR);
    assert_float_equal(all[0].head.l2, DF_TRAIN_DEFAULT_REGIONS_L2, 1e-9f);
    assert_true(all[0].exact);
    for (int k = 1; k < 7; k++) assert_true(all[k].exact && all[k].head.l2 < all[k - 1].head.l2);
    assert_int_equal(all[7].head.kind, DF_HEAD_MLP);
    assert_false(all[7].exact);
    /* with class weights, which the exact fit has not: Adam's, the
     * default's L2 first with its own epochs */
    df_train_options ow = o;
    ow.class_weight_balanced = 1;
    assert_int_equal(df_head_candidates_default(&ow, all), 8);
    assert_false(all[0].exact);
    assert_float_equal(all[0].head.l2, DF_TRAIN_DEFAULT_LINEAR_L2, 1e-9f);
    assert_int_equal(all[0].epochs, DF_TRAIN_DEFAULT_LINEAR_EPOCHS);
    assert_float_equal(all[1].head.l2, 0.1f, 1e-9f);
    assert_int_equal(all[1].epochs, 0);
    assert_int_equal(all[6].head.kind, DF_HEAD_MLP);
    all[1].head.l2 = 1e-3f; /* the test's candidates: as before the default's L2 changed */
    c[0] = all[1];
    c[0].adam.lr = 1e-9f;
    snprintf(c[0].name, sizeof c[0].name, "frozen");
    c[1] = all[1];
    c[1].adam.lr = 5e-2f;
    snprintf(c[1].name, sizeof c[1].name, "learns");
    c[2] = c[1];
    snprintf(c[2].name, sizeof c[2].name, "learns too");
    df_head_search_result r, again;
    assert_int_equal(df_head_search(f->bb, f->train, &o, c, 3, 3, &r, &err), DF_OK);
    print_message("  frozen %.3f (loss %.3f), learns %.3f (loss %.3f), %d variants\n", r.accuracy[0], r.loss[0],
                  r.accuracy[1], r.loss[1], r.variants);
    assert_int_equal(r.folds, 3);
    assert_int_equal(r.variants, 2);
    assert_int_equal(r.best, 1);
    assert_true(r.accuracy[1] >= 0.9);
    assert_true(r.loss[1] < r.loss[0]);
    assert_float_equal(r.accuracy[1], r.accuracy[2], 0);
    assert_float_equal(r.loss[1], r.loss[2], 0);
    assert_int_equal(df_head_search(f->bb, f->train, &o, c, 3, 3, &again, &err), DF_OK);
    assert_memory_equal(r.accuracy, again.accuracy, sizeof r.accuracy);
    assert_memory_equal(r.loss, again.loss, sizeof r.loss);
    df_head_search_result_free(&again);
    /* a candidate's own epochs replace the options' (6): 1 epoch fits less */
    c[2].epochs = 1;
    assert_int_equal(df_head_search(f->bb, f->train, &o, c, 3, 3, &again, &err), DF_OK);
    print_message("  learns, 1 epoch: loss %.3f (6 epochs: %.3f)\n", again.loss[2], r.loss[1]);
    assert_true(again.loss[2] > r.loss[1]);
    assert_float_equal(again.loss[1], r.loss[1], 0);
    df_head_search_result_free(&again);
    c[2].epochs = 0;
    /* the folds are fitted in parallel: one thread gives the same scores */
    const int team = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(df_head_search(f->bb, f->train, &o, c, 3, 3, &again, &err), DF_OK);
    omp_set_num_threads(team);
    assert_memory_equal(r.accuracy, again.accuracy, sizeof r.accuracy);
    assert_memory_equal(r.loss, again.loss, sizeof r.loss);
    df_head_search_result_free(&again);

    /* Training the choice on the search's variants is training as usual,
     * minus the backbone passes. */
    df_train_options chosen = o;
    chosen.head = r.candidates[r.best].head;
    chosen.adam = r.candidates[r.best].adam;
    df_train_result plain, reused;
    run(f, &chosen, &plain);
    assert_non_null(r.train_variants);
    chosen.feature_variants = r.train_variants;
    run(f, &chosen, &reused);
    assert_same_history(&plain.history, &reused.history);
    assert_int_equal(plain.backbone_images, 2 * 27 + 9);
    assert_int_equal(reused.backbone_images, 9); /* validation only */
    /* The search keeps the clean features of the same pass, and the
     * calibration fitted on them is the one that computes its own. */
    float *plain_feats;
    assert_int_equal(df_photo_features(f->bb, f->train, df_backbone_resize_method(f->bb), NULL, &plain_feats, &err),
                     DF_OK);
    assert_non_null(r.train_clean);
    assert_memory_equal(r.train_clean, plain_feats, (size_t)27 * df_backbone_feature_dim(f->bb) * sizeof(float));
    free(plain_feats);
    df_trust_options to = df_trust_options_default();
    df_trust_report computed, given;
    assert_int_equal(df_trust_fit(f->bb, f->train, &chosen, &to, reused.model, &computed, &err), DF_OK);
    float t_computed = reused.model->temperature;
    chosen.feature_clean = r.train_clean;
    assert_int_equal(df_trust_fit(f->bb, f->train, &chosen, &to, reused.model, &given, &err), DF_OK);
    assert_float_equal(reused.model->temperature, t_computed, 0);
    assert_float_equal(given.unknown_threshold, computed.unknown_threshold, 0);
    assert_float_equal(given.oof_ece_before, computed.oof_ece_before, 0);
    /* ... and it is what the fit reads: other features, another detector */
    const size_t nf = (size_t)27 * df_backbone_feature_dim(f->bb);
    float *other = malloc(nf * sizeof *other);
    for (size_t k = 0; k < nf; k++) other[k] = r.train_clean[k] * (1.0f + 0.5f * (float)(k % 3));
    chosen.feature_clean = other;
    assert_int_equal(df_trust_fit(f->bb, f->train, &chosen, &to, reused.model, &given, &err), DF_OK);
    assert_true(given.unknown_threshold != computed.unknown_threshold);
    free(other);
    df_train_result_free(&plain);
    df_train_result_free(&reused);
    df_head_search_result_free(&r);

    assert_int_equal(df_head_search(f->bb, f->train, &o, c, 3, 1, &r, &err), DF_ERR_INVALID_ARG);
    assert_int_equal(df_head_search(f->bb, f->train, &o, c, 0, 3, &r, &err), DF_ERR_INVALID_ARG);
    assert_null(r.train_variants);
    assert_null(r.train_clean);
}

/* df_train_and_trust: with the features cached and a linear head, the
 * head's training and the calibration side by side on the threads, giving
 * the model, temperature and unknown threshold that df_train then
 * df_trust_fit give; not side by side for an MLP head or without the
 * validation photos' features; a calibration that fails is the call's
 * error. */
static void test_train_and_trust_side_by_side(void **state) {
    fixture *f = *state;
    df_error err;
    const int K = 2, NV = f->val->count;
    df_train_options o = small_options(DF_HEAD_LINEAR);
    float *variants, *clean, *val_features;
    df_train_result acct = {0};
    assert_int_equal(df_train_feature_passes(f->bb, f->train, f->val, &o, K, &variants, &clean, &val_features, &acct,
                                             &err),
                     DF_OK);
    o.feature_cache = K;
    o.feature_variants = variants;
    o.feature_clean = clean;
    o.val_features = val_features;
    o.epochs = 4;
    df_trust_options to = df_trust_options_default();
    to.folds = 3;
    /* The colours separate perfectly, and the temperature would sit at its
     * bound whatever the folds: two pairs of photos trade labels (the
     * class counts kept), so that held-out photos are missed and the
     * temperature depends on every fold's head. */
    df_dataset noisy = *f->train;
    noisy.items = malloc(sizeof(df_dataset_item) * (size_t)noisy.count);
    memcpy(noisy.items, f->train->items, sizeof(df_dataset_item) * (size_t)noisy.count);
    for (int p = 0; p < 2; p++) {
        const int i = p, j = 9 * (p + 1) + p, l = noisy.items[i].label;
        noisy.items[i].label = noisy.items[j].label;
        noisy.items[j].label = l;
    }
    /* 0: linear by Adam, 1: MLP, 2: linear fitted exactly (the head and
     * the folds on one set of shared rows, train/fit.h df_exact_rows) */
    for (int kind = 0; kind < 3; kind++) {
        o.head.kind = kind == 1 ? DF_HEAD_MLP : DF_HEAD_LINEAR;
        o.exact_fit = kind == 2;
        o.head.l2 = kind == 2 ? 0.5f : 0.0f;
        df_train_result a = {0}, b = {0};
        df_trust_report ra, rb;
        int overlapped = -1;
        assert_int_equal(df_train_and_trust(f->bb, &noisy, f->val, &o, &to, &a, &ra, &overlapped, &err), DF_OK);
        assert_int_equal(overlapped, kind != 1 && omp_get_max_threads() > 1);
        assert_true((a.exact.iterations > 0) == (kind == 2));
        assert_int_equal(df_train(f->bb, &noisy, f->val, &o, &b, &err), DF_OK);
        assert_int_equal(a.exact.iterations, b.exact.iterations);
        assert_memory_equal(&a.exact.grad_max, &b.exact.grad_max, sizeof(double));
        assert_int_equal(df_trust_fit(f->bb, &noisy, &o, &to, b.model, &rb, &err), DF_OK);
        assert_memory_equal(&a.model->temperature, &b.model->temperature, sizeof(float));
        assert_true(a.model->temperature > 0.06f && a.model->temperature < 19.0f); /* not at a bound */
        assert_non_null(a.model->unknown);
        assert_memory_equal(&a.model->unknown->threshold, &b.model->unknown->threshold, sizeof(float));
        float pa[3 * 9], pb[3 * 9];
        assert_int_equal(df_head_predict(a.model->head, val_features, NV, pa, &err), DF_OK);
        assert_int_equal(df_head_predict(b.model->head, val_features, NV, pb, &err), DF_OK);
        assert_memory_equal(pa, pb, sizeof(float) * (size_t)NV * 3);
        assert_memory_equal(a.history.val_loss, b.history.val_loss, sizeof(float) * (size_t)a.history.epochs);
        df_train_result_free(&a);
        df_train_result_free(&b);
    }
    o.head.kind = DF_HEAD_LINEAR;
    o.exact_fit = 0;
    o.head.l2 = 0.0f;
    /* Without the validation photos' features df_train runs the backbone
     * for them: not beside the calibration. */
    o.val_features = NULL;
    df_train_result d = {0};
    df_trust_report rd;
    int side = -1;
    assert_int_equal(df_train_and_trust(f->bb, &noisy, f->val, &o, &to, &d, &rd, &side, &err), DF_OK);
    assert_int_equal(side, 0);
    df_train_result_free(&d);
    o.val_features = val_features;
    to.unknown_rate = 1.5f; /* not in [0, 1) for the detector: the calibration fails */
    df_train_result c = {0};
    df_trust_report rc;
    int overlapped;
    assert_int_equal(df_train_and_trust(f->bb, &noisy, f->val, &o, &to, &c, &rc, &overlapped, &err),
                     DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "unknown detector"));
    df_train_result_free(&c);
    free(noisy.items);
    free(variants);
    free(clean);
    free(val_features);
}

int main(void) {
    const struct CMUnitTest fixture_tests[] = {
        cmocka_unit_test(test_loss_falls_and_rerun_is_identical),
        cmocka_unit_test(test_feature_cache_and_steps),
        cmocka_unit_test(test_interrupt_and_resume_match_uninterrupted),
        cmocka_unit_test(test_exact_fit_is_the_optimum),
        cmocka_unit_test(test_saved_model_predicts_like_trained_head),
        cmocka_unit_test(test_early_stop_resume_restores_best),
        cmocka_unit_test(test_library_only_model_is_the_whole_classifier),
        cmocka_unit_test(test_pinned_loss_trajectory),
        cmocka_unit_test(test_feature_variants_are_trainings),
        cmocka_unit_test(test_pass_same_with_or_without_prefetch_thread),
        cmocka_unit_test(test_variant_pass_is_the_passes_of_each_variant),
        cmocka_unit_test(test_validation_rides_in_the_variant_pass),
        cmocka_unit_test(test_head_search),
        cmocka_unit_test(test_train_and_trust_side_by_side),
    };
    const struct CMUnitTest plain_tests[] = {
        cmocka_unit_test(test_stratified_folds),
    };
    const struct CMUnitTest shared_tests[] = {
        cmocka_unit_test(test_closet_short_run_and_phone_photo),
    };
    int failed = cmocka_run_group_tests(fixture_tests, fixture_setup, fixture_teardown);
    failed += cmocka_run_group_tests(plain_tests, NULL, NULL);
    failed += cmocka_run_group_tests(shared_tests, NULL, NULL);
    return failed;
}
