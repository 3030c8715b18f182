"""Two-tower retrieval training on Vertex AI Pipelines: the runtime every component runs."""

__version__ = "0.1.0"
