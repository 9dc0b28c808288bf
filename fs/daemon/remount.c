/* SPDX-License-Identifier: MIT */
/*
 * `larchfs -o remount`: changes a mounted larchfs between read-only and
 * read-write, and its VFS flags, in step with the daemon serving it (the
 * protocol is in remount.h).  Runs as the mount(8) helper does: once,
 * without a daemon of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "remount.h"

#define FSTYPE "fuse.larchfs"

/* The kernel's flags of a mount, as mount(2) takes them, from statvfs. */
static const struct { unsigned long st, ms; } st_to_ms[] = {
	{ ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV }, { ST_NOEXEC, MS_NOEXEC },
	{ ST_SYNCHRONOUS, MS_SYNCHRONOUS }, { ST_NOATIME, MS_NOATIME },
	{ ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME },
};

/* Undoes /proc/self/mountinfo's octal escapes (\040 for a space), in place. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/*
 * The filesystem type and source of the mount on top at `mnt` (absolute),
 * from /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS
 * [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS".  0, or -ENOENT when nothing
 * is mounted there.
 */
static int mount_at(const char *mnt, char *fstype, size_t tl, char *source, size_t sl)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char *line = NULL;
	size_t cap = 0;
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save, *field[5], *sep = strstr(line, " - "), *t, *src;
		int n = 0;

		if (!sep)
			continue;
		*sep = '\0';
		for (char *w = strtok_r(line, " ", &save); w && n < 5; w = strtok_r(NULL, " ", &save))
			field[n++] = w;
		t = strtok_r(sep + 3, " ", &save);
		src = strtok_r(NULL, " ", &save);
		if (n < 5 || !t || !src)
			continue;
		unescape(field[4]);
		if (strcmp(field[4], mnt) != 0)
			continue;
		unescape(src);
		snprintf(fstype, tl, "%s", t);
		snprintf(source, sl, "%s", src);
		ret = 0;             /* the last one listed is on top */
	}
	free(line);
	fclose(f);
	return ret;
}

/* Checks that r->mnt is a larchfs mount of r->store; fills *mnt with its
 * absolute path.  -1 after saying what is wrong. */
static int check_mount(const struct remount_request *r, char mnt[PATH_MAX])
{
	char fstype[64], source[PATH_MAX], store[PATH_MAX];

	if (!realpath(r->mnt, mnt)) {
		fprintf(stderr, "larchfs: %s: %s\n", r->mnt, strerror(errno));
		return -1;
	}
	if (mount_at(mnt, fstype, sizeof(fstype), source, sizeof(source)) < 0 ||
	    strcmp(fstype, FSTYPE) != 0) {
		fprintf(stderr, "larchfs: %s: not a larchfs mount: nothing to remount\n", mnt);
		return -1;
	}
	if (!realpath(r->store, store) || strcmp(store, source) != 0) {
		fprintf(stderr, "larchfs: %s: mounted from %s, not %s\n", mnt, source, r->store);
		return -1;
	}
	return 0;
}

/* The mount(2) flags for the remount: the mount's own, changed as asked. */
static unsigned long wanted_flags(const struct statvfs *sv, const struct remount_request *r,
				  bool ro)
{
	unsigned long f = MS_REMOUNT;

	for (size_t i = 0; i < sizeof(st_to_ms) / sizeof(st_to_ms[0]); i++)
		if (sv->f_flag & st_to_ms[i].st)
			f |= st_to_ms[i].ms;
	f = (f & ~r->clear) | r->set;
	return ro ? f | MS_RDONLY : f;
}

/* Tells the daemon; -errno. */
static int tell_daemon(int fd, bool ro)
{
	struct larch_remount arg = { .flags = ro ? LARCH_REMOUNT_RO : 0 };

	return ioctl(fd, LARCH_IOC_REMOUNT, &arg) < 0 ? -errno : 0;
}

static void say_kernel_error(const char *mnt, int err, bool ro)
{
	if (err == EBUSY && ro)
		fprintf(stderr, "larchfs: %s: busy: a file is open for writing; close it "
			"first\n", mnt);
	else
		fprintf(stderr, "larchfs: %s: remount: %s\n", mnt, strerror(err));
}

static void say_daemon_error(const char *mnt, int err, bool ro)
{
	if (err == -EROFS && !ro)
		fprintf(stderr, "larchfs: %s: mounted with -o ro, which opens the store "
			"read-only: unmount it and mount it read-write\n", mnt);
	else if (err == -ENOTTY)
		fprintf(stderr, "larchfs: %s: the daemon serving it does not know remounts "
			"(an older larchfs)\n", mnt);
	else
		fprintf(stderr, "larchfs: %s: the daemon could not %s: %s\n", mnt,
			ro ? "flush and stop writing the store" : "resume writing the store",
			strerror(-err));
}

/* Read-only: the kernel, then the daemon; the kernel back if that fails. */
static int to_read_only(const char *mnt, int fd, unsigned long flags)
{
	int err;

	if (mount(NULL, mnt, NULL, flags, NULL) != 0) {
		say_kernel_error(mnt, errno, true);
		return 1;
	}
	err = tell_daemon(fd, true);
	if (err == 0)
		return 0;
	say_daemon_error(mnt, err, true);
	if (mount(NULL, mnt, NULL, flags & ~MS_RDONLY, NULL) != 0)
		fprintf(stderr, "larchfs: %s: and it stays read-only: %s\n", mnt, strerror(errno));
	else
		fprintf(stderr, "larchfs: %s: left read-write\n", mnt);
	return 1;
}

/* Read-write: the daemon, then the kernel; the daemon back if that fails. */
static int to_read_write(const char *mnt, int fd, unsigned long flags)
{
	int err = tell_daemon(fd, false);

	if (err) {
		say_daemon_error(mnt, err, false);
		return 1;
	}
	if (mount(NULL, mnt, NULL, flags, NULL) == 0)
		return 0;
	say_kernel_error(mnt, errno, false);
	if (tell_daemon(fd, true) != 0)
		fprintf(stderr, "larchfs: %s: the daemon took changes again, the kernel "
			"does not\n", mnt);
	return 1;
}

int remount_run(const struct remount_request *r)
{
	char mnt[PATH_MAX];
	struct statvfs sv;
	int fd, status;
	bool ro;

	if (check_mount(r, mnt) < 0)
		return 1;
	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstatvfs(fd, &sv) != 0) {
		fprintf(stderr, "larchfs: %s: %s\n", mnt, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	ro = r->ro >= 0 ? r->ro : (sv.f_flag & ST_RDONLY) != 0;
	status = ro ? to_read_only(mnt, fd, wanted_flags(&sv, r, true))
		    : to_read_write(mnt, fd, wanted_flags(&sv, r, false));
	close(fd);
	return status;
}
