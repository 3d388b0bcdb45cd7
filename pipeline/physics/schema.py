"""The ROOT event schema written by `generate` and read by `stage_data`: one tree, one jagged
collection per element type, flat branches `<collection>_<field>` with counters
`n<collection>`. docs/data-schema.md is generated from this table."""

from __future__ import annotations

SCHEMA_VERSION = 2  # 2: gen_track_index and the gen_calo_* deposit of each particle
TREE = "events"

_TARGETS = {
    "target_cls": (
        "int32",
        "",
        "particle-flow class: 0 none, 1 charged hadron, 2 neutral hadron, 3 photon, 4 electron, 5 muon",
    ),
    "target_charge": ("float32", "e", "charge of the target particle"),
    "target_pt": ("float32", "GeV", "transverse momentum of the target (sum of the particles assigned here)"),
    "target_eta": ("float32", "", "pseudorapidity of the target"),
    "target_sin_phi": ("float32", "", "sin(phi) of the target"),
    "target_cos_phi": ("float32", "", "cos(phi) of the target"),
    "target_energy": ("float32", "GeV", "energy of the target"),
}

# collection -> field -> (dtype, unit, meaning)
SCHEMA: dict[str, dict[str, tuple[str, str, str]]] = {
    "event": {
        "event_id": ("int64", "", "event number within the file"),
        "process_id": ("int32", "", "index of the process in the sorted list of process names"),
        "seed": ("int64", "", "random seed of the file"),
    },
    "gen": {
        "pid": ("int32", "", "PDG id of the final-state generator particle"),
        "charge": ("float32", "e", "electric charge"),
        "px": ("float32", "GeV", "momentum x"),
        "py": ("float32", "GeV", "momentum y"),
        "pz": ("float32", "GeV", "momentum z"),
        "energy": ("float32", "GeV", "energy"),
        "vx": ("float32", "m", "production vertex x"),
        "vy": ("float32", "m", "production vertex y"),
        "vz": ("float32", "m", "production vertex z"),
        "element_kind": ("int32", "", "target of: -1 no element, 0 a track, 1 a cluster"),
        "track_index": ("int32", "", "index in track of the particle's track (-1: not tracked)"),
        "calo_energy": ("float32", "GeV", "calibrated calorimeter energy the particle left in cells above threshold"),
        "calo_eta": ("float32", "", "pseudorapidity of the energy-weighted centre of its deposits (0: none)"),
        "calo_phi": ("float32", "rad", "azimuth of the energy-weighted centre of its deposits (0: none)"),
        "element_kind_hits": (
            "int32",
            "",
            "same at the hit level: -1 none, 0 a track, 1 a hit (hits files only)",
        ),
    },
    "track": {
        "pt": ("float32", "GeV", "measured transverse momentum"),
        "eta": ("float32", "", "pseudorapidity"),
        "phi": ("float32", "rad", "azimuth at the point of closest approach"),
        "p": ("float32", "GeV", "momentum"),
        "charge": ("float32", "e", "charge from the curvature"),
        "d0": ("float32", "m", "transverse impact parameter"),
        "z0": ("float32", "m", "longitudinal impact parameter"),
        "chi2": ("float32", "", "fit chi-square"),
        "ndf": ("int32", "", "fit degrees of freedom"),
        "nhits": ("int32", "", "tracker layers with a hit"),
        "tanlambda": ("float32", "", "tan of the dip angle (pz/pT)"),
        "radius_innermost": ("float32", "m", "radius of the innermost hit"),
        "gen_index": ("int32", "", "index in gen of the particle that made the track"),
        **_TARGETS,
    },
    "cluster": {
        "energy": ("float32", "GeV", "calibrated cluster energy"),
        "energy_ecal": ("float32", "GeV", "part of the energy in the ECAL"),
        "energy_hcal": ("float32", "GeV", "part of the energy in the HCAL"),
        "x": ("float32", "m", "energy-weighted position x"),
        "y": ("float32", "m", "energy-weighted position y"),
        "z": ("float32", "m", "energy-weighted position z"),
        "eta": ("float32", "", "pseudorapidity of the position"),
        "phi": ("float32", "rad", "azimuth of the position"),
        "nhits": ("int32", "", "number of calorimeter hits"),
        "sigma_x": ("float32", "m", "energy-weighted spread in x"),
        "sigma_y": ("float32", "m", "energy-weighted spread in y"),
        "sigma_z": ("float32", "m", "energy-weighted spread in z"),
        "gen_index": ("int32", "", "index in gen of the particle that gave the most energy"),
        **_TARGETS,
    },
    "hit": {
        "energy": ("float32", "GeV", "calibrated cell energy"),
        "x": ("float32", "m", "cell centre x"),
        "y": ("float32", "m", "cell centre y"),
        "z": ("float32", "m", "cell centre z"),
        "eta": ("float32", "", "pseudorapidity of the cell centre"),
        "phi": ("float32", "rad", "azimuth of the cell centre"),
        "layer": ("int32", "", "longitudinal layer"),
        "subdetector": ("int32", "", "0 ECAL, 1 HCAL"),
        "gen_index": ("int32", "", "index in gen of the particle that gave the most energy"),
        **_TARGETS,
    },
}

# Which collections each input level writes (hits are large: written only when asked).
LEVEL_COLLECTIONS = {"clusters": ("gen", "track", "cluster"), "hits": ("gen", "track", "cluster", "hit")}


def branch(collection: str, field: str) -> str:
    return field if collection == "event" else f"{collection}_{field}"


def schema_markdown() -> str:
    lines = [
        "# Event data schema (ROOT)",
        "",
        f"Schema version {SCHEMA_VERSION}. Generated from `pipeline/physics/schema.py`; a test keeps it in sync.",
        "",
        f"One TTree `{TREE}` per file, one entry per event. Each collection is a set of jagged",
        "branches `<collection>_<field>` sharing the counter `n<collection>`. Lengths in m,",
        "energies and momenta in GeV. `hit` branches exist only in files generated with the",
        "`hits` input level.",
        "",
    ]
    for collection, fields in SCHEMA.items():
        counter = "" if collection == "event" else f" (counter `n{collection}`)"
        lines += [
            f"## `{collection}`{counter}",
            "",
            "| branch | type | unit | meaning |",
            "|---|---|---|---|",
        ]
        for field, (dtype, unit, meaning) in fields.items():
            lines.append(f"| `{branch(collection, field)}` | {dtype} | {unit} | {meaning} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
