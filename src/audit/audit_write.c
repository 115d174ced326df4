/*
 * The audit's JSON and CSV (audit/audit_write.h).
 */
#include "audit/audit_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/strbuf.h"
#include "data/text.h"

static void json_str(df_strbuf *b, const char *s) {
    char *q = df_text_json_quote(s);
    if (!q) {
        b->oom = 1;
        return;
    }
    df_strbuf_addf(b, "%s", q);
    free(q);
}

static void json_num(df_strbuf *b, double v) {
    if (isfinite(v))
        df_strbuf_addf(b, "%.4g", v);
    else
        df_strbuf_addf(b, "null");
}

static void json_issue(df_strbuf *b, const df_audit_result *r, const df_audit_issue *is) {
    df_strbuf_addf(b, "{\"type\":\"%s\",\"path\":", df_audit_kind_name(is->kind));
    json_str(b, r->photos[is->photo].path);
    if (is->other >= 0) {
        df_strbuf_addf(b, ",\"other_path\":");
        json_str(b, r->photos[is->other].path);
    }
    df_strbuf_addf(b, ",\"score\":%.4f", is->score);
    if (is->suggested_class >= 0) {
        df_strbuf_addf(b, ",\"suggested_class\":");
        json_str(b, r->class_names[is->suggested_class]);
    }
    if (is->kind == DF_AUDIT_LEAK || is->kind == DF_AUDIT_DUPLICATE) {
        df_strbuf_addf(b, ",\"match\":\"%s\"", df_dup_kind_name(is->dup_kind));
        if (r->photos[is->photo].label != r->photos[is->other].label)
            df_strbuf_addf(b, ",\"cross_class\":true");
    }
    df_strbuf_addf(b, "}");
}

static void json_summary(df_strbuf *b, const df_audit_result *r) {
    df_strbuf_addf(b, "\"summary\":{\"photos\":%d,\"train\":%d,\"validation\":%d,\"classes\":[",
                   r->n_photos, r->n_train, r->n_photos - r->n_train);
    for (int c = 0; c < r->n_classes; c++) {
        df_strbuf_addf(b, "%s{\"name\":", c ? "," : "");
        json_str(b, r->class_names[c]);
        df_strbuf_addf(b, ",\"train\":%d,\"validation\":%d}", r->train_counts[c], r->val_counts[c]);
    }
    df_strbuf_addf(b, "],\"counts\":{");
    for (int k = 0; k < DF_AUDIT_KINDS; k++)
        df_strbuf_addf(b, "%s\"%s\":%d", k ? "," : "", df_audit_kind_name(k), r->counts[k]);
    df_strbuf_addf(b, "},\"cross_class_duplicates\":%d,\"validation_accuracy\":",
                   r->cross_class_duplicates);
    json_num(b, r->val_accuracy);
    df_strbuf_addf(b, ",\"validation_accuracy_without_leaks\":");
    json_num(b, r->val_accuracy_without_leaks);
    df_strbuf_addf(b, ",\"leaked_validation_photos\":%d,\"imbalance_ratio\":", r->val_leaked);
    json_num(b, r->imbalance_ratio);
    df_strbuf_addf(b, ",\"advice\":");
    json_str(b, r->advise_class_weights
                    ? "the classes are imbalanced: train with --class-weight balanced, or add photos to the small classes"
                    : "the classes are balanced enough");
    df_strbuf_addf(b, ",\"folds\":%d,\"seconds\":%.2f,\"seconds_decode\":%.2f,\"seconds_backbone\":%.2f,"
                      "\"seconds_folds\":%.2f}",
                   r->mislabeled_folds, r->seconds_total, r->seconds_decode, r->seconds_features, r->seconds_folds);
}

char *df_audit_json(const df_audit_result *r) {
    df_strbuf b = {0};
    df_strbuf_addf(&b, "{\"issues\":[");
    for (int i = 0; i < r->n_issues; i++) {
        if (i) df_strbuf_addf(&b, ",");
        json_issue(&b, r, &r->issues[i]);
    }
    df_strbuf_addf(&b, "],");
    json_summary(&b, r);
    df_strbuf_addf(&b, "}\n");
    return df_strbuf_finish(&b);
}

char *df_audit_suggestion(const df_audit_result *r, const df_audit_issue *is) {
    df_strbuf b = {0};
    const char *other = is->other >= 0 ? r->photos[is->other].path : "";
    switch (is->kind) {
    case DF_AUDIT_MISLABELED:
        df_strbuf_addf(&b, "move to %s (filed under %s)", r->class_names[is->suggested_class],
                       r->class_names[r->photos[is->photo].label]);
        break;
    case DF_AUDIT_LEAK:
        df_strbuf_addf(&b, "remove from validation: %s of training photo %s",
                       is->dup_kind == DF_DUP_NEAR ? "a near-duplicate" : "a copy", other);
        break;
    case DF_AUDIT_DUPLICATE:
        df_strbuf_addf(&b, "remove: %s of %s%s", is->dup_kind == DF_DUP_NEAR ? "a near-duplicate" : "a copy",
                       other,
                       r->photos[is->photo].label != r->photos[is->other].label
                           ? " (filed under another class: one of them is mislabeled)"
                           : "");
        break;
    case DF_AUDIT_OUTLIER: df_strbuf_addf(&b, "remove if it is not a photo of one of the classes"); break;
    case DF_AUDIT_DARK: df_strbuf_addf(&b, "retake or remove: too dark"); break;
    case DF_AUDIT_BRIGHT: df_strbuf_addf(&b, "retake or remove: overexposed"); break;
    case DF_AUDIT_BLURRY: df_strbuf_addf(&b, "retake or remove: blurry"); break;
    case DF_AUDIT_LOW_RESOLUTION:
        df_strbuf_addf(&b, "retake larger: %dx%d, the model looks at 224x224",
                       r->photos[is->photo].quality.width, r->photos[is->photo].quality.height);
        break;
    default: break;
    }
    return df_strbuf_finish(&b);
}

/* An RFC 4180 field: quoted when it holds a comma, quote, CR or LF. */
static void csv_field(FILE *fp, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"') fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

df_status df_audit_write_csv(const df_audit_result *r, const char *path, df_error *err) {
    df_atomic_file af;
    df_status st = df_atomic_open(&af, path, err);
    if (st) return st;
    fputs("path,problem,suggestion,score,other_path\r\n", af.fp);
    for (int i = 0; i < r->n_issues; i++) {
        const df_audit_issue *is = &r->issues[i];
        char *sug = df_audit_suggestion(r, is);
        if (!sug) {
            df_atomic_abort(&af);
            return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", path);
        }
        csv_field(af.fp, r->photos[is->photo].path);
        fprintf(af.fp, ",%s,", df_audit_kind_name(is->kind));
        csv_field(af.fp, sug);
        fprintf(af.fp, ",%.4f,", is->score);
        if (is->other >= 0) csv_field(af.fp, r->photos[is->other].path);
        fputs("\r\n", af.fp);
        free(sug);
    }
    return df_atomic_commit(&af, err);
}
