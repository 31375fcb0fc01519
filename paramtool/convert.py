"""Model-aware reports and conversions: ``diff --model``, ``to-structural``, ``to-prefixed``.

Builds on :func:`paramtool.mapping.match_model`. Pure logic: the CLI reads the file and builds
the model, this module decides what differs, why, which command fixes it, and which key every
record gets in a conversion.

Which keys a loader expects (spec §9.2–§9.4; ``python/mxnet/gluon/block.py``, ``parameter.py``):

* ``structural`` — ``Block.load_parameters``: the ``save_parameters`` keys (``features.0.weight``).
* ``prefixed`` — ``collect_params().load``: ``Parameter.name`` (``alexnet0_conv0_weight``), with
  the root prefix of the process that builds the model.
* ``export`` — ``SymbolBlock.imports`` / ``mx.model.load_checkpoint``: ``arg:``/``aux:`` +
  the prefixed name.
"""

from __future__ import annotations

import fnmatch
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from paramtool.backends import Listing
from paramtool.errors import ModelSpecError, RenameError
from paramtool.mapping import Match, excluded, match_model, param_label, shapes_compatible
from paramtool.model import ModelInfo, ModelParam
from paramtool.names import detect_scheme, split_tag
from paramtool.render import plural, shape_text, shell_join, shell_quote

Target = Literal["structural", "prefixed", "export"]


def expected_keys(p: ModelParam, target: Target, model: ModelInfo, prefix: str | None) -> list[str]:
    """The keys a loader of ``target`` kind expects for ``p`` (several: structural aliases)."""
    if target == "structural":
        return list(p.structural)
    if p.prefixed is None:
        return []
    name = p.prefixed
    root = model.root_prefix
    if prefix is not None and root and name.startswith(root):
        name = prefix + name[len(root) :]
    if target == "export":
        return [("aux:" if p.aux else "arg:") + name]
    return [name]


def require_target(model: ModelInfo, target: Target) -> None:
    """Refuse a target naming the model cannot give: a symbol graph (``-symbol.json``) or a
    file of prefixed names has no structural (``save_parameters``) names, a file of
    structural names no prefixed ones. Otherwise every key would count as expected, and a
    conversion would write an empty file.

    Raises
    ------
    ModelSpecError
        No parameter of the model has a key of that kind.
    """
    if any(expected_keys(p, target, model, None) for p in model.params) or not model.params:
        return
    if target == "structural":
        what = (
            "a symbol graph knows only the prefixed and arg:/aux: names"
            if model.kind == "symbol"
            else "its names are all prefixed"
        )
        hint = (
            f"{what}; give the Gluon block instead (zoo:NAME, module:callable or file.py:callable)"
        )
    else:
        hint = "give a model that names its parameters with prefixes (a Gluon block or symbol)"
    raise ModelSpecError(f"{model.spec}: the model gives no {target} names: {hint}")


def default_target(model: ModelInfo) -> Target:
    """``structural`` when the model knows structural names (Gluon), else ``prefixed``."""
    if any(p.structural for p in model.params):
        return "structural"
    if model.kind == "symbol":
        return "export"
    return "prefixed"


@dataclass(frozen=True)
class Finding:
    """One diagnosed cause, with the command (and MXNet load flag) that fixes it."""

    code: str
    message: str
    command: str | None = None
    load_hint: str | None = None


@dataclass
class ModelReport:
    """Everything ``diff FILE --model SPEC`` reports."""

    listing: Listing
    model: ModelInfo
    target: Target
    match: Match
    names_ok: bool
    missing: list[int]
    unexpected: list[int]
    shape: list[tuple[int, int]]
    dtype: list[tuple[int, int]]
    wrong_keys: list[tuple[int, int]]
    findings: list[Finding] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """The file's keys are exactly what the loader expects, with matching shapes and dtypes."""
        return self.names_ok and not (self.missing or self.unexpected or self.shape or self.dtype)

    def to_json(self, prefix: str | None) -> dict[str, Any]:
        """The full report as JSON-ready data (``diff --model --format json``)."""
        e = self.listing.entries
        ps = self.model.params

        def param(pi: int) -> dict[str, Any]:
            p = ps[pi]
            return {
                "structural": list(p.structural),
                "prefixed": p.prefixed,
                "expected": expected_keys(p, self.target, self.model, prefix),
                "shape": None if p.shape is None else list(p.shape),
                "dtype": p.dtype,
                "aux": p.aux,
            }

        return {
            "file": self.listing.path,
            "model": self.model.spec,
            "expect": self.target,
            "identical": self.identical,
            "file_scheme": detect_scheme(self.listing.names).to_json(),
            "model_root_prefix": self.model.root_prefix,
            "matched": len(self.match.pairs),
            "names_ok": self.names_ok,
            "missing": [param(pi) for pi in self.missing],
            "unexpected": [
                {"name": e[i].name, "shape": list(e[i].shape), "dtype": e[i].dtype}
                for i in self.unexpected
            ],
            "renamed": [
                {"name": e[i].name, "expected": param(pi)["expected"]} for i, pi in self.wrong_keys
            ],
            "shape_mismatches": [
                {
                    "name": e[i].name,
                    "parameter": param(pi),
                    "file": list(e[i].shape),
                    "model": _shape_list(ps[pi].shape),
                }
                for i, pi in self.shape
            ],
            "dtype_mismatches": [
                {
                    "name": e[i].name,
                    "parameter": param(pi),
                    "file": e[i].dtype,
                    "model": ps[pi].dtype,
                }
                for i, pi in self.dtype
            ],
            "findings": [
                {"code": f.code, "message": f.message, "command": f.command, "load": f.load_hint}
                for f in self.findings
            ],
        }


def model_shape_text(shape: tuple[int, ...] | None) -> str:
    """A model's expected shape, unknown (deferred, 0) dims shown as ``?``: ``(100, ?)``."""
    if shape is None:
        return "(?)"
    dims = ["?" if d == 0 else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _shape_list(shape: tuple[int, ...] | None) -> list[int] | None:
    return None if shape is None else list(shape)


def compare_to_model(
    listing: Listing,
    model: ModelInfo,
    *,
    target: Target | None = None,
    prefix: str | None = None,
    model_args: Sequence[str] = (),
    input_shapes: Sequence[str] = (),
) -> ModelReport:
    """Compare a file with what ``model`` expects under ``target`` naming, and diagnose."""
    target = target or default_target(model)
    require_target(model, target)
    m = match_model(listing, model)
    entries = listing.entries
    ps = model.params
    shape, dtype, wrong = [], [], []
    for i, pi in sorted(m.pairs.items()):
        p = ps[pi]
        e = entries[i]
        if not shapes_compatible(e.shape, p.shape):
            shape.append((i, pi))
        if p.dtype is not None and e.dtype != p.dtype:
            dtype.append((i, pi))
        exp = expected_keys(p, target, model, prefix)
        if exp and e.name not in exp:
            wrong.append((i, pi))
    names_ok = not wrong and not m.unexpected and not m.missing
    report = ModelReport(
        listing, model, target, m, names_ok, m.missing, m.unexpected, shape, dtype, wrong
    )
    report.findings = _diagnose(report, prefix, model_args, input_shapes)
    return report


def _convert_command(
    report: ModelReport,
    excludes: Sequence[str],
    prefix: str | None,
    model_args: Sequence[str],
    input_shapes: Sequence[str],
) -> str:
    path = report.listing.path
    stem = path[: -len(".params")] if path.endswith(".params") else path
    target = report.target
    verb = "to-structural" if target == "structural" else "to-prefixed"
    suffix = {"structural": "structural", "prefixed": "prefixed", "export": "export"}[target]
    parts = ["paramtool", verb, path, "--model", report.model.spec]
    for a in model_args:
        parts += ["--model-arg", a]
    for s in input_shapes:
        parts += ["--input-shape", s]
    if target == "export":
        parts.append("--export")
    if prefix is not None and target != "structural":
        parts += ["--prefix", prefix]
    for g in excludes:
        parts += ["--exclude", g]
    parts += ["-o", f"{stem}.{suffix}.params"]
    return shell_join(parts)


def _block_glob(names: Sequence[str]) -> str | None:
    """A glob covering exactly one block's keys: ``output.*`` or ``alexnet0_dense2_*``."""
    parents = set()
    for n in names:
        tag, bare = split_tag(n)
        if "." in bare:
            parents.add(tag + bare.rsplit(".", 1)[0] + ".*")
        elif "_" in bare.rstrip("_"):
            parents.add(tag + bare.rsplit("_", 1)[0] + "_*")
        else:
            return None
    if len(parents) == 1:
        return parents.pop()
    # arg:/aux: tags differ but the block is one
    untagged = {split_tag(p)[1] for p in parents}
    if len(untagged) == 1:
        return "*" + untagged.pop()
    return None


def _glob_escape(name: str) -> str:
    """A glob that matches exactly ``name`` (``*``, ``?`` and ``[`` bracketed)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _diagnose(
    r: ModelReport, prefix: str | None, model_args: Sequence[str], input_shapes: Sequence[str]
) -> list[Finding]:
    out: list[Finding] = []
    entries = r.listing.entries
    ps = r.model.params
    m = r.match
    scheme = detect_scheme(r.listing.names)

    def convert(excl: Sequence[str] = ()) -> str:
        return _convert_command(r, excl, prefix, model_args, input_shapes)

    loader = {
        "structural": "net.load_parameters",
        "prefixed": "net.collect_params().load",
        "export": "SymbolBlock.imports",
    }[r.target]

    if not r.listing.named:
        out.append(Finding("unnamed", "the file is an unnamed list: it has no names to match"))
        return out

    # -- blocks to leave out: a changed shape (class count) or a replaced block --------------
    excludes: list[str] = []
    load_flags: list[str] = []
    matched_names = [entries[i].name or "" for i in m.pairs]
    if r.shape:
        names = [entries[i].name or "" for i, _ in r.shape]
        glob = _block_glob(names)
        what = ", ".join(
            f"{entries[i].name} {shape_text(entries[i].shape)} in the file vs "
            f"{model_shape_text(ps[pi].shape)} in the model"
            for i, pi in r.shape[:4]
        )
        if glob is not None:
            excludes.append(glob)
            left_out = sum(1 for n in matched_names if fnmatch.fnmatchcase(n, glob))
            rest = len(m.pairs) - left_out
            positions = {pi for _, pi in r.shape}
            if len(ps) - 1 in positions:
                kind = "the output layer changed shape (a different class count?)"
            elif 0 in positions:
                kind = "the input layer changed shape (a different input size?)"
            else:
                kind = "one block changed shape"
            out.append(
                Finding(
                    "shape-changed-block",
                    f"{kind}: {what}; the other {rest} matched parameters agree. Leave "
                    f"{glob} out, load with allow_missing=True, then initialize that block",
                )
            )
        else:
            out.append(Finding("shape", f"{len(r.shape)} parameters differ in shape: {what}"))
    if r.unexpected and r.missing:
        un = [entries[i].name or "" for i in r.unexpected]
        glob = _block_glob(un)
        missing_rel = sorted({(ps[pi].relative() or "").rsplit("_", 1)[-1] for pi in r.missing})
        un_rel = sorted({n.rsplit("_", 1)[-1].rsplit(".", 1)[-1] for n in un})
        if glob is not None and missing_rel == un_rel:
            excludes.append(glob)
            out.append(
                Finding(
                    "replaced-block",
                    f"the file's {glob} ({len(un)} keys) has no place in the model, and the "
                    f"model's {', '.join(param_label(ps[pi]) for pi in r.missing[:4])} is not "
                    "in the file: the block was replaced (e.g. a new output layer). Leave the "
                    "old one out, load with allow_missing=True, then initialize the new one; "
                    "or, if the file was saved from a model whose block was replaced, pass that "
                    "model's code as --model file.py:callable",
                )
            )
    # every other key the model has no place for must be left out too, or the fix fails
    extra = [
        entries[i].name or ""
        for i in r.unexpected
        if not any(fnmatch.fnmatchcase(entries[i].name or "", g) for g in excludes)
    ]
    if extra:
        glob = _block_glob(extra)
        if glob is not None and not any(fnmatch.fnmatchcase(n, glob) for n in matched_names):
            excludes.append(glob)
        else:
            excludes += [_glob_escape(n) for n in extra]
    if r.missing or any(f.code == "shape-changed-block" for f in out):
        load_flags.append("allow_missing=True")
    if r.dtype:
        load_flags.append("cast_dtype=True")
    load_hint = f"{loader}(...{', ' + ', '.join(load_flags) if load_flags else ''})"

    # -- naming ------------------------------------------------------------------------
    drift = {f: p for f, p in m.prefix_map.items() if p != f and f}
    if m.namespace is not None:
        ns_excludes = [g for g in excludes if not g.startswith(m.namespace)]
        ns_command = (
            shell_join(
                [
                    "paramtool",
                    "rename-prefix",
                    r.listing.path,
                    m.namespace,
                    "",
                    "--drop-unmatched",
                    *[w for g in ns_excludes for w in ("--exclude", g)],
                    "-o",
                    _out(r.listing.path, "sub"),
                ]
            )
            if r.target == "structural"
            else convert(tuple(excludes))
        )
        out.append(
            Finding(
                "namespace",
                f"the file's keys carry an extra leading {m.namespace!r}: a whole-model file "
                "loaded into a sub-block",
                ns_command,
                load_hint,
            )
        )
    elif r.wrong_keys:
        reasons = []
        if scheme.kind == "export" or any(
            split_tag(entries[i].name or "")[0] for i, _ in r.wrong_keys
        ):
            reasons.append("the file has arg:/aux: export keys")
        elif "prefixed" in m.by:
            reasons.append("the file has prefixed keys")
        elif "structural" in m.by and r.target != "structural":
            reasons.append("the file has structural keys")
        if extra:
            reasons.append(
                f"{plural(len(extra), 'key')} of the file ({', '.join(extra[:3])}"
                f"{', ...' if len(extra) > 3 else ''}) belong to no parameter of the model"
            )
        if drift:
            prefixes = set(m.prefix_map.values())
            if len(prefixes) > 1:
                pairs = ", ".join(f"{p} where the model has {f}" for f, p in drift.items())
                reasons.append(f"it carries {len(prefixes)} different prefixes ({pairs})")
            else:
                f0, p0 = next(iter(drift.items()))
                reasons.append(f"prefix drift: {p0} in the file, {f0} in the model")
        want = {
            "structural": "structural keys",
            "prefixed": "prefixed keys",
            "export": "arg:/aux: keys",
        }[r.target]
        text = "; ".join(reasons) or "the keys differ"
        command = convert(tuple(excludes))
        if (
            r.target == "prefixed"
            and len(drift) == 1
            and not excludes
            and not any(split_tag(entries[i].name or "")[0] for i, _ in r.wrong_keys)
        ):
            f, p = next(iter(drift.items()))
            keep = len(m.prefix_map) > 1
            command = shell_join(
                [
                    "paramtool",
                    "rename-prefix",
                    r.listing.path,
                    p,
                    f,
                    "-o",
                    _out(r.listing.path, "renamed"),
                ]
                + (["--keep-unmatched"] if keep else [])
            )
        out.append(Finding("keys", f"{text}; {loader} expects {want}", command, load_hint))
    elif excludes:
        # the names are right: the block finding above carries the fix itself
        for k, finding in enumerate(out):
            if finding.code in ("shape-changed-block", "replaced-block"):
                out[k] = Finding(finding.code, finding.message, convert(tuple(excludes)), load_hint)
                break

    # -- dtype ---------------------------------------------------------------------------
    if r.dtype:
        dtype_pairs = Counter((entries[i].dtype, ps[pi].dtype) for i, pi in r.dtype)
        (fd, md), _ = dtype_pairs.most_common(1)[0]
        only = not (r.shape or r.missing or r.unexpected or r.wrong_keys)
        out.append(
            Finding(
                "dtype",
                f"{len(r.dtype)} parameters are {fd} in the file but {md} in the model"
                + (" (dtype only: names and shapes match)" if only else ""),
                None,
                f"{loader}(..., cast_dtype=True), or net.cast({fd!r}) before loading",
            )
        )
    leftover_missing = not any(f.code in ("replaced-block", "namespace") for f in out)
    if r.missing and leftover_missing:
        out.append(
            Finding(
                "missing",
                f"{len(r.missing)} model parameters have no key in the file",
                None,
                f"{loader}(..., allow_missing=True) leaves them uninitialised",
            )
        )
    if r.unexpected and not any(
        f.code in ("replaced-block", "namespace", "unexpected", "keys") for f in out
    ):
        out.append(
            Finding(
                "unexpected",
                f"{len(r.unexpected)} keys of the file match no model parameter",
                None,
                f"{loader}(..., ignore_extra=True), or --exclude them when converting",
            )
        )
    if m.tag_mismatch:
        out.append(
            Finding(
                "tags",
                f"{len(m.tag_mismatch)} keys carry the wrong arg:/aux: tag "
                f"(e.g. {entries[m.tag_mismatch[0]].name})",
            )
        )
    return out


def _out(path: str, what: str) -> str:
    stem = path[: -len(".params")] if path.endswith(".params") else path
    return f"{stem}.{what}.params"


# ------------------------------------------------------------------------------------------
# conversion plans


@dataclass(frozen=True)
class ConversionPlan:
    """``(file index, new key)`` in output order, plus what was left out and why."""

    selection: list[tuple[int, str]]
    excluded: list[str]
    missing: list[str]
    dtype_notes: list[str]


def plan_conversion(
    listing: Listing,
    model: ModelInfo,
    target: Target,
    *,
    excludes: Sequence[str] = (),
    prefix: str | None = None,
    file_prefix: str | None = None,
    deduplicate: bool = False,
) -> ConversionPlan:
    """Plan ``to-structural`` (``target="structural"``) or ``to-prefixed`` (``prefixed`` /
    ``export``): every matched record gets the key(s) the model's loader expects.

    Output order: ``save_parameters`` order for structural (every alias of a shared parameter,
    or with ``deduplicate`` only the last alias, at the parameter's first position — as
    ``save_parameters(deduplicate=True)`` does); ``collect_params()`` order otherwise.

    Raises
    ------
    RenameError
        Keys of the file that match no parameter, or shape mismatches, that ``excludes`` does not
        leave out (listed, with the ``--exclude`` to use); a file that matches nothing.
    """
    require_target(model, target)
    m = match_model(listing, model, file_prefix=file_prefix)
    entries = listing.entries
    ps = model.params
    by_param = {pi: i for i, pi in m.pairs.items()}
    out_excluded: list[str] = []

    def keys_for(pi: int) -> list[str]:
        return expected_keys(ps[pi], target, model, prefix)

    def is_excluded(i: int, pi: int | None) -> bool:
        names: list[str | None] = [entries[i].name]
        if pi is not None:
            names += keys_for(pi)
            names += [ps[pi].prefixed, *ps[pi].structural]
        return excluded(names, excludes)

    problems = []
    for i in m.unexpected:
        if is_excluded(i, None):
            out_excluded.append(entries[i].name or "")
        else:
            problems.append(f"{entries[i].name} matches no parameter of the model")
    bad_shape = []
    for i, pi in m.pairs.items():
        if is_excluded(i, pi):
            out_excluded.append(entries[i].name or "")
        elif not shapes_compatible(entries[i].shape, ps[pi].shape):
            bad_shape.append(
                f"{entries[i].name} is {shape_text(entries[i].shape)} in the file but "
                f"{model_shape_text(ps[pi].shape)} in the model"
            )
    problems += bad_shape
    if not m.pairs:
        given = f" with the root prefix {file_prefix!r} given by --prefix" if file_prefix else ""
        raise RenameError(f"no key of {listing.path} matches a parameter of {model.spec}{given}")
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; … ({len(problems)} in all)" if len(problems) > 5 else ""
        )
        names = [entries[i].name or "" for i in m.unexpected] + [
            entries[i].name or ""
            for i, pi in m.pairs.items()
            if not shapes_compatible(entries[i].shape, ps[pi].shape)
        ]
        glob = _block_glob(names)
        hint = (
            f" (leave them out with --exclude {shell_quote(glob)})"
            if glob
            else (" (leave them out with --exclude GLOB)")
        )
        raise RenameError(f"{shown}{hint}")
    skip = {i for i in range(len(entries)) if entries[i].name in set(out_excluded)}

    selection: list[tuple[int, str]] = []
    if target == "structural":
        seen: set[int] = set()
        alias_param = {s: pi for pi, p in enumerate(ps) for s in p.structural}
        order = model.structural_keys or [s for p in ps for s in p.structural]
        for key in order:
            pi = alias_param[key]
            fi = by_param.get(pi)
            if fi is None or fi in skip:
                continue
            if deduplicate:
                if pi in seen:
                    continue
                seen.add(pi)
                selection.append((fi, ps[pi].structural[-1]))
            else:
                selection.append((fi, key))
    else:
        for pi in range(len(ps)):
            fi = by_param.get(pi)
            if fi is None or fi in skip:
                continue
            for key in keys_for(pi):
                selection.append((fi, key))
    missing = [
        param_label(ps[pi])
        for pi in m.missing
        if not excluded([ps[pi].prefixed, *ps[pi].structural, *keys_for(pi)], excludes)
    ]
    missing += [param_label(ps[pi]) for i, pi in m.pairs.items() if i in skip]
    dtype_notes = [
        f"{entries[i].name}: {entries[i].dtype} in the file, {ps[pi].dtype} in the model"
        for i, pi in m.pairs.items()
        if i not in skip and ps[pi].dtype is not None and entries[i].dtype != ps[pi].dtype
    ]
    return ConversionPlan(selection, out_excluded, missing, dtype_notes)


def mapping_json(listing: Listing, plan: ConversionPlan, spec: str, target: Target) -> str:
    """The ``--save-mapping`` file: every ``from`` (file key) -> ``to`` (new key), in order."""
    return json.dumps(
        {
            "paramtool_mapping": 1,
            "model": spec,
            "target": target,
            "entries": [{"from": listing.entries[i].name, "to": key} for i, key in plan.selection],
        },
        indent=2,
        ensure_ascii=False,
    )


def plan_from_mapping(
    listing: Listing,
    mapping_text: str,
    source: str,
    excludes: Sequence[str] = (),
    *,
    target: str | None = None,
) -> ConversionPlan:
    """Apply a saved mapping (``--mapping``) to ``listing`` without building the model.

    Raises
    ------
    RenameError
        Not a paramtool mapping; a ``from`` key absent from the file; a file key the mapping
        does not mention (unless excluded).
    """
    try:
        doc = json.loads(mapping_text)
        items = [(str(d["from"]), str(d["to"])) for d in doc["entries"]]
        if doc.get("paramtool_mapping") != 1:
            raise KeyError("paramtool_mapping")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise RenameError(f"{source}: not a paramtool mapping file ({e})") from None
    saved = doc.get("target")
    if target is not None and saved is not None and saved != target:
        raise RenameError(
            f"{source}: the mapping was saved for {saved} keys, not {target} (save it with the "
            "command you apply it with)"
        )
    index = {e.name: i for i, e in enumerate(listing.entries)}
    absent = [f for f, _ in items if f not in index and not excluded([f], excludes)]
    if absent:
        more = f", … ({len(absent)} in all)" if len(absent) > 5 else ""
        raise RenameError(
            f"{len(absent)} keys of the mapping are not in {listing.path}: "
            f"{', '.join(absent[:5])}{more}"
        )
    mentioned = {f for f, _ in items}
    extra = [
        e.name or ""
        for e in listing.entries
        if e.name not in mentioned and not excluded([e.name], excludes)
    ]
    if extra:
        more = f", … ({len(extra)} in all)" if len(extra) > 5 else ""
        raise RenameError(
            f"{len(extra)} keys of {listing.path} are not in the mapping: "
            f"{', '.join(extra[:5])}{more} (leave them out with --exclude GLOB)"
        )
    selection = [(index[f], t) for f, t in items if f in index and not excluded([f, t], excludes)]
    return ConversionPlan(selection, [f for f, t in items if excluded([f, t], excludes)], [], [])
