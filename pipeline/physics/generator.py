"""Pythia 8 e+e- events as columnar particle arrays (final-state particles only)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .processes import PROCESSES

PARTICLE_FIELDS = ("pid", "charge", "px", "py", "pz", "energy", "vx", "vy", "vz")
MM = 1e-3  # Pythia lengths are in mm; the detector works in m


def pythia_from(settings: list[str], seed: int, label: str):
    """An initialised Pythia with the settings every colliderflow sample shares (seed, quiet,
    decays of what lives under 10 mm) followed by `settings`."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)  # no banner
    common = [
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Print:quiet = on",
        "Next:numberCount = 0",
        # Particles with c*tau > 10 mm (K_S, Lambda, Sigma, Xi, Omega...) reach the detector
        # undecayed, as the detector simulation treats them; the rest decay at the generator.
        "ParticleDecays:limitTau0 = on",
        "ParticleDecays:tau0Max = 10",
    ]
    for line in [*common, *settings]:
        if not pythia.readString(line):
            raise ValueError(f"Pythia refused the setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise process {label!r}")
    return pythia


def pythia_events(pythia, max_tries: int, label: str):
    """(try number, event) of each event Pythia generates, for a caller that keeps some and stops
    when it has enough; more than `max_tries` tries is an error (a selection nothing passes)."""
    for tries in range(1, max_tries + 1):
        if pythia.next():
            yield tries, pythia.event
    raise RuntimeError(f"{label}: too few events kept after {max_tries} tries (is the selection too tight?)")


def make_pythia(process: str, seed: int, sqrt_s: float = 380.0, isr: bool = False, extra: list[str] | None = None):
    beams = ["Beams:idA = 11", "Beams:idB = -11", f"Beams:eCM = {sqrt_s}", f"PDF:lepton = {'on' if isr else 'off'}"]
    return pythia_from([*beams, *PROCESSES[process], *(extra or [])], seed, process)


def particles_of(event) -> dict[str, np.ndarray]:
    """Final-state particles of one Pythia event as arrays (GeV, m)."""
    rows = [
        (p.id(), p.charge(), p.px(), p.py(), p.pz(), p.e(), p.xProd(), p.yProd(), p.zProd())
        for p in (event[i] for i in range(event.size()))
        if p.isFinal()
    ]
    table = np.array(rows, dtype=np.float64).reshape(-1, len(PARTICLE_FIELDS))
    out = {name: table[:, i] for i, name in enumerate(PARTICLE_FIELDS)}
    out["pid"] = out["pid"].astype(np.int32)
    for name in ("vx", "vy", "vz"):
        out[name] = out[name] * MM
    return out


def generate(
    process: str, n_events: int, seed: int, sqrt_s: float = 380.0, isr: bool = False
) -> Iterator[dict[str, np.ndarray]]:
    """Yield `n_events` events (failed Pythia events are retried, not counted)."""
    pythia = make_pythia(process, seed, sqrt_s, isr)
    produced = failures = 0
    while produced < n_events:
        if not pythia.next():
            failures += 1
            if failures > 10 * n_events + 100:
                raise RuntimeError(f"Pythia failed {failures} times for {process!r}")
            continue
        produced += 1
        yield particles_of(pythia.event)
