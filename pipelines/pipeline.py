"""The @dsl.pipeline: data_prep → train → evaluate → publish_metrics, all on one trainer image.

Two ways to run the train step, picked at compile time:
- "custom-job" (the default, for Vertex AI): train_job_spec builds worker pool specs from the
  run-time parameters machine_type, accelerator_type, accelerator_count, replica_count, and GCPC's
  CustomTrainingJobOp runs `recs-pipeline train` on them (scheduling_strategy STANDARD or SPOT).
- "task": train runs inside the pipeline task itself. The local run uses it, since a CustomJob
  needs Vertex AI; everything else in the spec is the same.

No `from __future__ import annotations` here or in components/: KFP reads the real types.
"""


from google_cloud_pipeline_components._placeholders import LOCATION_PLACEHOLDER, SERVICE_ACCOUNT_PLACEHOLDER
from google_cloud_pipeline_components.v1.custom_job import CustomTrainingJobOp
from google_cloud_pipeline_components.v1.model import ModelUploadOp
from kfp import dsl
from recs_pipeline.components.data_prep import data_prep
from recs_pipeline.components.evaluate import evaluate
from recs_pipeline.components.publish_metrics import publish_metrics
from recs_pipeline.components.registry_entry import registry_entry
from recs_pipeline.components.train import train
from recs_pipeline.components.train_job_spec import train_job_spec
from recs_pipeline.vertex.image import TRAINER_IMAGE
from recs_pipeline.vertex.registry import DEFAULT_SERVING_IMAGE

PIPELINE_NAME = "two-tower-retrieval"
TRAINERS = ("custom-job", "task")


def bind(function, image: str):
    """A component from a plain typed function, on the given image. The image carries the runtime
    package and KFP, so nothing is pip-installed at task start."""
    return dsl.component(function, base_image=image, install_kfp_package=False)


def build_pipeline(image: str = TRAINER_IMAGE, trainer: str = "custom-job"):
    """The pipeline function, its tasks bound to `image`, the train step run as `trainer`."""
    if trainer not in TRAINERS:
        raise ValueError(f"trainer={trainer!r} must be one of {TRAINERS}")
    data_prep_op = bind(data_prep, image)
    train_op = bind(train, image)
    train_job_spec_op = bind(train_job_spec, image)
    evaluate_op = bind(evaluate, image)
    publish_op = bind(publish_metrics, image)
    registry_entry_op = bind(registry_entry, image)

    @dsl.pipeline(name=PIPELINE_NAME, description="Train and evaluate a TFRS two-tower retrieval model for B2B recommendations.")
    def two_tower_pipeline(
        input_uri: str = "",
        user_column: str = "customer_id",
        item_column: str = "product_id",
        timestamp_column: str = "timestamp",
        user_features: str = "",
        item_features: str = "",
        where: str = "",
        dedupe: bool = False,
        split: str = "temporal",
        test_start: str = "",
        test_fraction: float = 0.1,
        val_fraction: float = 0.1,
        timestamp_format: str = "",
        delimiter: str = "",
        encoding: str = "utf-8",
        query: str = "",
        bq_staging_dataset: str = "",
        engine: str = "auto",
        synthetic_purchases: int = 200000,
        synthetic_customers: int = 5000,
        synthetic_products: int = 2000,
        epochs: int = 10,
        batch_size: int = 1024,
        learning_rate: float = 0.005,
        optimizer: str = "adam",
        embedding_dim: int = 64,
        feature_embedding_dim: int = 16,
        l2_regularization: float = 0.0001,
        temperature: float = 0.1,
        remove_accidental_hits: bool = True,
        logq_correction: bool = True,
        histogram_bins: int = 30,
        history_length: int = 100,
        pool_history: bool = False,
        buy_again: bool = True,
        early_stopping_patience: int = 1,
        seed: int = 42,
        metrics_uri: str = "",
        run_id: str = "",
        experiment: str = "",
        experiment_tensorboard: str = "",
        project: str = "",
        location: str = "",
        register_model: bool = False,
        model_display_name: str = "two-tower-retrieval",
        serving_image: str = DEFAULT_SERVING_IMAGE,
        machine_type: str = "n1-standard-8",
        accelerator_type: str = "",
        accelerator_count: int = 0,
        replica_count: int = 1,
        scheduling_strategy: str = "STANDARD",
    ):
        prep = data_prep_op(
            input_uri=input_uri,
            user_column=user_column,
            item_column=item_column,
            timestamp_column=timestamp_column,
            user_features=user_features,
            item_features=item_features,
            where=where,
            dedupe=dedupe,
            split=split,
            test_start=test_start,
            test_fraction=test_fraction,
            val_fraction=val_fraction,
            timestamp_format=timestamp_format,
            delimiter=delimiter,
            encoding=encoding,
            query=query,
            bq_staging_dataset=bq_staging_dataset,
            engine=engine,
            synthetic_purchases=synthetic_purchases,
            synthetic_customers=synthetic_customers,
            synthetic_products=synthetic_products,
            seed=seed,
        ).set_display_name("data_prep")
        train_settings = dict(
            prepared_data=prep.outputs["prepared_data"],
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            optimizer=optimizer,
            embedding_dim=embedding_dim,
            feature_embedding_dim=feature_embedding_dim,
            l2_regularization=l2_regularization,
            temperature=temperature,
            remove_accidental_hits=remove_accidental_hits,
            logq_correction=logq_correction,
            histogram_bins=histogram_bins,
            history_length=history_length,
            pool_history=pool_history,
            buy_again=buy_again,
            early_stopping_patience=early_stopping_patience,
            seed=seed,
            metrics_uri=metrics_uri,
            run_id=run_id,
            pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            serving_image=serving_image,
        )
        if trainer == "task":
            trained = train_op(**train_settings).set_display_name("train")
            trained.set_caching_options(False)
            finished = trained
        else:
            # The spec step reserves the output artifacts; the CustomJob fills them. Neither is
            # cached: a cached spec would point a new job at an old run's folders.
            trained = train_job_spec_op(
                **train_settings,
                trainer_image=image,
                machine_type=machine_type,
                accelerator_type=accelerator_type,
                accelerator_count=accelerator_count,
                replica_count=replica_count,
            ).set_display_name("train_job_spec")
            trained.set_caching_options(False)
            finished = CustomTrainingJobOp(
                display_name="two-tower-train",
                worker_pool_specs=trained.outputs["Output"],
                strategy=scheduling_strategy,
                restart_job_on_worker_restart=True,  # a lost worker breaks the collective ops; resume from the checkpoint
                service_account=SERVICE_ACCOUNT_PLACEHOLDER,
                location=LOCATION_PLACEHOLDER,
            ).set_display_name("train")
            finished.set_caching_options(False)
        evaluated = evaluate_op(
            prepared_data=prep.outputs["prepared_data"],
            model=trained.outputs["model"],
            training_history=trained.outputs["training_history"],
        ).set_display_name("evaluate").after(finished)
        published = publish_op(
            prepared_data=prep.outputs["prepared_data"],
            training_history=trained.outputs["training_history"],
            evaluation=evaluated.outputs["evaluation"],
            metrics_uri=metrics_uri,
            experiment=experiment,
            experiment_tensorboard=experiment_tensorboard,
            project=project,
            location=location,
        ).set_display_name("publish_metrics")
        # Off by default (and in the local run): uploading needs Vertex AI. The entry is made after
        # publish, so only a model whose history was published is registered.
        with dsl.If(register_model == True, name="register-model"):  # noqa: E712 (a KFP condition)
            entry = registry_entry_op(
                training_metrics=published.outputs["training_metrics"],
                display_name=model_display_name,
                run_id=run_id,
                pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                metrics_uri=metrics_uri,
            ).set_display_name("registry_entry")
            ModelUploadOp(
                display_name=entry.outputs["display_name"],
                description=entry.outputs["description"],
                labels=entry.outputs["labels"],
                unmanaged_container_model=trained.outputs["serving_model"],
                location=LOCATION_PLACEHOLDER,
            ).set_display_name("model_upload")

    return two_tower_pipeline


def compile_pipeline(output: str, image: str = TRAINER_IMAGE, trainer: str = "custom-job") -> str:
    """Write the pipeline YAML for Vertex AI Pipelines; returns the path."""
    from kfp import compiler

    compiler.Compiler().compile(build_pipeline(image, trainer), package_path=output)
    return output
