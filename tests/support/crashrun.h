/* SPDX-License-Identifier: MIT */
/*
 * crashrun.h: how the power-cut tests are run.  test_crash.c (the engine's
 * crash contract) and test_fs_crash.c (the filesystem's) differ in the
 * workload they cut and in what they check after each cut; this is what
 * they have in common.
 *
 * A SUITE is one test program: a list of CASES, each one cmocka test
 * (meson runs each in a process of its own, with --only NAME).  A case
 * runs ITERATIONS, each derived from one seed: iteration i of case c runs
 * seed rng_mix(((c + seed_case_base) << 40) + i).  An iteration runs a few
 * GENERATIONS, each ended by one power cut.  This file owns:
 *   - the command line, `--only CASE` and `--iters N`, and the knobs
 *     LARCH_CRASH_ITERS=N (iterations per case), LARCH_CRASH_SEED=S (only
 *     the iteration of seed S), LARCH_CRASH_VERBOSE=1 (crashrun_verbose)
 *     and LARCH_SANITIZED=1, which like a sanitizer build makes a suite
 *     that asks for it run a third of its default iterations;
 *   - the case runner: the seeds, how many iterations, and the first line
 *     of each case's summary, "NAME: N iterations, N cuts in S s";
 *   - the watchdog: an iteration that makes no progress for 240 s prints
 *     its seed and aborts, rather than letting meson's timeout kill the
 *     test without saying which seed hung;
 *   - the last lines the engine (or filesystem) logged in the iteration,
 *     and the failure report, which names the case, the seed and the
 *     generation, shows those lines and the command line that replays it;
 *   - the faultio_crash mode of each kind of cut, how workers wind down
 *     once the crash image is frozen, and the check that a closed store
 *     left no file open.
 * One iteration runs at a time, so its case, seed, generation and log
 * lines are kept here, in static storage.
 */
#ifndef LARCH_CRASHRUN_H
#define LARCH_CRASHRUN_H

#include <stdbool.h>
#include <stdint.h>

#include "faultio.h"

/* How a case cuts the power: which unsynced writes faultio_crash keeps. */
enum crashrun_cut {
	CRASHRUN_CUT_DROP,     /* none (FAULTIO_DROP_ALL) */
	CRASHRUN_CUT_ORDERED,  /* a prefix of each file's (FAULTIO_ORDERED) */
	CRASHRUN_CUT_TORN,     /* the last one kept may be torn (FAULTIO_TORN);
				* a prefix, or half the time a reordered
				* subset */
	CRASHRUN_CUT_REORDER,  /* a random subset in a random order */
	CRASHRUN_CUT_ANY,      /* any of the above, picked per cut */
};

struct crashrun_case {
	const char       *name;    /* the cmocka test; --only NAME */
	unsigned          iters;   /* iterations by default */
	enum crashrun_cut cut;
};

struct crashrun_suite {
	const char *name;                  /* the cmocka group */
	const struct crashrun_case *cases; /* case c is cases[c] */
	unsigned    ncases;
	unsigned    seed_case_base;        /* see the seeds above */
	bool        fewer_when_sanitized;  /* a third of the iterations */
	const char *log_label;             /* what the kept lines are called */
	const char *hang_cause;            /* what a hang most likely is */
	/* The body of case c's test: zeroes the case's counters, calls
	 * crashrun_iterations(c, ...), prints what the cuts did. */
	void      (*run_case)(unsigned c);
	/* One iteration; a failed check calls iter_fail. */
	void      (*run_iteration)(unsigned c, uint64_t seed);
};

/* Parses the command line and the knobs, starts the watchdog and runs the
 * chosen cases.  Returns the exit status: cmocka's, or 2 on a bad
 * command line. */
int crashrun_main(const struct crashrun_suite *suite, int argc, char **argv);

/* Runs case c's iterations (or the one LARCH_CRASH_SEED names), then
 * prints the first line of its summary with *cuts as the number of cuts
 * they made. */
void crashrun_iterations(unsigned c, const uint64_t *cuts);

/* Names the generation now running (0: none) in failure reports, and
 * tells the watchdog that the iteration moves on. */
void crashrun_generation(unsigned gen);

/* Whether LARCH_CRASH_VERBOSE asks the test to print its plans. */
bool crashrun_verbose(void);

/* A log callback for lkv_options.log and lfs_mount_options.log (its arg
 * is not used): keeps the iteration's last lines for iter_fail. */
void crashrun_log(void *arg, int level, const char *msg);

/* Fails the iteration in progress, and with it the test (through cmocka),
 * reporting everything needed to replay it. */
void iter_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* The faultio_crash mode of a cut; draws from *rng for the kinds that
 * choose (TORN and ANY). */
unsigned crashrun_mode(enum crashrun_cut cut, uint64_t *rng);

/* Called by a worker thread after each of its steps: true when it should
 * stop.  Once the crash image is frozen a worker takes 0 to 3 more steps
 * (drawn from *rng), then stops: they cannot matter, and the cut is what
 * the test is for.  *left belongs to the worker and starts at -1. */
bool crashrun_stop_after_freeze(faultio *f, uint64_t *rng, int *left);

/* Frees the faultio of a store that `closer` (the name of the call that
 * closed it) closed; fails the iteration when the store left files open. */
void crashrun_free_closed(faultio *f, const char *closer);

#endif
