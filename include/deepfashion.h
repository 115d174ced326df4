/*
 * DeepFashion public API: transfer learning for photo classifiers in C.
 *
 * Every call that can fail returns a df_status and, when it is not DF_OK,
 * fills the caller's df_error with a one-line message that names the file,
 * field or value that was wrong. The library never exits and never prints.
 * Ownership: *_create / *_load return objects the caller destroys with the
 * matching *_destroy (which accepts NULL).
 */
#ifndef DEEPFASHION_H
#define DEEPFASHION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DF_VERSION_STRING "0.1.0"

typedef enum df_status {
    DF_OK = 0,
    DF_ERR_INVALID_ARG,   /* a caller or flag gave a value out of range */
    DF_ERR_IO,            /* open/read/write/rename failed */
    DF_ERR_FORMAT,        /* a file is corrupt, truncated or not what it claims */
    DF_ERR_UNSUPPORTED,   /* a valid file we do not handle (e.g. HEIC, an op) */
    DF_ERR_TOO_LARGE,     /* a header claims more than the configured limit */
    DF_ERR_SHAPE,         /* tensor or weight shapes do not match */
    DF_ERR_NOMEM,         /* allocation failed */
    DF_ERR_DATA,          /* a data set is unusable (empty class, one class) */
    DF_ERR_INTERRUPTED,   /* stopped by a signal; state was saved */
    DF_ERR_BACKEND,       /* oneDNN / HDF5 / cairo reported an error */
    DF_ERR_INTERNAL       /* a bug: an invariant did not hold */
} df_status;

#define DF_ERROR_MESSAGE_MAX 512

typedef struct df_error {
    df_status status;
    char message[DF_ERROR_MESSAGE_MAX];
} df_error;

/* A short, stable name for a status ("format error"). */
const char *df_status_name(df_status status);


/* ---- Using a trained model (what other programs embed) ----
 *
 *     df_classifier *clf;
 *     if (df_classifier_load("closet.dfm", NULL, &clf, &err) != DF_OK) ...
 *     float probs[16];
 *     df_classifier_predict_file(clf, "IMG_0042.jpg", probs, &err);
 *     printf("%s\n", df_classifier_class_name(clf, argmax(probs)));
 *     df_classifier_destroy(clf);
 *
 * A model file embeds the backbone weights it was trained on (unless it
 * was trained with --backbone-ref, when it records their path and
 * SHA-256). backbone_weights = NULL uses the embedded file (or the recorded
 * path); a path uses that file instead, whose SHA-256 must match. Photos are decoded with DCT
 * scaling and EXIF orientation, so a 12 MP phone photo works directly.
 */
typedef struct df_classifier df_classifier;

df_status df_classifier_load(const char *model_path, const char *backbone_weights,
                             df_classifier **out, df_error *err);
void df_classifier_destroy(df_classifier *clf);
int df_classifier_num_classes(const df_classifier *clf);
const char *df_classifier_class_name(const df_classifier *clf, int index);
/* probs receives df_classifier_num_classes floats (softmax probabilities). */
df_status df_classifier_predict_file(df_classifier *clf, const char *image_path, float *probs,
                                     df_error *err);
/* rgb: width * height * 3 bytes, row-major RGB8, already upright. */
df_status df_classifier_predict_rgb(df_classifier *clf, const uint8_t *rgb, int width, int height,
                                    float *probs, df_error *err);

#ifdef __cplusplus
}
#endif

#endif /* DEEPFASHION_H */
