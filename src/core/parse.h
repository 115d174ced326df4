/* Strict number parsing for settings and flags: the whole string must be a
 * number in [lo, hi]. Return 1 and set *out, or 0 and leave it. */
#ifndef DF_CORE_PARSE_H
#define DF_CORE_PARSE_H

int df_parse_int(const char *s, long lo, long hi, long *out);
int df_parse_float(const char *s, double lo, double hi, double *out);

#endif
