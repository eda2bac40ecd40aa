"""dlbook.exercises.saving：检查器接受正确答案，拒绝典型的错误答案。"""

import os
import re
import string

import numpy as np
import pytest

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook.exercises import ExerciseError
from dlbook.exercises.saving import (
    check_adam_step,
    check_atomic_write,
    check_checkpoint_epoch,
    check_layer_config,
    reference_adam_step,
    reference_atomic_write,
)
from dlbook.saving import checkpoint_epoch


# ---- 按模板读轮次 ----------------------------------------------------


def test_checkpoint_epoch_checker_accepts_reference():
    assert "通过" in check_checkpoint_epoch(checkpoint_epoch)


def last_digits(name, template):
    digits = re.findall(r"\d+", os.path.basename(name))
    return int(digits[-1]) if digits else None


def first_digits_as_string(name, template):
    digits = re.findall(r"\d+", os.path.basename(name))
    return digits[0] if digits else None


def always_guess(name, template):
    digits = re.findall(r"\d+", os.path.basename(name))
    return int(digits[0]) if digits else 0


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (last_digits, "最后一串数字"),
        (first_digits_as_string, "int"),
        (always_guess, "返回 None"),
    ],
)
def test_checkpoint_epoch_checker_rejects_typical_mistakes(wrong, hint):
    with pytest.raises(ExerciseError, match=hint):
        check_checkpoint_epoch(wrong)


def test_checkpoint_epoch_checker_reports_exceptions():
    def crashes(name, template):
        raise KeyError("val_loss")

    with pytest.raises(ExerciseError, match="KeyError"):
        check_checkpoint_epoch(crashes)


def test_a_reader_style_solution_passes():
    def mine(name, template):
        regex = ""
        for literal, field, _, _ in string.Formatter().parse(template):
            regex += re.escape(literal)
            if field == "epoch":
                regex += r"(\d+)"
            elif field:
                regex += ".+?"
        match = re.fullmatch(regex, os.path.basename(name))
        return int(match[1]) if match else None

    assert "通过" in check_checkpoint_epoch(mine)


# ---- 原子写入 --------------------------------------------------------


def test_atomic_write_checker_accepts_reference():
    assert "通过" in check_atomic_write(reference_atomic_write)


def direct_write(path, data, before_replace=None):
    with open(path, "wb") as f:
        f.write(data)
    if before_replace is not None:
        before_replace(path)


def tmp_elsewhere(path, data, before_replace=None):
    import tempfile

    fd, tmp = tempfile.mkstemp()
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if before_replace is not None:
        try:
            before_replace(tmp)
        except BaseException:
            os.remove(tmp)
            raise
    os.replace(tmp, path)


def leaves_temporary(path, data, before_replace=None):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    if before_replace is not None:
        before_replace(tmp)
    os.replace(tmp, path)


def ignores_hook(path, data, before_replace=None):
    reference_atomic_write(path, data)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (tmp_elsewhere, "同一目录|目标文件所在的目录"),
        (leaves_temporary, "留下了"),
        (ignores_hook, "before_replace"),
    ],
)
def test_atomic_write_checker_rejects_typical_mistakes(wrong, hint):
    with pytest.raises(ExerciseError, match=hint):
        check_atomic_write(wrong)


def test_direct_write_is_caught():
    # 直接写目标路径：被打断时旧文件已经被覆盖
    with pytest.raises(ExerciseError, match="旧文件已经变了|同一目录|目录里"):
        check_atomic_write(direct_write)


# ---- Adam 的一步 -----------------------------------------------------


def test_adam_reference_matches_keras():
    import keras

    rng = np.random.default_rng(1)
    theta0, g1, g2 = (
        rng.normal(size=(3, 2)).astype("float32") for _ in range(3)
    )
    var = keras.Variable(theta0)
    opt = keras.optimizers.Adam()
    opt.build([var])
    theta, m, v = theta0.astype("float64"), 0.0, 0.0
    for t, g in enumerate([g1, g2], start=1):
        opt.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
        theta, m, v = reference_adam_step(theta, g, m, v, t)
    np.testing.assert_allclose(var.numpy(), theta, rtol=1e-5, atol=1e-6)


def test_adam_checker_accepts_reference():
    assert "通过" in check_adam_step(reference_adam_step)


def no_bias_correction(theta, g, m, v, t):
    m = 0.9 * m + 0.1 * g
    v = 0.999 * v + 0.001 * g**2
    return theta - 1e-3 * m / (np.sqrt(v) + 1e-7), m, v


def t_off_by_one(theta, g, m, v, t):
    return reference_adam_step(theta, g, m, v, t + 1)


def wrong_sign(theta, g, m, v, t):
    new, m, v = reference_adam_step(theta, g, m, v, t)
    return 2 * theta - new, m, v


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (no_bias_correction, "偏差修正"),
        (t_off_by_one, "差了 1"),
        (wrong_sign, "方向反了"),
    ],
)
def test_adam_checker_rejects_typical_mistakes(wrong, hint):
    with pytest.raises(ExerciseError, match=hint):
        check_adam_step(wrong)


# ---- 自定义层的 get_config -------------------------------------------


def make_layer(config_keys):
    import keras

    class Scaled(keras.layers.Layer):
        def __init__(self, units, scale=1.0, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.units, self.scale = units, scale
            self.activation = keras.activations.get(activation)

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units))

        def call(self, x):
            return self.activation(self.scale * (x @ self.w))

        def get_config(self):
            full = {
                "units": self.units,
                "scale": self.scale,
                "activation": keras.activations.serialize(self.activation),
            }
            return {
                **super().get_config(),
                **{k: full[k] for k in config_keys},
            }

    return Scaled


def test_layer_config_checker_accepts_a_complete_config():
    cls = make_layer(["units", "scale", "activation"])
    assert "通过" in check_layer_config(cls)


def test_layer_config_checker_names_the_missing_argument():
    cls = make_layer(["units", "activation"])
    with pytest.raises(ExerciseError, match="scale"):
        check_layer_config(cls)


def test_reference_scaled_layer_passes():
    from dlbook.exercises.saving import reference_scaled_layer

    assert "通过" in check_layer_config(reference_scaled_layer())


def test_newest_version_checker():
    from dlbook.exercises.saving import (
        check_newest_version,
        reference_newest_version,
    )

    assert "通过" in check_newest_version(reference_newest_version)

    def as_strings(names):
        return max(names, default=None)

    def counts_everything(names):
        digits = [
            int("".join(c for c in n if c.isdigit()) or 0) for n in names
        ]
        return max(digits, default=None)

    with pytest.raises(ExerciseError, match="字符串"):
        check_newest_version(as_strings)
    with pytest.raises(ExerciseError, match="应返回"):
        check_newest_version(counts_everything)
