"""A loopback TCP proxy in front of the API server that injects network faults.

Only the scheduler under test talks through it (its kubeconfig points here); everything else,
the test included, talks to the API server directly. TLS passes through untouched (the proxy
never sees HTTP), so the faults are the ones a real network makes:

* ``reset()``: every open connection is closed with a TCP RST (watches drop, requests fail);
* ``blackhole(seconds)``: bytes stop flowing both ways (requests and watches hang, then time out);
* ``drop_responses(seconds)``: requests still reach the API server but answers are held back: a
  bind that *did* bind the pod times out on the client (the hardest case for the cache);
* ``delay(seconds, latency)``: every chunk waits ``latency`` before it is forwarded.

It binds 127.0.0.1 only and forwards only to a 127.0.0.1 address.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

__all__ = ["FaultProxy"]


@dataclass
class _Mode:
    blackhole_until: float = 0.0
    drop_responses_until: float = 0.0
    delay_until: float = 0.0
    latency: float = 0.0


@dataclass
class FaultProxy:
    target_port: int
    target_host: str = "127.0.0.1"
    port: int = 0
    mode: _Mode = field(default_factory=_Mode)
    connections: int = 0

    def __post_init__(self) -> None:
        if not self.target_host.startswith("127."):
            raise ValueError(f"the fault proxy forwards to loopback only, not {self.target_host}")
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stopped = threading.Event()
        self._mode_changed = threading.Condition()  # wakes held pumps on heal() and stop()
        threading.Thread(target=self._accept, name="faultproxy-accept", daemon=True).start()

    # -- faults ------------------------------------------------------------------------------

    def reset(self) -> int:
        """Close every open connection with an RST; returns how many were cut."""
        with self._lock:
            victims = list(self._open)
            self._open.clear()
        for sock in victims:
            try:
                # Linger 0 makes the close an RST. shutdown() first: a close() alone does not wake
                # the pump thread blocked in recv() on it, and the fd would stay open until data came.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(victims) // 2

    def blackhole(self, seconds: float) -> None:
        self.mode.blackhole_until = time.monotonic() + seconds

    def drop_responses(self, seconds: float) -> None:
        self.mode.drop_responses_until = time.monotonic() + seconds

    def delay(self, seconds: float, latency: float) -> None:
        self.mode.latency = latency
        self.mode.delay_until = time.monotonic() + seconds

    def heal(self) -> None:
        with self._mode_changed:
            self.mode = _Mode()
            self._mode_changed.notify_all()

    def stop(self) -> None:
        with self._mode_changed:
            self._stopped.set()
            self._mode_changed.notify_all()
        try:
            self._listener.close()
        except OSError:
            pass
        self.reset()

    # -- plumbing ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((self.target_host, self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _stall_left(self, is_response: bool) -> float:
        """Seconds this direction stays held back (0: it flows)."""
        until = max(self.mode.blackhole_until, self.mode.drop_responses_until if is_response else 0.0)
        return until - time.monotonic()

    def _hold(self, is_response: bool) -> None:
        """Block while the fault holds this direction: until its end time, heal() or stop()."""
        with self._mode_changed:
            while not self._stopped.is_set():
                left = self._stall_left(is_response)
                if left <= 0:
                    return
                self._mode_changed.wait(left)

    def _pump(self, src: socket.socket, dst: socket.socket, is_response: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                # A black hole stalls bytes both ways, a response drop only the answers: held
                # back like a dead route would, while the client's timeouts run out.
                self._hold(is_response)
                if time.monotonic() < self.mode.delay_until:
                    self._stopped.wait(self.mode.latency)  # the injected latency; cut short by stop()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with self._lock:
                    self._open.discard(sock)
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    sock.close()
                except OSError:
                    pass
