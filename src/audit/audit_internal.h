/* Shared between the audit's files (audit.c, audit_folds.c); not API. */
#ifndef DF_AUDIT_AUDIT_INTERNAL_H
#define DF_AUDIT_AUDIT_INTERNAL_H

#include "audit/audit.h"

/* Fills photos[i].quality and hashes[i] from each photo's file (one read,
 * one full decode each, on `threads` threads; 0 = all). The error reported
 * is the one of the first failing photo in order. */
df_status df_audit_measure_photos(df_audit_photo *photos, int n, int threads,
                                  df_dupes_photo *hashes, df_error *err) DF_MUST_CHECK;

/* Out-of-fold probabilities (n x C, written) of the audit's photos from
 * stratified k-fold on their features (n x F), with the audit's head;
 * and, when there are validation photos, val_probs (n x C rows of the
 * validation photos only are written) from a head trained on the training
 * photos alone. *folds_used: the folds (0 when there were too few photos:
 * probs then untouched). */
df_status df_audit_out_of_fold(const float *feat, const df_audit_photo *photos, int n, int n_train,
                               int C, size_t F, const df_audit_options *opt, float *probs,
                               float *val_probs, int *folds_used, df_error *err) DF_MUST_CHECK;

#endif
