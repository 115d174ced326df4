/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor
 * 0xFFFFFFFF), as in iSCSI (RFC 3720) and ext4. Used as a cheap integrity
 * check of bulk float data in model files (libhdf5 checksums its metadata
 * but not raw data). Software slicing-by-8; the tables are built on the
 * caller's stack in each df_crc32c call (about 2k operations), so there is
 * no global state. Not cryptographic: see core/sha256.h for that.
 */
#ifndef DF_CORE_CRC32C_H
#define DF_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: start with crc = 0, feed pieces in order:
 * df_crc32c(df_crc32c(0, a, na), b, nb) == df_crc32c(0, ab, na + nb). */
uint32_t df_crc32c(uint32_t crc, const void *data, size_t n);

#endif
