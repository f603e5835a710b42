"""The built-in synthetic survey: rendering against GalSim, flux units, noise, determinism, and its physics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from galaxy_explorer.instrument import BANDS, PIXEL_SCALE_ARCSEC, PSF_FWHM_ARCSEC
from galaxy_explorer.synthetic import SKY_NOISE_SIGMA, TRUTH_COLUMNS, SyntheticSurvey, true_median_size_arcsec
from galaxy_explorer.synthetic import profiles
from galaxy_explorer.synthetic.population import STAR_FORMING, draw_catalogue
from galaxy_explorer.synthetic.render import Components, Renderer
from galaxy_explorer.synthetic.synthetic_survey import layout
from galaxy_explorer.synthetic.tables import SED_TEMPLATES, Tables


def half_light_radius(image: np.ndarray, centre=None) -> float:
    """Radius (pixels) of the circle about the centroid holding half of the stamp's flux."""
    y, x = np.indices(image.shape)
    total = image.sum()
    cx, cy = centre if centre is not None else ((image * x).sum() / total, (image * y).sum() / total)
    radius = np.hypot(x - cx, y - cy).ravel()
    order = np.argsort(radius)
    return float(np.interp(total / 2, np.cumsum(image.ravel()[order]), radius[order]))


def galsim_stamp(n, half_light_arcsec, axis_ratio, angle_deg, fwhm, flux=100.0, offset=(0.0, 0.0)):
    """GalSim's image of the same truncated Sérsic ⊗ Moffat(beta=3) on 64x64 HSC pixels, centred on pixel 32."""
    galsim = pytest.importorskip("galsim")  # skips only the tests that compare with GalSim
    trunc = profiles.truncation_radius(n) * half_light_arcsec / profiles.truncated_half_light_ratio(n)
    galaxy = galsim.Sersic(n, half_light_radius=half_light_arcsec * math.sqrt(axis_ratio),
                           trunc=float(trunc * math.sqrt(axis_ratio)), flux=flux)
    galaxy = galaxy.shear(q=axis_ratio, beta=angle_deg * galsim.degrees)
    psf = galsim.Moffat(beta=3.0, fwhm=fwhm)
    image = galsim.Convolve(galaxy, psf).drawImage(nx=64, ny=64, scale=PIXEL_SCALE_ARCSEC, use_true_center=False,
                                                   offset=offset)
    return image.array.astype(np.float64)


@pytest.fixture(scope="module")
def renderer():
    return Renderer("cpu")


def one_component(n, half_light_arcsec, axis_ratio, angle_deg, flux=100.0, offset=(0.0, 0.0)):
    return Components(
        sersic_index=torch.tensor([[float(n)]]),
        half_light_radius=torch.tensor([[half_light_arcsec / PIXEL_SCALE_ARCSEC]]),
        axis_ratio=torch.tensor([[float(axis_ratio)]]),
        position_angle=torch.tensor([[math.radians(angle_deg)]]),
        centre=torch.tensor([[list(offset)]], dtype=torch.float32),
        flux=torch.full((1, 1, 5), float(flux)),
    )


# ---------------------------------------------------------------------------------------------- rendering vs GalSim
@pytest.mark.parametrize("n, half_light, axis_ratio, angle", [
    (1.0, 0.8, 0.35, -50.0),   # inclined exponential disc
    (4.0, 0.5, 0.6, 30.0),     # de Vaucouleurs, cusp a few pixels across
    (6.0, 0.15, 0.9, 10.0),    # barely resolved, steep
    (2.5, 0.05, 1.0, 0.0),     # point-like: PSF dominated
    (3.0, 2.0, 0.7, 80.0),     # light past the stamp edge (drawn on the 128-pixel grid)
    (4.0, 3.0, 0.5, 20.0),     # light far past the stamp edge (256-pixel grid)
])
def test_sersic_through_moffat_matches_galsim_in_every_band(renderer, n, half_light, axis_ratio, angle):
    mine = renderer.draw(one_component(n, half_light, axis_ratio, angle))[0].double().numpy()
    for b, band in enumerate(BANDS):
        reference = galsim_stamp(n, half_light, axis_ratio, angle, PSF_FWHM_ARCSEC[band])
        assert mine[b].sum() == pytest.approx(reference.sum(), rel=0.01), f"total flux, band {band}"
        assert half_light_radius(mine[b]) == pytest.approx(half_light_radius(reference), rel=0.03), f"hlr, {band}"
        assert np.abs(mine[b] - reference).max() < 1e-3 * reference.max()


def test_sub_pixel_offsets_move_the_galaxy_like_galsim(renderer):
    offset = (0.3, -0.45)
    mine = renderer.draw(one_component(1.0, 0.4, 0.5, 20.0, offset=offset))[0, 2].double().numpy()
    reference = galsim_stamp(1.0, 0.4, 0.5, 20.0, PSF_FWHM_ARCSEC["i"], offset=offset)
    y, x = np.indices(mine.shape)
    for image in (mine, reference):
        assert (image * x).sum() / image.sum() == pytest.approx(32 + offset[0], abs=0.01)
        assert (image * y).sum() / image.sum() == pytest.approx(32 + offset[1], abs=0.01)
    assert np.abs(mine - reference).max() < 1e-3 * reference.max()


def test_sersic_transform_table_matches_the_exponential_closed_form():
    """Untruncated exponential: F(k r0) = (1 + (k r0 / b1)²)^-3/2. Truncating at 4 r0 removes 0.9% of the light
    and renormalises, so the two may differ by about that much, no more."""
    table = profiles.sersic_fourier_table()
    exponential = table["transform"][profiles.sersic_index_to_grid(1.0)]
    closed_form = (1 + (table["kr"] / profiles.sersic_b(1.0)) ** 2) ** -1.5
    assert np.abs(exponential - closed_form).max() < 0.015
    assert table["transform"][:, 0] == pytest.approx(1.0, abs=1e-5)


# ---------------------------------------------------------------------------------------------- units and noise
@pytest.fixture(scope="module")
def survey_batch():
    return SyntheticSurvey(seed=11).sample(300)


def test_sample_returns_the_documented_columns(survey_batch):
    assert survey_batch["image"].shape == (300, 5, 64, 64) and survey_batch["image"].dtype == torch.float32
    assert survey_batch["specz_redshift"].shape == (300,)
    for name in TRUTH_COLUMNS:
        assert survey_batch[name].shape == (300,), name
        assert torch.isfinite(survey_batch[name].float()).any(), name
    assert set(survey_batch["true_population"].tolist()) <= {0, 1}
    assert torch.isfinite(survey_batch["image"]).all()


def test_pixel_values_are_flux_with_ab_zero_point_27():
    """A compact galaxy's noiseless stamp sums to 10^(-0.4 (m - 27)) for its true magnitude m in every band."""
    generator = torch.Generator().manual_seed(5)
    catalogue = draw_catalogue(400, generator, Tables())
    catalogue["neighbour_flux"].zero_()
    compact = torch.nonzero(catalogue["r_e_arcsec"] < 0.6).squeeze(1)[:50]
    catalogue = {k: v[compact] for k, v in catalogue.items()}
    components, substructure, has_substructure = layout(catalogue, "cpu")
    stamps = Renderer("cpu").draw(components, substructure, has_substructure).double()
    expected = 10 ** (-0.4 * (catalogue["magnitudes"].double() - 27.0))
    torch.testing.assert_close(stamps.sum((-2, -1)), expected, rtol=0.01, atol=0.0)


def test_sky_noise_is_hsc_wide_depth(survey_batch):
    """Per-pixel sigma in empty corners matches a 5-sigma point-source depth of g,r,i,z,y = 26.6,26.2,26.2,25.3,24.5."""
    corners = torch.cat([survey_batch["image"][:, :, :6, :6], survey_batch["image"][:, :, -6:, -6:]], dim=-1)
    mad = (corners - corners.median()).abs().flatten(2).median(-1).values.median(0).values  # per band
    measured = 1.4826 * mad
    expected = torch.tensor([SKY_NOISE_SIGMA[b] for b in BANDS])
    torch.testing.assert_close(measured, expected, rtol=0.1, atol=0.0)
    assert expected[4] > expected[3] > expected[0]  # y is the shallowest band, g the deepest per pixel


# ---------------------------------------------------------------------------------------------- determinism
def test_same_seed_same_galaxies_and_the_stream_continues():
    first, second = SyntheticSurvey(seed=3), SyntheticSurvey(seed=3)
    a1, b1 = first.sample(6), second.sample(6)
    for key in a1:
        torch.testing.assert_close(a1[key], b1[key], rtol=0, atol=0, equal_nan=True)
    a2 = first.sample(6)
    assert not torch.equal(a1["image"], a2["image"])  # successive calls continue the stream
    other = SyntheticSurvey(seed=4).sample(6)
    assert not torch.equal(a1["specz_redshift"], other["specz_redshift"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_renders_the_same_catalogue_as_cpu():
    cpu, gpu = SyntheticSurvey(seed=2, device="cpu").sample(64), SyntheticSurvey(seed=2, device="cuda").sample(64)
    torch.testing.assert_close(gpu["specz_redshift"].cpu(), cpu["specz_redshift"])
    noise = torch.tensor([SKY_NOISE_SIGMA[b] for b in BANDS])[:, None, None]
    difference = (gpu["image"].cpu() - cpu["image"]) / noise  # noise streams differ by device; light must not
    assert difference.std() < 1.6 and difference.mean().abs() < 0.05


# ---------------------------------------------------------------------------------------------- physics
@pytest.fixture(scope="module")
def catalogue():
    return draw_catalogue(30000, torch.Generator().manual_seed(0), Tables())


def binned_median(values, redshift, edges):
    return [float(values[(redshift >= lo) & (redshift < hi)].median()) for lo, hi in zip(edges[:-1], edges[1:])]


def test_redshift_distribution_is_galaxiesml_like(catalogue):
    z = catalogue["redshift"]
    assert float((z < 1.5).float().mean()) == pytest.approx(0.93, abs=0.01)
    assert 0.4 < float(z.median()) < 0.8
    assert float(z.max()) > 3.5 and float(z.min()) >= 0.0


def test_star_forming_fraction_rises_with_redshift(catalogue):
    z, star_forming = catalogue["redshift"], (catalogue["population"] == STAR_FORMING).float()
    edges = [0.1, 0.4, 0.8, 1.2, 2.0, 4.0]
    fractions = [float(star_forming[(z >= lo) & (z < hi)].mean()) for lo, hi in zip(edges[:-1], edges[1:])]
    assert all(later > earlier for earlier, later in zip(fractions, fractions[1:])), fractions
    assert fractions[0] < 0.75 and fractions[-1] > 0.95


def test_true_median_angular_size_falls_over_0p1_to_1p5(catalogue):
    z = catalogue["redshift"]
    edges = [0.1, 0.3, 0.5, 0.8, 1.5]
    medians = binned_median(catalogue["r_e_arcsec"], z, edges)
    assert all(later < earlier for earlier, later in zip(medians, medians[1:])), medians
    curve = true_median_size_arcsec(np.array([0.1, 0.5, 1.0, 1.5]))
    assert np.all(np.diff(curve) < 0)
    # the published curve describes the sample: compare at the median redshift of each bin
    for (lo, hi), median in zip(zip(edges[:-1], edges[1:]), medians):
        centre = float(z[(z >= lo) & (z < hi)].median())
        assert true_median_size_arcsec(centre) == pytest.approx(median, rel=0.15)


def test_population_sizes_follow_van_der_wel_2014_evolution(catalogue):
    """At fixed mass, r_e ∝ (1+z)^-beta with beta 1.48 (quiescent) and 0.75 (star-forming)."""
    log_r = torch.log10(catalogue["r_e_kpc"])
    z, mass, population = catalogue["redshift"], catalogue["log_stellar_mass"], catalogue["population"]
    for pop, beta in ((0, 1.48), (1, 0.75)):
        pick = (population == pop) & (mass > 10.0) & (mass < 11.5) & (z < 2.5) & (catalogue["r_e_arcsec"] < 9.9)
        design = torch.stack([torch.ones(int(pick.sum())), torch.log10(1 + z[pick]), mass[pick] - 10.7], 1).double()
        coefficients = torch.linalg.lstsq(design, log_r[pick].double()[:, None]).solution[:, 0]
        assert float(-coefficients[1]) == pytest.approx(beta, abs=0.15)


def test_quiescent_galaxies_are_red_and_concentrated(catalogue):
    low_z = (catalogue["redshift"] > 0.1) & (catalogue["redshift"] < 0.5)
    g_minus_r = catalogue["magnitudes"][:, 0] - catalogue["magnitudes"][:, 1]
    quiescent, star_forming = low_z & (catalogue["population"] == 0), low_z & (catalogue["population"] == 1)
    assert float(g_minus_r[quiescent].median()) > float(g_minus_r[star_forming].median()) + 0.2
    n_quiescent = catalogue["sersic_n"][catalogue["population"] == 0]
    assert float(n_quiescent.min()) >= 2.5 and 3.0 < float(n_quiescent.median()) < 5.0
    assert float(catalogue["bulge_fraction"][catalogue["population"] == 1].median()) < 0.2


def test_substructure_becomes_more_common_with_redshift(catalogue):
    z, star_forming = catalogue["redshift"], catalogue["population"] == STAR_FORMING
    low, high = star_forming & (z < 0.5), star_forming & (z > 1.5)
    assert float(catalogue["has_clumps"][high].float().mean()) > 2 * float(catalogue["has_clumps"][low].float().mean())
    substructure = catalogue["has_clumps"] | catalogue["has_arms"]
    assert float(substructure[high].float().mean()) > float(substructure[low].float().mean())


def test_measured_image_sizes_fall_with_redshift():
    """Sizes measured on rendered stamps (not the truth) fall from 0.1 < z < 0.4 to 0.9 < z < 1.5."""
    batch = SyntheticSurvey(seed=21).sample(500)
    z = batch["specz_redshift"].numpy()
    i_band = batch["image"][:, BANDS.index("i")].double().numpy()
    sizes = np.array([half_light_radius(np.where(np.hypot(*np.indices((64, 64)) - 32) < 20, im, 0.0), (32, 32))
                      for im in i_band])
    low, high = np.median(sizes[(z > 0.1) & (z < 0.4)]), np.median(sizes[(z > 0.9) & (z < 1.5)])
    assert low > 1.3 * high


def test_k_corrections_reproduce_galsim_colours():
    """The shipped table's colours equal GalSim's synthetic photometry of the same templates (z <= 2: no IGM)."""
    import os

    galsim = pytest.importorskip("galsim")
    share = galsim.meta_data.share_dir
    bandpasses = {b: galsim.Bandpass(os.path.join(share, "bandpasses", f"LSST_{b}.dat"), "nm").withZeropoint("AB")
                  for b in BANDS}
    tables = Tables()
    for template in ("E", "Scd"):
        sed = galsim.SED(os.path.join(share, "SEDs", f"CWW_{template}_ext.sed"), wave_type="Ang", flux_type="flambda")
        for z in (0.3, 1.0, 2.0):
            k = tables.k_corrections(torch.tensor([z]))[0, SED_TEMPLATES.index(template)].double()
            shifted = sed.atRedshift(z)
            magnitudes = [shifted.calculateMagnitude(bandpasses[b]) for b in BANDS]
            for blue, red in ((0, 1), (1, 2), (2, 3)):
                assert float(k[blue] - k[red]) == pytest.approx(magnitudes[blue] - magnitudes[red], abs=0.02)
