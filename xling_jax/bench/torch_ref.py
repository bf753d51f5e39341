"""The PyTorch eager reference of `xling bench train --against torch`.

The same shape as xling's model: `torch.nn.Transformer` (pre-LN or post-LN, ReLU/GELU MLP, final
norms), one embedding for source, target and the output logits, sinusoidal positions, embeddings
scaled by sqrt(D); label-smoothed cross-entropy, AdamW with gradient clipping. Masks are what a
PyTorch user passes and what xling computes from segment ids: causal self-attention in the decoder
and key-padding masks from the pad id. The learning rate is constant (train.learning_rate, not
xling's warm-up schedule), so the two losses after a few steps differ; the work per step does not.
"""
import math
import warnings

import numpy as np

from xling_jax.errors import UserError


def _torch():
    try:
        import torch
    except ImportError as e:
        raise UserError("--against torch needs PyTorch: pip install torch") from e
    return torch


PRECISIONS = ("highest", "high", "medium")  # torch.set_float32_matmul_precision's settings


def build(cfg, train_config, max_len: int, threads: int, dtype: str | None = None,
          matmul_precision: str | None = None):
    """(step function of a batch dict of numpy arrays -> loss, device name, torch version) for the
    model of `cfg` (the xling model's TransformerConfig); `dtype` in place of cfg.dtype: bfloat16
    runs under autocast (float32 weights, as xling's float32 params). `matmul_precision` (PRECISIONS;
    None: torch's own setting) holds while a step runs only, so it changes nothing else in the
    process; the step's `matmul_precision` attribute is what torch reported during the last step."""
    torch = _torch()
    nn = torch.nn
    torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    d, c, vocab = cfg.emb_dim, cfg, cfg.vocab_size
    if c.activation not in ("relu", "gelu"):
        raise UserError(f"--against torch supports model.activation relu or gelu, not {c.activation!r}")

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, d)
            nn.init.normal_(self.embed.weight, std=d ** -0.5)
            with warnings.catch_warnings():  # pre-LN cannot use nested tensors (inference only anyway)
                warnings.simplefilter("ignore", UserWarning)
                self.transformer = nn.Transformer(
                    d, c.num_heads, c.num_layers, c.decoder_layers, c.mlp_dim, dropout=c.dropout_rate,
                    activation=c.activation, layer_norm_eps=c.layer_norm_eps, batch_first=True, norm_first=c.pre_ln)
            half = d // 2
            inv_freq = np.exp(-math.log(10000.0) * np.arange(half) / max(half - 1, 1))
            angles = np.arange(max_len)[:, None] * inv_freq
            self.register_buffer("positions", torch.tensor(np.concatenate([np.sin(angles), np.cos(angles)], -1),
                                                           dtype=torch.float32))

        def forward(self, src, tgt_in):
            pad_src, pad_tgt = src == c.pad_id, torch.zeros_like(tgt_in, dtype=torch.bool)
            causal = torch.triu(torch.ones(tgt_in.shape[1], tgt_in.shape[1], dtype=torch.bool, device=src.device), 1)
            x = self.embed(src) * math.sqrt(d) + self.positions[:src.shape[1]]
            y = self.embed(tgt_in) * math.sqrt(d) + self.positions[:tgt_in.shape[1]]
            h = self.transformer(x, y, tgt_mask=causal, src_key_padding_mask=pad_src,
                                 tgt_key_padding_mask=pad_tgt, memory_key_padding_mask=pad_src, tgt_is_causal=True)
            return h @ self.embed.weight.T

    model = Seq2Seq().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=train_config.learning_rate,
                            betas=(train_config.b1, train_config.b2), weight_decay=train_config.weight_decay)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=train_config.label_smoothing, ignore_index=c.pad_id)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=(dtype or c.dtype) == "bfloat16")

    def step(batch):
        before = torch.get_float32_matmul_precision()
        if matmul_precision:
            torch.set_float32_matmul_precision(matmul_precision)
        try:
            step.matmul_precision = torch.get_float32_matmul_precision()
            return train_step(batch)
        finally:
            torch.set_float32_matmul_precision(before)

    def train_step(batch):
        src = torch.as_tensor(batch["inputs"], dtype=torch.long, device=device)
        tgt = torch.as_tensor(batch["targets"], dtype=torch.long, device=device)
        tgt_in = torch.nn.functional.pad(tgt, (1, 0), value=c.decoder_start_id)[:, :-1]
        with autocast:
            logits = model(src, tgt_in)
        loss = loss_fn(logits.float().reshape(-1, vocab), tgt.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if train_config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip)
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        return loss.detach().item()

    return step, (torch.cuda.get_device_name() if device == "cuda" else "cpu"), torch.__version__
