"""The replica wrapper (the local lab's restarted control-plane components) restarts a process that
exits and records the child it runs, so that only that process is ever signalled."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed



def poll(check, timeout=20):
    for attempt in Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.1),
                            retry=retry_if_exception_type(AssertionError), reraise=True):
        with attempt:
            return check()


def test_replica_restarts_its_child_and_forwards_sigterm(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    child = (f"import signal,sys; open({str(counter)!r},'a').write('x'); "
             "sys.exit(1) if len(open(%r).read()) < 2 else signal.pause()" % str(counter))
    pidfile = tmp_path / "child.pid"
    wrapper = subprocess.Popen([sys.executable, "-m", "lab.replica", "--name", "r0", "--child-pid-file",
                                str(pidfile), "--", sys.executable, "-c", child],
                               stdout=subprocess.PIPE, text=True)
    try:
        def restarted() -> None:
            assert counter.exists() and len(counter.read_text()) == 2 and pidfile.exists()

        poll(restarted)
        record = json.loads(pidfile.read_text())
        child = psutil.Process(record["pid"])
        assert child.ppid() == wrapper.pid and record["create_time"] == child.create_time()
        wrapper.send_signal(signal.SIGTERM)
        out, _ = wrapper.communicate(timeout=20)
        assert wrapper.returncode == 0
        assert "restart #1" in out and "after SIGTERM" in out
        assert not pidfile.exists()
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
