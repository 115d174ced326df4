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

#ifdef __cplusplus
}
#endif

#endif /* DEEPFASHION_H */
