#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/stat/cli.sh: larchfs-stat's output for programs, on a real store
# (no mount: tests/generic/090 and 091 do the mounted forms):
#  - --json is one JSON object (python3 -m json.tool reads it) whose
#    figures are those of the text form;
#  - --prometheus passes `promtool check metrics` (Debian's prometheus
#    package: $PROMTOOL, promtool on PATH, or the copy that
#    contrib/install-deps.sh keeps in /var/cache/larchfs-tests; said when
#    there is none) and promcheck.py, a strict reader of the format;
#  - a store whose path has a space, quotes and a backslash stays a valid
#    JSON string and label value;
#  - what does not go together is a usage error (16) that says why, and a
#    directory that is not a mount is exit 1 naming it.
# Needs MKFS_LARCHFS and STAT_LARCHFS (meson sets them), python3.
set -u
here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || { echo "skip: needs python3"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/larchfs-stat-cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

promtool=${PROMTOOL:-$(command -v promtool || true)}
[ -n "$promtool" ] || [ ! -x /var/cache/larchfs-tests/promtool ] ||
	promtool=/var/cache/larchfs-tests/promtool

store="$T/a store \"with\" a \\ back"
"$MKFS_LARCHFS" -q -L cli "$store" || { echo "FAIL: mkfs.larchfs"; exit 1; }
real=$(realpath "$store")

# ---- JSON ----
if "$STAT_LARCHFS" --json "$store" >"$T/json" 2>"$T/err"; then
	[ "$(wc -l <"$T/json")" = 1 ] && ok "--json is one line" || fail "--json: not one line"
	if "$PY" -m json.tool "$T/json" >/dev/null 2>"$T/jerr"; then
		ok "--json parses with python3 -m json.tool"
	else
		fail "--json does not parse: $(cat "$T/jerr")"
	fi
	"$STAT_LARCHFS" "$store" >"$T/text"
	"$PY" - "$T/json" "$T/text" "$real" <<-'EOF' && ok "--json has the figures of the text" || fail "--json's figures"
	import json, re, sys
	j = json.load(open(sys.argv[1]))
	text = open(sys.argv[2]).read()
	def text_bytes(label):
	    return int(re.search(label + r": +[0-9.]+ MiB \((\d+) bytes\)", text).group(1))
	want = {"store": sys.argv[3], "read_only": 1,
	        "engine_disk_bytes": text_bytes("Disk bytes"),
	        "engine_live_bytes": text_bytes("Live bytes"),
	        "engine_dirty_bytes": 0, "engine_flushes_total": 0}
	bad = {k: (j.get(k), v) for k, v in want.items() if j.get(k) != v}
	for k in ("time", "engine_cache_hits_total", "engine_space_amplification_ratio"):
	    if not isinstance(j.get(k), (int, float)):
	        bad[k] = j.get(k)
	if bad:
	    sys.exit(f"got, want: {bad}")
	EOF
else
	fail "--json STORE failed: $(cat "$T/err")"
fi

# ---- Prometheus ----
if "$STAT_LARCHFS" --prometheus "$store" >"$T/prom" 2>"$T/err"; then
	if "$PY" "$here/promcheck.py" --prefix larchfs_ "$T/prom" 2>"$T/perr"; then
		ok "--prometheus passes promcheck.py"
	else
		fail "--prometheus: $(cat "$T/perr")"
	fi
	if [ -n "$promtool" ]; then
		if "$promtool" check metrics <"$T/prom" >"$T/pterr" 2>&1; then
			ok "--prometheus passes promtool check metrics"
		else
			fail "promtool check metrics: $(cat "$T/pterr")"
		fi
	else
		echo "note: no promtool (contrib/install-deps.sh fetches it); promcheck.py alone"
	fi
	grep -q '^larchfs_engine_flushes_total{store="[^{}]*"} 0$' "$T/prom" &&
		ok "--prometheus labels every sample with the store" ||
		fail "--prometheus: no flush counter labelled with the store"
	[ "$(grep -c '^larchfs_store_info{' "$T/prom")" = 1 ] && ok "one store_info" ||
		fail "--prometheus: store_info $(grep -c '^larchfs_store_info{' "$T/prom") times"
else
	fail "--prometheus STORE failed: $(cat "$T/err")"
fi

# ---- what is refused ----
usage() {   # usage WHY ARGS...: exit 16 and a message containing WHY
	local why=$1 rc
	shift
	"$STAT_LARCHFS" "$@" >"$T/out" 2>&1
	rc=$?
	if [ $rc = 16 ] && grep -qF -- "$why" "$T/out"; then
		ok "larchfs-stat $*: 16, $why"
	else
		fail "larchfs-stat $*: exit $rc, want 16 and '$why': $(head -3 "$T/out")"
	fi
}
usage "-w needs --mounted" -w 1 "$store"
usage "--json and --prometheus exclude each other" --json --prometheus "$store"
usage "-w and --prometheus exclude each other" --mounted --prometheus -w 1 "$T"
usage "-w and -i take seconds" --mounted -w 0 "$T"
usage "-w and -i take seconds" --mounted -i soon "$T"
usage "-c takes a count" --mounted -w 1 -c 0 "$T"
usage "-c counts the lines of -w" --mounted -c 2 "$T"
usage "no STORE or MOUNTPOINT" --json
usage "one STORE or MOUNTPOINT" "$store" "$store"
for form in "" --json --prometheus "-w 1 -c 1"; do
	"$STAT_LARCHFS" --mounted $form "$T" >"$T/out" 2>&1
	rc=$?
	if [ $rc = 1 ] && grep -qF "larchfs-stat: $T: not the root of a larchfs mount" "$T/out"; then
		ok "--mounted $form on a plain directory: 1, named"
	else
		fail "--mounted $form on a plain directory: exit $rc: $(cat "$T/out")"
	fi
done
"$STAT_LARCHFS" --json "$T/none" >"$T/out" 2>&1
[ $? = 1 ] && grep -qF "$T/none: no larchfs store there" "$T/out" && ok "--json of no store: 1, named" ||
	fail "--json of no store: $(cat "$T/out")"

if [ $fails -gt 0 ]; then
	echo "stat_cli: $fails failed"
	exit 1
fi
echo "stat_cli: all passed"
