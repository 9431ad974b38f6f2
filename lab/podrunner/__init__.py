"""podrunner: the local lab's kubelet for the pods it can really run.

kwok plays every node's kubelet in the local lab and fakes every pod. The pods whose every
container image is one the lab has the program for (images.py: upstream kube-scheduler v1.29.15,
the Python scheduler under any py-scheduler name) are left out of kwok's stages and run here for
real: one local process per container, in a private mount and UTS namespace per pod (mountns.py),
with the pod's volumes (volumes.py), its own loopback IP (addresses.py), probes (probes.py),
restarts with the kubelet's back-off (backoff.py), status written back (status.py), logs served
to the API server as a kubelet serves them (logserver.py). The watch loop is in kubelet.py.

    python -m lab.podrunner --workdir .lab --kubeconfig .lab/kubeconfigs/podrunner.kubeconfig ...
"""
