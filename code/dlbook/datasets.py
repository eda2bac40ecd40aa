"""自己动手制作图像数据集：文件夹树、检查坏数据、TFRecord 与标签文件。

“卷积网络的应用”一部分用本模块把 MNIST 子集写成读者自己的照片会用的
目录结构（每个类别一个子文件夹），在训练之前扫描这棵目录树、报告坏数据，
再把同一批样本写成 TFRecord 文件并读回。
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: ``keras.utils.image_dataset_from_directory`` 接受的图片扩展名。
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")

#: 各类问题的中文名称与处理建议。
_ADVICE = {
    "non_image": (
        "不是图片",
        "Keras 会静默跳过它；若它本该是图片，请转换成 PNG/JPEG，"
        "否则把它移出数据目录",
    ),
    "corrupt": (
        "图片已损坏",
        "Keras 会把它计入样本数，直到训练读到它时才报错；"
        "请重新导出或下载它，无法修复就删除",
    ),
    "empty_class": (
        "类别文件夹为空",
        "Keras 仍会把它当成一个类别，模型因此多出一个永远学不到的输出；"
        "请放入该类的图片，或删除这个文件夹",
    ),
    "stray_file": (
        "文件不在类别文件夹中",
        "按文件夹推断标签时 Keras 会忽略它；请把它移入所属类别的子文件夹",
    ),
    "imbalance": (
        "类别不均衡",
        "模型会偏向多数类，总准确率也会掩盖少数类上的失败；请为少数类"
        "补充数据，或在 fit 中传 class_weight，并逐类查看准确率",
    ),
    "leak": (
        "跨划分的重复图片",
        "同一张（或几乎相同的）图片同时出现在两个划分里，评估会偏乐观；"
        "请从评估用的划分中删除它，并检查划分方式（例如按拍摄者分组划分）",
    ),
}


@dataclass(frozen=True)
class Problem:
    """数据目录树中的一处问题。

    Attributes:
        path: 出问题的文件或文件夹（相对于数据根目录）。
        kind: 问题类型：``"non_image"``、``"corrupt"``、
            ``"empty_class"``、``"stray_file"``、``"imbalance"``
            或 ``"leak"``。
        detail: 具体原因，例如图片解码器给出的错误信息。
    """

    path: str
    kind: str
    detail: str = ""

    def message(self) -> str:
        """返回一行中文说明：哪个文件、出了什么问题、该怎么办。"""
        name, advice = _ADVICE[self.kind]
        detail = f"（{self.detail}）" if self.detail else ""
        return f"[{name}] {self.path}{detail}：{advice}。"


def _write_image_tree(X, y, root, class_names):
    from PIL import Image

    counts = {}
    for c, name in enumerate(class_names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        counts[name] = 0
        for i in np.flatnonzero(y == c):
            # 文件名用原始序号，便于把图片追溯回数组中的样本
            Image.fromarray(X[i], mode="L").save(folder / f"{i:05d}.png")
            counts[name] += 1
    return counts


def write_image_tree(X, y, root, class_names=None) -> dict:
    """把图片数组写成“每类一个子文件夹”的 PNG 目录树。

    目录结构为 ``root/<类别名>/<序号>.png``，这正是
    ``keras.utils.image_dataset_from_directory`` 按文件夹推断标签时
    期望的布局，也是读者整理自己照片的推荐方式。

    Args:
        X: uint8 图片，形状 (样本数, 高, 宽) 或 (样本数, 高, 宽, 1)。
        y: 整数标签，形状 (样本数,)，取值 0 到 类别数-1。
        root: 数据根目录；不存在时自动创建。
        class_names: 各类别的文件夹名；默认用 ``"0"``、``"1"``……

    Returns:
        字典 {类别名: 写出的图片数}，每个类别都在其中（包括 0 张的类别）。
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 4 and X.shape[-1] == 1:
        X = X[..., 0]
    if X.ndim != 3 or X.dtype != np.uint8:
        raise ValueError(
            "X 应为 uint8 数组，形状 (样本数, 高, 宽) 或 "
            f"(样本数, 高, 宽, 1)，收到 dtype={X.dtype}、形状 {X.shape}。"
        )
    if len(X) != len(y):
        raise ValueError(f"X 有 {len(X)} 个样本，y 却有 {len(y)} 个。")
    if class_names is None:
        class_names = [str(c) for c in range(int(y.max()) + 1)]
    if len(y) and int(y.max()) >= len(class_names):
        raise ValueError(
            f"标签最大为 {int(y.max())}，"
            f"但只给出 {len(class_names)} 个类别名。"
        )
    return _write_image_tree(X, y, Path(root), class_names)


def _check_image(path: Path) -> str:
    """尝试完整解码一张图片；成功返回空串，失败返回错误信息。"""
    from PIL import Image

    try:
        # verify() 只检查文件结构，load() 才真正解码像素；两者都要做。
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            img.load()
    except Exception as err:  # PIL 对不同损坏抛出不同类型的异常
        return f"{type(err).__name__}: {err}"
    return ""


def _check_tree(root):
    problems = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):  # 隐藏文件不检查
            continue
        if entry.is_file():  # 根目录下的文件不属于任何类别
            problems.append(Problem(entry.name, "stray_file"))
            continue
        n_images = 0
        for path in sorted(entry.rglob("[!.]*")):
            rel = path.relative_to(root).as_posix()
            if path.is_dir():
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                problems.append(Problem(rel, "non_image"))
            elif error := _check_image(path):  # 真正解码一遍
                problems.append(Problem(rel, "corrupt", error))
            else:
                n_images += 1
        if n_images == 0:
            problems.append(Problem(entry.name, "empty_class"))
    return sorted(problems, key=lambda p: p.path)


def class_counts(root) -> dict:
    """每个类别文件夹中（能被识别为图片的）文件数，按文件夹名排序。"""
    root = Path(root)
    return {
        d.name: sum(
            f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
            for f in d.rglob("[!.]*")
        )
        for d in sorted(root.iterdir())
        if d.is_dir() and not d.name.startswith(".")
    }


def _imbalance(counts, max_ratio):
    present = {k: v for k, v in counts.items() if v > 0}
    if len(present) < 2:
        return []
    most = max(present, key=present.get)
    # 少于最多那一类的 1/max_ratio，就算少数类
    return [
        Problem(
            name,
            "imbalance",
            f"{n} 张，而 {most} 有 {present[most]} 张",
        )
        for name, n in present.items()
        if n * max_ratio < present[most]
    ]


def _class_weights(counts):
    # 权重与样本数成反比：每个类别的权重之和都等于 样本数 / 类别数
    return counts.sum() / (len(counts) * counts)


def class_weights(y, num_classes=None) -> dict:
    """按类别样本数的倒数给出 ``fit(class_weight=...)`` 所需的权重。

    类别 j 的权重是 n / (K · n_j)（n 为样本数、K 为类别数、n_j 为类别 j
    的样本数），与 scikit-learn 的 ``compute_class_weight("balanced")``
    相同：加权之后每个类别在损失里的总分量相等，均衡的数据各类权重都是 1。

    Args:
        y: 整数标签，形状 (样本数,)。
        num_classes: 类别数；默认取 ``max(y) + 1``。

    Returns:
        ``{类别: 权重}`` 的字典。
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"y 应为非空的一维整数标签，收到形状 {y.shape}、类型 {y.dtype}。"
        )
    k = int(y.max()) + 1 if num_classes is None else int(num_classes)
    counts = np.bincount(y, minlength=k)
    if len(counts) > k:
        raise ValueError(f"标签最大为 {y.max()}，超出了 num_classes={k}。")
    missing = np.flatnonzero(counts == 0).tolist()
    if missing:
        raise ValueError(
            f"类别 {missing} 没有任何样本，无法按样本数加权。请先补充这些"
            "类别的数据，或把它们从类别列表中去掉。"
        )
    return {j: float(w) for j, w in enumerate(_class_weights(counts))}


def check_image_tree(root, max_ratio=3.0) -> list:
    """在训练之前扫描图片目录树，找出会让训练出错或悄悄出错的文件。

    检查五类问题：扩展名不是图片的文件（non_image）、扩展名是图片却
    无法解码的文件（corrupt）、没有任何图片的类别文件夹（empty_class）、
    直接放在根目录、不属于任何类别的文件（stray_file），以及图片数
    不到最多那一类的 1/max_ratio 的类别（imbalance）。
    隐藏文件（以 ``.`` 开头）不检查。

    Args:
        root: 数据根目录，其中每个子文件夹是一个类别。
        max_ratio: 类别不均衡的阈值。

    Returns:
        :class:`Problem` 的列表，按路径排序；为空表示没有发现问题。

    Raises:
        FileNotFoundError: ``root`` 不存在或不是文件夹。
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"数据目录 {root} 不存在或不是文件夹；请检查路径。"
        )
    problems = _check_tree(root)
    # 空的类别（包括只剩坏文件的）已经单独报告，不再算进不均衡
    empty = {p.path for p in problems if p.kind == "empty_class"}
    counts = {k: v for k, v in class_counts(root).items() if k not in empty}
    problems += _imbalance(counts, max_ratio)
    return sorted(problems, key=lambda p: p.path)


def _thumbnails(root, size):
    from PIL import Image

    root = Path(root)
    paths, digests, vecs = [], [], []
    for path in sorted(root.rglob("[!.]*")):
        if path.suffix.lower() not in IMAGE_EXTENSIONS or _check_image(path):
            continue
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("L"))
            thumb = img.convert("L").resize((size, size))
        paths.append(path.relative_to(root).as_posix())
        digests.append(hashlib.sha256(pixels.tobytes()).hexdigest())
        v = np.asarray(thumb, np.float32).ravel()
        v -= v.mean()  # 减去均值、除以长度：整体变亮变暗不影响相关系数
        vecs.append(v / (np.linalg.norm(v) or 1.0))
    return paths, digests, np.array(vecs).reshape(len(paths), size * size)


def _leaks(a, b, min_corr):
    # 像素完全相同的是精确重复；缩略图相关系数很高的是近似重复
    (pa, da, va), (pb, db, vb) = a, b
    corr = vb @ va.T
    found = []
    for i, j in zip(*np.nonzero(corr >= min_corr), strict=True):
        exact = db[i] == da[j]
        found.append(
            (
                pb[i],
                pa[j],
                "像素完全相同"
                if exact
                else f"缩略图的相关系数 {corr[i, j]:.3f}",
            )
        )
    return found


def find_leaks(splits, min_corr=0.99, size=32):
    """找出同时出现在两个划分里的相同或几乎相同的图片（数据泄漏）。

    每张图片缩成 size×size 的灰度缩略图，减去均值、归一化成单位向量；
    两张缩略图的内积就是它们的相关系数，亮度整体变化不影响它。
    像素完全相同的图片由 SHA-256 认出，相关系数不低于 min_corr 的算作
    近似重复（例如重新压缩、调过亮度、加了轻微噪声的副本）。平移或
    裁剪过的副本相关系数会明显下降，这里查不出来。

    Args:
        splits: 字典 {划分名: 根目录}，如 ``{"train": ..., "test": ...}``。
        min_corr: 近似重复的相关系数阈值。阈值太低会把写法相近的不同
            数字也当成重复，应在干净的数据上看一看最高的相关系数再定。
        size: 缩略图边长。

    Returns:
        :class:`Problem` 的列表（kind 为 ``"leak"``），路径写成
        ``划分/相对路径``，detail 给出另一个划分中的那张图片。
    """
    if len(splits) < 2:
        raise ValueError(
            f"至少要两个划分才能检查泄漏，收到 {list(splits)}；"
            "例如 {'train': 训练目录, 'test': 测试目录}。"
        )
    thumbs = {name: _thumbnails(root, size) for name, root in splits.items()}
    names = list(splits)
    problems = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for path_b, path_a, how in _leaks(thumbs[a], thumbs[b], min_corr):
                problems.append(
                    Problem(f"{b}/{path_b}", "leak", f"与 {a}/{path_a} {how}")
                )
    return sorted(problems, key=lambda p: p.path)


def max_cross_corr(splits, size=32):
    """两个划分之间每张图片与另一划分最相似图片的相关系数，用来选阈值。

    Returns:
        一维数组：第二个划分中每张图片与第一个划分的最大相关系数。
    """
    (_, _, va), (_, _, vb) = (_thumbnails(r, size) for r in splits.values())
    return (vb @ va.T).max(axis=1)


def format_report(problems, root=None) -> str:
    """把 :func:`check_image_tree` 的结果写成给人读的中文报告。"""
    where = f" {root}" if root is not None else ""
    if not problems:
        return f"数据目录{where}检查通过：没有发现问题。"
    lines = [f"数据目录{where}中发现 {len(problems)} 处问题："]
    lines += [f"  {i}. {p.message()}" for i, p in enumerate(problems, 1)]
    return "\n".join(lines)


def assert_clean_tree(root) -> None:
    """检查数据目录树；发现问题就抛出带完整报告的 ValueError。

    在调用 ``image_dataset_from_directory`` 之前调用它，能把训练到
    一半才出现的错误提前到训练开始之前，并一次列出所有问题。
    """
    problems = check_image_tree(root)
    if problems:
        raise ValueError(format_report(problems, root))


def normalize(images, labels):
    """把 uint8 像素 0–255 缩放到 float32 的 [0, 1]，供 ``Dataset.map``。"""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 255.0, labels


def _optimize_pipeline(
    ds, batch_size, normalize_pixels, shuffle, buffer_size, seed
):
    import tensorflow as tf

    if normalize_pixels:
        # 并行地做逐元素的预处理；map 放在 cache 之前，只计算一次
        ds = ds.map(normalize, num_parallel_calls=tf.data.AUTOTUNE)
    # 第一轮读盘、解码后把结果留在内存，以后各轮不再读文件
    ds = ds.cache()
    if shuffle:
        # 在 cache 之后、分批之前打乱：每轮的顺序和每批的组成都不同
        ds = ds.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    # 模型计算当前批次时，后台准备下一批
    return ds.prefetch(tf.data.AUTOTUNE)


def optimize_pipeline(
    ds,
    batch_size=128,
    *,
    normalize_pixels=True,
    shuffle=False,
    buffer_size=None,
    seed=0,
):
    """给逐样本的 tf.data 数据集加上 map、cache、shuffle、batch、prefetch。

    Args:
        ds: 未分批的数据集，元素为 (图片, 标签)，图片形状 (高, 宽, 通道)；
            可用 ``image_dataset_from_directory(..., batch_size=None)``
            得到，已分批的数据集请先 ``ds.unbatch()``。
        batch_size: 批量大小。
        normalize_pixels: 为 True 时先用 :func:`normalize` 缩放像素。
        shuffle: 为 True 时每轮重新打乱样本（只用于训练集）。
        buffer_size: 打乱的缓冲区大小。只有不小于样本数时打乱才是均匀的；
            默认 None 即取数据集的样本数（长度未知时要显式给出）。
        seed: 打乱用的随机种子，保证两次运行顺序相同。

    Returns:
        新的 ``tf.data.Dataset``，元素为一批 (图片, 标签)，图片形状
        (批量大小, 高, 宽, 通道)。
    """
    if shuffle and buffer_size is None:
        n = int(ds.cardinality())
        if n < 0:
            raise ValueError(
                "数据集的样本数未知（例如经过了 unbatch 或 filter），"
                "无法自动选择打乱的缓冲区；请传入 buffer_size，"
                "不小于样本数时打乱才是均匀的。"
            )
        buffer_size = n
    if batch_size < 1:
        raise ValueError(f"batch_size 应为正整数，收到 {batch_size}。")
    return _optimize_pipeline(
        ds, int(batch_size), normalize_pixels, shuffle, buffer_size, seed
    )


def _example(image, label):
    """把一张 uint8 图片和它的标签编码成 ``tf.train.Example``。"""
    import tensorflow as tf

    png = tf.io.encode_png(image).numpy()
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])),
        "label": tf.train.Feature(
            int64_list=tf.train.Int64List(value=[int(label)])
        ),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _write_tfrecord(X, y, path):
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for image, label in zip(X, y, strict=True):
            # 每个样本一条 tf.train.Example：PNG 字节串 + 整数标签
            writer.write(_example(image, label).SerializeToString())
    return len(X)


def write_tfrecord(X, y, path) -> int:
    """把图片与标签写成一个 TFRecord 文件，图片以 PNG 无损编码。

    Args:
        X: uint8 图片，形状 (样本数, 高, 宽) 或 (样本数, 高, 宽, 1)。
        y: 整数标签，形状 (样本数,)。
        path: 输出文件路径，习惯上以 ``.tfrecord`` 结尾。

    Returns:
        写入的样本数。
    """
    X = np.asarray(X)
    if X.ndim == 3:
        X = X[..., None]
    if X.ndim != 4 or X.dtype != np.uint8:
        raise ValueError(
            "X 应为 uint8 数组，形状 (样本数, 高, 宽[, 通道])，"
            f"收到 dtype={X.dtype}、形状 {X.shape}。"
        )
    if len(X) != len(y):
        raise ValueError(f"X 有 {len(X)} 个样本，y 却有 {len(y)} 个。")
    return _write_tfrecord(X, y, path)


#: 解析 TFRecord 样本的特征描述：字段名、形状与类型。
FEATURES = {
    "image": "string",
    "label": "int64",
}


def _parse_example(serialized, image_shape):
    import tensorflow as tf

    spec = {
        name: tf.io.FixedLenFeature([], getattr(tf, dtype))
        for name, dtype in FEATURES.items()
    }
    ex = tf.io.parse_single_example(serialized, spec)
    image = tf.io.decode_png(ex["image"], channels=image_shape[-1])
    # decode_png 不知道图片的高和宽；分批需要静态形状，在这里声明并核对
    image = tf.ensure_shape(image, image_shape)
    return image, ex["label"]


def parse_example(serialized, image_shape=(28, 28, 1)):
    """解析一条序列化的 ``tf.train.Example``，还原图片与标签。

    Args:
        serialized: 标量字符串张量，TFRecord 文件中的一条记录。
        image_shape: 图片形状 (高, 宽, 通道)，用于给解码结果补上静态形状。

    Returns:
        ``(image, label)``：image 为 uint8 张量，形状 image_shape；
        label 为 int64 标量。
    """
    return _parse_example(serialized, tuple(image_shape))


def _read_tfrecord(path, image_shape):
    import tensorflow as tf

    ds = tf.data.TFRecordDataset(str(path))
    return ds.map(
        lambda s: _parse_example(s, image_shape),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,  # 并行解析，但保持文件中的顺序
    )


def read_tfrecord(path, image_shape=(28, 28, 1)):
    """读取 :func:`write_tfrecord` 写出的文件，返回逐样本的数据集。

    Returns:
        ``tf.data.Dataset``，元素为 (图片, 标签)，图片形状 image_shape。
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"TFRecord 文件 {path} 不存在；请检查路径。")
    return _read_tfrecord(path, tuple(image_shape))


def write_labels_file(class_names, path) -> None:
    """写标签文件：每行一个类别名，行号（从 0 起）就是类别的整数编号。"""
    names = [str(n) for n in class_names]
    bad = [n for n in names if not n or "\n" in n]
    if bad:
        raise ValueError(f"类别名不能为空或含换行符，收到 {bad!r}。")
    Path(path).write_text("\n".join(names) + "\n", encoding="utf-8")


def read_labels_file(path) -> list:
    """读标签文件，返回类别名列表，下标即类别编号。"""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"标签文件 {path} 不存在；请检查路径。")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()]


def _mnist_style(A, size, box):
    # 以四条边的中位数估计背景：亮背景说明是白纸黑字，需要反相
    border = np.concatenate([A[0], A[-1], A[:, 0], A[:, -1]])
    if np.median(border) > 127:
        A, border = 255 - A, 255 - border
    A = np.clip(A - np.median(border), 0, None)  # 纸面的灰度不算笔画
    ink = A > 0.2 * A.max()
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    A = A[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # 裁到笔画
    h, w = A.shape  # 等比缩放，使长边为 box
    new = (
        max(1, round(w * box / max(h, w))),
        max(1, round(h * box / max(h, w))),
    )
    D = np.asarray(_resize(A, new), dtype=np.float32)
    # 按质心贴到 size×size 的黑色画布中央：MNIST 正是这样摆放数字的
    cy, cx = (np.indices(D.shape) * D).reshape(2, -1).sum(1) / D.sum()
    top = int(np.clip(round(size / 2 - cy), 0, size - D.shape[0]))
    left = int(np.clip(round(size / 2 - cx), 0, size - D.shape[1]))
    out = np.zeros((size, size), dtype=np.float32)
    out[top : top + D.shape[0], left : left + D.shape[1]] = D
    return np.clip(out * (255 / out.max()), 0, 255).astype(np.uint8)


def _resize(A, new_size):
    """用 Lanczos 插值把灰度数组缩放到 new_size = (宽, 高)。"""
    from PIL import Image

    image = Image.fromarray(A.astype(np.uint8))
    return image.resize(new_size, Image.Resampling.LANCZOS)


def read_gray(path):
    """把图片读成 float32 灰度数组，先按 EXIF 方向信息把照片转正。

    手机拍的 JPEG 常常把像素按传感器的方向存储，另在 EXIF 里记下
    “应旋转 90°”；``Image.open`` 与 ``tf.image.decode_jpeg`` 都不会
    自动旋转，不处理的话，竖着拍的数字会横着送进模型。
    """
    from PIL import Image, ImageOps

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"图片 {path} 不存在；请检查路径。")
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        return np.asarray(img.convert("L"), dtype=np.float32)


def load_digit_image(path, size=28, box=20):
    """像 MNIST 那样预处理一张读者自己拍摄或绘制的数字图片。

    MNIST 的数字是黑底白字，笔画被缩放到 20×20 的方框内，再按质心
    放在 28×28 画布的中央。随手拍的照片往往是白纸黑字、数字偏在一边，
    直接缩放到 28×28 喂给模型，准确率会大打折扣。本函数依次做：
    按 EXIF 转正（:func:`read_gray`）→ 转灰度 → 若背景偏亮则反相 →
    裁到笔画的外接框 → 等比缩放到 box×box 以内 → 按质心贴到
    size×size 的黑色画布中央。

    Args:
        path: 图片文件路径（PNG、JPEG 等 Pillow 能读的格式）。
        size: 输出图片的边长。
        box: 笔画外接框缩放后的最大边长，不大于 size。

    Returns:
        uint8 数组，形状 (size, size)，黑底白字，取值 0–255。

    Raises:
        FileNotFoundError: 文件不存在。
        ValueError: 图片中找不到任何笔画（整张图几乎是同一种颜色）。
    """
    if not 1 <= box <= size:
        raise ValueError(f"box 应在 1 到 size={size} 之间，收到 {box}。")
    A = read_gray(path)
    if np.ptp(A) < 1:
        raise ValueError(
            f"图片 {path} 中没有找到笔画；请确认数字与背景有明显反差。"
        )
    return _mnist_style(A, size, box)
