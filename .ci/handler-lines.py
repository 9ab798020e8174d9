#!/usr/bin/env python3
"""Handlers are adapters (CONVENTIONS §1): every function in the server's endpoint
files is at most LIMIT lines, from its `fn` line to its closing brace (doc comment
and attributes not counted).

Usage: handler-lines.py [--list] <dir>...; exit status 1 and the long ones when any.
With --list, prints every function's length.
"""
import os
import re
import sys

LIMIT = 30
FN = re.compile(r"^(\s*)(pub(\([a-z]+\))?\s+)?(async\s+)?fn\s+([a-z_0-9]+)")


def functions(path):
    lines = open(path, encoding="utf-8").read().split("#[cfg(test)]", 1)[0].splitlines()
    i = 0
    while i < len(lines):
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        start, depth, opened = i, 0, False
        j = i
        while j < len(lines):
            depth += lines[j].count("{") - lines[j].count("}")
            opened = opened or "{" in lines[j]
            if opened and depth <= 0:
                break
            if not opened and lines[j].rstrip().endswith(";"):
                break
            j += 1
        yield m.group(5), start + 1, j - start + 1
        i = j + 1


def main():
    args = sys.argv[1:]
    listing = "--list" in args
    args = [a for a in args if a != "--list"]
    long = []
    for top in args:
        for root, _, files in os.walk(top):
            for f in sorted(files):
                if not f.endswith(".rs"):
                    continue
                path = os.path.join(root, f)
                for name, line, count in functions(path):
                    if listing:
                        print(f"{count:4} {path}:{line} {name}")
                    if count > LIMIT:
                        long.append(f"{path}:{line}: {name} is {count} lines (at most {LIMIT})")
    if long and not listing:
        print("handlers over the limit (move the logic into app/ or core):")
        print("\n".join(long))
        sys.exit(1)
    if not listing:
        print(f"every handler in {', '.join(args)} is at most {LIMIT} lines")


if __name__ == "__main__":
    main()
