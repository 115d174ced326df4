/*
 * File helpers shared by every loader and writer.
 *
 * df_file_read: reads a whole regular file. It refuses directories, FIFOs and
 * devices before reading (a FIFO named x.jpg must not hang us) and files
 * larger than max_bytes.
 *
 * df_atomic_file: writes go to "<path>.tmp-XXXXXX" in the same folder; commit
 * flushes, fsyncs and renames over <path>, so a crash or a full disk never
 * leaves a half-written file under the final name and never destroys the
 * previous version. abort (or commit failing) removes the temp file.
 */
#ifndef DF_CORE_FILEIO_H
#define DF_CORE_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

/* *data is malloc'ed and owned by the caller (free()). */
df_status df_file_read(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                       df_error *err) DF_MUST_CHECK;

/* 1 if path is a regular file (following symlinks), else 0. */
int df_file_is_regular(const char *path);

typedef struct df_atomic_file {
    FILE *fp;             /* write through this */
    char *final_path;     /* owned */
    char *temp_path;      /* owned */
} df_atomic_file;

df_status df_atomic_open(df_atomic_file *af, const char *path, df_error *err) DF_MUST_CHECK;
/* Flush, fsync, close, rename. On failure the temp file is removed and the
 * previous file at path is untouched. Always releases af. */
df_status df_atomic_commit(df_atomic_file *af, df_error *err) DF_MUST_CHECK;
/* Close and remove the temp file; safe on a zeroed or already-finished af. */
void df_atomic_abort(df_atomic_file *af);

/* For writers that need a path rather than a FILE* (libhdf5, cairo):
 * df_atomic_temp_path makes "<path>.tmp-XXXXXX" (owned by caller), and
 * df_atomic_rename fsyncs the temp file and renames it over path, removing
 * the temp file on failure. */
df_status df_atomic_temp_path(const char *path, char **temp_path, df_error *err) DF_MUST_CHECK;
df_status df_atomic_rename(const char *temp_path, const char *path, df_error *err) DF_MUST_CHECK;

/* mkdir -p; an existing directory is fine. */
df_status df_mkdir_p(const char *path, df_error *err) DF_MUST_CHECK;

/* Join dir and name with one '/'; returns malloc'ed string or NULL. */
char *df_path_join(const char *dir, const char *name);

/* For readers that only take a path (libhdf5 in forked children, the TFLite
 * reader): bytes written under name (its last path component) into a new
 * private folder in $TMPDIR (else /tmp). *path is malloc'ed; the caller reads
 * it, then calls df_private_copy_remove(*path), which removes the file and
 * its folder and frees *path. what names the bytes' owner in messages. */
df_status df_private_copy_write(const char *what, const char *name, const uint8_t *bytes, size_t size,
                                char **path, df_error *err) DF_MUST_CHECK;
void df_private_copy_remove(char *path);

#endif
