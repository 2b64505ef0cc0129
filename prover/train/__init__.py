"""Expert iteration: prove, collect verified proofs, fine-tune with DeepSpeed ZeRO-3 (`prover.train.trainer`),
evaluate."""
