"""Every head of a loaded classifier, the one-task case included (docs/multitask.md).

A multi-task folder (``hf_multitask``, ``onnx_multitask``) loads as a classifier with
``tasks`` and ``predict_task_logits`` (every head from one encoder pass); any other
classifier is **one head**: its ``id2label`` classes, named after the entry's task
(or ``default_name``), its logits from ``predict_logits``. The consumers that use a
model (``predict``, ``serve``, ``explain``) go through this module for both, so the
single-task model is the one-task case of the same code.

- :func:`heads_of` / :func:`head_logits` / :func:`head_probabilities`: the heads,
  their logits in one pass, their probabilities (softmax for ``single_label``,
  sigmoid for ``multi_label``);
- :func:`head_answer`: one text's answer per head (``label`` + ``probabilities``, or
  ``labels`` over :data:`THRESHOLD` + ``probabilities``);
- :func:`flat_columns` / :func:`flat_row`: the flat (CSV) form of those answers,
  named as ``finetune_test_predictions`` of a multi-task run names them
  (``pred_label__<t>``, ``pred__<t>__<class>``, ``prob__<t>__<class>``);
- :class:`HeadView`: one head as a one-head classifier (``explain``'s methods).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quant_sentiment.tasks import MULTI, SINGLE

#: A multi_label class is predicted when its sigmoid probability exceeds this
#: (``logit > 0``, as ``finetune`` and ``evaluate`` decide).
THRESHOLD = 0.5
#: Probabilities in answers are rounded to this many decimals (as today's ``predict``).
DECIMALS = 6
#: The task name of a one-head classifier when the entry names none.
DEFAULT_TASK = "classification"


@dataclass(frozen=True)
class Head:
    """One classification head: its task name, kind and class names in id order."""

    name: str
    kind: str
    labels: tuple[str, ...]


def has_tasks(classifier: Any) -> bool:
    """Whether ``classifier`` names its heads (a multi-task folder)."""
    return bool(getattr(classifier, "tasks", None)) and hasattr(
        classifier, "predict_task_logits"
    )


def heads_of(classifier: Any, default_name: str = DEFAULT_TASK) -> list[Head]:
    """The classifier's heads in task order; a classifier without ``tasks`` is one
    ``single_label`` head named ``default_name`` over its ``id2label``."""
    if has_tasks(classifier):
        return [
            Head(str(t["name"]), str(t["kind"]), tuple(t["labels"]))
            for t in classifier.tasks
        ]
    id2label = classifier.id2label
    return [
        Head(default_name, SINGLE, tuple(id2label[i] for i in range(len(id2label))))
    ]


def primary_name(tasks: Sequence[Mapping[str, Any]] | None) -> str:
    """The entry's primary task (first single_label; :data:`DEFAULT_TASK` without
    tasks): the name a one-head classifier's head takes."""
    for task in tasks or []:
        if task["kind"] == SINGLE:
            return str(task["name"])
    return DEFAULT_TASK


def head_logits(
    classifier: Any,
    texts: Sequence[str],
    batch_size: int,
    default_name: str = DEFAULT_TASK,
) -> dict[str, np.ndarray]:
    """``{task: logits [n, classes]}`` of every head, from one encoder pass."""
    if has_tasks(classifier):
        return classifier.predict_task_logits(list(texts), batch_size)
    logits = classifier.predict_logits(list(texts), batch_size)
    return {default_name: np.asarray(logits)}


def probabilities(head: Head, logits: np.ndarray) -> np.ndarray:
    """Softmax over classes (``single_label``) or a sigmoid per class (``multi_label``),
    in float64."""
    from scipy.special import expit, softmax

    z = np.asarray(logits, dtype=np.float64)
    if head.kind == MULTI:
        return expit(z)
    return softmax(z, axis=1)


def head_probabilities(
    heads: Sequence[Head], logits: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """``{task: probabilities}`` of :func:`head_logits`' output."""
    return {h.name: probabilities(h, logits[h.name]) for h in heads}


def head_answer(head: Head, probs: np.ndarray) -> dict[str, Any]:
    """One text's answer of one head: ``{"label", "probabilities"}`` (single_label,
    the argmax) or ``{"labels", "probabilities"}`` (multi_label, every class over
    :data:`THRESHOLD`, in class order; possibly none)."""
    rounded = {lab: round(float(p), DECIMALS) for lab, p in zip(head.labels, probs)}
    if head.kind == MULTI:
        chosen = [lab for lab, p in zip(head.labels, probs) if p > THRESHOLD]
        return {"labels": chosen, "probabilities": rounded}
    return {"label": head.labels[int(np.argmax(probs))], "probabilities": rounded}


def flat_columns(heads: Sequence[Head]) -> list[str]:
    """The flat columns of every head's answer (``finetune_test_predictions``'
    naming, without the ids): per single_label task ``pred_label__<t>`` then
    ``prob__<t>__<class>``; per multi_label task ``pred__<t>__<class>`` (0/1) then
    ``prob__<t>__<class>``."""
    columns = []
    for head in heads:
        if head.kind == MULTI:
            columns += [f"pred__{head.name}__{c}" for c in head.labels]
        else:
            columns.append(f"pred_label__{head.name}")
        columns += [f"prob__{head.name}__{c}" for c in head.labels]
    return columns


def flat_row(heads: Sequence[Head], answers: Mapping[str, Mapping]) -> dict[str, Any]:
    """One text's :func:`head_answer` per task (``answers``) as :func:`flat_columns`."""
    row: dict[str, Any] = {}
    for head in heads:
        answer = answers[head.name]
        if head.kind == MULTI:
            chosen = set(answer["labels"])
            row.update(
                {f"pred__{head.name}__{c}": int(c in chosen) for c in head.labels}
            )
        else:
            row[f"pred_label__{head.name}"] = answer["label"]
        probs = answer["probabilities"]
        row.update({f"prob__{head.name}__{c}": probs[c] for c in head.labels})
    return row


class HeadView:
    """One head of a classifier as a one-head classifier: ``predict_logits``,
    ``id2label``, :meth:`probabilities` (softmax or sigmoid as its kind says) and,
    for PyTorch models, :meth:`torch_probabilities` (``explain``'s gradients).

    Every call runs the whole model (all heads from one encoder pass) and keeps this
    head's output; ``model``, ``tokenizer`` and ``max_length`` are the classifier's.
    """

    def __init__(self, classifier: Any, head: Head) -> None:
        self.classifier, self.head = classifier, head
        self.id2label = dict(enumerate(head.labels))
        self.model = getattr(classifier, "model", None)
        self.tokenizer = getattr(classifier, "tokenizer", None)
        self.max_length = getattr(classifier, "max_length", None)

    @property
    def kind(self) -> str:
        """``single_label`` or ``multi_label``."""
        return self.head.kind

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """This head's logits, ``[n, classes]``."""
        return head_logits(self.classifier, texts, batch_size, self.head.name)[
            self.head.name
        ]

    def probabilities(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """This head's class probabilities (float64)."""
        return probabilities(self.head, self.predict_logits(texts, batch_size))

    def torch_probabilities(self, input_ids, attention_mask):
        """This head's probabilities as a differentiable tensor of the PyTorch model
        (a ``MultiTaskModel``'s ``task_logits``, else the model's ``.logits``)."""
        import torch

        if hasattr(self.model, "task_logits"):
            logits = self.model.task_logits(input_ids, attention_mask)[self.head.name]
        else:
            logits = self.model(
                input_ids=input_ids, attention_mask=attention_mask
            ).logits
        if self.head.kind == MULTI:
            return torch.sigmoid(logits.float())
        return torch.softmax(logits.float(), dim=-1)

    def input_embeddings(self):
        """The PyTorch model's input-embedding layer (a ``MultiTaskModel``'s encoder's)."""
        encoder = getattr(self.model, "encoder", None)
        if hasattr(self.model, "task_logits") and encoder is not None:
            return encoder.get_input_embeddings()
        return self.model.get_input_embeddings()
