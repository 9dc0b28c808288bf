/* SPDX-License-Identifier: MIT */
/*
 * crashrun.c: the runner of the power-cut tests (see crashrun.h): their
 * command line and knobs, the case runner, the watchdog, the log lines and
 * the failure report of the iteration in progress, and what every test
 * does with the faultio of a cut.
 */
#include "crashrun.h"

#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "faultio.h"
#include "testenv.h"
#include "testrng.h"

/* ---- state -------------------------------------------------------------- */

/* An iteration that makes no progress for this long is a hang. */
#define WATCHDOG_SECONDS 240

#define LOG_KEEP 12

/* The last LOG_KEEP lines logged, as a ring. */
struct logcap {
	pthread_mutex_t mu;
	char msg[LOG_KEEP][256];
	unsigned n;
};

static const struct crashrun_suite *g_suite;
static const char *g_argv0;

/* the knobs */
static unsigned g_iters;              /* 0: the case's default */
static bool g_verbose;
static bool g_sanitized;
static bool g_have_seed;
static uint64_t g_seed;

/* the iteration in progress; the watchdog reads the atomics */
static atomic_uint_fast64_t g_cur_seed, g_progress;
static atomic_uint g_cur_case;
static unsigned g_cur_gen;
static struct logcap g_log = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- log lines and the failure report ----------------------------------- */

void crashrun_log(void *arg, int level, const char *msg)
{
	(void)arg;
	pthread_mutex_lock(&g_log.mu);
	snprintf(g_log.msg[g_log.n % LOG_KEEP], sizeof(g_log.msg[0]), "<%d> %s",
		 level, msg);
	g_log.n++;
	pthread_mutex_unlock(&g_log.mu);
}

static void log_clear(void)
{
	pthread_mutex_lock(&g_log.mu);
	g_log.n = 0;
	pthread_mutex_unlock(&g_log.mu);
}

static void log_dump(void)
{
	pthread_mutex_lock(&g_log.mu);
	unsigned first = g_log.n > LOG_KEEP ? g_log.n - LOG_KEEP : 0;

	for (unsigned i = first; i < g_log.n; i++)
		fprintf(stderr, "  %s: %s\n", g_suite->log_label,
			g_log.msg[i % LOG_KEEP]);
	pthread_mutex_unlock(&g_log.mu);
}

void iter_fail(const char *fmt, ...)
{
	const char *name = g_suite->cases[atomic_load(&g_cur_case)].name;
	uint64_t seed = atomic_load(&g_cur_seed);
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nFAILED %s seed 0x%016" PRIx64 " generation %u: %s\n",
		name, seed, g_cur_gen, msg);
	fprintf(stderr, "  replay: LARCH_CRASH_SEED=0x%016" PRIx64
		" %s --only %s\n", seed, g_argv0, name);
	log_dump();
	fail_msg("%s (seed 0x%016" PRIx64 ")", msg, seed);
}

/* ---- the iterations and the watchdog ------------------------------------ */

bool crashrun_verbose(void)
{
	return g_verbose;
}

void crashrun_generation(unsigned gen)
{
	g_cur_gen = gen;
	atomic_fetch_add(&g_progress, 1);
}

static void run_one(unsigned c, uint64_t seed)
{
	atomic_store(&g_cur_seed, seed);
	atomic_store(&g_cur_case, c);
	crashrun_generation(0);
	log_clear();
	g_suite->run_iteration(c, seed);
}

static unsigned case_iterations(const struct crashrun_case *cs)
{
	if (g_iters)
		return g_iters;
	if (g_sanitized && g_suite->fewer_when_sanitized)
		return (cs->iters + 2) / 3;
	return cs->iters;
}

void crashrun_iterations(unsigned c, const uint64_t *cuts)
{
	const struct crashrun_case *cs = &g_suite->cases[c];
	uint64_t base = (uint64_t)(c + g_suite->seed_case_base) << 40;
	unsigned n = case_iterations(cs);
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (g_have_seed) {
		run_one(c, g_seed);
		n = 1;
	} else {
		for (unsigned i = 0; i < n; i++)
			run_one(c, rng_mix(base + i));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s: %u iterations, %" PRIu64 " cuts in %.2f s\n", cs->name, n,
	       *cuts, (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

static void *watchdog_main(void *arg)
{
	uint64_t last = ~0ull;
	unsigned still = 0;

	(void)arg;
	for (;;) {
		struct timespec ts = { 1, 0 };

		nanosleep(&ts, NULL);
		uint64_t p = atomic_load(&g_progress);

		still = p == last ? still + 1 : 0;
		last = p;
		if (still >= WATCHDOG_SECONDS) {
			const char *name =
				g_suite->cases[atomic_load(&g_cur_case)].name;
			uint64_t seed = atomic_load(&g_cur_seed);

			fprintf(stderr, "\nHUNG: %s seed 0x%016" PRIx64 " made no "
				"progress for %u s (%s)\n  replay: "
				"LARCH_CRASH_SEED=0x%016" PRIx64 " %s --only %s\n",
				name, seed, still, g_suite->hang_cause, seed,
				g_argv0, name);
			abort();
		}
	}
	return NULL;
}

/* ---- the faultio of a cut ----------------------------------------------- */

unsigned crashrun_mode(enum crashrun_cut cut, uint64_t *rng)
{
	static const unsigned any[] = {
		FAULTIO_DROP_ALL, FAULTIO_ORDERED, FAULTIO_ORDERED | FAULTIO_TORN,
		FAULTIO_REORDER, FAULTIO_REORDER | FAULTIO_TORN,
	};

	switch (cut) {
	case CRASHRUN_CUT_DROP:
		return FAULTIO_DROP_ALL;
	case CRASHRUN_CUT_ORDERED:
		return FAULTIO_ORDERED;
	case CRASHRUN_CUT_TORN:
		return FAULTIO_TORN | (rng_chance(rng, 1, 2)
				       ? FAULTIO_REORDER : 0);
	case CRASHRUN_CUT_REORDER:
		return FAULTIO_REORDER;
	case CRASHRUN_CUT_ANY:
		break;
	}
	return any[rng_below(rng, 5)];
}

bool crashrun_stop_after_freeze(faultio *f, uint64_t *rng, int *left)
{
	if (*left < 0 && faultio_frozen(f))
		*left = (int)rng_below(rng, 4);
	else if (*left > 0)
		(*left)--;
	return *left == 0;
}

void crashrun_free_closed(faultio *f, const char *closer)
{
	unsigned leaked = faultio_free(f);

	if (leaked)
		iter_fail("%s left %u files open", closer, leaked);
}

/* ---- the command line and cmocka ---------------------------------------- */

/* Reads --only and --iters; false on anything else. */
static bool parse_args(int argc, char **argv, const char **only)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--only") && i + 1 < argc)
			*only = argv[++i];
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			g_iters = (unsigned)strtoul(argv[++i], NULL, 0);
		else
			return false;
	}
	return true;
}

static bool sanitizer_build(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return true;
#endif
#endif
	return false;
}

static void read_knobs(void)
{
	uint64_t v;

	if (env_number("LARCH_CRASH_ITERS", &v))
		g_iters = (unsigned)v;
	g_verbose = env_flag("LARCH_CRASH_VERBOSE");
	g_have_seed = env_number("LARCH_CRASH_SEED", &g_seed);
	g_sanitized = env_flag("LARCH_SANITIZED") || sanitizer_build();
}

/* The cmocka test of one case; its state is the case number. */
static void case_test(void **state)
{
	g_suite->run_case(*(const unsigned *)*state);
}

static void start_watchdog(void)
{
	pthread_t wd;

	if (pthread_create(&wd, NULL, watchdog_main, NULL) == 0)
		pthread_detach(wd);
}

/* Fills sel with the cases to run (all, or the one named `only`), each
 * with its number from num; returns how many. */
static size_t select_cases(const char *only, unsigned *num,
			   struct CMUnitTest *sel)
{
	size_t nsel = 0;

	for (unsigned c = 0; c < g_suite->ncases; c++) {
		num[c] = c;
		if (!only || !strcmp(only, g_suite->cases[c].name))
			sel[nsel++] = (struct CMUnitTest){
				.name = g_suite->cases[c].name,
				.test_func = case_test,
				.initial_state = &num[c],
			};
	}
	return nsel;
}

int crashrun_main(const struct crashrun_suite *suite, int argc, char **argv)
{
	const char *only = NULL;
	int rc = 2;

	g_suite = suite;
	g_argv0 = argv[0];
	if (!parse_args(argc, argv, &only)) {
		fprintf(stderr, "usage: %s [--only CASE] [--iters N]\n", argv[0]);
		return 2;
	}
	read_knobs();

	unsigned *num = calloc(suite->ncases, sizeof(*num));
	struct CMUnitTest *sel = calloc(suite->ncases, sizeof(*sel));

	if (!num || !sel)
		abort();
	size_t nsel = select_cases(only, num, sel);

	if (nsel) {
		start_watchdog();
		rc = _cmocka_run_group_tests(suite->name, sel, nsel, NULL, NULL);
	} else {
		fprintf(stderr, "no test case named %s\n", only);
	}
	free(sel);
	free(num);
	return rc;
}
