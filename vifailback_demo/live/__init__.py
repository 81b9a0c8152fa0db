"""Live supervision: the policy acts, ViFailback watches every K chunks, a human approves the correction."""
