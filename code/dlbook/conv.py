"""卷积运算的 NumPy 实现与输出尺寸算术。

张量一律采用 Keras 的“通道在后”布局：输入形状 (批量大小, 高, 宽, 通道)，
卷积核形状 (核高, 核宽, 输入通道, 输出通道)。本模块的每个函数都在
``tests/test_conv.py`` 中与 Keras/TensorFlow/SciPy 的对应实现逐元素比对。

填充参数 ``padding`` 可取：

* ``"valid"``：不填充（有效填充，窄卷积）；
* ``"same"``：按 TensorFlow 的规则补足，使输出边长为 ceil(L / s)；
* ``"full"``：每侧填充 d(f - 1)，每个输入像素被访问的次数相同（宽卷积）；
* 整数 p：上下左右各填充 p 层（任意填充）；
* ``((上, 下), (左, 右))``：四边分别指定。
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlbook._checks import check_positive, pair

PADDING_MODES = ("valid", "same", "full")


# ---------------------------------------------------------------------------
# 参数检查与输出尺寸
# ---------------------------------------------------------------------------


def effective_kernel_size(f: int, dilation: int = 1) -> int:
    """扩张后卷积核覆盖的边长 d(f - 1) + 1。"""
    f = check_positive("卷积核边长 f", f)
    d = check_positive("扩张率 dilation", dilation)
    return d * (f - 1) + 1


def padding_amounts(
    L: int, f: int, stride: int = 1, padding="valid", dilation: int = 1
) -> tuple[int, int]:
    """计算一个空间维度上两侧的填充层数。

    Args:
        L: 输入边长。
        f: 卷积核（池化窗口）边长。
        stride: 步长 s。
        padding: ``"valid"``、``"same"``、``"full"``、整数 p
            或二元组 (前, 后)。
        dilation: 扩张率 d。

    Returns:
        (前侧填充, 后侧填充)。``"same"`` 在总填充为奇数时后侧多一层，
        与 TensorFlow 一致。
    """
    s = check_positive("步长 stride", stride)
    fe = effective_kernel_size(f, dilation)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "full":
            return fe - 1, fe - 1
        if mode == "same":
            out = -(-L // s)  # ceil(L / s)
            total = max((out - 1) * s + fe - L, 0)
            return total // 2, total - total // 2
        raise ValueError(
            f"未知的填充方式 {padding!r}；可选 {PADDING_MODES}、"
            "非负整数或 (前, 后) 二元组。"
        )
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(f"填充二元组应为 (前, 后)，收到 {padding!r}。")
        before, after = (int(v) for v in padding)
    else:
        before = after = int(padding)
    if before < 0 or after < 0:
        raise ValueError(f"填充层数不能为负，收到 {padding!r}。")
    return before, after


def conv_output_size(
    L: int, f: int, stride: int = 1, padding="valid", dilation: int = 1
) -> int:
    """卷积输出的边长 floor((L + p前 + p后 - d(f-1) - 1) / s) + 1。

    Args:
        L: 输入边长。
        f: 卷积核边长。
        stride: 步长 s >= 1。
        padding: 见 :func:`padding_amounts`。
        dilation: 扩张率 d >= 1。

    Returns:
        输出边长（整数）。

    Raises:
        ValueError: 步长或扩张率 < 1，或扩张后的卷积核比填充后的输入大。
    """
    L = int(L)
    if L < 1:
        raise ValueError(f"输入边长 L 应 >= 1，收到 {L}。")
    before, after = padding_amounts(L, f, stride, padding, dilation)
    fe = effective_kernel_size(f, dilation)
    padded = L + before + after
    if fe > padded:
        raise ValueError(
            f"卷积核（扩张后边长 {fe}，f={f}, dilation={dilation}）"
            f"大于填充后的输入（边长 {padded} = {L} + {before} + {after}）。"
            "请减小卷积核或扩张率，或增加填充。"
        )
    return (padded - fe) // stride + 1


def pool_output_size(
    L: int, pool_size: int, stride=None, padding="valid"
) -> int:
    """池化输出的边长；stride 缺省时等于 pool_size（Keras 的约定）。"""
    stride = pool_size if stride is None else stride
    if isinstance(padding, str) and padding.lower() == "full":
        raise ValueError("池化层只支持 'valid' 和 'same' 填充，收到 'full'。")
    return conv_output_size(L, pool_size, stride, padding)


def conv_transpose_output_size(
    L: int,
    f: int,
    stride: int = 1,
    padding="valid",
    output_padding=None,
    dilation: int = 1,
) -> int:
    """转置卷积输出的边长，规则与 ``keras.layers.Conv2DTranspose`` 相同。

    output_padding 为 None 时：``"valid"`` 得 L*s + max(f' - s, 0)，
    ``"same"`` 得 L*s，其中 f' 为扩张后的核边长。给出 output_padding
    时为 (L - 1)*s + f' - 2p + output_padding，p 取 0（valid）或
    f' // 2（same）。
    """
    s = check_positive("步长 stride", stride)
    fe = effective_kernel_size(f, dilation)
    L = int(L)
    if L < 1:
        raise ValueError(f"输入边长 L 应 >= 1，收到 {L}。")
    if padding not in ("valid", "same"):
        raise ValueError(
            f"转置卷积只支持 'valid' 或 'same' 填充，收到 {padding!r}。"
        )
    if output_padding is None:
        if padding == "valid":
            return L * s + max(fe - s, 0)
        return L * s
    if not 0 <= output_padding < s:
        raise ValueError(
            f"output_padding 应满足 0 <= output_padding < stride={s}，"
            f"收到 {output_padding}。"
        )
    p = fe // 2 if padding == "same" else 0
    return (L - 1) * s + fe - 2 * p + output_padding


def receptive_field(layers) -> int:
    """堆叠若干卷积/池化层后，一个输出像素在输入上的感受野边长。

    Args:
        layers: 由 (f, s, d) 三元组组成的序列，依次是每层的核边长、
            步长和扩张率，从靠近输入的一层开始。

    Returns:
        感受野边长 1 + sum_l (d_l (f_l - 1)) * prod_{m<l} s_m。
    """
    r, jump = 1, 1
    for f, s, d in layers:
        r += (effective_kernel_size(f, d) - 1) * jump
        jump *= check_positive("步长 stride", s)
    return r


def conv_macs(H: int, W: int, f: int, c_in: int, c_out: int) -> int:
    """输出为 H×W 时一次卷积的乘加次数 H·W·f²·c_in·c_out。"""
    return H * W * f * f * c_in * c_out


# ---------------------------------------------------------------------------
# 填充
# ---------------------------------------------------------------------------


def pad2d(X, pads, mode: str = "zeros"):
    """在高、宽两个维度上填充一批特征图。

    Args:
        X: 输入，形状 (批量大小, 高, 宽, 通道)。
        pads: ((上, 下), (左, 右)) 或整数 p（四边各 p 层）。
        mode: ``"zeros"`` 按 0 填充；``"replicate"`` 重复边界值填充。

    Returns:
        形状 (批量大小, 高 + 上 + 下, 宽 + 左 + 右, 通道) 的数组。
    """
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(
            f"X 的形状应为 (批量大小, 高, 宽, 通道)，收到 {X.shape}。"
        )
    if isinstance(pads, (int, np.integer)):
        pads = ((pads, pads), (pads, pads))
    (top, bottom), (left, right) = pads
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"填充层数不能为负，收到 {pads!r}。")
    width = ((0, 0), (top, bottom), (left, right), (0, 0))
    if mode == "zeros":
        return np.pad(X, width, mode="constant")
    if mode == "replicate":
        # 重复边界值：np.pad 的 "edge" 模式把最外一圈像素向外复制。
        return np.pad(X, width, mode="edge")
    raise ValueError(
        f"未知的填充模式 {mode!r}；可选 'zeros' 或 'replicate'。"
    )


def _check_conv_args(X, W):
    """检查输入与卷积核的维数和通道数是否匹配。"""
    X = np.asarray(X)
    W = np.asarray(W)
    if X.ndim != 4:
        raise ValueError(
            f"X 的形状应为 (批量大小, 高, 宽, 通道)，收到 {X.shape}。"
        )
    if W.ndim != 4:
        raise ValueError(
            "卷积核 W 的形状应为 (核高, 核宽, 输入通道, 输出通道)，"
            f"收到 {W.shape}。"
        )
    if X.shape[-1] != W.shape[2]:
        raise ValueError(
            f"通道数不匹配：输入 X 有 {X.shape[-1]} 个通道，卷积核 W 的"
            f"输入通道为 {W.shape[2]}（W.shape={W.shape}）。"
        )
    return X, W


def _pad_for_conv(X, kernel_hw, strides, padding, dilations, pad_mode):
    """按 padding 规则填充 X，并检查卷积核不大于填充后的输入。"""
    (sh, sw), (dh, dw) = strides, dilations
    if (
        isinstance(padding, (tuple, list))
        and len(padding) == 2
        and all(isinstance(p, (tuple, list)) for p in padding)
    ):
        ph, pw = padding
    else:
        ph = pw = padding
    pads = []
    for L, f, s, p, d in zip(
        X.shape[1:3], kernel_hw, (sh, sw), (ph, pw), (dh, dw), strict=True
    ):
        pads.append(padding_amounts(L, f, s, p, d))
        conv_output_size(L, f, s, pads[-1], d)  # 卷积核过大时报错
    return pad2d(X, tuple(pads), mode=pad_mode)


# ---------------------------------------------------------------------------
# 互相关与卷积
# ---------------------------------------------------------------------------


def corr2d(X, K):
    """计算二维互相关运算（单通道、步长 1、不填充，用循环写出）。

    Args:
        X: 输入，形状 (高, 宽)。
        K: 卷积核，形状 (核高, 核宽)。

    Returns:
        形状 (高 - 核高 + 1, 宽 - 核宽 + 1) 的数组。
    """
    X, K = np.asarray(X), np.asarray(K)
    h, w = K.shape
    if h > X.shape[0] or w > X.shape[1]:
        raise ValueError(
            f"卷积核 {K.shape} 大于输入 {X.shape}；不填充时核不能比输入大。"
        )
    Y = np.zeros(
        (X.shape[0] - h + 1, X.shape[1] - w + 1),
        dtype=np.result_type(X, K, np.float32),
    )
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            # 感受野内逐元素相乘再求和
            Y[i, j] = (X[i : i + h, j : j + w] * K).sum()
    return Y


def conv2d_loops(X, W, b=None, stride=1, padding="valid", dilation=1):
    """按讲义公式逐个输出位置计算多通道二维卷积（互相关）。

    Z[n, i, j, c] = b[c] + sum_{k, x, y} Zp[n, s·i + d·x, s·j + d·y, k]
    · W[x, y, k, c]，其中 Zp 是填充后的输入。写成循环是为了看清公式；
    快速版本见 :func:`conv2d`。

    Args:
        X: 输入，形状 (批量大小, 高, 宽, 输入通道)。
        W: 卷积核，形状 (核高, 核宽, 输入通道, 输出通道)。
        b: 偏置，形状 (输出通道,)；None 表示不加偏置。
        stride: 步长，整数或 (高方向, 宽方向)。
        padding: 见模块说明。
        dilation: 扩张率，整数或二元组。

    Returns:
        形状 (批量大小, 输出高, 输出宽, 输出通道) 的数组。
    """
    X, W = _check_conv_args(X, W)
    (sh, sw), (dh, dw) = (
        pair("步长 stride", stride),
        pair("扩张率 dilation", dilation),
    )
    fh, fw, _, c_out = W.shape
    Xp = _pad_for_conv(X, (fh, fw), (sh, sw), padding, (dh, dw), "zeros")
    Ho = (Xp.shape[1] - dh * (fh - 1) - 1) // sh + 1
    Wo = (Xp.shape[2] - dw * (fw - 1) - 1) // sw + 1
    Y = np.zeros(
        (X.shape[0], Ho, Wo, c_out), dtype=np.result_type(X, W, np.float32)
    )
    for i in range(Ho):
        for j in range(Wo):
            # 取出感受野：起点 (s·i, s·j)，相邻元素相隔 d
            patch = Xp[
                :,
                sh * i : sh * i + dh * (fh - 1) + 1 : dh,
                sw * j : sw * j + dw * (fw - 1) + 1 : dw,
                :,
            ]
            # 对核的行 x、列 y 和输入通道 k 求和：(n,x,y,k)·(x,y,k,c)
            Y[:, i, j, :] = np.tensordot(patch, W, axes=3)
    if b is not None:
        Y += np.asarray(b)
    return Y


def conv2d(
    X, W, b=None, stride=1, padding="valid", dilation=1, pad_mode="zeros"
):
    """计算多通道二维卷积（互相关），用滑动窗口视图向量化。

    先用 ``sliding_window_view`` 得到每个输出位置的感受野（只是视图，
    不复制），再把“感受野 × 卷积核”的求和交给一次矩阵乘法（im2col）。

    Args:
        X: 输入，形状 (批量大小, 高, 宽, 输入通道)。
        W: 卷积核，形状 (核高, 核宽, 输入通道, 输出通道)。
        b: 偏置，形状 (输出通道,)；None 表示不加偏置。
        stride: 步长，整数或 (高方向, 宽方向)。
        padding: 见模块说明。
        dilation: 扩张率，整数或二元组。
        pad_mode: ``"zeros"`` 或 ``"replicate"``（重复边界值）。

    Returns:
        形状 (批量大小, 输出高, 输出宽, 输出通道) 的数组。
    """
    X, W = _check_conv_args(X, W)
    (sh, sw), (dh, dw) = (
        pair("步长 stride", stride),
        pair("扩张率 dilation", dilation),
    )
    fh, fw, c_in, c_out = W.shape
    Xp = _pad_for_conv(X, (fh, fw), (sh, sw), padding, (dh, dw), pad_mode)
    # 视图形状 (n, 高', 宽', 通道, 扩张后核高, 扩张后核宽)
    win = sliding_window_view(
        Xp, (dh * (fh - 1) + 1, dw * (fw - 1) + 1), axis=(1, 2)
    )
    # 按步长取输出位置、按扩张率取核内元素，仍然只是视图
    win = win[:, ::sh, ::sw, :, ::dh, ::dw]
    n, Ho, Wo = win.shape[:3]
    # 调整为 (n, 高, 宽, 核高, 核宽, 通道)：复制时通道维是连续内存
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * Ho * Wo, -1)
    dtype = np.result_type(X, W)
    Y = cols.astype(dtype, copy=False) @ W.reshape(-1, c_out).astype(
        dtype, copy=False
    )
    Y = Y.reshape(n, Ho, Wo, c_out)
    if b is not None:
        Y += np.asarray(b, dtype=dtype)
    return Y


def convolve2d(X, K, mode: str = "full"):
    """计算二维（线性）卷积：把卷积核旋转 180° 后做互相关。

    Args:
        X: 输入，形状 (高, 宽)。
        K: 卷积核，形状 (核高, 核宽)。
        mode: ``"full"``、``"valid"`` 或 ``"same"``，含义与
            ``scipy.signal.convolve2d`` 相同。

    Returns:
        二维数组；``"same"`` 时与 X 同形状。
    """
    X, K = np.asarray(X, dtype=float), np.asarray(K, dtype=float)
    if X.ndim != 2 or K.ndim != 2:
        raise ValueError(
            f"X 与 K 都应是二维数组，收到 {X.shape} 与 {K.shape}。"
        )
    K_flipped = K[::-1, ::-1]  # 旋转 180°：上下、左右各翻转一次
    if mode == "valid":
        return corr2d(X, K_flipped)
    fh, fw = K.shape
    Y = conv2d(
        X[None, :, :, None],
        K_flipped[:, :, None, None],
        padding=((fh - 1, fh - 1), (fw - 1, fw - 1)),
    )[0, :, :, 0]
    if mode == "full":
        return Y
    if mode == "same":
        # 从 full 结果的中央截取与 X 同样大小的一块（SciPy 的约定）
        top, left = (fh - 1) // 2, (fw - 1) // 2
        return Y[top : top + X.shape[0], left : left + X.shape[1]]
    raise ValueError(
        f"未知的 mode {mode!r}；可选 'full'、'valid' 或 'same'。"
    )


def dilate_kernel(W, dilation):
    """在卷积核元素之间插入 d - 1 个零，得到等价的“扩张后”卷积核。

    Args:
        W: 卷积核，形状 (核高, 核宽, 输入通道, 输出通道)。
        dilation: 扩张率，整数或二元组。

    Returns:
        形状 (d(核高-1)+1, d(核宽-1)+1, 输入通道, 输出通道) 的数组。
    """
    W = np.asarray(W)
    dh, dw = pair("扩张率 dilation", dilation)
    fh, fw = W.shape[:2]
    out = np.zeros(
        (dh * (fh - 1) + 1, dw * (fw - 1) + 1) + W.shape[2:], dtype=W.dtype
    )
    out[::dh, ::dw] = W
    return out


def conv_transpose2d(X, W, b=None, stride=1, padding="valid", dilation=1):
    """计算二维转置卷积（反卷积），与 ``keras.layers.Conv2DTranspose`` 一致。

    每个输入像素把“自身值 × 卷积核”整块加到输出上，相邻输入像素的落点
    相隔 s 个输出像素，重叠处相加；最后按 padding 裁掉边缘。

    Args:
        X: 输入，形状 (批量大小, 高, 宽, 输入通道)。
        W: 卷积核，形状 (核高, 核宽, 输出通道, 输入通道)，即 Keras
            ``Conv2DTranspose`` 的布局，也恰是对应的普通卷积核的布局。
        b: 偏置，形状 (输出通道,)；None 表示不加偏置。
        stride: 步长，整数或二元组。
        padding: ``"valid"`` 或 ``"same"``。
        dilation: 扩张率，整数或二元组。

    Returns:
        形状 (批量大小, 输出高, 输出宽, 输出通道) 的数组，输出边长由
        :func:`conv_transpose_output_size` 给出。
    """
    X, W = np.asarray(X), np.asarray(W)
    if X.ndim != 4 or W.ndim != 4:
        raise ValueError(
            "X 应为 (批量大小, 高, 宽, 输入通道)，W 应为 (核高, 核宽, "
            f"输出通道, 输入通道)；收到 {X.shape} 与 {W.shape}。"
        )
    if X.shape[-1] != W.shape[3]:
        raise ValueError(
            f"通道数不匹配：输入 X 有 {X.shape[-1]} 个通道，转置卷积核 W "
            f"的最后一维（输入通道）为 {W.shape[3]}（W.shape={W.shape}）。"
        )
    (sh, sw) = pair("步长 stride", stride)
    Wd = dilate_kernel(W, dilation)
    fh, fw, c_out, _ = Wd.shape
    n, H, Wi, _ = X.shape
    dtype = np.result_type(X, W, np.float32)
    # 不裁剪时的完整输出：边长 (L - 1)s + f
    full = np.zeros(
        (n, (H - 1) * sh + fh, (Wi - 1) * sw + fw, c_out), dtype=dtype
    )
    # 对核内每个位置 (x, y)：所有输入像素同时贡献到间隔为 s 的输出格点
    for x in range(fh):
        for y in range(fw):
            full[
                :,
                x : x + (H - 1) * sh + 1 : sh,
                y : y + (Wi - 1) * sw + 1 : sw,
                :,
            ] += X @ Wd[x, y].T
    out = []
    for L, f, s, size in (
        (H, fh, sh, full.shape[1]),
        (Wi, fw, sw, full.shape[2]),
    ):
        Lo = conv_transpose_output_size(L, f, s, padding)
        # 与 TensorFlow 相同：same 时裁掉的前侧层数为总裁剪量的一半
        crop = max(size - Lo, 0) // 2 if padding == "same" else 0
        out.append((Lo, crop))
    (Ho, ch), (Wo, cw) = out
    Y = np.zeros((n, Ho, Wo, c_out), dtype=dtype)
    hh = min(Ho, full.shape[1] - ch)
    ww = min(Wo, full.shape[2] - cw)
    # 步长大于核时完整输出比目标短，缺的部分保持为 0
    Y[:, :hh, :ww] = full[:, ch : ch + hh, cw : cw + ww]
    if b is not None:
        Y += np.asarray(b, dtype=dtype)
    return Y


def conv2d_tiled(X, W, b=None, stride=1, padding="valid"):
    """计算平铺卷积：相隔 t 个输出位置的单元才共享同一个卷积核。

    输出位置 (i, j) 使用第 (i mod t, j mod t) 个卷积核，共 t×t 个核
    轮流“平铺”在输出平面上。t = 1 时退化为普通卷积。

    Args:
        X: 输入，形状 (批量大小, 高, 宽, 输入通道)。
        W: 卷积核组，形状 (t, t, 核高, 核宽, 输入通道, 输出通道)。
        b: 偏置，形状 (输出通道,)；None 表示不加偏置。
        stride: 步长。
        padding: 见模块说明。

    Returns:
        形状 (批量大小, 输出高, 输出宽, 输出通道) 的数组。
    """
    W = np.asarray(W)
    if W.ndim != 6 or W.shape[0] != W.shape[1]:
        raise ValueError(
            "平铺卷积核 W 的形状应为 (t, t, 核高, 核宽, 输入通道, 输出通道)，"
            f"收到 {W.shape}。"
        )
    t = W.shape[0]
    Y = None
    for u in range(t):
        for v in range(t):
            # 用第 (u, v) 个核算出全部位置，再只保留归它负责的位置
            Z = conv2d(X, W[u, v], stride=stride, padding=padding)
            if Y is None:
                Y = np.zeros_like(Z)
            Y[:, u::t, v::t] = Z[:, u::t, v::t]
    if b is not None:
        Y += np.asarray(b, dtype=Y.dtype)
    return Y


def conv_as_matrix(H: int, W: int, K, stride: int = 1, padding="valid"):
    """把单通道卷积写成矩阵 C，使 vec(Y) = C · vec(X)。

    Args:
        H, W: 输入的高和宽。
        K: 卷积核，形状 (核高, 核宽)。
        stride: 步长。
        padding: 见模块说明。

    Returns:
        形状 (输出高 × 输出宽, H × W) 的矩阵。第 m 列是把第 m 个输入像素
        置 1、其余置 0 时的输出。
    """
    K = np.asarray(K, dtype=float)[:, :, None, None]
    basis = np.eye(H * W).reshape(H * W, H, W, 1)
    Y = conv2d(basis, K, stride=stride, padding=padding)
    return Y.reshape(H * W, -1).T


def same_padding_1d(f: int) -> int:
    """奇数核的“半填充”层数 p = (f - 1) / 2（步长为 1 时输出尺寸不变）。"""
    if f % 2 == 0:
        raise ValueError(
            f"核边长 f={f} 为偶数，两侧无法对称填充；"
            "请使用奇数核，或用 padding_amounts(..., 'same') 求不对称填充。"
        )
    return (f - 1) // 2


__all__ = [
    "PADDING_MODES",
    "effective_kernel_size",
    "padding_amounts",
    "conv_output_size",
    "pool_output_size",
    "conv_transpose_output_size",
    "receptive_field",
    "conv_macs",
    "pad2d",
    "corr2d",
    "conv2d_loops",
    "conv2d",
    "convolve2d",
    "dilate_kernel",
    "conv_transpose2d",
    "conv2d_tiled",
    "conv_as_matrix",
    "same_padding_1d",
]
