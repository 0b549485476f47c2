# The human study (Section 4.2, Fig. 8): stimulus sets, the LeNets' answers, the analysis.
# The experiment page itself is not a rule: `python -m mnistrobust.human serve` (README).


# USPS is only used here (the "human adversarial noise" digits). Like MNIST, the
# source is not a param: the bytes are MD5-verified whatever the source.
rule usps:
    """Fetch the USPS test split (human study), verify its MD5, store it as HDF5."""
    output:
        "results/data/usps.h5",
    log:
        "results/logs/usps.log",
    benchmark:
        "results/benchmarks/usps.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: 1
    resources:
        mem_mb=500,
    script:
        "../scripts/usps.py"


rule human_stimuli:
    """Draw the human study's stimulus sets (subjects' or LeNets') into one HDF5 file."""
    input:
        data=MNIST_H5,
        usps="results/data/usps.h5",
        sign_map=baseline_sign_map(),
    output:
        stimuli=HUMAN_STIMULI,
    log:
        "results/logs/human_stimuli/{group}.log",
    benchmark:
        "results/benchmarks/human_stimuli/{group}.tsv"
    wildcard_constraints:
        group="subjects|lenets",
    conda:
        "../envs/mnistrobust.yaml"
    threads: 1
    resources:
        mem_mb=1500,
    params:
        sets=human_sets,
        settings=human_stimulus_settings(),
        test_images=config["data"]["test_images"],
    script:
        "../scripts/human_stimuli.py"


rule human_lenet_answers:
    """Each of the human study's LeNets classifies its own stimulus set."""
    input:
        stimuli=HUMAN_STIMULI.format(group="lenets"),
        checkpoints=[member_checkpoint(name) for name in config["human"]["lenet_models"]],
    output:
        "results/human/lenet_answers.csv",
    log:
        "results/logs/human_lenet_answers.log",
    benchmark:
        "results/benchmarks/human_lenet_answers.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        mem_mb=1000,
    params:
        models=config["human"]["lenet_models"],
    script:
        "../scripts/human_lenet_answers.py"


# The response database is an input only once it exists (answers are collected long
# after the pipeline ran); without it the LeNet side is produced with a clear note.
rule human_analysis:
    """Accuracy of humans and LeNets per noise level, their statistics, and Fig. 8."""
    input:
        subjects=HUMAN_STIMULI.format(group="subjects"),
        lenet_answers="results/human/lenet_answers.csv",
        responses=human_responses_if_any,
    output:
        per_subject="results/human/accuracy_per_subject.csv",
        summary=report(
            "results/human/accuracy_summary.csv",
            caption="../report/fig8.rst",
            category="Human study",
        ),
        responses="results/human/human_responses.csv",
        figure=report(
            "results/human/fig8_humans_vs_lenets.png",
            caption="../report/fig8.rst",
            category="Human study",
        ),
    log:
        "results/logs/human_analysis.log",
    benchmark:
        "results/benchmarks/human_analysis.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        responses=config["human"]["responses"],
        confidence=config["human"]["confidence"],
    script:
        "../scripts/human_analysis.py"
