"""Naming logic: scheme detection, root prefixes, rename plans, prefix-change discovery."""

from __future__ import annotations

from typing import Any

import pytest

from paramtool.errors import RenameError
from paramtool.names import (
    detect_scheme,
    find_prefix_change,
    plan_prefix_rename,
    rename_one,
    root_prefix,
)

TUTORIAL0 = [
    "model0_dense0_weight",
    "model0_dense0_bias",
    "model0_dense1_weight",
    "model0_dense1_bias",
    "model0_mydense_weight",
    "model0_mydense_bias",
]
TUTORIAL1 = [n.replace("model0_", "model1_") for n in TUTORIAL0]


@pytest.mark.parametrize(
    ("names", "kind", "prefix"),
    [
        (TUTORIAL0, "prefixed", "model0_"),
        (["dense0.weight", "dense0.bias", "features.3.running_var"], "structural", None),
        (
            ["arg:hybridsequential0_conv0_weight", "aux:hybridsequential0_batchnorm0_running_var"],
            "export",
            "hybridsequential0_",
        ),
        (["dense0_weight", "dense1_weight", "dense2_bias"], "prefixed", None),
        (["x", "y"], "flat", None),
        ([None, None], "list", None),
        ([], "empty", None),
        (["dense0.weight", "model0_dense0_bias"], "mixed", None),
        (["arg:fc1_weight", "fc1_bias"], "mixed", "fc1_"),
        (["arg:0.weight", "aux:0.running_mean"], "export", None),
    ],
)
def test_detect_scheme(names: list[str | None], kind: str, prefix: str | None) -> None:
    scheme = detect_scheme(names)
    assert (scheme.kind, scheme.root_prefix) == (kind, prefix)
    assert scheme.describe()


def test_root_prefix_edge_cases() -> None:
    assert root_prefix(["model0_dense0_weight"]) == "model0_dense0_"
    assert root_prefix(["mean_img"]) is None  # one name: only an auto-prefix shape counts
    assert root_prefix(["net_a", "net_"]) is None  # a name may not end at the prefix
    assert root_prefix(["a_b_c", "a_b_d", "a_x"]) == "a_"
    assert root_prefix([]) is None


def test_rename_one_keeps_tags() -> None:
    assert rename_one("arg:model0_w", "model0_", "model1_") == "arg:model1_w"
    assert rename_one("aux:model0_w", "", "x_") == "aux:x_model0_w"
    assert rename_one("model0_w", "model0_", "") == "w"
    assert rename_one("other_w", "model0_", "m") is None


def test_plan_unmatched_is_an_error_listing_names() -> None:
    with pytest.raises(RenameError) as e:
        plan_prefix_rename(["model0_a", "zzz_b", "zzz_c"], "model0_", "model1_")
    assert "2 of 3 names" in str(e.value)
    assert "zzz_b" in str(e.value) and "zzz_c" in str(e.value)


def test_plan_keep_and_drop() -> None:
    names = ["model0_a", "out_w", "model0_b"]
    keep = plan_prefix_rename(names, "model0_", "m_", unmatched="keep")
    assert keep.keep == [(0, "model0_a", "m_a"), (1, "out_w", "out_w"), (2, "model0_b", "m_b")]
    assert keep.changed == 2
    drop = plan_prefix_rename(names, "model0_", "m_", unmatched="drop")
    assert [k[2] for k in drop.keep] == ["m_a", "m_b"]
    assert drop.dropped == [(1, "out_w")]


def test_plan_collisions_and_nothing_matched() -> None:
    with pytest.raises(RenameError, match=r"^1 new name would come from two names: a_w and w -> w"):
        plan_prefix_rename(["a_w", "b_w", "w"], "a_", "", unmatched="keep")
    with pytest.raises(RenameError, match="no name starts with"):
        plan_prefix_rename(["a_w"], "b_", "c_", unmatched="keep")
    with pytest.raises(RenameError, match="unnamed list"):
        plan_prefix_rename([None], "", "x_")


def test_plan_add_and_strip_prefix() -> None:
    added = plan_prefix_rename(["w", "b"], "", "net0_")
    assert [k[2] for k in added.keep] == ["net0_w", "net0_b"]
    stripped = plan_prefix_rename(["arg:net0_w", "aux:net0_m"], "net0_", "")
    assert [k[2] for k in stripped.keep] == ["arg:w", "aux:m"]


def test_find_prefix_change() -> None:
    assert find_prefix_change(TUTORIAL0, TUTORIAL1) == ("model0_", "model1_", False)
    # only a sub-block moved: the rest is kept
    a = ["net_features_w", "net_out_w"]
    b = ["net_features_w", "net_head_w"]
    assert find_prefix_change(a, b) == ("net_out_", "net_head_", True)
    # tags must correspond
    assert find_prefix_change(["arg:a_w"], ["aux:b_w"]) is None
    # strip a prefix
    assert find_prefix_change(["p_w", "p_b"], ["w", "b"]) == ("p_", "", False)
    # unrelated names
    assert find_prefix_change(["a_w", "a_b"], ["c_x", "c_y"]) is None
    assert find_prefix_change(TUTORIAL0, TUTORIAL0) is None


def test_find_prefix_change_checks_few_candidates_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each full check walks every name: checking one per name of B made diff quadratic
    (8000 names took 18 s). Candidates are screened on a sample first."""
    import paramtool.names as names_mod

    calls: list[tuple[str, str]] = []
    real = names_mod._check_change

    def counting(names_a: Any, set_b: Any, old: str, new: str) -> bool | None:
        calls.append((old, new))
        return real(names_a, set_b, old, new)

    monkeypatch.setattr(names_mod, "_check_change", counting)
    a = [f"model0_b{i}_w" for i in range(2000)]
    b = [f"model1_b{i}_w" for i in range(2000)]
    assert names_mod.find_prefix_change(a, b) == ("model0_", "model1_", False)
    assert len(calls) <= 3, calls[:10]
    calls.clear()
    assert (
        names_mod.find_prefix_change(
            [f"layer{i}.weight" for i in range(2000)], [f"features.{i}.weight" for i in range(2000)]
        )
        is None
    )
    assert len(calls) <= 3, calls[:10]
