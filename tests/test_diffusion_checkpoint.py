"""Diffusion checkpoints: one safetensors file with the JSON description in its header (a readable .json copy
beside it), loaded without unpickling; malformed ones refused by name; old two-file checkpoints still load."""

import json
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from galaxy_explorer.diffusion import Generator
from galaxy_explorer.diffusion.model_io import load_diffusion_checkpoint
from galaxy_explorer.diffusion.prediction import make_eps_function
from galaxy_explorer.diffusion.samplers import DEFAULT_DENOISE_STEP, run_sampler
from galaxy_explorer.diffusion.testing import make_tiny_checkpoint
from galaxy_explorer.diffusion.unet import ConditionalUNet, UNetConfig
from galaxy_explorer.data.checkpoint import HEADER_KEY, load_metadata, save_checkpoint
from galaxy_explorer.errors import CheckpointError


@pytest.fixture
def checkpoint(tmp_path):
    return make_tiny_checkpoint(tmp_path / "model.safetensors", seed=3)


def edit_description(path, change):
    """Rewrite the checkpoint with a changed description (header and .json copy alike)."""
    document = load_metadata(path)
    change(document)
    save_checkpoint(path, load_file(path), document)


def as_two_file_checkpoint(path):
    """The format before the description moved into the header: weights only, description in the .json."""
    save_file(load_file(path), path)


def test_description_holds_everything_needed_to_use_the_weights(checkpoint):
    document = json.loads(checkpoint.with_suffix(".json").read_text())
    for key in ("architecture", "conditions", "normalization", "schedule", "data", "training", "prediction", "bands"):
        assert key in document, key
    assert document["conditions"]["names"] == ["redshift"]
    assert document["conditions"]["training_ranges"] == {"redshift": [0.0, 4.0]}
    assert document["schedule"] == {"kind": "linear", "num_steps": 1000, "beta_start": 0.0001, "beta_end": 0.02}
    assert document["training"] == {"step": 0, "images_seen": 0}


def test_same_seed_writes_the_same_weights(tmp_path):
    a = load_file(make_tiny_checkpoint(tmp_path / "a.safetensors", seed=5))
    b = load_file(make_tiny_checkpoint(tmp_path / "b.safetensors", seed=5))
    c = load_file(make_tiny_checkpoint(tmp_path / "c.safetensors", seed=6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_save_load_sample_is_identical_to_sampling_the_network_in_memory(checkpoint):
    loaded = load_diffusion_checkpoint(checkpoint)
    config = UNetConfig.from_dict(json.loads(checkpoint.with_suffix(".json").read_text())["architecture"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)  # the seed make_tiny_checkpoint initialised the network with
        in_memory = ConditionalUNet(config).eval()
    x_T = torch.randn((1, 5, 64, 64), generator=torch.Generator().manual_seed(9))
    conditions = torch.tensor([[1.5]])
    with torch.inference_mode():
        direct = run_sampler("dpmpp2m", make_eps_function(in_memory, loaded.schedule, "v", conditions),
                             loaded.schedule, x_T, 6, denoise_step=DEFAULT_DENOISE_STEP)  # the generator's default
    through_file = Generator.load(checkpoint).frames(9, [1.5], steps=6)
    assert np.array_equal(loaded.normalization.to_flux(direct).numpy(), through_file)


def test_pickle_based_checkpoints_are_refused(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weights": 1}))
    with pytest.raises(CheckpointError, match="pickle"):
        Generator.load(path)


def test_a_pickle_disguised_as_safetensors_is_not_unpickled(checkpoint):
    checkpoint.write_bytes(pickle.dumps({"weights": torch.zeros(3)}))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        Generator.load(checkpoint)



def test_any_other_file_named_safetensors_is_refused_with_its_name(checkpoint):
    # A text file's first 8 bytes read as a header length of ~10**19: refused before reading, not a MemoryError.
    checkpoint.write_text("not a model\n")
    with pytest.raises(CheckpointError, match=f"{checkpoint.name}: not a readable safetensors file.*the file holds"):
        Generator.load(checkpoint)

def test_a_missing_tensor_is_named(checkpoint):
    tensors = load_file(checkpoint)
    del tensors["output_conv.weight"]
    save_file(tensors, checkpoint)
    with pytest.raises(CheckpointError, match="output_conv.weight"):
        Generator.load(checkpoint)


def test_a_mis_shaped_tensor_is_named(checkpoint):
    tensors = load_file(checkpoint)
    tensors["input_conv.bias"] = torch.zeros(3)
    save_file(tensors, checkpoint)
    with pytest.raises(CheckpointError, match=r"input_conv.bias.*shape"):
        Generator.load(checkpoint)


def test_non_finite_weights_are_refused(checkpoint):
    tensors = load_file(checkpoint)
    tensors["input_conv.bias"][0] = float("nan")
    save_file(tensors, checkpoint)
    with pytest.raises(CheckpointError, match="input_conv.bias.*NaN"):
        Generator.load(checkpoint)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("architecture"), "'architecture'"),
    (lambda d: d.pop("normalization"), "'normalization'"),
    (lambda d: d.update(model="redshift-cnn"), "not a diffusion checkpoint"),
    (lambda d: d.update(prediction="x0"), "'prediction'"),
    (lambda d: d["schedule"].update(kind="sigmoid"), "'kind'"),
    (lambda d: d["architecture"].update(wings=2), "'wings'"),
    (lambda d: d["architecture"].update(base_channels=12), "shape"),
    (lambda d: d["normalization"].pop("scale"), "'scale'"),
    (lambda d: d.update(bands=["g", "r"]), "'bands'"),
])
def test_malformed_descriptions_are_refused_naming_the_key(checkpoint, change, message):
    edit_description(checkpoint, change)
    with pytest.raises(CheckpointError, match=message):
        Generator.load(checkpoint)


def test_the_description_lives_in_the_safetensors_header(checkpoint):
    from safetensors import safe_open

    with safe_open(str(checkpoint), framework="pt") as handle:
        header = json.loads(handle.metadata()[HEADER_KEY])
    assert header == json.loads(checkpoint.with_suffix(".json").read_text())
    checkpoint.with_suffix(".json").unlink()  # the copy is only for reading: the checkpoint is one file
    assert Generator.load(checkpoint).metadata == header


def test_a_json_copy_that_disagrees_with_the_header_is_refused(checkpoint):
    """What a crash between the weights' rename and the copy's used to leave: step-60 weights, step-40 JSON."""
    json_path = checkpoint.with_suffix(".json")
    document = json.loads(json_path.read_text())
    document["training"]["step"] = 40
    json_path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match=r"model.json: disagrees .*model.safetensors.*'training'"):
        Generator.load(checkpoint)


def test_a_two_file_checkpoint_still_loads_and_needs_its_json(checkpoint):
    expected = Generator.load(checkpoint).frames(1, [1.0], steps=2)
    as_two_file_checkpoint(checkpoint)
    assert np.array_equal(Generator.load(checkpoint).frames(1, [1.0], steps=2), expected)
    checkpoint.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="model.json.*description not found"):
        Generator.load(checkpoint)


def test_a_checkpoint_read_while_a_save_replaces_it_is_one_whole_version(tmp_path):
    """A training run saves every few steps while the app or a command may read the same file. Each read gets
    one complete version, never one version's header with the next one's tensors (safetensors' own safe_open
    failed ~4% of such reads here)."""
    import os
    import shutil
    import threading

    versions = []
    for step, note in ((1, "short"), (2, "a description long enough to change the header's length " * 4)):
        path = save_checkpoint(tmp_path / f"v{step}.safetensors", {"w": torch.full((256,), float(step))},
                               {"training": {"step": step}, "note": note})
        versions.append(path)
    final = tmp_path / "model.safetensors"
    shutil.copy(versions[0], final)
    shutil.copy(versions[0].with_suffix(".json"), final.with_suffix(".json"))
    stop = threading.Event()

    def keep_saving() -> None:  # what a training run does, as fast as it can: the weights renamed into place
        i = 0
        while not stop.is_set():
            source = versions[i % 2]
            shutil.copy(source, tmp_path / ".model.partial.safetensors")
            os.replace(tmp_path / ".model.partial.safetensors", final)
            i += 1

    saver = threading.Thread(target=keep_saving)
    saver.start()
    try:
        for _ in range(2000):
            tensors = read_weights_and_header(final)
            assert tensors["w"][0].item() in (1.0, 2.0) and bool((tensors["w"] == tensors["w"][0]).all())
    finally:
        stop.set()
        saver.join()


def read_weights_and_header(path):
    """The tensors, checked to come from the same save as the header read with them."""
    from galaxy_explorer.data.checkpoint import _read_safetensors

    header, tensors = _read_safetensors(path, "cpu")
    assert tensors["w"][0].item() == json.loads(header)["training"]["step"]
    return tensors


def test_float16_weights_halve_the_file_and_load_back_as_float32_within_float16_rounding(tmp_path):
    from galaxy_explorer.diffusion.model_io import save_diffusion_checkpoint

    full = load_diffusion_checkpoint(make_tiny_checkpoint(tmp_path / "full.safetensors", seed=4))
    half_path = save_diffusion_checkpoint(tmp_path / "half.safetensors", full.model,
                                          {k: v for k, v in full.metadata.items()
                                           if k not in ("format", "format_version", "weights_dtype")},
                                          weights_dtype="float16")
    assert load_file(half_path)["input_conv.weight"].dtype == torch.float16
    assert load_metadata(half_path)["weights_dtype"] == "float16"
    header = len(half_path.read_bytes()) - 2 * sum(p.numel() for p in full.model.parameters())
    assert half_path.stat().st_size <= full.path.stat().st_size / 2 + header
    half = load_diffusion_checkpoint(half_path)
    for (name, a), b in zip(full.model.named_parameters(), half.model.parameters()):
        assert b.dtype == torch.float32
        assert torch.allclose(a, b, rtol=2 ** -11, atol=1e-7), name  # float16 keeps 11 significant bits
    x = torch.randn(2, 5, 64, 64, generator=torch.Generator().manual_seed(0))
    t, c = torch.tensor([100, 800]), torch.tensor([[0.5], [2.5]])
    reference = full.model(x, t, c)
    assert (half.model(x, t, c) - reference).abs().max() <= 1e-2 * reference.abs().max()


def test_float16_refuses_weights_beyond_its_range(tmp_path):
    from galaxy_explorer.diffusion.model_io import save_diffusion_checkpoint

    loaded = load_diffusion_checkpoint(make_tiny_checkpoint(tmp_path / "full.safetensors", seed=4))
    with torch.no_grad():
        loaded.model.output_conv.bias[0] = 1e5
    with pytest.raises(CheckpointError, match="'output_conv.bias' holds values beyond float16's range"):
        save_diffusion_checkpoint(tmp_path / "half.safetensors", loaded.model, loaded.metadata, weights_dtype="float16")
