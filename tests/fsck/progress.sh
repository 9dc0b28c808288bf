# SPDX-License-Identifier: MIT
# -C FD: e2fsck's completion lines "PASS CURRENT MAX STORE" on FD, for
# passes 1 to 5, each ending with CURRENT = MAX.  -C 0 without a terminal
# draws nothing.
. "$(dirname "$0")/lib.sh"

mkstore
populate 23 300
run_fsck 0 -n -C 3 3> "$T/progress"
cat "$T/progress" | head -20
grep -Evq "^[1-5] [0-9]+ [0-9]+ $S\$" "$T/progress" && fail "a malformed progress line"
for p in 1 2 3 4 5; do
	last=$(awk -v p=$p '$1 == p' "$T/progress" | tail -1)
	[ -n "$last" ] || fail "no progress for pass $p"
	set -- $last
	[ "$2" = "$3" ] || fail "pass $p ends at $2 of $3"
done
run_fsck 0 -n -C 0
grep -q '|' "$T/out" && fail "a progress bar without a terminal"
exit 0
