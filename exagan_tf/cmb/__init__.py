"""CMB decomposition (astroDGAN): lensed Q, U -> E, kappa, B with pix2pix and UResNet GANs."""
