/* SPDX-License-Identifier: MIT */
/*
 * fsimage.h: the disk image a power cut on faultio left (faultio_crash),
 * written out as a store directory, and fsck.larchfs run on it, for the
 * unit tests of the core that cut power (test_shift.c, test_orphan.c).
 * fsck.larchfs is the one FSCK_LARCHFS names (meson sets it); without it
 * fsck_says runs nothing and returns false.  Header-only, like fsutil.h.
 */
#ifndef LARCHFS_TESTS_FSIMAGE_H
#define LARCHFS_TESTS_FSIMAGE_H

#include "fsutil.h"
#include "../support/faultio.h"

struct dump { faultio *img; const char *dir; int err; };

static inline int dump_one(void *arg, const char *name)
{
	struct dump *d = arg;
	uint64_t size;
	char path[PATH_MAX];

	if (faultio_file_size(d->img, name, &size))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	uint8_t *buf = malloc(size ? size : 1);
	FILE *fp = fopen(path, "wb");
	if (!buf || !fp || faultio_read(d->img, name, buf, size, 0) != (ssize_t)size ||
	    fwrite(buf, 1, size, fp) != size)
		d->err = -EIO;
	if (fp && fclose(fp))
		d->err = -EIO;
	free(buf);
	return d->err;
}

/* Writes the store held by img into a new directory under f->dir. */
static inline void dump_image(struct fx *f, faultio *img, const char *name, char *dir, size_t cap)
{
	assert_true((size_t)snprintf(dir, cap, "%s/%s", f->dir, name) < cap);
	assert_int_equal(mkdir(dir, 0700), 0);
	struct dump d = { img, dir, 0 };
	faultio_list(img, dump_one, &d);
	assert_int_equal(d.err, 0);
}

/* Runs fsck.larchfs ARGS on dir: it must exit `want` and (unless NULL)
 * say `says`.  False when there is no fsck.larchfs to run (a run by hand
 * without FSCK_LARCHFS). */
static inline bool fsck_says(const char *dir, const char *args, int want, const char *says)
{
	const char *fsck = getenv("FSCK_LARCHFS");
	char cmd[PATH_MAX * 4], out[PATH_MAX + 24], text[8192] = "";

	if (!fsck || !*fsck)
		return false;
	snprintf(out, sizeof(out), "%s.out", dir);
	snprintf(cmd, sizeof(cmd), "'%s' %s '%s' >'%s' 2>&1", fsck, args, dir, out);
	int rc = system(cmd);
	FILE *fp = fopen(out, "r");
	if (fp) {
		size_t n = fread(text, 1, sizeof(text) - 1, fp);
		text[n] = 0;
		fclose(fp);
	}
	if (!WIFEXITED(rc) || WEXITSTATUS(rc) != want)
		fail_msg("fsck.larchfs %s: exit %d, want %d:\n%s", args,
			 WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, want, text);
	if (says && !strstr(text, says))
		fail_msg("fsck.larchfs %s does not say '%s':\n%s", args, says, text);
	return true;
}

/* An engine log that says nothing. */
static inline void quiet(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

#endif
