"""能完整存进 ``.keras`` 文件的两个自定义层：本书“自定义对象”一节的例子。

- :class:`ScaledLayer`：构造参数里有另一个层和一个初始化器，靠
  ``get_config`` 序列化、``from_config`` 反序列化；
- :class:`Standardize`：状态是普通的 NumPy 数组（不是 Keras 变量），靠
  ``save_own_variables`` / ``load_own_variables`` 存进权重文件。

两者都用 ``register_keras_serializable`` 注册在包名 ``dlbook`` 下，加载时
不需要 ``custom_objects``。
"""

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="dlbook")
class ScaledLayer(keras.layers.Layer):
    # 把内层 inner 的输出逐单元乘上可训练的 scale
    def __init__(self, inner, scale_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.inner = inner
        self.scale_initializer = keras.initializers.get(scale_initializer)

    def build(self, input_shape):
        if not self.inner.built:  # 从文件加载时，内层可能已经建好
            self.inner.build(input_shape)
        units = self.inner.compute_output_shape(input_shape)[-1]
        self.scale = self.add_weight(
            shape=(units,), initializer=self.scale_initializer
        )

    def call(self, x):
        return self.scale * self.inner(x)

    def get_config(self):
        # 层和初始化器不是 JSON：先序列化成 {类名, 配置} 的字典
        return {
            **super().get_config(),
            "inner": keras.saving.serialize_keras_object(self.inner),
            "scale_initializer": keras.initializers.serialize(
                self.scale_initializer
            ),
        }

    @classmethod
    def from_config(cls, config):
        # 字典要先还原成层对象，再交给 __init__
        config["inner"] = keras.saving.deserialize_keras_object(
            config["inner"]
        )
        return cls(**config)


@keras.saving.register_keras_serializable(package="dlbook")
class Standardize(keras.layers.Layer):
    # 按 adapt 时算出的均值和标准差标准化输入；二者是 NumPy 数组
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = np.float32(0), np.float32(1)  # adapt 之前

    def adapt(self, X):
        X = np.asarray(X, dtype="float32")
        self.mean = X.mean(axis=0)
        self.std = X.std(axis=0) + 1e-6

    def call(self, x):
        return (x - self.mean) / self.std

    def save_own_variables(self, store):
        # store 像一个字典，写进 .keras 里的 model.weights.h5
        store["mean"], store["std"] = self.mean, self.std

    def load_own_variables(self, store):
        self.mean, self.std = np.array(store["mean"]), np.array(store["std"])


class StandardizeWithoutHooks(keras.layers.Layer):
    """与 :class:`Standardize` 相同，但不保存均值和标准差（反面例子）。

    从文件加载后 ``mean``、``std`` 取构造时的默认值 0 和 1，输出就与
    保存前不同。它没有注册，加载时要用 ``custom_objects``。
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = np.float32(0), np.float32(1)

    def adapt(self, X):
        X = np.asarray(X, dtype="float32")
        self.mean = X.mean(axis=0)
        self.std = X.std(axis=0) + 1e-6

    def call(self, x):
        return (x - self.mean) / self.std
