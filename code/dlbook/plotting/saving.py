"""“保存和加载模型”一部分的图。"""

import numpy as np


def plot_loss_curves(curves: dict, *, resume_epoch=None, title=None):
    """把几次训练的逐轮损失画在同一张图上，比较中断与恢复的效果。

    Args:
        curves: ``{图例: 损失序列}``，至多 4 条；序列的第 i 项是第 i+1
            轮的损失；值为 ``(起始轮次, 序列)`` 时从该轮之后开始画。
        resume_epoch: 可选，在这一轮处画一条竖线，标出“中断并恢复”。
        title: 图题。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    from dlbook.plotting import use_chinese_font

    use_chinese_font()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    styles = [("-", "o", 8), ("--", "s", 5), (":", "^", 6), ("-.", "x", 6)]
    for (label, values), (ls, marker, size) in zip(
        curves.items(), styles[: len(curves)], strict=True
    ):
        start, values = values if isinstance(values, tuple) else (0, values)
        epochs = np.arange(start + 1, start + len(values) + 1)
        ax.plot(epochs, values, ls=ls, marker=marker, ms=size, label=label)
    if resume_epoch is not None:
        ax.axvline(resume_epoch + 0.5, color="gray", lw=1)
        ax.annotate(
            "中断并恢复",
            (resume_epoch + 0.5, 0.95),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="top",
            fontsize=9,
            color="gray",
            bbox=dict(fc="white", ec="none"),
        )
    last = max(
        (v[0] if isinstance(v, tuple) else 0)
        + len(v[1] if isinstance(v, tuple) else v)
        for v in curves.values()
    )
    ax.set_xticks(np.arange(1, last + 1))  # 轮次是整数
    ax.set_xlabel("轮次（epoch）")
    ax.set_ylabel("训练损失")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
