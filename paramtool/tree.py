"""``paramtool ls --tree``: parameter names grouped by module, with counts and bytes per subtree.

How a name is split into levels (:func:`split_name`):

* a structural (dotted) name on ``.``: ``features.3.weight`` -> ``features.`` / ``3.`` /
  ``weight``;
* any other name after each ``_`` that follows a token ending in a digit, i.e. Gluon's
  ``<name><N>_`` block prefixes: ``model0_dense0_weight`` -> ``model0_`` / ``dense0_`` /
  ``weight``; ``model0_mydense_weight`` -> ``model0_`` / ``mydense_weight`` (a block named
  without a counter cannot be told from the parameter name);
* an ``arg:``/``aux:`` tag is not a level: it stays on the leaf (``aux:running_mean``), so a
  BatchNorm's ``arg:`` and ``aux:`` parameters sit in the same module;
* an unnamed list's arrays are leaves ``[0]``, ``[1]``, ...

Group labels keep their separator (``features.``, ``model0_``), so the labels along a path spell
the name. Siblings are sorted numeric-aware (``features.2.`` before ``features.10.``).

With ``collapse``, sibling subtrees whose labels differ only in their numbers and whose contents
are the same (the same relative names, shapes, dtypes and storage types) fold into one node,
``#.`` or ``batchnorm#_``, that carries the count and the labels it stands for.

Only the listing is used: no array data is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from paramtool.backends import Entry
from paramtool.names import split_tag

_DIGITS = re.compile(r"\d+")


def split_name(name: str, *, dotted: bool | None = None) -> list[str]:
    """The levels of ``name``: group labels, then the leaf label (see the module docstring).

    ``dotted`` forces splitting on ``.`` (True) or on block prefixes (False); by default a name
    with a ``.`` is split on ``.``.

    >>> split_name("model0_dense0_weight")
    ['model0_', 'dense0_', 'weight']
    >>> split_name("features.10.running_mean")
    ['features.', '10.', 'running_mean']
    >>> split_name("aux:net0_batchnorm0_running_var")
    ['net0_', 'batchnorm0_', 'aux:running_var']
    """
    tag, rest = split_tag(name)
    if dotted is None:
        dotted = "." in rest
    if dotted:
        parts = rest.split(".")
        levels = [p + "." for p in parts[:-1]]
        leaf = parts[-1]
    else:
        tokens = rest.split("_")
        levels = []
        current: list[str] = []
        for token in tokens[:-1]:
            current.append(token)
            if token[-1:].isdigit():
                levels.append("_".join(current) + "_")
                current = []
        leaf = "_".join([*current, tokens[-1]])
    if not leaf and levels:  # "model0_" or "a.": the last level is the parameter itself
        leaf = levels.pop()
    return [*levels, tag + leaf]


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key that orders digit runs by value: ``"dense2_"`` before ``"dense10_"``."""
    key = []
    pos = 0
    for m in _DIGITS.finditer(text):
        if m.start() > pos:
            key.append((1, 0, text[pos : m.start()]))
        key.append((0, int(m.group()), m.group()))
        pos = m.end()
    if pos < len(text):
        key.append((1, 0, text[pos:]))
    return tuple(key)


@dataclass(eq=False)
class Node:
    """One level of the tree.

    Attributes
    ----------
    label:
        The text of this level (``features.``, ``dense0_``, ``weight``); ``""`` for the root.
    entries:
        ``(index in the listing, entry)`` of the arrays whose name ends at this node (usually one;
        more for duplicate names).
    children:
        Sub-levels by label.
    """

    label: str
    entries: list[tuple[int, Entry]] = field(default_factory=list)
    children: dict[str, Node] = field(default_factory=dict)
    _signature: tuple[Any, ...] | None = field(default=None, repr=False)

    def child(self, label: str) -> Node:
        node = self.children.get(label)
        if node is None:
            node = self.children[label] = Node(label)
        return node

    def sorted_children(self) -> list[Node]:
        return sorted(self.children.values(), key=lambda n: (natural_key(n.label), n.label))

    def walk(self) -> Iterator[Node]:
        yield self
        for c in self.children.values():
            yield from c.walk()

    @property
    def parameters(self) -> int:
        """Arrays in this subtree."""
        return sum(len(n.entries) for n in self.walk())

    @property
    def elements(self) -> int:
        """Elements in this subtree."""
        return sum(e.size for n in self.walk() for _, e in n.entries)

    @property
    def nbytes(self) -> int:
        """Bytes of array data in this subtree."""
        return sum(e.nbytes for n in self.walk() for _, e in n.entries)


def build_tree(indexed: Sequence[tuple[int, Entry]], *, structural: bool = False) -> Node:
    """The tree of ``(index, entry)`` pairs; ``structural`` splits every name on ``.`` only
    (a structural file's top-level parameters, e.g. ``scale``, are not split on ``_``)."""
    root = Node("")
    for i, e in indexed:
        levels = [f"[{i}]"] if e.name is None else split_name(e.name, dotted=structural or None)
        node = root
        for label in levels:
            node = node.child(label)
        node.entries.append((i, e))
    return root


def signature(node: Node) -> tuple[Any, ...]:
    """What two subtrees must share to be folded: entry shapes/dtypes/stypes and, recursively,
    the children's labels and signatures."""
    if node._signature is None:
        node._signature = (
            tuple((e.shape, e.dtype, e.stype) for _, e in node.entries),
            tuple((c.label, signature(c)) for c in node.sorted_children()),
        )
    return node._signature


@dataclass(eq=False)
class View:
    """A node as shown: one :class:`Node`, or several folded ones (``members`` > 1)."""

    label: str
    members: list[Node]
    children: list[View]

    @property
    def node(self) -> Node:
        """The first folded node (all have the same contents)."""
        return self.members[0]

    @property
    def repeat(self) -> int:
        return len(self.members)


def build_view(node: Node, *, collapse: bool) -> View:
    """The :class:`View` of ``node``'s subtree: children sorted, folded with ``collapse``."""
    kids = node.sorted_children()
    groups: list[list[Node]] = []
    if collapse:
        by_key: dict[tuple[Any, ...], list[Node]] = {}
        for c in kids:
            pattern = _DIGITS.sub("#", c.label)
            if pattern == c.label:
                groups.append([c])
                continue
            key = (pattern, signature(c))
            if key in by_key:
                by_key[key].append(c)
            else:
                by_key[key] = [c]
                groups.append(by_key[key])
    else:
        groups = [[c] for c in kids]
    views = []
    for members in groups:
        label = members[0].label if len(members) == 1 else _DIGITS.sub("#", members[0].label)
        child_view = build_view(members[0], collapse=collapse)
        views.append(View(label, members, child_view.children))
    return View(node.label, [node], views)


def member_text(view: View, limit: int = 8) -> str:
    """The labels a folded node stands for, briefly: ``1, 4, 7`` or ``0-3, 8`` (the numbers
    where the pattern has one ``#``, else the labels), at most ``limit`` items."""
    labels = [m.label for m in view.members]
    if view.label.count("#") == 1:
        numbers = []
        for label in labels:
            found = _DIGITS.findall(label)
            numbers.append(int(found[0]) if len(found) == 1 else None)
        if all(n is not None for n in numbers):
            items = _runs([n for n in numbers if n is not None])
            return _limit(items, limit)
    return _limit(labels, limit)


def _runs(numbers: list[int]) -> list[str]:
    out: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return out


def _limit(items: list[str], limit: int) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[: limit - 1]) + f", …, {items[-1]}"


def view_json(view: View) -> dict[str, Any]:
    """A view as JSON-ready data (``ls --tree --format json``): per node ``label``,
    ``parameters``, ``elements``, ``nbytes`` (of one instance), ``repeat`` and ``members`` for a
    folded node, ``entries`` for the arrays named exactly here, and ``children``."""
    from paramtool.render import entry_json, json_name

    node = view.node
    out: dict[str, Any] = {
        "label": json_name(view.label),
        "parameters": node.parameters,
        "elements": node.elements,
        "nbytes": node.nbytes,
    }
    if view.repeat > 1:
        out["repeat"] = view.repeat
        out["members"] = [json_name(m.label) for m in view.members]
    if node.entries:
        out["entries"] = [entry_json(e, i) for i, e in node.entries]
    out["children"] = [view_json(c) for c in view.children]
    return out


# -- text ------------------------------------------------------------------------------------


def _entry_text(e: Entry) -> str:
    from paramtool.render import human_bytes, shape_text

    stype = "" if e.stype == "default" else f" {e.stype}"
    return f"{shape_text(e.shape)} {e.dtype}{stype}  {human_bytes(e.nbytes)}"


def view_lines(view: View) -> list[tuple[str, str]]:
    """One ``(label, details)`` pair per line this view shows for itself (not its children):
    a line per array named exactly here, or one summary line for a group."""
    from paramtool.render import display_name, human_bytes, plural

    node = view.node
    label = display_name(view.label, 0) or "''"
    each = ""
    if view.repeat > 1:
        label += f" ×{view.repeat}"
        each = " each"
    lines: list[tuple[str, str]] = []
    members = f"[{display_name(member_text(view), 0)}]  " if view.repeat > 1 else ""
    for _i, e in node.entries:
        lines.append((label, members + _entry_text(e) + each))
    if view.children and not node.entries:
        summary = f"{plural(node.parameters, 'parameter')} · {human_bytes(node.nbytes)}"
        lines.append((label, members + summary + each))
    return lines


def _sibling_lines(views: Sequence[View]) -> list[tuple[View, list[str]]]:
    """Each view with its lines, labels padded so that siblings' details line up."""
    from paramtool.render import cell_width, pad

    pairs = [(v, view_lines(v)) for v in views]
    width = max((cell_width(label) for _, lines in pairs for label, _ in lines), default=0)
    return [(v, [f"{pad(label, width)}  {d}" for label, d in lines]) for v, lines in pairs]


def plain_lines(root: View, title: str) -> Iterator[str]:
    """The tree as plain text, two spaces of indentation per level (for pipes and files)."""
    yield title

    def walk(views: Sequence[View], depth: int) -> Iterator[str]:
        for view, lines in _sibling_lines(views):
            for line in lines:
                yield f"{'  ' * depth}{line}"
            yield from walk(view.children, depth + 1)

    yield from walk(root.children, 1)


def print_tree(root: View, title: str, footer: str) -> None:
    """Print the tree on stdout: rich guide lines in a terminal, plain indented text otherwise."""
    from rich.text import Text

    from paramtool.render import make_console

    console = make_console()
    if not console.is_terminal:
        for line in plain_lines(root, title):
            console.print(Text(line))
        console.print(Text(footer))
        return
    from rich.tree import Tree

    def add(parent: Tree, views: Sequence[View]) -> None:
        for view, lines in _sibling_lines(views):
            group = bool(view.children) and not view.node.entries
            cut = len(view_lines(view)[0][0])
            branch = None
            for line in lines:
                text = Text(line[:cut], style="bold" if group else "")
                text.append(line[cut:], style="dim" if group else "")
                node = parent.add(text)
                branch = branch or node
            assert branch is not None
            add(branch, view.children)

    tree = Tree(Text(title, style="bold"), guide_style="dim")
    add(tree, root.children)
    console.print(tree)
    console.print(Text(footer))
