"""Morphology of the central galaxy: checked against galaxies rendered with known truth (GalSim Sérsic ⊗ Moffat)."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_explorer.measure import morphology
from galaxy_explorer.measure.morphology import (
    ALL_COLUMNS,
    BAD_PIXELS,
    MORPHOLOGY_COLUMNS,
    NO_DETECTION,
    OFF_CENTRE,
    MorphologyError,
    measure,
)

PIXEL_ARCSEC = 0.168
PSF_FWHM_ARCSEC = 0.7
NOISE = 1.0


def intrinsic_circular_half_light_radius(galaxy) -> float:
    """Truth: radius (pixels) of the circle holding half the light of the *unconvolved* galaxy, drawn finely."""
    fine = 4
    size = 1024
    image = galaxy.drawImage(nx=size, ny=size, scale=PIXEL_ARCSEC / fine, method="no_pixel").array
    yy, xx = np.indices(image.shape)
    radius = np.hypot(xx - (size - 1) / 2, yy - (size - 1) / 2).ravel() / fine
    order = np.argsort(radius)
    cumulative = np.cumsum(image.ravel()[order])
    return float(radius[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def render(sersic_n, half_light_arcsec, axis_ratio, position_angle, *, flux=2.0e4, seed=0, offset=(0.0, 0.0),
           neighbour=None):
    """A 5-band 64x64 stamp (same image in every band) of a Sérsic galaxy convolved with a Moffat PSF + noise."""
    galsim = pytest.importorskip("galsim")  # skips only the tests that draw with GalSim
    galaxy = galsim.Sersic(n=sersic_n, half_light_radius=half_light_arcsec, flux=flux).shear(
        q=axis_ratio, beta=position_angle * galsim.radians)
    psf = galsim.Moffat(beta=2.5, fwhm=PSF_FWHM_ARCSEC)
    scene = galaxy.shift(offset[0] * PIXEL_ARCSEC, offset[1] * PIXEL_ARCSEC)
    if neighbour is not None:
        scene = scene + neighbour
    image = galsim.Convolve(scene, psf).drawImage(nx=64, ny=64, scale=PIXEL_ARCSEC).array
    image = image + np.random.default_rng(seed).normal(0.0, NOISE, image.shape)
    truth = {
        "ellipticity": 1.0 - axis_ratio,
        "half_light_radius": intrinsic_circular_half_light_radius(galaxy),
        "position_angle": position_angle,
    }
    return np.repeat(image[None], 5, axis=0).astype(np.float32), truth


BRIGHT_DISCS = [  # (n, r_e arcsec, b/a, position angle); PSF FWHM 0.7"
    (1.0, 1.0, 0.5, 0.3),
    (1.0, 1.2, 0.8, 1.0),
    (1.0, 0.8, 0.4, -0.7),
    (1.5, 1.0, 0.6, 0.0),
    (1.0, 0.6, 0.7, 1.2),
]


@pytest.fixture(scope="module")
def bright_discs():
    rendered = [render(*params, seed=k) for k, params in enumerate(BRIGHT_DISCS)]
    return np.stack([image for image, _ in rendered]), [truth for _, truth in rendered]


def test_returns_every_column_for_every_stamp(bright_discs):
    images, _ = bright_discs
    result = measure(images)
    assert set(result) == set(ALL_COLUMNS) | {"flag"}
    assert set(MORPHOLOGY_COLUMNS) <= set(result)
    for name, values in result.items():
        assert values.shape == (len(images),), name
    assert result["flag"].dtype == np.int64
    assert np.isnan(result["sersic_index"]).all()  # fast mode fits no profile


def test_bright_isolated_galaxies_recover_intrinsic_ellipticity_within_0p05_and_size_within_10_percent(bright_discs):
    images, truths = bright_discs
    result = measure(images, psf_fwhm_arcsec=PSF_FWHM_ARCSEC)
    assert (result["flag"] & NO_DETECTION == 0).all()
    for k, truth in enumerate(truths):
        assert abs(result["ellipticity_psf_corrected"][k] - truth["ellipticity"]) < 0.05, (k, result, truth)
        relative = result["half_light_radius_psf_corrected"][k] / truth["half_light_radius"] - 1.0
        assert abs(relative) < 0.10, (k, relative)


def test_observed_catalogue_shape_follows_source_extractor_conventions(bright_discs):
    images, truths = bright_discs
    result = measure(images, psf_fwhm_arcsec=PSF_FWHM_ARCSEC)
    a, b = result["semi_major_axis"], result["semi_minor_axis"]
    assert (a >= b).all() and (b > 0).all()
    np.testing.assert_allclose(result["ellipticity"], 1.0 - b / a)
    # The PSF rounds what the catalogue sees, it never elongates it; the correction only removes roundness.
    intrinsic = np.array([t["ellipticity"] for t in truths])
    assert (result["ellipticity"] < intrinsic + 0.02).all()
    assert (result["ellipticity_psf_corrected"] > result["ellipticity"]).all()
    # PSF-convolved sizes are larger than the intrinsic ones.
    true_size = np.array([t["half_light_radius"] for t in truths])
    assert (result["half_light_radius"] > true_size).all()
    # Position angle: counter-clockwise from +x, modulo pi, for the clearly elongated ones.
    for k, truth in enumerate(truths):
        if truth["ellipticity"] >= 0.3:
            difference = (result["position_angle"][k] - truth["position_angle"] + np.pi / 2) % np.pi - np.pi / 2
            assert abs(difference) < 0.1
    # A big bright disc covers hundreds of pixels above 1.5 sigma; the centroid is at the stamp centre.
    assert (result["isophotal_area"] > 300).all()
    np.testing.assert_allclose(result["x_centroid"], 31.5, atol=0.5)
    np.testing.assert_allclose(result["y_centroid"], 31.5, atol=0.5)


def test_measurements_do_not_depend_on_the_flux_unit(bright_discs):
    images, _ = bright_discs
    once = measure(images[:2])
    scaled = measure(images[:2] * 1000.0)
    for name in ("ellipticity", "semi_major_axis", "isophotal_area", "half_light_radius"):
        np.testing.assert_allclose(scaled[name], once[name], rtol=1e-4)
    np.testing.assert_allclose(scaled["isophotal_flux"], 1000.0 * once["isophotal_flux"], rtol=1e-4)


def test_full_mode_sersic_fit_separates_exponential_discs_from_de_vaucouleurs_spheroids():
    discs = [render(1.0, 0.8, q, pa, seed=10 + k)[0] for k, (q, pa) in enumerate([(0.6, 0.2), (0.8, 1.0)])]
    spheroids = [render(4.0, 0.8, q, pa, seed=20 + k)[0] for k, (q, pa) in enumerate([(0.7, 0.5), (0.9, -1.0)])]
    result = measure(np.stack(discs + spheroids), mode="full", psf_fwhm_arcsec=PSF_FWHM_ARCSEC)
    n_disc, n_spheroid = result["sersic_index"][:2], result["sersic_index"][2:]
    assert np.isfinite(result["sersic_index"]).all(), result["flag"]
    assert (n_disc < 1.6).all() and (n_spheroid > 2.8).all(), result["sersic_index"]
    # The PSF-convolved fit recovers the intrinsic ellipticity; concentration and Gini rise with n.
    np.testing.assert_allclose(result["sersic_ellipticity"], [0.4, 0.2, 0.3, 0.1], atol=0.05)
    # GalSim's half_light_radius is circularised, sqrt(a*b); the fit's is along the major axis.
    circularised = result["sersic_half_light_radius"][:2] * np.sqrt(1.0 - result["sersic_ellipticity"][:2])
    np.testing.assert_allclose(circularised, 0.8 / PIXEL_ARCSEC, rtol=0.10)
    assert result["concentration"][2:].min() > result["concentration"][:2].max()
    assert result["gini"][2:].min() > result["gini"][:2].max()
    assert np.isfinite(result["m20"]).all() and np.isfinite(result["asymmetry"]).all()


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_blank_noise_only_and_non_finite_stamps_give_nan_and_a_flag(mode):
    rng = np.random.default_rng(3)
    stamps = np.zeros((5, 5, 64, 64), dtype=np.float32)  # 0: blank
    stamps[1:4] = rng.normal(0.0, 1.0, (3, 5, 64, 64))  # 1-3: pure noise
    stamps[4] = np.nan  # 4: no data at all
    result = measure(stamps, mode=mode)
    assert (result["flag"] & NO_DETECTION).all(), result["flag"]
    for name in ALL_COLUMNS:
        assert np.isnan(result[name]).all(), name


def test_the_central_galaxy_is_measured_not_a_brighter_neighbour():
    galsim = pytest.importorskip("galsim")
    neighbour = galsim.Sersic(n=1.0, half_light_radius=0.5, flux=8.0e4).shear(q=0.3, beta=0.0 * galsim.radians)
    neighbour = neighbour.shift(22 * PIXEL_ARCSEC, 20 * PIXEL_ARCSEC)
    image, truth = render(1.0, 0.5, 0.9, 0.0, flux=1.0e4, seed=5, neighbour=neighbour)
    result = measure(image[None], psf_fwhm_arcsec=PSF_FWHM_ARCSEC)
    assert abs(result["x_centroid"][0] - 31.5) < 1.0 and abs(result["y_centroid"][0] - 31.5) < 1.0
    assert result["ellipticity_psf_corrected"][0] < 0.2  # the round central one, not the thin neighbour
    relative = result["half_light_radius_psf_corrected"][0] / truth["half_light_radius"] - 1.0
    assert abs(relative) < 0.15


def test_a_source_beside_the_centre_is_measured_and_flagged_off_centre():
    image, _ = render(1.0, 0.2, 0.8, 0.0, flux=1.0e3, seed=6, offset=(12.0, 0.0))
    result = measure(image[None])
    assert result["flag"][0] & OFF_CENTRE
    assert not result["flag"][0] & NO_DETECTION
    assert abs(result["x_centroid"][0] - 43.5) < 1.0


def test_extreme_negative_and_non_finite_pixels_are_masked_and_flagged(bright_discs):
    images, _ = bright_discs
    clean = measure(images[:1])
    damaged = images[:1].copy()
    damaged[:, :, 2:5, 2:5] = -25241.3  # the kind of outlier GalaxiesML cutouts contain
    damaged[:, :, 60, 60] = np.nan
    result = measure(damaged)
    assert result["flag"][0] & BAD_PIXELS
    for name in ("ellipticity", "semi_major_axis", "half_light_radius"):
        np.testing.assert_allclose(result[name], clean[name], rtol=0.02)


def test_the_detection_band_is_configurable(bright_discs):
    images, _ = bright_discs
    only_r = np.zeros_like(images[:1])
    only_r[:, 1] = images[0, 1]
    assert measure(only_r, detection_band="r")["flag"][0] & NO_DETECTION == 0
    assert measure(only_r, detection_band="i")["flag"][0] & NO_DETECTION


def test_parallel_workers_give_the_serial_answer(bright_discs):
    images, _ = bright_discs
    serial = measure(images[:4])
    parallel = measure(images[:4], workers=2)
    for name in ALL_COLUMNS:
        np.testing.assert_array_equal(parallel[name], serial[name])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "slow"}, "mode 'slow'"),
        ({"detection_band": "u"}, "detection_band 'u'"),
        ({"workers": 0}, "workers"),
        ({"psf_fwhm_arcsec": -1.0}, "psf_fwhm_arcsec"),
    ],
)
def test_bad_options_raise_errors_that_name_them(kwargs, message):
    with pytest.raises(MorphologyError, match=message):
        measure(np.zeros((1, 5, 64, 64), np.float32), **kwargs)


def test_images_of_the_wrong_shape_are_refused_with_the_shape_named():
    with pytest.raises(MorphologyError, match=r"\(2, 3, 64, 64\)"):
        measure(np.zeros((2, 3, 64, 64), np.float32))


def test_flag_names_decode_bits():
    assert morphology.flag_names(NO_DETECTION | BAD_PIXELS) == ["no_detection", "bad_pixels"]
    assert morphology.flag_names(0) == []


def test_on_the_built_in_survey_the_fast_size_estimate_recovers_the_true_semi_major_r_e(tmp_path):
    """Population check against the synthetic survey's truth (bulge+disc galaxies, neighbours, HSC-like noise)."""
    from galaxy_explorer.evaluation.pipeline import size_estimate_arcsec
    from galaxy_explorer.data.survey import Survey
    from galaxy_explorer.instrument import MOFFAT_BETA, PSF_FWHM_ARCSEC
    from galaxy_explorer.synthetic import write_mock_survey

    path = write_mock_survey(tmp_path / "mock.hdf5", 160, seed=31)
    with Survey(path) as survey:
        rows = np.arange(len(survey))
        images, true_r_e = survey.images(rows), survey.column("true_r_e_arcsec", rows)
    result = measure(images, psf_fwhm_arcsec=PSF_FWHM_ARCSEC["i"], psf_moffat_beta=MOFFAT_BETA)
    assert np.mean(result["flag"] & NO_DETECTION > 0) < 0.05
    ratio = size_estimate_arcsec(result, "fast", PIXEL_ARCSEC) / true_r_e
    assert abs(np.nanmedian(ratio) - 1.0) < 0.10, np.nanmedian(ratio)
