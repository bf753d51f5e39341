"""Heat maps of cross-attention (evaluation/attention.py) to PNG: one row per decoder layer, one
column per head and a last column with the heads' mean; x = source pieces, y = target pieces.

Drawn on a bare matplotlib Figure (Agg canvas), so pyplot's global state and a notebook's
backend are left alone.
"""
import os
import warnings
from collections.abc import Sequence

from xling_jax.errors import UserError

CELL_INCHES = 0.22  # per source/target piece
MAX_PANEL_INCHES = 8.0  # long sentences: smaller pieces rather than a giant image


def _select(indices: Sequence[int] | None, count: int, what: str) -> list[int]:
    if not indices:
        return list(range(count))
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise UserError(f"{what} {', '.join(map(str, bad))} out of range: the model has {count} {what} "
                        f"(0 to {count - 1})")
    return list(indices)


def draw(att, layers: Sequence[int] | None = None, heads: Sequence[int] | None = None):
    """A matplotlib Figure of the chosen layers (indices into att.layers; default all) × heads
    (default all) plus each layer's head mean, on one colour scale."""
    from matplotlib.figure import Figure
    num_layers, num_heads, t, s = att.weights_LxHxTxS.shape
    layers, heads = _select(layers, num_layers, "layers"), _select(heads, num_heads, "heads")
    panels = [[(f"{att.layers[l]} head {h}", att.weights_LxHxTxS[l, h]) for h in heads]
              + [(f"{att.layers[l]} mean", att.weights_LxHxTxS[l].mean(axis=0))] for l in layers]
    vmax = max(float(w.max()) for row in panels for _, w in row)
    scale = min(1.0, MAX_PANEL_INCHES / (CELL_INCHES * max(s, t)))
    w_in, h_in = (CELL_INCHES * s * scale + 1.2, CELL_INCHES * t * scale + 1.2)
    fig = Figure(figsize=(w_in * len(panels[0]), h_in * len(panels) + 0.6), layout="constrained")
    axes = fig.subplots(len(panels), len(panels[0]), squeeze=False)
    fontsize = max(4.0, 8.0 * scale)
    for r, row in enumerate(panels):
        for c, (title, w_TxS) in enumerate(row):
            ax = axes[r, c]
            image = ax.imshow(w_TxS, cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_xticks(range(s), att.source_pieces if r == len(panels) - 1 else [""] * s,
                          rotation=90, fontsize=fontsize)
            ax.set_yticks(range(t), att.target_pieces if c == 0 else [""] * t, fontsize=fontsize)
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    fig.suptitle(f"cross-attention: {att.translation!r}"[:120], fontsize=10)
    return fig


def save(att, path: str, layers: Sequence[int] | None = None, heads: Sequence[int] | None = None) -> str:
    """Writes the heat maps of `draw` to `path` (PNG); returns the path."""
    fig = draw(att, layers, heads)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with warnings.catch_warnings():
        # Pieces in scripts the default font lacks (Chinese) become boxes: worth no warning per glyph.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        try:
            fig.savefig(path, dpi=120, format="png")
        except OSError as e:
            raise UserError(f"cannot write {path}: {e.strerror}") from None
    return path
