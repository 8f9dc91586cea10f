"""Kubernetes clusters per region: EKS or GKE, their node pools, a Kubernetes provider and the
in-cluster base (namespaces, NVIDIA device plugin). See docs/clusters.md."""
