"""Model serving per region: vLLM servers on the GPU pools, autoscaling, the regional HTTPS endpoint."""

from components.serving.region_serving import RegionServingArgs, RegionServingStack

__all__ = ["RegionServingArgs", "RegionServingStack"]
