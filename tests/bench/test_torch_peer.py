"""The PyTorch peer of the DCGAN step (``make bench``; PyTorch is the optional ``bench`` extra)
has Keras' 'same' shapes for the odd kernel of ``base`` and the even kernel of ``demo``."""

import dataclasses

import pytest

from exagan_tf.config import load_exagan

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("kernel", [4, 5])
def test_peer_generator_and_discriminator_keep_same_shapes(kernel):
    import bench_torch

    cfg = dataclasses.replace(load_exagan("test"), convkern=kernel)
    step, batch = bench_torch.make_step(cfg)
    step(batch)  # D on real and fake, then G through D: raises on any shape mismatch
    assert batch.shape == (cfg.batchsize, 1, cfg.img_dim, cfg.img_dim)
