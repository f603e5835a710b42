"""Vectorised torch renderer: Sérsic components, spiral arms and clumps, seen through a Moffat PSF on HSC pixels.

Smooth components (spheroids, bulges, discs, neighbours) are drawn in Fourier space from tabulated Sérsic
transforms (``profiles``), times the square-pixel and Moffat transforms, as GalSim does for analytic profiles; this
integrates over pixels exactly, which matters for the cusp of an n = 4 profile a few pixels across. Spiral arms and
clumps have no analytic transform: they are evaluated at pixel centres on the same grid, FFT'd, and PSF-convolved.

A galaxy whose truncated profile reaches past ±40 pixels is drawn on a 128-pixel grid (past ±96: 256) and cropped,
so that its outer light is not wrapped around (FFT convolution is periodic) onto the opposite side of the stamp.
Everything runs batched on CPU or CUDA.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from galaxy_explorer.instrument import BANDS, MOFFAT_BETA, PIXEL_SCALE_ARCSEC, PSF_FWHM_ARCSEC, STAMP_SIZE
from galaxy_explorer.synthetic import profiles

# (FFT grid size, how far in pixels from the stamp centre a profile may reach on it with its wrapped-around light
# staying outside the 64-pixel stamp, or only grazing its edge on the 64 grid itself)
GRID_TIERS = ((STAMP_SIZE, 40.0), (128, 96.0), (256, float("inf")))


@dataclass
class Components:
    """Smooth Sérsic components of a batch, ``n`` galaxies x ``slots``. Lengths in pixels, angles in radians.

    ``centre`` is relative to the stamp centre (pixel 32, 32 of 64; x = column, y = row), ``position_angle`` is
    counter-clockwise from +x, ``half_light_radius`` is along the major axis, and ``flux`` (n, slots, bands) is in
    survey units (a slot with zero flux is simply absent).
    """

    sersic_index: torch.Tensor  # (n, slots) float; drawn at the nearest tabulated value (0.1 steps)
    half_light_radius: torch.Tensor
    axis_ratio: torch.Tensor
    position_angle: torch.Tensor
    centre: torch.Tensor  # (n, slots, 2)
    flux: torch.Tensor  # (n, slots, bands)

    def select(self, rows: torch.Tensor) -> "Components":
        return Components(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))


@dataclass
class Substructure:
    """Spiral arms and clumps of a batch (drawn in real space); see ``population.draw_catalogue`` for the meaning."""

    disc_half_light_radius: torch.Tensor  # (n,) pixels
    axis_ratio: torch.Tensor
    position_angle: torch.Tensor
    centre: torch.Tensor  # (n, 2)
    arm_fraction: torch.Tensor  # shares of the substructure light in arms / clumps (need not sum to 1)
    clump_fraction: torch.Tensor
    arm_count: torch.Tensor
    arm_pitch: torch.Tensor
    arm_phase: torch.Tensor
    clump_radius: torch.Tensor  # (n, clumps) in disc scale lengths
    clump_angle: torch.Tensor
    clump_sigma: torch.Tensor  # pixels
    clump_weight: torch.Tensor
    flux: torch.Tensor  # (n, bands)

    def select(self, rows: torch.Tensor) -> "Substructure":
        return Substructure(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))


class Renderer:
    """Draws noiseless, PSF-convolved, pixel-integrated 64 x 64 stamps in every band at once."""

    def __init__(self, device: torch.device | str = "cpu", psf_fwhm_arcsec: dict[str, float] | None = None,
                 moffat_beta: float = MOFFAT_BETA, bands: tuple[str, ...] = BANDS):
        self.device = torch.device(device)
        self.bands = bands
        self.psf_fwhm_arcsec = dict(psf_fwhm_arcsec or PSF_FWHM_ARCSEC)
        self.moffat_beta = moffat_beta
        table = profiles.sersic_fourier_table()
        self._transform = torch.as_tensor(table["transform"], dtype=torch.float32, device=self.device).contiguous()
        self._log_kr_min = math.log(profiles.KR_MIN)
        self._log_kr_step = math.log(profiles.KR_MAX / profiles.KR_MIN) / (profiles.KR_POINTS - 1)
        self._half_light_ratio = torch.as_tensor(table["half_light_ratio"], dtype=torch.float32, device=self.device)
        self._truncation = torch.as_tensor(profiles.truncation_radius(profiles.SERSIC_INDEX_GRID), dtype=torch.float32,
                                           device=self.device)
        self._grids: dict[int, dict[str, torch.Tensor]] = {}

    # ------------------------------------------------------------------ Fourier grids
    def _grid(self, size: int) -> dict[str, torch.Tensor]:
        """k-grids (radians per pixel) and the PSF / pixel transforms for a size x size FFT grid (cached)."""
        if size not in self._grids:
            self._grids[size] = self._make_grid(size)
        return self._grids[size]

    def _make_grid(self, size: int) -> dict[str, torch.Tensor]:
        ky = 2 * np.pi * np.fft.fftfreq(size)
        kx = 2 * np.pi * np.fft.rfftfreq(size)
        k = np.hypot(ky[:, None], kx[None, :])
        psf = []
        for band in self.bands:
            fwhm_pixels = self.psf_fwhm_arcsec[band] / PIXEL_SCALE_ARCSEC
            alpha = fwhm_pixels / (2.0 * math.sqrt(2.0 ** (1.0 / self.moffat_beta) - 1.0))
            psf.append(profiles.moffat_transform(k, alpha, self.moffat_beta))
        as_tensor = functools.partial(torch.as_tensor, dtype=torch.float32, device=self.device)
        return {
            "kx": as_tensor(kx), "ky": as_tensor(ky),
            "psf": as_tensor(np.stack(psf)),
            "pixel_psf": as_tensor(np.stack(psf) * profiles.pixel_transform(kx[None, :], ky[:, None])[None]),
            "col": as_tensor(np.arange(size)),
        }

    # ------------------------------------------------------------------ profiles
    def _table_index(self, sersic_index: torch.Tensor) -> torch.Tensor:
        position = torch.round((sersic_index - profiles.SERSIC_INDEX_MIN) / profiles.SERSIC_INDEX_STEP)
        return position.clamp(0, self._transform.shape[0] - 1).long()

    def sersic_transform(self, sersic_index: torch.Tensor, half_light_radius: torch.Tensor, axis_ratio: torch.Tensor,
                         position_angle: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor) -> torch.Tensor:
        """Unit-flux transforms (m, Ky, Kx) of m centred components (1-D parameter tensors).

        An ellipse of major-axis half-light radius h, axis ratio q and angle phi has F(k) = F_circ(r0 |k'|) with
        k' = (k_major, q k_minor); |k'|² is a quadratic form in (kx, ky), so no rotated grids are built.
        """
        n_index = self._table_index(sersic_index)
        r0 = half_light_radius / self._half_light_ratio[n_index]  # untruncated scale the table uses
        cos2, sin2 = torch.cos(position_angle) ** 2, torch.sin(position_angle) ** 2
        q2 = axis_ratio**2
        r02 = r0**2
        a = (r02 * (cos2 + q2 * sin2))[:, None, None]
        b = (r02 * (sin2 + q2 * cos2))[:, None, None]
        c = (r02 * 2 * torch.cos(position_angle) * torch.sin(position_angle) * (1 - q2))[:, None, None]
        kr2 = a * (kx**2) + b * (ky**2)[:, None] + c * (ky[:, None] * kx)
        # position on the log-kr table: log(kr) = log(kr²) / 2
        position = torch.log(kr2.clamp_min(profiles.KR_MIN**2)).mul_(0.5 / self._log_kr_step)
        position.sub_(self._log_kr_min / self._log_kr_step).clamp_(0.0, profiles.KR_POINTS - 1.0001)
        lower = position.long()
        weight = position.sub_(lower)
        flat = lower.add_((n_index * profiles.KR_POINTS)[:, None, None])
        table = self._transform.reshape(-1)
        low_value = table[flat]
        value = low_value.add_(weight.mul_(table[flat + 1] - low_value))
        return value.masked_fill_(kr2 > profiles.KR_MAX**2, 0.0)

    def extent(self, components: Components) -> torch.Tensor:
        """How far (pixels) each galaxy's truncated light reaches from the stamp centre, over slots with flux."""
        n_index = self._table_index(components.sersic_index)
        reach = (components.half_light_radius / self._half_light_ratio[n_index] * self._truncation[n_index]
                 + components.centre.abs().amax(-1))
        return torch.where(components.flux.amax(-1) > 0, reach, torch.zeros_like(reach)).amax(-1)

    def substructure_image(self, sub: Substructure, size: int) -> torch.Tensor:
        """Unit-flux real-space images (n, size, size) of arms plus clumps, sampled at pixel centres."""
        grid = self._grid(size)
        centre = size // 2 + sub.centre
        coordinate = grid["col"]
        x = coordinate[None, :] - centre[:, 0, None]  # (n, size) along columns
        y = coordinate[None, :] - centre[:, 1, None]  # (n, size) along rows
        scale_length = sub.disc_half_light_radius / profiles.sersic_b(1.0).item()
        image = torch.zeros((sub.flux.shape[0], size, size), device=sub.flux.device)
        arm_share = sub.arm_fraction / (sub.arm_fraction + sub.clump_fraction).clamp_min(1e-12)

        with_arms = torch.nonzero(arm_share > 0).squeeze(1)
        if with_arms.numel():
            a = sub.select(with_arms)
            xa, ya = x[with_arms][:, None, :], y[with_arms][:, :, None]
            cos, sin = torch.cos(a.position_angle)[:, None, None], torch.sin(a.position_angle)[:, None, None]
            u = xa * cos + ya * sin
            v = (ya * cos - xa * sin) / a.axis_ratio[:, None, None]  # deprojected onto the disc plane
            r = torch.sqrt(u**2 + v**2).div_(scale_length[with_arms][:, None, None])
            # Logarithmic spiral: arms where cos(m (theta - ln r / tan(pitch)) - phase) peaks; tapered inside
            # 0.5 r_s, where the bulge dominates, and following the exponential disc outside.
            winding = torch.log(r.clamp_min(1e-3)) / torch.tan(a.arm_pitch)[:, None, None]
            argument = a.arm_count[:, None, None] * (torch.atan2(v, u) - winding) - a.arm_phase[:, None, None]
            arms = ((1 + torch.cos(argument)) / 2) ** 3 * torch.exp(-r) * (1 - torch.exp(-4 * r**2))
            arms /= arms.sum((-2, -1), keepdim=True).clamp_min(1e-12)
            image.index_copy_(0, with_arms, arm_share[with_arms, None, None] * arms)

        with_clumps = torch.nonzero(arm_share < 1).squeeze(1)
        if with_clumps.numel():
            c = sub.select(with_clumps)
            length = scale_length[with_clumps][:, None]
            clump_u = c.clump_radius * torch.cos(c.clump_angle) * length  # clump positions in the disc plane,
            clump_v = c.clump_radius * torch.sin(c.clump_angle) * length * c.axis_ratio[:, None]  # projected
            cpa, spa = torch.cos(c.position_angle)[:, None], torch.sin(c.position_angle)[:, None]
            clump_x = clump_u * cpa - clump_v * spa
            clump_y = clump_u * spa + clump_v * cpa
            sigma = c.clump_sigma.clamp_min(0.5)[..., None]
            # circular Gaussians are separable: exp(-dx²/2s²) exp(-dy²/2s²) as an outer product per clump
            gauss_x = torch.exp(-((x[with_clumps][:, None, :] - clump_x[..., None]) ** 2) / (2 * sigma**2))
            gauss_y = torch.exp(-((y[with_clumps][:, None, :] - clump_y[..., None]) ** 2) / (2 * sigma**2))
            weight = c.clump_weight / c.clump_weight.sum(-1, keepdim=True).clamp_min(1e-12)
            weight = weight / (2 * torch.pi * sigma[..., 0] ** 2)
            clumps = torch.einsum("nk,nky,nkx->nyx", weight, gauss_y, gauss_x)
            clumps /= clumps.sum((-2, -1), keepdim=True).clamp_min(1e-12)
            image.index_add_(0, with_clumps, (1 - arm_share[with_clumps])[:, None, None] * clumps)
        return image

    # ------------------------------------------------------------------ drawing
    def _draw_on_grid(self, components: Components, sub: Substructure | None, has_sub: torch.Tensor | None,
                      size: int) -> torch.Tensor:
        grid = self._grid(size)
        kx, ky = grid["kx"], grid["ky"]
        n, slots = components.flux.shape[:2]
        # Only components with light are transformed (absent neighbours, the disc slot of a spheroid).
        galaxy, slot = torch.nonzero(components.flux.amax(-1) > 0, as_tuple=True)
        pick = lambda t: t[galaxy, slot]  # noqa: E731
        profile = self.sersic_transform(pick(components.sersic_index), pick(components.half_light_radius),
                                        pick(components.axis_ratio), pick(components.position_angle), kx, ky)
        position = size // 2 + pick(components.centre)  # translate: multiply by exp(-i k.x0)
        phase_x = torch.polar(torch.ones_like(position[:, 0, None]), -position[:, 0, None] * kx)
        phase_y = torch.polar(torch.ones_like(position[:, 1, None]), -position[:, 1, None] * ky)
        shifted = torch.zeros((n * slots,) + profile.shape[1:], dtype=phase_x.dtype, device=profile.device)
        shifted.index_copy_(0, galaxy * slots + slot, (phase_y[:, :, None] * phase_x[:, None, :]).mul_(profile))
        # sum over slots with per-band fluxes: (n, bands, slots) @ (n, slots, Ky*Kx)
        total = torch.bmm(components.flux.transpose(1, 2).to(shifted.dtype), shifted.view(n, slots, -1))
        total = total.view(n, -1, *profile.shape[1:]).mul_(grid["pixel_psf"])
        if sub is not None and has_sub is not None and bool(has_sub.any()):
            rows = torch.nonzero(has_sub).squeeze(1)
            picked = sub.select(rows)
            transform = torch.fft.rfft2(self.substructure_image(picked, size))
            total.index_add_(0, rows, picked.flux.to(transform.dtype)[:, :, None, None] * transform[:, None] * grid["psf"])
        image = torch.fft.irfft2(total, s=(size, size))
        start = (size - STAMP_SIZE) // 2
        return image[..., start:start + STAMP_SIZE, start:start + STAMP_SIZE]

    def draw(self, components: Components, substructure: Substructure | None = None,
             has_substructure: torch.Tensor | None = None, chunk: int = 64) -> torch.Tensor:
        """Noiseless stamps (n, bands, 64, 64), float32, survey flux units."""
        n = components.flux.shape[0]
        out = torch.empty((n, len(self.bands), STAMP_SIZE, STAMP_SIZE), dtype=torch.float32, device=self.device)
        extent = self.extent(components)
        lower = -float("inf")
        for size, upper in GRID_TIERS:
            rows_all = torch.nonzero((extent > lower) & (extent <= upper)).squeeze(1)
            lower = upper
            step = max(chunk * STAMP_SIZE**2 // size**2, 1)
            for start in range(0, rows_all.numel(), step):
                rows = rows_all[start:start + step]
                out.index_copy_(0, rows, self._draw_on_grid(
                    components.select(rows),
                    None if substructure is None else substructure.select(rows),
                    None if has_substructure is None else has_substructure[rows],
                    size,
                ))
        return out
