rule train_model:
    """Train one configured classifier (models.<model>) with Caffe SGD; its checkpoint records how it was made."""
    input:
        data=MNIST_H5,
    output:
        checkpoint=MODEL_CHECKPOINT,
    log:
        "results/logs/{replicate}train_model/{model}.log",
    benchmark:
        "results/benchmarks/{replicate}train_model/{model}.tsv"
    wildcard_constraints:
        model=individually_trained_model(),
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["train"]
    resources:
        mem_mb=2000,
    params:
        spec=model_spec,
        solver=config["solver"],
        train_images=config["data"]["train_images"],
        test_images=config["data"]["test_images"],
    script:
        "../scripts/train_model.py"


# One rule per training group, named train_group_<group>: its members' checkpoints
# are its outputs, so asking for any member trains (or reruns) the whole group.
for group, members in training_groups().items():

    rule:
        """Train the LeNets of one training group in one job (grouped on CUDA, one after another on the CPU)."""
        name:
            f"train_group_{group}"
        input:
            data=MNIST_H5,
        output:
            checkpoints=expand(MODEL_CHECKPOINT, model=members, allow_missing=True),
        log:
            f"results/logs/{{replicate}}train_group/{group}.log",
        benchmark:
            f"results/benchmarks/{{replicate}}train_group/{group}.tsv"
        conda:
            "../envs/mnistrobust.yaml"
        threads: config["threads"]["train"]
        resources:
            mem_mb=3000,
        params:
            members=members,
            specs=functools.partial(group_specs, members=members),
            solver=config["solver"],
            train_images=config["data"]["train_images"],
            test_images=config["data"]["test_images"],
        script:
            "../scripts/train_model_group.py"


rule train_dae:
    """Train the denoising autoencoder 784-1000-500-250-30-250-500-1000-784 (config dae)."""
    input:
        data=MNIST_H5,
    output:
        checkpoint=DAE_CHECKPOINT,
    log:
        "results/logs/{replicate}train_dae.log",
    benchmark:
        "results/benchmarks/{replicate}train_dae.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["train"]
    resources:
        mem_mb=2000,
    params:
        settings=dae_settings,
        train_images=config["data"]["train_images"],
        test_images=config["data"]["test_images"],
    script:
        "../scripts/train_dae.py"


rule adversarial_pool:
    """Eq. 3 adversarial examples of the whole training set from the model of the previous stage (HDF5)."""
    input:
        unpack(pool_inputs),
    output:
        pool=POOL,
    log:
        "results/logs/{replicate}adversarial_pool/stage{stage}.log",
    benchmark:
        "results/benchmarks/{replicate}adversarial_pool/stage{stage}.tsv"
    wildcard_constraints:
        stage="[0-9]+",
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["train"]
    resources:
        mem_mb=2500,
    params:
        stage=checked_stage,
        settings=adversarial_settings,
        train_images=config["data"]["train_images"],
    script:
        "../scripts/adversarial_pool.py"


rule adversarial_stage:
    """Continue the previous stage's model on the natural set joined with the pools of stages 1..stage."""
    input:
        unpack(stage_inputs),
    output:
        checkpoint=STAGE_CHECKPOINT,
    log:
        "results/logs/{replicate}adversarial_stage/stage{stage}.log",
    benchmark:
        "results/benchmarks/{replicate}adversarial_stage/stage{stage}.tsv"
    wildcard_constraints:
        stage="[0-9]+",
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["train"]
    resources:
        # natural set + up to `stages` pools of 60,000 float32 images, twice while joining
        mem_mb=lambda wildcards: 1500 + 400 * int(wildcards.stage),
    params:
        stage=checked_stage,
        settings=adversarial_settings,
        solver=config["solver"],
        base_iterations=config["models"][config["adversarial"]["base_model"]]["iterations"],
        train_images=config["data"]["train_images"],
        test_images=config["data"]["test_images"],
    script:
        "../scripts/adversarial_stage.py"
