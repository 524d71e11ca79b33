"""PyTorch peer of the ExaGAN DCGAN training step (same layers, shapes, batch, optimizer and D/G
update pattern), for the ``make bench`` ratio "this project / PyTorch on the same CPU".

PyTorch is optional (the ``bench`` extra): :func:`available` says whether it imports, and
:func:`make_step` builds a step callable on a fixed batch. The peer, layer for layer:

- D: ``nlayers`` x [Conv2d(k, stride, pad p), BatchNorm2d(eps 1e-5, momentum 0.1 =
  Keras' 0.9), LeakyReLU(0.2)], Flatten, Linear(1) -> logit (2 input channels with MCR);
- G: Linear(z -> f*f*2*nf0), BatchNorm1d, ReLU, reshape, ``nlayers`` x ConvTranspose2d(k,
  stride, pad p, output_padding 2p + stride - k) (output = input x stride, as Keras' 'same') with
  BatchNorm2d + ReLU after all but the last, tanh after the last, then the MCR channel
  tanh(a(1+s)/(1-s) / linear_scaler);
- step: noise, G(noise) without gradients for the fakes, ``DG_update_ratio // 2`` x [D on real,
  D on fake] (label flips at ``label_flip``), then G through D with target 'real'; Adam(lr,
  betas (0.5, 0.999)); BCE with logits.

p = ceil((k - stride) / 2) gives Keras' 'same' output sizes for odd and even kernels (5 in
``base``, 4 in ``demo``). Memory layout NCHW, PyTorch's default and what a user would write;
threads: PyTorch's default.
"""

from __future__ import annotations


def available() -> str | None:
    """The PyTorch version, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__


def make_step(cfg, seed: int = 0):
    """``(step, batch)``: a DCGAN step callable on a fixed random NCHW batch for config ``cfg``
    (an :class:`exagan_tf.config.DCGANConfig`), mirroring the project's separate-batch step."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    k, s, n = cfg.convkern, cfg.convstride, cfg.nlayers
    pad = (k - s + 1) // 2  # 'same' sizes: conv out = in / s, transposed out = in * s
    cin = 2 if cfg.multichannel else 1

    d_layers, c = [], cin
    size = cfg.img_dim
    for f in cfg.nconvfilters:
        d_layers += [nn.Conv2d(c, f, k, s, pad), nn.BatchNorm2d(f, eps=1e-5, momentum=0.1),
                     nn.LeakyReLU(0.2)]
        c, size = f, size // s
    disc = nn.Sequential(*d_layers, nn.Flatten(), nn.Linear(c * size * size, 1))

    fmap = cfg.img_dim // s**n
    width = 2 * cfg.ndeconvfilters[0]

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(cfg.noise_vect_len, fmap * fmap * width)
            self.bn = nn.BatchNorm1d(fmap * fmap * width, eps=1e-5, momentum=0.1)
            layers, c = [], width
            for i, f in enumerate(cfg.ndeconvfilters):
                layers.append(nn.ConvTranspose2d(c, f, k, s, pad, output_padding=2 * pad + s - k))
                layers += [nn.Tanh()] if i == n - 1 else [nn.BatchNorm2d(f, eps=1e-5,
                                                                         momentum=0.1), nn.ReLU()]
                c = f
            self.convs = nn.Sequential(*layers)

        def forward(self, z):
            x = torch.relu(self.bn(self.dense(z))).view(-1, fmap, fmap, width)
            x = self.convs(x.permute(0, 3, 1, 2).contiguous())  # Keras reshape is channels-last
            return mcr(x) if cfg.multichannel else x

    def mcr(x):
        counts = cfg.datascale * (1 + x) / torch.clamp(1 - x, min=1e-6)
        return torch.cat([x, torch.tanh(counts / cfg.linear_scaler)], dim=1)

    gen = Generator()
    d_opt = torch.optim.Adam(disc.parameters(), lr=cfg.d_lr, betas=(0.5, 0.999))
    g_opt = torch.optim.Adam(gen.parameters(), lr=cfg.g_lr, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    b = cfg.batchsize
    g = torch.Generator().manual_seed(seed)
    batch = torch.rand((b, 1, cfg.img_dim, cfg.img_dim), generator=g) * 1.95 - 1.0

    def d_update(images, labels):
        d_opt.zero_grad(set_to_none=True)
        loss = bce(disc(images), labels)
        loss.backward()
        d_opt.step()

    def step(real):
        noise = torch.randn((b, cfg.noise_vect_len), generator=g)
        with torch.no_grad():
            fake = gen(noise)
        flip = torch.rand((b, 1), generator=g) < cfg.label_flip
        real_labels = torch.where(flip, 0.0, 1.0)
        if cfg.multichannel:
            real = mcr(real)
        for _ in range(cfg.DG_update_ratio // 2):
            d_update(real, real_labels)
            d_update(fake, 1.0 - real_labels)
        # G update through a frozen D: no weight gradients of D (the same work as Keras, whose
        # tape differentiates the generator's variables only)
        disc.requires_grad_(False)
        g_opt.zero_grad(set_to_none=True)
        logits = disc(gen(noise))
        bce(logits, torch.ones_like(logits)).backward()
        g_opt.step()
        disc.requires_grad_(True)

    gen.train()
    disc.train()
    return step, batch
