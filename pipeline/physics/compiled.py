"""The detector simulation's inner loops, compiled with Numba (cached per machine; about 0.9 s of
start-up per process).

- `voxel_groups`: connected groups of occupied voxels for the clustering. Voxels are (region,
  layer, i, j) integer cells; two that touch (face, edge or corner: 26-connectivity) are linked,
  the i index wrapping around in the barrel. A union-find over the sorted voxel keys: each
  voxel's forward neighbours are found by pointers that only move forward (a search only across
  the barrel's wrap-around), no neighbour list, no sparse matrix. Groups are numbered in the
  order of their smallest voxel key, as scipy's connected_components numbers them on the sorted
  voxels, so the result is identical to the graph formulation it replaced.
- `sorted_runs`: cell and (cell, particle) sums over sorted keys for the digitisation, in the
  order np.bincount sums them.
- `spot_positions`, `spot_cell_keys`, `cell_centres`: the digitisation's per-spot and per-cell
  geometry in one pass each, in the float width and operation order of the array formulas they
  replaced (no fused multiply-add: Numba does not contract without fastmath), so the cells and
  their centres are the same to the bit.
- `unique_inverse`: np.unique(keys, return_inverse=True) through a hash table (a sort of the
  distinct keys only).
- `best_in_runs`: the largest-weight value of each run of a grouped array (the first of equal
  maxima).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_OFFSET = 1 << 20


@njit(cache=True, inline="always")
def _key(region, layer, i, j):
    return ((region * 64 + layer) << 42) | ((i + _OFFSET) << 21) | (j + _OFFSET)


@njit(cache=True)
def _find(parent, a):
    root = a
    while parent[root] != root:
        root = parent[root]
    while parent[a] != root:  # path compression
        parent[a], a = root, parent[a]
    return root


@njit(cache=True)
def _union(parent, a, b):
    """Join the groups of a and b under the smaller root."""
    a, b = _find(parent, a), _find(parent, b)
    if a != b:
        parent[max(a, b)] = min(a, b)


def voxel_keys(region, layer, i, j) -> np.ndarray:
    """One int64 per voxel that sorts like (region, layer, i, j) (|i|, |j| < 2^20, layer < 64):
    the compiled loop's own key, on arrays."""
    return np.asarray(_key.py_func(region, layer, i, j)).astype(np.int64)


@njit(cache=True)
def _bisect(keys, value):
    lo, hi = 0, keys.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def voxel_groups(keys, wrap_region, n_wrap):
    """(number of groups, group per voxel) of the sorted, unique `voxel_keys`; the i index of
    voxels in region `wrap_region` wraps around modulo n_wrap."""
    m = keys.size
    parent = np.arange(m)
    mask = (1 << 21) - 1
    # the four neighbouring rows (d layer, d i) whose three j neighbours follow each other in key
    # order; and the (0, 0, +1) neighbour, which is the next key if it exists
    rows = ((0, 1), (1, -1), (1, 0), (1, 1))
    pointer = np.zeros(len(rows), dtype=np.int64)
    for v in range(m):
        key = keys[v]
        j = (key & mask) - _OFFSET
        i = ((key >> 21) & mask) - _OFFSET
        region, layer = (key >> 42) // 64, (key >> 42) % 64
        if v + 1 < m and keys[v + 1] == key + 1:
            _union(parent, v, v + 1)
        for r in range(len(rows)):
            dl, di = rows[r]
            i1 = i + di
            wrapped = False
            if region == wrap_region and (i1 < 0 or i1 >= n_wrap):
                i1 %= n_wrap
                wrapped = True
            lo = _key(region, layer + dl, i1, j - 1)
            if wrapped:  # out of key order: search the whole list
                at = _bisect(keys, lo)
            else:  # targets rise with v: the pointer only moves forward
                at = pointer[r]
                while at < m and keys[at] < lo:
                    at += 1
                pointer[r] = at
            while at < m and keys[at] <= lo + 2:
                _union(parent, v, at)
                at += 1
    label = np.full(m, -1, dtype=np.int64)
    count = 0
    for v in range(m):  # roots are their group's smallest voxel: number groups in voxel order
        root = _find(parent, v)
        if label[root] < 0:
            label[root] = count
            count += 1
        label[v] = label[root]
    return count, label


@njit(cache=True)
def sorted_runs(pairs, energy, owner_bits):
    """Runs of equal (cell << owner_bits | particle) keys, already sorted, with their energies:
    (cell key per cell, energy per cell, cell per (cell, particle) pair, particle per pair,
    energy per pair). Sums run in input order, as np.bincount's do."""
    n = pairs.size
    cells = np.empty(n, dtype=np.int64)
    cell_energy = np.zeros(n)
    pair_cell = np.empty(n, dtype=np.int64)
    pair_particle = np.empty(n, dtype=np.int64)
    pair_energy = np.zeros(n)
    mask = (1 << owner_bits) - 1
    n_cells = n_pairs = 0
    for k in range(n):
        key = pairs[k]
        if k == 0 or key != pairs[k - 1]:
            cell = key >> owner_bits
            if n_cells == 0 or cells[n_cells - 1] != cell:
                cells[n_cells] = cell
                n_cells += 1
            pair_cell[n_pairs] = n_cells - 1
            pair_particle[n_pairs] = key & mask
            n_pairs += 1
        cell_energy[n_cells - 1] += energy[k]
        pair_energy[n_pairs - 1] += energy[k]
    return cells[:n_cells], cell_energy[:n_cells], pair_cell[:n_pairs], pair_particle[:n_pairs], pair_energy[:n_pairs]


@njit(cache=True)
def spot_positions(owner, along, across1, across2, frame, start):
    """float32 (n, 3) positions: start[owner] + along * axis + across1 * e1 + across2 * e2, with
    frame[particle] = (axis, e1, e2), summed left to right as the array expression did."""
    n = owner.size
    pos = np.empty((n, 3), dtype=np.float32)
    for k in range(n):
        p = owner[k]
        for c in range(3):
            step = along[k] * frame[p, 0, c] + across1[k] * frame[p, 1, c]
            step = step + across2[k] * frame[p, 2, c]
            pos[k, c] = start[p, c] + step
    return pos


@njit(cache=True)
def spot_cell_keys(pos, sub, region, owner, geometry, barrel, index_bits, owner_bits):
    """(cell << owner_bits | particle) per spot. A cell is ((sub * 3 + region) * 128 + layer, i, j)
    packed in index_bits per index (calorimeter's _INDEX_BITS, which digitise decodes);
    geometry[sub] = (barrel radius, endcap z, layer thickness, layers, cell size) as float32; the
    float32 arithmetic of the array formulas this replaced:
    barrel depth = hypot(x, y) - R, i = floor(atan2(y, x) * R / size), j = floor(z / size);
    endcap depth = |z| - z0, i = floor(x / size), j = floor(y / size)."""
    n = owner.size
    keys = np.empty(n, dtype=np.int64)
    offset = 1 << (index_bits - 1)
    zero = np.float32(0.0)
    for k in range(n):
        s = sub[k]
        radius, z0, thickness, layers, size = (
            geometry[s, 0],
            geometry[s, 1],
            geometry[s, 2],
            geometry[s, 3],
            geometry[s, 4],
        )
        x, y, z = pos[k, 0], pos[k, 1], pos[k, 2]
        if region[k] == barrel:
            depth = np.float32(math.hypot(x, y)) - radius
            i_len = np.float32(math.atan2(y, x)) * radius
            j_len = z
        else:
            depth = np.float32(abs(z)) - z0
            i_len, j_len = x, y
        layer = min(max(np.float32(math.floor(depth / thickness)), zero), layers - np.float32(1.0))
        head = (s * 3 + region[k]) * 128 + np.int64(layer)
        i = np.int64(math.floor(i_len / size)) + offset
        j = np.int64(math.floor(j_len / size)) + offset
        cell = (head << (2 * index_bits)) | (i << index_bits) | j
        keys[k] = (cell << owner_bits) | owner[k]
    return keys


@njit(cache=True)
def cell_centres(layer, i, j, sub, region, geometry, barrel, endcap_neg):
    """(3, n) cell centres (x, y, z) in float64; geometry as for spot_cell_keys (float64).
    Barrel: phi = (i + 1/2) size / R at radius R + (layer + 1/2) thickness, z = (j + 1/2) size;
    endcap: x, y = (i, j + 1/2) size at |z| = z0 + (layer + 1/2) thickness."""
    n = layer.size
    out = np.empty((3, n))
    for k in range(n):
        s = sub[k]
        radius, z0, thickness, size = geometry[s, 0], geometry[s, 1], geometry[s, 2], geometry[s, 4]
        depth = (layer[k] + 0.5) * thickness
        if region[k] == barrel:
            phi_c = (i[k] + 0.5) * size / radius
            rc = radius + depth
            out[0, k], out[1, k], out[2, k] = rc * math.cos(phi_c), rc * math.sin(phi_c), (j[k] + 0.5) * size
        else:
            side = -1.0 if region[k] == endcap_neg else 1.0
            out[0, k], out[1, k], out[2, k] = (i[k] + 0.5) * size, (j[k] + 0.5) * size, side * (z0 + depth)
    return out


@njit(cache=True)
def best_in_runs(groups, values, weights, n_groups):
    """For grouped (non-decreasing) `groups`: per group id, the value of the largest weight, the
    first of equal maxima (-1 for an absent group)."""
    out = np.full(n_groups, -1, dtype=np.int64)
    best = 0.0
    for k in range(groups.size):
        g = groups[k]
        if k == 0 or g != groups[k - 1] or weights[k] > best:
            best = weights[k]
            out[g] = values[k]
    return out


@njit(cache=True)
def _first_seen(keys):
    """(distinct keys in order of first appearance, index of each key among them): open addressing
    with linear probing in a table at least twice the input's size."""
    n = keys.size
    size = 2
    while size < 2 * n:
        size <<= 1
    mask = size - 1
    table_key = np.empty(size, dtype=np.int64)
    table_id = np.full(size, -1, dtype=np.int64)
    distinct = np.empty(n, dtype=np.int64)
    of = np.empty(n, dtype=np.int64)
    m = 0
    for k in range(n):
        key = keys[k]
        slot = ((key * np.int64(-7046029254386353131)) >> 32) & mask  # Fibonacci hashing
        while True:
            at = table_id[slot]
            if at < 0:
                table_key[slot], table_id[slot], distinct[m], of[k] = key, m, key, m
                m += 1
                break
            if table_key[slot] == key:
                of[k] = at
                break
            slot = (slot + 1) & mask
    return distinct[:m], of


def unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(keys, return_inverse=True) for int64 keys, sorting only the distinct ones."""
    distinct, of = _first_seen(np.ascontiguousarray(keys, dtype=np.int64))
    order = np.argsort(distinct)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return distinct[order], rank[of]
