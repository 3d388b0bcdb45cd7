"""The jets family: boosted R = 0.8 jets with their constituents, generated (Pythia 8 through
the CMS-like detector) or read from JetClass ROOT files as published; learned by the
`jet_classification` task (PET pretraining and fine-tuning), evaluated by AUC, accuracy and
background rejection with the training curves' speed-up."""
