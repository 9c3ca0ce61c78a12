#!/usr/bin/env bash
# Moves hardware interrupts off the CPUs that run ringscan's executors ("scan CPUs"),
# onto the others ("housekeeping CPUs"), so that a NIC or disk interrupt, and the softirq
# work that follows it, does not preempt a scan in the middle of a file.
#
#   tuning/irq-affinity.sh --scan-cpus 2-15 --dry-run    show what would change
#   tuning/irq-affinity.sh --scan-cpus 2-15              do it (root)
#
# Options:
#   --scan-cpus LIST     CPUs to keep free of interrupts (the unit's CPUAffinity=), e.g.
#                        "2-15" or "2,3,6-9". Required.
#   --housekeeping LIST  CPUs to send the interrupts to; default: every online CPU not in
#                        --scan-cpus. Must not be empty and must not overlap.
#   --dry-run            print the changes, write nothing.
#
# What it writes: /proc/irq/N/smp_affinity_list for every IRQ whose affinity includes a
# scan CPU, and /proc/irq/default_smp_affinity (the mask new IRQs start with).
# What it leaves alone, and why:
#   - kernel-managed IRQs (per-queue interrupts of NVMe and multi-queue NICs spread by the
#     kernel): writing their affinity fails with EIO. They are reported, not an error; the
#     kernel's own answer for them is the boot option isolcpus=managed_irq,<scan CPUs>.
#   - the per-CPU timer, IPIs and other non-device interrupts: no affinity to set. Quieting
#     those needs nohz_full=/rcu_nocbs= at boot (see tuning/README.md).
#   - irqbalance: if it runs, it moves IRQs back within seconds. The script warns; set
#     IRQBALANCE_BANNED_CPULIST=<scan CPUs> in /etc/default/irqbalance instead, or stop it.
# Settings made here last until reboot; to keep them, run the script from a oneshot unit
# ordered before ringscan.service, or use the boot options above.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

scan="" housekeeping="" dry=""
while [ $# -gt 0 ]; do
  case "$1" in
    --scan-cpus) scan=${2:-}; shift 2 || usage ;;
    --housekeeping) housekeeping=${2:-}; shift 2 || usage ;;
    --dry-run) dry=1; shift ;;
    -h|--help) usage ;;
    *) echo "irq-affinity.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$scan" ] || { echo "irq-affinity.sh: --scan-cpus is required" >&2; usage; }

# A CPU list ("0-3,8") as one CPU number per line; fails on anything else.
expand() {
  local part a b
  local IFS=,
  for part in $1; do
    if [[ $part =~ ^([0-9]+)-([0-9]+)$ ]]; then
      a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]}
      [ "$a" -le "$b" ] || { echo "irq-affinity.sh: bad CPU range $part" >&2; return 1; }
      seq "$a" "$b"
    elif [[ $part =~ ^[0-9]+$ ]]; then
      echo "$part"
    else
      echo "irq-affinity.sh: bad CPU list '$1'" >&2; return 1
    fi
  done
}
# One CPU number per line (sorted, unique) back to a list "0-3,8".
compress() {
  awk 'NR==1{s=p=$1; next} $1==p+1{p=$1; next} {printf "%s%s,", s, (s==p?"":"-" p); s=p=$1}
       END{if (NR) printf "%s%s\n", s, (s==p?"":"-" p)}'
}
# One CPU number per line to the hex mask format of /proc/irq/*/smp_affinity:
# 32-bit groups, most significant first, comma-separated.
to_mask() {
  local c g top=0 groups=() out=""
  while read -r c; do
    [ -n "$c" ] || continue
    g=$((c / 32))
    [ "$g" -gt "$top" ] && top=$g
    groups[g]=$(( ${groups[g]:-0} | (1 << (c % 32)) ))
  done
  for ((g = top; g >= 0; g--)); do
    out+=$(printf '%08x' "${groups[g]:-0}")
    [ "$g" -gt 0 ] && out+=,
  done
  echo "$out"
}

online=$(expand "$(cat /sys/devices/system/cpu/online)" | sort -n -u)
scan_cpus=$(expand "$scan" | sort -n -u)
for c in $scan_cpus; do
  grep -qx "$c" <<<"$online" || { echo "irq-affinity.sh: CPU $c is not online" >&2; exit 1; }
done
if [ -n "$housekeeping" ]; then
  hk_cpus=$(expand "$housekeeping" | sort -n -u)
  for c in $hk_cpus; do
    grep -qx "$c" <<<"$online" || { echo "irq-affinity.sh: CPU $c is not online" >&2; exit 1; }
    if grep -qx "$c" <<<"$scan_cpus"; then
      echo "irq-affinity.sh: CPU $c is both a scan and a housekeeping CPU" >&2; exit 1
    fi
  done
else
  hk_cpus=$(comm -23 <(sort <<<"$online") <(sort <<<"$scan_cpus") | sort -n)
fi
# Every interrupt must be able to go somewhere: never leave an empty mask.
if [ -z "$hk_cpus" ]; then
  echo "irq-affinity.sh: no housekeeping CPU left (online: $(compress <<<"$online"))." \
    "Leave at least one CPU out of --scan-cpus." >&2
  exit 1
fi
hk_list=$(compress <<<"$hk_cpus")
echo "online CPUs $(compress <<<"$online"); scan CPUs $(compress <<<"$scan_cpus");" \
  "interrupts go to $hk_list${dry:+ (dry run: nothing is written)}"

if pgrep -x irqbalance >/dev/null 2>&1; then
  echo "warning: irqbalance is running and will move IRQs back; set" \
    "IRQBALANCE_BANNED_CPULIST=$(compress <<<"$scan_cpus") in /etc/default/irqbalance" >&2
fi

changed=0 managed=0 failed=0 kept=0
for dir in /proc/irq/[0-9]*; do
  irq=${dir##*/}
  [ -r "$dir/smp_affinity_list" ] || continue
  current=$(cat "$dir/smp_affinity_list")
  current_cpus=$(expand "$current" 2>/dev/null) || { kept=$((kept + 1)); continue; }
  if [ -z "$(comm -12 <(sort <<<"$current_cpus") <(sort <<<"$scan_cpus"))" ]; then
    kept=$((kept + 1))
    continue
  fi
  name=$(awk -v n="$irq:" '$1==n{for(i=NF;i>1;i--) if ($i !~ /^[0-9]+$/) {print $NF; exit}}' /proc/interrupts)
  if [ -n "$dry" ]; then
    echo "IRQ $irq ${name:-?}: $current -> $hk_list"
    changed=$((changed + 1))
    continue
  fi
  if err=$( { echo "$hk_list" > "$dir/smp_affinity_list"; } 2>&1 ); then
    echo "IRQ $irq ${name:-?}: $current -> $hk_list"
    changed=$((changed + 1))
  elif [[ $err == *"Input/output error"* ]]; then
    echo "IRQ $irq ${name:-?}: kernel-managed, left at $current"
    managed=$((managed + 1))
  else
    echo "IRQ $irq ${name:-?}: cannot set ($err)" >&2
    failed=$((failed + 1))
  fi
done

mask=$(to_mask <<<"$hk_cpus")
echo "default_smp_affinity: $(cat /proc/irq/default_smp_affinity) -> $mask"
if [ -z "$dry" ]; then
  echo "$mask" > /proc/irq/default_smp_affinity
fi
verb=moved; [ -n "$dry" ] && verb="would move"
echo "$verb $changed IRQs; $kept already off the scan CPUs;" \
  "$managed kernel-managed; $failed failed"
[ "$failed" -eq 0 ]
