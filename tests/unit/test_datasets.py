"""数据集工具：PNG 目录树、坏数据检查、TFRecord 往返与标签文件。"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook import datasets as D


@pytest.fixture()
def digits():
    """12 张随机的 8×8 uint8 图片，3 个类别各 4 张。"""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(12, 8, 8), dtype=np.uint8)
    y = np.repeat(np.arange(3), 4).astype(np.uint8)
    return X, y


def _bad_tree(root, digits):
    """写一棵含非图片文件、损坏的 PNG、空类别与散落文件的目录树。"""
    X, y = digits
    D.write_image_tree(X, y, root, class_names=["a", "b", "c"])
    (root / "a" / "notes.txt").write_text("这不是图片")
    good = (root / "b" / "00004.png").read_bytes()
    (root / "b" / "broken.png").write_bytes(good[: len(good) // 2])
    (root / "c" / "fake.png").write_bytes(b"not a png at all")
    (root / "empty").mkdir()
    (root / "README.md").write_text("说明")
    return root


def test_write_image_tree_roundtrip(tmp_path, digits):
    from PIL import Image

    X, y = digits
    counts = D.write_image_tree(X, y, tmp_path)
    assert counts == {"0": 4, "1": 4, "2": 4}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0", "1", "2"]
    for i in range(len(X)):
        path = tmp_path / str(y[i]) / f"{i:05d}.png"
        np.testing.assert_array_equal(np.asarray(Image.open(path)), X[i])


def test_write_image_tree_rejects_bad_input(tmp_path, digits):
    X, y = digits
    with pytest.raises(ValueError, match="uint8"):
        D.write_image_tree(X.astype(np.float32), y, tmp_path)
    with pytest.raises(ValueError, match="样本"):
        D.write_image_tree(X, y[:-1], tmp_path)
    with pytest.raises(ValueError, match="类别名"):
        D.write_image_tree(X, y, tmp_path, class_names=["a", "b"])


def test_clean_tree_has_no_problems(tmp_path, digits):
    D.write_image_tree(*digits, tmp_path)
    assert D.check_image_tree(tmp_path) == []
    D.assert_clean_tree(tmp_path)
    assert "检查通过" in D.format_report([], tmp_path)


def test_checker_finds_each_bad_file(tmp_path, digits):
    _bad_tree(tmp_path, digits)
    problems = D.check_image_tree(tmp_path)
    found = {(p.path, p.kind) for p in problems}
    assert found == {
        ("a/notes.txt", "non_image"),
        ("b/broken.png", "corrupt"),
        ("c/fake.png", "corrupt"),
        ("empty", "empty_class"),
        ("README.md", "stray_file"),
    }
    report = D.format_report(problems, tmp_path)
    assert "5 处问题" in report
    for p in problems:
        assert p.path in report
    with pytest.raises(ValueError, match="broken.png"):
        D.assert_clean_tree(tmp_path)


def test_class_with_only_bad_files_is_empty(tmp_path, digits):
    X, y = digits
    D.write_image_tree(X, y, tmp_path)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.png").write_bytes(b"\x89PNG broken")
    kinds = {(p.path, p.kind) for p in D.check_image_tree(tmp_path)}
    assert kinds == {("junk/x.png", "corrupt"), ("junk", "empty_class")}


def test_checker_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="不存在"):
        D.check_image_tree(tmp_path / "nowhere")


def test_keras_counts_corrupt_but_skips_non_image(tmp_path, digits):
    """核对书中描述的 Keras 行为：损坏的 PNG 被计数，.txt 被跳过。"""
    import keras

    X, y = digits
    D.write_image_tree(X, y, tmp_path)
    (tmp_path / "0" / "notes.txt").write_text("x")
    (tmp_path / "1" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "3").mkdir()
    ds = keras.utils.image_dataset_from_directory(
        tmp_path,
        image_size=(8, 8),
        color_mode="grayscale",
        batch_size=4,
        shuffle=False,
        verbose=False,
    )
    assert ds.class_names == ["0", "1", "2", "3"]
    assert ds.cardinality().numpy() == 4  # 13 个文件 → 4 批
    with pytest.raises(Exception, match="(?i)image|decode|png"):
        for _ in ds:
            pass


def test_tfrecord_roundtrip_exact(tmp_path, digits):
    X, y = digits
    path = tmp_path / "digits.tfrecord"
    assert D.write_tfrecord(X, y, path) == len(X)
    ds = D.read_tfrecord(path, image_shape=(8, 8, 1))
    images, labels = zip(
        *[(a.numpy(), b.numpy()) for a, b in ds], strict=True
    )
    np.testing.assert_array_equal(np.stack(images)[..., 0], X)
    np.testing.assert_array_equal(np.array(labels), y)
    assert np.stack(images).dtype == np.uint8


def test_tfrecord_shape_mismatch_is_reported(tmp_path, digits):
    X, y = digits
    path = tmp_path / "digits.tfrecord"
    D.write_tfrecord(X, y, path)
    with pytest.raises(Exception, match="(?i)shape"):
        list(D.read_tfrecord(path, image_shape=(28, 28, 1)))
    with pytest.raises(FileNotFoundError):
        D.read_tfrecord(tmp_path / "missing.tfrecord")


def test_labels_file_roundtrip(tmp_path):
    names = ["零", "一", "cat", "dog"]
    path = tmp_path / "labels.txt"
    D.write_labels_file(names, path)
    assert D.read_labels_file(path) == names
    with pytest.raises(ValueError):
        D.write_labels_file(["a", ""], path)


def test_optimize_pipeline_normalizes(digits):
    import tensorflow as tf

    X, y = digits
    ds = tf.data.Dataset.from_tensor_slices((X[..., None], y))
    out = D.optimize_pipeline(ds, batch_size=5, shuffle=True, seed=1)
    batches = [(a.numpy(), b.numpy()) for a, b in out]
    assert [len(b) for _, b in batches] == [5, 5, 2]
    images = np.concatenate([a for a, _ in batches])
    labels = np.concatenate([b for _, b in batches])
    # 打乱了顺序，但图片与标签仍然一一对应
    for img, lab in zip(images, labels, strict=True):
        scaled = X.astype(np.float32) / np.float32(255)
        match = np.flatnonzero((scaled == img[..., 0]).all(axis=(1, 2)))
        assert y[match[0]] == lab
    second = np.concatenate([a.numpy() for a, _ in out])
    assert not np.array_equal(second, images)  # 每轮重新打乱
    assert images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    np.testing.assert_allclose(
        np.sort(images.ravel()), np.sort(X.ravel() / 255), rtol=1e-6
    )


def test_shuffle_buffer_defaults_to_dataset_size(digits):
    import tensorflow as tf

    X, y = digits
    ds = tf.data.Dataset.from_tensor_slices((X[..., None], np.arange(12)))
    out = D.optimize_pipeline(ds, batch_size=12, shuffle=True, seed=1)
    (labels,) = [lab.numpy() for _, lab in out]
    # 缓冲区取全部 12 个样本：一批里恰好是全部样本的一个排列
    assert sorted(labels) == list(range(12))
    assert not np.array_equal(labels, np.arange(12))
    unknown = ds.filter(lambda image, label: True)
    with pytest.raises(ValueError, match="buffer_size"):
        D.optimize_pipeline(unknown, shuffle=True)
    # 显式给出缓冲区就可以
    D.optimize_pipeline(unknown, shuffle=True, buffer_size=12)


def test_read_gray_applies_exif_orientation(tmp_path):
    from PIL import Image

    A = np.zeros((30, 60), np.uint8)
    A[:, :10] = 255  # 左边一条白带：转正后应在上方或下方
    img = Image.fromarray(A)
    exif = Image.Exif()
    exif[0x0112] = 6  # “顺时针旋转 90° 才是正的”
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif.tobytes(), quality=95)
    with Image.open(path) as raw:
        assert raw.size == (60, 30)  # Pillow 读出的是未旋转的像素
    G = D.read_gray(path)
    assert G.shape == (60, 30)
    assert G[:10].mean() > 200 and G[-10:].mean() < 50
    with pytest.raises(FileNotFoundError, match="不存在"):
        D.read_gray(tmp_path / "nope.jpg")


def test_find_leaks_exact_and_near_copies(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    # 平滑的随机图片：彼此差别很大，相关系数远低于阈值
    X = rng.integers(0, 256, (8, 6, 6)).astype(np.uint8)
    X = np.kron(X, np.ones((5, 5), np.uint8))
    y = np.arange(8) % 2
    D.write_image_tree(X[:6], y[:6], tmp_path / "train")
    D.write_image_tree(X[6:], y[6:], tmp_path / "test")
    splits = {"train": tmp_path / "train", "test": tmp_path / "test"}
    assert D.find_leaks(splits) == []
    assert D.max_cross_corr(splits).max() < 0.99
    src = tmp_path / "train" / "0" / "00000.png"
    (tmp_path / "test" / "0" / "copy.png").write_bytes(src.read_bytes())
    darker = (np.asarray(Image.open(src)) * 0.7).astype(np.uint8)
    Image.fromarray(darker).save(tmp_path / "test" / "1" / "darker.png")
    leaks = D.find_leaks(splits)
    assert [p.path for p in leaks] == ["test/0/copy.png", "test/1/darker.png"]
    assert "像素完全相同" in leaks[0].detail
    assert (
        "相关系数" in leaks[1].detail
        and "train/0/00000.png" in leaks[1].detail
    )
    assert "评估会偏乐观" in leaks[0].message()
    with pytest.raises(ValueError, match="两个划分"):
        D.find_leaks({"train": tmp_path / "train"})


def test_checker_reports_class_imbalance(tmp_path, digits):
    X, y = digits
    X = np.concatenate([X] * 3)
    y = np.concatenate([y] * 3)  # 每类 12 张
    keep = np.ones(len(y), bool)
    keep[np.flatnonzero(y == 2)[3:]] = False  # 类别 2 只留 3 张
    counts = D.write_image_tree(X[keep], y[keep], tmp_path)
    assert D.class_counts(tmp_path) == counts == {"0": 12, "1": 12, "2": 3}
    problems = D.check_image_tree(tmp_path)
    assert [(p.path, p.kind) for p in problems] == [("2", "imbalance")]
    assert "class_weight" in problems[0].message()
    assert D.check_image_tree(tmp_path, max_ratio=5) == []


@settings(max_examples=30, deadline=None)
@given(
    counts=st.lists(st.integers(1, 50), min_size=2, max_size=8),
)
def test_class_weights_match_sklearn_balanced(counts):
    from sklearn.utils.class_weight import compute_class_weight

    y = np.repeat(np.arange(len(counts)), counts)
    w = D.class_weights(y)
    ref = compute_class_weight(
        "balanced", classes=np.arange(len(counts)), y=y
    )
    np.testing.assert_allclose([w[j] for j in range(len(counts))], ref)
    # 加权后每个类别的总分量相等
    totals = [w[j] * n for j, n in enumerate(counts)]
    np.testing.assert_allclose(totals, len(y) / len(counts))


def test_class_weights_balanced_data_are_all_one():
    assert D.class_weights(np.array([0, 1, 2, 0, 1, 2])) == {
        0: 1.0,
        1: 1.0,
        2: 1.0,
    }


def test_class_weights_rejects_missing_class_and_bad_labels():
    with pytest.raises(ValueError, match=r"类别 \[1\] 没有任何样本"):
        D.class_weights(np.array([0, 2, 2]))
    with pytest.raises(ValueError, match="num_classes"):
        D.class_weights(np.array([0, 1, 3]), num_classes=3)
    with pytest.raises(ValueError, match="整数"):
        D.class_weights(np.array([0.0, 1.0]))
