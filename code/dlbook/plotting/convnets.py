"""卷积网络一部分的图：卷积算术示意图、激活函数曲线、特征图网格。

卷积算术示意图沿用 Dumoulin 与 Visin 的画法：浅蓝格子是输入，虚线白格
是填充（或转置卷积中插入的零），深色方块是卷积核当前覆盖的位置，右侧
绿色格子是输出，深绿格是这一位置算出的输出像素。
"""

from unicodedata import east_asian_width

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, Rectangle

from dlbook.conv import conv_output_size, padding_amounts
from dlbook.plotting import finish, rc, use_chinese_font

_IN, _PAD, _KER = "#cfe2f3", "white", "#1f4e79"
#: 图宽不超过 MAX_WIDTH 英寸（约正文宽度），图中文字不小于 FONT 磅，
#: 这样按正文宽度显示时，图中的字不比正文小。
MAX_WIDTH, FONT = 8.0, 12
_RC = {
    "font.size": FONT,
    "axes.titlesize": FONT,
    "axes.labelsize": FONT,
    "xtick.labelsize": FONT,
    "ytick.labelsize": FONT,
    "legend.fontsize": FONT,
}
_OUT, _OUT_HI = "#d9ead3", "#38761d"


def _cell(ax, r, c, face, edge="#555555", ls="-", alpha=1.0, lw=0.8):
    """在第 r 行、第 c 列画一个单位方格（行向下增长）。"""
    ax.add_patch(
        Rectangle(
            (c, -r - 1),
            1,
            1,
            facecolor=face,
            edgecolor=edge,
            linestyle=ls,
            lw=lw,
            alpha=alpha,
        )
    )


def _draw_panel(
    ax,
    real,
    kernel_cells,
    out_shape,
    out_cell,
    title,
    values=None,
    kernel=None,
    out_values=None,
):
    """画一幅“输入（含填充）→ 输出”示意图。

    Args:
        ax: Matplotlib 坐标轴。
        real: 布尔数组，形状 (高, 宽)：True 为真实输入，False 为填充/零。
        kernel_cells: 卷积核覆盖的 (行, 列) 列表。
        out_shape: 输出的 (高, 宽)。
        out_cell: 当前输出像素的 (行, 列)。
        title: 子图标题。
        values: 可选，与 real 同形状的数字，写在格子里。
        kernel: 可选，形状 (核高, 核宽) 的核权重，画在输出右边。
        out_values: 可选，形状 out_shape 的输出数值，写在输出格里。
    """
    H, W = real.shape
    for r in range(H):
        for c in range(W):
            if real[r, c]:
                _cell(ax, r, c, _IN)
            else:
                _cell(ax, r, c, _PAD, edge="#999999", ls="--")
            if values is not None:
                ax.text(
                    c + 0.5,
                    -r - 0.5,
                    f"{values[r, c]:g}",
                    ha="center",
                    va="center",
                    fontsize=FONT,
                )
    for r, c in kernel_cells:
        _cell(ax, r, c, _KER, edge=_KER, alpha=0.4, lw=1.5)
    off = W + 2
    top = (H - out_shape[0]) / 2
    for r in range(out_shape[0]):
        for c in range(out_shape[1]):
            face = _OUT_HI if (r, c) == tuple(out_cell) else _OUT
            ax.add_patch(
                Rectangle(
                    (off + c, -top - r - 1),
                    1,
                    1,
                    facecolor=face,
                    edgecolor="#555555",
                    lw=0.8,
                )
            )
            if out_values is not None:
                hi = (r, c) == tuple(out_cell)
                ax.text(
                    off + c + 0.5,
                    -top - r - 0.5,
                    f"{out_values[r, c]:g}",
                    ha="center",
                    va="center",
                    fontsize=FONT,
                    color="white" if hi else "black",
                )
    ax.add_patch(
        FancyArrowPatch(
            (W + 0.3, -H / 2),
            (off - 0.3, -H / 2),
            arrowstyle="-|>",
            mutation_scale=12,
            color="#444444",
        )
    )
    right = off + out_shape[1]
    if kernel is not None:  # 核的权重单独画成一个小网格，放在输出右边
        k = np.asarray(kernel)
        k0 = right + 1
        for (r, c), v in np.ndenumerate(k):
            _cell(ax, r + top, k0 + c, _KER, edge=_KER, alpha=0.4, lw=1.5)
            ax.text(
                k0 + c + 0.5,
                -top - r - 0.5,
                f"{v:g}",
                ha="center",
                va="center",
                fontsize=FONT,
            )
        ax.text(
            k0 + k.shape[1] / 2, -top + 0.3, "核", ha="center", fontsize=FONT
        )
        right = k0 + k.shape[1]
    ax.set_xlim(-0.5, right + 0.5)
    ax.set_ylim(-max(H, out_shape[0] + top) - 0.5, 0.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=FONT)


def padding_name(padding, f):
    """填充方式的中文名：有效、相同（半）、全填充或任意填充。"""
    if isinstance(padding, str):
        return {"valid": "有效填充", "same": "相同填充", "full": "全填充"}[
            padding.lower()
        ]
    p = padding if isinstance(padding, int) else None
    if p == 0:
        return "有效填充"
    if p is not None and f % 2 == 1 and p == (f - 1) // 2:
        return "半填充"
    if p is not None and p == f - 1:
        return "全填充"
    return "任意填充"


def draw_conv(
    ax,
    n,
    f,
    stride=1,
    padding=0,
    dilation=1,
    pos=(0, 0),
    title=None,
    values=None,
    kernel=None,
    out_values=None,
):
    """画一次卷积（互相关）的示意图：输入、填充、核位置与输出。

    Args:
        ax: Matplotlib 坐标轴。
        n: 输入边长 n_in（方形输入）。
        f: 卷积核边长。
        stride: 步长 s。
        padding: ``"valid"``、``"same"``、``"full"`` 或整数 p。
        dilation: 扩张率 d。
        pos: 高亮的输出像素 (行, 列)。
        title: 子图标题；None 时自动生成。
        values: 可选，形状 (n, n) 的输入数值，写在格子里（填充处写 0）。
        kernel: 可选，形状 (f, f) 的核权重，画在输出右边。
        out_values: 可选，形状 (输出边长, 输出边长) 的输出数值。
    """
    before, after = padding_amounts(n, f, stride, padding, dilation)
    P = n + before + after
    real = np.zeros((P, P), dtype=bool)
    real[before : before + n, before : before + n] = True
    n_out = conv_output_size(n, f, stride, padding, dilation)
    i, j = pos
    cells = [
        (stride * i + dilation * x, stride * j + dilation * y)
        for x in range(f)
        for y in range(f)
    ]
    if title is None:
        title = (
            f"{padding_name(padding, f)}：输入 {n}×{n}，核 {f}×{f}，"
            f"s={stride}，p={before}"
            + (f"，d={dilation}" if dilation > 1 else "")
            + f"\n输出 {n_out}×{n_out}"
        )
    if values is not None:
        values = np.pad(np.asarray(values), ((before, after),) * 2)
    kvals = None if kernel is None else np.asarray(kernel)
    _draw_panel(
        ax, real, cells, (n_out, n_out), pos, title, values, kvals, out_values
    )


def draw_conv_transpose(ax, n, f, stride=1, pos=(0, 0), title=None):
    """画转置卷积（valid）的等价直接卷积：输入像素间插入 s − 1 个零，
    四周再补 f − 1 层零，然后用步长 1 的普通卷积扫过。n 为输入边长。"""
    D = (n - 1) * stride + 1
    P = D + 2 * (f - 1)
    real = np.zeros((P, P), dtype=bool)
    idx = f - 1 + stride * np.arange(n)
    real[np.ix_(idx, idx)] = True
    n_out = P - f + 1
    i, j = pos
    cells = [(i + x, j + y) for x in range(f) for y in range(f)]
    if title is None:
        title = (
            f"转置卷积：输入 {n}×{n}，核 {f}×{f}，s={stride}\n"
            f"输出 {n_out}×{n_out}"
        )
    _draw_panel(ax, real, cells, (n_out, n_out), pos, title)


@rc(_RC)
def conv_arithmetic_figure(configs, ncols=None, width=4.0, height=3.4):
    """把若干卷积算术示意图排成一行或多行。

    Args:
        configs: 字典列表；含键 ``kind``（``"conv"`` 或 ``"transpose"``），
            其余键传给 :func:`draw_conv` 或 :func:`draw_conv_transpose`。
        ncols: 每行的子图数，默认全部排成一行。

    Returns:
        Matplotlib 的 Figure。
    """
    use_chinese_font()
    n = len(configs)
    ncols = ncols or max(1, min(n, int(MAX_WIDTH // width)))
    width = min(width, MAX_WIDTH / ncols)  # 整张图不超过正文宽度
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False
    )
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, cfg in zip(axes.flat, configs, strict=False):
        cfg = dict(cfg)
        kind = cfg.pop("kind", "conv")
        if kind == "transpose":
            draw_conv_transpose(ax, **cfg)
        else:
            draw_conv(ax, **cfg)
    return finish(fig)


@rc(_RC)
def tiled_assignment_figure(out_size=6, tiles=(1, 2, 3)):
    """画出平铺卷积中每个输出位置由哪一个卷积核负责。

    Args:
        out_size: 输出边长。
        tiles: 要比较的平铺大小 t。

    Returns:
        Matplotlib 的 Figure。
    """
    use_chinese_font()
    cmap = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(tiles), figsize=(2.6 * len(tiles), 3.0))
    for ax, t in zip(np.atleast_1d(axes), tiles, strict=True):
        for r in range(out_size):
            for c in range(out_size):
                k = (r % t) * t + (c % t)
                _cell(ax, r, c, cmap(k % 10), alpha=0.75)
                ax.text(
                    c + 0.5,
                    -r - 0.5,
                    f"{k + 1}",
                    ha="center",
                    va="center",
                    fontsize=FONT,
                )
        ax.set_xlim(-0.2, out_size + 0.2)
        ax.set_ylim(-out_size - 0.2, 0.2)
        ax.set_aspect("equal")
        ax.axis("off")
        name = "普通卷积" if t == 1 else "平铺卷积"
        ax.set_title(f"{name}（t = {t}，{t * t} 个核）", fontsize=FONT)
    return finish(fig)


@rc(_RC)
def plot_curves(z, panels, ylabel, title=None):
    """在并排的子图中画若干函数曲线。

    Args:
        z: 横轴取值，形状 (点数,)。
        panels: 列表，每个元素为 (子图标题, {曲线名: 纵轴取值或
            (下界, 上界) 二元组})；二元组画成阴影带。
        ylabel: 纵轴标签。
        title: 整张图的标题。

    Returns:
        Matplotlib 的 Figure。
    """
    use_chinese_font()
    fig, axes = plt.subplots(
        1, len(panels), figsize=(MAX_WIDTH / len(panels) * len(panels), 3.8)
    )
    styles = ["-", "--", "-.", ":", (0, (5, 1, 1, 1))]
    for ax, (name, curves) in zip(np.atleast_1d(axes), panels, strict=True):
        k = 0
        for label, y in curves.items():
            if isinstance(y, tuple):
                ax.fill_between(
                    z, y[0], y[1], alpha=0.3, label=label, color="tab:orange"
                )
                continue
            ax.plot(z, y, lw=2, ls=styles[k % len(styles)], label=label)
            k += 1
        ax.axhline(0, color="gray", lw=0.6)
        ax.axvline(0, color="gray", lw=0.6)
        ax.set_xlabel("$z$")
        ax.set_ylabel(ylabel)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT)
    return finish(fig, title)


@rc(_RC)
def plot_maps(
    maps,
    row_titles=None,
    col_titles=None,
    cmap="gray_r",
    size=1.6,
    symmetric=False,
    title=None,
    vmin=None,
    vmax=None,
    annotate=False,
):
    """把若干张二维图（特征图、卷积核、计数）排成网格。

    Args:
        maps: 二维数组的嵌套列表，maps[r][c] 形状 (高, 宽)；各图尺寸
            可以不同（池化前后）。某格为 None 时留白。
        row_titles: 每行左侧的标题。
        col_titles: 每列上方的标题。
        cmap: 颜色映射。
        size: 每个子图的边长（英寸）。
        symmetric: 为 True 时颜色范围关于 0 对称（用于有正有负的图）。
        title: 整张图的标题。
        vmin, vmax: 所有子图共用的颜色范围；None 时每幅图各自缩放。
        annotate: 为 True 时把每个元素的数值（取整）写在格子里。

    Returns:
        Matplotlib 的 Figure。
    """
    use_chinese_font()
    nrows, ncols = len(maps), max(len(row) for row in maps)
    left = 0.5 if row_titles else 0.0
    size = min(size, (MAX_WIDTH - 0.3 - left) / ncols)  # 不超过正文宽度
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size * ncols + 0.3 + left, size * nrows + 0.4),
        squeeze=False,
    )
    for r in range(nrows):
        row = list(maps[r]) + [None] * (ncols - len(maps[r]))
        for c, M in enumerate(row):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and col_titles:
                ax.set_title(col_titles[c], fontsize=FONT)
            if c == 0 and row_titles:
                # 用文字而非 ylabel：该格留白（关闭坐标轴）时标题仍可见
                # 纯中文标题竖排（逐字换行），否则旋转 90°
                label = row_titles[r]
                cjk = all(east_asian_width(ch) in "WF" for ch in label)
                ax.text(
                    -0.06,
                    0.5,
                    "\n".join(label) if cjk else label,
                    transform=ax.transAxes,
                    rotation=0 if cjk else 90,
                    ha="right",
                    va="center",
                    fontsize=FONT,
                    linespacing=1.1,
                )
            if M is None:
                ax.axis("off")
                continue
            M = np.asarray(M)
            lo, hi = vmin, vmax
            if symmetric:
                v = float(np.abs(M).max()) or 1.0
                lo, hi = -v, v
            im = ax.imshow(M, cmap=cmap, vmin=lo, vmax=hi)
            if annotate:
                mid = np.mean(im.get_clim())
                for (i, j), val in np.ndenumerate(M):
                    color = "white" if val > mid else "black"
                    ax.text(
                        j,
                        i,
                        f"{val:.0f}",
                        ha="center",
                        va="center",
                        fontsize=FONT,
                        color=color,
                    )
    return finish(fig, title)


@rc(_RC)
def plot_receptive_field(depth, series, title=None):
    """画感受野边长随层数的增长。

    Args:
        depth: 层数，形状 (层数,)。
        series: {曲线名: 每层的感受野边长}。
        title: 图标题。

    Returns:
        Matplotlib 的 Figure。
    """
    use_chinese_font()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for (label, r), m in zip(series.items(), "os^D", strict=False):
        ax.plot(depth, r, marker=m, lw=2, label=label)
    ax.set_xlabel("堆叠的 3×3 卷积层数")
    ax.set_ylabel("感受野边长（像素）")
    ax.set_xticks(depth)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return finish(fig)


@rc(_RC)
def plot_kernel_learning(errors, kernels, target):
    """画“用梯度下降学卷积核”的收敛过程。

    Args:
        errors: {曲线名: 每一步的 max|K - K*|}，画在左图（对数纵轴）。
        kernels: 形状 (步数, 核高, 核宽)，每一步的核（右图逐元素画出）。
        target: 形状 (核高, 核宽) 的目标核，右图用虚线标出。

    Returns:
        Matplotlib 的 Figure。
    """
    use_chinese_font()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(MAX_WIDTH, 3.6))
    for (label, err), style in zip(
        errors.items(), ["-", "--", ":"], strict=False
    ):
        ax1.semilogy(np.arange(len(err)), err, style, lw=2, label=label)
    ax1.set_xlabel("梯度下降的步数")
    ax1.set_ylabel("与目标核的最大差")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=FONT)
    kernels = np.asarray(kernels)
    steps = np.arange(len(kernels))
    colors = plt.cm.tab10(np.linspace(0, 1, 10))
    for m, (x, y) in enumerate(np.ndindex(*target.shape)):
        ax2.plot(steps, kernels[:, x, y], color=colors[m % 10], lw=1.5)
        ax2.axhline(target[x, y], color=colors[m % 10], ls="--", lw=0.8)
    ax2.set_xlabel("梯度下降的步数")
    ax2.set_ylabel("核的各个元素（虚线为目标值）")
    ax2.grid(alpha=0.3)
    return finish(fig)


@rc(_RC)
def plot_causal_stack(panels):
    """画因果卷积堆叠中，最后一个输出依赖哪些单元（WaveNet 的画法）。

    Args:
        panels: [(标题, deps)]；deps 是形状 (层数 + 1, 长度) 的布尔数组，
            第 0 行是输入，最后一行是输出，True 表示最后一个输出依赖它。

    Returns:
        Matplotlib 的 Figure。
    """
    use_chinese_font()
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(MAX_WIDTH, 2.9 * len(panels)), squeeze=False
    )
    for ax, (title, deps) in zip(axes[:, 0], panels, strict=True):
        deps = np.asarray(deps, dtype=bool)
        rows, T = deps.shape
        for r in range(rows):
            t = np.arange(T)
            ax.scatter(
                t,
                np.full(T, r),
                s=28,
                facecolors="white",
                edgecolors="#999999",
                lw=0.8,
            )
            on = t[deps[r]]
            ax.scatter(on, np.full(len(on), r), s=36, color=_KER)
        ax.set_yticks(range(rows))
        ax.set_yticklabels(
            ["输入"] + [f"第 {r} 层" for r in range(1, rows)], fontsize=FONT
        )
        ax.set_xlabel("时间步 t")
        ax.set_title(title, fontsize=FONT)
        ax.set_xlim(-0.8, T - 0.2)
        ax.set_ylim(-0.6, rows - 0.4)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return finish(fig)


@rc(_RC)
def im2col_figure(X, K):
    """画 im2col：每个感受野展平成矩阵的一行，核展平成一列，卷积 = 矩阵乘法。

    Args:
        X: 单通道输入，形状 (高, 宽)。
        K: 卷积核，形状 (核高, 核宽)。

    Returns:
        ``(fig, rows, y)``：Figure、感受野矩阵（形状 (输出像素数, 核元素数)）
        与乘积（形状 (输出像素数,)）。图中写的正是这两个数组的值。
    """
    use_chinese_font()
    X, K = np.asarray(X, dtype=float), np.asarray(K, dtype=float)
    fh, fw = K.shape
    Ho, Wo = X.shape[0] - fh + 1, X.shape[1] - fw + 1
    pos = [(i, j) for i in range(Ho) for j in range(Wo)]
    rows = np.array([X[i : i + fh, j : j + fw].ravel() for i, j in pos])
    y = rows @ K.ravel()
    colors = plt.cm.Set2(np.linspace(0, 1, 8))[: len(pos)]
    fig, ax = plt.subplots(figsize=(MAX_WIDTH, 3.2))

    def grid(x0, y0, M, face=None, fs=FONT):
        for (r, c), v in np.ndenumerate(M):
            fc = _IN if face is None else face[r]
            if face is not None and np.ndim(fc) == 2:  # 逐格指定颜色
                fc = fc[c]
            ax.add_patch(
                Rectangle(
                    (x0 + c, y0 - r - 1),
                    1,
                    1,
                    facecolor=fc,
                    edgecolor="#555555",
                    lw=0.8,
                )
            )
            ax.text(
                x0 + c + 0.5,
                y0 - r - 0.5,
                f"{v:g}",
                ha="center",
                va="center",
                fontsize=fs,
            )

    grid(0, 0, X)
    for m, (i, j) in enumerate(pos):  # 每个感受野一个彩色框
        inset = 0.08 + 0.06 * m
        ax.add_patch(
            Rectangle(
                (j + inset, -i - fh + inset),
                fw - 2 * inset,
                fh - 2 * inset,
                fill=False,
                edgecolor=colors[m],
                lw=2,
            )
        )
    x1 = X.shape[1] + 1.5
    grid(x1, 0, rows, face=colors)
    ax.text(
        x1 + rows.shape[1] / 2,
        0.6,
        "感受野矩阵",
        ha="center",
        fontsize=FONT,
    )
    x2 = x1 + rows.shape[1] + 1.2
    ax.text(
        x2 - 0.6, -len(pos) / 2, "×", ha="center", va="center", fontsize=14
    )
    grid(x2, 0, K.reshape(-1, 1), face=[_KER + "55"] * K.size)
    ax.text(x2 + 0.5, 0.6, "核展平", ha="center", fontsize=FONT)
    x3 = x2 + 2.2
    ax.text(
        x3 - 0.6, -len(pos) / 2, "=", ha="center", va="center", fontsize=14
    )
    grid(x3, 0, y.reshape(-1, 1), face=colors)
    ax.text(x3 + 0.5, 0.6, "输出", ha="center", fontsize=FONT)
    x4 = x3 + 2.5
    ax.add_patch(
        FancyArrowPatch(
            (x3 + 1.2, -len(pos) / 2),
            (x4 - 0.2, -len(pos) / 2),
            arrowstyle="-|>",
            mutation_scale=12,
            color="#444444",
        )
    )
    grid(
        x4,
        -(len(pos) - Ho) / 2,
        y.reshape(Ho, Wo),
        face=[c for c in colors.reshape(Ho, Wo, 4)],
    )
    ax.text(x4 + Wo / 2, 0.6, "变回 2 维", ha="center", fontsize=FONT)
    ax.set_xlim(-0.5, x4 + Wo + 0.5)
    ax.set_ylim(-max(X.shape[0], len(pos)) - 0.5, 1.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, rows, y
