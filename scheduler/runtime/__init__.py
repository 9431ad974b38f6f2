"""The I/O shell around the core: API client, informers, scheduling queue, binder, leader
election, probe/metrics server, and the app that wires them. It calls the core; the core never
calls back into it."""
