"""Contradiction rules of a multi-task registry entry (quant_sentiment.contradictions):
the shipped rules, hand-made predictions, and bad rules named by their setting."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from quant_sentiment.contradictions import rule_mask
from quant_sentiment.corpora import DatasetConfigError, resolve
from tests.conftest import PROJECT_ROOT

REGISTRY = yaml.safe_load((PROJECT_ROOT / "conf/base/datasets.yml").read_text())
HS = resolve("id_hatespeech", REGISTRY)
RULES = {r["name"]: r for r in HS["contradictions"]}

# severity: none weak moderate strong; target: none individual group;
# category: religion race physical gender other (multi_label)
SEVERITY = np.array([0, 0, 0, 1, 2, 3, 0])
TARGET = np.array([0, 1, 0, 0, 2, 1, 2])
CATEGORY = np.array(
    [
        [0, 0, 0, 0, 0],  # consistent: none / none / no category
        [0, 0, 0, 0, 0],  # severity none, target individual
        [0, 1, 0, 0, 0],  # severity none, race set
        [0, 0, 0, 0, 0],  # weak, target none
        [1, 0, 0, 1, 0],  # consistent
        [0, 0, 0, 0, 1],  # consistent
        [0, 0, 1, 0, 0],  # severity none, target group, physical set
    ]
)
HEADS = {"severity": SEVERITY, "target": TARGET, "category": CATEGORY}


def test_the_shipped_rules_resolve_against_the_entry_tasks():
    assert list(RULES) == [
        "none_but_category",
        "none_but_target",
        "target_none_but_severity",
        "category_but_target_none",
    ]
    rule = RULES["none_but_target"]
    assert rule["description"] == "severity none but target not none"
    assert rule["when"] == [
        {
            "task": "severity",
            "kind": "single_label",
            "classes": [0],
            "class_names": ["none"],
            "negate": False,
        },
        {
            "task": "target",
            "kind": "single_label",
            "classes": [0],
            "class_names": ["none"],
            "negate": True,
        },
    ]
    # a single-task entry declares none
    assert resolve("id_hatespeech_severity", REGISTRY)["contradictions"] == []


@pytest.mark.parametrize(
    ("rule", "rows"),
    [
        ("none_but_category", [2, 6]),
        ("none_but_target", [1, 6]),
        ("target_none_but_severity", [3]),
        ("category_but_target_none", [2]),
    ],
)
def test_rules_find_the_hand_made_contradictions(rule, rows):
    mask = rule_mask(RULES[rule], HEADS, len(SEVERITY))
    assert np.flatnonzero(mask).tolist() == rows


def test_multi_label_conditions_any_none_classes_and_not():
    entry = copy.deepcopy(REGISTRY["id_hatespeech"])
    entry["contradictions"] = [
        {"name": "a", "when": {"severity": ["weak", "strong"], "category": "none"}},
        {"name": "b", "when": {"target": "group", "category": ["physical", "race"]}},
        {"name": "c", "when": {"target": "group", "category": {"not": "physical"}}},
    ]
    spec = resolve("mine", {**REGISTRY, "mine": entry})
    a, b, c = spec["contradictions"]
    assert a["description"] == (
        "severity in {weak, strong} and category not in "
        "{religion, race, physical, gender, other}"
    )
    n = len(SEVERITY)
    assert np.flatnonzero(rule_mask(a, HEADS, n)).tolist() == [3]
    assert np.flatnonzero(rule_mask(b, HEADS, n)).tolist() == [6]
    assert np.flatnonzero(rule_mask(c, HEADS, n)).tolist() == [4]
    # a head the rule needs is absent: nothing is counted here (evaluate says why)
    assert not rule_mask(b, {"target": TARGET}, n).any()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [{"name": "x", "when": {"sev": "none", "target": "none"}}],
            r"datasets\.mine\.contradictions\.x\.when: unknown task 'sev' \(the "
            r"entry's tasks: \['abusive', 'category', 'severity', 'target'\]\)",
        ),
        (
            [{"name": "x", "when": {"severity": "mild", "target": "none"}}],
            r"datasets\.mine\.contradictions\.x\.when\.severity: unknown class\(es\) "
            r"\['mild'\] for task 'severity' \(its classes: \['none', 'weak', "
            r"'moderate', 'strong'\]\)",
        ),
        (
            [{"name": "x", "when": {"severity": "none", "category": "hate"}}],
            r"datasets\.mine\.contradictions\.x\.when\.category: unknown class\(es\) "
            r"\['hate'\] .* or 'any' / 'none'\)",
        ),
        (
            [{"name": "x", "when": {"severity": "none"}}],
            r"datasets\.mine\.contradictions\.x\.when must map two or more task names",
        ),
        (
            [{"name": "x", "when": {"severity": {"but": "none"}, "target": "none"}}],
            r"datasets\.mine\.contradictions\.x\.when\.severity must be a class, a "
            r"list of classes or \{not: \.\.\.\}",
        ),
        (
            [{"name": "x y", "when": {}}],
            r"datasets\.mine\.contradictions\[0\]\.name must be a name",
        ),
        (
            [{"name": "x", "when": {"severity": "none", "target": "none"}, "if": 1}],
            r"datasets\.mine\.contradictions\[0\]: unknown setting\(s\) \['if'\]",
        ),
        (
            [
                {"name": "x", "when": {"severity": "none", "target": "none"}},
                {"name": "x", "when": {"severity": "weak", "target": "none"}},
            ],
            r"datasets\.mine\.contradictions\[1\]\.name: duplicate rule name 'x'",
        ),
        ({"name": "x"}, r"datasets\.mine\.contradictions must be a list of rules"),
    ],
)
def test_bad_rules_stop_with_the_setting_named(rules, message):
    entry = copy.deepcopy(REGISTRY["id_hatespeech"])
    entry["contradictions"] = rules
    with pytest.raises(DatasetConfigError, match=message):
        resolve("mine", {**REGISTRY, "mine": entry})


def test_rules_on_a_single_task_entry_are_refused():
    entry = copy.deepcopy(REGISTRY["id_hatespeech_severity"])
    entry["contradictions"] = [
        {"name": "x", "when": {"hate_speech": "none", "other": "none"}}
    ]
    with pytest.raises(
        DatasetConfigError,
        match=r"datasets\.mine\.contradictions: contradictions compare the heads of "
        r"a multi-task entry, but datasets\.mine has 1 task\(s\)",
    ):
        resolve("mine", {**REGISTRY, "mine": entry})
