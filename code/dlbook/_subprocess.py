"""子进程工具：读尽输出的后台线程，供带硬超时的演示和测试使用。"""

import signal
import subprocess
import threading
import time


class Child:
    """一个子进程，外加两个把它的 stdout/stderr 读进列表的后台线程。

    后台线程一直读到管道关闭，子进程输出再多也不会因管道写满而卡住。
    """

    def __init__(self, cmd, env):
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.out, self.err = [], []
        self.threads = [
            threading.Thread(target=self._drain, args=(s, b), daemon=True)
            for s, b in (
                (self.proc.stdout, self.out),
                (self.proc.stderr, self.err),
            )
        ]
        for t in self.threads:
            t.start()

    @staticmethod
    def _drain(stream, buf):
        for line in stream:
            buf.append(line)
        stream.close()

    def kill(self):
        """还在运行就发 SIGKILL。"""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def finish(self):
        """回收子进程（还在运行就先杀死），返回输出与退出码。

        已经结束的子进程不受影响。
        """
        self.kill()
        self.proc.wait()
        for t in self.threads:
            t.join(timeout=5)
        return "".join(self.out), "".join(self.err), self.proc.returncode


def wait_for_line(child, prefix: str, deadline: float) -> bool:
    """等子进程打印以 ``prefix`` 开头的一行。

    Returns:
        见到这一行时为 True；子进程没打印它就结束了为 False。

    Raises:
        TimeoutError: 到了 ``deadline``（``time.monotonic()`` 的时刻）仍没
            见到；即使子进程一言不发地挂起，也按时返回。
    """
    while True:
        if any(line.startswith(prefix) for line in list(child.out)):
            return True
        if child.proc.poll() is not None:
            # 进程已结束：等读线程读完最后几行再判断一次
            for t in child.threads:
                t.join(timeout=5)
            return any(line.startswith(prefix) for line in child.out)
        if time.monotonic() > deadline:
            raise TimeoutError(f"到期仍没有见到以 {prefix!r} 开头的一行")
        time.sleep(0.02)
