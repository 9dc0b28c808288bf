#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""promcheck.py [--prefix P] [FILE]: a strict reader of Prometheus's text
exposition format (version 0.0.4), for larchfs-stat --prometheus where
promtool is not installed (and beside it where it is).

It refuses what the format forbids (a malformed name, label or value, a
TYPE or HELP after its family's samples or twice, a family's samples
apart, a repeated series, no newline at the end) and what promtool's lint
would: a family without HELP or TYPE, a counter whose name does not end
in _total or a gauge's that does, units other than base units in names.
With --prefix, every name must start with it.  Exit 0, or 1 with each
problem on stderr as FILE:LINE: what.
"""
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
NOT_BASE_UNITS = re.compile(r"_(milli|micro|nano)?(ms|us|ns|kb|mb|gb|kib|mib|gib|"
                            r"milliseconds|microseconds|nanoseconds|minutes|hours|"
                            r"kilobytes|megabytes|gigabytes|percent)(_|$)")


class Bad(Exception):
    pass


def parse_labels(s, i):
    """The labels of s from the '{' at i: (list of (name, value), index after '}')."""
    labels = []
    i += 1
    while True:
        while i < len(s) and s[i] in " \t":
            i += 1
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = LABEL_NAME.match(s, i)
        if not m:
            raise Bad(f"a label name expected at column {i + 1}")
        name, i = m.group(0), m.end()
        while i < len(s) and s[i] in " \t":
            i += 1
        if i >= len(s) or s[i] != "=":
            raise Bad(f"label {name}: '=' expected")
        i += 1
        while i < len(s) and s[i] in " \t":
            i += 1
        if i >= len(s) or s[i] != '"':
            raise Bad(f"label {name}: a quoted value expected")
        i += 1
        value = []
        while True:
            if i >= len(s):
                raise Bad(f"label {name}: the value does not end")
            c = s[i]
            if c == "\\":
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    raise Bad(f"label {name}: bad escape")
                value.append("\n" if s[i + 1] == "n" else s[i + 1])
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                value.append(c)
                i += 1
        labels.append((name, "".join(value)))
        while i < len(s) and s[i] in " \t":
            i += 1
        if i < len(s) and s[i] == ",":
            i += 1
        elif i >= len(s) or s[i] != "}":
            raise Bad(f"label {name}: ',' or '}}' expected")


def parse_value(v):
    if v in ("NaN", "+Inf", "-Inf"):
        return float(v.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", v):
        raise Bad(f"not a value: {v!r}")
    return float(v)


def check(text, prefix):
    """The problems of text: a list of (line, what)."""
    problems = []
    families = {}          # name -> {"help", "type", "samples", "closed"}
    current = None
    series = set()

    def family(name):
        return families.setdefault(name, {"help": None, "type": None, "samples": 0,
                                          "closed": False})

    if text and not text.endswith("\n"):
        problems.append((text.count("\n") + 1, "no newline at the end"))
    for no, line in enumerate(text.split("\n")[:-1] if text.endswith("\n")
                              else text.split("\n"), 1):
        try:
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                    if len(parts) < 3 or not NAME.fullmatch(parts[2]):
                        raise Bad(f"{parts[1]} without a valid name")
                    f = family(parts[2])
                    if f["samples"]:
                        raise Bad(f"{parts[1]} {parts[2]} after its samples")
                    key = parts[1].lower()
                    if f[key] is not None:
                        raise Bad(f"a second {parts[1]} for {parts[2]}")
                    f[key] = parts[3] if len(parts) > 3 else ""
                    if key == "type" and f["type"] not in TYPES:
                        raise Bad(f"unknown type {f['type']!r}")
                    if current and current != parts[2]:
                        families[current]["closed"] = True
                    current = parts[2]
                continue
            m = NAME.match(line)
            if not m:
                raise Bad("a sample must start with a metric name")
            name, i = m.group(0), m.end()
            labels = []
            if i < len(line) and line[i] == "{":
                labels, i = parse_labels(line, i)
            rest = line[i:].split()
            if not rest or len(rest) > 2:
                raise Bad("a value (and at most a timestamp) expected after the name")
            value = parse_value(rest[0])
            if len(rest) == 2 and not re.fullmatch(r"-?\d+", rest[1]):
                raise Bad(f"not a timestamp: {rest[1]!r}")
            names = [n for n, _ in labels]
            if len(set(names)) != len(names):
                raise Bad(f"{name}: a label twice")
            key = (name, tuple(sorted(labels)))
            if key in series:
                raise Bad(f"{name}{dict(labels)}: the same series twice")
            series.add(key)
            f = family(name)
            if f["closed"] or (current and current != name and f["samples"]):
                raise Bad(f"{name}: its samples are not together")
            if current and current != name:
                families[current]["closed"] = True
            current = name
            f["samples"] += 1
            if f["type"] == "counter" and (value < 0 or math.isnan(value)):
                raise Bad(f"{name}: a counter below 0")
        except Bad as e:
            problems.append((no, str(e)))
    for name, f in families.items():
        if f["help"] is None:
            problems.append((0, f"{name}: no HELP"))
        if f["type"] is None:
            problems.append((0, f"{name}: no TYPE"))
        if f["type"] == "counter" and not name.endswith("_total"):
            problems.append((0, f"{name}: a counter whose name does not end in _total"))
        if f["type"] not in (None, "counter") and name.endswith("_total"):
            problems.append((0, f"{name}: a {f['type']} whose name ends in _total"))
        if NOT_BASE_UNITS.search(name):
            problems.append((0, f"{name}: not in base units (seconds, bytes)"))
        if prefix and not name.startswith(prefix):
            problems.append((0, f"{name}: does not start with {prefix}"))
        if not f["samples"]:
            problems.append((0, f"{name}: HELP or TYPE without samples"))
    return problems


def main():
    args = sys.argv[1:]
    prefix = None
    if args[:1] == ["--prefix"]:
        prefix, args = args[1], args[2:]
    path = args[0] if args else "-"
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    problems = check(text, prefix)
    for no, what in problems:
        print(f"{path}:{no}: {what}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
