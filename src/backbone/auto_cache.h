/*
 * --precision auto's measured choice, remembered. The race that picks
 * among fp32, bf16 and int8 builds and times every engine: about 0.6 s of a
 * 3.3 s default training run on a CPU without AMX. Its answer depends only
 * on the program, the CPU (as this process may use it), the thread count,
 * the model file and the network's shape, so it is measured once per such
 * key and kept in a small file per key, as MIOpen's performance database or
 * FFTW's wisdom keep their measurements. A cache, never a source of truth:
 * a missing, unreadable, foreign or corrupt file is a miss (the race runs
 * and the file is rewritten), and failing to write one is not an error.
 *
 * The library writes nothing on its own: df_backbone_options.auto_cache_dir
 * is NULL unless the caller (the command line: $DF_CACHE_DIR, else
 * $XDG_CACHE_HOME/deepfashion, else ~/.cache/deepfashion) names a folder.
 */
#ifndef DF_BACKBONE_AUTO_CACHE_H
#define DF_BACKBONE_AUTO_CACHE_H

#include <stddef.h>

#include "core/error.h"
#include "engine/net.h"

typedef struct df_backbone_options df_backbone_options;

/* One line naming everything the race's answer depends on: program and
 * oneDNN versions, the CPU's identity and feature bits, the ISA oneDNN will
 * use (its caps applied), the thread count, the weights file (real path,
 * size, modification time) and the options that shape the engines (kind,
 * cut, pooling, algorithm policy, the race's batch). Fails when the
 * weights file cannot be examined. */
df_status df_auto_cache_key(const char *kind, const char *weights_path, const df_backbone_options *opt,
                            char *key, size_t key_size, df_error *err) DF_MUST_CHECK;

/* The file a key's choice lives in under dir (malloc'ed; NULL when out of
 * memory). */
char *df_auto_cache_path(const char *dir, const char *key);

/* 1 and *precision (and measured: what the race printed then, when not
 * NULL) when dir holds a well-formed entry for exactly this key; else 0. */
int df_auto_cache_lookup(const char *dir, const char *key, df_precision *precision, char *measured,
                         size_t measured_size);

/* Writes (atomically) the choice and what the race measured. */
df_status df_auto_cache_store(const char *dir, const char *key, df_precision precision, const char *measured,
                              df_error *err) DF_MUST_CHECK;

#endif
