"""卷积运算的 NumPy 实现与输出尺寸算术。

张量一律采用 Keras 的“通道在后”布局：输入形状 (批量大小, 高, 宽, 通道)，
卷积核形状 (核高, 核宽, 输入通道, 输出通道)。本模块的每个函数都在
``tests/test_conv.py`` 中与 Keras/TensorFlow/SciPy 的对应实现逐元素比对。

填充参数 ``padding`` 可取：

* ``"valid"``：不填充（有效填充，窄卷积）；
* ``"same"``：按 TensorFlow 的规则补足，使输出边长为 ceil(n / s)
  （n 为输入边长）；
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


def _same_padding(n, f, s):
    n_out = -(-n // s)  # 输出边长 ceil(n / s)
    # 让最后一个窗口恰好落在 n_out 个输出上所需的总填充
    total = max((n_out - 1) * s + f - n, 0)
    return total // 2, total - total // 2  # 奇数时多出的一层补在后侧


def padding_amounts(
    n: int, f: int, stride: int = 1, padding="valid", dilation: int = 1
) -> tuple[int, int]:
    """计算一个空间维度上两侧的填充层数。

    Args:
        n: 输入边长 n_in。
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
            return _same_padding(n, fe, s)
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
    n: int, f: int, stride: int = 1, padding="valid", dilation: int = 1
) -> int:
    """卷积输出的边长 floor((n + p前 + p后 - d(f-1) - 1) / s) + 1。

    Args:
        n: 输入边长 n_in。
        f: 卷积核边长。
        stride: 步长 s >= 1。
        padding: 见 :func:`padding_amounts`。
        dilation: 扩张率 d >= 1。

    Returns:
        输出边长（整数）。

    Raises:
        ValueError: 步长或扩张率 < 1，或扩张后的卷积核比填充后的输入大。
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"输入边长 n 应 >= 1，收到 {n}。")
    before, after = padding_amounts(n, f, stride, padding, dilation)
    fe = effective_kernel_size(f, dilation)
    padded = n + before + after
    if fe > padded:
        raise ValueError(
            f"卷积核（扩张后边长 {fe}，f={f}, dilation={dilation}）"
            f"大于填充后的输入（边长 {padded} = {n} + {before} + {after}）。"
            "请减小卷积核或扩张率，或增加填充。"
        )
    return _conv_output_size(n, fe, stride, before, after)


def _conv_output_size(n, f, s, p_before, p_after):
    # 核放在最左边占去 f 个位置，之后每移动 s 步多一个输出
    return (n + p_before + p_after - f) // s + 1


def pool_output_size(
    n: int, pool_size: int, stride=None, padding="valid"
) -> int:
    """池化输出的边长；stride 缺省时等于 pool_size（Keras 的约定）。"""
    stride = pool_size if stride is None else stride
    if isinstance(padding, str) and padding.lower() == "full":
        raise ValueError("池化层只支持 'valid' 和 'same' 填充，收到 'full'。")
    return conv_output_size(n, pool_size, stride, padding)


def conv_transpose_output_size(
    n: int,
    f: int,
    stride: int = 1,
    padding="valid",
    output_padding=None,
    dilation: int = 1,
) -> int:
    """转置卷积输出的边长，规则与 ``keras.layers.Conv2DTranspose`` 相同。

    n 为输入边长。output_padding 为 None 时：``"valid"`` 得
    n*s + max(f' - s, 0)，``"same"`` 得 n*s，其中 f' 为扩张后的核边长。
    给出 output_padding 时为 (n - 1)*s + f' - 2p + output_padding，
    p 取 0（valid）或
    f' // 2（same）。
    """
    s = check_positive("步长 stride", stride)
    fe = effective_kernel_size(f, dilation)
    n = int(n)
    if n < 1:
        raise ValueError(f"输入边长 n 应 >= 1，收到 {n}。")
    if padding not in ("valid", "same"):
        raise ValueError(
            f"转置卷积只支持 'valid' 或 'same' 填充，收到 {padding!r}。"
        )
    if output_padding is None:
        if padding == "valid":
            return n * s + max(fe - s, 0)
        return n * s
    if not 0 <= output_padding < s:
        raise ValueError(
            f"output_padding 应满足 0 <= output_padding < stride={s}，"
            f"收到 {output_padding}。"
        )
    p = fe // 2 if padding == "same" else 0
    return (n - 1) * s + fe - 2 * p + output_padding


def receptive_field(layers) -> int:
    """堆叠若干卷积/池化层后，一个输出像素在输入上的感受野边长。

    Args:
        layers: 由 (f, s, d) 三元组组成的序列，依次是每层的核边长、
            步长和扩张率，从靠近输入的一层开始。

    Returns:
        感受野边长 1 + sum_l (d_l (f_l - 1)) * prod_{m<l} s_m。
    """
    layers = [
        (effective_kernel_size(f, d), check_positive("步长 stride", s))
        for f, s, d in layers
    ]
    return _receptive_field(layers)


def _receptive_field(layers):
    r, jump = 1, 1  # jump：本层相邻两个输出在输入上相隔几个像素
    for f, s in layers:  # f 已是扩张后的核边长 d(f-1)+1
        r += (f - 1) * jump
        jump *= s
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
    if mode not in ("zeros", "replicate"):
        raise ValueError(
            f"未知的填充模式 {mode!r}；可选 'zeros' 或 'replicate'。"
        )
    return _pad2d(X, ((top, bottom), (left, right)), mode)


def _pad2d(X, pads, mode):
    width = ((0, 0), *pads, (0, 0))  # 只在高、宽两维填充
    if mode == "replicate":
        # 重复边界值：np.pad 的 "edge" 模式把最外一圈像素向外复制
        return np.pad(X, width, mode="edge")
    return np.pad(X, width, mode="constant")  # 按 0 填充


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
    for n_in, f, s, p, d in zip(
        X.shape[1:3], kernel_hw, (sh, sw), (ph, pw), (dh, dw), strict=True
    ):
        pads.append(padding_amounts(n_in, f, s, p, d))
        conv_output_size(n_in, f, s, pads[-1], d)  # 卷积核过大时报错
    return pad2d(X, tuple(pads), mode=pad_mode)


# ---------------------------------------------------------------------------
# 互相关与卷积
# ---------------------------------------------------------------------------


def _corr2d(X, K):
    h, w = K.shape
    Y = np.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            # 感受野内逐元素相乘再求和
            Y[i, j] = (X[i : i + h, j : j + w] * K).sum()
    return Y


def corr2d(X, K):
    """计算二维互相关运算（单通道、步长 1、不填充，用循环写出）。

    Args:
        X: 输入，形状 (高, 宽)。
        K: 卷积核，形状 (核高, 核宽)。

    Returns:
        形状 (高 - 核高 + 1, 宽 - 核宽 + 1) 的数组。
    """
    X, K = _check_2d("X", X), _check_2d("卷积核 K", K)
    if K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:
        raise ValueError(
            f"卷积核 {K.shape} 大于输入 {X.shape}；不填充时核不能比输入大。"
        )
    dtype = np.result_type(X, K, np.float32)
    return _corr2d(X.astype(dtype), K.astype(dtype)).astype(dtype)


def _check_2d(name, A):
    A = np.asarray(A)
    if A.ndim != 2:
        raise ValueError(
            f"{name} 应是二维数组 (高, 宽)，收到形状 {A.shape}。"
        )
    return A


def _conv2d_loops(Xp, W, b, s):
    sh, sw = s
    fh, fw, _, c_out = W.shape
    Ho = (Xp.shape[1] - fh) // sh + 1
    Wo = (Xp.shape[2] - fw) // sw + 1
    Z = np.zeros((Xp.shape[0], Ho, Wo, c_out))
    for i in range(Ho):
        for j in range(Wo):
            # 感受野：从 (s·i, s·j) 开始的 f_h × f_w × C_in 块
            patch = Xp[:, sh * i : sh * i + fh, sw * j : sw * j + fw, :]
            # 对核的行 x、列 y 和输入通道 c 求和：(n,x,y,c)·(x,y,c,o)
            Z[:, i, j, :] = np.tensordot(patch, W, axes=3) + b
    return Z


def _prepare_conv(X, W, b, stride, padding, dilation, pad_mode="zeros"):
    """检查参数、按规则填充，并把扩张写成插零后的核（供各核心函数用）。"""
    X, W = _check_conv_args(X, W)
    s, d = pair("步长 stride", stride), pair("扩张率 dilation", dilation)
    Xp = _pad_for_conv(X, W.shape[:2], s, padding, d, pad_mode)
    dtype = np.result_type(X, W, np.float32)
    b = np.zeros(W.shape[-1]) if b is None else np.asarray(b)
    if b.shape != (W.shape[-1],):
        raise ValueError(
            f"偏置 b 的形状应为 (输出通道,) = ({W.shape[-1]},)，"
            f"收到 {b.shape}。"
        )
    Wd = dilate_kernel(W, d)  # 扩张卷积 = 插零后的普通卷积
    return Xp.astype(dtype), Wd.astype(dtype), b.astype(dtype), s, dtype


def conv2d_loops(X, W, b=None, stride=1, padding="valid", dilation=1):
    """按式逐个输出位置计算多通道二维卷积（互相关）。

    Z[n, i, j, o] = b[o] + sum_{x, y, c} Xp[n, s·i + x, s·j + y, c]
    · W[x, y, c, o]，其中 Xp 是填充后的输入。写成循环是为了看清公式；
    快速版本见 :func:`conv2d`。扩张率 d > 1 时先用 :func:`dilate_kernel`
    在核元素之间插零，结果与扩张卷积相同。

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
    Xp, Wd, b, s, dtype = _prepare_conv(X, W, b, stride, padding, dilation)
    return _conv2d_loops(Xp, Wd, b, s).astype(dtype)


def _conv2d(Xp, W, s):
    fh, fw, c_in, c_out = W.shape
    # 所有感受野的视图 (n, 高', 宽', C_in, f_h, f_w)：不复制数据，
    # 按步长取输出位置也只是切片
    win = sliding_window_view(Xp, (fh, fw), axis=(1, 2))[:, :: s[0], :: s[1]]
    n, Ho, Wo = win.shape[:3]
    # im2col：每个感受野按 (x, y, c) 的次序展平成矩阵的一行（这里才复制）
    rows = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * Ho * Wo, -1)
    # 核按同样的次序展平成 (f_h·f_w·C_in, C_out)：整层卷积 = 一次矩阵乘法
    Z = rows @ W.reshape(-1, c_out)
    return Z.reshape(n, Ho, Wo, c_out)


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
    Xp, Wd, b, s, dtype = _prepare_conv(
        X, W, b, stride, padding, dilation, pad_mode
    )
    return (_conv2d(Xp, Wd, s) + b).astype(dtype, copy=False)


def _convolve2d(X, K, mode):
    K = K[::-1, ::-1]  # 旋转 180°：上下、左右各翻转一次
    if mode == "valid":
        return _corr2d(X, K)
    fh, fw = K.shape
    # full：每侧补 f - 1 层零，让核与输入的每一种部分重叠都算到
    Y = _corr2d(np.pad(X, ((fh - 1, fh - 1), (fw - 1, fw - 1))), K)
    if mode == "same":
        # 从 full 结果的中央截取与 X 同样大小的一块（SciPy 的约定）
        top, left = (fh - 1) // 2, (fw - 1) // 2
        Y = Y[top : top + X.shape[0], left : left + X.shape[1]]
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
    X = _check_2d("X", X).astype(float)
    K = _check_2d("卷积核 K", K).astype(float)
    if mode not in PADDING_MODES:
        raise ValueError(
            f"未知的 mode {mode!r}；可选 'full'、'valid' 或 'same'。"
        )
    if mode == "valid" and (
        K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]
    ):
        raise ValueError(
            f"valid 模式下卷积核 {K.shape} 不能大于输入 {X.shape}。"
        )
    return _convolve2d(X, K, mode)


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


def _conv_transpose2d(X, W, s):
    # W 的形状 (f_h, f_w, C_out, C_in)；返回不裁剪的完整输出
    fh, fw, c_out, _ = W.shape
    n, H, Wi, _ = X.shape
    Z = np.zeros((n, (H - 1) * s[0] + fh, (Wi - 1) * s[1] + fw, c_out))
    for i in range(H):
        for j in range(Wi):
            # 输入像素 (i, j) 把“自身的值 × 卷积核”整块盖到输出上，
            # 落点相隔 s 个输出像素，重叠处相加。einsum 按下标相乘再求和：
            # stamp[n,x,y,o] = Σ_c X[n,i,j,c]·W[x,y,o,c]，对输入通道 c 求和
            stamp = np.einsum("nc,xyoc->nxyo", X[:, i, j], W)
            Z[:, s[0] * i : s[0] * i + fh, s[1] * j : s[1] * j + fw] += stamp
    return Z


def conv_transpose2d(
    X, W, b=None, stride=1, padding="valid", dilation=1, output_padding=None
):
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
        output_padding: None 或整数（两个方向相同），0 <= 值 < 步长；
            在输出的下方和右方多留的行列数，见
            :func:`conv_transpose_output_size`。

    Returns:
        形状 (批量大小, 输出高, 输出宽, 输出通道) 的数组。
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
    s = pair("步长 stride", stride)
    Wd = dilate_kernel(W, dilation)
    dtype = np.result_type(X, W, np.float32)
    full = _conv_transpose2d(X, Wd, s)
    n, c_out = X.shape[0], Wd.shape[2]
    sizes, crops = [], []
    dims = zip(X.shape[1:3], Wd.shape[:2], s, full.shape[1:3], strict=True)
    for n_in, f, st, size in dims:
        n_out = conv_transpose_output_size(
            n_in, f, st, padding, output_padding
        )
        sizes.append(n_out)
        # 与 TensorFlow 相同：same 时裁掉的前侧层数为总裁剪量的一半
        crops.append(max(size - n_out, 0) // 2 if padding == "same" else 0)
    (Ho, Wo), (ch, cw) = sizes, crops
    Y = np.zeros((n, Ho, Wo, c_out), dtype=dtype)
    hh, ww = min(Ho, full.shape[1] - ch), min(Wo, full.shape[2] - cw)
    # 步长大于核、或给了 output_padding 时完整输出比目标短，缺的部分为 0
    Y[:, :hh, :ww] = full[:, ch : ch + hh, cw : cw + ww]
    if b is not None:
        Y += np.asarray(b, dtype=dtype)
    return Y


def _conv2d_tiled(X, W, b, stride, padding):
    t = W.shape[0]
    Z = None
    for u in range(t):
        for v in range(t):
            # 用第 (u, v) 个核算出全部位置，再只保留归它负责的位置
            Z_uv = conv2d(X, W[u, v], stride=stride, padding=padding)
            if Z is None:
                Z = np.zeros_like(Z_uv)
            Z[:, u::t, v::t] = Z_uv[:, u::t, v::t]
    return Z + b  # 所有平铺共用一个偏置（每个输出通道一个）


def conv2d_tiled(X, W, b=None, stride=1, padding="valid"):
    """计算平铺卷积：相隔 t 个输出位置的单元才共享同一个卷积核。

    输出位置 (i, j) 使用第 (i mod t, j mod t) 个卷积核，共 t×t 个核
    轮流“平铺”在输出平面上。t = 1 时退化为普通卷积。偏置不随平铺变化：
    每个输出通道一个，所有核共用（与式 eq-convnets-tiled 一致）。

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
    c_out = W.shape[-1]
    b = np.zeros(c_out, dtype=W.dtype) if b is None else np.asarray(b)
    if b.shape != (c_out,):
        raise ValueError(
            f"平铺卷积的偏置由所有核共用，形状应为 (输出通道,) = ({c_out},)，"
            f"收到 {b.shape}。"
        )
    Y = _conv2d_tiled(X, W, b, stride, padding)
    return Y.astype(np.result_type(X, W, np.float32), copy=False)


def _conv_as_matrix(H, W, K, stride, padding):
    # 第 m 列：把第 m 个输入像素置 1、其余置 0 时的输出（拉成向量）
    basis = np.eye(H * W).reshape(H * W, H, W, 1)
    Y = conv2d(basis, K[:, :, None, None], stride=stride, padding=padding)
    return Y.reshape(H * W, -1).T


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
    K = _check_2d("卷积核 K", K).astype(float)
    return _conv_as_matrix(int(H), int(W), K, stride, padding)


def _conv2d_grad_kernel(Xp, G, f, s, d):
    # 每个核元素 (x, y) 看到的输入：从 (d·x, d·y) 起、间隔 s 取样，
    # 与上游梯度 G 同形状；二者逐元素相乘再对样本和位置求和
    fh, fw = f
    n, Ho, Wo, _ = G.shape
    dW = np.zeros((fh, fw, Xp.shape[-1], G.shape[-1]))
    for x in range(fh):
        for y in range(fw):
            rows = slice(d[0] * x, d[0] * x + s[0] * (Ho - 1) + 1, s[0])
            cols = slice(d[1] * y, d[1] * y + s[1] * (Wo - 1) + 1, s[1])
            dW[x, y] = np.einsum("nijc,nijk->ck", Xp[:, rows, cols], G)
    return dW


def conv2d_backward(X, W, G, stride=1, padding="valid", dilation=1):
    """卷积层的反向传播：给出上游梯度 G = ∂L/∂Z，求 ∂L/∂X、∂L/∂W、∂L/∂b。

    * ∂L/∂X：用同一个核对 G 做转置卷积（见 :func:`conv_transpose2d`）；
    * ∂L/∂W：输入 X（填充后）与 G 的互相关，按核的每个位置求和；
    * ∂L/∂b：G 在样本和空间位置上求和。

    Args:
        X: 前向时的输入，形状 (批量大小, 高, 宽, 输入通道)。
        W: 卷积核，形状 (核高, 核宽, 输入通道, 输出通道)。
        G: 上游梯度，形状与前向输出相同 (批量大小, 输出高, 输出宽, 输出通道)。
        stride, padding, dilation: 与前向的 :func:`conv2d` 相同。

    Returns:
        ``(dX, dW, db)``，形状分别与 X、W 和 (输出通道,) 相同。
    """
    X, W = _check_conv_args(X, W)
    G = np.asarray(G)
    s, d = pair("步长 stride", stride), pair("扩张率 dilation", dilation)
    fh, fw = W.shape[:2]
    pads = [
        padding_amounts(n_in, f, si, _axis_padding(padding, a), di)
        for a, (n_in, f, si, di) in enumerate(
            zip(X.shape[1:3], (fh, fw), s, d, strict=True)
        )
    ]
    want = tuple(
        conv_output_size(n_in, f, si, p, di)
        for n_in, f, si, p, di in zip(
            X.shape[1:3], (fh, fw), s, pads, d, strict=True
        )
    )
    if G.shape != (X.shape[0], *want, W.shape[-1]):
        raise ValueError(
            f"上游梯度 G 的形状应与前向输出相同，即 "
            f"{(X.shape[0], *want, W.shape[-1])}，收到 {G.shape}。"
        )
    Xp = pad2d(X, tuple(pads))
    dW = _conv2d_grad_kernel(Xp, G, (fh, fw), s, d)
    # 输入梯度：对填充后的输入做转置卷积，再裁掉填充的部分
    dXp = _conv_transpose2d(G, dilate_kernel(W, d), s)
    dX = np.zeros(Xp.shape)
    h, w = min(dXp.shape[1], Xp.shape[1]), min(dXp.shape[2], Xp.shape[2])
    dX[:, :h, :w] = dXp[:, :h, :w]  # 没被核访问到的行列梯度为 0
    (t, _), (lft, _) = pads
    dX = dX[:, t : t + X.shape[1], lft : lft + X.shape[2]]
    dtype = np.result_type(X, W, G, np.float32)
    return dX.astype(dtype), dW.astype(dtype), G.sum(axis=(0, 1, 2))


def _axis_padding(padding, axis):
    """从 ((上, 下), (左, 右)) 中取出一个方向；其他写法两个方向相同。"""
    if (
        isinstance(padding, (tuple, list))
        and len(padding) == 2
        and all(isinstance(p, (tuple, list)) for p in padding)
    ):
        return padding[axis]
    return padding


def _causal_padding(f, d):
    # 因果填充：只在序列前端补 d(f-1) 个零，输出 t 只看得到 t 及以前
    return (d * (f - 1), 0)


def conv1d(X, W, b=None, stride=1, padding="valid", dilation=1):
    """一维卷积（互相关），与 ``keras.layers.Conv1D`` 一致。

    一维卷积就是高为 1 的二维卷积：把序列看作 1 × 长度 的“图片”。

    Args:
        X: 输入，形状 (批量大小, 长度, 输入通道)。
        W: 卷积核，形状 (核长, 输入通道, 输出通道)。
        b: 偏置，形状 (输出通道,)；None 表示不加偏置。
        stride: 步长。
        padding: ``"valid"``、``"same"``、``"causal"``（只在前端补
            d(f-1) 个零）或非负整数。
        dilation: 扩张率。

    Returns:
        形状 (批量大小, 输出长度, 输出通道) 的数组。
    """
    X, W = np.asarray(X), np.asarray(W)
    if X.ndim != 3 or W.ndim != 3:
        raise ValueError(
            "conv1d 的 X 应为 (批量大小, 长度, 输入通道)、W 应为 "
            f"(核长, 输入通道, 输出通道)；收到 {X.shape} 与 {W.shape}。"
        )
    if isinstance(padding, str) and padding == "causal":
        d = check_positive("扩张率 dilation", dilation)
        padding = ((0, 0), _causal_padding(W.shape[0], d))
    elif not isinstance(padding, str):
        padding = ((0, 0), (int(padding), int(padding)))  # 只填充长度方向
    # 序列 = 高为 1 的图片；高方向的核、步长、扩张率都是 1
    Y = conv2d(X[:, None], W[None], b, (1, stride), padding, (1, dilation))
    return Y[:, 0]


def separable_conv_counts(n_out, f, c_in, c_out):
    """深度可分离卷积与标准卷积的参数个数和乘加次数（含偏置的参数）。

    深度卷积：每个输入通道一个 f×f 核（无偏置，与 Keras 的
    ``SeparableConv2D`` 相同）；逐点卷积：1×1 卷积把 c_in 个通道
    组合成 c_out 个，带偏置。输出为 n_out × n_out。

    Returns:
        ``{"standard": (参数, 乘加), "separable": (参数, 乘加)}``。
    """
    std = ((f * f * c_in + 1) * c_out, n_out**2 * f * f * c_in * c_out)
    sep = (
        f * f * c_in + (c_in + 1) * c_out,
        n_out**2 * f * f * c_in + n_out**2 * c_in * c_out,
    )
    return {"standard": std, "separable": sep}


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
    "conv2d_backward",
    "conv1d",
    "separable_conv_counts",
    "same_padding_1d",
]
