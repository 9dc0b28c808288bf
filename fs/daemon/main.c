/* SPDX-License-Identifier: MIT */
/*
 * larchfs, the daemon: `larchfs [options] STORE MOUNTPOINT` opens the store,
 * mounts it with FUSE and serves it until it is unmounted or signalled,
 * then closes the store, which flushes it.
 *
 * Start-up order, and why:
 *  1. Options are parsed and the mount point checked; mistakes fail here.
 *  2. Without -f the process forks now, while it has no threads.  The
 *     parent only waits: it exits 0 once the child reports the mount is
 *     up, else with the child's status.  fuse_daemonize() does not fit: it
 *     forks after the mount, so after the engine's threads exist (a fork
 *     keeps only the calling thread), and its parent exits before anything
 *     can fail.
 *  3. The child opens the store.  A bad store fails here with one line on
 *     stderr and status 1, before the mount point changes.
 *  4. The FUSE mount is made; the child detaches (stdio to /dev/null, cwd
 *     /) and tells the parent, whose exit means the mount is there.
 * So the store is open before the mount point appears, errors reach the
 * terminal with an exit status that says so, and the engine's threads run
 * in the process that keeps them.
 *
 * While the store opens, the core's messages are held back, so that a bad
 * store says one line; they then go where the session's go: to stderr in
 * the foreground ("larchfs: STORE: msg"), else to syslog.
 *
 * Shutdown: unmounting (fusermount3 -u, umount) ends the session loop.  A
 * signal (INT, TERM, HUP) unmounts lazily, as umount -l does, while the
 * loop goes on serving: the mount point is free at once, and once nothing
 * uses the filesystem the kernel writes back what its writeback cache
 * holds and ends the session, at once when no file is open.  libfuse's
 * own handlers end the loop first instead, and the kernel's unwritten
 * pages of files still open are lost with the connection.  A second
 * signal ends the loop at once, after asking the kernel to write back
 * (syncfs, which does not wait for FUSE writeback).  Either way
 * lfs_unmount then flushes the store; its failure is logged and makes the
 * exit status 1.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>   /* mounting and options only: fuse_proto.h */

#include "fuse_ll.h"
#include "remount.h"
#include "transport.h"

/* LARCHFS_VERSION comes from the build (meson's project version). */

/* ---- logging ---- */

#define HELD_MAX 32

enum sink { SINK_HOLD, SINK_STDERR, SINK_SYSLOG };

/* Where the core's, libfuse's and our messages go.  Shared with the
 * core's threads, hence the mutex.  The core's say which store they are
 * about ("STORE: msg"); ours are made to. */
static struct {
	pthread_mutex_t mu;         /* owner: to, nheld, held */
	const char *store;          /* set before any thread starts; absolute,
				       as the core names it */
	enum sink to;               /* mu */
	int nheld;                  /* mu */
	struct held { int level; char *msg; } held[HELD_MAX];   /* mu */
} logs = { .mu = PTHREAD_MUTEX_INITIALIZER, .to = SINK_HOLD };

static void log_emit(int level, const char *msg)   /* logs.mu held */
{
	char *copy;

	switch (logs.to) {
	case SINK_STDERR:
		fprintf(stderr, "larchfs: %s\n", msg);
		break;
	case SINK_SYSLOG:
		syslog(level, "%s", msg);
		break;
	case SINK_HOLD:
		if (logs.nheld < HELD_MAX && (copy = strdup(msg)))
			logs.held[logs.nheld++] = (struct held){ level, copy };
		break;
	}
}

/* lfs_mount_options.log; levels are syslog's. */
static void log_core(void *arg, int level, const char *msg)
{
	(void)arg;
	pthread_mutex_lock(&logs.mu);
	log_emit(level, msg);
	pthread_mutex_unlock(&logs.mu);
}

static void log_printf(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* fuse_set_log_func(), set once the daemon is in the background; its
 * levels are syslog's too.  libfuse's messages do not say which store they
 * are about, so they are made to. */
static void log_fuse(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_printf((int)level, "%s", msg);
}

/* From now on messages go to `to`, the held ones first. */
static void log_release(enum sink to)
{
	pthread_mutex_lock(&logs.mu);
	logs.to = to;
	for (int i = 0; i < logs.nheld; i++) {
		log_emit(logs.held[i].level, logs.held[i].msg);
		free(logs.held[i].msg);
	}
	logs.nheld = 0;
	pthread_mutex_unlock(&logs.mu);
}

static void log_printf(int level, const char *fmt, ...)
{
	char what[512], msg[PATH_MAX + sizeof(what)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s: %s", logs.store, what);
	log_core(NULL, level, msg);
}

/* ---- options ---- */

struct options {
	char *store, *mnt;          /* the two arguments */
	char *cache, *flush_ms, *compress;
	char *io_uring, *io_uring_depth;
	int ro, nowriteback, iflags;
	int nodiratime;             /* -1: not given */
	int ro_given;               /* ro or rw was among the options */
	int remount;                /* -o remount (remount.c) */
	unsigned long ms_set, ms_clear;  /* VFS flags named, for a remount */
	int atime;                  /* enum lfs_atime; -1: not given */
};

enum { KEY_RO, KEY_RW, KEY_NOSTRICTATIME, KEY_REMOUNT };

#define OPT(t, f, v) { t, offsetof(struct options, f), v }

static const struct fuse_opt larch_opts[] = {
	OPT("cache=%s", cache, 0),
	OPT("flush_ms=%s", flush_ms, 0),
	OPT("compress=%s", compress, 0),
	OPT("io_uring=%s", io_uring, 0),
	OPT("io_uring_depth=%s", io_uring_depth, 0),
	OPT("nowriteback", nowriteback, 1),
	OPT("iflags", iflags, 1),
	OPT("nodiratime", nodiratime, 1),
	OPT("diratime", nodiratime, 0),
	OPT("noatime", atime, LFS_ATIME_NOATIME),
	OPT("relatime", atime, LFS_ATIME_RELATIME),
	OPT("strictatime", atime, LFS_ATIME_STRICT),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_KEY("nostrictatime", KEY_NOSTRICTATIME),
	FUSE_OPT_KEY("remount", KEY_REMOUNT),
	FUSE_OPT_END
};

/*
 * mount(8), mount.fuse3 and fstab hand the daemon options meant for
 * someone else.  These are accepted and dropped, so that
 * `mount -t fuse.larchfs`, an fstab line and `larchfs -o "$(the fstab
 * options)"` all work:
 *  - fstab's own words, which mount(8) normally keeps to itself;
 *  - VFS flags mount(8) passes on that libfuse 3.14 cannot hand to the
 *    kernel, and that change nothing larchfs promises: timestamps are kept
 *    in memory until the next flush anyway (lazytime), i_version and
 *    mandatory locks do not apply, and norelatime alone is the kernel's
 *    default (relatime).  (The atime options are the core's: FUSE inodes
 *    never have their atimes moved by the kernel.)
 * nosymfollow is refused rather than dropped: it asks for a protection
 * that libfuse cannot give, and silence would pretend it did.
 */
static const char *const dropped_opts[] = {
	"defaults", "auto", "noauto", "nofail", "_netdev", "user", "nouser",
	"users", "owner", "group",
	"lazytime", "nolazytime", "iversion",
	"noiversion", "mand", "nomand", "silent", "loud", "norelatime",
	"symfollow",
	NULL
};

static const char *const dropped_prefixes[] = { "x-", "comment=", NULL };

/* 1: an option to drop (see dropped_opts); -1: one to refuse (said);
 * 0: one for libfuse. */
static int foreign_option(const char *arg)
{
	for (int i = 0; dropped_opts[i]; i++)
		if (strcmp(arg, dropped_opts[i]) == 0)
			return 1;
	for (int i = 0; dropped_prefixes[i]; i++)
		if (strncmp(arg, dropped_prefixes[i], strlen(dropped_prefixes[i])) == 0)
			return 1;
	if (strcmp(arg, "nosymfollow") == 0) {
		fprintf(stderr, "larchfs: -o nosymfollow is not supported (libfuse cannot "
			"pass it to the kernel)\n");
		return -1;
	}
	return 0;
}

/* The VFS flags a remount may change (the rest of them stay as they are);
 * atimes come from o->atime and o->nodiratime. */
static const struct { const char *name; unsigned long flag; bool set; } vfs_flags[] = {
	{ "nosuid", MS_NOSUID, true },   { "suid", MS_NOSUID, false },
	{ "nodev", MS_NODEV, true },     { "dev", MS_NODEV, false },
	{ "noexec", MS_NOEXEC, true },   { "exec", MS_NOEXEC, false },
	{ "sync", MS_SYNCHRONOUS, true }, { "async", MS_SYNCHRONOUS, false },
	{ "dirsync", MS_DIRSYNC, true },
};

static void note_vfs_flag(struct options *o, const char *arg)
{
	for (size_t i = 0; i < sizeof(vfs_flags) / sizeof(vfs_flags[0]); i++) {
		if (strcmp(arg, vfs_flags[i].name) != 0)
			continue;
		if (vfs_flags[i].set) {
			o->ms_set |= vfs_flags[i].flag;
			o->ms_clear &= ~vfs_flags[i].flag;
		} else {
			o->ms_clear |= vfs_flags[i].flag;
			o->ms_set &= ~vfs_flags[i].flag;
		}
	}
}

/* Takes STORE and MOUNTPOINT; "ro" and "rw" are noted and left in for the
 * kernel, which then refuses writes itself; "remount" is noted, as are the
 * VFS flags a remount passes on; options meant for mount(8) are dropped;
 * the rest goes on to libfuse. */
static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct options *o = data;
	int foreign;

	(void)outargs;
	switch (key) {
	case KEY_RO:
	case KEY_RW:
		o->ro = key == KEY_RO;
		o->ro_given = 1;
		return 1;
	case KEY_REMOUNT:
		o->remount = 1;
		return 0;
	case KEY_NOSTRICTATIME:   /* back to the default, as for the kernel */
		if (o->atime == LFS_ATIME_STRICT)
			o->atime = -1;
		return 0;
	case FUSE_OPT_KEY_OPT:
		note_vfs_flag(o, arg);
		foreign = foreign_option(arg);
		return foreign < 0 ? -1 : !foreign;
	}
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (o->store && o->mnt) {
		fprintf(stderr, "larchfs: unexpected argument '%s'\n", arg);
		return -1;
	}
	if (o->store)
		o->mnt = strdup(arg);
	else
		o->store = strdup(arg);
	return 0;
}

static void usage(void)
{
	printf("usage: larchfs [options] STORE MOUNTPOINT\n\n"
	       "larchfs options:\n"
	       "    -o cache=SIZE          cache size in bytes (K, M, G suffixes)\n"
	       "    -o flush_ms=N          flush unsynced changes every N ms (default 5000)\n"
	       "    -o compress=N          zstd level for new data, 0 off (default: the store's)\n"
	       "    -o ro                  mount read-only\n"
	       "    -o remount,ro|rw       make a larchfs mounted on MOUNTPOINT read-only,\n"
	       "                           or read-write again (what mount -o remount runs)\n"
	       "    -o noatime|relatime|strictatime\n"
	       "                           when to update access times (default relatime)\n"
	       "    -o nodiratime          never update directories' access times\n"
	       "    -o nowriteback         no kernel writeback cache\n"
	       "    -o iflags              check every open, so that chattr's immutable and\n"
	       "                           append-only flags can be kept (the store remembers)\n"
	       "    -o io_uring=auto|on|off\n"
	       "                           FUSE over io_uring (auto: when the kernel offers it;\n"
	       "                           on: refuse to mount without it; off: /dev/fuse)\n"
	       "    -o io_uring_depth=N    requests in flight per CPU queue, each with a\n"
	       "                           thread of its own (default %u)\n"
	       "    fstab's and mount(8)'s own options (defaults, nofail, _netdev, x-*, ...)\n"
	       "    are accepted and ignored; see larchfs(8)\n\n", URING_DEPTH_DEFAULT);
	if (!uring_built())
		printf("This larchfs is built without liburing: /dev/fuse only.\n\n");
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

static void version(void)
{
	printf("larchfs %s\n", LARCHFS_VERSION);
	printf("FUSE library version %s (mounting only)\n", fuse_pkgversion());
	printf("FUSE protocol 7.%u (up to; spoken by larchfs itself)\n", FP_MINOR);
}

/* "N" with an optional K, M, G or T suffix (powers of 1024). */
static int parse_size(const char *s, size_t *out)
{
	static const char units[] = "KMGT";
	const char *u;
	unsigned shift = 0;
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	if (*end && (u = strchr(units, toupper((unsigned char)*end)))) {
		shift = 10 * (unsigned)(u - units + 1);
		end++;
	}
	if (*end || v > (SIZE_MAX >> shift))
		return -EINVAL;
	*out = (size_t)v << shift;
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || end == s || *end || *s == '-' || *out > max ? -EINVAL : 0;
}

/* Fills m from o; says what is wrong and fails on a bad value. */
static int mount_options(const struct options *o, struct lfs_mount_options *m)
{
	unsigned long v;

	lfs_mount_options_default(m);
	m->read_only = o->ro;
	m->open_checks = o->iflags;
	if (o->atime >= 0)
		m->atime = (enum lfs_atime)o->atime;
	m->nodiratime = o->nodiratime > 0;
	if (o->cache && parse_size(o->cache, &m->cache_bytes) < 0) {
		fprintf(stderr, "larchfs: bad cache size '%s'\n", o->cache);
		return -1;
	}
	if (o->flush_ms) {
		if (parse_uint(o->flush_ms, UINT_MAX, &v) < 0 || v == 0) {
			fprintf(stderr, "larchfs: bad flush_ms '%s' (milliseconds, at least 1)\n",
				o->flush_ms);
			return -1;
		}
		m->flush_interval_ms = (unsigned)v;
	}
	if (o->compress) {
		if (parse_uint(o->compress, 22, &v) < 0) {
			fprintf(stderr, "larchfs: bad compress '%s' (0 to 22)\n", o->compress);
			return -1;
		}
		m->compression = (int)v;
	}
	m->log = log_core;
	m->touched = ll_touched;
	return 0;
}

/* Fills u from o; says what is wrong and fails on a bad value. */
static int transport_options(const struct options *o, struct uring_config *u)
{
	unsigned long v;

	u->mode = URING_AUTO;
	u->depth = URING_DEPTH_DEFAULT;
	u->log = log_printf;
	if (o->io_uring && uring_parse_mode(o->io_uring, &u->mode) < 0) {
		fprintf(stderr, "larchfs: bad io_uring '%s' (auto, on or off)\n", o->io_uring);
		return -1;
	}
	if (o->io_uring_depth) {
		if (parse_uint(o->io_uring_depth, URING_DEPTH_MAX, &v) < 0 || v == 0) {
			fprintf(stderr, "larchfs: bad io_uring_depth '%s' (1 to %u)\n",
				o->io_uring_depth, URING_DEPTH_MAX);
			return -1;
		}
		u->depth = (unsigned)v;
	}
	return 0;
}

/* ---- the daemon ---- */

struct daemon {
	struct fuse_args args;
	struct options o;
	struct fuse_cmdline_opts co;
	struct lfs_mount_options mo;
	struct uring_config uc;
	char *store;                /* absolute, when it resolves */
	char *mnt;                  /* absolute */
	struct larch_ll ll;
	struct fuse_session *se;
	int ready_fd;               /* the waiting parent's pipe, or -1 */
};

/* Returns the absolute mount point, or NULL after saying what is wrong. */
static char *mountpoint_check(const char *mnt)
{
	struct stat st;

	if (stat(mnt, &st) != 0) {
		if (errno == ENOENT)
			fprintf(stderr, "larchfs: %s: no such mount point\n", mnt);
		else if (errno == ENOTCONN)
			fprintf(stderr, "larchfs: %s: a dead mount (run: fusermount3 -u %s)\n",
				mnt, mnt);
		else
			fprintf(stderr, "larchfs: %s: %s\n", mnt, strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "larchfs: %s: mount point is not a directory\n", mnt);
		return NULL;
	}
	return realpath(mnt, NULL);
}

/* /proc/mounts shows "STORE MOUNTPOINT fuse.larchfs"; the core checks no
 * permissions, so the kernel must (default_permissions).  Inserted first
 * so that the user's own -o fsname= and subtype= win. */
static int add_fuse_options(struct daemon *d)
{
	char *opts = NULL, *fsname = NULL;
	int ret = -1;

	if (asprintf(&fsname, "fsname=%s", logs.store) >= 0 &&
	    fuse_opt_add_opt_escaped(&opts, fsname) == 0 &&
	    fuse_opt_add_opt(&opts, "subtype=larchfs") == 0 &&
	    fuse_opt_add_opt(&opts, "default_permissions") == 0 &&
	    fuse_opt_insert_arg(&d->args, 1, "-o") == 0 &&
	    fuse_opt_insert_arg(&d->args, 2, opts) == 0)
		ret = 0;
	free(fsname);
	free(opts);
	return ret;
}

/* Returns 1 when there is nothing more to do (help, version), -1 on a
 * mistake (said), 0 to go on. */
static int parse_args(struct daemon *d, int argc, char *argv[])
{
	d->args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	d->o.atime = -1;
	d->o.nodiratime = -1;
	if (fuse_opt_parse(&d->args, &d->o, larch_opts, opt_proc) != 0)
		return -1;
	if (fuse_parse_cmdline(&d->args, &d->co) != 0)
		return -1;
	if (d->co.show_help) {
		usage();
		return 1;
	}
	if (d->co.show_version) {
		version();
		return 1;
	}
	if (!d->o.store || !d->o.mnt) {
		fprintf(stderr, "usage: larchfs [options] STORE MOUNTPOINT\n"
			"       larchfs --help\n");
		return -1;
	}
	if (d->o.remount)
		return 0;            /* for main() to hand to remount.c */
	if (mount_options(&d->o, &d->mo) < 0 || transport_options(&d->o, &d->uc) < 0 ||
	    uring_precheck(&d->uc) < 0 || !(d->mnt = mountpoint_check(d->o.mnt)))
		return -1;
	d->store = realpath(d->o.store, NULL);
	logs.store = d->store ? d->store : d->o.store;
	return add_fuse_options(d);
}

/*
 * Forks; only the child returns, with the pipe end to report on.  The
 * parent exits 0 when the child reports, else with the child's status.
 */
static int daemon_fork(void)
{
	int p[2], status;
	ssize_t n;
	pid_t pid;
	char c;

	if (pipe(p) != 0 || (pid = fork()) < 0) {
		perror("larchfs: cannot start the daemon");
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR)
			;
		if (n == 1)
			_exit(0);
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) == 0)
			_exit(1);
		_exit(WEXITSTATUS(status));
	}
	close(p[0]);
	setsid();
	return p[1];
}

/* The mount is up: detach from the terminal and let the parent go. */
static void daemon_ready(struct daemon *d)
{
	int null;

	if (chdir("/") != 0)
		log_printf(LOG_WARNING, "chdir /: %s", strerror(errno));
	if (d->ready_fd < 0) {
		log_release(SINK_STDERR);
		return;
	}
	log_release(SINK_SYSLOG);
	fuse_set_log_func(log_fuse);
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	if (write(d->ready_fd, "R", 1) != 1)
		syslog(LOG_WARNING, "cannot tell the parent: %m");
	close(d->ready_fd);
}

/* One line on stderr for each way a store can fail to open. */
static void say_store_error(const char *store, int err)
{
	const char *what;

	switch (err) {
	case -ENOENT:
		fprintf(stderr, "larchfs: %s: no larchfs store here (create one with: mkfs.larchfs %s)\n",
			store, store);
		return;
	case -EMEDIUMTYPE:
		what = "not formatted as larchfs (run: mkfs.larchfs -f";
		break;
	case -EUCLEAN:
		what = "the store is damaged (run: fsck.larchfs";
		break;
	case -EBUSY:
		fprintf(stderr, "larchfs: %s: the store is in use by another process "
			"(mounted elsewhere?); a store mounts once: for a second "
			"mount point use mount --bind\n", store);
		return;
	default:
		fprintf(stderr, "larchfs: %s: %s\n", store, strerror(-err));
		return;
	}
	fprintf(stderr, "larchfs: %s: %s %s)\n", store, what, store);
}

/* Opens the store; on failure its messages go to syslog (to stderr too
 * with -d) and stderr gets one line. */
static int open_store(struct daemon *d)
{
	int ret = lfs_mount(logs.store, &d->mo, &d->ll.fs);

	if (ret < 0) {
		log_release(d->co.debug ? SINK_STDERR : SINK_SYSLOG);
		say_store_error(d->o.store, ret);
		return -1;
	}
	return 0;
}

static const struct fuse_lowlevel_ops no_ops;

/* Options libfuse does not know fail here, before anything else is done. */
static int new_session(struct daemon *d)
{
	d->ll.writeback = !d->o.nowriteback;
	d->ll.strictatime = d->mo.atime == LFS_ATIME_STRICT;
	d->mo.touched_arg = &d->ll;
	/* libfuse mounts and parses its options; the protocol is ours */
	d->se = fuse_session_new(&d->args, &no_ops, sizeof(no_ops), NULL);
	fp_session_init(&larch_ll_ops, &d->ll, d->co.debug);
	d->uc.dispatch = fp_dispatch;
	return d->se ? 0 : -1;
}

/* ---- serving, and stopping on a signal ---- */

static int sig_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	unsigned char b = (unsigned char)sig;
	int saved = errno;
	ssize_t r = write(sig_pipe[1], &b, 1);

	(void)r;
	errno = saved;
}

/* Interrupts the loop's blocking call; the loop then sees it has exited. */
static void on_wake(int sig)
{
	(void)sig;
}

/* Shared by the session loop's thread and the signal thread. */
struct watcher {
	pthread_t thread, loop;     /* set before the signal thread starts */
	const char *mnt;            /* likewise */
	atomic_bool loop_done;      /* atomic; the loop returned */
	atomic_bool detached;       /* atomic; the mount is gone already */
	atomic_bool stopped;        /* atomic; the loop was ended, not the connection */
};

/* Asks the kernel to write back the dirty pages of the mount, while the
 * loop still serves them.  Best effort: syncfs starts FUSE writeback but
 * does not wait for it. */
static void kernel_writeback(const char *mnt)
{
	int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || syncfs(fd) != 0)
		log_printf(LOG_ERR, "writing back cached pages: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Unmounts lazily (umount -l); the loop ends when the kernel lets go of
 * the filesystem.  Returns 0 or a negative errno. */
static int detach(const char *mnt)
{
	char *argv[] = { "fusermount3", "-u", "-q", "-z", "--", (char *)mnt, NULL };
	int status;
	pid_t pid;

	if (geteuid() == 0)
		return umount2(mnt, MNT_DETACH) == 0 ? 0 : -errno;
	errno = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
	if (errno)
		return -errno;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* Reads the next byte: a signal number from on_signal, or 0 from
 * stop_watcher when the loop has ended. */
static int next_signal(void)
{
	unsigned char b;
	ssize_t n;

	while ((n = read(sig_pipe[0], &b, 1)) < 0 && errno == EINTR)
		;
	return n == 1 ? b : 0;
}

/* Ends the loop now.  The loop may be blocked reading the device or
 * waiting for its workers; the wake-up is repeated because one that lands
 * just before it blocks is lost. */
static void stop_loop(struct watcher *w)
{
	const struct timespec retry = { 0, 50 * 1000 * 1000 };

	atomic_store(&w->stopped, true);
	fp_loop_exit();
	while (!atomic_load(&w->loop_done)) {
		pthread_kill(w->loop, SIGUSR1);
		nanosleep(&retry, NULL);
	}
}

static void *watch_signals(void *arg)
{
	struct watcher *w = arg;
	int sig = next_signal(), err;

	if (!sig)
		return NULL;
	kernel_writeback(w->mnt);
	err = detach(w->mnt);
	if (err == 0) {
		atomic_store(&w->detached, true);
		log_printf(LOG_INFO, "signal %d: unmounted; exiting once no file is open", sig);
		sig = next_signal();
		if (!sig)
			return NULL;
		log_printf(LOG_WARNING, "signal %d: exiting now; data written to files still open may be lost",
			   sig);
	} else {
		log_printf(LOG_ERR, "signal %d: cannot unmount (%s); exiting now", sig,
			   strerror(-err));
	}
	stop_loop(w);
	return NULL;
}

static int handle(int sig, void (*fn)(int))
{
	struct sigaction sa = { .sa_handler = fn };   /* no SA_RESTART */

	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

static int start_watcher(struct watcher *w, struct daemon *d)
{
	w->loop = pthread_self();
	w->mnt = d->mnt;
	atomic_init(&w->loop_done, false);
	atomic_init(&w->detached, false);
	atomic_init(&w->stopped, false);
	if (pipe2(sig_pipe, O_CLOEXEC) != 0 ||
	    fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK) != 0 ||
	    handle(SIGINT, on_signal) || handle(SIGTERM, on_signal) ||
	    handle(SIGHUP, on_signal) || handle(SIGUSR1, on_wake) ||
	    handle(SIGPIPE, SIG_IGN)) {
		log_printf(LOG_ERR, "signal handling: %s", strerror(errno));
		return -1;
	}
	errno = pthread_create(&w->thread, NULL, watch_signals, w);
	if (errno) {
		log_printf(LOG_ERR, "signal thread: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void stop_watcher(struct watcher *w)
{
	ssize_t r;

	atomic_store(&w->loop_done, true);
	r = write(sig_pipe[1], "", 1);
	(void)r;
	pthread_join(w->thread, NULL);
}

/* Runs the /dev/fuse loop (fuse_loop.c): multi-threaded unless -s, with
 * libfuse's command-line thread options.  Returns 0 when it ended by
 * unmount or signal, else a negative errno. */
static int serve(struct daemon *d)
{
	struct fp_loop_config c = {
		.fd = fuse_session_fd(d->se),
		.single = d->co.singlethread,
		.clone_fd = d->co.clone_fd,
		.max_threads = d->co.max_threads,
		.max_idle = d->co.max_idle_threads,   /* UINT_MAX: not given */
	};

	return fp_loop(&c);
}

/* Mounts, serves until unmounted or signalled, and unmounts; returns the
 * exit status. */
static int mount_and_serve(struct daemon *d)
{
	enum sink sink = d->ready_fd < 0 ? SINK_STDERR : SINK_SYSLOG;
	struct watcher w;
	int ret;

	if (fuse_session_mount(d->se, d->mnt) != 0) {
		log_release(sink);
		fprintf(stderr, "larchfs: cannot mount on %s\n", d->mnt);
		return 1;
	}
	lfs_stats_extra(d->ll.fs, fp_stats_print, fp_metrics_print);
	d->uc.dev_fd = fuse_session_fd(d->se);
	uring_configure(&d->uc);
	fp_notify_device(d->uc.dev_fd);
	if (start_watcher(&w, d) < 0) {
		log_release(sink);
		fuse_session_unmount(d->se);
		return 1;
	}
	if (inval_start() < 0) {
		log_release(sink);
		fprintf(stderr, "larchfs: %s: cannot start a thread\n", d->mnt);
		stop_watcher(&w);
		fuse_session_unmount(d->se);
		return 1;
	}
	daemon_ready(d);
	ret = serve(d);
	uring_stop();
	inval_stop();
	stop_watcher(&w);
	/* After a lazy unmount the path may name another mount by now: only
	 * a connection the kernel ended itself is safe to hand to libfuse,
	 * which then just closes it (and frees its copy of the path). */
	if (!atomic_load(&w.detached) || !atomic_load(&w.stopped))
		fuse_session_unmount(d->se);
	if (ret < 0) {
		log_printf(LOG_ERR, "session: %s", strerror(-ret));
		return 1;
	}
	return 0;
}

static void daemon_free(struct daemon *d)
{
	fuse_opt_free_args(&d->args);
	free(d->co.mountpoint);
	free(d->o.store);
	free(d->o.mnt);
	free(d->o.cache);
	free(d->o.flush_ms);
	free(d->o.compress);
	free(d->o.io_uring);
	free(d->o.io_uring_depth);
	free(d->store);
	free(d->mnt);
}

/* -o remount: the mount's flags (the atime ones from the atime option). */
static int remount(const struct options *o)
{
	static const unsigned long atimes = MS_NOATIME | MS_RELATIME | MS_STRICTATIME;
	static const unsigned long atime_flag[] = {
		[LFS_ATIME_NOATIME] = MS_NOATIME, [LFS_ATIME_RELATIME] = MS_RELATIME,
		[LFS_ATIME_STRICT] = MS_STRICTATIME,
	};
	struct remount_request r = { .store = o->store, .mnt = o->mnt,
				     .ro = o->ro_given ? o->ro : -1,
				     .set = o->ms_set, .clear = o->ms_clear };

	if (o->atime >= 0) {
		r.clear |= atimes;
		r.set = (r.set & ~atimes) | atime_flag[o->atime];
	}
	if (o->nodiratime >= 0)
		*(o->nodiratime ? &r.set : &r.clear) |= MS_NODIRATIME;
	return remount_run(&r);
}

/*
 * One malloc arena for every thread.  glibc gives threads arenas of their
 * own, and what one thread's leaves free stays in its arena, unused by
 * the others: readdir + lstat of 1M files with -o cache=64M left the
 * daemon at 110-250 MiB resident (72-152 MiB of it free but held by
 * malloc, different from run to run); with one arena 109-112 MiB (7-9
 * MiB free), and creates ran 1.35x faster (55k against 41k/s, 2 runs
 * each, alternating), stats within noise.  Memory must follow the cache
 * option (README, "Memory"), so one arena.  Under another allocator
 * (ASan's, a preloaded one) mallopt does nothing, which is that
 * allocator's business: nothing is said.
 */
static void malloc_one_arena(void)
{
	(void)mallopt(M_ARENA_MAX, 1);
}

int main(int argc, char *argv[])
{
	struct daemon d = { .ready_fd = -1 };
	int status = 1;
	malloc_one_arena();
	int ret = parse_args(&d, argc, argv);

	if (ret == 0 && d.o.remount) {
		status = remount(&d.o);
		daemon_free(&d);
		return status;
	}
	if (ret != 0 || new_session(&d) < 0) {
		daemon_free(&d);
		return ret > 0 ? 0 : 1;
	}
	if (!d.co.foreground)
		d.ready_fd = daemon_fork();
	openlog("larchfs", LOG_PID, LOG_DAEMON);
	if (open_store(&d) == 0) {
		status = mount_and_serve(&d);
		ret = lfs_unmount(d.ll.fs);
		if (ret < 0) {
			log_printf(LOG_ERR, "closing the store: %s", strerror(-ret));
			status = 1;
		}
	}
	fuse_session_destroy(d.se);
	daemon_free(&d);
	return status;
}
