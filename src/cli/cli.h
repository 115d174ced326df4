/*
 * The command line: one file per subcommand (cmd_<name>.c), each exporting
 * int df_cmd_<name>(int argc, char **argv) with argv[0] = the subcommand.
 * This is the only layer where a df_status becomes an exit code and where
 * anything is printed. Exit codes: 0 success, 1 failure, 2 usage error.
 */
#ifndef DF_CLI_CLI_H
#define DF_CLI_CLI_H

#include "core/error.h"
#include "core/parse.h"

enum { DF_EXIT_OK = 0, DF_EXIT_FAIL = 1, DF_EXIT_USAGE = 2 };

/* Prints "deepfashion: <message>" (one line) to stderr; returns DF_EXIT_FAIL. */
int df_cli_fail(const df_error *err);
/* Prints "deepfashion <cmd>: <formatted>" plus a --help hint; returns DF_EXIT_USAGE. */
int df_cli_usage_error(const char *cmd, const char *fmt, ...) DF_PRINTF(2, 3);

/* Strict number parsing for flags: the whole string must be a number in range. */
static inline int df_cli_parse_int(const char *s, long lo, long hi, long *out) { return df_parse_int(s, lo, hi, out); }
static inline int df_cli_parse_float(const char *s, double lo, double hi, double *out) {
    return df_parse_float(s, lo, hi, out);
}

int df_cmd_scan(int argc, char **argv);
int df_cmd_augment(int argc, char **argv);
int df_cmd_features(int argc, char **argv);
int df_cmd_classify(int argc, char **argv);
int df_cmd_bench(int argc, char **argv);
int df_cmd_export(int argc, char **argv);
int df_cmd_train(int argc, char **argv);
int df_cmd_evaluate(int argc, char **argv);
int df_cmd_predict(int argc, char **argv);
int df_cmd_report(int argc, char **argv);
int df_cmd_audit(int argc, char **argv);

#endif
