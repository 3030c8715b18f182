"""Vertex AI: submit, schedule, the CustomJob spec, Model Registry, Experiments, templates, the image."""
