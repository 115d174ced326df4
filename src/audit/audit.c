/*
 * The audit's orchestration (audit/audit.h): one decoding pass for hashes
 * and quality, one backbone pass for features, then the duplicate pairs,
 * the outlier distances and the out-of-fold label check (audit_folds.c),
 * gathered into one list of issues, worst first.
 */
#include "audit/audit.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "audit/audit_internal.h"
#include "core/clock.h"
#include "core/fileio.h"
#include "core/sha256.h"
#include "image/image.h"

const char *df_audit_kind_name(df_audit_kind k) {
    static const char *const names[DF_AUDIT_KINDS] = {
        "mislabeled", "leak", "duplicate", "outlier", "dark", "bright", "blurry", "low_resolution"};
    return k >= 0 && k < DF_AUDIT_KINDS ? names[k] : "?";
}

df_audit_options df_audit_options_default(void) {
    df_audit_options o;
    memset(&o, 0, sizeof o);
    o.folds = 5;
    o.repeats = 3;
    o.label_k = 10;
    o.label_knn_weight = 0.3;
    o.epochs = 30;
    o.seed = 1;
    o.outlier_k = 10;
    o.outlier_z = 2.5;
    o.threads = 0;
    o.quality = df_quality_options_default();
    o.dupes = df_dupes_options_default();
    return o;
}

void df_audit_result_free(df_audit_result *r) {
    if (!r) return;
    free(r->photos);
    free(r->train_counts);
    free(r->val_counts);
    free(r->issues);
    memset(r, 0, sizeof *r);
}

/* ---- label issues (confident learning) ---- */

static int cmp_label_issue(const void *a, const void *b) {
    const df_label_issue *x = a, *y = b;
    if (x->self_conf != y->self_conf) return x->self_conf < y->self_conf ? -1 : 1;
    return (x->photo > y->photo) - (x->photo < y->photo);
}

void df_audit_label_issues(const float *probs, const int *labels, int n, int C,
                           df_label_issue *out, int *n_out) {
    *n_out = 0;
    double *t = calloc((size_t)C, sizeof *t);
    int *cnt = calloc((size_t)C, sizeof *cnt);
    if (!t || !cnt) {
        free(t);
        free(cnt);
        return;
    }
    for (int i = 0; i < n; i++) {
        t[labels[i]] += probs[(size_t)i * C + labels[i]];
        cnt[labels[i]]++;
    }
    for (int c = 0; c < C; c++) t[c] = cnt[c] ? t[c] / cnt[c] : 1.0;
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * C;
        int y = labels[i], top = 0, conf = -1;
        for (int c = 1; c < C; c++)
            if (p[c] > p[top]) top = c;
        /* The confident joint files photo i under the most probable class
         * among those whose threshold it reaches (none: no confident class). */
        for (int c = 0; c < C; c++)
            if (p[c] >= t[c] && (conf < 0 || p[c] > p[conf])) conf = c;
        /* An issue when the model prefers another class and is not confident
         * that the label is right; cleanlab likewise drops issues whose
         * prediction equals the given label. */
        if (top == y || conf == y) continue;
        out[*n_out].photo = i;
        out[*n_out].suggested = conf >= 0 ? conf : top;
        out[*n_out].self_conf = p[y];
        (*n_out)++;
    }
    qsort(out, (size_t)*n_out, sizeof *out, cmp_label_issue);
    free(t);
    free(cnt);
}

void df_audit_mix_neighbour_votes(float *probs, const int *nbr, int n, int k, const int *labels, int C,
                                  double w) {
    for (int i = 0; i < n; i++) {
        int m = 0;
        for (int q = 0; q < k; q++) m += nbr[(size_t)i * k + q] >= 0;
        if (!m) continue;
        float *p = probs + (size_t)i * C;
        for (int c = 0; c < C; c++) p[c] = (float)((1 - w) * p[c]);
        for (int q = 0; q < k; q++) {
            int j = nbr[(size_t)i * k + q];
            if (j >= 0) p[labels[j]] += (float)(w / m);
        }
    }
}

/* ---- nearest training photos ---- */

#define KNN_BLOCK 256

df_status df_audit_knn_distance(const float *feat, int n, size_t F, const int *is_ref,
                                const int *group, int k, double *dist, int *nbr, df_error *err) {
    if (k < 1) return df_error_set(err, DF_ERR_INVALID_ARG, "outliers: k = %d, need >= 1", k);
    float *sim = malloc((size_t)KNN_BLOCK * (n ? n : 1) * sizeof *sim);
    float *top = malloc((size_t)k * sizeof *top);
    int *who = malloc((size_t)k * sizeof *who);
    if (!sim || !top || !who) {
        free(sim);
        free(top);
        free(who);
        return df_error_set(err, DF_ERR_NOMEM, "outliers: out of memory for %d photos", n);
    }
    for (int i0 = 0; i0 < n; i0 += KNN_BLOCK) {
        int rows = n - i0 < KNN_BLOCK ? n - i0 : KNN_BLOCK;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, (int)F, 1.0f,
                    feat + (size_t)i0 * F, (int)F, feat, (int)F, 0.0f, sim, n);
        for (int r = 0; r < rows; r++) {
            int i = i0 + r, m = 0;
            const float *s = sim + (size_t)r * n;
            for (int j = 0; j < n; j++) {
                if (j == i || !is_ref[j] || (group && group[j] == group[i])) continue;
                /* keep the k largest similarities, sorted descending (ties:
                 * the lower index first, as j increases) */
                int pos = m < k ? m : k;
                if (pos == k && s[j] <= top[k - 1]) continue;
                while (pos > 0 && top[pos - 1] < s[j]) {
                    if (pos < k) {
                        top[pos] = top[pos - 1];
                        who[pos] = who[pos - 1];
                    }
                    pos--;
                }
                top[pos] = s[j];
                who[pos] = j;
                if (m < k) m++;
            }
            double sum = 0;
            for (int q = 0; q < m; q++) sum += 1.0 - top[q];
            dist[i] = m ? sum / m : 1.0;
            if (nbr)
                for (int q = 0; q < k; q++) nbr[(size_t)i * k + q] = q < m ? who[q] : -1;
        }
    }
    free(sim);
    free(top);
    free(who);
    return DF_OK;
}

void df_audit_outlier_scores(const double *dist, const int *nbr, int n, int k, double *score) {
    const double tiny = 1e-6; /* identical features give distance 0 */
    for (int i = 0; i < n; i++) {
        double around = 0;
        int m = 0;
        for (int q = 0; q < k; q++) {
            int j = nbr[(size_t)i * k + q];
            if (j < 0) break;
            around += dist[j];
            m++;
        }
        double d = dist[i] + tiny;
        double ratio = m ? d / (around / m + tiny) : 1.0;
        score[i] = log(d) + log(ratio);
    }
}

/* ---- the decoding pass ---- */

static df_status measure_one(const char *path, df_dupes_photo *h, df_quality *q, df_error *err) {
    uint8_t *data = NULL;
    size_t size = 0;
    df_image img = {0, 0, NULL};
    df_status st = df_file_read(path, DF_IMAGE_MAX_FILE_BYTES, &data, &size, err);
    if (st) return st;
    df_sha256(data, size, h->bytes);
    st = df_image_decode(data, size, path, NULL, &img, err);
    free(data);
    if (st) return st;
    df_sha256_ctx ctx;
    df_sha256_init(&ctx);
    uint32_t dims[2] = {(uint32_t)img.width, (uint32_t)img.height};
    df_sha256_update(&ctx, dims, sizeof dims);
    df_sha256_update(&ctx, img.pixels, (size_t)img.width * img.height * 3);
    df_sha256_final(&ctx, h->pixels);
    st = df_quality_measure(&img, q, err);
    if (st == DF_OK) st = df_dupes_phash(&img, &h->phash, err);
    if (st == DF_OK) st = df_dupes_thumbnail(&img, h->thumb, err);
    if (st) df_error_prefix(err, "%s", path);
    df_image_free(&img);
    return st;
}

df_status df_audit_measure_photos(df_audit_photo *photos, int n, int threads, df_dupes_photo *hashes,
                                  df_error *err) {
    df_first_error fe;
    df_first_error_init(&fe);
#ifdef _OPENMP
    int nt = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 2) num_threads(nt)
#endif
    for (int i = 0; i < n; i++) {
        df_error e;
        df_error_clear(&e);
        if (measure_one(photos[i].path, &hashes[i], &photos[i].quality, &e) != DF_OK)
            df_first_error_note(&fe, i, &e);
    }
    return df_first_error_take(&fe, err);
}
