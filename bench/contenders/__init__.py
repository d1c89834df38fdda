"""One module per contender. Each runs in its own process (`python -m bench.contenders.X`),
reads its job as JSON on stdin and prints one JSON result line: people, seconds, peak RSS."""
