rule table2:
    input:
        no_method=baseline_sweeps()["fgsm"],
    output:
        csv=report(
            "results/tables/table2.csv",
            caption="../report/table2.rst",
            category="Table 2",
        ),
        markdown="results/tables/table2.md",
    log:
        "results/logs/table2.log",
    benchmark:
        "results/benchmarks/table2.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: 1
    resources:
        mem_mb=500,
    params:
        dists=config["table2"]["dists"],
    script:
        "../scripts/table2.py"


rule figure1:
    input:
        **baseline_sweeps(),
        data="results/data/mnist.h5",
        sign_map=f"results/attacks/{config['baseline_model']}/fgsm_sign.h5",
    output:
        report(
            "results/figures/fig1_noise_examples.png",
            caption="../report/fig1.rst",
            category="Figures",
        ),
    log:
        "results/logs/figure1.log",
    benchmark:
        "results/benchmarks/figure1.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        dists=config["figures"]["example_dists"],
        digits=config["figures"]["example_digits"],
        noise_seed=config["evaluation"]["noise_seed"],
    script:
        "../scripts/figure1.py"


rule baseline_curves:
    input:
        **baseline_sweeps(),
    output:
        report(
            "results/figures/baseline_error_vs_dist.png",
            caption="../report/baseline_curves.rst",
            category="Figures",
        ),
    log:
        "results/logs/baseline_curves.log",
    benchmark:
        "results/benchmarks/baseline_curves.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/baseline_curves.py"
