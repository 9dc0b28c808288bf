# SPDX-License-Identifier: MIT
# Operational errors and usage: exit 16 for bad options, 8 (with a message)
# for a missing store, an unformatted directory, and a store in use.
. "$(dirname "$0")/lib.sh"

"$FSCK_LARCHFS" > /dev/null 2>&1; [ $? = 16 ] || fail "no store: not 16"
"$FSCK_LARCHFS" -n -y "$S" > /dev/null 2>&1; [ $? = 16 ] || fail "-n -y: not 16"
"$FSCK_LARCHFS" -m lots "$S" > /dev/null 2>&1; [ $? = 16 ] || fail "-m lots: not 16"
"$FSCK_LARCHFS" -Z "$S" > /dev/null 2>&1; [ $? = 16 ] || fail "-Z: not 16"
"$FSCK_LARCHFS" -h > /dev/null 2>&1; [ $? = 0 ] || fail "-h: not 0"

run_fsck 8 -n
says "no larchfs store there"
mkdir -p "$S"
run_fsck 8 -y
says "no larchfs store there"

rm -rf "$S"
mkstore
populate 21 100
"$FSCK_DAMAGE" hold "$S" 60 > "$T/hold" &
HOLD_PID=$!
for _ in $(seq 100); do grep -q ready "$T/hold" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$T/hold" || fail "hold did not start"
run_fsck 8 -n
says "in use \(mounted\?\)"
run_fsck 8 -y
says "in use"
kill "$HOLD_PID"; wait "$HOLD_PID" 2>/dev/null; HOLD_PID=
run_fsck 0 -n
