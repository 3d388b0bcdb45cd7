"""The SUEP-images family: pp events (QCD background, SUEP signal points) as sparse 3-channel
eta-phi detector images, learned by the `anomaly_detection` task (an autoencoder trained on
background only), evaluated against rule-based scores at fixed background mistag rates."""
