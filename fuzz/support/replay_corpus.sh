#!/usr/bin/env bash
# ctest fuzz_corpus_replay: `replay_corpus.sh BIN_DIR CORPUS_DIR TARGET...` runs each target's
# replay program over every file of CORPUS_DIR/TARGET (the seeds and the regression-* inputs that
# once broke a reader). Fails naming the target when one does not end well.
set -uo pipefail
bin_dir="$1" corpus="$2"
shift 2
status=0
for t in "$@"; do
  files=("$corpus/$t"/*)
  [[ -e "${files[0]}" ]] || continue
  if ! "$bin_dir/${t}_replay" "${files[@]}" >"$bin_dir/$t.replay.log" 2>&1; then
    echo "fuzz_corpus_replay: $t failed on the last file named in $bin_dir/$t.replay.log:"
    tail -n 30 "$bin_dir/$t.replay.log"
    status=1
  else
    echo "$t: ${#files[@]} inputs"
  fi
done
exit "$status"
