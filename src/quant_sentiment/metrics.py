"""Classification metrics and figures shared by ``finetune`` and ``evaluate``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro/weighted F1 and per-class precision/recall/F1/support.

    Args:
        y_true: True label ids.
        y_pred: Predicted label ids.
        label_names: Names, indexed by label id.
    """
    from sklearn.metrics import accuracy_score, classification_report, f1_score

    labels = list(range(len(label_names)))
    report = classification_report(
        y_true,
        y_pred,
        labels=labels,
        target_names=list(label_names),
        output_dict=True,
        zero_division=0,
    )
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "weighted_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
        ),
        "per_class": {
            name: {
                "precision": float(report[name]["precision"]),
                "recall": float(report[name]["recall"]),
                "f1": float(report[name]["f1-score"]),
                "support": int(report[name]["support"]),
            }
            for name in label_names
        },
    }


def confusion_matrix_figure(
    y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str], title: str
):
    """Return a matplotlib figure of the confusion matrix (counts, rows = truth)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=120)
    ConfusionMatrixDisplay.from_predictions(
        np.asarray(y_true),
        np.asarray(y_pred),
        labels=list(range(len(label_names))),
        display_labels=list(label_names),
        ax=ax,
        colorbar=False,
        cmap="Blues",
    )
    ax.set_title(title)
    fig.tight_layout()
    plt.close(fig)
    return fig
