"""单元测试的共用设置：TensorFlow 的线程数与书、子进程相同。

测试进程里也会训练模型，并与子进程（固定为
``dlbook._subprocess.DEFAULT_THREADS`` 个线程）的结果逐位比较；线程数
不同，数字就可能不同（见 ``test_setup.py``）。线程数只能在第一个
TensorFlow 运算之前设置，而收集测试时还没有任何测试运行，所以在这里设。
"""

from dlbook._subprocess import import_tensorflow_quickly

import_tensorflow_quickly()
