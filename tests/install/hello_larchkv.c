/* SPDX-License-Identifier: MIT */
/*
 * A program outside the tree, built against the installed larchkv by
 * tests/install/install.sh (pkg-config larchkv): it makes a store in the
 * directory it is given, puts a key, flushes, closes, opens it again and
 * reads the key back.  Prints "larchkv: ok" and exits 0, or says what
 * failed and exits 1.
 */
#include <larchkv.h>

#include <stdio.h>
#include <string.h>

static int fail(const char *what, int err)
{
	fprintf(stderr, "hello_larchkv: %s: %s\n", what, strerror(-err));
	return 1;
}

int main(int argc, char **argv)
{
	struct lkv_options o;
	lkv_store *s;
	lkv_tree *t;
	uint64_t epoch;
	char v[16];
	size_t vl;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: hello_larchkv DIR\n");
		return 2;
	}
	lkv_options_default(&o);
	o.flags = LKV_CREATE;
	if ((err = lkv_open(argv[1], &o, &s)))
		return fail("open", err);
	if ((err = lkv_tree_open(s, "greetings", &t)) ||
	    (err = lkv_put(t, "hello", 5, "world", 5, &epoch)) ||
	    (err = lkv_flush(s, epoch)))
		return fail("put and flush", err);
	if ((err = lkv_close(s)))
		return fail("close", err);

	o.flags = 0;
	if ((err = lkv_open(argv[1], &o, &s)))
		return fail("reopen", err);
	if ((err = lkv_tree_open(s, "greetings", &t)) ||
	    (err = lkv_get(t, "hello", 5, v, sizeof(v), &vl)))
		return fail("get", err);
	lkv_close(s);
	if (vl != 5 || memcmp(v, "world", 5)) {
		fprintf(stderr, "hello_larchkv: read back %zu bytes, not \"world\"\n", vl);
		return 1;
	}
	printf("larchkv: ok\n");
	return 0;
}
