/*
 * EXIF Orientation (tag 0x0112 in IFD0) through libexif.
 *
 * Input is the payload of a JPEG APP1 segment ("Exif\0\0" + TIFF header +
 * IFDs); a PNG eXIf chunk is the TIFF part alone, and the PNG reader puts the
 * identifier in front. Only the Orientation tag is read; everything else
 * libexif parses is discarded. A broken block reads as orientation 1 (the
 * photo stays usable, as in PIL, whose exif_transpose ignores bad values).
 */
#include <libexif/exif-data.h>
#include <libexif/exif-utils.h>

#include "image/image_internal.h"

int df_image_exif_orientation(const uint8_t *data, size_t size) {
    if (!data || size < 6 + 8 || size > 0xffffffffu) return 1;
    ExifData *ed = exif_data_new();
    if (!ed) return 1;
    /* Do not "fix" the data towards the spec (that may add default tags)
     * and skip tags libexif does not know: we want what the file says. */
    exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_load_data(ed, data, (unsigned int)size);
    int orientation = 1;
    ExifEntry *e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    if (e && e->format == EXIF_FORMAT_SHORT && e->components >= 1 && e->data && e->size >= 2) {
        unsigned v = exif_get_short(e->data, exif_data_get_byte_order(ed));
        if (v >= 1 && v <= 8) orientation = (int)v;
    }
    exif_data_unref(ed);
    return orientation;
}
