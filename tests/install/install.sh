#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/install/install.sh BUILD_DIR SOURCE_DIR: `meson install` into a
# DESTDIR under mktemp -d, then what a user and a packager rely on:
#
#  1. the list of installed files, exactly: the four programs and the
#     fsck.fuse.larchfs link in sbin, liblarchkv (shared with its soname
#     links, and static), its header and pkg-config file, the man pages,
#     the bash completions, the systemd units and the examples;
#  2. a C program outside the tree compiles (-Wall -Wextra -Werror), links
#     and runs against the installed header and library through pkg-config
#     (PKG_CONFIG_SYSROOT_DIR points it into the DESTDIR), shared and
#     static;
#  3. the installed programs run; `fsck -t fuse.larchfs`, `fsck -t
#     larchfs` and `fsck -A` with a private fstab (FSTAB_FILE) run the
#     installed fsck.fuse.larchfs / fsck.larchfs;
#  4. the man pages render without a warning (groff -ww, man --warnings),
#     carry the project's version, and name every option the programs'
#     own help lists;
#  5. the bash completion, sourced by a plain bash, completes each command;
#  6. the systemd units pass `systemd-analyze verify` (with their paths
#     pointed into the DESTDIR), the template's fsck step does what
#     larchfs.conf.example says, and systemd-fstab-generator turns an fstab
#     line with x-systemd.requires=larchfs-fsck@... into a mount that
#     requires the check (where systemd is installed; said when not).
#
# Exit status 0 when all hold; 1 with what failed.  Needs no root.
set -u
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)

T=$(mktemp -d "${TMPDIR:-/tmp}/larchfs-install.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
export LC_ALL=C
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

dest=$T/dest
if ! meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$T/install.log" 2>&1; then
	cat "$T/install.log"
	echo "FAIL: meson install"
	exit 1
fi

# The directories as configured (meson introspect), relative to /.
opts=$(meson introspect "$build" --buildoptions) || exit 1
opt() {
	python3 -c 'import json, sys
for o in json.load(sys.stdin):
    if o["name"] == sys.argv[1]:
        print(o["value"])' "$1" <<<"$opts"
}
dir_of() {   # an option's directory, made absolute under the prefix
	local v
	v=$(opt "$1")
	case $v in /*) echo "$v" ;; *) echo "$prefix/$v" ;; esac
}
prefix=$(opt prefix)
sbindir=$(dir_of sbindir)
libdir=$(dir_of libdir)
includedir=$(dir_of includedir)
mandir=$(dir_of mandir)
datadir=$(dir_of datadir)
sanitize=$(opt b_sanitize)
version=$(meson introspect "$build" --projectinfo |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
compdir=$(opt bashcompletiondir)
[ -n "$compdir" ] || compdir=$datadir/bash-completion/completions
unitdir=$(opt systemdsystemunitdir)
[ -n "$unitdir" ] || unitdir=$prefix/lib/systemd/system

# ---- 1. the installed files ------------------------------------------------

{
	for p in larchfs mkfs.larchfs fsck.larchfs larchfs-stat; do echo "$sbindir/$p"; done
	echo "$sbindir/fsck.fuse.larchfs -> fsck.larchfs"
	echo "$libdir/liblarchkv.a"
	echo "$libdir/liblarchkv.so -> liblarchkv.so.0"
	echo "$libdir/liblarchkv.so.0 -> liblarchkv.so.$version"
	echo "$libdir/liblarchkv.so.$version"
	echo "$libdir/pkgconfig/larchkv.pc"
	echo "$includedir/larchfs/larchkv.h"
	for p in larchfs mkfs.larchfs fsck.larchfs larchfs-stat; do echo "$mandir/man8/$p.8"; done
	echo "$mandir/man8/fsck.fuse.larchfs.8 -> fsck.larchfs.8"
	if [ "$compdir" != no ]; then
		echo "$compdir/larchfs"
		for p in mkfs.larchfs fsck.larchfs fsck.fuse.larchfs larchfs-stat; do
			echo "$compdir/$p -> larchfs"
		done
	fi
	if [ "$unitdir" != no ]; then
		echo "$unitdir/larchfs@.service"
		echo "$unitdir/larchfs-fsck@.service"
	fi
	echo "$datadir/doc/larchfs/examples/larchfs.conf.example"
	echo "$datadir/doc/larchfs/examples/mnt-larchfs.mount"
} | sort >"$T/expected"
(cd "$dest" && find . \( -type f -o -type l \) | sed 's#^\.##' | sort |
	while read -r f; do
		if [ -L "$dest$f" ]; then echo "$f -> $(readlink "$dest$f")"; else echo "$f"; fi
	done) >"$T/installed"
if diff -u "$T/expected" "$T/installed" >"$T/files.diff"; then
	ok "installed files ($(wc -l <"$T/installed"))"
else
	fail "installed files differ from the list (- expected, + installed):"
	sed -n '3,$p' "$T/files.diff"
fi
for p in larchfs mkfs.larchfs fsck.larchfs larchfs-stat; do
	[ -x "$dest$sbindir/$p" ] || fail "$sbindir/$p is not executable"
done

# ---- 2. a program built against the installed library --------------------

export PKG_CONFIG_PATH=$dest$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
cc=${CC:-cc}
san=()
[ "$sanitize" != none ] && san=(-fsanitize="$sanitize")   # an instrumented library
if ! pkg-config --exists larchkv; then
	fail "pkg-config does not find larchkv ($PKG_CONFIG_PATH)"
elif [ "$(pkg-config --modversion larchkv)" != "$version" ]; then
	fail "pkg-config larchkv version $(pkg-config --modversion larchkv), not $version"
else
	cflags=$(pkg-config --cflags larchkv) libs=$(pkg-config --libs larchkv)
	case $cflags in *"$dest$includedir/larchfs"*) ;; *) fail "cflags '$cflags' miss the installed include dir" ;; esac
	# shellcheck disable=SC2086
	if "$cc" -std=c17 -Wall -Wextra -Werror "${san[@]}" $cflags -o "$T/hello" \
		"$src/tests/install/hello_larchkv.c" $libs >"$T/cc.log" 2>&1; then
		if ! readelf -d "$T/hello" | grep -q 'NEEDED.*\[liblarchkv\.so\.0\]'; then
			fail "the program does not need liblarchkv.so.0 (the soname)"
		fi
		out=$(LD_LIBRARY_PATH=$dest$libdir "$T/hello" "$T/kvstore" 2>&1)
		[ "$out" = "larchkv: ok" ] && ok "shared liblarchkv via pkg-config: $cflags $libs" ||
			fail "the program against the shared library: $out"
	else
		cat "$T/cc.log"
		fail "compiling against the installed header and shared library"
	fi
	static_libs=$(pkg-config --static --libs larchkv | sed 's/-llarchkv\b/-l:liblarchkv.a/')
	# shellcheck disable=SC2086
	if "$cc" -std=c17 -Wall -Wextra -Werror "${san[@]}" $cflags -o "$T/hello-static" \
		"$src/tests/install/hello_larchkv.c" $static_libs >"$T/cc.log" 2>&1; then
		readelf -d "$T/hello-static" | grep -q 'liblarchkv' &&
			fail "the static program still needs the shared library"
		out=$("$T/hello-static" "$T/kvstore-static" 2>&1)
		[ "$out" = "larchkv: ok" ] && ok "static liblarchkv via pkg-config --static: $static_libs" ||
			fail "the program against the static library: $out"
	else
		cat "$T/cc.log"
		fail "compiling against the installed static library"
	fi
	# only the API is exported
	extra=$(nm -D --defined-only "$dest$libdir/liblarchkv.so.$version" |
		awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^lkv_/ { print $3 }' | head -5)
	[ -z "$extra" ] && ok "liblarchkv.so exports only lkv_*" ||
		fail "liblarchkv.so exports internal symbols: $extra"
fi

# ---- 3. the programs, and fsck(8) ---------------------------------------------

sbin=$dest$sbindir
"$sbin/larchfs" --version | grep -qx "larchfs $version" || fail "larchfs --version"
"$sbin/mkfs.larchfs" -V | grep -qx "mkfs.larchfs $version" || fail "mkfs.larchfs -V"
"$sbin/mkfs.larchfs" -q "$T/store" || fail "the installed mkfs.larchfs"
if command -v fsck >/dev/null; then
	for t in fuse.larchfs larchfs; do
		out=$(PATH=$sbin:$PATH fsck -t $t -n "$T/store" 2>&1)
		rc=$?
		if [ $rc -eq 0 ] && grep -q "^$T/store: 0 files, 2 directories" <<<"$out"; then
			ok "fsck -t $t STORE runs the installed fsck.${t}"
		else
			fail "fsck -t $t (exit $rc): $out"
		fi
	done
	echo "$T/store /nonexistent/mnt fuse.larchfs defaults 0 2" >"$T/fstab"
	out=$(PATH=$sbin:$PATH FSTAB_FILE=$T/fstab fsck -A -N 2>&1)
	grep -q "fsck.fuse.larchfs -a $T/store\|fsck.fuse.larchfs $T/store" <<<"$out" ||
		grep -q "fsck.fuse.larchfs.* $T/store" <<<"$out" ||
		fail "fsck -A -N does not plan fsck.fuse.larchfs: $out"
	out=$(PATH=$sbin:$PATH FSTAB_FILE=$T/fstab fsck -A -a 2>&1)
	rc=$?
	[ $rc -eq 0 ] && grep -q "^$T/store: 0 files" <<<"$out" &&
		ok "fsck -A -a checks an fstab line of type fuse.larchfs with passno 2" ||
		fail "fsck -A -a (exit $rc): $out"
else
	echo "skip: no fsck(8)"
fi

# ---- 4. man pages -------------------------------------------------------------------

for p in larchfs mkfs.larchfs fsck.larchfs larchfs-stat fsck.fuse.larchfs; do
	page=$dest$mandir/man8/$p.8
	[ -e "$page" ] || { fail "no man page $p(8)"; continue; }
	warn=$(groff -man -ww -z "$page" 2>&1)
	[ -z "$warn" ] || fail "groff warns about $p(8): $warn"
	if command -v man >/dev/null; then
		warn=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
		[ -z "$warn" ] || fail "man warns about $p(8): $warn"
	fi
	grep -q "^\.TH .*\"larchfs $version\"" "$page" || fail "$p(8) is not for larchfs $version"
done
# every option the programs list is in their page
render() { MANWIDTH=200 man -l "$dest$mandir/man8/$1.8" 2>/dev/null || groff -man -Tutf8 "$dest$mandir/man8/$1.8"; }
check_opts() {   # PAGE HELP-TEXT: each -x / --long / -o name of the help is in the page
	local page=$1 help=$2 text o missing=""
	text=$(render "$page" | sed 's/‐/-/g')
	for o in $(grep -oE '(^|[[ ])(-[A-Za-z]|--[a-z-]+)\b' <<<"$help" | tr -d '[ ' | sort -u); do
		grep -qe "$o" <<<"$text" || missing+=" $o"
	done
	for o in $(grep -oE -- '-o [a-z_]+' <<<"$help" | cut -c4- | sort -u); do
		grep -qw -e "$o" <<<"$text" || missing+=" -o $o"
	done
	for o in $(grep -oE '^ +[a-z_]+=' <<<"$help" | tr -d ' =' | sort -u); do
		grep -qe "$o=" <<<"$text" || missing+=" $o="
	done
	[ -z "$missing" ] && ok "$page(8) names every option of its help" ||
		fail "$page(8) lacks:$missing"
}
check_opts larchfs "$("$sbin/larchfs" --help 2>&1)"
check_opts mkfs.larchfs "$("$sbin/mkfs.larchfs" -h 2>&1)"
check_opts fsck.larchfs "$("$sbin/fsck.larchfs" -h 2>&1)"
check_opts larchfs-stat "$("$sbin/larchfs-stat" -h 2>&1)"

# ---- 5. bash completion ----------------------------------------------------------------

if [ "$compdir" != no ]; then
	cat >"$T/comp.bash" <<-'EOF'
	comp() {   # comp LINE: what completing at its end offers
		local line=$1 fn
		COMP_LINE=$line COMP_POINT=${#line}
		read -ra COMP_WORDS <<<"$(sed 's/=/ = /g' <<<"$line")"
		case $line in *' ') COMP_WORDS+=("") ;; esac
		COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
		fn=$(complete -p "${COMP_WORDS[0]}" 2>/dev/null | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
		COMPREPLY=()
		[ -n "$fn" ] && "$fn" 2>/dev/null
		echo "$line|${COMPREPLY[*]}"
	}
	cd "$1"
	for f in "$2"/*; do . "$f"; done
	comp "larchfs --ver"
	comp "larchfs -o allow_other,noa"
	comp "larchfs -o cache=1G,flush_"
	comp "larchfs sto"
	comp "mkfs.larchfs -E blob"
	comp "fsck.larchfs -"
	comp "fsck.fuse.larchfs -m 2"
	comp "larchfs-stat --mou"
	comp "larchfs-stat --mounted --pro"
	comp "larchfs-stat --mounted -w "
	EOF
	mkdir "$T/cwd" "$T/cwd/store1"
	bash --norc --noprofile "$T/comp.bash" "$T/cwd" "$dest$compdir" >"$T/comp.out" 2>&1
	cat >"$T/comp.expected" <<-'EOF'
	larchfs --ver|--version
	larchfs -o allow_other,noa|allow_other,noatime
	larchfs -o cache=1G,flush_|1G,flush_ms=
	larchfs sto|store1
	mkfs.larchfs -E blob|blob_threshold=
	fsck.larchfs -|-n -y -p -a -f -v -C -m -h
	fsck.fuse.larchfs -m 2|256M
	larchfs-stat --mou|--mounted
	larchfs-stat --mounted --pro|--prometheus
	larchfs-stat --mounted -w |
	EOF
	diff -u "$T/comp.expected" "$T/comp.out" >"$T/comp.diff" && ok "bash completion" ||
		{ fail "bash completion:"; cat "$T/comp.diff"; }
fi

# ---- 6. systemd ----------------------------------------------------------------------------

if [ "$unitdir" != no ]; then
	units=$T/units
	mkdir "$units"
	# instances, with the programs' paths pointed into the DESTDIR
	sed "s#$sbindir/#$sbin/#g" "$dest$unitdir/larchfs@.service" >"$units/larchfs@data.service"
	sed "s#$sbindir/#$sbin/#g" "$dest$unitdir/larchfs-fsck@.service" \
		>"$units/larchfs-fsck@var-lib-larchfs-store.service"
	cp "$dest$datadir/doc/larchfs/examples/mnt-larchfs.mount" "$units/"
	if command -v systemd-analyze >/dev/null; then
		if out=$(systemd-analyze verify --man=no "$units"/* 2>&1); then
			ok "systemd-analyze verify: larchfs@.service, larchfs-fsck@.service, mnt-larchfs.mount"
		else
			fail "systemd-analyze verify: $out"
		fi
	else
		echo "skip: no systemd-analyze"
	fi
	# ExecStartPre=/bin/sh -c '...': run as systemd would ($$ is $)
	pre=$(sed -n "s/^ExecStartPre=\/bin\/sh -c '\(.*\)'\$/\1/p" "$units/larchfs@data.service" |
		sed 's/\$\$/$/g')
	if [ -z "$pre" ]; then
		fail "larchfs@.service has no ExecStartPre=/bin/sh -c '...'"
	else
		env FSCK=no STORE=$T/none sh -c "$pre" >/dev/null 2>&1 ||
			fail "FSCK=no: the fsck step failed"
		env FSCK=yes STORE=$T/store sh -c "$pre" >"$T/pre.out" 2>&1 &&
			grep -q "^$T/store: 0 files" "$T/pre.out" ||
			fail "FSCK=yes on a clean store: $(cat "$T/pre.out")"
		env FSCK=yes STORE=$T/none sh -c "$pre" >/dev/null 2>&1 &&
			fail "FSCK=yes on a missing store: the fsck step succeeded"
		ok "larchfs@.service's fsck step (FSCK=no, yes on a clean store, yes on a missing one)"
	fi
	# every variable the template uses is in the example configuration
	for v in STORE MOUNTPOINT OPTIONS FSCK; do
		grep -q "^$v=" "$dest$datadir/doc/larchfs/examples/larchfs.conf.example" ||
			fail "larchfs.conf.example does not set $v"
	done
	gen=/lib/systemd/system-generators/systemd-fstab-generator
	if [ -x "$gen" ]; then
		mkdir -p "$T/gen/normal" "$T/gen/early" "$T/gen/late"
		cat >"$T/gen/fstab" <<-'EOF'
		/var/lib/larchfs/store /mnt/larchfs fuse.larchfs nofail,x-systemd.requires=larchfs-fsck@var-lib-larchfs-store.service 0 0
		/var/lib/larchfs/other /mnt/other fuse.larchfs defaults 0 2
		EOF
		SYSTEMD_LOG_LEVEL=info SYSTEMD_FSTAB=$T/gen/fstab SYSTEMD_PROC_CMDLINE='' \
			"$gen" "$T/gen/normal" "$T/gen/early" "$T/gen/late" >"$T/gen/log" 2>&1
		m=$T/gen/normal/mnt-larchfs.mount
		if [ -f "$m" ] && grep -q '^Requires=larchfs-fsck@var-lib-larchfs-store.service' "$m" &&
		   grep -q '^After=larchfs-fsck@var-lib-larchfs-store.service' "$m" &&
		   grep -q '^Type=fuse.larchfs' "$m"; then
			ok "systemd-fstab-generator: x-systemd.requires=larchfs-fsck@ orders the check before the mount"
		else
			fail "systemd-fstab-generator's mnt-larchfs.mount: $(cat "$m" 2>/dev/null)"
		fi
		if grep -q 'Checking was requested for "/var/lib/larchfs/other", but it is not a device' "$T/gen/log" &&
		   ! grep -rq 'systemd-fsck@' "$T/gen/normal"; then
			ok "systemd-fstab-generator: passno 2 on a store checks nothing (as documented)"
		else
			fail "systemd-fstab-generator and passno 2: $(cat "$T/gen/log")"
		fi
	else
		echo "skip: no $gen"
	fi
fi

[ $fails -eq 0 ] && echo "install: all checks passed" || echo "install: $fails checks failed"
[ $fails -eq 0 ]
