/* SPDX-License-Identifier: MIT */
/*
 * The store directory: the names of its files, what each holds, and the
 * handles the engine reads them through.  Nothing else in the engine spells
 * a file name.
 *
 * Files in a store directory:
 *   FORMAT, FORMAT.bak  identity and format version, two copies (format.c)
 *   META, META.bak      the user's record kept outside the log (meta.c)
 *   LOCK                the store lock (the POSIX I/O layer's flock)
 *   snap-<16 hex>       a snapshot of the location table at the end of
 *                       that epoch (snapshot.c)
 *   <8 digits>.log      log files: leaf records and commit records
 *                       (record.c, flush.c, commit.c)
 *   <8 digits>.blob     blob segments (blob.c)
 *   NAME.tmp            a file being written before its rename to NAME
 * Log file and segment numbers start at 1 and are never reused.
 *
 * Reads of log files and segments go through one table of read handles,
 * opened on first use and closed before the file is deleted.  A handle is
 * used under files_mu held shared, so reads run in parallel and a handle is
 * never closed under a reader.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- names ---- */

void file_name(char out[FILE_NAME_MAX], enum file_kind kind, uint64_t no)
{
	switch (kind) {
	case FILE_LOG:
		snprintf(out, FILE_NAME_MAX, "%08" PRIu32 ".log", (uint32_t)no);
		break;
	case FILE_BLOB:
		snprintf(out, FILE_NAME_MAX, "%08" PRIu32 ".blob", (uint32_t)no);
		break;
	case FILE_SNAP:
		snprintf(out, FILE_NAME_MAX, "snap-%016" PRIx64, no);
		break;
	case FILE_FORMAT:
		snprintf(out, FILE_NAME_MAX, no == FORMAT_BACKUP ? "FORMAT.bak" : "FORMAT");
		break;
	case FILE_META:
		snprintf(out, FILE_NAME_MAX, no ? "META.bak" : "META");
		break;
	case FILE_LOCK:
		snprintf(out, FILE_NAME_MAX, "%s", LKV_LOCK_FILE);
		break;
	}
}

static bool all_digits(const char *p, size_t n, bool hex)
{
	for (size_t i = 0; i < n; i++)
		if (!(hex ? strchr("0123456789abcdef", p[i]) && p[i] : p[i] >= '0' && p[i] <= '9'))
			return false;
	return true;
}

/* Parses the name of a store file: its kind and number (log file or
 * segment number, snapshot epoch); *tmp when it is a NAME.tmp being
 * written.  False when the name is not one of the store's. */
bool file_parse(const char *name, struct file_id *id, bool *tmp)
{
	char base[FILE_NAME_MAX];
	size_t l = strlen(name);
	*tmp = l > 4 && !strcmp(name + l - 4, ".tmp");
	if (*tmp)
		l -= 4;
	if (l >= sizeof(base))
		return false;
	memcpy(base, name, l);
	base[l] = 0;
	*id = (struct file_id){ 0 };
	if (!strcmp(base, "FORMAT"))
		id->kind = FILE_FORMAT;
	else if (!strcmp(base, "FORMAT.bak"))
		*id = (struct file_id){ FILE_FORMAT, FORMAT_BACKUP };
	else if (!strcmp(base, "META") || !strcmp(base, "META.bak"))
		*id = (struct file_id){ FILE_META, base[4] != 0 };
	else if (!strcmp(base, LKV_LOCK_FILE) && !*tmp)
		id->kind = FILE_LOCK;
	else if (l == 21 && !strncmp(base, "snap-", 5) && all_digits(base + 5, 16, true))
		*id = (struct file_id){ FILE_SNAP, strtoull(base + 5, NULL, 16) };
	else if (l == 12 && !strcmp(base + 8, ".log") && all_digits(base, 8, false))
		*id = (struct file_id){ FILE_LOG, strtoull(base, NULL, 10) };
	else if (l == 13 && !strcmp(base + 8, ".blob") && all_digits(base, 8, false))
		*id = (struct file_id){ FILE_BLOB, strtoull(base, NULL, 10) };
	else
		return false;
	return true;
}

/* What a file of this kind holds, in words (for the tools). */
static const char *file_holds(enum file_kind kind, bool tmp)
{
	if (tmp)
		return "being written (left by a crash)";
	switch (kind) {
	case FILE_LOG: return "log: leaves, commits";
	case FILE_BLOB: return "blob segment";
	case FILE_SNAP: return "snapshot of the leaf table";
	case FILE_FORMAT: return "store identity";
	case FILE_META: return "the user's record, kept outside the log";
	case FILE_LOCK: return "store lock";
	}
	return "";
}

/* ---- listing ---- */

struct listing {
	lkv_io *io;
	files_fn fn;
	void *arg;
};

static int list_one(void *arg, const char *name)
{
	struct listing *ls = arg;
	struct file_id id;
	bool tmp;
	if (!file_parse(name, &id, &tmp))
		return ls->fn(ls->arg, NULL, false, name);
	return ls->fn(ls->arg, &id, tmp, name);
}

/* Calls fn for every name in the directory: with its parsed identity, or
 * with NULL for a name that is not a store file.  Stops at fn's first
 * non-zero return, which it returns. */
int files_list(lkv_io *io, files_fn fn, void *arg)
{
	struct listing ls = { io, fn, arg };
	return io->ops->list(io, list_one, &ls);
}

int file_size(lkv_io *io, const char *name, uint64_t *size)
{
	lkv_file *f;
	int err = io->ops->open(io, name, LKV_IO_RDONLY, &f);
	if (err)
		return err;
	err = io->ops->size(f, size);
	io->ops->close(f);
	return err;
}

/* Writes a small file whole and durably under its name: to NAME.tmp first,
 * synced, then renamed over NAME, then the directory synced. */
int file_write_whole(lkv_io *io, const char *name, const void *p, size_t len)
{
	char tmp[FILE_NAME_MAX + 4];
	lkv_file *f;
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	int err = io->ops->open(io, tmp, LKV_IO_CREATE, &f);
	if (err)
		return err;
	err = io->ops->truncate(f, 0);
	if (!err) {
		ssize_t n = io->ops->pwrite(f, p, len, 0);
		err = n < 0 ? (int)n : (size_t)n == len ? 0 : -EIO;
	}
	if (!err)
		err = io->ops->sync(f);
	io->ops->close(f);
	if (!err)
		err = io->ops->rename(io, tmp, name);
	if (!err)
		err = io->ops->sync_dir(io);
	return err;
}

/* ---- read handles of log files and segments ---- */

static lkv_file *handle_find(lkv_store *s, enum file_kind kind, uint32_t no)
{
	for (size_t i = 0; i < s->nfiles; i++)
		if (s->files[i].no == no && s->files[i].kind == kind)
			return s->files[i].f;
	return NULL;
}

/* Opens a read handle on a log file or segment unless one is open. */
static int handle_open(lkv_store *s, enum file_kind kind, uint32_t no)
{
	pthread_rwlock_wrlock(&s->files_mu);
	int err = 0;
	if (!handle_find(s, kind, no)) {
		char name[FILE_NAME_MAX];
		lkv_file *f;
		file_name(name, kind, no);
		void *v = realloc(s->files, (s->nfiles + 1) * sizeof(*s->files));
		err = v ? s->io->ops->open(s->io, name, LKV_IO_RDONLY, &f) : -ENOMEM;
		if (v)
			s->files = v;
		if (!err) {
			s->files[s->nfiles].kind = kind;
			s->files[s->nfiles].no = no;
			s->files[s->nfiles++].f = f;
		}
	}
	pthread_rwlock_unlock(&s->files_mu);
	return err;
}

/* Closes the read handle of a file about to be deleted. */
void store_file_forget(lkv_store *s, enum file_kind kind, uint32_t no)
{
	pthread_rwlock_wrlock(&s->files_mu);
	for (size_t i = 0; i < s->nfiles; i++) {
		if (s->files[i].no != no || s->files[i].kind != kind)
			continue;
		s->io->ops->close(s->files[i].f);
		s->files[i] = s->files[--s->nfiles];
		break;
	}
	pthread_rwlock_unlock(&s->files_mu);
}

void store_files_close(lkv_store *s)
{
	for (size_t i = 0; i < s->nfiles; i++)
		s->io->ops->close(s->files[i].f);
	free(s->files);
	s->files = NULL;
	s->nfiles = 0;
}

/* Reads exactly len bytes at off of a log file or segment; a short read is
 * -EIO. */
int store_read_at(lkv_store *s, enum file_kind kind, uint32_t no, uint64_t off, void *buf,
		  size_t len)
{
	LKV_ASSERT(kind == FILE_LOG || kind == FILE_BLOB);
	for (;;) {
		pthread_rwlock_rdlock(&s->files_mu);
		lkv_file *f = handle_find(s, kind, no);
		ssize_t n = f ? s->io->ops->pread(f, buf, len, off) : 0;
		pthread_rwlock_unlock(&s->files_mu);
		if (!f) {
			int err = handle_open(s, kind, no);
			if (err)
				return err;
			continue;
		}
		if (n < 0)
			return (int)n;
		STAT_ADD(s, st_bread, (uint64_t)n);
		return (size_t)n == len ? 0 : -EIO;
	}
}

/* ---- what the tools see ---- */

static int open_io(const char *dir, lkv_io *io, lkv_io **out)
{
	if (io) {
		*out = io;
		return 0;
	}
	return lkv_io_posix(dir, false, out);
}

static void close_io(lkv_io *given, lkv_io *io)
{
	if (!given && io)
		io->ops->destroy(io);
}

struct probe { int what; char *foreign; size_t cap; };

static int probe_one(void *arg, const struct file_id *id, bool tmp, const char *name)
{
	struct probe *p = arg;
	if (id && id->kind == FILE_FORMAT && !tmp)
		p->what |= LKV_PROBE_STORE;
	if (!id && !(p->what & LKV_PROBE_FOREIGN)) {
		p->what |= LKV_PROBE_FOREIGN;
		if (p->foreign && p->cap)
			snprintf(p->foreign, p->cap, "%s", name);
	}
	return 0;
}

int lkv_probe(const char *dir, lkv_io *io, char *foreign, size_t cap)
{
	lkv_io *use = NULL;
	int err = open_io(dir, io, &use);
	if (err)
		return err == -ENOENT ? LKV_PROBE_EMPTY : err;
	struct probe p = { LKV_PROBE_EMPTY, foreign, cap };
	err = files_list(use, probe_one, &p);
	close_io(io, use);
	return err ? err : p.what;
}

static int destroy_one(void *arg, const struct file_id *id, bool tmp, const char *name)
{
	lkv_io *io = arg;
	(void)tmp;
	if (!id || id->kind == FILE_LOCK)
		return 0;
	int err = io->ops->unlink(io, name);
	return err == -ENOENT ? 0 : err;
}

int lkv_destroy(const char *dir, lkv_io *io)
{
	lkv_io *use = NULL;
	int err = open_io(dir, io, &use);
	if (err)
		return err == -ENOENT ? 0 : err;
	err = use->ops->lock(use, true);
	if (!err)
		err = files_list(use, destroy_one, use);
	if (!err)
		err = use->ops->sync_dir(use);
	close_io(io, use);      /* releases the lock (the POSIX layer's) */
	return err;
}

struct info_walk { lkv_io *io; lkv_file_fn fn; void *arg; };

static int info_one(void *arg, const struct file_id *id, bool tmp, const char *name)
{
	struct info_walk *w = arg;
	struct lkv_file_info fi = { .name = name, .holds = id ? file_holds(id->kind, tmp) : "" };
	file_size(w->io, name, &fi.size);
	return w->fn(w->arg, &fi);
}

int lkv_list_files(const char *dir, lkv_io *io, lkv_file_fn fn, void *arg)
{
	lkv_io *use = NULL;
	int err = open_io(dir, io, &use);
	if (err)
		return err;
	struct info_walk w = { use, fn, arg };
	err = files_list(use, info_one, &w);
	close_io(io, use);
	return err;
}
