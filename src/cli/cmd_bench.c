
/*
 * deepfashion bench backbone: times a backbone on synthetic inputs. Builds
 * it for --batch images (algorithm and precision choices are measured then,
 * as in real use), runs 2 warm-up batches, then --iters timed batches, and
 * prints the median and best ms per image, images/s, GFLOP/s (VGG16: the
 * convolutions' multiply-adds x 2) and the peak resident memory.
 *
 * VGG16 without --weights uses deterministic random weights: the timing is
 * the same as with the Keras file, the features are meaningless, and the
 * output says so.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "backbone/backbone.h"
#include "backbone/tflite_backbone.h"
#include "backbone/vgg16.h"
#include "cli/cli.h"
#include "core/clock.h"
#include "core/memory.h"
#include "core/rng.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: deepfashion bench backbone [--backbone vgg16|tflite] [--weights FILE]\n"
            "                                  [--precision auto|fp32|bf16|int8] [--batch N] [--iters K]\n"
            "                                  [--pool] [--pooling P] [--no-autotune] [--verbose]\n\n"
            "Times a backbone: median (and best) ms per image over K timed batches of N after 2\n"
            "warm-up batches, images/s, GFLOP/s and peak RSS.\n\n"
            "options:\n"
            "  --backbone NAME   vgg16 (default) or tflite\n"
            "  --weights FILE    weights / model file; VGG16 without one uses random\n"
            "                    weights (timing only); tflite needs one\n"
            "  --precision P     auto (default), fp32, bf16, int8 (quantized TFLite models)\n"
            "  --batch N         images per run (default 8)\n"
            "  --iters K         timed runs (default 10)\n"
            "  --pool            VGG16: pooled 512 features\n"
            "  --pooling P       tflite: mean (default: the graph's own) or r<k>s<s>, the\n"
            "                    features train's recipe takes (its default r3s2)\n"
            "  --no-autotune     direct convolutions only (no Winograd measurement)\n"
            "  --verbose         print the engine's layer table (VGG16, TFLite in fp32/bf16)\n"
            "  --help            this text\n");
}

static void on_notice(void *ctx, const char *msg) {
    (void)ctx;
    fprintf(stderr, "deepfashion: note: %s\n", msg);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_backbone(int argc, char **argv) {
    static const struct option longopts[] = {
        {"backbone", required_argument, NULL, 'b'}, {"weights", required_argument, NULL, 'w'},
        {"precision", required_argument, NULL, 'p'}, {"batch", required_argument, NULL, 'B'},
        {"iters", required_argument, NULL, 'i'},    {"pool", no_argument, NULL, 'g'},
        {"no-autotune", no_argument, NULL, 'A'},    {"verbose", no_argument, NULL, 'v'},
        {"pooling", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *kind = "vgg16", *weights = NULL;
    df_backbone_options opt = df_backbone_options_default();
    long batch = 8, iters = 10;
    int verbose = 0;
    df_error err;
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, ":", longopts, NULL);
        if (c == -1) break;
        switch (c) {
        case 'b': kind = optarg; break;
        case 'w': weights = optarg; break;
        case 'p':
            if (df_precision_parse(optarg, &opt.precision, &err)) return df_cli_usage_error("bench", "%s", err.message);
            break;
        case 'B':
            if (!df_cli_parse_int(optarg, 1, 256, &batch))
                return df_cli_usage_error("bench", "--batch '%s' must be an integer in 1..256", optarg);
            break;
        case 'i':
            if (!df_cli_parse_int(optarg, 1, 100000, &iters))
                return df_cli_usage_error("bench", "--iters '%s' must be an integer in 1..100000", optarg);
            break;
        case 'g': opt.pool = 1; break;
        case 'P':
            if (df_pooling_parse(optarg, &opt.pooling, &err)) return df_cli_usage_error("bench", "%s", err.message);
            break;
        case 'A': opt.autotune = 0; break;
        case 'v': verbose = 1; break;
        case 'h': usage(stdout); return DF_EXIT_OK;
        case ':': return df_cli_usage_error("bench", "%s needs a value", argv[optind - 1]);
        default: return df_cli_usage_error("bench", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc) return df_cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    if (strcmp(kind, "vgg16") && strcmp(kind, "tflite"))
        return df_cli_usage_error("bench", "--backbone '%s' is not one of vgg16, tflite", kind);
    if (strcmp(kind, "tflite") && opt.pooling.kind != DF_POOLING_MEAN)
        return df_cli_usage_error("bench", "--pooling is for --backbone tflite (VGG16: --pool)");
    if (!strcmp(kind, "tflite") && !weights)
        return df_cli_usage_error("bench", "--backbone tflite needs --weights MODEL.tflite");
    opt.max_batch = (int)batch;
    opt.notice = on_notice;

    df_backbone *bb = NULL;
    float *x = NULL, *feats = NULL;
    double *times = NULL;
    int rc = DF_EXIT_FAIL;
    double t0 = 1e3 * df_clock_seconds();
    df_status st = weights ? df_backbone_open(kind, weights, &opt, &bb, &err)
                           : df_vgg16_open_random(1, &opt, &bb, &err);
    if (st) goto fail;
    double build_ms = 1e3 * df_clock_seconds() - t0;
    int ih, iw;
    df_backbone_input_size(bb, &ih, &iw);
    size_t per_in = (size_t)ih * iw * 3, dim = df_backbone_feature_dim(bb);
    x = malloc((size_t)batch * per_in * sizeof *x);
    feats = malloc((size_t)batch * dim * sizeof *feats);
    times = malloc((size_t)iters * sizeof *times);
    if (!x || !feats || !times) {
        df_error_set(&err, DF_ERR_NOMEM, "out of memory for a batch of %ld", batch);
        goto fail;
    }
    /* Inputs in the range caffe preprocessing produces. */
    df_rng rng;
    df_rng_seed(&rng, 1, 2);
    for (size_t i = 0; i < (size_t)batch * per_in; i++) x[i] = df_rng_uniform_range(&rng, -120.0f, 130.0f);
    /* The first run pays for touching the engine's buffers (DF_HUGE_PAGES
     * in core/memory.h): reported on its own, never in the median. */
    double cold_ms = 0.0;
    for (int i = 0; i < 2; i++) {
        double s = 1e3 * df_clock_seconds();
        if (df_backbone_run(bb, x, (int)batch, feats, &err)) goto fail;
        if (i == 0) cold_ms = 1e3 * df_clock_seconds() - s;
    }
    struct rusage ru0, ru;
    getrusage(RUSAGE_SELF, &ru0);
    for (long i = 0; i < iters; i++) {
        double s = 1e3 * df_clock_seconds();
        if (df_backbone_run(bb, x, (int)batch, feats, &err)) goto fail;
        times[i] = 1e3 * df_clock_seconds() - s;
    }
    qsort(times, (size_t)iters, sizeof *times, cmp_double);
    double med = iters % 2 ? times[iters / 2] : 0.5 * (times[iters / 2 - 1] + times[iters / 2]);
    double ms_img = med / (double)batch;
    getrusage(RUSAGE_SELF, &ru);
    /* CPU time of all threads over the timed runs: on a shared machine it
     * shows what the runs cost even when the wall clock includes waiting. */
    double cpu_ms = (ru.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e3 +
                    (ru.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru.ru_stime.tv_usec - ru0.ru_stime.tv_usec) * 1e-3;

    int is_vgg = !strcmp(df_backbone_kind(bb), "vgg16");
    const df_net *net = is_vgg ? df_vgg16_net(bb) : !strcmp(df_backbone_kind(bb), "tflite") ? df_tflite_backbone_net(bb) : NULL;
    printf("backbone   %s%s\n", df_backbone_name(bb),
           weights ? "" : " (random weights: for timing only, the features mean nothing)");
    printf("input      %dx%dx3 -> %zu features\n", iw, ih, dim);
    printf("precision  %s%s\n", df_precision_name(df_backbone_precision(bb)),
           opt.precision == DF_PRECISION_AUTO ? " (auto)" : "");
    if (net && is_vgg) printf("winograd   %d of 13 convolutions\n", df_net_winograd_layers(net));
    const df_qnet *qnet = !strcmp(df_backbone_kind(bb), "tflite") ? df_tflite_backbone_qnet(bb) : NULL;
    if (df_backbone_precision(bb) == DF_PRECISION_INT8 && qnet)
        printf("dw fusion  %d depthwise convolutions fused into the 1x1 before them (int8 engine on %s)\n",
               df_qnet_fused_layers(qnet), df_qnet_backend_name(df_qnet_backend(qnet)));
    else if (net && !is_vgg)
        printf("dw fusion  %d depthwise convolutions fused into the 1x1 before them\n", df_net_dw_fused_layers(net));
    printf("build      %.0f ms (weights, primitives, measurements)\n", build_ms);
    printf("batch      %ld, %ld timed runs after 2 warm-up\n", batch, iters);
    printf("first run  %.1f ms (the buffers touched the first time; %s)\n", cold_ms,
           df_huge_pages_wanted() ? "huge pages asked for" : "DF_HUGE_PAGES=0: ordinary pages");
    printf("median     %.2f ms/image (%.1f ms/batch; min %.1f, max %.1f)\n", ms_img, med, times[0],
           times[iters - 1]);
    /* The fastest batch: on a machine shared with other jobs, the run the
     * scheduler disturbed least (the median can be mostly waiting). */
    printf("best       %.2f ms/image (fastest batch)\n", times[0] / (double)batch);
    printf("throughput %.1f images/s\n", 1000.0 / ms_img);
    printf("cpu time   %.2f ms/image, all threads (wall x threads when the machine is idle)\n",
           cpu_ms / (double)iters / (double)batch);
    if (net) printf("compute    %.1f GFLOP/s (%.2f GFLOP/image)\n", df_net_flops_per_image(net) / ms_img * 1e-6,
                    df_net_flops_per_image(net) * 1e-9);
    printf("peak RSS   %.1f MB\n", ru.ru_maxrss / 1024.0);
    if (net) printf("workspace  %.1f MB (activations, staging, scratchpad; weights excluded)\n",
                    df_net_workspace_bytes(net) / 1048576.0);
    if (verbose && net) {
        char *buf = malloc(16384);
        if (buf) {
            df_net_describe(net, buf, 16384);
            fputs(buf, stdout);
            free(buf);
        }
    }
    rc = DF_EXIT_OK;
fail:
    if (rc != DF_EXIT_OK) rc = df_cli_fail(&err);
    free(x);
    free(feats);
    free(times);
    df_backbone_destroy(bb);
    return rc;
}

int df_cmd_bench(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return DF_EXIT_OK;
    }
    if (argc < 2) return df_cli_usage_error("bench", "what to benchmark? (backbone)");
    if (!strcmp(argv[1], "backbone")) return bench_backbone(argc - 1, argv + 1);
    return df_cli_usage_error("bench", "unknown benchmark '%s' (backbone)", argv[1]);
}
