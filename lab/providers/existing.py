"""Existing provider: any cluster you already have, through its kubeconfig.

The kubeconfig comes from ``--kubeconfig``, else ``$KUBECONFIG`` (its first existing file), else
``~/.kube/config``. Nothing is ever created, changed or destroyed on that cluster: ``up`` checks
that it answers (and warns unless it runs v1.29.x, the lab's minor) and copies the kubeconfig to
``.lab/kubeconfig`` so every lab tool finds it in the usual place; ``down`` leaves the cluster
alone (``--wipe`` only removes that copy). The e2e suite only touches namespaces it creates.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable

from lab.host import labdir
from lab.host.secretfile import write_secret
from lab.providers.base import ComponentStatus, Provider, ProviderError, ProviderStatus
from lab.providers.tools import parse_version
from lab.spec import LabSpec

CONNECT_TIMEOUT = 10.0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:200] + "...") if len(text) > 200 else (text or type(exc).__name__)


class ExistingProvider(Provider):
    name = "existing"

    def __init__(self, spec: LabSpec, workdir: Path, kubeconfig: str | os.PathLike[str] | None = None, *,
                 env: dict[str, str] | None = None, say: Callable[[str], None] = print,
                 timeout: float = CONNECT_TIMEOUT) -> None:
        super().__init__(spec, workdir)
        self.env = dict(os.environ if env is None else env)
        self.explicit = Path(kubeconfig).expanduser() if kubeconfig else None
        self.say = say
        self.timeout = timeout

    # -- which kubeconfig ------------------------------------------------------------------------
    def source_kubeconfig(self) -> Path:
        """The kubeconfig the user pointed at (not necessarily existing)."""
        if self.explicit is not None:
            return self.explicit
        listed = [Path(p).expanduser() for p in self.env.get("KUBECONFIG", "").split(os.pathsep) if p]
        for path in listed:
            if path.is_file():
                return path
        if listed:
            return listed[0]
        return Path(self.env.get("HOME", str(Path.home()))) / ".kube" / "config"

    def _where(self) -> str:
        if self.explicit is not None:
            return "--kubeconfig"
        return "KUBECONFIG" if self.env.get("KUBECONFIG") else "the default ~/.kube/config"

    # -- talking to the cluster (GET /version only) ----------------------------------------------
    def server_version(self, kubeconfig: Path | None = None) -> str:
        """The API server's gitVersion; ProviderError (one line) when it cannot be asked."""
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config

        path = kubeconfig or self.source_kubeconfig()
        configuration = k8s_client.Configuration()
        try:
            k8s_config.load_kube_config(config_file=str(path), client_configuration=configuration,
                                        persist_config=False)
        except Exception as exc:  # the client raises several types for a bad kubeconfig
            raise ProviderError(f"existing provider: {path}: not a usable kubeconfig ({_one_line(exc)})") from None
        configuration.retries = 0  # one clear answer, not three silent retries
        api = k8s_client.ApiClient(configuration)
        try:
            response = api.call_api("/version", "GET", auth_settings=["BearerToken"], _preload_content=False,
                                    _request_timeout=(self.timeout, self.timeout))
            body = json.loads(response[0].data)
        except Exception as exc:
            server = api.configuration.host
            raise ProviderError(f"existing provider: cannot reach the API server {server} from {path} "
                                f"({_one_line(exc)}) — check the kubeconfig's current context") from None
        finally:
            api.close()
        version = body.get("gitVersion") if isinstance(body, dict) else None
        if not version:
            raise ProviderError(f"existing provider: {path}: the server's /version has no gitVersion")
        return version

    def _warn_version(self, version: str) -> None:
        found, want = parse_version(version), parse_version(self.spec.versions.kubernetes)
        if not found or not want or found[:2] != want[:2]:
            print(f"warning: the existing cluster runs {version}, the lab pins {self.spec.versions.kubernetes_minor}.x; "
                  "scheduling results and the e2e checks may differ", file=sys.stderr)

    # -- Provider -----------------------------------------------------------------------------
    def check_prerequisites(self) -> None:
        path = self.source_kubeconfig()
        if not path.is_file():
            raise ProviderError(f"existing provider: kubeconfig {path} (from {self._where()}) not found — pass "
                                "--kubeconfig FILE or set KUBECONFIG")
        self._warn_version(self.server_version(path))

    def up(self) -> Path:
        source = self.source_kubeconfig()
        version = self.server_version(source)
        with labdir.recording(self.workdir):  # refuses a directory the lab did not make
            if source.resolve() != self.kubeconfig.resolve():
                write_secret(self.kubeconfig, source.read_bytes())
        self.say(f"existing cluster ({version}) from {source}; nothing was created")
        return self.kubeconfig

    def down(self, wipe: bool = False) -> None:
        # The cluster is not ours: never stop or delete anything on it.
        if wipe and self.kubeconfig.exists() and self.kubeconfig.resolve() != self.source_kubeconfig().resolve():
            labdir.remove_owned(self.workdir, ["kubeconfig"])  # only the copy `up` made
        self.say("existing provider: the cluster was left as it is")

    def status(self) -> ProviderStatus:
        path = self.kubeconfig if self.kubeconfig.exists() else self.source_kubeconfig()
        if not path.is_file():
            return ProviderStatus(up=False, kubeconfig=None, detail=f"no kubeconfig at {path}")
        try:
            version = self.server_version(path)
        except ProviderError as exc:
            return ProviderStatus(up=False, kubeconfig=path, detail=str(exc))
        return ProviderStatus(up=True, kubeconfig=path, detail=f"existing cluster via {path}",
                              components=[ComponentStatus(name="kube-apiserver", pid=None, healthy=True,
                                                          version=version)])
