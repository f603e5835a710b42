"""Speed switches of a training step (galaxy_explorer.training.speed) change how it runs, not what it computes:
channels-last, fused AdamW, the multi-tensor EMA and torch.compile agree with the plain step within float rounding;
and the batch timing keeps a switch only when it measured faster (galaxy_explorer.training.step_timing)."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from galaxy_explorer.diffusion.unet import ConditionalUNet, preset_config
from galaxy_explorer.training import step_timing
from galaxy_explorer.training.config import TrainConfig
from galaxy_explorer.training.diffusion import train, update_ema
from galaxy_explorer.training.speed import compile_network, make_optimizer, prepare_network

# fp32 sums in another order (NHWC kernels, fused updates, generated code): agreement to a few float32 ulps of the
# outputs' scale (~1), far below anything training could notice.
TOLERANCE = dict(rtol=1e-4, atol=1e-5)


def tiny_inputs(batch: int = 4, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 5, 64, 64, generator=generator)
    timesteps = torch.randint(0, 1000, (batch,), generator=generator)
    conditions = 4 * torch.rand(batch, 1, generator=generator)
    return x, timesteps, conditions


def assert_same_gradients(plain: torch.nn.Module, other: torch.nn.Module) -> None:
    """Gradients within 1e-3 relative (a sum over a batch and 4,096 pixels in another order); the null condition
    embedding, unused without dropout, has none in either."""
    for (name, a), b in zip(plain.named_parameters(), other.parameters()):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:
            assert torch.allclose(a.grad, b.grad, rtol=1e-3, atol=1e-6), name


def tiny_model(seed: int = 0) -> ConditionalUNet:
    torch.manual_seed(seed)
    return ConditionalUNet(preset_config("tiny"))


def test_channels_last_gives_the_plain_outputs_and_gradients():
    plain = tiny_model()
    turned = prepare_network(copy.deepcopy(plain), channels_last=True, compile_mode="none")
    assert turned.input_conv.weight.is_contiguous(memory_format=torch.channels_last)
    x, t, c = tiny_inputs()
    out_plain, out_nhwc = plain(x, t, c), turned(x.contiguous(memory_format=torch.channels_last), t, c)
    assert torch.allclose(out_plain, out_nhwc, **TOLERANCE)
    out_plain.square().mean().backward()
    out_nhwc.square().mean().backward()
    assert_same_gradients(plain, turned)


def test_fused_adamw_takes_the_plain_step():
    models = [tiny_model(), tiny_model()]
    optimizers = [make_optimizer(models[0], 1e-3, 0.01, fused=False), make_optimizer(models[1], 1e-3, 0.01, fused=True)]
    assert optimizers[1].param_groups[0]["fused"] is True
    x, t, c = tiny_inputs()
    for _ in range(3):
        for model, optimizer in zip(models, optimizers):
            optimizer.zero_grad()
            model(x, t, c).square().mean().backward()
            optimizer.step()
    # Adam divides by sqrt(v): for a near-zero gradient a rounding difference moves the step by a share of lr;
    # within 1e-6 (a thousandth of one step at lr 1e-3) over three steps.
    for (name, a), b in zip(models[0].named_parameters(), models[1].parameters()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), name


def test_the_ema_is_one_multi_tensor_lerp_equal_to_the_loop():
    ema, model = tiny_model(0), tiny_model(1)
    expected = [e.detach() + 0.3 * (p.detach() - e.detach()) for e, p in zip(ema.parameters(), model.parameters())]
    update_ema(ema, model, 0.7)
    for got, want in zip(ema.parameters(), expected):
        assert torch.allclose(got, want, rtol=0, atol=1e-7)


def test_a_traced_network_gives_the_plain_outputs_and_gradients():
    # torch.compile's graph capture (dynamo + AOT autograd, no code generation: seconds on a CPU) of the UNet,
    # forward and backward; the generated-code path is the slow test below.
    plain = tiny_model()
    traced = torch.compile(copy.deepcopy(plain), backend="aot_eager", dynamic=False)
    x, t, c = tiny_inputs()
    out_plain, out_traced = plain(x, t, c), traced(x, t, c)
    assert torch.allclose(out_plain, out_traced, **TOLERANCE)
    out_plain.square().mean().backward()
    out_traced.square().mean().backward()
    assert_same_gradients(plain, traced)


def inductor_available() -> str:
    try:
        from torch._inductor import cpp_builder  # noqa: F401  (the CPU backend compiles C++)
    except ImportError as exc:
        return f"torch.compile's inductor backend is not importable here ({exc})"
    import shutil

    return "" if shutil.which("g++") or shutil.which("c++") else "no C++ compiler for inductor's CPU code"


@pytest.mark.slow  # inductor's first compile of the tiny UNet: ~45 s on 2 cores (seconds once cached)
@pytest.mark.skipif(bool(inductor_available()), reason=inductor_available() or "available")
def test_the_compiled_network_gives_the_plain_outputs():
    plain = tiny_model()
    compiled = compile_network(copy.deepcopy(plain), "default")
    x, t, c = tiny_inputs()
    with torch.no_grad():
        assert torch.allclose(plain(x, t, c), compiled(x, t, c), **TOLERANCE)


def test_a_run_resumes_with_other_switches_and_keeps_its_own(tmp_path):
    settings = dict(out_dir=tmp_path / "run", preset="tiny", batch_size=2, checkpoint_every=2, sample_every=0,
                    log_every=2, normalization_sample=16, progress_bar=False)
    train(TrainConfig(steps=2, **settings))
    def stored_group():
        return json.loads((tmp_path / "run" / "training_state.json").read_text())["optimizer"]["param_groups"][0]

    assert stored_group()["fused"] is None
    result = train(TrainConfig(steps=4, resume=True, channels_last=True, fused_adamw=True, **settings))
    assert result.step == 4 and stored_group()["fused"] is True  # this run's update, not the stored run's


def fake_rates(rates: dict):
    """step_timing.step_rate replaced by fixed rates for the switches a trial has on."""
    def step_rate(config, run, network, clean, conditions, seconds, device, warmup=1):
        on = tuple(name for name in step_timing.SWITCHES if getattr(config, name) != step_timing.PLAIN[name])
        if on in rates and rates[on] is None:
            raise RuntimeError("no compiler")
        return rates[on]
    return step_rate


def test_a_switch_is_kept_only_when_the_step_measured_faster_with_it(monkeypatch):
    monkeypatch.setattr(step_timing, "_fixed_batch", lambda config, normalization, device: (None, None))
    monkeypatch.setattr(step_timing, "timing_run", lambda *args: (None, None))
    monkeypatch.setattr(step_timing, "step_rate", fake_rates({
        (): 100.0, ("channels_last",): 101.0, ("fused_adamw",): 130.0, ("fused_adamw", "compile"): None}))
    config = TrainConfig(out_dir="unused", bf16=False, channels_last=True, fused_adamw=True, compile="default")
    lines = []
    kept, variants = step_timing.time_switches(config, None, None, None, torch.device("cuda"), 1.0, say=lines.append)
    assert kept == {"bf16": False, "channels_last": False, "fused_adamw": True, "compile": "none"}
    assert [v["kept"] for v in variants] == [True, False, True, False]
    assert "failed" in variants[-1]["note"] and any("not kept" in line for line in lines)


def test_on_a_cpu_bf16_and_compile_are_not_timed_and_not_kept(monkeypatch):
    monkeypatch.setattr(step_timing, "_fixed_batch", lambda config, normalization, device: (None, None))
    monkeypatch.setattr(step_timing, "timing_run", lambda *args: (None, None))
    monkeypatch.setattr(step_timing, "step_rate", fake_rates({(): 10.0}))
    config = TrainConfig(out_dir="unused", compile="reduce-overhead")
    kept, variants = step_timing.time_switches(config, None, None, None, torch.device("cpu"), 1.0, say=lambda _: None)
    assert kept["bf16"] is False and kept["compile"] == "none"
    assert {v["switch"]: v["note"] for v in variants[1:]}.keys() == {"bf16", "compile"}


def test_the_parts_of_a_step_together_are_slower_than_each_alone():
    parts = step_timing.StepParts(1024, render=4558.0, step=20000.0, draw=100000.0, reuse=8.0)
    assert parts.together == pytest.approx(1 / (1 / (8 * 4558) + 1 / 100000 + 1 / 20000))
    assert parts.together < min(parts.step, parts.draw, 8 * parts.render)
    # Rendering every batch, as the last GPU sessions did, bounds a step by the renderer.
    assert step_timing.StepParts(1024, render=4558.0, step=20000.0).together < 4558.0


@pytest.mark.slow  # two compiles of the tiny UNet's forward and backward: 1-3 minutes on 2 cores
@pytest.mark.skipif(bool(inductor_available()), reason=inductor_available() or "available")
def test_a_compiled_run_trains_the_weights_an_eager_run_does(tmp_path):
    from safetensors.torch import load_file

    settings = dict(preset="tiny", steps=3, batch_size=4, checkpoint_every=3, sample_every=0, log_every=1,
                    normalization_sample=16, progress_bar=False, channels_last=True, fused_adamw=True)
    train(TrainConfig(out_dir=tmp_path / "eager", **settings))
    train(TrainConfig(out_dir=tmp_path / "compiled", compile="reduce-overhead", **settings))
    eager, compiled = (load_file(tmp_path / name / "model.safetensors") for name in ("eager", "compiled"))
    assert eager.keys() == compiled.keys()  # the plain module is saved, not the compiled wrapper
    for name in eager:
        assert torch.allclose(eager[name], compiled[name], rtol=0, atol=1e-6), name  # measured: 2e-7
