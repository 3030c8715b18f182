"""The pipeline's steps as typed KFP interfaces: data_prep, train (or train_job_spec for the
CustomJob that runs it), evaluate, publish_metrics and registry_entry; each body is a call into
the runtime package (recs_pipeline.steps, recs_pipeline.vertex).

The functions are plain (undecorated) so the pipeline builder can bind them to any image; KFP
ships each function's source to the container, hence the imports inside the bodies.
"""
