"""global-ai-rollout: the Pulumi program and its pure planning core (no pulumi import outside
`__main__.py` and `preview.py`)."""
