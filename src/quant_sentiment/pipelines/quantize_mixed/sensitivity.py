"""Where 4 bits hurt: each quantizable group alone at INT4, scored on validation.

The FP32 ONNX graph is exported once (:func:`export_graph`); every variant of it is
derived with :func:`quant_sentiment.formats.onnx.quantize_groups` and compared with
the FP32 graph's own validation logits (:func:`predict_fp32_valid`, computed once),
head by head for a multi-task model (:mod:`.heads`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.formats import multitask, onnx
from quant_sentiment.formats.multitask import is_multitask_model
from quant_sentiment.modeling import ModelBundle

from .heads import aggregate_of, compare_heads, mixed_tasks, predict_heads

#: The ranking: most harmful group first.
RANK_BY = ("mean_kl", "flips")


def export_graph(bundle: ModelBundle, params: dict[str, Any]) -> onnx.Fp32Graph:
    """Export the fine-tuned model to FP32 ONNX once (``quantize_mixed.export``); a
    multi-task model with one output per task and one group per head."""
    if is_multitask_model(bundle.model):
        return multitask.export_fp32_graph(
            bundle.model, bundle.tokenizer, params["export"]
        )
    return onnx.export_fp32_graph(bundle.model, bundle.tokenizer, params["export"])


#: Fewest validation texts a stratified subset may have.
MIN_VALID_TEXTS = 2


def select_validation(
    clean_valid: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """The validation texts the sensitivity and the candidate scan are measured on.

    ``validation.max_texts: null`` keeps the whole split; a number keeps a
    label-stratified sample of that size (seed ``validation.seed``), in the split's
    order. Every table reports its ``n_valid``.

    Raises:
        ValueError: ``max_texts`` below 2 (the parameter is named).
    """
    from sklearn.model_selection import train_test_split

    settings = params["validation"]
    limit = settings["max_texts"]
    if limit is None or int(limit) >= len(clean_valid):
        return clean_valid
    if int(limit) < MIN_VALID_TEXTS:
        raise ValueError(
            "quantize_mixed.validation.max_texts must be null or >= "
            f"{MIN_VALID_TEXTS}, got {limit}"
        )
    kept, _ = train_test_split(
        clean_valid,
        train_size=int(limit),
        stratify=clean_valid["label_id"],
        random_state=int(settings["seed"]),
    )
    return clean_valid.loc[sorted(kept.index)]


def predict_fp32_valid(
    graph: onnx.Fp32Graph,
    bundle: ModelBundle,
    clean_valid: pd.DataFrame,
    params: dict[str, Any],
    model: dict[str, Any],
) -> dict[str, np.ndarray]:
    """The FP32 graph's validation logits per head (:mod:`.heads`): the reference
    of every comparison."""
    return predict_heads(
        graph.model, bundle, clean_valid["text"].tolist(), params, model
    )


def group_sensitivity(
    graph: onnx.Fp32Graph,
    bundle: ModelBundle,
    clean_valid: pd.DataFrame,
    fp32_logits: dict[str, np.ndarray],
    params: dict[str, Any],
    model: dict[str, Any],
) -> pd.DataFrame:
    """One row per group: only that group INT4 (block ``int4.block_size``), all else
    FP32, compared with FP32 on the validation split; ranked by mean KL then flips
    (a multi-task model: over its heads, macro-F1 the aggregate; :mod:`.heads`).

    Returns:
        ``rank``, ``group``, ``params`` (weights in the group), ``mean_kl``,
        ``max_kl``, ``flips``, ``flip_rate``, ``macro_f1``, ``delta_macro_f1``,
        ``reference_macro_f1`` (per head too for several heads), ``n_valid``.
    """
    from tqdm.auto import tqdm

    texts = clean_valid["text"].tolist()
    tasks, aggregate = mixed_tasks(bundle, model), aggregate_of(bundle)
    rows = []
    for group in tqdm(graph.groups, desc="INT4 sensitivity", unit="group"):
        proto = onnx.quantize_groups(graph, [group], [], params)
        logits = predict_heads(proto.SerializeToString(), bundle, texts, params, model)
        rows.append(
            {
                "group": group,
                "params": graph.group_params[group],
                **compare_heads(fp32_logits, logits, clean_valid, tasks, aggregate),
                "n_valid": len(texts),
            }
        )
    table = pd.DataFrame(rows).sort_values(
        list(RANK_BY), ascending=False, kind="stable"
    )
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def ranking(sensitivity: pd.DataFrame) -> list[str]:
    """The groups, most sensitive first (the table's ``rank`` order)."""
    return sensitivity.sort_values("rank")["group"].tolist()


def sensitivity_markdown(sensitivity: pd.DataFrame) -> str:
    """The ranking as Markdown, with the FP32 reference it is measured against."""
    first = sensitivity.iloc[0]
    shown = sensitivity.drop(columns=["reference_macro_f1", "n_valid"])
    return (
        "# INT4 sensitivity per group (validation split)\n\n"
        f"Each group alone quantized to INT4, everything else FP32; compared with the "
        f"FP32 ONNX graph on {first['n_valid']} validation texts (FP32 macro-F1 "
        f"{first['reference_macro_f1']:.4f}). Ranked by mean KL(FP32 ‖ variant) of "
        "the class probabilities, then by argmax flips.\n\n"
        + shown.to_markdown(index=False, floatfmt=".4g")
        + "\n"
    )


def plot_sensitivity(sensitivity: pd.DataFrame):
    """Horizontal bars: mean KL per group (log scale), most sensitive on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = sensitivity.sort_values("rank", ascending=False)
    fig, ax = plt.subplots(figsize=(6.4, 1.0 + 0.22 * len(table)), dpi=120)
    colors = ["tab:red" if f else "tab:blue" for f in table["flips"] > 0]
    ax.barh(table["group"], table["mean_kl"].clip(lower=1e-12), color=colors)
    ax.set_xscale("log")
    ax.set_xlabel("mean KL(FP32 ‖ group at INT4), validation (log scale)")
    ax.set_title("INT4 sensitivity per group (red: some argmax flips)")
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig
