/* SPDX-License-Identifier: MIT */
/*
 * mkfs.larchfs: makes a new larchfs filesystem in a store directory.
 *
 *   mkfs.larchfs [-f] [-q] [-L label] [-b block-size] [-E opts] STORE
 *
 * Exit status: 0 made, 1 refused or failed (the reason on stderr), 16 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lfs.h"

#define EXIT_USAGE 16

static void usage(FILE *f)
{
	fprintf(f, "usage: mkfs.larchfs [-f] [-q] [-L label] [-b block-size] [-E opts] STORE\n"
		   "  -f  replace an existing store (other files are never touched)\n"
		   "  -q  quiet\n"
		   "  -L  volume label (up to 63 bytes)\n"
		   "  -b  file block size in bytes, a power of two from 4096 to 1048576\n"
		   "  -E  extended options, comma-separated:\n"
		   "        blob_threshold=N  values of N bytes and more go to blob segments\n"
		   "        compression=N     default zstd level for new data (0: off)\n"
		   "  -V  print the version\n");
}

/* Parses -E's comma-separated name=value list; false on a bad one. */
static bool parse_extended(char *s, struct lfs_format_options *o)
{
	for (char *opt = strtok(s, ","); opt; opt = strtok(NULL, ",")) {
		char *eq = strchr(opt, '='), *end;
		if (!eq)
			return false;
		*eq = 0;
		unsigned long v = strtoul(eq + 1, &end, 0);
		if (*end || end == eq + 1)
			return false;
		if (!strcmp(opt, "blob_threshold") && v >= 64 && v <= (1ul << 30))
			o->blob_threshold = (uint32_t)v;
		else if (!strcmp(opt, "compression") && v <= 22)
			o->compression = (int)v;
		else
			return false;
	}
	return true;
}

static void print_made(const char *dir, const struct lfs_info *i)
{
	char uuid[37];
	const uint8_t *u = i->uuid;
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		 u[12], u[13], u[14], u[15]);
	printf("Creating larchfs filesystem in %s\n"
	       "Filesystem UUID: %s\n"
	       "Filesystem label: %s\n"
	       "Block size: %u bytes; values of %u bytes and more go to blob segments\n"
	       "Compression: zstd level %d\n",
	       dir, uuid, i->label[0] ? i->label : "(none)", i->block_size,
	       i->blob_threshold, i->compression);
}

int main(int argc, char **argv)
{
	struct lfs_format_options o;
	lfs_format_options_default(&o);
	o.root_uid = getuid();
	o.root_gid = getgid();
	bool quiet = false;
	int c;
	while ((c = getopt(argc, argv, "fqL:b:E:Vh")) != -1) {
		switch (c) {
		case 'f': o.force = true; break;
		case 'q': quiet = true; break;
		case 'L': o.label = optarg; break;
		case 'b': o.block_size = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'E':
			if (!parse_extended(optarg, &o)) {
				fprintf(stderr, "mkfs.larchfs: bad extended options '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'V': printf("mkfs.larchfs 0.1.0\n"); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *dir = argv[optind];
	char why[256] = "";
	struct lfs_info info;
	int err = lfs_format(dir, &o, &info, why);
	if (err) {
		fprintf(stderr, "mkfs.larchfs: %s: %s\n", dir, why[0] ? why : strerror(-err));
		return 1;
	}
	if (!quiet)
		print_made(dir, &info);
	return 0;
}
