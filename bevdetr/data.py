"""Synthetic BEV scenes: objects rendered into a multi-channel bird's-eye-view grid.

A scene is deterministic per (seed, split, index), so every process, every epoch and a
resumed run see exactly the same samples. Objects have a class, a centre (x, y, z),
a size (w, l, h) drawn around a per-class prior, and a yaw. A scene is drawn on a fine
raster (SAMPLE_PITCH apart) and reduced to the grid (C=6, H, W), as a lidar pillar
summarises its points:

    0 occupancy    the share of the cell the soft footprints cover (sub-cell centres recoverable)
    1 top          height of the object's top above the ground / 4 }  read at the cell's
    2, 3 signature a per-class 2-vector (the "colour" of a class)   }  most covered sample,
    5 ground       ground elevation under the object + 1            }  × its footprint there
    4 front        a Gaussian blob at the front of the box (max over the cell): yaw is identifiable

plus look-alike clutter (footprints with a faint, wrong signature and no front marker),
Gaussian noise and cell dropout. Every object, however small against the cell, shows in its
cells at its own height, signature and front marker (`object_signal`; the test over the
generator checks each is ≥ 3 noise σ in some channel). Axis convention: grid[c, iy, ix], x
along columns (W), y along rows (H), cell centres at -extent + (i + 0.5) * cell.

torch is imported in `collate` only: the scene generator runs without it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

CLASS_NAMES = ("car", "truck", "pedestrian", "cyclist", "barrier")
# (w, l, h) in metres: distinct footprints so size alone already hints at the class.
SIZE_PRIORS = {
    "car": (1.9, 4.4, 1.6),
    "truck": (2.6, 7.5, 3.2),
    "pedestrian": (0.7, 0.7, 1.75),
    "cyclist": (0.7, 1.8, 1.5),
    "barrier": (0.5, 2.4, 1.0),
}
NUM_CHANNELS = 6
SPLIT_IDS = {"train": 0, "val": 1}


@dataclass(frozen=True)
class SceneConfig:
    """Scene generator settings; `difficulty` scales noise, clutter and dropout together."""

    grid: int = 32  # cells per side
    extent: float = 16.0  # metres: the grid covers [-extent, extent]^2
    num_classes: int = 4  # first k of CLASS_NAMES (3..5)
    min_objects: int = 2
    max_objects: int = 8
    size_jitter: float = 0.10  # std of log-size around the prior
    softness: float = 0.25  # metres: width of the footprint's sigmoid edge
    noise: float = 0.05  # std of Gaussian noise on every channel
    clutter: int = 2  # at most this many look-alikes per scene
    dropout: float = 0.03  # probability that a cell reads all zeros
    difficulty: float = 1.0  # multiplies noise, clutter and dropout

    def __post_init__(self):
        if not 3 <= self.num_classes <= len(CLASS_NAMES):
            raise ValueError(f"num_classes must be 3..{len(CLASS_NAMES)}, got {self.num_classes}")
        if not 0 < self.min_objects <= self.max_objects:
            raise ValueError("need 0 < min_objects <= max_objects")

    @property
    def cell(self) -> float:
        return 2 * self.extent / self.grid

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES[: self.num_classes]

    def to_dict(self) -> dict:
        return asdict(self)


def class_signature(label: int, num_classes: int) -> tuple[float, float]:
    """A unit 2-vector per class, evenly spread on the circle."""
    angle = 2 * math.pi * label / num_classes
    return math.cos(angle), math.sin(angle)


def cell_centres(cfg: SceneConfig) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) arrays of the x and y coordinates of cell centres, in metres."""
    c = -cfg.extent + (np.arange(cfg.grid) + 0.5) * cfg.cell
    xs, ys = np.meshgrid(c, c)  # xs varies along columns, ys along rows
    return xs, ys


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def footprints(boxes: np.ndarray, xs: np.ndarray, ys: np.ndarray, softness: float) -> np.ndarray:
    """Soft rectangles. boxes (M, 7) = x, y, z, w, l, h, yaw -> (M, *xs.shape) in [0, 1]."""
    dx = xs[None] - boxes[:, 0, None, None]
    dy = ys[None] - boxes[:, 1, None, None]
    cos, sin = np.cos(boxes[:, 6])[:, None, None], np.sin(boxes[:, 6])[:, None, None]
    along = dx * cos + dy * sin  # along the heading (length)
    across = -dx * sin + dy * cos  # across it (width)
    half_w, half_l = boxes[:, 3, None, None] / 2, boxes[:, 4, None, None] / 2
    return _sigmoid((half_l - np.abs(along)) / softness) * _sigmoid((half_w - np.abs(across)) / softness)


def _sample_objects(rng: np.random.Generator, cfg: SceneConfig, count: int, margin: float):
    """Non-overlapping boxes (M, 7) with labels (M,); tries a bounded number of times."""
    boxes, labels = [], []
    ground = rng.uniform(-0.5, 0.5)
    for _ in range(count * 20):
        if len(boxes) == count:
            break
        label = int(rng.integers(cfg.num_classes))
        w, length, h = np.asarray(SIZE_PRIORS[CLASS_NAMES[label]]) * np.exp(rng.normal(0, cfg.size_jitter, 3))
        x, y = rng.uniform(-cfg.extent + margin, cfg.extent - margin, 2)
        radius = 0.5 * math.hypot(w, length)
        if any(math.hypot(x - b[0], y - b[1]) < radius + 0.5 * math.hypot(b[3], b[4]) + 0.3 for b in boxes):
            continue
        yaw = rng.uniform(-math.pi, math.pi)
        z = ground + rng.normal(0, 0.05) + h / 2
        boxes.append((x, y, z, w, length, h, yaw))
        labels.append(label)
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 7), np.asarray(labels, dtype=np.int64), ground


# The scene is drawn on a raster this fine (metres between samples) and then reduced to the grid,
# as a lidar pillar summarises the points that fall into it. Sampling each cell at its centre
# alone lost small objects between centres: on 2 m cells most pedestrians rendered below the noise.
SAMPLE_PITCH = 0.25
FRONT_SIGMA = 0.5  # metres: width of the front marker's Gaussian


def supersampling(cfg: SceneConfig) -> int:
    """Samples per cell side on the fine raster (2 m cells: 8, 1 m: 4)."""
    return max(1, math.ceil(cfg.cell / SAMPLE_PITCH - 1e-9))


class _Raster:
    """The fine raster a scene is drawn on: per sample the highest footprint so far and what it shows."""

    def __init__(self, cfg: SceneConfig):
        self.cfg, self.s = cfg, supersampling(cfg)
        n = cfg.grid * self.s
        self.pitch = cfg.cell / self.s
        self.centres = -cfg.extent + (np.arange(n) + 0.5) * self.pitch
        self.channels = np.zeros((NUM_CHANNELS, n, n))

    def window(self, x: float, y: float, radius: float) -> tuple[slice, slice]:
        """Rows (y) and columns (x) of the samples within `radius` of (x, y), as slices."""

        def span(c):
            lo = int(np.searchsorted(self.centres, c - radius))
            return slice(lo, int(np.searchsorted(self.centres, c + radius, side="right")))

        return span(y), span(x)

    def draw(
        self, box: np.ndarray, values: tuple[float, float, float, float, float], front: bool, free_only: bool = False
    ) -> None:
        """Paint one box: occupancy = its soft footprint; top, signature x, y, ground = footprint x value
        where it is the highest footprint so far (the object a sample shows); the front marker adds by max.

        free_only: paint only samples no object covers yet (look-alike clutter never hides an object).
        """
        x, y, _, w, length, _, yaw = box
        rows, cols = self.window(x, y, 0.5 * math.hypot(w, length) + 3 * FRONT_SIGMA)
        xs, ys = np.meshgrid(self.centres[cols], self.centres[rows])
        fp = footprints(box[None], xs, ys, self.cfg.softness)[0]
        occ = self.channels[0, rows, cols]
        shows = fp > occ
        if free_only:
            shows &= occ < 0.1
        block = self.channels[:, rows, cols]
        block[0] = np.where(shows, fp, occ)
        for c, v in zip((1, 2, 3, 5), values[:4]):
            block[c] = np.where(shows, fp * v, block[c])
        if front:
            fx, fy = x + 0.5 * length * math.cos(yaw), y + 0.5 * length * math.sin(yaw)
            marker = np.exp(-((xs - fx) ** 2 + (ys - fy) ** 2) / (2 * FRONT_SIGMA**2))
            block[4] = np.maximum(block[4], marker)
        self.channels[:, rows, cols] = block

    def reduce(self) -> np.ndarray:
        """(C, n, n) -> (C, grid, grid): occupancy is the covered share of the cell (sub-cell centres
        stay recoverable); top, signature and ground are read where the cell's footprint is highest;
        the front marker is the cell's maximum."""
        g, s = self.cfg.grid, self.s
        blocks = (
            self.channels.reshape(NUM_CHANNELS, g, s, g, s).transpose(0, 1, 3, 2, 4).reshape(NUM_CHANNELS, g, g, s * s)
        )
        out = np.empty((NUM_CHANNELS, g, g))
        out[0] = blocks[0].mean(-1)
        peak = blocks[0].argmax(-1)[None, ..., None]
        picked = np.take_along_axis(blocks, peak, -1)[..., 0]
        out[[1, 2, 3, 5]] = picked[[1, 2, 3, 5]]
        out[4] = blocks[4].max(-1)
        return out


def _object_values(box: np.ndarray, label: int, cfg: SceneConfig) -> tuple[float, ...]:
    """What an object's footprint carries: (top / 4, signature x, signature y, ground + 1, unused)."""
    sx, sy = class_signature(label, cfg.num_classes)
    top, bottom = box[2] + box[5] / 2, box[2] - box[5] / 2
    return top / 4.0, sx, sy, bottom + 1.0, 0.0


def render_scene(cfg: SceneConfig, seed: int, split: str, index: int, clean: bool = False):
    """One scene. Returns grid (C, H, W) float32, labels (M,) int64, boxes (M, 7) float32.

    clean: without noise and cell dropout (what the sensor saw before it was corrupted); the
    objects, clutter and random draws are the same.
    """
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index])
    count = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    boxes, labels, ground = _sample_objects(rng, cfg, count, margin=1.5)
    raster = _Raster(cfg)
    for box, label in zip(boxes, labels):
        raster.draw(box, _object_values(box, int(label), cfg), front=True)

    n_clutter = int(rng.integers(0, int(round(cfg.clutter * cfg.difficulty)) + 1))
    if n_clutter:
        fake, fake_labels, _ = _sample_objects(rng, cfg, n_clutter, margin=1.0)
        for k in range(len(fake)):
            sx, sy = class_signature(int(fake_labels[k]), cfg.num_classes)
            height = fake[k, 5] * rng.uniform(0.3, 1.2)
            raster.draw(fake[k], (height / 4.0, sx * 0.4, sy * 0.4, ground + 1.0, 0.0), front=False, free_only=True)

    grid = raster.reduce()
    noise = rng.normal(0.0, cfg.noise * cfg.difficulty, grid.shape)
    keep = rng.random((cfg.grid, cfg.grid)) >= cfg.dropout * cfg.difficulty
    if not clean:
        grid = (grid + noise) * keep[None]
    return grid.astype(np.float32), labels, boxes.astype(np.float32)


def object_signal(cfg: SceneConfig, box: np.ndarray, label: int) -> np.ndarray:
    """(C,) the largest |value| each channel shows for this object drawn alone, without noise:
    what makes it visible. Divide by cfg.noise x cfg.difficulty for its signal-to-noise ratio."""
    raster = _Raster(cfg)
    box = np.asarray(box, dtype=np.float64)
    raster.draw(box, _object_values(box, int(label), cfg), front=True)
    return np.abs(raster.reduce()).reshape(NUM_CHANNELS, -1).max(-1)


# rendered scenes are kept when the whole split fits in this (tiny and small: every epoch after
# the first reads memory instead of rendering again; full's 16,000 scenes are rendered each time)
CACHE_BYTES = 256 * 1024 * 1024


class SyntheticBEV:
    """A fixed-size synthetic dataset: item i is render_scene(cfg, seed, split, i)."""

    def __init__(self, cfg: SceneConfig, seed: int, split: str, length: int):
        if split not in SPLIT_IDS:
            raise ValueError(f"split must be one of {sorted(SPLIT_IDS)}")
        self.cfg, self.seed, self.split, self.length = cfg, seed, split, length
        grid_bytes = 4 * NUM_CHANNELS * cfg.grid * cfg.grid  # float32
        self._cache: dict[int, tuple] | None = {} if length * grid_bytes <= CACHE_BYTES else None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        if not 0 <= index < self.length:
            raise IndexError(index)
        if self._cache is None:
            return render_scene(self.cfg, self.seed, self.split, index)
        if index not in self._cache:
            self._cache[index] = render_scene(self.cfg, self.seed, self.split, index)
        return self._cache[index]


def collate(samples):
    """List of (grid, labels, boxes) -> grids (B, C, H, W) tensor, list of target dicts."""
    import torch

    grids = torch.from_numpy(np.stack([s[0] for s in samples]))
    targets = [{"labels": torch.from_numpy(s[1]), "boxes": torch.from_numpy(s[2])} for s in samples]
    return grids, targets


def epoch_order(length: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled sample order of an epoch: same on every rank, depends only on (seed, epoch)."""
    return np.random.default_rng([seed, 7919, epoch]).permutation(length)


def rank_batches(order: np.ndarray, batch: int, rank: int, world: int) -> list[np.ndarray]:
    """Split an epoch's order into this rank's batches (drop_last, like DistributedSampler).

    Global batch b holds order[b*batch*world : (b+1)*batch*world]; rank r takes every world-th.
    """
    total = batch * world
    n_batches = len(order) // total
    return [order[b * total : (b + 1) * total][rank::world] for b in range(n_batches)]
