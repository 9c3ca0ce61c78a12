# Sourced by perf/engine.sh and perf/server.sh: generates the shared benchmark inputs
# in $W with bench-corpus, once per parameter set (reused while $W/params matches).
# Expects: W, bin (bench-corpus's directory), ndb, hdb, ldb, total, plant, hits.
# The second `sigs` run (same seed) only swaps some random .hdb lines for the MD5:size
# of corpus files, so some hash signatures hit; .ndb/.ldb are unchanged.
make_inputs() {
  params="seed=1 ndb=$ndb hdb=$hdb ldb=$ldb corpus=$total plant-share=$plant hash-hits=$hits"
  if [ "$(cat "$W/params" 2>/dev/null)" = "$params" ]; then
    return
  fi
  echo "generating inputs in $W ($params)" >&2
  rm -rf "$W/sigs" "$W/corpus" "$W/db" "$W/params"
  "$bin/bench-corpus" sigs --seed 1 --ndb "$ndb" --hdb "$hdb" --ldb "$ldb" --out "$W/sigs"
  "$bin/bench-corpus" corpus --seed 1 --total-bytes "$total" --plants "$W/sigs/plants.txt" \
    --plant-share "$plant" --out "$W/corpus"
  "$bin/bench-corpus" sigs --seed 1 --ndb "$ndb" --hdb "$hdb" --ldb "$ldb" --out "$W/sigs" \
    --hash-from "$W/corpus" --hash-hits "$hits"
  mkdir -p "$W/db"
  cp "$W/sigs/gen.ndb" "$W/sigs/gen.hdb" "$W/sigs/gen.ldb" bench-corpus/fixtures/eicar.hdb "$W/db/"
  echo "$params" >"$W/params"
}
