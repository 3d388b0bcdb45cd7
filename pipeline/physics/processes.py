"""e+e- processes by name, as Pythia 8 settings (CLIC first stage: sqrt(s) = 380 GeV)."""

from __future__ import annotations

PROCESSES: dict[str, list[str]] = {
    # Z/gamma* -> light quarks (u, d, s)
    "ee_qq": [
        "WeakSingleBoson:ffbar2gmZ = on",
        "23:onMode = off",
        "23:onIfAny = 1 2 3",
    ],
    "ee_tt": ["Top:ffbar2ttbar(s:gmZ) = on"],
    "ee_zh": ["HiggsSM:ffbar2HZ = on", "25:m0 = 125.0"],
    "ee_ww": ["WeakDoubleBoson:ffbar2WW = on"],
    "ee_zz": ["WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2"],
}


def process_names() -> list[str]:
    return sorted(PROCESSES)
