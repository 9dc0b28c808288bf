/* SPDX-License-Identifier: MIT */
/*
 * Pass 0 of fsck.larchfs: the engine's own check (lkv_check), which reads
 * every leaf and every blob from disk and verifies checksums, decoding, key
 * order, blob references and live-byte accounting.  With -y it repairs
 * what it can: a value whose blob is lost is deleted (a data block becomes
 * a hole, an xattr disappears, an inode record goes and its entries become
 * dangling for pass 2), and wrong accounting is corrected.
 *
 * Each damaged key is told in filesystem terms (inode, block, entry) at
 * once, and lost data is told again by path at the end, when pass 2 has
 * seen the entries.  A leaf that cannot be read is beyond the engine's
 * repair today: its keys are unknown.  fsck then reports everything else
 * but fixes nothing more, since "missing" keys would be misread as damage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck.h"

static void engine_problem(struct fsck *c, bool repaired, bool safe, const char *msg)
{
	c->found++;
	if (!safe)
		c->unsafe_seen = true;
	if (c->quiet_probe) {
		if (!safe)
			printf("%s: %s.\n", c->store, msg);
		c->left++;
		return;
	}
	if (c->preen)
		printf("%s: %s.%s\n", c->store, msg, repaired ? "  FIXED." : "");
	else
		printf("%s.  Fix? %s\n", msg, repaired ? "yes" : "no");
	if (repaired)
		c->fixed++;
	else
		c->left++;
}

/* What a key of the filesystem's trees means, for a message. */
static void key_meaning(struct fsck *c, const char *tree, const uint8_t *k, size_t kl,
			bool record, bool repaired, char *buf, size_t cap)
{
	char name[4 * LFS_NAME_MAX + 1];
	uint64_t ino = kl >= INO_KEY_LEN ? ino_key_get(k) : 0;
	struct dirent_key dk;
	dirent_key_decode(k, kl, &dk);
	if (!strcmp(tree, tree_names[TREE_EXTENTS]) && kl == EXTENT_KEY_LEN) {
		uint64_t block = extent_key_block(k);
		snprintf(buf, cap, "Inode %" PRIu64 ", data block %" PRIu64, ino, block);
		if (record)
			lost_note(c, ino, block, NULL, repaired);
	} else if (!strcmp(tree, tree_names[TREE_EXTENTS]) && patch_key_is(k, kl)) {
		uint64_t block = extent_key_block(k);
		snprintf(buf, cap, "Inode %" PRIu64 ", sub-block writes of data block %"
			 PRIu64, ino, block);
		if (record)
			lost_note(c, ino, block, NULL, repaired);
	} else if (!strcmp(tree, tree_names[TREE_XATTRS]) && kl > INO_KEY_LEN) {
		name_printable(k + INO_KEY_LEN, kl - INO_KEY_LEN, name, sizeof(name));
		snprintf(buf, cap, "Inode %" PRIu64 ", extended attribute %s", ino, name);
		if (record)
			lost_note(c, ino, LOST_XATTR, name, repaired);
	} else if (!strcmp(tree, tree_names[TREE_INODES]) && kl == INO_KEY_LEN) {
		snprintf(buf, cap, "Inode %" PRIu64 " (its record)", ino);
	} else if (!strcmp(tree, tree_names[TREE_DIRENTS]) && dk.len > 0) {
		name_printable(dk.name, dk.len, name, sizeof(name));
		snprintf(buf, cap, "Entry '%s' of directory %" PRIu64, name, ino);
	} else if (!strcmp(tree, tree_names[TREE_ORPHANS]) && kl == INO_KEY_LEN) {
		snprintf(buf, cap, "Orphan record of inode %" PRIu64, ino);
	} else if (!strcmp(tree, tree_names[TREE_SUPER])) {
		snprintf(buf, cap, "The superblock");
	} else {
		name_printable(k, kl < 24 ? kl : 24, name, sizeof(name));
		snprintf(buf, cap, "Tree %s, key '%s'", tree, name);
	}
}

static void on_damage(void *arg, const struct lkv_damage *d)
{
	struct fsck *c = arg;
	char where[4 * LFS_NAME_MAX + 96], msg[2048];
	if (!d->tree) {
		snprintf(msg, sizeof(msg), "Store: %s", d->what);
		engine_problem(c, d->repaired, true, msg);
		return;
	}
	if (d->key) {
		key_meaning(c, d->tree, d->key, d->klen, true, d->repaired, where, sizeof(where));
		snprintf(msg, sizeof(msg), "%s: %s%s", where, d->what,
			 d->repaired ? " (the value is lost; deleting the key)" : "");
		salvage_note_key(c, d);
		engine_problem(c, d->repaired, false, msg);
		return;
	}
	/* a whole leaf: from its low key on, up to the next leaf */
	const uint8_t *low = d->leaf_low;
	if (d->leaf_low_len >= INO_KEY_LEN)
		snprintf(where, sizeof(where), "inode %" PRIu64, ino_key_get(low));
	else
		snprintf(where, sizeof(where), "the start of the tree");
	snprintf(msg, sizeof(msg), "Tree %s, the leaf from %s on: %s%s", d->tree, where,
		 d->what, !d->repaired ? "" : d->partial ? " (the rest of the leaf is kept)"
							  : " (emptied: its keys are lost)");
	if (!d->repaired)
		c->leaves_bad++;
	/* partial: the lost keys are not known, so what may have referred to
	 * them is looked for in the whole range, as for a lost leaf */
	if (!strcmp(d->tree, tree_names[TREE_EXTENTS]))
		c->extents_lost = true;        /* pass 1 names the files by path */
	salvage_note_leaf(c, d);
	engine_problem(c, d->repaired, false, msg);
}

int pass0_engine(struct fsck *c)
{
	pass_start(c, 0, "Checking every leaf and blob (checksums, order, references, accounting)");
	/*
	 * The engine repairs what it can in the same walk: a lost blob's key
	 * goes, an unreadable leaf is emptied (the later passes then mend
	 * what referred to its keys), and the live counts are corrected only
	 * once every leaf reads.  (-p gets here to fix only after a look
	 * found nothing but accounting wrong.)
	 */
	struct lkv_stats st;
	lkv_stats(c->s, &st);
	if (st.salvaged_bytes) {
		char msg[160];
		snprintf(msg, sizeof(msg), "The log is damaged: %" PRIu64 " bytes of it, with the "
			 "changes committed after the damage, %s", st.salvaged_bytes,
			 c->fix == FIX_ALL ? "were dropped" : "must be dropped");
		engine_problem(c, c->fix == FIX_ALL, false, msg);
	} else if (st.log_damage) {
		/* read past, the commits after it kept: a writable open has
		 * already written a snapshot that starts past it */
		char msg[256];
		snprintf(msg, sizeof(msg), "The log is damaged in %" PRIu64 " place%s; the changes "
			 "committed after it are kept (%" PRIu64 " commit%s rebuilt from the "
			 "digests of later ones, %" PRIu64 " leaf image%s lost)", st.log_damage,
			 st.log_damage == 1 ? "" : "s", st.rebuilt_commits,
			 st.rebuilt_commits == 1 ? "" : "s", st.lost_leaf_images,
			 st.lost_leaf_images == 1 ? "" : "s");
		engine_problem(c, c->fix != FIX_NONE, !st.lost_leaf_images, msg);
	}
	unsigned flags = c->fix != FIX_NONE ? LKV_CHECK_REPAIR : 0;
	int err = lkv_check(c->s, flags, on_damage, c, &c->kst);
	if (err) {
		op_fail(c, err, "checking the store");
		return err;
	}
	pass_end(c);
	return 0;
}
