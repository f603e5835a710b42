"""Normalization: an invertible, robust per-band asinh map from survey flux to model space."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.data.normalization import Normalization, NormalizationError
from galaxy_explorer.diffusion.testing import toy_stamps

SKY_SIGMA = 0.05  # toy_stamps' sky noise


@pytest.fixture(scope="module")
def images():
    return toy_stamps(200, seed=0)


@pytest.fixture(scope="module")
def fitted(images):
    return Normalization.fit(images)


def test_fit_finds_the_sky_noise_and_maps_bright_light_near_one(images, fitted):
    np.testing.assert_allclose(fitted.softening, SKY_SIGMA, rtol=0.05)
    x = fitted.to_model(images)
    assert np.percentile(x, 99.9) == pytest.approx(1.0, abs=0.05)
    corner = x[:, :, :8, :8]
    assert abs(np.median(corner)) < 0.01  # sky sits near 0, in asinh's linear regime:
    sky_spread = corner.std(axis=(0, 2, 3)) * np.array(fitted.scale)  # std(asinh(N(0,1))) is 0.84
    np.testing.assert_allclose(sky_spread, 0.84, rtol=0.1)
    assert x.min() >= -1.0 and x.max() < 3.0


def test_round_trip_is_exact_for_numpy_and_torch(images, fitted):
    x = fitted.to_model(images)
    assert isinstance(x, np.ndarray) and x.dtype == np.float32
    np.testing.assert_allclose(fitted.to_flux(x), images, rtol=1e-5, atol=1e-6)
    tensor = torch.from_numpy(images[:4])
    xt = fitted.to_model(tensor)
    assert isinstance(xt, torch.Tensor) and xt.dtype == torch.float32
    torch.testing.assert_close(fitted.to_flux(xt), tensor, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xt.numpy(), x[:4], rtol=1e-6)
    # works on any leading shape (…, 5, H, W), e.g. a single stamp
    assert fitted.to_model(images[0]).shape == (5, 64, 64)


def test_clipping_only_affects_extreme_negative_artefacts(fitted):
    flux = np.zeros((1, 5, 4, 4), dtype=np.float32)
    flux[0, 1, 0, 0] = -25241.3  # GalaxiesML's most negative pixel
    x = fitted.to_model(flux)
    assert x[0, 1, 0, 0] == -1.0
    assert np.all(x[0, :, 1:, 1:] == 0)
    unclipped = Normalization(fitted.softening, fitted.scale, clip_min=None)
    np.testing.assert_allclose(unclipped.to_flux(unclipped.to_model(flux)), flux, rtol=1e-5)


def test_fit_is_robust_to_large_negative_outliers(images, fitted):
    damaged = images.copy()
    damaged[::10, :, 0, 0] = -25241.3
    damaged[3, 2, 30, 30] = np.nan
    robust = Normalization.fit(damaged)
    np.testing.assert_allclose(robust.softening, fitted.softening, rtol=0.02)
    np.testing.assert_allclose(robust.scale, fitted.scale, rtol=0.02)


def test_dict_round_trip_through_json(fitted):
    document = json.loads(json.dumps(fitted.to_dict()))
    assert Normalization.from_dict(document) == fitted


@pytest.mark.parametrize("change, key", [
    ({"softening": None}, "softening"),
    ({"scale": [1.0, 2.0]}, "scale"),
    ({"scale": [1.0, 1.0, 1.0, 1.0, -1.0]}, "scale"),
    ({"kind": "minmax"}, "kind"),
    ({"clip_min": "low"}, "clip_min"),
    ({"bands": "grizy"}, "bands"),
])
def test_from_dict_errors_name_the_key(fitted, change, key):
    document = fitted.to_dict()
    document.update(change)
    if change.get("softening", 0) is None:
        del document["softening"]
    with pytest.raises(NormalizationError, match=f"'{key}'") as info:
        Normalization.from_dict(document)
    assert isinstance(info.value, GalaxyExplorerError)


def test_wrong_band_axis_is_refused(fitted):
    with pytest.raises(NormalizationError, match=r"\(\.\.\., 5, H, W\)"):
        fitted.to_model(np.zeros((2, 3, 8, 8)))
