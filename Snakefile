# mnistrobust: reproduce "Robustness of Deep Convolutional Neural Networks for
# Image Recognition" (Ulicny, Lundstrom, Byttner). See README.md.


configfile: os.path.join(workflow.basedir, "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/attacks.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/reporting.smk"
include: "workflow/rules/human.smk"
include: "workflow/rules/strong_attacks.smk"


report: "workflow/report/workflow.rst"


# Under a cluster executor (profiles/slurm) these run where Snakemake runs, not as jobs:
# downloads may need the network, which compute nodes often lack; tables and figures take seconds.
localrules:
    mnist,
    usps,
    table2,
    figure1,
    error_curves_figure,
    human_analysis,
    strong_attacks_table,


rule all:
    default_target: True
    input:
        final_outputs(),
        default_strong_outputs(),


# The paper's robustness study alone (Table 2, Figures 1, 3-7), without the human study.
rule paper:
    input:
        paper_outputs(),
