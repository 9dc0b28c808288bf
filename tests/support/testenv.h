/* SPDX-License-Identifier: MIT */
/*
 * testenv.h: the knobs tests read from the environment (soak lengths,
 * replay seeds, verbosity).  A knob that is unset or set to the empty
 * string keeps its default.  Header-only.
 */
#ifndef LARCH_TESTENV_H
#define LARCH_TESTENV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* True when `name` is set and not empty; *value then gets it read as a
 * number in C syntax (10, 0x1f, 017; strtoull's reading). */
static inline bool env_number(const char *name, uint64_t *value)
{
	const char *v = getenv(name);

	if (!v || !*v)
		return false;
	*value = strtoull(v, NULL, 0);
	return true;
}

/* True when `name` is set to a number other than 0 (atoi's reading). */
static inline bool env_flag(const char *name)
{
	const char *v = getenv(name);

	return v && *v && atoi(v) != 0;
}

#endif
