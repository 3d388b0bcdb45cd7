"""Event generation and a parametric, vectorised simulation of a granular CLIC-like detector.

Light modules (`processes`, `detector_spec`, `schema`) are imported at validation time; the
generator (Pythia 8) and the simulation (numpy/scipy) only inside the stage's job.
"""
