/* SPDX-License-Identifier: MIT */
/*
 * testrng.h: a tiny deterministic PRNG for tests (splitmix64).
 *
 * Every random choice a test makes comes from one of these, seeded from a
 * number the test prints, so a failure can be replayed exactly.  Header-only
 * so that any test can use it without linking anything.
 */
#ifndef LARCH_TESTRNG_H
#define LARCH_TESTRNG_H

#include <stdint.h>

/* Returns the next 64 random bits and advances *state. */
static inline uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Returns a number in [0, n); 0 when n is 0.  The modulo bias is
 * irrelevant for the small n tests use. */
static inline uint64_t rng_below(uint64_t *state, uint64_t n)
{
	return n ? rng_next(state) % n : 0;
}

/* Returns a number in [lo, hi] (inclusive). */
static inline uint64_t rng_range(uint64_t *state, uint64_t lo, uint64_t hi)
{
	return lo + rng_below(state, hi - lo + 1);
}

/* Returns 1 with probability num/den. */
static inline int rng_chance(uint64_t *state, uint64_t num, uint64_t den)
{
	return rng_below(state, den) < num;
}

/* Mixes a 64-bit value into a well-spread one (splitmix64's finalizer);
 * used to derive per-thread and per-iteration seeds from one seed. */
static inline uint64_t rng_mix(uint64_t x)
{
	uint64_t s = x;

	return rng_next(&s);
}

#endif
