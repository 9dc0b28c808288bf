/* SPDX-License-Identifier: MIT */
/*
 * Replays every file of the fuzz corpus (argv[1]) through the fuzz target,
 * plus a few thousand mutations of each, so ordinary test builds (and their
 * ASan/UBSan variant) exercise the decoders on the corpus too.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void mutate_and_run(const uint8_t *p, size_t n)
{
	uint8_t *m = malloc(n + 1);
	for (int round = 0; round < 2000; round++) {
		memcpy(m, p, n);
		size_t len = n;
		for (int flips = 1 + next() % 4; flips > 0 && len > 1; flips--)
			m[1 + next() % (len - 1)] ^= (uint8_t)(1u << (next() % 8));
		if (next() % 4 == 0 && len > 1)
			len = 1 + next() % (len - 1);         /* truncate */
		LLVMFuzzerTestOneInput(m, len);
	}
	free(m);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	DIR *d = opendir(argv[1]);
	if (!d) {
		perror(argv[1]);
		return 1;
	}
	int files = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		static uint8_t buf[1 << 20];
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		if (n)
			mutate_and_run(buf, n);
		files++;
	}
	closedir(d);
	printf("%d corpus files replayed with mutations\n", files);
	return files ? 0 : 1;
}
