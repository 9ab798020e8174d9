#!/usr/bin/env python3
"""Finds cycles among the modules of a Rust crate's source tree (one module per file).

An edge A -> B means a file of module A names an item of module B (`use crate::b::X`,
`crate::b::x()`, `super::x`, `use child::X`). Names imported through a facade's `pub use` resolve to
the module that defines them, so `crate::http::extract::PeerIp` counts as a use of
`http::extract::client_ip`. A child naming its parent's items is an edge like any
other; `mod` declarations are not edges. Code after `#[cfg(test)]` is ignored.

Usage: module-cycles.py <crate>/src [...]; exit status 1 and the cycles when any.
"""
import os
import re
import sys

USE_PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)
CHILD_USE = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?use\s+(?:self::)?([a-z_][a-z0-9_]*)((?:::[A-Za-z_][A-Za-z0-9_]*)*)", re.M)
PUB_USE = re.compile(r"^\s*pub(?:\([a-z]+\))?\s+use\s+(self::)?([a-z_][a-z0-9_]*)::(\{[^;]*\}|[A-Za-z_][A-Za-z0-9_]*)\s*;", re.M | re.S)


def modules(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel in (["lib"], ["main"]):
                rel = []
            elif rel[-1] == "mod":
                rel = rel[:-1]
            text = open(path, encoding="utf-8").read()
            text = text.split("#[cfg(test)]", 1)[0]
            text = re.sub(r"//[^\n]*", "", text)
            mods[tuple(rel)] = text
    return mods


def facade_names(mods):
    """module -> {name: defining child module} from `pub use child::{A, B}`."""
    out = {}
    for mod, text in mods.items():
        names = {}
        for _, child, items in PUB_USE.findall(text):
            target = mod + (child,)
            if target not in mods:
                continue
            for item in re.split(r"[,{}\s]+", items):
                item = item.split(" as ")[-1].strip()
                if item and item != "self":
                    names[item] = target
        out[mod] = names
    return out


def resolve(mods, facades, base, parts):
    """The module a path names: the longest module prefix, through facades."""
    path = list(base)
    best = None
    for i, part in enumerate(parts):
        candidate = tuple(path + [part])
        if candidate in mods:
            path.append(part)
            best = candidate
            continue
        owner = tuple(path)
        if owner in facades and part in facades[owner]:
            return facades[owner][part]
        break
    return best if best is not None else tuple(path)


def edges(mods):
    facades = facade_names(mods)
    graph = {m: set() for m in mods}
    for mod, text in mods.items():
        paths = []
        for head, prefix, group in USE_GROUP.findall(text):
            for item in re.split(r",(?![^{]*\})", group):
                item = item.strip().split(" as ")[0].strip()
                if item:
                    paths.append((head, prefix + "::" + item.split("::{")[0]))
        paths += USE_PATH.findall(text)
        # `use child::X` / `pub use child::X` (a path relative to this module).
        for child, rest in CHILD_USE.findall(text):
            if mod + (child,) in mods:
                paths.append(("self", "::" + child + rest))
        for head, rest in paths:
            parts = [p for p in rest.split("::") if p and p != "{"]
            parts = [p for p in parts if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p)]
            if head == "crate":
                base = ()
            elif head == "self":
                base = mod
            else:
                base = mod[:-1]
                while parts and parts[0] == "super":
                    base = base[:-1]
                    parts = parts[1:]
            target = resolve(mods, facades, base, parts)
            if target != mod and target in mods and target != ():
                graph[mod].add(target)
    return graph


def cycles(graph):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main():
    bad = 0
    for src in sys.argv[1:]:
        graph = edges(modules(src))
        for comp in cycles(graph):
            bad += 1
            names = ["::".join(m) for m in comp]
            print(f"{src}: modules import each other: {', '.join(names)}")
            for m in comp:
                outs = sorted("::".join(t) for t in graph[m] if t in comp)
                print(f"    {'::'.join(m)} -> {', '.join(outs)}")
    if bad:
        sys.exit(1)
    print(f"no module cycles in {', '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
