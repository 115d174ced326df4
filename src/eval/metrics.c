/*
 * Classification metrics and scikit-learn's classification_report text
 * (see metrics.h). The report follows sklearn.metrics._classification
 * (1.x): the same column widths, the same averages, zero_division = 0.
 * Decimal rounding matches Python's format() because both glibc printf and
 * CPython round the exact binary value half-to-even.
 */
#include "eval/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int df_argmax_f32(const float *x, int n) {
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (isnan(x[i])) continue;
        if (best < 0 || x[i] > x[best]) best = i;
    }
    return best < 0 ? 0 : best;
}

void df_eval_argmax_rows(const float *probs, int n, int C, int *pred) {
    for (int i = 0; i < n; i++) pred[i] = df_argmax_f32(probs + (size_t)i * C, C);
}

double df_eval_accuracy(const float *probs, const int *labels, int n, int C) {
    if (n <= 0) return 0.0;
    long correct = 0;
    for (int i = 0; i < n; i++) correct += df_argmax_f32(probs + (size_t)i * C, C) == labels[i];
    return (double)correct / n;
}

double df_eval_topk_accuracy(const float *probs, const int *labels, int n, int C, int k) {
    if (n <= 0) return 0.0;
    long correct = 0;
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * C;
        float target = p[labels[i]];
        int above = 0;
        for (int c = 0; c < C; c++) above += p[c] > target;
        correct += above < k;
    }
    return (double)correct / n;
}

double df_eval_cross_entropy(const float *probs, const int *labels, int n, int C) {
    if (n <= 0) return 0.0;
    const double lo = 1e-7, hi = 1.0 - 1e-7;
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        double p = probs[(size_t)i * C + labels[i]];
        if (!(p > lo)) p = lo; /* NaN clips too: a broken row costs the most */
        if (p > hi) p = hi;
        s -= log(p);
    }
    return s / n;
}

df_status df_eval_confusion(const int *labels, const int *pred, int n, int C, int *cm,
                            df_error *err) {
    memset(cm, 0, sizeof(int) * (size_t)C * (size_t)C);
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= C)
            return df_error_set(err, DF_ERR_INVALID_ARG,
                                "confusion matrix: label %d of sample %d not in [0, %d)", labels[i],
                                i, C);
        if (pred[i] < 0 || pred[i] >= C)
            return df_error_set(err, DF_ERR_INVALID_ARG,
                                "confusion matrix: prediction %d of sample %d not in [0, %d)",
                                pred[i], i, C);
        cm[(size_t)labels[i] * C + pred[i]]++;
    }
    return DF_OK;
}

static double safe_div(double a, double b) { return b == 0.0 ? 0.0 : a / b; }

void df_eval_metrics_from_confusion(const int *cm, int C, df_class_metrics *pc,
                                    df_metrics_summary *sum) {
    long total = 0, trace = 0;
    int absent = 0;
    for (int c = 0; c < C; c++) {
        long tp = cm[(size_t)c * C + c], row = 0, col = 0;
        for (int k = 0; k < C; k++) {
            row += cm[(size_t)c * C + k];
            col += cm[(size_t)k * C + c];
        }
        pc[c].precision = safe_div((double)tp, (double)col);
        pc[c].recall = safe_div((double)tp, (double)row);
        pc[c].f1 = safe_div(2.0 * pc[c].precision * pc[c].recall,
                            pc[c].precision + pc[c].recall);
        pc[c].support = row;
        total += row;
        trace += tp;
        absent |= row == 0 && col == 0;
    }
    if (!sum) return;
    memset(sum, 0, sizeof *sum);
    sum->total = total;
    sum->has_absent_class = absent;
    sum->accuracy = safe_div((double)trace, (double)total);
    /* sklearn averages with np.average: a plain mean, and a support-weighted
     * mean that is 0 when the total support is 0. */
    for (int c = 0; c < C; c++) {
        sum->macro.precision += pc[c].precision;
        sum->macro.recall += pc[c].recall;
        sum->macro.f1 += pc[c].f1;
        sum->weighted.precision += pc[c].precision * (double)pc[c].support;
        sum->weighted.recall += pc[c].recall * (double)pc[c].support;
        sum->weighted.f1 += pc[c].f1 * (double)pc[c].support;
    }
    sum->macro.precision /= C;
    sum->macro.recall /= C;
    sum->macro.f1 /= C;
    sum->weighted.precision = safe_div(sum->weighted.precision, (double)total);
    sum->weighted.recall = safe_div(sum->weighted.recall, (double)total);
    sum->weighted.f1 = safe_div(sum->weighted.f1, (double)total);
    sum->macro.support = sum->weighted.support = total;
}

/* A growable string; on allocation failure it stays failed and appends
 * become no-ops, checked once at the end. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
    int failed;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) DF_PRINTF(2, 3);
static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->failed = 1;
            return;
        }
        if (b->s && b->len + (size_t)k < b->cap) {
            b->len += (size_t)k;
            return;
        }
        size_t need = b->len + (size_t)k + 1;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need) cap *= 2;
        char *t = realloc(b->s, cap);
        if (!t) {
            b->failed = 1;
            return;
        }
        b->s = t;
        b->cap = cap;
    }
}

static void report_row(strbuf *b, int width, const char *name, const df_class_metrics *m,
                       int digits) {
    sb_printf(b, "%*s  %9.*f %9.*f %9.*f %9ld\n", width, name, digits, m->precision, digits,
              m->recall, digits, m->f1, m->support);
}

df_status df_eval_format_report(const int *cm, int C, const char *const *names, int digits,
                                 char **out, df_error *err) {
    *out = NULL;
    if (C < 1) return df_error_set(err, DF_ERR_INVALID_ARG, "report: no classes");
    if (digits < 0 || digits > 10)
        return df_error_set(err, DF_ERR_INVALID_ARG, "report: digits %d not in [0, 10]", digits);
    df_class_metrics *pc = calloc((size_t)C, sizeof *pc);
    if (!pc) return df_error_set(err, DF_ERR_NOMEM, "report: out of memory");
    df_metrics_summary s;
    df_eval_metrics_from_confusion(cm, C, pc, &s);

    int width = (int)strlen("weighted avg");
    for (int c = 0; c < C; c++) {
        int l = (int)strlen(names[c]);
        if (l > width) width = l;
    }
    if (digits > width) width = digits;

    strbuf b = {0};
    sb_printf(&b, "%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall", "f1-score",
              "support");
    for (int c = 0; c < C; c++) report_row(&b, width, names[c], &pc[c], digits);
    sb_printf(&b, "\n");
    if (s.has_absent_class) {
        /* sklearn: micro_is_accuracy is false when labels= names a class
         * absent from both y_true and y_pred; micro P = R = F1 = accuracy
         * for single-label data with every prediction in labels. */
        df_class_metrics micro = {s.accuracy, s.accuracy, s.accuracy, s.total};
        report_row(&b, width, "micro avg", &micro, digits);
    } else {
        sb_printf(&b, "%*s  %9s %9s %9.*f %9ld\n", width, "accuracy", "", "", digits, s.accuracy,
                  s.total);
    }
    report_row(&b, width, "macro avg", &s.macro, digits);
    report_row(&b, width, "weighted avg", &s.weighted, digits);
    free(pc);
    if (b.failed) {
        free(b.s);
        return df_error_set(err, DF_ERR_NOMEM, "report: out of memory");
    }
    *out = b.s;
    return DF_OK;
}
