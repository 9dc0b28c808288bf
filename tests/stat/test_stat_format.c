/* SPDX-License-Identifier: MIT */
/*
 * larchfs-stat's formatters (mkfs/stat_metrics.c, mkfs/stat_watch.c) on
 * metrics written here: reading the exposition text (and refusing what is
 * not), JSON and Prometheus output with awkward paths, the rates of -w
 * (what an interval's longest flush can be known to be), and the table's
 * columns lining up under their heads.  tests/stat/cli.sh checks the real
 * program's output with python3 -m json.tool and promtool.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stat_metrics.h"
#include "stat_watch.h"

/* What writing does, as a string (freed by the caller). */
#define CAPTURE(out, call)                                                     \
	do {                                                                   \
		size_t len_;                                                   \
		FILE *f = open_memstream(&(out), &len_);                       \
		assert_non_null(f);                                            \
		call;                                                          \
		assert_int_equal(fclose(f), 0);                                \
	} while (0)

static void parse_ok(const char *text, struct metrics *m)
{
	size_t line = 0;
	int err = metrics_parse(text, strlen(text), m, &line);
	if (err)
		fail_msg("metrics_parse: %d at line %zu of:\n%s", err, line, text);
}

static const char sample_text[] =
	"# HELP larchfs_store_info The store.\n"
	"# TYPE larchfs_store_info gauge\n"
	"larchfs_store_info{store=\"/a \\\"b\\\"\\\\c\\nd\"} 1\n"
	"\n"
	"# an ordinary comment\n"
	"# HELP larchfs_engine_flush_seconds_total Time.\n"
	"# TYPE larchfs_engine_flush_seconds_total counter\n"
	"larchfs_engine_flush_seconds_total 1.500000000\n"
	"# TYPE larchfs_fuse_requests_total counter\n"
	"larchfs_fuse_requests_total{op=\"LOOKUP\"} 7\n"
	"larchfs_fuse_requests_total{ op = \"WRITE\" , } 3 1700000000000\n"
	"untyped_thing 2\n";

static void test_parse(void **state)
{
	struct metrics m;

	(void)state;
	parse_ok(sample_text, &m);
	assert_int_equal(m.nfam, 4);
	assert_int_equal(m.n, 5);
	assert_string_equal(m.v[0].labels[0].value, "/a \"b\"\\c\nd");
	assert_string_equal(m.fam[1].type, "counter");
	assert_string_equal(m.fam[1].help, "Time.");
	assert_null(m.fam[2].help);
	assert_null(m.fam[3].type);
	assert_true(metrics_get(&m, "larchfs_engine_flush_seconds_total", NULL, -1) == 1.5);
	assert_true(metrics_get(&m, "larchfs_fuse_requests_total", "WRITE", -1) == 3);
	assert_true(metrics_get(&m, "larchfs_fuse_requests_total", "READ", -1) == -1);
	assert_true(metrics_get(&m, "absent", NULL, 42) == 42);
	assert_string_equal(metrics_family(&m, "larchfs_fuse_requests_total")->name,
			    "larchfs_fuse_requests_total");
	metrics_free(&m);
	parse_ok("", &m);
	assert_int_equal(m.n, 0);
	metrics_free(&m);
}

static void test_parse_refuses(void **state)
{
	static const struct { const char *text; size_t line; } bad[] = {
		{ "a 1\nb\n", 2 },                           /* no value */
		{ "a{x=\"1} 2\n", 1 },                       /* unterminated label */
		{ "a{x=1} 2\n", 1 },                         /* unquoted */
		{ "a{=\"1\"} 2\n", 1 },                      /* no label name */
		{ "a 1 2 3\n", 1 },                          /* junk after it */
		{ "a x\n", 1 },                              /* not a number */
		{ "9a 1\n", 1 },                             /* not a name */
		{ "a 1\nb 2\na 3\n", 3 },                    /* a's samples apart */
		{ "# TYPE a gauge\na 1\n# HELP a late\n", 3 },
		{ "# TYPE  gauge\n", 1 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct metrics m;
		size_t line = 0;
		int err = metrics_parse(bad[i].text, strlen(bad[i].text), &m, &line);
		if (err != -EINVAL || line != bad[i].line)
			fail_msg("%s: %d at line %zu, want -EINVAL at %zu", bad[i].text, err, line,
				 bad[i].line);
		assert_int_equal(m.n, 0);
	}
}

static void test_json(void **state)
{
	struct metrics m;
	char *out;

	(void)state;
	parse_ok(sample_text, &m);
	CAPTURE(out, metrics_write_json(f, &m, "mountpoint", "/mnt/\x01q\"\xff\xc3\xa9"));
	assert_true(!strncmp(out, "{\"time\":", 8));
	const char *rest = strchr(out, ',');
	assert_non_null(rest);
	assert_string_equal(rest,
		",\"mountpoint\":\"/mnt/\\u0001q\\\"\\ufffd\xc3\xa9\""
		",\"store\":\"/a \\\"b\\\"\\\\c\\nd\""
		",\"engine_flush_seconds_total\":1.500000000"
		",\"fuse_requests_total\":{\"LOOKUP\":7,\"WRITE\":3}"
		",\"untyped_thing\":2}\n");
	free(out);
	/* the caller's where replaces an info label of the same name */
	CAPTURE(out, metrics_write_json(f, &m, "store", "/s"));
	assert_non_null(strstr(out, ",\"store\":\"/s\",\"engine_flush"));
	free(out);
	metrics_free(&m);
	CAPTURE(out, json_number(f, NAN, false); fputc(' ', f); json_number(f, -1, true);
		fputc(' ', f); json_number(f, -1, false); fputc(' ', f); json_number(f, 0.25, true);
		fputc(' ', f); json_number(f, 1e15, true));
	assert_string_equal(out, "null null -1 0.25 1000000000000000");
	free(out);
}

static void test_prometheus(void **state)
{
	struct metrics m;
	char *out;

	(void)state;
	parse_ok(sample_text, &m);
	CAPTURE(out, metrics_write_prometheus(f, &m, "mountpoint", "/m\"n\\t\n"));
	assert_string_equal(out,
		"# HELP larchfs_store_info The store.\n"
		"# TYPE larchfs_store_info gauge\n"
		"larchfs_store_info{mountpoint=\"/m\\\"n\\\\t\\n\",store=\"/a \\\"b\\\"\\\\c\\nd\"} 1\n"
		"# HELP larchfs_engine_flush_seconds_total Time.\n"
		"# TYPE larchfs_engine_flush_seconds_total counter\n"
		"larchfs_engine_flush_seconds_total{mountpoint=\"/m\\\"n\\\\t\\n\"} 1.500000000\n"
		"# TYPE larchfs_fuse_requests_total counter\n"
		"larchfs_fuse_requests_total{mountpoint=\"/m\\\"n\\\\t\\n\",op=\"LOOKUP\"} 7\n"
		"larchfs_fuse_requests_total{mountpoint=\"/m\\\"n\\\\t\\n\",op=\"WRITE\"} 3\n"
		"untyped_thing{mountpoint=\"/m\\\"n\\\\t\\n\"} 2\n");
	free(out);
	CAPTURE(out, metrics_write_prometheus(f, &m, "store", "/s"));
	assert_non_null(strstr(out, "\nlarchfs_store_info{store=\"/s\"} 1\n"));
	free(out);
	/* what it writes reads back the same */
	struct metrics again;
	CAPTURE(out, metrics_write_prometheus(f, &m, "mountpoint", "/x"));
	parse_ok(out, &again);
	assert_int_equal(again.n, m.n);
	assert_int_equal(again.nfam, m.nfam);
	assert_string_equal(again.v[0].labels[1].value, m.v[0].labels[0].value);
	metrics_free(&again);
	free(out);
	metrics_free(&m);
}

/* ---- the rates of -w ---- */

/* Metrics as the daemon writes them, from the figures that matter here. */
static void reading(struct metrics *m, double lookups, double writes, double fs_written,
		    double kv_written, double flushes, double flush_secs, double flush_max,
		    double hits, double misses, double dirty)
{
	char text[4096];

	snprintf(text, sizeof(text),
		 "# TYPE larchfs_written_bytes_total counter\n"
		 "larchfs_written_bytes_total %.0f\n"
		 "# TYPE larchfs_read_bytes_total counter\n"
		 "larchfs_read_bytes_total 0\n"
		 "# TYPE larchfs_engine_written_bytes_total counter\n"
		 "larchfs_engine_written_bytes_total %.0f\n"
		 "# TYPE larchfs_engine_flushes_total counter\n"
		 "larchfs_engine_flushes_total %.0f\n"
		 "# TYPE larchfs_engine_flush_seconds_total counter\n"
		 "larchfs_engine_flush_seconds_total %.9f\n"
		 "# TYPE larchfs_engine_flush_max_seconds gauge\n"
		 "larchfs_engine_flush_max_seconds %.9f\n"
		 "# TYPE larchfs_engine_cache_hits_total counter\n"
		 "larchfs_engine_cache_hits_total %.0f\n"
		 "# TYPE larchfs_engine_cache_misses_total counter\n"
		 "larchfs_engine_cache_misses_total %.0f\n"
		 "# TYPE larchfs_engine_dirty_bytes gauge\n"
		 "larchfs_engine_dirty_bytes %.0f\n"
		 "# TYPE larchfs_fuse_requests_total counter\n"
		 "larchfs_fuse_requests_total{op=\"LOOKUP\"} %.0f\n"
		 "larchfs_fuse_requests_total{op=\"WRITE\"} %.0f\n"
		 "larchfs_fuse_requests_total{op=\"FORGET\"} 1\n",
		 fs_written, kv_written, flushes, flush_secs, flush_max, hits, misses, dirty,
		 lookups, writes);
	parse_ok(text, m);
}

static void test_rates(void **state)
{
	struct metrics a, b;
	struct watch_rates r;

	(void)state;
	reading(&a, 10, 0, 0, 0, 5, 0.5, 0.2, 100, 0, 0);
	reading(&b, 30, 8, 8 << 20, 10 << 20, 9, 0.9, 0.3, 190, 10, 4096);
	watch_rates(&a, &b, 2.0, 1e9, &r);
	assert_true(r.req[RK_LOOKUP] == 10);
	assert_true(r.req[RK_WRITE] == 4);
	assert_true(r.req[RK_OTHER] == 0);
	assert_true(r.req_total == 14);
	assert_true(r.fs_written == 4 << 20);
	assert_true(r.kv_written == 5 << 20);
	assert_true(r.flushes == 2);
	assert_true(fabs(r.flush_mean - 0.1) < 1e-9);
	assert_true(r.flush_max == 0.3 && r.flush_max_exact);  /* the max grew: exact */
	assert_true(fabs(r.hit_ratio - 0.9) < 1e-9);
	assert_true(r.dirty == 4096);
	metrics_free(&b);

	/* several flushes, none longer than the mount's longest: a bound */
	reading(&b, 10, 0, 0, 0, 8, 0.8, 0.2, 100, 0, 0);
	watch_rates(&a, &b, 1.0, 1e9, &r);
	assert_true(r.flush_max == 0.2 && !r.flush_max_exact);
	assert_true(r.hit_ratio == -1);                      /* no lookups */
	metrics_free(&b);

	/* one flush: its time is the longest */
	reading(&b, 10, 0, 0, 0, 6, 0.55, 0.2, 100, 0, 0);
	watch_rates(&a, &b, 1.0, 1e9, &r);
	assert_true(fabs(r.flush_max - 0.05) < 1e-9 && r.flush_max_exact);
	metrics_free(&b);

	/* none: unknown */
	reading(&b, 10, 0, 0, 0, 5, 0.5, 0.2, 100, 0, 0);
	watch_rates(&a, &b, 1.0, 1e9, &r);
	assert_true(r.flush_mean == -1 && r.flush_max == -1);
	metrics_free(&b);

	/* counters that went back (a remount at the same place) count from 0 */
	reading(&b, 4, 0, 0, 0, 1, 0.1, 0.1, 3, 1, 0);
	watch_rates(&a, &b, 1.0, 1e9, &r);
	assert_true(r.req[RK_LOOKUP] == 4 && r.flushes == 1);
	metrics_free(&b);
	metrics_free(&a);
}

/* The right edge of every column of line 2 of the head falls where the
 * line's columns end. */
static void test_table(void **state)
{
	struct metrics a, b;
	struct watch_rates r;
	char *head, *line;

	(void)state;
	reading(&a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	reading(&b, 1234567, 7, 3e9, 1e12, 3, 0.003, 0.0025, 1, 1, 123 << 20);
	watch_rates(&a, &b, 1.0, 0, &r);
	CAPTURE(head, watch_header(f));
	CAPTURE(line, watch_line(f, &r));
	char *h2 = strchr(head, '\n') + 1;
	assert_int_equal(strlen(h2), strlen(line));
	assert_int_equal(strchr(head, '\n') - head + 1, strlen(line));
	for (size_t i = 9; line[i]; i++)        /* after the time, left-aligned */
		if (line[i] == ' ' && line[i - 1] != ' ' && h2[i - 1] == ' ')
			fail_msg("a value ends at %zu under no head:\n%s%s", i, h2, line);
	/* 1234567/s in 6 columns, 1e12 B/s in MiB, flush times in ms */
	assert_non_null(strstr(line, "  1235k  1235k "));
	assert_non_null(strstr(line, "   7.0 "));
	assert_non_null(strstr(line, " 2861.0 "));
	assert_non_null(strstr(line, " 953674 "));
	assert_non_null(strstr(line, "   3.0    1.00    2.50  50.0   123.0\n"));
	free(head);
	free(line);
	metrics_free(&b);

	/* three flushes, none longer than the mount's longest: a bound */
	metrics_free(&a);
	reading(&a, 0, 0, 0, 0, 2, 0.002, 0.0025, 0, 0, 0);
	reading(&b, 0, 0, 0, 0, 5, 0.005, 0.0025, 0, 0, 0);
	watch_rates(&a, &b, 1.0, 0, &r);
	CAPTURE(line, watch_line(f, &r));
	assert_non_null(strstr(line, "   3.0    1.00  <=2.50     -       0\n"));
	free(line);
	metrics_free(&b);

	/* nothing known: dashes */
	reading(&b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	watch_rates(&a, &b, 1.0, 0, &r);
	CAPTURE(line, watch_line(f, &r));
	assert_non_null(strstr(line, "       -       -     -       0\n"));
	free(line);
	metrics_free(&b);
	metrics_free(&a);
}

static void test_watch_json(void **state)
{
	struct metrics a, b;
	struct watch_rates r;
	char *out;

	(void)state;
	reading(&a, 10, 0, 0, 0, 5, 0.5, 0.2, 100, 0, 0);
	reading(&b, 30, 8, 8 << 20, 10 << 20, 9, 0.9, 0.2, 100, 0, 4096);
	watch_rates(&a, &b, 2.0, 1700000000.25, &r);
	CAPTURE(out, watch_json(f, &r, "/mnt/x"));
	assert_string_equal(out,
		"{\"time\":1700000000.250,\"mountpoint\":\"/mnt/x\",\"interval_seconds\":2,"
		"\"requests_per_second\":{\"total\":14,\"lookup\":10,\"attr\":0,\"read\":0,"
		"\"write\":4,\"dir\":0,\"names\":0,\"sync\":0,\"other\":0},"
		"\"fs_read_bytes_per_second\":0,\"fs_written_bytes_per_second\":4194304,"
		"\"engine_read_bytes_per_second\":0,\"engine_written_bytes_per_second\":5242880,"
		"\"flushes_per_second\":2,\"flush_mean_seconds\":0.1,\"flush_max_seconds\":null,"
		"\"flush_max_since_mount_seconds\":0.2,\"cache_hit_ratio\":null,"
		"\"dirty_bytes\":4096}\n");
	free(out);
	metrics_free(&b);
	metrics_free(&a);
}

static void test_screen_lines(void **state)
{
	FILE *f = tmpfile();

	(void)state;
	assert_non_null(f);
	unsetenv("LINES");
	assert_int_equal(watch_screen_lines(f), 0);
	setenv("LINES", "24", 1);
	assert_int_equal(watch_screen_lines(f), 22);
	setenv("LINES", "3", 1);
	assert_int_equal(watch_screen_lines(f), 1);
	setenv("LINES", "junk", 1);
	assert_int_equal(watch_screen_lines(f), 0);
	unsetenv("LINES");
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_watch_json),
		cmocka_unit_test(test_screen_lines),
	};
	return cmocka_run_group_tests_name("stat_format", tests, NULL, NULL);
}
