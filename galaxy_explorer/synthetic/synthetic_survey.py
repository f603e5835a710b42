"""``SyntheticSurvey``: a seeded stream of synthetic HSC-like galaxies with known truth, rendered in torch."""

from __future__ import annotations

import functools

import numpy as np
import torch

from galaxy_explorer.instrument import BANDS, PIXEL_SCALE_ARCSEC, STAMP_SIZE
from galaxy_explorer.synthetic.observation import SKY_NOISE_SIGMA
from galaxy_explorer.synthetic.population import NEIGHBOUR_SLOTS, draw_catalogue
from galaxy_explorer.synthetic.render import Components, Renderer, Substructure
from galaxy_explorer.synthetic.tables import Tables

_NOISE_SEED_OFFSET = 0x5EED_0F_5C1E5  # separates the pixel-noise stream from the catalogue stream

TRUTH_COLUMNS = (
    "true_population", "true_redshift", "true_r_e_kpc", "true_r_e_arcsec", "true_sersic_n", "true_axis_ratio",
    "true_position_angle", "true_bulge_fraction", "true_bulge_sersic_n", "true_bulge_r_e_arcsec",
    "true_absolute_mag_r", "true_log_stellar_mass", "true_disc_sed_type", "true_has_arms", "true_has_clumps",
    "true_n_neighbours", "true_centre_x", "true_centre_y",
) + tuple(f"true_{band}_mag" for band in BANDS)


class SyntheticSurvey:
    """The built-in synthetic survey: ``SyntheticSurvey(seed).sample(n)`` renders ``n`` more galaxies.

    Returns a dict of tensors on ``device``:
    ``image`` (n,5,64,64) float32 in survey flux units (AB zero point 27, sky noise at HSC-Wide depth),
    ``specz_redshift`` (n,) float32 (the true redshift; spectroscopic errors are negligible here), and the truth
    columns in ``TRUTH_COLUMNS``: ``true_population`` (int64; 0 quiescent, 1 star-forming), ``true_r_e_kpc`` and
    ``true_r_e_arcsec`` (semi-major-axis half-light radius of the spheroid, or of the disc for star-forming galaxies,
    as in van der Wel et al. 2014), ``true_sersic_n`` (spheroid n; 1 for discs), ``true_axis_ratio``,
    ``true_position_angle`` (radians, counter-clockwise from +x = column axis), ``true_bulge_fraction`` (rest-frame
    r light), ``true_{band}_mag`` (total AB magnitude of the galaxy, neighbours excluded), ``true_centre_x/y``
    (pixel position; the stamp centre is pixel 32), and further parameters.

    Successive calls continue one seeded stream: the same seed and the same sequence of ``n`` give identical
    output. Parameters are drawn on the CPU (identical catalogues on any device); pixel noise comes from a
    generator on ``device``.
    """

    def __init__(self, seed: int, device: torch.device | str = "cpu"):
        self.seed = int(seed)
        self.device = torch.device(device)
        self.bands = BANDS
        self._catalogue_generator = torch.Generator(device="cpu").manual_seed(self.seed)
        self._noise_generator = torch.Generator(device=self.device).manual_seed(self.seed + _NOISE_SEED_OFFSET)
        self._tables = Tables("cpu")
        self._renderer = Renderer(self.device)
        self._noise_sigma = torch.tensor([SKY_NOISE_SIGMA[b] for b in BANDS], device=self.device)

    def sample(self, n: int, redshift: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``n`` more galaxies; ``redshift`` (n,) fixes their redshifts, every other property is then drawn given z
        exactly as for the survey (so p(image | z) is the survey's whatever redshifts are asked for)."""
        n = int(n)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        catalogue = draw_catalogue(n, self._catalogue_generator, self._tables, redshift=redshift)
        image = self.render(catalogue)
        self._add_sky_noise(image)
        batch = {"image": image, "specz_redshift": catalogue["redshift"].to(self.device)}
        batch.update({k: v.to(self.device) for k, v in truth_columns(catalogue).items()})
        return batch

    def _add_sky_noise(self, image: torch.Tensor, chunk: int = 64) -> None:
        """Add Gaussian sky noise in place, a chunk at a time (a small reused buffer instead of a second
        full-size tensor: on CPU, touching fresh memory costs more than drawing the numbers)."""
        buffer = torch.empty((min(chunk, image.shape[0]),) + image.shape[1:], device=self.device)
        sigma = self._noise_sigma[:, None, None]
        for start in range(0, image.shape[0], chunk):
            noise = buffer[:min(chunk, image.shape[0] - start)]
            noise.normal_(generator=self._noise_generator)
            image[start:start + chunk].addcmul_(noise, sigma)

    def render(self, catalogue: dict[str, torch.Tensor]) -> torch.Tensor:
        """Noiseless stamps for a catalogue from ``population.draw_catalogue``."""
        components, substructure, has_substructure = layout(catalogue, self.device)
        return self._renderer.draw(components, substructure, has_substructure)


def truth_columns(catalogue: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The truth columns (see ``SyntheticSurvey``) from a catalogue."""
    columns = {
        "true_population": catalogue["population"].long(),
        "true_redshift": catalogue["redshift"],
        "true_r_e_kpc": catalogue["r_e_kpc"],
        "true_r_e_arcsec": catalogue["r_e_arcsec"],
        "true_sersic_n": catalogue["sersic_n"],
        "true_axis_ratio": catalogue["axis_ratio"],
        "true_position_angle": catalogue["position_angle"],
        "true_bulge_fraction": catalogue["bulge_fraction"],
        "true_bulge_sersic_n": catalogue["bulge_n"],
        "true_bulge_r_e_arcsec": catalogue["bulge_r_e_arcsec"],
        "true_absolute_mag_r": catalogue["absolute_mag_r"],
        "true_log_stellar_mass": catalogue["log_stellar_mass"],
        "true_disc_sed_type": catalogue["disc_type"],
        "true_has_arms": catalogue["has_arms"].long(),
        "true_has_clumps": catalogue["has_clumps"].long(),
        "true_n_neighbours": catalogue["neighbour_count"].long(),
        "true_centre_x": STAMP_SIZE // 2 + catalogue["centre_offset"][:, 0],
        "true_centre_y": STAMP_SIZE // 2 + catalogue["centre_offset"][:, 1],
    }
    for b, band in enumerate(BANDS):
        columns[f"true_{band}_mag"] = catalogue["magnitudes"][:, b]
    return columns


def layout(catalogue: dict[str, torch.Tensor], device: torch.device | str) -> tuple[Components, Substructure, torch.Tensor]:
    """Translate a catalogue into renderer slots: [spheroid or bulge, smooth disc, neighbours...] + substructure."""
    n = catalogue["redshift"].shape[0]
    to_pixels = 1.0 / PIXEL_SCALE_ARCSEC
    primary_centre = catalogue["centre_offset"]
    ones = torch.ones(n)
    sersic_index = torch.cat([torch.stack([catalogue["bulge_n"], ones], 1), catalogue["neighbour_n"]], 1)
    half_light = torch.cat([torch.stack([catalogue["bulge_r_e_arcsec"], catalogue["r_e_arcsec"]], 1),
                            catalogue["neighbour_r_e_arcsec"]], 1) * to_pixels
    axis_ratio = torch.cat([torch.stack([catalogue["bulge_axis_ratio"], catalogue["axis_ratio"]], 1),
                            catalogue["neighbour_axis_ratio"]], 1)
    angle = torch.cat([catalogue["position_angle"][:, None].expand(n, 2), catalogue["neighbour_position_angle"]], 1)
    centre = torch.cat([primary_centre[:, None, :].expand(n, 2, 2), primary_centre[:, None, :] + catalogue["neighbour_offset"]], 1)
    flux = torch.cat([catalogue["component_flux"][:, :2], catalogue["neighbour_flux"]], 1)
    assert flux.shape[1] == 2 + NEIGHBOUR_SLOTS
    components = Components(sersic_index, half_light, axis_ratio, angle, centre, flux)
    substructure = Substructure(
        disc_half_light_radius=catalogue["r_e_arcsec"] * to_pixels,
        axis_ratio=catalogue["axis_ratio"],
        position_angle=catalogue["position_angle"],
        centre=primary_centre,
        arm_fraction=catalogue["arm_fraction"],
        clump_fraction=catalogue["clump_fraction"],
        arm_count=catalogue["arm_count"].float(),
        arm_pitch=catalogue["arm_pitch"],
        arm_phase=catalogue["arm_phase"],
        clump_radius=catalogue["clump_radius"],
        clump_angle=catalogue["clump_angle"],
        clump_sigma=catalogue["clump_sigma_pixels"],
        clump_weight=catalogue["clump_weight"],
        flux=catalogue["component_flux"][:, 2],
    )
    has_substructure = catalogue["has_arms"] | catalogue["has_clumps"]
    move = lambda obj: type(obj)(*(getattr(obj, f).to(device) for f in obj.__dataclass_fields__))  # noqa: E731
    return move(components), move(substructure), has_substructure.to(device)


@functools.cache
def _median_size_curve(samples_per_redshift: int = 4000, seed: int = 20240601) -> tuple[np.ndarray, np.ndarray]:
    grid = np.concatenate([np.linspace(0.02, 1.5, 38), np.linspace(1.6, 4.0, 13)])
    generator = torch.Generator().manual_seed(seed)
    tables = Tables("cpu")
    medians = []
    for redshift in grid:
        catalogue = draw_catalogue(samples_per_redshift, generator, tables,
                                   redshift=torch.full((samples_per_redshift,), float(redshift)))
        medians.append(float(catalogue["r_e_arcsec"].median()))
    return grid, np.array(medians)


def true_median_size_arcsec(redshift) -> np.ndarray:
    """The survey's TRUE median angular half-light radius (arcsec, ``true_r_e_arcsec``) at each redshift.

    Computed from 4000 catalogue draws at each of 51 redshifts between 0.02 and 4 (fixed seed, no images), then
    interpolated; it includes the population mix and the magnitude selection at that redshift. Use it to check
    what a model or a measurement recovers; it is a property of this synthetic universe only.
    """
    grid, medians = _median_size_curve()
    return np.interp(np.asarray(redshift, dtype=np.float64), grid, medians)
