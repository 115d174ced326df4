/*
 * Sorting photos into folders without touching them (predict --sort-into).
 *
 * df_place_file puts a symbolic link to src (its absolute path), or with
 * copy a byte copy of it, into dir under src's file name; when that name is
 * taken it tries "<stem>-1<.ext>", "<stem>-2<.ext>", ... So an existing
 * file is never overwritten: the link is made with symlink(2), the copy is
 * written to a hidden temporary file in dir, fsynced and linked to its
 * final name with link(2), and both fail with EEXIST instead of replacing
 * anything, also against a second process sorting into the same folder.
 * src is only read. A copy interrupted midway leaves at most the hidden
 * temporary file (".place-XXXXXX"), never a half-written photo under its
 * name. Names are bytes: nothing assumes UTF-8.
 */
#ifndef DF_DATA_PLACE_H
#define DF_DATA_PLACE_H

#include "core/error.h"

/* dir must exist. *placed (malloc'ed, caller frees) = the path created. */
df_status df_place_file(const char *src, const char *dir, int copy, char **placed,
                        df_error *err) DF_MUST_CHECK;

/* Gives the existing file tmp (in dir, e.g. a hidden temporary written
 * there) the name dir/name, or the first free "<stem>-N<.ext>", with
 * link(2) (never replacing anything), then removes tmp. *placed as above. */
df_status df_place_rename(const char *tmp, const char *dir, const char *name, char **placed,
                          df_error *err) DF_MUST_CHECK;

#endif
