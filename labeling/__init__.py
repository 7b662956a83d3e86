"""labeling: solution sampling, Monte Carlo step-label estimators and a resumable sharded runner."""
