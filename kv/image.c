/* SPDX-License-Identifier: MIT */
/*
 * A dirty leaf's next record: a delta (delta.c) that appends to its chain,
 * or a full image that starts a new one, and when a chain is long enough
 * to be consolidated.
 *
 * A flush (flush.c), or a writer capturing a sealed epoch's changes
 * (epoch.c), asks leaf_image for the record of a leaf as it is now.  It is
 * a full image when the leaf has none on disk yet (a new leaf, the upper
 * half of a split), when GC or fsck asked for one (full_epoch), when the
 * chain is past its limit, when the delta would be at least three
 * quarters of the image anyway (a bulk load: little to save, and a new
 * base resets the chain), or when the delta would change more keys than
 * the location table lists for a link (LINK_HASHES_MAX).  That last is for
 * damage: fsck reads past a damaged delta by dropping the keys its link
 * lists (check.c), but a delta whose keys are not listed takes its whole
 * leaf with it, base and chain, which lie elsewhere in the log; one 4 KiB
 * region can hold the deltas of many leaves (a flush's), so the damage
 * would reach far past the bytes hit, beyond what fsck can rebuild (issue
 * 21).  A full image lost takes only what it holds, as before deltas.
 * Otherwise it is a delta of the entries and
 * tombstones changed after logged_epoch: a split leaves the lower half a
 * tombstone for each key it moved out, a merge marks the keys it took in
 * as puts (batch.c), so a leaf whose neighbour comes and goes (a large
 * value that grows past the leaf size, then goes) is not rewritten whole.
 *
 * The limits.  A chain costs reads: a leaf paged in reads its base and
 * every delta (one record each), and space: a log file stays live while
 * any link of a chain lies in it.  A full image costs writes: the whole
 * leaf, where the delta of an fsync is a few hundred bytes.  Two limits:
 *   - soft (CHAIN_SOFT_LINKS links, or deltas adding up to as many bytes
 *     as the image would take now): a background flush (the flusher, GC)
 *     writes a full image, and a foreground one (lkv_flush, for an fsync)
 *     still a delta, queueing the leaf for the flusher (flush.c, gc.c),
 *     which consolidates it once foreground flushes pause (CONS_QUIET_MS
 *     without one), so that a caller waiting for durability never waits
 *     for a consolidation it could have left to the background;
 *   - hard (CHAIN_HARD_LINKS, or CHAIN_HARD_SHARE times the image's bytes):
 *     every flush writes a full image, so a chain stays bounded even when
 *     only foreground flushes run.
 * Chain bytes equal to the image's bound what a chain adds to the log's
 * live bytes and to the bytes a load reads at 2x the image, and make a
 * consolidation cost no more bytes than the deltas it ends did: writes
 * stay within 2x what the deltas alone would write.  The link counts
 * bound the records a load reads, one pread each: measured here (16 KiB
 * leaves of 100-byte values, page cache warm, engine cache cold) a load
 * took 3.8 us with no delta and 0.7 us more per delta (15 us with 16, 26
 * with 32, 38 with 48), so the soft limit keeps a cold leaf within 4x its
 * base's cost; from a cold disk each delta may be one more random read.
 *
 * Why the flusher waits for a pause.  A background flush seals the
 * current epoch: a caller looping on write+fsync either has its change in
 * that epoch and waits for the whole flush, consolidation images and
 * all, or comes just after and waits behind it for a flush of its own;
 * on a loaded machine it also waits for the flusher thread to be given a
 * CPU.  When the flusher consolidated as soon as a chain was queued, a
 * 4 KiB write+fsync loop (one thread, the machine busy with other work)
 * met a consolidation in about 26% of its fsyncs (its block's leaf passes
 * the soft limit's bytes every four or so deltas) and ran 0.64x the rate
 * of the release without deltas.  A flush takes 0.2-0.4 ms here, so a
 * caller that has not flushed for CONS_QUIET_MS spends nearly all its
 * time elsewhere and a consolidation then costs it little; a loop with no
 * such pause leaves its chains to the hard limit, which consolidates in
 * the loop's own commit (one device flush either way, an image more), and
 * to the timed flush (flush_interval_ms).  The value is chosen from
 * those flush times, not tuned.  Measured with it on a quiet machine
 * (fs-bench fsync rows, one thread, medians of 3 runs alternating): 4,667
 * fsyncs/s against 3,825 without it and 3,897 for the release without
 * deltas, p99 695 us against 802 and 872; the busy machine that showed
 * the problem was not measured again.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

#define CHAIN_SOFT_LINKS 16
#define CHAIN_HARD_LINKS 64
#define CHAIN_HARD_SHARE 4
#define CONS_QUIET_MS 10      /* no foreground flush for this long: consolidate */

/* The bytes a full image of l would take now (its base's while it is
 * not resident). */
static uint64_t image_bytes(const struct leaf *l)
{
	return l->ents ? l->ents->bytes : l->loc.len;
}

/* Whether l's chain is past the soft limit (hard: the hard one). */
static bool chain_over(const struct leaf *l, bool hard)
{
	uint64_t image = image_bytes(l);
	if (hard)
		return l->nchain >= CHAIN_HARD_LINKS || l->chain_bytes >= CHAIN_HARD_SHARE * image;
	return l->nchain >= CHAIN_SOFT_LINKS || l->chain_bytes >= image;
}

/* Whether l's chain is long enough for the flusher to consolidate. */
bool leaf_chain_long(const struct leaf *l)
{
	return l->loc.file && chain_over(l, false);
}

/* When the queued consolidations may run: CONS_QUIET_MS after a caller
 * of lkv_flush last asked for a flush (see the header). */
uint64_t consolidation_due(lkv_store *s)
{
	return atomic_load(&s->fg_flush_ns) + CONS_QUIET_MS * 1000000ull;
}

void leaf_img_free(struct leaf_img *img)
{
	if (!img)
		return;
	buf_free(&img->body);
	free(img->hash);
	free(img);
}

/*
 * The record that brings l's chain up to l's entries as they are now
 * (see the header); `background`: the flush that writes it consolidates
 * past the soft limit.  Type 0 when nothing changed since the chain (no
 * record is needed).  The caller holds l's tree write lock, or is the
 * flusher of l's dirty epoch.  -ENOMEM.
 */
int leaf_image(lkv_store *s, struct leaf *l, bool background, struct leaf_img **out)
{
	(void)s;
	struct leaf_img *img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	LKV_ASSERT(l->ents);
	img->nkeys = l->ents->n;
	bool full = l->loc.file == 0 || l->full_epoch > l->logged_epoch ||
		    chain_over(l, !background);
	int err = 0;
	if (!full) {
		img->type = REC_DELTA;
		err = delta_encode(l->ents, l->tree->id, l->id, leaf_chain_tail(l),
				   l->logged_epoch, &img->body, &img->hash, &img->nhash);
		if (!err && !img->nhash)
			img->type = 0;                  /* nothing changed */
		/* no saving, or a delta whose keys the table could not list:
		 * a new base */
		if (!err && (img->body.len * 4 > l->ents->bytes * 3 ||
			     img->nhash > LINK_HASHES_MAX)) {
			buf_free(&img->body);
			free(img->hash);
			img->hash = NULL;
			img->nhash = 0;
			full = true;
		}
	}
	if (!err && full) {
		img->type = REC_LEAF;
		err = entries_encode(l->ents, l->tree->id, l->id, &img->body);
	}
	if (err) {
		leaf_img_free(img);
		return err;
	}
	*out = img;
	return 0;
}
