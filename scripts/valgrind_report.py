#!/usr/bin/env python3
"""Summarise valgrind memcheck logs (scripts/memcheck); exit 1 on a finding.

A finding is any memory error valgrind reported (invalid read, write or
free, use of uninitialised memory, a syscall given unaddressable or
uninitialised memory, ...) that the suppressions file did not silence, or a
block *definitely* lost that zloop's code allocated: a zloop frame in the
allocation stack below the first frame of CPython's eval loop (CPython
itself frees little at exit, and everything allocated by Python code run
from a zloop callback has zloop frames further up; only leaks of ours are
findings).

    scripts/valgrind_report.py LOG...
"""

import os
import re
import sys

ERROR = re.compile(
    r"^(Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|"
    r"Mismatched free|Source and destination overlap|Argument .* of function .* has a fishy|"
    r"Process terminating)"
)
LEAK = re.compile(r"definitely lost in loss record")
OURS = re.compile(r"_zloop::|PyInit__zloop")
EVAL = re.compile(r"_PyEval_EvalFrameDefault")


def allocated_by_zloop(block):
    for line in block[1:]:
        if EVAL.search(line):
            return False
        if OURS.search(line):
            return True
    return False


def records(path):
    """Valgrind's reports in one log: blocks of '==pid== ' lines split by blank ones."""
    block = []
    with open(path, errors="replace") as log:
        for line in log:
            text = re.sub(r"^==\d+== ?", "", line.rstrip("\n"))
            if text.strip():
                block.append(text)
            elif block:
                yield block
                block = []
    if block:
        yield block


def kind_of(block):
    """An error's kind: its first line (sizes dropped) and the first zloop
    frame anywhere in its stacks (where it happened, or where the memory
    was allocated or freed)."""
    head = re.sub(r"of size \d+", "", block[0])
    ours = next((re.sub(r"^\s*(at|by) 0x[0-9A-F]+: ", "", line) for line in block if OURS.search(line)), "no zloop frame")
    return f"{head.strip()} [{ours.split(' (in ')[0]}]"


def main(paths):
    errors, leaks, per_log = {}, {}, {}
    for path in paths:
        found = 0
        for block in records(path):
            head = block[0]
            if ERROR.match(head):
                errors.setdefault(kind_of(block), [0, path, block])[0] += 1
                found += 1
            elif LEAK.search(head) and allocated_by_zloop(block):
                leaks.setdefault(kind_of(block), [0, path, block])[0] += 1
                found += 1
        per_log[path] = found
    print(f"valgrind: {len(paths)} process logs, {sum(e[0] for e in errors.values())} memory errors "
          f"({len(errors)} kinds), {sum(e[0] for e in leaks.values())} definite leaks from zloop "
          f"({len(leaks)} kinds)")
    for path, found in per_log.items():
        print(f"  {os.path.basename(path)}: {found}")
    for what, found in (("memory error", errors), ("definite leak from zloop", leaks)):
        for kind, (count, path, block) in found.items():
            print(f"--- {what} [{count}x] {kind}\n    first seen in {path}:")
            print("\n".join(block[:40]))
    return 1 if errors or leaks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
