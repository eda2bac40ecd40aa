"""dlbook.serving：命名端点、可变批量、版本目录、不依赖 Keras 的调用。"""

import os

import numpy as np
import pytest

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook.models import create_model
from dlbook.serving import (
    ENDPOINT,
    export_endpoint,
    export_version,
    latest_valid_export,
    predict_in_plain_tf,
    saved_model_cli_run,
    saved_model_cli_show,
)


@pytest.fixture(scope="module")
def model():
    return create_model()


def X(n, seed=0):
    return np.random.default_rng(seed).random((n, 784)).astype("float32")


def test_endpoint_accepts_any_batch_size(model, tmp_path):
    import tensorflow as tf

    path = export_endpoint(model, tmp_path / "m")
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) == {ENDPOINT, "serving_default"}
    for n in (1, 7, 33):
        out = getattr(loaded, ENDPOINT)(tf.constant(X(n))).numpy()
        np.testing.assert_allclose(
            out, model.predict(X(n), verbose=0), rtol=1e-5, atol=1e-5
        )
    with pytest.raises(FileExistsError, match="覆盖"):
        export_endpoint(model, path)


@pytest.mark.slow
def test_cli_shows_named_signature(model, tmp_path):
    path = export_endpoint(model, tmp_path / "m")
    text = saved_model_cli_show(path)
    assert f"signature_def['{ENDPOINT}']" in text
    assert "inputs['pixels']" in text and "shape: (-1, 784)" in text


@pytest.mark.slow
def test_cli_run_matches_keras_and_names_a_wrong_signature(model, tmp_path):
    path = export_endpoint(model, tmp_path / "m")
    assert sorted(os.listdir(path)) == [
        "assets",
        "fingerprint.pb",
        "saved_model.pb",
        "variables",
    ]
    out = saved_model_cli_run(path, ENDPOINT, pixels=X(3))
    assert list(out) == ["output_0"]
    np.testing.assert_allclose(
        out["output_0"], model.predict(X(3), verbose=0), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(RuntimeError, match="签名 no_such_endpoint 失败"):
        saved_model_cli_run(path, "no_such_endpoint", pixels=X(3))
    with pytest.raises(ValueError, match="至少要一个输入"):
        saved_model_cli_run(path, ENDPOINT)


@pytest.mark.slow
def test_plain_tf_subprocess_matches_without_model_code(model, tmp_path):
    path = export_endpoint(model, tmp_path / "m")
    y, used_dlbook = predict_in_plain_tf(path, X(5))
    assert not used_dlbook
    np.testing.assert_allclose(
        y, model.predict(X(5), verbose=0), rtol=1e-5, atol=1e-5
    )


def test_versions_and_newest_valid(model, tmp_path):
    base = tmp_path / "mnist"
    first = export_version(model, base)
    second = export_version(model, base)
    assert [os.path.basename(p) for p in (first, second)] == ["1", "2"]
    # 版本 3 坏了（只剩空目录里的一个垃圾文件），版本 4 只是个临时目录
    os.makedirs(base / "3")
    (base / "3" / "saved_model.pb").write_bytes(b"garbage")
    os.makedirs(base / ".tmp-4-abc")
    path, loaded, skipped = latest_valid_export(base, X(2))
    assert path == second
    assert [os.path.basename(p) for p, _ in skipped] == ["3"]
    assert hasattr(loaded, ENDPOINT)
    # 下一个版本号跳过坏掉的 3，取 4
    assert os.path.basename(export_version(model, base)) == "4"


def test_no_valid_version(tmp_path):
    with pytest.raises(FileNotFoundError, match="没有可用的导出版本"):
        latest_valid_export(tmp_path, X(1))
