/* SPDX-License-Identifier: MIT */
/*
 * The core's messages: lfs_log formats one line, prefixed with the store's
 * directory, and hands it to the mount's sink (lfs_mount_options.log);
 * lfs_log_stderr is the sink a mount without one gets.
 *
 * Nothing here calls into the rest of the core, so every file may log.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

void lfs_log_stderr(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	fprintf(stderr, "larchfs: %s\n", msg);
}

void lfs_log(lfs *fs, int level, const char *fmt, ...)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s: ", fs->dir);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	fs->opt.log(fs->opt.log_arg, level, msg);
}
