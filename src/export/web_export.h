/*
 * deepfashion export --format web: an offline web page around an exported
 * TFLite classifier (tflite_export.h). DIR receives
 *   index.html     the page (web/index.html, embedded in the library at build time)
 *   model.tflite   the exported model, metadata and labels included
 *   model.json     name, labels, input size, type and normalisation, output
 *                  names, and the unknown detector's k and threshold (when the
 *                  model has its second output), read back from the model's
 *                  own metadata and zip (labels.txt, unknown.json)
 *   vendor/...     TFLite's WebAssembly runtime (@tensorflow/tfjs-tflite with
 *                  tfjs-core and tfjs-backend-cpu) and their licences, copied
 *                  from runtime_dir: the files its MANIFEST lists, as
 *                  scripts/fetch-web-runtime.sh prepared them.
 * Every file is written atomically (a failure never leaves a half-written
 * file); the folder is created if needed.
 */
#ifndef DF_EXPORT_WEB_EXPORT_H
#define DF_EXPORT_WEB_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* The build's copy (CMake sets it to <build>/web-runtime). */
#ifndef DF_WEB_RUNTIME_DEFAULT
#define DF_WEB_RUNTIME_DEFAULT "web-runtime"
#endif

df_status df_web_export(const char *dir, const uint8_t *model, size_t size,
                        const char *runtime_dir, df_error *err) DF_MUST_CHECK;

/* The embedded page (generated from web/index.html). */
extern const unsigned char df_web_index_html[];
extern const size_t df_web_index_html_size;

#endif
