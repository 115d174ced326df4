/*
 * Metrics: confusion matrix, per-class precision/recall/F1 with zero
 * denominators, averages, and the classification report text compared
 * byte for byte with what scikit-learn prints. The expected strings were
 * written from sklearn's format (metrics/_classification.py: name column
 * width max(longest name, len("weighted avg"), digits), then " {:>9}"
 * columns) and checked once against scikit-learn 1.2.1 (Debian
 * python3-sklearn) with labels=range(C), zero_division=0; nothing here
 * needs Python to run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"

/* Case 1: three classes, "shoes" never predicted (precision 0/0 -> 0). */
static const int Y1[10] = {0, 0, 0, 1, 1, 2, 2, 2, 2, 2};
static const int P1[10] = {0, 0, 2, 0, 0, 2, 2, 2, 0, 2};
static const char *const N1[3] = {"bottoms", "shoes", "tops"};

static const char *REPORT1 =
    "              precision    recall  f1-score   support\n"
    "\n"
    "     bottoms       0.40      0.67      0.50         3\n"
    "       shoes       0.00      0.00      0.00         2\n"
    "        tops       0.80      0.80      0.80         5\n"
    "\n"
    "    accuracy                           0.60        10\n"
    "   macro avg       0.40      0.49      0.43        10\n"
    "weighted avg       0.52      0.60      0.55        10\n";

/* Case 2: a name longer than "weighted avg" widens the column; class "d"
 * neither occurs nor is predicted, so sklearn prints "micro avg" instead of
 * "accuracy"; digits = 3. */
static const int Y2[6] = {0, 0, 1, 1, 1, 2};
static const int P2[6] = {0, 1, 1, 1, 2, 2};
static const char *const N2[4] = {"a", "a-very-long-class-name", "c", "d"};

static const char *REPORT2 =
    "                        precision    recall  f1-score   support\n"
    "\n"
    "                     a      1.000     0.500     0.667         2\n"
    "a-very-long-class-name      0.667     0.667     0.667         3\n"
    "                     c      0.500     1.000     0.667         1\n"
    "                     d      0.000     0.000     0.000         0\n"
    "\n"
    "             micro avg      0.667     0.667     0.667         6\n"
    "             macro avg      0.542     0.542     0.500         6\n"
    "          weighted avg      0.750     0.667     0.667         6\n";

static void test_confusion_and_per_class(void **state) {
    (void)state;
    int cm[9];
    df_error err;
    assert_int_equal(df_eval_confusion(Y1, P1, 10, 3, cm, &err), DF_OK);
    const int want[9] = {2, 0, 1, /* true bottoms */
                         2, 0, 0, /* true shoes */
                         1, 0, 4 /* true tops */};
    assert_memory_equal(cm, want, sizeof want);
    df_class_metrics pc[3];
    df_metrics_summary s;
    df_eval_metrics_from_confusion(cm, 3, pc, &s);
    /* bottoms: TP 2, predicted 5, true 3 -> P 0.4, R 2/3, F1 0.5 */
    assert_true(fabs(pc[0].precision - 0.4) < 1e-15);
    assert_true(fabs(pc[0].recall - 2.0 / 3.0) < 1e-15);
    assert_true(fabs(pc[0].f1 - 0.5) < 1e-15);
    /* shoes: never predicted, no hit: every zero denominator gives 0 */
    assert_true(pc[1].precision == 0.0 && pc[1].recall == 0.0 && pc[1].f1 == 0.0);
    assert_int_equal(pc[1].support, 2);
    assert_true(fabs(s.accuracy - 0.6) < 1e-15);
    assert_int_equal(s.total, 10);
    assert_int_equal(s.has_absent_class, 0);
    /* macro P = (0.4 + 0 + 0.8) / 3; weighted P = (0.4*3 + 0.8*5) / 10 */
    assert_true(fabs(s.macro.precision - 0.4) < 1e-15);
    assert_true(fabs(s.weighted.precision - 0.52) < 1e-15);
    assert_true(fabs(s.weighted.recall - 0.6) < 1e-15);

    int badp[10];
    memcpy(badp, P1, sizeof badp);
    badp[4] = 3;
    assert_int_equal(df_eval_confusion(Y1, badp, 10, 3, cm, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "prediction 3 of sample 4"));
}

static void check_report(const int *y, const int *p, int n, int C, const char *const *names,
                         int digits, const char *want) {
    int cm[16];
    df_error err;
    assert_int_equal(df_eval_confusion(y, p, n, C, cm, &err), DF_OK);
    char *text;
    assert_int_equal(df_eval_format_report(cm, C, names, digits, &text, &err), DF_OK);
    if (strcmp(text, want) != 0) print_message("got:\n%s\nwant:\n%s\n", text, want);
    assert_string_equal(text, want);
    free(text);
}

static void test_report_matches_sklearn(void **state) {
    (void)state;
    check_report(Y1, P1, 10, 3, N1, 2, REPORT1);
    check_report(Y2, P2, 6, 4, N2, 3, REPORT2);
}

static void test_probability_metrics(void **state) {
    (void)state;
    const float probs[4 * 3] = {
        0.7f, 0.2f, 0.1f, /* label 0: top-1 */
        0.5f, 0.3f, 0.2f, /* label 1: rank 2 */
        0.1f, 0.3f, 0.6f, /* label 0: rank 3 */
        0.4f, 0.4f, 0.2f, /* label 1: tied for first: first index wins argmax */
    };
    const int labels[4] = {0, 1, 0, 1};
    assert_true(df_eval_accuracy(probs, labels, 4, 3) == 0.25);
    assert_true(df_eval_topk_accuracy(probs, labels, 4, 3, 1) == 0.5); /* tie favours truth */
    assert_true(df_eval_topk_accuracy(probs, labels, 4, 3, 2) == 0.75);
    assert_true(df_eval_topk_accuracy(probs, labels, 4, 3, 3) == 1.0);
    double ce = df_eval_cross_entropy(probs, labels, 4, 3);
    double want = -(log(0.7f) + log(0.3f) + log(0.1f) + log(0.4f)) / 4;
    assert_true(fabs(ce - want) < 1e-12);
    /* p = 0 is clipped to 1e-7 like Keras: finite. */
    const float zero[3] = {1.0f, 0.0f, 0.0f};
    const int one = 1;
    assert_true(fabs(df_eval_cross_entropy(zero, &one, 1, 3) + log(1e-7)) < 1e-12);
    const float nan_row[3] = {NAN, 0.2f, 0.3f};
    assert_int_equal(df_argmax_f32(nan_row, 3), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_confusion_and_per_class),
        cmocka_unit_test(test_report_matches_sklearn),
        cmocka_unit_test(test_probability_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
