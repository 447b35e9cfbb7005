#!/usr/bin/env python3
"""Checks that the code keeps its layers (docs/architecture.md, "Who includes whom").

Usage: scripts/check-layering.py [BUILD_DIR]   (default: build; configure it first, e.g.
`cmake --preset release`: CMake writes BUILD_DIR/layering.txt, the link lines of every target)

Fails (exit 1) when
- the table in docs/architecture.md and the link lines of the src/ libraries in CMakeLists.txt
  name different dependencies, or a row depends on a folder not above it;
- a file of src/<folder> includes a header of a folder its library does not link, or a header of
  src/<folder> includes one its library links only PRIVATE;
- a library links a sipws library that none of its files includes (or PUBLIC one that none of
  its headers includes);
- a file of another target (tests, tools, bench, src/app/main.cpp) includes a header of a folder
  whose library is not among what that target links (directly or through PUBLIC links).
Only `#include "..."` lines count; a header is resolved as the compiler does (next to the file,
then under src/).
"""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DOC = os.path.join(ROOT, "docs", "architecture.md")
CHECKED_DIRS = ["src", "tests/unit", "tests/fuzz", "tools", "bench"]
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def read_targets(build_dir):
    path = os.path.join(build_dir, "layering.txt")
    if not os.path.exists(path):
        sys.exit(f"check-layering: {path} is missing: configure first (cmake --preset release)")
    targets = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            name, folder, srcs, public, private = line.split("|")
            split = lambda s: [x for x in s.split(";") if x]
            targets[name] = {"folder": folder, "sources": split(srcs),
                             "public": split(public), "private": split(private)}
    return targets


def read_doc_table():
    """Rows of the fenced block after '<!-- layering table -->': folder, library, deps..."""
    rows = []
    with open(DOC) as f:
        lines = f.read().splitlines()
    try:
        start = lines.index("<!-- layering table -->")
    except ValueError:
        sys.exit(f"check-layering: no '<!-- layering table -->' in {DOC}")
    i = start + 2  # skip the marker and the opening fence
    while not lines[i].startswith("```"):
        words = lines[i].split()
        if words and words[0] != "folder":  # the heading line
            deps = [] if words[2:] == ["-"] else words[2:]
            rows.append((words[0], words[1], deps, i + 1))
        i += 1
    return rows


def resolve(including, name):
    """Path (relative to ROOT) of the header `#include "name"` finds, or None."""
    for base in (os.path.dirname(including), "src"):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(os.path.join(ROOT, p)):
            return p
    return None


def includes(path):
    """(line number, included name, resolved path or None) for each #include "..." of path."""
    out = []
    with open(os.path.join(ROOT, path), errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE_RE.match(line)
            if m:
                out.append((n, m.group(1), resolve(path, m.group(1))))
    return out


def src_folder(path):
    """'sip/txn' for src/sip/txn/x.hpp; None outside src/."""
    return os.path.dirname(path)[4:] if path.startswith("src/") else None


def main():
    build_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
    targets = read_targets(build_dir)
    errors = []
    libs = {t["folder"]: name for name, t in targets.items() if t["folder"]}
    folder_of = {name: folder for folder, name in libs.items()}

    # 1. The table in the doc is the link lines, and every row depends only on rows above it.
    seen = set()
    rows = read_doc_table()
    for folder, lib, deps, line in rows:
        where = f"docs/architecture.md:{line}"
        if libs.get(folder) != lib:
            errors.append(f"{where}: {folder} is built as {libs.get(folder)} in CMakeLists.txt, "
                          f"not {lib}")
            continue
        linked = {folder_of[d] for d in targets[lib]["public"] + targets[lib]["private"]}
        if set(deps) != linked:
            errors.append(f"{where}: the row of {folder} says {' '.join(sorted(deps)) or '-'}, "
                          f"CMakeLists.txt links {lib} to {' '.join(sorted(linked)) or '-'}")
        for d in deps:
            if d not in seen:
                errors.append(f"{where}: {folder} depends on {d}, which is not above it")
        seen.add(folder)
    for folder in libs:
        if folder not in seen and folder not in [r[0] for r in rows]:
            errors.append(f"docs/architecture.md: no row for {folder} ({libs[folder]})")

    # 2. Who owns each file: the library of its src/ folder, else the targets with a source in
    #    its directory (for headers) or that list it (for sources).
    owners_by_dir = {}
    owner_of_source = {}
    for name, t in targets.items():
        if t["folder"]:
            continue
        for s in t["sources"]:
            owner_of_source.setdefault(s, set()).add(name)
            owners_by_dir.setdefault(os.path.dirname(s), set()).add(name)

    # A header that is no target's source belongs to the targets whose files include it (a
    # fuzz target's helper header is not every fuzz target's), followed through headers that
    # include headers; only a header nobody includes falls back to its directory's targets.
    owner_of_header = {}
    frontier = {s: set(owners) for s, owners in owner_of_source.items()}
    while frontier:
        found = {}
        for path, owners in frontier.items():
            for _, _, target in includes(path):
                if target is None or src_folder(target) is not None or target in owner_of_source:
                    continue
                known = owner_of_header.setdefault(target, set())
                new_owners = owners - known
                if new_owners:
                    known |= new_owners
                    found.setdefault(target, set()).update(new_owners)
        frontier = found

    def closure(name):
        """Folders a target may include: its own, what it links, and what those export."""
        t = targets[name]
        todo = list(t["public"] + t["private"])
        seen_libs = set()
        while todo:
            lib = todo.pop()
            if lib not in seen_libs:
                seen_libs.add(lib)
                todo += targets[lib]["public"]
        return {folder_of[lib] for lib in seen_libs} | ({t["folder"]} if t["folder"] else set())

    files = []
    for d in CHECKED_DIRS:
        for dirpath, _, names in os.walk(os.path.join(ROOT, d)):
            for n in sorted(names):
                if n.endswith((".cpp", ".hpp")):
                    files.append(os.path.relpath(os.path.join(dirpath, n), ROOT))

    used = {name: {"public": set(), "any": set()} for name in libs.values()}
    unchecked = []
    for path in sorted(files):
        folder = src_folder(path)
        lib = libs.get(folder) if folder is not None and path not in owner_of_source else None
        if folder is not None and lib is None and path not in owner_of_source:
            errors.append(f"{path}: src/{folder} is no library's folder in CMakeLists.txt")
            continue
        if lib is None:
            owners = (owner_of_source.get(path) or owner_of_header.get(path)
                      or owners_by_dir.get(os.path.dirname(path)))
            if not owners:
                unchecked.append(path)
                continue
        for n, name, target in includes(path):
            if target is None:
                errors.append(f"{path}:{n}: #include \"{name}\" finds no file")
                continue
            inc_folder = src_folder(target)
            if inc_folder is None:
                continue  # a helper next to the file (tests, tools)
            inc_lib = libs.get(inc_folder)
            if inc_lib is None:
                errors.append(f"{path}:{n}: includes {target}, of no library")
                continue
            if lib is not None:  # a file of a src/ library: direct links only
                if inc_lib == lib:
                    continue
                t = targets[lib]
                header = path.endswith(".hpp")
                if inc_lib not in t["public"] + t["private"]:
                    errors.append(f"{path}:{n}: {folder} includes {inc_folder} ({name}), but "
                                  f"{lib} does not link {inc_lib} (docs/architecture.md, "
                                  f"\"Who includes whom\")")
                elif header and inc_lib not in t["public"]:
                    errors.append(f"{path}:{n}: a header of {folder} includes {inc_folder} "
                                  f"({name}), but {lib} links {inc_lib} PRIVATE")
                used[lib]["any"].add(inc_lib)
                if header:
                    used[lib]["public"].add(inc_lib)
            else:
                for owner in sorted(owners):
                    if inc_folder not in closure(owner):
                        errors.append(f"{path}:{n}: includes {inc_folder} ({name}), but {owner} "
                                      f"does not link {inc_lib} (nor links what exports it)")

    # 3. A library links what it uses: nothing more, and PUBLIC only what its headers include.
    for lib, u in used.items():
        t = targets[lib]
        for dep in t["public"] + t["private"]:
            if dep not in u["any"]:
                errors.append(f"CMakeLists.txt: {lib} links {dep}, but no file of "
                              f"src/{t['folder']} includes src/{folder_of[dep]}")
            elif dep in t["public"] and dep not in u["public"]:
                errors.append(f"CMakeLists.txt: {lib} links {dep} PUBLIC, but only .cpp files "
                              f"of src/{t['folder']} include src/{folder_of[dep]} (PRIVATE)")

    for e in errors:
        print(e)
    note = f", {len(unchecked)} files of targets not configured in {build_dir}" if unchecked else ""
    print(f"check-layering: {len(files) - len(unchecked)} files checked{note}: "
          f"{'FAILED, ' + str(len(errors)) + ' problems' if errors else 'ok'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
