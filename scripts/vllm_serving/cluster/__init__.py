"""The local test cluster: a real Kubernetes control plane as plain processes, kwok for kubelets.

``LocalCluster`` is the API (a context manager); ``vllm-serving cluster`` the CLI
(``vllm_serving.commands.cluster``). See ``local.py`` for the processes and state,
``build.py`` for the cached build of ``hack/cluster``, ``nodepools.yaml`` for the
fake GKE node pools, ``crds.yaml`` for the CRDs taken from upstream modules and
``lws.py`` for the LeaderWorkerSet controller and its webhooks.
"""

from vllm_serving.cluster.build import ensure_built
from vllm_serving.cluster.local import LocalCluster, default_state_dir

__all__ = ["LocalCluster", "default_state_dir", "ensure_built"]
