"""The @dsl.pipeline: input_fingerprint → data_prep → train → evaluate → publish_metrics
(→ registry_entry → model_upload), all on one trainer image.

Two ways to run the train step, picked at compile time:
- "custom-job" (the default, for Vertex AI): train_job_spec builds worker pool specs and labels
  from the run-time parameters machine_type, accelerator_type, accelerator_count, replica_count;
  GCPC's CustomTrainingJobOp runs `recs-pipeline train` on them (scheduling_strategy STANDARD or
  SPOT); train_outputs then publishes the folders the job wrote as model, serving_model and
  training_log, with metadata read from the finished run, so lineage starts at the training.
- "task": train runs inside the pipeline task itself. The local run uses it, since a CustomJob
  needs Vertex AI; everything else in the spec is the same.

Caching: the train step, publish_metrics (it writes outside the pipeline root) and the registry
steps are never cached; input_fingerprint is never cached and feeds data_prep, so data_prep is
reused only while the input files (or the table) are unchanged, and never for a query, whose
fingerprint is unique to the pipeline job; evaluate is a pure function of its inputs.

To add a pipeline parameter: add it to the signature with a literal default (the config's, if it
has one), describe it under Args (a compile test fails on a parameter without a description),
and pass it on to the component that uses it.

No `from __future__ import annotations` here or in components/: KFP reads the real types.
"""


from google_cloud_pipeline_components.types.artifact_types import VertexModel
from google_cloud_pipeline_components.v1.custom_job import CustomTrainingJobOp
from google_cloud_pipeline_components.v1.model import ModelUploadOp
from kfp import dsl
from recs_pipeline.components.data_prep import data_prep
from recs_pipeline.components.evaluate import evaluate
from recs_pipeline.components.input_fingerprint import input_fingerprint
from recs_pipeline.components.publish_metrics import publish_metrics
from recs_pipeline.components.registry_entry import registry_entry
from recs_pipeline.components.train import train
from recs_pipeline.components.train_job_spec import train_job_spec
from recs_pipeline.components.train_outputs import train_outputs
from recs_pipeline.core.config import train_fields
from recs_pipeline.vertex import placeholders
from recs_pipeline.vertex.image import TRAINER_IMAGE
from recs_pipeline.vertex.registry import DEFAULT_SERVING_IMAGE

PIPELINE_NAME = "two-tower-retrieval"
TRAINERS = ("custom-job", "task")
TRAIN_RETRIES = 2  # the train CustomJob's task retries (a lost job, a Spot preemption past Vertex's own restarts)
PUBLISH_RETRIES = 1  # publish_metrics rewrites the same files and resumes the same experiment run


def bind(function, image: str):
    """A component from a plain typed function, on the given image. The image carries the runtime
    package and KFP, so nothing is pip-installed at task start."""
    return dsl.component(function, base_image=image, install_kfp_package=False)


def build_pipeline(image: str = TRAINER_IMAGE, trainer: str = "custom-job"):
    """The pipeline function, its tasks bound to `image`, the train step run as `trainer`."""
    if trainer not in TRAINERS:
        raise ValueError(f"trainer={trainer!r} must be one of {TRAINERS}")
    fingerprint_op = bind(input_fingerprint, image)
    data_prep_op = bind(data_prep, image)
    train_op = bind(train, image)
    train_job_spec_op = bind(train_job_spec, image)
    train_outputs_op = bind(train_outputs, image)
    evaluate_op = bind(evaluate, image)
    publish_op = bind(publish_metrics, image)
    registry_entry_op = bind(registry_entry, image)
    # The run's project and region as Vertex fills them in; not for the in-task variant, which the
    # local run uses: kfp.local reads any {{$...}} in a Python task's inputs as its own placeholder.
    run_context = dict(run_project=placeholders.PROJECT, run_location=placeholders.LOCATION) if trainer == "custom-job" else {}

    @dsl.pipeline(name=PIPELINE_NAME, description="Train and evaluate a TFRS two-tower retrieval model for B2B recommendations.")
    def two_tower_pipeline(
        input_uri: str = "",
        user_column: str = "customer_id",
        item_column: str = "product_id",
        timestamp_column: str = "timestamp",
        user_features: str = "",
        item_features: str = "",
        user_numeric_features: str = "",
        item_numeric_features: str = "",
        user_text_features: str = "",
        item_text_features: str = "",
        users_input: str = "",
        items_input: str = "",
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
        id_dropout: float = 0.3,
        history_length: int = 100,
        pool_history: bool = False,
        buy_again: bool = True,
        early_stopping_patience: int = 1,
        exclude_seen: str = "auto",
        baseline_half_life_days: float = 90.0,
        seed: int = 42,
        metrics_uri: str = "",
        run_id: str = "",
        experiment: str = "",
        experiment_tensorboard: str = "",
        project: str = "",
        location: str = "",
        register_model: bool = False,
        model_display_name: str = "two-tower-retrieval",
        parent_model: str = "",
        model_version_aliases: str = "",
        require_beating_baselines: bool = True,
        serving_image: str = DEFAULT_SERVING_IMAGE,
        machine_type: str = "n1-standard-8",
        accelerator_type: str = "",
        accelerator_count: int = 0,
        replica_count: int = 1,
        scheduling_strategy: str = "STANDARD",
        tensorboard: str = "",
        data_prep_cpu_limit: str = "8",
        data_prep_memory_limit: str = "32G",
        evaluate_cpu_limit: str = "8",
        evaluate_memory_limit: str = "32G",
    ):
        """Train and evaluate a TFRS two-tower retrieval model for B2B recommendations.

        Args:
            input_uri: Interactions to train on: a CSV or Parquet file, a glob (gs://bucket/orders/*.parquet) or a folder, local
                or gs://, or a BigQuery table (bq://project.dataset.table). Empty: the embedded synthetic B2B data.
            user_column: Column holding the customer id.
            item_column: Column holding the product id.
            timestamp_column: Column holding the purchase time. Empty: no timestamps (random split).
            user_features: Comma-separated customer feature columns (categorical), e.g. segment,country. Empty: none.
            item_features: Comma-separated product feature columns (categorical), e.g. category. Empty: none.
            user_numeric_features: Comma-separated numeric customer feature columns, e.g. employees; bucketised by the training
                split's quantiles. Empty: none.
            item_numeric_features: Comma-separated numeric product feature columns, e.g. price; bucketised by the training split's
                quantiles. Empty: none.
            user_text_features: Comma-separated customer text columns, e.g. trade; their words are pooled in the customer
                tower. Empty: none.
            item_text_features: Comma-separated product text columns, e.g. description; their words are pooled in the product
                tower. Empty: none.
            users_input: A customers table, CSV or Parquet (a file, glob or folder, local or gs://): the customer id column
                (user_column) and the customer feature columns, which then come from it instead of the purchase rows; its customers
                with no purchase join the catalog. A customer buying in training but missing from it stops data prep; one first
                buying after training has no feature values. Empty: the features come from the purchase rows.
            items_input: A products table, CSV or Parquet (a file, glob or folder, local or gs://): the product id column
                (item_column) and the product feature columns, which then come from it instead of the purchase rows; its products
                nobody bought join the catalog, embedded by the towers from their features. A product bought in training but missing from
                it stops data prep; one first bought after training has no feature values. Empty: the features come from the
                purchase rows.
            where: SQL condition rows must meet, e.g. "Quantity > 0". Empty: keep every row.
            dedupe: Keep only the first purchase of each customer-product pair (repeat purchases are kept by default; they carry
                signal in B2B).
            split: How to split train/validation/test: temporal (by time) or random.
            test_start: Date from which rows are the test split (temporal split only). Empty: the last test_fraction of rows by
                time.
            test_fraction: Share of rows in the test split, above 0 and below 0.5.
            val_fraction: Share of rows in the validation split, taken from the end of train by time; above 0 and below 0.5.
            timestamp_format: strptime format of the timestamp column, e.g. %m/%d/%Y %H:%M. Empty: ISO and common formats are
                tried.
            delimiter: CSV delimiter. Empty: detected.
            encoding: CSV text encoding, e.g. utf-8 or latin-1.
            query: BigQuery SQL whose result is the interactions (instead of input_uri). Empty: read input_uri.
            bq_staging_dataset: BigQuery dataset (project.dataset) where a query's result is written as a table that expires after a
                day. Empty: the query's own result table.
            engine: Where data prep runs: local (this step's process), bigquery (SQL in BigQuery, splits exported as Parquet to GCS)
                or auto (bigquery for BigQuery tables above 30M rows).
            synthetic_purchases: With no input_uri: purchases in the embedded synthetic data.
            synthetic_customers: With no input_uri: customers in the embedded synthetic data.
            synthetic_products: With no input_uri: products in the embedded synthetic data.
            epochs: Most epochs to train; early stopping usually stops sooner.
            batch_size: Training examples per batch (the in-batch softmax uses the others as negatives).
            learning_rate: Optimizer learning rate.
            optimizer: Optimizer: adam, lazy_adam (Adam moving only the embedding rows a batch uses), adagrad or sgd.
            embedding_dim: Size of the customer and product embeddings the towers output.
            feature_embedding_dim: Size of each categorical feature's embedding inside a tower.
            l2_regularization: L2 penalty on the id embedding rows each batch uses, and on the projections.
            temperature: Softmax temperature of the retrieval logits (dot product / temperature).
            remove_accidental_hits: Drop in-batch negatives that are the positive product itself.
            logq_correction: Correct the in-batch softmax for popular products appearing often as negatives (logQ).
            histogram_bins: Bins of the weight and gradient histograms in training_metrics.json.
            id_dropout: Share of training rows that use the new-id embedding instead of their own id, so customers and products first
                seen after training are scored from their features. 0: off.
            history_length: Recent purchases per customer the model reads (buy-again mixture, pooling). 0: none.
            pool_history: The customer tower adds the mean product embedding of the recent purchases.
            buy_again: Train with a learned repeat-purchase term mixed into the scores of the customer's recent purchases;
                the trained mixture is then one of the two score forms validation chooses between.
            early_stopping_patience: Stop after this many epochs without a lower validation loss, keeping the best epoch. 0: off.
            exclude_seen: Never recommend products the customer bought before: auto (when under 1% of training purchases are
                repeats), true or false.
            baseline_half_life_days: Half-life in days of the recency-weighted baselines (recency_repeat, item_knn) and of the
                repeat and item-kNN terms of the model's blend.
            seed: Seed of the split, the synthetic data and training.
            metrics_uri: Also write training_metrics.json, the status and checkpoints here (gs:// or a folder); {run_id} becomes
                the run id, so a schedule gives each run its own folder. Empty: only the pipeline's artifacts.
            run_id: Identifies the run in its training log and the sink claim. Empty: the pipeline job name.
            experiment: Log the run to this Vertex AI experiment. Empty: no experiment.
            experiment_tensorboard: Vertex AI TensorBoard resource backing the experiment's time series.
            project: Google Cloud project for the experiment. Empty: the pipeline run's (locally: the environment's).
            location: Google Cloud region for the experiment. Empty: the pipeline run's (locally: the environment's).
            register_model: Upload the retrieval model to the Vertex AI Model Registry after publishing (if it passes the quality
                gate).
            model_display_name: Display name of the model in the Model Registry.
            parent_model: Model Registry model to add this run as a new version of (projects/P/locations/L/models/ID). Empty: a
                new model.
            model_version_aliases: Comma-separated aliases for the new model version, e.g. champion; run-<run id> is always added.
            require_beating_baselines: Register only a model whose test recall@10 and @100 beat every baseline's; false: register
                anyway.
            serving_image: Prediction container the registered model is served with (TensorFlow Serving). Empty: Vertex AI's
                prebuilt TensorFlow 2.15 CPU container from the registry nearest the run's region (us-, europe- or asia-docker.pkg.dev).
            machine_type: Machine of each training replica (CustomJob), e.g. n1-standard-8 or g2-standard-8.
            accelerator_type: GPU per replica, e.g. NVIDIA_L4 (needs the -gpu trainer image). Empty: none.
            accelerator_count: GPUs per replica; 0 with no accelerator_type.
            replica_count: Training replicas: 1, or more for MultiWorkerMirroredStrategy.
            scheduling_strategy: CustomJob scheduling: STANDARD or SPOT (preemptible; the trainer resumes from its checkpoint).
            tensorboard: Vertex AI TensorBoard (projects/P/locations/L/tensorboards/ID) the train CustomJob streams its per-epoch
                curves to while it runs. Empty: none (the event files stay in the training history folder).
            data_prep_cpu_limit: vCPUs of the data_prep task's machine (Vertex picks a machine with at least this many).
            data_prep_memory_limit: Memory of the data_prep task's machine, e.g. 32G (about 10G per 10M interactions read locally).
            evaluate_cpu_limit: vCPUs of the evaluate task's machine.
            evaluate_memory_limit: Memory of the evaluate task's machine, e.g. 32G (the catalog's embeddings and each customer's
                history are held in memory).
        """
        fingerprint = fingerprint_op(input_uri=input_uri, query=query, pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                                     users_input=users_input, items_input=items_input)
        fingerprint.set_display_name("input_fingerprint").set_caching_options(False)  # it must look at the input on every run
        prep = data_prep_op(
            input_uri=input_uri,
            input_fingerprint=fingerprint.output,
            user_column=user_column,
            item_column=item_column,
            timestamp_column=timestamp_column,
            user_features=user_features,
            item_features=item_features,
            user_numeric_features=user_numeric_features,
            item_numeric_features=item_numeric_features,
            user_text_features=user_text_features,
            item_text_features=item_text_features,
            users_input=users_input,
            items_input=items_input,
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
        prep.set_cpu_limit(data_prep_cpu_limit).set_memory_limit(data_prep_memory_limit)
        settings = locals()
        train_settings = dict(
            prepared_data=prep.outputs["prepared_data"],
            **{name: settings[name] for name in train_fields()},  # every TrainConfig field, as the signature above spells it
            metrics_uri=metrics_uri,
            run_id=run_id,
            pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        )
        if trainer == "task":
            trained = train_op(**train_settings, serving_image=serving_image).set_display_name("train")
            trained.set_caching_options(False)
        else:
            # Nothing here is cached: a cached spec would point a new job at an old run's folder.
            spec = train_job_spec_op(
                **train_settings,
                trainer_image=image,
                machine_type=machine_type,
                accelerator_type=accelerator_type,
                accelerator_count=accelerator_count,
                replica_count=replica_count,
            ).set_display_name("train_job_spec")
            spec.set_caching_options(False)
            job = CustomTrainingJobOp(
                display_name="two-tower-train",
                worker_pool_specs=spec.outputs["worker_pool_specs"],
                labels=spec.outputs["labels"],
                strategy=scheduling_strategy,
                restart_job_on_worker_restart=True,  # a lost worker breaks the collective ops; resume from the checkpoint
                service_account=placeholders.SERVICE_ACCOUNT,
                network=placeholders.NETWORK,
                encryption_spec_key_name=placeholders.ENCRYPTION_KEY_NAME,
                location=placeholders.LOCATION,
                tensorboard=tensorboard,
                base_output_directory=spec.outputs["base_output_directory"],  # AIP_TENSORBOARD_LOG_DIR lies under it
            ).set_display_name("train")
            job.set_caching_options(False)
            # A retried job resumes from the checkpoint its first attempt left in job_dir.
            job.set_retry(TRAIN_RETRIES, backoff_duration="60s", backoff_factor=2.0)
            trained = train_outputs_op(job_dir=spec.outputs["job_dir"], serving_image=serving_image, run_location=placeholders.LOCATION)
            trained.set_display_name("train_outputs").after(job)
            trained.set_caching_options(False)
        evaluated = evaluate_op(
            prepared_data=prep.outputs["prepared_data"],
            model=trained.outputs["model"],
            training_log=trained.outputs["training_log"],
        ).set_display_name("evaluate")
        evaluated.set_cpu_limit(evaluate_cpu_limit).set_memory_limit(evaluate_memory_limit)
        published = publish_op(
            prepared_data=prep.outputs["prepared_data"],
            training_log=trained.outputs["training_log"],
            evaluation=evaluated.outputs["evaluation"],
            metrics_uri=metrics_uri,
            experiment=experiment,
            experiment_tensorboard=experiment_tensorboard,
            project=project,
            location=location,
            **run_context,
        ).set_display_name("publish_metrics")
        published.set_caching_options(False).set_retry(PUBLISH_RETRIES, backoff_duration="30s")
        # Off by default (and in the local run): uploading needs Vertex AI. The entry is made after
        # publish, so only a model whose history was published is registered.
        with dsl.If(register_model == True, name="register-model"):  # `== True` builds a KFP condition
            entry = registry_entry_op(
                training_metrics=published.outputs["training_metrics"],
                serving_model=trained.outputs["serving_model"],
                display_name=model_display_name,
                run_id=run_id,
                pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                metrics_uri=metrics_uri,
                parent_model=parent_model,
                model_version_aliases=model_version_aliases,
                require_beating_baselines=require_beating_baselines,
            ).set_display_name("registry_entry")
            entry.set_caching_options(False)
            upload = dict(
                display_name=entry.outputs["display_name"],
                description=entry.outputs["description"],
                labels=entry.outputs["labels"],
                version_aliases=entry.outputs["version_aliases"],
                unmanaged_container_model=entry.outputs["registered_model"],
                encryption_spec_key_name=placeholders.ENCRYPTION_KEY_NAME,
                location=placeholders.LOCATION,
            )
            with dsl.If(entry.outputs["register"] == True, name="passes-quality-gate"):  # a KFP condition
                with dsl.If(parent_model == "", name="new-model"):
                    ModelUploadOp(**upload).set_display_name("model_upload").set_caching_options(False)
                with dsl.Else(name="new-version"):
                    parent = dsl.importer(artifact_uri=parent_model, artifact_class=VertexModel, metadata={"resourceName": parent_model},
                                          reimport=False).set_display_name("parent_model")
                    ModelUploadOp(**upload, parent_model=parent.output).set_display_name("model_upload_version").set_caching_options(False)

    _one_line_descriptions(two_tower_pipeline.pipeline_spec)
    return two_tower_pipeline


def _one_line_descriptions(spec) -> None:
    """KFP keeps a docstring's line breaks in each description, and the console shows them where the
    source wrapped, mid-sentence: each description becomes one line (in place, before it is written)."""
    for component in (spec.root, *spec.components.values()):
        for definitions in (component.input_definitions, component.output_definitions):
            for entry in (*definitions.parameters.values(), *definitions.artifacts.values()):
                entry.description = " ".join(entry.description.split())


def compile_pipeline(output: str, image: str = TRAINER_IMAGE, trainer: str = "custom-job") -> str:
    """Write the pipeline YAML for Vertex AI Pipelines; returns the path."""
    from kfp import compiler

    compiler.Compiler().compile(build_pipeline(image, trainer), package_path=output)
    return output
