"""Speed of the diffusion model: forward latency, frames/s per sampler and step count, the app's exact frame and
64-frame bake against its targets, training images/s, and the parts of a training step (rendering, pool draws,
the step) with and without a pool of rendered stamps.

Prints medians of repeats, on the CPU and, when present, on CUDA. Random weights run exactly as fast as trained
ones, so no checkpoint is needed (pass --checkpoint to time a specific one).

    python benchmarks/bench_diffusion.py                          # small preset, CPU (+ CUDA if present)
    python benchmarks/bench_diffusion.py --presets tiny small medium base --threads 2
    python benchmarks/bench_diffusion.py --presets small medium --threads 1 --only app    # the app's targets
    python benchmarks/bench_diffusion.py --presets small --only parts --train-batch 32     # pool path vs rendering
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from galaxy_explorer.diffusion.generator import Generator
from galaxy_explorer.diffusion.model_io import checkpoint_metadata, save_diffusion_checkpoint
from galaxy_explorer.diffusion.schedule import make_schedule
from galaxy_explorer.diffusion.testing import toy_stamps
from galaxy_explorer.diffusion.unet import PRESETS, ConditionalUNet, count_parameters, preset_config
from galaxy_explorer.data.normalization import Normalization
from galaxy_explorer.training.diffusion import diffusion_loss


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(function, device, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        function()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def random_checkpoint(preset: str, directory: Path) -> Path:
    config = preset_config(preset)
    torch.manual_seed(0)
    model = ConditionalUNet(config)
    metadata = checkpoint_metadata(config, make_schedule(), Normalization.fit(toy_stamps(32)), preset=preset,
                                   data={"source": "toy", "description": "benchmark: random weights"},
                                   training={"step": 0, "images_seen": 0})
    return save_diffusion_checkpoint(directory / f"bench-{preset}.safetensors", model, metadata)


def bench_forward(generator: Generator, device, repeats: int) -> None:
    model = generator.model
    for batch in (1, 8):
        x = torch.randn(batch, 5, 64, 64, device=device)
        t = torch.full((batch,), 500, device=device)
        c = torch.full((batch, len(generator.condition_names)), 1.0, device=device)
        with torch.inference_mode():
            seconds = median_seconds(lambda: model(x, t, c), device, repeats)
        print(f"  forward  batch {batch}: {seconds * 1e3:8.1f} ms   ({batch / seconds:7.1f} images/s)")


def bench_frames(generator: Generator, device, sampler_steps, repeats: int, batch: int) -> None:
    redshifts = [0.2 + 3.0 * k / max(batch - 1, 1) for k in range(batch)]
    for sampler, steps in sampler_steps:
        seconds = median_seconds(lambda: generator.frames(0, redshifts, sampler=sampler, steps=steps, batch_size=batch),
                                 device, repeats, warmup=1)
        print(f"  frames   {sampler:8s} {steps:4d} steps, batch {batch}: {batch / seconds:8.2f} frames/s "
              f"({seconds / batch * 1e3:8.1f} ms/frame)")


def bench_training(preset: str, device, batch: int, repeats: int) -> None:
    torch.manual_seed(0)
    model = ConditionalUNet(preset_config(preset)).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    schedule = make_schedule()
    clean = torch.randn(batch, 5, 64, 64, device=device).clamp_min(-1)
    conditions = torch.rand(batch, 1, device=device) * 4
    autocast = torch.bfloat16 if device.type == "cuda" else None

    def step():
        loss = diffusion_loss(model, schedule, "v", clean, conditions, torch.Generator(device).manual_seed(0),
                              redshift_noise=0.01, condition_dropout=0.0, huber_delta=1.0, autocast_dtype=autocast)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    seconds = median_seconds(step, device, repeats)
    print(f"  training batch {batch}{' (bf16 autocast)' if autocast else ''}: {batch / seconds:8.1f} images/s "
          f"(network step only)")
    if device.type == "cpu":
        from galaxy_explorer.synthetic import SyntheticSurvey

        survey = SyntheticSurvey(0)
        seconds = median_seconds(lambda: survey.sample(batch), device, repeats)
        print(f"  synthetic survey: {batch / seconds:8.1f} images/s generated on the fly (adds to each step)")


APP_STEPS, BAKE_FRAMES, BAKE_BATCH = 20, 64, 8  # the app: DPM++(2M) 20 steps; a 64-frame grid baked 8 at a time


def bench_app_targets(generator: Generator, device, repeats: int) -> None:
    """The app's model work against its targets: one exact frame (batch 1) <= 1 s, the 64-frame bake <= 30 s.
    (Dragging the slider shows frames already baked, so it does not run the model.)"""
    frame = median_seconds(lambda: generator.frames(0, [1.0], sampler="dpmpp2m", steps=APP_STEPS, batch_size=1),
                           device, repeats, warmup=1)
    redshifts = [0.2 + 3.0 * k / (BAKE_BATCH - 1) for k in range(BAKE_BATCH)]
    batch = median_seconds(lambda: generator.frames(0, redshifts, sampler="dpmpp2m", steps=APP_STEPS,
                                                    batch_size=BAKE_BATCH), device, max(1, repeats // 2), warmup=1)
    print(f"  app      exact frame (DPM++ {APP_STEPS} steps, batch 1): {frame:6.2f} s (target <= 1 s); "
          f"{BAKE_FRAMES}-frame bake at batch {BAKE_BATCH}: {batch * BAKE_FRAMES / BAKE_BATCH:6.1f} s (target <= 30 s)")


def bench_step_parts(preset: str, device, batch: int, seconds: float) -> None:
    """Images/s of rendering, of pool draws (with the rot90 turns) and of the training step alone, at ``batch``;
    and what they give together, rendering every batch and from a pool of 16 batches drawn 4 times each."""
    from galaxy_explorer.training.config import TrainConfig
    from galaxy_explorer.training.step_timing import time_parts

    torch.manual_seed(0)
    network = ConditionalUNet(preset_config(preset)).to(device)
    normalization = Normalization.fit(toy_stamps(64))
    for pool in (False, True):
        options = dict(pool_size=16 * batch, pool_reuse=4.0, pool_refresh_every=16, augment="rot90") if pool else {}
        config = TrainConfig(out_dir="unused", preset=preset, batch_size=batch, **options)
        parts = time_parts(config, network, make_schedule(), normalization, device, seconds)
        drawn = f", pool draws {parts.draw:9.0f}" if pool else ""
        print(f"  parts    batch {batch}, {'pool (reuse 4, rot90)' if pool else 'rendered every batch'}: rendering "
              f"{parts.render:7.0f}{drawn}, step {parts.step:7.1f} -> {parts.together:7.1f} images/s together")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["small"], choices=list(PRESETS))
    parser.add_argument("--only", choices=["app", "parts"], default=None,
                        help="only the app's targets, or only the parts of a training step (default: everything)")
    parser.add_argument("--parts-seconds", type=float, default=6.0, help="time for the parts of a step, each preset")
    parser.add_argument("--checkpoint", default=None, help="time this checkpoint instead of random presets")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when present")
    parser.add_argument("--train-batch", type=int, default=32)
    parser.add_argument("--ddpm-1000", action="store_true", help="also time 1000-step ancestral DDPM (slow on CPU)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    sampler_steps = [("dpmpp2m", 10), ("dpmpp2m", 20), ("ddim", 20), ("ddim", 50), ("ddpm", 50)]
    if args.ddpm_1000:
        sampler_steps.append(("ddpm", 1000))
    with tempfile.TemporaryDirectory() as scratch:
        targets = [("checkpoint", Path(args.checkpoint))] if args.checkpoint else \
            [(preset, random_checkpoint(preset, Path(scratch))) for preset in args.presets]
        for device_name in devices:
            device = torch.device(device_name)
            threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else \
                f", {torch.cuda.get_device_name(device)}"
            for label, path in targets:
                generator = Generator.load(path, device=device)
                print(f"{label} ({count_parameters(generator.model) / 1e6:.2f}M parameters) on {device_name}{threads}:")
                repeats = args.repeats if device.type == "cuda" or label != "base" else max(3, args.repeats // 3)
                preset = generator.metadata.get("preset", "small")
                if args.only == "app":
                    bench_forward(generator, device, repeats)
                    bench_app_targets(generator, device, max(3, repeats // 3))
                    continue
                if args.only == "parts":
                    bench_step_parts(preset, device, args.train_batch, args.parts_seconds)
                    continue
                bench_forward(generator, device, repeats)
                bench_frames(generator, device, sampler_steps, max(1, repeats // 5), batch=1)
                bench_frames(generator, device, [("dpmpp2m", 20)], max(1, repeats // 5), batch=8)
                bench_app_targets(generator, device, max(3, repeats // 3))
                bench_training(preset, device, args.train_batch, max(3, repeats // 3))
                bench_step_parts(preset, device, args.train_batch, args.parts_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
