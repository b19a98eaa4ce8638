"""Cross-lingual transfer report: language x variant macro-F1 table and heatmap.

Pure logic for issue 21's cross-lingual transfer (a model trained on one source, tested
on every NusaX language, per model variant). The input is one long frame of test
predictions, one row per (target language, variant, test text), with the columns
``language``, ``variant``, ``id`` (the text's id, shared by the variants of one
language so their predictions pair), ``label_id`` and ``pred``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.significance import (
    bootstrap_macro_f1,
    bootstrap_macro_f1_difference,
    macro_f1,
)

logger = logging.getLogger(__name__)

MIN_BOOTSTRAP_TEXTS = 2
REQUIRED_COLUMNS = ("language", "variant", "id", "label_id", "pred")
TABLE_COLUMNS = [
    "language",
    "variant",
    "n",
    "macro_f1",
    "macro_f1_ci_low",
    "macro_f1_ci_high",
    "accuracy",
    "delta_vs_reference",
    "delta_ci_low",
    "delta_ci_high",
]


def _check_predictions(predictions: pd.DataFrame, reference: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(f"transfer predictions lack column(s) {missing}")
    for language, frame in predictions.groupby("language", sort=False):
        if reference not in set(frame["variant"]):
            raise ValueError(
                f"transfer predictions for language {language!r} have no "
                f"{reference!r} rows (the reference variant)"
            )
        dup = frame.duplicated(["variant", "id"])
        if dup.any():
            row = frame[dup].iloc[0]
            raise ValueError(
                f"transfer predictions for language {language!r}: variant "
                f"{row['variant']!r} predicts id {str(row['id'])!r} more than once"
            )


def _paired(frame: pd.DataFrame, ref: pd.DataFrame, language: str, variant: str):
    """Align a variant's rows with the reference's by id; both must cover the same ids."""
    if set(frame["id"]) != set(ref["id"]):
        raise ValueError(
            f"transfer predictions for language {language!r}: variant {variant!r} "
            "does not cover the same test ids as the reference"
        )
    merged = frame.merge(ref[["id", "pred"]], on="id", suffixes=("", "_ref"))
    return merged.sort_values("id", kind="stable")


def transfer_table(
    predictions: pd.DataFrame, n_labels: int, params: dict[str, Any]
) -> pd.DataFrame:
    """One row per (language, variant): macro-F1 with bootstrap CI, accuracy, n, and
    the paired-bootstrap Δ macro-F1 vs the reference variant (``params["reference"]``,
    default ``fp32``) on that language.

    ``params`` keys: ``reference``, ``n_resamples``, ``seed``, ``confidence``.
    """
    reference = params.get("reference", "fp32")
    boot = {
        "n_resamples": int(params.get("n_resamples", 2000)),
        "seed": int(params.get("seed", 0)),
        "confidence": float(params.get("confidence", 0.95)),
    }
    _check_predictions(predictions, reference)
    rows = []
    for language, lang_frame in predictions.groupby("language", sort=False):
        ref = lang_frame[lang_frame["variant"] == reference]
        for variant, frame in lang_frame.groupby("variant", sort=False):
            pair = _paired(frame, ref, language, variant)
            t = pair["label_id"].to_numpy(int)
            p = pair["pred"].to_numpy(int)
            r = pair["pred_ref"].to_numpy(int)
            score = float(macro_f1(t, p, n_labels))
            few = len(t) < MIN_BOOTSTRAP_TEXTS  # no bootstrap: CI is NaN
            nan2 = (float("nan"), float("nan"))
            low, high = nan2 if few else bootstrap_macro_f1(t, p, n_labels, **boot)
            if variant == reference:
                delta, d_low, d_high = 0.0, 0.0, 0.0
            else:
                delta = score - float(macro_f1(t, r, n_labels))
                d_low, d_high = (
                    nan2
                    if few
                    else bootstrap_macro_f1_difference(t, p, r, n_labels, **boot)
                )
            rows.append(
                [language, variant, len(t), score, low, high, float(np.mean(t == p))]
                + [delta, d_low, d_high]
            )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def transfer_markdown(table: pd.DataFrame, reference: str = "fp32") -> str:
    """Markdown: the language x variant macro-F1 matrix, then the long table."""
    matrix = table.pivot(index="language", columns="variant", values="macro_f1")
    order = [reference] + [v for v in matrix.columns if v != reference]
    matrix = matrix[[v for v in order if v in matrix.columns]]
    lines = [
        "# Cross-lingual transfer: macro-F1 per target language and variant",
        "",
        "| language | " + " | ".join(matrix.columns) + " |",
        "|---|" + "---:|" * len(matrix.columns),
    ]
    for language, row in matrix.iterrows():
        cells = " | ".join(f"{v:.4f}" for v in row)
        lines.append(f"| {language} | {cells} |")
    lines += [
        "",
        f"## Per row (95% bootstrap CIs; Δ is paired, vs {reference})",
        "",
        "| language | variant | n | macro-F1 [CI] | accuracy | Δ vs ref [CI] |",
        "|---|---|---:|---|---:|---|",
    ]
    for r in table.itertuples(index=False):
        lines.append(
            f"| {r.language} | {r.variant} | {r.n} | {r.macro_f1:.4f} "
            f"[{r.macro_f1_ci_low:.4f}, {r.macro_f1_ci_high:.4f}] | {r.accuracy:.4f} "
            f"| {r.delta_vs_reference:+.4f} [{r.delta_ci_low:+.4f}, "
            f"{r.delta_ci_high:+.4f}] |"
        )
    return "\n".join(lines) + "\n"


def plot_transfer_heatmap(table: pd.DataFrame, reference: str = "fp32"):
    """Heatmap figure (language rows x variant columns, macro-F1 annotated)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = table.pivot(index="language", columns="variant", values="macro_f1")
    order = [reference] + [v for v in matrix.columns if v != reference]
    matrix = matrix[[v for v in order if v in matrix.columns]]
    fig, ax = plt.subplots(
        figsize=(1.4 * len(matrix.columns) + 2, 0.45 * len(matrix) + 1.5)
    )
    image = ax.imshow(matrix.to_numpy(float), vmin=0.0, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(matrix.columns)), list(matrix.columns), rotation=30)
    ax.set_yticks(range(len(matrix.index)), list(matrix.index))
    for i, j in np.ndindex(matrix.shape):
        value = matrix.iat[i, j]
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8, color="w")
    fig.colorbar(image, ax=ax, label="macro-F1")
    ax.set_title("Cross-lingual transfer: macro-F1")
    fig.tight_layout()
    return fig


def skip_reason(manifest: dict[str, Any]) -> str | None:
    """Why a variant folder was not built (its manifest), or ``None`` when it was."""
    status = manifest.get("status")
    if status in (None, "ok"):  # a hand-saved folder has no status: it was built
        return None
    return str(manifest.get("reason") or f"manifest status is {status!r}")


def predict_targets(
    targets: dict[str, pd.DataFrame], handles: dict[str, Any], batch_size: int = 32
) -> pd.DataFrame:
    """Predict every target language's raw test rows with every built variant.

    Args:
        targets: language -> raw test rows (columns ``id``, ``text``, ``label_id``).
        handles: variant name -> ``VariantHandle`` (``manifest``, ``load()``); variants
            whose manifest says they were skipped are left out (logged).
        batch_size: Texts per forward pass.

    Each text is normalised as the variant's training texts were (``textprep`` from
    its manifest). Rows empty after normalisation are not scored, as ``preprocessing``
    drops them; they are logged by language and id.

    Returns:
        The long frame ``transfer_table`` reads (``language``, ``variant``, ``id``,
        ``label_id``, ``pred``).
    """
    from quant_sentiment.textprep import TextPrep

    frames = []
    for variant, handle in handles.items():
        reason = skip_reason(handle.manifest)
        if reason:
            logger.info("transfer: variant %s skipped (%s)", variant, reason)
            continue
        prep = TextPrep.from_manifest(handle.manifest, where=f"variant {variant!r}")
        clf = handle.load()
        for language, rows in targets.items():
            texts = prep.many(rows["text"].astype(str).tolist())
            keep = np.array([bool(t.strip()) for t in texts], dtype=bool)
            if not keep.all():
                logger.warning(
                    "transfer: %s, variant %s: %d text(s) empty after normalisation "
                    "not scored (ids %s)",
                    language,
                    variant,
                    int((~keep).sum()),
                    rows.loc[~keep, "id"].tolist()[:10],
                )
            kept = [t for t, k in zip(texts, keep, strict=True) if k]
            logits = np.asarray(clf.predict_logits(kept, batch_size=int(batch_size)))
            frames.append(
                pd.DataFrame(
                    {
                        "language": language,
                        "variant": variant,
                        "id": rows["id"].to_numpy()[keep],
                        "label_id": rows["label_id"].to_numpy(int)[keep],
                        "pred": logits.argmax(axis=1) if kept else [],
                    }
                )
            )
            logger.info(
                "transfer: %s on %s scored (%d texts)", variant, language, len(kept)
            )
    if not frames:
        raise ValueError("transfer: no built variant to score (every one was skipped)")
    return pd.concat(frames, ignore_index=True)
