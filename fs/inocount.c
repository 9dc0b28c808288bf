/* SPDX-License-Identifier: MIT */
/*
 * Counts per inode number, kept in memory only: the kernel's lookup
 * references (orphan.c) and the descriptors open for writing (iflags.c)
 * are one table each.
 *
 * A table is COUNT_SHARDS hash tables, each under its own mutex, of
 * (ino, n) entries, open addressing with linear probing, ino 0 marking an
 * empty slot.  An entry exists only while its count is above zero; a
 * shard doubles when three quarters full and halves when less than a
 * quarter full (down to 64 slots), so that it holds at most 4 x 16 = 64
 * bytes per entry however many the kernel held before: that is the
 * daemon's memory per inode the kernel holds (README, "Memory").  An inode's shard comes from
 * the top bits of a multiplicative hash of its number, its first slot
 * from other bits of another, so that neighbouring numbers spread.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static struct countshard *shard_of(struct inocounts *c, uint64_t ino)
{
	return &c->sh[(ino * 0x9e3779b97f4a7c15ull) >> 58];   /* 64 shards */
}

static size_t slot_of(const struct countshard *s, uint64_t ino)
{
	return (size_t)((ino * 0xc2b2ae3d27d4eb4full) >> 20) & (s->cap - 1);
}

void inocounts_init(struct inocounts *c)
{
	for (unsigned i = 0; i < COUNT_SHARDS; i++)
		pthread_mutex_init(&c->sh[i].mu, NULL);
}

void inocounts_free(struct inocounts *c)
{
	for (unsigned i = 0; i < COUNT_SHARDS; i++) {
		pthread_mutex_destroy(&c->sh[i].mu);
		free(c->sh[i].v);
	}
}

static struct countent *find(struct countshard *s, uint64_t ino)
{
	if (!s->cap)
		return NULL;
	for (size_t i = slot_of(s, ino);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i].ino == ino)
			return &s->v[i];
		if (!s->v[i].ino)
			return NULL;
	}
}

#define SHARD_MIN 64

/* Rehashes shard s into cap slots (a power of two, above its entries). */
static int resize(struct countshard *s, size_t cap)
{
	struct countent *old = s->v, *v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t oldcap = s->cap;
	s->v = v;
	s->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i].ino)
			continue;
		size_t j = slot_of(s, old[i].ino);
		while (v[j].ino)
			j = (j + 1) & (cap - 1);
		v[j] = old[i];
	}
	free(old);
	return 0;
}

static int grow(struct countshard *s)
{
	return resize(s, s->cap ? s->cap * 2 : SHARD_MIN);
}

/* Halves a shard a quarter full; a failure leaves it as it is. */
static void shrink(struct countshard *s)
{
	if (s->cap > SHARD_MIN && s->used * 4 < s->cap)
		(void)resize(s, s->cap / 2);
}

/* Removes slot i, moving later entries of its probe run back. */
static void remove_slot(struct countshard *s, size_t i)
{
	size_t mask = s->cap - 1;
	for (size_t j = (i + 1) & mask; s->v[j].ino; j = (j + 1) & mask) {
		size_t home = slot_of(s, s->v[j].ino);
		/* may s->v[j] move to i?  yes unless home lies in (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->v[i] = s->v[j];
			i = j;
		}
	}
	s->v[i] = (struct countent){ 0 };
	s->used--;
}

int inocounts_add(struct inocounts *c, uint64_t ino, uint64_t n)
{
	LFS_ASSERT(ino != 0);
	struct countshard *s = shard_of(c, ino);
	int err = 0;
	pthread_mutex_lock(&s->mu);
	struct countent *e = find(s, ino);
	if (!e && (s->used + 1) * 4 > s->cap * 3)
		err = grow(s);
	if (!e && !err) {
		size_t i = slot_of(s, ino);
		while (s->v[i].ino)
			i = (i + 1) & (s->cap - 1);
		e = &s->v[i];
		e->ino = ino;
		s->used++;
	}
	if (e)
		e->n += n;
	pthread_mutex_unlock(&s->mu);
	return err;
}

uint64_t inocounts_get(struct inocounts *c, uint64_t ino)
{
	struct countshard *s = shard_of(c, ino);
	pthread_mutex_lock(&s->mu);
	struct countent *e = find(s, ino);
	uint64_t n = e ? e->n : 0;
	pthread_mutex_unlock(&s->mu);
	return n;
}

uint64_t inocounts_drop(struct inocounts *c, uint64_t ino, uint64_t n)
{
	struct countshard *s = shard_of(c, ino);
	pthread_mutex_lock(&s->mu);
	struct countent *e = find(s, ino);
	uint64_t had = e ? e->n : 0;
	if (e && had > n)
		e->n -= n;
	else if (e) {
		remove_slot(s, (size_t)(e - s->v));
		shrink(s);
	}
	pthread_mutex_unlock(&s->mu);
	return had;
}

void inocounts_size(struct inocounts *c, uint64_t *entries, uint64_t *bytes)
{
	*entries = *bytes = 0;
	for (unsigned i = 0; i < COUNT_SHARDS; i++) {
		pthread_mutex_lock(&c->sh[i].mu);
		*entries += c->sh[i].used;
		*bytes += c->sh[i].cap * sizeof(*c->sh[i].v);
		pthread_mutex_unlock(&c->sh[i].mu);
	}
}
