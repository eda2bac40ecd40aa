"""dlbook.serving：命名端点、可变批量、版本目录、不依赖 Keras 的调用。"""

import os

import numpy as np
import pytest

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook.models import create_model
from dlbook import serving
from dlbook.serving import (
    ENDPOINT,
    export_endpoint,
    export_version,
    latest_valid_export,
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


@pytest.fixture(scope="module")
def plain_tf(model, tmp_path_factory):
    """导出一次，启动一次子进程：show、两个签名的 run（一个不存在）、加载。"""
    path = export_endpoint(model, tmp_path_factory.mktemp("plain") / "m")
    signatures = (ENDPOINT, "no_such_endpoint")
    raw = serving._run_plain_tf(
        path, X(3), X(5), signatures, ENDPOINT, "pixels", timeout=300
    )
    return path, raw


@pytest.mark.slow
def test_cli_shows_named_signature(plain_tf):
    _, raw = plain_tf
    text = raw["show"]
    assert f"signature_def['{ENDPOINT}']" in text
    assert "inputs['pixels']" in text and "shape: (-1, 784)" in text


@pytest.mark.slow
def test_cli_run_matches_keras_and_names_a_wrong_signature(model, plain_tf):
    path, raw = plain_tf
    assert sorted(os.listdir(path)) == [
        "assets",
        "fingerprint.pb",
        "saved_model.pb",
        "variables",
    ]
    out = raw["run"][ENDPOINT]
    assert list(out) == ["output_0"]
    np.testing.assert_allclose(
        out["output_0"], model.predict(X(3), verbose=0), rtol=1e-5, atol=1e-5
    )
    # 不存在的签名：saved_model_cli 报错，列出可选的签名
    assert list(raw["errors"]) == ["no_such_endpoint"]
    assert "no_such_endpoint" not in raw["run"]
    assert ENDPOINT in raw["errors"]["no_such_endpoint"]
    with pytest.raises(RuntimeError, match="签名 no_such_endpoint："):
        serving._raise_on_run_errors(raw, path)


@pytest.mark.slow
def test_plain_tf_subprocess_matches_without_model_code(model, plain_tf):
    _, raw = plain_tf
    assert raw["used_dlbook"] is False
    np.testing.assert_allclose(
        raw["predict"], model.predict(X(5), verbose=0), rtol=1e-5, atol=1e-5
    )


def test_inspect_in_plain_tf_raises_on_a_failed_run(monkeypatch):
    """inspect_in_plain_tf：run 失败时报错指名签名，否则去掉 errors。"""
    raw = {"show": "s", "run": {}, "errors": {"bad": "ValueError: x"}}
    monkeypatch.setattr(serving, "_run_plain_tf", lambda *a: dict(raw))
    with pytest.raises(RuntimeError, match="签名 bad：ValueError: x"):
        serving.inspect_in_plain_tf("m", X(1), X(1), signatures=("bad",))
    monkeypatch.setattr(
        serving, "_run_plain_tf", lambda *a: {**raw, "errors": {}}
    )
    assert serving.inspect_in_plain_tf("m", X(1), X(1)) == {
        "show": "s",
        "run": {},
    }


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
