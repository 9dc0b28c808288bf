# SPDX-License-Identifier: MIT
# The damage sweep (issue 21: no single damaged block loses the
# filesystem).  A small real store is built: directories, inline files,
# files with blob blocks, xattrs and ACLs, symlinks, hard links; several
# log files, blob segments and two snapshots (it is built on a 32 MiB
# tmpfs, where the engine rolls its log every MiB, then copied off).  Each
# case damages one 4 KiB region of one copy of it with random bytes: every
# file of the store but LOCK at its start, middle and end; log files also
# at the start of a live leaf image, of a live delta record and of their
# first and last commit record; segments at the start of their last blob record.  A region
# past the end of a short file is clipped to the file.  Then:
#   fsck -n exits 4 and changes nothing, fsck -y exits 1, fsck -n exits 0
#   (or, for damage to bytes that nothing reads, fsck -n exits 0 and no
#   repair is run);
#   the daemon mounts the store, and every entry of the original reads
#   back through the mount byte-exact (contents, link target, xattrs), or
#   fails with EIO, or is one that fsck -y named by path (a hard link's
#   other path, or a directory above it, will do), or fsck -y moved it
#   into /lost+found and it is exact there (sweep_tree.py check); a walk
#   of the whole tree fails with nothing but EIO, within a deadline.
# A case that does not is reported with what happened (fsck exit codes,
# the mount, the entries lost, EIO or bad) and a command that replays it;
# the sweep goes on, and fails at the end with a list and a summary.
#
#   SWEEP_SEED=N     seed of the store and of the damage (default 1)
#   SWEEP_REGION=N   bytes damaged per case (default 4096; the engine's
#                    promise holds up to 65536)
#   SWEEP_ONLY=FILE:WHERE[,FILE:WHERE...]  only these cases; WHERE is a
#                    label (start, middle, end, leaf, delta, commit, last-commit,
#                    blob) or a byte offset, as the case lines print them
#                    (e.g. SWEEP_ONLY=FORMAT:0,00000002.log:last-commit)
#   SWEEP_SOAK=N     soak: N stores (seeds SEED, SEED+1, ...), each also
#                    damaged at SWEEP_CASES (default 8) random offsets of
#                    every file and as many random record starts per kind
#   SWEEP_KEEP=DIR   keeps a copy of each store built, as DIR/store-SEED
#   SWEEP_STORE=DIR  sweeps the store in DIR (kept before) instead of one
#                    built now: the engine's background flushes and GC run
#                    on timers, so a store built again from the same seed
#                    may lie a little differently on disk; a replay on the
#                    kept store damages exactly the same bytes
#
# Needs root and /dev/fuse (else exit 77, skipped).
. "$(dirname "$0")/lib.sh"
: "${LARCHFS:?}"

HERE=$(cd "$(dirname "$0")" && pwd)
REGION=${SWEEP_REGION:-4096}
MOUNT_TIMEOUT=20         # seconds for the mount to appear
READ_TIMEOUT=120         # seconds for reading the whole tree
UNMOUNT_TIMEOUT=60       # seconds for the daemon to flush and exit
HOST=$T/host             # the tmpfs the store is built on
MNT=$T/mnt
C=$T/case                # the damaged copy: C/store, fsck's output, ...
DAEMON=

# ---- mounts ----

is_mounted() {
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts
}

# poll SECONDS cmd...: runs cmd every 50 ms until it succeeds (status 0)
# or the deadline passes (status 1).
poll() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.05
	done
}

daemon_gone() { ! kill -0 "$DAEMON" 2>/dev/null; }

# mount_store STORE [OPTS...]: the daemon, in the foreground (its messages
# go to $C/daemon), serves STORE at $MNT; status 0 once the mount is there.
# A daemon that neither mounts nor exits within the deadline is stopped.
mount_store() {
	local store=$1
	shift
	"$LARCHFS" -f -o allow_other "$@" "$store" "$MNT" 2> "$C/daemon" &
	DAEMON=$!
	poll "$MOUNT_TIMEOUT" eval 'is_mounted "$MNT" || daemon_gone'
	is_mounted "$MNT" && return 0
	if ! daemon_gone; then
		echo "no mount after ${MOUNT_TIMEOUT}s" >> "$C/daemon"
		kill "$DAEMON"
		poll 5 daemon_gone || kill -9 "$DAEMON"
	fi
	return 1
}

# unmount_store: unmounts and waits for the daemon to flush and exit; a
# mount that does not let go is detached (-uz) and the daemon killed.
# Status 1 when it had to, or when the daemon exited with an error.
unmount_store() {
	local status=0 rc
	[ -n "$DAEMON" ] || return 0
	if is_mounted "$MNT" && ! poll 5 fusermount3 -u "$MNT" 2>/dev/null; then
		echo "    unmount refused: detaching it, killing the daemon"
		kill -9 "$DAEMON" 2>/dev/null
		fusermount3 -uz "$MNT"
		status=1
	fi
	if ! poll "$UNMOUNT_TIMEOUT" daemon_gone; then
		echo "    the daemon did not exit ${UNMOUNT_TIMEOUT}s after the unmount: killed"
		kill -9 "$DAEMON" 2>/dev/null
		status=1
	fi
	wait "$DAEMON"
	rc=$?
	DAEMON=
	[ $rc = 0 ] || [ $status = 1 ] || { echo "    the daemon exited $rc"; status=1; }
	return $status
}

sweep_cleanup() {
	unmount_store > /dev/null
	is_mounted "$MNT" && fusermount3 -uz "$MNT"
	is_mounted "$HOST" && umount "$HOST"
	is_mounted "$MNT" || is_mounted "$HOST" || rm -rf --one-file-system "$T"
}
trap sweep_cleanup EXIT
trap 'exit 130' INT TERM HUP

[ "$(id -u)" = 0 ] && [ -c /dev/fuse ] || { echo "skipped: needs root and /dev/fuse"; exit 77; }
for c in fusermount3 python3 timeout; do
	command -v $c > /dev/null || { echo "skipped: needs $c"; exit 77; }
done
mkdir "$MNT" "$C"

# ---- the store ----

# make_store SEED: builds the store in $T/pristine.
make_store() {
	rm -rf "$HOST"
	mkdir "$HOST"
	if ! mount -t tmpfs -o size=32m tmpfs "$HOST"; then
		echo "note: no tmpfs: the store is built on $T's filesystem, with one log file"
	fi
	S=$HOST/store
	mkstore
	populate "$1" 300
	"$FSCK_DAMAGE" many "$S" 1500 3000 > /dev/null || fail "many"
	"$FSCK_DAMAGE" write "$S" /d0/blobs 300000 "$1" > /dev/null || fail "write"
	cp -a "$S" "$T/pristine"
	is_mounted "$HOST" && umount "$HOST"
}

# build_store SEED: the store in $T/pristine (made, or SWEEP_STORE's), its
# manifest in $M, where its records lie in $T/records, and what the mount
# shows of it in $T/ref.
build_store() {
	rm -rf "$T/pristine"
	if [ -n "${SWEEP_STORE:-}" ]; then
		cp -a "$SWEEP_STORE" "$T/pristine" || fail "no store $SWEEP_STORE"
	else
		make_store "$1"
	fi
	if [ -n "${SWEEP_KEEP:-}" ]; then
		cp -a "$T/pristine" "$SWEEP_KEEP/store-$1" || fail "cannot keep the store"
	fi
	S=$T/pristine
	manifest
	run_fsck 0 -n
	verify
	"$FSCK_DAMAGE" records "$S" "$M" > "$T/records" || fail "records"
	echo "store (seed $1): $(grep -c . "$M") entries;" \
	     "$(cd "$S" && ls -l | awk 'NR > 1 { printf " %s (%d)", $9, $5 }')"
	rm -rf "$C/store"
	cp -a "$S" "$C/store"
	mount_store "$C/store" -o ro || fail "the undamaged store does not mount: $(cat "$C/daemon")"
	python3 "$HERE/sweep_tree.py" record "$MNT" "$M" "$T/ref"
	local rc=$?
	unmount_store || fail "unmounting the undamaged store"
	[ $rc = 0 ] || fail "the mount does not show what the manifest lists"
}

# ---- the cases ----

# record_starts FILE KIND [live]: the offsets of FILE's records of KIND.
record_starts() {
	awk -v f="$1" -v k="$2" -v l="${3:-}" '$1 == f && $3 == k && (l == "" || $4 == l) { print $2 }' \
		"$T/records" | sort -n
}

# cases_of FILE SIZE ROUNDSEED: "FILE LABEL OFFSET" lines; a region that
# one already covers is left out.
cases_of() {
	local f=$1 size=$2 last
	last=$((size > REGION ? size - REGION : 0))
	{
		echo "$f start 0"
		echo "$f middle $((last / 2))"
		echo "$f end $last"
		case $f in
		*.log)
			echo "$f leaf $(record_starts "$f" leaf live | head -1)"
			echo "$f delta $(record_starts "$f" delta live | head -1)"
			echo "$f commit $(record_starts "$f" commit | head -1)"
			echo "$f last-commit $(record_starts "$f" commit | tail -1)"
			;;
		*.blob)
			echo "$f blob $(record_starts "$f" blob | tail -1)"
			;;
		esac
		[ -n "${SWEEP_SOAK:-}" ] && soak_cases_of "$f" "$size" "$3"
	} | awk 'NF == 3 && !seen[$3]++'
}

# soak_cases_of FILE SIZE SEED: SWEEP_CASES random offsets of FILE
# (labelled random), and as many random starts of each kind of record in
# it (a-leaf, a-delta, a-commit, a-blob).
soak_cases_of() {
	local n=${SWEEP_CASES:-8} k
	awk -v f="$1" -v s="$2" -v n="$n" -v seed="$3" \
		'BEGIN { srand(seed); for (i = 0; i < n && s > 0; i++) print f, "random", int(rand() * s) }'
	for k in leaf delta commit blob; do
		record_starts "$1" $k | shuf -n "$n" --random-source=<(yes "$3") |
			awk -v f="$1" -v k=$k '{ print f, "a-" k, $1 }'
	done
}

# all_cases SEED: every case of the store, filtered by SWEEP_ONLY (whose
# FILE:OFFSET cases are there whether or not the sweep would make them).
all_cases() {
	local f
	{
		for f in $(cd "$T/pristine" && ls | LC_ALL=C sort); do
			[ "$f" = LOCK ] && continue
			cases_of "$f" "$(stat -c %s "$T/pristine/$f")" "$1"
		done
		tr ',' '\n' <<< "${SWEEP_ONLY:-}" | awk -F: '$2 ~ /^[0-9]+$/ { print $1, $2, $2 }'
	} | awk -v only=",${SWEEP_ONLY:-}," '!seen[$1 " " $3]++ && (only == ",," ||
		index(only, "," $1 ":" $2 ",") || index(only, "," $1 ":" $3 ","))'
}

# run_fsck_case NAME ARGS...: fsck.larchfs ARGS on the case's store; its
# output in $C/NAME; prints its exit status.
run_fsck_case() {
	local name=$1
	shift
	"$FSCK_LARCHFS" "$@" "$C/store" > "$C/$name" 2>&1
	echo $?
}

# fsck_cycle: the e2fsck cycle on the case's store.  Sets WHAT (what
# happened) and adds to WHY (what was wrong); $C/y is fsck -y's output.
fsck_cycle() {
	local before n1 y n2 says=
	before=$(S=$C/store digest)
	n1=$(run_fsck_case n1 -n)
	: > "$C/y"
	if [ "$n1" = 0 ] && [ "$(S=$C/store digest)" = "$before" ]; then
		WHAT="fsck -n 0 (nothing to see)"
		INVISIBLE=1
		return
	fi
	[ "$(S=$C/store digest)" = "$before" ] || WHY+="fsck -n changed the store; "
	y=$(run_fsck_case y -y)
	n2=$(run_fsck_case n2 -n)
	WHAT="fsck -n $n1, -y $y, -n $n2"
	[ "$n1" = 4 ] || says=n1
	[ "$y" = 1 ] || says=${says:-y}
	[ "$n2" = 0 ] || says=${says:-n2}
	[ -z "$says" ] || WHY+="want fsck -n 4, -y 1, -n 0; $(fsck_says "$says"); "
}

# fsck_says NAME: the gist of the fsck run in $C/NAME: its first problem
# or message.
fsck_says() {
	local who
	case $1 in n1) who="fsck -n" ;; y) who="fsck -y" ;; n2) who="the second fsck -n" ;; esac
	echo "$who says: $(grep -m1 -E "Fix\?|fsck.larchfs: |FIXED|UNEXPECTED|damaged" "$C/$1" |
			 to_store | cut -c1-200)"
}

# to_store: the case's store path spelled STORE.
to_store() {
	sed "s#$C/store#STORE#g"
}

# check_mount: mounts the case's store and reads it all.  Adds to WHAT and WHY.
check_mount() {
	local rc
	if ! mount_store "$C/store"; then
		WHAT+="; mount failed"
		WHY+="the store does not mount ($(head -1 "$C/daemon" | to_store | cut -c1-200)); "
		unmount_store > /dev/null
		return
	fi
	timeout -k 5 "$READ_TIMEOUT" python3 "$HERE/sweep_tree.py" check "$MNT" "$T/ref" "$C/y" \
		${INVISIBLE:+exact} > "$C/read"
	rc=$?
	WHAT+="; mount ok; $(tail -1 "$C/read")"
	case $rc in
	0) ;;
	124|137) WHY+="reading the tree took over ${READ_TIMEOUT}s; " ;;
	*) WHY+="$(grep -c BAD "$C/read") entries read back wrong, e.g. $(grep -m1 BAD "$C/read" | sed "s/^ *//"); " ;;
	esac
	unmount_store > "$C/unmount" || WHY+="unmount: $(tr '\n' ' ' < "$C/unmount"); "
}

# run_case SEED FILE LABEL OFFSET: one case; its verdict goes to $T/results.
run_case() {
	local seed=$1 f=$2 label=$3 off=$4 dseed
	dseed=$(echo "$seed $f $off" | cksum | cut -d' ' -f1)
	rm -rf "$C/store"
	cp -a "$T/pristine" "$C/store"
	"$FSCK_DAMAGE" scribble "$C/store" "$f" "$off" "$REGION" "$dseed" > "$C/scribbled" ||
		fail "scribble $f $off"
	echo "case $f:$label: $(cat "$C/scribbled") (random, seed $dseed)"
	WHAT= WHY= INVISIBLE=
	fsck_cycle
	check_mount
	echo "    $WHAT"
	if [ -z "$WHY" ]; then
		echo "    ok"
		echo "ok${INVISIBLE:+ (invisible)} $f:$label" >> "$T/results"
		return
	fi
	grep -E "^  (BAD|walk: BAD)" "$C/read" 2>/dev/null | head -10 | sed 's/^/  /'
	if [ -s "$C/y" ]; then
		echo "    fsck -y said:"
		grep -v "^Pass " "$C/y" | head -15 | to_store | sed 's/^/      /'
	fi
	echo "    FAIL: ${WHY%; }"
	case $label in random|a-*) label=$off ;; esac
	echo "    replay: ${SWEEP_STORE:+SWEEP_STORE=$SWEEP_STORE }SWEEP_SEED=$seed" \
	     "SWEEP_ONLY=$f:$label meson test -C build --suite fsck damage_sweep -v"
	echo "FAIL $f:$label (seed $seed, offset $off): $WHAT: ${WHY%; }" >> "$T/results"
}

# ---- the sweep ----

seed=${SWEEP_SEED:-1}
: > "$T/results"
for round in $(seq "${SWEEP_SOAK:-1}"); do
	build_store "$seed"
	all_cases "$seed" > "$T/cases"
	[ -s "$T/cases" ] || fail "no case matches SWEEP_ONLY=${SWEEP_ONLY:-}"
	while read -r f label off <&3; do
		run_case "$seed" "$f" "$label" "$off"
	done 3< "$T/cases"
	seed=$((seed + 1))
done

echo
grep "^FAIL" "$T/results"
total=$(grep -c . "$T/results")
failed=$(grep -c "^FAIL" "$T/results")
echo "damage sweep: $total cases, $((total - failed)) passed ($(grep -c "^ok (invisible)" \
	"$T/results") with nothing for fsck to see), $failed failed"
[ "$failed" = 0 ]
