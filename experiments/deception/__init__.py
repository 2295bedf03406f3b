"""Does the model lie, and would we catch it? deception_organism, honesty_pressure, organism_steering,
belief_drift, poisoned_training (and the known-fact and monitor pieces they share)."""
