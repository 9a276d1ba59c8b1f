/* version.h — the version --version and wsgw_build_info report. The
 * commit comes from the Makefile (-DWSGW_COMMIT, `git describe` of the
 * tree) for the files that name it: main.c and metrics_collect.c. */
#ifndef WSGW_VERSION_H
#define WSGW_VERSION_H

#define WSGW_VERSION "0.1.0"
#ifndef WSGW_COMMIT
#define WSGW_COMMIT "unknown"
#endif

#endif
