"""Ways to make a training step faster on a GPU without changing what it computes, each a ``TrainConfig`` option:

* ``--channels-last``: the network's weights (and so its activations) in NHWC memory order, which cuDNN's
  convolution and GroupNorm kernels prefer on tensor-core GPUs;
* ``--compile MODE``: ``torch.compile`` of the network (``default``: fused kernels; ``reduce-overhead``: the same,
  replayed as CUDA graphs, so one launch replaces hundreds: the small model at batch 1,024 was bound by launches);
* ``--fused-adamw``: AdamW's update as one fused kernel over all parameters instead of a loop of small ones;
* bf16 autocast on CUDA (on unless ``--no-bf16``): the network's matrix products in bfloat16.

The loss, the draws and the update are the same with any of them; compiled and plain networks agree within float
rounding (``tests/test_training_speed.py`` states the tolerance). Whether each helps is a measurement:
``train/gpu_run.py``'s batch timing times the step with each switch added in turn and keeps only those that help.
"""

from __future__ import annotations

import torch

COMPILE_MODES = ("none", "default", "reduce-overhead")
SWITCHES = ("bf16", "channels_last", "fused_adamw", "compile")  # the order gpu_run.py adds them in


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


def compile_network(module: torch.nn.Module, mode: str) -> torch.nn.Module:
    """``module`` compiled with ``torch.compile`` in ``mode`` ('none': ``module`` itself). The batch shape is fixed
    in a run, so the graph is compiled for static shapes (no recompiles, and CUDA graphs can replay it)."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode {mode!r} is not one of {COMPILE_MODES}")
    if mode == "none":
        return module
    return torch.compile(module, mode=None if mode == "default" else mode, dynamic=False)


def prepare_network(model: torch.nn.Module, *, channels_last: bool, compile_mode: str,
                    wrap=lambda module: module) -> torch.nn.Module:
    """The module the loss runs through: ``model`` (its parameters moved to channels-last memory in place when
    asked), wrapped by ``wrap`` (DistributedDataParallel under torchrun), then compiled when asked. ``model`` itself
    stays the plain module: its state_dict, the EMA and the checkpoints see no wrapper."""
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return compile_network(wrap(model), compile_mode)


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float, fused: bool) -> torch.optim.Optimizer:
    """AdamW; ``fused``: one fused kernel for the whole update (else torch's default, the multi-tensor loop)."""
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True if fused else None)


def autocast_for(device: torch.device, bf16: bool):
    """bf16 autocast on CUDA when asked; None (fp32) otherwise: on a CPU bf16 autocast is slower, not faster."""
    return torch.bfloat16 if (device.type == "cuda" and bf16) else None
