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

    from dlbook.plotting import finish, use_chinese_font

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
    return finish(fig)


def plot_update_norms(norms: dict, *, title=None):
    """画出恢复后最初若干步每一步参数更新量的范数 ``||Δθ||``。

    Args:
        norms: ``{图例: 每步的范数序列}``，至多 4 条，长度相同。
        title: 图题。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    from dlbook.plotting import finish, use_chinese_font

    if not norms or len(norms) > 4:
        raise ValueError(f"norms 应有 1 到 4 条曲线，收到 {len(norms)} 条。")
    lengths = {len(v) for v in norms.values()}
    if len(lengths) != 1:
        raise ValueError(f"各条曲线的长度应相同，收到 {sorted(lengths)}。")
    use_chinese_font()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "x")]
    for (label, values), (ls, marker) in zip(
        norms.items(), styles[: len(norms)], strict=True
    ):
        steps = np.arange(1, len(values) + 1)
        ax.plot(steps, values, ls=ls, marker=marker, ms=5, label=label)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(1, lengths.pop() + 1, 2))
    ax.set_xlabel("恢复后的第几步")
    ax.set_ylabel("这一步的参数更新量 ‖Δθ‖")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    if title:
        ax.set_title(title)
    return finish(fig)
