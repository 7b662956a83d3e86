"""orm: outcome reward models (correctness BCE, Bradley-Terry pairs), ORM data and scoring."""
