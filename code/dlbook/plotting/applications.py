"""“卷积网络的应用”一部分的图：学习曲线、混淆矩阵、错例与卷积核。"""

import numpy as np

from dlbook.plotting import (
    FONT,
    PAGE_WIDTH,
    finish,
    image_grid,
    plot_series,
    show_digits,
    use_chinese_font,
)


def plot_history(history, title=None):
    """画学习曲线：左图为损失，右图为准确率，训练与验证各一条线。

    Args:
        history: ``model.fit(...).history`` 形式的字典，至少含
            ``"loss"`` 与 ``"accuracy"``，可选 ``"val_loss"``、
            ``"val_accuracy"``。
        title: 整张图的标题。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    use_chinese_font()
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.4))
    for ax, key, name in [
        (axes[0], "loss", "损失"),
        (axes[1], "accuracy", "准确率"),
    ]:
        series = {"训练集": history[key]}
        if f"val_{key}" in history:
            series["验证集"] = history[f"val_{key}"]
        plot_series(ax, series, xlabel="轮次（epoch）", ylabel=name)
    return finish(fig, title)


def plot_confusion_matrix(cm, class_names=None, title=None):
    """把混淆矩阵画成热图，每格写出样本数；对角线之外即错误。

    Args:
        cm: 混淆矩阵，形状 (类别数, 类别数)。
        class_names: 各类别的名称；默认用 0、1……

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    use_chinese_font()
    cm = np.asarray(cm)
    k = len(cm)
    names = class_names or [str(i) for i in range(k)]
    fig, ax = plt.subplots(figsize=(7.2, 6.0))
    # 对数着色：对角线上的大数不至于把个位数的错误压成一片白。
    im = ax.imshow(np.log1p(cm), cmap="Blues")
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                dark = np.log1p(cm[i, j]) > 0.6 * np.log1p(cm.max())
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=FONT,
                    color="white" if dark else "black",
                )
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("预测类别")
    ax.set_ylabel("真实类别")
    fig.colorbar(im, ax=ax, label="log(1 + 样本数)")
    if title:
        ax.set_title(title)
    return finish(fig)


def show_misclassified(X, y_true, y_pred, n=20, ncols=10, title=None):
    """列出被分错的图片，标题写“真 a / 预测 b”。

    Args:
        X: 图片，形状 (样本数, 高, 宽) 或 (样本数, 高, 宽, 1)。
        y_true: 真实标签，形状 (样本数,)。
        y_pred: 预测标签，形状 (样本数,)。
        n: 最多显示的张数。

    Returns:
        Matplotlib 的 Figure；没有错例时返回 None。
    """
    X = np.asarray(X)
    if X.ndim == 4:
        X = X[..., 0]
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))
    if len(wrong) == 0:
        return None
    idx = wrong[:n]
    return show_digits(
        X[idx],
        np.asarray(y_true)[idx],
        n=len(idx),
        ncols=min(ncols, len(idx)),
        title=title,
        pred=np.asarray(y_pred)[idx],
    )


def plot_filters(kernel, ncols=8, title=None):
    """把第一层卷积核画成小图（红正蓝负），每个输出通道一张。

    Args:
        kernel: 卷积核权重，形状 (核高, 核宽, 1, 输出通道数)。

    Returns:
        Matplotlib 的 Figure。
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[2] != 1:
        raise ValueError(
            "kernel 的形状应为 (核高, 核宽, 1, 输出通道数)，"
            f"收到 {kernel.shape}。"
        )
    n = kernel.shape[-1]
    vmax = np.abs(kernel).max()
    return image_grid(
        [kernel[:, :, 0, i] for i in range(n)],
        [str(i) for i in range(n)],
        ncols=ncols,
        cmap="RdBu_r",
        size=0.9,
        title=title,
        vmin=-vmax,
        vmax=vmax,
    )


def plot_feature_maps(image, maps, ncols=8, title=None):
    """画一张输入图片和它经过某一层后得到的各通道特征图。

    Args:
        image: 输入图片，形状 (高, 宽) 或 (高, 宽, 1)。
        maps: 该层对这张图片的输出，形状 (高', 宽', 通道数)。

    Returns:
        Matplotlib 的 Figure。
    """
    image = np.asarray(image)
    if image.ndim == 3:
        image = image[..., 0]
    maps = np.asarray(maps)
    n = maps.shape[-1]
    # 第一行只放输入图片，其余格子空着；特征图从第二行开始
    images = [image] + [None] * (ncols - 1)
    images += [maps[..., i] for i in range(n)]
    titles = ["输入"] + [""] * (ncols - 1) + [str(i) for i in range(n)]
    cmaps = ["gray_r"] * ncols + ["viridis"] * n
    return image_grid(
        images, titles, ncols=ncols, cmap=cmaps, size=0.95, title=title
    )


def show_images(images, titles, ncols=8, title=None, cmap="gray_r", size=1.1):
    """把若干张图片排成一行或多行，每张配一个小标题（如增强前后对比）。

    Args:
        images: 图片，形状 (张数, 高, 宽) 或 (张数, 高, 宽, 1)。
        titles: 每张图片的小标题。
        cmap: 颜色映射。默认 ``"gray_r"`` 把大数值画成黑色（与
            show_digits 一致）；``"gray"`` 按像素的本来面目显示。
        size: 每张小图的边长（英寸）。

    Returns:
        Matplotlib 的 Figure。
    """
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., 0]
    return image_grid(
        images,
        titles,
        ncols=ncols,
        cmap=cmap,
        size=size,
        title=title,
        vmin=0,
        vmax=images.max(),
    )


def plot_schedule(schedule, total_steps, steps_per_epoch=None, title=None):
    """画学习率调度：横轴为训练步数，纵轴为学习率。

    Args:
        schedule: 可调用对象，``schedule(step)`` 返回该步的学习率，
            如 :func:`dlbook.models.cosine_schedule` 的返回值。
        total_steps: 总步数。
        steps_per_epoch: 给出时在每轮的边界画淡竖线。
        title: 图的标题。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    use_chinese_font()
    steps = np.arange(total_steps + 1)
    lr = np.array([float(schedule(int(s))) for s in steps])
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.plot(steps, lr)
    if steps_per_epoch:
        for s in range(steps_per_epoch, total_steps, steps_per_epoch):
            ax.axvline(s, color="0.85", lw=0.6, zorder=0)
    ax.set_xlabel("训练步数")
    ax.set_ylabel("学习率")
    ax.grid(alpha=0.3, axis="y")
    if title:
        ax.set_title(title)
    return finish(fig)


def plot_reliability(cal, label=None, ax=None, title=None):
    """画可靠性图：各箱的平均置信度（横轴）与实际准确率（纵轴）。

    Args:
        cal: :func:`dlbook.models.calibration` 的返回值。
        label: 图例中这条线的名字（如“不做增强”）。
        ax: 画在这个 Axes 上；默认新建一张图。
        title: 图的标题。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    use_chinese_font()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4))
    used = cal["count"] > 0
    ax.plot([0, 1], [0, 1], "--", color="0.6", label="完美校准")
    ax.plot(
        cal["confidence"][used],
        cal["accuracy"][used],
        "o-",
        ms=4,
        label=f"{label or '模型'}（ECE = {cal['ece']:.3f}）",
    )
    ax.set_xlabel("平均置信度")
    ax.set_ylabel("实际准确率")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def plot_dropout_masks(masks, names, n_channels=8, title=None):
    """并排画几种随机丢弃在同一批特征图上留下的掩码。

    Args:
        masks: 数组的列表，每个形状 (高, 宽, 通道)；0 表示被丢弃。
        names: 每一行的名字，如 ``["Dropout", "SpatialDropout2D"]``。
        n_channels: 每行画前几个通道。
        title: 整张图的标题。

    Returns:
        Matplotlib 的 Figure：每行一种丢弃，每列一个通道，黑色为被丢弃。
    """
    import matplotlib.pyplot as plt

    use_chinese_font()
    from dlbook.plotting import _text_width

    # 行名横写在左侧；整张图不超过正文宽度
    left = max(_text_width(name) for name in names) + 0.2
    cell = min(1.0, (PAGE_WIDTH - left) / n_channels)
    fig, axes = plt.subplots(
        len(masks),
        n_channels,
        figsize=(left + cell * n_channels, (cell + 0.3) * len(masks)),
        squeeze=False,
    )
    for row, (mask, name) in enumerate(zip(masks, names, strict=True)):
        for c in range(n_channels):
            ax = axes[row, c]
            ax.imshow(mask[:, :, c] != 0, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"通道 {c}", fontsize=FONT)
        axes[row, 0].set_ylabel(
            name, fontsize=FONT, rotation=0, ha="right", va="center"
        )
    return finish(fig, title)


def show_label_issues(
    X, given, probs, idx, ncols=8, title=None, highlight=()
):
    """把可能标错的图片排成网格，标题写“标注 a → 预测 b”和两者的概率。

    Args:
        X: 图片，形状 (样本数, 高, 宽)。
        given: 数据集给出的标签，形状 (样本数,)。
        probs: 样本外预测概率，形状 (样本数, 类别数)。
        idx: 要画的样本序号（按想要的顺序）。
        ncols: 每行张数。
        title: 整张图的标题。
        highlight: 要突出的样本序号（如 cleanlab 标出的）：标题前加 ★
            并用红色，不只靠颜色区分。

    Returns:
        Matplotlib 的 Figure。
    """
    X, given, probs = np.asarray(X), np.asarray(given), np.asarray(probs)
    idx = np.asarray(idx, dtype=int)
    if idx.size == 0:
        raise ValueError("idx 为空：没有要显示的样本。")
    if len(X) != len(given) or len(X) != len(probs):
        raise ValueError(
            f"X、given、probs 的样本数应相同，收到 {len(X)}、"
            f"{len(given)}、{len(probs)}。"
        )
    marked = set(np.asarray(highlight, dtype=int).tolist())
    titles = []
    for i in idx:
        a, b = int(given[i]), int(np.argmax(probs[i]))
        star = "★" if i in marked else ""
        titles.append(
            f"{star}标 {a}→测 {b}\n{probs[i, a]:.2f} / {probs[i, b]:.2f}"
        )
    fig = image_grid(X[idx], titles, ncols=ncols, size=1.25, title=title)
    for ax, i in zip(fig.axes, idx, strict=False):  # 空格子多出的轴不画
        if i in marked:
            ax.title.set_color("tab:red")
    return fig
