/*
 * A guard for libhdf5: it parses file metadata without defending itself
 * against corrupt structures (fuzzing libhdf5 1.10.8 found heap overflows in
 * H5Aexists and H5HG_read and endless loops in H5HG__protect on damaged
 * Keras files, which have no checksums). So a file is first probed in a
 * forked child: if the child crashes or hangs, the file is reported as
 * corrupt and the caller never touches it; if the probe passes, the same
 * deterministic parse is safe to repeat in the caller.
 */
#ifndef DF_FORMATS_H5_GUARD_H
#define DF_FORMATS_H5_GUARD_H

#include "core/error.h"

/* The probe runs in the child: it must read everything the real load will
 * read (metadata at least) and report problems through its status. */
typedef df_status (*df_h5_probe_fn)(const char *path, df_error *err);

/* DF_OK when the probe passed; the probe's own error when it failed
 * cleanly; DF_ERR_FORMAT naming the file when it crashed or ran longer than
 * timeout_seconds. what names the file's role ("weights file"). */
df_status df_h5_guarded_probe(const char *path, const char *what, df_h5_probe_fn probe,
                              int timeout_seconds, df_error *err) DF_MUST_CHECK;

#endif
