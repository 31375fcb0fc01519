"""Matching a file's keys to a model's parameters, and planning conversions between schemes.

Pure logic over a :class:`~paramtool.backends.Listing` and a :class:`~paramtool.model.ModelInfo`:
no I/O, no MXNet.

How file keys are matched to model parameters (never by guessing from name strings alone):

* ``arg:``/``aux:`` tags are removed first (and checked against the parameter's ``aux`` flag).
* Dotted (structural) keys are looked up among each parameter's structural aliases; when most do
  not match, a leading namespace that the whole file carries (``features.``, from a whole-model
  file loaded into a sub-block) is looked for and removed.
* Prefixed keys are matched family by family. The model's block tree gives every parameter a
  *family* (the block prefix its name is built on, e.g. ``alexnet0_``) and a name relative to it
  (``conv0_weight``). For each family, largest first, paramtool finds the one file prefix ``p``
  under which the most of the family's relative names exist with compatible shapes (``p`` may
  differ from the family: prefix drift such as ``model1_`` vs ``model0_``, or a replaced output
  block with its own ``dense3_``). Keys matched once are not matched again.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from paramtool.backends import Entry, Listing
from paramtool.model import ModelInfo, ModelParam
from paramtool.names import split_tag


def shapes_compatible(file_shape: tuple[int, ...], expected: tuple[int, ...] | None) -> bool:
    """True when ``expected`` is unknown, or has the same ndim and every known (non-0) dim equal.

    MXNet's rule in ``Parameter._load_init`` (``python/mxnet/gluon/parameter.py``): a 0 dim is
    unknown (deferred initialisation) in legacy mode.
    """
    if expected is None:
        return True
    if len(file_shape) != len(expected):
        return False
    return all(e == 0 or e == f for f, e in zip(file_shape, expected, strict=True))


@dataclass
class Match:
    """Which file key goes with which model parameter.

    Attributes
    ----------
    pairs:
        ``file index -> parameter index`` (into ``listing.entries`` and ``model.params``).
    unexpected:
        File indices matched to no parameter, in file order.
    missing:
        Parameter indices with no file key, in model order.
    namespace:
        A leading structural namespace removed from the file's keys (``"features."``), or None.
    prefix_map:
        For prefixed matching: model family -> the file prefix found for it.
    tag_mismatch:
        File indices whose ``arg:``/``aux:`` tag disagrees with the parameter's aux flag.
    """

    pairs: dict[int, int] = field(default_factory=dict)
    unexpected: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    namespace: str | None = None
    prefix_map: dict[str, str] = field(default_factory=dict)
    tag_mismatch: list[int] = field(default_factory=list)
    by: str = "none"


def match_model(listing: Listing, model: ModelInfo, *, file_prefix: str | None = None) -> Match:
    """Match every key of ``listing`` to a parameter of ``model`` (see the module docstring).

    ``file_prefix``: the prefix the file uses for the model's root block, when the user knows it
    (``--prefix``); otherwise it is found from the keys.
    """
    entries = listing.entries
    m = Match()
    if not listing.named:
        m.unexpected = list(range(len(entries)))
        m.missing = list(range(len(model.params)))
        return m
    bare = [split_tag(e.name or "")[1] for e in entries]
    dotted = [i for i, b in enumerate(bare) if "." in b]
    plain = [i for i, b in enumerate(bare) if "." not in b]

    alias: dict[str, int] = {}
    for pi, p in enumerate(model.params):
        for s in p.structural:
            alias[s] = pi
    if dotted and alias:
        _match_structural(m, entries, bare, dotted, model, alias)
    prefixed_params = [pi for pi, p in enumerate(model.params) if p.prefixed is not None]
    if plain and prefixed_params:
        _match_prefixed(m, entries, bare, plain, model, prefixed_params, file_prefix)
    # a structural model can also match undotted structural keys (a leaf block: weight, bias)
    if alias:
        taken = set(m.pairs.values())
        for i in plain:
            if i not in m.pairs and bare[i] in alias and alias[bare[i]] not in taken:
                m.pairs[i] = alias[bare[i]]
                taken.add(alias[bare[i]])
    taken = set(m.pairs.values())
    m.unexpected = [i for i in range(len(entries)) if i not in m.pairs]
    m.missing = [pi for pi in range(len(model.params)) if pi not in taken]
    for i, pi in m.pairs.items():
        tag = split_tag(entries[i].name or "")[0]
        if tag and (tag == "aux:") != model.params[pi].aux:
            m.tag_mismatch.append(i)
    kinds = []
    if any(i in m.pairs for i in dotted):
        kinds.append("structural")
    if any(i in m.pairs for i in plain):
        kinds.append("prefixed")
    m.by = "+".join(kinds) or "none"
    return m


def _match_structural(
    m: Match,
    entries: Sequence[Entry],
    bare: Sequence[str],
    dotted: Sequence[int],
    model: ModelInfo,
    alias: dict[str, int],
) -> None:
    direct = [i for i in dotted if bare[i] in alias]
    namespace = None
    if len(direct) * 2 < len(dotted):
        counts: Counter[str] = Counter()
        for i in dotted:
            parts = bare[i].split(".")
            for k in range(1, len(parts)):
                ns = ".".join(parts[:k]) + "."
                if bare[i][len(ns) :] in alias:
                    counts[ns] += 1
        if counts:
            ns, n = counts.most_common(1)[0]
            if n > len(direct):
                namespace = ns
    taken: set[int] = set(m.pairs.values())
    for i in dotted:
        key = bare[i]
        if namespace is not None:
            if not key.startswith(namespace):
                continue
            key = key[len(namespace) :]
        pi = alias.get(key)
        if pi is not None:  # several aliases of a shared parameter all match it
            m.pairs[i] = pi
            taken.add(pi)
    m.namespace = namespace


def _match_prefixed(
    m: Match,
    entries: Sequence[Entry],
    bare: Sequence[str],
    plain: Sequence[int],
    model: ModelInfo,
    prefixed_params: Sequence[int],
    file_prefix: str | None,
) -> None:
    families: dict[str, list[int]] = {}
    for pi in prefixed_params:
        families.setdefault(model.params[pi].family, []).append(pi)
    free = {bare[i]: i for i in plain if i not in m.pairs}
    taken: set[int] = set(m.pairs.values())
    for family, members in sorted(families.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        rel = {}
        for pi in members:
            if pi in taken:
                continue
            r = model.params[pi].relative()
            if r is not None:
                rel[r] = pi
        if not rel:
            continue
        scores: Counter[str] = Counter()
        for name, i in free.items():
            for cut in _prefix_cuts(name):
                r = name[cut:]
                cand = rel.get(r)
                if cand is not None and shapes_compatible(
                    entries[i].shape, model.params[cand].shape
                ):
                    scores[name[:cut]] += 1
        if file_prefix is not None and family == model.root_prefix:
            best = file_prefix
        elif not scores:
            continue
        else:
            best = max(scores.items(), key=lambda kv: (kv[1], kv[0] == family, -len(kv[0])))[0]
        m.prefix_map[family] = best
        for r, pi in rel.items():
            i_opt = free.get(best + r)
            if i_opt is not None and shapes_compatible(
                entries[i_opt].shape, model.params[pi].shape
            ):
                m.pairs[i_opt] = pi
                taken.add(pi)
                del free[best + r]
        # same name, other shape (e.g. a resized output layer): still the same parameter
        for r, pi in rel.items():
            i_opt = free.get(best + r)
            if i_opt is not None and pi not in taken:
                m.pairs[i_opt] = pi
                taken.add(pi)
                del free[best + r]


def _prefix_cuts(name: str) -> Iterable[int]:
    """Positions where a prefix may end: 0 and just after every ``_``."""
    yield 0
    start = 0
    while True:
        j = name.find("_", start)
        if j < 0 or j + 1 >= len(name):
            return
        yield j + 1
        start = j + 1


def excluded(names: Iterable[str | None], globs: Sequence[str]) -> bool:
    """True when any of ``names`` matches any of ``globs`` (shell-style, case-sensitive)."""
    return any(n is not None and fnmatch.fnmatchcase(n, g) for n in names for g in globs)


def param_label(p: ModelParam) -> str:
    """A parameter in both namings: ``features.0.weight (alexnet0_conv0_weight)``."""
    if p.structural and p.prefixed:
        return f"{p.structural[0]} ({p.prefixed})"
    return p.structural[0] if p.structural else (p.prefixed or "?")
