#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""callgraph: which source file calls which, and the circles among them.

    callgraph.py [--dot] [--allow A,B] OBJDIR...

Reads the object files under each OBJDIR (a meson target's `*.p` folder,
e.g. build/kv/liblarchkv.a.p) with nm(1): a file calls another when it
uses a global symbol the other defines.  Prints one line per file with the
files it calls, then every circle (a strongly connected set of two or more
files: each reaches every other by calls).  `--allow` names a set of files
that may form a circle (they are one concern); give it once per set.
Exit status: 0 when every circle is allowed, 1 otherwise, 2 on usage
errors.  `--dot` prints the graph for graphviz instead.
"""
import os
import subprocess
import sys


def symbols(obj):
    """(defined, undefined) global symbol sets of one object file."""
    out = subprocess.run(["nm", "-g", obj], capture_output=True, text=True,
                         check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRGSVW":
            defined.add(parts[2])
    return defined, undefined


def source_name(objdir, obj):
    """'kv/flush.c' for build/kv/liblarchkv.a.p/flush.c.o."""
    top = os.path.basename(os.path.dirname(os.path.normpath(objdir)))
    return os.path.join(top, os.path.relpath(obj, objdir)[:-2])


def load(objdirs):
    files = {}
    for d in objdirs:
        for root, _, names in os.walk(d):
            for n in sorted(names):
                if n.endswith(".c.o"):
                    obj = os.path.join(root, n)
                    files[source_name(d, obj)] = symbols(obj)
    owner = {}
    for f, (defined, _) in files.items():
        for s in defined:
            owner.setdefault(s, f)
    graph = {f: sorted({owner[s] for s in und if s in owner and owner[s] != f})
             for f, (_, und) in files.items()}
    return graph


def circles(graph):
    """Tarjan's strongly connected components of two or more files."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def main(argv):
    dot, allowed, dirs = False, [], []
    it = iter(argv)
    for a in it:
        if a == "--dot":
            dot = True
        elif a == "--allow":
            allowed.append(set(next(it, "").split(",")))
        elif a.startswith("-"):
            print(__doc__, file=sys.stderr)
            return 2
        else:
            dirs.append(a)
    if not dirs:
        print(__doc__, file=sys.stderr)
        return 2
    graph = load(dirs)
    if dot:
        print("digraph calls {")
        for f in sorted(graph):
            for g in graph[f]:
                print(f'  "{f}" -> "{g}";')
        print("}")
        return 0
    for f in sorted(graph):
        print(f"{f}: {' '.join(graph[f])}")
    bad = 0
    for c in circles(graph):
        ok = any(set(c) <= a for a in allowed)
        bad += not ok
        print(f"circle of {len(c)}{' (allowed)' if ok else ''}: {' '.join(c)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
