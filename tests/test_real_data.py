"""Real galaxies (issue 28): the real COSMOS galaxies and HSC scenes in ``<repo>/../shared/realdata`` load as they
should, the statistics that compare the synthetic survey with them behave, the real HSC scenes pass through the
reader, the normalisation and the morphology pipeline, and the report section shows the stored numbers.

Tests that need the real files skip, saying where they looked, when the folder is absent (set
``GALAXY_EXPLORER_REALDATA`` to point elsewhere); CI has it. Nothing here writes into the real-data folder.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from astropy.io import fits

from galaxy_explorer.data.survey import Survey
from galaxy_explorer.evaluation import real_galaxies as rg
from galaxy_explorer.evaluation.real_data import (REALDATA_ENV, RealDataError, default_realdata_dir, find_realdata,
                                                  load_cosmos_catalogue, load_cosmos_stamps, load_hsc_scenes,
                                                  missing_files)
from galaxy_explorer.evaluation.real_scenes import (NOISE_FACTOR_LIMIT, check_scenes, scene_stamp, scene_summary,
                                                    write_scene_survey)
from galaxy_explorer.instrument import BANDS
from galaxy_explorer.synthetic import population

REALDATA = find_realdata()
needs_real_data = pytest.mark.skipif(
    REALDATA is None or bool(missing_files(REALDATA)),
    reason=f"real data not found at {default_realdata_dir()} (the shared/realdata folder beside the repository; "
           f"set {REALDATA_ENV} to another folder)")


@pytest.fixture(scope="module")
def catalogue():
    return load_cosmos_catalogue(REALDATA)


@pytest.fixture(scope="module")
def scene_check(tmp_path_factory):
    return check_scenes(load_hsc_scenes(REALDATA), tmp_path_factory.mktemp("scenes"), rg.shipped_normalization())


# ---------------------------------------------------------------------------------------------- locating the data
def test_the_real_data_folder_is_found_from_the_environment_or_beside_the_repository(monkeypatch, tmp_path):
    monkeypatch.setenv(REALDATA_ENV, str(tmp_path))
    assert find_realdata() == tmp_path
    assert set(missing_files(tmp_path)) >= {"real_galaxy_images_extension.fits", "hsc_cosmos_35.npz"}
    monkeypatch.setenv(REALDATA_ENV, str(tmp_path / "absent"))
    assert find_realdata() is None
    assert rg.evaluate_real_galaxies() is None  # no data, nothing to evaluate: callers skip
    monkeypatch.delenv(REALDATA_ENV)
    assert default_realdata_dir().parts[-2:] == ("shared", "realdata")


def test_a_broken_catalogue_is_refused_naming_the_file_and_the_column(tmp_path):
    columns = [fits.Column(name=n, format="D", array=np.zeros(3)) for n in ("MAG", "PIXEL_SCALE", "stamp_flux")]
    columns += [fits.Column(name=n, format="J", array=np.arange(3)) for n in ("IDENT", "GAL_HDU", "PSF_HDU")]
    fits.BinTableHDU.from_columns(columns).writeto(tmp_path / "real_galaxy_catalog_26_extension_example.fits")
    fitted = [fits.Column(name="IDENT", format="J", array=np.arange(3)),
              fits.Column(name="flux_radius", format="D", array=np.ones(3))]  # no ZPHOT, no HSC magnitudes
    fits.BinTableHDU.from_columns(fitted).writeto(tmp_path / "real_galaxy_catalog_26_extension_example_fits.fits")
    with pytest.raises(RealDataError, match=r"_fits\.fits: columns \['ZPHOT'"):
        load_cosmos_catalogue(tmp_path)


# ---------------------------------------------------------------------------------------------- the real files
@needs_real_data
def test_the_cosmos_galaxies_load_with_their_stamps_psfs_and_hsc_bands(catalogue):
    assert len(catalogue) == 100
    assert tuple(catalogue.magnitudes) == BANDS
    assert np.allclose(catalogue.pixel_scale_arcsec, 0.03)  # HST ACS: flux_radius is in 0.03" pixels
    stamps, psfs = load_cosmos_stamps(REALDATA, catalogue)
    assert len(stamps) == len(psfs) == 100
    assert all(s.ndim == 2 and min(s.shape) >= 16 for s in stamps)
    # stamp_flux is the catalogue's F814W flux (ACS zero point 25.94), and the stamps of the brighter galaxies sum
    # to it: the HDU numbers point at the right galaxies
    assert np.allclose(catalogue.f814w_mag + 2.5 * np.log10(catalogue.stamp_flux), 25.937, atol=1e-3)
    bright = np.flatnonzero(catalogue.magnitudes["i"] < 24)
    ratio = np.array([stamps[k].sum() for k in bright]) / catalogue.stamp_flux[bright]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05) and np.mean(np.abs(ratio - 1) < 0.2) > 0.8
    assert all(abs(p.sum() - 1) < 0.05 for p in psfs)


@needs_real_data
def test_redshifts_magnitudes_and_sizes_are_finite_and_physical(catalogue):
    assert np.isfinite(catalogue.redshift).all() and (catalogue.redshift > 0).all() and catalogue.redshift.max() < 5
    for band in BANDS:
        assert np.isfinite(catalogue.magnitudes[band]).all(), band
        assert 15 < np.median(catalogue.magnitudes[band]) < 28, band
    assert (catalogue.flux_radius_arcsec > 0).all() and np.median(catalogue.flux_radius_arcsec) < 1.0
    assert catalogue.f814w_mag.max() < rg.DEEP_I_LIMIT  # the sample's limit the deep comparison uses


@needs_real_data
def test_the_hsc_scenes_load_as_five_band_cubes():
    scenes = {scene.name: scene for scene in load_hsc_scenes(REALDATA)}
    assert {name: s.images.shape for name, s in scenes.items()} == {
        "Cut_HSC": (5, 50, 50), "Cut_HSC1": (5, 50, 50), "hsc_cosmos": (5, 69, 57), "hsc_cosmos_35": (5, 58, 48)}
    assert scenes["hsc_cosmos_35"].variance.shape == (5, 58, 48)
    assert all(s.variance is None for name, s in scenes.items() if name != "hsc_cosmos_35")
    assert scenes["hsc_cosmos"].sources.shape[1] == 2


# ---------------------------------------------------------------------------------------------- statistics
def test_bootstrap_errors_match_the_median_s_standard_error_and_shrink_with_more_samples():
    rng = np.random.default_rng(1)
    small, large = (rg.bootstrap_median(rng.normal(0, 1, n), seed=2) for n in (25, 400))
    # the standard error of a normal sample's median is sqrt(pi/2) / sqrt(n)
    for stat, n in ((small, 25), (large, 400)):
        assert stat["error"] == pytest.approx(np.sqrt(np.pi / 2 / n), rel=0.3)
        assert stat["ci_low"] < stat["median"] < stat["ci_high"]
    assert large["error"] < small["error"] / 2.5
    assert np.isnan(rg.bootstrap_median([1.0])["error"]) and rg.bootstrap_median([])["n"] == 0


def test_binned_comparison_gives_the_tension_of_a_known_offset():
    z = np.repeat([0.2, 0.6], 200)
    real_bins = rg.binned_medians_with_errors(np.where(z < 0.4, 1.0, 2.0) + 0.01 * np.sin(np.arange(400)), z,
                                              [0.0, 0.4, 1.0])
    synthetic_bins = [dict(row, median=row["median"] + shift) for row, shift in zip(real_bins, (0.0, 1.0))]
    rows = rg.compare_binned(real_bins, synthetic_bins, tension_limit=2.0)
    assert rows[0]["tension"] == 0 and rows[0]["within"] is True
    assert rows[1]["difference"] == pytest.approx(1.0)
    assert rows[1]["tension"] == pytest.approx(1.0 / np.hypot(real_bins[1]["error"], real_bins[1]["error"]))
    assert rows[1]["within"] is False
    edges = rg.equal_count_edges(np.linspace(0.1, 2.0, 100), 4)
    counts = np.histogram(np.linspace(0.1, 2.0, 100), edges)[0]
    assert len(edges) == 5 and counts.sum() == 100 and counts.min() >= 23


def test_the_circular_half_light_radius_of_the_truth_matches_a_pixel_sum():
    truth = {"true_bulge_fraction": np.array([0.0, 0.0, 1.0]), "true_population": np.array([1, 1, 0]),
             "true_bulge_r_e_arcsec": np.array([0.1, 0.1, 0.5]), "true_bulge_sersic_n": np.array([4.0, 4.0, 4.0]),
             "true_r_e_arcsec": np.array([0.5, 0.5, 0.5]), "true_axis_ratio": np.array([1.0, 0.3, 0.6])}
    radius = rg.circular_half_light_arcsec(truth)
    assert radius[0] == pytest.approx(0.5, rel=1e-3)  # a round profile: the circle is its own r_e
    # an inclined exponential disc on a fine pixel grid, light summed inside circles
    step = 0.005
    y, x = np.mgrid[-4:4:step, -4:4:step]
    image = np.exp(-1.6783 * np.hypot(x, y / 0.3) / 0.5)
    r = np.hypot(x, y).ravel()
    order = np.argsort(r)
    enclosed = np.cumsum(image.ravel()[order]) / image.sum()
    assert radius[1] == pytest.approx(r[order][np.searchsorted(enclosed, 0.5)], rel=0.01)
    assert np.sqrt(0.3) * 0.5 < radius[1] < 0.5  # a circle needs more than the elliptical sqrt(q) r_e


def test_synthetic_draws_at_given_redshifts_keep_their_selection_and_restore_the_survey_s():
    shipped = population.SELECTION_I_MAG
    deep = rg.synthetic_truth_at([0.5, 1.5], per_galaxy=300, seed=3, i_limit=26.0)
    assert population.SELECTION_I_MAG == shipped
    shallow = rg.synthetic_truth_at([0.5, 1.5], per_galaxy=300, seed=3)
    assert np.array_equal(np.unique(shallow["true_redshift"]), np.float32([0.5, 1.5]).astype(np.float64))
    assert shallow["true_i_mag"].max() < shipped <= deep["true_i_mag"].max() < 26.0


# ---------------------------------------------------------------------------------------------- HST -> HSC
@needs_real_data
def test_a_real_point_source_resampled_to_hsc_has_the_survey_s_psf_and_keeps_its_flux(catalogue):
    from galaxy_explorer.synthetic.render import Components, Renderer
    import torch

    _, psfs = load_cosmos_stamps(REALDATA, catalogue.select(np.arange(1)))
    kernel = rg.matching_kernel(rg.centred_psf(psfs[0]), rg.hsc_psf_on_grid("i", 0.03))
    image = rg.degrade_to_hsc(psfs[0] / psfs[0].sum(), kernel, 0.03)  # the HST PSF: a point source at HST
    point = Components(torch.tensor([[1.0]]), torch.tensor([[0.01]]), torch.tensor([[1.0]]), torch.tensor([[0.0]]),
                       torch.zeros(1, 1, 2), torch.ones(1, 1, 5))
    survey_point = Renderer("cpu").draw(point)[0, BANDS.index("i")].numpy()  # the survey's own point source
    assert image.sum() == pytest.approx(1.0, abs=0.01)
    faint_noise = 1e-3 * np.random.default_rng(0).normal(size=(2, 64, 64))  # the pipeline needs a sky to measure
    measured = rg.measured_half_light_arcsec(np.stack([image * 1e3, survey_point * 1e3]) + faint_noise)
    assert measured[0] == pytest.approx(measured[1], rel=0.05)
    assert np.abs(image - survey_point).max() < 0.05 * survey_point.max()


@needs_real_data
def test_real_galaxies_at_hsc_carry_their_catalogue_i_flux_and_the_survey_s_noise(catalogue):
    from galaxy_explorer.synthetic.observation import SKY_NOISE_SIGMA

    bright = catalogue.select(np.argsort(catalogue.magnitudes["i"])[1:4])
    stamps, psfs = load_cosmos_stamps(REALDATA, bright)
    images = rg.real_galaxies_at_hsc(bright, stamps, psfs, seed=0)
    expected = 10 ** (-0.4 * (bright.magnitudes["i"] - 27.0))
    assert np.allclose(images.sum(axis=(1, 2)), expected, rtol=0.05, atol=3 * 64 * SKY_NOISE_SIGMA["i"])
    corner = images[:, :10, :10]
    assert np.std(corner) == pytest.approx(SKY_NOISE_SIGMA["i"], rel=0.15)
    assert np.isfinite(rg.measured_half_light_arcsec(images)).all()


# ---------------------------------------------------------------------------------------------- HSC scenes
@needs_real_data
def test_a_scene_written_in_the_galaxiesml_layout_reads_back_band_by_band(tmp_path):
    scene = load_hsc_scenes(REALDATA)[2]
    stamp, origin = scene_stamp(scene, (30, 28))
    assert stamp.shape == (5, 64, 64) and origin == (2, 4)
    assert np.array_equal(stamp[:, 2:2 + 64, 4:4 + 53], scene.images[:, :62, :53].astype(np.float32))
    path = write_scene_survey(tmp_path / "scene.hdf5", stamp[None], [scene.name])
    with Survey(path) as survey:
        back = survey.images([0])[0]
        assert survey.bands == BANDS and survey.column("redshift_known")[0] == 0
    written = stamp.sum(axis=(1, 2))
    assert np.array_equal(back.sum(axis=(1, 2)), written)  # per-band flux in the same order
    assert np.allclose(back.sum(axis=(1, 2)) / back.sum(axis=(1, 2))[2], written / written[2])


@needs_real_data
def test_the_scene_check_round_trips_detects_every_central_galaxy_and_orders_bands_by_depth(scene_check):
    assert scene_check["round_trip"]["images_identical"] and scene_check["round_trip"]["bands_as_written"]
    assert scene_check["round_trip"]["band_flux_ratio_preserved"]
    for scene in scene_check["scenes"]:
        assert scene["central"]["detected"], scene["name"]
        assert scene["central"]["offset_pixels"] <= 2.0, scene["name"]
    cosmos = {s["name"]: s for s in scene_check["scenes"]}["hsc_cosmos"]
    assert cosmos["catalogue_recovered_fraction"] == 1.0  # every source of the scene's own catalogue is found
    # HSC's depth falls from g to y: a band mix-up would break the order of the noise estimates
    assert scene_check["band_order_matches_variance"] is True
    assert np.all(np.diff(cosmos["noise"]["pipeline"][1:]) > 0)


@needs_real_data
def test_the_sky_noise_estimate_is_within_the_stated_factor_of_the_variance_plane(scene_check):
    scene = {s["name"]: s for s in scene_check["scenes"]}["hsc_cosmos_35"]
    check = scene["noise_check"]
    ratios = np.array(check["ratio_to_variance"]["pipeline"])
    assert np.all((ratios >= 1 / NOISE_FACTOR_LIMIT) & (ratios <= NOISE_FACTOR_LIMIT)), ratios
    assert scene_check["noise_within_factor"] is True
    # the variance plane itself describes the sky: pixels outside every detection footprint scatter as it says
    assert np.allclose(check["undetected_spread_over_variance"], 1.0, atol=0.15)
    assert scene["central"]["snr_from_variance_plane"] > 50


@needs_real_data
def test_the_shipped_normalisation_maps_real_pixels_without_clipping(scene_check):
    for scene in scene_check["scenes"]:
        model = scene["model_space"]
        assert model["clipped_fraction"] < 0.01, scene["name"]
        assert model["round_trip_max_relative_error"] < 1e-4, scene["name"]
        assert 0 < model["max_model_value"] < 3, scene["name"]
    json.dumps(rg.json_safe(scene_summary(scene_check)), allow_nan=False)  # the stored form is strict JSON


# ---------------------------------------------------------------------------------------------- stored result
@needs_real_data
def test_the_stored_comparison_is_what_the_code_computes(catalogue):
    stored = rg.load_result()
    assert stored is not None, f"{rg.RESULT_PATH} is missing: run python benchmarks/real_data_check.py"
    recomputed = rg.json_safe(rg.catalogue_relations(catalogue, rg.MATCHED_I_LIMIT, seed=stored["seed"],
                                                    hst_psf_half_light=stored["comparisons"]["matched"][
                                                        "hst_psf_half_light_arcsec"]))
    matched = stored["comparisons"]["matched"]
    assert recomputed["edges"] == matched["edges"] and recomputed["n_real"] == matched["n_real"] == 25
    for name in rg.RELATIONS:
        for mine, theirs in zip(recomputed["relations"][name], matched["relations"][name]):
            assert mine["real"]["median"] == pytest.approx(theirs["real"]["median"])
            assert mine["synthetic"]["median"] == pytest.approx(theirs["synthetic"]["median"], abs=1e-6)
            assert mine["tension"] == pytest.approx(theirs["tension"], rel=1e-6)


def test_the_report_section_shows_the_heading_and_the_stored_numbers():
    stored = rg.load_result()
    assert stored is not None, f"{rg.RESULT_PATH} is missing: run python benchmarks/real_data_check.py"
    figures = {"real_relations": ("relations", b"\x89PNG fake")}
    section = rg.real_galaxies_section_html(stored, figures)
    assert re.search(r"<h2>Synthetic survey against real galaxies</h2>", section)
    for selection in ("matched", "measured", "deep"):
        for name, rows in stored["comparisons"][selection]["relations"].items():
            for row in rows:
                assert f"{row['real']['median']:.2f} ± {row['real']['error']:.2f}" in section, (selection, name)
                assert f"{row['synthetic']['median']:.3f} ± {row['synthetic']['error']:.3f}" in section
                assert f"{row['tension']:+.2f}" in section
    summary = stored["summary"]["matched"]
    assert f"{sum(r['within'] for r in summary.values())} of {sum(r['bins'] for r in summary.values())} bins" in section
    assert "data:image/png;base64," in section
    for scene in stored["scenes"]["scenes"]:
        assert scene["name"] in section
