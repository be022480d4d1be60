#!/usr/bin/env python3
"""Renders docs/PROTOCOL.md from a template, filling {{hex:PATH[:SPLIT]}} and {{json:PATH}}
from docs/test-vectors.json, so the hex blocks are never typed by hand.
Usage: scripts/render-protocol.py TEMPLATE > docs/PROTOCOL.md"""
import json
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
VECTORS = json.load(open(os.path.join(ROOT, "docs", "test-vectors.json"), encoding="utf-8"))


def lookup(path):
    value = VECTORS
    for part in path.split("."):
        value = value[part]
    return value


def hex_block(path, split):
    data = lookup(path)
    if not split:
        sizes = []
    else:
        sizes = [s for s in split.split(",")]
    lines, at = [], 0
    for size in sizes:
        if size == "*":
            break
        lines.append(data[at:at + 2 * int(size)])
        at += 2 * int(size)
    rest = data[at:]
    while rest:
        lines.append(rest[:64])
        rest = rest[64:]
    return "\n".join(line for line in lines if line) or "(empty)"


def render(text):
    text = re.sub(r"\{\{hex:([\w.]+)(?::([\d,*]+))?\}\}", lambda m: hex_block(m.group(1), m.group(2)), text)
    return re.sub(r"\{\{json:([\w.]+)\}\}",
                  lambda m: "\n".join(json.dumps(v["value"], separators=(",", ":"), ensure_ascii=False)
                                      for v in lookup(m.group(1)).values()), text)


sys.stdout.write(render(open(sys.argv[1], encoding="utf-8").read()))
