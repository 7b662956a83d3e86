"""labeling: solution sampling, Monte Carlo step-label estimators and a resumable sharded runner.

Modules, one job each:
  sampling    K graded solutions per problem from a policy (also ORM data and pairs)
  estimators  Math-Shepherd and first-error binary search, as engine-free coroutines
  rollouts    runs many solutions' estimators against one engine, batching their rollouts
  pipeline    what a labeling job does to a group of units (sample, grade, estimate, rows)
  runner      the resumable, sharded work loop; store: the fsync'd JSON-lines output
  merge       joins shard outputs exactly (`prm label` and `prm merge` live in prm.cli)
  simulated   a noisy solver for the synthetic task (benchmarks and tests)
"""
