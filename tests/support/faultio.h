/* SPDX-License-Identifier: MIT */
/*
 * faultio: an in-memory, fault-injecting implementation of larchkv's I/O
 * layer (struct lkv_io_ops) that models a power cut precisely.
 *
 * A faultio holds one whole store directory in memory.  Pass faultio_io(f)
 * as lkv_options.io; the engine borrows it.  Tests then inject errors,
 * freeze the "disk" at an exact call, and derive the disk image a power cut
 * would leave behind, which they open with a fresh store.
 *
 * ---- The model ----------------------------------------------------------
 *
 * Files are inodes.  Each inode has
 *   - its DURABLE contents: what is on stable storage, as of its last
 *     successful sync(), and
 *   - the ordered list of writes and truncates made since then (UNSYNCED
 *     operations).
 * Reads see the CURRENT contents: the durable contents with every unsynced
 * operation applied in order (a page cache that never loses anything while
 * the power is on).  sync(file) makes the current contents durable and
 * empties the list.  A file's size is part of its contents.
 *
 * The directory maps names to inodes.  There is a DURABLE namespace (as of
 * the last successful sync_dir()) and the ordered list of PENDING name
 * operations since then: create (open with LKV_IO_CREATE of a missing name),
 * unlink and rename.  The CURRENT namespace, which open/list/unlink/rename
 * see, is the durable one with the pending operations applied.  sync_dir()
 * makes all of them durable.  A file that is created and synced but whose
 * name never reached a sync_dir is lost by a power cut, exactly as POSIX
 * allows.  Open handles refer to inodes, not names (unlink and rename do not
 * disturb them).
 *
 * A power cut (faultio_crash) produces a new faultio holding:
 *   - namespace: the durable namespace plus a random prefix of the pending
 *     name operations, in order (none with FAULTIO_DROP_ALL);
 *   - for each file in it: its durable contents plus some of its unsynced
 *     operations, chosen by mode:
 *       FAULTIO_ORDERED (0)  a random prefix, in program order;
 *       FAULTIO_REORDER      a random subset, applied in a random order;
 *       FAULTIO_DROP_ALL     none at all (the most pessimistic cut);
 *       FAULTIO_TORN (flag)  the last operation applied may itself be torn:
 *                            only a random byte prefix of the write, or a
 *                            random subset of its 512-byte sectors (aligned
 *                            to file offsets) reaches the disk.
 *   Everything in the new faultio is durable and nothing is pending; it has
 *   no open handles and no faults armed.  The same (state, seed, mode)
 *   always gives the same image.  The original stays fully usable.
 *
 * ---- Faults -------------------------------------------------------------
 *
 * Calls are classed as READ (pread), WRITE (pwrite, truncate), SYNC (sync,
 * sync_dir) and NAME (create, unlink, rename).  WRITE, SYNC and NAME calls
 * are "mutating calls"; faultio_op_count() counts them.
 *
 * faultio_fail_after(f, classes, n, err, sticky): the next n calls of the
 * given classes succeed and the one after fails with err, without any
 * effect; with sticky every later call of those classes fails too.  A
 * failed sync() models Linux's writeback-error behaviour ("fsyncgate"): the
 * unsynced writes it covered are dropped from what can ever become durable,
 * although reads still see them; a later successful sync() does not make
 * them durable.  An engine that retries fsync and trusts it loses data, and
 * the crash test will notice.
 *
 * faultio_freeze_after(f, n): the next n mutating calls take effect, then
 * the disk image is frozen: the faultio keeps serving the engine normally
 * (reads see every later write, so the engine never notices), but
 * faultio_crash() from then on cuts the power as of the freeze instant.
 * n = 0 freezes at once.  This is how a test puts a power cut in the middle
 * of a flush, or at an exact moment while other threads keep running.
 * faultio_freeze_after_ops(f, classes, n) counts only the mutating calls
 * of the given classes: after n more of them (calls of other classes go on
 * meanwhile) the image is frozen.  A cut n syncs or name operations into
 * a job puts it between two of the job's steps however many data writes
 * each step makes (a GC pass copies a varying number of blobs before it
 * flushes, unlinks segments and writes snapshots); counting every mutating
 * call rarely lands there.
 * faultio_frozen() says whether the freeze has happened; a test that reads
 * "epoch E is durable" and then sees faultio_frozen() false knows that E was
 * durable before the cut.
 *
 * ---- Locking and ownership ---------------------------------------------
 *
 * lkv_io_ops.lock always succeeds (shared or exclusive, any number of
 * times) unless faultio_set_lock_error() armed an error: the engine never
 * calls destroy on a borrowed io, so a faultio cannot know when a store
 * lets go, and tests that close and reopen a store on one faultio need the
 * second lock to succeed.  lkv_io_ops.destroy does nothing: the test owns
 * the faultio and frees it with faultio_free().
 *
 * Every function here is thread-safe (one mutex per faultio).  The list
 * callback runs without the mutex held, so it may call back into the io.
 */
#ifndef LARCH_FAULTIO_H
#define LARCH_FAULTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "larchkv.h"

typedef struct faultio faultio;

/* Power-cut modes for faultio_crash(). */
#define FAULTIO_ORDERED  0x0u  /* a prefix of each file's unsynced writes */
#define FAULTIO_DROP_ALL 0x1u  /* nothing unsynced survives */
#define FAULTIO_REORDER  0x2u  /* a random subset, in a random order */
#define FAULTIO_TORN     0x4u  /* the last surviving write may be torn */

/* Call classes for faultio_fail_after(). */
#define FAULTIO_OP_READ  0x1u  /* pread */
#define FAULTIO_OP_WRITE 0x2u  /* pwrite, truncate */
#define FAULTIO_OP_SYNC  0x4u  /* sync, sync_dir */
#define FAULTIO_OP_NAME  0x8u  /* create, unlink, rename */
#define FAULTIO_OP_MUTATING (FAULTIO_OP_WRITE | FAULTIO_OP_SYNC | FAULTIO_OP_NAME)

#define FAULTIO_SECTOR 512u    /* granularity of sector tearing */

/* Returns an empty directory.  Like everything here it aborts when out of
 * memory: allocation failure is not what these tests are about. */
faultio *faultio_new(void);

/* Frees the faultio and every file in it.  The store using it must be
 * closed first.  Returns how many handles were still open (a leak in the
 * engine when the store was closed); they are freed too. */
unsigned faultio_free(faultio *f);

/* The lkv_io to pass in lkv_options.io.  Valid until faultio_free. */
lkv_io *faultio_io(faultio *f);

/* Returns a new faultio holding the disk a power cut would leave: from the
 * frozen image when one was frozen, else from this instant.  See the model
 * above for `mode`. */
faultio *faultio_crash(faultio *f, uint64_t seed, unsigned mode);

/* Arms an error: after `n` more successful calls of the classes in `ops`,
 * the next one fails with `err` (a negative errno, e.g. -EIO, -ENOSPC);
 * with `sticky`, so does every later one.  Replaces any armed error. */
void faultio_fail_after(faultio *f, unsigned ops, uint64_t n, int err,
			bool sticky);

/* Freezes the crash image after `n` more mutating calls (0: now).  Ignored
 * when already frozen. */
void faultio_freeze_after(faultio *f, uint64_t n);

/* Like faultio_freeze_after, counting only calls of the classes in `ops`
 * (FAULTIO_OP_WRITE, _SYNC, _NAME). */
void faultio_freeze_after_ops(faultio *f, unsigned ops, uint64_t n);

/* True once the crash image is frozen. */
bool faultio_frozen(faultio *f);

/* Disarms a pending error and a pending (not yet happened) freeze. */
void faultio_clear_faults(faultio *f);

/* Mutating calls made so far (successful or failed). */
uint64_t faultio_op_count(faultio *f);

/* Makes lkv_io_ops.lock return `err` (0: succeed again). */
void faultio_set_lock_error(faultio *f, int err);

/* ---- Inspecting and damaging files (for corruption tests) ----------- */

/* XORs the byte at `off` of file `name` with `x`, durably (both the
 * durable and the current contents).  -ENOENT: no such file; -EINVAL: off
 * is past its end. */
int faultio_corrupt(faultio *f, const char *name, uint64_t off, uint8_t x);

/* Durably truncates (or zero-extends) file `name`.  -ENOENT when missing. */
int faultio_truncate_file(faultio *f, const char *name, uint64_t size);

/* Current size of file `name`.  -ENOENT when missing. */
int faultio_file_size(faultio *f, const char *name, uint64_t *size);

/* Reads current contents of `name`; returns bytes read or -ENOENT. */
ssize_t faultio_read(faultio *f, const char *name, void *buf, size_t len,
		     uint64_t off);

/* Calls fn for each current name (sorted), without the mutex held; stops
 * at and returns fn's first non-zero return. */
int faultio_list(faultio *f, int (*fn)(void *arg, const char *name),
		 void *arg);

struct faultio_stats {
	uint64_t opens, closes, preads, pwrites, truncates, syncs, sync_dirs;
	uint64_t unlinks, renames, creates, locks;
	uint64_t bytes_read, bytes_written;
	uint64_t failed;          /* calls failed by faultio_fail_after */
	unsigned open_handles;    /* gauge */
	unsigned files;           /* gauge: names in the current namespace */
};

void faultio_stats(faultio *f, struct faultio_stats *st);

#endif
