#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the damage sweep (damage_sweep.sh) reads through a mounted larchfs.

  sweep_tree.py record MNT MANIFEST REF
      Reads every entry under MNT (type, inode, size, a digest of the
      contents, link target, extended attributes) into REF (JSON), after
      checking that MNT holds exactly the paths, types, sizes and link
      targets that MANIFEST (fsck_damage's listing of the same store) does.
      Exit 0, or 1 with what differs.

  sweep_tree.py check MNT REF REPORT [exact]
      Reads every entry of REF under MNT and sorts each into: exact;
      moved (fsck -y, whose output is REPORT, relinked it or a directory
      above it into /lost+found, and it is exact there); EIO (an
      attribute, a link or the contents cannot be read: EIO, and no other
      bytes); lost (anything else, but REPORT names its path, another
      path of the same inode, or a directory above it, in a 'File PATH:'
      or 'Entry PATH' line); or bad (other bytes, gone, another error,
      all without fsck naming it).  Then walks the whole tree under MNT
      (lstat, readlink, every extended attribute, every file read to its
      end), where only EIO may fail.  With 'exact' (fsck found nothing),
      everything must be exact and nothing EIO.  Prints a line for each
      bad entry, a few of each other kind that is not exact, and a
      summary line; exit 1 when anything is bad.
"""
import errno
import hashlib
import json
import os
import re
import stat
import sys

CHUNK = 1 << 20


def kind(mode):
    """The entry's type as the manifest spells it (f, d, l), or '?'."""
    if stat.S_ISREG(mode):
        return "f"
    if stat.S_ISDIR(mode):
        return "d"
    if stat.S_ISLNK(mode):
        return "l"
    return "?"


def contents_digest(path):
    """(size, sha256 hex) of the file's bytes, read to the end."""
    h = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        while True:
            b = os.read(fd, CHUNK)
            if not b:
                return size, h.hexdigest()
            size += len(b)
            h.update(b)
    finally:
        os.close(fd)


def xattrs(path):
    """Every extended attribute: name -> value in hex."""
    return {n: os.getxattr(path, n, follow_symlinks=False).hex()
            for n in sorted(os.listxattr(path, follow_symlinks=False))}


def describe(path):
    """What a reader sees at path, in the form REF keeps."""
    st = os.lstat(path)
    e = {"type": kind(st.st_mode), "ino": st.st_ino, "xattrs": xattrs(path)}
    if e["type"] == "f":
        e["size"], e["sha256"] = contents_digest(path)
    elif e["type"] == "l":
        e["target"] = os.readlink(path)
    return e


def tree_paths(mnt):
    """Every path under mnt ('/a/b'), directories before what they hold."""
    out = []
    for top, dirs, files in os.walk(mnt):
        rel = top[len(mnt):]
        for n in sorted(dirs) + sorted(files):
            out.append(rel + "/" + n)
    return out


# ---- record ----

def manifest_entries(manifest):
    """path -> (type, size or link target) from fsck_damage's manifest."""
    out = {}
    with open(manifest) as f:
        for line in f:
            w = line.split()
            if w[0] == "f":
                out[w[-1]] = ("f", int(w[1]))
            elif w[0] == "l":
                out[w[-1]] = ("l", w[1])
            else:
                out[w[-1]] = ("d", None)
    return out


def record(mnt, manifest, ref):
    want = manifest_entries(manifest)
    entries = {p: describe(mnt + p) for p in tree_paths(mnt)}
    seen = {p: (e["type"], e.get("size", e.get("target"))) for p, e in entries.items()}
    if seen != want:
        for p in sorted(set(seen) | set(want)):
            if seen.get(p) != want.get(p):
                print(f"{p}: the mount has {seen.get(p)}, the manifest {want.get(p)}")
        return 1
    with open(ref, "w") as f:
        json.dump(entries, f)
    print(f"recorded {len(entries)} entries")
    return 0


# ---- check ----

def named_paths(text, ref):
    """The paths (of REF) fsck names as losing something: 'File PATH: ...'
    (data or an xattr lost) and 'Entry PATH ...' (an entry removed or
    mended).  fsck spells a directory whose name it cannot find '#INO',
    and a path that the root does not reach '?/...': such a path is taken
    from its last '#INO' on, with that directory's path in REF."""
    dirs = {e["ino"]: p for p, e in ref.items() if e["type"] == "d"}
    out = set()
    for p in re.findall(r"^(?:File|Entry|Directory) (\??/[^\s:]*)", text, re.M):
        parts = p.split("/")
        at = [i for i, n in enumerate(parts) if n[1:].isdigit() and n[0] == "#" and
              int(n[1:]) in dirs]
        if at:
            out.add("/".join([dirs[int(parts[at[-1]][1:])]] + parts[at[-1] + 1:]))
        elif p[0] == "/":
            out.add(p)
    return out


def moves(text):
    """inode -> the path fsck relinked it at ('... is in no directory;
    linking it into /lost+found as '#N'', '... moving directory N into
    /lost+found as ...')."""
    out = {}
    for ino, where, name in re.findall(
            r"(?:Inode|Directory|moving directory) (\d+) .*?into (/\S*) as '([^']*)'", text):
        out[int(ino)] = where.rstrip("/") + "/" + name
    return out


def names_inode(text, ino):
    """Whether fsck's output names inode ino (by number, not by a path)."""
    return re.search(rf"\b[Ii]node {ino}\b", text) is not None


def ancestors(path):
    """path, then every directory above it but the root."""
    while path:
        yield path
        path = path.rsplit("/", 1)[0]


def excused(path, ref, named):
    """Whether fsck named this entry: its path, a directory above it, or
    another path of the same inode."""
    if any(p in named for p in ancestors(path)):
        return True
    return ref[path]["ino"] in {ref[n]["ino"] for n in named if n in ref}


def moved_to(path, ref, moved):
    """Where the entry is now if fsck relinked it or a directory above it."""
    for p in ancestors(path):
        if ref[p]["ino"] in moved:
            return moved[ref[p]["ino"]] + path[len(p):]
    return None


def compare(path, want):
    """None when path reads back as want; else ('eio' | 'other', what)."""
    try:
        got = describe(path)
    except OSError as e:
        if e.errno == errno.EIO:
            return "eio", f"EIO ({e.strerror})"
        if e.errno == errno.ENOENT:
            return "other", "gone"
        return "other", f"{errno.errorcode.get(e.errno, e.errno)} ({e.strerror})"
    for field in ("type", "size", "sha256", "target", "xattrs"):
        if got.get(field) != want.get(field):
            return "other", {"sha256": "other bytes"}.get(field, f"another {field}")
    return None


def walk_all(mnt):
    """Touches every inode of the tree; returns (entries, EIO paths,
    other failures)."""
    eio, bad = [], []

    def failed(e, where):
        (eio if e.errno == errno.EIO else bad).append(f"{where}: {e.strerror}")

    n = 0
    for top, dirs, files in os.walk(mnt, onerror=lambda e: failed(e, e.filename)):
        for name in dirs + files:
            n += 1
            try:
                describe(os.path.join(top, name))
            except OSError as e:
                failed(e, os.path.join(top, name)[len(mnt):])
    return n, eio, bad


class Report:
    """fsck -y's output, and what it says of each entry of REF."""

    def __init__(self, ref, text, exact):
        self.ref, self.text, self.exact = ref, text, exact
        self.named, self.moved = named_paths(text, ref), moves(text)

    def verdict(self, mnt, path):
        """(verdict, what): exact, moved (to /lost+found, exact there),
        eio, lost (named by fsck) or bad."""
        want = self.ref[path]
        r = compare(mnt + path, want)
        alt = moved_to(path, self.ref, self.moved) if r else None
        if alt:
            r = compare(mnt + alt, want)
            if r is None:
                return "moved", alt
            r = (r[0], f"moved to {alt} by fsck, there: {r[1]}")
        if r is None:
            return "exact", ""
        if self.exact:
            return "bad", r[1] + " (and fsck -n saw nothing)"
        if r[0] == "eio":
            return r
        if excused(path, self.ref, self.named):
            return "lost", r[1]
        if names_inode(self.text, want["ino"]):
            return "bad", f"{r[1]} (fsck -y names its inode {want['ino']}, not a path)"
        return "bad", r[1]


SHOWN = 5     # lines shown of each verdict but bad


def check(mnt, ref_file, report, exact):
    with open(ref_file) as f:
        ref = json.load(f)
    with open(report, errors="replace") as f:
        rep = Report(ref, f.read(), exact)
    count = dict.fromkeys(("exact", "moved", "lost", "eio", "bad"), 0)
    label = {"moved": "moved", "lost": "lost (named by fsck)", "eio": "EIO", "bad": "BAD"}
    for path in sorted(ref):
        v, what = rep.verdict(mnt, path)
        count[v] += 1
        if v == "bad" or (v != "exact" and count[v] <= SHOWN):
            print(f"  {label[v]} {path}: {what}")
    n, eio, bad = walk_all(mnt)
    if exact:
        bad, eio = bad + eio, []
    for line in eio[:SHOWN]:
        print(f"  walk: EIO {line}")
    for line in bad:
        print(f"  walk: BAD {line}")
    print(f"{len(ref)} entries: {count['exact']} exact, {count['moved']} moved to /lost+found "
          f"by fsck, {count['lost']} lost (named by fsck), {count['eio']} EIO, {count['bad']} "
          f"bad; walk of {n} entries: {len(eio)} EIO, {len(bad)} failed")
    return 1 if count["bad"] or bad else 0


def main(argv):
    if len(argv) == 5 and argv[1] == "record":
        return record(argv[2], argv[3], argv[4])
    if len(argv) in (5, 6) and argv[1] == "check" and argv[5:] in ([], ["exact"]):
        return check(argv[2], argv[3], argv[4], argv[5:] == ["exact"])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
