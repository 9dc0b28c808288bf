/* SPDX-License-Identifier: MIT */
/*
 * The seeds of the filesystem's decoders (make_corpus.c writes the
 * engine's).  They are what larchfs writes: a filesystem is formatted in a
 * temporary directory and mounted, a patch set is recorded by patch_add,
 * and the records are read back from its trees and its META files; keys
 * come from format.h's encoders.  ACL values have no encoder here (the
 * kernel writes them), so the two ACLs follow acl.c's format and must pass
 * acl_check.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs/internal.h"
#include "fuzz.h"

#define DIR_MAX 1024

/* Says what failed; returns -1. */
static int fail(const char *what, int err)
{
	fprintf(stderr, "make_corpus: %s: %s\n", what, strerror(-err));
	return -1;
}

/* The value of key k in tree t, into v (cap bytes). */
static int get(lkv_tree *t, const void *k, size_t kl, void *v, size_t cap, size_t *len)
{
	int err = lkv_get(t, k, kl, v, cap, len);
	return err ? err : *len > cap ? -EOVERFLOW : 0;
}

/* ---- records read back from a formatted filesystem ---- */

static int emit_super_and_inode(lfs *fs, const char *out)
{
	uint8_t rec[SB_LEN + INODE_REC_LEN], k[INO_KEY_LEN];
	size_t len;
	int err = get(fs->t_super, SB_KEY, SB_KEY_LEN, rec, sizeof(rec), &len);
	if (err)
		return fail("superblock", err);
	emit(out, "super", SEL_SUPER, rec, len);
	ino_key(k, LFS_ROOT_INO);
	if ((err = get(fs->t_inodes, k, sizeof(k), rec, sizeof(rec), &len)))
		return fail("root inode", err);
	emit(out, "inode", SEL_INODE, rec, len);
	return 0;
}

/* lost+found's entry in the root, which mkfs writes. */
static int emit_dirent(lfs *fs, const char *out)
{
	uint8_t in[2 + DIRENT_KEY_MAX + DIRENT_VAL_LEN];
	size_t kl = dirent_key(in + 2, LFS_ROOT_INO, "lost+found"), vl;
	in[0] = (uint8_t)kl;
	in[1] = (uint8_t)(kl >> 8);
	int err = get(fs->t_dirents, in + 2, kl, in + 2 + kl, DIRENT_VAL_LEN, &vl);
	if (err)
		return fail("lost+found's entry", err);
	emit(out, "dirent", SEL_DIRENT, in, 2 + kl + vl);
	return 0;
}

/* Two sub-block writes into a 64 KiB blob block, as patch_add records
 * them; the input is the block's length, then the set. */
static int emit_patchset(lfs *fs, const char *out)
{
	const uint64_t ino = 1000, block = 0;
	const size_t stored = 64u << 10;
	uint8_t data[300], in[4 + PATCH_SET_MAX], k[PATCH_KEY_LEN];
	size_t len;
	memset(data, 0xa5, sizeof(data));
	int err = 0;
	for (int i = 0; i < 2 && !err; i++) {
		lkv_batch *b = lkv_batch_new(fs->s);
		if (!b)
			return fail("batch", -ENOMEM);
		err = patch_add(fs, b, ino, block, stored, i ? 4000 : 100, data, i ? 300 : 5);
		err = err == 1 ? lkv_batch_commit(b, NULL) : err ? err : -EINVAL;
		lkv_batch_free(b);
	}
	patch_key(k, ino, block);
	if (!err)
		err = get(fs->t_extents, k, sizeof(k), in + 4, PATCH_SET_MAX, &len);
	if (err)
		return fail("patch set", err);
	le32_put(in, (uint32_t)stored);
	emit(out, "patchset", SEL_PATCHSET, in, 4 + len);
	return 0;
}

/* The two copies of the superblock's copy, as the engine keeps them. */
static int emit_super_copy(const char *dir, const uint8_t uuid[16], const char *out)
{
	uint8_t in[FUZZ_META_HDR + 2 * (FUZZ_META_FRAME + LKV_META_MAX)];
	size_t at = FUZZ_META_HDR;
	const char *names[2] = { "META", "META.bak" };
	for (int i = 0; i < 2; i++) {
		char path[DIR_MAX + 16];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		FILE *f = fopen(path, "rb");
		if (!f)
			return fail(path, -errno);
		size_t n = fread(in + at, 1, sizeof(in) - at, f);
		fclose(f);
		if (!i) {
			in[17] = (uint8_t)n;
			in[18] = (uint8_t)(n >> 8);
		}
		at += n;
	}
	in[0] = FUZZ_META_PRIMARY | FUZZ_META_BACKUP;
	memcpy(in + 1, uuid, 16);
	emit(out, "super-copy", SEL_SUPER_COPY, in, at);
	in[0] = FUZZ_META_PRIMARY | FUZZ_META_FIXUP;    /* META alone, fixed up */
	emit(out, "super-copy-fixup", SEL_SUPER_COPY, in, at);
	return 0;
}

/* Formats and mounts a filesystem in a new directory under $TMPDIR and
 * writes the seeds its records give; removes it after. */
static int emit_from_filesystem(const char *out)
{
	const char *tmp = getenv("TMPDIR");
	char dir[DIR_MAX];
	snprintf(dir, sizeof(dir), "%s/make_corpus.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return fail("mkdtemp", -errno);
	struct lfs_format_options fo;
	lfs_format_options_default(&fo);
	fo.label = "fuzz";
	struct lfs_mount_options mo;
	lfs_mount_options_default(&mo);
	lfs *fs = NULL;
	uint8_t uuid[16];
	int err = lfs_format(dir, &fo, NULL, NULL);
	if (!err)
		err = lfs_mount(dir, &mo, &fs);
	if (err) {
		fail(dir, err);
	} else {
		lkv_uuid(fs->s, uuid);
		err = emit_super_and_inode(fs, out) || emit_dirent(fs, out) ||
		      emit_patchset(fs, out);
		int uerr = lfs_unmount(fs);
		if (!err && uerr)
			err = fail("unmount", uerr);
		if (!err)
			err = emit_super_copy(dir, uuid, out);
	}
	lkv_destroy(dir, NULL);
	rmdir(dir);
	return err ? -1 : 0;
}

/* ---- values and keys built by their format ---- */

/* An ACL value (acl.c): version 2, then {u16 tag, u16 perm, u32 id}. */
static size_t acl_build(uint8_t *p, const uint16_t (*e)[3], size_t n)
{
	le32_put(p, 2);
	for (size_t i = 0; i < n; i++) {
		uint8_t *q = p + 4 + 8 * i;
		q[0] = (uint8_t)e[i][0], q[1] = (uint8_t)(e[i][0] >> 8);
		q[2] = (uint8_t)e[i][1], q[3] = 0;
		/* the kernel writes id -1 (ACL_UNDEFINED_ID) where it does not matter */
		le32_put(q + 4, e[i][2] ? e[i][2] : UINT32_MAX);
	}
	return 4 + 8 * n;
}

static int emit_acls(const char *out)
{
	/* tags: USER_OBJ 1, USER 2, GROUP_OBJ 4, GROUP 8, MASK 0x10, OTHER 0x20 */
	static const uint16_t minimal[][3] = { { 0x01, 6, 0 }, { 0x04, 4, 0 }, { 0x20, 4, 0 } };
	static const uint16_t full[][3] = { { 0x01, 7, 0 }, { 0x02, 6, 1000 }, { 0x04, 5, 0 },
					    { 0x08, 5, 100 }, { 0x10, 7, 0 }, { 0x20, 0, 0 } };
	uint8_t p[4 + 8 * 6];
	bool min;
	size_t n = acl_build(p, minimal, 3);
	if (acl_check(p, n, &min) || !min)
		return fail("the minimal ACL", -EINVAL);
	emit(out, "acl-minimal", SEL_ACL, p, n);
	n = acl_build(p, full, 6);
	if (acl_check(p, n, &min) || min)
		return fail("the full ACL", -EINVAL);
	emit(out, "acl-full", SEL_ACL, p, n);
	return 0;
}

static void emit_keys(const char *out)
{
	uint8_t k[XATTR_KEY_MAX];
	ino_key(k, 1234);
	emit(out, "orphan-key", SEL_ORPHAN_KEY, k, INO_KEY_LEN);
	extent_key(k, 1000, 7);
	emit(out, "extent-key", SEL_EXTENT_KEY, k, EXTENT_KEY_LEN);
	patch_key(k, 1000, 7);
	emit(out, "patch-key", SEL_EXTENT_KEY, k, PATCH_KEY_LEN);
	emit(out, "xattr-key", SEL_XATTR_KEY, k, xattr_key(k, 1000, "user.comment"));
}

int make_fs_corpus(const char *out)
{
	emit_keys(out);
	return emit_acls(out) || emit_from_filesystem(out) ? 1 : 0;
}
