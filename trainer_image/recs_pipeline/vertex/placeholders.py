"""Vertex AI Pipelines run-time placeholders: values Vertex fills in from the PipelineJob itself.

These are the documented strings GCPC's own components default to (a compile test checks they
equal GCPC's); they are spelled here rather than imported from GCPC's private `_placeholders`
module. With them, what `submit`/`schedule` set on the PipelineJob (service account, VPC network,
CMEK key) reaches the train CustomJob and the Model Registry upload without a pipeline parameter.
Unset, the service account resolves to the Compute Engine default service account
(PROJECT_NUMBER-compute@developer.gserviceaccount.com); network and CMEK key to an empty string.
A local run (kfp.local) leaves them unresolved, as the literal strings.
"""

PROJECT = "{{$.pipeline_google_cloud_project_id}}"
LOCATION = "{{$.pipeline_google_cloud_location}}"
SERVICE_ACCOUNT = "{{$.pipeline_service_account}}"
NETWORK = "{{$.pipeline_network}}"
ENCRYPTION_KEY_NAME = "{{$.pipeline_encryption_key_name}}"


def resolved(value: str) -> str:
    """`value` as Vertex filled it in, or empty where a local run left the placeholder as it was."""
    return "" if value.startswith("{{$") else value
