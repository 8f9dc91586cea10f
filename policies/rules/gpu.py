"""Which instance / machine types carry GPUs, shared by the Kubernetes and cost rules."""

from __future__ import annotations

import re
from typing import Any

from .core import as_list, get, is_unknown

# AWS accelerated families (g4dn, g5, g5g, g6, g6e, gr6, p3, p4d, p5, ...) and GCP accelerator-optimized
# machine series (a2, a3, a4, g2); N1 VMs get GPUs through guestAccelerators instead.
_AWS_GPU = re.compile(r"^(g\d+[a-z]*|gr\d+|p\d+[a-z]*)\.")
_GCP_GPU = re.compile(r"^(a2|a3|a4|g2)-")


def is_gpu_instance_type(name: Any) -> bool:
    return isinstance(name, str) and not is_unknown(name) and bool(_AWS_GPU.match(name) or _GCP_GPU.match(name))


def eks_node_group_is_gpu(props: Any) -> bool:
    ami = props.get("amiType")
    if isinstance(ami, str) and ("NVIDIA" in ami or "GPU" in ami):
        return True
    return any(is_gpu_instance_type(t) for t in as_list(props.get("instanceTypes")))


def gke_node_pool_is_gpu(props: Any) -> bool:
    accelerators = [a for a in as_list(get(props, "nodeConfig.guestAccelerators")) if not is_unknown(a)]
    return bool(accelerators) or is_gpu_instance_type(get(props, "nodeConfig.machineType"))
