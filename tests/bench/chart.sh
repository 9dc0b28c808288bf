#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/bench/chart.sh SOURCE_DIR: fs-bench's chart, without running a
# benchmark (fs-bench --from):
#  - each results file in contrib/bench/results/ draws exactly the SVG kept
#    beside it, which the README shows: the chart says what the results say;
#  - the SVG is XML with one bar per (workload, peer) whose ratio exists,
#    each titled with its ratio: larchfs/peer for rates, peer/larchfs for
#    latencies, of the medians;
#  - a workload without larchfs's figure has no bars, a peer without one
#    has none for it; --from without --chart is a usage error, a file that
#    is not results is an error naming it.
set -u
src=$(cd "$1" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || { echo "skip: needs python3"; exit 77; }
bench=$src/contrib/bench/fs-bench
T=$(mktemp -d "${TMPDIR:-/tmp}/larchfs-chart.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# ---- the kept charts ----
n=0
for results in "$src"/contrib/bench/results/*.json; do
	[ -e "$results" ] || continue
	svg=${results%.json}.svg
	n=$((n + 1))
	name=${results#"$src"/}
	if ! "$PY" "$bench" --from "$results" --chart "$T/out.svg" 2>"$T/err"; then
		fail "$name: $(cat "$T/err")"
	elif cmp -s "$T/out.svg" "$svg"; then
		ok "$name draws ${svg#"$src"/}"
	else
		fail "$name does not draw ${svg#"$src"/} (redraw it with fs-bench --from)"
	fi
done
[ $n -gt 0 ] || fail "no results file in contrib/bench/results"
grep -qF "](contrib/bench/results/" "$src/README.md" && ok "the README shows a kept chart" ||
	fail "the README shows no chart of contrib/bench/results"

# ---- a results file made here ----
cat >"$T/r.json" <<'JSON'
{"header": {"date": "2026-01-01 00:00 UTC", "cpu": "test", "nproc": 1, "kernel": "0"},
 "config": {"scale": 1, "runs": 1},
 "rows": [
  {"key": "a", "group": "g", "label": "rate & <more>", "unit": "ops/s", "higher_better": true},
  {"key": "b", "group": "g", "label": "  p99 latency", "unit": "us", "higher_better": false},
  {"key": "c", "group": "g", "label": "no larchfs", "unit": "ops/s", "higher_better": true}],
 "medians": {"larchfs": {"a": 300, "b": 100},
             "fuse2fs": {"a": 100, "b": 200, "c": 5},
             "host": {"a": 600}}}
JSON
if "$PY" "$bench" --from "$T/r.json" --chart "$T/r.svg" 2>"$T/err"; then
	"$PY" - "$T/r.svg" <<-'PY' && ok "bars, ratios and escapes" || fail "the chart of r.json"
	import sys, xml.etree.ElementTree as ET
	ns = "{http://www.w3.org/2000/svg}"
	root = ET.parse(sys.argv[1]).getroot()
	bars = [r.find(ns + "title").text for r in root.iter(ns + "rect")
	        if r.find(ns + "title") is not None]
	want = ["fuse2fs: 3.00x", "host: 0.50x", "fuse2fs: 2.00x"]
	texts = [t.text for t in root.iter(ns + "text")]
	if bars != want:
	    sys.exit(f"bars {bars}, want {want}")
	if "rate & <more>" not in texts or "p99 latency" not in texts or "no larchfs" in texts:
	    sys.exit(f"labels: {texts}")
	PY
else
	fail "fs-bench --from r.json: $(cat "$T/err")"
fi
"$PY" "$bench" --from "$T/r.json" >"$T/out" 2>&1
[ $? = 2 ] && grep -q -- "--from draws a chart: give --chart FILE too" "$T/out" &&
	ok "--from without --chart: usage error" || fail "--from without --chart: $(cat "$T/out")"
echo '{"rows": 1}' >"$T/bad.json"
"$PY" "$bench" --from "$T/bad.json" --chart "$T/bad.svg" >"$T/out" 2>&1
[ $? = 1 ] && grep -q "$T/bad.json: cannot draw a chart" "$T/out" &&
	ok "a file that is not results: named" || fail "bad results: $(cat "$T/out")"

[ $fails -eq 0 ] || { echo "chart: $fails failed"; exit 1; }
echo "chart: all passed"
