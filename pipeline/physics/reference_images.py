"""Event images as the SUEP reference study defines them, and the trigger's HT, from one bunch
crossing (the hard interaction at its vertex plus pileup, physics/pileup.py):

- channel 0, tracks: reconstructed tracks from the hard vertex (|z0 - z_hard| < dz_max, so
  charged pileup is gone), each adding its pT at the pixel where its helix meets the
  calorimeter face (physics/towers.py), not at its direction at the vertex;
- channel 1, ECAL: towers of one image pixel (0.0175 x 0.0175 at 286 x 360 over |eta| < 2.5,
  CMS's crystal size), E_T = E / cosh(eta) of the towers that pass the thresholds;
- channel 2, HCAL: towers of 5 x 5 image pixels (0.087, CMS's HCAL towers), each tower's E_T
  spread evenly over its pixels (E_T / 25; a tower cut by the image edge over the pixels it
  has), so the channel's sum is the towers' E_T.
Pileup stays in both calorimeter channels, as it does in a detector.

HT: the scalar sum of pT of anti-kt R = 0.4 jets with pT > 30 GeV and |eta| < 2.5, clustered
from the hard vertex's tracks and the towers of neutral particles (charged-hadron subtraction),
each jet's pT reduced by rho x area (rho: the median neutral E_T density of 0.5 x 0.52 patches
over |eta| < 2.5, area pi R^2) — a pileup-corrected trigger HT.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .detector_spec import DetectorSpec
from .pileup import PileupConfig
from .pp import ImageBinning
from .towers import ECAL_TOWERS, HCAL_TOWERS, FaceGeometry, energy_fractions, face_positions, measured_towers
from .tracker import reconstruct_tracks

HCAL_BLOCK = 5  # image pixels per HCAL tower, in eta and in phi


@dataclass(frozen=True)
class ReferenceConfig:
    face: FaceGeometry = field(default_factory=FaceGeometry)
    pileup: PileupConfig = field(default_factory=PileupConfig)
    jet_pt_min: float = 30.0
    jet_eta_max: float = 2.5
    jet_radius: float = 0.4


@dataclass
class CrossingImage:
    index: np.ndarray  # int32 flat pixel indices ((channel * rows + row) * columns + column), sorted
    value: np.ndarray  # float32 GeV
    ntracks: int  # tracks from the hard vertex inside the image (the multiplicity baseline)
    ht: float  # pileup-corrected HT (GeV)
    hard_ht: float | None = None  # the hard interaction's own HT, where it was computed (the pre-selection's)


class HcalBlocks:
    """HCAL towers as 5 x 5 blocks of image pixels."""

    def __init__(self, grid: ImageBinning, block: int = HCAL_BLOCK) -> None:
        self.grid, self.block = grid, block
        self.rows = -(-grid.eta_bins // block)
        self.columns = -(-grid.phi_bins // block)

    def tower(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return (i // self.block) * self.columns + j // self.block

    def eta(self, tower: np.ndarray) -> np.ndarray:
        first = (tower // self.columns) * self.block
        last = np.minimum(first + self.block, self.grid.eta_bins) - 1
        return self.grid.row_eta(0.5 * (first + last))

    def phi(self, tower: np.ndarray) -> np.ndarray:
        first = (tower % self.columns) * self.block
        last = np.minimum(first + self.block, self.grid.phi_bins) - 1
        return self.grid.column_phi(0.5 * (first + last))

    def spread(self, tower: np.ndarray, et: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, column, value) of every pixel of each tower, E_T shared evenly: sums conserved."""
        rows, columns = [], []
        values = []
        for t, e in zip(tower.tolist(), et.tolist(), strict=True):
            r0, c0 = (t // self.columns) * self.block, (t % self.columns) * self.block
            r = np.arange(r0, min(r0 + self.block, self.grid.eta_bins))
            c = np.arange(c0, min(c0 + self.block, self.grid.phi_bins))
            rr, cc = np.meshgrid(r, c, indexing="ij")
            rows.append(rr.ravel())
            columns.append(cc.ravel())
            values.append(np.full(rr.size, e / rr.size))
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate(rows), np.concatenate(columns), np.concatenate(values)


def calorimeter_towers(particles, grid: ImageBinning, face_hits, rng: np.random.Generator, select=None):
    """Measured ECAL towers (row, column, E_T) and HCAL towers (tower id, E_T) of the particles
    (those in `select`, a mask, when given); `face_hits` is face_positions(particles, face)."""
    eta, phi, reached = face_hits
    i, j, inside = grid.cell(eta, phi)
    f_ecal, f_hcal = energy_fractions(particles["pid"])
    on = reached & inside & (True if select is None else select)
    energy = particles["energy"]
    columns = grid.phi_bins
    e_ids, e_energy = measured_towers(
        (i * columns + j)[on & (f_ecal > 0)], (energy * f_ecal)[on & (f_ecal > 0)],
        lambda ids: grid.row_eta(ids // columns), ECAL_TOWERS, rng,
    )  # fmt: skip
    blocks = HcalBlocks(grid)
    h_ids, h_energy = measured_towers(
        blocks.tower(i, j)[on & (f_hcal > 0)], (energy * f_hcal)[on & (f_hcal > 0)], blocks.eta, HCAL_TOWERS, rng
    )
    e_et = e_energy / np.cosh(grid.row_eta(e_ids // columns))
    h_et = h_energy / np.cosh(blocks.eta(h_ids))
    return (e_ids // columns, e_ids % columns, e_et), (h_ids, h_et), blocks


def pileup_corrected_ht(tracks, hard, neutral_ecal, neutral_hcal, blocks: HcalBlocks, cfg: ReferenceConfig) -> float:
    """HT of anti-kt jets of the hard vertex's tracks and the neutral towers, rho x A subtracted."""
    import fastjet

    grid = blocks.grid
    rows, cols, e_et = neutral_ecal
    h_ids, h_et = neutral_hcal
    eta = np.concatenate([tracks["eta"][hard], grid.row_eta(rows), blocks.eta(h_ids)])
    phi = np.concatenate([tracks["phi"][hard], grid.column_phi(cols), blocks.phi(h_ids)])
    pt = np.concatenate([tracks["pt"][hard], e_et, h_et])
    neutral_eta, neutral_et = eta[hard.sum() :], pt[hard.sum() :]
    if pt.size == 0:
        return 0.0
    # rho: median neutral E_T density over patches (10 in eta x 12 in phi)
    patch_i = np.clip(((neutral_eta + grid.eta_max) / (2 * grid.eta_max) * 10).astype(int), 0, 9)
    patch_j = np.clip((np.mod(phi[hard.sum() :] + np.pi, 2 * np.pi) / (2 * np.pi) * 12).astype(int), 0, 11)
    patches = np.bincount(patch_i * 12 + patch_j, weights=neutral_et, minlength=120)
    rho = float(np.median(patches)) / ((2 * grid.eta_max / 10) * (2 * np.pi / 12))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2)
    inputs = [fastjet.PseudoJet(*map(float, v)) for v in zip(px, py, pz, energy, strict=True)]
    sequence = fastjet.ClusterSequence(inputs, fastjet.JetDefinition(fastjet.antikt_algorithm, cfg.jet_radius))
    area = np.pi * cfg.jet_radius**2
    corrected = [
        j.pt() - rho * area for j in sequence.inclusive_jets(0.5 * cfg.jet_pt_min) if abs(j.eta()) < cfg.jet_eta_max
    ]
    return float(sum(c for c in corrected if c > cfg.jet_pt_min))


def crossing_image(
    particles: dict[str, np.ndarray], z_hard: float, spec: DetectorSpec, grid: ImageBinning, cfg: ReferenceConfig,
    rng: np.random.Generator,
) -> CrossingImage:  # fmt: skip
    """The three-channel image and the trigger HT of one crossing."""
    tracks = reconstruct_tracks(particles, spec, rng)
    hard = np.abs(tracks["z0"] - z_hard) < cfg.pileup.dz_max
    face_hits = face_positions(particles, cfg.face)  # once per crossing: tracks and both tower sets
    eta_f, phi_f, reached = face_hits
    gen = tracks["gen_index"]
    t_i, t_j, t_in = grid.cell(eta_f[gen], phi_f[gen])
    on = hard & reached[gen] & t_in
    (e_i, e_j, e_et), (h_ids, h_et), blocks = calorimeter_towers(particles, grid, face_hits, rng)
    h_i, h_j, h_value = blocks.spread(h_ids, h_et)
    rows, cols = grid.eta_bins, grid.phi_bins
    index = np.concatenate([
        (0 * rows + t_i[on]) * cols + t_j[on], (1 * rows + e_i) * cols + e_j, (2 * rows + h_i) * cols + h_j
    ])  # fmt: skip
    value = np.concatenate([tracks["pt"][on], e_et, h_value])
    unique, inverse = np.unique(index, return_inverse=True)
    summed = np.bincount(inverse, weights=value, minlength=unique.size)
    neutral_ecal, neutral_hcal, _ = calorimeter_towers(particles, grid, face_hits, rng, select=particles["charge"] == 0)
    ht = pileup_corrected_ht(tracks, hard, neutral_ecal, neutral_hcal, blocks, cfg)
    return CrossingImage(unique.astype(np.int32), summed.astype(np.float32), int(on.sum()), ht)
