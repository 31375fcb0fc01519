"""Parameter naming logic: scheme detection and prefix rewriting. Pure functions, no I/O.

MXNet Gluon 1.x writes three kinds of keys (spec §9.1, §9.2; ``python/mxnet/gluon/block.py``):

* **prefixed** names from ``collect_params().save``: the owning block's prefix plus the
  parameter suffix, e.g. ``model0_dense0_weight``; the auto-prefix counters are per process, so a
  second instance gets ``model1_``.
* **structural** names from ``save_parameters``: attribute path joined with ``.``, e.g.
  ``dense0.weight``, ``features.3.bias``. ``load_parameters`` treats a file as structural as soon
  as *any* key contains a ``.``.
* **export** keys from ``HybridBlock.export`` / ``mx.model.save_checkpoint``: ``arg:`` or
  ``aux:`` followed by a prefixed name (``aux:`` for auxiliary states such as BatchNorm running
  statistics).
"""

# (no "from __future__ import annotations" here: NamedTuple fields with string annotations
# are compiled one by one at import, which costs every command ~20 ms of start-up)

import fnmatch
import re
from collections.abc import Sequence
from typing import Literal, NamedTuple

from paramtool.errors import RenameError

TAGS = ("arg:", "aux:")

SchemeKind = Literal["structural", "prefixed", "export", "flat", "list", "mixed", "empty"]

_AUTO_PREFIX = re.compile(r"^(?:[A-Za-z][A-Za-z_]*\d+_)+")


def split_tag(name: str) -> tuple[str, str]:
    """Split ``"arg:fc1_weight"`` into ``("arg:", "fc1_weight")``; untagged names get ``""``."""
    if name.startswith(TAGS):
        return name[:4], name[4:]
    return "", name


class Scheme(NamedTuple):
    """How a file's parameters are named.

    Attributes
    ----------
    kind:
        ``structural`` (every key dotted), ``prefixed`` (no key dotted; Gluon block prefixes),
        ``export`` (every key ``arg:``/``aux:``-tagged), ``flat`` (plain names without ``_``-joined
        prefixes), ``list`` (unnamed list), ``mixed``, or ``empty`` (no arrays).
    root_prefix:
        The prefix every (untagged) name shares, ending in ``_`` (e.g. ``model0_``), or None.
    counts:
        Number of names of each kind: ``structural``, ``plain``, ``arg``, ``aux``.
    """

    kind: SchemeKind
    root_prefix: str | None = None
    counts: dict[str, int] | None = None

    def describe(self) -> str:
        """One human-readable phrase, e.g. ``"prefixed (root prefix model0_)"``."""
        text = {
            "structural": "structural (dotted, as save_parameters writes)",
            "prefixed": "prefixed (as collect_params().save writes)",
            "export": "arg:/aux: export keys (as export / save_checkpoint write)",
            "flat": "flat names",
            "list": "unnamed list",
            "mixed": "mixed",
            "empty": "empty (no arrays)",
        }[self.kind]
        if self.kind == "mixed":
            parts = [f"{v} {k}" for k, v in (self.counts or {}).items() if v]
            text += " (" + ", ".join(parts) + ")"
        if self.root_prefix:
            text += f", root prefix {self.root_prefix}"
        return text

    def to_json(self) -> dict[str, object]:
        """The scheme as JSON-ready data (``kind``, ``root_prefix``, ``description``)."""
        return {
            "kind": self.kind,
            "root_prefix": self.root_prefix,
            "description": self.describe(),
        }


def root_prefix(names: Sequence[str]) -> str | None:
    """The longest ``_``-terminated prefix that every name shares and goes past, or None.

    ``["model0_dense0_weight", "model0_mydense_bias"]`` gives ``"model0_"``. A single name gives
    its Gluon auto-prefix (``"dense0_"`` for ``"dense0_weight"``) only when it has that
    ``<letters><digits>_`` shape, since one name alone cannot show which part is the prefix.
    """
    if not names:
        return None
    if len(names) == 1:
        m = _AUTO_PREFIX.match(names[0])
        if m and m.end() < len(names[0]):
            return m.group(0)
        return None
    first, last = min(names), max(names)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    common = first[:n]
    cut = common.rfind("_")
    if cut < 0:
        return None
    prefix = common[: cut + 1]
    # Every name must go on past the prefix (a name equal to it has no parameter part).
    if any(len(s) == len(prefix) for s in names):
        cut = prefix[:-1].rfind("_")
        prefix = prefix[: cut + 1] if cut >= 0 else ""
    return prefix or None


def detect_scheme(names: Sequence[str | None]) -> Scheme:
    """Classify a file's names (see :class:`Scheme`). ``names`` in file order, None if unnamed."""
    if not names:
        return Scheme("empty")
    if any(n is None for n in names):
        return Scheme("list")
    counts = {"structural": 0, "plain": 0, "arg": 0, "aux": 0}
    bare: list[str] = []
    for name in names:
        assert name is not None
        tag, rest = split_tag(name)
        if tag:
            counts[tag[:3]] += 1
        counts["structural" if "." in rest else "plain"] += 1
        bare.append(rest)
    tagged = counts["arg"] + counts["aux"]
    n = len(names)
    # MXNet's load_parameters takes a file as structural when any key has a dot; a top-level
    # parameter of the root block (``scale``) has no dot and no block prefix.
    if (
        0 < counts["structural"] < n
        and not tagged
        and all("_" not in b for b in bare if "." not in b)
    ):
        return Scheme("structural", None, counts)
    if 0 < tagged < n or 0 < counts["structural"] < n:
        return Scheme("mixed", root_prefix(bare) if not counts["structural"] else None, counts)
    if tagged == n:
        return Scheme("export", root_prefix(bare) if not counts["structural"] else None, counts)
    if counts["structural"] == n:
        return Scheme("structural", None, counts)
    prefix = root_prefix(bare)
    if prefix or (len(bare) > 1 and all("_" in s for s in bare)):
        return Scheme("prefixed", prefix, counts)
    return Scheme("flat", None, counts)


class RenamePlan(NamedTuple):
    """Result of :func:`plan_prefix_rename`.

    Attributes
    ----------
    keep:
        ``(index, old name, new name)`` for each record written, in file order. Unchanged names
        (kept with ``unmatched="keep"``) have ``old == new``.
    dropped:
        ``(index, name)`` of records left out (``unmatched="drop"``).
    """

    keep: list[tuple[int, str, str]]
    dropped: list[tuple[int, str]]

    @property
    def changed(self) -> int:
        """How many names change."""
        return sum(1 for _, old, new in self.keep if old != new)


def rename_one(name: str, old: str, new: str) -> str | None:
    """``name`` with prefix ``old`` replaced by ``new`` after any ``arg:``/``aux:`` tag.

    Returns None when the (untagged) name does not start with ``old``.
    """
    tag, rest = split_tag(name)
    if not rest.startswith(old):
        return None
    return tag + new + rest[len(old) :]


def plan_prefix_rename(
    names: Sequence[str | None],
    old: str,
    new: str,
    *,
    unmatched: Literal["error", "keep", "drop"] = "error",
    exclude: Sequence[str] = (),
) -> RenamePlan:
    """Plan ``old`` -> ``new`` on every name that starts with ``old`` (after an ``arg:``/``aux:``).

    Parameters
    ----------
    names:
        The file's names in order. None (an unnamed list) is refused.
    old, new:
        Prefixes; either may be empty (add or strip a prefix).
    unmatched:
        What to do with names that do not start with ``old``: ``error`` (default), ``keep`` them
        unchanged, or ``drop`` them.

    Raises
    ------
    RenameError
        The file is an unnamed list; names do not match (with ``unmatched="error"``, listing them);
        nothing matched at all; or two different names would become one (listing them).
    """
    if any(n is None for n in names):
        raise RenameError("the file is an unnamed list: it has no names to rename")
    keep: list[tuple[int, str, str]] = []
    dropped: list[tuple[int, str]] = []
    misses: list[str] = []
    matched = 0
    for i, name in enumerate(names):
        assert name is not None
        renamed = rename_one(name, old, new)
        if exclude and any(
            fnmatch.fnmatchcase(n, g) for n in (name, renamed) if n is not None for g in exclude
        ):
            dropped.append((i, name))
        elif renamed is not None:
            matched += 1
            keep.append((i, name, renamed))
        elif unmatched == "keep":
            keep.append((i, name, name))
        elif unmatched == "drop":
            dropped.append((i, name))
        else:
            misses.append(name)
    if misses:
        shown = ", ".join(misses[:5]) + (f", … ({len(misses)} in all)" if len(misses) > 5 else "")
        raise RenameError(
            f"{len(misses)} of {len(names)} names do not start with {old!r}: {shown} "
            "(use --keep-unmatched or --drop-unmatched)"
        )
    if names and matched == 0:
        if dropped and len(dropped) == len(names) and exclude:
            raise RenameError("every name is left out by --exclude: nothing to write")
        raise RenameError(f"no name starts with {old!r}")
    empty = [o for _, o, n in keep if o != n and split_tag(n)[1] == ""]
    if empty:
        raise RenameError(f"{len(empty)} names would become empty: {', '.join(empty[:5])}")
    sources: dict[str, set[str]] = {}
    for _, old_n, new_n in keep:
        sources.setdefault(new_n, set()).add(old_n)
    clashes = {k: v for k, v in sources.items() if len(v) > 1}
    if clashes:
        shown = "; ".join(f"{' and '.join(sorted(v))} -> {k}" for k, v in list(clashes.items())[:5])
        what = (
            "1 new name would come"
            if len(clashes) == 1
            else f"{len(clashes)} new names would each come"
        )
        raise RenameError(f"{what} from two names: {shown}")
    return RenamePlan(keep, dropped)


def find_prefix_change(
    names_a: Sequence[str], names_b: Sequence[str]
) -> tuple[str, str, bool] | None:
    """Find one prefix change that turns the name set of A into the name set of B.

    Returns ``(old, new, keep_unmatched)`` such that renaming ``old`` -> ``new`` in A (after any
    ``arg:``/``aux:`` tag; names of A that do not start with ``old`` kept as they are when
    ``keep_unmatched``) gives exactly B's names; the most general such change whose prefixes end
    at a ``_`` or ``.`` boundary (or are empty). None if no single prefix change explains it.
    """
    set_a, set_b = set(names_a), set(names_b)
    only_a, only_b = sorted(set_a - set_b), sorted(set_b - set_a)
    if not only_a or len(only_a) != len(only_b):
        return None
    tag_a, a0 = split_tag(only_a[0])
    # suffix lengths that leave a prefix ``old`` ending at a boundary (or empty), longest first
    suffixes = [n for n in range(len(a0), -1, -1) if n == len(a0) or a0[-n - 1] in "_."]
    sample = only_a[:16]  # every name of A-B must be renamed into B: a cheap first test
    best: tuple[str, str, bool] | None = None
    # Pair A's first unmatched name with each of B's: the change must map a0 onto one of them.
    for b in only_b:
        tag_b, b0 = split_tag(b)
        if tag_a != tag_b:
            continue
        common = _common_suffix(a0, b0)
        # Candidate (old, new) pairs share a suffix: a0 = old + s, b0 = new + s.
        for s_len in suffixes:
            if s_len > common or s_len > len(b0):
                continue
            old, new = a0[: len(a0) - s_len], b0[: len(b0) - s_len]
            if old == new or (new and new[-1] not in "_."):
                continue
            if best is not None and len(old) >= len(best[0]):
                continue
            if any(rename_one(n, old, new) not in set_b for n in sample):
                continue
            result = _check_change(names_a, set_b, old, new)
            if result is not None:
                best = (old, new, result)
    return best


def _common_suffix(a: str, b: str) -> int:
    """Length of the longest common suffix of ``a`` and ``b``."""
    n, limit = 0, min(len(a), len(b))
    while n < limit and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _check_change(names_a: Sequence[str], set_b: set[str], old: str, new: str) -> bool | None:
    """If renaming A with (old, new) gives exactly ``set_b``, say whether names were kept."""
    out = set()
    kept = False
    for name in names_a:
        renamed = rename_one(name, old, new)
        if renamed is None:
            kept = True
            renamed = name
        out.add(renamed)
    return kept if out == set_b else None
