"""The Point-Edge Transformer (PET) for jets: a backbone pretrained on many jet classes and
fine-tuned downstream."""
