"""Does the model know what it knows? pik, pik_cross, calibration_gap, abstention (and the P(IK) pieces they share)."""
