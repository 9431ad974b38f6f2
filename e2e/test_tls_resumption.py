"""The scheduler's API connections resume one TLS session (http11.TlsSessions): a connection opened
after the first signs nothing, and the API server still knows it as the client certificate's
user. The live API server is the oracle: it says whether it resumed, and who is asking."""
from __future__ import annotations

from urllib.parse import urlsplit

import orjson

from e2e.harness import SuiteCluster
from scheduler.runtime.http11 import HttpConnection, TlsSessions
from scheduler.runtime.kube import load_configuration

_REVIEW = orjson.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})


def test_a_resumed_connection_is_the_same_user_as_the_full_handshake(cluster: SuiteCluster) -> None:
    connection = load_configuration(str(cluster.kubeconfig))
    url = urlsplit(connection.host)
    assert url.scheme == "https" and url.hostname and url.port, connection.host
    sessions = TlsSessions()
    headers = [("Content-Type", "application/json")]
    if (authorization := connection.authorization()) is not None:
        headers.append(("Authorization", authorization))
    seen = []
    for _ in range(3):
        conn = HttpConnection(url.hostname, url.port, context=connection.hostname_checking_context(),
                              server_hostname=connection.tls_server_name or url.hostname, sessions=sessions)
        try:
            answer = conn.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", headers, _REVIEW,
                                  timeout=30)
            assert answer.status == 201, answer.body[:300]
            assert conn.sock is not None
            seen.append((conn.sock.session_reused, orjson.loads(answer.body)["status"]["userInfo"]["username"]))
        finally:
            conn.close()
    first_user = seen[0][1]
    assert seen == [(False, first_user), (True, first_user), (True, first_user)], seen
