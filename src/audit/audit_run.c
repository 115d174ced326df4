/*
 * df_audit_run (audit/audit.h): gathers the photos, runs the decoding pass
 * and the backbone, and turns pairs, distances and out-of-fold
 * probabilities into issues.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "core/clock.h"
#include "data/photo.h"

typedef struct issue_list {
    df_audit_issue *v;
    int n, cap;
} issue_list;

static int add(issue_list *l, df_audit_kind kind, int photo, int other, double score, int suggested,
               df_dup_kind how) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        df_audit_issue *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return 0;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (df_audit_issue){kind, photo, other, score, suggested, how};
    return 1;
}

static int cmp_issue(const void *a, const void *b) {
    const df_audit_issue *x = a, *y = b;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->photo > y->photo) - (x->photo < y->photo);
}

static int find_root(int *parent, int i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
}

/* Is pair p a better match than q? Exact before near, then the score. */
static int better(const df_dupes_pair *p, const df_dupes_pair *q) {
    if (!q) return 1;
    if (p->kind != q->kind) return p->kind < q->kind;
    return p->score > q->score;
}

/* One issue per photo that copies an earlier one: a validation photo with a
 * training partner is a leak (its best training partner), else the best
 * earlier partner in its own split makes it a duplicate. group[i] receives
 * i's duplicate cluster (union-find root). */
static int duplicate_issues(const df_audit_photo *ph, int n, const df_dupes_pair *pairs, int np,
                            issue_list *l, int *group, int *cross_class) {
    const df_dupes_pair **best_leak = calloc((size_t)n, sizeof *best_leak);
    const df_dupes_pair **best_dup = calloc((size_t)n, sizeof *best_dup);
    if (!best_leak || !best_dup) {
        free(best_leak);
        free(best_dup);
        return 0;
    }
    for (int i = 0; i < n; i++) group[i] = i;
    for (int k = 0; k < np; k++) {
        const df_dupes_pair *p = &pairs[k];
        int ra = find_root(group, p->a), rb = find_root(group, p->b);
        if (ra != rb) group[ra > rb ? ra : rb] = ra < rb ? ra : rb;
        int a = p->a, b = p->b; /* a < b: training photos come first */
        if (ph[a].split == ph[b].split) {
            if (better(p, best_dup[b])) best_dup[b] = p;
        } else if (ph[a].split == 0 && ph[b].split == 1) {
            if (better(p, best_leak[b])) best_leak[b] = p;
        }
    }
    for (int i = 0; i < n; i++) group[i] = find_root(group, i);
    int ok = 1;
    for (int b = 0; b < n && ok; b++) {
        const df_dupes_pair *p = best_leak[b] ? best_leak[b] : best_dup[b];
        if (!p) continue;
        df_audit_kind kind = best_leak[b] ? DF_AUDIT_LEAK : DF_AUDIT_DUPLICATE;
        ok = add(l, kind, b, p->a, p->score, -1, p->kind);
        if (kind == DF_AUDIT_DUPLICATE && ph[p->a].label != ph[b].label) (*cross_class)++;
    }
    free(best_leak);
    free(best_dup);
    return ok;
}

/* Flags photos whose outlier score is a robust outlier of the set's scores;
 * the issue's score is a logistic of the z-score: 0.5 at the threshold. */
static df_status outlier_issues(const float *feat, const df_audit_photo *ph, int n, size_t F,
                                const int *group, const df_audit_options *opt, issue_list *l,
                                df_error *err) {
    int k = opt->outlier_k, N = n ? n : 1;
    double *d = malloc(sizeof(double) * N), *sc = malloc(sizeof(double) * N);
    double *dev = malloc(sizeof(double) * N);
    int *is_ref = malloc(sizeof(int) * N), *nbr = malloc(sizeof(int) * (size_t)N * k);
    df_status st = DF_OK;
    if (!d || !sc || !dev || !is_ref || !nbr) {
        st = df_error_set(err, DF_ERR_NOMEM, "outliers: out of memory for %d photos", n);
        goto done;
    }
    for (int i = 0; i < n; i++) is_ref[i] = ph[i].split == 0;
    st = df_audit_knn_distance(feat, n, F, is_ref, group, k, d, nbr, err);
    if (st || n < 3) goto done;
    df_audit_outlier_scores(d, nbr, n, k, sc);
    double med = df_quality_median(sc, n);
    for (int i = 0; i < n; i++) dev[i] = fabs(sc[i] - med);
    double sigma = 1.4826 * df_quality_median(dev, n);
    if (!(sigma > 1e-6)) sigma = 1e-6;
    for (int i = 0; i < n; i++) {
        double z = (sc[i] - med) / sigma;
        if (z > opt->outlier_z &&
            !add(l, DF_AUDIT_OUTLIER, i, -1, 1.0 / (1.0 + exp(opt->outlier_z - z)), -1, 0)) {
            st = df_error_set(err, DF_ERR_NOMEM, "outliers: out of memory");
            break;
        }
    }
done:
    free(d);
    free(sc);
    free(dev);
    free(is_ref);
    free(nbr);
    return st;
}

static int quality_issues(const df_audit_photo *ph, int n, const df_quality_options *qo,
                          issue_list *l) {
    df_quality *q = malloc(sizeof *q * (size_t)(n ? n : 1));
    int *flags = malloc(sizeof(int) * (size_t)(n ? n : 1));
    double *sc = malloc(sizeof(double) * 4 * (size_t)(n ? n : 1));
    int ok = q && flags && sc;
    if (ok) {
        for (int i = 0; i < n; i++) q[i] = ph[i].quality;
        df_quality_flag(q, n, qo, flags, sc);
        static const int bit[4] = {DF_QUALITY_DARK, DF_QUALITY_BRIGHT, DF_QUALITY_BLURRY,
                                   DF_QUALITY_LOW_RES};
        static const df_audit_kind kind[4] = {DF_AUDIT_DARK, DF_AUDIT_BRIGHT, DF_AUDIT_BLURRY,
                                              DF_AUDIT_LOW_RESOLUTION};
        for (int i = 0; i < n && ok; i++)
            for (int f = 0; f < 4 && ok; f++)
                if (flags[i] & bit[f]) ok = add(l, kind[f], i, -1, sc[(size_t)i * 4 + f], -1, 0);
    }
    free(q);
    free(flags);
    free(sc);
    return ok;
}

/* Mislabeled photos, and the validation accuracy with and without leaks. */
/* Mixes the neighbours' labels into probs (df_audit_mix_neighbour_votes). */
static df_status neighbour_votes(const float *feat, const df_audit_result *r, size_t F, const int *group,
                                 const int *labels, const df_audit_options *opt, float *probs, df_error *err) {
    int n = r->n_photos, k = opt->label_k;
    if (k < 1 || opt->label_knn_weight <= 0) return DF_OK;
    int *all = malloc(sizeof(int) * (size_t)n), *nbr = malloc(sizeof(int) * (size_t)n * k);
    double *dist = malloc(sizeof(double) * (size_t)n);
    df_status st = DF_OK;
    if (!all || !nbr || !dist) st = df_error_set(err, DF_ERR_NOMEM, "audit: out of memory for neighbours");
    for (int i = 0; st == DF_OK && i < n; i++) all[i] = 1;
    if (st == DF_OK) st = df_audit_knn_distance(feat, n, F, all, group, k, dist, nbr, err);
    if (st == DF_OK) df_audit_mix_neighbour_votes(probs, nbr, n, k, labels, r->n_classes, opt->label_knn_weight);
    free(all);
    free(nbr);
    free(dist);
    return st;
}

static df_status label_issues(const float *feat, df_audit_result *r, size_t F, const int *group,
                              const df_audit_options *opt, issue_list *l, df_error *err) {
    int n = r->n_photos, C = r->n_classes;
    float *probs = malloc(sizeof(float) * (size_t)n * C);
    float *vprobs = malloc(sizeof(float) * (size_t)n * C);
    int *labels = malloc(sizeof(int) * (size_t)n);
    df_label_issue *li = malloc(sizeof *li * (size_t)n);
    df_status st = DF_OK;
    if (!probs || !vprobs || !labels || !li) {
        st = df_error_set(err, DF_ERR_NOMEM, "audit: out of memory for %d x %d probabilities", n, C);
        goto done;
    }
    st = df_audit_out_of_fold(feat, r->photos, n, r->n_train, C, F, opt, probs, vprobs,
                              &r->mislabeled_folds, err);
    if (st) goto done;
    if (r->mislabeled_folds) {
        int m = 0;
        for (int i = 0; i < n; i++) labels[i] = r->photos[i].label;
        st = neighbour_votes(feat, r, F, group, labels, opt, probs, err);
        if (st) goto done;
        df_audit_label_issues(probs, labels, n, C, li, &m);
        char *outlier = calloc((size_t)n, 1);
        if (!outlier) {
            st = df_error_set(err, DF_ERR_NOMEM, "audit: out of memory");
            goto done;
        }
        for (int k = 0; k < l->n; k++)
            if (l->v[k].kind == DF_AUDIT_OUTLIER) outlier[l->v[k].photo] = 1;
        int ok = 1;
        for (int k = 0; k < m && ok; k++)
            if (!outlier[li[k].photo])
                ok = add(l, DF_AUDIT_MISLABELED, li[k].photo, -1, 1.0 - li[k].self_conf, li[k].suggested, 0);
        free(outlier);
        if (!ok) {
            st = df_error_set(err, DF_ERR_NOMEM, "audit: out of memory");
            goto done;
        }
    }
    if (r->n_train < n) {
        char *leaked = calloc((size_t)n, 1);
        if (!leaked) {
            st = df_error_set(err, DF_ERR_NOMEM, "audit: out of memory");
            goto done;
        }
        for (int k = 0; k < l->n; k++)
            if (l->v[k].kind == DF_AUDIT_LEAK) leaked[l->v[k].photo] = 1;
        int right = 0, all = 0, right_clean = 0, all_clean = 0;
        for (int i = r->n_train; i < n; i++) {
            const float *p = vprobs + (size_t)i * C;
            int best = 0;
            for (int c = 1; c < C; c++)
                if (p[c] > p[best]) best = c;
            int ok = best == r->photos[i].label;
            right += ok;
            all++;
            if (!leaked[i]) {
                right_clean += ok;
                all_clean++;
            }
        }
        free(leaked);
        r->val_photos = all;
        r->val_leaked = all - all_clean;
        r->val_accuracy = all ? (double)right / all : NAN;
        r->val_accuracy_without_leaks = all_clean ? (double)right_clean / all_clean : NAN;
    }
done:
    free(probs);
    free(vprobs);
    free(labels);
    free(li);
    return st;
}

static df_status gather(const df_dataset *train, const df_dataset *val, df_audit_result *r,
                        df_error *err) {
    int C = train->num_classes;
    int n = train->count + (val ? val->count : 0);
    r->n_photos = n;
    r->n_train = train->count;
    r->n_classes = C;
    r->class_names = (const char *const *)train->class_names;
    r->photos = calloc((size_t)(n ? n : 1), sizeof *r->photos);
    r->train_counts = calloc((size_t)C, sizeof(int));
    r->val_counts = calloc((size_t)C, sizeof(int));
    if (!r->photos || !r->train_counts || !r->val_counts)
        return df_error_set(err, DF_ERR_NOMEM, "audit: out of memory for %d photos", n);
    for (int i = 0; i < n; i++) {
        const df_dataset *ds = i < train->count ? train : val;
        const df_dataset_item *it = &ds->items[i < train->count ? i : i - train->count];
        r->photos[i].path = it->path;
        r->photos[i].label = it->label;
        r->photos[i].split = i < train->count ? 0 : 1;
        (i < train->count ? r->train_counts : r->val_counts)[it->label]++;
    }
    int lo = -1, hi = 0;
    for (int c = 0; c < C; c++) {
        if (lo < 0 || r->train_counts[c] < lo) lo = r->train_counts[c];
        if (r->train_counts[c] > hi) hi = r->train_counts[c];
    }
    r->imbalance_ratio = lo > 0 ? (double)hi / lo : INFINITY;
    r->advise_class_weights = r->imbalance_ratio >= 1.5;
    r->val_accuracy = r->val_accuracy_without_leaks = NAN;
    return DF_OK;
}

/* Features of every photo (training, then validation), L2-normalised rows:
 * the caller's (o->train_features / val_features), or from the backbone. */
static df_status features(df_backbone *bb, const df_dataset *train, const df_dataset *val,
                          const df_audit_options *o, float **out, df_error *err) {
    const size_t F = df_backbone_feature_dim(bb), nt = (size_t)train->count, nv = (size_t)(val ? val->count : 0);
    float *ft = NULL, *fv = NULL; /* computed here */
    const float *tr = o->train_features, *va = o->val_features;
    if (!tr || (nv && !va)) {
        df_resize_method rs = df_photo_resize(bb, -1);
        df_status st = df_photo_features(bb, train, rs, o->progress, &ft, err);
        if (st == DF_OK && nv) st = df_photo_features(bb, val, rs, o->progress, &fv, err);
        if (st) {
            free(ft);
            return st;
        }
        tr = ft;
        va = fv;
    }
    float *all = malloc((nt + nv ? nt + nv : 1) * F * sizeof *all);
    if (all) {
        memcpy(all, tr, nt * F * sizeof *all);
        if (nv) memcpy(all + nt * F, va, nv * F * sizeof *all);
    }
    free(ft);
    free(fv);
    if (!all) return df_error_set(err, DF_ERR_NOMEM, "audit: out of memory for features");
    df_dupes_normalize_rows(all, (int)(nt + nv), F);
    *out = all;
    return DF_OK;
}

df_status df_audit_run(df_backbone *bb, const df_dataset *train, const df_dataset *val,
                       const df_audit_options *opt, df_audit_result *out, df_error *err) {
    df_audit_options o = opt ? *opt : df_audit_options_default();
    memset(out, 0, sizeof *out);
    double t0 = df_clock_seconds();
    if (val) {
        df_status st = df_dataset_same_classes(train, val, err);
        if (st) return st;
    }
    df_audit_result *r = out;
    df_dupes_photo *hashes = NULL;
    df_dupes_pair *pairs = NULL;
    float *feat = NULL;
    int *group = NULL, np = 0;
    issue_list l = {NULL, 0, 0};
    size_t F = df_backbone_feature_dim(bb);
    df_status st = gather(train, val, r, err);
    int n = r->n_photos;
    if (st) goto fail;
    hashes = calloc((size_t)(n ? n : 1), sizeof *hashes);
    group = malloc(sizeof(int) * (size_t)(n ? n : 1));
    if (!hashes || !group) {
        st = df_error_set(err, DF_ERR_NOMEM, "audit: out of memory for %d photos", n);
        goto fail;
    }
    st = df_audit_measure_photos(r->photos, n, o.threads, hashes, err);
    if (st) goto fail;
    double t1 = df_clock_seconds();
    r->seconds_decode = t1 - t0;
    st = features(bb, train, val, &o, &feat, err);
    if (st) goto fail;
    double t2 = df_clock_seconds();
    r->seconds_features = t2 - t1;
    st = df_dupes_find(hashes, n, feat, F, &o.dupes, &pairs, &np, err);
    if (st) goto fail;
    if (!duplicate_issues(r->photos, n, pairs, np, &l, group, &r->cross_class_duplicates) ||
        !quality_issues(r->photos, n, &o.quality, &l)) {
        st = df_error_set(err, DF_ERR_NOMEM, "audit: out of memory for the issues");
        goto fail;
    }
    st = outlier_issues(feat, r->photos, n, F, group, &o, &l, err);
    if (st) goto fail;
    double t3 = df_clock_seconds();
    st = label_issues(feat, r, F, group, &o, &l, err);
    if (st) goto fail;
    r->seconds_folds = df_clock_seconds() - t3;
    qsort(l.v, (size_t)l.n, sizeof *l.v, cmp_issue);
    for (int k = 0; k < l.n; k++) r->counts[l.v[k].kind]++;
    r->issues = l.v;
    r->n_issues = l.n;
    l.v = NULL;
    r->seconds_total = df_clock_seconds() - t0;
fail:
    free(hashes);
    free(pairs);
    free(feat);
    free(group);
    free(l.v);
    if (st) df_audit_result_free(out);
    return st;
}
