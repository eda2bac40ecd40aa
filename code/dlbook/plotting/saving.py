"""“保存和加载模型”一部分的图。"""

import numpy as np


def plot_update_norms(norms: dict, *, title=None):
    """画出恢复后最初若干步每一步参数更新量的范数 ``||Δθ||``。

    Args:
        norms: ``{图例: 每步的范数序列}``，至多 4 条，长度相同。
        title: 图题。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    from dlbook.plotting import finish, plot_series, use_chinese_font

    if not norms or len(norms) > 4:
        raise ValueError(f"norms 应有 1 到 4 条曲线，收到 {len(norms)} 条。")
    lengths = {len(v) for v in norms.values()}
    if len(lengths) != 1:
        raise ValueError(f"各条曲线的长度应相同，收到 {sorted(lengths)}。")
    use_chinese_font()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "x")]
    plot_series(
        ax,
        norms,
        xlabel="恢复后的第几步",
        ylabel="这一步的参数更新量 ‖Δθ‖",
        title=title,
        styles=[{"ls": ls, "marker": m, "ms": 5} for ls, m in styles],
    )
    ax.set_yscale("log")
    ax.set_xticks(np.arange(1, lengths.pop() + 1, 2))
    ax.grid(alpha=0.3, which="both")
    return finish(fig)
