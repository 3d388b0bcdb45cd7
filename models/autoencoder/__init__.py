"""A convolutional autoencoder for anomaly detection on detector images."""
