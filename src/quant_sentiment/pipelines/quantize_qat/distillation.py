"""Knowledge distillation from the FP32 model for QAT: the ``distillation`` loss.

The teacher runs beside the student through a forward hook (:func:`attach_teacher`)
that adds ``teacher_logits`` to the student's outputs in training mode; the loss
registered here as ``distillation`` in :mod:`quant_sentiment.training` mixes

``alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * label``

(Hinton et al. 2015), where ``label`` is the configured label loss (cross-entropy or
focal, class weights as configured). In evaluation mode there are no teacher logits
and the loss is the label loss alone, so ``eval_loss`` stays comparable with
``finetune``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from transformers.modeling_outputs import SequenceClassifierOutput

from quant_sentiment.training import make_loss, register_loss

TEACHER_KEY = "teacher_logits"


@dataclass
class DistilledOutput(SequenceClassifierOutput):
    """A classifier's output with the teacher's logits (training only)."""

    teacher_logits: torch.FloatTensor | None = None


@register_loss("distillation")
def distillation_loss(cfg: dict[str, Any], weights) -> Callable:
    """``compute_loss_func`` of the ``distillation`` kind.

    Args:
        cfg: ``temperature``, ``alpha`` (weight of the KL term, 0..1) and ``label``
            (the label loss block: ``kind``, ``focal_gamma``, ...).
        weights: Per-class weights of the label loss, or ``None``.
    """
    import torch.nn.functional as F

    temperature, alpha = float(cfg["temperature"]), float(cfg["alpha"])
    label_loss = make_loss(cfg["label"], weights, "quantize_qat.loss.kind")

    def label_term(outputs, labels, num_items_in_batch=None):
        if label_loss is not None:
            return label_loss(outputs, labels, num_items_in_batch)
        return F.cross_entropy(outputs["logits"].float(), labels)

    def loss_func(outputs, labels, num_items_in_batch=None):
        hard = label_term(outputs, labels, num_items_in_batch)
        teacher = outputs.get(TEACHER_KEY)
        if teacher is None or alpha == 0:
            return hard
        student = outputs["logits"].float() / temperature
        soft = F.kl_div(
            F.log_softmax(student, dim=-1),
            F.log_softmax(teacher.float() / temperature, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
        return alpha * temperature**2 * soft + (1 - alpha) * hard

    return loss_func


def attach_teacher(student, teacher):
    """Run ``teacher`` (frozen, no grad) on the student's inputs while it trains.

    The teacher is held by the hook, not registered as a sub-module, so it is
    neither trained nor saved in checkpoints. Returns the hook handle
    (``handle.remove()`` detaches it).
    """
    teacher.eval().requires_grad_(False)

    def hook(module, args, kwargs, output):
        if not module.training:
            return output
        inputs = {k: v for k, v in kwargs.items() if k != "labels"}
        device = next(module.parameters()).device
        with torch.no_grad():
            teacher_logits = teacher.to(device)(*args, **inputs).logits
        return with_teacher(output, teacher_logits)

    return student.register_forward_hook(hook, with_kwargs=True)


def with_teacher(output, teacher_logits):
    """The student's ``SequenceClassifierOutput`` plus ``teacher_logits``, as an
    output type that declares the field: under DDP (``torchrun``) the wrapper rebuilds
    a model's outputs from their declared fields (transformers registers each
    ``ModelOutput`` type as a pytree node), so a key added to the plain output fails
    there with ``unexpected keyword argument 'teacher_logits'``."""
    return DistilledOutput(**dict(output.items()), teacher_logits=teacher_logits)


def multitask_soft_loss(student: dict, teacher: dict, tasks, weights, temperature):
    """``sum_t w_t KL_t`` over the heads, on every row (the teacher labels the rows
    a task masks too): softmax KL (``batchmean``) for a single_label head, the
    Bernoulli KL per class (mean over rows and classes, as the head's binary
    cross-entropy) for a multi_label head; ``w_t`` the model's loss weights."""
    import torch
    import torch.nn.functional as F

    from quant_sentiment.tasks import SINGLE

    total = 0.0
    for task in tasks:
        name = task["name"]
        s, t = student[name].float() / temperature, teacher[name].float() / temperature
        if task["kind"] == SINGLE:
            kl = F.kl_div(
                F.log_softmax(s, dim=-1),
                F.log_softmax(t, dim=-1),
                reduction="batchmean",
                log_target=True,
            )
        else:
            p = torch.sigmoid(t)
            kl = (
                p * (F.logsigmoid(t) - F.logsigmoid(s))
                + (1 - p) * (F.logsigmoid(-t) - F.logsigmoid(-s))
            ).mean()
        total = total + float(weights[name]) * kl
    return total


def attach_multitask_teacher(student, teacher, temperature: float, alpha: float):
    """The multi-task form of :func:`attach_teacher`: in training mode the hook
    replaces the student's own loss (every head's masked, weighted loss,
    :class:`~quant_sentiment.multitask.MultiTaskModel`) by

    ``alpha * T^2 * sum_t w_t KL_t(teacher || student) + (1 - alpha) * own loss``

    (:func:`multitask_soft_loss`; ``w_t`` the student's current loss weights, held
    constant). In evaluation mode the loss is the model's own, as in
    ``finetune``. Returns the hook handle.
    """
    import torch

    teacher.eval().requires_grad_(False)
    tasks = [dict(t) for t in student.config.tasks]
    temperature, alpha = float(temperature), float(alpha)

    def hook(module, args, kwargs, output):
        if not module.training or "loss" not in output or alpha == 0:
            return output
        inputs = {
            k: kwargs.get(k) for k in ("input_ids", "attention_mask", "token_type_ids")
        }
        device = next(module.parameters()).device
        with torch.no_grad():
            target = teacher.to(device).task_logits(**inputs)
        heads = {t["name"]: output[f"logits__{t['name']}"] for t in tasks}
        soft = multitask_soft_loss(
            heads, target, tasks, module.loss_weights(), temperature
        )
        output["loss"] = alpha * temperature**2 * soft + (1 - alpha) * output["loss"]
        return output

    return student.register_forward_hook(hook, with_kwargs=True)
