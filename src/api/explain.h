/*
 * predict --explain: a Grad-CAM overlay PNG per photo (report/gradcam.h
 * holds the math). The explainer opens a second copy of the model's
 * backbone that stops at the last spatial feature map (the input of
 * MobileNetV2's global pool, 7x7x1280; VGG16's 7x7x512 without pooling),
 * runs the photo through it as prediction does (same decode, resize and
 * preprocessing), takes the chosen class's gradient through the head and
 * writes DIR/<photo name>.png at the photo's own aspect ratio (EXIF
 * orientation applied; the longer side at most DF_EXPLAIN_MAX_SIDE), never
 * replacing an existing file (a taken name gets -1, -2, ...).
 */
#ifndef DF_API_EXPLAIN_H
#define DF_API_EXPLAIN_H

#include "api/classifier.h"

enum { DF_EXPLAIN_MAX_SIDE = 640 };

typedef struct df_explainer df_explainer;

/* model is borrowed and must outlive the explainer; opt as the model's
 * classifier was opened with (the backbone comes from the same place; may
 * be NULL). Models cut at a custom TFLite tensor are refused
 * (DF_ERR_UNSUPPORTED). */
df_status df_explainer_create(const char *model_path, const df_model *model, const df_classifier_options *opt,
                              df_explainer **out, df_error *err) DF_MUST_CHECK;
void df_explainer_destroy(df_explainer *ex);

/* The map's size (H, W, K). */
void df_explainer_map_size(const df_explainer *ex, int *h, int *w, int *k);

/* The overlay itself (out allocated), the longer side at most max_side. */
df_status df_explain_overlay(df_explainer *ex, const char *path, int cls, int max_side, df_image *out,
                             df_error *err) DF_MUST_CHECK;

/* Writes the overlay of photo path for class cls into dir; *written (may be
 * NULL) receives the PNG's path (malloc'ed). */
df_status df_explain_photo(df_explainer *ex, const char *path, int cls, const char *dir, char **written,
                           df_error *err) DF_MUST_CHECK;

#endif
