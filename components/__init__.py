"""ComponentResources: each turns one part of the rollout plan into cloud resources.

They never decide anything the plan already decided; type tokens are `rollout:<module>:<Name>`.
"""
