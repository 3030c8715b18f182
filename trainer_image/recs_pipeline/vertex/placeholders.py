"""Vertex AI Pipelines run-time placeholders: values Vertex fills in from the PipelineJob itself.

These are the documented strings GCPC's own components default to (a compile test checks they
equal GCPC's); they are spelled here rather than imported from GCPC's private `_placeholders`
module. With them, what `submit`/`schedule` set on the PipelineJob (service account, VPC network,
CMEK key) reaches the train CustomJob and the Model Registry upload without a pipeline parameter.
A placeholder whose job field is unset resolves to an empty string.
"""

LOCATION = "{{$.pipeline_google_cloud_location}}"
SERVICE_ACCOUNT = "{{$.pipeline_service_account}}"
NETWORK = "{{$.pipeline_network}}"
ENCRYPTION_KEY_NAME = "{{$.pipeline_encryption_key_name}}"
