"""ComponentResources: each turns one part of the rollout plan into cloud resources.

They never decide anything the plan already decided; type tokens are `rollout:<module>:<Name>`.
"""

from components.sdk import install as _light_sdks

_light_sdks()  # provider SDK sub-packages import only the classes used (components/sdk.py)
