"""Which registered reader a file is for, told from its content: every entry's `mismatch(path)` is asked
(None: mine, else why not) and exactly one must claim the file; shared by the snapshot formats and the
halo-catalog kinds (as yt's `_is_valid` and pynbody's `_can_load` are)."""
from __future__ import annotations

from pathlib import Path

from mpipaint.errors import InputError


def the_one_recognising(path: Path, entries, label, thing: str, sort: str):
    """The one of `entries` whose `mismatch` accepts `path`; none or several is an InputError naming the
    path and, per entry tried (`label(entry)`), why it refused: "not a {thing} of any {sort} mpipaint reads"."""
    refusals = {entry: entry.mismatch(path) for entry in entries}
    matching = [entry for entry, why in refusals.items() if why is None]
    if len(matching) == 1:
        return matching[0]
    if matching:
        raise InputError(f"{path}: recognised as {len(matching)} {thing} {sort}s "
                         f"({', '.join(label(entry) for entry in matching)}); mpipaint cannot tell which it is")
    tried = "; ".join(f"{label(entry)}: {why}" for entry, why in refusals.items())
    raise InputError(f"{path}: not a {thing} of any {sort} mpipaint reads (tried {tried})")
