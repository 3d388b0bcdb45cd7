"""Detector geometry and performance as data: the defaults describe a CLIC-like detector
(4 T solenoid, silicon tracker, Si-W ECAL with 5 mm cells, steel-scintillator HCAL with 3 cm
cells). Another geometry is another set of values, not other code: `preset: cld-like` starts
from FCC-ee's CLD concept (PRESETS), and any field given beside it overrides the preset's."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, create_model, model_validator
from pydantic.fields import FieldInfo

from ..overrides import deep_merge
from ..spec import Strict


class TrackerSpec(Strict):
    """Silicon tracking: acceptance, efficiency, resolution (pT in GeV, lengths in m)."""

    layer_radii: list[PositiveFloat] = Field(
        [0.031, 0.044, 0.058, 0.127, 0.340, 0.555, 0.810, 1.060, 1.300],
        description="Barrel layer radii, vertex detector then main tracker (m).",
    )
    half_length: PositiveFloat = Field(2.2, description="Half length of the tracking volume (m).")
    cos_theta_max: float = Field(0.99, gt=0, lt=1, description="Acceptance: |cos(theta)| below this.")
    pt_min: PositiveFloat = Field(0.1, description="Tracks below this pT are not reconstructed (GeV).")
    efficiency: float = Field(0.99, gt=0, le=1, description="Efficiency above 1 GeV.")
    efficiency_low_pt: float = Field(0.95, gt=0, le=1, description="Efficiency between pt_min and 1 GeV.")
    min_hits: PositiveInt = Field(4, description="Layers a track must cross to be found.")
    max_production_radius: PositiveFloat = Field(0.6, description="Particles born further out give no track (m).")
    curvature_term: PositiveFloat = Field(
        2e-5, description="a in sigma(pT)/pT^2 = a (+) b/(pT sqrt(sin theta)) (1/GeV)."
    )
    scattering_term: PositiveFloat = Field(1e-3, description="b, the multiple-scattering term (dimensionless).")
    angle_term: PositiveFloat = Field(2e-5, description="Angular resolution constant term (rad).")
    angle_scattering_term: PositiveFloat = Field(
        1e-3, description="Angular MS term, divided by p sqrt(sin theta) (rad GeV)."
    )
    ip_term: PositiveFloat = Field(5e-6, description="Impact-parameter constant term (m).")
    ip_scattering_term: PositiveFloat = Field(
        1.5e-5, description="Impact-parameter MS term, /(p sin^1.5 theta) (m GeV)."
    )


class CalorimeterSpec(Strict):
    """One sampling calorimeter: geometry, material depth and stochastic resolution."""

    barrel_radius: PositiveFloat = Field(description="Inner radius of the barrel (m).")
    endcap_z: PositiveFloat = Field(description="|z| of the endcap front face (m).")
    depth: PositiveFloat = Field(description="Thickness along the shower axis (m).")
    layers: PositiveInt = Field(description="Longitudinal layers.")
    cell_size: PositiveFloat = Field(description="Transverse cell size (m).")
    radiation_lengths: PositiveFloat = Field(description="Depth in X0.")
    interaction_lengths: PositiveFloat = Field(description="Depth in lambda_I.")
    stochastic: PositiveFloat = Field(description="a in sigma/E = a/sqrt(E) (+) b.")
    constant: float = Field(ge=0, description="b in sigma/E = a/sqrt(E) (+) b.")
    mip_energy_per_layer: float = Field(ge=0, description="Calibrated energy a MIP leaves per layer (GeV).")
    hit_threshold: float = Field(ge=0, description="Cells below this energy are dropped (GeV).")
    cos_theta_max: float = Field(0.995, gt=0, lt=1, description="Acceptance in |cos(theta)|.")
    link_distance: PositiveFloat = Field(description="Hits closer than this join one cluster (m).")


def _calorimeter(name: str, doc: str, **defaults: float) -> type[CalorimeterSpec]:
    """A CalorimeterSpec whose fields default to `defaults`, so a workflow can override one
    field (`ecal: {cell_size: 0.01}`) and keep the others."""
    fields = {
        key: (
            CalorimeterSpec.model_fields[key].annotation,
            FieldInfo.merge_field_infos(CalorimeterSpec.model_fields[key], default=value),
        )
        for key, value in defaults.items()
    }
    return create_model(name, __base__=CalorimeterSpec, __doc__=doc, **fields)


EcalSpec = _calorimeter(
    "EcalSpec",
    "Si-W electromagnetic calorimeter: 5 mm cells, 40 layers, 23 X0.",
    barrel_radius=1.50,
    endcap_z=2.31,
    depth=0.20,
    layers=40,
    cell_size=0.005,
    radiation_lengths=23.0,
    interaction_lengths=1.0,
    stochastic=0.15,
    constant=0.01,
    mip_energy_per_layer=0.004,
    hit_threshold=5e-4,
    link_distance=0.02,
)
HcalSpec = _calorimeter(
    "HcalSpec",
    "Steel-scintillator hadronic calorimeter: 3 cm cells, 60 layers, 7.5 lambda_I.",
    barrel_radius=1.74,
    endcap_z=2.54,
    depth=1.50,
    layers=60,
    cell_size=0.03,
    radiation_lengths=85.0,
    interaction_lengths=7.5,
    stochastic=0.50,
    constant=0.05,
    mip_energy_per_layer=0.025,
    hit_threshold=2e-3,
    link_distance=0.09,
)


class ShowerSpec(Strict):
    """Shower sampling: energy per deposited spot and lateral shapes."""

    em_spot_energy: PositiveFloat = Field(0.0025, description="Energy per EM shower spot (GeV).")
    hadron_spot_energy: PositiveFloat = Field(0.01, description="Energy per hadronic shower spot (GeV).")
    max_spots: PositiveInt = Field(4000, description="Spots per particle at most (higher energy: heavier spots).")
    moliere_radius: PositiveFloat = Field(0.0095, description="EM lateral scale in the ECAL (m).")
    hadron_core: PositiveFloat = Field(0.025, description="Hadronic lateral core scale (m).")
    hadron_halo: PositiveFloat = Field(0.06, description="Hadronic lateral halo scale (m).")
    critical_energy: PositiveFloat = Field(0.008, description="EM critical energy of the absorber (GeV).")


# Named starting points, as overrides of the CLIC-like defaults (which are themselves "clic-like").
# CLD, the CLIC-derived detector concept for FCC-ee (N. Bacchetta et al., arXiv:1911.12230): a 2 T
# solenoid outside the calorimeters, so a larger silicon tracker (vertex double layers at 17.5, 37
# and 57 mm, inner tracker at 127, 400 and 670 mm, outer tracker at 1.0, 1.568 and 2.136 m), the
# Si-W ECAL (40 layers, 5 mm cells, 22 X0) from r = 2.15 m, the steel-scintillator HCAL (44 layers,
# 3 cm cells, 5.5 lambda_I) from r = 2.40 m. The tracker's resolution terms are scaled from the
# CLIC-like ones by the lever arm: curvature ~ 1/(B L^2) (4 x 1.5^2 -> 2 x 2.1^2: about the same),
# multiple scattering ~ 1/(B L) (6 -> 4.3 T m: x 1.4).
PRESETS: dict[str, dict[str, Any]] = {
    "clic-like": {},
    "cld-like": {
        "name": "cld-like",
        "magnetic_field": 2.0,
        "tracker": {
            "layer_radii": [0.0175, 0.0185, 0.037, 0.038, 0.057, 0.058, 0.127, 0.400, 0.670, 1.000, 1.568, 2.136],
            "half_length": 2.26,
            "curvature_term": 2.0e-5,
            "scattering_term": 1.4e-3,
            "angle_scattering_term": 1.4e-3,
        },
        "ecal": {"barrel_radius": 2.15, "endcap_z": 2.31, "depth": 0.202, "layers": 40, "radiation_lengths": 22.0},
        "hcal": {
            "barrel_radius": 2.40,
            "endcap_z": 2.54,
            "depth": 1.17,
            "layers": 44,
            "radiation_lengths": 62.0,
            "interaction_lengths": 5.5,
        },
    },
}


class DetectorSpec(Strict):
    """A granular detector for particle flow (defaults: CLIC-like at 380 GeV)."""

    preset: Literal["clic-like", "cld-like"] | None = Field(
        None,
        description="Start from a named detector (PRESETS in pipeline/physics/detector_spec.py: clic-like, "
        "the defaults; cld-like, FCC-ee's CLD at 2 T); the fields given beside it override the preset's.",
    )
    name: str = Field("clic-like", description="Label stored with the data.")
    magnetic_field: PositiveFloat = Field(4.0, description="Solenoid field (T).")
    tracker: TrackerSpec = Field(default_factory=TrackerSpec, description="Tracking system.")
    ecal: EcalSpec = Field(default_factory=EcalSpec, description="Electromagnetic calorimeter (Si-W).")
    hcal: HcalSpec = Field(default_factory=HcalSpec, description="Hadronic calorimeter (steel-scintillator).")
    shower: ShowerSpec = Field(default_factory=ShowerSpec, description="Shower sampling.")
    fragment_energy: PositiveFloat = Field(
        0.1, description="Clusters below this energy are fragments, joined to the nearest cluster (GeV)."
    )
    fragment_merge_dr: PositiveFloat = Field(
        0.15, description="A fragment joins the nearest cluster within this angular distance."
    )
    cluster_merge_dr: PositiveFloat = Field(
        0.05, description="An HCAL cluster joins the ECAL cluster within this angular distance."
    )

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("preset") in PRESETS:
            return deep_merge(PRESETS[data["preset"]], data)
        return data

    @model_validator(mode="after")
    def _nested_geometry(self) -> DetectorSpec:
        if self.hcal.barrel_radius < self.ecal.barrel_radius + self.ecal.depth * 0.5:
            raise ValueError("hcal.barrel_radius must lie outside the ECAL")
        if self.tracker.layer_radii != sorted(self.tracker.layer_radii):
            raise ValueError("tracker.layer_radii must increase")
        if self.tracker.layer_radii[-1] >= self.ecal.barrel_radius:
            raise ValueError("the tracker must lie inside the ECAL")
        return self
