"""The synthetic failure world: a procedural dual-arm tabletop, scripted expert, injected failures, exact ground truth."""
