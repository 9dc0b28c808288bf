/* SPDX-License-Identifier: MIT */
/*
 * difftest: randomized differential testing of larchfs against the host
 * filesystem (ext4 here), through real system calls.
 *
 *   difftest [--seed S] [--ops N] [--runs R | --soak SECONDS]
 *            [--larchfs BIN --mkfs BIN] [--mount-opts OPTS] [--mkfs-opts ARGS]
 *   difftest --mnt MNT --ref DIR [...]      (a larchfs already mounted)
 *   difftest --replay FILE [...]
 *
 * What it does.  From a seed it generates a sequence of filesystem
 * operations and runs each one on a larchfs workspace ("side A", a fresh
 * store formatted and mounted for the run) and on a directory of the host
 * filesystem ("side B", the reference), then compares the two results:
 * return value, errno, the bytes or names the call returned, and a summary
 * of the inodes the call named, read again afterwards.  A "check" op,
 * generated as every K-th op (--check-every), and every remount and the
 * end of a sequence compare the whole trees: names, types, modes, link counts, sizes, owners, file
 * contents byte by byte (on larchfs every third time with O_DIRECT, so
 * from the daemon rather than the page cache), symlink targets, xattrs and
 * ACLs, which names are hard links of one another, and the files still
 * held open (some of them unlinked).
 *
 * The operations: open with O_CREAT/O_EXCL/O_TRUNC/O_APPEND/O_DIRECTORY/
 * O_NOFOLLOW into six descriptor slots held across operations; pwrite,
 * write, pread, read (1 byte to 1 MiB, overlapping, at 4 KiB and 64 KiB
 * boundaries, past EOF, now and then past 4 GiB up to 8 TiB); lseek;
 * SEEK_DATA/SEEK_HOLE; ftruncate and truncate up and down; fallocate (0,
 * KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE, ZERO_RANGE|KEEP_SIZE, and
 * PUNCH_HOLE alone, which must fail); fsync, fdatasync; fstat;
 * copy_file_range; mkdir, rmdir, unlink; rename with 0, RENAME_NOREPLACE,
 * RENAME_EXCHANGE (and both, which must fail), of files and directories,
 * over existing names; link; symlink, readlink; mkfifo; chmod (suid, sgid,
 * sticky); chown; utimensat with explicit times (before 1970, after 2038,
 * nanoseconds), UTIME_NOW, UTIME_OMIT; set/get/remove/listxattr of user.
 * and trusted. names with XATTR_CREATE/XATTR_REPLACE, through paths,
 * descriptors and without following symlinks, including names that must
 * be refused; POSIX ACLs (access and default, some invalid); stat, lstat;
 * directory listings; directories of a couple of hundred entries with long
 * names (several readdir replies); and remounts.  One op in five runs as
 * another user (setfsuid/setfsgid: no capabilities), in a workspace that
 * is 01777, so permissions, the sticky bit, sgid inheritance and suid
 * clearing on write are exercised too.
 *
 * Operations are chosen by looking at the reference tree (to aim most of
 * them at names that exist), but each recorded operation is complete in
 * itself: replaying a sequence, or any subsequence, needs no generator.
 * So a run is replayable from its seed, and from a replay file.
 *
 * On the first divergence the sequence is shrunk: it is replayed on fresh
 * directories and a freshly formatted and mounted store, dropping chunks
 * of operations and then single ones (delta debugging) for as long as the
 * same kind of divergence still shows; the shortest sequence is printed
 * with both sides' results for every step and saved as a replay file.
 *
 * What is not compared, because ext4 and larchfs may legitimately differ:
 *  - st_ino, st_dev, st_blocks, st_blksize, atime, ctime, and st_size of
 *    directories (larchfs reports its entry count, ext4 its blocks).
 *    mtime is compared whenever either side holds an explicit one set by
 *    utimensat (outside 2008..2036): every change must then have moved it
 *    on both sides alike; atime and mtime right after utimensat.
 *  - SEEK_DATA/SEEK_HOLE offsets: holes may have a different granularity
 *    (ext4 counts preallocated extents as holes, larchfs stores zeros), so
 *    each side's answer is checked against what POSIX promises, with the
 *    file's bytes: ENXIO at or past EOF; a DATA offset in [off, size) with
 *    only zeros before it (ENXIO only when the rest is zeros); a HOLE
 *    offset in [off, size] that is EOF or starts a run of zeros up to the
 *    next data.  On directories not at all (their "size" differs).
 *  - Two timestamp rules where Linux filesystems disagree; the tester
 *    lets both sides converge after the op (see exec_op and exec_fd_op):
 *    truncate(2) to the current size (ext4 stamps mtime, Linux documents
 *    it does not), and fallocate that allocates without growing the file
 *    (ext4 stamps mtime, larchfs only ctime).  And fifo mtimes (pipe I/O
 *    never reaches a FUSE daemon).  (S_ISGID without group-exec after a
 *    write, truncate or chown by a non-member is compared: both clear it.
 *    The other users here have no supplementary groups, so the daemon
 *    knows every membership that decides.)
 *  - xattr values are kept under 700 bytes (ext4 keeps a file's xattrs in
 *    one block; larchfs allows 64 KiB each); only user., trusted. and
 *    system.posix_acl_* names are listed (the host may add security.).
 *  - Not generated: fallocate COLLAPSE/INSERT_RANGE (ext4 has them; Linux's
 *    FUSE refuses them before the daemon: generic/072), sizes at or past
 *    16 TiB (ext4's limit; tmpfs's and larchfs's is 2^63 - 1:
 *    generic/071), security. xattrs.
 *
 * Exit status: 0 no divergence, 1 a divergence (reported), 2 usage,
 * 3 the environment failed (mkfs, mount), 77 cannot run here (not root,
 * no /dev/fuse, no binaries).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "testrng.h"

/* ---- limits and pools ---------------------------------------------------- */

#define NSLOTS      6               /* descriptors held across operations */
#define MAXDEPTH    8               /* path components an op may name */
#define NSHORT      6               /* names a..f */
#define NNAMES      10              /* + a 255-byte name, a 256-byte one, and */
#define NAME255     6               /* two of bytes that are not plain ASCII */
#define NAME256     7
#define NAMEUTF     8
#define NAMECTL     9
#define IO_MAX      (1u << 20)      /* largest write, read, copy */
#define FILE_SPAN   (6u << 20)      /* offsets the generator aims at */
#define BIG_SPAN    (64ll << 20)    /* past this, files are compared sparsely */
#define XVAL_MAX    700             /* largest xattr value generated */
#define EXPLICIT_LO 1200000000LL    /* mtimes outside [LO, HI] were set by us */
#define EXPLICIT_HI 2100000000LL
#define OP_TIMEOUT  120             /* seconds before an op counts as hung */

static char name255[256], name256[257];
static const char *const short_names[NSHORT] = { "a", "b", "c", "d", "e", "f" };

static const char *name_of(unsigned i)
{
	return i < NSHORT ? short_names[i] : i == NAME255 ? name255 : i == NAME256 ? name256
	       : i == NAMEUTF ? "\xc3\xa9t\xc3\xa9 x" : "\x01*\xff\nz";
}

static int name_index(const char *name);

/* How names print in replay files: the long ones by their length. */
static const char *name_token(unsigned i)
{
	return i < NSHORT ? short_names[i] : i == NAME255 ? "L*255" : i == NAME256 ? "M*256"
	       : i == NAMEUTF ? "U*1" : "C*1";
}

/* Extended attribute names: valid ones, and some each filesystem must
 * refuse alike (too long, empty suffix, unknown namespace). */
#define NXNAMES 7
static char xname_long[256], xname_toolong[257];
static const char *xname_of(unsigned i)
{
	static const char *const fixed[] = { "user.a", "user.bb", "trusted.t",
					     NULL, NULL, "user.", "other.o" };
	return i == 3 ? xname_long : i == 4 ? xname_toolong : fixed[i];
}
static const char *const xname_tokens[NXNAMES] = {
	"user.a", "user.bb", "trusted.t", "user.x*200", "user.y*251", "user.",
	"other.o" };

static void pools_init(void)
{
	memset(name255, 'L', 255);
	memset(name256, 'M', 256);
	strcpy(xname_long, "user.");
	memset(xname_long + 5, 'x', 200);
	strcpy(xname_toolong, "user.");
	memset(xname_toolong + 5, 'y', 251);
}

/* Who an op runs as: filesystem uid and gid (setfsuid, which also drops
 * the capabilities that bypass permission checks) and the one group. */
#define NCREDS 5
static const struct { uid_t uid; gid_t gid; } creds[NCREDS] = {
	{ 0, 0 }, { 1000, 1000 }, { 1000, 65534 }, { 65534, 65534 }, { 2000, 1000 } };

/* ---- operations -------------------------------------------------------- */

struct path {
	uint8_t n;                  /* components; 0 is the workspace itself */
	uint8_t c[MAXDEPTH];        /* indices into the name pool */
};

enum kind {
	K_OPEN, K_CLOSE, K_PWRITE, K_WRITE, K_PREAD, K_READ, K_LSEEK, K_SEEKDH,
	K_FTRUNCATE, K_TRUNCATE, K_FALLOCATE, K_FSYNC, K_FSTAT, K_COPY,
	K_MKDIR, K_RMDIR, K_UNLINK, K_RENAME, K_LINK, K_SYMLINK, K_READLINK,
	K_MKNOD, K_CHMOD, K_CHOWN, K_UTIMENS, K_SETXATTR, K_GETXATTR,
	K_REMOVEXATTR, K_LISTXATTR, K_STAT, K_LISTDIR, K_REMOUNT, K_MKMANY, K_RMMANY,
	K_SETACL, K_CHECK, K_NKINDS
};

/* Fields an op of each kind uses (printing and parsing). */
#define F_SLOT   (1u << 0)
#define F_SLOT2  (1u << 1)
#define F_PATH   (1u << 2)
#define F_PATH2  (1u << 3)
#define F_FLAGS  (1u << 4)
#define F_MODE   (1u << 5)
#define F_OFF    (1u << 6)
#define F_OFF2   (1u << 7)
#define F_LEN    (1u << 8)
#define F_DATA   (1u << 9)
#define F_XNAME  (1u << 10)
#define F_OWNER  (1u << 11)
#define F_TIMES  (1u << 12)
#define F_TARGET (1u << 13)         /* slot or path (xattr calls) */

/* Our own flag bits, where the call has no O_ flags. */
#define DF_NOFOLLOW  (1 << 0)
#define DF_DATASYNC  (1 << 1)
#define DF_NOOFF     (1 << 2)       /* copy_file_range at the file positions */
#define DF_XCREATE   (1 << 3)
#define DF_XREPLACE  (1 << 4)
#define DF_ACLDEF    (1 << 5)       /* the default ACL, not the access one */
#define DF_ACLREMOVE (1 << 6)       /* remove it */

struct flagname { const char *name; int value; };

static const struct flagname open_flags[] = {
	{ "WRONLY", O_WRONLY }, { "RDWR", O_RDWR }, { "CREAT", O_CREAT },
	{ "EXCL", O_EXCL }, { "TRUNC", O_TRUNC }, { "APPEND", O_APPEND },
	{ "DIRECTORY", O_DIRECTORY }, { "NOFOLLOW", O_NOFOLLOW }, { NULL, 0 } };
static const struct flagname rename_flags[] = {
	{ "NOREPLACE", RENAME_NOREPLACE }, { "EXCHANGE", RENAME_EXCHANGE },
	{ NULL, 0 } };
static const struct flagname falloc_flags[] = {
	{ "KEEP_SIZE", FALLOC_FL_KEEP_SIZE }, { "PUNCH_HOLE", FALLOC_FL_PUNCH_HOLE },
	{ "ZERO_RANGE", FALLOC_FL_ZERO_RANGE }, { NULL, 0 } };
static const struct flagname whence_names[] = {   /* a value, not bits */
	{ "SET", SEEK_SET }, { "CUR", SEEK_CUR }, { "END", SEEK_END },
	{ "DATA", SEEK_DATA }, { "HOLE", SEEK_HOLE }, { NULL, 0 } };
static const struct flagname our_flags[] = {
	{ "NOFOLLOW", DF_NOFOLLOW }, { "DATASYNC", DF_DATASYNC },
	{ "NOOFF", DF_NOOFF }, { "CREATE", DF_XCREATE }, { "REPLACE", DF_XREPLACE },
	{ "DEFAULT", DF_ACLDEF }, { "REMOVE", DF_ACLREMOVE }, { NULL, 0 } };

static const struct kindinfo {
	const char *name;
	unsigned fields;
	const struct flagname *flags;   /* NULL: our_flags */
	bool whence;                    /* flags is one whence value */
} kinds[K_NKINDS] = {
	[K_OPEN]        = { "open", F_SLOT | F_PATH | F_FLAGS | F_MODE, open_flags, false },
	[K_CLOSE]       = { "close", F_SLOT, NULL, false },
	[K_PWRITE]      = { "pwrite", F_SLOT | F_OFF | F_LEN | F_DATA, NULL, false },
	[K_WRITE]       = { "write", F_SLOT | F_LEN | F_DATA, NULL, false },
	[K_PREAD]       = { "pread", F_SLOT | F_OFF | F_LEN, NULL, false },
	[K_READ]        = { "read", F_SLOT | F_LEN, NULL, false },
	[K_LSEEK]       = { "lseek", F_SLOT | F_OFF | F_FLAGS, whence_names, true },
	[K_SEEKDH]      = { "seek", F_SLOT | F_OFF | F_FLAGS, whence_names, true },
	[K_FTRUNCATE]   = { "ftruncate", F_SLOT | F_LEN, NULL, false },
	[K_TRUNCATE]    = { "truncate", F_PATH | F_LEN, NULL, false },
	[K_FALLOCATE]   = { "fallocate", F_SLOT | F_FLAGS | F_OFF | F_LEN, falloc_flags, false },
	[K_FSYNC]       = { "fsync", F_SLOT | F_FLAGS, NULL, false },
	[K_FSTAT]       = { "fstat", F_SLOT, NULL, false },
	[K_COPY]        = { "copy_file_range",
			    F_SLOT | F_OFF | F_SLOT2 | F_OFF2 | F_LEN | F_FLAGS, NULL, false },
	[K_MKDIR]       = { "mkdir", F_PATH | F_MODE, NULL, false },
	[K_RMDIR]       = { "rmdir", F_PATH, NULL, false },
	[K_UNLINK]      = { "unlink", F_PATH, NULL, false },
	[K_RENAME]      = { "rename", F_PATH | F_PATH2 | F_FLAGS, rename_flags, false },
	[K_LINK]        = { "link", F_PATH | F_PATH2, NULL, false },
	[K_SYMLINK]     = { "symlink", F_PATH | F_PATH2, NULL, false },
	[K_READLINK]    = { "readlink", F_PATH, NULL, false },
	[K_MKNOD]       = { "mknod", F_PATH | F_MODE | F_OFF, NULL, false },
	[K_CHMOD]       = { "chmod", F_TARGET | F_MODE, NULL, false },
	[K_CHOWN]       = { "chown", F_TARGET | F_OWNER | F_FLAGS, NULL, false },
	[K_UTIMENS]     = { "utimensat", F_TARGET | F_TIMES | F_FLAGS, NULL, false },
	[K_SETXATTR]    = { "setxattr", F_TARGET | F_XNAME | F_LEN | F_DATA | F_FLAGS, NULL, false },
	[K_GETXATTR]    = { "getxattr", F_TARGET | F_XNAME | F_LEN | F_FLAGS, NULL, false },
	[K_REMOVEXATTR] = { "removexattr", F_TARGET | F_XNAME | F_FLAGS, NULL, false },
	[K_LISTXATTR]   = { "listxattr", F_TARGET | F_LEN | F_FLAGS, NULL, false },
	[K_STAT]        = { "stat", F_PATH | F_FLAGS, NULL, false },
	[K_LISTDIR]     = { "listdir", F_PATH, NULL, false },
	[K_REMOUNT]     = { "remount", 0, NULL, false },
	[K_MKMANY]      = { "mkmany", F_PATH | F_LEN, NULL, false },
	[K_RMMANY]      = { "rmmany", F_PATH, NULL, false },
	[K_SETACL]      = { "setacl", F_PATH | F_DATA | F_FLAGS, NULL, false },
	[K_CHECK]       = { "check", 0, NULL, false },
};

enum pattern { PAT_RAND, PAT_ZERO, PAT_REPEAT, PAT_SPARSE, PAT_N };
static const char *const pat_names[PAT_N] = { "rand", "zero", "repeat", "sparse" };

/*
 * One operation, complete in itself.  symlink: p2 is the target (n == 0:
 * the empty string), p the link.  Xattr calls go through slot when it is
 * >= 0, else through p.  A closed slot is descriptor -1: the call fails
 * with EBADF on both sides, which is a valid comparison too.
 */
struct op {
	uint8_t kind, pat, xname;
	uint8_t as;                 /* run as creds[as] (0: root) */
	uint8_t atslot;             /* paths from the directory open in slot
				     * atslot - 1 (0: from the workspace) */
	int8_t slot, slot2;
	struct path p, p2;
	int32_t flags;
	uint32_t mode;
	int64_t off, off2, len;
	uint64_t seed;
	int64_t uid, gid;
	struct timespec at, mt;     /* tv_nsec may be UTIME_NOW / UTIME_OMIT */
};

struct opvec {
	struct op *v;
	size_t n, cap;
};

static void opvec_push(struct opvec *ov, const struct op *o)
{
	if (ov->n == ov->cap) {
		ov->cap = ov->cap ? ov->cap * 2 : 256;
		ov->v = realloc(ov->v, ov->cap * sizeof(*ov->v));
		if (!ov->v) {
			perror("difftest: realloc");
			exit(3);
		}
	}
	ov->v[ov->n++] = *o;
}

/* ---- small helpers ------------------------------------------------------- */

struct strbuf {
	char *s;
	size_t len, cap;
};

static void sb_addn(struct strbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->s = realloc(b->s, cap);
		if (!b->s) {
			perror("difftest: realloc");
			exit(3);
		}
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_printf(struct strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(tmp) - 1)
		n = sizeof(tmp) - 1;
	sb_addn(b, tmp, (size_t)n);
}

static void sb_reset(struct strbuf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

/* snprintf for paths: too long a path is a bug here, so it aborts. */
static void pathf(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void pathf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "difftest: path too long: %s\n", buf);
		exit(3);
	}
}

static const char *errname(int e)
{
	const char *n = e ? strerrorname_np(e) : "0";
	return n ? n : "E?";
}

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *xmalloc(size_t n)
{
	void *p = NULL;
	if (posix_memalign(&p, 4096, n ? n : 1)) {
		fprintf(stderr, "difftest: out of memory\n");
		exit(3);
	}
	return p;
}

/* Renders a path relative to the workspace, with the real names. */
static void path_render(const struct path *p, char *buf, size_t cap)
{
	size_t len = 0;
	if (p->n == 0) {
		snprintf(buf, cap, ".");
		return;
	}
	buf[0] = '\0';
	for (unsigned i = 0; i < p->n && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "/" : "",
					name_of(p->c[i]));
}

/* The same with the long names as tokens, for people and replay files. */
static void path_print(const struct path *p, char *buf, size_t cap)
{
	size_t len = 0;
	if (p->n == 0) {
		snprintf(buf, cap, ".");
		return;
	}
	buf[0] = '\0';
	for (unsigned i = 0; i < p->n && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "/" : "",
					name_token(p->c[i]));
}

static bool path_parse(const char *s, struct path *p)
{
	memset(p, 0, sizeof(*p));
	if (!strcmp(s, "."))
		return true;
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s", s);
	for (char *save = NULL, *t = strtok_r(tmp, "/", &save); t;
	     t = strtok_r(NULL, "/", &save)) {
		unsigned i;
		for (i = 0; i < NNAMES && strcmp(t, name_token(i)); i++)
			;
		if (i == NNAMES || p->n == MAXDEPTH)
			return false;
		p->c[p->n++] = (uint8_t)i;
	}
	return true;
}

/* Fills buf with len bytes of pattern pat from seed, as at file offset 0
 * of the write (so that a write is the same bytes wherever it lands). */
static void data_fill(uint8_t *buf, size_t len, unsigned pat, uint64_t seed)
{
	uint64_t s = seed;
	switch (pat) {
	case PAT_ZERO:
		memset(buf, 0, len);
		break;
	case PAT_REPEAT:
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(seed + i / 97);
		break;
	case PAT_SPARSE:
		memset(buf, 0, len);
		for (size_t i = 0; i < len; i += 1 + rng_below(&s, 8192))
			buf[i] = (uint8_t)(1 + rng_below(&s, 255));
		break;
	default:
		for (size_t i = 0; i < len; i += 8) {
			uint64_t v = rng_next(&s);
			memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
		}
		break;
	}
}

/* ---- printing and parsing ops ------------------------------------------- */

static void flags_print(struct strbuf *b, const struct kindinfo *k, int flags)
{
	const struct flagname *t = k->flags ? k->flags : our_flags;
	if (k->whence) {
		for (; t->name; t++)
			if (t->value == flags) {
				sb_printf(b, " whence=%s", t->name);
				return;
			}
		sb_printf(b, " whence=%d", flags);
		return;
	}
	sb_printf(b, " flags=");
	bool any = false;
	if (t == open_flags && (flags & O_ACCMODE) == O_RDONLY) {
		sb_printf(b, "RDONLY");
		any = true;
	}
	int rest = flags;
	for (; t->name; t++)
		if ((flags & t->value) == t->value && t->value) {
			sb_printf(b, "%s%s", any ? "|" : "", t->name);
			rest &= ~t->value;
			any = true;
		}
	if (rest)
		sb_printf(b, "%s0x%x", any ? "|" : "", (unsigned)rest);
	else if (!any)
		sb_printf(b, "0");
}

static void time_print(struct strbuf *b, const char *key, const struct timespec *t)
{
	if (t->tv_nsec == UTIME_NOW)
		sb_printf(b, " %s=now", key);
	else if (t->tv_nsec == UTIME_OMIT)
		sb_printf(b, " %s=omit", key);
	else
		sb_printf(b, " %s=%lld.%09ld", key, (long long)t->tv_sec, t->tv_nsec);
}

/* One line, "kind key=value ...", that op_parse reads back. */
static void op_print(struct strbuf *b, const struct op *o)
{
	const struct kindinfo *k = &kinds[o->kind];
	char p[PATH_MAX];
	sb_printf(b, "%s", k->name);
	if ((k->fields & F_SLOT) || ((k->fields & F_TARGET) && o->slot >= 0))
		sb_printf(b, " fd=%d", o->slot);
	if ((k->fields & F_PATH) || ((k->fields & F_TARGET) && o->slot < 0)) {
		path_print(&o->p, p, sizeof(p));
		sb_printf(b, " path=%s", p);
	}
	if (k->fields & F_PATH2) {
		path_print(&o->p2, p, sizeof(p));
		if (o->kind == K_SYMLINK)
			sb_printf(b, " target=%s", o->p2.n ? p : "''");
		else
			sb_printf(b, " to=%s", p);
	}
	if (k->fields & F_SLOT2)
		sb_printf(b, " fd_out=%d", o->slot2);
	if (k->fields & F_OFF)
		sb_printf(b, " %s=%" PRId64, o->kind == K_COPY ? "off_in" : o->kind == K_MKNOD
			  ? "rdev" : "off", o->off);
	if (k->fields & F_OFF2)
		sb_printf(b, " off_out=%" PRId64, o->off2);
	if (k->fields & F_XNAME)
		sb_printf(b, " name=%s", xname_tokens[o->xname]);
	if (k->fields & F_LEN)
		sb_printf(b, " len=%" PRId64, o->len);
	if (k->fields & F_DATA)
		sb_printf(b, " data=%s:%" PRIx64, pat_names[o->pat], o->seed);
	if (k->fields & F_MODE)
		sb_printf(b, " mode=0%o", o->mode);
	if (k->fields & F_OWNER)
		sb_printf(b, " uid=%" PRId64 " gid=%" PRId64, o->uid, o->gid);
	if (k->fields & F_TIMES) {
		time_print(b, "atime", &o->at);
		time_print(b, "mtime", &o->mt);
	}
	if (k->fields & F_FLAGS)
		flags_print(b, k, o->flags);
	if (o->as)
		sb_printf(b, " as=%u:%u", (unsigned)creds[o->as].uid, (unsigned)creds[o->as].gid);
	if (o->atslot)
		sb_printf(b, " at=fd%d", o->atslot - 1);
}

static bool flags_parse(const struct kindinfo *k, const char *v, int *out)
{
	const struct flagname *t = k->flags ? k->flags : our_flags;
	char tmp[256];
	*out = 0;
	snprintf(tmp, sizeof(tmp), "%s", v);
	for (char *save = NULL, *w = strtok_r(tmp, "|", &save); w;
	     w = strtok_r(NULL, "|", &save)) {
		const struct flagname *f;
		if (t == open_flags && !strcmp(w, "RDONLY"))
			continue;
		for (f = t; f->name && strcmp(f->name, w); f++)
			;
		if (f->name)
			*out |= f->value;
		else if (isdigit((unsigned char)w[0]) || w[0] == '-')
			*out |= (int)strtol(w, NULL, 0);
		else
			return false;
	}
	return true;
}

static bool time_parse(const char *v, struct timespec *t)
{
	if (!strcmp(v, "now")) {
		*t = (struct timespec){ 0, UTIME_NOW };
		return true;
	}
	if (!strcmp(v, "omit")) {
		*t = (struct timespec){ 0, UTIME_OMIT };
		return true;
	}
	char *end;
	t->tv_sec = strtoll(v, &end, 10);
	t->tv_nsec = *end == '.' ? strtol(end + 1, &end, 10) : 0;
	return *end == '\0';
}

/* Parses op_print's line; false (with *why) when it is not one. */
static bool op_parse(char *line, struct op *o, const char **why)
{
	memset(o, 0, sizeof(*o));
	o->slot = o->slot2 = -1;
	char *save = NULL, *w = strtok_r(line, " \t\n", &save);
	unsigned k;
	*why = "unknown operation";
	for (k = 0; k < K_NKINDS && strcmp(kinds[k].name, w); k++)
		;
	if (k == K_NKINDS)
		return false;
	o->kind = (uint8_t)k;
	while ((w = strtok_r(NULL, " \t\n", &save))) {
		char *eq = strchr(w, '=');
		*why = "expected key=value";
		if (!eq)
			return false;
		*eq = '\0';
		const char *key = w, *v = eq + 1;
		bool ok = true;
		*why = "bad value";
		if (!strcmp(key, "fd"))
			o->slot = (int8_t)atoi(v);
		else if (!strcmp(key, "fd_out"))
			o->slot2 = (int8_t)atoi(v);
		else if (!strcmp(key, "path"))
			ok = path_parse(v, &o->p);
		else if (!strcmp(key, "to"))
			ok = path_parse(v, &o->p2);
		else if (!strcmp(key, "target"))
			ok = !strcmp(v, "''") ? (memset(&o->p2, 0, sizeof(o->p2)), true)
					      : path_parse(v, &o->p2);
		else if (!strcmp(key, "off") || !strcmp(key, "off_in") || !strcmp(key, "rdev"))
			o->off = strtoll(v, NULL, 10);
		else if (!strcmp(key, "off_out"))
			o->off2 = strtoll(v, NULL, 10);
		else if (!strcmp(key, "len"))
			o->len = strtoll(v, NULL, 10);
		else if (!strcmp(key, "mode"))
			o->mode = (uint32_t)strtoul(v, NULL, 8);
		else if (!strcmp(key, "uid"))
			o->uid = strtoll(v, NULL, 10);
		else if (!strcmp(key, "gid"))
			o->gid = strtoll(v, NULL, 10);
		else if (!strcmp(key, "atime"))
			ok = time_parse(v, &o->at);
		else if (!strcmp(key, "mtime"))
			ok = time_parse(v, &o->mt);
		else if (!strcmp(key, "flags") || !strcmp(key, "whence")) {
			int f;
			if (kinds[k].whence) {
				const struct flagname *t;
				for (t = whence_names; t->name && strcmp(t->name, v); t++)
					;
				f = t->name ? t->value : atoi(v);
			} else {
				ok = flags_parse(&kinds[k], v, &f);
			}
			o->flags = f;
		} else if (!strcmp(key, "at")) {
			int slot = -1;
			ok = sscanf(v, "fd%d", &slot) == 1 && slot >= 0 && slot < NSLOTS;
			o->atslot = (uint8_t)(slot + 1);
		} else if (!strcmp(key, "as")) {
			unsigned u, g2, i;
			ok = sscanf(v, "%u:%u", &u, &g2) == 2;
			for (i = 0; ok && i < NCREDS && (creds[i].uid != u || creds[i].gid != g2); i++)
				;
			ok = ok && i < NCREDS;
			o->as = (uint8_t)i;
		} else if (!strcmp(key, "name")) {
			unsigned i;
			for (i = 0; i < NXNAMES && strcmp(xname_tokens[i], v); i++)
				;
			ok = i < NXNAMES;
			o->xname = (uint8_t)i;
		} else if (!strcmp(key, "data")) {
			const char *colon = strchr(v, ':');
			unsigned i;
			ok = colon != NULL;
			for (i = 0; ok && i < PAT_N &&
				    strncmp(pat_names[i], v, (size_t)(colon - v)); i++)
				;
			ok = ok && i < PAT_N;
			o->pat = (uint8_t)i;
			if (ok)
				o->seed = strtoull(colon + 1, NULL, 16);
		} else {
			*why = "unknown key";
			ok = false;
		}
		if (!ok)
			return false;
	}
	if (o->slot >= NSLOTS || o->slot2 >= NSLOTS) {
		*why = "fd slot out of range";
		return false;
	}
	return true;
}

/* ---- the two sides --------------------------------------------------------- */

struct side {
	const char *label;          /* "larchfs" or "ref" */
	char root[PATH_MAX];        /* the workspace, absolute */
	int dfd;                    /* the workspace, open */
	int fd[NSLOTS];
	bool is_larchfs;
};

/* What an operation did on one side. */
struct result {
	long long ret;
	int err;
	struct strbuf out;          /* what it returned: bytes, names, a stat */
	struct strbuf post;         /* the inodes it named, afterwards */
	int touch_fd;               /* >= 0: move this file's mtime to now, as
				     * root, after the op (see exec_op_user) */
};

static void result_free(struct result *r)
{
	free(r->out.s);
	free(r->post.s);
	r->out = r->post = (struct strbuf){ 0 };
}

static void side_close_fds(struct side *s)
{
	for (int i = 0; i < NSLOTS; i++) {
		if (s->fd[i] >= 0)
			close(s->fd[i]);
		s->fd[i] = -1;
	}
}

static void abspath(const struct side *s, const struct path *p, char *buf, size_t cap)
{
	char rel[PATH_MAX];
	path_render(p, rel, sizeof(rel));
	pathf(buf, cap, "%s/%s", s->root, rel);
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "reg";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "lnk";
	case S_IFIFO: return "fifo";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	case S_IFSOCK: return "sock";
	}
	return "?";
}

static bool explicit_time(const struct timespec *t)
{
	return t->tv_sec < EXPLICIT_LO || t->tv_sec > EXPLICIT_HI;
}

/*
 * The part of a stat that both filesystems must agree on: type, mode,
 * nlink, size (not of directories), owner, and mtime when it is one we
 * set explicitly (then both must still hold it, or both have moved on).
 */
static void stat_summary(struct strbuf *b, int rc, int err, const struct stat *st)
{
	if (rc < 0) {
		sb_printf(b, "%s", errname(err));
		return;
	}
	sb_printf(b, "%s %04o nlink=%lu", type_name(st->st_mode),
		  (unsigned)(st->st_mode & 07777), (unsigned long)st->st_nlink);
	if (!S_ISDIR(st->st_mode))
		sb_printf(b, " size=%lld", (long long)st->st_size);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		sb_printf(b, " rdev=%u:%u", major(st->st_rdev), minor(st->st_rdev));
	sb_printf(b, " uid=%u gid=%u", (unsigned)st->st_uid, (unsigned)st->st_gid);
	/* (not of fifos: pipe I/O stamps the inode in the kernel, which a
	 * FUSE filesystem's fifos never see) */
	if (explicit_time(&st->st_mtim) && !S_ISFIFO(st->st_mode))
		sb_printf(b, " mtime=%lld.%09ld", (long long)st->st_mtim.tv_sec,
			  st->st_mtim.tv_nsec);
}

static void post_path(struct side *s, const struct path *p, bool follow, struct strbuf *b)
{
	char rel[PATH_MAX];
	struct stat st;
	path_render(p, rel, sizeof(rel));
	int rc = fstatat(s->dfd, rel, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW);
	stat_summary(b, rc, errno, &st);
}

static void post_fd(int fd, struct strbuf *b)
{
	struct stat st;
	int rc = fstat(fd, &st);
	stat_summary(b, rc, errno, &st);
}

/* Are bytes [from, to) of fd all zero?  *at gets the first that is not. */
static bool zeros(int fd, off_t from, off_t to, uint8_t *buf, off_t *at)
{
	/* a range of a huge sparse file: its two ends only */
	if (to - from > BIG_SPAN)
		return zeros(fd, from, from + BIG_SPAN / 2, buf, at) &&
		       zeros(fd, to - BIG_SPAN / 2, to, buf, at);
	while (from < to) {
		size_t want = (size_t)(to - from) < IO_MAX ? (size_t)(to - from) : IO_MAX;
		ssize_t n = pread(fd, buf, want, from);
		if (n <= 0) {
			*at = -1;
			return false;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i]) {
				*at = from + i;
				return false;
			}
		from += n;
	}
	return true;
}

/*
 * SEEK_DATA / SEEK_HOLE: checks one side's answer against what POSIX
 * promises, given the file's bytes (see the head of the file).  Writes
 * "valid" or why not to r->out, and leaves ret/err comparable only when
 * the file is not a regular one.
 */
static void seek_judge(int fd, int whence, off_t off, off_t ret, int err,
		       struct result *r, uint8_t *buf)
{
	struct stat st;
	char self[64];
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* a directory's "size" is the filesystem's own business (ext4:
		 * LLONG_MAX for hashed directories; larchfs: its entry count) */
		sb_printf(&r->out, "directory: not compared");
		return;
	}
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r->ret = ret;
		r->err = err;
		return;
	}
	r->ret = 0;
	r->err = 0;
	pathf(self, sizeof(self), "/proc/self/fd/%d", fd);
	int rfd = open(self, O_RDONLY | O_CLOEXEC);
	off_t size = st.st_size, at = -1;
	const char *what = whence == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE";
	if (rfd < 0) {
		sb_printf(&r->out, "cannot reopen: %s", errname(errno));
		return;
	}
	if (off >= size) {
		if (ret != -1 || err != ENXIO)
			sb_printf(&r->out, "INVALID: %s at %lld >= size %lld gave %lld %s, not ENXIO",
				  what, (long long)off, (long long)size, (long long)ret,
				  ret < 0 ? errname(err) : "");
		else
			sb_printf(&r->out, "valid");
	} else if (whence == SEEK_DATA) {
		if (ret == -1 && err != ENXIO)
			sb_printf(&r->out, "INVALID: SEEK_DATA at %lld failed: %s",
				  (long long)off, errname(err));
		else if (ret == -1 && !zeros(rfd, off, size, buf, &at))
			sb_printf(&r->out, "INVALID: SEEK_DATA at %lld said ENXIO, but byte %lld "
				  "is not zero (size %lld)", (long long)off, (long long)at,
				  (long long)size);
		else if (ret != -1 && (ret < off || ret >= size))
			sb_printf(&r->out, "INVALID: SEEK_DATA at %lld gave %lld, outside "
				  "[%lld, size %lld)", (long long)off, (long long)ret,
				  (long long)off, (long long)size);
		else if (ret != -1 && !zeros(rfd, off, ret, buf, &at))
			sb_printf(&r->out, "INVALID: SEEK_DATA at %lld gave %lld, skipping the "
				  "non-zero byte %lld", (long long)off, (long long)ret,
				  (long long)at);
		else
			sb_printf(&r->out, "valid");
	} else {
		off_t next = ret >= 0 && ret < size ? lseek(rfd, ret, SEEK_DATA) : size;
		if (next < 0)
			next = size;
		if (ret == -1)
			sb_printf(&r->out, "INVALID: SEEK_HOLE at %lld < size %lld failed: %s",
				  (long long)off, (long long)size, errname(err));
		else if (ret < off || ret > size)
			sb_printf(&r->out, "INVALID: SEEK_HOLE at %lld gave %lld, outside "
				  "[%lld, size %lld]", (long long)off, (long long)ret,
				  (long long)off, (long long)size);
		else if (ret < size && next <= ret)
			sb_printf(&r->out, "INVALID: SEEK_HOLE at %lld gave %lld, where "
				  "SEEK_DATA finds data", (long long)off, (long long)ret);
		else if (ret < size && !zeros(rfd, ret, next, buf, &at))
			sb_printf(&r->out, "INVALID: SEEK_HOLE at %lld gave a hole [%lld, %lld) "
				  "holding the non-zero byte %lld", (long long)off,
				  (long long)ret, (long long)next, (long long)at);
		else
			sb_printf(&r->out, "valid");
	}
	close(rfd);
}

/* Sorted, "\n"-separated names of directory rel (without . and ..). */
static int strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_names(int dfd, const char *rel, char ***names, size_t *n)
{
	int fd = openat(dfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	*names = NULL;
	*n = 0;
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	size_t cap = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*names = realloc(*names, cap * sizeof(char *));
		}
		(*names)[(*n)++] = strdup(de->d_name);
	}
	int e = errno;
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(char *), strcmp_p);
	return -e;
}

static void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Shows a name in messages: the long ones by length. */
static const char *name_show(const char *name, char *buf, size_t cap)
{
	size_t n = strlen(name);
	if (n <= 40)
		return name;
	snprintf(buf, cap, "%.8s...(%zu bytes)", name, n);
	return buf;
}

static void xattr_list_sorted(const char *list, ssize_t n, struct strbuf *b)
{
	const char *v[128];
	size_t k = 0;
	for (ssize_t i = 0; i < n && k < 128; i += (ssize_t)strlen(list + i) + 1)
		v[k++] = list + i;
	qsort(v, k, sizeof(v[0]), strcmp_p);
	for (size_t i = 0; i < k; i++) {
		char tmp[64];
		sb_printf(b, "%s%s", i ? "," : "", name_show(v[i], tmp, sizeof(tmp)));
	}
}

/*
 * A POSIX ACL in its xattr form (u32 version 2, then {u16 tag, u16 perm,
 * u32 id} entries in tag order), made from seed: random permissions,
 * up to two named users and groups, the mask they need; one in twenty is
 * invalid (out of order, or without OTHER) and must be refused alike.
 * Returns its length.
 */
static size_t acl_make(uint64_t seed, uint8_t *buf)
{
	static const uint32_t uids[] = { 1000, 2000 }, gids[] = { 1000, 65534 };
	uint64_t s = seed;
	uint32_t e[8][3];                /* tag, perm, id */
	size_t n = 0;
	unsigned nu = (unsigned)rng_below(&s, 3), ng = (unsigned)rng_below(&s, 3);
	e[n][0] = 0x01, e[n][1] = (uint32_t)rng_below(&s, 8), e[n++][2] = ~0u;
	for (unsigned i = 0; i < nu; i++) {
		e[n][0] = 0x02, e[n][1] = (uint32_t)rng_below(&s, 8);
		e[n++][2] = uids[nu == 1 ? rng_below(&s, 2) : i];
	}
	e[n][0] = 0x04, e[n][1] = (uint32_t)rng_below(&s, 8), e[n++][2] = ~0u;
	for (unsigned i = 0; i < ng; i++) {
		e[n][0] = 0x08, e[n][1] = (uint32_t)rng_below(&s, 8);
		e[n++][2] = gids[ng == 1 ? rng_below(&s, 2) : i];
	}
	if (nu + ng || rng_below(&s, 10) == 0)
		e[n][0] = 0x10, e[n][1] = (uint32_t)rng_below(&s, 8), e[n++][2] = ~0u;
	e[n][0] = 0x20, e[n][1] = (uint32_t)rng_below(&s, 8), e[n++][2] = ~0u;
	if (rng_below(&s, 20) == 0) {
		if (rng_below(&s, 2)) {
			n--;                         /* no OTHER */
		} else {
			uint32_t t[3];               /* GROUP_OBJ before USER_OBJ */
			memcpy(t, e[0], sizeof(t));
			memcpy(e[0], e[1 + nu], sizeof(t));
			memcpy(e[1 + nu], t, sizeof(t));
		}
	}
	uint32_t v = 2;
	memcpy(buf, &v, 4);
	for (size_t i = 0; i < n; i++) {
		uint16_t tag = (uint16_t)e[i][0], perm = (uint16_t)e[i][1];
		memcpy(buf + 4 + 8 * i, &tag, 2);
		memcpy(buf + 6 + 8 * i, &perm, 2);
		memcpy(buf + 8 + 8 * i, &e[i][2], 4);
	}
	return 4 + 8 * n;
}

/* ---- executing an operation on one side ------------------------------------- */

static int fd_of(const struct side *s, int slot)
{
	return slot >= 0 && slot < NSLOTS ? s->fd[slot] : -1;
}

static void exec_xattr(struct side *s, const struct op *o, struct result *r, uint8_t *buf)
{
	char path[PATH_MAX];
	int fd = o->slot >= 0 ? fd_of(s, o->slot) : -2;
	bool nofollow = o->flags & DF_NOFOLLOW;
	const char *name = xname_of(o->xname);
	ssize_t n = 0;
	if (fd == -2)
		abspath(s, &o->p, path, sizeof(path));
	switch (o->kind) {
	case K_SETXATTR: {
		int xf = (o->flags & DF_XCREATE ? XATTR_CREATE : 0) |
			 (o->flags & DF_XREPLACE ? XATTR_REPLACE : 0);
		data_fill(buf, (size_t)o->len, o->pat, o->seed);
		n = fd != -2 ? fsetxattr(fd, name, buf, (size_t)o->len, xf)
		    : nofollow ? lsetxattr(path, name, buf, (size_t)o->len, xf)
			       : setxattr(path, name, buf, (size_t)o->len, xf);
		break;
	}
	case K_GETXATTR:
		n = fd != -2 ? fgetxattr(fd, name, buf, (size_t)o->len)
		    : nofollow ? lgetxattr(path, name, buf, (size_t)o->len)
			       : getxattr(path, name, buf, (size_t)o->len);
		if (n > 0 && o->len > 0)
			sb_addn(&r->out, buf, (size_t)n);
		break;
	case K_REMOVEXATTR:
		n = fd != -2 ? fremovexattr(fd, name)
		    : nofollow ? lremovexattr(path, name) : removexattr(path, name);
		break;
	case K_LISTXATTR:
		n = fd != -2 ? flistxattr(fd, (char *)buf, (size_t)o->len)
		    : nofollow ? llistxattr(path, (char *)buf, (size_t)o->len)
			       : listxattr(path, (char *)buf, (size_t)o->len);
		if (n > 0 && o->len > 0)
			xattr_list_sorted((char *)buf, n, &r->out);
		break;
	}
	r->ret = n;
	r->err = n < 0 ? errno : 0;
}

static void exec_fd_op(struct side *s, const struct op *o, struct result *r, uint8_t *buf)
{
	int fd = fd_of(s, o->slot);
	long long n = 0;
	switch (o->kind) {
	case K_CLOSE:
		n = close(fd);
		if (o->slot >= 0 && o->slot < NSLOTS)
			s->fd[o->slot] = -1;
		break;
	case K_PWRITE:
		data_fill(buf, (size_t)o->len, o->pat, o->seed);
		n = pwrite(fd, buf, (size_t)o->len, o->off);
		break;
	case K_WRITE:
		data_fill(buf, (size_t)o->len, o->pat, o->seed);
		n = write(fd, buf, (size_t)o->len);
		break;
	case K_PREAD:
		n = pread(fd, buf, (size_t)o->len, o->off);
		if (n > 0)
			sb_addn(&r->out, buf, (size_t)n);
		break;
	case K_READ:
		n = read(fd, buf, (size_t)o->len);
		if (n > 0)
			sb_addn(&r->out, buf, (size_t)n);
		break;
	case K_LSEEK: {
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			/* directory offsets and sizes are each filesystem's own:
			 * not even moved, since reads would then differ */
			sb_printf(&r->out, "directory: not compared");
			n = 0;
			break;
		}
		n = lseek(fd, o->off, o->flags);
		break;
	}
	case K_SEEKDH: {
		off_t pos = fd >= 0 ? lseek(fd, 0, SEEK_CUR) : -1;
		n = lseek(fd, o->off, o->flags);
		int e = errno;
		seek_judge(fd, o->flags, o->off, n, e, r, buf);
		if (pos >= 0)
			lseek(fd, pos, SEEK_SET);   /* the offsets may differ */
		return;
	}
	case K_FTRUNCATE:
		n = ftruncate(fd, o->len);
		break;
	case K_FALLOCATE: {
		struct stat st, st2;
		bool before = fd >= 0 && fstat(fd, &st) == 0 && explicit_time(&st.st_mtim);
		n = fallocate(fd, o->flags, o->off, o->len);
		/* Allocating without growing the file: ext4 stamps mtime,
		 * larchfs only ctime (POSIX says nothing).  Let mtime move on
		 * both sides alike. */
		if (n == 0 && before && !(o->flags & ~FALLOC_FL_KEEP_SIZE) &&
		    fstat(fd, &st2) == 0 && st2.st_size == st.st_size)
			r->touch_fd = dup(fd);
		break;
	}
	case K_FSYNC:
		n = o->flags & DF_DATASYNC ? fdatasync(fd) : fsync(fd);
		break;
	case K_FSTAT:
		break;                       /* post says it all */
	case K_COPY: {
		int out = fd_of(s, o->slot2);
		loff_t in_off = o->off, out_off = o->off2;
		if (o->flags & DF_NOOFF)
			n = copy_file_range(fd, NULL, out, NULL, (size_t)o->len, 0);
		else
			n = copy_file_range(fd, &in_off, out, &out_off, (size_t)o->len, 0);
		r->ret = n;
		r->err = n < 0 ? errno : 0;
		return;
	}
	}
	r->ret = n;
	r->err = n < 0 ? errno : 0;
}

/* Runs op o on side s (not K_REMOUNT, which is the runner's); buf is
 * scratch of at least IO_MAX bytes. */
static void exec_op_as(struct side *s, const struct op *o, struct result *r, uint8_t *buf)
{
	char rel[PATH_MAX], rel2[PATH_MAX], path[PATH_MAX];
	bool nofollow = o->flags & DF_NOFOLLOW;
	int rc = 0;

	r->ret = 0;
	r->err = 0;
	r->touch_fd = -1;
	sb_reset(&r->out);
	sb_reset(&r->post);
	path_render(&o->p, rel, sizeof(rel));
	path_render(&o->p2, rel2, sizeof(rel2));
	errno = 0;
	switch (o->kind) {
	case K_OPEN: {
		int slot = o->slot;
		if (slot < 0 || slot >= NSLOTS) {
			r->ret = -1;
			r->err = EBADF;
			return;
		}
		if (s->fd[slot] >= 0)
			close(s->fd[slot]);
		s->fd[slot] = -1;
		/* Device nodes are not opened: larchfs is mounted nodev, the
		 * reference directory is not. */
		struct stat dst;
		if (fstatat(s->dfd, rel, &dst, o->flags & O_NOFOLLOW ? AT_SYMLINK_NOFOLLOW : 0) == 0 &&
		    (S_ISCHR(dst.st_mode) || S_ISBLK(dst.st_mode))) {
			sb_printf(&r->out, "a device node: not opened");
			r->ret = -1;
			r->err = ENXIO;
			return;
		}
		/* O_NONBLOCK: opening a fifo must not wait for a peer */
		s->fd[slot] = openat(s->dfd, rel, o->flags | O_NONBLOCK | O_CLOEXEC,
				     o->mode);
		r->ret = s->fd[slot] >= 0 ? 0 : -1;
		r->err = s->fd[slot] >= 0 ? 0 : errno;
		return;
	}
	case K_CLOSE: case K_PWRITE: case K_WRITE: case K_PREAD: case K_READ:
	case K_LSEEK: case K_SEEKDH: case K_FTRUNCATE: case K_FALLOCATE:
	case K_FSYNC: case K_FSTAT: case K_COPY:
		exec_fd_op(s, o, r, buf);
		return;
	case K_SETXATTR: case K_GETXATTR: case K_REMOVEXATTR: case K_LISTXATTR:
		exec_xattr(s, o, r, buf);
		return;
	case K_TRUNCATE: {
		struct stat st;
		bool same = fstatat(s->dfd, rel, &st, 0) == 0 && st.st_size == o->len &&
			    explicit_time(&st.st_mtim);
		abspath(s, &o->p, path, sizeof(path));
		rc = truncate(path, o->len);
		/* truncate(2) to the size a file has: ext4 stamps mtime, Linux
		 * documents (and tmpfs, and FUSE's kernel side do) that it
		 * stays.  Let it move on both sides alike. */
		if (rc == 0 && same)
			r->touch_fd = openat(s->dfd, rel, O_PATH | O_CLOEXEC);
		break;
	}
	case K_MKDIR:
		rc = mkdirat(s->dfd, rel, o->mode);
		break;
	case K_RMDIR:
		rc = unlinkat(s->dfd, rel, AT_REMOVEDIR);
		break;
	case K_UNLINK:
		rc = unlinkat(s->dfd, rel, 0);
		break;
	case K_RENAME:
		rc = renameat2(s->dfd, rel, s->dfd, rel2, (unsigned)o->flags);
		break;
	case K_LINK:
		rc = linkat(s->dfd, rel, s->dfd, rel2, 0);
		break;
	case K_SYMLINK:
		rc = symlinkat(o->p2.n ? rel2 : "", s->dfd, rel);
		break;
	case K_READLINK: {
		ssize_t n = readlinkat(s->dfd, rel, (char *)buf, IO_MAX);
		if (n > 0)
			sb_addn(&r->out, buf, (size_t)n);
		rc = n < 0 ? -1 : (int)n;
		break;
	}
	case K_MKNOD:
		rc = mknodat(s->dfd, rel, o->mode, (dev_t)o->off);
		break;
	case K_CHMOD:
		if (o->slot >= 0)
			rc = fchmod(fd_of(s, o->slot), o->mode);
		else
			rc = fchmodat(s->dfd, rel, o->mode, 0);
		break;
	case K_CHOWN:
		if (o->slot >= 0)
			rc = fchown(fd_of(s, o->slot), (uid_t)o->uid, (gid_t)o->gid);
		else
			rc = fchownat(s->dfd, rel, (uid_t)o->uid, (gid_t)o->gid,
				      nofollow ? AT_SYMLINK_NOFOLLOW : 0);
		break;
	case K_UTIMENS: {
		struct timespec ts[2] = { o->at, o->mt };
		struct stat st;
		int fd = fd_of(s, o->slot);
		if (o->slot >= 0)
			rc = futimens(fd, ts);
		else
			rc = utimensat(s->dfd, rel, ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0);
		int e = errno;
		if (rc == 0 && (o->slot >= 0 ? fstat(fd, &st)
			    : fstatat(s->dfd, rel, &st, nofollow ? AT_SYMLINK_NOFOLLOW : 0)) == 0) {
			if (o->at.tv_nsec != UTIME_NOW && o->at.tv_nsec != UTIME_OMIT)
				sb_printf(&r->out, "atime=%lld.%09ld ",
					  (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
			if (o->mt.tv_nsec != UTIME_NOW && o->mt.tv_nsec != UTIME_OMIT)
				sb_printf(&r->out, "mtime=%lld.%09ld",
					  (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		}
		errno = e;
		break;
	}
	case K_STAT:
		break;                       /* post says it all */
	case K_SETACL: {
		const char *name = o->flags & DF_ACLDEF ? "system.posix_acl_default"
							: "system.posix_acl_access";
		abspath(s, &o->p, path, sizeof(path));
		if (o->flags & DF_ACLREMOVE) {
			rc = removexattr(path, name);
		} else {
			size_t n = acl_make(o->seed, buf);
			rc = setxattr(path, name, buf, n, 0);
		}
		break;
	}
	case K_MKMANY: {
		/* len files named n0, n1, ... in directory p, every fifth with a
		 * long name, to make listings span several readdir replies */
		char name[PATH_MAX];
		long k;
		for (k = 0; k < o->len; k++) {
			pathf(name, sizeof(name), "%s/n%ld%s%.*s", rel, k, k % 5 ? "" : "-",
			      k % 5 ? 0 : 200, name255);
			int fd = openat(s->dfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
			if (fd < 0)
				break;
			close(fd);
		}
		if (k < o->len)
			sb_printf(&r->out, "%ld made, then %s", k, errname(errno));
		rc = (int)k;
		break;
	}
	case K_RMMANY: {
		/* removes the names mkmany made (those outside the name pool) */
		char **names, sub[PATH_MAX];
		size_t n;
		rc = list_names(s->dfd, rel, &names, &n);
		if (rc < 0) {
			errno = -rc;
			rc = -1;
			break;
		}
		for (size_t k = 0; k < n; k++)
			if (names[k][0] == 'n' && names[k][1] != '\0' && name_index(names[k]) < 0) {
				pathf(sub, sizeof(sub), "%s/%s", rel, names[k]);
				if (unlinkat(s->dfd, sub, 0) == 0)
					rc++;
				else
					sb_printf(&r->out, "%s ", errname(errno));
			}
		names_free(names, n);
		break;
	}
	case K_LISTDIR: {
		char **names;
		size_t n;
		rc = list_names(s->dfd, rel, &names, &n);
		if (rc < 0) {
			errno = -rc;
			rc = -1;
		}
		for (size_t i = 0; i < n; i++) {
			char tmp[64];
			sb_printf(&r->out, "%s%s", i ? " " : "",
				  name_show(names[i], tmp, sizeof(tmp)));
		}
		names_free(names, n);
		break;
	}
	}
	r->ret = rc;
	r->err = rc < 0 ? errno : 0;
}

/* What the op named, afterwards: the stat summaries compared with the
 * result (as root, after the op's user is switched back). */
static void post_of(struct side *s, const struct op *o, struct result *r)
{
	bool nofollow = o->flags & DF_NOFOLLOW;
	sb_reset(&r->post);
	switch (o->kind) {
	case K_OPEN:
		if (fd_of(s, o->slot) >= 0) {
			post_fd(fd_of(s, o->slot), &r->post);
			sb_printf(&r->post, " ");
		}
		sb_printf(&r->post, "| path: ");
		post_path(s, &o->p, false, &r->post);
		return;
	case K_CLOSE:
		return;
	case K_COPY:
		post_fd(fd_of(s, o->slot), &r->post);
		sb_printf(&r->post, " | out: ");
		post_fd(fd_of(s, o->slot2), &r->post);
		return;
	case K_PWRITE: case K_WRITE: case K_PREAD: case K_READ: case K_LSEEK:
	case K_SEEKDH: case K_FTRUNCATE: case K_FALLOCATE: case K_FSYNC: case K_FSTAT:
		post_fd(fd_of(s, o->slot), &r->post);
		return;
	case K_SETXATTR: case K_GETXATTR: case K_REMOVEXATTR: case K_LISTXATTR:
	case K_CHMOD: case K_CHOWN: case K_UTIMENS:
		if (o->slot >= 0)
			post_fd(fd_of(s, o->slot), &r->post);
		else
			post_path(s, &o->p, !nofollow, &r->post);
		return;
	}
	post_path(s, &o->p, o->kind == K_STAT ? !nofollow : false, &r->post);
	if (kinds[o->kind].fields & F_PATH2 && o->kind != K_SYMLINK) {
		sb_printf(&r->post, " | to: ");
		post_path(s, &o->p2, false, &r->post);
	}
}

static gid_t root_groups[64];
static int root_ngroups = -1;

/* Runs op o as its user: the filesystem ids and the group list are
 * switched for the call and switched back after it. */
static void exec_op_user(struct side *s, const struct op *o, struct result *r, uint8_t *buf);

/* Runs op o: its paths from the workspace, or from a directory held open
 * (perhaps renamed or removed since) when o->at says so. */
static void exec_op(struct side *s, const struct op *o, struct result *r, uint8_t *buf)
{
	if (!o->atslot) {
		exec_op_user(s, o, r, buf);
		return;
	}
	int dfd = s->dfd;
	char root[PATH_MAX];
	memcpy(root, s->root, sizeof(root));
	s->dfd = fd_of(s, o->atslot - 1);
	pathf(s->root, sizeof(s->root), "/proc/self/fd/%d", s->dfd);
	exec_op_user(s, o, r, buf);
	s->dfd = dfd;
	memcpy(s->root, root, sizeof(root));
}

/* The mtime moves exec_op_as asked for (r->touch_fd), made as root. */
static void touch_now(struct result *r)
{
	char self[64];
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };
	if (r->touch_fd < 0)
		return;
	pathf(self, sizeof(self), "/proc/self/fd/%d", r->touch_fd);
	utimensat(AT_FDCWD, self, ts, 0);
	close(r->touch_fd);
	r->touch_fd = -1;
}

static void exec_op_user(struct side *s, const struct op *o, struct result *r, uint8_t *buf)
{
	if (!o->as || o->as >= NCREDS) {
		exec_op_as(s, o, r, buf);
		touch_now(r);
		post_of(s, o, r);
		return;
	}
	if (root_ngroups < 0)
		root_ngroups = getgroups(64, root_groups);
	gid_t g = creds[o->as].gid;
	if (setgroups(1, &g) < 0) {
		perror("difftest: setgroups");
		exit(3);
	}
	setfsgid(g);
	setfsuid(creds[o->as].uid);
	exec_op_as(s, o, r, buf);
	setfsuid(0);
	setfsgid(0);
	if (setgroups(root_ngroups > 0 ? (size_t)root_ngroups : 0, root_groups) < 0) {
		perror("difftest: setgroups");
		exit(3);
	}
	touch_now(r);
	post_of(s, o, r);
}

/* ---- failures ------------------------------------------------------------ */

struct failure {
	bool failed;
	bool env;                   /* the environment failed, not a comparison */
	long op;                    /* index of the op after which it showed */
	char sig[160];              /* what kind of divergence, for shrinking */
	struct strbuf msg;
};

static void fail(struct failure *f, long op, const char *sig, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(struct failure *f, long op, const char *sig, const char *fmt, ...)
{
	if (f->failed)
		return;
	char tmp[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	f->failed = true;
	f->op = op;
	snprintf(f->sig, sizeof(f->sig), "%s", sig);
	sb_reset(&f->msg);
	sb_printf(&f->msg, "%s", tmp);
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((s[i] < 32 && s[i] != '\n') || (unsigned char)s[i] > 126)
			return false;
	return true;
}

/* Describes bytes for a message: text as it is, else length and a hash. */
static void bytes_show(struct strbuf *b, const char *p, size_t n)
{
	if (n <= 300 && printable(p, n)) {
		sb_printf(b, "\"%.*s\"", (int)n, p);
		return;
	}
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
	sb_printf(b, "%zu bytes (fnv %016" PRIx64 ")", n, h);
}

static void result_show(struct strbuf *b, const struct op *o, const struct result *r)
{
	if (r->ret < 0)
		sb_printf(b, "-1 %s", errname(r->err));
	else
		sb_printf(b, "%lld", r->ret);
	if (r->out.len) {
		sb_printf(b, " -> ");
		bytes_show(b, r->out.s, r->out.len);
	} else if (o->kind == K_SEEKDH) {
		sb_printf(b, " (not a regular file)");
	}
	if (r->post.len)
		sb_printf(b, "  [%s]", r->post.s);
}

/* Compares the two sides' results of op i; false after a divergence. */
static bool results_compare(const struct op *o, long i, const struct result *a,
			    const struct result *b, struct failure *f)
{
	char sig[160];
	struct strbuf m = { 0 };
	if (o->kind == K_SEEKDH &&
	    ((a->out.len && !strncmp(a->out.s, "INVALID", 7)) ||
	     (b->out.len && !strncmp(b->out.s, "INVALID", 7)))) {
		snprintf(sig, sizeof(sig), "seek:invalid");
		sb_printf(&m, "lseek %s answer violates POSIX\n  larchfs: %s\n  ref:     %s",
			  o->flags == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE",
			  a->out.len ? a->out.s : "-", b->out.len ? b->out.s : "-");
		fail(f, i, sig, "%s", m.s);
		free(m.s);
		return false;
	}
	const char *what = NULL;
	if (a->ret != b->ret || a->err != b->err)
		what = "return";
	else if (a->out.len != b->out.len ||
		 (a->out.len && memcmp(a->out.s, b->out.s, a->out.len)))
		what = "output";
	else if (a->post.len != b->post.len ||
		 (a->post.len && memcmp(a->post.s, b->post.s, a->post.len)))
		what = "after";
	if (!what)
		return true;
	snprintf(sig, sizeof(sig), "op:%s:%s", kinds[o->kind].name, what);
	sb_printf(&m, "results differ (%s)\n  larchfs: ", what);
	result_show(&m, o, a);
	sb_printf(&m, "\n  ref:     ");
	result_show(&m, o, b);
	if (!strcmp(what, "output") && a->out.len && b->out.len) {
		size_t k = 0, n = a->out.len < b->out.len ? a->out.len : b->out.len;
		while (k < n && a->out.s[k] == b->out.s[k])
			k++;
		sb_printf(&m, "\n  first difference at byte %zu: larchfs %02x, ref %02x", k,
			  k < a->out.len ? (uint8_t)a->out.s[k] : 0,
			  k < b->out.len ? (uint8_t)b->out.s[k] : 0);
	}
	fail(f, i, sig, "%s", m.s);
	free(m.s);
	return false;
}

/* ---- comparing the whole trees ---------------------------------------------- */

struct entry {
	char *rel;                  /* "a/b" from the workspace */
	struct stat st;
};

struct tree {
	struct entry *v;
	size_t n, cap;
};

static void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].rel);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int walk(int dfd, const char *rel, struct tree *t, int depth)
{
	char **names;
	size_t n;
	int err = list_names(dfd, rel, &names, &n);
	if (err)
		return err;
	for (size_t i = 0; i < n && !err; i++) {
		char sub[PATH_MAX];
		pathf(sub, sizeof(sub), "%s%s%s", strcmp(rel, ".") ? rel : "",
			 strcmp(rel, ".") ? "/" : "", names[i]);
		struct entry e = { strdup(sub), { 0 } };
		if (fstatat(dfd, sub, &e.st, AT_SYMLINK_NOFOLLOW) < 0) {
			err = -errno;
			free(e.rel);
			break;
		}
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 64;
			t->v = realloc(t->v, t->cap * sizeof(*t->v));
		}
		t->v[t->n++] = e;
		if (S_ISDIR(e.st.st_mode) && depth < 64)
			err = walk(dfd, sub, t, depth + 1);
	}
	names_free(names, n);
	return err;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->rel, ((const struct entry *)b)->rel);
}

/* Compares bytes [from, to) of two open files (fa on larchfs, fb on
 * ref), and that both end at the same place when to is past the end. */
static bool range_compare(int fa, int fb, const char *what, off_t size, off_t from, off_t to,
			  bool direct, uint8_t *ba, uint8_t *bb, long i, struct failure *f)
{
	from &= ~(off_t)4095;               /* O_DIRECT wants aligned reads */
	to = (to + 4095) & ~(off_t)4095;
	for (off_t pos = from; pos < to; ) {
		size_t want = to - pos < IO_MAX ? (size_t)(to - pos) : IO_MAX;
		ssize_t na = pread(fa, ba, want, pos), nb = pread(fb, bb, want, pos);
		if (na != nb || na < 0) {
			int e = errno;
			fail(f, i, "state:content", "%s (size %lld): reading at %lld returned "
			     "larchfs %zd, ref %zd (%s)", what, (long long)size, (long long)pos,
			     na, nb, errname(e));
			return false;
		}
		if (memcmp(ba, bb, (size_t)na)) {
			ssize_t k = 0;
			while (ba[k] == bb[k])
				k++;
			ssize_t end = k;
			while (end < na && ba[end] != bb[end])
				end++;
			fail(f, i, "state:content", "%s (size %lld): contents differ from byte "
			     "%lld (larchfs %02x, ref %02x) for %zd bytes%s", what,
			     (long long)size, (long long)(pos + k), ba[k], bb[k], end - k,
			     direct ? " (larchfs read with O_DIRECT)" : "");
			return false;
		}
		if (na == 0)
			return true;
		pos += na;
	}
	return true;
}

/*
 * Compares two open files' bytes, all of them; a file past BIG_SPAN
 * (sparse, from offsets past 4 GiB) only around what the reference holds
 * as data (ext4's SEEK_DATA/SEEK_HOLE map), 64 KiB either side of each
 * extent, and its first and last MiB.  Elsewhere both must read as holes;
 * the pread and seek operations sample those.
 */
static bool content_compare_fds(int fa, int fb, const char *what, off_t size, bool direct,
				uint8_t *ba, uint8_t *bb, long i, struct failure *f)
{
	const off_t pad = 65536, edge = 1 << 20;
	if (size <= BIG_SPAN)
		return range_compare(fa, fb, what, size, 0, size + 1, direct, ba, bb, i, f);
	if (!range_compare(fa, fb, what, size, 0, edge, direct, ba, bb, i, f) ||
	    !range_compare(fa, fb, what, size, size - edge, size + 1, direct, ba, bb, i, f))
		return false;
	for (off_t pos = edge; pos < size - edge; ) {
		off_t d = lseek(fb, pos, SEEK_DATA);
		if (d < 0 || d >= size - edge)
			break;
		off_t h = lseek(fb, d, SEEK_HOLE);
		if (h < 0 || h > size)
			h = size;
		off_t from = d - pad > pos ? d - pad : pos, to = h + pad < size ? h + pad : size;
		if (!range_compare(fa, fb, what, size, from, to, direct, ba, bb, i, f))
			return false;
		pos = to;
	}
	return true;
}

/* Opens rel (a path from dfd; NULL: reopens descriptor fd) for reading,
 * with O_DIRECT when asked and possible. */
static int open_for_compare(int dfd, const char *rel, int fd, bool direct)
{
	char self[64];
	int r = -1, flags = O_RDONLY | O_CLOEXEC | (rel ? O_NOFOLLOW : 0);
	if (!rel) {
		pathf(self, sizeof(self), "/proc/self/fd/%d", fd);
		rel = self;
	}
	if (direct)
		r = openat(dfd, rel, flags | O_DIRECT);
	return r >= 0 ? r : openat(dfd, rel, flags);
}

/* Compares the bytes of regular file rel on both sides. */
static bool content_compare(struct side *A, struct side *B, const char *rel, off_t size,
			    bool direct, uint8_t *ba, uint8_t *bb, long i, struct failure *f)
{
	int fa = open_for_compare(A->dfd, rel, -1, direct);
	int ea = errno;
	int fb = open_for_compare(B->dfd, rel, -1, false);
	bool ok = false;
	if (fa < 0 || fb < 0)
		fail(f, i, "state:open", "%s: cannot open for reading: larchfs %s, ref %s", rel,
		     fa < 0 ? errname(ea) : "ok", fb < 0 ? errname(errno) : "ok");
	else
		ok = content_compare_fds(fa, fb, rel, size, direct, ba, bb, i, f);
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return ok;
}

/* The files held open (some perhaps unlinked, which the walk cannot see):
 * their stat and, for regular files, their bytes. */
static bool open_files_compare(struct side *A, struct side *B, bool direct, uint8_t *ba,
			       uint8_t *bb, long i, struct failure *f)
{
	for (int k = 0; k < NSLOTS; k++) {
		int a = A->fd[k], b = B->fd[k];
		char what[64];
		snprintf(what, sizeof(what), "the file open as fd=%d", k);
		if ((a < 0) != (b < 0)) {
			fail(f, i, "state:fds", "fd=%d is open on %s only", k,
			     a >= 0 ? "larchfs" : "ref");
			return false;
		}
		if (a < 0)
			continue;
		struct strbuf sa = { 0 }, sb = { 0 };
		struct stat st;
		post_fd(a, &sa);
		post_fd(b, &sb);
		bool same = !strcmp(sa.s, sb.s);
		if (!same)
			fail(f, i, "state:stat", "%s: fstat differs\n  larchfs: %s\n  ref:     %s",
			     what, sa.s, sb.s);
		free(sa.s);
		free(sb.s);
		if (!same)
			return false;
		if (fstat(b, &st) || !S_ISREG(st.st_mode))
			continue;
		int fa = open_for_compare(-1, NULL, a, direct), fb = open_for_compare(-1, NULL, b, false);
		bool ok = fa >= 0 && fb >= 0;
		if (!ok)
			fail(f, i, "state:open", "%s: cannot reopen it: larchfs %s, ref %s", what,
			     fa < 0 ? "failed" : "ok", fb < 0 ? "failed" : "ok");
		else
			ok = content_compare_fds(fa, fb, what, st.st_size, direct, ba, bb, i, f);
		if (fa >= 0)
			close(fa);
		if (fb >= 0)
			close(fb);
		if (!ok)
			return false;
	}
	return true;
}

static void xattrs_of(struct side *s, const char *rel, struct strbuf *b, uint8_t *buf)
{
	char path[PATH_MAX];
	pathf(path, sizeof(path), "%s/%s", s->root, rel);
	ssize_t n = llistxattr(path, (char *)buf, 65536);
	if (n < 0) {
		sb_printf(b, "listxattr: %s", errname(errno));
		return;
	}
	const char *v[128];
	size_t k = 0;
	for (ssize_t i = 0; i < n && k < 128; i += (ssize_t)strlen((char *)buf + i) + 1)
		if (!strncmp((char *)buf + i, "user.", 5) || !strncmp((char *)buf + i, "trusted.", 8) ||
		    !strncmp((char *)buf + i, "system.posix_acl_", 17))
			v[k++] = (char *)buf + i;
	qsort(v, k, sizeof(v[0]), strcmp_p);
	uint8_t *val = buf + 65536;
	for (size_t i = 0; i < k; i++) {
		char tmp[64];
		ssize_t vn = lgetxattr(path, v[i], val, 65536);
		sb_printf(b, "%s%s=", i ? ", " : "", name_show(v[i], tmp, sizeof(tmp)));
		if (vn < 0)
			sb_printf(b, "(%s)", errname(errno));
		else
			bytes_show(b, (char *)val, (size_t)vn);
	}
}

/*
 * Compares the two workspaces entirely (see the head of the file); i is
 * the index of the last op run.  direct: read larchfs files with O_DIRECT,
 * from the daemon rather than the page cache.
 */
static bool trees_compare(struct side *A, struct side *B, bool direct, uint8_t *ba,
			  uint8_t *bb, long i, struct failure *f)
{
	struct tree ta = { 0 }, tb = { 0 };
	int ea = walk(A->dfd, ".", &ta, 0), eb = walk(B->dfd, ".", &tb, 0);
	bool ok = true;
	if (ea || eb) {
		fail(f, i, "state:walk", "walking the trees failed: larchfs %s, ref %s",
		     errname(-ea), errname(-eb));
		ok = false;
		goto out;
	}
	if (ta.n)
		qsort(ta.v, ta.n, sizeof(*ta.v), entry_cmp);
	if (tb.n)
		qsort(tb.v, tb.n, sizeof(*tb.v), entry_cmp);
	for (size_t x = 0, y = 0; ok && (x < ta.n || y < tb.n); ) {
		int c = x == ta.n ? 1 : y == tb.n ? -1 : strcmp(ta.v[x].rel, tb.v[y].rel);
		if (c) {
			const struct entry *e = c < 0 ? &ta.v[x] : &tb.v[y];
			fail(f, i, "state:names", "%s exists only on %s (%s)", e->rel,
			     c < 0 ? "larchfs" : "ref", type_name(e->st.st_mode));
			ok = false;
			break;
		}
		struct strbuf sa = { 0 }, sb = { 0 };
		stat_summary(&sa, 0, 0, &ta.v[x].st);
		stat_summary(&sb, 0, 0, &tb.v[y].st);
		if (strcmp(sa.s, sb.s)) {
			fail(f, i, "state:stat", "%s: stat differs\n  larchfs: %s\n  ref:     %s",
			     ta.v[x].rel, sa.s, sb.s);
			ok = false;
		}
		free(sa.s);
		free(sb.s);
		x++;
		y++;
	}
	/* the same names are hard links of one another on both sides */
	for (size_t x = 0; ok && x < ta.n; x++) {
		if (S_ISDIR(ta.v[x].st.st_mode))
			continue;
		for (size_t z = 0; z < x; z++) {
			bool la = ta.v[z].st.st_ino == ta.v[x].st.st_ino;
			bool lb = tb.v[z].st.st_ino == tb.v[x].st.st_ino;
			if (la != lb) {
				fail(f, i, "state:links", "%s and %s are %s on larchfs but %s on ref",
				     ta.v[z].rel, ta.v[x].rel, la ? "one inode" : "two inodes",
				     lb ? "one inode" : "two inodes");
				ok = false;
				break;
			}
		}
	}
	for (size_t x = 0; ok && x < ta.n; x++) {
		const struct entry *e = &ta.v[x];
		if (S_ISREG(e->st.st_mode)) {
			ok = content_compare(A, B, e->rel, e->st.st_size, direct, ba, bb, i, f);
		} else if (S_ISLNK(e->st.st_mode)) {
			char la[PATH_MAX], lb[PATH_MAX];
			ssize_t na = readlinkat(A->dfd, e->rel, la, sizeof(la));
			ssize_t nb = readlinkat(B->dfd, e->rel, lb, sizeof(lb));
			if (na != nb || (na > 0 && memcmp(la, lb, (size_t)na))) {
				fail(f, i, "state:readlink", "%s: symlink targets differ: larchfs "
				     "\"%.*s\", ref \"%.*s\"", e->rel, (int)(na > 0 ? na : 0), la,
				     (int)(nb > 0 ? nb : 0), lb);
				ok = false;
			}
		}
		if (!ok)
			break;
		struct strbuf xa = { 0 }, xb = { 0 };
		xattrs_of(A, e->rel, &xa, ba);
		xattrs_of(B, e->rel, &xb, bb);
		if (strcmp(xa.s ? xa.s : "", xb.s ? xb.s : "")) {
			fail(f, i, "state:xattr", "%s: xattrs differ\n  larchfs: %s\n  ref:     %s",
			     e->rel, xa.s ? xa.s : "", xb.s ? xb.s : "");
			ok = false;
		}
		free(xa.s);
		free(xb.s);
	}
out:
	tree_free(&ta);
	tree_free(&tb);
	return ok;
}

/* ---- processes and mounts --------------------------------------------------- */

struct config {
	const char *larchfs, *mkfs;     /* owned mode: we format and mount */
	const char *mount_opts;         /* -o for larchfs, may be NULL */
	const char *mkfs_opts;          /* extra mkfs.larchfs arguments */
	const char *mnt, *ref;          /* user mode: given directories */
	const char *tmpdir;
	const char *save_dir;
	uint64_t seed;
	long ops, runs;
	double soak;
	int check_every;
	double shrink_time;
	bool shrink;
	bool verbose;
	const char *replay;
	const char *inject;             /* self-test: a fault for side A */
	bool no_users;                  /* every op as root */
	bool exclude[K_NKINDS];         /* kinds the generator leaves out */
};

/* One run's directories and mount. */
struct env {
	bool owned;
	char base[PATH_MAX];            /* owned: mkdtemp'd, holds all below */
	char store[PATH_MAX], mnt[PATH_MAX], refdir[PATH_MAX], log[PATH_MAX];
	char wa[PATH_MAX], wb[PATH_MAX];/* the two workspaces */
	bool mounted;
	pid_t daemon;
};

/* The env being used, for the signal handler's cleanup. */
static struct env *volatile g_env;
static const struct config *g_cfg;

/* Runs argv, output appended to log (NULL: /dev/null); returns its exit
 * status, or -1.  Only async-signal-safe calls in the child and in the
 * wait, so that the signal handler's cleanup can use it. */
static int run_cmd(char *const argv[], const char *log)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = log ? open(log, O_WRONLY | O_APPEND | O_CREAT, 0644) : -1;
		if (fd < 0)
			fd = open("/dev/null", O_WRONLY);
		int in = open("/dev/null", O_RDONLY);
		dup2(in, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool is_mounted(const char *mnt)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char line[4096], dev[PATH_MAX], dir[PATH_MAX], type[64];
	bool found = false;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%4095s %4095s %63s", dev, dir, type) == 3 &&
		    !strcmp(dir, mnt) && !strcmp(type, "fuse.larchfs"))
			found = true;
	fclose(f);
	return found;
}

/* The daemon serving mnt: the process whose arguments end "STORE MNT". */
static pid_t find_daemon(const char *store, const char *mnt)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		char path[300], args[8192];
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pathf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, args, sizeof(args) - 1);
		close(fd);
		if (n <= 0)
			continue;
		args[n] = '\0';
		const char *v[64];
		int k = 0;
		for (ssize_t i = 0; i < n && k < 64; i += (ssize_t)strlen(args + i) + 1)
			v[k++] = args + i;
		if (k >= 3 && strstr(v[0], "larchfs") && !strcmp(v[k - 2], store) &&
		    !strcmp(v[k - 1], mnt))
			found = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return found;
}

/* Has pid exited?  (A zombie has: the daemon is reaped by init.) */
static bool pid_gone(pid_t pid)
{
	char path[64], buf[512];
	pathf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'Z';
}

static void log_tail(const char *log)
{
	char cmd[PATH_MAX + 32];
	FILE *f = fopen(log, "r");
	if (!f)
		return;
	fprintf(stderr, "difftest: %s says:\n", log);
	while (fgets(cmd, sizeof(cmd), f))
		fprintf(stderr, "  %s", cmd);
	fclose(f);
}

static int env_mount(struct env *e)
{
	char *argv[10];
	int k = 0;
	argv[k++] = (char *)g_cfg->larchfs;
	argv[k++] = "-o";
	argv[k++] = "allow_other";      /* ops run as other users too */
	if (g_cfg->mount_opts && *g_cfg->mount_opts) {
		argv[k++] = "-o";
		argv[k++] = (char *)g_cfg->mount_opts;
	}
	argv[k++] = e->store;
	argv[k++] = e->mnt;
	argv[k] = NULL;
	int rc = run_cmd(argv, e->log);
	double deadline = now_sec() + 20;
	while (rc == 0 && !is_mounted(e->mnt) && now_sec() < deadline)
		sleep_ms(20);
	if (rc != 0 || !is_mounted(e->mnt)) {
		fprintf(stderr, "difftest: mounting %s failed (status %d)\n", e->mnt, rc);
		log_tail(e->log);
		return -1;
	}
	e->mounted = true;
	e->daemon = find_daemon(e->store, e->mnt);
	return 0;
}

/* fusermount3 -u, then waits for the mount to go and the daemon to exit
 * (it flushes the store on its way out); a remount before that would find
 * the store busy. */
static int env_unmount(struct env *e)
{
	char *argv[] = { "fusermount3", "-u", e->mnt, NULL };
	int rc = -1;
	for (int tries = 0; tries < 50 && rc != 0; tries++) {
		rc = run_cmd(argv, e->log);
		if (rc != 0)
			sleep_ms(100);      /* EBUSY while a release is in flight */
	}
	double deadline = now_sec() + 20;
	while (is_mounted(e->mnt) && now_sec() < deadline)
		sleep_ms(20);
	if (is_mounted(e->mnt)) {
		fprintf(stderr, "difftest: %s did not unmount\n", e->mnt);
		return -1;
	}
	e->mounted = false;
	deadline = now_sec() + 60;
	while (e->daemon > 0 && !pid_gone(e->daemon) && now_sec() < deadline)
		sleep_ms(20);
	if (e->daemon > 0 && !pid_gone(e->daemon)) {
		fprintf(stderr, "difftest: daemon %d still running 60s after unmount\n",
			(int)e->daemon);
		return -1;
	}
	e->daemon = 0;
	return 0;
}

/* The cleanup of every exit path, also from the signal handler: only
 * fork/exec/wait/kill, no allocation. */
static void env_emergency(struct env *e)
{
	if (e->mounted) {
		char *u[] = { "fusermount3", "-u", e->mnt, NULL };
		char *uz[] = { "fusermount3", "-uz", e->mnt, NULL };
		if (run_cmd(u, NULL) != 0) {
			if (e->daemon > 0)
				kill(e->daemon, SIGKILL);
			run_cmd(uz, NULL);
		}
		e->mounted = false;
	}
	if (e->owned && e->base[0]) {
		char *rm[] = { "rm", "-rf", "--one-file-system", e->base, NULL };
		run_cmd(rm, NULL);
	} else {
		char *rm[] = { "rm", "-rf", "--one-file-system", e->wa, e->wb, NULL };
		if (e->wa[0])
			run_cmd(rm, NULL);
	}
	e->base[0] = e->wa[0] = '\0';
}

static void on_signal(int sig)
{
	static const char hung[] = "difftest: an operation hung (no answer in "
				   "120 s); cleaning up\n";
	if (sig == SIGALRM && write(2, hung, sizeof(hung) - 1) < 0)
		sig = SIGALRM;
	/* our descriptors on the mount would keep it busy */
	for (int fd = 3; fd < 4096; fd++)
		close(fd);
	if (g_env)
		env_emergency(g_env);
	_exit(sig == SIGALRM ? 1 : 128 + sig);
}

static void on_exit_cleanup(void)
{
	if (g_env)
		env_emergency(g_env);
}

static bool fs_is_ext(const char *dir)
{
	struct statfs sf;
	return statfs(dir, &sf) == 0 && sf.f_type == 0xEF53;
}

/* Makes fresh directories (and a fresh store, mounted) for one run;
 * run_no names the workspaces in user mode. */
static int env_setup(struct env *e, long run_no)
{
	memset(e, 0, sizeof(*e));
	e->owned = g_cfg->larchfs != NULL;
	g_env = e;
	if (!e->owned) {
		pathf(e->wa, sizeof(e->wa), "%s/difftest.%d.%ld", g_cfg->mnt, (int)getpid(), run_no);
		pathf(e->wb, sizeof(e->wb), "%s/difftest.%d.%ld", g_cfg->ref, (int)getpid(), run_no);
	} else {
		pathf(e->base, sizeof(e->base), "%s/larchfs-difftest.XXXXXX", g_cfg->tmpdir);
		if (!mkdtemp(e->base)) {
			perror("difftest: mkdtemp");
			e->base[0] = '\0';
			return -1;
		}
		chmod(e->base, 0755);
		pathf(e->store, sizeof(e->store), "%s/store", e->base);
		pathf(e->mnt, sizeof(e->mnt), "%s/mnt", e->base);
		pathf(e->refdir, sizeof(e->refdir), "%s/ref", e->base);
		pathf(e->log, sizeof(e->log), "%s/log", e->base);
		pathf(e->wa, sizeof(e->wa), "%s/w", e->mnt);
		pathf(e->wb, sizeof(e->wb), "%s/w", e->refdir);
		if (mkdir(e->mnt, 0755) || mkdir(e->refdir, 0755)) {
			perror("difftest: mkdir");
			return -1;
		}
		char *mkfs[16], opts[256];
		int k = 0;
		mkfs[k++] = (char *)g_cfg->mkfs;
		mkfs[k++] = "-q";
		snprintf(opts, sizeof(opts), "%s", g_cfg->mkfs_opts ? g_cfg->mkfs_opts : "");
		for (char *save = NULL, *w = strtok_r(opts, " ", &save); w && k < 14;
		     w = strtok_r(NULL, " ", &save))
			mkfs[k++] = w;
		mkfs[k++] = e->store;
		mkfs[k] = NULL;
		if (run_cmd(mkfs, e->log) != 0) {
			fprintf(stderr, "difftest: %s %s failed\n", g_cfg->mkfs, e->store);
			log_tail(e->log);
			return -1;
		}
		if (env_mount(e))
			return -1;
	}
	/* 01777, as /tmp: the other users' ops get somewhere, and the sticky
	 * bit's rules are exercised */
	if (mkdir(e->wa, 0755) || mkdir(e->wb, 0755) || chmod(e->wa, 01777) ||
	    chmod(e->wb, 01777)) {
		fprintf(stderr, "difftest: cannot make the workspaces %s, %s: %s\n", e->wa,
			e->wb, strerror(errno));
		return -1;
	}
	return 0;
}

static int env_teardown(struct env *e)
{
	int rc = 0;
	if (e->mounted)
		rc = env_unmount(e);
	env_emergency(e);           /* removes the directories */
	g_env = NULL;
	return rc;
}

/* ---- the generator -------------------------------------------------------- */

struct gent {
	struct path p;
	unsigned char type;         /* DT_* */
};

struct gen {
	uint64_t rng;
	struct side *ref;           /* aims ops at what exists there */
	struct gent *e;
	size_t n, cap;
	bool owned;
};

static uint64_t R(struct gen *g, uint64_t n)
{
	return rng_below(&g->rng, n);
}

static bool chance(struct gen *g, unsigned pct)
{
	return R(g, 100) < pct;
}

static int name_index(const char *name)
{
	for (int i = 0; i < NNAMES; i++)
		if (!strcmp(name, name_of((unsigned)i)))
			return i;
	return -1;
}

static void gen_scan(struct gen *g, int dfd, const char *rel, const struct path *at)
{
	int fd = openat(dfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	/* sorted, so that the choices do not depend on readdir order */
	struct gent local[NNAMES];
	size_t k = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		int i = name_index(de->d_name);
		if (i < 0 || at->n == MAXDEPTH)
			continue;
		struct gent x = { *at, de->d_type };
		x.p.c[x.p.n++] = (uint8_t)i;
		if (k < NNAMES)
			local[k++] = x;
	}
	closedir(d);
	for (size_t a = 1; a < k; a++)
		for (size_t b = a; b > 0 && local[b - 1].p.c[at->n] > local[b].p.c[at->n]; b--) {
			struct gent t = local[b];
			local[b] = local[b - 1];
			local[b - 1] = t;
		}
	for (size_t a = 0; a < k; a++) {
		if (g->n == g->cap) {
			g->cap = g->cap ? g->cap * 2 : 64;
			g->e = realloc(g->e, g->cap * sizeof(*g->e));
		}
		g->e[g->n++] = local[a];
		if (local[a].type == DT_DIR) {
			char sub[PATH_MAX];
			path_render(&local[a].p, sub, sizeof(sub));
			gen_scan(g, dfd, sub, &local[a].p);
		}
	}
}

static void gen_refresh(struct gen *g)
{
	g->n = 0;
	gen_scan(g, g->ref->dfd, ".", &(struct path){ 0 });
}

static unsigned gen_name(struct gen *g)
{
	unsigned r = (unsigned)R(g, 100);
	return r < 2 ? NAME255 : r < 3 ? NAME256 : r < 5 ? NAMEUTF : r < 6 ? NAMECTL
	       : (unsigned)R(g, NSHORT);
}

/* A path made up: depth 1..3, or under an existing directory. */
static void gen_new_path(struct gen *g, struct path *p)
{
	memset(p, 0, sizeof(*p));
	size_t ndirs = 0;
	for (size_t i = 0; i < g->n; i++)
		ndirs += g->e[i].type == DT_DIR;
	if (ndirs && chance(g, 60)) {
		size_t k = R(g, ndirs);
		for (size_t i = 0; i < g->n; i++)
			if (g->e[i].type == DT_DIR && k-- == 0) {
				*p = g->e[i].p;
				break;
			}
		if (p->n < MAXDEPTH)
			p->c[p->n++] = (uint8_t)gen_name(g);
		return;
	}
	unsigned r = (unsigned)R(g, 100), depth = r < 75 ? 1 : r < 92 ? 2 : 3;
	for (unsigned i = 0; i < depth; i++)
		p->c[p->n++] = (uint8_t)(i + 1 < depth ? R(g, NSHORT) : gen_name(g));
}

enum want { W_ANY, W_FILE, W_DIR, W_LINK, W_NEW };

static void gen_path(struct gen *g, enum want w, struct path *p)
{
	unsigned char type = w == W_FILE ? DT_REG : w == W_DIR ? DT_DIR : w == W_LINK ? DT_LNK : 0;
	size_t match = 0;
	for (size_t i = 0; i < g->n; i++)
		match += !type || g->e[i].type == type;
	unsigned aim = w == W_NEW ? 25 : 80;
	if (w == W_DIR && match == 0 && chance(g, 30)) {
		memset(p, 0, sizeof(*p));   /* the workspace itself */
		return;
	}
	if (match == 0 && type && g->n && chance(g, 50)) {
		type = 0;                   /* anything that exists */
		match = g->n;
	}
	if (match && chance(g, aim)) {
		size_t k = R(g, match);
		for (size_t i = 0; i < g->n; i++)
			if ((!type || g->e[i].type == type) && k-- == 0) {
				*p = g->e[i].p;
				return;
			}
	}
	gen_new_path(g, p);
}

enum slotwant { S_FREE, S_ANY, S_READ, S_WRITE };

/* Does the reference descriptor in slot fit what the op wants? */
static bool slot_fits(struct gen *g, int slot, enum slotwant w)
{
	int fd = g->ref->fd[slot];
	struct stat st;
	if (fd < 0)
		return w == S_FREE;
	if (w == S_FREE)
		return false;
	if (w == S_ANY)
		return true;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	int acc = fcntl(fd, F_GETFL) & O_ACCMODE;
	return w == S_READ ? acc != O_WRONLY : acc != O_RDONLY;
}

/* A slot: mostly one that fits, sometimes any (closed ones give EBADF,
 * read-only ones EBADF for writes: both must say so alike). */
static int gen_slot(struct gen *g, enum slotwant w)
{
	int fit[NSLOTS], n = 0, open[NSLOTS], no = 0;
	for (int i = 0; i < NSLOTS; i++) {
		if (slot_fits(g, i, w))
			fit[n++] = i;
		if (g->ref->fd[i] >= 0)
			open[no++] = i;
	}
	if (n && chance(g, w == S_FREE ? 70 : 90))
		return fit[R(g, (uint64_t)n)];
	if (no && chance(g, 60))
		return open[R(g, (uint64_t)no)];
	return (int)R(g, NSLOTS);
}

static int64_t slot_size(struct gen *g, int slot)
{
	struct stat st;
	int fd = g->ref->fd[slot];
	return fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
}

/* Offsets: inside the file, at its end, at block boundaries (4 KiB, and
 * larchfs's 64 KiB), past the end (holes), and a little far. */
static int64_t gen_off(struct gen *g, int64_t size)
{
	unsigned r = (unsigned)R(g, 100);
	int64_t off;
	if (r < 28)
		off = (int64_t)R(g, (uint64_t)size + 1);
	else if (r < 42)
		off = size;
	else if (r < 58)
		off = (int64_t)(R(g, (uint64_t)size / 65536 + 3) * 65536) + (int64_t)R(g, 7) - 3;
	else if (r < 68)
		off = (int64_t)(R(g, (uint64_t)size / 4096 + 3) * 4096) + (int64_t)R(g, 3) - 1;
	else if (r < 80)
		off = size + (int64_t)R(g, 300000);
	else if (r < 86)
		off = (int64_t)R(g, FILE_SPAN);
	else if (r < 87) {
		/* past 4 GiB and further (below ext4's 16 TiB limit) */
		static const int64_t far[] = { 1ll << 32, 1ll << 35, 1ll << 40, 1ll << 43 };
		return far[R(g, 4)] + (int64_t)R(g, 400000) - 200000;
	} else
		off = (int64_t)R(g, 200);
	if (off < 0)
		off = 0;
	return off > FILE_SPAN && off > size + 300000 ? (int64_t)R(g, FILE_SPAN) : off;
}

static int64_t gen_len(struct gen *g)
{
	unsigned r = (unsigned)R(g, 100);
	if (r < 30)
		return 1 + (int64_t)R(g, 64);
	if (r < 55)
		return 1 + (int64_t)R(g, 4096);
	if (r < 75)
		return 4096 + (int64_t)R(g, 70000);
	if (r < 88)
		return 65536 + (int64_t)R(g, 9) - 4;
	return 1 + (int64_t)R(g, IO_MAX);
}

static uint32_t gen_mode(struct gen *g, bool dir)
{
	static const uint32_t modes[] = { 0644, 0600, 0755, 0444, 0777, 0700, 0 };
	static const uint32_t special[] = { 02755, 04755, 01777, 06777, 02775, 04644 };
	if (chance(g, 10))
		return special[R(g, 6)];
	if (chance(g, 10))
		return (uint32_t)R(g, 010000);
	uint32_t m = modes[R(g, 7)];
	return dir && chance(g, 70) ? (m | 0700) : m;
}

static void gen_time(struct gen *g, struct timespec *t)
{
	unsigned r = (unsigned)R(g, 100);
	if (r < 10)
		*t = (struct timespec){ 0, UTIME_NOW };
	else if (r < 20)
		*t = (struct timespec){ 0, UTIME_OMIT };
	else if (r < 25)
		*t = (struct timespec){ -300000000 - (time_t)R(g, 1000000), (long)R(g, 1000000000) };
	else if (r < 30)
		*t = (struct timespec){ 2200000000 + (time_t)R(g, 100000000), (long)R(g, 1000000000) };
	else if (r < 33)
		*t = (struct timespec){ 0, 0 };
	else
		*t = (struct timespec){ 1000000000 + (time_t)R(g, 100000000), (long)R(g, 1000000000) };
}

static uint8_t gen_xname(struct gen *g)
{
	unsigned r = (unsigned)R(g, 100);
	return r < 40 ? 0 : r < 70 ? 1 : r < 82 ? 2 : r < 90 ? 3 : r < 94 ? 4 : r < 97 ? 5 : 6;
}

/* Weights of the kinds (per thousand-ish). */
static const struct { uint8_t kind; uint16_t w; } weights[] = {
	{ K_OPEN, 90 }, { K_CLOSE, 30 }, { K_PWRITE, 130 }, { K_WRITE, 45 },
	{ K_PREAD, 60 }, { K_READ, 25 }, { K_LSEEK, 15 }, { K_SEEKDH, 35 },
	{ K_FTRUNCATE, 35 }, { K_TRUNCATE, 20 }, { K_FALLOCATE, 50 }, { K_FSYNC, 15 },
	{ K_FSTAT, 15 }, { K_COPY, 35 }, { K_MKDIR, 35 }, { K_RMDIR, 20 },
	{ K_UNLINK, 35 }, { K_RENAME, 60 }, { K_LINK, 25 }, { K_SYMLINK, 15 },
	{ K_READLINK, 8 }, { K_MKNOD, 6 }, { K_CHMOD, 15 }, { K_CHOWN, 10 },
	{ K_UTIMENS, 20 }, { K_SETXATTR, 35 }, { K_GETXATTR, 20 }, { K_REMOVEXATTR, 15 },
	{ K_LISTXATTR, 10 }, { K_STAT, 20 }, { K_LISTDIR, 10 }, { K_REMOUNT, 2 },
	{ K_MKMANY, 2 }, { K_RMMANY, 2 }, { K_SETACL, 15 },
};

/* Calls that take a path or a descriptor: one in four through a held
 * descriptor (of a file perhaps renamed or unlinked since).  Returns the
 * slot, or -1 for a path. */
static int gen_target_slot(struct gen *g, struct op *o)
{
	bool any_open = false;
	for (int i = 0; i < NSLOTS; i++)
		any_open |= g->ref->fd[i] >= 0;
	o->slot = any_open && chance(g, 25) ? (int8_t)gen_slot(g, S_ANY) : -1;
	return o->slot;
}

/* A slot holding a directory on the reference side, or -1. */
static int gen_dir_slot(struct gen *g)
{
	int v[NSLOTS], n = 0;
	struct stat st;
	for (int i = 0; i < NSLOTS; i++)
		if (g->ref->fd[i] >= 0 && fstat(g->ref->fd[i], &st) == 0 && S_ISDIR(st.st_mode))
			v[n++] = i;
	return n ? v[R(g, (uint64_t)n)] : -1;
}

/* One name for a path from the directory open in slot: mostly one of its
 * entries, sorted so that the choice does not depend on readdir order. */
static void gen_name_in(struct gen *g, int slot, struct path *p)
{
	int fd = openat(g->ref->fd[slot], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool have[NNAMES] = { false };
	unsigned n = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		int i = name_index(de->d_name);
		if (i >= 0 && !have[i]) {
			have[i] = true;
			n++;
		}
	}
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	memset(p, 0, sizeof(*p));
	p->n = 1;
	if (n && chance(g, 70)) {
		unsigned k = (unsigned)R(g, n);
		for (unsigned i = 0; i < NNAMES; i++)
			if (have[i] && k-- == 0)
				p->c[0] = (uint8_t)i;
	} else {
		p->c[0] = (uint8_t)gen_name(g);
	}
}

static void gen_next(struct gen *g, struct op *o)
{
	unsigned total = 0, pick, w[sizeof(weights) / sizeof(weights[0])];
	int writable = 0;
	for (int i = 0; i < NSLOTS; i++)
		writable += slot_fits(g, i, S_WRITE);
	/* keep a couple of files open for writing: most data ops need one */
	for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++) {
		w[i] = g_cfg->exclude[weights[i].kind] ? 0 : weights[i].w;
		if (weights[i].kind == K_OPEN && writable < 2)
			w[i] *= 4;
		total += w[i];
	}
	pick = (unsigned)R(g, total);
	size_t k = 0;
	while (pick >= w[k])
		pick -= w[k++];

	gen_refresh(g);
	memset(o, 0, sizeof(*o));
	o->kind = weights[k].kind;
	o->slot = o->slot2 = -1;
	if (o->kind != K_REMOUNT && chance(g, 20) && !g_cfg->no_users)
		o->as = (uint8_t)(1 + R(g, NCREDS - 1));
	int dirslot = gen_dir_slot(g);
	switch (o->kind) {
	case K_OPEN: {
		o->slot = (int8_t)gen_slot(g, S_FREE);
		unsigned r = (unsigned)R(g, 100);
		bool dir = r >= 88 && r < 97;
		gen_path(g, r < 55 ? W_FILE : r < 88 ? W_NEW : dir ? W_DIR : W_LINK, &o->p);
		bool exists = false;
		for (size_t i = 0; i < g->n; i++)
			exists |= !memcmp(&g->e[i].p, &o->p, sizeof(o->p));
		r = (unsigned)R(g, 100);
		o->flags = r < 65 ? O_RDWR : r < 82 ? O_WRONLY : O_RDONLY;
		if (chance(g, exists ? 40 : 92))
			o->flags |= O_CREAT;
		if (chance(g, 15))
			o->flags |= O_EXCL;
		if (chance(g, 12))
			o->flags |= O_TRUNC;
		if (chance(g, 12))
			o->flags |= O_APPEND;
		if (chance(g, 4))
			o->flags |= O_DIRECTORY;
		if (chance(g, 5))
			o->flags |= O_NOFOLLOW;
		if (dir && chance(g, 80))   /* a directory to hold, for at= ops */
			o->flags = O_RDONLY | (chance(g, 50) ? O_DIRECTORY : 0);
		o->mode = gen_mode(g, false);
		break;
	}
	case K_CLOSE: case K_FSYNC: case K_FSTAT:
		o->slot = (int8_t)gen_slot(g, S_ANY);
		if (o->kind == K_FSYNC && chance(g, 50))
			o->flags = DF_DATASYNC;
		break;
	case K_PWRITE: case K_WRITE: case K_PREAD: case K_READ: {
		o->slot = (int8_t)gen_slot(g, o->kind == K_PWRITE || o->kind == K_WRITE
					       ? S_WRITE : S_READ);
		int64_t size = slot_size(g, o->slot);
		o->off = gen_off(g, size);
		o->len = gen_len(g);
		if (o->kind == K_PREAD && chance(g, 50))
			o->off = (int64_t)R(g, (uint64_t)size + 2);
		unsigned r = (unsigned)R(g, 100);
		o->pat = r < 60 ? PAT_RAND : r < 75 ? PAT_ZERO : r < 90 ? PAT_REPEAT : PAT_SPARSE;
		o->seed = rng_next(&g->rng);
		if (o->kind == K_READ || o->kind == K_PREAD)
			o->pat = 0, o->seed = 0;
		if (o->kind == K_WRITE || o->kind == K_READ)
			o->off = 0;
		break;
	}
	case K_LSEEK: {
		o->slot = (int8_t)gen_slot(g, S_ANY);
		int64_t size = slot_size(g, o->slot);
		o->flags = (int)R(g, 3);
		o->off = o->flags == SEEK_SET ? gen_off(g, size)
			 : (int64_t)R(g, 20000) - (o->flags == SEEK_END ? 15000 : 5000);
		break;
	}
	case K_SEEKDH: {
		o->slot = (int8_t)gen_slot(g, S_READ);
		int64_t size = slot_size(g, o->slot);
		o->flags = chance(g, 50) ? SEEK_DATA : SEEK_HOLE;
		o->off = chance(g, 85) ? (int64_t)R(g, (uint64_t)size + 1) : gen_off(g, size);
		break;
	}
	case K_FTRUNCATE: case K_TRUNCATE:
		if (o->kind == K_FTRUNCATE)
			o->slot = (int8_t)gen_slot(g, S_WRITE);
		else
			gen_path(g, W_FILE, &o->p);
		o->len = chance(g, 20) ? 0 : gen_off(g, o->kind == K_FTRUNCATE ? slot_size(g, o->slot) : 100000);
		if (chance(g, 2))
			o->len = -1;
		break;
	case K_FALLOCATE: {
		static const int modes[] = { 0, FALLOC_FL_KEEP_SIZE,
			FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE,
			FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE };
		static const unsigned mw[] = { 25, 15, 30, 15, 12, 3 };
		o->slot = (int8_t)gen_slot(g, S_WRITE);
		unsigned r = (unsigned)R(g, 100), m = 0;
		while (r >= mw[m])
			r -= mw[m++];
		o->flags = modes[m];
		int64_t size = slot_size(g, o->slot);
		o->off = chance(g, 60) ? (int64_t)R(g, (uint64_t)size + 1) : gen_off(g, size);
		o->len = chance(g, 2) ? 0 : gen_len(g);
		break;
	}
	case K_COPY: {
		o->slot = (int8_t)gen_slot(g, S_READ);
		o->slot2 = (int8_t)gen_slot(g, S_WRITE);
		int64_t sin = slot_size(g, o->slot);
		o->off = chance(g, 80) ? (int64_t)R(g, (uint64_t)sin + 1) : gen_off(g, sin);
		o->off2 = gen_off(g, slot_size(g, o->slot2));
		o->len = gen_len(g);
		if (chance(g, 12))
			o->flags = DF_NOOFF;
		break;
	}
	case K_MKDIR:
		gen_path(g, W_NEW, &o->p);
		o->mode = gen_mode(g, true);
		break;
	case K_MKNOD: {
		static const mode_t types[] = { S_IFIFO, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK, S_IFREG };
		gen_path(g, W_NEW, &o->p);
		o->mode = types[R(g, 6)] | gen_mode(g, false);
		if (S_ISCHR(o->mode) || S_ISBLK(o->mode))
			o->off = (int64_t)makedev((unsigned)R(g, 300), (unsigned)R(g, 300));
		break;
	}
	case K_RMDIR:
		gen_path(g, chance(g, 85) ? W_DIR : W_ANY, &o->p);
		if (o->p.n == 0)
			gen_new_path(g, &o->p);
		break;
	case K_UNLINK:
		gen_path(g, chance(g, 60) ? W_FILE : W_ANY, &o->p);
		if (o->p.n == 0)
			gen_new_path(g, &o->p);
		break;
	case K_RENAME: {
		unsigned r = (unsigned)R(g, 100);
		gen_path(g, r < 50 ? W_FILE : r < 75 ? W_DIR : W_ANY, &o->p);
		gen_path(g, chance(g, 45) ? W_NEW : chance(g, 50) ? W_FILE : W_ANY, &o->p2);
		if (o->p.n == 0)
			gen_new_path(g, &o->p);
		if (o->p2.n == 0)
			gen_new_path(g, &o->p2);
		r = (unsigned)R(g, 100);
		o->flags = r < 70 ? 0 : r < 85 ? RENAME_NOREPLACE : r < 99 ? RENAME_EXCHANGE
			 : RENAME_EXCHANGE | RENAME_NOREPLACE;
		break;
	}
	case K_LINK:
		gen_path(g, chance(g, 85) ? W_FILE : W_ANY, &o->p);
		gen_path(g, chance(g, 75) ? W_NEW : W_ANY, &o->p2);
		if (o->p.n == 0)
			gen_new_path(g, &o->p);
		if (o->p2.n == 0)
			gen_new_path(g, &o->p2);
		break;
	case K_SYMLINK:
		gen_path(g, W_NEW, &o->p);
		if (chance(g, 3))
			memset(&o->p2, 0, sizeof(o->p2));
		else
			gen_path(g, W_ANY, &o->p2);
		if (o->p.n == 0)
			gen_new_path(g, &o->p);
		break;
	case K_READLINK:
		gen_path(g, W_LINK, &o->p);
		break;
	case K_CHMOD:
		if (gen_target_slot(g, o) < 0)
			gen_path(g, W_ANY, &o->p);
		o->mode = gen_mode(g, false);
		break;
	case K_CHOWN: {
		static const int64_t ids[] = { -1, 0, 1000, 65534 };
		if (gen_target_slot(g, o) < 0)
			gen_path(g, W_ANY, &o->p);
		o->uid = ids[R(g, 4)];
		o->gid = ids[R(g, 4)];
		if (chance(g, 30))
			o->flags = DF_NOFOLLOW;
		break;
	}
	case K_UTIMENS:
		if (gen_target_slot(g, o) < 0)
			gen_path(g, W_ANY, &o->p);
		gen_time(g, &o->at);
		gen_time(g, &o->mt);
		if (chance(g, 30))
			o->flags = DF_NOFOLLOW;
		break;
	case K_SETXATTR: case K_GETXATTR: case K_REMOVEXATTR: case K_LISTXATTR: {
		if (gen_target_slot(g, o) < 0)
			gen_path(g, W_ANY, &o->p);
		o->xname = gen_xname(g);
		if (chance(g, 20))
			o->flags |= DF_NOFOLLOW;
		if (o->kind == K_SETXATTR) {
			o->len = chance(g, 5) ? 0 : chance(g, 50) ? (int64_t)R(g, 40) : (int64_t)R(g, XVAL_MAX);
			o->pat = (uint8_t)R(g, PAT_N);
			o->seed = rng_next(&g->rng);
			unsigned r = (unsigned)R(g, 100);
			o->flags |= r < 60 ? 0 : r < 80 ? DF_XCREATE : r < 98 ? DF_XREPLACE
				  : DF_XCREATE | DF_XREPLACE;
		} else if (o->kind == K_GETXATTR || o->kind == K_LISTXATTR) {
			unsigned r = (unsigned)R(g, 100);
			o->len = r < 30 ? 0 : r < 85 ? 65536 : (int64_t)R(g, 40);
		}
		break;
	}
	case K_STAT:
		gen_path(g, W_ANY, &o->p);
		if (chance(g, 50))
			o->flags = DF_NOFOLLOW;
		break;
	case K_LISTDIR: case K_RMMANY:
		gen_path(g, W_DIR, &o->p);
		break;
	case K_SETACL:
		gen_path(g, chance(g, 50) ? W_DIR : W_ANY, &o->p);
		o->seed = rng_next(&g->rng);
		o->flags = (chance(g, 40) ? DF_ACLDEF : 0) | (chance(g, 15) ? DF_ACLREMOVE : 0);
		break;
	case K_MKMANY:
		gen_path(g, W_DIR, &o->p);
		o->len = 1 + (int64_t)R(g, chance(g, 50) ? 20 : 200);
		break;
	case K_REMOUNT:
		break;
	}
	/* now and then, paths from a directory held open instead */
	unsigned f = kinds[o->kind].fields;
	if (dirslot >= 0 && ((f & F_PATH) || ((f & F_TARGET) && o->slot < 0)) && chance(g, 12)) {
		o->atslot = (uint8_t)(dirslot + 1);
		if ((o->kind == K_LISTDIR || o->kind == K_MKMANY || o->kind == K_RMMANY ||
		     o->kind == K_STAT) && chance(g, 40))
			memset(&o->p, 0, sizeof(o->p));     /* the directory itself */
		else
			gen_name_in(g, dirslot, &o->p);
		if ((f & F_PATH2) && o->kind != K_SYMLINK && chance(g, 70))
			gen_name_in(g, dirslot, &o->p2);
	}
}

/* ---- self-test: faults injected into side A ----------------------------- */

/*
 * --inject FAULT, with --mnt and --ref both plain host directories: after
 * the first fitting op past op 20, side A is changed behind the
 * comparison's back, so that one check must report it.  It shows that the
 * checks can fail; the run must end in a divergence (exit status 1).
 */
static const char *const faults[] = { "content", "size", "mode", "xattr", "names",
				      "readlink", "mtime", "read", "errno", "seek",
				      "links", NULL };

static bool inject_fault(const char *fault, struct side *a, const struct op *o,
			 struct result *r)
{
	char rel[PATH_MAX], rel2[PATH_MAX];
	int fd = fd_of(a, o->slot);
	path_render(&o->p, rel, sizeof(rel));
	path_render(&o->p2, rel2, sizeof(rel2));
	if (!strcmp(fault, "content") && o->kind == K_PWRITE && r->ret > 0 &&
	    !(fcntl(fd, F_GETFL) & O_APPEND)) {
		uint8_t b;
		if (pread(fd, &b, 1, o->off) != 1)
			return false;
		b ^= 0x40;
		return pwrite(fd, &b, 1, o->off) == 1;
	}
	if (!strcmp(fault, "size") && o->kind == K_FSYNC && r->ret == 0) {
		struct stat st;
		return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		       ftruncate(fd, st.st_size + 1) == 0;
	}
	if (!strcmp(fault, "mode") && o->kind == K_STAT && r->ret == 0)
		return fchmodat(a->dfd, rel, 0751, 0) == 0;
	if (!strcmp(fault, "xattr") && o->kind == K_SETXATTR && r->ret == 0 && o->len > 0 &&
	    o->slot < 0 && !(o->flags & DF_NOFOLLOW)) {
		char path[PATH_MAX];
		abspath(a, &o->p, path, sizeof(path));
		return setxattr(path, xname_of(o->xname), "other", 5, 0) == 0;
	}
	if (!strcmp(fault, "names") && o->kind == K_FSYNC && r->ret == 0) {
		int nfd = openat(a->dfd, "zz", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		return nfd >= 0 && close(nfd) == 0;
	}
	if (!strcmp(fault, "readlink") && o->kind == K_SYMLINK && r->ret == 0 && o->p2.n) {
		rel2[0] = rel2[0] == 'a' ? 'b' : 'a';
		return unlinkat(a->dfd, rel, 0) == 0 && symlinkat(rel2, a->dfd, rel) == 0;
	}
	if (!strcmp(fault, "mtime") && o->kind == K_UTIMENS && r->ret == 0 &&
	    o->mt.tv_nsec != UTIME_NOW && o->mt.tv_nsec != UTIME_OMIT &&
	    explicit_time(&o->mt) && !(o->flags & DF_NOFOLLOW) && o->slot < 0) {
		struct timespec ts[2] = { { 0, UTIME_OMIT }, o->mt };
		ts[1].tv_nsec = (ts[1].tv_nsec + 1) % 1000000000;
		return utimensat(a->dfd, rel, ts, 0) == 0;
	}
	if (!strcmp(fault, "read") && o->kind == K_PREAD && r->out.len) {
		r->out.s[r->out.len / 2] ^= 1;
		return true;
	}
	if (!strcmp(fault, "errno") && r->ret < 0 && r->err == ENOENT) {
		r->err = ENOTDIR;
		return true;
	}
	if (!strcmp(fault, "seek") && o->kind == K_SEEKDH && fd >= 0 &&
	    r->out.len && !strcmp(r->out.s, "valid")) {
		/* answer as if the file were all hole: SEEK_DATA says ENXIO */
		struct stat st;
		if (fstat(fd, &st) || o->off >= st.st_size)
			return false;
		uint8_t *buf = xmalloc(IO_MAX);
		sb_reset(&r->out);
		seek_judge(fd, SEEK_DATA, o->off, -1, ENXIO, r, buf);
		free(buf);
		return strncmp(r->out.s, "INVALID", 7) == 0;
	}
	if (!strcmp(fault, "links") && o->kind == K_LINK && r->ret == 0) {
		/* the new name becomes a copy: same bytes, another inode */
		char tmp[] = "zz.tmp";
		int in = openat(a->dfd, rel2, O_RDONLY | O_CLOEXEC), out;
		struct stat st;
		if (in < 0)
			return false;
		if (fstat(in, &st) || !S_ISREG(st.st_mode)) {
			close(in);
			return false;
		}
		out = openat(a->dfd, tmp, O_CREAT | O_WRONLY | O_CLOEXEC, st.st_mode & 07777);
		off_t off = 0;
		ssize_t n = 1;
		while (out >= 0 && n > 0)
			n = copy_file_range(in, &off, out, NULL, 1 << 20, 0);
		close(in);
		if (out < 0)
			return false;
		bool owned = fchown(out, st.st_uid, st.st_gid) == 0;
		close(out);
		if (!owned) {
			unlinkat(a->dfd, tmp, 0);
			return false;
		}
		return renameat(a->dfd, tmp, a->dfd, rel2) == 0;
	}
	return false;
}

/* ---- running a sequence ----------------------------------------------------- */

struct runner {
	struct env env;
	struct side a, b;           /* a: larchfs, b: the reference */
	struct result ra, rb;
	uint8_t *buf, *buf2;        /* 2 * IO_MAX + 64 KiB each */
	int check_every;
	long checks;
	struct strbuf *trace;       /* per op: both results, when tracing */
	bool injected;              /* self-test: the fault is in */
};

static void runner_free(struct runner *R)
{
	result_free(&R->ra);
	result_free(&R->rb);
	free(R->buf);
	free(R->buf2);
	R->buf = R->buf2 = NULL;
}

static int side_open(struct side *s, const char *label, const char *root, bool larch)
{
	memset(s, 0, sizeof(*s));
	s->label = label;
	s->is_larchfs = larch;
	snprintf(s->root, sizeof(s->root), "%s", root);
	for (int i = 0; i < NSLOTS; i++)
		s->fd[i] = -1;
	s->dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return s->dfd < 0 ? -1 : 0;
}

static void side_close(struct side *s)
{
	side_close_fds(s);
	if (s->dfd >= 0)
		close(s->dfd);
	s->dfd = -1;
}

/* Closes every descriptor, then unmounts and mounts the store again (user
 * mode: only the closing), so that what is compared next comes from the
 * store and not from the kernel's caches. */
static int remount(struct runner *R)
{
	side_close_fds(&R->b);
	if (!R->env.owned) {
		side_close_fds(&R->a);
		return 0;
	}
	side_close(&R->a);
	if (env_unmount(&R->env) || env_mount(&R->env))
		return -1;
	return side_open(&R->a, "larchfs", R->env.wa, true);
}

static bool state_check(struct runner *R, long i, struct failure *f)
{
	R->checks++;
	alarm(OP_TIMEOUT);
	bool direct = R->checks % 3 == 0;
	bool ok = trees_compare(&R->a, &R->b, direct, R->buf, R->buf2, i, f) &&
		  open_files_compare(&R->a, &R->b, direct, R->buf, R->buf2, i, f);
	alarm(0);
	return ok;
}

/*
 * Runs ops[0..n) (or, with g, n generated ops appended to ops) on fresh
 * directories.  Returns false when the environment failed (f->env) or
 * the sides diverged; f says how and after which op.
 */
static bool run_seq(struct runner *R, struct opvec *ops, long n, struct gen *g,
		    long run_no, struct failure *f)
{
	struct strbuf msg = f->msg;
	memset(f, 0, sizeof(*f));
	f->msg = msg;
	sb_reset(&f->msg);
	R->a.dfd = R->b.dfd = -1;
	for (int k = 0; k < NSLOTS; k++)
		R->a.fd[k] = R->b.fd[k] = -1;
	if (env_setup(&R->env, run_no) || side_open(&R->a, "larchfs", R->env.wa, true) ||
	    side_open(&R->b, "ref", R->env.wb, false)) {
		fail(f, -1, "env", "setting up the run failed");
		f->env = true;
		side_close(&R->a);
		side_close(&R->b);
		env_teardown(&R->env);
		return false;
	}
	if (g) {
		g->ref = &R->b;
		ops->n = 0;
	}
	bool ok = true;
	long i;
	for (i = 0; ok && i < n; i++) {
		struct op o;
		if (g && (i + 1) % R->check_every == 0) {
			/* checks are ops of the sequence: they stay where they
			 * are when shrinking drops other ops */
			memset(&o, 0, sizeof(o));
			o.kind = K_CHECK;
			opvec_push(ops, &o);
		} else if (g) {
			gen_next(g, &o);
			opvec_push(ops, &o);
		} else {
			o = ops->v[i];
		}
		if (o.kind == K_CHECK) {
			if (R->trace)
				sb_printf(&R->trace[i], "    both: the trees compared\n");
			ok = state_check(R, i, f);
			continue;
		}
		if (o.kind == K_REMOUNT) {
			if (remount(R)) {
				fail(f, i, "env", "remounting failed");
				f->env = true;
				ok = false;
				break;
			}
			if (R->trace)
				sb_printf(&R->trace[i], "    both: remounted\n");
			ok = state_check(R, i, f);
			continue;
		}
		alarm(OP_TIMEOUT);
		exec_op(&R->a, &o, &R->ra, R->buf);
		bool injected_now = false;
		if (g_cfg->inject && !R->injected && i >= 20 &&
		    inject_fault(g_cfg->inject, &R->a, &o, &R->ra)) {
			R->injected = injected_now = true;
			printf("difftest: self-test: injected fault '%s' at op #%ld\n",
			       g_cfg->inject, i);
		}
		exec_op(&R->b, &o, &R->rb, R->buf2);
		alarm(0);
		if (R->trace) {
			sb_printf(&R->trace[i], "    larchfs: ");
			result_show(&R->trace[i], &o, &R->ra);
			sb_printf(&R->trace[i], "\n    ref:     ");
			result_show(&R->trace[i], &o, &R->rb);
			sb_printf(&R->trace[i], "\n");
		}
		if (g_cfg->verbose) {
			struct strbuf v = { 0 };
			op_print(&v, &o);
			sb_printf(&v, "\n    larchfs: ");
			result_show(&v, &o, &R->ra);
			sb_printf(&v, "\n    ref:     ");
			result_show(&v, &o, &R->rb);
			printf("#%-5ld %s\n", i, v.s);
			free(v.s);
		}
		ok = results_compare(&o, i, &R->ra, &R->rb, f);
		if (ok && (i + 1 == n || injected_now))
			ok = state_check(R, i, f);
	}
	if (ok && n == 0)
		ok = state_check(R, -1, f);
	side_close(&R->a);
	side_close(&R->b);
	if (env_teardown(&R->env) && ok) {
		fail(f, i - 1, "env", "unmounting failed");
		f->env = true;
		ok = false;
	}
	return ok;
}

/* ---- shrinking ------------------------------------------------------------- */

struct shrinker {
	struct runner *R;
	struct failure target;      /* the divergence being kept */
	double deadline;
	long replays;
	long run_no;
};

/* Does ops still diverge the same way?  On success ops is cut after the
 * op where it shows. */
static bool still_fails(struct shrinker *S, struct opvec *ops)
{
	struct failure f = { 0 };
	S->replays++;
	bool ok = run_seq(S->R, ops, (long)ops->n, NULL, ++S->run_no, &f);
	bool same = !ok && !f.env && !strcmp(f.sig, S->target.sig);
	if (same && f.op >= 0 && (size_t)f.op + 1 < ops->n)
		ops->n = (size_t)f.op + 1;
	free(f.msg.s);
	return same;
}

/* Delta debugging: drop chunks of ops, halving the chunk size when no
 * chunk can go, down to single ops; stops at the deadline. */
static void shrink(struct shrinker *S, struct opvec *ops)
{
	struct opvec cand = { 0 };
	size_t chunk = ops->n / 2 ? ops->n / 2 : 1;
	while (chunk >= 1 && now_sec() < S->deadline) {
		bool progress = false;
		for (size_t at = 0; at < ops->n && now_sec() < S->deadline; ) {
			size_t end = at + chunk < ops->n ? at + chunk : ops->n;
			cand.n = 0;
			for (size_t i = 0; i < ops->n; i++)
				if (i < at || i >= end)
					opvec_push(&cand, &ops->v[i]);
			if (cand.n < ops->n && still_fails(S, &cand)) {
				ops->n = 0;
				for (size_t i = 0; i < cand.n; i++)
					opvec_push(ops, &cand.v[i]);
				progress = true;
				fprintf(stderr, "difftest: shrinking: %zu ops (%ld replays)\n",
					ops->n, S->replays);
			} else {
				at = end;
			}
		}
		if (!progress) {
			if (chunk == 1)
				break;
			chunk /= 2;
		} else if (chunk > ops->n / 2 && ops->n > 1) {
			chunk = ops->n / 2;
		}
	}
	free(cand.v);
}

static void replay_write(const char *file, const struct opvec *ops, uint64_t seed,
			 const struct failure *f)
{
	FILE *out = fopen(file, "w");
	if (!out) {
		fprintf(stderr, "difftest: cannot write %s: %s\n", file, strerror(errno));
		return;
	}
	fprintf(out, "# difftest replay: seed %" PRIu64 ", %zu ops\n", seed, ops->n);
	fprintf(out, "# first seen (%s) after op #%ld of the original run:\n", f->sig, f->op);
	for (char *save = NULL, *l = strtok_r(strdup(f->msg.s), "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save))
		fprintf(out, "#   %s\n", l);
	struct strbuf b = { 0 };
	for (size_t i = 0; i < ops->n; i++) {
		sb_reset(&b);
		op_print(&b, &ops->v[i]);
		fprintf(out, "%s\n", b.s);
	}
	free(b.s);
	fclose(out);
}

/* Reads a replay file; *seed gets the seed its header names, if any. */
static int replay_read(const char *file, struct opvec *ops, uint64_t *seed)
{
	FILE *in = fopen(file, "r");
	char line[4096];
	long lineno = 0;
	if (!in) {
		fprintf(stderr, "difftest: %s: %s\n", file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), in)) {
		lineno++;
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\0') {
			sscanf(p, "# difftest replay: seed %" SCNu64, seed);
			continue;
		}
		struct op o;
		const char *why;
		if (!op_parse(p, &o, &why)) {
			fprintf(stderr, "difftest: %s:%ld: %s\n", file, lineno, why);
			fclose(in);
			return -1;
		}
		opvec_push(ops, &o);
	}
	fclose(in);
	return 0;
}

/* Prints the sequence with both sides' results of each op, by replaying
 * it once more with tracing. */
static void print_sequence(struct runner *R, const struct opvec *ops, long run_no)
{
	struct failure f = { 0 };
	struct opvec copy = { 0 };
	for (size_t i = 0; i < ops->n; i++)
		opvec_push(&copy, &ops->v[i]);
	R->trace = calloc(ops->n + 1, sizeof(*R->trace));
	run_seq(R, &copy, (long)copy.n, NULL, run_no, &f);
	struct strbuf b = { 0 };
	for (size_t i = 0; i < ops->n; i++) {
		sb_reset(&b);
		op_print(&b, &ops->v[i]);
		printf("  #%-4zu %s\n%s", i, b.s, R->trace[i].s ? R->trace[i].s : "");
		free(R->trace[i].s);
	}
	if (f.failed)
		printf("  => %s after op #%ld:\n     %s\n", f.sig, f.op, f.msg.s);
	else
		printf("  => this replay did not diverge (a flaky divergence?)\n");
	free(R->trace);
	R->trace = NULL;
	free(b.s);
	free(f.msg.s);
	free(copy.v);
}

/* Reports a divergence of ops (as run, cut after the failing op), shrinks
 * it and saves the replay file.  Returns the exit status. */
static int report(struct runner *R, struct opvec *ops, const struct failure *f,
		  uint64_t seed, long *run_no)
{
	struct strbuf b = { 0 };
	printf("\ndifftest: DIVERGENCE (seed %" PRIu64 ") after op #%ld of %zu: %s\n%s\n",
	       seed, f->op, ops->n, f->sig, f->msg.s);
	if (f->op >= 0) {
		op_print(&b, &ops->v[f->op]);
		printf("  op #%ld: %s\n", f->op, b.s);
	}
	fflush(stdout);
	if (f->op >= 0 && (size_t)f->op + 1 < ops->n)
		ops->n = (size_t)f->op + 1;

	struct shrinker S = { .R = R, .target = *f, .run_no = *run_no,
			      .deadline = now_sec() + g_cfg->shrink_time };
	if (g_cfg->shrink && !f->env) {
		struct opvec copy = { 0 };
		for (size_t i = 0; i < ops->n; i++)
			opvec_push(&copy, &ops->v[i]);
		bool again = still_fails(&S, &copy);
		if (!again) {
			printf("difftest: the divergence did not show again on a fresh replay "
			       "(flaky?); not shrinking\n");
		} else {
			fprintf(stderr, "difftest: shrinking %zu ops\n", copy.n);
			shrink(&S, &copy);
			/* a divergence of the trees shows at the next check: with a
			 * check after every op, it shows at the op that caused it */
			if (!strncmp(f->sig, "state:", 6) && copy.n <= 300) {
				struct opvec every = { 0 };
				struct op chk = { .kind = K_CHECK, .slot = -1, .slot2 = -1 };
				for (size_t i = 0; i < copy.n; i++)
					if (copy.v[i].kind != K_CHECK) {
						opvec_push(&every, &copy.v[i]);
						opvec_push(&every, &chk);
					}
				if (still_fails(&S, &every)) {
					shrink(&S, &every);
					copy.n = 0;
					for (size_t i = 0; i < every.n; i++)
						opvec_push(&copy, &every.v[i]);
				}
				free(every.v);
			}
			ops->n = 0;
			for (size_t i = 0; i < copy.n; i++)
				opvec_push(ops, &copy.v[i]);
		}
		free(copy.v);
		*run_no = S.run_no;
		printf("\ndifftest: %s sequence (%zu ops, %ld replays):\n",
		       again ? "shrunk" : "the", ops->n, S.replays);
		if (again)
			print_sequence(R, ops, ++*run_no);
	}
	char file[PATH_MAX];
	pathf(file, sizeof(file), "%s/difftest-%" PRIu64 ".replay", g_cfg->save_dir, seed);
	struct failure fw = *f;
	replay_write(file, ops, seed, &fw);
	printf("\ndifftest: replay file: %s\n  difftest --replay %s%s%s%s%s%s\n",
	       file, file,
	       g_cfg->mount_opts ? " --mount-opts " : "",
	       g_cfg->mount_opts ? g_cfg->mount_opts : "",
	       g_cfg->mkfs_opts ? " --mkfs-opts '" : "",
	       g_cfg->mkfs_opts ? g_cfg->mkfs_opts : "", g_cfg->mkfs_opts ? "'" : "");
	free(b.s);
	return 1;
}

/* ---- main ------------------------------------------------------------------- */

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: difftest [--seed S] [--ops N] [--runs R | --soak SECONDS]\n"
		"                [--larchfs BIN --mkfs BIN] [--mount-opts OPTS] [--mkfs-opts ARGS]\n"
		"       difftest --mnt MNT --ref DIR [...]\n"
		"       difftest --replay FILE [...]\n"
		"options:\n"
		"  --seed S          first seed (default: from the clock; printed)\n"
		"  --ops N           operations per run (default 2000)\n"
		"  --runs R          runs, seeds S, S+1, ... (default 1)\n"
		"  --soak SECONDS    runs with new seeds until the time is up\n"
		"  --larchfs, --mkfs the binaries; each run formats and mounts a store\n"
		"                    (default $LARCHFS, $MKFS_LARCHFS, else build/...)\n"
		"  --mount-opts OPTS larchfs -o OPTS (e.g. nowriteback)\n"
		"  --mkfs-opts ARGS  more mkfs.larchfs arguments (e.g. \"-b 4096\")\n"
		"  --mnt, --ref      use this larchfs mount and this host directory\n"
		"                    instead (workspaces are made inside; no remounts;\n"
		"                    mount with -o allow_other, or give --no-users)\n"
		"  --no-users        run every operation as root\n"
		"  --replay FILE     run the ops of a replay file instead of generating\n"
		"  --check-every K   generate a \"check\" (compare the whole trees) as every\n"
		"                    K-th op (default 20); the trees are compared at the\n"
		"                    end and after remounts too\n"
		"  --no-shrink       report the first divergence without shrinking it\n"
		"  --shrink-time S   give shrinking at most S seconds (default 300)\n"
		"  --save-dir DIR    where replay files go (default .)\n"
		"  --tmpdir DIR      where stores and reference trees go ($TMPDIR, /tmp)\n"
		"  --exclude K,...   do not generate these operations (e.g. seek,remount),\n"
		"                    to look past a known divergence\n"
		"  --verbose         print every op with both results\n"
		"  --inject FAULT    self-test, with --mnt and --ref two host directories:\n"
		"                    change side A behind the checks' back (content, size,\n"
		"                    mode, xattr, names, readlink, mtime, read, errno, seek,\n"
		"                    links); the run must report a divergence\n");
	exit(status);
}

static int prerequisites(const struct config *c)
{
	if (geteuid() != 0) {
		printf("difftest: skipped: needs root\n");
		return 77;
	}
	if (!c->larchfs)
		return 0;
	if (access("/dev/fuse", R_OK | W_OK)) {
		printf("difftest: skipped: needs /dev/fuse\n");
		return 77;
	}
	if (access(c->larchfs, X_OK) || access(c->mkfs, X_OK)) {
		printf("difftest: skipped: %s or %s is not built\n", c->larchfs, c->mkfs);
		return 77;
	}
	char *argv[] = { "fusermount3", "--version", NULL };
	if (run_cmd(argv, NULL) != 0) {
		printf("difftest: skipped: needs fusermount3\n");
		return 77;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'n' },
		{ "runs", required_argument, NULL, 'r' },
		{ "soak", required_argument, NULL, 'S' },
		{ "larchfs", required_argument, NULL, 'L' },
		{ "mkfs", required_argument, NULL, 'M' },
		{ "mount-opts", required_argument, NULL, 'o' },
		{ "mkfs-opts", required_argument, NULL, 'F' },
		{ "mnt", required_argument, NULL, 'm' },
		{ "ref", required_argument, NULL, 'R' },
		{ "replay", required_argument, NULL, 'p' },
		{ "check-every", required_argument, NULL, 'k' },
		{ "no-shrink", no_argument, NULL, 'x' },
		{ "shrink-time", required_argument, NULL, 't' },
		{ "save-dir", required_argument, NULL, 'd' },
		{ "tmpdir", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "exclude", required_argument, NULL, 'X' },
		{ "inject", required_argument, NULL, 'I' },
		{ "no-users", no_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	struct config c = { .ops = 2000, .runs = 1, .check_every = 20, .shrink = true,
			    .shrink_time = 300, .save_dir = "." };
	bool have_seed = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': c.seed = strtoull(optarg, NULL, 0); have_seed = true; break;
		case 'n': c.ops = atol(optarg); break;
		case 'r': c.runs = atol(optarg); break;
		case 'S': c.soak = atof(optarg); break;
		case 'L': c.larchfs = optarg; break;
		case 'M': c.mkfs = optarg; break;
		case 'o': c.mount_opts = optarg; break;
		case 'F': c.mkfs_opts = optarg; break;
		case 'm': c.mnt = optarg; break;
		case 'R': c.ref = optarg; break;
		case 'p': c.replay = optarg; break;
		case 'k': c.check_every = atoi(optarg); break;
		case 'x': c.shrink = false; break;
		case 't': c.shrink_time = atof(optarg); break;
		case 'd': c.save_dir = optarg; break;
		case 'T': c.tmpdir = optarg; break;
		case 'v': c.verbose = true; break;
		case 'U': c.no_users = true; break;
		case 'I': {
			unsigned k;
			for (k = 0; faults[k] && strcmp(faults[k], optarg); k++)
				;
			if (!faults[k]) {
				fprintf(stderr, "difftest: faults:");
				for (k = 0; faults[k]; k++)
					fprintf(stderr, " %s", faults[k]);
				fprintf(stderr, "\n");
				usage(2);
			}
			c.inject = optarg;
			break;
		}
		case 'X':
			for (char *save = NULL, *w = strtok_r(optarg, ",", &save); w;
			     w = strtok_r(NULL, ",", &save)) {
				unsigned k;
				for (k = 0; k < K_NKINDS && strcmp(kinds[k].name, w); k++)
					;
				if (k == K_NKINDS) {
					fprintf(stderr, "difftest: no operation '%s'\n", w);
					usage(2);
				}
				c.exclude[k] = true;
			}
			break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind != argc || c.ops < 0 || c.runs < 1 || c.check_every < 1 ||
	    (!c.mnt != !c.ref) || (c.mnt && (c.larchfs || c.mkfs)))
		usage(2);
	if (!c.mnt) {
		const char *l = getenv("LARCHFS"), *m = getenv("MKFS_LARCHFS");
		c.larchfs = c.larchfs ? c.larchfs : l ? l : "build/fs/larchfs";
		c.mkfs = c.mkfs ? c.mkfs : m ? m : "build/mkfs/mkfs.larchfs";
	}
	if (!c.tmpdir)
		c.tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	if (!have_seed) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		c.seed = ((uint64_t)ts.tv_sec * 1000003u + (uint64_t)ts.tv_nsec / 1000) % 1000000000u;
	}
	static char lpath[PATH_MAX], mpath[PATH_MAX];
	if (c.larchfs && realpath(c.larchfs, lpath))
		c.larchfs = lpath;
	if (c.mkfs && realpath(c.mkfs, mpath))
		c.mkfs = mpath;
	g_cfg = &c;
	int rc = prerequisites(&c);
	if (rc)
		return rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	pools_init();
	umask(022);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	atexit(on_exit_cleanup);

	const char *refroot = c.ref ? c.ref : c.tmpdir;
	char what[PATH_MAX + 64];
	if (c.replay)
		pathf(what, sizeof(what), "replay of %s", c.replay);
	else
		pathf(what, sizeof(what), "seed %" PRIu64 ", %ld ops", c.seed, c.ops);
	printf("difftest: %s; larchfs %s%s%s%s%s; reference in %s (%s)\n",
	       what, c.larchfs ? c.larchfs : c.mnt,
	       c.mount_opts ? " -o " : "", c.mount_opts ? c.mount_opts : "",
	       c.mkfs_opts ? ", mkfs " : "", c.mkfs_opts ? c.mkfs_opts : "", refroot,
	       fs_is_ext(refroot) ? "ext2/3/4" : "NOT ext4: expect legitimate differences");

	struct runner R = { .check_every = c.check_every };
	R.buf = xmalloc(2 * IO_MAX + 65536);
	R.buf2 = xmalloc(2 * IO_MAX + 65536);
	struct opvec ops = { 0 };
	struct failure f = { 0 };
	long run_no = 0;
	double start = now_sec();

	if (c.replay) {
		if (replay_read(c.replay, &ops, &c.seed))
			return 2;
		printf("difftest: replaying %zu ops from %s\n", ops.n, c.replay);
		if (run_seq(&R, &ops, (long)ops.n, NULL, ++run_no, &f)) {
			printf("difftest: ok: no divergence in %zu ops (%ld checks, %.1f s)\n",
			       ops.n, R.checks, now_sec() - start);
			return 0;
		}
		if (f.env) {
			printf("difftest: %s\n", f.msg.s);
			return 3;
		}
		return report(&R, &ops, &f, c.seed, &run_no);
	}

	uint64_t seed = c.seed;
	long total_ops = 0, runs = 0;
	for (;; seed++) {
		struct gen g = { .rng = rng_mix(seed) };
		double t0 = now_sec();
		bool ok = run_seq(&R, &ops, c.ops, &g, ++run_no, &f);
		free(g.e);
		runs++;
		total_ops += (long)ops.n;
		if (!ok) {
			if (f.env) {
				printf("difftest: seed %" PRIu64 ": %s\n", seed, f.msg.s);
				return 3;
			}
			return report(&R, &ops, &f, seed, &run_no);
		}
		printf("difftest: seed %" PRIu64 ": ok, %ld ops, %.1f s\n", seed, c.ops,
		       now_sec() - t0);
		if (c.soak > 0 ? now_sec() - start >= c.soak : runs >= c.runs)
			break;
	}
	printf("difftest: ok: %ld runs, %ld ops, %ld tree checks, no divergence (%.1f s)\n",
	       runs, total_ops, R.checks, now_sec() - start);
	runner_free(&R);
	free(ops.v);
	return 0;
}
