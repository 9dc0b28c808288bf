/* SPDX-License-Identifier: MIT */
/*
 * What the parts of fsck.larchfs share: the check's context, the per-inode
 * fact table, problem reporting and the passes.
 *
 *   fsck.c          options, opening the store, the pass driver, the summary
 *   fsck_report.c   problems, answers (yes/no/preen), progress, paths
 *   fsck_keys.c     key scans that survive unreadable values; key fixes
 *   fsck_records.c  inode records and entries by key (fs/format.h codecs)
 *   fsck_facts.c    per-inode facts: compact sorted arrays, spilled to a
 *                   scratch larchkv store past the memory budget
 *   fsck_engine.c   pass 0: lkv_check, damage mapped to files
 *   fsck_inodes.c   pass 1: inodes, extents, xattrs, orphans (and shifts)
 *   fsck_dirents.c  pass 2: directory entries
 *   fsck_connect.c  pass 3: unattached inodes and cycles, lost+found
 *   fsck_counts.c   pass 4: link counts and directory sizes;
 *                   pass 5: the superblock and the inode allocator
 *
 * The store is mounted through the core's API (fs/lfs.h) and checked tree
 * by tree through the key layouts and record codecs of fs/format.h, with
 * one scan per tree, in key order.  What the later passes need to know
 * about an inode is kept in its fact record; everything else streams.
 *
 * Fixes: each problem has a class.  SAFE problems (accounting: link counts,
 * sizes, stored bytes, parent fields, stale orphan records, the allocator)
 * are what -p fixes without asking; anything else needs -y.  Every fix is
 * one kv batch, committed at once; the passes keep the fact table as it
 * would be after the fix, so later passes see the repaired filesystem
 * whether or not the fix was made (-n reports the same problems -y fixes).
 */
#ifndef LARCHFS_FSCK_H
#define LARCHFS_FSCK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "format.h"
#include "lfs.h"

/* fsck(8) exit status bits */
#define FSCK_OK          0
#define FSCK_CORRECTED   1
#define FSCK_UNCORRECTED 4
#define FSCK_ERROR       8
#define FSCK_USAGE       16

/* ---- per-inode facts (fsck_facts.c) ---- */

/* flags */
#define F_NAMED   0x01u  /* a directory: its one entry has been accepted */
#define F_ORPHAN  0x02u  /* nlink 0 with an orphan record: unlinked while open */
#define F_DEAD    0x04u  /* treated as missing (bad record, invalid symlink) */
#define F_PATH    0x08u  /* its path is wanted for the report */
#define F_ONPATH  0x10u  /* pass 3: on the parent walk in progress */
#define F_REACHED 0x20u  /* pass 3: its parent chain reaches the root */
#define F_DATA    0x40u  /* pass 0 lost some of its data */
#define F_STRAY   0x80u  /* pass 3: in no directory, and left there (there is
			    no lost+found to move it to): pass 4 leaves its
			    link count alone */
#define F_SHIFT   0x100u /* its record has INODE_SHIFTING (fs/shift.c) */
#define F_SHIFTED 0x200u /* pass 1d: and a shift record to go with it */

struct fact {
	uint64_t size;     /* bytes; directories: entries (as recorded) */
	uint64_t stored;   /* as recorded */
	uint64_t parent;   /* directories: as recorded, then as repaired */
	uint32_t nlink;    /* as recorded */
	uint32_t mode;
	uint32_t refs;     /* entries naming it (non-directories) */
	uint32_t entries;  /* directories: entries found */
	uint32_t subdirs;  /* directories: subdirectories found */
	uint32_t flags;
};

struct facts;

/* budget: bytes of RAM the table may use before it spills into a scratch
 * store under tmpdir (cache_bytes of RAM for that store's cache). */
int  facts_new(size_t budget, const char *tmpdir, size_t cache_bytes, struct facts **out);
void facts_free(struct facts *f);
/* Appends (ino above every ino added so far). */
int  facts_add(struct facts *f, uint64_t ino, const struct fact *x);
/* 0, or -ENOENT when ino has no record. */
int  facts_get(struct facts *f, uint64_t ino, struct fact *x);
/* Replaces the record of an existing ino. */
int  facts_set(struct facts *f, uint64_t ino, const struct fact *x);
uint64_t facts_count(const struct facts *f);
bool facts_spilled(const struct facts *f);
size_t facts_ram(const struct facts *f);   /* bytes held in RAM */
/* The scratch store's memory (zeros before a spill). */
void facts_scratch_memory(const struct facts *f, struct lkv_memory *m, uint64_t *cache_peak);

/* In-order walk; the callback may facts_set the record it was given. */
struct facts_cursor;
int  facts_cursor_open(struct facts *f, struct facts_cursor **out);
/* 1 with the next record, 0 at the end, or a negative errno. */
int  facts_cursor_next(struct facts_cursor *c, uint64_t *ino, struct fact *x);
void facts_cursor_close(struct facts_cursor *c);

/* ---- the check ---- */

enum fix_mode { FIX_NONE, FIX_SAFE, FIX_ALL };
enum fix_class { SAFE, UNSAFE };

/* A file's entry, remembered for its path (pass 0 damage, pass 1 problems). */
struct named { uint64_t ino, parent; char *name; };

/* A block or value found lost (pass 0, or the data of a leaf pass 0
 * emptied, pass 1), for the report by path.  block: the block number, or
 * LOST_XATTR (what: its name), LOST_BYTES (what: how many bytes) or
 * LOST_INODE (the inode record itself). */
struct lost { uint64_t ino, block; char *what; bool repaired; };
#define LOST_XATTR UINT64_MAX
#define LOST_BYTES (UINT64_MAX - 1)
#define LOST_INODE (UINT64_MAX - 2)     /* the record: recreated from its data */
#define LOST_ENTRIES (UINT64_MAX - 3)   /* a directory's entries, some of them */
#define LOST_XATTRS (UINT64_MAX - 4)    /* its extended attributes, any it had */

/* A directory entry that names a directory but disagrees with its parent
 * field (pass 2), settled when every entry has been seen. */
struct cand { uint64_t parent, child; char *name; };

struct fsck {
	const char *store;
	lfs *fs;
	lkv_store *s;
	lkv_tree *t[TREES];       /* the trees of the mount being looked at */
	struct lfs_info info;
	enum fix_mode fix;
	bool preen, verbose, quiet_probe;
	int progress_fd;          /* -1 none; -2 a bar on stdout */
	size_t mem;               /* -m */
	const char *tmpdir;

	struct facts *facts;
	lkv_batch *b;             /* the one batch a fix builds */

	/* what was found */
	uint64_t found, fixed, left, notes;
	bool op_error;            /* an operational failure: exit 8 */
	bool unsafe_seen;         /* -p probe: something -p may not fix */
	bool incomplete;          /* a tree could not be read whole */
	bool inodes_whole, dirents_whole, extents_whole;
	bool extents_lost;        /* pass 0 met an unreadable extents leaf */

	/* pass 0 */
	struct lost *lost;
	size_t nlost, caplost;
	struct ino_range { uint64_t lo, hi; } *lost_inodes, *lost_dirs, *lost_xattrs;
				  /* leaves emptied or unreadable: inodes,
				     entries of these parents, their xattrs
				     (fsck_salvage.c) */
	size_t nlost_inodes, nlost_dirs, nlost_xattrs;
	unsigned leaves_bad;      /* unreadable leaves not repaired */
	struct lkv_check_stats kst;

	/* pass 1 */
	uint64_t files, dirs, data_bytes, max_ino;
	uint64_t orphans_pending; /* open-file leftovers (nlink 0) */
	uint64_t shifts_pending;  /* interrupted collapses and inserts */
	uint64_t orphans_reclaimed_at_mount, orphans_stale_at_mount;

	/* pass 2 */
	struct named *named;
	size_t nnamed, capnamed;
	bool named_sorted;
	struct cand *cands;
	size_t ncands, capcands;
	uint64_t path_cache_ino;  /* one resolved directory path, cached */
	char *path_cache;

	/* progress */
	int pass;
	double pass_t0;           /* when the pass began */
	double last_progress;
	uint64_t last_cur;
};

/* ---- reporting (fsck_report.c) ---- */

/* Reports a problem (printed with the answer: yes, no, or FIXED with -p);
 * true when the caller should fix it now.  After the fix, call fix_done
 * with its result. */
bool problem(struct fsck *c, enum fix_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void fix_done(struct fsck *c, int err);
/* Reports a problem no mode of fsck can fix (yet). */
void unfixable(struct fsck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports something that is not an error (counts as nothing). */
void note(struct fsck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An operational failure (I/O, memory): printed, exit status 8. */
void op_fail(struct fsck *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Commits c->b (the fix's batch); fix_done(c, result). */
void fix_commit(struct fsck *c);

void pass_start(struct fsck *c, int pass, const char *title);
void progress(struct fsck *c, uint64_t cur, uint64_t max);
void pass_end(struct fsck *c);
void progress_done(struct fsck *c);   /* erases the bar */

/* The path of ino (a directory, or a file with a remembered entry) for
 * messages; "inode N" when it cannot be told.  Returns buf. */
const char *path_of(struct fsck *c, uint64_t ino, char *buf, size_t cap);
/* PATH/NAME of an entry of directory parent. */
const char *entry_path(struct fsck *c, uint64_t parent, const char *name, char *buf,
		       size_t cap);
/* Copies a name from key bytes into buf with non-printable bytes escaped. */
const char *name_printable(const uint8_t *p, size_t n, char *buf, size_t cap);
const char *type_name(uint32_t mode);
int  remember_entry(struct fsck *c, uint64_t ino, uint64_t parent, const char *name);

/* ---- key scans ---- */

/* Calls fn for each key of t from lo (NULL: the first) in order, with the
 * value when want_value (else NULL and its length).  A value that cannot
 * be read (a damaged blob, with -n) is passed as NULL with *bad set.
 * fn returns 0 to go on, 1 to stop, or a negative errno.  Returns 0, fn's
 * error, or -EIO when a leaf could not be read (reported). */
typedef int (*scan_fn)(struct fsck *c, void *arg, const uint8_t *k, size_t kl,
		       const uint8_t *v, size_t vl, bool bad);
int scan_tree(struct fsck *c, lkv_tree *t, const void *lo, size_t lo_len, bool want_value,
	      scan_fn fn, void *arg);

/* Deletes one key in its own batch; fix_done with the result. */
void fix_delete(struct fsck *c, lkv_tree *t, const uint8_t *k, size_t kl);
/* Deletes every key of t starting with p, in batches. */
int  drop_prefix(struct fsck *c, lkv_tree *t, const uint8_t *p, size_t plen);

/* ---- the passes ---- */
int pass0_engine(struct fsck *c);
int pass1_inodes(struct fsck *c);
int pass2_dirents(struct fsck *c);
int pass3_connect(struct fsck *c);
int pass4_counts(struct fsck *c);
int pass5_super(struct fsck *c);
void report_lost(struct fsck *c);    /* lost data and values, by path */

/* ---- salvage (fsck_salvage.c) ---- */
void salvage_note_leaf(struct fsck *c, const struct lkv_damage *d);
void salvage_note_key(struct fsck *c, const struct lkv_damage *d);
int  salvage_inodes(struct fsck *c);     /* before pass 1 */
int  salvage_losses(struct fsck *c);     /* after pass 1 read the inodes */
void lost_note(struct fsck *c, uint64_t ino, uint64_t block, const char *what,
	       bool repaired);

/* ---- records (fsck_records.c), through c->t; writes go into c->b ---- */

/* -ENOENT when ino has no record, -EIO when it cannot be read or decoded. */
int  inode_load(struct fsck *c, uint64_t ino, struct inode *in);
int  inode_store(struct fsck *c, const struct inode *in);
/* Clears `bits` of inode ino's flags and commits it (its own fix). */
int  inode_clear_flags(struct fsck *c, uint64_t ino, uint32_t bits);
/* The entry `name` (1..LFS_NAME_MAX bytes) of directory parent: -ENOENT,
 * or -EIO when it cannot be read or its value is not an entry. */
int  entry_get(struct fsck *c, uint64_t parent, const char *name, struct dirent_val *d);
/* Makes a new empty directory ino (owned by root, mode perm) whose parent
 * is the root, named `name` there when that name is free (NULL: no name),
 * and commits it. */
int  dir_make(struct fsck *c, uint64_t ino, mode_t perm, const char *name);
int  entry_put(struct fsck *c, uint64_t parent, const char *name,
	       const struct dirent_val *d);
int  entry_del(struct fsck *c, uint64_t parent, const char *name);
/* The name (raw bytes, NUL-terminated) under which directory parent lists
 * child, into name[LFS_NAME_MAX + 1]; returns its length, 0 when no entry
 * of parent names child. */
size_t entry_name(struct fsck *c, uint64_t parent, uint64_t child, char *name);
/* An inode record's facts: false unless it decodes with a known type. */
bool inode_record_decode(const uint8_t *p, size_t len, struct fact *x);

/* The name under which the root holds lost+found (as e2fsck finds it). */
#define LOST_FOUND_NAME "lost+found"

#define SCRATCH_NAME   "fsck.larchfs-XXXXXX"

#endif
