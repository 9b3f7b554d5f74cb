//! Reading datasets: JSONL and JSON-array files, streamed.
