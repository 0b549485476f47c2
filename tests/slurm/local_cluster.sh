#!/usr/bin/env bash
# A throw-away single-node SLURM cluster on this host, for testing profiles/slurm.
#
#   tests/slurm/local_cluster.sh install              apt-get install slurmctld slurmd slurm-client munge
#   tests/slurm/local_cluster.sh start STATE_DIR      write STATE_DIR/slurm.conf, start munged, slurmctld, slurmd
#   tests/slurm/local_cluster.sh stop STATE_DIR       stop what `start` started, by the PIDs it recorded
#
# Clients and daemons find the cluster through SLURM_CONF=STATE_DIR/slurm.conf; nothing
# under /etc/slurm is written. No systemd is assumed: the daemons are started by hand.
# Exit status 3 from `install`/`start` means "cannot run here" (not root, no apt-get,
# packages not installable): callers skip rather than fail.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
PARTITION="${SLURM_TEST_PARTITION:-debug}"
# GPUs the node advertises (mapped to /dev/null): GPU-requesting jobs can run side by side.
GPUS="${SLURM_TEST_GPUS:-2}"
CTLD_PORT="${SLURM_TEST_CTLD_PORT:-16817}"
SLURMD_PORT="${SLURM_TEST_SLURMD_PORT:-16818}"
MUNGE_SOCKET=/run/munge/munge.socket.2

cannot_run() {
    echo "local_cluster.sh: cannot run a local SLURM cluster here: $*" >&2
    exit 3
}

have_packages() {
    command -v slurmctld && command -v slurmd && command -v sbatch && command -v squeue && command -v munged
} >/dev/null 2>&1

install_packages() {
    if have_packages; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || cannot_run "not root, and slurmctld/slurmd/munge are not installed"
    command -v apt-get >/dev/null || cannot_run "no apt-get to install slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq slurmctld slurmd slurm-client munge; } >&2; then
        cannot_run "apt-get install slurmctld slurmd slurm-client munge failed"
    fi
    have_packages || cannot_run "packages installed but slurmctld/slurmd/sbatch/munged still missing"
}

munge_works() {
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1
}

start_munge() {
    local state_dir="$1"
    if munge_works; then
        return 0  # someone else's munged: use it, and leave it running at the end
    fi
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    runuser -u munge -- munged --socket="$MUNGE_SOCKET" --pid-file=/run/munge/munged.pid
    for _ in $(seq 50); do
        munge_works && break
        sleep 0.1
    done
    munge_works || cannot_run "munged did not start"
    cp /run/munge/munged.pid "$state_dir/munged.pid"  # ours: stopped by `stop`
}

write_config() {
    local state_dir="$1"
    local host cpus memory_mb
    host="$(hostname -s)"
    cpus="$(nproc)"
    # RealMemory must not exceed what slurmd measures; leave 10% for the OS.
    memory_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 9 / 10 / 1024))
    sed -e "s|@HOST@|$host|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEMORY_MB@|$memory_mb|g" \
        -e "s|@GPUS@|$GPUS|g" -e "s|@PARTITION@|$PARTITION|g" -e "s|@STATE_DIR@|$state_dir|g" \
        -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" \
        "$HERE/slurm.conf.in" >"$state_dir/slurm.conf"
    # One device file per advertised GPU (slurmd counts them): links to /dev/null.
    # SLURM_TEST_GPUS=0: a node without GPUs, where GPU requests are refused.
    local gpu
    : >"$state_dir/gres.conf"
    for gpu in $(seq 0 $((GPUS - 1))); do
        ln -sfn /dev/null "$state_dir/fake_gpu$gpu"
        echo "Name=gpu File=$state_dir/fake_gpu$gpu" >>"$state_dir/gres.conf"
    done
}

show_logs_and_fail() {
    echo "local_cluster.sh: $2; the end of slurmctld.log and slurmd.log:" >&2
    tail -n 20 "$1/slurmctld.log" "$1/slurmd.log" >&2 || true
    exit 1
}

wait_for_idle_node() {
    local state
    for _ in $(seq 120); do
        state="$(sinfo --noheader --partition "$PARTITION" --format %t 2>/dev/null || true)"
        case "$state" in
            idle*|mix*) return 0 ;;
        esac
        sleep 0.5
    done
    show_logs_and_fail "$1" "node not idle after 60 s (state: '${state:-none}')"
}

start_cluster() {
    local state_dir
    mkdir -p "$1"
    state_dir="$(cd "$1" && pwd)"
    [ "$(id -u)" = 0 ] || cannot_run "the daemons need root (SlurmUser=root, munged as user munge)"
    have_packages || cannot_run "slurmctld/slurmd/munge are not installed (run: $0 install)"
    mkdir -p "$state_dir/ctld" "$state_dir/slurmd"
    write_config "$state_dir"
    export SLURM_CONF="$state_dir/slurm.conf"
    start_munge "$state_dir"
    # -c: a cold start, ignoring any state an earlier run left in StateSaveLocation.
    slurmctld -c -f "$SLURM_CONF" || show_logs_and_fail "$state_dir" "slurmctld did not start"
    # Configless slurmd: it fetches slurm.conf and gres.conf from slurmctld and links them
    # under /run/slurm/conf, where the `srun` inside each job finds them (the plugin's job
    # step drops SLURM_CONF from the environment of that srun).
    SLURM_CONF= slurmd --conf-server "127.0.0.1:$CTLD_PORT" || show_logs_and_fail "$state_dir" "slurmd did not start"
    wait_for_idle_node "$state_dir"
    echo "SLURM_CONF=$SLURM_CONF"
}

stop_pid_file() {
    local pid_file="$1" pid
    [ -s "$pid_file" ] || return 0
    pid="$(cat "$pid_file")"
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
}

stop_cluster() {
    local state_dir
    state_dir="$(cd "$1" && pwd)"
    stop_pid_file "$state_dir/slurmd.pid"
    stop_pid_file "$state_dir/slurmctld.pid"
    stop_pid_file "$state_dir/munged.pid"
    # slurmd's link to its configuration cache, if it still points into this cluster.
    if [ "$(readlink /run/slurm/conf 2>/dev/null)" = "$state_dir/slurmd/conf-cache" ]; then
        rm -f /run/slurm/conf
    fi
}

case "${1:-}" in
    install) install_packages ;;
    start) start_cluster "${2:?usage: $0 start STATE_DIR}" ;;
    stop) stop_cluster "${2:?usage: $0 stop STATE_DIR}" ;;
    *)
        echo "usage: $0 install | start STATE_DIR | stop STATE_DIR" >&2
        exit 2
        ;;
esac
