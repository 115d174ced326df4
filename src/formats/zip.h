/*
 * Stored (uncompressed) ZIP archives in memory: the writer that packs the
 * associated files (labels.txt) TFLite Model Metadata appends to a model,
 * and a bounds-checked reader for tests and tools.
 *
 * Writer: PKZIP 2.0 local headers, central directory and end record, method
 * 0 (stored), CRC-32 (IEEE 802.3, as zip defines it), fixed timestamp
 * 1980-01-01 00:00 so exports are reproducible. base_offset is where the
 * archive will start in the final file: offsets in the central directory
 * count from the start of that file, as Python's zipfile writes an archive
 * appended to other data, so both offset-aware readers (zipfile, minizip,
 * unzip) and plain ones find the entries.
 *
 * Reader: finds the end record in the last 64 KiB + 22 bytes, walks the
 * central directory, and returns a view of a stored entry after checking
 * every offset and size against the buffer and the entry's CRC-32 (an
 * archive appended to other data is found whether its offsets count from
 * the start of the file or of the archive). Entries
 * that are compressed, encrypted, ZIP64 or split are DF_ERR_UNSUPPORTED.
 */
#ifndef DF_FORMATS_ZIP_H
#define DF_FORMATS_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* CRC-32 (reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF). */
uint32_t df_crc32(const void *data, size_t n);

typedef struct df_zip_entry {
    const char *name;
    const uint8_t *data;
    size_t size;
} df_zip_entry;

/* Writes n entries; *out malloc'ed (caller frees). Names 1..255 bytes,
 * entries below 4 GiB, archive offsets below 4 GiB (no ZIP64). */
df_status df_zip_write(const df_zip_entry *entries, size_t n, size_t base_offset, uint8_t **out,
                       size_t *size, df_error *err) DF_MUST_CHECK;

/* The stored entry called name in the archive at the end of buf (buf may
 * hold other data before it); *data points into buf. name_for_errors names
 * buf in messages. DF_ERR_FORMAT when there is no archive or no such entry. */
df_status df_zip_find(const uint8_t *buf, size_t n, const char *name_for_errors,
                      const char *entry, const uint8_t **data, size_t *size,
                      df_error *err) DF_MUST_CHECK;

#endif
