"""“预备知识”一章的图：logits 与 softmax 概率、几次训练的学习曲线。"""

import numpy as np

from dlbook.plotting import (
    FONT,
    PAGE_WIDTH,
    finish,
    plot_series,
    use_chinese_font,
)


def _check_curves(curves, keys):
    """检查 ``{名称: {键: 序列}}`` 非空且每条曲线都有 ``keys`` 中的键。"""
    if not curves:
        raise ValueError("curves 为空：至少要给出一次训练的曲线。")
    for name, curve in curves.items():
        missing = [k for k in keys if k not in curve]
        if missing:
            raise ValueError(
                f"曲线 {name!r} 缺少 {missing}；每条曲线应含 {list(keys)}，"
                "例如直接传入 model.fit(...).history。"
            )


def plot_softmax(logits, probs, label, title=None):
    """并排画出一个样本的 10 个 logits 与 softmax 之后的概率。

    Args:
        logits: 形状 (类别数,) 的 logits。
        probs: 形状 (类别数,) 的概率，与 ``logits`` 一一对应。
        label: 真实类别；它的柱子用另一种颜色画出。
        title: 整张图的标题。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    logits = np.asarray(logits, dtype=float).ravel()
    probs = np.asarray(probs, dtype=float).ravel()
    if logits.shape != probs.shape:
        raise ValueError(
            f"logits 有 {logits.size} 个、probs 有 {probs.size} 个，"
            "应一一对应（同一个样本的输出）。"
        )
    if not 0 <= int(label) < logits.size:
        raise ValueError(f"label={label} 不在 0 到 {logits.size - 1} 之间。")
    use_chinese_font()
    classes = np.arange(logits.size)
    colors = ["C1" if k == int(label) else "C0" for k in classes]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.2))
    ax1.bar(classes, logits, color=colors)
    ax1.axhline(0, color="black", lw=0.8)
    ax1.set(xlabel="类别 $k$", ylabel="$z_k$", title="logits（可正可负）")
    ax2.bar(classes, probs, color=colors)
    ax2.set(
        xlabel="类别 $k$",
        ylabel=r"$\hat{y}_k$",
        title="softmax 之后的概率（和为 1）",
        ylim=(0, 1),
    )
    for ax in (ax1, ax2):
        ax.set_xticks(classes)
        ax.grid(axis="y", alpha=0.3)
    return finish(fig, title)


def plot_val_losses(curves, title=None):
    """把几次训练的验证损失画在同一个坐标系里。

    Args:
        curves: ``{名称: history}``，history 至少含 ``"val_loss"``。
        title: 坐标系的标题。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    _check_curves(curves, ["val_loss"])
    use_chinese_font()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    plot_series(
        ax,
        {name: h["val_loss"] for name, h in curves.items()},
        xlabel="轮次（epoch）",
        ylabel="验证损失（交叉熵）",
        title=title,
    )
    ax.set_ylim(bottom=0)
    return finish(fig)


def plot_overfitting(curves, title=None):
    """每次训练一列：上为训练与验证损失（对数纵轴），下为放大的验证损失。

    两行都用竖虚线标出验证损失最低的一轮。验证损失的回升幅度比训练损失的
    下降幅度小得多，所以下面一行单独用线性纵轴把它放大。

    Args:
        curves: ``{名称: history}``，history 至少含 ``"loss"`` 与
            ``"val_loss"``。
        title: 整张图的标题。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    _check_curves(curves, ["loss", "val_loss"])
    use_chinese_font()
    n = len(curves)
    fig, axes = plt.subplots(
        2,
        n,
        figsize=(min(4.2 * n, PAGE_WIDTH), 6.2),
        sharex="col",
        squeeze=False,
    )
    for col, (name, h) in enumerate(curves.items()):
        top, bottom = axes[0, col], axes[1, col]
        plot_series(
            top,
            {"训练损失": h["loss"], "验证损失": h["val_loss"]},
            xlabel="",
            ylabel="交叉熵损失",
            title=name,
        )
        top.set_yscale("log")
        top.legend(loc="lower left")
        plot_series(
            bottom,
            {"验证损失": h["val_loss"]},
            xlabel="轮次（epoch）",
            ylabel="验证损失（放大）",
        )
        bottom.get_lines()[0].set_color("C1")
        bottom.get_legend().remove()
        best = int(np.argmin(h["val_loss"])) + 1
        right = best > 0.6 * len(h["val_loss"])  # 靠右时文字放在线的左边
        for ax in (top, bottom):
            ax.axvline(best, color="gray", ls=":", lw=1.2)
        # 文字放在坐标系顶部、竖线旁边，不与曲线重叠
        bottom.text(
            best + (-0.4 if right else 0.4),
            0.95,
            f"验证损失最低\n（第 {best} 轮）",
            transform=bottom.get_xaxis_transform(),
            ha="right" if right else "left",
            va="top",
            fontsize=FONT,
        )
    # 上一行共用对数纵轴的范围；下一行只显示验证损失最低点附近，把回升放大
    values = [
        v for h in curves.values() for v in (*h["loss"], *h["val_loss"])
    ]
    lows = [min(h["val_loss"]) for h in curves.values()]
    after = [
        max(h["val_loss"][int(np.argmin(h["val_loss"])) :])
        for h in curves.values()
    ]
    for col in range(n):
        axes[0, col].set_ylim(0.7 * min(values), 1.4 * max(values))
        axes[1, col].set_ylim(0.9 * min(lows), 1.1 * max(after))
    return finish(fig, title)
