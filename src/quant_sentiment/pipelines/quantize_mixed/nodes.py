"""Mixed INT4/INT8 variants chosen from the sensitivity ranking.

The k most sensitive groups stay INT8, the rest go INT4. :func:`scan_candidates`
measures every k (0..number of groups) once on validation; variants with ``k`` in
their options block take that prefix of the ranking, the budget variant takes the
candidate its budget selects. The variants are declared in
:data:`quant_sentiment.variants.VARIANTS` (``producer="quantize_mixed"``).
"""

from __future__ import annotations

import logging
import numbers
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.formats import multitask, onnx
from quant_sentiment.formats._base import save_config_and_tokenizer
from quant_sentiment.formats.multitask import is_multitask_model
from quant_sentiment.manifest import folder_size, write_manifest
from quant_sentiment.modeling import ModelBundle
from quant_sentiment.variants import StagedFolder, base_manifest, get_variant

from .heads import aggregate_of, compare_heads, mixed_tasks, predict_heads
from .sensitivity import ranking

logger = logging.getLogger(__name__)
PRODUCER = "quantize_mixed"
BUDGETS = ("max_f1_drop", "max_size_mb")


def _folder_overhead(bundle: ModelBundle) -> int:
    """Bytes a variant folder holds besides ``model.onnx`` and ``manifest.json``."""
    fmt = multitask.FORMAT_ONNX if is_multitask_model(bundle.model) else onnx.FORMAT
    with tempfile.TemporaryDirectory() as tmp:
        save_config_and_tokenizer(bundle.model, bundle.tokenizer, Path(tmp), fmt)
        return folder_size(tmp)


def scanned_ks(params: dict[str, Any], n_groups: int) -> list[int]:
    """The k values scanned: ``0..n_groups`` every ``scan.step``, both ends, and
    each variant's own ``k``."""
    step = int(params["scan"]["step"])
    if step < 1:
        raise ValueError(f"quantize_mixed.scan.step must be >= 1, got {step}")
    named = {o["k"] for o in params["variants"].values() if o.get("k") is not None}
    ks = {*range(0, n_groups + 1, step), n_groups, *named}
    return sorted(k for k in ks if 0 <= k <= n_groups)


def scan_candidates(
    graph: onnx.Fp32Graph,
    bundle: ModelBundle,
    clean_valid: pd.DataFrame,
    fp32_logits: dict[str, np.ndarray],
    sensitivity: pd.DataFrame,
    params: dict[str, Any],
    model: dict[str, Any],
) -> pd.DataFrame:
    """Mixed candidates on validation: the k most sensitive groups INT8, the rest
    INT4, for k = 0 (all INT4) .. number of groups (all INT8) in steps of
    ``scan.step``, plus every k a variant names (the budget chooses among these).

    Returns:
        ``k``, ``int8_added`` (the group that k adds), ``size_bytes`` (the variant
        folder without its manifest), ``size_mb``, and
        :func:`~.heads.compare_heads`'s columns against the FP32 graph (a
        multi-task model: ``macro_f1`` is the heads' aggregate).
    """
    from tqdm.auto import tqdm

    order = ranking(sensitivity)
    texts = clean_valid["text"].tolist()
    tasks, aggregate = mixed_tasks(bundle, model), aggregate_of(bundle)
    overhead = _folder_overhead(bundle)
    rows = []
    for k in tqdm(scanned_ks(params, len(order)), desc="mixed candidates", unit="k"):
        proto = onnx.quantize_groups(graph, order[k:], order[:k], params)
        data = proto.SerializeToString()
        logits = predict_heads(data, bundle, texts, params, model)
        rows.append(
            {
                "k": k,
                "int8_added": order[k - 1] if k else None,
                "size_bytes": len(data) + overhead,
                "size_mb": (len(data) + overhead) / 1e6,
                **compare_heads(fp32_logits, logits, clean_valid, tasks, aggregate),
            }
        )
    return pd.DataFrame(rows)


def candidates_markdown(candidates: pd.DataFrame) -> str:
    """The candidate scan as Markdown."""
    shown = candidates[
        ["k", "int8_added", "size_mb", "macro_f1", "delta_macro_f1", "mean_kl", "flips"]
    ]
    return (
        "# Mixed INT4/INT8 candidates (validation split)\n\n"
        "k most sensitive groups INT8, the rest INT4; size = variant folder without "
        f"its manifest. FP32 macro-F1 {candidates['reference_macro_f1'].iloc[0]:.4f}."
        "\n\n" + shown.to_markdown(index=False, floatfmt=".4g") + "\n"
    )


def check_k(value: Any, n_groups: int, setting: str) -> int:
    """``value`` as a k in ``0..n_groups``.

    Raises:
        ValueError: Naming ``setting`` for anything else.
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or not 0 <= value <= n_groups:
        raise ValueError(
            f"{setting} must be an integer from 0 to {n_groups} (the number of "
            f"quantizable groups), got {value!r}"
        )
    return int(value)


def check_budget(budget: Any, setting: str) -> tuple[str, float]:
    """``(kind, limit)`` from a budget block with exactly one of :data:`BUDGETS` set.

    Raises:
        ValueError: Naming ``setting`` (or the offending key) when the block is not a
            mapping, sets none or both, or a limit is not a non-negative number
            (``max_size_mb`` > 0).
    """
    if not isinstance(budget, dict) or set(budget) - set(BUDGETS):
        raise ValueError(f"{setting} must be a mapping with keys {list(BUDGETS)}")
    chosen = [key for key in BUDGETS if budget.get(key) is not None]
    if len(chosen) != 1:
        raise ValueError(
            f"{setting}: set exactly one of {list(BUDGETS)} (the other null), "
            f"got {budget}"
        )
    kind, limit = chosen[0], budget[chosen[0]]
    number = isinstance(limit, numbers.Real) and not isinstance(limit, bool)
    if not number or limit < 0 or (kind == "max_size_mb" and limit == 0):
        raise ValueError(
            f"{setting}.{kind} must be a number "
            f"{'> 0' if kind == 'max_size_mb' else '>= 0'}, got {limit!r}"
        )
    return kind, float(limit)


def choose_by_budget(
    candidates: pd.DataFrame, kind: str, limit: float
) -> tuple[int | None, str]:
    """The k a budget selects, or ``None`` with the reason none fits.

    ``max_f1_drop``: the smallest candidate whose validation macro-F1 is at most
    ``limit`` below FP32's (ties: the better F1). ``max_size_mb``: the best
    validation macro-F1 among candidates of at most ``limit`` MB (ties: the lower
    mean KL from FP32, then the smaller).
    """
    if kind == "max_f1_drop":
        fits = candidates[-candidates["delta_macro_f1"] <= limit + 1e-12]
        order = fits.sort_values(["size_bytes", "macro_f1"], ascending=[True, False])
        best = f"smallest drop {-candidates['delta_macro_f1'].max():.4f}"
    else:
        fits = candidates[candidates["size_bytes"] <= limit * 1e6]
        order = fits.sort_values(
            ["macro_f1", "mean_kl", "size_bytes"], ascending=[False, True, True]
        )
        best = f"smallest candidate {candidates['size_mb'].min():.2f} MB"
    if order.empty:
        return None, f"no candidate meets {kind} = {limit:g} ({best})"
    return int(order.iloc[0]["k"]), ""


def _selection(
    options: dict[str, Any], candidates: pd.DataFrame, n_groups: int, variant: str
) -> dict[str, Any]:
    """``{"k": ..., "rule": ..., ...}`` from a variant's options block."""
    setting = f"{PRODUCER}.variants.{variant}"
    if not isinstance(options, dict) or len(set(options) & {"k", "budget"}) != 1:
        raise ValueError(f"{setting} must set exactly one of 'k' or 'budget'")
    if "k" in options:
        return {"rule": "k", "k": check_k(options["k"], n_groups, f"{setting}.k")}
    kind, limit = check_budget(options["budget"], f"{setting}.budget")
    k, reason = choose_by_budget(candidates, kind, limit)
    return {"rule": kind, "budget": {kind: limit}, "k": k, "reason": reason}


def _base_manifest(
    bundle: ModelBundle, params: dict[str, Any], model: dict[str, Any], variant: str
) -> dict[str, Any]:
    """The manifest fields every mixed variant has, built or skipped."""
    parameters = {key: params[key] for key in ("export", "int4", "int8")}
    return base_manifest(bundle, variant, PRODUCER, model, parameters)


def build_mixed_variant(
    graph: onnx.Fp32Graph,
    bundle: ModelBundle,
    sensitivity: pd.DataFrame,
    candidates: pd.DataFrame,
    params: dict[str, Any],
    model: dict[str, Any],
    variant: str,
) -> StagedFolder:
    """Write one mixed variant folder with its ``manifest.json``.

    Args:
        graph: The FP32 ONNX export every variant is derived from.
        bundle: The fine-tuned model (configuration and tokenizer for the folder).
        sensitivity: The ranking (most sensitive group first).
        candidates: The validation scan; its row for the chosen k goes into the
            manifest (``selection.valid``) and the budget is decided on it.
        params: ``quantize_mixed``; ``variants.<variant>`` sets ``k`` or ``budget``.
        model: ``params:model`` (``max_length`` recorded in the manifest).
        variant: A variant registered with ``producer="quantize_mixed"``.

    Returns:
        The staged folder; a budget no candidate meets gives a ``skipped`` manifest
        with the reason.

    Raises:
        ValueError: For an invalid ``k`` or ``budget`` (naming the setting).
    """
    if get_variant(variant).producer != PRODUCER:
        raise ValueError(f"Variant {variant!r} is not produced by {PRODUCER!r}")
    order = ranking(sensitivity)
    selection = _selection(params["variants"][variant], candidates, len(order), variant)
    base = _base_manifest(bundle, params, model, variant)
    if selection["k"] is None:
        return StagedFolder.skipped(base, selection["reason"], selection=selection)
    staged = StagedFolder()
    k = selection["k"]
    fields = write_mixed(bundle, staged.folder, graph, order[:k], params, model)
    row = candidates.set_index("k").loc[k]
    heads = [c for c in row.index if c.startswith(("macro_f1__", "delta_macro_f1__"))]
    selection |= {
        "ranking": order,
        "ranked_by": "mean KL(FP32 || group at INT4) on validation, then flips"
        + (" (KL: mean over the heads; macro_f1: their aggregate)" if heads else ""),
        "valid": {
            c: row[c].item()
            for c in ("macro_f1", "delta_macro_f1", "mean_kl", "flips", *heads)
            if c in row
        },
    }
    manifest = write_manifest(
        staged.folder, {**base, **fields, "selection": selection, "status": "ok"}
    )
    logger.info("mixed %-12s k=%-3d %7.2f MB", variant, k, manifest["size_bytes"] / 1e6)
    return staged


def write_mixed(
    bundle: ModelBundle,
    folder: Path,
    graph: onnx.Fp32Graph,
    int8_groups: list[str],
    params: dict[str, Any],
    model: dict[str, Any],
) -> dict[str, Any]:
    """The mixed graph in ``folder``: ``formats.onnx.write_mixed``, or for a
    multi-task model ``formats.multitask.write_onnx_mixed`` (one output per task,
    an ``onnx_multitask`` folder)."""
    if is_multitask_model(bundle.model):
        return multitask.write_onnx_mixed(
            bundle.model,
            bundle.tokenizer,
            folder,
            int(model["max_length"]),
            graph,
            int8_groups,
            params,
        )
    return onnx.write_mixed(
        bundle.model, bundle.tokenizer, folder, graph, int8_groups, params
    )


def make_variant_node_func(variant: str) -> Callable[..., StagedFolder]:
    """:func:`build_mixed_variant` bound to one variant, named ``quantize_<variant>``."""

    def quantize(
        graph: onnx.Fp32Graph,
        bundle: ModelBundle,
        sensitivity: pd.DataFrame,
        candidates: pd.DataFrame,
        params: dict[str, Any],
        model: dict[str, Any],
    ) -> StagedFolder:
        return build_mixed_variant(
            graph, bundle, sensitivity, candidates, params, model, variant
        )

    quantize.__name__ = quantize.__qualname__ = f"quantize_{variant}"
    quantize.__doc__ = f"Build the ``{variant}`` mixed INT4/INT8 variant folder."
    return quantize
