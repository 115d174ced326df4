/* Head evaluation on feature rows (see evaluation.h). */
#include "eval/evaluation.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "data/text.h"
#include "eval/unknown.h"

void df_evaluation_free(df_evaluation *ev) {
    if (!ev) return;
    free(ev->probs);
    free(ev->labels);
    free(ev->predicted);
    free(ev->confusion);
    free(ev->per_class);
    free(ev->report_text);
    free(ev->unknown_score);
    memset(ev, 0, sizeof *ev);
}

df_status df_evaluate_features(const df_head *head, const float *features, const int *labels,
                               int n, const char *const *class_names, df_evaluation *ev,
                               df_error *err) {
    memset(ev, 0, sizeof *ev);
    int C = df_head_classes(head);
    ev->n = n;
    ev->num_classes = C;
    if (n < 1) return df_error_set(err, DF_ERR_DATA, "nothing to evaluate: no photos");
    ev->probs = malloc(sizeof(float) * (size_t)n * (size_t)C);
    ev->labels = malloc(sizeof(int) * (size_t)n);
    ev->predicted = malloc(sizeof(int) * (size_t)n);
    ev->confusion = calloc((size_t)C * (size_t)C, sizeof(int));
    ev->per_class = calloc((size_t)C, sizeof *ev->per_class);
    df_status st = DF_OK;
    if (!ev->probs || !ev->labels || !ev->predicted || !ev->confusion || !ev->per_class) {
        st = df_error_set(err, DF_ERR_NOMEM, "out of memory evaluating %d photos", n);
        goto fail;
    }
    memcpy(ev->labels, labels, sizeof(int) * (size_t)n);
    st = df_head_predict(head, features, n, ev->probs, err);
    if (st != DF_OK) goto fail;
    df_eval_argmax_rows(ev->probs, n, C, ev->predicted);
    st = df_eval_confusion(labels, ev->predicted, n, C, ev->confusion, err);
    if (st != DF_OK) goto fail;
    ev->accuracy = df_eval_accuracy(ev->probs, labels, n, C);
    ev->loss = df_eval_cross_entropy(ev->probs, labels, n, C);
    df_eval_metrics_from_confusion(ev->confusion, C, ev->per_class, &ev->summary);
    st = df_eval_format_report(ev->confusion, C, class_names, 2, &ev->report_text, err);
    if (st != DF_OK) goto fail;
    return DF_OK;
fail:
    df_evaluation_free(ev);
    return st;
}

df_status df_evaluation_add_trust(df_evaluation *ev, const float *features, size_t F,
                                  const df_unknown_detector *unknown, float temperature, df_error *err) {
    const int n = ev->n, C = ev->num_classes;
    float *p = malloc(sizeof(float) * (size_t)n * (size_t)C);
    if (!p) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    df_calib_reliability(ev->probs, ev->labels, n, C, &ev->reliability_raw);
    float T = temperature > 0.0f ? temperature : 1.0f;
    for (size_t j = 0; j < (size_t)n * C; j++) p[j] = logf(ev->probs[j] > 1e-30f ? ev->probs[j] : 1e-30f);
    ev->loss_calibrated = df_calib_nll(p, ev->labels, n, C, T);
    df_calib_softmax_t(p, n, C, T, p);
    df_calib_reliability(p, ev->labels, n, C, &ev->reliability_calibrated);
    free(p);
    ev->temperature = temperature > 0.0f ? temperature : 0.0f;
    ev->accuracy_accepted = ev->accuracy;
    if (unknown) {
        if (unknown->dim < 1 || F % (size_t)unknown->dim)
            return df_error_set(err, DF_ERR_SHAPE, "unknown detector of %d features, photos have %zu", unknown->dim, F);
        if (!(ev->unknown_score = malloc(sizeof(float) * (size_t)n)))
            return df_error_set(err, DF_ERR_NOMEM, "out of memory");
        ev->unknown_threshold = unknown->threshold;
        int accepted = 0, correct = 0;
        for (int i = 0; i < n; i++) {
            ev->unknown_score[i] = df_unknown_score_features(unknown, features + (size_t)i * F, F);
            if (!(ev->unknown_score[i] <= unknown->threshold)) continue;
            accepted++;
            correct += ev->predicted[i] == ev->labels[i];
        }
        ev->unknown_count = n - accepted;
        ev->accuracy_accepted = accepted ? (double)correct / accepted : NAN;
    }
    ev->has_trust = 1;
    return DF_OK;
}

char *df_evaluation_json(const df_evaluation *ev, const char *const *names) {
    df_strbuf b = {0};
    int C = ev->num_classes;
    df_strbuf_addf(&b, "{\"accuracy\":%.6g,\"loss\":%.6g,\"classes\":[", ev->accuracy, ev->loss);
    for (int c = 0; c < C; c++) {
        char *q = df_text_json_quote(names[c]);
        df_strbuf_addf(&b, "%s%s", c ? "," : "", q ? q : "\"\"");
        free(q);
    }
    df_strbuf_addf(&b, "],\"confusion\":[");
    for (int r = 0; r < C; r++) {
        df_strbuf_addf(&b, "%s[", r ? "," : "");
        for (int c = 0; c < C; c++) df_strbuf_addf(&b, "%s%d", c ? "," : "", ev->confusion[r * C + c]);
        df_strbuf_addf(&b, "]");
    }
    df_strbuf_addf(&b, "],\"per_class\":[");
    for (int c = 0; c < C; c++) {
        char *q = df_text_json_quote(names[c]);
        const df_class_metrics *m = &ev->per_class[c];
        df_strbuf_addf(&b, "%s{\"class\":%s,\"precision\":%.4g,\"recall\":%.4g,\"f1\":%.4g,\"support\":%ld}",
               c ? "," : "", q ? q : "\"\"", m->precision, m->recall, m->f1, m->support);
        free(q);
    }
    df_strbuf_addf(&b, "],\"macro_avg\":{\"precision\":%.4g,\"recall\":%.4g,\"f1\":%.4g},"
               "\"weighted_avg\":{\"precision\":%.4g,\"recall\":%.4g,\"f1\":%.4g},\"support\":%ld}",
           ev->summary.macro.precision, ev->summary.macro.recall, ev->summary.macro.f1,
           ev->summary.weighted.precision, ev->summary.weighted.recall, ev->summary.weighted.f1,
           ev->summary.total);
    if (ev->has_trust && b.s && b.n) {
        b.s[--b.n] = '\0'; /* reopen the object */
        df_strbuf_addf(&b, ",\"calibration\":{\"temperature\":%.6g,\"ece_raw\":%.6g,\"ece\":%.6g,\"loss\":%.6g},",
                       (double)(ev->temperature > 0.0f ? ev->temperature : 1.0f), ev->reliability_raw.ece,
                       ev->reliability_calibrated.ece, ev->loss_calibrated);
        if (ev->unknown_score)
            df_strbuf_addf(&b, "\"unknown\":{\"threshold\":%.6g,\"genuine\":%d,\"genuine_lost\":%d,"
                               "\"accuracy_accepted\":%.6g}}",
                           (double)ev->unknown_threshold, ev->n, ev->unknown_count,
                           isnan(ev->accuracy_accepted) ? 0.0 : ev->accuracy_accepted);
        else
            df_strbuf_addf(&b, "\"unknown\":null}");
    }
    return df_strbuf_finish(&b);
}
